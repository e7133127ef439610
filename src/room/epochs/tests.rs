use super::*;
use crate::invite::Invite;
use crate::protocol::OpenError;
use crate::protocol::message::Body;
use crate::ratchet::{ChainKey, SenderChain};
use crate::room::Received;
use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;

struct World {
    rng: ChaCha20Rng,
    alice: Identity,
    bob: Identity,
    carol: Identity,
}

fn world() -> World {
    let mut rng = ChaCha20Rng::seed_from_u64(42);
    World {
        alice: Identity::generate("alice", &mut rng).unwrap(),
        bob: Identity::generate("bob", &mut rng).unwrap(),
        carol: Identity::generate("carol", &mut rng).unwrap(),
        rng,
    }
}

/// Delivers a rotation to `room` as the broker would: slot, then commit.
fn deliver(room: &mut Room, me: &Identity, rotation: &Rotation, now: u64) -> Membership {
    let own = me.fingerprint();
    let mut outcome = Membership::Nothing;
    if let Some((_, slot)) = rotation.slots.iter().find(|(fp, _)| *fp == own) {
        outcome = room.receive_key_slot(me, slot, now).unwrap();
    }
    match room.receive_commit(&rotation.commit, now).unwrap() {
        Membership::Nothing => outcome,
        other => other,
    }
}

fn joined(
    w: &mut World,
    inviter_room: &mut Room,
    inviter: &Identity,
    joiner: &Identity,
    now: u64,
) -> (Room, Rotation) {
    let invite = inviter_room.invite_for(inviter, now + 10_000, 1, &mut w.rng);
    let invite = Invite::decode(&invite.encode()).unwrap();
    let mut room = Room::join(&invite, "ops", &joiner.public(), now).unwrap();
    assert!(room.is_joining());
    let ticket = invite.grant.unwrap().ticket;
    let rotation = room
        .make_commit(joiner, Change::Add { ticket }, now, &mut w.rng)
        .unwrap();
    assert!(!room.is_joining());
    (room, rotation)
}

/// alice founded the room; bob and carol joined with her invites.
fn three(w: &mut World) -> (Room, Room, Room) {
    let mut alice = Room::found("ops", &w.alice, 100, &mut w.rng).unwrap();
    let (alice_id, bob_id, carol_id) = (
        w.alice.clone_for_test(),
        w.bob.clone_for_test(),
        w.carol.clone_for_test(),
    );
    let (mut bob, add_bob) = joined(w, &mut alice, &alice_id, &bob_id, 200);
    assert!(matches!(
        deliver(&mut alice, &alice_id, &add_bob, 200),
        Membership::Moved { epoch: 1, .. }
    ));
    let (carol, add_carol) = joined(w, &mut alice, &alice_id, &carol_id, 300);
    deliver(&mut alice, &alice_id, &add_carol, 300);
    deliver(&mut bob, &bob_id, &add_carol, 300);
    assert_eq!(alice.epoch(), 2);
    assert_eq!(alice.context().key, carol.context().key);
    assert_eq!(bob.context().key, carol.context().key);
    (alice, bob, carol)
}

trait CloneForTest {
    fn clone_for_test(&self) -> Identity;
}

impl CloneForTest for Identity {
    fn clone_for_test(&self) -> Identity {
        Identity::from_secrets(
            self.name().to_owned(),
            &self.signing_seed(),
            *self.agreement_bytes(),
        )
    }
}

fn message(room: &mut Room, from: &Identity, text: &str, rng: &mut ChaCha20Rng) -> Vec<u8> {
    room.seal_message(from, Body::Text(text.into()), 500, rng)
        .unwrap()
}

#[test]
fn a_joiner_adds_itself_and_every_member_reaches_the_same_epoch() {
    let mut w = world();
    let (mut alice, mut bob, mut carol) = three(&mut w);
    let bytes = message(&mut carol, &w.carol, "hi", &mut w.rng);
    assert!(matches!(
        alice.receive_message(&bytes, 600),
        Ok(Received::Accepted(_))
    ));
    assert!(matches!(
        bob.receive_message(&bytes, 600),
        Ok(Received::Accepted(_))
    ));
    let roster = &alice.log().unwrap().roster;
    assert_eq!(roster.len(), 3);
}

