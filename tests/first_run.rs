//! The first run of `sotto chat` on a machine with no broker: it creates
//! the identity and a room, starts the built-in broker at the default
//! address, and a second member can talk to it there.
//!
//! The default address is 127.0.0.1:1883, where a developer machine may
//! already run Mosquitto, so the scenario runs in a fresh network
//! namespace (`unshare -n`, as root or with user namespaces) whose loopback
//! has nothing listening.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::process::Command;

const SCRIPT: &str = r#"
set -eu
ip link set lo up
S="$SOTTO_BIN"
A="$WORK/alice"; B="$WORK/bob"
mkfifo "$WORK/input"
"$S" --home "$A" chat < "$WORK/input" > "$WORK/alice.out" 2>&1 &
chat=$!
exec 3> "$WORK/input"
printf 'alice\nops\n' >&3
# Wait for the invite, then for the built-in broker.
for i in $(seq 100); do
  invite=$(grep -m1 '^sotto1' "$WORK/alice.out" || true)
  [ -n "$invite" ] && grep -q "You are in ops" "$WORK/alice.out" && break
  sleep 0.1
done
"$S" --home "$B" init --name bob > /dev/null 2>&1
"$S" --home "$B" join "$invite" > /dev/null
"$S" --home "$B" send ops "hello over the built-in broker"
for i in $(seq 100); do
  grep -q "hello over the built-in broker" "$WORK/alice.out" && break
  sleep 0.1
done
# bob stays connected: quitting would stop the broker under him, which
# alice is told before she leaves.
"$S" --home "$B" listen ops > /dev/null 2>&1 &
listener=$!
sleep 1
echo /quit >&3
for i in $(seq 100); do
  grep -q "still connected through this built-in broker" "$WORK/alice.out" && break
  sleep 0.1
done
echo /quit >&3
wait $chat
kill $listener 2>/dev/null || true
"#;

#[test]
fn first_chat_without_a_broker_falls_back_to_the_built_in_one() {
    let work = tempfile::tempdir().unwrap();
    let status = Command::new("unshare")
        .args(["-n", "bash", "-c", SCRIPT])
        .env("SOTTO_BIN", assert_cmd::cargo::cargo_bin!("sotto"))
        .env("WORK", work.path())
        .env("NO_COLOR", "1")
        .env_remove("SOTTO_HOME")
        .env_remove("SOTTO_BROKER")
        .status()
        .unwrap_or_else(|err| {
            panic!("cannot run `unshare -n` ({err}): this test needs util-linux and root or user namespaces")
        });
    let out = std::fs::read_to_string(work.path().join("alice.out")).unwrap_or_default();
    assert!(status.success(), "scenario failed ({status}):\n{out}");
    assert!(out.contains("Created identity alice"), "{out}");
    assert!(out.contains("starting sotto's built-in broker"), "{out}");
    // An unverified sender carries the first group of its fingerprint.
    assert!(has_bobs_tagged_line(&out), "{out}");
    assert!(
        out.contains("still connected through this built-in broker; quitting stops it"),
        "{out}"
    );
}

/// Whether `out` has bob's line: `bob·DDDDD (unverified): hello…`.
fn has_bobs_tagged_line(out: &str) -> bool {
    out.lines().any(|line| {
        line.split_once("bob·").is_some_and(|(_, rest)| {
            rest.get(..5)
                .is_some_and(|group| group.bytes().all(|b| b.is_ascii_digit()))
                && rest[5..].starts_with(" (unverified): hello over the built-in broker")
        })
    })
}

mod common;
mod home;

use common::Mosquitto as Broker;
use home::Home;
use rexpect::session::{Options, spawn_with_options};

