//! Bound names against the real binary and a private Mosquitto: members
//! who post under a look-alike of a verified name, under a name with an
//! invisible character in it, or under the very same name one key after
//! another; naming a member when a name is not enough; and what
//! `listen --json` writes to stdout while all of that goes on.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
mod home;

use common::{BlockingRawClient, Mosquitto};
use home::{Home, json_lines, texts};
use sotto::identity::Identity;
use sotto::protocol::message::Body;
use sotto::topics::{DEFAULT_PREFIX, RoomTopics};

/// alice made ops; bob joined with her invite (so her key is verified for
/// him when it appears) and connected once, so the broker queues for him.
struct Scene {
    broker: Mosquitto,
    alice: Home,
    bob: Home,
    invite: String,
}

fn scene() -> Scene {
    let broker = Mosquitto::start();
    let alice = Home::init("alice", &broker.url());
    let bob = Home::init("bob", &broker.url());
    // Key changes under a name are what rooms without a log must flag; a
    // room with a log refuses a second key under a bound name at join
    // (tests/membership.rs).
    let invite = alice.create_room_without_log("ops");
    bob.join(&invite);
    bob.register("ops");
    Scene {
        broker,
        alice,
        bob,
        invite,
    }
}

impl Scene {
    /// Someone else holding the invite, calling themselves `name`.
    fn member(&self, name: &str) -> Home {
        let home = Home::init(name, &self.broker.url());
        home.join(&self.invite);
        home
    }

    /// bob's `listen --json` until `count` messages have arrived: stdout
    /// parsed (every line must be JSON) and stderr.
    fn bob_reads(&self, count: usize) -> (Vec<serde_json::Value>, String) {
        let count = count.to_string();
        let listener = self
            .bob
            .listen_json("ops", &["--count", &count, "--timeout", "30"]);
        let (ok, stdout, stderr) = listener.finish();
        assert!(ok, "{stderr}");
        (json_lines(&stdout), stderr)
    }

    /// `sotto send` from bob: whether it worked, and its stderr.
    fn bob_sends(&self, text: &str) -> (bool, String) {
        let out = self.bob.run(&["send", "ops", text]);
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }
}

/// A home's fingerprint as `whoami` shows it.
fn fingerprint(home: &Home) -> String {
    let whoami = home.ok(&["whoami"]);
    whoami
        .lines()
        .find_map(|line| line.strip_prefix("fingerprint: "))
        .unwrap()
        .to_owned()
}

/// The first two groups of a fingerprint: enough digits to name a key.
fn prefix(fingerprint: &str) -> String {
    fingerprint[..11].to_owned()
}

#[test]
fn a_cyrillic_look_alike_of_a_verified_name_is_flagged_and_blocks_sending() {
    let s = scene();
    // "аlice": the first letter is CYRILLIC SMALL LETTER A.
    let impostor = s.member("\u{430}lice");
    s.alice.send("ops", "hi bob");
    impostor.send("ops", "hi bob, it's alice on my phone");
    let (lines, stderr) = s.bob_reads(2);
    assert_eq!(
        texts(&lines),
        ["hi bob", "hi bob, it's alice on my phone"],
        "{stderr}"
    );
    assert_eq!(lines[0]["warning"], serde_json::Value::Null);
    assert_eq!(lines[1]["from"], "\u{430}lice");
    assert_eq!(lines[1]["verified"], false);
    assert_eq!(lines[1]["warning"], "lookalike");
    assert!(
        stderr.contains("looks like alice") && stderr.contains("spelled \\u{430}lice"),
        "{stderr}"
    );

    // bob may not send until he deals with that key, and is told why.
    let (sent, said) = s.bob_sends("are you?");
    assert!(!sent, "a send went out past a look-alike");
    assert_eq!(said.lines().count(), 1, "one sentence: {said}");
    assert!(said.contains("looks like alice"), "{said}");
    assert!(
        said.contains(&prefix(&fingerprint(&impostor))),
        "names the key: {said}"
    );
    let members = s.bob.ok(&["members", "ops"]);
    assert!(members.contains("LOOK-ALIKE, BLOCKS SENDING"), "{members}");

    // Accepting it (by the fingerprint it showed) lets bob send again.
    let impostor_fp = fingerprint(&impostor);
    s.bob
        .ok(&["accept", "ops", &prefix(&impostor_fp), &impostor_fp]);
    let (sent, said) = s.bob_sends("ok then");
    assert!(sent, "{said}");
}

