//! Policy files: what admins write, read strictly, validated completely.
//!
//! A policy is one TOML file or a directory of them (read in name order): exactly one
//! `[site]` table in all, and any number of `[[agency]]` tables in any file. Reading is
//! two-step: TOML into raw types that keep every value's position ([`raw`]), then validation
//! into [`Policy`], which cannot hold an invalid policy. Every problem found is reported at
//! once, each with file, line and column; what TOML itself refuses is told in the admin's
//! words by [`syntax`].

pub mod clock;
mod compile;
pub mod messages;
mod raw;
mod syntax;

use std::{
    fmt,
    net::IpAddr,
    path::{Path, PathBuf},
    time::Duration,
};

pub use clock::{LocalTime, TimeZone};
pub use gateway_common::{Direction, PerDirection, Tier};
pub use messages::{Lang, Msg, MsgId};

use crate::units::Rate;

/// Defaults, in one place.
pub mod defaults {
    use std::{ops::RangeInclusive, time::Duration};

    /// Bucket depth as time at the agency's rate. Senders emit 64 KiB segmentation bursts at
    /// line rate, and a policer that cannot absorb a few of them starves TCP: through a
    /// 20 Mbps agency on the simulated network, 10 ms gave 5% of the rate as TCP goodput,
    /// 50 ms 25%, 100 ms 49%, 200 ms 94% (tests/tests/traffic.rs, TCP test). Under sustained
    /// overload the depth does not change the long-run rate.
    pub const BURST_TIME: Duration = Duration::from_millis(100);
    /// Smallest bucket depth in bytes: ten full-size frames (vendors use ≥ 10 × MTU), so a
    /// slow agency can still send a few back-to-back frames.
    pub const MIN_BURST_BYTES: u64 = 10 * 1518;
    /// How often the uplink is re-divided: fast enough that a waking agency has its guarantee
    /// within two seconds, slow enough to measure a rate over many packets.
    pub const TICK: Duration = Duration::from_secs(1);
    /// Rates written by the daemon hold for this many ticks; after that the data plane falls
    /// back to the static values on its own (a stopped daemon must not freeze a stale split).
    pub const EXPIRY_TICKS: u32 = 3;
    /// Weight of an agency that states none.
    pub const WEIGHT: u32 = 1;
    /// Headroom kept below the purchased capacity, as a share of it: the ISP's own policer
    /// counts bytes a little differently, and bursts add up.
    pub const HEADROOM_PERCENT: f64 = 2.0;
    /// Entries of the data plane's host table, one per (agency, host): a thousand hosts for
    /// each of 64 agencies, at about 100 bytes an entry (≈ 6.5 MB of kernel memory).
    pub const HOST_TABLE: u32 = 65_536;
    /// What `host_table` may be: from about 100 KB of kernel memory to about 100 MB.
    pub const HOST_TABLE_RANGE: RangeInclusive<u32> = 1_024..=1_048_576;
    /// IPv6 hosts are told apart by this prefix length: a device with privacy addresses
    /// (RFC 8981) takes new ones within its /64 as it goes, and counted by address it would
    /// be many hosts. The price: devices that share one /64 (SLAAC on one LAN) are one host
    /// (an agency whose devices do writes 128).
    pub const HOST_IPV6_PREFIX: u8 = 64;
    /// What `host_ipv6_prefix` may be: a /32 is what a whole ISP is usually allocated, so a
    /// shorter prefix would lump networks together; 128 tells hosts apart by address.
    pub const HOST_IPV6_PREFIX_RANGE: RangeInclusive<u8> = 32..=128;
}

