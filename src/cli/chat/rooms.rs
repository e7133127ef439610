//! The rooms a chat keeps open: one session (one broker connection) per
//! joined room, all live at once, with what the user has not seen yet in
//! each. Separate connections keep the broker from linking a user's rooms
//! through a shared client id.

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::pin::Pin;
use std::task::Poll;

use sotto::room::{RoomId, Trust};
use sotto::session::{RoomSession, SessionError, SessionEvent};

use super::screen::{Connection, LineId, Unread};

/// One open room.
pub struct LiveRoom {
    pub session: RoomSession,
    pub id: RoomId,
    pub name: String,
    /// Messages that arrived while another room was on screen.
    pub unread: usize,
    /// Of those, how many mention the user.
    pub mentions: usize,
    /// Whether the "new messages in ROOM" line was printed since the user
    /// last looked at the room (one line per visit, then only the count).
    pub noticed: bool,
    /// How many members the room has, their names (for completion) and
    /// the others who are online (sorted, ready to print): read from the
    /// saved room when presence or membership changes, not per event.
    pub members: usize,
    pub names: Vec<String>,
    pub online: Vec<String>,
    pub connection: Connection,
    /// When this chat opened the room: messages sent before it were
    /// waiting at the broker (backlog).
    pub opened_ms: u64,
    /// Our lines sent from this chat and not yet confirmed, by number.
    pub pending: HashMap<u64, LineId>,
    /// Our numbers this chat has shown (sent here, or echoed from another
    /// process of this home): another copy of one is not news.
    pub shown_own: HashSet<u64>,
    /// We were removed (or left): the session has nothing more to show.
    pub removed: bool,
}

impl LiveRoom {
    pub fn new(session: RoomSession, opened_ms: u64) -> Self {
        let node = session.node().to_string();
        let mut live = Self {
            id: *session.room_id(),
            name: session.room_name().to_owned(),
            session,
            unread: 0,
            mentions: 0,
            noticed: false,
            members: 0,
            names: Vec::new(),
            online: Vec::new(),
            connection: Connection::Connected { node },
            opened_ms,
            pending: HashMap::new(),
            shown_own: HashSet::new(),
            removed: false,
        };
        live.refresh_members();
        live
    }

    /// Members, their names and who of the others is online, as saved.
    pub fn refresh_members(&mut self) {
        let Ok(room) = self.session.room() else {
            return;
        };
        self.members = room.members().len();
        self.names = (room.members().values())
            .map(|m| m.identity.name.clone())
            .collect();
        self.online = (room.members().values())
            .filter(|m| m.online && m.trust != Trust::Own)
            .map(|m| sotto::sanitize::for_terminal(&m.identity.name))
            .collect();
        self.online.sort();
    }

    /// The user is looking at the room now.
    pub fn seen(&mut self) {
        self.unread = 0;
        self.mentions = 0;
        self.noticed = false;
    }
}

/// The open rooms, in the order they were opened.
#[derive(Default)]
pub struct Rooms {
    pub live: Vec<LiveRoom>,
    /// Where the next wait starts looking, so a busy room cannot keep the
    /// others' events waiting.
    turn: usize,
}

impl Rooms {
    pub fn position(&self, id: &RoomId) -> Option<usize> {
        self.live.iter().position(|room| room.id == *id)
    }

    pub fn by_name(&self, name: &str) -> Option<usize> {
        self.live.iter().position(|room| room.name == name)
    }

    /// Unread counts of every room but `except`, for the status line.
    pub fn unread(&self, except: Option<&RoomId>) -> Vec<Unread> {
        (self.live.iter())
            .filter(|room| Some(&room.id) != except && room.unread > 0)
            .map(|room| Unread {
                room: room.name.clone(),
                messages: room.unread,
                mentions: room.mentions,
            })
            .collect()
    }

    /// The next event of any room, with the room's position. Each room's
    /// `next_event` is cancel-safe, so the ones that lose the race lose
    /// nothing. Never resolves while no room is open.
    pub async fn next_event(&mut self) -> (usize, Result<SessionEvent, SessionError>) {
        let count = self.live.len();
        if count == 0 {
            return std::future::pending().await;
        }
        let start = self.turn % count;
        self.turn = self.turn.wrapping_add(1);
        type Waiting<'a> =
            Pin<Box<dyn Future<Output = (usize, Result<SessionEvent, SessionError>)> + 'a>>;
        let mut waiting: Vec<Waiting<'_>> = (self.live.iter_mut().enumerate())
            .map(|(index, room)| -> Waiting<'_> {
                Box::pin(async move { (index, room.session.next_event().await) })
            })
            .collect();
        waiting.rotate_left(start);
        std::future::poll_fn(|cx| {
            for future in waiting.iter_mut() {
                if let Poll::Ready(ready) = future.as_mut().poll(cx) {
                    return Poll::Ready(ready);
                }
            }
            Poll::Pending
        })
        .await
    }
}
