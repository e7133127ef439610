//! `sotto bench`: what sotto's end-to-end encryption and durable delivery
//! cost, measured side by side with plain MQTT and with the least any
//! signed-and-encrypted chat must do, on one broker in one run.
//!
//! Part of the I/O shell, like [`crate::session`]: it starts a broker and
//! processes, opens sockets and writes temporary homes. `sotto bench` and
//! `cargo bench --bench load` both drive it, so there is one copy of the
//! logic. Three paths carry the same texts through the same broker,
//! [`Transport`](crate::transport::Transport), QoS 1 and MQTT version:
//!
//! - **plain**: the text itself (also delivered at QoS 0, for context);
//! - **floor**: one Ed25519 signature and one XChaCha20-Poly1305 seal per
//!   message, opened and checked with `verify_strict` before the ack, and
//!   nothing else: no storage, replay window or ratchet (`floor.rs`);
//! - **sotto**: sealed by a member's [`Room`](crate::room::Room), received
//!   by a [`RoomSession`](crate::session::RoomSession) in a temporary home
//!   and acknowledged after `delivered()`, as `sotto listen` does.
//!
//! Each path is measured for throughput, latency one message at a time,
//! fan-out to several members and catch-up of 1000 queued messages
//! (`runs.rs`); then `idle.rs` measures the peak memory of real `sotto`
//! processes holding 10 rooms. Only public APIs of the session and the
//! store are used, so the bench keeps measuring whatever they become.

mod floor;
mod homes;
mod idle;
mod mosquitto;
mod paths;
mod report;
mod runs;

use std::path::PathBuf;
use std::time::Duration;

use crate::session::{BrokerConfig, SessionError};
use crate::store::StoreError;
use crate::transport::{MqttVersion, TransportError, VersionChoice};

use homes::Homes;
use mosquitto::{Leftovers, OwnBroker};
use paths::Kind;
use runs::CATCH_UP;

pub use mosquitto::{BROKER_INFLIGHT, BROKER_QUEUE};
pub use report::{IdleMemory, Latency, PathFigures, Report, Window};
pub use runs::{CREDIT, RECEIVE_MAXIMUM, SENDER_INFLIGHT};

/// Which broker to measure against.
#[derive(Debug, Clone)]
pub enum BrokerChoice {
    /// Start a private Mosquitto on a free loopback port for the run.
    Own {
        /// The MQTT version the clients speak.
        version: VersionChoice,
    },
    /// Use this broker; every retained record and session the run created
    /// there is deleted at the end.
    External(BrokerConfig),
}

/// What to measure.
#[derive(Debug, Clone)]
pub struct Options {
    /// The broker.
    pub broker: BrokerChoice,
    /// Messages per throughput and fan-out run (latency uses at most 1000).
    pub messages: u64,
    /// Bytes of text per message.
    pub size: usize,
    /// Receiving members in the fan-out runs.
    pub members: usize,
    /// How many times to repeat the runs (figures are medians).
    pub rounds: usize,
    /// How long the `sotto` processes stay idle before their memory is read.
    pub idle: Duration,
    /// The `sotto` binary to run for the idle-memory measurement.
    pub sotto_exe: PathBuf,
}

/// One step of the run, for a progress line.
#[derive(Debug, Clone)]
pub struct Progress {
    /// This step's number, from 1.
    pub step: usize,
    /// How many steps there are.
    pub total: usize,
    /// What is being measured, in a few words.
    pub what: String,
}

