//! Capturing a child process's output while it runs, so a test can wait for
//! a line (e.g. `sotto listen` saying it is subscribed) with a deadline.

use std::io::Read;
use std::process::Child;
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

type Buffer = Arc<Mutex<Vec<u8>>>;

fn pump(mut from: impl Read + Send + 'static, into: Buffer) -> JoinHandle<()> {
    thread::spawn(move || {
        let mut chunk = [0u8; 8192];
        loop {
            match from.read(&mut chunk) {
                Ok(0) | Err(_) => return,
                Ok(n) => into
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .extend_from_slice(&chunk[..n]),
            }
        }
    })
}

/// The stdout and stderr of a child spawned with `Stdio::piped()`, read on
/// background threads as they are produced.
pub struct ChildOutput {
    stdout: Buffer,
    stderr: Buffer,
    threads: Vec<JoinHandle<()>>,
}

impl ChildOutput {
    /// Takes the child's piped stdout/stderr (whichever are piped).
    pub fn capture(child: &mut Child) -> Self {
        let stdout = Buffer::default();
        let stderr = Buffer::default();
        let mut threads = Vec::new();
        if let Some(out) = child.stdout.take() {
            threads.push(pump(out, stdout.clone()));
        }
        if let Some(err) = child.stderr.take() {
            threads.push(pump(err, stderr.clone()));
        }
        Self {
            stdout,
            stderr,
            threads,
        }
    }

    /// Stdout so far (lossy UTF-8).
    pub fn stdout(&self) -> String {
        String::from_utf8_lossy(&self.stdout.lock().unwrap_or_else(|e| e.into_inner())).into_owned()
    }

    /// Stderr so far (lossy UTF-8).
    pub fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.stderr.lock().unwrap_or_else(|e| e.into_inner())).into_owned()
    }

    /// Waits until the complete lines of stdout so far satisfy `probe`;
    /// panics at the deadline, showing stdout and stderr.
    pub fn wait_for_stdout<T>(
        &self,
        what: &str,
        timeout: Duration,
        mut probe: impl FnMut(&[&str]) -> Option<T>,
    ) -> T {
        let deadline = Instant::now() + timeout;
        let mut interval = Duration::from_millis(1);
        loop {
            let out = self.stdout();
            let complete = out.rfind('\n').map_or("", |i| &out[..i]);
            let lines: Vec<&str> = complete.lines().collect();
            if let Some(v) = probe(&lines) {
                return v;
            }
            let now = Instant::now();
            if now >= deadline {
                panic!(
                    "timed out after {timeout:?} waiting for {what}\n--- stdout ---\n{out}\n--- stderr ---\n{}",
                    self.stderr()
                );
            }
            thread::sleep(interval.min(deadline - now));
            interval = (interval * 2).min(Duration::from_millis(20));
        }
    }

    /// Waits until a complete stdout line satisfies `pred`; returns it.
    pub fn wait_for_stdout_line(
        &self,
        what: &str,
        timeout: Duration,
        mut pred: impl FnMut(&str) -> bool,
    ) -> String {
        self.wait_for_stdout(what, timeout, |lines| {
            lines.iter().find(|l| pred(l)).map(|l| (*l).to_owned())
        })
    }

    /// Waits until stdout has at least `n` complete lines; returns the first `n`.
    pub fn wait_for_stdout_lines(&self, n: usize, timeout: Duration) -> Vec<String> {
        self.wait_for_stdout(&format!("{n} stdout line(s)"), timeout, |lines| {
            (lines.len() >= n).then(|| lines[..n].iter().map(|l| (*l).to_owned()).collect())
        })
    }

    /// Waits for the pipes to close (the child exited) and returns
    /// `(stdout, stderr)`.
    pub fn finish(mut self) -> (String, String) {
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
        (self.stdout(), self.stderr())
    }
}

/// The lines of a child's stdout, read on a thread as they come, waited
/// for by content (for interactive children such as `chat` on pipes,
/// where a test reacts to each line rather than to the whole output).
pub struct Lines(std::sync::mpsc::Receiver<String>);

impl Lines {
    /// Starts reading `from` line by line.
    pub fn of(from: impl Read + Send + 'static) -> Self {
        let (tx, rx) = std::sync::mpsc::channel();
        thread::spawn(move || {
            for line in std::io::BufRead::lines(std::io::BufReader::new(from)) {
                let Ok(line) = line else { return };
                if tx.send(line).is_err() {
                    return;
                }
            }
        });
        Self(rx)
    }

    /// Every line up to and including the first containing `needle`;
    /// panics with the lines seen if none does within `timeout` (or the
    /// stream ends first).
    pub fn until(&self, needle: &str, timeout: Duration) -> Vec<String> {
        let deadline = Instant::now() + timeout;
        let mut seen = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.0.recv_timeout(left) {
                Ok(line) => {
                    let found = line.contains(needle);
                    seen.push(line);
                    if found {
                        return seen;
                    }
                }
                Err(why) => {
                    panic!("no line with {needle:?} within {timeout:?} ({why}); saw {seen:#?}")
                }
            }
        }
    }
}
