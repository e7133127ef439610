use super::*;
use crate::identity::Identity;
use crate::protocol::OpenError;
use crate::protocol::message::{Message, SeqRange};
use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;

struct World {
    rng: ChaCha20Rng,
    alice: Identity,
    bob: Identity,
    mallory: Identity,
    alice_room: Room,
    bob_room: Room,
}

fn world() -> World {
    let mut rng = ChaCha20Rng::seed_from_u64(42);
    let alice = Identity::generate("alice", &mut rng).unwrap();
    let bob = Identity::generate("bob", &mut rng).unwrap();
    let mallory = Identity::generate("mallory", &mut rng).unwrap();
    let alice_room = Room::create("ops", &alice.public(), 1_000, &mut rng).unwrap();
    let invite = Invite::decode(&alice_room.invite().encode()).unwrap();
    let bob_room = Room::join(&invite, "ops", &bob.public(), 2_000).unwrap();
    World {
        rng,
        alice,
        bob,
        mallory,
        alice_room,
        bob_room,
    }
}

fn text(s: &str) -> Body {
    Body::Text(s.into())
}

fn delivered(result: Result<Received<Delivery>, OpenError>) -> Delivery {
    match result {
        Ok(Received::Accepted(delivery)) => delivery,
        other => panic!("expected a delivery, got {other:?}"),
    }
}

#[test]
fn a_joined_room_reads_the_creators_messages_and_trusts_the_inviter() {
    let mut w = world();
    assert_eq!(w.bob_room.epoch_topic_id(), w.alice_room.epoch_topic_id());
    let bytes = w
        .alice_room
        .seal_message(&w.alice, text("hi bob"), 3_000, &mut w.rng)
        .unwrap();
    let delivery = delivered(w.bob_room.receive_message(&bytes, 3_100));
    assert_eq!(delivery.from, "alice");
    assert_eq!(delivery.fingerprint, w.alice.fingerprint());
    assert_eq!(delivery.trust, Trust::Invite);
    assert_eq!(delivery.body, text("hi bob"));
    assert!(matches!(delivery.notices[..], [Notice::NewMember { .. }]));
}

#[test]
fn own_messages_coming_back_are_echoes() {
    let mut w = world();
    let bytes = w
        .alice_room
        .seal_message(&w.alice, text("x"), 0, &mut w.rng)
        .unwrap();
    assert_eq!(
        w.alice_room.receive_message(&bytes, 0),
        Ok(Received::OwnEcho)
    );
}

#[test]
fn a_replay_is_refused_even_after_a_restart() {
    let mut w = world();
    let bytes = w
        .alice_room
        .seal_message(&w.alice, text("once"), 0, &mut w.rng)
        .unwrap();
    delivered(w.bob_room.receive_message(&bytes, 0));
    assert_eq!(
        w.bob_room.receive_message(&bytes, 0),
        Err(OpenError::Replayed(1))
    );
    let saved = serde_json::to_string(&w.bob_room).unwrap();
    let mut restarted: Room = serde_json::from_str(&saved).unwrap();
    assert_eq!(restarted, w.bob_room);
    assert_eq!(
        restarted.receive_message(&bytes, 0),
        Err(OpenError::Replayed(1))
    );
}

#[test]
fn skipped_sequence_numbers_are_reported_as_missed() {
    let mut w = world();
    let first = w
        .alice_room
        .seal_message(&w.alice, text("1"), 0, &mut w.rng)
        .unwrap();
    for _ in 0..3 {
        w.alice_room
            .seal_message(&w.alice, text("lost"), 0, &mut w.rng)
            .unwrap();
    }
    let fifth = w
        .alice_room
        .seal_message(&w.alice, text("5"), 0, &mut w.rng)
        .unwrap();
    delivered(w.bob_room.receive_message(&first, 0));
    let delivery = delivered(w.bob_room.receive_message(&fifth, 0));
    assert_eq!(
        delivery.notices,
        vec![Notice::Missed {
            name: "alice".into(),
            count: 3
        }]
    );
}

#[test]
fn a_members_key_claiming_another_members_name_is_forged() {
    let mut w = world();
    let invite = w.alice_room.invite();
    let mut mallory_room = Room::join(&invite, "ops", &w.mallory.public(), 0).unwrap();
    // Bob learns mallory's key under her own name first.
    let honest = mallory_room
        .seal_message(&w.mallory, text("hi"), 0, &mut w.rng)
        .unwrap();
    delivered(w.bob_room.receive_message(&honest, 0));
    // Now mallory's client renames her identity to "alice".
    let posing = Identity::from_secrets(
        "alice".into(),
        &w.mallory.signing_seed(),
        *w.mallory.agreement_bytes(),
    );
    let forged = mallory_room
        .seal_message(&posing, text("I am alice"), 0, &mut w.rng)
        .unwrap();
    let before = w.bob_room.clone();
    assert!(matches!(
        w.bob_room.receive_message(&forged, 0),
        Err(OpenError::Forged(_))
    ));
    assert_eq!(
        w.bob_room, before,
        "a refused payload must not change state"
    );
}

#[test]
fn a_new_key_under_a_verified_name_is_flagged_and_blocks_sending() {
    let mut w = world();
    let hello = w
        .alice_room
        .seal_message(&w.alice, text("hi"), 0, &mut w.rng)
        .unwrap();
    delivered(w.bob_room.receive_message(&hello, 0));
    let alice_fp = w.alice.fingerprint().to_string();
    w.bob_room.verify("alice", &alice_fp).unwrap();

    // Someone with a fresh key (holding the room key) claims to be alice.
    let impostor = Identity::generate("alice", &mut w.rng).unwrap();
    let mut impostor_room =
        Room::join(&w.alice_room.invite(), "ops", &impostor.public(), 0).unwrap();
    let fake = impostor_room
        .seal_message(&impostor, text("it's me, new laptop"), 0, &mut w.rng)
        .unwrap();
    let delivery = delivered(w.bob_room.receive_message(&fake, 0));
    assert_eq!(delivery.trust, Trust::Tofu);
    assert_eq!(
        delivery.notices,
        vec![Notice::KeyChanged {
            name: "alice".into(),
            old: w.alice.fingerprint(),
            new: impostor.fingerprint(),
            was_verified: true,
            lookalike_of: None,
        }]
    );
    assert_eq!(delivery.warning, Some(NameWarning::KeyChanged));
    assert_eq!(
        w.bob_room.seal_message(&w.bob, text("ok"), 0, &mut w.rng),
        Err(RoomError::SendBlocked(Block {
            name: "alice".into(),
            fingerprint: impostor.fingerprint(),
            lookalike_of: None,
        }))
    );
    // The real alice stays verified; the new key is not.
    assert_eq!(
        w.bob_room.members()[&w.alice.fingerprint()].trust,
        Trust::Verified
    );
    assert_eq!(
        w.bob_room.members()[&impostor.fingerprint()].trust,
        Trust::Tofu
    );
    assert_eq!(w.bob_room.accept(&impostor.fingerprint()), Ok(true));
    assert_eq!(w.bob_room.name_warning(&impostor.fingerprint()), None);
    assert!(
        w.bob_room
            .seal_message(&w.bob, text("ok"), 0, &mut w.rng)
            .is_ok()
    );
}

