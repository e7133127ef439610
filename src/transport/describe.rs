//! Broker answers and connection failures, in sentences a user can act on.
//! No Rust type names reach the user: every code sotto can meet is mapped
//! to words, and anything else to a generic sentence.

use std::io;

use rumqttc::v5::mqttbytes::v5 as v5bytes;

use super::MqttVersion;
use super::client::is_network_level;

/// A failed or lost connection, described.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// What happened, in a few words.
    pub reason: String,
    /// What the user could do about it.
    pub advice: &'static str,
    /// What kind of failure it was (decides whether to retry with 3.1.1).
    pub class: FailureClass,
}

/// The kinds of failure that call for different reactions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureClass {
    /// Nothing answered at that address.
    Unreachable,
    /// The TLS handshake failed.
    Tls,
    /// The broker answered the CONNECT with a refusal (credentials, ...).
    Refused,
    /// The broker said it does not speak this protocol version.
    VersionRefused,
    /// The connection closed or broke after the TCP connect: maybe a
    /// broker that hangs up on an MQTT 5 CONNECT, maybe a network fault.
    Dropped,
}

const CHECK_BROKER: &str = "check --broker";
const CHECK_CREDENTIALS: &str = "check --username and SOTTO_PASSWORD";
const START_A_BROKER: &str =
    "is a broker running there? (`sotto broker` runs one for trying sotto out)";
const TRUST_ITS_CA: &str = "set SOTTO_CA_FILE to the broker's CA certificate (PEM)";
const ASK_OPERATOR: &str = "ask the broker's operator";

fn failure(reason: impl Into<String>, advice: &'static str, class: FailureClass) -> Failure {
    Failure {
        reason: reason.into(),
        advice,
        class,
    }
}

/// Describes an MQTT 3.1.1 connection error.
pub fn v311_failure(err: &rumqttc::ConnectionError) -> Failure {
    use rumqttc::{ConnectReturnCode as Code, ConnectionError as E};
    match err {
        E::ConnectionRefused(code) => refusal(match code {
            Code::RefusedProtocolVersion => Refusal::Version(MqttVersion::V311),
            Code::BadClientId => Refusal::ClientId,
            Code::ServiceUnavailable => Refusal::Unavailable,
            Code::BadUserNamePassword => Refusal::Credentials,
            Code::NotAuthorized => Refusal::NotAuthorized,
            Code::Success => Refusal::Other,
        }),
        E::NetworkTimeout => failure(
            "timed out",
            "check --broker and the network",
            FailureClass::Unreachable,
        ),
        E::Tls(tls) => tls_failure(tls),
        E::MqttState(rumqttc::StateError::Io(io))
        | E::MqttState(rumqttc::StateError::Deserialization(rumqttc::Error::Io(io)))
        | E::Io(io) => io_failure(io),
        E::MqttState(rumqttc::StateError::AwaitPingResp) => failure(
            "the broker stopped answering",
            "check the network",
            FailureClass::Dropped,
        ),
        E::MqttState(rumqttc::StateError::ConnectionAborted) => closed(),
        E::MqttState(_) | E::NotConnAck(_) => not_mqtt(),
        _ => failure("the connection failed", CHECK_BROKER, FailureClass::Dropped),
    }
}

/// Describes an MQTT 5 connection error.
pub fn v5_failure(err: &rumqttc::v5::ConnectionError) -> Failure {
    use rumqttc::v5::{ConnectionError as E, StateError as S};
    use v5bytes::ConnectReturnCode as Code;
    match err {
        E::ConnectionRefused(code) | E::MqttState(S::ConnFail { reason: code }) => {
            refusal(match code {
                Code::UnsupportedProtocolVersion | Code::RefusedProtocolVersion => {
                    Refusal::Version(MqttVersion::V5)
                }
                Code::BadUserNamePassword => Refusal::Credentials,
                Code::NotAuthorized => Refusal::NotAuthorized,
                Code::ClientIdentifierNotValid | Code::BadClientId => Refusal::ClientId,
                Code::Banned => Refusal::Banned,
                Code::ServerUnavailable | Code::ServiceUnavailable | Code::ServerBusy => {
                    Refusal::Unavailable
                }
                Code::UseAnotherServer | Code::ServerMoved => Refusal::Moved,
                Code::QoSNotSupported => Refusal::QoS0Only,
                Code::RetainNotSupported => Refusal::NoRetain,
                Code::PacketTooLarge => Refusal::TooLarge,
                Code::QuotaExceeded | Code::ConnectionRateExceeded => Refusal::TooMany,
                _ => Refusal::Other,
            })
        }
        E::Timeout(_) => failure(
            "timed out",
            "check --broker and the network",
            FailureClass::Dropped,
        ),
        E::Tls(tls) => tls_failure(tls),
        // A TLS 1.3 broker refuses a missing client certificate after
        // the handshake, so its alert arrives where the CONNACK should.
        E::MqttState(S::Io(io))
        | E::MqttState(S::Deserialization(rumqttc::v5::mqttbytes::Error::Io(io)))
        | E::Io(io) => io_failure(io),
        E::MqttState(S::ServerDisconnect { reason_code, .. }) => server_disconnect(*reason_code),
        E::MqttState(S::AwaitPingResp) => failure(
            "the broker stopped answering",
            "check the network",
            FailureClass::Dropped,
        ),
        E::MqttState(S::ConnectionAborted) => closed(),
        E::MqttState(S::OutgoingPacketTooLarge { .. }) => failure(
            "a message was larger than the broker accepts",
            ASK_OPERATOR,
            FailureClass::Dropped,
        ),
        E::MqttState(_) | E::NotConnAck(_) => not_mqtt(),
        _ => failure("the connection failed", CHECK_BROKER, FailureClass::Dropped),
    }
}