#[test]
fn a_mistyped_invite_at_the_first_prompt_is_asked_for_again() {
    let broker = Broker::start();
    let alice = Home::init("alice", &broker.url());
    let invite = alice.create_room("ops");
    let bob = Home::empty(&broker.url());
    let mut chat = bob.chat_on_pipes("ops");
    chat.until("pick the name others will see");
    // A name with a control character is refused and asked again.
    chat.type_line("b\u{7}ob");
    chat.until("cannot use");
    chat.type_line("bob");
    chat.until("paste an invite someone gave you");
    // Garbage after "sotto1", a changed character, a wrong prefix.
    let mut typo = invite.clone().into_bytes();
    let at = typo.len() / 2;
    typo[at] = if typo[at] == b'q' { b'p' } else { b'q' };
    let typo = String::from_utf8(typo).unwrap();
    let wrong_prefix = format!("sotto2{}", &invite["sotto1".len()..]);
    for bad in ["sotto1garbage!!", typo.as_str(), wrong_prefix.as_str()] {
        chat.type_line(bad);
        let said = chat.until("paste it again");
        let said = said.last().unwrap();
        assert!(
            said.contains("mistyped") || said.contains("not a sotto invite"),
            "{said}"
        );
        // The invite is a secret: never echoed back.
        assert!(!said.contains(&invite[10..40]), "{said}");
    }
    chat.type_line(&invite);
    chat.until("You are in ops as bob");
    assert!(chat.quit().success());
    assert!(bob.path().join("identity.json").exists());
    assert!(bob.ok(&["rooms"]).contains("ops"));
}

#[test]
fn commands_in_a_home_without_identity_say_so_before_anything_else() {
    // No broker listens there: a broker error would show if it came first.
    let home = Home::empty("mqtt://127.0.0.1:1");
    for args in [
        &["whoami"][..],
        &["rooms"],
        &["members", "ops"],
        &["send", "ops", "hi"],
        &["listen", "ops", "--count", "1"],
        &["verify", "ops", "bob", "12345"],
        &["room", "invite", "ops"],
        &["join", "sotto1notaninvite"],
        &["kick", "ops", "bob"],
        &["passphrase"],
        &["history", "ops"],
    ] {
        let out = home.run(args);
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        assert_eq!(
            String::from_utf8_lossy(&out.stderr),
            "sotto: no identity yet: run `sotto init --name NAME`\n",
            "{args:?}"
        );
    }
}

#[test]
fn a_broken_home_is_described_without_saying_the_cause_twice() {
    let home = Home::init("alice", "mqtt://127.0.0.1:1");
    let identity = home.path().join("identity.json");
    std::fs::remove_file(&identity).unwrap();
    std::fs::create_dir(&identity).unwrap();
    let out = home.run(&["whoami"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("identity.json"), "{stderr}");
    // "could not read X: Is a directory (os error 21)", once.
    let cause = stderr.rsplit(": ").next().unwrap().trim();
    assert_eq!(stderr.matches(cause).count(), 1, "{stderr}");
}

#[test]
fn a_wrong_passphrase_is_asked_again_three_times() {
    let home = Home::empty("mqtt://127.0.0.1:1").with_env("SOTTO_PASSPHRASE", "right one");
    home.ok(&["init", "--name", "alice"]);
    let plain = Home::empty("mqtt://127.0.0.1:1");
    let options = || Options {
        timeout_ms: Some(30_000),
        strip_ansi_escape_codes: true,
    };
    let rooms = |home: &Home| {
        // The same home without SOTTO_PASSPHRASE, on a terminal.
        let mut cmd = plain.command_with_home(home.path(), &["rooms"]);
        cmd.stdin(std::process::Stdio::inherit());
        spawn_with_options(cmd, options()).unwrap()
    };

    // Wrong, then right: it goes on.
    let mut session = rooms(&home);
    session
        .exp_string("Passphrase for your sotto identity:")
        .unwrap();
    session.send_line("wrong").unwrap();
    session
        .exp_string("that passphrase is wrong; try again")
        .unwrap();
    session
        .exp_string("Passphrase for your sotto identity:")
        .unwrap();
    session.send_line("right one").unwrap();
    session.exp_string("No rooms yet").unwrap();
    session.exp_eof().unwrap();

    // Wrong three times: one sentence, exit 1.
    let mut session = rooms(&home);
    for _ in 0..3 {
        session
            .exp_string("Passphrase for your sotto identity:")
            .unwrap();
        session.send_line("wrong").unwrap();
    }
    session
        .exp_string("the passphrase was wrong 3 times")
        .unwrap();
    session.exp_eof().unwrap();
    let status = session.process.wait().unwrap();
    assert!(
        matches!(status, rexpect::process::WaitStatus::Exited(_, 1)),
        "{status:?}"
    );
}

#[test]
fn the_passphrase_changes_without_a_terminal() {
    let home = Home::empty("mqtt://127.0.0.1:1").with_env("SOTTO_PASSPHRASE", "first");
    home.ok(&["init", "--name", "alice"]);
    let changed = home.with_env("SOTTO_NEW_PASSPHRASE", "second");
    changed.ok(&["passphrase"]);
    let plain = Home::empty("mqtt://127.0.0.1:1");
    let with = |pass: &str| {
        plain
            .command_with_home(changed.path(), &["rooms"])
            .env("SOTTO_PASSPHRASE", pass)
            .output()
            .unwrap()
    };
    assert!(with("second").status.success());
    let old = with("first");
    assert_eq!(old.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&old.stderr)
            .contains("passphrase is wrong (it comes from SOTTO_PASSPHRASE)")
    );
    // Without SOTTO_NEW_PASSPHRASE and no terminal: it says which to set.
    let out = plain
        .command_with_home(changed.path(), &["passphrase"])
        .env("SOTTO_PASSPHRASE", "second")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("set SOTTO_NEW_PASSPHRASE"));
}

