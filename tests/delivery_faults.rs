//! Ordinary faults that lost messages (issue 6): a home spelled another
//! way, a client id anyone could compute, a state save that failed after
//! the broker was told "delivered", a reader that closed the pipe, and
//! `listen`'s exit codes. Real binary, private Mosquitto, MQTT 5 and 3.1.1.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
mod home;

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::Path;
use std::time::Duration;

use common::{BlockingRawClient, Mosquitto};
use home::{Finished, Home, Listener, SUBSCRIBE_WITHIN, json_lines, texts};

common::on_both_mqtt_versions!(
    one_home_spelled_three_ways_is_one_broker_queue,
    a_member_cannot_obtain_another_members_client_id,
    a_failed_state_save_is_not_acknowledged_and_comes_again,
    listen_piped_into_head_loses_nothing,
    listen_exits_0_when_its_count_is_reached,
    listen_exits_0_when_its_timeout_runs_out_without_a_count,
    listen_exits_0_on_ctrl_c,
    listen_exits_0_quietly_when_stdout_is_closed,
    listen_exits_3_when_fewer_than_count_arrive_in_time,
    listen_exits_1_with_one_sentence_on_a_runtime_error,
);

/// A private broker; alice made `ops`, bob joined it (never connected).
struct Scene {
    broker: Mosquitto,
    alice: Home,
    bob: Home,
}

fn scene(mqtt: &str) -> Scene {
    let broker = Mosquitto::start();
    let alice = Home::init_with_mqtt("alice", &broker.url(), Some(mqtt));
    let bob = Home::init_with_mqtt("bob", &broker.url(), Some(mqtt));
    bob.join(&alice.create_room("ops"));
    Scene { broker, alice, bob }
}

/// Lines on stderr that are more than listen's own "listening" notice.
/// What on stderr is not routine: the "listening" line and the notice
/// about a member seen for the first time are not errors.
fn error_text(stderr: &str) -> Vec<&str> {
    stderr
        .lines()
        .filter(|line| {
            !line.trim().is_empty()
                && !line.starts_with("sotto: listening")
                && !line.starts_with("sotto: new member")
        })
        .collect()
}

fn one_home_spelled_three_ways_is_one_broker_queue(mqtt: &str) {
    let s = scene(mqtt);
    let absolute = s.bob.path().to_owned();
    let parent = absolute.parent().unwrap().to_owned();
    let relative = absolute.file_name().unwrap().to_owned();
    let mut trailing_slash = absolute.clone().into_os_string();
    trailing_slash.push("/");

    // Registered as `--home bob` from the directory that holds it...
    let mut register = s
        .bob
        .command_with_home(&relative, &["listen", "ops", "--count", "0"]);
    let out = register.current_dir(&parent).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // ...then back as `--home /abs/bob`, then as `--home /abs/bob/`.
    for (round, spelling) in [absolute.into_os_string(), trailing_slash]
        .iter()
        .enumerate()
    {
        let sent: Vec<String> = (1..=3)
            .map(|i| format!("round {} message {i}", round + 1))
            .collect();
        for text in &sent {
            s.alice.send("ops", text);
        }
        let args = ["listen", "ops", "--json", "--count", "3", "--timeout", "5"];
        let listener =
            Listener::spawn_within(s.bob.command_with_home(spelling, &args), SUBSCRIBE_WITHIN);
        let done = listener.finish_within(Duration::from_secs(10));
        assert_eq!(
            texts(&json_lines(&done.stdout)),
            sent,
            "--home {spelling:?}: {}",
            done.describe()
        );
        assert!(!done.stderr.contains("missed"), "{}", done.describe());
    }
}

/// The client ids the broker logged since it had logged `since` of them.
fn client_ids_since(broker: &Mosquitto, since: usize) -> BTreeSet<String> {
    broker.connected_client_ids()[since..]
        .iter()
        .filter(|id| *id != "eavesdropper")
        .cloned()
        .collect()
}

/// Copies what another member could have of `from` (its keys and the
/// room state, which hold nothing that is only the home's own) into
/// `to`: the identity files, the storage key and the database. Whatever
/// else the home keeps, such as the secret its client ids derive from and
/// the record of the ids it used, is left out.
fn copy_known_state(from: &Path, to: &Path) {
    std::fs::create_dir(to).unwrap();
    for file in ["identity.key", "identity.json", "storage.key", "sotto.db"] {
        std::fs::copy(from.join(file), to.join(file)).unwrap();
    }
    if from.join("sotto.db-wal").exists() {
        std::fs::copy(from.join("sotto.db-wal"), to.join("sotto.db-wal")).unwrap();
    }
}

