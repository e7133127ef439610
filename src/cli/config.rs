//! `config.toml` in the home, and how its values meet the command line
//! and the environment: a flag beats an environment variable, which beats
//! the file, which beats the built-in default. `sotto config` shows the
//! outcome with the source of each value.
//!
//! The file is read by hand from a TOML table rather than by serde so that
//! every mistake becomes one sentence naming the file and the key, and so
//! a password put there by mistake is refused with a pointer to
//! SOTTO_PASSWORD instead of being used.

use std::fmt;
use std::path::{Path, PathBuf};

use clap::ValueEnum;
use clap::parser::{ArgMatches, ValueSource};
use sotto::sanitize::for_terminal;
use sotto::transport::VersionChoice;
use sotto::when::Retention;

use super::args::{Cli, DEFAULT_BROKER};

/// The config file's name inside the home.
pub const FILE_NAME: &str = "config.toml";

/// A config file larger than this is a mistake (a log or a key pasted in),
/// not configuration.
const MAX_FILE_LEN: u64 = 64 * 1024;

/// The keys the file may hold, in the order `sotto config` shows them.
const KEYS: &[&str] = &[
    "broker",
    "username",
    "ca_file",
    "client_cert",
    "client_key",
    "colours",
    "keep_history",
];

/// Whether to colour output.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, ValueEnum)]
pub enum ColourMode {
    /// Colour when standard output is a terminal.
    #[default]
    Auto,
    /// Always colour.
    On,
    /// Never colour.
    Off,
}

impl fmt::Display for ColourMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ColourMode::Auto => "auto",
            ColourMode::On => "on",
            ColourMode::Off => "off",
        })
    }
}

/// Where a setting's value came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// A command-line flag.
    Flag(&'static str),
    /// An environment variable.
    Env(&'static str),
    /// The config file at this path.
    File(PathBuf),
    /// Nobody set it.
    Default,
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::Flag(flag) => write!(f, "flag {flag}"),
            Source::Env(name) => write!(f, "env {name}"),
            Source::File(path) => write!(f, "file {}", path.display()),
            Source::Default => f.write_str("default"),
        }
    }
}

/// One effective value and where it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Setting<T> {
    /// The value in force.
    pub value: T,
    /// Who set it.
    pub source: Source,
}

/// A mistake in the config file, as one sentence naming file and key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ConfigError(String);

/// What `config.toml` says; every key is optional.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FileSettings {
    /// Broker URL, or several separated by commas (passed on as written).
    pub broker: Option<String>,
    /// Broker username.
    pub username: Option<String>,
    /// Extra CA certificates (PEM) for `mqtts://`.
    pub ca_file: Option<PathBuf>,
    /// Client certificate (PEM) for brokers that require one.
    pub client_cert: Option<PathBuf>,
    /// The client certificate's private key (PEM).
    pub client_key: Option<PathBuf>,
    /// Whether to colour output.
    pub colours: Option<ColourMode>,
    /// How much history rooms keep unless `sotto room keep` says otherwise.
    pub keep_history: Option<Retention>,
}

impl FileSettings {
    /// Reads the file at `path`; `None` when there is none.
    pub fn load(path: &Path) -> Result<Option<Self>, ConfigError> {
        let name = path.display();
        let meta = match std::fs::metadata(path) {
            Ok(meta) => meta,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(err) => return Err(ConfigError(format!("cannot read {name}: {err}"))),
        };
        if meta.len() > MAX_FILE_LEN {
            return Err(ConfigError(format!(
                "{name} is larger than {} KiB, too large for a config file",
                MAX_FILE_LEN / 1024
            )));
        }
        let bytes =
            std::fs::read(path).map_err(|err| ConfigError(format!("cannot read {name}: {err}")))?;
        let text = String::from_utf8(bytes)
            .map_err(|_| ConfigError(format!("{name} is not UTF-8 text")))?;
        Self::parse(&text, path).map(Some)
    }

