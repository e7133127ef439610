//! One face over rumqttc's two clients, MQTT 3.1.1 (`rumqttc`) and MQTT 5
//! (`rumqttc::v5`): the driver speaks to [`MqttClient`] and sees the same
//! [`WireEvent`]s and [`Failure`]s whichever version the broker took.

use std::future::Future;
use std::io;
use std::pin::Pin;

use rumqttc::v5::mqttbytes::v5 as v5bytes;
use rumqttc::{Outgoing, QoS};

use super::describe::{self, Failure};
use super::{BrokerUrl, ConnectOptions, MqttVersion, Publication};

/// Largest packet MQTT can frame (the remaining length is at most
/// 268,435,455 bytes, plus up to 5 bytes of fixed header). On 3.1.1 we
/// accept anything up to it: an unread packet cannot be skipped, and
/// refusing it would drop the connection, after which the broker sends the
/// same packet again, forever.
const MQTT_MAX_PACKET_LEN: usize = 268_435_455 + 5;

/// The largest packet we ask an MQTT 5 broker to send us: one envelope
/// plus the topic and framing. The broker discards anything larger for
/// this client (MQTT 5, 3.1.2.11.4), so a poison packet never reaches us.
pub const V5_MAX_INCOMING_PACKET_LEN: u32 = (crate::protocol::wire::MAX_ENVELOPE_LEN + 4096) as u32;

/// How many unacknowledged QoS 1 publishes an MQTT 5 broker may have in
/// flight to us: the bound on what waits in the inbox.
const RECEIVE_MAXIMUM: u16 = 256;

/// How long an MQTT 5 broker keeps a persistent session while we are away
/// (30 days): queued messages survive a holiday, and an abandoned home's
/// session does not queue forever.
const SESSION_EXPIRY_SECS: u32 = 30 * 24 * 3600;

/// Size of rumqttc's request queue (publishes, acks, subscribes).
pub const REQUEST_CAPACITY: usize = 1024;

/// What happened on the connection, in version-neutral terms.
#[derive(Debug)]
pub enum WireEvent {
    /// The broker accepted the connection.
    ConnAck(ConnAckInfo),
    /// A publish arrived.
    Publish(IncomingPublish),
    /// The broker acknowledged one of our publishes; `refusal` is set when
    /// an MQTT 5 broker said no.
    PubAck {
        /// Packet id.
        pkid: u16,
        /// The broker's reason for refusing, as a sentence.
        refusal: Option<String>,
    },
    /// The broker answered a SUBSCRIBE (always one filter).
    SubAck {
        /// Packet id.
        pkid: u16,
        /// The granted QoS, or the broker's reason for refusing.
        granted: Result<QoS, String>,
    },
    /// rumqttc wrote a publish with this packet id.
    SentPublish(u16),
    /// rumqttc wrote a subscribe with this packet id.
    SentSubscribe(u16),
    /// rumqttc wrote a DISCONNECT.
    SentDisconnect,
    /// Anything else (pings, acks we sent).
    Other,
}

/// What a CONNACK told us.
#[derive(Debug, Clone, Default)]
pub struct ConnAckInfo {
    /// Whether the broker still had our session.
    pub session_present: bool,
    /// MQTT 5: the highest QoS the broker allows.
    pub max_qos: Option<u8>,
    /// MQTT 5: whether the broker keeps retained messages.
    pub retain_available: Option<bool>,
    /// MQTT 5: the largest packet the broker accepts from us.
    pub max_packet_size: Option<u32>,
}

/// A publish from the broker.
#[derive(Debug)]
pub struct IncomingPublish {
    /// Its topic (lossily decoded: topics we route are ASCII).
    pub topic: String,
    /// Its payload, or its size when it is larger than any envelope (then
    /// it is not even copied).
    pub payload: Result<Vec<u8>, usize>,
    /// Delivery QoS.
    pub qos: QoS,
    /// Retained flag.
    pub retain: bool,
    /// Duplicate flag.
    pub dup: bool,
    /// Packet id (0 for QoS 0).
    pub pkid: u16,
}

/// A publish rumqttc's queue had no room for, handed back.
pub struct Full(pub Publication);

