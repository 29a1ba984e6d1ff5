//! `cargo xtask demo`: the real `opd-gateway` dividing a simulated regency's uplink by need.
//!
//! Every agency of the policy gets a host pair on its VLAN, its upstream host 20 ms away. The
//! scenario plays in three phases of downloads, as offices have them: TCP — people browsing
//! (pages and files of heavy-tailed sizes, with think times) and large downloads (updates,
//! backups, four transfers at once) — beside public WiFi, whose many users add up to a UDP
//! flood that never backs off. At night the agencies browse a little and public WiFi takes
//! the leftovers; in office hours every agency browses and one downloads large updates, and
//! public WiFi gives its share back; then the disaster agency surges with large downloads
//! and has its guarantee at once. At every tick the demo shows the daemon's per-agency table
//! (from its /status); at the end, what each agency got in each phase and how long its
//! fetches took. Everything is removed on exit, also on Ctrl-C.

use std::{
    net::SocketAddrV4,
    path::PathBuf,
    sync::atomic::{AtomicBool, Ordering},
    thread::JoinHandle,
    time::{Duration, Instant},
};

use opd_gateway::metrics::Status;
use opd_gateway::policy::{self, Direction, Tier};
use opd_testbed::{
    Bed, DAEMON_ADDR, Forwarding, Netns, Stream, TempDir, Way, http_get,
    plot::{Series, svg},
    transfer::{Browsing, Server, TRANSFER_PORT, fetch, quantile},
};

const DEFAULT_POLICY: &str = include_str!("../../../policies/simulated-regency.toml");
const PHASES: [&str; 3] = [
    "night: a little browsing, public WiFi takes the rest",
    "office hours: every agency browses, disdik downloads updates",
    "emergency: the disaster agency (bpbd) surges",
];

/// The round trip to every agency's upstream host: servers on the internet.
const RTT: Duration = Duration::from_millis(20);

static STOP: AtomicBool = AtomicBool::new(false);

extern "C" fn on_signal(_: libc::c_int) {
    STOP.store(true, Ordering::Relaxed);
}

fn usage() -> ! {
    eprintln!(
        "usage: cargo xtask demo -- [--duration SECONDS] [--policy FILE] [--plot FILE.svg] [--keep]\n\
         Runs opd-gateway on a simulated regency (default: policies/simulated-regency.toml;\n\
         a policy for the simulation names its ports `lan` and `wan`). The scenario's three\n\
         phases share the duration (default 45 s). --plot writes demand, share and\n\
         delivered rate per agency (default target/demo.svg). --keep leaves the network and\n\
         the gateway running afterwards, for Prometheus and `opd-gateway status`, until Ctrl-C."
    );
    std::process::exit(2)
}

/// What an agency's users download in a phase.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Load {
    /// Web-like use: this many people browsing at once (TCP).
    Browse(usize),
    /// Large downloads: this many TCP transfers at once, back to back.
    Bulk(usize),
    /// UDP at this many bits/s that never backs off: public WiFi's many users.
    Flood(u64),
}

impl Load {
    fn describe(self) -> String {
        match self {
            Load::Browse(n) => format!("web, {n} users"),
            Load::Bulk(n) => format!("downloads ×{n}"),
            Load::Flood(bps) => format!("UDP {:.0} Mbps", bps as f64 / 1e6),
        }
    }
}

/// What an agency downloads in a phase.
fn load(id: &str, tier: Tier, capacity: u64, phase: usize) -> Load {
    match (phase, tier, id) {
        (_, Tier::Public, _) => Load::Flood(capacity * 2), // takes whatever it gets
        (0, _, _) => Load::Browse(1),                      // night: a little
        (1, _, "disdik") => Load::Bulk(4),                 // large updates
        (2, _, "bpbd") => Load::Bulk(4),                   // the surge
        _ => Load::Browse(3),                              // office work
    }
}

/// One finished fetch of an agency's users.
#[derive(Clone, Copy)]
struct Fetch {
    phase: usize,
    took: f64,
}

