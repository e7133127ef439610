//! A fast smoke test of every decoder that reads outside data, through the
//! same entry points as the fuzz targets in `fuzz/` (which run for minutes
//! or hours; this runs in CI in seconds): arbitrary bytes never panic, and
//! valid encodings round-trip.
//!
//! - envelope framing (`protocol::wire`);
//! - message, presence and epoch-key slot opening, both as received bytes
//!   and as arbitrary plaintext sealed under the right key
//!   (`protocol::fuzzing`), which is how the decoders behind the AEAD are
//!   reached;
//! - invites, identity and storage key files (also as arbitrary records
//!   behind a valid Bech32m checksum);
//! - stored ratchet states (JSON, as the store writes them, and postcard);
//! - the membership log: commits, join requests and log states.
//!
//! `write_fuzz_seeds` (ignored) writes the fuzzers' seed corpora from the
//! vectors in `keys/`: see `fuzz/README.md`.
//!
//! All keys here are TEST-ONLY, from published seeds.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use bech32::primitives::decode::CheckedHrpstring;
use bech32::{Bech32m, Hrp};
use proptest::prelude::*;
use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;
use sotto::identity::{Fingerprint, Identity};
use sotto::invite::Invite;
use sotto::keyfile::{self, KdfParams};
use sotto::protocol::message::{self, Body, Message, SeqRange};
use sotto::protocol::presence::{self, Presence, Status};
use sotto::protocol::wire::{self, Header, Kind};
use sotto::protocol::{EpochContext, OpenError, chained, epoch_key, fuzzing};
use sotto::ratchet::{self, ChainKey, ReceiverChain, SenderChain};
use sotto::room::RoomId;
use sotto::secret::{Passphrase, SymmetricKey};

/// A few hundred cases per property: enough to catch a panic on a common
/// shape, fast enough for every CI run. The fuzzers go further.
const CASES: u32 = 256;

fn rng(seed: u64) -> ChaCha20Rng {
    ChaCha20Rng::seed_from_u64(seed)
}

/// alice and bob of `keys/` (the seeds of `tests/vectors.rs`).
fn alice() -> &'static Identity {
    static ALICE: OnceLock<Identity> = OnceLock::new();
    ALICE.get_or_init(|| Identity::generate("alice", &mut rng(0xA11CE)).unwrap())
}

fn bob() -> &'static Identity {
    static BOB: OnceLock<Identity> = OnceLock::new();
    BOB.get_or_init(|| Identity::generate("bob", &mut rng(0xB0B)).unwrap())
}

const ROOM: RoomId = RoomId([1; 16]);

fn room_key() -> SymmetricKey {
    SymmetricKey::from_bytes([2; 32])
}

fn context(key: &SymmetricKey) -> EpochContext<'_> {
    EpochContext {
        room_id: &ROOM,
        epoch: 0,
        key,
    }
}

fn bytes(max: usize) -> impl Strategy<Value = Vec<u8>> {
    proptest::collection::vec(any::<u8>(), 0..max)
}

/// A name `validate_name` and `validate_room_name` accept.
fn name() -> impl Strategy<Value = String> {
    "[a-zA-Z0-9][a-zA-Z0-9 ._'-]{0,30}[a-zA-Z0-9]"
}

fn ranges_below(seq: u64) -> Vec<SeqRange> {
    // Every other number below seq, up to the limit: sorted and disjoint.
    (1..seq)
        .step_by(2)
        .take(message::MAX_SKIPPED_RANGES)
        .map(|n| SeqRange { first: n, last: n })
        .collect()
}

