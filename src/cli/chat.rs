//! `sotto chat`: the interactive client. One room is open at a time; lines
//! typed go through [`commands`], incoming events are printed above the
//! prompt by [`terminal`]'s printer, and every piece of text that came
//! from another member goes through [`super::render`], which sanitises it.
//!
//! The async side owns the [`RoomSession`] and waits on two things at once:
//! the next line the user typed and the next event from the room.

mod actions;
mod commands;
mod setup;
mod terminal;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::anyhow;
use sotto::identity::Identity;
use sotto::room::Trust;
use sotto::sanitize::for_terminal;
use sotto::session::{BrokerConfig, RoomSession, SessionError, SessionEvent};
use sotto::store::Store;
use sotto::transport::TransportError;

use super::args::Cli;
use super::render::{Style, presence_text, use_colour};
use super::{net, unlock};
use actions::Flow;
use setup::Asker;
use terminal::{Ask, Input, Printer, Terminal};

/// How many lines of history to show when a room opens.
const SCREENFUL: usize = 20;

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
        let mut chat = Chat {
            store: self.store.clone(),
            identity,
            broker: self.broker,
            fallback: self.fallback,
            style: self.style,
            out: out.clone(),
            verbose: self.verbose,
        };
        let session = chat.open(&room).await?;
        chat.recall(&session);
        chat.announce(&session);
        chat.talk(term, session).await
    }
}

/// The state of a running chat, apart from the open room.
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
}

/// What woke the loop up.
enum Step {
    Input(Input),
    Event(Result<SessionEvent, SessionError>),
    Interrupt,
}

impl Chat {
    /// A system line; the text is sanitised again, whatever its source.
    fn system(&self, text: &str) {
        self.out.line(self.style.system(&for_terminal(text)));
    }

    /// A warning line, sanitised like [`Chat::system`].
    fn warning(&self, text: &str) {
        self.out.line(self.style.warning(&for_terminal(text)));
    }

    /// Opens a room. When the default broker does not answer, starts the
    /// built-in one there and tries once more; a broker the user chose
    /// that does not answer is an error.
    async fn open(&mut self, room: &str) -> anyhow::Result<RoomSession> {
        match self.try_open(room).await {
            Err(SessionError::Transport(TransportError::Unreachable { .. })) if self.fallback => {
                self.fallback = false;
                // The default broker's address (127.0.0.1:1883), so that
                // other sotto commands with no --broker find it too.
                let url = &self.broker.url;
                let listen: SocketAddr = format!("{}:{}", url.host, url.port).parse()?;
                self.system(&format!(
                    "No MQTT broker answers at {listen}; starting sotto's built-in broker there, \
                     for trying things out (use Mosquitto for real use)"
                ));
                tokio::task::spawn_blocking(move || super::broker::spawn_builtin(listen)).await??;
                Ok(self.try_open(room).await?)
            }
            other => Ok(other?),
        }
    }

    async fn try_open(&self, room: &str) -> Result<RoomSession, SessionError> {
        RoomSession::open(
            self.store.clone(),
            self.identity.clone(),
            room,
            &self.broker,
        )
        .await
    }

    /// Shows the last screenful of the room's history, dimmed, so the
    /// conversation picks up where it was; what arrives after it is new.
    fn recall(&self, session: &RoomSession) {
        let Ok(room) = session.room() else { return };
        match self.store.history(room.id(), SCREENFUL, 0) {
            Ok((messages, _)) if !messages.is_empty() => {
                for message in &messages {
                    self.out.line(self.style.history(message));
                }
                self.system("(earlier messages above; what arrived while you were away follows)");
            }
            Ok(_) => {}
            Err(err) => self.warning(&format!("could not read the history: {err}")),
        }
    }

    /// Says where the user is and whether sending is blocked.
    fn announce(&self, session: &RoomSession) {
        let room = match session.room() {
            Ok(room) => room,
            Err(err) => return self.warning(&err.to_string()),
        };
        let online = (room.members().values())
            .filter(|m| m.online && m.trust != Trust::Own)
            .count();
        let members = room.members().len();
        self.system(&format!(
            "You are in {} as {} ({members} member{}, {online} online; broker {}). /help lists the commands.",
            room.name(),
            self.identity.name(),
            if members == 1 { "" } else { "s" },
            self.broker.url,
        ));
        for block in room.blocked_by() {
            self.warning(&format!(
                "Sending is blocked: {}",
                actions::blocked_text(block)
            ));
        }
    }

