//! Section 3: the allocator's time per tick and direction, against a naive proportional
//! split of the same uplink.

use std::{fmt::Write as _, time::Instant};

use opd_gateway::allocator;
use opd_testbed::frames;

use crate::{ROUNDS, stats::Stats};

/// A realistic uplink of `n` agencies in one direction: guarantees filling most of the
/// capacity, a few critical and public agencies, demands above and below the guarantees.
struct Uplink {
    capacity: u64,
    shares: Vec<allocator::Share>,
    demand: Vec<u64>,
}

impl Uplink {
    fn of(n: usize) -> Uplink {
        let capacity = 1_000_000_000u64 * (n as u64).div_ceil(45);
        let mut rng = frames::Rng(0x5eed ^ n as u64);
        let per = capacity / n as u64;
        let shares: Vec<allocator::Share> = (0..n)
            .map(|i| allocator::Share {
                guaranteed: per / 2 + rng.below(per / 3),
                ceiling: per * 4,
                weight: 1 + rng.below(4) as u32,
                tier: match i % 15 {
                    0 => allocator::Tier::Critical,
                    14 => allocator::Tier::Public,
                    _ => allocator::Tier::Standard,
                },
                growing: rng.below(2) == 0,
            })
            .collect();
        let demand = (0..n).map(|_| rng.below(per * 3)).collect();
        Uplink {
            capacity,
            shares,
            demand,
        }
    }
}

/// What a naive divider would do: everyone proportionally to demand, capped at ceilings
/// (no guarantees, tiers or max-min fairness). The allocator's baseline.
fn proportional(capacity: u64, shares: &[allocator::Share], demand: &[u64]) -> Vec<u64> {
    let total: u128 = demand.iter().map(|&d| d as u128).sum::<u128>().max(1);
    shares
        .iter()
        .zip(demand)
        .map(|(s, &d)| ((capacity as u128 * d as u128 / total) as u64).min(s.ceiling))
        .collect()
}

/// One uplink size: µs per call of each divider.
struct Row {
    agencies: usize,
    allocate: Stats,
    proportional: Stats,
}

impl Row {
    fn line(&self) -> String {
        format!(
            "| {} | {} | {} | {:.1} |",
            self.agencies,
            self.allocate.show(2),
            self.proportional.show(2),
            self.allocate.median / self.proportional.median
        )
    }
}

pub struct Report {
    rows: Vec<Row>,
}

pub fn run() -> Report {
    let mut rows = Vec::new();
    for n in [45usize, 4094] {
        let Uplink {
            capacity: cap,
            shares,
            demand,
        } = Uplink::of(n);
        let time = |f: &dyn Fn() -> Vec<u64>| {
            let start = Instant::now();
            for _ in 0..1000 {
                std::hint::black_box(f());
            }
            start.elapsed().as_secs_f64() * 1e6 / 1000.0
        };
        let (mut a, mut b) = (Vec::new(), Vec::new());
        for _ in 0..ROUNDS {
            a.push(time(&|| allocator::allocate(cap, &shares, &demand)));
            b.push(time(&|| proportional(cap, &shares, &demand)));
        }
        let row = Row {
            agencies: n,
            allocate: Stats::of(a),
            proportional: Stats::of(b),
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
            "\n## 3. The allocator, per tick and direction\n\n\
             Time of one `allocate` call (guarantees, tiers in order, weighted max-min), median of \
             7 rounds of 1000 calls (min–max), against a naive proportional split of the same \
             uplink (one pass, no guarantees or fairness) in the same run.\n\n\
             | agencies | allocate µs | proportional µs | ratio |\n|---:|---:|---:|---:|"
        );
        for row in &self.rows {
            let _ = writeln!(report, "{}", row.line());
        }
    }
}
