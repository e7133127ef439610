//! Getting to a room the first time, without reading any docs: ask for a
//! name and make the identity, offer to create a room (or take an
//! invite), and pick which room to open.

use anyhow::bail;
use sotto::identity::normalize_name;
use sotto::room::validate_room_name;
use sotto::sanitize::for_terminal;
use sotto::store::Store;

use super::super::local;
use super::super::render::Style;
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
            |name| {
                normalize_name(name)
                    .map(drop)
                    .map_err(|err| format!("cannot use {name:?}: {err}"))
            },
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
        let joined = local::join_room(store, &answer, None, JOIN_RENAME_HINT)?;
        asker.system(&joined.describe());
        return Ok(joined.name);
    }
    // The same as `sotto room create NAME`: prints the invite and says it
    // is a secret.
    local::room_create(
        store,
        &answer,
        local::InviteOptions {
            expires: None,
            uses: 1,
            log: false,
        },
    )?;
    Ok(answer)
}

/// How chat users pick another local name for a room they join.
pub const JOIN_RENAME_HINT: &str = "use /join INVITE OTHERNAME";
