//! Section 2: 64-byte frames through the simulated network, the gateway in each forwarding
//! mode against a Linux bridge without any program and against HTB: frames per second and
//! CPU per frame.

use std::{
    fmt::Write as _,
    net::SocketAddrV4,
    time::{Duration, Instant},
};

use opd_testbed::{
    AgencyText, Forwarding, Limit, Metrics, PolicyText, SimNetwork, TempDir,
    traffic::{Flood, TAGGED_OVERHEAD, receive},
};

use crate::{repeat_count, stats::Stats};

/// How the gateway namespace forwards in a forwarding run.
#[derive(Clone, Copy, PartialEq, Eq)]
enum FwdMode {
    /// A Linux bridge, no program: the baseline.
    Bridge,
    /// The gateway, XDP_PASS into the bridge; agencies unlimited.
    Pass,
    /// The gateway redirecting between its ports; agencies unlimited.
    Redirect,
    /// The gateway redirecting, every agency far over its rate: nearly every frame dropped.
    Drop,
    /// The bridge with HTB on its ports, one class per agency; unlimited (100 Gbit/s).
    Htb,
}

impl FwdMode {
    const EVERY: [FwdMode; 5] = [
        FwdMode::Bridge,
        FwdMode::Pass,
        FwdMode::Redirect,
        FwdMode::Drop,
        FwdMode::Htb,
    ];

    /// Every mode, or those named in OPD_BENCH_MODES (by index, comma-separated).
    fn all() -> Vec<FwdMode> {
        match std::env::var("OPD_BENCH_MODES") {
            Ok(v) => v
                .split(',')
                .filter_map(|i| FwdMode::EVERY.get(i.parse::<usize>().ok()?).copied())
                .collect(),
            Err(_) => FwdMode::EVERY.to_vec(),
        }
    }

    fn name(self) -> &'static str {
        match self {
            FwdMode::Bridge => "no program, Linux bridge (baseline)",
            FwdMode::Pass => "OPD Gateway, XDP_PASS into the bridge",
            FwdMode::Redirect => "OPD Gateway, XDP_REDIRECT between ports",
            FwdMode::Drop => "OPD Gateway, every agency over its rate (drop path)",
            FwdMode::Htb => "Linux bridge + HTB, a class per agency",
        }
    }

    /// Frames count where they were handled: delivered at the receivers for the
    /// forwarding modes, passed + dropped at the gateway for the drop path (almost nothing
    /// is delivered there).
    fn counted_at_gateway(self) -> bool {
        self == FwdMode::Drop
    }
}

/// The machine's CPU time so far, in clock ticks, from /proc/stat (sampled by the timer
/// tick on this kernel).
struct CpuTicks {
    busy: u64,
    softirq: u64,
    total: u64,
}

fn cpu_ticks() -> CpuTicks {
    let stat = std::fs::read_to_string("/proc/stat").expect("read /proc/stat");
    let v: Vec<u64> = stat
        .lines()
        .next()
        .unwrap_or("")
        .split_whitespace()
        .skip(1)
        .filter_map(|x| x.parse().ok())
        .collect();
    // user nice system idle iowait irq softirq steal …
    let busy = v[0] + v[1] + v[2] + v[5] + v[6];
    CpuTicks {
        busy,
        softirq: v[6],
        total: busy + v[3] + v[4],
    }
}

/// Frames the gateway handled so far on the upload path (passed + dropped).
fn handled_frames(net: &SimNetwork) -> f64 {
    let metrics = Metrics::scrape(&net.gateway);
    let upload = [("direction", "upload")];
    metrics.sum("opd_gateway_agency_dropped_packets_total", &upload)
        + metrics.sum("opd_gateway_agency_passed_packets_total", &upload)
}

/// What one forwarding run measured.
struct Run {
    /// Frames handled per second.
    frames_per_second: f64,
    /// The machine's CPU time per frame, µs (senders and receivers included: the same in
    /// every mode).
    cpu_us: f64,
    /// The part of it in softirq (where forwarding, XDP and qdiscs run), µs.
    softirq_us: f64,
}

