use std::time::Duration;

use gateway_common::{PerDirection, Tier};

use super::*;
use crate::{
    control::{AgencySnapshot, Snapshot},
    demand::Flow,
};

fn flow(passed: u64, dropped: u64, demand: u64, limit: u64, ceiling: u64) -> Flow {
    Flow {
        passed_rate: passed,
        dropped_rate: dropped,
        offered_rate: passed + dropped,
        demand,
        allocated: limit,
        limit,
        guaranteed: limit / 2,
        ceiling,
        ..Default::default()
    }
}

fn snapshot(agencies: &[(&str, Flow, Flow)]) -> Snapshot {
    Snapshot {
        agencies: agencies
            .iter()
            .enumerate()
            .map(|(i, (id, up, down))| AgencySnapshot {
                id: id.to_string(),
                name: id.to_uppercase(),
                tier: Tier::Standard,
                slot: i as u32,
                hosts: crate::policy::Hosts::Fair,
                flows: PerDirection::new(*up, *down),
            })
            .collect(),
        ..Default::default()
    }
}

const SEC: Duration = Duration::from_secs(1);

#[test]
fn a_minute_of_ticks_becomes_one_row_per_agency_with_means_peaks_and_held_seconds() {
    let mut r = Recorder::new(Duration::from_secs(60));
    let t0 = 1_790_000_040.0; // a minute's start
    let mut closed = Vec::new();
    for s in 0..60 {
        // 30 s at 10 Mbps, held back by the division; 30 s at 2 Mbps, idle.
        let down = if s < 30 {
            flow(10_000_000, 1_000_000, 12_000_000, 10_000_000, 50_000_000)
        } else {
            flow(2_000_000, 0, 4_000_000, 10_000_000, 50_000_000)
        };
        let up = flow(1_000_000, 0, 1_000_000, 5_000_000, 5_000_000);
        if let Some(rows) = r.record(&snapshot(&[("dinkes", up, down)]), t0 + s as f64 + 0.5, SEC) {
            closed.extend(rows);
        }
    }
    assert!(closed.is_empty(), "the minute is still open");
    let rows = r
        .record(&snapshot(&[]), t0 + 60.5, SEC)
        .expect("the next minute closes it");
    assert_eq!(rows.len(), 1);
    let row = &rows[0];
    assert_eq!(row.start, 1_790_000_040);
    assert_eq!(row.agency, "dinkes");
    assert_eq!(row.secs, 60);
    let d = row.traffic.download;
    assert_eq!(d.passed, 6_000, "(30·10 + 30·2)/60 Mbps in kbit/s");
    assert_eq!(d.dropped, 500);
    assert_eq!(d.demand, 8_000);
    assert_eq!(d.peak, 12_000);
    assert_eq!(d.allocated, 10_000);
    assert_eq!(d.held, 30);
    assert_eq!(
        d.at_ceiling, 0,
        "held back by the division, not its ceiling"
    );
    let u = row.traffic.upload;
    assert_eq!((u.passed, u.held), (1_000, 0));
}

#[test]
fn held_back_at_its_own_ceiling_is_counted_apart() {
    let mut r = Recorder::new(Duration::from_secs(60));
    let down = flow(50_000_000, 5_000_000, 60_000_000, 50_000_000, 50_000_000);
    let up = flow(0, 0, 0, 1_000_000, 1_000_000);
    for s in 0..10 {
        r.record(&snapshot(&[("a", up, down)]), 600.0 + s as f64, SEC);
    }
    let rows = r.take().expect("a partial minute");
    assert_eq!(rows[0].secs, 10);
    assert_eq!(rows[0].traffic.download.held, 10);
    assert_eq!(rows[0].traffic.download.at_ceiling, 10);
    assert!(r.take().is_none(), "taken once");
}

fn row(start: i64, agency: &str, secs: u32, down_passed: u64) -> Row {
    let t = Traffic {
        passed: down_passed,
        demand: down_passed + 100,
        peak: down_passed + 500,
        allocated: down_passed,
        held: secs / 2,
        ..Default::default()
    };
    Row {
        start,
        agency: agency.into(),
        secs,
        traffic: PerDirection::new(Traffic::default(), t),
    }
}

