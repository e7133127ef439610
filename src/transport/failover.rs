//! Which broker to try next, and how long to wait first. No I/O: the
//! driver reports what happened and is told what to do.
//!
//! After a failure the next node in the list is tried at once, so a dead
//! node costs one refused connect. Only when every node has failed in a
//! row does the driver sleep, with a backoff that doubles per round: a
//! cluster that is down entirely is not hammered, and with a single
//! broker this is the plain backoff it always had.
//!
//! A connection counts as a success only once it has stayed up for a
//! while (see [`Failover::failed`]): nodes that accept and then drop at
//! once would otherwise reset the round forever.

use std::time::Duration;

use super::{BrokerList, BrokerUrl};

/// The first wait after a round in which every node failed.
pub const FIRST_BACKOFF: Duration = Duration::from_millis(200);
/// The longest wait between rounds.
pub const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// How long a first connection to a list of brokers keeps going round
/// while nodes answer and then hang up: a cluster replacing a dead node
/// does that (NATS for up to about 15 seconds on a busy machine: election
/// timeouts of 4 to 9 seconds, plus its own 4 second request timeout).
/// Nodes that do not answer at all are reported after one round.
pub const CLUSTER_PATIENCE: Duration = Duration::from_secs(20);

/// The driver's next move after a failure.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Retry {
    /// How long to wait before the next attempt.
    pub delay: Duration,
    /// The node to try next, when it is not the one that just failed.
    pub switch_to: Option<BrokerUrl>,
    /// Whether every node has now failed since the last stable
    /// connection (or since the start).
    pub round_failed: bool,
}

/// The node choice and backoff over a list of brokers.
#[derive(Debug, Clone)]
pub struct Failover {
    nodes: BrokerList,
    current: usize,
    /// Failed attempts since the last stable connection or full round.
    failures_in_round: usize,
    backoff: Duration,
    /// The node of the last connection that was accepted.
    last_connected: Option<usize>,
}

impl Failover {
    /// Starts at the first node.
    pub fn new(nodes: BrokerList) -> Self {
        Self {
            nodes,
            current: 0,
            failures_in_round: 0,
            backoff: FIRST_BACKOFF,
            last_connected: None,
        }
    }

    /// How many nodes the list has.
    pub fn node_count(&self) -> usize {
        self.nodes.len()
    }

    /// The node being tried or connected to.
    pub fn current(&self) -> &BrokerUrl {
        self.nodes.get(self.current)
    }

    /// The node of the connection before this one, when it was another
    /// node: call before [`Failover::connected`].
    pub fn moved_from(&self) -> Option<&BrokerUrl> {
        self.last_connected
            .filter(|&node| node != self.current)
            .map(|node| self.nodes.get(node))
    }

    /// The current node accepted the connection.
    pub fn connected(&mut self) {
        self.last_connected = Some(self.current);
    }

    /// An attempt failed or a connection dropped. `stable` says the
    /// connection had stayed up long enough to count as a success (it
    /// resets the round and the backoff).
    pub fn failed(&mut self, stable: bool) -> Retry {
        if stable {
            self.failures_in_round = 0;
            self.backoff = FIRST_BACKOFF;
        }
        self.failures_in_round += 1;
        let before = self.current;
        self.current = (self.current + 1) % self.nodes.len();
        let round_failed = self.failures_in_round >= self.nodes.len();
        let delay = if round_failed {
            self.failures_in_round = 0;
            let delay = self.backoff;
            self.backoff = (self.backoff * 2).min(MAX_BACKOFF);
            delay
        } else {
            Duration::ZERO
        };
        Retry {
            delay,
            switch_to: (self.current != before).then(|| self.current().clone()),
            round_failed,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nodes(text: &str) -> Failover {
        Failover::new(text.parse().unwrap())
    }

    #[test]
    fn one_broker_keeps_the_plain_doubling_backoff() {
        let mut failover = nodes("mqtt://a:1");
        let delays: Vec<Duration> = (0..7).map(|_| failover.failed(false).delay).collect();
        let ms = |n| Duration::from_millis(n);
        assert_eq!(
            delays,
            [
                ms(200),
                ms(400),
                ms(800),
                ms(1600),
                ms(3200),
                ms(5000),
                ms(5000)
            ]
        );
        assert_eq!(failover.current().host, "a");
        assert_eq!(
            failover.failed(true).delay,
            FIRST_BACKOFF,
            "reset by a stable connection"
        );
        assert_eq!(failover.failed(false).switch_to, None);
    }

    #[test]
    fn a_failed_node_is_followed_at_once_by_the_next_and_a_failed_round_waits() {
        let mut failover = nodes("mqtt://a:1,mqtt://b:2,mqtt://c:3");
        let first = failover.failed(false);
        assert_eq!(first.delay, Duration::ZERO);
        assert_eq!(first.switch_to.map(|u| u.host), Some("b".to_owned()));
        assert!(!first.round_failed);
        let second = failover.failed(false);
        assert_eq!((second.delay, second.round_failed), (Duration::ZERO, false));
        let third = failover.failed(false);
        assert_eq!((third.delay, third.round_failed), (FIRST_BACKOFF, true));
        assert_eq!(third.switch_to.map(|u| u.host), Some("a".to_owned()));
        // The next round starts at once again and waits twice as long.
        assert_eq!(failover.failed(false).delay, Duration::ZERO);
        assert_eq!(failover.failed(false).delay, Duration::ZERO);
        assert_eq!(failover.failed(false).delay, FIRST_BACKOFF * 2);
    }

    #[test]
    fn nodes_that_accept_and_drop_at_once_still_back_off() {
        let mut failover = nodes("mqtt://a:1,mqtt://b:2");
        failover.connected();
        assert_eq!(failover.failed(false).delay, Duration::ZERO);
        failover.connected();
        assert_eq!(failover.failed(false).delay, FIRST_BACKOFF);
    }

    #[test]
    fn a_stable_connection_lost_moves_on_without_waiting() {
        let mut failover = nodes("mqtt://a:1,mqtt://b:2");
        failover.failed(false);
        failover.connected();
        let retry = failover.failed(true);
        assert_eq!(retry.delay, Duration::ZERO);
        assert_eq!(retry.switch_to.map(|u| u.host), Some("a".to_owned()));
    }

    #[test]
    fn the_previous_node_is_known_only_after_a_move() {
        let mut failover = nodes("mqtt://a:1,mqtt://b:2");
        assert_eq!(failover.moved_from(), None);
        failover.connected();
        assert_eq!(failover.moved_from(), None);
        failover.failed(true);
        assert_eq!(failover.moved_from().map(|u| u.host.as_str()), Some("a"));
        failover.connected();
        assert_eq!(failover.moved_from(), None);
    }
}
