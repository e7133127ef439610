//! What the threads of the terminal side share.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use super::super::super::render::use_colour;
use super::super::screen::{Completions, StatusInfo, status_text};

/// How long erasing a read line waits for the printer to finish a line.
const TTY_PATIENCE: Duration = Duration::from_millis(300);

/// What the input thread, the printer thread, rustyline's helper and the
/// async side share.
pub(super) struct Shared {
    /// Whether rustyline edits on a terminal (else plain lines); known
    /// once the input thread has tried to make an editor.
    pub(super) interactive: AtomicBool,
    /// Whether the status line is painted (reverse video).
    pub(super) colour: bool,
    /// The status line's text, once chat has said what it is.
    pub(super) status: Mutex<Option<String>>,
    pub(super) completions: Mutex<Completions>,
    /// The prompt is on screen and rustyline is in raw mode: set by the
    /// helper when rustyline draws, cleared when a read ends.
    pub(super) drawn: AtomicBool,
    /// The terminal's size when the last line was asked for.
    pub(super) cols: AtomicUsize,
    pub(super) rows: AtomicUsize,
    /// Held by whoever writes to the terminal outside rustyline's
    /// redraws (the printer, or the input thread erasing a line).
    pub(super) tty: Mutex<()>,
    pub(super) next_id: AtomicU64,
    /// Rows the prompt and the line being edited take, as last drawn.
    pub(super) prompt_rows: AtomicUsize,
    /// Counts Ctrl-L presses: a cleared screen has none of our lines.
    pub(super) cleared: AtomicU64,
}

impl Shared {
    pub(super) fn new() -> Self {
        Self {
            interactive: AtomicBool::new(false),
            colour: use_colour(),
            status: Mutex::new(None),
            completions: Mutex::new(Completions::default()),
            drawn: AtomicBool::new(false),
            cols: AtomicUsize::new(80),
            rows: AtomicUsize::new(24),
            tty: Mutex::new(()),
            next_id: AtomicU64::new(0),
            prompt_rows: AtomicUsize::new(2),
            cleared: AtomicU64::new(0),
        }
    }

    /// Whether the status line's text changed.
    pub(super) fn set_status(&self, status: &StatusInfo) -> bool {
        let text = Some(status_text(status));
        let mut current = self.status.lock().unwrap_or_else(PoisonError::into_inner);
        let changed = *current != text;
        *current = text;
        changed
    }

    pub(super) fn status_text(&self) -> Option<String> {
        self.status
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    pub(super) fn set_completions(&self, completions: Completions) {
        *self
            .completions
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = completions;
    }

    pub(super) fn completions(&self) -> Completions {
        self.completions
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    pub(super) fn lock_tty(&self) -> MutexGuard<'_, ()> {
        self.tty.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The terminal lock, unless the printer keeps it past `TTY_PATIENCE`
    /// (its print can wait on rustyline's channel until the next line is
    /// read): erasing goes ahead then rather than hang.
    pub(super) fn try_lock_tty(&self) -> Option<MutexGuard<'_, ()>> {
        let deadline = Instant::now() + TTY_PATIENCE;
        loop {
            match self.tty.try_lock() {
                Ok(guard) => return Some(guard),
                Err(std::sync::TryLockError::Poisoned(poisoned)) => {
                    return Some(poisoned.into_inner());
                }
                Err(std::sync::TryLockError::WouldBlock) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(2));
                }
                Err(std::sync::TryLockError::WouldBlock) => return None,
            }
        }
    }
}
