//! One client connection: frames are read and handled one after another, and a writer sends
//! the responses back in request order.
//!
//! Ordering: every request sees the effects of every earlier request on its connection, as on
//! Kafka, which handles one request per connection at a time (clients rely on it: librdkafka's
//! asynchronous commit followed by `committed()`). Replies that wait (acks=all produce,
//! long-polling fetch, group joins) run as tasks; the next request is dispatched while they
//! are pending only if it and all of them are Produce. Pipelined produces keep their order
//! anyway (appends happen in the handler, before it waits for durability), so this keeps
//! pipelined acks=all throughput without letting any other request overtake a pending one.
//!
//! On a SASL listener the connection first authenticates (security/sasl): until then only
//! ApiVersions and the SASL APIs are served, frames are capped at `sasl.server.max.receive.size`,
//! and anything else closes the connection, as on Kafka. A session with a lifetime (KIP-368)
//! is re-authenticated on the same connection when the client sends SaslHandshake again; once
//! it has expired, any other request closes the connection.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::{BufMut, Bytes, BytesMut};
use kafka_protocol::messages::{ApiKey, RequestKind, ResponseHeader, ResponseKind};
use kafka_protocol::protocol::Encodable;
use tokio::io::{AsyncRead, AsyncWriteExt};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tokio::time::{Instant, sleep, sleep_until};

use super::fetch_frame::{self, Split};
use super::frame::{FrameError, read_body, read_length};
use super::queued_bytes::{QueuedBytes, QueuedPermit};
use super::request_log::RequestEnd;
use super::send_file::{ResponseWriter, write_frame};
use super::shutdown::Shutdown;
use crate::broker::Broker;
use crate::dispatch::{self, Decoded, Reply, Response};
use crate::quotas::Metered;
use crate::security::sasl::{Authenticated, Authenticator, Outcome};
use crate::security::{KafkaPrincipal, Session};
use vltava_cluster::quotas::{QuotaEntity, quota_for};

/// A connection keeps its response buffer for reuse up to this size.
const RESPONSE_BUFFER_KEPT_BYTES_MAX: usize = 1024 * 1024;

/// A response on its way out, in request order.
struct Outgoing {
    key: ApiKey,
    version: i16,
    correlation_id: i32,
    response: Pending,
}

/// A response with the request's bytes in `queued.max.request.bytes`, given back once it is
/// written. The permit rides in the box (or the task's output), not in `Outgoing`: every
/// connection's queue allocates room for `inflight_requests_max` of those up front.
struct Answer {
    response: Response,
    queued: QueuedPermit,
}

enum Pending {
    Ready(Box<Answer>),
    Waiting(JoinHandle<Answer>),
}

/// The handlers of this connection still running as tasks, by kind.
#[derive(Debug, Default, Clone, Copy)]
struct InFlight {
    produce: usize,
    other: usize,
}

impl InFlight {
    /// Whether a request of `key` may be dispatched now without overtaking a pending one.
    fn admits(self, key: ApiKey) -> bool {
        self.other == 0 && (self.produce == 0 || key == ApiKey::Produce)
    }

    fn count(&mut self, key: ApiKey) -> &mut usize {
        if key == ApiKey::Produce {
            &mut self.produce
        } else {
            &mut self.other
        }
    }
}

/// Counts a handler task as in flight for as long as it lives (dropped on completion, panic
/// or abort alike), waking the connection's reader when it ends.
struct InFlightGuard {
    in_flight: Arc<watch::Sender<InFlight>>,
    key: ApiKey,
}

impl InFlightGuard {
    fn new(in_flight: &Arc<watch::Sender<InFlight>>, key: ApiKey) -> Self {
        in_flight.send_modify(|now| *now.count(key) += 1);
        InFlightGuard {
            in_flight: in_flight.clone(),
            key,
        }
    }
}

impl Drop for InFlightGuard {
    fn drop(&mut self) {
        let key = self.key;
        self.in_flight
            .send_modify(|now| *now.count(key) = now.count(key).saturating_sub(1));
    }
}

