//! What operators and packagers use: shell completions, the man page,
//! `--version`, help with examples, the config file and `sotto config`,
//! and the broker password prompt.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
mod home;

use std::path::Path;
use std::process::{Command, Output, Stdio};

use common::{Mosquitto, MosquittoOptions};
use home::{Home, json_lines, texts};
use rexpect::session::{Options, spawn_with_options};

/// The slash commands `chat --help` must list (the chat's own table is
/// checked against the help in the binary's unit tests; this is the
/// user's view).
const SLASH_COMMANDS: &[&str] = &[
    "/join", "/switch", "/rooms", "/who", "/invite", "/verify", "/accept", "/kick", "/me", "/help",
    "/quit",
];

/// The binary with a clean environment (nothing from the developer's
/// shell) and `home` as its home.
fn sotto(home: &Path) -> Command {
    let mut cmd = Command::new(assert_cmd::cargo::cargo_bin!("sotto"));
    cmd.env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("SOTTO_HOME", home)
        .stdin(Stdio::null());
    cmd
}

fn run(mut cmd: Command) -> (Output, String, String) {
    let out = cmd.output().unwrap();
    let stdout = String::from_utf8(out.stdout.clone()).unwrap();
    let stderr = String::from_utf8(out.stderr.clone()).unwrap();
    (out, stdout, stderr)
}

fn stdout_of(args: &[&str]) -> String {
    let home = tempfile::tempdir().unwrap();
    let mut cmd = sotto(home.path());
    cmd.args(args);
    let (out, stdout, stderr) = run(cmd);
    assert!(out.status.success(), "sotto {args:?}: {stderr}");
    stdout
}

/// The row of `sotto config` for `setting`, split on runs of spaces.
fn config_row(output: &str, setting: &str) -> Vec<String> {
    let line = output
        .lines()
        .find(|line| line.split("  ").next() == Some(setting))
        .unwrap_or_else(|| panic!("no {setting} line in:\n{output}"));
    line.split("  ")
        .map(str::trim)
        .filter(|cell| !cell.is_empty())
        .map(str::to_owned)
        .collect()
}

#[test]
fn completions_for_each_shell_know_the_commands() {
    for shell in ["bash", "zsh", "fish"] {
        let script = stdout_of(&["completions", shell]);
        for word in ["kick", "room", "completions", "client-cert"] {
            assert!(script.contains(word), "{shell} completions lack {word}");
        }
    }
    // An unknown shell is a usage error.
    let home = tempfile::tempdir().unwrap();
    let mut cmd = sotto(home.path());
    cmd.args(["completions", "tcsh"]);
    let (out, _, stderr) = run(cmd);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
}

#[test]
fn completions_and_man_page_need_no_home_or_config() {
    // A broken config file must not stop a packager's build machine.
    let home = tempfile::tempdir().unwrap();
    std::fs::write(home.path().join("config.toml"), "nonsense = [").unwrap();
    for args in [&["completions", "bash"][..], &["man"][..]] {
        let mut cmd = sotto(home.path());
        cmd.args(args);
        let (out, stdout, stderr) = run(cmd);
        assert!(out.status.success(), "{args:?}: {stderr}");
        assert!(!stdout.is_empty());
    }
}

#[test]
fn man_page_is_roff_with_every_command() {
    let page = stdout_of(&["man"]);
    assert!(page.contains(".TH"), "{page}");
    for command in ["init", "room", "send", "listen", "chat", "kick", "config"] {
        assert!(page.contains(command), "man page lacks {command}");
    }
    assert!(page.contains("wire protocol 1"), "{page}");
}

#[test]
fn version_names_the_protocol() {
    let version = stdout_of(&["--version"]);
    let expected = format!("sotto {} (wire protocol 1", env!("CARGO_PKG_VERSION"));
    assert!(version.starts_with(&expected), "{version}");
    assert!(version.contains("sotto/v1"), "{version}");
}

#[test]
fn chat_help_lists_every_slash_command() {
    for flag in ["--help", "-h"] {
        let help = stdout_of(&["chat", flag]);
        for command in SLASH_COMMANDS {
            assert!(
                help.contains(command),
                "chat {flag} lacks {command}:\n{help}"
            );
        }
        assert!(help.contains("Example:\n  sotto chat"), "{help}");
    }
}

#[test]
fn every_command_help_has_an_example() {
    let commands = [
        "init",
        "whoami",
        "passphrase",
        "room",
        "join",
        "rooms",
        "members",
        "verify",
        "accept",
        "send",
        "kick",
        "leave",
        "admin",
        "listen",
        "history",
        "check",
        "forget",
        "chat",
        "bench",
        "broker",
        "config",
        "completions",
        "man",
    ];
    for command in commands {
        let help = stdout_of(&[command, "--help"]);
        assert!(
            help.contains(&format!("Example:\n  sotto {command}")),
            "{command} --help has no example:\n{help}"
        );
    }
    let help = stdout_of(&["room", "keep", "--help"]);
    assert!(help.contains("Example:\n  sotto room keep"), "{help}");
}

