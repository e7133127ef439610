//! `mqtts://` against a real Mosquitto with a TLS listener whose
//! certificate comes from a throwaway CA: trusted through `SOTTO_CA_FILE`,
//! messages flow; without it, or against a plain port, the client fails
//! with one clear line and exit code 1.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
mod home;

use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use common::{ChildOutput, Mosquitto, MosquittoOptions, wait_until};
use home::{Home, Listener, json_lines, texts};

const OPENSSL: &str = "/usr/bin/openssl";
const OPENSSL_MISSING: &str = "the openssl command-line tool is needed to make test certificates: install it with `apt-get install -y openssl` (Debian/Ubuntu) or `brew install openssl`, or set SOTTO_TEST_OPENSSL to its path";

/// How long a failing command may take to give up: it must fail at once,
/// not hang until some timeout.
const FAIL_FAST: Duration = Duration::from_secs(5);

/// The OpenSSL config for the throwaway CA and the server certificate.
const OPENSSL_CONFIG: &str = "\
[req]
distinguished_name = dn
prompt = no

[dn]
CN = sotto test

[ca_ext]
basicConstraints = critical,CA:TRUE
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash

[server_ext]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = DNS:localhost,IP:127.0.0.1
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
";

/// A throwaway CA and a `localhost` / `127.0.0.1` certificate it signed.
struct Certs {
    dir: tempfile::TempDir,
}

impl Certs {
    fn generate() -> Self {
        let dir = tempfile::Builder::new()
            .prefix("sotto-tls-")
            .tempdir()
            .unwrap();
        let certs = Self { dir };
        std::fs::write(certs.file("openssl.cnf"), OPENSSL_CONFIG).unwrap();
        let ec = "-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes";
        certs.openssl(&format!(
            "req -x509 -config openssl.cnf -extensions ca_ext {ec} -days 2 \
             -keyout ca.key -out ca.pem -subj /CN=sotto-test-CA"
        ));
        certs.openssl(&format!(
            "req -new -config openssl.cnf {ec} \
             -keyout server.key -out server.csr -subj /CN=localhost"
        ));
        certs.openssl(
            "x509 -req -in server.csr -days 2 -CA ca.pem -CAkey ca.key -set_serial 2 \
             -extfile openssl.cnf -extensions server_ext -out server.pem",
        );
        certs
    }

    fn file(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn ca(&self) -> PathBuf {
        self.file("ca.pem")
    }

    /// Runs openssl in the certificate directory; `args` is split on spaces.
    fn openssl(&self, args: &str) {
        let binary = std::env::var("SOTTO_TEST_OPENSSL").unwrap_or_else(|_| OPENSSL.to_owned());
        let args: Vec<&str> = args.split_whitespace().collect();
        let out = Command::new(&binary)
            .args(&args)
            .current_dir(self.dir.path())
            .stdin(Stdio::null())
            .output()
            .unwrap_or_else(|err| panic!("{OPENSSL_MISSING} (cannot run {binary}: {err})"));
        assert!(
            out.status.success(),
            "openssl {args:?} failed ({}):\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// A Mosquitto with its usual plain listener and a second, TLS one.
struct TlsBroker {
    broker: Mosquitto,
    tls_port: u16,
    certs: Certs,
}

impl TlsBroker {
    fn start() -> Self {
        let certs = Certs::generate();
        let tls_port = common::broker::free_port();
        let path = |name: &str| certs.file(name).display().to_string();
        // With `per_listener_settings false` (the default) security
        // settings such as `allow_anonymous` are global; the TLS files
        // belong to the listener they follow.
        let broker = Mosquitto::start_with(MosquittoOptions {
            extra_config: vec![
                format!("listener {tls_port} 127.0.0.1"),
                format!("cafile {}", path("ca.pem")),
                format!("certfile {}", path("server.pem")),
                format!("keyfile {}", path("server.key")),
            ],
            ..MosquittoOptions::default()
        });
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, tls_port));
        wait_until(
            "the TLS listener to accept TCP",
            Duration::from_secs(10),
            || TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok(),
        );
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
