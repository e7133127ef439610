//! What an event of a room looks like: in full for the room on screen;
//! for the others, a count (and one line per visit), mentions in full,
//! and whatever the user must know at once (warnings, removals).

use sotto::room::Notice;
use sotto::session::SessionEvent;

use super::super::net;
use super::super::render::{LineContext, mentions, presence_text};
use super::Chat;
use super::screen::{Connection, OwnLine};

impl Chat {
    /// Shows one event of the room at `index`.
    pub(super) fn show(&mut self, index: usize, event: SessionEvent) {
        let Some(live) = self.rooms.live.get(index) else {
            return;
        };
        let here = self.current == Some(live.id);
        // Other rooms' lines carry the room's name.
        let tag = (!here).then(|| live.name.clone());
        let tagged = |text: &str| match &tag {
            Some(room) => format!("[{room}] {text}"),
            None => text.to_owned(),
        };
        match event {
            SessionEvent::Message(delivery) => {
                self.notices(&delivery.notices, tag.as_deref());
                self.watchers.deliver(&live.id, &delivery);
                let me = self.identity.name();
                let mentioned = mentions(delivery.body.text(), me);
                let live = &mut self.rooms.live[index];
                let mut context = LineContext {
                    room: None,
                    mention_of: Some(me),
                    // Sent before this chat opened the room: it waited at
                    // the broker while we were away.
                    backlog: delivery.sent_at_ms < live.opened_ms,
                };
                if here {
                    self.out.line(self.style.message_in(&delivery, &context));
                    return;
                }
                live.unread += 1;
                if mentioned {
                    live.mentions += 1;
                    context.room = Some(&live.name);
                    let line = self.style.message_in(&delivery, &context);
                    self.out
                        .line(format!("{} {line}", self.style.warning("mentioned you:")));
                } else if !live.noticed {
                    live.noticed = true;
                    let line = format!(
                        "new in {}: a message from {} (/switch {} to read)",
                        live.name, delivery.from, live.name
                    );
                    self.system(&line);
                }
            }
            SessionEvent::OwnEcho { seq } => self.own_echo(index, seq),
            SessionEvent::Presence(update) => {
                self.notices(&update.notices, tag.as_deref());
                self.rooms.live[index].refresh_members();
                if update.changed && here {
                    self.system(&presence_text(&update));
                }
            }
            SessionEvent::Notices(notices) => self.notices(&notices, tag.as_deref()),
            SessionEvent::Dropped(err) => self.warning(&tagged(&format!(
                "dropped a payload: {err}; nothing from it is shown"
            ))),
            SessionEvent::DroppedMore { count } => self.warning(&tagged(&format!(
                "dropped {count} more payloads without showing each"
            ))),
            SessionEvent::Discarded { bytes } => {
                self.warning(&tagged(&net::discarded_text(bytes)));
            }
            SessionEvent::Unacknowledged { count } => {
                self.warning(&tagged(&net::unacknowledged_text(count)));
            }
            SessionEvent::Warning(text) => self.warning(&tagged(&text)),
            SessionEvent::Note(text) => {
                if self.verbose {
                    self.system(&tagged(&text));
                }
            }
            SessionEvent::Membership { change, epoch } => {
                self.rooms.live[index].refresh_members();
                self.system(&tagged(&net::membership_text(&change, epoch)));
            }
            SessionEvent::Removed { by } => {
                let name = live.name.clone();
                self.warning(&net::removed_text(&name, &by));
                self.rooms.live[index].pending.clear();
                // The session has nothing more to show: it is closed by
                // the loop's next pass (see `Chat::forget_removed`).
                self.rooms.live[index].removed = true;
            }
            SessionEvent::JoinRefused { by, reason } => {
                self.warning(&tagged(&net::refused_text(&by, &reason)));
            }
            SessionEvent::Connected { reconnect, node } => {
                let live = &mut self.rooms.live[index];
                live.connection = Connection::Connected {
                    node: node.to_string(),
                };
                live.refresh_members();
                if reconnect && here {
                    self.system(&format!("connected to {node}"));
                }
            }
            SessionEvent::Disconnected { reason, node, next } => {
                self.rooms.live[index].connection = Connection::Reconnecting {
                    node: next.as_ref().unwrap_or(&node).to_string(),
                };
                if here {
                    self.system(&net::lost_text(&node, next.as_ref(), &reason));
                }
            }
        }
    }

    fn notices(&self, notices: &[Notice], room: Option<&str>) {
        for notice in notices {
            let line = self.style.notice(notice);
            match room {
                Some(room) => self.out.line(format!("[{}] {line}", for_room(room))),
                None => self.out.line(line),
            }
        }
    }

