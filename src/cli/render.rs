//! How messages, presence and warnings look on a terminal or in JSON.
//! Every piece of text that came from another member is sanitised here.

use std::io::IsTerminal;

use sotto::identity::Fingerprint;
use sotto::protocol::message::Body;
use sotto::room::{Delivery, NameWarning, Notice, PresenceUpdate, short_fingerprint};
use sotto::sanitize::{for_terminal, message_lines};
use sotto::store::StoredMessage;

use super::config::ColourMode;
use super::now_ms;

/// The colour mode in force, set once from flag, NO_COLOR and config file.
static COLOUR_MODE: std::sync::OnceLock<ColourMode> = std::sync::OnceLock::new();

/// Sets the colour mode for this run (the first call wins).
pub fn set_colour_mode(mode: ColourMode) {
    let _ = COLOUR_MODE.set(mode);
}

/// Whether to colour output: as configured, and for `auto` only on a
/// terminal and never with NO_COLOR.
pub fn use_colour() -> bool {
    let auto = || {
        std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()) && std::io::stdout().is_terminal()
    };
    match COLOUR_MODE.get() {
        Some(ColourMode::On) => true,
        Some(ColourMode::Off) => false,
        Some(ColourMode::Auto) | None => auto(),
    }
}

/// Where a message line is shown, for [`Style::message_in`].
#[derive(Debug, Clone, Copy, Default)]
pub struct LineContext<'a> {
    /// The room to name before the sender (when lines of several rooms
    /// share a screen).
    pub room: Option<&'a str>,
    /// Our own name: lines that mention it stand out.
    pub mention_of: Option<&'a str>,
    /// The message was queued by the broker while we were away.
    pub backlog: bool,
}

/// Whether `text` mentions `name`: as a whole word (so "bob" is not
/// mentioned by "bobby"), in any case, with or without an `@`.
pub fn mentions(text: &str, name: &str) -> bool {
    let name = name.trim().to_lowercase();
    if name.is_empty() {
        return false;
    }
    let text = text.to_lowercase();
    let is_word = |c: char| c.is_alphanumeric() || c == '_';
    text.match_indices(&name).any(|(at, found)| {
        let before = text[..at].chars().next_back();
        let after = text[at + found.len()..].chars().next();
        !before.is_some_and(is_word) && !after.is_some_and(is_word)
    })
}

/// The first line after `head`, the others indented to where the text
/// starts (`head_plain` is `head` without colours, to measure it), but
/// never so far that little room is left for them.
fn join_lines(head: &str, head_plain: &str, lines: &[String]) -> String {
    use unicode_width::UnicodeWidthStr;
    const MAX_INDENT: usize = 24;
    let indent = " ".repeat(head_plain.width().clamp(2, MAX_INDENT));
    let mut out = head.to_owned();
    for (i, line) in lines.iter().enumerate() {
        if i > 0 {
            out.push('\n');
            out.push_str(&indent);
        }
        out.push_str(line);
    }
    out
}

/// When a message was sent, by the sender's clock in local time: `HH:MM`
/// on the day it is `now`, `YYYY-MM-DD HH:MM` on any other.
pub fn stamp(ms: u64, now: u64) -> String {
    stamp_in(&chrono::Local, ms, now)
}

fn stamp_in<Tz: chrono::TimeZone>(zone: &Tz, ms: u64, now: u64) -> String
where
    Tz::Offset: std::fmt::Display,
{
    let at = |ms: u64| {
        i64::try_from(ms)
            .ok()
            .and_then(|ms| zone.timestamp_millis_opt(ms).earliest())
    };
    match (at(ms), at(now)) {
        (Some(sent), Some(now)) if sent.date_naive() == now.date_naive() => {
            sent.format("%H:%M").to_string()
        }
        (Some(sent), _) => sent.format("%Y-%m-%d %H:%M").to_string(),
        (None, _) => "--:--".to_owned(),
    }
}

/// Rendering settings for one front end.
#[derive(Debug, Clone, Copy)]
pub struct Style {
    /// ANSI colours on or off.
    pub colour: bool,
}

