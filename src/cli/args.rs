//! Argument definitions. Every global option also reads an environment
//! variable, so scripts can set them once.

use std::path::PathBuf;

use clap::{Parser, Subcommand};
use sotto::protocol::message::MAX_TEXT_LEN;
use sotto::transport::{BadBrokerUrl, BrokerList, VersionChoice};

use super::config::{ColourMode, Origins, Setting, Source};

/// End-to-end encrypted chat rooms over MQTT: the broker only relays ciphertext.
#[derive(Debug, Parser)]
#[command(
    name = "sotto",
    version,
    about,
    max_term_width = 100,
    after_help = "Settings come from flags, then environment variables, then config.toml in the home; \
                  `sotto config` shows them.\n\nExample:\n  sotto init --name alice\n  sotto room create ops\n  sotto chat ops"
)]
pub struct Cli {
    /// Where identity and state live [default: $XDG_CONFIG_HOME/sotto or ~/.config/sotto]
    #[arg(long, env = "SOTTO_HOME", global = true, value_name = "DIR")]
    pub home: Option<PathBuf>,

    /// MQTT broker: mqtt://host:port or mqtts://host:port, or several comma-separated (cluster nodes, tried in turn) [default: mqtt://127.0.0.1:1883]
    #[arg(long, env = "SOTTO_BROKER", global = true, value_name = "URL", value_parser = broker_list)]
    pub broker: Option<String>,

    /// Broker username (the password comes from SOTTO_PASSWORD, or is asked for on a terminal)
    #[arg(long, env = "SOTTO_USERNAME", global = true)]
    pub username: Option<String>,

