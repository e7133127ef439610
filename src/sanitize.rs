//! Making untrusted text safe to print on a terminal.
//!
//! Names and message text come from other members. Printed raw, an escape
//! sequence could clear the screen, move the cursor over earlier lines, or
//! retitle the window; a newline or carriage return could fake a system
//! line; bidirectional overrides could hide or reorder text; invisible
//! format characters and variation selectors could hide text or smuggle
//! data past a reader. Everything that is not ordinary printable text is
//! shown as a visible escape instead.
//!
//! Message text gets one exception: the zero-width joiner (U+200D), the
//! emoji presentation selector (U+FE0F) and tag characters are kept where
//! they build an emoji (👩‍💻, 🏳️‍🌈, ❤️, 🏴󠁧󠁢󠁳󠁣󠁴󠁿), as UTS #51 describes such
//! sequences. Anywhere else (a joiner between two letters) they are escaped
//! like any other invisible character. Names never get the exception:
//! [`crate::identity::validate_name`] refuses every format character.

use std::fmt::Write;

use unicode_properties::{GeneralCategory, UnicodeEmoji, UnicodeGeneralCategory};

const ZWJ: char = '\u{200d}';
const VS15: char = '\u{fe0e}';
const VS16: char = '\u{fe0f}';
const KEYCAP: char = '\u{20e3}';
const BLACK_FLAG: char = '\u{1f3f4}';
const CANCEL_TAG: char = '\u{e007f}';

/// Returns `text` with every control character, escape sequence starter and
/// bidirectional, invisible or formatting character replaced by a visible
/// escape (`\x1b`, `\u{202e}`), on one line. For names, room names and
/// anything else that is not message text.
pub fn for_terminal(text: &str) -> String {
    escape(text, false)
}

/// Like [`for_terminal`], for the text of a message: the joiners and
/// selectors inside emoji sequences are kept, so 👩‍💻 shows as one emoji
/// rather than as 👩\u{200d}💻. Still one line: a newline is escaped (see
/// [`message_lines`] for text that should keep its lines).
pub fn message_text(text: &str) -> String {
    escape(text, true)
}

/// The lines of a multi-line message (a paste), each made safe on its
/// own with [`message_text`]. Only `\n` (and `\r\n`) separate lines: a
/// lone `\r`, which would move the cursor back over what was printed, is
/// escaped like any other control character.
pub fn message_lines(text: &str) -> Vec<String> {
    text.split('\n')
        .map(|line| message_text(line.strip_suffix('\r').unwrap_or(line)))
        .collect()
}

fn escape(text: &str, emoji: bool) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    // Whether the character before is part of an emoji that a joiner,
    // selector or tag may extend.
    let mut in_emoji = false;
    for (i, &c) in chars.iter().enumerate() {
        let prev = i.checked_sub(1).map(|p| chars[p]);
        let next = chars.get(i + 1).copied();
        let keep = if c == '\t' {
            out.push(' ');
            in_emoji = false;
            continue;
        } else if c == ZWJ {
            // Only between two pictographs: a joiner between letters
            // (or at either end) changes nothing a reader can see.
            emoji && in_emoji && next.is_some_and(is_pictograph)
        } else if c == VS16 || c == VS15 {
            in_emoji || (c == VS16 && prev.is_some_and(is_keycap_base) && next == Some(KEYCAP))
        } else if is_tag(c) {
            // Subdivision flags: a black flag, tag letters, a cancel tag.
            emoji && (prev == Some(BLACK_FLAG) || prev.is_some_and(is_tag) && in_emoji)
        } else {
            !is_dangerous(c)
        };
        if keep {
            out.push(c);
            in_emoji = match c {
                ZWJ => false,
                VS15 | VS16 => in_emoji,
                CANCEL_TAG => false,
                c if is_tag(c) => true,
                c => is_pictograph(c) || is_modifier(c),
            };
        } else {
            // Writing to a String cannot fail.
            let _ = write!(out, "\\u{{{:x}}}", u32::from(c));
            in_emoji = false;
        }
    }
    out
}

/// A character that can start or continue an emoji: an emoji character
/// outside ASCII (digits, `#` and `*` are emoji only as keycaps).
fn is_pictograph(c: char) -> bool {
    !c.is_ascii() && c.is_emoji_char() && !is_modifier(c)
}

/// Skin tone modifiers, which follow a pictograph.
fn is_modifier(c: char) -> bool {
    matches!(c, '\u{1f3fb}'..='\u{1f3ff}')
}

fn is_keycap_base(c: char) -> bool {
    c.is_ascii_digit() || c == '#' || c == '*'
}

fn is_tag(c: char) -> bool {
    matches!(c, '\u{e0020}'..=CANCEL_TAG)
}