#[test]
fn a_kicked_member_learns_who_removed_them_and_reads_nothing_after() {
    let mut w = world();
    let (mut alice, mut bob, mut carol) = three(&mut w);
    let kick = alice
        .make_commit(
            &w.alice,
            Change::Remove {
                member: w.bob.fingerprint(),
            },
            700,
            &mut w.rng,
        )
        .unwrap();
    assert_eq!(kick.epoch, 3);
    assert!(kick.slots.iter().all(|(fp, _)| *fp != w.bob.fingerprint()));
    assert_eq!(
        deliver(&mut bob, &w.bob, &kick, 700),
        Membership::Removed { by: "alice".into() }
    );
    assert!(matches!(
        deliver(&mut carol, &w.carol, &kick, 700),
        Membership::Moved {
            epoch: 3,
            change: MembershipChange::Removed { .. },
            ..
        }
    ));
    let after = message(&mut alice, &w.alice, "secret", &mut w.rng);
    assert!(bob.receive_message(&after, 800).is_err());
    assert!(matches!(
        carol.receive_message(&after, 800),
        Ok(Received::Accepted(_))
    ));
    // bob's client refuses to send, and what bob sends with the old key
    // is refused by the others.
    assert!(matches!(
        bob.seal_message(&w.bob, Body::Text("x".into()), 800, &mut w.rng),
        Err(RoomError::NotAMember(_))
    ));
}

/// The kick builds on bob's add, which confirms it: a removal, not a lost
/// race that would have him ask to be let in.
#[test]
fn a_member_kicked_right_after_their_own_add_is_removed() {
    let mut w = world();
    let (alice_id, bob_id) = (w.alice.clone_for_test(), w.bob.clone_for_test());
    let mut alice = Room::found("ops", &alice_id, 100, &mut w.rng).unwrap();
    let (mut bob, add_bob) = joined(&mut w, &mut alice, &alice_id, &bob_id, 200);
    deliver(&mut alice, &alice_id, &add_bob, 200);
    let kick = alice
        .make_commit(
            &alice_id,
            Change::Remove {
                member: bob_id.fingerprint(),
            },
            300,
            &mut w.rng,
        )
        .unwrap();
    assert_eq!(
        deliver(&mut bob, &bob_id, &kick, 300),
        Membership::Removed { by: "alice".into() }
    );
    assert!(!bob.is_requesting() && !bob.is_joining());
    assert_eq!(bob.removed_by(), Some("alice"));
}

#[test]
fn a_removed_members_forged_rotation_is_refused() {
    let mut w = world();
    let (mut alice, mut bob, mut carol) = three(&mut w);
    let kick = alice
        .make_commit(
            &w.alice,
            Change::Remove {
                member: w.bob.fingerprint(),
            },
            700,
            &mut w.rng,
        )
        .unwrap();
    deliver(&mut carol, &w.carol, &kick, 700);
    // bob, before learning of the kick, rotates on the old epoch: it
    // ranks below the removal, so it loses wherever it arrives.
    let mut stale_bob = bob.clone();
    let rotation = stale_bob
        .make_commit(&w.bob, Change::Rotate, 710, &mut w.rng)
        .unwrap();
    assert_eq!(
        deliver(&mut carol, &w.carol, &rotation, 720),
        Membership::Nothing
    );
    assert_eq!(carol.epoch(), 3);
    // A non-admin's removal is refused by the log.
    deliver(&mut bob, &w.bob, &kick, 700);
    let mut carol_copy = carol.clone();
    let refused = carol_copy.make_commit(
        &w.carol,
        Change::Remove {
            member: w.alice.fingerprint(),
        },
        800,
        &mut w.rng,
    );
    assert!(matches!(
        refused,
        Err(RoomError::Log(LogError::NotAdmin(_)))
    ));
}

#[test]
fn two_concurrent_rotations_converge_whatever_the_order() {
    let mut w = world();
    let (alice, bob, carol) = three(&mut w);
    let mut a = alice.clone();
    let mut c = carol.clone();
    let from_alice = a
        .make_commit(&w.alice, Change::Rotate, 700, &mut w.rng)
        .unwrap();
    let from_carol = c
        .make_commit(&w.carol, Change::Rotate, 700, &mut w.rng)
        .unwrap();
    let mut bob_one = bob.clone();
    deliver(&mut bob_one, &w.bob, &from_alice, 710);
    deliver(&mut bob_one, &w.bob, &from_carol, 710);
    let mut bob_two = bob.clone();
    deliver(&mut bob_two, &w.bob, &from_carol, 710);
    deliver(&mut bob_two, &w.bob, &from_alice, 710);
    deliver(&mut a, &w.alice, &from_carol, 710);
    deliver(&mut c, &w.carol, &from_alice, 710);
    let head = bob_one.log().unwrap().head;
    for room in [&bob_two, &a, &c] {
        assert_eq!(room.log().unwrap().head, head);
        assert_eq!(room.context().key, bob_one.context().key);
        assert_eq!(room.epoch(), 3);
    }
}