const RESET: &str = "\x1b[0m";
const DIM: &str = "\x1b[2m";
const SYSTEM: &str = "\x1b[1;33m";
const WARN: &str = "\x1b[1;31m";
const MENTION: &str = "\x1b[1m";
const PALETTE: [&str; 6] = [
    "\x1b[36m", "\x1b[32m", "\x1b[35m", "\x1b[34m", "\x1b[96m", "\x1b[92m",
];

impl Style {
    fn paint(&self, colour: &str, text: &str) -> String {
        if self.colour {
            format!("{colour}{text}{RESET}")
        } else {
            text.to_owned()
        }
    }

    /// A chat line: `12:34 alice: text`. A sender whose key was never
    /// compared carries the first group of its fingerprint and a mark
    /// (`bob·12345 (unverified)`), so two keys under one name, or under
    /// names that look alike, never print the same. The sender's colour
    /// is fixed by their fingerprint too.
    ///
    /// A message that arrived late carries `(delayed: sent 2026-11-24
    /// 14:03)`. Both marks come before the text, in the part of the line
    /// only sotto writes: a member can type "(delayed: ...)" into a
    /// message, but cannot move it before the colon or hide a real mark.
    ///
    /// Text with several lines prints as several lines, the later ones
    /// indented, so they can never start where sotto's own lines start.
    pub fn message(&self, delivery: &Delivery, room: Option<&str>) -> String {
        self.message_in(
            delivery,
            &LineContext {
                room,
                ..LineContext::default()
            },
        )
    }

    /// [`Style::message`] in its surroundings: the room to name, whose
    /// mentions to highlight (a line that mentions them starts with `>>`
    /// without colours, or has its text in bold), and whether it came
    /// from the broker's queue on the way back (marked `(backlog)`).
    pub fn message_in(&self, delivery: &Delivery, context: &LineContext) -> String {
        self.message_at(delivery, context, now_ms())
    }

    fn message_at(&self, delivery: &Delivery, context: &LineContext, now: u64) -> String {
        let time = stamp(delivery.sent_at_ms, now);
        let colour = PALETTE[usize::from(delivery.fingerprint.0[0]) % PALETTE.len()];
        let (name, mark) = if delivery.trust.is_verified() {
            (for_terminal(&delivery.from), String::new())
        } else {
            let mark = match delivery.warning {
                None => " (unverified)",
                Some(NameWarning::KeyChanged) => " (unverified, key changed)",
                Some(NameWarning::LookAlike) => " (unverified, look-alike)",
            };
            (
                tagged(&delivery.from, &delivery.fingerprint),
                mark.to_owned(),
            )
        };
        // Marks as (plain, painted): the plain one measures the indent.
        let mut marks = Vec::new();
        if !mark.is_empty() {
            marks.push((mark.clone(), self.paint(DIM, &mark)));
        }
        if delivery.delayed {
            // The full date: a held-back message may be from another day,
            // which the clock at the start of the line does not show.
            let sent = format!(" (delayed: sent {})", date_and_clock(delivery.sent_at_ms));
            marks.push((sent.clone(), self.paint(SYSTEM, &sent)));
        }
        if context.backlog {
            let queued = " (backlog)".to_owned();
            marks.push((queued.clone(), self.paint(DIM, &queued)));
        }
        let (mark_plain, mark): (String, String) = marks.into_iter().unzip();
        let room = context
            .room
            .map(|r| format!("[{}] ", for_terminal(r)))
            .unwrap_or_default();
        let text = delivery.body.text();
        let mentioned = context
            .mention_of
            .is_some_and(|me| mentions(text, me) && delivery.trust != sotto::room::Trust::Own);
        let marker = if mentioned && !self.colour { ">> " } else { "" };
        let (head_plain, head) = match delivery.body {
            Body::Text(_) => (
                format!("{marker}{time} {room}{name}{mark_plain}: "),
                format!(
                    "{marker}{} {room}{}{mark}: ",
                    self.paint(DIM, &time),
                    self.paint(colour, &name)
                ),
            ),
            Body::Action(_) => (
                format!("{marker}{time} {room}* {name}{mark_plain} "),
                format!(
                    "{marker}{} {room}* {}{mark} ",
                    self.paint(DIM, &time),
                    self.paint(colour, &name)
                ),
            ),
        };
        let lines = message_lines(text);
        let lines: Vec<String> = if mentioned {
            lines.iter().map(|line| self.paint(MENTION, line)).collect()
        } else {
            lines
        };
        join_lines(&head, &head_plain, &lines)
    }