/// Why the bench could not finish. Each message is one sentence.
#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    /// No mosquitto binary, and no `--broker`.
    #[error(
        "mosquitto is not installed; install it (apt-get install mosquitto, or brew install mosquitto) or point sotto bench at a broker with --broker URL"
    )]
    NoMosquitto,
    /// Our own mosquitto would not start.
    #[error("could not start mosquitto: {0}")]
    Mosquitto(String),
    /// A session could not start or went wrong.
    #[error(transparent)]
    Session(#[from] SessionError),
    /// The broker connection failed.
    #[error(transparent)]
    Transport(#[from] TransportError),
    /// A temporary home could not be written.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The operating system refused something.
    #[error("could not {action}: {source}")]
    Io {
        /// What the bench was doing.
        action: String,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// A run went wrong (a message lost, refused or late), said in a sentence.
    #[error("{0}")]
    Failed(String),
    /// Another participant of the same run failed first.
    #[error("stopped because another part of the run failed")]
    Stopped,
}

impl BenchError {
    fn io(action: impl Into<String>) -> impl FnOnce(std::io::Error) -> Self {
        let action = action.into();
        move |source| Self::Io { action, source }
    }
}

/// Everything a run shares: the broker, the temporary homes and what must
/// be deleted from an external broker at the end.
pub(crate) struct Bench {
    broker: BrokerConfig,
    size: usize,
    homes: Homes,
    leftovers: Leftovers,
}

/// Runs every measurement and returns the figures. `progress` hears about
/// each step before it starts.
pub fn run(options: &Options, progress: &mut dyn FnMut(Progress)) -> Result<Report, BenchError> {
    // Found out now rather than after a minute of measuring.
    idle::check_proc()?;
    let (own, config) = match &options.broker {
        BrokerChoice::Own { version } => {
            let own = OwnBroker::start()?;
            let config = own.config(*version);
            (Some(own), config)
        }
        BrokerChoice::External(config) => (None, config.clone()),
    };
    let bench = Bench {
        broker: config,
        size: options.size,
        homes: Homes::new()?,
        leftovers: Leftovers::default(),
    };
    let result = measure(&bench, options, own.as_ref(), progress);
    // An external broker keeps what we leave; our own is about to go.
    let cleaned = match own {
        Some(_) => Ok(()),
        None => bench.leftovers.delete(&bench.broker),
    };
    let report = result?;
    cleaned?;
    Ok(report)
}

fn measure(
    bench: &Bench,
    options: &Options,
    own: Option<&OwnBroker>,
    progress: &mut dyn FnMut(Progress),
) -> Result<Report, BenchError> {
    let n = options.messages;
    let m = options.members;
    let latency_n = n.min(1000);
    // Plain at QoS 0, then four measurements of each compared path.
    let per_round = 1 + 4 * Kind::COMPARED.len();
    // The warm-up, the rounds, the idle processes.
    let total = 1 + per_round * options.rounds + 1;
    let mut step = 0;
    let mut say = |what: String| {
        step += 1;
        progress(Progress { step, total, what });
    };
    say(format!("warming up: {} plain messages", n.min(500)));
    let fsync_ms = bench.homes.fsync_ms()?;
    // The first run on a fresh broker pays for its allocations and the
    // first connections; no figure should.
    let warm = runs::stream(bench, Kind::Plain, n.min(500), 1, CREDIT)?;
    let version = warm.version;
    let mut figures = Figures::default();
    for round in 1..=options.rounds {
        let of = if options.rounds > 1 {
            format!(" (round {round} of {})", options.rounds)
        } else {
            String::new()
        };
        say(format!(
            "throughput, plain MQTT delivered at QoS 0: {n} messages{of}"
        ));
        let run = runs::stream(bench, Kind::PlainQos0, n, 1, CREDIT)?;
        figures.plain_qos0.push(run.rate());
        for kind in Kind::COMPARED {
            say(format!(
                "throughput, {}: {n} messages at QoS 1{of}",
                kind.label()
            ));
            let run = runs::stream(bench, kind, n, 1, CREDIT)?;
            figures.of(kind).throughput.push(run.rate());
        }
        for kind in Kind::COMPARED {
            say(format!(
                "latency, {}: {latency_n} messages one at a time{of}",
                kind.label()
            ));
            let run = runs::stream(bench, kind, latency_n, 1, 1)?;
            figures.of(kind).latencies.extend(run.latencies_ms());
        }
        for kind in Kind::COMPARED {
            say(format!(
                "fan-out, {}: {n} messages to {m} members{of}",
                kind.label()
            ));
            let run = runs::stream(bench, kind, n, m, CREDIT)?;
            figures.of(kind).fanout.push(run.rate());
        }
        for kind in Kind::COMPARED {
            say(format!(
                "catch-up, {}: {CATCH_UP} queued messages{of}",
                kind.label()
            ));
            let time = runs::catch_up(bench, kind)?;
            figures.of(kind).catch_up.push(time.as_secs_f64() * 1e3);
        }
    }
    say(format!(
        "idle memory: sotto processes holding {} rooms for {} s",
        idle::ROOMS,
        options.idle.as_secs()
    ));
    let idle = idle::measure(bench, &options.sotto_exe, options.idle)?;
    Ok(Report {
        messages: n,
        latency_messages: latency_n,
        size: options.size,
        members: m,
        rounds: options.rounds,
        window: Window {
            mqtt: version.unwrap_or(MqttVersion::V5),
            own_broker: own.is_some(),
        },
        broker: match own {
            Some(own) => own.describe(),
            None => format!("{}, given with --broker", bench.broker.url),
        },
        homes: bench.homes.root().to_owned(),
        fsync_ms,
        plain_qos0: median(&figures.plain_qos0),
        plain: figures
            .plain
            .finish(paths::payload_len(options.size, Kind::Plain)?),
        floor: figures
            .floor
            .finish(paths::payload_len(options.size, Kind::Floor)?),
        sotto: figures
            .sotto
            .finish(paths::payload_len(options.size, Kind::Sotto)?),
        idle,
    })
}

/// Figures gathered over the rounds.
#[derive(Default)]
struct Figures {
    plain_qos0: Vec<f64>,
    plain: Samples,
    floor: Samples,
    sotto: Samples,
}

impl Figures {
    fn of(&mut self, kind: Kind) -> &mut Samples {
        match kind {
            Kind::Floor => &mut self.floor,
            Kind::Sotto => &mut self.sotto,
            Kind::Plain | Kind::PlainQos0 => &mut self.plain,
        }
    }
}

/// One path's figures over the rounds.
#[derive(Default)]
struct Samples {
    throughput: Vec<f64>,
    latencies: Vec<f64>,
    fanout: Vec<f64>,
    catch_up: Vec<f64>,
}

impl Samples {
    fn finish(mut self, payload_bytes: usize) -> PathFigures {
        self.latencies.sort_by(f64::total_cmp);
        PathFigures {
            payload_bytes,
            throughput: median(&self.throughput),
            latency: Latency {
                p50_ms: percentile(&self.latencies, 50.0),
                p99_ms: percentile(&self.latencies, 99.0),
            },
            fanout: median(&self.fanout),
            catch_up_ms: median(&self.catch_up),
        }
    }
}

fn median(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    match sorted.len() {
        0 => f64::NAN,
        len if len % 2 == 1 => sorted[len / 2],
        len => (sorted[len / 2 - 1] + sorted[len / 2]) / 2.0,
    }
}

/// The value below which `p` percent of `sorted` lie (nearest rank).
fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}
