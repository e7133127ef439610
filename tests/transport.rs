//! The MQTT transport on its own, against a real Mosquitto, on both MQTT
//! versions: bursts, acknowledgements, floods and poison packets from a raw
//! client that is not a member, broker refusals, and the fallback from
//! MQTT 5 to 3.1.1.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::Duration;

use common::{Mosquitto, MosquittoOptions, RawClient};
use sotto::transport::{
    Announcement, ConnectOptions, MqttVersion, Publication, Subscription, SubscriptionKind,
    Transport, TransportError, TransportEvent, VersionChoice,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const BOTH: [MqttVersion; 2] = [MqttVersion::V5, MqttVersion::V311];

fn options(port: u16, client_id: &str, version: VersionChoice) -> ConnectOptions {
    ConnectOptions {
        url: format!("mqtt://127.0.0.1:{port}").parse().unwrap(),
        client_id: client_id.to_owned(),
        clean_session: true,
        version,
        credentials: None,
        keep_alive: Duration::from_secs(30),
        ca_file: None,
        client_auth: None,
        session_subscribed: false,
    }
}

fn reliable(filter: &str) -> Subscription {
    Subscription {
        filter: filter.to_owned(),
        kind: SubscriptionKind::Reliable,
    }
}

async fn connect(
    port: u16,
    client_id: &str,
    version: MqttVersion,
    subscriptions: Vec<Subscription>,
) -> Transport {
    let options = options(port, client_id, VersionChoice::Only(version));
    let mut transport = Transport::start(options, subscriptions, Announcement::default).unwrap();
    transport
        .wait_connected(Duration::from_secs(10))
        .await
        .unwrap();
    transport
}

/// The next message event, skipping notes; panics on a disconnect.
async fn next_message(transport: &mut Transport, within: Duration) -> (String, Vec<u8>) {
    let wait = async {
        loop {
            match transport.next_event().await {
                Some(TransportEvent::Message {
                    topic,
                    payload,
                    ack,
                    ..
                }) => {
                    transport.ack(ack).unwrap();
                    return (topic, payload);
                }
                Some(TransportEvent::Disconnected { reason, .. }) => {
                    panic!("the connection dropped: {reason}")
                }
                Some(_) => {}
                None => panic!("the transport stopped"),
            }
        }
    };
    tokio::time::timeout(within, wait)
        .await
        .expect("no message in time")
}

/// Regression: publishes beyond rumqttc's request queue were dropped
/// silently (only 1441 of 5000 arrived in the load test).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_larger_than_the_client_queue_is_delivered_whole() {
    const COUNT: usize = 3000;
    // What is tested is the sender's side. Mosquitto queues at most 1000
    // messages for a slow subscriber by default and drops the rest: a
    // watcher slowed down by a loaded machine lost 83 of them once.
    let broker = Mosquitto::start_with(MosquittoOptions {
        extra_config: vec!["max_queued_messages 0".to_owned()],
        ..MosquittoOptions::default()
    });
    let watcher = RawClient::connect(broker.port(), "watcher").await;
    watcher.subscribe("burst/#").await;
    for version in BOTH {
        let topic = format!("burst/{version}");
        let sender = connect(broker.port(), "burst-sender", version, Vec::new()).await;
        for i in 0..COUNT {
            sender
                .publish(Publication {
                    topic: topic.clone(),
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
        watcher.take_received();
        let numbers: Vec<usize> = seen.iter().map(|r| r.text().parse().unwrap()).collect();
        assert_eq!(numbers, (0..COUNT).collect::<Vec<_>>(), "MQTT {version}");
        sender.shutdown(None).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn publish_acked_waits_for_the_broker() {
    let broker = Mosquitto::start();
    for version in BOTH {
        let sender = connect(broker.port(), "acked", version, Vec::new()).await;
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
}

/// Regression: the connection task awaited a full event channel while the
/// reader awaited an acknowledgement channel only that task drained; a
/// 20 000-publish QoS 0 flood froze both, keep-alive stopped and the broker
/// dropped the client. Now the reader can be slow: nothing is lost, the
/// flood is dropped and counted once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_qos0_flood_while_the_reader_is_busy_freezes_nothing() {
    let broker = Mosquitto::start();
    let attacker = RawClient::connect(broker.port(), "attacker").await;
    for version in BOTH {
        let topic = format!("room-{version}/m");
        let mut member = connect(broker.port(), "member", version, vec![reliable(&topic)]).await;
        let (port, flood_topic) = (broker.port(), topic.clone());
        tokio::task::spawn_blocking(move || common::attack::flood_qos0(port, &flood_topic, 20_000))
            .await
            .unwrap();
        attacker.publish(&topic, b"real".to_vec(), false).await;
        // The reader takes its time; the task must keep the socket alive.
        tokio::time::sleep(Duration::from_secs(2)).await;
        let (mut real, mut report) = (None, None);
        tokio::time::timeout(Duration::from_secs(20), async {
            while real.is_none() || report.is_none() {
                match member.next_event().await {
                    Some(TransportEvent::Message { payload, ack, .. }) => {
                        member.ack(ack).unwrap();
                        real = Some(payload);
                    }
                    Some(TransportEvent::Unacknowledged { count }) => report = Some(count),
                    Some(TransportEvent::Disconnected { reason, .. }) => {
                        panic!("MQTT {version}: dropped: {reason}")
                    }
                    Some(_) => {}
                    None => panic!("stopped"),
                }
            }
        })
        .await
        .expect("the real message and the flood's report arrive");
        assert_eq!(real.as_deref(), Some(&b"real"[..]), "MQTT {version}");
        let report = report.unwrap_or_default();
        assert!(report > 0 && report <= 20_000, "MQTT {version}: {report}");
        member.shutdown(None).await;
    }
}

/// Regression: a 17 MiB QoS 1 publish made rumqttc drop the connection;
/// the broker redelivered it after every reconnect, forever, and nothing
/// after it was ever shown. On 3.1.1 it is read, acknowledged and thrown
/// away with one event; on MQTT 5 the broker discards it for us.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_poison_packet_queued_for_a_member_does_not_wedge_the_session() {
    let broker = Mosquitto::start();
    let mut big = RawClient::options(broker.port(), "poisoner");
    big.set_max_packet_size(32 << 20, 32 << 20);
    let attacker = RawClient::connect_with(big).await;
    for version in BOTH {
        let topic = format!("poison-{version}/m");
        let id = format!("victim-{}", version.to_string().replace('.', ""));
        let mut options = options(broker.port(), &id, VersionChoice::Only(version));
        options.clean_session = false;
        let subscriptions = vec![reliable(&topic)];
        let mut victim = Transport::start(
            options.clone(),
            subscriptions.clone(),
            Announcement::default,
        )
        .unwrap();
        victim
            .wait_connected(Duration::from_secs(10))
            .await
            .unwrap();
        victim.shutdown(None).await;

        // Queued while the victim is away: the poison, then a real one.
        attacker.publish(&topic, vec![0x55; 17 << 20], false).await;
        attacker.publish(&topic, b"after".to_vec(), false).await;

        let mut victim = Transport::start(options, subscriptions, Announcement::default).unwrap();
        victim
            .wait_connected(Duration::from_secs(10))
            .await
            .unwrap();
        let mut discarded = 0;
        let payload = tokio::time::timeout(Duration::from_secs(20), async {
            loop {
                match victim.next_event().await {
                    Some(TransportEvent::Message { payload, ack, .. }) => {
                        victim.ack(ack).unwrap();
                        return payload;
                    }
                    Some(TransportEvent::Discarded { bytes }) => {
                        assert!(bytes >= 17 << 20);
                        discarded += 1;
                    }
                    Some(TransportEvent::Disconnected { reason, .. }) => {
                        panic!("MQTT {version}: dropped: {reason}")
                    }
                    Some(_) => {}
                    None => panic!("stopped"),
                }
            }
        })
        .await
        .expect("the message after the poison arrives");
        assert_eq!(payload, b"after", "MQTT {version}");
        let expected = if version == MqttVersion::V311 { 1 } else { 0 };
        assert_eq!(discarded, expected, "MQTT {version}");
        victim.shutdown(None).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broker_that_only_allows_qos0_is_a_refusal_in_words() {
    let broker = Mosquitto::start_with(MosquittoOptions {
        extra_config: vec!["max_qos 0".into()],
        ..MosquittoOptions::default()
    });
    for version in BOTH {
        let options = options(broker.port(), "qos0", VersionChoice::Only(version));
        let mut transport =
            Transport::start(options, vec![reliable("room/m")], Announcement::default).unwrap();
        match transport.wait_connected(Duration::from_secs(10)).await {
            Err(TransportError::Refused(reason)) => {
                assert!(reason.contains("only allows QoS 0"), "{reason}");
            }
            other => panic!("MQTT {version}: {other:?}"),
        }
    }
}

/// A loopback proxy in front of a real mosquitto that hangs up on (or
/// refuses) MQTT 5 CONNECTs, as rumqttd and NATS 2.9 do, and passes
/// everything else through.
async fn version_filter(upstream: u16, refuse_with_connack: bool) -> u16 {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((mut client, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut first = vec![0u8; 256];
                let n = client.read(&mut first).await.unwrap_or(0);
                first.truncate(n);
                // Fixed header (type + 1-byte length), then "\0\x04MQTT",
                // then the protocol level.
                if first.get(8) == Some(&5) {
                    if refuse_with_connack {
                        let _ = client.write_all(&[0x20, 0x03, 0x00, 0x84, 0x00]).await;
                    }
                    return;
                }
                let Ok(mut server) = tokio::net::TcpStream::connect(("127.0.0.1", upstream)).await
                else {
                    return;
                };
                if server.write_all(&first).await.is_ok() {
                    let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                }
            });
        }
    });
    port
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auto_falls_back_to_311_when_a_broker_refuses_or_drops_mqtt5() {
    let broker = Mosquitto::start();
    for refuse in [false, true] {
        let port = version_filter(broker.port(), refuse).await;
        let options = options(port, "fallback", VersionChoice::Auto);
        let mut transport =
            Transport::start(options, vec![reliable("fb/m")], Announcement::default).unwrap();
        let (connected, notes) = transport
            .wait_connected(Duration::from_secs(10))
            .await
            .unwrap();
        assert!(
            matches!(
                connected,
                TransportEvent::Connected {
                    version: MqttVersion::V311,
                    ..
                }
            ),
            "{connected:?}"
        );
        assert!(
            notes
                .iter()
                .any(|n| matches!(n, TransportEvent::Note(text) if text.contains("3.1.1"))),
            "{notes:?}"
        );
        transport
            .publish_acked(
                Publication {
                    topic: "fb/m".into(),
                    payload: b"hi".to_vec(),
                    retain: false,
                },
                Duration::from_secs(5),
            )
            .await
            .unwrap();
        let (_, payload) = next_message(&mut transport, Duration::from_secs(5)).await;
        assert_eq!(payload, b"hi");
        transport.shutdown(None).await;
    }
    // Forced to 5, the same broker is an error, not a silent downgrade.
    let port = version_filter(broker.port(), true).await;
    let options = options(port, "forced", VersionChoice::Only(MqttVersion::V5));
    let mut transport = Transport::start(options, Vec::new(), Announcement::default).unwrap();
    match transport.wait_connected(Duration::from_secs(10)).await {
        Err(TransportError::Unreachable { reason, .. }) => {
            assert!(reason.contains("MQTT 5"), "{reason}");
        }
        other => panic!("{other:?}"),
    }
}

/// Regression: rumqttc's poll is not cancel-safe, and the driver polled it
/// inside a `select!`: a publish handed over while the broker's CONNACK
/// was on its way dropped the connection the broker had just accepted.
/// With a persistent session the retry then found the session that
/// attempt made, so a client moving to a broker without its session was
/// never told (seen as a flaky bridge test).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn publishes_handed_over_while_connecting_cost_no_connection() {
    let broker = Mosquitto::start();
    for version in BOTH {
        let client_id = format!("trickle-{version}");
        let mut options = options(broker.port(), &client_id, VersionChoice::Only(version));
        options.clean_session = false;
        let mut transport = Transport::start(options, Vec::new(), Announcement::default).unwrap();
        let trickle = async {
            // Closer together than a loopback connect takes, so some
            // arrive between the CONNECT and the CONNACK.
            for i in 0..500u32 {
                let publication = Publication {
                    topic: "trickle/m".into(),
                    payload: i.to_be_bytes().to_vec(),
                    retain: false,
                };
                transport.publish(publication).await.unwrap();
                let pause = std::time::Instant::now();
                while pause.elapsed() < Duration::from_micros(20) {
                    tokio::task::yield_now().await;
                }
            }
        };
        trickle.await;
        let session_present = loop {
            match tokio::time::timeout(Duration::from_secs(10), transport.next_event()).await {
                Ok(Some(TransportEvent::Connected {
                    session_present, ..
                })) => break session_present,
                Ok(Some(_)) => {}
                other => panic!("not connected: {other:?}\n{}", broker.log()),
            }
        };
        assert!(
            !session_present,
            "MQTT {version}: a fresh client id has no session"
        );
        let connections = broker
            .log()
            .lines()
            .filter(|line| line.contains(&format!(" as {client_id} ")))
            .count();
        assert_eq!(connections, 1, "MQTT {version}\n{}", broker.log());
        transport.shutdown(None).await;
    }
}

/// What is handed over while the broker is away is acknowledged once it
/// is back with the session, and whoever waits for that is told so (chat
/// turns it into the ✓ on a sent line): it neither fails nor waits
/// forever because the connection dropped in between.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_publish_made_during_an_outage_is_acknowledged_after_it() {
    let mut broker = Mosquitto::start();
    for version in BOTH {
        let client_id = format!("outage-{version}");
        let mut options = options(broker.port(), &client_id, VersionChoice::Only(version));
        options.clean_session = false;
        let mut transport = Transport::start(options, Vec::new(), Announcement::default).unwrap();
        transport
            .wait_connected(Duration::from_secs(10))
            .await
            .unwrap();
        broker.stop();
        let publication = Publication {
            topic: "outage/m".into(),
            payload: b"during".to_vec(),
            retain: false,
        };
        let acked = transport.publish_tracked(publication).await.unwrap();
        // Let the driver fail an attempt or two while the broker is away.
        tokio::time::sleep(Duration::from_millis(700)).await;
        broker.start_again();
        let outcome = tokio::time::timeout(Duration::from_secs(20), acked)
            .await
            .expect("no answer after the broker came back");
        assert_eq!(outcome, Ok(Ok(())), "MQTT {version}\n{}", broker.log());
        transport.shutdown(None).await;
    }
}

/// An acknowledgement belongs to the connection that took the message:
/// handed to another transport (a session that moved to a new epoch
/// acknowledging a message its old connection took), it is dropped there
/// rather than acknowledging whatever that connection got under the same
/// packet id.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ack_owed_by_one_transport_is_never_sent_by_another() {
    let broker = Mosquitto::start();
    for version in BOTH {
        let filter = format!("owed/{version}");
        let mut first = connect(
            broker.port(),
            "owed-first",
            version,
            vec![reliable(&filter)],
        )
        .await;
        let second = connect(
            broker.port(),
            "owed-second",
            version,
            vec![reliable(&filter)],
        )
        .await;
        let publisher = RawClient::connect(broker.port(), "owed-publisher").await;
        publisher.publish(&filter, b"one".to_vec(), false).await;
        let ack = loop {
            match tokio::time::timeout(Duration::from_secs(10), first.next_event()).await {
                Ok(Some(TransportEvent::Message { ack, .. })) => break ack,
                Ok(Some(_)) => {}
                other => panic!("no message: {other:?}"),
            }
        };
        second.ack(ack).unwrap();
        first.ack(ack).unwrap();
        // The first one's PUBACK reaching the broker shows the second's
        // had its turn.
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while !broker.log().contains("Received PUBACK from owed-first") {
            assert!(std::time::Instant::now() < deadline, "{}", broker.log());
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert!(
            !broker.log().contains("Received PUBACK from owed-second"),
            "MQTT {version}\n{}",
            broker.log()
        );
        first.shutdown(None).await;
        second.shutdown(None).await;
    }
}

/// The acknowledgements of messages taken from `transport`, `n` of them,
/// in the order they came.
async fn take_acks(transport: &mut Transport, n: usize) -> Vec<sotto::transport::Ack> {
    let mut acks = Vec::new();
    while acks.len() < n {
        match tokio::time::timeout(Duration::from_secs(10), transport.next_event()).await {
            Ok(Some(TransportEvent::Message { ack, .. })) => acks.push(ack),
            Ok(Some(TransportEvent::Disconnected { reason, .. })) => {
                panic!("the connection dropped: {reason}")
            }
            Ok(Some(_)) => {}
            other => panic!("{} of {n} messages, then {other:?}", acks.len()),
        }
    }
    acks
}

/// PUBACKs leave in the order the PUBLISHes came (MQTT 3.1.1 §4.6),
/// whatever order the reader is done with the messages in (a forged one
/// is refused at once while a real one before it is still being shown).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledgements_leave_in_the_order_the_messages_came() {
    let broker = Mosquitto::start();
    for version in BOTH {
        let filter = format!("order/{version}");
        let client = format!("order-{version}");
        let mut reader = connect(broker.port(), &client, version, vec![reliable(&filter)]).await;
        let publisher = RawClient::connect(broker.port(), &format!("order-pub-{version}")).await;
        for text in ["one", "two", "three"] {
            publisher
                .publish(&filter, text.as_bytes().to_vec(), false)
                .await;
        }
        let acks = take_acks(&mut reader, 3).await;
        reader.ack(acks[2]).unwrap();
        reader.ack(acks[0]).unwrap();
        reader.ack(acks[1]).unwrap();
        let sent: Vec<u16> = (broker.publishes_sent().into_iter())
            .filter(|publish| publish.client == client)
            .map(|publish| publish.mid)
            .collect();
        assert_eq!(sent.len(), 3, "{}", broker.log());
        common::wait::wait_until("three PUBACKs", Duration::from_secs(10), || {
            broker.pubacks_received(&client).len() == 3
        });
        let acked = broker.pubacks_received(&client);
        assert_eq!(acked, sent, "MQTT {version}\n{}", broker.log());
        reader.shutdown(None).await;
    }
}

/// `sotto broker` on a private port; killed when dropped (the home goes
/// with it).
struct Builtin(
    std::process::Child,
    u16,
    #[allow(dead_code)] tempfile::TempDir,
);

impl Builtin {
    fn start() -> Self {
        let home = tempfile::tempdir().unwrap();
        let port = common::broker::free_port();
        let child = std::process::Command::new(assert_cmd::cargo::cargo_bin!("sotto"))
            .arg("--home")
            .arg(home.path())
            .args(["broker", "--listen", &format!("127.0.0.1:{port}")])
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        common::wait::wait_until("the built-in broker", Duration::from_secs(20), || {
            std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
        });
        Self(child, port, home)
    }
}

impl Drop for Builtin {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The built-in broker (rumqttd) drops a connection that acknowledges
/// out of order; done out of order, the messages are acknowledged in
/// order and the connection stays.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_builtin_broker_keeps_a_reader_that_finishes_messages_out_of_order() {
    let broker = Builtin::start();
    // Its one listener speaks MQTT 3.1.1.
    {
        let filter = "order";
        let mut reader =
            connect(broker.1, "order", MqttVersion::V311, vec![reliable(filter)]).await;
        let publisher = RawClient::connect(broker.1, "order-pub").await;
        for text in ["one", "two", "three"] {
            publisher
                .publish(filter, text.as_bytes().to_vec(), false)
                .await;
        }
        let acks = take_acks(&mut reader, 3).await;
        reader.ack(acks[2]).unwrap();
        reader.ack(acks[0]).unwrap();
        reader.ack(acks[1]).unwrap();
        publisher.publish(filter, b"four".to_vec(), false).await;
        let (_, payload) = next_message(&mut reader, Duration::from_secs(10)).await;
        assert_eq!(payload, b"four");
        reader.shutdown(None).await;
    }
}

/// A publish handed over just before the transport is shut down goes
/// out before the DISCONNECT: the stop travels on another channel than
/// the publishes and could be taken first (a kick's or a leave's commit
/// was then never sent, though the user was told it was made).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_publish_right_before_shutdown_is_not_lost() {
    const ROUNDS: usize = 20;
    let broker = Mosquitto::start();
    let mut reader = connect(
        broker.port(),
        "last-words-reader",
        MqttVersion::V5,
        vec![reliable("last/+")],
    )
    .await;
    for round in 0..ROUNDS {
        let writer = connect(
            broker.port(),
            &format!("last-words-{round}"),
            MqttVersion::V5,
            vec![],
        )
        .await;
        writer
            .publish(Publication {
                topic: format!("last/{round}"),
                payload: b"said".to_vec(),
                retain: false,
            })
            .await
            .unwrap();
        writer.shutdown(None).await;
    }
    let mut topics = Vec::new();
    for _ in 0..ROUNDS {
        let (topic, _) = next_message(&mut reader, Duration::from_secs(10)).await;
        topics.push(topic);
    }
    topics.sort_unstable();
    let mut expected: Vec<String> = (0..ROUNDS).map(|round| format!("last/{round}")).collect();
    expected.sort_unstable();
    assert_eq!(topics, expected);
}