#[test]
fn a_name_with_a_word_joiner_is_refused_at_init_and_on_the_wire() {
    let s = scene();
    // sotto will not make such an identity...
    let home = Home::empty(&s.broker.url());
    let out = home.run(&["init", "--name", "al\u{2060}ice"]);
    assert_eq!(out.status.code(), Some(1));
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(said.contains("U+2060"), "{said}");
    assert_eq!(said.lines().count(), 1, "{said}");
    // ...and a typed name in a compatibility form is brought to NFKC.
    let wide = Home::empty(&s.broker.url());
    wide.ok(&["init", "--name", "ｃａｒｏｌ"]);
    assert!(wide.ok(&["whoami"]).contains("name: carol"));

    // A member who holds the room key makes one by hand and posts with
    // it next to a verified alice.
    let mallory = s.member("mallory");
    let mut room = mallory.room("ops");
    let posing = Identity::from_secrets("al\u{2060}ice".into(), &[7; 32], [9; 32]);
    let payload = room
        .seal_message(
            &posing,
            Body::Text("it is alice".into()),
            sotto::session::now_ms(),
            &mut rand::rng(),
        )
        .unwrap();
    let topic = RoomTopics::new(DEFAULT_PREFIX, &room).messages;
    s.alice.send("ops", "before");
    let raw = BlockingRawClient::connect(s.broker.port(), "names-intruder");
    raw.publish(&topic, payload, false);
    raw.disconnect();
    s.alice.send("ops", "after");

    // Refused like a malformed payload: one warning, nothing shown,
    // nothing stored, and sending is not blocked by it.
    let (lines, stderr) = s.bob_reads(2);
    assert_eq!(texts(&lines), ["before", "after"], "{stderr}");
    let dropped: Vec<&str> = stderr.lines().filter(|l| l.contains("dropped")).collect();
    assert_eq!(dropped.len(), 1, "{stderr}");
    assert!(dropped[0].contains("malformed"), "{stderr}");
    let members = s.bob.ok(&["members", "ops"]);
    assert!(!members.contains("2060"), "{members}");
    assert_eq!(
        members.lines().count(),
        3,
        "bob, alice and a header: {members}"
    );
    let (sent, said) = s.bob_sends("still here");
    assert!(sent, "{said}");
}

#[test]
fn after_accepting_one_impostor_the_next_key_under_alice_is_blocked_again() {
    let s = scene();
    let first = s.member("alice");
    s.alice.send("ops", "hi");
    first.send("ops", "new laptop");
    let (lines, stderr) = s.bob_reads(2);
    assert_eq!(lines[1]["warning"], "key_changed", "{stderr}");
    assert!(stderr.contains("alice's key changed"), "{stderr}");
    assert!(!s.bob_sends("x").0);

    let first_fp = fingerprint(&first);
    let accepted = s.bob.ok(&["accept", "ops", &prefix(&first_fp), &first_fp]);
    assert!(
        accepted.contains("Accepted the key of alice·"),
        "{accepted}"
    );
    let (sent, said) = s.bob_sends("welcome back");
    assert!(sent, "{said}");

    // Another key claims alice: the verified one still holds the name.
    let second = s.member("alice");
    second.send("ops", "no, this is my new laptop");
    let (lines, stderr) = s.bob_reads(1);
    assert_eq!(lines[0]["warning"], "key_changed", "{stderr}");
    assert!(stderr.contains("Sending is blocked"), "{stderr}");
    let (sent, said) = s.bob_sends("which one?");
    assert!(!sent, "the second impostor got through");
    assert!(said.contains(&prefix(&fingerprint(&second))), "{said}");
    assert!(!said.contains(&prefix(&first_fp)), "{said}");
}