/// Until when the connection reads no request: a client over its quota is muted for its
/// throttle time after its response, as on Kafka (KIP-219).
#[derive(Debug, Default, Clone)]
struct Muted(Arc<Mutex<Option<Instant>>>);

impl Muted {
    fn until(&self, until: Instant) {
        let mut muted = self.0.lock().unwrap_or_else(|e| e.into_inner());
        *muted = Some(muted.map_or(until, |now| now.max(until)));
    }

    /// The end of a mute still to come, clearing one that is over.
    fn pending(&self) -> Option<Instant> {
        let mut muted = self.0.lock().unwrap_or_else(|e| e.into_inner());
        match *muted {
            Some(until) if until > Instant::now() => Some(until),
            _ => {
                *muted = None;
                None
            }
        }
    }
}

/// What a request is counted as against its client's quota, its size, and the quota (the
/// entity whose rate it counts against, and its limit), found once when the request is read.
struct Metering {
    metered: Metered,
    request_bytes: usize,
    quota: (QuotaEntity, f64),
    muted: Muted,
}

impl Metering {
    /// `None` for requests no quota meters, and for clients without a quota.
    fn of(
        broker: &Broker,
        session: &Session,
        decoded: &Decoded,
        request_bytes: usize,
        muted: &Muted,
    ) -> Option<Metering> {
        let Decoded::Request { request, .. } = decoded else {
            return None;
        };
        let metered = Metered::of(request)?;
        let quota = quota_for(
            &broker.image().client_quotas,
            metered.quota_key(),
            &session.principal.name,
            decoded.client_id(),
        )?;
        Some(Metering {
            metered,
            request_bytes,
            quota,
            muted: muted.clone(),
        })
    }
}

/// Kafka's `KafkaChannel.MIN_REAUTH_INTERVAL_ONE_SECOND_NANOS`: a SaslHandshake sooner after
/// the last re-authentication began is served as any other request (ILLEGAL_SASL_STATE).
const REAUTH_INTERVAL_MIN: Duration = Duration::from_secs(1);

/// The SASL session of an authenticated connection (KIP-368).
struct SaslSession {
    authenticated: Authenticated,
    expires: Option<Instant>,
    reauthenticated_at: Option<Instant>,
}

/// What an authenticated SASL connection does with a request, as Kafka's `SocketServer`.
#[derive(Debug, PartialEq, Eq)]
enum SessionCheck {
    Serve,
    Reauthenticate,
    Expired,
}

impl SaslSession {
    fn new(authenticated: Authenticated, reauthenticated_at: Option<Instant>) -> SaslSession {
        let expires = authenticated
            .session_lifetime_ms
            .map(|ms| Instant::now() + Duration::from_millis(ms));
        SaslSession {
            authenticated,
            expires,
            reauthenticated_at,
        }
    }

    fn check(&mut self, key: Option<ApiKey>, now: Instant) -> SessionCheck {
        let may_reauthenticate = self.expires.is_some()
            && self
                .reauthenticated_at
                .is_none_or(|at| now.duration_since(at) >= REAUTH_INTERVAL_MIN);
        if key == Some(ApiKey::SaslHandshake) && may_reauthenticate {
            self.reauthenticated_at = Some(now);
            return SessionCheck::Reauthenticate;
        }
        match self.expires {
            Some(expires) if now > expires => SessionCheck::Expired,
            _ => SessionCheck::Serve,
        }
    }
}

/// The API key of a frame, from its first two bytes.
fn frame_api_key(frame: &[u8]) -> Option<ApiKey> {
    let key = i16::from_be_bytes([*frame.first()?, *frame.get(1)?]);
    ApiKey::try_from(key).ok()
}

/// What reading a request is bounded by.
struct Reading {
    frame_bytes_max: usize,
    idle: Duration,
    queued: QueuedBytes,
}

/// Where a connection came in.
#[derive(Debug)]
pub struct Accepted {
    pub peer: SocketAddr,
    pub listener: Arc<str>,
    /// The socket's local address, when the listener answers with it (no advertised address).
    pub own_address: Option<SocketAddr>,
    /// The listener is SASL_PLAINTEXT or SASL_SSL: authenticate before serving.
    pub sasl: bool,
}

