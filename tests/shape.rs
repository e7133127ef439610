//! Traffic shape and late messages (issue 8, §6 and §7), against the real
//! binary and a private Mosquitto: what a client subscribed to `#` learns
//! of a message's length, and what the user sees of a message the broker
//! held back.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
mod home;

use common::{BlockingRawClient, Mosquitto};
use home::Home;
use sotto::identity::{Identity, MAX_NAME_LEN, PublicIdentity};
use sotto::protocol::message::Body;
use sotto::topics::DEFAULT_PREFIX;

#[test]
fn an_eavesdropper_sees_one_size_for_a_short_and_a_long_message_and_for_every_presence() {
    let broker = Mosquitto::start();
    let eve = BlockingRawClient::connect(broker.port(), "eavesdropper");
    eve.subscribe("#");

    let alice = Home::init("alice", &broker.url());
    // The shortest and the longest names a member can have.
    let b = Home::init("b", &broker.url());
    let longest = Home::init(&"c".repeat(MAX_NAME_LEN), &broker.url());
    let invite = alice.create_room("ops");
    b.join(&invite);
    let listener = b.listen("ops", &["--count", "2", "--timeout", "20"]);
    alice.send("ops", "k");
    alice.send("ops", &"k".repeat(100));
    let (ok, stdout, stderr) = listener.finish();
    assert!(ok, "{stdout}\n{stderr}");
    assert!(stdout.contains("alice: k\n"), "{stdout}");
    // An invite made after b's add, so the longest name joins on its own
    // (a member's presence: a joiner still waiting to be let in has none).
    let invite = alice.ok(&["room", "invite", "ops"]);
    longest.join(invite.lines().last().unwrap());
    longest.register("ops");

    // Both messages, and the presence records of both listeners (each
    // "online", then "offline"), on the wire.
    let presence_of = |seen: &[common::Received]| -> Vec<common::Received> {
        seen.iter()
            .filter(|r| r.topic.contains("/p/") && !r.payload.is_empty())
            .cloned()
            .collect()
    };
    let seen = eve.wait_for("two messages and two members' presence", |seen| {
        let messages = seen.iter().filter(|r| r.topic.ends_with("/m")).count();
        let mut members: Vec<String> = presence_of(seen).into_iter().map(|r| r.topic).collect();
        members.sort_unstable();
        members.dedup();
        (messages >= 2 && members.len() >= 2).then(|| seen.to_vec())
    });

    let messages: Vec<usize> = (seen.iter())
        .filter(|r| r.topic.ends_with("/m"))
        .map(|r| r.payload.len())
        .collect();
    assert_eq!(messages.len(), 2, "{messages:?}");
    assert_eq!(
        messages[0], messages[1],
        "a 1-byte and a 100-byte message differ in size on the wire"
    );
    let presence: Vec<usize> = presence_of(&seen).iter().map(|r| r.payload.len()).collect();
    assert!(presence.len() >= 2, "{presence:?}");
    assert!(
        presence.iter().all(|&len| len == presence[0]),
        "presence records of a 1-byte and a {MAX_NAME_LEN}-byte name differ in size: {presence:?}"
    );
}

/// `home`'s identity, as its own client loads it.
fn identity_of(home: &Home) -> Identity {
    let public: PublicIdentity =
        serde_json::from_slice(&std::fs::read(home.path().join("identity.json")).unwrap()).unwrap();
    let key_text = std::fs::read_to_string(home.path().join("identity.key")).unwrap();
    sotto::keyfile::decode(&key_text, public.name, None).unwrap()
}

/// The `(delayed: sent YYYY-MM-DD HH:MM)` mark on the line that carries
/// `text`, if there is one; panics if no line does.
fn delay_mark<'a>(stdout: &'a str, text: &str) -> Option<&'a str> {
    let line = stdout
        .lines()
        .find(|line| line.ends_with(text))
        .unwrap_or_else(|| panic!("no line ends with {text:?}:\n{stdout}"));
    let start = line.find("(delayed: sent ")?;
    let mark = &line[start..];
    Some(&mark[..mark.find(')').unwrap() + 1])
}

#[test]
fn a_held_back_message_and_an_old_one_show_as_delayed_in_listen() {
    let broker = Mosquitto::start();
    let alice = Home::init("alice", &broker.url());
    let bob = Home::init("bob", &broker.url());
    bob.join(&alice.create_room("ops"));
    bob.register("ops");
    alice.register("ops");

    // Alice's own keys and room, used through the library as her client
    // would: the broker (played by a raw client) holds message 1 back
    // until message 2 has gone through, and message 3 carries a time ten
    // minutes old, as a message the broker sat on would.
    let identity = identity_of(&alice);
    let mut room = alice.room("ops");
    let topic = format!("{DEFAULT_PREFIX}/{}/m", room.epoch_topic_id());
    let now = sotto::session::now_ms();
    let mut seal = |seq: u64, sent_at: u64, text: &str| {
        room.seal_numbered(
            &identity,
            seq,
            &[],
            Body::Text(text.into()),
            sent_at,
            &mut rand::rng(),
        )
        .unwrap()
    };
    let listener = bob.listen("ops", &["--count", "3", "--timeout", "20"]);
    let raw = BlockingRawClient::connect(broker.port(), "held-back");
    raw.publish(&topic, seal(2, now, "two, on time"), false);
    raw.publish(&topic, seal(1, now, "one, held back"), false);
    raw.publish(&topic, seal(3, now - 10 * 60_000, "three, sat on"), false);
    raw.disconnect();
    let (ok, stdout, stderr) = listener.finish();
    assert!(ok, "{stdout}\n{stderr}");

    assert_eq!(delay_mark(&stdout, "two, on time"), None, "{stdout}");
    for text in ["one, held back", "three, sat on"] {
        let mark = delay_mark(&stdout, text)
            .unwrap_or_else(|| panic!("{text:?} is not marked delayed:\n{stdout}"));
        // "(delayed: sent " then the sender's date and time, "YYYY-MM-DD HH:MM".
        let when = mark
            .strip_prefix("(delayed: sent ")
            .and_then(|rest| rest.strip_suffix(')'))
            .unwrap();
        let shape: String = when
            .chars()
            .map(|c| if c.is_ascii_digit() { '9' } else { c })
            .collect();
        assert_eq!(shape, "9999-99-99 99:99", "{mark}");
    }
}
