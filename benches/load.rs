//! End-to-end load against a real broker: what sotto costs per message on
//! top of plain MQTT, and where that cost goes.
//!
//! One private mosquitto (its own loopback port and temporary config, never
//! 127.0.0.1:1883), one sender and one receiver per case, QoS 1, a 200-byte
//! text. Every case runs in this one process against that one broker, so
//! the ratios compare like with like:
//!
//! - `A plaintext MQTT`: the same [`Transport`] publishing the raw text; the
//!   receiver counts and acknowledges. The baseline.
//! - `B seal+open only`: `message::seal` then `message::open`, no network.
//! - `C sotto in-memory`: `Room::seal_message` + publish; the receiver runs
//!   `Room::receive_message` in memory, then acknowledges.
//! - `D sotto full`: the receiver is a [`RoomSession`] on an on-disk
//!   [`Store`], as `sotto listen` is: lock, read and parse the room's JSON,
//!   check, rewrite it, fsync, rename, acknowledge. The sender seals in
//!   memory (as in C), so C and D differ only at the receiver.
//! - `E store update only`: `Store::update_room` with no change, no network
//!   and no crypto, on the state file D left: the disk part of D on its own.
//!   A footnote splits it into the JSON round trip and the atomic write.
//!
//! Throughput is wall time from the first publish to the last message
//! received, the median of `LOAD_ROUNDS` rounds that interleave the cases
//! (one 70 ms plaintext run is noisy on a small machine). The sender keeps
//! at most [`CREDIT`] messages in flight end to end (it waits for the
//! receiver beyond that), so a slow receiver measures its own speed rather
//! than the broker's queue. (This tool found that an unthrottled sender
//! lost messages when rumqttc's request queue filled: 1441 of 5000
//! arrived. The transport now holds them back instead; see
//! `tests/transport.rs`.)
//!
//! Then a paced run (`LOAD_PACED` messages at `LOAD_RATE` per second) gives
//! one-way latency, publish call (before sealing) to delivery (after the
//! state write), for A and D.
//!
//! Every message must arrive exactly once: counts and sequence numbers are
//! checked, and a case that does not finish within 120 s aborts.
//!
//! `cargo bench --bench load`; `LOAD_MESSAGES=N` (default 5000),
//! `LOAD_ROUNDS=N` (default 5), `LOAD_PACED=N` (default 200),
//! `LOAD_RATE=N` (default 100). About 45 s on 2 cores. The store
//! lives under the temporary directory: set `TMPDIR` to measure another
//! filesystem (fsync cost is most of D).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::fs;
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use sotto::identity::Identity;
use sotto::invite::Invite;
use sotto::keyfile;
use sotto::protocol::EpochContext;
use sotto::protocol::message::{self, Body};
use sotto::room::{Received, Room, RoomId};
use sotto::secret::SymmetricKey;
use sotto::session::{BrokerConfig, RoomSession, SessionEvent, now_ms};
use sotto::store::Store;
use sotto::topics::{DEFAULT_PREFIX, RoomTopics};
use sotto::transport::{
    Announcement, BrokerUrl, ConnectOptions, Publication, Subscription, SubscriptionKind,
    Transport, TransportEvent, VersionChoice,
};
use tokio::sync::watch;

const TEXT_LEN: usize = 200;
const DEFAULT_MESSAGES: u64 = 5000;
const DEFAULT_ROUNDS: u64 = 5;
const DEFAULT_PACED: u64 = 200;
const DEFAULT_RATE: u64 = 100;
const WARM_UP: u64 = 500;
/// Most messages published but not yet received, end to end. Well under
/// rumqttc's request queue (1024), well over mosquitto's inflight window.
const CREDIT: u64 = 256;
/// Mosquitto's default, written out so the run states it.
const BROKER_INFLIGHT: u32 = 20;
const CASE_TIMEOUT: Duration = Duration::from_secs(120);
/// How long to keep listening after the last message, for duplicates.
const DRAIN: Duration = Duration::from_millis(300);
/// Pause between connecting and the first publish. Neither mosquitto nor
/// rumqttc sets TCP_NODELAY by default, so a publish the broker forwards
/// within 40 ms of the SUBACK waits for the receiver's delayed ACK (Nagle):
/// a one-off 40 ms stall that would be most of case A's time.
const QUIET: Duration = Duration::from_millis(200);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
const SHARED_PORT: u16 = 1883;
const MOSQUITTO_MISSING: &str = "install mosquitto: apt-get install -y mosquitto";

