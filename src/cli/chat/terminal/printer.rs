//! The printer thread: the only writer above the prompt. It prints lines
//! through rustyline's ExternalPrinter, repaints the status line, and
//! keeps track of where our own lines are so their mark can change in
//! place.
//!
//! Both in-place tricks rest on what rustyline 19 does with a message
//! while it edits (`State::external_print` in its edit.rs): it clears the
//! rows of the prompt and the line, leaving the cursor at the start of
//! the prompt's first row, writes the message, writes a newline unless
//! the message ends with one, and redraws the prompt and the line there.
//! A message that moves the cursor up one row and writes nothing makes
//! that newline land back on the prompt's row: a pure repaint (which
//! asks the highlighter for the status again). A message that moves up
//! to one of our lines, rewrites its mark cell and comes back down to one
//! row above the prompt changes the mark the same way.
//!
//! While no line is being edited (raw mode off) the ExternalPrinter
//! writes straight to the terminal, with no newline added: then the
//! cursor is where the prompt would start, and a mark moves back down all
//! the way; a repaint is not needed, the next prompt is drawn fresh.
//!
//! Known limits, all narrow races or rare actions: which of the two forms
//! to send is decided from `Shared::drawn`, cleared by the input thread
//! just after rustyline returns, so a repaint or mark decided in the
//! moment between rustyline leaving raw mode and that lands one row off;
//! a mark still in rustyline's channel when a line is accepted is drawn
//! at the next prompt, when one more own line may sit below it; a
//! terminal resized while a line is edited keeps the old width for the
//! status line until the next prompt. Keys typed in the instant between
//! two prompts (rustyline out of raw mode) are echoed by the terminal
//! itself, above the next prompt; chat asks for the next line before
//! handling one that keeps the room, which narrows that window, and
//! turning the terminal's echo off between prompts would close it.

use std::collections::VecDeque;
use std::io::Write;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::sync::mpsc as std_mpsc;

use super::super::screen::{Completions, LineId, Mark, OwnLine, StatusInfo, printed_rows};
use super::BoxedPrinter;
use super::shared::Shared;

/// The most own lines followed at once; older ones keep their mark.
const TRACKED: usize = 64;

pub(super) enum Job {
    Line(String),
    Own(LineId, OwnLine),
    Mark(LineId, Mark),
    Repaint,
    Flush(tokio::sync::oneshot::Sender<()>),
}

/// Hands lines to the printer thread; cheap to clone, never blocks.
#[derive(Clone)]
pub struct Printer {
    pub(super) jobs: std_mpsc::Sender<Job>,
    pub(super) shared: Arc<Shared>,
}

impl Printer {
    /// Prints one line (a newline is added).
    pub fn line(&self, text: impl Into<String>) {
        let mut text = text.into();
        text.push('\n');
        let _ = self.jobs.send(Job::Line(text));
    }

    /// Waits until everything sent so far is printed (at most two
    /// seconds: a print stuck behind rustyline must not hang chat).
    pub async fn flush(&self) {
        let (tx, rx) = tokio::sync::oneshot::channel();
        if self.jobs.send(Job::Flush(tx)).is_ok() {
            let _ = tokio::time::timeout(super::FINISH_TIMEOUT, rx).await;
        }
    }

    /// Shows `status` on the status line, at once when a line is being
    /// edited. Without a terminal there is no status line (chat prints
    /// connection changes as lines anyway).
    pub fn set_status(&self, status: StatusInfo) {
        if self.shared.set_status(&status) && self.shared.interactive.load(Ordering::SeqCst) {
            let _ = self.jobs.send(Job::Repaint);
        }
    }

    /// What Tab completes from now on.
    pub fn set_completions(&self, completions: Completions) {
        self.shared.set_completions(completions);
    }

    /// Prints a line we sent, marked pending on a terminal, and names it
    /// for [`Printer::mark`].
    pub fn own_line(&self, line: OwnLine) -> LineId {
        let id = LineId(self.shared.next_id.fetch_add(1, Ordering::Relaxed));
        let _ = self.jobs.send(Job::Own(id, line));
        id
    }

    /// Changes the mark of an own line still on screen; otherwise (or
    /// without a terminal) does nothing.
    pub fn mark(&self, id: LineId, mark: Mark) {
        let _ = self.jobs.send(Job::Mark(id, mark));
    }
}

/// An own line on screen.
struct Tracked {
    id: LineId,
    column: usize,
    /// Rows from the line's first row down to the row the prompt starts
    /// on (where the cursor is when rustyline hands over, or when nothing
    /// is edited).
    above: usize,
}

