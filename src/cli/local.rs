//! Commands that need no network: identity, rooms, invites, trust.

use anyhow::{Context, bail};
use sotto::identity::{Fingerprint, Identity, normalize_name};
use sotto::invite::Invite;
use sotto::keyfile::{self, KdfParams};
use sotto::room::{Block, Room, RoomError, validate_room_name};
use sotto::sanitize::for_terminal;
use sotto::store::Store;

use super::output::{member_table, room_table};
use super::{now_ms, unlock};

pub fn init(store: &Store, typed: &str, force: bool, passphrase: bool) -> anyhow::Result<()> {
    init_with(store, typed, force, || unlock::new_passphrase(passphrase))
}

/// [`init`] with the passphrase (or none) already chosen, as chat's first
/// run asks for it in its own prompts.
pub fn init_protected(
    store: &Store,
    typed: &str,
    passphrase: Option<sotto::secret::Passphrase>,
) -> anyhow::Result<()> {
    init_with(store, typed, false, || Ok(passphrase))
}

/// `init`; `choose` gives the passphrase once the checks have passed.
fn init_with(
    store: &Store,
    typed: &str,
    force: bool,
    choose: impl FnOnce() -> anyhow::Result<Option<sotto::secret::Passphrase>>,
) -> anyhow::Result<()> {
    // Names are kept in NFKC (full-width letters, ligatures and decomposed
    // accents folded), as every receiver insists on.
    let name =
        normalize_name(typed).with_context(|| format!("cannot use {typed:?} as your name"))?;
    let name = name.as_str();
    if store.has_identity() && !force {
        return Err(sotto::store::StoreError::IdentityExists(store.home().to_owned()).into());
    }
    // Replacing an identity (or making one where it was deleted) keeps the
    // home's rooms and history: the storage key is kept (it needs the old
    // passphrase, if there was one).
    let replacing = force || store.storage_key_text()?.is_some();
    let kept = if replacing {
        unlock::current_storage_key(store)
    } else {
        None
    };
    if replacing
        && kept.is_none()
        && store.storage_key_text()?.is_some()
        && let Some(aside) = store.set_database_aside()?
    {
        eprintln!(
            "sotto: the storage key could not be opened, so this home's rooms and history are lost; \
             the old database is kept as {}.",
            aside.display()
        );
    }
    // The old key signs the hand-over of our place in each room with a
    // membership log; without it those rooms need a new invite.
    let old = if force && store.has_identity() {
        unlock::load_identity(store).ok()
    } else {
        None
    };
    if old.is_none()
        && let Some(key) = &kept
    {
        store.open(key.clone())?;
        confirm_rooms_lost(store)?;
    }
    let passphrase = choose()?;
    if let Some(pass) = &passphrase {
        unlock::remember_passphrase(pass);
    }
    let mut rng = rand::rng();
    let identity = Identity::generate(name, &mut rng)?;
    let key_text = keyfile::encode(
        &identity,
        passphrase.as_ref().map(|p| (p, KdfParams::default())),
        &mut rng,
    );
    let lock = store.lock()?;
    store.write_identity(&lock, &identity.public(), &key_text, force)?;
    drop(lock);
    let storage_key = match kept {
        Some(key) => {
            unlock::write_storage_key(store, &key, passphrase.as_ref())?;
            key
        }
        None => unlock::new_storage_key(store, passphrase.as_ref())?,
    };
    store.open(storage_key)?;
    // Every room goes on with the new key; the old one stays known as
    // ours. A room with a log records the hand-over, signed by both keys,
    // and publishes it on its next connection.
    for room in store.rooms()? {
        let handed = store.update_room(room.id(), |room| match &old {
            Some(old) if room.log().is_some() => {
                room.hand_over(old, &identity, now_ms(), &mut rand::rng())
            }
            _ => {
                room.adopt_new_identity(&identity.public(), now_ms());
                Ok(())
            }
        })?;
        if let Err(err) = handed {
            store.update_room(room.id(), |room| {
                room.adopt_new_identity(&identity.public(), now_ms());
                Ok::<_, std::convert::Infallible>(())
            })??;
            eprintln!(
                "sotto: {}: your new key is not a member ({err}); ask an admin to invite you again.",
                for_terminal(room.name())
            );
        }
    }
    println!("Created identity {}", for_terminal(identity.name()));
    println!("fingerprint: {}", identity.fingerprint());
    eprintln!(
        "Your secret key is in {}{}. Compare fingerprints with people in person or by phone.",
        store.key_path().display(),
        if passphrase.is_some() {
            ", protected by your passphrase"
        } else {
            ""
        }
    );
    Ok(())
}

