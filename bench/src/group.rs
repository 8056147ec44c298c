//! `rebalance` and `commit`: classic consumer groups (JoinGroup/SyncGroup/Heartbeat and
//! OffsetCommit), measured with librdkafka consumers.
//!
//! `rebalance`: per repetition, a new group of N subscribed members, each a `BaseConsumer` polled
//! on its own thread, reads a topic that a background producer writes one record per partition
//! to every few ms. Once the N members cover every partition, have all read a record since their
//! last rebalance callback and have seen no rebalance for `--settle-ms`, and after a further
//! (rep - ½) / reps of the heartbeat interval (members that joined together heartbeat in step;
//! the delay spreads the join over the heartbeat phase), one more member is created. The figure is the time from just before its creation until every one of the N+1
//! members has a non-empty assignment, the assignments add up to every partition, and every
//! member has read a record after both the join and its own last rebalance callback. The new
//! member learns its coordinator (FindCoordinator, connection, one OffsetFetch) before it
//! subscribes, so the time from `subscribe` is reported as well: the rebalance alone, without
//! the client's start-up.
//!
//! `commit`: one consumer with a group id, assigned every partition of a topic (no
//! subscription, so it commits as a simple consumer: generation -1), commits one offset per
//! partition synchronously, N times, with a new offset each time.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::Context;
use hdrhistogram::Histogram;
use rdkafka::config::RDKafkaLogLevel;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer, ConsumerContext, Rebalance};
use rdkafka::error::{KafkaError, KafkaResult, RDKafkaErrorCode};
use rdkafka::message::DeliveryResult;
use rdkafka::producer::{BaseProducer, BaseRecord, Producer, ProducerContext};
use rdkafka::{ClientConfig, ClientContext, Offset, TopicPartitionList};

use crate::cli::{Assignor, CommitArgs, RebalanceArgs};
use crate::kafka_config::apply_overrides;
use crate::produce::{ensure_topic, nanos_since};
use crate::report::{CommitReport, LatencyUs, RebalanceReport, RebalanceRun, median, rate};

/// How long one `poll` of a member may block; rebalance callbacks make it return at once.
const POLL_TIMEOUT: Duration = Duration::from_millis(50);
/// How often the watching thread looks at the members' state.
const WATCH_INTERVAL: Duration = Duration::from_millis(1);
/// Bound on closing one consumer (LeaveGroup, final commit) at the end of a repetition.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(15);
const METADATA_TIMEOUT: Duration = Duration::from_secs(30);
const RECORD_BYTES: usize = 100;
/// Client warnings and errors kept for the report (all are printed to stderr).
const NOTES_KEPT: usize = 20;
const LATENCY_US_MAX: u64 = 3_600_000_000;

/// Warnings and errors from every client of a run: counted, printed to stderr with the time
/// since the run started, and the first few kept for the report.
struct Notes {
    origin: Instant,
    count: AtomicU64,
    kept: Mutex<Vec<String>>,
}

impl Notes {
    fn new(origin: Instant) -> Notes {
        Notes {
            origin,
            count: AtomicU64::new(0),
            kept: Mutex::new(Vec::new()),
        }
    }

    fn note(&self, who: &str, what: &str) {
        self.count.fetch_add(1, Ordering::Relaxed);
        let line = format!("+{:.3}s {who}: {what}", self.origin.elapsed().as_secs_f64());
        eprintln!("vltava-bench: {line}");
        if let Ok(mut kept) = self.kept.lock()
            && kept.len() < NOTES_KEPT
        {
            kept.push(line);
        }
    }

    fn count(&self) -> u64 {
        self.count.load(Ordering::Relaxed)
    }

    fn kept(&self) -> Vec<String> {
        self.kept.lock().map(|k| k.clone()).unwrap_or_default()
    }
}

/// A librdkafka log line: warnings and worse are notes; the rest (only with `--set debug=...`)
/// goes to stderr as it is.
fn client_log(notes: &Notes, who: &str, level: RDKafkaLogLevel, fac: &str, message: &str) {
    if is_warning_or_worse(level) {
        notes.note(who, &format!("librdkafka {level:?} {fac}: {message}"));
    } else {
        eprintln!(
            "+{:.3}s {who}: librdkafka {level:?} {fac}: {message}",
            notes.origin.elapsed().as_secs_f64()
        );
    }
}

