//! The runs: one sender and one or more receivers of one path, each on its
//! own thread with its own async runtime (two workers, as `sotto listen`
//! has), the way separate processes on separate machines would be. A
//! receiver that stores and fsyncs then slows only itself, never the
//! sender or another receiver's connection.
//!
//! Every message must arrive exactly once: a duplicate, a stranger or a
//! silence of [`SILENCE`] ends the run with a sentence saying so.

use std::future::Future;
use std::sync::{Arc, mpsc};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use tokio::sync::{oneshot, watch};

use super::paths::{self, Kind, Receiver, Sealer};
use super::{Bench, BenchError};
use crate::session::BROKER_TIMEOUT;
use crate::transport::{MqttVersion, Publication, Transport};

/// Most messages the sender has published that some receiver has not yet
/// handled. It matches [`RECEIVE_MAXIMUM`], so a slow receiver measures
/// its own speed rather than the depth of the broker's queue.
pub const CREDIT: u64 = 256;

/// How many unacknowledged messages sotto's transport lets an MQTT 5
/// broker send it (its Receive Maximum, in `transport/client.rs`).
pub const RECEIVE_MAXIMUM: u64 = 256;

/// How many unacknowledged publishes sotto's transport keeps in flight to
/// the broker (rumqttc's limit, in `transport/client.rs`; an MQTT 5 broker
/// may ask for fewer).
pub const SENDER_INFLIGHT: u64 = 64;

/// Messages queued for the catch-up runs.
pub(super) const CATCH_UP: u64 = 1000;

/// Longest wait for the next message before a run is declared broken.
const SILENCE: Duration = Duration::from_secs(20);

/// Longest wait for every participant to connect.
const READY_TIMEOUT: Duration = Duration::from_secs(30);

/// Pause between connecting and the first publish. Neither mosquitto nor
/// rumqttc sets TCP_NODELAY, so a publish forwarded within 40 ms of the
/// SUBACK waits for the receiver's delayed ACK (Nagle): a one-off stall
/// that would be most of a short plain run.
const QUIET: Duration = Duration::from_millis(200);

/// When each message was published and when each receiver had handled it.
pub(super) struct Timings {
    /// Per message, the instant before its payload was made (so sealing
    /// counts as sending).
    pub sent: Vec<Instant>,
    /// Per receiver, per message, the instant it was handled (for sotto:
    /// saved and acknowledged).
    pub arrived: Vec<Vec<Instant>>,
    /// The MQTT version the broker took.
    pub version: Option<MqttVersion>,
}

impl Timings {
    fn deliveries(&self) -> usize {
        self.arrived.iter().map(Vec::len).sum()
    }

    /// Deliveries per second, first publish to last delivery anywhere.
    pub fn rate(&self) -> f64 {
        let last = self.arrived.iter().flatten().max();
        match (self.sent.first(), last) {
            (Some(first), Some(last)) => {
                self.deliveries() as f64 / last.duration_since(*first).as_secs_f64()
            }
            _ => f64::NAN,
        }
    }

    /// Milliseconds from publish to delivery, every message at every
    /// receiver.
    pub fn latencies_ms(&self) -> Vec<f64> {
        self.arrived
            .iter()
            .flat_map(|arrived| self.sent.iter().zip(arrived))
            .map(|(sent, arrived)| arrived.duration_since(*sent).as_secs_f64() * 1e3)
            .collect()
    }
}

