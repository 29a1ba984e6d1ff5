//! The policy as written: TOML into types that keep every value's position.
//!
//! Read by walking the parsed document against the keys each table may hold ([`SITE`],
//! [`AGENCY`], …), so that every unknown key, missing key, value of the wrong kind and extra
//! list item is reported in the admin's words, with an example of a correct line, and every
//! one of them at once. Nothing written is ignored: what is not read is refused.

use std::ops::Range;

use toml::{
    Spanned,
    de::{DeArray, DeTable, DeValue},
};

use super::{
    Fallback, Forwarding, Hosts, Tier, XdpMode,
    compile::edit_distance,
    defaults::{HOST_IPV6_PREFIX_RANGE, HOST_TABLE_RANGE},
    messages::{Msg, MsgId},
};

pub struct File {
    pub site: Option<Spanned<Site>>,
    pub agency: Vec<Spanned<Agency>>,
}

pub struct Site {
    pub name: Option<String>,
    pub lan: Spanned<String>,
    pub wan: Spanned<String>,
    pub capacity: Option<Spanned<PerDirection>>,
    pub headroom: Option<Spanned<String>>,
    pub tick: Option<Spanned<String>>,
    pub expiry: Option<Spanned<String>>,
    pub timezone: Option<Spanned<String>>,
    pub fallback: Option<Fallback>,
    pub forwarding: Option<Forwarding>,
    pub xdp_mode: Option<XdpMode>,
    pub unclassified: Option<Spanned<String>>,
    pub costs: Option<Spanned<Costs>>,
    pub hosts: Option<Hosts>,
    pub host_table: Option<Spanned<i64>>,
    pub host_ipv6_prefix: Option<Spanned<i64>>,
}

/// `[site.costs]`: what the uplink and the agencies' former packages cost.
pub struct Costs {
    pub uplink_per_mbps_month: Spanned<i64>,
    /// Package (a rate, as written) and its price per year, in the order written; `None`
    /// when the table is not written.
    pub package_per_year: Option<Vec<(Spanned<String>, Spanned<i64>)>>,
    pub currency: Option<Spanned<String>>,
}

pub struct PerDirection {
    pub upload: Spanned<String>,
    pub download: Spanned<String>,
}

pub struct Agency {
    pub id: Spanned<String>,
    pub name: Option<String>,
    pub tier: Option<Tier>,
    pub weight: Option<Spanned<i64>>,
    pub hosts: Option<Hosts>,
    pub vlans: Vec<Spanned<i64>>,
    pub qinq: Vec<Spanned<[i64; 2]>>,
    pub prefixes: Vec<Spanned<String>>,
    /// The fixed package bought before pooling.
    pub package: Option<Spanned<String>>,
    pub upload: Spanned<Limit>,
    pub download: Spanned<Limit>,
    pub schedule: Vec<Spanned<Schedule>>,
}

pub struct Limit {
    /// Shorthand for guaranteed = ceiling = rate.
    pub rate: Option<Spanned<String>>,
    pub guaranteed: Option<Spanned<String>>,
    pub ceiling: Option<Spanned<String>>,
    pub burst: Option<Spanned<String>>,
    /// The most one host may pass.
    pub host_ceiling: Option<Spanned<String>>,
}

pub struct Schedule {
    pub days: Spanned<Vec<Spanned<String>>>,
    pub hours: Spanned<String>,
    pub upload: Option<Spanned<Override>>,
    pub download: Option<Spanned<Override>>,
}

pub struct Override {
    pub guaranteed: Option<Spanned<String>>,
    pub ceiling: Option<Spanned<String>>,
}

/// A key a table may hold: what its value must be, and a line that sets it correctly.
pub struct Key {
    pub name: &'static str,
    pub expect: MsgId,
    pub example: &'static str,
}

const fn key(name: &'static str, expect: MsgId, example: &'static str) -> Key {
    Key {
        name,
        expect,
        example,
    }
}

pub const ROOT: &[Key] = &[
    key("site", MsgId::ExpectSiteTable, "[site]"),
    key("agency", MsgId::ExpectTableList, "[[agency]]"),
];

