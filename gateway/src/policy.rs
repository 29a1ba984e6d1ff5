//! Policy files: what admins write, read strictly, validated completely.
//!
//! A policy is one TOML file or a directory of them (read in name order): exactly one
//! `[site]` table in all, and any number of `[[agency]]` tables in any file. Reading is
//! two-step: TOML into raw types that keep every value's position, then validation into
//! [`Policy`], which cannot hold an invalid policy. Every problem found is reported at once,
//! each with file, line and column.

use std::{
    collections::HashMap,
    fmt,
    ops::Range,
    path::{Path, PathBuf},
};

use serde::Deserialize;
use toml::Spanned;

use crate::units::{Rate, parse_duration, parse_rate};

/// Defaults, in one place.
pub mod defaults {
    use std::time::Duration;

    /// Bucket depth as time at the agency's rate. Senders emit 64 KiB segmentation bursts at
    /// line rate, and a policer that cannot absorb a few of them starves TCP: through a
    /// 20 Mbps agency on the simulated network, 10 ms gave 5% of the rate as TCP goodput,
    /// 50 ms 25%, 100 ms 49%, 200 ms 94% (tests/tests/traffic.rs, TCP test). Under sustained
    /// overload the depth does not change the long-run rate.
    pub const BURST_TIME: Duration = Duration::from_millis(100);
    /// Smallest bucket depth in bytes: ten full-size frames (vendors use ≥ 10 × MTU), so a
    /// slow agency can still send a few back-to-back frames.
    pub const MIN_BURST_BYTES: u64 = 10 * 1518;
}

/// A validated policy.
#[derive(Debug, Clone, PartialEq)]
pub struct Policy {
    pub site: Site,
    /// In file order; an agency's position is its index in the data plane's maps.
    pub agencies: Vec<Agency>,
    /// The files read, in order.
    pub files: Vec<PathBuf>,
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
}

/// How frames that pass the policer reach the other port.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Forwarding {
    /// XDP_REDIRECT from one port to the other: no Linux bridge needed.
    Redirect,
    /// XDP_PASS: a Linux bridge joining `lan` and `wan` forwards them.
    Bridge,
}

/// Where the XDP programs run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum XdpMode {
    /// In the driver (fast; needs driver support).
    Native,
    /// In the kernel's generic path (any interface, slower).
    Generic,
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
    /// 802.1Q VLAN ids (1–4094).
    pub vlans: Vec<u16>,
    /// (outer, inner) VLAN ids of double-tagged (QinQ) traffic.
    pub qinq: Vec<(u16, u16)>,
    pub upload: Limit,
    pub download: Limit,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limit {
    Unlimited,
    Rate { rate: Rate, burst_bytes: u64 },
}

impl Limit {
    /// The data plane's form of this limit.
    pub fn to_dataplane(self) -> gateway_common::Limit {
        match self {
            Limit::Unlimited => gateway_common::Limit::UNLIMITED,
            Limit::Rate { rate, burst_bytes } => {
                gateway_common::Limit::from_rate(rate.bits_per_second(), burst_bytes)
            }
        }
    }
}

impl fmt::Display for Limit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Limit::Unlimited => f.write_str("unlimited"),
            Limit::Rate { rate, .. } => write!(f, "{rate}"),
        }
    }
}

/// One problem in a policy, at a position an editor can jump to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    pub file: PathBuf,
    /// 1-based; 0 when the problem is with the file as a whole.
    pub line: usize,
    pub column: usize,
    pub message: String,
    pub hint: Option<String>,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line > 0 {
            write!(
                f,
                "{}:{}:{}: error: {}",
                self.file.display(),
                self.line,
                self.column,
                self.message
            )?;
        } else {
            write!(f, "{}: error: {}", self.file.display(), self.message)?;
        }
        if let Some(h) = &self.hint {
            write!(f, "\n  hint: {h}")?;
        }
        Ok(())
    }
}

/// Everything wrong with a policy.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct PolicyError {
    pub diagnostics: Vec<Diagnostic>,
}