#[test]
fn verify_accepts_only_the_right_fingerprint() {
    let mut w = world();
    let hello = w
        .bob_room
        .seal_message(&w.bob, text("hi"), 0, &mut w.rng)
        .unwrap();
    delivered(w.alice_room.receive_message(&hello, 0));
    assert_eq!(
        w.alice_room
            .verify("bob", &w.alice.fingerprint().to_string()),
        Err(RoomError::FingerprintMismatch(format!(
            "bob·{:05}",
            w.bob.fingerprint().digits()[0]
        )))
    );
    assert_eq!(
        w.alice_room.members()[&w.bob.fingerprint()].trust,
        Trust::Tofu
    );
    assert_eq!(
        w.alice_room.verify("carol", "1"),
        Err(RoomError::UnknownMember("carol".into()))
    );
    let fp = w
        .alice_room
        .verify("bob", &w.bob.fingerprint().to_string())
        .unwrap();
    assert_eq!(fp, w.bob.fingerprint());
    assert_eq!(w.alice_room.members()[&fp].trust, Trust::Verified);
}

#[test]
fn presence_marks_members_online_and_refuses_rollback() {
    let mut w = world();
    let online = w
        .alice_room
        .seal_presence(&w.alice, Status::Online, 1, 0, &mut w.rng);
    let offline = w
        .alice_room
        .seal_presence(&w.alice, Status::Offline, 2, 0, &mut w.rng);
    let topic = w.bob_room.member_topic_id(&w.alice.fingerprint());
    match w.bob_room.receive_presence(&offline, &topic, 0) {
        Ok(Received::Accepted(update)) => assert_eq!(update.status, Status::Offline),
        other => panic!("{other:?}"),
    }
    assert_eq!(
        w.bob_room.receive_presence(&online, &topic, 0),
        Err(OpenError::OutdatedPresence(1))
    );
    assert!(!w.bob_room.members()[&w.alice.fingerprint()].online);
}

#[test]
fn presence_is_only_believed_on_its_signers_own_topic() {
    let mut w = world();
    let mallory_room = Room::join(&w.alice_room.invite(), "ops", &w.mallory.public(), 0).unwrap();
    let record = mallory_room.seal_presence(&w.mallory, Status::Online, 1, 0, &mut w.rng);
    let before = w.bob_room.clone();
    let alices_topic = w.bob_room.member_topic_id(&w.alice.fingerprint());
    for topic in [alices_topic.as_str(), "0011223344556677", ""] {
        assert_eq!(
            w.bob_room.receive_presence(&record, topic, 0),
            Err(OpenError::WrongTopic),
            "{topic:?}"
        );
    }
    assert_eq!(w.bob_room, before, "a refused record must not change state");
    let own = w.bob_room.member_topic_id(&w.mallory.fingerprint());
    assert!(matches!(
        w.bob_room.receive_presence(&record, &own, 0),
        Ok(Received::Accepted(_))
    ));
}

#[test]
fn payloads_from_another_room_are_refused() {
    let mut w = world();
    let mut other = Room::create("ops", &w.alice.public(), 0, &mut w.rng).unwrap();
    let bytes = other
        .seal_message(&w.alice, text("x"), 0, &mut w.rng)
        .unwrap();
    assert!(w.bob_room.receive_message(&bytes, 0).is_err());
}

#[test]
fn topic_ids_are_opaque_and_differ_between_rooms_and_members() {
    let mut w = world();
    let other = Room::create("ops", &w.alice.public(), 0, &mut w.rng).unwrap();
    assert_ne!(other.epoch_topic_id(), w.alice_room.epoch_topic_id());
    assert_ne!(other.room_topic_id(), w.alice_room.room_topic_id());
    assert_ne!(w.alice_room.epoch_topic_id(), w.alice_room.room_topic_id());
    let a = w.alice_room.member_topic_id(&w.alice.fingerprint());
    assert_ne!(a, other.member_topic_id(&w.alice.fingerprint()));
    assert_ne!(a, w.alice_room.member_topic_id(&w.bob.fingerprint()));
    assert!(!w.alice_room.epoch_topic_id().contains("ops"));
    let _ = &w.bob;
}

#[test]
fn another_key_under_our_own_name_is_forged() {
    let mut w = world();
    let impostor = Identity::generate("bob", &mut w.rng).unwrap();
    let mut room = Room::join(&w.alice_room.invite(), "ops", &impostor.public(), 0).unwrap();
    let fake = room
        .seal_message(&impostor, text("I am bob"), 0, &mut w.rng)
        .unwrap();
    assert!(matches!(
        w.bob_room.receive_message(&fake, 0),
        Err(OpenError::Forged(_))
    ));
    assert!(w.bob_room.blocked_by().is_empty());
}

/// Alice seals `count` messages; returns them in order (seq 1, 2, ...).
fn alice_sends(w: &mut World, count: usize) -> Vec<Vec<u8>> {
    (0..count)
        .map(|_| {
            w.alice_room
                .seal_message(&w.alice, text("m"), 0, &mut w.rng)
                .unwrap()
        })
        .collect()
}

/// Alice's presence record, with her current last message number.
fn alice_presence(w: &mut World, presence_seq: u64) -> Vec<u8> {
    w.alice_room
        .seal_presence(&w.alice, Status::Online, presence_seq, 0, &mut w.rng)
}

/// `room` accepts a presence record from `from` on `from`'s own topic.
fn accept_presence(room: &mut Room, from: &Identity, record: &[u8]) {
    let topic = room.member_topic_id(&from.fingerprint());
    assert!(matches!(
        room.receive_presence(record, &topic, 0),
        Ok(Received::Accepted(_))
    ));
}

/// Alice's presence reaches bob.
fn alice_announces(w: &mut World, presence_seq: u64) {
    let record = alice_presence(w, presence_seq);
    accept_presence(&mut w.bob_room, &w.alice, &record);
}

fn missed(count: u64) -> Notice {
    Notice::Missed {
        name: "alice".into(),
        count,
    }
}

#[test]
fn a_gap_announced_then_filled_by_late_messages_reports_nothing() {
    let mut w = world();
    let sent = alice_sends(&mut w, 5);
    for bytes in &sent[..2] {
        delivered(w.bob_room.receive_message(bytes, 0));
    }
    alice_announces(&mut w, 1);
    assert_eq!(
        w.bob_room.members()[&w.alice.fingerprint()].announced_seq,
        5
    );
    for bytes in &sent[2..] {
        assert!(
            delivered(w.bob_room.receive_message(bytes, 0))
                .notices
                .is_empty()
        );
    }
    assert_eq!(w.bob_room.overdue_gaps(), vec![]);
}

