//! A sotto user for integration tests: a temporary home and the real
//! binary, pointed at a private broker. Every command clears the SOTTO_*
//! environment so nothing leaks in from the developer's shell.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use crate::common::ChildOutput;

/// One member: a home directory and a broker address.
pub struct Home {
    dir: tempfile::TempDir,
    broker: String,
    /// `--mqtt` for every command: "5", "3.1.1", or None for the default.
    mqtt: Option<String>,
}

/// A running `sotto listen`.
pub struct Listener {
    child: Child,
    output: Option<ChildOutput>,
}

impl Home {
    /// A fresh identity called `name`, using `broker`.
    pub fn init(name: &str, broker: &str) -> Self {
        Self::init_with_mqtt(name, broker, None)
    }

    /// Like [`Home::init`], with every command forced to one MQTT version
    /// ("5" or "3.1.1") through `SOTTO_MQTT`.
    pub fn init_with_mqtt(name: &str, broker: &str, mqtt: Option<&str>) -> Self {
        let home = Self {
            dir: tempfile::tempdir().unwrap(),
            broker: broker.to_owned(),
            mqtt: mqtt.map(str::to_owned),
        };
        home.ok(&["init", "--name", name]);
        home
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(assert_cmd::cargo::cargo_bin!("sotto"));
        cmd.env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("NO_COLOR", "1");
        if let Some(mqtt) = &self.mqtt {
            cmd.env("SOTTO_MQTT", mqtt);
        }
        cmd.arg("--home")
            .arg(self.path())
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
    pub fn create_room(&self, room: &str) -> String {
        self.ok(&["room", "create", room])
            .lines()
            .last()
            .unwrap()
            .to_owned()
    }

    pub fn join(&self, invite: &str) {
        self.ok(&["join", invite]);
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

    /// Connects once so the broker keeps a session (and queues) for us.
    pub fn register(&self, room: &str) {
        self.ok(&["listen", room, "--count", "0"]);
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

    pub fn state_file(&self, room_hex: &str) -> PathBuf {
        self.path().join("rooms").join(format!("{room_hex}.json"))
    }
}

impl Listener {
    /// Spawns a prepared `listen` command and waits until it is subscribed
    /// (it says so on stderr).
    pub fn spawn(mut command: Command) -> Self {
        let mut child = command
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let output = ChildOutput::capture(&mut child);
        let listener = Self {
            child,
            output: Some(output),
        };
        listener.wait_stderr("sotto: listening", Duration::from_secs(15));
        listener
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
    pub fn finish_with_status(mut self) -> (std::process::ExitStatus, String, String) {
        let deadline = Instant::now() + Duration::from_secs(30);
        let status = loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                break status;
            }
            assert!(Instant::now() < deadline, "listen did not exit");
            std::thread::sleep(Duration::from_millis(20));
        };
        let (stdout, stderr) = self.output.take().unwrap().finish();
        (status, stdout, stderr)
    }

    /// Stops it with SIGINT (as Ctrl-C would) and returns what it printed.
    pub fn interrupt(self) -> (bool, String, String) {
        let pid = self.child.id().to_string();
        let _ = Command::new("kill").args(["-INT", &pid]).status();
        self.finish()
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
