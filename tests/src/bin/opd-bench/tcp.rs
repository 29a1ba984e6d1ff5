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

/// The shapers compared in every case: the policer as shipped, and HTB.
const SHAPERS: [Shaper; 2] = [
    Shaper::Policer {
        burst: "100ms",
        ecn: false,
    },
    Shaper::Htb,
];

/// The policer's other settings, against the first of [`SHAPERS`], in the cases
/// [`tuned`] picks: ECN, and other bucket depths.
const TUNING: [Shaper; 3] = [
    Shaper::Policer {
        burst: "100ms",
        ecn: true,
    },
    Shaper::Policer {
        burst: "25ms",
        ecn: false,
    },
    Shaper::Policer {
        burst: "400ms",
        ecn: false,
    },
];

/// The cases the policer's other settings are measured in: CUBIC at no added delay and at
/// 40 ms.
fn tuned(case: &CaseKey) -> bool {
    case.cc == "cubic" && (case.rtt_ms == 0 || case.rtt_ms == 40)
}

/// One TCP run's figures.
struct TcpRun {
    /// TCP goodput / the agency's rate.
    goodput: f64,
    /// Of the segments the senders sent, the share sent again (the whole run, slow start
    /// included), as the sending host's TCP counts them.
    retransmitted: f64,
    /// The same after the warm-up, as iperf3 counts them.
    retransmitted_steady: f64,
    /// Retransmission timeouts and tail loss probes at the senders.
    timeouts: f64,
    loss_probes: f64,
    /// Ping round trip under load, median and 90th percentile, ms; and the idle one.
    ping_median: f64,
    ping_p90: f64,
    ping_idle: f64,
    ping_lost: f64,
    /// Frames the delay line relayed and lost (its own losses, not the shaper's).
    relayed: f64,
    relay_lost: f64,
}

impl TcpRun {
    /// Loaded ping above the idle one: what the shaper's queue adds.
    fn queueing_ms(&self) -> f64 {
        self.ping_median - self.ping_idle
    }
}

const TCP_MBPS: u64 = 20;
const TCP_SECONDS: u64 = 10;

/// TCP counters of a namespace's hosts (`/proc/net/snmp` and `/proc/net/netstat`).
#[derive(Clone, Copy, Default)]
struct TcpCounters {
    out_segs: f64,
    retrans_segs: f64,
    timeouts: f64,
    loss_probes: f64,
}

impl TcpCounters {
    fn read(ns: &Netns) -> TcpCounters {
        ns.enter(|| {
            // The calling thread's namespace, not the process's.
            let read = |file: &str| {
                std::fs::read_to_string(format!("/proc/thread-self/net/{file}"))
                    .unwrap_or_else(|e| panic!("read /proc/thread-self/net/{file}: {e}"))
            };
            let (snmp, netstat) = (read("snmp"), read("netstat"));
            let field = |text: &str, prefix: &str, name: &str| -> f64 {
                // Each group is a line of names and a line of values, both with `prefix`.
                let mut lines = text.lines().filter(|l| l.starts_with(prefix));
                let (names, values) = (lines.next().unwrap_or(""), lines.next().unwrap_or(""));
                names
                    .split_whitespace()
                    .zip(values.split_whitespace())
                    .find(|(n, _)| *n == name)
                    .and_then(|(_, v)| v.parse().ok())
                    .unwrap_or_else(|| panic!("no {prefix} {name} in /proc/net"))
            };
            TcpCounters {
                out_segs: field(&snmp, "Tcp:", "OutSegs"),
                retrans_segs: field(&snmp, "Tcp:", "RetransSegs"),
                timeouts: field(&netstat, "TcpExt:", "TCPTimeouts"),
                loss_probes: field(&netstat, "TcpExt:", "TCPLossProbes"),
            }
        })
    }

    fn since(self, earlier: TcpCounters) -> TcpCounters {
        TcpCounters {
            out_segs: self.out_segs - earlier.out_segs,
            retrans_segs: self.retrans_segs - earlier.retrans_segs,
            timeouts: self.timeouts - earlier.timeouts,
            loss_probes: self.loss_probes - earlier.loss_probes,
        }
    }
}

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

