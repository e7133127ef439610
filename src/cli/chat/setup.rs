//! Getting to a room the first time, without reading any docs: ask for a
//! name and make the identity, offer to create a room (or take an
//! invite), and pick which room to open.

use anyhow::{Context, bail};
use sotto::identity::{Fingerprint, validate_name};
use sotto::invite::Invite;
use sotto::room::{Room, validate_room_name};
use sotto::sanitize::for_terminal;
use sotto::store::Store;

use super::super::render::Style;
use super::super::{local, now_ms};
use super::terminal::{Input, Printer, Terminal};

/// The room offered on first run.
const FIRST_ROOM: &str = "general";
/// Every invite starts with this (see [`sotto::invite`]).
const INVITE_PREFIX: &str = "sotto1";

/// Where answers come from and questions go.
pub struct Asker<'a> {
    pub term: &'a mut Terminal,
    pub out: &'a Printer,
    pub style: Style,
}

impl Asker<'_> {
    fn system(&self, text: &str) {
        self.out.line(self.style.system(&for_terminal(text)));
    }

    fn warning(&self, text: &str) {
        self.out.line(self.style.warning(&for_terminal(text)));
    }

    /// Asks until `check` accepts the answer (or `default` on an empty
    /// one). End of input gives up with `give_up`.
    async fn ask(
        &mut self,
        prompt: &str,
        default: Option<&str>,
        check: impl Fn(&str) -> Result<(), String>,
        give_up: &str,
    ) -> anyhow::Result<String> {
        loop {
            let answer = match self.term.ask(self.out, prompt).await {
                Input::Line(line) => line.trim().to_owned(),
                Input::Eof | Input::Interrupted => bail!("{give_up}"),
                Input::Failed(err) => bail!("{err}"),
            };
            let answer = match (answer.is_empty(), default) {
                (true, Some(default)) => default.to_owned(),
                (true, None) => continue,
                (false, _) => answer,
            };
            match check(&answer) {
                Ok(()) => return Ok(answer),
                Err(why) => self.warning(&why),
            }
        }
    }
}

/// Creates the identity if there is none, asking for the name.
pub async fn ensure_identity(store: &Store, asker: &mut Asker<'_>) -> anyhow::Result<()> {
    if store.has_identity() {
        return Ok(());
    }
    asker.system("Welcome to sotto. You have no identity yet: pick the name others will see.");
    let name = asker
        .ask(
            "Your name: ",
            None,
            |name| validate_name(name).map_err(|err| format!("cannot use {name:?}: {err}")),
            "no name given; run `sotto init --name NAME` or chat again",
        )
        .await?;
    asker.out.flush().await;
    // The same as `sotto init --name NAME`, without a passphrase (unless
    // SOTTO_PASSPHRASE is set); it prints the fingerprint.
    local::init(store, &name, false, false)
}

/// The room to open: the one asked for, else the only or the first one
/// (saying which), else a new one.
pub async fn choose_room(
    store: &Store,
    requested: Option<&str>,
    asker: &mut Asker<'_>,
) -> anyhow::Result<String> {
    let rooms = store.rooms()?;
    match (requested, rooms.as_slice()) {
        (Some(name), [_, ..]) => {
            store.room(name)?;
            Ok(name.to_owned())
        }
        (requested, []) => first_room(store, requested.unwrap_or(FIRST_ROOM), asker).await,
        (None, [only]) => {
            asker.system(&format!("Opening {}, your only room.", only.name()));
            Ok(only.name().to_owned())
        }
        (None, [first, rest @ ..]) => {
            asker.system(&format!(
                "Opening {}, the first of your {} rooms (/rooms lists them, /switch ROOM changes).",
                first.name(),
                rest.len() + 1
            ));
            Ok(first.name().to_owned())
        }
    }
}

/// No rooms yet: create one (printing its invite), or join with an invite
/// pasted at the same prompt.
async fn first_room(store: &Store, default: &str, asker: &mut Asker<'_>) -> anyhow::Result<String> {
    asker.system(&format!(
        "You have no rooms yet. Name a new room (Enter for {default}), or paste an invite someone gave you."
    ));
    let answer = asker
        .ask(
            &format!("Room name [{default}]: "),
            Some(default),
            |answer| {
                if answer.starts_with(INVITE_PREFIX) {
                    return Ok(());
                }
                validate_room_name(answer).map_err(|err| format!("cannot name a room {answer:?}: {err}"))
            },
            "no room to open; create one with `sotto room create NAME` or join with `sotto join INVITE`",
        )
        .await?;
    asker.out.flush().await;
    if answer.starts_with(INVITE_PREFIX) {
        let joined = join_room(store, &answer, None)?;
        asker.system(&joined.describe());
        return Ok(joined.name);
    }
    // The same as `sotto room create NAME`: prints the invite and says it
    // is a secret.
    local::room_create(store, &answer)?;
    Ok(answer)
}

/// What joining with an invite did.
pub struct Joined {
    /// The room's local name.
    pub name: String,
    /// Whether the room was already joined.
    pub already: bool,
    /// The inviter's fingerprint, trusted when that key appears.
    pub inviter: Fingerprint,
}

impl Joined {
    /// One sentence for a system line.
    pub fn describe(&self) -> String {
        if self.already {
            format!("You are already in this room, as {}.", self.name)
        } else {
            format!(
                "Joined room {}. Invited by the member with fingerprint {}; sotto trusts that key when it appears.",
                self.name, self.inviter
            )
        }
    }
}

/// Adds a room from an invite, as `sotto join` does (the same checks, in
/// the same order), but tells the caller instead of printing.
pub fn join_room(store: &Store, text: &str, local_name: Option<&str>) -> anyhow::Result<Joined> {
    let invite = Invite::decode(text)?;
    let me = store.public_identity()?;
    let local_name = local_name.unwrap_or(&invite.room_name);
    validate_room_name(local_name).with_context(|| format!("cannot name a room {local_name:?}"))?;
    let lock = store.lock()?;
    if let Some(existing) = store.room_by_id(&invite.room_id)? {
        if invite.epoch <= existing.epoch() {
            return Ok(Joined {
                name: existing.name().to_owned(),
                already: true,
                inviter: invite.inviter,
            });
        }
        bail!(
            "you are already in this room as {}, at an older epoch; \
             ask a member to re-add you so sotto can verify the new key",
            for_terminal(existing.name())
        );
    }
    if store.room(local_name).is_ok() {
        bail!(
            "you already have a different room called {local_name:?}; use /join INVITE OTHERNAME"
        );
    }
    let room = Room::join(&invite, local_name, &me, now_ms())?;
    store.save_room(&lock, &room)?;
    Ok(Joined {
        name: room.name().to_owned(),
        already: false,
        inviter: invite.inviter,
    })
}
