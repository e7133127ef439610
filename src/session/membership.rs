//! The membership log on the wire: commits and key slots as they arrive,
//! our own commits (an invite redeemed, a kick, a leave), the log state
//! kept on the broker for joiners, and moving the session to each new
//! epoch's topics and client id.

use super::presence::presence_announcer;
use super::{BROKER_TIMEOUT, RoomSession, SessionError, SessionEvent, Source, client_id, now_ms};
use crate::log::{Change, LogState};
use crate::protocol::wire::{self, Kind, MAX_ENVELOPE_LEN};
use crate::protocol::{OpenError, sealing};
use crate::room::{CommitRefused, Membership, MembershipChange, Room};
use crate::topics::{RoomTopics, TopicKind};
use crate::transport::{
    Ack, Publication, Subscription, SubscriptionKind, Transport, TransportEvent,
};

const STATE_LABEL: &[u8] = b"sotto/v1/log-state";

/// The subscriptions of a room's session.
pub(super) fn subscriptions(topics: &RoomTopics, joining: bool) -> Vec<Subscription> {
    let mut all = vec![
        Subscription {
            filter: topics.current.messages.clone(),
            kind: SubscriptionKind::Reliable,
        },
        Subscription {
            filter: topics.current.presence_filter.clone(),
            kind: SubscriptionKind::Live,
        },
        Subscription {
            filter: topics.current.own_key_slot.clone(),
            kind: SubscriptionKind::Reliable,
        },
        Subscription {
            filter: topics.current.commit_filter.clone(),
            kind: SubscriptionKind::Reliable,
        },
    ];
    if joining {
        all.push(Subscription {
            filter: topics.current.state.clone(),
            kind: SubscriptionKind::Live,
        });
    }
    for past in &topics.past {
        all.push(Subscription {
            filter: past.messages.clone(),
            kind: SubscriptionKind::Reliable,
        });
        all.push(Subscription {
            filter: past.commit_filter.clone(),
            kind: SubscriptionKind::Reliable,
        });
    }
    all
}

/// Why our own membership change could not be made.
#[derive(Debug, thiserror::Error)]
pub enum MembershipError {
    /// The invite's log state never came from the broker.
    #[error(
        "the room's member list is not on the broker yet; ask {0} to open the room once (sotto chat or listen), then try again"
    )]
    NoState(String),
}

impl RoomSession {
    /// Routes a commit, key slot or log state record.
    pub(super) fn on_membership(
        &mut self,
        kind: TopicKind,
        payload: Vec<u8>,
        ack: Ack,
        source: Source,
    ) -> Result<Option<SessionEvent>, SessionError> {
        let identity = self.identity.clone();
        let now = now_ms();
        let outcome = match kind {
            TopicKind::Commit => self
                .store
                .update_room(&self.room_id, |room| room.receive_commit(&payload, now))?,
            TopicKind::KeySlot => self.store.update_room(&self.room_id, |room| {
                room.receive_key_slot(&identity, &payload, now)
            })?,
            TopicKind::State => {
                let adopted = self.adopt_state(&payload);
                self.ack(ack, source);
                return adopted;
            }
            _ => Ok(Membership::Nothing),
        };
        self.ack(ack, source);
        self.refresh_snapshot();
        match outcome {
            Ok(Membership::Moved {
                epoch,
                change,
                replaced_ours,
            }) => {
                self.switch_pending = true;
                if let Some(ours) = replaced_ours {
                    self.buffered.push_back(SessionEvent::Warning(format!(
                        "another membership change came at the same moment as yours and took precedence; yours ({}) was not made, run it again if still needed",
                        describe_change(&ours)
                    )));
                }
                Ok(Some(SessionEvent::Membership { change, epoch }))
            }
            Ok(Membership::Removed { by }) => Ok(Some(SessionEvent::Removed { by })),
            Ok(Membership::Waiting | Membership::Nothing) => Ok(None),
            Err(CommitRefused::Open(OpenError::WrongEpoch { .. })) => Ok(None),
            Err(err) => Ok(self.warnings.admit_text(err.to_string())),
        }
    }

    fn refresh_snapshot(&mut self) {
        if let Ok(room) = self.room()
            && let Ok(mut snapshot) = self.snapshot.lock()
        {
            *snapshot = room;
        }
    }

    fn adopt_state(&mut self, payload: &[u8]) -> Result<Option<SessionEvent>, SessionError> {
        let room = self.room()?;
        if !room.needs_log_state() {
            return Ok(None);
        }
        let Ok(state) = open_state(&room, payload) else {
            return Ok(None);
        };
        self.store
            .update_room(&self.room_id, |room| room.adopt_log_state(state))?
            .ok();
        self.refresh_snapshot();
        Ok(None)
    }

    /// Redeems the invite of a room joined and not yet added: waits for
    /// the log state if the invite did not carry it, then commits our add.
    pub(super) async fn redeem_invite(&mut self) -> Result<(), SessionError> {
        let deadline = tokio::time::Instant::now() + BROKER_TIMEOUT;
        while self.room()?.needs_log_state() {
            let event = tokio::select! {
                event = self.transport.next_event() => event,
                () = tokio::time::sleep_until(deadline) => None,
            };
            match event {
                Some(TransportEvent::Message {
                    topic,
                    payload,
                    ack,
                    ..
                }) if self.topics.classify(&topic) == TopicKind::State => {
                    self.adopt_state(&payload)?;
                    self.ack(ack, Source::Live);
                }
                Some(TransportEvent::Message {
                    topic,
                    payload,
                    duplicate,
                    ack,
                    retained,
                }) => self.transport.unread(TransportEvent::Message {
                    topic,
                    payload,
                    duplicate,
                    ack,
                    retained,
                }),
                Some(other) => {
                    if let Some(event) = self.on_transport(other, Source::Live)? {
                        self.buffered.push_back(event);
                    }
                }
                None => {
                    let inviter = self
                        .room()?
                        .inviter_name()
                        .unwrap_or("the inviter")
                        .to_owned();
                    return Err(SessionError::Membership(MembershipError::NoState(inviter)));
                }
            }
        }
        let Some(ticket) = self.room()?.joining_ticket().cloned() else {
            return Ok(());
        };
        self.commit(Change::Add { ticket }).await.map(|_| ())
    }

