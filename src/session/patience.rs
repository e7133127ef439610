//! Patience with a cluster that refuses subscriptions while it replaces a
//! node: given a list of brokers, sotto connects again for a while when a
//! node refuses a subscription without saying why, instead of giving up.

use std::time::Duration;

use tokio::time::Instant;

use super::{BrokerConfig, SessionError};
use crate::transport::TransportError;

/// How long sotto, given a list of brokers, goes on connecting again
/// while nodes refuse its subscriptions without a reason. A NATS cluster
/// whose node died refuses new ones until it has moved the streams that
/// node led: 30 to 40 s on a loaded 2-core machine, where 20 s (the
/// patience for nodes that hang up) was not enough.
pub const REFUSED_PATIENCE: Duration = Duration::from_secs(90);

/// How long to wait before connecting again after such a refusal.
const REFUSED_RETRY: Duration = Duration::from_millis(500);

/// What to do after a failed connection attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AfterRefusal {
    /// Report the error: it is not a refusal worth waiting out, there is
    /// one broker (whose refusal is final), or patience ran out.
    GiveUp,
    /// Connect again after [`RefusalPatience::pause`]; `note`, the first
    /// time only, tells the user why this takes longer.
    Retry {
        /// One line for the user, the first time.
        note: Option<String>,
    },
}

/// Whether to connect again after a refused subscription, for one
/// command or room opening.
#[derive(Debug)]
pub struct RefusalPatience {
    until: Option<Instant>,
    told: bool,
}

impl RefusalPatience {
    /// Patience for `broker`, counted from now: none for a single broker.
    pub fn new(broker: &BrokerConfig) -> Self {
        Self {
            until: (broker.url.len() > 1).then(|| Instant::now() + REFUSED_PATIENCE),
            told: false,
        }
    }

    /// Judges a failed attempt to connect. Only a refused subscription
    /// without a reason (every refusal on MQTT 3.1.1, and MQTT 5's
    /// unspecified ones) is waited out; one with a reason (an MQTT 5 ACL)
    /// is final at once.
    pub fn after(&mut self, err: &TransportError) -> AfterRefusal {
        let patient = self.until.is_some_and(|until| Instant::now() < until);
        if !patient || !err.gave_no_reason() {
            return AfterRefusal::GiveUp;
        }
        let note = (!std::mem::replace(&mut self.told, true)).then(|| {
            format!(
                "{err} without a reason; a cluster replacing a node does that for a while, so sotto tries again for up to {} s",
                REFUSED_PATIENCE.as_secs()
            )
        });
        AfterRefusal::Retry { note }
    }

    /// [`RefusalPatience::after`] for a session that could not open.
    pub fn after_open(&mut self, err: &SessionError) -> AfterRefusal {
        match err {
            SessionError::Transport(err) => self.after(err),
            _ => AfterRefusal::GiveUp,
        }
    }

    /// The short wait before connecting again.
    pub async fn pause(&self) {
        tokio::time::sleep(REFUSED_RETRY).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transport::VersionChoice;

    fn broker(url: &str) -> BrokerConfig {
        BrokerConfig {
            url: url.parse().unwrap(),
            credentials: None,
            prefix: crate::topics::DEFAULT_PREFIX.to_owned(),
            ca_file: None,
            client_auth: None,
            version: VersionChoice::Auto,
        }
    }

    fn reasonless() -> TransportError {
        TransportError::Refused("the broker refused the subscription".to_owned())
    }

    #[test]
    fn a_list_waits_out_reasonless_refusals_and_says_so_once() {
        let mut patience = RefusalPatience::new(&broker("mqtt://a:1883,mqtt://b:1883"));
        let AfterRefusal::Retry { note: Some(note) } = patience.after(&reasonless()) else {
            panic!("the first refusal is retried with a note");
        };
        assert!(note.contains("tries again for up to 90 s"), "{note}");
        assert_eq!(
            patience.after(&reasonless()),
            AfterRefusal::Retry { note: None }
        );
    }

    #[test]
    fn a_refusal_with_a_reason_or_from_a_single_broker_is_final() {
        let mut list = RefusalPatience::new(&broker("mqtt://a:1883,mqtt://b:1883"));
        let acl = TransportError::Refused(
            "the broker refused the subscription: not authorized; its ACL must allow sotto/#"
                .to_owned(),
        );
        assert_eq!(list.after(&acl), AfterRefusal::GiveUp);
        assert_eq!(list.after(&TransportError::Closed), AfterRefusal::GiveUp);
        let mut single = RefusalPatience::new(&broker("mqtt://a:1883"));
        assert_eq!(single.after(&reasonless()), AfterRefusal::GiveUp);
    }

    #[test]
    fn patience_runs_out() {
        let mut patience = RefusalPatience {
            until: Some(Instant::now()),
            told: false,
        };
        assert_eq!(patience.after(&reasonless()), AfterRefusal::GiveUp);
    }
}
