//! Reading lines with rustyline on a terminal: the two-row prompt, the
//! keys chat binds, erasing a line once read, and the history file.

use std::fs::{OpenOptions, Permissions};
use std::io::IsTerminal;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;
use std::sync::atomic::Ordering;
use std::sync::mpsc as std_mpsc;
use std::sync::{Arc, Mutex};

use rustyline::error::ReadlineError;
use rustyline::history::{FileHistory, History};
use rustyline::{
    Cmd, ColorMode, CompletionType, ConditionalEventHandler, Config, Editor, Event, EventContext,
    EventHandler, KeyEvent, Movement, RepeatCount,
};
use sotto::sanitize::for_terminal;
use tokio::sync::mpsc;

use super::super::commands::{Command, parse, worth_remembering, worth_saving};
use super::super::screen::{edited_end_row, fit};
use super::helper::ChatHelper;
use super::plain::write_out;
use super::shared::Shared;
use super::{Ask, BoxedPrinter, HISTORY_LEN, Input, Request};

pub(super) type ChatEditor = Editor<ChatHelper, FileHistory>;

/// An editor and its external printer, or None when stdin or stdout is
/// not a terminal, or TERM is one rustyline cannot edit on (dumb):
/// `create_external_printer` fails with ENOTTY then.
pub(super) fn editor_with_printer(shared: &Arc<Shared>) -> Option<(ChatEditor, BoxedPrinter)> {
    let config = Config::builder()
        .auto_add_history(false)
        .history_ignore_space(true)
        .max_history_size(HISTORY_LEN)
        .ok()?
        // rustyline asks the helper for the prompt (the status line as it
        // is now) only when its colours are on, and it turns them off
        // itself under NO_COLOR: forced on a terminal, they stay on, and
        // under NO_COLOR the helper paints nothing (Shared::colour).
        .color_mode(if std::io::stdout().is_terminal() {
            ColorMode::Forced
        } else {
            ColorMode::Enabled
        })
        // Circular completion prints no list under the prompt: the rows
        // above it stay the printer's alone, so marks find their lines.
        .completion_type(CompletionType::Circular)
        // A paste arrives as one insert, newlines and all: its lines go
        // as one message, and a trailing newline does not send it early.
        .bracketed_paste(true)
        .build();
    let mut editor = ChatEditor::with_config(config).ok()?;
    let printer = editor.create_external_printer().ok()?;
    editor.set_helper(Some(ChatHelper {
        shared: shared.clone(),
        prompt: Mutex::new(String::new()),
    }));
    editor.bind_sequence(
        KeyEvent::ctrl('C'),
        EventHandler::Conditional(Box::new(CtrlC)),
    );
    editor.bind_sequence(
        KeyEvent::ctrl('L'),
        EventHandler::Conditional(Box::new(CtrlL {
            shared: shared.clone(),
        })),
    );
    Some((editor, Box::new(printer)))
}

/// Ctrl-C clears a non-empty line and keeps editing; on an empty line it
/// interrupts, which chat takes as "leave".
struct CtrlC;

impl ConditionalEventHandler for CtrlC {
    fn handle(&self, _: &Event, _: RepeatCount, _: bool, ctx: &EventContext) -> Option<Cmd> {
        if ctx.line().is_empty() {
            None
        } else {
            Some(Cmd::Kill(Movement::WholeLine))
        }
    }
}

/// Ctrl-L clears the screen as usual, and tells the printer that the own
/// lines it follows are gone: a mark must not be written over whatever
/// is on those rows now.
struct CtrlL {
    shared: Arc<Shared>,
}

impl ConditionalEventHandler for CtrlL {
    fn handle(&self, _: &Event, _: RepeatCount, _: bool, _: &EventContext) -> Option<Cmd> {
        self.shared.cleared.fetch_add(1, Ordering::SeqCst);
        None
    }
}