#[test]
fn config_shows_each_value_with_its_source_and_never_the_password() {
    let home = tempfile::tempdir().unwrap();
    let file = home.path().join("config.toml");
    std::fs::write(
        &file,
        "broker = \"mqtts://one.example:8883,mqtts://two.example:8883\"\n\
         username = \"from-file\"\n\
         ca_file = \"ca.pem\"\n\
         colours = \"on\"\n\
         keep_history = \"30d\"\n",
    )
    .unwrap();
    let password = "correct horse battery staple";
    let from_file = format!("file {}", file.display());

    // The file alone.
    let mut cmd = sotto(home.path());
    cmd.arg("config").env("SOTTO_PASSWORD", password);
    let (out, stdout, stderr) = run(cmd);
    assert!(out.status.success(), "{stderr}");
    assert_eq!(
        config_row(&stdout, "broker"),
        [
            "broker",
            "mqtts://one.example:8883,mqtts://two.example:8883",
            &from_file
        ]
    );
    assert_eq!(
        config_row(&stdout, "username"),
        ["username", "from-file", &from_file]
    );
    let ca = home.path().join("ca.pem").display().to_string();
    assert_eq!(
        config_row(&stdout, "ca_file"),
        ["ca_file", ca.as_str(), &from_file]
    );
    assert_eq!(
        config_row(&stdout, "colours"),
        ["colours", "on", &from_file]
    );
    assert_eq!(
        config_row(&stdout, "keep_history"),
        ["keep_history", "30d", &from_file]
    );
    assert_eq!(
        config_row(&stdout, "password"),
        ["password", "set (from SOTTO_PASSWORD)"]
    );
    assert_eq!(
        config_row(&stdout, "home"),
        [
            "home",
            home.path().display().to_string().as_str(),
            "env SOTTO_HOME"
        ]
    );
    assert_eq!(config_row(&stdout, "mqtt"), ["mqtt", "auto", "default"]);
    assert!(!stdout.contains(password) && !stderr.contains(password));

    // The environment beats the file; a flag beats both.
    let mut cmd = sotto(home.path());
    cmd.args(["--broker", "mqtt://flag.example:1883", "config"])
        .env("SOTTO_PASSWORD", password)
        .env("SOTTO_BROKER", "mqtt://env.example:1883")
        .env("SOTTO_USERNAME", "from-env")
        .env("SOTTO_CA_FILE", "/env/ca.pem")
        .env("SOTTO_MQTT", "3.1.1")
        .env("NO_COLOR", "1");
    let (out, stdout, stderr) = run(cmd);
    assert!(out.status.success(), "{stderr}");
    assert_eq!(
        config_row(&stdout, "broker"),
        ["broker", "mqtt://flag.example:1883", "flag --broker"]
    );
    assert_eq!(
        config_row(&stdout, "username"),
        ["username", "from-env", "env SOTTO_USERNAME"]
    );
    assert_eq!(
        config_row(&stdout, "ca_file"),
        ["ca_file", "/env/ca.pem", "env SOTTO_CA_FILE"]
    );
    assert_eq!(
        config_row(&stdout, "colours"),
        ["colours", "off", "env NO_COLOR"]
    );
    assert_eq!(
        config_row(&stdout, "mqtt"),
        ["mqtt", "3.1.1", "env SOTTO_MQTT"]
    );
    // Untouched by flag or environment: still the file's.
    assert_eq!(
        config_row(&stdout, "keep_history"),
        ["keep_history", "30d", &from_file]
    );
    assert!(!stdout.contains(password) && !stderr.contains(password));

    // Without a file, the defaults, and no password.
    let empty = tempfile::tempdir().unwrap();
    let mut cmd = sotto(empty.path());
    cmd.args(["--colour", "on", "config"]);
    let (out, stdout, _) = run(cmd);
    assert!(out.status.success());
    assert_eq!(
        config_row(&stdout, "broker"),
        ["broker", "mqtt://127.0.0.1:1883", "default"]
    );
    assert_eq!(
        config_row(&stdout, "colours"),
        ["colours", "on", "flag --colour"]
    );
    assert_eq!(config_row(&stdout, "password"), ["password", "not set"]);
    assert_eq!(config_row(&stdout, "config file")[2], "not present");
}

#[test]
fn config_file_mistakes_are_one_sentence_and_exit_1() {
    let cases = [
        ("brokr = \"mqtt://x:1883\"\n", "unknown key `brokr`"),
        ("colours = 1\n", "`colours` must be"),
        ("keep_history = \"forever\"\n", "`keep_history` must be"),
        ("password = \"hunter2\"\n", "SOTTO_PASSWORD"),
        ("broker = \"mqtt://x:1883\n", "not valid TOML"),
    ];
    for (text, expected) in cases {
        let home = tempfile::tempdir().unwrap();
        let file = home.path().join("config.toml");
        std::fs::write(&file, text).unwrap();
        // Every command that uses settings reads the file, not only `config`.
        for args in [&["config"][..], &["rooms"][..], &["whoami"][..]] {
            let mut cmd = sotto(home.path());
            cmd.args(args);
            let (out, stdout, stderr) = run(cmd);
            assert_eq!(out.status.code(), Some(1), "{text:?} {args:?}: {stderr}");
            assert!(stdout.is_empty(), "{stdout}");
            assert_eq!(stderr.lines().count(), 1, "{stderr}");
            assert!(stderr.contains(expected), "{text:?}: {stderr}");
            assert!(
                stderr.contains(&file.display().to_string()),
                "{text:?}: {stderr}"
            );
            assert!(!stderr.contains("hunter2"), "{stderr}");
        }
    }
}

