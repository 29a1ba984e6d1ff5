//! `cargo xtask demo`: the real `opd-gateway` dividing a simulated regency's uplink by need.
//!
//! Every agency of the policy gets a host pair on its VLAN. The scenario plays in three
//! phases of downloads: at night only public WiFi is busy and takes the leftovers; in office
//! hours every agency works and one downloads large updates, and public WiFi gives its share
//! back; then the disaster agency wakes up with a surge and gets its guarantee at once. At
//! every tick the demo shows the daemon's per-agency table (from its /status); at the end,
//! what the receivers got in each phase. Everything is removed on exit, also on Ctrl-C.

use std::{
    path::PathBuf,
    sync::atomic::{AtomicBool, Ordering},
    time::{Duration, Instant},
};

use opd_gateway::metrics::Status;
use opd_gateway::policy::{self, Direction, Tier};
use opd_testbed::{
    Bed, DAEMON_ADDR, Forwarding, Stream, TempDir, Way, http_get,
    plot::{Series, svg},
    traffic::Arrivals,
};

const DEFAULT_POLICY: &str = include_str!("../../../policies/simulated-regency.toml");
const PHASES: [&str; 3] = [
    "night: only public WiFi is busy",
    "office hours: every agency works, disdik downloads updates",
    "emergency: the disaster agency (bpbd) surges",
];

static STOP: AtomicBool = AtomicBool::new(false);

extern "C" fn on_signal(_: libc::c_int) {
    STOP.store(true, Ordering::Relaxed);
}

fn usage() -> ! {
    eprintln!(
        "usage: cargo xtask demo -- [--duration SECONDS] [--policy FILE] [--plot FILE.svg] [--keep]\n\
         Runs opd-gateway on a simulated regency (default: policies/simulated-regency.toml;\n\
         a policy for the simulation names its ports `lan` and `wan`). The scenario's three\n\
         phases share the duration (default 45 s). --plot writes demand, allocation and\n\
         delivered rate per agency (default target/demo.svg). --keep leaves the network and\n\
         the gateway running afterwards, for Prometheus and `opd-gateway status`, until Ctrl-C."
    );
    std::process::exit(2)
}

/// Download load an agency offers in a phase, bits/s.
fn offered(id: &str, tier: Tier, guaranteed: u64, capacity: u64, phase: usize) -> u64 {
    match (phase, tier, id) {
        (_, Tier::Public, _) => capacity * 2, // public WiFi always takes what it gets
        (0, _, _) => guaranteed / 10,         // night: a trickle
        (1, _, "disdik") => capacity,         // large updates
        (1, _, _) => guaranteed * 3 / 2,      // office work above its guarantee
        (2, _, "bpbd") => capacity,           // the surge
        (2, _, _) => guaranteed * 3 / 2,
        _ => 0,
    }
}

/// The daemon's view of every agency's download at one tick, as a table.
fn live_table(status: &Status, t: f64, phase: &str) -> String {
    let mbps = |bps: u64| bps as f64 / 1e6;
    let mut out = format!(
        "t = {t:>3.0} s, tick {} ({phase})\n{:<14} {:<9} {:>8} {:>8} {:>8} {:>8}\n",
        status.tick, "agency", "tier", "rate", "alloc", "guarant.", "drops"
    );
    let (mut rate, mut alloc) = (0, 0);
    for a in &status.agencies {
        let d = &a.download;
        rate += d.rate_bps;
        alloc += d.allocated_bps;
        out += &format!(
            "{:<14} {:<9} {:>8.1} {:>8.1} {:>8.1} {:>8.1}\n",
            a.id,
            a.tier,
            mbps(d.rate_bps),
            mbps(d.allocated_bps),
            mbps(d.guaranteed_bps),
            mbps(d.dropped_bps)
        );
    }
    out += &format!(
        "{:<14} {:<9} {:>8.1} {:>8.1}  of {:.1} usable (Mbps)\n\n",
        "uplink",
        "",
        mbps(rate),
        mbps(alloc),
        mbps(status.usable(Direction::Download))
    );
    out
}

