//! Messages in batches, with the store's guarantee: every message already
//! waiting (up to [`BATCH`]) is checked and saved with the room state it
//! changes in one transaction, marked "not yet shown"; the front end shows
//! them; then their marks are cleared (in the next batch's transaction, or
//! after [`FLUSH_DELAY`] in one of their own) and only then are they
//! acknowledged. A crash anywhere loses nothing: a message
//! not acknowledged comes again, and if it was saved but its mark is still
//! set it is shown (a line can appear twice only if the process died
//! between showing it and clearing the mark).

use std::convert::Infallible;

use super::{RoomSession, SessionError, SessionEvent, Source, now_ms};
use crate::identity::Fingerprint;
use crate::protocol::OpenError;
use crate::room::{Delivery, Received};
use crate::store::{BatchWrites, StoredMessage};
use crate::topics::TopicKind;
use crate::transport::{Ack, TransportEvent};

/// How long shown messages may wait to be marked and acknowledged, so a
/// message arriving meanwhile does it in its own transaction and a lone
/// message's mark costs nothing on the way to the screen.
const FLUSH_DELAY: std::time::Duration = std::time::Duration::from_millis(5);

/// Most messages taken in one batch: the broker's in-flight window on
/// MQTT 5 (sotto asks for 256).
const BATCH: usize = 256;

/// A publish taken from the connection together with others.
pub(super) struct Waiting {
    pub(super) topic: String,
    pub(super) payload: Vec<u8>,
    pub(super) duplicate: bool,
    pub(super) ack: Ack,
}

/// The most messages held for later epochs at once; more are refused.
/// Anyone who can publish can make a payload that claims a later epoch:
/// this bounds what that costs. No more than one batch, so releasing
/// them takes every one in one transaction.
const MAX_HELD: usize = 64;

/// How far ahead of ours a message's epoch may be and still be held: a
/// member back after several rotations takes their commits in order,
/// and messages sent meanwhile come mixed with them.
const HELD_EPOCHS_AHEAD: u64 = crate::room::MAX_PAST_EPOCHS as u64 + 1;

/// A message sealed for an epoch ahead of ours, saved and acknowledged,
/// waiting for its commit.
pub(super) struct Held {
    pub(super) payload: Vec<u8>,
    pub(super) duplicate: bool,
}

/// One message of a batch, on its way to being shown.
enum Step {
    /// Accepted and saved with the batch.
    Accepted(Delivery, Ack),
    /// Saved earlier but never shown (a crash came in between).
    Unshown(Delivery, Ack),
    /// Something to show that is not a message (a warning).
    Event(SessionEvent),
}

impl RoomSession {
    /// Handles a message and every other one already waiting.
    pub(super) fn on_messages(
        &mut self,
        payload: Vec<u8>,
        duplicate: bool,
        ack: Ack,
        source: Source,
    ) -> Result<Option<SessionEvent>, SessionError> {
        let mut batch = vec![(payload, duplicate, ack)];
        if source == Source::Live {
            for waiting in self.take_waiting(TopicKind::Messages, BATCH - 1) {
                batch.push((waiting.payload, waiting.duplicate, waiting.ack));
            }
        }
        self.take_batch(batch, source, false)
    }

    /// Takes again every held message, once a commit moved the room on
    /// (or a session opens with some saved); those still ahead are held
    /// again, and saved rows that did not read back are forgotten. They
    /// were acknowledged when they were saved, so they owe the broker
    /// nothing.
    pub(super) fn release_held(&mut self) -> Result<(), SessionError> {
        let batch = (std::mem::take(&mut self.held).into_iter())
            .map(|held| (held.payload, held.duplicate, Ack::settled()))
            .collect();
        self.take_batch(batch, Source::Live, true).map(drop)
    }

    /// Loads the messages held when the last session of this room ended,
    /// to be taken again first.
    pub(super) fn load_held(&mut self) -> Result<(), SessionError> {
        let (payloads, unreadable) = self.store.held(&self.room_id)?;
        if unreadable > 0 {
            self.buffered.push_back(SessionEvent::Warning(format!(
                "{unreadable} saved messages waiting for a later key could not be read back (damaged storage); they are dropped"
            )));
        }
        // Marked as copies: a replay warning about one would be noise.
        self.held = (payloads.into_iter())
            .map(|payload| Held {
                payload,
                duplicate: true,
            })
            .collect();
        self.release_due = !self.held.is_empty() || unreadable > 0;
        Ok(())
    }