/// One forwarding run: 64-byte frames from two senders pinned to the two CPUs, each at
/// `per_sender_pps` (0: as fast as it can).
fn forwarding_run(mode: FwdMode, per_sender_pps: f64) -> Run {
    let vids = [110u16, 120];
    let forwarding = if matches!(mode, FwdMode::Redirect | FwdMode::Drop) {
        Forwarding::Redirect
    } else {
        Forwarding::Bridge
    };
    let mut net = SimNetwork::new(&vids, forwarding);
    let dir = TempDir::new("bench");
    let rate = if mode == FwdMode::Drop {
        "8kbps"
    } else {
        "unlimited"
    };
    let policy = PolicyText::simulated_regency(forwarding)
        .unclassified("pass")
        .agencies(vids.map(|vid| {
            AgencyText::new(&format!("v{vid}"))
                .vlans(&[vid])
                .both(Limit::rate(rate))
        }));
    let path = dir.write("p.toml", &policy.to_string());
    let gateway = matches!(mode, FwdMode::Pass | FwdMode::Redirect | FwdMode::Drop);
    let _gw = gateway.then(|| net.start_gateway(&path, "0s"));
    // On the drop path too: ARP is never policed and the pings fit the burst.
    net.wait_reachable(&vids);
    if mode == FwdMode::Htb {
        let unlimited = 100_000_000_000;
        net.shape_with_htb(&[(110, unlimited, unlimited), (120, unlimited, unlimited)]);
    }
    let payload = 64 - TAGGED_OVERHEAD;
    let frame_bits = if per_sender_pps > 0.0 {
        per_sender_pps * 64.0 * 8.0
    } else {
        1e12 // as fast as the sender can
    };
    let run = Duration::from_secs(4);
    let start = Instant::now();
    let mut rx = Vec::new();
    let mut tx = Vec::new();
    for (i, vid) in vids.iter().enumerate() {
        let h = net.vlan(*vid);
        let addr = SocketAddrV4::new(h.upstream_ip, 5001);
        rx.push(receive(
            &h.upstream_side,
            addr,
            payload,
            start + run + Duration::from_millis(300),
        ));
        // Pinned senders, one per CPU: streams' senders are not pinned.
        tx.push(
            Flood {
                to: addr,
                payload,
                frame_bits_per_second: frame_bits,
                duration: run,
                cpu: Some(i % 2),
                delay: Duration::ZERO,
            }
            .start(&h.agency_side),
        );
    }
    let from = start + Duration::from_secs(1);
    let to = start + run - Duration::from_millis(200);
    std::thread::sleep(from.saturating_duration_since(Instant::now()));
    // CPU time so far, and frames the gateway handled so far where it counts them.
    let snapshot = || {
        let handled = if mode.counted_at_gateway() {
            handled_frames(&net)
        } else {
            0.0
        };
        (cpu_ticks(), handled)
    };
    let (cpu0, handled0) = snapshot();
    std::thread::sleep(to.saturating_duration_since(Instant::now()));
    let (cpu1, handled1) = snapshot();
    for t in tx {
        t.join().expect("sender");
    }
    let delivered: f64 = rx
        .into_iter()
        .map(|r| {
            let a = r.join().expect("receiver");
            a.times.iter().filter(|t| **t >= from && **t < to).count() as f64
        })
        .sum();
    let secs = (to - from).as_secs_f64();
    let frames = if mode.counted_at_gateway() {
        handled1 - handled0
    } else {
        delivered
    };
    // Ticks are 1/100 s on every CPU; busy share of all CPUs × CPUs × seconds = CPU seconds.
    let cpus = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1) as f64;
    let share = |ticks: u64| ticks as f64 / (cpu1.total - cpu0.total).max(1) as f64 * cpus * secs;
    let per_frame = |cpu_seconds: f64| cpu_seconds * 1e6 / frames.max(1.0);
    Run {
        frames_per_second: frames / secs,
        cpu_us: per_frame(share(cpu1.busy - cpu0.busy)),
        softirq_us: per_frame(share(cpu1.softirq - cpu0.softirq)),
    }
}

/// Every run of one mode under one load.
struct ModeRuns {
    mode: FwdMode,
    runs: Vec<Run>,
}