/// Warnings by default; everything when `--set debug=...` asks for librdkafka debug contexts.
fn set_log_level(config: &mut ClientConfig) {
    let level = if config.get("debug").is_some() {
        RDKafkaLogLevel::Debug
    } else {
        RDKafkaLogLevel::Warning
    };
    config.set_log_level(level);
}

fn is_warning_or_worse(level: RDKafkaLogLevel) -> bool {
    matches!(
        level,
        RDKafkaLogLevel::Emerg
            | RDKafkaLogLevel::Alert
            | RDKafkaLogLevel::Critical
            | RDKafkaLogLevel::Error
            | RDKafkaLogLevel::Warning
    )
}

/// What one member's callbacks and poll loop have seen. Times are nanoseconds since the run's
/// origin; 0 means never. Written only by the member's own thread (callbacks run inside `poll`).
struct MemberState {
    name: String,
    origin: Instant,
    notes: Arc<Notes>,
    /// Partitions assigned after the last rebalance callback.
    assigned: AtomicUsize,
    last_rebalance_ns: AtomicU64,
    first_assigned_ns: AtomicU64,
    last_record_ns: AtomicU64,
    /// The first record after the last rebalance callback (0 until there is one).
    first_record_after_rebalance_ns: AtomicU64,
    /// When `subscribe` was called.
    subscribed_ns: AtomicU64,
    rebalances: AtomicU64,
    records: AtomicU64,
}

impl MemberState {
    fn new(index: usize, origin: Instant, notes: Arc<Notes>) -> MemberState {
        MemberState {
            name: format!("member {index}"),
            origin,
            notes,
            assigned: AtomicUsize::new(0),
            last_rebalance_ns: AtomicU64::new(0),
            first_assigned_ns: AtomicU64::new(0),
            last_record_ns: AtomicU64::new(0),
            first_record_after_rebalance_ns: AtomicU64::new(0),
            subscribed_ns: AtomicU64::new(0),
            rebalances: AtomicU64::new(0),
            records: AtomicU64::new(0),
        }
    }
}

/// The consumer context of one member: records rebalances and reports client trouble.
struct Member(Arc<MemberState>);

impl ClientContext for Member {
    fn log(&self, level: RDKafkaLogLevel, fac: &str, log_message: &str) {
        client_log(&self.0.notes, &self.0.name, level, fac, log_message);
    }

    fn error(&self, error: KafkaError, reason: &str) {
        self.0
            .notes
            .note(&self.0.name, &format!("client error {error}: {reason}"));
    }
}

impl ConsumerContext for Member {
    fn post_rebalance(&self, consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        let state = &self.0;
        if let Rebalance::Error(error) = rebalance {
            state
                .notes
                .note(&state.name, &format!("rebalance error: {error}"));
        }
        let assigned = consumer.assignment().map(|a| a.count()).unwrap_or(0);
        let now = nanos_since(state.origin);
        state.assigned.store(assigned, Ordering::Relaxed);
        state.last_rebalance_ns.store(now, Ordering::Relaxed);
        state
            .first_record_after_rebalance_ns
            .store(0, Ordering::Relaxed);
        state.rebalances.fetch_add(1, Ordering::Relaxed);
        if assigned > 0 {
            let _ = state.first_assigned_ns.compare_exchange(
                0,
                now,
                Ordering::Relaxed,
                Ordering::Relaxed,
            );
        }
    }

    fn commit_callback(&self, result: KafkaResult<()>, _offsets: &TopicPartitionList) {
        match result {
            // Auto-commit with nothing new to commit.
            Ok(()) | Err(KafkaError::ConsumerCommit(RDKafkaErrorCode::NoOffset)) => {}
            Err(error) => self
                .0
                .notes
                .note(&self.0.name, &format!("auto-commit failed: {error}")),
        }
    }
}