/// A validated policy.
#[derive(Debug, Clone, PartialEq)]
pub struct Policy {
    pub site: Site,
    /// In file order; an agency's position is its index in the data plane's maps.
    pub agencies: Vec<Agency>,
    /// The files read, in order.
    pub files: Vec<PathBuf>,
    /// Things worth knowing that do not make the policy invalid.
    pub warnings: Vec<Diagnostic>,
    /// FNV-1a of every file's name and text: identifies the policy in force.
    pub fingerprint: u64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Site {
    pub name: String,
    /// Port facing the agencies' trunk: upload is policed on its ingress.
    pub lan: String,
    /// Port facing the upstream router's trunk: download is policed on its ingress.
    pub wan: String,
    pub forwarding: Forwarding,
    pub xdp_mode: XdpMode,
    pub unclassified: Unclassified,
    /// What was purchased, bits/s.
    pub capacity: PerDirection<u64>,
    /// Kept free below the capacity, bits/s.
    pub headroom: PerDirection<u64>,
    /// Re-division interval.
    pub tick: Duration,
    /// How long rates written by the daemon hold before the data plane falls back.
    pub expiry: Duration,
    pub timezone: TimeZone,
    pub fallback: Fallback,
    /// Prices for the needs report (`opd-gateway report`), when the policy gives them.
    pub costs: Option<Costs>,
    /// How an agency's rate is shared between its hosts, unless the agency says otherwise.
    pub hosts: Hosts,
    /// Entries of the data plane's host table: (agency, host) pairs it can tell apart.
    pub host_table: u32,
    /// IPv6 hosts are told apart by this prefix length (IPv4 hosts by address).
    pub host_ipv6_prefix: u8,
}

/// How an agency's rate is shared between its hosts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Hosts {
    /// Max-min fair: each active host an equal share, what one leaves goes to the others.
    #[default]
    Fair,
    /// One bucket for the whole agency: the busiest host takes what it can.
    Shared,
}

impl Hosts {
    /// As the policy writes it.
    pub const fn as_str(self) -> &'static str {
        match self {
            Hosts::Fair => "fair",
            Hosts::Shared => "shared",
        }
    }
}

/// `[site.costs]`: what the pooled uplink costs, and what the agencies' former fixed
/// packages cost, for the needs report to set side by side.
#[derive(Debug, Clone, PartialEq)]
pub struct Costs {
    /// "Rp" unless written otherwise.
    pub currency: String,
    /// The pooled uplink's price per Mbps per month, in `currency`.
    pub uplink_per_mbps_month: u64,
    /// (package, bits/s; its price per year, in `currency`), sorted by rate, each rate once.
    pub package_per_year: Vec<(u64, u64)>,
}

impl Costs {
    /// The price per year of a package of `bps` bits/s, if the policy gives one.
    pub fn package_price(&self, bps: u64) -> Option<u64> {
        self.package_per_year
            .iter()
            .find(|(rate, _)| *rate == bps)
            .map(|(_, price)| *price)
    }
}

impl Site {
    /// Capacity minus headroom: what the allocator divides, bits/s.
    pub fn usable(&self, dir: Direction) -> u64 {
        self.capacity[dir].saturating_sub(self.headroom[dir])
    }
}

/// How frames that pass the policer reach the other port.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Forwarding {
    /// XDP_REDIRECT from one port to the other: no Linux bridge needed.
    Redirect,
    /// XDP_PASS: a Linux bridge joining `lan` and `wan` forwards them.
    Bridge,
}

/// Where the XDP programs run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum XdpMode {
    /// In the driver (fast; needs driver support).
    Native,
    /// In the kernel's generic path (any interface, slower).
    Generic,
}

/// The static division the data plane applies when the daemon stops refreshing rates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fallback {
    /// Each agency at its guarantee: never oversubscribed, but idle capacity is wasted.
    Guaranteed,
    /// Guarantees plus the rest divided as if every agency were busy (tiers in order,
    /// weighted): the uplink stays fully used at the busy hour, never oversubscribed.
    Shared,
}

/// What happens to untagged and unknown-VLAN frames.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unclassified {
    Pass,
    Drop,
    /// Policed as this agency (index into [`Policy::agencies`]).
    Agency(usize),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Agency {
    pub id: String,
    pub name: String,
    pub tier: Tier,
    pub weight: u32,
    /// 802.1Q VLAN ids (1–4094).
    pub vlans: Vec<u16>,
    /// (outer, inner) VLAN ids of double-tagged (QinQ) traffic.
    pub qinq: Vec<(u16, u16)>,
    /// The agency's address prefixes, validated (no overlaps); the data plane classifies by
    /// VLAN.
    pub prefixes: Vec<Prefix>,
    /// Outside any schedule window.
    pub limits: PerDirection<Limits>,
    pub schedules: Vec<Schedule>,
    /// The fixed internet package it bought before pooling, bits/s (the same both ways),
    /// for the needs report.
    pub package: Option<u64>,
    /// How the agency's rate is shared between its hosts: its own `hosts`, else the site's.
    pub hosts: Hosts,
}

