// The consume loop both consumers share: parse, handle, retry or dead-letter, then commit.
//
// kafkajs commits an offset only after eachMessage resolved for it, so an event's offset is
// committed after its effect is applied or its retry/dlq copy is acknowledged: at-least-once
// delivery, made exactly one effect by the services' idempotent handling. When eachMessage
// throws, kafkajs consumes the event again instead of committing it.
'use strict';
const { ORDERS, MAX_ATTEMPTS, kafka, newProducer, ensureTopics, Malformed, parseOrder, onStop } =
  require('./common');

// A failure worth retrying, such as a timeout of a service this one depends on.
class Transient extends Error {}

// The demo's faults: "flaky-" skus fail on the first attempt, "broken-" ones always.
function simulateFaults(order, attempt) {
  if (order.sku.startsWith('broken-') || (order.sku.startsWith('flaky-') && attempt === 1)) {
    throw new Transient(`simulated failure of ${order.sku} on attempt ${attempt}`);
  }
}

// Runs the consumer of `service` with handle(order, attempt); returns the GET /dlq handler.
async function runConsumer(service, handle) {
  const retryTopic = `orders.${service}.retry`;
  const dlqTopic = `orders.${service}.dlq`;
  const dlqSent = []; // what this process sent to its dlq, for GET /dlq
  const producer = newProducer();
  // A fetch waits at most 1 s for records (kafkajs: 5 s), so a SIGTERM stops us within that.
  const consumer = kafka.consumer({ groupId: service, maxWaitTimeInMs: 1000 });

  // Copies the event to the retry or dlq topic; resolves once acknowledged (acks=all).
  const send = (topic, message, attempts, error) => producer.send({
    topic,
    acks: -1,
    messages: [{ key: message.key, value: message.value,
      headers: { attempts: String(attempts), error } }],
  });

  async function handleMessage({ message }) {
    const attempt = 1 + Number(message.headers.attempts?.toString() || 0);
    let order;
    try {
      order = parseOrder(message.value?.toString());
    } catch (e) {
      if (!(e instanceof Malformed)) throw e;
      await send(dlqTopic, message, 1, e.message);
      dlqSent.push({ order_id: null, error: e.message, attempts: 1 });
      return;
    }
    try {
      handle(order, attempt);
    } catch (e) {
      if (!(e instanceof Transient)) throw e;
      if (attempt < MAX_ATTEMPTS) {
        await send(retryTopic, message, attempt, e.message);
      } else {
        await send(dlqTopic, message, attempt, e.message);
        dlqSent.push({ order_id: order.order_id, error: e.message, attempts: attempt });
      }
    }
  }

  onStop(async () => {
    await consumer.disconnect(); // commits what was handled, then leaves the group
    await producer.disconnect();
    console.error(`${service} service stopped`);
  });
  await ensureTopics([ORDERS, retryTopic, dlqTopic]);
  await producer.connect();
  await consumer.connect();
  // The retry topic is consumed by the same loop: a retried event is just another event.
  // fromBeginning: a new group handles the orders made before it started.
  await consumer.subscribe({ topics: [ORDERS, retryTopic], fromBeginning: true });
  await consumer.run({ eachMessage: handleMessage });
  console.error(`${service} service consuming`);
  return async () => [200, dlqSent];
}

module.exports = { runConsumer, simulateFaults };
