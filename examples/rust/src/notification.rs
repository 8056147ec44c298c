//! The notification service: "sends" each customer one message per order.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use axum::extract::{Query, State};
use axum::routing::get;
use axum::{Json, Router};
use serde::{Deserialize, Serialize};

use crate::consumer::{self, DeadLetters};
use crate::order::Order;
use crate::{Config, Shutdown, lock};

#[derive(Clone, Serialize)]
struct Notification {
    order_id: String,
    customer: String,
    text: String,
}

/// Kept in memory: an example, not a database (or a mail server).
#[derive(Default)]
struct Outbox {
    /// The orders handled: the memory that makes handling idempotent.
    handled: HashSet<String>,
    sent: HashMap<String, Vec<Notification>>,
}

impl consumer::Handler for Mutex<Outbox> {
    fn handle(&self, order: &Order) {
        let mut outbox = lock(self);
        if !outbox.handled.insert(order.order_id.clone()) {
            return;
        }
        let text = format!(
            "Order {}: {} x {} received",
            order.order_id, order.quantity, order.sku
        );
        let notification = Notification {
            order_id: order.order_id.clone(),
            customer: order.customer.clone(),
            text,
        };
        outbox
            .sent
            .entry(order.customer.clone())
            .or_default()
            .push(notification);
    }
}

type Shared = Arc<Mutex<Outbox>>;

pub async fn run(config: Config, shutdown: Shutdown) -> anyhow::Result<()> {
    let outbox = Shared::default();
    // Topics first: once the service answers HTTP, it has reached the broker.
    consumer::create_topics(&config, "notification").await?;
    let dead_letters = DeadLetters::default();
    let router = Router::new()
        .route("/notifications", get(notifications))
        .route("/health", get(crate::health))
        .with_state(outbox.clone())
        .merge(consumer::dlq_router(dead_letters.clone()));
    let port = config.notification_port;
    tokio::try_join!(
        consumer::run(
            config,
            "notification",
            outbox,
            dead_letters,
            shutdown.clone()
        ),
        crate::serve(port, router, shutdown),
    )?;
    Ok(())
}

#[derive(Deserialize)]
struct Customer {
    customer: String,
}

async fn notifications(
    State(outbox): State<Shared>,
    Query(query): Query<Customer>,
) -> Json<Vec<Notification>> {
    Json(
        lock(&outbox)
            .sent
            .get(&query.customer)
            .cloned()
            .unwrap_or_default(),
    )
}
