//! The history's embedded store: one SQLite file (rusqlite, bundled library).
//!
//! - `minute`: one row per minute and agency, both directions; kept for days;
//! - `five`: the same rolled up into 5-minute rows (recomputed from `minute` as each minute
//!   is written, so a restart mid-window adds to it); kept for 13 months, and what reports
//!   read;
//! - `agency`: every agency ever recorded, by id, with its latest name, tier and package —
//!   an agency renamed or removed keeps its past;
//! - `limits`: each agency's guarantee and ceiling, one row whenever they change;
//! - `meta`: the site's name, time zone, capacity and costs, and the length of a minute.
//!
//! Write-ahead logging with `synchronous = NORMAL`: a killed daemon loses nothing written,
//! a power cut at most the last transactions, and `opd-gateway report` reads while the
//! daemon writes. Rows are keyed by (start, agency) without a rowid, so each is its key and
//! its values and nothing more: ~40 bytes a row.

use std::{
    collections::HashMap,
    path::{Path, PathBuf},
    time::Duration,
};

use gateway_common::{PerDirection, Tier};
use rusqlite::{Connection, OpenFlags, OptionalExtension, params_from_iter, types::Value};

use super::{AgencyInfo, MINUTES_PER_ROW, Minute, Row, SiteInfo, Traffic};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot open the history at {path}")]
    Open {
        path: PathBuf,
        #[source]
        source: rusqlite::Error,
    },
    #[error(
        "no history at {path}: the daemon records it under its --state-dir (the service: \
         /var/lib/opd-gateway); is this the right directory?"
    )]
    Missing { path: PathBuf },
    #[error(
        "the history at {path} was written by a newer opd-gateway (layout {found}, this one reads {LAYOUT})"
    )]
    Layout { path: PathBuf, found: i64 },
    #[error(
        "the history at {path} was recorded in rows of {recorded} s; rows of {asked} s would \
         misread it: keep --history-minute as it was, or use another --state-dir"
    )]
    MinuteChanged {
        path: PathBuf,
        recorded: i64,
        asked: i64,
    },
    #[error("the history store failed")]
    Sql(#[from] rusqlite::Error),
    #[error("cannot start the history's writer")]
    Thread(#[source] std::io::Error),
}

/// The store's layout; a newer one is refused rather than misread.
pub const LAYOUT: i64 = 1;

/// A direction's columns. `peak_above` is the peak less the mean demand, and a row keeps
/// the seconds `missing` from its length rather than those recorded: both are small numbers
/// (zero takes no bytes at all), which keeps a 5-minute row near 48 bytes.
const TRAFFIC: [&str; 7] = [
    "passed",
    "dropped",
    "demand",
    "peak_above",
    "allocated",
    "held",
    "at_ceiling",
];
const DIRS: [&str; 2] = ["up", "down"];

/// The traffic columns, upload then download, in [`TRAFFIC`] order.
fn columns() -> Vec<String> {
    DIRS.iter()
        .flat_map(|d| TRAFFIC.iter().map(move |c| format!("{d}_{c}")))
        .collect()
}

fn traffic_values(t: &PerDirection<Traffic>) -> [i64; 14] {
    let one = |t: &Traffic| {
        [
            t.passed as i64,
            t.dropped as i64,
            t.demand as i64,
            t.peak.saturating_sub(t.demand) as i64,
            t.allocated as i64,
            t.held as i64,
            t.at_ceiling as i64,
        ]
    };
    let (u, d) = (one(&t.upload), one(&t.download));
    std::array::from_fn(|i| if i < 7 { u[i] } else { d[i - 7] })
}

fn traffic_from(v: &[i64]) -> PerDirection<Traffic> {
    let one = |v: &[i64]| Traffic {
        passed: v[0] as u64,
        dropped: v[1] as u64,
        demand: v[2] as u64,
        peak: (v[2] + v[3]) as u64,
        allocated: v[4] as u64,
        held: v[5] as u32,
        at_ceiling: v[6] as u32,
    };
    PerDirection::new(one(&v[..7]), one(&v[7..14]))
}

/// A number in the store's `meta` table.
fn meta(conn: &Connection, key: &str) -> Result<Option<i64>, rusqlite::Error> {
    Ok(conn
        .query_row("SELECT value FROM meta WHERE key = ?1", [key], |r| {
            r.get::<_, String>(0)
        })
        .optional()?
        .and_then(|v| v.parse().ok()))
}

/// Refuses a store of a newer layout rather than misread it.
fn check_layout(conn: &Connection, path: &Path) -> Result<(), StoreError> {
    match meta(conn, "layout")? {
        Some(found) if found > LAYOUT => Err(StoreError::Layout {
            path: path.to_path_buf(),
            found,
        }),
        _ => Ok(()),
    }
}

/// Writes a row of `table` (rows `len` seconds long), replacing one of the same start and
/// agency.
fn put(
    tx: &rusqlite::Transaction,
    table: &str,
    len: i64,
    num: i64,
    r: &Row,
) -> Result<(), rusqlite::Error> {
    let names = columns().join(", ");
    let placeholders = (1..=17)
        .map(|i| format!("?{i}"))
        .collect::<Vec<_>>()
        .join(", ");
    let mut insert = tx.prepare_cached(&format!(
        "INSERT OR REPLACE INTO {table} (start, agency, missing, {names}) VALUES ({placeholders})"
    ))?;
    let mut v = vec![r.start, num, (len - r.secs as i64).max(0)];
    v.extend(traffic_values(&r.traffic));
    insert.execute(params_from_iter(v))?;
    Ok(())
}

/// The rows of `table` (rows `len` seconds long) from `from` to `to`, with the agency's
/// store number.
fn get(
    conn: &Connection,
    table: &str,
    len: i64,
    from: i64,
    to: i64,
    agency: Option<i64>,
) -> Result<Vec<(i64, Row)>, rusqlite::Error> {
    let names = columns().join(", ");
    let mut q = conn.prepare_cached(&format!(
        "SELECT start, agency, missing, {names} FROM {table}
         WHERE start >= ?1 AND start < ?2 AND (?3 IS NULL OR agency = ?3)"
    ))?;
    let mut rows = q.query((from, to, agency))?;
    let mut out = Vec::new();
    while let Some(r) = rows.next()? {
        let mut v = [0i64; 14];
        for (i, x) in v.iter_mut().enumerate() {
            *x = r.get(i + 3)?;
        }
        out.push((
            r.get(1)?,
            Row {
                start: r.get(0)?,
                agency: String::new(),
                secs: (len - r.get::<_, i64>(2)?).max(0) as u32,
                traffic: traffic_from(&v),
            },
        ));
    }
    Ok(out)
}

/// The history store.
pub struct Store {
    pub(super) conn: Connection,
    path: PathBuf,
    /// Agency ids to their number in the store.
    nums: HashMap<String, i64>,
    /// The limits last written per agency number.
    limits: HashMap<i64, [i64; 4]>,
    /// A "minute" in seconds (60; shorter in tests).
    minute: i64,
}

/// A 5-minute row as a report reads it: the agency by its index in [`History::agencies`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Slot {
    pub start: i64,
    pub agency: usize,
    pub secs: u32,
    pub traffic: PerDirection<Traffic>,
}

