//! The driver's side of connecting: which broker and protocol version the
//! next attempt uses, and what a failed attempt or lost connection is
//! reported as.

use std::time::Duration;

use tokio::time::Instant;

use super::{Driver, STABLE_AFTER};
use crate::transport::client::MqttClient;
use crate::transport::describe::{Failure, FailureClass};
use crate::transport::{BrokerUrl, MqttVersion, TransportError, TransportEvent};

impl Driver {
    /// On the first attempt of an automatic version choice, a broker that
    /// refused or hung up on MQTT 5 is asked again at once with 3.1.1.
    pub(super) fn fall_back(&mut self, failure: &Failure) -> bool {
        if !self.may_fall_back
            || !matches!(
                failure.class,
                FailureClass::VersionRefused | FailureClass::Dropped
            )
        {
            return false;
        }
        self.may_fall_back = false;
        self.inbox.push(TransportEvent::Note(format!(
            "MQTT 5 failed ({}); trying MQTT 3.1.1",
            failure.reason
        )));
        self.client = self.new_client(MqttVersion::V311);
        // Publishes already handed to the old client are lost with it:
        // hand their waiters' publications back is impossible, so fail them.
        self.unmatched.clear();
        self.in_client = 0;
        self.prepare_attempt();
        true
    }

    /// A 3.1.1 broker that only allows QoS 0 (or keeps no retained
    /// messages) hangs up on a CONNECT whose last will is a retained QoS 1
    /// publish, without a word. Trying once more without the will lets the
    /// broker say what it allows (a SUBACK granting QoS 0 is then a clear
    /// refusal), or lets sotto work without a will.
    ///
    /// When the attempt without a will fails too, the will was not the
    /// cause (a cluster node cut off from its peers also hangs up after a
    /// CONNECT): it goes back in, and the failure takes its normal course.
    pub(super) fn drop_will(&mut self, failure: &Failure) -> bool {
        if self.will_dropped && !self.connected_before {
            self.will_dropped = false;
            return false;
        }
        if self.connected_before
            || self.will_tested
            || !self.has_will
            || failure.class != FailureClass::Dropped
            || self.client.version() != MqttVersion::V311
        {
            return false;
        }
        // With a list, a node that hangs up is first taken for a node in
        // trouble (a cluster moving what a dead node led): the will is
        // suspected only once every node of the round hung up or was
        // out of reach.
        let round_so_far = (self.first_failures.iter())
            .filter(|f| matches!(f.2, FailureClass::Dropped | FailureClass::Unreachable))
            .count();
        if round_so_far + 1 < self.failover.node_count() {
            return false;
        }
        self.will_dropped = true;
        self.will_tested = true;
        self.inbox.push(TransportEvent::Note(
            "the broker hung up on a CONNECT with a last will; trying without one".into(),
        ));
        self.client = self.new_client(MqttVersion::V311);
        self.unmatched.clear();
        self.in_client = 0;
        self.prepare_attempt();
        true
    }

    /// A client for `version` on the current node.
    pub(super) fn new_client(&self, version: MqttVersion) -> MqttClient {
        MqttClient::new(
            &self.options,
            self.failover.current(),
            version,
            self.tls.clone(),
        )
    }

