//! One membership change: what it says, how it is sealed and signed, and
//! the hash the next commit names.
//!
//! ```text
//! payload   = header(kind Commit, parent epoch) || postcard(nonce[24], ciphertext)
//! plaintext = postcard(Commit) || Ed25519(committer, "sotto/v1/commit" || room_id || header || postcard(Commit))
//! hash      = SHA-256("sotto/v1/commit-hash" || room_id || postcard(Commit) || signature)
//! ```
//!
//! A commit is sealed under the key of the epoch it leaves (its parent),
//! like a message: only members of that epoch read it, a member removed by
//! it included, which is how they learn who removed them.

use std::fmt;

use rand_core::CryptoRng;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::ticket::Ticket;
use crate::identity::{Fingerprint, Identity, PublicIdentity};
use crate::protocol::wire::{self, Kind, MAX_ENVELOPE_LEN};
use crate::protocol::{EpochContext, OpenError, sealing};

/// The signature label of commits.
pub const COMMIT_LABEL: &[u8] = b"sotto/v1/commit";
const HASH_LABEL: &[u8] = b"sotto/v1/commit-hash";

/// The hash of a signed commit; the next commit names it as its parent.
/// The first commit of a room names all zeros.
#[derive(Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct CommitHash(#[serde(with = "crate::hex::array")] pub [u8; 32]);

impl fmt::Debug for CommitHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CommitHash({}…)", crate::hex::encode(&self.0[..4]))
    }
}

impl CommitHash {
    /// The first bytes as hex, for people comparing heads.
    pub fn short(&self) -> String {
        crate::hex::encode(&self.0[..4])
    }
}

/// What a commit changes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Change {
    /// A new room: the committer is its only member and first admin.
    Create {
        /// Whether only admins may make invites (otherwise any member).
        admins_invite: bool,
    },
    /// The first commit of a room made before the log existed: the
    /// committer (its creator, as admin) lists the members it knows.
    Genesis {
        /// The members, the committer excluded.
        members: Vec<PublicIdentity>,
    },
    /// The committer joins with an invite.
    Add {
        /// The invite's signed grant.
        ticket: Ticket,
    },
    /// A member lets in someone whose invite no longer names the head (the
    /// room moved on since it was made): the joiner asked with a signed
    /// request, and the committer seals the new key to them too.
    Admit {
        /// The invite's signed grant.
        ticket: Ticket,
        /// Who joins.
        joiner: PublicIdentity,
    },
    /// An admin removes a member.
    Remove {
        /// Who is removed.
        member: Fingerprint,
    },
    /// The committer leaves.
    Leave,
    /// An admin makes a member an admin.
    Admin {
        /// Who becomes an admin.
        member: Fingerprint,
    },
    /// A new key, nothing else (scheduled, or asked for).
    Rotate,
    /// The committer (signing with the key it has been) hands its place
    /// in the room to a new key of its own (`init --force`): same name,
    /// same admin status. The new key consents with a signature over the
    /// room and the old key's fingerprint ([`hand_over_consent`]).
    HandOver {
        /// The new key.
        new: PublicIdentity,
        /// The new key's signature (see [`hand_over_consent`]).
        #[serde(with = "crate::hex::array")]
        consent: [u8; 64],
    },
}

/// The signature label of a new key's consent to take over an old one.
pub const HAND_OVER_LABEL: &[u8] = b"sotto/v1/hand-over";

/// The bytes a new key signs to take over `old`'s place in `room_id`.
fn hand_over_bytes(room_id: &crate::room_id::RoomId, old: &Fingerprint) -> Vec<u8> {
    [HAND_OVER_LABEL, &room_id.0, &old.0].concat()
}

/// `new`'s consent to take over `old`'s place in the room `room_id`.
pub fn hand_over_consent(
    room_id: &crate::room_id::RoomId,
    old: &Fingerprint,
    new: &Identity,
) -> [u8; 64] {
    new.sign(&hand_over_bytes(room_id, old)).to_bytes()
}

/// Whether `consent` is `new`'s signature taking over `old`'s place.
pub fn hand_over_consented(
    room_id: &crate::room_id::RoomId,
    old: &Fingerprint,
    new: &PublicIdentity,
    consent: &[u8; 64],
) -> bool {
    let signature = ed25519_dalek::Signature::from_bytes(consent);
    new.verifying_key().is_some_and(|key| {
        key.verify_strict(&hand_over_bytes(room_id, old), &signature)
            .is_ok()
    })
}

impl Change {
    /// Which of several commits on one parent wins: removals and grants
    /// first (a kick must not lose to a routine rotation), then leaves,
    /// adds, and rotations last.
    pub fn priority(&self) -> u8 {
        match self {
            Change::Remove { .. } | Change::Admin { .. } => 0,
            Change::Leave | Change::HandOver { .. } => 1,
            Change::Create { .. }
            | Change::Genesis { .. }
            | Change::Add { .. }
            | Change::Admit { .. } => 2,
            Change::Rotate => 3,
        }
    }
}

