//! A sotto user for integration tests: a temporary home and the real
//! binary, pointed at a private broker. Every command clears the SOTTO_*
//! environment so nothing leaks in from the developer's shell.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, dead_code)]

use std::ffi::OsStr;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, ExitStatus, Output, Stdio};
use std::time::{Duration, Instant};

use crate::common::{ChildOutput, Lines};

pub mod pty;

/// How long a bounded listener gets to say it is subscribed.
pub const SUBSCRIBE_WITHIN: Duration = Duration::from_secs(8);

/// How long `chat` on pipes gets to print an expected line.
pub const CHAT_TIMEOUT: Duration = Duration::from_secs(20);

/// One member: a home directory and a broker address.
pub struct Home {
    dir: tempfile::TempDir,
    broker: String,
    /// `--mqtt` for every command: "5", "3.1.1", or None for the default.
    mqtt: Option<String>,
    /// Extra environment for every command (e.g. `SOTTO_USERNAME`).
    env: Vec<(String, String)>,
}

/// A running `sotto` command (usually `listen`), its output captured.
pub struct Listener {
    child: Child,
    output: Option<ChildOutput>,
}

/// How a command ended.
#[derive(Debug)]
pub struct Finished {
    /// `None` when it had not exited by the deadline (it was killed then).
    pub status: Option<ExitStatus>,
    pub stdout: String,
    pub stderr: String,
}

impl Home {
    /// A fresh identity called `name`, using `broker`.
    pub fn init(name: &str, broker: &str) -> Self {
        Self::init_with_mqtt(name, broker, None)
    }

    /// Like [`Home::init`], with every command forced to one MQTT version
    /// ("5" or "3.1.1") through `SOTTO_MQTT`.
    pub fn init_with_mqtt(name: &str, broker: &str, mqtt: Option<&str>) -> Self {
        let home = Self::empty_with_mqtt(broker, mqtt);
        home.ok(&["init", "--name", name]);
        home
    }

    /// A home with no identity yet (a first run).
    pub fn empty(broker: &str) -> Self {
        Self::empty_with_mqtt(broker, None)
    }

    fn empty_with_mqtt(broker: &str, mqtt: Option<&str>) -> Self {
        Self {
            dir: tempfile::tempdir().unwrap(),
            broker: broker.to_owned(),
            mqtt: mqtt.map(str::to_owned),
            env: Vec::new(),
        }
    }

    /// Points every later command at another broker.
    pub fn set_broker(&mut self, broker: &str) {
        broker.clone_into(&mut self.broker);
    }

    /// Sets an environment variable for every later command.
    pub fn with_env(mut self, key: &str, value: &str) -> Self {
        self.env.push((key.to_owned(), value.to_owned()));
        self
    }

    /// The forced MQTT version, if any.
    pub fn mqtt(&self) -> Option<&str> {
        self.mqtt.as_deref()
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn command(&self, args: &[&str]) -> Command {
        self.command_with_home(self.path(), args)
    }

    /// [`Home::command`] with the home spelled `home` on the command line
    /// (relative, with a trailing slash, ...): the caller sets the working
    /// directory a relative spelling needs.
    pub fn command_with_home(&self, home: impl AsRef<OsStr>, args: &[&str]) -> Command {
        let mut cmd = Command::new(assert_cmd::cargo::cargo_bin!("sotto"));
        cmd.env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("NO_COLOR", "1");
        if let Some(mqtt) = &self.mqtt {
            cmd.env("SOTTO_MQTT", mqtt);
        }
        for (key, value) in &self.env {
            cmd.env(key, value);
        }
        cmd.arg("--home")
            .arg(home)
            .arg("--broker")
            .arg(&self.broker)
            .args(args)
            .stdin(Stdio::null());
        cmd
    }

    /// Runs a command that must succeed; returns stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "sotto {args:?} failed: {}\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    pub fn run(&self, args: &[&str]) -> Output {
        self.command(args).output().unwrap()
    }

    /// Creates a room and returns its invite.
    /// Creates a room; its invite admits up to ten people, as tests share
    /// one invite among several homes.
    pub fn create_room(&self, room: &str) -> String {
        self.ok(&["room", "create", room, "--uses", "10"])
            .lines()
            .last()
            .unwrap()
            .to_owned()
    }

    /// A room without a membership log (`--no-log`), as sotto made them
    /// before the log: for tests of what such rooms do.
    pub fn create_room_without_log(&self, room: &str) -> String {
        self.ok(&["room", "create", room, "--no-log", "--uses", "10"])
            .lines()
            .last()
            .unwrap()
            .to_owned()
    }

