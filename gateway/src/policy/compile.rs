//! Validation: raw policy files into a [`Policy`], every problem reported at once.

use std::{collections::HashMap, ops::Range, path::PathBuf, time::Duration};

use toml::Spanned;

use super::{
    Agency, Diagnostic, Direction, Fallback, Forwarding, Limits, Override, PerDirection, Policy,
    PolicyError, Prefix, Schedule, Severity, Site, Tier, TimeZone, Unclassified, XdpMode, clock,
    defaults, rate, raw,
};
use crate::units::{Amount, Rate, parse_amount, parse_duration, parse_rate};

/// A policy file's name and text.
pub struct Source {
    pub path: PathBuf,
    pub text: String,
}

/// Collects findings with positions.
struct Ctx<'a> {
    sources: &'a [Source],
    diags: Vec<Diagnostic>,
}

impl Ctx<'_> {
    fn at(&self, file: usize, span: Range<usize>) -> (usize, usize) {
        line_col(&self.sources[file].text, span.start)
    }

    /// "site.toml:12", for pointing at a second place in a message.
    fn place(&self, file: usize, span: Range<usize>) -> String {
        format!(
            "{}:{}",
            self.sources[file].path.display(),
            self.at(file, span).0
        )
    }

    fn push(
        &mut self,
        severity: Severity,
        file: usize,
        span: Range<usize>,
        message: String,
        hint: Option<String>,
    ) {
        let (line, column) = self.at(file, span);
        self.diags.push(Diagnostic {
            severity,
            file: self.sources[file].path.clone(),
            line,
            column,
            message,
            hint,
        });
    }

    fn error(
        &mut self,
        file: usize,
        span: Range<usize>,
        message: impl Into<String>,
        hint: Option<String>,
    ) {
        self.push(Severity::Error, file, span, message.into(), hint);
    }

    fn warn(
        &mut self,
        file: usize,
        span: Range<usize>,
        message: impl Into<String>,
        hint: Option<String>,
    ) {
        self.push(Severity::Warning, file, span, message.into(), hint);
    }

    fn has_errors(&self) -> bool {
        self.diags.iter().any(|d| d.severity == Severity::Error)
    }
}

fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(text.len());
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let column = before.rfind('\n').map_or(offset, |nl| offset - nl - 1) + 1;
    (line, column)
}

