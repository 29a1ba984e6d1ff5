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

/// A made-up regency for pictures and demonstrations, not for exact figures: agencies of
/// different sizes and habits (offices busy in the morning or the afternoon, a hospital
/// around the clock, a disaster agency with rare surges, public WiFi busy in the evening),
/// each with the former package it bought and its guarantee, and some held back at times.
/// The figures are random but the same for the same `seed`.
pub fn regency(days: u64, start: i64, seed: u64) -> (SiteInfo, Vec<AgencyInfo>, Vec<Row>) {
    #[derive(Clone, Copy)]
    enum Habit {
        Morning,
        Afternoon,
        AroundTheClock,
        Surges,
        Evening,
    }
    use Habit::*;
    /// id, name, tier, package, guarantee, ceiling, busiest (download, Mbps), habit.
    type Made = (&'static str, &'static str, Tier, u64, u64, u64, u64, Habit);
    const AGENCIES: [Made; 10] = [
        (
            "rsud",
            "RSUD Kabupaten",
            Tier::Critical,
            50,
            40,
            100,
            38,
            AroundTheClock,
        ),
        ("bpbd", "BPBD", Tier::Critical, 20, 10, 25, 14, Surges),
        (
            "setda",
            "Sekretariat Daerah",
            Tier::Standard,
            50,
            25,
            40,
            30,
            Morning,
        ),
        (
            "bappeda",
            "Bappeda",
            Tier::Standard,
            20,
            10,
            40,
            12,
            Afternoon,
        ),
        (
            "dinkes",
            "Dinas Kesehatan",
            Tier::Standard,
            20,
            15,
            20,
            18,
            Morning,
        ),
        (
            "disdik",
            "Dinas Pendidikan",
            Tier::Standard,
            50,
            20,
            80,
            26,
            Afternoon,
        ),
        (
            "dukcapil",
            "Dinas Kependudukan & Catatan Sipil",
            Tier::Standard,
            20,
            15,
            40,
            16,
            Morning,
        ),
        (
            "dpmptsp",
            "DPMPTSP (perizinan)",
            Tier::Standard,
            10,
            8,
            30,
            9,
            Morning,
        ),
        (
            "kec-kota",
            "Kecamatan Kota",
            Tier::Standard,
            10,
            5,
            20,
            6,
            Afternoon,
        ),
        (
            "wifi",
            "WiFi Publik Taman Kota",
            Tier::Public,
            0,
            0,
            100,
            45,
            Evening,
        ),
    ];
    let site = SiteInfo {
        name: "Diskominfo Kabupaten Contoh".into(),
        timezone: "Asia/Jakarta".into(),
        offset_seconds: 7 * 3600,
        capacity: PerDirection::new(150_000, 300_000),
        costs: Some(serde_json::json!({
            "currency": "Rp",
            "uplink_per_mbps_month": 175_000,
            "package_per_year": [[10_000, 42_000_000], [20_000, 78_000_000], [50_000, 180_000_000]],
        })),
    };
    let info: Vec<AgencyInfo> = AGENCIES
        .iter()
        .map(|&(id, name, tier, package, g, c, _, _)| AgencyInfo {
            id: id.into(),
            name: name.into(),
            tier,
            package: (package > 0).then_some(package * 1000),
            guaranteed: PerDirection::new(g * 250, g * 1000),
            ceiling: PerDirection::new(c * 250, c * 1000),
        })
        .collect();
    let tz = crate::policy::TimeZone {
        name: String::new(),
        offset_seconds: site.offset_seconds,
    };
    let mut rng = seed | 1;
    let mut next = move || {
        // xorshift64*: a fixed, portable sequence.
        rng ^= rng >> 12;
        rng ^= rng << 25;
        rng ^= rng >> 27;
        (rng.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 11) as f64 / (1u64 << 53) as f64
    };
    let n = days * ROWS_PER_DAY;
    let mut rows = Vec::with_capacity(n as usize * AGENCIES.len());
    let mut surge = 0u32;
    for j in 0..n {
        let t = start + j as i64 * 300;
        let local = tz.local(t);
        let hour = local.minute as f64 / 60.0;
        let workday = local.weekday < 5;
        if surge == 0 && next() < 0.0015 {
            surge = 24 + (next() * 48.0) as u32; // two to six hours
        }
        surge = surge.saturating_sub(1);
        for (a, &(_, _, _, _, _, ceiling, busiest, habit)) in info.iter().zip(&AGENCIES) {
            let office = |from: f64, to: f64| {
                if workday && (from..to).contains(&hour) {
                    1.0
                } else {
                    0.08
                }
            };
            let shape = match habit {
                Morning => office(7.5, 16.0) * if hour < 12.0 { 1.0 } else { 0.7 },
                Afternoon => office(7.5, 16.0) * if hour < 12.0 { 0.6 } else { 1.0 },
                AroundTheClock => 0.55 + 0.45 * office(7.0, 21.0),
                Surges => {
                    if surge > 0 {
                        1.6
                    } else {
                        0.25 * office(7.5, 16.0) + 0.05
                    }
                }
                Evening => {
                    if (16.0..22.0).contains(&hour) {
                        1.0
                    } else if (9.0..16.0).contains(&hour) {
                        0.5
                    } else {
                        0.1
                    }
                }
            };
            let noise = 0.6 + 0.8 * next();
            let need = (busiest as f64 * 1000.0 * shape * noise) as u64;
            let limit = ceiling * 1000;
            let passed = need.min(limit);
            let dropped = if need > limit { (need - limit) / 20 } else { 0 };
            let held = if dropped > 0 { 300 } else { 0 };
            let traffic = |scale: u64| Traffic {
                passed: passed / scale,
                dropped: dropped / scale,
                demand: need / scale,
                peak: need * 6 / 5 / scale,
                allocated: passed / scale,
                held,
                at_ceiling: held,
            };
            rows.push(Row {
                start: t,
                agency: a.id.clone(),
                secs: 300,
                traffic: PerDirection::new(traffic(4), traffic(1)),
            });
        }
    }
    (site, info, rows)
}