/// Why a broker refused a CONNECT, whichever version said it.
enum Refusal {
    Version(MqttVersion),
    Credentials,
    NotAuthorized,
    ClientId,
    Banned,
    Unavailable,
    Moved,
    QoS0Only,
    NoRetain,
    TooLarge,
    TooMany,
    Other,
}

fn refusal(kind: Refusal) -> Failure {
    let (reason, advice) = match kind {
        Refusal::Version(MqttVersion::V5) => {
            ("the broker does not speak MQTT 5", "try --mqtt 3.1.1")
        }
        Refusal::Version(MqttVersion::V311) => {
            ("the broker does not speak MQTT 3.1.1", "try --mqtt 5")
        }
        Refusal::Credentials => (
            "the broker refused the user name or password",
            CHECK_CREDENTIALS,
        ),
        Refusal::NotAuthorized => (
            "the broker refused the connection: not authorized",
            CHECK_CREDENTIALS,
        ),
        Refusal::ClientId => ("the broker refused sotto's client id", ASK_OPERATOR),
        Refusal::Banned => ("the broker has banned this client", ASK_OPERATOR),
        Refusal::Unavailable => ("the broker is busy or unavailable", "try again later"),
        Refusal::Moved => (
            "the broker sent sotto to another server",
            "point --broker at the broker's new address",
        ),
        Refusal::QoS0Only => (
            "the broker only allows QoS 0; sotto needs QoS 1",
            ASK_OPERATOR,
        ),
        Refusal::NoRetain => (
            "the broker keeps no retained messages; sotto's presence needs them",
            ASK_OPERATOR,
        ),
        Refusal::TooLarge => (
            "the broker refused the connection: packet too large",
            ASK_OPERATOR,
        ),
        Refusal::TooMany => (
            "the broker refused the connection: too many connections",
            "try again later",
        ),
        Refusal::Other => ("the broker refused the connection", ASK_OPERATOR),
    };
    let class = match kind {
        Refusal::Version(_) => FailureClass::VersionRefused,
        _ => FailureClass::Refused,
    };
    failure(reason, advice, class)
}

fn not_mqtt() -> Failure {
    failure(
        "the broker sent something sotto could not understand",
        "is it an MQTT broker? if that port expects TLS, use mqtts://",
        FailureClass::Dropped,
    )
}

fn closed() -> Failure {
    failure(
        "the broker closed the connection",
        CHECK_BROKER,
        FailureClass::Dropped,
    )
}

fn server_disconnect(code: v5bytes::DisconnectReasonCode) -> Failure {
    use v5bytes::DisconnectReasonCode as Code;
    let (reason, advice) = match code {
        Code::SessionTakenOver => (
            "another client connected with the same client id",
            "is sotto running twice on this home, or was the home copied?",
        ),
        Code::NotAuthorized => (
            "the broker refused an operation: not authorized",
            "its ACL must allow sotto/#",
        ),
        Code::PacketTooLarge => ("a message was larger than the broker accepts", ASK_OPERATOR),
        Code::QoSNotSupported => (
            "the broker does not allow QoS 1; sotto needs it",
            ASK_OPERATOR,
        ),
        Code::ServerShuttingDown => (
            "the broker is shutting down",
            "sotto reconnects when it is back",
        ),
        Code::KeepAliveTimeout => (
            "the broker heard nothing from sotto in time",
            "check the network",
        ),
        Code::ServerBusy | Code::QuotaExceeded | Code::MessageRateTooHigh => {
            ("the broker is overloaded", "try again later")
        }
        Code::UseAnotherServer | Code::ServerMoved => (
            "the broker sent sotto to another server",
            "point --broker at the broker's new address",
        ),
        _ => ("the broker closed the connection", CHECK_BROKER),
    };
    failure(reason, advice, FailureClass::Dropped)
}