/// `flows` TCP streams (iperf3, congestion control `cc`) downloading through one agency
/// limited to TCP_MBPS, with `rtt` added by a delay line upstream, and ping beside them.
fn tcp_run(shaper: Shaper, case: &CaseKey) -> TcpRun {
    let (flows, rtt) = (case.flows, Duration::from_millis(case.rtt_ms));
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
    let counted = TcpCounters::read(&h.upstream_side);
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
        .args(["-P", &flows.to_string(), "-t", &TCP_SECONDS.to_string()])
        .args(["-C", case.cc]);
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
    let tcp = TcpCounters::read(&h.upstream_side).since(counted);
    let (relayed, relay_lost) = delay.finish();
    let end = &json["end"];
    let goodput = end["sum_received"]["bits_per_second"]
        .as_f64()
        .unwrap_or_else(|| panic!("iperf3 report without end.sum_received: {json}"));
    // After the warm-up, iperf3 counts the senders' retransmitted segments and the bytes
    // they sent: full segments of 1448 bytes (1500-byte MTU, TCP timestamps).
    let sent_bytes = end["sum_sent"]["bytes"].as_f64().unwrap_or(f64::NAN);
    let steady = end["sum_sent"]["retransmits"].as_f64().unwrap_or(f64::NAN);
    TcpRun {
        goodput: goodput / rate as f64,
        retransmitted: tcp.retrans_segs / tcp.out_segs,
        retransmitted_steady: steady / (sent_bytes / 1448.0),
        timeouts: tcp.timeouts,
        loss_probes: tcp.loss_probes,
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
        retransmitted: m(|r| r.retransmitted),
        retransmitted_steady: m(|r| r.retransmitted_steady),
        timeouts: m(|r| r.timeouts),
        loss_probes: m(|r| r.loss_probes),
        ping_median: m(|r| r.ping_median),
        ping_p90: m(|r| r.ping_p90),
        ping_idle: m(|r| r.ping_idle),
        ping_lost: m(|r| r.ping_lost),
        relayed: m(|r| r.relayed),
        relay_lost: m(|r| r.relay_lost),
    }
}

/// One TCP case.
#[derive(Clone, Copy)]
struct CaseKey {
    cc: &'static str,
    rtt_ms: u64,
    flows: usize,
}

