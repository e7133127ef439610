//! Two Mosquittos bridged (`topic sotto/# both 1`), each member on their
//! own. A bridge shares topics, not sessions: messages cross it live and
//! are queued for members who are away, also across a restart of one
//! broker (persistence on). A member who moves to the other broker finds
//! no session there; sotto says so, and the gap counter reports what was
//! left behind.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
mod home;

use std::time::{Duration, Instant};

use common::{Mosquitto, MosquittoOptions};
use home::{Home, json_lines, texts};

/// The client id of the bridge at the broker it connects to.
const BRIDGE_ID: &str = "sotto-bridge";

/// Broker `a`, and broker `b` bridged to it. `b` opens the bridge, with a
/// persistent session at `a` so that what `a` gets while `b` is down
/// waits there.
fn bridged() -> (Mosquitto, Mosquitto) {
    let a = Mosquitto::start();
    let b = Mosquitto::start_with(MosquittoOptions {
        extra_config: vec![
            "connection to-a".into(),
            format!("address 127.0.0.1:{}", a.port()),
            "topic sotto/# both 1".into(),
            "cleansession false".into(),
            format!("remote_clientid {BRIDGE_ID}"),
            // Reconnect every second, not with Mosquitto's default backoff.
            "restart_timeout 1".into(),
        ],
        ..Default::default()
    });
    wait_bridged(&a, 1);
    (a, b)
}

