//! The rustyline helper: draws the status line over its placeholder in
//! the prompt, and completes names on Tab.

use std::borrow::Cow;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, PoisonError};

use rustyline::completion::Completer;
use rustyline::highlight::{CmdKind, Highlighter};
use rustyline::hint::Hinter;
use rustyline::validate::Validator;
use rustyline::{Context, Helper};

use super::super::completion::complete;
use super::super::screen::{display_width, edited_end_row, fit};
use super::shared::Shared;

/// Reverse video on, and every attribute off again.
const REVERSE: &str = "\x1b[7m";
const RESET: &str = "\x1b[0m";

/// Shares the status and the names with the printer and the async side.
pub(super) struct ChatHelper {
    pub(super) shared: Arc<Shared>,
    /// The prompt last drawn, to count the rows it and the line take.
    pub(super) prompt: Mutex<String>,
}

impl Highlighter for ChatHelper {
    /// The prompt of a chat line is `"<placeholder>\n<room>> "`; the
    /// placeholder is the status when the line was asked for, and this
    /// swaps in the status as it is now, cut or padded to the same width
    /// so the rows rustyline computed from the placeholder stay right.
    /// rustyline calls this on every redraw, external prints included,
    /// which is what keeps the status current while the user types.
    fn highlight_prompt<'b, 's: 'b, 'p: 'b>(
        &'s self,
        prompt: &'p str,
        default: bool,
    ) -> Cow<'b, str> {
        // rustyline draws only in raw mode: from here on, output that is
        // not a whole line (repaints, marks) goes through its printer.
        self.shared.drawn.store(true, Ordering::SeqCst);
        prompt.clone_into(&mut self.prompt.lock().unwrap_or_else(PoisonError::into_inner));
        let Some((placeholder, rest)) = prompt.split_once('\n') else {
            return Cow::Borrowed(prompt);
        };
        if !default {
            return Cow::Borrowed(prompt);
        }
        let width = display_width(placeholder);
        let status = self.shared.status_text().unwrap_or_default();
        let status = fit(&status, width);
        if self.shared.colour {
            Cow::Owned(format!("{REVERSE}{status}{RESET}\n{rest}"))
        } else {
            Cow::Owned(format!("{status}\n{rest}"))
        }
    }

    /// Paints nothing; counts the rows the prompt and `line` take, so
    /// the printer knows how far up its lines are still on screen.
    fn highlight<'l>(&self, line: &'l str, _: usize) -> Cow<'l, str> {
        let prompt = self.prompt.lock().unwrap_or_else(PoisonError::into_inner);
        let cols = self.shared.cols.load(Ordering::Relaxed);
        let rows = edited_end_row(&format!("{prompt}{line}"), cols) + 1;
        self.shared.prompt_rows.store(rows, Ordering::Relaxed);
        Cow::Borrowed(line)
    }

    /// A line with a newline in it (a paste) is always redrawn whole.
    /// rustyline's shortcut for deleting at the end of a line counts
    /// columns only: backspacing over a trailing newline leaves it sure
    /// the cursor is a row lower than it is, and then the rows erased
    /// after Enter (counted from the text) would miss one. Asking for a
    /// highlight turns the shortcut off.
    fn highlight_char(&self, line: &str, _: usize, _: CmdKind) -> bool {
        line.contains('\n')
    }
}

impl Completer for ChatHelper {
    type Candidate = String;

    fn complete(
        &self,
        line: &str,
        pos: usize,
        _: &Context<'_>,
    ) -> rustyline::Result<(usize, Vec<String>)> {
        let known = self.shared.completions();
        Ok(complete(line, pos, &known))
    }
}

impl Hinter for ChatHelper {
    type Hint = String;
}

impl Validator for ChatHelper {}

impl Helper for ChatHelper {}
