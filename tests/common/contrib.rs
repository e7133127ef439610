//! The files in contrib/, started as an operator would start them, with
//! only what must differ on a test machine rewritten: ports (free loopback
//! ones), file paths (temporary certificates, password file, data
//! directories) and host names. Anything else in those files reaches the
//! broker unchanged, and a path or address the rewriting does not know
//! fails the test, so contrib/ cannot drift from what is tested.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::broker::{free_port, locate_executable};
use super::certs::Certs;
use super::{Mosquitto, MosquittoOptions};

/// A file in the repository's contrib/ directory.
pub fn contrib(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("contrib")
        .join(name)
}

/// The text of a contrib file.
pub fn contrib_text(name: &str) -> String {
    let path = contrib(name);
    fs::read_to_string(&path).unwrap_or_else(|err| panic!("cannot read {}: {err}", path.display()))
}

/// Finds `binary` in `PATH` or the sbin directories; panics with
/// `missing` (how to install it) when it is nowhere.
pub fn find_binary(binary: &str, missing: &str) -> PathBuf {
    locate_executable(binary, missing).unwrap_or_else(|err| panic!("{err}"))
}

/// Like [`find_binary`], `None` when it is nowhere.
pub fn locate(binary: &str) -> Option<PathBuf> {
    locate_executable(binary, "").ok()
}

// ---------------------------------------------------------------------------
// Mosquitto with contrib/mosquitto.conf and contrib/acl

/// How to get mosquitto_passwd.
pub const MOSQUITTO_PASSWD_MISSING: &str = "mosquitto_passwd is needed to make the test password file: it comes with mosquitto (`apt-get install -y mosquitto`, `brew install mosquitto`; scripts/test installs it)";

/// A broker user and their password.
#[derive(Clone, Copy, Debug)]
pub struct User {
    pub name: &'static str,
    pub password: &'static str,
}

/// A Mosquitto started with contrib/mosquitto.conf and contrib/acl: a TLS
/// listener with a certificate from a throwaway CA, and a password file
/// holding the given users.
pub struct ContribMosquitto {
    pub broker: Mosquitto,
    pub tls_port: u16,
    pub certs: Certs,
}

impl ContribMosquitto {
    /// Starts it with a password file holding `users`.
    pub fn start(users: &[User]) -> Self {
        let certs = Certs::generate();
        let passwd = certs.file("passwd");
        write_password_file(&passwd, users);
        let tls_port = free_port();
        let lines = rewrite_mosquitto_conf(&contrib_text("mosquitto.conf"), |directive| {
            let path = |p: PathBuf| p.display().to_string();
            Some(match directive {
                "listener" => format!("{tls_port} 127.0.0.1"),
                "certfile" => path(certs.server_cert()),
                "keyfile" => path(certs.server_key()),
                "cafile" => path(certs.ca()),
                "password_file" => path(passwd.clone()),
                // The real ACL, not a copy.
                "acl_file" => path(contrib("acl")),
                _ => return None,
            })
        });
        // The harness adds a plain loopback listener of its own, which it
        // uses to see that the broker is up; with `per_listener_settings
        // false` the password file and ACL apply to it too.
        let broker = Mosquitto::start_with(MosquittoOptions {
            extra_config: lines,
            ..MosquittoOptions::default()
        });
        super::wait::until_accepting("the contrib TLS listener to accept TCP", tls_port);
        Self {
            broker,
            tls_port,
            certs,
        }
    }

    /// `mqtts://localhost:PORT`: the host name the certificate carries.
    pub fn url(&self) -> String {
        format!("mqtts://localhost:{}", self.tls_port)
    }
}

