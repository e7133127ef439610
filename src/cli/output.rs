//! Plain-text tables shared by the commands and the chat client.

use sotto::identity::Fingerprint;
use sotto::room::{Member, NameWarning, Room, Trust};
use sotto::sanitize::for_terminal;
use unicode_width::UnicodeWidthStr;

/// Rows as left-aligned columns, one string a line, every cell sanitised.
/// Cells are padded by the width they take on a terminal, not by their
/// number of characters: a CJK name or an emoji takes two columns.
pub fn columns(header: &[&str], rows: &[Vec<String>]) -> Vec<String> {
    let cells: Vec<Vec<String>> = std::iter::once(header.iter().map(|h| for_terminal(h)).collect())
        .chain(
            rows.iter()
                .map(|row| row.iter().map(|c| for_terminal(c)).collect()),
        )
        .collect();
    let widths: Vec<usize> = (0..header.len())
        .map(|col| {
            cells
                .iter()
                .map(|row| row.get(col).map_or(0, |c| c.width()))
                .max()
                .unwrap_or(0)
        })
        .collect();
    cells
        .iter()
        .map(|row| {
            let line: Vec<String> = row
                .iter()
                .zip(&widths)
                .map(|(cell, width)| {
                    let pad = width.saturating_sub(cell.width());
                    format!("{cell}{}", " ".repeat(pad))
                })
                .collect();
            line.join("  ").trim_end().to_owned()
        })
        .collect()
}

/// The rooms table (`sotto rooms`; chat's `/rooms` adds what is unread).
pub fn room_table(rooms: &[Room]) -> Vec<String> {
    let rows: Vec<Vec<String>> = rooms
        .iter()
        .map(|room| {
            vec![
                room.name().to_owned(),
                room.members().len().to_string(),
                room.epoch().to_string(),
            ]
        })
        .collect();
    columns(&["ROOM", "MEMBERS", "EPOCH"], &rows)
}

/// The members table (name, fingerprint, trust, status), sorted by name.
pub fn member_table(room: &Room) -> Vec<String> {
    let mut members: Vec<_> = room.members().iter().collect();
    members.sort_by(|a, b| a.1.identity.name.cmp(&b.1.identity.name));
    let rows: Vec<Vec<String>> = members
        .into_iter()
        .map(|(fingerprint, member)| {
            let status = match (member.trust, member.online) {
                (Trust::Own, _) => "-",
                (_, true) => "online",
                (_, false) => "offline",
            };
            vec![
                member.identity.name.clone(),
                fingerprint.to_string(),
                trust_label(room, fingerprint, member),
                status.to_owned(),
            ]
        })
        .collect();
    columns(&["NAME", "FINGERPRINT", "TRUST", "STATUS"], &rows)
}

/// How a member's trust reads in tables: a key change or look-alike the
/// user has not resolved is loud, and so is a key that blocks sending.
fn trust_label(room: &Room, fingerprint: &Fingerprint, member: &Member) -> String {
    let base = match member.trust {
        Trust::Own => "you",
        Trust::Verified => "verified",
        Trust::Invite => "verified (inviter)",
        Trust::Tofu => "unverified",
    };
    let flag = match room.name_warning(fingerprint) {
        Some(NameWarning::KeyChanged) => ", KEY CHANGED",
        Some(NameWarning::LookAlike) => ", LOOK-ALIKE",
        None if member.accepted => ", accepted",
        None => "",
    };
    let blocks = if room
        .blocked_by()
        .iter()
        .any(|b| b.fingerprint == *fingerprint)
    {
        ", BLOCKS SENDING"
    } else {
        ""
    };
    format!("{base}{flag}{blocks}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_line_up_and_escape_cells() {
        let rows = vec![
            vec!["alice".to_owned(), "1".to_owned()],
            vec!["b\x1b".to_owned(), "22".to_owned()],
        ];
        let lines = columns(&["NAME", "N"], &rows);
        assert_eq!(lines, ["NAME     N", "alice    1", "b\\u{1b}  22"]);
    }

    #[test]
    fn wide_characters_keep_columns_aligned() {
        let rows = vec![
            vec!["李小龙".to_owned(), "online".to_owned()],
            vec!["🎉🎉".to_owned(), "offline".to_owned()],
            vec!["ann".to_owned(), "-".to_owned()],
        ];
        let lines = columns(&["NAME", "STATUS"], &rows);
        assert_eq!(
            lines,
            [
                "NAME    STATUS",
                "李小龙  online",
                "🎉🎉    offline",
                "ann     -",
            ]
        );
        // Every second column starts at the same terminal column.
        let starts: Vec<usize> = lines
            .iter()
            .map(|line| {
                let second = line.rfind(' ').unwrap() + 1;
                line[..second].width()
            })
            .collect();
        assert!(starts.iter().all(|s| *s == starts[0]), "{starts:?}");
    }
}
