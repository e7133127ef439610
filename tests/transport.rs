//! The MQTT transport on its own, against a real Mosquitto.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::Duration;

use common::{Mosquitto, RawClient};
use sotto::transport::{Announcement, ConnectOptions, Publication, Transport};

fn options(broker: &Mosquitto, client_id: &str) -> ConnectOptions {
    ConnectOptions {
        url: broker.url().parse().unwrap(),
        client_id: client_id.to_owned(),
        clean_session: true,
        credentials: None,
        keep_alive: Duration::from_secs(30),
        ca_file: None,
    }
}

/// Regression: publishes beyond rumqttc's request queue were dropped
/// silently (only 1441 of 5000 arrived in the load test).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_larger_than_the_client_queue_is_delivered_whole() {
    const COUNT: usize = 3000;
    let broker = Mosquitto::start();
    let watcher = RawClient::connect(broker.port(), "watcher").await;
    watcher.subscribe("burst/#").await;

    let mut sender = Transport::start(
        options(&broker, "burst-sender"),
        Vec::new(),
        Announcement::default,
    )
    .unwrap();
    sender
        .wait_connected(Duration::from_secs(10))
        .await
        .unwrap();
    for i in 0..COUNT {
        sender
            .publish(Publication {
                topic: "burst/m".into(),
                payload: format!("{i}").into_bytes(),
                retain: false,
            })
            .await
            .unwrap();
    }
    let seen = watcher
        .wait_for_within(Duration::from_secs(60), "the whole burst", |seen| {
            (seen.len() >= COUNT).then(|| seen.to_vec())
        })
        .await;
    let numbers: Vec<usize> = seen.iter().map(|r| r.text().parse().unwrap()).collect();
    assert_eq!(numbers, (0..COUNT).collect::<Vec<_>>(), "lost or reordered");
    sender.shutdown(None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn publish_acked_waits_for_the_broker() {
    let broker = Mosquitto::start();
    let mut sender =
        Transport::start(options(&broker, "acked"), Vec::new(), Announcement::default).unwrap();
    sender
        .wait_connected(Duration::from_secs(10))
        .await
        .unwrap();
    for i in 0..20 {
        sender
            .publish_acked(
                Publication {
                    topic: "acked/m".into(),
                    payload: vec![i],
                    retain: false,
                },
                Duration::from_secs(10),
            )
            .await
            .unwrap();
    }
    sender.shutdown(None).await;
}
