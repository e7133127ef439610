//! `sotto chat`: the interactive client. Every joined room is live (a
//! session each, see [`rooms`]); one is on screen at a time and the others
//! count what arrives. Lines typed go through [`commands`], incoming
//! events are printed above the prompt by [`terminal`]'s printer, and
//! every piece of text that came from another member goes through
//! [`super::render`], which sanitises it.
//!
//! The async side owns the sessions and waits on everything at once: the
//! next line the user typed, the next event of any room, the broker's
//! answer to a line we sent, and `listen` processes attaching.

mod actions;
mod attach;
mod commands;
mod completion;
mod opening;
mod rooms;
mod screen;
mod setup;
mod show;
mod terminal;

/// The slash commands with what each does (`/help` and `chat --help`).
pub use commands::HELP as SLASH_COMMANDS;

use std::sync::Arc;
use std::time::Duration;

use anyhow::anyhow;
use sotto::identity::Identity;
use sotto::room::RoomId;
use sotto::sanitize::for_terminal;
use sotto::session::{BrokerConfig, SessionError, SessionEvent};
use sotto::store::Store;
use sotto::transport::TransportError;
use tokio::sync::mpsc;

use super::args::Cli;
use super::render::{Style, use_colour};
use super::{net, unlock};
use actions::Flow;
use rooms::Rooms;
use screen::{LineId, Mark};
use setup::Asker;
use terminal::{Ask, Input, Printer, Terminal};

/// How many lines of history to show when a room comes on screen.
const SCREENFUL: usize = 20;

/// How long `/quit` waits for the broker to confirm lines just sent.
const QUIT_GRACE: Duration = Duration::from_secs(2);

/// How long to keep reading a room's pending events before leaving it.
const DRAIN: Duration = Duration::from_millis(50);

pub fn run(cli: &Cli, store: &Store, room: Option<&str>) -> anyhow::Result<()> {
    let broker = net::broker_config(cli)?;
    let runtime = net::runtime()?;
    let style = Style {
        colour: use_colour(),
    };
    let (mut term, out) = terminal::start(store.history_path())?;
    runtime.block_on(async {
        let setup = Setup {
            store,
            requested: room,
            broker,
            fallback: cli.broker_is_default(),
            style,
            verbose: cli.verbose,
        };
        let result = setup.chat(&mut term, &out).await;
        if let Err(err) = &result
            && term.is_reading()
        {
            // rustyline is still in raw mode, reading a line: let it
            // finish so the terminal is left as it was found.
            let why = super::describe(err);
            out.line(style.warning(&format!("{why}; press Enter to leave")));
        }
        out.flush().await;
        term.close().await;
        result
    })
}

/// What chat needs before a room is open.
struct Setup<'a> {
    store: &'a Store,
    requested: Option<&'a str>,
    broker: BrokerConfig,
    fallback: bool,
    style: Style,
    verbose: bool,
}

impl Setup<'_> {
    async fn chat(self, term: &mut Terminal, out: &Printer) -> anyhow::Result<()> {
        let mut asker = Asker {
            term,
            out,
            style: self.style,
        };
        setup::ensure_identity(self.store, &mut asker).await?;
        // May ask for the passphrase; the input thread is idle meanwhile.
        unlock::open_home(self.store)?;
        let room = setup::choose_room(self.store, self.requested, &mut asker).await?;
        out.flush().await;
        // May ask for the passphrase; the input thread is idle meanwhile.
        let identity = Arc::new(unlock::load_identity(self.store)?);
        let (acked_tx, acked) = mpsc::unbounded_channel();
        let mut chat = Chat {
            store: self.store.clone(),
            identity,
            broker: self.broker,
            fallback: self.fallback,
            style: self.style,
            out: out.clone(),
            verbose: self.verbose,
            rooms: Rooms::default(),
            current: None,
            acked_tx,
            quit_warned: false,
            watchers: attach::Watchers::default(),
            builtin: None,
        };
        let first = chat.open(&room).await?;
        chat.show_room(first, false);
        chat.open_the_others(&room).await;
        let result = chat.talk(term, acked).await;
        chat.close_all().await;
        result
    }
}

