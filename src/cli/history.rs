//! `history`, `forget` and `room keep`: the messages kept on this device.

use anyhow::Context;
use sotto::sanitize::for_terminal;
use sotto::store::Store;
use sotto::when::{Retention, parse_since_ms};

use super::now_ms;
use super::render::{Style, history_json, use_colour};

pub fn show(
    store: &Store,
    room: &str,
    json: bool,
    limit: usize,
    since: Option<&str>,
) -> anyhow::Result<()> {
    let since_ms = match since {
        Some(text) => parse_since_ms(text, now_ms())?,
        None => 0,
    };
    let saved = store.room(room)?;
    let (messages, unreadable) = store.history(saved.id(), limit, since_ms)?;
    if unreadable > 0 {
        eprintln!(
            "sotto: {unreadable} message(s) of {} are damaged and not shown",
            for_terminal(room)
        );
    }
    let style = Style {
        colour: use_colour(),
    };
    for message in &messages {
        if json {
            println!(
                "{}",
                history_json(room, message, saved.name_warning(&message.fingerprint))
            );
        } else {
            println!("{}", style.history(message));
        }
    }
    Ok(())
}

pub fn forget(store: &Store, room: &str) -> anyhow::Result<()> {
    let saved = store.room(room)?;
    let gone = store.prune_history(saved.id(), Some(u64::MAX), None)?;
    eprintln!(
        "Deleted {gone} message(s) of {} from this device (the database keeps no copy, but the disk may until it is overwritten).",
        for_terminal(room)
    );
    Ok(())
}

pub fn keep(store: &Store, room: &str, keep: &str) -> anyhow::Result<()> {
    let keep: Retention = keep
        .parse()
        .with_context(|| format!("cannot keep the history of {room:?} that way"))?;
    let saved = store.room(room)?;
    let gone = store.set_retention(saved.id(), keep)?;
    eprintln!(
        "{} now keeps {}; {gone} older message(s) deleted.",
        for_terminal(room),
        match keep {
            Retention::All => "all its history".to_owned(),
            Retention::Count(count) => format!("its newest {count} messages"),
            Retention::Age(_) => format!("messages of the last {keep}"),
        }
    );
    Ok(())
}

pub fn check(store: &Store) -> anyhow::Result<()> {
    let problems = store.check()?;
    if problems.is_empty() {
        println!("{} is sound.", store.database_path().display());
        return Ok(());
    }
    for problem in &problems {
        println!("{}", for_terminal(problem));
    }
    anyhow::bail!(
        "{} problem(s) found; damaged rooms can be left and joined again",
        problems.len()
    )
}
