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
//!
//! On a terminal a chat line's prompt is two rows: the status line
//! ([`helper`] keeps it current) and the room's prompt. Once a chat line
//! is read, both rows and the line typed are erased: chat prints what
//! was said once, as an own line whose mark [`printer`] changes in place.

mod editor;
mod helper;
mod plain;
mod printer;
mod shared;

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::sync::mpsc as std_mpsc;
use std::thread::JoinHandle;
use std::time::Duration;

use rustyline::ExternalPrinter;
use tokio::sync::{mpsc, oneshot};

use editor::{editor_with_printer, run_editor};
use plain::run_plain;
pub use printer::Printer;
use printer::printer_thread;
use shared::Shared;

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

/// Asks the input thread for lines.
pub struct Terminal {
    requests: std_mpsc::Sender<Request>,
    lines: mpsc::UnboundedReceiver<Input>,
    pending: bool,
    interactive: bool,
    thread: Option<JoinHandle<()>>,
}

type BoxedPrinter = Box<dyn ExternalPrinter + Send>;

/// Starts both threads. `history` is loaded now and saved on close.
pub fn start(history: PathBuf) -> anyhow::Result<(Terminal, Printer)> {
    let (request_tx, request_rx) = std_mpsc::channel();
    let (line_tx, line_rx) = mpsc::unbounded_channel();
    let (sink_tx, sink_rx) = std_mpsc::channel::<Option<BoxedPrinter>>();
    let shared = Arc::new(Shared::new());
    let input_shared = shared.clone();
    let thread = std::thread::Builder::new()
        .name("sotto-input".into())
        .spawn(move || input_thread(history, &input_shared, request_rx, line_tx, sink_tx))?;
    // The editor (and so the external printer) is made on the input
    // thread, which keeps it; it sends the printer back, or None when
    // there is no terminal.
    let external = sink_rx.recv().ok().flatten();
    let interactive = external.is_some();
    shared.interactive.store(interactive, Ordering::SeqCst);
    let (job_tx, job_rx) = std_mpsc::channel();
    let printer_shared = shared.clone();
    std::thread::Builder::new()
        .name("sotto-printer".into())
        .spawn(move || printer_thread(external, &printer_shared, &job_rx))?;
    let terminal = Terminal {
        requests: request_tx,
        lines: line_rx,
        pending: false,
        interactive,
        thread: Some(thread),
    };
    let printer = Printer {
        jobs: job_tx,
        shared,
    };
    Ok((terminal, printer))
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

fn input_thread(
    history: PathBuf,
    shared: &Arc<Shared>,
    requests: std_mpsc::Receiver<Request>,
    lines: mpsc::UnboundedSender<Input>,
    sink: std_mpsc::Sender<Option<BoxedPrinter>>,
) {
    match editor_with_printer(shared) {
        Some((editor, printer)) => {
            let _ = sink.send(Some(printer));
            run_editor(editor, shared, &history, &requests, &lines);
        }
        None => {
            let _ = sink.send(None);
            run_plain(&requests, &lines);
        }
    }
}
