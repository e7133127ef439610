//! `mqtts://` against a real Mosquitto with a TLS listener whose
//! certificate comes from a throwaway CA: trusted through `SOTTO_CA_FILE`,
//! messages flow; without it, or against a plain port, the client fails
//! with one clear line and exit code 1. A second listener that requires
//! client certificates (mutual TLS) lets members in with theirs, given by
//! environment, flag or config file, and turns away those without.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
mod home;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use common::certs::Certs;
use common::{ChildOutput, Mosquitto, MosquittoOptions};
use home::{Home, Listener, json_lines, texts};

/// How long a failing command may take to give up: it must fail at once,
/// not hang until some timeout.
const FAIL_FAST: Duration = Duration::from_secs(5);

/// A Mosquitto with its usual plain listener and a second, TLS one.
struct TlsBroker {
    broker: Mosquitto,
    tls_port: u16,
    certs: Certs,
}

impl TlsBroker {
    fn start() -> Self {
        Self::start_requiring_certificates(false)
    }

    /// With `require_client_certificates`, the TLS listener lets in only
    /// clients with a certificate signed by the test CA.
    fn start_requiring_certificates(require_client_certificates: bool) -> Self {
        let certs = Certs::generate();
        let tls_port = common::broker::free_port();
        let path = |name: &str| certs.file(name).display().to_string();
        // With `per_listener_settings false` (the default) security
        // settings such as `allow_anonymous` are global; the TLS files
        // belong to the listener they follow.
        let mut extra_config = vec![
            format!("listener {tls_port} 127.0.0.1"),
            format!("cafile {}", path("ca.pem")),
            format!("certfile {}", path("server.pem")),
            format!("keyfile {}", path("server.key")),
        ];
        if require_client_certificates {
            extra_config.push("require_certificate true".to_owned());
        }
        let broker = Mosquitto::start_with(MosquittoOptions {
            extra_config,
            ..MosquittoOptions::default()
        });
        common::wait::until_accepting("the TLS listener to accept TCP", tls_port);
        Self {
            broker,
            tls_port,
            certs,
        }
    }

    fn tls_url(&self) -> String {
        format!("mqtts://localhost:{}", self.tls_port)
    }
}

/// A command with `SOTTO_CA_FILE` set (when given).
fn command(home: &Home, args: &[&str], ca: Option<&Path>) -> Command {
    let mut cmd = home.command(args);
    if let Some(ca) = ca {
        cmd.env("SOTTO_CA_FILE", ca);
    }
    cmd
}

/// Like [`command`], for another broker address than the home's (`--broker`
/// may be given only once, so this builds the command as `Home` does).
fn command_via(home: &Home, broker: &str, args: &[&str], ca: Option<&Path>) -> Command {
    let mut cmd = Command::new(assert_cmd::cargo::cargo_bin!("sotto"));
    cmd.env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("NO_COLOR", "1")
        .arg("--home")
        .arg(home.path())
        .arg("--broker")
        .arg(broker)
        .args(args)
        .stdin(Stdio::null());
    if let Some(ca) = ca {
        cmd.env("SOTTO_CA_FILE", ca);
    }
    cmd
}

/// Runs a command, killing it if it takes longer than `limit`.
fn run(mut cmd: Command, limit: Duration) -> (ExitStatus, String, String, Duration) {
    let started = Instant::now();
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let output = ChildOutput::capture(&mut child);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if started.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            let (stdout, stderr) = output.finish();
            panic!(
                "{cmd:?} still running after {limit:?}\n--- stdout ---\n{stdout}\n--- stderr ---\n{stderr}"
            );
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let elapsed = started.elapsed();
    let (stdout, stderr) = output.finish();
    (status, stdout, stderr, elapsed)
}

/// Asserts that `cmd` fails with exit code 1 and one line on stderr, within
/// [`FAIL_FAST`]; returns that line.
fn expect_failure(what: &str, cmd: Command) -> String {
    let (status, stdout, stderr, elapsed) = run(cmd, FAIL_FAST);
    eprintln!("{what}: exit {status} after {elapsed:?}; stderr: {stderr:?}");
    assert_eq!(
        status.code(),
        Some(1),
        "{what}: expected exit code 1, got {status}\n--- stdout ---\n{stdout}\n--- stderr ---\n{stderr}"
    );
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(
        lines.len(),
        1,
        "{what}: expected one stderr line:\n{stderr}"
    );
    assert!(stdout.is_empty(), "{what}: unexpected stdout:\n{stdout}");
    lines[0].to_owned()
}