/// Sends `n` messages of one path to `members` receivers, at most `credit`
/// of them not yet handled by every receiver (1: one at a time).
pub(super) fn stream(
    bench: &Bench,
    kind: Kind,
    n: u64,
    members: usize,
    credit: u64,
) -> Result<Timings, BenchError> {
    let setup = paths::setup(bench, kind, members, false)?;
    let stop = Stop::default();
    let (ready_tx, ready_rx) = mpsc::channel();
    let mut handled = Vec::new();
    let mut receivers = Vec::new();
    for (i, spec) in setup.receivers.into_iter().enumerate() {
        let (progress, watch) = watch::channel(0);
        handled.push(watch);
        let ready = ready_tx.clone();
        let broker = bench.broker.clone();
        let spawned = participant(&format!("bench-recv-{i}"), &stop, move || async move {
            let mut receiver = Receiver::connect(&spec, &broker).await?;
            let _ = ready.send(receiver.version());
            let arrived = receive(&mut receiver, n, &progress, "").await;
            receiver.close().await;
            arrived
        });
        receivers.push(spawned.inspect_err(|_| stop.trip())?);
    }
    let (go_tx, go_rx) = oneshot::channel();
    let sender = {
        let ready = ready_tx.clone();
        let broker = bench.broker.clone();
        let (topic, sealer, size) = (setup.topic, setup.sealer, bench.size);
        participant("bench-send", &stop, move || async move {
            let (transport, version) = paths::connect_sender(&broker).await?;
            let _ = ready.send(Some(version));
            go_rx.await.map_err(|_| BenchError::Stopped)?;
            let sent = send(&transport, &topic, sealer, size, n, credit, handled).await;
            transport.shutdown(None).await;
            sent
        })
        .inspect_err(|_| stop.trip())?
    };
    drop(ready_tx);
    let ready = wait_ready(&ready_rx, members + 1, &stop);
    match ready {
        Ok(_) => {
            std::thread::sleep(QUIET);
            let _ = go_tx.send(());
        }
        Err(_) => stop.trip(),
    }
    let sent = join(sender);
    let arrived: Vec<_> = receivers.into_iter().map(join).collect();
    let errors = (sent.as_ref().err().into_iter())
        .chain(arrived.iter().filter_map(|r| r.as_ref().err()))
        .chain(ready.as_ref().err());
    if let Some(err) = failure(errors) {
        return Err(err);
    }
    Ok(Timings {
        sent: sent?,
        arrived: arrived.into_iter().collect::<Result<_, _>>()?,
        version: ready?,
    })
}

/// The time one receiver takes, from starting to connect, to handle
/// [`CATCH_UP`] messages that were published while it was away.
pub(super) fn catch_up(bench: &Bench, kind: Kind) -> Result<Duration, BenchError> {
    let setup = paths::setup(bench, kind, 1, true)?;
    let Some(spec) = setup.receivers.into_iter().next() else {
        return Err(BenchError::Failed(
            "the catch-up run has no receiver".into(),
        ));
    };
    let stop = Stop::default();
    // From its first connection on, the broker queues for the receiver.
    let (registered, broker) = (spec.clone(), bench.broker.clone());
    join(participant("bench-register", &stop, move || async move {
        Receiver::connect(&registered, &broker).await?.close().await;
        Ok(())
    })?)?;
    let broker = bench.broker.clone();
    let (topic, sealer, size) = (setup.topic, setup.sealer, bench.size);
    join(participant("bench-send", &stop, move || async move {
        let (transport, _) = paths::connect_sender(&broker).await?;
        // The last publish waits for the broker's ack, so all are queued.
        let sent = send(
            &transport,
            &topic,
            sealer,
            size,
            CATCH_UP,
            u64::MAX,
            Vec::new(),
        )
        .await;
        transport.shutdown(None).await;
        sent
    })?)?;
    let broker = bench.broker.clone();
    let hint = " (a broker keeps only so many messages for a client that is away: \
                Mosquitto's max_queued_messages is 1000 by default)";
    join(participant("bench-recv", &stop, move || async move {
        let start = Instant::now();
        let mut receiver = Receiver::connect(&spec, &broker).await?;
        let (progress, _) = watch::channel(0);
        let arrived = receive(&mut receiver, CATCH_UP, &progress, hint).await;
        receiver.close().await;
        let last = arrived?.into_iter().max().unwrap_or(start);
        Ok(last.duration_since(start))
    })?)
}

/// Publishes `n` messages made by `sealer`, waiting before each until every
/// receiver has handled all but `credit` of those before it. Returns when
/// the broker has acknowledged the last one.
async fn send(
    transport: &Transport,
    topic: &str,
    mut sealer: Sealer,
    size: usize,
    n: u64,
    credit: u64,
    mut handled: Vec<watch::Receiver<u64>>,
) -> Result<Vec<Instant>, BenchError> {
    let mut sent = Vec::with_capacity(n as usize);
    for seq in 1..=n {
        for receiver in &mut handled {
            receiver
                .wait_for(|&done| (seq - 1).saturating_sub(done) < credit)
                .await
                .map_err(|_| BenchError::Stopped)?;
        }
        sent.push(Instant::now());
        let publication = Publication {
            topic: topic.to_owned(),
            payload: sealer.seal(seq, paths::text(seq, size))?,
            retain: false,
        };
        if seq == n {
            transport.publish_acked(publication, BROKER_TIMEOUT).await?;
        } else {
            transport.publish(publication).await?;
        }
    }
    Ok(sent)
}

