//! Known-answer vectors: the TEST-ONLY identities and payloads in `keys/`.
//!
//! Three checks, so that any change to the wire format, the key file
//! format, the invite format or a derivation label shows up as a changed
//! file in review rather than passing silently:
//!
//! 1. each key file decodes to the identity its `.pub.json` describes;
//! 2. each vector opens, with the keys and inputs its own header names,
//!    to exactly the fields its `expect ...` lines state;
//! 3. regenerating everything from the fixed seeds below gives the files
//!    byte for byte.
//!
//! `SOTTO_REGENERATE_VECTORS=1 cargo test --test vectors` rewrites the files
//! from the seeds instead of comparing (then runs checks 1 and 2 on the new
//! files). Do that only for a deliberate format change, and review the diff.
//!
//! Every secret here comes from a seed published in this file: none of it is
//! a real secret, and none of it may ever be used outside tests.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;
use serde::{Deserialize, Serialize};
use sotto::crypto::TAG_LEN;
use sotto::hex;
use sotto::identity::{Identity, PublicIdentity};
use sotto::invite::Invite;
use sotto::keyfile;
use sotto::protocol::epoch_key;
use sotto::protocol::message::{self, Body, SeqRange};
use sotto::protocol::padding::{KEY_SLOT_PADDED_LEN, MIN_BUCKET, PRESENCE_PADDED_LEN};
use sotto::protocol::presence::{self, Status};
use sotto::protocol::wire::{self, MAX_ENVELOPE_LEN};
use sotto::protocol::{EpochContext, OpenError};
use sotto::ratchet::{self, ChainKey, RatchetError, ReceiverChain, SenderChain};
use sotto::room::{Notice, Received, Room, RoomId, Trust};
use sotto::secret::SymmetricKey;

/// Set to `1` to rewrite the files instead of comparing against them.
const REGENERATE_ENV: &str = "SOTTO_REGENERATE_VECTORS";

// The inputs. Each RNG is `ChaCha20Rng::seed_from_u64(seed)`, used for one
// thing only, so adding a vector never shifts the bytes of another.
const ALICE_SEED: u64 = 0xA11CE;
const BOB_SEED: u64 = 0xB0B;
/// Unprotected key files draw nothing, but `keyfile::encode` takes an RNG.
const KEY_FILE_SEED: u64 = 0x4B45_5946;
/// `Room::create` draws the room id, then the epoch-0 key.
const ROOM_SEED: u64 = 1;
/// `message::seal` draws the 24-byte nonce.
const MESSAGE_SEED: u64 = 2;
/// `presence::seal` draws the 24-byte nonce.
const PRESENCE_SEED: u64 = 3;
/// The rotation draws the new epoch key, then `epoch_key::seal` draws the
/// ephemeral X25519 secret and the nonce.
const EPOCH_KEY_SEED: u64 = 4;
/// Draws the nonces of the commit vector.
const COMMIT_SEED: u64 = 6;
/// The hash of the commit the sealed epoch key belongs to (any 32 bytes:
/// the slot only carries it).
const ROTATION_COMMIT: [u8; 32] = [0xc0; 32];
/// `ChainKey::random` draws the ratchet vector's starting chain key.
const RATCHET_SEED: u64 = 5;
/// The ratchet vector states this many steps in full.
const RATCHET_STEPS: u64 = 4;
/// The receiver state in the ratchet vector has received this message
/// first, so its storage form shows skipped keys (1 and 2).
const RATCHET_RECEIVED: u64 = 3;
/// A message key further along, reached by a jump from the stored state.
const RATCHET_FAR: u64 = 1000;

const ROOM_NAME: &str = "ops";
/// 2026-01-01T00:00:00Z.
const CREATED_MS: u64 = 1_767_225_600_000;
const PRESENCE_MS: u64 = CREATED_MS + 30_000;
const MESSAGE_MS: u64 = CREATED_MS + 60_000;
/// Alice's message is number 5 and declares 2 and 3 as allocated and never
/// sent, so the vector shows a non-empty skipped list on the wire.
const MESSAGE_SEQ: u64 = 5;
const MESSAGE_SKIPPED: &[SeqRange] = &[SeqRange { first: 2, last: 3 }];
const PRESENCE_SEQ: u64 = 1;
/// Bob announces having sent this many messages, so the vector shows a
/// non-zero `last_seq` on the wire.
const PRESENCE_LAST_SEQ: u64 = 5;
const MESSAGE_TEXT: &str = "hello bob, this is a known-answer vector";
const ROTATED_EPOCH: u64 = 1;

const ALICE_KEY: &str = "keys/alice.key";
const ALICE_PUB: &str = "keys/alice.pub.json";
const BOB_KEY: &str = "keys/bob.key";
const BOB_PUB: &str = "keys/bob.pub.json";
const INVITE_VECTOR: &str = "keys/vectors/invite.txt";
const MESSAGE_VECTOR: &str = "keys/vectors/message.txt";
const PRESENCE_VECTOR: &str = "keys/vectors/presence.txt";
const EPOCH_KEY_VECTOR: &str = "keys/vectors/epoch_key.txt";
const RATCHET_VECTOR: &str = "keys/vectors/ratchet.txt";
const COMMIT_VECTOR: &str = "keys/vectors/commit.txt";