pub fn compile(sources: Vec<Source>) -> Result<Policy, PolicyError> {
    let mut cx = Ctx {
        sources: &sources,
        diags: Vec::new(),
    };
    let mut parsed = Vec::new();
    let mut unreadable = false;
    for (i, src) in sources.iter().enumerate() {
        match toml::from_str::<raw::File>(&src.text) {
            Ok(raw) => parsed.push((i, raw)),
            Err(e) => {
                let message = e.message().trim().to_string();
                let hint = nearest_key_hint(&message);
                cx.error(i, e.span().unwrap_or(0..0), message, hint);
                unreadable = true;
            }
        }
    }

    let mut site: Option<(usize, Spanned<raw::Site>)> = None;
    let mut raw_agencies: Vec<(usize, Spanned<raw::Agency>)> = Vec::new();
    for (i, file) in parsed {
        if let Some(s) = file.site {
            if let Some((first, first_site)) = &site {
                let first_place = cx.place(*first, first_site.span());
                cx.error(
                    i,
                    s.span(),
                    "a second [site] table",
                    Some(format!(
                        "the site is already defined at {first_place}; a policy has one [site]"
                    )),
                );
            } else {
                site = Some((i, s));
            }
        }
        raw_agencies.extend(file.agency.into_iter().map(|a| (i, a)));
    }

    let site = match site {
        // A file that did not parse may well hold the site: say nothing more about it.
        None if unreadable => None,
        None => {
            let file = sources
                .first()
                .map_or_else(PathBuf::new, |s| s.path.clone());
            cx.diags.push(super::whole_file(
                &file,
                "the policy has no [site] table".into(),
                Some(
                    "add [site] with `lan`, `wan` (the gateway's two ports) and `capacity`".into(),
                ),
            ));
            None
        }
        Some((i, s)) => Some((i, s.span(), compile_site(&mut cx, i, s.into_inner()))),
    };
    // Percentages need the capacity; without a valid site, agency values are still checked
    // against a placeholder so their own errors are reported too.
    let capacity = site.as_ref().map_or(
        PerDirection::new(u64::MAX / 4, u64::MAX / 4),
        |(_, _, s)| s.site.capacity,
    );

    let mut agencies = Vec::new();
    for (file, a) in &raw_agencies {
        agencies.push(compile_agency(&mut cx, *file, a, capacity));
    }
    check_unique(&mut cx, &agencies);

    let Some((site_file, site_span, mut site)) = site else {
        return Err(PolicyError {
            diagnostics: cx.diags,
        });
    };
    if let Some((name, span)) = site.unclassified_name.take() {
        match agencies.iter().position(|a| a.agency.id == name) {
            Some(idx) => site.site.unclassified = Unclassified::Agency(idx),
            None => cx.error(
                site_file,
                span,
                format!("`unclassified` names \"{name}\", which is not an agency"),
                Some("write \"pass\", \"drop\" or the id of an agency of this policy".into()),
            ),
        }
    }
    if agencies.len() > gateway_common::MAX_AGENCIES as usize {
        cx.error(
            site_file,
            site_span.clone(),
            format!(
                "{} agencies; the data plane holds at most {}",
                agencies.len(),
                gateway_common::MAX_AGENCIES
            ),
            None,
        );
    }
    if site.capacity_ok {
        check_guarantees(&mut cx, &site, &agencies);
        for a in &agencies {
            for dir in Direction::ALL {
                let cap = site.site.capacity[dir];
                let l = a.agency.limits[dir];
                if l.ceiling > cap {
                    cx.warn(
                        a.file,
                        a.id_span.clone(),
                        format!(
                            "agency \"{}\" has a {} ceiling of {}, above the uplink's {}: it can never be reached",
                            a.agency.id,
                            dir.as_str(),
                            rate(l.ceiling),
                            rate(cap)
                        ),
                        None,
                    );
                }
            }
        }
    }

    if cx.has_errors() {
        return Err(PolicyError {
            diagnostics: cx.diags,
        });
    }
    let mut fingerprint = Fnv::new();
    for s in &sources {
        fingerprint.write(s.path.to_string_lossy().as_bytes());
        fingerprint.write(&[0]);
        fingerprint.write(s.text.as_bytes());
        fingerprint.write(&[0]);
    }
    let warnings = cx.diags;
    Ok(Policy {
        site: site.site,
        agencies: agencies.into_iter().map(|a| a.agency).collect(),
        files: sources.into_iter().map(|s| s.path).collect(),
        warnings,
        fingerprint: fingerprint.0,
    })
}

struct SiteOut {
    site: Site,
    capacity_ok: bool,
    capacity_span: Range<usize>,
    file: usize,
    unclassified_name: Option<(String, Range<usize>)>,
}

