//! Delivery through a real Mosquitto: messages sent while a member is away
//! arrive when they come back, in order and once; a broker restart
//! mid-conversation loses nothing and duplicates nothing.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
mod home;

use std::time::Duration;

use common::Mosquitto;
use home::{Home, json_lines, texts};

#[test]
fn fifty_messages_sent_while_away_arrive_in_order_once() {
    let broker = Mosquitto::start();
    let alice = Home::init("alice", &broker.url());
    let bob = Home::init("bob", &broker.url());
    bob.join(&alice.create_room("ops"));
    bob.register("ops");

    let sent: Vec<String> = (1..=50).map(|i| format!("message {i}")).collect();
    for text in &sent {
        alice.send("ops", text);
    }

    let listener = bob.listen("ops", &["--json", "--count", "50", "--timeout", "30"]);
    let (ok, stdout, stderr) = listener.finish();
    assert!(ok, "{stderr}");
    let lines = json_lines(&stdout);
    assert_eq!(texts(&lines), sent, "{stderr}");
    assert!(!stderr.contains("missed"), "{stderr}");

    // Coming back again shows nothing twice.
    let again = bob.listen("ops", &["--json", "--timeout", "1"]);
    let (ok, stdout, stderr) = again.finish();
    assert!(ok && stdout.is_empty(), "{stdout}\n{stderr}");
}

#[test]
fn a_broker_restart_mid_conversation_loses_and_repeats_nothing() {
    let mut broker = Mosquitto::start();
    let alice = Home::init("alice", &broker.url());
    let bob = Home::init("bob", &broker.url());
    bob.join(&alice.create_room("ops"));

    let listener = bob.listen("ops", &["--json", "--count", "20", "--timeout", "60"]);
    for i in 1..=10 {
        alice.send("ops", &format!("before {i}"));
    }
    listener.wait_json(10, Duration::from_secs(15));

    broker.restart();
    listener.wait_stderr("lost the connection", Duration::from_secs(15));
    listener.wait_stderr("reconnected", Duration::from_secs(30));
    for i in 1..=10 {
        alice.send("ops", &format!("after {i}"));
    }

    let (ok, stdout, stderr) = listener.finish();
    assert!(ok, "{stderr}");
    let lines = json_lines(&stdout);
    let expected: Vec<String> = (1..=10)
        .map(|i| format!("before {i}"))
        .chain((1..=10).map(|i| format!("after {i}")))
        .collect();
    assert_eq!(texts(&lines), expected, "{stderr}");
}

#[test]
fn messages_queued_across_a_broker_restart_are_delivered() {
    // Bob is away; alice's messages wait in the broker, which restarts
    // (persistence on) before bob comes back.
    let mut broker = Mosquitto::start();
    let alice = Home::init("alice", &broker.url());
    let bob = Home::init("bob", &broker.url());
    bob.join(&alice.create_room("ops"));
    bob.register("ops");
    for i in 1..=5 {
        alice.send("ops", &format!("queued {i}"));
    }
    broker.restart();
    let listener = bob.listen("ops", &["--json", "--count", "5", "--timeout", "30"]);
    let (ok, stdout, stderr) = listener.finish();
    assert!(ok, "{stderr}");
    let lines = json_lines(&stdout);
    let expected: Vec<String> = (1..=5).map(|i| format!("queued {i}")).collect();
    assert_eq!(texts(&lines), expected);
}

#[test]
fn gaps_from_a_full_broker_queue_are_reported() {
    let broker = Mosquitto::start_with(common::MosquittoOptions {
        extra_config: vec!["max_queued_messages 5".into()],
        ..Default::default()
    });
    let alice = Home::init("alice", &broker.url());
    let bob = Home::init("bob", &broker.url());
    bob.join(&alice.create_room("ops"));
    // Bob has seen one message, so a jump in alice's numbers is a gap.
    let listener = bob.listen("ops", &["--json", "--count", "1"]);
    alice.send("ops", "first");
    listener.finish();
    for i in 1..=12 {
        alice.send("ops", &format!("while away {i}"));
    }
    let listener = bob.listen("ops", &["--json", "--timeout", "2"]);
    let (ok, stdout, stderr) = listener.finish();
    assert!(ok, "{stderr}");
    // Mosquitto keeps the oldest few (five slots, some taken by presence
    // records) and drops the newest beyond that; the next message bob sees
    // after them tells him how many he missed.
    let kept = texts(&json_lines(&stdout));
    let expected: Vec<String> = (1..=kept.len())
        .map(|i| format!("while away {i}"))
        .collect();
    assert!(
        (3..=5).contains(&kept.len()) && kept == expected,
        "{stdout}"
    );
    alice.send("ops", "after the gap");
    let listener = bob.listen("ops", &["--json", "--count", "1", "--timeout", "10"]);
    let (_, stdout, stderr) = listener.finish();
    assert!(stdout.contains("after the gap"), "{stdout}");
    let missed = format!("missed {} messages from alice", 12 - kept.len());
    assert!(stderr.contains(&missed), "expected {missed:?} in {stderr}");
}