    /// Our own line, echoed locally when sent.
    pub fn own_message(&self, name: &str, body: &Body, sent_at_ms: u64) -> String {
        self.own_message_at(name, body, sent_at_ms, now_ms())
    }

    fn own_message_at(&self, name: &str, body: &Body, sent_at_ms: u64, now: u64) -> String {
        let time = stamp(sent_at_ms, now);
        let name = for_terminal(name);
        let (head_plain, head) = match body {
            Body::Text(_) => (
                format!("{time} {name}: "),
                format!("{} {name}: ", self.paint(DIM, &time)),
            ),
            Body::Action(_) => (
                format!("{time} * {name} "),
                format!("{} * {name} ", self.paint(DIM, &time)),
            ),
        };
        join_lines(&head, &head_plain, &message_lines(body.text()))
    }

    /// A message from history, dimmed, with the date when it is not
    /// today like every other line: what was said before, not what is
    /// arriving now.
    pub fn history(&self, message: &StoredMessage) -> String {
        let plain = Style { colour: false };
        let text = if message.own {
            plain.own_message(&message.from, &message.body, message.sent_at_ms)
        } else {
            plain.message(&message.to_delivery(), None)
        };
        // Dimmed line by line: a terminal may reset attributes at a newline.
        let lines: Vec<String> = text.lines().map(|line| self.paint(DIM, line)).collect();
        lines.join("\n")
    }

    /// A system line: `-- text`. Only sotto writes these; member text can
    /// never start a line this way because it always follows a name.
    pub fn system(&self, text: &str) -> String {
        self.paint(SYSTEM, &format!("-- {text}"))
    }

    /// A warning line: `!! text`.
    pub fn warning(&self, text: &str) -> String {
        self.paint(WARN, &format!("!! {text}"))
    }

    /// A notice as a line of its own: a changed key or lost messages are
    /// warnings, a new member is a system line.
    pub fn notice(&self, notice: &Notice) -> String {
        match notice {
            Notice::NewMember { .. } => self.system(&notice_text(notice)),
            Notice::KeyChanged { .. } | Notice::Missed { .. } | Notice::AwayTooLong { .. } => {
                self.warning(&notice_text(notice))
            }
        }
    }
}

/// A name with the first group of its key's fingerprint: `bob·12345`.
pub fn tagged(name: &str, fingerprint: &Fingerprint) -> String {
    format!("{}·{:05}", for_terminal(name), fingerprint.digits()[0])
}

/// A name spelled out when it is not plain ASCII (`\u{430}lice`), so a
/// look-alike can be told from the name it imitates.
fn spelled_out(name: &str) -> Option<String> {
    if name.is_ascii() {
        return None;
    }
    let spelled = name
        .chars()
        .map(|c| {
            if c.is_ascii_graphic() || c == ' ' {
                c.to_string()
            } else {
                format!("\\u{{{:x}}}", u32::from(c))
            }
        })
        .collect();
    Some(spelled)
}