/// Serves one connection, given as its read and write halves (a TCP socket's, or a TLS
/// stream's), as `principal` until SASL says otherwise.
pub async fn serve<R, W>(
    broker: Arc<Broker>,
    (mut reader, writer): (R, W),
    accepted: Accepted,
    principal: KafkaPrincipal,
    queued: QueuedBytes,
    mut shutdown: Shutdown,
) where
    R: AsyncRead + Unpin + Send,
    W: ResponseWriter,
{
    let Accepted {
        peer,
        listener,
        own_address,
        sasl,
    } = accepted;
    let (outgoing, queue) = mpsc::channel(broker.config.inflight_requests_max);
    let writer = tokio::spawn(write_responses(writer, queue));
    let mut authenticator = sasl.then(Authenticator::default);
    let mut sasl_session: Option<SaslSession> = None;
    let mut reading = Reading {
        frame_bytes_max: broker.config.frame_bytes_max,
        idle: Duration::from_millis(broker.config.connections_max_idle_ms),
        queued,
    };
    let mut session = Arc::new(Session {
        listener: listener.clone(),
        principal,
        own_address,
    });
    let mut buffer = BytesMut::new();
    let in_flight = Arc::new(watch::Sender::new(InFlight::default()));
    let muted = Muted::default();
    loop {
        reading.frame_bytes_max = match authenticator {
            // CVE-2022-34917: an unauthenticated client gets no large buffer.
            Some(_) => broker
                .config
                .frame_bytes_max
                .min(broker.config.sasl.max_receive_bytes),
            None => broker.config.frame_bytes_max,
        };
        let request = tokio::select! {
            request = read_request(&mut reader, &mut buffer, &reading) => request,
            _ = shutdown.recv() => break,
        };
        let (frame, queued) = match request {
            Ok(Some(request)) => request,
            Ok(None) => break,
            Err(FrameError::Idle) => {
                tracing::debug!(%peer, "closing idle connection (connections.max.idle.ms)");
                break;
            }
            Err(error) => {
                tracing::debug!(%peer, %error, "closing connection: bad frame");
                break;
            }
        };
        if authenticator.is_none()
            && let Some(current) = sasl_session.as_mut()
        {
            match current.check(frame_api_key(&frame), Instant::now()) {
                SessionCheck::Serve => {}
                SessionCheck::Reauthenticate => {
                    tracing::debug!(%peer, "re-authenticating");
                    authenticator = Some(Authenticator::reauthenticating(&current.authenticated));
                }
                SessionCheck::Expired => {
                    tracing::debug!(%peer, "closing connection: its SASL session expired");
                    break;
                }
            }
        }
        if let Some(auth) = authenticator.as_mut() {
            let step = match authenticate(&broker, auth, frame) {
                Ok(step) => step,
                Err(error) => {
                    tracing::debug!(%peer, %error, "closing connection: before authentication");
                    break;
                }
            };
            let (outgoing_response, outcome) = match step {
                Step::Serve(decoded) => {
                    let served =
                        handle_decoded(&broker, peer, &session, decoded, queued, &in_flight, None);
                    match served.await {
                        Some(out) => (out, Outcome::Continue),
                        None => continue,
                    }
                }
                Step::Answer(framing, response, outcome) => (
                    Outgoing {
                        key: framing.0,
                        version: framing.1,
                        correlation_id: framing.2,
                        response: Pending::Ready(Box::new(Answer {
                            response: Response::from(*response),
                            queued,
                        })),
                    },
                    outcome,
                ),
            };
            if outgoing.send(outgoing_response).await.is_err() {
                break;
            }
            match outcome {
                Outcome::Continue => {}
                Outcome::Authenticated(authenticated) => {
                    let principal = authenticated.principal.clone();
                    let reauthenticated_at = sasl_session.and_then(|s| s.reauthenticated_at);
                    tracing::debug!(
                        %peer, %principal, reauthentication = reauthenticated_at.is_some(),
                        session_lifetime_ms = authenticated.session_lifetime_ms, "authenticated"
                    );
                    sasl_session = Some(SaslSession::new(authenticated, reauthenticated_at));
                    session = Arc::new(Session {
                        listener: listener.clone(),
                        principal,
                        own_address,
                    });
                    authenticator = None;
                }
                Outcome::Close => {
                    tracing::debug!(%peer, "closing connection: authentication failed");
                    break;
                }
            }
            continue;
        }
        if let Some(until) = muted.pending() {
            tokio::select! {
                () = sleep_until(until) => {}
                _ = shutdown.recv() => break,
            }
        }
        let request_bytes = frame.len();
        let decoded = match dispatch::decode_request(frame) {
            Ok(decoded) => decoded,
            Err(error) => {
                tracing::debug!(%peer, %error, "closing connection: bad request");
                break;
            }
        };
        let metering = Metering::of(&broker, &session, &decoded, request_bytes, &muted);
        let served = handle_decoded(
            &broker, peer, &session, decoded, queued, &in_flight, metering,
        )
        .await;
        if let Some(out) = served
            && outgoing.send(out).await.is_err()
        {
            break;
        }
    }
    drop(outgoing);
    let _ = writer.await;
}

