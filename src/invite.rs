//! Invites: the copy-paste string that carries a room's secrets from one
//! member to another out of band.
//!
//! Format: Bech32m with human-readable part `sotto`, so every invite starts
//! with `sotto1`. The data part is a postcard record that begins with a
//! version byte. Bech32m's checksum detects any single mistyped character
//! (and any burst of up to four within 89 characters), so a typo is always
//! reported as a typo, never read as another invite.

use bech32::primitives::decode::CheckedHrpstring;
use bech32::{Bech32m, Hrp};
use serde::{Deserialize, Serialize};
use zeroize::Zeroize;

use crate::identity::Fingerprint;
use crate::log::{CommitHash, LogState, Ticket};
use crate::room_id::{MAX_ROOM_NAME_LEN, RoomId, validate_room_name};
use crate::secret::SymmetricKey;

/// The invite format version this build writes: 2 carries a signed grant
/// for a room with a membership log. Version 1 (a room without a log) is
/// still read.
pub const INVITE_VERSION: u8 = 2;

const INVITE_VERSION_1: u8 = 1;

/// Bech32m's code length: no longer invite can carry a valid checksum.
pub const MAX_INVITE_LEN: usize = 1023;

const HRP: &str = "sotto";

/// What an invite grants: the room's id and current epoch key (so it is a
/// secret), plus what the joiner needs to trust the inviter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invite {
    /// The room's secret id.
    pub room_id: RoomId,
    /// The epoch the key belongs to.
    pub epoch: u64,
    /// The epoch's symmetric key.
    pub epoch_key: SymmetricKey,
    /// The room's name as the inviter calls it.
    pub room_name: String,
    /// Fingerprint of the member who made the invite: the joiner marks that
    /// identity verified when it first sees it, since the invite itself came
    /// over the out-of-band channel.
    pub inviter: Fingerprint,
    /// For a room with a membership log: what the joiner's add carries and
    /// where in the log it starts. `None` in a version 1 invite.
    pub grant: Option<Grant>,
}

/// The part of an invite to a room with a membership log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Grant {
    /// The inviter's signed grant (name, key, expiry, uses).
    pub ticket: Ticket,
    /// The log's head when the invite was made.
    pub head: CommitHash,
    /// The hash of the log's state at that head ([`LogState::hash`]).
    #[serde(with = "crate::hex::array")]
    pub state_hash: [u8; 32],
    /// The state itself, when it is small enough to travel in the invite
    /// (a new room); otherwise the joiner fetches it from the broker and
    /// checks it against `state_hash`.
    pub state: Option<LogState>,
}

/// Why an invite string was refused. Messages are written for people.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InviteError {
    /// The text does not start with `sotto1`.
    #[error("this is not a sotto invite (invites start with \"sotto1\")")]
    NotAnInvite,
    /// A checksum or character error: the invite was mistyped or cut short.
    #[error("the invite is mistyped or incomplete (its checksum does not match); copy it again")]
    Mistyped,
    /// Longer than any invite can be.
    #[error("the invite is too long to be a sotto invite")]
    TooLong,
    /// Made by a newer sotto.
    #[error("the invite has version {0}, which this sotto does not understand; upgrade sotto")]
    UnknownVersion(u8),
    /// Checksum fine but the contents do not parse: made by a broken client.
    #[error("the invite's contents are malformed")]
    Malformed,
    /// The inviter's signature does not match the invite: altered.
    #[error("the invite's signature does not match its inviter; it was altered")]
    Forged,
}

#[derive(Serialize, Deserialize)]
struct InviteRecord {
    version: u8,
    #[serde(with = "crate::hex::array")]
    room_id: [u8; 16],
    epoch: u64,
    #[serde(with = "crate::hex::array")]
    epoch_key: [u8; 32],
    room_name: String,
    #[serde(with = "crate::hex::array")]
    inviter: [u8; 32],
    grant: Option<Grant>,
}

/// Version 1: the same record without a grant.
#[derive(Serialize, Deserialize)]
struct InviteRecordV1 {
    version: u8,
    #[serde(with = "crate::hex::array")]
    room_id: [u8; 16],
    epoch: u64,
    #[serde(with = "crate::hex::array")]
    epoch_key: [u8; 32],
    room_name: String,
    #[serde(with = "crate::hex::array")]
    inviter: [u8; 32],
}

impl Drop for InviteRecordV1 {
    fn drop(&mut self) {
        self.epoch_key.zeroize();
    }
}

impl Drop for InviteRecord {
    fn drop(&mut self) {
        self.epoch_key.zeroize();
    }
}

impl Invite {
    /// The invite string, `sotto1...`. An inline log state that would make
    /// the string longer than Bech32m's checksum covers is left out (the
    /// joiner then fetches it from the broker).
    pub fn encode(&self) -> String {
        let text = self.encode_as_is();
        match &self.grant {
            Some(grant) if grant.state.is_some() && text.len() > MAX_INVITE_LEN => {
                let mut lean = self.clone();
                if let Some(grant) = lean.grant.as_mut() {
                    grant.state = None;
                }
                lean.encode_as_is()
            }
            _ => text,
        }
    }

