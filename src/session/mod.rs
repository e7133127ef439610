//! A live connection to one room: the glue between [`Transport`], the
//! [`Store`] and the pure [`Room`] logic. Incoming payloads are routed by
//! topic, checked by the room, and turned into [`SessionEvent`]s for
//! whatever front end is showing them.
//!
//! **Nothing acknowledged is lost.** A message is checked against the saved
//! room and saved with what it changes, marked not yet shown; it is handed
//! to the front end, and only when the front end has shown it (it asks for
//! the next event, or calls [`RoomSession::delivered`]) is the mark cleared
//! and the broker's copy acknowledged, in the order the messages came. A
//! crash before that means the broker delivers it again, or the mark has
//! it shown next time; a failed save ends the session with an error
//! rather than going on without it.
//!
//! Presence ordering: before every connection attempt the session picks a
//! fresh number `k` (milliseconds since the Unix epoch, forced upward) and
//! seals "online" with sequence `2k` and the last will "offline" with
//! `2k + 1`. So a connection's will always supersedes its own "online", and
//! the next connection's "online" supersedes both, even though MQTT fixes
//! the will at connect time.

mod broker_config;
mod client_id;
mod commits;
mod events;
mod membership;
mod patience;
mod presence;
mod receive;
mod retire;
mod send;
mod warnings;

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::Instant;

use crate::identity::{Fingerprint, Identity};
use crate::protocol::message::Body;
use crate::protocol::presence::Status;
use crate::room::{Room, RoomId};
use crate::store::{Store, StoreError, StoreLock};
use crate::topics::{RoomTopics, TopicKind};
use crate::transport::{
    Ack, BrokerUrl, MqttVersion, Publication, Transport, TransportError, TransportEvent,
    VersionChoice,
};
use presence::presence_announcer;
use retire::Retiring;
use warnings::WarningBudget;

pub use broker_config::BrokerConfig;
pub use client_id::MAX_CLIENT_ID_LEN;
pub use commits::prepare_room_session;
pub use events::{Outgoing, SessionError, SessionEvent};
pub use membership::MembershipError;
pub use patience::{AfterRefusal, REFUSED_PATIENCE, RefusalPatience};
pub use send::{catch_up_membership, send_once};

/// How long to wait for the broker to answer a connect or a publish.
pub const BROKER_TIMEOUT: Duration = Duration::from_secs(10);

/// How long the queue must be quiet after a connect before gaps announced
/// by presence are reported: presence comes from retained records and can
/// overtake the queued messages that fill the gap.
const SETTLE: Duration = Duration::from_secs(1);

/// Where a message came from: the room's session, or an old one being
/// drained before it is deleted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Source {
    Live,
    Retiring,
}