/// Reads the next request, taking its bytes from `queued.max.request.bytes` after its length is
/// checked and before its body is read; `Ok(None)` when the peer closed between frames.
///
/// The whole frame must arrive within the idle time, so half a frame sent slowly (a slow-loris
/// client) does not keep the connection open. Time spent waiting for the pool does not count:
/// that wait is the broker's back-pressure, not the client's idleness.
async fn read_request<R: AsyncRead + Unpin>(
    reader: &mut R,
    buffer: &mut BytesMut,
    reading: &Reading,
) -> Result<Option<(Bytes, QueuedPermit)>, FrameError> {
    // One timer for the whole frame: a connection's state is kept small, since ten thousand
    // idle connections each wait here. The read is polled first, as `timeout` does, so a frame
    // already buffered never touches the timer wheel.
    let idle = sleep(reading.idle);
    tokio::pin!(idle);
    let frame_bytes = tokio::select! {
        biased;
        length = read_length(reader, reading.frame_bytes_max) => match length? {
            Some(frame_bytes) => frame_bytes,
            None => return Ok(None),
        },
        () = &mut idle => return Err(FrameError::Idle),
    };
    let queued = match reading.queued.try_acquire(frame_bytes) {
        Some(queued) => queued,
        None => {
            let waiting_since = Instant::now();
            let queued = reading.queued.acquire(frame_bytes).await;
            let deadline = idle.deadline() + waiting_since.elapsed();
            idle.as_mut().reset(deadline);
            queued
        }
    };
    tokio::select! {
        biased;
        body = read_body(reader, buffer, frame_bytes) => Ok(Some((body?, queued))),
        () = &mut idle => Err(FrameError::Idle),
    }
}

/// What an unauthenticated connection does with a request.
enum Step {
    /// ApiVersions: served as on any connection.
    Serve(Decoded),
    /// A SASL request answered by the authenticator (framing: key, version, correlation id).
    Answer((ApiKey, i16, i32), Box<ResponseKind>, Outcome),
}

