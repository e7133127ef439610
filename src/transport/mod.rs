//! The MQTT connection: bytes in, bytes out. Knows nothing about rooms or
//! cryptography.
//!
//! One tokio task (`driver.rs`) owns rumqttc's event loop and keeps polling
//! it; the rest of the program talks to it through a [`Transport`] handle.
//! It speaks MQTT 5 and falls back to 3.1.1 when a broker refuses 5
//! (`client.rs`), never blocks on its reader (`inbox.rs`), turns broker
//! answers into sentences (`describe.rs`), and given several brokers moves
//! to the next when one fails (`failover.rs`).
//!
//! Incoming publishes are acknowledged only when the caller says it has
//! dealt with them ([`Transport::ack`]): rumqttc's automatic acks would tell
//! the broker a message was delivered while it still sat unread in our
//! queue, and a client exiting then (say `listen --count 1`) would lose it.

mod client;
mod describe;
mod driver;
mod failover;
mod inbox;
mod url;

use std::collections::VecDeque;
use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use rumqttc::QoS;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use crate::protocol::wire::MAX_ENVELOPE_LEN;
use driver::{Control, Driver, Outbound};
use inbox::Inbox;

pub use client::V5_MAX_INCOMING_PACKET_LEN;
pub use failover::CLUSTER_PATIENCE;
pub use url::{BadBrokerUrl, BrokerList, BrokerUrl};

/// Largest MQTT packet we send: one envelope plus topic and framing.
pub const MAX_OUTGOING_PACKET_LEN: usize = MAX_ENVELOPE_LEN + 4096;

/// An MQTT protocol version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MqttVersion {
    /// MQTT 5.0: reason codes, packet size and session expiry negotiated.
    V5,
    /// MQTT 3.1.1: what every broker speaks.
    V311,
}

impl fmt::Display for MqttVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::V5 => "5",
            Self::V311 => "3.1.1",
        })
    }
}

/// Which MQTT version to speak: `auto` tries 5 and falls back to 3.1.1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum VersionChoice {
    /// MQTT 5 first, 3.1.1 if the broker refuses it.
    #[default]
    Auto,
    /// Only this version.
    Only(MqttVersion),
}

/// Why an MQTT version setting was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not an MQTT version; use auto, 5 or 3.1.1")]
pub struct BadMqttVersion(pub String);

impl FromStr for VersionChoice {
    type Err = BadMqttVersion;

    fn from_str(text: &str) -> Result<Self, BadMqttVersion> {
        match text.trim() {
            "auto" => Ok(Self::Auto),
            "5" | "5.0" | "v5" => Ok(Self::Only(MqttVersion::V5)),
            "3.1.1" | "3" | "311" | "4" | "v4" => Ok(Self::Only(MqttVersion::V311)),
            _ => Err(BadMqttVersion(text.to_owned())),
        }
    }
}

/// One topic filter to subscribe to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subscription {
    /// The filter.
    pub filter: String,
    /// How it is delivered.
    pub kind: SubscriptionKind,
}

/// How a subscription's messages are delivered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SubscriptionKind {
    /// QoS 1, kept by the broker while we are away. A QoS 0 publish on it
    /// is dropped on arrival (members always use QoS 1) and counted.
    Reliable,
    /// QoS 0, made again on every connect so the broker sends its retained
    /// records each time; never queued while we are away.
    Live,
}

/// One publish: QoS 1 always, retained or not.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Publication {
    /// The topic.
    pub topic: String,
    /// The payload (already encrypted).
    pub payload: Vec<u8>,
    /// Whether the broker keeps it for future subscribers.
    pub retain: bool,
}

/// What to tell the broker for one connection attempt: a last will, and
/// what to publish once connected. Made fresh before every attempt so each
/// connection's records can be ordered.
#[derive(Debug, Clone, Default)]
pub struct Announcement {
    /// Published by the broker if we vanish without saying goodbye.
    pub will: Option<Publication>,
    /// Published right after every successful connect.
    pub on_connect: Vec<Publication>,
}

