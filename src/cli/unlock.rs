//! Getting at the secrets: the identity key file and the storage key that
//! unlocks the home's rooms and history, both sealed under one passphrase
//! (SOTTO_PASSPHRASE, or asked on the terminal once per run).

use std::io::IsTerminal;
use std::sync::{Mutex, PoisonError};

use anyhow::{Context, bail};
use sotto::identity::Identity;
use sotto::keyfile::{self, KdfParams, KeyFileError};
use sotto::secret::{Passphrase, SymmetricKey};
use sotto::store::Store;

/// The passphrase once typed, so one prompt unlocks both files.
static TYPED: Mutex<Option<String>> = Mutex::new(None);

/// How many times a mistyped passphrase is asked again before giving up.
const PASSPHRASE_TRIES: usize = 3;

/// Opens something sealed under the home's passphrase: `attempt` is tried
/// with SOTTO_PASSPHRASE, else with the passphrase typed earlier in this
/// run, else with one asked on the terminal, up to three times. `other`
/// turns any failure but a wrong passphrase into the error to show.
fn unlock_with<T>(
    protected: bool,
    mut attempt: impl FnMut(Option<&Passphrase>) -> Result<T, KeyFileError>,
    other: impl Fn(KeyFileError) -> anyhow::Error,
) -> anyhow::Result<T> {
    if !protected {
        return attempt(None).map_err(other);
    }
    if let Some(pass) = passphrase_from_env() {
        return match attempt(Some(&pass)) {
            Err(KeyFileError::WrongPassphrase) => bail!(
                "the passphrase is wrong (it comes from {PASSPHRASE_ENV}); set the right one, or unset it to type it"
            ),
            result => result.map_err(other),
        };
    }
    let mut typed = TYPED.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some(text) = typed.as_ref() {
        match attempt(Some(&Passphrase::new(text.clone()))) {
            // Another file of this home under another passphrase (changed
            // half way): ask.
            Err(KeyFileError::WrongPassphrase) => *typed = None,
            result => return result.map_err(other),
        }
    }
    for try_number in 1..=PASSPHRASE_TRIES {
        let pass = ask("Passphrase for your sotto identity: ")?;
        match attempt(Some(&pass)) {
            Err(KeyFileError::WrongPassphrase) if try_number < PASSPHRASE_TRIES => {
                eprintln!("sotto: that passphrase is wrong; try again.");
            }
            Err(KeyFileError::WrongPassphrase) => break,
            result => {
                if result.is_ok() {
                    *typed = Some(String::from_utf8_lossy(pass.as_bytes()).into_owned());
                }
                return result.map_err(other);
            }
        }
    }
    bail!(
        "the passphrase was wrong {PASSPHRASE_TRIES} times; run the command again to retry \
         (`sotto passphrase` changes it once you know it)"
    )
}

/// Unlocks the home's rooms and history: opens the storage key (asking
/// for the passphrase when it is protected) and the database. A home from
/// sotto 0.1 gets a storage key here and its rooms are moved into the
/// encrypted database.
pub fn open_home(store: &Store) -> anyhow::Result<()> {
    store.public_identity()?;
    let key = match store.storage_key_text()? {
        Some(text) => open_storage_key(store, &text)?,
        None => {
            if let Some(aside) = store.set_database_aside()? {
                eprintln!(
                    "sotto: the storage key {} is gone, so this home's rooms and history cannot be read \
                     and are lost; the old database is kept as {}. Starting afresh: join your rooms again.",
                    store.storage_key_path().display(),
                    aside.display()
                );
            }
            // The new storage key is sealed under the identity's
            // passphrase: checked on the key file, so a typo is not sealed in.
            let text = store.key_text()?;
            let name = store.public_identity()?.name;
            let protected = keyfile::is_protected(&text).unwrap_or(false);
            let passphrase = unlock_with(
                protected,
                |pass| keyfile::decode(&text, name.clone(), pass).map(|_| pass.cloned()),
                |err| anyhow::anyhow!("{}: {err}", store.key_path().display()),
            )?;
            new_storage_key(store, passphrase.as_ref())?
        }
    };
    let imported = store.open(key)?;
    if !imported.is_empty() {
        eprintln!(
            "sotto: moved {} room(s) from sotto 0.1's files into the encrypted database ({}).",
            imported.len(),
            store.database_path().display()
        );
    }
    Ok(())
}

