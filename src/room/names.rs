//! Names bound to keys. A name is only a claim: anyone holding the room
//! key can make a new key and call it anything, including the name of a
//! member the user verified, or a name that renders the same ("аlice" with
//! a Cyrillic "а"). So:
//!
//! - Two keys whose names have the same UTS #39 confusable skeleton
//!   ([`name_skeleton`]) are one name claimed twice: the newcomer is a key
//!   change (the same name) or a look-alike (another name that looks the
//!   same), never a stranger.
//! - While any key the user verified (or that made their invite) holds a
//!   name, every other key claiming it or a look-alike of it blocks
//!   sending, each on its own, until the user verifies or accepts that very
//!   key. Accepting one impostor does not let the next one through.
//! - The user names a member by name, or by the first digits of its
//!   fingerprint when a name is not enough ([`Room::resolve_member`]).

use std::collections::{BTreeMap, HashMap};
use std::fmt;

use serde::{Deserialize, Serialize};
use unicode_normalization::UnicodeNormalization;

use super::{Member, Notice, Room, RoomError, Trust};
use crate::identity::{FINGERPRINT_GROUPS, Fingerprint, name_skeleton};

/// The fewest fingerprint digits that name a key: 8 digits leave about
/// one chance in 10^8 that two keys of a room share them.
pub const MIN_PREFIX_DIGITS: usize = 8;

/// How many digits a displayed fingerprint has.
const FINGERPRINT_DIGITS: usize = FINGERPRINT_GROUPS * 5;

/// Why a member's key deserves a warning next to its messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum NameWarning {
    /// The key claims a name another key had first.
    KeyChanged,
    /// The key's name looks like another key's name (same skeleton).
    LookAlike,
}

impl NameWarning {
    /// The word scripts see (`listen --json`'s `warning`).
    pub fn as_str(self) -> &'static str {
        match self {
            NameWarning::KeyChanged => "key_changed",
            NameWarning::LookAlike => "lookalike",
        }
    }
}

/// One key that blocks sending until the user verifies or accepts it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Block {
    /// The name the key claims.
    pub name: String,
    /// The key.
    pub fingerprint: Fingerprint,
    /// The verified name it looks like, when it is not the same name.
    #[serde(default)]
    pub lookalike_of: Option<String>,
}

/// The first two groups of a fingerprint (`12345 67890`): enough digits
/// to name the key in [`Room::resolve_member`].
pub fn short_fingerprint(fingerprint: &Fingerprint) -> String {
    let digits = fingerprint.digits();
    format!("{:05} {:05}", digits[0], digits[1])
}

impl fmt::Display for Block {
    /// The sentence `send` fails with. Names are not escaped here; the
    /// front ends escape whole lines.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let key = short_fingerprint(&self.fingerprint);
        match &self.lookalike_of {
            None => write!(
                f,
                "{}'s key changed since you verified it (new key {key}…); compare fingerprints, \
                 then `sotto verify` or `sotto accept` that key, before sending",
                self.name
            ),
            Some(of) => write!(
                f,
                "a new key ({key}…) calls itself {}, which looks like {of}, a name you verified; \
                 compare fingerprints, then `sotto verify` or `sotto accept` that key, before sending",
                self.name
            ),
        }
    }
}

/// One of the keys an ambiguous MEMBER could mean.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    /// Its name.
    pub name: String,
    /// Its key.
    pub fingerprint: Fingerprint,
    /// How far it is trusted.
    pub trust: Trust,
}

/// The sentence for [`RoomError::AmbiguousMember`].
pub(super) fn ambiguous_text(typed: &str, candidates: &[Candidate]) -> String {
    let listed: Vec<String> = candidates
        .iter()
        .map(|c| {
            let trust = match c.trust {
                Trust::Own => "you",
                Trust::Verified | Trust::Invite => "verified",
                Trust::Tofu => "unverified",
            };
            format!(
                "{} {}… ({trust})",
                c.name,
                short_fingerprint(&c.fingerprint)
            )
        })
        .collect();
    format!(
        "{typed:?} could be any of {} keys: {}; name one by at least {MIN_PREFIX_DIGITS} digits of its fingerprint",
        candidates.len(),
        listed.join(", ")
    )
}

