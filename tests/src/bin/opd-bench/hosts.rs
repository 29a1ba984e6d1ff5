//! Section 11: fairness between the hosts of an agency. The program's cost per frame with
//! `hosts = "fair"` against `"shared"` (today's path) and an empty program, frame by frame
//! through many host addresses; the daemon's tick with 45 agencies × 1,000 hosts; and three
//! TCP hosts (16 flows, 1, 1) sharing 20 Mbps, fair against shared.

use std::{
    fmt::Write as _,
    net::Ipv4Addr,
    process::Stdio,
    time::{Duration, Instant},
};

use aya::programs::{TestRun, TestRunOptions, Xdp};
use gateway_common::Direction;
use opd_gateway::{
    control::{Controller, monotonic_ns, unix_seconds},
    dataplane::{Contents, Dataplane, LAN_PROGRAM, WAN_PROGRAM},
    plan::Applied,
    policy,
};
use opd_testbed::{
    AgencyText, Bed, Forwarding, Limit, PolicyText, env_path,
    frames::{self, Frame},
    iperf, sh,
};

use crate::{ROUNDS, stats::Stats};

/// Frames per measurement: every host's frame in turn, one BPF_PROG_TEST_RUN each.
const FRAMES: usize = 131_072;

struct CostRow {
    what: String,
    empty: Stats,
    gateway: Stats,
    /// Hosts entered into the table while measuring (an LRU table evicting and re-entering).
    entered: u64,
}

struct Tick {
    what: &'static str,
    ms: Stats,
}

struct Tcp {
    rtt_ms: u64,
    hosts: &'static str,
    /// A (16 flows), B, C (1 each): goodput Mbps from 3 s to 9.5 s.
    busy: [f64; 3],
    /// A's goodput in the second second after B and C stopped.
    alone: f64,
}

pub struct Report {
    costs: Vec<CostRow>,
    ticks: Vec<Tick>,
    list_ms: Stats,
    tcp: Vec<Tcp>,
}

/// One agency on VLAN 1 (both ways at most 100 Gbps of a 100 Tbps uplink: every frame under
/// quota), its hosts `hosts`.
fn one_agency(hosts: &str) -> policy::Policy {
    let text = PolicyText::site()
        .forwarding(Forwarding::Bridge)
        .capacity("100Tbps", "100Tbps")
        .agency(
            AgencyText::new("a")
                .vlans(&[1])
                .hosts(hosts)
                .both(Limit::ceiling("100Gbps")),
        );
    policy::from_texts(&[("bench.toml", &text.to_string())]).expect("bench policy")
}

/// 802.1Q IPv4 frames on VLAN `vid` from `n` sources (upload: one host each).
fn host_frames(vid: u16, n: usize, base: [u8; 2]) -> Vec<Vec<u8>> {
    (0..n)
        .map(|i| {
            let src = Ipv4Addr::new(base[0], base[1], (i >> 8) as u8, i as u8);
            let dst = Ipv4Addr::new(198, 18, 0, 1);
            Frame::ipv4_udp(18)
                .tag(frames::CTAG, vid)
                .addrs(src.into(), dst.into())
                .bytes()
        })
        .collect()
}

/// Mean ns per frame over `FRAMES` frames taken in turn from `frames`, each its own
/// BPF_PROG_TEST_RUN of one repeat: the kernel's time for that one run, so a frame of
/// another host each time, as on the wire.
fn ns_per_frame(prog: &Xdp, frames: &[Vec<u8>]) -> f64 {
    let mut ns = 0u128;
    for i in 0..FRAMES {
        let r = prog
            .test_run(TestRunOptions {
                data_in: Some(&frames[i % frames.len()]),
                repeat: 1,
                ..Default::default()
            })
            .expect("BPF_PROG_TEST_RUN");
        ns += r.duration.as_nanos();
    }
    ns as f64 / FRAMES as f64
}

fn new_hosts(dp: &Dataplane) -> u64 {
    dp.counters()
        .agency(0, Direction::Upload)
        .expect("counters")
        .new_hosts
}