const TEST_ONLY: &str = "TEST-ONLY: generated from a published seed by tests/vectors.rs; \
     never a real secret, never use it for anything real (keys/README.md)";

fn rng(seed: u64) -> ChaCha20Rng {
    ChaCha20Rng::seed_from_u64(seed)
}

fn repo_path(relative: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(relative)
}

fn read(relative: &str) -> String {
    let path = repo_path(relative);
    fs::read_to_string(&path).unwrap_or_else(|err| {
        panic!(
            "cannot read {}: {err}; create the vectors with {REGENERATE_ENV}=1 cargo test --test vectors",
            path.display()
        )
    })
}

/// Writes the files once per test run when regeneration is asked for, before
/// any test reads them (tests run on parallel threads of one process).
fn ensure_files() {
    static DONE: OnceLock<()> = OnceLock::new();
    DONE.get_or_init(|| {
        if std::env::var(REGENERATE_ENV).is_ok_and(|value| value == "1") {
            for (relative, text) in generate() {
                let path = repo_path(relative);
                fs::create_dir_all(path.parent().unwrap()).unwrap();
                fs::write(&path, text).unwrap();
            }
        }
    });
}

// ---------------------------------------------------------------------------
// File formats
// ---------------------------------------------------------------------------

/// `keys/NAME.pub.json`: the serde form of `PublicIdentity` (keys as hex),
/// plus a comment and the fingerprint as people read it out.
#[derive(Debug, Serialize, Deserialize)]
struct PublicFile {
    comment: String,
    #[serde(flatten)]
    identity: PublicIdentity,
    fingerprint: String,
}

/// A vector file: `#` comment lines, `name: value` header lines up to the
/// first blank line, then the payload (hex wrapped at 64 digits, or the
/// invite string).
struct VectorFile {
    headers: Vec<(String, String)>,
    payload: String,
}

impl VectorFile {
    fn new() -> Self {
        Self {
            headers: Vec::new(),
            payload: String::new(),
        }
    }

    fn header(mut self, name: &str, value: impl ToString) -> Self {
        self.headers.push((name.to_owned(), value.to_string()));
        self
    }

    fn hex_payload(mut self, bytes: &[u8]) -> Self {
        let digits = hex::encode(bytes);
        let lines: Vec<&str> = digits
            .as_bytes()
            .chunks(64)
            .map(|chunk| std::str::from_utf8(chunk).unwrap())
            .collect();
        self.payload = lines.join("\n");
        self
    }

    fn text_payload(mut self, text: &str) -> Self {
        self.payload = text.to_owned();
        self
    }

    fn render(&self, description: &str) -> String {
        let mut out = format!("# sotto known-answer vector. {TEST_ONLY}.\n# {description}\n");
        for (name, value) in &self.headers {
            writeln!(out, "{name}: {value}").unwrap();
        }
        writeln!(out, "\n{}", self.payload).unwrap();
        out
    }

    fn parse(relative: &str) -> Self {
        let text = read(relative);
        let (head, payload) = text
            .split_once("\n\n")
            .unwrap_or_else(|| panic!("{relative}: no blank line after the headers"));
        let headers = head
            .lines()
            .filter(|line| !line.starts_with('#'))
            .map(|line| {
                let (name, value) = line
                    .split_once(": ")
                    .unwrap_or_else(|| panic!("{relative}: bad header line {line:?}"));
                (name.to_owned(), value.to_owned())
            })
            .collect();
        Self {
            headers,
            payload: payload.trim().to_owned(),
        }
    }

    /// The one header called `name`.
    fn get(&self, name: &str) -> &str {
        let mut found = self.headers.iter().filter(|(n, _)| n == name);
        let (_, value) = found
            .next()
            .unwrap_or_else(|| panic!("header {name:?} missing"));
        assert!(found.next().is_none(), "header {name:?} given twice");
        value
    }

    fn get_u64(&self, name: &str) -> u64 {
        self.get(name)
            .parse()
            .unwrap_or_else(|_| panic!("header {name:?} is not a number"))
    }

    fn get_hex<const N: usize>(&self, name: &str) -> [u8; N] {
        hex::decode_array(self.get(name))
            .unwrap_or_else(|| panic!("header {name:?} is not {N} bytes of hex"))
    }

    fn payload_bytes(&self) -> Vec<u8> {
        let digits: Vec<u8> = self
            .payload
            .bytes()
            .filter(|b| !b.is_ascii_whitespace())
            .collect();
        assert_eq!(digits.len() % 2, 0, "odd number of hex digits");
        digits
            .chunks(2)
            .map(|pair| {
                let pair = std::str::from_utf8(pair).unwrap();
                u8::from_str_radix(pair, 16).unwrap_or_else(|_| panic!("bad hex {pair:?}"))
            })
            .collect()
    }

    /// The identity in the key file a header names (`keys/alice.key`), with
    /// the name from the public file next to it.
    fn identity(&self, name: &str) -> Identity {
        load_identity(self.get(name))
    }

    fn room_id(&self) -> RoomId {
        RoomId(self.get_hex("room id"))
    }
}

