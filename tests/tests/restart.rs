//! Restarts, crashes and upgrades under traffic: the pinned data plane keeps enforcing while
//! the daemon is gone, falls back to the static division at expiry, and a new daemon adopts
//! it with no gap and no reset of counters. Needs root; run by `cargo xtask test`.

use std::{
    process::Command,
    time::{Duration, Instant},
};

use opd_testbed::{
    AgencyText, Bed, Forwarding, Limit, Metrics, PolicyText, SimNetwork, Stream, TempDir, Way,
    traffic::Arrivals,
};

const MBPS: f64 = 1e6;

/// `opd_gateway_agency_passed_bytes_total` per agency and direction, from /metrics.
fn passed_totals(net: &SimNetwork) -> Vec<(String, f64)> {
    Metrics::scrape(&net.gateway).series("opd_gateway_agency_passed_bytes_total", &[])
}

#[test]
fn kill_9_keeps_enforcing_and_a_restart_adopts_without_a_gap() {
    let agency = |id: &str, vid: u16, guaranteed: &str| {
        AgencyText::new(id)
            .vlans(&[vid])
            .upload(Limit::rate("1Mbps"))
            .download(Limit::guaranteed(guaranteed, "60Mbps"))
    };
    let policy = PolicyText::site()
        .capacity("60Mbps", "60Mbps")
        .headroom("1Mbps")
        .tick("500ms")
        .expiry("1500ms")
        .fallback("guaranteed")
        .unclassified("drop")
        .agency(agency("a", 110, "10Mbps"))
        .agency(agency("b", 120, "20Mbps"));
    let mut bed = Bed::start(&[110, 120], Forwarding::Redirect, &policy, "0s");
    let (net, gw) = (&bed.net, &mut bed.gateway);
    let start = Instant::now() + Duration::from_millis(200);
    let total = Duration::from_secs(17);
    let flows: Vec<Stream> = [110u16, 120]
        .iter()
        .map(|&vid| net.steady_stream(vid, Way::Download, start, total, 50.0 * MBPS))
        .collect();
    std::thread::sleep((start + Duration::from_secs(4)).saturating_duration_since(Instant::now()));
    let before = passed_totals(net);
    // A crash: no chance to clean up.
    let killed = Instant::now();
    gw.signal(libc::SIGKILL);
    let _ = gw.stop();
    std::thread::sleep(Duration::from_secs(5));
    let restarted = Instant::now();
    let gw2 = net.start_gateway(&bed.policy_path, "0s");
    let attached = Instant::now();
    std::thread::sleep(Duration::from_millis(1500));
    let after = passed_totals(net);
    let (got, sent): (Vec<Arrivals>, Vec<_>) = flows.into_iter().map(Stream::finish).unzip();
    let sent: Vec<_> = sent.into_iter().map(|mut s| s.remove(0)).collect();
    let log = gw2.log();
    drop(gw2);

    let w = |a: &Arrivals, from: Instant, to: Instant| a.frame_rate(from, to) / MBPS;
    // Stay clear of the floods' last moments.
    let end = start + total - Duration::from_millis(500);
    let running = [
        w(&got[0], start + Duration::from_secs(2), killed),
        w(&got[1], start + Duration::from_secs(2), killed),
    ];
    let orphaned = [
        w(&got[0], killed + Duration::from_millis(2500), restarted),
        w(&got[1], killed + Duration::from_millis(2500), restarted),
    ];
    let resumed = [
        w(&got[0], attached + Duration::from_millis(1500), end),
        w(&got[1], attached + Duration::from_millis(1500), end),
    ];
    // The gap, if any: the emptiest 100 ms of each agency's traffic from the kill to the end,
    // among the bins in which its sender was sending (a stall of the host is no gap).
    let gap: Vec<f64> = got
        .iter()
        .zip(&sent)
        .map(|(a, s)| {
            a.lowest_rate_while_sending(
                s,
                killed - Duration::from_millis(500),
                end,
                Duration::from_millis(100),
            ) / MBPS
        })
        .collect();
    for (a, name) in got.iter().zip(["a", "b"]) {
        let from = killed - Duration::from_millis(500);
        let bins = a.binned_rates(from, end, Duration::from_millis(100));
        let empty: Vec<String> = bins
            .iter()
            .enumerate()
            .filter(|(_, r)| **r < 5.0 * MBPS)
            .map(|(i, r)| format!("{:+.1}s: {:.1}", i as f64 / 10.0 - 0.5, r / MBPS))
            .collect();
        eprintln!(
            "{name}: 100 ms bins below 5 Mbps, relative to the kill: {empty:?} (restart at {:+.1}s)",
            (restarted - killed).as_secs_f64()
        );
    }
    let peak: Vec<f64> = got
        .iter()
        .map(|a| {
            a.binned_rates(killed, end, Duration::from_millis(500))
                .into_iter()
                .fold(0.0, f64::max)
                / MBPS
        })
        .collect();
    eprintln!(
        "a, b (Mbps): running {running:.2?}; daemon killed, after expiry {orphaned:.2?}; restarted {resumed:.2?}; \
         lowest 100 ms bin from the kill on {gap:.2?}; highest 500 ms bin {peak:.2?}; restart to attached {:?}",
        attached - restarted
    );
    eprintln!("passed_bytes_total before the kill {before:?}\nafter the restart {after:?}");
    let near = |x: f64, want: f64| (x / want - 1.0).abs() <= 0.04;
    assert!(
        near(running[0], 24.5) && near(running[1], 34.5),
        "needs-based split while running: {running:?}"
    );
    assert!(
        near(orphaned[0], 10.0) && near(orphaned[1], 20.0),
        "without a daemon, at expiry, the static division: {orphaned:?}"
    );
    assert!(
        near(resumed[0], 24.5) && near(resumed[1], 34.5),
        "the new daemon divides by need again: {resumed:?}"
    );
    assert!(
        gap.iter().all(|&g| g >= 5.0),
        "a gap in enforcement: lowest 100 ms bins {gap:?} Mbps"
    );
    assert!(
        peak.iter().all(|&p| p <= 36.0),
        "unpoliced traffic across the restart: {peak:?}"
    );
    assert!(
        log.contains("adopted the pinned maps"),
        "the new daemon adopts:\n{log}"
    );
    assert_eq!(before.len(), after.len());
    for ((series, b), (series2, a)) in before.iter().zip(&after) {
        assert_eq!(series, series2);
        assert!(
            a >= b,
            "{series} went backwards across the restart: {b} → {a}"
        );
    }
    assert!(
        after.iter().zip(&before).any(|(a, b)| a.1 > b.1 + 1e6),
        "counters kept counting"
    );
}