impl fmt::Display for PolicyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, d) in self.diagnostics.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{d}")?;
        }
        write!(
            f,
            "\n{} error{} in the policy",
            self.diagnostics.len(),
            if self.diagnostics.len() == 1 { "" } else { "s" }
        )
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    site: Option<Spanned<RawSite>>,
    #[serde(default)]
    agency: Vec<Spanned<RawAgency>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSite {
    name: Option<String>,
    lan: Spanned<String>,
    wan: Spanned<String>,
    forwarding: Option<Forwarding>,
    xdp_mode: Option<XdpMode>,
    unclassified: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAgency {
    id: Spanned<String>,
    name: Option<String>,
    #[serde(default)]
    vlans: Vec<Spanned<i64>>,
    #[serde(default)]
    qinq: Vec<Spanned<[i64; 2]>>,
    upload: Spanned<RawLimit>,
    download: Spanned<RawLimit>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLimit {
    rate: Spanned<String>,
    burst: Option<Spanned<String>>,
}

/// A file's text and name, for turning byte offsets into lines and columns.
struct Source {
    path: PathBuf,
    text: String,
}

impl Source {
    fn diag(
        &self,
        span: Range<usize>,
        message: impl Into<String>,
        hint: Option<String>,
    ) -> Diagnostic {
        let (line, column) = line_col(&self.text, span.start);
        Diagnostic {
            file: self.path.clone(),
            line,
            column,
            message: message.into(),
            hint,
        }
    }
}

fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(text.len());
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let column = before.rfind('\n').map_or(offset, |nl| offset - nl - 1) + 1;
    (line, column)
}

/// Reads a policy from a file, or from every `*.toml` file of a directory.
pub fn load(path: &Path) -> Result<Policy, PolicyError> {
    let files = policy_files(path).map_err(|d| PolicyError {
        diagnostics: vec![d],
    })?;
    let mut sources = Vec::new();
    let mut diags = Vec::new();
    for file in files {
        match std::fs::read_to_string(&file) {
            Ok(text) => sources.push(Source { path: file, text }),
            Err(e) => diags.push(whole_file(
                &file,
                format!("cannot read the file: {e}"),
                None,
            )),
        }
    }
    if !diags.is_empty() {
        return Err(PolicyError { diagnostics: diags });
    }
    compile(sources)
}

/// Reads a policy from in-memory files (name, text), as [`load`] would from disk.
pub fn from_texts(files: &[(&str, &str)]) -> Result<Policy, PolicyError> {
    compile(
        files
            .iter()
            .map(|(p, t)| Source {
                path: PathBuf::from(p),
                text: t.to_string(),
            })
            .collect(),
    )
}

fn whole_file(path: &Path, message: String, hint: Option<String>) -> Diagnostic {
    Diagnostic {
        file: path.to_path_buf(),
        line: 0,
        column: 0,
        message,
        hint,
    }
}

fn policy_files(path: &Path) -> Result<Vec<PathBuf>, Diagnostic> {
    let meta = std::fs::metadata(path).map_err(|e| {
        whole_file(
            path,
            format!("cannot read the policy: {e}"),
            Some("give a policy file or a directory of *.toml files".into()),
        )
    })?;
    if !meta.is_dir() {
        return Ok(vec![path.to_path_buf()]);
    }
    let entries = std::fs::read_dir(path)
        .map_err(|e| whole_file(path, format!("cannot list the policy directory: {e}"), None))?;
    let mut files: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        // Editors' swap and backup files (".x.toml.swp", "x.toml~") end otherwise.
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
            "the policy directory has no *.toml files".into(),
            Some(
                "add a site file with a [site] table and agency files with [[agency]] tables"
                    .into(),
            ),
        ));
    }
    Ok(files)
}

