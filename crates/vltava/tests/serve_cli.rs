//! `vltava serve` as an operator meets it: options from flags, environment and `vltava.toml`,
//! and a refusal (not corruption) when two brokers are pointed at one data directory.
//!
//! `serve --ephemeral`, as tests in other languages start it: it prints where it listens and
//! leaves no data directory behind.
//!
//! `a_listen_address_in_use_is_reported_as_such` guards against a listener that cannot bind
//! being reported as a data-directory error, without the address or the reason.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use rdkafka::ClientConfig;
use rdkafka::producer::{BaseProducer, Producer};
use vltava_testkit::{START_TIMEOUT, start_broker, vltava_bin};

type TestResult = Result<(), Box<dyn std::error::Error>>;

const METADATA_TIMEOUT: Duration = Duration::from_secs(10);

fn partitions_of(bootstrap: &str, topic: &str) -> Result<usize, Box<dyn std::error::Error>> {
    let producer: BaseProducer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .create()?;
    // Asking for the topic's metadata auto-creates it with the broker's default partition count.
    let metadata = producer
        .client()
        .fetch_metadata(Some(topic), METADATA_TIMEOUT)?;
    let found = metadata
        .topics()
        .iter()
        .find(|t| t.name() == topic)
        .ok_or("topic missing")?;
    Ok(found.partitions().len())
}

#[test]
fn a_second_broker_on_the_same_data_directory_refuses_to_start() -> TestResult {
    let broker = start_broker(&[])?;
    let output = Command::new(vltava_bin())
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(broker.data_dir())
        .stdin(Stdio::null())
        .output()?;
    assert!(!output.status.success(), "second broker started");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("in use by another vltava process"),
        "stderr: {stderr}"
    );
    // The first broker still serves.
    assert_eq!(partitions_of(broker.bootstrap(), "still-serving")?, 1);
    Ok(())
}

#[test]
fn a_listen_address_in_use_is_reported_as_such() -> TestResult {
    let taken = std::net::TcpListener::bind("127.0.0.1:0")?;
    let address = taken.local_addr()?.to_string();
    let dir = tempfile::tempdir()?;
    let output = Command::new(vltava_bin())
        .args(["serve", "--listen", &address, "--data-dir"])
        .arg(dir.path())
        .stdin(Stdio::null())
        .output()?;
    assert!(!output.status.success(), "broker started on a taken port");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains(&address), "stderr: {stderr}");
    assert!(
        stderr.contains("Address already in use"),
        "stderr: {stderr}"
    );
    assert!(!stderr.contains("data directory"), "stderr: {stderr}");
    Ok(())
}

#[test]
fn flags_override_the_config_file() -> TestResult {
    let dir = tempfile::tempdir()?;
    let config = dir.path().join("vltava.toml");
    std::fs::write(&config, "num-partitions = 4\nauto-create-topics = true\n")?;
    let config_arg = config.to_string_lossy().to_string();
    let from_file = start_broker(&["--config", &config_arg])?;
    assert_eq!(partitions_of(from_file.bootstrap(), "from-file")?, 4);
    let overridden = start_broker(&["--config", &config_arg, "--num-partitions", "2"])?;
    assert_eq!(partitions_of(overridden.bootstrap(), "from-flag")?, 2);
    Ok(())
}

#[test]
fn an_unknown_key_in_the_config_file_is_an_error() -> TestResult {
    let dir = tempfile::tempdir()?;
    let config = dir.path().join("vltava.toml");
    std::fs::write(&config, "num-partitoins = 4\n")?;
    let output = Command::new(vltava_bin())
        .args(["serve", "--listen", "127.0.0.1:0", "--config"])
        .arg(&config)
        .arg("--data-dir")
        .arg(dir.path().join("data"))
        .stdin(Stdio::null())
        .output()?;
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("num-partitoins"));
    Ok(())
}

#[test]
fn an_ephemeral_broker_prints_its_bootstrap_and_removes_its_data_on_sigterm() -> TestResult {
    let mut child = Command::new(vltava_bin())
        .args(["serve", "--ephemeral"])
        .env("VLTAVA_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn()?;
    let stdout = child.stdout.take().ok_or("no stdout")?;
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let mut data_dir = None;
    let mut bootstrap = None;
    // The listening line, then the bootstrap line.
    for _ in 0..2 {
        let line = rx.recv_timeout(START_TIMEOUT)?;
        if let Some((_, dir)) = line.split_once(", data in ") {
            data_dir = Some(PathBuf::from(dir));
        }
        bootstrap = line
            .strip_prefix("bootstrap=")
            .map(str::to_string)
            .or(bootstrap);
    }
    let (Some(data_dir), Some(bootstrap)) = (data_dir, bootstrap) else {
        let _ = child.kill();
        return Err("no data directory or bootstrap line".into());
    };
    assert!(bootstrap.starts_with("127.0.0.1:") && !bootstrap.ends_with(":0"));
    assert!(data_dir.exists());
    assert_eq!(partitions_of(&bootstrap, "ephemeral")?, 1, "it serves");
    assert!(
        data_dir.join("ephemeral-0").exists(),
        "its data is in the printed directory"
    );

    let term = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()?;
    assert!(term.success());
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait());
    });
    assert!(rx.recv_timeout(START_TIMEOUT)??.success());
    let temporary = data_dir.parent().ok_or("no parent")?;
    assert!(!temporary.exists(), "{} left behind", temporary.display());
    Ok(())
}

#[test]
fn ephemeral_and_a_data_directory_are_refused_together() -> TestResult {
    let output = Command::new(vltava_bin())
        .args(["serve", "--ephemeral", "--data-dir", "somewhere"])
        .stdin(Stdio::null())
        .output()?;
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("--data-dir"));
    assert!(!std::path::Path::new("somewhere").exists());
    Ok(())
}
