//! Availability against outsiders (issue 6, brief property 11): someone
//! who is not a member, only subscribed to `#` with publish rights, must
//! not be able to wedge, silence or starve a member; nor may a member
//! flood another's state. Each test is one attack seen in the field, run
//! against the real binary and a private Mosquitto on MQTT 5 and 3.1.1,
//! and asserts on what the user sees: the next real message arrives.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
mod home;

use std::time::Duration;

use common::attack::{flood_qos0, message_topic_seen_on_wire, presence_prefix, publish_poison};
use common::{BlockingRawClient, Mosquitto, MosquittoOptions};
use home::{Finished, Home, SUBSCRIBE_WITHIN, json_lines, texts};
use sotto::identity::Identity;
use sotto::protocol::presence::Status;
use sotto::topics::{DEFAULT_PREFIX, RoomTopics};

common::on_both_mqtt_versions!(
    a_17_mib_publish_queued_while_away_does_not_wedge_the_session,
    a_17_mib_retained_presence_poison_does_not_block_new_members,
    a_17_mib_retained_key_slot_poison_does_not_block_its_member,
    a_qos0_flood_during_listen_is_ignored_and_reported_once,
    a_qos0_flood_during_chat_does_not_freeze_it,
    a_retained_presence_flood_from_a_member_costs_bounded_state,
    presence_churn_does_not_push_messages_out_of_a_small_queue,
    a_gap_beyond_a_small_queue_is_reported_at_once,
);

/// How many QoS 0 publishes make a flood (the reported attack).
const FLOOD: usize = 20_000;

/// A private broker and alice, who created `ops`, with MQTT forced to
/// `mqtt`; members join with [`Scene::member`].
struct Scene {
    broker: Mosquitto,
    mqtt: String,
    alice: Home,
}

impl Scene {
    fn new(mqtt: &str, options: MosquittoOptions) -> Self {
        let broker = Mosquitto::start_with(options);
        let alice = Home::init_with_mqtt("alice", &broker.url(), Some(mqtt));
        alice.create_room("ops");
        Self {
            broker,
            mqtt: mqtt.to_owned(),
            alice,
        }
    }

    /// A new member of `ops` (never connected yet).
    fn member(&self, name: &str) -> Home {
        let home = Home::init_with_mqtt(name, &self.broker.url(), Some(&self.mqtt));
        let invite = self.alice.ok(&["room", "invite", "ops"]);
        home.join(invite.lines().last().unwrap());
        home
    }

    fn port(&self) -> u16 {
        self.broker.port()
    }
}

fn scene(mqtt: &str) -> Scene {
    Scene::new(mqtt, MosquittoOptions::default())
}

/// Asserts that `done` printed exactly the messages `expected`.
fn assert_shown(done: &Finished, expected: &[&str]) {
    assert_eq!(
        texts(&json_lines(&done.stdout)),
        expected,
        "listen {}",
        done.describe()
    );
}

fn a_17_mib_publish_queued_while_away_does_not_wedge_the_session(mqtt: &str) {
    let s = scene(mqtt);
    let bob = s.member("bob");
    bob.register("ops");
    let topic = message_topic_seen_on_wire(s.port(), || s.alice.send("ops", "before the poison"));
    // Queued for bob behind "before the poison" and acknowledged to the
    // attacker: the broker will deliver it on every connect until bob
    // takes it.
    publish_poison(s.port(), &topic, false);
    s.alice.send("ops", "after the poison");

    let done = bob
        .listen_json("ops", &["--count", "2", "--timeout", "8"])
        .finish_within(Duration::from_secs(15));
    assert_shown(&done, &["before the poison", "after the poison"]);
    // And again after a restart: nothing is left to wedge the next one.
    s.alice.send("ops", "after a restart");
    let done = bob
        .listen_json("ops", &["--count", "1", "--timeout", "8"])
        .finish_within(Duration::from_secs(15));
    assert_shown(&done, &["after a restart"]);
}

