// kafkajs consumer groups: two consumers (consumer.run with eachMessage) in one group share a
// 4-partition topic, consume every record exactly once and commit; the admin client describes
// the group (state, members, their assignments), lists it, fetches its offsets and deletes it.
// Guards against the older, non-flexible versions of the group APIs kafkajs speaks (JoinGroup
// v5, SyncGroup v3, Heartbeat v3, LeaveGroup v3, OffsetCommit v5, OffsetFetch v4,
// DescribeGroups v2, ListGroups v2, DeleteGroups v1) being refused or answered wrongly, and
// against partitions given to two members or to none.

const { test } = require('node:test');
const assert = require('node:assert');
const { Kafka, logLevel, AssignerProtocol } = require('kafkajs');

const bootstrap = process.env.BOOTSTRAP;
if (!bootstrap) throw new Error('set BOOTSTRAP=host:port[,host:port...]');

const kafka = new Kafka({ clientId: 'vltava-js-group-test', brokers: bootstrap.split(','), logLevel: logLevel.NOTHING });
const PARTITIONS = 4;
const RECORDS = 2000;
const WAIT_STEP_MS = 50;
const JOIN_TIMEOUT_MS = 30000;
const CONSUME_TIMEOUT_MS = 60000;

// Polls a condition until it holds (bounded); fails with what() when the deadline passes.
async function waitFor(condition, timeoutMs, what) {
  const deadline = Date.now() + timeoutMs;
  for (let i = 0; i < timeoutMs / WAIT_STEP_MS + 1; i++) {
    if (await condition()) return;
    if (Date.now() > deadline) break;
    await new Promise((resolve) => setTimeout(resolve, WAIT_STEP_MS));
  }
  assert.fail(`${typeof what === 'function' ? what() : what}: not reached within ${timeoutMs} ms`);
}

function startMember(name, groupId, topic) {
  const consumer = kafka.consumer({ groupId, sessionTimeout: 10000, heartbeatInterval: 500, maxWaitTimeInMs: 500 });
  const member = { name, consumer, memberId: null, owned: [], consumed: [] };
  consumer.on(consumer.events.GROUP_JOIN, ({ payload }) => {
    member.memberId = payload.memberId;
    member.owned = [...(payload.memberAssignment[topic] || [])].sort((a, b) => a - b);
  });
  member.ready = (async () => {
    await consumer.connect();
    await consumer.subscribe({ topics: [topic], fromBeginning: true });
    await consumer.run({
      autoCommit: false,
      eachMessage: async ({ partition, message }) => {
        member.consumed.push({ partition, offset: Number(message.offset), key: message.key.toString() });
      },
    });
  })();
  return member;
}

function splitBetween(members) {
  const all = members.flatMap((m) => m.owned);
  return members.every((m) => m.owned.length > 0) && new Set(all).size === all.length && all.length === PARTITIONS;
}