    /// Makes a membership change of ours: saved first, then the key slots
    /// and the commit are published (retained) on the epoch we leave, and
    /// the session moves to the new epoch.
    pub async fn commit(
        &mut self,
        change: Change,
    ) -> Result<(u64, MembershipChange), SessionError> {
        let identity = self.identity.clone();
        let now = now_ms();
        let rotation = self.store.update_room(&self.room_id, |room| {
            room.make_commit(&identity, change, now, &mut rand::rng())
        })??;
        let room = self.room()?;
        let old = self.topics.of_epoch(rotation.from_epoch).cloned();
        if let (Some(old), Some(context)) = (old, room.context_for(rotation.from_epoch)) {
            for (member, slot) in &rotation.slots {
                self.transport
                    .publish(Publication {
                        topic: old.key_slot_of(context, member),
                        payload: slot.clone(),
                        retain: true,
                    })
                    .await?;
            }
            self.transport
                .publish(Publication {
                    topic: old.own_commit.clone(),
                    payload: rotation.commit.clone(),
                    retain: true,
                })
                .await?;
        }
        self.refresh_snapshot();
        self.switch_epoch().await?;
        Ok((rotation.epoch, rotation.change))
    }

    /// After our leave: clears our retained presence and closes without
    /// a last word, so nothing of ours stays on the broker.
    pub async fn leave(self) {
        let clear = Publication {
            topic: self.topics.current.own_presence.clone(),
            payload: Vec::new(),
            retain: true,
        };
        let _ = self.transport.publish(clear).await;
        let mut this = self;
        if let Some(retiring) = this.retiring.take() {
            retiring.abandon().await;
        }
        this.transport.shutdown(None).await;
    }

    /// Moves the session to the room's current epoch: its topics and its
    /// client id. The old broker session is drained and deleted like one
    /// left by an older sotto.
    pub(super) async fn switch_epoch(&mut self) -> Result<(), SessionError> {
        self.switch_pending = false;
        self.confirm_shown()?;
        let room = self.room()?;
        if let Ok(mut snapshot) = self.snapshot.lock() {
            *snapshot = room.clone();
        }
        let topics = RoomTopics::new(&self.broker.prefix, &room);
        if topics.current == self.topics.current {
            return Ok(());
        }
        let client_id = client_id::client_id(&self.store.client_secret()?, &room);
        let announce = presence_announcer(
            &self.identity,
            &topics,
            &self.last_attempt,
            &self.last_sent,
            &self.snapshot,
        );
        let options = self.broker.options(client_id.clone(), false);
        let transport = Transport::start(options, subscriptions(&topics, false), announce)?;
        let old = std::mem::replace(&mut self.transport, transport);
        let old_id = std::mem::replace(&mut self.client_id, client_id);
        self.topics = topics;
        old.shutdown(None).await;
        let (connected, notes) = self.transport.wait_connected(BROKER_TIMEOUT).await?;
        for note in notes {
            if let Some(event) = self.on_transport(note, Source::Live)? {
                self.buffered.push_back(event);
            }
        }
        if let Some(event) = self.on_transport(connected, Source::Live)? {
            self.buffered.push_back(event);
        }
        self.publish_state(&room).await;
        if self.retiring.is_none() {
            let _ = self.store.set_last_client_id(&self.room_id, &old_id);
            self.start_retiring(&room).await;
        }
        Ok(())
    }

    /// Keeps the log state of the current epoch on the broker (retained)
    /// for joiners whose invite did not carry it. A state too large for
    /// one payload is not published.
    pub(super) async fn publish_state(&self, room: &Room) {
        let Some(state) = room.log() else {
            return;
        };
        if room.is_joining() || room.removed_by().is_some() {
            return;
        }
        let payload = sealing::seal(
            Kind::Roster,
            STATE_LABEL,
            room.context(),
            &self.identity,
            state,
            &mut rand::rng(),
        );
        if payload.len() > MAX_ENVELOPE_LEN {
            return;
        }
        let _ = self
            .transport
            .publish(Publication {
                topic: self.topics.current.state.clone(),
                payload,
                retain: true,
            })
            .await;
    }
}

fn open_state(room: &Room, payload: &[u8]) -> Result<LogState, OpenError> {
    let unverified =
        sealing::open_unverified(Kind::Roster, STATE_LABEL, room.context(), payload, |c| {
            Ok(wire::decode_exact::<LogState>(c, MAX_ENVELOPE_LEN)?)
        })?;
    // Any member may publish it; what makes it believable is that its hash
    // is the one the invite named (checked by `adopt_log_state`).
    Ok(unverified.content)
}

/// A change in a few words, for a warning.
pub(super) fn describe_change(change: &Change) -> &'static str {
    match change {
        Change::Add { .. } => "your join",
        Change::Remove { .. } => "a removal",
        Change::Leave => "your leave",
        Change::Admin { .. } => "an admin grant",
        Change::Rotate => "a key rotation",
        Change::Create { .. } | Change::Genesis { .. } => "the room's creation",
    }
}
