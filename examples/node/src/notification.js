// Notification service: "sends" each customer one message per order.
'use strict';
const { port, serveHttp } = require('./common');
const { runConsumer, simulateFaults } = require('./consumer');

const sent = new Map(); // customer -> messages, in the order sent
const handled = new Set(); // order_ids already notified: a redelivered order sends nothing

function handle(order, attempt) {
  if (handled.has(order.order_id)) return;
  simulateFaults(order, attempt);
  const text = `Order ${order.order_id}: ${order.quantity} x ${order.sku} received`;
  if (!sent.has(order.customer)) sent.set(order.customer, []);
  sent.get(order.customer).push({ order_id: order.order_id, customer: order.customer, text });
  handled.add(order.order_id);
}

let dlq = async () => [200, []];
serveHttp(port('NOTIFICATION_PORT', 8082), {
  'GET /notifications': async (url) => [200, sent.get(url.searchParams.get('customer')) || []],
  'GET /dlq': () => dlq(),
});
runConsumer('notification', handle).then((handler) => { dlq = handler; }, (e) => {
  console.error(e);
  process.exit(1);
});
