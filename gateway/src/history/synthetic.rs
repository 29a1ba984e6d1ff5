//! A made-up history whose figures are known in closed form, for the report's tests and
//! benchmarks: each agency's 5-minute rates are a shuffle of an arithmetic series, so every
//! percentile is a term of the series.

use gateway_common::{PerDirection, Tier};

use super::{AgencyInfo, Row, SiteInfo, Traffic};

/// Rows per day.
pub const ROWS_PER_DAY: u64 = 288;

/// The shuffle: row `j` of `n` takes term `k(j)` of the series (a multiplier coprime to `n`
/// makes it a permutation).
pub fn term(j: u64, n: u64) -> u64 {
    (j * 7919) % n
}

/// Agency `i`'s download in kbit/s at term `k`: `base(i) + k·step(i)`; upload a quarter.
pub fn base(i: usize) -> u64 {
    1_000 + 250 * i as u64
}
pub fn step(i: usize) -> u64 {
    1 + (i as u64 % 5)
}
/// What it needed: a little more than it passed.
pub fn extra_demand(i: usize) -> u64 {
    5 * i as u64
}

/// The site, `agencies` agencies (the last one public WiFi; every other a 20 Mbps package)
/// and `days` days of 5-minute rows from `start` (unix seconds), in time order.
pub fn history(agencies: usize, days: u64, start: i64) -> (SiteInfo, Vec<AgencyInfo>, Vec<Row>) {
    let site = SiteInfo {
        name: "Diskominfo Kabupaten Contoh".into(),
        timezone: "Asia/Jakarta".into(),
        offset_seconds: 7 * 3600,
        capacity: PerDirection::new(500_000, 1_000_000),
        costs: Some(serde_json::json!({
            "currency": "Rp",
            "uplink_per_mbps_month": 250_000,
            "package_per_year": [[20_000, 60_000_000]],
        })),
    };
    let info: Vec<AgencyInfo> = (0..agencies)
        .map(|i| {
            let public = i + 1 == agencies;
            AgencyInfo {
                id: format!("opd{i:02}"),
                name: format!("Dinas Contoh {i}"),
                tier: if public { Tier::Public } else { Tier::Standard },
                package: (!public).then_some(20_000),
                guaranteed: PerDirection::new(2_000, 10_000),
                ceiling: PerDirection::new(20_000, 50_000),
            }
        })
        .collect();
    let n = days * ROWS_PER_DAY;
    let mut rows = Vec::with_capacity((n as usize) * agencies);
    for j in 0..n {
        let k = term(j, n);
        for (i, a) in info.iter().enumerate() {
            let down = base(i) + k * step(i);
            let held = k.is_multiple_of(10);
            let t = |passed: u64| Traffic {
                passed,
                dropped: if held { passed / 100 } else { 0 },
                demand: passed + extra_demand(i),
                peak: passed + extra_demand(i) + 100,
                allocated: passed,
                held: if held { 300 } else { 0 },
                at_ceiling: if held && k.is_multiple_of(20) { 300 } else { 0 },
            };
            rows.push(Row {
                start: start + j as i64 * 300,
                agency: a.id.clone(),
                secs: 300,
                traffic: PerDirection::new(t(down / 4), t(down)),
            });
        }
    }
    (site, info, rows)
}
