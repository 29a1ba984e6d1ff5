//! Section 10: the office's page under load. 200 clients polling as the page does (`/status`
//! every second, on kept-alive connections, having loaded `/` once), beside the same 200
//! polling `/metrics` instead, and beside no load at all: the latency of `/`, `/status` and
//! `/metrics` from one more client, the control loop's tick time, and the daemon's CPU and
//! memory.

use std::{
    fmt::Write as _,
    sync::atomic::{AtomicBool, AtomicU64, Ordering},
    time::{Duration, Instant},
};

use opd_testbed::{Bed, Forwarding, Metrics};

use crate::stats::percentile;

const CLIENTS: usize = 200;
const PHASE: Duration = Duration::from_secs(20);
const ADDR: &str = "127.0.0.1:9477";
const TARGETS: [&str; 3] = ["/", "/status", "/metrics"];

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .proxy(None)
        .timeout_global(Some(Duration::from_secs(10)))
        .build()
        .into()
}

/// One load: what the 200 clients poll, if anything.
#[derive(Clone, Copy)]
enum Load {
    None,
    Page,
    Metrics,
}

impl Load {
    fn name(self) -> &'static str {
        match self {
            Load::None => "no load",
            Load::Page => "200 pages polling /status every second",
            Load::Metrics => "200 clients polling /metrics every second",
        }
    }
}

struct Phase {
    load: Load,
    /// Per target: p50 and p99 in ms.
    latency: [(f64, f64); 3],
    /// Requests the 200 clients made, and those that failed.
    requests: u64,
    failed: u64,
    tick_ms: f64,
    cpu_percent: f64,
    rss_kb: u64,
}

pub struct Report {
    phases: Vec<Phase>,
}

fn rss_and_cpu(pid: u32) -> (u64, f64) {
    let t = crate::daemon::process_times(pid);
    (t.rss_kb, t.cpu_seconds)
}

/// The tick histogram's sum and count.
fn ticks(bed: &Bed) -> (f64, f64) {
    let m = Metrics::scrape(&bed.net.gateway);
    let line = |name: &str| {
        m.text()
            .lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
            .unwrap_or(0.0)
    };
    (
        line("opd_gateway_tick_duration_seconds_sum"),
        line("opd_gateway_tick_duration_seconds_count"),
    )
}

