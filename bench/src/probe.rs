//! `probe` and `startup`: readiness measured by the broker answering a Metadata request, sent by
//! hand on a raw socket so that the client library's own start-up and back-off don't count.

use std::fs::OpenOptions;
use std::io::Write;
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::Context;
use kafka_protocol::messages::{ApiKey, MetadataRequest, MetadataResponse};
use vltava_wire::WireError;
use vltava_wire::blocking::read_frame;
use vltava_wire::frame::{self, RequestId};

use crate::cli::{ProbeArgs, StartupArgs};
use crate::report::{StartupReport, StartupRun, median};

const METADATA_VERSION: i16 = 1;
const CLIENT_ID: &str = "vltava-bench";
const RESPONSE_BYTES_MAX: usize = 1024 * 1024;
/// Pause between connection attempts while the broker is not yet listening.
const RETRY_PAUSE: Duration = Duration::from_millis(1);
const IO_TIMEOUT: Duration = Duration::from_secs(5);

/// One Metadata round trip on a new connection; true when it was answered.
fn metadata_answered(addr: SocketAddr) -> bool {
    connect(addr)
        .and_then(|mut stream| metadata_round_trip(&mut stream, 1))
        .unwrap_or(false)
}

/// A connection with the probe's timeouts and no Nagle delay.
pub fn connect(addr: SocketAddr) -> std::io::Result<TcpStream> {
    let stream = TcpStream::connect_timeout(&addr, IO_TIMEOUT)?;
    stream.set_read_timeout(Some(IO_TIMEOUT))?;
    stream.set_nodelay(true)?;
    Ok(stream)
}

/// One Metadata request (v1, no topics) on `stream`; true when the answer carries
/// `correlation_id` and names at least one broker. An I/O error is an error; any other bad
/// answer is `false`.
pub fn metadata_round_trip(stream: &mut TcpStream, correlation_id: i32) -> std::io::Result<bool> {
    let id = RequestId {
        key: ApiKey::Metadata,
        version: METADATA_VERSION,
        correlation_id,
        client_id: CLIENT_ID,
    };
    let request = MetadataRequest::default().with_topics(Some(Vec::new()));
    let Ok(request) = frame::request(id, &request) else {
        return Ok(false);
    };
    stream.write_all(&request)?;
    let answer = match read_frame(stream, RESPONSE_BYTES_MAX) {
        Ok(answer) => answer,
        Err(WireError::Io { source, .. }) => return Err(source),
        Err(_) => return Ok(false),
    };
    let response = frame::decode_response::<MetadataResponse>(
        ApiKey::Metadata,
        METADATA_VERSION,
        correlation_id,
        answer,
    );
    Ok(response.is_ok_and(|r| !r.brokers.is_empty()))
}

pub fn resolve(bootstrap: &str) -> anyhow::Result<SocketAddr> {
    bootstrap
        .to_socket_addrs()
        .with_context(|| format!("resolving {bootstrap}"))?
        .next()
        .with_context(|| format!("no address for {bootstrap}"))
}

/// Polls until a Metadata request is answered; `Ok(false)` if `deadline` passed first.
fn wait_ready(
    addr: SocketAddr,
    deadline: Instant,
    child: Option<&mut Child>,
) -> anyhow::Result<bool> {
    let mut child = child;
    loop {
        if metadata_answered(addr) {
            return Ok(true);
        }
        if let Some(child) = child.as_deref_mut()
            && let Some(status) = child.try_wait()?
        {
            anyhow::bail!("broker exited before answering: {status}");
        }
        if Instant::now() >= deadline {
            return Ok(false);
        }
        std::thread::sleep(RETRY_PAUSE);
    }
}

pub fn run(args: &ProbeArgs) -> anyhow::Result<()> {
    let addr = resolve(&args.bootstrap)?;
    let start = Instant::now();
    let deadline = start + Duration::from_secs(args.timeout_s);
    anyhow::ensure!(
        wait_ready(addr, deadline, None)?,
        "{addr} did not answer Metadata within {} s",
        args.timeout_s
    );
    println!(
        "{addr} ready after {:.1} ms",
        start.elapsed().as_secs_f64() * 1e3
    );
    Ok(())
}

/// VmRSS of `pid` in KiB, from /proc.
pub fn rss_kib(pid: u32, field: &str) -> anyhow::Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    status
        .lines()
        .find_map(|line| {
            line.strip_prefix(field)?
                .trim()
                .strip_suffix("kB")?
                .trim()
                .parse()
                .ok()
        })
        .with_context(|| format!("{field} not in /proc/{pid}/status"))
}

fn spawn(command: &[String], run: u32, log: Option<&std::path::Path>) -> anyhow::Result<Child> {
    let args: Vec<String> = command
        .iter()
        .map(|a| a.replace("{run}", &run.to_string()))
        .collect();
    let (program, rest) = args.split_first().context("empty command")?;
    let (stdout, stderr) = match log {
        Some(path) => {
            let file = OpenOptions::new().create(true).append(true).open(path)?;
            (Stdio::from(file.try_clone()?), Stdio::from(file))
        }
        None => (Stdio::null(), Stdio::null()),
    };
    Command::new(program)
        .args(rest)
        .stdin(Stdio::null())
        .stdout(stdout)
        .stderr(stderr)
        .spawn()
        .with_context(|| format!("spawning {program}"))
}

pub fn startup(args: &StartupArgs) -> anyhow::Result<()> {
    let addr = resolve(&args.bootstrap)?;
    anyhow::ensure!(
        !metadata_answered(addr),
        "something already answers on {addr}"
    );
    let mut runs = Vec::new();
    for run in 1..=args.repeat {
        let start = Instant::now();
        let mut child = spawn(&args.command, run, args.log.as_deref())?;
        let deadline = start + Duration::from_secs(args.timeout_s);
        let ready = wait_ready(addr, deadline, Some(&mut child));
        let ready_ms = start.elapsed().as_secs_f64() * 1e3;
        let measured = ready.and_then(|ready| {
            anyhow::ensure!(ready, "not ready within {} s", args.timeout_s);
            std::thread::sleep(Duration::from_millis(args.idle_ms));
            rss_kib(child.id(), "VmRSS:")
        });
        // SIGKILL: every run uses a fresh data directory, so a clean shutdown buys nothing.
        let _ = child.kill();
        let _ = child.wait();
        runs.push(StartupRun {
            ready_ms,
            idle_rss_kib: measured?,
        });
        // The port must be free again before the next spawn.
        while metadata_answered(addr) {
            std::thread::sleep(Duration::from_millis(10));
        }
    }
    let mut ready: Vec<f64> = runs.iter().map(|r| r.ready_ms).collect();
    let mut rss: Vec<f64> = runs.iter().map(|r| r.idle_rss_kib as f64).collect();
    StartupReport {
        command: args.command.clone(),
        ready_ms_median: median(&mut ready),
        idle_rss_kib_median: median(&mut rss) as u64,
        runs,
    }
    .print(args.json)
}
