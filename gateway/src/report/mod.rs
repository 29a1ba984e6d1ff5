//! `opd-gateway report`: what each agency really used and needed over a period, read from
//! the history, with the figures a budget is decided on. Computing it is pure
//! ([`Report::compute`]); [`text`] writes it as a table or CSV, [`html`] as one printable
//! page with charts.
//!
//! Every percentile is by nearest rank over 5-minute averages, as ISPs bill: the value
//! below which 95% of the 5-minute rows fall, one of the measured values, never an
//! interpolation.

pub mod html;
pub mod text;

use gateway_common::{Direction, PerDirection, Tier};

use crate::{
    history::store::History,
    policy::{LocalTime, TimeZone},
};

/// Which period and agencies a report covers, and how it judges.
#[derive(Debug, Clone)]
pub struct Options {
    /// Unix seconds; `to` excluded.
    pub from: i64,
    pub to: i64,
    /// Agency ids to show; empty for all.
    pub agencies: Vec<String>,
    pub office: OfficeHours,
    /// Kept above the 95th percentile of the pooled need when sizing the uplink, percent.
    pub headroom_percent: u64,
}

/// The office's working hours in the site's time zone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OfficeHours {
    /// Monday = 0 … Sunday = 6.
    pub days: [bool; 7],
    /// Minutes since local midnight.
    pub start: u16,
    pub end: u16,
}

impl Default for OfficeHours {
    /// Monday to Friday, 07:30–16:00: a government office's day.
    fn default() -> Self {
        OfficeHours {
            days: [true, true, true, true, true, false, false],
            start: 7 * 60 + 30,
            end: 16 * 60,
        }
    }
}

impl OfficeHours {
    /// Parses "mon-fri 07:30-16:00" (days as in a policy's schedule).
    pub fn parse(s: &str) -> Result<OfficeHours, String> {
        let (days, hours) = s.trim().rsplit_once(' ').ok_or_else(|| {
            format!("\"{s}\": write the days and the hours, like \"mon-fri 07:30-16:00\"")
        })?;
        let items: Vec<toml::Spanned<String>> = days
            .split(',')
            .map(|d| toml::Spanned::new(0..0, d.trim().to_string()))
            .collect();
        let lang = crate::policy::Lang::En;
        let days = crate::policy::clock::parse_days(&items)
            .map_err(|e| format!("\"{s}\": {}", e.message.text(lang)))?;
        let (start, end) = crate::policy::clock::parse_hours(hours)
            .map_err(|e| format!("\"{s}\": {}", e.text(lang)))?;
        if end <= start {
            return Err(format!(
                "\"{s}\": office hours end after they start on the same day, like \"mon-fri 07:30-16:00\""
            ));
        }
        Ok(OfficeHours { days, start, end })
    }

    pub fn covers(&self, t: LocalTime) -> bool {
        self.days[t.weekday as usize % 7] && (self.start..self.end).contains(&t.minute)
    }
}

/// One agency in one direction over the period; rates in kbit/s.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Figures {
    /// 5-minute rows with traffic recorded.
    pub samples: usize,
    /// What passed: 95th percentile (nearest rank), highest and mean of 5-minute averages.
    pub p95: u64,
    pub peak: u64,
    pub mean: u64,
    /// Mean in office hours and outside them.
    pub office_mean: u64,
    pub other_mean: u64,
    /// What it needed: 95th percentile of 5-minute demand, overall and in office hours,
    /// and the highest demand of any tick.
    pub demand_p95: u64,
    pub office_demand_p95: u64,
    pub demand_peak: u64,
    /// Share of the recorded time it was held back (more than 0.5% of its traffic dropped),
    /// and held back by its own ceiling, 0..=1.
    pub held_share: f64,
    pub ceiling_share: f64,
    /// Bytes passed and dropped.
    pub passed_bytes: u64,
    pub dropped_bytes: u64,
    /// Guarantee and ceiling in force at the end of the period.
    pub guaranteed: u64,
    pub ceiling: u64,
    /// For next year, by [`RULE_GUARANTEE`] and [`RULE_CEILING`].
    pub recommended_guaranteed: u64,
    pub recommended_ceiling: u64,
    /// Mean of what passed per local hour of the day (0–23); 0 for hours never recorded.
    pub profile: [u64; 24],
}