fn compile(sources: Vec<Source>) -> Result<Policy, PolicyError> {
    let mut diags = Vec::new();
    let mut parsed = Vec::new();
    let mut unreadable = false;
    for (i, src) in sources.iter().enumerate() {
        match toml::from_str::<RawFile>(&src.text) {
            Ok(raw) => parsed.push((i, raw)),
            Err(e) => {
                let span = e.span().unwrap_or(0..0);
                diags.push(src.diag(span, e.message().trim().to_string(), None));
                unreadable = true;
            }
        }
    }

    // Exactly one [site].
    let mut site: Option<(usize, Spanned<RawSite>)> = None;
    let mut agencies: Vec<(usize, Spanned<RawAgency>)> = Vec::new();
    for (i, raw) in parsed {
        if let Some(s) = raw.site {
            if let Some((first, first_site)) = &site {
                let (l, _) = line_col(&sources[*first].text, first_site.span().start);
                diags.push(sources[i].diag(
                    s.span(),
                    "a second [site] table",
                    Some(format!(
                        "the site is already defined at {}:{l}; a policy has one [site]",
                        sources[*first].path.display()
                    )),
                ));
            } else {
                site = Some((i, s));
            }
        }
        agencies.extend(raw.agency.into_iter().map(|a| (i, a)));
    }

    // Agencies.
    let mut out_agencies = Vec::new();
    let mut ids: HashMap<String, (usize, Range<usize>)> = HashMap::new();
    let mut vlans: HashMap<u16, (String, usize, Range<usize>)> = HashMap::new();
    let mut qinqs: HashMap<(u16, u16), String> = HashMap::new();
    for (i, a) in &agencies {
        let src = &sources[*i];
        let a = a.get_ref();
        let id = a.id.get_ref().clone();
        if !valid_id(&id) {
            diags.push(src.diag(
                a.id.span(),
                format!("agency id \"{id}\" is not allowed"),
                Some("use lowercase letters, digits and '-', starting with a letter (e.g. \"dinkes\"); \"pass\" and \"drop\" are reserved".into()),
            ));
        }
        if let Some((fi, fspan)) = ids.get(&id) {
            let (l, _) = line_col(&sources[*fi].text, fspan.start);
            diags.push(src.diag(
                a.id.span(),
                format!("duplicate agency id \"{id}\""),
                Some(format!(
                    "\"{id}\" is already used at {}:{l}; ids must be unique",
                    sources[*fi].path.display()
                )),
            ));
        } else {
            ids.insert(id.clone(), (*i, a.id.span()));
        }
        let mut agency_vlans = Vec::new();
        for v in &a.vlans {
            let vid = *v.get_ref();
            if !(1..=4094).contains(&vid) {
                diags.push(src.diag(
                    v.span(),
                    format!("VLAN id {vid} is out of range"),
                    Some("802.1Q VLAN ids run from 1 to 4094 (0 and 4095 are reserved)".into()),
                ));
                continue;
            }
            let vid = vid as u16;
            if let Some((other, fi, fspan)) = vlans.get(&vid) {
                let (l, _) = line_col(&sources[*fi].text, fspan.start);
                diags.push(src.diag(
                    v.span(),
                    format!("VLAN {vid} is already assigned to agency \"{other}\""),
                    Some(format!(
                        "see {}:{l}; a VLAN belongs to one agency",
                        sources[*fi].path.display()
                    )),
                ));
                continue;
            }
            vlans.insert(vid, (id.clone(), *i, v.span()));
            agency_vlans.push(vid);
        }
        let mut agency_qinq = Vec::new();
        for q in &a.qinq {
            let [outer, inner] = *q.get_ref();
            if !(1..=4094).contains(&outer) || !(1..=4094).contains(&inner) {
                diags.push(src.diag(
                    q.span(),
                    format!("QinQ pair [{outer}, {inner}] is out of range"),
                    Some("write [outer, inner] with both VLAN ids from 1 to 4094".into()),
                ));
                continue;
            }
            let pair = (outer as u16, inner as u16);
            if let Some(other) = qinqs.get(&pair) {
                diags.push(src.diag(
                    q.span(),
                    format!(
                        "QinQ pair [{outer}, {inner}] is already assigned to agency \"{other}\""
                    ),
                    None,
                ));
                continue;
            }
            qinqs.insert(pair, id.clone());
            agency_qinq.push(pair);
        }
        if a.vlans.is_empty() && a.qinq.is_empty() {
            diags.push(src.diag(
                a.id.span(),
                format!("agency \"{id}\" has no VLAN"),
                Some("add `vlans = [110]` (or `qinq = [[outer, inner]]`) so its traffic can be recognised".into()),
            ));
        }
        let upload = limit(src, &a.upload, &mut diags);
        let download = limit(src, &a.download, &mut diags);
        out_agencies.push(Agency {
            name: a.name.clone().unwrap_or_else(|| id.clone()),
            id,
            vlans: agency_vlans,
            qinq: agency_qinq,
            upload,
            download,
        });
    }

    let site = match site {
        // A file that did not parse may well hold the site: say nothing more.
        None if unreadable => None,
        None => {
            let file = sources
                .first()
                .map_or_else(PathBuf::new, |s| s.path.clone());
            diags.push(whole_file(
                &file,
                "the policy has no [site] table".into(),
                Some("add [site] with `lan` and `wan` (the gateway's two ports)".into()),
            ));
            None
        }
        Some((i, s)) => {
            let src = &sources[i];
            let s = s.into_inner();
            let unclassified = match s.unclassified {
                None => Unclassified::Pass,
                Some(u) => match u.get_ref().as_str() {
                    "pass" => Unclassified::Pass,
                    "drop" => Unclassified::Drop,
                    other => match out_agencies.iter().position(|a| a.id == other) {
                        Some(idx) => Unclassified::Agency(idx),
                        None => {
                            diags.push(src.diag(
                                u.span(),
                                format!("`unclassified` names \"{other}\", which is not an agency"),
                                Some("write \"pass\", \"drop\" or the id of an agency of this policy".into()),
                            ));
                            Unclassified::Pass
                        }
                    },
                },
            };
            for (port, which) in [(&s.lan, "lan"), (&s.wan, "wan")] {
                if !valid_ifname(port.get_ref()) {
                    diags.push(src.diag(
                        port.span(),
                        format!("\"{}\" is not a valid interface name", port.get_ref()),
                        Some(format!("`{which}` is the name of a network interface, 1–15 characters, e.g. \"eth1\"")),
                    ));
                }
            }
            if s.lan.get_ref() == s.wan.get_ref() {
                diags.push(src.diag(
                    s.wan.span(),
                    "`lan` and `wan` are the same interface",
                    Some("the gateway sits between two ports: the agencies' trunk and the uplink".into()),
                ));
            }
            Some(Site {
                name: s.name.unwrap_or_else(|| "OPD Gateway".into()),
                lan: s.lan.into_inner(),
                wan: s.wan.into_inner(),
                forwarding: s.forwarding.unwrap_or(Forwarding::Redirect),
                xdp_mode: s.xdp_mode.unwrap_or(XdpMode::Native),
                unclassified,
            })
        }
    };

    if out_agencies.len() > gateway_common::MAX_AGENCIES as usize {
        diags.push(whole_file(
            &sources[0].path,
            format!(
                "{} agencies; the data plane holds at most {}",
                out_agencies.len(),
                gateway_common::MAX_AGENCIES
            ),
            None,
        ));
    }

    match (site, diags.is_empty()) {
        (Some(site), true) => Ok(Policy {
            site,
            agencies: out_agencies,
            files: sources.into_iter().map(|s| s.path).collect(),
        }),
        _ => Err(PolicyError { diagnostics: diags }),
    }
}