pub(super) fn printer_thread(
    mut external: Option<BoxedPrinter>,
    shared: &Shared,
    jobs: &std_mpsc::Receiver<Job>,
) {
    let mut stdout_ok = true;
    let mut tracked: VecDeque<Tracked> = VecDeque::new();
    let mut cleared = shared.cleared.load(Ordering::SeqCst);
    while let Ok(job) = jobs.recv() {
        let cols = shared.cols.load(Ordering::Relaxed);
        let now_cleared = shared.cleared.load(Ordering::SeqCst);
        if now_cleared != cleared {
            cleared = now_cleared;
            tracked.clear();
        }
        match job {
            Job::Line(text) => {
                print(&mut external, shared, &mut stdout_ok, &text);
                advance(&mut tracked, shared, printed_rows(&text, cols));
            }
            Job::Own(id, line) => {
                let interactive = external.is_some();
                let mut text = line.text(interactive.then_some(Mark::Pending));
                text.push('\n');
                print(&mut external, shared, &mut stdout_ok, &text);
                advance(&mut tracked, shared, printed_rows(&text, cols));
                if interactive {
                    if tracked.len() == TRACKED {
                        tracked.pop_front();
                    }
                    tracked.push_back(Tracked {
                        id,
                        column: line.mark_column(),
                        above: printed_rows(&text, cols),
                    });
                }
            }
            Job::Mark(id, mark) => {
                let Some(line) = tracked.iter().find(|line| line.id == id) else {
                    continue;
                };
                let Some(printer) = external.as_mut() else {
                    continue;
                };
                let _tty = shared.lock_tty();
                let drawn = shared.drawn.load(Ordering::SeqCst);
                // The rows below the line down to the screen's bottom: the
                // line itself and what follows it, then the prompt as drawn
                // (or the empty row the next one starts on).
                let below = if drawn {
                    shared.prompt_rows.load(Ordering::Relaxed)
                } else {
                    1
                };
                if line.above + below > shared.rows.load(Ordering::Relaxed) {
                    // Maybe scrolled off under a tall line being edited.
                    continue;
                }
                let _ = printer.print(mark_message(line, mark, drawn));
            }
            Job::Repaint => {
                let Some(printer) = external.as_mut() else {
                    continue;
                };
                let _tty = shared.lock_tty();
                if shared.drawn.load(Ordering::SeqCst) {
                    // See the module's comment: up one row, and rustyline's
                    // newline brings the prompt back where it was.
                    let _ = printer.print("\x1b[A".to_owned());
                }
            }
            Job::Flush(done) => {
                let _ = done.send(());
            }
        }
    }
}

fn print(external: &mut Option<BoxedPrinter>, shared: &Shared, stdout_ok: &mut bool, text: &str) {
    let printed = external.as_mut().is_some_and(|printer| {
        let _tty = shared.lock_tty();
        printer.print(text.to_owned()).is_ok()
    });
    if !printed && *stdout_ok {
        // A closed pipe (EPIPE) ends printing, not the chat.
        let mut stdout = std::io::stdout().lock();
        *stdout_ok = stdout.write_all(text.as_bytes()).is_ok() && stdout.flush().is_ok();
    }
}

/// Moves every own line up by `rows`, forgetting those scrolled off.
fn advance(tracked: &mut VecDeque<Tracked>, shared: &Shared, rows: usize) {
    let screen = shared.rows.load(Ordering::Relaxed);
    for line in tracked.iter_mut() {
        line.above += rows;
    }
    // The prompt takes at least two rows (status and input) at the
    // bottom; a line further up than what is left has scrolled away.
    tracked.retain(|line| line.above + 2 <= screen);
}

/// Up to the line's first row, over to its mark cell, the mark, and back
/// down: to the prompt's row when nothing is edited, one row short of it
/// when rustyline will add its newline.
fn mark_message(line: &Tracked, mark: Mark, drawn: bool) -> String {
    let mut message = format!("\x1b[{}A\r", line.above);
    if line.column > 0 {
        message.push_str(&format!("\x1b[{}C", line.column));
    }
    message.push(mark.symbol());
    let down = if drawn { line.above - 1 } else { line.above };
    if down > 0 {
        message.push_str(&format!("\x1b[{down}B"));
    }
    message.push('\r');
    message
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_mark_comes_back_to_where_it_started() {
        let line = Tracked {
            id: LineId(1),
            column: 6,
            above: 3,
        };
        assert_eq!(
            mark_message(&line, Mark::Acked, false),
            "\x1b[3A\r\x1b[6C✓\x1b[3B\r"
        );
        // rustyline's newline makes up the last row.
        assert_eq!(
            mark_message(&line, Mark::Failed, true),
            "\x1b[3A\r\x1b[6C✗\x1b[2B\r"
        );
        let last = Tracked { above: 1, ..line };
        assert_eq!(
            mark_message(&last, Mark::Acked, true),
            "\x1b[1A\r\x1b[6C✓\r"
        );
    }
}
