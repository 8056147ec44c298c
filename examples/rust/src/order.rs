//! The order service: `POST /orders` writes an order event to `orders` and answers once the
//! broker has acknowledged it. Also the order event itself, which the consumers parse.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use rdkafka::producer::{FutureProducer, FutureRecord};
use serde::Serialize;
use serde_json::{Value, json};

use crate::kafka::{self, ORDERS};
use crate::{Config, Shutdown};

/// An order event, the value of a record in `orders`.
#[derive(Debug, Clone, Serialize)]
pub struct Order {
    pub order_id: String,
    pub sku: String,
    pub quantity: u64,
    pub customer: String,
}

impl Order {
    /// Reads an order from a JSON object; `order_id` may be absent only in a request to the order
    /// service (`generate_id`). The error is a short reason, as the dlq's `error` header says.
    pub fn from_json(value: &Value, generate_id: bool) -> Result<Order, String> {
        let object = value.as_object().ok_or("not a JSON object")?;
        let text = |name: &str| match object.get(name) {
            Some(Value::String(text)) => Ok(text.clone()),
            _ => Err(format!("{name} is not a string")),
        };
        let order_id = match object.get("order_id") {
            None | Some(Value::Null) if generate_id => uuid::Uuid::new_v4().to_string(),
            _ => text("order_id")?,
        };
        // as_u64 is None for negative numbers and for floats such as 2.5 or 2.0.
        let quantity = match object.get("quantity").and_then(Value::as_u64) {
            Some(quantity) if quantity > 0 => quantity,
            _ => return Err("quantity is not a positive integer".into()),
        };
        Ok(Order {
            order_id,
            sku: text("sku")?,
            quantity,
            customer: text("customer")?,
        })
    }
}

/// How long a write may wait in librdkafka's queue when the queue is full.
const QUEUE_TIMEOUT: Duration = Duration::from_secs(5);

pub async fn run(config: Config, shutdown: Shutdown) -> anyhow::Result<()> {
    kafka::create_topics(&config, &[ORDERS]).await?;
    let producer = Arc::new(kafka::producer(&config)?);
    // Topics exist, so the broker answered: the service is healthy from here on.
    let router = Router::new()
        .route("/orders", post(post_order))
        .route("/raw", post(post_raw))
        .route("/health", get(crate::health))
        .with_state(producer);
    crate::serve(config.order_port, router, shutdown).await
}

type Reply = (StatusCode, Json<Value>);

async fn post_order(State(producer): State<Arc<FutureProducer>>, body: Bytes) -> Reply {
    let order = match serde_json::from_slice(&body).map_err(|_| "not JSON".to_string()) {
        Ok(value) => Order::from_json(&value, true),
        Err(error) => Err(error),
    };
    let order = match order {
        Ok(order) => order,
        Err(error) => return (StatusCode::BAD_REQUEST, Json(json!({ "error": error }))),
    };
    let created_at = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| since.as_millis() as u64);
    let mut event = json!(order);
    event["created_at"] = json!(created_at);
    let value = event.to_string();
    let record = FutureRecord::to(ORDERS)
        .key(&order.order_id)
        .payload(&value);
    match producer.send(record, QUEUE_TIMEOUT).await {
        Ok(delivery) => (
            StatusCode::ACCEPTED,
            Json(
                json!({ "order_id": order.order_id, "partition": delivery.partition, "offset": delivery.offset }),
            ),
        ),
        Err((error, _)) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({ "error": error.to_string() })),
        ),
    }
}

/// Writes the body unchanged and without a key: how the test injects a malformed event.
async fn post_raw(State(producer): State<Arc<FutureProducer>>, body: Bytes) -> Reply {
    let record: FutureRecord<'_, (), [u8]> = FutureRecord::to(ORDERS).payload(&body[..]);
    match producer.send(record, QUEUE_TIMEOUT).await {
        Ok(delivery) => (
            StatusCode::ACCEPTED,
            Json(json!({ "partition": delivery.partition, "offset": delivery.offset })),
        ),
        Err((error, _)) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({ "error": error.to_string() })),
        ),
    }
}
