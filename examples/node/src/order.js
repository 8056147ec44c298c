// Order service: POST /orders produces an order event to "orders" and answers once it is acked.
'use strict';
const { randomUUID } = require('node:crypto');
const { ORDERS, newProducer, ensureTopics, Malformed, parseOrder, port, serveHttp, onStop } =
  require('./common');

const producer = newProducer();
let ready = false;

// Writes one event; resolves once the broker acknowledged it (acks=all).
async function produce(key, value) {
  const [meta] = await producer.send({ topic: ORDERS, acks: -1, messages: [{ key, value }] });
  return { partition: meta.partition, offset: Number(meta.baseOffset) };
}

async function postOrder(url, body) {
  let order;
  try {
    order = JSON.parse(body);
    if (order && typeof order === 'object' && order.order_id === undefined) {
      order.order_id = randomUUID();
    }
    order = parseOrder(JSON.stringify(order));
  } catch (e) {
    return [400, { error: e instanceof Malformed ? e.message : 'not JSON' }];
  }
  const { order_id, sku, quantity, customer } = order;
  const event = { order_id, sku, quantity, customer, created_at: Date.now() };
  const at = await produce(order_id, JSON.stringify(event));
  return [202, { order_id, ...at }];
}

async function main() {
  const server = serveHttp(port('ORDER_PORT', 8080), {
    'POST /orders': postOrder,
    'POST /raw': async (url, body) => [202, await produce(null, body)],
    'GET /health': async () => (ready ? [200, { status: 'ok' }] : [503, { status: 'starting' }]),
  });
  onStop(async () => {
    server.close();
    await producer.disconnect();
    console.error('order service stopped');
  });
  await ensureTopics([ORDERS]);
  await producer.connect();
  ready = true;
  console.error('order service ready');
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
