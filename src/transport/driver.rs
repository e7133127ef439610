//! The connection task: owns rumqttc's event loop and keeps polling it.
//!
//! It never waits on the program above it. Events go into the [`Inbox`]
//! (pushing never blocks), acknowledgements and shutdown come over an
//! unbounded control channel, and publishes are taken from the handle only
//! while rumqttc's queue has room, which is what pushes back on a fast
//! sender. rumqttc's traps and what this task does about them:
//!
//! - `poll()` reconnects in a tight loop: we sleep with exponential backoff,
//!   reset only once a connection has stayed up for a while (a broker that
//!   accepts and then drops at once must not be hammered). Given several
//!   brokers, the next one is tried first (`failover.rs`), in the same
//!   event loop so the session's unacknowledged publishes go along.
//! - Subscriptions are lost when the broker has no session for us: the
//!   reliable ones are made again on every ConnAck without
//!   `session_present`, the live (QoS 0) ones on every ConnAck.
//! - rumqttc has no per-publish acknowledgement handle: each publish is
//!   paired with the packet id rumqttc reports when sending it (they go out
//!   in request order) and its waiter resolved on the PUBACK.

use std::collections::{HashMap, VecDeque};
use std::time::Duration;

use rumqttc::QoS;
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;

use ack_order::AckOrder;

use super::client::{ConnAckInfo, Full, IncomingPublish, MqttClient, REQUEST_CAPACITY, WireEvent};
use super::describe::FailureClass;
use super::failover::{CLUSTER_PATIENCE, Failover};
use super::inbox::Inbox;
use super::{
    Ack, Announcement, BrokerUrl, ConnectOptions, MqttVersion, Publication, Subscription,
    SubscriptionKind, TransportError, TransportEvent, VersionChoice,
};

mod ack_order;
mod reconnect;

/// A connection that lasted this long resets the backoff.
const STABLE_AFTER: Duration = Duration::from_secs(10);
/// How long a QoS 0 flood must be quiet before it is reported.
const FLOOD_QUIET: Duration = Duration::from_secs(1);
/// How many of rumqttc's request slots publishes may fill: the rest stay
/// free for subscriptions and acknowledgements.
const CLIENT_QUEUE_BUDGET: usize = REQUEST_CAPACITY / 2;

/// Who waits for a publish's PUBACK.
pub type Waiter = oneshot::Sender<Result<(), TransportError>>;

/// A publish on its way to the broker.
pub struct Outbound {
    pub publication: Publication,
    pub acked: Option<Waiter>,
}

/// What the handle asks of the task besides publishing.
pub enum Control {
    Ack(Ack),
    Shutdown { done: oneshot::Sender<()> },
}

/// Why the task stopped polling.
enum Stop {
    /// Asked to, or the handle went away: say goodbye.
    Graceful(Option<oneshot::Sender<()>>),
    /// The broker refused something sotto cannot work without: leave
    /// without a DISCONNECT, so the broker publishes our last will and no
    /// "online" record stays behind.
    Refused,
}

