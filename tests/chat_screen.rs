//! `sotto chat` as the user sees it: the screen of a real terminal (tmux)
//! after every redraw, against a private Mosquitto. The status line
//! stays above the input line, Tab completes, a bracketed paste is one
//! message, and a line sent is shown once, then acknowledged in place.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
mod home;

use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::time::Duration;

use common::Mosquitto as Broker;
use common::tmux::Tmux;
use home::{Home, two_members};

/// How long any one screen may take to appear.
const WAIT: Duration = Duration::from_secs(8);

const WIDTH: u16 = 100;
const HEIGHT: u16 = 30;

/// `sotto chat ops` for `home` in a terminal, once it has said where it
/// is and shows its prompt.
fn chat(home: &Home) -> Tmux {
    let tmux = Tmux::start(&home.command(&["chat", "ops"]), WIDTH, HEIGHT, "xterm");
    tmux.wait_for("the chat to open with its prompt", WAIT, |screen| {
        screen.contains("You are in ops as") && prompted(screen, "ops>")
    });
    tmux
}

/// The screen's rows down to the last one with something on it,
/// trailing spaces trimmed.
fn rows(screen: &str) -> Vec<&str> {
    let mut rows: Vec<&str> = screen.lines().map(str::trim_end).collect();
    while rows.last().is_some_and(|row| row.is_empty()) {
        rows.pop();
    }
    rows
}

fn last_row(screen: &str) -> &str {
    rows(screen).last().copied().unwrap_or("")
}

/// The row above the input line: the status line.
fn status_row(screen: &str) -> &str {
    let rows = rows(screen);
    rows.len().checked_sub(2).map_or("", |i| rows[i])
}

fn is_status(row: &str) -> bool {
    row.contains("ops |") && row.contains("online") && row.contains("127.0.0.1")
}

/// Whether the screen ends with the status line over `input`. The
/// screen is read while rustyline may be halfway through a redraw (it
/// clears the prompt's rows, prints, draws them again): tests wait for
/// this before they look at the rest.
fn prompted(screen: &str, input: &str) -> bool {
    last_row(screen) == input && is_status(status_row(screen))
}

/// Exactly one status line, right above the input line: none left
/// behind by a line sent or a message printed.
fn assert_one_status(screen: &str) {
    assert!(
        is_status(status_row(screen)),
        "the status line is not right above the input line:\n{screen}"
    );
    let statuses = rows(screen)
        .into_iter()
        .filter(|row| is_status(row))
        .count();
    assert_eq!(statuses, 1, "a status line was left behind:\n{screen}");
}