/// One member's life: subscribe, poll until told to stop, close (bounded). With `warm`, the
/// member first learns its coordinator (an OffsetFetch for partition 0, which waits for
/// FindCoordinator and the connection) so that `subscribed_ns` marks the JoinGroup alone.
fn run_member(
    config: &ClientConfig,
    state: Arc<MemberState>,
    topic: &str,
    warm: bool,
    stop: &AtomicBool,
    deadline: Instant,
) {
    let consumer: BaseConsumer<Member> = match config.create_with_context(Member(state.clone())) {
        Ok(c) => c,
        Err(error) => {
            state
                .notes
                .note(&state.name, &format!("creating the consumer: {error}"));
            return;
        }
    };
    if warm {
        let mut partition0 = TopicPartitionList::new();
        partition0.add_partition(topic, 0);
        let timeout = deadline.saturating_duration_since(Instant::now());
        if let Err(error) = consumer.committed_offsets(partition0, timeout) {
            state.notes.note(
                &state.name,
                &format!("OffsetFetch before subscribing: {error}"),
            );
        }
    }
    state
        .subscribed_ns
        .store(nanos_since(state.origin), Ordering::Relaxed);
    if let Err(error) = consumer.subscribe(&[topic]) {
        state
            .notes
            .note(&state.name, &format!("subscribe: {error}"));
        return;
    }
    while !stop.load(Ordering::Relaxed) && Instant::now() < deadline {
        match consumer.poll(POLL_TIMEOUT) {
            Some(Ok(_message)) => {
                let now = nanos_since(state.origin);
                state.records.fetch_add(1, Ordering::Relaxed);
                state.last_record_ns.store(now, Ordering::Relaxed);
                let _ = state.first_record_after_rebalance_ns.compare_exchange(
                    0,
                    now,
                    Ordering::Relaxed,
                    Ordering::Relaxed,
                );
            }
            Some(Err(error)) => state.notes.note(&state.name, &format!("poll: {error}")),
            None => {}
        }
    }
    close_consumer(consumer, &state.notes, &state.name);
}

/// Closes a group consumer (revoke, final commit, LeaveGroup) within `CLOSE_TIMEOUT`. A consumer
/// that does not finish is leaked rather than dropped, since dropping waits without a bound.
fn close_consumer<C: ConsumerContext>(consumer: BaseConsumer<C>, notes: &Notes, name: &str) {
    let start = Instant::now();
    if let Err(error) = consumer.close_queue() {
        notes.note(name, &format!("close: {error}"));
        std::mem::forget(consumer);
        return;
    }
    while !consumer.closed() && start.elapsed() < CLOSE_TIMEOUT {
        consumer.poll(Duration::from_millis(100));
    }
    if consumer.closed() {
        drop(consumer);
    } else {
        notes.note(
            name,
            &format!(
                "close did not finish within {} s; client leaked",
                CLOSE_TIMEOUT.as_secs()
            ),
        );
        std::mem::forget(consumer);
    }
}

/// Counts the background producer's deliveries and reports its failures.
struct ProducerNotes(Arc<Notes>, Arc<AtomicU64>);

impl ClientContext for ProducerNotes {
    fn log(&self, level: RDKafkaLogLevel, fac: &str, log_message: &str) {
        client_log(&self.0, "producer", level, fac, log_message);
    }
}

impl ProducerContext for ProducerNotes {
    type DeliveryOpaque = ();

    fn delivery(&self, result: &DeliveryResult<'_>, _: ()) {
        match result {
            Ok(_) => {
                self.1.fetch_add(1, Ordering::Relaxed);
            }
            Err((error, _)) => self
                .0
                .note("producer", &format!("delivery failed: {error}")),
        }
    }
}

/// Sends one record to every partition each `--produce-interval-ms` until `stop` or `deadline`.
fn run_producer(
    args: &RebalanceArgs,
    notes: Arc<Notes>,
    acked: Arc<AtomicU64>,
    stop: &AtomicBool,
    deadline: Instant,
) {
    let producer: BaseProducer<ProducerNotes> = match ClientConfig::new()
        .set("bootstrap.servers", &args.bootstrap)
        .set("acks", "1")
        .set("linger.ms", "0")
        .set_log_level(RDKafkaLogLevel::Warning)
        .create_with_context(ProducerNotes(notes.clone(), acked))
    {
        Ok(p) => p,
        Err(error) => {
            notes.note("producer", &format!("creating the producer: {error}"));
            return;
        }
    };
    let payload = [b'x'; RECORD_BYTES];
    let interval = Duration::from_millis(args.produce_interval_ms);
    let mut next = Instant::now();
    while !stop.load(Ordering::Relaxed) && Instant::now() < deadline {
        for partition in 0..args.partitions {
            let record = BaseRecord::to(&args.topic)
                .partition(partition)
                .payload(&payload[..]);
            if let Err((error, _)) = producer.send::<(), [u8]>(record) {
                notes.note("producer", &format!("send: {error}"));
            }
        }
        producer.poll(Duration::ZERO);
        next += interval;
        let now = Instant::now();
        if next > now {
            std::thread::sleep(next - now);
        } else {
            next = now;
        }
    }
    if let Err(error) = producer.flush(Duration::from_secs(5)) {
        notes.note("producer", &format!("flush: {error}"));
    }
}