fn compile_site(cx: &mut Ctx, file: usize, s: raw::Site) -> SiteOut {
    let mut capacity = PerDirection::<u64>::default();
    let mut capacity_ok = true;
    let mut capacity_span = 0..0;
    match &s.capacity {
        None => {
            capacity_ok = false;
            let (line, column) = cx.at(file, s.lan.span());
            cx.diags.push(Diagnostic {
                severity: Severity::Error,
                file: cx.sources[file].path.clone(),
                line: line.saturating_sub(1).max(1),
                column: column.min(1),
                message: "the site has no `capacity`".into(),
                hint: Some(
                    "add what was purchased: capacity = { upload = \"500Mbps\", download = \"1Gbps\" }".into(),
                ),
            });
        }
        Some(c) => {
            capacity_span = c.span();
            let c = c.get_ref();
            for (dir, v) in [
                (Direction::Upload, &c.upload),
                (Direction::Download, &c.download),
            ] {
                match parse_rate(v.get_ref()) {
                    Ok(r) => capacity[dir] = r.bits_per_second(),
                    Err(e) => {
                        capacity_ok = false;
                        cx.error(
                            file,
                            v.span(),
                            e.0,
                            Some("the capacity is a rate, e.g. \"1Gbps\"".into()),
                        );
                    }
                }
            }
        }
    }
    let mut headroom = PerDirection::<u64>::default();
    let headroom_amount = match &s.headroom {
        None => Amount::Percent(defaults::HEADROOM_PERCENT),
        Some(h) => match parse_amount(h.get_ref()) {
            Ok(a) => a,
            Err(e) => {
                cx.error(
                    file,
                    h.span(),
                    e.0,
                    Some("headroom is a rate or a share of the capacity, e.g. \"2%\"".into()),
                );
                Amount::Percent(defaults::HEADROOM_PERCENT)
            }
        },
    };
    for dir in Direction::ALL {
        let cap = capacity[dir];
        headroom[dir] = headroom_amount.resolve(Rate(cap));
        if capacity_ok && headroom[dir] >= cap {
            let span = s
                .headroom
                .as_ref()
                .map_or(capacity_span.clone(), |h| h.span());
            cx.error(
                file,
                span,
                format!(
                    "the headroom leaves nothing of the {} capacity of {}",
                    dir.as_str(),
                    rate(cap)
                ),
                Some("headroom is what is kept free below the capacity, e.g. \"2%\"".into()),
            );
            capacity_ok = false;
        }
    }
    let duration = |cx: &mut Ctx,
                    v: &Option<Spanned<String>>,
                    default: Duration,
                    min: Duration,
                    max: Duration,
                    what: &str| {
        match v {
            None => default,
            Some(v) => match parse_duration(v.get_ref()) {
                Ok(d) if d >= min && d <= max => d,
                Ok(_) => {
                    cx.error(
                        file,
                        v.span(),
                        format!("`{what}` must be between {min:?} and {max:?}"),
                        None,
                    );
                    default
                }
                Err(e) => {
                    cx.error(file, v.span(), e.0, None);
                    default
                }
            },
        }
    };
    let tick = duration(
        cx,
        &s.tick,
        defaults::TICK,
        Duration::from_millis(100),
        Duration::from_secs(60),
        "tick",
    );
    let expiry = duration(
        cx,
        &s.expiry,
        tick * defaults::EXPIRY_TICKS,
        Duration::from_millis(100),
        Duration::from_secs(3600),
        "expiry",
    );
    if let Some(e) = &s.expiry
        && expiry <= tick
    {
        cx.error(
            file,
            e.span(),
            "`expiry` must be longer than `tick`, or every late tick would drop agencies to the fallback",
            Some(format!("e.g. \"{}s\" (three ticks)", tick.as_secs_f64() * 3.0)),
        );
    }
    let timezone = match &s.timezone {
        None => TimeZone::default(),
        Some(z) => TimeZone::parse(z.get_ref()).unwrap_or_else(|e| {
            cx.error(file, z.span(), e, None);
            TimeZone::default()
        }),
    };
    for (port, which) in [(&s.lan, "lan"), (&s.wan, "wan")] {
        if !valid_ifname(port.get_ref()) {
            cx.error(
                file,
                port.span(),
                format!("\"{}\" is not a valid interface name", port.get_ref()),
                Some(format!(
                    "`{which}` is the name of a network interface, 1–15 characters, e.g. \"eth1\""
                )),
            );
        }
    }
    if s.lan.get_ref() == s.wan.get_ref() {
        cx.error(
            file,
            s.wan.span(),
            "`lan` and `wan` are the same interface",
            Some("the gateway sits between two ports: the agencies' trunk and the uplink".into()),
        );
    }
    let (unclassified, unclassified_name) = match &s.unclassified {
        None => (Unclassified::Pass, None),
        Some(u) => match u.get_ref().as_str() {
            "pass" => (Unclassified::Pass, None),
            "drop" => (Unclassified::Drop, None),
            other => (Unclassified::Pass, Some((other.to_string(), u.span()))),
        },
    };
    SiteOut {
        site: Site {
            name: s.name.unwrap_or_else(|| "OPD Gateway".into()),
            lan: s.lan.into_inner(),
            wan: s.wan.into_inner(),
            forwarding: s.forwarding.unwrap_or(Forwarding::Redirect),
            xdp_mode: s.xdp_mode.unwrap_or(XdpMode::Native),
            unclassified,
            capacity,
            headroom,
            tick,
            expiry,
            timezone,
            fallback: s.fallback.unwrap_or(Fallback::Shared),
        },
        capacity_ok,
        capacity_span,
        file,
        unclassified_name,
    }
}

