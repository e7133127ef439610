//! The three paths a message can take, set up fresh for each run: what the
//! sender puts on the wire ([`Sealer`]) and what a receiver does with it
//! before the ack ([`Receiver`]).

use std::sync::Arc;
use std::time::Duration;

use super::floor::{self, FloorOpener, FloorSealer};
use super::{Bench, BenchError, homes};
use crate::identity::Identity;
use crate::protocol::message::Body;
use crate::room::Room;
use crate::session::{BROKER_TIMEOUT, BrokerConfig, RoomSession, SessionEvent, now_ms};
use crate::store::Store;
use crate::topics::RoomTopics;
use crate::transport::{
    Ack, Announcement, ConnectOptions, MqttVersion, Subscription, SubscriptionKind, Transport,
    TransportEvent,
};

/// Which path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    /// The text as it is, delivered at QoS 0 (published at QoS 1: sotto's
    /// transport publishes nothing else).
    PlainQos0,
    /// The text as it is, at QoS 1.
    Plain,
    /// Signed and sealed, opened and verified, nothing else.
    Floor,
    /// sotto, as `listen` runs it.
    Sotto,
}

impl Kind {
    /// The paths compared at QoS 1.
    pub const COMPARED: [Self; 3] = [Self::Plain, Self::Floor, Self::Sotto];

    /// A few words for progress lines.
    pub fn label(self) -> &'static str {
        match self {
            Self::PlainQos0 => "plain MQTT at QoS 0",
            Self::Plain => "plain MQTT",
            Self::Floor => "crypto floor",
            Self::Sotto => "sotto",
        }
    }
}

/// One run's room: where messages go, who makes them, who receives them.
pub(super) struct Setup {
    pub topic: String,
    pub sealer: Sealer,
    pub receivers: Vec<ReceiverSpec>,
}

/// Sets up a fresh room of `kind` with `members` receivers. `persistent`
/// receivers have a broker session that outlives their connection (sotto's
/// always do).
pub(super) fn setup(
    bench: &Bench,
    kind: Kind,
    members: usize,
    persistent: bool,
) -> Result<Setup, BenchError> {
    let client = |_| Client::new(bench, persistent);
    match kind {
        Kind::PlainQos0 | Kind::Plain => {
            let topic = fresh_topic(&bench.broker)?;
            let receivers = (0..members)
                .map(client)
                .map(|client| ReceiverSpec::Plain {
                    topic: topic.clone(),
                    client,
                    qos0: kind == Kind::PlainQos0,
                })
                .collect();
            Ok(Setup {
                topic,
                sealer: Sealer::Plain,
                receivers,
            })
        }
        Kind::Floor => {
            let topic = fresh_topic(&bench.broker)?;
            let (sealer, opener) = floor::pair()?;
            let receivers = (0..members)
                .map(client)
                .map(|client| ReceiverSpec::Floor {
                    topic: topic.clone(),
                    client,
                    opener: Box::new(opener.clone()),
                })
                .collect();
            Ok(Setup {
                topic,
                sealer: Sealer::Floor(Box::new(sealer)),
                receivers,
            })
        }
        Kind::Sotto => {
            let (identity, room) = sender_room()?;
            let joined = bench.homes.join_room(bench, &room, members)?;
            let receivers = joined
                .into_iter()
                .map(|(store, identity, room)| ReceiverSpec::Sotto {
                    store,
                    identity,
                    room,
                })
                .collect();
            Ok(Setup {
                topic: RoomTopics::new(&bench.broker.prefix, &room).messages,
                sealer: Sealer::Sotto(Box::new((identity, room))),
                receivers,
            })
        }
    }
}

/// The size of one payload of `kind` carrying `size` bytes of text.
pub(super) fn payload_len(size: usize, kind: Kind) -> Result<usize, BenchError> {
    let mut sealer = match kind {
        Kind::PlainQos0 | Kind::Plain => Sealer::Plain,
        Kind::Floor => Sealer::Floor(Box::new(floor::pair()?.0)),
        Kind::Sotto => Sealer::Sotto(Box::new(sender_room()?)),
    };
    Ok(sealer.seal(1, text(1, size))?.len())
}

/// A new member and the room it creates (the sender of a sotto run).
fn sender_room() -> Result<(Identity, Room), BenchError> {
    let mut rng = rand::rng();
    let identity = Identity::generate("sender", &mut rng).map_err(failed("make a sender"))?;
    let room = Room::create(&homes::room_name(), &identity.public(), now_ms(), &mut rng)
        .map_err(failed("create a room"))?;
    Ok((identity, room))
}

