//! The inventory service: reserves stock for each order, or rejects it when there is not enough.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{Value, json};

use crate::consumer::{self, DeadLetters};
use crate::order::Order;
use crate::{Config, Shutdown, lock};

/// Kept in memory: an example, not a database. A restarted service starts with full stock.
struct Inventory {
    initial_stock: u64,
    stock: HashMap<String, u64>,
    /// Every order handled, `reserved` or `rejected`: the memory that makes handling idempotent.
    status: HashMap<String, &'static str>,
}

impl Inventory {
    fn available(&self, sku: &str) -> u64 {
        self.stock.get(sku).copied().unwrap_or(self.initial_stock)
    }
}

impl consumer::Handler for Mutex<Inventory> {
    fn handle(&self, order: &Order) {
        let mut inventory = lock(self);
        if inventory.status.contains_key(&order.order_id) {
            return;
        }
        let available = inventory.available(&order.sku);
        let status = if order.quantity <= available {
            inventory
                .stock
                .insert(order.sku.clone(), available - order.quantity);
            "reserved"
        } else {
            "rejected"
        };
        inventory.status.insert(order.order_id.clone(), status);
    }
}

type Shared = Arc<Mutex<Inventory>>;

pub async fn run(config: Config, shutdown: Shutdown) -> anyhow::Result<()> {
    let inventory = Arc::new(Mutex::new(Inventory {
        initial_stock: config.initial_stock,
        stock: HashMap::new(),
        status: HashMap::new(),
    }));
    // Topics first: once the service answers HTTP, it has reached the broker.
    consumer::create_topics(&config, "inventory").await?;
    let dead_letters = DeadLetters::default();
    let router = Router::new()
        .route("/stock/{sku}", get(stock))
        .route("/orders/{order_id}", get(order_status))
        .route("/health", get(crate::health))
        .with_state(inventory.clone())
        .merge(consumer::dlq_router(dead_letters.clone()));
    let port = config.inventory_port;
    tokio::try_join!(
        consumer::run(
            config,
            "inventory",
            inventory,
            dead_letters,
            shutdown.clone()
        ),
        crate::serve(port, router, shutdown),
    )?;
    Ok(())
}

async fn stock(State(inventory): State<Shared>, Path(sku): Path<String>) -> Json<Value> {
    let available = lock(&inventory).available(&sku);
    Json(json!({ "sku": sku, "available": available }))
}

async fn order_status(
    State(inventory): State<Shared>,
    Path(order_id): Path<String>,
) -> (StatusCode, Json<Value>) {
    match lock(&inventory).status.get(&order_id) {
        Some(status) => (
            StatusCode::OK,
            Json(json!({ "order_id": order_id, "status": status })),
        ),
        None => (
            StatusCode::NOT_FOUND,
            Json(json!({ "error": "order not seen" })),
        ),
    }
}
