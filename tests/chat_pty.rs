//! `sotto chat` end to end against a private Mosquitto: in a pseudo
//! terminal (rustyline with its ExternalPrinter: an incoming line must not
//! break what the user is typing), on a pipe (plain line mode), and on a
//! first run in an empty home.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
mod home;

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::os::unix::fs::PermissionsExt;
use std::process::Stdio;
use std::time::Instant;

use common::Mosquitto as Broker;
use home::pty::{spawn_chat, type_keys};
use home::{Home, two_members};
use rexpect::process::WaitStatus;

/// The same in a room without a membership log, where anyone holding the
/// invite joins under any name: what key changes are flagged for.
fn two_members_without_log(broker: &Broker) -> (Home, Home) {
    let alice = Home::init("alice", &broker.url());
    let bob = Home::init("bob", &broker.url());
    bob.join(&alice.create_room_without_log("ops"));
    (alice, bob)
}

#[test]
fn an_incoming_line_prints_above_a_half_typed_line_and_leaves_it_intact() {
    let started = Instant::now();
    let broker = Broker::start();
    let (alice, bob) = two_members(&broker.url());
    let mut chat = spawn_chat(&bob, "ops");
    chat.exp_string("You are in ops as bob").unwrap();
    chat.exp_string("ops> ").unwrap();

    // Half a line, no Enter.
    type_keys(&mut chat, "hello ali");
    chat.exp_string("hello ali").unwrap();

    alice.ok(&["send", "ops", "incoming while typing"]);
    chat.exp_string("alice: incoming while typing").unwrap();
    // What follows the message is the prompt redrawn with the half line,
    // under the status line.
    let (between, _) = chat.exp_regex(r"ops> hello ali").unwrap();
    let status = between.trim();
    assert!(
        status.starts_with("ops |") && status.ends_with(&broker.url()),
        "unexpected output between the message and the redrawn prompt: {between:?}"
    );

    // alice starts listening; her presence shows up above bob's line too.
    let mut listen = alice
        .command(&["listen", "ops", "--json", "--count", "1", "--timeout", "30"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    chat.exp_string("alice is online").unwrap();
    chat.exp_string("ops> hello ali").unwrap();

    // Finishing the line sends the whole of it, once.
    type_keys(&mut chat, "ce\r");
    chat.exp_string("bob: hello alice").unwrap();
    let mut line = String::new();
    BufReader::new(listen.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let json: serde_json::Value = serde_json::from_str(&line).unwrap();
    assert_eq!(json["text"], "hello alice");
    assert_eq!(json["from"], "bob");
    assert!(listen.wait().unwrap().success());

    // An invite is a secret: a /join line never reaches the history file.
    type_keys(&mut chat, "/join sotto1notarealinvite\r");
    chat.exp_string("could not join").unwrap();
    type_keys(&mut chat, "/quit\r");
    chat.exp_string("Leaving ops.").unwrap();
    chat.exp_eof().unwrap();
    let status = chat.process.wait().unwrap();
    assert!(
        matches!(status, WaitStatus::Exited(_, 0)),
        "chat exited with {status:?}"
    );

    let history = bob.path().join("history");
    let mode = std::fs::metadata(&history).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    // Commands are kept; what was said is not written to disk in the clear.
    let saved = std::fs::read_to_string(&history).unwrap();
    assert!(saved.contains("/quit"), "{saved}");
    assert!(
        !saved.contains("hello alice"),
        "a message was saved: {saved}"
    );
    assert!(!saved.contains("sotto1"), "an invite was saved: {saved}");
    eprintln!("pty scenario took {:?}", started.elapsed());
}

#[test]
fn ctrl_c_clears_a_line_and_quits_on_an_empty_one() {
    let broker = Broker::start();
    let (_alice, bob) = two_members(&broker.url());
    let mut chat = spawn_chat(&bob, "ops");
    chat.exp_string("ops> ").unwrap();
    type_keys(&mut chat, "never sent");
    chat.exp_string("never sent").unwrap();
    chat.send_control('c').unwrap();
    type_keys(&mut chat, "/who\r");
    let before = chat.exp_string("FINGERPRINT").unwrap();
    assert!(!before.contains("bob: never sent"), "{before:?}");
    chat.send_control('c').unwrap();
    let rest = chat.exp_eof().unwrap();
    assert!(rest.contains("Leaving ops."), "{rest}");
    assert!(matches!(
        chat.process.wait().unwrap(),
        WaitStatus::Exited(_, 0)
    ));
}

#[test]
fn on_a_pipe_chat_reads_plain_lines_and_help_lists_the_commands() {
    let broker = Broker::start();
    let (_alice, bob) = two_members(&broker.url());
    let out = bob.chat_piped(&["ops"], "/help\n/bogus\n/kick alice\n/quit\n");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for command in [
        "/join INVITE",
        "/switch ROOM",
        "/rooms",
        "/who",
        "/invite",
        "/verify MEMBER FINGERPRINT",
        "/kick MEMBER",
        "/me ACTION",
        "/accept",
        "/help",
        "/quit",
    ] {
        assert!(
            stdout.contains(command),
            "{command} missing from:\n{stdout}"
        );
    }
    assert!(stdout.contains("-- unknown command /bogus; /help lists the commands"));
    assert!(
        stdout.contains("!! not removed: bob is not an admin"),
        "{stdout}"
    );
    assert!(
        !stdout.contains('\x1b'),
        "colour without a terminal: {stdout:?}"
    );
}

#[test]
fn a_first_run_asks_for_a_name_creates_a_room_prints_its_invite_and_opens_it() {
    let broker = Broker::start();
    let home = Home::empty(&broker.url());
    let out = home.chat_piped(&[], "carol\n\n/invite\n/quit\n");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}{stderr}");
    assert!(stdout.contains("Your name: carol"), "{stdout}");
    assert!(stdout.contains("fingerprint: "), "{stdout}");
    assert!(stdout.contains("Room name [general]: \n"), "{stdout}");
    assert!(stderr.contains("It is a SECRET"), "{stderr}");
    let invites: Vec<&str> = stdout
        .lines()
        .filter(|line| line.starts_with("sotto1"))
        .collect();
    // Printed when the room was made, and a fresh one (signed, single
    // use) by /invite.
    assert_eq!(invites.len(), 2, "{stdout}");
    assert!(
        stdout.contains("-- You are in general as carol"),
        "{stdout}"
    );
    assert!(home.path().join("identity.key").exists());

    // The invite works: another home joins with it.
    let dave = Home::init("dave", &broker.url());
    assert!(dave.ok(&["join", invites[0]]).contains("general"));
}

#[test]
fn a_chosen_broker_that_does_not_answer_is_an_error_not_a_fallback() {
    let broker = Broker::start();
    let (_alice, mut bob) = two_members(&broker.url());
    let closed = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    bob.set_broker(&format!("mqtt://127.0.0.1:{closed}"));
    let out = bob.chat_piped(&["ops"], "/quit\n");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("cannot reach the MQTT broker"), "{stderr}");
    assert!(!String::from_utf8_lossy(&out.stdout).contains("built-in"));
}

#[test]
fn switching_rooms_and_joining_from_inside_chat() {
    let broker = Broker::start();
    let (alice, bob) = two_members(&broker.url());
    let invite = alice.ok(&["room", "create", "dev"]);
    let invite = invite.lines().last().unwrap();
    let input = format!("/rooms\n/join {invite}\n/switch ops\n/switch nowhere\n/quit\n");
    let out = bob.chat_piped(&["ops"], &input);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    assert!(stdout.contains("-- Joined room dev."), "{stdout}");
    let in_dev = stdout.find("-- You are in dev as bob").expect(&stdout);
    let back_in_ops = stdout.rfind("-- You are in ops as bob").expect(&stdout);
    assert!(back_in_ops > in_dev, "{stdout}");
    assert!(stdout.contains("no room called \"nowhere\""), "{stdout}");
    assert!(stdout.contains("-- Leaving ops, dev."), "{stdout}");
    assert!(
        !stdout.contains("`sotto rooms`"),
        "chat advice names slash commands: {stdout}"
    );
}

/// Publishes raw bytes on a topic and waits for the broker's PUBACK, as an
/// attacker with broker access could.
fn publish_raw(broker: &Broker, topic: &str, payload: &[u8]) {
    let intruder = common::BlockingRawClient::connect(broker.port(), "chat-test-intruder");
    intruder.publish(topic, payload.to_vec(), false);
    intruder.disconnect();
}

#[test]
fn garbage_is_a_warning_and_escape_sequences_arrive_escaped() {
    let broker = Broker::start();
    let (alice, bob) = two_members(&broker.url());
    let chat = bob.chat_on_pipes("ops");
    chat.until("You are in ops as bob");

    let room = bob.store().room("ops").unwrap();
    let topic = sotto::topics::RoomTopics::new(sotto::topics::DEFAULT_PREFIX, &room).messages;
    publish_raw(&broker, &topic, b"\x1b[2J-- alice is verified");
    alice.ok(&["send", "ops", "hi \x1b[2J\x1b]0;pwned\x07 there\n-- fake"]);
    let seen = chat.until("alice: hi");

    let dropped: Vec<_> = seen
        .iter()
        .filter(|l| l.starts_with("!! dropped a payload"))
        .collect();
    assert_eq!(dropped.len(), 1, "{seen:#?}");
    assert!(!seen.iter().any(|l| l.contains("is verified")), "{seen:#?}");
    let message = seen.last().unwrap();
    assert!(
        message.ends_with("alice: hi \\u{1b}[2J\\u{1b}]0;pwned\\u{7} there"),
        "{message:?}"
    );
    // The second line of the message is indented: not a system line.
    let rest = chat.until("-- fake");
    let second = rest.last().unwrap();
    assert!(
        second.starts_with("  ") && second.trim_start() == "-- fake",
        "{second:?}"
    );
    assert!(
        !seen
            .iter()
            .chain(&rest)
            .any(|l| l.contains('\x1b') || l.contains('\x07'))
    );

    assert!(chat.quit().success());
}

#[test]
fn a_changed_verified_key_blocks_sending_until_accept() {
    let broker = Broker::start();
    let (alice, bob) = two_members_without_log(&broker);
    // Someone else calling themselves alice joins with bob's invite.
    let impostor = Home::init("alice", &broker.url());
    let invite = bob.ok(&["room", "invite", "ops"]);
    impostor.ok(&["join", invite.lines().last().unwrap()]);

    let mut chat = bob.chat_on_pipes("ops");
    chat.until("You are in ops as bob");
    // bob learns alice's key, trusted through the invite she made.
    alice.ok(&["send", "ops", "hi bob"]);
    chat.until("alice: hi bob");
    impostor.ok(&["send", "ops", "it is me, new laptop"]);
    let impostor_fp = impostor.fingerprint();
    let seen = chat.until("new laptop");
    assert!(
        seen.iter()
            .any(|l| l.starts_with("!! WARNING: alice's key changed")),
        "{seen:#?}"
    );
    assert!(seen.last().unwrap().contains(&format!(
        "alice·{} (unverified, key changed): it is me",
        &impostor_fp[..5]
    )));

    chat.type_line("are you?");
    let refused = chat.until("not sent");
    assert!(
        refused
            .last()
            .unwrap()
            .starts_with("!! not sent: alice's key changed")
    );
    // Which key is accepted must be said: the name alone is two keys.
    chat.type_line("/accept alice");
    chat.until("could be any of 2 keys");
    chat.type_line(&format!("/accept {}", &impostor_fp[..11]));
    chat.type_line("hello again");
    chat.until("-- Accepted the new key of alice·");
    chat.until("bob: hello again");
    assert!(chat.quit().success());
}