pub struct Driver {
    client: MqttClient,
    options: ConnectOptions,
    tls: Option<rumqttc::Transport>,
    subscriptions: Vec<Subscription>,
    announce: Box<dyn FnMut() -> Announcement + Send>,
    inbox: Inbox,
    /// Which broker of the list to try, and when.
    failover: Failover,
    /// Why each broker failed, while none has answered yet.
    first_failures: Vec<(BrokerUrl, String, FailureClass)>,
    /// Until when a first connection to a list goes on through rounds
    /// in which nodes answered but hung up (see [`CLUSTER_PATIENCE`]).
    patient_until: Option<Instant>,
    /// Whether the version may still change (auto, nothing connected yet).
    may_fall_back: bool,
    /// Whether the next attempt carries a last will.
    has_will: bool,
    /// Set once a 3.1.1 broker hung up on a CONNECT with a will and we
    /// went on without one (see [`Driver::drop_will`]).
    will_dropped: bool,
    /// Whether an attempt without the will has been made (once at most).
    will_tested: bool,
    connected_before: bool,
    connected_at: Option<Instant>,
    on_connect: Vec<Publication>,
    /// This connection's number, unique in the process, to drop acks
    /// owed to an earlier connection or to another transport.
    connection: u64,
    /// What the last CONNACK allowed.
    limits: ConnAckInfo,
    /// Subscriptions handed to rumqttc, until it reports their packet id.
    subscribing: VecDeque<usize>,
    /// Subscriptions sent, by packet id, until their SUBACK.
    awaiting_suback: HashMap<u16, usize>,
    /// Whether the broker session holds every reliable subscription: known
    /// from an earlier process (the options say), or once all were granted
    /// on a connection of this one.
    session_subscribed: bool,
    /// Set between a ConnAck and the last of its SubAcks: "connected" is
    /// reported (and "online" published) only once messages can arrive.
    pending_connect: Option<bool>,
    /// Waiters for publishes handed to rumqttc but not yet given a packet id.
    unmatched: VecDeque<Option<Waiter>>,
    /// How many of `unmatched` (the oldest) rumqttc moved to its resend
    /// list when the last live connection dropped: a broker without our
    /// session makes rumqttc drop exactly those. Later ones wait in its
    /// request queue and go out on the new session.
    unmatched_at_drop: usize,
    /// Waiters by packet id, until the PUBACK.
    awaiting_ack: HashMap<u16, Option<Waiter>>,
    /// Publishes taken from the handle but not yet accepted by rumqttc.
    backlog: VecDeque<Outbound>,
    /// Publishes in rumqttc's request queue (handed over, not yet sent).
    in_client: usize,
    /// Incoming QoS 1 publishes of this connection not yet acknowledged.
    ack_order: AckOrder,
    /// Acknowledgements due that rumqttc's queue had no room for yet.
    pending_acks: VecDeque<u16>,
    /// QoS 0 publishes dropped on reliable topics, not yet reported.
    flood: usize,
    last_flood_drop: Option<Instant>,
    flood_reported: bool,
}

impl Driver {
    pub fn new(
        options: ConnectOptions,
        tls: Option<rumqttc::Transport>,
        subscriptions: Vec<Subscription>,
        announce: Box<dyn FnMut() -> Announcement + Send>,
        inbox: Inbox,
    ) -> Self {
        let (version, may_fall_back) = match options.version {
            VersionChoice::Auto => (MqttVersion::V5, true),
            VersionChoice::Only(version) => (version, false),
        };
        let failover = Failover::new(options.url.clone());
        let patient_until = (options.url.len() > 1).then(|| Instant::now() + CLUSTER_PATIENCE);
        let session_subscribed = options.session_subscribed;
        Self {
            client: MqttClient::new(&options, failover.current(), version, tls.clone()),
            options,
            tls,
            subscriptions,
            announce,
            inbox,
            failover,
            first_failures: Vec::new(),
            patient_until,
            may_fall_back,
            has_will: false,
            will_dropped: false,
            will_tested: false,
            connected_before: false,
            connected_at: None,
            on_connect: Vec::new(),
            connection: 0,
            limits: ConnAckInfo::default(),
            subscribing: VecDeque::new(),
            awaiting_suback: HashMap::new(),
            session_subscribed,
            pending_connect: None,
            unmatched: VecDeque::new(),
            unmatched_at_drop: 0,
            awaiting_ack: HashMap::new(),
            backlog: VecDeque::new(),
            in_client: 0,
            ack_order: AckOrder::default(),
            pending_acks: VecDeque::new(),
            flood: 0,
            last_flood_drop: None,
            flood_reported: false,
        }
    }