/// rumqttc's request handle and event loop for one protocol version.
///
/// rumqttc's `EventLoop::poll` is not cancel-safe: dropped while it waits
/// for a CONNACK it closes a connection the broker has just accepted (the
/// next CONNACK then reports a session that only that attempt made), and
/// dropped in the middle of a write it leaves half a packet. The driver
/// polls inside a `select!`, so a poll under way is kept here and the
/// next call resumes it instead of starting another.
pub struct MqttClient {
    requests: Requests,
    /// The event loop, when no poll holds it.
    idle: Option<EventLoop>,
    /// The poll under way, which owns the event loop until it ends.
    polling: Option<Polling>,
}

enum Requests {
    V311(rumqttc::AsyncClient),
    V5(rumqttc::v5::AsyncClient),
}

enum EventLoop {
    V311(Box<rumqttc::EventLoop>),
    V5(Box<rumqttc::v5::EventLoop>),
}

type Polling = Pin<Box<dyn Future<Output = (EventLoop, Result<WireEvent, Failure>)> + Send>>;

impl EventLoop {
    /// One poll, handing the event loop back with its outcome.
    async fn next(mut self) -> (Self, Result<WireEvent, Failure>) {
        let outcome = match &mut self {
            Self::V311(eventloop) => match eventloop.poll().await {
                Ok(event) => Ok(from_v311(event)),
                Err(err) => Err(describe::v311_failure(&err)),
            },
            Self::V5(eventloop) => match eventloop.poll().await {
                Ok(event) => Ok(from_v5(event)),
                Err(err) => Err(describe::v5_failure(&err)),
            },
        };
        (self, outcome)
    }
}

impl MqttClient {
    /// A client for `version` on `node`, not yet connected. `transport`
    /// is used only when the node wants TLS.
    pub fn new(
        options: &ConnectOptions,
        node: &BrokerUrl,
        version: MqttVersion,
        transport: Option<rumqttc::Transport>,
    ) -> Self {
        let (requests, events) = match version {
            MqttVersion::V311 => {
                let mqtt = v311_options(options, node, transport);
                let (client, mut eventloop) = rumqttc::AsyncClient::new(mqtt, REQUEST_CAPACITY);
                eventloop.set_network_options(no_delay());
                (Requests::V311(client), EventLoop::V311(Box::new(eventloop)))
            }
            MqttVersion::V5 => {
                let mqtt = v5_options(options, node, transport);
                let (client, eventloop) = rumqttc::v5::AsyncClient::new(mqtt, REQUEST_CAPACITY);
                (Requests::V5(client), EventLoop::V5(Box::new(eventloop)))
            }
        };
        Self {
            requests,
            idle: Some(events),
            polling: None,
        }
    }

    /// Points the next connection attempt at another node. The event loop
    /// and its session state stay: publishes not yet acknowledged are sent
    /// again there when the node holds our session (a cluster does). Call
    /// between attempts only (after a poll returned a failure), and set
    /// the last will again afterwards.
    pub fn retarget(
        &mut self,
        options: &ConnectOptions,
        node: &BrokerUrl,
        transport: Option<rumqttc::Transport>,
    ) {
        match &mut self.idle {
            Some(EventLoop::V311(eventloop)) => {
                eventloop.mqtt_options = v311_options(options, node, transport);
            }
            Some(EventLoop::V5(eventloop)) => {
                eventloop.options = v5_options(options, node, transport);
            }
            None => {}
        }
    }

    /// The protocol version this client speaks.
    pub fn version(&self) -> MqttVersion {
        match self.requests {
            Requests::V311(_) => MqttVersion::V311,
            Requests::V5(_) => MqttVersion::V5,
        }
    }

    /// Sets the last will for the next connection attempt (between
    /// attempts only, like [`MqttClient::retarget`]).
    pub fn set_will(&mut self, will: &Publication) {
        match &mut self.idle {
            Some(EventLoop::V311(eventloop)) => {
                eventloop.mqtt_options.set_last_will(rumqttc::LastWill::new(
                    will.topic.clone(),
                    will.payload.clone(),
                    QoS::AtLeastOnce,
                    will.retain,
                ));
            }
            Some(EventLoop::V5(eventloop)) => {
                eventloop
                    .options
                    .set_last_will(rumqttc::v5::mqttbytes::v5::LastWill::new(
                        will.topic.clone(),
                        will.payload.clone(),
                        rumqttc::v5::mqttbytes::QoS::AtLeastOnce,
                        will.retain,
                        None,
                    ));
            }
            None => {}
        }
    }

