use gateway_common::{PerDirection, Tier};

use super::*;
use crate::history::{
    AgencyInfo, Row, SiteInfo, Traffic,
    store::History,
    synthetic::{self, ROWS_PER_DAY},
};
use crate::policy::Lang;

#[test]
fn nearest_rank_is_a_measured_value_never_an_interpolation() {
    // 20 values 1..=20: the 95th percentile is the 19th (⌈0.95·20⌉ = 19).
    let mut v: Vec<u64> = (1..=20).rev().collect();
    assert_eq!(nearest_rank(&mut v, 95), 19);
    // 21 values: ⌈19.95⌉ = 20th.
    let mut v: Vec<u64> = (1..=21).collect();
    assert_eq!(nearest_rank(&mut v, 95), 20);
    let mut one = vec![7];
    assert_eq!(nearest_rank(&mut one, 95), 7);
    assert_eq!(nearest_rank(&mut [], 95), 0);
}

#[test]
fn recommendations_round_up_to_steps_an_isp_sells() {
    assert_eq!(step_up(0), 0);
    assert_eq!(step_up(3_200), 4_000);
    assert_eq!(step_up(10_001), 15_000);
    assert_eq!(step_up(99_000), 100_000);
    assert_eq!(step_up(123_000), 130_000);
    assert_eq!(step_up(1_234_000), 1_300_000);
}

#[test]
fn dates_are_local_to_the_site() {
    let wib = TimeZone::default();
    // 2026-01-01 00:00 WIB = 2025-12-31 17:00 UTC.
    assert_eq!(parse_date("2026-01-01", &wib).unwrap(), 1_767_200_400);
    assert_eq!(format_date(1_767_200_400, &wib), "2026-01-01");
    assert_eq!(
        format_time(1_767_200_400 + 7 * 3600 + 1800, &wib),
        "2026-01-01 07:30"
    );
    assert!(parse_date("2026-02-30", &wib).is_err());
    assert!(
        parse_date("31/01/2026", &wib)
            .unwrap_err()
            .contains("2026-01-31")
    );
}

#[test]
fn office_hours_as_admins_write_them() {
    let o = OfficeHours::parse("mon-fri 07:30-16:00").unwrap();
    assert_eq!(o, OfficeHours::default());
    let sat = OfficeHours::parse("mon-sat 08:00-12:00").unwrap();
    assert!(sat.days[5] && !sat.days[6]);
    assert!(OfficeHours::parse("07:30-16:00").is_err());
    let night = OfficeHours::parse("mon-sun 22:00-06:00").unwrap_err();
    assert!(night.contains("same day"), "{night}");
}

fn traffic(passed: u64, demand: u64) -> Traffic {
    Traffic {
        passed,
        demand,
        peak: demand,
        allocated: passed,
        ..Default::default()
    }
}

/// Monday 2026-01-05 00:00 WIB.
const MONDAY: i64 = 1_767_546_000;

/// A day of one agency written by hand: four 5-minute rows.
fn hand_history() -> History {
    let site = SiteInfo {
        name: "Diskominfo".into(),
        timezone: "Asia/Jakarta".into(),
        offset_seconds: 7 * 3600,
        capacity: PerDirection::new(50_000, 100_000),
        costs: Some(serde_json::json!({
            "currency": "Rp",
            "uplink_per_mbps_month": 200_000,
            "package_per_year": [[20_000, 60_000_000], [10_000, 30_000_000]],
        })),
    };
    let a = |id: &str, tier, package| AgencyInfo {
        id: id.into(),
        name: id.to_uppercase(),
        tier,
        package,
        guaranteed: PerDirection::new(1_000, 8_000),
        ceiling: PerDirection::new(5_000, 30_000),
    };
    let agencies = vec![
        a("dinkes", Tier::Standard, Some(20_000)),
        a("bpbd", Tier::Critical, Some(50_000)),
        a("wifi", Tier::Public, None),
    ];
    let row = |at: i64, agency: &str, secs, down: Traffic| Row {
        start: MONDAY + at,
        agency: agency.into(),
        secs,
        traffic: PerDirection::new(traffic(100, 100), down),
    };
    let h = 3600;
    let mut held = traffic(12_000, 20_000);
    held.held = 150;
    held.at_ceiling = 60;
    held.dropped = 600;
    held.peak = 24_000;
    let rows = vec![
        // dinkes: 02:00 (night) 2 Mbps; 08:00 and 09:00 (office) 10 and 12 Mbps (the latter
        // held back half the row, 60 s of it at its ceiling); 20:00 4 Mbps for 150 s only.
        row(2 * h, "dinkes", 300, traffic(2_000, 2_000)),
        row(8 * h, "dinkes", 300, traffic(10_000, 11_000)),
        row(9 * h, "dinkes", 300, held),
        row(20 * h, "dinkes", 150, traffic(4_000, 4_000)),
        // bpbd at the same moments.
        row(2 * h, "bpbd", 300, traffic(1_000, 1_000)),
        row(8 * h, "bpbd", 300, traffic(3_000, 3_000)),
        row(9 * h, "bpbd", 300, traffic(5_000, 9_000)),
        row(20 * h, "bpbd", 300, traffic(1_000, 1_000)),
        // Public WiFi: 8 Mbps for two rows.
        row(2 * h, "wifi", 300, traffic(8_000, 50_000)),
        row(20 * h, "wifi", 300, traffic(8_000, 50_000)),
    ];
    History::from_rows(site, agencies, &rows, 60)
}