/// A group id no earlier run used.
fn unique_group(prefix: &str) -> String {
    let ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or(0);
    format!("{prefix}-{}-{ms}", std::process::id())
}

fn member_config(args: &RebalanceArgs, group: &str) -> anyhow::Result<ClientConfig> {
    let mut config = ClientConfig::new();
    config
        .set("bootstrap.servers", &args.bootstrap)
        .set("group.id", group);
    for (key, value) in member_settings(args) {
        config.set(key, value);
    }
    apply_overrides(&mut config, &args.overrides)?;
    set_log_level(&mut config);
    Ok(config)
}

/// The librdkafka settings of every member (besides bootstrap.servers and group.id).
fn member_settings(args: &RebalanceArgs) -> BTreeMap<String, String> {
    // KIP-848 members take their timing and assignor from the broker and refuse these.
    let classic: Vec<(&str, String)> = if args.assignor == Assignor::Consumer {
        vec![("group.protocol", "consumer".to_string())]
    } else {
        vec![
            (
                "partition.assignment.strategy",
                args.assignor.as_config().to_string(),
            ),
            ("heartbeat.interval.ms", args.heartbeat_ms.to_string()),
            ("session.timeout.ms", args.session_timeout_ms.to_string()),
        ]
    };
    let mut settings: BTreeMap<String, String> = classic
        .into_iter()
        .chain([
            ("max.poll.interval.ms", "300000".to_string()),
            ("enable.auto.commit", "true".to_string()),
            ("auto.commit.interval.ms", "5000".to_string()),
            ("auto.offset.reset", "latest".to_string()),
            ("enable.partition.eof", "false".to_string()),
        ])
        .map(|(k, v)| (k.to_string(), v))
        .collect();
    for kv in &args.overrides {
        if let Some((key, value)) = kv.split_once('=') {
            settings.insert(key.to_string(), value.to_string());
        }
    }
    settings
}

/// The members' view of the group: how many are assigned, and whether all are consuming.
struct GroupView {
    /// Every member has ≥ 1 partition, the assignments add up to every partition, and every
    /// member has read a record after `since_ns` and after its own last rebalance callback.
    all_consuming: bool,
    last_rebalance_ns: u64,
}

fn view(members: &[Arc<MemberState>], partitions: usize, since_ns: u64) -> GroupView {
    let (mut all_consuming, mut sum, mut last_rebalance_ns) = (true, 0, 0);
    for m in members {
        let assigned = m.assigned.load(Ordering::Relaxed);
        let rebalanced = m.last_rebalance_ns.load(Ordering::Relaxed);
        let record = m.last_record_ns.load(Ordering::Relaxed);
        sum += assigned;
        last_rebalance_ns = last_rebalance_ns.max(rebalanced);
        all_consuming &= assigned > 0 && record > rebalanced.max(since_ns);
    }
    GroupView {
        all_consuming: all_consuming && sum == partitions,
        last_rebalance_ns,
    }
}

/// Of the members with a rebalance callback after the join, the one whose first record after
/// it came last: who held up "all consuming", and how long after its callback.
fn last_to_consume(members: &[Arc<MemberState>], joined_ns: u64) -> Option<String> {
    let newest = members.len() - 1;
    members
        .iter()
        .enumerate()
        .filter_map(|(i, m)| {
            let rebalanced = m.last_rebalance_ns.load(Ordering::Relaxed);
            let record = m.first_record_after_rebalance_ns.load(Ordering::Relaxed);
            (rebalanced > joined_ns && record > 0).then_some((i, m, rebalanced, record))
        })
        .max_by_key(|&(_, _, _, record)| record)
        .map(|(i, m, rebalanced, record)| {
            format!(
                "member {i}{}: {} partition(s), last rebalance callback at +{:.1} ms, first \
                 record after it at +{:.1} ms",
                if i == newest { " (joining)" } else { "" },
                m.assigned.load(Ordering::Relaxed),
                ms_between(joined_ns, rebalanced),
                ms_between(joined_ns, record)
            )
        })
}

fn ms_between(from_ns: u64, to_ns: u64) -> f64 {
    to_ns.saturating_sub(from_ns) as f64 / 1e6
}