/// A running chat.
pub struct Chat {
    store: Store,
    identity: Arc<Identity>,
    broker: BrokerConfig,
    /// Whether an unreachable broker may be replaced by the built-in one
    /// (only when the user left the broker at its default, and once).
    fallback: bool,
    style: Style,
    out: Printer,
    /// Whether to show protocol details (`--verbose`).
    verbose: bool,
    rooms: Rooms,
    /// The room on screen, where typed lines go.
    current: Option<RoomId>,
    /// Where the broker's answers to our lines arrive.
    acked_tx: mpsc::UnboundedSender<Acked>,
    /// `/quit` with lines still unconfirmed warns once before leaving.
    quit_warned: bool,
    /// `listen` processes of this home reading rooms this chat holds.
    watchers: attach::Watchers,
    /// The built-in broker this chat started, which stops with it.
    builtin: Option<super::broker::BuiltinBroker>,
}

/// The broker's answer to one of our lines.
struct Acked {
    room: RoomId,
    seq: u64,
    line: LineId,
    outcome: Result<(), TransportError>,
}

/// What woke the loop up.
enum Step {
    Input(Input),
    Event(usize, Result<SessionEvent, SessionError>),
    Acked(Acked),
    Attach(attach::Request),
    Interrupt,
}

impl Chat {
    /// A system line; the text is sanitised again, whatever its source.
    fn system(&self, text: &str) {
        self.out
            .line(self.style.system(&for_terminal(&slash_advice(text))));
    }

    /// A warning line, sanitised like [`Chat::system`].
    fn warning(&self, text: &str) {
        self.out
            .line(self.style.warning(&for_terminal(&slash_advice(text))));
    }

    /// The position of the room on screen.
    fn here(&self) -> Option<usize> {
        self.current.as_ref().and_then(|id| self.rooms.position(id))
    }

    /// The loop: one line or one event at a time until the user leaves.
    async fn talk(
        &mut self,
        term: &mut Terminal,
        mut acked: mpsc::UnboundedReceiver<Acked>,
    ) -> anyhow::Result<()> {
        // On a terminal Ctrl-C is a key rustyline reads; only on a pipe
        // does it arrive as a signal.
        let mut signals = if term.is_interactive() {
            None
        } else {
            Some(super::net::interrupt_signal()?)
        };
        let mut server = attach::Server::start(&self.store);
        loop {
            self.refresh_screen();
            term.request(&self.prompt(), Ask::Chat);
            let step = tokio::select! {
                input = term.next() => Step::Input(input),
                (index, event) = self.rooms.next_event() => Step::Event(index, event),
                Some(answer) = acked.recv() => Step::Acked(answer),
                Some(request) = server.next() => Step::Attach(request),
                () = interrupted(&mut signals) => Step::Interrupt,
            };
            let flow = match step {
                Step::Input(Input::Line(line)) => {
                    if commands::may_read_ahead(&line) {
                        term.request(&self.prompt(), Ask::Chat);
                    }
                    self.on_line(&line).await
                }
                Step::Input(Input::Eof | Input::Interrupted) | Step::Interrupt => {
                    self.quit_warned = true;
                    Flow::Quit
                }
                Step::Input(Input::Failed(err)) => return Err(anyhow!(err)),
                Step::Event(index, Ok(event)) => {
                    self.show(index, event);
                    Flow::Continue
                }
                Step::Event(index, Err(err)) => {
                    self.room_failed(index, &err).await;
                    Flow::Continue
                }
                Step::Acked(answer) => {
                    self.on_acked(answer);
                    Flow::Continue
                }
                Step::Attach(request) => {
                    self.watchers.add(request, &self.rooms);
                    Flow::Continue
                }
            };
            self.forget_removed().await;
            if let Flow::Quit = flow {
                self.settle_pending(&mut acked).await;
                if self.may_quit() {
                    return Ok(());
                }
            }
        }
    }

