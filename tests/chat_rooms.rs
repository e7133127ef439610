//! Every joined room live in one `chat`, in a pseudo terminal against a
//! private Mosquitto: messages in the room on screen print, the others
//! count as unread (mentions apart) until the user switches there; and
//! `listen` and `send` from the same home work alongside it.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
mod home;

use std::io::{BufRead, BufReader, Write};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixStream;
use std::time::Duration;

use common::Mosquitto as Broker;
use home::Home;
use home::pty::{spawn_chat, type_keys};

/// alice and bob share ops and dev, and the broker keeps a session for
/// each of them in both.
fn two_rooms(broker: &Broker) -> (Home, Home) {
    let alice = Home::init("alice", &broker.url());
    let bob = Home::init("bob", &broker.url());
    for room in ["ops", "dev"] {
        bob.join(&alice.create_room(room));
        bob.register(room);
        alice.register(room);
    }
    (alice, bob)
}

#[test]
fn two_rooms_are_live_at_once_with_an_unread_count() {
    let broker = Broker::start();
    let (alice, bob) = two_rooms(&broker);
    let mut chat = spawn_chat(&bob, "ops");
    chat.exp_string("You are in ops as bob").unwrap();
    chat.exp_string("Also live: dev").unwrap();
    chat.exp_string("ops> ").unwrap();

    // In the other room: a notice once, then only the count grows.
    alice.send("dev", "first in dev");
    chat.exp_string("new in dev: a message from alice").unwrap();
    alice.send("dev", "second in dev");
    // A mention is shown in full wherever it is said.
    alice.send("dev", "bob, look at this");
    chat.exp_string("mentioned you:").unwrap();
    chat.exp_string("[dev]").unwrap();
    // In the room on screen: printed as it comes.
    alice.send("ops", "hello in ops");
    chat.exp_string("alice: hello in ops").unwrap();

    type_keys(&mut chat, "/rooms\r");
    chat.exp_string("UNREAD").unwrap();
    let (table, _) = chat.exp_regex(r"dev +3 \(1 for you\)").unwrap();
    assert!(!table.contains("first in dev"), "{table}");

    // Switching shows what was missed, with no new connection.
    // Old epochs' broker sessions are drained and deleted in the
    // background after the joins (connections of their own): wait for
    // that to finish, so what is counted is what /switch does.
    let connections_before = settled_connections(&broker);
    type_keys(&mut chat, "/switch dev\r");
    chat.exp_string("alice: first in dev").unwrap();
    chat.exp_string("alice: second in dev").unwrap();
    chat.exp_string("You are in dev as bob").unwrap();
    type_keys(&mut chat, "/rooms\r");
    chat.exp_regex(r"\* dev +2").unwrap();
    let connections_after = broker.log().matches("New client connected").count();
    assert_eq!(connections_before, connections_after, "{}", broker.log());

    type_keys(&mut chat, "/quit\r");
    chat.exp_string("Leaving ops, dev.").unwrap();
    chat.exp_eof().unwrap();
}

/// How many clients have connected to `broker`, once none has for two
/// seconds (at most 20 s).
fn settled_connections(broker: &Broker) -> usize {
    let count = || broker.log().matches("New client connected").count();
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let mut seen = count();
    loop {
        std::thread::sleep(Duration::from_secs(2));
        let now = count();
        if now == seen || std::time::Instant::now() > deadline {
            return now;
        }
        seen = now;
    }
}

#[test]
fn listen_and_send_work_while_chat_holds_the_rooms() {
    let broker = Broker::start();
    let (alice, bob) = two_rooms(&broker);
    let mut chat = spawn_chat(&bob, "ops");
    chat.exp_string("Also live: dev").unwrap();
    chat.exp_string("ops> ").unwrap();

    // listen attaches to the chat that holds the room.
    let listener = bob.listen_json("dev", &["--count", "1", "--timeout", "30"]);
    listener.wait_stderr("through this home's chat", Duration::from_secs(10));
    alice.send("dev", "for the bot");
    let (ok, stdout, stderr) = listener.finish();
    assert!(ok, "{stderr}");
    let message: serde_json::Value = serde_json::from_str(stdout.trim()).unwrap();
    assert_eq!(message["text"], "for the bot");
    assert_eq!(message["from"], "alice");
    chat.exp_string("new in dev: a message from alice").unwrap();

    // The socket is as private as the home, but what comes through it is
    // still checked: garbage gets a refusal and the chat goes on.
    let socket = bob.path().join("chat.sock");
    let mode = std::fs::metadata(&socket).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    let mut raw = UnixStream::connect(&socket).unwrap();
    raw.write_all(b"\x00\xffnot json\n").unwrap();
    let mut reply = String::new();
    BufReader::new(&raw).read_line(&mut reply).unwrap();
    assert!(reply.contains("did not understand"), "{reply}");

    // send from another process of this home shows in the open chat.
    bob.send("ops", "sent by a script");
    chat.exp_string("bob: sent by a script").unwrap();
    let alice_hears = alice.listen_json("ops", &["--count", "1", "--timeout", "30"]);
    let (ok, stdout, stderr) = alice_hears.finish();
    assert!(ok, "{stderr}");
    assert!(stdout.contains("sent by a script"), "{stdout}");

    type_keys(&mut chat, "/quit\r");
    chat.exp_eof().unwrap();
    assert!(!socket.exists(), "chat.sock outlives the chat");
}

#[test]
fn quitting_with_a_line_the_broker_has_not_confirmed_warns_first() {
    let mut broker = Broker::start();
    let (alice, bob) = two_rooms(&broker);
    let mut chat = bob.chat_on_pipes("ops");
    chat.until("You are in ops as bob");
    broker.stop();
    chat.until("lost the connection");
    chat.type_line("said while the broker is away");
    chat.type_line("/quit");
    chat.until("1 line is not yet confirmed by the broker");
    // Back: the line goes out on the same session and is confirmed.
    broker.start_again();
    chat.until("connected to");
    let alice_hears = alice.listen_json("ops", &["--count", "1", "--timeout", "30"]);
    let (ok, stdout, stderr) = alice_hears.finish();
    assert!(ok, "{stderr}");
    assert!(stdout.contains("said while the broker is away"), "{stdout}");
    let stderr = chat.stderr();
    assert!(chat.quit().success(), "{stderr}");
}

#[test]
fn what_waited_at_the_broker_is_marked_as_backlog() {
    let broker = Broker::start();
    let (alice, bob) = two_rooms(&broker);
    alice.send("ops", "said while bob was away");
    let chat = bob.chat_on_pipes("ops");
    let seen = chat.until("said while bob was away");
    assert!(seen.last().unwrap().contains("(backlog)"), "{seen:#?}");
    alice.send("ops", "said while bob is here");
    let seen = chat.until("said while bob is here");
    assert!(!seen.last().unwrap().contains("(backlog)"), "{seen:#?}");
    assert!(chat.quit().success());
}
