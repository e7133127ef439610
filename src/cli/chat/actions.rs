//! What each typed line does: send a message or run a slash command.
//! Results are system lines; refusals are warnings. Nothing here ends the
//! chat except `/quit`.

use sotto::protocol::message::Body;
use sotto::room::{Block, RoomError, short_fingerprint};
use sotto::sanitize::for_terminal;
use sotto::session::SessionError;
use sotto::store::StoreError;
use sotto::transport::TransportError;

use super::super::output::{columns, member_table};
use super::super::{local, now_ms};
use super::commands::{self, Command, HELP};
use super::{Acked, Chat, setup, show};

/// What the loop does after a line.
pub enum Flow {
    /// Read the next line.
    Continue,
    /// Leave the chat.
    Quit,
}

impl Chat {
    /// Acts on one typed line.
    pub(super) async fn on_line(&mut self, line: &str) -> Flow {
        let command = commands::parse(line);
        if !matches!(command, Command::Quit) {
            self.quit_warned = false;
        }
        match command {
            Command::Empty => {}
            Command::Say(text) => self.send(Body::Text(text.to_owned())).await,
            Command::Me(action) => self.send(Body::Action(action.to_owned())).await,
            Command::Join { invite, local_name } => self.join(invite, local_name).await,
            Command::Switch(room) => self.switch_to(room).await,
            Command::Rooms => self.rooms_table(),
            Command::Quit => return Flow::Quit,
            Command::Help(None) => self.help(),
            Command::Help(Some(topic)) => match commands::help_for(topic) {
                Some(lines) => lines.iter().for_each(|line| self.system(line)),
                None => self.system(&format!("no command {topic}; /help lists them")),
            },
            Command::Usage(usage) => self.system(&format!("usage: {usage}")),
            Command::Unknown(name) => {
                self.system(&format!(
                    "unknown command /{name}; /help lists the commands"
                ));
            }
            command => {
                let Some(index) = self.here() else {
                    self.warning("no room is open: /join INVITE, or /switch ROOM");
                    return Flow::Continue;
                };
                match command {
                    Command::Who => self.who(index),
                    Command::Invite => self.invite(index),
                    Command::Verify {
                        member,
                        fingerprint,
                    } => self.verify(index, member, fingerprint),
                    Command::Kick(member) => self.kick(index, member).await,
                    Command::Leave => self.leave(index).await,
                    Command::Accept(member) => self.accept(index, member),
                    _ => {}
                }
            }
        }
        Flow::Continue
    }

    /// Sends a line to the room on screen and shows it once, marked
    /// pending until the broker confirms it.
    async fn send(&mut self, body: Body) {
        let Some(index) = self.here() else {
            self.warning("not sent: no room is open (/join INVITE, or /switch ROOM)");
            return;
        };
        let sent_at = now_ms();
        let live = &mut self.rooms.live[index];
        match live.session.send_tracked(body.clone()).await {
            Ok(outgoing) => {
                let line = show::own_line(&self.style, self.identity.name(), &body, sent_at, None);
                let line = self.out.own_line(line);
                live.shown_own.insert(outgoing.seq);
                live.pending.insert(outgoing.seq, line);
                let answers = self.acked_tx.clone();
                let room = live.id;
                let seq = outgoing.seq;
                tokio::spawn(async move {
                    let outcome = outgoing
                        .acked
                        .await
                        .unwrap_or(Err(TransportError::NotAcknowledged));
                    let _ = answers.send(Acked {
                        room,
                        seq,
                        line,
                        outcome,
                    });
                });
            }
            Err(SessionError::Room(RoomError::SendBlocked(block))) => {
                self.warning(&format!("not sent: {}", blocked_text(&block)));
            }
            Err(err) => self.warning(&format!("not sent: {err}")),
        }
    }

    async fn join(&mut self, invite: &str, local_name: Option<&str>) {
        match local::join_room(&self.store, invite, local_name, setup::JOIN_RENAME_HINT) {
            Ok(joined) => {
                self.system(&joined.describe());
                self.switch_to(&joined.name).await;
            }
            Err(err) => {
                self.warning(&format!("could not join: {}", super::super::describe(&err)));
            }
        }
    }

