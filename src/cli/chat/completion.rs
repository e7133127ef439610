//! What Tab completes, as a pure function of the line, the cursor and
//! the names chat knows: slash commands at the start of a line, room
//! names after `/switch`, member names after commands that take a MEMBER
//! and anywhere else in a line.

use super::commands::HELP;
use super::screen::Completions;

/// Commands whose argument is one of our rooms.
const ROOM_COMMANDS: &[&str] = &["/switch"];

/// Commands whose (first) argument is a member.
const MEMBER_COMMANDS: &[&str] = &["/kick", "/verify", "/accept"];

/// Where the completed text starts in `line` (a byte offset) and what
/// may replace `line[start..pos]`, best first.
pub fn complete(line: &str, pos: usize, known: &Completions) -> (usize, Vec<String>) {
    let pos = floor_boundary(line, pos);
    let before = &line[..pos];
    if let Some(word) = before.strip_prefix('/')
        && !word.contains(char::is_whitespace)
        && !word.starts_with('/')
    {
        return (0, commands_starting(word));
    }
    if before.starts_with('/')
        && let Some((command, _)) = before.split_once(' ')
    {
        let start = command.len() + 1;
        let typed = &before[start..];
        let command = command.to_ascii_lowercase();
        if ROOM_COMMANDS.contains(&command.as_str()) {
            return (start, starting_with(&known.rooms, typed, ""));
        }
        if MEMBER_COMMANDS.contains(&command.as_str()) {
            return (start, starting_with(&known.names, typed, ""));
        }
        if command == "/help" {
            let names: Vec<String> = (slash_commands().iter())
                .map(|name| name[1..].to_owned())
                .collect();
            return (start, starting_with(&names, typed, ""));
        }
    }
    // Elsewhere: the word under the cursor is a name being addressed.
    let start = before.rfind(char::is_whitespace).map_or(0, |i| {
        i + before[i..].chars().next().map_or(1, char::len_utf8)
    });
    let typed = &before[start..];
    if typed.is_empty() {
        return (start, Vec::new());
    }
    // At the start of a line a name addresses its owner, irssi style.
    let suffix = if start == 0 { ": " } else { "" };
    (start, starting_with(&known.names, typed, suffix))
}

/// Every slash command as typed (`/join`, `/switch`, ...), from [`HELP`].
pub fn slash_commands() -> Vec<&'static str> {
    HELP.iter()
        .filter_map(|(usage, _)| usage.split_whitespace().next())
        .filter(|name| name.starts_with('/') && !name.starts_with("//"))
        .collect()
}

fn commands_starting(typed: &str) -> Vec<String> {
    let typed = typed.to_lowercase();
    (slash_commands().into_iter())
        .filter(|command| command[1..].starts_with(&typed))
        .map(|command| {
            // A command that takes an argument gets the space before it.
            let takes_argument = HELP.iter().any(|(usage, _)| {
                usage.split_whitespace().next() == Some(command) && usage.contains(' ')
            });
            if takes_argument {
                format!("{command} ")
            } else {
                command.to_owned()
            }
        })
        .collect()
}

/// The `names` that start with `typed`, ignoring case, each followed by
/// `suffix`; an exact match first, then in order. A name with a control
/// character is never offered: rustyline would write it to the terminal
/// as it is, and an escaped spelling would not name the member.
fn starting_with(names: &[String], typed: &str, suffix: &str) -> Vec<String> {
    let typed = typed.to_lowercase();
    let mut found: Vec<&String> = (names.iter())
        .filter(|name| !name.chars().any(char::is_control))
        .filter(|name| name.to_lowercase().starts_with(&typed))
        .collect();
    found.sort_by_key(|name| name.to_lowercase() != typed);
    found.dedup();
    found
        .into_iter()
        .map(|name| format!("{name}{suffix}"))
        .collect()
}

fn floor_boundary(line: &str, pos: usize) -> usize {
    let mut pos = pos.min(line.len());
    while !line.is_char_boundary(pos) {
        pos -= 1;
    }
    pos
}

#[cfg(test)]
mod tests {
    use super::*;

    fn known() -> Completions {
        Completions {
            names: vec!["alice".into(), "Ann Lee".into(), "bob".into()],
            rooms: vec!["ops".into(), "Operations".into(), "dev".into()],
        }
    }

    #[test]
    fn slash_commands_complete_at_the_start_ignoring_case() {
        assert_eq!(
            complete("/sw", 3, &known()),
            (0, vec!["/switch ".to_owned()])
        );
        assert_eq!(
            complete("/SW", 3, &known()),
            (0, vec!["/switch ".to_owned()])
        );
        assert_eq!(complete("/wh", 3, &known()), (0, vec!["/who".to_owned()]));
        let (_, all) = complete("/", 1, &known());
        assert!(all.contains(&"/help ".to_owned()) || all.contains(&"/help".to_owned()));
        assert!(all.len() >= 11, "{all:?}");
        assert!(complete("//x", 3, &known()).1.is_empty());
    }

    #[test]
    fn rooms_after_switch_members_after_kick() {
        assert_eq!(
            complete("/switch op", 10, &known()),
            (8, vec!["ops".to_owned(), "Operations".to_owned()])
        );
        assert_eq!(
            complete("/kick al", 8, &known()),
            (6, vec!["alice".to_owned()])
        );
        // Names with spaces complete whole.
        assert_eq!(
            complete("/verify ann", 11, &known()),
            (8, vec!["Ann Lee".to_owned()])
        );
        assert_eq!(
            complete("/accept B", 9, &known()),
            (8, vec!["bob".to_owned()])
        );
    }

    #[test]
    fn help_completes_command_names() {
        assert_eq!(
            complete("/help ki", 8, &known()),
            (6, vec!["kick".to_owned()])
        );
    }

    #[test]
    fn names_anywhere_and_addressed_at_the_start() {
        assert_eq!(complete("al", 2, &known()), (0, vec!["alice: ".to_owned()]));
        assert_eq!(
            complete("thanks BO", 9, &known()),
            (7, vec!["bob".to_owned()])
        );
        assert!(complete("thanks ", 7, &known()).1.is_empty());
        assert!(complete("zz", 2, &known()).1.is_empty());
        // The cursor in the middle completes the word before it.
        assert_eq!(
            complete("hi al there", 5, &known()),
            (3, vec!["alice".to_owned()])
        );
    }

    #[test]
    fn names_with_control_characters_are_never_offered() {
        let known = Completions {
            names: vec!["al\x1b[2Jice".into(), "al\u{9b}x".into(), "alan".into()],
            rooms: vec!["o\x07ps".into()],
        };
        assert_eq!(complete("/kick al", 8, &known).1, vec!["alan".to_owned()]);
        assert!(complete("/switch o", 9, &known).1.is_empty());
    }

    #[test]
    fn an_exact_match_comes_first() {
        let known = Completions {
            names: vec!["bobby".into(), "bob".into()],
            rooms: Vec::new(),
        };
        assert_eq!(
            complete("/kick bob", 9, &known).1,
            vec!["bob".to_owned(), "bobby".to_owned()]
        );
    }
}