#[test]
fn messages_flow_over_mqtts_with_a_private_ca() {
    let started = Instant::now();
    let tls = TlsBroker::start();
    let ca = tls.certs.ca();
    let alice = Home::init("alice", &tls.tls_url());
    let bob = Home::init("bob", &tls.tls_url());
    bob.join(&alice.create_room("ops"));

    let listener = Listener::spawn(command(
        &bob,
        &["listen", "ops", "--json", "--count", "2", "--timeout", "20"],
        Some(&ca),
    ));
    // By host name (DNS SAN) and by address (IP SAN).
    let sends = [
        (tls.tls_url(), "hello over tls"),
        (format!("mqtts://127.0.0.1:{}", tls.tls_port), "hello by ip"),
    ];
    for (url, text) in sends {
        let cmd = command_via(&alice, &url, &["send", "ops", text], Some(&ca));
        let (status, _, stderr, elapsed) = run(cmd, Duration::from_secs(15));
        assert!(
            status.success(),
            "send via {url} failed: {status}\n{stderr}"
        );
        eprintln!("send via {url}: {elapsed:?}");
    }

    let (ok, stdout, stderr) = listener.finish();
    assert!(ok, "{stderr}");
    let lines = json_lines(&stdout);
    assert_eq!(
        texts(&lines),
        ["hello over tls", "hello by ip"],
        "{stdout}\n{stderr}"
    );
    assert_eq!(lines[0]["room"], "ops", "{stdout}");
    eprintln!("TLS round trip: {:?}", started.elapsed());
}

#[test]
fn a_broker_list_uses_tls_only_for_its_mqtts_entries() {
    let tls = TlsBroker::start();
    let ca = tls.certs.ca();
    let alice = Home::init("alice", &tls.broker.url());
    let bob = Home::init("bob", &tls.broker.url());
    bob.join(&alice.create_room("ops"));
    let listener = bob.listen("ops", &["--json", "--count", "2", "--timeout", "20"]);

    // Nothing listens on `dead`: each list falls through to its second
    // entry, which must be spoken to in its own scheme.
    let dead = common::broker::free_port();
    let lists = [
        (
            format!("mqtt://127.0.0.1:{dead},{}", tls.tls_url()),
            "plain dead, tls up",
        ),
        (
            format!("mqtts://localhost:{dead},{}", tls.broker.url()),
            "tls dead, plain up",
        ),
    ];
    for (list, text) in lists {
        let cmd = command_via(&alice, &list, &["send", "ops", text], Some(&ca));
        let (status, _, stderr, _) = run(cmd, Duration::from_secs(15));
        assert!(
            status.success(),
            "send via {list} failed: {status}\n{stderr}"
        );
    }
    let (ok, stdout, stderr) = listener.finish();
    assert!(ok, "{stderr}");
    assert_eq!(
        texts(&json_lines(&stdout)),
        ["plain dead, tls up", "tls dead, plain up"],
        "{stderr}"
    );
}

#[test]
fn an_untrusted_broker_certificate_is_refused() {
    let tls = TlsBroker::start();
    let alice = Home::init("alice", &tls.tls_url());
    alice.create_room("ops");

    // No SOTTO_CA_FILE: only the system roots, which do not know our CA.
    let line = expect_failure(
        "send without SOTTO_CA_FILE",
        command(&alice, &["send", "ops", "secret"], None),
    );
    assert!(line.starts_with("sotto: "), "{line}");
    assert!(
        line.to_lowercase().contains("certificate"),
        "the error should mention the certificate: {line}"
    );
    assert!(line.contains(&tls.tls_url()), "{line}");
    assert!(
        line.contains("SOTTO_CA_FILE"),
        "the error should say what to do: {line}"
    );
    assert!(
        !line.contains("sotto broker"),
        "wrong advice for a trust problem: {line}"
    );

    // A CA file that is not the broker's CA (here: the server's own
    // certificate, a leaf that cannot sign) is no better.
    let line = expect_failure(
        "send with the wrong SOTTO_CA_FILE",
        command(
            &alice,
            &["send", "ops", "secret"],
            Some(&tls.certs.file("server.pem")),
        ),
    );
    assert!(
        line.to_lowercase().contains("certificate"),
        "the error should mention the certificate: {line}"
    );

    // A listener fails the same way, before saying it is listening.
    let line = expect_failure(
        "listen without SOTTO_CA_FILE",
        command(&alice, &["listen", "ops", "--timeout", "5"], None),
    );
    assert!(
        line.to_lowercase().contains("certificate"),
        "the error should mention the certificate: {line}"
    );
}