fn open_storage_key(store: &Store, text: &str) -> anyhow::Result<SymmetricKey> {
    let path = store.storage_key_path();
    let protected =
        keyfile::is_protected(text).map_err(|err| anyhow::anyhow!("{}: {err}", path.display()))?;
    unlock_with(
        protected,
        |pass| keyfile::decode_storage_key(text, pass),
        |err| {
            anyhow::anyhow!(
                "{}: {err}; restore it from a backup, or delete it to start this home afresh (its rooms and history are then lost)",
                path.display()
            )
        },
    )
}

/// Makes and saves a new storage key, sealed under `passphrase`.
pub fn new_storage_key(
    store: &Store,
    passphrase: Option<&Passphrase>,
) -> anyhow::Result<SymmetricKey> {
    let mut rng = rand::rng();
    let key = SymmetricKey::random(&mut rng);
    write_storage_key(store, &key, passphrase)?;
    Ok(key)
}

/// Saves the storage key sealed under `passphrase` (or in the clear).
pub fn write_storage_key(
    store: &Store,
    key: &SymmetricKey,
    passphrase: Option<&Passphrase>,
) -> anyhow::Result<()> {
    let text = keyfile::encode_storage_key(
        key,
        passphrase.map(|p| (p, KdfParams::default())),
        &mut rand::rng(),
    );
    store.write_storage_key(&text)?;
    Ok(())
}

/// The storage key as it is now, for re-sealing it (passphrase change,
/// `init --force`); `None` when there is none or it cannot be opened.
pub fn current_storage_key(store: &Store) -> Option<SymmetricKey> {
    let text = store.storage_key_text().ok()??;
    open_storage_key(store, &text).ok()
}

const PASSPHRASE_ENV: &str = "SOTTO_PASSPHRASE";
const NEW_PASSPHRASE_ENV: &str = "SOTTO_NEW_PASSPHRASE";

/// A passphrase from the environment, if set and non-empty.
fn passphrase_from_env() -> Option<Passphrase> {
    std::env::var(PASSPHRASE_ENV)
        .ok()
        .filter(|p| !p.is_empty())
        .map(Passphrase::new)
}

fn ask(prompt: &str) -> anyhow::Result<Passphrase> {
    match ask_hidden(prompt, "the passphrase")? {
        Some(text) => Ok(Passphrase::new(text)),
        None => bail!("no terminal to ask for the passphrase on; set {PASSPHRASE_ENV}"),
    }
}

/// Asks for a secret on the terminal without echoing it; `None` when
/// standard input is not a terminal. `what` names it in errors.
fn ask_hidden(prompt: &str, what: &str) -> anyhow::Result<Option<String>> {
    if !std::io::stdin().is_terminal() {
        return Ok(None);
    }
    let text =
        rpassword::prompt_password(prompt).with_context(|| format!("could not read {what}"))?;
    Ok(Some(text))
}

/// The broker password for `user` when SOTTO_PASSWORD is not set: asked
/// on the terminal, or empty without one (scripts against brokers that
/// check only the user name keep working).
pub fn broker_password(user: &str) -> anyhow::Result<String> {
    let prompt = format!(
        "Broker password for {} (SOTTO_PASSWORD skips this): ",
        sotto::sanitize::for_terminal(user)
    );
    Ok(ask_hidden(&prompt, "the broker password")?.unwrap_or_default())
}

/// The passphrase for a new key file, if the user wants one: from
/// SOTTO_PASSPHRASE, or asked twice.
pub fn new_passphrase(requested: bool) -> anyhow::Result<Option<Passphrase>> {
    if let Some(pass) = passphrase_from_env() {
        return Ok(Some(pass));
    }
    if !requested {
        return Ok(None);
    }
    ask_twice().map(Some)
}