fn options() -> Options {
    Options {
        from: MONDAY,
        to: MONDAY + 86_400,
        agencies: Vec::new(),
        office: OfficeHours::default(),
        headroom_percent: 20,
    }
}

#[test]
fn every_figure_of_a_small_history_as_computed_by_hand() {
    let r = Report::compute(&hand_history(), &options());
    assert_eq!(r.site, "Diskominfo");
    assert_eq!(r.agencies.len(), 3);
    let d = &r.agencies[0].dirs.download;
    assert_eq!(d.samples, 4);
    // Sorted 2, 4, 10, 12 Mbps: rank ⌈0.95·4⌉ = 4 → 12 Mbps.
    assert_eq!(d.p95, 12_000);
    assert_eq!(d.peak, 12_000);
    // (300·2 + 300·10 + 300·12 + 150·4) / 1050 = 7800/1050 = 7.428… Mbps.
    assert_eq!(d.mean, 7_429);
    // Office (08:00, 09:00): (10 + 12)/2; the rest: (300·2 + 150·4)/450 = 2.667.
    assert_eq!(d.office_mean, 11_000);
    assert_eq!(d.other_mean, 2_667);
    // Demand 2, 4, 11, 20: p95 20; in office hours 11, 20 → 20.
    assert_eq!(d.demand_p95, 20_000);
    assert_eq!(d.office_demand_p95, 20_000);
    assert_eq!(d.demand_peak, 24_000);
    // Held 150 s of 1050, at its ceiling 60 s.
    assert!((d.held_share - 150.0 / 1050.0).abs() < 1e-12);
    assert!((d.ceiling_share - 60.0 / 1050.0).abs() < 1e-12);
    // Bytes: 7.8 Gbit·s ·1000/8 … = (600+3000+3600+600) Mbit·s → 7800 Mbit·s ·1e6/8 … in
    // kbit: Σ passed·secs = 7_800_000 kbit → 975,000,000 bytes.
    assert_eq!(d.passed_bytes, 975_000_000);
    assert_eq!(d.dropped_bytes, 600 * 1000 * 300 / 8);
    assert_eq!((d.guaranteed, d.ceiling), (8_000, 30_000));
    // Guarantee: office demand p95 20 Mbps → step 5 Mbps → 20 Mbps. Ceiling: 24·1.25 = 30.
    assert_eq!(d.recommended_guaranteed, 20_000);
    assert_eq!(d.recommended_ceiling, 30_000);
    assert_eq!(d.profile[8], 10_000);
    assert_eq!(d.profile[20], 4_000);
    assert_eq!(d.profile[3], 0);
    assert_eq!(r.agencies[0].package_price, Some(60_000_000));
    assert_eq!(r.agencies[1].package_price, None, "no price for 50 Mbps");

    // The pooled uplink, public WiFi aside: sums per row 3, 13, 17, 5 Mbps passed, demand
    // 3, 14, 29, 5 → p95 by nearest rank (4th of 4): 17 and 29 Mbps.
    let s = &r.site_dirs.download;
    assert_eq!(s.p95_passed, 17_000);
    assert_eq!(s.peak_passed, 17_000);
    assert_eq!(s.p95_demand, 29_000);
    assert_eq!(s.needed, 34_800, "29 Mbps + 20%");
    assert_eq!(s.capacity, 100_000);
    assert_eq!((s.packages, s.with_package), (70_000, 2));
    let m = r.money.as_ref().expect("prices given");
    // The larger direction: download 34.8 Mbps → 35 whole Mbps · Rp200,000 · 12.
    assert_eq!(m.pooled_mbps, 35);
    assert_eq!(m.pooled_per_year, 84_000_000);
    assert_eq!(m.packages_per_year, 60_000_000);
    assert_eq!(m.unpriced, vec!["bpbd".to_string()]);
    // Public WiFi is served from what is left: its guarantee is not resized.
    assert_eq!(r.agencies[2].dirs.download.recommended_guaranteed, 8_000);
    assert_eq!(r.agencies[2].dirs.download.demand_p95, 50_000);
    let w = r.wifi.as_ref().expect("a public WiFi agency");
    // 2 rows · 300 s · 8 Mbps = 4800 Mbit = 0.6 GB.
    assert!((w.gigabytes.download - 0.6).abs() < 1e-9);
    assert!((w.hours_served - 600.0 / 3600.0).abs() < 1e-9);
    assert!((r.period_hours - (20.0 * 3600.0 + 300.0 - 7200.0) / 3600.0).abs() < 1e-9);
}

