//! Section 1: the gateway program's cost per frame under BPF_PROG_TEST_RUN, against an
//! empty XDP program run interleaved with it on the same frame.

use std::{fmt::Write as _, time::Instant};

use aya::programs::{TestRun, TestRunOptions, Xdp};
use gateway_common::{Direction, Rates};
use opd_gateway::{
    dataplane::{Dataplane, LAN_PROGRAM, MapWrite},
    plan::Applied,
    policy,
};
use opd_testbed::{
    AgencyText, Forwarding, Limit, PolicyText, env_path,
    frames::{self, Frame},
};

use crate::{ROUNDS, stats::Stats};

const REPEAT: u32 = 2_000_000;

/// One frame layout under one policy size.
struct Row {
    agencies: usize,
    frame: &'static str,
    empty: Stats,
    gateway: Stats,
}

impl Row {
    fn line(&self) -> String {
        format!(
            "| {} | {} | {} | {} | {:.2} |",
            self.agencies,
            self.frame,
            self.empty.show(1),
            self.gateway.show(1),
            self.gateway.median / self.empty.median
        )
    }
}

/// What one clock read costs, the part of the policing path that no map layout can save.
struct ClockRead {
    empty: Stats,
    clock: Stats,
}

/// One path through the policer, on a policy of two agencies.
struct Path {
    what: &'static str,
    empty: Stats,
    gateway: Stats,
}

/// Two CPUs policing frames of two agencies at once, against one CPU alone.
struct Cpus {
    /// ns per frame on one CPU alone, and on each of two at once, with the uplink's bucket
    /// shared by both agencies.
    alone: Stats,
    together: Stats,
    /// The same two at once with no uplink limit: no bucket shared.
    apart: Stats,
}

pub struct Report {
    rows: Vec<Row>,
    clock: ClockRead,
    paths: Vec<Path>,
    cpus: Cpus,
}