pub const SITE: &[Key] = &[
    key(
        "name",
        MsgId::ExpectText,
        "name = \"Diskominfo Kabupaten Contoh\"",
    ),
    key("lan", MsgId::ExpectText, "lan = \"eth1\""),
    key("wan", MsgId::ExpectText, "wan = \"eth2\""),
    key(
        "capacity",
        MsgId::ExpectTable,
        "capacity = { upload = \"500Mbps\", download = \"1Gbps\" }",
    ),
    key("headroom", MsgId::ExpectAmount, "headroom = \"2%\""),
    key("tick", MsgId::ExpectDuration, "tick = \"1s\""),
    key("expiry", MsgId::ExpectDuration, "expiry = \"3s\""),
    key("timezone", MsgId::ExpectText, "timezone = \"Asia/Jakarta\""),
    key("fallback", MsgId::ExpectOneOf, "fallback = \"shared\""),
    key(
        "forwarding",
        MsgId::ExpectOneOf,
        "forwarding = \"redirect\"",
    ),
    key("xdp_mode", MsgId::ExpectOneOf, "xdp_mode = \"native\""),
    key("unclassified", MsgId::ExpectText, "unclassified = \"drop\""),
    key("hosts", MsgId::ExpectOneOf, "hosts = \"fair\""),
    key("host_table", MsgId::ExpectWholeNumber, "host_table = 65536"),
    key(
        "host_ipv6_prefix",
        MsgId::ExpectWholeNumber,
        "host_ipv6_prefix = 64",
    ),
    key(
        "costs",
        MsgId::ExpectTable,
        "costs = { uplink_per_mbps_month = 250000 }",
    ),
];

pub const CAPACITY: &[Key] = &[
    key("upload", MsgId::ExpectRate, "upload = \"500Mbps\""),
    key("download", MsgId::ExpectRate, "download = \"1Gbps\""),
];

pub const COSTS: &[Key] = &[
    key(
        "uplink_per_mbps_month",
        MsgId::ExpectPrice,
        "uplink_per_mbps_month = 250000",
    ),
    key(
        "package_per_year",
        MsgId::ExpectTable,
        "package_per_year = { \"10Mbps\" = 30000000, \"20Mbps\" = 60000000 }",
    ),
    key("currency", MsgId::ExpectText, "currency = \"Rp\""),
];

pub const AGENCY: &[Key] = &[
    key("id", MsgId::ExpectText, "id = \"dinkes\""),
    key("name", MsgId::ExpectText, "name = \"Dinas Kesehatan\""),
    key("tier", MsgId::ExpectOneOf, "tier = \"standard\""),
    key("weight", MsgId::ExpectWeight, "weight = 2"),
    key("hosts", MsgId::ExpectOneOf, "hosts = \"fair\""),
    key("vlans", MsgId::ExpectVlanList, "vlans = [110, 111]"),
    key("qinq", MsgId::ExpectQinqList, "qinq = [[3000, 10]]"),
    key(
        "prefixes",
        MsgId::ExpectTextList,
        "prefixes = [\"198.18.10.0/24\"]",
    ),
    key("package", MsgId::ExpectRate, "package = \"20Mbps\""),
    key(
        "upload",
        MsgId::ExpectTable,
        "upload = { guaranteed = \"10Mbps\", ceiling = \"50Mbps\" }",
    ),
    key(
        "download",
        MsgId::ExpectTable,
        "download = { guaranteed = \"20Mbps\", ceiling = \"100Mbps\" }",
    ),
    key("schedule", MsgId::ExpectTableList, "[[agency.schedule]]"),
];

pub const LIMIT: &[Key] = &[
    key("rate", MsgId::ExpectAmount, "rate = \"10Mbps\""),
    key("guaranteed", MsgId::ExpectAmount, "guaranteed = \"10Mbps\""),
    key("ceiling", MsgId::ExpectAmount, "ceiling = \"50Mbps\""),
    key("burst", MsgId::ExpectDuration, "burst = \"100ms\""),
    key(
        "host_ceiling",
        MsgId::ExpectAmount,
        "host_ceiling = \"5Mbps\"",
    ),
];

pub const SCHEDULE: &[Key] = &[
    key("days", MsgId::ExpectTextList, "days = [\"mon-fri\"]"),
    key("hours", MsgId::ExpectText, "hours = \"07:00-16:00\""),
    key(
        "upload",
        MsgId::ExpectTable,
        "upload = { guaranteed = \"20Mbps\" }",
    ),
    key(
        "download",
        MsgId::ExpectTable,
        "download = { guaranteed = \"50Mbps\", ceiling = \"300Mbps\" }",
    ),
];

pub const OVERRIDE: &[Key] = &[
    key("guaranteed", MsgId::ExpectAmount, "guaranteed = \"50Mbps\""),
    key("ceiling", MsgId::ExpectAmount, "ceiling = \"300Mbps\""),
];

