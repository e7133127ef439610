//! `sotto bench` against a broker it is given: every figure comes out as
//! JSON, and nothing it made is left on the broker afterwards. Small sizes
//! keep it quick; the figures themselves are never asserted (timing
//! belongs in BENCHMARKS.md, not in tests).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
mod home;

use std::time::Duration;

use common::{BlockingRawClient, Mosquitto, MosquittoOptions};
use home::Home;

/// The ratios issue 7 names, and the idle memory.
const REQUIRED: [&str; 6] = [
    "throughput_vs_floor_qos1",
    "throughput_vs_plain_qos1",
    "latency_p99_vs_floor",
    "fanout_vs_floor",
    "catchup_1000_vs_floor",
    "rss_idle_mib",
];

#[test]
fn bench_prints_every_figure_as_json_and_leaves_nothing_on_the_broker() {
    // $SYS every second, so the session count below is fresh.
    let broker = Mosquitto::start_with(MosquittoOptions {
        extra_config: vec!["sys_interval 1".to_owned()],
        ..MosquittoOptions::default()
    });
    let home = Home::empty(&broker.url());
    let out = home.run(&["bench", "--messages", "200", "--members", "5", "--json"]);
    let stdout = String::from_utf8(out.stdout).unwrap();
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(
        stderr.contains("sotto bench [1/"),
        "no progress line: {stderr}"
    );
    assert!(stdout.contains("crypto floor"), "no table: {stdout}");

    let last = stdout.lines().last().unwrap_or_default();
    let json: serde_json::Value = serde_json::from_str(last)
        .unwrap_or_else(|err| panic!("the last line is not JSON ({err}): {last}"));
    for field in REQUIRED {
        assert!(json.get(field).is_some(), "no {field} in {json}");
    }
    let mut numbers = 0;
    every_number(&json, "", &mut |name, value| {
        numbers += 1;
        assert!(
            value.is_finite() && value > 0.0,
            "{name} = {value} in {json}"
        );
    });
    assert!(numbers > 20, "only {numbers} figures: {json}");
    assert_eq!(json["members"], 5);
    assert_eq!(json["messages"], 200);

    // Nothing retained under sotto's prefix, and no session but ours.
    let checker = BlockingRawClient::connect(broker.port(), "bench-checker");
    checker.subscribe("sotto/#");
    std::thread::sleep(Duration::from_secs(1));
    let retained: Vec<_> = checker.received().into_iter().map(|r| r.topic).collect();
    assert!(retained.is_empty(), "left retained: {retained:?}");
    checker.subscribe("$SYS/broker/clients/total");
    checker.wait_for_within(Duration::from_secs(5), "no session but ours", |all| {
        let last = all
            .iter()
            .rfind(|r| r.topic == "$SYS/broker/clients/total")?;
        (last.text() == "1").then_some(())
    });
}

/// Calls `check` with every number in `value` and its path.
fn every_number(value: &serde_json::Value, path: &str, check: &mut impl FnMut(&str, f64)) {
    match value {
        serde_json::Value::Number(n) => check(path, n.as_f64().unwrap_or(f64::NAN)),
        serde_json::Value::Object(fields) => {
            for (name, field) in fields {
                every_number(field, &format!("{path}/{name}"), check);
            }
        }
        serde_json::Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                every_number(item, &format!("{path}/{i}"), check);
            }
        }
        _ => {}
    }
}
