//! Section 7: uplink use when oversubscribed and the time until a waking agency has its
//! guarantee, OPD Gateway against fixed packages in the same run.

use std::{
    fmt::Write as _,
    time::{Duration, Instant},
};

use opd_testbed::{AgencyText, Bed, Forwarding, Limit, PolicyText, Stream, Way, traffic::Arrivals};

use crate::{repeat_count, stats::Stats};

/// What one sharing run measured.
struct Run {
    /// Delivered / usable while the critical agency is idle.
    use_idle: f64,
    /// Delivered / usable once every agency is busy.
    use_busy: f64,
    /// ms from the wake-up until the waking agency has its guarantee (NaN if it never did).
    guarantee_ms: f64,
}

/// One sharing run on a 60 Mbps uplink (59 usable), tick 500 ms: a critical agency
/// (guarantee 10 Mbps) idle while a standard agency (guarantee 15) and public WiFi both
/// want 40 Mbps, then waking up at 30 Mbps. `fixed`: every agency gets a fixed rate instead
/// (its package: 10, 15 and the 34 left), as without OPD Gateway. The guarantee counts as
/// had from the start of the first second in which every 100 ms carried at least 97% of it.
fn sharing_run(fixed: bool) -> Run {
    let vids = [110u16, 120, 130];
    // (id, tier, download divided by need, download as a fixed package)
    let agencies = [
        (
            "rsud",
            "critical",
            Limit::guaranteed("10Mbps", "59Mbps"),
            Limit::rate("10Mbps"),
        ),
        (
            "disdik",
            "standard",
            Limit::guaranteed("15Mbps", "59Mbps"),
            Limit::rate("15Mbps"),
        ),
        (
            "wifi",
            "public",
            Limit::ceiling("unlimited"),
            Limit::rate("34Mbps"),
        ),
    ];
    let policy = PolicyText::site()
        .capacity("60Mbps", "60Mbps")
        .headroom("1Mbps")
        .tick("500ms")
        .unclassified("drop")
        .agencies(
            agencies
                .into_iter()
                .zip(vids)
                .map(|((id, tier, shared, package), vid)| {
                    AgencyText::new(id)
                        .tier(tier)
                        .vlans(&[vid])
                        .upload(Limit::rate("1Mbps"))
                        .download(if fixed { package } else { shared })
                }),
        );
    let bed = Bed::start(&vids, Forwarding::Redirect, &policy, "0s");
    let phase = Duration::from_secs(8);
    let offered = [[0.0, 40.0, 40.0], [30.0, 40.0, 40.0]];
    let start = Instant::now() + Duration::from_millis(300);
    let flows: Vec<Stream> = vids
        .iter()
        .enumerate()
        .map(|(i, &vid)| {
            let rates: Vec<f64> = offered.iter().map(|o| o[i] * 1e6).collect();
            bed.net
                .phased_stream(vid, Way::Download, start, phase, &rates)
        })
        .collect();
    let got: Vec<Arrivals> = flows.into_iter().map(Stream::arrivals).collect();
    let usable = 59e6;
    let use_in = |from: Instant, to: Instant| {
        got.iter().map(|a| a.frame_rate(from, to)).sum::<f64>() / usable
    };
    let use_idle = use_in(start + Duration::from_secs(4), start + phase);
    let use_busy = use_in(start + phase + Duration::from_secs(4), start + phase * 2);
    let wake = start + phase;
    let bins = got[0].binned_rates(wake, start + phase * 2, Duration::from_millis(100));
    let guarantee_ms = bins
        .windows(10)
        .position(|w| w.iter().all(|&r| r >= 0.97 * 10e6))
        .map_or(f64::NAN, |i| i as f64 * 100.0);
    Run {
        use_idle,
        use_busy,
        guarantee_ms,
    }
}

pub struct Report {
    reps: usize,
    /// Runs with the uplink divided by need.
    shared: Vec<Run>,
    /// Runs with fixed packages.
    fixed: Vec<Run>,
}

pub fn run() -> Report {
    let reps = repeat_count(3);
    let (mut shared, mut fixed) = (Vec::new(), Vec::new());
    for _ in 0..reps {
        for (is_fixed, out) in [(false, &mut shared), (true, &mut fixed)] {
            let r = sharing_run(is_fixed);
            eprintln!(
                "sharing ({}): uplink use {:.3} / {:.3}, guarantee after {:.0} ms",
                if is_fixed { "fixed" } else { "shared" },
                r.use_idle,
                r.use_busy,
                r.guarantee_ms
            );
            out.push(r);
        }
    }
    Report {
        reps,
        shared,
        fixed,
    }
}

impl Report {
    pub fn write(&self, report: &mut String) {
        let reps = self.reps;
        let _ = writeln!(
            report,
            "\n## 7. Sharing: uplink use and a waking agency\n\n\
             A 60 Mbps uplink (59 usable), tick 500 ms, real UDP floods through the daemon: a \
             critical agency (guarantee 10 Mbps) idle while a standard agency (guarantee 15) and \
             public WiFi want 40 Mbps each; then the critical agency wakes up at 30 Mbps. Against \
             fixed packages: the same agencies at fixed rates of 10, 15 and 34 Mbps, as an office \
             without OPD Gateway would buy them. Uplink use = delivered / usable over the last 4 s \
             of each 8 s phase; time to guarantee = from the wake-up until the start of the first \
             second in which every 100 ms carried at least 97% of the guarantee. Median of {reps} runs (min–max).\n\n\
             | division | uplink use, critical agency idle | uplink use, all busy | time to guarantee ms | in ticks |\n\
             |---|---:|---:|---:|---:|"
        );
        for (name, runs) in [
            ("OPD Gateway, by need", &self.shared),
            ("fixed packages", &self.fixed),
        ] {
            let col =
                |f: fn(&Run) -> f64, digits: usize| Stats::of(runs.iter().map(f)).show(digits);
            let ticks = Stats::of(runs.iter().map(|r| r.guarantee_ms / 500.0));
            let _ = writeln!(
                report,
                "| {name} | {} | {} | {} | {} |",
                col(|r| r.use_idle, 3),
                col(|r| r.use_busy, 3),
                col(|r| r.guarantee_ms, 0),
                ticks.show(1)
            );
        }
    }
}
