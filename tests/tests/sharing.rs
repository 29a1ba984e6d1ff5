//! Needs-based sharing with real traffic through the real daemon: allocations that follow
//! demand, the fallback when the daemon stops, and reloads under traffic.
//! Needs root; run by `cargo xtask test`.

use std::{
    path::Path,
    time::{Duration, Instant},
};

use opd_testbed::{
    AgencyText, Bed, Forwarding, Limit, PolicyText, SimNetwork, Stream, TempDir, Way,
    traffic::Arrivals,
};

const MBPS: f64 = 1e6;

/// A site with a small uplink so a few floods oversubscribe it, re-divided every 500 ms.
fn site(capacity: &str) -> PolicyText {
    PolicyText::site()
        .name("Test regency")
        .capacity(capacity, capacity)
        .headroom("1Mbps")
        .tick("500ms")
        .unclassified("drop")
}

fn agency(id: &str, vid: u16, tier: &str, down: Limit) -> AgencyText {
    AgencyText::new(id)
        .tier(tier)
        .vlans(&[vid])
        .upload(Limit::rate("1Mbps"))
        .download(down)
}

#[test]
fn allocations_follow_need_and_fill_the_oversubscribed_uplink() {
    // 60 Mbps down, 59 usable. A critical agency, a standard one, and public WiFi.
    let policy = site("60Mbps")
        .agency(agency(
            "rsud",
            110,
            "critical",
            Limit::guaranteed("10Mbps", "60Mbps"),
        ))
        .agency(agency(
            "disdik",
            120,
            "standard",
            Limit::guaranteed("15Mbps", "60Mbps"),
        ))
        .agency(agency("wifi", 130, "public", Limit::ceiling("unlimited")));
    let usable = 59.0 * MBPS;
    let mut bed = Bed::start(&[110, 120, 130], Forwarding::Redirect, &policy, "2s");
    let net = &bed.net;

    // Offered download per phase (Mbps): every phase oversubscribes the uplink.
    let phase = Duration::from_secs(6);
    let offered: [[f64; 3]; 3] = [
        [5.0, 40.0, 40.0],  // rsud light, disdik busy, WiFi takes what is left
        [30.0, 40.0, 40.0], // rsud wakes up: it is served first
        [0.0, 10.0, 70.0],  // offices quiet: WiFi gets nearly everything
    ];
    let start = Instant::now() + Duration::from_millis(300);
    let flows: Vec<Stream> = [110u16, 120, 130]
        .iter()
        .enumerate()
        .map(|(i, &vid)| {
            let rates: Vec<f64> = offered.iter().map(|o| o[i] * MBPS).collect();
            net.phased_stream(vid, Way::Download, start, phase, &rates)
        })
        .collect();
    let got: Vec<Arrivals> = flows.into_iter().map(Stream::arrivals).collect();
    let guaranteed = [10.0 * MBPS, 15.0 * MBPS, 0.0];
    let names = ["rsud", "disdik", "wifi"];
    let mut failures = Vec::new();
    for (p, offered) in offered.iter().enumerate() {
        let p0 = start + phase * p as u32;
        // Settled: a shrinking agency's demand falls by half the difference per tick; after
        // eight ticks it holds back under 0.5% of what it used to need.
        let (from, to) = (
            p0 + Duration::from_secs(4),
            p0 + phase - Duration::from_millis(300),
        );
        let rates: Vec<f64> = got.iter().map(|a| a.frame_rate(from, to)).collect();
        let total: f64 = rates.iter().sum();
        eprintln!(
            "phase {}: offered {:?} Mbps → delivered {:.2?} Mbps, uplink {:.1}% of usable",
            p + 1,
            offered,
            rates.iter().map(|r| r / MBPS).collect::<Vec<_>>(),
            100.0 * total / usable
        );
        if total < 0.98 * usable {
            failures.push(format!(
                "phase {}: uplink used {:.1}% < 98%",
                p + 1,
                100.0 * total / usable
            ));
        }
        if total > 1.01 * usable {
            failures.push(format!(
                "phase {}: uplink over capacity: {:.2} Mbps",
                p + 1,
                total / MBPS
            ));
        }
        for i in 0..3 {
            let floor = guaranteed[i].min(offered[i] * MBPS);
            if rates[i] < 0.97 * floor {
                failures.push(format!(
                    "phase {}: {} got {:.2} Mbps, below min(guarantee, offered)",
                    p + 1,
                    names[i],
                    rates[i] / MBPS
                ));
            }
        }
        // An agency below its fair share gets what it offers.
        if p == 0 && rates[0] < 0.97 * 5.0 * MBPS {
            failures.push(format!(
                "phase 1: rsud got {:.2} of the 5 Mbps it offered",
                rates[0] / MBPS
            ));
        }
        if p == 1 && rates[0] < 0.97 * 30.0 * MBPS {
            failures.push(format!(
                "phase 2: critical rsud got {:.2} of the 30 Mbps it offered",
                rates[0] / MBPS
            ));
        }
        if p == 2 && rates[1] < 0.97 * 10.0 * MBPS {
            failures.push(format!(
                "phase 3: disdik got {:.2} of the 10 Mbps it offered",
                rates[1] / MBPS
            ));
        }
    }
    // rsud wakes up at the start of phase 2: its guarantee within two ticks (1 s).
    let wake = start + phase;
    let early = got[0].frame_rate(wake + Duration::from_secs(1), wake + Duration::from_secs(2));
    eprintln!(
        "rsud in the second after its first two ticks awake: {:.2} Mbps",
        early / MBPS
    );
    if early < 0.97 * 10.0 * MBPS {
        failures.push(format!(
            "rsud had {:.2} Mbps two ticks after waking, below its 10 Mbps guarantee",
            early / MBPS
        ));
    }
    bed.gateway.stop();
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn a_stopped_daemon_falls_back_to_the_static_division_at_expiry() {
    let policy = site("60Mbps")
        .fallback("guaranteed")
        .expiry("1500ms")
        .agency(agency(
            "a",
            110,
            "standard",
            Limit::guaranteed("10Mbps", "60Mbps"),
        ))
        .agency(agency(
            "b",
            120,
            "standard",
            Limit::guaranteed("20Mbps", "60Mbps"),
        ));
    let mut bed = Bed::start(&[110, 120], Forwarding::Redirect, &policy, "0s");
    let (net, gw) = (&bed.net, &mut bed.gateway);
    let start = Instant::now() + Duration::from_millis(200);
    let total = Duration::from_secs(16);
    let flows: Vec<Stream> = [110u16, 120]
        .iter()
        .map(|&vid| net.steady_stream(vid, Way::Download, start, total, 50.0 * MBPS))
        .collect();
    // Running: guarantees plus an equal part of the rest: 24.5 and 34.5 Mbps.
    std::thread::sleep((start + Duration::from_secs(5)).saturating_duration_since(Instant::now()));
    let stopped = Instant::now();
    gw.signal(libc::SIGSTOP);
    std::thread::sleep(Duration::from_secs(6));
    let resumed = Instant::now();
    gw.signal(libc::SIGCONT);
    let got: Vec<Arrivals> = flows.into_iter().map(Stream::arrivals).collect();
    assert!(
        gw.running(),
        "the daemon must survive being stopped and continued"
    );

    let window = |a: &Arrivals, from: Instant, to: Instant| a.frame_rate(from, to) / MBPS;
    let running = [
        window(&got[0], start + Duration::from_secs(2), stopped),
        window(&got[1], start + Duration::from_secs(2), stopped),
    ];
    // Rates hold until the expiry (1.5 s), then the data plane falls back by itself.
    let held = [
        window(&got[0], stopped, stopped + Duration::from_millis(1300)),
        window(&got[1], stopped, stopped + Duration::from_millis(1300)),
    ];
    let fallback = [
        window(&got[0], stopped + Duration::from_millis(2500), resumed),
        window(&got[1], stopped + Duration::from_millis(2500), resumed),
    ];
    let back = [
        window(
            &got[0],
            resumed + Duration::from_millis(1500),
            start + total,
        ),
        window(
            &got[1],
            resumed + Duration::from_millis(1500),
            start + total,
        ),
    ];
    eprintln!(
        "a, b (Mbps): running {running:.2?}, stopped but before expiry {held:.2?}, after expiry {fallback:.2?}, continued {back:.2?}"
    );
    let near = |x: f64, want: f64| (x / want - 1.0).abs() <= 0.04;
    assert!(
        near(running[0], 24.5) && near(running[1], 34.5),
        "needs-based split while running: {running:?}"
    );
    assert!(
        near(held[0], 24.5) && near(held[1], 34.5),
        "rates hold until their expiry: {held:?}"
    );
    assert!(
        near(fallback[0], 10.0) && near(fallback[1], 20.0),
        "after expiry each agency is at its guarantee: {fallback:?}"
    );
    assert!(
        near(back[0], 24.5) && near(back[1], 34.5),
        "the continued daemon divides by need again: {back:?}"
    );
}

/// Replaces a policy file the way editors save: write a new file, rename it over the old.
fn save(dir: &Path, name: &str, text: &str) {
    let tmp = dir.join(format!(".{name}.tmp"));
    std::fs::write(&tmp, text).expect("write the policy");
    std::fs::rename(&tmp, dir.join(name)).expect("rename the policy into place");
}

#[test]
fn reloads_under_traffic_change_enforcement_without_a_gap() {
    let vids = [110u16, 120, 130, 140];
    let net = SimNetwork::new(&vids, Forwarding::Redirect);
    let dir = TempDir::new("policy");
    save(&dir.0, "00-site.toml", &site("1Gbps").to_string());
    let a = |down: &str| agency("a", 110, "standard", Limit::rate(down));
    let b = |vlans: &[u16]| {
        AgencyText::new("b")
            .vlans(vlans)
            .upload(Limit::rate("1Mbps"))
            .download(Limit::rate("20Mbps"))
    };
    let d = agency("d", 140, "standard", Limit::rate("5Mbps"));
    save(
        &dir.0,
        "agencies.toml",
        &format!("{}{}", a("10Mbps"), b(&[120])),
    );
    let mut gw = net.start_gateway(&dir.0, "0s");
    net.wait_reachable(&[110, 120]);

    // Every VLAN floods at 30 Mbps for the whole test.
    let step = Duration::from_secs(4);
    let steps = 6;
    let start = Instant::now() + Duration::from_millis(200);
    let total = step * steps;
    let flows: Vec<Stream> = vids
        .iter()
        .map(|&vid| net.steady_stream(vid, Way::Download, start, total, 30.0 * MBPS))
        .collect();
    let at = |k: u32| start + step * k;
    let wait_until = |t: Instant| std::thread::sleep(t.saturating_duration_since(Instant::now()));
    let mut marks = Vec::new();
    // Step 1: a bad policy (a typo) is rejected; enforcement stays as it was.
    wait_until(at(1));
    save(
        &dir.0,
        "agencies.toml",
        &format!(
            "{}{}",
            a("10Mbps").to_string().replace("rate", "rat"),
            b(&[120])
        ),
    );
    marks.push(Instant::now());
    // Step 2: a's limit raised to 15 Mbps, applied by SIGHUP.
    wait_until(at(2));
    save(
        &dir.0,
        "agencies.toml",
        &format!("{}{}", a("15Mbps"), b(&[120])),
    );
    gw.signal(libc::SIGHUP);
    marks.push(Instant::now());
    // Step 3: VLAN 130 joins agency b (re-VLAN): its traffic now shares b's 20 Mbps.
    wait_until(at(3));
    save(
        &dir.0,
        "agencies.toml",
        &format!("{}{}", a("15Mbps"), b(&[120, 130])),
    );
    marks.push(Instant::now());
    // Step 4: agency d added.
    wait_until(at(4));
    save(
        &dir.0,
        "agencies.toml",
        &format!("{}{}{d}", a("15Mbps"), b(&[120, 130])),
    );
    marks.push(Instant::now());
    // Step 5: agency a removed: its VLAN is unknown now, and the site drops unknown VLANs.
    wait_until(at(5));
    save(&dir.0, "agencies.toml", &format!("{}{d}", b(&[120, 130])));
    marks.push(Instant::now());
    let (got, sent): (Vec<Arrivals>, Vec<_>) = flows.into_iter().map(Stream::finish).unzip();
    assert!(
        gw.running(),
        "the daemon must keep running through bad and good reloads"
    );
    let log = gw.log();
    gw.stop();

    // Each step's last 2 s, after the reload (within about two ticks of the save).
    let settled = |k: u32| {
        (
            at(k) + Duration::from_secs(2),
            at(k + 1) - Duration::from_millis(100),
        )
    };
    let rate = |vid: usize, k: u32| {
        let (from, to) = settled(k);
        got[vid].frame_rate(from, to) / MBPS
    };
    let table: Vec<Vec<f64>> = (0..steps)
        .map(|k| (0..4).map(|v| rate(v, k)).collect())
        .collect();
    for (k, row) in table.iter().enumerate() {
        eprintln!("step {k}: VLAN 110/120/130/140 delivered {row:.2?} Mbps");
    }
    let near = |x: f64, want: f64| {
        if want == 0.0 {
            x < 0.1
        } else {
            (x / want - 1.0).abs() <= 0.04
        }
    };
    let expect: [[f64; 4]; 6] = [
        [10.0, 20.0, 0.0, 0.0], // a and b policed; 130 and 140 unknown: dropped
        [10.0, 20.0, 0.0, 0.0], // the bad policy changed nothing
        [15.0, 20.0, 0.0, 0.0], // a raised
        [15.0, f64::NAN, f64::NAN, 0.0], // 120 and 130 share b's 20 Mbps
        [15.0, f64::NAN, f64::NAN, 5.0], // d added
        [0.0, f64::NAN, f64::NAN, 5.0], // a removed
    ];
    let mut failures = Vec::new();
    for k in 0..steps as usize {
        for v in 0..4 {
            if !expect[k][v].is_nan() && !near(table[k][v], expect[k][v]) {
                failures.push(format!(
                    "step {k}: VLAN {} delivered {:.2} Mbps, expected {}",
                    vids[v], table[k][v], expect[k][v]
                ));
            }
        }
        if k >= 3 && !near(table[k][1] + table[k][2], 20.0) {
            failures.push(format!(
                "step {k}: b (VLANs 120 + 130) delivered {:.2} Mbps, expected 20",
                table[k][1] + table[k][2]
            ));
        }
        if k >= 3 && table[k][2] < 2.0 {
            failures.push(format!(
                "step {k}: VLAN 130 gets nothing of b's rate: {:.2}",
                table[k][2]
            ));
        }
    }
    // No gap and no unpoliced moment around the reloads of a kept agency: 100 ms bins of
    // a's traffic never empty (a gap) nor far above its limit (unpoliced: it offers 30).
    for (k, mark) in marks.iter().take(4).enumerate() {
        // Bins in which the host itself stalled (the sender sent nothing) say nothing.
        let min = got[0].lowest_rate_while_sending(
            &sent[0][0],
            *mark - Duration::from_secs(1),
            *mark + Duration::from_secs(3),
            Duration::from_millis(100),
        ) / MBPS;
        let max_500ms = got[0]
            .binned_rates(
                *mark - Duration::from_secs(1),
                *mark + Duration::from_secs(3),
                Duration::from_millis(500),
            )
            .into_iter()
            .fold(0.0, f64::max)
            / MBPS;
        eprintln!(
            "reload {}: VLAN 110 in 100 ms bins: min {min:.2} Mbps; highest 500 ms bin {max_500ms:.2} Mbps",
            k + 1
        );
        if min < 5.0 {
            failures.push(format!(
                "reload {}: a gap in VLAN 110's traffic ({min:.2} Mbps in a 100 ms bin)",
                k + 1
            ));
        }
        // 15 Mbps plus its 100 ms burst spent in one 500 ms bin: 18 Mbps.
        if max_500ms > 18.5 {
            failures.push(format!(
                "reload {}: VLAN 110 unpoliced ({max_500ms:.2} Mbps over 500 ms)",
                k + 1
            ));
        }
    }
    assert!(
        log.contains("reload rejected"),
        "the bad policy must be logged as rejected:\n{log}"
    );
    assert!(
        log.contains("unknown key `rat`") && log.contains("did you mean `rate`?"),
        "the rejection must say what is wrong:\n{log}"
    );
    assert_eq!(
        log.matches("policy reloaded").count(),
        4,
        "four good reloads:\n{log}"
    );
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
