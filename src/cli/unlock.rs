//! Getting at the secret key: reading the key file and, when it is
//! protected, the passphrase (SOTTO_PASSPHRASE, or asked on the terminal).

use std::io::IsTerminal;

use anyhow::{Context, bail};
use sotto::identity::Identity;
use sotto::keyfile::{self, KeyFileError};
use sotto::secret::Passphrase;
use sotto::store::Store;

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
        Some(match passphrase_from_env() {
            Some(pass) => pass,
            None => ask("Passphrase for your sotto identity: ")?,
        })
    } else {
        None
    };
    let identity = keyfile::decode(&text, public.name.clone(), passphrase.as_ref()).map_err(
        |err| match err {
            KeyFileError::WrongPassphrase => anyhow::anyhow!(
                "the passphrase is wrong; try again (sotto uses {PASSPHRASE_ENV} when it is set)"
            ),
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
