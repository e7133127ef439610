//! Rooms with a membership log on a real broker: joining adds a member
//! with a commit, `kick` moves the room to a key and topics the removed
//! member never gets, invites expire, names are bound by the log, and
//! leaving is signed.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
mod home;

use std::time::Duration;

use common::{BlockingRawClient, Mosquitto};
use home::{Home, json_lines, texts};
use sotto::room::Received;
use sotto::topics::{DEFAULT_PREFIX, RoomTopics};

/// alice founded `ops` with a log; bob and carol joined with invites of
/// her current epoch, one after the other, and everyone caught up.
struct Room3 {
    broker: Mosquitto,
    alice: Home,
    bob: Home,
    carol: Home,
}

fn logged_invite(home: &Home, extra: &[&str]) -> String {
    let mut args = vec!["room", "invite", "ops"];
    args.extend_from_slice(extra);
    home.ok(&args).lines().last().unwrap().to_owned()
}

fn room_of_three() -> Room3 {
    let broker = Mosquitto::start();
    let alice = Home::init("alice", &broker.url());
    let bob = Home::init("bob", &broker.url());
    let carol = Home::init("carol", &broker.url());
    let invite = alice.ok(&["room", "create", "ops", "--log"]);
    bob.join(invite.lines().last().unwrap());
    bob.register("ops");
    alice.register("ops");
    carol.join(&logged_invite(&alice, &[]));
    carol.register("ops");
    alice.register("ops");
    bob.register("ops");
    for home in [&alice, &bob, &carol] {
        assert_eq!(home.room("ops").epoch(), 2, "{}", home.path().display());
    }
    Room3 {
        broker,
        alice,
        bob,
        carol,
    }
}

#[test]
fn a_kicked_member_reads_nothing_after_and_cannot_find_the_new_topics() {
    let r = room_of_three();
    let eve = BlockingRawClient::connect(r.broker.port(), "bob-on-hash");
    eve.subscribe("#");
    // Everything bob's client knows how to look for, before the kick.
    let bobs_room = r.bob.room("ops");
    let bobs_topics = RoomTopics::new(DEFAULT_PREFIX, &bobs_room);

    let kicked = r.alice.ok(&["kick", "ops", "bob"]);
    assert_eq!(kicked.trim(), "3", "kick prints the new epoch");
    let carol_listens = r
        .carol
        .listen_json("ops", &["--count", "1", "--timeout", "20"]);
    r.alice.send("ops", "after the kick");
    let (ok, stdout, stderr) = carol_listens.finish();
    assert!(ok, "{stderr}");
    assert_eq!(texts(&json_lines(&stdout)), ["after the kick"]);
    assert!(stderr.contains("alice removed bob"), "{stderr}");

    // bob's client says what happened, and listen exits 1.
    let out = r.bob.run(&["listen", "ops", "--timeout", "10"]);
    assert_eq!(out.status.code(), Some(1));
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(
        said.contains("you were removed from ops by alice"),
        "{said}"
    );

    // On `#`, the message after the kick is on a topic bob's state does
    // not recognise, and his keys open none of its copies. (A copy may
    // also go to the epoch before, for members not yet seen in the new
    // one: bob can see that one's size and time, never its content.)
    let after: Vec<_> = eve
        .received()
        .into_iter()
        .filter(|seen| seen.topic.ends_with("/m"))
        .collect();
    assert!(
        after
            .iter()
            .any(|seen| bobs_topics.classify(&seen.topic) == sotto::topics::TopicKind::Other),
        "the message went to a topic bob cannot recognise"
    );
    let mut bob_room = bobs_room.clone();
    for seen in &after {
        assert!(
            !matches!(
                bob_room.receive_message(&seen.payload, 0),
                Ok(Received::Accepted(_))
            ),
            "bob's keys open the message sent after the kick"
        );
    }
    // No topic segment of the new epoch is one bob knew.
    let known: Vec<String> = bobs_topics
        .subscriptions()
        .iter()
        .flat_map(|t| t.split('/').map(str::to_owned).collect::<Vec<_>>())
        .filter(|segment| segment.len() >= 16)
        .collect();
    let carols = RoomTopics::new(DEFAULT_PREFIX, &r.carol.room("ops"));
    for segment in carols.current.messages.split('/') {
        assert!(!known.contains(&segment.to_owned()), "{segment}");
    }
    // And bob cannot send any more.
    let out = r.bob.run(&["send", "ops", "still here?"]);
    assert_eq!(out.status.code(), Some(1));
}