fn costs(empty: &Xdp) -> Vec<CostRow> {
    let load = |hosts: &str, table: u32| {
        let mut dp = Dataplane::load_file_sized(&env_path("OPD_GATEWAY_EBPF"), table)
            .expect("load the XDP programs");
        Applied::start(&mut dp, &one_agency(hosts)).expect("configure");
        dp
    };
    // (what, hosts, addresses, table size)
    let cases: [(&str, &str, usize, u32); 5] = [
        ("`shared` (today's path)", "shared", 65_536, 65_536),
        ("`fair`, 1 host", "fair", 1, 65_536),
        ("`fair`, 100 hosts", "fair", 100, 65_536),
        (
            "`fair`, 65,536 hosts (table of 65,536)",
            "fair",
            65_536,
            65_536,
        ),
        (
            "`fair`, 65,536 hosts (table of 131,072)",
            "fair",
            65_536,
            131_072,
        ),
    ];
    let planes: Vec<(Dataplane, Vec<Vec<u8>>)> = cases
        .iter()
        .map(|&(_, hosts, n, table)| {
            let dp = load(hosts, table);
            let f = host_frames(1, n, [198, 18]);
            // Every host in the table before measuring.
            let prog = dp.program(LAN_PROGRAM).unwrap();
            for frame in &f {
                prog.test_run(TestRunOptions {
                    data_in: Some(frame),
                    repeat: 1,
                    ..Default::default()
                })
                .expect("BPF_PROG_TEST_RUN");
            }
            (dp, f)
        })
        .collect();
    let mut empty_ns: Vec<Vec<f64>> = vec![Vec::new(); cases.len()];
    let mut gw_ns: Vec<Vec<f64>> = vec![Vec::new(); cases.len()];
    let entered_before: Vec<u64> = planes.iter().map(|(dp, _)| new_hosts(dp)).collect();
    for _ in 0..ROUNDS {
        for (i, (dp, f)) in planes.iter().enumerate() {
            empty_ns[i].push(ns_per_frame(empty, f));
            gw_ns[i].push(ns_per_frame(dp.program(LAN_PROGRAM).unwrap(), f));
        }
    }
    // Section 1's way, for comparison: one frame repeated, `shared` and `fair` (1 host).
    let mut repeated: [Vec<f64>; 3] = Default::default();
    for _ in 0..ROUNDS {
        let f = &planes[1].1[0];
        repeated[0].push(crate::program::ns_per_frame(empty, f));
        repeated[1].push(crate::program::ns_per_frame(
            planes[0].0.program(LAN_PROGRAM).unwrap(),
            f,
        ));
        repeated[2].push(crate::program::ns_per_frame(
            planes[1].0.program(LAN_PROGRAM).unwrap(),
            f,
        ));
    }
    let e_again = Stats::of(repeated[0].clone());
    let [e, sh, fa] = repeated.map(Stats::of);
    let extra = [
        (
            "`shared`, one frame repeated 2,000,000 times (section 1's way)",
            e_again,
            sh,
        ),
        ("`fair`, 1 host, one frame repeated 2,000,000 times", e, fa),
    ];
    let mut rows: Vec<CostRow> = cases
        .iter()
        .enumerate()
        .map(|(i, &(what, ..))| {
            let row = CostRow {
                what: what.to_string(),
                empty: Stats::of(empty_ns[i].clone()),
                gateway: Stats::of(gw_ns[i].clone()),
                entered: new_hosts(&planes[i].0) - entered_before[i],
            };
            eprintln!(
                "{}: empty {} gateway {} ns, {} hosts entered while measuring",
                row.what,
                row.empty.show(1),
                row.gateway.show(1),
                row.entered
            );
            row
        })
        .collect();
    for (what, empty, gateway) in extra {
        eprintln!(
            "{what}: empty {} gateway {} ns",
            empty.show(1),
            gateway.show(1)
        );
        rows.push(CostRow {
            what: what.to_string(),
            empty,
            gateway,
            entered: 0,
        });
    }
    rows
}

/// 45 agencies on VLANs 101–145 as the daemon's benches have them, hosts `hosts`.
fn regency(hosts: &str) -> policy::Policy {
    let (_, text) = crate::daemon::regency_of_45();
    let text = text.hosts(hosts).to_string();
    policy::from_texts(&[("bench.toml", &text)]).expect("bench policy")
}