#[test]
fn the_first_chat_on_a_terminal_offers_a_passphrase() {
    let broker = Broker::start();
    let home = Home::empty(&broker.url());
    let mut cmd = home.command(&["chat"]);
    cmd.stdin(std::process::Stdio::inherit())
        .env("TERM", "xterm");
    let options = Options {
        timeout_ms: Some(30_000),
        strip_ansi_escape_codes: true,
    };
    let mut chat = spawn_with_options(cmd, options).unwrap();
    chat.exp_string("Your name: ").unwrap();
    chat.send("dana\r").unwrap();
    chat.flush().unwrap();
    chat.exp_string("with a passphrase").unwrap();
    chat.send("y\r").unwrap();
    chat.flush().unwrap();
    chat.exp_string("New passphrase:").unwrap();
    chat.send_line("one").unwrap();
    chat.exp_string("Repeat passphrase:").unwrap();
    chat.send_line("two").unwrap();
    chat.exp_string("the two passphrases differ; type it again")
        .unwrap();
    chat.exp_string("New passphrase:").unwrap();
    chat.send_line("sesame").unwrap();
    chat.exp_string("Repeat passphrase:").unwrap();
    chat.send_line("sesame").unwrap();
    chat.exp_string("protected by your passphrase").unwrap();
    chat.exp_string("Room name [general]: ").unwrap();
    chat.send("\r").unwrap();
    chat.flush().unwrap();
    chat.exp_string("You are in general as dana").unwrap();
    chat.send("/quit\r").unwrap();
    chat.flush().unwrap();
    chat.exp_eof().unwrap();
    let key = std::fs::read_to_string(home.path().join("identity.key")).unwrap();
    assert!(sotto::keyfile::is_protected(&key).unwrap());
    let opened = home
        .command(&["rooms"])
        .env("SOTTO_PASSPHRASE", "sesame")
        .output()
        .unwrap();
    assert!(opened.status.success());
    let refused = home.run(&["rooms"]);
    assert_eq!(refused.status.code(), Some(1));
}

/// The same at a keyboard: in a pseudo terminal, a mistyped invite at
/// the first prompt is asked for again, then the right one opens the room.
#[test]
fn a_mistyped_invite_in_a_terminal_is_asked_for_again() {
    let broker = Broker::start();
    let alice = Home::init("alice", &broker.url());
    let invite = alice.create_room("ops");
    let bob = Home::empty(&broker.url());
    let mut chat = home::pty::spawn_chat(&bob, "ops");
    chat.exp_string("Your name: ").unwrap();
    home::pty::type_keys(&mut chat, "bob\r");
    chat.exp_string("with a passphrase").unwrap();
    home::pty::type_keys(&mut chat, "\r");
    chat.exp_string("paste an invite someone gave you").unwrap();
    let typo = format!("{}x{}", &invite[..30], &invite[31..]);
    home::pty::type_keys(&mut chat, &format!("{typo}\r"));
    chat.exp_string("paste it again").unwrap();
    home::pty::type_keys(&mut chat, &format!("{invite}\r"));
    chat.exp_string("You are in ops as bob").unwrap();
    home::pty::type_keys(&mut chat, "/quit\r");
    chat.exp_eof().unwrap();
    assert!(bob.ok(&["rooms"]).contains("ops"));
}