#[test]
fn a_gap_never_filled_is_reported_exactly_once_and_survives_a_restart() {
    let mut w = world();
    let sent = alice_sends(&mut w, 10);
    for bytes in &sent[..3] {
        delivered(w.bob_room.receive_message(bytes, 0));
    }
    alice_announces(&mut w, 1);
    let saved = serde_json::to_string(&w.bob_room).unwrap();
    let mut restarted: Room = serde_json::from_str(&saved).unwrap();
    assert_eq!(restarted.overdue_gaps(), vec![missed(7)]);
    assert_eq!(restarted.overdue_gaps(), vec![]);
    // The next message follows the announced number: no second report.
    let next = alice_sends(&mut w, 1);
    assert!(
        delivered(restarted.receive_message(&next[0], 0))
            .notices
            .is_empty()
    );
    // A message from the gap that was only very late is still shown, once.
    assert!(
        delivered(restarted.receive_message(&sent[5], 0))
            .notices
            .is_empty()
    );
    assert_eq!(
        restarted.receive_message(&sent[5], 0),
        Err(OpenError::Replayed(6))
    );
    assert_eq!(restarted.overdue_gaps(), vec![]);
}

#[test]
fn gaps_are_not_counted_twice_with_the_ones_messages_reveal() {
    // Messages 1..=12, presence sent after 10; 2..=11 never arrive.
    let mut w = world();
    let mut sent = alice_sends(&mut w, 10);
    let record = alice_presence(&mut w, 1);
    sent.extend(alice_sends(&mut w, 2));
    delivered(w.bob_room.receive_message(&sent[0], 0));
    accept_presence(&mut w.bob_room, &w.alice, &record);
    let mut other_order = w.bob_room.clone();

    // Message 12 comes before the session is caught up: it reports the
    // whole gap, and the announcement adds nothing.
    let late = delivered(w.bob_room.receive_message(&sent[11], 0));
    assert_eq!(late.notices, vec![missed(10)]);
    assert_eq!(w.bob_room.overdue_gaps(), vec![]);

    // Caught up first: the announcement reports up to 10, message 12 the rest.
    assert_eq!(other_order.overdue_gaps(), vec![missed(9)]);
    let late = delivered(other_order.receive_message(&sent[11], 0));
    assert_eq!(late.notices, vec![missed(1)]);
}

#[test]
fn what_a_member_sent_before_we_heard_from_them_is_no_gap() {
    let mut w = world();
    let before = alice_sends(&mut w, 300);
    alice_announces(&mut w, 1);
    assert_eq!(w.bob_room.overdue_gaps(), vec![]);
    let next = alice_sends(&mut w, 1);
    let delivery = delivered(w.bob_room.receive_message(&next[0], 0));
    assert!(delivery.notices.is_empty(), "{:?}", delivery.notices);
    // Far older numbers now count as stale, like after any first message.
    assert_eq!(
        w.bob_room.receive_message(&before[0], 0),
        Err(OpenError::Stale(1))
    );
}

#[test]
fn presence_carries_the_last_message_number_and_old_state_files_load() {
    let mut w = world();
    alice_announces(&mut w, 1);
    assert_eq!(
        w.bob_room.members()[&w.alice.fingerprint()].announced_seq,
        0
    );
    alice_sends(&mut w, 2);
    alice_announces(&mut w, 2);
    assert_eq!(
        w.bob_room.members()[&w.alice.fingerprint()].announced_seq,
        2
    );
    // A lower announcement never lowers it.
    let mut ahead = w.bob_room.clone();
    ahead
        .members
        .get_mut(&w.alice.fingerprint())
        .unwrap()
        .announced_seq = 9;
    let record = alice_presence(&mut w, 3);
    accept_presence(&mut ahead, &w.alice, &record);
    assert_eq!(ahead.members()[&w.alice.fingerprint()].announced_seq, 9);

    // State files written before the field existed still load.
    let saved = serde_json::to_string(&w.bob_room).unwrap();
    assert!(saved.contains("\"announced_seq\":2"));
    let old = saved
        .replace(",\"announced_seq\":2", "")
        .replace(",\"announced_seq\":0", "");
    assert!(!old.contains("announced_seq"));
    let loaded: Room = serde_json::from_str(&old).unwrap();
    assert_eq!(loaded.members()[&w.alice.fingerprint()].announced_seq, 0);
}

/// A member as large as the state file can make one: the longest name,
/// every character escaped in JSON, every number at its widest.
fn widest_member(index: usize) -> Member {
    let mut signing = [0xff; 32];
    signing[..8].copy_from_slice(&(index as u64).to_be_bytes());
    let identity = PublicIdentity {
        name: "\"".repeat(crate::identity::MAX_NAME_LEN),
        signing,
        agreement: [0xff; 32],
    };
    let mut member = Member::new(identity, u64::MAX, Trust::Verified);
    member.last_seen_ms = u64::MAX;
    member.presence_seq = u64::MAX;
    member.announced_seq = u64::MAX;
    member.replaces = Some(Fingerprint([0xff; 32]));
    for behind in 0..crate::replay::WINDOW {
        member.replay.accept(u64::MAX - behind).unwrap();
    }
    member
}

#[test]
fn a_full_room_refuses_new_keys_and_keeps_serving_known_members() {
    let mut w = world();
    let hello = alice_sends(&mut w, 1);
    delivered(w.bob_room.receive_message(&hello[0], 0));
    let mut index = 0;
    while w.bob_room.members.len() < MAX_MEMBERS {
        let member = widest_member(index);
        w.bob_room
            .members
            .insert(member.identity.fingerprint(), member);
        index += 1;
    }
    assert_eq!(w.bob_room.members().len(), 1024);

    let mut mallory_room =
        Room::join(&w.alice_room.invite(), "ops", &w.mallory.public(), 0).unwrap();
    let message = mallory_room
        .seal_message(&w.mallory, text("let me in"), 0, &mut w.rng)
        .unwrap();
    let presence = mallory_room.seal_presence(&w.mallory, Status::Online, 1, 0, &mut w.rng);
    let topic = w.bob_room.member_topic_id(&w.mallory.fingerprint());
    let before = w.bob_room.clone();
    let full = OpenError::RoomFull { limit: MAX_MEMBERS };
    assert_eq!(w.bob_room.receive_message(&message, 0), Err(full.clone()));
    assert_eq!(
        w.bob_room.receive_presence(&presence, &topic, 0),
        Err(full.clone())
    );
    assert_eq!(w.bob_room, before, "a refused key must not be stored");
    assert_eq!(
        full.to_string(),
        "the room already has 1024 known members; a new key was ignored"
    );

    // Known members are unaffected.
    let next = alice_sends(&mut w, 1);
    let delivery = delivered(w.bob_room.receive_message(&next[0], 0));
    assert_eq!(delivery.from, "alice");
    alice_announces(&mut w, 1);

    // However the table was filled, its state file stays bounded (about
    // 720 KB with every member at its widest).
    let saved = serde_json::to_string(&w.bob_room).unwrap();
    assert!(
        saved.len() < MAX_MEMBERS * 1024,
        "{} bytes for a full room",
        saved.len()
    );
}