/// A topic of the same shape and length as a room's message topic, that
/// no room uses.
fn fresh_topic(broker: &BrokerConfig) -> Result<String, BenchError> {
    let (_, room) = sender_room()?;
    Ok(RoomTopics::new(&broker.prefix, &room).messages)
}

/// The text of message `seq` (from 1): its number, then filler, exactly
/// `size` bytes, so a receiver can tell which one it got.
pub(super) fn text(seq: u64, size: usize) -> String {
    let mut text = format!("{seq:08} ");
    let filler = (0..).map(|i| char::from(b'a' + (i % 26) as u8));
    text.extend(filler.take(size.saturating_sub(text.len())));
    text
}

/// The number of the message whose text this is.
fn seq_of(text: &[u8]) -> Result<u64, BenchError> {
    text.get(..8)
        .and_then(|digits| std::str::from_utf8(digits).ok())
        .and_then(|digits| digits.parse().ok())
        .ok_or_else(|| BenchError::Failed("a message arrived without its number".into()))
}

/// Makes each payload from its text.
pub(super) enum Sealer {
    /// The text itself.
    Plain,
    /// Signed and sealed.
    Floor(Box<FloorSealer>),
    /// By the sender's room, in memory: sealing is what is measured, not
    /// the sender's own bookkeeping.
    Sotto(Box<(Identity, Room)>),
}

impl Sealer {
    /// The payload of message `seq`.
    pub fn seal(&mut self, seq: u64, text: String) -> Result<Vec<u8>, BenchError> {
        match self {
            Self::Plain => Ok(text.into_bytes()),
            Self::Floor(sealer) => Ok(sealer.seal(seq, text.as_bytes())),
            Self::Sotto(sender) => {
                let (identity, room) = &mut **sender;
                room.seal_message(identity, Body::Text(text), now_ms(), &mut rand::rng())
                    .map_err(failed("seal a message"))
            }
        }
    }
}

/// An MQTT client id, and whether the broker keeps its session.
#[derive(Clone)]
pub(super) struct Client {
    id: String,
    persistent: bool,
}

impl Client {
    fn new(bench: &Bench, persistent: bool) -> Self {
        let id = client_id();
        if persistent {
            bench.leftovers.session(&id);
        }
        Self { id, persistent }
    }
}

/// A random client id of at most 23 characters (the MQTT 3.1.1 limit).
pub(super) fn client_id() -> String {
    let mut bytes = [0u8; 8];
    rand::Rng::fill_bytes(&mut rand::rng(), &mut bytes);
    format!("sotto-b{}", crate::hex::encode(&bytes))
}

/// How to connect one receiver (again, for catch-up).
#[derive(Clone)]
pub(super) enum ReceiverSpec {
    Plain {
        topic: String,
        client: Client,
        qos0: bool,
    },
    Floor {
        topic: String,
        client: Client,
        opener: Box<FloorOpener>,
    },
    Sotto {
        store: Store,
        identity: Arc<Identity>,
        room: String,
    },
}

/// A connected receiver.
pub(super) enum Receiver {
    Plain(Transport, MqttVersion),
    Floor(Transport, MqttVersion, Box<FloorOpener>),
    Sotto(Box<RoomSession>),
}

impl Receiver {
    /// Connects and subscribes (for sotto: opens the room's session).
    pub async fn connect(spec: &ReceiverSpec, broker: &BrokerConfig) -> Result<Self, BenchError> {
        match spec {
            ReceiverSpec::Plain {
                topic,
                client,
                qos0,
            } => {
                let kind = match qos0 {
                    true => SubscriptionKind::Live,
                    false => SubscriptionKind::Reliable,
                };
                let (transport, version) = connect(broker, client, topic, kind).await?;
                Ok(Self::Plain(transport, version))
            }
            ReceiverSpec::Floor {
                topic,
                client,
                opener,
            } => {
                let (transport, version) =
                    connect(broker, client, topic, SubscriptionKind::Reliable).await?;
                Ok(Self::Floor(transport, version, opener.clone()))
            }
            ReceiverSpec::Sotto {
                store,
                identity,
                room,
            } => {
                let session =
                    RoomSession::open(store.clone(), identity.clone(), room, broker).await?;
                Ok(Self::Sotto(Box::new(session)))
            }
        }
    }

    /// The MQTT version the broker took, where the API tells.
    pub fn version(&self) -> Option<MqttVersion> {
        match self {
            Self::Plain(_, version) | Self::Floor(_, version, _) => Some(*version),
            Self::Sotto(_) => None,
        }
    }

