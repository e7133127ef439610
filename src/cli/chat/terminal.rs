//! The terminal side of chat, on two threads of its own so the async side
//! never blocks on it:
//!
//! - the input thread reads one line per request: with rustyline when
//!   stdin and stdout are terminals, else plain lines from stdin (pipes,
//!   scripts, tests);
//! - the printer thread writes lines: through rustyline's ExternalPrinter,
//!   which prints above the prompt and redraws what the user was typing,
//!   or plainly on stdout. `ExternalPrinter::print` can block (a channel
//!   of one and a pipe), which is why it gets a thread.
//!
//! Lines are read on request, not in a loop: between two requests the
//! terminal is out of raw mode, so commands can print freely and the
//! program can leave without a prompt (and raw mode) still active.

use std::fs::{OpenOptions, Permissions};
use std::io::{BufRead, IsTerminal, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::mpsc as std_mpsc;
use std::thread::JoinHandle;
use std::time::Duration;

use rustyline::error::ReadlineError;
use rustyline::history::{FileHistory, History};
use rustyline::{
    Cmd, ConditionalEventHandler, Config, Editor, Event, EventContext, EventHandler,
    ExternalPrinter, KeyEvent, Movement, RepeatCount,
};
use sotto::sanitize::for_terminal;
use tokio::sync::{mpsc, oneshot};

use super::commands::{worth_remembering, worth_saving};

/// How long to wait for the printer or the input thread when leaving.
const FINISH_TIMEOUT: Duration = Duration::from_secs(2);
const HISTORY_LEN: usize = 1000;

/// What the user did at a prompt.
#[derive(Debug)]
pub enum Input {
    /// A line (without its newline).
    Line(String),
    /// End of input (Ctrl-D, or the pipe closed).
    Eof,
    /// Ctrl-C on an empty line.
    Interrupted,
    /// Reading failed.
    Failed(String),
}

/// What kind of line is asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ask {
    /// A chat line: kept in the history; no prompt when not interactive.
    Chat,
    /// An answer to a question: never kept; the question is always shown.
    Question,
}

enum Request {
    Read { prompt: String, ask: Ask },
    Close { done: oneshot::Sender<()> },
}

enum Job {
    Line(String),
    Flush(oneshot::Sender<()>),
}

/// Asks the input thread for lines.
pub struct Terminal {
    requests: std_mpsc::Sender<Request>,
    lines: mpsc::UnboundedReceiver<Input>,
    pending: bool,
    interactive: bool,
    thread: Option<JoinHandle<()>>,
}

/// Hands lines to the printer thread; cheap to clone.
#[derive(Clone)]
pub struct Printer {
    jobs: std_mpsc::Sender<Job>,
}

type BoxedPrinter = Box<dyn ExternalPrinter + Send>;

/// Starts both threads. `history` is loaded now and saved on close.
pub fn start(history: PathBuf) -> anyhow::Result<(Terminal, Printer)> {
    let (request_tx, request_rx) = std_mpsc::channel();
    let (line_tx, line_rx) = mpsc::unbounded_channel();
    let (sink_tx, sink_rx) = std_mpsc::channel::<Option<BoxedPrinter>>();
    let thread = std::thread::Builder::new()
        .name("sotto-input".into())
        .spawn(move || input_thread(history, request_rx, line_tx, sink_tx))?;
    // The editor (and so the external printer) is made on the input
    // thread, which keeps it; it sends the printer back, or None when
    // there is no terminal.
    let external = sink_rx.recv().ok().flatten();
    let interactive = external.is_some();
    let (job_tx, job_rx) = std_mpsc::channel();
    std::thread::Builder::new()
        .name("sotto-printer".into())
        .spawn(move || printer_thread(external, job_rx))?;
    let terminal = Terminal {
        requests: request_tx,
        lines: line_rx,
        pending: false,
        interactive,
        thread: Some(thread),
    };
    Ok((terminal, Printer { jobs: job_tx }))
}

impl Terminal {
    /// Whether rustyline is editing on a terminal.
    pub fn is_interactive(&self) -> bool {
        self.interactive
    }

    /// Asks for a line unless a request is already out.
    pub fn request(&mut self, prompt: &str, ask: Ask) {
        if self.pending {
            return;
        }
        let request = Request::Read {
            prompt: prompt.to_owned(),
            ask,
        };
        self.pending = self.requests.send(request).is_ok();
    }

    /// The answer to the outstanding request. Cancel-safe.
    pub async fn next(&mut self) -> Input {
        let input = self.lines.recv().await.unwrap_or(Input::Eof);
        self.pending = false;
        input
    }

    /// Asks a question and waits for the answer.
    pub async fn ask(&mut self, out: &Printer, prompt: &str) -> Input {
        out.flush().await;
        self.request(prompt, Ask::Question);
        self.next().await
    }

    /// Whether a line is being read right now.
    pub fn is_reading(&self) -> bool {
        self.pending
    }