/// A member seen once in a presence record and never heard from since.
fn silent_member(index: usize, last_seen_ms: u64) -> Member {
    let mut signing = [0x11; 32];
    signing[..8].copy_from_slice(&(index as u64).to_be_bytes());
    let identity = PublicIdentity {
        name: format!("fake{index}"),
        signing,
        agreement: [0x22; 32],
    };
    let mut member = Member::new(identity, last_seen_ms, Trust::Tofu);
    member.last_seen_ms = last_seen_ms;
    member
}

#[test]
fn at_the_cap_a_new_key_replaces_the_silent_member_seen_longest_ago() {
    let mut w = world();
    let mut index = 0;
    while w.bob_room.members.len() < MAX_MEMBERS {
        let member = silent_member(index, 10 + index as u64);
        w.bob_room
            .members
            .insert(member.identity.fingerprint(), member);
        index += 1;
    }
    let oldest = silent_member(0, 10).identity.fingerprint();
    assert!(w.bob_room.members.contains_key(&oldest));

    // A presence flood cannot lock a real newcomer out: mallory's first
    // message takes the place of the oldest silent key.
    let mut mallory_room =
        Room::join(&w.alice_room.invite(), "ops", &w.mallory.public(), 0).unwrap();
    let message = mallory_room
        .seal_message(&w.mallory, text("hello"), 0, &mut w.rng)
        .unwrap();
    let delivery = delivered(w.bob_room.receive_message(&message, 50_000));
    assert_eq!(delivery.from, "mallory");
    assert_eq!(w.bob_room.members().len(), MAX_MEMBERS);
    assert!(!w.bob_room.members.contains_key(&oldest));

    // A member who has spoken is never pushed out: with only speakers
    // and trusted keys left, a new key is refused.
    for member in w.bob_room.members.values_mut() {
        if member.trust == Trust::Tofu && member.replay.highest() == 0 {
            member.trust = Trust::Verified;
        }
    }
    let stranger = Identity::generate("stranger", &mut w.rng).unwrap();
    let mut stranger_room =
        Room::join(&w.alice_room.invite(), "ops", &stranger.public(), 0).unwrap();
    let late = stranger_room
        .seal_message(&stranger, text("me too"), 0, &mut w.rng)
        .unwrap();
    assert_eq!(
        w.bob_room.receive_message(&late, 60_000),
        Err(OpenError::RoomFull { limit: MAX_MEMBERS })
    );

    // The inviter's key, known from the invite, is admitted even then.
    let hello = alice_sends(&mut w, 1);
    let delivery = delivered(w.bob_room.receive_message(&hello[0], 70_000));
    assert_eq!(delivery.from, "alice");
    assert_eq!(w.bob_room.members().len(), MAX_MEMBERS + 1);
    // Only the members who spoke have their keys cached (mallory, alice).
    assert_eq!(w.bob_room.keys.len(), 2);
}

fn seq_range(first: u64, last: u64) -> SeqRange {
    SeqRange { first, last }
}

/// Alice seals message `seq` declaring `skipped`, leaving her room's own
/// counter alone.
fn alice_numbered(w: &mut World, seq: u64, skipped: &[SeqRange]) -> Vec<u8> {
    w.alice_room
        .seal_numbered(&w.alice, seq, skipped, text("n"), 0, &mut w.rng)
        .unwrap()
}

#[test]
fn seal_numbered_uses_the_callers_numbers_and_leaves_the_counter_alone() {
    let mut w = world();
    let fifth = alice_numbered(&mut w, 5, &[seq_range(2, 3)]);
    assert_eq!(w.alice_room.next_seq, 1);
    let opened = message::open(w.bob_room.context(), &fifth).unwrap();
    assert_eq!((opened.seq, opened.skipped), (5, vec![seq_range(2, 3)]));
    assert_eq!(
        w.alice_room
            .seal_numbered(&w.alice, 5, &[seq_range(5, 5)], text("x"), 0, &mut w.rng),
        Err(RoomError::Seal(message::SealError::BadSkipped))
    );
    assert_eq!(
        w.alice_room
            .seal_numbered(&w.alice, 0, &[], text("x"), 0, &mut w.rng),
        Err(RoomError::Seal(message::SealError::ZeroSequence))
    );
    // Blocked by an unacknowledged key change like any send.
    let block = Block {
        name: "bob".into(),
        fingerprint: w.bob.fingerprint(),
        lookalike_of: None,
    };
    w.alice_room.blocks.push(block.clone());
    assert_eq!(
        w.alice_room
            .seal_numbered(&w.alice, 6, &[], text("x"), 0, &mut w.rng),
        Err(RoomError::SendBlocked(block))
    );
}

#[test]
fn numbers_declared_skipped_are_not_missed_and_are_refused_later() {
    let mut w = world();
    let first = alice_numbered(&mut w, 1, &[]);
    delivered(w.bob_room.receive_message(&first, 0));
    // 2 and 3 were abandoned; 4 was sent and lost.
    let lost = alice_numbered(&mut w, 4, &[seq_range(2, 3)]);
    let fifth = alice_numbered(&mut w, 5, &[seq_range(2, 3)]);
    let delivery = delivered(w.bob_room.receive_message(&fifth, 0));
    assert_eq!(delivery.notices, vec![missed(1)]);
    // A payload claiming an abandoned number is a replay, and changes
    // nothing.
    let claims_two = alice_numbered(&mut w, 2, &[]);
    let before = w.bob_room.clone();
    assert_eq!(
        w.bob_room.receive_message(&claims_two, 0),
        Err(OpenError::Replayed(2))
    );
    assert_eq!(w.bob_room, before);
    // The lost one, late, is shown once and reports nothing more.
    assert!(
        delivered(w.bob_room.receive_message(&lost, 0))
            .notices
            .is_empty()
    );
    assert_eq!(w.bob_room.overdue_gaps(), vec![]);
}

#[test]
fn announced_numbers_covered_by_a_declaration_are_not_overdue() {
    // The presence announcement (5) arrives before the message that
    // declares 2..=4 skipped, as retained presence overtakes the queue.
    let mut w = world();
    let first = alice_numbered(&mut w, 1, &[]);
    let fifth = alice_numbered(&mut w, 5, &[seq_range(2, 4)]);
    delivered(w.bob_room.receive_message(&first, 0));
    let record =
        w.alice_room
            .seal_presence_announcing(&w.alice, Status::Online, 1, 5, 0, &mut w.rng);
    accept_presence(&mut w.bob_room, &w.alice, &record);
    assert_eq!(
        w.bob_room.members()[&w.alice.fingerprint()].announced_seq,
        5
    );
    assert!(
        delivered(w.bob_room.receive_message(&fifth, 0))
            .notices
            .is_empty()
    );
    assert_eq!(w.bob_room.overdue_gaps(), vec![]);
}

