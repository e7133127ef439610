//! Getting to a room the first time, without reading any docs: ask for a
//! name and make the identity, offer to create a room (or take an
//! invite), and pick which room to open.

use anyhow::bail;
use sotto::identity::normalize_name;
use sotto::invite::Invite;
use sotto::room::validate_room_name;
use sotto::sanitize::for_terminal;
use sotto::store::Store;

use sotto::secret::Passphrase;

use super::super::render::Style;
use super::super::{local, unlock};
use super::terminal::{Input, Printer, Terminal};

/// The room offered on first run.
const FIRST_ROOM: &str = "general";

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
    // SOTTO_PASSPHRASE is used as `sotto init` uses it, without asking.
    if unlock::passphrase_in_env() || !asker.term.is_interactive() {
        // The same as `sotto init --name NAME`; it prints the fingerprint.
        return local::init(store, &name, false, false);
    }
    let passphrase = offer_passphrase(asker).await?;
    local::init_protected(store, &name, passphrase)
}

/// Offers to protect the new key with a passphrase (default no), typed
/// twice without echo. Only on a terminal: a pipe cannot hide it.
async fn offer_passphrase(asker: &mut Asker<'_>) -> anyhow::Result<Option<Passphrase>> {
    let answer = asker
        .ask(
            "Protect your secret key with a passphrase (asked each time sotto starts)? [y/N] ",
            Some("n"),
            |answer| match yes_or_no(answer) {
                Some(_) => Ok(()),
                None => Err("answer y or n".to_owned()),
            },
            "no answer; run `sotto init --name NAME` or chat again",
        )
        .await?;
    if yes_or_no(&answer) != Some(true) {
        asker.system("No passphrase: anyone who can read your files can use your key. `sotto passphrase` adds one later.");
        return Ok(None);
    }
    asker.out.flush().await;
    loop {
        match tokio::task::spawn_blocking(unlock::ask_new_passphrase).await?? {
            Some(Ok(pass)) => return Ok(Some(pass)),
            Some(Err(typed)) => asker.warning(&format!("{}; type it again.", typed.as_str())),
            None => {
                asker.warning(
                    "there is no terminal to type a passphrase on; going on without one (`sotto passphrase` adds one later)",
                );
                return Ok(None);
            }
        }
    }
}

/// `Some(true)` for yes, `Some(false)` for no, `None` for anything else.
fn yes_or_no(answer: &str) -> Option<bool> {
    match answer.trim().to_lowercase().as_str() {
        "y" | "yes" => Some(true),
        "n" | "no" => Some(false),
        _ => None,
    }
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
/// pasted at the same prompt. A mistyped invite, or one that cannot be
/// used, is asked for again with the reason.
async fn first_room(store: &Store, default: &str, asker: &mut Asker<'_>) -> anyhow::Result<String> {
    asker.system(&format!(
        "You have no rooms yet. Name a new room (Enter for {default}), or paste an invite someone gave you."
    ));
    loop {
        let answer = asker
            .ask(
                &format!("Room name [{default}]: "),
                Some(default),
                check_first_answer,
                "no room to open; create one with `sotto room create NAME` or join with `sotto join INVITE`",
            )
            .await?;
        asker.out.flush().await;
        if !is_invite_attempt(&answer) {
            // The same as `sotto room create NAME`: prints the invite and
            // says it is a secret.
            local::room_create(
                store,
                &answer,
                local::InviteOptions {
                    expires: None,
                    uses: 1,
                    log: true,
                },
            )?;
            return Ok(answer);
        }
        match local::join_room(store, &answer, None, JOIN_RENAME_HINT) {
            Ok(joined) => {
                asker.system(&joined.describe());
                return Ok(joined.name);
            }
            Err(err) => asker.warning(&format!(
                "could not join with that invite: {}. Paste another, or name a new room.",
                super::super::describe(&err)
            )),
        }
    }
}

/// Whether the first-run answer is meant as an invite: it starts like one,
/// or is too long and unbroken to be a room name (an invite with a
/// mistyped prefix).
fn is_invite_attempt(answer: &str) -> bool {
    // Room names may start with "sotto" ("sotto-dev"); invites are
    // hundreds of characters without a space.
    answer.to_ascii_lowercase().starts_with("sotto1")
        || (answer.len() > 40 && !answer.contains(char::is_whitespace))
}

/// The first-run answer is a usable invite or room name; otherwise one
/// sentence on what is wrong (never the invite itself: it is a secret).
fn check_first_answer(answer: &str) -> Result<(), String> {
    if is_invite_attempt(answer) {
        return Invite::decode(answer)
            .map(drop)
            .map_err(|err| format!("{err}; paste it again, or type a room name instead"));
    }
    validate_room_name(answer).map_err(|err| format!("cannot name a room {answer:?}: {err}"))
}

/// How chat users pick another local name for a room they join.
pub const JOIN_RENAME_HINT: &str = "use /join INVITE OTHERNAME";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mistyped_invites_are_told_apart_from_room_names() {
        assert_eq!(check_first_answer("ops"), Ok(()));
        assert_eq!(check_first_answer("team chat"), Ok(()));
        assert_eq!(check_first_answer("sotto-dev"), Ok(()));
        let garbage = check_first_answer("sotto1qqqqqqqqqqqqqqqqqqqqqqqqqqq").unwrap_err();
        assert!(garbage.contains("mistyped"), "{garbage}");
        let long = "x".repeat(50);
        let wrong_prefix = check_first_answer(&format!("sotto2{long}")).unwrap_err();
        assert!(!wrong_prefix.contains(&long), "{wrong_prefix}");
        assert!(
            check_first_answer(&format!("zz1{long}"))
                .unwrap_err()
                .contains("not a sotto invite")
        );
        assert!(
            check_first_answer("a\u{7}b")
                .unwrap_err()
                .starts_with("cannot name a room")
        );
    }

    #[test]
    fn yes_or_no_takes_the_usual_spellings() {
        assert_eq!(yes_or_no("Y"), Some(true));
        assert_eq!(yes_or_no(" yes "), Some(true));
        assert_eq!(yes_or_no("n"), Some(false));
        assert_eq!(yes_or_no("maybe"), None);
    }
}
