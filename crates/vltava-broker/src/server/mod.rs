//! The TCP side: accept connections on every listener under one limit, secure each as its
//! listener says (TLS, SASL), serve it, stop them all on shutdown.

mod connection;
mod fetch_frame;
mod frame;
mod per_ip;
mod queued_bytes;
mod request_log;
mod send_file;
mod shutdown;

use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, broadcast, mpsc};
use tokio_rustls::TlsAcceptor;

use crate::broker::{Broker, StartError};
use crate::config::BrokerConfig;
use crate::security::{KafkaPrincipal, ListenerConfig, principal, tls};

pub use frame::FrameError;
pub use request_log::RequestLogFilter;
pub use shutdown::Shutdown;

/// A bound, opened broker that has not started serving yet.
#[derive(Debug)]
pub struct Server {
    listeners: Vec<Listener>,
    broker: Arc<Broker>,
}

/// One bound listener with what its connections need.
struct Listener {
    config: ListenerConfig,
    name: Arc<str>,
    socket: TcpListener,
    local_addr: SocketAddr,
    /// Set for SSL and SASL_SSL listeners.
    tls: Option<TlsAcceptor>,
}

impl std::fmt::Debug for Listener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Listener")
            .field("config", &self.config)
            .field("local_addr", &self.local_addr)
            .field("tls", &self.tls.is_some())
            .finish()
    }
}

/// What `Server::bind` tells its caller: where clients connect, where data lives.
#[derive(Debug, Clone)]
pub struct ServerHandle {
    /// The first listener's bound address and advertised `host:port`.
    pub local_addr: SocketAddr,
    pub advertised: String,
    /// Every listener, in the configured order.
    pub listeners: Vec<ListenerHandle>,
}

#[derive(Debug, Clone)]
pub struct ListenerHandle {
    pub name: String,
    pub protocol: &'static str,
    pub local_addr: SocketAddr,
    pub advertised: String,
    /// Clients are told this broker's address as the one they connected to.
    pub answers_with_connection: bool,
}

impl Server {
    /// Binds every listener and opens (recovers) the data directory.
    pub async fn bind(config: BrokerConfig) -> Result<Self, StartError> {
        let tls_config = match &config.tls {
            Some(settings) if config.listeners.iter().any(|l| l.protocol.uses_tls()) => {
                Some(tls::server_config(settings).map_err(StartError::Tls)?)
            }
            _ => None,
        };
        let mut listeners = Vec::with_capacity(config.listeners.len());
        for listener in &config.listeners {
            let address = listener.bind;
            let listen_error = |source| StartError::Listen { address, source };
            let socket = TcpListener::bind(address).await.map_err(listen_error)?;
            let local_addr = socket.local_addr().map_err(listen_error)?;
            let tls = match (listener.protocol.uses_tls(), &tls_config) {
                (false, _) => None,
                (true, Some(tls)) => Some(TlsAcceptor::from(tls.clone())),
                (true, None) => return Err(StartError::NoTlsConfig(listener.name.clone())),
            };
            listeners.push(Listener {
                config: listener.clone(),
                name: Arc::from(listener.name.as_str()),
                socket,
                local_addr,
                tls,
            });
        }
        let ports: Vec<u16> = listeners.iter().map(|l| l.local_addr.port()).collect();
        let broker = Broker::open(config, &ports).await?;
        Ok(Server { listeners, broker })
    }

    pub fn handle(&self) -> ServerHandle {
        let listeners: Vec<ListenerHandle> = self
            .listeners
            .iter()
            .zip(&self.broker.endpoints)
            .map(|(listener, endpoint)| ListenerHandle {
                name: listener.config.name.clone(),
                protocol: listener.config.protocol.name(),
                local_addr: listener.local_addr,
                advertised: format!("{}:{}", endpoint.host, endpoint.port),
                answers_with_connection: listener.config.answers_with_connection,
            })
            .collect();
        let first = &listeners[0];
        ServerHandle {
            local_addr: first.local_addr,
            advertised: first.advertised.clone(),
            listeners,
        }
    }

    pub fn broker(&self) -> &Arc<Broker> {
        &self.broker
    }