fn env_u64(name: &str, default: u64) -> u64 {
    match std::env::var(name) {
        Ok(text) => match text.parse() {
            Ok(n) if n > 0 => n,
            _ => panic!("{name} must be a positive integer, got {text:?}"),
        },
        Err(_) => default,
    }
}

/// The text of message `seq` (from 1): its number, then filler, exactly
/// [`TEXT_LEN`] bytes, so the receiver can check which one it got.
fn text(seq: u64) -> String {
    let mut text = format!("{seq:08} ");
    let filler = (0..).map(|i| char::from(b'a' + (i % 26) as u8));
    text.extend(filler.take(TEXT_LEN - text.len()));
    text
}

fn seq_of(text: &[u8]) -> u64 {
    assert_eq!(
        text.len(),
        TEXT_LEN,
        "a message arrived with the wrong length"
    );
    std::str::from_utf8(&text[..8])
        .ok()
        .and_then(|digits| digits.parse().ok())
        .unwrap_or_else(|| panic!("a message arrived without its number"))
}

// ---------------------------------------------------------------------------
// The broker

/// A private mosquitto, killed on drop.
struct Broker {
    child: Child,
    port: u16,
    dir: tempfile::TempDir,
    version: String,
}

impl Broker {
    fn start() -> Self {
        let binary = locate_mosquitto();
        let version = Command::new(&binary)
            .arg("-h")
            .output()
            .ok()
            .and_then(|out| {
                let text = String::from_utf8_lossy(&out.stdout).into_owned();
                text.lines().next().map(str::to_owned)
            })
            .unwrap_or_default();
        let dir = tempfile::Builder::new()
            .prefix("sotto-load-broker-")
            .tempdir()
            .expect("create the broker's temporary directory");
        for _ in 0..5 {
            let port = free_port();
            let config = dir.path().join("mosquitto.conf");
            fs::write(&config, broker_config(port, dir.path())).expect("write mosquitto.conf");
            let mut child = Command::new(&binary)
                .arg("-c")
                .arg(&config)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap_or_else(|err| panic!("cannot run {}: {err}", binary.display()));
            let deadline = Instant::now() + CONNECT_TIMEOUT;
            loop {
                if let Ok(Some(status)) = child.try_wait() {
                    let log =
                        fs::read_to_string(dir.path().join("mosquitto.log")).unwrap_or_default();
                    if log.contains("Address already in use") {
                        break;
                    }
                    panic!("mosquitto exited at startup ({status}); log:\n{log}");
                }
                let addr = (Ipv4Addr::LOCALHOST, port).into();
                if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
                    return Self {
                        child,
                        port,
                        dir,
                        version,
                    };
                }
                if Instant::now() >= deadline {
                    let _ = child.kill();
                    let _ = child.wait();
                    panic!("mosquitto did not accept connections on port {port} within 10 s");
                }
                std::thread::sleep(Duration::from_millis(10));
            }
        }
        panic!("mosquitto could not bind a free loopback port in 5 attempts");
    }

    fn url(&self) -> BrokerUrl {
        BrokerUrl {
            host: "127.0.0.1".into(),
            port: self.port,
            tls: false,
        }
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            let log = fs::read_to_string(self.dir.path().join("mosquitto.log"));
            eprintln!("--- mosquitto log ---\n{}", log.unwrap_or_default());
        }
    }
}

fn broker_config(port: u16, dir: &Path) -> String {
    format!(
        "listener {port} 127.0.0.1\n\
         allow_anonymous true\n\
         persistence false\n\
         # As root mosquitto would drop to the `mosquitto` user; stay as we are.\n\
         user root\n\
         # No queue limit (the sender's credit bounds it anyway).\n\
         max_queued_messages 0\n\
         # Unacknowledged QoS 1 messages per client (mosquitto's default).\n\
         max_inflight_messages {BROKER_INFLIGHT}\n\
         log_dest file {log}\n\
         log_type error\n\
         log_type warning\n\
         log_type notice\n",
        log = dir.join("mosquitto.log").display(),
    )
}