/// Whether `c` is never printed raw outside an emoji sequence.
fn is_dangerous(c: char) -> bool {
    c.is_control()
        || matches!(
            c.general_category(),
            // Bidi embeddings, overrides and isolates, zero-width
            // characters, joiners, the soft hyphen, tags...
            GeneralCategory::Format
                | GeneralCategory::LineSeparator
                | GeneralCategory::ParagraphSeparator
        )
        || matches!(
            c,
            // Variation selectors (a run of them can carry hidden data),
            // the combining grapheme joiner and the Hangul fillers: all
            // render as nothing.
            '\u{fe00}'..='\u{fe0f}'
            | '\u{e0100}'..='\u{e01ef}'
            | '\u{034f}'
            | '\u{115f}' | '\u{1160}' | '\u{3164}' | '\u{ffa0}'
        )
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn escape_sequences_and_newlines_become_visible() {
        assert_eq!(for_terminal("hi\x1b[2Jthere"), "hi\\u{1b}[2Jthere");
        assert_eq!(for_terminal("a\nb\rc"), "a\\u{a}b\\u{d}c");
        assert_eq!(for_terminal("\u{9b}31m"), "\\u{9b}31m");
        assert_eq!(for_terminal("abc\u{202e}fed"), "abc\\u{202e}fed");
        assert_eq!(for_terminal("tab\there"), "tab here");
        assert_eq!(message_text("a\nb\rc\x1b[2J"), "a\\u{a}b\\u{d}c\\u{1b}[2J");
    }

    #[test]
    fn bidi_isolates_and_other_format_characters_are_escaped_in_messages_too() {
        for (text, shown) in [
            ("a\u{2066}b\u{2069}", "a\\u{2066}b\\u{2069}"),
            ("x\u{2060}y", "x\\u{2060}y"),
            ("soft\u{ad}hyphen", "soft\\u{ad}hyphen"),
            ("bom\u{feff}", "bom\\u{feff}"),
            ("hidden\u{e0100}\u{e0101}", "hidden\\u{e0100}\\u{e0101}"),
            ("line\u{2028}sep", "line\\u{2028}sep"),
        ] {
            assert_eq!(message_text(text), shown, "{text:?}");
            assert_eq!(for_terminal(text), shown, "{text:?}");
        }
    }

    #[test]
    fn emoji_sequences_stay_whole_in_message_text() {
        for emoji in [
            "👩\u{200d}💻",
            "👨\u{200d}👩\u{200d}👧",
            "🏳\u{fe0f}\u{200d}🌈",
            "❤\u{fe0f}",
            "👍🏽",
            "👩🏽\u{200d}🚀",
            "1\u{fe0f}\u{20e3}",
            "🏴\u{e0067}\u{e0062}\u{e0073}\u{e0063}\u{e0074}\u{e007f}",
        ] {
            assert_eq!(message_text(emoji), emoji, "{emoji:?}");
            let said = format!("ok {emoji} done");
            assert_eq!(message_text(&said), said);
        }
    }

    #[test]
    fn a_joiner_outside_an_emoji_is_neutralised() {
        // Between letters, at the ends, after a digit, doubled.
        assert_eq!(message_text("a\u{200d}b"), "a\\u{200d}b");
        assert_eq!(message_text("\u{200d}👩"), "\\u{200d}👩");
        assert_eq!(message_text("👩\u{200d}"), "👩\\u{200d}");
        assert_eq!(message_text("👩\u{200d}x"), "👩\\u{200d}x");
        assert_eq!(
            message_text("👩\u{200d}\u{200d}💻"),
            "👩\\u{200d}\\u{200d}💻"
        );
        assert_eq!(message_text("1\u{200d}2"), "1\\u{200d}2");
        // A selector or tag with nothing to select.
        assert_eq!(message_text("a\u{fe0f}"), "a\\u{fe0f}");
        assert_eq!(message_text("a\u{e0067}"), "a\\u{e0067}");
    }

    #[test]
    fn names_never_keep_joiners() {
        assert_eq!(for_terminal("👩\u{200d}💻"), "👩\\u{200d}💻");
        assert_eq!(
            for_terminal("🏴\u{e0067}\u{e007f}"),
            "🏴\\u{e0067}\\u{e007f}"
        );
    }

    #[test]
    fn message_lines_split_on_newlines_only() {
        assert_eq!(message_lines("one\ntwo\r\nthree"), ["one", "two", "three"]);
        assert_eq!(message_lines("a\rb\x1b[Kc"), ["a\\u{d}b\\u{1b}[Kc"]);
        assert_eq!(message_lines("single"), ["single"]);
    }

    #[test]
    fn ordinary_text_is_unchanged() {
        for text in ["hello", "héllo wörld", "日本語", "emoji 🎉", "a \\ b"] {
            assert_eq!(for_terminal(text), text);
            assert_eq!(message_text(text), text);
        }
    }

    proptest! {
        #[test]
        fn output_never_contains_control_characters(text in any::<String>()) {
            let safe = for_terminal(&text);
            prop_assert!(!safe.chars().any(is_dangerous));
        }

        #[test]
        fn messages_keep_invisible_characters_only_inside_emoji(text in any::<String>()) {
            for line in message_lines(&text) {
                let chars: Vec<char> = line.chars().collect();
                for (i, c) in chars.iter().enumerate() {
                    prop_assert!(!c.is_control(), "{line:?}");
                    if *c == ZWJ {
                        prop_assert!(i > 0 && i + 1 < chars.len(), "{line:?}");
                        prop_assert!(is_pictograph(chars[i + 1]), "{line:?}");
                    } else if is_dangerous(*c) {
                        prop_assert!(*c == VS15 || *c == VS16 || is_tag(*c), "{line:?}");
                    }
                }
            }
        }
    }
}
