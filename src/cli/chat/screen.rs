//! What the interactive screen shows besides the scrolling lines: the
//! status line above the prompt, the names Tab completes, and our own
//! lines with their delivery mark. Pure text and geometry, so every rule
//! is tested without a terminal.

use sotto::sanitize::for_terminal;
use unicode_width::UnicodeWidthChar;

/// What the status line above the prompt says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusInfo {
    /// The open room.
    pub room: String,
    /// Members of the room, us included.
    pub members: usize,
    /// Members online, us excluded.
    pub online: usize,
    /// The connection to the broker.
    pub connection: Connection,
    /// Other rooms with something unread.
    pub unread: Vec<Unread>,
}

/// The state of the connection to the broker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Connection {
    /// Connected to this broker node.
    Connected {
        /// The node's address as the user would write it.
        node: String,
    },
    /// The connection was lost; trying this node next.
    Reconnecting {
        /// The node being tried.
        node: String,
    },
}

/// Unread messages in another room.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unread {
    /// The room's local name.
    pub room: String,
    /// Messages not seen yet.
    pub messages: usize,
    /// Of those, the ones that mention us.
    pub mentions: usize,
}

/// What Tab completes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Completions {
    /// Member names of the open room.
    pub names: Vec<String>,
    /// Our rooms' local names.
    pub rooms: Vec<String>,
}

/// One line we sent, shown as `{time} {mark} {rest}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OwnLine {
    /// The time it was sent (`HH:MM`).
    pub time: String,
    /// The rest (`bob: hello`); continuation lines after a `\n` are
    /// already indented by the caller.
    pub rest: String,
}

/// Where an own line is on its way.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mark {
    /// Handed to the broker, not acknowledged yet.
    Pending,
    /// The broker acknowledged it.
    Acked,
    /// It could not be sent.
    Failed,
}

/// Names an own line, for [`Mark`]ing it later.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct LineId(pub(super) u64);

impl Mark {
    /// The one-column symbol shown for it.
    pub fn symbol(self) -> char {
        match self {
            Mark::Pending => '…',
            Mark::Acked => '✓',
            Mark::Failed => '✗',
        }
    }
}

impl OwnLine {
    /// The text as printed, with `mark` in its cell.
    pub fn text(&self, mark: Option<Mark>) -> String {
        match mark {
            Some(mark) => format!("{} {} {}", self.time, mark.symbol(), self.rest),
            None => format!("{} {}", self.time, self.rest),
        }
    }

    /// The column of the mark's cell on the first row.
    pub fn mark_column(&self) -> usize {
        display_width(&self.time) + 1
    }
}

/// The status line's text, without styling. Every name in it is
/// sanitised again here: whoever built `status`, nothing in it may move
/// the cursor.
pub fn status_text(status: &StatusInfo) -> String {
    let room = for_terminal(&status.room);
    let (state, node) = match &status.connection {
        Connection::Connected { node } => ("connected to", node),
        Connection::Reconnecting { node } => ("reconnecting to", node),
    };
    let others = status.members.saturating_sub(1);
    let mut text = format!(
        " {room} | {}/{others} online | {state} {}",
        status.online,
        for_terminal(node)
    );
    let unread: Vec<String> = (status.unread.iter())
        .filter(|unread| unread.messages > 0 || unread.mentions > 0)
        .map(|unread| {
            let room = for_terminal(&unread.room);
            if unread.mentions > 0 {
                format!("{room} {} (@{})", unread.messages, unread.mentions)
            } else {
                format!("{room} {}", unread.messages)
            }
        })
        .collect();
    if !unread.is_empty() {
        text.push_str(" | unread: ");
        text.push_str(&unread.join(", "));
    }
    text
}

/// `text` cut or padded with spaces to exactly `width` columns, so a
/// status drawn later takes the room its placeholder took. A cut ends in
/// `…`; a wide character that would straddle the edge is left out.
pub fn fit(text: &str, width: usize) -> String {
    let mut out = String::new();
    let mut used = 0;
    if display_width(text) <= width {
        out.push_str(text);
        used = display_width(text);
    } else if width > 0 {
        for c in text.chars() {
            let w = char_width(c);
            if used + w > width - 1 {
                break;
            }
            out.push(c);
            used += w;
        }
        out.push('…');
        used += 1;
    }
    out.extend(std::iter::repeat_n(' ', width.saturating_sub(used)));
    out
}

/// Columns a character takes; control characters take none.
fn char_width(c: char) -> usize {
    c.width().unwrap_or(0)
}

/// Columns `text` takes on one row, not counting CSI escape sequences
/// (the colours chat paints with).
pub fn display_width(text: &str) -> usize {
    let mut width = 0;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\x1b' {
            if chars.peek() == Some(&'[') {
                chars.next();
                // Parameters and intermediates up to the final byte.
                for c in chars.by_ref() {
                    if ('\x40'..='\x7e').contains(&c) {
                        break;
                    }
                }
            }
            continue;
        }
        width += char_width(c);
    }
    width
}

