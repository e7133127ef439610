//! Making untrusted text safe to print on a terminal.
//!
//! Names and message text come from other members. Printed raw, an escape
//! sequence could clear the screen, move the cursor over earlier lines, or
//! retitle the window; a newline or carriage return could fake a system
//! line; bidirectional overrides could hide or reorder text. Everything
//! that is not ordinary printable text is shown as a visible escape instead.

use std::fmt::Write;

/// Returns `text` with every control character, escape sequence starter and
/// bidirectional or invisible formatting character replaced by a visible
/// escape (`\x1b`, `\u{202e}`), on one line.
pub fn for_terminal(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if c == '\t' {
            out.push(' ');
        } else if is_dangerous(c) {
            // Writing to a String cannot fail.
            let _ = write!(out, "\\u{{{:x}}}", u32::from(c));
        } else {
            out.push(c);
        }
    }
    out
}

fn is_dangerous(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            // Bidirectional embeddings, overrides and isolates.
            '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}'
            // Marks, zero-width and line/paragraph separators.
            | '\u{200b}'..='\u{200f}' | '\u{2028}' | '\u{2029}' | '\u{061c}'
            | '\u{feff}'
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
    }

    #[test]
    fn ordinary_text_is_unchanged() {
        for text in ["hello", "héllo wörld", "日本語", "emoji 🎉", "a \\ b"] {
            assert_eq!(for_terminal(text), text);
        }
    }

    proptest! {
        #[test]
        fn output_never_contains_control_characters(text in any::<String>()) {
            let safe = for_terminal(&text);
            prop_assert!(!safe.chars().any(is_dangerous));
        }
    }
}