/// Names admins bring from MikroTik's queues, and the key they mean here.
const MIKROTIK: &[(&str, &str)] = &[
    ("max-limit", "ceiling"),
    ("max_limit", "ceiling"),
    ("limit-at", "guaranteed"),
    ("limit_at", "guaranteed"),
    ("burst-limit", "burst"),
    ("burst_limit", "burst"),
    ("burst-time", "burst"),
    ("burst_time", "burst"),
    ("burst-threshold", "burst"),
    ("target", "prefixes"),
    // PCQ: one queue per address, the rate shared between them.
    ("pcq-rate", "host_ceiling"),
    ("pcq_rate", "host_ceiling"),
    ("pcq-classifier", "hosts"),
    ("pcq_classifier", "hosts"),
    ("pcq-dst-address6-mask", "host_ipv6_prefix"),
    ("pcq-src-address6-mask", "host_ipv6_prefix"),
];

/// Keys that are valid in another table: where each is set, and a line that sets it.
const ELSEWHERE: &[(&str, MsgId, &str)] = &[
    (
        "host_ceiling",
        MsgId::PlacePerDirection,
        "download = { ceiling = \"100Mbps\", host_ceiling = \"5Mbps\" }",
    ),
    ("hosts", MsgId::PlaceSiteOrAgency, "hosts = \"fair\""),
    ("host_table", MsgId::PlaceSite, "host_table = 65536"),
    (
        "host_ipv6_prefix",
        MsgId::PlaceSite,
        "host_ipv6_prefix = 64",
    ),
];

pub const TIERS: &[&str] = &["critical", "standard", "public"];
pub const FALLBACKS: &[&str] = &["shared", "guaranteed"];
pub const FORWARDINGS: &[&str] = &["redirect", "bridge"];
pub const XDP_MODES: &[&str] = &["native", "generic"];
pub const HOSTS: &[&str] = &["fair", "shared"];

/// Something wrong in what was written, at its position.
pub struct Problem {
    pub span: Range<usize>,
    pub message: Msg,
    pub hint: Option<Msg>,
    /// Where a key set twice was first set (the hint names that place).
    pub first_set: Option<usize>,
}

/// Reads one file's text; every problem in it, or its tables.
pub fn read(text: &str) -> Result<File, Vec<Problem>> {
    let (doc, errors) = DeTable::parse_recoverable(text);
    if !errors.is_empty() {
        // What follows a syntax error is a guess of the parser's: report only the errors.
        return Err(super::syntax::problems(&errors, doc.get_ref(), text));
    }
    let mut w = Walker {
        problems: Vec::new(),
    };
    let root = doc.get_ref();
    let file = w.file(root);
    if w.problems.is_empty() {
        Ok(file)
    } else {
        // Tables keep their keys sorted by name: report in the order of the text.
        w.problems.sort_by_key(|p| p.span.start);
        Err(w.problems)
    }
}

struct Walker {
    problems: Vec<Problem>,
}

type Value<'a> = Spanned<DeValue<'a>>;

impl Walker {
    fn problem(&mut self, span: Range<usize>, message: Msg, hint: Option<Msg>) {
        self.problems.push(Problem {
            span,
            message,
            hint,
            first_set: None,
        });
    }

    /// Refuses every key not in `keys`, with the nearest valid key or the MikroTik name.
    fn unknown_keys(&mut self, t: &DeTable, keys: &[Key], table: Msg) {
        for (k, _) in t.iter() {
            let name = k.get_ref().as_ref();
            if keys.iter().any(|x| x.name == name) {
                continue;
            }
            let hint = nearest_key(name, keys);
            self.problem(
                k.span(),
                Msg::new(MsgId::UnknownKey)
                    .arg("key", name)
                    .with("table", table.clone()),
                Some(hint.unwrap_or_else(|| {
                    Msg::new(MsgId::KnownKeys)
                        .with("table", table.clone())
                        .arg(
                            "keys",
                            keys.iter()
                                .map(|k| format!("`{}`", k.name))
                                .collect::<Vec<_>>()
                                .join(", "),
                        )
                        .arg("line", keys[0].example)
                })),
            );
        }
    }

    fn wrong_kind(&mut self, v: &Value, key: &Key) {
        self.wrong_kind_write(v, key, key.example);
    }

    /// A value of the wrong kind, with the line meant when it is clear.
    fn wrong_kind_write(&mut self, v: &Value, key: &Key, line: &str) {
        self.problem(
            v.span(),
            Msg::new(MsgId::WrongKind)
                .arg("key", key.name)
                .with("expected", expected(key))
                .with("found", found(v.get_ref())),
            Some(Msg::new(MsgId::WriteLike).arg("line", line)),
        );
    }

