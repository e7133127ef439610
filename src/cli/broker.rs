//! `sotto broker`: an MQTT broker built into sotto (rumqttd), so people can
//! try sotto without installing Mosquitto. It keeps everything in memory and
//! has no authentication and no TLS; it says so whenever it starts.
//!
//! rumqttd has no shutdown API and `Broker::start()` blocks for ever, so the
//! broker runs on its own thread and ends with the process.

use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener, TcpStream};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{Context, anyhow, bail};
use rumqttd::{Broker, Config, ConnectionSettings, RouterConfig, ServerSettings, Strategy};
use tokio::sync::oneshot;

/// Largest MQTT packet (remaining length) the broker accepts. Far above
/// sotto's 64 KiB envelopes, so that the clients' own size checks, not the
/// broker, deal with oversized payloads (rumqttd drops the connection of a
/// client that sends a bigger packet).
const MAX_PACKET_LEN: usize = 1024 * 1024;
const _: () = assert!(MAX_PACKET_LEN > sotto::transport::MAX_OUTGOING_PACKET_LEN);

/// rumqttd keeps every topic filter's messages in an in-memory log of
/// segments and drops the oldest segment when the log is full; persistent
/// sessions are cursors into that log. 64 segments of 1 MiB hold at least
/// 1000 maximum-size envelopes per filter, like Mosquitto's default
/// `max_queued_messages` of 1000, and far more ordinary chat lines.
const SEGMENT_LEN: usize = 1024 * 1024;
const SEGMENT_COUNT: usize = 64;

/// Enough for a demo with many rooms and clients; each room session is one
/// connection. rumqttd silently refuses connections beyond this.
const MAX_CONNECTIONS: usize = 1000;

/// How long a client may take to send CONNECT after opening the socket.
const CONNECT_TIMEOUT_MS: u16 = 10_000;

/// How long `spawn_builtin` and `run` wait for the broker to accept TCP.
const READY_TIMEOUT: Duration = Duration::from_secs(5);

const BANNER: &str = "\
sotto's built-in MQTT broker, for trying sotto out.
It keeps everything in memory (queued messages are lost when it stops), has no \
authentication and no TLS, and listens on loopback only by default.
For real use, run Mosquitto or another MQTT broker instead.";

/// `sotto broker`: runs the built-in broker in the foreground until Ctrl-C
/// or SIGTERM.
pub fn run(listen: SocketAddr) -> anyhow::Result<()> {
    ensure_free(listen)?;
    eprintln!("{BANNER}");
    if let Some(warning) = exposure_warning(listen) {
        eprintln!("{warning}");
    }
    let mut stopped = start(listen)?;
    wait_listening(listen, &mut stopped)?;
    eprintln!("Listening on mqtt://{listen}; press Ctrl-C to stop.");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("could not start the async runtime")?;
    runtime.block_on(wait_for_stop(stopped))?;
    eprintln!("Stopped the built-in broker; the messages it held are gone.");
    Ok(())
}

/// A warning when `listen` is reachable from other machines: the broker
/// has no authentication, so anyone who can reach it can use it.
fn exposure_warning(listen: SocketAddr) -> Option<String> {
    let ip = listen.ip();
    if ip.is_loopback() {
        return None;
    }
    let place = if ip.is_unspecified() {
        format!("every network interface ({ip})")
    } else {
        format!("{ip}, which is not a loopback address")
    };
    Some(format!(
        "Warning: listening on {place}, so anyone who can reach this machine on port {} \
         can use this broker. Messages stay end-to-end encrypted, but nothing stops \
         strangers from connecting.",
        listen.port()
    ))
}

/// The built-in broker `chat` started in its own process: it stops when
/// chat does, so chat warns before quitting while others still use it.
#[derive(Debug, Clone)]
pub struct BuiltinBroker {
    listen: SocketAddr,
}

impl BuiltinBroker {
    /// Where it listens.
    #[cfg(test)]
    pub fn address(&self) -> SocketAddr {
        self.listen
    }

    /// How many MQTT clients of other processes are connected to it now:
    /// established TCP connections to its port whose other end is not a
    /// socket of this process (chat's own rooms, and the old sessions it
    /// drains, connect to it too). A client that has connected but not
    /// yet sent CONNECT counts too, for the few seconds it may take.
    /// Always 0 where the kernel's connection table cannot be read
    /// (outside Linux).
    pub fn other_clients(&self) -> usize {
        established_from_others(self.listen)
    }

