//! Peak memory of real, idle `sotto` processes holding 10 rooms.
//!
//! Today no sotto process connects to more than one room (`chat` keeps
//! one room open at a time), so the rooms are held the two ways today's
//! commands allow, at the same time: one `listen` per room from one home
//! (every room connected), and one `chat` on pipes in a second home that
//! has joined all 10 (one connected). After every process has said it is
//! connected, they sit idle; then each one's peak resident set (VmHWM in
//! `/proc/PID/status`) is read, and they are stopped as a user would
//! (Ctrl-C for `listen`, `/quit` for `chat`).

use std::io::{BufRead, BufReader, Read, Write};
use std::path::Path;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use super::paths::failed;
use super::report::IdleMemory;
use super::{Bench, BenchError, homes};
use crate::room::Room;
use crate::session::now_ms;
use crate::store::Store;
use crate::transport::{MqttVersion, VersionChoice};

/// How many rooms the idle processes hold.
pub const ROOMS: usize = 10;

const READY_TIMEOUT: Duration = Duration::from_secs(30);
const STOP_TIMEOUT: Duration = Duration::from_secs(10);

/// Starts the processes, waits `idle` once all are connected, and reads
/// their peak memory.
pub(super) fn measure(bench: &Bench, exe: &Path, idle: Duration) -> Result<IdleMemory, BenchError> {
    let (lister, lister_identity) = bench.homes.new_home("idle-listen")?;
    let (chatter, chatter_identity) = bench.homes.new_home("idle-chat")?;
    let mut names = Vec::new();
    for i in 1..=ROOMS {
        let name = format!("room{i:02}");
        let room = Room::create(&name, &lister_identity.public(), now_ms(), &mut rand::rng())
            .map_err(failed("create a room"))?;
        homes::save_created(bench, &lister, &room)?;
        homes::join(bench, &chatter, &chatter_identity, &room.invite().encode())?;
        names.push(name);
    }
    let mut processes = Processes::default();
    for name in &names {
        let command = sotto(exe, bench, &lister, &["listen", name]);
        processes.start(command, format!("listen {name}"), "listening to", None)?;
    }
    let chat = sotto(exe, bench, &chatter, &["chat", &names[0]]);
    processes.start(
        chat,
        format!("chat {}", names[0]),
        "You are in",
        Some("/quit"),
    )?;
    processes.wait_ready()?;
    std::thread::sleep(idle);
    let mut peaks = processes
        .all
        .iter()
        .map(|process| peak_kib(process.child.id()))
        .collect::<Result<Vec<_>, _>>()?;
    processes.stop();
    let chat_kib = peaks.pop().unwrap_or(0);
    Ok(IdleMemory {
        seconds: idle.as_secs_f64(),
        chat_kib,
        listen_kib: peaks,
    })
}

/// A `sotto` command on `store`'s home and the bench's broker, with none
/// of the caller's SOTTO_* settings leaking in.
fn sotto(exe: &Path, bench: &Bench, store: &Store, args: &[&str]) -> Command {
    let broker = &bench.broker;
    let mqtt = match broker.version {
        VersionChoice::Auto => "auto",
        VersionChoice::Only(MqttVersion::V5) => "5",
        VersionChoice::Only(MqttVersion::V311) => "3.1.1",
    };
    let mut command = Command::new(exe);
    for name in [
        "SOTTO_HOME",
        "SOTTO_BROKER",
        "SOTTO_MQTT",
        "SOTTO_USERNAME",
        "SOTTO_PASSWORD",
        "SOTTO_PASSPHRASE",
        "SOTTO_CA_FILE",
    ] {
        command.env_remove(name);
    }
    command
        .arg("--home")
        .arg(store.home())
        .arg("--broker")
        .arg(broker.url.to_string())
        .arg("--mqtt")
        .arg(mqtt);
    if let Some((user, password)) = &broker.credentials {
        command.arg("--username").arg(user);
        command.env("SOTTO_PASSWORD", password);
    }
    if let Some(ca) = &broker.ca_file {
        command.env("SOTTO_CA_FILE", ca);
    }
    if let Some(client) = &broker.client_auth {
        command.env("SOTTO_CLIENT_CERT", &client.cert);
        command.env("SOTTO_CLIENT_KEY", &client.key);
    }
    command.args(args);
    command
}