    /// MQTT version: auto (5, falling back to 3.1.1 for brokers that refuse it), 5 or 3.1.1
    #[arg(
        long,
        env = "SOTTO_MQTT",
        global = true,
        value_name = "VERSION",
        default_value = "auto"
    )]
    pub mqtt: VersionChoice,

    /// Say on stderr which MQTT version and client id are used, and each reconnect
    #[arg(short, long, global = true)]
    pub verbose: bool,

    /// Extra CA certificates (PEM) to trust for mqtts:// brokers
    #[arg(long, env = "SOTTO_CA_FILE", global = true, value_name = "FILE")]
    pub ca_file: Option<PathBuf>,

    /// Client certificate (PEM) for brokers that require one (mutual TLS)
    #[arg(long, env = "SOTTO_CLIENT_CERT", global = true, value_name = "FILE")]
    pub client_cert: Option<PathBuf>,

    /// The client certificate's private key (PEM; keep it chmod 600)
    #[arg(long, env = "SOTTO_CLIENT_KEY", global = true, value_name = "FILE")]
    pub client_key: Option<PathBuf>,

    /// Colours: auto (on a terminal, unless NO_COLOR is set), on or off
    #[arg(long, global = true, value_name = "WHEN")]
    pub colour: Option<ColourMode>,

    #[command(subcommand)]
    pub command: Command,

    /// Which options came from the environment rather than flags.
    #[arg(skip)]
    pub origins: Origins,

    /// Whether --mqtt or SOTTO_MQTT was given (its value has a default).
    #[arg(skip)]
    pub mqtt_given: bool,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    #[command(
        after_help = "Example:\n  sotto init --name alice\n  sotto init --name alice --passphrase"
    )]
    /// Create your identity (once): an Ed25519 signing key and an X25519 key
    Init {
        /// The name others will see
        #[arg(long)]
        name: String,
        /// Replace an existing identity (its key is lost)
        #[arg(long)]
        force: bool,
        /// Protect the key file with a passphrase (asked for, or SOTTO_PASSPHRASE)
        #[arg(long)]
        passphrase: bool,
    },
    #[command(after_help = "Example:\n  sotto whoami")]
    /// Show your name and fingerprint
    Whoami,
    #[command(after_help = "Example:\n  sotto passphrase\n  sotto passphrase --remove")]
    /// Change, add or remove the passphrase on your key file
    Passphrase {
        /// Remove the passphrase (the key file is then protected only by
        /// its file permissions)
        #[arg(long)]
        remove: bool,
    },
    #[command(
        after_help = "Example:\n  sotto room create ops\n  sotto room invite ops --uses 3 --expires 1d\n  sotto room keep ops 30d"
    )]
    /// Create rooms and invites
    Room {
        #[command(subcommand)]
        action: RoomCommand,
    },
    #[command(
        after_help = "Example:\n  sotto join                           # then paste the invite\n  sotto join - --as work < invite.txt"
    )]
    /// Join a room with an invite someone gave you
    Join {
        /// The invite string (sotto1…). Omit it, or give -, to paste it at
        /// a prompt or pipe it in: an invite is a secret, and the command
        /// line ends up in shell history and process lists
        invite: Option<String>,
        /// Call the room something else locally
        #[arg(long = "as", value_name = "LOCALNAME")]
        local_name: Option<String>,
    },
    #[command(after_help = "Example:\n  sotto rooms")]
    /// List your rooms
    Rooms,
    #[command(after_help = "Example:\n  sotto members ops")]
    /// List a room's known members
    Members {
        /// The room's local name
        room: String,
    },
    #[command(after_help = "Example:\n  sotto verify ops bob 12345 67890 12345 67890 12345 67890")]
    /// Mark a member's key verified after comparing fingerprints out of band
    Verify {
        /// The room's local name
        room: String,
        /// The member: a name, or at least 8 digits of its fingerprint when two keys share a name
        member: String,
        /// The fingerprint they read to you (spaces optional)
        #[arg(required = true, num_args = 1..)]
        fingerprint: Vec<String>,
    },
    #[command(after_help = "Example:\n  sotto accept ops bob 12345 67890 12345 67890 12345 67890")]
    /// Go on after a key change or look-alike without verifying: lifts the block of that one key
    Accept {
        /// The room's local name
        room: String,
        /// The member: a name, or at least 8 digits of its fingerprint when two keys share a name
        member: String,
        /// That key's whole fingerprint, as `sotto members` shows it (spaces optional)
        #[arg(required = true, num_args = 1..)]
        fingerprint: Vec<String>,
    },
    #[command(
        after_help = "Example:\n  sotto send ops \"deploy finished\"\n  make 2>&1 | tail -5 | sotto send ops -"
    )]
    /// Publish one encrypted message and wait for the broker's acknowledgement
    Send {
        /// The room's local name
        room: String,
        /// The text ("/me waves" sends an action); "-" or none reads all of
        /// standard input as one message
        text: Option<String>,
    },
    #[command(after_help = "Example:\n  sotto kick ops mallory")]
    /// Remove a member from a room: the room moves to a new key they never get
    ///
    /// Only admins may remove. Prints the new epoch number.
    Kick {
        /// The room's local name
        room: String,
        /// A name, or a fingerprint prefix of at least 8 digits
        member: String,
    },
    #[command(after_help = "Example:\n  sotto leave ops")]
    /// Leave a room: a signed leave for the others, then the room is forgotten here
    Leave {
        /// The room's local name
        room: String,
    },
    #[command(after_help = "Example:\n  sotto admin ops bob")]
    /// Make a member an admin (admins may remove members)
    Admin {
        /// The room's local name
        room: String,
        /// A name, or a fingerprint prefix of at least 8 digits
        member: String,
    },
    #[command(
        after_help = "Example:\n  sotto listen ops\n  sotto listen ops --json --count 1 --timeout 60"
    )]
    /// Print decrypted messages as they arrive
    Listen {
        /// The room's local name
        room: String,
        /// One JSON object per message line: room, from, fingerprint, verified, text, ts, seq,
        /// action, warning, delayed, received_ts (everything else goes to stderr)
        #[arg(long)]
        json: bool,
        /// Exit after N messages
        #[arg(long, value_name = "N")]
        count: Option<u64>,
        /// Exit after SECS seconds (with --count: exit 3 if fewer than N arrived)
        #[arg(long, value_name = "SECS")]
        timeout: Option<u64>,
    },
    #[command(
        after_help = "Example:\n  sotto history ops --since 7d\n  sotto history ops --json --limit 500"
    )]
    /// Show a room's message history (oldest first)
    History {
        /// The room's local name
        room: String,
        /// One JSON object per line, as `listen --json` prints them
        #[arg(long)]
        json: bool,
        /// At most N messages, the newest
        #[arg(long, value_name = "N", default_value_t = 50)]
        limit: usize,
        /// Only messages since WHEN: a duration ago (30m, 7d) or a date (2026-11-20)
        #[arg(long, value_name = "WHEN")]
        since: Option<String>,
    },
    #[command(after_help = "Example:\n  sotto check")]
    /// Check this home's database, rooms and history for damage
    Check,
    #[command(after_help = "Example:\n  sotto forget ops")]
    /// Delete a room's message history on this device
    Forget {
        /// The room's local name
        room: String,
    },
    /// The interactive chat client
    ///
    /// Type a line to send it; a line that starts with / is one of the commands below.
    // The slash commands and the example are added in `cli::command` from
    // the chat's own command table, so this help cannot drift from it.
    Chat {
        /// The room to open (default: your only room, or the first)
        room: Option<String>,
    },
    #[command(
        after_help = "Example:\n  sotto bench\n  sotto bench --messages 1000 --rounds 3 --json"
    )]
    /// Measure sotto against plain MQTT and the bare crypto on one broker, like `openssl speed`
    ///
    /// Starts its own Mosquitto on a free loopback port unless --broker is given; on a
    /// broker you give, it deletes every retained record and session it created.
    Bench {
        /// Messages per throughput and fan-out run (latency uses at most 1000)
        #[arg(long, value_name = "N", default_value_t = 5000,
              value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
        messages: u64,
        /// Bytes of text per message
        #[arg(long, value_name = "BYTES", default_value_t = 200,
              value_parser = clap::value_parser!(u64).range(16..=MAX_TEXT_LEN as u64))]
        size: u64,
        /// Receiving members in the fan-out run
        #[arg(long, value_name = "M", default_value_t = 5,
              value_parser = clap::value_parser!(u64).range(1..=100))]
        members: u64,
        /// Repeat every run N times and report medians
        #[arg(long, value_name = "N", default_value_t = 1,
              value_parser = clap::value_parser!(u64).range(1..=20))]
        rounds: u64,
        /// Also print every figure as one JSON object, on the last line
        #[arg(long)]
        json: bool,
    },
    #[command(after_help = "Example:\n  sotto broker --listen 127.0.0.1:1883")]
    /// Run a built-in MQTT broker for trying sotto out (use Mosquitto for real use)
    Broker {
        /// Address to listen on
        #[arg(long, default_value = "127.0.0.1:1883", value_name = "ADDR")]
        listen: std::net::SocketAddr,
    },
    /// Show the settings in force and where each comes from (flag, env, file or default)
    ///
    /// Settings come from flags, then environment variables, then config.toml in the
    /// home, then the defaults. The password is never shown, only whether it is set.
    #[command(
        after_help = "Example:\n  sotto config\n  SOTTO_BROKER=mqtts://chat.example:8883 sotto config"
    )]
    Config,
    /// Print a shell completion script
    #[command(
        after_help = "Example:\n  sotto completions bash > ~/.local/share/bash-completion/completions/sotto\n  sotto completions zsh > ~/.zfunc/_sotto\n  sotto completions fish > ~/.config/fish/completions/sotto.fish"
    )]
    Completions {
        /// The shell
        shell: clap_complete::Shell,
    },
    /// Print the manual page (roff)
    #[command(
        after_help = "Example:\n  sotto man > ~/.local/share/man/man1/sotto.1\n  sotto man | man -l -"
    )]
    Man,
}