#[derive(Debug, thiserror::Error)]
enum AuthError {
    #[error(transparent)]
    Decode(#[from] dispatch::DispatchError),
    #[error("{0:?} is not served before authentication")]
    NotAllowed(ApiKey),
}

fn authenticate(
    broker: &Broker,
    auth: &mut Authenticator,
    frame: Bytes,
) -> Result<Step, AuthError> {
    let decoded = dispatch::decode_request(frame)?;
    let framing = decoded.response_framing();
    if !auth.allows(framing.0) {
        return Err(AuthError::NotAllowed(framing.0));
    }
    let Decoded::Request { request, .. } = &decoded else {
        return Ok(Step::Serve(decoded));
    };
    let config = &broker.config.sasl;
    let (response, outcome): (ResponseKind, Outcome) = match request.as_ref() {
        RequestKind::SaslHandshake(request) => {
            let (response, outcome) = auth.handshake(config, request);
            (response.into(), outcome)
        }
        RequestKind::SaslAuthenticate(request) => {
            let now_ms = crate::broker::now_ms();
            let (response, outcome) = auth.authenticate(config, &broker.image(), request, now_ms);
            (response.into(), outcome)
        }
        _ => return Ok(Step::Serve(decoded)),
    };
    Ok(Step::Answer(framing, Box::new(response), outcome))
}

async fn handle_decoded(
    broker: &Arc<Broker>,
    peer: SocketAddr,
    session: &Arc<Session>,
    decoded: Decoded,
    queued: QueuedPermit,
    in_flight: &Arc<watch::Sender<InFlight>>,
    metering: Option<Metering>,
) -> Option<Outgoing> {
    let (key, version, correlation_id) = decoded.response_framing();
    // The sender lives as long as this function's caller, so the wait ends only when the
    // pending handlers do (each is bounded by its own timeout: produce, fetch max wait, join).
    let mut changes = in_flight.subscribe();
    let _ = changes.wait_for(|now| now.admits(key)).await;
    let end = RequestEnd::start(broker, peer, &decoded);
    let response = match dispatch::dispatch(broker, peer, session, decoded).await {
        Reply::Now(response) => {
            end.finish();
            let mut response = Response::from(*response);
            throttle(broker, metering, &mut response);
            Pending::Ready(Box::new(Answer { response, queued }))
        }
        Reply::Later(future) => {
            let guard = InFlightGuard::new(in_flight, key);
            let broker = broker.clone();
            Pending::Waiting(tokio::spawn(async move {
                let mut response = future.await;
                end.finish();
                throttle(&broker, metering, &mut response);
                drop(guard);
                Answer { response, queued }
            }))
        }
        Reply::Nothing => {
            end.finish();
            return None;
        }
    };
    Some(Outgoing {
        key,
        version,
        correlation_id,
        response,
    })
}

/// Counts a metered response against its client's quota; over it, the response says how long
/// to wait and the connection is muted for as long.
fn throttle(broker: &Broker, metering: Option<Metering>, response: &mut Response) {
    let Some(metering) = metering else {
        return;
    };
    let bytes = match metering.metered {
        Metered::Produce => metering.request_bytes,
        // The records go out from their files: their lengths are known without reading them.
        Metered::Fetch => response.records.iter().map(|r| r.len()).sum(),
        // Counted at accept (server::connection_throttle), never on a request.
        Metered::Connection => return,
    };
    let throttle_ms = broker.quota_rates.throttle(
        metering.metered,
        metering.quota,
        bytes,
        crate::broker::now_ms(),
    );
    if throttle_ms <= 0 {
        return;
    }
    let field = i32::try_from(throttle_ms).unwrap_or(i32::MAX);
    match &mut response.kind {
        ResponseKind::Produce(r) => r.throttle_time_ms = r.throttle_time_ms.max(field),
        ResponseKind::Fetch(r) => r.throttle_time_ms = r.throttle_time_ms.max(field),
        _ => {}
    }
    let throttle = Duration::from_millis(u64::try_from(throttle_ms).unwrap_or(0));
    metering.muted.until(Instant::now() + throttle);
}

async fn write_responses<W: ResponseWriter>(mut writer: W, mut queue: mpsc::Receiver<Outgoing>) {
    let mut buffer = BytesMut::new();
    while let Some(out) = queue.recv().await {
        let Outgoing {
            key,
            version,
            correlation_id,
            response,
        } = out;
        let Answer { response, queued } = match response {
            Pending::Ready(answer) => *answer,
            Pending::Waiting(task) => match task.await {
                Ok(answer) => answer,
                Err(error) => {
                    tracing::error!(%error, "request handler failed; closing connection");
                    return;
                }
            },
        };
        buffer.clear();
        let splits = match encode(&mut buffer, key, version, correlation_id, response) {
            Ok(splits) => splits,
            Err(error) => {
                tracing::error!(%error, ?key, version, "cannot encode response; closing connection");
                return;
            }
        };
        // Write as soon as the head of the queue is ready; batching more would delay it.
        if let Err(error) = write_frame(&mut writer, &buffer, &splits).await {
            tracing::debug!(%error, "closing connection: cannot write a response");
            return;
        }
        // Answered: the request's bytes go back to the pool.
        drop(queued);
        if buffer.capacity() > RESPONSE_BUFFER_KEPT_BYTES_MAX {
            // One large fetch should not pin its size in memory for the connection's lifetime.
            buffer = BytesMut::new();
        }
    }
    let _ = writer.shutdown().await;
}

/// Encodes one response frame into `buffer`, except the Fetch records left in their files:
/// the writer inserts those at the returned split points. The frame's length counts them.
fn encode(
    buffer: &mut BytesMut,
    key: ApiKey,
    version: i16,
    correlation_id: i32,
    response: Response,
) -> anyhow::Result<Vec<Split>> {
    buffer.put_i32(0);
    let header = ResponseHeader::default().with_correlation_id(correlation_id);
    header.encode(buffer, key.response_header_version(version))?;
    let splits = match response.kind {
        ResponseKind::Fetch(fetch) if response.records.iter().any(|r| !r.is_empty()) => {
            fetch_frame::encode(buffer, version, fetch, response.records)?
        }
        kind => {
            kind.encode(buffer, version)?;
            Vec::new()
        }
    };
    let in_files: usize = splits.iter().map(|s| s.records.len()).sum();
    let length = i32::try_from(buffer.len() - 4 + in_files)?;
    buffer[..4].copy_from_slice(&length.to_be_bytes());
    Ok(splits)
}

#[cfg(test)]
mod tests {
    //! KIP-368 on an authenticated connection, as Kafka's SocketServer: a SaslHandshake starts
    //! a re-authentication (at most one a second) when the session has a lifetime; once it is
    //! over, anything else closes the connection. Guards against sessions that never end.