    pub async fn run(
        mut self,
        mut outbound: mpsc::Receiver<Outbound>,
        mut control: mpsc::UnboundedReceiver<Control>,
    ) {
        self.prepare_attempt();
        let stop = loop {
            let flood_report = self
                .last_flood_drop
                .filter(|_| self.flood > 0 && !self.flood_reported)
                .map(|at| at + FLOOD_QUIET);
            tokio::select! {
                command = control.recv() => match command {
                    Some(Control::Ack(ack)) => self.acknowledge(ack),
                    Some(Control::Shutdown { done }) => break Stop::Graceful(Some(done)),
                    None => break Stop::Graceful(None),
                },
                // Taking no more while rumqttc's queue is at its budget is
                // what pushes back on a fast sender instead of dropping.
                next = outbound.recv(), if self.has_room() => {
                    if let Some(next) = next {
                        self.backlog.push_back(next);
                        self.flush_backlog();
                    }
                }
                () = sleep_until(flood_report) => self.report_flood(),
                event = self.client.poll() => match event {
                    Ok(event) => {
                        if let Err(()) = self.handle(event) {
                            break Stop::Refused;
                        }
                        self.flush_acks();
                        self.flush_backlog();
                    }
                    Err(failure) => {
                        if self.fall_back(&failure) || self.drop_will(&failure) {
                            continue;
                        }
                        let delay = self.on_failure(failure);
                        tokio::time::sleep(delay).await;
                        self.prepare_attempt();
                    }
                },
            }
        };
        match stop {
            Stop::Graceful(done) => {
                self.hand_over_before_stopping(&mut outbound).await;
                self.disconnect().await;
                if let Some(done) = done {
                    let _ = done.send(());
                }
            }
            Stop::Refused => {}
        }
        self.release_waiters(TransportError::Closed);
        self.inbox.close();
    }

    fn release_waiters(&mut self, error: TransportError) {
        let waiters = self
            .unmatched
            .drain(..)
            .chain(self.awaiting_ack.drain().map(|(_, w)| w))
            .chain(self.backlog.drain(..).map(|o| o.acked));
        for waiter in waiters.flatten() {
            let _ = waiter.send(Err(error.clone()));
        }
    }

    /// Whether another publish may be taken from the handle.
    fn has_room(&self) -> bool {
        self.backlog.is_empty() && self.in_client < CLIENT_QUEUE_BUDGET
    }

    /// Hands backlogged publishes to rumqttc, in order, while its request
    /// queue has room; a publish it cannot take waits here, never lost.
    fn flush_backlog(&mut self) {
        while self.in_client < CLIENT_QUEUE_BUDGET {
            let Some(Outbound { publication, acked }) = self.backlog.pop_front() else {
                return;
            };
            if let Some(refusal) = self.too_large(&publication) {
                self.refuse_publish(acked, refusal);
                continue;
            }
            match self.client.try_publish(publication) {
                Ok(()) => {
                    self.in_client += 1;
                    self.unmatched.push_back(acked);
                }
                Err(Full(publication)) => {
                    self.backlog.push_front(Outbound { publication, acked });
                    return;
                }
            }
        }
    }

    /// An MQTT 5 broker announces its packet limit; rumqttc would drop the
    /// connection on a publish above it, so it is refused here instead.
    fn too_large(&self, publication: &Publication) -> Option<String> {
        let limit = self.limits.max_packet_size? as usize;
        let size = publication.payload.len() + publication.topic.len() + 16;
        (size > limit).then(|| {
            format!(
                "the message is too large for the broker ({size} bytes; it accepts at most {limit})"
            )
        })
    }

    fn refuse_publish(&mut self, waiter: Option<Waiter>, refusal: String) {
        match waiter {
            Some(waiter) => {
                let _ = waiter.send(Err(TransportError::Refused(refusal)));
            }
            None => self.inbox.push(TransportEvent::Warning(format!(
                "a message was not sent: {refusal}"
            ))),
        }
    }

    fn acknowledge(&mut self, ack: Ack) {
        // Packet ids are per connection; an old one could acknowledge an
        // unrelated message. The broker sends the old one again instead.
        if ack.connection != self.connection || self.connected_at.is_none() {
            return;
        }
        if ack.qos == QoS::AtLeastOnce {
            self.pending_acks.extend(self.ack_order.done(ack.pkid));
            self.flush_acks();
        }
    }

    fn flush_acks(&mut self) {
        while let Some(&pkid) = self.pending_acks.front() {
            if !self.client.try_ack(pkid) {
                return;
            }
            self.pending_acks.pop_front();
        }
    }