/// A bech32 line (any case) decoded back to its record bytes.
fn record_bytes(line: &str) -> Vec<u8> {
    CheckedHrpstring::new::<Bech32m>(line)
        .unwrap()
        .byte_iter()
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(CASES))]

    // -- envelope framing ----------------------------------------------------

    #[test]
    fn framing_arbitrary_bytes_never_panics(data in bytes(600)) {
        if let Ok(framed) = wire::frame(&data) {
            prop_assert_eq!([framed.header_bytes, framed.body].concat(), data);
        }
    }

    #[test]
    fn encoded_envelopes_frame_back(
        kind in prop_oneof![Just(Kind::Message), Just(Kind::Presence), Just(Kind::EpochKey)],
        epoch in any::<u64>(),
        body in bytes(300),
    ) {
        let header = Header::new(kind, epoch);
        let payload = wire::encode(&header, &body);
        let framed = wire::frame(&payload).unwrap();
        prop_assert_eq!(framed.header, header);
        prop_assert_eq!(framed.header_bytes, &wire::to_bytes(&header)[..]);
        prop_assert_eq!(wire::decode_exact::<Vec<u8>>(framed.body, 1024).unwrap(), body);
    }

    // -- membership log: commits, join requests, log states ------------------

    #[test]
    fn opening_arbitrary_commit_bytes_never_panics(data in bytes(600)) {
        let key = room_key();
        prop_assert!(sotto::log::open(context(&key), &data).is_err());
    }

    #[test]
    fn arbitrary_commit_content_behind_the_aead_never_panics(content in bytes(600)) {
        let key = room_key();
        let payload = fuzzing::seal_content(Kind::Commit, context(&key), alice(), &content, &mut rng(2));
        if let Ok(signed) = sotto::log::open(context(&key), &payload) {
            prop_assert_eq!(signed.commit.committer.signing, alice().public().signing);
            let _ = sotto::log::LogState::first(&ROOM, &signed);
        }
    }

    #[test]
    fn arbitrary_join_request_content_never_panics(content in bytes(600)) {
        let key = room_key();
        let payload = fuzzing::seal_content(Kind::Request, context(&key), bob(), &content, &mut rng(3));
        if let Ok(request) = sotto::log::open_request(context(&key), &payload) {
            prop_assert_eq!(request.joiner.signing, bob().public().signing);
            let _ = request.ticket.verify();
        }
        prop_assert!(sotto::log::open_request(context(&key), &content).is_err());
    }

    #[test]
    fn arbitrary_refusal_content_never_panics(content in bytes(600)) {
        let key = room_key();
        let payload = fuzzing::seal_content(Kind::Refusal, context(&key), alice(), &content, &mut rng(3));
        if let Ok(refusal) = sotto::log::open_refusal(context(&key), &payload) {
            prop_assert_eq!(refusal.refuser.signing, alice().public().signing);
            prop_assert!(refusal.reason.len() <= sotto::log::MAX_REFUSAL_REASON_LEN);
        }
        prop_assert!(sotto::log::open_refusal(context(&key), &content).is_err());
    }

    #[test]
    fn decoding_arbitrary_log_states_never_panics(data in bytes(600)) {
        if let Ok(state) = wire::decode_exact::<sotto::log::LogState>(&data, wire::MAX_ENVELOPE_LEN) {
            let _ = state.hash(&ROOM);
        }
    }

    // -- messages ------------------------------------------------------------

    #[test]
    fn opening_arbitrary_message_bytes_never_panics(data in bytes(600)) {
        let key = room_key();
        prop_assert!(message::open(context(&key), &data).is_err());
    }

    #[test]
    fn arbitrary_message_content_behind_the_aead_never_panics(content in bytes(600)) {
        let key = room_key();
        let payload = fuzzing::seal_content(Kind::Message, context(&key), alice(), &content, &mut rng(1));
        if let Ok(opened) = message::open(context(&key), &payload) {
            prop_assert!(message::check_numbers(opened.seq, &opened.skipped).is_ok());
        }
    }

    #[test]
    fn sealed_messages_open_back(
        seq in 1u64..u64::MAX,
        sent_at_ms in any::<u64>(),
        text in ".{0,200}",
        action in any::<bool>(),
        declare in any::<bool>(),
    ) {
        let key = room_key();
        let body = if action { Body::Action(text) } else { Body::Text(text) };
        let skipped = if declare { ranges_below(seq.min(100)) } else { Vec::new() };
        let skipped: Vec<SeqRange> = skipped.into_iter().filter(|r| r.last < seq).collect();
        let payload = message::seal_numbered(
            context(&key), alice(), seq, &skipped, sent_at_ms, body.clone(), &mut rng(2),
        ).unwrap();
        let opened = message::open(context(&key), &payload).unwrap();
        prop_assert_eq!(opened.sender, alice().public());
        prop_assert_eq!((opened.seq, opened.sent_at_ms), (seq, sent_at_ms));
        prop_assert_eq!(opened.body, body);
        prop_assert_eq!(opened.skipped, skipped);
    }

    // -- messages under hash ratchets ----------------------------------------

    #[test]
    fn opening_arbitrary_chained_bytes_never_panics(data in bytes(600), frame in bytes(400)) {
        let key = room_key();
        prop_assert!(chained::open_frame(context(&key), &data).is_err());
        let payload = fuzzing::seal_chained_frame(context(&key), &frame, &mut rng(3));
        if let Ok(opened) = chained::open_frame(context(&key), &payload) {
            prop_assert!(opened.seq >= 1 && opened.step >= 1);
        }
    }

    #[test]
    fn arbitrary_chained_content_behind_both_layers_never_panics(
        content in bytes(600),
        seq in 1u64..u64::MAX,
        step in 1u64..10,
    ) {
        let key = room_key();
        let chain = ReceiverChain::new(ChainKey::from_bytes([8; 32]), 1);
        let staged = chain.key_for(step).unwrap();
        let payload = fuzzing::seal_chained_content(
            context(&key), alice(), (seq, step), staged.key(), &content, &mut rng(4),
        );
        let frame = chained::open_frame(context(&key), &payload).unwrap();
        prop_assert_eq!((frame.seq, frame.step), (seq, step));
        let _ = frame.open_verified(&ROOM, staged.key());
    }

    // -- presence ------------------------------------------------------------

    #[test]
    fn opening_arbitrary_presence_bytes_never_panics(data in bytes(600), content in bytes(400)) {
        let key = room_key();
        prop_assert!(presence::open(context(&key), &data).is_err());
        let payload = fuzzing::seal_content(Kind::Presence, context(&key), bob(), &content, &mut rng(3));
        let _ = presence::open(context(&key), &payload);
    }

    #[test]
    fn sealed_presence_opens_back(
        seq in any::<u64>(),
        at_ms in any::<u64>(),
        online in any::<bool>(),
        last_seq in any::<u64>(),
    ) {
        let key = room_key();
        let status = if online { Status::Online } else { Status::Offline };
        let payload = presence::seal(context(&key), bob(), seq, at_ms, status, last_seq, &mut rng(4));
        let record = presence::open(context(&key), &payload).unwrap();
        prop_assert_eq!(
            record,
            Presence { member: bob().public(), seq, at_ms, status, last_seq }
        );
    }

    // -- epoch-key slots -----------------------------------------------------

    #[test]
    fn opening_arbitrary_slots_never_panics(data in bytes(400), content in bytes(400)) {
        prop_assert!(epoch_key::open(&ROOM, bob(), &data).is_err());
        let payload = fuzzing::seal_slot_content(&ROOM, 1, alice(), &bob().public(), &content, &mut rng(5)).unwrap();
        let _ = epoch_key::open(&ROOM, bob(), &payload);
    }

    #[test]
    fn sealed_slots_open_back(epoch in any::<u64>(), key in any::<[u8; 32]>()) {
        let key = SymmetricKey::from_bytes(key);
        let slot = epoch_key::seal(&ROOM, epoch, [7; 32], &key, alice(), &bob().public(), &mut rng(6)).unwrap();
        let grant = epoch_key::open(&ROOM, bob(), &slot).unwrap();
        prop_assert_eq!((grant.epoch, &grant.key), (epoch, &key));
        prop_assert_eq!(grant.rotator, alice().public());
    }

    // -- invites -------------------------------------------------------------

    #[test]
    fn decoding_arbitrary_invite_text_never_panics(text in ".{0,300}", record in bytes(200)) {
        let _ = Invite::decode(&text);
        let _ = Invite::decode(&format!("sotto1{text}"));
        let text = bech32::encode::<Bech32m>(Hrp::parse("sotto").unwrap(), &record).unwrap();
        let _ = Invite::decode(&text);
    }

    #[test]
    fn invites_round_trip(
        room_id in any::<[u8; 16]>(),
        epoch in any::<u64>(),
        key in any::<[u8; 32]>(),
        room_name in name(),
        inviter in any::<[u8; 32]>(),
    ) {
        let invite = Invite {
            room_id: RoomId(room_id),
            epoch,
            epoch_key: SymmetricKey::from_bytes(key),
            room_name,
            inviter: Fingerprint(inviter),
            grant: None,
        };
        prop_assert_eq!(Invite::decode(&invite.encode()).unwrap(), invite);
    }

    // -- key files -----------------------------------------------------------

    #[test]
    fn decoding_arbitrary_key_files_never_panics(text in ".{0,600}", record in bytes(200)) {
        let _ = keyfile::decode(&text, "a".into(), None);
        let _ = keyfile::decode_storage_key(&text, None);
        let _ = keyfile::is_protected(&text);
        for hrp in ["sotto-secret-key-", "sotto-storage-key-"] {
            let line = bech32::encode_upper::<Bech32m>(Hrp::parse(hrp).unwrap(), &record).unwrap();
            let _ = keyfile::decode(&line, "a".into(), None);
            let _ = keyfile::decode_storage_key(&line, None);
            let _ = keyfile::is_protected(&line);
        }
    }

    #[test]
    fn plain_key_files_round_trip(
        name in name(),
        seed in any::<[u8; 32]>(),
        agreement in any::<[u8; 32]>(),
        storage in any::<[u8; 32]>(),
    ) {
        let identity = Identity::from_secrets(name.clone(), &seed, agreement);
        let text = keyfile::encode(&identity, None, &mut rng(7));
        let back = keyfile::decode(&text, name, None).unwrap();
        prop_assert_eq!(back.public(), identity.public());
        let key = SymmetricKey::from_bytes(storage);
        let text = keyfile::encode_storage_key(&key, None, &mut rng(8));
        prop_assert_eq!(keyfile::decode_storage_key(&text, None).unwrap(), key);
    }

    // -- ratchet states ------------------------------------------------------

    #[test]
    fn decoding_arbitrary_ratchet_states_never_panics(data in bytes(600), text in ".{0,300}") {
        let _ = postcard::from_bytes::<ReceiverChain>(&data);
        let _ = postcard::from_bytes::<SenderChain>(&data);
        let _ = serde_json::from_slice::<ReceiverChain>(&data);
        let _ = serde_json::from_str::<ReceiverChain>(&text);
        let _ = serde_json::from_str::<SenderChain>(&text);
    }

    #[test]
    fn ratchet_states_round_trip(
        received in proptest::collection::vec(1u64..400, 0..20),
        sent in 0u64..20,
    ) {
        let mut chain = ReceiverChain::new(ChainKey::from_bytes([3; 32]), 1);
        for seq in received {
            if let Ok(staged) = chain.key_for(seq) {
                chain.commit(staged).unwrap();
            }
        }
        prop_assert!(chain.skipped_len() <= ratchet::MAX_SKIPPED_KEYS);
        let json = serde_json::to_string(&chain).unwrap();
        prop_assert!(serde_json::from_str::<ReceiverChain>(&json).unwrap().same_state(&chain));
        let wire = postcard::to_stdvec(&chain).unwrap();
        prop_assert!(postcard::from_bytes::<ReceiverChain>(&wire).unwrap().same_state(&chain));

        let mut sender = SenderChain::new(ChainKey::from_bytes([3; 32]));
        for _ in 0..sent {
            sender.next().unwrap();
        }
        let mut back: SenderChain = serde_json::from_str(&serde_json::to_string(&sender).unwrap()).unwrap();
        let (ours, theirs) = (back.next().unwrap(), sender.next().unwrap());
        prop_assert_eq!(ours.0, theirs.0);
        prop_assert_eq!(ours.1.as_bytes(), theirs.1.as_bytes());
    }
}