/// The TCP cases: every combination of congestion control, RTT and flows, or those
/// OPD_BENCH_CC, OPD_BENCH_RTT and OPD_BENCH_FLOWS pick (comma-separated lists).
fn tcp_cases() -> Vec<CaseKey> {
    let pick = |var: &str| -> Option<Vec<String>> {
        let v = std::env::var(var).ok()?;
        Some(v.split(',').map(|x| x.trim().to_string()).collect())
    };
    let has = |list: &Option<Vec<String>>, x: String| list.as_ref().is_none_or(|l| l.contains(&x));
    let (ccs, rtts, flows) = (
        pick("OPD_BENCH_CC"),
        pick("OPD_BENCH_RTT"),
        pick("OPD_BENCH_FLOWS"),
    );
    let mut cases = Vec::new();
    for cc in ["cubic", "bbr"] {
        for rtt_ms in [0u64, 2, 5, 10, 20, 40, 80] {
            for f in [1usize, 4, 16] {
                if has(&ccs, cc.into())
                    && has(&rtts, rtt_ms.to_string())
                    && has(&flows, f.to_string())
                {
                    cases.push(CaseKey {
                        cc,
                        rtt_ms,
                        flows: f,
                    });
                }
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
    case: &CaseKey,
    reps: usize,
    relay: &mut RelayTotals,
) -> [Vec<TcpRun>; N] {
    let mut runs: [Vec<TcpRun>; N] = std::array::from_fn(|_| Vec::new());
    for _ in 0..reps {
        for (i, &shaper) in shapers.iter().enumerate() {
            let r = tcp_run(shaper, case);
            eprintln!(
                "tcp: {} {} rtt {} ms, {} flows: goodput {:.3} resent {:.2}% ({:.2}% after warm-up) rto {} tlp {} ping {:.1}/{:.1} (idle {:.2}) lost {}",
                shaper.name(),
                case.cc,
                case.rtt_ms,
                case.flows,
                r.goodput,
                r.retransmitted * 100.0,
                r.retransmitted_steady * 100.0,
                r.timeouts,
                r.loss_probes,
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

fn tcp_line(name: &str, case: &CaseKey, runs: &[TcpRun]) -> String {
    let col = |f: fn(&TcpRun) -> f64, digits: usize| Stats::of(runs.iter().map(f)).show(digits);
    format!(
        "| {name} | {} | {} ms | {} | {} | {} | {} | {} | {} | {} | {} |",
        case.cc,
        case.rtt_ms,
        case.flows,
        col(|r| r.goodput, 3),
        col(|r| r.retransmitted * 100.0, 2),
        col(|r| r.retransmitted_steady * 100.0, 2),
        col(|r| r.timeouts, 0),
        col(|r| r.ping_idle, 2),
        col(|r| r.ping_median, 1),
        col(|r| r.ping_lost, 0),
    )
}

/// One case: the runs of each of [`SHAPERS`], and of [`TUNING`] where [`tuned`].
struct Case {
    key: CaseKey,
    shapers: [Vec<TcpRun>; 2],
    tuning: Option<[Vec<TcpRun>; 3]>,
}

pub struct Report {
    reps: usize,
    tuning_reps: usize,
    cases: Vec<Case>,
    relay: RelayTotals,
}

/// TCP through the policer and through HTB at the same rate, for every case of
/// [`tcp_cases`]; then the policer's other settings.
pub fn run() -> Report {
    let reps = repeat_count(2);
    let tuning_reps = reps.div_ceil(2).max(1);
    let mut relay = RelayTotals::default();
    let mut cases: Vec<Case> = tcp_cases()
        .into_iter()
        .map(|key| Case {
            key,
            shapers: tcp_runs(&SHAPERS, &key, reps, &mut relay),
            tuning: None,
        })
        .collect();
    // OPD_BENCH_TUNING=0: the main comparison only.
    let tuning = std::env::var("OPD_BENCH_TUNING").map_or(true, |v| v != "0");
    for case in &mut cases {
        if tuning && tuned(&case.key) {
            case.tuning = Some(tcp_runs(&TUNING, &case.key, tuning_reps, &mut relay));
        }
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

/// The drops issue's targets for the policer: resent ≤ 3% of segments at 5–80 ms and
/// ≤ 6% at 2 ms; goodput ≥ 0.93 of the rate at 2–80 ms and ≥ 0.80 at no added delay;
/// queueing delay ≤ 1 ms. Which of them a case misses (resent over the whole run).
fn misses(key: &CaseKey, p: &TcpRun) -> Vec<&'static str> {
    let mut out = Vec::new();
    let resent_target = match key.rtt_ms {
        0 => None,
        2 => Some(0.06),
        _ => Some(0.03),
    };
    if resent_target.is_some_and(|t| p.retransmitted > t) {
        out.push("resent");
    }
    let goodput_target = if key.rtt_ms == 0 { 0.80 } else { 0.93 };
    if p.goodput < goodput_target {
        out.push("goodput");
    }
    if p.queueing_ms() > 1.0 {
        out.push("delay");
    }
    out
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
             One agency's download limited to {TCP_MBPS} Mbps (guarantee = ceiling, so the division \
             plays no part, default 100 ms bucket); iperf3 from its upstream host with CUBIC or BBR, \
             {TCP_SECONDS} s after 3 s of warm-up; ping from the agency's host to the upstream host \
             during the load (its replies share the limited direction). RTT is added by a delay \
             line (an AF_PACKET relay holding frames) in front of the upstream host; at 0 ms the \
             relay holds nothing but still re-sends every frame (≈0.1 ms), as from a wire. Beside \
             it HTB at the same rate. Median of {reps} runs. Goodput counts TCP payload, so 0.95 is \
             the ceiling (headers of a 1518-byte tagged frame). Resent: segments the senders sent \
             again as a share of all they sent — over the whole run with slow start \
             (`RetransSegs` / `OutSegs` of the senders' host), and after the warm-up (iperf3's \
             count over its bytes sent in 1448-byte segments); RTOs: retransmission timeouts \
             (`TCPTimeouts`); delay: the loaded ping's median above the idle one.\n\n\
             | CC | RTT | flows | goodput / rate: gateway / HTB | resent %, whole run: gateway / HTB | resent %, after warm-up: gateway / HTB | RTOs: gateway / HTB | delay ms: gateway / HTB | drops-issue targets missed |\n\
             |---|---:|---:|---|---|---|---|---|---|"
        );
        let mut missed = 0;
        for case in cases {
            let [p, h] = case.shapers.each_ref().map(|r| tcp_median(r));
            let miss = misses(&case.key, &p);
            if !miss.is_empty() {
                missed += 1;
            }
            let _ = writeln!(
                report,
                "| {} | {} ms | {} | {:.3} / {:.3} | {:.2} / {:.2} | {:.2} / {:.2} | {:.0} / {:.0} | {:.1} / {:.1} | {} |",
                case.key.cc,
                case.key.rtt_ms,
                case.key.flows,
                p.goodput,
                h.goodput,
                p.retransmitted * 100.0,
                h.retransmitted * 100.0,
                p.retransmitted_steady * 100.0,
                h.retransmitted_steady * 100.0,
                p.timeouts,
                h.timeouts,
                p.queueing_ms(),
                h.queueing_ms(),
                if miss.is_empty() {
                    "—".to_string()
                } else {
                    miss.join(", ")
                },
            );
        }
        let _ = writeln!(
            report,
            "\nThe drops issue's targets for the policer (resent ≤ 3% at 5–80 ms, ≤ 6% at 2 ms, \
             whole run; goodput ≥ 0.93 at 2–80 ms, ≥ 0.80 at 0 ms; delay ≤ 1 ms): {} of {} cases \
             meet all, {missed} miss one or more (last column).",
            cases.len() - missed,
            cases.len()
        );
        let _ = writeln!(
            report,
            "\nThe policer's other settings: ECN negotiated by the hosts, and other bucket \
             depths ({tuning_reps} runs each), beside the policer as shipped (same runs as above).\n\n\
             | shaper | CC | RTT | flows | goodput / rate | resent %, whole run | resent %, after warm-up | RTOs | ping idle ms | ping loaded median ms | pings lost |\n\
             |---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
        );
        for case in cases {
            let Some(tuning) = &case.tuning else { continue };
            let line = tcp_line(&SHAPERS[0].name(), &case.key, &case.shapers[0]);
            let _ = writeln!(report, "{line}");
            for (shaper, runs) in TUNING.iter().zip(tuning) {
                let line = tcp_line(&shaper.name(), &case.key, runs);
                let _ = writeln!(report, "{line}");
            }
        }
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
}