    fn encode_as_is(&self) -> String {
        let bytes = match &self.grant {
            None => postcard::to_stdvec(&InviteRecordV1 {
                version: INVITE_VERSION_1,
                room_id: self.room_id.0,
                epoch: self.epoch,
                epoch_key: *self.epoch_key.as_bytes(),
                room_name: self.room_name.clone(),
                inviter: self.inviter.0,
            }),
            Some(grant) => postcard::to_stdvec(&InviteRecord {
                version: INVITE_VERSION,
                room_id: self.room_id.0,
                epoch: self.epoch,
                epoch_key: *self.epoch_key.as_bytes(),
                room_name: self.room_name.clone(),
                inviter: self.inviter.0,
                grant: Some(grant.clone()),
            }),
        };
        let mut bytes = zeroize::Zeroizing::new(bytes.unwrap_or_default());
        let text = bech32::encode::<Bech32m>(hrp(), &bytes).unwrap_or_default();
        bytes.zeroize();
        text
    }

    /// Parses an invite string; the inverse of [`Invite::encode`].
    ///
    /// Whitespace anywhere is ignored, so an invite that a mail client
    /// wrapped over several lines still works.
    pub fn decode(text: &str) -> Result<Self, InviteError> {
        if text.len() > MAX_INVITE_LEN * 2 {
            return Err(InviteError::TooLong);
        }
        let compact: String = text.chars().filter(|c| !c.is_whitespace()).collect();
        if !compact.to_ascii_lowercase().starts_with("sotto1") {
            return Err(if looks_like_mistyped_prefix(&compact) {
                InviteError::Mistyped
            } else {
                InviteError::NotAnInvite
            });
        }
        if compact.len() > MAX_INVITE_LEN {
            return Err(InviteError::TooLong);
        }
        // Every parse or checksum failure past a correct prefix is a typo
        // or a truncated paste.
        let checked =
            CheckedHrpstring::new::<Bech32m>(&compact).map_err(|_| InviteError::Mistyped)?;
        if checked.hrp() != hrp() {
            return Err(InviteError::NotAnInvite);
        }
        let bytes = zeroize::Zeroizing::new(checked.byte_iter().collect::<Vec<u8>>());
        let invite = match bytes.first() {
            Some(&INVITE_VERSION) => {
                let mut record: InviteRecord =
                    crate::protocol::wire::decode_exact(&bytes, MAX_INVITE_LEN)
                        .map_err(|_| InviteError::Malformed)?;
                Self {
                    room_id: RoomId(record.room_id),
                    epoch: record.epoch,
                    epoch_key: SymmetricKey::from_bytes(record.epoch_key),
                    room_name: record.room_name.clone(),
                    inviter: Fingerprint(record.inviter),
                    grant: record.grant.take(),
                }
            }
            Some(&INVITE_VERSION_1) => {
                let record: InviteRecordV1 =
                    crate::protocol::wire::decode_exact(&bytes, MAX_INVITE_LEN)
                        .map_err(|_| InviteError::Malformed)?;
                Self {
                    room_id: RoomId(record.room_id),
                    epoch: record.epoch,
                    epoch_key: SymmetricKey::from_bytes(record.epoch_key),
                    room_name: record.room_name.clone(),
                    inviter: Fingerprint(record.inviter),
                    grant: None,
                }
            }
            Some(&other) => return Err(InviteError::UnknownVersion(other)),
            None => return Err(InviteError::Malformed),
        };
        if invite.room_name.len() > MAX_ROOM_NAME_LEN
            || validate_room_name(&invite.room_name).is_err()
        {
            return Err(InviteError::Malformed);
        }
        if let Some(grant) = &invite.grant {
            let consistent = grant.ticket.room_id == invite.room_id
                && grant.ticket.inviter.fingerprint() == invite.inviter
                && grant.ticket.epoch == invite.epoch
                && grant.ticket.verify().is_ok()
                && grant
                    .state
                    .as_ref()
                    .is_none_or(|state| state.hash(&invite.room_id) == grant.state_hash);
            if !consistent {
                return Err(InviteError::Forged);
            }
        }
        Ok(invite)
    }

    /// Who made the invite, by name, when the invite says (version 2).
    pub fn inviter_name(&self) -> Option<&str> {
        self.grant
            .as_ref()
            .map(|grant| grant.ticket.inviter.name.as_str())
    }

    /// When the invite stops working (ms since the Unix epoch), for
    /// version 2 invites.
    pub fn expires_ms(&self) -> Option<u64> {
        self.grant.as_ref().map(|grant| grant.ticket.expires_ms)
    }
}