#[test]
fn a_report_for_some_agencies_or_part_of_the_period() {
    let h = hand_history();
    let mut o = options();
    o.agencies = vec!["bpbd".into()];
    o.from = MONDAY + 8 * 3600;
    o.to = MONDAY + 10 * 3600;
    let r = Report::compute(&h, &o);
    assert_eq!(r.agencies.len(), 1);
    let d = &r.agencies[0].dirs.download;
    assert_eq!((d.samples, d.p95, d.mean), (2, 5_000, 4_000));
    // The site's figures still cover every agency in the period.
    assert_eq!(r.site_dirs.download.p95_demand, 29_000);
}

#[test]
fn forty_five_agencies_over_thirteen_months_match_the_generators_closed_form() {
    let days = 396; // 13 months
    let (site, agencies, rows) = synthetic::history(45, days, MONDAY);
    let h = History::from_rows(site, agencies, &rows, 60);
    let mut o = options();
    o.to = MONDAY + days as i64 * 86_400;
    let r = Report::compute(&h, &o);
    let n = days * ROWS_PER_DAY;
    let rank = (95 * n).div_ceil(100) - 1; // the term at the 95th percentile
    assert_eq!(r.agencies.len(), 45);
    let f = synthetic::rate;
    for (i, a) in r.agencies.iter().enumerate() {
        let d = &a.dirs.download;
        let extra = synthetic::extra_demand(i);
        assert_eq!(d.samples as u64, n);
        // The rate never decreases with the term: the 95th percentile is the term's rate.
        assert_eq!(d.p95, f(i, rank, n), "agency {i}");
        assert_eq!(d.peak, f(i, n - 1, n));
        // Mean of every term's rate (equal seconds), rounded half up.
        let sum: u64 = (0..n).map(|k| f(i, k, n)).sum();
        assert_eq!(d.mean, (2 * sum + n) / (2 * n), "agency {i}");
        assert_eq!(d.demand_p95, f(i, rank, n) + extra);
        assert_eq!(d.demand_peak, f(i, n - 1, n) + extra + 100);
        // Held back in every row whose term is a multiple of 10.
        assert!((d.held_share - n.div_ceil(10) as f64 / n as f64).abs() < 1e-12);
        assert!((d.ceiling_share - n.div_ceil(20) as f64 / n as f64).abs() < 1e-12);
        assert_eq!(a.dirs.upload.p95, f(i, rank, n) / 4);
    }
    // Every agency takes the same term in a row: the pooled sum is a series too.
    let standard = 0..44;
    let s = &r.site_dirs.download;
    let sum_at = |k| standard.clone().map(|i| f(i, k, n)).sum::<u64>();
    let sum_extra: u64 = standard.clone().map(synthetic::extra_demand).sum();
    assert_eq!(s.p95_passed, sum_at(rank));
    assert_eq!(s.p95_demand, sum_at(rank) + sum_extra);
    assert_eq!(s.needed, (s.p95_demand * 120).div_ceil(100));
    assert_eq!((s.packages, s.with_package), (44 * 20_000, 44));
    let m = r.money.as_ref().unwrap();
    assert_eq!(m.packages_per_year, 44 * 60_000_000);
    assert_eq!(m.pooled_per_year, s.needed.div_ceil(1000) * 250_000 * 12);
    let w = r.wifi.as_ref().unwrap();
    assert_eq!(w.agencies, 1);
    assert!((w.hours_served - n as f64 / 12.0).abs() < 1e-6);
    // Busy in office hours: the office mean is above the rest.
    assert!(r.agencies[0].dirs.download.office_mean > r.agencies[0].dirs.download.other_mean);
}

