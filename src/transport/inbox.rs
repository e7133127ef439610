//! The queue between the connection task and whoever reads its events.
//!
//! Pushing never waits: the task must keep polling the socket (keep-alive,
//! acknowledgements) however slow the reader is, or a flood would freeze
//! the connection until the broker dropped it. Memory stays bounded
//! because everything that can arrive without limit is droppable: QoS 0
//! publishes are capped here, and QoS 1 publishes are limited by the
//! broker's in-flight window (they wait for our acknowledgement).

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, PoisonError};

use tokio::sync::Notify;

use super::TransportEvent;

/// How many QoS 0 publishes may wait unread; more are dropped on arrival.
pub const MAX_QUEUED_QOS0: usize = 4096;

struct Queue {
    events: VecDeque<(TransportEvent, bool)>,
    droppable: usize,
    closed: bool,
}

/// Both ends share one queue.
#[derive(Clone)]
pub struct Inbox {
    queue: Arc<Mutex<Queue>>,
    ready: Arc<Notify>,
}

impl Inbox {
    /// An empty, open queue.
    pub fn new() -> Self {
        Self {
            queue: Arc::new(Mutex::new(Queue {
                events: VecDeque::new(),
                droppable: 0,
                closed: false,
            })),
            ready: Arc::new(Notify::new()),
        }
    }

    fn with<T>(&self, f: impl FnOnce(&mut Queue) -> T) -> T {
        let mut queue = self.queue.lock().unwrap_or_else(PoisonError::into_inner);
        f(&mut queue)
    }

    /// Queues an event that must not be lost.
    pub fn push(&self, event: TransportEvent) {
        self.with(|q| q.events.push_back((event, false)));
        self.ready.notify_one();
    }

    /// Queues an event that may be dropped under load; false if it was.
    pub fn push_droppable(&self, event: TransportEvent) -> bool {
        let queued = self.with(|q| {
            if q.droppable >= MAX_QUEUED_QOS0 {
                return false;
            }
            q.droppable += 1;
            q.events.push_back((event, true));
            true
        });
        if queued {
            self.ready.notify_one();
        }
        queued
    }

    /// Marks the queue finished: the reader gets what is left, then `None`.
    pub fn close(&self) {
        self.with(|q| q.closed = true);
        self.ready.notify_one();
    }

    /// The next event if one is waiting, without waiting.
    pub fn try_pop(&self) -> Option<TransportEvent> {
        self.with(|q| {
            let (event, droppable) = q.events.pop_front()?;
            if droppable {
                q.droppable -= 1;
            }
            Some(event)
        })
    }

    /// The next event, or `None` once the queue is closed and empty.
    pub async fn pop(&self) -> Option<TransportEvent> {
        loop {
            let next = self.with(|q| match q.events.pop_front() {
                Some((event, droppable)) => {
                    if droppable {
                        q.droppable -= 1;
                    }
                    Some(Some(event))
                }
                None if q.closed => Some(None),
                None => None,
            });
            if let Some(next) = next {
                return next;
            }
            self.ready.notified().await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn qos0_events_are_capped_and_others_never_dropped() {
        let inbox = Inbox::new();
        let note = || TransportEvent::Note("x".into());
        for _ in 0..MAX_QUEUED_QOS0 {
            assert!(inbox.push_droppable(note()));
        }
        assert!(!inbox.push_droppable(note()));
        inbox.push(note());
        assert!(inbox.pop().await.is_some());
        assert!(inbox.push_droppable(note()));
        inbox.close();
        let mut left = 0;
        while inbox.pop().await.is_some() {
            left += 1;
        }
        assert_eq!(left, MAX_QUEUED_QOS0 + 1);
    }
}
