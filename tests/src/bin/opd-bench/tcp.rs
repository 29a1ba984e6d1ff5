//! Section 6: TCP through a policed agency against HTB at the same rate, over a delay line
//! for RTT, and the policer's tuning (ECN marking, bucket depth).

use std::{fmt::Write as _, time::Duration};

use opd_testbed::{
    AgencyText, Forwarding, Limit, Netns, PolicyText, Process, SimNetwork, TempDir, sh,
};

use crate::{
    repeat_count,
    stats::{Stats, percentile},
};

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

/// The shapers compared in every case: the policer as shipped, with ECN, and HTB.
const SHAPERS: [Shaper; 3] = [
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

/// The other bucket depths, against the 100 ms of [`SHAPERS`].
const DEPTHS: [Shaper; 2] = [
    Shaper::Policer {
        burst: "25ms",
        ecn: false,
    },
    Shaper::Policer {
        burst: "400ms",
        ecn: false,
    },
];

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
fn ping(ns: &Netns, to: std::net::Ipv4Addr, count: u32) -> (Vec<f64>, u32) {
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
            sh(ns.command("sysctl").args(["-qw", "net.ipv4.tcp_ecn=1"]));
        }
    }
    let (idle, _) = ping(&h.agency_side, h.upstream_ip, 10);
    let mut server = h.agency_side.command("iperf3");
    server
        .args(["-s", "-1", "-p", "5201"])
        .stdout(std::process::Stdio::null());
    let _server = Process::spawn(server, "iperf3 server");
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
    TcpRun {
        goodput: goodput / rate as f64,
        retransmits,
        ping_median: percentile(&loaded, 0.5),
        ping_p90: percentile(&loaded, 0.9),
        ping_idle: percentile(&idle, 0.5),
        ping_lost: lost as f64,
        relayed: relayed as f64,
        relay_lost: relay_lost as f64,
    }
}