    /// Puts another room on screen. Every room is live already; one that
    /// is not (joined meanwhile, or stopped) is opened now.
    async fn switch_to(&mut self, room: &str) {
        if let Some(index) = self.rooms.by_name(room) {
            if self.here() == Some(index) {
                return self.system(&format!("You are already in {room}."));
            }
            return self.show_room(index, true);
        }
        match self.store.room(room) {
            Ok(_) => {}
            Err(StoreError::RoomNotFound(_)) => {
                return self.warning(&format!(
                    "no room called {:?}; /rooms lists your rooms",
                    for_terminal(room)
                ));
            }
            Err(err) => return self.warning(&err.to_string()),
        }
        match self.open(room).await {
            Ok(index) => self.show_room(index, true),
            Err(err) => self.warning(&format!(
                "could not open {room}: {}",
                super::super::describe(&err)
            )),
        }
    }

    /// `/rooms`: every joined room, with what is unread and who is online.
    fn rooms_table(&self) {
        let rooms = match self.store.rooms() {
            Ok(rooms) => rooms,
            Err(err) => return self.warning(&err.to_string()),
        };
        let rows: Vec<Vec<String>> = rooms
            .iter()
            .map(|room| {
                let live = self.rooms.by_name(room.name()).map(|i| &self.rooms.live[i]);
                let here = live.is_some_and(|live| self.current == Some(live.id));
                let unread = match live {
                    Some(live) if live.mentions > 0 => {
                        format!("{} ({} for you)", live.unread, live.mentions)
                    }
                    Some(live) if live.unread > 0 => live.unread.to_string(),
                    Some(_) => String::new(),
                    None => "(not open)".to_owned(),
                };
                let online = live.map(|live| live.online.join(", ")).unwrap_or_default();
                vec![
                    format!("{}{}", if here { "* " } else { "  " }, room.name()),
                    unread,
                    room.members().len().to_string(),
                    online,
                ]
            })
            .collect();
        for line in columns(&["  ROOM", "UNREAD", "MEMBERS", "ONLINE"], &rows) {
            self.system(&line);
        }
    }

    /// Removes a member: a commit to a new epoch they never get the key of.
    async fn kick(&mut self, index: usize, member: &str) {
        let session = &mut self.rooms.live[index].session;
        let fingerprint = match session
            .room()
            .map_err(anyhow::Error::from)
            .and_then(|room| {
                if room.log().is_none() {
                    return Err(RoomError::NoLog.into());
                }
                room.resolve_member(member).map_err(anyhow::Error::from)
            }) {
            Ok(fingerprint) => fingerprint,
            Err(err) => {
                self.warning(&format!("not removed: {err}"));
                return;
            }
        };
        let session = &mut self.rooms.live[index].session;
        match session
            .commit(sotto::log::Change::Remove {
                member: fingerprint,
            })
            .await
        {
            Ok((epoch, change)) => {
                self.rooms.live[index].refresh_members();
                self.system(&super::super::net::membership_text(&change, epoch));
            }
            Err(err) => self.warning(&format!("not removed: {err}")),
        }
    }

    /// Leaves the room on screen for good: a signed leave commit for the
    /// others, then it is forgotten here.
    async fn leave(&mut self, index: usize) {
        let session = &mut self.rooms.live[index].session;
        let has_log = session.room().is_ok_and(|room| room.log().is_some());
        if !has_log {
            return self.warning(&format!("not left: {}", RoomError::NoLog));
        }
        if let Err(err) = session.commit(sotto::log::Change::Leave).await {
            return self.warning(&format!("not left: {err}"));
        }
        let live = self.rooms.live.remove(index);
        let name = live.name.clone();
        live.session.leave().await;
        if let Err(err) = self.store.delete_room(&live.id) {
            self.warning(&format!("could not forget {name} here: {err}"));
        }
        self.system(&format!("You left {}.", for_terminal(&name)));
        self.after_room_gone(&live.id);
    }

