//! Smoke tests for the integration-test harness in `tests/common`: the
//! private Mosquitto broker and the raw MQTT client.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::fs;
use std::net::TcpStream;
use std::time::Duration;

use common::{
    BlockingRawClient, DEFAULT_TIMEOUT, LastWill, MOSQUITTO_MISSING, Mosquitto, MosquittoOptions,
    QoS, RawClient, locate_mosquitto,
};

#[test]
fn broker_starts_on_a_private_port_with_the_expected_config() {
    let broker = Mosquitto::start();
    assert_ne!(broker.port(), 1883);
    assert_eq!(broker.url(), format!("mqtt://127.0.0.1:{}", broker.port()));
    TcpStream::connect(broker.addr()).expect("broker accepts TCP");

    let conf = fs::read_to_string(broker.config_path()).unwrap();
    for line in [
        format!("listener {} 127.0.0.1", broker.port()),
        "allow_anonymous true".to_owned(),
        "persistence true".to_owned(),
        format!("persistence_location {}/", broker.data_dir().display()),
        "user root".to_owned(),
    ] {
        assert!(
            conf.lines().any(|l| l == line),
            "missing `{line}` in\n{conf}"
        );
    }
    assert!(!conf.contains("max_packet_size"), "{conf}");
    assert!(broker.log().contains("running"), "{}", broker.log());
}

#[test]
fn two_brokers_get_different_ports() {
    let a = Mosquitto::start();
    let b = Mosquitto::start();
    assert_ne!(a.port(), b.port());
}

#[tokio::test]
async fn raw_publish_reaches_a_wildcard_subscriber() {
    let broker = Mosquitto::start();
    let eve = RawClient::connect(broker.port(), "harness-eve").await;
    eve.subscribe("#").await;
    let pub_ = RawClient::connect(broker.port(), "harness-pub").await;

    pub_.publish("sotto/v1/room/m", b"hello".to_vec(), false)
        .await;
    let got = eve.wait_for_topic("sotto/v1/room/m").await;
    assert_eq!(got.payload, b"hello");
    assert!(!got.retain);
    assert_eq!(got.qos, QoS::AtLeastOnce);

    // 100 KiB of garbage goes through both ways (max packet size is raised).
    let garbage: Vec<u8> = (0..100 * 1024).map(|i| (i * 7 + 3) as u8).collect();
    pub_.publish("sotto/v1/room/m", garbage.clone(), false)
        .await;
    let big = eve
        .wait_for("the 100 KiB payload", |r| {
            r.iter().find(|m| m.payload.len() == garbage.len()).cloned()
        })
        .await;
    assert_eq!(big.payload, garbage);

    // Retained messages reach late subscribers with the retain flag set.
    pub_.publish("sotto/v1/room/p/x", b"presence".to_vec(), true)
        .await;
    let late = RawClient::connect(broker.port(), "harness-late").await;
    late.subscribe("sotto/v1/#").await;
    let kept = late.wait_for_topic("sotto/v1/room/p/x").await;
    assert!(kept.retain);
    assert_eq!(kept.text(), "presence");

    // QoS 0 works too, and wildcard topics are refused locally.
    pub_.try_publish_with("q0", b"zero".to_vec(), QoS::AtMostOnce, false)
        .await
        .unwrap();
    eve.wait_for_topic("q0").await;
    assert!(
        pub_.try_publish_with("bad/#", b"x".to_vec(), QoS::AtLeastOnce, false)
            .await
            .is_err()
    );
    // ... and the client is still in step afterwards.
    pub_.publish("after", b"ok".to_vec(), false).await;
    eve.wait_for_topic("after").await;
}

#[tokio::test]
async fn last_will_fires_when_the_connection_drops() {
    let broker = Mosquitto::start();
    let watcher = RawClient::connect(broker.port(), "harness-watcher").await;
    watcher.subscribe("will/#").await;
    let mut opts = RawClient::options(broker.port(), "harness-mortal");
    opts.set_last_will(LastWill::new(
        "will/mortal",
        b"gone".to_vec(),
        QoS::AtLeastOnce,
        false,
    ));
    let mut mortal = RawClient::connect_with(opts).await;
    mortal.drop_connection().await;
    assert!(!mortal.is_connected());
    assert_eq!(watcher.wait_for_topic("will/mortal").await.text(), "gone");
}

