//! What a typed line means: a message, or a slash command. Pure parsing,
//! so every case is tested without a terminal or a broker.

/// One typed line, understood.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command<'a> {
    /// Nothing but whitespace: ignored.
    Empty,
    /// A message to send.
    Say(&'a str),
    /// `/me ACTION`.
    Me(&'a str),
    /// `/join INVITE [LOCALNAME]`.
    Join {
        /// The invite string.
        invite: &'a str,
        /// Another local name for the room.
        local_name: Option<&'a str>,
    },
    /// `/switch ROOM`.
    Switch(&'a str),
    /// `/rooms`.
    Rooms,
    /// `/who`.
    Who,
    /// `/invite`.
    Invite,
    /// `/verify MEMBER FINGERPRINT`.
    Verify {
        /// The member's name (may contain spaces) or fingerprint prefix.
        member: &'a str,
        /// The fingerprint as typed.
        fingerprint: &'a str,
    },
    /// `/kick MEMBER`.
    Kick(&'a str),
    /// `/leave`: leave this room for good.
    Leave,
    /// `/accept MEMBER`; without MEMBER, the keys waiting are listed.
    Accept(Option<&'a str>),
    /// `/help [COMMAND]`: every command, or one explained.
    Help(Option<&'a str>),
    /// `/quit`.
    Quit,
    /// A known command with a missing or extra argument: its usage line.
    Usage(&'static str),
    /// A command sotto does not know.
    Unknown(&'a str),
}

/// Every command with its usage and what it does, for `/help`.
pub const HELP: &[(&str, &str)] = &[
    (
        "/join INVITE [LOCALNAME]",
        "join a room with an invite and switch to it",
    ),
    (
        "/switch ROOM",
        "talk in another of your rooms (Tab completes room names)",
    ),
    (
        "/rooms",
        "list your rooms with unread counts and who is online",
    ),
    ("/who", "members of this room: fingerprint, trust, online"),
    (
        "/invite",
        "print this room's invite (a secret: share it privately)",
    ),
    (
        "/verify MEMBER FINGERPRINT",
        "mark a member's key verified after comparing fingerprints",
    ),
    (
        "/accept MEMBER",
        "go on after MEMBER's key change or look-alike without verifying (that key only; it stays unverified)",
    ),
    (
        "",
        "MEMBER: a name, or 8+ digits of a fingerprint when two keys share a name",
    ),
    (
        "/kick MEMBER",
        "remove a member (admins): the room moves to a key they never get",
    ),
    (
        "/leave",
        "leave this room for good: the others are told, and it is forgotten here",
    ),
    ("/me ACTION", "send an action: * you ACTION"),
    ("/help [COMMAND]", "this list, or one command explained"),
    (
        "/quit",
        "leave (also /q, Ctrl-D, or Ctrl-C on an empty line)",
    ),
    ("//TEXT", "send a message that starts with /"),
];

/// One command explained: usage, what it does, an example. `command` is
/// its name with or without the slash, in any case (`/help kick`,
/// `/help /KICK`); an unknown one gives None.
pub fn help_for(command: &str) -> Option<Vec<String>> {
    let name = command
        .strip_prefix('/')
        .unwrap_or(command)
        .to_ascii_lowercase();
    let (usage, example, more): (&str, &str, &str) = match name.as_str() {
        "join" => (
            "/join INVITE [LOCALNAME]",
            "/join sotto1qqx... work",
            "The invite holds the room key: it never reaches the history file.",
        ),
        "switch" => (
            "/switch ROOM",
            "/switch dev",
            "Messages for the room you leave wait at the broker until you come back.",
        ),
        "rooms" => (
            "/rooms",
            "/rooms",
            "The status line above the prompt shows unread counts too.",
        ),
        "who" => (
            "/who",
            "/who",
            "Compare a fingerprint out of band, then /verify the member.",
        ),
        "invite" => (
            "/invite",
            "/invite",
            "Anyone holding the invite can join: send it privately.",
        ),
        "verify" => (
            "/verify MEMBER FINGERPRINT",
            "/verify bob 12345 67890 12345 67890 12345 67890",
            "A mismatch is refused; a verified key that changes later is flagged loudly.",
        ),
        "accept" => (
            "/accept MEMBER",
            "/accept bob",
            "Without MEMBER, lists the keys waiting for a decision.",
        ),
        "kick" => (
            "/kick MEMBER",
            "/kick mallory",
            "MEMBER is a name or 8+ digits of a fingerprint; Tab completes names.",
        ),
        "leave" => ("/leave", "/leave", "To come back you need a new invite."),
        "me" => (
            "/me ACTION",
            "/me waves",
            "Shown to everyone as: * you waves",
        ),
        "help" | "?" => (
            "/help [COMMAND]",
            "/help kick",
            "Tab completes command names after a /.",
        ),
        "quit" | "exit" | "q" => (
            "/quit",
            "/q",
            "Messages that arrive while you are away wait at the broker.",
        ),
        _ => return None,
    };
    let what = HELP
        .iter()
        .find(|(line, _)| line.split_whitespace().next() == usage.split_whitespace().next())
        .map_or("", |(_, what)| *what);
    Some(vec![
        format!("usage: {usage}"),
        format!("  {what}"),
        format!("  {more}"),
        format!("  example: {example}"),
    ])
}

/// The digits in a fingerprint (six groups of five).
const FINGERPRINT_DIGITS: usize = 30;

/// Understands one line as typed.
pub fn parse(line: &str) -> Command<'_> {
    let line = line.trim_end_matches(['\r', '\n']);
    if line.trim().is_empty() {
        return Command::Empty;
    }
    let Some(rest) = line.strip_prefix('/') else {
        return Command::Say(line);
    };
    // A doubled slash escapes a message that starts with one.
    if rest.starts_with('/') {
        return Command::Say(rest);
    }
    let (name, args) = match rest.split_once(char::is_whitespace) {
        Some((name, args)) => (name, args.trim()),
        None => (rest, ""),
    };
    command(name, args)
}

fn command<'a>(name: &'a str, args: &'a str) -> Command<'a> {
    // Commands are case-insensitive: `/WHO` after a stuck Caps Lock is
    // still /who, not a message sent by mistake.
    match name.to_ascii_lowercase().as_str() {
        "me" if !args.is_empty() => Command::Me(args),
        "me" => Command::Usage("/me ACTION"),
        "join" => join(args),
        "switch" if !args.is_empty() => Command::Switch(args),
        "switch" => Command::Usage("/switch ROOM"),
        "verify" => verify(args),
        "kick" if !args.is_empty() => Command::Kick(args),
        "kick" => Command::Usage("/kick MEMBER"),
        "leave" if args.is_empty() => Command::Leave,
        "leave" => Command::Usage("/leave"),
        "rooms" => no_args(args, Command::Rooms, "/rooms"),
        "who" => no_args(args, Command::Who, "/who"),
        "invite" => no_args(args, Command::Invite, "/invite"),
        "accept" if !args.is_empty() => Command::Accept(Some(args)),
        "accept" => Command::Accept(None),
        "help" | "?" if args.is_empty() => Command::Help(None),
        "help" | "?" if !args.contains(char::is_whitespace) => Command::Help(Some(args)),
        "help" | "?" => Command::Usage("/help [COMMAND]"),
        "quit" | "exit" | "q" => Command::Quit,
        _ => Command::Unknown(name),
    }
}

fn no_args<'a>(args: &str, command: Command<'a>, usage: &'static str) -> Command<'a> {
    if args.is_empty() {
        command
    } else {
        Command::Usage(usage)
    }
}

fn join(args: &str) -> Command<'_> {
    let mut words = args.split_whitespace();
    match (words.next(), words.next(), words.next()) {
        (Some(invite), local_name, None) => Command::Join { invite, local_name },
        _ => Command::Usage("/join INVITE [LOCALNAME]"),
    }
}

/// Names may contain spaces, so the fingerprint is taken from the end:
/// the trailing all-digit words, up to 30 digits (grouped or not).
fn verify(args: &str) -> Command<'_> {
    let mut split = args.len();
    let mut digits = 0;
    for (start, word) in word_starts(args).into_iter().rev() {
        if digits >= FINGERPRINT_DIGITS || !word.chars().all(|c| c.is_ascii_digit()) {
            break;
        }
        digits += word.len();
        split = start;
    }
    let member = args[..split].trim();
    let fingerprint = args[split..].trim();
    if member.is_empty() || fingerprint.is_empty() {
        return Command::Usage("/verify MEMBER FINGERPRINT");
    }
    Command::Verify {
        member,
        fingerprint,
    }
}

/// Each whitespace-separated word with its byte offset.
fn word_starts(text: &str) -> Vec<(usize, &str)> {
    let mut words = Vec::new();
    let mut start = None;
    for (i, c) in text.char_indices() {
        match (c.is_whitespace(), start) {
            (true, Some(s)) => {
                words.push((s, &text[s..i]));
                start = None;
            }
            (false, None) => start = Some(i),
            _ => {}
        }
    }
    if let Some(s) = start {
        words.push((s, &text[s..]));
    }
    words
}

/// Whether the next line may be asked for before this one is handled:
/// keys typed meanwhile then go to the editor instead of being echoed by
/// the terminal into the output. Not for lines that may change the room
/// (the prompt names it) or end the chat (the editor would hold the
/// terminal).
pub fn may_read_ahead(line: &str) -> bool {
    !matches!(
        parse(line),
        Command::Quit
            | Command::Switch(_)
            | Command::Join { .. }
            | Command::Leave
            | Command::Kick(_)
    )
}

/// Whether a line may be recalled with the arrow keys during this chat.
/// `/join` lines carry an invite, which holds the room key: never kept.
pub fn worth_remembering(line: &str) -> bool {
    !matches!(parse(line), Command::Join { .. } | Command::Empty)
}

/// Whether a line may be written to the history file: commands only.
/// Messages are recalled during the chat but never written to disk in
/// the clear (the database keeps them, sealed).
pub fn worth_saving(line: &str) -> bool {
    worth_remembering(line) && !matches!(parse(line), Command::Say(_) | Command::Me(_))
}

#[cfg(test)]
mod tests {
    use super::*;

    const FP: &str = "12345 67890 12345 67890 12345 67890";

    #[test]
    fn commands_are_case_insensitive_and_q_quits() {
        assert_eq!(parse("/WHO"), Command::Who);
        assert_eq!(parse("/Quit"), Command::Quit);
        assert_eq!(parse("/q"), Command::Quit);
        assert_eq!(parse("/Me waves"), Command::Me("waves"));
        assert_eq!(parse("/Nope"), Command::Unknown("Nope"));
    }

    #[test]
    fn plain_lines_are_messages_and_double_slash_escapes() {
        assert_eq!(parse("hello there"), Command::Say("hello there"));
        assert_eq!(parse("  "), Command::Empty);
        assert_eq!(
            parse("//etc/passwd is a path"),
            Command::Say("/etc/passwd is a path")
        );
        assert_eq!(parse("hi\r\n"), Command::Say("hi"));
    }

    #[test]
    fn commands_with_arguments() {
        assert_eq!(parse("/me waves"), Command::Me("waves"));
        assert_eq!(parse("/switch  ops "), Command::Switch("ops"));
        assert_eq!(parse("/kick bob smith"), Command::Kick("bob smith"));
        assert_eq!(
            parse("/join sotto1abc"),
            Command::Join {
                invite: "sotto1abc",
                local_name: None
            }
        );
        assert_eq!(
            parse("/join sotto1abc work"),
            Command::Join {
                invite: "sotto1abc",
                local_name: Some("work")
            }
        );
    }

    #[test]
    fn missing_or_extra_arguments_give_the_usage() {
        assert_eq!(parse("/me"), Command::Usage("/me ACTION"));
        assert_eq!(parse("/switch"), Command::Usage("/switch ROOM"));
        assert_eq!(parse("/join"), Command::Usage("/join INVITE [LOCALNAME]"));
        assert_eq!(
            parse("/join a b c"),
            Command::Usage("/join INVITE [LOCALNAME]")
        );
        assert_eq!(parse("/who cares"), Command::Usage("/who"));
        assert_eq!(
            parse("/verify bob"),
            Command::Usage("/verify MEMBER FINGERPRINT")
        );
        assert_eq!(
            parse(&format!("/verify {FP}")),
            Command::Usage("/verify MEMBER FINGERPRINT")
        );
    }

    #[test]
    fn verify_takes_the_fingerprint_from_the_end() {
        assert_eq!(
            parse(&format!("/verify bob {FP}")),
            Command::Verify {
                member: "bob",
                fingerprint: FP
            }
        );
        // A name ending in digits keeps them: only 30 digits are taken.
        assert_eq!(
            parse(&format!("/verify bob 2 {FP}")),
            Command::Verify {
                member: "bob 2",
                fingerprint: FP
            }
        );
        assert_eq!(
            parse("/verify Ann Lee 123456789012345678901234567890"),
            Command::Verify {
                member: "Ann Lee",
                fingerprint: "123456789012345678901234567890"
            }
        );
    }

    #[test]
    fn unknown_commands_and_the_rest() {
        assert_eq!(parse("/frobnicate now"), Command::Unknown("frobnicate"));
        for (line, command) in [
            ("/rooms", Command::Rooms),
            ("/who", Command::Who),
            ("/invite", Command::Invite),
            ("/accept", Command::Accept(None)),
            ("/accept 12345 67890", Command::Accept(Some("12345 67890"))),
            ("/ACCEPT Ann Lee", Command::Accept(Some("Ann Lee"))),
            ("/help", Command::Help(None)),
            ("/help kick", Command::Help(Some("kick"))),
            ("/HELP /Kick", Command::Help(Some("/Kick"))),
            ("/help a b", Command::Usage("/help [COMMAND]")),
            ("/quit", Command::Quit),
        ] {
            assert_eq!(parse(line), command, "{line}");
        }
    }

    #[test]
    fn help_lists_every_command_of_the_brief() {
        for name in [
            "/join", "/switch", "/rooms", "/who", "/invite", "/verify", "/kick", "/me", "/accept",
            "/help", "/quit",
        ] {
            assert!(
                HELP.iter().any(|(usage, _)| usage.starts_with(name)),
                "{name}"
            );
        }
    }

    #[test]
    fn help_for_explains_one_command_with_or_without_the_slash() {
        let kick = help_for("kick").unwrap();
        assert_eq!(kick[0], "usage: /kick MEMBER");
        assert!(kick.iter().any(|line| line.contains("example: /kick")));
        assert_eq!(help_for("/KICK"), Some(kick));
        assert_eq!(help_for("q"), help_for("quit"));
        assert_eq!(help_for("frobnicate"), None);
        assert_eq!(help_for(""), None);
        // Every command in HELP is explained, with what HELP says of it.
        for (usage, what) in HELP {
            let Some(name) = usage.split_whitespace().next() else {
                continue;
            };
            if name.starts_with("//") || !name.starts_with('/') {
                continue;
            }
            let lines = help_for(name).unwrap_or_else(|| panic!("{name}"));
            assert!(lines[1].contains(what), "{name}: {lines:?}");
        }
    }

    #[test]
    fn the_next_line_is_read_ahead_unless_the_room_or_the_chat_may_change() {
        assert!(may_read_ahead("hello") && may_read_ahead("/who") && may_read_ahead(""));
        for line in [
            "/quit",
            "/q",
            "/switch dev",
            "/join sotto1x",
            "/leave",
            "/kick bob",
        ] {
            assert!(!may_read_ahead(line), "{line}");
        }
    }

    #[test]
    fn invites_never_reach_the_history() {
        assert!(!worth_remembering("/join sotto1secret"));
        assert!(worth_remembering("hello"));
        assert!(worth_remembering("/who"));
        assert!(worth_saving("/who"));
        assert!(!worth_saving("hello") && !worth_saving("/me waves"));
        assert!(!worth_saving("/join sotto1secret"));
    }
}