    /// The loop: one line or one event at a time until the user leaves.
    /// Closes the session (offline presence) however it ends.
    async fn talk(&mut self, term: &mut Terminal, mut session: RoomSession) -> anyhow::Result<()> {
        // On a terminal Ctrl-C is a key rustyline reads; only on a pipe
        // does it arrive as a signal.
        let signals = !term.is_interactive();
        loop {
            let prompt = format!("{}> ", for_terminal(session.room_name()));
            term.request(&prompt, Ask::Chat);
            let step = tokio::select! {
                input = term.next() => Step::Input(input),
                event = session.next_event() => Step::Event(event),
                () = interrupted(signals) => Step::Interrupt,
            };
            let flow = match step {
                Step::Input(Input::Line(line)) => self.on_line(&mut session, &line).await,
                Step::Input(Input::Eof | Input::Interrupted) | Step::Interrupt => Flow::Quit,
                Step::Input(Input::Failed(err)) => {
                    session.close().await;
                    return Err(anyhow!(err));
                }
                Step::Event(Ok(event)) => {
                    self.show(event);
                    Flow::Continue
                }
                Step::Event(Err(err)) => {
                    session.close().await;
                    return Err(anyhow!(err).context("chat cannot go on"));
                }
            };
            match flow {
                Flow::Continue => {}
                Flow::Quit => {
                    self.drain(&mut session).await;
                    self.system(&format!("Leaving {}.", session.room_name()));
                    session.close().await;
                    return Ok(());
                }
                Flow::Switch(target) => session = self.switch(session, &target).await?,
            }
        }
    }

    /// Leaves one room for another. The old session is closed first (its
    /// broker queue then keeps what arrives until the user comes back);
    /// if the new room cannot be opened, the old one is opened again.
    async fn switch(&mut self, mut old: RoomSession, target: &str) -> anyhow::Result<RoomSession> {
        self.drain(&mut old).await;
        let previous = old.room_name().to_owned();
        old.close().await;
        match self.open(target).await {
            Ok(session) => {
                self.recall(&session);
                self.announce(&session);
                Ok(session)
            }
            Err(err) => {
                self.warning(&format!(
                    "could not open {target}: {}; back to {previous}",
                    super::describe(&err)
                ));
                let session = self.open(&previous).await?;
                self.announce(&session);
                Ok(session)
            }
        }
    }

    /// Shows what already arrived for a room about to be closed, so the
    /// user sees it now rather than when they come back (unshown messages
    /// are not lost either way: they are acknowledged only once handled,
    /// so the broker would deliver them again).
    async fn drain(&self, session: &mut RoomSession) {
        while let Ok(Ok(event)) = tokio::time::timeout(DRAIN, session.next_event()).await {
            self.show(event);
        }
        if let Err(err) = session.delivered().await {
            self.warning(&format!("could not save the last message: {err}"));
        }
    }

    /// Prints one event from the room.
    fn show(&self, event: SessionEvent) {
        match event {
            SessionEvent::Message(delivery) => {
                for notice in &delivery.notices {
                    self.out.line(self.style.notice(notice));
                }
                self.out.line(self.style.message(&delivery, None));
            }
            SessionEvent::Presence(update) => {
                for notice in &update.notices {
                    self.out.line(self.style.notice(notice));
                }
                if update.changed {
                    self.system(&presence_text(&update));
                }
            }
            SessionEvent::Notices(notices) => {
                for notice in &notices {
                    self.out.line(self.style.notice(notice));
                }
            }
            SessionEvent::Dropped(err) => {
                self.warning(&format!(
                    "dropped a payload: {err}; nothing from it is shown"
                ));
            }
            SessionEvent::DroppedMore { count } => {
                self.warning(&format!(
                    "dropped {count} more payloads without showing each"
                ));
            }
            SessionEvent::Discarded { bytes } => self.warning(&net::discarded_text(bytes)),
            SessionEvent::Unacknowledged { count } => {
                self.warning(&net::unacknowledged_text(count));
            }
            SessionEvent::Warning(text) => self.warning(&text),
            SessionEvent::Note(text) => {
                if self.verbose {
                    self.system(&text);
                }
            }
            SessionEvent::Membership { change, epoch } => {
                self.system(&net::membership_text(&change, epoch));
            }
            SessionEvent::Removed { by } => self.warning(&net::removed_text("this room", &by)),
            SessionEvent::Connected { reconnect: true } => self.system("reconnected"),
            SessionEvent::Connected { reconnect: false } => {}
            SessionEvent::Disconnected { reason } => {
                self.system(&format!(
                    "lost connection to the broker ({reason}); reconnecting"
                ));
            }
        }
    }
}

/// Resolves on Ctrl-C when `enabled`; otherwise never.
async fn interrupted(enabled: bool) {
    if enabled && tokio::signal::ctrl_c().await.is_ok() {
        return;
    }
    std::future::pending::<()>().await;
}