fn locate_mosquitto() -> PathBuf {
    let executable = |p: &Path| {
        fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    };
    let path = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .unwrap_or_default();
    path.into_iter()
        .chain(["/usr/sbin", "/usr/local/sbin", "/opt/homebrew/sbin"].map(PathBuf::from))
        .map(|dir| dir.join("mosquitto"))
        .find(|p| executable(p))
        .unwrap_or_else(|| panic!("{MOSQUITTO_MISSING}"))
}

fn free_port() -> u16 {
    loop {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind a loopback port");
        let port = listener.local_addr().expect("local address").port();
        if port != SHARED_PORT {
            return port;
        }
    }
}

// ---------------------------------------------------------------------------
// Clients

async fn connect(broker: &Broker, client_id: &str, subscriptions: Vec<String>) -> Transport {
    let subscriptions = subscriptions
        .into_iter()
        .map(|filter| Subscription {
            filter,
            kind: SubscriptionKind::Reliable,
        })
        .collect();
    let options = ConnectOptions {
        url: broker.url(),
        // At most 23 characters, the MQTT 3.1.1 limit.
        client_id: format!("load-{}-{}", short(client_id), std::process::id()),
        clean_session: true,
        version: VersionChoice::Auto,
        credentials: None,
        keep_alive: Duration::from_secs(30),
        ca_file: None,
    };
    let mut transport = Transport::start(options, subscriptions, Announcement::default)
        .unwrap_or_else(|err| panic!("{client_id}: {err}"));
    transport
        .wait_connected(CONNECT_TIMEOUT)
        .await
        .unwrap_or_else(|err| panic!("{client_id}: {err}"));
    transport
}

/// A client-id-sized tag for a case name.
fn short(name: &str) -> String {
    name.chars()
        .filter(char::is_ascii_alphanumeric)
        .take(10)
        .collect()
}

/// A fresh topic of the same shape and length as a room's message topic.
fn fresh_topic() -> String {
    let owner = Identity::generate("topic", &mut rand::rng()).expect("identity");
    let room = Room::create("topic", &owner.public(), now_ms(), &mut rand::rng()).expect("room");
    RoomTopics::new(DEFAULT_PREFIX, &room).messages
}

/// What the sender does: publish `n` messages made by `payload`, either as
/// fast as the credit allows or paced. Returns, per message, the instant
/// just before its payload was made (so sealing counts as sending), and the
/// transport, kept open until the receiver is done.
fn spawn_sender(
    transport: Transport,
    topic: String,
    n: u64,
    pace: Option<Duration>,
    mut received: watch::Receiver<u64>,
    mut payload: impl FnMut(u64) -> Vec<u8> + Send + 'static,
) -> tokio::task::JoinHandle<(Transport, Vec<Instant>)> {
    tokio::spawn(async move {
        let mut sent = Vec::with_capacity(n as usize);
        let start = tokio::time::Instant::now();
        for seq in 1..=n {
            if let Some(period) = pace {
                tokio::time::sleep_until(start + period * (seq - 1) as u32).await;
            }
            if received
                .wait_for(|&done| seq - 1 - done < CREDIT)
                .await
                .is_err()
            {
                panic!("the receiver stopped before message {seq} was sent");
            }
            sent.push(Instant::now());
            let publication = Publication {
                topic: topic.clone(),
                payload: payload(seq),
                retain: false,
            };
            if let Err(err) = transport.publish(publication).await {
                panic!("publishing message {seq}: {err}");
            }
        }
        (transport, sent)
    })
}

/// Which messages a receiver has seen and when: each exactly once.
struct Tally {
    case: &'static str,
    arrived: Vec<Option<Instant>>,
    count: u64,
    progress: watch::Sender<u64>,
}

impl Tally {
    fn new(case: &'static str, n: u64) -> (Self, watch::Receiver<u64>) {
        let (progress, receiver) = watch::channel(0);
        let tally = Self {
            case,
            arrived: vec![None; n as usize],
            count: 0,
            progress,
        };
        (tally, receiver)
    }

    fn record(&mut self, seq: u64) {
        let case = self.case;
        let n = self.arrived.len();
        let slot = seq
            .checked_sub(1)
            .and_then(|i| self.arrived.get_mut(i as usize))
            .unwrap_or_else(|| panic!("{case}: message {seq} is not one of the {n} sent"));
        assert!(slot.is_none(), "{case}: message {seq} arrived twice");
        *slot = Some(Instant::now());
        self.count += 1;
        self.progress.send_replace(self.count);
    }

    fn done(&self) -> bool {
        self.count == self.arrived.len() as u64
    }