/// Handles `n` messages, each exactly once, reporting the count as it goes.
async fn receive(
    receiver: &mut Receiver,
    n: u64,
    progress: &watch::Sender<u64>,
    hint: &str,
) -> Result<Vec<Instant>, BenchError> {
    let mut arrived = vec![None; n as usize];
    for count in 1..=n {
        let seq = match tokio::time::timeout(SILENCE, receiver.next_seq()).await {
            Ok(seq) => seq?,
            Err(_) => {
                return Err(BenchError::Failed(format!(
                    "only {} of {n} messages arrived, then nothing for {} s{hint}",
                    count - 1,
                    SILENCE.as_secs()
                )));
            }
        };
        let slot = seq
            .checked_sub(1)
            .and_then(|i| arrived.get_mut(i as usize))
            .ok_or_else(|| {
                BenchError::Failed(format!("message {seq} arrived, but only {n} were sent"))
            })?;
        if slot.replace(Instant::now()).is_some() {
            return Err(BenchError::Failed(format!("message {seq} arrived twice")));
        }
        progress.send_replace(count);
    }
    Ok(arrived.into_iter().flatten().collect())
}

/// Waits until `count` participants have connected; the MQTT version one
/// of them was given.
fn wait_ready(
    ready: &mpsc::Receiver<Option<MqttVersion>>,
    count: usize,
    stop: &Stop,
) -> Result<Option<MqttVersion>, BenchError> {
    let deadline = Instant::now() + READY_TIMEOUT;
    let mut version = None;
    for _ in 0..count {
        loop {
            if stop.is_tripped() {
                return Err(BenchError::Stopped);
            }
            if Instant::now() >= deadline {
                return Err(BenchError::Failed(format!(
                    "the bench's clients did not all connect within {} s",
                    READY_TIMEOUT.as_secs()
                )));
            }
            match ready.recv_timeout(Duration::from_millis(20)) {
                Ok(given) => {
                    version = version.or(given);
                    break;
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {}
                Err(mpsc::RecvTimeoutError::Disconnected) => return Err(BenchError::Stopped),
            }
        }
    }
    Ok(version)
}

/// What went wrong in a run whose participants failed: the first failure
/// that is not just "stopped because another failed".
fn failure<'a>(errors: impl IntoIterator<Item = &'a BenchError>) -> Option<BenchError> {
    let mut stopped = false;
    for err in errors {
        match err {
            BenchError::Stopped => stopped = true,
            err => return Some(BenchError::Failed(err.to_string())),
        }
    }
    stopped.then_some(BenchError::Stopped)
}

/// Tells every participant of a run to give up once one has failed.
#[derive(Clone)]
struct Stop(Arc<watch::Sender<bool>>);

impl Default for Stop {
    fn default() -> Self {
        Self(Arc::new(watch::channel(false).0))
    }
}

impl Stop {
    fn trip(&self) {
        self.0.send_replace(true);
    }

    fn is_tripped(&self) -> bool {
        *self.0.borrow()
    }

    async fn tripped(&self) {
        let mut tripped = self.0.subscribe();
        let _ = tripped.wait_for(|&stop| stop).await;
    }
}

/// Runs `work` on a thread of its own with a runtime of its own.
fn participant<T, F, Fut>(
    name: &str,
    stop: &Stop,
    work: F,
) -> Result<JoinHandle<Result<T, BenchError>>, BenchError>
where
    T: Send + 'static,
    F: FnOnce() -> Fut + Send + 'static,
    Fut: Future<Output = Result<T, BenchError>>,
{
    let stop = stop.clone();
    std::thread::Builder::new()
        .name(name.to_owned())
        .spawn(move || {
            let result = runtime().and_then(|runtime| {
                runtime.block_on(async {
                    tokio::select! {
                        result = work() => result,
                        () = stop.tripped() => Err(BenchError::Stopped),
                    }
                })
            });
            if result.is_err() {
                stop.trip();
            }
            result
        })
        .map_err(BenchError::io("start a thread for the bench"))
}

/// The same runtime as `sotto listen` and `chat`.
pub(super) fn runtime() -> Result<tokio::runtime::Runtime, BenchError> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(BenchError::io("start an async runtime"))
}

fn join<T>(handle: JoinHandle<Result<T, BenchError>>) -> Result<T, BenchError> {
    handle
        .join()
        .unwrap_or_else(|_| Err(BenchError::Failed("a thread of the bench panicked".into())))
}