/// Runs an agency's TCP loads, phase by phase from `start`, on threads in its namespace;
/// the threads return every fetch that finished. Stops early on Ctrl-C.
fn tcp_loads(
    ns: &Netns,
    server: SocketAddrV4,
    loads: [Load; 3],
    start: Instant,
    phase_len: Duration,
    seed: u64,
) -> Vec<JoinHandle<Vec<Fetch>>> {
    let mut threads = Vec::new();
    for (phase, l) in loads.into_iter().enumerate() {
        let from = start + phase_len * phase as u32;
        let until = from + phase_len;
        let (n, browsing) = match l {
            Load::Browse(n) => (n, true),
            Load::Bulk(n) => (n, false),
            Load::Flood(_) => continue,
        };
        for user in 0..n {
            let plan = Browsing {
                min_bytes: 30_000,
                shape: 1.2,
                max_bytes: 8_000_000,
                think: Duration::from_millis(500),
                duration: phase_len,
                seed: seed * 1000 + (phase * 10 + user) as u64,
            };
            threads.push(ns.spawn(move || {
                std::thread::sleep(from.saturating_duration_since(Instant::now()));
                let mut done = Vec::new();
                let mut sizes = plan.plan();
                while !STOP.load(Ordering::Relaxed) {
                    let (think, bytes) = if browsing {
                        sizes.next().expect("an endless plan")
                    } else {
                        (Duration::ZERO, 16_000_000)
                    };
                    std::thread::sleep(think);
                    let left = until.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        break;
                    }
                    // A transfer cut short at the end of its phase is not counted.
                    match fetch(server, bytes, left) {
                        Ok(took) => done.push(Fetch {
                            phase,
                            took: took.as_secs_f64(),
                        }),
                        Err(_) if Instant::now() >= until || STOP.load(Ordering::Relaxed) => {
                            break;
                        }
                        Err(e) => panic!("fetch of {bytes} bytes from {server}: {e}"),
                    }
                }
                done
            }));
        }
    }
    threads
}

