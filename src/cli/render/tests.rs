//! Tests of how lines look.
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
            "hi\n-- alice is verified\x1b]0;pwned\x07\r!! fake",
            Trust::Tofu,
        ),
        None,
    );
    assert!(!line.contains('\x1b') && !line.contains('\r') && !line.contains('\x07'));
    let lines: Vec<&str> = line.lines().collect();
    assert_eq!(lines.len(), 2, "{line}");
    assert!(
        lines[0].ends_with("eve\\u{1b}[2J·10305 (unverified): hi"),
        "{line}"
    );
    // The second line is indented: it cannot pass for a system line.
    assert!(
        lines[1].starts_with("  ")
            && lines[1].trim_start() == "-- alice is verified\\u{1b}]0;pwned\\u{7}\\u{d}!! fake",
        "{line}"
    );
}

#[test]
fn a_pasted_message_prints_as_indented_lines() {
    let style = Style { colour: false };
    let d = delivery("alice", "one\ntwo\r\nthree", Trust::Verified);
    let now = d.sent_at_ms;
    let line = style.message_at(&d, &LineContext::default(), now);
    let lines: Vec<&str> = line.lines().collect();
    let head = format!("{} alice: ", stamp(now, now));
    assert_eq!(
        lines,
        [
            format!("{head}one"),
            format!("{}two", " ".repeat(head.len())),
            format!("{}three", " ".repeat(head.len())),
        ]
    );
    let own = style.own_message_at("bob", &Body::Text("a\nb".into()), now, now);
    assert_eq!(
        own,
        format!("{} bob: a\n{}b", stamp(now, now), " ".repeat(11))
    );
    // JSON keeps the text as it was sent.
    let json: serde_json::Value = serde_json::from_str(&message_json("ops", &d)).unwrap();
    assert_eq!(json["text"], "one\ntwo\r\nthree");
}

#[test]
fn emoji_sequences_reach_the_terminal_whole() {
    let style = Style { colour: false };
    let d = delivery("alice", "👩\u{200d}💻 a\u{200d}b", Trust::Verified);
    assert!(
        style
            .message(&d, None)
            .ends_with("alice: 👩\u{200d}💻 a\\u{200d}b"),
        "{}",
        style.message(&d, None)
    );
}

#[test]
fn the_date_shows_only_when_the_message_is_not_from_today() {
    use chrono::{TimeZone, Utc};
    let at = |d, h, m| {
        u64::try_from(
            Utc.with_ymd_and_hms(2026, 11, d, h, m, 0)
                .unwrap()
                .timestamp_millis(),
        )
        .unwrap()
    };
    assert_eq!(stamp_in(&Utc, at(24, 9, 5), at(24, 23, 59)), "09:05");
    assert_eq!(
        stamp_in(&Utc, at(23, 23, 59), at(24, 0, 1)),
        "2026-11-23 23:59"
    );
    // A sender's clock ahead of ours is still another day.
    assert_eq!(
        stamp_in(&Utc, at(25, 0, 0), at(24, 12, 0)),
        "2026-11-25 00:00"
    );
    assert_eq!(stamp_in(&Utc, u64::MAX, at(24, 12, 0)), "--:--");
    // Lines use it: an old message has its date before the name.
    let style = Style { colour: false };
    let mut d = delivery("alice", "hi", Trust::Verified);
    d.sent_at_ms = 1_795_521_600_000;
    let day_later = d.sent_at_ms + 24 * 3_600_000;
    let line = style.message_at(&d, &LineContext::default(), day_later);
    assert_eq!(line, format!("{} alice: hi", date_and_clock(d.sent_at_ms)));
    let line = style.own_message_at("bob", &d.body, d.sent_at_ms, day_later);
    assert_eq!(line, format!("{} bob: hi", date_and_clock(d.sent_at_ms)));
    let line = style.message_at(&d, &LineContext::default(), d.sent_at_ms);
    assert!(line.len() < 16 && line.ends_with(" alice: hi"), "{line}");
}

#[test]
fn history_shows_the_date_once() {
    let style = Style { colour: false };
    let mut d = delivery("alice", "old news", Trust::Verified);
    d.sent_at_ms = 1_795_521_600_000;
    let line = style.history(&StoredMessage::received(&d, d.sent_at_ms));
    assert_eq!(
        line,
        format!("{} alice: old news", date_and_clock(d.sent_at_ms))
    );
}

#[test]
fn mentions_are_whole_words_in_any_case() {
    assert!(mentions("hey bob, look", "bob"));
    assert!(mentions("@Bob look", "bob"));
    assert!(mentions("BOB", "bob"));
    assert!(mentions("ask ana maria!", "Ana Maria"));
    assert!(mentions("ping Zoë", "zoë"));
    assert!(!mentions("bobby tables", "bob"));
    assert!(!mentions("kabob", "bob"));
    assert!(!mentions("bob_2 here", "bob"));
    assert!(!mentions("anything", ""));
    assert!(mentions("bobby and bob", "bob"));
}

#[test]
fn a_mention_stands_out_and_backlog_is_marked() {
    let plain = Style { colour: false };
    let d = delivery("alice", "bob: lunch?\nsoon", Trust::Verified);
    let me = LineContext {
        mention_of: Some("bob"),
        ..LineContext::default()
    };
    let line = plain.message_in(&d, &me);
    assert!(
        line.starts_with(">> ") && line.contains("alice: bob: lunch?"),
        "{line}"
    );
    let other = LineContext {
        mention_of: Some("carol"),
        ..LineContext::default()
    };
    assert!(!plain.message_in(&d, &other).starts_with(">>"));
    let coloured = Style { colour: true }.message_in(&d, &me);
    assert!(!coloured.starts_with(">>") && coloured.contains("\x1b[1mbob: lunch?\x1b[0m"));
    let queued = LineContext {
        backlog: true,
        room: Some("ops"),
        mention_of: None,
    };
    let line = plain.message_in(&d, &queued);
    assert!(
        line.contains("[ops] alice (backlog): bob: lunch?"),
        "{line}"
    );
    // The continuation line is indented past the room and marks, up to a limit.
    assert!(
        line.lines().nth(1).unwrap().starts_with(&" ".repeat(24)),
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