#[tokio::test]
async fn persistent_session_survives_a_broker_restart() {
    let mut broker = Mosquitto::start();
    let port = broker.port();
    let sub = RawClient::connect_persistent(port, "harness-persistent").await;
    sub.subscribe("sotto/v1/r/m").await;
    sub.disconnect().await;
    assert!(!sub.is_connected());

    let publisher = RawClient::connect(port, "harness-publisher").await;
    publisher
        .publish("sotto/v1/r/m", b"while you were away".to_vec(), false)
        .await;

    broker.restart();
    assert_eq!(broker.port(), port);
    assert!(
        broker.data_dir().join("mosquitto.db").exists(),
        "persistence file was not written"
    );
    // The old connection died with the broker.
    common::wait_until_async("the publisher to notice", DEFAULT_TIMEOUT, || {
        !publisher.is_connected()
    })
    .await;

    let sub = RawClient::connect_persistent(port, "harness-persistent").await;
    assert!(sub.session_present(), "session lost across restart");
    let got = sub.wait_for_topic("sotto/v1/r/m").await;
    assert_eq!(got.text(), "while you were away");

    // The subscription itself survived too.
    let publisher = RawClient::connect(port, "harness-publisher").await;
    publisher
        .publish("sotto/v1/r/m", b"after restart".to_vec(), false)
        .await;
    sub.wait_for("the post-restart message", |r| {
        r.iter().find(|m| m.text() == "after restart").cloned()
    })
    .await;
}

#[test]
fn stop_then_start_again_keeps_port_and_a_crash_is_survivable() {
    let mut broker = Mosquitto::start();
    let port = broker.port();
    broker.stop();
    assert!(!broker.is_running());
    // (Not checked: that nothing listens on the port now. Another test
    // process may have been handed the freed port meanwhile.)
    broker.start_again();
    assert_eq!(broker.port(), port);
    broker.kill();
    broker.start_again();
    assert!(broker.is_running());
    TcpStream::connect(broker.addr()).expect("broker back after a crash");
}

#[test]
fn blocking_client_round_trip() {
    let broker = Mosquitto::start();
    let sub = BlockingRawClient::connect(broker.port(), "harness-bsub");
    sub.subscribe("b/#");
    let publisher = BlockingRawClient::connect(broker.port(), "harness-bpub");
    for i in 0..50 {
        publisher.publish(&format!("b/{i}"), vec![i as u8; 10], false);
    }
    let got = sub.wait_for_count(50);
    assert_eq!(got.len(), 50);
    assert_eq!(got[49].topic, "b/49");
    assert_eq!(sub.take_received().len(), 50);
    assert!(sub.received().is_empty());
    sub.disconnect();
    assert!(!sub.is_connected());
    let err = publisher
        .try_publish_with("x", b"y".to_vec(), QoS::AtLeastOnce, false)
        .map(|_| ());
    assert!(err.is_ok());
}

#[test]
fn missing_binary_message_is_clear() {
    let err = locate_mosquitto("sotto-no-such-mosquitto").unwrap_err();
    assert!(err.starts_with(MOSQUITTO_MISSING), "{err}");
    let err = locate_mosquitto("/nonexistent/mosquitto").unwrap_err();
    assert!(err.starts_with(MOSQUITTO_MISSING), "{err}");
    assert!(locate_mosquitto("mosquitto").is_ok());
}

#[test]
#[should_panic(
    expected = "mosquitto is not installed: install it with `apt-get install -y mosquitto`"
)]
fn starting_without_mosquitto_panics() {
    let _ = Mosquitto::start_with(MosquittoOptions {
        binary: "sotto-no-such-mosquitto".to_owned(),
        ..MosquittoOptions::default()
    });
}

#[test]
fn child_output_can_be_awaited() {
    let mut child = std::process::Command::new("sh")
        .args(["-c", "echo one; echo two >&2; sleep 0.1; echo three"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let out = common::ChildOutput::capture(&mut child);
    let line = out.wait_for_stdout_line("three", Duration::from_secs(5), |l| l == "three");
    assert_eq!(line, "three");
    assert_eq!(
        out.wait_for_stdout_lines(2, Duration::from_secs(5)),
        ["one", "three"]
    );
    child.wait().unwrap();
    let (stdout, stderr) = out.finish();
    assert_eq!(stdout, "one\nthree\n");
    assert_eq!(stderr, "two\n");
}