/// Limits of an agency in one direction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Always available to the agency when it needs it, bits/s (MikroTik's limit-at).
    pub guaranteed: u64,
    /// Never exceeded, bits/s (MikroTik's max-limit).
    pub ceiling: u64,
    /// Bucket depth as time at the rate in force.
    pub burst: Duration,
    /// The most one host of the agency may pass, bits/s (MikroTik's pcq-rate); `None`: no
    /// per-host ceiling. Never above `ceiling`.
    pub host_ceiling: Option<u64>,
}

impl Limits {
    /// Bucket depth in bytes at `rate` bits/s.
    pub fn burst_bytes(&self, rate: u64) -> u64 {
        let at_rate = rate as u128 * self.burst.as_nanos() / 8 / 1_000_000_000;
        (at_rate as u64).max(defaults::MIN_BURST_BYTES)
    }
}

/// An office-hours window: while it holds, its values replace the agency's.
#[derive(Debug, Clone, PartialEq)]
pub struct Schedule {
    /// Monday = 0 … Sunday = 6.
    pub days: [bool; 7],
    /// Minutes since local midnight; `end <= start` runs past midnight.
    pub start: u16,
    pub end: u16,
    /// Replacements for guaranteed and ceiling.
    pub overrides: PerDirection<Override>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Override {
    pub guaranteed: Option<u64>,
    pub ceiling: Option<u64>,
}

impl Schedule {
    pub fn covers(&self, t: LocalTime) -> bool {
        let minute = t.weekday as u32 * 1440 + t.minute as u32;
        clock::week_ranges(&self.days, self.start, self.end)
            .iter()
            .any(|&(a, b)| (a..b).contains(&minute))
    }
}

impl Agency {
    /// The agency's limits in a direction at a local time (the first covering schedule wins;
    /// validation guarantees at most one covers any moment).
    pub fn limits_at(&self, dir: Direction, t: LocalTime) -> Limits {
        let base = self.limits[dir];
        match self.schedules.iter().find(|s| s.covers(t)) {
            None => base,
            Some(s) => {
                let o = s.overrides[dir];
                let ceiling = o.ceiling.unwrap_or(base.ceiling);
                Limits {
                    guaranteed: o.guaranteed.unwrap_or(base.guaranteed),
                    ceiling,
                    burst: base.burst,
                    // A window's lower ceiling caps one host too.
                    host_ceiling: base.host_ceiling.map(|h| h.min(ceiling)),
                }
            }
        }
    }
}

/// An IP prefix (network address with no host bits set).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Prefix {
    pub addr: IpAddr,
    pub len: u8,
}

impl Prefix {
    /// Parses "198.18.10.0/24"; an error says what is wrong and, when it is clear, the
    /// prefix meant.
    pub fn parse(s: &str) -> Result<Prefix, (Msg, Option<String>)> {
        let (a, l) = s
            .split_once('/')
            .ok_or_else(|| (Msg::new(MsgId::NotAPrefix).arg("value", s), None))?;
        let addr: IpAddr = a
            .trim()
            .parse()
            .map_err(|_| (Msg::new(MsgId::NotAnAddress).arg("value", a), None))?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let len: u8 = match l.trim().parse() {
            Ok(l) if l <= max => l,
            _ => {
                // A netmask, as MikroTik and older tools write it: name its length.
                if let (true, Ok(std::net::IpAddr::V4(mask))) = (addr.is_ipv4(), l.parse()) {
                    let bits = u32::from(mask);
                    if bits.leading_ones() + bits.trailing_zeros() == 32 {
                        let fixed = format!("{a}/{}", bits.leading_ones());
                        return Err((
                            Msg::new(MsgId::PrefixMask)
                                .arg("value", l)
                                .arg("fixed", &fixed),
                            Some(fixed),
                        ));
                    }
                }
                return Err((
                    Msg::new(MsgId::PrefixLength)
                        .arg("value", l)
                        .arg("max", max),
                    None,
                ));
            }
        };
        let p = Prefix { addr, len };
        let network = p.network();
        if network != p.bits() {
            let net = match addr {
                IpAddr::V4(_) => IpAddr::V4((network as u32).into()),
                IpAddr::V6(_) => IpAddr::V6(network.into()),
            };
            let fixed = format!("{net}/{len}");
            return Err((
                Msg::new(MsgId::HostBits)
                    .arg("value", s)
                    .arg("fixed", &fixed),
                Some(fixed),
            ));
        }
        Ok(p)
    }

    fn bits(&self) -> u128 {
        match self.addr {
            IpAddr::V4(a) => u32::from(a) as u128,
            IpAddr::V6(a) => u128::from(a),
        }
    }

