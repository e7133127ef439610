//! The MQTT connection: bytes in, bytes out. Knows nothing about rooms or
//! cryptography.
//!
//! One tokio task owns rumqttc's `EventLoop` and keeps polling it; the rest
//! of the program talks to that task through a [`Transport`] handle. The
//! task works around rumqttc's known traps:
//!
//! - `poll()` reconnects in a tight loop: we sleep with exponential backoff.
//! - Subscriptions are lost when the broker has no session for us: we
//!   subscribe again on every ConnAck without `session_present`.
//! - Awaiting `publish` inside the polling task can deadlock on the bounded
//!   request channel: the task only uses `try_*` calls.
//! - The default 10 KiB packet limit is below our envelope limit: raised.
//!
//! Incoming publishes are acknowledged only when the caller says it has
//! dealt with them ([`Transport::ack`]): rumqttc's automatic acks would tell
//! the broker a message was delivered while it still sat unread in our
//! queue, and a client exiting then (say `listen --count 1`) would lose it.
//!
//! rumqttc has no per-publish acknowledgement handle, so the task pairs
//! each publish with the packet id rumqttc reports when sending it (they
//! go out in request order) and resolves the caller on the PUBACK.

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::io;
use std::str::FromStr;
use std::time::Duration;

use rumqttc::{
    AsyncClient, ClientError, ConnectionError, Event, EventLoop, Incoming, LastWill, MqttOptions,
    Outgoing, Publish, QoS, Request, SubscribeFilter,
};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use crate::protocol::wire::MAX_ENVELOPE_LEN;

/// Largest MQTT packet we send: one envelope plus topic and framing.
pub const MAX_OUTGOING_PACKET_LEN: usize = MAX_ENVELOPE_LEN + 4096;

/// Largest MQTT packet we accept. Far above the envelope limit on purpose:
/// rumqttc drops the connection on an oversized packet, and the broker
/// would then redeliver the same unacknowledged QoS 1 publish after every
/// reconnect, forever. Accepting it lets the room refuse it as "too large"
/// with a warning and acknowledge it. (Brokers should also cap message
/// sizes: Mosquitto's `message_size_limit`.)
pub const MAX_INCOMING_PACKET_LEN: usize = 16 * 1024 * 1024;

const REQUEST_CAPACITY: usize = 1024;
/// How many of rumqttc's request slots publishes may fill: the rest stay
/// free for the subscription after a reconnect and for acknowledgements,
/// which would otherwise fail behind a burst of outgoing messages.
const CLIENT_QUEUE_BUDGET: usize = REQUEST_CAPACITY / 2;
const FIRST_BACKOFF: Duration = Duration::from_millis(200);
const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// Where the broker is: `mqtt://host:port` or `mqtts://host:port`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrokerUrl {
    /// Host name or address.
    pub host: String,
    /// TCP port.
    pub port: u16,
    /// Whether to use TLS (`mqtts://`).
    pub tls: bool,
}

impl fmt::Display for BrokerUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let scheme = if self.tls { "mqtts" } else { "mqtt" };
        write!(f, "{scheme}://{}:{}", self.host, self.port)
    }
}

/// Why a broker URL was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not a broker address; use mqtt://HOST:PORT or mqtts://HOST:PORT")]
pub struct BadBrokerUrl(pub String);

impl FromStr for BrokerUrl {
    type Err = BadBrokerUrl;

