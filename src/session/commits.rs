//! Our own commits on the broker: making one and publishing it with its
//! key slots (on the epoch it leaves, and on older epochs where members
//! who were away still listen), one made offline (a hand-over), the
//! genesis of an older room, leaving, and the quiet broker sessions that
//! keep a new epoch's messages queued for us.

use super::broker_config::{record_granted, room_options};
use super::membership::subscriptions;
use super::{BROKER_TIMEOUT, BrokerConfig, RoomSession, SessionError, client_id, now_ms};
use crate::log::Change;
use crate::room::{MembershipChange, Room, UnpublishedCommit};
use crate::store::Store;
use crate::topics::RoomTopics;
use crate::transport::{Announcement, Publication, Transport};

impl RoomSession {
    /// Makes a membership change of ours: saved first, then the key slots
    /// and the commit are published (retained) on the epoch we leave, and
    /// the session moves to the new epoch.
    pub async fn commit(
        &mut self,
        change: Change,
    ) -> Result<(u64, MembershipChange), SessionError> {
        let identity = self.identity.clone();
        let now = now_ms();
        let admitted = matches!(change, Change::Admit { .. }).then(|| change.clone());
        let before = self.room()?;
        let rotation = self.store.update_room(&self.room_id, |room| {
            room.make_commit(&identity, change, now, &mut rand::rng())
        })??;
        let room = self.room()?;
        for topic in RoomTopics::forgotten_retained(&self.broker.prefix, &before, &room) {
            self.transport
                .publish(Publication {
                    topic,
                    payload: Vec::new(),
                    retain: true,
                })
                .await?;
        }
        for publication in commit_publications(&self.topics, &room, &rotation.to_publish()) {
            self.transport.publish(publication).await?;
        }
        // Someone let in on request listens on their invite's epoch.
        if let Some(Change::Admit { ticket, joiner }) = &admitted {
            let fingerprint = joiner.fingerprint();
            let invite_epoch = self.topics.of_epoch(ticket.epoch).cloned();
            let slot = rotation.slots.iter().find(|(fp, _)| *fp == fingerprint);
            if let (Some(topics), Some(context), Some((_, slot))) =
                (invite_epoch, room.context_for(ticket.epoch), slot)
            {
                self.transport
                    .publish(Publication {
                        topic: topics.key_slot_of(context, &fingerprint),
                        payload: slot.clone(),
                        retain: true,
                    })
                    .await?;
            }
        }
        self.refresh_snapshot();
        self.switch_epoch().await?;
        Ok((rotation.epoch, rotation.change))
    }

    /// Moves a room made before the membership log onto one, as its
    /// creator: a genesis commit listing every member the room knows,
    /// published with their key slots; the session moves to the new epoch.
    pub async fn move_to_log(&mut self) -> Result<(u64, MembershipChange), SessionError> {
        let identity = self.identity.clone();
        let now = now_ms();
        let rotation = self.store.update_room(&self.room_id, |room| {
            room.write_genesis(&identity, now, &mut rand::rng())
        })??;
        let room = self.room()?;
        for publication in commit_publications(&self.topics, &room, &rotation.to_publish()) {
            self.transport.publish(publication).await?;
        }
        self.refresh_snapshot();
        self.switch_epoch().await?;
        Ok((rotation.epoch, rotation.change))
    }

    /// Publishes the commit of ours made offline (the hand-over of `init
    /// --force`), if there is one, and forgets it once the broker has it.
    pub(super) async fn publish_offline_commit(&mut self, room: &Room) -> Result<(), SessionError> {
        let Some(commit) = room.unpublished_commit() else {
            return Ok(());
        };
        for publication in commit_publications(&self.topics, room, commit) {
            self.transport.publish(publication).await?;
        }
        self.store
            .update_room(&self.room_id, |room| {
                room.commit_published();
                Ok::<_, std::convert::Infallible>(())
            })?
            .unwrap_or_else(|never| match never {});
        self.refresh_snapshot();
        Ok(())
    }

    /// After our leave: clears our retained presence and closes without
    /// a last word, so nothing of ours stays on the broker.
    pub async fn leave(self) {
        // Our retained records in every epoch we still know: presence and
        // join request.
        for epoch in std::iter::once(&self.topics.current).chain(&self.topics.past) {
            for topic in [&epoch.own_presence, &epoch.own_request] {
                let clear = Publication {
                    topic: topic.clone(),
                    payload: Vec::new(),
                    retain: true,
                };
                // Acknowledged before the connection closes, so none is
                // lost behind the disconnect.
                let _ = self.transport.publish_acked(clear, BROKER_TIMEOUT).await;
            }
        }
        let mut this = self;
        if let Some(retiring) = this.retiring.take() {
            retiring.abandon().await;
        }
        // The broker sessions of this room: ours, and old ones not yet
        // drained. Nothing sent to the room is ours to read any more.
        let mut ids = this
            .store
            .recorded_client_ids(&this.room_id)
            .unwrap_or_default();
        ids.push(this.client_id.clone());
        let RoomSession {
            transport,
            broker,
            version,
            ..
        } = this;
        transport.shutdown(None).await;
        for id in ids {
            super::retire::delete_broker_session(&broker, version, &id).await;
        }
    }

