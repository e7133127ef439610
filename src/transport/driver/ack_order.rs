//! PUBACKs in the order the PUBLISHes came, whatever order the messages
//! are done in. MQTT 3.1.1 §4.6 requires it, and some brokers enforce it:
//! rumqttd (sotto's built-in broker) drops a connection that acknowledges
//! out of order. A message the session is still working on (being shown,
//! being saved) holds back the acknowledgements of those after it, never
//! longer than that work takes: nothing is left unacknowledged on purpose.

use std::collections::VecDeque;

/// The QoS 1 publishes of one connection not yet acknowledged, oldest
/// first, each marked once the session is done with it.
#[derive(Debug, Default)]
pub(super) struct AckOrder {
    received: VecDeque<(u16, bool)>,
}

impl AckOrder {
    /// Records a publish that will need an acknowledgement.
    pub(super) fn received(&mut self, pkid: u16) {
        self.received.push_back((pkid, false));
    }

    /// Marks a publish done and returns the packet ids now due, in order:
    /// the done ones at the front of the queue. An id never received on
    /// this connection is ignored.
    pub(super) fn done(&mut self, pkid: u16) -> Vec<u16> {
        // The broker reuses a packet id only once it has its PUBACK, so an
        // id is in the queue at most once.
        if let Some(entry) = (self.received.iter_mut()).find(|(id, done)| *id == pkid && !done) {
            entry.1 = true;
        }
        let mut due = Vec::new();
        while let Some(&(id, true)) = self.received.front() {
            due.push(id);
            self.received.pop_front();
        }
        due
    }

    /// Forgets everything: the connection these ids belonged to is gone.
    pub(super) fn clear(&mut self) {
        self.received.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn acknowledgements_leave_in_the_order_publishes_came() {
        let mut order = AckOrder::default();
        for pkid in [7, 3, 9] {
            order.received(pkid);
        }
        assert!(order.done(9).is_empty());
        assert!(order.done(3).is_empty());
        assert_eq!(order.done(7), [7, 3, 9]);
        assert!(order.done(7).is_empty(), "nothing is acknowledged twice");
    }

    #[test]
    fn an_id_not_received_on_this_connection_is_ignored() {
        let mut order = AckOrder::default();
        order.received(1);
        assert!(order.done(2).is_empty());
        order.clear();
        assert!(order.done(1).is_empty());
        order.received(1);
        assert_eq!(order.done(1), [1]);
    }
}