pub fn whoami(store: &Store) -> anyhow::Result<()> {
    let public = store.public_identity()?;
    println!("name: {}", for_terminal(&public.name));
    println!("fingerprint: {}", public.fingerprint());
    Ok(())
}

/// How long an invite works unless `--expires` says otherwise.
pub const DEFAULT_INVITE_LIFETIME_MS: u64 = 7 * 24 * 3600 * 1000;

fn print_invite(room: &Room, me: Option<&sotto::identity::Identity>, expires_ms: u64, uses: u32) {
    let Some(me) = me.filter(|_| room.log().is_some()) else {
        eprintln!(
            "Invite for room {} (epoch {}). It is a SECRET: anyone holding it can read the room. \
             Share it privately; the other side runs `sotto join INVITE`.",
            for_terminal(room.name()),
            room.epoch()
        );
        println!("{}", room.invite().encode());
        return;
    };
    let invite = room.invite_for(me, expires_ms, uses, &mut rand::rng());
    eprintln!(
        "Invite for room {} (epoch {}), valid until {} for {} {}. It is a SECRET: until it is \
         used, anyone holding it can join and read what is sent before then. Share it \
         privately; the other side runs `sotto join INVITE`.",
        for_terminal(room.name()),
        room.epoch(),
        super::render::date_time(expires_ms),
        uses,
        if uses == 1 { "person" } else { "people" },
    );
    println!("{}", invite.encode());
}

pub fn room_create(store: &Store, name: &str, invite: InviteOptions) -> anyhow::Result<()> {
    validate_room_name(name).with_context(|| format!("cannot name a room {name:?}"))?;
    let public = store.public_identity()?;
    // Only a room with a log needs the secret key now (its first commit
    // and its invites are signed).
    let me = if invite.log {
        Some(super::unlock::load_identity(store)?)
    } else {
        None
    };
    let expires_ms = invite.expires_ms()?;
    let lock = store.lock()?;
    if store.room(name).is_ok() {
        bail!("you already have a room called {name:?}; pick another name");
    }
    let room = match &me {
        Some(me) => Room::found(name, me, now_ms(), &mut rand::rng())?,
        None => Room::create(name, &public, now_ms(), &mut rand::rng())?,
    };
    store.save_room(&lock, &room)?;
    drop(lock);
    sotto::session::record_client_id(store, &room)?;
    eprintln!("Created room {}.", for_terminal(name));
    print_invite(&room, me.as_ref(), expires_ms, invite.uses);
    Ok(())
}

/// `--expires` and `--uses` of `room create` and `room invite`.
pub struct InviteOptions {
    /// A duration such as 30s, 1h or 7d.
    pub expires: Option<String>,
    /// How many people may join with it.
    pub uses: u32,
    /// Whether a new room gets a membership log (all do unless
    /// `--no-log`).
    pub log: bool,
}

impl InviteOptions {
    fn expires_ms(&self) -> anyhow::Result<u64> {
        let lifetime = match &self.expires {
            None => DEFAULT_INVITE_LIFETIME_MS,
            Some(text) => sotto::when::parse_duration_ms(text).with_context(|| {
                format!("cannot read --expires {text:?}; write it like 30s, 1h or 7d")
            })?,
        };
        Ok(now_ms().saturating_add(lifetime))
    }
}

pub fn room_invite(store: &Store, name: &str, invite: InviteOptions) -> anyhow::Result<()> {
    store.public_identity()?;
    let room = store.room(name)?;
    if let Some(by) = room.removed_by() {
        bail!(
            "you were removed from {} by {}; only members can invite",
            for_terminal(name),
            for_terminal(by)
        );
    }
    if room.is_joining() {
        bail!(
            "you have not joined {name:?} yet: open it once (sotto chat, listen or send) before inviting others"
        );
    }
    let me = match room.log() {
        Some(_) => Some(super::unlock::load_identity(store)?),
        None => None,
    };
    print_invite(&room, me.as_ref(), invite.expires_ms()?, invite.uses);
    Ok(())
}