/// The rules the recommendation follows, written beside it in every report.
pub const RULE_GUARANTEE: (&str, &str) = (
    "guarantee: the 95th percentile of its demand in office hours, rounded up to a step \
     (1 Mbps below 10 Mbps, 5 Mbps below 100 Mbps, 10 Mbps below 1 Gbps, 100 Mbps above); \
     public WiFi keeps its own, as it is served from what the agencies leave",
    "jaminan: persentil ke-95 kebutuhannya pada jam kerja, dibulatkan ke atas ke satu langkah \
     (1 Mbps di bawah 10 Mbps, 5 Mbps di bawah 100 Mbps, 10 Mbps di bawah 1 Gbps, 100 Mbps di atasnya); \
     WiFi publik tetap dengan jaminannya sendiri, karena dilayani dari sisa yang tidak dipakai OPD",
);
pub const RULE_CEILING: (&str, &str) = (
    "ceiling: its highest demand plus 25%, rounded up the same way, at least the guarantee",
    "batas atas: kebutuhan tertingginya ditambah 25%, dibulatkan ke atas dengan cara yang sama, \
     sekurang-kurangnya sebesar jaminan",
);

/// One agency in the report.
#[derive(Debug, Clone, PartialEq)]
pub struct AgencyReport {
    pub id: String,
    pub name: String,
    pub tier: Tier,
    /// Its former fixed package, kbit/s, and that package's price per year if known.
    pub package: Option<u64>,
    pub package_price: Option<u64>,
    pub dirs: PerDirection<Figures>,
}

/// The whole uplink in one direction; kbit/s.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SiteFigures {
    /// Of the sum over agencies (public WiFi left out: it takes what is left), per
    /// 5-minute row: 95th percentile and highest of what passed, 95th percentile of the
    /// need.
    pub p95_passed: u64,
    pub peak_passed: u64,
    pub p95_demand: u64,
    /// The pooled uplink this need calls for: `p95_demand` plus the headroom.
    pub needed: u64,
    /// The capacity in force.
    pub capacity: u64,
    /// The sum of the agencies' former packages, and how many agencies had one.
    pub packages: u64,
    pub with_package: usize,
}

/// Money per year, when the policy gives prices (`[site.costs]`).
#[derive(Debug, Clone, PartialEq)]
pub struct Money {
    pub currency: String,
    /// The pooled uplink sized to the need (whole Mbps, the larger direction) at the price
    /// per Mbps per month, for twelve months.
    pub pooled_mbps: u64,
    pub pooled_per_year: u64,
    /// The agencies' former packages at their prices, and the agencies whose package has
    /// no price (left out of the sum).
    pub packages_per_year: u64,
    pub unpriced: Vec<String>,
}

/// What public WiFi received.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Wifi {
    pub agencies: usize,
    pub gigabytes: PerDirection<f64>,
    /// Hours in which it carried any download.
    pub hours_served: f64,
}

/// The report.
#[derive(Debug, Clone, PartialEq)]
pub struct Report {
    pub site: String,
    pub timezone: TimeZone,
    pub from: i64,
    pub to: i64,
    pub office: OfficeHours,
    pub headroom_percent: u64,
    /// Hours of the period with any row recorded, and the period's length in hours.
    pub recorded_hours: f64,
    pub period_hours: f64,
    pub agencies: Vec<AgencyReport>,
    pub site_dirs: PerDirection<SiteFigures>,
    pub wifi: Option<Wifi>,
    pub money: Option<Money>,
}

/// The value below which `p`% of the values fall, by nearest rank: the ⌈p·n/100⌉-th
/// smallest. Sorts `values`.
pub fn nearest_rank(values: &mut [u64], p: u64) -> u64 {
    if values.is_empty() {
        return 0;
    }
    values.sort_unstable();
    let rank = (p as usize * values.len()).div_ceil(100).max(1);
    values[rank - 1]
}

