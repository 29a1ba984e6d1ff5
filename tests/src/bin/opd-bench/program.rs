//! Section 1: the gateway program's cost per frame under BPF_PROG_TEST_RUN, against an
//! empty XDP program run interleaved with it on the same frame.

use std::{fmt::Write as _, time::Instant};

use aya::programs::{TestRun, TestRunOptions, Xdp};
use opd_gateway::{
    dataplane::{Dataplane, LAN_PROGRAM},
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

pub struct Report {
    rows: Vec<Row>,
    clock: ClockRead,
}

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
        opd_gateway::plan::Applied::start(&mut dp, &p).expect("configure");
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
    let (empty, clock) = interleaved(empty, clock, &frame);
    let report = Report {
        rows,
        clock: ClockRead { empty, clock },
    };
    eprintln!("{}", report.clock_line());
    report
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
    }
}