    /// Reports a failed attempt or a lost connection, moves on to the next
    /// broker of the list, and returns how long to wait before trying it.
    pub(super) fn on_failure(&mut self, failure: Failure) -> Duration {
        // A broker that never answered has not refused MQTT 5: the next
        // one may still need the fall back to 3.1.1.
        if failure.class != FailureClass::Unreachable {
            self.may_fall_back = false;
        }
        let was_connected = self.connected_at.take();
        if was_connected.is_some() {
            self.unmatched_at_drop = self.unmatched.len();
        }
        let stable = was_connected.is_some_and(|at| at.elapsed() >= STABLE_AFTER);
        let failed = self.failover.current().clone();
        let retry = self.failover.failed(stable);
        if let Some(next) = &retry.switch_to {
            self.client.retarget(&self.options, next, self.tls.clone());
        }
        let trying = |next: &BrokerUrl| {
            TransportEvent::Note(format!("{failed}: {}; trying {next}", failure.reason))
        };
        if was_connected.is_some() {
            // Report an outage once, not every retry.
            self.inbox.push(TransportEvent::Disconnected {
                reason: failure.reason.clone(),
                advice: failure.advice,
                node: failed.clone(),
                next: retry.switch_to.clone(),
            });
        } else if !self.connected_before {
            // Nothing has answered yet: the caller hears of it once every
            // broker has failed, with each one's reason.
            self.first_failures
                .push((failed.clone(), failure.reason.clone(), failure.class));
            let answered = (self.first_failures.iter()).any(|f| f.2 == FailureClass::Dropped);
            let patient = self
                .patient_until
                .is_some_and(|until| Instant::now() < until);
            if retry.round_failed && answered && patient {
                let reason = summary(std::mem::take(&mut self.first_failures));
                self.inbox.push(TransportEvent::Note(format!(
                    "no broker took the connection ({reason}); trying again"
                )));
            } else if retry.round_failed {
                let reason = summary(std::mem::take(&mut self.first_failures));
                self.inbox.push(TransportEvent::Disconnected {
                    reason,
                    advice: failure.advice,
                    node: failed.clone(),
                    next: retry.switch_to.clone(),
                });
            } else if let Some(next) = &retry.switch_to {
                self.inbox.push(trying(next));
            }
        } else if let Some(next) = &retry.switch_to {
            self.inbox.push(trying(next));
        }
        self.pending_connect = None;
        self.subscribing.clear();
        self.awaiting_suback.clear();
        self.ack_order.clear();
        self.pending_acks.clear();
        if self.options.clean_session {
            // Without a session the broker forgets what we sent and rumqttc
            // drops it: whoever waits is told now, with the likely causes.
            self.release_waiters(TransportError::DroppedBeforeAck);
            self.in_client = 0;
        }
        // With a persistent session the waiters stay: rumqttc keeps what it
        // had not written yet and resends what it had, in order, when the
        // broker still holds the session; when it does not, `session_lost`
        // releases them.
        retry.delay
    }

    /// Fresh last will and connect-time publishes for the next attempt.
    pub(super) fn prepare_attempt(&mut self) {
        let announcement = (self.announce)();
        self.has_will = announcement.will.is_some() && !self.will_dropped;
        if let Some(will) = announcement.will.as_ref().filter(|_| !self.will_dropped) {
            self.client.set_will(will);
        }
        self.on_connect = announcement.on_connect;
    }

    /// The broker has no session for us although we had one: it is
    /// another broker that does not share sessions (a bridge), or one that
    /// lost them. What rumqttc held for the old session is gone with it.
    pub(super) fn session_lost(&mut self, moved_from: Option<BrokerUrl>) {
        if let Some(from) = moved_from {
            self.inbox.push(TransportEvent::Warning(format!(
                "now on {}; what was queued for you on {from} arrives when {from} is back",
                self.failover.current()
            )));
        }
        // rumqttc dropped the unacknowledged publishes and what it had
        // moved from its queue when the connection dropped: they count no
        // more, and nobody waits for them. What was handed over since
        // still goes out, on the new session.
        let dropped = self.unmatched_at_drop.min(self.unmatched.len());
        self.in_client = self.in_client.saturating_sub(dropped);
        let waiters = (self.awaiting_ack.drain().map(|(_, waiter)| waiter))
            .chain(self.unmatched.drain(..dropped));
        for waiter in waiters.flatten() {
            let _ = waiter.send(Err(TransportError::NotAcknowledged));
        }
    }
}

/// Why no broker of the list answered: one reason when they agree (or
/// there is one broker), else each broker's.
fn summary(failures: Vec<(BrokerUrl, String, FailureClass)>) -> String {
    let same = failures.windows(2).all(|pair| pair[0].1 == pair[1].1);
    match failures.first() {
        Some((_, reason, _)) if same => reason.clone(),
        _ => failures
            .iter()
            .map(|(node, reason, _)| format!("{node}: {reason}"))
            .collect::<Vec<_>>()
            .join("; "),
    }
}