/// Rounds a rate (kbit/s) up to the recommendation's step.
pub fn step_up(kbps: u64) -> u64 {
    let step = match kbps {
        0..10_000 => 1_000,
        10_000..100_000 => 5_000,
        100_000..1_000_000 => 10_000,
        _ => 100_000,
    };
    kbps.div_ceil(step) * step
}

impl Report {
    pub fn compute(h: &History, opts: &Options) -> Report {
        let site = h.site.clone();
        let tz = site
            .as_ref()
            .map(|s| TimeZone {
                name: s.timezone.clone(),
                offset_seconds: s.offset_seconds,
            })
            .unwrap_or_default();
        let row_secs = h.minute * crate::history::MINUTES_PER_ROW;
        let rows: Vec<_> = h
            .rows
            .iter()
            .filter(|r| r.start >= opts.from && r.start < opts.to && r.secs > 0)
            .collect();
        let prices: Vec<(u64, u64)> = site
            .as_ref()
            .and_then(|s| s.costs.as_ref())
            .and_then(|c| c["package_per_year"].as_array().cloned())
            .unwrap_or_default()
            .iter()
            .filter_map(|p| Some((p[0].as_u64()?, p[1].as_u64()?)))
            .collect();
        let price_of = |package: u64| prices.iter().find(|(r, _)| *r == package).map(|p| p.1);

        let mut per_agency: Vec<Vec<&crate::history::store::Slot>> =
            vec![Vec::new(); h.agencies.len()];
        for r in &rows {
            per_agency[r.agency].push(r);
        }
        let mut agencies = Vec::new();
        for (i, a) in h.agencies.iter().enumerate() {
            if !opts.agencies.is_empty() && !opts.agencies.contains(&a.id) {
                continue;
            }
            if per_agency[i].is_empty() && opts.agencies.is_empty() {
                continue;
            }
            let dirs = PerDirection::from_fn(|dir| {
                let mut f = figures(&per_agency[i], dir, &tz, &opts.office, row_secs);
                f.guaranteed = a.guaranteed[dir];
                f.ceiling = a.ceiling[dir];
                if a.tier == Tier::Public {
                    // Served from what the agencies leave: no guarantee to size.
                    f.recommended_guaranteed = f.guaranteed;
                    f.recommended_ceiling = f.recommended_ceiling.max(f.guaranteed);
                }
                f
            });
            agencies.push(AgencyReport {
                id: a.id.clone(),
                name: a.name.clone(),
                tier: a.tier,
                package: a.package,
                package_price: a.package.and_then(price_of),
                dirs,
            });
        }

        // The pooled uplink: per 5-minute row, the sum over agencies (public WiFi aside).
        // Rows are on a grid of `row_secs`: one slot per grid step of the period.
        let first_start = rows.iter().map(|r| r.start).min().unwrap_or(0);
        let last_start = rows.iter().map(|r| r.start).max().unwrap_or(0);
        let slots = ((last_start - first_start) / row_secs.max(1) + 1) as usize;
        let mut sums: Vec<PerDirection<(u64, u64)>> = vec![Default::default(); slots];
        let mut filled = vec![false; slots];
        for r in &rows {
            if h.agencies[r.agency].tier == Tier::Public {
                continue;
            }
            let at = ((r.start - first_start) / row_secs.max(1)) as usize;
            filled[at] = true;
            let s = &mut sums[at];
            for dir in Direction::ALL {
                s[dir].0 += r.traffic[dir].passed;
                s[dir].1 += r.traffic[dir].demand;
            }
        }
        let with_package: Vec<_> = h
            .agencies
            .iter()
            .enumerate()
            .filter(|(i, a)| a.package.is_some() && !per_agency[*i].is_empty())
            .map(|(_, a)| a)
            .collect();
        let site_dirs = PerDirection::from_fn(|dir| {
            let used = || {
                sums.iter()
                    .zip(&filled)
                    .filter(|(_, f)| **f)
                    .map(|(s, _)| s)
            };
            let mut passed: Vec<u64> = used().map(|s| s[dir].0).collect();
            let mut demand: Vec<u64> = used().map(|s| s[dir].1).collect();
            let p95_demand = nearest_rank(&mut demand, 95);
            SiteFigures {
                p95_passed: nearest_rank(&mut passed, 95),
                peak_passed: passed.iter().copied().max().unwrap_or(0),
                p95_demand,
                needed: (p95_demand * (100 + opts.headroom_percent)).div_ceil(100),
                capacity: site.as_ref().map(|s| s.capacity[dir]).unwrap_or(0),
                packages: with_package.iter().filter_map(|a| a.package).sum(),
                with_package: with_package.len(),
            }
        });

        let public: Vec<usize> = h
            .agencies
            .iter()
            .enumerate()
            .filter(|(_, a)| a.tier == Tier::Public)
            .map(|(i, _)| i)
            .collect();
        let wifi = (!public.is_empty()).then(|| {
            let mut w = Wifi {
                agencies: public.len(),
                ..Default::default()
            };
            let mut served = std::collections::BTreeSet::new();
            for &i in &public {
                for r in &per_agency[i] {
                    for dir in Direction::ALL {
                        w.gigabytes[dir] +=
                            r.traffic[dir].passed as f64 * 1000.0 / 8.0 * r.secs as f64 / 1e9;
                    }
                    if r.traffic.download.passed > 0 {
                        served.insert(r.start);
                    }
                }
            }
            w.hours_served = served.len() as f64 * row_secs as f64 / 3600.0;
            w
        });

        let money = site.as_ref().and_then(|s| s.costs.as_ref()).and_then(|c| {
            let per_mbps = c["uplink_per_mbps_month"].as_u64()?;
            let needed = site_dirs.upload.needed.max(site_dirs.download.needed);
            let pooled_mbps = needed.div_ceil(1000);
            let mut packages_per_year = 0;
            let mut unpriced = Vec::new();
            for a in &with_package {
                match a.package.and_then(price_of) {
                    Some(p) => packages_per_year += p,
                    None => unpriced.push(a.id.clone()),
                }
            }
            Some(Money {
                currency: c["currency"].as_str().unwrap_or("Rp").to_string(),
                pooled_mbps,
                pooled_per_year: pooled_mbps * per_mbps * 12,
                packages_per_year,
                unpriced,
            })
        });

        let mut recorded = vec![false; slots];
        for r in &rows {
            recorded[((r.start - first_start) / row_secs.max(1)) as usize] = true;
        }
        let recorded = recorded.iter().filter(|x| **x).count();
        let (first, last) = (
            opts.from.max(h.first.unwrap_or(opts.from)),
            opts.to.min(h.last.map(|l| l + row_secs).unwrap_or(opts.to)),
        );
        Report {
            site: site.map(|s| s.name).unwrap_or_default(),
            timezone: tz,
            from: first,
            to: last.max(first),
            office: opts.office,
            headroom_percent: opts.headroom_percent,
            recorded_hours: recorded as f64 * row_secs as f64 / 3600.0,
            period_hours: (last - first).max(0) as f64 / 3600.0,
            agencies,
            site_dirs,
            wifi,
            money,
        }
    }
}

