//! Everything in contrib/ is loaded by a test, so it cannot rot: the
//! Mosquitto config and ACL run a real broker that two members chat
//! through (over TLS, with passwords) while a broker user outside the ACL
//! sees nothing of them; the NATS cluster configs pass nats-server's
//! config test and run a three-node cluster that two members chat across;
//! the systemd unit passes `systemd-analyze verify`, and its command line
//! is the one the bot in the first test runs.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
mod home;

use std::process::Command;
use std::time::Duration;

use common::contrib::{
    ContribMosquitto, ContribNatsCluster, NATS_NODES, NATS_USER, User, contrib, contrib_text,
    locate, mosquitto_setting, nats_config_test, nats_node_file, unit_values,
};
use common::{BlockingRawClient, RawClient};
use home::{Home, Listener, json_lines, texts};
use sotto::topics::{DEFAULT_PREFIX, RoomTopics, TopicKind};

const ALICE: User = User {
    name: "alice",
    password: "alice's broker password",
};
const BOB: User = User {
    name: "deploybot",
    password: "the bot's broker password",
};
/// A sotto user of the broker who is in no room.
const CAROL: User = User {
    name: "carol",
    password: "carol's broker password",
};
/// The account contrib/acl gives no sotto topics.
const MONITOR: User = User {
    name: "monitor",
    password: "monitor's broker password",
};

/// How long a message may take to arrive before the test gives up.
const ARRIVE_WITHIN: Duration = Duration::from_secs(30);

/// A member on the contrib broker: broker user, password and CA from the
/// environment, as docs/operating.md tells users to set them.
fn member(name: &str, broker: &ContribMosquitto, user: User) -> Home {
    Home::init(name, &broker.url())
        .with_env("SOTTO_USERNAME", user.name)
        .with_env("SOTTO_PASSWORD", user.password)
        .with_env("SOTTO_CA_FILE", broker.certs.ca().to_str().unwrap())
}

/// alice founded `ops` with a membership log (so every kind of topic is
/// used: messages, presence, key slots, commits, the log state, join
/// requests) and the bot joined it; both caught up.
fn room_on(broker: &ContribMosquitto) -> (Home, Home) {
    let alice = member("alice", broker, ALICE);
    let bot = member("deploybot", broker, BOB);
    let invite = alice.ok(&["room", "create", "ops"]);
    bot.join(invite.lines().last().unwrap());
    for home in [&bot, &alice] {
        home.catch_up("ops", 1);
    }
    (alice, bot)
}

/// A raw MQTT client over the contrib broker's TLS listener, logged in as
/// `user`.
fn raw_client(broker: &ContribMosquitto, user: User) -> BlockingRawClient {
    let mut options = RawClient::options(broker.tls_port, &format!("raw-{}", user.name));
    options.set_credentials(user.name, user.password);
    options.set_transport(sotto::tls::transport(Some(&broker.certs.ca()), None).unwrap());
    BlockingRawClient::connect_with(options)
}

/// The contrib unit's ExecStart, run as systemd would run it for `home`:
/// the binary is the one under test, `SOTTO_HOME` is the home, and the
/// rest of the environment is what listen.env holds.
fn unit_command(home: &Home, broker: &ContribMosquitto, user: User) -> Command {
    let unit = contrib_text("sotto-listen.service");
    let exec = unit_values(&unit, "ExecStart");
    assert_eq!(exec.len(), 1, "one ExecStart: {exec:?}");
    let mut words = exec[0].split_whitespace();
    let binary = words.next().unwrap();
    assert!(
        binary.starts_with('/') && binary.ends_with("/sotto"),
        "ExecStart runs sotto by absolute path: {binary}"
    );
    let room = "ops";
    let args: Vec<String> = words.map(|w| w.replace("${SOTTO_ROOM}", room)).collect();
    let mut cmd = Command::new(assert_cmd::cargo::cargo_bin!("sotto"));
    cmd.env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("NO_COLOR", "1")
        .env("SOTTO_HOME", home.path())
        .env("SOTTO_ROOM", room)
        .env("SOTTO_BROKER", broker.url())
        .env("SOTTO_USERNAME", user.name)
        .env("SOTTO_PASSWORD", user.password)
        .env("SOTTO_CA_FILE", broker.certs.ca())
        .args(&args)
        .stdin(std::process::Stdio::null());
    cmd
}

/// The tests that run brokers take turns: a three-node NATS cluster and
/// TLS brokers starting together on two cores slowed delivery past the
/// tests' patience (a message seen late is not a message lost, but the
/// test cannot tell).
fn one_broker_test_at_a_time() -> std::sync::MutexGuard<'static, ()> {
    static TURN: std::sync::Mutex<()> = std::sync::Mutex::new(());
    TURN.lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