/// A minute of the one agency dinkes (guaranteed 10 Mbps) with these rows.
fn dinkes_minute(rows: Vec<Row>) -> Minute {
    Minute {
        site: site(),
        agencies: vec![agency("dinkes", "Dinas Kesehatan", 10_000)],
        rows,
    }
}

fn site() -> SiteInfo {
    SiteInfo {
        name: "Diskominfo".into(),
        timezone: "Asia/Jakarta".into(),
        offset_seconds: 7 * 3600,
        capacity: PerDirection::new(100_000, 200_000),
        costs: None,
    }
}

fn agency(id: &str, name: &str, guaranteed: u64) -> AgencyInfo {
    AgencyInfo {
        id: id.into(),
        name: name.into(),
        tier: Tier::Standard,
        package: Some(20_000),
        guaranteed: PerDirection::new(1_000, guaranteed),
        ceiling: PerDirection::new(5_000, 50_000),
    }
}

fn temp_store(name: &str) -> (tempdir::Dir, Store) {
    let dir = tempdir::Dir::new(name);
    let store = Store::open(&path_in(dir.path()), Duration::from_secs(60)).expect("open");
    (dir, store)
}

/// A directory removed when dropped.
mod tempdir {
    pub struct Dir(std::path::PathBuf);
    impl Dir {
        pub fn new(name: &str) -> Dir {
            let p = std::env::temp_dir()
                .join(format!("opd-history-test-{name}-{}", std::process::id()));
            let _ = std::fs::remove_dir_all(&p);
            Dir(p)
        }
        pub fn path(&self) -> &std::path::Path {
            &self.0
        }
    }
    impl Drop for Dir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

#[test]
fn minutes_roll_up_into_five_minute_rows_weighted_by_the_seconds_recorded() {
    let (_dir, mut store) = temp_store("rollup");
    // 300 s window starting at 1_790_000_100: four full minutes at 1..4 Mbps, and one
    // minute recorded for 30 s at 10 Mbps.
    let w = 1_790_000_100;
    for i in 0..4 {
        store
            .write(&dinkes_minute(vec![row(
                w + 60 * i,
                "dinkes",
                60,
                1_000 * (i as u64 + 1),
            )]))
            .unwrap();
    }
    store
        .write(&dinkes_minute(vec![row(w + 240, "dinkes", 30, 10_000)]))
        .unwrap();
    let five = store.fives("dinkes", w, w + 300).unwrap();
    assert_eq!(five.len(), 1);
    let d = five[0].traffic.download;
    assert_eq!(five[0].secs, 270);
    // (60·(1+2+3+4) + 30·10) / 270 = 900/270 Mbps = 3333.3 kbit/s.
    assert_eq!(d.passed, 3_333);
    assert_eq!(d.peak, 10_500, "the highest minute's peak");
    assert_eq!(d.held, 30 * 4 + 15, "held seconds add up");
    // The minute rows themselves are there too.
    assert_eq!(store.minutes("dinkes", w, w + 300).unwrap().len(), 5);
}

#[test]
fn a_restart_mid_minute_adds_to_the_same_row() {
    let (dir, mut store) = temp_store("restart");
    let start = 1_790_000_100;
    // The daemon stops 20 s into the minute at 3 Mbps …
    store
        .write(&dinkes_minute(vec![row(start, "dinkes", 20, 3_000)]))
        .unwrap();
    drop(store);
    // … a new one opens the same store and records the other 40 s at 6 Mbps.
    let mut store = Store::open(&path_in(dir.path()), Duration::from_secs(60)).unwrap();
    store
        .write(&dinkes_minute(vec![row(start, "dinkes", 40, 6_000)]))
        .unwrap();
    let rows = store.minutes("dinkes", start, start + 60).unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].secs, 60);
    assert_eq!(rows[0].traffic.download.passed, 5_000, "(20·3 + 40·6)/60");
    assert_eq!(rows[0].traffic.download.peak, 6_500);
}