fn a_member_cannot_obtain_another_members_client_id(mqtt: &str) {
    let s = scene(mqtt);
    let eavesdropper = BlockingRawClient::connect(s.broker.port(), "eavesdropper");
    eavesdropper.subscribe("#");

    // The first use may do one-off work (such as draining a session of
    // an older client id); the second shows the id alice keeps.
    s.alice.register("ops");
    let before = s.broker.connected_client_ids().len();
    s.alice.register("ops");
    let alice_ids = client_ids_since(&s.broker, before);
    s.alice.send("ops", "hello");
    assert!(!alice_ids.is_empty(), "{}", s.broker.log());

    // Someone with everything another member could know or guess about
    // alice's home, at the very same path, but not the home's own secret.
    let home = s.alice.path().to_owned();
    let original = home.with_extension("original");
    std::fs::rename(&home, &original).unwrap();
    copy_known_state(&original, &home);
    let before = s.broker.connected_client_ids().len();
    let copy = s
        .alice
        .run_within(&["listen", "ops", "--count", "0"], Duration::from_secs(10));
    let copy_ids = client_ids_since(&s.broker, before);
    std::fs::remove_dir_all(&home).unwrap();
    std::fs::rename(&original, &home).unwrap();
    assert!(
        alice_ids.is_disjoint(&copy_ids),
        "a copy of alice's home without its secret connects as alice: {copy_ids:?} (alice: {alice_ids:?}); the copy's listen {}",
        copy.describe()
    );

    for id in &alice_ids {
        assert!(
            id.len() <= 23
                && id
                    .chars()
                    .all(|c| c.is_ascii_digit() || c.is_ascii_lowercase()),
            "client id {id:?}: at most 23 characters of [0-9a-z] (what MQTT 3.1.1 guarantees)"
        );
    }

    // Nothing on the wire names it.
    let seen = eavesdropper.received();
    assert!(!seen.is_empty());
    for id in &alice_ids {
        for r in &seen {
            let in_payload = r.payload.windows(id.len()).any(|w| w == id.as_bytes());
            assert!(
                !r.topic.contains(id.as_str()) && !in_payload,
                "client id {id} seen on {}",
                r.topic
            );
        }
    }

    // -v names it (and the MQTT version) to its owner only, on stderr.
    let verbose = s.alice.run_within(
        &["-v", "listen", "ops", "--count", "0"],
        Duration::from_secs(10),
    );
    assert_eq!(verbose.code(), Some(0), "-v listen {}", verbose.describe());
    assert!(
        alice_ids
            .iter()
            .any(|id| verbose.stderr.contains(&format!("client id {id}"))),
        "-v should say `client id <ID>` with one of {alice_ids:?}: {}",
        verbose.describe()
    );
    assert!(
        verbose.stderr.contains(mqtt) && (mqtt == "3.1.1") == verbose.stderr.contains("3.1.1"),
        "-v should name MQTT {mqtt}: {}",
        verbose.describe()
    );
}

fn a_failed_state_save_is_not_acknowledged_and_comes_again(mqtt: &str) {
    let s = scene(mqtt);
    let listener = s
        .bob
        .listen_json("ops", &["--count", "2", "--timeout", "30"]);
    // Once this is shown, everything that arrived before it (bob's own
    // presence coming back) has been dealt with: the next save is the
    // next message's.
    s.alice.send("ops", "warm-up");
    listener.wait_json(1, Duration::from_secs(8));
    // The warm-up's "shown" mark and acknowledgement go out in a write of
    // their own a few milliseconds after its line (FLUSH_DELAY): let that
    // write happen before the lock makes writes fail, or the warm-up comes
    // again instead of the message this test is about.
    std::thread::sleep(Duration::from_millis(300));
    let lock = s.bob.lock_state();
    s.alice.send("ops", "saved before acknowledged");
    // sotto waits up to 10 s for the lock, then must stop.
    let failed = listener.finish_within(Duration::from_secs(14));
    drop(lock);
    let again = s
        .bob
        .listen_json("ops", &["--count", "1", "--timeout", "5"])
        .finish_within(Duration::from_secs(10));

    assert_eq!(
        texts(&json_lines(&again.stdout)),
        ["saved before acknowledged"],
        "the next listen gets the message that was not saved: {}",
        again.describe()
    );
    assert_eq!(
        failed.code(),
        Some(1),
        "a save failure stops listen: {}",
        failed.describe()
    );
    // The message may have been shown before its save failed (it is saved
    // after it is shown); then it is shown again after the restart, the one
    // repeat the design allows. It is never acknowledged unsaved.
    let shown = texts(&json_lines(&failed.stdout));
    assert!(
        (shown == ["warm-up"] || shown == ["warm-up", "saved before acknowledged"])
            && !error_text(&failed.stderr).is_empty(),
        "nothing else shown, and a sentence on stderr: {}",
        failed.describe()
    );
}

