//! `cargo xtask bench`: every figure measured side by side with its baseline in one run,
//! repeated, reported as median and spread, and written to BENCHMARKS.md.
//!
//! 1. Program cost: BPF_PROG_TEST_RUN ns per frame of the gateway program against an empty
//!    XDP program, interleaved, for several frame layouts and policy sizes.
//! 2. Forwarding: 64-byte UDP frames from two senders through the simulated network with no
//!    program (a Linux bridge in the gateway), the gateway passing into that bridge, the
//!    gateway redirecting between its ports, the gateway dropping (every agency over its
//!    rate), and HTB with a class per agency: frames per second and CPU per frame.
//! 3. The allocator's time per tick against a proportional split.
//! 4. Accuracy under 2× UDP overload from 1 to 500 Mbps.
//! 5. The daemon's memory and CPU.
//! 6. TCP through the policer against HTB at the same rate, with a delay line for RTT, and
//!    the policer's tuning (ECN marking, bucket depth).
//! 7. Sharing: uplink use when oversubscribed and the time until a waking agency has its
//!    guarantee, against fixed packages.
//!
//! For quick partial runs: OPD_BENCH_REPEAT (rounds), OPD_BENCH_MODES (forwarding modes by
//! index), OPD_BENCH_RTT and OPD_BENCH_FLOWS (TCP cases).

use std::{
    fmt::Write as _,
    net::SocketAddrV4,
    path::PathBuf,
    time::{Duration, Instant},
};

use aya::programs::{TestRun, TestRunOptions, Xdp};
use opd_gateway::{
    allocator,
    dataplane::{Dataplane, LAN_PROGRAM},
    policy,
};
use opd_testbed::{
    AgencyText, Bed, Forwarding, Limit, Metrics, PolicyText, SimNetwork, TempDir, Way, env_path,
    frames::{self, Frame},
    require_root,
    traffic::{Flood, receive},
};

/// Median and the spread (min–max) of a sample.
struct Stats {
    median: f64,
    min: f64,
    max: f64,
}

/// Median (of the middle two for an even count) and spread; runs that gave no figure (NaN)
/// are left out.
fn stats(v: Vec<f64>) -> Stats {
    let mut v: Vec<f64> = v.into_iter().filter(|x| !x.is_nan()).collect();
    if v.is_empty() {
        return Stats {
            median: f64::NAN,
            min: f64::NAN,
            max: f64::NAN,
        };
    }
    v.sort_by(f64::total_cmp);
    let n = v.len();
    Stats {
        median: if n % 2 == 1 {
            v[n / 2]
        } else {
            (v[n / 2 - 1] + v[n / 2]) / 2.0
        },
        min: v[0],
        max: v[n - 1],
    }
}

const REPEAT: u32 = 2_000_000;
const ROUNDS: usize = 7;

fn ns_per_frame(prog: &Xdp, frame: &[u8]) -> f64 {
    // The kernel reports the mean over `repeat` runs in whole ns; time the call ourselves
    // as well and keep the finer figure.
    let start = Instant::now();
    let r = prog
        .test_run(TestRunOptions {
            data_in: Some(frame),
            repeat: REPEAT,
            ..Default::default()
        })
        .expect("BPF_PROG_TEST_RUN");
    let wall = start.elapsed().as_nanos() as f64 / REPEAT as f64;
    let kernel = r.duration.as_nanos() as f64;
    if kernel > 0.0 { kernel.min(wall) } else { wall }
}

fn policy_with(agencies: usize) -> policy::Policy {
    let mut text = PolicyText::site()
        .forwarding(Forwarding::Bridge)
        .capacity("100Tbps", "100Tbps");
    for i in 0..agencies {
        // Agency 0: always under quota (at least 24 Gbps of the 100 Tbps); agency 1: always
        // over (8 kbps, 10 frames of burst).
        let limit = match i {
            1 => Limit::rate("8kbps"),
            _ => Limit::ceiling("100Gbps"),
        };
        let mut agency = AgencyText::new(&format!("a{i}")).vlans(&[i as u16 + 1]);
        if i == 0 {
            agency = agency.qinq(&[(3000, 7)]);
        }
        text = text.agency(agency.both(limit));
    }
    policy::from_texts(&[("bench.toml", &text.to_string())]).expect("bench policy")
}