    /// Parses the file's text; relative paths in it are taken from the
    /// file's directory, so the file means the same from any directory.
    pub fn parse(text: &str, path: &Path) -> Result<Self, ConfigError> {
        let name = path.display();
        let table: toml::Table = toml::from_str(text).map_err(|err| {
            let line = err.span().map(|span| {
                let before = text.get(..span.start).unwrap_or(text);
                before.matches('\n').count() + 1
            });
            let message = err.message().trim().trim_end_matches('.');
            match line {
                Some(line) => {
                    ConfigError(format!("{name} is not valid TOML: {message} (line {line})"))
                }
                None => ConfigError(format!("{name} is not valid TOML: {message}")),
            }
        })?;
        let dir = path.parent().unwrap_or(Path::new("."));
        let mut settings = Self::default();
        for (key, value) in &table {
            let wrong = |what: &str| ConfigError(format!("{name}: `{key}` must be {what}"));
            match key.as_str() {
                "broker" => {
                    settings.broker = Some(text_value(value).ok_or_else(|| {
                        wrong("a broker URL in quotes, such as \"mqtts://broker.example:8883\" (several separated by commas)")
                    })?);
                }
                "username" => {
                    settings.username =
                        Some(text_value(value).ok_or_else(|| wrong("a user name in quotes"))?);
                }
                "ca_file" | "client_cert" | "client_key" => {
                    let file = text_value(value)
                        .ok_or_else(|| wrong("the path of a PEM file in quotes"))?;
                    let file = dir.join(file);
                    match key.as_str() {
                        "ca_file" => settings.ca_file = Some(file),
                        "client_cert" => settings.client_cert = Some(file),
                        _ => settings.client_key = Some(file),
                    }
                }
                "colours" | "colors" => {
                    let mode = value
                        .as_str()
                        .and_then(|text| ColourMode::from_str(text, true).ok())
                        .ok_or_else(|| wrong("\"on\", \"off\" or \"auto\""))?;
                    settings.colours = Some(mode);
                }
                "keep_history" => {
                    let keep = match value {
                        toml::Value::Integer(count) => {
                            usize::try_from(*count).ok().map(Retention::Count)
                        }
                        toml::Value::String(text) => text.parse().ok(),
                        _ => None,
                    };
                    settings.keep_history = Some(keep.ok_or_else(|| {
                        wrong("\"all\", a number of messages (500) or a duration (\"30d\")")
                    })?);
                }
                "password" => {
                    return Err(ConfigError(format!(
                        "{name}: `password` does not belong in the config file; set SOTTO_PASSWORD, or let sotto ask for it"
                    )));
                }
                _ => {
                    return Err(ConfigError(format!(
                        "{name}: unknown key `{key}` (the keys are {})",
                        KEYS.join(", ")
                    )));
                }
            }
        }
        Ok(settings)
    }
}

/// A non-empty string, trimmed.
fn text_value(value: &toml::Value) -> Option<String> {
    value
        .as_str()
        .map(str::trim)
        .filter(|text| !text.is_empty())
        .map(str::to_owned)
}

/// Which global options the user gave, and how (clap knows whether a
/// value came from a flag or from the environment; the parsed struct
/// does not).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Origins {
    /// Argument ids whose value came from an environment variable.
    from_env: Vec<&'static str>,
}

/// The global options that have an environment variable, with its name.
const ENV_OPTIONS: &[(&str, &str)] = &[
    ("home", "SOTTO_HOME"),
    ("broker", "SOTTO_BROKER"),
    ("username", "SOTTO_USERNAME"),
    ("mqtt", "SOTTO_MQTT"),
    ("ca_file", "SOTTO_CA_FILE"),
    ("client_cert", "SOTTO_CLIENT_CERT"),
    ("client_key", "SOTTO_CLIENT_KEY"),
];

impl Origins {
    /// Records which options came from the environment.
    pub fn from_matches(matches: &ArgMatches) -> Self {
        let from_env = ENV_OPTIONS
            .iter()
            .filter(|(id, _)| {
                matches!(
                    matches
                        .try_get_raw(id)
                        .ok()
                        .flatten()
                        .and(matches.value_source(id)),
                    Some(ValueSource::EnvVariable)
                )
            })
            .map(|(id, _)| *id)
            .collect();
        Self { from_env }
    }

    /// Whether the option with this id came from its environment variable.
    pub fn is_from_env(&self, id: &str) -> bool {
        self.from_env.contains(&id)
    }