    /// Creates the broker session of the epoch the room moved to without
    /// moving this session there (it is closing): subscribed, so the
    /// broker queues for us, and quiet (no presence: others go on seeing
    /// us in the old epoch, and also publish there, until we are back).
    pub(super) async fn prepare_next_session(&mut self) {
        let Ok(room) = self.room() else {
            return;
        };
        if RoomTopics::new(&self.broker.prefix, &room).current == self.topics.current {
            return;
        }
        if make_quiet_session(&self.store, &self.broker, &room).await {
            let _ = self
                .store
                .record_client_id_to_retire(&self.room_id, &self.client_id);
        }
    }
}

/// Where a commit of ours and its key slots go: retained on the topics of
/// the epoch it leaves, and, for members away since an older epoch (their
/// broker sessions listen on that epoch's topics), the commit and their
/// slots there too.
pub(super) fn commit_publications(
    topics: &RoomTopics,
    room: &Room,
    commit: &UnpublishedCommit,
) -> Vec<Publication> {
    let mut publications = Vec::new();
    if let (Some(old), Some(context)) = (
        topics.of_epoch(commit.from_epoch),
        room.context_for(commit.from_epoch),
    ) {
        for (member, slot) in &commit.slots {
            publications.push(Publication {
                topic: old.key_slot_of(context, member),
                payload: slot.clone(),
                retain: true,
            });
        }
        publications.push(Publication {
            topic: old.own_commit.clone(),
            payload: commit.commit.clone(),
            retain: true,
        });
    }
    for epoch in room.lagging_epochs() {
        if epoch == commit.from_epoch {
            continue;
        }
        let (Some(lagging), Some(context)) = (topics.of_epoch(epoch), room.context_for(epoch))
        else {
            continue;
        };
        for (member, _) in room.members_lagging_in(epoch) {
            if let Some((_, slot)) = commit.slots.iter().find(|(fp, _)| *fp == member) {
                publications.push(Publication {
                    topic: lagging.key_slot_of(context, &member),
                    payload: slot.clone(),
                    retain: true,
                });
            }
        }
        publications.push(Publication {
            topic: lagging.own_commit.clone(),
            payload: commit.commit.clone(),
            retain: false,
        });
    }
    publications
}

/// Makes the broker session of a room this home has just created, so
/// what members send before its first `chat`, `listen` or `send` is
/// queued for it: a broker keeps messages only for sessions it has.
/// Whether the broker took it (true also when a running session of this
/// home holds the room already).
pub async fn prepare_room_session(
    store: &Store,
    broker: &BrokerConfig,
    room_name: &str,
) -> Result<bool, SessionError> {
    let room = store.room(room_name)?;
    let Some(_lock) = store.session_lock(room.id())? else {
        return Ok(true);
    };
    let broker = broker.with_remembered_version(store);
    Ok(make_quiet_session(store, &broker, &room).await)
}

/// Makes (or keeps) the broker session of `room`'s current epoch under
/// this home's client id for it: subscribed, so the broker queues what is
/// sent there, and quiet (no presence). Whether the broker took it.
///
/// Only for a caller holding the room's session lock: a second connection
/// under the client id of a running session would push it off the broker.
pub(super) async fn make_quiet_session(store: &Store, broker: &BrokerConfig, room: &Room) -> bool {
    let Ok(secret) = store.client_secret() else {
        return false;
    };
    let topics = RoomTopics::new(&broker.prefix, room);
    let client_id = client_id::client_id(&secret, room);
    let subscriptions = subscriptions(&topics, room.needs_log_state());
    let options = room_options(broker, store, room.id(), client_id.clone(), &subscriptions);
    let Ok(mut transport) = Transport::start(options, subscriptions.clone(), Announcement::default)
    else {
        return false;
    };
    let connected = transport.wait_connected(BROKER_TIMEOUT).await.is_ok();
    if connected {
        record_granted(store, room.id(), &client_id, &subscriptions);
    }
    transport.shutdown(None).await;
    connected
}
