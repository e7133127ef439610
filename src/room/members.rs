//! Who is in a room: the member table, trust levels, and the rules for
//! admitting a key the room has not seen before.
//!
//! Anyone holding the room key can mint new keys, so the table is capped
//! at [`MAX_MEMBERS`]: a state file and its rewrite stay bounded however
//! many keys a hostile member makes up. At the cap a new key takes the
//! place of the *silent* member seen longest ago (trusted on first use
//! only, never sent a message, not blocking anything), so a flood of
//! presence records cannot lock real newcomers out; only when every member
//! has spoken or is trusted is a new key refused. The inviter's key, known
//! from the invite, is always admitted.

use serde::{Deserialize, Serialize};

use super::names::Claim;
use super::{Notice, Room};
use crate::identity::{Fingerprint, PublicIdentity, name_skeleton};
use crate::protocol::OpenError;
use crate::ratchet::ReceiverChain;
use crate::replay::ReplayWindow;

/// The most keys a room remembers, our own included (the inviter may be
/// one more). Beyond it a new key replaces the silent member seen longest
/// ago, or is refused when there is none; known members keep working.
pub const MAX_MEMBERS: usize = 1024;

/// How far we trust that a member's keys are really theirs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Trust {
    /// Trusted on first use: seen, never compared.
    Tofu,
    /// The fingerprint came inside the invite we joined with, which came
    /// over the out-of-band channel.
    Invite,
    /// The user compared fingerprints (`sotto verify`).
    Verified,
    /// This is us.
    Own,
}

impl Trust {
    /// Whether the user can rely on this member's identity.
    pub fn is_verified(self) -> bool {
        !matches!(self, Trust::Tofu)
    }
}

/// What the room knows about one member (one key pair).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Member {
    /// The member's public identity as first seen.
    pub identity: PublicIdentity,
    /// When this key was first seen (ms since the Unix epoch).
    pub first_seen_ms: u64,
    /// When the member was last heard from.
    pub last_seen_ms: u64,
    /// Trust level.
    pub trust: Trust,
    /// Whether the last presence record said online.
    pub online: bool,
    /// The newest presence sequence number accepted.
    pub presence_seq: u64,
    /// Replay window over this member's message sequence numbers.
    pub replay: ReplayWindow,
    /// Set when this key arrived under a name another key already had
    /// (or was flagged when a verified key took that name later).
    pub replaces: Option<Fingerprint>,
    /// Set when this key's name is another key's name in look-alike
    /// characters (the same confusable skeleton): the key it imitates.
    #[serde(default)]
    pub lookalike_of: Option<Fingerprint>,
    /// Whether the user accepted this key's key change or look-alike
    /// without verifying it (`sotto accept`, `/accept`).
    #[serde(default)]
    pub accepted: bool,
    /// The highest message sequence number the member has announced in a
    /// presence record (0 if none). Above the replay window's top it marks
    /// messages that were sent but have not arrived (yet); see
    /// [`Room::overdue_gaps`].
    #[serde(default)]
    pub announced_seq: u64,
    /// The newest epoch this member was heard from in (their presence
    /// there): senders also publish on the topics of that epoch while it is
    /// older than the room's, so a member who was away still gets what was
    /// sent after a rotation (see [`Room::lagging_epochs`]).
    #[serde(default)]
    pub epoch_seen: u64,
    /// This member's hash ratchet in each epoch whose key we keep (rooms
    /// with a membership log; see `chains.rs`).
    #[serde(default)]
    pub chains: Vec<(u64, ReceiverChain)>,
}

impl Member {
    pub(super) fn new(identity: PublicIdentity, now_ms: u64, trust: Trust) -> Self {
        Self {
            identity,
            first_seen_ms: now_ms,
            last_seen_ms: now_ms,
            trust,
            online: false,
            presence_seq: 0,
            replay: ReplayWindow::default(),
            replaces: None,
            lookalike_of: None,
            accepted: false,
            announced_seq: 0,
            epoch_seen: 0,
            chains: Vec::new(),
        }
    }
}

