//! The built-in broker (being written).

pub fn run(_listen: std::net::SocketAddr) -> anyhow::Result<()> {
    anyhow::bail!("the built-in broker is not available yet")
}