fn main() {
    let mut duration = Duration::from_secs(45);
    let mut policy_file: Option<PathBuf> = None;
    let mut plot_file = PathBuf::from("target/demo.svg");
    let mut keep = false;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--duration" => {
                let v = args.next().unwrap_or_else(|| usage());
                let secs: u64 = v.trim_end_matches('s').parse().unwrap_or_else(|_| usage());
                duration = Duration::from_secs(secs.max(15));
            }
            "--policy" => policy_file = Some(args.next().unwrap_or_else(|| usage()).into()),
            "--plot" => plot_file = args.next().unwrap_or_else(|| usage()).into(),
            "--keep" => keep = true,
            _ => usage(),
        }
    }
    // SAFETY: the handler only stores to an atomic.
    unsafe {
        libc::signal(libc::SIGINT, on_signal as *const () as libc::sighandler_t);
        libc::signal(libc::SIGTERM, on_signal as *const () as libc::sighandler_t);
    }

    let dir = TempDir::new("demo");
    let path = match policy_file {
        Some(p) => p,
        None => dir.write("simulated-regency.toml", DEFAULT_POLICY),
    };
    let policy = match policy::load(&path) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(1);
        }
    };
    let Some(vids) = policy
        .agencies
        .iter()
        .map(|a| a.vlans.first().copied())
        .collect::<Option<Vec<u16>>>()
    else {
        eprintln!(
            "every agency of a demo policy needs a VLAN (QinQ-only agencies cannot be simulated)"
        );
        std::process::exit(1);
    };
    let forwarding = match policy.site.forwarding {
        policy::Forwarding::Redirect => Forwarding::Redirect,
        policy::Forwarding::Bridge => Forwarding::Bridge,
    };
    println!(
        "Building the simulated regency: a gateway, a switch, and a host pair for each of {} agencies…",
        vids.len()
    );
    let mut bed = Bed::start_with_file(&vids, forwarding, dir, path, "0s");
    let net = &bed.net;
    let capacity = policy.site.capacity[Direction::Download];
    let phase_len = duration / 3;
    println!(
        "\nUplink: {} down. Three phases of {} s each: {}.\nAt every tick of the gateway: each agency's download rate, allocation, guarantee and drops, from its /status.\n",
        policy::rate(capacity),
        phase_len.as_secs(),
        PHASES.join("; ")
    );

    let start = Instant::now() + Duration::from_millis(200);
    let end = start + phase_len * 3;
    let flows: Vec<(&policy::Agency, Stream)> = policy
        .agencies
        .iter()
        .zip(&vids)
        .map(|(agency, &vid)| {
            let g = agency.limits[Direction::Download].guaranteed;
            let rates: Vec<f64> = (0..3)
                .map(|p| offered(&agency.id, agency.tier, g, capacity, p) as f64)
                .collect();
            (
                agency,
                net.phased_stream(vid, Way::Download, start, phase_len, &rates),
            )
        })
        .collect();
    println!(
        "Prometheus metrics: `ip netns exec {} curl -s http://{DAEMON_ADDR}/metrics`; \
         the same table from the daemon: `ip netns exec {} {} status --watch`\n",
        net.gateway.name(),
        net.gateway.name(),
        opd_testbed::env_path("OPD_GATEWAY_BIN").display()
    );
    // What the daemon reports every second, for the plot and the live table.
    let mut samples: Vec<(f64, Status)> = Vec::new();
    let mut shown_tick = 0;
    let mut table_lines = 0;
    // SAFETY: no preconditions.
    let redraw = unsafe { libc::isatty(1) } == 1;
    let mut next_sample = start;
    while Instant::now() < end + Duration::from_millis(400) {
        if STOP.load(Ordering::Relaxed) {
            println!("\nInterrupted: removing the simulated network.");
            bed.gateway.stop();
            return; // the network and scratch files go with their guards
        }
        if Instant::now() >= next_sample {
            if let Ok((200, body)) = http_get(&net.gateway, DAEMON_ADDR, "/status")
                && let Ok(status) = serde_json::from_str::<Status>(&body)
            {
                let t = next_sample.saturating_duration_since(start).as_secs_f64();
                if status.tick != shown_tick {
                    shown_tick = status.tick;
                    let phase = ((t / phase_len.as_secs_f64()) as usize).min(2);
                    let table = live_table(&status, t, PHASES[phase]);
                    if redraw && table_lines > 0 {
                        print!("\x1b[{table_lines}A\x1b[J");
                    }
                    print!("{table}");
                    table_lines = table.lines().count();
                }
                samples.push((t, status));
            }
            next_sample += Duration::from_secs(1);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    if keep {
        println!(
            "\n--keep: the gateway and the simulated network stay up (traffic has ended). Press Ctrl-C to remove them."
        );
        while !STOP.load(Ordering::Relaxed) {
            std::thread::sleep(Duration::from_millis(200));
        }
    }
    bed.gateway.stop();
    write_plot(&plot_file, &policy, &samples, phase_len);

    let mut results: Vec<(&policy::Agency, Arrivals)> = Vec::new();
    for (agency, stream) in flows {
        results.push((agency, stream.arrivals()));
    }
    println!(
        "\nWhat each agency received (download Mbps, whole frames; each phase after its first 2 s):"
    );
    for (phase, name) in PHASES.iter().enumerate() {
        let from = start + phase_len * phase as u32 + Duration::from_secs(2);
        let to = start + phase_len * (phase as u32 + 1);
        println!("\n{}. {name}", phase + 1);
        println!(
            "{:<14} {:<9} {:>10} {:>10} {:>10}",
            "agency", "tier", "guarantee", "offered", "received"
        );
        let mut total = 0.0;
        for (a, arrivals) in &results {
            let g = a.limits[Direction::Download].guaranteed;
            let got = arrivals.frame_rate(from, to);
            total += got;
            let off = offered(&a.id, a.tier, g, capacity, phase);
            println!(
                "{:<14} {:<9} {:>10.1} {:>10.1} {:>10.1}{}",
                a.id,
                format!("{:?}", a.tier).to_lowercase(),
                g as f64 / 1e6,
                off as f64 / 1e6,
                got / 1e6,
                if got + 0.5e6 < (g.min(off)) as f64 {
                    "  below guarantee!"
                } else {
                    ""
                }
            );
        }
        println!(
            "{:<14} {:<9} {:>10} {:>10} {:>10.1}  ({:.0}% of the {} usable)",
            "uplink",
            "",
            "",
            "",
            total / 1e6,
            100.0 * total / policy.site.usable(Direction::Download) as f64,
            policy::rate(policy.site.usable(Direction::Download))
        );
    }
    println!("\nSimulated network removed.");
}

/// Demand, allocation and delivered rate of each agency's downloads over the run.
fn write_plot(
    path: &std::path::Path,
    policy: &policy::Policy,
    samples: &[(f64, Status)],
    phase: Duration,
) {
    let mbps = |bps: u64| bps as f64 / 1e6;
    let series: Vec<Series> = policy
        .agencies
        .iter()
        .map(|a| {
            let points = |f: &dyn Fn(&opd_gateway::metrics::FlowStatus) -> u64| -> Vec<(f64, f64)> {
                samples
                    .iter()
                    .filter_map(|(t, s)| {
                        s.agencies
                            .iter()
                            .find(|x| x.id == a.id)
                            .map(|x| (*t, mbps(f(&x.download))))
                    })
                    .collect()
            };
            Series {
                agency: format!("{} ({})", a.id, format!("{:?}", a.tier).to_lowercase()),
                guaranteed_mbps: mbps(a.limits[Direction::Download].guaranteed),
                demand: points(&|f| f.demand_bps),
                allocated: points(&|f| f.allocated_bps),
                rate: points(&|f| f.rate_bps),
            }
        })
        .collect();
    let p = phase.as_secs_f64();
    let phases = [
        (0.0, p, "night"),
        (p, 2.0 * p, "office hours"),
        (2.0 * p, 3.0 * p, "emergency"),
    ];
    let title = format!(
        "OPD Gateway demo: {} on a {} uplink, download",
        policy.site.name,
        policy::rate(policy.site.capacity[Direction::Download])
    );
    let text = svg(
        &title,
        &series,
        &phases,
        mbps(policy.site.capacity[Direction::Download]),
    );
    match std::fs::write(path, text) {
        Ok(()) => println!(
            "\nPlot of demand, allocation and delivered rate: {}",
            path.display()
        ),
        Err(e) => eprintln!("cannot write the plot to {}: {e}", path.display()),
    }
}