/// A few protected key files: Argon2 with the least memory it takes, so
/// the round trip through the passphrase path stays fast.
#[test]
fn protected_key_files_round_trip() {
    let params = KdfParams {
        memory_kib: 64,
        iterations: 1,
        parallelism: 1,
    };
    let pass = Passphrase::new("correct horse".into());
    for seed in 0..4u64 {
        let identity = Identity::generate("carol", &mut rng(seed)).unwrap();
        let text = keyfile::encode(&identity, Some((&pass, params)), &mut rng(seed));
        let back = keyfile::decode(&text, "carol".into(), Some(&pass)).unwrap();
        assert_eq!(back.public(), identity.public());
        let key = SymmetricKey::random(&mut rng(seed));
        let text = keyfile::encode_storage_key(&key, Some((&pass, params)), &mut rng(seed));
        assert_eq!(
            keyfile::decode_storage_key(&text, Some(&pass)).unwrap(),
            key
        );
    }
}

/// The fuzzing entry points build what the real sealers build: real
/// content sealed through them opens to the same value (so the fuzzers'
/// content mode tests the real decoders, not a drifted copy).
#[test]
fn fuzzing_entry_points_match_the_real_layouts() {
    let key = room_key();
    let sent = Message {
        sender: alice().public(),
        seq: 9,
        sent_at_ms: 5,
        body: Body::Text("hi".into()),
        skipped: vec![SeqRange { first: 2, last: 4 }],
    };
    let payload = fuzzing::seal_content(
        Kind::Message,
        context(&key),
        alice(),
        &wire::to_bytes(&sent),
        &mut rng(9),
    );
    assert_eq!(message::open(context(&key), &payload).unwrap(), sent);
    // Signed by someone other than the claimed sender: forged.
    let forged = fuzzing::seal_content(
        Kind::Message,
        context(&key),
        bob(),
        &wire::to_bytes(&sent),
        &mut rng(9),
    );
    assert!(matches!(
        message::open(context(&key), &forged),
        Err(OpenError::Forged(_))
    ));

    let record = Presence {
        member: bob().public(),
        seq: 3,
        at_ms: 4,
        status: Status::Online,
        last_seq: 2,
    };
    let payload = fuzzing::seal_content(
        Kind::Presence,
        context(&key),
        bob(),
        &wire::to_bytes(&record),
        &mut rng(10),
    );
    assert_eq!(presence::open(context(&key), &payload).unwrap(), record);

    let content = slot_content(&[6; 32]);
    let slot =
        fuzzing::seal_slot_content(&ROOM, 2, alice(), &bob().public(), &content, &mut rng(11))
            .unwrap();
    let grant = epoch_key::open(&ROOM, bob(), &slot).unwrap();
    assert_eq!(grant.key, SymmetricKey::from_bytes([6; 32]));
    assert_eq!((grant.epoch, grant.rotator), (2, alice().public()));
}

