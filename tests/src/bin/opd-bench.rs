//! `cargo xtask bench`: every figure measured side by side with its baseline in one run,
//! repeated, reported as median and spread, and written to BENCHMARKS.md.
//!
//! 1. Program cost: BPF_PROG_TEST_RUN ns per frame of the gateway program against an empty
//!    XDP program, interleaved, for several frame layouts and policy sizes.
//! 2. Forwarding: 64-byte UDP frames from two senders through the simulated network with no
//!    program (a Linux bridge in the gateway), the gateway passing into that bridge, and the
//!    gateway redirecting between its ports.

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
    Forwarding, SimNetwork, TempDir, Way, env_path,
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

fn stats(mut v: Vec<f64>) -> Stats {
    v.sort_by(f64::total_cmp);
    Stats {
        median: v[v.len() / 2],
        min: v[0],
        max: v[v.len() - 1],
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
    let mut text = String::from(
        "[site]\nlan = \"lan\"\nwan = \"wan\"\nforwarding = \"bridge\"\ncapacity = { upload = \"100Tbps\", download = \"100Tbps\" }\n",
    );
    for i in 0..agencies {
        // Agency 0: always under quota (at least 24 Gbps of the 100 Tbps); agency 1: always
        // over (8 kbps, 10 frames of burst).
        let limit = match i {
            1 => "rate = \"8kbps\"",
            _ => "ceiling = \"100Gbps\"",
        };
        let vid = i + 1;
        let qinq = if i == 0 { "qinq = [[3000, 7]]\n" } else { "" };
        let _ = write!(
            text,
            "[[agency]]\nid = \"a{i}\"\nvlans = [{vid}]\n{qinq}upload = {{ {limit} }}\ndownload = {{ {limit} }}\n"
        );
    }
    policy::from_texts(&[("bench.toml", &text)]).expect("bench policy")
}

fn program_cost(report: &mut String) {
    let mut sim =
        aya::Ebpf::load_file(env_path("OPD_SIM_EBPF")).expect("load the simulation programs");
    let empty: &mut Xdp = sim.program_mut("sim_xdp_pass").unwrap().try_into().unwrap();
    empty.load().unwrap();
    let empty: &Xdp = empty;
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
        dp.apply(&opd_gateway::control::initial_plan(&p))
            .expect("configure");
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
}

/// Received packets per second of 64-byte frames, summed over two VLANs.
fn forwarding_pps(mode: &str) -> f64 {
    let vids = [110u16, 120];
    let forwarding = if mode == "redirect" {
        Forwarding::Redirect
    } else {
        Forwarding::Bridge
    };
    let net = SimNetwork::new(&vids, forwarding);
    let dir = TempDir::new("bench");
    let mut text = SimNetwork::site_toml(forwarding, "pass");
    for vid in vids {
        let _ = write!(
            text,
            "[[agency]]\nid = \"v{vid}\"\nvlans = [{vid}]\nupload = {{ rate = \"unlimited\" }}\ndownload = {{ rate = \"unlimited\" }}\n"
        );
    }
    let path = dir.write("p.toml", &text);
    let _gw = (mode != "none").then(|| net.start_gateway(&path, "0s"));
    net.wait_reachable(&vids);
    // Pinned senders, one per CPU: streams' senders are not pinned.
    let payload = 64 - opd_testbed::traffic::TAGGED_OVERHEAD;
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
        tx.push(
            Flood {
                to: addr,
                payload,
                frame_bits_per_second: 1e12, // as fast as the sender can
                duration: run,
                cpu: Some(i % 2),
                delay: Duration::ZERO,
            }
            .start(&h.agency_side),
        );
    }
    for t in tx {
        t.join().expect("sender");
    }
    let from = start + Duration::from_secs(1);
    let to = start + run;
    rx.into_iter()
        .map(|r| {
            let a = r.join().expect("receiver");
            a.times.iter().filter(|t| **t >= from && **t < to).count() as f64
        })
        .sum::<f64>()
        / (to - from).as_secs_f64()
}

