//! Starts a real `vltava` broker process on a free port, for integration tests.
//!
//! One helper for every Rust test: tests never copy it. The broker is killed on drop.

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
    data_dir: PathBuf,
    extra_args: Vec<String>,
    _tmp: Option<tempfile::TempDir>,
}

/// The path of the `vltava` binary under test: `VLTAVA_BIN`, else next to the test binary.
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
    path.join("vltava")
}

/// Starts a broker with a fresh data directory and `args` added to `vltava serve`.
pub fn start_broker(args: &[&str]) -> std::io::Result<Broker> {
    let tmp = tempfile::tempdir()?;
    let data_dir = tmp.path().join("data");
    let extra_args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    let (child, bootstrap) = spawn(&data_dir, &extra_args)?;
    Ok(Broker {
        child,
        bootstrap,
        data_dir,
        extra_args,
        _tmp: Some(tmp),
    })
}

/// Starts a broker on `data_dir`, which the caller owns (e.g. on a filesystem it mounted).
pub fn start_broker_at(data_dir: &Path, args: &[&str]) -> std::io::Result<Broker> {
    let extra_args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    let (child, bootstrap) = spawn(data_dir, &extra_args)?;
    Ok(Broker {
        child,
        bootstrap,
        data_dir: data_dir.to_path_buf(),
        extra_args,
        _tmp: None,
    })
}

fn spawn(data_dir: &Path, extra_args: &[String]) -> std::io::Result<(Child, String)> {
    let (child, listening) = launch(data_dir, extra_args)?;
    wait_listening(child, listening)
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
        // Keep draining so the broker never blocks on a full pipe.
        for _ in lines {}
    });
    Ok((child, rx))
}

/// Waits for the listening line; the address in it.
fn wait_listening(
    mut child: Child,
    listening: mpsc::Receiver<String>,
) -> std::io::Result<(Child, String)> {
    let line = match listening.recv_timeout(START_TIMEOUT) {
        Ok(line) => line,
        Err(_) => {
            let _ = child.kill();
            let _ = child.wait();
            return Err(std::io::Error::other(
                "vltava did not print its listening line",
            ));
        }
    };
    let address = line
        .split_whitespace()
        .skip_while(|w| *w != "on")
        .nth(1)
        .ok_or_else(|| std::io::Error::other(format!("unexpected first line: {line}")))?
        .to_string();
    Ok((child, address))
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
        let (child, bootstrap) = wait_listening(child, listening)?;
        nodes.push(Broker {
            child,
            bootstrap,
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
        let (child, bootstrap) = spawn(&self.data_dir, &self.extra_args)?;
        self.child = child;
        self.bootstrap = bootstrap;
        Ok(())
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