fn a_17_mib_retained_presence_poison_does_not_block_new_members(mqtt: &str) {
    let s = scene(mqtt);
    let bob = s.member("bob");
    let carol = s.member("carol");
    // Neither alice nor bob has opened the room yet: bob is a new joiner,
    // and alice's broker session (made by `room create`) queues "hello".
    let topic = message_topic_seen_on_wire(s.port(), || carol.send("ops", "hello"));
    publish_poison(
        s.port(),
        &format!("{}deadbeef", presence_prefix(&topic)),
        true,
    );

    let alice = s
        .alice
        .listen_json("ops", &["--count", "2", "--timeout", "8"]);
    let bob_listens = bob.listen_json("ops", &["--count", "1", "--timeout", "8"]);
    carol.send("ops", "after the poison");
    let expected: [(&str, _, &[&str]); 2] = [
        ("alice", alice, &["hello", "after the poison"]),
        ("bob", bob_listens, &["after the poison"]),
    ];
    for (name, listener, texts_wanted) in expected {
        let done = listener.finish_within(Duration::from_secs(15));
        assert_eq!(
            texts(&json_lines(&done.stdout)),
            texts_wanted,
            "{name}'s listen {}",
            done.describe()
        );
    }
}

fn a_17_mib_retained_key_slot_poison_does_not_block_its_member(mqtt: &str) {
    let s = scene(mqtt);
    let bob = s.member("bob");
    // A key slot's topic is derived, not seen: only a rotation publishes
    // one. Derived here from bob's state, as the topic layout makes it.
    let slot = RoomTopics::new(DEFAULT_PREFIX, &bob.room("ops")).own_key_slot;
    publish_poison(s.port(), &slot, true);

    let listener = bob.listen_json("ops", &["--count", "1", "--timeout", "8"]);
    s.alice.send("ops", "after the poison");
    let done = listener.finish_within(Duration::from_secs(15));
    assert_shown(&done, &["after the poison"]);
}

fn a_qos0_flood_during_listen_is_ignored_and_reported_once(mqtt: &str) {
    let s = scene(mqtt);
    let bob = s.member("bob");
    let listener = bob.listen_json("ops", &["--count", "2", "--timeout", "10"]);
    let topic = message_topic_seen_on_wire(s.port(), || s.alice.send("ops", "before the flood"));
    listener.wait_json(1, Duration::from_secs(8));

    flood_qos0(s.port(), &topic, FLOOD);
    s.alice.send("ops", "after the flood");
    let done = listener.finish_within(Duration::from_secs(15));
    assert_shown(&done, &["before the flood", "after the flood"]);
    let reports = done
        .stderr
        .lines()
        .filter(|line| line.contains("without acknowledgement"))
        .count();
    assert_eq!(reports, 1, "one report of the flood: {}", done.describe());
}

fn a_qos0_flood_during_chat_does_not_freeze_it(mqtt: &str) {
    let s = scene(mqtt);
    let bob = s.member("bob");
    let chat = bob.chat_on_pipes("ops");
    chat.until_within("You are in ops as bob", SUBSCRIBE_WITHIN);
    let topic = message_topic_seen_on_wire(s.port(), || s.alice.send("ops", "before the flood"));
    chat.until_within("alice: before the flood", Duration::from_secs(8));

    flood_qos0(s.port(), &topic, FLOOD);
    s.alice.send("ops", "after the flood");
    chat.until_within("alice: after the flood", Duration::from_secs(10));
    assert!(chat.quit().success());
}

