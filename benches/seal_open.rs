//! What sotto's sign-then-encrypt costs over the bare primitives, for a
//! 200-byte chat message.
//!
//! - `message/seal`, `message/open`: the full path (`protocol::message`).
//! - `room/receive_message`: open plus membership, trust and replay-window
//!   bookkeeping, with a fresh message (next sequence number) each time.
//! - `baseline/*`: XChaCha20-Poly1305 over the same 200 bytes
//!   (`sotto::crypto::seal`/`open`), Ed25519 sign and `verify_strict`, and
//!   the pieces of per-message work that are neither (deriving the X25519
//!   public key for `Identity::public`, decompressing the sender's
//!   verifying key).
//!
//! `cargo bench --bench seal_open -- --quick` for a fast look.
//! Test-only keys from fixed seeds: nothing here is a real secret.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::hint::black_box;

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;
use sotto::crypto;
use sotto::identity::Identity;
use sotto::invite::Invite;
use sotto::protocol::EpochContext;
use sotto::protocol::message::{self, Body};
use sotto::room::{Received, Room, RoomId};
use sotto::secret::SymmetricKey;

const TEXT_LEN: usize = 200;
const NOW_MS: u64 = 1_767_225_600_000;

fn text() -> String {
    // Printable ASCII, so the body is exactly TEXT_LEN bytes.
    (0..TEXT_LEN)
        .map(|i| char::from(b'a' + (i % 26) as u8))
        .collect()
}

fn alice() -> Identity {
    Identity::generate("alice", &mut ChaCha20Rng::seed_from_u64(0xA11CE)).unwrap()
}

fn bob() -> Identity {
    Identity::generate("bob", &mut ChaCha20Rng::seed_from_u64(0xB0B)).unwrap()
}

fn message_path(c: &mut Criterion) {
    let alice = alice();
    let room_id = RoomId([7; 16]);
    let key = SymmetricKey::from_bytes([9; 32]);
    let context = EpochContext {
        room_id: &room_id,
        epoch: 0,
        key: &key,
    };
    let body = Body::Text(text());
    let mut rng = ChaCha20Rng::seed_from_u64(1);
    let sealed = message::seal(context, &alice, 1, NOW_MS, body.clone(), &mut rng).unwrap();

    let mut group = c.benchmark_group("message");
    group.throughput(Throughput::Bytes(TEXT_LEN as u64));
    group.bench_function("seal", |b| {
        b.iter(|| {
            message::seal(
                black_box(context),
                &alice,
                1,
                NOW_MS,
                black_box(body.clone()),
                &mut rng,
            )
        })
    });
    group.bench_function("open", |b| {
        b.iter(|| message::open(black_box(context), black_box(&sealed)).unwrap())
    });
    group.finish();
}

fn room_receive(c: &mut Criterion) {
    let alice = alice();
    let bob = bob();
    let mut rng = ChaCha20Rng::seed_from_u64(2);
    let mut alice_room = Room::create("ops", &alice.public(), NOW_MS, &mut rng).unwrap();
    let invite = Invite::decode(&alice_room.invite().encode()).unwrap();
    let mut bob_room = Room::join(&invite, "ops", &bob.public(), NOW_MS).unwrap();
    let body = Body::Text(text());

    let mut group = c.benchmark_group("room");
    group.throughput(Throughput::Bytes(TEXT_LEN as u64));
    // Alice seals the next message in the setup (not timed); bob's room,
    // which persists across iterations, receives it, so every iteration
    // moves the replay window forward as a live chat does.
    group.bench_function("receive_message", |b| {
        b.iter_batched(
            || {
                alice_room
                    .seal_message(&alice, body.clone(), NOW_MS, &mut rng)
                    .unwrap()
            },
            |bytes| {
                let received = bob_room.receive_message(&bytes, NOW_MS).unwrap();
                assert!(matches!(received, Received::Accepted(_)));
                received
            },
            BatchSize::SmallInput,
        )
    });
    group.finish();
}

fn baselines(c: &mut Criterion) {
    let alice = alice();
    let key = SymmetricKey::from_bytes([9; 32]);
    let plaintext = text().into_bytes();
    let mut rng = ChaCha20Rng::seed_from_u64(3);
    let (nonce, ciphertext) = crypto::seal(&key, b"aad", &plaintext, &mut rng);
    let signature = alice.sign(&plaintext);
    let public = alice.public();
    let verifying = public.verifying_key().unwrap();

    let mut group = c.benchmark_group("baseline");
    group.throughput(Throughput::Bytes(TEXT_LEN as u64));
    group.bench_function("xchacha20poly1305_seal", |b| {
        b.iter(|| crypto::seal(&key, b"aad", black_box(&plaintext), &mut rng))
    });
    group.bench_function("xchacha20poly1305_open", |b| {
        b.iter(|| crypto::open(&key, &nonce, b"aad", black_box(&ciphertext)).unwrap())
    });
    group.bench_function("ed25519_sign", |b| {
        b.iter(|| alice.sign(black_box(&plaintext)))
    });
    group.bench_function("ed25519_verify_strict", |b| {
        b.iter(|| {
            verifying
                .verify_strict(black_box(&plaintext), black_box(&signature))
                .unwrap()
        })
    });
    // Not primitives of the format, but work each seal/open does today.
    group.bench_function("identity_public", |b| b.iter(|| black_box(&alice).public()));
    group.bench_function("verifying_key_from_bytes", |b| {
        b.iter(|| black_box(&public).verifying_key().unwrap())
    });
    group.finish();
}

criterion_group!(benches, message_path, room_receive, baselines);
criterion_main!(benches);