/// Members' name skeletons, by key and by skeleton: derived from the
/// names alone, never saved. A skeleton costs microseconds and a new key
/// is compared with every member, so without this index a flood of new
/// keys would cost a skeleton per member each; with it, a new key costs
/// one skeleton and a look-up.
///
/// Kept in step by [`Room::commit_admission`](super::Room) (the only place
/// that both adds and removes keys); anything else that changes the member
/// table changes its size, and a size that differs from the index's
/// rebuilds it.
#[derive(Clone, Default)]
pub(super) struct Skeletons {
    of: HashMap<Fingerprint, String>,
    by: HashMap<String, Vec<Fingerprint>>,
}

impl Skeletons {
    /// Rebuilds the index if the member table changed behind its back.
    fn sync(&mut self, members: &BTreeMap<Fingerprint, Member>) {
        if self.of.len() == members.len() {
            return;
        }
        self.of.clear();
        self.by.clear();
        for (fingerprint, member) in members {
            self.add(*fingerprint, name_skeleton(&member.identity.name));
        }
    }

    /// The keys whose names have this skeleton (members only, after
    /// [`sync`](Self::sync)).
    fn claimants(&self, skeleton: &str) -> &[Fingerprint] {
        self.by.get(skeleton).map_or(&[], Vec::as_slice)
    }

    /// Records a key joining the table.
    pub(super) fn add(&mut self, fingerprint: Fingerprint, skeleton: String) {
        if self.of.contains_key(&fingerprint) {
            return;
        }
        self.by
            .entry(skeleton.clone())
            .or_default()
            .push(fingerprint);
        self.of.insert(fingerprint, skeleton);
    }

    /// Records a key leaving the table.
    pub(super) fn remove(&mut self, fingerprint: &Fingerprint) {
        let Some(skeleton) = self.of.remove(fingerprint) else {
            return;
        };
        if let Some(keys) = self.by.get_mut(&skeleton) {
            keys.retain(|key| key != fingerprint);
            if keys.is_empty() {
                self.by.remove(&skeleton);
            }
        }
    }
}

/// Rooms compare by what they remember; skeletons repeat the names.
impl PartialEq for Skeletons {
    fn eq(&self, _other: &Self) -> bool {
        true
    }
}

impl Eq for Skeletons {}

/// Keys that vouch for a name: compared by the user or carried by the
/// invite. Our own keys do not: nobody can fool us about being us.
fn vouches(trust: Trust) -> bool {
    matches!(trust, Trust::Verified | Trust::Invite)
}

impl Room {
    /// Keys that block sending, each until the user verifies or accepts it.
    pub fn blocked_by(&self) -> &[Block] {
        &self.blocks
    }

    /// Whether a member's key is a key change or a look-alike the user has
    /// neither verified nor accepted.
    pub fn name_warning(&self, fingerprint: &Fingerprint) -> Option<NameWarning> {
        let member = self.members.get(fingerprint)?;
        if member.trust.is_verified() || member.accepted {
            return None;
        }
        if member.replaces.is_some() {
            Some(NameWarning::KeyChanged)
        } else if member.lookalike_of.is_some() {
            Some(NameWarning::LookAlike)
        } else {
            None
        }
    }

    /// The key a user means by `typed`: a member's name, or at least
    /// [`MIN_PREFIX_DIGITS`] leading digits of a fingerprint as displayed
    /// (spaces and hyphens ignored). A name two keys share, or digits that
    /// also spell a name or start two fingerprints, are refused with the
    /// candidates listed: the user must say which key.
    pub fn resolve_member(&self, typed: &str) -> Result<Fingerprint, RoomError> {
        let typed = typed.trim();
        // Typed names may come decomposed or in compatibility forms;
        // stored names are NFKC.
        let name: String = typed.nfkc().collect();
        let prefix = fingerprint_prefix(typed);
        let mut found: Vec<Fingerprint> = self
            .members
            .iter()
            .filter(|(fingerprint, member)| {
                member.identity.name == name
                    || prefix
                        .as_deref()
                        .is_some_and(|digits| displayed_digits(fingerprint).starts_with(digits))
            })
            .map(|(fingerprint, _)| *fingerprint)
            .collect();
        match found.len() {
            0 => Err(RoomError::UnknownMember(typed.to_owned())),
            1 => Ok(found.remove(0)),
            _ => Err(RoomError::AmbiguousMember {
                typed: typed.to_owned(),
                candidates: found
                    .iter()
                    .filter_map(|fingerprint| {
                        let member = self.members.get(fingerprint)?;
                        Some(Candidate {
                            name: member.identity.name.clone(),
                            fingerprint: *fingerprint,
                            trust: member.trust,
                        })
                    })
                    .collect(),
            }),
        }
    }