/// Waits until the bridge has connected to `a` for the `n`th time.
fn wait_bridged(a: &Mosquitto, n: usize) {
    let deadline = Instant::now() + Duration::from_secs(15);
    let needle = "New bridge connected from 127.0.0.1:";
    let as_bridge = format!(" as {BRIDGE_ID} (");
    let connected = || {
        a.log()
            .lines()
            .filter(|l| l.contains(needle) && l.contains(&as_bridge))
            .count()
    };
    while connected() < n {
        assert!(
            Instant::now() < deadline,
            "the bridge did not connect; log of a:\n{}",
            a.log()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Waits until `b` has taken `n` room messages from the bridge, over all
/// its runs.
fn wait_bridged_messages(b: &Mosquitto, n: usize) {
    let deadline = Instant::now() + Duration::from_secs(15);
    let taken = || {
        b.log()
            .lines()
            .filter(|l| l.contains("Received PUBLISH from") && l.contains("/m',"))
            .count()
    };
    while taken() < n {
        assert!(
            Instant::now() < deadline,
            "b did not get the messages; log of b:\n{}",
            b.log()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Alice on `a`, bob on `b`, in one room.
fn members(a: &Mosquitto, b: &Mosquitto) -> (Home, Home) {
    let alice = Home::init("alice", &a.url());
    let bob = Home::init("bob", &b.url());
    bob.join(&alice.create_room("ops"));
    (alice, bob)
}

#[test]
fn members_on_bridged_brokers_talk_live_and_offline() {
    let (a, b) = bridged();
    let (alice, bob) = members(&a, &b);

    let bob_listens = bob.listen("ops", &["--json", "--count", "2", "--timeout", "30"]);
    let alice_listens = alice.listen("ops", &["--json", "--count", "1", "--timeout", "30"]);
    alice.send("ops", "live 1");
    alice.send("ops", "live 2");
    bob.send("ops", "from b");
    let (ok, stdout, stderr) = bob_listens.finish();
    assert!(ok, "{stderr}");
    assert_eq!(
        texts(&json_lines(&stdout)),
        ["live 1", "live 2"],
        "{stderr}"
    );
    let (ok, stdout, stderr) = alice_listens.finish();
    assert!(ok, "{stderr}");
    assert_eq!(texts(&json_lines(&stdout)), ["from b"], "{stderr}");

    for i in 1..=3 {
        alice.send("ops", &format!("away {i}"));
    }
    let listener = bob.listen("ops", &["--json", "--count", "3", "--timeout", "30"]);
    let (ok, stdout, stderr) = listener.finish();
    assert!(ok, "{stderr}");
    assert_eq!(
        texts(&json_lines(&stdout)),
        ["away 1", "away 2", "away 3"],
        "{stderr}"
    );
    assert!(!stderr.contains("missed"), "{stderr}");
}

#[test]
fn messages_sent_while_the_members_broker_restarts_arrive_once() {
    let (a, mut b) = bridged();
    let (alice, bob) = members(&a, &b);
    bob.register("ops");
    alice.send("ops", "before");

    // While b is down, a keeps what the bridge would carry in the
    // bridge's session; b's own persistence keeps bob's session.
    b.stop();
    alice.send("ops", "while b is down");
    b.start_again();
    wait_bridged(&a, 2);
    alice.send("ops", "after");

    let listener = bob.listen("ops", &["--json", "--count", "3", "--timeout", "30"]);
    let (ok, stdout, stderr) = listener.finish();
    assert!(ok, "{stderr}\n{}", b.log());
    assert_eq!(
        texts(&json_lines(&stdout)),
        ["before", "while b is down", "after"],
        "{stderr}"
    );
    let again = bob.listen("ops", &["--json", "--timeout", "1"]);
    let (ok, stdout, stderr) = again.finish();
    assert!(ok && stdout.is_empty(), "{stdout}\n{stderr}");
}

#[test]
fn moving_to_a_broker_without_the_session_is_told_once_and_nothing_comes_twice() {
    let (a, mut b) = bridged();
    let (alice, mut bob) = members(&a, &b);
    bob.set_broker(&format!("{},{}", b.url(), a.url()));

    let listener = bob.listen("ops", &["--json", "--count", "1", "--timeout", "30"]);
    b.stop();
    let told = format!(
        "now on {}; what was queued for you on {} arrives when {} is back",
        a.url(),
        b.url(),
        b.url()
    );
    listener.wait_stderr(&told, Duration::from_secs(15));
    alice.send("ops", "on a");
    let (ok, stdout, stderr) = listener.finish();
    assert!(ok, "{stderr}");
    assert_eq!(texts(&json_lines(&stdout)), ["on a"], "{stderr}");
    assert_eq!(stderr.matches("queued for you").count(), 1, "{stderr}");

    // Bob is away. What alice sends now waits for him twice: in his new
    // session on a, and at a for the bridge, which hands it to his old
    // session on b once b is back.
    alice.send("ops", "queued twice");
    b.start_again();
    wait_bridged(&a, 2);
    let listener = bob.listen("ops", &["--json", "--count", "1", "--timeout", "30"]);
    let (ok, stdout, stderr) = listener.finish();
    assert!(ok, "{stderr}");
    assert_eq!(texts(&json_lines(&stdout)), ["queued twice"], "{stderr}");

    // His session on a still holds its copy: taken, and not shown again.
    bob.set_broker(&a.url());
    let listener = bob.listen("ops", &["--json", "--timeout", "2"]);
    let (ok, stdout, stderr) = listener.finish();
    assert!(ok && stdout.is_empty(), "{stdout}\n{stderr}");
    assert!(!stderr.contains("missed"), "{stderr}");
}

#[test]
fn what_a_crashed_broker_lost_is_reported_as_missed() {
    let (a, mut b) = bridged();
    let (alice, bob) = members(&a, &b);
    bob.register("ops");
    let listener = bob.listen("ops", &["--json", "--count", "1", "--timeout", "30"]);
    alice.send("ops", "seen");
    listener.finish();
    // Saved to disk on a clean stop; what b takes after that is in memory
    // until its next autosave.
    b.restart();
    wait_bridged(&a, 2);
    alice.send("ops", "lost 1");
    alice.send("ops", "lost 2");
    // The bridge delivered both to b (a forgot them); b crashes with them.
    wait_bridged_messages(&b, 3);
    b.kill();
    b.start_again();
    wait_bridged(&a, 3);
    alice.send("ops", "after");

    let listener = bob.listen("ops", &["--json", "--count", "1", "--timeout", "30"]);
    let (ok, stdout, stderr) = listener.finish();
    assert!(ok, "{stderr}");
    assert_eq!(texts(&json_lines(&stdout)), ["after"], "{stderr}");
    assert!(stderr.contains("missed 2 messages from alice"), "{stderr}");
}