fn io_failure(io: &io::Error) -> Failure {
    if is_network_level(io) {
        let reason = match io.kind() {
            io::ErrorKind::ConnectionRefused => "connection refused".to_owned(),
            io::ErrorKind::TimedOut => "timed out".to_owned(),
            io::ErrorKind::NotFound => "no such host".to_owned(),
            _ => "no route to the broker".to_owned(),
        };
        let advice = if io.kind() == io::ErrorKind::ConnectionRefused {
            START_A_BROKER
        } else {
            CHECK_BROKER
        };
        return failure(reason, advice, FailureClass::Unreachable);
    }
    // tokio-rustls reports a refused certificate as an I/O error wrapping
    // the rustls verdict (reached with get_ref; source() skips it).
    if let Some(tls) = io.get_ref().and_then(|e| e.downcast_ref::<rustls::Error>()) {
        return rustls_failure(tls);
    }
    match io.kind() {
        io::ErrorKind::ConnectionReset | io::ErrorKind::UnexpectedEof => failure(
            "the broker closed the connection",
            "if that port expects TLS, use mqtts://",
            FailureClass::Dropped,
        ),
        _ => failure(
            "the connection to the broker failed",
            CHECK_BROKER,
            FailureClass::Dropped,
        ),
    }
}

fn tls_failure(err: &rumqttc::TlsError) -> Failure {
    match err {
        rumqttc::TlsError::TLS(tls) => rustls_failure(tls),
        rumqttc::TlsError::Io(io) => {
            if let Some(tls) = io.get_ref().and_then(|e| e.downcast_ref::<rustls::Error>()) {
                return rustls_failure(tls);
            }
            match io.kind() {
                io::ErrorKind::ConnectionReset | io::ErrorKind::UnexpectedEof => failure(
                    "the broker closed the connection during the TLS handshake",
                    "is that port a TLS listener? use mqtt:// for a plain one",
                    FailureClass::Tls,
                ),
                _ => {
                    let mut failure = io_failure(io);
                    if failure.class == FailureClass::Dropped {
                        failure.class = FailureClass::Tls;
                    }
                    failure
                }
            }
        }
        _ => failure(
            "TLS could not be set up",
            "is that port a TLS listener?",
            FailureClass::Tls,
        ),
    }
}

fn rustls_failure(err: &rustls::Error) -> Failure {
    use rustls::CertificateError as C;
    let (reason, advice) = match err {
        rustls::Error::InvalidCertificate(cert) => match cert {
            C::UnknownIssuer => (
                "its TLS certificate is not signed by a CA sotto trusts",
                TRUST_ITS_CA,
            ),
            C::NotValidForName | C::NotValidForNameContext { .. } => (
                "its TLS certificate is for another host name",
                "use the host name the certificate names in --broker",
            ),
            // webpki's verdict, which rustls passes on only as "other".
            C::Other(other) if format!("{other:?}").contains("CaUsedAsEndEntity") => (
                "the server certificate is itself a CA certificate",
                "sign a server certificate with that CA and give the broker that one",
            ),
            C::Expired | C::ExpiredContext { .. } => (
                "the broker's TLS certificate has expired",
                "renew the broker's certificate",
            ),
            C::NotValidYet | C::NotValidYetContext { .. } => (
                "the broker's TLS certificate is not valid yet",
                "check the clocks of both machines",
            ),
            C::Revoked => ("the broker's TLS certificate was revoked", ASK_OPERATOR),
            C::BadSignature | C::BadEncoding => {
                ("the broker's TLS certificate is damaged", ASK_OPERATOR)
            }
            _ => ("the broker's TLS certificate was refused", TRUST_ITS_CA),
        },
        rustls::Error::AlertReceived(rustls::AlertDescription::CertificateRequired) => (
            "the broker wants a client certificate",
            "give one with --client-cert and --client-key",
        ),
        // Only the client shows a certificate to the broker, so these
        // alerts are about ours.
        rustls::Error::AlertReceived(
            rustls::AlertDescription::BadCertificate
            | rustls::AlertDescription::UnknownCA
            | rustls::AlertDescription::CertificateUnknown
            | rustls::AlertDescription::CertificateExpired
            | rustls::AlertDescription::CertificateRevoked
            | rustls::AlertDescription::UnsupportedCertificate,
        ) => (
            "the broker refused sotto's client certificate",
            "check --client-cert: it must be signed by a CA the broker trusts, and be current",
        ),
        rustls::Error::AlertReceived(_) => (
            "the broker refused the TLS handshake",
            "does the broker require a client certificate?",
        ),
        _ => ("the TLS handshake failed", "is that port a TLS listener?"),
    };
    failure(reason, advice, FailureClass::Tls)
}

