//! The two streamed views, as server-sent events: a search of a topic (bounded by matches,
//! records scanned and time, cancelled when the page closes the stream) and a live tail (the
//! records produced after it opened). Each runs the blocking `Reader` on the blocking pool and
//! hands events to the connection through a channel of `SSE_BUFFER_EVENTS`; when the page goes
//! away the channel closes and the reader stops within one fetch.
//!
//! Events: `record` (a `RecordView`), `progress` and `done` (a search's counts and why it
//! stopped), `ready` (the tail's start positions), `failure` (an error that ended the stream;
//! not `error`, which EventSource keeps for its own connection errors).

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::time::{Duration, Instant};

use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::response::Sse;
use axum::response::sse::{Event, KeepAlive, KeepAliveStream};
use futures_util::Stream;
use serde::{Deserialize, Serialize};
use tokio::sync::{OwnedSemaphorePermit, mpsc};

use super::api::path_param;
use super::filter::{Filter, FilterText};
use super::reader::{Reader, Start};
use super::records::RecordView;
use super::{ApiError, Console};

/// Events queued for one page before the reader waits for the page to take them.
const SSE_BUFFER_EVENTS: usize = 64;
/// A search's bounds: defaults, and the most a page may ask for.
const SEARCH_MATCHES_DEFAULT: u64 = 100;
const SEARCH_MATCHES_MAX: u64 = 10_000;
const SEARCH_SCANNED_DEFAULT: u64 = 100_000;
const SEARCH_SCANNED_MAX: u64 = 10_000_000;
const SEARCH_SECONDS_DEFAULT: u64 = 10;
const SEARCH_SECONDS_MAX: u64 = 120;
/// How long one tail fetch waits for new records (also how soon a closed tail stops).
const TAIL_WAIT_MS: i32 = 500;
/// How often an idle stream sends a comment: besides keeping proxies from closing it, the
/// write is how the server notices a page that went away (and stops its reader).
const SSE_KEEP_ALIVE: Duration = Duration::from_secs(2);
/// A tail ends after this long (the page may open another).
const TAIL_DURATION_MAX: Duration = Duration::from_secs(3600);

type EventStream = std::pin::Pin<Box<dyn Stream<Item = Result<Event, Infallible>> + Send>>;
type Events = Sse<KeepAliveStream<EventStream>>;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SearchQuery {
    /// Only this partition (all by default).
    partition: Option<i32>,
    /// Start at this offset of each partition (the default: 0, the log start)...
    offset: Option<i64>,
    /// ...or at the first record at or after this time, ms since the epoch.
    timestamp: Option<i64>,
    key: Option<String>,
    header: Option<String>,
    text: Option<String>,
    json_path: Option<String>,
    json_value: Option<String>,
    /// Only records with a timestamp at most this (ms since the epoch).
    until: Option<i64>,
    max_matches: Option<u64>,
    max_scanned: Option<u64>,
    max_seconds: Option<u64>,
}

/// A search's bounds, checked.
#[derive(Debug, Clone, Copy)]
struct Bounds {
    matches: u64,
    scanned: u64,
    time: Duration,
}

fn bounds(query: &SearchQuery) -> Result<Bounds, ApiError> {
    let within = |name: &str, given: Option<u64>, default: u64, max: u64| match given {
        None => Ok(default),
        Some(n) if (1..=max).contains(&n) => Ok(n),
        Some(n) => Err(ApiError::bad_request(format!(
            "{name} is {n}: it is 1 to {max}"
        ))),
    };
    Ok(Bounds {
        matches: within(
            "max_matches",
            query.max_matches,
            SEARCH_MATCHES_DEFAULT,
            SEARCH_MATCHES_MAX,
        )?,
        scanned: within(
            "max_scanned",
            query.max_scanned,
            SEARCH_SCANNED_DEFAULT,
            SEARCH_SCANNED_MAX,
        )?,
        time: Duration::from_secs(within(
            "max_seconds",
            query.max_seconds,
            SEARCH_SECONDS_DEFAULT,
            SEARCH_SECONDS_MAX,
        )?),
    })
}