#[test]
fn a_declaration_after_its_gap_was_reported_is_not_counted_again() {
    let mut w = world();
    let first = alice_numbered(&mut w, 1, &[]);
    let fifth = alice_numbered(&mut w, 5, &[seq_range(2, 4)]);
    let sixth = alice_numbered(&mut w, 6, &[]);
    delivered(w.bob_room.receive_message(&first, 0));
    let record =
        w.alice_room
            .seal_presence_announcing(&w.alice, Status::Online, 1, 5, 0, &mut w.rng);
    accept_presence(&mut w.bob_room, &w.alice, &record);
    // Caught up without message 5: the gap is reported once...
    assert_eq!(w.bob_room.overdue_gaps(), vec![missed(4)]);
    // ...and message 5, arriving late, adds nothing, nor does 6.
    assert!(
        delivered(w.bob_room.receive_message(&fifth, 0))
            .notices
            .is_empty()
    );
    assert!(
        delivered(w.bob_room.receive_message(&sixth, 0))
            .notices
            .is_empty()
    );
    assert_eq!(w.bob_room.overdue_gaps(), vec![]);
    let third = alice_numbered(&mut w, 3, &[]);
    assert_eq!(
        w.bob_room.receive_message(&third, 0),
        Err(OpenError::Replayed(3))
    );
}

#[test]
fn the_key_cache_is_derived_bounded_and_never_saved() {
    let mut w = world();
    let fresh = w.bob_room.clone();
    let hello = alice_sends(&mut w, 2);
    delivered(w.bob_room.receive_message(&hello[0], 0));
    assert_eq!(w.bob_room.keys.len(), 1);
    // Keys of refused payloads are not kept.
    let impostor = Identity::generate("bob", &mut w.rng).unwrap();
    let mut room = Room::join(&w.alice_room.invite(), "ops", &impostor.public(), 0).unwrap();
    let fake = room
        .seal_numbered(&impostor, 1, &[], text("I am bob"), 0, &mut w.rng)
        .unwrap();
    assert!(w.bob_room.receive_message(&fake, 0).is_err());
    assert_eq!(w.bob_room.keys.len(), 1);
    // Not in the state file, and not part of a room's equality.
    let saved = serde_json::to_string(&w.bob_room).unwrap();
    let mut loaded: Room = serde_json::from_str(&saved).unwrap();
    assert_eq!(loaded.keys.len(), 0);
    assert_eq!(loaded, w.bob_room);
    assert_ne!(loaded, fresh);
    // A loaded room fills it again and gives the same results.
    delivered(loaded.receive_message(&hello[1], 0));
    assert_eq!(loaded.keys.len(), 1);
}

/// A message claiming `claimed`, sealed under the room key, with the
/// signature `sign` makes.
fn signed_with(
    w: &mut World,
    claimed: &Identity,
    seq: u64,
    sign: impl FnOnce(&[u8]) -> [u8; 64],
) -> Vec<u8> {
    let content = Message {
        sender: claimed.public(),
        seq,
        sent_at_ms: 0,
        body: text("signed with"),
        skipped: Vec::new(),
    };
    message::seal_signed_with(w.alice_room.context(), &content, sign, &mut w.rng)
}

/// A message claiming to be alice's, signed by mallory.
fn forged_as_alice(w: &mut World, seq: u64) -> Vec<u8> {
    let mallory = Identity::from_secrets(
        "mallory".into(),
        &w.mallory.signing_seed(),
        *w.mallory.agreement_bytes(),
    );
    let alice = Identity::from_secrets(
        "alice".into(),
        &w.alice.signing_seed(),
        *w.alice.agreement_bytes(),
    );
    signed_with(w, &alice, seq, |bytes| mallory.sign(bytes).to_bytes())
}

/// A message claiming alice whose signature has the identity point as R
/// (small order), which `verify_strict` refuses and a batch must not
/// judge differently.
fn small_order_r(w: &mut World, seq: u64) -> Vec<u8> {
    let alice = Identity::from_secrets(
        "alice".into(),
        &w.alice.signing_seed(),
        *w.alice.agreement_bytes(),
    );
    signed_with(w, &alice, seq, |_| {
        let mut signature = [0u8; 64];
        signature[0] = 1;
        signature
    })
}

fn receive_one_by_one(
    room: &mut Room,
    payloads: &[Vec<u8>],
) -> Vec<Result<Received<Delivery>, OpenError>> {
    payloads
        .iter()
        .map(|p| room.receive_message(p, 7))
        .collect()
}

#[test]
fn a_batch_names_the_bad_signature_and_accepts_the_rest() {
    let mut w = world();
    let mut payloads = alice_sends(&mut w, 10);
    payloads[4] = forged_as_alice(&mut w, 5);
    payloads[7] = small_order_r(&mut w, 8);
    let mut one_by_one = w.bob_room.clone();
    let expected = receive_one_by_one(&mut one_by_one, &payloads);
    let results = w.bob_room.receive_batch(&payloads, 7);
    assert_eq!(results, expected);
    for (i, result) in results.iter().enumerate() {
        match i {
            4 | 7 => assert_eq!(
                result,
                &Err(OpenError::Forged(crate::protocol::BAD_SIGNATURE))
            ),
            _ => assert!(matches!(result, Ok(Received::Accepted(_))), "{i}"),
        }
    }
    assert_eq!(w.bob_room, one_by_one);
    // Batch and one by one agree on the same payloads again: replays.
    let again = w.bob_room.receive_batch(&payloads, 8);
    assert_eq!(again, receive_one_by_one(&mut one_by_one, &payloads));
    assert!(
        again
            .iter()
            .enumerate()
            .all(|(i, r)| matches!(i, 4 | 7) || r == &Err(OpenError::Replayed(i as u64 + 1)))
    );
}

#[test]
fn an_empty_batch_and_a_batch_of_one_work() {
    let mut w = world();
    let none: Vec<Vec<u8>> = Vec::new();
    assert!(w.bob_room.receive_batch(&none, 0).is_empty());
    let one = alice_sends(&mut w, 1);
    let results = w.bob_room.receive_batch(&one, 0);
    assert!(matches!(results[..], [Ok(Received::Accepted(_))]));
}

mod batch_matches_one_by_one {
    use super::*;
    use proptest::prelude::*;

