//! The shop's three services (examples/README.md): `shop order|inventory|notification|all`.
//! Each runs until SIGTERM or Ctrl-C, then stops its HTTP server and closes its consumer, which
//! commits the offsets stored so far and leaves the group.

mod consumer;
mod inventory;
mod kafka;
mod notification;
mod order;

use std::net::SocketAddr;

use anyhow::{Context, bail};
use tokio::sync::watch;

/// The environment of examples/README.md, with its defaults.
#[derive(Clone)]
pub struct Config {
    pub bootstrap: String,
    pub order_port: u16,
    pub inventory_port: u16,
    pub notification_port: u16,
    pub initial_stock: u64,
}

impl Config {
    fn from_env() -> anyhow::Result<Config> {
        fn var<T: std::str::FromStr>(name: &str, default: T) -> anyhow::Result<T> {
            match std::env::var(name) {
                Ok(text) => text
                    .parse()
                    .ok()
                    .with_context(|| format!("{name}={text} is not valid")),
                Err(_) => Ok(default),
            }
        }
        Ok(Config {
            bootstrap: var("KAFKA_BOOTSTRAP", "127.0.0.1:9092".to_string())?,
            order_port: var("ORDER_PORT", 8080)?,
            inventory_port: var("INVENTORY_PORT", 8081)?,
            notification_port: var("NOTIFICATION_PORT", 8082)?,
            initial_stock: var("INITIAL_STOCK", 10)?,
        })
    }
}

/// Set to true once SIGTERM or Ctrl-C arrives; every task watches it.
pub type Shutdown = watch::Receiver<bool>;

/// Resolves when the shutdown signal is given.
pub async fn stopped(mut shutdown: Shutdown) {
    // An error means the sender is gone, which only happens when main is ending anyway.
    let _ = shutdown.wait_for(|stop| *stop).await;
}

/// Serves `router` on 127.0.0.1:`port` until shutdown, letting requests in flight finish.
pub async fn serve(port: u16, router: axum::Router, shutdown: Shutdown) -> anyhow::Result<()> {
    let address = SocketAddr::from(([127, 0, 0, 1], port));
    let listener = tokio::net::TcpListener::bind(address)
        .await
        .with_context(|| format!("binding {address}"))?;
    eprintln!("listening on http://{address}");
    axum::serve(listener, router)
        .with_graceful_shutdown(stopped(shutdown))
        .await?;
    Ok(())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let service = std::env::args().nth(1).unwrap_or_default();
    let config = Config::from_env()?;
    let (stop, shutdown) = watch::channel(false);
    tokio::spawn(async move {
        wait_for_signal().await;
        eprintln!("stopping");
        let _ = stop.send(true);
    });

    let mut tasks = tokio::task::JoinSet::new();
    let all = service == "all";
    if all || service == "order" {
        tasks.spawn(order::run(config.clone(), shutdown.clone()));
    }
    if all || service == "inventory" {
        tasks.spawn(inventory::run(config.clone(), shutdown.clone()));
    }
    if all || service == "notification" {
        tasks.spawn(notification::run(config.clone(), shutdown.clone()));
    }
    if tasks.is_empty() {
        bail!("usage: shop order|inventory|notification|all");
    }
    // One service failing (its broker unreachable, a write to a retry topic lost) stops the
    // process: a supervisor restarts it, and uncommitted events are delivered again.
    while let Some(result) = tasks.join_next().await {
        result??;
    }
    Ok(())
}

async fn wait_for_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    match signal(SignalKind::terminate()) {
        Ok(mut terminate) => {
            tokio::select! {
                _ = terminate.recv() => {}
                _ = tokio::signal::ctrl_c() => {}
            }
        }
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

/// `GET /health`: answered once the service reached the broker (its topics exist).
pub async fn health() -> axum::Json<serde_json::Value> {
    axum::Json(serde_json::json!({ "status": "ok" }))
}

/// Locks shared state; a panic while it was held leaves nothing half-done in these short
/// sections, so the state is still usable.
pub fn lock<T>(mutex: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}
