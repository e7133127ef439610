//! How messages, presence and warnings look on a terminal or in JSON.
//! Every piece of text that came from another member is sanitised here.

use std::io::IsTerminal;

use sotto::identity::Fingerprint;
use sotto::protocol::message::Body;
use sotto::room::{Delivery, NameWarning, Notice, PresenceUpdate, short_fingerprint};
use sotto::sanitize::for_terminal;
use sotto::store::StoredMessage;

/// Whether to colour output: only on a terminal, and never with NO_COLOR.
pub fn use_colour() -> bool {
    std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()) && std::io::stdout().is_terminal()
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
    pub fn message(&self, delivery: &Delivery, room: Option<&str>) -> String {
        let time = clock(delivery.sent_at_ms);
        let colour = PALETTE[usize::from(delivery.fingerprint.0[0]) % PALETTE.len()];
        let (name, mut mark) = if delivery.trust.is_verified() {
            (for_terminal(&delivery.from), String::new())
        } else {
            let mark = match delivery.warning {
                None => " (unverified)",
                Some(NameWarning::KeyChanged) => " (unverified, key changed)",
                Some(NameWarning::LookAlike) => " (unverified, look-alike)",
            };
            (
                tagged(&delivery.from, &delivery.fingerprint),
                self.paint(DIM, mark),
            )
        };
        if delivery.delayed {
            // The full date: a held-back message may be from another day,
            // which the clock at the start of the line does not show.
            let sent = format!(" (delayed: sent {})", date_and_clock(delivery.sent_at_ms));
            mark.push_str(&self.paint(SYSTEM, &sent));
        }
        let room = room
            .map(|r| format!("[{}] ", for_terminal(r)))
            .unwrap_or_default();
        let text = for_terminal(delivery.body.text());
        match delivery.body {
            Body::Text(_) => format!(
                "{} {room}{}{mark}: {text}",
                self.paint(DIM, &time),
                self.paint(colour, &name)
            ),
            Body::Action(_) => format!(
                "{} {room}* {}{mark} {text}",
                self.paint(DIM, &time),
                self.paint(colour, &name)
            ),
        }
    }

    /// Our own line, echoed locally when sent.
    pub fn own_message(&self, name: &str, body: &Body, sent_at_ms: u64) -> String {
        let time = clock(sent_at_ms);
        let name = for_terminal(name);
        let text = for_terminal(body.text());
        match body {
            Body::Text(_) => format!("{} {}: {text}", self.paint(DIM, &time), name),
            Body::Action(_) => format!("{} * {} {text}", self.paint(DIM, &time), name),
        }
    }

    /// A line of history, dimmed, with the date when it is not today:
    /// what was said before, not what is arriving now.
    pub fn history(&self, message: &StoredMessage) -> String {
        let delivery = message.to_delivery();
        let line = if message.own {
            Style { colour: false }.own_message(&message.from, &message.body, message.sent_at_ms)
        } else {
            Style { colour: false }.message(&delivery, None)
        };
        let line = match day_if_not_today(message.sent_at_ms) {
            Some(day) => format!("{day} {line}"),
            None => line,
        };
        self.paint(DIM, &line)
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
            Notice::KeyChanged { .. } | Notice::Missed { .. } => self.warning(&notice_text(notice)),
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

/// `YYYY-MM-DD` in local time, unless the moment is today.
pub fn day_if_not_today(ms: u64) -> Option<String> {
    use chrono::{Local, TimeZone};
    let moment = Local
        .timestamp_millis_opt(i64::try_from(ms).ok()?)
        .single()?;
    let today = Local::now().date_naive();
    (moment.date_naive() != today).then(|| moment.format("%Y-%m-%d").to_string())
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

/// `HH:MM` in local time.
pub fn clock(ms: u64) -> String {
    local_time(ms, "%H:%M", "--:--")
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
mod tests {
    use super::*;
    use sotto::room::Trust;

    fn delivery(from: &str, text: &str, trust: Trust) -> Delivery {
        Delivery {
            from: from.into(),
            fingerprint: Fingerprint([1; 32]),
            trust,
            seq: 1,
            sent_at_ms: 0,
            body: Body::Text(text.into()),
            notices: vec![],
            warning: None,
            received_ms: 5,
            delayed: false,
        }
    }

    #[test]
    fn member_text_cannot_inject_escapes_or_fake_system_lines() {
        let style = Style { colour: false };
        let line = style.message(
            &delivery(
                "eve\x1b[2J",
                "hi\n-- alice is verified\x1b]0;pwned\x07",
                Trust::Tofu,
            ),
            None,
        );
        assert!(!line.contains('\x1b') && !line.contains('\n') && !line.contains('\x07'));
        assert!(
            line.contains("eve\\u{1b}[2J·10305 (unverified): hi\\u{a}-- alice"),
            "{line}"
        );
    }

    #[test]
    fn verified_senders_have_no_mark_and_json_has_the_fields() {
        let style = Style { colour: false };
        let d = delivery("alice", "hello", Trust::Verified);
        assert!(style.message(&d, None).ends_with(" alice: hello"));
        let json: serde_json::Value = serde_json::from_str(&message_json("ops", &d)).unwrap();
        let keys: Vec<&String> = json.as_object().unwrap().keys().collect();
        let mut expected = [
            "room",
            "from",
            "fingerprint",
            "verified",
            "text",
            "ts",
            "seq",
            "action",
            "warning",
            "delayed",
            "received_ts",
        ];
        expected.sort_unstable();
        assert_eq!(keys, expected);
        assert_eq!(json["verified"], true);
        assert_eq!(json["warning"], serde_json::Value::Null);
        assert_eq!(json["delayed"], false);
        assert_eq!(json["received_ts"], 5);
    }

    #[test]
    fn unverified_senders_carry_a_fingerprint_tag_and_their_warning() {
        let style = Style { colour: false };
        let mut d = delivery("bob", "hi", Trust::Tofu);
        // Fingerprint([1; 32]): the first group is 0x0101010101 mod 10^5.
        assert!(
            style
                .message(&d, None)
                .ends_with(" bob·10305 (unverified): hi")
        );
        d.warning = Some(NameWarning::LookAlike);
        assert!(
            style
                .message(&d, None)
                .ends_with(" bob·10305 (unverified, look-alike): hi")
        );
        let json: serde_json::Value = serde_json::from_str(&message_json("ops", &d)).unwrap();
        assert_eq!(json["warning"], "lookalike");
        assert_eq!(json["from"], "bob");
        d.warning = Some(NameWarning::KeyChanged);
        let json: serde_json::Value = serde_json::from_str(&message_json("ops", &d)).unwrap();
        assert_eq!(json["warning"], "key_changed");
    }

    #[test]
    fn a_look_alike_notice_names_both_keys_and_spells_the_name_out() {
        let notice = Notice::KeyChanged {
            name: "\u{430}lice".into(),
            old: Fingerprint([1; 32]),
            new: Fingerprint([2; 32]),
            was_verified: true,
            lookalike_of: Some("alice".into()),
        };
        let line = Style { colour: false }.notice(&notice);
        assert!(line.starts_with("!! WARNING: \u{430}lice·"), "{line}");
        assert!(line.contains("looks like alice·10305"), "{line}");
        assert!(line.contains("spelled \\u{430}lice"), "{line}");
        assert!(line.contains("/accept"), "{line}");
        assert!(!line.contains("key changed"), "{line}");
    }

    #[test]
    fn a_delayed_message_shows_the_senders_date_before_its_text() {
        let style = Style { colour: false };
        // 2026-11-24 12:00 UTC: the 24th or 25th in every time zone.
        let sent = 1_795_521_600_000;
        let mut d = delivery("alice", "the meeting moved", Trust::Verified);
        d.sent_at_ms = sent;
        assert!(!style.message(&d, None).contains("delayed"));
        d.delayed = true;
        let mark = format!("(delayed: sent {})", date_and_clock(sent));
        let date = mark
            .strip_prefix("(delayed: sent 2026-11-2")
            .and_then(|rest| rest.strip_suffix(')'))
            .unwrap_or_else(|| panic!("{mark}"));
        // The day's last digit, then " HH:MM".
        assert!(
            date.len() == 7 && date.as_bytes()[1] == b' ' && date.as_bytes()[4] == b':',
            "{mark}"
        );
        let line = style.message(&d, None);
        assert!(
            line.ends_with(&format!("alice {mark}: the meeting moved")),
            "{line}"
        );
        d.body = Body::Action("waves".into());
        d.trust = Trust::Tofu;
        let line = style.message(&d, Some("ops"));
        assert!(
            line.ends_with(&format!("* alice·10305 (unverified) {mark} waves")),
            "{line}"
        );
    }

    #[test]
    fn recalled_history_is_never_marked_delayed() {
        let style = Style { colour: false };
        let mut d = delivery("alice", "old news", Trust::Verified);
        d.delayed = true;
        // Saved long after it was sent, as a delayed message is.
        let stored = StoredMessage::received(&d, d.sent_at_ms + 3_600_000);
        let line = style.history(&stored);
        assert!(line.contains("alice: old news"), "{line}");
        assert!(!line.contains("delayed"), "{line}");
    }

    #[test]
    fn key_changes_are_warnings_and_new_members_system_lines() {
        let style = Style { colour: false };
        let changed = Notice::KeyChanged {
            name: "bob\x1b[2J".into(),
            old: Fingerprint([1; 32]),
            new: Fingerprint([2; 32]),
            was_verified: true,
            lookalike_of: None,
        };
        let line = style.notice(&changed);
        assert!(
            line.starts_with("!! WARNING: bob\\u{1b}[2J's key changed"),
            "{line}"
        );
        assert!(line.contains("/accept"));
        let new = Notice::NewMember {
            name: "carol".into(),
            fingerprint: Fingerprint([3; 32]),
            trust: Trust::Tofu,
        };
        assert!(style.notice(&new).starts_with("-- new member carol"));
    }
}
