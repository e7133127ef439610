//! Where and how a session reaches the broker.

use std::time::Duration;

use crate::room::RoomId;
use crate::store::Store;
use crate::transport::{
    BrokerList, ConnectOptions, MqttVersion, Subscription, SubscriptionKind, VersionChoice,
};

const KEEP_ALIVE: Duration = Duration::from_secs(30);

/// Where and how to reach the broker.
#[derive(Debug, Clone)]
pub struct BrokerConfig {
    /// The broker's address, or several (the nodes of a cluster, or
    /// bridged brokers): the first that answers is used, and the others
    /// in turn when it fails.
    pub url: BrokerList,
    /// Username and password, if any.
    pub credentials: Option<(String, String)>,
    /// Topic prefix (default [`crate::topics::DEFAULT_PREFIX`]).
    pub prefix: String,
    /// Extra CA certificates for `mqtts://`.
    pub ca_file: Option<std::path::PathBuf>,
    /// A client certificate for brokers that require one (mutual TLS).
    pub client_auth: Option<crate::tls::ClientAuth>,
    /// Which MQTT version to speak.
    pub version: VersionChoice,
}

impl BrokerConfig {
    pub(super) fn options(&self, client_id: String, clean_session: bool) -> ConnectOptions {
        ConnectOptions {
            url: self.url.clone(),
            client_id,
            clean_session,
            version: self.version,
            credentials: self.credentials.clone(),
            keep_alive: KEEP_ALIVE,
            ca_file: self.ca_file.clone(),
            client_auth: self.client_auth.clone(),
            session_subscribed: false,
        }
    }

    /// The version to try: the one asked for, or for `auto` the one these
    /// brokers answered to before (a 3.1.1-only broker costs a failed
    /// MQTT 5 attempt only once). Nodes of one cluster run the same
    /// software, so one that took only 3.1.1 speaks for all.
    pub(super) fn with_remembered_version(&self, store: &Store) -> Self {
        let mut config = self.clone();
        if config.version == VersionChoice::Auto
            && self.url.iter().any(|node| {
                store.remembered_mqtt_version(&node.to_string()).as_deref() == Some("3.1.1")
            })
        {
            config.version = VersionChoice::Only(MqttVersion::V311);
        }
        config
    }
}

/// Options for a room's persistent broker session under `client_id`. A
/// session the broker says is present is trusted to hold the reliable
/// `subscriptions` only when this home recorded that it granted them all
/// ([`record_granted`]): a refused SUBSCRIBE leaves the session behind
/// without the subscription, and trusting it would be silence.
pub(super) fn room_options(
    broker: &BrokerConfig,
    store: &Store,
    room: &RoomId,
    client_id: String,
    subscriptions: &[Subscription],
) -> ConnectOptions {
    let mut options = broker.options(client_id, false);
    options.session_subscribed =
        store.session_holds(room, &options.client_id, &reliable_filters(subscriptions));
    options
}

/// Records that the broker granted every reliable subscription to the
/// session `client_id`: call once connected, which the transport reports
/// only after the last SUBACK.
pub(super) fn record_granted(
    store: &Store,
    room: &RoomId,
    client_id: &str,
    subscriptions: &[Subscription],
) {
    store.record_session_holds(room, client_id, &reliable_filters(subscriptions));
}

fn reliable_filters(subscriptions: &[Subscription]) -> Vec<String> {
    (subscriptions.iter())
        .filter(|subscription| subscription.kind == SubscriptionKind::Reliable)
        .map(|subscription| subscription.filter.clone())
        .collect()
}