    fn width(&self) -> u32 {
        if self.addr.is_ipv4() { 32 } else { 128 }
    }

    fn network(&self) -> u128 {
        let host = self.width() - self.len as u32;
        if host >= 128 {
            0
        } else {
            (self.bits() >> host) << host
        }
    }

    /// True if the two prefixes share any address.
    pub fn overlaps(&self, other: &Prefix) -> bool {
        if self.addr.is_ipv4() != other.addr.is_ipv4() {
            return false;
        }
        let len = self.len.min(other.len) as u32;
        let host = self.width() - len;
        let cut = |p: &Prefix| if host >= 128 { 0 } else { p.bits() >> host };
        cut(self) == cut(other)
    }
}

impl fmt::Display for Prefix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.len)
    }
}

/// How serious a [`Diagnostic`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Severity {
    Error,
    Warning,
}

/// One finding in a policy, at a position an editor can jump to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    pub severity: Severity,
    pub file: PathBuf,
    /// 1-based; 0 when the finding is about the file as a whole.
    pub line: usize,
    /// 1-based, in characters.
    pub column: usize,
    pub message: Msg,
    /// What to write instead, with a correct line.
    pub hint: Option<Msg>,
}

impl Diagnostic {
    /// "file:line:column: error: message", and the hint on its own line.
    pub fn render(&self, lang: Lang) -> String {
        let sev = Msg::new(match self.severity {
            Severity::Error => MsgId::Error,
            Severity::Warning => MsgId::Warning,
        })
        .text(lang);
        let mut out = if self.line > 0 {
            format!(
                "{}:{}:{}: {sev}: {}",
                self.file.display(),
                self.line,
                self.column,
                self.message.text(lang)
            )
        } else {
            format!(
                "{}: {sev}: {}",
                self.file.display(),
                self.message.text(lang)
            )
        };
        if let Some(h) = &self.hint {
            out.push_str(&format!(
                "\n  {}: {}",
                Msg::new(MsgId::Hint).text(lang),
                h.text(lang)
            ));
        }
        out
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.render(Lang::En))
    }
}

/// Everything wrong with a policy (warnings included, for context).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct PolicyError {
    pub diagnostics: Vec<Diagnostic>,
}

impl PolicyError {
    pub fn errors(&self) -> impl Iterator<Item = &Diagnostic> {
        self.diagnostics
            .iter()
            .filter(|d| d.severity == Severity::Error)
    }

    /// Every finding, then how many errors there are.
    pub fn render(&self, lang: Lang) -> String {
        let mut out = String::new();
        for d in &self.diagnostics {
            out.push_str(&d.render(lang));
            out.push('\n');
        }
        let summary = match self.errors().count() {
            1 => Msg::new(MsgId::OneErrorInPolicy),
            n => Msg::new(MsgId::ErrorsInPolicy).arg("count", n),
        };
        out.push_str(&summary.text(lang));
        out
    }
}

impl fmt::Display for PolicyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.render(Lang::En))
    }
}

/// Reads a policy from a file, or from every `*.toml` file of a directory.
pub fn load(path: &Path) -> Result<Policy, PolicyError> {
    let files = policy_files(path).map_err(|d| PolicyError {
        diagnostics: vec![d],
    })?;
    let mut read = Vec::new();
    let mut diags = Vec::new();
    for file in files {
        match std::fs::read(&file) {
            Ok(bytes) => read.push((file, bytes)),
            Err(e) => diags.push(whole_file(
                &file,
                Msg::new(MsgId::CannotReadFile).arg("reason", e),
                None,
            )),
        }
    }
    if !diags.is_empty() {
        return Err(PolicyError { diagnostics: diags });
    }
    compile_bytes(read, path)
}

/// Reads a policy from in-memory files (name, bytes) exactly as [`load`] reads them from
/// disk, text that is not UTF-8 included (the fuzz target's entry point).
pub fn from_bytes(files: &[(&str, &[u8])]) -> Result<Policy, PolicyError> {
    let root = files.first().map_or(Path::new(""), |(p, _)| Path::new(p));
    let files = files
        .iter()
        .map(|(p, b)| (PathBuf::from(p), b.to_vec()))
        .collect();
    compile_bytes(files, root)
}