fn limit(src: &Source, raw: &Spanned<RawLimit>, diags: &mut Vec<Diagnostic>) -> Limit {
    let r = raw.get_ref();
    if r.rate.get_ref().trim() == "unlimited" {
        if let Some(b) = &r.burst {
            diags.push(src.diag(
                b.span(),
                "`burst` has no meaning for an unlimited rate",
                Some("remove it, or set a `rate`".into()),
            ));
        }
        return Limit::Unlimited;
    }
    let rate = match parse_rate(r.rate.get_ref()) {
        Ok(rate) => rate,
        Err(e) => {
            diags.push(src.diag(r.rate.span(), e.0, Some("or \"unlimited\"".into())));
            return Limit::Unlimited;
        }
    };
    let burst_bytes = match &r.burst {
        None => default_burst(rate),
        Some(b) => match parse_duration(b.get_ref()) {
            Ok(d) if d.is_zero() => {
                diags.push(src.diag(
                    b.span(),
                    "`burst` must be longer than zero",
                    Some("e.g. \"10ms\": the bucket depth as time at the rate".into()),
                ));
                0
            }
            Ok(d) => (rate.bytes_per_second() as u128 * d.as_nanos() / 1_000_000_000) as u64,
            Err(e) => {
                diags.push(src.diag(
                    b.span(),
                    e.0,
                    Some("`burst` is the bucket depth as time at the rate, e.g. \"10ms\"".into()),
                ));
                0
            }
        },
    };
    Limit::Rate { rate, burst_bytes }
}