    /// What to say before quitting stops the broker while others use it:
    /// `None` when nobody else is connected. `online` names members seen
    /// online (at most as many as there are other clients are named).
    pub fn quit_warning(&self, online: &[String]) -> Option<String> {
        quit_warning(self.other_clients(), online)
    }
}

fn quit_warning(others: usize, online: &[String]) -> Option<String> {
    if others == 0 {
        return None;
    }
    let named: Vec<String> = online
        .iter()
        .take(others)
        .map(|name| sotto::sanitize::for_terminal(name))
        .collect();
    let rest = others - named.len();
    let who = match (named.as_slice(), rest) {
        ([], 1) => "1 other client is".to_owned(),
        ([], n) => format!("{n} other clients are"),
        ([one], 0) => format!("{one} is"),
        (names, 0) => format!("{} are", names.join(", ")),
        (names, 1) => format!("{} and 1 other are", names.join(", ")),
        (names, n) => format!("{} and {n} others are", names.join(", ")),
    };
    Some(format!(
        "{who} still connected through this built-in broker; quitting stops it. \
         Run `sotto broker` in another terminal for a lasting one."
    ))
}

/// Established TCP connections whose local end is `listen`'s port (and
/// address, unless it listens on all of them) and whose client end is not
/// a socket of this process, from the kernel's tables.
#[cfg(target_os = "linux")]
fn established_from_others(listen: SocketAddr) -> usize {
    let tables: Vec<String> = ["/proc/net/tcp", "/proc/net/tcp6"]
        .iter()
        .filter_map(|table| std::fs::read_to_string(table).ok())
        .collect();
    let inodes = own_socket_inodes();
    let ours: Vec<String> = (tables.iter())
        .flat_map(|table| our_client_ends(table, listen, &inodes))
        .collect();
    tables
        .iter()
        .map(|table| count_established(table, listen, &ours))
        .sum()
}

#[cfg(not(target_os = "linux"))]
fn established_from_others(_listen: SocketAddr) -> usize {
    0
}

/// The inodes of this process's sockets (`/proc/self/fd` links read
/// `socket:[INODE]`).
#[cfg(target_os = "linux")]
fn own_socket_inodes() -> Vec<String> {
    let Ok(fds) = std::fs::read_dir("/proc/self/fd") else {
        return Vec::new();
    };
    fds.filter_map(|fd| std::fs::read_link(fd.ok()?.path()).ok())
        .filter_map(|link| {
            let link = link.to_string_lossy();
            Some(link.strip_prefix("socket:[")?.strip_suffix(']')?.to_owned())
        })
        .collect()
}

/// The local addresses (as the table prints them) of established
/// connections to `listen`'s port made by sockets in `inodes`.
#[cfg_attr(not(target_os = "linux"), allow(dead_code))]
fn our_client_ends(table: &str, listen: SocketAddr, inodes: &[String]) -> Vec<String> {
    table
        .lines()
        .skip(1)
        .filter_map(|row| {
            let fields: Vec<&str> = row.split_whitespace().collect();
            let (local, remote, state, inode) = (
                fields.get(1)?,
                fields.get(2)?,
                fields.get(3)?,
                fields.get(9)?,
            );
            let (_, port) = remote.split_once(':')?;
            (*state == "01"
                && u16::from_str_radix(port, 16).ok() == Some(listen.port())
                && inodes.iter().any(|own| own == inode))
            .then(|| (*local).to_owned())
        })
        .collect()
}

/// Counts the rows of a /proc/net/tcp table for established connections
/// to `listen`: `sl local_address rem_address st ...`, addresses as
/// `HEXIP:HEXPORT`, state 01 meaning established.
/// Rows whose remote end is in `ours` are our own connections.
#[cfg_attr(not(target_os = "linux"), allow(dead_code))]
fn count_established(table: &str, listen: SocketAddr, ours: &[String]) -> usize {
    const ESTABLISHED: &str = "01";
    table
        .lines()
        .skip(1)
        .filter(|row| {
            let fields: Vec<&str> = row.split_whitespace().collect();
            let (Some(local), Some(remote), Some(state)) =
                (fields.get(1), fields.get(2), fields.get(3))
            else {
                return false;
            };
            if ours.iter().any(|own| own == remote) {
                return false;
            }
            let Some((ip, port)) = local.split_once(':') else {
                return false;
            };
            *state == ESTABLISHED
                && u16::from_str_radix(port, 16).ok() == Some(listen.port())
                && local_ip_matches(ip, listen.ip())
        })
        .count()
}

