//! A private NATS cluster for one test: three `nats-server` nodes on
//! loopback, joined by routes, each with JetStream (its own store
//! directory) and an MQTT listener. NATS keeps MQTT sessions, queued
//! messages and retained messages in JetStream streams replicated to every
//! node, so a client can move to any node and find its session there.
//!
//! What NATS needs for this (checked against nats-server 2.9):
//! - MQTT needs JetStream, and JetStream in a cluster needs a
//!   `server_name` per node and a `cluster { name }`;
//! - `mqtt { stream_replicas: 3 }`, so every MQTT stream (sessions, queued
//!   and retained messages) has a copy on each node and the death of one
//!   loses nothing: the failover this test relies on does not then hang
//!   on a default;
//! - every node needs its own `mqtt` listener (a node without one does
//!   not serve MQTT clients, though it still stores their streams).

use std::fs;
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use super::broker::{free_port, locate_executable};

/// The panic message when no `nats-server` binary can be found.
pub const NATS_MISSING: &str = "nats-server is not installed: install it with `apt-get install -y nats-server` (Debian/Ubuntu) or `brew install nats-server`; the cluster tests need a real NATS cluster";

/// Environment variable that overrides the binary name or path.
pub const NATS_ENV: &str = "SOTTO_TEST_NATS_SERVER";

/// How long the cluster gets to come up (routes, a JetStream leader).
const READY_TIMEOUT: Duration = Duration::from_secs(20);

/// Finds the nats-server binary (`$SOTTO_TEST_NATS_SERVER`, `PATH`, sbin).
/// The error starts with [`NATS_MISSING`].
pub fn locate_nats_server() -> Result<PathBuf, String> {
    let binary = std::env::var(NATS_ENV).unwrap_or_else(|_| "nats-server".to_owned());
    locate_executable(&binary, NATS_MISSING)
}

/// One node of the cluster.
pub struct NatsNode {
    name: String,
    mqtt_port: u16,
    client_port: u16,
    route_port: u16,
    config: PathBuf,
    log: PathBuf,
    child: Option<Child>,
    launches: usize,
}

impl NatsNode {
    /// `mqtt://127.0.0.1:PORT` of its MQTT listener.
    pub fn url(&self) -> String {
        format!("mqtt://127.0.0.1:{}", self.mqtt_port)
    }

    /// Its server name (`n1`, `n2`, ...).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Its log so far (all launches).
    pub fn log(&self) -> String {
        fs::read(&self.log)
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_default()
    }

    fn mqtt_addr(&self) -> SocketAddr {
        SocketAddr::from((Ipv4Addr::LOCALHOST, self.mqtt_port))
    }

    fn launch(&mut self, binary: &Path) {
        let out = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .expect("open the nats-server log");
        let err = out.try_clone().expect("clone the log file handle");
        let child = Command::new(binary)
            .arg("-c")
            .arg(&self.config)
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", binary.display()));
        self.child = Some(child);
        self.launches += 1;
    }

    /// Whether this launch has said it is ready and its MQTT port answers.
    /// `Err` with the log when the process has exited.
    fn ready(&mut self) -> Result<bool, String> {
        if let Some(child) = self.child.as_mut()
            && let Ok(Some(status)) = child.try_wait()
        {
            return Err(format!(
                "nats-server {} exited ({status}); log:\n{}",
                self.name,
                self.log()
            ));
        }
        let log = self.log();
        let launched = log.matches("Server is ready").count() >= self.launches;
        Ok(launched
            && TcpStream::connect_timeout(&self.mqtt_addr(), Duration::from_millis(200)).is_ok())
    }

    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// A running three-node cluster. Killed on drop, its directory removed.
pub struct NatsCluster {
    binary: PathBuf,
    dir: tempfile::TempDir,
    nodes: Vec<NatsNode>,
}

impl NatsCluster {
    /// Starts three nodes and waits until they are routed together and
    /// JetStream has a leader. Panics with [`NATS_MISSING`] when there is
    /// no nats-server.
    pub fn start() -> Self {
        let binary = locate_nats_server().unwrap_or_else(|msg| panic!("{msg}"));
        let mut last = String::new();
        // A port picked free can be taken before the node binds it.
        for _ in 0..5 {
            let mut cluster = Self::configure(binary.clone());
            match cluster.launch_all() {
                Ok(()) => return cluster,
                Err(log) if log.contains("address already in use") => last = log,
                Err(log) => panic!("the NATS cluster did not come up: {log}"),
            }
        }
        panic!("the NATS cluster could not bind free ports in 5 attempts; last:\n{last}");
    }