    /// Serves until `shutdown` completes, then closes every connection and flushes every log.
    pub async fn run(self, shutdown: impl Future<Output = ()>) {
        let Server { listeners, broker } = self;
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

        let limits = Limits {
            connections: &connections,
            per_ip: &per_ip,
            queued: &queued,
        };
        let accept =
            futures_util::future::join_all(listeners.iter().map(|listener| {
                accept_loop(listener, &broker, &limits, &notify_shutdown, &done_tx)
            }));
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
    listener: &Listener,
    broker: &Arc<Broker>,
    limits: &Limits<'_>,
    notify_shutdown: &broadcast::Sender<()>,
    done: &mpsc::Sender<()>,
) {
    let open_connections = broker.metrics.connections(&listener.name);
    loop {
        let Ok(permit) = limits.connections.clone().acquire_owned().await else {
            return;
        };
        let (socket, peer) = match listener.socket.accept().await {
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
        if let Some(throttle) = connection_throttle(broker, listener, peer.ip()) {
            // KIP-612, as Kafka: held unread for the throttle time, then closed.
            tracing::debug!(%peer, ?throttle, "closing connection: connection_creation_rate");
            tokio::spawn(async move {
                tokio::time::sleep(throttle).await;
                drop((socket, permit, ip_permit));
            });
            continue;
        }
        let _ = socket.set_nodelay(true);
        let broker = broker.clone();
        let shutdown = Shutdown::new(notify_shutdown.subscribe());
        let done = done.clone();
        let queued = limits.queued.clone();
        let name = listener.name.clone();
        let sasl = listener.config.protocol.uses_sasl();
        let tls = listener.tls.clone();
        let own_address = listener
            .config
            .answers_with_connection
            .then(|| socket.local_addr().ok())
            .flatten();
        let open = open_connections.clone();
        open.inc();
        tokio::spawn(async move {
            let accepted = connection::Accepted {
                peer,
                listener: name,
                own_address,
                sasl,
            };
            match tls {
                None => {
                    let (reader, writer) = socket.into_split();
                    let principal = KafkaPrincipal::anonymous();
                    connection::serve(
                        broker,
                        (reader, writer),
                        accepted,
                        principal,
                        queued,
                        shutdown,
                    )
                    .await;
                }
                Some(acceptor) => {
                    if let Some((stream, principal)) = handshake(&broker, acceptor, socket).await {
                        let halves = tokio::io::split(stream);
                        connection::serve(broker, halves, accepted, principal, queued, shutdown)
                            .await;
                    }
                }
            }
            open.dec();
            drop(ip_permit);
            drop(permit);
            drop(done);
        });
    }
}

/// The TLS handshake, bounded by `connections.max.idle.ms` like a frame, and the principal
/// of the client's certificate (`User:ANONYMOUS` without one, as Kafka).
/// How long a new connection from `ip` is held before it is closed unserved, when its address
/// is over its `connection_creation_rate`. The inter-broker listener is exempt when there are
/// others, as Kafka's protected listener is.
fn connection_throttle(broker: &Broker, listener: &Listener, ip: IpAddr) -> Option<Duration> {
    let config = &broker.config;
    if config.listeners.len() > 1 && *listener.name == *config.inter_broker_listener_name {
        return None;
    }
    let image = broker.image();
    let ip = ip.to_canonical().to_string();
    let throttle_ms =
        broker
            .quota_rates
            .connection_throttle(&image.client_quotas, &ip, crate::broker::now_ms());
    (throttle_ms > 0).then(|| Duration::from_millis(u64::try_from(throttle_ms).unwrap_or(0)))
}

async fn handshake(
    broker: &Broker,
    acceptor: TlsAcceptor,
    socket: TcpStream,
) -> Option<(tokio_rustls::server::TlsStream<TcpStream>, KafkaPrincipal)> {
    let idle = Duration::from_millis(broker.config.connections_max_idle_ms);
    let stream = match tokio::time::timeout(idle, acceptor.accept(socket)).await {
        Ok(Ok(stream)) => stream,
        Ok(Err(error)) => {
            tracing::debug!(%error, "closing connection: TLS handshake failed");
            return None;
        }
        Err(_) => {
            tracing::debug!("closing connection: no TLS handshake within connections.max.idle.ms");
            return None;
        }
    };
    let principal = stream
        .get_ref()
        .1
        .peer_certificates()
        .and_then(|chain| chain.first())
        .and_then(|certificate| principal::from_certificate(certificate))
        .unwrap_or_else(KafkaPrincipal::anonymous);
    tracing::debug!(%principal, "TLS connection");
    Some((stream, principal))
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
