//! Starts a real `vltava` broker process on a free port, for integration tests: vltava's own,
//! and those of services that talk to Kafka (a dev-dependency on this crate, `vltava` on the
//! PATH or named by `VLTAVA_BIN`).
//!
//! ```no_run
//! let broker = vltava_testkit::start_broker(&[])?;
//! let bootstrap = broker.bootstrap(); // "127.0.0.1:PORT": give it to the client under test
//! # Ok::<(), std::io::Error>(())
//! ```
//!
//! One helper for every Rust test: tests never copy it. The broker is killed on drop, and its
//! data directory removed.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// How long a broker may take to print its listening line.
pub const START_TIMEOUT: Duration = Duration::from_secs(30);

/// A running broker process and its data directory.
#[derive(Debug)]
pub struct Broker {
    child: Child,
    bootstrap: String,
    /// The admin HTTP listener's `host:port`, unless `--http-listen off` was passed.
    http: Option<String>,
    data_dir: PathBuf,
    extra_args: Vec<String>,
    _tmp: Option<tempfile::TempDir>,
}

/// The path of the `vltava` binary under test: `VLTAVA_BIN`, else the one built next to the
/// test binary (in vltava's own workspace), else `vltava` on the PATH (another project's tests).
pub fn vltava_bin() -> PathBuf {
    if let Some(path) = std::env::var_os("VLTAVA_BIN") {
        return PathBuf::from(path);
    }
    // target/<profile>/deps/<test> → target/<profile>/vltava
    let mut path = std::env::current_exe().unwrap_or_default();
    path.pop();
    if path.ends_with("deps") {
        path.pop();
    }
    let built = path.join("vltava");
    if built.exists() {
        built
    } else {
        PathBuf::from("vltava")
    }
}

/// Starts a broker with a fresh data directory and `args` added to `vltava serve`.
pub fn start_broker(args: &[&str]) -> std::io::Result<Broker> {
    let tmp = tempfile::tempdir()?;
    let data_dir = tmp.path().join("data");
    let extra_args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    let (child, Started { bootstrap, http }) = spawn(&data_dir, &extra_args)?;
    Ok(Broker {
        child,
        bootstrap,
        http,
        data_dir,
        extra_args,
        _tmp: Some(tmp),
    })
}

/// Starts a broker on `data_dir`, which the caller owns (e.g. on a filesystem it mounted).
pub fn start_broker_at(data_dir: &Path, args: &[&str]) -> std::io::Result<Broker> {
    let extra_args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    let (child, Started { bootstrap, http }) = spawn(data_dir, &extra_args)?;
    Ok(Broker {
        child,
        bootstrap,
        http,
        data_dir: data_dir.to_path_buf(),
        extra_args,
        _tmp: None,
    })
}

/// Where a started broker listens.
struct Started {
    bootstrap: String,
    http: Option<String>,
}

/// The line `vltava serve` prints with its admin HTTP listener's address.
const HTTP_LINE: &str = "http listening on ";

fn spawn(data_dir: &Path, extra_args: &[String]) -> std::io::Result<(Child, Started)> {
    let (child, listening) = launch(data_dir, extra_args)?;
    wait_listening(child, listening, wants_http(extra_args))
}

/// Unless `--http-listen off` is passed, the broker prints its HTTP address.
fn wants_http(extra_args: &[String]) -> bool {
    !extra_args
        .windows(2)
        .any(|w| w[0] == "--http-listen" && w[1].eq_ignore_ascii_case("off"))
}

/// Starts `vltava serve` (listening on 127.0.0.1:0 unless `extra_args` say where: `--listen`
/// or `--listeners`, whose first listener is then the bootstrap) without
/// waiting for it: a node of a cluster only listens once a quorum of voters runs.
fn launch(
    data_dir: &Path,
    extra_args: &[String],
) -> std::io::Result<(Child, mpsc::Receiver<String>)> {
    let mut command = Command::new(vltava_bin());
    command.arg("serve").arg("--data-dir").arg(data_dir);
    if !extra_args
        .iter()
        .any(|a| a == "--listen" || a == "--listeners")
    {
        command.arg("--listen").arg("127.0.0.1:0");
    }
    // Never the default port: tests run many brokers at once.
    if !extra_args.iter().any(|a| a == "--http-listen") {
        command.arg("--http-listen").arg("127.0.0.1:0");
    }
    let mut child = command
        .args(extra_args)
        .env(
            "VLTAVA_LOG",
            std::env::var("VLTAVA_LOG").unwrap_or_else(|_| "warn,openraft=off".into()),
        )
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()?;
    let stdout = child
        .stdout
        .take()
        .ok_or_else(|| std::io::Error::other("no stdout"))?;
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut lines = BufReader::new(stdout).lines();
        if let Some(Ok(line)) = lines.next() {
            let _ = tx.send(line);
        }
        // The HTTP line, then keep draining so the broker never blocks on a full pipe.
        for line in lines.map_while(Result::ok) {
            if line.starts_with(HTTP_LINE) {
                let _ = tx.send(line);
            }
        }
    });
    Ok((child, rx))
}

