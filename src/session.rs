//! A live connection to one room: the glue between [`Transport`], the
//! [`Store`] and the pure [`Room`] logic. Incoming payloads are routed by
//! topic, checked by the room (under the store's lock, so state written by
//! other sotto processes, such as `verify`, is always current), and turned
//! into [`SessionEvent`]s for whatever front end is showing them.
//!
//! Presence ordering: before every connection attempt the session picks a
//! fresh number `k` (milliseconds since the Unix epoch, forced upward) and
//! seals "online" with sequence `2k` and the last will "offline" with
//! `2k + 1`. So a connection's will always supersedes its own "online", and
//! the next connection's "online" supersedes both, even though MQTT fixes
//! the will at connect time.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::crypto;
use crate::identity::Identity;
use crate::protocol::OpenError;
use crate::protocol::message::Body;
use crate::protocol::presence::Status;
use crate::room::{Delivery, PresenceUpdate, Received, Room, RoomError, RoomId};
use crate::store::{Store, StoreError, StoreLock};
use crate::topics::{RoomTopics, TopicKind};
use crate::transport::{
    Announcement, BrokerUrl, ConnectOptions, Publication, Transport, TransportError, TransportEvent,
};

const CLIENT_ID_LABEL: &str = "sotto/v1/client-id";

/// How long to wait for the broker to answer a connect or a publish.
pub const BROKER_TIMEOUT: Duration = Duration::from_secs(10);

/// Where and how to reach the broker.
#[derive(Debug, Clone)]
pub struct BrokerConfig {
    /// The broker's address.
    pub url: BrokerUrl,
    /// Username and password, if any.
    pub credentials: Option<(String, String)>,
    /// Topic prefix (default [`crate::topics::DEFAULT_PREFIX`]).
    pub prefix: String,
    /// Extra CA certificates for `mqtts://`.
    pub ca_file: Option<std::path::PathBuf>,
}

/// Why a session could not start or act.
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    /// State on disk.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The broker.
    #[error(transparent)]
    Transport(#[from] TransportError),
    /// The room refused (blocked by a key change, text too long).
    #[error(transparent)]
    Room(#[from] RoomError),
    /// Another process of this home is connected to the room.
    #[error(
        "another sotto process (chat or listen) is already connected to room {0:?} from this home; close it first"
    )]
    Busy(String),
}

/// What happened in the room, for the front end to show.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SessionEvent {
    /// A message from another member, checked.
    Message(Delivery),
    /// A member came online or went offline (or announced a new key).
    Presence(PresenceUpdate),
    /// A payload was refused; show as a warning, never as a message.
    Dropped(OpenError),
    /// Connected or reconnected.
    Connected {
        /// Whether this follows a lost connection.
        reconnect: bool,
    },
    /// The connection dropped; the session keeps retrying.
    Disconnected {
        /// Why, in a few words.
        reason: String,
    },
    /// The room's state file could not be read or written.
    StateError(String),
}

/// One member's live connection to one room.
pub struct RoomSession {
    store: Store,
    identity: Arc<Identity>,
    room_id: RoomId,
    room_name: String,
    topics: RoomTopics,
    transport: Transport,
    last_attempt: Arc<AtomicU64>,
    snapshot: Arc<Mutex<Room>>,
    _session_lock: StoreLock,
}