fn load_identity(key_path: &str) -> Identity {
    let public_path = key_path.replace(".key", ".pub.json");
    let public: PublicFile = serde_json::from_str(&read(&public_path)).unwrap();
    keyfile::decode(&read(key_path), public.identity.name, None).unwrap()
}

// ---------------------------------------------------------------------------
// Generation: the same seeds in the same order every time
// ---------------------------------------------------------------------------

fn alice() -> Identity {
    Identity::generate("alice", &mut rng(ALICE_SEED)).unwrap()
}

fn bob() -> Identity {
    Identity::generate("bob", &mut rng(BOB_SEED)).unwrap()
}

/// The room as alice created it: the id and epoch-0 key every vector uses.
fn alice_room() -> Room {
    Room::create(
        ROOM_NAME,
        &alice().public(),
        CREATED_MS,
        &mut rng(ROOM_SEED),
    )
    .unwrap()
}

/// Every file under `keys/` this test owns, with its exact contents.
fn generate() -> Vec<(&'static str, String)> {
    let alice = alice();
    let bob = bob();
    vec![
        (ALICE_KEY, key_file(&alice)),
        (ALICE_PUB, public_file(&alice)),
        (BOB_KEY, key_file(&bob)),
        (BOB_PUB, public_file(&bob)),
        (INVITE_VECTOR, invite_vector(&alice)),
        (MESSAGE_VECTOR, message_vector(&alice)),
        (PRESENCE_VECTOR, presence_vector(&bob)),
        (EPOCH_KEY_VECTOR, epoch_key_vector(&alice, &bob)),
        (RATCHET_VECTOR, ratchet_vector()),
        (COMMIT_VECTOR, commit_vector(&alice)),
    ]
}

fn seed_line(seed: u64) -> String {
    format!("ChaCha20Rng::seed_from_u64({seed})")
}

fn key_file(identity: &Identity) -> String {
    let text = keyfile::encode(identity, None, &mut rng(KEY_FILE_SEED));
    format!("# {TEST_ONLY}.\n{}", &*text)
}

fn public_file(identity: &Identity) -> String {
    let file = PublicFile {
        comment: TEST_ONLY.to_owned(),
        identity: identity.public(),
        fingerprint: identity.fingerprint().to_string(),
    };
    format!("{}\n", serde_json::to_string_pretty(&file).unwrap())
}

fn invite_vector(alice: &Identity) -> String {
    let room = alice_room();
    let invite = room.invite();
    let context = room.context();
    VectorFile::new()
        .header("vector", "invite")
        .header("rng", seed_line(ROOM_SEED))
        .header("inviter key", ALICE_KEY)
        .header("room name", ROOM_NAME)
        .header("created at ms", CREATED_MS)
        .header("expect", "success")
        .header("expect room name", &invite.room_name)
        .header("expect room id", context.room_id.to_hex())
        .header("expect epoch", context.epoch)
        .header("expect epoch key", hex::encode(context.key.as_bytes()))
        .header("expect inviter fingerprint", alice.fingerprint().to_hex())
        .header("expect epoch topic id", room.epoch_topic_id())
        .header("expect room topic id", room.room_topic_id())
        .header(
            "expect inviter member topic id",
            room.member_topic_id(&alice.fingerprint()),
        )
        .text_payload(&invite.encode())
        .render("An invite to room \"ops\", epoch 0, made by alice; Room::create draws the room id, then the epoch key.")
}

fn message_vector(alice: &Identity) -> String {
    let room = alice_room();
    let context = room.context();
    let body = Body::Text(MESSAGE_TEXT.to_owned());
    let bytes = message::seal_numbered(
        context,
        alice,
        MESSAGE_SEQ,
        MESSAGE_SKIPPED,
        MESSAGE_MS,
        body,
        &mut rng(MESSAGE_SEED),
    )
    .unwrap();
    VectorFile::new()
        .header("vector", "message")
        .header("rng", seed_line(MESSAGE_SEED))
        .header("sender key", ALICE_KEY)
        .header("room id", context.room_id.to_hex())
        .header("epoch", context.epoch)
        .header("epoch key", hex::encode(context.key.as_bytes()))
        .header("seq", MESSAGE_SEQ)
        .header("skipped", ranges_text(MESSAGE_SKIPPED))
        .header("sent at ms", MESSAGE_MS)
        .header("body", "text")
        .header("text", MESSAGE_TEXT)
        .header("expect", "success")
        .header("expect sender", alice.name())
        .header("expect sender fingerprint", alice.fingerprint().to_hex())
        .header("expect seq", MESSAGE_SEQ)
        .header("expect skipped", ranges_text(MESSAGE_SKIPPED))
        .header("expect sent at ms", MESSAGE_MS)
        .header("expect body", "text")
        .header("expect text", MESSAGE_TEXT)
        .header("expect ciphertext length", MIN_BUCKET + TAG_LEN)
        .hex_payload(&bytes)
        .render("A text message from alice, number 5, declaring 2-3 as never sent; sealed with message::seal_numbered under epoch 0 of the room in invite.txt; the signed plaintext is padded with 0x80 then zeros to the smallest bucket, 256 bytes.")
}