    /// Every kind of payload a catch-up can meet, from one world.
    fn pool() -> (World, Vec<Vec<u8>>) {
        let mut w = world();
        let mut pool = Vec::new();
        // Alice: 1..=3, then 6 declaring 4-5, then 4 (a declared number,
        // signed: a replay once 6 is in), 7, 9 (8 lost).
        for (seq, skipped) in [
            (1, vec![]),
            (2, vec![]),
            (3, vec![]),
            (6, vec![seq_range(4, 5)]),
            (4, vec![]),
            (7, vec![]),
            (9, vec![]),
        ] {
            pool.push(alice_numbered(&mut w, seq, &skipped));
        }
        // Mallory, a new member.
        let mut mallory_room =
            Room::join(&w.alice_room.invite(), "ops", &w.mallory.public(), 0).unwrap();
        for seq in 1..=3 {
            pool.push(
                mallory_room
                    .seal_numbered(&w.mallory, seq, &[], text("m"), 0, &mut w.rng)
                    .unwrap(),
            );
        }
        // Forgeries: mallory's signature on alice's identity, mallory's
        // key under alice's name, a key under our own name, a small-order R.
        pool.push(forged_as_alice(&mut w, 10));
        let posing = Identity::from_secrets(
            "alice".into(),
            &w.mallory.signing_seed(),
            *w.mallory.agreement_bytes(),
        );
        pool.push(
            mallory_room
                .seal_numbered(&posing, 4, &[], text("I am alice"), 0, &mut w.rng)
                .unwrap(),
        );
        let impostor = Identity::generate("bob", &mut w.rng).unwrap();
        pool.push(
            mallory_room
                .seal_numbered(&impostor, 1, &[], text("I am bob"), 0, &mut w.rng)
                .unwrap(),
        );
        pool.push(small_order_r(&mut w, 11));
        // Our own message coming back, and garbage.
        pool.push(
            w.bob_room
                .seal_numbered(&w.bob, 1, &[], text("echo"), 0, &mut w.rng)
                .unwrap(),
        );
        pool.push(vec![1, 0, 0, 7]);
        (w, pool)
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(48))]

        /// Any mix of valid, replayed, tampered and forged payloads, cut
        /// into batches anywhere: the same results and the same room as
        /// receiving them one by one.
        #[test]
        fn for_any_mix(
            picks in proptest::collection::vec(
                (any::<prop::sample::Index>(), proptest::option::of((any::<prop::sample::Index>(), 1u8..=255))),
                0..40,
            ),
            cuts in proptest::collection::vec(1usize..20, 1..6),
        ) {
            let (w, pool) = pool();
            let payloads: Vec<Vec<u8>> = picks
                .iter()
                .map(|(pick, flip)| {
                    let mut payload = pool[pick.index(pool.len())].clone();
                    if let Some((at, bits)) = flip {
                        let at = at.index(payload.len());
                        payload[at] ^= bits;
                    }
                    payload
                })
                .collect();
            let mut one_by_one = w.bob_room.clone();
            let expected = receive_one_by_one(&mut one_by_one, &payloads);

            let mut batched = w.bob_room.clone();
            let mut results = Vec::new();
            let mut rest = &payloads[..];
            for cut in cuts.iter().cycle() {
                if rest.is_empty() {
                    break;
                }
                let (batch, after) = rest.split_at((*cut).min(rest.len()));
                results.extend(batched.receive_batch(batch, 7));
                rest = after;
            }
            prop_assert_eq!(results, expected);
            prop_assert_eq!(&batched, &one_by_one);
            prop_assert_eq!(
                serde_json::to_string(&batched).unwrap(),
                serde_json::to_string(&one_by_one).unwrap()
            );
        }
    }
}

#[test]
fn a_message_overtaken_by_a_later_one_from_its_sender_is_delayed() {
    let mut w = world();
    let sent = alice_sends(&mut w, 3);
    let first = delivered(w.bob_room.receive_message(&sent[0], 0));
    let third = delivered(w.bob_room.receive_message(&sent[2], 0));
    let second = delivered(w.bob_room.receive_message(&sent[1], 0));
    assert_eq!(
        [first.delayed, third.delayed, second.delayed],
        [false, false, true]
    );
    // The same through a batch, as catch-up receives them.
    let mut w = world();
    let sent = alice_sends(&mut w, 3);
    let batch = [&sent[0], &sent[2], &sent[1]];
    let delayed: Vec<bool> = w
        .bob_room
        .receive_batch(&batch, 0)
        .into_iter()
        .map(|result| delivered(result).delayed)
        .collect();
    assert_eq!(delayed, [false, false, true]);
}

#[test]
fn a_message_from_a_gap_already_reported_is_delayed() {
    let mut w = world();
    let sent = alice_sends(&mut w, 3);
    delivered(w.bob_room.receive_message(&sent[0], 0));
    // Her presence says she sent 3; caught up, bob is told 2 are missing.
    alice_announces(&mut w, 1);
    assert_eq!(w.bob_room.overdue_gaps(), vec![missed(2)]);
    // Then they turn up after all: late, and shown as such.
    for bytes in &sent[1..] {
        assert!(delivered(w.bob_room.receive_message(bytes, 0)).delayed);
    }
}

#[test]
fn a_message_received_long_after_its_timestamp_is_delayed() {
    let mut w = world();
    let sent_at = 1_800_000_000_000;
    let mut arrives_after = |wait_ms: u64| {
        let bytes = w
            .alice_room
            .seal_message(&w.alice, text("m"), sent_at, &mut w.rng)
            .unwrap();
        delivered(w.bob_room.receive_message(&bytes, sent_at + wait_ms)).delayed
    };
    assert!(!arrives_after(0));
    assert!(!arrives_after(DELAYED_AFTER_MS));
    assert!(arrives_after(DELAYED_AFTER_MS + 1));
    assert!(arrives_after(24 * 3_600_000));
    // A sender's clock ahead of ours is no delay.
    let ahead = w
        .alice_room
        .seal_message(&w.alice, text("m"), sent_at + 3_600_000, &mut w.rng)
        .unwrap();
    assert!(!delivered(w.bob_room.receive_message(&ahead, sent_at)).delayed);
}

/// A message from `who` (a key of its own, holding the room key), as bob
/// receives it.
fn posts_to_bob(
    w: &mut World,
    who: &Identity,
    body: &str,
) -> Result<Received<Delivery>, OpenError> {
    let mut room = Room::join(&w.alice_room.invite(), "ops", &who.public(), 0).unwrap();
    let bytes = room
        .seal_numbered(who, 1, &[], text(body), 0, &mut w.rng)
        .unwrap();
    w.bob_room.receive_message(&bytes, 0)
}

/// Bob has heard from alice and verified her key.
fn bob_verified_alice(w: &mut World) {
    let hello = alice_sends(w, 1);
    delivered(w.bob_room.receive_message(&hello[0], 0));
    let alice_fp = w.alice.fingerprint().to_string();
    w.bob_room.verify("alice", &alice_fp).unwrap();
}

fn bob_can_send(w: &mut World) -> Result<Vec<u8>, RoomError> {
    w.bob_room.seal_message(&w.bob, text("ok"), 0, &mut w.rng)
}