/// A membership change, signed by its committer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Commit {
    /// The epoch it starts: its parent's epoch plus one (0 for a new room).
    pub epoch: u64,
    /// The hash of the commit that started the parent epoch.
    pub parent: CommitHash,
    /// Who made it.
    pub committer: PublicIdentity,
    /// When, by the committer's clock (ms since the Unix epoch). Only
    /// compared with other times in the log, never with a member's clock.
    pub at_ms: u64,
    /// What changes.
    pub change: Change,
}

/// A commit with its signature and hash, as sent and received.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignedCommit {
    /// The commit.
    pub commit: Commit,
    /// The committer's signature over it.
    #[serde(with = "crate::hex::array")]
    pub signature: [u8; 64],
}

impl SignedCommit {
    /// The hash the next commit names as its parent.
    pub fn hash(&self, room_id: &crate::room_id::RoomId) -> CommitHash {
        let mut hash = Sha256::new();
        hash.update(HASH_LABEL);
        hash.update(room_id.0);
        hash.update(wire::to_bytes(&self.commit));
        hash.update(self.signature);
        CommitHash(hash.finalize().into())
    }
}

/// Signs `commit` as `committer` and seals it under the parent epoch's key
/// (`context`, whose epoch must be `commit.epoch - 1`, or 0 for a new
/// room). Returns the payload and the signed commit it carries.
pub fn seal<R: CryptoRng + ?Sized>(
    context: EpochContext<'_>,
    committer: &Identity,
    commit: Commit,
    rng: &mut R,
) -> (Vec<u8>, SignedCommit) {
    let (payload, signature) = sealing::seal_keeping_signature(
        Kind::Commit,
        COMMIT_LABEL,
        context,
        committer,
        &commit,
        rng,
    );
    (payload, SignedCommit { commit, signature })
}

/// Opens a commit sealed under `context` (the epoch it leaves) and checks
/// its committer's signature. Whether it may follow the log's head is for
/// [`LogState::check`](super::LogState::check).
pub fn open(context: EpochContext<'_>, bytes: &[u8]) -> Result<SignedCommit, OpenError> {
    let unverified = sealing::open_unverified(Kind::Commit, COMMIT_LABEL, context, bytes, |c| {
        Ok(wire::decode_exact::<Commit>(c, MAX_ENVELOPE_LEN)?)
    })?;
    let expected_epoch = if matches!(unverified.content.change, Change::Create { .. }) {
        context.epoch
    } else {
        context.epoch.saturating_add(1)
    };
    if unverified.content.epoch != expected_epoch {
        return Err(OpenError::Malformed);
    }
    let key = sealing::signing_key_of(&unverified.content.committer)?;
    let signature = unverified.signature_bytes();
    let commit = unverified.verify(&key)?;
    Ok(SignedCommit { commit, signature })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::room_id::RoomId;
    use crate::secret::SymmetricKey;
    use rand::SeedableRng;
    use rand_chacha::ChaCha20Rng;

    const ROOM: RoomId = RoomId([1; 16]);

    /// alice's rotation starting `epoch`, sealed under epoch 3 of ROOM.
    fn rotation(epoch: u64, key: &SymmetricKey) -> (Vec<u8>, SignedCommit, Commit) {
        let mut rng = ChaCha20Rng::seed_from_u64(8);
        let alice = Identity::generate("alice", &mut rng).unwrap();
        let commit = Commit {
            epoch,
            parent: CommitHash([7; 32]),
            committer: alice.public(),
            at_ms: 10,
            change: Change::Rotate,
        };
        let (payload, signed) = seal(context(key), &alice, commit.clone(), &mut rng);
        (payload, signed, commit)
    }

    fn context(key: &SymmetricKey) -> EpochContext<'_> {
        EpochContext {
            room_id: &ROOM,
            epoch: 3,
            key,
        }
    }

    #[test]
    fn a_sealed_commit_opens_with_the_same_hash_and_refuses_flips() {
        let key = SymmetricKey::from_bytes([2; 32]);
        let (payload, signed, commit) = rotation(4, &key);
        let opened = open(context(&key), &payload).unwrap();
        assert_eq!(opened, signed);
        assert_eq!(opened.commit, commit);
        assert_eq!(opened.hash(&ROOM), signed.hash(&ROOM));
        assert_ne!(opened.hash(&ROOM), opened.hash(&RoomId([2; 16])));
        for position in 0..payload.len() {
            let mut tampered = payload.clone();
            tampered[position] ^= 1;
            assert!(open(context(&key), &tampered).is_err(), "byte {position}");
        }
    }

    #[test]
    fn a_commit_must_start_the_epoch_after_the_one_it_is_sealed_in() {
        let key = SymmetricKey::from_bytes([2; 32]);
        let (payload, _, _) = rotation(5, &key);
        assert_eq!(open(context(&key), &payload), Err(OpenError::Malformed));
    }
}
