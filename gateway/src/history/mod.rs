//! The history the budget is decided on: what every agency passed, dropped and needed,
//! minute by minute, kept for more than a year in an embedded store under the service's
//! state directory.
//!
//! - [`Recorder`] (pure) adds up each tick's [`Snapshot`] into one [`Row`] per agency and
//!   minute;
//! - [`store`] keeps the rows in SQLite (through `rusqlite` with its bundled library: one
//!   file, crash-safe, readable by `opd-gateway report` while the daemon writes) and rolls
//!   them up into 5-minute rows, the ones a report reads and that are kept for 13 months;
//! - [`Writer`] owns the store on a thread of its own, so a slow disk never holds up a
//!   tick; the daemon hands it each finished minute.
//!
//! Rates are stored in kbit/s averaged over the seconds the minute was recorded: small
//! integers, which SQLite stores in two or three bytes.

pub mod store;
pub mod synthetic;

use std::{
    collections::HashMap,
    path::{Path, PathBuf},
    sync::mpsc,
    thread,
    time::Duration,
};

use gateway_common::{Direction, PerDirection, Tier};
use tracing::{info, warn};

use crate::{
    control::{Snapshot, unix_seconds},
    policy::Policy,
};

pub use store::{Store, StoreError};

/// How long rows are kept unless told otherwise: 5-minute rows for 400 days (13 months
/// and a little, so a year's report can always compare with the same month a year ago),
/// 1-minute rows for 14 days.
pub const KEEP: Duration = Duration::from_secs(400 * 86_400);
pub const KEEP_MINUTES: Duration = Duration::from_secs(14 * 86_400);
/// A 5-minute row holds this many minutes: ISPs bill on the 95th percentile of 5-minute
/// averages.
pub const MINUTES_PER_ROW: i64 = 5;

/// One agency in one direction over one row's period, in kbit/s averaged over the seconds
/// recorded (demand's peak is the highest tick).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Traffic {
    pub passed: u64,
    pub dropped: u64,
    /// What it needed: the demand the uplink is divided by.
    pub demand: u64,
    pub peak: u64,
    /// Its share of the uplink by need.
    pub allocated: u64,
    /// Seconds in which more than 0.5% of what it offered was dropped.
    pub held: u32,
    /// Of those, seconds in which its own ceiling held it back (not the division).
    pub at_ceiling: u32,
}

/// One agency over one minute (or five), both directions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row {
    /// Unix seconds at the start of the period.
    pub start: i64,
    /// The agency's id in the policy.
    pub agency: String,
    /// Seconds of the period that were recorded (a daemon starting or stopping mid-minute
    /// records part of it).
    pub secs: u32,
    pub traffic: PerDirection<Traffic>,
}

/// An agency as the history names it: its latest name, tier, former package and limits.
#[derive(Debug, Clone, PartialEq)]
pub struct AgencyInfo {
    pub id: String,
    pub name: String,
    pub tier: Tier,
    /// The fixed package it bought before pooling, kbit/s.
    pub package: Option<u64>,
    /// Guarantee and ceiling in force, kbit/s.
    pub guaranteed: PerDirection<u64>,
    pub ceiling: PerDirection<u64>,
}

/// The site as the history names it, from the policy in force.
#[derive(Debug, Clone, PartialEq)]
pub struct SiteInfo {
    pub name: String,
    pub timezone: String,
    pub offset_seconds: i32,
    /// Purchased capacity, kbit/s.
    pub capacity: PerDirection<u64>,
    /// `[site.costs]` as JSON, for the report's money section.
    pub costs: Option<serde_json::Value>,
}

/// What the writer stores for one finished minute.
#[derive(Debug, Clone)]
pub struct Minute {
    pub site: SiteInfo,
    pub agencies: Vec<AgencyInfo>,
    pub rows: Vec<Row>,
}

const fn kbps(bits_per_second: u64) -> u64 {
    bits_per_second.div_ceil(1000)
}

impl SiteInfo {
    pub fn new(policy: &Policy) -> SiteInfo {
        let s = &policy.site;
        SiteInfo {
            name: s.name.clone(),
            timezone: s.timezone.name.clone(),
            offset_seconds: s.timezone.offset_seconds,
            capacity: s.capacity.map(kbps),
            costs: s.costs.as_ref().map(|c| {
                serde_json::json!({
                    "currency": c.currency,
                    "uplink_per_mbps_month": c.uplink_per_mbps_month,
                    "package_per_year": c.package_per_year
                        .iter()
                        .map(|(rate, price)| serde_json::json!([kbps(*rate), price]))
                        .collect::<Vec<_>>(),
                })
            }),
        }
    }
}