    /// One of our messages came back from the broker: a line of this chat
    /// is confirmed, or one sent by another process of this home (`sotto
    /// send`) is shown.
    fn own_echo(&mut self, index: usize, seq: u64) {
        let live = &mut self.rooms.live[index];
        if let Some(line) = live.pending.remove(&seq) {
            self.out.mark(line, super::screen::Mark::Acked);
            return;
        }
        // A copy on an older epoch's topic, or one we showed already.
        if !live.shown_own.insert(seq) {
            return;
        }
        let saved = self
            .store
            .saved_message(&live.id, &self.identity.fingerprint(), seq);
        let Ok(Some(message)) = saved else {
            return;
        };
        // Sent before this chat opened the room: an echo of a line the
        // history already showed.
        if message.sent_at_ms < live.opened_ms {
            return;
        }
        let room = (self.current != Some(live.id)).then(|| live.name.clone());
        let line = own_line(
            &self.style,
            &message.from,
            &message.body,
            message.sent_at_ms,
            room.as_deref(),
        );
        self.out.own_line(line);
    }
}

/// Our own line as the printer takes it: the mark goes after the time.
pub(super) fn own_line(
    style: &super::super::render::Style,
    from: &str,
    body: &sotto::protocol::message::Body,
    sent_at_ms: u64,
    room: Option<&str>,
) -> OwnLine {
    let full = style.own_message(from, body, sent_at_ms);
    // The line starts with its time, which holds no space.
    let (time, rest) = full.split_once(' ').unwrap_or(("", full.as_str()));
    let rest = match room {
        Some(room) => format!("[{}] {rest}", for_room(room)),
        None => rest.to_owned(),
    };
    OwnLine {
        time: time.to_owned(),
        rest,
    }
}

fn for_room(name: &str) -> String {
    sotto::sanitize::for_terminal(name)
}

/// The most unread messages shown when a room comes on screen.
const MAX_UNREAD_SHOWN: usize = 200;

/// The room on screen: its recent lines, the sentence saying where the
/// user is, the status line and the prompt.
impl Chat {
    /// Puts a room on screen: what was said there lately (what arrived
    /// while the user was elsewhere at full strength), then where the
    /// user is.
    pub(super) fn show_room(&mut self, index: usize, switched: bool) {
        let Some(live) = self.rooms.live.get_mut(index) else {
            return;
        };
        let unread = live.unread;
        live.seen();
        self.current = Some(live.id);
        let id = live.id;
        let name = live.name.clone();
        if switched {
            self.system(&format!("── {} ──", name));
        }
        // A room left alone for a day may hold thousands: the newest
        // ones are shown, and where to find the rest.
        if unread > MAX_UNREAD_SHOWN {
            self.system(&format!(
                "({} earlier unread messages are not shown here; `sotto history {name} --limit {unread}` lists them)",
                unread - MAX_UNREAD_SHOWN
            ));
        }
        let unread = unread.min(MAX_UNREAD_SHOWN);
        match self.store.history(&id, super::SCREENFUL.max(unread), 0) {
            Ok((messages, _)) if !messages.is_empty() => {
                let first_unread = messages.len().saturating_sub(unread);
                for (i, message) in messages.iter().enumerate() {
                    if i < first_unread || message.own {
                        self.out.line(self.style.history(message));
                    } else {
                        let context = LineContext {
                            room: None,
                            mention_of: Some(self.identity.name()),
                            backlog: false,
                        };
                        let line = self.style.message_in(&message.to_delivery(), &context);
                        self.out.line(line);
                    }
                }
                if !switched {
                    self.system(
                        "(earlier messages above; what arrived while you were away follows)",
                    );
                }
            }
            Ok(_) => {}
            Err(err) => self.warning(&format!("could not read the history: {err}")),
        }
        self.announce(index);
    }

    /// Says where the user is and whether sending is blocked.
    pub(super) fn announce(&self, index: usize) {
        let Some(live) = self.rooms.live.get(index) else {
            return;
        };
        let room = match live.session.room() {
            Ok(room) => room,
            Err(err) => return self.warning(&err.to_string()),
        };
        let members = room.members().len();
        self.system(&format!(
            "You are in {} as {} ({members} member{}, {} online; broker {}). /help lists the commands.",
            room.name(),
            self.identity.name(),
            if members == 1 { "" } else { "s" },
            live.online.len(),
            live.session.node(),
        ));
        for block in room.blocked_by() {
            self.warning(&format!(
                "Sending is blocked: {}",
                super::actions::blocked_text(block)
            ));
        }
    }

    /// The status line and the completion candidates, from the rooms as
    /// they are now.
    pub(super) fn refresh_screen(&self) {
        let Some(live) = self.here().and_then(|i| self.rooms.live.get(i)) else {
            return;
        };
        self.out.set_status(super::screen::StatusInfo {
            room: live.name.clone(),
            members: live.members,
            online: live.online.len(),
            connection: live.connection.clone(),
            unread: self.rooms.unread(self.current.as_ref()),
        });
        self.out.set_completions(super::screen::Completions {
            names: live.names.clone(),
            rooms: self
                .rooms
                .live
                .iter()
                .map(|room| room.name.clone())
                .collect(),
        });
    }

    pub(super) fn prompt(&self) -> String {
        match self.here().and_then(|i| self.rooms.live.get(i)) {
            Some(live) => format!("{}> ", sotto::sanitize::for_terminal(&live.name)),
            None => "(no room)> ".to_owned(),
        }
    }
}
