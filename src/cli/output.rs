//! Plain-text tables and labels shared by the commands.

use sotto::room::{Member, Trust};
use sotto::sanitize::for_terminal;

/// Prints rows as left-aligned columns; every cell is sanitised.
pub fn print_table(header: &[&str], rows: &[Vec<String>]) {
    let cells: Vec<Vec<String>> = std::iter::once(header.iter().map(|h| h.to_string()).collect())
        .chain(
            rows.iter()
                .map(|row| row.iter().map(|c| for_terminal(c)).collect()),
        )
        .collect();
    let widths: Vec<usize> = (0..header.len())
        .map(|col| {
            cells
                .iter()
                .map(|row| row.get(col).map_or(0, |c| c.chars().count()))
                .max()
                .unwrap_or(0)
        })
        .collect();
    for row in &cells {
        let line: Vec<String> = row
            .iter()
            .zip(&widths)
            .map(|(cell, width)| format!("{cell:<width$}"))
            .collect();
        println!("{}", line.join("  ").trim_end());
    }
}

/// How a member's trust reads in tables.
pub fn trust_label(member: &Member) -> String {
    let base = match member.trust {
        Trust::Own => "you",
        Trust::Verified => "verified",
        Trust::Invite => "verified (inviter)",
        Trust::Tofu => "unverified",
    };
    if member.replaces.is_some() {
        format!("{base}, KEY CHANGED")
    } else {
        base.to_owned()
    }
}