/// Whether a table's hex address is `ip` (any address matches a wildcard
/// listener; IPv6 rows are matched by port only).
fn local_ip_matches(hex: &str, ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(ip) if !ip.is_unspecified() && hex.len() == 8 => {
            // The kernel prints the address's bytes as a native integer.
            u32::from_str_radix(hex, 16).is_ok_and(|raw| Ipv4Addr::from(raw.to_ne_bytes()) == ip)
        }
        _ => true,
    }
}

/// Starts the built-in broker on a background thread (for `chat` when no
/// broker answers at the default address) and returns once it answers an
/// MQTT CONNECT, so chat's first connection cannot race its start. It
/// prints nothing: the caller explains what happened.
pub fn spawn_builtin(listen: SocketAddr) -> anyhow::Result<BuiltinBroker> {
    ensure_free(listen)?;
    let mut stopped = start(listen)?;
    wait_listening(listen, &mut stopped)?;
    Ok(BuiltinBroker { listen })
}

/// Fails with one clear sentence when `listen` cannot be bound. Checked
/// before starting rumqttd because its server thread only logs a bind
/// failure (and we silence its logs) instead of returning it.
fn ensure_free(listen: SocketAddr) -> anyhow::Result<()> {
    match TcpListener::bind(listen) {
        // Dropping the probe frees the port again for rumqttd.
        Ok(probe) => {
            drop(probe);
            Ok(())
        }
        Err(err) => Err(anyhow!("cannot listen on {listen}: {}", bind_problem(&err))),
    }
}

/// The reason a bind failed, in words a user can act on.
fn bind_problem(err: &io::Error) -> String {
    match err.kind() {
        io::ErrorKind::AddrInUse => {
            "something else is already using that port (another broker?)".to_owned()
        }
        io::ErrorKind::PermissionDenied => {
            "permission denied (ports below 1024 need administrator rights)".to_owned()
        }
        io::ErrorKind::AddrNotAvailable => {
            "that address does not belong to this machine".to_owned()
        }
        _ => err.to_string(),
    }
}

/// Starts rumqttd on its own thread. The receiver completes if the broker
/// ever stops (with the reason), or fails if its thread panicked.
fn start(listen: SocketAddr) -> anyhow::Result<oneshot::Receiver<String>> {
    let (stopped_tx, stopped_rx) = oneshot::channel();
    thread::Builder::new()
        .name("sotto-broker".to_owned())
        .spawn(move || {
            let mut broker = Broker::new(config(listen));
            let reason = match broker.start() {
                // start() returns only when its server threads have ended,
                // e.g. because the port was taken after our check.
                Ok(()) => format!("it stopped listening on {listen}"),
                Err(err) => err.to_string(),
            };
            // Nobody may be waiting any more (`spawn_builtin` returned).
            let _ = stopped_tx.send(reason);
        })
        .context("could not start the built-in broker's thread")?;
    Ok(stopped_rx)
}

/// The broker's configuration: one MQTT 3.1.1 listener, limits set
/// explicitly (rumqttd's defaults are 0, which breaks it), nothing else
/// (no console, metrics or bridge, which would open more ports).
fn config(listen: SocketAddr) -> Config {
    let server = ServerSettings {
        name: "sotto-broker-v4".to_owned(),
        listen,
        tls: None,
        // Pause between accepts: tiny, only to blunt connection floods.
        next_connection_delay_ms: 1,
        connections: connection_settings(),
    };
    Config {
        id: 0,
        router: router_config(),
        v4: Some(HashMap::from([("sotto".to_owned(), server)])),
        v5: None,
        ws: None,
        cluster: None,
        console: None,
        bridge: None,
        prometheus: None,
        metrics: None,
    }
}

fn router_config() -> RouterConfig {
    RouterConfig {
        max_connections: MAX_CONNECTIONS,
        // Messages read from a log per turn for QoS 0 subscribers (QoS 1
        // ones are bounded by rumqttd's fixed 100 in-flight slots).
        max_outgoing_packet_count: 200,
        max_segment_size: SEGMENT_LEN,
        max_segment_count: SEGMENT_COUNT,
        custom_segment: None,
        initialized_filters: None,
        shared_subscriptions_strategy: Strategy::default(),
    }
}

