'use strict'
// Admin-client scenarios: topics, configs, groups, delete-records.
const { ConfigResourceTypes, AssignerProtocol } = require('kafkajs')
const { check, waitFor } = require('./check')

async function partitionCount(admin, topic) {
  const { topics } = await admin.fetchTopicMetadata({ topics: [topic] })
  return topics[0].partitions.length
}

async function topicConfig(admin, topic, name) {
  const { resources } = await admin.describeConfigs({
    includeSynonyms: false,
    resources: [{ type: ConfigResourceTypes.TOPIC, name: topic, configNames: [name] }],
  })
  const entry = resources[0].configEntries.find(e => e.configName === name)
  return entry && entry.configValue
}

async function topics(c) {
  const topic = c.name('admin-topic')
  await c.createTopic(topic, 2, { 'retention.ms': '3600000' })
  await c.withAdmin(async admin => {
    check((await admin.listTopics()).includes(topic), 'listTopics lacks the created topic')
    const count = await partitionCount(admin, topic)
    check(count === 2, `fetchTopicMetadata: ${count} partitions, want 2`)
    const retention = await topicConfig(admin, topic, 'retention.ms')
    check(retention === '3600000', `the creation config retention.ms reads back as ${retention}`)
    await admin.createPartitions({ topicPartitions: [{ topic, count: 4 }] })
    await waitFor('fetchTopicMetadata shows 4 partitions after the grow', async () => (await partitionCount(admin, topic)) === 4)
    await admin.deleteTopics({ topics: [topic] })
    await waitFor('the deleted topic leaves listTopics', async () => !(await admin.listTopics()).includes(topic))
  })
  return 'created with retention.ms, listed, described (2 partitions), grown to 4, deleted'
}

async function configs(c) {
  const topic = c.name('admin-configs')
  await c.createTopic(topic, 1)
  return c.withAdmin(async admin => {
    const initial = await topicConfig(admin, topic, 'retention.ms')
    check(initial !== undefined, 'describeConfigs lacks retention.ms')
    // kafkajs has AlterConfigs only (not the incremental API): it sets the topic's whole config.
    await admin.alterConfigs({
      validateOnly: false,
      resources: [{ type: ConfigResourceTypes.TOPIC, name: topic, configEntries: [{ name: 'retention.ms', value: '86400000' }] }],
    })
    await waitFor('retention.ms reads back as 86400000', async () => (await topicConfig(admin, topic, 'retention.ms')) === '86400000')
    return `retention.ms ${initial} described, altered to 86400000 (AlterConfigs; kafkajs has no incremental API), read back`
  })
}

async function groups(c) {
  const topic = c.name('admin-groups')
  const groupId = c.name('admin-groups-g')
  await c.createTopic(topic, 2)
  await c.withProducer({}, p => p.send({ topic, messages: [{ partition: 0, key: 'k', value: 'v' }] }))
  return c.withAdmin(async admin => {
    const consumer = c.kafka.consumer({ groupId, heartbeatInterval: 500, maxWaitTimeInMs: 200 })
    await consumer.connect()
    try {
      let got
      const first = new Promise(resolve => (got = resolve))
      await consumer.subscribe({ topics: [topic], fromBeginning: true })
      await consumer.run({ eachMessage: async () => got() })
      await Promise.race([first, new Promise((_, reject) => setTimeout(() => reject(new Error('no message within 20 s')), 20000))])
      const listed = (await admin.listGroups()).groups.find(g => g.groupId === groupId)
      check(listed, 'listGroups lacks the active group')
      const [group] = (await admin.describeGroups([groupId])).groups
      check(group.state === 'Stable' && group.members.length === 1,
        `describe: state ${group.state} with ${group.members.length} members, want Stable with 1`)
      const { assignment } = AssignerProtocol.MemberAssignment.decode(group.members[0].memberAssignment)
      const assigned = (assignment[topic] || []).slice().sort()
      check(JSON.stringify(assigned) === '[0,1]', `describe: the member is assigned ${JSON.stringify(assigned)}, want [0,1]`)
    } finally {
      await consumer.disconnect()
    }
    await waitFor('the group is Empty after its member left', async () => (await admin.describeGroups([groupId])).groups[0].state === 'Empty')
    await admin.deleteGroups([groupId])
    await waitFor('the deleted group leaves listGroups', async () => !(await admin.listGroups()).groups.some(g => g.groupId === groupId))
    return 'listed, described (Stable, 1 member, 2 partitions), Empty after leave, deleted'
  })
}

async function deleteRecords(c) {
  const topic = c.name('delete-records')
  await c.createTopic(topic, 1)
  const messages = []
  for (let i = 0; i < 10; i++) messages.push({ partition: 0, key: `k${i}`, value: `v${i}` })
  await c.withProducer({}, p => p.send({ topic, messages }))
  await c.withAdmin(async admin => {
    // deleteTopicRecords finds the leaders in the admin's metadata cache: load the topic first.
    await admin.fetchTopicMetadata({ topics: [topic] })
    await admin.deleteTopicRecords({ topic, partitions: [{ partition: 0, offset: '5' }] })
    const [offsets] = await admin.fetchTopicOffsets(topic)
    check(offsets.low === '5', `the low watermark is ${offsets.low} after deleting before 5`)
  })
  const got = await c.readAll(topic)
  check(got.length === 5 && got[0].offset === '5', `reading from the beginning gave ${got.length} records from offset ${got[0] && got[0].offset}`)
  return 'deleteTopicRecords(before 5): low watermark 5, reads start at 5'
}

module.exports = { topics, configs, groups, deleteRecords }
