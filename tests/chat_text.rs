//! How message text reaches the screen: emoji built with joiners arrive
//! whole in a chat on a terminal, and a pasted multi-line message prints
//! as indented lines in `listen`, never as escapes. Against a private
//! Mosquitto.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
mod home;

use std::process::Stdio;

use common::Mosquitto as Broker;
use home::{Home, two_members};
use rexpect::session::{Options, spawn_with_options};

/// `text` as rexpect reads a terminal: one char per byte.
fn as_read(text: &str) -> String {
    text.bytes().map(char::from).collect()
}

#[test]
fn a_zwj_emoji_arrives_whole_in_a_chat_on_a_terminal() {
    let broker = Broker::start();
    let (alice, bob) = two_members(&broker.url());
    let mut cmd = bob.command(&["chat", "ops"]);
    cmd.stdin(Stdio::inherit()).env("TERM", "xterm");
    let options = Options {
        timeout_ms: Some(20_000),
        strip_ansi_escape_codes: true,
    };
    let mut chat = spawn_with_options(cmd, options).unwrap();
    chat.exp_string("You are in ops as bob").unwrap();
    chat.exp_string("ops> ").unwrap();

    // Woman technologist, a rainbow flag (with its selector), and a
    // joiner between two letters, which must stay visible.
    alice.send("ops", "shipped 👩\u{200d}💻 🏳\u{fe0f}\u{200d}🌈 a\u{200d}b");
    let before = chat
        .exp_string(&as_read(
            "alice: shipped 👩\u{200d}💻 🏳\u{fe0f}\u{200d}🌈 a\\u{200d}b",
        ))
        .unwrap();
    assert!(!before.contains("\\u{"), "{before}");

    chat.send("/quit\r").unwrap();
    chat.flush().unwrap();
    chat.exp_eof().unwrap();
}

#[test]
fn a_three_line_message_prints_as_three_indented_lines_in_listen() {
    let broker = Broker::start();
    let (alice, bob) = two_members(&broker.url());
    let listener = bob.listen("ops", &["--count", "1", "--timeout", "30"]);
    alice.send("ops", "first line\nsecond line\r\nthird \x1b[2J line");
    let (ok, stdout, stderr) = listener.finish();
    assert!(ok, "{stdout}\n{stderr}");
    assert!(!stdout.contains("\\u{a}"), "{stdout}");
    let lines: Vec<&str> = stdout.lines().collect();
    let first = lines
        .iter()
        .position(|line| line.ends_with("alice: first line"))
        .unwrap_or_else(|| panic!("no first line in:\n{stdout}"));
    let rest = &lines[first + 1..];
    assert!(rest.len() >= 2, "{stdout}");
    for (line, text) in rest.iter().zip(["second line", "third \\u{1b}[2J line"]) {
        assert!(line.starts_with("  "), "not indented: {line:?}\n{stdout}");
        assert_eq!(line.trim_start(), text, "{stdout}");
    }
    assert!(!stdout.contains('\x1b'), "{stdout:?}");
}

#[test]
fn verify_tells_a_malformed_fingerprint_from_a_mismatch() {
    // No broker is needed: alice verifies the only member she knows, herself.
    let alice = Home::init("alice", "mqtt://127.0.0.1:1");
    alice.create_room("ops");
    let fingerprint = alice.fingerprint();
    let verify = |typed: &str| {
        let out = alice.run(&["verify", "ops", "alice", typed]);
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (code, said) = verify(&fingerprint[..17]);
    assert_eq!(code, Some(1), "{said}");
    assert!(
        said.contains("not a whole fingerprint") && said.contains("15 digits"),
        "{said}"
    );
    let (code, said) = verify(&format!("{}x", &fingerprint[..34]));
    assert_eq!(code, Some(1), "{said}");
    assert!(
        said.contains("is not a fingerprint") && said.contains("'x'"),
        "{said}"
    );
    // Thirty digits, but another key's: a mismatch, said as one.
    let other: String = fingerprint
        .chars()
        .map(|c| match c {
            '0'..='8' => char::from(c as u8 + 1),
            '9' => '0',
            c => c,
        })
        .collect();
    let (code, said) = verify(&other);
    assert_eq!(code, Some(1), "{said}");
    assert!(said.contains("does not match"), "{said}");
    // Hyphens as separators are fine.
    let (code, said) = verify(&fingerprint.replace(' ', "-"));
    assert_eq!(code, Some(0), "{said}");
}