struct AgencyOut {
    agency: Agency,
    file: usize,
    id_span: Range<usize>,
    /// Positions for cross-agency messages.
    vlan_spans: Vec<Range<usize>>,
    qinq_spans: Vec<Range<usize>>,
    prefix_spans: Vec<Range<usize>>,
}

fn compile_agency(
    cx: &mut Ctx,
    file: usize,
    a: &Spanned<raw::Agency>,
    capacity: PerDirection<u64>,
) -> AgencyOut {
    let a = a.get_ref();
    let id = a.id.get_ref().clone();
    if !valid_id(&id) {
        cx.error(
            file,
            a.id.span(),
            format!("agency id \"{id}\" is not allowed"),
            Some("use lowercase letters, digits and '-', starting with a letter (e.g. \"dinkes\"); \"pass\" and \"drop\" are reserved".into()),
        );
    }
    let weight = match &a.weight {
        None => defaults::WEIGHT,
        Some(w) if (1..=1000).contains(w.get_ref()) => *w.get_ref() as u32,
        Some(w) => {
            cx.error(file, w.span(), format!("weight {} is out of range", w.get_ref()), Some("weights run from 1 to 1000; a weight-2 agency borrows twice the share of a weight-1 one".into()));
            defaults::WEIGHT
        }
    };
    let mut vlans = Vec::new();
    let mut vlan_spans = Vec::new();
    for v in &a.vlans {
        let vid = *v.get_ref();
        if !(1..=4094).contains(&vid) {
            cx.error(
                file,
                v.span(),
                format!("VLAN id {vid} is out of range"),
                Some("802.1Q VLAN ids run from 1 to 4094 (0 and 4095 are reserved)".into()),
            );
            continue;
        }
        vlans.push(vid as u16);
        vlan_spans.push(v.span());
    }
    let mut qinq = Vec::new();
    let mut qinq_spans = Vec::new();
    for q in &a.qinq {
        let [outer, inner] = *q.get_ref();
        if !(1..=4094).contains(&outer) || !(1..=4094).contains(&inner) {
            cx.error(
                file,
                q.span(),
                format!("QinQ pair [{outer}, {inner}] is out of range"),
                Some("write [outer, inner] with both VLAN ids from 1 to 4094".into()),
            );
            continue;
        }
        qinq.push((outer as u16, inner as u16));
        qinq_spans.push(q.span());
    }
    let mut prefixes = Vec::new();
    let mut prefix_spans = Vec::new();
    for p in &a.prefixes {
        match Prefix::parse(p.get_ref()) {
            Ok(prefix) => {
                prefixes.push(prefix);
                prefix_spans.push(p.span());
            }
            Err(e) => cx.error(file, p.span(), e, None),
        }
    }
    if a.vlans.is_empty() && a.qinq.is_empty() {
        cx.error(
            file,
            a.id.span(),
            format!("agency \"{id}\" has no VLAN"),
            Some("add `vlans = [110]` (or `qinq = [[outer, inner]]`) so its traffic can be recognised".into()),
        );
    }
    let limits = PerDirection::new(
        compile_limits(cx, file, &a.upload, Rate(capacity.upload)),
        compile_limits(cx, file, &a.download, Rate(capacity.download)),
    );
    let mut schedules = Vec::new();
    let mut schedule_spans = Vec::new();
    for s in &a.schedule {
        if let Some(c) = compile_schedule(cx, file, s, &limits, capacity) {
            schedules.push(c);
            schedule_spans.push(s.get_ref().hours.span());
        }
    }
    // At most one schedule may hold at any moment, or which one applies would be a guess.
    for i in 0..schedules.len() {
        for j in i + 1..schedules.len() {
            let (x, y) = (&schedules[i], &schedules[j]);
            let rx = clock::week_ranges(&x.days, x.start, x.end);
            let ry = clock::week_ranges(&y.days, y.start, y.end);
            if let Some(m) = first_overlap(&rx, &ry) {
                let t = super::LocalTime {
                    weekday: (m / 1440) as u8,
                    minute: (m % 1440) as u16,
                };
                let other = cx.place(file, schedule_spans[i].clone());
                cx.error(
                    file,
                    a.schedule[j].get_ref().hours.span(),
                    format!("this schedule overlaps the one at {other} (both hold on {t})"),
                    Some(
                        "make the windows of one agency disjoint; at most one applies at a time"
                            .into(),
                    ),
                );
            }
        }
    }
    AgencyOut {
        agency: Agency {
            name: a.name.clone().unwrap_or_else(|| id.clone()),
            id,
            tier: a.tier.unwrap_or(Tier::Standard),
            weight,
            vlans,
            qinq,
            prefixes,
            limits,
            schedules,
        },
        file,
        id_span: a.id.span(),
        vlan_spans,
        qinq_spans,
        prefix_spans,
    }
}