/// One repetition: N members settle, one joins, time until all N+1 consume again.
fn rebalance_rep(args: &RebalanceArgs, rep: u32) -> anyhow::Result<RebalanceRun> {
    let group = unique_group(&format!("vltava-bench-rebalance-{rep}"));
    let config = member_config(args, &group)?;
    let origin = Instant::now();
    let notes = Arc::new(Notes::new(origin));
    let deadline = origin + Duration::from_secs(args.duration_s_max);
    let partitions = usize::try_from(args.partitions).context("--partitions")?;
    let members = args.members as usize;
    let states: Vec<Arc<MemberState>> = (0..=members)
        .map(|i| Arc::new(MemberState::new(i, origin, notes.clone())))
        .collect();
    let (stop, producer_stop) = (AtomicBool::new(false), AtomicBool::new(false));
    let produced = Arc::new(AtomicU64::new(0));
    let settle_ns = args.settle_ms * 1_000_000;
    let join_delay = Duration::from_secs_f64(
        args.heartbeat_ms as f64 / 1e3 * (f64::from(rep) - 0.5) / f64::from(args.reps),
    );
    let mut run = RebalanceRun {
        group: group.clone(),
        join_delay_ms: join_delay.as_secs_f64() * 1e3,
        initial_all_consuming_ms: None,
        settled_ms: None,
        join_to_new_member_assigned_ms: None,
        join_to_all_consuming_ms: None,
        join_to_subscribe_ms: None,
        subscribe_to_new_member_assigned_ms: None,
        subscribe_to_all_consuming_ms: None,
        rebalance_callbacks_during_join: 0,
        last_to_consume: None,
        records: 0,
        records_produced: 0,
        client_notes: 0,
        error: None,
        notes: Vec::new(),
    };
    std::thread::scope(|scope| {
        let producer = scope.spawn(|| {
            run_producer(
                args,
                notes.clone(),
                produced.clone(),
                &producer_stop,
                deadline,
            )
        });
        let mut threads = Vec::new();
        for state in &states[..members] {
            let (config, stop, state) = (&config, &stop, state.clone());
            threads.push(
                scope.spawn(move || run_member(config, state, &args.topic, false, stop, deadline)),
            );
        }
        // The first N: all consuming, then no rebalance callback for settle_ms.
        let first = &states[..members];
        let settled = loop {
            let now = nanos_since(origin);
            let v = view(first, partitions, 0);
            if v.all_consuming {
                run.initial_all_consuming_ms
                    .get_or_insert(ms_between(0, now));
                if now.saturating_sub(v.last_rebalance_ns) >= settle_ns {
                    run.settled_ms = Some(ms_between(0, now));
                    break true;
                }
            }
            if Instant::now() >= deadline {
                break false;
            }
            std::thread::sleep(WATCH_INTERVAL);
        };
        if settled {
            // Members that joined together heartbeat in step, and settling ends a whole number
            // of heartbeats after the last rebalance: spread the join across the heartbeat
            // period, (rep - ½) / reps of it, so that no broker is measured at one phase only.
            std::thread::sleep(join_delay);
            let callbacks_before: u64 = states
                .iter()
                .map(|s| s.rebalances.load(Ordering::Relaxed))
                .sum();
            let joined_ns = nanos_since(origin);
            let (config, stop, state) = (&config, &stop, states[members].clone());
            threads.push(
                scope.spawn(move || run_member(config, state, &args.topic, true, stop, deadline)),
            );
            loop {
                let v = view(&states, partitions, joined_ns);
                let now = nanos_since(origin);
                if v.all_consuming {
                    run.join_to_all_consuming_ms = Some(ms_between(joined_ns, now));
                    break;
                }
                if Instant::now() >= deadline {
                    break;
                }
                std::thread::sleep(WATCH_INTERVAL);
            }
            run.last_to_consume = last_to_consume(&states, joined_ns);
            let subscribed_ns = states[members].subscribed_ns.load(Ordering::Relaxed);
            if subscribed_ns > 0 {
                run.join_to_subscribe_ms = Some(ms_between(joined_ns, subscribed_ns));
                run.subscribe_to_all_consuming_ms = run
                    .join_to_all_consuming_ms
                    .map(|ms| ms - ms_between(joined_ns, subscribed_ns));
            }
            let assigned_ns = states[members].first_assigned_ns.load(Ordering::Relaxed);
            if assigned_ns > 0 {
                run.join_to_new_member_assigned_ms = Some(ms_between(joined_ns, assigned_ns));
                if subscribed_ns > 0 {
                    run.subscribe_to_new_member_assigned_ms =
                        Some(ms_between(subscribed_ns, assigned_ns));
                }
            }
            run.rebalance_callbacks_during_join = states
                .iter()
                .map(|s| s.rebalances.load(Ordering::Relaxed))
                .sum::<u64>()
                - callbacks_before;
        }
        if run.join_to_all_consuming_ms.is_none() {
            let assigned: Vec<usize> = states
                .iter()
                .map(|s| s.assigned.load(Ordering::Relaxed))
                .collect();
            run.error = Some(format!(
                "{} after {} s; partitions per member {assigned:?}",
                if settled {
                    "the group did not consume again after the join"
                } else {
                    "the first members did not settle"
                },
                args.duration_s_max
            ));
        }
        // Members close (LeaveGroup) while records still flow, then the producer stops.
        stop.store(true, Ordering::Relaxed);
        for thread in threads {
            if thread.join().is_err() {
                notes.note("bench", "a member thread panicked");
            }
        }
        producer_stop.store(true, Ordering::Relaxed);
        if producer.join().is_err() {
            notes.note("bench", "the producer thread panicked");
        }
    });
    run.records = states
        .iter()
        .map(|s| s.records.load(Ordering::Relaxed))
        .sum();
    run.records_produced = produced.load(Ordering::Relaxed);
    run.client_notes = notes.count();
    if run.error.is_some() || run.client_notes > 0 {
        run.notes = notes.kept();
    }
    Ok(run)
}