/// What a report reads: the site, every agency recorded and the 5-minute rows of a period.
#[derive(Debug, Clone)]
pub struct History {
    pub site: Option<SiteInfo>,
    /// The length of a "minute" the rows were written with, seconds (60 but in tests).
    pub minute: i64,
    pub agencies: Vec<AgencyInfo>,
    /// In time order.
    pub rows: Vec<Slot>,
    /// Unix seconds of the first and last row stored at all.
    pub first: Option<i64>,
    pub last: Option<i64>,
}

impl History {
    /// A history of 5-minute rows held in memory, as [`Store::read`] would return them.
    pub fn from_rows(
        site: SiteInfo,
        agencies: Vec<AgencyInfo>,
        rows: &[Row],
        minute: i64,
    ) -> History {
        let index: HashMap<&str, usize> = agencies
            .iter()
            .enumerate()
            .map(|(i, a)| (a.id.as_str(), i))
            .collect();
        let slots: Vec<Slot> = rows
            .iter()
            .filter_map(|r| {
                Some(Slot {
                    start: r.start,
                    agency: *index.get(r.agency.as_str())?,
                    secs: r.secs,
                    traffic: r.traffic,
                })
            })
            .collect();
        History {
            site: Some(site),
            minute,
            first: slots.iter().map(|s| s.start).min(),
            last: slots.iter().map(|s| s.start).max(),
            agencies,
            rows: slots,
        }
    }
}

