//! The broker side: a private Mosquitto started for the run, or the list
//! of what the run left on a broker it was given, deleted at the end.

use std::fs;
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use super::BenchError;
use super::homes::record_client_id;
use super::paths::{client_id, connect_client};
use super::runs::runtime;
use crate::room::Room;
use crate::session::{BROKER_TIMEOUT, BrokerConfig};
use crate::store::Store;
use crate::topics::{DEFAULT_PREFIX, RoomTopics};
use crate::transport::{BrokerUrl, Publication, VersionChoice};

/// What our own Mosquitto keeps per client that is away: the catch-up
/// runs queue 1000, and Mosquitto's default (1000) leaves no room.
pub const BROKER_QUEUE: u32 = 10_000;

/// Unacknowledged QoS 1 messages our own Mosquitto sends an MQTT 3.1.1
/// client (its default, written out so the run states it; MQTT 5 clients
/// set their own with Receive Maximum).
pub const BROKER_INFLIGHT: u32 = 20;

/// Where mosquitto is often installed besides `PATH` (Debian puts it in
/// sbin, which is not on a non-root PATH; Homebrew has its own prefix).
const EXTRA_DIRS: [&str; 4] = [
    "/usr/sbin",
    "/usr/local/sbin",
    "/opt/homebrew/sbin",
    "/opt/homebrew/opt/mosquitto/sbin",
];

/// The port every MQTT user shares; ours is never it.
const SHARED_PORT: u16 = 1883;
const START_TIMEOUT: Duration = Duration::from_secs(10);

/// A Mosquitto of our own on a free loopback port, stopped when dropped.
pub(super) struct OwnBroker {
    child: Child,
    port: u16,
    version: String,
    _dir: tempfile::TempDir,
}

impl OwnBroker {
    /// Starts one, trying a few ports in case another process takes the
    /// free one first.
    pub fn start() -> Result<Self, BenchError> {
        let binary = locate().ok_or(BenchError::NoMosquitto)?;
        let version = Command::new(&binary)
            .arg("-h")
            .output()
            .ok()
            .and_then(|out| {
                let text = String::from_utf8_lossy(&out.stdout).into_owned();
                text.lines().next().map(str::to_owned)
            })
            .unwrap_or_else(|| "mosquitto".to_owned());
        let dir = tempfile::Builder::new()
            .prefix("sotto-bench-broker-")
            .tempdir()
            .map_err(BenchError::io("create the broker's temporary directory"))?;
        let mut last = String::new();
        for _ in 0..5 {
            let port = free_port()?;
            match launch(&binary, dir.path(), port)? {
                Ok(child) => {
                    return Ok(Self {
                        child,
                        port,
                        version,
                        _dir: dir,
                    });
                }
                Err(log) => last = log,
            }
        }
        Err(BenchError::Mosquitto(format!(
            "it could not bind a free loopback port in 5 attempts ({})",
            last.trim()
        )))
    }

    /// How to reach it.
    pub fn config(&self, version: VersionChoice) -> BrokerConfig {
        BrokerConfig {
            url: BrokerUrl {
                host: Ipv4Addr::LOCALHOST.to_string(),
                port: self.port,
                tls: false,
            }
            .into(),
            credentials: None,
            prefix: DEFAULT_PREFIX.to_owned(),
            ca_file: None,
            client_auth: None,
            version,
        }
    }

    /// One line for the report.
    pub fn describe(&self) -> String {
        format!(
            "{}, started for this run on 127.0.0.1:{} (max_queued_messages {BROKER_QUEUE}, \
             max_inflight_messages {BROKER_INFLIGHT}, persistence off)",
            self.version, self.port
        )
    }
}