/// Waits for the listening line (and the HTTP line if `http`); the addresses in them.
fn wait_listening(
    mut child: Child,
    listening: mpsc::Receiver<String>,
    http: bool,
) -> std::io::Result<(Child, Started)> {
    let deadline = std::time::Instant::now() + START_TIMEOUT;
    let next_line = |what: &str| {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        listening
            .recv_timeout(left)
            .map_err(|_| std::io::Error::other(format!("vltava did not print its {what} line")))
    };
    let lines = next_line("listening").and_then(|first| {
        let http_line = match http {
            true => Some(next_line("http listening")?),
            false => None,
        };
        Ok((first, http_line))
    });
    let (line, http_line) = match lines {
        Ok(lines) => lines,
        Err(error) => {
            let _ = child.kill();
            let _ = child.wait();
            return Err(error);
        }
    };
    let address = line
        .split_whitespace()
        .skip_while(|w| *w != "on")
        .nth(1)
        .ok_or_else(|| std::io::Error::other(format!("unexpected first line: {line}")))?
        .to_string();
    let http = http_line.map(|l| l.trim_start_matches(HTTP_LINE).trim().to_string());
    Ok((
        child,
        Started {
            bootstrap: address,
            http,
        },
    ))
}

/// A cluster of real `vltava` processes, node `n` on 127.0.0.`n`, every node a controller
/// quorum voter (Kafka's combined mode). Killed on drop.
#[derive(Debug)]
pub struct Cluster {
    /// Node `i + 1` is `nodes[i]`.
    pub nodes: Vec<Broker>,
    _tmp: tempfile::TempDir,
}

/// Starts `size` nodes with `args` added to each `vltava serve` (`{node}` in an argument
/// becomes the node's id, as in `--rack rack-{node}`), and waits until every one listens (each
/// has been unfenced by the quorum).
pub fn start_cluster(size: usize, args: &[&str]) -> std::io::Result<Cluster> {
    start_cluster_with_observers(size, 0, args)
}

/// `voters` nodes that are controller quorum voters, then `observers` broker-only nodes
/// (ids and addresses following theirs) that follow the metadata log without voting.
pub fn start_cluster_with_observers(
    voters: usize,
    observers: usize,
    args: &[&str],
) -> std::io::Result<Cluster> {
    let tmp = tempfile::tempdir()?;
    let size = voters + observers;
    let hosts: Vec<String> = (1..=size).map(|n| format!("127.0.0.{n}")).collect();
    let controller_ports = hosts
        .iter()
        .map(|host| free_port(host))
        .collect::<std::io::Result<Vec<u16>>>()?;
    let voters = hosts
        .iter()
        .zip(&controller_ports)
        .take(voters)
        .enumerate()
        .map(|(i, (host, port))| format!("{}@{host}:{port}", i + 1))
        .collect::<Vec<_>>()
        .join(",");
    let mut launched = Vec::new();
    for (i, (host, port)) in hosts.iter().zip(&controller_ports).enumerate() {
        let data_dir = tmp.path().join(format!("node-{}", i + 1));
        let mut extra_args: Vec<String> = [
            "--node-id",
            &(i + 1).to_string(),
            "--listen",
            &format!("{host}:0"),
            "--controller-listen",
            &format!("{host}:{port}"),
            "--controller-quorum-voters",
            &voters,
            "--http-listen",
            &format!("{host}:0"),
        ]
        .iter()
        .map(|a| a.to_string())
        .collect();
        let node_id = (i + 1).to_string();
        extra_args.extend(args.iter().map(|a| a.replace("{node}", &node_id)));
        let (child, listening) = launch(&data_dir, &extra_args)?;
        launched.push((child, listening, data_dir, extra_args));
    }
    let mut nodes = Vec::new();
    for (child, listening, data_dir, extra_args) in launched {
        let (child, Started { bootstrap, http }) =
            wait_listening(child, listening, wants_http(&extra_args))?;
        nodes.push(Broker {
            child,
            bootstrap,
            http,
            data_dir,
            extra_args,
            _tmp: None,
        });
    }
    Ok(Cluster { nodes, _tmp: tmp })
}