/// Rows a printed text takes on a terminal `cols` wide: each of its
/// lines takes at least one row, more when it wraps. A trailing newline
/// ends the last line rather than starting an empty one.
pub fn printed_rows(text: &str, cols: usize) -> usize {
    let cols = cols.max(1);
    let text = text.strip_suffix('\n').unwrap_or(text);
    text.split('\n')
        .map(|line| display_width(line).div_ceil(cols).max(1))
        .sum()
}

/// The row rustyline's cursor ends on after drawing `prompt` followed by
/// `line` from the start of a row, counted from that first row, the way
/// rustyline counts (`calculate_position` in its tty/unix.rs): a
/// character that does not fit moves to the next row whole, a row filled
/// exactly moves the cursor down, a `\n` starts a row, a tab goes to the
/// next stop of 8.
pub fn edited_end_row(prompt_and_line: &str, cols: usize) -> usize {
    let cols = cols.max(1);
    let (mut row, mut col) = (0, 0);
    for c in prompt_and_line.chars() {
        if c == '\n' {
            row += 1;
            col = 0;
            continue;
        }
        let w = if c == '\t' {
            8 - col % 8
        } else {
            char_width(c)
        };
        col += w;
        if col > cols {
            row += 1;
            col = w;
        }
    }
    if col == cols {
        row += 1;
    }
    row
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status() -> StatusInfo {
        StatusInfo {
            room: "ops".into(),
            members: 3,
            online: 1,
            connection: Connection::Connected {
                node: "mqtt://127.0.0.1:1883".into(),
            },
            unread: vec![
                Unread {
                    room: "dev".into(),
                    messages: 4,
                    mentions: 1,
                },
                Unread {
                    room: "quiet".into(),
                    messages: 0,
                    mentions: 0,
                },
                Unread {
                    room: "fun".into(),
                    messages: 2,
                    mentions: 0,
                },
            ],
        }
    }

    #[test]
    fn the_status_says_room_online_broker_and_unread_with_mentions_apart() {
        assert_eq!(
            status_text(&status()),
            " ops | 1/2 online | connected to mqtt://127.0.0.1:1883 | unread: dev 4 (@1), fun 2"
        );
        let mut lost = status();
        lost.connection = Connection::Reconnecting {
            node: "mqtt://b:1883".into(),
        };
        lost.unread.clear();
        assert_eq!(
            status_text(&lost),
            " ops | 1/2 online | reconnecting to mqtt://b:1883"
        );
    }

    #[test]
    fn the_status_never_carries_control_characters() {
        let mut evil = status();
        evil.room = "o\x1b[2Jps\n".into();
        evil.unread[0].room = "\x1b]0;x\x07".into();
        let text = status_text(&evil);
        assert!(!text.chars().any(char::is_control), "{text:?}");
    }

    #[test]
    fn fit_pads_and_cuts_by_display_width() {
        assert_eq!(fit("abc", 5), "abc  ");
        assert_eq!(fit("abcdef", 4), "abc…");
        // Wide characters count twice and are never split.
        assert_eq!(fit("日本語", 4), "日… ");
        assert_eq!(display_width(&fit("日本語です", 7)), 7);
        assert_eq!(fit("abc", 0), "");
    }

    #[test]
    fn widths_skip_colours() {
        assert_eq!(display_width("\x1b[2m12:01\x1b[0m bob"), 9);
        assert_eq!(display_width("日本"), 4);
    }

    #[test]
    fn printed_rows_count_wraps_and_lines() {
        assert_eq!(printed_rows("hello\n", 80), 1);
        assert_eq!(printed_rows(&format!("{}\n", "x".repeat(80)), 80), 1);
        assert_eq!(printed_rows(&format!("{}\n", "x".repeat(81)), 80), 2);
        assert_eq!(printed_rows("a\nb\n\nc\n", 80), 4);
    }

    #[test]
    fn edited_rows_follow_rustyline() {
        let prompt = format!("{}\nops> ", " ".repeat(79));
        assert_eq!(edited_end_row(&format!("{prompt}hello"), 80), 1);
        // A row filled exactly puts the cursor on the next one.
        assert_eq!(
            edited_end_row(&format!("{prompt}{}", "x".repeat(75)), 80),
            2
        );
        assert_eq!(edited_end_row(&format!("{prompt}one\ntwo\nthree"), 80), 3);
        // A wide character that does not fit moves down whole.
        assert_eq!(edited_end_row(&format!("{}日", "x".repeat(79)), 80), 1);
    }

    #[test]
    fn own_lines_put_the_mark_after_the_time() {
        let line = OwnLine {
            time: "12:01".into(),
            rest: "bob: hi".into(),
        };
        assert_eq!(line.text(Some(Mark::Pending)), "12:01 … bob: hi");
        assert_eq!(line.text(None), "12:01 bob: hi");
        assert_eq!(line.mark_column(), 6);
    }
}
