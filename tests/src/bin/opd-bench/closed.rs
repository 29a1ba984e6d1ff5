//! Section 8: closed-loop traffic — TCP transfers, sustained downloads and web-like browsing
//! through OPD Gateway, beside HTB borrowing by tier and beside fixed packages, on the same
//! simulated network in the same run.
//!
//! OPD_BENCH_CLOSED narrows a run to some of its parts: transfers, sustained, browsing.

use std::{fmt::Write as _, net::SocketAddrV4, time::Duration};

use gateway_common::{PerDirection, Tier};
use opd_testbed::{
    AgencyText, Forwarding, Limit, PolicyText, Process, SimNetwork, TempDir,
    delay::DelayLine,
    htb::HtbClass,
    transfer::{
        Browsing, Downloaded, Fetched, Server, TRANSFER_PORT, fetch, iperf_downloads, quantile,
        retransmitted_segments,
    },
};

use crate::{repeat_count, stats::Stats};

/// Who divides the uplink.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Peer {
    Gateway,
    /// HTB: rate = guarantee, ceil = ceiling, prio = tier, quantum by weight.
    Htb,
    /// Each agency at its guarantee, as bought packages.
    Fixed,
}

impl Peer {
    const ALL: [Peer; 3] = [Peer::Gateway, Peer::Htb, Peer::Fixed];

    fn name(self) -> &'static str {
        match self {
            Peer::Gateway => "OPD Gateway",
            Peer::Htb => "HTB",
            Peer::Fixed => "fixed packages",
        }
    }
}

/// An agency of a closed-loop run.
#[derive(Clone, Debug)]
struct Agency {
    id: String,
    class: HtbClass,
    /// Round trip to its upstream host.
    rtt: Duration,
}

impl Agency {
    /// Guarantee and ceiling in Mbps, the same both ways; weight 1, 10 ms round trip.
    fn new(id: &str, vid: u16, tier: Tier, guaranteed_mbps: u64, ceiling_mbps: u64) -> Agency {
        let g = guaranteed_mbps * 1_000_000;
        let c = ceiling_mbps * 1_000_000;
        Agency {
            id: id.into(),
            class: HtbClass {
                vid,
                tier,
                weight: 1,
                guaranteed: PerDirection::new(g, g),
                ceiling: PerDirection::new(c, c),
            },
            rtt: Duration::from_millis(10),
        }
    }

    fn weight(mut self, w: u32) -> Agency {
        self.class.weight = w;
        self
    }

    fn rtt(mut self, rtt: Duration) -> Agency {
        self.rtt = rtt;
        self
    }
}

/// The three agencies the transfer and sustained runs use, on a 100 Mbps uplink (98 usable):
/// dinkes (standard, 10 Mbps guaranteed, 60 ceiling), bpbd (critical, 20 / 80) and public
/// WiFi (nothing guaranteed).
fn trio(dinkes_rtt: Duration) -> [Agency; 3] {
    [
        Agency::new("dinkes", 110, Tier::Standard, 10, 60).rtt(dinkes_rtt),
        Agency::new("bpbd", 120, Tier::Critical, 20, 80),
        Agency::new("wifi", 130, Tier::Public, 0, 100),
    ]
}

/// A simulated network with one of the peers dividing its uplink, and a transfer server
/// behind a delay line on each agency's upstream host. Fields drop in order: the gateway
/// stops before its network goes.
struct Divided {
    _gateway: Option<Process>,
    _servers: Vec<Server>,
    _delays: Vec<DelayLine>,
    _dir: TempDir,
    net: SimNetwork,
    agencies: Vec<Agency>,
}

/// The capacity a site buys to have `usable` (the default 2% headroom).
fn capacity(usable: u64) -> u64 {
    usable * 100 / 98
}

/// The policy OPD Gateway runs for `agencies` on an uplink of `capacity` bits/s.
fn policy_text(capacity: u64, agencies: &[Agency]) -> PolicyText {
    let bps = |b: u64| format!("{b}bps");
    PolicyText::site()
        .name("Closed-loop bench")
        .capacity(&bps(capacity), &bps(capacity))
        .forwarding(Forwarding::Redirect)
        .unclassified("drop")
        .agencies(agencies.iter().map(|a| {
            let c = &a.class;
            let limit = |g: u64, ceiling: u64| match g {
                0 => Limit::ceiling(&bps(ceiling.min(capacity))),
                g => Limit::guaranteed(&bps(g), &bps(ceiling.min(capacity))),
            };
            AgencyText::new(&a.id)
                .tier(c.tier.as_str())
                .weight(c.weight)
                .vlans(&[c.vid])
                .upload(limit(c.guaranteed.upload, c.ceiling.upload))
                .download(limit(c.guaranteed.download, c.ceiling.download))
        }))
}