    fn wrong_item(&mut self, v: &Value, key: &Key, expect: MsgId) {
        self.problem(
            v.span(),
            Msg::new(MsgId::WrongKindInList)
                .arg("key", key.name)
                .with("expected", Msg::new(expect))
                .with("found", found(v.get_ref())),
            Some(Msg::new(MsgId::WriteLike).arg("line", key.example)),
        );
    }

    fn missing(&mut self, span: Range<usize>, keys: &[Key], name: &str, table: Msg) {
        let k = spec(keys, name);
        self.problem(
            span,
            Msg::new(MsgId::MissingKey)
                .with("table", table)
                .arg("key", k.name),
            Some(Msg::new(MsgId::AddLike).arg("line", k.example)),
        );
    }

    /// A text value, without the spaces around it.
    fn text(&mut self, v: &Value, key: &Key) -> Option<Spanned<String>> {
        match v.get_ref() {
            DeValue::String(s) => Some(Spanned::new(v.span(), s.trim().to_string())),
            _ => {
                self.wrong_kind(v, key);
                None
            }
        }
    }

    fn integer(&mut self, v: &Value, key: &Key) -> Option<Spanned<i64>> {
        match v.get_ref() {
            DeValue::Integer(i) => match i64::from_str_radix(i.as_str(), i.radix()) {
                Ok(n) => Some(Spanned::new(v.span(), n)),
                Err(_) => {
                    self.problem(
                        v.span(),
                        Msg::new(MsgId::NumberOutOfRange)
                            .arg("number", i)
                            .arg("key", key.name),
                        Some(Msg::new(MsgId::WriteLike).arg("line", key.example)),
                    );
                    None
                }
            },
            _ => {
                self.wrong_kind(v, key);
                None
            }
        }
    }

    /// A whole number; one written otherwise ("65.536", "Rp 250.000", "/64") is refused
    /// with the number meant.
    fn whole(&mut self, v: &Value, key: &Key) -> Option<Spanned<i64>> {
        match whole_meant(v.get_ref()) {
            Some(n) if !matches!(v.get_ref(), DeValue::Integer(_)) => {
                self.wrong_kind_write(v, key, &format!("{} = {n}", key.name));
                None
            }
            _ => self.integer(v, key),
        }
    }

    /// One of a few words; its index in `choices`.
    fn choice(&mut self, v: &Value, key: &Key) -> Option<usize> {
        let choices = choices(key.name);
        let s = self.text(v, key)?;
        let word = s.get_ref().as_str();
        if let Some(i) = choices.iter().position(|c| *c == word) {
            return Some(i);
        }
        let lower = word.to_ascii_lowercase();
        let line = match choices.iter().min_by_key(|c| edit_distance(&lower, c)) {
            Some(c) if edit_distance(&lower, c) <= 2 => format!("{} = \"{c}\"", key.name),
            _ => key.example.to_string(),
        };
        self.problem(
            v.span(),
            Msg::new(MsgId::NotOneOf)
                .arg("key", key.name)
                .arg("choices", quoted_list(choices))
                .arg("found", word),
            Some(Msg::new(MsgId::WriteLike).arg("line", line)),
        );
        None
    }

    fn array<'v, 'a>(&mut self, v: &'v Value<'a>, key: &Key) -> Option<&'v DeArray<'a>> {
        match v.get_ref() {
            DeValue::Array(a) => Some(a),
            _ => {
                self.wrong_kind(v, key);
                None
            }
        }
    }

    fn table<'v, 'a>(&mut self, v: &'v Value<'a>, key: &Key) -> Option<&'v DeTable<'a>> {
        match v.get_ref() {
            DeValue::Table(t) => Some(t),
            _ => {
                self.wrong_kind(v, key);
                None
            }
        }
    }

    /// `[[key]]` tables, each with its span.
    fn tables<'v, 'a>(
        &mut self,
        v: &'v Value<'a>,
        key: &Key,
    ) -> Vec<(&'v DeTable<'a>, Range<usize>)> {
        let Some(items) = self.array(v, key) else {
            return Vec::new();
        };
        let mut out = Vec::new();
        for item in items.iter() {
            match item.get_ref() {
                DeValue::Table(t) => out.push((t, item.span())),
                _ => self.wrong_item(item, key, MsgId::ExpectTable),
            }
        }
        out
    }

    fn texts(&mut self, v: &Value, key: &Key) -> Vec<Spanned<String>> {
        let Some(items) = self.array(v, key) else {
            return Vec::new();
        };
        let mut out = Vec::new();
        for item in items.iter() {
            match item.get_ref() {
                DeValue::String(s) => out.push(Spanned::new(item.span(), s.trim().to_string())),
                _ => self.wrong_item(item, key, MsgId::ExpectText),
            }
        }
        out
    }