/// One agency's figures in one direction. Rows recorded for less than half their length
/// (a daemon starting or stopping in them) count in the means and totals but not in the
/// percentiles and peaks: a few seconds are not a 5-minute average.
fn figures(
    rows: &[&crate::history::store::Slot],
    dir: Direction,
    tz: &TimeZone,
    office: &OfficeHours,
    row_secs: i64,
) -> Figures {
    let mut f = Figures {
        samples: rows.len(),
        ..Default::default()
    };
    if rows.is_empty() {
        return f;
    }
    let mut passed = Vec::with_capacity(rows.len());
    let mut demand = Vec::with_capacity(rows.len());
    let mut office_demand = Vec::new();
    let (mut secs, mut weighted) = (0u128, 0u128);
    let (mut o_secs, mut o_weighted, mut r_secs, mut r_weighted) = (0u128, 0u128, 0u128, 0u128);
    let (mut held, mut at_ceiling) = (0u64, 0u64);
    let mut hours = [(0u128, 0u128); 24];
    let (mut passed_bits, mut dropped_bits) = (0u128, 0u128);
    for r in rows {
        let t = &r.traffic[dir];
        let s = r.secs as u128;
        let whole = r.secs as i64 * 2 >= row_secs;
        if whole {
            passed.push(t.passed);
            demand.push(t.demand);
            f.demand_peak = f.demand_peak.max(t.peak);
        }
        secs += s;
        weighted += t.passed as u128 * s;
        passed_bits += t.passed as u128 * 1000 * s;
        dropped_bits += t.dropped as u128 * 1000 * s;
        held += t.held as u64;
        at_ceiling += t.at_ceiling as u64;
        let local = tz.local(r.start);
        if office.covers(local) {
            o_secs += s;
            o_weighted += t.passed as u128 * s;
            if whole {
                office_demand.push(t.demand);
            }
        } else {
            r_secs += s;
            r_weighted += t.passed as u128 * s;
        }
        let h = &mut hours[(local.minute / 60) as usize % 24];
        h.0 += s;
        h.1 += t.passed as u128 * s;
    }
    let mean = |w: u128, s: u128| (w + s / 2).checked_div(s).unwrap_or(0) as u64;
    f.mean = mean(weighted, secs);
    f.office_mean = mean(o_weighted, o_secs);
    f.other_mean = mean(r_weighted, r_secs);
    f.peak = passed.iter().copied().max().unwrap_or(0);
    f.p95 = nearest_rank(&mut passed, 95);
    f.demand_p95 = nearest_rank(&mut demand, 95);
    f.office_demand_p95 = if office_demand.is_empty() {
        f.demand_p95
    } else {
        nearest_rank(&mut office_demand, 95)
    };
    f.held_share = held as f64 / secs.max(1) as f64;
    f.ceiling_share = at_ceiling as f64 / secs.max(1) as f64;
    f.passed_bytes = (passed_bits / 8) as u64;
    f.dropped_bytes = (dropped_bits / 8) as u64;
    f.recommended_guaranteed = step_up(f.office_demand_p95);
    f.recommended_ceiling = step_up(f.demand_peak * 5 / 4).max(f.recommended_guaranteed);
    for (i, (s, w)) in hours.iter().enumerate() {
        f.profile[i] = mean(*w, *s);
    }
    f
}