/// The daemon's view of every agency's download at one tick, as a table.
fn live_table(status: &Status, t: f64, phase: &str) -> String {
    let mbps = |bps: u64| bps as f64 / 1e6;
    let mut out = format!(
        "t = {t:>3.0} s, tick {} ({phase})\n{:<14} {:<9} {:>8} {:>8} {:>8} {:>8} {:>8}\n",
        status.tick, "agency", "tier", "rate", "share", "limit", "guarant.", "drops"
    );
    let mut rate = 0;
    for a in &status.agencies {
        let d = &a.download;
        rate += d.rate_bps;
        out += &format!(
            "{:<14} {:<9} {:>8.1} {:>8.1} {:>8.1} {:>8.1} {:>8.1}\n",
            a.id,
            a.tier,
            mbps(d.rate_bps),
            mbps(d.allocated_bps),
            mbps(d.limit_bps),
            mbps(d.guaranteed_bps),
            mbps(d.dropped_bps)
        );
    }
    out += &format!(
        "{:<14} {:<9} {:>8.1}  of {:.1} usable (Mbps)\n\n",
        "uplink",
        "",
        mbps(rate),
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
    let loads: Vec<[Load; 3]> = policy
        .agencies
        .iter()
        .map(|a| [0, 1, 2].map(|p| load(&a.id, a.tier, capacity, p)))
        .collect();
    // Every upstream host serves downloads, RTT away.
    let _delays: Vec<_> = vids.iter().map(|&v| net.delay_upstream(v, RTT)).collect();
    let _servers: Vec<Server> = vids
        .iter()
        .map(|&v| {
            let h = net.vlan(v);
            let addr = SocketAddrV4::new(h.upstream_ip, TRANSFER_PORT);
            Server::start(&h.upstream_side, addr, "cubic")
        })
        .collect();
    println!(
        "\nUplink: {} down, servers {} ms away. Three phases of {} s each: {}.\nAt every tick of the gateway: each agency's download rate, share, limit, guarantee and drops, from its /status.\n",
        policy::rate(capacity),
        RTT.as_millis(),
        phase_len.as_secs(),
        PHASES.join("; ")
    );

    let start = Instant::now() + Duration::from_millis(200);
    let end = start + phase_len * 3;
    let floods: Vec<Stream> = loads
        .iter()
        .zip(&vids)
        .filter(|(l, _)| l.iter().any(|l| matches!(l, Load::Flood(_))))
        .map(|(l, &vid)| {
            let rates = l.map(|l| match l {
                Load::Flood(bps) => bps as f64,
                _ => 0.0,
            });
            net.phased_stream(vid, Way::Download, start, phase_len, &rates)
        })
        .collect();
    let users: Vec<Vec<JoinHandle<Vec<Fetch>>>> = loads
        .iter()
        .zip(&vids)
        .enumerate()
        .map(|(i, (l, &vid))| {
            let h = net.vlan(vid);
            let server = SocketAddrV4::new(h.upstream_ip, TRANSFER_PORT);
            tcp_loads(&h.agency_side, server, *l, start, phase_len, i as u64 + 1)
        })
        .collect();
    println!(
        "Prometheus metrics: `ip netns exec {} curl -s http://{DAEMON_ADDR}/metrics`; \
         the same table from the daemon: `ip netns exec {} {} status --watch`; with --keep, \
         the office's page: `ip netns exec {} chromium --headless --no-sandbox \
         --screenshot=/tmp/page.png http://{DAEMON_ADDR}/`, and the needs report of what the \
         gateway recorded: `{} report --state-dir {}`\n",
        net.gateway.name(),
        net.gateway.name(),
        opd_testbed::env_path("OPD_GATEWAY_BIN").display(),
        net.gateway.name(),
        opd_testbed::env_path("OPD_GATEWAY_BIN").display(),
        net.state_dir.display()
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
    for f in floods {
        f.finish();
    }
    let fetched: Vec<Vec<Fetch>> = users
        .into_iter()
        .map(|threads| {
            threads
                .into_iter()
                .flat_map(|t| t.join().expect("an agency's users"))
                .collect()
        })
        .collect();
    bed.gateway.stop();
    write_plot(&plot_file, &policy, &samples, phase_len);

    println!(
        "\nWhat each agency got (download Mbps, whole frames, from the daemon's /status: the mean \
         and the lowest of each whole second of the phase, its first included), and how long \
         its fetches took (seconds, p50 / p95):"
    );
    let usable = policy.site.usable(Direction::Download) as f64;
    for (phase, name) in PHASES.iter().enumerate() {
        let from = phase_len.as_secs_f64() * phase as f64;
        let to = from + phase_len.as_secs_f64();
        // The daemon's seconds within the phase: a sample shows the last tick ended before
        // it, so the first whole second of the phase shows from its second sample on.
        let seconds: Vec<&Status> = samples
            .iter()
            .filter(|(t, _)| *t >= from + 2.0 && *t < to + 0.5)
            .map(|(_, s)| s)
            .collect();
        println!("\n{}. {name}", phase + 1);
        println!(
            "{:<14} {:<9} {:>9} {:<16} {:>9} {:>9} {:>8} {:>13}",
            "agency", "tier", "guarantee", "traffic", "mean", "lowest", "fetches", "p50 / p95 s"
        );
        let mut total = 0.0;
        for ((a, l), fetches) in policy.agencies.iter().zip(&loads).zip(&fetched) {
            let g = a.limits[Direction::Download].guaranteed as f64;
            let rates: Vec<f64> = seconds
                .iter()
                .filter_map(|s| s.agencies.iter().find(|x| x.id == a.id))
                .map(|x| x.download.rate_bps as f64)
                .collect();
            let mean = rates.iter().sum::<f64>() / rates.len().max(1) as f64;
            let lowest = rates.iter().copied().fold(f64::INFINITY, f64::min);
            total += mean;
            let mut took: Vec<f64> = fetches
                .iter()
                .filter(|f| f.phase == phase)
                .map(|f| f.took)
                .collect();
            took.sort_by(f64::total_cmp);
            let times = if took.is_empty() {
                "–".to_string()
            } else {
                format!("{:.2} / {:.2}", quantile(&took, 0.5), quantile(&took, 0.95))
            };
            // Downloads and floods want more than their guarantee all the time: they must
            // have it every second.
            let held = !matches!(l[phase], Load::Browse(_)) && lowest < 0.95 * g;
            println!(
                "{:<14} {:<9} {:>9.1} {:<16} {:>9.1} {:>9.1} {:>8} {:>13}{}",
                a.id,
                a.tier.as_str(),
                g / 1e6,
                l[phase].describe(),
                mean / 1e6,
                lowest / 1e6,
                took.len(),
                times,
                if held { "  below guarantee!" } else { "" }
            );
        }
        println!(
            "{:<14} {:<9} {:>9} {:<16} {:>9.1}  ({:.0}% of the {} usable)",
            "uplink",
            "",
            "",
            "",
            total / 1e6,
            100.0 * total / usable,
            policy::rate(usable as u64)
        );
    }
    println!("\nSimulated network removed.");
}

/// Demand, share and delivered rate of each agency's downloads over the run.
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
            "\nPlot of demand, share and delivered rate: {}",
            path.display()
        ),
        Err(e) => eprintln!("cannot write the plot to {}: {e}", path.display()),
    }
}
