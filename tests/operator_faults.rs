//! What the broker's operator can do, and what the user must then be told
//! (issue 6): only the broker can stop delivery, and when it does, sotto
//! says so in a sentence and exits, at once, instead of hanging, retrying
//! forever or claiming success. Private Mosquitto configured as an
//! operator would; MQTT 5 and 3.1.1.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
mod home;

use std::time::{Duration, Instant};

use common::{BlockingRawClient, Mosquitto, MosquittoOptions, MqttOptions};
use home::{Finished, Home, Listener};

common::on_both_mqtt_versions!(
    a_broker_that_only_allows_qos_0_is_refused_with_a_sentence,
    a_subscription_the_acl_refuses_is_a_sentence_not_a_silence,
    a_subscription_refused_once_is_made_when_the_acl_allows_it,
    a_message_over_the_brokers_packet_size_fails_at_once,
);

/// The broker user (and password) sotto connects as.
const USER: &str = "sotto";

/// A broker started with `options`; alice made `ops` and bob joined it.
/// Both connect as [`USER`].
fn scene(mqtt: &str, options: MosquittoOptions) -> (Mosquitto, Home, Home) {
    let broker = Mosquitto::start_with(options);
    let member = |name| {
        Home::init_with_mqtt(name, &broker.url(), Some(mqtt))
            .with_env("SOTTO_USERNAME", USER)
            .with_env("SOTTO_PASSWORD", USER)
    };
    let (alice, bob) = (member("alice"), member("bob"));
    bob.join(&alice.create_room("ops"));
    (broker, alice, bob)
}

/// A broker whose ACL denies [`USER`] one kind of access (a dynamic
/// security `acltype`: "subscribePattern", "publishClientSend", ...) to
/// sotto's topics, and allows everything else.
fn denying(acltype: &str) -> MosquittoOptions {
    MosquittoOptions {
        dynamic_security: Some(dynamic_security(acltype, false)),
        ..MosquittoOptions::default()
    }
}

/// A broker user who may change the ACL while the broker runs (dynamic
/// security's `$CONTROL` topic); same password.
const OPERATOR: &str = "operator";

// PBKDF2-HMAC-SHA512 of the password "sotto" with this salt and 101
// iterations, as the plugin stores it (made with Python's
// hashlib.pbkdf2_hmac).
const PASSWORD_HASH: &str =
    "B3cIcu/9Itfz/NGw3zZsLGnCIjeImsnl/ehsA8TgqCKadLts4o5MiNF0nelJijIO0ohhofwokqKKweleEuJ+/A==";
const PASSWORD_SALT: &str = "c290dG8tdGVzdHMh";

/// The dynamic security config for [`USER`] with one rule on sotto's
/// topics (`acltype` allowed or denied), and for [`OPERATOR`].
fn dynamic_security(acltype: &str, allow: bool) -> String {
    let config = serde_json::json!({
        "defaultACLAccess": {
            "publishClientSend": true,
            "publishClientReceive": true,
            "subscribe": true,
            "unsubscribe": true
        },
        "clients": [{
            "username": USER,
            "password": PASSWORD_HASH,
            "salt": PASSWORD_SALT,
            "iterations": 101,
            "roles": [{ "rolename": "ruled" }]
        }, {
            "username": OPERATOR,
            "password": PASSWORD_HASH,
            "salt": PASSWORD_SALT,
            "iterations": 101,
            "roles": [{ "rolename": "operator" }]
        }],
        "groups": [],
        "roles": [{
            "rolename": "ruled",
            "acls": [{ "acltype": acltype, "topic": "sotto/v1/#", "priority": 0, "allow": allow }]
        }, {
            "rolename": "operator",
            "acls": [{
                "acltype": "publishClientSend",
                "topic": "$CONTROL/dynamic-security/#",
                "priority": 0,
                "allow": true
            }]
        }]
    });
    config.to_string()
}

/// Runs `args`, waiting at most `timeout`; returns how it ended and how
/// long it took.
fn timed(home: &Home, args: &[&str], timeout: Duration) -> (Finished, Duration) {
    let started = Instant::now();
    let done = home.run_within(args, timeout);
    (done, started.elapsed())
}

fn a_broker_that_only_allows_qos_0_is_refused_with_a_sentence(mqtt: &str) {
    let (_broker, _alice, bob) = scene(
        mqtt,
        MosquittoOptions {
            extra_config: vec!["max_qos 0".into()],
            ..MosquittoOptions::default()
        },
    );
    let done = bob.run_within(
        &["listen", "ops", "--timeout", "5"],
        Duration::from_secs(10),
    );
    assert_eq!(done.code(), Some(1), "{}", done.describe());
    assert!(
        done.stderr.contains("only allows QoS 0"),
        "{}",
        done.describe()
    );
}