/// One member's live connection to one room.
pub struct RoomSession {
    store: Store,
    identity: Arc<Identity>,
    broker: BrokerConfig,
    room_id: RoomId,
    room_name: String,
    topics: RoomTopics,
    client_id: String,
    /// The MQTT version the broker took.
    version: MqttVersion,
    /// The broker of the list the connection is on (or was last on).
    node: BrokerUrl,
    transport: Transport,
    retiring: Option<Retiring>,
    /// Messages handed to the front end, saved but still marked not yet
    /// shown, and not acknowledged: sender, number, ack, where from.
    unconfirmed: Vec<(Fingerprint, u64, Ack, Source)>,
    /// When shown messages are marked and acknowledged if no batch comes
    /// first to do it in its transaction.
    flush_at: Option<Instant>,
    /// The same for the messages still waiting in `buffered`, in order.
    to_confirm: VecDeque<(Fingerprint, u64, Ack, Source)>,
    buffered: VecDeque<SessionEvent>,
    /// When to look for gaps that presence announced (see [`SETTLE`]).
    settle_at: Option<Instant>,
    warnings: WarningBudget,
    /// The epoch the room was at when the session opened, until settled:
    /// catching up from it may show what could not reach us.
    opened_at_epoch: Option<u64>,
    last_attempt: Arc<AtomicU64>,
    /// Our highest message number that may have gone out, announced in
    /// presence records so others see a gap without waiting.
    last_sent: Arc<AtomicU64>,
    snapshot: Arc<Mutex<Room>>,
    /// A commit moved the room to a new epoch: move the connection once
    /// what was shown has been acknowledged.
    switch_pending: bool,
    /// Network work asked for by events (join requests and answers).
    chores: membership::Chores,
    /// Messages sealed for an epoch after ours, saved (and so
    /// acknowledged) and kept until the commit that starts it arrives
    /// (MQTT does not order one topic against another).
    held: Vec<receive::Held>,
    /// A commit moved the room: take the held messages again.
    release_due: bool,
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
        let broker = broker.with_remembered_version(&store);
        let topics = RoomTopics::new(&broker.prefix, &room);
        let client_id = client_id::client_id(&store.client_secret()?, &room);
        let last_attempt = Arc::new(AtomicU64::new(0));
        let last_sent = Arc::new(AtomicU64::new(store.last_sent_seq(&room)?));
        let snapshot = Arc::new(Mutex::new(room.clone()));
        let announce = presence_announcer(&identity, &topics, &last_attempt, &last_sent, &snapshot);
        let subscriptions = membership::subscriptions(&topics, room.needs_log_state());
        let options = broker_config::room_options(
            &broker,
            &store,
            room.id(),
            client_id.clone(),
            &subscriptions,
        );
        let mut transport = Transport::start(options, subscriptions.clone(), announce)?;
        let (connected, notes) = transport.wait_connected(BROKER_TIMEOUT).await?;
        broker_config::record_granted(&store, room.id(), &client_id, &subscriptions);
        let node = broker.url.first().clone();
        let mut session = Self {
            store,
            identity,
            broker,
            room_id: *room.id(),
            room_name: room.name().to_owned(),
            topics,
            client_id,
            version: MqttVersion::V5,
            node,
            transport,
            retiring: None,
            unconfirmed: Vec::new(),
            to_confirm: VecDeque::new(),
            flush_at: None,
            buffered: VecDeque::new(),
            settle_at: None,
            warnings: WarningBudget::for_room(room.name()),
            opened_at_epoch: room.log().map(|_| room.epoch()),
            last_attempt,
            last_sent,
            snapshot,
            switch_pending: false,
            chores: Default::default(),
            held: Vec::new(),
            release_due: false,
            _session_lock: session_lock,
        };
        session.load_held()?;
        for note in notes {
            if let Some(event) = session.on_transport(note, Source::Live)? {
                session.buffered.push_back(event);
            }
        }
        if let Some(event) = session.on_transport(connected, Source::Live)? {
            session.buffered.push_back(event);
        }
        session.start_retiring(&room).await;
        if let Some(by) = room.removed_by() {
            session
                .buffered
                .push_back(SessionEvent::Removed { by: by.to_owned() });
        } else if room.is_joining() {
            let seen = session.redeem_invite().await?;
            for event in seen.into_iter().rev() {
                session.buffered.push_front(event);
            }
        } else {
            session.publish_offline_commit(&room).await?;
            session.publish_state(&room).await;
        }
        Ok(session)
    }

    /// The broker the connection is on, or was last on while it is down.
    pub fn node(&self) -> &BrokerUrl {
        &self.node
    }

    /// The room's id.
    pub fn room_id(&self) -> &RoomId {
        &self.room_id
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
    /// sequence number is saved before publishing, so it is never reused;
    /// the connection keeps trying until the broker has it, across
    /// reconnects.
    pub async fn send(&self, body: Body) -> Result<(), SessionError> {
        self.send_tracked(body).await.map(drop)
    }

    /// Seals and publishes a message, and returns its number with what
    /// tells when the broker has it (or refused it), across reconnects.
    pub async fn send_tracked(&self, body: Body) -> Result<Outgoing, SessionError> {
        let (payload, seq, destinations) = send::seal_saved(
            &self.store,
            &self.room_id,
            &self.identity,
            body,
            &self.broker.prefix,
        )?;
        let mut acked = None;
        for topic in destinations {
            let publication = Publication {
                topic,
                payload: payload.clone(),
                retain: false,
            };
            // The current epoch's topic comes first: the one that counts.
            match acked {
                None => acked = Some(self.transport.publish_tracked(publication).await?),
                Some(_) => self.transport.publish(publication).await?,
            }
        }
        // Handed over: the connection keeps trying until the broker has
        // it. The next presence record announces it.
        self.store.handed_over(&self.room_id, seq)?;
        self.last_sent.fetch_max(seq, Ordering::SeqCst);
        let acked = acked.ok_or(SessionError::Transport(TransportError::Closed))?;
        Ok(Outgoing { seq, acked })
    }

    /// Counts every [`SessionEvent::Message`] returned so far as shown:
    /// clears their "not yet shown" marks and acknowledges them to the
    /// broker. Call once they are on screen or written out. An error means
    /// nothing was acknowledged (the broker sends them again); the session
    /// should then end.
    pub async fn delivered(&mut self) -> Result<(), SessionError> {
        self.confirm_shown()
    }

    /// The next thing that happened. Counts the previous message as shown
    /// (see [`RoomSession::delivered`]). An error ends the session: the
    /// broker refused something sotto needs, the connection task stopped,
    /// or the room's state could not be saved.
    pub async fn next_event(&mut self) -> Result<SessionEvent, SessionError> {
        loop {
            if let Some(event) = self.take_buffered() {
                return Ok(event);
            }
            if std::mem::take(&mut self.release_due) {
                self.release_held()?;
                continue;
            }
            if self.switch_pending && self.to_confirm.is_empty() {
                self.switch_epoch().await?;
                continue;
            }
            if self.has_chores() && self.to_confirm.is_empty() {
                if let Some(event) = self.do_chores().await? {
                    return Ok(event);
                }
                continue;
            }
            // Shown messages are marked in the next batch's transaction if
            // one is already waiting; otherwise now, so the broker gets its
            // acknowledgements (and sends more) without waiting.
            if !self.unconfirmed.is_empty() {
                match self.transport.try_next_event() {
                    Some(event) => self.transport.unread(event),
                    None => self.delivered().await?,
                }
            }
            let flush_at = self.flush_at;
            let settle_at = self.settle_at;
            let summary_at = self.warnings.summary_due();
            let retire_at = self.retiring.as_ref().map(Retiring::quiet_deadline);
            let chore_at = self.next_chore_at();
            let step = tokio::select! {
                () = sleep_until(chore_at) => Step::Chore,
                event = self.transport.next_event() => Step::Event(event, Source::Live),
                event = retire::next_event(&mut self.retiring) => Step::Event(event, Source::Retiring),
                () = sleep_until(retire_at) => Step::RetireQuiet,
                () = sleep_until(flush_at) => Step::Flush,
                () = sleep_until(settle_at) => Step::Settled,
                () = sleep_until(summary_at) => Step::Summary,
            };
            let event = match step {
                Step::Event(Some(event), source) => self.on_transport(event, source)?,
                Step::Event(None, Source::Live) => {
                    return Err(SessionError::Transport(TransportError::Closed));
                }
                Step::Event(None, Source::Retiring) => {
                    self.retiring = None;
                    None
                }
                Step::Flush => {
                    self.delivered().await?;
                    None
                }
                Step::RetireQuiet => {
                    self.delivered().await?;
                    self.finish_retiring().await
                }
                Step::Settled => self.settled()?,
                // Handled at the top of the loop.
                Step::Chore => None,
                Step::Summary => self.warnings.summary(),
            };
            if let Some(event) = event {
                return Ok(event);
            }
        }
    }

    fn on_transport(
        &mut self,
        event: TransportEvent,
        source: Source,
    ) -> Result<Option<SessionEvent>, SessionError> {
        if source == Source::Retiring && !matches!(event, TransportEvent::Message { .. }) {
            return Ok(self.on_retiring(event));
        }
        Ok(match event {
            TransportEvent::Connected {
                reconnect,
                version,
                node,
                ..
            } => {
                self.version = version;
                if self.broker.version == VersionChoice::Auto {
                    self.store
                        .remember_mqtt_version(&node.to_string(), &version.to_string());
                }
                self.settle_at = Some(Instant::now() + SETTLE);
                let note = format!(
                    "connected to {node} with MQTT {version} as client id {}",
                    self.client_id
                );
                self.node = node.clone();
                self.buffered
                    .push_back(SessionEvent::Connected { reconnect, node });
                Some(SessionEvent::Note(note))
            }
            TransportEvent::Disconnected {
                reason,
                advice,
                node,
                next,
            } => Some(SessionEvent::Disconnected {
                reason: format!("{reason}; {advice}"),
                node,
                next,
            }),
            TransportEvent::Refused { reason } => {
                return Err(SessionError::Transport(TransportError::Refused(reason)));
            }
            TransportEvent::Message {
                topic,
                payload,
                duplicate,
                ack,
                ..
            } => self.on_message(&topic, payload, duplicate, ack, source)?,
            TransportEvent::Discarded { bytes } => Some(SessionEvent::Discarded { bytes }),
            TransportEvent::Unacknowledged { count } => {
                Some(SessionEvent::Unacknowledged { count })
            }
            TransportEvent::Warning(text) => Some(SessionEvent::Warning(text)),
            TransportEvent::Note(text) => Some(SessionEvent::Note(text)),
        })
    }

    fn on_message(
        &mut self,
        topic: &str,
        payload: Vec<u8>,
        duplicate: bool,
        ack: Ack,
        source: Source,
    ) -> Result<Option<SessionEvent>, SessionError> {
        if let Some(at) = self.settle_at.as_mut() {
            *at = Instant::now() + SETTLE;
        }
        if source == Source::Retiring
            && let Some(retiring) = self.retiring.as_mut()
        {
            retiring.drained_one();
        }
        match self.topics.classify(topic) {
            TopicKind::Messages => {
                // A copy on a past epoch's topic (forwarded, or sent before
                // its sender saw a commit) of what we had is no replay.
                let duplicate = duplicate || self.topics.is_past_messages(topic);
                self.on_messages(payload, duplicate, ack, source)
            }
            kind @ (TopicKind::Commit
            | TopicKind::KeySlot
            | TopicKind::State
            | TopicKind::Request) => self.on_membership(kind, payload, ack, source),
            TopicKind::Presence => {
                self.ack(ack, source);
                self.on_presence(topic, payload, source)
            }
            TopicKind::Other => {
                self.ack(ack, source);
                Ok(None)
            }
        }
    }

    /// The room as this session last read or saved it.
    fn snapshot(&self) -> Room {
        match self.snapshot.lock() {
            Ok(room) => room.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    fn ack(&mut self, ack: Ack, source: Source) {
        // If the task has stopped, the broker sends it again next time.
        let _ = match source {
            Source::Live => self.transport.ack(ack),
            Source::Retiring => match &self.retiring {
                Some(retiring) => retiring.ack(ack),
                None => Ok(()),
            },
        };
    }

    fn settled(&mut self) -> Result<Option<SessionEvent>, SessionError> {
        self.settle_at = None;
        let was_at = self.opened_at_epoch.take();
        let now = now_ms();
        let notices = self
            .store
            .update_room(&self.room_id, |room| {
                let mut notices: Vec<_> = was_at
                    .and_then(|epoch| room.missed_while_away(epoch, now))
                    .into_iter()
                    .collect();
                notices.extend(room.overdue_gaps());
                Ok::<_, ()>(notices)
            })?
            .unwrap_or_default();
        Ok((!notices.is_empty()).then_some(SessionEvent::Notices(notices)))
    }

    /// Says goodbye (offline presence) and disconnects. A message not yet
    /// counted as shown is not acknowledged: the broker keeps it.
    pub async fn close(mut self) {
        // Messages not yet counted as shown stay unacknowledged: the
        // broker keeps them, and their marks say to show them next time.
        self.unconfirmed.clear();
        self.to_confirm.clear();
        // A commit taken but not yet moved to: make the new epoch's broker
        // session now, so it queues what is sent there before we are back;
        // the old one is left recorded, to be drained next time.
        if self.switch_pending {
            self.prepare_next_session().await;
        }
        if let Some(retiring) = self.retiring.take() {
            retiring.abandon().await;
        }
        let k = self.last_attempt.load(Ordering::SeqCst);
        // Not a member yet (or no longer): nobody could take a record of
        // ours, and a retained one would be refused by every member.
        let room = self.room().ok().filter(Room::is_member_now);
        let goodbye = room.map(|room| Publication {
            topic: self.topics.own_presence.clone(),
            payload: room.seal_presence_announcing(
                &self.identity,
                Status::Offline,
                2 * k + 1,
                self.last_sent.load(Ordering::SeqCst),
                now_ms(),
                &mut rand::rng(),
            ),
            retain: true,
        });
        self.transport.shutdown(goodbye).await;
    }
}

enum Step {
    Event(Option<TransportEvent>, Source),
    Chore,
    Flush,
    RetireQuiet,
    Settled,
    Summary,
}

async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
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

/// Records the client id a newly created or joined room will use, so its
/// first session does not go looking for broker sessions that only an
/// older sotto could have left behind.
pub fn record_client_id(store: &Store, room: &Room) -> Result<(), StoreError> {
    let id = client_id::client_id(&store.client_secret()?, room);
    store.set_last_client_id(room.id(), &id)
}

/// Milliseconds since the Unix epoch (0 if the clock is before 1970).
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}
