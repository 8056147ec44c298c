//! The leader's ISR check (Kafka's `maybeShrinkIsr` and `maybeExpandIsr`): every tick, each
//! replicated partition led here compares its followers with the ISR, and a difference goes to
//! the controller as AlterPartition. The change counts once an image carries it; until then
//! the partition proposes nothing else, and a refusal lets the next tick try again.

use std::sync::{Arc, Weak};
use std::time::Duration;

use vltava_cluster::controller::isr::AlterPartition;
use vltava_cluster::quorum::active::ControllerRequest;

use crate::broker::{Broker, now_ms};

/// How often the ISR is checked: a follower that caught up joins within this.
pub const ISR_CHECK_INTERVAL: Duration = Duration::from_millis(200);

/// Runs until the broker is dropped.
pub async fn run(broker: Weak<Broker>) {
    let mut tick = tokio::time::interval(ISR_CHECK_INTERVAL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let Some(broker) = broker.upgrade() else {
            return;
        };
        check(&broker);
    }
}

fn check(broker: &Arc<Broker>) {
    let now = now_ms();
    let lag_max_ms = broker.config.replica_lag_time_max_ms;
    for topic in broker.topics.all() {
        for partition in &topic.partitions {
            if !partition.leads_replicas() {
                continue;
            }
            let Some(proposal) = partition.propose_isr_change(now, lag_max_ms) else {
                continue;
            };
            let request = ControllerRequest::AlterPartition(AlterPartition {
                broker_id: broker.node_id(),
                broker_epoch: broker.cluster.broker_epoch(),
                topic_id: topic.id,
                partition_id: partition.index,
                leader_epoch: proposal.leader_epoch,
                partition_epoch: proposal.partition_epoch,
                isr: proposal.isr.clone(),
            });
            let broker = broker.clone();
            let partition = partition.clone();
            let topic = topic.name.clone();
            tokio::spawn(async move {
                match broker.cluster.call(request).await {
                    Ok(_) => {
                        tracing::info!(%topic, partition = partition.index, isr = ?proposal.isr, "ISR changed")
                    }
                    Err(error) => {
                        tracing::info!(%topic, partition = partition.index, isr = ?proposal.isr, %error, "ISR change refused");
                        partition.isr_change_failed();
                    }
                }
            });
        }
    }
}