pub fn rebalance(args: &RebalanceArgs) -> anyhow::Result<()> {
    anyhow::ensure!(args.members >= 1, "--members must be at least 1");
    anyhow::ensure!(args.reps >= 1, "--reps must be at least 1");
    anyhow::ensure!(
        i64::from(args.partitions) > i64::from(args.members),
        "--partitions must exceed --members, so that every member of N+1 can own a partition"
    );
    ensure_topic(&args.bootstrap, &args.topic, args.partitions)?;
    let mut runs = Vec::new();
    for rep in 1..=args.reps {
        let run = rebalance_rep(args, rep)?;
        if !args.json {
            eprintln!(
                "rep {rep}: join → all consuming {} ms",
                run.join_to_all_consuming_ms
                    .map_or("-".to_string(), |ms| format!("{ms:.1}"))
            );
        }
        runs.push(run);
    }
    let mut times: Vec<f64> = runs
        .iter()
        .filter_map(|r| r.join_to_all_consuming_ms)
        .collect();
    let mut assigned: Vec<f64> = runs
        .iter()
        .filter_map(|r| r.join_to_new_member_assigned_ms)
        .collect();
    let mut from_subscribe: Vec<f64> = runs
        .iter()
        .filter_map(|r| r.subscribe_to_all_consuming_ms)
        .collect();
    let mut to_subscribe: Vec<f64> = runs.iter().filter_map(|r| r.join_to_subscribe_ms).collect();
    let report = RebalanceReport {
        topic: args.topic.clone(),
        partitions: args.partitions,
        members: args.members,
        assignor: args.assignor.as_config().to_string(),
        reps: args.reps,
        reps_failed: runs.iter().filter(|r| r.error.is_some()).count() as u32,
        produce_interval_ms: args.produce_interval_ms,
        settle_ms: args.settle_ms,
        settings: member_settings(args),
        join_to_all_consuming_ms_median: (!times.is_empty()).then(|| median(&mut times)),
        join_to_all_consuming_ms_min: times.iter().copied().reduce(f64::min),
        join_to_all_consuming_ms_max: times.iter().copied().reduce(f64::max),
        join_to_new_member_assigned_ms_median: (!assigned.is_empty())
            .then(|| median(&mut assigned)),
        subscribe_to_all_consuming_ms_median: (!from_subscribe.is_empty())
            .then(|| median(&mut from_subscribe)),
        subscribe_to_all_consuming_ms_min: from_subscribe.iter().copied().reduce(f64::min),
        subscribe_to_all_consuming_ms_max: from_subscribe.iter().copied().reduce(f64::max),
        join_to_subscribe_ms_median: (!to_subscribe.is_empty()).then(|| median(&mut to_subscribe)),
        runs,
    };
    report.print(args.json)
}