/// A long string whose first six characters are `sotto1` but for one: a
/// typo in the prefix, not some other kind of string.
fn looks_like_mistyped_prefix(compact: &str) -> bool {
    const PREFIX: &[u8] = b"sotto1";
    let head = compact.as_bytes().iter().take(PREFIX.len());
    let differing = head
        .zip(PREFIX)
        .filter(|(a, b)| !a.eq_ignore_ascii_case(b))
        .count();
    compact.len() > 40 && differing == 1
}

fn hrp() -> Hrp {
    Hrp::parse(HRP).unwrap_or(bech32::hrp::BC)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn invite() -> Invite {
        Invite {
            room_id: RoomId([3; 16]),
            epoch: 7,
            epoch_key: SymmetricKey::from_bytes([5; 32]),
            room_name: "ops".into(),
            inviter: Fingerprint([9; 32]),
            grant: None,
        }
    }

    #[test]
    fn round_trips_and_starts_with_the_prefix() {
        let text = invite().encode();
        assert!(text.starts_with("sotto1"), "{text}");
        assert_eq!(Invite::decode(&text).unwrap(), invite());
        assert_eq!(Invite::decode(&text.to_uppercase()).unwrap(), invite());
    }

    #[test]
    fn wrapped_and_padded_invites_still_decode() {
        let text = invite().encode();
        let wrapped = format!("  {}\n{}\n", &text[..40], &text[40..]);
        assert_eq!(Invite::decode(&wrapped).unwrap(), invite());
    }

    #[test]
    fn every_single_character_typo_is_reported_as_mistyped() {
        let text = invite().encode();
        let alphabet = "qpzry9x8gf2tvdw0s3jn54khce6mua7l";
        for position in 0..text.len() {
            for replacement in alphabet.chars().chain("bio".chars()) {
                let mut typo: Vec<char> = text.chars().collect();
                if typo[position] == replacement {
                    continue;
                }
                typo[position] = replacement;
                let typo: String = typo.into_iter().collect();
                assert_eq!(
                    Invite::decode(&typo),
                    Err(InviteError::Mistyped),
                    "position {position} -> {replacement}"
                );
            }
        }
    }

    #[test]
    fn dropped_or_doubled_characters_are_mistyped() {
        let text = invite().encode();
        assert_eq!(
            Invite::decode(&text[..text.len() - 1]),
            Err(InviteError::Mistyped)
        );
        let doubled = format!("{}{}", &text[..20], &text[19..]);
        assert_eq!(Invite::decode(&doubled), Err(InviteError::Mistyped));
    }

    #[test]
    fn other_strings_are_not_invites() {
        assert_eq!(Invite::decode("hello"), Err(InviteError::NotAnInvite));
        assert_eq!(Invite::decode(""), Err(InviteError::NotAnInvite));
        assert_eq!(
            Invite::decode(&"sotto1".repeat(300)),
            Err(InviteError::TooLong)
        );
    }

    #[test]
    fn unknown_versions_are_named() {
        let text = bech32::encode::<Bech32m>(hrp(), &[3, 1, 2, 3]).unwrap();
        assert_eq!(Invite::decode(&text), Err(InviteError::UnknownVersion(3)));
    }

    #[test]
    fn a_signed_invite_round_trips_and_an_altered_grant_is_refused() {
        use rand::SeedableRng;
        let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(9);
        let alice = crate::identity::Identity::generate("alice", &mut rng).unwrap();
        let room = crate::room::Room::found("ops", &alice, 5, &mut rng).unwrap();
        let signed = room.invite_for(&alice, 1_000, 2, &mut rng);
        let text = signed.encode();
        assert!(text.len() <= MAX_INVITE_LEN, "{}", text.len());
        let decoded = Invite::decode(&text).unwrap();
        assert_eq!(decoded, signed);
        assert_eq!(decoded.inviter_name(), Some("alice"));
        assert_eq!(decoded.expires_ms(), Some(1_000));
        // Uses raised by whoever held the invite: the signature breaks.
        let mut altered = signed.clone();
        if let Some(grant) = altered.grant.as_mut() {
            grant.ticket.uses = 50;
        }
        assert_eq!(Invite::decode(&altered.encode()), Err(InviteError::Forged));
    }

    #[test]
    fn debug_output_hides_the_epoch_key() {
        assert!(format!("{:?}", invite()).contains("redacted"));
    }

    proptest! {
        #[test]
        fn decoding_arbitrary_strings_never_panics(text in ".{0,1200}") {
            let _ = Invite::decode(&text);
        }

        #[test]
        fn decoding_arbitrary_checksummed_bytes_never_panics(
            bytes in proptest::collection::vec(any::<u8>(), 0..300)
        ) {
            if let Ok(text) = bech32::encode::<Bech32m>(hrp(), &bytes) {
                let _ = Invite::decode(&text);
            }
        }
    }
}