fn program_cost(report: &mut String) {
    let mut sim =
        aya::Ebpf::load_file(env_path("OPD_SIM_EBPF")).expect("load the simulation programs");
    for name in ["sim_xdp_pass", "sim_xdp_clock"] {
        let p: &mut Xdp = sim.program_mut(name).unwrap().try_into().unwrap();
        p.load().unwrap_or_else(|e| panic!("load {name}: {e}"));
    }
    let empty: &Xdp = sim.program("sim_xdp_pass").unwrap().try_into().unwrap();
    let clock: &Xdp = sim.program("sim_xdp_clock").unwrap().try_into().unwrap();
    let cases: Vec<(&str, Vec<u8>)> = vec![
        (
            "untagged IPv4 (site default: pass)",
            Frame::ipv4_udp(18).bytes(),
        ),
        (
            "802.1Q IPv4, under quota",
            Frame::ipv4_udp(18).tag(frames::CTAG, 1).bytes(),
        ),
        (
            "802.1Q IPv4, over quota",
            Frame::ipv4_udp(18).tag(frames::CTAG, 2).bytes(),
        ),
        (
            "QinQ IPv4, under quota",
            Frame::ipv4_udp(18)
                .tag(frames::STAG, 3000)
                .tag(frames::CTAG, 7)
                .bytes(),
        ),
        (
            "802.1Q IPv6, under quota",
            Frame::ipv6_udp(18).tag(frames::CTAG, 1).bytes(),
        ),
    ];
    let _ = writeln!(
        report,
        "## 1. Program cost (BPF_PROG_TEST_RUN)\n\n\
         ns per frame, median of {ROUNDS} rounds of {REPEAT} runs (min–max); the empty XDP program \
         runs interleaved with the gateway's on the same frame.\n\n\
         | agencies | frame | empty XDP ns | gateway ns | ratio |\n|---:|---|---:|---:|---:|"
    );
    for n in [1usize, 45, 4094] {
        let p = policy_with(n.max(2));
        let mut dp = Dataplane::load_file(&env_path("OPD_GATEWAY_EBPF")).expect("load");
        opd_gateway::plan::Applied::start(&mut dp, &p).expect("configure");
        let gw = dp.program(LAN_PROGRAM).unwrap();
        for (what, frame) in &cases {
            let (mut e, mut g) = (Vec::new(), Vec::new());
            for _ in 0..ROUNDS {
                e.push(ns_per_frame(empty, frame));
                g.push(ns_per_frame(gw, frame));
            }
            let (e, g) = (stats(e), stats(g));
            let line = format!(
                "| {} | {what} | {:.1} ({:.1}–{:.1}) | {:.1} ({:.1}–{:.1}) | {:.2} |",
                n.max(2),
                e.median,
                e.min,
                e.max,
                g.median,
                g.min,
                g.max,
                g.median / e.median
            );
            eprintln!("{line}");
            let _ = writeln!(report, "{line}");
        }
    }
    // What one clock read costs, the part of the policing path that no map layout can save.
    let frame = Frame::ipv4_udp(18).tag(frames::CTAG, 1).bytes();
    let (mut e, mut c) = (Vec::new(), Vec::new());
    for _ in 0..ROUNDS {
        e.push(ns_per_frame(empty, &frame));
        c.push(ns_per_frame(clock, &frame));
    }
    let (e, c) = (stats(e), stats(c));
    let line = format!(
        "\nFor scale, in the same run: an XDP program that reads the clock once (`bpf_ktime_get_ns`, \
         as the policer does for every limited frame) and passes costs {:.1} ns ({:.1}–{:.1}) \
         against the empty program's {:.1} ns ({:.1}–{:.1}): {:.1} ns of each policed frame is \
         the clock read.",
        c.median,
        c.min,
        c.max,
        e.median,
        e.min,
        e.max,
        c.median - e.median
    );
    eprintln!("{line}");
    let _ = writeln!(report, "{line}");
}

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

/// Busy, softirq and total CPU time of the machine so far, in clock ticks, from /proc/stat
/// (sampled by the timer tick on this kernel).
fn cpu_ticks() -> (u64, u64, u64) {
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
    let total = busy + v[3] + v[4];
    (busy, v[6], total)
}

/// Frames the gateway handled so far on the upload path (passed + dropped).
fn handled_frames(net: &SimNetwork) -> f64 {
    let metrics = Metrics::scrape(&net.gateway);
    let upload = [("direction", "upload")];
    metrics.sum("opd_gateway_agency_dropped_packets_total", &upload)
        + metrics.sum("opd_gateway_agency_passed_packets_total", &upload)
}

/// One forwarding run: 64-byte frames from two senders pinned to the two CPUs, each at
/// `per_sender_pps` (0: as fast as it can). Returns frames handled per second, the
/// machine's CPU time per frame in µs (senders and receivers included: the same in every
/// mode), and the part of it in softirq (where forwarding, XDP and qdiscs run).
fn forwarding_run(mode: FwdMode, per_sender_pps: f64) -> (f64, f64, f64) {
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
    let payload = 64 - opd_testbed::traffic::TAGGED_OVERHEAD;
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
    let ((busy0, soft0, total0), handled0) = snapshot();
    std::thread::sleep(to.saturating_duration_since(Instant::now()));
    let ((busy1, soft1, total1), handled1) = snapshot();
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
    let share = |ticks: u64| ticks as f64 / (total1 - total0).max(1) as f64 * cpus * secs;
    let per_frame = |cpu_seconds: f64| cpu_seconds * 1e6 / frames.max(1.0);
    (
        frames / secs,
        per_frame(share(busy1 - busy0)),
        per_frame(share(soft1 - soft0)),
    )
}