/// One running process and how to tell it is connected.
struct Process {
    child: Child,
    what: String,
    /// Kept open: `chat` on pipes ends when its input does.
    stdin: Option<ChildStdin>,
    ready_line: &'static str,
    /// What to type to end it, or None for Ctrl-C.
    quit: Option<&'static str>,
    ready: bool,
    last_error: String,
}

/// A line of output and the index of the process that wrote it.
type Line = (usize, String);

/// The running processes, killed on drop if still there.
#[derive(Default)]
struct Processes {
    all: Vec<Process>,
    lines: Option<(mpsc::Sender<Line>, mpsc::Receiver<Line>)>,
}

impl Processes {
    fn start(
        &mut self,
        mut command: Command,
        what: String,
        ready_line: &'static str,
        quit: Option<&'static str>,
    ) -> Result<(), BenchError> {
        let mut child = command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(BenchError::io(format!("run sotto {what}")))?;
        let (sender, _) = self.lines.get_or_insert_with(mpsc::channel);
        let index = self.all.len();
        if let Some(out) = child.stdout.take() {
            forward(out, index, sender.clone());
        }
        if let Some(err) = child.stderr.take() {
            forward(err, index, sender.clone());
        }
        self.all.push(Process {
            stdin: child.stdin.take(),
            child,
            what,
            ready_line,
            quit,
            ready: false,
            last_error: String::new(),
        });
        Ok(())
    }

    /// Waits until every process has printed its ready line.
    fn wait_ready(&mut self) -> Result<(), BenchError> {
        let deadline = Instant::now() + READY_TIMEOUT;
        let Some((_, lines)) = &self.lines else {
            return Ok(());
        };
        while self.all.iter().any(|p| !p.ready) {
            for process in &mut self.all {
                if let Ok(Some(status)) = process.child.try_wait() {
                    return Err(BenchError::Failed(format!(
                        "sotto {} exited ({status}) before it was connected: {}",
                        process.what, process.last_error
                    )));
                }
            }
            if Instant::now() >= deadline {
                let late = self.all.iter().find(|p| !p.ready).map(|p| p.what.as_str());
                return Err(BenchError::Failed(format!(
                    "sotto {} did not connect within {} s",
                    late.unwrap_or("?"),
                    READY_TIMEOUT.as_secs()
                )));
            }
            if let Ok((index, line)) = lines.recv_timeout(Duration::from_millis(50))
                && let Some(process) = self.all.get_mut(index)
            {
                if line.contains(process.ready_line) {
                    process.ready = true;
                }
                process.last_error = line;
            }
        }
        Ok(())
    }

    /// Stops every process as a user would, and waits for them.
    fn stop(&mut self) {
        for process in &mut self.all {
            match (process.stdin.as_mut(), process.quit) {
                (Some(stdin), Some(quit)) => {
                    let _ = writeln!(stdin, "{quit}");
                    let _ = stdin.flush();
                }
                _ => interrupt(&mut process.child),
            }
        }
        let deadline = Instant::now() + STOP_TIMEOUT;
        for process in &mut self.all {
            while matches!(process.child.try_wait(), Ok(None)) && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    }
}

impl Drop for Processes {
    fn drop(&mut self) {
        for process in &mut self.all {
            let _ = process.child.kill();
            let _ = process.child.wait();
        }
    }
}

/// Sends each line of `stream` to `lines`, tagged with `index`.
fn forward(stream: impl Read + Send + 'static, index: usize, lines: mpsc::Sender<Line>) {
    std::thread::spawn(move || {
        for line in BufReader::new(stream).lines() {
            let Ok(line) = line else { return };
            if lines.send((index, line)).is_err() {
                return;
            }
        }
    });
}

/// Ctrl-C, so the process says goodbye; a kill if that cannot be sent.
fn interrupt(child: &mut Child) {
    let sent = Command::new("kill")
        .arg("-INT")
        .arg(child.id().to_string())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|status| status.success());
    if !sent {
        let _ = child.kill();
    }
}

/// Fails with a sentence where there is no `/proc` to read memory from.
pub(super) fn check_proc() -> Result<(), BenchError> {
    peak_kib(std::process::id()).map(|_| ())
}

/// A process's peak resident set size in KiB (VmHWM).
fn peak_kib(pid: u32) -> Result<u64, BenchError> {
    let path = format!("/proc/{pid}/status");
    let status = std::fs::read_to_string(&path).map_err(BenchError::io(format!(
        "read {path} (peak memory needs Linux's /proc)"
    )))?;
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        .ok_or_else(|| BenchError::Failed(format!("{path} has no VmHWM line")))
}