fn a_subscription_the_acl_refuses_is_a_sentence_not_a_silence(mqtt: &str) {
    let (_broker, _alice, bob) = scene(mqtt, denying("subscribePattern"));
    let done = bob.run_within(
        &["listen", "ops", "--timeout", "5"],
        Duration::from_secs(10),
    );
    assert_eq!(done.code(), Some(1), "{}", done.describe());
    assert!(
        done.stderr.contains("refused the subscription"),
        "{}",
        done.describe()
    );
}

/// A refused subscription leaves the broker session behind (persistent,
/// without that subscription). Once the operator fixes the ACL, the next
/// `listen` finds the session present and must still subscribe, or it
/// would wait forever in silence.
fn a_subscription_refused_once_is_made_when_the_acl_allows_it(mqtt: &str) {
    let (mut broker, alice, bob) = scene(mqtt, denying("subscribePattern"));
    // alice made the room: her epoch, and so her client id, stay put.
    let refused = alice.run_within(
        &["listen", "ops", "--timeout", "5"],
        Duration::from_secs(10),
    );
    assert_eq!(refused.code(), Some(1), "{}", refused.describe());

    broker.stop();
    let config = broker.dir().join("dynamic-security.json");
    std::fs::write(&config, dynamic_security("subscribePattern", true)).unwrap();
    broker.start_again();

    let listener = alice.listen_json("ops", &["--count", "1", "--timeout", "20"]);
    bob.send("ops", "after the fix");
    let (ok, stdout, stderr) = listener.finish();
    assert!(ok, "{stderr}\n{}", broker.log());
    assert!(stdout.contains("after the fix"), "{stdout}\n{stderr}");
}

/// With a list of brokers, a subscription refused without a reason (every
/// refusal on MQTT 3.1.1; a NATS node answers so while its cluster
/// replaces a dead node) is waited out: `listen` says so once and
/// connects again until it is granted, here once the operator changes
/// the ACL while it waits.
#[test]
fn a_list_of_brokers_waits_out_a_refusal_without_a_reason() {
    let broker = Mosquitto::start_with(denying("subscribePattern"));
    let list = format!("{},{}", broker.url(), broker.url());
    let member = |name| {
        Home::init_with_mqtt(name, &list, Some("3.1.1"))
            .with_env("SOTTO_USERNAME", USER)
            .with_env("SOTTO_PASSWORD", USER)
    };
    let (alice, bob) = (member("alice"), member("bob"));
    bob.join(&alice.create_room("ops"));

    let listener = Listener::start(alice.command(&[
        "listen",
        "ops",
        "--json",
        "--count",
        "1",
        "--timeout",
        "60",
    ]));
    listener.wait_stderr("tries again for up to 90 s", Duration::from_secs(20));
    let operator = BlockingRawClient::connect_with({
        let mut options = MqttOptions::new(OPERATOR, "127.0.0.1", broker.port());
        options.set_credentials(OPERATOR, USER);
        options
    });
    let allow = serde_json::json!({"commands": [{
        "command": "removeRoleACL",
        "rolename": "ruled",
        "acltype": "subscribePattern",
        "topic": "sotto/v1/#"
    }]});
    operator.publish(
        "$CONTROL/dynamic-security/v1",
        allow.to_string().into_bytes(),
        false,
    );
    listener.wait_stderr("listening to ops", Duration::from_secs(20));
    bob.send("ops", "granted at last");
    let (ok, stdout, stderr) = listener.finish();
    assert!(ok, "{stderr}\n{}", broker.log());
    assert!(stdout.contains("granted at last"), "{stdout}\n{stderr}");
    assert_eq!(stderr.matches("tries again").count(), 1, "{stderr}");
}

/// MQTT 5 only: on 3.1.1 Mosquitto acknowledges a publish its ACL then
/// drops, so no client can tell.
#[test]
fn a_publish_the_acl_refuses_fails_at_once_on_mqtt_5() {
    let (_broker, alice, _bob) = scene("5", denying("publishClientSend"));
    let (done, took) = timed(&alice, &["send", "ops", "hello"], Duration::from_secs(8));
    assert_eq!(done.code(), Some(1), "{}", done.describe());
    assert!(took < Duration::from_secs(3), "took {took:?}");
    assert!(
        done.stderr.contains("refused the publish"),
        "{}",
        done.describe()
    );
}

fn a_message_over_the_brokers_packet_size_fails_at_once(mqtt: &str) {
    let (_broker, alice, _bob) = scene(
        mqtt,
        MosquittoOptions {
            extra_config: vec!["max_packet_size 2000".into()],
            ..MosquittoOptions::default()
        },
    );
    let text = "x".repeat(3000);
    let (done, took) = timed(&alice, &["send", "ops", &text], Duration::from_secs(8));
    assert_eq!(done.code(), Some(1), "{}", done.describe());
    assert!(
        took < Duration::from_secs(3),
        "took {took:?}: {}",
        done.describe()
    );
    assert!(
        done.stderr.contains("too large") || done.stderr.contains("size"),
        "{}",
        done.describe()
    );
}
