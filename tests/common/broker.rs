//! A private Mosquitto broker for one test: its own loopback port, its own
//! temporary config, data and log directory. Never the shared broker on
//! 127.0.0.1:1883.

use std::fs;
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::thread;
use std::time::{Duration, Instant};

/// The panic message when no `mosquitto` binary can be found.
pub const MOSQUITTO_MISSING: &str = "mosquitto is not installed: install it with `apt-get install -y mosquitto` (Debian/Ubuntu) or `brew install mosquitto`; the integration tests need a real broker";

/// Environment variable that overrides the binary name or path.
pub const MOSQUITTO_ENV: &str = "SOTTO_TEST_MOSQUITTO";

/// The machine's shared broker port; tests must never use it.
const SHARED_PORT: u16 = 1883;
/// How long a broker gets to accept TCP connections after it is spawned.
const READY_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a broker gets to exit after SIGTERM (it writes persistence then).
const STOP_TIMEOUT: Duration = Duration::from_secs(10);
/// Directories searched after `PATH` (Debian puts mosquitto and
/// nats-server in sbin, which is often not on a non-root PATH; Homebrew
/// uses its own prefix).
const EXTRA_DIRS: &[&str] = &[
    "/usr/sbin",
    "/usr/local/sbin",
    "/sbin",
    "/opt/homebrew/bin",
    "/opt/homebrew/sbin",
    "/opt/homebrew/opt/mosquitto/sbin",
];

/// Ports handed out by this process, so two brokers in one test binary never
/// race for the same port.
static HANDED_OUT: Mutex<Vec<u16>> = Mutex::new(Vec::new());

/// How to start a broker. `Default` uses `mosquitto` (or `$SOTTO_TEST_MOSQUITTO`)
/// and no extra configuration.
#[derive(Clone, Debug)]
pub struct MosquittoOptions {
    /// A binary name looked up in `PATH` and sbin directories, or a path.
    pub binary: String,
    /// Extra `mosquitto.conf` lines appended after the harness's own, e.g.
    /// `"max_queued_messages 5"`.
    pub extra_config: Vec<String>,
    /// The configuration (JSON) of Mosquitto's dynamic security plugin:
    /// users, roles and their ACLs. When set, the plugin is loaded with it.
    /// Unlike `acl_file`, which in Mosquitto 2.0 grants every SUBSCRIBE
    /// and only filters what is delivered, its ACLs can refuse a
    /// subscription (a failure code in the SUBACK).
    pub dynamic_security: Option<String>,
}

impl Default for MosquittoOptions {
    fn default() -> Self {
        Self {
            binary: std::env::var(MOSQUITTO_ENV).unwrap_or_else(|_| "mosquitto".to_owned()),
            extra_config: Vec::new(),
            dynamic_security: None,
        }
    }
}

/// Finds the mosquitto binary: `binary` as a path if it contains a `/`, else
/// in `PATH`, then `/usr/sbin` and friends. The error starts with
/// [`MOSQUITTO_MISSING`].
pub fn locate_mosquitto(binary: &str) -> Result<PathBuf, String> {
    locate_executable(binary, MOSQUITTO_MISSING)
}

/// Finds an executable: `binary` as a path if it contains a `/`, else in
/// `PATH`, then `/usr/sbin` and friends (where Debian puts brokers). The
/// error starts with `missing`, which says how to install it.
pub fn locate_executable(binary: &str, missing: &str) -> Result<PathBuf, String> {
    let is_executable = |p: &Path| {
        fs::metadata(p)
            .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
            .unwrap_or(false)
    };
    if binary.contains('/') {
        let p = PathBuf::from(binary);
        return if is_executable(&p) {
            Ok(p)
        } else {
            Err(format!("{missing} (no executable at {binary})"))
        };
    }
    let path_dirs = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .unwrap_or_default();
    path_dirs
        .into_iter()
        .chain(EXTRA_DIRS.iter().map(PathBuf::from))
        .map(|dir| dir.join(binary))
        .find(|p| is_executable(p))
        .ok_or_else(|| {
            format!(
                "{missing} (no `{binary}` in PATH or {})",
                EXTRA_DIRS.join(", ")
            )
        })
}