/// How to connect.
#[derive(Debug, Clone)]
pub struct ConnectOptions {
    /// The broker, or the nodes of a cluster (or bridged brokers), tried
    /// in order.
    pub url: BrokerList,
    /// MQTT client id. Stable ids with `clean_session = false` let the
    /// broker queue messages while we are away.
    pub client_id: String,
    /// Whether the broker should forget us on disconnect.
    pub clean_session: bool,
    /// Which MQTT version to speak.
    pub version: VersionChoice,
    /// Username and password, if the broker wants them.
    pub credentials: Option<(String, String)>,
    /// MQTT keep-alive interval.
    pub keep_alive: Duration,
    /// Extra CA certificates (PEM) to trust for `mqtts://`, besides the
    /// system's.
    pub ca_file: Option<std::path::PathBuf>,
    /// A client certificate for brokers that require one.
    pub client_auth: Option<crate::tls::ClientAuth>,
    /// Whether a broker session kept under this client id is known to
    /// hold every reliable subscription. A refused SUBSCRIBE leaves a
    /// session without it, which the broker still calls present: unless
    /// this is set, a present session is subscribed again, in full.
    pub session_subscribed: bool,
}

/// What the connection reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TransportEvent {
    /// Connected (first time or again) and subscribed: from here on, every
    /// publish on our topics reaches us.
    Connected {
        /// Whether the broker still had our session (and queued messages).
        session_present: bool,
        /// Whether this follows a lost connection.
        reconnect: bool,
        /// The protocol version the broker took.
        version: MqttVersion,
        /// The broker (of the list) that took the connection.
        node: BrokerUrl,
    },
    /// The connection failed or dropped; the task keeps retrying. Before
    /// the first connection, sent only once every broker has failed.
    Disconnected {
        /// A short description for the user.
        reason: String,
        /// What the user could do about it.
        advice: &'static str,
        /// The broker that was lost or failed.
        node: BrokerUrl,
        /// The broker tried next, when it is another one.
        next: Option<BrokerUrl>,
    },
    /// The broker refused something sotto cannot work without (QoS 1, a
    /// subscription). The task has stopped.
    Refused {
        /// What the broker refused, as a sentence.
        reason: String,
    },
    /// A publish arrived on a subscribed topic. Pass `ack` to
    /// [`Transport::ack`] once it has been dealt with, or the broker sends
    /// it again on the next connection.
    Message {
        /// Its topic.
        topic: String,
        /// Its payload (untrusted bytes, at most the envelope limit).
        payload: Vec<u8>,
        /// Whether it was a retained message.
        retained: bool,
        /// Whether the broker says it may have delivered this before.
        duplicate: bool,
        /// The acknowledgement to send when done.
        ack: Ack,
    },
    /// A publish larger than any envelope arrived (MQTT 3.1.1 cannot stop
    /// a broker from sending it); it was acknowledged and thrown away.
    Discarded {
        /// Its size.
        bytes: usize,
    },
    /// Publishes sent without acknowledgement (QoS 0) on a topic members
    /// only use with QoS 1 were dropped: a flood, or a bridge set to QoS 0.
    /// Reported once per connection task, after the first burst.
    Unacknowledged {
        /// How many were dropped in that burst.
        count: usize,
    },
    /// Something the user should know that does not stop the connection.
    Warning(String),
    /// Detail for `--verbose`.
    Note(String),
}

/// An acknowledgement owed to the broker for one incoming publish.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ack {
    /// Packet ids are per connection: an ack from an earlier connection
    /// could acknowledge an unrelated message that reuses its id.
    connection: u64,
    pkid: u16,
    qos: QoS,
}

impl Ack {
    /// An acknowledgement owed to nobody, for a message taken again from
    /// storage (it was acknowledged when it was saved): acknowledging it
    /// sends nothing.
    pub fn settled() -> Self {
        Self {
            // Connection numbers start at 1.
            connection: 0,
            pkid: 0,
            qos: QoS::AtMostOnce,
        }
    }
}