fn a_retained_presence_flood_from_a_member_costs_bounded_state(mqtt: &str) {
    const RECORDS: usize = 3000;
    const MAX_STATE: u64 = 2 * 1024 * 1024;
    let s = scene(mqtt);
    let bob = s.member("bob");
    bob.create_room("dev");
    let mallory = s.member("mallory");

    // mallory holds the room key, so she can make valid presence records
    // for as many identities as she likes, each on the topic derived from
    // its own key, and leave them all retained.
    let room = mallory.room("ops");
    let mut rng = rand::rng();
    let now = sotto::session::now_ms();
    let raw = BlockingRawClient::connect(s.port(), "mallory-flood");
    for i in 0..RECORDS {
        let fake = Identity::generate(&format!("fake{i}"), &mut rng).unwrap();
        let topic = format!(
            "{DEFAULT_PREFIX}/{}/p/{}",
            room.epoch_topic_id(),
            room.member_topic_id(&fake.fingerprint())
        );
        let record = room.seal_presence(&fake, Status::Online, 1, now, &mut rng);
        raw.publish(&topic, record, true);
    }
    raw.disconnect();

    // carol is new to bob: her key must still find a place in a table the
    // flood filled (it takes a silent key's), as alice's does (the inviter).
    let carol = s.member("carol");
    let listener = bob.listen_json("ops", &["--count", "2", "--timeout", "15"]);
    s.alice.send("ops", "after the presence flood");
    carol.send("ops", "carol, new after the flood");
    let done = listener.finish_within(Duration::from_secs(20));
    assert_shown(
        &done,
        &["after the presence flood", "carol, new after the flood"],
    );

    let state = bob.database();
    let size = std::fs::metadata(&state).unwrap().len();
    assert!(size < MAX_STATE, "{} is {size} bytes", state.display());
    // One room's trouble never breaks the others.
    let rooms = bob.run_within(&["rooms"], Duration::from_secs(10));
    assert_eq!(rooms.code(), Some(0), "rooms {}", rooms.describe());
    assert!(
        rooms.stdout.contains("dev") && rooms.stdout.contains("ops"),
        "{}",
        rooms.stdout
    );
    let sent = bob.run_within(&["send", "dev", "still works"], Duration::from_secs(10));
    assert_eq!(sent.code(), Some(0), "send to dev {}", sent.describe());
}

/// A broker whose offline queue holds 5 messages per client.
fn small_queue(mqtt: &str) -> Scene {
    Scene::new(
        mqtt,
        MosquittoOptions {
            extra_config: vec!["max_queued_messages 5".into()],
            ..MosquittoOptions::default()
        },
    )
}

fn presence_churn_does_not_push_messages_out_of_a_small_queue(mqtt: &str) {
    let s = small_queue(mqtt);
    let bob = s.member("bob");
    let carol = s.member("carol");
    bob.register("ops");
    // While bob is away, members come and go: every connection publishes
    // "online", and its goodbye "offline", on the presence topics bob
    // subscribes to. None of that may take a slot of bob's queue.
    for _ in 0..3 {
        carol.register("ops");
        s.alice.register("ops");
    }
    let sent = ["kept 1", "kept 2", "kept 3"];
    for text in sent {
        s.alice.send("ops", text);
    }
    let done = bob
        .listen_json("ops", &["--count", "3", "--timeout", "6"])
        .finish_within(Duration::from_secs(12));
    assert_shown(&done, &sent);
    assert!(!done.stderr.contains("missed"), "{}", done.describe());
}

fn a_gap_beyond_a_small_queue_is_reported_at_once(mqtt: &str) {
    const AWAY: usize = 8;
    let s = small_queue(mqtt);
    let bob = s.member("bob");
    // bob has seen one of alice's messages, so he knows where she was.
    let listener = bob.listen_json("ops", &["--count", "1", "--timeout", "8"]);
    s.alice.send("ops", "first");
    assert_shown(&listener.finish_within(Duration::from_secs(12)), &["first"]);

    let sent: Vec<String> = (1..=AWAY).map(|i| format!("while away {i}")).collect();
    for text in &sent {
        s.alice.send("ops", text);
    }
    // alice comes and goes once (as someone who opens chat and leaves):
    // her presence now tells where her messages are up to. She sends
    // nothing more.
    s.alice.register("ops");

    let done = bob
        .listen_json("ops", &["--timeout", "3"])
        .finish_within(Duration::from_secs(10));
    assert_eq!(done.code(), Some(0), "listen {}", done.describe());
    let kept = texts(&json_lines(&done.stdout));
    assert!(
        (1..=5).contains(&kept.len()) && kept[..] == sent[..kept.len()],
        "the queue keeps the oldest messages: {}",
        done.describe()
    );
    let missed = AWAY - kept.len();
    let report = done.stderr.lines().find(|line| line.contains("missed"));
    assert!(
        report.is_some_and(|line| line.contains(&missed.to_string())),
        "expected a report of {missed} missed messages without alice speaking again: {}",
        done.describe()
    );
}