    /// Checks, saves and queues for showing one batch of messages;
    /// `release` when it is every held message, taken again.
    fn take_batch(
        &mut self,
        batch: Vec<(Vec<u8>, bool, Ack)>,
        source: Source,
        release: bool,
    ) -> Result<Option<SessionEvent>, SessionError> {
        let now = now_ms();
        // One pass, in one transaction: signatures checked in batches, the
        // room's rules applied in order, the accepted ones saved with the
        // room state they change (the store keeps the room cached, so
        // this reads nothing while no other process has written).
        let payloads: Vec<&[u8]> = batch
            .iter()
            .map(|(payload, _, _)| payload.as_slice())
            .collect();
        // Messages shown since the last transaction are marked in this one.
        let shown: Vec<_> = (self.unconfirmed.iter())
            .map(|(sender, seq, _, _)| (*sender, *seq))
            .collect();
        let already_held = self.held.len();
        let (results, room, holds) = self
            .store
            .update_room_with_history(
                &self.room_id,
                |room| {
                    let results = room.receive_batch(&payloads, now);
                    let holds = to_hold(&results, already_held);
                    let history = (results.iter())
                        .filter_map(|result| match result {
                            Ok(Received::Accepted(delivery)) => {
                                Some(StoredMessage::received(delivery, now))
                            }
                            _ => None,
                        })
                        .collect();
                    let hold = (payloads.iter().zip(&holds))
                        .filter(|(_, hold)| **hold)
                        .map(|(payload, _)| payload.to_vec())
                        .collect();
                    let writes = BatchWrites {
                        history,
                        hold,
                        release_held: release,
                    };
                    Ok::<_, Infallible>(((results, room.clone(), holds), writes))
                },
                false,
                &shown,
            )?
            .unwrap_or_else(|never| match never {});
        for (_, _, ack, source) in std::mem::take(&mut self.unconfirmed) {
            self.ack(ack, source);
        }
        self.flush_at = None;
        if let Ok(mut snapshot) = self.snapshot.lock() {
            *snapshot = room;
        }
        let mut steps = Vec::with_capacity(batch.len());
        // Messages this session took and has not marked shown yet: a second
        // copy of one (on another epoch's topic, through another broker
        // session) is a duplicate, not a message saved by a process that
        // died before showing it.
        let mut taken: Vec<(Fingerprint, u64)> = (self.to_confirm.iter())
            .chain(self.unconfirmed.iter())
            .map(|(sender, seq, _, _)| (*sender, *seq))
            .collect();
        for (((payload, duplicate, ack), result), hold) in batch.into_iter().zip(results).zip(holds)
        {
            if hold {
                // Saved in the batch's transaction: acknowledged now, so
                // the messages after it are not held back.
                self.held.push(Held { payload, duplicate });
                self.ack(ack, source);
                continue;
            }
            match result {
                Ok(Received::Accepted(delivery)) => {
                    taken.push((delivery.fingerprint, delivery.seq));
                    steps.push(Step::Accepted(delivery, ack));
                }
                Ok(Received::OwnEcho) => {
                    self.ack(ack, source);
                    if !duplicate
                        && source == Source::Live
                        && let Some((_, seq)) = self.snapshot().message_origin(&payload)
                    {
                        steps.push(Step::Event(SessionEvent::OwnEcho { seq }));
                    }
                }
                Err(OpenError::Replayed(seq)) => match self.unshown(&payload, seq, &taken)? {
                    Some(delivery) => steps.push(Step::Unshown(delivery, ack)),
                    None => {
                        self.ack(ack, source);
                        // Acknowledged late, arriving through an old
                        // session being drained too, or a copy on a past
                        // epoch's topic: not an attack.
                        let copy_of_taken = (self.snapshot().message_origin(&payload))
                            .is_some_and(|(sender, _)| taken.contains(&(sender, seq)));
                        if !duplicate
                            && !copy_of_taken
                            && source == Source::Live
                            && let Some(event) = self.warnings.admit(OpenError::Replayed(seq))
                        {
                            steps.push(Step::Event(event));
                        }
                    }
                },
                Err(err) => {
                    self.ack(ack, source);
                    if let Some(event) = self.warnings.admit_payload(err, &payload) {
                        steps.push(Step::Event(event));
                    }
                }
            }
        }
        for step in steps {
            match step {
                Step::Accepted(delivery, ack) | Step::Unshown(delivery, ack) => {
                    self.queue_message(delivery, ack, source);
                }
                Step::Event(event) => self.buffered.push_back(event),
            }
        }
        Ok(None)
    }
    /// Takes up to `max` publishes of one kind of topic that are already
    /// waiting, in order, stopping at the first of another kind (left to
    /// be read next).
    pub(super) fn take_waiting(&mut self, kind: TopicKind, max: usize) -> Vec<Waiting> {
        let mut taken = Vec::new();
        while taken.len() < max {
            match self.transport.try_next_event() {
                Some(TransportEvent::Message {
                    topic,
                    payload,
                    duplicate,
                    ack,
                    ..
                }) if self.topics.classify(&topic) == kind => taken.push(Waiting {
                    topic,
                    payload,
                    duplicate,
                    ack,
                }),
                Some(other) => {
                    self.transport.unread(other);
                    break;
                }
                None => break,
            }
        }
        taken
    }

