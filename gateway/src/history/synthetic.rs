//! A made-up history whose figures are known in closed form, for the report's tests and
//! benchmarks: each agency's 5-minute rates are the terms of an arithmetic series, so every
//! percentile is a term of the series. Which row takes which term follows an office's week
//! (busy in office hours, quiet at night and at weekends), the same for every agency, so
//! the sum over agencies is a series too and the charts look like a real office's.

use gateway_common::{PerDirection, Tier};

use super::{AgencyInfo, Row, SiteInfo, Traffic};

/// Rows per day.
pub const ROWS_PER_DAY: u64 = 288;

/// The shuffle: row `j` of `n` takes term `k(j)` of the series (a multiplier coprime to `n`
/// makes it a permutation).
pub fn term(j: u64, n: u64) -> u64 {
    (j * 7919) % n
}

/// Agency `i`'s download in kbit/s at term `k` of `n`: from `base(i)` up by `span(i)`
/// across the series, never decreasing (rates an agency really has: 1 to about 75 Mbps);
/// upload a quarter of it.
pub fn rate(i: usize, k: u64, n: u64) -> u64 {
    base(i) + k * span(i) / n
}
pub fn base(i: usize) -> u64 {
    1_000 + 250 * i as u64
}
pub fn span(i: usize) -> u64 {
    20_000 + 1_000 * i as u64
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
    let terms = busy_order(n, start, site.offset_seconds);
    let mut rows = Vec::with_capacity((n as usize) * agencies);
    for j in 0..n {
        let k = terms[j as usize];
        for (i, a) in info.iter().enumerate() {
            let down = rate(i, k, n);
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

/// How busy an office is at a local hour (weekday, hour): a share of its busiest hour.
fn busyness(weekday: u8, hour: u16) -> u64 {
    let h = match hour {
        0..=5 => 1,
        6 => 2,
        7 => 5,
        8..=11 => 10,
        12 => 7,
        13..=15 => 9,
        16 => 5,
        17..=20 => 3,
        _ => 2,
    };
    if weekday >= 5 { h.min(3) } else { h }
}

/// The term each of `n` rows from `start` takes: rows ranked by their hour's busyness
/// (ties broken by a shuffle), the busiest taking the largest terms.
pub fn busy_order(n: u64, start: i64, offset_seconds: i32) -> Vec<u64> {
    let tz = crate::policy::TimeZone {
        name: String::new(),
        offset_seconds,
    };
    let mut rows: Vec<(u64, u64, u64)> = (0..n)
        .map(|j| {
            let t = tz.local(start + j as i64 * 300);
            (busyness(t.weekday, t.minute / 60), term(j, n), j)
        })
        .collect();
    rows.sort_unstable();
    let mut terms = vec![0; n as usize];
    for (k, (_, _, j)) in rows.into_iter().enumerate() {
        terms[j as usize] = k as u64;
    }
    terms
}