pub(super) fn run_editor(
    mut editor: ChatEditor,
    shared: &Shared,
    history: &Path,
    requests: &std_mpsc::Receiver<Request>,
    lines: &mpsc::UnboundedSender<Input>,
) {
    // A missing or unreadable history is not worth failing over.
    let _ = editor.load_history(history);
    while let Ok(request) = requests.recv() {
        match request {
            Request::Read { prompt, ask } => {
                let prompt = full_prompt(&mut editor, shared, &prompt, ask);
                let read = editor.readline(&prompt);
                {
                    let _tty = shared.try_lock_tty();
                    shared.drawn.store(false, Ordering::SeqCst);
                    if ask == Ask::Chat {
                        let line = read.as_deref().unwrap_or("");
                        erase(shared, &prompt, line);
                    }
                }
                let input = match read {
                    Ok(line) => {
                        if ask == Ask::Chat && worth_remembering(&line) {
                            let _ = editor.add_history_entry(line.as_str());
                        }
                        Input::Line(line)
                    }
                    Err(ReadlineError::Eof) => Input::Eof,
                    Err(ReadlineError::Interrupted) => Input::Interrupted,
                    Err(err) => Input::Failed(err.to_string()),
                };
                if lines.send(input).is_err() {
                    break;
                }
            }
            Request::Close { done } => {
                save_history(&mut editor, history);
                let _ = done.send(());
                return;
            }
        }
    }
    save_history(&mut editor, history);
}

/// A chat line's prompt: the status line as it is now, padded to one
/// column short of the terminal's width (so it never wraps, and the
/// helper can paint a newer status in exactly its place), over the
/// room's prompt. Questions, and chat before any status, get the prompt
/// alone.
fn full_prompt(editor: &mut ChatEditor, shared: &Shared, prompt: &str, ask: Ask) -> String {
    if let Some((cols, rows)) = editor.dimensions() {
        shared
            .cols
            .store(usize::from(cols).max(1), Ordering::Relaxed);
        shared
            .rows
            .store(usize::from(rows).max(1), Ordering::Relaxed);
    }
    match shared.status_text() {
        Some(status) if ask == Ask::Chat => {
            let width = shared.cols.load(Ordering::Relaxed).saturating_sub(1);
            format!("{}\n{prompt}", fit(&status, width))
        }
        _ => prompt.to_owned(),
    }
}

/// Erases what rustyline leaves of a chat line once it is read: the
/// status row, the prompt and the line as typed (pasted lines and wraps
/// included). rustyline has left the cursor at the start of the row
/// after them. Messages come back as own lines, printed once with their
/// mark; commands are shown again as typed, without the status line, so
/// what ran stays readable above its output (an invite, which holds the
/// room key, left out: it stays off the screen's scrollback).
fn erase(shared: &Shared, prompt: &str, line: &str) {
    let cols = shared.cols.load(Ordering::Relaxed);
    let rows = edited_end_row(&format!("{prompt}{line}"), cols) + 1;
    let mut out = format!("\x1b[{rows}A\r\x1b[J");
    let echo = match parse(line) {
        Command::Say(_) | Command::Me(_) | Command::Empty => None,
        Command::Join { .. } => Some("/join …"),
        _ => Some(line),
    };
    if let Some(echo) = echo {
        let room_prompt = prompt.rsplit('\n').next().unwrap_or(prompt);
        out.push_str(&for_terminal(&format!("{room_prompt}{echo}")));
        out.push('\n');
    }
    write_out(&out);
}

/// Writes the history file (0600) with the commands typed, never the
/// messages: those stay in memory for the arrow keys, and sealed in the
/// database.
fn save_history(editor: &mut ChatEditor, path: &Path) {
    let created = OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .open(path);
    if created.is_err() {
        return;
    }
    let mut kept = FileHistory::new();
    for line in editor.history().iter() {
        if worth_saving(line) {
            let _ = kept.add(line);
        }
    }
    let _ = kept.save(path);
    let _ = std::fs::set_permissions(path, Permissions::from_mode(0o600));
}
