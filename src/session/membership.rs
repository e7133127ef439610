//! The membership log on the wire: commits and key slots as they arrive,
//! our own commits (an invite redeemed, a kick, a leave), the log state
//! kept on the broker for joiners, and moving the session to each new
//! epoch's topics and client id.

use super::presence::presence_announcer;
use super::retire::Retiring;
use super::{BROKER_TIMEOUT, RoomSession, SessionError, SessionEvent, Source, client_id, now_ms};
use crate::log::{Change, LogState};
use crate::protocol::wire::{self, Kind, MAX_ENVELOPE_LEN};
use crate::protocol::{OpenError, sealing};
use crate::room::{CommitRefused, Membership, Room};
use crate::topics::{RoomTopics, TopicKind};
use crate::transport::{Ack, Publication, Subscription, SubscriptionKind, Transport};

use crate::log::STATE_LABEL;

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
        Subscription {
            filter: topics.current.request_filter.clone(),
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
        all.push(Subscription {
            filter: past.request_filter.clone(),
            kind: SubscriptionKind::Reliable,
        });
    }
    all
}

/// How long opening a room waits for a member to let a joiner in before
/// going on (the answer can also come later).
const ADMISSION_WAIT: std::time::Duration = std::time::Duration::from_secs(5);

/// How long after connecting a joiner listens for commits that show the
/// room moved on since its invite was made, before committing its add.
const JOIN_QUIET: std::time::Duration = std::time::Duration::from_millis(500);

/// Why our own membership change could not be made.
#[derive(Debug, thiserror::Error)]
pub enum MembershipError {
    /// The invite's log state never came from the broker.
    #[error(
        "the room's member list is not on the broker yet; ask {0} to open the room once (sotto chat or listen), then try again"
    )]
    NoState(String),
    /// The room moved on since the invite was made and nobody answered.
    #[error(
        "the room changed since this invite was made, and no member was online to let you in; try again while one is (they run sotto chat or listen)"
    )]
    NoSponsor,
    /// The log refused our invite.
    #[error("{0}")]
    Refused(String),
}

/// Work the session must do between events (it needs to publish).
#[derive(Debug, Default)]
pub(super) struct Chores {
    /// Our join request must be published.
    pub(super) request: bool,
    /// Our retained join request must be cleared (we are in).
    pub(super) clear_request: bool,
    /// Join requests to answer with an admit commit.
    pub(super) admits: Vec<Change>,
    /// Join requests to answer later if still open: when, and the request.
    pub(super) later: Vec<(tokio::time::Instant, Vec<u8>)>,
    /// The epoch we last tried a scheduled rotation in (once per epoch,
    /// so a failing one does not spin).
    pub(super) rotated_in: Option<u64>,
    /// Join requests the log refuses, to answer with a refusal: the
    /// request and why.
    pub(super) refusals: Vec<(Vec<u8>, String)>,
}