    fn timed_out(&self) -> ! {
        panic!(
            "{}: timed out after {} s with {} of {} messages received",
            self.case,
            CASE_TIMEOUT.as_secs(),
            self.count,
            self.arrived.len()
        )
    }

    fn arrivals(self) -> Vec<Instant> {
        self.arrived
            .into_iter()
            .map(|at| at.expect("every message arrived"))
            .collect()
    }
}

/// Receives raw MQTT messages until all arrived, acknowledging each after
/// `check` returns its number.
async fn receive_transport(
    transport: &mut Transport,
    tally: &mut Tally,
    mut check: impl FnMut(&[u8]) -> u64,
) {
    let case = tally.case;
    let receive = async {
        while !tally.done() {
            match transport.next_event().await {
                Some(TransportEvent::Message { payload, ack, .. }) => {
                    tally.record(check(&payload));
                    transport.ack(ack).expect("acknowledge");
                }
                Some(TransportEvent::Disconnected { reason, .. }) => {
                    panic!("{case}: the receiver lost its connection: {reason}")
                }
                Some(TransportEvent::Refused { reason }) => panic!("{case}: {reason}"),
                Some(_) => {}
                None => panic!("{case}: the receiver's transport stopped"),
            }
        }
    };
    if tokio::time::timeout(CASE_TIMEOUT, receive).await.is_err() {
        tally.timed_out();
    }
    // Anything more would be a duplicate.
    if let Ok(Some(TransportEvent::Message { .. })) =
        tokio::time::timeout(DRAIN, transport.next_event()).await
    {
        panic!("{case}: a message arrived after all {} had", tally.count);
    }
}

/// One throughput or latency run's result.
struct Run {
    sent: Vec<Instant>,
    arrived: Vec<Instant>,
}

impl Run {
    fn seconds(&self) -> f64 {
        let last = self.arrived.iter().max().expect("messages");
        (*last - self.sent[0]).as_secs_f64()
    }

    fn latencies_ms(&self) -> Vec<f64> {
        let mut all: Vec<f64> = self
            .sent
            .iter()
            .zip(&self.arrived)
            .map(|(sent, arrived)| (*arrived - *sent).as_secs_f64() * 1e3)
            .collect();
        all.sort_by(f64::total_cmp);
        all
    }
}

// ---------------------------------------------------------------------------
// The cases

async fn plaintext(broker: &Broker, case: &'static str, n: u64, pace: Option<Duration>) -> Run {
    let topic = fresh_topic();
    let mut receiver = connect(broker, &format!("{case}-recv"), vec![topic.clone()]).await;
    let sender = connect(broker, &format!("{case}-send"), Vec::new()).await;
    tokio::time::sleep(QUIET).await;
    let (mut tally, progress) = Tally::new(case, n);
    let sending = spawn_sender(sender, topic, n, pace, progress, |seq| {
        text(seq).into_bytes()
    });
    receive_transport(&mut receiver, &mut tally, seq_of).await;
    let (sender, sent) = sending.await.expect("sender task");
    sender.shutdown(None).await;
    receiver.shutdown(None).await;
    Run {
        sent,
        arrived: tally.arrivals(),
    }
}

/// Alice (the sender) and her room, in memory; bob joins with her invite.
struct Pair {
    alice: Identity,
    alice_room: Room,
    bob_room: Room,
}

fn pair(bob: &Identity, room_name: &str) -> Pair {
    let mut rng = rand::rng();
    let alice = Identity::generate("alice", &mut rng).expect("identity");
    let alice_room = Room::create(room_name, &alice.public(), now_ms(), &mut rng).expect("room");
    let invite = Invite::decode(&alice_room.invite().encode()).expect("invite");
    let bob_room = Room::join(&invite, room_name, &bob.public(), now_ms()).expect("join");
    Pair {
        alice,
        alice_room,
        bob_room,
    }
}

/// The sender side of C and D: seal in memory, then publish.
fn sealer(alice: Identity, mut room: Room) -> impl FnMut(u64) -> Vec<u8> + Send + 'static {
    move |seq| {
        room.seal_message(&alice, Body::Text(text(seq)), now_ms(), &mut rand::rng())
            .expect("seal")
    }
}

/// Checks a delivery is message `seq` with its text intact.
fn check_delivery(case: &str, seq: u64, body: &Body) -> u64 {
    let claimed = seq_of(body.text().as_bytes());
    assert_eq!(
        claimed, seq,
        "{case}: message {seq} carries the text of {claimed}"
    );
    seq
}