#[test]
fn a_lookalike_of_a_verified_name_is_a_key_change_that_blocks_sending() {
    let mut w = world();
    bob_verified_alice(&mut w);
    // "аlice" with a Cyrillic а: another string, the same on screen.
    let impostor = Identity::generate("\u{430}lice", &mut w.rng).unwrap();
    let delivery = delivered(posts_to_bob(&mut w, &impostor, "hi, it's alice"));
    assert_eq!(delivery.trust, Trust::Tofu);
    assert_eq!(delivery.warning, Some(NameWarning::LookAlike));
    assert_eq!(
        delivery.notices,
        vec![Notice::KeyChanged {
            name: "\u{430}lice".into(),
            old: w.alice.fingerprint(),
            new: impostor.fingerprint(),
            was_verified: true,
            lookalike_of: Some("alice".into()),
        }]
    );
    let block = Block {
        name: "\u{430}lice".into(),
        fingerprint: impostor.fingerprint(),
        lookalike_of: Some("alice".into()),
    };
    assert_eq!(bob_can_send(&mut w), Err(RoomError::SendBlocked(block)));
    let said = bob_can_send(&mut w).unwrap_err().to_string();
    assert!(said.contains("looks like alice"), "{said}");
    assert_eq!(w.bob_room.accept(&impostor.fingerprint()), Ok(true));
    assert!(bob_can_send(&mut w).is_ok());
    assert_eq!(w.bob_room.name_warning(&impostor.fingerprint()), None);
}

#[test]
fn names_with_invisible_characters_or_not_in_nfkc_are_refused_as_malformed() {
    let mut w = world();
    bob_verified_alice(&mut w);
    let before = w.bob_room.clone();
    for name in [
        "al\u{2060}ice",
        "alice\u{200d}",
        "\u{feff}alice",
        "Zoe\u{301}",
    ] {
        let key = Identity::generate("x", &mut w.rng).unwrap();
        let posing =
            Identity::from_secrets(name.into(), &key.signing_seed(), *key.agreement_bytes());
        assert_eq!(
            posts_to_bob(&mut w, &posing, "hi"),
            Err(OpenError::Malformed),
            "{name:?}"
        );
        let room = Room::join(&w.alice_room.invite(), "ops", &posing.public(), 0).unwrap();
        let record = room.seal_presence(&posing, Status::Online, 1, 0, &mut w.rng);
        let topic = w.bob_room.member_topic_id(&posing.fingerprint());
        assert_eq!(
            w.bob_room.receive_presence(&record, &topic, 0),
            Err(OpenError::Malformed),
            "{name:?}"
        );
    }
    assert_eq!(w.bob_room, before, "nothing from them is stored");
    assert!(bob_can_send(&mut w).is_ok());
}

#[test]
fn accepting_one_impostor_does_not_let_the_next_one_through() {
    let mut w = world();
    bob_verified_alice(&mut w);
    let first = Identity::generate("alice", &mut w.rng).unwrap();
    delivered(posts_to_bob(&mut w, &first, "new laptop"));
    assert!(matches!(
        bob_can_send(&mut w),
        Err(RoomError::SendBlocked(Block { fingerprint, .. })) if fingerprint == first.fingerprint()
    ));
    assert_eq!(w.bob_room.accept(&first.fingerprint()), Ok(true));
    assert!(bob_can_send(&mut w).is_ok());

    // The newest key under the name is now an accepted, unverified one;
    // the verified key still holds the name, so the next claim blocks.
    let second = Identity::generate("alice", &mut w.rng).unwrap();
    let delivery = delivered(posts_to_bob(&mut w, &second, "newer laptop"));
    assert!(matches!(
        delivery.notices[..],
        [Notice::KeyChanged {
            was_verified: true,
            ..
        }]
    ));
    assert!(matches!(
        bob_can_send(&mut w),
        Err(RoomError::SendBlocked(Block { fingerprint, .. })) if fingerprint == second.fingerprint()
    ));
    // So does a look-alike after that.
    assert_eq!(w.bob_room.accept(&second.fingerprint()), Ok(true));
    let third = Identity::generate("alic\u{435}", &mut w.rng).unwrap();
    delivered(posts_to_bob(&mut w, &third, "me again"));
    assert!(bob_can_send(&mut w).is_err());
}

#[test]
fn each_blocking_key_is_resolved_on_its_own() {
    let mut w = world();
    bob_verified_alice(&mut w);
    let first = Identity::generate("alice", &mut w.rng).unwrap();
    let second = Identity::generate("\u{430}lice", &mut w.rng).unwrap();
    delivered(posts_to_bob(&mut w, &first, "one"));
    delivered(posts_to_bob(&mut w, &second, "two"));
    assert_eq!(w.bob_room.blocked_by().len(), 2);
    // Verifying the first (after comparing its fingerprint) lifts its
    // block only.
    let prefix = short_fingerprint(&first.fingerprint());
    let verified = w
        .bob_room
        .verify(&prefix, &first.fingerprint().to_string())
        .unwrap();
    assert_eq!(verified, first.fingerprint());
    assert!(matches!(
        bob_can_send(&mut w),
        Err(RoomError::SendBlocked(Block { fingerprint, .. })) if fingerprint == second.fingerprint()
    ));
    assert_eq!(w.bob_room.accept(&second.fingerprint()), Ok(true));
    assert!(bob_can_send(&mut w).is_ok());
    // Accepting again, or a key that never changed, lifts nothing.
    assert_eq!(w.bob_room.accept(&second.fingerprint()), Ok(false));
    assert_eq!(w.bob_room.accept(&w.alice.fingerprint()), Ok(false));
}

#[test]
fn members_are_found_by_name_or_fingerprint_prefix_and_ambiguity_is_refused() {
    let mut w = world();
    bob_verified_alice(&mut w);
    let impostor = Identity::generate("alice", &mut w.rng).unwrap();
    delivered(posts_to_bob(&mut w, &impostor, "hi"));
    let room = &w.bob_room;
    assert_eq!(room.resolve_member("bob"), Ok(w.bob.fingerprint()));
    // A typed name is compared in NFKC, as names are kept.
    assert_eq!(room.resolve_member("ｂｏｂ"), Ok(w.bob.fingerprint()));
    match room.resolve_member("alice") {
        Err(RoomError::AmbiguousMember { typed, candidates }) => {
            assert_eq!(typed, "alice");
            let keys: Vec<Fingerprint> = candidates.iter().map(|c| c.fingerprint).collect();
            assert_eq!(keys.len(), 2);
            assert!(
                keys.contains(&w.alice.fingerprint()) && keys.contains(&impostor.fingerprint())
            );
            let said = room.resolve_member("alice").unwrap_err().to_string();
            for key in [w.alice.fingerprint(), impostor.fingerprint()] {
                assert!(said.contains(&short_fingerprint(&key)), "{said}");
            }
            assert!(
                said.contains("(verified)") && said.contains("(unverified)"),
                "{said}"
            );
        }
        other => panic!("{other:?}"),
    }
    // At least 8 digits of a fingerprint, spaced or hyphenated as typed.
    let digits: String = impostor.fingerprint().to_string().replace(' ', "");
    for typed in [
        digits[..8].to_owned(),
        format!("{} {}", &digits[..5], &digits[5..9]),
        format!("{}-{}", &digits[..5], &digits[5..10]),
        impostor.fingerprint().to_string(),
    ] {
        assert_eq!(
            room.resolve_member(&typed),
            Ok(impostor.fingerprint()),
            "{typed}"
        );
    }
    assert_eq!(
        room.resolve_member(&digits[..7]),
        Err(RoomError::UnknownMember(digits[..7].to_owned()))
    );
    assert!(matches!(
        room.resolve_member("carol"),
        Err(RoomError::UnknownMember(_))
    ));
}