    /// Where a value the parser holds came from.
    fn source(&self, id: &'static str, flag: &'static str) -> Source {
        match ENV_OPTIONS.iter().find(|(known, _)| *known == id) {
            Some((_, env)) if self.from_env.contains(&id) => Source::Env(env),
            _ => Source::Flag(flag),
        }
    }
}

/// Every setting in force, with its source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Effective {
    /// The home directory.
    pub home: Setting<PathBuf>,
    /// The config file and whether it exists.
    pub file: (PathBuf, bool),
    /// Broker URL(s).
    pub broker: Setting<String>,
    /// Broker username.
    pub username: Setting<Option<String>>,
    /// Extra CA certificates.
    pub ca_file: Setting<Option<PathBuf>>,
    /// Client certificate.
    pub client_cert: Setting<Option<PathBuf>>,
    /// Client certificate key.
    pub client_key: Setting<Option<PathBuf>>,
    /// Colour mode.
    pub colours: Setting<ColourMode>,
    /// Default history retention.
    pub keep_history: Setting<Retention>,
    /// MQTT version (not in the file: it is a per-broker matter).
    pub mqtt: Setting<String>,
}

/// One layer each of what the command line (flag or environment, as clap
/// merged them) and the file say; the first that has a value wins.
fn pick<T>(
    cli: Option<T>,
    cli_source: Source,
    file: Option<T>,
    path: &Path,
    default: T,
) -> Setting<T> {
    match (cli, file) {
        (Some(value), _) => Setting {
            value,
            source: cli_source,
        },
        (None, Some(value)) => Setting {
            value,
            source: Source::File(path.to_owned()),
        },
        (None, None) => Setting {
            value: default,
            source: Source::Default,
        },
    }
}

/// Same as [`pick`] for settings that may stay unset.
fn pick_optional<T>(
    cli: Option<T>,
    cli_source: Source,
    file: Option<T>,
    path: &Path,
) -> Setting<Option<T>> {
    pick(cli.map(Some), cli_source, file.map(Some), path, None)
}

/// NO_COLOR, when set and not empty: an environment-level "off".
fn no_color_env() -> bool {
    std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty())
}

impl Effective {
    /// Merges the command line (with its origins), NO_COLOR and the file.
    pub fn resolve(
        cli: &Cli,
        home: Setting<PathBuf>,
        file: Option<FileSettings>,
        no_color: bool,
    ) -> Self {
        let path = home.value.join(FILE_NAME);
        let exists = file.is_some();
        let file = file.unwrap_or_default();
        let origins = &cli.origins;
        let colours = match (cli.colour, no_color) {
            (Some(mode), _) => Setting {
                value: mode,
                source: Source::Flag("--colour"),
            },
            (None, true) => Setting {
                value: ColourMode::Off,
                source: Source::Env("NO_COLOR"),
            },
            (None, false) => pick(None, Source::Default, file.colours, &path, ColourMode::Auto),
        };
        let mqtt = if cli.origins.from_env.contains(&"mqtt") {
            Source::Env("SOTTO_MQTT")
        } else if cli.mqtt_given {
            Source::Flag("--mqtt")
        } else {
            Source::Default
        };
        Self {
            broker: pick(
                cli.broker.clone(),
                origins.source("broker", "--broker"),
                file.broker,
                &path,
                DEFAULT_BROKER.to_owned(),
            ),
            username: pick_optional(
                cli.username.clone(),
                origins.source("username", "--username"),
                file.username,
                &path,
            ),
            ca_file: pick_optional(
                cli.ca_file.clone(),
                origins.source("ca_file", "--ca-file"),
                file.ca_file,
                &path,
            ),
            client_cert: pick_optional(
                cli.client_cert.clone(),
                origins.source("client_cert", "--client-cert"),
                file.client_cert,
                &path,
            ),
            client_key: pick_optional(
                cli.client_key.clone(),
                origins.source("client_key", "--client-key"),
                file.client_key,
                &path,
            ),
            colours,
            keep_history: pick(
                None,
                Source::Default,
                file.keep_history,
                &path,
                Retention::All,
            ),
            mqtt: Setting {
                value: match cli.mqtt {
                    VersionChoice::Auto => "auto".to_owned(),
                    VersionChoice::Only(version) => version.to_string(),
                },
                source: mqtt,
            },
            file: (path, exists),
            home,
        }
    }

