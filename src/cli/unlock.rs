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

/// The home's passphrase: SOTTO_PASSPHRASE, the one typed earlier in this
/// run, or asked now.
fn home_passphrase() -> anyhow::Result<Passphrase> {
    if let Some(pass) = passphrase_from_env() {
        return Ok(pass);
    }
    let mut typed = TYPED.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some(text) = typed.as_ref() {
        return Ok(Passphrase::new(text.clone()));
    }
    let pass = ask("Passphrase for your sotto identity: ")?;
    *typed = Some(String::from_utf8_lossy(pass.as_bytes()).into_owned());
    Ok(pass)
}

/// Forgets a passphrase that turned out wrong, so the next try asks again.
fn forget_passphrase() {
    *TYPED.lock().unwrap_or_else(PoisonError::into_inner) = None;
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
            let protected = keyfile::is_protected(&store.key_text()?).unwrap_or(false);
            let passphrase = if protected {
                Some(home_passphrase()?)
            } else {
                None
            };
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
    let passphrase = if protected {
        Some(home_passphrase()?)
    } else {
        None
    };
    keyfile::decode_storage_key(text, passphrase.as_ref()).map_err(|err| match err {
        KeyFileError::WrongPassphrase => {
            forget_passphrase();
            anyhow::anyhow!(
                "the passphrase is wrong; try again (sotto uses {PASSPHRASE_ENV} when it is set)"
            )
        }
        other => anyhow::anyhow!(
            "{}: {other}; restore it from a backup, or delete it to start this home afresh (its rooms and history are then lost)",
            path.display()
        ),
    })
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
    if !std::io::stdin().is_terminal() {
        bail!("no terminal to ask for the passphrase on; set {PASSPHRASE_ENV}");
    }
    let text = rpassword::prompt_password(prompt).context("could not read the passphrase")?;
    Ok(Passphrase::new(text))
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

/// The new passphrase when changing it: SOTTO_NEW_PASSPHRASE, or asked twice.
pub fn replacement_passphrase() -> anyhow::Result<Passphrase> {
    match std::env::var(NEW_PASSPHRASE_ENV)
        .ok()
        .filter(|p| !p.is_empty())
    {
        Some(pass) => Ok(Passphrase::new(pass)),
        None => ask_twice(),
    }
}

fn ask_twice() -> anyhow::Result<Passphrase> {
    let first = ask("New passphrase: ")?;
    if first.is_empty() {
        bail!(
            "an empty passphrase protects nothing; run again and type one, or leave out --passphrase"
        );
    }
    let second = ask("Repeat passphrase: ")?;
    if first.as_bytes() != second.as_bytes() {
        bail!("the two passphrases differ; run again");
    }
    Ok(first)
}

/// Loads the identity, asking for the passphrase if the key is protected.
pub fn load_identity(store: &Store) -> anyhow::Result<Identity> {
    let public = store.public_identity()?;
    let text = store.key_text()?;
    let path = store.key_path();
    let protected =
        keyfile::is_protected(&text).map_err(|err| anyhow::anyhow!("{}: {err}", path.display()))?;
    let passphrase = if protected {
        Some(home_passphrase()?)
    } else {
        None
    };
    let identity = keyfile::decode(&text, public.name.clone(), passphrase.as_ref()).map_err(
        |err| match err {
            KeyFileError::WrongPassphrase => {
                forget_passphrase();
                anyhow::anyhow!(
                    "the passphrase is wrong; try again (sotto uses {PASSPHRASE_ENV} when it is set)"
                )
            }
            other => anyhow::anyhow!("{}: {other}", path.display()),
        },
    )?;
    if identity.public() != public {
        bail!(
            "{} does not match identity.json in the same directory; restore both from the same backup",
            path.display()
        );
    }
    Ok(identity)
}
