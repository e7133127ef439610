use super::*;
use crate::identity::Identity;
use crate::log::commit::{self, Commit};
use crate::log::ticket::Ticket;
use crate::protocol::EpochContext;
use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;

const ROOM: RoomId = RoomId([1; 16]);

struct People {
    alice: Identity,
    bob: Identity,
    carol: Identity,
    mallory: Identity,
}

fn people() -> People {
    let mut rng = ChaCha20Rng::seed_from_u64(11);
    People {
        alice: Identity::generate("alice", &mut rng).unwrap(),
        bob: Identity::generate("bob", &mut rng).unwrap(),
        carol: Identity::generate("carol", &mut rng).unwrap(),
        mallory: Identity::generate("mallory", &mut rng).unwrap(),
    }
}

fn sign(by: &Identity, epoch: u64, parent: CommitHash, at_ms: u64, change: Change) -> SignedCommit {
    let key = SymmetricKey::from_bytes([epoch as u8; 32]);
    let context = EpochContext {
        room_id: &ROOM,
        epoch: epoch.saturating_sub(1),
        key: &key,
    };
    let commit = Commit {
        epoch,
        parent,
        committer: by.public(),
        at_ms,
        change,
    };
    commit::seal(context, by, commit, &mut ChaCha20Rng::seed_from_u64(epoch)).1
}

fn created(p: &People) -> LogState {
    let create = sign(
        &p.alice,
        0,
        CommitHash::default(),
        100,
        Change::Create {
            admins_invite: false,
        },
    );
    LogState::first(&ROOM, &create).unwrap()
}

fn ticket(by: &Identity, epoch: u64, expires_ms: u64, uses: u32) -> Ticket {
    Ticket::new(ROOM, [epoch as u8; 16], by, epoch, expires_ms, uses)
}

fn add(
    state: &LogState,
    joiner: &Identity,
    ticket: Ticket,
    at_ms: u64,
) -> Result<LogState, LogError> {
    let commit = sign(
        joiner,
        state.epoch + 1,
        state.head,
        at_ms,
        Change::Add { ticket },
    );
    state.check(&ROOM, &commit)
}

/// alice created the room, bob joined with her invite.
fn with_bob(p: &People) -> LogState {
    let state = created(p);
    add(&state, &p.bob, ticket(&p.alice, 0, 1_000, 1), 200).unwrap()
}

#[test]
fn the_creator_is_the_first_admin_and_a_joiner_is_added_by_its_invite() {
    let p = people();
    let state = with_bob(&p);
    assert_eq!(state.epoch, 1);
    assert!(state.roster.get(&p.alice.fingerprint()).unwrap().admin);
    let bob = state.roster.get(&p.bob.fingerprint()).unwrap();
    assert!(!bob.admin);
    assert_eq!(bob.since_epoch, 1);
}

#[test]
fn an_invite_is_refused_after_its_expiry_or_its_uses() {
    let p = people();
    let state = created(&p);
    assert_eq!(
        add(&state, &p.bob, ticket(&p.alice, 0, 150, 1), 200),
        Err(LogError::InviteExpired)
    );
    let once = ticket(&p.alice, 0, 1_000, 1);
    let state = add(&state, &p.bob, once.clone(), 200).unwrap();
    assert_eq!(
        add(&state, &p.carol, once, 300),
        Err(LogError::InviteUsedUp)
    );
    let twice = Ticket::new(ROOM, [9; 16], &p.alice, 1, 1_000, 2);
    let state = add(&state, &p.carol, twice.clone(), 300).unwrap();
    let state = add(&state, &p.mallory, twice.clone(), 400).unwrap();
    let mut rng = ChaCha20Rng::seed_from_u64(77);
    let dave = Identity::generate("dave", &mut rng).unwrap();
    assert_eq!(add(&state, &dave, twice, 500), Err(LogError::InviteUsedUp));
}

#[test]
fn an_add_dated_before_its_parent_cannot_dodge_the_expiry() {
    let p = people();
    let state = with_bob(&p);
    assert_eq!(
        add(&state, &p.carol, ticket(&p.alice, 1, 1_000, 1), 150),
        Err(LogError::BeforeParent)
    );
}

#[test]
fn invites_from_non_members_or_for_other_rooms_are_refused() {
    let p = people();
    let state = created(&p);
    assert_eq!(
        add(&state, &p.carol, ticket(&p.mallory, 0, 1_000, 1), 200),
        Err(LogError::InviterNotAllowed)
    );
    let elsewhere = Ticket::new(RoomId([2; 16]), [3; 16], &p.alice, 0, 1_000, 1);
    assert_eq!(
        add(&state, &p.carol, elsewhere, 200),
        Err(LogError::BadInvite)
    );
    let mut forged = ticket(&p.alice, 0, 1_000, 1);
    forged.uses = 50;
    assert_eq!(add(&state, &p.carol, forged, 200), Err(LogError::BadInvite));
}

#[test]
fn a_name_already_bound_cannot_join_again_under_another_key() {
    let p = people();
    let state = with_bob(&p);
    let mut rng = ChaCha20Rng::seed_from_u64(99);
    let fake_alice = Identity::generate("Alice", &mut rng).unwrap();
    assert_eq!(
        add(&state, &fake_alice, ticket(&p.bob, 1, 1_000, 1), 300),
        Err(LogError::NameTaken("alice".into()))
    );
    let cyrillic = Identity::generate("\u{430}lice", &mut rng).unwrap();
    assert_eq!(
        add(&state, &cyrillic, ticket(&p.bob, 1, 1_000, 1), 300),
        Err(LogError::NameTaken("alice".into()))
    );
}