/// Found by the `message_open`, `presence_open` and `epoch_key_open`
/// fuzzers (their first oracle expected the opened identity to equal the
/// signer's in full): a signature binds the signing key the content names,
/// and everything else in the claimed identity (name, X25519 key) is the
/// signer's own claim. A member signing a claim with another agreement key
/// is accepted as that claim, under another fingerprint, so the room never
/// confuses it with the member's real identity; nobody else can make one.
#[test]
fn a_signed_identity_claim_is_bound_by_its_signing_key_only() {
    let key = room_key();
    let mut claimed = alice().public();
    claimed.agreement[13] ^= 0x40;
    let sent = Message {
        sender: claimed.clone(),
        seq: 1,
        sent_at_ms: 0,
        body: Body::Text("hi".into()),
        skipped: Vec::new(),
    };
    let content = wire::to_bytes(&sent);
    let by_alice = fuzzing::seal_content(
        Kind::Message,
        context(&key),
        alice(),
        &content,
        &mut rng(12),
    );
    let opened = message::open(context(&key), &by_alice).unwrap();
    assert_eq!(opened.sender, claimed);
    assert_eq!(opened.sender.signing, alice().public().signing);
    assert_ne!(opened.sender.fingerprint(), alice().fingerprint());
    // The same claim signed by anyone else is forged.
    let by_bob = fuzzing::seal_content(Kind::Message, context(&key), bob(), &content, &mut rng(12));
    assert!(matches!(
        message::open(context(&key), &by_bob),
        Err(OpenError::Forged(_))
    ));
}