#[test]
fn two_members_chat_through_the_contrib_mosquitto_config_and_acl() {
    let _one_at_a_time = one_broker_test_at_a_time();
    let broker = ContribMosquitto::start(&[ALICE, BOB]);
    let (alice, bot) = room_on(&broker);

    // The bot runs exactly what contrib/sotto-listen.service runs.
    let listening = Listener::spawn(unit_command(&bot, &broker, BOB));
    alice.send("ops", "deploy finished");
    // The largest message sotto sends fits the config's packet limit.
    let largest = "x".repeat(sotto::protocol::message::MAX_TEXT_LEN);
    let out = alice.run_with_stdin(&["send", "ops", "-"], &largest);
    assert!(
        out.status.success(),
        "the largest message did not go through: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines = listening.wait_json(2, ARRIVE_WITHIN);
    assert_eq!(texts(&lines[..1]), ["deploy finished"]);
    assert_eq!(lines[1]["text"].as_str().unwrap().len(), largest.len());
    assert_eq!(lines[0]["from"], "alice");
    drop(listening);

    // And back.
    let alice_listens = alice.listen_json("ops", &["--count", "1", "--timeout", "20"]);
    alice_listens.wait_stderr("listening to ops", ARRIVE_WITHIN);
    bot.send("ops", "thanks");
    let (ok, stdout, stderr) = alice_listens.finish();
    assert!(ok, "{stderr}");
    assert_eq!(texts(&json_lines(&stdout)), ["thanks"], "{stderr}");

    // The ACL allowed everything sotto did (on MQTT 3.1.1 a denied publish
    // would be dropped without a word to the client, so ask the broker).
    let log = broker.broker.log();
    let denied: Vec<&str> = log.lines().filter(|l| l.contains("Denied")).collect();
    assert!(
        denied.is_empty(),
        "the ACL denied sotto:\n{}",
        denied.join("\n")
    );
}

#[test]
fn a_broker_user_outside_the_acl_receives_nothing_of_sotto() {
    let _one_at_a_time = one_broker_test_at_a_time();
    let broker = ContribMosquitto::start(&[ALICE, BOB, CAROL, MONITOR]);
    // Both watch everything they may from the start.
    let monitor = raw_client(&broker, MONITOR);
    monitor.subscribe("#");
    monitor.subscribe("sotto/#");
    let carol = raw_client(&broker, CAROL);
    carol.subscribe("sotto/#");

    let (alice, bot) = room_on(&broker);
    let listening = bot.listen_json("ops", &["--count", "1", "--timeout", "20"]);
    alice.send("ops", "a secret plan");
    let (ok, stdout, stderr) = listening.finish();
    assert!(ok, "{stderr}");
    assert_eq!(texts(&json_lines(&stdout)), ["a secret plan"]);

    // carol is a sotto user of the broker but in no room: the ACL cannot
    // keep her from the room's topics, sizes and timing (only from its
    // content, which the room's key keeps).
    let topics = RoomTopics::new(DEFAULT_PREFIX, &alice.room("ops"));
    let seen = carol.wait_for("the room's message on carol's sotto/#", |got| {
        got.iter().find(|r| r.topic == topics.messages).cloned()
    });
    assert!(!seen.text().contains("a secret plan"));

    // monitor is outside the ACL. Everything above was published before
    // this subscription; had the broker let any of it through, it would
    // sit in monitor's queue ahead of this retained $SYS message.
    monitor.subscribe("$SYS/broker/version");
    monitor.wait_for_topic("$SYS/broker/version");
    let leaked: Vec<String> = monitor
        .received()
        .into_iter()
        .filter(|r| r.topic.starts_with("sotto/"))
        .map(|r| r.topic)
        .collect();
    assert!(
        leaked.is_empty(),
        "monitor received sotto topics: {leaked:?}"
    );
}

#[test]
fn a_client_without_a_valid_broker_password_is_refused_with_a_sentence() {
    let broker = ContribMosquitto::start(&[ALICE]);
    let ca = broker.certs.ca();
    let ca = ca.to_str().unwrap();
    let nobody = Home::init("nobody", &broker.url()).with_env("SOTTO_CA_FILE", ca);
    nobody.ok(&["room", "create", "ops"]);
    let wrong = Home::init("wrong", &broker.url())
        .with_env("SOTTO_CA_FILE", ca)
        .with_env("SOTTO_USERNAME", ALICE.name)
        .with_env("SOTTO_PASSWORD", "not alice's password");
    wrong.ok(&["room", "create", "ops"]);
    for (who, home) in [("no user name", &nobody), ("a wrong password", &wrong)] {
        let done = home.run_within(&["send", "ops", "hi"], Duration::from_secs(15));
        assert_eq!(done.code(), Some(1), "{who}: {}", done.describe());
        assert!(
            done.stderr.contains("refused") && done.stderr.contains("SOTTO_PASSWORD"),
            "{who}: {}",
            done.describe()
        );
    }
}

/// Whether the MQTT topic (or filter, whose wildcards count as levels)
/// `topic` is matched by the ACL topic `pattern`.
fn acl_matches(pattern: &str, topic: &str) -> bool {
    let pattern: Vec<&str> = pattern.split('/').collect();
    let topic: Vec<&str> = topic.split('/').collect();
    for (i, level) in pattern.iter().enumerate() {
        match *level {
            "#" => return true,
            "+" if i < topic.len() => {}
            exact if topic.get(i) == Some(&exact) => {}
            _ => return false,
        }
    }
    pattern.len() == topic.len()
}

#[test]
fn the_contrib_acl_allows_exactly_the_topics_sotto_uses() {
    use rand::SeedableRng;
    let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(9);
    let alice = sotto::identity::Identity::generate("alice", &mut rng).unwrap();
    let bob = sotto::identity::Identity::generate("bob", &mut rng).unwrap();
    let room = sotto::room::Room::found("ops", &alice, 0, &mut rng).unwrap();
    let topics = RoomTopics::new(DEFAULT_PREFIX, &room);
    let epoch = &topics.current;
    // Every topic sotto publishes to, with what it is.
    let published = [
        (epoch.messages.clone(), TopicKind::Messages),
        (epoch.own_presence.clone(), TopicKind::Presence),
        (
            topics.key_slot_of(&room, &bob.fingerprint()),
            TopicKind::Other,
        ),
        (epoch.own_key_slot.clone(), TopicKind::KeySlot),
        (epoch.own_commit.clone(), TopicKind::Commit),
        (epoch.state.clone(), TopicKind::State),
        (epoch.own_request.clone(), TopicKind::Request),
    ];
    for (topic, kind) in &published {
        assert_eq!(topics.classify(topic), *kind, "{topic}");
    }
    let subscribed = topics.subscriptions();
    let used: Vec<&str> = published
        .iter()
        .map(|(t, _)| t.as_str())
        .chain(subscribed.iter().map(String::as_str))
        .collect();

    let acl = contrib_text("acl");
    let patterns: Vec<&str> = acl
        .lines()
        .filter_map(|l| l.trim().strip_prefix("pattern readwrite "))
        .map(str::trim)
        .collect();
    assert!(
        !patterns.is_empty(),
        "no `pattern readwrite` lines in contrib/acl"
    );
    for topic in &used {
        assert!(
            patterns.iter().any(|p| acl_matches(p, topic)),
            "contrib/acl does not allow {topic}"
        );
    }
    for pattern in &patterns {
        assert!(
            pattern.starts_with(&format!("{DEFAULT_PREFIX}/")) && !pattern.contains('#'),
            "contrib/acl allows more than sotto's topics: {pattern}"
        );
        assert!(
            used.iter().any(|t| acl_matches(pattern, t)),
            "contrib/acl allows {pattern}, which sotto never uses"
        );
    }
}

#[test]
fn the_contrib_mosquitto_conf_keeps_what_sotto_needs() {
    let conf = contrib_text("mosquitto.conf");
    let setting = |name: &str| {
        mosquitto_setting(&conf, name)
            .unwrap_or_else(|| panic!("contrib/mosquitto.conf does not set {name}"))
    };
    let packet: usize = setting("max_packet_size").parse().unwrap();
    assert!(
        packet >= sotto::transport::MAX_OUTGOING_PACKET_LEN
            && packet >= sotto::transport::V5_MAX_INCOMING_PACKET_LEN as usize,
        "max_packet_size {packet} is below sotto's largest packet"
    );
    assert_eq!(setting("allow_anonymous"), "false");
    assert_eq!(setting("persistence"), "true");
    assert_eq!(setting("retain_available"), "true");
    assert_ne!(setting("max_qos"), "0");
    assert!(!setting("persistent_client_expiration").is_empty());
    assert!(setting("max_queued_messages").parse::<u64>().unwrap() >= 1000);
    assert!(!setting("certfile").is_empty() && !setting("keyfile").is_empty());
    assert!(!setting("password_file").is_empty() && !setting("acl_file").is_empty());
}

#[test]
fn the_contrib_nats_node_configs_pass_the_config_test() {
    let mut names = Vec::new();
    for n in 1..=NATS_NODES {
        let file = nats_node_file(n);
        let (ok, said) = nats_config_test(&file);
        assert!(ok, "nats-server -t -c {}: {said}", file.display());
        let text = std::fs::read_to_string(&file).unwrap();
        let name = text
            .lines()
            .find_map(|l| l.trim().strip_prefix("server_name:"))
            .unwrap_or_else(|| panic!("{} has no server_name", file.display()))
            .trim()
            .to_owned();
        names.push(name);
    }
    names.sort();
    names.dedup();
    assert_eq!(
        names.len(),
        NATS_NODES,
        "server names must differ: {names:?}"
    );
    let common = contrib_text("nats-cluster/common.conf");
    assert!(
        common.contains("stream_replicas: 3"),
        "MQTT state on every node"
    );
}

#[test]
fn two_members_chat_across_nodes_of_the_contrib_nats_cluster() {
    let _one_at_a_time = one_broker_test_at_a_time();
    // NATS reads the password variable as a config value: hex, as the
    // comment in common.conf advises.
    let password = "5d0f3a9c27e84b61";
    let cluster = ContribNatsCluster::start(password);
    let on_node = |name: &str, n: usize| {
        Home::init(name, &cluster.url(n))
            .with_env("SOTTO_USERNAME", NATS_USER)
            .with_env("SOTTO_PASSWORD", password)
    };
    let alice = on_node("alice", 1);
    let bob = on_node("bob", 2);
    bob.join(&alice.create_room("ops"));
    // bob's session (on node 2) queues what alice sends on node 1 while
    // he is away.
    bob.register("ops");
    alice.send("ops", "sent while bob was away");
    let listening = bob.listen_json("ops", &["--count", "2", "--timeout", "30"]);
    alice.send("ops", "sent while bob listens");
    let (ok, stdout, stderr) = listening.finish();
    assert!(ok, "{stderr}\n{}", cluster.logs());
    assert_eq!(
        texts(&json_lines(&stdout)),
        ["sent while bob was away", "sent while bob listens"],
        "{stderr}"
    );
}

#[test]
fn the_contrib_systemd_unit_is_valid_and_hardened() {
    let unit = contrib_text("sotto-listen.service");
    let one = |key: &str| {
        let values = unit_values(&unit, key);
        assert!(!values.is_empty(), "the unit does not set {key}");
        values.join(" ")
    };
    assert!(
        !unit_values(&unit, "User").is_empty() || one("DynamicUser") == "yes",
        "the unit runs as a user of its own"
    );
    let home = one("Environment");
    let home = home
        .split_whitespace()
        .find_map(|kv| kv.strip_prefix("SOTTO_HOME="))
        .expect("the unit sets SOTTO_HOME");
    assert_eq!(home, format!("/var/lib/{}", one("StateDirectory")));
    assert!(one("EnvironmentFile").starts_with('/'));
    assert!(one("ExecStart").contains(" listen "));
    for (key, value) in [
        ("ProtectSystem", "strict"),
        ("ProtectHome", "yes"),
        ("NoNewPrivileges", "yes"),
        ("PrivateTmp", "yes"),
        ("UMask", "0077"),
    ] {
        assert_eq!(one(key), value, "{key}");
    }

    let Some(analyze) = locate("systemd-analyze") else {
        eprintln!(
            "systemd-analyze is not installed: the unit was only parsed (install systemd to verify it)"
        );
        return;
    };
    // verify refuses an ExecStart binary that does not exist: point it at
    // the one under test.
    let dir = tempfile::tempdir().unwrap();
    let copy = dir.path().join("sotto-listen.service");
    let binary = assert_cmd::cargo::cargo_bin!("sotto");
    std::fs::write(
        &copy,
        unit.replace("/usr/local/bin/sotto", binary.to_str().unwrap()),
    )
    .unwrap();
    let out = Command::new(&analyze)
        .arg("verify")
        .arg(&copy)
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&out.stderr);
    // verify exits 0 even for settings it ignores; any word about the
    // unit is a failure.
    let about_unit: Vec<&str> = said
        .lines()
        .filter(|l| l.contains("sotto-listen"))
        .collect();
    assert!(
        out.status.success() && about_unit.is_empty(),
        "systemd-analyze verify {}: {said}",
        contrib("sotto-listen.service").display()
    );
}