/// The control loop's tick, in process on loaded programs, with 45 agencies of `hosts` and
/// `per_agency` hosts each sending one frame each way just before (so they count as active).
fn tick(hosts: &str, per_agency: usize) -> (Stats, Option<Stats>) {
    // Room for 45 × 1,000 hosts both ways without evicting any.
    let mut dp = Dataplane::load_file_sized(&env_path("OPD_GATEWAY_EBPF"), 131_072).expect("load");
    let p = regency(hosts);
    let mut ctl = Controller::adopt(p, &mut dp, Contents::default()).expect("adopt");
    ctl.tick(&mut dp, monotonic_ns(), unix_seconds())
        .expect("first tick");
    let frames: Vec<Vec<Vec<u8>>> = (0..45u16)
        .map(|k| host_frames(101 + k, per_agency, [198, 19]))
        .collect();
    let fill = |dp: &Dataplane| {
        for f in frames.iter().flatten() {
            for prog in [LAN_PROGRAM, WAN_PROGRAM] {
                dp.program(prog)
                    .unwrap()
                    .test_run(TestRunOptions {
                        data_in: Some(f),
                        repeat: 1,
                        ..Default::default()
                    })
                    .expect("BPF_PROG_TEST_RUN");
            }
        }
    };
    let mut ms = Vec::new();
    for _ in 0..ROUNDS * 3 {
        fill(&dp);
        let t = Instant::now();
        ctl.tick(&mut dp, monotonic_ns(), unix_seconds())
            .expect("tick");
        ms.push(t.elapsed().as_secs_f64() * 1e3);
    }
    // Listing one agency's hosts (the admin's `status --hosts`): a walk of the whole table.
    let list = (per_agency > 0).then(|| {
        Stats::of((0..ROUNDS).map(|_| {
            let t = Instant::now();
            let got = dp.hosts().agency(0).expect("list the hosts");
            let ms = t.elapsed().as_secs_f64() * 1e3;
            if got.len() != 2 * per_agency {
                eprintln!(
                    "warning: {} hosts listed for slot 0, not {}",
                    got.len(),
                    2 * per_agency
                );
            }
            ms
        }))
    });
    (Stats::of(ms), list)
}

const VID: u16 = 110;

/// Host A with 16 CUBIC flows for 16 s, B and C with one each for 10 s, downloading through
/// an agency of 20 Mbps whose hosts are `hosts`, `rtt_ms` from their servers.
fn three_hosts(hosts: &'static str, rtt_ms: u64) -> Tcp {
    let p = PolicyText::simulated_regency(Forwarding::Redirect)
        .unclassified("drop")
        .agency(
            AgencyText::new("dinkes")
                .vlans(&[VID])
                .hosts(hosts)
                .upload(Limit::rate("100Mbps"))
                .download(Limit::rate("20Mbps")),
        );
    let bed = Bed::start(&[VID], Forwarding::Redirect, &p, "0s");
    let net = &bed.net;
    let _delay = (rtt_ms > 0).then(|| net.delay_upstream(VID, Duration::from_millis(rtt_ms)));
    let addrs = net.vlan(VID).add_agency_addresses(3);
    let servers: Vec<_> = addrs
        .iter()
        .enumerate()
        .map(|(i, &a)| iperf::receiver(&net.vlan(VID).agency_side, a, 5201 + i as u16))
        .collect();
    std::thread::sleep(Duration::from_millis(300));
    let clients: Vec<_> = [(16, 16), (1, 10), (1, 10)]
        .iter()
        .enumerate()
        .map(|(i, &(flows, secs)): (usize, &(usize, u64))| {
            let mut c = net.vlan(VID).upstream_side.command("iperf3");
            c.args(["-c", &addrs[i].to_string(), "-C", "cubic"])
                .args(["-p", &(5201 + i as u16).to_string()])
                .args(["-P", &flows.to_string(), "-t", &secs.to_string()])
                .stdout(Stdio::null());
            std::thread::spawn(move || {
                sh(&mut c);
            })
        })
        .collect();
    for c in clients {
        c.join().expect("iperf3 client");
    }
    let got: Vec<_> = servers
        .into_iter()
        .map(|s| s.join().expect("iperf3 server"))
        .collect();
    let tcp = Tcp {
        rtt_ms,
        hosts,
        busy: [0, 1, 2].map(|i| iperf::mean_rate(&got[i], 3.0, 9.5)),
        alone: iperf::mean_rate(&got[0], 11.0, 12.0),
    };
    eprintln!("{}", tcp.line());
    tcp
}