fn start_of(query: &SearchQuery) -> Result<Start, ApiError> {
    match (query.offset, query.timestamp) {
        (Some(_), Some(_)) => Err(ApiError::bad_request("give offset or timestamp, not both")),
        (Some(offset), None) if offset < 0 => Err(ApiError::bad_request("offset is at least 0")),
        (Some(offset), None) => Ok(Start::Offset(offset)),
        (None, Some(ms)) if ms < 0 => Err(ApiError::bad_request("timestamp is at least 0")),
        (None, Some(ms)) => Ok(Start::Timestamp(ms)),
        (None, None) => Ok(Start::Offset(0)),
    }
}

#[derive(Debug, Serialize)]
struct Progress {
    matched: u64,
    scanned: u64,
    /// Why the search stopped (`done` only): matches, scanned, time, end.
    #[serde(skip_serializing_if = "Option::is_none")]
    stopped: Option<&'static str>,
    positions: BTreeMap<i32, i64>,
}

pub async fn search(
    State(console): State<Console>,
    topic: Result<Path<String>, PathRejection>,
    query: Result<Query<SearchQuery>, QueryRejection>,
) -> Result<Events, ApiError> {
    let topic = path_param(topic)?;
    let Query(query) = query.map_err(|r| ApiError::bad_request(r.body_text()))?;
    let bounds = bounds(&query)?;
    let start = start_of(&query)?;
    let filter = Filter::parse(&FilterText {
        key: query.key.as_deref(),
        header: query.header.as_deref(),
        text: query.text.as_deref(),
        json_path: query.json_path.as_deref(),
        json_value: query.json_value.as_deref(),
        until_ms: query.until,
    })
    .map_err(ApiError::bad_request)?;
    let permit = console
        .inner
        .searches
        .clone()
        .try_acquire_owned()
        .map_err(|_| {
            ApiError::too_many("too many searches at once: wait for one to end or cancel it")
        })?;
    let reader = open(&console, topic, query.partition, start).await?;
    Ok(stream(move |events| {
        run_search(reader, filter, bounds, &events, permit);
    }))
}