/// The median of each figure over runs (NaN for none).
fn tcp_median(runs: &[TcpRun]) -> TcpRun {
    let m = |f: fn(&TcpRun) -> f64| {
        if runs.is_empty() {
            f64::NAN
        } else {
            Stats::of(runs.iter().map(f)).median
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

/// Frames the delay line relayed, and lost itself, over every run.
#[derive(Default)]
struct RelayTotals {
    relayed: f64,
    lost: f64,
}

/// `reps` runs of each shaper, interleaved.
fn tcp_runs<const N: usize>(
    shapers: &[Shaper; N],
    rtt_ms: u64,
    flows: usize,
    reps: usize,
    relay: &mut RelayTotals,
) -> [Vec<TcpRun>; N] {
    let mut runs: [Vec<TcpRun>; N] = std::array::from_fn(|_| Vec::new());
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
            relay.relayed += r.relayed;
            relay.lost += r.relay_lost;
            runs[i].push(r);
        }
    }
    runs
}

fn tcp_line(name: &str, rtt_ms: u64, flows: usize, runs: &[TcpRun]) -> String {
    let col = |f: fn(&TcpRun) -> f64, digits: usize| Stats::of(runs.iter().map(f)).show(digits);
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

/// One (RTT, flows) case: the runs of each of [`SHAPERS`] and of [`DEPTHS`].
struct Case {
    rtt_ms: u64,
    flows: usize,
    shapers: [Vec<TcpRun>; 3],
    depths: [Vec<TcpRun>; 2],
}

impl Case {
    /// Medians: [policer, policer with ECN, HTB, 25 ms bucket, 400 ms bucket].
    fn medians(&self) -> [TcpRun; 5] {
        let [p, e, h] = &self.shapers;
        let [d25, d400] = &self.depths;
        [p, e, h, d25, d400].map(|runs| tcp_median(runs))
    }
}

pub struct Report {
    reps: usize,
    tuning_reps: usize,
    cases: Vec<Case>,
    relay: RelayTotals,
}

/// TCP through the policer and through HTB at the same rate, for 1, 4 and 16 flows at no
/// added delay and at 40 ms; then the policer's bucket depth.
pub fn run() -> Report {
    let reps = repeat_count(3);
    let tuning_reps = reps.div_ceil(2).max(1);
    let mut relay = RelayTotals::default();
    let mut cases: Vec<Case> = tcp_cases()
        .into_iter()
        .map(|(rtt_ms, flows)| Case {
            rtt_ms,
            flows,
            shapers: tcp_runs(&SHAPERS, rtt_ms, flows, reps, &mut relay),
            depths: Default::default(),
        })
        .collect();
    for case in &mut cases {
        case.depths = tcp_runs(&DEPTHS, case.rtt_ms, case.flows, tuning_reps, &mut relay);
    }
    if relay.lost > 0.0 {
        eprintln!(
            "warning: the delay line itself lost {} frames; TCP figures include them",
            relay.lost
        );
    }
    Report {
        reps,
        tuning_reps,
        cases,
        relay,
    }
}

impl Report {
    pub fn write(&self, report: &mut String) {
        let Report {
            reps,
            tuning_reps,
            cases,
            relay,
        } = self;
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
        for case in cases {
            for (shaper, runs) in SHAPERS.iter().zip(&case.shapers) {
                let line = tcp_line(&shaper.name(), case.rtt_ms, case.flows, runs);
                let _ = writeln!(report, "{line}");
            }
        }
        let _ = writeln!(
            report,
            "\nThe bucket depth (`burst`), same runs; {tuning_reps} runs each for the other depths, \
             the 100 ms rows repeated from above.\n\n\
             | shaper | RTT | flows | goodput / rate | retransmits | ping idle ms | ping loaded median ms | ping loaded p90 ms | pings lost |\n\
             |---|---:|---:|---:|---:|---:|---:|---:|---:|"
        );
        for case in cases {
            let (rtt_ms, flows) = (case.rtt_ms, case.flows);
            let rows = [
                tcp_line(&DEPTHS[0].name(), rtt_ms, flows, &case.depths[0]),
                tcp_line(&SHAPERS[0].name(), rtt_ms, flows, &case.shapers[0]),
                tcp_line(&DEPTHS[1].name(), rtt_ms, flows, &case.depths[1]),
            ];
            for row in rows {
                let _ = writeln!(report, "{row}");
            }
        }
        self.write_summary(report);
        let _ = writeln!(
            report,
            "\nOver all these runs the delay line relayed {:.0} frames and lost {:.0} of them itself \
             (send errors, full receive buffers, truncation){}.",
            relay.relayed,
            relay.lost,
            if relay.lost == 0.0 {
                ": every loss above is the shaper's"
            } else {
                "; the retransmissions above include those"
            }
        );
    }

    /// What each choice bought, case by case, from the medians.
    fn write_summary(&self, report: &mut String) {
        let _ = writeln!(
            report,
            "\nWhat each choice bought, per case (RTT/flows), from the medians above: goodput as a \
             ratio of the other choice's, retransmissions, and the loaded ping's median above the \
             idle one (queueing delay).\n\n\
             | RTT/flows | policer vs. HTB: goodput | retransmits (policer / HTB) | queueing delay ms (policer / HTB) | ECN vs. none: goodput | retransmits (ECN / none) | 25 ms vs. 100 ms bucket: goodput | 400 ms vs. 100 ms: goodput |\n\
             |---|---:|---:|---:|---:|---:|---:|---:|"
        );
        for case in &self.cases {
            let [p, e, h, d25, d400] = case.medians();
            let _ = writeln!(
                report,
                "| {} ms / {} | {:.2} | {:.0} / {:.0} | {:.1} / {:.1} | {:.2} | {:.0} / {:.0} | {:.2} | {:.2} |",
                case.rtt_ms,
                case.flows,
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
}
