//! The figures of a run, as a table for people and one JSON object for
//! scripts.

use std::fmt::Write as _;
use std::path::PathBuf;

use super::idle::ROOMS;
use super::mosquitto::BROKER_INFLIGHT;
use super::runs::{CATCH_UP, CREDIT, RECEIVE_MAXIMUM, SENDER_INFLIGHT};
use crate::transport::MqttVersion;

/// Latency percentiles in milliseconds, publish call (before sealing) to
/// delivery (after saving, for sotto).
#[derive(Debug, Clone, Copy)]
pub struct Latency {
    /// Median.
    pub p50_ms: f64,
    /// 99th percentile.
    pub p99_ms: f64,
}

/// One path's figures (medians over the rounds).
#[derive(Debug, Clone, Copy)]
pub struct PathFigures {
    /// Bytes on the wire per message.
    pub payload_bytes: usize,
    /// Messages per second at QoS 1, one sender and one receiver.
    pub throughput: f64,
    /// Sending one message at a time.
    pub latency: Latency,
    /// Deliveries per second from one sender to every member.
    pub fanout: f64,
    /// Milliseconds from connecting to having handled 1000 messages
    /// queued while away.
    pub catch_up_ms: f64,
}

/// Peak memory of idle `sotto` processes: one `chat` and one `listen`
/// per room, holding 10 rooms between them.
#[derive(Debug, Clone)]
pub struct IdleMemory {
    /// How long they were idle.
    pub seconds: f64,
    /// VmHWM of the `chat`, in KiB.
    pub chat_kib: u64,
    /// VmHWM of each `listen`, in KiB.
    pub listen_kib: Vec<u64>,
}

impl IdleMemory {
    /// The largest of all, in MiB: what one idle client needs at most.
    pub fn largest_mib(&self) -> f64 {
        let largest = self.listen_kib.iter().copied().chain([self.chat_kib]).max();
        mib(largest.unwrap_or(0))
    }
}

fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

/// Unacknowledged messages in flight at once, each way: what MQTT lets a
/// receiver or sender pipeline. `None` where only the broker knows.
#[derive(Debug, Clone, Copy)]
pub struct Window {
    /// The MQTT version the broker took.
    pub mqtt: MqttVersion,
    /// Whether the broker is the bench's own (its settings are known).
    pub own_broker: bool,
}

impl Window {
    /// From the broker to each receiver: sotto's Receive Maximum on MQTT
    /// 5, the broker's max_inflight_messages on 3.1.1.
    pub fn to_receiver(&self) -> Option<u64> {
        match (self.mqtt, self.own_broker) {
            (MqttVersion::V5, _) => Some(RECEIVE_MAXIMUM),
            (MqttVersion::V311, true) => Some(u64::from(BROKER_INFLIGHT)),
            (MqttVersion::V311, false) => None,
        }
    }

    /// From the sender to the broker: rumqttc's limit, or on MQTT 5 the
    /// broker's Receive Maximum if lower (Mosquitto announces its
    /// max_inflight_messages).
    pub fn from_sender(&self) -> Option<u64> {
        match (self.mqtt, self.own_broker) {
            (MqttVersion::V5, true) => Some(SENDER_INFLIGHT.min(u64::from(BROKER_INFLIGHT))),
            (MqttVersion::V5, false) => None,
            (MqttVersion::V311, _) => Some(SENDER_INFLIGHT),
        }
    }

    fn describe(&self) -> String {
        let to_receiver = match (self.to_receiver(), self.mqtt) {
            (Some(n), MqttVersion::V5) => format!("{n} (sotto's Receive Maximum)"),
            (Some(n), MqttVersion::V311) => format!("{n} (the broker's max_inflight_messages)"),
            (None, _) => "the broker's max_inflight_messages".to_owned(),
        };
        let from_sender = match (self.from_sender(), self.mqtt) {
            (Some(n), MqttVersion::V5) => format!("{n} (the broker's Receive Maximum)"),
            (Some(n), MqttVersion::V311) => format!("{n} (rumqttc's limit)"),
            (None, _) => format!("{SENDER_INFLIGHT}, or the broker's Receive Maximum if lower"),
        };
        format!(
            "MQTT {}, QoS 1; unacknowledged in flight: broker to each receiver {to_receiver}, \
             sender to broker {from_sender}; sent but not yet handled by every receiver: \
             at most {CREDIT}",
            self.mqtt
        )
    }
}