/// Unix seconds of local midnight starting `date` ("2026-01-31") in `tz`.
pub fn parse_date(date: &str, tz: &TimeZone) -> Result<i64, String> {
    let bad = || format!("\"{date}\": write a date like 2026-01-31 (year-month-day)");
    let mut it = date.trim().splitn(3, '-');
    let (y, m, d) = (
        it.next()
            .and_then(|x| x.parse::<i64>().ok())
            .ok_or_else(bad)?,
        it.next()
            .and_then(|x| x.parse::<u32>().ok())
            .ok_or_else(bad)?,
        it.next()
            .and_then(|x| x.parse::<u32>().ok())
            .ok_or_else(bad)?,
    );
    if !(1..=12).contains(&m) || !(1..=days_in_month(y, m)).contains(&d) {
        return Err(bad());
    }
    Ok(days_from_civil(y, m, d) * 86_400 - tz.offset_seconds as i64)
}

/// The local date of unix seconds `t`, "2026-01-31".
pub fn format_date(t: i64, tz: &TimeZone) -> String {
    let (y, m, d) = civil_from_days((t + tz.offset_seconds as i64).div_euclid(86_400));
    format!("{y:04}-{m:02}-{d:02}")
}

/// The local date and time of unix seconds `t`, "2026-01-31 07:30".
pub fn format_time(t: i64, tz: &TimeZone) -> String {
    let local = t + tz.offset_seconds as i64;
    let minute = local.rem_euclid(86_400) / 60;
    format!(
        "{} {:02}:{:02}",
        format_date(t, tz),
        minute / 60,
        minute % 60
    )
}

fn days_in_month(y: i64, m: u32) -> u32 {
    match m {
        2 if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a date in the proleptic Gregorian calendar (H. Hinnant's
/// algorithm).
pub fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = m as i64;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (
        if m <= 2 {
            yoe + era * 400 + 1
        } else {
            yoe + era * 400
        },
        m,
        d,
    )
}

#[cfg(test)]
mod tests;