    fn from_str(text: &str) -> Result<Self, BadBrokerUrl> {
        let bad = || BadBrokerUrl(text.to_owned());
        let (tls, rest) = if let Some(rest) = text.strip_prefix("mqtts://") {
            (true, rest)
        } else if let Some(rest) = text.strip_prefix("mqtt://") {
            (false, rest)
        } else {
            return Err(bad());
        };
        let rest = rest.trim_end_matches('/');
        let default_port = if tls { 8883 } else { 1883 };
        let (host, port) = match rest.rsplit_once(':') {
            // A bracketed IPv6 literal without a port has a ':' inside.
            Some((host, port)) if !port.contains(']') => {
                (host, port.parse::<u16>().map_err(|_| bad())?)
            }
            _ => (rest, default_port),
        };
        let host = host.trim_start_matches('[').trim_end_matches(']');
        if host.is_empty() || host.contains('/') || port == 0 {
            return Err(bad());
        }
        Ok(Self {
            host: host.to_owned(),
            port,
            tls,
        })
    }
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
    /// The broker.
    pub url: BrokerUrl,
    /// MQTT client id. Stable ids with `clean_session = false` let the
    /// broker queue messages while we are away.
    pub client_id: String,
    /// Whether the broker should forget us on disconnect.
    pub clean_session: bool,
    /// Username and password, if the broker wants them.
    pub credentials: Option<(String, String)>,
    /// MQTT keep-alive interval.
    pub keep_alive: Duration,
    /// Extra CA certificates (PEM) to trust for `mqtts://`, besides the
    /// system's.
    pub ca_file: Option<std::path::PathBuf>,
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
    },
    /// The connection failed or dropped; the task keeps retrying.
    Disconnected {
        /// A short description for the user.
        reason: String,
        /// What the user could do about it.
        advice: &'static str,
    },
    /// A publish arrived on a subscribed topic. Pass `ack` to
    /// [`Transport::ack`] once it has been dealt with, or the broker sends
    /// it again on the next connection.
    Message {
        /// Its topic.
        topic: String,
        /// Its payload (untrusted bytes).
        payload: Vec<u8>,
        /// Whether it was a retained message.
        retained: bool,
        /// Whether the broker says it may have delivered this before.
        duplicate: bool,
        /// The acknowledgement to send when done.
        ack: Ack,
    },
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
    /// The transport task has stopped.
    #[error("the connection to the broker is closed")]
    Closed,
    /// TLS could not be set up.
    #[error("cannot set up TLS: {0}")]
    Tls(String),
}

/// A publish on its way to the broker, with whoever waits for its PUBACK.
struct Outbound {
    publication: Publication,
    acked: Option<oneshot::Sender<()>>,
}

/// Everything else the handle asks of the task. On a channel of its own,
/// so acknowledgements and shutdown never wait behind a backlog of
/// publishes.
enum Control {
    Ack(Ack),
    Shutdown { done: oneshot::Sender<()> },
}

/// A handle on the connection task.
pub struct Transport {
    outbound: mpsc::Sender<Outbound>,
    control: mpsc::Sender<Control>,
    events: mpsc::Receiver<TransportEvent>,
    task: JoinHandle<()>,
    url: BrokerUrl,
}

impl Transport {
    /// Starts the connection task (call inside a tokio runtime). It
    /// connects in the background; use [`Transport::wait_connected`] to
    /// know whether it worked.
    ///
    /// `announce` is called before every connection attempt.
    pub fn start(
        options: ConnectOptions,
        subscriptions: Vec<String>,
        announce: impl FnMut() -> Announcement + Send + 'static,
    ) -> Result<Self, TransportError> {
        let mut mqtt = MqttOptions::new(
            options.client_id.clone(),
            options.url.host.clone(),
            options.url.port,
        );
        mqtt.set_keep_alive(options.keep_alive)
            .set_clean_session(options.clean_session)
            .set_max_packet_size(MAX_INCOMING_PACKET_LEN, MAX_OUTGOING_PACKET_LEN)
            .set_manual_acks(true)
            .set_inflight(64);
        if let Some((user, password)) = &options.credentials {
            mqtt.set_credentials(user.clone(), password.clone());
        }
        if options.url.tls {
            mqtt.set_transport(crate::tls::transport(options.ca_file.as_deref())?);
        }
        let (client, eventloop) = AsyncClient::new(mqtt, REQUEST_CAPACITY);
        let (outbound_tx, outbound_rx) = mpsc::channel(256);
        let (control_tx, control_rx) = mpsc::channel(256);
        let (event_tx, event_rx) = mpsc::channel(1024);
        let driver = Driver {
            client,
            eventloop,
            subscriptions,
            announce: Box::new(announce),
            events: event_tx,
            unmatched: VecDeque::new(),
            awaiting_ack: HashMap::new(),
            connected_before: false,
            connected: false,
            on_connect: Vec::new(),
            awaiting_suback: None,
            connection: 0,
            tls: options.url.tls,
            backlog: VecDeque::new(),
            in_client: 0,
        };
        Ok(Self {
            outbound: outbound_tx,
            control: control_tx,
            events: event_rx,
            task: tokio::spawn(driver.run(outbound_rx, control_rx)),
            url: options.url,
        })
    }