    /// Deals with one event; `Err` when the broker refused something sotto
    /// cannot work without (the refusal is already in the inbox).
    fn handle(&mut self, event: WireEvent) -> Result<(), ()> {
        match event {
            WireEvent::ConnAck(info) => self.on_connack(info)?,
            WireEvent::SubAck { pkid, granted } => self.on_suback(pkid, granted)?,
            WireEvent::Publish(publish) => self.on_publish(publish),
            WireEvent::PubAck { pkid, refusal } => {
                if let Some(waiter) = self.awaiting_ack.remove(&pkid) {
                    match refusal {
                        None => {
                            if let Some(waiter) = waiter {
                                let _ = waiter.send(Ok(()));
                            }
                        }
                        Some(refusal) => self.refuse_publish(waiter, refusal),
                    }
                }
            }
            WireEvent::SentPublish(pkid) => {
                // A retransmission after reconnect reuses a known id and
                // comes from rumqttc's own store, not from its queue.
                if !self.awaiting_ack.contains_key(&pkid) {
                    self.in_client = self.in_client.saturating_sub(1);
                    if let Some(waiter) = self.unmatched.pop_front() {
                        self.awaiting_ack.insert(pkid, waiter);
                    }
                }
            }
            WireEvent::SentSubscribe(pkid) => {
                if let Some(index) = self.subscribing.pop_front() {
                    self.awaiting_suback.insert(pkid, index);
                }
            }
            WireEvent::SentDisconnect | WireEvent::Other => {}
        }
        Ok(())
    }

    fn on_connack(&mut self, info: ConnAckInfo) -> Result<(), ()> {
        self.may_fall_back = false;
        self.connected_at = Some(Instant::now());
        self.connection = next_connection_number();
        self.ack_order.clear();
        if info.max_qos == Some(0) {
            return self.refuse("the broker only allows QoS 0; sotto needs QoS 1");
        }
        if info.retain_available == Some(false) {
            self.inbox.push(TransportEvent::Warning(
                "the broker keeps no retained messages: who is online is known only from records sent while you are connected"
                    .into(),
            ));
        }
        if self.will_dropped && !self.connected_before {
            self.inbox.push(TransportEvent::Warning(
                "the broker refused sotto's last will; if sotto stops without saying goodbye, others keep seeing you online"
                    .into(),
            ));
        }
        let session_present = info.session_present;
        self.limits = info;
        let moved_from = self.failover.moved_from().cloned();
        self.failover.connected();
        if !session_present && self.connected_before && !self.options.clean_session {
            self.session_lost(moved_from);
        }
        self.unmatched_at_drop = 0;
        // A present session is trusted to hold the reliable subscriptions
        // only when they are known to have been granted to it.
        let trusted = session_present && self.session_subscribed;
        let needed: Vec<usize> = (self.subscriptions.iter().enumerate())
            .filter(|(_, s)| s.kind == SubscriptionKind::Live || !trusted)
            .map(|(i, _)| i)
            .collect();
        for index in needed {
            let subscription = &self.subscriptions[index];
            let qos = match subscription.kind {
                SubscriptionKind::Reliable => QoS::AtLeastOnce,
                SubscriptionKind::Live => QoS::AtMostOnce,
            };
            if self.client.try_subscribe(&subscription.filter, qos) {
                self.subscribing.push_back(index);
            }
        }
        // With a trusted session, every reliable subscription is already
        // in place: messages can arrive now (the broker sends what it
        // queued at once), and only live ones are being made again. A
        // refusal of those still stops everything when its SUBACK comes.
        if self.subscribing.is_empty() || trusted {
            self.report_connected(session_present);
        } else {
            self.pending_connect = Some(session_present);
        }
        Ok(())
    }

    fn on_suback(&mut self, pkid: u16, granted: Result<QoS, String>) -> Result<(), ()> {
        let Some(index) = self.awaiting_suback.remove(&pkid) else {
            return Ok(());
        };
        let kind = self.subscriptions[index].kind;
        match granted {
            Err(refusal) => return self.refuse(&refusal),
            Ok(QoS::AtMostOnce) if kind == SubscriptionKind::Reliable => {
                return self.refuse("the broker only allows QoS 0; sotto needs QoS 1");
            }
            Ok(_) => {}
        }
        if self.awaiting_suback.is_empty()
            && self.subscribing.is_empty()
            && let Some(session_present) = self.pending_connect.take()
        {
            self.report_connected(session_present);
        }
        Ok(())
    }

    fn refuse(&mut self, refusal: &str) -> Result<(), ()> {
        self.inbox.push(TransportEvent::Refused {
            reason: refusal.to_owned(),
        });
        Err(())
    }

