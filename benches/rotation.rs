//! What a membership change costs in a room with a log.
//!
//! - `rotation/rekey_1000`: `Room::make_commit` of a removal in a room of
//!   1000 members: a fresh epoch key sealed to the 998 who stay (ephemeral
//!   X25519, HKDF, XChaCha20-Poly1305 and an Ed25519 signature each), the
//!   commit sealed and checked against the log. The target is
//!   under one second.
//! - `rotation/receive`: a remaining member taking that commit and its key
//!   slot (in a room of three, as a member's cost does not grow with the
//!   room: one slot to open, one commit to check).
//!
//! The big room is built once: 999 members met through presence, then a
//! genesis commit putting them all on the log (in this process only: a
//! genesis that long is over the 64 KiB envelope). Test-only keys from a
//! fixed seed: nothing here is a real secret.
//!
//! `cargo bench --bench rotation -- --quick` for a fast look.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::hint::black_box;

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;
use sotto::identity::Identity;
use sotto::log::Change;
use sotto::protocol::presence::Status;
use sotto::room::Room;

const MEMBERS: usize = 1000;

fn room_of_a_thousand(rng: &mut ChaCha20Rng) -> (Identity, Room) {
    let alice = Identity::generate("alice", rng).unwrap();
    let mut room = Room::create("ops", &alice.public(), 0, rng).unwrap();
    for i in 1..MEMBERS {
        let member = Identity::generate(&format!("member{i}"), rng).unwrap();
        let theirs = Room::join(&room.invite(), "ops", &member.public(), 0).unwrap();
        let hello = theirs.seal_presence(&member, Status::Online, 2, 0, rng);
        let topic = room.member_topic_id(&member.fingerprint());
        room.receive_presence(&hello, &topic, 0).unwrap();
    }
    room.write_genesis(&alice, 1, rng).unwrap();
    assert_eq!(room.log().unwrap().roster.len(), MEMBERS);
    (alice, room)
}

/// alice's room of three (alice, bob, carol) on a log, and bob's copy.
fn room_of_three(rng: &mut ChaCha20Rng) -> (Identity, Room, Identity, Room) {
    let alice = Identity::generate("alice", rng).unwrap();
    let bob = Identity::generate("bob", rng).unwrap();
    let mut room = Room::found("ops", &alice, 0, rng).unwrap();
    let invite = room.invite_for(&alice, u64::MAX, 10, rng);
    let ticket = invite.grant.clone().unwrap().ticket;
    let mut bob_room = Room::join(&invite, "ops", &bob.public(), 0).unwrap();
    let add = bob_room
        .make_commit(&bob, Change::Add { ticket }, 1, rng)
        .unwrap();
    room.receive_key_slot(&alice, &add.slots[0].1, 1).unwrap();
    room.receive_commit(&add.commit, 1).unwrap();
    assert_eq!(room.epoch(), bob_room.epoch());
    (alice, room, bob, bob_room)
}

fn rotation(c: &mut Criterion) {
    let mut rng = ChaCha20Rng::seed_from_u64(1000);
    let (alice, room) = room_of_a_thousand(&mut rng);
    let leaving = *room
        .log()
        .unwrap()
        .roster
        .iter()
        .map(|(fp, _)| fp)
        .find(|fp| **fp != alice.fingerprint())
        .unwrap();
    let mut group = c.benchmark_group("rotation");
    group.sample_size(10);
    group.bench_function("rekey_1000", |b| {
        b.iter_batched(
            || room.clone(),
            |mut room| {
                let kick = room
                    .make_commit(&alice, Change::Remove { member: leaving }, 2, &mut rng)
                    .unwrap();
                assert_eq!(kick.slots.len(), MEMBERS - 2);
                black_box(kick)
            },
            BatchSize::LargeInput,
        )
    });

    let (alice, room, bob, bob_room) = room_of_three(&mut rng);
    let rotate = room
        .clone()
        .make_commit(&alice, Change::Rotate, 2, &mut rng)
        .unwrap();
    let slot = rotate
        .slots
        .iter()
        .find(|(fp, _)| *fp == bob.fingerprint())
        .unwrap()
        .1
        .clone();
    group.bench_function("receive", |b| {
        b.iter_batched(
            || bob_room.clone(),
            |mut room| {
                room.receive_key_slot(&bob, &slot, 2).unwrap();
                black_box(room.receive_commit(&rotate.commit, 2).unwrap())
            },
            BatchSize::SmallInput,
        )
    });
    group.finish();
}

criterion_group!(benches, rotation);
criterion_main!(benches);