/// Why a transport operation failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TransportError {
    /// The first connection attempt failed.
    #[error("cannot reach the MQTT broker at {url} ({reason}); {advice}")]
    Unreachable {
        /// The broker address.
        url: String,
        /// What went wrong.
        reason: String,
        /// What to do about it.
        advice: &'static str,
    },
    /// No answer in time.
    #[error("the broker did not answer within {0} seconds")]
    Timeout(u64),
    /// The broker did not acknowledge a publish (connection lost, or the
    /// transport is shutting down).
    #[error("the broker did not acknowledge the message")]
    NotAcknowledged,
    /// The connection dropped before the broker acknowledged a publish, and
    /// there is no session in which it could be sent again.
    #[error(
        "the broker closed the connection before acknowledging the message; it may be larger than the broker accepts (max_packet_size, message_size_limit), above its max_qos, or refused by its ACL"
    )]
    DroppedBeforeAck,
    /// The broker refused a publish or something sotto needs.
    #[error("{0}")]
    Refused(String),
    /// The transport task has stopped.
    #[error("the connection to the broker is closed")]
    Closed,
    /// TLS could not be set up.
    #[error("cannot set up TLS: {0}")]
    Tls(String),
}

impl TransportError {
    /// Whether this is a refused subscription the broker gave no reason
    /// for. A cluster node answers so while it cannot serve the
    /// subscription yet (NATS, while it moves the streams a dead node
    /// led), so with a list of brokers it is worth trying again; an ACL
    /// refusal on MQTT 3.1.1 looks the same.
    pub fn gave_no_reason(&self) -> bool {
        matches!(self, Self::Refused(reason) if reason == describe::SUBSCRIPTION_REFUSED)
    }
}

/// A handle on the connection task.
pub struct Transport {
    outbound: mpsc::Sender<Outbound>,
    control: mpsc::UnboundedSender<Control>,
    inbox: Inbox,
    /// Events that came before the first "connected" (queued messages
    /// arrive before the last SUBACK), kept for [`Transport::next_event`].
    early: VecDeque<TransportEvent>,
    task: JoinHandle<()>,
    url: BrokerList,
}

impl Transport {
    /// Starts the connection task (call inside a tokio runtime). It
    /// connects in the background; use [`Transport::wait_connected`] to
    /// know whether it worked.
    ///
    /// `announce` is called before every connection attempt.
    pub fn start(
        options: ConnectOptions,
        subscriptions: Vec<Subscription>,
        announce: impl FnMut() -> Announcement + Send + 'static,
    ) -> Result<Self, TransportError> {
        let tls = if options.url.any_tls() {
            Some(
                crate::tls::transport(options.ca_file.as_deref(), options.client_auth.as_ref())
                    .map_err(|err| TransportError::Tls(err.to_string()))?,
            )
        } else {
            None
        };
        let (outbound_tx, outbound_rx) = mpsc::channel(256);
        let (control_tx, control_rx) = mpsc::unbounded_channel();
        let inbox = Inbox::new();
        let url = options.url.clone();
        let driver = Driver::new(
            options,
            tls,
            subscriptions,
            Box::new(announce),
            inbox.clone(),
        );
        Ok(Self {
            outbound: outbound_tx,
            control: control_tx,
            inbox,
            early: VecDeque::new(),
            task: tokio::spawn(driver.run(outbound_rx, control_rx)),
            url,
        })
    }