fn phase(bed: &Bed, pid: u32, load: Load) -> Phase {
    let stop = AtomicBool::new(false);
    let requests = AtomicU64::new(0);
    let failed = AtomicU64::new(0);
    let ns = &bed.net.gateway;
    let (t0, (rss0, cpu0)) = (ticks(bed), rss_and_cpu(pid));
    let mut samples: [Vec<f64>; 3] = Default::default();
    std::thread::scope(|s| {
        if !matches!(load, Load::None) {
            for c in 0..CLIENTS {
                let (stop, requests, failed) = (&stop, &requests, &failed);
                s.spawn(move || {
                    ns.enter(|| {
                        let agent = agent();
                        let url = |t: &str| format!("http://{ADDR}{t}");
                        let target = match load {
                            Load::Metrics => "/metrics",
                            _ => "/status",
                        };
                        if matches!(load, Load::Page) {
                            let _ = agent.get(&url("/")).call();
                        }
                        // Spread over the second, as pages opened at different moments.
                        std::thread::sleep(Duration::from_millis((c as u64 * 997) % 1000));
                        let mut next = Instant::now();
                        while !stop.load(Ordering::Relaxed) {
                            requests.fetch_add(1, Ordering::Relaxed);
                            match agent.get(&url(target)).call() {
                                Ok(mut r) if r.status().as_u16() == 200 => {
                                    let _ = r.body_mut().read_to_vec();
                                }
                                _ => {
                                    failed.fetch_add(1, Ordering::Relaxed);
                                }
                            }
                            next += Duration::from_secs(1);
                            std::thread::sleep(next.saturating_duration_since(Instant::now()));
                        }
                    })
                });
            }
        }
        // The probe: one more client, a fresh connection per request as a newly opened
        // page or a scrape would make, every 50 ms in turn.
        ns.enter(|| {
            std::thread::sleep(Duration::from_secs(2));
            let end = Instant::now() + PHASE;
            let mut i = 0;
            while Instant::now() < end {
                let t = i % 3;
                let began = Instant::now();
                let ok = agent()
                    .get(&format!("http://{ADDR}{}", TARGETS[t]))
                    .call()
                    .ok()
                    .and_then(|mut r| r.body_mut().read_to_vec().ok().map(|_| r.status()))
                    .is_some_and(|s| s.as_u16() == 200);
                if ok {
                    samples[t].push(began.elapsed().as_secs_f64() * 1e3);
                }
                i += 1;
                std::thread::sleep(Duration::from_millis(50));
            }
        });
        stop.store(true, Ordering::Relaxed);
    });
    let (t1, (rss1, cpu1)) = (ticks(bed), rss_and_cpu(pid));
    let secs = PHASE.as_secs_f64() + 2.0;
    let p = Phase {
        load,
        latency: std::array::from_fn(|t| {
            (percentile(&samples[t], 0.5), percentile(&samples[t], 0.99))
        }),
        requests: requests.load(Ordering::Relaxed),
        failed: failed.load(Ordering::Relaxed),
        tick_ms: (t1.0 - t0.0) / (t1.1 - t0.1).max(1.0) * 1e3,
        cpu_percent: (cpu1 - cpu0) / secs * 100.0,
        rss_kb: rss1.max(rss0),
    };
    eprintln!(
        "web, {}: / {:.1}/{:.1} ms, /status {:.1}/{:.1} ms, /metrics {:.1}/{:.1} ms (p50/p99); \
         {} requests, {} failed; tick {:.3} ms; CPU {:.1}%; {} kB",
        load.name(),
        p.latency[0].0,
        p.latency[0].1,
        p.latency[1].0,
        p.latency[1].1,
        p.latency[2].0,
        p.latency[2].1,
        p.requests,
        p.failed,
        p.tick_ms,
        p.cpu_percent,
        p.rss_kb
    );
    p
}

pub fn run() -> Report {
    let (vids, policy) = crate::daemon::regency_of_45();
    let bed = Bed::start(&vids[..1], Forwarding::Redirect, &policy, "0s");
    let pid = bed.gateway.child.as_ref().expect("running").id();
    std::thread::sleep(Duration::from_secs(2));
    let phases = [Load::None, Load::Page, Load::Metrics, Load::None]
        .into_iter()
        .map(|l| phase(&bed, pid, l))
        .collect();
    Report { phases }
}

impl Report {
    pub fn write(&self, out: &mut String) {
        let _ = writeln!(
            out,
            "\n## 10. The office's page under load\n\n\
             `opd-gateway run` with 45 agencies, tick 1 s. {CLIENTS} clients on kept-alive \
             connections poll as the page does (`/status` every second, after loading `/`), or \
             poll `/metrics` every second instead (the peer: the same load on the metrics \
             alone); one more client opens a fresh connection every 50 ms for `/`, `/status` \
             and `/metrics` in turn and times it, over {} s per phase. Tick time is the mean of \
             the daemon's own histogram over the phase; CPU is the daemon's, as a share of one \
             CPU (target: p99 ≤ 50 ms, tick time unmoved).\n\n\
             | load | `/` p50 / p99 ms | `/status` p50 / p99 ms | `/metrics` p50 / p99 ms | \
             clients' requests (failed) | tick ms | daemon CPU | resident |\n\
             |---|---:|---:|---:|---:|---:|---:|---:|",
            PHASE.as_secs()
        );
        for p in &self.phases {
            let l = |i: usize| format!("{:.1} / {:.1}", p.latency[i].0, p.latency[i].1);
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} | {} ({}) | {:.3} | {:.1}% | {} kB |",
                p.load.name(),
                l(0),
                l(1),
                l(2),
                p.requests,
                p.failed,
                p.tick_ms,
                p.cpu_percent,
                p.rss_kb
            );
        }
    }
}