    fn file(&mut self, root: &DeTable) -> File {
        self.unknown_keys(root, ROOT, Msg::new(MsgId::TableRoot));
        let site = root.get("site").and_then(|v| {
            let k = spec(ROOT, "site");
            match v.get_ref() {
                DeValue::Table(t) => self.site(t, v.span()).map(|s| Spanned::new(v.span(), s)),
                _ => {
                    self.wrong_kind(v, k);
                    None
                }
            }
        });
        let mut agency = Vec::new();
        if let Some(v) = root.get("agency") {
            for (t, span) in self.tables(v, spec(ROOT, "agency")) {
                if let Some(a) = self.agency(t, span.clone()) {
                    agency.push(Spanned::new(span, a));
                }
            }
        }
        File { site, agency }
    }

    fn site(&mut self, t: &DeTable, span: Range<usize>) -> Option<Site> {
        let here = || Msg::new(MsgId::TableSite);
        self.unknown_keys(t, SITE, here());
        let k = |n: &str| -> &'static Key { spec(SITE, n) };
        let name = t
            .get("name")
            .and_then(|v| self.text(v, k("name")))
            .map(Spanned::into_inner);
        let lan = t.get("lan").and_then(|v| self.text(v, k("lan")));
        let wan = t.get("wan").and_then(|v| self.text(v, k("wan")));
        let capacity = t.get("capacity").and_then(|v| {
            let c = self.table(v, k("capacity"))?;
            let table = || Msg::new(MsgId::TableCapacity);
            self.unknown_keys(c, CAPACITY, table());
            let up = c
                .get("upload")
                .and_then(|x| self.text(x, spec(CAPACITY, "upload")));
            let down = c
                .get("download")
                .and_then(|x| self.text(x, spec(CAPACITY, "download")));
            for (n, present) in [("upload", c.get("upload")), ("download", c.get("download"))] {
                if present.is_none() {
                    self.missing(v.span(), CAPACITY, n, table());
                }
            }
            Some(Spanned::new(
                v.span(),
                PerDirection {
                    upload: up?,
                    download: down?,
                },
            ))
        });
        let opt_text = |w: &mut Walker, n: &str| t.get(n).and_then(|v| w.text(v, k(n)));
        let headroom = opt_text(self, "headroom");
        let tick = opt_text(self, "tick");
        let expiry = opt_text(self, "expiry");
        let timezone = opt_text(self, "timezone");
        let unclassified = opt_text(self, "unclassified");
        let fallback = t
            .get("fallback")
            .and_then(|v| self.choice(v, k("fallback")))
            .map(|i| [Fallback::Shared, Fallback::Guaranteed][i]);
        let forwarding = t
            .get("forwarding")
            .and_then(|v| self.choice(v, k("forwarding")))
            .map(|i| [Forwarding::Redirect, Forwarding::Bridge][i]);
        let xdp_mode = t
            .get("xdp_mode")
            .and_then(|v| self.choice(v, k("xdp_mode")))
            .map(|i| [XdpMode::Native, XdpMode::Generic][i]);
        let costs = t.get("costs").and_then(|v| {
            let c = self.table(v, k("costs"))?;
            self.costs(c, v.span()).map(|c| Spanned::new(v.span(), c))
        });
        let hosts = t
            .get("hosts")
            .and_then(|v| self.choice(v, k("hosts")))
            .map(|i| [Hosts::Fair, Hosts::Shared][i]);
        let host_table = t
            .get("host_table")
            .and_then(|v| self.whole(v, k("host_table")));
        let host_ipv6_prefix = t
            .get("host_ipv6_prefix")
            .and_then(|v| self.whole(v, k("host_ipv6_prefix")));
        for n in ["lan", "wan"] {
            if t.get(n).is_none() {
                self.missing(span.clone(), SITE, n, here());
            }
        }
        Some(Site {
            name,
            lan: lan?,
            wan: wan?,
            capacity,
            headroom,
            tick,
            expiry,
            timezone,
            fallback,
            forwarding,
            xdp_mode,
            unclassified,
            costs,
            hosts,
            host_table,
            host_ipv6_prefix,
        })
    }

