//! Presence records, taken in batches: every record already waiting is
//! checked in memory and the accepted ones saved in one write, so a burst
//! of retained records (a big room, or a member's flood) costs one state
//! write per batch instead of one per record, and a few lines of output.

use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex};

use tokio::time::Instant;

use super::{RoomSession, SETTLE, SessionError, SessionEvent, Source, next_attempt, now_ms};
use crate::identity::Identity;
use crate::protocol::OpenError;
use crate::protocol::presence::Status;
use crate::room::Room;
use crate::room::{Notice, PresenceUpdate, Received};
use crate::topics::RoomTopics;
use crate::topics::TopicKind;
use crate::transport::{Announcement, Publication};

/// Most records taken in one batch.
const BATCH: usize = 512;
/// Most presence changes shown one by one per batch; the rest are counted.
/// A changed key is always shown.
const SHOWN: usize = 20;

impl RoomSession {
    /// Handles a presence record and every other one already waiting.
    pub(super) fn on_presence(
        &mut self,
        topic: &str,
        payload: Vec<u8>,
        source: Source,
    ) -> Result<Option<SessionEvent>, SessionError> {
        let mut batch = vec![(topic.to_owned(), payload)];
        if source == Source::Live {
            for waiting in self.take_waiting(TopicKind::Presence, BATCH - 1) {
                // QoS 0: nothing owed, but keep the rule uniform.
                self.ack(waiting.ack, source);
                batch.push((waiting.topic, waiting.payload));
            }
        }
        let now = now_ms();
        // Refused records (junk, replays, a full member table) are told
        // apart in memory, so a flood of them costs no disk I/O.
        let mut trial = self.snapshot();
        let mut accepted = Vec::new();
        let mut refused = Vec::new();
        for (topic, payload) in batch {
            // An empty retained publish clears a topic: not a record.
            if payload.is_empty() {
                continue;
            }
            let member = self
                .topics
                .presence_member_id(&topic)
                .unwrap_or_default()
                .to_owned();
            match trial.receive_presence(&payload, &member, now) {
                Ok(Received::Accepted(_)) => accepted.push((member, payload)),
                // A late or replayed record is normal (the retained one, or
                // our own will after a goodbye): not worth a warning.
                Ok(Received::OwnEcho) | Err(OpenError::OutdatedPresence(_)) => {}
                Err(err) => refused.push(err),
            }
        }
        let updates = if accepted.is_empty() {
            Vec::new()
        } else {
            self.store
                .update_room(&self.room_id, |room| {
                    let updates: Vec<PresenceUpdate> = accepted
                        .iter()
                        .filter_map(|(member, payload)| {
                            match room.receive_presence(payload, member, now) {
                                Ok(Received::Accepted(update)) => Some(update),
                                _ => None,
                            }
                        })
                        .collect();
                    if let Ok(mut snapshot) = self.snapshot.lock() {
                        snapshot.clone_from(room);
                    }
                    Ok::<_, ()>(updates)
                })?
                .unwrap_or_default()
        };
        if !updates.is_empty() {
            self.settle_at
                .get_or_insert_with(|| Instant::now() + SETTLE);
        }
        let mut events = Vec::new();
        let mut unshown = 0;
        for update in updates {
            let key_changed =
                (update.notices.iter()).any(|n| matches!(n, Notice::KeyChanged { .. }));
            if key_changed || events.len() < SHOWN {
                events.push(SessionEvent::Presence(update));
            } else {
                unshown += 1;
            }
        }
        if unshown > 0 {
            events.push(SessionEvent::Warning(format!(
                "{unshown} more members appeared or changed status at once (a big room, or a member flooding it); `sotto members` lists them"
            )));
        }
        events.extend(
            refused
                .into_iter()
                .filter_map(|err| self.warnings.admit(err)),
        );
        let mut events = events.into_iter();
        let first = events.next();
        self.buffered.extend(events);
        Ok(first)
    }
}

/// Seals a fresh "online" record and last will before every attempt.
pub(super) fn presence_announcer(
    identity: &Arc<Identity>,
    topics: &RoomTopics,
    last_attempt: &Arc<AtomicU64>,
    last_sent: &Arc<AtomicU64>,
    snapshot: &Arc<Mutex<Room>>,
) -> impl FnMut() -> Announcement + Send + 'static {
    let identity = identity.clone();
    let last_attempt = last_attempt.clone();
    let last_sent = last_sent.clone();
    let snapshot = snapshot.clone();
    let presence_topic = topics.own_presence.clone();
    move || {
        let k = next_attempt(&last_attempt);
        let room = match snapshot.lock() {
            Ok(room) => room.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        };
        // Not a member yet (or no longer): nothing to announce.
        if !room.is_member_now() {
            return Announcement::default();
        }
        let mut rng = rand::rng();
        let now = now_ms();
        let mut record = |status, seq| Publication {
            topic: presence_topic.clone(),
            payload: room.seal_presence_announcing(
                &identity,
                status,
                seq,
                last_sent.load(std::sync::atomic::Ordering::SeqCst),
                now,
                &mut rng,
            ),
            retain: true,
        };
        Announcement {
            will: Some(record(Status::Offline, 2 * k + 1)),
            on_connect: vec![record(Status::Online, 2 * k)],
        }
    }
}