fn forwarding(report: &mut String) {
    let rounds = repeat_count(3);
    // Saturated: as fast as the senders can; fixed: 2 × 25 000 frames/s, which every mode
    // carries, so CPU per frame compares work done rather than a saturated machine.
    let loads = [(0.0, "saturated"), (25_000.0, "2 × 25 kpps offered")];
    let mut samples =
        vec![vec![(Vec::new(), Vec::new(), Vec::new()); FwdMode::all().len()]; loads.len()];
    for round in 0..rounds {
        for (l, (load, lname)) in loads.iter().enumerate() {
            for (i, m) in FwdMode::all().iter().enumerate() {
                let (pps, us, soft) = forwarding_run(*m, *load);
                eprintln!(
                    "forwarding round {round}, {lname}: {}: {pps:.0} frames/s, {us:.2} µs CPU per frame, {soft:.2} in softirq",
                    m.name()
                );
                samples[l][i].0.push(pps);
                samples[l][i].1.push(us);
                samples[l][i].2.push(soft);
            }
        }
    }
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
    let modes = FwdMode::all();
    let base = modes.iter().position(|m| *m == FwdMode::Bridge);
    for (l, (_, lname)) in loads.iter().enumerate() {
        // Without the baseline in the run (a partial run), the ratios are NaN.
        let median = |k: usize| -> f64 {
            base.map_or(f64::NAN, |b| {
                let s = &samples[l][b];
                stats([&s.0, &s.1, &s.2][k].clone()).median
            })
        };
        let (base_pps, base_us, base_soft) = (median(0), median(1), median(2));
        let _ = writeln!(
            report,
            "\n{lname}:\n\n| gateway | frames/s | vs. baseline | CPU µs per frame | vs. baseline | softirq µs per frame | vs. baseline |\n|---|---:|---:|---:|---:|---:|---:|"
        );
        for (i, m) in FwdMode::all().iter().enumerate() {
            let p = stats(samples[l][i].0.clone());
            let u = stats(samples[l][i].1.clone());
            let q = stats(samples[l][i].2.clone());
            let _ = writeln!(
                report,
                "| {} | {:.0} ({:.0}–{:.0}) | {:.2} | {:.2} ({:.2}–{:.2}) | {:.2} | {:.2} ({:.2}–{:.2}) | {:.2} |",
                m.name(),
                p.median,
                p.min,
                p.max,
                p.median / base_pps,
                u.median,
                u.min,
                u.max,
                u.median / base_us,
                q.median,
                q.min,
                q.max,
                q.median / base_soft
            );
        }
    }
}