impl Store {
    /// Opens the store at `path` for writing, creating it (and its directory) if needed.
    pub fn open(path: &Path, minute: Duration) -> Result<Store, StoreError> {
        let open_err = |source| StoreError::Open {
            path: path.to_path_buf(),
            source,
        };
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| StoreError::Open {
                path: path.to_path_buf(),
                source: rusqlite::Error::ToSqlConversionFailure(Box::new(e)),
            })?;
        }
        let conn = Connection::open(path).map_err(open_err)?;
        conn.busy_timeout(Duration::from_secs(5))?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        let cols = columns()
            .iter()
            .map(|c| format!("{c} INTEGER NOT NULL"))
            .collect::<Vec<_>>()
            .join(", ");
        conn.execute_batch(&format!(
            "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
             CREATE TABLE IF NOT EXISTS agency (
                num INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE, name TEXT NOT NULL,
                tier TEXT NOT NULL, package INTEGER, first INTEGER NOT NULL, last INTEGER NOT NULL);
             CREATE TABLE IF NOT EXISTS limits (
                agency INTEGER NOT NULL, start INTEGER NOT NULL,
                up_guaranteed INTEGER NOT NULL, up_ceiling INTEGER NOT NULL,
                down_guaranteed INTEGER NOT NULL, down_ceiling INTEGER NOT NULL,
                PRIMARY KEY (agency, start)) WITHOUT ROWID;
             CREATE TABLE IF NOT EXISTS minute (start INTEGER NOT NULL, agency INTEGER NOT NULL,
                missing INTEGER NOT NULL, {cols}, PRIMARY KEY (start, agency)) WITHOUT ROWID;
             CREATE TABLE IF NOT EXISTS five (start INTEGER NOT NULL, agency INTEGER NOT NULL,
                missing INTEGER NOT NULL, {cols}, PRIMARY KEY (start, agency)) WITHOUT ROWID;"
        ))?;
        check_layout(&conn, path)?;
        let minute = (minute.as_secs() as i64).max(1);
        let recorded: Option<i64> = meta(&conn, "minute")?;
        let rows: i64 = conn.query_row("SELECT count(*) FROM minute", [], |r| r.get(0))?;
        if let Some(recorded) = recorded
            && recorded != minute
            && rows > 0
        {
            return Err(StoreError::MinuteChanged {
                path: path.to_path_buf(),
                recorded,
                asked: minute,
            });
        }
        conn.execute(
            "INSERT OR REPLACE INTO meta (key, value) VALUES ('layout', ?1), ('minute', ?2)",
            (LAYOUT.to_string(), minute.to_string()),
        )?;
        Store::over(conn, path, minute)
    }

    /// Opens an existing store read-only, as `opd-gateway report` does while the daemon
    /// writes.
    pub fn open_read(path: &Path) -> Result<Store, StoreError> {
        if !path.exists() {
            return Err(StoreError::Missing {
                path: path.to_path_buf(),
            });
        }
        let conn = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(|source| StoreError::Open {
            path: path.to_path_buf(),
            source,
        })?;
        conn.busy_timeout(Duration::from_secs(5))?;
        check_layout(&conn, path)?;
        let minute = meta(&conn, "minute")?.unwrap_or(60);
        Store::over(conn, path, minute)
    }

    /// The store over an open connection: the agencies it knows and their limits loaded.
    fn over(conn: Connection, path: &Path, minute: i64) -> Result<Store, StoreError> {
        let mut s = Store {
            conn,
            path: path.to_path_buf(),
            nums: HashMap::new(),
            limits: HashMap::new(),
            minute,
        };
        s.load_known()?;
        Ok(s)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn load_known(&mut self) -> Result<(), StoreError> {
        let mut q = self.conn.prepare("SELECT num, id FROM agency")?;
        let nums = q
            .query_map([], |r| Ok((r.get::<_, String>(1)?, r.get::<_, i64>(0)?)))?
            .collect::<Result<HashMap<_, _>, _>>()?;
        drop(q);
        let mut q = self.conn.prepare(
            "SELECT agency, up_guaranteed, up_ceiling, down_guaranteed, down_ceiling
             FROM limits l WHERE start = (SELECT max(start) FROM limits WHERE agency = l.agency)",
        )?;
        let limits = q
            .query_map([], |r| {
                Ok((r.get(0)?, [r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?]))
            })?
            .collect::<Result<HashMap<_, _>, _>>()?;
        drop(q);
        self.nums = nums;
        self.limits = limits;
        Ok(())
    }

    /// Writes one finished minute: the site and agencies as they are now, the minute's
    /// rows (added to rows already there for the same minute, as after a restart), and the
    /// 5-minute rows they fall in, recomputed. One transaction.
    pub fn write(&mut self, m: &Minute) -> Result<(), StoreError> {
        let Some(start) = m.rows.first().map(|r| r.start) else {
            return Ok(());
        };
        let tx = self.conn.transaction()?;
        write_site(&tx, &m.site)?;
        for a in &m.agencies {
            let num = upsert_agency(&tx, &mut self.nums, a, start)?;
            let l = [
                a.guaranteed.upload as i64,
                a.ceiling.upload as i64,
                a.guaranteed.download as i64,
                a.ceiling.download as i64,
            ];
            if self.limits.get(&num) != Some(&l) {
                tx.execute(
                    "INSERT OR REPLACE INTO limits VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                    (num, start, l[0], l[1], l[2], l[3]),
                )?;
                self.limits.insert(num, l);
            }
        }
        let len = self.minute;
        for r in &m.rows {
            let Some(&num) = self.nums.get(&r.agency) else {
                continue;
            };
            // A restart mid-minute: add to what the last daemon wrote.
            let mut same = get(&tx, "minute", len, r.start, r.start + 1, Some(num))?;
            let row = match same.pop() {
                Some((_, before)) => super::combine(r.start, &[before, r.clone()], len as u32),
                None => r.clone(),
            };
            put(&tx, "minute", len, num, &row)?;
        }
        let five = len * MINUTES_PER_ROW;
        let windows: std::collections::BTreeSet<i64> = m
            .rows
            .iter()
            .map(|r| r.start.div_euclid(five) * five)
            .collect();
        for w in windows {
            let mut by_agency: HashMap<i64, Vec<Row>> = HashMap::new();
            for (num, r) in get(&tx, "minute", len, w, w + five, None)? {
                by_agency.entry(num).or_default().push(r);
            }
            for (num, rows) in by_agency {
                put(
                    &tx,
                    "five",
                    five,
                    num,
                    &super::combine(w, &rows, five as u32),
                )?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    /// Writes 5-minute rows directly (for a history made up in tests and benchmarks), with
    /// the agencies and site they name. One transaction.
    pub fn write_five(
        &mut self,
        site: &SiteInfo,
        agencies: &[AgencyInfo],
        rows: &[Row],
    ) -> Result<(), StoreError> {
        let tx = self.conn.transaction()?;
        write_site(&tx, site)?;
        let first = rows.first().map(|r| r.start).unwrap_or(0);
        for a in agencies {
            let num = upsert_agency(&tx, &mut self.nums, a, first)?;
            if let std::collections::hash_map::Entry::Vacant(e) = self.limits.entry(num) {
                let l = [
                    a.guaranteed.upload as i64,
                    a.ceiling.upload as i64,
                    a.guaranteed.download as i64,
                    a.ceiling.download as i64,
                ];
                tx.execute(
                    "INSERT OR REPLACE INTO limits VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                    (num, first, l[0], l[1], l[2], l[3]),
                )?;
                e.insert(l);
            }
        }
        let five = self.minute * MINUTES_PER_ROW;
        {
            let mut last = HashMap::new();
            for r in rows {
                let Some(&num) = self.nums.get(&r.agency) else {
                    continue;
                };
                put(&tx, "five", five, num, r)?;
                last.insert(num, r.start);
            }
            for (num, t) in last {
                tx.execute(
                    "UPDATE agency SET last = max(last, ?2) WHERE num = ?1",
                    (num, t),
                )?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    /// Removes 5-minute rows older than `keep` and minute rows older than `keep_minutes`
    /// before `now`. Returns how many rows went.
    pub fn forget_older(
        &mut self,
        now: i64,
        keep: Duration,
        keep_minutes: Duration,
    ) -> Result<usize, StoreError> {
        // Counted from the newest row, not from a clock that may have jumped ahead (a board
        // whose clock comes up years late would otherwise delete the whole history).
        let newest: Option<i64> = self
            .conn
            .query_row("SELECT max(start) FROM five", [], |r| r.get(0))?;
        let Some(newest) = newest else {
            return Ok(0);
        };
        let now = now.min(newest + 86_400);
        let five = self.conn.execute(
            "DELETE FROM five WHERE start < ?1",
            [now - keep.as_secs() as i64],
        )?;
        let minute = self.conn.execute(
            "DELETE FROM minute WHERE start < ?1",
            [now - keep_minutes.as_secs() as i64],
        )?;
        Ok(five + minute)
    }

    /// The minute rows of an agency between two times (unix seconds, `to` excluded).
    pub fn minutes(&self, agency: &str, from: i64, to: i64) -> Result<Vec<Row>, StoreError> {
        self.rows("minute", agency, from, to)
    }

    /// The 5-minute rows of an agency between two times (unix seconds, `to` excluded).
    pub fn fives(&self, agency: &str, from: i64, to: i64) -> Result<Vec<Row>, StoreError> {
        self.rows("five", agency, from, to)
    }

    fn rows(&self, table: &str, agency: &str, from: i64, to: i64) -> Result<Vec<Row>, StoreError> {
        let Some(&num) = self.nums.get(agency) else {
            return Ok(Vec::new());
        };
        let len = match table {
            "five" => self.minute * MINUTES_PER_ROW,
            _ => self.minute,
        };
        let mut rows: Vec<Row> = get(&self.conn, table, len, from, to, Some(num))?
            .into_iter()
            .map(|(_, mut r)| {
                r.agency = agency.to_string();
                r
            })
            .collect();
        rows.sort_by_key(|r| r.start);
        Ok(rows)
    }

    /// Everything a report needs for the period `from..to` (unix seconds).
    pub fn read(&self, from: i64, to: i64) -> Result<History, StoreError> {
        let site = self.site()?;
        let mut agencies = Vec::new();
        let mut index = HashMap::new();
        {
            let mut q = self.conn.prepare(
                "SELECT num, id, name, tier, package,
                    (SELECT up_guaranteed FROM limits WHERE agency = num AND start < ?1 ORDER BY start DESC LIMIT 1),
                    (SELECT up_ceiling FROM limits WHERE agency = num AND start < ?1 ORDER BY start DESC LIMIT 1),
                    (SELECT down_guaranteed FROM limits WHERE agency = num AND start < ?1 ORDER BY start DESC LIMIT 1),
                    (SELECT down_ceiling FROM limits WHERE agency = num AND start < ?1 ORDER BY start DESC LIMIT 1)
                 FROM agency ORDER BY num",
            )?;
            let mut rows = q.query([to])?;
            while let Some(r) = rows.next()? {
                let num: i64 = r.get(0)?;
                let tier = match r.get::<_, String>(3)?.as_str() {
                    "critical" => Tier::Critical,
                    "public" => Tier::Public,
                    _ => Tier::Standard,
                };
                let l = |i| -> Result<u64, rusqlite::Error> {
                    Ok(r.get::<_, Option<i64>>(i)?.unwrap_or(0) as u64)
                };
                index.insert(num, agencies.len());
                agencies.push(AgencyInfo {
                    id: r.get(1)?,
                    name: r.get(2)?,
                    tier,
                    package: r.get::<_, Option<i64>>(4)?.map(|p| p as u64),
                    guaranteed: PerDirection::new(l(5)?, l(7)?),
                    ceiling: PerDirection::new(l(6)?, l(8)?),
                });
            }
        }
        // Two halves of the period on two connections at once: reading is most of a
        // report's time.
        let (first, last) = self.span()?;
        let (lo, hi) = (
            from.max(first.unwrap_or(from)),
            to.min(last.map(|l| l + 1).unwrap_or(to)),
        );
        let mid = lo + (hi - lo).max(0) / 2;
        let path = self.path.clone();
        let len = self.minute * MINUTES_PER_ROW;
        let (a, b) = std::thread::scope(|s| {
            let other = s.spawn(|| read_slots(&path, len, mid.max(from), to, &index));
            let here = read_slots(&path, len, from, mid.max(from), &index);
            (here, other.join().expect("the reading thread"))
        });
        let mut out = a?;
        out.extend(b?);
        Ok(History {
            site,
            minute: self.minute,
            agencies,
            rows: out,
            first,
            last,
        })
    }

    /// The first and last 5-minute row's start, if any.
    pub fn span(&self) -> Result<(Option<i64>, Option<i64>), StoreError> {
        Ok(self
            .conn
            .query_row("SELECT min(start), max(start) FROM five", [], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })?)
    }

    /// Every agency ever recorded, by id.
    pub fn agency_ids(&self) -> Result<Vec<String>, StoreError> {
        let mut q = self.conn.prepare("SELECT id FROM agency ORDER BY num")?;
        let ids = q
            .query_map([], |r| r.get(0))?
            .collect::<Result<Vec<String>, _>>()?;
        Ok(ids)
    }

    /// The site as last recorded.
    pub fn site(&self) -> Result<Option<SiteInfo>, StoreError> {
        let v: Option<String> = self
            .conn
            .query_row("SELECT value FROM meta WHERE key = 'site'", [], |r| {
                r.get(0)
            })
            .optional()?;
        Ok(
            v.and_then(|v| serde_json::from_str::<serde_json::Value>(&v).ok())
                .map(|j| SiteInfo {
                    name: j["name"].as_str().unwrap_or("").to_string(),
                    timezone: j["timezone"].as_str().unwrap_or("UTC").to_string(),
                    offset_seconds: j["offset_seconds"].as_i64().unwrap_or(0) as i32,
                    capacity: PerDirection::new(
                        j["capacity"][0].as_u64().unwrap_or(0),
                        j["capacity"][1].as_u64().unwrap_or(0),
                    ),
                    costs: (!j["costs"].is_null()).then(|| j["costs"].clone()),
                }),
        )
    }
}

/// The 5-minute rows of `from..to`, of agencies in `index` (store number → position).
fn read_slots(
    path: &Path,
    len: i64,
    from: i64,
    to: i64,
    index: &HashMap<i64, usize>,
) -> Result<Vec<Slot>, StoreError> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    conn.busy_timeout(Duration::from_secs(5))?;
    let names = columns().join(", ");
    let mut q = conn.prepare(&format!(
        "SELECT start, agency, missing, {names} FROM five WHERE start >= ?1 AND start < ?2"
    ))?;
    let mut out = Vec::new();
    let mut rows = q.query((from, to))?;
    let int = |r: &rusqlite::Row, i: usize| -> Result<i64, rusqlite::Error> {
        r.get_ref(i)?.as_i64().map_err(|e| {
            rusqlite::Error::FromSqlConversionFailure(
                i,
                rusqlite::types::Type::Integer,
                Box::new(e),
            )
        })
    };
    while let Some(r) = rows.next()? {
        let Some(&agency) = index.get(&int(r, 1)?) else {
            continue;
        };
        let mut v = [0i64; 14];
        for (i, x) in v.iter_mut().enumerate() {
            *x = int(r, i + 3)?;
        }
        out.push(Slot {
            start: int(r, 0)?,
            agency,
            secs: (len - int(r, 2)?).max(0) as u32,
            traffic: traffic_from(&v),
        });
    }
    Ok(out)
}

fn write_site(tx: &rusqlite::Transaction, site: &SiteInfo) -> Result<(), rusqlite::Error> {
    let j = serde_json::json!({
        "name": site.name,
        "timezone": site.timezone,
        "offset_seconds": site.offset_seconds,
        "capacity": [site.capacity.upload, site.capacity.download],
        "costs": site.costs,
    });
    tx.execute(
        "INSERT OR REPLACE INTO meta (key, value) VALUES ('site', ?1)",
        [j.to_string()],
    )?;
    Ok(())
}

fn upsert_agency(
    tx: &rusqlite::Transaction,
    nums: &mut HashMap<String, i64>,
    a: &AgencyInfo,
    at: i64,
) -> Result<i64, rusqlite::Error> {
    let package = a
        .package
        .map(|p| Value::Integer(p as i64))
        .unwrap_or(Value::Null);
    match nums.get(&a.id) {
        Some(&num) => {
            tx.execute(
                "UPDATE agency SET name = ?2, tier = ?3, package = ?4, last = max(last, ?5)
                 WHERE num = ?1",
                (num, &a.name, a.tier.as_str(), package, at),
            )?;
            Ok(num)
        }
        None => {
            tx.execute(
                "INSERT INTO agency (id, name, tier, package, first, last) VALUES (?1, ?2, ?3, ?4, ?5, ?5)",
                (&a.id, &a.name, a.tier.as_str(), package, at),
            )?;
            let num = tx.last_insert_rowid();
            nums.insert(a.id.clone(), num);
            Ok(num)
        }
    }
}
