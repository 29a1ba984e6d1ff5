//! Section 4: the policer's accuracy under 2× UDP overload, from 1 to 500 Mbps, counted at
//! its output (the gateway's passed bytes), so the receivers' limits do not count.

use std::{
    fmt::Write as _,
    time::{Duration, Instant},
};

use opd_testbed::{AgencyText, Bed, Forwarding, Limit, Metrics, PolicyText, SimNetwork, Way};

use crate::stats::Stats;

/// The gateway's passed bytes for an agency and direction, from its /metrics.
fn passed_bytes(net: &SimNetwork, agency: &str, direction: &str) -> f64 {
    Metrics::scrape(&net.gateway)
        .value(
            "opd_gateway_agency_passed_bytes_total",
            &[("agency", agency), ("direction", direction)],
        )
        .unwrap_or_else(|| {
            panic!(
                "opd_gateway_agency_passed_bytes_total{{agency=\"{agency}\",direction=\"{direction}\"}} missing from /metrics"
            )
        })
}

/// One rate: delivered / limit, and the load offered.
struct Row {
    mbps: u64,
    /// Delivered / limit.
    ratio: Stats,
    /// Mbps the sender managed to offer.
    offered: Stats,
}

impl Row {
    fn line(&self) -> String {
        format!(
            "| {} | {:.0} | {} |",
            self.mbps,
            self.offered.median,
            self.ratio.show(4)
        )
    }
}

pub struct Report {
    rows: Vec<Row>,
}

pub fn run() -> Report {
    let rates = [1u64, 10, 50, 100, 250, 500];
    let mut rows = Vec::new();
    for mbps in rates {
        let mut ratios = Vec::new();
        let mut offered = Vec::new();
        for _ in 0..3 {
            let policy = PolicyText::simulated_regency(Forwarding::Redirect)
                .unclassified("drop")
                .agency(
                    AgencyText::new("a")
                        .vlans(&[110])
                        .upload(Limit::rate("1Mbps"))
                        .download(Limit::rate(&format!("{mbps}Mbps"))),
                );
            let bed = Bed::start(&[110], Forwarding::Redirect, &policy, "0s");
            let net = &bed.net;
            let run = Duration::from_secs(5);
            let flow = net.steady_stream(
                110,
                Way::Download,
                Instant::now(),
                run,
                2.0 * mbps as f64 * 1e6,
            );
            std::thread::sleep(Duration::from_millis(1500));
            let (b0, t0) = (passed_bytes(net, "a", "download"), Instant::now());
            std::thread::sleep(Duration::from_secs(3));
            let (b1, t1) = (passed_bytes(net, "a", "download"), Instant::now());
            let (_, sent) = flow.finish();
            let delivered = (b1 - b0) * 8.0 / (t1 - t0).as_secs_f64();
            ratios.push(delivered / (mbps as f64 * 1e6));
            offered.push(sent[0].sent as f64 * 1446.0 * 8.0 / run.as_secs_f64() / 1e6);
        }
        let row = Row {
            mbps,
            ratio: Stats::of(ratios),
            offered: Stats::of(offered),
        };
        eprintln!("{}", row.line());
        rows.push(row);
    }
    Report { rows }
}

impl Report {
    pub fn write(&self, report: &mut String) {
        let _ = writeln!(
            report,
            "\n## 4. Accuracy under 2× overload\n\n\
             One agency's download limited to each rate and flooded at twice it (1400-byte UDP); \
             delivered = the gateway's passed bytes over 3 s after 1.5 s of warm-up; 3 runs per \
             rate, median (min–max). Where the simulated network cannot carry twice the rate, the \
             offered load is shown.\n\n\
             | limit Mbps | offered Mbps | delivered / limit |\n|---:|---:|---:|"
        );
        for row in &self.rows {
            let _ = writeln!(report, "{}", row.line());
        }
    }
}