/// A port free on `host` just now (the OS picks it; it is released for the node to bind).
fn free_port(host: &str) -> std::io::Result<u16> {
    let listener = std::net::TcpListener::bind((host, 0))?;
    Ok(listener.local_addr()?.port())
}

impl Cluster {
    /// Node `id` (1-based, as node ids are).
    pub fn node(&mut self, id: i32) -> &mut Broker {
        &mut self.nodes[usize::try_from(id - 1).unwrap_or(usize::MAX)]
    }

    /// Every node's `host:port`, comma-separated, for bootstrap.servers.
    pub fn bootstrap(&self) -> String {
        self.nodes
            .iter()
            .map(|n| n.bootstrap.as_str())
            .collect::<Vec<_>>()
            .join(",")
    }
}

impl Broker {
    /// `host:port` for a client's bootstrap.servers.
    pub fn bootstrap(&self) -> &str {
        &self.bootstrap
    }

    /// The admin HTTP listener's `host:port` (/metrics, /health, /ready).
    pub fn http(&self) -> Option<&str> {
        self.http.as_deref()
    }

    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// The broker's process id (to read its memory from `/proc`).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// SIGKILL: no flush, no clean shutdown, as a crash would.
    pub fn kill9(&mut self) -> std::io::Result<()> {
        self.child.kill()?;
        self.child.wait()?;
        Ok(())
    }

    /// SIGTERM and wait for the clean shutdown to finish.
    pub fn terminate(&mut self) -> std::io::Result<()> {
        let status = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status()?;
        if !status.success() {
            return Err(std::io::Error::other("kill -TERM failed"));
        }
        self.child.wait()?;
        Ok(())
    }

    /// Starts the broker again on the same data directory (a new port).
    pub fn restart(&mut self) -> std::io::Result<()> {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let (child, Started { bootstrap, http }) = spawn(&self.data_dir, &self.extra_args)?;
        self.child = child;
        self.bootstrap = bootstrap;
        self.http = http;
        Ok(())
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// How long one HTTP exchange with the admin listener may take.
pub const HTTP_TIMEOUT: Duration = Duration::from_secs(10);

/// `GET path` on the admin listener at `address` (HTTP/1.1, one request a connection): the
/// status code and the body.
pub fn http_get(address: &str, path: &str) -> std::io::Result<(u16, String)> {
    use std::io::{Read, Write};
    let socket_address = address
        .parse::<std::net::SocketAddr>()
        .map_err(std::io::Error::other)?;
    let mut stream = std::net::TcpStream::connect_timeout(&socket_address, HTTP_TIMEOUT)?;
    stream.set_read_timeout(Some(HTTP_TIMEOUT))?;
    stream.set_write_timeout(Some(HTTP_TIMEOUT))?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n"
    )?;
    let mut response = String::new();
    stream.read_to_string(&mut response)?;
    let (head, body) = response
        .split_once("\r\n\r\n")
        .ok_or_else(|| std::io::Error::other(format!("no HTTP header end in {response:?}")))?;
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .ok_or_else(|| std::io::Error::other(format!("no HTTP status in {head:?}")))?;
    let chunked = head.lines().any(|l| {
        l.to_ascii_lowercase()
            .starts_with("transfer-encoding: chunked")
    });
    let body = match chunked {
        true => dechunk(body)?,
        false => body.to_string(),
    };
    Ok((status, body))
}

/// The body of a `Transfer-Encoding: chunked` response.
fn dechunk(mut chunked: &str) -> std::io::Result<String> {
    let mut body = String::new();
    // Bounded: each pass consumes at least the size line.
    loop {
        let (size, rest) = chunked
            .split_once("\r\n")
            .ok_or_else(|| std::io::Error::other("truncated chunk size"))?;
        let size = usize::from_str_radix(size.trim(), 16).map_err(std::io::Error::other)?;
        if size == 0 {
            return Ok(body);
        }
        let chunk = rest
            .get(..size)
            .ok_or_else(|| std::io::Error::other("truncated chunk"))?;
        body.push_str(chunk);
        chunked = rest.get(size + 2..).unwrap_or_default();
    }
}