/// Adds up per-tick rates, in bits.
#[derive(Debug, Clone, Copy, Default)]
struct Sum {
    passed: f64,
    dropped: f64,
    demand: f64,
    allocated: f64,
    peak: u64,
    held: f64,
    at_ceiling: f64,
}

#[derive(Debug, Clone, Default)]
struct Open {
    secs: f64,
    sums: PerDirection<Sum>,
}

/// Adds up each tick's snapshot into one row per agency and minute. Pure: the daemon feeds
/// it, and hands what it returns to the [`Writer`].
#[derive(Debug)]
pub struct Recorder {
    /// A row's length in seconds: 60, or less in tests.
    minute: i64,
    /// Start of the minute being added up.
    start: Option<i64>,
    open: HashMap<String, Open>,
    /// Agency ids in the order first seen, so rows come out in policy order.
    order: Vec<String>,
}

impl Recorder {
    pub fn new(minute: Duration) -> Recorder {
        Recorder {
            minute: (minute.as_secs() as i64).max(1),
            start: None,
            open: HashMap::new(),
            order: Vec::new(),
        }
    }

    /// Adds a tick that measured the snapshot's rates over `elapsed` and ended at
    /// `now_unix` (seconds). Returns the rows of the minute it closed, if it closed one.
    pub fn record(
        &mut self,
        snap: &Snapshot,
        now_unix: f64,
        elapsed: Duration,
    ) -> Option<Vec<Row>> {
        let start = (now_unix.floor() as i64).div_euclid(self.minute) * self.minute;
        let closed = match self.start {
            Some(s) if s != start => self.take(),
            _ => None,
        };
        self.start = Some(start);
        // A stall longer than a minute (a paused machine) counts as a minute at the rates
        // measured over it: its bits would otherwise make one minute look many times busier.
        let dt = elapsed.as_secs_f64().min(self.minute as f64);
        for a in &snap.agencies {
            if !self.open.contains_key(&a.id) {
                self.order.push(a.id.clone());
            }
            let open = self.open.entry(a.id.clone()).or_default();
            open.secs += dt;
            for dir in Direction::ALL {
                let f = &a.flows[dir];
                let s = &mut open.sums[dir];
                s.passed += f.passed_rate as f64 * dt;
                s.dropped += f.dropped_rate as f64 * dt;
                s.demand += f.demand as f64 * dt;
                s.allocated += f.allocated as f64 * dt;
                s.peak = s.peak.max(f.demand);
                if f.held_back() {
                    s.held += dt;
                    if f.limit >= f.ceiling {
                        s.at_ceiling += dt;
                    }
                }
            }
        }
        closed
    }

    /// The rows of the minute being added up, however much of it was recorded (when the
    /// daemon stops: the next one adds to the same rows).
    pub fn take(&mut self) -> Option<Vec<Row>> {
        let start = self.start.take()?;
        let mut rows = Vec::with_capacity(self.order.len());
        for id in self.order.drain(..) {
            let Some(o) = self.open.remove(&id) else {
                continue;
            };
            if o.secs <= 0.0 {
                continue;
            }
            // Whole seconds, at most the minute (ticks ending in it may have begun before
            // it), and rates over those seconds: rate × seconds is what was counted.
            let secs = o.secs.round().clamp(1.0, self.minute as f64);
            let avg = |bits: f64| (bits / secs / 1000.0).round() as u64;
            let seconds = |s: f64| s.round().min(secs) as u32;
            rows.push(Row {
                start,
                agency: id,
                secs: secs as u32,
                traffic: o.sums.map(|s| Traffic {
                    passed: avg(s.passed),
                    dropped: avg(s.dropped),
                    demand: avg(s.demand),
                    peak: kbps(s.peak),
                    allocated: avg(s.allocated),
                    held: seconds(s.held),
                    at_ceiling: seconds(s.at_ceiling),
                }),
            });
        }
        self.open.clear();
        Some(rows)
    }
}