    pub fn join(&self, invite: &str) {
        self.ok(&["join", invite]);
    }

    /// This home's fingerprint, as `whoami` prints it.
    pub fn fingerprint(&self) -> String {
        self.ok(&["whoami"])
            .lines()
            .find_map(|line| line.strip_prefix("fingerprint: ").map(str::to_owned))
            .expect("whoami prints a fingerprint")
    }

    pub fn send(&self, room: &str, text: &str) {
        self.ok(&["send", room, text]);
    }

    /// Starts `listen` with extra arguments and waits until it is
    /// subscribed (it says so on stderr).
    pub fn listen(&self, room: &str, extra: &[&str]) -> Listener {
        let mut args = vec!["listen", room];
        args.extend_from_slice(extra);
        Listener::spawn(self.command(&args))
    }

    /// `listen ROOM --json` with extra arguments, waiting at most
    /// [`SUBSCRIBE_WITHIN`] for it to subscribe: a session that is wedged
    /// from the start fails the test in seconds.
    pub fn listen_json(&self, room: &str, extra: &[&str]) -> Listener {
        let mut args = vec!["listen", room, "--json"];
        args.extend_from_slice(extra);
        Listener::spawn_within(self.command(&args), SUBSCRIBE_WITHIN)
    }

    /// Connects once so the broker keeps a session (and queues) for us.
    pub fn register(&self, room: &str) {
        self.ok(&["listen", room, "--count", "0"]);
    }

    /// Registers, then listens a second at a time until this home has
    /// taken the commits up to `epoch`: `listen --count 0` takes only what
    /// has arrived by the time it is connected, and on a loaded machine
    /// the broker has often not sent the last commit and key slot yet.
    /// Only for setups: a listen shows, and so takes, any message waiting.
    pub fn catch_up(&self, room: &str, epoch: u64) {
        let deadline = Instant::now() + Duration::from_secs(20);
        self.register(room);
        loop {
            let now = self.room(room).epoch();
            if now >= epoch {
                assert_eq!(now, epoch, "{}", self.path().display());
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{} is still at epoch {now} of {room}",
                self.path().display()
            );
            self.ok(&["listen", room, "--timeout", "1"]);
        }
    }

    /// Listens a second at a time until this home's member list of `room`
    /// names everyone in `names` (presence records can come after
    /// `register` has returned), 20 s at most.
    pub fn learns_of(&self, room: &str, names: &[&str]) {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let members = self.ok(&["members", room]);
            let known = |name: &&str| {
                members
                    .lines()
                    .any(|line| line.starts_with(&format!("{name} ")))
            };
            if names.iter().all(known) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{} still knows only\n{members}",
                self.path().display()
            );
            self.ok(&["listen", room, "--timeout", "1"]);
        }
    }

    /// This member's public keys as hex, from identity.json.
    pub fn public_keys_hex(&self) -> Vec<String> {
        let json: serde_json::Value =
            serde_json::from_slice(&std::fs::read(self.path().join("identity.json")).unwrap())
                .unwrap();
        vec![
            json["signing"].as_str().unwrap().to_owned(),
            json["agreement"].as_str().unwrap().to_owned(),
        ]
    }

    /// The home's database file (all room state and history).
    pub fn database(&self) -> PathBuf {
        self.path().join("sotto.db")
    }

    /// This home's store, unlocked with its storage key (test homes have
    /// no passphrase).
    pub fn store(&self) -> sotto::store::Store {
        let store = sotto::store::Store::new(self.path());
        let text = store.storage_key_text().unwrap().unwrap();
        let key = sotto::keyfile::decode_storage_key(&text, None).unwrap();
        store.open(key).unwrap();
        store
    }

    /// The room called `name` as this home has it saved (its keys, so a
    /// test can derive topics or seal records as a member could).
    pub fn room(&self, name: &str) -> sotto::room::Room {
        self.store().room(name).unwrap()
    }

    /// Holds a write transaction on this home's database, so every sotto
    /// process of this home that must save state waits and, after its
    /// grace period (10 s), fails to save. Released when dropped.
    pub fn lock_state(&self) -> StateLock {
        let (tx, rx) = std::sync::mpsc::channel();
        let (held_tx, held_rx) = std::sync::mpsc::channel();
        let path = self.database();
        let holder = std::thread::spawn(move || {
            let conn = rusqlite::Connection::open(path).unwrap();
            conn.execute_batch("BEGIN IMMEDIATE").unwrap();
            held_tx.send(()).unwrap();
            let _ = rx.recv();
            conn.execute_batch("ROLLBACK").unwrap();
        });
        held_rx.recv().unwrap();
        StateLock {
            release: Some(tx),
            holder: Some(holder),
        }
    }

    /// Runs a command and waits at most `timeout` for it to exit (it is
    /// killed then, and `status` is `None`).
    pub fn run_within(&self, args: &[&str], timeout: Duration) -> Finished {
        Listener::start(self.command(args)).finish_within(timeout)
    }

    /// `chat` on a pipe, fed `input`.
    pub fn chat_piped(&self, args: &[&str], input: &str) -> Output {
        let mut chat = vec!["chat"];
        chat.extend_from_slice(args);
        self.run_with_stdin(&chat, input)
    }

    /// Runs a command with `input` on its standard input, to the end.
    pub fn run_with_stdin(&self, args: &[&str], input: &str) -> Output {
        let mut child = self
            .command(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(input.as_bytes())
            .unwrap();
        child.wait_with_output().unwrap()
    }

    /// `chat ROOM` on pipes, left running, to be driven line by line.
    pub fn chat_on_pipes(&self, room: &str) -> PipedChat {
        let mut child = self
            .command(&["chat", room])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stdin = child.stdin.take();
        let lines = Lines::of(child.stdout.take().unwrap());
        let stderr = ChildOutput::capture(&mut child);
        PipedChat {
            child,
            stdin,
            lines,
            stderr,
        }
    }
}