#[test]
fn the_csv_has_one_row_per_agency_and_direction_and_quotes_what_needs_it() {
    let mut h = hand_history();
    h.agencies[0].name = "Dinas Pariwisata, Pemuda & \"Olahraga\"".into();
    let r = Report::compute(&h, &options());
    let mut out = Vec::new();
    text::write_csv(&mut out, &r).unwrap();
    let csv = String::from_utf8(out).unwrap();
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines.len(), 1 + 3 * 2);
    assert_eq!(lines[0].split(',').count(), text::CSV_HEADER.len());
    let first = parse_csv_line(lines[1]);
    assert_eq!(first.len(), text::CSV_HEADER.len(), "{}", lines[1]);
    let col = |name: &str| text::CSV_HEADER.iter().position(|h| *h == name).unwrap();
    let down = lines[1..]
        .iter()
        .map(|l| parse_csv_line(l))
        .find(|f| f[0] == "dinkes" && f[col("direction")] == "download")
        .unwrap();
    assert_eq!(down[col("name")], "Dinas Pariwisata, Pemuda & \"Olahraga\"");
    assert_eq!(down[col("p95_mbps")], "12.000");
    assert_eq!(down[col("mean_mbps")], "7.429");
    assert_eq!(down[col("held_back_percent")], "14.29");
    assert_eq!(down[col("recommended_guaranteed_mbps")], "20.000");
    assert_eq!(down[col("package_price_per_year")], "60000000");
}

/// RFC 4180 fields of one line.
fn parse_csv_line(line: &str) -> Vec<String> {
    let mut out = vec![String::new()];
    let mut quoted = false;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match (c, quoted) {
            ('"', true) if chars.peek() == Some(&'"') => {
                chars.next();
                out.last_mut().unwrap().push('"');
            }
            ('"', _) => quoted = !quoted,
            (',', false) => out.push(String::new()),
            (c, _) => out.last_mut().unwrap().push(c),
        }
    }
    out
}

#[test]
fn the_table_speaks_the_admins_language() {
    let r = Report::compute(&hand_history(), &options());
    for (lang, words) in [
        (
            Lang::Id,
            [
                "Laporan kebutuhan",
                "uplink yang dibutuhkan",
                "34.8",
                "jaminan",
            ],
        ),
        (
            Lang::En,
            ["Needs report", "uplink needed", "34.8", "guarantee"],
        ),
    ] {
        let mut out = Vec::new();
        text::write_table(&mut out, &r, lang).unwrap();
        let s = String::from_utf8(out).unwrap();
        for w in words {
            assert!(s.contains(w), "{lang:?}: {w:?} missing in\n{s}");
        }
    }
}

#[test]
fn rows_recorded_for_a_few_seconds_are_no_percentile() {
    let mut h = hand_history();
    // A daemon started 20 s before the end of a row: 90 Mbps for those 20 s.
    h.rows.push(crate::history::store::Slot {
        start: MONDAY + 10 * 3600,
        agency: 0,
        secs: 20,
        traffic: PerDirection::new(traffic(100, 100), traffic(90_000, 90_000)),
    });
    let r = Report::compute(&h, &options());
    let d = &r.agencies[0].dirs.download;
    assert_eq!(d.p95, 12_000, "the short row is not a 5-minute average");
    assert_eq!(d.peak, 12_000);
    assert_eq!(d.samples, 5);
    // Its bits still count: 7_800_000 + 90_000·20 kbit.
    assert_eq!(d.passed_bytes, (7_800_000 + 1_800_000) * 1000 / 8);
}

#[test]
fn a_name_a_spreadsheet_would_run_is_kept_as_text() {
    let mut h = hand_history();
    h.agencies[0].name = "=HYPERLINK(\"http://x\")".into();
    let r = Report::compute(&h, &options());
    let mut out = Vec::new();
    text::write_csv(&mut out, &r).unwrap();
    let csv = String::from_utf8(out).unwrap();
    assert!(csv.contains("'=HYPERLINK"), "{csv}");
    assert!(!csv.contains(",=HYPERLINK"));
}