    /// The next event, or why the connection failed. rumqttc reconnects
    /// on the call after a failure. Cancel-safe: a call dropped before it
    /// finished is resumed by the next one.
    pub async fn poll(&mut self) -> Result<WireEvent, Failure> {
        if self.polling.is_none()
            && let Some(events) = self.idle.take()
        {
            self.polling = Some(Box::pin(events.next()));
        }
        // One of the two always holds the event loop.
        let Some(polling) = self.polling.as_mut() else {
            return std::future::pending().await;
        };
        let (events, outcome) = polling.await;
        self.polling = None;
        self.idle = Some(events);
        outcome
    }

    /// Queues a QoS 1 publish; hands it back when the queue is full.
    pub fn try_publish(&self, publication: Publication) -> Result<(), Full> {
        let Publication {
            topic,
            payload,
            retain,
        } = publication;
        match &self.requests {
            Requests::V311(client) => {
                match client.try_publish(topic, QoS::AtLeastOnce, retain, payload) {
                    Ok(()) => Ok(()),
                    Err(rumqttc::ClientError::TryRequest(rumqttc::Request::Publish(publish))) => {
                        Err(Full(Publication {
                            topic: publish.topic,
                            payload: publish.payload.to_vec(),
                            retain: publish.retain,
                        }))
                    }
                    // Only publishes are queued here; nothing else can come back.
                    Err(_) => Ok(()),
                }
            }
            Requests::V5(client) => {
                let qos = rumqttc::v5::mqttbytes::QoS::AtLeastOnce;
                match client.try_publish(topic, qos, retain, payload) {
                    Ok(()) => Ok(()),
                    Err(rumqttc::v5::ClientError::TryRequest(rumqttc::v5::Request::Publish(
                        publish,
                    ))) => Err(Full(Publication {
                        topic: String::from_utf8_lossy(&publish.topic).into_owned(),
                        payload: publish.payload.to_vec(),
                        retain: publish.retain,
                    })),
                    Err(_) => Ok(()),
                }
            }
        }
    }

    /// Queues the acknowledgement of an incoming QoS 1 publish; false when
    /// the queue is full (try again later).
    pub fn try_ack(&self, pkid: u16) -> bool {
        match &self.requests {
            Requests::V311(client) => {
                let mut publish = rumqttc::Publish::new("", QoS::AtLeastOnce, Vec::new());
                publish.pkid = pkid;
                client.try_ack(&publish).is_ok()
            }
            Requests::V5(client) => {
                let mut publish = v5bytes::Publish::new(
                    "",
                    rumqttc::v5::mqttbytes::QoS::AtLeastOnce,
                    Vec::new(),
                    None,
                );
                publish.pkid = pkid;
                client.try_ack(&publish).is_ok()
            }
        }
    }

    /// Queues a SUBSCRIBE with one filter (several filters in one packet
    /// hang some clustered brokers); false when the queue is full.
    pub fn try_subscribe(&self, filter: &str, qos: QoS) -> bool {
        match &self.requests {
            Requests::V311(client) => client.try_subscribe(filter, qos).is_ok(),
            Requests::V5(client) => {
                let qos = match qos {
                    QoS::AtMostOnce => rumqttc::v5::mqttbytes::QoS::AtMostOnce,
                    _ => rumqttc::v5::mqttbytes::QoS::AtLeastOnce,
                };
                client.try_subscribe(filter, qos).is_ok()
            }
        }
    }

    /// Queues a DISCONNECT; false when that is impossible.
    pub fn try_disconnect(&self) -> bool {
        match &self.requests {
            Requests::V311(client) => client.try_disconnect().is_ok(),
            Requests::V5(client) => client.try_disconnect().is_ok(),
        }
    }
}