/// An MQTT 5 PUBACK refusal as a sentence.
pub fn puback_refusal(reason: v5bytes::PubAckReason) -> String {
    use v5bytes::PubAckReason as R;
    match reason {
        R::NotAuthorized => {
            "the broker refused the publish: not authorized; its ACL must allow sotto/#".to_owned()
        }
        R::TopicNameInvalid => {
            "the broker refused the publish: it does not accept the topic".to_owned()
        }
        R::QuotaExceeded => "the broker refused the publish: a quota is exceeded".to_owned(),
        R::PayloadFormatInvalid => "the broker refused the publish: payload format".to_owned(),
        _ => "the broker refused the publish".to_owned(),
    }
}

/// A refused subscription the broker gave no reason for: every refusal
/// on MQTT 3.1.1 (its SUBACK has one failure code), and MQTT 5's
/// unspecified ones. See [`TransportError::gave_no_reason`].
///
/// [`TransportError::gave_no_reason`]: crate::transport::TransportError::gave_no_reason
pub const SUBSCRIPTION_REFUSED: &str = "the broker refused the subscription";

/// An MQTT 5 SUBACK refusal as a sentence.
pub fn suback_refusal(code: v5bytes::SubscribeReasonCode) -> String {
    use v5bytes::SubscribeReasonCode as C;
    match code {
        C::NotAuthorized => {
            "the broker refused the subscription: not authorized; its ACL must allow sotto/#"
                .to_owned()
        }
        C::WildcardSubscriptionsNotSupported => {
            "the broker refused the subscription: it does not allow + wildcards, which sotto needs"
                .to_owned()
        }
        C::QuotaExceeded => "the broker refused the subscription: a quota is exceeded".to_owned(),
        C::TopicFilterInvalid => {
            "the broker refused the subscription: it does not accept the topic".to_owned()
        }
        _ => SUBSCRIPTION_REFUSED.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_are_sentences_without_type_names() {
        let texts = [
            v311_failure(&rumqttc::ConnectionError::ConnectionRefused(
                rumqttc::ConnectReturnCode::NotAuthorized,
            ))
            .reason,
            v311_failure(&rumqttc::ConnectionError::ConnectionRefused(
                rumqttc::ConnectReturnCode::BadUserNamePassword,
            ))
            .reason,
            puback_refusal(v5bytes::PubAckReason::NotAuthorized),
            suback_refusal(v5bytes::SubscribeReasonCode::NotAuthorized),
        ];
        for text in texts {
            assert!(!text.contains("NotAuthorized"), "{text}");
            assert!(!text.contains("CaUsedAsEndEntity"), "{text}");
            assert!(!text.contains("BadUserNamePassword"), "{text}");
        }
    }

    #[test]
    fn version_refusals_are_told_apart_from_other_refusals() {
        let v5 = v5_failure(&rumqttc::v5::ConnectionError::ConnectionRefused(
            v5bytes::ConnectReturnCode::UnsupportedProtocolVersion,
        ));
        assert_eq!(v5.class, FailureClass::VersionRefused);
        let refused = v311_failure(&rumqttc::ConnectionError::ConnectionRefused(
            rumqttc::ConnectReturnCode::BadUserNamePassword,
        ));
        assert_eq!(refused.class, FailureClass::Refused);
        let unreachable = v311_failure(&rumqttc::ConnectionError::Io(io::Error::from(
            io::ErrorKind::ConnectionRefused,
        )));
        assert_eq!(unreachable.class, FailureClass::Unreachable);
    }

    #[test]
    fn a_broker_that_wants_a_client_certificate_says_so() {
        // What a TLS 1.3 Mosquitto with `require_certificate true` does to
        // a client without one: an alert where the CONNACK should be.
        let alert = |alert| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                rustls::Error::AlertReceived(alert),
            )
        };
        let v5 = v5_failure(&rumqttc::v5::ConnectionError::MqttState(
            rumqttc::v5::StateError::Deserialization(rumqttc::v5::mqttbytes::Error::Io(alert(
                rustls::AlertDescription::CertificateRequired,
            ))),
        ));
        assert_eq!(v5.reason, "the broker wants a client certificate");
        assert!(v5.advice.contains("--client-cert"), "{}", v5.advice);
        let v311 = v311_failure(&rumqttc::ConnectionError::MqttState(
            rumqttc::StateError::Deserialization(rumqttc::Error::Io(alert(
                rustls::AlertDescription::UnknownCA,
            ))),
        ));
        assert_eq!(v311.reason, "the broker refused sotto's client certificate");
        assert_eq!(v311.class, FailureClass::Tls);
    }
}
