//! Security property 1: a client subscribed to `#` on the same broker sees
//! no message text, no member or room names, no public keys, in any topic
//! or payload, across a whole conversation.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
mod home;

use common::{BlockingRawClient, Mosquitto};
use home::Home;

#[test]
fn an_eavesdropper_on_every_topic_learns_no_text_names_or_keys() {
    let broker = Mosquitto::start();
    let eve = BlockingRawClient::connect(broker.port(), "eavesdropper");
    eve.subscribe("#");

    let alice = Home::init("alicewonder", &broker.url());
    let bob = Home::init("bobthebuilder", &broker.url());
    bob.join(&alice.create_room("secretplans"));
    let listener = bob.listen(
        "secretplans",
        &["--json", "--count", "2", "--timeout", "20"],
    );
    let alice_listener = alice.listen(
        "secretplans",
        &["--json", "--count", "1", "--timeout", "20"],
    );
    alice.send("secretplans", "the eagle lands at midnight");
    alice.send("secretplans", "/me hides the documents");
    bob.send("secretplans", "understood, bringing the van");
    listener.finish();
    alice_listener.finish();

    let seen = eve.received();
    // Presence (retained, both members, online and offline) and three
    // messages at least.
    assert!(
        seen.len() >= 5,
        "eavesdropper saw only {} publishes",
        seen.len()
    );
    assert!(seen.iter().any(|r| r.topic.ends_with("/m")));
    assert!(
        seen.iter().any(|r| r.topic.contains("/p/")),
        "no presence seen"
    );

    let mut needles: Vec<Vec<u8>> = [
        "the eagle lands",
        "hides the documents",
        "bringing the van",
        "alicewonder",
        "bobthebuilder",
        "secretplans",
    ]
    .iter()
    .map(|s| s.as_bytes().to_vec())
    .collect();
    for home in [&alice, &bob] {
        for key_hex in home.public_keys_hex() {
            let raw: Vec<u8> = (0..key_hex.len())
                .step_by(2)
                .map(|i| u8::from_str_radix(&key_hex[i..i + 2], 16).unwrap())
                .collect();
            // Any 8-byte window of a key would already be a leak.
            for window in raw.windows(8) {
                needles.push(window.to_vec());
            }
            needles.push(key_hex.into_bytes());
        }
        let fingerprint = home.ok(&["whoami"]);
        let fingerprint = fingerprint
            .lines()
            .last()
            .unwrap()
            .trim_start_matches("fingerprint: ");
        needles.push(fingerprint.as_bytes().to_vec());
        needles.push(fingerprint.replace(' ', "").into_bytes());
    }

    for publish in &seen {
        for needle in &needles {
            let shown = String::from_utf8_lossy(needle);
            assert!(
                !publish
                    .topic
                    .as_bytes()
                    .windows(needle.len())
                    .any(|w| w == &needle[..]),
                "topic {} leaks {shown:?}",
                publish.topic
            );
            assert!(
                !publish
                    .payload
                    .windows(needle.len())
                    .any(|w| w == &needle[..]),
                "payload on {} leaks {shown:?}",
                publish.topic
            );
        }
    }
    // Chat messages are never retained.
    assert!(
        seen.iter()
            .filter(|r| r.topic.ends_with("/m"))
            .all(|r| !r.retain)
    );
}
