//! One `[[agency]]` table: ids, VLANs, prefixes, limits and schedules.

use std::{ops::Range, time::Duration};

use toml::Spanned;

use super::names::valid_id;
use super::{
    super::{
        Agency, Direction, Limits, Override, PerDirection, Prefix, Schedule, Tier, clock, defaults,
        rate, raw,
    },
    Ctx,
};
use crate::units::{Rate, parse_amount, parse_duration};

pub(super) struct AgencyOut {
    pub(super) agency: Agency,
    pub(super) file: usize,
    pub(super) id_span: Range<usize>,
    /// Positions for cross-agency messages.
    pub(super) vlan_spans: Vec<Range<usize>>,
    pub(super) qinq_spans: Vec<Range<usize>>,
    pub(super) prefix_spans: Vec<Range<usize>>,
}

pub(super) fn compile_agency(
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
                let t = super::super::LocalTime {
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

pub(super) fn first_overlap(a: &[(u32, u32)], b: &[(u32, u32)]) -> Option<u32> {
    a.iter()
        .flat_map(|x| b.iter().map(move |y| (x, y)))
        .filter(|(x, y)| x.0 < y.1 && y.0 < x.1)
        .map(|(x, y)| x.0.max(y.0))
        .min()
}

/// Reads an amount ("10Mbps", "3%", "unlimited" when allowed) against the capacity.
pub(super) fn amount(
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

pub(super) fn compile_limits(
    cx: &mut Ctx,
    file: usize,
    raw: &Spanned<raw::Limit>,
    capacity: Rate,
) -> Limits {
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

pub(super) fn compile_schedule(
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