    /// Reads the home's config file and merges it with the command line.
    pub fn load(cli: &Cli) -> anyhow::Result<Self> {
        let home = cli.home_setting()?;
        let file = FileSettings::load(&home.value.join(FILE_NAME))?;
        Ok(Self::resolve(cli, home, file, no_color_env()))
    }

    /// Writes the merged values back into the parsed command line, so the
    /// commands read one set of options whatever set them.
    pub fn apply(&self, cli: &mut Cli) {
        cli.broker = match self.broker.source {
            Source::Default => None,
            _ => Some(self.broker.value.clone()),
        };
        cli.username.clone_from(&self.username.value);
        cli.ca_file.clone_from(&self.ca_file.value);
        cli.client_cert.clone_from(&self.client_cert.value);
        cli.client_key.clone_from(&self.client_key.value);
        cli.colour = Some(self.colours.value);
    }

    /// The lines `sotto config` prints: setting, value, source. Values are
    /// made safe for the terminal; the password is only said to be set.
    pub fn lines(&self, password_set: bool, terminal: bool) -> Vec<[String; 3]> {
        fn path(value: &Option<PathBuf>) -> String {
            value
                .as_ref()
                .map_or_else(|| "(none)".to_owned(), |p| p.display().to_string())
        }
        let mut lines = vec![
            [
                "home".to_owned(),
                self.home.value.display().to_string(),
                self.home.source.to_string(),
            ],
            [
                "config file".to_owned(),
                self.file.0.display().to_string(),
                if self.file.1 { "read" } else { "not present" }.to_owned(),
            ],
            [
                "broker".to_owned(),
                self.broker.value.clone(),
                self.broker.source.to_string(),
            ],
            [
                "username".to_owned(),
                self.username
                    .value
                    .clone()
                    .unwrap_or_else(|| "(none)".to_owned()),
                self.username.source.to_string(),
            ],
        ];
        let password = if password_set {
            "set (from SOTTO_PASSWORD)"
        } else if self.username.value.is_some() && terminal {
            "not set (asked for when connecting)"
        } else if self.username.value.is_some() {
            "not set (an empty password is sent)"
        } else {
            "not set"
        };
        lines.push(["password".to_owned(), password.to_owned(), String::new()]);
        for (name, setting) in [
            ("ca_file", &self.ca_file),
            ("client_cert", &self.client_cert),
            ("client_key", &self.client_key),
        ] {
            lines.push([
                name.to_owned(),
                path(&setting.value),
                setting.source.to_string(),
            ]);
        }
        lines.push([
            "colours".to_owned(),
            self.colours.value.to_string(),
            self.colours.source.to_string(),
        ]);
        lines.push([
            "keep_history".to_owned(),
            self.keep_history.value.to_string(),
            self.keep_history.source.to_string(),
        ]);
        lines.push([
            "mqtt".to_owned(),
            self.mqtt.value.clone(),
            self.mqtt.source.to_string(),
        ]);
        for line in &mut lines {
            for cell in line.iter_mut() {
                *cell = for_terminal(cell);
            }
        }
        lines
    }
}

/// `sotto config`: the effective settings, one a line, with their sources.
pub fn show(effective: &Effective) -> anyhow::Result<()> {
    use std::io::IsTerminal;
    let password_set = std::env::var_os("SOTTO_PASSWORD").is_some();
    let lines = effective.lines(password_set, std::io::stdin().is_terminal());
    let width = |i: usize| {
        lines
            .iter()
            .map(|line| line[i].chars().count())
            .max()
            .unwrap_or(0)
    };
    let (name_width, value_width) = (width(0), width(1));
    for [name, value, source] in &lines {
        let line = if source.is_empty() {
            format!("{name:name_width$}  {value}")
        } else {
            format!("{name:name_width$}  {value:value_width$}  {source}")
        };
        println!("{}", line.trim_end());
    }
    Ok(())
}

/// The client certificate and key as one setting: both or neither.
pub fn client_auth(cli: &Cli) -> anyhow::Result<Option<sotto::tls::ClientAuth>> {
    match (&cli.client_cert, &cli.client_key) {
        (Some(cert), Some(key)) => {
            warn_if_key_exposed(key);
            Ok(Some(sotto::tls::ClientAuth {
                cert: cert.clone(),
                key: key.clone(),
            }))
        }
        (None, None) => Ok(None),
        (Some(_), None) => anyhow::bail!(
            "a client certificate needs its key too; give --client-key (or SOTTO_CLIENT_KEY, or client_key in {FILE_NAME})"
        ),
        (None, Some(_)) => anyhow::bail!(
            "a client key needs its certificate too; give --client-cert (or SOTTO_CLIENT_CERT, or client_cert in {FILE_NAME})"
        ),
    }
}