#[test]
fn a_renamed_or_removed_agency_keeps_its_past_and_limits_are_logged_when_they_change() {
    let (_dir, mut store) = temp_store("rename");
    let t = 1_790_000_100;
    let both = vec![
        agency("dinkes", "Dinas Kesehatan", 10_000),
        agency("bpbd", "BPBD", 20_000),
    ];
    store
        .write(&Minute {
            site: site(),
            agencies: both,
            rows: vec![row(t, "dinkes", 60, 1_000), row(t, "bpbd", 60, 2_000)],
        })
        .unwrap();
    // Next minute: bpbd removed from the policy, dinkes renamed with a new guarantee.
    store
        .write(&Minute {
            site: site(),
            agencies: vec![agency("dinkes", "Dinas Kesehatan dan KB", 15_000)],
            rows: vec![row(t + 60, "dinkes", 60, 1_000)],
        })
        .unwrap();
    let h = store.read(t, t + 300).unwrap();
    let names: Vec<_> = h.agencies.iter().map(|a| a.name.as_str()).collect();
    assert_eq!(names, ["Dinas Kesehatan dan KB", "BPBD"]);
    assert_eq!(
        h.agencies[0].guaranteed.download, 15_000,
        "the latest in force"
    );
    assert_eq!(h.agencies[1].guaranteed.download, 20_000);
    assert_eq!(h.rows.len(), 2, "one 5-minute row each");
    let count: i64 = store
        .conn
        .query_row("SELECT count(*) FROM limits", [], |r| r.get(0))
        .unwrap();
    assert_eq!(count, 3, "dinkes twice (its guarantee changed), bpbd once");
}

#[test]
fn old_rows_are_forgotten_after_their_keep() {
    let (_dir, mut store) = temp_store("keep");
    let day = 86_400;
    let now = 1_790_000_000 - 1_790_000_000 % 300;
    let m = |start| Minute {
        site: site(),
        agencies: vec![agency("dinkes", "Dinas Kesehatan", 10_000)],
        rows: vec![row(start, "dinkes", 60, 1_000)],
    };
    for age_days in [0, 10, 20, 500] {
        store.write(&m(now - age_days * day)).unwrap();
    }
    let removed = store
        .forget_older(now, Duration::from_secs(400 * 86_400), KEEP_MINUTES)
        .unwrap();
    // Minute rows older than 14 days: 20 and 500 days; 5-minute rows older than 400: 500.
    assert_eq!(removed, 3);
    assert_eq!(store.minutes("dinkes", 0, i64::MAX).unwrap().len(), 2);
    assert_eq!(store.fives("dinkes", 0, i64::MAX).unwrap().len(), 3);
}

#[test]
fn the_store_reads_back_what_was_written_and_refuses_a_newer_layout() {
    let (dir, mut store) = temp_store("roundtrip");
    let (site, agencies, rows) = synthetic::history(3, 2, 1_790_000_100);
    store.write_five(&site, &agencies, &rows).unwrap();
    let h = Store::open_read(&path_in(dir.path()))
        .unwrap()
        .read(i64::MIN / 2, i64::MAX / 2)
        .unwrap();
    let mem = store::History::from_rows(site.clone(), agencies.clone(), &rows, 60);
    assert_eq!(h.site, Some(site));
    assert_eq!(h.agencies, agencies);
    let mut read = h.rows.clone();
    read.sort_by_key(|r| (r.start, r.agency));
    assert_eq!(read, mem.rows);
    store
        .conn
        .execute("UPDATE meta SET value = '99' WHERE key = 'layout'", [])
        .unwrap();
    let err = Store::open_read(&path_in(dir.path()))
        .err()
        .expect("refused");
    assert!(err.to_string().contains("newer opd-gateway"), "{err}");
    let missing = Store::open_read(&dir.path().join("nothing.sqlite"))
        .err()
        .unwrap();
    assert!(missing.to_string().contains("--state-dir"), "{missing}");
}

#[test]
fn what_was_counted_is_kept_when_ticks_do_not_fill_a_minute_exactly() {
    // Two-second minutes, ticks of 0.5 s that jitter: 3 ticks (1.5 s) in one minute and
    // 5 (2.5 s) in the next, at 8 Mbps. Rate × seconds must still be the bits counted.
    let mut r = Recorder::new(Duration::from_secs(2));
    let down = flow(8_000_000, 0, 8_000_000, 10_000_000, 50_000_000);
    let up = flow(0, 0, 0, 1_000_000, 1_000_000);
    let snap = snapshot(&[("a", up, down)]);
    let half = Duration::from_millis(500);
    let mut rows = Vec::new();
    for t in [
        100.4, 100.9, 101.4, 102.0, 102.4, 102.9, 103.4, 103.9, 104.2,
    ] {
        rows.extend(r.record(&snap, t, half).unwrap_or_default());
    }
    assert_eq!(rows.len(), 2);
    let bits: u64 = rows
        .iter()
        .map(|r| r.traffic.download.passed * 1000 * r.secs as u64)
        .sum();
    // 8 ticks of 0.5 s at 8 Mbps.
    assert_eq!(bits, 8 * 4_000_000);
    assert!(rows.iter().all(|r| r.secs <= 2));
}

