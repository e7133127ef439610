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
    let invite = alice.ok(&["room", "create", "ops"]);
    bob.join(invite.lines().last().unwrap());
    bob.catch_up("ops", 1);
    alice.catch_up("ops", 1);
    carol.join(&logged_invite(&alice, &[]));
    carol.register("ops");
    for home in [&alice, &bob, &carol] {
        home.catch_up("ops", 2);
    }
    Room3 {
        broker,
        alice,
        bob,
        carol,
    }
}

/// alice founded `ops` and bob joined it with her invite; neither has
/// opened it since.
fn founded() -> (Mosquitto, Home, Home) {
    let broker = Mosquitto::start();
    let alice = Home::init("alice", &broker.url());
    let bob = Home::init("bob", &broker.url());
    let invite = alice.ok(&["room", "create", "ops"]);
    bob.join(invite.lines().last().unwrap());
    (broker, alice, bob)
}

/// alice founded `ops`; bob joined with her invite, and both took his add.
fn pair() -> (Mosquitto, Home, Home) {
    let (broker, alice, bob) = founded();
    bob.catch_up("ops", 1);
    alice.catch_up("ops", 1);
    (broker, alice, bob)
}

/// Asserts that a command failed (exit 1) saying `text`.
fn refused_with(out: &std::process::Output, text: &str) {
    let said = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{said}");
    assert!(said.contains(text), "{said}");
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
    // It exits at the removal; the deadline is only for a loaded machine.
    let out = r.bob.run(&["listen", "ops", "--timeout", "30", "-v"]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
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
    r.bob.catch_up("ops", 3);
    assert_eq!(r.bob.ok(&["kick", "ops", "carol"]).trim(), "4");
}

#[test]
fn an_expired_invite_is_refused_at_join_with_a_sentence() {
    let broker = Mosquitto::start();
    let alice = Home::init("alice", &broker.url());
    let bob = Home::init("bob", &broker.url());
    alice.ok(&["room", "create", "ops"]);
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
    alice.ok(&["room", "create", "ops"]);
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
    let carols = RoomTopics::new(DEFAULT_PREFIX, &r.carol.room("ops"));
    r.carol.ok(&["leave", "ops"]);
    r.bob.send("ops", "carol is gone");
    let (ok, stdout, stderr) = alice_listens.finish();
    assert!(ok, "{stderr}");
    assert!(stderr.contains("carol left"), "{stderr}");
    assert_eq!(texts(&json_lines(&stdout)), ["carol is gone"]);
    let rooms = r.carol.ok(&["rooms"]);
    assert!(!rooms.contains("ops"), "{rooms}");
    // Nothing of carol's stays retained where she was.
    let raw = BlockingRawClient::connect(r.broker.port(), "after-carol");
    raw.subscribe(&carols.own_presence);
    std::thread::sleep(Duration::from_millis(500));
    assert!(raw.received().is_empty(), "{:?}", raw.received());
}

/// Kicked right after joining, before any other commit followed his add:
/// bob's own add is confirmed by the kick building on it, so this is a
/// removal, not a join that lost a race (which would have him ask to be
/// let in again).
#[test]
fn a_member_kicked_right_after_joining_is_told_he_was_removed() {
    let (broker, alice, bob) = pair();
    assert_eq!(alice.ok(&["kick", "ops", "bob"]).trim(), "2");
    let out = bob.run(&["listen", "ops", "--timeout", "30", "-v"]);
    let said = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{said}");
    assert!(
        said.contains("you were removed from ops by alice"),
        "{said}"
    );
    assert!(!said.contains("let us in"), "{said}");
    // No join request of his waits on the broker for a member to answer.
    let raw = BlockingRawClient::connect(broker.port(), "requests");
    raw.subscribe("sotto/v1/+/j/+");
    std::thread::sleep(Duration::from_millis(500));
    assert!(raw.received().is_empty(), "{:?}", raw.received());
}

/// Removed, then invited again: bob's `join` replaces his old copy of the
/// room (saying so), and he is a member again, at the room's new epoch.
#[test]
fn a_removed_member_invited_again_joins_again() {
    let (_broker, alice, bob) = pair();
    let stale = logged_invite(&alice, &[]);
    assert_eq!(alice.ok(&["kick", "ops", "bob"]).trim(), "2");
    refused_with(
        &bob.run(&["listen", "ops", "--timeout", "30"]),
        "you were removed from ops by alice",
    );
    refused_with(
        &bob.run(&["room", "invite", "ops"]),
        "only members can invite",
    );
    // An invite from before the removal cannot undo it.
    refused_with(
        &bob.run(&["join", &stale]),
        "older than your removal from ops by alice",
    );

    let invite = logged_invite(&alice, &[]);
    let out = bob.run(&["join", &invite]);
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{said}");
    assert!(said.contains("You had been removed by alice"), "{said}");
    bob.catch_up("ops", 3);
    let listener = alice.listen_json("ops", &["--count", "1", "--timeout", "20"]);
    bob.send("ops", "back again");
    let (ok, stdout, stderr) = listener.finish();
    assert!(ok, "{stderr}");
    assert_eq!(texts(&json_lines(&stdout)), ["back again"], "{stderr}");
}

/// alice has not listened since bob joined: `kick` first takes the commits
/// her home has not seen, so it can name bob and builds on his add
/// instead of competing with it. A removed member's `leave` only forgets
/// the room.
#[test]
fn kick_from_a_home_that_has_not_seen_the_join_yet() {
    let (_broker, alice, bob) = founded();
    bob.catch_up("ops", 1);
    assert_eq!(alice.room("ops").epoch(), 0);

    assert_eq!(alice.ok(&["kick", "ops", "bob"]).trim(), "2");
    let removed = "you were removed from ops by alice";
    refused_with(&bob.run(&["listen", "ops", "--timeout", "30"]), removed);
    refused_with(&bob.run(&["kick", "ops", "alice"]), removed);
    let left = bob.run(&["leave", "ops"]);
    assert!(left.status.success(), "{left:?}");
    assert!(!bob.ok(&["rooms"]).contains("ops"));
}

/// alice creates the room and goes away before ever opening it; bob
/// joins and writes with `send`. A broker queues messages only for
/// sessions it has, so `room create` makes alice's: her first `listen`
/// gets bob's add and his line.
#[test]
fn what_is_sent_before_the_creator_first_opens_the_room_reaches_her() {
    let (_broker, alice, bob) = founded();
    bob.send("ops", "bob here");
    let listener = alice.listen_json("ops", &["--count", "1", "--timeout", "20"]);
    let (ok, stdout, stderr) = listener.finish();
    assert!(ok, "{stderr}");
    assert_eq!(texts(&json_lines(&stdout)), ["bob here"], "{stderr}");
    assert!(!stderr.contains("dropped"), "{stderr}");

    // Without a broker, `room create` still works and says what it costs.
    let offline = Home::init("carol", "mqtt://127.0.0.1:1");
    let out = offline.run(&["room", "create", "later"]);
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{said}");
    assert!(
        said.contains("what they write first will not reach you"),
        "{said}"
    );
}

/// carol's invite is older than bob's add, so she must be let in, and
/// nobody is online to do it. Her `listen` gives up waiting, leaving her
/// request on the broker and no presence record; alice, back later and
/// still at the epoch before bob's add, takes it and lets her in, with
/// no stranger's record to warn about on the way.
#[test]
fn a_joiner_waiting_to_be_let_in_is_let_in_by_the_next_member_online() {
    let broker = Mosquitto::start();
    let alice = Home::init("alice", &broker.url());
    let bob = Home::init("bob", &broker.url());
    let carol = Home::init("carol", &broker.url());
    let invite = alice.ok(&["room", "create", "ops", "--uses", "2"]);
    let invite = invite.lines().last().unwrap();
    bob.join(invite);
    bob.catch_up("ops", 1);
    carol.join(invite);
    carol.register("ops");
    assert!(carol.room("ops").is_joining());
    // Not a member yet: no presence record of hers (every member would
    // refuse it as a stranger's), not even a goodbye.
    let hers = RoomTopics::new(DEFAULT_PREFIX, &carol.room("ops")).own_presence;
    let raw = BlockingRawClient::connect(broker.port(), "carols-presence");
    raw.subscribe(&hers);
    std::thread::sleep(Duration::from_millis(500));
    assert!(raw.received().is_empty(), "{:?}", raw.received());

    // alice, still at epoch 0, takes bob's add and lets carol in.
    let out = alice.run(&["listen", "ops", "--timeout", "4"]);
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(said.contains("carol joined"), "{said}");
    assert!(!said.contains("dropped"), "{said}");
}

/// bob was away while carol joined and alice made him an admin: the key
/// of carol's epoch was queued for his broker session, and its retained
/// copy was replaced by the next one. His `room rotate` does not fork
/// the room from where he stood: it says how to catch up, and works
/// once he has.
#[test]
fn a_change_from_a_home_two_rotations_behind_waits_until_it_has_caught_up() {
    let (broker, alice, bob) = pair();
    let carol = Home::init("carol", &broker.url());
    carol.join(&logged_invite(&alice, &[]));
    carol.register("ops");
    alice.catch_up("ops", 2);
    assert_eq!(alice.ok(&["admin", "ops", "bob"]).trim(), "3");

    refused_with(
        &bob.run(&["room", "rotate", "ops"]),
        "run `sotto listen ops --timeout 5`",
    );
    assert_eq!(bob.room("ops").epoch(), 1);

    bob.catch_up("ops", 3);
    assert_eq!(bob.ok(&["room", "rotate", "ops"]).trim(), "4");
}

#[test]
fn join_reads_the_invite_from_standard_input_and_names_the_inviter() {
    let broker = Mosquitto::start();
    let alice = Home::init("alice", &broker.url());
    let bob = Home::init("bob", &broker.url());
    let invite = alice.ok(&["room", "create", "ops"]);
    let invite = invite.lines().last().unwrap();
    let out = bob.run_with_stdin(&["join", "-"], invite);
    assert!(out.status.success(), "{out:?}");
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(said.contains("Joined room ops"), "{said}");
    let told = String::from_utf8_lossy(&out.stderr);
    let fingerprint = alice.fingerprint();
    assert!(
        told.contains(&format!("Invited by alice (fingerprint {fingerprint})")),
        "{told}"
    );
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

#[test]
fn a_room_rotates_on_its_schedule_and_members_follow() {
    let (_broker, alice, bob) = pair();
    let said = alice.ok(&["room", "rotate-after", "ops", "2"]);
    assert!(said.is_empty(), "{said}");
    let epoch = alice.room("ops").epoch();

    // alice's long-lived listen rotates once her second message is out.
    let alice_listens = alice.listen("ops", &["--timeout", "30"]);
    let bob_listens = bob.listen_json("ops", &["--count", "3", "--timeout", "30"]);
    alice.send("ops", "one");
    alice.send("ops", "two");
    bob_listens.wait_stderr("alice rotated the room key", Duration::from_secs(20));
    alice.send("ops", "three");
    let (ok, stdout, stderr) = bob_listens.finish();
    drop(alice_listens);
    assert!(ok, "{stderr}");
    assert_eq!(texts(&json_lines(&stdout)), ["one", "two", "three"]);
    assert_eq!(alice.room("ops").epoch(), epoch + 1);
    assert_eq!(bob.room("ops").epoch(), epoch + 1);

    let out = alice.run(&["room", "rotate-after", "ops", "soon"]);
    assert_eq!(out.status.code(), Some(1));
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(said.contains("not a rotation schedule"), "{said}");
}

#[test]
fn init_force_hands_a_members_place_to_the_new_key_and_others_see_the_change() {
    let (_broker, alice, bob) = pair();
    let old = bob.room("ops").own_fingerprint();

    bob.ok(&["init", "--name", "bob", "--force"]);
    let new = bob.room("ops").own_fingerprint();
    assert_ne!(old, new);
    let alice_listens = alice.listen_json("ops", &["--count", "1", "--timeout", "20"]);
    // The hand-over goes out on bob's next connection, before his message.
    bob.send("ops", "same bob, new key");
    let (ok, stdout, stderr) = alice_listens.finish();
    assert!(ok, "{stderr}");
    assert!(stderr.contains("bob changed key"), "{stderr}");
    let lines = json_lines(&stdout);
    assert_eq!(texts(&lines), ["same bob, new key"]);
    assert_eq!(lines[0]["from"], "bob");
    assert_eq!(lines[0]["verified"], false);
    let alices = alice.room("ops");
    assert!(alices.admitted(&new).is_some());
    assert!(alices.admitted(&old).is_none());
    assert!(!stderr.contains("forged"), "{stderr}");
}

#[test]
fn the_creator_moves_an_older_room_onto_a_log_and_can_then_kick() {
    let broker = Mosquitto::start();
    let alice = Home::init("alice", &broker.url());
    let bob = Home::init("bob", &broker.url());
    let carol = Home::init("carol", &broker.url());
    let made = alice.ok(&["room", "create", "ops", "--no-log", "--uses", "10"]);
    let invite = made.lines().last().unwrap();
    bob.join(invite);
    carol.join(invite);
    for home in [&bob, &carol, &alice] {
        home.register("ops");
    }
    assert!(alice.room("ops").log().is_none());
    // The genesis lists the members alice's home knows.
    alice.learns_of("ops", &["bob", "carol"]);

    // Only the creator may write the genesis.
    let out = bob.run(&["room", "upgrade", "ops"]);
    assert_eq!(out.status.code(), Some(1));
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(said.contains("only the member who created ops"), "{said}");

    let bob_listens = bob.listen_json("ops", &["--count", "1", "--timeout", "20"]);
    assert_eq!(alice.ok(&["room", "upgrade", "ops"]).trim(), "1");
    alice.send("ops", "on the log now");
    let (ok, stdout, stderr) = bob_listens.finish();
    assert!(ok, "{stderr}");
    assert!(
        stderr.contains("alice moved the room onto a membership log"),
        "{stderr}"
    );
    assert_eq!(texts(&json_lines(&stdout)), ["on the log now"]);
    let roster = alice.room("ops");
    assert_eq!(roster.log().unwrap().roster.len(), 3);

    // carol, away meanwhile, follows on return; then a kick works.
    carol.catch_up("ops", 1);
    assert!(carol.room("ops").log().is_some());
    assert_eq!(alice.ok(&["kick", "ops", "bob"]).trim(), "2");
}

#[test]
fn a_used_up_invite_is_refused_by_a_member_with_a_sentence() {
    let broker = Mosquitto::start();
    let alice = Home::init("alice", &broker.url());
    let bob = Home::init("bob", &broker.url());
    let carol = Home::init("carol", &broker.url());
    // Single use: bob takes it, then carol tries the same one.
    let invite = alice.ok(&["room", "create", "ops"]);
    let invite = invite.lines().last().unwrap();
    bob.join(invite);
    bob.catch_up("ops", 1);
    alice.catch_up("ops", 1);
    carol.join(invite);

    let alice_listens = alice.listen("ops", &["--timeout", "30"]);
    alice_listens.wait_stderr("listening to ops", Duration::from_secs(10));
    let out = carol.run_within(
        &["listen", "ops", "--timeout", "20"],
        Duration::from_secs(40),
    );
    drop(alice_listens);
    assert_eq!(out.code(), Some(1), "{}", out.describe());
    let said = out.describe();
    assert!(
        said.contains("alice answered that you cannot join: the invite has already been used as often as it allows"),
        "{said}"
    );
    assert!(carol.room("ops").is_joining());
}

#[test]
fn rotating_past_the_kept_epochs_clears_their_presence_but_keeps_the_path_back() {
    let (broker, alice, bob) = pair();
    bob.register("ops");
    let first = alice.room("ops");
    assert_eq!(first.epoch(), 1);
    let base = RoomTopics::new(DEFAULT_PREFIX, &first)
        .messages
        .trim_end_matches("/m")
        .to_owned();
    let retained_under = |base: &str| {
        let raw = BlockingRawClient::connect(broker.port(), "retained-check");
        raw.subscribe(&format!("{base}/#"));
        // The commit that left the epoch is retained there in any case.
        raw.wait_for("the epoch's commit", |seen| {
            seen.iter().find(|r| r.topic.contains("/c/")).cloned()
        });
        std::thread::sleep(Duration::from_millis(300));
        let topics: Vec<String> = raw.received().into_iter().map(|r| r.topic).collect();
        raw.disconnect();
        topics
    };
    for epoch in 2..=4 {
        assert_eq!(
            alice.ok(&["room", "rotate", "ops"]).trim(),
            epoch.to_string()
        );
    }
    let before = retained_under(&base);
    assert!(before.iter().any(|t| t.contains("/p/")), "{before:#?}");
    // The fourth rotation leaves epoch 1 behind for good.
    assert_eq!(alice.ok(&["room", "rotate", "ops"]).trim(), "5");
    let after = retained_under(&base);
    assert!(
        !after.iter().any(|t| t.contains("/p/") || t.ends_with("/s")),
        "{after:#?}"
    );
    assert!(after.iter().any(|t| t.contains("/k/")), "{after:#?}");
    // bob, away since epoch 1, still follows the chain of commits back,
    // and is told what could not reach him.
    // Four epochs, each drained before the next: about 4 s alone, more
    // on a loaded machine (6 s ran out once under the full suite).
    let back = bob.run_within(
        &["listen", "ops", "--timeout", "12"],
        Duration::from_secs(30),
    );
    assert_eq!(bob.room("ops").epoch(), 5, "{}", back.describe());
    assert!(
        back.describe()
            .contains("you were away during 4 key rotations; messages from"),
        "{}",
        back.describe()
    );
}

#[test]
fn leave_in_chat_is_signed_for_the_others_and_forgets_the_room() {
    let (_broker, alice, bob) = pair();
    let alice_listens = alice.listen("ops", &["--timeout", "30"]);
    alice_listens.wait_stderr("listening to ops", Duration::from_secs(10));
    let out = bob.chat_piped(&["ops"], "/leave\n");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    assert!(stdout.contains("You left ops."), "{stdout}");
    alice_listens.wait_stderr("bob left", Duration::from_secs(20));
    assert!(!bob.ok(&["rooms"]).contains("ops"));
}

/// `home`'s identity, as its own client loads it.
fn identity_of(home: &Home) -> sotto::identity::Identity {
    let public: sotto::identity::PublicIdentity =
        serde_json::from_slice(&std::fs::read(home.path().join("identity.json")).unwrap()).unwrap();
    let key_text = std::fs::read_to_string(home.path().join("identity.key")).unwrap();
    sotto::keyfile::decode(&key_text, public.name, None).unwrap()
}

/// Waits until Mosquitto's log shows the PUBACK of the first publish on
/// `topic` it sent to a client.
fn wait_for_puback_on(broker: &Mosquitto, topic: &str) {
    common::wait::wait_until(
        "the PUBACK of the early message",
        Duration::from_secs(20),
        || {
            let sent = (broker.publishes_sent().into_iter()).find(|publish| publish.topic == topic);
            sent.is_some_and(|publish| {
                broker
                    .pubacks_received(&publish.client)
                    .contains(&publish.mid)
            })
        },
    );
}

/// A message sealed for the next epoch can come before the commit that
/// starts it (MQTT orders no topic against another). It is saved and
/// acknowledged at once, so the messages after it are not held back, and
/// it is shown once the commit comes: also by the next `listen` when the
/// first was killed in between, though the broker never sends it again.
#[test]
fn a_message_that_comes_before_its_commit_is_kept_until_the_commit() {
    let (broker, alice, bob) = pair();
    // Alice's client, through the library: a rotation and a message in
    // its new epoch, published message first by a raw client.
    let identity = identity_of(&alice);
    let mut room = alice.room("ops");
    let topics = RoomTopics::new(DEFAULT_PREFIX, &room);
    let bob_slot_topic = topics.key_slot_of(&room, &bob.room("ops").own_fingerprint());
    let now = sotto::session::now_ms();
    let rotation = room
        .make_commit(&identity, sotto::log::Change::Rotate, now, &mut rand::rng())
        .unwrap();
    let early = room
        .seal_numbered(
            &identity,
            1,
            &[],
            sotto::protocol::message::Body::Text("sent in the next epoch".into()),
            now,
            &mut rand::rng(),
        )
        .unwrap();

    let mut listener = bob.listen_json("ops", &["--count", "1", "--timeout", "30"]);
    let raw = BlockingRawClient::connect(broker.port(), "alice-by-hand");
    raw.publish(&topics.current.messages, early, false);
    wait_for_puback_on(&broker, &topics.current.messages);
    listener.kill_now();

    let (_, slot) = (rotation.slots.iter())
        .find(|(member, _)| *member == bob.room("ops").own_fingerprint())
        .unwrap();
    raw.publish(&bob_slot_topic, slot.clone(), true);
    raw.publish(&topics.current.own_commit, rotation.commit.clone(), true);
    raw.disconnect();

    let (ok, stdout, stderr) = bob
        .listen_json("ops", &["--count", "1", "--timeout", "20"])
        .finish();
    assert!(ok, "{stderr}");
    assert_eq!(
        texts(&json_lines(&stdout)),
        ["sent in the next epoch"],
        "{stderr}"
    );
    assert_eq!(bob.room("ops").epoch(), rotation.epoch);
}
