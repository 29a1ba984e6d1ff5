//! The office's window: one page served by the daemon itself at `/`, for the people who
//! will never run Prometheus and Grafana. Who gets what right now (from `/status`, polled
//! every tick), each agency's history (`/history.json`, from the embedded store), the needs
//! report (`/report`, the same page `opd-gateway report --format html` writes) and the
//! policy in force with the last reload's result (`/policy.json`).
//!
//! Everything the page needs is in the binary ([`PAGE`]): no CDN, no web font, nothing
//! fetched from elsewhere — the office's gateway may not reach the internet. Read-only:
//! policies stay in files. On a listener other than loopback every request must carry the
//! credential read from a file at start ([`Credential`]).

use std::{
    path::{Path, PathBuf},
    sync::Mutex,
};

use serde::Serialize;

use crate::{
    control::unix_seconds,
    history::{self, Store},
    policy::{self, Lang, Policy},
    report,
};

/// The page: HTML, CSS and script in one file, embedded at build time.
pub const PAGE: &str = include_str!("page.html");

/// What the page's policy view shows.
#[derive(Debug, Clone, Serialize, Default, PartialEq)]
pub struct PolicyView {
    /// The fingerprint of the policy in force, in hex.
    pub fingerprint: String,
    /// Where it was read from.
    pub path: String,
    pub files: Vec<PolicyFile>,
    /// Unix seconds when the policy in force was applied.
    pub applied_at: i64,
    /// The last reload, if any since the daemon started.
    pub last_reload: Option<Reload>,
    /// Warnings of the policy in force, as `check` prints them.
    pub warnings: Vec<String>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct PolicyFile {
    pub name: String,
    pub text: String,
}

/// A reload and what came of it.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Reload {
    pub at: i64,
    /// "applied", "unchanged" or "rejected".
    pub result: &'static str,
    /// The messages of a rejected policy (Bahasa Indonesia and English), as `check` prints
    /// them.
    pub messages_id: Vec<String>,
    pub messages_en: Vec<String>,
}

/// A secret every request must carry on a listener other than loopback: as a bearer token
/// (`Authorization: Bearer …`) or as the password of HTTP basic authentication (any user
/// name), which is what a browser asks for.
#[derive(Clone)]
pub struct Credential(String);

impl std::fmt::Debug for Credential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Credential(…)")
    }
}

#[derive(Debug, thiserror::Error)]
pub enum CredentialError {
    #[error("cannot read the credential file {path}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "the credential file {path} is empty: write one line with a secret of at least 12 \
         characters (e.g. `head -c 18 /dev/urandom | base64 > {path}`)"
    )]
    Empty { path: PathBuf },
    #[error(
        "the credential in {path} is too short ({len} characters): use at least 12 (e.g. \
         `head -c 18 /dev/urandom | base64 > {path}`)"
    )]
    Short { path: PathBuf, len: usize },
}

impl Credential {
    /// Reads the first line of `path`, without the spaces around it.
    pub fn read(path: &Path) -> Result<Credential, CredentialError> {
        let text = std::fs::read_to_string(path).map_err(|source| CredentialError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let secret = text.lines().next().unwrap_or("").trim().to_string();
        if secret.is_empty() {
            return Err(CredentialError::Empty {
                path: path.to_path_buf(),
            });
        }
        if secret.chars().count() < 12 {
            return Err(CredentialError::Short {
                path: path.to_path_buf(),
                len: secret.chars().count(),
            });
        }
        Ok(Credential(secret))
    }

    /// True if an `Authorization` header's value carries the secret.
    pub fn admits(&self, authorization: Option<&str>) -> bool {
        let Some(value) = authorization else {
            return false;
        };
        let value = value.trim();
        let given = if let Some(token) = value.strip_prefix("Bearer ") {
            Some(token.trim().to_string())
        } else if let Some(b64) = value.strip_prefix("Basic ") {
            decode_base64(b64.trim())
                .and_then(|raw| String::from_utf8(raw).ok())
                .and_then(|pair| pair.split_once(':').map(|(_, p)| p.to_string()))
        } else {
            None
        };
        given.is_some_and(|g| constant_time_eq(g.as_bytes(), self.0.as_bytes()))
    }
}

/// Compares without stopping at the first difference, so the time taken tells nothing of
/// where a guess went wrong.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Standard base64 (RFC 4648), as HTTP basic authentication sends it.
pub fn decode_base64(s: &str) -> Option<Vec<u8>> {
    let value = |c: u8| -> Option<u32> {
        Some(match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        } as u32)
    };
    let s = s.trim_end_matches('=').as_bytes();
    let mut out = Vec::with_capacity(s.len() * 3 / 4);
    for chunk in s.chunks(4) {
        let mut n = 0u32;
        for (i, &c) in chunk.iter().enumerate() {
            n |= value(c)? << (18 - 6 * i);
        }
        let bytes = n.to_be_bytes();
        match chunk.len() {
            4 => out.extend_from_slice(&bytes[1..4]),
            3 => out.extend_from_slice(&bytes[1..3]),
            2 => out.push(bytes[1]),
            _ => return None,
        }
    }
    Some(out)
}