    /// Waits for the first successful connection. A failure of the first
    /// attempt is reported at once rather than retried, so a wrong address
    /// is one clear error instead of a hang.
    pub async fn wait_connected(&mut self, timeout: Duration) -> Result<bool, TransportError> {
        let wait = async {
            loop {
                match self.events.recv().await {
                    Some(TransportEvent::Connected {
                        session_present, ..
                    }) => return Ok(session_present),
                    Some(TransportEvent::Disconnected { reason, advice }) => {
                        return Err(TransportError::Unreachable {
                            url: self.url.to_string(),
                            reason,
                            advice,
                        });
                    }
                    // Nothing arrives before the first connect.
                    Some(TransportEvent::Message { .. }) => {}
                    None => return Err(TransportError::Closed),
                }
            }
        };
        tokio::time::timeout(timeout, wait)
            .await
            .map_err(|_| TransportError::Timeout(timeout.as_secs()))?
    }

    /// Queues a publish and returns at once.
    pub async fn publish(&self, publication: Publication) -> Result<(), TransportError> {
        self.outbound
            .send(Outbound {
                publication,
                acked: None,
            })
            .await
            .map_err(|_| TransportError::Closed)
    }

    /// Publishes and waits for the broker's PUBACK.
    pub async fn publish_acked(
        &self,
        publication: Publication,
        timeout: Duration,
    ) -> Result<(), TransportError> {
        let (tx, rx) = oneshot::channel();
        self.outbound
            .send(Outbound {
                publication,
                acked: Some(tx),
            })
            .await
            .map_err(|_| TransportError::Closed)?;
        match tokio::time::timeout(timeout, rx).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(_)) => Err(TransportError::NotAcknowledged),
            Err(_) => Err(TransportError::Timeout(timeout.as_secs())),
        }
    }

    /// Acknowledges an incoming publish (see [`TransportEvent::Message`]).
    pub async fn ack(&self, ack: Ack) -> Result<(), TransportError> {
        self.control
            .send(Control::Ack(ack))
            .await
            .map_err(|_| TransportError::Closed)
    }

    /// The next event, or `None` once the task has stopped.
    pub async fn next_event(&mut self) -> Option<TransportEvent> {
        self.events.recv().await
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
        if self
            .control
            .send(Control::Shutdown { done: tx })
            .await
            .is_ok()
        {
            let _ = tokio::time::timeout(Duration::from_secs(2), rx).await;
        }
        self.events.close();
        self.task.abort();
        let _ = (&mut self.task).await;
    }
}

struct Driver {
    client: AsyncClient,
    eventloop: EventLoop,
    subscriptions: Vec<String>,
    announce: Box<dyn FnMut() -> Announcement + Send>,
    events: mpsc::Sender<TransportEvent>,
    /// Waiters for publishes handed to rumqttc but not yet given a packet id.
    unmatched: VecDeque<Option<oneshot::Sender<()>>>,
    /// Waiters by packet id, until the PUBACK.
    awaiting_ack: HashMap<u16, Option<oneshot::Sender<()>>>,
    connected_before: bool,
    connected: bool,
    on_connect: Vec<Publication>,
    /// Set between a ConnAck that needed a new subscription and its SubAck:
    /// "connected" is reported only once messages can actually arrive.
    awaiting_suback: Option<bool>,
    /// Counts connections, to drop acks owed to an earlier one.
    connection: u64,
    /// Whether this is an mqtts:// connection (for error advice).
    tls: bool,
    /// Publishes taken from the handle but not yet accepted by rumqttc.
    backlog: VecDeque<Outbound>,
    /// Publishes in rumqttc's request queue (handed over, not yet sent).
    in_client: usize,
}