#[test]
fn the_config_files_broker_is_the_one_used() {
    let broker = Mosquitto::start();
    // Bob runs these without --broker: only his config file knows the way.
    let alice = Home::init("alice", &broker.url());
    let bob = Home::init("bob", &broker.url());
    bob.join(&alice.create_room("ops"));
    std::fs::write(
        bob.path().join("config.toml"),
        format!("broker = \"{}\"\nkeep_history = 2\n", broker.url()),
    )
    .unwrap();
    let mut listen = sotto(bob.path());
    listen.args(["listen", "ops", "--json", "--count", "3", "--timeout", "20"]);
    let listener = home::Listener::spawn(listen);
    for text in ["one", "two", "three"] {
        alice.send("ops", text);
    }
    let (ok, stdout, stderr) = listener.finish();
    assert!(ok, "{stderr}");
    assert_eq!(
        texts(&json_lines(&stdout)),
        ["one", "two", "three"],
        "{stderr}"
    );

    // keep_history = 2: the room keeps only the newest two.
    let mut history = sotto(bob.path());
    history.args(["history", "ops", "--json"]);
    let (out, stdout, stderr) = run(history);
    assert!(out.status.success(), "{stderr}");
    assert_eq!(texts(&json_lines(&stdout)), ["two", "three"], "{stdout}");

    // A room's own setting still wins over the file's default.
    bob.ok(&["room", "keep", "ops", "all"]);
    alice.send("ops", "four");
    let mut listen = sotto(bob.path());
    listen.args(["listen", "ops", "--json", "--count", "1", "--timeout", "20"]);
    let (ok, _, stderr) = home::Listener::spawn(listen).finish();
    assert!(ok, "{stderr}");
    let mut history = sotto(bob.path());
    history.args(["history", "ops", "--json"]);
    let (_, stdout, _) = run(history);
    assert_eq!(
        texts(&json_lines(&stdout)),
        ["two", "three", "four"],
        "{stdout}"
    );
}

/// A Mosquitto that lets in only `alice` with `password`.
fn broker_with_password(password: &str) -> (Mosquitto, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("passwords");
    let status = Command::new("mosquitto_passwd")
        .args(["-c", "-b"])
        .arg(&file)
        .args(["alice", password])
        .status()
        .expect("mosquitto_passwd (comes with mosquitto) is needed for this test");
    assert!(status.success());
    // mosquitto may drop to its own user before reading the file.
    std::fs::set_permissions(
        dir.path(),
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    std::fs::set_permissions(&file, std::os::unix::fs::PermissionsExt::from_mode(0o644)).unwrap();
    let broker = Mosquitto::start_with(MosquittoOptions {
        extra_config: vec![
            "allow_anonymous false".to_owned(),
            format!("password_file {}", file.display()),
        ],
        ..MosquittoOptions::default()
    });
    (broker, dir)
}

#[test]
fn the_broker_password_is_asked_for_on_a_terminal_without_echo() {
    let password = "pa55-w0rd-typed";
    let (broker, _passwords) = broker_with_password(password);
    let alice = Home::init("alice", &broker.url());
    alice.create_room("ops");

    let mut cmd = alice.command(&["--username", "alice", "send", "ops", "typed in"]);
    cmd.stdin(Stdio::inherit());
    let options = Options {
        timeout_ms: Some(20_000),
        strip_ansi_escape_codes: true,
    };
    let mut pty = spawn_with_options(cmd, options).unwrap();
    pty.exp_string("Broker password for alice").unwrap();
    pty.send_line(password).unwrap();
    let rest = pty.exp_eof().unwrap();
    assert!(
        !rest.contains(password),
        "the password was echoed: {rest:?}"
    );
    let status = pty.process.wait().unwrap();
    assert!(
        matches!(status, rexpect::process::WaitStatus::Exited(_, 0)),
        "{status:?}: {rest}"
    );

    // Without a terminal nothing is asked: an empty password, as before,
    // which this broker refuses.
    let out = alice.run(&["--username", "alice", "send", "ops", "piped"]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("refused"), "{stderr}");
    assert!(stderr.contains("SOTTO_PASSWORD"), "{stderr}");
    assert!(!stderr.contains("Broker password"), "{stderr}");

    // SOTTO_PASSWORD skips the question.
    let mut cmd = alice.command(&["--username", "alice", "send", "ops", "from env"]);
    cmd.env("SOTTO_PASSWORD", password);
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