/// What the web page serves besides the status: the history, the report and the policy.
#[derive(Debug)]
pub struct Web {
    /// The history's state directory, if the daemon records one.
    pub state_dir: Option<PathBuf>,
    pub credential: Option<Credential>,
    policy: Mutex<PolicyView>,
}

/// A period of history the page charts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Range {
    Hour,
    Day,
    Week,
    Month,
}

impl Range {
    pub fn parse(s: &str) -> Option<Range> {
        Some(match s {
            "hour" => Range::Hour,
            "day" => Range::Day,
            "week" => Range::Week,
            "month" => Range::Month,
            _ => return None,
        })
    }

    fn seconds(self) -> i64 {
        match self {
            Range::Hour => 3600,
            Range::Day => 86_400,
            Range::Week => 7 * 86_400,
            Range::Month => 30 * 86_400,
        }
    }
}

/// One point of an agency's history in one direction; rates in bits/s.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Point {
    pub t: i64,
    pub passed: u64,
    pub dropped: u64,
    pub demand: u64,
    pub allocated: u64,
}

/// An agency's history over a range, as `/history.json` serves it.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Series {
    pub agency: String,
    pub name: String,
    pub range: &'static str,
    /// Seconds between points: a minute for the last hour and day, five for longer.
    pub step: i64,
    pub from: i64,
    pub to: i64,
    /// Guarantee and ceiling in force, bits/s.
    pub guaranteed: [u64; 2],
    pub ceiling: [u64; 2],
    /// Upload, then download.
    pub upload: Vec<Point>,
    pub download: Vec<Point>,
}

/// Why the web page cannot answer.
#[derive(Debug, thiserror::Error)]
pub enum WebError {
    #[error("the daemon records no history (started with --no-history)")]
    NoHistory,
    #[error("no agency `{0}` in the history")]
    UnknownAgency(String),
    #[error(transparent)]
    Store(#[from] history::StoreError),
    #[error("{0}")]
    BadRequest(String),
}

impl Web {
    pub fn new(state_dir: Option<PathBuf>, credential: Option<Credential>) -> Web {
        Web {
            state_dir,
            credential,
            policy: Mutex::new(PolicyView::default()),
        }
    }

    fn view(&self) -> std::sync::MutexGuard<'_, PolicyView> {
        self.policy
            .lock()
            .expect("no panics while the view is held")
    }

    /// The policy in force is `policy`, read from `path`, applied now.
    pub fn policy_applied(&self, policy: &Policy, path: &Path) {
        let files = policy
            .files
            .iter()
            .map(|f| PolicyFile {
                name: f
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default(),
                text: std::fs::read_to_string(f).unwrap_or_default(),
            })
            .collect();
        let mut v = self.view();
        v.fingerprint = format!("{:016x}", policy.fingerprint);
        v.path = path.display().to_string();
        v.files = files;
        v.applied_at = unix_seconds();
        v.warnings = policy.warnings.iter().map(|w| w.render(Lang::Id)).collect();
    }

    /// A reload ended: `result` is "applied", "unchanged" or "rejected" (with the policy's
    /// errors).
    pub fn reloaded(&self, result: &'static str, errors: Option<&policy::PolicyError>) {
        let lines = |lang| {
            errors
                .map(|e| e.diagnostics.iter().map(|d| d.render(lang)).collect())
                .unwrap_or_default()
        };
        self.view().last_reload = Some(Reload {
            at: unix_seconds(),
            result,
            messages_id: lines(Lang::Id),
            messages_en: lines(Lang::En),
        });
    }