    fn costs(&mut self, t: &DeTable, span: Range<usize>) -> Option<Costs> {
        let here = || Msg::new(MsgId::TableCosts);
        self.unknown_keys(t, COSTS, here());
        let k = |n: &str| -> &'static Key { spec(COSTS, n) };
        let uplink = t
            .get("uplink_per_mbps_month")
            .and_then(|v| self.whole(v, k("uplink_per_mbps_month")));
        let package_per_year = t
            .get("package_per_year")
            .and_then(|v| self.prices(v, k("package_per_year")));
        let currency = t.get("currency").and_then(|v| self.text(v, k("currency")));
        if t.get("uplink_per_mbps_month").is_none() {
            self.missing(span, COSTS, "uplink_per_mbps_month", here());
        }
        Some(Costs {
            uplink_per_mbps_month: uplink?,
            package_per_year,
            currency,
        })
    }

    /// A table whose keys are written by the admin (package sizes) and whose values are
    /// prices: each key as written, with its position, and its price.
    fn prices(&mut self, v: &Value, key: &Key) -> Option<Vec<(Spanned<String>, Spanned<i64>)>> {
        let t = self.table(v, key)?;
        let mut out = Vec::new();
        for (name, price) in t.iter() {
            let name = Spanned::new(name.span(), name.get_ref().trim().to_string());
            match price.get_ref() {
                DeValue::Integer(_) => {
                    if let Some(p) = self.integer(price, key) {
                        out.push((name, p));
                    }
                }
                other => {
                    // The price meant, when it is clear: "Rp 30.000.000", 3e7.
                    let line = match whole_meant(other) {
                        Some(p) => format!("\"{}\" = {p}", name.get_ref()),
                        None => key.example.to_string(),
                    };
                    self.problem(
                        price.span(),
                        Msg::new(MsgId::WrongKindInTable)
                            .arg("key", key.name)
                            .with("expected", Msg::new(MsgId::ExpectPrice))
                            .with("found", found(other)),
                        Some(Msg::new(MsgId::WriteLike).arg("line", line)),
                    )
                }
            }
        }
        // Tables keep their keys sorted by name: keep the order of the text.
        out.sort_by_key(|(name, _)| name.span().start);
        Some(out)
    }