#[test]
fn an_ambiguous_member_is_refused_with_candidates_and_a_fingerprint_prefix_names_one() {
    let s = scene();
    let impostor = s.member("alice");
    s.alice.send("ops", "hi");
    impostor.send("ops", "hi too");
    s.bob_reads(2);
    let alice_fp = fingerprint(&s.alice);
    let impostor_fp = fingerprint(&impostor);

    for command in ["verify", "accept"] {
        let out = s.bob.run(&[command, "ops", "alice", &alice_fp]);
        assert_eq!(out.status.code(), Some(1), "{command}");
        let said = String::from_utf8_lossy(&out.stderr);
        assert_eq!(said.lines().count(), 1, "{said}");
        assert!(said.contains("could be any of 2 keys"), "{said}");
        assert!(
            said.contains(&format!("alice {}… (verified)", prefix(&alice_fp))),
            "{said}"
        );
        assert!(
            said.contains(&format!("alice {}… (unverified)", prefix(&impostor_fp))),
            "{said}"
        );
    }

    // Eight digits, grouped as shown or hyphenated, name the key; the
    // whole fingerprint must still match it.
    let eight = format!("{}-{}", &impostor_fp[..5], &impostor_fp[6..9]);
    let out = s.bob.run(&["accept", "ops", &eight, &alice_fp]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("does not match"));
    assert!(!s.bob_sends("x").0, "a mismatch accepted nothing");
    let mut args = vec!["accept", "ops", eight.as_str()];
    args.extend(impostor_fp.split(' '));
    s.bob.ok(&args);
    assert!(s.bob_sends("x").0);
    let out = s.bob.ok(&["verify", "ops", &prefix(&alice_fp), &alice_fp]);
    assert!(out.contains("Verified alice·"), "{out}");
    // Seven digits are not enough.
    let out = s
        .bob
        .run(&["verify", "ops", &impostor_fp[..7], &impostor_fp]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no member called"));
}

#[test]
fn listen_json_writes_only_message_objects_and_everything_else_to_stderr() {
    let s = scene();
    let impostor = s.member("alice");
    let look_alike = s.member("\u{430}lice");
    let carol = s.member("carol");
    s.alice.send("ops", "one");
    impostor.send("ops", "two");
    look_alike.send("ops", "three");
    carol.send("ops", "four");
    // Junk from someone who can publish to the broker.
    let topic = RoomTopics::new(DEFAULT_PREFIX, &s.bob.room("ops")).messages;
    let raw = BlockingRawClient::connect(s.broker.port(), "names-junk");
    raw.publish(&topic, b"\x01\x00junk".to_vec(), false);
    raw.disconnect();
    s.alice.send("ops", "five");
    let before = sotto::session::now_ms();

    let (lines, stderr) = s.bob_reads(5);
    assert_eq!(texts(&lines), ["one", "two", "three", "four", "five"]);
    let mut expected_keys = vec![
        "action",
        "delayed",
        "fingerprint",
        "from",
        "received_ts",
        "room",
        "seq",
        "text",
        "ts",
        "verified",
        "warning",
    ];
    expected_keys.sort_unstable();
    for line in &lines {
        let keys: Vec<&str> = line
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(keys, expected_keys, "{line}");
        assert_eq!(line["room"], "ops");
        assert_eq!(line["delayed"], false);
        assert!(line["received_ts"].as_u64().unwrap() >= line["ts"].as_u64().unwrap() - 5_000);
        assert!(line["received_ts"].as_u64().unwrap() + 60_000 >= before);
    }
    let warnings: Vec<&serde_json::Value> = lines.iter().map(|l| &l["warning"]).collect();
    assert_eq!(
        warnings,
        [
            &serde_json::Value::Null,
            &serde_json::json!("key_changed"),
            &serde_json::json!("lookalike"),
            &serde_json::Value::Null,
            &serde_json::Value::Null,
        ]
    );
    // The key change, the look-alike, the new member and the junk are
    // each one line on stderr.
    for needle in [
        "alice's key changed",
        "looks like alice",
        "new member carol",
        "dropped a payload",
    ] {
        let count = stderr.lines().filter(|l| l.contains(needle)).count();
        assert_eq!(count, 1, "{needle:?} in:\n{stderr}");
    }
}

#[test]
fn chat_help_explains_accept_member() {
    let home = Home::empty("mqtt://127.0.0.1:1");
    let help = home.ok(&["chat", "--help"]);
    for needle in ["/accept MEMBER", "/verify MEMBER FINGERPRINT", "8+ digits"] {
        assert!(help.contains(needle), "{needle:?} in:\n{help}");
    }
    let help = home.ok(&["accept", "--help"]);
    assert!(help.contains("fingerprint"), "{help}");
}