impl Driver {
    async fn run(
        mut self,
        mut outbound: mpsc::Receiver<Outbound>,
        mut control: mpsc::Receiver<Control>,
    ) {
        let mut backoff = FIRST_BACKOFF;
        self.prepare_attempt();
        loop {
            tokio::select! {
                command = control.recv() => match command {
                    Some(Control::Ack(ack)) => self.acknowledge(ack),
                    Some(Control::Shutdown { done }) => {
                        self.disconnect().await;
                        let _ = done.send(());
                        return;
                    }
                    None => {
                        self.disconnect().await;
                        return;
                    }
                },
                // Taking no more while rumqttc's queue is at its budget is
                // what pushes back on a fast sender instead of dropping.
                next = outbound.recv(), if self.has_room() => {
                    if let Some(next) = next {
                        self.backlog.push_back(next);
                        self.flush_backlog();
                    }
                }
                event = self.eventloop.poll() => match event {
                    Ok(event) => {
                        backoff = FIRST_BACKOFF;
                        if !self.handle(event).await {
                            return;
                        }
                        self.flush_backlog();
                    }
                    Err(err) => {
                        let was_connected = std::mem::replace(&mut self.connected, false);
                        // Report an outage once, not every retry.
                        if was_connected || !self.connected_before {
                            let (reason, advice) = describe(&err, self.tls);
                            let event = TransportEvent::Disconnected { reason, advice };
                            if self.events.send(event).await.is_err() {
                                return;
                            }
                        }
                        // Waiters whose publish may never be acknowledged
                        // (a clean session drops it) are released as failed.
                        self.unmatched.clear();
                        tokio::time::sleep(backoff).await;
                        backoff = (backoff * 2).min(MAX_BACKOFF);
                        self.prepare_attempt();
                    }
                },
            }
        }
    }

    /// Fresh last will and connect-time publishes for the next attempt.
    fn prepare_attempt(&mut self) {
        let announcement = (self.announce)();
        let will = announcement
            .will
            .map(|p| LastWill::new(p.topic, p.payload, QoS::AtLeastOnce, p.retain));
        if let Some(will) = will {
            self.eventloop.mqtt_options.set_last_will(will);
        }
        self.on_connect = announcement.on_connect;
    }

    fn enqueue(&mut self, publication: Publication, acked: Option<oneshot::Sender<()>>) {
        self.backlog.push_back(Outbound { publication, acked });
        self.flush_backlog();
    }

    /// Whether another publish may be taken from the handle.
    fn has_room(&self) -> bool {
        self.backlog.is_empty() && self.in_client < CLIENT_QUEUE_BUDGET
    }

    /// Hands backlogged publishes to rumqttc, in order, while its request
    /// queue has room. `try_publish` fails when the queue is full; the
    /// publish then waits here instead of being lost.
    fn flush_backlog(&mut self) {
        while self.in_client < CLIENT_QUEUE_BUDGET {
            let Some(Outbound { publication, acked }) = self.backlog.pop_front() else {
                return;
            };
            let sent = self.client.try_publish(
                publication.topic,
                QoS::AtLeastOnce,
                publication.retain,
                publication.payload,
            );
            match sent {
                Ok(()) => {
                    self.in_client += 1;
                    self.unmatched.push_back(acked);
                }
                Err(ClientError::TryRequest(Request::Publish(publish))) => {
                    let publication = Publication {
                        topic: publish.topic,
                        payload: publish.payload.to_vec(),
                        retain: publish.retain,
                    };
                    self.backlog.push_front(Outbound { publication, acked });
                    return;
                }
                // Only publishes are sent here; dropping `acked` tells the
                // caller if anything else ever happens.
                Err(_) => {}
            }
        }
    }