/// MQTT 3.1.1 options for one node.
fn v311_options(
    options: &ConnectOptions,
    node: &BrokerUrl,
    transport: Option<rumqttc::Transport>,
) -> rumqttc::MqttOptions {
    let mut mqtt =
        rumqttc::MqttOptions::new(options.client_id.clone(), node.host.clone(), node.port);
    mqtt.set_keep_alive(options.keep_alive)
        .set_clean_session(options.clean_session)
        .set_max_packet_size(MQTT_MAX_PACKET_LEN, super::MAX_OUTGOING_PACKET_LEN)
        .set_manual_acks(true)
        .set_inflight(64);
    if let Some((user, password)) = &options.credentials {
        mqtt.set_credentials(user.clone(), password.clone());
    }
    if let Some(transport) = transport.filter(|_| node.tls) {
        mqtt.set_transport(transport);
    }
    mqtt
}

/// MQTT 5 options for one node.
fn v5_options(
    options: &ConnectOptions,
    node: &BrokerUrl,
    transport: Option<rumqttc::Transport>,
) -> rumqttc::v5::MqttOptions {
    let mut mqtt =
        rumqttc::v5::MqttOptions::new(options.client_id.clone(), node.host.clone(), node.port);
    let expiry = if options.clean_session {
        0
    } else {
        SESSION_EXPIRY_SECS
    };
    mqtt.set_keep_alive(options.keep_alive)
        .set_clean_start(options.clean_session)
        .set_session_expiry_interval(Some(expiry))
        .set_receive_maximum(Some(RECEIVE_MAXIMUM))
        .set_max_packet_size(Some(V5_MAX_INCOMING_PACKET_LEN))
        .set_manual_acks(true)
        .set_outgoing_inflight_upper_limit(64);
    if let Some((user, password)) = &options.credentials {
        mqtt.set_credentials(user.clone(), password.clone());
    }
    if let Some(transport) = transport.filter(|_| node.tls) {
        mqtt.set_transport(transport);
    }
    mqtt.set_network_options(no_delay());
    mqtt
}

/// Small packets go out at once (`TCP_NODELAY`): with Nagle's algorithm a
/// SUBSCRIBE or an acknowledgement written right after another waits for
/// the peer's delayed ACK, up to 40 ms on Linux, which showed as slow
/// session opens and catch-ups.
fn no_delay() -> rumqttc::NetworkOptions {
    let mut options = rumqttc::NetworkOptions::new();
    options.set_tcp_nodelay(true);
    options
}

fn from_v311(event: rumqttc::Event) -> WireEvent {
    use rumqttc::{Event, Incoming, SubscribeReasonCode};
    match event {
        Event::Incoming(Incoming::ConnAck(ack)) => WireEvent::ConnAck(ConnAckInfo {
            session_present: ack.session_present,
            ..ConnAckInfo::default()
        }),
        Event::Incoming(Incoming::Publish(publish)) => WireEvent::Publish(IncomingPublish {
            topic: publish.topic,
            payload: bounded(&publish.payload),
            qos: publish.qos,
            retain: publish.retain,
            dup: publish.dup,
            pkid: publish.pkid,
        }),
        Event::Incoming(Incoming::PubAck(ack)) => WireEvent::PubAck {
            pkid: ack.pkid,
            refusal: None,
        },
        Event::Incoming(Incoming::SubAck(ack)) => WireEvent::SubAck {
            pkid: ack.pkid,
            granted: match ack.return_codes.first() {
                Some(SubscribeReasonCode::Success(qos)) => Ok(*qos),
                _ => Err(describe::SUBSCRIPTION_REFUSED.to_owned()),
            },
        },
        Event::Outgoing(outgoing) => from_outgoing(outgoing),
        Event::Incoming(_) => WireEvent::Other,
    }
}