fn presence_vector(bob: &Identity) -> String {
    let room = alice_room();
    let context = room.context();
    let bytes = presence::seal(
        context,
        bob,
        PRESENCE_SEQ,
        PRESENCE_MS,
        Status::Online,
        PRESENCE_LAST_SEQ,
        &mut rng(PRESENCE_SEED),
    );
    VectorFile::new()
        .header("vector", "presence")
        .header("rng", seed_line(PRESENCE_SEED))
        .header("member key", BOB_KEY)
        .header("room id", context.room_id.to_hex())
        .header("epoch", context.epoch)
        .header("epoch key", hex::encode(context.key.as_bytes()))
        .header("seq", PRESENCE_SEQ)
        .header("at ms", PRESENCE_MS)
        .header("status", "online")
        .header("last seq", PRESENCE_LAST_SEQ)
        .header("expect", "success")
        .header("expect member", bob.name())
        .header("expect member fingerprint", bob.fingerprint().to_hex())
        .header("expect seq", PRESENCE_SEQ)
        .header("expect at ms", PRESENCE_MS)
        .header("expect status", "online")
        .header("expect last seq", PRESENCE_LAST_SEQ)
        .header(
            "expect member topic id",
            room.member_topic_id(&bob.fingerprint()),
        )
        .header("expect ciphertext length", PRESENCE_PADDED_LEN + TAG_LEN)
        .hex_payload(&bytes)
        .render("Bob's presence record (online), sealed with presence::seal under epoch 0 of the room in invite.txt; the signed plaintext is padded with 0x80 then zeros to 256 bytes, the size of every presence record.")
}

fn epoch_key_vector(alice: &Identity, bob: &Identity) -> String {
    let room = alice_room();
    let mut rng = rng(EPOCH_KEY_SEED);
    let new_key = SymmetricKey::random(&mut rng);
    let bytes = epoch_key::seal(
        room.id(),
        ROTATED_EPOCH,
        ROTATION_COMMIT,
        &new_key,
        alice,
        &bob.public(),
        &mut rng,
    )
    .unwrap();
    VectorFile::new()
        .header("vector", "epoch key")
        .header("rng", seed_line(EPOCH_KEY_SEED))
        .header("rotator key", ALICE_KEY)
        .header("recipient key", BOB_KEY)
        .header("room id", room.id().to_hex())
        .header("new epoch", ROTATED_EPOCH)
        .header("new epoch key", hex::encode(new_key.as_bytes()))
        .header("commit hash", hex::encode(&ROTATION_COMMIT))
        .header("expect", "success")
        .header("expect rotator", alice.name())
        .header("expect rotator fingerprint", alice.fingerprint().to_hex())
        .header("expect epoch", ROTATED_EPOCH)
        .header("expect key", hex::encode(new_key.as_bytes()))
        .header("expect ciphertext length", KEY_SLOT_PADDED_LEN + TAG_LEN)
        .hex_payload(&bytes)
        .render("Epoch 1's key sealed by alice to bob with epoch_key::seal; the RNG draws the new key, then the ephemeral X25519 secret, then the nonce; the signed plaintext is padded with 0x80 then zeros to 512 bytes, the size of every key slot.")
}

fn ratchet_vector() -> String {
    let start = ChainKey::random(&mut rng(RATCHET_SEED));
    let mut vector = VectorFile::new()
        .header("vector", "ratchet")
        .header("rng", seed_line(RATCHET_SEED))
        .header("chain key 1", hex::encode(start.as_bytes()))
        .header("message key label", ratchet::MESSAGE_KEY_LABEL)
        .header("received first", RATCHET_RECEIVED)
        .header("expect", "success");
    let mut chain_key = start.clone();
    for n in 1..=RATCHET_STEPS {
        let (message_key, next) = chain_key.step();
        vector = vector
            .header(
                &format!("expect seed {n}"),
                hex::encode(&hmac(&chain_key, 1)),
            )
            .header(
                &format!("expect message key {n}"),
                hex::encode(message_key.as_bytes()),
            )
            .header(
                &format!("expect chain key {}", n + 1),
                hex::encode(next.as_bytes()),
            );
        chain_key = next;
    }
    let mut sender = SenderChain::new(start.clone());
    let far = (1..=RATCHET_FAR).map(|_| sender.next().unwrap().1).last();
    let mut receiver = ReceiverChain::new(start, 1);
    receiver
        .commit(receiver.key_for(RATCHET_RECEIVED).unwrap())
        .unwrap();
    vector
        .header(
            &format!("expect message key {RATCHET_FAR}"),
            hex::encode(far.unwrap().as_bytes()),
        )
        .text_payload(&serde_json::to_string(&receiver).unwrap())
        .render(&format!(
            "A sender chain from a random chain key: seeds, message keys and chain keys of its \
             first {RATCHET_STEPS} steps and message key {RATCHET_FAR}; the payload is the JSON \
             storage form of a receiver of that chain that received message {RATCHET_RECEIVED} \
             first (keys 1 and 2 skipped)."
        ))
}

/// HMAC-SHA-256 of one byte under a chain key, computed here with the
/// `hmac` crate's slice-keyed constructor, independently of the module.
fn hmac(chain_key: &ChainKey, input: u8) -> [u8; 32] {
    use hmac::{KeyInit, Mac};
    let mut mac =
        <hmac::Hmac<sha2::Sha256> as KeyInit>::new_from_slice(chain_key.as_bytes()).unwrap();
    mac.update(&[input]);
    mac.finalize().into_bytes().into()
}