fn compile_bytes(files: Vec<(PathBuf, Vec<u8>)>, root: &Path) -> Result<Policy, PolicyError> {
    let mut sources = Vec::new();
    let mut diags = Vec::new();
    for (path, bytes) in files {
        match utf8(&path, bytes) {
            Ok(text) => sources.push(compile::Source { path, text }),
            Err(d) => diags.push(d),
        }
    }
    if !diags.is_empty() {
        return Err(PolicyError { diagnostics: diags });
    }
    compile::compile(sources, root)
}

/// The file's text, without a byte-order mark; or where it stops being UTF-8 (files saved
/// as "ANSI" by Windows editors), by line and column.
fn utf8(path: &Path, bytes: Vec<u8>) -> Result<String, Diagnostic> {
    match String::from_utf8(bytes) {
        Ok(text) => Ok(text
            .strip_prefix('\u{feff}')
            .map_or(text.clone(), str::to_string)),
        // Notepad's "Unicode" is UTF-16 with a byte-order mark.
        Err(e)
            if e.as_bytes().starts_with(&[0xff, 0xfe])
                || e.as_bytes().starts_with(&[0xfe, 0xff]) =>
        {
            Err(Diagnostic {
                severity: Severity::Error,
                file: path.to_path_buf(),
                line: 1,
                column: 1,
                message: Msg::new(MsgId::Utf16),
                hint: Some(Msg::new(MsgId::NotUtf8Hint)),
            })
        }
        Err(e) => {
            let bytes = e.as_bytes();
            let good = e.utf8_error().valid_up_to();
            let before = std::str::from_utf8(&bytes[..good]).unwrap_or("");
            let before = before.strip_prefix('\u{feff}').unwrap_or(before);
            let line = before.matches('\n').count() + 1;
            let column = before.rsplit('\n').next().unwrap_or("").chars().count() + 1;
            let byte = bytes[good];
            let message = Msg::new(MsgId::NotUtf8).arg("byte", format!("0x{byte:02X}"));
            // Windows' "ANSI" (code page 1252) agrees with Latin-1 from 0xA0 on.
            let message = if byte >= 0xa0 {
                message.with(
                    "latin1",
                    Msg::new(MsgId::NotUtf8Latin1).arg("char", char::from(byte)),
                )
            } else {
                message.arg("latin1", "")
            };
            Err(Diagnostic {
                severity: Severity::Error,
                file: path.to_path_buf(),
                line,
                column,
                message,
                hint: Some(Msg::new(MsgId::NotUtf8Hint)),
            })
        }
    }
}

/// Reads a policy from in-memory files (name, text), as [`load`] would from disk.
pub fn from_texts(files: &[(&str, &str)]) -> Result<Policy, PolicyError> {
    let root = files.first().map_or(Path::new(""), |(p, _)| Path::new(p));
    compile::compile(
        files
            .iter()
            .map(|(p, t)| compile::Source {
                path: PathBuf::from(p),
                text: t.strip_prefix('\u{feff}').unwrap_or(t).to_string(),
            })
            .collect(),
        root,
    )
}

fn whole_file(path: &Path, message: Msg, hint: Option<Msg>) -> Diagnostic {
    Diagnostic {
        severity: Severity::Error,
        file: path.to_path_buf(),
        line: 0,
        column: 0,
        message,
        hint,
    }
}

/// The files a policy path stands for: the file itself, or a directory's `*.toml` files
/// in name order (editors' hidden swap files left out).
pub fn policy_files(path: &Path) -> Result<Vec<PathBuf>, Diagnostic> {
    let meta = std::fs::metadata(path).map_err(|e| {
        whole_file(
            path,
            Msg::new(MsgId::CannotReadPolicy).arg("reason", e),
            Some(Msg::new(MsgId::CannotReadPolicyHint)),
        )
    })?;
    if !meta.is_dir() {
        return Ok(vec![path.to_path_buf()]);
    }
    let entries = std::fs::read_dir(path)
        .map_err(|e| whole_file(path, Msg::new(MsgId::CannotListDir).arg("reason", e), None))?;
    let mut files: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.extension().is_some_and(|x| x == "toml")
                && !p
                    .file_name()
                    .is_some_and(|n| n.to_string_lossy().starts_with('.'))
        })
        .collect();
    files.sort();
    if files.is_empty() {
        return Err(whole_file(
            path,
            Msg::new(MsgId::NoTomlFiles),
            Some(Msg::new(MsgId::NoTomlFilesHint)),
        ));
    }
    Ok(files)
}

/// A display form of a rate in bits/s.
pub fn rate(bps: u64) -> String {
    Rate(bps).to_string()
}

#[cfg(test)]
mod tests;