/// Where Mosquitto's dynamic security plugin is installed (Debian and
/// Homebrew ship it with mosquitto).
pub fn locate_dynamic_security_plugin() -> Result<PathBuf, String> {
    const NAME: &str = "mosquitto_dynamic_security.so";
    let dirs = [
        "/usr/lib/x86_64-linux-gnu",
        "/usr/lib/aarch64-linux-gnu",
        "/usr/lib",
        "/usr/local/lib",
        "/opt/homebrew/lib",
    ];
    dirs.iter()
        .map(|dir| Path::new(dir).join(NAME))
        .find(|p| p.is_file())
        .ok_or_else(|| {
            format!(
                "no {NAME} in {}: it comes with mosquitto 2.0 or later",
                dirs.join(", ")
            )
        })
}

/// Picks a free loopback port by binding 127.0.0.1:0 and releasing it.
/// Retries on bind failure; never returns 1883 or a port this process has
/// already handed out.
pub fn free_port() -> u16 {
    let mut last_error = String::new();
    for _ in 0..20 {
        match TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).and_then(|l| l.local_addr()) {
            Ok(addr) => {
                let port = addr.port();
                let mut handed = HANDED_OUT.lock().unwrap_or_else(|e| e.into_inner());
                if port == SHARED_PORT || handed.contains(&port) {
                    continue;
                }
                handed.push(port);
                return port;
            }
            Err(e) => {
                last_error = e.to_string();
                thread::sleep(Duration::from_millis(20));
            }
        }
    }
    panic!("could not find a free loopback port: {last_error}");
}

/// Why one launch attempt failed.
enum LaunchError {
    /// The port was taken (by someone else); try again.
    AddressInUse(String),
    /// Anything else: give up.
    Fatal(String),
}

/// A PUBLISH that Mosquitto's log says it sent to a client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoggedPublish {
    pub client: String,
    pub mid: u16,
    pub topic: String,
}

/// The number a piece of log text starts with.
fn leading_number(text: &str) -> Option<u16> {
    let digits: String = text.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok()
}

/// A running (or stopped) private mosquitto. Killed on drop; its temporary
/// directory is removed then too.
pub struct Mosquitto {
    binary: PathBuf,
    dir: tempfile::TempDir,
    port: u16,
    child: Option<Child>,
    extra_config: Vec<String>,
    dynamic_security: Option<String>,
    /// How many times the broker has been launched successfully.
    launches: usize,
}

impl Mosquitto {
    /// Starts a broker with default options. Panics with [`MOSQUITTO_MISSING`]
    /// when there is no mosquitto, or with the broker's log when it does not
    /// come up within 10 s.
    pub fn start() -> Self {
        Self::start_with(MosquittoOptions::default())
    }

    /// Starts a broker with the given options.
    pub fn start_with(options: MosquittoOptions) -> Self {
        let binary = match locate_mosquitto(&options.binary) {
            Ok(b) => b,
            Err(msg) => panic!("{msg}"),
        };
        let dir = tempfile::Builder::new()
            .prefix("sotto-mosquitto-")
            .tempdir()
            .expect("create broker temp dir");
        fs::create_dir_all(dir.path().join("data")).expect("create broker data dir");
        let mut broker = Self {
            binary,
            dir,
            port: 0,
            child: None,
            extra_config: options.extra_config,
            dynamic_security: options.dynamic_security,
            launches: 0,
        };
        let mut last = String::new();
        for _ in 0..5 {
            broker.port = free_port();
            broker.write_config();
            match broker.launch() {
                Ok(()) => return broker,
                Err(LaunchError::AddressInUse(log)) => last = log,
                Err(LaunchError::Fatal(msg)) => panic!("{msg}"),
            }
        }
        panic!("mosquitto could not bind a free port after 5 attempts; last log:\n{last}");
    }

    /// The broker's loopback port (never 1883).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `mqtt://127.0.0.1:PORT`, for `--broker` / `SOTTO_BROKER`.
    pub fn url(&self) -> String {
        format!("mqtt://127.0.0.1:{}", self.port)
    }

