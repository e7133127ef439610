//! What sotto's sign-then-encrypt costs over the bare primitives, for a
//! 200-byte chat message.
//!
//! - `megolm_shaped/*`: the floor issue 7 compares against, in the same
//!   run: Ed25519 sign + XChaCha20-Poly1305 seal of the 200-byte message
//!   (`seal`), XChaCha20-Poly1305 open + `verify_strict` with the sender's
//!   key already decompressed, as a Megolm session holds it (`open`), and
//!   both (`seal_open`).
//! - `message/seal`, `message/open`: the protocol functions alone
//!   (`protocol::message`); `open` decompresses the sender's key each time.
//! - `room/receive_message`: open with the room's cached key plus
//!   membership, trust and replay-window bookkeeping, with a fresh message
//!   (next sequence number) each time.
//! - `room/open_cached`: a message received again: everything
//!   `receive_message` does up to its replay check (which refuses it),
//!   with the sender's key cached and no setup between iterations.
//! - `room/seal_open`: `Room::seal_message` then `Room::receive_message`,
//!   sotto's whole per-message cost, to set beside `megolm_shaped/seal_open`.
//! - `room/receive_batch_256`: catch-up of 256 queued messages with
//!   `Room::receive_batch`, into a room reloaded from its saved state (key
//!   cache cold, as after a restart); throughput is per message.
//! - `baseline/*`: XChaCha20-Poly1305 over the same 200 bytes
//!   (`sotto::crypto::seal`/`open`), Ed25519 sign and `verify_strict`, and
//!   the pieces of per-message work that are neither (deriving the X25519
//!   public key for `Identity::public`, decompressing the sender's
//!   verifying key), and ed25519-dalek's batch verification at 16, 64, 128
//!   and 256 signatures (per signature), which sets the chunk size
//!   `Room::receive_batch` uses.
//!
//! Poly1305: on x86-64, poly1305 0.9 picks its AVX2 backend at run time,
//! and that backend costs more than the portable one for messages this
//! short (measured on the 2-core AMD EPYC this was written on, criterion
//! `--quick`: `xchacha20poly1305_seal` 2.02 us with AVX2, 0.83 us
//! portable; `_open` 2.05 us against 0.85 us). `.cargo/config.toml`
//! therefore sets `--cfg poly1305_backend="soft"`, the crate's own switch
//! for its portable backend: no code of ours, no unsafe, same primitive.
//! A `RUSTFLAGS` environment variable replaces that setting (cargo uses
//! one or the other), and the AVX2 backend comes back.
//!
//! `cargo bench --bench seal_open -- --quick` for a fast look.
//! Test-only keys from fixed seeds: nothing here is a real secret.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::hint::black_box;

use criterion::{BatchSize, BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use ed25519_dalek::{Signature, VerifyingKey};
use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;
use sotto::crypto;
use sotto::identity::Identity;
use sotto::invite::Invite;
use sotto::protocol::message::{self, Body};
use sotto::protocol::{EpochContext, OpenError};
use sotto::room::{Received, Room, RoomId};
use sotto::secret::SymmetricKey;

const TEXT_LEN: usize = 200;
const NOW_MS: u64 = 1_767_225_600_000;
/// Messages in the catch-up benchmark.
const CATCH_UP: usize = 256;

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

/// The Megolm-shaped floor: one signature and one AEAD per message, the
/// sender's key already decompressed on the receiving side.
fn megolm_shaped(c: &mut Criterion) {
    let alice = alice();
    let key = SymmetricKey::from_bytes([9; 32]);
    let plaintext = text().into_bytes();
    let mut rng = ChaCha20Rng::seed_from_u64(4);
    let verifying = alice.public().verifying_key().unwrap();
    let seal = |rng: &mut ChaCha20Rng| {
        let signature = alice.sign(black_box(&plaintext));
        let (nonce, ciphertext) = crypto::seal(&key, b"aad", &plaintext, rng);
        (signature, nonce, ciphertext)
    };
    let open = |sealed: &(Signature, [u8; 24], Vec<u8>), verifying: &VerifyingKey| {
        let (signature, nonce, ciphertext) = sealed;
        let plaintext = crypto::open(&key, nonce, b"aad", black_box(ciphertext)).unwrap();
        verifying.verify_strict(&plaintext, signature).unwrap();
        plaintext
    };
    let sealed = seal(&mut rng);

    let mut group = c.benchmark_group("megolm_shaped");
    group.throughput(Throughput::Bytes(TEXT_LEN as u64));
    group.bench_function("seal", |b| b.iter(|| seal(&mut rng)));
    group.bench_function("open", |b| b.iter(|| open(&sealed, &verifying)));
    group.bench_function("seal_open", |b| {
        b.iter(|| open(&seal(&mut rng), &verifying))
    });
    group.finish();
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
    // A message already received, received again: decryption, the cached
    // key, the signature check and the membership and replay checks, with
    // no setup between iterations and no state change (it ends as a
    // replay): open with the cache, steady state.
    let seen = alice_room
        .seal_message(&alice, body.clone(), NOW_MS, &mut rng)
        .unwrap();
    bob_room.receive_message(&seen, NOW_MS).unwrap();
    group.bench_function("open_cached", |b| {
        b.iter(|| {
            let refused = bob_room.receive_message(black_box(&seen), NOW_MS);
            assert!(matches!(refused, Err(OpenError::Replayed(_))));
        })
    });
    group.bench_function("seal_open", |b| {
        b.iter(|| {
            let bytes = alice_room
                .seal_message(&alice, body.clone(), NOW_MS, &mut rng)
                .unwrap();
            let received = bob_room.receive_message(&bytes, NOW_MS).unwrap();
            assert!(matches!(received, Received::Accepted(_)));
            received
        })
    });

    // Catch-up: 256 queued messages (sealed once), received in one call
    // by a fresh copy of a room that has not seen them, reloaded from its
    // saved state so its key cache is cold, as after a restart.
    let queued: Vec<Vec<u8>> = (0..CATCH_UP)
        .map(|_| {
            alice_room
                .seal_message(&alice, body.clone(), NOW_MS, &mut rng)
                .unwrap()
        })
        .collect();
    group.throughput(Throughput::Elements(CATCH_UP as u64));
    let saved = serde_json::to_string(&bob_room).unwrap();
    let reloaded: Room = serde_json::from_str(&saved).unwrap();
    group.bench_function("receive_batch_256", |b| {
        b.iter_batched(
            || reloaded.clone(),
            |mut room| {
                let results = room.receive_batch(&queued, NOW_MS);
                assert!(results.iter().all(|r| r.is_ok()));
                (room, results)
            },
            BatchSize::LargeInput,
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
    for size in [16usize, 64, 128, 256] {
        let messages: Vec<Vec<u8>> = (0..size)
            .map(|i| [&plaintext[..], &i.to_be_bytes()].concat())
            .collect();
        let signatures: Vec<Signature> = messages.iter().map(|m| alice.sign(m)).collect();
        let keys = vec![verifying; size];
        let slices: Vec<&[u8]> = messages.iter().map(|m| &m[..]).collect();
        group.throughput(Throughput::Elements(size as u64));
        group.bench_with_input(
            BenchmarkId::new("ed25519_verify_batch", size),
            &size,
            |b, _| {
                b.iter(|| {
                    ed25519_dalek::verify_batch(black_box(&slices), &signatures, &keys).unwrap()
                })
            },
        );
    }
    group.finish();
}

criterion_group!(
    benches,
    megolm_shaped,
    message_path,
    room_receive,
    baselines
);
criterion_main!(benches);