    fn agency(&mut self, t: &DeTable, span: Range<usize>) -> Option<Agency> {
        let here = || Msg::new(MsgId::TableAgency);
        self.unknown_keys(t, AGENCY, here());
        let k = |n: &str| -> &'static Key { spec(AGENCY, n) };
        let id = t.get("id").and_then(|v| self.text(v, k("id")));
        let name = t
            .get("name")
            .and_then(|v| self.text(v, k("name")))
            .map(Spanned::into_inner);
        let tier = t
            .get("tier")
            .and_then(|v| self.choice(v, k("tier")))
            .map(|i| Tier::ALL[i]);
        let weight = t.get("weight").and_then(|v| self.integer(v, k("weight")));
        let hosts = t
            .get("hosts")
            .and_then(|v| self.choice(v, k("hosts")))
            .map(|i| [Hosts::Fair, Hosts::Shared][i]);
        let mut vlans = Vec::new();
        if let Some(v) = t.get("vlans")
            && let Some(items) = self.array(v, k("vlans"))
        {
            for item in items.iter() {
                match item.get_ref() {
                    DeValue::Integer(_) => vlans.extend(self.integer(item, k("vlans"))),
                    _ => self.wrong_item(item, k("vlans"), MsgId::ExpectVlanId),
                }
            }
        }
        let mut qinq = Vec::new();
        if let Some(v) = t.get("qinq")
            && let Some(items) = self.array(v, k("qinq"))
        {
            for item in items.iter() {
                if let Some(pair) = self.qinq_pair(item, k("qinq")) {
                    qinq.push(pair);
                }
            }
        }
        let prefixes = t
            .get("prefixes")
            .map(|v| self.texts(v, k("prefixes")))
            .unwrap_or_default();
        let package = t.get("package").and_then(|v| self.text(v, k("package")));
        let limit = |w: &mut Walker, n: &'static str| {
            let v = t.get(n)?;
            let l = w.table(v, k(n))?;
            w.limit(l, n).map(|l| Spanned::new(v.span(), l))
        };
        let upload = limit(self, "upload");
        let download = limit(self, "download");
        let mut schedule = Vec::new();
        if let Some(v) = t.get("schedule") {
            for (s, span) in self.tables(v, k("schedule")) {
                if let Some(s) = self.schedule(s, span.clone()) {
                    schedule.push(Spanned::new(span, s));
                }
            }
        }
        for n in ["id", "upload", "download"] {
            if t.get(n).is_none() {
                self.missing(span.clone(), AGENCY, n, here());
            }
        }
        Some(Agency {
            id: id?,
            name,
            tier,
            weight,
            hosts,
            vlans,
            qinq,
            prefixes,
            package,
            upload: upload?,
            download: download?,
            schedule,
        })
    }

    /// `[outer, inner]`: exactly two VLAN ids.
    fn qinq_pair(&mut self, item: &Value, key: &Key) -> Option<Spanned<[i64; 2]>> {
        let DeValue::Array(pair) = item.get_ref() else {
            self.wrong_item(item, key, MsgId::ExpectQinqPair);
            return None;
        };
        let mut ids = Vec::new();
        for id in pair.iter() {
            match id.get_ref() {
                DeValue::Integer(_) => ids.extend(self.integer(id, key).map(Spanned::into_inner)),
                _ => {
                    self.wrong_item(id, key, MsgId::ExpectVlanId);
                    return None;
                }
            }
        }
        if pair.len() != 2 {
            self.problem(
                item.span(),
                Msg::new(MsgId::QinqPairLength).arg("count", pair.len()),
                Some(Msg::new(MsgId::WriteLike).arg("line", key.example)),
            );
            return None;
        }
        let [outer, inner] = ids[..] else {
            return None;
        };
        Some(Spanned::new(item.span(), [outer, inner]))
    }

    fn limit(&mut self, t: &DeTable, key: &'static str) -> Option<Limit> {
        self.unknown_keys(t, LIMIT, Msg::new(MsgId::TableLimit).arg("key", key));
        let k = |n: &str| -> &'static Key { spec(LIMIT, n) };
        let mut get = |n| t.get(n).and_then(|v| self.text(v, k(n)));
        Some(Limit {
            rate: get("rate"),
            guaranteed: get("guaranteed"),
            ceiling: get("ceiling"),
            burst: get("burst"),
            host_ceiling: get("host_ceiling"),
        })
    }

    fn schedule(&mut self, t: &DeTable, span: Range<usize>) -> Option<Schedule> {
        let here = || Msg::new(MsgId::TableSchedule);
        self.unknown_keys(t, SCHEDULE, here());
        let k = |n: &str| -> &'static Key { spec(SCHEDULE, n) };
        let days = t.get("days").and_then(|v| match v.get_ref() {
            DeValue::Array(_) => Some(Spanned::new(v.span(), self.texts(v, k("days")))),
            _ => {
                self.wrong_kind(v, k("days"));
                None
            }
        });
        let hours = t.get("hours").and_then(|v| self.text(v, k("hours")));
        let over = |w: &mut Walker, n: &'static str| {
            let v = t.get(n)?;
            let o = w.table(v, k(n))?;
            w.unknown_keys(o, OVERRIDE, Msg::new(MsgId::TableOverride).arg("key", n));
            let ko = |x: &str| -> &'static Key { spec(OVERRIDE, x) };
            let guaranteed = o
                .get("guaranteed")
                .and_then(|x| w.text(x, ko("guaranteed")));
            let ceiling = o.get("ceiling").and_then(|x| w.text(x, ko("ceiling")));
            Some(Spanned::new(
                v.span(),
                Override {
                    guaranteed,
                    ceiling,
                },
            ))
        };
        let upload = over(self, "upload");
        let download = over(self, "download");
        for n in ["days", "hours"] {
            if t.get(n).is_none() {
                self.missing(span.clone(), SCHEDULE, n, here());
            }
        }
        Some(Schedule {
            days: days?,
            hours: hours?,
            upload,
            download,
        })
    }
}

/// The whole number a value written otherwise stands for: text with a currency and
/// thousands separators ("Rp 30.000.000", "30,000,000"), a prefix length ("/64"), or a
/// float with no fraction (3e7); `None` when it is not clear.
fn whole_meant(v: &DeValue) -> Option<u64> {
    match v {
        DeValue::Float(f) => {
            let f: f64 = f.as_str().parse().ok()?;
            (f.is_finite() && f >= 1.0 && f.fract() == 0.0 && f < 1e18).then_some(f as u64)
        }
        DeValue::String(s) => {
            let t = s.trim();
            let t = ["Rp.", "Rp", "IDR", "/"]
                .iter()
                .find_map(|c| t.strip_prefix(c))
                .unwrap_or(t)
                .trim();
            let groups: Vec<&str> = t.split(['.', ',']).collect();
            let grouped = groups.len() == 1
                || ((1..=3).contains(&groups[0].len()) && groups[1..].iter().all(|g| g.len() == 3));
            let digits = groups.concat();
            let all_digits = !digits.is_empty() && digits.chars().all(|c| c.is_ascii_digit());
            (grouped && all_digits)
                .then(|| digits.parse().ok())
                .flatten()
                .filter(|&p| p > 0)
        }
        _ => None,
    }
}