async fn in_memory(broker: &Broker, case: &'static str, n: u64) -> Run {
    let bob = Identity::generate("bob", &mut rand::rng()).expect("identity");
    let Pair {
        alice,
        alice_room,
        mut bob_room,
    } = pair(&bob, "load");
    let topic = RoomTopics::new(DEFAULT_PREFIX, &bob_room).messages;
    let mut receiver = connect(broker, &format!("{case}-recv"), vec![topic.clone()]).await;
    let sender = connect(broker, &format!("{case}-send"), Vec::new()).await;
    tokio::time::sleep(QUIET).await;
    let (mut tally, progress) = Tally::new(case, n);
    let sending = spawn_sender(sender, topic, n, None, progress, sealer(alice, alice_room));
    receive_transport(&mut receiver, &mut tally, |payload| {
        match bob_room.receive_message(payload, now_ms()) {
            Ok(Received::Accepted(delivery)) => check_delivery(case, delivery.seq, &delivery.body),
            Ok(Received::OwnEcho) => panic!("{case}: bob received his own message"),
            Err(err) => panic!("{case}: refused: {err}"),
        }
    })
    .await;
    let (sender, sent) = sending.await.expect("sender task");
    sender.shutdown(None).await;
    receiver.shutdown(None).await;
    Run {
        sent,
        arrived: tally.arrivals(),
    }
}

/// Bob's home on disk, as `sotto init` leaves it.
fn bob_home(dir: &Path) -> (Store, Arc<Identity>) {
    let store = Store::new(dir.join("bob"));
    let mut rng = rand::rng();
    let bob = Identity::generate("bob", &mut rng).expect("identity");
    let lock = store.lock().expect("lock");
    let key_text = keyfile::encode(&bob, None, &mut rng);
    store
        .write_identity(&lock, &bob.public(), &key_text, false)
        .expect("write identity");
    (store, Arc::new(bob))
}

async fn full(
    broker: &Broker,
    case: &'static str,
    home: &(Store, Arc<Identity>),
    room_name: &str,
    n: u64,
    pace: Option<Duration>,
) -> Run {
    let (store, bob) = home;
    let Pair {
        alice,
        alice_room,
        bob_room,
    } = pair(bob, room_name);
    store
        .save_room(&store.lock().expect("lock"), &bob_room)
        .expect("save room");
    let config = BrokerConfig {
        url: broker.url(),
        credentials: None,
        prefix: DEFAULT_PREFIX.to_owned(),
        ca_file: None,
        version: VersionChoice::Auto,
    };
    let mut session = RoomSession::open(store.clone(), bob.clone(), room_name, &config)
        .await
        .unwrap_or_else(|err| panic!("{case}: {err}"));
    let topic = RoomTopics::new(DEFAULT_PREFIX, &bob_room).messages;
    let sender = connect(broker, &format!("{case}-send"), Vec::new()).await;
    // Also lets the echo of bob's own presence (a state write too) go by.
    settle(&mut session, case).await;
    let (mut tally, progress) = Tally::new(case, n);
    let sending = spawn_sender(sender, topic, n, pace, progress, sealer(alice, alice_room));
    let receive = async {
        while !tally.done() {
            match session.next_event().await {
                Ok(SessionEvent::Message(delivery)) => {
                    tally.record(check_delivery(case, delivery.seq, &delivery.body));
                }
                Ok(event) if is_background(&event) => {}
                Ok(other) => panic!("{case}: unexpected {other:?}"),
                Err(err) => panic!("{case}: the session stopped: {err}"),
            }
        }
    };
    if tokio::time::timeout(CASE_TIMEOUT, receive).await.is_err() {
        tally.timed_out();
    }
    match tokio::time::timeout(DRAIN, session.next_event()).await {
        Err(_) | Ok(Ok(SessionEvent::Presence(_) | SessionEvent::Notices(_))) => {}
        Ok(other) => panic!("{case}: after all {n} messages: {other:?}"),
    }
    let (sender, sent) = sending.await.expect("sender task");
    sender.shutdown(None).await;
    session.close().await;
    Run {
        sent,
        arrived: tally.arrivals(),
    }
}

