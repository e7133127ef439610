//! The first run of `sotto chat` on a machine with no broker: it creates
//! the identity and a room, starts the built-in broker at the default
//! address, and a second member can talk to it there.
//!
//! The default address is 127.0.0.1:1883, where a developer machine may
//! already run Mosquitto, so the scenario runs in a fresh network
//! namespace (`unshare -n`, as root or with user namespaces) whose loopback
//! has nothing listening.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::process::Command;

const SCRIPT: &str = r#"
set -eu
ip link set lo up
S="$SOTTO_BIN"
A="$WORK/alice"; B="$WORK/bob"
mkfifo "$WORK/input"
"$S" --home "$A" chat < "$WORK/input" > "$WORK/alice.out" 2>&1 &
chat=$!
exec 3> "$WORK/input"
printf 'alice\nops\n' >&3
# Wait for the invite, then for the built-in broker.
for i in $(seq 100); do
  invite=$(grep -m1 '^sotto1' "$WORK/alice.out" || true)
  [ -n "$invite" ] && grep -q "You are in ops" "$WORK/alice.out" && break
  sleep 0.1
done
"$S" --home "$B" init --name bob > /dev/null 2>&1
"$S" --home "$B" join "$invite" > /dev/null
"$S" --home "$B" send ops "hello over the built-in broker"
for i in $(seq 100); do
  grep -q "hello over the built-in broker" "$WORK/alice.out" && break
  sleep 0.1
done
echo /quit >&3
wait $chat
"#;

#[test]
fn first_chat_without_a_broker_falls_back_to_the_built_in_one() {
    let work = tempfile::tempdir().unwrap();
    let status = Command::new("unshare")
        .args(["-n", "bash", "-c", SCRIPT])
        .env("SOTTO_BIN", assert_cmd::cargo::cargo_bin!("sotto"))
        .env("WORK", work.path())
        .env("NO_COLOR", "1")
        .env_remove("SOTTO_HOME")
        .env_remove("SOTTO_BROKER")
        .status()
        .unwrap_or_else(|err| {
            panic!("cannot run `unshare -n` ({err}): this test needs util-linux and root or user namespaces")
        });
    let out = std::fs::read_to_string(work.path().join("alice.out")).unwrap_or_default();
    assert!(status.success(), "scenario failed ({status}):\n{out}");
    assert!(out.contains("Created identity alice"), "{out}");
    assert!(out.contains("starting sotto's built-in broker"), "{out}");
    // An unverified sender carries the first group of its fingerprint.
    assert!(has_bobs_tagged_line(&out), "{out}");
}

/// Whether `out` has bob's line: `bob·DDDDD (unverified): hello…`.
fn has_bobs_tagged_line(out: &str) -> bool {
    out.lines().any(|line| {
        line.split_once("bob·").is_some_and(|(_, rest)| {
            rest.get(..5)
                .is_some_and(|group| group.bytes().all(|b| b.is_ascii_digit()))
                && rest[5..].starts_with(" (unverified): hello over the built-in broker")
        })
    })
}
