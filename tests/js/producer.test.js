// kafkajs (pure JavaScript, its own protocol implementation) against a real broker.
// Guards against protocol details other clients forgive: kafkajs negotiates versions from
// ApiVersions, sends its own record batches, and checks offsets in ListOffsets answers.
// Its consumer needs consumer groups (issue 4), so these tests check what the producer and
// the admin client see: assigned offsets and the partition's watermarks.

const { test } = require('node:test');
const assert = require('node:assert');
const { Kafka, logLevel, CompressionTypes } = require('kafkajs');

const bootstrap = process.env.BOOTSTRAP;
if (!bootstrap) throw new Error('set BOOTSTRAP=host:port[,host:port...]');

const kafka = new Kafka({ clientId: 'vltava-js-test', brokers: bootstrap.split(','), logLevel: logLevel.NOTHING });

test('admin creates a topic, refuses it twice, and lists it', async () => {
  const admin = kafka.admin();
  await admin.connect();
  try {
    const topic = `js-admin-${Date.now()}`;
    assert.strictEqual(await admin.createTopics({ topics: [{ topic, numPartitions: 3 }], waitForLeaders: true }), true);
    assert.strictEqual(await admin.createTopics({ topics: [{ topic, numPartitions: 3 }] }), false);
    const metadata = await admin.fetchTopicMetadata({ topics: [topic] });
    assert.strictEqual(metadata.topics[0].partitions.length, 3);
    assert.ok((await admin.listTopics()).includes(topic));
    await admin.deleteTopics({ topics: [topic] });
    assert.ok(!(await admin.listTopics()).includes(topic));
  } finally {
    await admin.disconnect();
  }
});

test('produced records get consecutive offsets, also gzip-compressed and idempotent', async () => {
  const topic = `js-produce-${Date.now()}`;
  const admin = kafka.admin();
  await admin.connect();
  const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
  await producer.connect();
  try {
    await admin.createTopics({ topics: [{ topic, numPartitions: 1 }], waitForLeaders: true });
    const messages = Array.from({ length: 500 }, (_, i) => ({
      key: `k${i}`,
      value: i % 10 === 0 ? null : `value-${i}`,
      headers: { index: String(i) },
    }));
    const plain = await producer.send({ topic, acks: -1, messages });
    assert.strictEqual(plain[0].errorCode, 0);
    assert.strictEqual(plain[0].baseOffset, '0');
    const gzip = await producer.send({ topic, acks: -1, compression: CompressionTypes.GZIP, messages });
    assert.strictEqual(gzip[0].baseOffset, '500');
    const offsets = await admin.fetchTopicOffsets(topic);
    assert.deepStrictEqual(offsets.map((o) => [o.partition, o.low, o.high]), [[0, '0', '1000']]);
  } finally {
    await producer.disconnect();
    await admin.disconnect();
  }
});