pub fn run() -> Report {
    let mut sim =
        aya::Ebpf::load_file(env_path("OPD_SIM_EBPF")).expect("load the simulation programs");
    let p: &mut Xdp = sim.program_mut("sim_xdp_pass").unwrap().try_into().unwrap();
    p.load().expect("load sim_xdp_pass");
    let empty: &Xdp = sim.program("sim_xdp_pass").unwrap().try_into().unwrap();
    let costs = costs(empty);
    let mut ticks = Vec::new();
    let (shared, _) = tick("shared", 1_000);
    ticks.push(Tick {
        what: "45 agencies `shared`, 1,000 hosts each sending",
        ms: shared,
    });
    let (fair, list) = tick("fair", 1_000);
    ticks.push(Tick {
        what: "45 agencies `fair`, 1,000 hosts each sending (90,000 entries)",
        ms: fair,
    });
    for t in &ticks {
        eprintln!("tick, {}: {} ms", t.what, t.ms.show(3));
    }
    let list_ms = list.expect("listed");
    let rtts: Vec<u64> = std::env::var("OPD_BENCH_RTT")
        .ok()
        .map(|v| v.split(',').filter_map(|x| x.parse().ok()).collect())
        .unwrap_or_else(|| vec![0, 20]);
    let mut tcp = Vec::new();
    for &rtt in &rtts {
        for hosts in ["fair", "shared"] {
            tcp.push(three_hosts(hosts, rtt));
        }
    }
    Report {
        costs,
        ticks,
        list_ms,
        tcp,
    }
}

impl Tcp {
    fn line(&self) -> String {
        format!(
            "| {} ms | `{}` | {:.2} | {:.2} | {:.2} | {:.3} | {:.2} |",
            self.rtt_ms,
            self.hosts,
            self.busy[0],
            self.busy[1],
            self.busy[2],
            iperf::jain(&self.busy),
            self.alone
        )
    }
}

impl Report {
    pub fn write(&self, report: &mut String) {
        let shared = self.costs[0].gateway.median - self.costs[0].empty.median;
        let _ = writeln!(
            report,
            "\n## 11. Fairness between the hosts of an agency\n\n\
             From `cargo xtask bench hosts` on the same machine. Program cost per frame \
             (BPF_PROG_TEST_RUN, upload program): one agency on VLAN 1, every \
             frame under quota, 802.1Q IPv4 frames of 64 bytes whose source address cycles through \
             that many hosts. Each frame is its own run of one repeat, so each is another host's, as \
             on the wire; the figure is the kernel's time for the run, which includes the timer's own \
             cost — read the difference to the empty program, run on the same frames in the same \
             round. Median of {ROUNDS} rounds of {FRAMES} frames (min–max); every host in the table \
             before measuring.\n\n\
             | agency | empty XDP ns | gateway ns | gateway − empty | extra vs `shared` | hosts entered while measuring |\n\
             |---|---:|---:|---:|---:|---:|"
        );
        let repeated_shared = self
            .costs
            .iter()
            .find(|r| r.what.starts_with("`shared`, one frame"))
            .map(|r| r.gateway.median - r.empty.median)
            .unwrap_or(f64::NAN);
        for r in &self.costs {
            let own = r.gateway.median - r.empty.median;
            let shared = if r.what.contains("repeated") {
                repeated_shared
            } else {
                shared
            };
            let _ = writeln!(
                report,
                "| {} | {} | {} | {:.1} | {:+.1} | {} |",
                r.what,
                r.empty.show(1),
                r.gateway.show(1),
                own,
                own - shared,
                r.entered
            );
        }
        let _ = writeln!(
            report,
            "\nThe daemon's tick, in process on loaded programs (the control loop alone: no HTTP, no \
             history), each tick right after every host sent a frame each way, {} ticks (min–max):\n\n\
             | case | tick ms |\n|---|---:|",
            ROUNDS * 3
        );
        for t in &self.ticks {
            let _ = writeln!(report, "| {} | {} |", t.what, t.ms.show(3));
        }
        let _ = writeln!(
            report,
            "\nThe tick reads one count of active hosts per agency and direction; it never walks the \
             host table. Listing one agency's hosts (what `status --hosts` needs) walks the whole \
             table: {} ms for 90,000 entries.\n\n\
             Three hosts downloading through one agency of 20 Mbps (guaranteed = ceiling): A with 16 \
             CUBIC flows for 16 s, B and C with one flow each for 10 s; goodput (TCP payload, about \
             95% of the frames the gateway counts) from iperf3's receivers over 3–9.5 s, and A's in \
             the second second after B and C stopped. RTT by the delay line in front of the servers \
             (0 ms: no delay line, under 0.1 ms between namespaces). One run each.\n\n\
             | RTT | hosts | A Mbps | B Mbps | C Mbps | Jain | A alone, 2nd s |\n\
             |---:|---|---:|---:|---:|---:|---:|",
            self.list_ms.show(1)
        );
        for t in &self.tcp {
            let _ = writeln!(report, "{}", t.line());
        }
    }
}