/// The new passphrase when changing it: SOTTO_NEW_PASSPHRASE; else, for a
/// key that had none, SOTTO_PASSPHRASE (as `init` takes it); else asked
/// twice on the terminal.
pub fn replacement_passphrase(was_protected: bool) -> anyhow::Result<Passphrase> {
    if let Some(pass) = std::env::var(NEW_PASSPHRASE_ENV)
        .ok()
        .filter(|p| !p.is_empty())
    {
        return Ok(Passphrase::new(pass));
    }
    if !was_protected && let Some(pass) = passphrase_from_env() {
        return Ok(pass);
    }
    if !std::io::stdin().is_terminal() {
        bail!("no terminal to ask for the new passphrase on; set {NEW_PASSPHRASE_ENV}");
    }
    ask_twice()
}

/// Keeps a passphrase just chosen for this run, so opening the home
/// right after making it (chat's first run) does not ask for it again.
pub fn remember_passphrase(pass: &Passphrase) {
    *TYPED.lock().unwrap_or_else(PoisonError::into_inner) =
        Some(String::from_utf8_lossy(pass.as_bytes()).into_owned());
}

/// Whether SOTTO_PASSPHRASE is set (and not empty).
pub fn passphrase_in_env() -> bool {
    passphrase_from_env().is_some()
}

/// What went wrong typing a new passphrase twice.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Typed {
    /// Nothing was typed.
    Empty,
    /// The second differs from the first.
    Differ,
}

impl Typed {
    /// Half a sentence, for the caller to say what to do next.
    pub fn as_str(self) -> &'static str {
        match self {
            Typed::Empty => "an empty passphrase protects nothing",
            Typed::Differ => "the two passphrases differ",
        }
    }
}

/// Asks for a new passphrase twice without echo, for chat's first run:
/// `Ok(None)` when there is no terminal to ask on, `Ok(Some(Err(_)))`
/// when the user should try again.
pub fn ask_new_passphrase() -> anyhow::Result<Option<Result<Passphrase, Typed>>> {
    if !std::io::stdin().is_terminal() {
        return Ok(None);
    }
    ask_twice_once().map(Some)
}

fn ask_twice_once() -> anyhow::Result<Result<Passphrase, Typed>> {
    let first = ask("New passphrase: ")?;
    if first.is_empty() {
        return Ok(Err(Typed::Empty));
    }
    let second = ask("Repeat passphrase: ")?;
    if first.as_bytes() != second.as_bytes() {
        return Ok(Err(Typed::Differ));
    }
    Ok(Ok(first))
}

fn ask_twice() -> anyhow::Result<Passphrase> {
    match ask_twice_once()? {
        Ok(pass) => Ok(pass),
        Err(Typed::Empty) => bail!(
            "{}; run again and type one, or leave out --passphrase",
            Typed::Empty.as_str()
        ),
        Err(Typed::Differ) => bail!("{}; run again", Typed::Differ.as_str()),
    }
}

/// Loads the identity, asking for the passphrase if the key is protected.
pub fn load_identity(store: &Store) -> anyhow::Result<Identity> {
    let public = store.public_identity()?;
    let text = store.key_text()?;
    let path = store.key_path();
    let protected =
        keyfile::is_protected(&text).map_err(|err| anyhow::anyhow!("{}: {err}", path.display()))?;
    let identity = unlock_with(
        protected,
        |pass| keyfile::decode(&text, public.name.clone(), pass),
        |err| anyhow::anyhow!("{}: {err}", path.display()),
    )?;
    if identity.public() != public {
        bail!(
            "{} does not match identity.json in the same directory; restore both from the same backup",
            path.display()
        );
    }
    Ok(identity)
}

/// Whether the identity's key file is protected by a passphrase.
pub fn is_protected(store: &Store) -> anyhow::Result<bool> {
    let path = store.key_path();
    keyfile::is_protected(&store.key_text()?)
        .map_err(|err| anyhow::anyhow!("{}: {err}", path.display()))
}
