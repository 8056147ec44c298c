//! Three controller voters over real TCP on 127.0.0.1-3: a quorum forms, a metadata write
//! reaches every voter, the leader's loss elects another that takes writes, and the stopped
//! voter restarted on its data catches up. Guards the network and listener against losing or
//! misrouting controller RPCs. Prints the propagation and failover times it saw.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use openraft::ServerState;
use tokio::net::TcpListener;
use uuid::Uuid;
use vltava_cluster::controller::brokers::{HeartbeatAnswer, HeartbeatRequest, RegistrationRequest};
use vltava_cluster::controller::topics::NewTopic;
use vltava_cluster::quorum::active::{ControllerAnswer, ControllerRequest};
use vltava_cluster::quorum::client::ControllerClient;
use vltava_cluster::quorum::controller::{Controller, ControllerOptions, QuorumTiming};
use vltava_cluster::quorum::lifecycle::{BrokerIdentity, BrokerLifecycle, BrokerState};
use vltava_cluster::quorum::{MetadataBatch, NodeId};
use vltava_cluster::records::{Endpoint, NO_LEADER};
use vltava_cluster::{MetadataImage, MetadataRecord};
use vltava_storage::RealFs;

const WAIT: Duration = Duration::from_secs(20);

type BoxError = Box<dyn std::error::Error + Send + Sync>;

async fn start(
    id: NodeId,
    listener: TcpListener,
    voters: &BTreeMap<NodeId, String>,
    dir: &std::path::Path,
) -> Result<Controller, BoxError> {
    Ok(Controller::start(ControllerOptions {
        node_id: id,
        listener: Some(listener),
        voters: voters.clone(),
        data_dir: dir,
        fs: Arc::new(RealFs),
        timing: QuorumTiming::default(),
        session_timeout_ms: 2_000,
        leader_balance_interval: None,
    })
    .await?)
}

/// The voter that leads, once one does (bounded wait on the metrics, no sleeps as sync).
async fn leader(controllers: &BTreeMap<NodeId, Controller>) -> Result<NodeId, BoxError> {
    let deadline = Instant::now() + WAIT;
    loop {
        for (id, c) in controllers {
            if c.raft.metrics().borrow().state == ServerState::Leader {
                return Ok(*id);
            }
        }
        if Instant::now() > deadline {
            return Err("no leader elected".into());
        }
        // Wait for any voter's metrics to change rather than polling blindly.
        let mut watches: Vec<_> = controllers.values().map(|c| c.raft.metrics()).collect();
        let changes = watches.iter_mut().map(|w| Box::pin(w.changed()));
        let _ = tokio::time::timeout(Duration::from_millis(200), futures_select(changes)).await;
    }
}

async fn futures_select<F: std::future::Future + Unpin>(futures: impl Iterator<Item = F>) {
    let all: Vec<F> = futures.collect();
    if all.is_empty() {
        return;
    }
    let _ = futures_util::future::select_all(all).await;
}

/// Writes `batch` through whichever voter leads, following leadership changes (bounded).
async fn write(
    controllers: &BTreeMap<NodeId, Controller>,
    batch: MetadataBatch,
) -> Result<NodeId, BoxError> {
    for _ in 0..20 {
        let id = leader(controllers).await?;
        match controllers[&id].raft.client_write(batch.clone()).await {
            Ok(_) => return Ok(id),
            // Leadership moved between the look and the write (elections right after start).
            Err(openraft::error::RaftError::APIError(
                openraft::error::ClientWriteError::ForwardToLeader(_),
            )) => {
                let mut metrics = controllers[&id].raft.metrics();
                let _ = tokio::time::timeout(Duration::from_millis(500), metrics.changed()).await;
            }
            Err(error) => return Err(error.into()),
        }
    }
    Err("no voter accepted the write".into())
}

fn topic(name: &str) -> MetadataBatch {
    MetadataBatch {
        records: vec![MetadataRecord::Topic {
            name: name.into(),
            topic_id: Uuid::new_v4(),
        }],
    }
}

/// Waits until `controller`'s image satisfies `done`.
async fn wait_image(
    controller: &Controller,
    done: impl Fn(&MetadataImage) -> bool,
) -> Result<(), BoxError> {
    let mut images = controller.images();
    tokio::time::timeout(WAIT, images.wait_for(|image| done(image)))
        .await
        .map_err(|_| "image did not get there in time")??;
    Ok(())
}

/// Three voters on 127.0.0.1-3, each on a fresh data directory.
struct Quorum {
    dirs: BTreeMap<NodeId, tempfile::TempDir>,
    voters: BTreeMap<NodeId, String>,
    controllers: BTreeMap<NodeId, Controller>,
}