/// Everything one run measured.
#[derive(Debug, Clone)]
pub struct Report {
    /// Messages per throughput and fan-out run.
    pub messages: u64,
    /// Messages per latency run.
    pub latency_messages: u64,
    /// Bytes of text per message.
    pub size: usize,
    /// Receiving members in the fan-out runs.
    pub members: usize,
    /// Rounds the figures are medians of.
    pub rounds: usize,
    /// Which broker, in words.
    pub broker: String,
    /// How many messages were in flight at once.
    pub window: Window,
    /// Where the receivers' homes were.
    pub homes: PathBuf,
    /// Milliseconds for a 4 KiB write and fsync there (median of 20).
    pub fsync_ms: f64,
    /// Plain MQTT delivered at QoS 0, messages per second.
    pub plain_qos0: f64,
    /// Plain MQTT at QoS 1.
    pub plain: PathFigures,
    /// The crypto floor.
    pub floor: PathFigures,
    /// sotto as `listen` runs it.
    pub sotto: PathFigures,
    /// Idle processes.
    pub idle: IdleMemory,
}

impl Report {
    /// sotto's QoS 1 throughput over the floor's.
    pub fn throughput_vs_floor(&self) -> f64 {
        self.sotto.throughput / self.floor.throughput
    }

    /// sotto's QoS 1 throughput over plain MQTT's.
    pub fn throughput_vs_plain(&self) -> f64 {
        self.sotto.throughput / self.plain.throughput
    }

    /// sotto's p99 latency over the floor's.
    pub fn latency_p99_vs_floor(&self) -> f64 {
        self.sotto.latency.p99_ms / self.floor.latency.p99_ms
    }

    /// sotto's fan-out rate over the floor's.
    pub fn fanout_vs_floor(&self) -> f64 {
        self.sotto.fanout / self.floor.fanout
    }

    /// The floor's catch-up time over sotto's: above 1 means sotto
    /// catches up faster than the floor.
    pub fn catchup_vs_floor(&self) -> f64 {
        self.floor.catch_up_ms / self.sotto.catch_up_ms
    }

    /// Every figure as one JSON object.
    pub fn json(&self) -> serde_json::Value {
        let path = |p: &PathFigures| {
            serde_json::json!({
                "payload_bytes": p.payload_bytes,
                "throughput_qos1_msg_s": p.throughput,
                "latency_p50_ms": p.latency.p50_ms,
                "latency_p99_ms": p.latency.p99_ms,
                "fanout_msg_s": p.fanout,
                "catchup_1000_ms": p.catch_up_ms,
            })
        };
        serde_json::json!({
            "throughput_vs_floor_qos1": self.throughput_vs_floor(),
            "throughput_vs_plain_qos1": self.throughput_vs_plain(),
            "latency_p99_vs_floor": self.latency_p99_vs_floor(),
            "fanout_vs_floor": self.fanout_vs_floor(),
            "catchup_1000_vs_floor": self.catchup_vs_floor(),
            "rss_idle_mib": self.idle.largest_mib(),
            "rss_idle_chat_mib": mib(self.idle.chat_kib),
            "rss_idle_listen_max_mib": mib(self.idle.listen_kib.iter().copied().max().unwrap_or(0)),
            "rss_idle_listen_total_mib": mib(self.idle.listen_kib.iter().sum()),
            "plain_qos0_msg_s": self.plain_qos0,
            "plain": path(&self.plain),
            "floor": path(&self.floor),
            "sotto": path(&self.sotto),
            "messages": self.messages,
            "latency_messages": self.latency_messages,
            "size": self.size,
            "members": self.members,
            "rounds": self.rounds,
            "mqtt": self.window.mqtt.to_string(),
            "inflight_to_receiver": self.window.to_receiver(),
            "inflight_from_sender": self.window.from_sender(),
            "fsync_4k_ms": self.fsync_ms,
            "sender_credit": CREDIT,
            "broker": self.broker,
        })
    }