    /// Waits for the first successful connection and returns it (a
    /// [`TransportEvent::Connected`]). A failure of the first attempt on
    /// every broker of the list is reported at once rather than retried,
    /// so a wrong address is one clear error instead of a hang. A list
    /// whose nodes answer but hang up (a cluster replacing a node) is
    /// given [`CLUSTER_PATIENCE`] more. Notes and warnings that come first
    /// are returned too, in order, for the caller to show; anything else
    /// that came first (messages) waits for [`Transport::next_event`].
    pub async fn wait_connected(
        &mut self,
        timeout: Duration,
    ) -> Result<(TransportEvent, Vec<TransportEvent>), TransportError> {
        let wait = async {
            let mut before = Vec::new();
            loop {
                match self.inbox.pop().await {
                    Some(event @ TransportEvent::Connected { .. }) => return Ok((event, before)),
                    Some(TransportEvent::Disconnected { reason, advice, .. }) => {
                        return Err(TransportError::Unreachable {
                            url: self.url.to_string(),
                            reason,
                            advice,
                        });
                    }
                    Some(TransportEvent::Refused { reason }) => {
                        return Err(TransportError::Refused(reason));
                    }
                    Some(event @ (TransportEvent::Note(_) | TransportEvent::Warning(_))) => {
                        before.push(event);
                    }
                    Some(event) => self.early.push_back(event),
                    None => return Err(TransportError::Closed),
                }
            }
        };
        let timeout = if self.url.len() > 1 {
            timeout + CLUSTER_PATIENCE
        } else {
            timeout
        };
        tokio::time::timeout(timeout, wait)
            .await
            .map_err(|_| TransportError::Timeout(timeout.as_secs()))?
    }

    /// Queues a publish and returns at once (waiting only while the
    /// outgoing queue is full).
    pub async fn publish(&self, publication: Publication) -> Result<(), TransportError> {
        self.outbound
            .send(Outbound {
                publication,
                acked: None,
            })
            .await
            .map_err(|_| TransportError::Closed)
    }

    /// Queues a publish and returns what will tell when the broker has
    /// acknowledged it (across reconnects, while the broker keeps the
    /// session), or why it never will.
    pub async fn publish_tracked(
        &self,
        publication: Publication,
    ) -> Result<oneshot::Receiver<Result<(), TransportError>>, TransportError> {
        let (tx, rx) = oneshot::channel();
        self.outbound
            .send(Outbound {
                publication,
                acked: Some(tx),
            })
            .await
            .map_err(|_| TransportError::Closed)?;
        Ok(rx)
    }

    /// Publishes and waits for the broker's PUBACK.
    pub async fn publish_acked(
        &self,
        publication: Publication,
        timeout: Duration,
    ) -> Result<(), TransportError> {
        let rx = self.publish_tracked(publication).await?;
        match tokio::time::timeout(timeout, rx).await {
            Ok(Ok(result)) => result,
            Ok(Err(_)) => Err(TransportError::NotAcknowledged),
            Err(_) => Err(TransportError::Timeout(timeout.as_secs())),
        }
    }

    /// Acknowledges an incoming publish (see [`TransportEvent::Message`]).
    /// Never waits. Fails only when the connection task has stopped.
    pub fn ack(&self, ack: Ack) -> Result<(), TransportError> {
        self.control
            .send(Control::Ack(ack))
            .map_err(|_| TransportError::Closed)
    }

    /// The next event, or `None` once the task has stopped.
    pub async fn next_event(&mut self) -> Option<TransportEvent> {
        match self.early.pop_front() {
            Some(event) => Some(event),
            None => self.inbox.pop().await,
        }
    }

    /// The next event if one is already waiting (for taking a batch).
    pub fn try_next_event(&mut self) -> Option<TransportEvent> {
        self.early.pop_front().or_else(|| self.inbox.try_pop())
    }

    /// Puts an event taken with [`Transport::try_next_event`] back in
    /// front, to be returned next.
    pub fn unread(&mut self, event: TransportEvent) {
        self.early.push_front(event);
    }

    /// Publishes `last` (waiting briefly for its ack), then disconnects
    /// cleanly so the broker discards our last will.
    pub async fn shutdown(mut self, last: Option<Publication>) {
        if let Some(publication) = last {
            let _ = self
                .publish_acked(publication, Duration::from_secs(2))
                .await;
        }
        let (tx, rx) = oneshot::channel();
        if self.control.send(Control::Shutdown { done: tx }).is_ok() {
            let _ = tokio::time::timeout(Duration::from_secs(3), rx).await;
        }
        self.task.abort();
        let _ = (&mut self.task).await;
    }
}