#[test]
fn a_listener_that_stops_early_leaves_the_rest_queued() {
    // Regression: with automatic acks, messages that had reached the
    // client but not been shown were acknowledged and lost when it exited.
    let broker = Mosquitto::start();
    let alice = Home::init("alice", &broker.url());
    let bob = Home::init("bob", &broker.url());
    bob.join(&alice.create_room("ops"));
    bob.register("ops");
    for i in 1..=3 {
        alice.send("ops", &format!("queued {i}"));
    }
    let mut seen = Vec::new();
    for _ in 0..3 {
        let listener = bob.listen("ops", &["--json", "--count", "1", "--timeout", "20"]);
        let (ok, stdout, stderr) = listener.finish();
        assert!(ok, "{stderr}");
        assert!(
            !stderr.contains("dropped"),
            "a redelivery was shown as a warning: {stderr}"
        );
        seen.extend(texts(&json_lines(&stdout)));
    }
    assert_eq!(seen, ["queued 1", "queued 2", "queued 3"]);
}

/// Upgrading from sotto 0.1, whose client id was derived from public data
/// and the home path: what the old session queued is shown, then the old
/// session is deleted so it does not queue forever.
#[test]
fn an_old_client_ids_queue_is_drained_then_deleted() {
    let broker = Mosquitto::start();
    let alice = Home::init("alice", &broker.url());
    let bob = Home::init("bob", &broker.url());
    // sotto 0.1 made rooms without a membership log.
    bob.join(&alice.create_room_without_log("ops"));
    // A home from sotto 0.1 has no client secret and no record of the
    // client ids it used.
    std::fs::remove_file(bob.path().join("client.key")).unwrap();
    std::fs::remove_dir_all(bob.path().join("sessions")).unwrap();

    // The session sotto 0.1 would have made for bob, from his public key,
    // the room id and the home path as typed.
    let room = bob.room("ops");
    let public: sotto::identity::PublicIdentity =
        serde_json::from_slice(&std::fs::read(bob.path().join("identity.json")).unwrap()).unwrap();
    let mut id = [0u8; 12];
    sotto::crypto::derive_into(
        &public.signing,
        &room.id().0,
        "sotto/v1/client-id",
        bob.path().to_string_lossy().as_bytes(),
        &mut id,
    );
    let legacy = format!("sotto-{}", sotto::hex::encode(&id));
    let topic = sotto::topics::RoomTopics::new("sotto/v1", &room).messages;
    let old = common::BlockingRawClient::connect_persistent(broker.port(), &legacy);
    old.subscribe(&topic);
    old.disconnect();
    drop(old);

    alice.send("ops", "queued under the old id");
    let listener = bob.listen("ops", &["-v", "--json", "--count", "1", "--timeout", "20"]);
    let (ok, stdout, stderr) = listener.finish();
    assert!(ok, "{stderr}");
    assert_eq!(texts(&json_lines(&stdout)), ["queued under the old id"]);
    // That listen stopped at its count, maybe before the old queue was
    // empty, so the old session is kept; a listen that stays finishes it.
    let listener = bob.listen("ops", &["-v", "--timeout", "3"]);
    let (ok, _, stderr) = listener.finish();
    assert!(ok, "{stderr}");
    assert!(stderr.contains("deleted it"), "{stderr}");

    // Gone from the broker: connecting under that id finds no session.
    let check = common::BlockingRawClient::connect_persistent(broker.port(), &legacy);
    assert!(
        !check.session_present(),
        "the old session is still at the broker"
    );
    check.disconnect();
}