/// An epoch-key slot's content (rotator, recipient fingerprint, key) in
/// its postcard layout: alice to bob.
fn slot_content(key: &[u8; 32]) -> Vec<u8> {
    // rotator, recipient, the hash of the commit, the key.
    wire::to_bytes(&(alice().public(), bob().fingerprint(), [7u8; 32], *key))
}

// ---------------------------------------------------------------------------
// Seed corpora for fuzz/
// ---------------------------------------------------------------------------

/// Where the seeds go: `SOTTO_FUZZ_CORPUS`, or `fuzz/corpus` in the repo.
fn corpus_root() -> PathBuf {
    std::env::var_os("SOTTO_FUZZ_CORPUS")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus"))
}

fn read(relative: &str) -> String {
    fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(relative)).unwrap()
}

/// The payload of a vector file in `keys/vectors/` (after the first blank
/// line), as text.
fn vector_payload(relative: &str) -> String {
    let text = read(relative);
    let (_, payload) = text.split_once("\n\n").unwrap();
    payload.trim().to_owned()
}

/// A hex payload as bytes.
fn vector_bytes(relative: &str) -> Vec<u8> {
    let digits: String = vector_payload(relative)
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect();
    (0..digits.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&digits[i..i + 2], 16).unwrap())
        .collect()
}

fn with_mode(mode: u8, rest: &[u8]) -> Vec<u8> {
    [&[mode][..], rest].concat()
}

