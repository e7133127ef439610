//! `sotto chat` in a pseudo terminal (rexpect), as a user at a keyboard.

use std::process::Stdio;

use rexpect::session::{Options, PtySession, spawn_with_options};

use super::Home;

/// How long any one expectation may take.
pub const TIMEOUT_MS: u64 = 20_000;

/// `chat ROOM` in a terminal; the text it prints, escapes stripped.
pub fn spawn_chat(home: &Home, room: &str) -> PtySession {
    let mut cmd = home.command(&["chat", room]);
    // The pty becomes the child's stdin; a configured one would replace it.
    cmd.stdin(Stdio::inherit()).env("TERM", "xterm");
    let options = Options {
        timeout_ms: Some(TIMEOUT_MS),
        // rustyline redraws with cursor movements; the text is what counts.
        strip_ansi_escape_codes: true,
    };
    spawn_with_options(cmd, options).unwrap()
}

/// Types into the terminal. rexpect's writer is line-buffered and a
/// terminal's Enter is "\r", so every write is flushed by hand.
pub fn type_keys(chat: &mut PtySession, keys: &str) {
    chat.send(keys).unwrap();
    chat.flush().unwrap();
}