/// Makes a Mosquitto password file with `mosquitto_passwd -b`.
fn write_password_file(path: &Path, users: &[User]) {
    let tool = find_binary("mosquitto_passwd", MOSQUITTO_PASSWD_MISSING);
    for (i, user) in users.iter().enumerate() {
        let mut cmd = Command::new(&tool);
        if i == 0 {
            cmd.arg("-c");
        }
        let out = cmd
            .arg("-b")
            .arg(path)
            .args([user.name, user.password])
            .stdin(Stdio::null())
            .output()
            .unwrap_or_else(|err| panic!("cannot run {}: {err}", tool.display()));
        assert!(
            out.status.success(),
            "mosquitto_passwd failed for {}: {}",
            user.name,
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// The directives the test harness sets itself (tests/common/broker.rs):
/// where the data and the log go, and which user the broker runs as.
/// Mosquitto refuses some of them twice, so contrib's are left out.
const HARNESS_OWNS: &[&str] = &["persistence_location", "log_dest", "user"];

/// contrib/mosquitto.conf as `extra_config` lines: comments dropped, the
/// harness's own directives left out, and every directive `replace`
/// knows given its value. A file path `replace` does not know panics.
pub fn rewrite_mosquitto_conf(conf: &str, replace: impl Fn(&str) -> Option<String>) -> Vec<String> {
    let mut lines = Vec::new();
    for line in conf.lines().map(str::trim) {
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (directive, value) = line.split_once(' ').unwrap_or((line, ""));
        if HARNESS_OWNS.contains(&directive) {
            continue;
        }
        match replace(directive) {
            Some(new) => lines.push(format!("{directive} {new}")),
            None => {
                assert!(
                    !value.contains('/'),
                    "contrib/mosquitto.conf: `{line}` names a file the test does not know how to replace; teach tests/common/contrib.rs"
                );
                lines.push(line.to_owned());
            }
        }
    }
    lines
}

/// The value of `directive` in a Mosquitto config (the last one wins).
pub fn mosquitto_setting(conf: &str, directive: &str) -> Option<String> {
    conf.lines()
        .map(str::trim)
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.split_once(' '))
        .filter(|(d, _)| *d == directive)
        .map(|(_, v)| v.trim().to_owned())
        .next_back()
}

// ---------------------------------------------------------------------------
// The NATS JetStream cluster in contrib/nats-cluster/

/// How to get nats-server.
pub const NATS_MISSING: &str = "nats-server is needed for the NATS cluster tests: install it with `apt-get install -y nats-server` (Debian/Ubuntu) or `brew install nats-server` (scripts/test installs it)";

/// The nodes in contrib/nats-cluster/.
pub const NATS_NODES: usize = 3;

/// The environment variable contrib/nats-cluster/common.conf takes the
/// MQTT user's password from.
pub const NATS_PASSWORD_VAR: &str = "SOTTO_NATS_PASSWORD";

/// The user contrib/nats-cluster/common.conf defines.
pub const NATS_USER: &str = "sotto";

/// How long the cluster gets to elect its leaders and answer MQTT.
const NATS_READY_TIMEOUT: Duration = Duration::from_secs(40);

/// The node file of node `n` (1-based).
pub fn nats_node_file(n: usize) -> PathBuf {
    contrib(&format!("nats-cluster/node-{n}.conf"))
}

/// `nats-server -t -c FILE` (configuration test mode) with the password
/// variable set; returns whether it passed and what it said.
pub fn nats_config_test(file: &Path) -> (bool, String) {
    let nats = find_binary("nats-server", NATS_MISSING);
    let out = Command::new(&nats)
        .arg("-t")
        .arg("-c")
        .arg(file)
        .env(NATS_PASSWORD_VAR, "config-test")
        .current_dir(file.parent().unwrap())
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|err| panic!("cannot run {}: {err}", nats.display()));
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), said)
}

/// One node's ports on loopback.
#[derive(Clone, Copy, Debug)]
struct NodePorts {
    client: u16,
    route: u16,
    mqtt: u16,
}

/// contrib/nats-cluster/ started on loopback: three nats-server processes,
/// each with its node file and a copy of common.conf whose addresses and
/// store directory are rewritten. Killed when dropped.
pub struct ContribNatsCluster {
    dir: tempfile::TempDir,
    ports: Vec<NodePorts>,
    children: Vec<Child>,
    password: String,
}

impl ContribNatsCluster {
    /// Starts the three nodes and waits until MQTT clients can connect.
    pub fn start(password: &str) -> Self {
        let nats = find_binary("nats-server", NATS_MISSING);
        let dir = tempfile::Builder::new()
            .prefix("sotto-nats-")
            .tempdir()
            .unwrap();
        let ports: Vec<NodePorts> = (0..NATS_NODES)
            .map(|_| NodePorts {
                client: free_port(),
                route: free_port(),
                mqtt: free_port(),
            })
            .collect();
        let common = contrib_text("nats-cluster/common.conf");
        let mut cluster = Self {
            dir,
            ports: ports.clone(),
            children: Vec::new(),
            password: password.to_owned(),
        };
        for n in 1..=NATS_NODES {
            let node_dir = cluster.node_dir(n);
            fs::create_dir_all(&node_dir).unwrap();
            let store = node_dir.join("jetstream");
            fs::write(
                node_dir.join("common.conf"),
                rewrite_nats_common(&common, &ports, n, &store),
            )
            .unwrap();
            fs::copy(nats_node_file(n), node_dir.join(format!("node-{n}.conf"))).unwrap();
            let log = fs::File::create(node_dir.join("log")).unwrap();
            let child = Command::new(&nats)
                .arg("-c")
                .arg(node_dir.join(format!("node-{n}.conf")))
                .env(NATS_PASSWORD_VAR, password)
                .current_dir(&node_dir)
                .stdin(Stdio::null())
                .stdout(log.try_clone().unwrap())
                .stderr(log)
                .spawn()
                .unwrap_or_else(|err| panic!("cannot run {}: {err}", nats.display()));
            cluster.children.push(child);
        }
        cluster.wait_ready();
        cluster
    }

    fn node_dir(&self, n: usize) -> PathBuf {
        self.dir.path().join(format!("node-{n}"))
    }