    /// Queues a message to show; it is confirmed only once it has been
    /// handed out (see [`RoomSession::take_buffered`]).
    fn queue_message(&mut self, delivery: Delivery, ack: Ack, source: Source) {
        self.to_confirm
            .push_back((delivery.fingerprint, delivery.seq, ack, source));
        self.buffered.push_back(SessionEvent::Message(delivery));
    }

    /// The next queued event; a message becomes one to confirm once shown.
    pub(super) fn take_buffered(&mut self) -> Option<SessionEvent> {
        let event = self.buffered.pop_front()?;
        if matches!(event, SessionEvent::Message(_))
            && let Some(confirm) = self.to_confirm.pop_front()
        {
            self.unconfirmed.push(confirm);
            self.flush_at
                .get_or_insert_with(|| tokio::time::Instant::now() + FLUSH_DELAY);
        }
        Some(event)
    }

    /// The saved, never shown message a replayed payload stands for, if so
    /// (and if this session has not taken it itself: see `taken`).
    fn unshown(
        &self,
        payload: &[u8],
        seq: u64,
        taken: &[(Fingerprint, u64)],
    ) -> Result<Option<Delivery>, SessionError> {
        let room = self.snapshot();
        let Some((sender, _)) = room.message_origin(payload) else {
            return Ok(None);
        };
        if taken.contains(&(sender, seq)) {
            return Ok(None);
        }
        Ok(self
            .store
            .unshown_message(&self.room_id, &sender, seq)?
            .map(|stored| stored.to_delivery()))
    }

    /// Clears the marks of the messages shown so far and acknowledges
    /// them. An error means nothing was acknowledged.
    pub(super) fn confirm_shown(&mut self) -> Result<(), SessionError> {
        if self.unconfirmed.is_empty() {
            return Ok(());
        }
        let shown: Vec<_> = (self.unconfirmed.iter())
            .map(|(sender, seq, _, _)| (*sender, *seq))
            .collect();
        self.store.mark_shown(&self.room_id, &shown)?;
        for (_, _, ack, source) in std::mem::take(&mut self.unconfirmed) {
            self.ack(ack, source);
        }
        self.flush_at = None;
        Ok(())
    }
}

/// Which results of a batch are messages to hold for a later epoch, given
/// how many are held already (the rest are refused past [`MAX_HELD`]).
fn to_hold<T>(results: &[Result<Received<T>, OpenError>], already_held: usize) -> Vec<bool> {
    let mut held = already_held;
    (results.iter())
        .map(|result| {
            let ahead = matches!(result, Err(OpenError::WrongEpoch { got, current })
                if got > current && got - current <= HELD_EPOCHS_AHEAD);
            let hold = ahead && held < MAX_HELD;
            held += usize::from(hold);
            hold
        })
        .collect()
}