/// Bucket depth when the policy gives none: [`defaults::BURST_TIME`] at the rate, at least
/// [`defaults::MIN_BURST_BYTES`].
pub fn default_burst(rate: Rate) -> u64 {
    let at_rate = rate.bytes_per_second() as u128 * defaults::BURST_TIME.as_nanos() / 1_000_000_000;
    (at_rate as u64).max(defaults::MIN_BURST_BYTES)
}

fn valid_id(id: &str) -> bool {
    let mut chars = id.chars();
    chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && id.len() <= 64
        && id
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && id != "pass"
        && id != "drop"
}

fn valid_ifname(name: &str) -> bool {
    !name.is_empty()
        && name.len() < 16
        && !name.contains(['/', ' ', '\t', '\n', ':'])
        && name != "."
        && name != ".."
}

#[cfg(test)]
mod tests {
    use super::*;

    const SITE: &str = r#"
[site]
name = "Kabupaten Contoh"
lan = "eth1"
wan = "eth2"
"#;

    fn agency(id: &str, vlan: u16) -> String {
        format!(
            r#"
[[agency]]
id = "{id}"
vlans = [{vlan}]
upload = {{ rate = "10Mbps" }}
download = {{ rate = "20Mbps", burst = "20ms" }}
"#
        )
    }

    fn errors(files: &[(&str, &str)]) -> Vec<Diagnostic> {
        from_texts(files)
            .expect_err("should be rejected")
            .diagnostics
    }

    #[test]
    fn a_small_policy() {
        let text = format!("{SITE}{}{}", agency("dinkes", 110), agency("bpbd", 120));
        let p = from_texts(&[("site.toml", &text)]).unwrap();
        assert_eq!(p.site.lan, "eth1");
        assert_eq!(p.site.forwarding, Forwarding::Redirect);
        assert_eq!(p.site.unclassified, Unclassified::Pass);
        assert_eq!(p.agencies.len(), 2);
        assert_eq!(p.agencies[1].id, "bpbd");
        assert_eq!(p.agencies[0].vlans, vec![110]);
        assert_eq!(
            p.agencies[0].upload,
            Limit::Rate {
                rate: Rate(10_000_000),
                burst_bytes: 125_000, // 100 ms at 10 Mbps
            }
        );
        assert_eq!(
            p.agencies[0].download,
            Limit::Rate {
                rate: Rate(20_000_000),
                burst_bytes: 50_000,
            }
        );
    }

    #[test]
    fn agencies_across_files() {
        let p = from_texts(&[
            ("00-site.toml", SITE),
            ("dinkes.toml", &agency("dinkes", 110)),
            ("bpbd.toml", &agency("bpbd", 120)),
        ])
        .unwrap();
        assert_eq!(p.agencies.len(), 2);
        assert_eq!(p.files.len(), 3);
    }