    /// The table `sotto bench` prints.
    pub fn table(&self) -> String {
        let mut out = String::new();
        let rounds = match self.rounds {
            1 => String::new(),
            n => format!("; medians of {n} rounds"),
        };
        let _ = writeln!(
            out,
            "sotto bench: {} messages of {} bytes; latency over {} sent one at a time; \
             fan-out to {} members{rounds}",
            self.messages, self.size, self.latency_messages, self.members
        );
        let _ = writeln!(out, "broker: {}", self.broker);
        let _ = writeln!(out, "{}", self.window.describe());
        let _ = writeln!(
            out,
            "homes: {} (a 4 KiB write and fsync there: {:.2} ms; set TMPDIR to measure \
             another filesystem)",
            self.homes.display(),
            self.fsync_ms
        );
        let _ = writeln!(out);
        let _ = writeln!(
            out,
            "{:<34}{:>12}{:>14}{:>10}{:>10}{:>10}  target",
            "", "plain MQTT", "crypto floor", "sotto", "vs floor", "vs plain"
        );
        let (p, f, s) = (&self.plain, &self.floor, &self.sotto);
        let bytes = |x: &PathFigures| x.payload_bytes.to_string();
        row(
            &mut out,
            "payload, bytes",
            [bytes(p), bytes(f), bytes(s)],
            None,
            "",
        );
        let rates = |get: fn(&PathFigures) -> f64| [get(p), get(f), get(s)];
        rate_row(
            &mut out,
            "throughput at QoS 1, msg/s",
            rates(|x| x.throughput),
            ">= 0.9x floor",
        );
        let _ = writeln!(
            out,
            "{:<34}{:>12}",
            "  plain delivered at QoS 0, msg/s",
            thousands(self.plain_qos0)
        );
        time_row(
            &mut out,
            "latency p50, ms",
            rates(|x| x.latency.p50_ms),
            false,
            "",
        );
        time_row(
            &mut out,
            "latency p99, ms",
            rates(|x| x.latency.p99_ms),
            false,
            "<= 1.1x floor",
        );
        let fanout = format!("fan-out to {}, deliveries/s", self.members);
        rate_row(&mut out, &fanout, rates(|x| x.fanout), ">= 0.9x floor");
        let catch_up = format!("catch-up of {CATCH_UP} queued, ms");
        time_row(
            &mut out,
            &catch_up,
            rates(|x| x.catch_up_ms),
            true,
            "> 1x floor",
        );
        let idle = &self.idle;
        let _ = writeln!(
            out,
            "\npeak memory (VmHWM) of sotto processes holding {ROOMS} rooms, idle for {:.0} s:",
            idle.seconds
        );
        let memory = |what: &str, kib: u64, target: &str| {
            format!("  {what:<58}{:>7.1} MiB  {target}\n", mib(kib))
        };
        out += &memory(
            &format!("chat on pipes, {ROOMS} rooms in its home, one connected"),
            idle.chat_kib,
            "",
        );
        out += &memory(
            &format!("listen, one process per room, the largest of {ROOMS}"),
            idle.listen_kib.iter().copied().max().unwrap_or(0),
            "",
        );
        out += &memory(
            &format!("listen, all {ROOMS} together"),
            idle.listen_kib.iter().sum(),
            "",
        );
        let _ = writeln!(
            out,
            "  {:<58}{:>7.1} MiB  < 15 MiB",
            "largest single process (rss_idle_mib)",
            idle.largest_mib()
        );
        let _ = writeln!(
            out,
            "\nvs floor, vs plain: sotto's rate or latency over theirs, and for catch-up their \
             time over sotto's, as in --json:\nabove 1 is better than theirs for rates and \
             catch-up, worse for latency"
        );
        out
    }
}

fn row(out: &mut String, label: &str, values: [String; 3], ratios: Option<[f64; 2]>, target: &str) {
    let [p, f, s] = values;
    let ratios = match ratios {
        Some([vs_floor, vs_plain]) => format!("{:>10}{:>10}", ratio(vs_floor), ratio(vs_plain)),
        None => format!("{:>20}", ""),
    };
    let line = format!("{label:<34}{p:>12}{f:>14}{s:>10}{ratios}  {target}");
    let _ = writeln!(out, "{}", line.trim_end());
}

/// A row of rates: sotto's over theirs.
fn rate_row(out: &mut String, label: &str, [p, f, s]: [f64; 3], target: &str) {
    let values = [thousands(p), thousands(f), thousands(s)];
    row(out, label, values, Some([s / f, s / p]), target);
}

/// A row of times: sotto's over theirs, or with `inverse` theirs over
/// sotto's.
fn time_row(out: &mut String, label: &str, [p, f, s]: [f64; 3], inverse: bool, target: &str) {
    let values = [millis(p), millis(f), millis(s)];
    let ratios = match inverse {
        false => [s / f, s / p],
        true => [f / s, p / s],
    };
    row(out, label, values, Some(ratios), target);
}

fn thousands(value: f64) -> String {
    let digits = format!("{:.0}", value.max(0.0));
    let mut out = String::new();
    for (i, digit) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(digit);
    }
    out
}

fn millis(value: f64) -> String {
    match value {
        v if v < 10.0 => format!("{v:.2}"),
        v if v < 100.0 => format!("{v:.1}"),
        v => thousands(v),
    }
}

fn ratio(value: f64) -> String {
    match value {
        v if v < 0.1 => format!("{v:.3}x"),
        v if v < 10.0 => format!("{v:.2}x"),
        v => format!("{v:.0}x"),
    }
}
