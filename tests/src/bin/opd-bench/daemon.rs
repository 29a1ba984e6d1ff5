//! Section 5: the daemon's own memory and CPU with 45 agencies, idle and under load.

use std::{
    fmt::Write as _,
    time::{Duration, Instant},
};

use opd_testbed::{AgencyText, Bed, Forwarding, Limit, PolicyText, Way};

/// A process's resident memory and CPU time so far, from /proc: CPU from each thread's
/// schedstat (nanoseconds on a CPU), finer than the clock ticks of /proc/<pid>/stat.
pub struct ProcessTimes {
    pub rss_kb: u64,
    pub cpu_seconds: f64,
}

pub fn process_times(pid: u32) -> ProcessTimes {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let rss_kb = status
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
    ProcessTimes {
        rss_kb,
        cpu_seconds: ns as f64 / 1e9,
    }
}

/// The daemon over a stretch of time: resident memory at its end and CPU as a share of one
/// CPU.
struct Usage {
    rss_kb: u64,
    cpu_percent: f64,
}

pub struct Report {
    idle: Usage,
    busy: Usage,
}

/// 45 agencies on VLANs 101–145, each guaranteed a little and allowed much: the daemon's
/// benches' regency.
pub fn regency_of_45() -> (Vec<u16>, PolicyText) {
    let vids: Vec<u16> = (1..=45).map(|i| 100 + i).collect();
    let policy = PolicyText::simulated_regency(Forwarding::Redirect)
        .unclassified("drop")
        .agencies(vids.iter().map(|vid| {
            AgencyText::new(&format!("a{vid}"))
                .vlans(&[*vid])
                .upload(Limit::guaranteed("2Mbps", "100Mbps"))
                .download(Limit::guaranteed("5Mbps", "100Mbps"))
        }));
    (vids, policy)
}

pub fn run() -> Report {
    let (vids, policy) = regency_of_45();
    let active: Vec<u16> = vids.iter().copied().step_by(5).collect(); // 9 host pairs
    let bed = Bed::start(&active, Forwarding::Redirect, &policy, "0s");
    let pid = bed.gateway.child.as_ref().expect("running").id();
    let measure = |secs: u64| {
        let before = process_times(pid);
        std::thread::sleep(Duration::from_secs(secs));
        let after = process_times(pid);
        Usage {
            rss_kb: after.rss_kb,
            cpu_percent: (after.cpu_seconds - before.cpu_seconds) / secs as f64 * 100.0,
        }
    };
    std::thread::sleep(Duration::from_secs(2));
    let idle = measure(8);
    let start = Instant::now();
    let run = Duration::from_secs(12);
    let flows: Vec<_> = active
        .iter()
        .map(|&vid| bed.net.steady_stream(vid, Way::Download, start, run, 40e6))
        .collect();
    std::thread::sleep(Duration::from_secs(2));
    let busy = measure(8);
    for f in flows {
        f.finish();
    }
    eprintln!(
        "daemon: idle {} kB {:.2}% CPU; under load {} kB {:.2}% CPU",
        idle.rss_kb, idle.cpu_percent, busy.rss_kb, busy.cpu_percent
    );
    Report { idle, busy }
}

impl Report {
    pub fn write(&self, report: &mut String) {
        let Report { idle, busy } = self;
        let _ = writeln!(
            report,
            "\n## 5. The daemon\n\n\
             `opd-gateway run` with 45 agencies, tick 1 s, metrics served; idle, then with 9 agencies \
             flooded at 40 Mbps each (360 Mbps offered on a 1 Gbps uplink). CPU is the daemon's own \
             time on a CPU over 8 s, as a share of one CPU; the XDP programs run in the kernel's \
             receive path and are not counted here (see section 1).\n\n\
             | state | resident memory | CPU |\n|---|---:|---:|\n\
             | idle | {} kB | {:.3}% |\n| under load | {} kB | {:.3}% |",
            idle.rss_kb, idle.cpu_percent, busy.rss_kb, busy.cpu_percent
        );
    }
}
