'use strict'
// Consumer-group scenarios (and seek, which kafkajs does only inside a group).
const { check, waitFor } = require('./check')

const PARTITIONS = 6
const WAIT_MS = 25000

// One subscribed member: counts every delivery by partition-offset in the shared map, publishes
// the assignment of its latest join; kafkajs commits after each batch (autoCommit).
class Member {
  constructor(c, groupId, topic, deliveries) {
    this.consumer = c.kafka.consumer({ groupId, heartbeatInterval: 500, maxWaitTimeInMs: 200 })
    this.topic = topic
    this.deliveries = deliveries
    this.assignment = []
    this.consumer.on(this.consumer.events.GROUP_JOIN, e => {
      this.assignment = e.payload.memberAssignment[topic] || []
    })
    this.crashed = null
    this.consumer.on(this.consumer.events.CRASH, e => {
      this.crashed = e.payload.error
    })
  }

  async start() {
    await this.consumer.connect()
    await this.consumer.subscribe({ topics: [this.topic], fromBeginning: true })
    await this.consumer.run({
      eachMessage: async ({ partition, message }) => {
        const id = `${partition}-${message.offset}`
        this.deliveries.set(id, (this.deliveries.get(id) || 0) + 1)
      },
    })
  }

  // Leaves the group.
  async stop() {
    this.assignment = []
    await this.consumer.disconnect()
  }
}

function ownAll(members) {
  const all = members.flatMap(m => m.assignment)
  return members.every(m => m.assignment.length > 0) && all.length === PARTITIONS && new Set(all).size === PARTITIONS
}

function deliveredOnce(deliveries, count) {
  const dups = [...deliveries].filter(([, n]) => n > 1).map(([id, n]) => `${id}x${n}`)
  check(deliveries.size === count && dups.length === 0,
    `${deliveries.size} distinct deliveries of ${count}, duplicates ${dups.join(' ')}`)
}

async function awaitMembers(what, members, probe) {
  await waitFor(what + ` (assignments ${JSON.stringify(members.map(m => m.assignment))})`, () => {
    const crashed = members.find(m => m.crashed)
    check(!crashed, `a member crashed: ${crashed && crashed.message}`)
    return probe()
  }, WAIT_MS)
}

async function produce(c, topic, from, count) {
  const messages = []
  for (let i = from; i < from + count; i++) messages.push({ key: `k${i}`, value: `v${i}` })
  await c.withProducer({}, p => p.send({ topic, messages }))
}

async function consumerGroup(c) {
  const topic = c.name('group')
  const groupId = c.name('group-g')
  await c.createTopic(topic, PARTITIONS)
  const deliveries = new Map()
  const members = [0, 1, 2].map(() => new Member(c, groupId, topic, deliveries))
  try {
    await Promise.all(members.map(m => m.start()))
    // Records go in once the three share the partitions, so that no rebalance can replay them.
    await awaitMembers('three members own the 6 partitions between them', members, () => ownAll(members))
    await produce(c, topic, 0, 600)
    await awaitMembers('600 records consumed', members, () => deliveries.size >= 600)
    deliveredOnce(deliveries, 600)
    const split = JSON.stringify(members.map(m => m.assignment.length))
    const leaving = members.pop()
    await leaving.stop()
    await awaitMembers('two remaining members own the 6 partitions', members, () => ownAll(members))
    await produce(c, topic, 600, 60)
    await awaitMembers('60 new records consumed', members, () => deliveries.size >= 660)
    deliveredOnce(deliveries, 660)
    return `600 records exactly once over 3 members (partitions ${split}); after one left, 2 members ` +
      `(partitions ${JSON.stringify(members.map(m => m.assignment.length))}) consumed 60 more exactly once`
  } finally {
    await Promise.all(members.map(m => m.stop().catch(() => {})))
  }
}