#[test]
fn a_non_admin_cannot_kick_and_a_granted_admin_can() {
    let r = room_of_three();
    let out = r.bob.run(&["kick", "ops", "carol"]);
    assert_eq!(out.status.code(), Some(1));
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(said.contains("not an admin"), "{said}");
    assert_eq!(r.alice.ok(&["admin", "ops", "bob"]).trim(), "3");
    r.bob.register("ops");
    assert_eq!(r.bob.ok(&["kick", "ops", "carol"]).trim(), "4");
}

#[test]
fn an_expired_invite_is_refused_at_join_with_a_sentence() {
    let broker = Mosquitto::start();
    let alice = Home::init("alice", &broker.url());
    let bob = Home::init("bob", &broker.url());
    alice.ok(&["room", "create", "ops", "--log"]);
    let invite = logged_invite(&alice, &["--expires", "1s"]);
    std::thread::sleep(Duration::from_millis(1500));
    let out = bob.run(&["join", &invite]);
    assert_eq!(out.status.code(), Some(1));
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(
        said.contains("this invite expired on") && said.contains("ask alice for a new one"),
        "{said}"
    );
}

#[test]
fn a_second_key_under_a_bound_name_cannot_join() {
    let broker = Mosquitto::start();
    let alice = Home::init("alice", &broker.url());
    alice.ok(&["room", "create", "ops", "--log"]);
    for name in ["alice", "Alice", "\u{430}lice"] {
        let impostor = Home::init(name, &broker.url());
        let out = impostor.run(&["join", &logged_invite(&alice, &[])]);
        assert_eq!(out.status.code(), Some(1), "{name}");
        let said = String::from_utf8_lossy(&out.stderr);
        assert!(said.contains("already has a member called alice"), "{said}");
    }
}

#[test]
fn a_member_who_leaves_is_told_to_the_others_and_forgotten_locally() {
    let r = room_of_three();
    let alice_listens = r
        .alice
        .listen_json("ops", &["--count", "1", "--timeout", "20"]);
    r.carol.ok(&["leave", "ops"]);
    r.bob.send("ops", "carol is gone");
    let (ok, stdout, stderr) = alice_listens.finish();
    assert!(ok, "{stderr}");
    assert!(stderr.contains("carol left"), "{stderr}");
    assert_eq!(texts(&json_lines(&stdout)), ["carol is gone"]);
    let rooms = r.carol.ok(&["rooms"]);
    assert!(!rooms.contains("ops"), "{rooms}");
}

#[test]
fn join_reads_the_invite_from_standard_input_and_names_the_inviter() {
    let broker = Mosquitto::start();
    let alice = Home::init("alice", &broker.url());
    let bob = Home::init("bob", &broker.url());
    let invite = alice.ok(&["room", "create", "ops", "--log"]);
    let invite = invite.lines().last().unwrap();
    let out = bob.run_with_stdin(&["join", "-"], invite);
    assert!(out.status.success(), "{out:?}");
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(said.contains("Joined room ops"), "{said}");
    assert!(bob.room("ops").is_joining());
    bob.register("ops");
    assert!(!bob.room("ops").is_joining());
    assert_eq!(bob.room("ops").epoch(), 1);
}

#[test]
fn a_member_away_across_two_rotations_gets_every_message_on_return() {
    let r = room_of_three();
    // carol is away (her broker session at epoch 2 queues for her) while
    // the room moves twice: bob is removed, then carol made an admin.
    assert_eq!(r.alice.ok(&["kick", "ops", "bob"]).trim(), "3");
    r.alice.send("ops", "after the kick");
    assert_eq!(r.alice.ok(&["admin", "ops", "carol"]).trim(), "4");
    r.alice.send("ops", "two rotations later");
    let back = r
        .carol
        .listen_json("ops", &["--count", "2", "--timeout", "20"]);
    let (ok, stdout, stderr) = back.finish();
    assert!(ok, "{stderr}");
    assert_eq!(
        texts(&json_lines(&stdout)),
        ["after the kick", "two rotations later"],
        "{stderr}"
    );
    assert_eq!(r.carol.room("ops").epoch(), 4);
    assert!(!stderr.contains("dropped"), "{stderr}");
}
