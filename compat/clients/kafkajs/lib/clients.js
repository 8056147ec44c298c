'use strict'
// The kafkajs client the scenarios share, its codecs, and the helpers they repeat.
const { Kafka, logLevel, CompressionTypes, CompressionCodecs, Partitioners } = require('kafkajs')
const SnappyCodec = require('kafkajs-snappy')
const { check } = require('./check')

// kafkajs ships gzip only; these are the pinned codec packages (zstd has none that builds here).
CompressionCodecs[CompressionTypes.Snappy] = SnappyCodec
// An optional dependency (a native build): null when it did not install.
const lz4Missing = registerLz4()

function registerLz4() {
  try {
    const LZ4Codec = require('kafkajs-lz4')
    CompressionCodecs[CompressionTypes.LZ4] = new LZ4Codec().codec
    return null
  } catch (err) {
    return err.message.split('\n')[0]
  }
}

const READ_TIMEOUT_MS = 25000

// The client's logs go to stderr: stdout carries only the result lines.
const logCreator = () => ({ namespace, level, label, log }) => {
  const { message, ...extra } = log
  process.stderr.write(`[kafkajs ${label} ${namespace}] ${message} ${JSON.stringify(extra)}\n`)
}

class Clients {
  constructor({ bootstrap, prefix, previousPrefix }) {
    this.bootstrap = bootstrap
    this.prefix = prefix
    this.previousPrefix = previousPrefix
    this.kafka = this.client()
    this.readers = 0
  }

  // A client with its own retry policy: the error scenarios want failures fast.
  client(retry) {
    return new Kafka({
      clientId: `${this.prefix}-kafkajs`,
      brokers: this.bootstrap.split(','),
      logLevel: logLevel.WARN,
      logCreator,
      retry,
    })
  }

  name(suffix) {
    return `${this.prefix}-${suffix}`
  }

  async withAdmin(fn, kafka = this.kafka) {
    const admin = kafka.admin()
    await admin.connect()
    try {
      return await fn(admin)
    } finally {
      await admin.disconnect()
    }
  }

  async withProducer(options, fn) {
    const producer = this.kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner, ...options })
    await producer.connect()
    try {
      return await fn(producer)
    } finally {
      await producer.disconnect()
    }
  }

  async createTopic(topic, numPartitions, configs = {}) {
    const configEntries = Object.entries(configs).map(([name, value]) => ({ name, value }))
    const created = await this.withAdmin(admin =>
      admin.createTopics({ topics: [{ topic, numPartitions, replicationFactor: 1, configEntries }], waitForLeaders: true })
    )
    check(created, `createTopics(${topic}) answered that it already exists`)
  }

  // Reads every partition from the beginning up to the high watermarks as of the call, with a
  // throwaway group (kafkajs has no group-less consumer), in partition then offset order. With
  // `count`, reads until that many records instead (a transaction's last offset is its marker,
  // which no record reaches); `readUncommitted` is the consumer's isolation level.
  async readAll(topic, { groupSuffix, count, readUncommitted = false } = {}) {
    const ends = await this.withAdmin(admin => admin.fetchTopicOffsets(topic))
    const pending = new Map(ends.filter(p => BigInt(p.high) > BigInt(p.low)).map(p => [p.partition, BigInt(p.high)]))
    const groupId = this.name(`read-${groupSuffix || topic.slice(this.prefix.length + 1)}-${++this.readers}`)
    const consumer = this.kafka.consumer({ groupId, maxWaitTimeInMs: 200, heartbeatInterval: 500, readUncommitted })
    const messages = []
    await consumer.connect()
    try {
      let done
      const finished = new Promise(resolve => (done = resolve))
      if (count === undefined ? pending.size === 0 : count === 0) done()
      await consumer.subscribe({ topics: [topic], fromBeginning: true })
      await consumer.run({
        autoCommit: false,
        eachMessage: async ({ partition, message }) => {
          messages.push({ partition, ...message })
          if (count !== undefined) {
            if (messages.length >= count) done()
            return
          }
          const end = pending.get(partition)
          if (end !== undefined && BigInt(message.offset) + 1n >= end) {
            pending.delete(partition)
            if (pending.size === 0) done()
          }
        },
      })
      const timedOut = await Promise.race([
        finished.then(() => false),
        new Promise(resolve => setTimeout(() => resolve(true), READ_TIMEOUT_MS)),
      ])
      check(!timedOut, `read of ${topic} did not reach the high watermarks within ${READ_TIMEOUT_MS / 1000} s`)
    } finally {
      await consumer.disconnect()
    }
    await this.withAdmin(admin => admin.deleteGroups([groupId])).catch(() => {})
    messages.sort((a, b) => a.partition - b.partition || Number(BigInt(a.offset) - BigInt(b.offset)))
    return messages
  }
}

module.exports = { Clients, CompressionTypes, READ_TIMEOUT_MS, lz4Missing }