    fn acknowledge(&mut self, ack: Ack) {
        if ack.connection != self.connection || !self.connected {
            // The broker will send it again on this connection.
            return;
        }
        let mut publish = Publish::new("", ack.qos, Vec::new());
        publish.pkid = ack.pkid;
        // If the request channel is full the ack is lost and the broker
        // redelivers the message, which the replay window then absorbs.
        let _ = self.client.try_ack(&publish);
    }

    /// Returns false when the event consumer has gone away.
    async fn handle(&mut self, event: Event) -> bool {
        match event {
            Event::Incoming(Incoming::ConnAck(ack)) => {
                self.connected = true;
                self.connection += 1;
                for publication in std::mem::take(&mut self.on_connect) {
                    self.enqueue(publication, None);
                }
                if !ack.session_present && !self.subscriptions.is_empty() {
                    let filters = self
                        .subscriptions
                        .iter()
                        .map(|topic| SubscribeFilter::new(topic.clone(), QoS::AtLeastOnce));
                    if self.client.try_subscribe_many(filters).is_ok() {
                        self.awaiting_suback = Some(false);
                        return true;
                    }
                }
                self.report_connected(ack.session_present).await
            }
            Event::Incoming(Incoming::SubAck(_)) => match self.awaiting_suback.take() {
                Some(session_present) => self.report_connected(session_present).await,
                None => true,
            },
            Event::Incoming(Incoming::Publish(publish)) => {
                let ack = Ack {
                    connection: self.connection,
                    pkid: publish.pkid,
                    qos: publish.qos,
                };
                self.events
                    .send(TransportEvent::Message {
                        topic: publish.topic,
                        payload: publish.payload.to_vec(),
                        retained: publish.retain,
                        duplicate: publish.dup,
                        ack,
                    })
                    .await
                    .is_ok()
            }
            Event::Incoming(Incoming::PubAck(ack)) => {
                if let Some(Some(waiter)) = self.awaiting_ack.remove(&ack.pkid) {
                    let _ = waiter.send(());
                }
                true
            }
            Event::Outgoing(Outgoing::Publish(pkid)) => {
                // A retransmission after reconnect reuses a known id and
                // comes from rumqttc's own store, not from its queue.
                if !self.awaiting_ack.contains_key(&pkid) {
                    self.in_client = self.in_client.saturating_sub(1);
                    if let Some(waiter) = self.unmatched.pop_front() {
                        self.awaiting_ack.insert(pkid, waiter);
                    }
                }
                true
            }
            _ => true,
        }
    }

    async fn report_connected(&mut self, session_present: bool) -> bool {
        let reconnect = std::mem::replace(&mut self.connected_before, true);
        self.events
            .send(TransportEvent::Connected {
                session_present,
                reconnect,
            })
            .await
            .is_ok()
    }

    async fn disconnect(&mut self) {
        if self.client.try_disconnect().is_err() {
            return;
        }
        // Let the event loop write the DISCONNECT packet.
        let flush = async {
            loop {
                match self.eventloop.poll().await {
                    Ok(Event::Outgoing(Outgoing::Disconnect)) | Err(_) => return,
                    Ok(_) => {}
                }
            }
        };
        let _ = tokio::time::timeout(Duration::from_secs(2), flush).await;
    }
}

const CHECK_BROKER: &str = "check --broker";
const START_A_BROKER: &str =
    "is a broker running there? (`sotto broker` runs one for trying sotto out)";
const TRUST_ITS_CA: &str = "set SOTTO_CA_FILE to the broker's CA certificate (PEM)";

