// What the three services share: configuration, the client, topic creation, the order format, HTTP.
'use strict';
const http = require('node:http');
const { Kafka, logLevel, Partitioners } = require('kafkajs');

const BOOTSTRAP = process.env.KAFKA_BOOTSTRAP || '127.0.0.1:9092';
const ORDERS = 'orders';
const PARTITIONS = 3;
const MAX_ATTEMPTS = 3;

const kafka = new Kafka({
  clientId: 'shop',
  brokers: BOOTSTRAP.split(','),
  logLevel: logLevel.WARN,
});

// Idempotent (so acks=all), with the Java client's partitioner: the same key lands on the same
// partition whichever language produced it.
function newProducer() {
  return kafka.producer({ idempotent: true, createPartitioner: Partitioners.DefaultPartitioner });
}

// Creates the topics that are missing (3 partitions, the broker's replication factor). Those
// that exist are left out, since kafkajs logs an error for each; if another service creates one
// at the same time, kafkajs answers false rather than failing.
async function ensureTopics(names) {
  const admin = kafka.admin();
  await admin.connect();
  try {
    const existing = new Set(await admin.listTopics());
    const missing = names.filter((topic) => !existing.has(topic));
    if (missing.length > 0) {
      await admin.createTopics({ topics: missing.map((topic) => ({ topic, numPartitions: PARTITIONS })) });
    }
  } finally {
    await admin.disconnect();
  }
}

class Malformed extends Error {}

// The order in an event or a request body, or throws Malformed saying why not.
function parseOrder(raw) {
  let order;
  try {
    order = JSON.parse(raw);
  } catch {
    throw new Malformed('not JSON');
  }
  if (order === null || typeof order !== 'object' || Array.isArray(order)) {
    throw new Malformed('not a JSON object');
  }
  for (const field of ['order_id', 'sku', 'customer']) {
    if (typeof order[field] !== 'string') throw new Malformed(`${field} is not a string`);
  }
  if (!Number.isInteger(order.quantity) || order.quantity <= 0) {
    throw new Malformed('quantity is not a positive integer');
  }
  return order;
}

function port(name, fallback) {
  return Number(process.env[name] || fallback);
}

// routes: {"GET /stock": handler(url, body) -> [status, value]}, keyed by the first path segment.
function serveHttp(portNumber, routes) {
  const server = http.createServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', async () => {
      const url = new URL(req.url, 'http://localhost');
      const handler = routes[`${req.method} /${url.pathname.split('/')[1]}`];
      let [status, value] = [404, { error: 'not found' }];
      try {
        if (handler) [status, value] = await handler(url, Buffer.concat(chunks));
      } catch (e) {
        [status, value] = [503, { error: String(e.message || e) }];
      }
      res.writeHead(status, { 'Content-Type': 'application/json' });
      res.end(JSON.stringify(value));
    });
  });
  server.listen(portNumber, '127.0.0.1');
  return server;
}

// Runs stop() once on SIGTERM or Ctrl-C, then exits.
function onStop(stop) {
  let stopping = false;
  for (const signal of ['SIGTERM', 'SIGINT']) {
    process.on(signal, async () => {
      if (stopping) return;
      stopping = true;
      try {
        await stop();
        process.exit(0);
      } catch (e) {
        console.error('stopping failed:', e);
        process.exit(1);
      }
    });
  }
}

module.exports = {
  BOOTSTRAP, ORDERS, MAX_ATTEMPTS, kafka, newProducer, ensureTopics, Malformed, parseOrder, port,
  serveHttp, onStop,
};
