//! `probe` and `startup`: readiness measured by the broker answering a Metadata request, sent by
//! hand on a raw socket so that the client library's own start-up and back-off don't count.

use std::fs::OpenOptions;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::Context;

use crate::cli::{ProbeArgs, StartupArgs};
use crate::report::{StartupReport, StartupRun, median};

const API_KEY_METADATA: i16 = 3;
const METADATA_VERSION: i16 = 1;
const CLIENT_ID: &[u8] = b"vltava-bench";
const RESPONSE_BYTES_MAX: usize = 1024 * 1024;
/// Pause between connection attempts while the broker is not yet listening.
const RETRY_PAUSE: Duration = Duration::from_millis(1);
const IO_TIMEOUT: Duration = Duration::from_secs(5);

/// Metadata v1 for no topics: header v1 (api key, version, correlation id, client id), then an
/// empty topic array.
fn metadata_request(correlation_id: i32) -> Vec<u8> {
    let mut body = Vec::with_capacity(32);
    body.extend_from_slice(&API_KEY_METADATA.to_be_bytes());
    body.extend_from_slice(&METADATA_VERSION.to_be_bytes());
    body.extend_from_slice(&correlation_id.to_be_bytes());
    body.extend_from_slice(&(CLIENT_ID.len() as i16).to_be_bytes());
    body.extend_from_slice(CLIENT_ID);
    body.extend_from_slice(&0i32.to_be_bytes());
    let mut frame = (body.len() as i32).to_be_bytes().to_vec();
    frame.extend_from_slice(&body);
    frame
}

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

/// One Metadata request on `stream`; true when the answer carries `correlation_id` and
/// names at least one broker.
pub fn metadata_round_trip(stream: &mut TcpStream, correlation_id: i32) -> std::io::Result<bool> {
    stream.write_all(&metadata_request(correlation_id))?;
    let mut size = [0u8; 4];
    stream.read_exact(&mut size)?;
    let size = i32::from_be_bytes(size);
    let size = usize::try_from(size).unwrap_or(0);
    if !(8..=RESPONSE_BYTES_MAX).contains(&size) {
        return Ok(false);
    }
    let mut frame = vec![0u8; size];
    stream.read_exact(&mut frame)?;
    let answered_id = i32::from_be_bytes([frame[0], frame[1], frame[2], frame[3]]);
    let brokers = i32::from_be_bytes([frame[4], frame[5], frame[6], frame[7]]);
    Ok(answered_id == correlation_id && brokers >= 1)
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