    /// Marks a member's key verified after the user compared fingerprints
    /// out of band: `member` as [`resolve_member`](Self::resolve_member)
    /// takes it, `typed` the whole fingerprint. Lifts that key's block;
    /// every other unresolved key claiming the same name (or a look-alike)
    /// now blocks sending, since a verified key holds the name.
    pub fn verify(&mut self, member: &str, typed: &str) -> Result<Fingerprint, RoomError> {
        let fingerprint = self.resolve_member(member)?;
        if !fingerprint.matches_typed(typed) {
            return Err(RoomError::FingerprintMismatch(self.tagged(&fingerprint)));
        }
        let (skeleton, name) = match self.members.get_mut(&fingerprint) {
            Some(found) => {
                if found.trust != Trust::Own {
                    found.trust = Trust::Verified;
                }
                (
                    name_skeleton(&found.identity.name),
                    found.identity.name.clone(),
                )
            }
            None => return Err(RoomError::UnknownMember(member.to_owned())),
        };
        self.retire_other_keys(&fingerprint, &name);
        self.blocks.retain(|block| block.fingerprint != fingerprint);
        self.contest(&skeleton);
        Ok(fingerprint)
    }

    /// The user verified `kept` for `name`: any other key verified (or
    /// trusted as the inviter) under that very name was its old key, and
    /// is no longer vouched for. It stays known, unverified, so what it
    /// signed can still be read and shown with its tag; marked accepted,
    /// since the user chose its successor knowingly and it should not
    /// block sending.
    fn retire_other_keys(&mut self, kept: &Fingerprint, name: &str) {
        for (fingerprint, member) in &mut self.members {
            if fingerprint != kept
                && member.identity.name == name
                && matches!(member.trust, Trust::Verified | Trust::Invite)
            {
                member.trust = Trust::Tofu;
                member.accepted = true;
            }
        }
    }

    /// Lets the user go on with a key change or look-alike without
    /// verifying: lifts the block of this one key (others claiming the
    /// same name keep theirs) and stops warning about it. The key stays
    /// unverified. Returns whether anything was waiting for acceptance.
    pub fn accept(&mut self, fingerprint: &Fingerprint) -> Result<bool, RoomError> {
        let warned = self.name_warning(fingerprint).is_some();
        let member = self
            .members
            .get_mut(fingerprint)
            .ok_or_else(|| RoomError::UnknownMember(fingerprint.to_string()))?;
        if !member.trust.is_verified() {
            member.accepted = true;
        }
        let before = self.blocks.len();
        self.blocks
            .retain(|block| block.fingerprint != *fingerprint);
        Ok(warned || self.blocks.len() != before)
    }

    /// A member's name and the first group of its fingerprint
    /// (`alice·12345`), for sentences that must say which key.
    pub fn tagged(&self, fingerprint: &Fingerprint) -> String {
        let name = self
            .members
            .get(fingerprint)
            .map_or("?", |m| m.identity.name.as_str());
        format!("{name}·{:05}", fingerprint.digits()[0])
    }