#[test]
fn a_member_away_across_two_rotations_catches_up_in_any_order() {
    let mut w = world();
    let (mut alice, bob, _carol) = three(&mut w);
    let first = alice
        .make_commit(&w.alice, Change::Rotate, 700, &mut w.rng)
        .unwrap();
    let during = message(&mut alice, &w.alice, "during 3", &mut w.rng);
    let second = alice
        .make_commit(&w.alice, Change::Rotate, 800, &mut w.rng)
        .unwrap();
    let after = message(&mut alice, &w.alice, "during 4", &mut w.rng);
    let own = w.bob.fingerprint();
    let slot = |r: &Rotation| r.slots.iter().find(|(fp, _)| *fp == own).unwrap().1.clone();
    // Everything in the worst order: the second commit first, slots last.
    let mut room = bob.clone();
    for (bytes, is_commit) in [
        (second.commit.clone(), true),
        (first.commit.clone(), true),
        (slot(&second), false),
        (slot(&first), false),
    ] {
        if is_commit {
            room.receive_commit(&bytes, 900).unwrap();
        } else {
            room.receive_key_slot(&w.bob, &bytes, 900).unwrap();
        }
    }
    assert_eq!(room.epoch(), 4);
    assert_eq!(room.context().key, alice.context().key);
    for bytes in [during, after] {
        assert!(matches!(
            room.receive_message(&bytes, 900),
            Ok(Received::Accepted(_))
        ));
    }
}

#[test]
fn someone_outside_the_log_cannot_post_even_with_the_key() {
    let mut w = world();
    let (mut alice, _bob, _carol) = three(&mut w);
    let mut rng = ChaCha20Rng::seed_from_u64(5);
    let mallory = Identity::generate("mallory", &mut rng).unwrap();
    let forged = crate::protocol::message::seal(
        alice.context(),
        &mallory,
        1,
        500,
        Body::Text("hi".into()),
        &mut rng,
    )
    .unwrap();
    // Sealed under the epoch key alone, as rooms without a log do: a room
    // with a log never takes that kind.
    assert_eq!(
        alice.receive_message(&forged, 600),
        Err(OpenError::WrongKind(crate::protocol::wire::Kind::Message))
    );
    // On a chain of mallory's own making: mallory is not in the log.
    let mut chain = SenderChain::new(ChainKey::random(&mut rng));
    let (step, key) = chain.next().unwrap();
    let forged = crate::protocol::chained::seal(
        alice.context(),
        &mallory,
        step,
        &key,
        1,
        &[],
        500,
        Body::Text("hi".into()),
        &mut rng,
    )
    .unwrap();
    assert_eq!(
        alice.receive_message(&forged, 600),
        Err(OpenError::NotMember)
    );
}

#[test]
fn an_expired_or_used_up_invite_is_refused_by_the_log() {
    let mut w = world();
    let mut alice = Room::found("ops", &w.alice, 100, &mut w.rng).unwrap();
    let invite = alice.invite_for(&w.alice, 150, 1, &mut w.rng);
    let mut bob = Room::join(&invite, "ops", &w.bob.public(), 200).unwrap();
    let ticket = invite.grant.clone().unwrap().ticket;
    assert!(matches!(
        bob.make_commit(
            &w.bob,
            Change::Add {
                ticket: ticket.clone()
            },
            200,
            &mut w.rng
        ),
        Err(RoomError::Log(LogError::InviteExpired))
    ));
    let mut bob = Room::join(&invite, "ops", &w.bob.public(), 120).unwrap();
    let add = bob
        .make_commit(
            &w.bob,
            Change::Add {
                ticket: ticket.clone(),
            },
            120,
            &mut w.rng,
        )
        .unwrap();
    deliver(&mut alice, &w.alice, &add, 130);
    let mut carol = Room::join(&invite, "ops", &w.carol.public(), 130).unwrap();
    // carol redeems the same single-use invite at the same time: one of
    // the two adds wins on every client, and the other joiner is told.
    let late = carol
        .make_commit(&w.carol, Change::Add { ticket }, 130, &mut w.rng)
        .unwrap();
    deliver(&mut alice, &w.alice, &late, 140);
    deliver(&mut bob, &w.bob, &late, 140);
    deliver(&mut carol, &w.carol, &add, 140);
    assert_eq!(alice.log().unwrap().roster.len(), 2);
    let (winner, loser, loser_id) = if bob.is_requesting() {
        (&carol, &bob, &w.bob)
    } else {
        (&bob, &carol, &w.carol)
    };
    assert!(!winner.is_requesting() && !winner.is_joining());
    assert_eq!(winner.context().key, alice.context().key);
    // The loser is not told it was removed: it asks to be let in, and the
    // log refuses, since the single-use invite is used up.
    assert!(loser.is_requesting() && loser.removed_by().is_none());
    let request = loser.join_request(loser_id, &mut w.rng).unwrap();
    assert_eq!(
        alice.receive_join_request(&request, 150),
        Err(CommitRefused::Log(LogError::InviteUsedUp))
    );
}