#[test]
fn pinned_maps_of_another_layout_are_replaced() {
    let net = SimNetwork::new(&[110], Forwarding::Redirect);
    let dir = TempDir::new("layout");
    let policy = PolicyText::simulated_regency(Forwarding::Redirect)
        .unclassified("drop")
        .agency(
            AgencyText::new("a")
                .vlans(&[110])
                .both(Limit::rate("8Mbps")),
        );
    let path = dir.write("policy.toml", &policy.to_string());
    // A map left by another version: same name, another value size.
    std::fs::create_dir_all(&net.pin_dir).unwrap();
    let stale = net.pin_dir.join("OPD_LIMITS");
    let out = Command::new("bpftool")
        .args(["map", "create"])
        .arg(&stale)
        .args([
            "type",
            "array",
            "key",
            "4",
            "value",
            "8",
            "entries",
            "16",
            "name",
            "OPD_LIMITS",
        ])
        .output()
        .expect("bpftool (Debian's bpftool package) is installed by `cargo xtask setup`");
    assert!(
        out.status.success(),
        "bpftool map create: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let gw = net.start_gateway(&path, "0s");
    net.wait_reachable(&[110]);
    let log = gw.log();
    assert!(
        log.contains("pinned maps of another layout replaced") && log.contains("OPD_LIMITS"),
        "the stale map must be named and replaced:\n{log}"
    );
    // Enforcing with maps of this build: 8 Mbps held.
    let start = Instant::now();
    let got =
        net.steady_stream(
            110,
            Way::Download,
            start,
            Duration::from_millis(3700),
            16.0 * MBPS,
        )
        .arrivals()
        .frame_rate(
            start + Duration::from_secs(1),
            start + Duration::from_millis(3600),
        ) / MBPS;
    eprintln!("after replacing the stale map: {got:.2} Mbps of 8");
    assert!((got / 8.0 - 1.0).abs() <= 0.04, "{got}");
}

#[test]
fn a_resized_host_table_starts_afresh_and_everything_else_is_adopted() {
    let policy = |table: u32| {
        let text = PolicyText::simulated_regency(Forwarding::Redirect)
            .unclassified("drop")
            .agency(
                AgencyText::new("a")
                    .vlans(&[110])
                    .both(Limit::rate("8Mbps")),
            )
            .to_string();
        // The site's table comes first in the text.
        text.replacen("[site]\n", &format!("[site]\nhost_table = {table}\n"), 1)
    };
    let mut bed = Bed::start(
        &[110],
        Forwarding::Redirect,
        &PolicyText::simulated_regency(Forwarding::Redirect)
            .unclassified("drop")
            .agency(
                AgencyText::new("a")
                    .vlans(&[110])
                    .both(Limit::rate("8Mbps")),
            ),
        "0s",
    );
    // The daemon of the bed runs the default table; restart it on a 1024-entry one.
    std::fs::write(&bed.policy_path, policy(1024)).unwrap();
    bed.gateway.signal(libc::SIGKILL);
    let _ = bed.gateway.stop();
    let gw = bed.net.start_gateway(&bed.policy_path, "0s");
    // The pinned programs forward before the daemon is up: wait for it to serve.
    let log = serving(&gw);
    assert!(
        log.contains("the host table is resized") && log.contains("from=65536"),
        "the table's new size is said:\n{log}"
    );
    assert!(
        !log.contains("another layout"),
        "only the host table is replaced:\n{log}"
    );
    let net = &bed.net;
    let start = Instant::now();
    let stream = net.steady_stream(
        110,
        Way::Download,
        start,
        Duration::from_millis(3000),
        16.0 * MBPS,
    );
    std::thread::sleep(Duration::from_secs(2));
    let before = passed_totals(net);
    let got = stream.arrivals().frame_rate(
        start + Duration::from_secs(1),
        start + Duration::from_millis(2900),
    ) / MBPS;
    assert!((got / 8.0 - 1.0).abs() <= 0.05, "8 Mbps held: {got}");
    // Its hosts are in the new table.
    let bin = opd_testbed::env_path("OPD_GATEWAY_BIN");
    let out = opd_testbed::sh(
        net.gateway
            .command(bin.to_str().unwrap())
            .args(["status", "--hosts", "a", "--json"]),
    );
    let hosts: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(hosts["in_table"].as_u64().unwrap() >= 1, "{hosts}");
    // The same size again: everything adopted, counters kept.
    drop(gw);
    let gw = net.start_gateway(&bed.policy_path, "0s");
    let log = serving(&gw);
    assert!(!log.contains("the host table is resized"), "{log}");
    assert!(log.contains("adopted"), "{log}");
    let after = passed_totals(net);
    for ((id, b), (_, a)) in before.iter().zip(&after) {
        assert!(a >= b, "{id}: counters kept across the restart: {b} → {a}");
    }
}

/// The daemon's log once it serves its endpoints (at most 20 s).
fn serving(gw: &opd_testbed::Process) -> String {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let log = gw.log();
        if log.contains("serving the page") {
            return log;
        }
        assert!(Instant::now() < deadline, "the daemon never served:\n{log}");
        std::thread::sleep(Duration::from_millis(100));
    }
}