#[test]
fn made_up_regency_stays_within_ceilings() {
    let (_, agencies, rows) = synthetic::regency(28, 1_767_546_000, 2026);
    for a in &agencies {
        let max = rows
            .iter()
            .filter(|r| r.agency == a.id)
            .map(|r| r.traffic.download.passed)
            .max()
            .unwrap();
        assert!(
            max <= a.ceiling.download,
            "{}: {max} above {}",
            a.id,
            a.ceiling.download
        );
    }
}

#[test]
fn minutes_recorded_twice_after_the_clock_went_back_keep_their_bits_and_no_share_above_all() {
    let (_dir, mut store) = temp_store("twice");
    let start = 1_790_000_100;
    // A full minute at 3 Mbps held back half of it, then the same minute again at 5 Mbps.
    store
        .write(&dinkes_minute(vec![row(start, "dinkes", 60, 3_000)]))
        .unwrap();
    store
        .write(&dinkes_minute(vec![row(start, "dinkes", 60, 5_000)]))
        .unwrap();
    let r = &store.minutes("dinkes", start, start + 60).unwrap()[0];
    assert_eq!(r.secs, 60);
    // Both minutes' bits over one minute: 8 Mbps.
    assert_eq!(r.traffic.download.passed, 8_000);
    assert_eq!(
        r.traffic.download.held, 60,
        "held 30 + 30 s, never more than the minute"
    );
    let five = &store.fives("dinkes", start, start + 300).unwrap()[0];
    assert!(five.traffic.download.held <= five.secs);
}

#[test]
fn a_clock_years_ahead_does_not_delete_the_history() {
    let (_dir, mut store) = temp_store("ahead");
    let start = 1_790_000_100;
    let m = Minute {
        site: site(),
        agencies: vec![agency("dinkes", "Dinas Kesehatan", 10_000)],
        rows: vec![row(start, "dinkes", 60, 1_000)],
    };
    store.write(&m).unwrap();
    let years_later = start + 3 * 365 * 86_400;
    let removed = store.forget_older(years_later, KEEP, KEEP_MINUTES).unwrap();
    assert_eq!(
        removed, 0,
        "kept: counted from the newest row, not from the clock"
    );
    assert_eq!(store.fives("dinkes", 0, i64::MAX).unwrap().len(), 1);
}

#[test]
fn a_store_refuses_rows_of_another_length_than_it_recorded() {
    let (dir, mut store) = temp_store("length");
    let m = Minute {
        site: site(),
        agencies: vec![agency("dinkes", "Dinas Kesehatan", 10_000)],
        rows: vec![row(1_790_000_100, "dinkes", 60, 1_000)],
    };
    store.write(&m).unwrap();
    drop(store);
    let e = Store::open(&path_in(dir.path()), Duration::from_secs(10))
        .err()
        .expect("refused");
    assert!(e.to_string().contains("--history-minute"), "{e}");
    Store::open(&path_in(dir.path()), Duration::from_secs(60)).expect("the same length");
}

#[test]
fn a_stall_counts_as_a_minute_at_its_rate() {
    let mut r = Recorder::new(Duration::from_secs(60));
    let down = flow(8_000_000, 0, 8_000_000, 10_000_000, 50_000_000);
    let up = flow(0, 0, 0, 1_000_000, 1_000_000);
    // Five minutes without a tick, then one measuring 8 Mbps over them.
    r.record(
        &snapshot(&[("a", up, down)]),
        1_000.0,
        Duration::from_secs(300),
    );
    let rows = r.take().unwrap();
    assert_eq!(rows[0].secs, 60);
    assert_eq!(
        rows[0].traffic.download.passed, 8_000,
        "the rate, not five minutes' bits"
    );
}
