//! The real `sotto` binary, run for every local command: output, files,
//! error sentences and exit codes.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use assert_cmd::Command;
use predicates::prelude::*;
use tempfile::TempDir;

/// A sotto home in a temp dir, with every environment variable that could
/// leak in from the developer's shell removed.
struct Home {
    dir: TempDir,
}

impl Home {
    fn new() -> Self {
        Self {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn sotto(&self) -> Command {
        let mut cmd = Command::cargo_bin("sotto").unwrap();
        cmd.env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .arg("--home")
            .arg(self.path());
        cmd
    }

    fn init(name: &str) -> Self {
        let home = Self::new();
        home.sotto()
            .args(["init", "--name", name])
            .assert()
            .success();
        home
    }

    fn stdout(&self, args: &[&str]) -> String {
        let out = self.sotto().args(args).assert().success();
        String::from_utf8(out.get_output().stdout.clone()).unwrap()
    }

    fn create_room(&self, name: &str) -> String {
        let out = self.stdout(&["room", "create", name]);
        out.lines().last().unwrap().to_owned()
    }
}

#[test]
fn init_prints_name_and_fingerprint_and_writes_a_private_key_file() {
    let home = Home::new();
    home.sotto()
        .args(["init", "--name", "alice"])
        .assert()
        .success()
        .stdout(predicate::str::contains("alice"))
        .stdout(predicate::str::is_match(r"fingerprint: (\d{5} ){5}\d{5}\n").unwrap());
    let key = home.path().join("identity.key");
    let mode = std::fs::metadata(&key).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    assert!(
        std::fs::read_to_string(&key)
            .unwrap()
            .contains("SOTTO-SECRET-KEY-1")
    );
}

#[test]
fn init_refuses_to_overwrite_without_force() {
    let home = Home::init("alice");
    let before = std::fs::read(home.path().join("identity.key")).unwrap();
    home.sotto()
        .args(["init", "--name", "alice2"])
        .assert()
        .code(1)
        .stderr(
            predicate::str::contains("already exists").and(predicate::str::contains("--force")),
        );
    assert_eq!(
        std::fs::read(home.path().join("identity.key")).unwrap(),
        before
    );
    home.sotto()
        .args(["init", "--name", "alice2", "--force"])
        .assert()
        .success();
    assert_ne!(
        std::fs::read(home.path().join("identity.key")).unwrap(),
        before
    );
    assert!(home.stdout(&["whoami"]).contains("alice2"));
}

#[test]
fn init_rejects_bad_names() {
    Home::new()
        .sotto()
        .args(["init", "--name", "evil\u{1b}[2J"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("U+001B, an invisible, control"));
}

#[test]
fn whoami_shows_the_same_fingerprint_as_init() {
    let home = Home::new();
    let init = String::from_utf8(
        home.sotto()
            .args(["init", "--name", "alice"])
            .assert()
            .success()
            .get_output()
            .stdout
            .clone(),
    )
    .unwrap();
    let fingerprint = init
        .lines()
        .find(|l| l.starts_with("fingerprint:"))
        .unwrap();
    let whoami = home.stdout(&["whoami"]);
    assert!(whoami.contains("name: alice"));
    assert!(whoami.contains(fingerprint));
}

#[test]
fn commands_without_an_identity_say_to_run_init() {
    let home = Home::new();
    for args in [
        &["whoami"][..],
        &["rooms"],
        &["room", "create", "ops"],
        &["members", "ops"],
    ] {
        home.sotto()
            .args(args)
            .assert()
            .code(1)
            .stderr(predicate::str::contains("sotto init --name NAME"));
    }
}

#[test]
fn a_passphrase_protects_the_key_and_a_wrong_one_is_one_clear_sentence() {
    let home = Home::new();
    home.sotto()
        .env("SOTTO_PASSPHRASE", "correct horse battery")
        .args(["init", "--name", "alice", "--passphrase"])
        .assert()
        .success()
        .stderr(predicate::str::contains("protected by your passphrase"));
    let text = std::fs::read_to_string(home.path().join("identity.key")).unwrap();
    // The public part is readable without the passphrase.
    assert!(home.stdout(&["whoami"]).contains("alice"));
    let wrong = home
        .sotto()
        .env("SOTTO_PASSPHRASE", "wrong horse")
        .env("SOTTO_NEW_PASSPHRASE", "x")
        .arg("passphrase")
        .assert()
        .code(1);
    let stderr = String::from_utf8(wrong.get_output().stderr.clone()).unwrap();
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("passphrase is wrong"), "{stderr}");
    assert!(!stderr.contains("wrong horse"));
    assert_eq!(
        std::fs::read_to_string(home.path().join("identity.key")).unwrap(),
        text
    );
    // Without a terminal and without the variable, sotto says what to set.
    home.sotto()
        .arg("passphrase")
        .assert()
        .code(1)
        .stderr(predicate::str::contains("SOTTO_PASSPHRASE"));
    // The right one works, and can change it.
    home.sotto()
        .env("SOTTO_PASSPHRASE", "correct horse battery")
        .env("SOTTO_NEW_PASSPHRASE", "new one")
        .arg("passphrase")
        .assert()
        .success();
    home.sotto()
        .env("SOTTO_PASSPHRASE", "new one")
        .args(["passphrase", "--remove"])
        .assert()
        .success();
    let plain = std::fs::read_to_string(home.path().join("identity.key")).unwrap();
    assert!(sotto::keyfile::decode(&plain, "alice".into(), None).is_ok());
}

#[test]
fn room_create_prints_the_invite_alone_on_the_last_line() {
    let home = Home::init("alice");
    let out = home
        .sotto()
        .args(["room", "create", "ops"])
        .assert()
        .success();
    let stdout = String::from_utf8(out.get_output().stdout.clone()).unwrap();
    let stderr = String::from_utf8(out.get_output().stderr.clone()).unwrap();
    let last = stdout.lines().last().unwrap();
    assert!(
        last.starts_with("sotto1") && !last.contains(' '),
        "{stdout}"
    );
    assert!(
        stderr.contains("SECRET"),
        "the CLI must say the invite is a secret"
    );
    home.sotto()
        .args(["room", "create", "ops"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("already have a room"));
}

#[test]
fn room_invite_prints_an_invite_for_the_same_room() {
    let home = Home::init("alice");
    let first = home.create_room("ops");
    let again = home.stdout(&["room", "invite", "ops"]);
    let again = again.lines().last().unwrap();
    let a = sotto::invite::Invite::decode(&first).unwrap();
    let b = sotto::invite::Invite::decode(again).unwrap();
    assert_eq!(
        (a.room_id, a.epoch, a.epoch_key),
        (b.room_id, b.epoch, b.epoch_key)
    );
    home.sotto()
        .args(["room", "invite", "nope"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("no room called \"nope\""));
}

#[test]
fn another_home_joins_with_the_invite_and_both_see_the_room() {
    let alice = Home::init("alice");
    let bob = Home::init("bob");
    let invite = alice.create_room("ops");
    bob.sotto()
        .args(["join", &invite])
        .assert()
        .success()
        .stdout(predicate::str::contains("Joined room ops"));
    for home in [&alice, &bob] {
        let rooms = home.stdout(&["rooms"]);
        assert!(rooms.starts_with("ROOM"), "{rooms}");
        assert!(rooms.lines().any(|l| l.starts_with("ops")), "{rooms}");
    }
    let members = bob.stdout(&["members", "ops"]);
    assert!(
        members.contains("bob") && members.contains("you"),
        "{members}"
    );
    // Joining again is harmless.
    bob.sotto()
        .args(["join", &invite])
        .assert()
        .success()
        .stdout(predicate::str::contains("already in this room"));
}

#[test]
fn a_mistyped_invite_exits_1_and_says_it_is_mistyped() {
    let alice = Home::init("alice");
    let bob = Home::init("bob");
    let invite = alice.create_room("ops");
    let mut typo: Vec<char> = invite.chars().collect();
    let at = typo.len() / 2;
    typo[at] = if typo[at] == 'q' { 'p' } else { 'q' };
    let typo: String = typo.into_iter().collect();
    let out = bob.sotto().args(["join", &typo]).assert().code(1);
    let stderr = String::from_utf8(out.get_output().stderr.clone()).unwrap();
    assert!(stderr.contains("mistyped"), "{stderr}");
    assert_eq!(stderr.lines().count(), 1);
    assert!(bob.stdout(&["rooms"]).is_empty());
    bob.sotto()
        .args(["join", "hello-world"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("not a sotto invite"));
}

#[test]
fn join_with_a_taken_name_needs_as() {
    let alice = Home::init("alice");
    let bob = Home::init("bob");
    let theirs = alice.create_room("ops");
    bob.create_room("ops");
    bob.sotto()
        .args(["join", &theirs])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("--as"));
    bob.sotto()
        .args(["join", &theirs, "--as", "alice-ops"])
        .assert()
        .success()
        .stdout(predicate::str::contains("alice-ops"));
    assert_eq!(bob.stdout(&["rooms"]).lines().count(), 3);
}

#[test]
fn verify_checks_the_fingerprint() {
    let alice = Home::init("alice");
    alice.create_room("ops");
    let whoami = alice.stdout(&["whoami"]);
    let fingerprint = whoami
        .lines()
        .last()
        .unwrap()
        .trim_start_matches("fingerprint: ");
    alice
        .sotto()
        .args([
            "verify",
            "ops",
            "alice",
            "11111 22222 33333 44444 55555 66666",
        ])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("does not match"));
    alice
        .sotto()
        .args(["verify", "ops", "carol", "1"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("no member called"));
    // Unquoted groups are accepted too.
    let mut args = vec!["verify", "ops", "alice"];
    args.extend(fingerprint.split(' '));
    alice
        .sotto()
        .args(&args)
        .assert()
        .success()
        .stdout(predicate::str::contains("Verified alice"));
}

#[test]
fn members_of_an_unknown_room_is_an_error() {
    Home::init("alice")
        .sotto()
        .args(["members", "nope"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("sotto rooms"));
}

#[test]
fn usage_errors_exit_2() {
    let home = Home::new();
    home.sotto().assert().code(2);
    home.sotto().arg("room").assert().code(2);
    home.sotto().args(["init"]).assert().code(2);
    home.sotto().args(["frobnicate"]).assert().code(2);
    home.sotto().args(["--help"]).assert().success();
}

/// A malformed broker address is a usage error, from the flag or from
/// the environment, and says what a good one looks like.
#[test]
fn a_malformed_broker_address_is_a_usage_error() {
    let home = Home::init("alice");
    let says = predicate::str::contains("is not a broker address; use mqtt://HOST:PORT");
    (home.sotto())
        .args(["--broker", "ftp://example.org", "rooms"])
        .assert()
        .code(2)
        .stderr(says.clone());
    (home.sotto())
        .env(
            "SOTTO_BROKER",
            "mqtt://a.example:1883,,mqtt://b.example:1883",
        )
        .args(["send", "ops", "hi"])
        .assert()
        .code(2)
        .stderr(says);
    // A good list is taken as it is written.
    (home.sotto())
        .args([
            "--broker",
            "mqtt://a.example:1883, mqtts://b.example",
            "config",
        ])
        .assert()
        .success()
        .stdout(predicate::str::contains(
            "mqtt://a.example:1883, mqtts://b.example",
        ));
}

#[test]
fn sotto_home_from_the_environment_is_used() {
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = Command::cargo_bin("sotto").unwrap();
    cmd.env_clear()
        .env("SOTTO_HOME", dir.path())
        .args(["init", "--name", "envy"])
        .assert()
        .success();
    assert!(dir.path().join("identity.key").exists());
}