    fn report_connected(&mut self, session_present: bool) {
        self.session_subscribed = true;
        // "online" goes out only now: a connection the broker refuses
        // something on must not leave a retained "online" behind.
        for publication in std::mem::take(&mut self.on_connect) {
            self.backlog.push_back(Outbound {
                publication,
                acked: None,
            });
        }
        let reconnect = std::mem::replace(&mut self.connected_before, true);
        self.inbox.push(TransportEvent::Connected {
            session_present,
            reconnect,
            version: self.client.version(),
            node: self.failover.current().clone(),
        });
    }

    fn on_publish(&mut self, publish: IncomingPublish) {
        let ack = Ack {
            connection: self.connection,
            pkid: publish.pkid,
            qos: publish.qos,
        };
        if publish.qos == QoS::AtLeastOnce {
            self.ack_order.received(publish.pkid);
        }
        let payload = match publish.payload {
            Ok(payload) => payload,
            Err(bytes) => {
                // Only MQTT 3.1.1 lets one through (MQTT 5 brokers discard
                // them for us). Acknowledged, so it is not sent again, and
                // dropped before it costs more memory.
                self.acknowledge(ack);
                self.inbox.push(TransportEvent::Discarded { bytes });
                return;
            }
        };
        let reliable = self
            .subscriptions
            .iter()
            .any(|s| s.kind == SubscriptionKind::Reliable && s.filter == publish.topic);
        let event = TransportEvent::Message {
            topic: publish.topic,
            payload,
            retained: publish.retain,
            duplicate: publish.dup,
            ack,
        };
        match publish.qos {
            QoS::AtMostOnce if reliable => {
                // Members always publish with QoS 1; QoS 0 here is a flood
                // or a bridge that downgrades, and costs nothing to drop.
                self.flood += 1;
                self.last_flood_drop = Some(Instant::now());
            }
            QoS::AtMostOnce => {
                self.inbox.push_droppable(event);
            }
            _ => {
                // A real message after a flood: say how big the flood was
                // first, even if it is not over (the reader may stop soon).
                if self.flood > 0 && !self.flood_reported {
                    self.report_flood();
                }
                self.inbox.push(event);
            }
        }
    }

    fn report_flood(&mut self) {
        self.flood_reported = true;
        self.inbox
            .push(TransportEvent::Unacknowledged { count: self.flood });
    }

    /// Hands rumqttc what the handle queued before it asked to stop:
    /// publishes and the stop travel on different channels, and the stop
    /// may be taken first. A publish followed by a shutdown (a commit,
    /// then the end of its session) then goes out before the DISCONNECT.
    async fn hand_over_before_stopping(&mut self, outbound: &mut mpsc::Receiver<Outbound>) {
        while let Ok(next) = outbound.try_recv() {
            self.backlog.push_back(next);
        }
        self.flush_backlog();
        if self.connected_at.is_none() {
            return;
        }
        let drain = async {
            while !self.backlog.is_empty() {
                match self.client.poll().await {
                    Ok(event) => {
                        if self.handle(event).is_err() {
                            return;
                        }
                        self.flush_backlog();
                    }
                    Err(_) => return,
                }
            }
        };
        let _ = tokio::time::timeout(Duration::from_secs(2), drain).await;
    }

    async fn disconnect(&mut self) {
        if self.connected_at.is_none() || !self.client.try_disconnect() {
            return;
        }
        // Let the event loop write the DISCONNECT packet (and whatever was
        // queued before it).
        let flush = async {
            loop {
                match self.client.poll().await {
                    Ok(WireEvent::SentDisconnect) | Err(_) => return,
                    Ok(_) => {}
                }
            }
        };
        let _ = tokio::time::timeout(Duration::from_secs(2), flush).await;
    }
}

async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// Numbers every connection of every transport of this process: an ack
/// carries its connection's number, so one handed to another transport
/// (a message taken before a session moved to a new epoch, acknowledged
/// after) is dropped there instead of acknowledging whatever that
/// connection gave the same packet id. Some brokers (rumqttd) close a
/// connection on an acknowledgement they did not ask for.
fn next_connection_number() -> u64 {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
    NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
}