/// What shapes the agency's traffic in a TCP run.
#[derive(Clone, Copy, Debug)]
enum Shaper {
    /// The gateway's policer, with the bucket depth given, and whether the hosts' TCP
    /// negotiates ECN (`net.ipv4.tcp_ecn = 1`; Linux's default only accepts it).
    Policer { burst: &'static str, ecn: bool },
    /// Linux HTB with one class per agency at the same rate.
    Htb,
}

impl Shaper {
    fn name(self) -> String {
        match self {
            Shaper::Policer { burst, ecn } => format!(
                "OPD Gateway, burst {burst}, {}",
                if ecn { "ECN" } else { "no ECN" }
            ),
            Shaper::Htb => "HTB (default burst, 1000-frame queue)".into(),
        }
    }
}

/// One TCP run's figures.
struct TcpRun {
    /// TCP goodput / the agency's rate.
    goodput: f64,
    retransmits: f64,
    /// Ping round trip under load, median and 90th percentile, ms; and the idle one.
    ping_median: f64,
    ping_p90: f64,
    ping_idle: f64,
    ping_lost: f64,
    /// Frames the delay line relayed and lost (its own losses, not the shaper's).
    relayed: f64,
    relay_lost: f64,
}

const TCP_MBPS: u64 = 20;
const TCP_SECONDS: u64 = 10;

/// The round-trip times ping prints, in ms, and how many of `count` got no answer.
fn ping(ns: &opd_testbed::Netns, to: std::net::Ipv4Addr, count: u32) -> (Vec<f64>, u32) {
    let out = ns
        .command("ping")
        .args(["-n", "-i", "0.1", "-W", "2", "-c", &count.to_string()])
        .arg(to.to_string())
        .output()
        .expect("run ping");
    let text = String::from_utf8_lossy(&out.stdout);
    let times: Vec<f64> = text
        .lines()
        .filter_map(|l| l.split("time=").nth(1))
        .filter_map(|t| t.split_whitespace().next()?.parse().ok())
        .collect();
    let lost = count.saturating_sub(times.len() as u32);
    (times, lost)
}

/// `flows` TCP streams (iperf3) downloading through one agency limited to TCP_MBPS, with
/// `rtt` added by a delay line upstream, and ping beside them.
fn tcp_run(shaper: Shaper, flows: usize, rtt: Duration) -> TcpRun {
    let vid = 110u16;
    let rate = TCP_MBPS * 1_000_000;
    let forwarding = match shaper {
        Shaper::Policer { .. } => Forwarding::Redirect,
        Shaper::Htb => Forwarding::Bridge,
    };
    let mut net = SimNetwork::new(&[vid], forwarding);
    let dir = TempDir::new("tcp");
    let _gw = match shaper {
        Shaper::Policer { burst, .. } => {
            let limit = Limit::rate(&format!("{TCP_MBPS}Mbps")).burst(burst);
            let policy = PolicyText::simulated_regency(forwarding)
                .unclassified("drop")
                .agency(AgencyText::new("a").vlans(&[vid]).both(limit));
            Some(net.start_gateway(&dir.write("p.toml", &policy.to_string()), "0s"))
        }
        Shaper::Htb => {
            net.shape_with_htb(&[(vid, rate, rate)]);
            None
        }
    };
    // Also at no added delay: frames re-sent by the relay are charged to the relay's socket
    // (with a buffer far deeper than HTB's queue), not to the sender's, so HTB's queue
    // cannot push back on the sender's TCP as it could not on a wire (TCP small queues
    // would otherwise keep HTB from ever dropping).
    let delay = net.delay_upstream(vid, rtt);
    net.wait_reachable(&[vid]);
    let h = net.vlan(vid);
    if let Shaper::Policer { ecn: true, .. } = shaper {
        for ns in [&h.agency_side, &h.upstream_side] {
            opd_testbed::sh(ns.command("sysctl").args(["-qw", "net.ipv4.tcp_ecn=1"]));
        }
    }
    let (idle, _) = ping(&h.agency_side, h.upstream_ip, 10);
    let mut server = h.agency_side.command("iperf3");
    server
        .args(["-s", "-1", "-p", "5201"])
        .stdout(std::process::Stdio::null());
    let _server = opd_testbed::Process::spawn(server, "iperf3 server");
    std::thread::sleep(Duration::from_millis(500));
    let client = {
        let mut c = h.upstream_side.command("iperf3");
        c.args([
            "-c",
            &h.agency_ip.to_string(),
            "-p",
            "5201",
            "-J",
            "-O",
            "3",
        ])
        .args(["-P", &flows.to_string(), "-t", &TCP_SECONDS.to_string()]);
        std::thread::spawn(move || c.output().expect("run iperf3"))
    };
    // Ping in the middle of the measured seconds.
    std::thread::sleep(Duration::from_secs(5));
    let (loaded, lost) = ping(&h.agency_side, h.upstream_ip, 50);
    let out = client.join().expect("iperf3 client");
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "iperf3 gave no report ({e}):\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    let (relayed, relay_lost) = delay.finish();
    let end = &json["end"];
    let goodput = end["sum_received"]["bits_per_second"]
        .as_f64()
        .unwrap_or_else(|| panic!("iperf3 report without end.sum_received: {json}"));
    let retransmits = end["sum_sent"]["retransmits"].as_f64().unwrap_or(f64::NAN);
    let pct = |v: &[f64], p: f64| {
        let mut v = v.to_vec();
        v.sort_by(f64::total_cmp);
        if v.is_empty() {
            f64::NAN
        } else {
            v[((v.len() - 1) as f64 * p).round() as usize]
        }
    };
    TcpRun {
        goodput: goodput / rate as f64,
        retransmits,
        ping_median: pct(&loaded, 0.5),
        ping_p90: pct(&loaded, 0.9),
        ping_idle: pct(&idle, 0.5),
        ping_lost: lost as f64,
        relayed: relayed as f64,
        relay_lost: relay_lost as f64,
    }
}

fn repeat_count(default: usize) -> usize {
    std::env::var("OPD_BENCH_REPEAT")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// TCP through the policer and through HTB at the same rate, for 1, 4 and 16 flows at no
/// added delay and at 40 ms; then the policer's bucket depth.
fn tcp(report: &mut String) {
    let reps = repeat_count(3);
    let _ = writeln!(
        report,
        "\n## 6. TCP through a policed agency vs. HTB\n\n\
         One agency's download limited to {TCP_MBPS} Mbps; iperf3 (CUBIC) from its upstream host, \
         {TCP_SECONDS} s after 3 s of warm-up; ping from the agency's host to the upstream host \
         during the load (its replies share the limited direction). RTT is added by a delay \
         line (an AF_PACKET relay holding frames) in front of the upstream host; at 0 ms the relay \
         holds nothing but still re-sends every frame (≈0.1 ms), as from a wire. Median of \
         {reps} runs (min–max). Goodput counts TCP payload, so 0.95 is the ceiling (headers of \
         a 1518-byte tagged frame).\n\n\
         | shaper | RTT | flows | goodput / rate | retransmits | ping idle ms | ping loaded median ms | ping loaded p90 ms | pings lost |\n\
         |---|---:|---:|---:|---:|---:|---:|---:|---:|"
    );
    let shapers = [
        Shaper::Policer {
            burst: "100ms",
            ecn: false,
        },
        Shaper::Policer {
            burst: "100ms",
            ecn: true,
        },
        Shaper::Htb,
    ];
    let cases = tcp_cases();
    let mut relay = (0.0, 0.0);
    let mut default_rows = Vec::new();
    // Medians per case: [policer, policer with ECN, HTB, 25 ms bucket, 400 ms bucket].
    let mut medians: Vec<[TcpRun; 5]> = Vec::new();
    for &(rtt_ms, flows) in &cases {
        let runs = tcp_runs(&shapers, rtt_ms, flows, reps, &mut relay);
        for (shaper, runs) in shapers.iter().zip(&runs) {
            let _ = writeln!(report, "{}", tcp_line(&shaper.name(), rtt_ms, flows, runs));
        }
        default_rows.push(tcp_line(&shapers[0].name(), rtt_ms, flows, &runs[0]));
        medians.push([
            tcp_median(&runs[0]),
            tcp_median(&runs[1]),
            tcp_median(&runs[2]),
            tcp_median(&[]),
            tcp_median(&[]),
        ]);
    }
    let depths = [
        Shaper::Policer {
            burst: "25ms",
            ecn: false,
        },
        Shaper::Policer {
            burst: "400ms",
            ecn: false,
        },
    ];
    let tuning_reps = reps.div_ceil(2).max(1);
    let _ = writeln!(
        report,
        "\nThe bucket depth (`burst`), same runs; {tuning_reps} runs each for the other depths, \
         the 100 ms rows repeated from above.\n\n\
         | shaper | RTT | flows | goodput / rate | retransmits | ping idle ms | ping loaded median ms | ping loaded p90 ms | pings lost |\n\
         |---|---:|---:|---:|---:|---:|---:|---:|---:|"
    );
    for (i, (&(rtt_ms, flows), default_row)) in cases.iter().zip(default_rows).enumerate() {
        let runs = tcp_runs(&depths, rtt_ms, flows, tuning_reps, &mut relay);
        let _ = writeln!(
            report,
            "{}",
            tcp_line(&depths[0].name(), rtt_ms, flows, &runs[0])
        );
        let _ = writeln!(report, "{default_row}");
        let _ = writeln!(
            report,
            "{}",
            tcp_line(&depths[1].name(), rtt_ms, flows, &runs[1])
        );
        medians[i][3] = tcp_median(&runs[0]);
        medians[i][4] = tcp_median(&runs[1]);
    }
    tcp_summary(report, &cases, &medians);
    let _ = writeln!(
        report,
        "\nOver all these runs the delay line relayed {:.0} frames and lost {:.0} of them itself \
         (send errors, full receive buffers, truncation){}.",
        relay.0,
        relay.1,
        if relay.1 == 0.0 {
            ": every loss above is the shaper's"
        } else {
            "; the retransmissions above include those"
        }
    );
    if relay.1 > 0.0 {
        eprintln!(
            "warning: the delay line itself lost {} frames; TCP figures include them",
            relay.1
        );
    }
}

/// The median of each figure over runs (NaN for none).
fn tcp_median(runs: &[TcpRun]) -> TcpRun {
    let m = |f: fn(&TcpRun) -> f64| {
        if runs.is_empty() {
            f64::NAN
        } else {
            stats(runs.iter().map(f).collect()).median
        }
    };
    TcpRun {
        goodput: m(|r| r.goodput),
        retransmits: m(|r| r.retransmits),
        ping_median: m(|r| r.ping_median),
        ping_p90: m(|r| r.ping_p90),
        ping_idle: m(|r| r.ping_idle),
        ping_lost: m(|r| r.ping_lost),
        relayed: m(|r| r.relayed),
        relay_lost: m(|r| r.relay_lost),
    }
}

/// What each choice bought, case by case, from the medians above.
fn tcp_summary(report: &mut String, cases: &[(u64, usize)], medians: &[[TcpRun; 5]]) {
    let _ = writeln!(
        report,
        "\nWhat each choice bought, per case (RTT/flows), from the medians above: goodput as a \
         ratio of the other choice's, retransmissions, and the loaded ping's median above the \
         idle one (queueing delay).\n\n\
         | RTT/flows | policer vs. HTB: goodput | retransmits (policer / HTB) | queueing delay ms (policer / HTB) | ECN vs. none: goodput | retransmits (ECN / none) | 25 ms vs. 100 ms bucket: goodput | 400 ms vs. 100 ms: goodput |\n\
         |---|---:|---:|---:|---:|---:|---:|---:|"
    );
    for ((rtt, flows), m) in cases.iter().zip(medians) {
        let [p, e, h, d25, d400] = m;
        let _ = writeln!(
            report,
            "| {rtt} ms / {flows} | {:.2} | {:.0} / {:.0} | {:.1} / {:.1} | {:.2} | {:.0} / {:.0} | {:.2} | {:.2} |",
            p.goodput / h.goodput,
            p.retransmits,
            h.retransmits,
            p.ping_median - p.ping_idle,
            h.ping_median - h.ping_idle,
            e.goodput / p.goodput,
            e.retransmits,
            p.retransmits,
            d25.goodput / p.goodput,
            d400.goodput / p.goodput,
        );
    }
}

/// (RTT ms, flows) of the TCP runs: every combination, or those OPD_BENCH_RTT and
/// OPD_BENCH_FLOWS pick.
fn tcp_cases() -> Vec<(u64, usize)> {
    let pick = |var: &str| std::env::var(var).ok().and_then(|v| v.parse::<u64>().ok());
    let (rtt, flows) = (pick("OPD_BENCH_RTT"), pick("OPD_BENCH_FLOWS"));
    let mut cases = Vec::new();
    for r in [0u64, 40] {
        for f in [1usize, 4, 16] {
            if rtt.is_none_or(|x| x == r) && flows.is_none_or(|x| x == f as u64) {
                cases.push((r, f));
            }
        }
    }
    cases
}

/// `reps` runs of each shaper, interleaved.
fn tcp_runs(
    shapers: &[Shaper],
    rtt_ms: u64,
    flows: usize,
    reps: usize,
    relay: &mut (f64, f64),
) -> Vec<Vec<TcpRun>> {
    let mut runs: Vec<Vec<TcpRun>> = shapers.iter().map(|_| Vec::new()).collect();
    for _ in 0..reps {
        for (i, &shaper) in shapers.iter().enumerate() {
            let r = tcp_run(shaper, flows, Duration::from_millis(rtt_ms));
            eprintln!(
                "tcp: {} rtt {rtt_ms} ms, {flows} flows: goodput {:.3} retr {} ping {:.1}/{:.1} (idle {:.2}) lost {}",
                shaper.name(),
                r.goodput,
                r.retransmits,
                r.ping_median,
                r.ping_p90,
                r.ping_idle,
                r.ping_lost
            );
            relay.0 += r.relayed;
            relay.1 += r.relay_lost;
            runs[i].push(r);
        }
    }
    runs
}

fn tcp_line(name: &str, rtt_ms: u64, flows: usize, runs: &[TcpRun]) -> String {
    let col = |f: fn(&TcpRun) -> f64, digits: usize| {
        let s = stats(runs.iter().map(f).collect());
        format!("{:.d$} ({:.d$}–{:.d$})", s.median, s.min, s.max, d = digits)
    };
    format!(
        "| {name} | {rtt_ms} ms | {flows} | {} | {} | {} | {} | {} | {} |",
        col(|r| r.goodput, 3),
        col(|r| r.retransmits, 0),
        col(|r| r.ping_idle, 2),
        col(|r| r.ping_median, 1),
        col(|r| r.ping_p90, 1),
        col(|r| r.ping_lost, 0),
    )
}

/// A realistic uplink of `n` agencies in one direction: guarantees filling most of the
/// capacity, a few critical and public agencies, demands above and below the guarantees.
fn uplink(n: usize) -> (u64, Vec<allocator::Share>, Vec<u64>) {
    let capacity = 1_000_000_000u64 * (n as u64).div_ceil(45);
    let mut rng = frames::Rng(0x5eed ^ n as u64);
    let per = capacity / n as u64;
    let shares: Vec<allocator::Share> = (0..n)
        .map(|i| allocator::Share {
            guaranteed: per / 2 + rng.below(per / 3),
            ceiling: per * 4,
            weight: 1 + rng.below(4) as u32,
            tier: match i % 15 {
                0 => allocator::Tier::Critical,
                14 => allocator::Tier::Public,
                _ => allocator::Tier::Standard,
            },
            growing: rng.below(2) == 0,
        })
        .collect();
    let demand = (0..n).map(|_| rng.below(per * 3)).collect();
    (capacity, shares, demand)
}

/// What a naive divider would do: everyone proportionally to demand, capped at ceilings
/// (no guarantees, tiers or max-min fairness). The allocator's baseline.
fn proportional(capacity: u64, shares: &[allocator::Share], demand: &[u64]) -> Vec<u64> {
    let total: u128 = demand.iter().map(|&d| d as u128).sum::<u128>().max(1);
    shares
        .iter()
        .zip(demand)
        .map(|(s, &d)| ((capacity as u128 * d as u128 / total) as u64).min(s.ceiling))
        .collect()
}

fn allocator_cost(report: &mut String) {
    let _ = writeln!(
        report,
        "\n## 3. The allocator, per tick and direction\n\n\
         Time of one `allocate` call (guarantees, tiers in order, weighted max-min), median of \
         7 rounds of 1000 calls (min–max), against a naive proportional split of the same \
         uplink (one pass, no guarantees or fairness) in the same run.\n\n\
         | agencies | allocate µs | proportional µs | ratio |\n|---:|---:|---:|---:|"
    );
    for n in [45usize, 4094] {
        let (cap, shares, demand) = uplink(n);
        let time = |f: &dyn Fn() -> Vec<u64>| {
            let start = Instant::now();
            for _ in 0..1000 {
                std::hint::black_box(f());
            }
            start.elapsed().as_secs_f64() * 1e6 / 1000.0
        };
        let (mut a, mut b) = (Vec::new(), Vec::new());
        for _ in 0..ROUNDS {
            a.push(time(&|| allocator::allocate(cap, &shares, &demand)));
            b.push(time(&|| proportional(cap, &shares, &demand)));
        }
        let (a, b) = (stats(a), stats(b));
        let line = format!(
            "| {n} | {:.2} ({:.2}–{:.2}) | {:.2} ({:.2}–{:.2}) | {:.1} |",
            a.median,
            a.min,
            a.max,
            b.median,
            b.min,
            b.max,
            a.median / b.median
        );
        eprintln!("{line}");
        let _ = writeln!(report, "{line}");
    }
}

/// One sharing run on a 60 Mbps uplink (59 usable), tick 500 ms: a critical agency
/// (guarantee 10 Mbps) idle while a standard agency (guarantee 15) and public WiFi both
/// want 40 Mbps, then waking up at 30 Mbps. `fixed`: every agency gets a fixed rate instead
/// (its package: 10, 15 and the 34 left), as without OPD Gateway. Returns the uplink use
/// (delivered / usable) before and after the wake-up, and the ms until the waking agency
/// has its guarantee: the start of the first second in which every 100 ms carried at
/// least 97% of it (NaN if none did).
fn sharing_run(fixed: bool) -> (f64, f64, f64) {
    let vids = [110u16, 120, 130];
    // (id, tier, download divided by need, download as a fixed package)
    let agencies = [
        (
            "rsud",
            "critical",
            Limit::guaranteed("10Mbps", "59Mbps"),
            Limit::rate("10Mbps"),
        ),
        (
            "disdik",
            "standard",
            Limit::guaranteed("15Mbps", "59Mbps"),
            Limit::rate("15Mbps"),
        ),
        (
            "wifi",
            "public",
            Limit::ceiling("unlimited"),
            Limit::rate("34Mbps"),
        ),
    ];
    let policy = PolicyText::site()
        .capacity("60Mbps", "60Mbps")
        .headroom("1Mbps")
        .tick("500ms")
        .unclassified("drop")
        .agencies(
            agencies
                .into_iter()
                .zip(vids)
                .map(|((id, tier, shared, package), vid)| {
                    AgencyText::new(id)
                        .tier(tier)
                        .vlans(&[vid])
                        .upload(Limit::rate("1Mbps"))
                        .download(if fixed { package } else { shared })
                }),
        );
    let bed = Bed::start(&vids, Forwarding::Redirect, &policy, "0s");
    let net = &bed.net;
    let phase = Duration::from_secs(8);
    let offered = [[0.0, 40.0, 40.0], [30.0, 40.0, 40.0]];
    let start = Instant::now() + Duration::from_millis(300);
    let flows: Vec<opd_testbed::Stream> = vids
        .iter()
        .enumerate()
        .map(|(i, &vid)| {
            let rates: Vec<f64> = offered.iter().map(|o| o[i] * 1e6).collect();
            net.phased_stream(vid, Way::Download, start, phase, &rates)
        })
        .collect();
    let got: Vec<opd_testbed::traffic::Arrivals> = flows
        .into_iter()
        .map(opd_testbed::Stream::arrivals)
        .collect();
    let usable = 59e6;
    let use_in = |from: Instant, to: Instant| {
        got.iter().map(|a| a.frame_rate(from, to)).sum::<f64>() / usable
    };
    let before = use_in(start + Duration::from_secs(4), start + phase);
    let after = use_in(start + phase + Duration::from_secs(4), start + phase * 2);
    let wake = start + phase;
    let bins = got[0].binned_rates(wake, start + phase * 2, Duration::from_millis(100));
    let guarantee_at = bins
        .windows(10)
        .position(|w| w.iter().all(|&r| r >= 0.97 * 10e6))
        .map_or(f64::NAN, |i| i as f64 * 100.0);
    (before, after, guarantee_at)
}

/// Uplink use when oversubscribed and the time until a waking agency has its guarantee,
/// OPD Gateway against fixed packages in the same run.
fn sharing(report: &mut String) {
    let reps = repeat_count(3);
    let (mut shared, mut fixed) = (Vec::new(), Vec::new());
    for _ in 0..reps {
        for (is_fixed, out) in [(false, &mut shared), (true, &mut fixed)] {
            let r = sharing_run(is_fixed);
            eprintln!(
                "sharing ({}): uplink use {:.3} / {:.3}, guarantee after {:.0} ms",
                if is_fixed { "fixed" } else { "shared" },
                r.0,
                r.1,
                r.2
            );
            out.push(r);
        }
    }
    let _ = writeln!(
        report,
        "\n## 7. Sharing: uplink use and a waking agency\n\n\
         A 60 Mbps uplink (59 usable), tick 500 ms, real UDP floods through the daemon: a \
         critical agency (guarantee 10 Mbps) idle while a standard agency (guarantee 15) and \
         public WiFi want 40 Mbps each; then the critical agency wakes up at 30 Mbps. Against \
         fixed packages: the same agencies at fixed rates of 10, 15 and 34 Mbps, as an office \
         without OPD Gateway would buy them. Uplink use = delivered / usable over the last 4 s \
         of each 8 s phase; time to guarantee = from the wake-up until the start of the first \
         second in which every 100 ms carried at least 97% of the guarantee. Median of {reps} runs (min–max).\n\n\
         | division | uplink use, critical agency idle | uplink use, all busy | time to guarantee ms | in ticks |\n\
         |---|---:|---:|---:|---:|"
    );
    for (name, runs) in [
        ("OPD Gateway, by need", &shared),
        ("fixed packages", &fixed),
    ] {
        let col = |f: fn(&(f64, f64, f64)) -> f64, d: usize| {
            let st = stats(runs.iter().map(f).collect());
            format!("{:.d$} ({:.d$}–{:.d$})", st.median, st.min, st.max, d = d)
        };
        let ticks = stats(runs.iter().map(|r| r.2 / 500.0).collect());
        let _ = writeln!(
            report,
            "| {name} | {} | {} | {} | {:.1} ({:.1}–{:.1}) |",
            col(|r| r.0, 3),
            col(|r| r.1, 3),
            col(|r| r.2, 0),
            ticks.median,
            ticks.min,
            ticks.max
        );
    }
}

/// The gateway's passed bytes for an agency and direction, from its /metrics.
fn passed_bytes(net: &SimNetwork, agency: &str, direction: &str) -> f64 {
    Metrics::scrape(&net.gateway)
        .value(
            "opd_gateway_agency_passed_bytes_total",
            &[("agency", agency), ("direction", direction)],
        )
        .unwrap_or_else(|| {
            panic!(
                "opd_gateway_agency_passed_bytes_total{{agency=\"{agency}\",direction=\"{direction}\"}} missing from /metrics"
            )
        })
}

/// Delivered/configured rate under 2× UDP overload, from 1 to 500 Mbps, counted at the
/// policer's output (the gateway's passed bytes), so the receivers' limits do not count.
fn accuracy(report: &mut String) {
    let rates = [1u64, 10, 50, 100, 250, 500];
    let _ = writeln!(
        report,
        "\n## 4. Accuracy under 2× overload\n\n\
         One agency's download limited to each rate and flooded at twice it (1400-byte UDP); \
         delivered = the gateway's passed bytes over 3 s after 1.5 s of warm-up; 3 runs per \
         rate, median (min–max). Where the simulated network cannot carry twice the rate, the \
         offered load is shown.\n\n\
         | limit Mbps | offered Mbps | delivered / limit |\n|---:|---:|---:|"
    );
    for mbps in rates {
        let mut ratios = Vec::new();
        let mut offered = Vec::new();
        for _ in 0..3 {
            let policy = PolicyText::simulated_regency(Forwarding::Redirect)
                .unclassified("drop")
                .agency(
                    AgencyText::new("a")
                        .vlans(&[110])
                        .upload(Limit::rate("1Mbps"))
                        .download(Limit::rate(&format!("{mbps}Mbps"))),
                );
            let bed = Bed::start(&[110], Forwarding::Redirect, &policy, "0s");
            let net = &bed.net;
            let run = Duration::from_secs(5);
            let flow = net.steady_stream(
                110,
                Way::Download,
                Instant::now(),
                run,
                2.0 * mbps as f64 * 1e6,
            );
            std::thread::sleep(Duration::from_millis(1500));
            let (b0, t0) = (passed_bytes(net, "a", "download"), Instant::now());
            std::thread::sleep(Duration::from_secs(3));
            let (b1, t1) = (passed_bytes(net, "a", "download"), Instant::now());
            let (_, sent) = flow.finish();
            let delivered = (b1 - b0) * 8.0 / (t1 - t0).as_secs_f64();
            ratios.push(delivered / (mbps as f64 * 1e6));
            offered.push(sent[0].sent as f64 * 1446.0 * 8.0 / run.as_secs_f64() / 1e6);
        }
        let (r, o) = (stats(ratios), stats(offered));
        let line = format!(
            "| {mbps} | {:.0} | {:.4} ({:.4}–{:.4}) |",
            o.median, r.median, r.min, r.max
        );
        eprintln!("{line}");
        let _ = writeln!(report, "{line}");
    }
}

/// Resident memory (kB) and CPU seconds of a process, from /proc: CPU from each thread's
/// schedstat (nanoseconds on a CPU), finer than the clock ticks of /proc/<pid>/stat.
fn rss_and_cpu(pid: u32) -> (u64, f64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let rss = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0);
    let ns: u64 = std::fs::read_dir(format!("/proc/{pid}/task"))
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|t| std::fs::read_to_string(t.path().join("schedstat")).ok())
        .filter_map(|s| s.split_whitespace().next()?.parse::<u64>().ok())
        .sum();
    (rss, ns as f64 / 1e9)
}