fn connection_settings() -> ConnectionSettings {
    ConnectionSettings {
        connection_timeout_ms: CONNECT_TIMEOUT_MS,
        max_payload_size: MAX_PACKET_LEN,
        // Packets read from one connection per batch before handing them
        // to the router.
        max_inflight_count: 100,
        auth: None,
        external_auth: None,
        // Lets a client publish to a topic no one has subscribed to yet
        // instead of being refused.
        dynamic_filters: true,
    }
}

/// Waits until the broker answers an MQTT CONNECT, or fails if it stopped
/// or did not come up in time. A TCP accept alone is not enough: the
/// listener may take the socket before the broker serves it.
fn wait_listening(
    listen: SocketAddr,
    stopped: &mut oneshot::Receiver<String>,
) -> anyhow::Result<()> {
    let target = connect_address(listen);
    let deadline = Instant::now() + READY_TIMEOUT;
    loop {
        if answers_mqtt(target) {
            return Ok(());
        }
        match stopped.try_recv() {
            Ok(reason) => bail!("the built-in broker could not start: {reason}"),
            Err(oneshot::error::TryRecvError::Closed) => {
                bail!("the built-in broker could not start (it crashed)")
            }
            Err(oneshot::error::TryRecvError::Empty) => {}
        }
        if Instant::now() >= deadline {
            bail!("the built-in broker did not start listening on {listen} within 5 seconds");
        }
        thread::sleep(Duration::from_millis(20));
    }
}

/// Whether an MQTT 3.1.1 broker at `target` accepts a clean-session
/// CONNECT (it then gets a DISCONNECT, leaving nothing behind).
fn answers_mqtt(target: SocketAddr) -> bool {
    use std::io::{Read, Write};
    const CLIENT_ID: &[u8] = b"sotto-ready-probe";
    let mut connect = vec![0x10, 0];
    connect.extend_from_slice(&[0, 4, b'M', b'Q', b'T', b'T', 4, 0x02, 0, 10]);
    connect.extend_from_slice(&[0, CLIENT_ID.len() as u8]);
    connect.extend_from_slice(CLIENT_ID);
    connect[1] = (connect.len() - 2) as u8;
    let probe = || -> io::Result<bool> {
        let mut stream = TcpStream::connect_timeout(&target, Duration::from_millis(200))?;
        stream.set_read_timeout(Some(Duration::from_secs(1)))?;
        stream.write_all(&connect)?;
        let mut connack = [0u8; 4];
        stream.read_exact(&mut connack)?;
        let accepted = connack[0] == 0x20 && connack[3] == 0;
        // A polite goodbye; the broker forgets the session either way.
        let _ = stream.write_all(&[0xe0, 0]);
        Ok(accepted)
    };
    probe().unwrap_or(false)
}

/// Where to connect to reach a listener on `listen`: a wildcard address
/// (0.0.0.0 or ::) is reached through loopback.
fn connect_address(listen: SocketAddr) -> SocketAddr {
    let ip = match listen.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        ip => ip,
    };
    SocketAddr::new(ip, listen.port())
}

/// Blocks until Ctrl-C or SIGTERM (Ok) or until the broker stops (Err).
async fn wait_for_stop(stopped: oneshot::Receiver<String>) -> anyhow::Result<()> {
    tokio::select! {
        result = tokio::signal::ctrl_c() => result.context("could not watch for Ctrl-C"),
        result = terminated() => result,
        reason = stopped => match reason {
            Ok(reason) => bail!("the built-in broker stopped: {reason}"),
            Err(_) => bail!("the built-in broker stopped (it crashed)"),
        },
    }
}

/// Completes on SIGTERM, the polite stop of service managers and `kill`.
#[cfg(unix)]
async fn terminated() -> anyhow::Result<()> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).context("could not watch for SIGTERM")?;
    term.recv().await;
    Ok(())
}