/// Rows of one agency added up into one of at most `len` seconds starting at `start`:
/// rates averaged over the seconds recorded (rounded half up), peaks the highest, held
/// seconds summed. How minutes become a 5-minute row, and how a restarted daemon's part of a
/// minute joins the part written before. Rows that add up to more than `len` (the same
/// minutes recorded twice, after the clock went back) keep every bit counted: the rates are
/// taken over `len`, and no share of it is held back more than all of it.
pub fn combine(start: i64, rows: &[Row], len: u32) -> Row {
    let recorded: u64 = rows.iter().map(|r| r.secs as u64).sum();
    let secs = recorded.min(len as u64);
    let traffic = PerDirection::from_fn(|dir| {
        let mean = |f: fn(&Traffic) -> u64| {
            let w: u128 = rows
                .iter()
                .map(|r| f(&r.traffic[dir]) as u128 * r.secs as u128)
                .sum();
            ((w + secs as u128 / 2) / (secs as u128).max(1)) as u64
        };
        let seconds = |f: fn(&Traffic) -> u32| {
            (rows.iter().map(|r| f(&r.traffic[dir]) as u64).sum::<u64>()).min(secs) as u32
        };
        Traffic {
            passed: mean(|t| t.passed),
            dropped: mean(|t| t.dropped),
            demand: mean(|t| t.demand),
            peak: rows.iter().map(|r| r.traffic[dir].peak).max().unwrap_or(0),
            allocated: mean(|t| t.allocated),
            held: seconds(|t| t.held),
            at_ceiling: seconds(|t| t.at_ceiling),
        }
    });
    Row {
        start,
        agency: rows.first().map(|r| r.agency.clone()).unwrap_or_default(),
        secs: secs as u32,
        traffic,
    }
}

/// The agencies of a snapshot with their names, packages and limits in force.
pub fn agencies(policy: &Policy, snap: &Snapshot) -> Vec<AgencyInfo> {
    policy
        .agencies
        .iter()
        .zip(&snap.agencies)
        .map(|(a, s)| AgencyInfo {
            id: a.id.clone(),
            name: a.name.clone(),
            tier: a.tier,
            package: a.package.map(kbps),
            guaranteed: s.flows.map(|f| kbps(f.guaranteed)),
            ceiling: s.flows.map(|f| kbps(f.ceiling)),
        })
        .collect()
}

/// Where the history lives and how long it is kept.
#[derive(Debug, Clone)]
pub struct Options {
    /// The service's state directory; the store is `history.sqlite` in it.
    pub dir: PathBuf,
    pub keep: Duration,
    pub keep_minutes: Duration,
}

/// The store's file in a state directory.
pub fn path_in(dir: &Path) -> PathBuf {
    dir.join("history.sqlite")
}

/// Owns the store on a thread of its own; minutes sent to it are written in order.
pub struct Writer {
    tx: Option<mpsc::Sender<Minute>>,
    thread: Option<thread::JoinHandle<()>>,
}

impl Writer {
    /// Opens (or creates) the store and starts the thread.
    pub fn start(opts: &Options, minute: Duration) -> Result<Writer, StoreError> {
        let mut store = Store::open(&path_in(&opts.dir), minute)?;
        let (keep, keep_minutes) = (opts.keep, opts.keep_minutes);
        let removed = store.forget_older(unix_seconds(), keep, keep_minutes)?;
        info!(
            path = %path_in(&opts.dir).display(),
            removed,
            keep_days = keep.as_secs() / 86_400,
            "history: recording each agency's traffic and demand every minute"
        );
        let (tx, rx) = mpsc::channel::<Minute>();
        let thread = thread::Builder::new()
            .name("history".into())
            .spawn(move || {
                let mut written = 0u64;
                for m in rx {
                    if let Err(e) = store.write(&m) {
                        warn!(error = %crate::error_chain(&e), "history: cannot write a minute; it is lost, the gateway goes on");
                        continue;
                    }
                    written += 1;
                    // Retention once an hour of rows.
                    if written.is_multiple_of(60)
                        && let Err(e) = store.forget_older(unix_seconds(), keep, keep_minutes)
                    {
                        warn!(error = %crate::error_chain(&e), "history: cannot remove old rows");
                    }
                }
            })
            .map_err(StoreError::Thread)?;
        Ok(Writer {
            tx: Some(tx),
            thread: Some(thread),
        })
    }

    /// Queues a minute for writing; never blocks the caller.
    pub fn send(&self, minute: Minute) {
        if let Some(tx) = &self.tx {
            let _ = tx.send(minute);
        }
    }

    /// Writes what is queued and stops the thread.
    pub fn finish(mut self) {
        self.tx.take();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

#[cfg(test)]
mod tests;
