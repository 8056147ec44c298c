//! The TCP side: accept connections under a limit, serve each one, stop them all on shutdown.

mod connection;
mod frame;
mod per_ip;
mod queued_bytes;
mod shutdown;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::{Semaphore, broadcast, mpsc};

use crate::broker::{Broker, StartError};
use crate::config::BrokerConfig;

pub use frame::FrameError;
pub use shutdown::Shutdown;

/// A bound, opened broker that has not started serving yet.
#[derive(Debug)]
pub struct Server {
    listener: TcpListener,
    broker: Arc<Broker>,
}

/// What `Server::bind` tells its caller: where clients connect, where data lives.
#[derive(Debug, Clone)]
pub struct ServerHandle {
    pub local_addr: SocketAddr,
    pub advertised: String,
}

impl Server {
    /// Binds the listener and opens (recovers) the data directory.
    pub async fn bind(config: BrokerConfig) -> Result<Self, StartError> {
        let address = config.listen;
        let listen_error = |source| StartError::Listen { address, source };
        let listener = TcpListener::bind(address).await.map_err(listen_error)?;
        let port = listener.local_addr().map_err(listen_error)?.port();
        let broker = Broker::open(config, port).await?;
        Ok(Server { listener, broker })
    }

    pub fn handle(&self) -> ServerHandle {
        let local_addr = self
            .listener
            .local_addr()
            .unwrap_or_else(|_| self.broker.config.listen);
        ServerHandle {
            local_addr,
            advertised: format!(
                "{}:{}",
                self.broker.config.advertised_host, self.broker.advertised_port
            ),
        }
    }

    pub fn broker(&self) -> &Arc<Broker> {
        &self.broker
    }

    /// Serves until `shutdown` completes, then closes every connection and flushes every log.
    pub async fn run(self, shutdown: impl Future<Output = ()>) {
        let Server { listener, broker } = self;
        let (notify_shutdown, _) = broadcast::channel(1);
        // Each connection holds a sender; when the last is dropped, all have finished.
        let (done_tx, mut done_rx) = mpsc::channel::<()>(1);
        let connections = Arc::new(Semaphore::new(broker.config.connections_max));
        let per_ip = per_ip::ConnectionsPerIp::new(broker.config.connections_max_per_ip);
        let queued = queued_bytes::QueuedBytes::new(broker.config.queued_request_bytes_max);
        let retention = tokio::spawn(run_retention(broker.clone()));
        let group_timers = {
            let broker = broker.clone();
            tokio::spawn(async move { broker.groups.run_timers().await })
        };
        let group_records = {
            let broker = broker.clone();
            tokio::spawn(async move { broker.groups.write_group_records(&broker).await })
        };

        let accept = accept_loop(
            &listener,
            &broker,
            Limits {
                connections: &connections,
                per_ip: &per_ip,
                queued: &queued,
            },
            &notify_shutdown,
            &done_tx,
        );
        tokio::select! {
            _ = accept => {}
            _ = shutdown => tracing::info!("shutting down"),
        }
        // The groups' last records, then the leaderships, while the connections (clients' and
        // followers') are still served: the next coordinators resume the groups from them.
        broker.groups.flush_group_records().await;
        broker.hand_over_leaderships().await;
        retention.abort();
        group_timers.abort();
        group_records.abort();
        drop(notify_shutdown);
        drop(done_tx);
        let _ = done_rx.recv().await;
        tokio::task::block_in_place(|| broker.flush_all());
        tracing::info!("all logs flushed");
        broker.leave_cluster().await;
        tracing::info!("stopped");
    }
}

/// What a new connection must pass before it is served.
struct Limits<'a> {
    connections: &'a Arc<Semaphore>,
    per_ip: &'a Arc<per_ip::ConnectionsPerIp>,
    /// Shared by every connection: `queued.max.request.bytes`.
    queued: &'a queued_bytes::QueuedBytes,
}

async fn accept_loop(
    listener: &TcpListener,
    broker: &Arc<Broker>,
    limits: Limits<'_>,
    notify_shutdown: &broadcast::Sender<()>,
    done: &mpsc::Sender<()>,
) {
    loop {
        let Ok(permit) = limits.connections.clone().acquire_owned().await else {
            return;
        };
        let (socket, peer) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(error) => {
                // Typically EMFILE: back off instead of spinning.
                tracing::warn!(%error, "accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        // As Kafka: a connection beyond max.connections.per.ip is closed right after accept.
        let Some(ip_permit) = limits.per_ip.admit(peer.ip()) else {
            tracing::debug!(%peer, "closing connection: max.connections.per.ip reached");
            continue;
        };
        let _ = socket.set_nodelay(true);
        let broker = broker.clone();
        let shutdown = Shutdown::new(notify_shutdown.subscribe());
        let done = done.clone();
        let queued = limits.queued.clone();
        tokio::spawn(async move {
            connection::serve(broker, socket, peer, queued, shutdown).await;
            drop(ip_permit);
            drop(permit);
            drop(done);
        });
    }
}

async fn run_retention(broker: Arc<Broker>) {
    let period = Duration::from_millis(broker.config.retention_check_interval_ms.max(10));
    let mut interval = tokio::time::interval(period);
    interval.tick().await;
    loop {
        interval.tick().await;
        let pass = broker.clone();
        let _ = tokio::task::spawn_blocking(move || pass.apply_retention()).await;
        broker.groups.expire_offsets(&broker).await;
    }
}