fn from_v5(event: rumqttc::v5::Event) -> WireEvent {
    use rumqttc::v5::Event;
    use v5bytes::{Packet, PubAckReason, SubscribeReasonCode};
    match event {
        Event::Incoming(Packet::ConnAck(ack)) => {
            let properties = ack.properties.as_ref();
            WireEvent::ConnAck(ConnAckInfo {
                session_present: ack.session_present,
                max_qos: properties.and_then(|p| p.max_qos),
                retain_available: properties.and_then(|p| p.retain_available).map(|r| r != 0),
                max_packet_size: properties.and_then(|p| p.max_packet_size),
            })
        }
        Event::Incoming(Packet::Publish(publish)) => WireEvent::Publish(IncomingPublish {
            topic: String::from_utf8_lossy(&publish.topic).into_owned(),
            payload: bounded(&publish.payload),
            qos: match publish.qos {
                rumqttc::v5::mqttbytes::QoS::AtMostOnce => QoS::AtMostOnce,
                rumqttc::v5::mqttbytes::QoS::AtLeastOnce => QoS::AtLeastOnce,
                rumqttc::v5::mqttbytes::QoS::ExactlyOnce => QoS::ExactlyOnce,
            },
            retain: publish.retain,
            dup: publish.dup,
            pkid: publish.pkid,
        }),
        Event::Incoming(Packet::PubAck(ack)) => WireEvent::PubAck {
            pkid: ack.pkid,
            refusal: match ack.reason {
                PubAckReason::Success | PubAckReason::NoMatchingSubscribers => None,
                reason => Some(describe::puback_refusal(reason)),
            },
        },
        Event::Incoming(Packet::SubAck(ack)) => WireEvent::SubAck {
            pkid: ack.pkid,
            granted: match ack.return_codes.first() {
                Some(SubscribeReasonCode::Success(qos)) => Ok(match qos {
                    rumqttc::v5::mqttbytes::QoS::AtMostOnce => QoS::AtMostOnce,
                    rumqttc::v5::mqttbytes::QoS::AtLeastOnce => QoS::AtLeastOnce,
                    rumqttc::v5::mqttbytes::QoS::ExactlyOnce => QoS::ExactlyOnce,
                }),
                Some(code) => Err(describe::suback_refusal(*code)),
                None => Err(describe::SUBSCRIPTION_REFUSED.to_owned()),
            },
        },
        Event::Outgoing(outgoing) => from_outgoing(outgoing),
        Event::Incoming(_) => WireEvent::Other,
    }
}

fn bounded(payload: &[u8]) -> Result<Vec<u8>, usize> {
    if payload.len() > crate::protocol::wire::MAX_ENVELOPE_LEN {
        Err(payload.len())
    } else {
        Ok(payload.to_vec())
    }
}

fn from_outgoing(outgoing: Outgoing) -> WireEvent {
    match outgoing {
        Outgoing::Publish(pkid) => WireEvent::SentPublish(pkid),
        Outgoing::Subscribe(pkid) => WireEvent::SentSubscribe(pkid),
        Outgoing::Disconnect => WireEvent::SentDisconnect,
        _ => WireEvent::Other,
    }
}

/// Whether an I/O error happened before any byte of MQTT was exchanged
/// (nothing answered at that address), as opposed to a broker that
/// accepted the TCP connection and then hung up.
pub fn is_network_level(err: &io::Error) -> bool {
    matches!(
        err.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::HostUnreachable
            | io::ErrorKind::NetworkUnreachable
            | io::ErrorKind::AddrNotAvailable
            | io::ErrorKind::NotFound
            | io::ErrorKind::TimedOut
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transport::VersionChoice;

    #[test]
    fn tls_goes_only_to_the_mqtts_nodes_of_a_list() {
        let options = ConnectOptions {
            url: "mqtts://a:8883,mqtt://b:1883".parse().unwrap(),
            client_id: "c".into(),
            clean_session: false,
            version: VersionChoice::Auto,
            credentials: None,
            keep_alive: std::time::Duration::from_secs(30),
            ca_file: None,
            client_auth: None,
            session_subscribed: false,
        };
        let tls = crate::tls::transport(None, None).unwrap();
        let (secure, plain) = (options.url.get(0), options.url.get(1));
        let is_tls = |t: rumqttc::Transport| matches!(t, rumqttc::Transport::Tls(_));
        assert!(is_tls(
            v311_options(&options, secure, Some(tls.clone())).transport()
        ));
        assert!(!is_tls(
            v311_options(&options, plain, Some(tls.clone())).transport()
        ));
        assert!(is_tls(
            v5_options(&options, secure, Some(tls.clone())).transport()
        ));
        assert!(!is_tls(v5_options(&options, plain, Some(tls)).transport()));
        assert_eq!(
            v5_options(&options, plain, None).broker_address(),
            ("b".to_owned(), 1883)
        );
    }
}
