use super::*;
use crate::invite::Invite;
use crate::protocol::OpenError;
use crate::protocol::message::Body;
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
