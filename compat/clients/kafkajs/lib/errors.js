'use strict'
// The errors a client must see as Kafka's codes, each as kafkajs surfaces it.
const { check, errorTypes, failure, show } = require('./check')

// Fails fast: the broker's answer is what matters, not kafkajs's retry schedule.
const FEW_RETRIES = { retries: 1, initialRetryTime: 100, maxRetryTime: 500 }

async function unknownTopic(c) {
  const topic = c.name('missing')
  const kafka = c.client(FEW_RETRIES)
  const describe = await c.withAdmin(admin => failure(() => admin.fetchTopicMetadata({ topics: [topic] })), kafka)
  check(errorTypes(describe).includes('UNKNOWN_TOPIC_OR_PARTITION'),
    `fetchTopicMetadata(missing) gave ${show(describe)}, want UNKNOWN_TOPIC_OR_PARTITION`)
  const producer = kafka.producer()
  await producer.connect()
  let send
  try {
    send = await failure(() => producer.send({ topic, messages: [{ key: 'k', value: 'v' }] }))
  } finally {
    await producer.disconnect()
  }
  check(errorTypes(send).includes('UNKNOWN_TOPIC_OR_PARTITION'),
    `producing to a missing topic gave ${show(send)}, want UNKNOWN_TOPIC_OR_PARTITION`)
  const names = await c.withAdmin(admin => admin.listTopics())
  check(!names.includes(topic), 'the missing topic was created (auto creation is off)')
  return 'metadata and produce: UNKNOWN_TOPIC_OR_PARTITION; the topic was not created'
}

async function recordTooLarge(c) {
  const topic = c.name('too-large')
  await c.createTopic(topic, 1, { 'max.message.bytes': '10000' })
  const send = await c.withProducer({ retry: FEW_RETRIES },
    p => failure(() => p.send({ topic, messages: [{ partition: 0, key: 'k', value: Buffer.alloc(20000) }] })))
  check(errorTypes(send).includes('MESSAGE_TOO_LARGE'),
    `a 20000-byte record to a topic with max.message.bytes=10000 gave ${show(send)}, want MESSAGE_TOO_LARGE`)
  await c.withProducer({}, p => p.send({ topic, messages: [{ partition: 0, key: 'k', value: Buffer.alloc(1000) }] }))
  return 'MESSAGE_TOO_LARGE; a small record after it is accepted'
}

async function invalidTopicName(c) {
  const create = await c.withAdmin(admin => failure(() =>
    admin.createTopics({ topics: [{ topic: 'bad name!', numPartitions: 1, replicationFactor: 1 }] })), c.client(FEW_RETRIES))
  check(errorTypes(create).includes('INVALID_TOPIC_EXCEPTION'),
    `creating "bad name!" gave ${show(create)}, want INVALID_TOPIC_EXCEPTION`)
  return 'INVALID_TOPIC_EXCEPTION for "bad name!"'
}

async function topicExists(c) {
  const topic = c.name('exists')
  await c.createTopic(topic, 1)
  // kafkajs answers TOPIC_ALREADY_EXISTS by resolving createTopics to false.
  const created = await c.withAdmin(admin =>
    admin.createTopics({ topics: [{ topic, numPartitions: 1, replicationFactor: 1 }] }))
  check(created === false, `creating an existing topic resolved to ${created}, want false (TOPIC_ALREADY_EXISTS)`)
  return 'TOPIC_ALREADY_EXISTS (createTopics resolves to false, as kafkajs reports it)'
}

module.exports = { unknownTopic, recordTooLarge, invalidTopicName, topicExists }