    /// A reload refused for a reason that is not in the policy's text (it would move the
    /// programs: a restart applies it).
    pub fn refused(&self, why: &str) {
        self.view().last_reload = Some(Reload {
            at: unix_seconds(),
            result: "rejected",
            messages_id: vec![why.to_string()],
            messages_en: vec![why.to_string()],
        });
    }

    pub fn policy_view(&self) -> PolicyView {
        self.view().clone()
    }

    fn store(&self) -> Result<Store, WebError> {
        let dir = self.state_dir.as_ref().ok_or(WebError::NoHistory)?;
        Ok(Store::open_read(&history::path_in(dir))?)
    }

    /// An agency's history over the last `range` up to `now` (blocking: reads the store).
    pub fn series(&self, agency: &str, range: Range, now: i64) -> Result<Series, WebError> {
        let store = self.store()?;
        let from = now - range.seconds();
        let h = store.read(now, now + 1)?;
        let info = h
            .agencies
            .iter()
            .find(|a| a.id == agency)
            .ok_or_else(|| WebError::UnknownAgency(agency.to_string()))?;
        let (rows, step) = match range {
            Range::Hour | Range::Day => (store.minutes(agency, from, now)?, h.minute),
            Range::Week | Range::Month => (
                store.fives(agency, from, now)?,
                h.minute * history::MINUTES_PER_ROW,
            ),
        };
        let points = |dir: gateway_common::Direction| -> Vec<Point> {
            rows.iter()
                .map(|r| {
                    let t = &r.traffic[dir];
                    Point {
                        t: r.start,
                        passed: t.passed * 1000,
                        dropped: t.dropped * 1000,
                        demand: t.demand * 1000,
                        allocated: t.allocated * 1000,
                    }
                })
                .collect()
        };
        Ok(Series {
            agency: info.id.clone(),
            name: info.name.clone(),
            range: match range {
                Range::Hour => "hour",
                Range::Day => "day",
                Range::Week => "week",
                Range::Month => "month",
            },
            step,
            from,
            to: now,
            guaranteed: [
                info.guaranteed.upload * 1000,
                info.guaranteed.download * 1000,
            ],
            ceiling: [info.ceiling.upload * 1000, info.ceiling.download * 1000],
            upload: points(gateway_common::Direction::Upload),
            download: points(gateway_common::Direction::Download),
        })
    }

    /// The needs report as one HTML page, for local dates `from`..=`to` (default: the whole
    /// history) in `lang` (blocking: reads the store).
    pub fn report(
        &self,
        from: Option<&str>,
        to: Option<&str>,
        lang: Lang,
    ) -> Result<String, WebError> {
        let store = self.store()?;
        let tz = store
            .site()?
            .map(|s| policy::TimeZone {
                name: s.timezone,
                offset_seconds: s.offset_seconds,
            })
            .unwrap_or_default();
        let (first, last) = store.span()?;
        let date = |d: &str, what: &str| {
            report::parse_date(d, &tz).map_err(|e| WebError::BadRequest(format!("{what}: {e}")))
        };
        let from = match from.filter(|d| !d.is_empty()) {
            Some(d) => date(d, "from")?,
            None => first.unwrap_or(0),
        };
        let to = match to.filter(|d| !d.is_empty()) {
            Some(d) => date(d, "to")? + 86_400,
            None => last.map(|l| l + 1).unwrap_or(from + 1).max(from + 1),
        };
        if to <= from {
            return Err(WebError::BadRequest(
                "the period is empty: `to` is before `from`".into(),
            ));
        }
        let r = report::Report::compute(
            &store.read(from, to)?,
            &report::Options {
                from,
                to,
                agencies: Vec::new(),
                office: report::OfficeHours::default(),
                headroom_percent: 20,
            },
        );
        let mut out = Vec::new();
        report::html::write(&mut out, &r, lang).expect("writing to memory");
        Ok(String::from_utf8(out).expect("the page is UTF-8"))
    }
}

#[cfg(test)]
mod tests;
