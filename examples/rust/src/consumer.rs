//! What the inventory and notification services share: consuming `orders` and the service's
//! retry topic in a consumer group, sending failed events on to the retry or dlq topic, and
//! committing an offset only once its event was handled or sent on.

use std::sync::{Arc, Mutex};

use anyhow::Context;
use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use rdkafka::Message;
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::message::{BorrowedMessage, Header, Headers, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord};
use serde::Serialize;
use serde_json::Value;

use crate::kafka::{self, ORDERS};
use crate::order::Order;
use crate::{Config, Shutdown, lock, stopped};

/// Attempts at an event before it goes to the dlq (the first one included).
const ATTEMPTS_MAX: u32 = 3;

/// The effect of an order on one service.
pub trait Handler: Send + Sync + 'static {
    /// Applies the effect of `order`, unless its `order_id` was handled before: an event can be
    /// delivered again (at-least-once), and must not have a second effect.
    fn handle(&self, order: &Order);
}

/// What the service sent to its dlq, for `GET /dlq`.
#[derive(Clone, Serialize)]
pub struct DeadLetter {
    order_id: Option<String>,
    error: String,
    attempts: u32,
}

pub type DeadLetters = Arc<Mutex<Vec<DeadLetter>>>;

/// `GET /dlq`, to merge into the service's router.
pub fn dlq_router(dead_letters: DeadLetters) -> Router {
    Router::new()
        .route("/dlq", get(list_dead_letters))
        .with_state(dead_letters)
}

async fn list_dead_letters(State(dead_letters): State<DeadLetters>) -> Json<Vec<DeadLetter>> {
    Json(lock(&dead_letters).clone())
}

/// Consumes in group `service` until shutdown, then closes the consumer: librdkafka commits the
/// offsets stored so far and the consumer leaves its group.
pub async fn run(
    config: Config,
    service: &'static str,
    handler: Arc<impl Handler>,
    dead_letters: DeadLetters,
    shutdown: Shutdown,
) -> anyhow::Result<()> {
    let topics = Topics::of(service);
    let producer = kafka::producer(&config)?;
    // librdkafka's way to commit only what was handled: offsets are stored by the application
    // after each event (enable.auto.offset.store=false), and the stored ones are committed in
    // the background every 5 s, on a rebalance and when the consumer closes.
    let consumer: StreamConsumer = kafka::client_config(&config)
        .set("group.id", service)
        .set("enable.auto.offset.store", "false")
        // A new group starts at the beginning: orders written before it joined count too.
        .set("auto.offset.reset", "earliest")
        .create()
        .context("creating the consumer")?;
    consumer.subscribe(&[ORDERS, &topics.retry])?;

    let result = loop {
        let message = tokio::select! {
            message = consumer.recv() => message,
            () = stopped(shutdown.clone()) => break Ok(()),
        };
        let message = match message {
            Ok(message) => message,
            Err(error) => {
                eprintln!("{service}: consuming: {error}");
                continue;
            }
        };
        if let Err(error) = consume(
            &message,
            &topics,
            &producer,
            handler.as_ref(),
            &dead_letters,
        )
        .await
        {
            // Its offset is not stored, nor any later one: the event will be delivered again.
            break Err(error);
        }
        if let Err(error) = consumer.store_offset_from_message(&message) {
            // The partition was revoked meanwhile: its new owner will see the event again.
            eprintln!("{service}: storing an offset: {error}");
        }
    };
    // Dropping closes the consumer, which waits for the broker: not on the runtime's threads.
    tokio::task::spawn_blocking(move || drop(consumer)).await?;
    result
}

struct Topics {
    retry: String,
    dlq: String,
}

impl Topics {
    fn of(service: &str) -> Topics {
        Topics {
            retry: format!("orders.{service}.retry"),
            dlq: format!("orders.{service}.dlq"),
        }
    }
}

/// Creates the topics the consumer of `service` reads and writes, when they are missing.
pub async fn create_topics(config: &Config, service: &str) -> anyhow::Result<()> {
    let topics = Topics::of(service);
    kafka::create_topics(config, &[ORDERS, &topics.retry, &topics.dlq]).await
}

/// One attempt at an event. Returns once its effect is applied or it was written to the retry
/// or dlq topic and acknowledged (acks=all); an error when that write failed.
async fn consume(
    message: &BorrowedMessage<'_>,
    topics: &Topics,
    producer: &FutureProducer,
    handler: &impl Handler,
    dead_letters: &DeadLetters,
) -> anyhow::Result<()> {
    let attempt = attempts_before(message) + 1;
    let payload = message.payload().unwrap_or_default();
    let json: Option<Value> = serde_json::from_slice(payload).ok();
    let failure = match json.as_ref().map(|value| Order::from_json(value, false)) {
        None => Some((&topics.dlq, "not JSON".to_string())),
        // Malformed: no attempt can succeed, so it goes to the dlq at once.
        Some(Err(reason)) => Some((&topics.dlq, reason)),
        Some(Ok(order)) => match fault(&order, attempt) {
            None => {
                handler.handle(&order);
                None
            }
            Some(reason) if attempt < ATTEMPTS_MAX => Some((&topics.retry, reason)),
            Some(reason) => Some((&topics.dlq, reason)),
        },
    };
    let Some((topic, reason)) = failure else {
        return Ok(());
    };
    let headers = OwnedHeaders::new()
        .insert(Header {
            key: "attempts",
            value: Some(&attempt.to_string()),
        })
        .insert(Header {
            key: "error",
            value: Some(&reason),
        });
    let mut record: FutureRecord<'_, [u8], [u8]> =
        FutureRecord::to(topic).payload(payload).headers(headers);
    if let Some(key) = message.key() {
        record = record.key(key);
    }
    // Waits for the acknowledgement: only then may the failed event's offset be stored.
    producer
        .send(record, std::time::Duration::from_secs(5))
        .await
        .map_err(|(error, _)| anyhow::anyhow!("writing to {topic}: {error}"))?;
    if *topic == topics.dlq {
        let order_id = json
            .as_ref()
            .and_then(|value| value.get("order_id")?.as_str().map(String::from));
        lock(dead_letters).push(DeadLetter {
            order_id,
            error: reason,
            attempts: attempt,
        });
    }
    Ok(())
}

/// The attempts already made at this event: its `attempts` header, absent (0) in `orders`.
fn attempts_before(message: &BorrowedMessage<'_>) -> u32 {
    let Some(headers) = message.headers() else {
        return 0;
    };
    headers
        .iter()
        .find(|header| header.key == "attempts")
        .and_then(|header| std::str::from_utf8(header.value?).ok()?.parse().ok())
        .unwrap_or(0)
}

/// The faults the test injects, as a real dependency would fail: a `flaky-` sku on its first
/// attempt only (a transient fault), a `broken-` sku on every attempt.
fn fault(order: &Order, attempt: u32) -> Option<String> {
    if order.sku.starts_with("broken-") {
        Some(format!("{} cannot be handled", order.sku))
    } else if order.sku.starts_with("flaky-") && attempt == 1 {
        Some(format!("{} failed, transiently", order.sku))
    } else {
        None
    }
}
