//! Gauges computed from the broker's state at each scrape, under the names Kafka's JMX
//! exporter gives Kafka's (ReplicaManager, KafkaController, Log) and kafka-exporter's consumer
//! lag. Nothing here is kept between scrapes: a fresh registry each time.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use std::sync::atomic::AtomicU64;
use vltava_broker::Broker;
use vltava_broker::metrics::QUANTILES;
use vltava_broker::partition::Partition;
use vltava_cluster::records::NO_LEADER;

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PartitionLabel {
    topic: String,
    partition: i32,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct QuantileLabel {
    request: String,
    quantile: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct LagLabel {
    consumergroup: String,
    topic: String,
    partition: i32,
}

/// The ReplicaManager and KafkaController gauges of this broker.
#[derive(Debug, Default)]
struct ReplicaCounts {
    partitions: i64,
    leaders: i64,
    under_replicated: i64,
    under_min_isr: i64,
    offline_replicas: i64,
    offline_partitions: i64,
}

/// Every scrape-time gauge, in a registry of its own.
pub fn collect(broker: &Broker, now_ms: i64) -> Registry {
    let mut registry = Registry::default();
    let log_size = Family::<PartitionLabel, Gauge>::default();
    let log_end_offset = Family::<PartitionLabel, Gauge>::default();
    let mut counts = ReplicaCounts::default();
    let node_id = broker.node_id();
    let active_controller = broker.cluster.controller_id() == Some(node_id);
    for topic in broker.topics.all() {
        for (index, registration) in &topic.image.partitions {
            if active_controller && registration.leader == NO_LEADER {
                counts.offline_partitions += 1;
            }
            let Some(partition) = topic.partition(*index) else {
                continue;
            };
            counts.partitions += 1;
            if partition.is_offline() {
                counts.offline_replicas += 1;
            }
            if registration.leader == node_id {
                counts.leaders += 1;
                if registration.isr.len() < registration.replicas.len() {
                    counts.under_replicated += 1;
                }
                if partition.check_enough_replicas().is_err() {
                    counts.under_min_isr += 1;
                }
            }
            let label = PartitionLabel {
                topic: topic.name.to_string(),
                partition: *index,
            };
            let size = i64::try_from(partition.size_bytes()).unwrap_or(i64::MAX);
            log_size.get_or_create(&label).set(size);
            log_end_offset
                .get_or_create(&label)
                .set(partition.offsets().log_end_offset);
        }
    }
    register_counts(&mut registry, &counts, active_controller);
    registry.register(
        "kafka_log_log_size",
        "Bytes of a partition's log on this broker (Kafka's Log Size).",
        log_size,
    );
    registry.register(
        "kafka_log_log_logendoffset",
        "A partition's log end offset on this broker (Kafka's Log LogEndOffset).",
        log_end_offset,
    );
    register_lag(&mut registry, broker, now_ms);
    register_request_quantiles(&mut registry, broker);
    registry
}

/// Request time quantiles of the last minute per API, in ms, as the JMX exporter's common
/// rule for Kafka's RequestMetrics `<N>thPercentile` attributes names them.
fn register_request_quantiles(registry: &mut Registry, broker: &Broker) {
    let total_time = Family::<QuantileLabel, Gauge<f64, AtomicU64>>::default();
    for (request, quantiles) in broker.metrics.request_quantiles() {
        for ((quantile, _), ms) in QUANTILES.iter().zip(quantiles) {
            let label = QuantileLabel {
                request: request.clone(),
                quantile,
            };
            total_time.get_or_create(&label).set(ms);
        }
    }
    registry.register(
        "kafka_network_requestmetrics_totaltimems",
        "Time from a request's dispatch until its response is ready, in ms, quantiles of the \
         last minute (Kafka's RequestMetrics TotalTimeMs percentiles).",
        total_time,
    );
}

fn gauge(registry: &mut Registry, name: &str, help: &str, value: i64) {
    let gauge = Gauge::<i64>::default();
    gauge.set(value);
    registry.register(name, help, gauge);
}

fn register_counts(registry: &mut Registry, counts: &ReplicaCounts, active_controller: bool) {
    let replica_manager = [
        (
            "partitioncount",
            "Partitions with a replica on this broker.",
            counts.partitions,
        ),
        (
            "leadercount",
            "Partitions this broker leads.",
            counts.leaders,
        ),
        (
            "underreplicatedpartitions",
            "Partitions led here whose ISR is smaller than their replica set.",
            counts.under_replicated,
        ),
        (
            "underminisrpartitioncount",
            "Partitions led here whose ISR is below min.insync.replicas.",
            counts.under_min_isr,
        ),
        (
            "offlinereplicacount",
            "Replicas on this broker in an offline log directory.",
            counts.offline_replicas,
        ),
    ];
    for (name, help, value) in replica_manager {
        gauge(
            registry,
            &format!("kafka_server_replicamanager_{name}"),
            help,
            value,
        );
    }
    gauge(
        registry,
        "kafka_controller_kafkacontroller_activecontrollercount",
        "1 on the active controller (the quorum leader), 0 elsewhere.",
        i64::from(active_controller),
    );
    gauge(
        registry,
        "kafka_controller_kafkacontroller_offlinepartitionscount",
        "Partitions without a leader, as the active controller sees them (0 elsewhere).",
        counts.offline_partitions,
    );
}

/// Consumer lag of every group this broker coordinates, for partitions with a replica here:
/// the high watermark (what a consumer can read up to) minus the committed offset, and the
/// age of the first uncommitted record.
fn register_lag(registry: &mut Registry, broker: &Broker, now_ms: i64) {
    let lag = Family::<LagLabel, Gauge>::default();
    let lag_seconds = Family::<LagLabel, Gauge<f64, AtomicU64>>::default();
    for (group, tp, committed) in broker.groups.committed_offsets() {
        let Some(partition) = broker
            .topics
            .get(&tp.topic)
            .and_then(|t| t.partition(tp.partition).cloned())
        else {
            continue;
        };
        let high_watermark = partition.high_watermark();
        let behind = (high_watermark - committed).max(0);
        let label = LagLabel {
            consumergroup: group.as_str().to_string(),
            topic: tp.topic.clone(),
            partition: tp.partition,
        };
        lag.get_or_create(&label).set(behind);
        let age_ms = match behind {
            0 => 0,
            _ => first_uncommitted_age_ms(&partition, committed, now_ms),
        };
        lag_seconds
            .get_or_create(&label)
            .set(age_ms as f64 / 1000.0);
    }
    registry.register(
        "kafka_consumergroup_lag",
        "Records a group has not committed: high watermark minus committed offset \
         (kafka-exporter's kafka_consumergroup_lag).",
        lag,
    );
    registry.register(
        "kafka_consumergroup_lag_seconds",
        "Age of the first record a group has not committed, from the first timestamp of the \
         batch holding it (0 when caught up).",
        lag_seconds,
    );
}

/// Milliseconds since the first timestamp of the batch holding `offset`; 0 if it cannot be
/// read (below the log start, or an I/O error, which the log directory reports itself).
fn first_uncommitted_age_ms(partition: &Partition, offset: i64, now_ms: i64) -> i64 {
    let Ok(records) = partition
        .read(offset, 1, true)
        .and_then(|fetched| partition.read_bytes(&fetched.records))
    else {
        return 0;
    };
    match vltava_storage::BatchHeader::parse(&records) {
        Ok(header) if header.base_timestamp >= 0 => (now_ms - header.base_timestamp).max(0),
        _ => 0,
    }
}