pub fn join(store: &Store, text: &str, local_name: Option<&str>) -> anyhow::Result<()> {
    let joined = join_room(store, text, local_name, "join with `--as OTHERNAME`")?;
    if joined.already {
        println!("{}", joined.describe());
        return Ok(());
    }
    println!("Joined room {}.", for_terminal(&joined.name));
    eprintln!(
        "Invited by {}; sotto trusts that key when it appears.{} Run `sotto chat {}` to talk.",
        joined.inviter_text(),
        joined.rejoined_text(),
        for_terminal(&joined.name)
    );
    Ok(())
}

/// What joining with an invite did.
pub struct Joined {
    /// The room's local name.
    pub name: String,
    /// Whether the room was already joined.
    pub already: bool,
    /// The inviter's fingerprint, trusted when that key appears.
    pub inviter: Fingerprint,
    /// The inviter's name, when the invite says (a room with a log).
    pub inviter_name: Option<String>,
    /// Who had removed us, when this invite brought us back: the old
    /// copy of the room was replaced.
    pub removed_by: Option<String>,
}

impl Joined {
    /// One sentence for a system line.
    pub fn describe(&self) -> String {
        if self.already {
            format!("You are already in this room, as {}.", self.name)
        } else {
            format!(
                "Joined room {}. Invited by {}; sotto trusts that key when it appears.{}",
                self.name,
                self.inviter_text(),
                self.rejoined_text()
            )
        }
    }

    /// For a member back after a removal: what happened to the old copy.
    fn rejoined_text(&self) -> String {
        match &self.removed_by {
            Some(by) => format!(
                " You had been removed by {}; what this home kept of that membership is gone.",
                for_terminal(by)
            ),
            None => String::new(),
        }
    }

    /// Who made the invite: name and fingerprint, or the fingerprint
    /// alone for the older kind of invite, which names nobody.
    fn inviter_text(&self) -> String {
        match &self.inviter_name {
            Some(name) => format!("{} (fingerprint {})", for_terminal(name), self.inviter),
            None => format!("the member with fingerprint {}", self.inviter),
        }
    }
}

/// Adds a room from an invite, telling the caller what happened instead of
/// printing (`sotto join` and chat's `/join` show it differently).
/// `rename_hint` says how to pick another local name in the caller's syntax.
/// The invite for `join` without one on the command line: typed at a
/// prompt that does not echo it (it is a secret), or all of standard input
/// when that is not a terminal.
pub fn read_invite() -> anyhow::Result<String> {
    use std::io::{IsTerminal, Read};
    let stdin = std::io::stdin();
    let text = if stdin.is_terminal() {
        rpassword::prompt_password("Paste the invite (it is not shown): ")
            .context("could not read the invite")?
    } else {
        let mut text = String::new();
        stdin
            .lock()
            .take(sotto::invite::MAX_INVITE_LEN as u64 * 4)
            .read_to_string(&mut text)
            .context("could not read the invite from standard input")?;
        text
    };
    if text.trim().is_empty() {
        bail!("no invite given; paste it, pipe it in, or give it after `sotto join`");
    }
    Ok(text)
}

