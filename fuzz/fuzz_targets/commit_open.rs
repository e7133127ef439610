//! Opening a membership commit (`log::open`) under the fixed room and
//! epoch key, then checking it against a log whose creator is alice. Mode
//! byte even: the rest is a payload as received. Odd: the rest is the
//! commit's plaintext content, sealed and signed by bob here.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sotto::log::{self, Change, Commit, CommitHash, LogState};
use sotto::protocol::fuzzing;
use sotto::protocol::wire::Kind;
use sotto_fuzz::{Room, alice, bob, mode, rng};

fuzz_target!(|data: &[u8]| {
    let room = Room::new();
    let (mode, rest) = mode(data);
    let payload = if mode % 2 == 0 {
        rest.to_vec()
    } else {
        fuzzing::seal_content(Kind::Commit, room.context(), bob(), rest, &mut rng())
    };
    let Ok(signed) = log::open(room.context(), &payload) else {
        return;
    };
    // Whatever opens must be judged by the log without a panic.
    let create = Commit {
        epoch: 0,
        parent: CommitHash::default(),
        committer: alice().public(),
        at_ms: 0,
        change: Change::Create {
            admins_invite: false,
        },
    };
    let (_, first) = log::seal(room.context(), alice(), create, &mut rng());
    if let Ok(state) = LogState::first(&room.id, &first) {
        let _ = state.check(&room.id, &signed);
    }
    let _ = LogState::first(&room.id, &signed);
});