#[cfg(not(unix))]
async fn terminated() -> anyhow::Result<()> {
    std::future::pending().await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcard_listeners_are_reached_through_loopback() {
        let any4: SocketAddr = "0.0.0.0:1883".parse().unwrap();
        assert_eq!(connect_address(any4).ip(), IpAddr::V4(Ipv4Addr::LOCALHOST));
        let any6 = SocketAddr::new(IpAddr::V6(Ipv6Addr::UNSPECIFIED), 1883);
        assert_eq!(connect_address(any6).ip(), IpAddr::V6(Ipv6Addr::LOCALHOST));
        let lan = SocketAddr::new(IpAddr::V4(Ipv4Addr::new(192, 168, 1, 2)), 1883);
        assert_eq!(connect_address(lan), lan);
    }

    #[test]
    fn only_addresses_others_can_reach_get_a_warning() {
        let loopback = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 1883);
        assert_eq!(exposure_warning(loopback), None);
        let any = SocketAddr::new(IpAddr::V6(Ipv6Addr::UNSPECIFIED), 1883);
        assert!(exposure_warning(any).is_some_and(|w| w.contains("every network interface")));
        let lan = SocketAddr::new(IpAddr::V4(Ipv4Addr::new(192, 168, 1, 2)), 1883);
        assert!(exposure_warning(lan).is_some_and(|w| w.contains("anyone who can reach")));
    }

    /// A loopback address with a port nothing listens on now.
    fn free_loopback() -> SocketAddr {
        TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .and_then(|probe| probe.local_addr())
            .unwrap()
    }

    #[test]
    fn spawn_builtin_returns_once_the_broker_accepts_connections() {
        // The broker thread lives until this test process exits.
        let listen = free_loopback();
        let broker = spawn_builtin(listen).unwrap();
        assert!(answers_mqtt(listen));
        assert_eq!(broker.address(), listen);
        let again = spawn_builtin(listen).unwrap_err();
        assert!(format!("{again:#}").contains("something else is already using that port"));
    }

    #[test]
    fn config_sets_every_limit_rumqttd_needs() {
        let listen = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 1883);
        let config = config(listen);
        assert!(config.router.max_connections > 0);
        assert!(config.router.max_segment_size >= 1024);
        assert!(config.router.max_segment_count >= 1);
        assert!(config.router.max_outgoing_packet_count > 0);
        let servers = config.v4.unwrap();
        assert_eq!(servers.len(), 1);
        assert!(servers.values().all(|s| s.listen == listen
            && s.connections.dynamic_filters
            && s.connections.max_payload_size > 70_000));
    }

    #[test]
    fn other_clients_counts_connections_of_other_processes() {
        let listen = free_loopback();
        let port = listen.port();
        let broker = spawn_builtin(listen).unwrap();
        // Ours: never counted.
        let _ours = TcpStream::connect(listen).unwrap();
        // Another process's: bash holds a connection open for a while.
        let mut theirs = std::process::Command::new("bash")
            .args([
                "-c",
                &format!("exec 3<>/dev/tcp/127.0.0.1/{port}; sleep 30"),
            ])
            .spawn()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        while broker.other_clients() != 1 {
            assert!(Instant::now() < deadline, "{}", broker.other_clients());
            thread::sleep(Duration::from_millis(50));
        }
        theirs.kill().unwrap();
        theirs.wait().unwrap();
        while broker.other_clients() != 0 {
            assert!(Instant::now() < deadline, "{}", broker.other_clients());
            thread::sleep(Duration::from_millis(50));
        }
    }

    #[test]
    fn the_kernel_table_is_read_by_port_state_and_address() {
        let table = "  sl  local_address rem_address   st tx_queue rx_queue\n\
            0: 0100007F:075B 0100007F:D2F0 01 00000000:00000000\n\
            1: 0100007F:075B 0100007F:D2F2 06 00000000:00000000\n\
            2: 0100007F:D2F0 0100007F:075B 01 00000000:00000000\n\
            3: 0200007F:075B 0100007F:D2F4 01 00000000:00000000\n\
            4: 00000000:075B 00000000:0000 0A 00000000:00000000\n";
        let loopback = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 1883);
        if cfg!(target_endian = "little") {
            assert_eq!(count_established(table, loopback, &[]), 1);
            assert_eq!(
                count_established(table, loopback, &["0100007F:D2F0".into()]),
                0
            );
        }
        let any = SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 1883);
        assert_eq!(count_established(table, any, &[]), 2);
    }

    #[test]
    fn the_quit_warning_names_who_is_left() {
        assert_eq!(quit_warning(0, &["bob".into()]), None);
        let one = quit_warning(2, &["bob".into()]).unwrap();
        assert!(
            one.starts_with("bob and 1 other are still connected through this built-in broker; quitting stops it."),
            "{one}"
        );
        assert!(one.contains("`sotto broker`"), "{one}");
        assert!(
            quit_warning(1, &[])
                .unwrap()
                .starts_with("1 other client is")
        );
        assert!(
            quit_warning(1, &["e\x1b".into()])
                .unwrap()
                .starts_with("e\\u{1b} is")
        );
    }
}