#[test]
fn a_better_concurrent_commit_whose_slot_comes_later_is_still_taken() {
    let mut w = world();
    let (alice, bob, carol) = three(&mut w);
    let mut a = alice.clone();
    let mut c = carol.clone();
    let from_alice = a
        .make_commit(&w.alice, Change::Rotate, 700, &mut w.rng)
        .unwrap();
    let from_carol = c
        .make_commit(&w.carol, Change::Rotate, 700, &mut w.rng)
        .unwrap();
    let own = w.bob.fingerprint();
    let slot = |r: &Rotation| r.slots.iter().find(|(fp, _)| *fp == own).unwrap().1.clone();
    // bob takes one, then sees the other's commit before its slot.
    let mut b = bob.clone();
    deliver(&mut b, &w.bob, &from_alice, 710);
    b.receive_commit(&from_carol.commit, 710).unwrap();
    b.receive_key_slot(&w.bob, &slot(&from_carol), 710).unwrap();
    let mut reference = bob.clone();
    deliver(&mut reference, &w.bob, &from_carol, 710);
    deliver(&mut reference, &w.bob, &from_alice, 710);
    assert_eq!(b.epoch(), 3);
    assert_eq!(b.log().unwrap().head, reference.log().unwrap().head);
    assert_eq!(b.context().key, reference.context().key);
}

#[test]
fn held_back_first_messages_of_a_later_joiner_are_reported() {
    let mut w = world();
    let (mut alice, _bob, mut carol) = three(&mut w);
    // carol joined after alice: her numbers start at 1 in alice's sight.
    let _first = message(&mut carol, &w.carol, "one", &mut w.rng);
    let _second = message(&mut carol, &w.carol, "two", &mut w.rng);
    let third = message(&mut carol, &w.carol, "three", &mut w.rng);
    let Ok(Received::Accepted(delivery)) = alice.receive_message(&third, 600) else {
        panic!("the third message is carol's");
    };
    assert_eq!(
        delivery.notices,
        [crate::room::Notice::Missed {
            name: "carol".into(),
            count: 2
        }]
    );
}

/// Everything a room keeps, as a thief of its state would read it: the
/// room in the store's JSON (members, chains, epoch keys, log parts).
fn stolen(room: &Room) -> String {
    serde_json::to_string(room).unwrap()
}