impl Room {
    /// Decides whether a sender's claimed identity is acceptable, without
    /// changing anything yet.
    pub(super) fn admit(
        &self,
        claimed: &PublicIdentity,
        fingerprint: Fingerprint,
        now_ms: u64,
    ) -> Result<Admission, OpenError> {
        // With a membership log, the log alone says who is in the room and
        // which name each key carries.
        if self.log().is_some() {
            return match self.admitted(&fingerprint) {
                Some(admitted) if admitted.name == claimed.name => {
                    if self.members.contains_key(&fingerprint) {
                        Ok(Admission::Known)
                    } else {
                        Ok(Admission::New {
                            member: Box::new(Member::new(
                                claimed.clone(),
                                now_ms,
                                super::epochs::trust_of(self.inviter, &fingerprint),
                            )),
                            evict: None,
                        })
                    }
                }
                Some(_) => Err(OpenError::Forged(
                    "a member's key is claiming another name than the room admitted",
                )),
                None => Err(OpenError::NotMember),
            };
        }
        if let Some(known) = self.members.get(&fingerprint) {
            if known.identity.name != claimed.name {
                return Err(OpenError::Forged(
                    "a member's key is claiming another member's name",
                ));
            }
            return Ok(Admission::Known);
        }
        if self
            .members
            .get(&self.own)
            .is_some_and(|me| me.identity.name == claimed.name)
        {
            // One identity per person: another key under our own name is
            // someone posing as us, not a key change we could accept.
            return Err(OpenError::Forged("another key is claiming your name"));
        }
        let is_inviter = self.inviter == Some(fingerprint);
        let evict = if self.members.len() >= MAX_MEMBERS && !is_inviter {
            let silent = self.members.iter().filter(|(fp, m)| {
                **fp != self.own
                    && m.trust == Trust::Tofu
                    && m.replay.highest() == 0
                    && !self.blocks.iter().any(|b| b.fingerprint == **fp)
            });
            match silent.min_by_key(|(_, m)| m.last_seen_ms) {
                Some((fp, _)) => Some(*fp),
                None => return Err(OpenError::RoomFull { limit: MAX_MEMBERS }),
            }
        } else {
            None
        };
        let trust = if is_inviter {
            Trust::Invite
        } else {
            Trust::Tofu
        };
        Ok(Admission::New {
            member: Box::new(Member::new(claimed.clone(), now_ms, trust)),
            evict,
        })
    }

    pub(super) fn commit_admission(&mut self, admission: Admission, _now_ms: u64) -> Vec<Notice> {
        let Admission::New { mut member, evict } = admission else {
            return Vec::new();
        };
        if let Some(evicted) = evict {
            self.members.remove(&evicted);
            self.skeletons.remove(&evicted);
        }
        let name = member.identity.name.clone();
        let new = member.identity.fingerprint();
        let trust = member.trust;
        let skeleton = name_skeleton(&name);
        let claim = if trust == Trust::Tofu {
            self.earlier_claim(&name, &skeleton)
        } else {
            // The inviter's key is the one the invite vouches for: it
            // claims its name first, whoever used it before.
            None
        };
        match &claim {
            Some(Claim::SameName { old }) => member.replaces = Some(*old),
            Some(Claim::LookAlike { old, .. }) => member.lookalike_of = Some(*old),
            None => {}
        }
        self.skeletons.add(new, skeleton.clone());
        self.members.insert(new, *member);
        // Blocks this key now meets (it claims a verified name), or brings
        // (it is the inviter, and older keys claimed its name first).
        let added = self.contest(&skeleton);
        let blocks_new = added.iter().any(|b| b.fingerprint == new);
        let mut notices = vec![match claim {
            None => Notice::NewMember {
                name,
                fingerprint: new,
                trust,
            },
            Some(Claim::SameName { old }) => Notice::KeyChanged {
                name,
                old,
                new,
                was_verified: blocks_new,
                lookalike_of: None,
            },
            Some(Claim::LookAlike { old, name: of }) => Notice::KeyChanged {
                name,
                old,
                new,
                was_verified: blocks_new,
                lookalike_of: Some(of),
            },
        }];
        notices.extend(
            added
                .iter()
                .filter(|b| b.fingerprint != new)
                .map(|b| self.block_notice(b)),
        );
        notices
    }
}

/// The outcome of [`Room::admit`]: what [`Room::commit_admission`] will
/// record once the rest of the payload has been checked.
pub(super) enum Admission {
    Known,
    New {
        member: Box<Member>,
        /// A silent member whose place the new key takes (at the cap).
        evict: Option<Fingerprint>,
    },
}