fn first_overlap(a: &[(u32, u32)], b: &[(u32, u32)]) -> Option<u32> {
    a.iter()
        .flat_map(|x| b.iter().map(move |y| (x, y)))
        .filter(|(x, y)| x.0 < y.1 && y.0 < x.1)
        .map(|(x, y)| x.0.max(y.0))
        .min()
}

/// Reads an amount ("10Mbps", "3%", "unlimited" when allowed) against the capacity.
fn amount(
    cx: &mut Ctx,
    file: usize,
    v: &Spanned<String>,
    capacity: Rate,
    unlimited_ok: bool,
) -> Option<u64> {
    let text = v.get_ref().trim();
    if text == "unlimited" {
        if unlimited_ok {
            return Some(capacity.bits_per_second());
        }
        cx.error(
            file,
            v.span(),
            "a guarantee cannot be unlimited",
            Some("give a rate like \"10Mbps\" or a share like \"2%\"".into()),
        );
        return None;
    }
    match parse_amount(text) {
        Ok(a) => Some(a.resolve(capacity)),
        Err(e) => {
            cx.error(
                file,
                v.span(),
                e.0,
                unlimited_ok.then(|| "or \"unlimited\" (up to the uplink's capacity)".into()),
            );
            None
        }
    }
}

fn compile_limits(cx: &mut Ctx, file: usize, raw: &Spanned<raw::Limit>, capacity: Rate) -> Limits {
    let r = raw.get_ref();
    let burst = match &r.burst {
        None => defaults::BURST_TIME,
        Some(b) => match parse_duration(b.get_ref()) {
            Ok(d) if !d.is_zero() && d <= Duration::from_secs(10) => d,
            Ok(_) => {
                cx.error(
                    file,
                    b.span(),
                    "`burst` must be longer than zero and at most 10s",
                    Some("the bucket depth as time at the rate, e.g. \"100ms\"".into()),
                );
                defaults::BURST_TIME
            }
            Err(e) => {
                cx.error(
                    file,
                    b.span(),
                    e.0,
                    Some("`burst` is the bucket depth as time at the rate, e.g. \"100ms\"".into()),
                );
                defaults::BURST_TIME
            }
        },
    };
    let cap = capacity.bits_per_second();
    let (guaranteed, ceiling) = match (&r.rate, &r.guaranteed, &r.ceiling) {
        (Some(rt), None, None) => {
            if rt.get_ref().trim() == "unlimited" {
                (0, cap)
            } else {
                let v = amount(cx, file, rt, capacity, false).unwrap_or(0);
                (v, v.max(1))
            }
        }
        (Some(rt), _, _) => {
            cx.error(
                file,
                rt.span(),
                "`rate` cannot be combined with `guaranteed` or `ceiling`",
                Some("`rate = X` is short for guaranteed = ceiling = X; keep one form".into()),
            );
            (0, cap)
        }
        (None, g, c) => {
            let gv = g
                .as_ref()
                .and_then(|g| amount(cx, file, g, capacity, false))
                .unwrap_or(0);
            let cv = c
                .as_ref()
                .and_then(|c| amount(cx, file, c, capacity, true))
                .unwrap_or(cap);
            if g.is_none() && c.is_none() {
                cx.error(
                    file,
                    raw.span(),
                    "no `guaranteed`, `ceiling` or `rate`",
                    Some("e.g. { guaranteed = \"10Mbps\", ceiling = \"50Mbps\" }".into()),
                );
            }
            if let (Some(gs), true) = (g, gv > cv) {
                cx.error(
                    file,
                    gs.span(),
                    format!(
                        "the guarantee {} is above the ceiling {}",
                        rate(gv),
                        rate(cv)
                    ),
                    Some(
                        "a guarantee is at most the ceiling; raise `ceiling` or lower `guaranteed`"
                            .into(),
                    ),
                );
            }
            (gv, cv.max(1))
        }
    };
    Limits {
        guaranteed,
        ceiling,
        burst,
    }
}