#[test]
fn only_admins_remove_and_grant() {
    let p = people();
    let state = with_bob(&p);
    let state = add(&state, &p.carol, ticket(&p.bob, 1, 1_000, 1), 300).unwrap();
    let kick = sign(
        &p.bob,
        3,
        state.head,
        400,
        Change::Remove {
            member: p.carol.fingerprint(),
        },
    );
    assert_eq!(
        state.check(&ROOM, &kick),
        Err(LogError::NotAdmin("bob".into()))
    );
    let kick = sign(
        &p.alice,
        3,
        state.head,
        400,
        Change::Remove {
            member: p.carol.fingerprint(),
        },
    );
    let after = state.check(&ROOM, &kick).unwrap();
    assert!(!after.roster.contains(&p.carol.fingerprint()));
    // carol, removed, can no longer commit anything.
    let rotate = sign(&p.carol, 4, after.head, 500, Change::Rotate);
    assert_eq!(after.check(&ROOM, &rotate), Err(LogError::NotMember));
    let grant = sign(
        &p.alice,
        4,
        after.head,
        500,
        Change::Admin {
            member: p.bob.fingerprint(),
        },
    );
    let after = after.check(&ROOM, &grant).unwrap();
    assert!(after.roster.get(&p.bob.fingerprint()).unwrap().admin);
}

#[test]
fn a_replayed_or_forked_commit_is_refused() {
    let p = people();
    let start = created(&p);
    let first = sign(
        &p.bob,
        1,
        start.head,
        200,
        Change::Add {
            ticket: ticket(&p.alice, 0, 1_000, 1),
        },
    );
    let state = start.check(&ROOM, &first).unwrap();
    assert_eq!(state.check(&ROOM, &first), Err(LogError::NotOnHead));
    let elsewhere = sign(&p.alice, 2, CommitHash([5; 32]), 300, Change::Rotate);
    assert_eq!(state.check(&ROOM, &elsewhere), Err(LogError::NotOnHead));
    let skipping = sign(&p.alice, 3, state.head, 300, Change::Rotate);
    assert_eq!(
        state.check(&ROOM, &skipping),
        Err(LogError::WrongEpoch { got: 3, current: 1 })
    );
}

#[test]
fn when_the_last_admin_leaves_the_longest_standing_member_becomes_admin() {
    let p = people();
    let state = with_bob(&p);
    let state = add(&state, &p.carol, ticket(&p.bob, 1, 1_000, 1), 300).unwrap();
    let leave = sign(&p.alice, 3, state.head, 400, Change::Leave);
    let after = state.check(&ROOM, &leave).unwrap();
    assert!(!after.roster.contains(&p.alice.fingerprint()));
    assert!(after.roster.get(&p.bob.fingerprint()).unwrap().admin);
    assert!(!after.roster.get(&p.carol.fingerprint()).unwrap().admin);
}

#[test]
fn concurrent_commits_rank_the_same_whatever_the_order() {
    let p = people();
    let state = with_bob(&p);
    let key = SymmetricKey::from_bytes([1; 32]);
    let a = sign(&p.alice, 2, state.head, 300, Change::Rotate);
    let b = sign(&p.bob, 2, state.head, 300, Change::Rotate);
    let kick = sign(
        &p.alice,
        2,
        state.head,
        300,
        Change::Remove {
            member: p.bob.fingerprint(),
        },
    );
    let ra = rank(&ROOM, &key, &a);
    let rb = rank(&ROOM, &key, &b);
    assert_ne!(ra, rb);
    assert!(
        rank(&ROOM, &key, &kick) < ra.min(rb),
        "a removal beats rotations"
    );
    // The draw depends on the parent epoch's key: nobody can pick a
    // fingerprint that wins before the epoch exists.
    let other = SymmetricKey::from_bytes([2; 32]);
    assert_ne!(rank(&ROOM, &other, &a).1, ra.1);
}

#[test]
fn the_roster_hash_changes_with_any_member() {
    let p = people();
    let one = with_bob(&p);
    let two = add(&one, &p.carol, ticket(&p.bob, 1, 1_000, 1), 300).unwrap();
    assert_ne!(one.roster.hash(&ROOM), two.roster.hash(&ROOM));
    assert_ne!(one.roster.hash(&ROOM), one.roster.hash(&RoomId([3; 16])));
}

#[test]
fn a_genesis_lists_the_known_members_under_its_creator() {
    let p = people();
    let genesis = sign(
        &p.alice,
        5,
        CommitHash::default(),
        100,
        Change::Genesis {
            members: vec![p.bob.public(), p.carol.public()],
        },
    );
    let state = LogState::first(&ROOM, &genesis).unwrap();
    assert_eq!(state.roster.len(), 3);
    assert_eq!(state.epoch, 5);
    assert!(state.roster.get(&p.alice.fingerprint()).unwrap().admin);
    assert_eq!(state.check(&ROOM, &genesis), Err(LogError::NotOnHead));
}