/// A running `chat` on pipes. Killed on drop, so a failing test never
/// leaves it behind.
pub struct PipedChat {
    child: Child,
    stdin: Option<ChildStdin>,
    lines: Lines,
    stderr: ChildOutput,
}

impl PipedChat {
    /// Types a line (a newline is added).
    pub fn type_line(&mut self, line: &str) {
        let stdin = self.stdin.as_mut().unwrap();
        stdin.write_all(format!("{line}\n").as_bytes()).unwrap();
        stdin.flush().unwrap();
    }

    /// Every stdout line up to and including the first containing
    /// `needle` (waiting up to [`CHAT_TIMEOUT`]).
    pub fn until(&self, needle: &str) -> Vec<String> {
        self.until_within(needle, CHAT_TIMEOUT)
    }

    /// [`PipedChat::until`] with an explicit deadline.
    pub fn until_within(&self, needle: &str, timeout: Duration) -> Vec<String> {
        self.lines.until(needle, timeout)
    }

    /// Its stderr so far.
    pub fn stderr(&self) -> String {
        self.stderr.stderr()
    }

    /// Types `/quit` and waits (10 s at most) for it to exit.
    pub fn quit(mut self) -> ExitStatus {
        self.type_line("/quit");
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "chat did not exit after /quit; stderr:\n{}",
                self.stderr()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for PipedChat {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A write transaction held on a home's database; see [`Home::lock_state`].
pub struct StateLock {
    release: Option<std::sync::mpsc::Sender<()>>,
    holder: Option<std::thread::JoinHandle<()>>,
}

impl Drop for StateLock {
    fn drop(&mut self) {
        drop(self.release.take());
        if let Some(holder) = self.holder.take() {
            let _ = holder.join();
        }
    }
}

impl Listener {
    /// Spawns a prepared `listen` command and waits until it is subscribed
    /// (it says so on stderr).
    pub fn spawn(command: Command) -> Self {
        Self::spawn_within(command, Duration::from_secs(15))
    }

    /// [`Listener::spawn`], waiting at most `timeout` for it to subscribe.
    pub fn spawn_within(command: Command, timeout: Duration) -> Self {
        let listener = Self::start(command);
        listener.wait_stderr("sotto: listening", timeout);
        listener
    }

    /// Spawns any prepared command with its output captured, without
    /// waiting for anything.
    pub fn start(mut command: Command) -> Self {
        let mut child = command
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let output = ChildOutput::capture(&mut child);
        Self {
            child,
            output: Some(output),
        }
    }

    /// Like [`Listener::spawn_within`], but hands its stdout to the caller
    /// (to read some of it and close it, as `| head -1` would).
    pub fn spawn_keeping_stdout(mut command: Command, timeout: Duration) -> (Self, ChildStdout) {
        let mut child = command
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let output = ChildOutput::capture(&mut child);
        let listener = Self {
            child,
            output: Some(output),
        };
        listener.wait_stderr("sotto: listening", timeout);
        (listener, stdout)
    }

    fn output(&self) -> &ChildOutput {
        self.output.as_ref().unwrap()
    }

    pub fn stdout(&self) -> String {
        self.output().stdout()
    }

    pub fn stderr(&self) -> String {
        self.output().stderr()
    }

    /// Waits for `needle` on stderr.
    pub fn wait_stderr(&self, needle: &str, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        while !self.stderr().contains(needle) {
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {needle:?} on stderr\n--- stdout ---\n{}\n--- stderr ---\n{}",
                self.stdout(),
                self.stderr()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Waits for `n` JSON lines on stdout and parses them.
    pub fn wait_json(&self, n: usize, timeout: Duration) -> Vec<serde_json::Value> {
        self.output()
            .wait_for_stdout_lines(n, timeout)
            .iter()
            .map(|line| serde_json::from_str(line).unwrap())
            .collect()
    }

    /// Waits for the process to exit; returns (success, stdout, stderr).
    pub fn finish(self) -> (bool, String, String) {
        let (status, stdout, stderr) = self.finish_with_status();
        (status.success(), stdout, stderr)
    }

    /// Waits for the process to exit; returns its status, stdout, stderr.
    pub fn finish_with_status(self) -> (ExitStatus, String, String) {
        let done = self.finish_within(Duration::from_secs(30));
        let Some(status) = done.status else {
            panic!("listen did not exit\n{}", done.describe());
        };
        (status, done.stdout, done.stderr)
    }

    /// Waits at most `timeout` for the process to exit; kills it if it
    /// has not (then `status` is `None`).
    pub fn finish_within(mut self, timeout: Duration) -> Finished {
        let deadline = Instant::now() + timeout;
        let status = loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                break Some(status);
            }
            if Instant::now() >= deadline {
                let _ = self.child.kill();
                let _ = self.child.wait();
                break None;
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        let (stdout, stderr) = self.output.take().unwrap().finish();
        Finished {
            status,
            stdout,
            stderr,
        }
    }

    /// Sends SIGINT (as Ctrl-C would).
    /// Kills it at once (SIGKILL), as a crash or a power cut would.
    pub fn kill_now(&mut self) {
        let _ = self.child.kill();
    }

    pub fn send_interrupt(&self) {
        let pid = self.child.id().to_string();
        let _ = Command::new("kill").args(["-INT", &pid]).status();
    }

    /// Stops it with SIGINT (as Ctrl-C would) and returns what it printed.
    pub fn interrupt(self) -> (bool, String, String) {
        self.send_interrupt();
        self.finish()
    }
}

impl Finished {
    /// The exit code; `None` if it hung (or died of a signal).
    pub fn code(&self) -> Option<i32> {
        self.status.and_then(|s| s.code())
    }

    /// How it ended and what it printed (the last 40 lines of each), for
    /// assertion messages.
    pub fn describe(&self) -> String {
        let how = match self.status {
            Some(status) => format!("exited with {status}"),
            None => "did not exit in time (killed)".to_owned(),
        };
        format!(
            "{how}\n--- stdout ---\n{}\n--- stderr ---\n{}",
            tail(&self.stdout, 40),
            tail(&self.stderr, 40)
        )
    }
}

/// The last `n` lines of `text`, saying how many were left out.
fn tail(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    let skipped = lines.len().saturating_sub(n);
    let kept = lines[skipped..].join("\n");
    if skipped == 0 {
        kept
    } else {
        format!("({skipped} earlier lines left out)\n{kept}")
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Parses `listen --json` output, one object a line.
pub fn json_lines(stdout: &str) -> Vec<serde_json::Value> {
    stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|_| panic!("not JSON on stdout: {l}")))
        .collect()
}

/// The texts of JSON message lines.
pub fn texts(lines: &[serde_json::Value]) -> Vec<String> {
    lines
        .iter()
        .map(|line| line["text"].as_str().unwrap().to_owned())
        .collect()
}

/// alice creates ops, bob joins it and has added himself (alice takes
/// his add the next time she connects).
pub fn two_members(broker: &str) -> (Home, Home) {
    let alice = Home::init("alice", broker);
    let bob = Home::init("bob", broker);
    bob.join(&alice.create_room("ops"));
    bob.register("ops");
    (alice, bob)
}