pub async fn tail(
    State(console): State<Console>,
    topic: Result<Path<String>, PathRejection>,
    query: Result<Query<TailQuery>, QueryRejection>,
) -> Result<Events, ApiError> {
    let topic = path_param(topic)?;
    let Query(query) = query.map_err(|r| ApiError::bad_request(r.body_text()))?;
    let permit = console
        .inner
        .tails
        .clone()
        .try_acquire_owned()
        .map_err(|_| ApiError::too_many("too many live tails at once: close one"))?;
    let reader = open(&console, topic, query.partition, Start::End).await?;
    Ok(stream(move |events| run_tail(reader, &events, permit)))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TailQuery {
    partition: Option<i32>,
}

/// A reader positioned where it starts, or the error (unknown topic or partition, no leader)
/// as the answer, before any event is sent.
async fn open(
    console: &Console,
    topic: String,
    partition: Option<i32>,
    start: Start,
) -> Result<Reader, ApiError> {
    if partition.is_some_and(|p| p < 0) {
        return Err(ApiError::bad_request("a partition is at least 0"));
    }
    let bootstrap = console.bootstrap()?;
    tokio::task::spawn_blocking(move || Reader::open(&bootstrap, &topic, partition, start))
        .await
        .map_err(ApiError::from_join)?
        .map_err(ApiError::from_cluster)
}

/// Runs `produce` on the blocking pool, streaming what it sends until it returns.
fn stream(produce: impl FnOnce(mpsc::Sender<Event>) + Send + 'static) -> Events {
    let (events, received) = mpsc::channel(SSE_BUFFER_EVENTS);
    tokio::task::spawn_blocking(move || produce(events));
    let stream = futures_util::stream::unfold(received, |mut received| async move {
        received
            .recv()
            .await
            .map(|event| (Ok::<_, Infallible>(event), received))
    });
    Sse::new(Box::pin(stream) as EventStream).keep_alive(KeepAlive::new().interval(SSE_KEEP_ALIVE))
}

/// Sends `data` as event `name`; false once the page has gone.
fn send(events: &mpsc::Sender<Event>, name: &str, data: &impl Serialize) -> bool {
    match Event::default().event(name).json_data(data) {
        Ok(event) => events.blocking_send(event).is_ok(),
        Err(error) => {
            tracing::error!(%error, "console: an event could not be encoded");
            false
        }
    }
}

#[derive(Debug, Serialize)]
struct Failure {
    error: String,
}

fn fail(events: &mpsc::Sender<Event>, error: &anyhow::Error) {
    send(
        events,
        "failure",
        &Failure {
            error: format!("{error:#}"),
        },
    );
}

/// Reads from the start positions up to the log end offsets of when the search began.
fn run_search(
    mut reader: Reader,
    filter: Filter,
    bounds: Bounds,
    events: &mpsc::Sender<Event>,
    _permit: OwnedSemaphorePermit,
) {
    let deadline = Instant::now() + bounds.time;
    let ends = match reader.end_offsets() {
        Ok(ends) => ends,
        Err(error) => return fail(events, &error),
    };
    let before_end =
        |partition: i32, offset: i64| ends.get(&partition).is_some_and(|e| offset < *e);
    let (mut matched, mut scanned) = (0u64, 0u64);
    let stopped = loop {
        if matched >= bounds.matches {
            break "matches";
        }
        if scanned >= bounds.scanned {
            break "scanned";
        }
        if Instant::now() >= deadline {
            break "time";
        }
        if !reader.positions.iter().any(|(p, o)| before_end(*p, *o)) {
            break "end";
        }
        let records = match reader.fetch_round(before_end, 0) {
            Ok(records) => records,
            Err(error) => return fail(events, &error),
        };
        for (partition, record) in records {
            if !before_end(partition, record.offset) {
                continue;
            }
            scanned += 1;
            if filter.matches(&record) {
                matched += 1;
                if !send(events, "record", &RecordView::of(partition, &record)) {
                    return;
                }
            }
            if matched >= bounds.matches || scanned >= bounds.scanned {
                break;
            }
        }
        let progress = Progress {
            matched,
            scanned,
            stopped: None,
            positions: reader.positions.clone(),
        };
        if !send(events, "progress", &progress) {
            return;
        }
    };
    let done = Progress {
        matched,
        scanned,
        stopped: Some(stopped),
        positions: reader.positions.clone(),
    };
    send(events, "done", &done);
}

/// Streams every record appended after the tail opened, until the page goes away.
fn run_tail(mut reader: Reader, events: &mpsc::Sender<Event>, _permit: OwnedSemaphorePermit) {
    #[derive(Serialize)]
    struct Ready<'a> {
        positions: &'a BTreeMap<i32, i64>,
    }
    if !send(
        events,
        "ready",
        &Ready {
            positions: &reader.positions,
        },
    ) {
        return;
    }
    let until = Instant::now() + TAIL_DURATION_MAX;
    while !events.is_closed() && Instant::now() < until {
        match reader.fetch_round(|_, _| true, TAIL_WAIT_MS) {
            Ok(records) => {
                for (partition, record) in records {
                    if !send(events, "record", &RecordView::of(partition, &record)) {
                        return;
                    }
                }
            }
            Err(error) => return fail(events, &error),
        }
    }
    send(events, "done", &serde_json::json!({ "stopped": "time" }));
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The query string `text` as the handler's extractor reads it.
    fn query(text: &str) -> Result<SearchQuery, String> {
        let uri: axum::http::Uri = format!("/?{text}").parse().map_err(|e| format!("{e}"))?;
        Query::<SearchQuery>::try_from_uri(&uri)
            .map(|Query(q)| q)
            .map_err(|e| e.body_text())
    }

    /// A search is bounded even when the page asks for nothing, and never beyond the maxima.
    #[test]
    fn search_bounds_default_and_refuse_out_of_range() -> Result<(), String> {
        let b = bounds(&query("")?).map_err(|_| "defaults refused")?;
        assert_eq!(
            (b.matches, b.scanned, b.time),
            (
                SEARCH_MATCHES_DEFAULT,
                SEARCH_SCANNED_DEFAULT,
                Duration::from_secs(SEARCH_SECONDS_DEFAULT)
            )
        );
        for bad in [
            "max_matches=0",
            "max_scanned=99999999999",
            "max_seconds=121",
        ] {
            assert!(bounds(&query(bad)?).is_err(), "{bad}");
        }
        assert!(query("max_matches=-1").is_err());
        assert!(query("surprise=1").is_err());
        assert!(matches!(start_of(&query("")?), Ok(Start::Offset(0))));
        assert!(matches!(
            start_of(&query("timestamp=5")?),
            Ok(Start::Timestamp(5))
        ));
        assert!(start_of(&query("offset=1&timestamp=5")?).is_err());
        Ok(())
    }
}
