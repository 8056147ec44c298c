//! A full disk under a running broker (a small tmpfs, so writes fail with ENOSPC).
//!
//! Guards against: acks=all producers left waiting until REQUEST_TIMED_OUT (or a hang) after
//! a failed write, instead of KAFKA_STORAGE_ERROR at once; the broker panicking or retrying
//! the write blindly; and acknowledged records lost or damaged once space is freed and the
//! broker restarted. Needs root to mount the tmpfs: skipped otherwise (CI runs as root).

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use common::{BoxError, TestResult};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::FutureRecord;

const TMPFS_SIZE: &str = "size=8m";
const TMPFS_SIZE_FREED: &str = "size=64m";
const RECORD_BYTES: usize = 64 * 1024;
/// 8 MiB of 64 KiB records fills the disk after ~128; the bound stops a broker that never
/// reports the full disk.
const RECORDS_MAX: usize = 1_000;
const FILLER_BYTES: usize = 1024 * 1024;
/// Records sent at once in each wave.
const IN_FLIGHT: usize = 8;
/// Far below the request timeout: a storage error is answered at once, not timed out.
const ERROR_WITHIN: Duration = Duration::from_secs(10);

/// A tmpfs mounted for the test, unmounted when dropped (also when the test fails).
struct Tmpfs {
    dir: PathBuf,
    _parent: tempfile::TempDir,
}

impl Tmpfs {
    fn mount(options: &str) -> Result<Tmpfs, BoxError> {
        let parent = tempfile::tempdir()?;
        let dir = parent.path().join("disk");
        std::fs::create_dir(&dir)?;
        run(
            "mount",
            &["-t", "tmpfs", "-o", options, "tmpfs", path_str(&dir)?],
        )?;
        Ok(Tmpfs {
            dir,
            _parent: parent,
        })
    }

    fn remount(&self, options: &str) -> TestResult {
        let options = format!("remount,{options}");
        run("mount", &["-o", &options, path_str(&self.dir)?])
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.dir).status();
    }
}

fn path_str(path: &Path) -> Result<&str, BoxError> {
    path.to_str().ok_or_else(|| "non-UTF-8 temp path".into())
}

fn run(program: &str, args: &[&str]) -> TestResult {
    let status = Command::new(program).args(args).status()?;
    if !status.success() {
        return Err(format!("{program} {args:?}: {status}").into());
    }
    Ok(())
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|out| out.stdout.trim_ascii() == b"0")
}

#[tokio::test(flavor = "multi_thread")]
async fn a_full_disk_answers_storage_errors_and_keeps_every_acked_record() -> TestResult {
    if !is_root() {
        eprintln!("skipped: mounting a tmpfs needs root");
        return Ok(());
    }
    let disk = Tmpfs::mount(TMPFS_SIZE)?;
    let data_dir = disk.dir.join("data");
    // Space the test gives back once the disk is full, beside the data.
    let filler = disk.dir.join("filler");
    std::fs::write(&filler, vec![1u8; FILLER_BYTES])?;
    let mut broker = vltava_testkit::start_broker_at(&data_dir, &[])?;
    let topic = "full";
    common::create_topics(broker.bootstrap(), &[(topic, 2)]).await?;
    // No retries: the broker's own answer reaches the test, not librdkafka's timeout.
    let producer = common::producer(
        broker.bootstrap(),
        &[
            ("acks", "all"),
            ("retries", "0"),
            ("enable.idempotence", "false"),
            ("linger.ms", "0"),
            ("request.timeout.ms", "60000"),
            ("message.timeout.ms", "60000"),
        ],
    )?;

    // Waves of records in flight at once to partition 0, so that acks=all answers are
    // waiting for an fsync when a write fails.
    let mut acked: Vec<(i64, Vec<u8>)> = Vec::new();
    let mut refused = 0;
    for wave in 0..RECORDS_MAX / IN_FLIGHT {
        let mut sends = tokio::task::JoinSet::new();
        for n in wave * IN_FLIGHT..(wave + 1) * IN_FLIGHT {
            let producer = producer.clone();
            sends.spawn(async move {
                let value: Vec<u8> = (0..RECORD_BYTES).map(|i| (n + i) as u8).collect();
                let record = FutureRecord::to(topic)
                    .partition(0)
                    .key("k")
                    .payload(&value);
                let sent = Instant::now();
                let result = producer.send(record, Duration::from_secs(0)).await;
                (
                    result.map(|d| d.offset).map_err(|(e, _)| e),
                    sent.elapsed(),
                    value,
                )
            });
        }
        while let Some(joined) = sends.join_next().await {
            let (result, took, value) = joined?;
            match result {
                Ok(offset) => acked.push((offset, value)),
                Err(error) => {
                    assert_eq!(
                        error,
                        KafkaError::MessageProduction(RDKafkaErrorCode::KafkaStorageError),
                        "a full disk is reported as a storage error"
                    );
                    assert!(took < ERROR_WITHIN, "the storage error took {took:?}");
                    refused += 1;
                }
            }
        }
        if refused > 0 {
            break;
        }
    }
    assert!(
        refused > 0,
        "the disk never filled: every record was acknowledged"
    );
    assert!(
        !acked.is_empty(),
        "nothing was acknowledged before the disk filled"
    );
    // The log directory is offline now: with space freed, the other partition still
    // refuses a record, as Kafka does for every partition of an offline log directory.
    std::fs::remove_file(&filler)?;
    let sent = Instant::now();
    let later = producer
        .send(
            FutureRecord::to(topic).partition(1).key("k").payload("x"),
            Duration::from_secs(0),
        )
        .await;
    assert!(
        matches!(
            &later,
            Err((
                KafkaError::MessageProduction(RDKafkaErrorCode::KafkaStorageError),
                _
            ))
        ),
        "{later:?}"
    );
    assert!(sent.elapsed() < ERROR_WITHIN);

    broker.kill9()?;
    disk.remount(TMPFS_SIZE_FREED)?;
    broker.restart()?;
    let read = common::read_all(broker.bootstrap(), topic, 2)?;
    let records = read.get(&0).ok_or("no partition 0")?;
    for (offset, value) in &acked {
        let record = records
            .iter()
            .find(|r| r.offset == *offset)
            .ok_or_else(|| format!("acknowledged offset {offset} lost"))?;
        assert!(
            record.value.as_ref() == Some(value),
            "offset {offset} damaged"
        );
    }
    drop(broker);
    Ok(())
}