/// The daemon with 45 agencies: memory and CPU at idle and with every agency flooded.
fn daemon_cost(report: &mut String) {
    let vids: Vec<u16> = (1..=45).map(|i| 100 + i).collect();
    let active: Vec<u16> = vids.iter().copied().step_by(5).collect(); // 9 host pairs
    let policy = PolicyText::simulated_regency(Forwarding::Redirect)
        .unclassified("drop")
        .agencies(vids.iter().map(|vid| {
            AgencyText::new(&format!("a{vid}"))
                .vlans(&[*vid])
                .upload(Limit::guaranteed("2Mbps", "100Mbps"))
                .download(Limit::guaranteed("5Mbps", "100Mbps"))
        }));
    let bed = Bed::start(&active, Forwarding::Redirect, &policy, "0s");
    let net = &bed.net;
    let pid = bed.gateway.child.as_ref().expect("running").id();
    let measure = |secs: u64| {
        let (_, c0) = rss_and_cpu(pid);
        std::thread::sleep(Duration::from_secs(secs));
        let (rss, c1) = rss_and_cpu(pid);
        (rss, (c1 - c0) / secs as f64 * 100.0)
    };
    std::thread::sleep(Duration::from_secs(2));
    let idle = measure(8);
    let start = Instant::now();
    let run = Duration::from_secs(12);
    let flows: Vec<_> = active
        .iter()
        .map(|&vid| net.steady_stream(vid, Way::Download, start, run, 40e6))
        .collect();
    std::thread::sleep(Duration::from_secs(2));
    let busy = measure(8);
    for f in flows {
        f.finish();
    }
    let _ = writeln!(
        report,
        "\n## 5. The daemon\n\n\
         `opd-gateway run` with 45 agencies, tick 1 s, metrics served; idle, then with 9 agencies \
         flooded at 40 Mbps each (360 Mbps offered on a 1 Gbps uplink). CPU is the daemon's own \
         time on a CPU over 8 s, as a share of one CPU; the XDP programs run in the kernel's \
         receive path and are not counted here (see section 1).\n\n\
         | state | resident memory | CPU |\n|---|---:|---:|\n\
         | idle | {} kB | {:.3}% |\n| under load | {} kB | {:.3}% |",
        idle.0, idle.1, busy.0, busy.1
    );
    eprintln!(
        "daemon: idle {} kB {:.2}% CPU; under load {} kB {:.2}% CPU",
        idle.0, idle.1, busy.0, busy.1
    );
}