impl Divided {
    fn new(peer: Peer, usable_mbps: u64, agencies: &[Agency]) -> Divided {
        let usable = usable_mbps * 1_000_000;
        let vids: Vec<u16> = agencies.iter().map(|a| a.class.vid).collect();
        let forwarding = match peer {
            Peer::Gateway => Forwarding::Redirect,
            Peer::Htb | Peer::Fixed => Forwarding::Bridge,
        };
        let mut net = SimNetwork::new(&vids, forwarding);
        let dir = TempDir::new("closed");
        let classes: Vec<HtbClass> = agencies.iter().map(|a| a.class).collect();
        let both = PerDirection::new(usable, usable);
        let gateway = match peer {
            Peer::Gateway => {
                let policy = policy_text(capacity(usable), agencies).to_string();
                Some(net.start_gateway(&dir.write("policy.toml", &policy), "0s"))
            }
            Peer::Htb => {
                net.shape_borrowing(both, &classes);
                None
            }
            Peer::Fixed => {
                net.shape_fixed(both, &classes);
                None
            }
        };
        net.wait_reachable(&vids);
        let delays = agencies
            .iter()
            .map(|a| net.delay_upstream(a.class.vid, a.rtt))
            .collect();
        let servers = agencies
            .iter()
            .map(|a| {
                let h = net.vlan(a.class.vid);
                let addr = SocketAddrV4::new(h.upstream_ip, TRANSFER_PORT);
                Server::start(&h.upstream_side, addr, "cubic")
            })
            .collect();
        Divided {
            _gateway: gateway,
            _servers: servers,
            _delays: delays,
            _dir: dir,
            net,
            agencies: agencies.to_vec(),
        }
    }

    fn server(&self, i: usize) -> SocketAddrV4 {
        let h = self.net.vlan(self.agencies[i].class.vid);
        SocketAddrV4::new(h.upstream_ip, TRANSFER_PORT)
    }

    /// Fetches `bytes` for agency `i`: how long it took, and the segments its server sent
    /// again meanwhile.
    fn fetch(&self, i: usize, bytes: u64) -> (Duration, u64) {
        let h = self.net.vlan(self.agencies[i].class.vid);
        let resent = || h.upstream_side.enter(retransmitted_segments);
        let before = resent();
        let server = self.server(i);
        let took = h
            .agency_side
            .enter(|| fetch(server, bytes, Duration::from_secs(120)))
            .unwrap_or_else(|e| panic!("fetch {bytes} bytes for {}: {e}", self.agencies[i].id));
        (took, resent() - before)
    }
}

fn median(v: &[f64]) -> f64 {
    Stats::of(v.iter().copied()).median
}

/// One download at a time from idle on an idle uplink, per size and round trip: the time
/// from connecting to the last byte, and the segments resent.
fn transfers_from_idle(report: &mut String, repeat: usize) {
    let sizes = [1_000_000u64, 4_000_000, 16_000_000];
    let _ = writeln!(
        report,
        "\n### Transfers from idle\n\n\
         One CUBIC download at a time by agency dinkes (standard, guarantee 10 Mbps, ceiling \
         60) on an idle 100 Mbps uplink (98 usable) shared with bpbd (critical, 20 / 80) and \
         public WiFi, after 3 s of quiet. Seconds from connecting to the last byte, median of \
         {repeat} (min–max), and segments the server resent (median). HTB: rate 10 / ceil 60 \
         under a parent at 98 Mbps; fixed package: 10 Mbps.\n\n\
         | RTT | size | OPD Gateway s | HTB s | fixed package s | gateway ÷ HTB | gateway ÷ fixed | resent: gateway / HTB / fixed |\n\
         |---:|---:|---:|---:|---:|---:|---:|---|"
    );
    for rtt_ms in [5u64, 40] {
        let agencies = trio(Duration::from_millis(rtt_ms));
        // [peer][size] → (seconds, resent) per run.
        let mut runs = vec![vec![Vec::new(); sizes.len()]; Peer::ALL.len()];
        for (p, &peer) in Peer::ALL.iter().enumerate() {
            let bed = Divided::new(peer, 98, &agencies);
            for _ in 0..repeat {
                for (s, &size) in sizes.iter().enumerate() {
                    std::thread::sleep(Duration::from_secs(3));
                    let (took, resent) = bed.fetch(0, size);
                    eprintln!(
                        "closed: from idle, {rtt_ms} ms, {} MB, {}: {:.3} s, {resent} resent",
                        size / 1_000_000,
                        peer.name(),
                        took.as_secs_f64()
                    );
                    runs[p][s].push((took.as_secs_f64(), resent as f64));
                }
            }
        }
        for (s, &size) in sizes.iter().enumerate() {
            let secs = |p: usize| runs[p][s].iter().map(|r| r.0).collect::<Vec<f64>>();
            let resent = |p: usize| median(&runs[p][s].iter().map(|r| r.1).collect::<Vec<_>>());
            let _ = writeln!(
                report,
                "| {rtt_ms} ms | {} MB | {} | {} | {} | {:.2} | {:.2} | {:.0} / {:.0} / {:.0} |",
                size / 1_000_000,
                Stats::of(secs(0)).show(2),
                Stats::of(secs(1)).show(2),
                Stats::of(secs(2)).show(2),
                median(&secs(0)) / median(&secs(1)),
                median(&secs(0)) / median(&secs(2)),
                resent(0),
                resent(1),
                resent(2)
            );
        }
    }
}