impl RoomSession {
    /// Connects to the room's persistent MQTT session and announces our
    /// presence. Fails with one clear error if the broker does not answer.
    pub async fn open(
        store: Store,
        identity: Arc<Identity>,
        room_name: &str,
        broker: &BrokerConfig,
    ) -> Result<Self, SessionError> {
        let room = store.room(room_name)?;
        let session_lock = store
            .session_lock(room.id())?
            .ok_or_else(|| SessionError::Busy(room_name.to_owned()))?;
        let topics = RoomTopics::new(&broker.prefix, &room);
        let options = ConnectOptions {
            url: broker.url.clone(),
            client_id: client_id(&identity, &room, &store),
            clean_session: false,
            credentials: broker.credentials.clone(),
            keep_alive: Duration::from_secs(30),
            ca_file: broker.ca_file.clone(),
        };
        let last_attempt = Arc::new(AtomicU64::new(0));
        let snapshot = Arc::new(Mutex::new(room.clone()));
        let announce = {
            let identity = identity.clone();
            let last_attempt = last_attempt.clone();
            let snapshot = snapshot.clone();
            let presence_topic = topics.own_presence.clone();
            move || {
                let k = next_attempt(&last_attempt);
                let room = match snapshot.lock() {
                    Ok(room) => room.clone(),
                    Err(poisoned) => poisoned.into_inner().clone(),
                };
                let mut rng = rand::rng();
                let now = now_ms();
                let mut record = |status, seq| Publication {
                    topic: presence_topic.clone(),
                    payload: room.seal_presence(&identity, status, seq, now, &mut rng),
                    retain: true,
                };
                Announcement {
                    will: Some(record(Status::Offline, 2 * k + 1)),
                    on_connect: vec![record(Status::Online, 2 * k)],
                }
            }
        };
        let mut transport = Transport::start(options, topics.subscriptions(), announce)?;
        transport.wait_connected(BROKER_TIMEOUT).await?;
        Ok(Self {
            store,
            identity,
            room_id: *room.id(),
            room_name: room.name().to_owned(),
            topics,
            transport,
            last_attempt,
            snapshot,
            _session_lock: session_lock,
        })
    }

    /// The room's local name.
    pub fn room_name(&self) -> &str {
        &self.room_name
    }

    /// The room as currently saved.
    pub fn room(&self) -> Result<Room, StoreError> {
        self.store
            .room_by_id(&self.room_id)?
            .ok_or_else(|| StoreError::RoomNotFound(self.room_name.clone()))
    }

    /// Seals and publishes a message; returns once it is queued. The
    /// sequence number is saved before publishing, so it is never reused.
    pub async fn send(&self, body: Body) -> Result<(), SessionError> {
        let payload = seal_saved(&self.store, &self.room_id, &self.identity, body)?;
        self.transport
            .publish(Publication {
                topic: self.topics.messages.clone(),
                payload,
                retain: false,
            })
            .await?;
        Ok(())
    }

    /// The next thing that happened, or `None` when the connection task
    /// has stopped.
    ///
    /// A message is acknowledged to the broker only after its effect on the
    /// room is saved, so a crash or an exit between the two means the broker
    /// delivers it again, never that it is lost.
    pub async fn next_event(&mut self) -> Option<SessionEvent> {
        loop {
            let event = match self.transport.next_event().await? {
                TransportEvent::Connected { reconnect, .. } => {
                    SessionEvent::Connected { reconnect }
                }
                TransportEvent::Disconnected { reason, .. } => {
                    SessionEvent::Disconnected { reason }
                }
                TransportEvent::Message {
                    topic,
                    payload,
                    duplicate,
                    ack,
                    ..
                } => {
                    let event = self.interpret(&topic, &payload, duplicate);
                    // If the task has stopped, the next call returns None.
                    let _ = self.transport.ack(ack).await;
                    match event {
                        Some(event) => event,
                        None => continue,
                    }
                }
            };
            return Some(event);
        }
    }

    fn interpret(&self, topic: &str, payload: &[u8], duplicate: bool) -> Option<SessionEvent> {
        match self.route(topic, payload) {
            // A message we saved but had not acknowledged when we went away
            // comes back flagged as a redelivery: expected, not an attack.
            Some(SessionEvent::Dropped(OpenError::Replayed(_))) if duplicate => None,
            other => other,
        }
    }

    fn route(&self, topic: &str, payload: &[u8]) -> Option<SessionEvent> {
        match self.topics.classify(topic) {
            TopicKind::Messages => self.receive(|room, now| {
                room.receive_message(payload, now)
                    .map(|received| match received {
                        Received::Accepted(delivery) => Some(SessionEvent::Message(delivery)),
                        Received::OwnEcho => None,
                    })
            }),
            // An empty retained publish clears a topic: not a record.
            TopicKind::Presence if payload.is_empty() => None,
            TopicKind::Presence => self.receive(|room, now| {
                let member_id = self.topics.presence_member_id(topic).unwrap_or_default();
                match room.receive_presence(payload, member_id, now) {
                    Ok(Received::Accepted(update)) => Ok(Some(SessionEvent::Presence(update))),
                    Ok(Received::OwnEcho) => Ok(None),
                    // A late or replayed presence record is normal (the
                    // retained one, or our will after a goodbye): not
                    // worth a warning.
                    Err(OpenError::OutdatedPresence(_)) => Ok(None),
                    Err(err) => Err(err),
                }
            }),
            // Key rotation is handled by a later version; a slot addressed
            // to us is kept (retained) by the broker until then.
            TopicKind::KeySlot | TopicKind::Other => None,
        }
    }