/// One line per notice attached to a delivery or presence record.
pub fn notice_text(notice: &Notice) -> String {
    match notice {
        Notice::NewMember {
            name,
            fingerprint,
            trust,
        } => format!(
            "new member {} (fingerprint {fingerprint}, {})",
            for_terminal(name),
            if trust.is_verified() {
                "verified: it made your invite"
            } else {
                "unverified"
            }
        ),
        Notice::KeyChanged {
            name,
            old,
            new,
            was_verified,
            lookalike_of,
        } => {
            let blocked = if *was_verified {
                format!(
                    " Sending is blocked until you verify this key or accept it (/accept {} in chat, `sotto accept` in scripts).",
                    short_fingerprint(new)
                )
            } else {
                String::new()
            };
            match lookalike_of {
                None => format!(
                    "WARNING: {}'s key changed (was {old}, now {new}). It may be a new device or an impostor; \
                     compare fingerprints before trusting it.{blocked}",
                    for_terminal(name),
                ),
                Some(of) => format!(
                    "WARNING: {} (new key {new}) looks like {} (key {old}) but is a different name{}: \
                     probably an impostor; compare fingerprints before trusting it.{blocked}",
                    tagged(name, new),
                    tagged(of, old),
                    spelled_out(name)
                        .map(|spelled| format!(", spelled {spelled}"))
                        .unwrap_or_default(),
                ),
            }
        }
        Notice::Missed { name, count } => format!(
            "missed {count} message{} from {} (the broker dropped or never delivered them)",
            if *count == 1 { "" } else { "s" },
            for_terminal(name)
        ),
        Notice::AwayTooLong {
            rotations,
            from_ms,
            to_ms,
        } => format!(
            "you were away during {rotations} key rotation{}; messages from {} to {} could not reach you",
            if *rotations == 1 { "" } else { "s" },
            date_time(*from_ms),
            date_time(*to_ms)
        ),
    }
}

/// A presence change, for a system line.
pub fn presence_text(update: &PresenceUpdate) -> String {
    let status = match update.status {
        sotto::protocol::presence::Status::Online => "is online",
        sotto::protocol::presence::Status::Offline => "went offline",
    };
    format!("{} {status}", for_terminal(&update.name))
}

/// A line of history as `listen --json` prints messages (ours too, with
/// `"own": true`). `warning` is what the sender's key is flagged for now.
pub fn history_json(room: &str, message: &StoredMessage, warning: Option<NameWarning>) -> String {
    let mut delivery = message.to_delivery();
    delivery.warning = warning;
    let mut value = message_value(room, &delivery);
    if let Some(object) = value.as_object_mut() {
        object.insert("own".into(), message.own.into());
    }
    value.to_string()
}

/// The JSON object `listen --json` prints for one message, on one line.
pub fn message_json(room: &str, delivery: &Delivery) -> String {
    message_value(room, delivery).to_string()
}

fn message_value(room: &str, delivery: &Delivery) -> serde_json::Value {
    serde_json::json!({
        "room": room,
        "from": delivery.from,
        "fingerprint": delivery.fingerprint.to_string(),
        "verified": delivery.trust.is_verified(),
        "text": delivery.body.text(),
        "action": matches!(delivery.body, Body::Action(_)),
        "ts": delivery.sent_at_ms,
        "seq": delivery.seq,
        "warning": delivery.warning.map(NameWarning::as_str),
        "delayed": delivery.delayed,
        "received_ts": delivery.received_ms,
    })
}

/// `YYYY-MM-DD HH:MM` in local time.
pub fn date_and_clock(ms: u64) -> String {
    local_time(ms, "%Y-%m-%d %H:%M", "----------- --:--")
}

/// `YYYY-MM-DD HH:MM` in local time.
pub fn date_time(ms: u64) -> String {
    use chrono::{Local, TimeZone};
    match Local.timestamp_millis_opt(ms.min(i64::MAX as u64) as i64) {
        chrono::LocalResult::Single(time) | chrono::LocalResult::Ambiguous(time, _) => {
            time.format("%Y-%m-%d %H:%M").to_string()
        }
        chrono::LocalResult::None => "an unknown date".to_owned(),
    }
}

/// `ms` after the Unix epoch in local time, in `format`; `invalid` for a
/// moment local time cannot show (a sender's timestamp is untrusted).
fn local_time(ms: u64, format: &str, invalid: &str) -> String {
    use chrono::{Local, TimeZone};
    let Ok(ms) = i64::try_from(ms) else {
        return invalid.to_owned();
    };
    match Local.timestamp_millis_opt(ms) {
        chrono::LocalResult::Single(time) | chrono::LocalResult::Ambiguous(time, _) => {
            time.format(format).to_string()
        }
        chrono::LocalResult::None => invalid.to_owned(),
    }
}

#[cfg(test)]
mod tests;