// Runs a one-off consumer of groupId until its first message, then hands it to `after` (while
// still connected) and disconnects.
async function firstMessage(c, groupId, topic, { beforeFirst, after } = {}) {
  const consumer = c.kafka.consumer({ groupId, heartbeatInterval: 500, maxWaitTimeInMs: 200 })
  await consumer.connect()
  try {
    let resolve
    const first = new Promise(r => (resolve = r))
    await consumer.subscribe({ topics: [topic], fromBeginning: true })
    await consumer.run({ autoCommit: false, eachMessage: async ({ message }) => resolve(message) })
    if (beforeFirst) await beforeFirst(consumer)
    const message = await Promise.race([first, new Promise(r => setTimeout(() => r(null), WAIT_MS))])
    check(message !== null, `no message within ${WAIT_MS / 1000} s`)
    if (after) await after(consumer, message)
    return message
  } finally {
    await consumer.disconnect()
  }
}

async function commitAndResume(c) {
  const topic = c.name('resume')
  const groupId = c.name('resume-g')
  await c.createTopic(topic, 1)
  await produce(c, topic, 0, 20)
  const m1 = await firstMessage(c, groupId, topic, {
    after: consumer => consumer.commitOffsets([{ topic, partition: 0, offset: '10' }]),
  })
  check(m1.offset === '0', `a new group started at offset ${m1.offset}, want 0 (earliest)`)
  const committed = await c.withAdmin(admin => admin.fetchOffsets({ groupId, topics: [topic] }))
  const offset = committed[0].partitions.find(p => p.partition === 0).offset
  check(offset === '10', `committed offset read back as ${offset}, want 10`)
  const m2 = await firstMessage(c, groupId, topic)
  check(m2.offset === '10' && m2.value.toString() === 'v10', `the next member resumed at offset ${m2.offset}, want 10`)
  return 'committed 10, disconnected; the next member resumed at offset 10'
}

async function seek(c) {
  const topic = c.name('seek')
  await c.createTopic(topic, 1)
  // CreateTime stamps one second apart, in the recent past (Kafka refuses far-future stamps).
  const base = Date.now() - 600000
  const messages = []
  for (let i = 0; i < 10; i++) messages.push({ partition: 0, key: `k${i}`, value: `v${i}`, timestamp: String(base + i * 1000) })
  await c.withProducer({}, p => p.send({ topic, messages }))
  const { offsets, byTime, beyond } = await c.withAdmin(async admin => ({
    offsets: (await admin.fetchTopicOffsets(topic))[0],
    byTime: (await admin.fetchTopicOffsetsByTimestamp(topic, base + 4500))[0].offset,
    beyond: (await admin.fetchTopicOffsetsByTimestamp(topic, base + 60000))[0].offset,
  }))
  check(offsets.low === '0' && offsets.high === '10', `offsets low ${offsets.low} high ${offsets.high}, want 0 and 10`)
  check(byTime === '5', `offsets by timestamp t4.5 = ${byTime}, want 5`)
  check(beyond === '10', `offsets by a timestamp past the last record = ${beyond}, want the end (10)`)

  const begin = await firstMessage(c, c.name('seek-begin'), topic, {
    beforeFirst: consumer => consumer.seek({ topic, partition: 0, offset: '-2' }),
  })
  check(begin.offset === '0', `after a seek to the beginning read offset ${begin.offset}, want 0`)
  const atTime = await firstMessage(c, c.name('seek-time'), topic, {
    beforeFirst: consumer => consumer.seek({ topic, partition: 0, offset: byTime }),
  })
  check(atTime.offset === '5' && atTime.timestamp === String(base + 5000),
    `after a seek to the timestamp's offset read offset ${atTime.offset} at ${atTime.timestamp}`)
  const atEnd = await firstMessage(c, c.name('seek-end'), topic, {
    beforeFirst: async consumer => {
      // The end as an offset: kafkajs commits a seek, and a committed -1 would read as "no offset".
      consumer.seek({ topic, partition: 0, offset: offsets.high })
      await c.withProducer({}, p => p.send({ topic, messages: [{ partition: 0, key: 'k10', value: 'v10' }] }))
    },
  })
  check(atEnd.offset === '10', `after a seek to the end the first message was offset ${atEnd.offset}, want 10 (the new one)`)
  return 'beginning=0, end=10, by timestamp t4.5=5, past the end=10; reads after each seek land there'
}

module.exports = { consumerGroup, commitAndResume, seek }