pub fn join_room(
    store: &Store,
    text: &str,
    local_name: Option<&str>,
    rename_hint: &str,
) -> anyhow::Result<Joined> {
    let invite = Invite::decode(text)?;
    let me = store.public_identity()?;
    if let Some(grant) = &invite.grant {
        let inviter = for_terminal(&grant.ticket.inviter.name);
        // Checked by the local clock here; the log decides by the add's
        // signed time, so every member agrees.
        if grant.ticket.expires_ms < now_ms() {
            bail!(
                "this invite expired on {}; ask {inviter} for a new one",
                super::render::date_time(grant.ticket.expires_ms)
            );
        }
        if let Some(holder) = grant
            .state
            .as_ref()
            .and_then(|state| state.roster.name_taken(&me.name, &me.fingerprint()))
        {
            bail!(
                "the room already has a member called {} (or a name that looks the same); \
                 names are bound to keys, so join from an identity with another name",
                for_terminal(&holder.identity.name)
            );
        }
    }
    let lock = store.lock()?;
    let mut replaced = None;
    let removed = store
        .room_by_id(&invite.room_id)?
        .filter(|existing| existing.removed_by().is_some());
    let local_name = match (local_name, &removed) {
        (Some(name), _) => name,
        // Re-invited after a removal: the room comes back under its name.
        (None, Some(existing)) => existing.name(),
        (None, None) => &invite.room_name,
    };
    validate_room_name(local_name).with_context(|| format!("cannot name a room {local_name:?}"))?;
    if let Some(existing) = &removed {
        let by = existing.removed_by().unwrap_or("a member");
        if invite.epoch <= existing.epoch() {
            bail!(
                "this invite is older than your removal from {} by {}; ask for a new one",
                for_terminal(existing.name()),
                for_terminal(by)
            );
        }
        // Nothing of the old membership can be read or sent any more: the
        // invite starts a new one, from the room's current epoch.
        replaced = Some(by.to_owned());
        store.delete_room(existing.id())?;
    } else if let Some(existing) = store.room_by_id(&invite.room_id)? {
        if invite.epoch <= existing.epoch() {
            return Ok(Joined {
                name: existing.name().to_owned(),
                already: true,
                removed_by: None,
                inviter: invite.inviter,
                inviter_name: None,
            });
        }
        bail!(
            "you are already in this room as {}, at an older epoch; \
             ask a member to re-add you so sotto can verify the new key",
            for_terminal(existing.name())
        );
    }
    if store.room(local_name).is_ok() {
        bail!("you already have a different room called {local_name:?}; {rename_hint}");
    }
    let room = Room::join(&invite, local_name, &me, now_ms())?;
    store.save_room(&lock, &room)?;
    drop(lock);
    sotto::session::record_client_id(store, &room)?;
    Ok(Joined {
        name: room.name().to_owned(),
        already: false,
        removed_by: replaced,
        inviter: invite.inviter,
        inviter_name: (invite.grant.as_ref())
            .map(|grant| &grant.ticket.inviter)
            .filter(|inviter| inviter.fingerprint() == invite.inviter)
            .map(|inviter| inviter.name.clone()),
    })
}

pub fn rooms(store: &Store) -> anyhow::Result<()> {
    store.public_identity()?;
    let (rooms, damage) = store.rooms_and_damage()?;
    for err in &damage {
        eprintln!("sotto: {}", sotto::sanitize::for_terminal(&err.to_string()));
    }
    if rooms.is_empty() && damage.is_empty() {
        eprintln!(
            "No rooms yet: create one with `sotto room create NAME` or join with `sotto join INVITE`."
        );
        return Ok(());
    }
    for line in room_table(&rooms) {
        println!("{line}");
    }
    Ok(())
}

pub fn members(store: &Store, name: &str) -> anyhow::Result<()> {
    store.public_identity()?;
    let room = store.room(name)?;
    for line in member_table(&room) {
        println!("{line}");
    }
    Ok(())
}

pub fn verify(store: &Store, name: &str, member: &str, typed: &str) -> anyhow::Result<()> {
    store.public_identity()?;
    let room = store.room(name)?;
    // A typo is not a different key: say which it is (once the member is
    // known to exist, which is the first thing to get right).
    room.resolve_member(member)?;
    sotto::identity::check_typed_fingerprint(typed)?;
    let (fingerprint, tagged, blocks) = store.update_room(room.id(), |room| {
        let fingerprint = room.verify(member, typed)?;
        Ok::<_, RoomError>((
            fingerprint,
            room.tagged(&fingerprint),
            room.blocked_by().to_vec(),
        ))
    })??;
    println!(
        "Verified {} in {} (fingerprint {fingerprint}).",
        for_terminal(&tagged),
        for_terminal(name)
    );
    still_blocked(name, &blocks);
    Ok(())
}