/// What went wrong with a connection, in a few words, and what the user
/// could do about it. rumqttc nests the interesting error (an I/O error
/// kind, a rustls certificate verdict) a few layers down.
fn describe(err: &ConnectionError, tls: bool) -> (String, &'static str) {
    if let ConnectionError::ConnectionRefused(code) = err {
        return (
            format!("the broker refused the connection: {code:?}"),
            "check --username and SOTTO_PASSWORD",
        );
    }
    if let ConnectionError::NetworkTimeout = err {
        return ("timed out".into(), "check --broker and the network");
    }
    if let Some(tls_error) = find_rustls_error(err) {
        return describe_tls(tls_error);
    }
    let Some(io) = find_io_error(err) else {
        return (err.to_string(), CHECK_BROKER);
    };
    match io.kind() {
        io::ErrorKind::ConnectionRefused => ("connection refused".into(), START_A_BROKER),
        io::ErrorKind::ConnectionReset | io::ErrorKind::UnexpectedEof if tls => (
            "the broker closed the connection during the TLS handshake".into(),
            "is that port a TLS listener? use mqtt:// for a plain one",
        ),
        io::ErrorKind::ConnectionReset | io::ErrorKind::UnexpectedEof => (
            "the broker closed the connection".into(),
            "if that port expects TLS, use mqtts://",
        ),
        _ => (io.to_string(), CHECK_BROKER),
    }
}

fn describe_tls(err: &rustls::Error) -> (String, &'static str) {
    use rustls::CertificateError;
    match err {
        rustls::Error::InvalidCertificate(CertificateError::UnknownIssuer) => (
            "its TLS certificate is not signed by a CA sotto trusts".into(),
            TRUST_ITS_CA,
        ),
        rustls::Error::InvalidCertificate(
            CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
        ) => (
            "its TLS certificate is for another host name".into(),
            "use the host name the certificate names in --broker",
        ),
        rustls::Error::InvalidCertificate(other) => (
            format!("its TLS certificate was refused: {other:?}"),
            TRUST_ITS_CA,
        ),
        other => (
            format!("TLS failed: {other}"),
            "is that port a TLS listener?",
        ),
    }
}

/// The rustls error behind a connection error, if any.
fn find_rustls_error(err: &ConnectionError) -> Option<&rustls::Error> {
    match err {
        ConnectionError::Tls(rumqttc::TlsError::TLS(tls)) => Some(tls),
        ConnectionError::Tls(rumqttc::TlsError::Io(io)) => {
            // tokio-rustls wraps the verdict in an io::Error; its payload is
            // reached with get_ref (source() would skip it).
            io.get_ref()?.downcast_ref::<rustls::Error>()
        }
        _ => None,
    }
}

/// The first I/O error in the chain of causes.
fn find_io_error(err: &ConnectionError) -> Option<&io::Error> {
    let mut current: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(error) = current {
        if let Some(io) = error.downcast_ref::<io::Error>() {
            return Some(io);
        }
        current = error.source();
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn broker_urls_parse_with_default_ports() {
        let url: BrokerUrl = "mqtt://127.0.0.1:1884".parse().unwrap();
        assert_eq!(
            (url.host.as_str(), url.port, url.tls),
            ("127.0.0.1", 1884, false)
        );
        let url: BrokerUrl = "mqtts://broker.example".parse().unwrap();
        assert_eq!((url.port, url.tls), (8883, true));
        let url: BrokerUrl = "mqtt://[::1]:1999".parse().unwrap();
        assert_eq!((url.host.as_str(), url.port), ("::1", 1999));
        assert_eq!(url.to_string(), "mqtt://::1:1999");
        for bad in [
            "http://x",
            "mqtt://",
            "mqtt://host:notaport",
            "mqtt://host:0",
            "host:1883",
        ] {
            assert!(bad.parse::<BrokerUrl>().is_err(), "{bad}");
        }
    }
}