    /// `mqtt://127.0.0.1:PORT` of node `n` (1-based).
    pub fn url(&self, n: usize) -> String {
        format!("mqtt://127.0.0.1:{}", self.ports[n - 1].mqtt)
    }

    /// Every node's log, for failure messages.
    pub fn logs(&self) -> String {
        (1..=NATS_NODES)
            .map(|n| {
                let log = fs::read_to_string(self.node_dir(n).join("log")).unwrap_or_default();
                let lines: Vec<&str> = log.lines().collect();
                let tail = lines[lines.len().saturating_sub(30)..].join("\n");
                format!("--- node {n} ---\n{tail}")
            })
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// Waits until every node answers an MQTT CONNECT with a session (the
    /// JetStream streams behind MQTT exist only once the cluster has
    /// elected its leaders).
    fn wait_ready(&mut self) {
        let deadline = Instant::now() + NATS_READY_TIMEOUT;
        for n in 1..=NATS_NODES {
            loop {
                for (i, child) in self.children.iter_mut().enumerate() {
                    if let Ok(Some(status)) = child.try_wait() {
                        panic!(
                            "nats-server node {} exited at start ({status}):\n{}",
                            i + 1,
                            self.logs()
                        );
                    }
                }
                match mqtt_session_probe(self.ports[n - 1].mqtt, NATS_USER, &self.password) {
                    Ok(()) => break,
                    Err(err) if Instant::now() >= deadline => panic!(
                        "the contrib NATS cluster did not accept MQTT sessions on node {n} within {NATS_READY_TIMEOUT:?} (last: {err}):\n{}",
                        self.logs()
                    ),
                    Err(_) => std::thread::sleep(Duration::from_millis(200)),
                }
            }
        }
    }
}

impl Drop for ContribNatsCluster {
    fn drop(&mut self) {
        for child in &mut self.children {
            let _ = child.kill();
            let _ = child.wait();
        }
        if std::thread::panicking() {
            eprintln!("{}", self.logs());
        }
    }
}

/// common.conf for node `n` on loopback: listen addresses on the node's
/// ports, routes to every node's route port, the store in `store`.
fn rewrite_nats_common(common: &str, ports: &[NodePorts], n: usize, store: &Path) -> String {
    let own = ports[n - 1];
    let mut text = common
        .replace("0.0.0.0:4222", &format!("127.0.0.1:{}", own.client))
        .replace("0.0.0.0:6222", &format!("127.0.0.1:{}", own.route))
        .replace("0.0.0.0:1883", &format!("127.0.0.1:{}", own.mqtt))
        .replace("/var/lib/nats/jetstream", &store.display().to_string());
    for (i, node) in ports.iter().enumerate() {
        text = text.replace(
            &format!("nats-route://nats-{}:6222", i + 1),
            &format!("nats-route://127.0.0.1:{}", node.route),
        );
    }
    // Whatever is left that names a host, a port or a path was not
    // rewritten: the test would otherwise run on the machine's own ports.
    for line in text.lines().map(str::trim).filter(|l| !l.starts_with('#')) {
        assert!(
            !line.contains("0.0.0.0")
                && !line.contains("nats-route://nats-")
                && !line.contains("/var/"),
            "contrib/nats-cluster/common.conf: `{line}` names an address or path the test does not rewrite; teach tests/common/contrib.rs"
        );
    }
    text
}

/// One MQTT 3.1.1 CONNECT with a persistent session and credentials;
/// `Ok` on a successful CONNACK.
pub fn mqtt_session_probe(port: u16, user: &str, password: &str) -> Result<(), String> {
    use rumqttc::{Client, Event, Incoming, MqttOptions};
    let mut options = MqttOptions::new("sotto-test-probe", "127.0.0.1", port);
    options.set_credentials(user, password);
    options.set_clean_session(false);
    options.set_keep_alive(Duration::from_secs(5));
    let (client, mut connection) = Client::new(options, 4);
    let result = match connection.recv_timeout(Duration::from_secs(5)) {
        Ok(Ok(Event::Incoming(Incoming::ConnAck(ack)))) => {
            if ack.code == rumqttc::ConnectReturnCode::Success {
                Ok(())
            } else {
                Err(format!("CONNACK {:?}", ack.code))
            }
        }
        Ok(Ok(other)) => Err(format!("{other:?}")),
        Ok(Err(err)) => Err(err.to_string()),
        Err(err) => Err(format!("{err:?}")),
    };
    let _ = client.try_disconnect();
    result
}

// ---------------------------------------------------------------------------
// The systemd unit

/// The `[Section]` `Key=` values of a unit file, in order.
pub fn unit_values(unit: &str, key: &str) -> Vec<String> {
    unit.lines()
        .map(str::trim)
        .filter(|l| !l.starts_with('#') && !l.starts_with(';'))
        .filter_map(|l| l.split_once('='))
        .filter(|(k, _)| k.trim() == key)
        .map(|(_, v)| v.trim().to_owned())
        .collect()
}
