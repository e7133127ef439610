//! The interactive client (being written).

use sotto::store::Store;

use super::args::Cli;

pub fn run(_cli: &Cli, _store: &Store, _room: Option<&str>) -> anyhow::Result<()> {
    anyhow::bail!("chat is not available yet")
}