#[derive(Debug, Subcommand)]
pub enum RoomCommand {
    #[command(
        after_help = "Example:\n  sotto room create ops\n  sotto room create ops --uses 5 --expires 2d"
    )]
    /// Create a room with a fresh key and print its invite
    Create {
        /// The room's name (shared with invitees, never with the broker)
        name: String,
        #[command(flatten)]
        invite: InviteArgs,
        #[command(flatten)]
        create: CreateArgs,
    },
    #[command(after_help = "Example:\n  sotto room invite ops --uses 2")]
    /// Print an invite to a room, signed by you
    Invite {
        /// The room's local name
        name: String,
        #[command(flatten)]
        invite: InviteArgs,
    },
    #[command(
        after_help = "Example:\n  sotto room keep ops 30d\n  sotto room keep ops 500\n  sotto room keep ops all"
    )]
    /// How much history to keep: a duration (30d), a number of messages (500) or all
    Keep {
        /// The room's local name
        name: String,
        /// 30d, 500 or all
        keep: String,
    },
    #[command(after_help = "Example:\n  sotto room rotate ops")]
    /// Move a room with a log to a fresh key now (any member may); prints the new epoch
    Rotate {
        /// The room's local name
        name: String,
    },
    #[command(after_help = "Example:\n  sotto room upgrade ops")]
    /// Move a room made without a membership log onto one (its creator only): members it knows are listed, others must be invited again
    Upgrade {
        /// The room's local name
        name: String,
    },
    #[command(
        after_help = "Example:\n  sotto room rotate-after ops 500\n  sotto room rotate-after ops 1d\n  sotto room rotate-after ops never"
    )]
    /// When a room with a log moves to a fresh key on its own (default: 1000 messages of yours or 7d)
    RotateAfter {
        /// The room's local name
        name: String,
        /// A number of your messages (1000), a duration (7d) or never
        schedule: String,
    },
}