    fn who(&self, index: usize) {
        let room = match self.rooms.live[index].session.room() {
            Ok(room) => room,
            Err(err) => return self.warning(&err.to_string()),
        };
        for line in member_table(&room) {
            self.system(&line);
        }
    }

    fn invite(&self, index: usize) {
        let room = match self.rooms.live[index].session.room() {
            Ok(room) => room,
            Err(err) => return self.warning(&err.to_string()),
        };
        self.warning(&format!(
            "Invite for {} (epoch {}). It is a SECRET: anyone holding it can read the room. \
             Share it privately; the other side runs `sotto join` with it, or /join INVITE in chat.",
            room.name(),
            room.epoch()
        ));
        // Alone on its line, so it can be copied whole.
        self.out.line(room.invite().encode());
    }

    fn verify(&self, index: usize, member: &str, fingerprint: &str) {
        if let Err(err) = sotto::identity::check_typed_fingerprint(fingerprint) {
            return self.warning(&format!("not verified: {err}"));
        }
        let live = &self.rooms.live[index];
        let id = live.id;
        let verified = self.store.update_room(&id, |room| {
            let key = room.verify(member, fingerprint)?;
            Ok::<_, RoomError>((key, room.tagged(&key), room.blocked_by().to_vec()))
        });
        match verified {
            Ok(Ok((key, tagged, blocks))) => {
                self.system(&format!(
                    "Verified {tagged} in {} (fingerprint {key}).",
                    live.name
                ));
                self.still_blocked(&blocks);
            }
            Ok(Err(err)) => self.warning(&err.to_string()),
            Err(err) => self.warning(&err.to_string()),
        }
    }

    /// `/accept MEMBER`: lifts that one key's block. Without MEMBER, says
    /// which keys are waiting, so the user picks one on purpose.
    fn accept(&self, index: usize, member: Option<&str>) {
        let live = &self.rooms.live[index];
        let id = live.id;
        let Some(member) = member else {
            let room = match live.session.room() {
                Ok(room) => room,
                Err(err) => return self.warning(&err.to_string()),
            };
            if room.blocked_by().is_empty() {
                return self.system("No key is waiting to be accepted.");
            }
            for block in room.blocked_by() {
                self.warning(&format!("waiting: {}", blocked_text(block)));
            }
            return self.system("usage: /accept MEMBER (a name, or 8+ digits of the fingerprint)");
        };
        let accepted = self.store.update_room(&id, |room| {
            let key = room.resolve_member(member)?;
            let lifted = room.accept(&key)?;
            Ok::<_, RoomError>((room.tagged(&key), lifted, room.blocked_by().to_vec()))
        });
        match accepted {
            Ok(Ok((tagged, true, blocks))) => {
                self.system(&format!(
                    "Accepted the new key of {tagged}; it stays unverified until you compare \
                     fingerprints and /verify it."
                ));
                self.still_blocked(&blocks);
            }
            Ok(Ok((tagged, false, _))) => self.system(&format!(
                "Nothing to accept: {tagged}'s key is not a key change or look-alike waiting for you."
            )),
            Ok(Err(err)) => self.warning(&err.to_string()),
            Err(err) => self.warning(&err.to_string()),
        }
    }

    /// One warning per key that still blocks sending, if any.
    fn still_blocked(&self, blocks: &[Block]) {
        for block in blocks {
            self.warning(&format!("still blocking: {}", blocked_text(block)));
        }
    }

    fn help(&self) {
        self.system("Type a line to send it. Commands:");
        for (usage, what) in HELP {
            self.system(&format!("  {usage:<28} {what}"));
        }
    }
}

/// Why a key blocks sending, with the commands that lift it, in chat's
/// words.
pub(super) fn blocked_text(block: &Block) -> String {
    let key = short_fingerprint(&block.fingerprint);
    let what = match &block.lookalike_of {
        None => format!(
            "{}'s key changed since you verified it (new key {key}…).",
            block.name
        ),
        Some(of) => format!(
            "a new key ({key}…) calls itself {}, which looks like {of}, a name you verified.",
            block.name
        ),
    };
    format!(
        "{what} Compare fingerprints and /verify {key} FINGERPRINT, or /accept {key}, then send again."
    )
}