fn main() {
    require_root();
    let out: PathBuf = std::env::args()
        .nth(1)
        .map(PathBuf::from)
        .unwrap_or_else(|| "BENCHMARKS.md".into());
    let uname = std::process::Command::new("uname")
        .arg("-srm")
        .output()
        .unwrap();
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with("model name"))
        .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_string())
        .unwrap_or_default();
    let mut report = format!(
        "# Benchmarks\n\nFrom one run of `cargo xtask bench` on a VM with {} CPUs ({cpu}), kernel {}. \
         Shared, noisy machines: read the ratios, not the absolute figures.\n\n",
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(0),
        String::from_utf8_lossy(&uname.stdout).trim()
    );
    // Sections to run (default: all): program, forwarding, allocator, accuracy, daemon, tcp,
    // sharing.
    let only: Vec<String> = std::env::args().skip(2).collect();
    let want = |name: &str| only.is_empty() || only.iter().any(|o| o == name);
    type Section = fn(&mut String);
    let sections: [(&str, Section); 7] = [
        ("program", program_cost),
        ("forwarding", forwarding),
        ("allocator", allocator_cost),
        ("accuracy", accuracy),
        ("daemon", daemon_cost),
        ("tcp", tcp),
        ("sharing", sharing),
    ];
    for (name, section) in sections {
        if want(name) {
            section(&mut report);
        }
    }
    std::fs::write(&out, &report).expect("write the report");
    println!("{report}\nwritten to {}", out.display());
}