    /// Makes every key that claims a name with this skeleton, and that
    /// the user has neither verified nor accepted, block sending while a
    /// verified key holds such a name. Returns the blocks it added.
    pub(super) fn contest(&mut self, skeleton: &str) -> Vec<Block> {
        self.skeletons.sync(&self.members);
        let claimants: Vec<(Fingerprint, String, Trust)> = (self.skeletons.claimants(skeleton))
            .iter()
            .filter_map(|fp| {
                let m = self.members.get(fp)?;
                Some((*fp, m.identity.name.clone(), m.trust))
            })
            .collect();
        let vouched: Vec<&(Fingerprint, String, Trust)> = claimants
            .iter()
            .filter(|(_, _, trust)| vouches(*trust))
            .collect();
        let mut added = Vec::new();
        let Some(&(first_vouched, ref first_name, _)) = vouched.first().copied() else {
            return added;
        };
        for (fingerprint, name, trust) in &claimants {
            if *trust != Trust::Tofu || self.blocks.iter().any(|b| b.fingerprint == *fingerprint) {
                continue;
            }
            let Some(member) = self.members.get_mut(fingerprint) else {
                continue;
            };
            if member.accepted {
                continue;
            }
            // The verified key it imitates: one with the very same name if
            // there is one, else the first look-alike.
            let same = vouched.iter().find(|(_, vname, _)| vname == name);
            let (old, lookalike_of) = match same {
                Some((fp, _, _)) => (*fp, None),
                None => (first_vouched, Some(first_name.clone())),
            };
            // A key that arrived before the name was bound (before the
            // inviter appeared, or before the user verified) is flagged now.
            if member.replaces.is_none() && member.lookalike_of.is_none() {
                if lookalike_of.is_some() {
                    member.lookalike_of = Some(old);
                } else {
                    member.replaces = Some(old);
                }
            }
            let block = Block {
                name: name.clone(),
                fingerprint: *fingerprint,
                lookalike_of,
            };
            self.blocks.push(block.clone());
            added.push(block);
        }
        added
    }

    /// The key that held this name (or a name with this skeleton) before
    /// a new key claims it: a verified one if there is one, else the
    /// newest. The same name wins over a look-alike.
    pub(super) fn earlier_claim(&mut self, name: &str, skeleton: &str) -> Option<Claim> {
        self.skeletons.sync(&self.members);
        // The same name has the same skeleton: both kinds of claim are
        // among the keys of this skeleton.
        let rank = |m: &Member| (m.trust.is_verified(), m.first_seen_ms);
        let claimants: Vec<(&Fingerprint, &Member)> = (self.skeletons.claimants(skeleton))
            .iter()
            .filter_map(|fp| Some((fp, self.members.get(fp)?)))
            .collect();
        if let Some((fp, _)) = (claimants.iter())
            .filter(|(_, m)| m.identity.name == name)
            .max_by_key(|(_, m)| rank(m))
        {
            return Some(Claim::SameName { old: **fp });
        }
        claimants
            .iter()
            .max_by_key(|(_, m)| rank(m))
            .map(|(fp, m)| Claim::LookAlike {
                old: **fp,
                name: m.identity.name.clone(),
            })
    }

    /// The notice for a block added to a key that was already in the room
    /// (the name became bound after it arrived).
    pub(super) fn block_notice(&self, block: &Block) -> Notice {
        let old = self
            .members
            .get(&block.fingerprint)
            .and_then(|m| m.replaces.or(m.lookalike_of))
            .unwrap_or(block.fingerprint);
        Notice::KeyChanged {
            name: block.name.clone(),
            old,
            new: block.fingerprint,
            was_verified: true,
            lookalike_of: block.lookalike_of.clone(),
        }
    }

    /// Turns the blocked names of rooms saved before blocks were per key
    /// into blocks on every unverified, unaccepted key with those names,
    /// and drops blocks on keys no longer in the room (which nothing could
    /// lift).
    pub(super) fn upgrade_blocks(&mut self, legacy: Option<Vec<String>>) {
        for name in legacy.unwrap_or_default() {
            let keys: Vec<Fingerprint> = self
                .members
                .iter()
                .filter(|(_, m)| m.identity.name == name && m.trust == Trust::Tofu && !m.accepted)
                .map(|(fp, _)| *fp)
                .collect();
            for fingerprint in keys {
                if !self.blocks.iter().any(|b| b.fingerprint == fingerprint) {
                    self.blocks.push(Block {
                        name: name.clone(),
                        fingerprint,
                        lookalike_of: None,
                    });
                }
            }
        }
        let members = &self.members;
        self.blocks
            .retain(|block| members.contains_key(&block.fingerprint));
    }
}

/// Which key claimed a new key's name first.
pub(super) enum Claim {
    /// A key with the very same name.
    SameName { old: Fingerprint },
    /// A key whose name looks the same (same skeleton), and that name.
    LookAlike { old: Fingerprint, name: String },
}

