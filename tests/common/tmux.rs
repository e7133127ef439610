//! A real terminal for tests: a command in a detached tmux session of a
//! fixed size, on a tmux server of its own (`-L`, a socket per session),
//! driven with keys and bracketed pastes and read back as the screen
//! tmux shows. Unlike a bare pty (rexpect), this sees the screen after
//! the cursor movements, not the bytes: what was erased is gone, what was
//! rewritten in place reads as rewritten.
//!
//! tmux must be installed (`apt-get install -y tmux`, or scripts/test);
//! a missing tmux fails the test, it never skips it.

use std::ffi::OsStr;
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// Said when tmux cannot be run.
pub const TMUX_MISSING: &str = "tmux is needed for the screen tests: install it (apt-get install -y tmux, or run scripts/test)";

static SESSIONS: AtomicUsize = AtomicUsize::new(0);

/// A command running in its own tmux server; killed on drop.
pub struct Tmux {
    socket: String,
}

impl Tmux {
    /// Starts `command` (its program, arguments and environment; the
    /// environment is the whole of it, as for a `Home` command, which
    /// clears it) in a `width` x `height` terminal with `TERM=term`.
    pub fn start(command: &Command, width: u16, height: u16, term: &str) -> Self {
        let socket = format!(
            "sotto-test-{}-{}",
            std::process::id(),
            SESSIONS.fetch_add(1, Ordering::Relaxed)
        );
        let mut line = vec!["env".to_owned(), "-i".to_owned(), format!("TERM={term}")];
        for (key, value) in command.get_envs() {
            if let Some(value) = value {
                line.push(format!("{}={}", lossy(key), lossy(value)));
            }
        }
        line.push(lossy(command.get_program()));
        line.extend(command.get_args().map(lossy));
        let shell_line = line
            .iter()
            .map(|word| quote(word))
            .collect::<Vec<_>>()
            .join(" ");
        let tmux = Self { socket };
        let (width, height) = (width.to_string(), height.to_string());
        // The options come first so they hold from the start: the pane
        // stays after the program exits (a crash stays readable), and no
        // status bar takes a row of the terminal.
        tmux.run(&[
            "-f",
            "/dev/null",
            "start-server",
            ";",
            "set-option",
            "-g",
            "remain-on-exit",
            "on",
            ";",
            "set-option",
            "-g",
            "status",
            "off",
            ";",
            "new-session",
            "-d",
            "-x",
            &width,
            "-y",
            &height,
            &shell_line,
        ]);
        tmux
    }

    /// Types `keys` as they are (no key names).
    pub fn send_keys(&self, keys: &str) {
        self.run(&["send-keys", "-l", keys]);
    }

    /// Presses one key by tmux's name for it: `Enter`, `Tab`, `C-c`.
    pub fn press(&self, key: &str) {
        self.run(&["send-keys", key]);
    }

    /// Pastes `text` as a terminal does when bracketed paste is on: the
    /// program sees it between ESC[200~ and ESC[201~ (if it asked for
    /// that), with newlines as typed Enter keys (CR), as a real terminal
    /// sends them.
    pub fn paste(&self, text: &str) {
        let buffer = format!("{}-paste", self.socket);
        self.run(&["set-buffer", "-b", &buffer, "--", text]);
        self.run(&["paste-buffer", "-p", "-d", "-b", &buffer]);
    }

    /// The visible screen, one line per row, trailing spaces trimmed.
    pub fn screen(&self) -> String {
        let out = self.run(&["capture-pane", "-p"]);
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Waits until `ready` holds for the screen; panics with the screen
    /// and `what` when it does not within `timeout`.
    pub fn wait_for(&self, what: &str, timeout: Duration, ready: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + timeout;
        loop {
            let screen = self.screen();
            if ready(&screen) {
                return screen;
            }
            if Instant::now() >= deadline {
                panic!("timed out after {timeout:?} waiting for {what}; the screen:\n{screen}");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Waits until the screen contains `text`.
    pub fn wait_for_text(&self, text: &str, timeout: Duration) -> String {
        self.wait_for(&format!("{text:?}"), timeout, |screen| {
            screen.contains(text)
        })
    }

    fn run(&self, args: &[&str]) -> Output {
        let out = Command::new("tmux")
            .arg("-L")
            .arg(&self.socket)
            .args(args)
            .stdin(Stdio::null())
            .output()
            .unwrap_or_else(|err| panic!("{TMUX_MISSING} (running it failed: {err})"));
        assert!(
            out.status.success(),
            "tmux {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        out
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = Command::new("tmux")
            .arg("-L")
            .arg(&self.socket)
            .arg("kill-server")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

fn lossy(text: &OsStr) -> String {
    text.to_string_lossy().into_owned()
}

/// One word for sh, in single quotes.
fn quote(word: &str) -> String {
    format!("'{}'", word.replace('\'', r"'\''"))
}