fn compile_schedule(
    cx: &mut Ctx,
    file: usize,
    s: &Spanned<raw::Schedule>,
    base: &PerDirection<Limits>,
    capacity: PerDirection<u64>,
) -> Option<Schedule> {
    let s = s.get_ref();
    let days = clock::parse_days(s.days.get_ref())
        .map_err(|e| cx.error(file, s.days.span(), e, None))
        .ok();
    let hours = clock::parse_hours(s.hours.get_ref())
        .map_err(|e| cx.error(file, s.hours.span(), e, None))
        .ok();
    let mut overrides = PerDirection::<Override>::default();
    for (dir, o) in [
        (Direction::Upload, &s.upload),
        (Direction::Download, &s.download),
    ] {
        let Some(o) = o else { continue };
        let cap = Rate(capacity[dir]);
        let r = o.get_ref();
        let g = r
            .guaranteed
            .as_ref()
            .and_then(|g| amount(cx, file, g, cap, false));
        let c = r
            .ceiling
            .as_ref()
            .and_then(|c| amount(cx, file, c, cap, true));
        if r.guaranteed.is_none() && r.ceiling.is_none() {
            cx.error(
                file,
                o.span(),
                format!("this schedule's `{}` changes nothing", dir.as_str()),
                Some("give `guaranteed` and/or `ceiling`".into()),
            );
        }
        let eff_g = g.unwrap_or(base[dir].guaranteed);
        let eff_c = c.unwrap_or(base[dir].ceiling);
        if eff_g > eff_c {
            cx.error(
                file,
                o.span(),
                format!(
                    "during this schedule the {} guarantee {} is above the ceiling {}",
                    dir.as_str(),
                    rate(eff_g),
                    rate(eff_c)
                ),
                Some("a guarantee is at most the ceiling, also inside a schedule".into()),
            );
        }
        overrides[dir] = Override {
            guaranteed: g,
            ceiling: c,
        };
    }
    if s.upload.is_none() && s.download.is_none() {
        cx.error(
            file,
            s.hours.span(),
            "this schedule changes nothing",
            Some("add `upload = { guaranteed = ... }` and/or `download = { ... }`".into()),
        );
    }
    let (start, end) = hours?;
    Some(Schedule {
        days: days?,
        start,
        end,
        overrides,
    })
}