/// The commit consumer's context: client warnings and errors go to `Notes`.
struct CommitClient(Arc<Notes>);

impl ClientContext for CommitClient {
    fn log(&self, level: RDKafkaLogLevel, fac: &str, log_message: &str) {
        client_log(&self.0, "consumer", level, fac, log_message);
    }

    fn error(&self, error: KafkaError, reason: &str) {
        self.0
            .note("consumer", &format!("client error {error}: {reason}"));
    }
}

impl ConsumerContext for CommitClient {}

pub fn commit(args: &CommitArgs) -> anyhow::Result<()> {
    anyhow::ensure!(args.partitions >= 1, "--partitions must be at least 1");
    ensure_topic(&args.bootstrap, &args.topic, args.partitions)?;
    let group = args
        .group
        .clone()
        .unwrap_or_else(|| unique_group("vltava-bench-commit"));
    let origin = Instant::now();
    let notes = Arc::new(Notes::new(origin));
    let mut config = ClientConfig::new();
    config
        .set("bootstrap.servers", &args.bootstrap)
        .set("group.id", &group)
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .set("enable.partition.eof", "false");
    apply_overrides(&mut config, &args.overrides)?;
    set_log_level(&mut config);
    let consumer: BaseConsumer<CommitClient> = config
        .create_with_context(CommitClient(notes.clone()))
        .context("creating the consumer")?;
    let mut assignment = TopicPartitionList::new();
    for partition in 0..args.partitions {
        assignment.add_partition_offset(&args.topic, partition, Offset::End)?;
    }
    consumer.assign(&assignment).context("assigning")?;
    let mut offsets = TopicPartitionList::new();
    let set_offsets = |offsets: &mut TopicPartitionList, offset: i64| -> KafkaResult<()> {
        for partition in 0..args.partitions {
            offsets.add_partition_offset(&args.topic, partition, Offset::Offset(offset))?;
        }
        Ok(())
    };
    // The first commit finds the coordinator and connects to it: timed apart.
    set_offsets(&mut offsets, 1)?;
    let first = Instant::now();
    consumer
        .commit(&offsets, CommitMode::Sync)
        .context("the first commit")?;
    let first_commit_ms = first.elapsed().as_secs_f64() * 1e3;
    consumer.poll(Duration::ZERO);
    let mut latency = Histogram::<u64>::new_with_bounds(1, LATENCY_US_MAX, 3)
        .context("creating the latency histogram")?;
    let deadline = Instant::now() + Duration::from_secs(args.duration_s_max);
    let (mut done, mut failed, mut first_error, mut last_offset) = (0u64, 0u64, None, 1i64);
    let start = Instant::now();
    while done + failed < args.commits && Instant::now() < deadline {
        let offset = 2 + (done + failed) as i64;
        set_offsets(&mut offsets, offset)?;
        let sent = Instant::now();
        match consumer.commit(&offsets, CommitMode::Sync) {
            Ok(()) => {
                latency.saturating_record((sent.elapsed().as_micros() as u64).max(1));
                done += 1;
                last_offset = offset;
            }
            Err(error) => {
                failed += 1;
                first_error.get_or_insert_with(|| error.to_string());
            }
        }
        // Serves the main queue (client log lines, errors), outside the timed call.
        consumer.poll(Duration::ZERO);
    }
    let elapsed_s = start.elapsed().as_secs_f64();
    // OffsetFetch: the group must hold the last committed offset of every partition.
    let mut expected = TopicPartitionList::new();
    for partition in 0..args.partitions {
        expected.add_partition(&args.topic, partition);
    }
    let verified = consumer
        .committed_offsets(expected, METADATA_TIMEOUT)
        .map(|tpl| {
            tpl.elements()
                .iter()
                .all(|e| e.offset() == Offset::Offset(last_offset))
        })
        .unwrap_or(false);
    consumer.poll(Duration::from_millis(100));
    close_consumer(consumer, &notes, "consumer");
    CommitReport {
        topic: args.topic.clone(),
        group,
        partitions: args.partitions,
        commits_requested: args.commits,
        commits: done,
        commits_failed: failed,
        elapsed_s,
        commits_per_s: rate(done, elapsed_s),
        first_commit_ms,
        latency_us: LatencyUs::from_histogram(&latency),
        offsets_fetched_match: verified,
        first_error,
        client_notes: notes.count(),
        notes: notes.kept(),
    }
    .print(args.json)
}
