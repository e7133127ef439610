//! Presence in a room: sealing our records, taking others', and the gaps
//! their announced message numbers reveal.

use rand_core::CryptoRng;

use super::{Member, Notice, PresenceUpdate, Received, Room, Trust};
use crate::identity::{Fingerprint, Identity};
use crate::protocol::OpenError;
use crate::protocol::presence::{self, Status};

impl Room {
    /// Seals our presence record with sequence number `seq`, announcing the
    /// last message sequence number we have used so others can tell what
    /// they missed.
    ///
    /// The caller picks `seq` so that each connection's "online" record
    /// sorts before its last-will "offline" record, and both after every
    /// earlier connection's (see `session.rs`).
    pub fn seal_presence<R: CryptoRng + ?Sized>(
        &self,
        me: &Identity,
        status: Status,
        seq: u64,
        now_ms: u64,
        rng: &mut R,
    ) -> Vec<u8> {
        let last_seq = self.next_seq.saturating_sub(1);
        self.seal_presence_announcing(me, status, seq, last_seq, now_ms, rng)
    }

    /// Like [`seal_presence`](Self::seal_presence), announcing `last_seq`
    /// as the last message number used, for callers that number messages
    /// themselves ([`seal_numbered`](Self::seal_numbered)).
    ///
    /// Announce the highest number actually sent, not merely allocated: a
    /// receiver reports every announced number it has not received as
    /// missed ([`overdue_gaps`](Self::overdue_gaps)), before the next
    /// message could declare an abandoned one skipped.
    pub fn seal_presence_announcing<R: CryptoRng + ?Sized>(
        &self,
        me: &Identity,
        status: Status,
        seq: u64,
        last_seq: u64,
        now_ms: u64,
        rng: &mut R,
    ) -> Vec<u8> {
        presence::seal(self.context(), me, seq, now_ms, status, last_seq, rng)
    }

    /// Checks a received presence record and updates the member's status.
    ///
    /// `topic_member_id` is the last segment of the topic the record came
    /// on (`…/p/<member-id>`, see
    /// [`RoomTopics::presence_member_id`](crate::topics::RoomTopics::presence_member_id)).
    /// A record is only accepted on its signer's own topic: each member
    /// then owns exactly one retained slot, and nobody can plant records
    /// on topics of their choosing. On error nothing is changed.
    pub fn receive_presence(
        &mut self,
        bytes: &[u8],
        topic_member_id: &str,
        now_ms: u64,
    ) -> Result<Received<PresenceUpdate>, OpenError> {
        let record = presence::open(self.context(), bytes)?;
        let fingerprint = record.member.fingerprint();
        if self.member_topic_id(&fingerprint) != topic_member_id {
            return Err(OpenError::WrongTopic);
        }
        if self.is_own(&fingerprint) {
            return Ok(Received::OwnEcho);
        }
        let admission = self.admit(&record.member, fingerprint, now_ms)?;
        if let Some(known) = self.members.get(&fingerprint)
            && record.seq <= known.presence_seq
        {
            return Err(OpenError::OutdatedPresence(record.seq));
        }
        let notices = self.commit_admission(admission, now_ms);
        let online = record.status == Status::Online;
        let member = self
            .members
            .entry(fingerprint)
            .or_insert_with(|| Member::new(record.member.clone(), now_ms, Trust::Tofu));
        let changed = member.online != online || member.presence_seq == 0;
        member.epoch_seen = member.epoch_seen.max(self.epoch);
        member.online = online;
        member.presence_seq = record.seq;
        member.last_seen_ms = now_ms;
        // Not a gap yet: retained presence often overtakes the messages the
        // broker queued for us, so only remember the claim here and judge
        // it in `overdue_gaps` once the queue has drained.
        if record.last_seq > member.replay.highest() {
            member.announced_seq = member.announced_seq.max(record.last_seq);
        }
        Ok(Received::Accepted(PresenceUpdate {
            name: member.identity.name.clone(),
            fingerprint,
            status: record.status,
            changed,
            notices,
        }))
    }

    /// Reports the messages members announced (through the `last_seq` of
    /// their presence records) that never reached us, one
    /// [`Notice::Missed`] per member, and moves their replay windows past
    /// the gap so it is never reported again.
    ///
    /// Call it once caught up, after the broker has delivered what it
    /// queued for us: before that, a gap may only mean the messages are
    /// still on their way. Messages inside the gap that turn up later are
    /// still accepted and shown once while the replay window covers them
    /// (like any late arrival after a reported gap); a message above the
    /// announced number is judged against it, so nothing is counted twice.
    ///
    /// A member we have never received a message from has no gap: their
    /// announced number is taken as the starting point, as their first
    /// message would be, since what they sent before we joined was never
    /// meant to reach us.
    pub fn overdue_gaps(&mut self) -> Vec<Notice> {
        let mut notices = Vec::new();
        let newcomers: Vec<Fingerprint> = (self.members.keys())
            .filter(|fingerprint| self.joined_after_us(fingerprint))
            .copied()
            .collect();
        for (fingerprint, member) in &mut self.members {
            let top = member.replay.highest();
            if *fingerprint == self.own || member.announced_seq <= top {
                continue;
            }
            let count = member.replay.skip_to(member.announced_seq);
            // Someone who joined after us numbers from 1 in our sight, so
            // even their first messages are counted when they never came.
            if (top > 0 || newcomers.contains(fingerprint)) && count > 0 {
                notices.push(Notice::Missed {
                    name: member.identity.name.clone(),
                    count,
                });
            }
        }
        notices
    }
}
