//! Section 9: the history and the needs report: the disk a year of history takes, and the
//! time `opd-gateway report` needs for 45 agencies over 13 months, against reading the
//! rows alone in the same run.

use std::{fmt::Write as _, path::Path, time::Instant};

use opd_gateway::{
    history::{self, Minute, Row, Store, synthetic},
    policy::Lang,
    report::{self, OfficeHours, Report},
};
use opd_testbed::TempDir;

use crate::stats::Stats;

const AGENCIES: usize = 45;
/// 13 months.
const DAYS: u64 = 396;
const ROUNDS: usize = 5;

pub struct Report9 {
    rows: usize,
    fill_s: f64,
    bytes_five: u64,
    minute_days: u64,
    bytes_minute: u64,
    minute_write_ms: Stats,
    read: Stats,
    table: Stats,
    html: Stats,
    csv: Stats,
    html_bytes: usize,
}

/// The store's size on disk: the database and its write-ahead log.
fn size(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| e.metadata().map(|m| m.len()).unwrap_or(0))
        .sum()
}

pub fn run() -> Report9 {
    let start = 1_767_546_000; // a Monday, 00:00 WIB
    let (site, agencies, rows) = synthetic::history(AGENCIES, DAYS, start);
    // 5-minute rows, a day per transaction, in time order as the daemon writes them.
    let dir = TempDir::new("bench-history");
    let path = history::path_in(&dir.0);
    let began = Instant::now();
    {
        let mut store = Store::open(&path, std::time::Duration::from_secs(60)).unwrap();
        for day in rows.chunks(AGENCIES * synthetic::ROWS_PER_DAY as usize) {
            store.write_five(&site, &agencies, day).unwrap();
        }
    }
    let fill_s = began.elapsed().as_secs_f64();
    let bytes_five = size(&dir.0);
    eprintln!(
        "history: {} 5-minute rows in {fill_s:.1} s, {:.1} MB",
        rows.len(),
        bytes_five as f64 / 1e6
    );

    // Two weeks of minute rows as the daemon writes them: one transaction a minute.
    let minute_days = 14;
    let mdir = TempDir::new("bench-history-minutes");
    let mut times = Vec::new();
    {
        let mut store = Store::open(
            &history::path_in(&mdir.0),
            std::time::Duration::from_secs(60),
        )
        .unwrap();
        for m in 0..minute_days * 1440 {
            let t = start + m as i64 * 60;
            let k = synthetic::term(m, minute_days * 1440);
            let minute_rows: Vec<Row> = rows[..AGENCIES]
                .iter()
                .map(|r| {
                    let mut r = r.clone();
                    r.start = t;
                    r.secs = 60;
                    r.traffic.download.passed += k;
                    r
                })
                .collect();
            let began = Instant::now();
            store
                .write(&Minute {
                    site: site.clone(),
                    agencies: agencies.clone(),
                    rows: minute_rows,
                })
                .unwrap();
            times.push(began.elapsed().as_secs_f64() * 1e3);
        }
    }
    let bytes_minute = size(&mdir.0);
    // The minute store holds both: its 5-minute rows are a fifth of the minute rows.
    eprintln!(
        "history: {minute_days} days of minute rows, {:.1} MB, median write {:.2} ms",
        bytes_minute as f64 / 1e6,
        Stats::of(times.iter().copied()).median
    );

    let opts = report::Options {
        from: start,
        to: start + DAYS as i64 * 86_400,
        agencies: Vec::new(),
        office: OfficeHours::default(),
        headroom_percent: 20,
    };
    let (mut read, mut table, mut html, mut csv) = (vec![], vec![], vec![], vec![]);
    let mut html_bytes = 0;
    for _ in 0..ROUNDS {
        // Reading alone: the baseline.
        let t = Instant::now();
        let h = Store::open_read(&path)
            .unwrap()
            .read(opts.from, opts.to)
            .unwrap();
        read.push(t.elapsed().as_secs_f64());
        std::hint::black_box(h);
        // The whole report as `opd-gateway report` makes it: open, read, compute, write.
        let whole = |format: &str| {
            let t = Instant::now();
            let h = Store::open_read(&path)
                .unwrap()
                .read(opts.from, opts.to)
                .unwrap();
            let r = Report::compute(&h, &opts);
            let mut out = Vec::new();
            match format {
                "html" => report::html::write(&mut out, &r, Lang::Id).unwrap(),
                "csv" => report::text::write_csv(&mut out, &r).unwrap(),
                _ => report::text::write_table(&mut out, &r, Lang::Id).unwrap(),
            }
            (t.elapsed().as_secs_f64(), out.len())
        };
        table.push(whole("table").0);
        let (s, n) = whole("html");
        html.push(s);
        html_bytes = n;
        csv.push(whole("csv").0);
    }
    let r = Report9 {
        rows: rows.len(),
        fill_s,
        bytes_five,
        minute_days,
        bytes_minute,
        minute_write_ms: Stats::of(times),
        read: Stats::of(read),
        table: Stats::of(table),
        html: Stats::of(html),
        csv: Stats::of(csv),
        html_bytes,
    };
    eprintln!(
        "report: read {} s, table {} s, html {} s, csv {} s",
        r.read.show(2),
        r.table.show(2),
        r.html.show(2),
        r.csv.show(2)
    );
    r
}

impl Report9 {
    pub fn write(&self, out: &mut String) {
        let per_agency_year = self.bytes_five as f64 / AGENCIES as f64 * 365.0 / DAYS as f64;
        let year_45 = per_agency_year * AGENCIES as f64;
        let minute_mb = self.bytes_minute as f64 / 1e6;
        let _ = writeln!(
            out,
            "\n## 9. History and the needs report\n\n\
             A made-up history with figures known in closed form (`history::synthetic`): \
             {AGENCIES} agencies, {DAYS} days (13 months) of 5-minute rows, {} rows, written a day \
             per transaction in {:.0} s.\n\n\
             | figure | value |\n|---|---:|\n\
             | disk, 5-minute rows, per agency-year | {:.2} MB |\n\
             | disk, 5-minute rows, {AGENCIES} agencies × 1 year | {:.0} MB (target ≤ 250 MB) |\n\
             | disk, {} days of 1-minute rows (and their 5-minute rows), {AGENCIES} agencies | {:.0} MB |\n\
             | writing one minute of {AGENCIES} agencies (the history's thread) | {} ms |\n\n\
             Time of a report over all {DAYS} days and {AGENCIES} agencies, median of {ROUNDS} runs \
             (min–max), each opening the store read-only as `opd-gateway report` does, against \
             reading the rows alone in the same run (target ≤ 2 s):\n\n\
             | | seconds | ratio to reading |\n|---|---:|---:|\n\
             | reading the rows (baseline) | {} | 1.0 |\n\
             | report, table | {} | {:.2} |\n\
             | report, csv | {} | {:.2} |\n\
             | report, html ({:.0} KB) | {} | {:.2} |",
            self.rows,
            self.fill_s,
            per_agency_year / 1e6,
            year_45 / 1e6,
            self.minute_days,
            minute_mb,
            self.minute_write_ms.show(2),
            self.read.show(2),
            self.table.show(2),
            self.table.median / self.read.median,
            self.csv.show(2),
            self.csv.median / self.read.median,
            self.html_bytes as f64 / 1e3,
            self.html.show(2),
            self.html.median / self.read.median,
        );
    }
}