/// Mean ns per frame of `frame` run [`REPEAT`] times in one BPF_PROG_TEST_RUN: the same
/// frame every time, everything it touches hot in the cache.
pub(crate) fn ns_per_frame(prog: &Xdp, frame: &[u8]) -> f64 {
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

/// `a` and `b` timed on `frame`, interleaved, ROUNDS times.
fn interleaved(a: &Xdp, b: &Xdp, frame: &[u8]) -> (Stats, Stats) {
    let (mut ta, mut tb) = (Vec::new(), Vec::new());
    for _ in 0..ROUNDS {
        ta.push(ns_per_frame(a, frame));
        tb.push(ns_per_frame(b, frame));
    }
    (Stats::of(ta), Stats::of(tb))
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

pub fn run() -> Report {
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
    let mut rows = Vec::new();
    for n in [1usize, 45, 4094] {
        let p = policy_with(n.max(2));
        let mut dp = Dataplane::load_file(&env_path("OPD_GATEWAY_EBPF")).expect("load");
        Applied::start(&mut dp, &p).expect("configure");
        let gw = dp.program(LAN_PROGRAM).unwrap();
        for &(what, ref frame) in &cases {
            let (empty, gateway) = interleaved(empty, gw, frame);
            let row = Row {
                agencies: n.max(2),
                frame: what,
                empty,
                gateway,
            };
            eprintln!("{}", row.line());
            rows.push(row);
        }
    }
    let frame = Frame::ipv4_udp(18).tag(frames::CTAG, 1).bytes();
    let (empty_ns, clock) = interleaved(empty, clock, &frame);
    let clock = ClockRead {
        empty: empty_ns,
        clock,
    };
    let paths = paths(empty);
    let cpus = cpus();
    let report = Report {
        rows,
        clock,
        paths,
        cpus,
    };
    eprintln!("{}", report.clock_line());
    report
}

/// A bucket at `bps`, `depth` bytes deep; a rate of 8 bps with no depth refuses every frame.
fn bucket(bps: u64, depth: u64) -> gateway_common::Limit {
    gateway_common::Limit::from_rate(bps, depth)
}

const TEN_GBPS: u64 = 10_000_000_000;

/// The programs loaded on two agencies (VLANs 1 and 2) with no policy limits of note.
fn two_agencies() -> (Dataplane, Applied) {
    let p = policy_with(2);
    let mut dp = Dataplane::load_file(&env_path("OPD_GATEWAY_EBPF")).expect("load");
    let applied = Applied::start(&mut dp, &p).expect("configure");
    (dp, applied)
}

fn set(dp: &mut Dataplane, applied: &mut Applied, slot: u32, rates: Rates) {
    let expires = opd_gateway::control::monotonic_ns() + 3_600_000_000_000;
    applied
        .set_rates(dp, slot, Direction::Upload, rates, expires)
        .expect("set rates");
}

/// The cost of each path a frame of an agency can take through the policer.
fn paths(empty: &Xdp) -> Vec<Path> {
    let never = bucket(8, 0);
    let open = bucket(TEN_GBPS, TEN_GBPS / 80);
    let cases: [(&str, Rates); 4] = [
        (
            "on its guarantee (guarantee bucket, charged to the uplink)",
            Rates {
                guaranteed: open,
                ..Default::default()
            },
        ),
        (
            "borrowing its share (share bucket and the uplink's)",
            Rates {
                borrow: open,
                ..Default::default()
            },
        ),
        (
            "beyond its share (share refused; excess bucket and half the uplink's)",
            Rates {
                borrow: never,
                excess: open,
                ..Default::default()
            },
        ),
        (
            "dropped (guarantee refused, nothing to borrow)",
            Rates {
                guaranteed: never,
                ..Default::default()
            },
        ),
    ];
    let frame = Frame::ipv4_udp(18).tag(frames::CTAG, 1).bytes();
    cases
        .into_iter()
        .map(|(what, rates)| {
            let (mut dp, mut applied) = two_agencies();
            set(&mut dp, &mut applied, 0, rates);
            let (empty, gateway) = interleaved(empty, dp.program(LAN_PROGRAM).unwrap(), &frame);
            let path = Path {
                what,
                empty,
                gateway,
            };
            eprintln!("{}", path.line());
            path
        })
        .collect()
}

/// Pins the calling thread to `cpu`.
fn pin_to(cpu: usize) {
    // SAFETY: a zeroed cpu_set_t is a valid empty set; the calls only read it.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(cpu, &mut set);
        let r = libc::sched_setaffinity(0, size_of::<libc::cpu_set_t>(), &set);
        assert_eq!(r, 0, "cannot pin a thread to CPU {cpu}");
    }
}

/// Both agencies borrowing, their frames policed on CPU 0 and CPU 1 at once: every frame
/// updates the uplink's bucket, one cache line for both CPUs. Against one CPU alone, and
/// against both at once with no uplink limit (nothing shared).
fn cpus() -> Cpus {
    let (mut dp, mut applied) = two_agencies();
    let borrowing = Rates {
        borrow: bucket(TEN_GBPS, TEN_GBPS / 80),
        ..Default::default()
    };
    set(&mut dp, &mut applied, 0, borrowing);
    set(&mut dp, &mut applied, 1, borrowing);
    let frames = [
        Frame::ipv4_udp(18).tag(frames::CTAG, 1).bytes(),
        Frame::ipv4_udp(18).tag(frames::CTAG, 2).bytes(),
    ];
    let at_once = |dp: &Dataplane| -> Vec<f64> {
        let prog = dp.program(LAN_PROGRAM).unwrap();
        std::thread::scope(|s| {
            let runs: Vec<_> = frames
                .iter()
                .enumerate()
                .map(|(cpu, frame)| {
                    s.spawn(move || {
                        pin_to(cpu);
                        ns_per_frame(prog, frame)
                    })
                })
                .collect();
            runs.into_iter()
                .map(|r| r.join().expect("a CPU's run"))
                .collect()
        })
    };
    let (mut alone, mut together, mut apart) = (Vec::new(), Vec::new(), Vec::new());
    for round in 0..ROUNDS {
        // Alone on each CPU in turn, as each runs when both do.
        let (cpu, frame) = (round % 2, &frames[round % 2]);
        let prog = dp.program(LAN_PROGRAM).unwrap();
        alone.push(std::thread::scope(|s| {
            s.spawn(|| {
                pin_to(cpu);
                ns_per_frame(prog, frame)
            })
            .join()
            .expect("a CPU's run")
        }));
        together.extend(at_once(&dp));
    }
    // No uplink limit: the same, with nothing shared between the two agencies.
    let mut config = applied.contents().config.expect("configured");
    config.uplink = Default::default();
    dp.write(&MapWrite::Config(config))
        .expect("write the site settings");
    for _ in 0..ROUNDS {
        apart.extend(at_once(&dp));
    }
    let cpus = Cpus {
        alone: Stats::of(alone),
        together: Stats::of(together),
        apart: Stats::of(apart),
    };
    eprintln!("{}", cpus.line());
    cpus
}

impl Path {
    fn line(&self) -> String {
        format!(
            "| {} | {} | {} | {:.2} |",
            self.what,
            self.empty.show(1),
            self.gateway.show(1),
            self.gateway.median / self.empty.median
        )
    }
}

impl Cpus {
    fn line(&self) -> String {
        format!(
            "Two agencies borrowing, policed on two CPUs at once: {} ns per frame on each, \
             against {} ns on one CPU alone ({:.2}×); with no uplink limit, so that no bucket is \
             shared, {} ns at once ({:.2}× alone). The shared uplink bucket costs {:.1} ns per \
             frame when both CPUs update it at once.",
            self.together.show(1),
            self.alone.show(1),
            self.together.median / self.alone.median,
            self.apart.show(1),
            self.apart.median / self.alone.median,
            self.together.median - self.apart.median
        )
    }
}

impl Report {
    fn clock_line(&self) -> String {
        let ClockRead { empty: e, clock: c } = &self.clock;
        format!(
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
        )
    }

    pub fn write(&self, report: &mut String) {
        let _ = writeln!(
            report,
            "## 1. Program cost (BPF_PROG_TEST_RUN)\n\n\
             ns per frame, median of {ROUNDS} rounds of {REPEAT} runs (min–max); the empty XDP program \
             runs interleaved with the gateway's on the same frame.\n\n\
             | agencies | frame | empty XDP ns | gateway ns | ratio |\n|---:|---|---:|---:|---:|"
        );
        for row in &self.rows {
            let _ = writeln!(report, "{}", row.line());
        }
        let _ = writeln!(report, "{}", self.clock_line());
        let _ = writeln!(
            report,
            "\nBy the path a frame takes through the policer (802.1Q IPv4, two agencies; rates \
             set so that the frame takes that path every time):\n\n\
             | path | empty XDP ns | gateway ns | ratio |\n|---|---:|---:|---:|"
        );
        for path in &self.paths {
            let _ = writeln!(report, "{}", path.line());
        }
        let _ = writeln!(report, "\n{}", self.cpus.line());
    }
}