pub fn accept(store: &Store, name: &str, member: &str, typed: &str) -> anyhow::Result<()> {
    store.public_identity()?;
    let room = store.room(name)?;
    let (fingerprint, tagged, lifted, blocks) = store.update_room(room.id(), |room| {
        let fingerprint = room.resolve_member(member)?;
        // Scripts name the key twice: a typo, or a key that changed again
        // since the script was written, accepts nothing.
        if !fingerprint.matches_typed(typed) {
            return Err(RoomError::FingerprintMismatch(room.tagged(&fingerprint)));
        }
        let lifted = room.accept(&fingerprint)?;
        Ok((
            fingerprint,
            room.tagged(&fingerprint),
            lifted,
            room.blocked_by().to_vec(),
        ))
    })??;
    if lifted {
        println!(
            "Accepted the key of {} in {} (fingerprint {fingerprint}); it stays unverified.",
            for_terminal(&tagged),
            for_terminal(name)
        );
    } else {
        println!(
            "Nothing to accept: the key of {} in {} is not a key change or look-alike waiting for you.",
            for_terminal(&tagged),
            for_terminal(name)
        );
    }
    still_blocked(name, &blocks);
    Ok(())
}

/// Says on stderr which keys still block sending to a room, if any.
fn still_blocked(room: &str, blocks: &[Block]) {
    for block in blocks {
        eprintln!(
            "sotto: sending to {} is still blocked: {}",
            for_terminal(room),
            for_terminal(&block.to_string())
        );
    }
}

pub fn change_passphrase(store: &Store, remove: bool) -> anyhow::Result<()> {
    let was_protected = unlock::is_protected(store)?;
    let identity = unlock::load_identity(store)?;
    // Opened with the passphrase just given, to be sealed again with the new one.
    unlock::open_home(store)?;
    let storage_key = unlock::current_storage_key(store);
    let passphrase = if remove {
        None
    } else {
        Some(unlock::replacement_passphrase(was_protected)?)
    };
    let key_text = keyfile::encode(
        &identity,
        passphrase.as_ref().map(|p| (p, KdfParams::default())),
        &mut rand::rng(),
    );
    let lock = store.lock()?;
    store.write_identity(&lock, &identity.public(), &key_text, true)?;
    drop(lock);
    if let Some(key) = storage_key {
        unlock::write_storage_key(store, &key, passphrase.as_ref())?;
    }
    if passphrase.is_some() {
        println!("Your key file and rooms are now protected by the new passphrase.");
    } else {
        println!("Your key file and rooms are no longer protected by a passphrase.");
    }
    Ok(())
}

/// `sotto room rotate-after`: how often a room with a log moves to a fresh
/// key on its own.
pub fn rotate_after(store: &Store, name: &str, schedule: &str) -> anyhow::Result<()> {
    let schedule: sotto::room::RotateAfter = schedule.parse()?;
    let room = store.room(name)?;
    if room.log().is_none() {
        return Err(RoomError::NoLog.into());
    }
    store.update_room(room.id(), |room| {
        room.set_rotate_after(schedule);
        Ok::<_, std::convert::Infallible>(())
    })??;
    eprintln!("{} now rotates its key {schedule}.", for_terminal(name));
    Ok(())
}

/// Before `init --force` goes on without the old key: lists the rooms with
/// a membership log, where the new key will not be a member until someone
/// invites it again, and asks to go on (on a terminal).
fn confirm_rooms_lost(store: &Store) -> anyhow::Result<()> {
    use std::io::{BufRead, IsTerminal, Write};
    let lost: Vec<String> = (store.rooms()?.into_iter())
        .filter(|room| room.log().is_some() && !room.is_joining())
        .map(|room| for_terminal(room.name()))
        .collect();
    if lost.is_empty() {
        return Ok(());
    }
    eprintln!(
        "Without your old key, your new key will not be a member of these rooms until someone invites you again: {}.",
        lost.join(", ")
    );
    if !std::io::stdin().is_terminal() {
        return Ok(());
    }
    eprint!("Go on? [y/N] ");
    std::io::stderr().flush()?;
    let mut answer = String::new();
    std::io::stdin().lock().read_line(&mut answer)?;
    if !matches!(answer.trim(), "y" | "Y" | "yes") {
        bail!("nothing changed");
    }
    Ok(())
}
