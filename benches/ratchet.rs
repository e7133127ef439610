//! What the per-sender hash ratchet (`sotto::ratchet`) costs per message.
//!
//! - `ratchet/sender_step`: `SenderChain::next`, one step: two HMAC-SHA-256
//!   and one HKDF-SHA-256 expansion (the message key).
//! - `ratchet/receive_next`: a receiver staging and committing the next
//!   number (the common, in-order case).
//! - `ratchet/jump_1000`: staging and committing a message 1000 numbers
//!   ahead of a fresh receiver: 1001 steps, 1000 skipped keys stored (what
//!   a burst of lost messages, or a hostile member, costs one receiver).
//!   The fresh receiver is cloned outside the timing.
//! - `ratchet/from_skipped`: taking one stored skipped key (a late message).
//!
//! `cargo bench --bench ratchet -- --quick` for a fast look.
//! Test-only chain keys from fixed bytes: nothing here is a real secret.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::hint::black_box;

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use sotto::ratchet::{ChainKey, ReceiverChain, SenderChain};

const JUMP: u64 = 1000;

fn chain_key() -> ChainKey {
    ChainKey::from_bytes([7; 32])
}

fn ratchet(c: &mut Criterion) {
    let mut group = c.benchmark_group("ratchet");

    let mut sender = SenderChain::new(chain_key());
    group.bench_function("sender_step", |b| {
        b.iter(|| black_box(sender.next().unwrap()))
    });

    let mut receiver = ReceiverChain::new(chain_key(), 1);
    group.bench_function("receive_next", |b| {
        b.iter(|| {
            let staged = receiver.key_for(receiver.next_seq()).unwrap();
            black_box(staged.key().as_bytes()[0]);
            receiver.commit(staged).unwrap();
        })
    });

    let fresh = ReceiverChain::new(chain_key(), 1);
    group.bench_function("jump_1000", |b| {
        b.iter_batched(
            || fresh.clone(),
            |mut chain| {
                let staged = chain.key_for(1 + JUMP).unwrap();
                chain.commit(staged).unwrap();
                chain
            },
            BatchSize::SmallInput,
        )
    });

    let mut jumped = fresh.clone();
    jumped.commit(jumped.key_for(1 + JUMP).unwrap()).unwrap();
    group.bench_function("from_skipped", |b| {
        b.iter_batched(
            || jumped.clone(),
            |mut chain| {
                let staged = chain.key_for(JUMP / 2).unwrap();
                chain.commit(staged).unwrap();
                chain
            },
            BatchSize::SmallInput,
        )
    });
    group.finish();
}

criterion_group!(benches, ratchet);
criterion_main!(benches);