    #[test]
    fn unknown_key_is_an_error_with_position() {
        let text = format!(
            "{SITE}\n[[agency]]\nid = \"a\"\nvlans = [5]\nupload = {{ rat = \"1Mbps\" }}\ndownload = {{ rate = \"1Mbps\" }}\n"
        );
        let d = errors(&[("p.toml", &text)]);
        assert_eq!(d.len(), 1, "{d:?}");
        assert!(d[0].message.contains("unknown field `rat`"), "{}", d[0]);
        assert!(d[0].message.contains("rate"), "{}", d[0]);
        assert_eq!((d[0].line, d[0].column), (10, 12), "{}", d[0]);
    }

    #[test]
    fn every_semantic_error_at_once() {
        let text = format!(
            "{SITE}unclassified = \"wifi\"\n{}{}{}",
            agency("dinkes", 110),
            agency("dinkes", 110),
            agency("Bad_Id", 5000)
        );
        let d = errors(&[("p.toml", &text)]);
        let msgs: Vec<String> = d.iter().map(|d| d.to_string()).collect();
        let all = msgs.join("\n");
        assert!(all.contains("duplicate agency id \"dinkes\""), "{all}");
        assert!(
            all.contains("VLAN 110 is already assigned to agency \"dinkes\""),
            "{all}"
        );
        assert!(all.contains("agency id \"Bad_Id\" is not allowed"), "{all}");
        assert!(all.contains("VLAN id 5000 is out of range"), "{all}");
        assert!(all.contains("`unclassified` names \"wifi\""), "{all}");
        assert_eq!(d.len(), 5, "{all}");
        // The duplicate id points at the second definition, line and column of its value.
        let dup = d
            .iter()
            .find(|d| d.message.starts_with("duplicate agency id"))
            .unwrap();
        assert_eq!((dup.line, dup.column), (15, 6), "{dup}");
    }

    #[test]
    fn bad_units_say_what_to_write() {
        let text = format!(
            "{SITE}\n[[agency]]\nid = \"a\"\nvlans = [5]\nupload = {{ rate = \"10MB\" }}\ndownload = {{ rate = \"10\", burst = \"5\" }}\n"
        );
        let d = errors(&[("p.toml", &text)]);
        let all: Vec<String> = d.iter().map(|d| d.to_string()).collect();
        assert_eq!(d.len(), 2, "{all:?}"); // the burst of a bad rate is not judged
        assert!(
            all[0].contains("p.toml:10:19") && all[0].contains("80Mbps"),
            "{all:?}"
        );
        assert!(all[1].contains("\"10Mbps\""), "{all:?}");
    }

    #[test]
    fn site_is_required_and_unique() {
        let d = errors(&[("a.toml", &agency("a", 1))]);
        assert!(d[0].message.contains("no [site]"), "{d:?}");
        let d = errors(&[("a.toml", SITE), ("b.toml", SITE)]);
        assert!(d[0].message.contains("second [site]"), "{d:?}");
        assert!(d[0].hint.as_ref().unwrap().contains("a.toml:2"), "{d:?}");
    }

    #[test]
    fn unclassified_to_an_agency_and_unlimited() {
        let text = format!(
            "{SITE}unclassified = \"wifi\"\n[[agency]]\nid = \"wifi\"\nvlans = [300]\nqinq = [[400, 7]]\nupload = {{ rate = \"unlimited\" }}\ndownload = {{ rate = \"5Mbps\" }}\n"
        );
        let p = from_texts(&[("p.toml", &text)]).unwrap();
        assert_eq!(p.site.unclassified, Unclassified::Agency(0));
        assert_eq!(p.agencies[0].upload, Limit::Unlimited);
        assert_eq!(p.agencies[0].qinq, vec![(400, 7)]);
    }

    #[test]
    fn syntax_errors_have_positions() {
        let d = errors(&[("p.toml", "[site]\nlan = \"eth1\nwan = 3\n")]);
        assert_eq!(d.len(), 1);
        assert_eq!(d[0].line, 2, "{}", d[0]);
    }
}