fn check_unique(cx: &mut Ctx, agencies: &[AgencyOut]) {
    let mut ids: HashMap<&str, (usize, Range<usize>)> = HashMap::new();
    let mut vlans: HashMap<u16, (usize, usize, Range<usize>)> = HashMap::new();
    let mut qinqs: HashMap<(u16, u16), (usize, usize, Range<usize>)> = HashMap::new();
    let mut prefixes: Vec<(Prefix, usize, usize, Range<usize>)> = Vec::new();
    for (ai, a) in agencies.iter().enumerate() {
        let id = a.agency.id.as_str();
        if let Some((f, span)) = ids.get(id) {
            let other = cx.place(*f, span.clone());
            cx.error(
                a.file,
                a.id_span.clone(),
                format!("duplicate agency id \"{id}\""),
                Some(format!(
                    "\"{id}\" is already used at {other}; ids must be unique"
                )),
            );
        } else {
            ids.insert(id, (a.file, a.id_span.clone()));
        }
        for (vid, span) in a.agency.vlans.iter().zip(&a.vlan_spans) {
            if let Some((owner, f, s)) = vlans.get(vid) {
                let other = cx.place(*f, s.clone());
                let owner = &agencies[*owner].agency.id;
                cx.error(
                    a.file,
                    span.clone(),
                    format!("VLAN {vid} is already assigned to agency \"{owner}\""),
                    Some(format!("see {other}; a VLAN belongs to one agency")),
                );
            } else {
                vlans.insert(*vid, (ai, a.file, span.clone()));
            }
        }
        for (pair, span) in a.agency.qinq.iter().zip(&a.qinq_spans) {
            if let Some((owner, f, s)) = qinqs.get(pair) {
                let other = cx.place(*f, s.clone());
                let owner = &agencies[*owner].agency.id;
                cx.error(
                    a.file,
                    span.clone(),
                    format!(
                        "QinQ pair [{}, {}] is already assigned to agency \"{owner}\"",
                        pair.0, pair.1
                    ),
                    Some(format!("see {other}")),
                );
            } else {
                qinqs.insert(*pair, (ai, a.file, span.clone()));
            }
        }
        for (p, span) in a.agency.prefixes.iter().zip(&a.prefix_spans) {
            if let Some((q, owner, f, s)) = prefixes.iter().find(|(q, ..)| q.overlaps(p)) {
                let other = cx.place(*f, s.clone());
                let owner = &agencies[*owner].agency.id;
                cx.error(
                    a.file,
                    span.clone(),
                    format!("prefix {p} overlaps {q} of agency \"{owner}\""),
                    Some(format!("see {other}; an address belongs to one agency")),
                );
            } else {
                prefixes.push((*p, ai, a.file, span.clone()));
            }
        }
    }
}

