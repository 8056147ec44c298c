//! The web console (issue 17): pages at `/` and JSON at `/api/...`, on the admin listener.
//!
//! The backend is a Kafka client of the cluster (`vltava-client`), bootstrapped from this
//! broker's own PLAINTEXT listener: it sees every broker, topic, partition and group of the
//! cluster through the Kafka API, as any admin tool would, and never reads this broker's
//! internals. Each API call runs the blocking client on tokio's blocking pool, at most
//! `API_CALLS_MAX` at once; searches and tails are streamed as server-sent events, each under
//! its own limit. The pages are hand-written HTML, CSS and JavaScript embedded in the binary
//! (`assets`): no build step, no CDN.
//!
//! No login yet: every request passes through [`authorize`], the one seam where
//! authentication and authorisation will plug in (issue 18's principals).

mod api;
mod assets;
mod error;
mod filter;
mod reader;
mod records;
mod stream;

use std::sync::{Arc, OnceLock};

use axum::Router;
use axum::extract::{DefaultBodyLimit, Request};
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::{get, post};
use tokio::sync::Semaphore;
use vltava_client::Client;

pub use error::ApiError;

/// The client id of the console's Kafka requests (brokers log and count requests by it).
pub const CLIENT_ID: &str = "vltava-console";
/// Blocking client calls (one connection each) running at once; more wait their turn.
const API_CALLS_MAX: usize = 16;
/// Searches streaming at once; one more is refused with 429.
const SEARCHES_MAX: usize = 4;
/// Live tails streaming at once; one more is refused with 429.
const TAILS_MAX: usize = 8;
/// The largest request body (a produced record with its headers, a config change).
const REQUEST_BODY_BYTES_MAX: usize = 1024 * 1024;

/// What the console's handlers share. Clones share it.
#[derive(Debug, Clone)]
pub struct Console {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    /// HOST:PORT of this broker's PLAINTEXT listener, once it listens.
    bootstrap: OnceLock<String>,
    calls: Semaphore,
    searches: Arc<Semaphore>,
    tails: Arc<Semaphore>,
}

impl Default for Console {
    fn default() -> Self {
        Console {
            inner: Arc::new(Inner {
                bootstrap: OnceLock::new(),
                calls: Semaphore::new(API_CALLS_MAX),
                searches: Arc::new(Semaphore::new(SEARCHES_MAX)),
                tails: Arc::new(Semaphore::new(TAILS_MAX)),
            }),
        }
    }
}

impl Console {
    /// The console connects to the cluster through `bootstrap` (this broker's PLAINTEXT
    /// listener). Kept once given.
    pub fn set_bootstrap(&self, bootstrap: String) {
        let _ = self.inner.bootstrap.set(bootstrap);
    }

    fn bootstrap(&self) -> Result<String, ApiError> {
        self.inner.bootstrap.get().cloned().ok_or_else(|| {
            ApiError::unavailable(
                "the console has no Kafka listener to use (starting, or no PLAINTEXT listener)",
            )
        })
    }

    /// Runs `work` with a fresh client connection on the blocking pool.
    async fn call<T: Send + 'static>(
        &self,
        work: impl FnOnce(&mut Client) -> anyhow::Result<T> + Send + 'static,
    ) -> Result<T, ApiError> {
        let bootstrap = self.bootstrap()?;
        let _permit = self
            .inner
            .calls
            .acquire()
            .await
            .map_err(|_| ApiError::unavailable("the console is shutting down"))?;
        tokio::task::spawn_blocking(move || {
            let mut client = Client::connect_as(&bootstrap, CLIENT_ID)?;
            work(&mut client)
        })
        .await
        .map_err(ApiError::from_join)?
        .map_err(ApiError::from_cluster)
    }
}

/// The console's routes, to be merged into the admin listener's router.
pub fn router<S: Clone + Send + Sync + 'static>(console: Console) -> Router<S> {
    let api = Router::new()
        .route("/api/overview", get(api::overview))
        .route("/api/topics", get(api::topics))
        .route("/api/topics/{topic}", get(api::topic))
        .route("/api/topics/{topic}/configs", post(api::alter_config))
        .route("/api/topics/{topic}/records", post(records::produce))
        .route("/api/topics/{topic}/search", get(stream::search))
        .route("/api/topics/{topic}/tail", get(stream::tail))
        .route("/api/groups", get(api::groups))
        .route("/api/groups/{group}", get(api::group))
        .route("/api/groups/{group}/reset", post(api::reset_offsets))
        .fallback(api::not_found)
        .layer(DefaultBodyLimit::max(REQUEST_BODY_BYTES_MAX))
        .with_state(console);
    Router::new()
        .merge(assets::router())
        .merge(api)
        .layer(middleware::from_fn(authorize))
}

/// The authentication seam. Today every request may do everything: the console has no login
/// (issue 17 leaves security for later). Authentication (a session, a bearer token, mTLS) and
/// the authorisation of each action against the principal's ACLs go here, and only here:
/// answer 401/403 instead of calling `next`.
async fn authorize(request: Request, next: Next) -> Response {
    next.run(request).await
}