#[test]
fn a_missing_or_bad_ca_file_is_reported() {
    let tls = TlsBroker::start();
    let alice = Home::init("alice", &tls.tls_url());
    alice.create_room("ops");

    let missing = tls.certs.file("no-such-ca.pem");
    let line = expect_failure(
        "send with a missing SOTTO_CA_FILE",
        command(&alice, &["send", "ops", "secret"], Some(&missing)),
    );
    assert!(line.contains("no-such-ca.pem"), "{line}");

    // A PEM file without certificates (here: a private key) is named as
    // the problem, not silently treated as an empty list of CAs.
    let key = tls.certs.file("ca.key");
    let line = expect_failure(
        "send with a key as SOTTO_CA_FILE",
        command(&alice, &["send", "ops", "secret"], Some(&key)),
    );
    assert!(
        line.contains("ca.key") && line.contains("no PEM certificate"),
        "{line}"
    );
}

#[test]
fn tls_and_plain_ports_are_not_confused() {
    let tls = TlsBroker::start();
    let ca = tls.certs.ca();
    let alice = Home::init("alice", &tls.tls_url());
    alice.create_room("ops");

    // mqtts:// to the plain listener: the TLS handshake meets MQTT.
    let plain_as_tls = format!("mqtts://localhost:{}", tls.broker.port());
    let cmd = command_via(&alice, &plain_as_tls, &["send", "ops", "secret"], Some(&ca));
    let line = expect_failure("mqtts:// to the plain port", cmd);
    assert!(line.contains(&plain_as_tls), "{line}");
    assert!(line.contains("TLS"), "{line}");

    // mqtt:// to the TLS listener: plain MQTT meets a TLS server.
    let tls_as_plain = format!("mqtt://127.0.0.1:{}", tls.tls_port);
    let cmd = command_via(&alice, &tls_as_plain, &["send", "ops", "secret"], Some(&ca));
    let line = expect_failure("mqtt:// to the TLS port", cmd);
    assert!(line.contains(&tls_as_plain), "{line}");
    assert!(
        line.contains("mqtts://"),
        "the error should suggest TLS: {line}"
    );
}

#[test]
fn members_with_client_certificates_chat_where_the_broker_requires_them() {
    let tls = TlsBroker::start_requiring_certificates(true);
    let ca = tls.certs.ca();
    let (alice_cert, alice_key) = tls.certs.client("alice");
    let (bob_cert, bob_key) = tls.certs.client("bob");

    // Alice gives hers through the environment, bob through his config
    // file (relative paths there are taken from the home).
    let alice = Home::init("alice", &tls.tls_url())
        .with_env("SOTTO_CLIENT_CERT", alice_cert.to_str().unwrap())
        .with_env("SOTTO_CLIENT_KEY", alice_key.to_str().unwrap());
    let bob = Home::init("bob", &tls.tls_url());
    std::fs::copy(&bob_cert, bob.path().join("bob.pem")).unwrap();
    std::fs::copy(&bob_key, bob.path().join("bob.key")).unwrap();
    std::fs::write(
        bob.path().join("config.toml"),
        format!(
            "ca_file = \"{}\"\nclient_cert = \"bob.pem\"\nclient_key = \"bob.key\"\n",
            ca.display()
        ),
    )
    .unwrap();
    bob.join(&alice.create_room("ops"));

    let listener = Listener::spawn(bob.command(&[
        "listen",
        "ops",
        "--json",
        "--count",
        "2",
        "--timeout",
        "20",
    ]));
    let (status, _, stderr, _) = run(
        command(
            &alice,
            &["send", "ops", "hello with a certificate"],
            Some(&ca),
        ),
        Duration::from_secs(15),
    );
    assert!(status.success(), "send failed: {status}\n{stderr}");
    assert!(!stderr.contains("warning"), "{stderr}");

    // The same with flags instead of the environment.
    let cmd = command_via(
        &alice,
        &tls.tls_url(),
        &[
            "--client-cert",
            alice_cert.to_str().unwrap(),
            "--client-key",
            alice_key.to_str().unwrap(),
            "send",
            "ops",
            "and by flag",
        ],
        Some(&ca),
    );
    let (status, _, stderr, _) = run(cmd, Duration::from_secs(15));
    assert!(status.success(), "send failed: {status}\n{stderr}");

    let (ok, stdout, stderr) = listener.finish();
    assert!(ok, "{stderr}");
    assert_eq!(
        texts(&json_lines(&stdout)),
        ["hello with a certificate", "and by flag"],
        "{stdout}\n{stderr}"
    );
}