/// Σ guarantees ≤ capacity − headroom, at every moment of the week: checked at every point
/// where some schedule starts or ends.
fn check_guarantees(cx: &mut Ctx, site: &SiteOut, agencies: &[AgencyOut]) {
    let mut points: Vec<u32> = vec![0];
    for a in agencies {
        for s in &a.agency.schedules {
            for (x, y) in clock::week_ranges(&s.days, s.start, s.end) {
                points.push(x % 10_080);
                points.push(y % 10_080);
            }
        }
    }
    points.sort_unstable();
    points.dedup();
    let timed = points.len() > 1;
    for dir in Direction::ALL {
        let usable = site.site.usable(dir);
        for &m in &points {
            let t = super::LocalTime {
                weekday: (m / 1440) as u8,
                minute: (m % 1440) as u16,
            };
            let mut parts: Vec<(u64, &str)> = agencies
                .iter()
                .map(|a| (a.agency.limits_at(dir, t).guaranteed, a.agency.id.as_str()))
                .collect();
            let sum: u64 = parts.iter().map(|p| p.0).sum();
            if sum <= usable {
                continue;
            }
            parts.sort_by_key(|p| std::cmp::Reverse(p.0));
            let top: Vec<String> = parts
                .iter()
                .take(3)
                .map(|(g, id)| format!("{id} {}", rate(*g)))
                .collect();
            let when = if timed {
                format!(" on {t}")
            } else {
                String::new()
            };
            cx.error(
                site.file,
                site.capacity_span.clone(),
                format!(
                    "the {} guarantees add up to {}{when}, above the {} that can be promised ({} capacity minus {} headroom)",
                    dir.as_str(),
                    rate(sum),
                    rate(usable),
                    rate(site.site.capacity[dir]),
                    rate(site.site.headroom[dir])
                ),
                Some(format!(
                    "lower some guarantees (largest: {}), or raise `capacity` if more was purchased",
                    top.join(", ")
                )),
            );
            break;
        }
    }
}

/// "unknown field `rat`, expected `rate` or `burst`" → "did you mean `rate`?"
fn nearest_key_hint(message: &str) -> Option<String> {
    let rest = message.strip_prefix("unknown field `")?;
    let (bad, rest) = rest.split_once('`')?;
    let expected: Vec<&str> = rest.split('`').skip(1).step_by(2).collect();
    let (best, dist) = expected
        .iter()
        .map(|k| (*k, edit_distance(bad, k)))
        .min_by_key(|(_, d)| *d)?;
    (dist <= 2.max(bad.len() / 3)).then(|| format!("did you mean `{best}`?"))
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            cur[j + 1] = (prev[j] + usize::from(ca != *cb))
                .min(prev[j + 1] + 1)
                .min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

fn valid_id(id: &str) -> bool {
    id.chars().next().is_some_and(|c| c.is_ascii_lowercase())
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

/// FNV-1a, 64 bits: a stable fingerprint with no dependency.
struct Fnv(u64);

impl Fnv {
    fn new() -> Fnv {
        Fnv(0xcbf2_9ce4_8422_2325)
    }

    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 ^= *b as u64;
            self.0 = self.0.wrapping_mul(0x0100_0000_01b3);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_keys() {
        assert_eq!(
            nearest_key_hint("unknown field `rat`, expected `rate` or `burst`").as_deref(),
            Some("did you mean `rate`?")
        );
        assert_eq!(
            nearest_key_hint("unknown field `guarantee`, expected one of `rate`, `guaranteed`, `ceiling`, `burst`").as_deref(),
            Some("did you mean `guaranteed`?")
        );
        assert_eq!(
            nearest_key_hint("unknown field `zzzzzz`, expected `rate` or `burst`"),
            None
        );
    }

    #[test]
    fn prefixes() {
        let p = |s| Prefix::parse(s).unwrap();
        assert!(p("198.18.0.0/16").overlaps(&p("198.18.5.0/24")));
        assert!(!p("198.18.0.0/24").overlaps(&p("198.18.1.0/24")));
        assert!(!p("198.18.0.0/24").overlaps(&p("2001:db8::/32")));
        assert!(p("2001:db8::/32").overlaps(&p("2001:db8:1::/48")));
        assert!(p("0.0.0.0/0").overlaps(&p("10.0.0.0/8")));
        assert!(
            Prefix::parse("198.18.1.1/24")
                .unwrap_err()
                .contains("write \"198.18.1.0/24\"")
        );
        assert!(Prefix::parse("198.18.1.0/33").is_err());
        assert!(Prefix::parse("198.18.1.0").is_err());
    }
}