/// The membership commit vector: alice, creator of a room with a log,
/// rotates its key. The log's first commit (`Create`) is sealed with the
/// same RNG first, so its hash (the rotation's parent) is stated too.
fn commit_vector(alice: &Identity) -> String {
    let mut rng = rng(COMMIT_SEED);
    let room = alice_room();
    let create = sotto::log::Commit {
        epoch: 0,
        parent: sotto::log::CommitHash::default(),
        committer: alice.public(),
        at_ms: CREATED_MS,
        change: sotto::log::Change::Create {
            admins_invite: false,
        },
    };
    let (_, first) = sotto::log::seal(room.context(), alice, create, &mut rng);
    let parent = first.hash(room.id());
    let rotate = sotto::log::Commit {
        epoch: 1,
        parent,
        committer: alice.public(),
        at_ms: CREATED_MS + 1,
        change: sotto::log::Change::Rotate,
    };
    let (bytes, signed) = sotto::log::seal(room.context(), alice, rotate, &mut rng);
    VectorFile::new()
        .header("vector", "commit")
        .header("rng", seed_line(COMMIT_SEED))
        .header("committer key", ALICE_KEY)
        .header("room id", room.id().to_hex())
        .header("epoch", 0)
        .header("epoch key", hex::encode(room.context().key.as_bytes()))
        .header("expect", "success")
        .header("expect committer", alice.name())
        .header("expect new epoch", 1)
        .header("expect parent", hex::encode(&parent.0))
        .header("expect change", "rotate")
        .header("expect commit hash", hex::encode(&signed.hash(room.id()).0))
        .hex_payload(&bytes)
        .render("alice rotates the key of a room with a log: log::seal under epoch 0 of the room in invite.txt, after its Create commit (sealed first with the same RNG).")
}

/// Skipped ranges as `first-last` pairs separated by `, ` (`none` if empty).
fn ranges_text(ranges: &[SeqRange]) -> String {
    if ranges.is_empty() {
        return "none".to_owned();
    }
    let pairs: Vec<String> = ranges
        .iter()
        .map(|r| format!("{}-{}", r.first, r.last))
        .collect();
    pairs.join(", ")
}

fn status_name(status: Status) -> &'static str {
    match status {
        Status::Online => "online",
        Status::Offline => "offline",
    }
}

fn body_kind(body: &Body) -> &'static str {
    match body {
        Body::Text(_) => "text",
        Body::Action(_) => "action",
    }
}

// ---------------------------------------------------------------------------
// 1. Key files
// ---------------------------------------------------------------------------

#[test]
fn key_files_decode_to_the_identities_their_public_files_describe() {
    ensure_files();
    for (key_path, public_path) in [(ALICE_KEY, ALICE_PUB), (BOB_KEY, BOB_PUB)] {
        let key_text = read(key_path);
        assert!(
            key_text.starts_with("# TEST-ONLY"),
            "{key_path} must say it is test-only on its first line"
        );
        assert!(!keyfile::is_protected(&key_text).unwrap());
        let public: PublicFile = serde_json::from_str(&read(public_path)).unwrap();
        assert!(public.comment.starts_with("TEST-ONLY"));
        let identity = keyfile::decode(&key_text, public.identity.name.clone(), None).unwrap();
        assert_eq!(identity.public(), public.identity, "{key_path}");
        assert_eq!(identity.fingerprint().to_string(), public.fingerprint);
        assert_eq!(public.identity.fingerprint(), identity.fingerprint());
        assert_eq!(
            keyfile::claimed_fingerprint(&key_text),
            Some(public.fingerprint.as_str())
        );
        // The public file is also plain `PublicIdentity` JSON to any reader
        // that ignores the extra fields.
        let plain: PublicIdentity = serde_json::from_str(&read(public_path)).unwrap();
        assert_eq!(plain, public.identity);
    }
}

// ---------------------------------------------------------------------------
// 2. Each vector opens to what it states
// ---------------------------------------------------------------------------

#[test]
fn invite_vector_decodes_to_its_stated_fields() {
    ensure_files();
    let vector = VectorFile::parse(INVITE_VECTOR);
    assert_eq!(vector.get("vector"), "invite");
    assert_eq!(vector.get("expect"), "success");
    let inviter = vector.identity("inviter key");
    let invite = Invite::decode(&vector.payload).unwrap();
    assert!(vector.payload.starts_with("sotto1"));
    assert_eq!(invite.room_name, vector.get("expect room name"));
    assert_eq!(invite.room_name, vector.get("room name"));
    assert_eq!(invite.room_id.to_hex(), vector.get("expect room id"));
    assert_eq!(invite.epoch, vector.get_u64("expect epoch"));
    assert_eq!(
        invite.epoch_key,
        SymmetricKey::from_bytes(vector.get_hex("expect epoch key"))
    );
    assert_eq!(
        invite.inviter.to_hex(),
        vector.get("expect inviter fingerprint")
    );
    assert_eq!(invite.inviter, inviter.fingerprint());

    // The topics a member of this room subscribes to (all the broker sees).
    let bob = load_identity(BOB_KEY);
    let room = Room::join(&invite, ROOM_NAME, &bob.public(), 0).unwrap();
    assert_eq!(room.epoch_topic_id(), vector.get("expect epoch topic id"));
    assert_eq!(room.room_topic_id(), vector.get("expect room topic id"));
    assert_eq!(
        room.member_topic_id(&inviter.fingerprint()),
        vector.get("expect inviter member topic id")
    );
}