/// How long an invite works and for how many people.
#[derive(Debug, clap::Args)]
pub struct InviteArgs {
    /// How long the invite works: 30s, 1h, 7d (default 7d)
    #[arg(long, value_name = "DURATION")]
    pub expires: Option<String>,
    /// How many people may join with it
    #[arg(long, value_name = "N", default_value_t = 1,
          value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub uses: u32,
}

/// Options of `room create` only.
#[derive(Debug, clap::Args)]
pub struct CreateArgs {
    /// A room without a membership log, for members still on a sotto
    /// from before it: nobody can be removed, invites do not expire, and
    /// messages have no forward secrecy. (`sotto room upgrade` moves it
    /// onto a log later.)
    #[arg(long)]
    pub no_log: bool,
    /// Accepted for scripts written for the preview: every room has a
    /// membership log now unless --no-log is given.
    #[arg(long, hide = true, conflicts_with = "no_log")]
    pub log: bool,
}

/// Checks a `--broker` value (or `SOTTO_BROKER`) as it is given, so a
/// malformed one is a usage error (exit 2) whatever the command; the text
/// is kept as given, for `sotto config` to show.
fn broker_list(text: &str) -> Result<String, BadBrokerUrl> {
    text.parse::<BrokerList>().map(|_| text.to_owned())
}

/// The broker used when neither --broker nor SOTTO_BROKER is given.
pub const DEFAULT_BROKER: &str = "mqtt://127.0.0.1:1883";

impl Cli {
    /// The broker address as given, or the default.
    pub fn broker_text(&self) -> &str {
        self.broker.as_deref().unwrap_or(DEFAULT_BROKER)
    }

    /// Whether the user left the broker at its default (only then may
    /// `chat` fall back to the built-in broker).
    #[allow(dead_code)] // for chat, in progress
    pub fn broker_is_default(&self) -> bool {
        self.broker.is_none()
    }

    /// The home directory and what chose it: --home, SOTTO_HOME,
    /// $XDG_CONFIG_HOME/sotto, or ~/.config/sotto.
    pub fn home_setting(&self) -> anyhow::Result<Setting<PathBuf>> {
        if let Some(home) = &self.home {
            let source = match self.origins.is_from_env("home") {
                true => Source::Env("SOTTO_HOME"),
                false => Source::Flag("--home"),
            };
            return Ok(Setting {
                value: home.clone(),
                source,
            });
        }
        if let Some(config) = std::env::var_os("XDG_CONFIG_HOME").filter(|v| !v.is_empty()) {
            return Ok(Setting {
                value: PathBuf::from(config).join("sotto"),
                source: Source::Env("XDG_CONFIG_HOME"),
            });
        }
        match std::env::var_os("HOME").filter(|v| !v.is_empty()) {
            Some(home) => Ok(Setting {
                value: PathBuf::from(home).join(".config").join("sotto"),
                source: Source::Default,
            }),
            None => anyhow::bail!(
                "cannot tell where to keep sotto's files; set SOTTO_HOME or pass --home DIR"
            ),
        }
    }
}
