'use strict'
// Scenarios about what a record is and where it lands: produce, read back, compare.
const fs = require('fs')
const path = require('path')
const crypto = require('crypto')
const { check } = require('./check')

const MIB = 1 << 20

async function metadata(c) {
  const topic = c.name('metadata')
  await c.createTopic(topic, 3)
  return c.withAdmin(async admin => {
    const cluster = await admin.describeCluster()
    check(cluster.brokers.length > 0, 'describeCluster listed no broker')
    check((await admin.listTopics()).includes(topic), `listTopics lacks ${topic}`)
    const { topics } = await admin.fetchTopicMetadata({ topics: [topic] })
    check(topics[0].partitions.length === 3, `fetchTopicMetadata: ${topics[0].partitions.length} partitions, want 3`)
    const b = cluster.brokers[0]
    return `${cluster.brokers.length} broker(s), first ${b.host}:${b.port}; topic has 3 partitions`
  })
}

async function produceConsume(c) {
  const topic = c.name('produce-consume')
  const count = 300
  await c.createTopic(topic, 3)
  const messages = []
  for (let i = 0; i < count; i++) messages.push({ key: `key-${i % 30}`, value: `v${i}` })
  await c.withProducer({}, p => p.send({ topic, messages }))
  const got = await c.readAll(topic)
  check(got.length === count, `read ${got.length} records, want ${count}`)
  const keyPartition = new Map()
  const lastIndex = new Map()
  for (const m of got) {
    const key = m.key.toString()
    check(!keyPartition.has(key) || keyPartition.get(key) === m.partition, `key ${key} found in two partitions`)
    keyPartition.set(key, m.partition)
    // Sent in index order, so within a partition the indexes must rise.
    const index = Number(m.value.toString().slice(1))
    check(!lastIndex.has(m.partition) || lastIndex.get(m.partition) < index,
      `partition ${m.partition}: v${index} after v${lastIndex.get(m.partition)}`)
    lastIndex.set(m.partition, index)
  }
  check(new Set(got.map(m => m.value.toString())).size === count, 'a value was read twice')
  const sizes = [0, 1, 2].map(p => got.filter(m => m.partition === p).length)
  return `${count} keyed records over 3 partitions read back complete and in order ${JSON.stringify(sizes)}`
}

async function headers(c) {
  const topic = c.name('headers')
  await c.createTopic(topic, 1)
  const binary = Buffer.from([0, 1, 2, 0x7f, 0x80, 0xff])
  await c.withProducer({}, p => p.send({
    topic,
    messages: [
      { partition: 0, key: 'with', value: 'v', headers: { trace: 'abc', dup: ['first', 'second'], bin: binary, empty: '' } },
      { partition: 0, key: 'without', value: 'v' },
    ],
  }))
  const got = await c.readAll(topic)
  check(got.length === 2, `read ${got.length} records, want 2`)
  const h = got[0].headers
  check(h.trace && h.trace.toString() === 'abc', `header trace = ${h.trace}`)
  check(Array.isArray(h.dup) && h.dup.length === 2 && h.dup[0].toString() === 'first' && h.dup[1].toString() === 'second',
    `repeated header dup read back as ${JSON.stringify(h.dup && String(h.dup))}`)
  check(Buffer.isBuffer(h.bin) && h.bin.equals(binary), `binary header read back as ${h.bin && h.bin.toString('hex')}`)
  check(Buffer.isBuffer(h.empty) && h.empty.length === 0, 'empty header value did not read back empty')
  check(Object.keys(h).length === 4, `read headers ${Object.keys(h)}, want 4 keys`)
  check(Object.keys(got[1].headers).length === 0, 'the record without headers has headers')
  return '4 header keys (one repeated, a binary and an empty value) round-trip'
}

async function nullAndEmptyValues(c) {
  const topic = c.name('null-empty')
  await c.createTopic(topic, 1)
  const cases = [
    { key: Buffer.from('tombstone'), value: null },
    { key: Buffer.from('empty-value'), value: Buffer.alloc(0) },
    { key: Buffer.alloc(0), value: Buffer.from('empty-key') },
    { key: null, value: Buffer.from('null-key') },
  ]
  await c.withProducer({}, p => p.send({ topic, messages: cases.map(m => ({ partition: 0, ...m })) }))
  const got = await c.readAll(topic)
  check(got.length === cases.length, `read ${got.length} records, want ${cases.length}`)
  const same = (a, b) => (a === null) === (b === null) && (a === null || a.equals(b))
  const showBytes = b => (b === null ? 'null' : `"${b.toString()}"(${b.length} bytes)`)
  cases.forEach((want, i) => {
    check(same(got[i].key, want.key), `record ${i}: key ${showBytes(got[i].key)}, want ${showBytes(want.key)}`)
    check(same(got[i].value, want.value), `record ${i}: value ${showBytes(got[i].value)}, want ${showBytes(want.value)}`)
  })
  return 'null value, empty value, empty key and null key read back distinctly'
}