    /// The broker's socket address.
    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from((Ipv4Addr::LOCALHOST, self.port))
    }

    /// The temporary directory holding config, log and data.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The persistence directory.
    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// The generated `mosquitto.conf`.
    pub fn config_path(&self) -> PathBuf {
        self.dir.path().join("mosquitto.conf")
    }

    /// The broker's log file (appended to across restarts).
    pub fn log_path(&self) -> PathBuf {
        self.dir.path().join("mosquitto.log")
    }

    /// The broker's log so far (plus anything it wrote to stdout/stderr).
    pub fn log(&self) -> String {
        let read = |p: PathBuf| {
            fs::read(p)
                .map(|b| String::from_utf8_lossy(&b).into_owned())
                .unwrap_or_default()
        };
        let mut log = read(self.log_path());
        let stderr = read(self.stderr_path());
        if !stderr.trim().is_empty() {
            log.push_str("\n--- mosquitto stdout/stderr ---\n");
            log.push_str(&stderr);
        }
        log
    }

    /// Every PUBLISH the broker logged sending to a client
    /// (`Sending PUBLISH to ID (d0, q1, r0, m7, 'TOPIC', … (N bytes))`),
    /// in log order.
    pub fn publishes_sent(&self) -> Vec<LoggedPublish> {
        self.log()
            .lines()
            .filter_map(|line| {
                let rest = line.split_once("Sending PUBLISH to ")?.1;
                let (client, rest) = rest.split_once(" (")?;
                let topic = rest.split_once('\'')?.1.split_once('\'')?.0;
                Some(LoggedPublish {
                    client: client.to_owned(),
                    mid: leading_number(rest.split_once(", m")?.1)?,
                    topic: topic.to_owned(),
                })
            })
            .collect()
    }

    /// The message ids of the PUBACKs the broker logged receiving from
    /// `client` (`Received PUBACK from ID (Mid: 7…`), in log order.
    pub fn pubacks_received(&self, client: &str) -> Vec<u16> {
        let prefix = format!("Received PUBACK from {client} (Mid: ");
        self.log()
            .lines()
            .filter_map(|line| leading_number(line.split_once(&prefix)?.1))
            .collect()
    }

    /// The client id of every connection the broker logged
    /// ("New client connected from ADDR as ID (...)"), in order.
    pub fn connected_client_ids(&self) -> Vec<String> {
        self.log()
            .lines()
            .filter_map(|line| {
                line.split_once("New client connected from ")?
                    .1
                    .split_once(" as ")
            })
            .filter_map(|(_, rest)| Some(rest.rsplit_once(" (")?.0.to_owned()))
            .collect()
    }

    /// The process id while running.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Whether the broker process is alive.
    pub fn is_running(&mut self) -> bool {
        match self.child.as_mut() {
            Some(child) => matches!(child.try_wait(), Ok(None)),
            None => false,
        }
    }

    /// Graceful stop: SIGTERM, then wait for exit so persistence is written.
    /// Does nothing if already stopped. Panics (after SIGKILL) if the broker
    /// does not exit within 10 s.
    pub fn stop(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        if matches!(child.try_wait(), Ok(Some(_))) {
            return;
        }
        let sent = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .map(|s| s.success())
            .unwrap_or(false);
        if !sent {
            // No `kill` binary: fall back to SIGKILL (persistence may be lost).
            let _ = child.kill();
        }
        let deadline = Instant::now() + STOP_TIMEOUT;
        loop {
            match child.try_wait() {
                Ok(Some(_)) => return,
                Ok(None) if Instant::now() < deadline => thread::sleep(Duration::from_millis(5)),
                _ => {
                    let _ = child.kill();
                    let _ = child.wait();
                    panic!(
                        "mosquitto did not exit within {STOP_TIMEOUT:?} of SIGTERM; log:\n{}",
                        self.log()
                    );
                }
            }
        }
    }

    /// Crash: SIGKILL and reap. Nothing is saved to the persistence file.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts a stopped broker again on the same port, config and data dir.
    /// Panics if it is still running.
    pub fn start_again(&mut self) {
        assert!(
            !self.is_running(),
            "start_again() on a running broker; call stop() first"
        );
        self.child = None;
        let mut last = String::new();
        // The old socket may linger briefly; mosquitto sets SO_REUSEADDR, so
        // this normally succeeds at once.
        for _ in 0..10 {
            match self.launch() {
                Ok(()) => return,
                Err(LaunchError::AddressInUse(log)) => {
                    last = log;
                    thread::sleep(Duration::from_millis(200));
                }
                Err(LaunchError::Fatal(msg)) => panic!("{msg}"),
            }
        }
        panic!(
            "mosquitto could not re-bind port {} after a restart; log:\n{last}",
            self.port
        );
    }

    /// `stop()` then `start_again()`: same port, same persisted state.
    pub fn restart(&mut self) {
        self.stop();
        self.start_again();
    }

    fn stderr_path(&self) -> PathBuf {
        self.dir.path().join("mosquitto.stderr")
    }

    fn write_config(&self) {
        let data = self.data_dir();
        let mut conf = format!(
            "# generated by tests/common/broker.rs\n\
             listener {port} 127.0.0.1\n\
             allow_anonymous true\n\
             persistence true\n\
             persistence_location {data}/\n\
             # Started as root, mosquitto would drop to the `mosquitto` user and\n\
             # silently fail to write persistence; as non-root this is ignored.\n\
             user root\n\
             log_dest file {log}\n\
             log_type all\n\
             connection_messages true\n\
             log_timestamp true\n",
            port = self.port,
            data = data.display(),
            log = self.log_path().display(),
        );
        if let Some(json) = &self.dynamic_security {
            let plugin = locate_dynamic_security_plugin().unwrap_or_else(|e| panic!("{e}"));
            let config = self.dir.path().join("dynamic-security.json");
            fs::write(&config, json).expect("write the dynamic security config");
            conf.push_str(&format!(
                "plugin {}\nplugin_opt_config_file {}\n",
                plugin.display(),
                config.display()
            ));
        }
        for line in &self.extra_config {
            conf.push_str(line);
            conf.push('\n');
        }
        fs::write(self.config_path(), conf).expect("write mosquitto.conf");
    }

    /// Spawns mosquitto and waits until it accepts TCP connections and has
    /// logged that it is running.
    fn launch(&mut self) -> Result<(), LaunchError> {
        assert_ne!(self.port, SHARED_PORT, "tests must never use port 1883");
        let out = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.stderr_path())
            .expect("open mosquitto stderr file");
        let err = out.try_clone().expect("clone stderr file handle");
        let mut child = Command::new(&self.binary)
            .arg("-c")
            .arg(self.config_path())
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .map_err(|e| {
                LaunchError::Fatal(format!("cannot run {}: {e}", self.binary.display()))
            })?;
        let want_running = self.launches + 1;
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            if let Ok(Some(status)) = child.try_wait() {
                let log = self.log();
                return Err(if log.contains("Address already in use") {
                    LaunchError::AddressInUse(log)
                } else {
                    LaunchError::Fatal(format!(
                        "mosquitto exited during startup ({status}) on port {}; log:\n{log}",
                        self.port
                    ))
                });
            }
            // The log check guards against a TCP connect that reached some
            // other process that grabbed the port first.
            let logged = self
                .log()
                .lines()
                .filter(|l| l.contains("mosquitto version") && l.ends_with(" running"))
                .count()
                >= want_running;
            if logged
                && TcpStream::connect_timeout(&self.addr(), Duration::from_millis(200)).is_ok()
            {
                self.child = Some(child);
                self.launches += 1;
                return Ok(());
            }
            if Instant::now() >= deadline {
                let _ = child.kill();
                let _ = child.wait();
                return Err(LaunchError::Fatal(format!(
                    "mosquitto did not accept connections on 127.0.0.1:{} within {READY_TIMEOUT:?}; log:\n{}",
                    self.port,
                    self.log()
                )));
            }
            thread::sleep(Duration::from_millis(5));
        }
    }
}

impl Drop for Mosquitto {
    fn drop(&mut self) {
        self.kill();
        if thread::panicking() {
            let log = self.log();
            let lines: Vec<&str> = log.lines().collect();
            let tail = &lines[lines.len().saturating_sub(60)..];
            eprintln!(
                "--- last {} lines of mosquitto log (port {}) ---\n{}\n--- end of mosquitto log ---",
                tail.len(),
                self.port,
                tail.join("\n")
            );
        }
    }
}