fn forwarding(report: &mut String) {
    let modes = ["none", "bridge", "redirect"];
    let mut samples: Vec<Vec<f64>> = vec![Vec::new(); modes.len()];
    for round in 0..3 {
        for (i, m) in modes.iter().enumerate() {
            let pps = forwarding_pps(m);
            eprintln!("forwarding round {round}: {m}: {pps:.0} pps");
            samples[i].push(pps);
        }
    }
    let base = stats(samples[0].clone()).median;
    let _ = writeln!(
        report,
        "\n## 2. Forwarding through the simulated network\n\n\
         64-byte frames (802.1Q, UDP), two senders pinned to the two CPUs, two VLANs of unlimited \
         agencies; delivered packets per second over 3 s, median of 3 rounds interleaved by mode \
         (min–max). Every mode crosses the same veths and switch bridges; only the gateway's \
         forwarding differs. The whole path runs on the same 2 CPUs as the senders and \
         receivers, so these are ratios between modes, not line rates.\n\n\
         | gateway | pps | vs. no program |\n|---|---:|---:|"
    );
    for (i, m) in modes.iter().enumerate() {
        let s = stats(samples[i].clone());
        let name = match *m {
            "none" => "no program, Linux bridge",
            "bridge" => "XDP policing, XDP_PASS into the Linux bridge",
            _ => "XDP policing, XDP_REDIRECT between ports",
        };
        let _ = writeln!(
            report,
            "| {name} | {:.0} ({:.0}–{:.0}) | {:.2} |",
            s.median,
            s.min,
            s.max,
            s.median / base
        );
    }
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

/// The gateway's passed bytes for an agency and direction, from its /metrics.
fn passed_bytes(net: &SimNetwork, agency: &str, direction: &str) -> f64 {
    let (_, text) =
        opd_testbed::http_get(&net.gateway, "127.0.0.1:9477", "/metrics").expect("GET /metrics");
    let series = format!(
        "opd_gateway_agency_passed_bytes_total{{agency=\"{agency}\",direction=\"{direction}\"}} "
    );
    text.lines()
        .find_map(|l| l.strip_prefix(&series))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("{series} missing from /metrics"))
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
            let net = SimNetwork::new(&[110], Forwarding::Redirect);
            let dir = TempDir::new("accuracy");
            let mut text = SimNetwork::site_toml(Forwarding::Redirect, "drop");
            let _ = write!(
                text,
                "[[agency]]\nid = \"a\"\nvlans = [110]\nupload = {{ rate = \"1Mbps\" }}\ndownload = {{ rate = \"{mbps}Mbps\" }}\n"
            );
            let path = dir.write("p.toml", &text);
            let _gw = net.start_gateway(&path, "0s");
            net.wait_reachable(&[110]);
            let run = Duration::from_secs(5);
            let flow = net.steady_stream(
                110,
                Way::Download,
                Instant::now(),
                run,
                2.0 * mbps as f64 * 1e6,
            );
            std::thread::sleep(Duration::from_millis(1500));
            let (b0, t0) = (passed_bytes(&net, "a", "download"), Instant::now());
            std::thread::sleep(Duration::from_secs(3));
            let (b1, t1) = (passed_bytes(&net, "a", "download"), Instant::now());
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
    let net = SimNetwork::new(&active, Forwarding::Redirect);
    let dir = TempDir::new("daemon");
    let mut text = SimNetwork::site_toml(Forwarding::Redirect, "drop");
    for vid in &vids {
        let _ = write!(
            text,
            "[[agency]]\nid = \"a{vid}\"\nvlans = [{vid}]\nupload = {{ guaranteed = \"2Mbps\", ceiling = \"100Mbps\" }}\ndownload = {{ guaranteed = \"5Mbps\", ceiling = \"100Mbps\" }}\n"
        );
    }
    let path = dir.write("p.toml", &text);
    let gw = net.start_gateway(&path, "0s");
    let pid = gw.child.as_ref().expect("running").id();
    net.wait_reachable(&active);
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
    // Sections to run (default: all): program, forwarding, allocator, accuracy, daemon.
    let only: Vec<String> = std::env::args().skip(2).collect();
    let want = |name: &str| only.is_empty() || only.iter().any(|o| o == name);
    type Section = fn(&mut String);
    let sections: [(&str, Section); 5] = [
        ("program", program_cost),
        ("forwarding", forwarding),
        ("allocator", allocator_cost),
        ("accuracy", accuracy),
        ("daemon", daemon_cost),
    ];
    for (name, section) in sections {
        if want(name) {
            section(&mut report);
        }
    }
    std::fs::write(&out, &report).expect("write the report");
    println!("{report}\nwritten to {}", out.display());
}