/// The room and epoch a vector's headers name.
struct StatedContext {
    room_id: RoomId,
    epoch: u64,
    key: SymmetricKey,
}

impl StatedContext {
    fn from(vector: &VectorFile) -> Self {
        Self {
            room_id: vector.room_id(),
            epoch: vector.get_u64("epoch"),
            key: SymmetricKey::from_bytes(vector.get_hex("epoch key")),
        }
    }

    fn context(&self) -> EpochContext<'_> {
        EpochContext {
            room_id: &self.room_id,
            epoch: self.epoch,
            key: &self.key,
        }
    }
}

/// The length of the ciphertext in a payload sealed under the epoch key
/// (`nonce[24] | ciphertext`): the padded plaintext plus the tag, the only
/// length the broker learns.
fn sealed_ciphertext_len(bytes: &[u8]) -> usize {
    let framed = wire::frame(bytes).unwrap();
    let (_nonce, ciphertext): ([u8; 24], Vec<u8>) =
        wire::decode_exact(framed.body, MAX_ENVELOPE_LEN).unwrap();
    ciphertext.len()
}

/// The invite vector, as bob and alice would join with it.
fn stated_invite() -> Invite {
    Invite::decode(&VectorFile::parse(INVITE_VECTOR).payload).unwrap()
}

#[test]
fn message_vector_opens_to_its_stated_fields() {
    ensure_files();
    let vector = VectorFile::parse(MESSAGE_VECTOR);
    assert_eq!(vector.get("vector"), "message");
    assert_eq!(vector.get("expect"), "success");
    let sender = vector.identity("sender key");
    let stated = StatedContext::from(&vector);
    let bytes = vector.payload_bytes();

    let message = message::open(stated.context(), &bytes).unwrap();
    assert_eq!(message.sender, sender.public());
    assert_eq!(message.sender.name, vector.get("expect sender"));
    assert_eq!(
        message.sender.fingerprint().to_hex(),
        vector.get("expect sender fingerprint")
    );
    assert_eq!(message.seq, vector.get_u64("expect seq"));
    assert_eq!(message.seq, vector.get_u64("seq"));
    assert_eq!(ranges_text(&message.skipped), vector.get("expect skipped"));
    assert_eq!(ranges_text(&message.skipped), vector.get("skipped"));
    assert_eq!(message.sent_at_ms, vector.get_u64("expect sent at ms"));
    assert_eq!(message.sent_at_ms, vector.get_u64("sent at ms"));
    assert_eq!(body_kind(&message.body), vector.get("expect body"));
    assert_eq!(message.body.text(), vector.get("expect text"));
    assert_eq!(message.body.text(), vector.get("text"));
    assert_eq!(
        sealed_ciphertext_len(&bytes),
        vector.get_u64("expect ciphertext length") as usize
    );

    // The stated room is the invite's, and the broker sees no text.
    let invite = stated_invite();
    assert_eq!(
        (invite.room_id, invite.epoch),
        (stated.room_id, stated.epoch)
    );
    assert!(!bytes.windows(5).any(|w| w == b"hello"));

    // Bob, joined with the invite, accepts it once, from a trusted inviter.
    let bob = load_identity(BOB_KEY);
    let mut room = Room::join(&invite, ROOM_NAME, &bob.public(), 0).unwrap();
    let Ok(Received::Accepted(delivery)) = room.receive_message(&bytes, 1) else {
        panic!("bob's room refused the message vector");
    };
    assert_eq!(delivery.from, vector.get("expect sender"));
    assert_eq!(delivery.fingerprint, sender.fingerprint());
    assert_eq!(delivery.trust, Trust::Invite);
    assert_eq!(delivery.seq, message.seq);
    assert_eq!(delivery.body, message.body);
    assert!(matches!(delivery.notices[..], [Notice::NewMember { .. }]));
    assert_eq!(
        room.receive_message(&bytes, 2),
        Err(OpenError::Replayed(message.seq))
    );
    // The declared numbers are closed: a payload claiming one is a replay.
    // An undeclared lower number (4) may still arrive late, once.
    let claim = |seq| {
        let sealed = message::seal(
            stated.context(),
            &sender,
            seq,
            MESSAGE_MS,
            Body::Text("late".into()),
            &mut rng(99),
        );
        sealed.unwrap()
    };
    for range in &message.skipped {
        for seq in range.first..=range.last {
            assert_eq!(
                room.receive_message(&claim(seq), 3),
                Err(OpenError::Replayed(seq))
            );
        }
    }
    let Ok(Received::Accepted(late)) = room.receive_message(&claim(4), 3) else {
        panic!("an undeclared number below the vector's was refused");
    };
    assert!(late.notices.is_empty());

    // Any other epoch refuses it.
    let next = EpochContext {
        epoch: stated.epoch + 1,
        ..stated.context()
    };
    assert!(matches!(
        message::open(next, &bytes),
        Err(OpenError::WrongEpoch { .. })
    ));
}