async function value1Mib(c) {
  const topic = c.name('value-1mib')
  await c.createTopic(topic, 1, { 'max.message.bytes': String(2 * MIB) })
  const value = crypto.randomBytes(MIB)
  await c.withProducer({}, p => p.send({ topic, messages: [{ partition: 0, key: 'big', value }] }))
  const got = await c.readAll(topic)
  check(got.length === 1, `read ${got.length} records, want 1`)
  check(got[0].value.equals(value), `the 1 MiB value came back different (${got[0].value.length} bytes)`)
  return '1048576-byte value round-trips byte for byte'
}

async function partitionerMurmur2(c) {
  const topic = c.name('murmur2')
  const expectedPath = path.join(__dirname, '..', '..', '..', 'expected', 'murmur2-12.json')
  const expected = JSON.parse(fs.readFileSync(expectedPath, 'utf8'))
  check(Object.keys(expected).length === 100, `${expectedPath} has ${Object.keys(expected).length} keys, want 100`)
  await c.createTopic(topic, 12)
  const messages = []
  for (let i = 0; i < 100; i++) messages.push({ key: `key-${i}`, value: `v${i}` })
  // kafkajs 2's DefaultPartitioner is the Java-compatible murmur2 one.
  await c.withProducer({}, p => p.send({ topic, messages }))
  const got = await c.readAll(topic)
  check(got.length === 100, `read ${got.length} records, want 100`)
  const wrong = got.filter(m => expected[m.key.toString()] !== m.partition)
    .map(m => `${m.key}->${m.partition} (want ${expected[m.key.toString()]})`)
  check(wrong.length === 0, `${wrong.length} keys landed elsewhere: ${wrong.join(' ')}`)
  return '100 keys landed on Java\'s murmur2 partitions (12 partitions)'
}

async function idempotentProducer(c) {
  const topic = c.name('idempotent')
  const count = 500
  await c.createTopic(topic, 1)
  await c.withProducer({ idempotent: true, maxInFlightRequests: 1 }, async p => {
    for (let i = 0; i < count; i += 10) {
      const messages = []
      for (let j = i; j < i + 10; j++) messages.push({ partition: 0, key: `k${j}`, value: `v${j}` })
      const [meta] = await p.send({ topic, messages, acks: -1 })
      check(meta.baseOffset === String(i), `batch ${i / 10} acknowledged at offset ${meta.baseOffset}, want ${i}`)
    }
  })
  const got = await c.readAll(topic)
  check(got.length === count, `read ${got.length} records, want ${count}`)
  got.forEach((m, i) => check(m.value.toString() === `v${i}`, `offset ${i} holds ${m.value}`))
  return `${count} records in 50 idempotent sends: no duplicate, in order`
}

// Commits a, aborts b (its records acknowledged first, so they are in the log), commits c; a
// read_committed consumer reads a and c in order, a read_uncommitted one all nine.
async function transactions(c) {
  const topic = c.name('transactions')
  await c.createTopic(topic, 1)
  await c.withProducer({ transactionalId: c.name('txn'), idempotent: true, maxInFlightRequests: 1 }, async p => {
    for (const name of ['a', 'b', 'c']) {
      const txn = await p.transaction()
      await txn.send({ topic, messages: [0, 1, 2].map(i => ({ partition: 0, value: `${name}${i}` })) })
      if (name === 'b') await txn.abort()
      else await txn.commit()
    }
  })
  const committed = (await c.readAll(topic, { count: 6, groupSuffix: 'committed' })).map(m => m.value.toString())
  check(committed.join() === 'a0,a1,a2,c0,c1,c2', `read_committed read ${committed}`)
  const everything = (await c.readAll(topic, { count: 9, groupSuffix: 'uncommitted', readUncommitted: true }))
    .map(m => m.value.toString())
  check(everything.join() === 'a0,a1,a2,b0,b1,b2,c0,c1,c2', `read_uncommitted read ${everything}`)
  return 'commit, abort, commit: read_committed 6 records in order, read_uncommitted 9'
}

module.exports = { metadata, produceConsume, headers, nullAndEmptyValues, value1Mib, partitionerMurmur2, idempotentProducer, transactions }
