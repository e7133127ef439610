//! A three-node NATS JetStream cluster speaking MQTT: members on different
//! nodes talk, and when a member's node dies they move to the next node of
//! their `--broker` list, where the cluster still holds their session.
//! Nothing is lost and nothing is shown twice.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
mod home;

use std::time::{Duration, Instant};

use common::nats::NatsCluster;
use home::{Home, json_lines, texts};

/// Alice starts on node 0, bob on node 1; both know every node.
fn members(cluster: &NatsCluster) -> (Home, Home) {
    let alice = Home::init("alice", &cluster.broker_list(0));
    let bob = Home::init("bob", &cluster.broker_list(1));
    bob.join(&alice.create_room("ops"));
    // bob's add (the room's first rotation) is taken by both before the
    // test starts.
    bob.register("ops");
    alice.register("ops");
    (alice, bob)
}

/// `send` while the cluster may still be moving the streams of a node
/// that died: its nodes then refuse subscriptions for a while (30 to 40 s
/// seen on a loaded machine), and sotto itself keeps trying, saying so
/// once, so one `send` must be enough.
fn send_through_the_cluster(home: &Home, text: &str) {
    let started = Instant::now();
    let out = home.run(&["send", "ops", text]);
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "send {text:?} failed after {:?}: {said}",
        started.elapsed()
    );
    if said.contains("tries again") {
        eprintln!(
            "send {text:?} waited for the cluster; done after {:?}",
            started.elapsed()
        );
    }
}

#[test]
fn a_member_whose_node_dies_while_listening_moves_on_and_misses_nothing() {
    let mut cluster = NatsCluster::start();
    let (alice, bob) = members(&cluster);
    // The listeners' deadlines cover the whole test, and the cluster may
    // take a minute to move the dead node's streams (a CI run saw alice's
    // three sends after the kill take 40 s); both stop at their count.
    let bob_listens = bob.listen("ops", &["--json", "--count", "6", "--timeout", "300", "-v"]);
    let alice_listens = alice.listen("ops", &["--json", "--count", "1", "--timeout", "300"]);
    for i in 1..=3 {
        alice.send("ops", &format!("before {i}"));
    }
    bob_listens.wait_json(3, Duration::from_secs(20));

    let killed = Instant::now();
    cluster.kill(1);
    bob_listens.wait_stderr(
        &format!("trying {}", cluster.node(2).url()),
        Duration::from_secs(20),
    );
    // Usually node 2 takes him; it may hang up while the cluster moves the
    // streams the dead node led, and then node 0 does.
    bob_listens.wait_stderr("reconnected to the broker at", Duration::from_secs(30));
    eprintln!(
        "bob was back {:?} after his node was killed",
        killed.elapsed()
    );
    assert!(
        !bob_listens.stderr().contains(&format!(
            "reconnected to the broker at {}",
            cluster.node(1).url()
        )),
        "{}",
        bob_listens.stderr()
    );
    let sending = Instant::now();
    for i in 1..=3 {
        send_through_the_cluster(&alice, &format!("after {i}"));
    }
    eprintln!(
        "alice's three sends after the kill took {:?}",
        sending.elapsed()
    );
    // Bob's own `send` finds the dead node first in his list too.
    send_through_the_cluster(&bob, "bob made it");

    let (ok, stdout, stderr) = bob_listens.finish();
    assert!(ok, "{stderr}\n{}", cluster.logs());
    let expected: Vec<String> = (1..=3)
        .map(|i| format!("before {i}"))
        .chain((1..=3).map(|i| format!("after {i}")))
        .collect();
    assert_eq!(texts(&json_lines(&stdout)), expected, "{stderr}");
    assert!(!stderr.contains("missed"), "{stderr}");
    assert!(!stderr.contains("queued for you"), "{stderr}");

    let (ok, stdout, stderr) = alice_listens.finish();
    assert!(ok, "{stderr}");
    assert_eq!(texts(&json_lines(&stdout)), ["bob made it"], "{stderr}");
}

#[test]
fn messages_sent_while_a_member_is_away_and_their_node_dies_arrive_once() {
    let mut cluster = NatsCluster::start();
    let (alice, bob) = members(&cluster);
    bob.register("ops");
    for i in 1..=3 {
        alice.send("ops", &format!("queued {i}"));
    }
    cluster.kill(1);
    for i in 4..=6 {
        send_through_the_cluster(&alice, &format!("queued {i}"));
    }

    let listener = bob.listen(
        "ops",
        &["--json", "--count", "6", "--timeout", "30", "--verbose"],
    );
    let (ok, stdout, stderr) = listener.finish();
    assert!(ok, "{stderr}\n{}", cluster.logs());
    let expected: Vec<String> = (1..=6).map(|i| format!("queued {i}")).collect();
    assert_eq!(texts(&json_lines(&stdout)), expected, "{stderr}");
    // Node 2 may hang up too while the cluster moves the streams the dead
    // node led; then bob goes on to node 0.
    let on = |i: usize| stderr.contains(&format!("connected to {} ", cluster.node(i).url()));
    assert!(on(2) || on(0), "--verbose names the node: {stderr}");
    assert!(!stderr.contains("refused sotto's last will"), "{stderr}");

    // Back on the first node of his list, nothing comes twice.
    cluster.start_again(1);
    let again = bob.listen("ops", &["--json", "--timeout", "2"]);
    let (ok, stdout, stderr) = again.finish();
    assert!(ok && stdout.is_empty(), "{stdout}\n{stderr}");
}