#[test]
fn a_name_made_of_digits_cannot_pass_for_a_fingerprint_prefix() {
    let mut w = world();
    bob_verified_alice(&mut w);
    let alice_digits = w.alice.fingerprint().to_string().replace(' ', "");
    // Someone names their key after the first digits of alice's key.
    let sly = Identity::generate(&alice_digits[..10], &mut w.rng).unwrap();
    delivered(posts_to_bob(&mut w, &sly, "hi"));
    assert!(matches!(
        w.bob_room.resolve_member(&alice_digits[..10]),
        Err(RoomError::AmbiguousMember { .. })
    ));
}

#[test]
fn a_key_that_took_the_inviters_name_first_blocks_once_the_inviter_appears() {
    let mut w = world();
    let early = Identity::generate("alice", &mut w.rng).unwrap();
    let delivery = delivered(posts_to_bob(&mut w, &early, "I am alice"));
    assert!(matches!(delivery.notices[..], [Notice::NewMember { .. }]));
    assert!(bob_can_send(&mut w).is_ok());
    // The real alice (her key came with the invite) speaks.
    let hello = alice_sends(&mut w, 1);
    let delivery = delivered(w.bob_room.receive_message(&hello[0], 0));
    assert_eq!(delivery.trust, Trust::Invite);
    assert_eq!(delivery.warning, None);
    assert!(
        delivery.notices.iter().any(|n| matches!(
            n,
            Notice::KeyChanged { new, was_verified: true, .. } if *new == early.fingerprint()
        )),
        "{:?}",
        delivery.notices
    );
    assert_eq!(
        w.bob_room.name_warning(&early.fingerprint()),
        Some(NameWarning::KeyChanged)
    );
    assert!(bob_can_send(&mut w).is_err());
}

#[test]
fn verifying_a_name_makes_its_unaccepted_look_alikes_block() {
    let mut w = world();
    let hello = alice_sends(&mut w, 1);
    delivered(w.bob_room.receive_message(&hello[0], 0));
    let carol = Identity::generate("carol", &mut w.rng).unwrap();
    let fake = Identity::generate("car\u{3bf}l", &mut w.rng).unwrap(); // Greek ο
    delivered(posts_to_bob(&mut w, &carol, "hi"));
    let delivery = delivered(posts_to_bob(&mut w, &fake, "hi too"));
    // Nobody vouches for "carol" yet: flagged, not blocking.
    assert_eq!(delivery.warning, Some(NameWarning::LookAlike));
    assert!(bob_can_send(&mut w).is_ok());
    w.bob_room
        .verify("carol", &carol.fingerprint().to_string())
        .unwrap();
    assert!(matches!(
        bob_can_send(&mut w),
        Err(RoomError::SendBlocked(Block { fingerprint, .. })) if fingerprint == fake.fingerprint()
    ));
}

#[test]
fn a_look_alike_of_our_own_name_is_flagged_but_does_not_block() {
    let mut w = world();
    let fake = Identity::generate("b\u{43e}b", &mut w.rng).unwrap(); // Cyrillic о
    let delivery = delivered(posts_to_bob(&mut w, &fake, "I am bob"));
    assert_eq!(delivery.warning, Some(NameWarning::LookAlike));
    assert!(matches!(
        &delivery.notices[..],
        [Notice::KeyChanged { lookalike_of: Some(of), was_verified: false, .. }] if of == "bob"
    ));
    assert!(bob_can_send(&mut w).is_ok());
}

#[test]
fn rooms_saved_with_blocked_names_open_with_a_block_per_key() {
    let mut w = world();
    bob_verified_alice(&mut w);
    let impostor = Identity::generate("alice", &mut w.rng).unwrap();
    delivered(posts_to_bob(&mut w, &impostor, "hi"));
    let current = w.bob_room.clone();
    // The header as sotto 0.2 wrote it: a list of names, no blocks.
    let parts = w.bob_room.clone().into_parts();
    let mut header = serde_json::to_value(&parts.header).unwrap();
    let object = header.as_object_mut().unwrap();
    assert!(object.remove("blocks").is_some());
    assert!(!object.contains_key("blocked_by"));
    object.insert("blocked_by".into(), serde_json::json!(["alice"]));
    let old = RoomParts {
        header: serde_json::from_value(header).unwrap(),
        ..parts
    };
    let opened = Room::from_parts(old);
    assert_eq!(opened, current);
    // Saved again, it is in the new shape.
    let saved = serde_json::to_string(&opened.into_parts().header).unwrap();
    assert!(
        !saved.contains("blocked_by") && saved.contains("\"blocks\":[{"),
        "{saved}"
    );
    // A whole room in 0.1's JSON file is upgraded on the way in, too.
    let mut file = serde_json::to_value(&current).unwrap();
    let object = file.as_object_mut().unwrap();
    object.remove("blocks");
    object.insert("blocked_by".into(), serde_json::json!(["alice"]));
    let from_file: Room = serde_json::from_value(file).unwrap();
    assert_eq!(Room::from_parts(from_file.into_parts()), current);
}

#[test]
fn look_alikes_are_found_at_the_cap_while_new_keys_take_silent_places() {
    let mut w = world();
    bob_verified_alice(&mut w);
    let mut index = 0;
    while w.bob_room.members.len() < MAX_MEMBERS {
        let member = silent_member(index, 10 + index as u64);
        w.bob_room
            .members
            .insert(member.identity.fingerprint(), member);
        index += 1;
    }
    // Each newcomer pushes a silent key out; the skeleton index follows.
    for i in 0..3 {
        let newcomer = Identity::generate(&format!("new{i}"), &mut w.rng).unwrap();
        let delivery = delivered(posts_to_bob(&mut w, &newcomer, "hi"));
        assert!(matches!(delivery.notices[..], [Notice::NewMember { .. }]));
    }
    // A name that looks like one pushed out is a stranger now...
    let gone = Identity::generate("fake0", &mut w.rng).unwrap();
    let delivery = delivered(posts_to_bob(&mut w, &gone, "back"));
    assert!(matches!(delivery.notices[..], [Notice::NewMember { .. }]));
    // ...and one that looks like alice is still caught.
    let impostor = Identity::generate("aIice", &mut w.rng).unwrap();
    let delivery = delivered(posts_to_bob(&mut w, &impostor, "hi"));
    assert_eq!(delivery.warning, Some(NameWarning::LookAlike));
    assert_eq!(w.bob_room.members().len(), MAX_MEMBERS);
    assert!(bob_can_send(&mut w).is_err());
}
