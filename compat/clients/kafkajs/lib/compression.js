'use strict'
// compression_<codec>: 100 records k0..k99/v0..v99 with the codec to PREFIX-codec-<codec>, read
// back; with --previous-prefix also the previous client's P-codec-<codec> (the cross-client check).
// The topic stays for the next client.
const { check } = require('./check')
const { CompressionTypes, lz4Missing } = require('./clients')

const CODECS = {
  gzip: CompressionTypes.GZIP,
  snappy: CompressionTypes.Snappy,
  lz4: CompressionTypes.LZ4,
  zstd: null,
}
const RECORDS = 100

async function checkRecords(c, topic) {
  const got = await c.readAll(topic, { groupSuffix: topic.replace(/[^a-zA-Z0-9]/g, '') })
  check(got.length === RECORDS, `${topic}: read ${got.length} records, want ${RECORDS}`)
  got.forEach((m, i) => check(m.key.toString() === `k${i}` && m.value.toString() === `v${i}`,
    `${topic}: record ${i} is ${m.key}=${m.value}`))
}

async function run(c, codec) {
  if (CODECS[codec] === null) {
    return { status: 'skip', detail: 'kafkajs has no zstd codec; @kafkajs/zstd needs a native build (cppzst) that fails on Node 20' }
  }
  check(codec !== 'lz4' || !lz4Missing, `the optional codec package kafkajs-lz4 did not load: ${lz4Missing}`)
  const topic = c.name(`codec-${codec}`)
  await c.createTopic(topic, 1)
  const messages = []
  for (let i = 0; i < RECORDS; i++) messages.push({ partition: 0, key: `k${i}`, value: `v${i}` })
  await c.withProducer({}, p => p.send({ topic, compression: CODECS[codec], messages }))
  await checkRecords(c, topic)
  if (!c.previousPrefix) return `100 ${codec} records round-trip`
  const previous = `${c.previousPrefix}-codec-${codec}`
  const names = await c.withAdmin(admin => admin.listTopics())
  // The previous client could not write this codec (its own row says why).
  if (!names.includes(previous)) return `100 ${codec} records round-trip; no ${previous} to cross-check`
  await checkRecords(c, previous)
  return `100 ${codec} records round-trip; ${previous} reads back the same`
}

module.exports = { CODECS, run }