impl Drop for OwnBroker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts mosquitto on `port` and waits until it accepts connections.
/// `Ok(Err(log))` when the port was taken meanwhile.
fn launch(binary: &Path, dir: &Path, port: u16) -> Result<Result<Child, String>, BenchError> {
    let config = dir.join("mosquitto.conf");
    let log = dir.join("mosquitto.log");
    fs::write(&config, config_text(port, &log))
        .map_err(BenchError::io("write the broker's configuration"))?;
    let mut child = Command::new(binary)
        .arg("-c")
        .arg(&config)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(BenchError::io(format!("run {}", binary.display())))?;
    let deadline = Instant::now() + START_TIMEOUT;
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            let text = fs::read_to_string(&log).unwrap_or_default();
            if text.contains("Address already in use") {
                return Ok(Err(text));
            }
            let last = text.lines().last().unwrap_or("no log").to_owned();
            return Err(BenchError::Mosquitto(format!(
                "it exited ({status}): {last}"
            )));
        }
        if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
            return Ok(Ok(child));
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            return Err(BenchError::Mosquitto(format!(
                "it did not accept connections on port {port} within {} s",
                START_TIMEOUT.as_secs()
            )));
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn config_text(port: u16, log: &Path) -> String {
    format!(
        "# Written by sotto bench for one run.\n\
         listener {port} 127.0.0.1\n\
         allow_anonymous true\n\
         persistence false\n\
         # Started as root, mosquitto would switch to the `mosquitto` user.\n\
         user root\n\
         max_queued_messages {BROKER_QUEUE}\n\
         max_inflight_messages {BROKER_INFLIGHT}\n\
         log_dest file {log}\n\
         log_type error\n\
         log_type warning\n",
        log = log.display(),
    )
}

fn locate() -> Option<PathBuf> {
    let executable = |path: &Path| {
        fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    };
    let path = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .unwrap_or_default();
    path.into_iter()
        .chain(EXTRA_DIRS.map(PathBuf::from))
        .map(|dir| dir.join("mosquitto"))
        .find(|path| executable(path))
}

fn free_port() -> Result<u16, BenchError> {
    loop {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .map_err(BenchError::io("find a free loopback port"))?;
        let port = listener
            .local_addr()
            .map_err(BenchError::io("find a free loopback port"))?
            .port();
        if port != SHARED_PORT {
            return Ok(port);
        }
    }
}

/// Broker sessions and retained records the run created.
#[derive(Default)]
pub(super) struct Leftovers {
    inner: Mutex<Lists>,
}

#[derive(Default)]
struct Lists {
    sessions: Vec<String>,
    retained: Vec<String>,
}

impl Leftovers {
    /// A client id whose session the broker keeps.
    pub fn session(&self, client_id: &str) {
        self.with(|lists| lists.sessions.push(client_id.to_owned()));
    }

    /// What a room's sessions leave from a home: the broker session of its
    /// client id (recorded now, as `join` does) and its retained presence.
    pub fn sotto_session(
        &self,
        store: &Store,
        room: &Room,
        prefix: &str,
    ) -> Result<(), BenchError> {
        let id = record_client_id(store, room)?;
        let presence = RoomTopics::new(prefix, room).own_presence;
        self.with(|lists| {
            lists.sessions.extend(id);
            lists.retained.push(presence);
        });
        Ok(())
    }

    fn with(&self, change: impl FnOnce(&mut Lists)) {
        change(&mut self.inner.lock().unwrap_or_else(PoisonError::into_inner));
    }

    /// Clears every retained record (an empty retained publish) and ends
    /// every session (a clean connect with its client id).
    pub fn delete(&self, broker: &BrokerConfig) -> Result<(), BenchError> {
        let lists = std::mem::take(&mut *self.inner.lock().unwrap_or_else(PoisonError::into_inner));
        if lists.sessions.is_empty() && lists.retained.is_empty() {
            return Ok(());
        }
        runtime()?.block_on(async {
            let (cleaner, _) = connect_client(broker, client_id(), false, Vec::new()).await?;
            for topic in lists.retained {
                let clear = Publication {
                    topic,
                    payload: Vec::new(),
                    retain: true,
                };
                cleaner.publish_acked(clear, BROKER_TIMEOUT).await?;
            }
            cleaner.shutdown(None).await;
            for id in lists.sessions {
                let (session, _) = connect_client(broker, id, false, Vec::new()).await?;
                session.shutdown(None).await;
            }
            Ok(())
        })
    }
}