#[test]
fn presence_vector_opens_to_its_stated_fields() {
    ensure_files();
    let vector = VectorFile::parse(PRESENCE_VECTOR);
    assert_eq!(vector.get("vector"), "presence");
    assert_eq!(vector.get("expect"), "success");
    let member = vector.identity("member key");
    let stated = StatedContext::from(&vector);
    let bytes = vector.payload_bytes();

    let record = presence::open(stated.context(), &bytes).unwrap();
    assert_eq!(record.member, member.public());
    assert_eq!(record.member.name, vector.get("expect member"));
    assert_eq!(
        record.member.fingerprint().to_hex(),
        vector.get("expect member fingerprint")
    );
    assert_eq!(record.seq, vector.get_u64("expect seq"));
    assert_eq!(record.seq, vector.get_u64("seq"));
    assert_eq!(record.at_ms, vector.get_u64("expect at ms"));
    assert_eq!(record.at_ms, vector.get_u64("at ms"));
    assert_eq!(status_name(record.status), vector.get("expect status"));
    assert_eq!(status_name(record.status), vector.get("status"));
    assert_eq!(record.last_seq, vector.get_u64("expect last seq"));
    assert_eq!(record.last_seq, vector.get_u64("last seq"));
    assert_eq!(
        sealed_ciphertext_len(&bytes),
        vector.get_u64("expect ciphertext length") as usize
    );
    assert!(!bytes.windows(3).any(|w| w == b"bob"));

    // Alice's side accepts it once, and only on bob's own presence topic;
    // the same record again is a rollback.
    let alice = load_identity(ALICE_KEY);
    let mut room = Room::join(&stated_invite(), ROOM_NAME, &alice.public(), 0).unwrap();
    let topic = room.member_topic_id(&member.fingerprint());
    assert_eq!(topic, vector.get("expect member topic id"));
    let alices_topic = room.member_topic_id(&alice.fingerprint());
    assert_eq!(
        room.receive_presence(&bytes, &alices_topic, 1),
        Err(OpenError::WrongTopic)
    );
    let Ok(Received::Accepted(update)) = room.receive_presence(&bytes, &topic, 1) else {
        panic!("alice's room refused the presence vector");
    };
    assert_eq!(update.name, vector.get("expect member"));
    assert_eq!(update.fingerprint, member.fingerprint());
    assert_eq!(update.status, Status::Online);
    assert!(update.changed);
    // Bob's announced messages are remembered; with none received yet they
    // are a starting point, not a gap.
    let announced = room.members()[&member.fingerprint()].announced_seq;
    assert_eq!(announced, record.last_seq);
    assert_eq!(room.overdue_gaps(), vec![]);
    assert_eq!(
        room.receive_presence(&bytes, &topic, 2),
        Err(OpenError::OutdatedPresence(record.seq))
    );
}

#[test]
fn commit_vector_opens_with_its_stated_hash_and_follows_the_log() {
    ensure_files();
    let vector = VectorFile::parse(COMMIT_VECTOR);
    assert_eq!(vector.get("vector"), "commit");
    let committer = vector.identity("committer key");
    let stated = StatedContext::from(&vector);
    let bytes = vector.payload_bytes();
    let signed = sotto::log::open(stated.context(), &bytes).unwrap();
    assert_eq!(signed.commit.committer, committer.public());
    assert_eq!(signed.commit.committer.name, vector.get("expect committer"));
    assert_eq!(signed.commit.epoch, vector.get_u64("expect new epoch"));
    assert_eq!(
        hex::encode(&signed.commit.parent.0),
        vector.get("expect parent")
    );
    assert_eq!(signed.commit.change, sotto::log::Change::Rotate);
    assert_eq!(
        hex::encode(&signed.hash(&stated.room_id).0),
        vector.get("expect commit hash")
    );
    // Any flipped byte is refused.
    for position in 0..bytes.len() {
        let mut tampered = bytes.clone();
        tampered[position] ^= 1;
        assert!(sotto::log::open(stated.context(), &tampered).is_err());
    }
}

