//! The admin HTTP listener (`--http-listen`, default 127.0.0.1:9644): `/metrics` in the
//! Prometheus/OpenMetrics text format, `/health` (the process answers), `/ready` (the broker
//! serves), and the web console (`console`: pages at `/`, JSON at `/api/...`), which acts on
//! the cluster as a Kafka client and has no login yet.
//!
//! `/metrics` encodes the broker's counters and histograms (`vltava_broker::metrics`) and
//! then the gauges of `gauges`, computed from the broker's state at each scrape.

pub mod console;
mod gauges;
mod readiness;

use std::future::Future;
use std::net::SocketAddr;

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use tokio::net::TcpListener;
use vltava_broker::Broker;

pub use readiness::AdminState;

/// OpenMetrics text, which Prometheus asks for first and which `prometheus-client` writes.
const OPENMETRICS_CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// A bound admin listener that has not started serving.
#[derive(Debug)]
pub struct AdminServer {
    listener: TcpListener,
    local_addr: SocketAddr,
}

impl AdminServer {
    /// Binds `address` (port 0 for any free port).
    pub async fn bind(address: SocketAddr) -> std::io::Result<Self> {
        let listener = TcpListener::bind(address).await?;
        let local_addr = listener.local_addr()?;
        Ok(AdminServer {
            listener,
            local_addr,
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Serves until `shutdown` completes. It may start before the broker has opened its logs
    /// (`/health` answers, `/ready` says it is starting); `state` is given the broker then.
    pub async fn run(
        self,
        state: AdminState,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let console = console::router(state.console().clone());
        let app = Router::new()
            .route("/metrics", get(metrics))
            .route("/health", get(health))
            .route("/ready", get(ready))
            .with_state(state)
            .merge(console);
        axum::serve(self.listener, app)
            .with_graceful_shutdown(shutdown)
            .await
    }
}

async fn health() -> &'static str {
    "ok\n"
}

async fn ready(State(state): State<AdminState>) -> Response {
    match state.check() {
        Ok(()) => (StatusCode::OK, "ready\n").into_response(),
        Err(reason) => (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("not ready: {reason}\n"),
        )
            .into_response(),
    }
}

async fn metrics(State(state): State<AdminState>) -> Response {
    let Some(broker) = state.broker() else {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            "starting: no metrics yet\n",
        )
            .into_response();
    };
    // The gauges take partition locks and may read a batch header from disk (lag in seconds):
    // off the runtime's worker threads.
    let encoded = tokio::task::spawn_blocking(move || encode(&broker)).await;
    match encoded {
        Ok(Ok(text)) => ([(header::CONTENT_TYPE, OPENMETRICS_CONTENT_TYPE)], text).into_response(),
        Ok(Err(std::fmt::Error)) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            "cannot encode the metrics\n",
        )
            .into_response(),
        Err(error) => {
            tracing::error!(%error, "metrics scrape failed");
            (StatusCode::INTERNAL_SERVER_ERROR, "metrics scrape failed\n").into_response()
        }
    }
}

/// Every metric, in the text format, ending with `# EOF`.
pub fn encode(broker: &Broker) -> Result<String, std::fmt::Error> {
    use prometheus_client::encoding::text::{encode_eof, encode_registry};
    let mut text = String::new();
    encode_registry(&mut text, broker.metrics.registry())?;
    let scraped = gauges::collect(broker, vltava_broker::broker::now_ms());
    encode_registry(&mut text, &scraped)?;
    encode_eof(&mut text)?;
    Ok(text)
}
