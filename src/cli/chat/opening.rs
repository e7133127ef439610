//! Opening and closing the rooms a chat keeps live: every joined room at
//! the start (falling back to the built-in broker once when none answers
//! at the default address), one that fails or that we were removed from
//! along the way, and all of them at the end.

use std::net::SocketAddr;

use sotto::room::RoomId;
use sotto::sanitize::for_terminal;
use sotto::session::{AfterRefusal, RefusalPatience, RoomSession, SessionError, SessionEvent};
use sotto::transport::TransportError;

use super::rooms::LiveRoom;
use super::screen::Mark;
use super::{Chat, DRAIN};

impl Chat {
    /// Opens a room and keeps it live; returns its position. When the
    /// default broker does not answer, starts the built-in one there and
    /// tries once more; a broker the user chose that does not answer is
    /// an error.
    pub(super) async fn open(&mut self, room: &str) -> anyhow::Result<usize> {
        let session = match self.try_open(room).await {
            Err(SessionError::Transport(TransportError::Unreachable { .. })) if self.fallback => {
                self.fallback = false;
                // The default broker's address (127.0.0.1:1883), so that
                // other sotto commands with no --broker find it too.
                let url = self.broker.url.first();
                let listen: SocketAddr = format!("{}:{}", url.host, url.port).parse()?;
                self.system(&format!(
                    "No MQTT broker answers at {listen}; starting sotto's built-in broker there, \
                     for trying things out (use Mosquitto for real use)"
                ));
                let builtin = tokio::task::spawn_blocking(move || {
                    super::super::broker::spawn_builtin(listen)
                })
                .await??;
                self.builtin = Some(builtin);
                self.try_open(room).await?
            }
            other => other?,
        };
        // Once one room is open, the broker is known to answer.
        self.fallback = false;
        self.rooms
            .live
            .push(LiveRoom::new(session, super::super::now_ms()));
        Ok(self.rooms.live.len() - 1)
    }

    /// Opens a room's session; with a list of brokers, waits out a
    /// cluster that refuses subscriptions while it replaces a node.
    async fn try_open(&mut self, room: &str) -> Result<RoomSession, SessionError> {
        let mut patience = RefusalPatience::new(&self.broker);
        loop {
            let opened = RoomSession::open(
                self.store.clone(),
                self.identity.clone(),
                room,
                &self.broker,
            )
            .await;
            let Err(err) = &opened else { return opened };
            match patience.after_open(err) {
                AfterRefusal::GiveUp => return opened,
                AfterRefusal::Retry { note } => {
                    if let Some(note) = note {
                        self.system(&format!("{}: {note}", for_terminal(room)));
                    }
                    patience.pause().await;
                }
            }
        }
    }

    /// Opens every other joined room, so all of them are live. One that
    /// cannot be opened is named, and the chat goes on without it.
    pub(super) async fn open_the_others(&mut self, first: &str) {
        let rooms = match self.store.rooms() {
            Ok(rooms) => rooms,
            Err(err) => return self.warning(&format!("could not list your rooms: {err}")),
        };
        let mut opened = Vec::new();
        for room in rooms.iter().filter(|room| room.name() != first) {
            match self.open(room.name()).await {
                Ok(_) => opened.push(for_terminal(room.name())),
                Err(err) => self.warning(&format!(
                    "{} is not open here: {}",
                    room.name(),
                    open_failure(&err)
                )),
            }
        }
        if !opened.is_empty() {
            self.system(&format!(
                "Also live: {} (/rooms shows unread counts; /switch ROOM changes room).",
                opened.join(", ")
            ));
        }
    }

    /// A room's session failed: say so and go on with the others.
    pub(super) async fn room_failed(&mut self, index: usize, err: &SessionError) {
        if index >= self.rooms.live.len() {
            return;
        }
        let live = self.rooms.live.remove(index);
        self.warning(&format!(
            "{} stopped: {err}; the other rooms go on (/switch {} to open it again)",
            live.name, live.name
        ));
        live.session.close().await;
        self.after_room_gone(&live.id);
    }

    /// Closes the sessions of rooms we were removed from (their last
    /// words are on screen already).
    pub(super) async fn forget_removed(&mut self) {
        while let Some(index) = self.rooms.live.iter().position(|room| room.removed) {
            let live = self.rooms.live.remove(index);
            live.session.close().await;
            self.after_room_gone(&live.id);
        }
    }

    /// The room on screen went away: put another one there.
    pub(super) fn after_room_gone(&mut self, id: &RoomId) {
        self.watchers.room_gone(id);
        if self.current.as_ref() != Some(id) {
            return;
        }
        self.current = None;
        if self.rooms.live.is_empty() {
            self.system("No room is open. /join INVITE, or /switch ROOM to open one again.");
        } else {
            self.show_room(0, true);
        }
    }

    /// Drains and closes every room (offline presence for each).
    pub(super) async fn close_all(&mut self) {
        for live in self.rooms.live.iter() {
            for line in live.pending.values() {
                self.out.mark(*line, Mark::Failed);
            }
        }
        let rooms = std::mem::take(&mut self.rooms.live);
        if !rooms.is_empty() {
            let names: Vec<&str> = rooms.iter().map(|room| room.name.as_str()).collect();
            self.system(&format!("Leaving {}.", names.join(", ")));
        }
        let mut closing = Vec::new();
        for mut live in rooms {
            self.drain(&mut live).await;
            closing.push(live.session.close());
        }
        for close in closing {
            close.await;
        }
        self.current = None;
    }

    /// Shows what already arrived for a room about to be closed, so the
    /// user sees it now rather than when they come back (unshown messages
    /// are not lost either way: they are acknowledged only once handled,
    /// so the broker would deliver them again).
    pub(super) async fn drain(&self, live: &mut LiveRoom) {
        while let Ok(Ok(event)) = tokio::time::timeout(DRAIN, live.session.next_event()).await {
            if let SessionEvent::Message(delivery) = event {
                let room = (self.current != Some(live.id)).then_some(live.name.as_str());
                self.out.line(self.style.message(&delivery, room));
            }
        }
        if let Err(err) = live.session.delivered().await {
            self.warning(&format!("could not save the last message: {err}"));
        }
    }
}

/// Why a room could not be opened, in a few words.
fn open_failure(err: &anyhow::Error) -> String {
    match err.downcast_ref::<SessionError>() {
        Some(SessionError::Busy(_)) => {
            "another sotto process of this home (a listen) holds it; its messages show there"
                .to_owned()
        }
        _ => super::super::describe(err),
    }
}