impl ModeRuns {
    fn stats(&self, figure: fn(&Run) -> f64) -> Stats {
        Stats::of(self.runs.iter().map(figure))
    }
}

/// One offered load: every mode's runs.
struct Load {
    name: &'static str,
    modes: Vec<ModeRuns>,
}

pub struct Report {
    rounds: usize,
    loads: Vec<Load>,
}

pub fn run() -> Report {
    let rounds = repeat_count(3);
    // Saturated: as fast as the senders can; fixed: 2 × 25 000 frames/s, which every mode
    // carries, so CPU per frame compares work done rather than a saturated machine.
    let offered = [(0.0, "saturated"), (25_000.0, "2 × 25 kpps offered")];
    let mut loads: Vec<Load> = offered
        .iter()
        .map(|&(_, name)| Load {
            name,
            modes: FwdMode::all()
                .into_iter()
                .map(|mode| ModeRuns {
                    mode,
                    runs: Vec::new(),
                })
                .collect(),
        })
        .collect();
    for round in 0..rounds {
        for (load, &(pps, name)) in loads.iter_mut().zip(&offered) {
            for m in &mut load.modes {
                let r = forwarding_run(m.mode, pps);
                eprintln!(
                    "forwarding round {round}, {name}: {}: {:.0} frames/s, {:.2} µs CPU per frame, {:.2} in softirq",
                    m.mode.name(),
                    r.frames_per_second,
                    r.cpu_us,
                    r.softirq_us
                );
                m.runs.push(r);
            }
        }
    }
    Report { rounds, loads }
}

impl Report {
    pub fn write(&self, report: &mut String) {
        let rounds = self.rounds;
        let _ = writeln!(
            report,
            "\n## 2. Forwarding through the simulated network\n\n\
             64-byte frames (802.1Q, UDP) from two senders pinned to the two CPUs, two VLANs, each \
             an agency (unlimited, or far over an 8 kbit/s rate for the drop paths). Frames per \
             second handled over 2.8 s (delivered; for the drop path, passed + dropped as the \
             gateway's counters report), and the whole machine's CPU time per frame — \
             senders, receivers and switch included, which is the same in every mode, so \
             differences between rows are the gateway's. Median of {rounds} rounds interleaved by \
             mode (min–max). HTB is what an admin would configure instead: one class per agency \
             VLAN at the same rate on each port's egress (a cls_bpf filter reads the VLAN tag: on \
             this kernel `u32` cannot see a tag the stack keeps beside the frame, and `flower` is \
             not built). HTB's drop path is not in the table: in a simulated network the \
             senders' frames keep a reference to their socket across namespaces, so a full HTB \
             queue blocks the senders instead of dropping, which frames from a wire would not do. \
             The whole path shares 2 CPUs with the senders and receivers: read ratios, \
             not line rates.\n"
        );
        for load in &self.loads {
            // Without the baseline in the run (a partial run), the ratios are NaN.
            let base = load.modes.iter().find(|m| m.mode == FwdMode::Bridge);
            let median =
                |figure: fn(&Run) -> f64| base.map_or(f64::NAN, |b| b.stats(figure).median);
            let base_pps = median(|r| r.frames_per_second);
            let base_us = median(|r| r.cpu_us);
            let base_soft = median(|r| r.softirq_us);
            let _ = writeln!(
                report,
                "\n{}:\n\n| gateway | frames/s | vs. baseline | CPU µs per frame | vs. baseline | softirq µs per frame | vs. baseline |\n|---|---:|---:|---:|---:|---:|---:|",
                load.name
            );
            for m in &load.modes {
                let p = m.stats(|r| r.frames_per_second);
                let u = m.stats(|r| r.cpu_us);
                let q = m.stats(|r| r.softirq_us);
                let _ = writeln!(
                    report,
                    "| {} | {} | {:.2} | {} | {:.2} | {} | {:.2} |",
                    m.mode.name(),
                    p.show(0),
                    p.median / base_pps,
                    u.show(2),
                    u.median / base_us,
                    q.show(2),
                    q.median / base_soft
                );
            }
        }
    }
}