async fn settle(session: &mut RoomSession, case: &str) {
    let until = tokio::time::Instant::now() + QUIET;
    while let Ok(event) = tokio::time::timeout_at(until, session.next_event()).await {
        match event {
            Ok(event) if is_background(&event) => {}
            other => panic!("{case}: before sending: {other:?}"),
        }
    }
}

/// Events a session reports besides messages that a run can ignore.
fn is_background(event: &SessionEvent) -> bool {
    matches!(
        event,
        SessionEvent::Presence(_)
            | SessionEvent::Connected { .. }
            | SessionEvent::Note(_)
            | SessionEvent::Notices(_)
    )
}

/// B: seal then open, no network, no store. Seconds spent sealing,
/// seconds spent opening, and the size of a sealed payload.
fn crypto_only(n: u64) -> (f64, f64, usize) {
    let alice = Identity::generate("alice", &mut rand::rng()).expect("identity");
    let room_id = RoomId([7; 16]);
    let key = SymmetricKey::random(&mut rand::rng());
    let context = EpochContext {
        room_id: &room_id,
        epoch: 0,
        key: &key,
    };
    let (mut sealing, mut opening, mut size) = (Duration::ZERO, Duration::ZERO, 0);
    for seq in 1..=n {
        let body = Body::Text(text(seq));
        let start = Instant::now();
        let sealed =
            message::seal(context, &alice, seq, now_ms(), body, &mut rand::rng()).expect("seal");
        let sealed_at = Instant::now();
        let opened = message::open(context, &sealed).expect("open");
        opening += sealed_at.elapsed();
        sealing += sealed_at - start;
        assert_eq!(opened.seq, seq);
        size = sealed.len();
    }
    (sealing.as_secs_f64(), opening.as_secs_f64(), size)
}

/// E: what D's receiver does to the disk per message, alone: lock, read,
/// parse, serialise, write, fsync, rename, fsync the directory. On the
/// state file D left behind (two members, a used replay window).
fn store_only(store: &Store, room_name: &str, n: u64) -> f64 {
    let id = *store.room(room_name).expect("D's room").id();
    let start = Instant::now();
    for _ in 0..n {
        store
            .update_room(&id, |_| Ok::<(), ()>(()))
            .expect("update room")
            .expect("no change");
    }
    start.elapsed().as_secs_f64()
}

/// E taken apart: microseconds per JSON round trip of the room (serialise
/// and parse, in memory), per atomic write of those bytes, and their size.
fn store_split(store: &Store, room_name: &str, n: u64) -> (f64, f64, usize) {
    let room = store.room(room_name).expect("D's room");
    let start = Instant::now();
    let mut bytes = Vec::new();
    for _ in 0..n {
        bytes = serde_json::to_vec_pretty(&room).expect("serialise");
        let back: Room = serde_json::from_slice(&bytes).expect("parse");
        assert_eq!(back.id(), room.id());
    }
    let json = start.elapsed().as_secs_f64();
    let path = store.home().join("split.json");
    let start = Instant::now();
    for _ in 0..n {
        sotto::store::write_atomic(&path, &bytes).expect("write");
    }
    let write = start.elapsed().as_secs_f64();
    let per = |seconds: f64| seconds * 1e6 / n as f64;
    (per(json), per(write), bytes.len())
}

// ---------------------------------------------------------------------------
// Report

const CASES: [&str; 5] = [
    "A plaintext MQTT (baseline)",
    "B seal+open only, no network",
    "C sotto in-memory rooms",
    "D sotto full (RoomSession + store)",
    "E store update only, no net/crypto",
];

fn median(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let mid = sorted.len() / 2;
    if sorted.len() % 2 == 1 {
        sorted[mid]
    } else {
        (sorted[mid - 1] + sorted[mid]) / 2.0
    }
}