    fn configure(binary: PathBuf) -> Self {
        let dir = tempfile::Builder::new()
            .prefix("sotto-nats-")
            .tempdir()
            .expect("create the cluster's temp dir");
        let mut nodes: Vec<NatsNode> = (1..=3)
            .map(|i| NatsNode {
                name: format!("n{i}"),
                mqtt_port: free_port(),
                client_port: free_port(),
                route_port: free_port(),
                config: dir.path().join(format!("n{i}.conf")),
                log: dir.path().join(format!("n{i}.log")),
                child: None,
                launches: 0,
            })
            .collect();
        let routes: Vec<(String, String)> = nodes
            .iter()
            .map(|n| {
                let route = format!("nats-route://127.0.0.1:{}", n.route_port);
                (n.name.clone(), route)
            })
            .collect();
        for node in &mut nodes {
            let others: Vec<&str> = routes
                .iter()
                .filter(|(name, _)| *name != node.name)
                .map(|(_, route)| route.as_str())
                .collect();
            let store = dir.path().join(format!("{}-store", node.name));
            let config = format!(
                "# generated by tests/common/nats.rs\n\
                 server_name: {name}\n\
                 listen: 127.0.0.1:{client}\n\
                 jetstream {{\n  store_dir: \"{store}\"\n  max_memory_store: 64MB\n  max_file_store: 256MB\n}}\n\
                 cluster {{\n  name: sotto-test\n  listen: 127.0.0.1:{route}\n  routes: [{routes}]\n}}\n\
                 mqtt {{\n  listen: 127.0.0.1:{mqtt}\n  stream_replicas: 3\n}}\n",
                name = node.name,
                client = node.client_port,
                store = store.display(),
                route = node.route_port,
                routes = others.join(", "),
                mqtt = node.mqtt_port,
            );
            fs::write(&node.config, config).expect("write a nats-server config");
        }
        Self { binary, dir, nodes }
    }

    fn launch_all(&mut self) -> Result<(), String> {
        for node in &mut self.nodes {
            node.launch(&self.binary);
        }
        self.wait_ready()
    }

    fn wait_ready(&mut self) -> Result<(), String> {
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            let mut all = true;
            for node in self.nodes.iter_mut().filter(|n| n.child.is_some()) {
                all &= node.ready()?;
            }
            // MQTT clients are served only once JetStream has a leader.
            let leader = self.nodes.iter().any(|n| {
                n.log()
                    .lines()
                    .rev()
                    .any(|l| l.contains("JetStream cluster new metadata leader"))
            });
            if all && leader {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(format!(
                    "not ready within {READY_TIMEOUT:?}; logs:\n{}",
                    self.logs()
                ));
            }
            thread::sleep(Duration::from_millis(20));
        }
    }

    /// The node at `index` (0, 1 or 2).
    pub fn node(&self, index: usize) -> &NatsNode {
        &self.nodes[index]
    }

    /// A `--broker` list starting with node `first` and going on with the
    /// others in order, wrapping around.
    pub fn broker_list(&self, first: usize) -> String {
        (0..self.nodes.len())
            .map(|i| self.nodes[(first + i) % self.nodes.len()].url())
            .collect::<Vec<_>>()
            .join(",")
    }

    /// Crashes node `index` (SIGKILL): its clients lose their connection
    /// without a word. The other two keep a JetStream quorum.
    pub fn kill(&mut self, index: usize) {
        self.nodes[index].kill();
    }

    /// Starts a killed node again with its store, and waits until it is
    /// ready.
    pub fn start_again(&mut self, index: usize) {
        assert!(
            self.nodes[index].child.is_none(),
            "start_again() on a running node"
        );
        let binary = self.binary.clone();
        self.nodes[index].launch(&binary);
        if let Err(log) = self.wait_ready() {
            panic!("node {index} did not come back: {log}");
        }
    }

    /// The last lines of every node's log.
    pub fn logs(&self) -> String {
        self.nodes
            .iter()
            .map(|node| {
                let log = node.log();
                let lines: Vec<&str> = log.lines().collect();
                let tail = lines[lines.len().saturating_sub(40)..].join("\n");
                format!(
                    "--- nats-server {} ({}) ---\n{tail}\n",
                    node.name,
                    node.url()
                )
            })
            .collect()
    }

    /// The cluster's temporary directory (configs, logs, stores).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for NatsCluster {
    fn drop(&mut self) {
        for node in &mut self.nodes {
            node.kill();
        }
        if thread::panicking() {
            eprintln!("{}", self.logs());
        }
    }
}