    /// Handles the next message as this path does, acknowledges it, and
    /// returns its number.
    pub async fn next_seq(&mut self) -> Result<u64, BenchError> {
        match self {
            Self::Plain(transport, _) => {
                let (payload, ack) = next_message(transport).await?;
                let seq = seq_of(&payload)?;
                transport.ack(ack)?;
                Ok(seq)
            }
            Self::Floor(transport, _, opener) => {
                let (payload, ack) = next_message(transport).await?;
                let (seq, text) = opener.open(&payload)?;
                if seq_of(&text)? != seq {
                    return Err(BenchError::Failed(format!(
                        "message {seq} carries another message's text"
                    )));
                }
                transport.ack(ack)?;
                Ok(seq)
            }
            Self::Sotto(session) => loop {
                match session.next_event().await? {
                    SessionEvent::Message(delivery) => {
                        // Saved already; marked shown and acknowledged
                        // with the next batch (or a few ms later), as for
                        // `listen` once the line is written.
                        return seq_of(delivery.body.text().as_bytes());
                    }
                    SessionEvent::Presence(_)
                    | SessionEvent::Notices(_)
                    | SessionEvent::Connected { .. }
                    | SessionEvent::Warning(_)
                    | SessionEvent::Note(_) => {}
                    SessionEvent::Disconnected { reason, .. } => return Err(dropped(&reason)),
                    other => {
                        return Err(BenchError::Failed(format!(
                            "sotto reported something unexpected during the run: {other:?}"
                        )));
                    }
                }
            },
        }
    }

    /// Disconnects (sotto: says goodbye and closes the session).
    pub async fn close(self) {
        match self {
            Self::Plain(transport, _) | Self::Floor(transport, _, _) => {
                transport.shutdown(None).await;
            }
            Self::Sotto(mut session) => {
                // Everything handed out was handled: mark and acknowledge.
                let _ = session.delivered().await;
                session.close().await;
            }
        }
    }
}

/// Connects the sender of a run: a throwaway session that subscribes to
/// nothing.
pub(super) async fn connect_sender(
    broker: &BrokerConfig,
) -> Result<(Transport, MqttVersion), BenchError> {
    connect_client(broker, client_id(), false, Vec::new()).await
}

async fn connect(
    broker: &BrokerConfig,
    client: &Client,
    topic: &str,
    kind: SubscriptionKind,
) -> Result<(Transport, MqttVersion), BenchError> {
    let subscription = Subscription {
        filter: topic.to_owned(),
        kind,
    };
    connect_client(
        broker,
        client.id.clone(),
        client.persistent,
        vec![subscription],
    )
    .await
}

/// Connects with sotto's transport, as sotto would to this broker.
pub(super) async fn connect_client(
    broker: &BrokerConfig,
    client_id: String,
    persistent: bool,
    subscriptions: Vec<Subscription>,
) -> Result<(Transport, MqttVersion), BenchError> {
    let options = ConnectOptions {
        url: broker.url.clone(),
        client_id,
        clean_session: !persistent,
        version: broker.version,
        credentials: broker.credentials.clone(),
        keep_alive: Duration::from_secs(30),
        ca_file: broker.ca_file.clone(),
        client_auth: broker.client_auth.clone(),
        session_subscribed: false,
    };
    let mut transport = Transport::start(options, subscriptions, Announcement::default)?;
    let (connected, _) = transport.wait_connected(BROKER_TIMEOUT).await?;
    let version = match connected {
        TransportEvent::Connected { version, .. } => version,
        _ => MqttVersion::V5,
    };
    Ok((transport, version))
}

async fn next_message(transport: &mut Transport) -> Result<(Vec<u8>, Ack), BenchError> {
    loop {
        match transport.next_event().await {
            Some(TransportEvent::Message { payload, ack, .. }) => return Ok((payload, ack)),
            Some(TransportEvent::Disconnected { reason, .. }) => return Err(dropped(&reason)),
            Some(TransportEvent::Refused { reason }) => return Err(BenchError::Failed(reason)),
            Some(TransportEvent::Discarded { .. } | TransportEvent::Unacknowledged { .. }) => {
                return Err(BenchError::Failed(
                    "someone else published on the bench's topic during the run".into(),
                ));
            }
            Some(
                TransportEvent::Connected { .. }
                | TransportEvent::Warning(_)
                | TransportEvent::Note(_),
            ) => {}
            None => return Err(crate::transport::TransportError::Closed.into()),
        }
    }
}

fn dropped(reason: &str) -> BenchError {
    BenchError::Failed(format!(
        "the connection to the broker dropped during the run ({reason})"
    ))
}

/// Turns an error into a sentence about what the bench was doing.
pub(super) fn failed<E: std::fmt::Display>(action: &'static str) -> impl FnOnce(E) -> BenchError {
    move |err| BenchError::Failed(format!("could not {action}: {err}"))
}