#[test]
fn the_status_line_and_a_half_typed_line_stay_put_while_messages_arrive() {
    let broker = Broker::start();
    let (alice, bob) = two_members(&broker.url());
    let tmux = chat(&bob);

    tmux.send_keys("hello ali");
    tmux.wait_for("the half-typed line", WAIT, |screen| {
        last_row(screen) == "ops> hello ali"
    });
    alice.ok(&["send", "ops", "first from alice"]);
    alice.ok(&["send", "ops", "second from alice"]);
    // The half-typed line stays under the status line.
    let screen = tmux.wait_for("both messages above the half-typed line", WAIT, |screen| {
        screen.contains("alice: first from alice")
            && screen.contains("alice: second from alice")
            && prompted(screen, "ops> hello ali")
    });
    assert_one_status(&screen);
    let rows = rows(&screen);
    let first = rows.iter().position(|row| row.contains("first from alice"));
    let second = rows
        .iter()
        .position(|row| row.contains("second from alice"));
    assert!(
        first < second && second < Some(rows.len() - 2),
        "the messages are not above the status line, in order:\n{screen}"
    );

    // alice comes online: the status line says so, the line stays.
    assert!(status_row(&screen).contains("0/1 online"), "{screen}");
    let mut listen = alice
        .command(&["listen", "ops", "--count", "1", "--timeout", "20"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let screen = tmux.wait_for("alice online in the status line", WAIT, |screen| {
        status_row(screen).contains("1/1 online") && prompted(screen, "ops> hello ali")
    });
    let _ = listen.kill();
    let _ = listen.wait();
    assert_one_status(&screen);
}

#[test]
fn tab_completes_member_names_and_commands() {
    let broker = Broker::start();
    let (_alice, bob) = two_members(&broker.url());
    let tmux = chat(&bob);

    tmux.send_keys("/kick al");
    tmux.press("Tab");
    tmux.wait_for("the name completed", WAIT, |screen| {
        last_row(screen) == "ops> /kick alice"
    });

    // Ctrl-C clears the line; then a command name.
    tmux.press("C-c");
    tmux.wait_for("an empty line", WAIT, |screen| last_row(screen) == "ops>");
    tmux.send_keys("/sw");
    tmux.press("Tab");
    tmux.wait_for("the command completed", WAIT, |screen| {
        last_row(screen) == "ops> /switch"
    });
}

#[test]
fn a_bracketed_paste_of_three_lines_is_one_message() {
    let broker = Broker::start();
    let (alice, bob) = two_members(&broker.url());
    let tmux = chat(&bob);
    let mut listen = alice
        .command(&["listen", "ops", "--json", "--count", "1", "--timeout", "20"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    tmux.wait_for_text("alice is online", WAIT);

    // A trailing newline in a paste must not send it early.
    tmux.paste("one\ntwo\nthree\n");
    let screen = tmux.wait_for("the pasted lines under the prompt", WAIT, |screen| {
        screen.contains("ops> one") && screen.contains("three")
    });
    assert!(
        !screen.contains("bob: one"),
        "the paste was sent before Enter:\n{screen}"
    );
    // Take the trailing newline back, then send.
    tmux.press("BSpace");
    tmux.press("Enter");

    let mut line = String::new();
    BufReader::new(listen.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let json: serde_json::Value = serde_json::from_str(&line).unwrap();
    assert_eq!(json["text"], "one\ntwo\nthree");
    assert!(listen.wait().unwrap().success());

    let screen = tmux.wait_for("the message above a new prompt", WAIT, |screen| {
        screen.contains("bob: one") && prompted(screen, "ops>")
    });
    assert!(
        !screen.contains("ops> one"),
        "the pasted lines stayed behind under the old prompt:\n{screen}"
    );
    assert_eq!(
        screen.matches("three").count(),
        1,
        "the pasted text is shown more than once:\n{screen}"
    );
    assert_one_status(&screen);
}

#[test]
fn a_sent_line_is_shown_once_then_acknowledged() {
    let broker = Broker::start();
    let (_alice, bob) = two_members(&broker.url());
    let tmux = chat(&bob);

    tmux.send_keys("hello");
    tmux.press("Enter");
    let screen = tmux.wait_for("the acknowledged line above a new prompt", WAIT, |screen| {
        screen.lines().any(|row| row.contains("✓ bob: hello")) && prompted(screen, "ops>")
    });
    assert_eq!(
        screen.matches("hello").count(),
        1,
        "the line is shown more than once:\n{screen}"
    );
    assert_one_status(&screen);
}

#[test]
fn a_dumb_terminal_gets_plain_lines_without_status_or_marks() {
    let broker = Broker::start();
    let (_alice, bob) = two_members(&broker.url());
    let tmux = Tmux::start(&bob.command(&["chat", "ops"]), WIDTH, HEIGHT, "dumb");
    tmux.wait_for_text("You are in ops as bob", WAIT);

    tmux.send_keys("hello");
    tmux.press("Enter");
    let screen = tmux.wait_for_text("bob: hello", WAIT);
    assert!(
        !rows(&screen).iter().any(|row| row.contains("online |")),
        "a status line on a dumb terminal:\n{screen}"
    );
    assert!(
        !screen.contains('\u{2713}') && !screen.contains('\u{2026}'),
        "a mark on a dumb terminal:\n{screen}"
    );
}

#[test]
fn a_command_stays_above_its_output_but_an_invite_does_not() {
    let broker = Broker::start();
    let (_alice, bob) = two_members(&broker.url());
    let tmux = chat(&bob);

    tmux.send_keys("/who");
    tmux.press("Enter");
    // Keys typed in the instant between two prompts are echoed by the
    // terminal itself (see the note in terminal/printer.rs): type the
    // next command once the first has answered, as a user reads it.
    tmux.wait_for("the member table", WAIT, |screen| {
        screen.contains("FINGERPRINT") && prompted(screen, "ops>")
    });
    tmux.send_keys("/join sotto1notarealinvite");
    tmux.press("Enter");
    let screen = tmux.wait_for("the join refused", WAIT, |screen| {
        screen.contains("could not join") && prompted(screen, "ops>")
    });
    let rows = rows(&screen);
    let who = rows.iter().position(|row| *row == "ops> /who");
    let join = rows.iter().position(|row| *row == "ops> /join …");
    assert!(
        who.is_some() && who < join,
        "the commands are not shown as typed:\n{screen}"
    );
    assert!(
        !screen.contains("sotto1notarealinvite"),
        "the invite stayed on the screen:\n{screen}"
    );
    assert_one_status(&screen);
}