/// How long a member who is not the first to answer join requests waits
/// before answering one still open.
const ANSWER_LATER: std::time::Duration = std::time::Duration::from_secs(8);

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
            TopicKind::Request => {
                if let Some((by, reason)) = self.room()?.receive_refusal(&payload) {
                    self.ack(ack, source);
                    return Ok(Some(SessionEvent::JoinRefused { by, reason }));
                }
                let answer = self
                    .room()
                    .map(|room| room.receive_join_request(&payload, now));
                self.ack(ack, source);
                let first = self.room()?.answers_requests_first();
                return Ok(match answer? {
                    Ok(Some(change)) if first => {
                        self.chores.admits.push(change);
                        None
                    }
                    Ok(Some(_)) => {
                        if self.chores.later.len() < 64 {
                            let at = tokio::time::Instant::now() + ANSWER_LATER;
                            self.chores.later.push((at, payload));
                        }
                        None
                    }
                    Ok(None) => None,
                    Err(err) => {
                        // The joiner hears why from the member who answers
                        // first, instead of waiting for an answer.
                        if first
                            && let CommitRefused::Log(reason) = &err
                            && self.chores.refusals.len() < 64
                        {
                            self.chores.refusals.push((payload, reason.to_string()));
                        }
                        self.warnings
                            .admit_text(format!("a join request was refused: {err}"))
                    }
                });
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
                self.release_due = true;
                if let Some(ours) =
                    replaced_ours.filter(|ours| !matches!(**ours, Change::Admit { .. }))
                {
                    self.buffered.push_back(SessionEvent::Warning(format!(
                        "another membership change came at the same moment as yours and took precedence; yours ({}) was not made, run it again if still needed",
                        describe_change(&ours)
                    )));
                }
                Ok(Some(SessionEvent::Membership { change, epoch }))
            }
            Ok(Membership::Removed { by }) => Ok(Some(SessionEvent::Removed { by })),
            Ok(Membership::MustRequest) => {
                self.switch_pending = true;
                self.chores.request = true;
                Ok(Some(SessionEvent::Note(
                    "the room moved on since the invite was made; asking a member to let us in"
                        .into(),
                )))
            }
            Ok(Membership::Admitted { epoch }) => {
                self.switch_pending = true;
                self.release_due = true;
                Ok(Some(SessionEvent::Note(format!(
                    "a member let us in at epoch {epoch}; fetching the member list"
                ))))
            }
            Ok(Membership::Waiting | Membership::Nothing) => Ok(None),
            Err(CommitRefused::Open(OpenError::WrongEpoch { .. })) => Ok(None),
            Err(err) => Ok(self.warnings.admit_text(err.to_string())),
        }
    }

    pub(super) fn refresh_snapshot(&mut self) {
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
        let was_requested = room.is_joining() && room.log().is_none();
        let adopted = self
            .store
            .update_room(&self.room_id, |room| room.adopt_log_state(state, now_ms()))?
            .is_ok();
        self.refresh_snapshot();
        if adopted && was_requested && !self.room()?.is_joining() {
            self.chores.clear_request = true;
            return Ok(Some(SessionEvent::Note(
                "you are in: a member let you in".into(),
            )));
        }
        Ok(None)
    }

    /// Does what events asked for that needs the network: answers join
    /// requests, publishes or clears ours. Returns what to show.
    pub(super) async fn do_chores(&mut self) -> Result<Option<SessionEvent>, SessionError> {
        if self.chores.request {
            self.chores.request = false;
            let room = self.room()?;
            if let Some(request) = room.join_request(&self.identity, &mut rand::rng()) {
                self.transport
                    .publish(Publication {
                        topic: self.topics.current.own_request.clone(),
                        payload: request,
                        retain: true,
                    })
                    .await?;
            }
            return Ok(None);
        }
        if self.chores.clear_request {
            self.chores.clear_request = false;
            for past in self.topics.past.clone() {
                self.transport
                    .publish(Publication {
                        topic: past.own_request.clone(),
                        payload: Vec::new(),
                        retain: true,
                    })
                    .await?;
            }
            return Ok(None);
        }
        if self.settle_at.is_some() {
            return Ok(None);
        }
        let now = tokio::time::Instant::now();
        if let Some(due) = self.chores.later.iter().position(|(at, _)| *at <= now) {
            let (_, request) = self.chores.later.remove(due);
            // Still open: nobody let the joiner in meanwhile.
            if let Ok(Some(change)) = self.room()?.receive_join_request(&request, now_ms()) {
                self.chores.admits.push(change);
            }
        }
        if let Some(change) = self.chores.admits.pop() {
            return Ok(match self.commit(change).await {
                Ok((epoch, change)) => Some(SessionEvent::Membership { change, epoch }),
                // Another member answered first, or the joiner is in.
                Err(SessionError::Room(_)) => None,
                Err(err) => return Err(err),
            });
        }
        if let Some((request, reason)) = self.chores.refusals.pop() {
            let room = self.room()?;
            let answer =
                room.refuse_join_request(&self.identity, &request, &reason, &mut rand::rng());
            if let Some((joiner, epoch, refusal)) = answer
                && let (Some(topics), Some(context)) =
                    (self.topics.of_epoch(epoch), room.context_for(epoch))
            {
                let topic = topics.request_of(context, &joiner);
                self.transport
                    .publish(Publication {
                        topic,
                        payload: refusal,
                        retain: true,
                    })
                    .await?;
            }
            return Ok(None);
        }
        if let Some(epoch) = self.scheduled_rotation() {
            self.chores.rotated_in = Some(epoch);
            return Ok(match self.commit(Change::Rotate).await {
                Ok((epoch, change)) => Some(SessionEvent::Membership { change, epoch }),
                // A concurrent commit moved the room first.
                Err(SessionError::Room(_)) => None,
                Err(err) => return Err(err),
            });
        }
        Ok(None)
    }

    /// The epoch to rotate out of now, if the room's schedule says so and
    /// we have not tried in it yet.
    fn scheduled_rotation(&self) -> Option<u64> {
        let room = self.snapshot.lock().ok()?;
        (room.rotation_due(now_ms()) && self.chores.rotated_in != Some(room.epoch()))
            .then(|| room.epoch())
    }

    /// Whether [`do_chores`](Self::do_chores) has work.
    pub(super) fn has_chores(&self) -> bool {
        let now = tokio::time::Instant::now();
        // Join requests are answered once what the broker queued for us
        // has been taken: a commit waiting there may already have let the
        // joiner in, and answering again would fork the log.
        let settled = self.settle_at.is_none();
        self.chores.request
            || self.chores.clear_request
            || (settled && !self.chores.admits.is_empty())
            || (settled && self.chores.later.iter().any(|(at, _)| *at <= now))
            || (settled && !self.chores.refusals.is_empty())
            || (settled && self.scheduled_rotation().is_some())
    }

    /// When the next delayed answer to a join request is due.
    pub(super) fn next_chore_at(&self) -> Option<tokio::time::Instant> {
        // Until settled nothing is answered; settling wakes the loop.
        if self.settle_at.is_some() {
            return None;
        }
        self.chores.later.iter().map(|(at, _)| *at).min()
    }

    /// Redeems the invite of a room joined and not yet added: waits for
    /// the log state if the invite did not carry it, then commits our add,
    /// or asks a member to let us in when the room moved on since the
    /// invite was made. Returns what happened meanwhile, to show.
    pub(super) async fn redeem_invite(&mut self) -> Result<Vec<SessionEvent>, SessionError> {
        let mut seen = Vec::new();
        let deadline = tokio::time::Instant::now() + BROKER_TIMEOUT;
        while self.room()?.needs_log_state() {
            match tokio::time::timeout_at(deadline, self.next_event()).await {
                Ok(event) => seen.push(event?),
                Err(_) => {
                    let inviter = self
                        .room()?
                        .inviter_name()
                        .unwrap_or("the inviter")
                        .to_owned();
                    return Err(MembershipError::NoState(inviter).into());
                }
            }
        }
        // Retained commits on the invite's epoch show the room moved on.
        while let Ok(event) = tokio::time::timeout(JOIN_QUIET, self.next_event()).await {
            seen.push(event?);
            if !self.room()?.is_joining() {
                return Ok(seen);
            }
        }
        let room = self.room()?;
        if !room.is_requesting()
            && let Some(ticket) = room.joining_ticket().cloned()
        {
            match self.commit(Change::Add { ticket }).await {
                Ok(_) => return Ok(seen),
                Err(SessionError::Room(err)) => {
                    return Err(MembershipError::Refused(err.to_string()).into());
                }
                Err(err) => return Err(err),
            }
        }
        let deadline = tokio::time::Instant::now() + ADMISSION_WAIT;
        while self.room()?.is_joining() {
            match tokio::time::timeout_at(deadline, self.next_event()).await {
                Ok(event) => seen.push(event?),
                Err(_) => {
                    // The request stays retained on the broker: a member who
                    // comes online answers it, and the answer waits for us.
                    seen.push(SessionEvent::Warning(
                        "waiting for a member to let you in: the room changed since your invite was made, and your request waits on the broker until a member comes online".into(),
                    ));
                    break;
                }
            }
        }
        Ok(seen)
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
        let subscriptions = subscriptions(&topics, room.needs_log_state());
        let options = super::broker_config::room_options(
            &self.broker,
            &self.store,
            &self.room_id,
            client_id.clone(),
            &subscriptions,
        );
        let transport = Transport::start(options, subscriptions.clone(), announce)?;
        let old = std::mem::replace(&mut self.transport, transport);
        let old_id = std::mem::replace(&mut self.client_id, client_id);
        self.topics = topics;
        // The old connection is drained, not dropped: what it still holds
        // (and what arrives on the old topics until others move too) is
        // taken through it, then its broker session is deleted.
        // Recorded until drained, so a process that stops first leaves it
        // for the next one rather than stranded at the broker.
        let _ = self
            .store
            .record_client_id_to_retire(&self.room_id, &old_id);
        match self.retiring.as_mut() {
            None => {
                self.retiring = Some(Retiring::from_live(old, old_id));
            }
            // One old session is drained at a time: this one waits its
            // turn at the broker, which keeps what it did not deliver.
            Some(draining) => {
                old.shutdown(None).await;
                draining.queue(old_id);
            }
        }
        let (connected, notes) = self.transport.wait_connected(BROKER_TIMEOUT).await?;
        super::broker_config::record_granted(
            &self.store,
            &self.room_id,
            &self.client_id,
            &subscriptions,
        );
        for note in notes {
            if let Some(event) = self.on_transport(note, Source::Live)? {
                self.buffered.push_back(event);
            }
        }
        if let Some(event) = self.on_transport(connected, Source::Live)? {
            self.buffered.push_back(event);
        }
        self.publish_state(&room).await;
        Ok(())
    }

    /// Keeps the log state of the current epoch on the broker (retained)
    /// for joiners whose invite did not carry it. A state too large for
    /// one payload is not published.
    pub(super) async fn publish_state(&self, room: &Room) {
        let Some(state) = room.log() else {
            return;
        };
        if !room.is_member_now() {
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
        Change::Admit { .. } => "letting someone in",
        Change::Remove { .. } => "a removal",
        Change::Leave => "your leave",
        Change::Admin { .. } => "an admin grant",
        Change::Rotate => "a key rotation",
        Change::HandOver { .. } => "your key change",
        Change::Create { .. } | Change::Genesis { .. } => "the room's creation",
    }
}
