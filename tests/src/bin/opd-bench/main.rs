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
//! 6. TCP through the policer against HTB at the same rate, CUBIC and BBR, 1 to 16 flows,
//!    RTTs from 0 to 80 ms by a delay line: goodput, retransmitted share, timeouts, queueing
//!    delay; and the policer's tuning (ECN marking, bucket depth).
//! 7. Sharing: uplink use when oversubscribed and the time until a waking agency has its
//!    guarantee, against fixed packages.
//! 8. Closed-loop traffic: TCP transfers from idle, sustained downloads and web-like
//!    browsing through the daemon, against HTB borrowing by tier and against fixed packages.
//! 9. The history: disk per agency-year, and the needs report's time for 45 agencies over
//!    13 months against reading the rows alone.
//! 10. The office's page: latency of `/`, `/status` and `/metrics` and the tick time while 200
//!     pages poll, against the same load on `/metrics` and against none.
//! 11. Fairness between the hosts of an agency: the program's cost per frame with per-host
//!     fairness against today's path, the tick with 45 agencies × 1,000 hosts, and TCP hosts
//!     with 16 flows and with one sharing an agency, fair against shared.
//!
//! Each section is a module that measures into a report of its own and writes it as a
//! section of BENCHMARKS.md.
//!
//! For quick partial runs: OPD_BENCH_REPEAT (rounds), OPD_BENCH_MODES (forwarding modes by
//! index), OPD_BENCH_CC, OPD_BENCH_RTT and OPD_BENCH_FLOWS (TCP cases, comma-separated
//! lists), OPD_BENCH_TUNING=0 (TCP without the tuning rows), OPD_BENCH_CLOSED (parts of the
//! closed-loop section).

mod accuracy;
mod allocator;
mod closed;
mod daemon;
mod forwarding;
mod history;
mod hosts;
mod program;
mod sharing;
mod stats;
mod tcp;
mod web;

use std::path::PathBuf;

use opd_testbed::require_root;

/// Rounds of the fast measurements (program cost, allocator), each a median of its own.
const ROUNDS: usize = 7;

/// Runs of each traffic measurement: `default`, or OPD_BENCH_REPEAT.
fn repeat_count(default: usize) -> usize {
    std::env::var("OPD_BENCH_REPEAT")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
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
    // sharing, closed, history, web, hosts.
    let only: Vec<String> = std::env::args().skip(2).collect();
    let want = |name: &str| only.is_empty() || only.iter().any(|o| o == name);
    type Section = fn(&mut String);
    let sections: [(&str, Section); 11] = [
        ("program", |out| program::run().write(out)),
        ("forwarding", |out| forwarding::run().write(out)),
        ("allocator", |out| allocator::run().write(out)),
        ("accuracy", |out| accuracy::run().write(out)),
        ("daemon", |out| daemon::run().write(out)),
        ("tcp", |out| tcp::run().write(out)),
        ("sharing", |out| sharing::run().write(out)),
        ("closed", closed::run),
        ("history", |out| history::run().write(out)),
        ("web", |out| web::run().write(out)),
        ("hosts", |out| hosts::run().write(out)),
    ];
    for (name, section) in sections {
        if want(name) {
            section(&mut report);
        }
    }
    std::fs::write(&out, &report).expect("write the report");
    println!("{report}\nwritten to {}", out.display());
}
