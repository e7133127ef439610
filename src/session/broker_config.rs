//! Where and how a session reaches the broker.

use std::time::Duration;

use crate::store::Store;
use crate::transport::{BrokerList, ConnectOptions, MqttVersion, VersionChoice};

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