    /// Saves the history and stops the input thread. A line still being
    /// read on a terminal is waited for, so rustyline can leave raw mode
    /// (the caller says why first); on a pipe it is abandoned.
    pub async fn close(mut self) {
        if self.pending && self.interactive {
            let _ = self.next().await;
        }
        if self.pending {
            return;
        }
        let (done_tx, done_rx) = oneshot::channel();
        if self.requests.send(Request::Close { done: done_tx }).is_ok() {
            let _ = tokio::time::timeout(FINISH_TIMEOUT, done_rx).await;
        }
        if let Some(thread) = self.thread.take()
            && thread.is_finished()
        {
            let _ = thread.join();
        }
    }
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
        let (tx, rx) = oneshot::channel();
        if self.jobs.send(Job::Flush(tx)).is_ok() {
            let _ = tokio::time::timeout(FINISH_TIMEOUT, rx).await;
        }
    }
}

fn input_thread(
    history: PathBuf,
    requests: std_mpsc::Receiver<Request>,
    lines: mpsc::UnboundedSender<Input>,
    sink: std_mpsc::Sender<Option<BoxedPrinter>>,
) {
    match editor_with_printer() {
        Some((editor, printer)) => {
            let _ = sink.send(Some(printer));
            run_editor(editor, &history, &requests, &lines);
        }
        None => {
            let _ = sink.send(None);
            run_plain(&requests, &lines);
        }
    }
}

/// An editor and its external printer, or None when stdin or stdout is
/// not a terminal (`create_external_printer` fails with ENOTTY then).
fn editor_with_printer() -> Option<(Editor<(), FileHistory>, BoxedPrinter)> {
    let config = Config::builder()
        .auto_add_history(false)
        .history_ignore_space(true)
        .max_history_size(HISTORY_LEN)
        .ok()?
        .build();
    let mut editor = Editor::<(), FileHistory>::with_config(config).ok()?;
    let printer = editor.create_external_printer().ok()?;
    editor.bind_sequence(
        KeyEvent::ctrl('C'),
        EventHandler::Conditional(Box::new(CtrlC)),
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

fn run_editor(
    mut editor: Editor<(), FileHistory>,
    history: &Path,
    requests: &std_mpsc::Receiver<Request>,
    lines: &mpsc::UnboundedSender<Input>,
) {
    // A missing or unreadable history is not worth failing over.
    let _ = editor.load_history(history);
    while let Ok(request) = requests.recv() {
        match request {
            Request::Read { prompt, ask } => {
                let input = match editor.readline(&prompt) {
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

/// Writes the history file (0600) with the commands typed, never the
/// messages: those stay in memory for the arrow keys, and sealed in the
/// database.
fn save_history(editor: &mut Editor<(), FileHistory>, path: &Path) {
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

fn run_plain(requests: &std_mpsc::Receiver<Request>, lines: &mpsc::UnboundedSender<Input>) {
    let stdin = std::io::stdin();
    while let Ok(request) = requests.recv() {
        match request {
            Request::Read { prompt, ask } => {
                if ask == Ask::Question {
                    write_out(&prompt);
                }
                let input = read_plain(&mut stdin.lock());
                if ask == Ask::Question && !stdin.is_terminal() {
                    // Nobody saw the answer typed: show it, so a log of
                    // the session reads "Your name: carol".
                    match &input {
                        Input::Line(line) => write_out(&format!("{}\n", for_terminal(line))),
                        _ => write_out("\n"),
                    }
                }
                if lines.send(input).is_err() {
                    return;
                }
            }
            Request::Close { done } => {
                let _ = done.send(());
                return;
            }
        }
    }
}

fn write_out(text: &str) {
    let mut stdout = std::io::stdout().lock();
    let _ = stdout.write_all(text.as_bytes());
    let _ = stdout.flush();
}

fn read_plain(input: &mut impl BufRead) -> Input {
    let mut line = String::new();
    match input.read_line(&mut line) {
        Ok(0) => Input::Eof,
        Ok(_) => {
            let end = line.trim_end_matches(['\r', '\n']).len();
            line.truncate(end);
            Input::Line(line)
        }
        Err(err) => Input::Failed(format!("could not read standard input: {err}")),
    }
}

fn printer_thread(mut external: Option<BoxedPrinter>, jobs: std_mpsc::Receiver<Job>) {
    let mut stdout_ok = true;
    while let Ok(job) = jobs.recv() {
        match job {
            Job::Line(text) => {
                let printed = external
                    .as_mut()
                    .is_some_and(|printer| printer.print(text.clone()).is_ok());
                if !printed && stdout_ok {
                    // A closed pipe (EPIPE) ends printing, not the chat.
                    let mut stdout = std::io::stdout().lock();
                    stdout_ok = stdout.write_all(text.as_bytes()).is_ok() && stdout.flush().is_ok();
                }
            }
            Job::Flush(done) => {
                let _ = done.send(());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_lines_lose_their_newline_and_eof_is_eof() {
        let mut input = std::io::Cursor::new(b"hello\r\n/quit\n".to_vec());
        assert!(matches!(read_plain(&mut input), Input::Line(l) if l == "hello"));
        assert!(matches!(read_plain(&mut input), Input::Line(l) if l == "/quit"));
        assert!(matches!(read_plain(&mut input), Input::Eof));
    }
}