#[test]
fn a_stolen_state_opens_no_message_already_received() {
    let mut w = world();
    let (mut alice, mut bob, _carol) = three(&mut w);
    // What alice's chain gives for her first two messages, known to the
    // test only (alice's state before she sends).
    let (_, mut before) = alice.log.sending.last().cloned().unwrap();
    let (_, first_key) = before.next().unwrap();
    let (_, second_key) = before.next().unwrap();
    let first = message(&mut alice, &w.alice, "first", &mut w.rng);
    let second = message(&mut alice, &w.alice, "second", &mut w.rng);
    let third = message(&mut alice, &w.alice, "third", &mut w.rng);
    assert!(matches!(
        bob.receive_message(&first, 600),
        Ok(Received::Accepted(_))
    ));
    assert!(matches!(
        bob.receive_message(&third, 600),
        Ok(Received::Accepted(_))
    ));

    // The thief takes bob's whole state now.
    let thief = stolen(&bob);
    // The first message's key was deleted when it was used; the second's
    // is kept while it is awaited (and opens it: SECURITY.md says so).
    assert!(!thief.contains(&crate::hex::encode(first_key.as_bytes())));
    assert!(thief.contains(&crate::hex::encode(second_key.as_bytes())));
    let mut thief: Room = serde_json::from_str(&thief).unwrap();
    // Neither message already received opens with the stolen state.
    assert_eq!(
        thief.receive_message(&first, 700),
        Err(OpenError::Replayed(1))
    );
    assert_eq!(
        thief.receive_message(&third, 700),
        Err(OpenError::Replayed(3))
    );
    // Nor does any step of a chain started afresh from what the state
    // holds: the epoch key is not where chains start.
    let epoch_key = *thief.context().key.as_bytes();
    let from_epoch_key = ChainKey::from_bytes(epoch_key);
    let (guess, _) = from_epoch_key.step();
    assert_ne!(guess.as_bytes(), first_key.as_bytes());
    // The message still on its way opens, once.
    assert!(matches!(
        thief.receive_message(&second, 700),
        Ok(Received::Accepted(_))
    ));
}

#[test]
fn messages_out_of_order_open_once_each() {
    let mut w = world();
    let (mut alice, mut bob, _carol) = three(&mut w);
    let sent: Vec<Vec<u8>> = (0..5)
        .map(|i| message(&mut alice, &w.alice, &format!("m{i}"), &mut w.rng))
        .collect();
    for i in [4, 1, 3, 0, 2] {
        assert!(
            matches!(
                bob.receive_message(&sent[i], 600),
                Ok(Received::Accepted(_))
            ),
            "message {i}"
        );
    }
    assert_eq!(
        bob.receive_message(&sent[2], 600),
        Err(OpenError::Replayed(3))
    );
}

#[test]
fn a_member_cannot_burn_another_members_keys_with_a_forged_message() {
    let mut w = world();
    let (mut alice, mut bob, carol) = three(&mut w);
    // carol knows the epoch key and could compute nothing of alice's
    // chain; she frames a message as alice's first with a key of her own.
    let mut chain = SenderChain::new(ChainKey::random(&mut w.rng));
    let (_, key) = chain.next().unwrap();
    let forged = crate::protocol::chained::seal(
        carol.context(),
        &w.alice,
        1,
        &key,
        1,
        &[],
        500,
        Body::Text("not alice".into()),
        &mut w.rng,
    )
    .unwrap();
    assert_eq!(bob.receive_message(&forged, 600), Err(OpenError::Tampered));
    let real = message(&mut alice, &w.alice, "alice", &mut w.rng);
    assert!(matches!(
        bob.receive_message(&real, 600),
        Ok(Received::Accepted(_))
    ));
}

#[test]
fn a_member_back_after_more_rotations_than_are_kept_is_told_from_when() {
    let mut w = world();
    let (mut alice, mut bob, _carol) = three(&mut w);
    let was_at = bob.epoch();
    // Five rotations while bob is away, an hour apart.
    let mut rotations = Vec::new();
    for hour in 1..=5u64 {
        let at = hour * 3_600_000;
        rotations.push((
            at,
            alice
                .make_commit(&w.alice, Change::Rotate, at, &mut w.rng)
                .unwrap(),
        ));
    }
    // Back within the limit: nothing was out of reach.
    let mut early = bob.clone();
    for (at, rotation) in &rotations[..3] {
        deliver(&mut early, &w.bob, rotation, *at);
    }
    assert_eq!(early.missed_while_away(was_at, 4 * 3_600_000), None);
    // Back after all five: senders stopped publishing on bob's epoch's
    // topics at the fourth rotation.
    for (at, rotation) in &rotations {
        deliver(&mut bob, &w.bob, rotation, *at);
    }
    assert_eq!(bob.epoch(), was_at + 5);
    let now = 6 * 3_600_000;
    assert_eq!(
        bob.missed_while_away(was_at, now),
        Some(crate::room::Notice::AwayTooLong {
            rotations: 5,
            from_ms: 4 * 3_600_000,
            to_ms: now,
        })
    );
    // Back a week after the first rotation, even with few rotations.
    let late = now + crate::room::PAST_EPOCH_TTL_MS;
    assert_eq!(
        early.missed_while_away(was_at, late),
        Some(crate::room::Notice::AwayTooLong {
            rotations: 3,
            from_ms: 3_600_000 + crate::room::PAST_EPOCH_TTL_MS,
            to_ms: late,
        })
    );
}

