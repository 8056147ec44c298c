// Inventory service: reserves stock for each order, or rejects it when there is not enough.
'use strict';
const { port, serveHttp } = require('./common');
const { runConsumer, simulateFaults } = require('./consumer');

const INITIAL_STOCK = Number(process.env.INITIAL_STOCK || 10);
const stock = new Map(); // sku -> available
const status = new Map(); // order_id -> "reserved" or "rejected": also the memory of handled orders

function handle(order, attempt) {
  if (status.has(order.order_id)) return; // redelivered: it had its effect already
  simulateFaults(order, attempt);
  const available = stock.get(order.sku) ?? INITIAL_STOCK;
  if (order.quantity <= available) {
    stock.set(order.sku, available - order.quantity);
    status.set(order.order_id, 'reserved');
  } else {
    status.set(order.order_id, 'rejected');
  }
}

let dlq = async () => [200, []];
serveHttp(port('INVENTORY_PORT', 8081), {
  'GET /stock': async (url) => {
    const sku = decodeURIComponent(url.pathname.split('/')[2] || '');
    return [200, { sku, available: stock.get(sku) ?? INITIAL_STOCK }];
  },
  'GET /orders': async (url) => {
    const orderId = decodeURIComponent(url.pathname.split('/')[2] || '');
    return status.has(orderId)
      ? [200, { order_id: orderId, status: status.get(orderId) }]
      : [404, { error: 'order not seen' }];
  },
  'GET /dlq': () => dlq(),
});
runConsumer('inventory', handle).then((handler) => { dlq = handler; }, (e) => {
  console.error(e);
  process.exit(1);
});