#[test]
fn epoch_key_vector_opens_only_for_its_recipient() {
    ensure_files();
    let vector = VectorFile::parse(EPOCH_KEY_VECTOR);
    assert_eq!(vector.get("vector"), "epoch key");
    assert_eq!(vector.get("expect"), "success");
    let rotator = vector.identity("rotator key");
    let recipient = vector.identity("recipient key");
    let room_id = vector.room_id();
    let bytes = vector.payload_bytes();

    let grant = epoch_key::open(&room_id, &recipient, &bytes).unwrap();
    assert_eq!(grant.rotator, rotator.public());
    assert_eq!(grant.rotator.name, vector.get("expect rotator"));
    assert_eq!(
        grant.rotator.fingerprint().to_hex(),
        vector.get("expect rotator fingerprint")
    );
    assert_eq!(grant.epoch, vector.get_u64("expect epoch"));
    assert_eq!(grant.epoch, vector.get_u64("new epoch"));
    assert_eq!(hex::encode(&grant.commit), vector.get("commit hash"));
    assert_eq!(
        grant.key,
        SymmetricKey::from_bytes(vector.get_hex("expect key"))
    );
    assert_eq!(
        grant.key,
        SymmetricKey::from_bytes(vector.get_hex("new epoch key"))
    );
    assert!(!bytes.windows(32).any(|w| w == grant.key.as_bytes()));
    assert_eq!(stated_invite().room_id, room_id);
    let framed = wire::frame(&bytes).unwrap();
    let (_ephemeral, _nonce, ciphertext): ([u8; 32], [u8; 24], Vec<u8>) =
        wire::decode_exact(framed.body, MAX_ENVELOPE_LEN).unwrap();
    assert_eq!(
        ciphertext.len(),
        vector.get_u64("expect ciphertext length") as usize
    );

    // Not the rotator, not another room.
    assert_eq!(
        epoch_key::open(&room_id, &rotator, &bytes).unwrap_err(),
        OpenError::Tampered
    );
    assert_eq!(
        epoch_key::open(&RoomId([0; 16]), &recipient, &bytes).unwrap_err(),
        OpenError::Tampered
    );
}

#[test]
fn ratchet_vector_derives_its_stated_keys() {
    ensure_files();
    let vector = VectorFile::parse(RATCHET_VECTOR);
    assert_eq!(vector.get("vector"), "ratchet");
    assert_eq!(vector.get("expect"), "success");
    assert_eq!(vector.get("message key label"), ratchet::MESSAGE_KEY_LABEL);
    let start = ChainKey::from_bytes(vector.get_hex("chain key 1"));
    let expect = |what: &str, n: u64| -> [u8; 32] { vector.get_hex(&format!("expect {what} {n}")) };

    // The module's chain, step by step and through a sender.
    let mut chain_key = start.clone();
    let mut sender = SenderChain::new(start.clone());
    for n in 1..=RATCHET_STEPS {
        let (message_key, next) = chain_key.step();
        assert_eq!(message_key.as_bytes(), &expect("message key", n));
        assert_eq!(next.as_bytes(), &expect("chain key", n + 1));
        let (seq, sent) = sender.next().unwrap();
        assert_eq!((seq, sent.as_bytes()), (n, &expect("message key", n)));
        chain_key = next;
    }

    // The same keys from the construction as documented, with the hmac and
    // hkdf crates used directly: seed = HMAC(ck, 0x01), next chain key =
    // HMAC(ck, 0x02), message key = HKDF(seed, no salt, label).
    let mut chain_key = start.clone();
    for n in 1..=RATCHET_STEPS {
        let seed = hmac(&chain_key, 1);
        assert_eq!(seed, expect("seed", n));
        let mut message_key = [0u8; 32];
        hkdf::Hkdf::<sha2::Sha256>::new(Some(&[]), &seed)
            .expand(vector.get("message key label").as_bytes(), &mut message_key)
            .unwrap();
        assert_eq!(message_key, expect("message key", n));
        chain_key = ChainKey::from_bytes(hmac(&chain_key, 2));
        assert_eq!(chain_key.as_bytes(), &expect("chain key", n + 1));
    }

    // The stored receiver: message 3 used, 1 and 2 awaited, the chain at 4.
    let stored: ReceiverChain = serde_json::from_str(&vector.payload).unwrap();
    assert_eq!(vector.get_u64("received first"), RATCHET_RECEIVED);
    assert_eq!(stored.next_seq(), RATCHET_RECEIVED + 1);
    assert_eq!(stored.skipped_len(), 2);
    assert!(!vector.payload.contains(&hex::encode(start.as_bytes())));
    assert!(
        !vector
            .payload
            .contains(&hex::encode(&expect("message key", 3)))
    );
    assert_eq!(
        stored.key_for(RATCHET_RECEIVED).unwrap_err(),
        RatchetError::AlreadyUsed(RATCHET_RECEIVED)
    );
    let mut receiver = stored.clone();
    for n in [2, 1, 4, RATCHET_FAR] {
        let staged = receiver.key_for(n).unwrap();
        assert_eq!(
            staged.key().as_bytes(),
            &expect("message key", n),
            "key {n}"
        );
        receiver.commit(staged).unwrap();
    }
}

// ---------------------------------------------------------------------------
// 3. Byte-for-byte regeneration
// ---------------------------------------------------------------------------

#[test]
fn every_file_matches_its_regeneration_from_the_seeds() {
    ensure_files();
    for (relative, expected) in generate() {
        let actual = read(relative);
        if actual == expected {
            continue;
        }
        let line = actual
            .lines()
            .zip(expected.lines())
            .position(|(a, e)| a != e)
            .map_or_else(
                || "the line count".to_owned(),
                |i| format!("line {}", i + 1),
            );
        panic!(
            "{relative} differs from what the code generates now (first at {line}): the \
             format or a derivation changed. If that is deliberate, run \
             `{REGENERATE_ENV}=1 cargo test --test vectors` and review the diff.\n\
             --- file\n{actual}\n--- generated\n{expected}"
        );
    }
}

#[test]
fn generation_is_deterministic() {
    assert_eq!(generate(), generate());
}