/// `flows` CUBIC downloads by each of the agencies `who` (by index) at once for `seconds`,
/// goodput per 100 ms.
fn downloads(bed: &Divided, who: &[usize], flows: usize, seconds: u64) -> Vec<Downloaded> {
    let vids: Vec<u16> = who.iter().map(|&i| bed.agencies[i].class.vid).collect();
    iperf_downloads(&bed.net, &vids, flows, seconds, Duration::from_millis(100))
}

/// The mean of the 100 ms bins `from..to`.
fn mean(bins: &[f64], from: usize, to: usize) -> f64 {
    let part = &bins[from.min(bins.len())..to.min(bins.len())];
    part.iter().sum::<f64>() / part.len().max(1) as f64
}

/// TCP payload of a full frame with its tag: what goodput is of the frames policed.
const GOODPUT: f64 = 1448.0 / 1514.0;

/// Sustained downloads from idle, 4 flows each: alone on an idle uplink, the time until it
/// has 90% of its ceiling; three agencies at once, their first second against their
/// guarantees and the uplink's use; two standard agencies of weights 1 and 3, how what is
/// beyond their guarantees is divided.
fn sustained(report: &mut String, repeat: usize) {
    let trio = trio(Duration::from_millis(10));
    let _ = writeln!(
        report,
        "\n### Sustained downloads from idle\n\n\
         4 CUBIC flows per agency (iperf3), 10 ms round trips, 100 Mbps uplink (98 usable), \
         goodput per 100 ms. Median of {repeat} runs.\n"
    );
    let mut alone: Vec<Vec<f64>> = vec![Vec::new(); 2];
    for _ in 0..repeat {
        for (p, peer) in [Peer::Gateway, Peer::Htb].into_iter().enumerate() {
            let bed = Divided::new(peer, 98, &trio);
            std::thread::sleep(Duration::from_secs(3));
            let bins = downloads(&bed, &[0], 4, 4).remove(0).bins;
            let target = 0.9 * 60e6 * GOODPUT;
            let at = bins
                .iter()
                .position(|&b| b >= target)
                .map_or(f64::NAN, |i| (i + 1) as f64 * 0.1);
            eprintln!(
                "closed: alone, {}: 90% of the ceiling after {at:.1} s",
                peer.name()
            );
            alone[p].push(at);
        }
    }
    let _ = writeln!(
        report,
        "Alone on the idle uplink (dinkes, ceiling 60 Mbps): 90% of the ceiling after {} s \
         with OPD Gateway, {} s with HTB.\n",
        Stats::of(alone[0].clone()).show(1),
        Stats::of(alone[1].clone()).show(1)
    );
    let _ = writeln!(
        report,
        "All three at once from idle, goodput in Mbps in the first second and in seconds 5–10, \
         the uplink's use in seconds 5–10 (goodput ÷ usable goodput), and segments resent in \
         the 10 s.\n\n\
         | peer | dinkes (10 / 60) 1st s | bpbd (critical, 20 / 80) 1st s | wifi 1st s | dinkes 5–10 s | bpbd 5–10 s | wifi 5–10 s | uplink use 5–10 s | resent |\n\
         |---|---:|---:|---:|---:|---:|---:|---:|---:|"
    );
    for peer in Peer::ALL {
        let mut rows: Vec<Vec<f64>> = Vec::new();
        for _ in 0..repeat {
            let bed = Divided::new(peer, 98, &trio);
            std::thread::sleep(Duration::from_secs(3));
            let got = downloads(&bed, &[0, 1, 2], 4, 10);
            let first: Vec<f64> = got.iter().map(|d| mean(&d.bins, 0, 10)).collect();
            let later: Vec<f64> = got.iter().map(|d| mean(&d.bins, 50, 100)).collect();
            let used = later.iter().sum::<f64>() / (98e6 * GOODPUT);
            let resent = got.iter().map(|d| d.resent).sum::<u64>() as f64;
            let row = [first, later, vec![used, resent]].concat();
            eprintln!("closed: three at once, {}: {row:.0?}", peer.name());
            rows.push(row);
        }
        let col = |i: usize| median(&rows.iter().map(|r| r[i]).collect::<Vec<_>>());
        let _ = writeln!(
            report,
            "| {} | {:.1} | {:.1} | {:.1} | {:.1} | {:.1} | {:.1} | {:.3} | {:.0} |",
            peer.name(),
            col(0) / 1e6,
            col(1) / 1e6,
            col(2) / 1e6,
            col(3) / 1e6,
            col(4) / 1e6,
            col(5) / 1e6,
            col(6),
            col(7)
        );
    }
    // Two standard agencies, guarantee 10 each, weights 1 and 3.
    let pair = [
        Agency::new("light", 110, Tier::Standard, 10, 98).weight(1),
        Agency::new("heavy", 120, Tier::Standard, 10, 98).weight(3),
    ];
    let mut split = vec![Vec::new(); 2];
    for _ in 0..repeat {
        for (p, peer) in [Peer::Gateway, Peer::Htb].into_iter().enumerate() {
            let bed = Divided::new(peer, 98, &pair);
            std::thread::sleep(Duration::from_secs(3));
            let got = downloads(&bed, &[0, 1], 4, 10);
            let (l, h) = (mean(&got[0].bins, 50, 100), mean(&got[1].bins, 50, 100));
            // Of what is beyond the guarantees, the heavy one's part (3/4 by weight).
            let beyond = |r: f64| (r / GOODPUT - 10e6).max(0.0);
            let share = beyond(h) / (beyond(l) + beyond(h));
            eprintln!(
                "closed: weights 1 and 3, {}: {:.1} / {:.1} Mbps, the heavy one's part {share:.3}",
                peer.name(),
                l / 1e6,
                h / 1e6
            );
            split[p].push(share);
        }
    }
    let _ = writeln!(
        report,
        "\nTwo standard agencies, guarantee 10 Mbps each, weights 1 and 3, both busy: the \
         heavier one's part of what is beyond the guarantees in seconds 5–10 (by weight: \
         0.750): OPD Gateway {}, HTB {}.",
        Stats::of(split[0].clone()).show(3),
        Stats::of(split[1].clone()).show(3)
    );
}

