//! What each typed line does: send a message or run a slash command.
//! Results are system lines; refusals are warnings. Nothing here ends the
//! chat except `/quit`.

use sotto::protocol::message::Body;
use sotto::room::{Block, RoomError, RoomId, short_fingerprint};
use sotto::session::{RoomSession, SessionError};

use super::super::output::{member_table, room_table};
use super::super::{local, now_ms};
use super::Chat;
use super::commands::{self, Command, HELP};
use super::setup;

/// What the loop does after a line.
pub enum Flow {
    /// Read the next line.
    Continue,
    /// Leave the chat.
    Quit,
    /// Close this room and open another (it exists).
    Switch(String),
}

impl Chat {
    /// Acts on one typed line.
    pub(super) async fn on_line(&mut self, session: &mut RoomSession, line: &str) -> Flow {
        match commands::parse(line) {
            Command::Empty => {}
            Command::Say(text) => self.send(session, Body::Text(text.to_owned())).await,
            Command::Me(action) => self.send(session, Body::Action(action.to_owned())).await,
            Command::Join { invite, local_name } => return self.join(session, invite, local_name),
            Command::Switch(room) => return self.switch_to(session, room),
            Command::Rooms => self.rooms(session),
            Command::Who => self.who(session),
            Command::Invite => self.invite(session),
            Command::Verify {
                member,
                fingerprint,
            } => self.verify(session, member, fingerprint),
            Command::Kick(member) => self.kick(session, member).await,
            Command::Accept(member) => self.accept(session, member),
            Command::Help => self.help(),
            Command::Quit => return Flow::Quit,
            Command::Usage(usage) => self.system(&format!("usage: {usage}")),
            Command::Unknown(name) => {
                self.system(&format!(
                    "unknown command /{name}; /help lists the commands"
                ));
            }
        }
        Flow::Continue
    }

    /// Sends and echoes the line once (the broker's copy is suppressed
    /// by the room as our own echo).
    async fn send(&self, session: &RoomSession, body: Body) {
        let sent_at = now_ms();
        match session.send(body.clone()).await {
            Ok(()) => {
                let name = self.identity.name();
                self.out.line(self.style.own_message(name, &body, sent_at));
            }
            Err(SessionError::Room(RoomError::SendBlocked(block))) => {
                self.warning(&format!("not sent: {}", blocked_text(&block)));
            }
            Err(err) => self.warning(&format!("not sent: {err}")),
        }
    }

    fn join(&self, session: &RoomSession, invite: &str, local_name: Option<&str>) -> Flow {
        match local::join_room(&self.store, invite, local_name, setup::JOIN_RENAME_HINT) {
            Ok(joined) => {
                self.system(&joined.describe());
                if joined.name == session.room_name() {
                    Flow::Continue
                } else {
                    Flow::Switch(joined.name)
                }
            }
            Err(err) => {
                self.warning(&format!("could not join: {}", super::super::describe(&err)));
                Flow::Continue
            }
        }
    }

    fn switch_to(&self, session: &RoomSession, room: &str) -> Flow {
        if room == session.room_name() {
            self.system(&format!("You are already in {room}."));
            return Flow::Continue;
        }
        match self.store.room(room) {
            Ok(_) => Flow::Switch(room.to_owned()),
            Err(err) => {
                self.warning(&err.to_string());
                Flow::Continue
            }
        }
    }

    fn rooms(&self, session: &RoomSession) {
        let rooms = match self.store.rooms() {
            Ok(rooms) => rooms,
            Err(err) => return self.warning(&err.to_string()),
        };
        for line in room_table(&rooms, Some(session.room_name())) {
            self.system(&line);
        }
    }

    /// Removes a member: a commit to a new epoch they never get the key of.
    async fn kick(&self, session: &mut RoomSession, member: &str) {
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
        match session
            .commit(sotto::log::Change::Remove {
                member: fingerprint,
            })
            .await
        {
            Ok((epoch, change)) => {
                self.system(&super::super::net::membership_text(&change, epoch));
            }
            Err(err) => self.warning(&format!("not removed: {err}")),
        }
    }

    fn who(&self, session: &RoomSession) {
        let room = match session.room() {
            Ok(room) => room,
            Err(err) => return self.warning(&err.to_string()),
        };
        for line in member_table(&room) {
            self.system(&line);
        }
    }

    fn invite(&self, session: &RoomSession) {
        let room = match session.room() {
            Ok(room) => room,
            Err(err) => return self.warning(&err.to_string()),
        };
        self.warning(&format!(
            "Invite for {} (epoch {}). It is a SECRET: anyone holding it can read the room. \
             Share it privately; the other side runs `sotto join INVITE` or /join INVITE.",
            room.name(),
            room.epoch()
        ));
        // Alone on its line, so it can be copied whole.
        self.out.line(room.invite().encode());
    }

    fn verify(&self, session: &RoomSession, member: &str, fingerprint: &str) {
        let Some(id) = self.room_id(session) else {
            return;
        };
        let verified = self.store.update_room(&id, |room| {
            let key = room.verify(member, fingerprint)?;
            Ok::<_, RoomError>((key, room.tagged(&key), room.blocked_by().to_vec()))
        });
        match verified {
            Ok(Ok((key, tagged, blocks))) => {
                self.system(&format!(
                    "Verified {tagged} in {} (fingerprint {key}).",
                    session.room_name()
                ));
                self.still_blocked(&blocks);
            }
            Ok(Err(err)) => self.warning(&err.to_string()),
            Err(err) => self.warning(&err.to_string()),
        }
    }

    /// `/accept MEMBER`: lifts that one key's block. Without MEMBER, says
    /// which keys are waiting, so the user picks one on purpose.
    fn accept(&self, session: &RoomSession, member: Option<&str>) {
        let Some(id) = self.room_id(session) else {
            return;
        };
        let Some(member) = member else {
            let room = match session.room() {
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

    fn room_id(&self, session: &RoomSession) -> Option<RoomId> {
        match session.room() {
            Ok(room) => Some(*room.id()),
            Err(err) => {
                self.warning(&err.to_string());
                None
            }
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