#[test]
fn without_a_client_certificate_sotto_says_the_broker_wants_one() {
    let tls = TlsBroker::start_requiring_certificates(true);
    let ca = tls.certs.ca();
    let alice = Home::init("alice", &tls.tls_url());
    alice.create_room("ops");

    for args in [
        &["send", "ops", "secret"][..],
        &["listen", "ops", "--timeout", "5"][..],
    ] {
        let line = expect_failure(
            "connect without a client certificate",
            command(&alice, args, Some(&ca)),
        );
        assert!(line.starts_with("sotto: "), "{line}");
        assert!(line.contains("client certificate"), "{line}");
        assert!(line.contains("--client-cert"), "{line}");
        assert!(line.contains(&tls.tls_url()), "{line}");
    }

    // A certificate from a CA the broker does not know is no better.
    let stranger = Certs::generate();
    let (cert, key) = stranger.client("mallory");
    let cmd = command(&alice, &["send", "ops", "secret"], Some(&ca));
    let mut cmd = cmd;
    cmd.env("SOTTO_CLIENT_CERT", &cert)
        .env("SOTTO_CLIENT_KEY", &key);
    let line = expect_failure("connect with an unknown client certificate", cmd);
    assert!(line.contains("client certificate"), "{line}");
}

#[test]
fn client_certificate_mistakes_are_named_without_showing_the_key() {
    let tls = TlsBroker::start_requiring_certificates(true);
    let ca = tls.certs.ca();
    let (alice_cert, alice_key) = tls.certs.client("alice");
    let (_, bob_key) = tls.certs.client("bob");
    // Kept private like the key, so that giving the two files swapped
    // draws no warning about the "key" being readable.
    std::fs::set_permissions(&alice_cert, std::fs::Permissions::from_mode(0o600)).unwrap();
    let alice = Home::init("alice", &tls.tls_url());
    alice.create_room("ops");
    let key_text = std::fs::read_to_string(&alice_key).unwrap();
    let key_body: Vec<&str> = key_text
        .lines()
        .filter(|line| !line.starts_with("-----"))
        .collect();

    let with = |cert: &Path, key: &Path| {
        let mut cmd = command(&alice, &["send", "ops", "secret"], Some(&ca));
        cmd.env("SOTTO_CLIENT_CERT", cert)
            .env("SOTTO_CLIENT_KEY", key);
        cmd
    };
    let cases = [
        // Someone else's key.
        (with(&alice_cert, &bob_key), "does not belong"),
        // Certificate and key swapped.
        (with(&alice_key, &alice_cert), "no PEM certificate"),
        // A missing key file.
        (with(&alice_cert, &tls.certs.file("gone.key")), "gone.key"),
    ];
    for (cmd, expected) in cases {
        let line = expect_failure(expected, cmd);
        assert!(line.contains(expected), "{line}");
        for body in &key_body {
            assert!(!line.contains(body), "key material in: {line}");
        }
    }

    // A certificate without its key is a mistake, not a silent no-client-auth.
    let mut cmd = command(&alice, &["send", "ops", "secret"], Some(&ca));
    cmd.env("SOTTO_CLIENT_CERT", &alice_cert);
    let line = expect_failure("a certificate without a key", cmd);
    assert!(line.contains("--client-key"), "{line}");

    // A key others may read still works, with a warning.
    std::fs::set_permissions(&alice_key, std::fs::Permissions::from_mode(0o644)).unwrap();
    let (status, _, stderr, _) = run(with(&alice_cert, &alice_key), Duration::from_secs(15));
    assert!(status.success(), "{stderr}");
    assert!(
        stderr.contains("other users may read") && stderr.contains("chmod 600"),
        "{stderr}"
    );
}