fn spec<'k>(keys: &'k [Key], name: &str) -> &'k Key {
    keys.iter()
        .find(|k| k.name == name)
        .expect("a key of the table")
}

fn expected(key: &Key) -> Msg {
    let m = Msg::new(key.expect);
    match key.expect {
        MsgId::ExpectTableList => m.arg(
            "key",
            if key.name == "schedule" {
                "agency.schedule"
            } else {
                key.name
            },
        ),
        MsgId::ExpectOneOf => m.arg("choices", quoted_list(choices(key.name))),
        MsgId::ExpectWholeNumber => {
            let (min, max) = whole_range(key.name);
            m.arg("min", min).arg("max", max)
        }
        _ => m,
    }
}

/// The words a key of a few choices takes.
pub fn choices(key: &str) -> &'static [&'static str] {
    match key {
        "tier" => TIERS,
        "fallback" => FALLBACKS,
        "forwarding" => FORWARDINGS,
        "xdp_mode" => XDP_MODES,
        "hosts" => HOSTS,
        _ => &[],
    }
}

/// The smallest and largest a key of a whole number takes.
pub fn whole_range(key: &str) -> (u64, u64) {
    match key {
        "host_table" => (
            *HOST_TABLE_RANGE.start() as u64,
            *HOST_TABLE_RANGE.end() as u64,
        ),
        "host_ipv6_prefix" => (
            *HOST_IPV6_PREFIX_RANGE.start() as u64,
            *HOST_IPV6_PREFIX_RANGE.end() as u64,
        ),
        _ => (0, u64::MAX),
    }
}

/// What a value is, in words.
fn found(v: &DeValue) -> Msg {
    match v {
        DeValue::String(s) => Msg::new(MsgId::FoundText).arg("value", s),
        DeValue::Integer(i) => Msg::new(MsgId::FoundNumber).arg("value", i),
        DeValue::Float(f) => Msg::new(MsgId::FoundNumber).arg("value", f),
        DeValue::Boolean(b) => Msg::new(MsgId::FoundBool).arg("value", b),
        DeValue::Datetime(d) => Msg::new(MsgId::FoundDatetime).arg("value", d),
        DeValue::Array(a) if !a.is_empty() && a.iter().all(|x| x.get_ref().is_table()) => {
            Msg::new(MsgId::FoundTableList)
        }
        DeValue::Array(_) => Msg::new(MsgId::FoundList),
        DeValue::Table(_) => Msg::new(MsgId::FoundTable),
    }
}

/// "did you mean" for a misspelt or MikroTik-named key, or where a key of another table
/// is set.
fn nearest_key(name: &str, keys: &[Key]) -> Option<Msg> {
    let lower = name.to_ascii_lowercase();
    if let Some((alias, to)) = MIKROTIK.iter().find(|(a, _)| *a == lower) {
        if let Some(k) = keys.iter().find(|k| k.name == *to) {
            let id = match *to {
                "burst" => MsgId::MikrotikBurst,
                "hosts" => MsgId::MikrotikPcqClassifier,
                _ => MsgId::MikrotikName,
            };
            return Some(
                Msg::new(id)
                    .arg("alias", alias)
                    .arg("key", k.name)
                    .arg("line", k.example),
            );
        }
        if let Some((key, place, line)) = ELSEWHERE.iter().find(|(k, _, _)| k == to) {
            return Some(
                Msg::new(MsgId::MikrotikNameElsewhere)
                    .arg("alias", alias)
                    .arg("key", key)
                    .with("place", Msg::new(*place))
                    .arg("line", line),
            );
        }
    }
    if let Some((key, place, line)) = ELSEWHERE.iter().find(|(k, _, _)| *k == lower) {
        return Some(
            Msg::new(MsgId::KeyElsewhere)
                .arg("key", key)
                .with("place", Msg::new(*place))
                .arg("line", line),
        );
    }
    let (best, dist) = keys
        .iter()
        .map(|k| (k, edit_distance(&lower.replace('-', "_"), k.name)))
        .min_by_key(|(_, d)| *d)?;
    (dist <= 2.max(name.len() / 3)).then(|| {
        Msg::new(MsgId::DidYouMean)
            .arg("key", best.name)
            .arg("line", best.example)
    })
}

fn quoted_list(items: &[&str]) -> String {
    items
        .iter()
        .map(|c| format!("\"{c}\""))
        .collect::<Vec<_>>()
        .join(", ")
}
