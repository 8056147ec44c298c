//! The broker's counters and histograms, kept on the hot path; `vltava-admin` encodes them
//! with the gauges it computes at scrape time. Names are the ones Kafka's JMX exporter gives
//! Kafka's MBeans under Strimzi's rules (`kafka_server_brokertopicmetrics_messagesin_total` for
//! `kafka.server:type=BrokerTopicMetrics,name=MessagesInPerSec,topic=…` Count), so dashboards
//! and alerts written for Kafka work unchanged; vltava's own start with `vltava_`.
//!
//! Cost contract: a produce or fetch finds its topic's counters in the `Topic` it already
//! looked up (no lock, no map), and adds to atomics; a request's latency is one histogram
//! observation. `docs/metrics.md` lists every metric.

mod recent;

use std::sync::OnceLock;
use std::time::Duration;

use kafka_protocol::messages::ApiKey;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

use crate::dispatch::SUPPORTED_APIS;
pub use recent::QUANTILES;
use recent::RecentDurations;

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct TopicLabel {
    pub topic: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabel {
    request: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ListenerLabel {
    listener: String,
}

/// One topic's BrokerTopicMetrics. Cloned handles share the family's atomics.
#[derive(Debug, Clone, Default)]
pub struct TopicMetrics {
    pub messages_in: Counter,
    pub bytes_in: Counter,
    pub bytes_out: Counter,
    pub produce_requests: Counter,
    pub failed_produce_requests: Counter,
    pub fetch_requests: Counter,
    pub failed_fetch_requests: Counter,
}

/// The families behind `TopicMetrics`, one per Kafka BrokerTopicMetrics meter.
#[derive(Debug, Default)]
struct TopicFamilies {
    messages_in: Family<TopicLabel, Counter>,
    bytes_in: Family<TopicLabel, Counter>,
    bytes_out: Family<TopicLabel, Counter>,
    produce_requests: Family<TopicLabel, Counter>,
    failed_produce_requests: Family<TopicLabel, Counter>,
    fetch_requests: Family<TopicLabel, Counter>,
    failed_fetch_requests: Family<TopicLabel, Counter>,
}

impl TopicFamilies {
    fn each(&self) -> [(&'static str, &'static str, &Family<TopicLabel, Counter>); 7] {
        [
            (
                "messagesin",
                "Records appended by Produce (Kafka's MessagesInPerSec).",
                &self.messages_in,
            ),
            (
                "bytesin",
                "Record bytes appended by Produce (Kafka's BytesInPerSec).",
                &self.bytes_in,
            ),
            (
                "bytesout",
                "Record bytes sent in Fetch responses (Kafka's BytesOutPerSec).",
                &self.bytes_out,
            ),
            (
                "totalproducerequests",
                "Produce requests per partition (Kafka's TotalProduceRequestsPerSec).",
                &self.produce_requests,
            ),
            (
                "failedproducerequests",
                "Produce partitions answered with an error (Kafka's FailedProduceRequestsPerSec).",
                &self.failed_produce_requests,
            ),
            (
                "totalfetchrequests",
                "Fetch requests per partition (Kafka's TotalFetchRequestsPerSec).",
                &self.fetch_requests,
            ),
            (
                "failedfetchrequests",
                "Fetch partitions answered with an error (Kafka's FailedFetchRequestsPerSec).",
                &self.failed_fetch_requests,
            ),
        ]
    }
}

/// Seconds from 50 µs to about 26 s, doubling: fsyncs, requests and long polls alike.
fn duration_buckets() -> impl Iterator<Item = f64> {
    exponential_buckets(0.000_05, 2.0, 20)
}

/// One API's request times: since the start, and of the last minute.
#[derive(Debug)]
struct RequestTimes {
    histogram: Histogram,
    recent: RecentDurations,
}

/// Every metric the broker updates as it works.
#[derive(Debug)]
pub struct BrokerMetrics {
    registry: Registry,
    topics: TopicFamilies,
    /// Indexed like `SUPPORTED_APIS`: found by a short scan, no lock. Each histogram joins
    /// `requests` on its API's first request, so that unused APIs print no series.
    request_durations: Vec<(ApiKey, OnceLock<RequestTimes>)>,
    requests: Family<RequestLabel, Histogram>,
    /// Bytes of follower fetches: appended here as a follower, sent from here as a leader
    /// (Kafka's ReplicationBytesInPerSec and ReplicationBytesOutPerSec, of all topics).
    pub replication_bytes_in: Counter,
    pub replication_bytes_out: Counter,
    fsync_duration: Histogram,
    fsync_records: Histogram,
    connections: Family<ListenerLabel, Gauge>,
}

impl Default for BrokerMetrics {
    fn default() -> Self {
        Self::new()
    }
}

impl BrokerMetrics {
    pub fn new() -> Self {
        let mut registry = Registry::default();
        let topics = TopicFamilies::default();
        for (name, help, family) in topics.each() {
            registry.register(
                format!("kafka_server_brokertopicmetrics_{name}"),
                help,
                family.clone(),
            );
        }
        let requests = Family::<RequestLabel, Histogram>::new_with_constructor(
            (|| Histogram::new(duration_buckets())) as fn() -> Histogram,
        );
        registry.register(
            "vltava_request_duration_seconds",
            "Time from a request's dispatch until its response is ready, by API (Kafka's \
             RequestMetrics TotalTimeMs, less the network queues).",
            requests.clone(),
        );
        let request_durations = SUPPORTED_APIS
            .iter()
            .map(|api| (api.key, OnceLock::new()))
            .collect();
        let fsync_duration = Histogram::new(duration_buckets());
        registry.register(
            "vltava_log_fsync_duration_seconds",
            "Time of one partition fsync by a flusher thread (Kafka's LogFlushRateAndTimeMs).",
            fsync_duration.clone(),
        );
        let fsync_records = Histogram::new(exponential_buckets(1.0, 4.0, 12));
        registry.register(
            "vltava_log_flush_records",
            "Records made durable by one fsync: the size of a group commit.",
            fsync_records.clone(),
        );
        let replication_bytes_in = Counter::default();
        registry.register(
            "kafka_server_brokertopicmetrics_replicationbytesin",
            "Record bytes a follower replica here appended from its leaders' answers (Kafka's \
             ReplicationBytesInPerSec).",
            replication_bytes_in.clone(),
        );
        let replication_bytes_out = Counter::default();
        registry.register(
            "kafka_server_brokertopicmetrics_replicationbytesout",
            "Record bytes sent in Fetch responses to follower replicas (Kafka's \
             ReplicationBytesOutPerSec).",
            replication_bytes_out.clone(),
        );
        let connections = Family::<ListenerLabel, Gauge>::default();
        registry.register(
            "kafka_server_socket_server_metrics_connection_count",
            "Open client connections, by listener (Kafka's socket-server-metrics \
             connection-count).",
            connections.clone(),
        );
        BrokerMetrics {
            registry,
            topics,
            request_durations,
            requests,
            replication_bytes_in,
            replication_bytes_out,
            fsync_duration,
            fsync_records,
            connections,
        }
    }

    /// The registry to encode on a scrape.
    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// The counters of `topic`, made on first use: a `Topic` keeps them for the hot path.
    pub fn topic(&self, topic: &str) -> TopicMetrics {
        let label = TopicLabel {
            topic: topic.to_string(),
        };
        let f = &self.topics;
        TopicMetrics {
            messages_in: f.messages_in.get_or_create_owned(&label),
            bytes_in: f.bytes_in.get_or_create_owned(&label),
            bytes_out: f.bytes_out.get_or_create_owned(&label),
            produce_requests: f.produce_requests.get_or_create_owned(&label),
            failed_produce_requests: f.failed_produce_requests.get_or_create_owned(&label),
            fetch_requests: f.fetch_requests.get_or_create_owned(&label),
            failed_fetch_requests: f.failed_fetch_requests.get_or_create_owned(&label),
        }
    }

    /// Drops a deleted topic's series, as Kafka removes its BrokerTopicMetrics.
    pub fn remove_topic(&self, topic: &str) {
        let label = TopicLabel {
            topic: topic.to_string(),
        };
        for (_, _, family) in self.topics.each() {
            family.remove(&label);
        }
    }

    /// One request's time from dispatch to a ready response.
    pub fn observe_request(&self, key: ApiKey, elapsed: Duration) {
        let Some((_, times)) = self.request_durations.iter().find(|(k, _)| *k == key) else {
            return;
        };
        let times = times.get_or_init(|| RequestTimes {
            histogram: self.requests.get_or_create_owned(&RequestLabel {
                request: format!("{key:?}"),
            }),
            recent: RecentDurations::default(),
        });
        times.histogram.observe(elapsed.as_secs_f64());
        times.recent.observe(elapsed);
    }

    /// Each requested API's name with its `QUANTILES` of the last minute, in ms (APIs with
    /// no request in the last minute are left out).
    pub fn request_quantiles(&self) -> Vec<(String, [f64; QUANTILES.len()])> {
        self.request_durations
            .iter()
            .filter_map(|(key, times)| {
                let quantiles = times.get()?.recent.quantiles()?;
                Some((format!("{key:?}"), quantiles))
            })
            .collect()
    }

    /// One flusher fsync: how long it took and how many records it made durable.
    pub fn observe_fsync(&self, elapsed: Duration, records: i64) {
        self.fsync_duration.observe(elapsed.as_secs_f64());
        if records > 0 {
            self.fsync_records.observe(records as f64);
        }
    }

    /// The open-connections gauge of `listener`, held by each of its connections.
    pub fn connections(&self, listener: &str) -> Gauge {
        self.connections.get_or_create_owned(&ListenerLabel {
            listener: listener.to_string(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encoded(metrics: &BrokerMetrics) -> String {
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, metrics.registry()).expect("encode");
        text
    }

    #[test]
    fn topic_counters_are_encoded_under_kafkas_exporter_names() {
        let metrics = BrokerMetrics::new();
        let orders = metrics.topic("orders");
        orders.messages_in.inc_by(5);
        // A second lookup shares the first one's counter.
        metrics.topic("orders").bytes_in.inc_by(100);
        let text = encoded(&metrics);
        assert!(
            text.contains("kafka_server_brokertopicmetrics_messagesin_total{topic=\"orders\"} 5"),
            "{text}"
        );
        assert!(
            text.contains("kafka_server_brokertopicmetrics_bytesin_total{topic=\"orders\"} 100"),
            "{text}"
        );
        metrics.remove_topic("orders");
        assert!(!encoded(&metrics).contains("topic=\"orders\""));
    }

    #[test]
    fn request_latency_is_recorded_per_api() {
        let metrics = BrokerMetrics::new();
        metrics.observe_request(ApiKey::Produce, Duration::from_millis(3));
        let text = encoded(&metrics);
        assert!(
            text.contains("vltava_request_duration_seconds_count{request=\"Produce\"} 1"),
            "{text}"
        );
        // An API not requested yet prints no series.
        assert!(!text.contains("request=\"Fetch\""));
        let quantiles = metrics.request_quantiles();
        assert_eq!(quantiles.len(), 1);
        assert_eq!(quantiles[0].0, "Produce");
        assert!(quantiles[0].1.iter().all(|ms| *ms > 2.0 && *ms < 3.6));
    }
}