/// The digits of `typed` if it reads as a fingerprint prefix: only digits,
/// spaces and hyphens, with [`MIN_PREFIX_DIGITS`] to 30 digits.
fn fingerprint_prefix(typed: &str) -> Option<String> {
    if !typed
        .chars()
        .all(|c| c.is_ascii_digit() || c == ' ' || c == '-')
    {
        return None;
    }
    let digits: String = typed.chars().filter(char::is_ascii_digit).collect();
    (MIN_PREFIX_DIGITS..=FINGERPRINT_DIGITS)
        .contains(&digits.len())
        .then_some(digits)
}

/// A fingerprint's 30 displayed digits, ungrouped.
fn displayed_digits(fingerprint: &Fingerprint) -> String {
    fingerprint
        .digits()
        .iter()
        .map(|group| format!("{group:05}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;
    use rand_chacha::ChaCha20Rng;

    use super::*;
    use crate::identity::Identity;
    use crate::protocol::message::Body;
    use crate::room::{Received, Room};

    /// `who` joins alice's room with its invite and posts to bob's copy.
    fn post(alice_room: &Room, bob_room: &mut Room, who: &Identity, rng: &mut ChaCha20Rng) {
        let mut room = Room::join(&alice_room.invite(), "ops", &who.public(), 0).unwrap();
        let bytes = room
            .seal_numbered(who, 1, &[], Body::Text("hi".into()), 0, rng)
            .unwrap();
        assert!(matches!(
            bob_room.receive_message(&bytes, 0),
            Ok(Received::Accepted(_))
        ));
    }

    #[test]
    fn verifying_a_new_key_retires_the_old_one() {
        let mut rng = ChaCha20Rng::seed_from_u64(7);
        let alice = Identity::generate("alice", &mut rng).unwrap();
        let bob = Identity::generate("bob", &mut rng).unwrap();
        let alice_room = Room::create("ops", &alice.public(), 1_000, &mut rng).unwrap();
        let mut bob_room = Room::join(&alice_room.invite(), "ops", &bob.public(), 2_000).unwrap();
        post(&alice_room, &mut bob_room, &alice, &mut rng);
        let old = alice.fingerprint();
        bob_room.verify("alice", &old.to_string()).unwrap();
        // alice's new device: the same name, a new key.
        let renewed = Identity::generate("alice", &mut rng).unwrap();
        post(&alice_room, &mut bob_room, &renewed, &mut rng);
        let new = renewed.fingerprint();
        assert_eq!(bob_room.name_warning(&new), Some(NameWarning::KeyChanged));
        bob_room.verify(&new.to_string(), &new.to_string()).unwrap();
        let members = bob_room.members();
        assert_eq!(members[&new].trust, Trust::Verified);
        assert!(
            !members[&old].trust.is_verified(),
            "{:?}",
            members[&old].trust
        );
        // Retired, not contested: it does not block sending.
        assert!(bob_room.blocked_by().is_empty());
        assert!(
            bob_room
                .seal_message(&bob, Body::Text("ok".into()), 0, &mut rng)
                .is_ok()
        );
    }

    #[test]
    fn a_malformed_fingerprint_verifies_nothing() {
        let mut rng = ChaCha20Rng::seed_from_u64(8);
        let alice = Identity::generate("alice", &mut rng).unwrap();
        let bob = Identity::generate("bob", &mut rng).unwrap();
        let alice_room = Room::create("ops", &alice.public(), 1_000, &mut rng).unwrap();
        let mut bob_room = Room::join(&alice_room.invite(), "ops", &bob.public(), 2_000).unwrap();
        post(&alice_room, &mut bob_room, &alice, &mut rng);
        let right = alice.fingerprint().to_string();
        let before = bob_room.members()[&alice.fingerprint()].trust;
        let with_letter = format!("{right}x");
        assert!(bob_room.verify("alice", &with_letter).is_err());
        assert!(bob_room.verify("alice", &right[..20]).is_err());
        assert_eq!(bob_room.members()[&alice.fingerprint()].trust, before);
        bob_room.verify("alice", &right.replace(' ', "-")).unwrap();
        assert_eq!(
            bob_room.members()[&alice.fingerprint()].trust,
            Trust::Verified
        );
    }
}