    use super::*;

    fn session(lifetime_ms: Option<u64>) -> SaslSession {
        SaslSession::new(
            Authenticated {
                principal: KafkaPrincipal::user("alice"),
                mechanism: crate::security::sasl::Mechanism::Plain,
                session_lifetime_ms: lifetime_ms,
            },
            None,
        )
    }

    #[test]
    fn a_session_without_a_lifetime_is_never_reauthenticated_or_expired() {
        let mut s = session(None);
        let later = Instant::now() + Duration::from_secs(3600);
        assert_eq!(
            s.check(Some(ApiKey::SaslHandshake), later),
            SessionCheck::Serve
        );
        assert_eq!(s.check(Some(ApiKey::Metadata), later), SessionCheck::Serve);
    }

    #[test]
    fn an_expired_session_serves_only_a_reauthentication() {
        let mut s = session(Some(3_000));
        let now = Instant::now();
        assert_eq!(s.check(Some(ApiKey::Produce), now), SessionCheck::Serve);
        let after = now + Duration::from_secs(4);
        assert_eq!(s.check(Some(ApiKey::Produce), after), SessionCheck::Expired);
        assert_eq!(s.check(None, after), SessionCheck::Expired);
        assert_eq!(
            s.check(Some(ApiKey::SaslHandshake), after),
            SessionCheck::Reauthenticate
        );
    }

    #[test]
    fn reauthentication_starts_at_most_once_a_second() {
        let mut s = session(Some(60_000));
        let now = Instant::now();
        let handshake = Some(ApiKey::SaslHandshake);
        assert_eq!(s.check(handshake, now), SessionCheck::Reauthenticate);
        let soon = now + Duration::from_millis(500);
        assert_eq!(s.check(handshake, soon), SessionCheck::Serve);
        let later = now + Duration::from_millis(1_000);
        assert_eq!(s.check(handshake, later), SessionCheck::Reauthenticate);
    }

    #[test]
    fn the_api_key_is_read_from_the_frame() {
        assert_eq!(frame_api_key(&[0, 17, 0, 1]), Some(ApiKey::SaslHandshake));
        assert_eq!(frame_api_key(&[0]), None);
        assert_eq!(frame_api_key(&[0x7f, 0x7f]), None);
    }
}