async fn start_quorum() -> Result<Quorum, BoxError> {
    let dirs: BTreeMap<NodeId, tempfile::TempDir> = [1, 2, 3]
        .into_iter()
        .map(|id| Ok((id, tempfile::tempdir()?)))
        .collect::<Result<_, std::io::Error>>()?;
    let mut listeners = BTreeMap::new();
    let mut voters = BTreeMap::new();
    for id in [1u64, 2, 3] {
        let listener = TcpListener::bind(format!("127.0.0.{id}:0")).await?;
        voters.insert(id, listener.local_addr()?.to_string());
        listeners.insert(id, listener);
    }
    let mut controllers = BTreeMap::new();
    for (id, listener) in listeners {
        controllers.insert(id, start(id, listener, &voters, dirs[&id].path()).await?);
    }
    Ok(Quorum {
        dirs,
        voters,
        controllers,
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quorum_over_tcp_survives_its_leader_and_catches_up_a_restarted_voter()
-> Result<(), BoxError> {
    let Quorum {
        dirs,
        voters,
        mut controllers,
    } = start_quorum().await?;

    let started = Instant::now();
    let first = write(&controllers, topic("orders")).await?;
    for c in controllers.values() {
        wait_image(c, |image| image.topic("orders").is_some()).await?;
    }
    eprintln!(
        "write acknowledged and on every voter in {:?}",
        started.elapsed()
    );

    // The leader stops; the others elect a new one, which takes writes.
    let stopped_at = Instant::now();
    if let Some(old) = controllers.remove(&first) {
        old.shutdown().await;
    }
    let second = write(&controllers, topic("payments")).await?;
    assert_ne!(second, first);
    eprintln!(
        "leader {first} stopped; {second} took a write after {:?}",
        stopped_at.elapsed()
    );

    // The stopped voter comes back on its data and catches up.
    let listener = TcpListener::bind(&voters[&first]).await?;
    let back = start(first, listener, &voters, dirs[&first].path()).await?;
    wait_image(&back, |image| {
        image.topic("orders").is_some() && image.topic("payments").is_some()
    })
    .await?;
    controllers.insert(first, back);
    let images: Vec<Arc<MetadataImage>> = controllers
        .values()
        .map(|c| c.images().borrow().clone())
        .collect();
    let last = images.iter().map(|i| i.offset).max().unwrap_or(-1);
    for c in controllers.values() {
        wait_image(c, |image| image.offset >= last).await?;
    }
    let images: Vec<Arc<MetadataImage>> = controllers
        .values()
        .map(|c| c.images().borrow().clone())
        .collect();
    assert!(
        images.windows(2).all(|w| w[0] == w[1]),
        "voters disagree: {images:?}"
    );
    for (_, c) in controllers {
        c.shutdown().await;
    }
    Ok(())
}

fn broker(id: i32) -> RegistrationRequest {
    RegistrationRequest {
        broker_id: id,
        incarnation_id: Uuid::new_v4(),
        endpoints: vec![Endpoint {
            name: "PLAINTEXT".into(),
            host: format!("127.0.0.{id}"),
            port: 9092,
        }],
        rack: None,
        log_dirs: vec![Uuid::from_u128(id as u128)],
    }
}

async fn heartbeat_until_unfenced(
    client: &ControllerClient,
    images: &tokio::sync::watch::Receiver<Arc<MetadataImage>>,
    id: i32,
    epoch: i64,
) -> Result<(), BoxError> {
    for _ in 0..50 {
        let offset = images.borrow().offset;
        let answer = client
            .call(ControllerRequest::BrokerHeartbeat(HeartbeatRequest {
                broker_id: id,
                broker_epoch: epoch,
                metadata_offset: offset,
                want_fence: false,
                want_shutdown: false,
            }))
            .await?;
        if answer
            == ControllerAnswer::Heartbeat(HeartbeatAnswer {
                is_caught_up: true,
                is_fenced: false,
                should_shutdown: false,
            })
        {
            return Ok(());
        }
        let mut images = images.clone();
        let _ = tokio::time::timeout(Duration::from_millis(200), images.changed()).await;
    }
    Err(format!("broker {id} never unfenced").into())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn brokers_register_through_any_voter_and_a_silent_broker_is_fenced() -> Result<(), BoxError>
{
    let Quorum {
        dirs: _dirs,
        voters,
        controllers,
    } = start_quorum().await?;
    // A broker that is not a voter reaches the controller through the voters' listeners.
    let outside = ControllerClient {
        voters: voters.clone(),
        local: None,
    };
    let images = controllers[&1].images();
    let mut epochs = BTreeMap::new();
    for id in [1, 2, 3] {
        let client = if id == 3 {
            &outside
        } else {
            &controllers[&(id as u64)].client
        };
        let ControllerAnswer::Registered { broker_epoch } = client
            .call(ControllerRequest::RegisterBroker(broker(id)))
            .await?
        else {
            return Err("registration answered something else".into());
        };
        epochs.insert(id, broker_epoch);
    }
    for (id, epoch) in &epochs {
        heartbeat_until_unfenced(&outside, &images, *id, *epoch).await?;
    }
    let created = outside
        .call(ControllerRequest::CreateTopic(NewTopic {
            name: "orders".into(),
            topic_id: Uuid::new_v4(),
            partitions: 6,
            replication_factor: 1,
            configs: BTreeMap::new(),
            assignments: Vec::new(),
        }))
        .await?;
    assert!(matches!(created, ControllerAnswer::Committed { offset } if offset > 0));
    wait_image(&controllers[&1], |image| {
        image
            .topic("orders")
            .is_some_and(|t| t.partitions.len() == 6)
    })
    .await?;

    // Brokers 1 and 2 keep heartbeating; broker 3 goes silent and is fenced after its session.
    let silent_since = Instant::now();
    let fenced = async {
        loop {
            for id in [1, 2] {
                outside
                    .call(ControllerRequest::BrokerHeartbeat(HeartbeatRequest {
                        broker_id: id,
                        broker_epoch: epochs[&id],
                        metadata_offset: images.borrow().offset,
                        want_fence: false,
                        want_shutdown: false,
                    }))
                    .await?;
            }
            if images.borrow().brokers.get(&3).is_some_and(|b| b.fenced) {
                return Ok::<(), BoxError>(());
            }
            let mut watch = images.clone();
            let _ = tokio::time::timeout(Duration::from_millis(300), watch.changed()).await;
        }
    };
    tokio::time::timeout(WAIT, fenced)
        .await
        .map_err(|_| "broker 3 never fenced")??;
    eprintln!(
        "silent broker fenced after {:?} (session 2 s)",
        silent_since.elapsed()
    );
    let image = images.borrow().clone();
    for p in image.topic("orders").ok_or("orders")?.partitions.values() {
        let expected = if p.replicas == vec![3] {
            NO_LEADER
        } else {
            p.replicas[0]
        };
        assert_eq!(p.leader, expected, "{p:?}");
    }
    assert!(!image.brokers[&1].fenced && !image.brokers[&2].fenced);
    for (_, c) in controllers {
        c.shutdown().await;
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broker_in_controlled_shutdown_hands_over_its_leaderships_before_it_stops()
-> Result<(), BoxError> {
    let Quorum {
        dirs: _dirs,
        voters,
        controllers,
    } = start_quorum().await?;
    let mut states = BTreeMap::new();
    let mut stops = BTreeMap::new();
    let mut tasks = Vec::new();
    for id in [1, 2, 3] {
        let identity = BrokerIdentity {
            broker_id: id,
            endpoints: broker(id).endpoints,
            rack: None,
            log_dirs: vec![Uuid::from_u128(id as u128)],
            heartbeat_interval_ms: 200,
        };
        let client = ControllerClient {
            voters: voters.clone(),
            local: None,
        };
        let images = controllers[&(id as u64)].images();
        let (lifecycle, state) = BrokerLifecycle::new(identity, client, images);
        let epoch = lifecycle.register().await?;
        let (stop, stopped) = tokio::sync::watch::channel(false);
        tasks.push(tokio::spawn(
            async move { lifecycle.run(epoch, stopped).await },
        ));
        states.insert(id, state);
        stops.insert(id, stop);
    }
    for state in states.values_mut() {
        tokio::time::timeout(
            WAIT,
            state.wait_for(|s| matches!(s, BrokerState::Running { .. })),
        )
        .await
        .map_err(|_| "a broker was never unfenced")??;
    }
    let client = &controllers[&1].client;
    client
        .call(ControllerRequest::CreateTopic(NewTopic {
            name: "orders".into(),
            topic_id: Uuid::new_v4(),
            partitions: 6,
            replication_factor: 3,
            configs: BTreeMap::new(),
            assignments: Vec::new(),
        }))
        .await?;
    wait_image(&controllers[&1], |image| image.topic("orders").is_some()).await?;
    let images = controllers[&1].images();
    let leads = |image: &MetadataImage, broker: i32| {
        image.topic("orders").map_or(0, |t| {
            t.partitions.values().filter(|p| p.leader == broker).count()
        })
    };
    assert_eq!(
        leads(&images.borrow(), 2),
        2,
        "placement gives broker 2 two leaderships"
    );

    stops[&2].send_replace(true);
    let mut state = states[&2].clone();
    tokio::time::timeout(WAIT, state.wait_for(|s| *s == BrokerState::ShutDown))
        .await
        .map_err(|_| "broker 2 never shut down")??;
    // By the time it may stop, every partition is led by another broker (as voter 1 sees
    // once it has applied what the active controller committed).
    let committed = controllers
        .values()
        .map(|c| c.images().borrow().offset)
        .max()
        .unwrap_or(-1);
    wait_image(&controllers[&1], |image| image.offset >= committed).await?;
    let image = images.borrow().clone();
    assert_eq!(leads(&image, 2), 0);
    for p in image.topic("orders").ok_or("orders")?.partitions.values() {
        assert!(p.leader == 1 || p.leader == 3, "{p:?}");
        assert!(!p.isr.contains(&2));
    }
    for stop in stops.values() {
        stop.send_replace(true);
    }
    for task in tasks {
        task.await??;
    }
    for (_, c) in controllers {
        c.shutdown().await;
    }
    Ok(())
}
