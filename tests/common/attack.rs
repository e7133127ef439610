//! What an outsider does to a room: someone who is not a member but can
//! subscribe to `#` and publish anything on the broker (issue 6). Each
//! helper is one attack, with no sotto logic and no room secrets.

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use rumqttc::QoS;

use super::broker::locate_mosquitto;
use super::raw::{BlockingRawClient, RawClient};

/// Over rumqttc's and sotto's 16 MiB incoming packet limit, far under
/// MQTT's 256 MiB maximum (Mosquitto accepts it by default).
pub const POISON_LEN: usize = 17 * 1024 * 1024;

/// The topic of a room's messages, as anyone subscribed to `#` learns it:
/// runs `trigger` (which must make a member send a message) and returns
/// the topic the message went out on.
pub fn message_topic_seen_on_wire(port: u16, trigger: impl FnOnce()) -> String {
    let eavesdropper = BlockingRawClient::connect(port, "eavesdropper");
    eavesdropper.subscribe("#");
    trigger();
    let seen = eavesdropper.wait_for("a chat message on the wire", |seen| {
        seen.iter().find(|r| r.topic.ends_with("/m")).cloned()
    });
    eavesdropper.disconnect();
    seen.topic
}

/// The presence topics' common prefix (`…/p/`) of the room whose messages
/// go to `message_topic`: any id after it is a presence topic to members.
pub fn presence_prefix(message_topic: &str) -> String {
    let base = message_topic
        .strip_suffix("/m")
        .unwrap_or_else(|| panic!("{message_topic:?} is not a message topic"));
    format!("{base}/p/")
}

/// One QoS 1 publish of [`POISON_LEN`] bytes on `topic`, acknowledged by
/// the broker (so it is queued for offline sessions, or retained).
pub fn publish_poison(port: u16, topic: &str, retain: bool) {
    let mut options = RawClient::options(port, "poisoner");
    let max = POISON_LEN + 1024 * 1024;
    options.set_max_packet_size(max, max);
    let poisoner = BlockingRawClient::connect_with(options);
    poisoner.publish(topic, vec![0x01; POISON_LEN], retain);
    poisoner.disconnect();
}

/// `n` one-byte QoS 0 publishes on `topic`, as fast as they go: with
/// `mosquitto_pub -l -q 0` when it is installed (the reported attack:
/// `yes x | head -n 20000 | mosquitto_pub -l -q 0 -t TOPIC`), otherwise
/// with the raw client. Returns once all are written.
pub fn flood_qos0(port: u16, topic: &str, n: usize) {
    let deadline = Duration::from_secs(30);
    let Ok(mosquitto_pub) = locate_mosquitto("mosquitto_pub") else {
        let flooder = BlockingRawClient::connect(port, "flooder");
        let started = Instant::now();
        for _ in 0..n {
            flooder
                .try_publish_with(topic, b"x".to_vec(), QoS::AtMostOnce, false)
                .unwrap();
            assert!(started.elapsed() < deadline, "the flood took too long");
        }
        flooder.disconnect();
        return;
    };
    let mut child = Command::new(mosquitto_pub)
        .args(["-h", "127.0.0.1", "-p", &port.to_string()])
        .args(["-i", "flooder", "-q", "0", "-t", topic, "-l"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let lines = "x\n".repeat(n);
    child
        .stdin
        .take()
        .unwrap()
        .write_all(lines.as_bytes())
        .unwrap();
    let started = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            assert!(status.success(), "mosquitto_pub failed: {status}");
            return;
        }
        if started.elapsed() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("mosquitto_pub did not finish the flood within {deadline:?}");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}