/// `seconds[case][round]`; prints medians over rounds.
fn print_table(n: u64, seconds: &[Vec<f64>]) {
    let rate = |s: f64| n as f64 / s;
    let plain = rate(median(&seconds[0]));
    println!(
        "{:<36} {:>8} {:>8} {:>8} {:>8} {:>9} {:>7}",
        "case", "messages", "seconds", "msg/s", "us/msg", "vs plain", "spread"
    );
    for (case, runs) in CASES.iter().zip(seconds) {
        let mid = median(runs);
        let spread = runs.iter().copied().fold(f64::MIN, f64::max)
            - runs.iter().copied().fold(f64::MAX, f64::min);
        println!(
            "{case:<36} {n:>8} {mid:>8.3} {:>8.0} {:>8.1} {:>8.3}x {:>6.0}%",
            rate(mid),
            mid * 1e6 / n as f64,
            rate(mid) / plain,
            100.0 * spread / mid,
        );
    }
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn main() {
    // `cargo bench` passes `--bench`; this tool takes no arguments.
    let n = env_u64("LOAD_MESSAGES", DEFAULT_MESSAGES);
    let rounds = env_u64("LOAD_ROUNDS", DEFAULT_ROUNDS);
    let paced = env_u64("LOAD_PACED", DEFAULT_PACED);
    let rate = env_u64("LOAD_RATE", DEFAULT_RATE);
    let broker = Broker::start();
    let scratch = tempfile::Builder::new()
        .prefix("sotto-load-")
        .tempdir()
        .expect("create a temporary directory");
    let home = bob_home(scratch.path());
    println!(
        "sotto load: {n} messages of {TEXT_LEN} bytes x {rounds} rounds, QoS 1, one sender, \
         one receiver, sender credit {CREDIT}\n\
         broker: {} on 127.0.0.1:{} (max_inflight_messages {BROKER_INFLIGHT})\n\
         store: {}",
        broker.version,
        broker.port,
        scratch.path().display()
    );
    // The same runtime as `sotto listen` and `chat`.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");
    let started = Instant::now();
    let mut seconds = vec![Vec::new(); CASES.len()];
    let mut crypto = (Vec::new(), Vec::new(), 0);
    let mut last_room = String::new();
    let (pace_a, pace_d) = runtime.block_on(async {
        plaintext(&broker, "warm-up", WARM_UP, None).await;
        // Rounds interleave the cases, so drift hits them all alike.
        for round in 1..=rounds {
            let a = plaintext(&broker, CASES[0], n, None).await;
            seconds[0].push(a.seconds());
            let (seal, open, size) = crypto_only(n);
            seconds[1].push(seal + open);
            crypto.0.push(seal);
            crypto.1.push(open);
            crypto.2 = size;
            let c = in_memory(&broker, CASES[2], n).await;
            seconds[2].push(c.seconds());
            last_room = format!("load-{round}");
            let d = full(&broker, CASES[3], &home, &last_room, n, None).await;
            seconds[3].push(d.seconds());
            seconds[4].push(store_only(&home.0, &last_room, n));
        }
        let period = Duration::from_secs(1) / rate as u32;
        let pace_a = plaintext(&broker, "A paced", paced, Some(period)).await;
        let pace_d = full(&broker, "D paced", &home, "paced", paced, Some(period)).await;
        (pace_a, pace_d)
    });
    let split = store_split(&home.0, &last_room, n.min(1000));
    println!();
    print_table(n, &seconds);
    let per = |runs: &[f64]| median(runs) * 1e6 / n as f64;
    println!(
        "(medians of {rounds} rounds; spread = (slowest - fastest) / median)\n\
         B = seal {:.1} us + open {:.1} us ({TEXT_LEN}-byte text sealed: {} bytes); \
         C overlaps them (sender and receiver run on different threads)\n\
         E = JSON serialise+parse {:.1} us + atomic write with fsyncs {:.1} us \
         (state file {} bytes) + lock and read",
        per(&crypto.0),
        per(&crypto.1),
        crypto.2,
        split.0,
        split.1,
        split.2,
    );
    println!();
    println!(
        "one-way latency, {paced} messages at {rate} msg/s \
         (publish call, before sealing -> delivered, after the state write):"
    );
    println!(
        "{:<36} {:>8} {:>8} {:>8}",
        "case", "p50 ms", "p99 ms", "max ms"
    );
    let p50 = |run: &Run| percentile(&run.latencies_ms(), 50.0);
    for (case, run) in [(CASES[0], &pace_a), (CASES[3], &pace_d)] {
        let all = run.latencies_ms();
        println!(
            "{case:<36} {:>8.2} {:>8.2} {:>8.2}",
            percentile(&all, 50.0),
            percentile(&all, 99.0),
            all[all.len() - 1],
        );
    }
    println!("p50 ratio D/A: {:.1}x", p50(&pace_d) / p50(&pace_a));
    println!(
        "\nall {} messages arrived exactly once; total run {:.1} s",
        WARM_UP + rounds * 3 * n + 2 * paced,
        started.elapsed().as_secs_f64()
    );
}