    fn receive(
        &self,
        check: impl FnOnce(&mut Room, u64) -> Result<Option<SessionEvent>, OpenError>,
    ) -> Option<SessionEvent> {
        let now = now_ms();
        let outcome = self.store.update_room(&self.room_id, |room| {
            let event = check(room, now);
            if event.is_ok()
                && let Ok(mut snapshot) = self.snapshot.lock()
            {
                snapshot.clone_from(room);
            }
            event
        });
        match outcome {
            Ok(Ok(event)) => event,
            Ok(Err(err)) => Some(SessionEvent::Dropped(err)),
            Err(err) => Some(SessionEvent::StateError(err.to_string())),
        }
    }

    /// Says goodbye (offline presence) and disconnects.
    pub async fn close(self) {
        let k = self.last_attempt.load(Ordering::SeqCst);
        let room = self.room().ok();
        let goodbye = room.map(|room| Publication {
            topic: self.topics.own_presence.clone(),
            payload: room.seal_presence(
                &self.identity,
                Status::Offline,
                2 * k + 1,
                now_ms(),
                &mut rand::rng(),
            ),
            retain: true,
        });
        self.transport.shutdown(goodbye).await;
    }
}

/// Publishes one message and waits for the broker's acknowledgement, on a
/// short-lived connection of its own (so it works while `chat` or `listen`
/// holds the room's session).
pub async fn send_once(
    store: &Store,
    identity: &Identity,
    room_name: &str,
    broker: &BrokerConfig,
    body: Body,
) -> Result<(), SessionError> {
    let room = store.room(room_name)?;
    let topics = RoomTopics::new(&broker.prefix, &room);
    let options = ConnectOptions {
        url: broker.url.clone(),
        client_id: format!("sotto-send-{}", crate::hex::encode(&random_bytes::<8>())),
        clean_session: true,
        credentials: broker.credentials.clone(),
        keep_alive: Duration::from_secs(30),
        ca_file: broker.ca_file.clone(),
    };
    let mut transport = Transport::start(options, Vec::new(), Announcement::default)?;
    transport.wait_connected(BROKER_TIMEOUT).await?;
    let payload = seal_saved(store, room.id(), identity, body)?;
    let result = transport
        .publish_acked(
            Publication {
                topic: topics.messages,
                payload,
                retain: false,
            },
            BROKER_TIMEOUT,
        )
        .await;
    transport.shutdown(None).await;
    Ok(result?)
}

fn seal_saved(
    store: &Store,
    room_id: &RoomId,
    identity: &Identity,
    body: Body,
) -> Result<Vec<u8>, SessionError> {
    let sealed = store.update_room(room_id, |room| {
        room.seal_message(identity, body, now_ms(), &mut rand::rng())
    })??;
    Ok(sealed)
}

/// A stable MQTT client id for this identity, home and room. Derived, so
/// the broker's queue survives restarts; one-way, so it reveals neither
/// the name nor the keys, and differs between rooms.
fn client_id(identity: &Identity, room: &Room, store: &Store) -> String {
    let home = store.home().to_string_lossy();
    let mut id = [0u8; 12];
    crypto::derive_into(
        &identity.public().signing,
        &room.id().0,
        CLIENT_ID_LABEL,
        home.as_bytes(),
        &mut id,
    );
    format!("sotto-{}", crate::hex::encode(&id))
}

fn next_attempt(last: &AtomicU64) -> u64 {
    let now = now_ms();
    let mut previous = last.load(Ordering::SeqCst);
    loop {
        let next = now.max(previous + 1);
        match last.compare_exchange(previous, next, Ordering::SeqCst, Ordering::SeqCst) {
            Ok(_) => return next,
            Err(actual) => previous = actual,
        }
    }
}

fn random_bytes<const N: usize>() -> [u8; N] {
    let mut bytes = [0u8; N];
    rand::Rng::fill_bytes(&mut rand::rng(), &mut bytes);
    bytes
}

/// Milliseconds since the Unix epoch (0 if the clock is before 1970).
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}