/// Web-like use on an oversubscribed uplink: every agency's users fetch pages and files of
/// heavy-tailed sizes with think times between, the same sequence for every peer.
fn browsing(report: &mut String, seconds: u64, repeat: usize) {
    let rtts = [5u64, 10, 20, 40];
    let agencies: Vec<Agency> = (0..10u16)
        .map(|k| {
            let (tier, g, c) = match k {
                0 | 1 => (Tier::Critical, 5, 50),
                8 | 9 => (Tier::Public, 2, 50),
                _ => (Tier::Standard, 3, 30),
            };
            Agency::new(&format!("opd{k}"), 110 + k, tier, g, c)
                .rtt(Duration::from_millis(rtts[k as usize % rtts.len()]))
        })
        .collect();
    let users = 4;
    let browse = |agency: usize, user: usize| Browsing {
        min_bytes: 30_000,
        shape: 1.2,
        max_bytes: 8_000_000,
        think: Duration::from_millis(500),
        duration: Duration::from_secs(seconds),
        seed: (agency * 100 + user) as u64 + 1,
    };
    // [peer][agency] → completion times (s), pooled over the runs.
    let mut done: Vec<Vec<Vec<f64>>> = vec![vec![Vec::new(); agencies.len()]; Peer::ALL.len()];
    let mut moved = vec![0u64; Peer::ALL.len()];
    for _ in 0..repeat {
        for (p, &peer) in Peer::ALL.iter().enumerate() {
            let bed = Divided::new(peer, 50, &agencies);
            let users: Vec<(usize, std::thread::JoinHandle<Vec<Fetched>>)> = (0..agencies.len())
                .flat_map(|a| (0..users).map(move |u| (a, u)))
                .map(|(a, u)| {
                    let h = bed.net.vlan(agencies[a].class.vid);
                    (a, browse(a, u).start(&h.agency_side, bed.server(a)))
                })
                .collect();
            let before = moved[p];
            for (a, user) in users {
                for f in user.join().expect("a browsing user") {
                    done[p][a].push(f.took.as_secs_f64());
                    moved[p] += f.bytes;
                }
            }
            eprintln!(
                "closed: browsing, {}: {:.1} Mbps on average",
                peer.name(),
                (moved[p] - before) as f64 * 8.0 / seconds as f64 / 1e6
            );
        }
    }
    let mbps = |p: usize| moved[p] as f64 * 8.0 / (seconds * repeat as u64) as f64 / 1e6;
    let _ = writeln!(
        report,
        "\n### Web-like browsing on an oversubscribed uplink\n\n\
         10 agencies on a 50 Mbps uplink (usable): 2 critical (guarantee 5 Mbps, ceiling 50), \
         6 standard (3 / 30), 2 public WiFi (2 / 50), round trips of 5, 10, 20 and 40 ms; \
         {users} users per agency fetch pages and files (Pareto sizes from 30 kB, shape 1.2, \
         up to 8 MB) with 0.5 s think times on average, for {seconds} s, the same sequence for \
         every peer (CUBIC), {repeat} runs per peer, their fetches pooled. Completion time per \
         fetch, p50 and p95 in seconds, per agency; ratios against HTB and fixed packages. \
         Goodput on average: OPD Gateway {:.1} Mbps, HTB {:.1}, fixed packages {:.1}.\n\n\
         | agency | tier | RTT | fetches | p50 gateway / HTB / fixed | p95 gateway / HTB / fixed | p50 ÷ HTB | p95 ÷ HTB | p95 ÷ fixed |\n\
         |---|---|---:|---:|---|---|---:|---:|---:|",
        mbps(0),
        mbps(1),
        mbps(2),
    );
    let (mut worst50, mut worst95, mut over_fixed) = (0.0f64, 0.0f64, 0);
    for (a, agency) in agencies.iter().enumerate() {
        let q = |p: usize, q: f64| {
            let mut v = done[p][a].clone();
            v.sort_by(f64::total_cmp);
            if v.is_empty() {
                f64::NAN
            } else {
                quantile(&v, q)
            }
        };
        let r50 = q(0, 0.5) / q(1, 0.5);
        let r95 = q(0, 0.95) / q(1, 0.95);
        let f95 = q(0, 0.95) / q(2, 0.95);
        worst50 = worst50.max(r50);
        worst95 = worst95.max(r95);
        over_fixed += usize::from(f95 > 1.0);
        let _ = writeln!(
            report,
            "| {} | {} | {} ms | {} | {:.2} / {:.2} / {:.2} | {:.2} / {:.2} / {:.2} | {r50:.2} | {r95:.2} | {f95:.2} |",
            agency.id,
            agency.class.tier.as_str(),
            agency.rtt.as_millis(),
            done[0][a].len(),
            q(0, 0.5),
            q(1, 0.5),
            q(2, 0.5),
            q(0, 0.95),
            q(1, 0.95),
            q(2, 0.95),
        );
    }
    let _ = writeln!(
        report,
        "\nWorst agency against HTB: p50 {worst50:.2}×, p95 {worst95:.2}×; agencies whose p95 \
         is worse than with fixed packages: {over_fixed} of {}.",
        agencies.len()
    );
}

/// The section, written as it is measured.
pub fn run(report: &mut String) {
    let repeat = repeat_count(3);
    let only = std::env::var("OPD_BENCH_CLOSED").unwrap_or_default();
    let want = |part: &str| only.is_empty() || only.split(',').any(|p| p == part);
    let _ = writeln!(
        report,
        "\n## 8. Closed-loop traffic: TCP and web-like use against HTB and fixed packages\n\n\
         Real TCP (CUBIC) through the daemon, beside Linux HTB dividing the same uplink by the \
         same guarantees, ceilings, tiers and weights, and beside fixed packages (each agency \
         held to its guarantee), on the same simulated network with delay lines for round \
         trips."
    );
    if want("transfers") {
        transfers_from_idle(report, repeat);
    }
    if want("sustained") {
        sustained(report, repeat);
    }
    if want("browsing") {
        browsing(report, 40, repeat);
    }
}