test('two kafkajs consumers in one group share partitions, consume each record once and commit', async () => {
  const topic = `js-group-${Date.now()}`;
  const groupId = `${topic}-group`;
  const admin = kafka.admin();
  await admin.connect();
  const producer = kafka.producer();
  await producer.connect();
  const members = [];
  try {
    await admin.createTopics({ topics: [{ topic, numPartitions: PARTITIONS }], waitForLeaders: true });
    members.push(startMember('a', groupId, topic), startMember('b', groupId, topic));
    await Promise.all(members.map((m) => m.ready));
    // A stable group before any record exists: nothing is consumed across a rebalance.
    await waitFor(() => splitBetween(members), JOIN_TIMEOUT_MS,
      () => `a and b share the partitions: ${JSON.stringify(members.map((m) => m.owned))}`);

    const messages = Array.from({ length: RECORDS }, (_, i) => ({ key: `key-${i}`, value: `value-${i}`, partition: i % PARTITIONS }));
    await producer.send({ topic, acks: -1, messages });
    const consumed = () => members.reduce((n, m) => n + m.consumed.length, 0);
    await waitFor(() => consumed() >= RECORDS, CONSUME_TIMEOUT_MS, () => `consumed ${consumed()} of ${RECORDS}`);

    const seen = new Map();
    for (const m of members) {
      assert.ok(m.consumed.length > 0, `${m.name} consumed nothing`);
      for (const { partition, offset, key } of m.consumed) {
        assert.ok(m.owned.includes(partition), `${m.name} owns ${m.owned}, consumed from ${partition}`);
        assert.ok(!seen.has(key), `${key} consumed twice`);
        seen.set(key, [partition, offset]);
      }
    }
    assert.strictEqual(seen.size, RECORDS);
    for (let i = 0; i < RECORDS; i++) {
      assert.deepStrictEqual(seen.get(`key-${i}`), [i % PARTITIONS, Math.floor(i / PARTITIONS)]);
    }

    for (const m of members) {
      const last = new Map();
      for (const { partition, offset } of m.consumed) last.set(partition, Math.max(offset, last.get(partition) ?? -1));
      await m.consumer.commitOffsets([...last].map(([partition, offset]) => ({ topic, partition, offset: String(offset + 1) })));
    }
    const offsets = await admin.fetchOffsets({ groupId, topics: [topic] });
    assert.deepStrictEqual(
      offsets[0].partitions.map((p) => [p.partition, p.offset]).sort((x, y) => x[0] - y[0]),
      Array.from({ length: PARTITIONS }, (_, p) => [p, String(RECORDS / PARTITIONS)]));

    const { groups: [described] } = await admin.describeGroups([groupId]);
    assert.strictEqual(described.errorCode, 0);
    assert.strictEqual(described.groupId, groupId);
    assert.strictEqual(described.state, 'Stable');
    assert.strictEqual(described.protocolType, 'consumer');
    assert.strictEqual(described.members.length, 2);
    for (const m of members) {
      const d = described.members.find((x) => x.memberId === m.memberId);
      assert.ok(d, `member ${m.name} (${m.memberId}) not described`);
      assert.strictEqual(d.clientId, 'vltava-js-group-test');
      const assignment = AssignerProtocol.MemberAssignment.decode(d.memberAssignment);
      assert.deepStrictEqual([...assignment.assignment[topic]].sort((x, y) => x - y), m.owned);
    }
    const listed = (await admin.listGroups()).groups.find((g) => g.groupId === groupId);
    assert.deepStrictEqual(listed, { groupId, protocolType: 'consumer' });

    await assert.rejects(admin.deleteGroups([groupId]), (error) => {
      assert.strictEqual(error.name, 'KafkaJSDeleteGroupsError');
      assert.strictEqual(error.groups[0].error.type, 'NON_EMPTY_GROUP');
      return true;
    });

    for (const m of members.splice(0)) await m.consumer.disconnect(); // LeaveGroup
    await waitFor(async () => (await admin.describeGroups([groupId])).groups[0].state === 'Empty',
      JOIN_TIMEOUT_MS, 'the group is Empty after both consumers left');
    const afterLeave = await admin.fetchOffsets({ groupId, topics: [topic] });
    assert.ok(afterLeave[0].partitions.every((p) => p.offset === String(RECORDS / PARTITIONS)));

    const deleted = await admin.deleteGroups([groupId]);
    assert.deepStrictEqual(deleted.map((r) => [r.groupId, r.errorCode]), [[groupId, 0]]);
    const { groups: [dead] } = await admin.describeGroups([groupId]);
    assert.strictEqual(dead.state, 'Dead');
    assert.deepStrictEqual(dead.members, []);
    const gone = await admin.fetchOffsets({ groupId, topics: [topic] });
    assert.ok(gone[0].partitions.every((p) => p.offset === '-1'), JSON.stringify(gone));
  } finally {
    for (const m of members) await m.consumer.disconnect();
    await producer.disconnect();
    await admin.disconnect();
  }
});
