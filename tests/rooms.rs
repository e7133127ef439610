//! Several members in one room through a real Mosquitto: everyone sees
//! everyone else's messages, with the right sender and trust, once.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
mod home;

use std::time::Duration;

use common::Mosquitto;
use home::{Home, json_lines, texts};

#[test]
fn three_members_each_see_the_others_messages_once() {
    let broker = Mosquitto::start();
    let alice = Home::init("alice", &broker.url());
    let bob = Home::init("bob", &broker.url());
    let carol = Home::init("carol", &broker.url());
    let invite = alice.create_room("ops");
    bob.join(&invite);
    carol.join(&invite);

    let listeners: Vec<_> = [&alice, &bob, &carol]
        .iter()
        .map(|home| home.listen("ops", &["--json", "--timeout", "20"]))
        .collect();
    alice.send("ops", "from alice");
    bob.send("ops", "from bob");
    carol.send("ops", "from carol");
    // Closing messages: each member's own first message is echoed back by
    // the broker before these arrive, so once a listener has seen them any
    // echo shown as a message would already be in its output.
    alice.send("ops", "end from alice");
    bob.send("ops", "end from bob");

    let names = ["alice", "bob", "carol"];
    let expected: [&[&str]; 3] = [
        &["from bob", "from carol", "end from bob"],
        &["from alice", "from carol", "end from alice"],
        &["from alice", "from bob", "end from alice", "end from bob"],
    ];
    for ((listener, me), expected) in listeners.into_iter().zip(names).zip(expected) {
        listener.wait_json(expected.len(), Duration::from_secs(15));
        let (ok, stdout, stderr) = listener.interrupt();
        assert!(ok, "{stderr}");
        let lines = json_lines(&stdout);
        assert_eq!(texts(&lines), expected, "{me} saw {stdout}");
        for line in &lines {
            let from = line["from"].as_str().unwrap();
            assert_ne!(from, me, "{me} was shown their own message");
            assert!(
                line["text"]
                    .as_str()
                    .unwrap()
                    .ends_with(&format!("from {from}"))
            );
            assert_eq!(line["room"], "ops");
            // Bob and carol joined with alice's invite, so her key is
            // verified for them; nobody else is verified yet.
            let verified = from == "alice" && me != "alice";
            assert_eq!(line["verified"], verified, "{me} sees {from}");
            assert!(line["ts"].as_u64().unwrap() > 0);
        }
    }

    // After the messages, everyone knows everyone.
    let members = bob.ok(&["members", "ops"]);
    for name in names {
        assert!(members.contains(name), "{members}");
    }
}

#[test]
fn verify_after_meeting_marks_messages_verified() {
    let broker = Mosquitto::start();
    let alice = Home::init("alice", &broker.url());
    let bob = Home::init("bob", &broker.url());
    bob.join(&alice.create_room("ops"));
    let listener = alice.listen("ops", &["--json", "--count", "1"]);
    bob.send("ops", "hi");
    let line = &listener.wait_json(1, Duration::from_secs(15))[0];
    assert_eq!(line["verified"], false);
    listener.finish();

    let fingerprint = bob.ok(&["whoami"]);
    let fingerprint = fingerprint
        .lines()
        .find_map(|l| l.strip_prefix("fingerprint: "))
        .unwrap();
    alice.ok(&["verify", "ops", "bob", fingerprint]);
    let listener = alice.listen("ops", &["--json", "--count", "1"]);
    bob.send("ops", "verified now");
    let line = &listener.wait_json(1, Duration::from_secs(15))[0];
    assert_eq!(line["verified"], true);
    assert!(alice.ok(&["members", "ops"]).contains("verified"));
}

#[test]
fn a_second_session_on_the_same_home_and_room_is_refused() {
    let broker = Mosquitto::start();
    let alice = Home::init("alice", &broker.url());
    alice.create_room("ops");
    let _first = alice.listen("ops", &["--timeout", "20"]);
    let second = alice.run(&["listen", "ops", "--timeout", "1"]);
    assert_eq!(second.status.code(), Some(1));
    let stderr = String::from_utf8(second.stderr).unwrap();
    assert!(
        stderr.contains("already connected to room \"ops\""),
        "{stderr}"
    );
    // Sending does not need the session, so it still works.
    alice.send("ops", "still fine");
}

#[test]
fn an_unreachable_broker_is_one_clear_sentence_and_exit_1() {
    let port = common::broker::free_port();
    let url = format!("mqtt://127.0.0.1:{port}");
    let alice = Home::init("alice", &url);
    alice.create_room("ops");
    for args in [
        &["send", "ops", "hi"][..],
        &["listen", "ops", "--timeout", "5"],
    ] {
        let out = alice.run(args);
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        let stderr = String::from_utf8(out.stderr).unwrap();
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
        assert!(
            stderr.contains(&format!("cannot reach the MQTT broker at {url}")),
            "{stderr}"
        );
        assert!(stderr.contains("connection refused"), "{stderr}");
    }
    // An address that is not a broker's is a usage error, said at once.
    let out = std::process::Command::new(assert_cmd::cargo::cargo_bin!("sotto"))
        .env_clear()
        .arg("--home")
        .arg(alice.path())
        .args(["--broker", "http://nope", "send", "ops", "hi"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8(out.stderr)
            .unwrap()
            .contains("mqtt://HOST:PORT")
    );
}

#[test]
fn send_takes_a_multi_line_message_from_standard_input_and_refuses_an_empty_one() {
    let broker = Mosquitto::start();
    let alice = Home::init("alice", &broker.url());
    let bob = Home::init("bob", &broker.url());
    bob.join(&alice.create_room("ops"));
    let listener = bob.listen("ops", &["--json", "--count", "2", "--timeout", "15"]);
    for args in [&["send", "ops", "-"][..], &["send", "ops"][..]] {
        let out = alice.run_with_stdin(args, "line one\nline two\n");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let (ok, stdout, stderr) = listener.finish();
    assert!(ok, "{stderr}");
    assert_eq!(
        texts(&json_lines(&stdout)),
        ["line one\nline two", "line one\nline two"]
    );

    let out = alice.run_with_stdin(&["send", "ops", "-"], "  \n");
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("empty"));
}