/// A private key others may read is a key others may copy: say so once.
fn warn_if_key_exposed(key: &Path) {
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(key).map(|meta| meta.permissions().mode());
    if mode.is_ok_and(|mode| mode & 0o077 != 0) {
        eprintln!(
            "sotto: warning: other users may read {}; `chmod 600` it",
            for_terminal(&key.display().to_string())
        );
    }
}

/// Marks the options given by flag or environment (clap's view), for
/// [`Effective::resolve`].
pub fn record_origins(cli: &mut Cli, matches: &ArgMatches) {
    cli.origins = Origins::from_matches(matches);
    cli.mqtt_given = matches!(
        matches.value_source("mqtt"),
        Some(ValueSource::CommandLine | ValueSource::EnvVariable)
    );
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use clap::{CommandFactory, FromArgMatches};

    use super::*;

    const DAY_MS: u64 = 24 * 60 * 60 * 1000;

    fn file_path() -> PathBuf {
        PathBuf::from("/h/config.toml")
    }

    fn cli(args: &[&str]) -> Cli {
        let matches = Cli::command()
            .try_get_matches_from(args.iter().copied())
            .unwrap();
        let mut cli = Cli::from_arg_matches(&matches).unwrap();
        record_origins(&mut cli, &matches);
        cli
    }

    fn home() -> Setting<PathBuf> {
        Setting {
            value: PathBuf::from("/h"),
            source: Source::Flag("--home"),
        }
    }

    fn full_file() -> FileSettings {
        FileSettings::parse(
            r#"
            broker = "mqtts://a.example:8883,mqtts://b.example:8883"
            username = "filer"
            ca_file = "ca.pem"
            client_cert = "/etc/sotto/me.pem"
            client_key = "me.key"
            colours = "on"
            keep_history = "30d"
            "#,
            &file_path(),
        )
        .unwrap()
    }

    #[test]
    fn the_file_is_read_with_paths_relative_to_it() {
        let file = full_file();
        assert_eq!(
            file.broker.as_deref(),
            Some("mqtts://a.example:8883,mqtts://b.example:8883")
        );
        assert_eq!(file.ca_file, Some(PathBuf::from("/h/ca.pem")));
        assert_eq!(file.client_cert, Some(PathBuf::from("/etc/sotto/me.pem")));
        assert_eq!(file.client_key, Some(PathBuf::from("/h/me.key")));
        assert_eq!(file.colours, Some(ColourMode::On));
        assert_eq!(file.keep_history, Some(Retention::Age(30 * DAY_MS)));
        let count = FileSettings::parse("keep_history = 500", &file_path()).unwrap();
        assert_eq!(count.keep_history, Some(Retention::Count(500)));
        assert_eq!(
            FileSettings::parse("", &file_path()).unwrap(),
            FileSettings::default()
        );
    }

    #[test]
    fn the_file_beats_the_defaults() {
        let effective =
            Effective::resolve(&cli(&["sotto", "rooms"]), home(), Some(full_file()), false);
        let from_file = Source::File(file_path());
        assert_eq!(effective.broker.source, from_file);
        assert_eq!(effective.username.value.as_deref(), Some("filer"));
        assert_eq!(effective.username.source, from_file);
        assert_eq!(effective.colours.value, ColourMode::On);
        assert_eq!(effective.colours.source, from_file);
        assert_eq!(effective.keep_history.source, from_file);
        assert_eq!(effective.mqtt.source, Source::Default);
    }

    #[test]
    fn flags_beat_the_file() {
        let cli = cli(&[
            "sotto",
            "--broker",
            "mqtt://flag:1883",
            "rooms",
            "--username",
            "flagger",
            "--colour",
            "off",
            "--client-key",
            "/k.pem",
        ]);
        let effective = Effective::resolve(&cli, home(), Some(full_file()), false);
        assert_eq!(effective.broker.value, "mqtt://flag:1883");
        assert_eq!(effective.broker.source, Source::Flag("--broker"));
        assert_eq!(effective.username.value.as_deref(), Some("flagger"));
        assert_eq!(effective.username.source, Source::Flag("--username"));
        assert_eq!(effective.colours.value, ColourMode::Off);
        assert_eq!(effective.client_key.value, Some(PathBuf::from("/k.pem")));
        // What the flags did not set still comes from the file.
        assert_eq!(effective.ca_file.value, Some(PathBuf::from("/h/ca.pem")));
        assert_eq!(effective.ca_file.source, Source::File(file_path()));
    }

    #[test]
    fn environment_values_beat_the_file_and_are_named() {
        // The environment cannot be changed safely in a threaded test (and
        // unsafe code is forbidden), so the origin clap would record is
        // set directly; tests/cli_ops.rs covers real variables.
        let mut parsed = cli(&["sotto", "rooms"]);
        parsed.username = Some("envy".to_owned());
        parsed.origins = Origins {
            from_env: vec!["username"],
        };
        let effective = Effective::resolve(&parsed, home(), Some(full_file()), false);
        assert_eq!(effective.username.value.as_deref(), Some("envy"));
        assert_eq!(effective.username.source, Source::Env("SOTTO_USERNAME"));
    }

    #[test]
    fn no_color_beats_the_file_but_not_the_flag() {
        let effective =
            Effective::resolve(&cli(&["sotto", "rooms"]), home(), Some(full_file()), true);
        assert_eq!(effective.colours.value, ColourMode::Off);
        assert_eq!(effective.colours.source, Source::Env("NO_COLOR"));
        let flagged = cli(&["sotto", "--colour", "on", "rooms"]);
        let effective = Effective::resolve(&flagged, home(), Some(full_file()), true);
        assert_eq!(effective.colours.value, ColourMode::On);
        assert_eq!(effective.colours.source, Source::Flag("--colour"));
    }

    #[test]
    fn without_a_file_the_defaults_hold() {
        let effective = Effective::resolve(&cli(&["sotto", "rooms"]), home(), None, false);
        assert_eq!(effective.broker.value, DEFAULT_BROKER);
        assert_eq!(effective.broker.source, Source::Default);
        assert_eq!(effective.username.value, None);
        assert_eq!(effective.colours.value, ColourMode::Auto);
        assert_eq!(effective.keep_history.value, Retention::All);
        assert!(!effective.file.1);
        // A default broker stays "not given", so chat may still fall back
        // to its built-in broker.
        let mut parsed = cli(&["sotto", "rooms"]);
        effective.apply(&mut parsed);
        assert!(parsed.broker_is_default());
    }

    #[test]
    fn the_password_is_only_said_to_be_set() {
        let effective =
            Effective::resolve(&cli(&["sotto", "rooms"]), home(), Some(full_file()), false);
        let lines = effective.lines(true, false);
        let password = lines.iter().find(|line| line[0] == "password").unwrap();
        assert_eq!(password[1], "set (from SOTTO_PASSWORD)");
    }

    #[test]
    fn mistakes_are_one_sentence_naming_file_and_key() {
        let cases = [
            ("brokr = \"x\"", "unknown key `brokr`"),
            ("broker = 1883", "`broker` must be"),
            ("broker = \"\"", "`broker` must be"),
            ("colours = \"sometimes\"", "`colours` must be"),
            ("keep_history = \"forever\"", "`keep_history` must be"),
            ("keep_history = -1", "`keep_history` must be"),
            ("ca_file = [\"a\"]", "`ca_file` must be"),
            ("password = \"hunter2\"", "SOTTO_PASSWORD"),
            ("[broker]\nhost = \"x\"", "`broker` must be"),
            ("broker = \"x\"\nbroker = \"y\"", "line 2"),
            ("broker = ", "not valid TOML"),
        ];
        for (text, expected) in cases {
            let err = FileSettings::parse(text, &file_path())
                .unwrap_err()
                .to_string();
            assert!(err.contains(expected), "{text:?}: {err}");
            assert!(err.contains("/h/config.toml"), "{text:?}: {err}");
            assert!(!err.contains('\n'), "{text:?}: {err}");
            assert!(!err.contains("hunter2"), "{err}");
        }
    }
}