fn listen_piped_into_head_loses_nothing(mqtt: &str) {
    let s = scene(mqtt);
    let (listener, stdout) = Listener::spawn_keeping_stdout(
        s.bob
            .command(&["listen", "ops", "--json", "--timeout", "10"]),
        SUBSCRIBE_WITHIN,
    );
    // `head -1`: read one line, then close the pipe.
    let (tx, rx) = std::sync::mpsc::channel();
    let head = std::thread::spawn(move || {
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line).unwrap();
        tx.send(line).unwrap();
    });
    s.alice.send("ops", "message 1");
    let line = rx.recv_timeout(Duration::from_secs(8)).unwrap();
    head.join().unwrap();
    // These two reach a listen whose reader has gone.
    s.alice.send("ops", "message 2");
    s.alice.send("ops", "message 3");
    let done = listener.finish_within(Duration::from_secs(8));
    let again = s
        .bob
        .listen_json("ops", &["--count", "2", "--timeout", "5"])
        .finish_within(Duration::from_secs(10));

    assert_eq!(
        texts(&json_lines(&again.stdout)),
        ["message 2", "message 3"],
        "the messages not printed come on the next listen: {}",
        again.describe()
    );
    assert_eq!(texts(&json_lines(&line)), ["message 1"]);
    assert_eq!(
        done.code(),
        Some(0),
        "a closed stdout ends listen quietly: {}",
        done.describe()
    );
    assert_eq!(
        error_text(&done.stderr),
        Vec::<&str>::new(),
        "{}",
        done.describe()
    );
}

fn listen_exits_0_when_its_count_is_reached(mqtt: &str) {
    let s = scene(mqtt);
    let listener = s
        .bob
        .listen_json("ops", &["--count", "1", "--timeout", "10"]);
    s.alice.send("ops", "one");
    let done = listener.finish_within(Duration::from_secs(12));
    assert_eq!(done.code(), Some(0), "{}", done.describe());
    assert_eq!(texts(&json_lines(&done.stdout)), ["one"]);
}

fn listen_exits_0_when_its_timeout_runs_out_without_a_count(mqtt: &str) {
    let s = scene(mqtt);
    s.bob.register("ops");
    s.alice.send("ops", "one");
    let done = s
        .bob
        .listen_json("ops", &["--timeout", "2"])
        .finish_within(Duration::from_secs(8));
    assert_eq!(done.code(), Some(0), "{}", done.describe());
    assert_eq!(texts(&json_lines(&done.stdout)), ["one"]);
}

fn listen_exits_0_on_ctrl_c(mqtt: &str) {
    let s = scene(mqtt);
    let listener = s.bob.listen_json("ops", &[]);
    listener.send_interrupt();
    let done = listener.finish_within(Duration::from_secs(5));
    assert_eq!(done.code(), Some(0), "{}", done.describe());
}

fn listen_exits_0_quietly_when_stdout_is_closed(mqtt: &str) {
    let s = scene(mqtt);
    let (listener, stdout) = Listener::spawn_keeping_stdout(
        s.bob.command(&["listen", "ops", "--timeout", "10"]),
        SUBSCRIBE_WITHIN,
    );
    drop(stdout);
    s.alice.send("ops", "nobody reads this");
    let done = listener.finish_within(Duration::from_secs(8));
    assert_eq!(done.code(), Some(0), "{}", done.describe());
    assert_eq!(
        error_text(&done.stderr),
        Vec::<&str>::new(),
        "{}",
        done.describe()
    );
}

fn listen_exits_3_when_fewer_than_count_arrive_in_time(mqtt: &str) {
    let s = scene(mqtt);
    s.bob.register("ops");
    s.alice.send("ops", "only one");
    let done = s
        .bob
        .listen_json("ops", &["--count", "2", "--timeout", "2"])
        .finish_within(Duration::from_secs(8));
    assert_eq!(done.code(), Some(3), "{}", done.describe());
    assert_eq!(texts(&json_lines(&done.stdout)), ["only one"]);
}

fn listen_exits_1_with_one_sentence_on_a_runtime_error(mqtt: &str) {
    let s = scene(mqtt);
    let closed = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut bob = s.bob;
    bob.set_broker(&format!("mqtt://127.0.0.1:{closed}"));
    let done: Finished = bob.run_within(
        &["listen", "ops", "--timeout", "10"],
        Duration::from_secs(15),
    );
    assert_eq!(done.code(), Some(1), "{}", done.describe());
    let lines = error_text(&done.stderr);
    assert!(
        lines.len() == 1 && lines[0].contains("cannot reach"),
        "one sentence: {}",
        done.describe()
    );
}