/// Writes the fuzzers' seed corpora from the vectors in `keys/`, with the
/// mode byte each target reads first (see `fuzz/fuzz_targets/`).
/// `cargo test --test decoders -- --ignored write_fuzz_seeds`.
#[test]
#[ignore = "writes fuzz/corpus; run by fuzz/run.sh"]
fn write_fuzz_seeds() {
    let message_payload = vector_bytes("keys/vectors/message.txt");
    let presence_payload = vector_bytes("keys/vectors/presence.txt");
    let slot_payload = vector_bytes("keys/vectors/epoch_key.txt");
    let invite_text = vector_payload("keys/vectors/invite.txt");
    let ratchet_json = vector_payload("keys/vectors/ratchet.txt");

    // The vectors' room, to read the content out of their payloads.
    let invite = Invite::decode(&invite_text).unwrap();
    let vector_context = EpochContext {
        room_id: &invite.room_id,
        epoch: invite.epoch,
        key: &invite.epoch_key,
    };
    let message = message::open(vector_context, &message_payload).unwrap();
    let record = presence::open(vector_context, &presence_payload).unwrap();
    let grant = epoch_key::open(&invite.room_id, bob(), &slot_payload).unwrap();

    let alice_key = read("keys/alice.key");
    let identity_line = alice_key
        .lines()
        .find(|line| line.starts_with("SOTTO-SECRET-KEY-1"))
        .unwrap();
    let storage =
        keyfile::encode_storage_key(&SymmetricKey::from_bytes([4; 32]), None, &mut rng(1));
    let storage_line = storage
        .lines()
        .find(|line| line.starts_with("SOTTO-STORAGE-KEY-1"))
        .unwrap();
    let protected = keyfile::encode_storage_key(
        &SymmetricKey::from_bytes([4; 32]),
        Some((
            &Passphrase::new("x".into()),
            KdfParams {
                memory_kib: 64,
                iterations: 1,
                parallelism: 1,
            },
        )),
        &mut rng(1),
    );
    let receiver: ReceiverChain = serde_json::from_str(&ratchet_json).unwrap();
    let mut sender = SenderChain::new(ChainKey::from_bytes([5; 32]));
    sender.next().unwrap();
    let no_skipped = Message {
        skipped: Vec::new(),
        ..message.clone()
    };

    let seeds: Vec<(&str, &str, Vec<u8>)> = vec![
        ("wire_frame", "message", message_payload.clone()),
        ("wire_frame", "presence", presence_payload.clone()),
        ("wire_frame", "epoch_key", slot_payload.clone()),
        ("message_open", "payload", with_mode(0, &message_payload)),
        (
            "message_open",
            "content",
            with_mode(1, &wire::to_bytes(&message)),
        ),
        (
            "message_open",
            "content-plain",
            with_mode(1, &wire::to_bytes(&no_skipped)),
        ),
        ("presence_open", "payload", with_mode(0, &presence_payload)),
        (
            "presence_open",
            "content",
            with_mode(1, &wire::to_bytes(&record)),
        ),
        ("epoch_key_open", "payload", with_mode(0, &slot_payload)),
        (
            "epoch_key_open",
            "content",
            with_mode(1, &slot_content(grant.key.as_bytes())),
        ),
        (
            "invite_decode",
            "text",
            with_mode(0, invite_text.as_bytes()),
        ),
        (
            "invite_decode",
            "record",
            with_mode(1, &record_bytes(&invite_text)),
        ),
        (
            "keyfile_decode",
            "identity-file",
            with_mode(0, alice_key.as_bytes()),
        ),
        (
            "keyfile_decode",
            "storage-file",
            with_mode(0, storage.as_bytes()),
        ),
        (
            "keyfile_decode",
            "protected-file",
            with_mode(0, protected.as_bytes()),
        ),
        (
            "keyfile_decode",
            "identity-record",
            with_mode(1, &record_bytes(identity_line)),
        ),
        (
            "keyfile_decode",
            "storage-record",
            with_mode(2, &record_bytes(storage_line)),
        ),
        (
            "ratchet_state",
            "receiver-json",
            with_mode(0, ratchet_json.as_bytes()),
        ),
        (
            "ratchet_state",
            "receiver-postcard",
            with_mode(1, &postcard::to_stdvec(&receiver).unwrap()),
        ),
        (
            "ratchet_state",
            "sender-json",
            with_mode(2, serde_json::to_string(&sender).unwrap().as_bytes()),
        ),
        (
            "ratchet_state",
            "sender-postcard",
            with_mode(3, &postcard::to_stdvec(&sender).unwrap()),
        ),
    ];
    let root = corpus_root();
    for (target, name, bytes) in seeds {
        let dir = root.join(target);
        fs::create_dir_all(&dir).unwrap();
        fs::write(dir.join(format!("seed-{name}")), bytes).unwrap();
    }
}