    /// Gives lines sent a moment ago the time to be confirmed (a broker
    /// answers in milliseconds), so `/quit` right after a line does not
    /// warn about it.
    async fn settle_pending(&mut self, acked: &mut mpsc::UnboundedReceiver<Acked>) {
        let deadline = tokio::time::Instant::now() + QUIT_GRACE;
        while self.rooms.live.iter().any(|room| !room.pending.is_empty()) {
            tokio::select! {
                Some(answer) = acked.recv() => self.on_acked(answer),
                () = tokio::time::sleep_until(deadline) => return,
            }
        }
    }

    /// Whether to leave now. What quitting would cost is said once first:
    /// lines the broker has not confirmed (they are lost only if they
    /// were never written out), and other people's connections through
    /// the built-in broker this chat runs. A second `/quit` leaves.
    fn may_quit(&mut self) -> bool {
        if self.quit_warned {
            return true;
        }
        let mut costs = Vec::new();
        let unconfirmed: usize = self.rooms.live.iter().map(|room| room.pending.len()).sum();
        if unconfirmed > 0 {
            costs.push(format!(
                "{unconfirmed} line{} not yet confirmed by the broker (marked …) and may not reach the room",
                if unconfirmed == 1 { " is" } else { "s are" },
            ));
        }
        if let Some(builtin) = &self.builtin {
            let online: Vec<String> = (self.rooms.live.iter())
                .flat_map(|live| live.online.iter().cloned())
                .collect::<std::collections::BTreeSet<_>>()
                .into_iter()
                .collect();
            if let Some(warning) = builtin.quit_warning(&online) {
                costs.push(warning);
            }
        }
        if costs.is_empty() {
            return true;
        }
        self.quit_warned = true;
        for cost in costs {
            self.warning(&cost);
        }
        self.warning("/quit again to leave anyway");
        false
    }

    /// The broker answered one of our lines.
    fn on_acked(&mut self, answer: Acked) {
        let Some(index) = self.rooms.position(&answer.room) else {
            return;
        };
        let live = &mut self.rooms.live[index];
        if live.pending.remove(&answer.seq).is_none() {
            // Already confirmed by its echo.
            return;
        }
        match answer.outcome {
            Ok(()) => self.out.mark(answer.line, Mark::Acked),
            Err(TransportError::NotAcknowledged) => {
                // The broker lost our session with it in flight: it may
                // or may not have gone out; its echo would tell.
                live.pending.insert(answer.seq, answer.line);
            }
            Err(err) => {
                self.out.mark(answer.line, Mark::Failed);
                self.warning(&format!("a line was not sent: {err}"));
            }
        }
    }
}

/// Shell commands that errors shared with the command line advise, and
/// what does the same inside chat.
const SLASH_EQUIVALENTS: &[(&str, &str)] = &[
    ("`sotto rooms`", "/rooms"),
    ("`sotto verify`", "/verify"),
    ("`sotto accept`", "/accept"),
    ("`sotto join INVITE`", "/join INVITE"),
    ("`sotto members`", "/who"),
];

/// Advice in chat names slash commands: errors shared with the command
/// line name shell commands, which would send the user out of chat.
fn slash_advice(text: &str) -> String {
    let mut text = text.to_owned();
    for (shell, slash) in SLASH_EQUIVALENTS {
        if text.contains(shell) {
            text = text.replace(shell, slash);
        }
    }
    text
}

/// Resolves on Ctrl-C when it is watched; otherwise never.
async fn interrupted(signals: &mut Option<tokio::signal::unix::Signal>) {
    if let Some(signals) = signals
        && signals.recv().await.is_some()
    {
        return;
    }
    std::future::pending::<()>().await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn advice_in_chat_names_slash_commands() {
        assert_eq!(
            slash_advice("no room called \"x\"; `sotto rooms` lists your rooms"),
            "no room called \"x\"; /rooms lists your rooms"
        );
        assert_eq!(
            slash_advice("then `sotto verify` or `sotto accept` that key"),
            "then /verify or /accept that key"
        );
    }
}