#[test]
fn a_hand_over_moves_a_members_place_to_their_new_key() {
    let mut w = world();
    let (mut alice, mut bob, _carol) = three(&mut w);
    let new_bob = Identity::generate("bob", &mut w.rng).unwrap();
    bob.hand_over(&w.bob, &new_bob, 900, &mut w.rng).unwrap();
    let pending = bob.unpublished_commit().cloned().unwrap();
    let slot = (pending.slots.iter())
        .find(|(fp, _)| *fp == w.alice.fingerprint())
        .map(|(_, slot)| slot.clone())
        .unwrap();
    alice.receive_key_slot(&w.alice, &slot, 900).unwrap();
    match alice.receive_commit(&pending.commit, 900).unwrap() {
        Membership::Moved {
            change: MembershipChange::KeyChanged { name, fingerprint },
            ..
        } => {
            assert_eq!(name, "bob");
            assert_eq!(fingerprint, new_bob.fingerprint());
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(alice.epoch(), bob.epoch());
    // The new key posts as bob, unverified; the old key no longer can.
    let hello = message(&mut bob, &new_bob, "new key", &mut w.rng);
    let Ok(Received::Accepted(delivery)) = alice.receive_message(&hello, 950) else {
        panic!("the new key's message was refused");
    };
    assert_eq!(delivery.from, "bob");
    assert_eq!(delivery.fingerprint, new_bob.fingerprint());
    assert!(!delivery.trust.is_verified());
    assert!(alice.admitted(&w.bob.fingerprint()).is_none());
}

#[test]
fn a_hand_over_needs_the_new_keys_consent_and_the_same_name() {
    let mut w = world();
    let (alice, _bob, carol) = three(&mut w);
    let state = alice.log().unwrap().clone();
    let mallory = Identity::generate("carol", &mut w.rng).unwrap();
    let other = Identity::generate("carol", &mut w.rng).unwrap();
    let renamed = Identity::generate("caroline", &mut w.rng).unwrap();
    let room_id = *alice.id();
    let cases = [
        // Consent signed by another key than the one taking over.
        (
            mallory.public(),
            log::hand_over_consent(&room_id, &w.carol.fingerprint(), &other),
        ),
        // Consent for another member's place.
        (
            mallory.public(),
            log::hand_over_consent(&room_id, &w.bob.fingerprint(), &mallory),
        ),
        // A new name.
        (
            renamed.public(),
            log::hand_over_consent(&room_id, &w.carol.fingerprint(), &renamed),
        ),
    ];
    for (new, consent) in cases {
        let commit = Commit {
            epoch: state.epoch + 1,
            parent: state.head,
            committer: w.carol.public(),
            at_ms: 900,
            change: Change::HandOver { new, consent },
        };
        let (_, signed) = log::seal(carol.context(), &w.carol, commit, &mut w.rng);
        assert_eq!(
            state.check(&room_id, &signed),
            Err(crate::log::LogError::BadHandOver)
        );
    }
}

#[test]
fn a_joiner_takes_a_refusal_only_from_a_member_and_only_its_own() {
    let mut w = world();
    let alice = Room::found("ops", &w.alice, 100, &mut w.rng).unwrap();
    let alice_id = w.alice.clone_for_test();
    let invite = alice.invite_for(&alice_id, 10_000, 1, &mut w.rng);
    let invite = Invite::decode(&invite.encode()).unwrap();
    let carol = Room::join(&invite, "ops", &w.carol.public(), 200).unwrap();
    let mallory = Identity::generate("mallory", &mut w.rng).unwrap();
    let context = carol.context();
    let reason = "the invite has already been used as often as it allows";
    let from_alice =
        log::seal_refusal(context, &w.alice, w.carol.fingerprint(), reason, &mut w.rng);
    assert_eq!(
        carol.receive_refusal(&from_alice),
        Some(("alice".to_owned(), reason.to_owned()))
    );
    let from_mallory =
        log::seal_refusal(context, &mallory, w.carol.fingerprint(), reason, &mut w.rng);
    assert_eq!(carol.receive_refusal(&from_mallory), None);
    let for_bob = log::seal_refusal(context, &w.alice, w.bob.fingerprint(), reason, &mut w.rng);
    assert_eq!(carol.receive_refusal(&for_bob), None);
    // A member takes no refusal at all.
    assert_eq!(alice.receive_refusal(&from_alice), None);
}
