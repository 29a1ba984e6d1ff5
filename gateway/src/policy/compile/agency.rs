//! One `[[agency]]` table: ids, VLANs, prefixes, limits and schedules.

use std::{ops::Range, time::Duration};

use toml::Spanned;

use super::names::valid_id;
use super::{
    super::{
        Agency, Direction, Hosts, Limits, Msg, MsgId, Override, PerDirection, Prefix, Schedule,
        Tier, clock, defaults,
        messages::{direction, week_time},
        rate, raw,
    },
    Ctx,
};
use crate::units::{Rate, parse_amount, parse_duration, parse_rate};

pub(super) struct AgencyOut {
    pub(super) agency: Agency,
    pub(super) file: usize,
    pub(super) id_span: Range<usize>,
    /// Positions for cross-agency messages.
    pub(super) vlan_spans: Vec<Range<usize>>,
    pub(super) qinq_spans: Vec<Range<usize>>,
    pub(super) prefix_spans: Vec<Range<usize>>,
    /// Per compiled schedule and direction: where its guarantee is written (or the window).
    pub(super) schedule_spans: Vec<PerDirection<Range<usize>>>,
    /// Where the former package is written.
    pub(super) package_span: Option<Range<usize>>,
}

pub(super) fn compile_agency(
    cx: &mut Ctx,
    file: usize,
    a: &Spanned<raw::Agency>,
    capacity: PerDirection<u64>,
    site_hosts: Hosts,
) -> AgencyOut {
    let a = a.get_ref();
    let id = a.id.get_ref().clone();
    if !valid_id(&id) {
        cx.error(
            file,
            a.id.span(),
            Msg::new(MsgId::BadAgencyId).arg("value", &id),
            Some(Msg::new(MsgId::BadAgencyIdHint)),
        );
    }
    let weight = match &a.weight {
        None => defaults::WEIGHT,
        Some(w) if (1..=1000).contains(w.get_ref()) => *w.get_ref() as u32,
        Some(w) => {
            cx.error(
                file,
                w.span(),
                Msg::new(MsgId::WeightRange).arg("value", w.get_ref()),
                Some(Msg::new(MsgId::WeightHint)),
            );
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
                Msg::new(MsgId::VlanRange).arg("value", vid),
                Some(Msg::new(MsgId::VlanRangeHint)),
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
                Msg::new(MsgId::QinqRange)
                    .arg("outer", outer)
                    .arg("inner", inner),
                Some(Msg::new(MsgId::QinqHint)),
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
            Err((message, fix)) => {
                let hint = match fix {
                    Some(f) => {
                        Msg::new(MsgId::WriteLike).arg("line", format!("prefixes = [\"{f}\"]"))
                    }
                    None => Msg::new(MsgId::PrefixHint),
                };
                cx.error(file, p.span(), message, Some(hint));
            }
        }
    }
    if a.vlans.is_empty() && a.qinq.is_empty() {
        cx.error(
            file,
            a.id.span(),
            Msg::new(MsgId::NoVlan).arg("value", &id),
            Some(Msg::new(MsgId::NoVlanHint)),
        );
    }
    // A rate as everywhere else; parse_rate refuses 0 (rates run from 1bps).
    let package = a
        .package
        .as_ref()
        .and_then(|p| match parse_rate(p.get_ref()) {
            Ok(r) => Some(r.bits_per_second()),
            Err(e) => {
                cx.unit_error(file, p.span(), e, "package", "20Mbps");
                None
            }
        });
    let limits = PerDirection::new(
        compile_limits(cx, file, &a.upload, "upload", Rate(capacity.upload)),
        compile_limits(cx, file, &a.download, "download", Rate(capacity.download)),
    );
    let mut schedules = Vec::new();
    let mut schedule_spans = Vec::new();
    let mut guarantee_spans = Vec::new();
    for s in &a.schedule {
        if let Some(c) = compile_schedule(cx, file, s, &limits, capacity) {
            schedules.push(c);
            let r = s.get_ref();
            schedule_spans.push(r.hours.span());
            let at = |o: &Option<Spanned<raw::Override>>| {
                o.as_ref().map_or(r.hours.span(), |o| {
                    o.get_ref()
                        .guaranteed
                        .as_ref()
                        .map_or(o.span(), |g| g.span())
                })
            };
            guarantee_spans.push(PerDirection::new(at(&r.upload), at(&r.download)));
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
                let other = cx.place(file, file, schedule_spans[i].clone());
                cx.error(
                    file,
                    a.schedule[j].get_ref().hours.span(),
                    Msg::new(MsgId::ScheduleOverlap)
                        .with("place", other)
                        .with("time", week_time(t.weekday, t.minute)),
                    Some(Msg::new(MsgId::ScheduleOverlapHint)),
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
            package,
            hosts: a.hosts.unwrap_or(site_hosts),
        },
        file,
        id_span: a.id.span(),
        vlan_spans,
        qinq_spans,
        prefix_spans,
        schedule_spans: guarantee_spans,
        package_span: a.package.as_ref().map(|p| p.span()),
    }
}

pub(super) fn first_overlap(a: &[(u32, u32)], b: &[(u32, u32)]) -> Option<u32> {
    a.iter()
        .flat_map(|x| b.iter().map(move |y| (x, y)))
        .filter(|(x, y)| x.0 < y.1 && y.0 < x.1)
        .map(|(x, y)| x.0.max(y.0))
        .min()
}

/// Reads an amount ("10Mbps", "3%", "unlimited" when allowed) against the capacity; `key`
/// names it in the hint's example line.
pub(super) fn amount(
    cx: &mut Ctx,
    file: usize,
    v: &Spanned<String>,
    key: &str,
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
            Msg::new(MsgId::GuaranteeUnlimited),
            Some(Msg::new(MsgId::WriteLike).arg("line", format!("{key} = \"10Mbps\""))),
        );
        return None;
    }
    match parse_amount(text) {
        Ok(a) => Some(a.resolve(capacity)),
        Err(e) => {
            let example = match key {
                "ceiling" => "50Mbps",
                "host_ceiling" => "5Mbps",
                _ => "10Mbps",
            };
            cx.unit_error(file, v.span(), e, key, example);
            None
        }
    }
}

pub(super) fn compile_limits(
    cx: &mut Ctx,
    file: usize,
    raw: &Spanned<raw::Limit>,
    key: &str,
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
                    Msg::new(MsgId::BurstRange),
                    Some(Msg::new(MsgId::BurstHint)),
                );
                defaults::BURST_TIME
            }
            Err(e) => {
                cx.unit_error(file, b.span(), e, "burst", "100ms");
                defaults::BURST_TIME
            }
        },
    };
    let cap = capacity.bits_per_second();
    // Whether the ceiling was read as written (else a host ceiling is not checked against it).
    let mut ceiling_read = true;
    let (guaranteed, ceiling) = match (&r.rate, &r.guaranteed, &r.ceiling) {
        (Some(rt), None, None) => {
            if rt.get_ref().trim() == "unlimited" {
                (0, cap)
            } else {
                let v = amount(cx, file, rt, "rate", capacity, false);
                ceiling_read = v.is_some();
                let v = v.unwrap_or(0);
                (v, v.max(1))
            }
        }
        (Some(rt), _, _) => {
            cx.error(
                file,
                rt.span(),
                Msg::new(MsgId::RateWithGuaranteed),
                Some(Msg::new(MsgId::RateWithGuaranteedHint)),
            );
            ceiling_read = false;
            (0, cap)
        }
        (None, g, c) => {
            let gv = g
                .as_ref()
                .and_then(|g| amount(cx, file, g, "guaranteed", capacity, false))
                .unwrap_or(0);
            let cv = c
                .as_ref()
                .map(|c| amount(cx, file, c, "ceiling", capacity, true));
            ceiling_read = cv.is_none_or(|c| c.is_some());
            let cv = cv.flatten().unwrap_or(cap);
            if g.is_none() && c.is_none() {
                cx.error(
                    file,
                    raw.span(),
                    Msg::new(MsgId::NoLimit),
                    Some(Msg::new(MsgId::LimitHint).arg("key", key)),
                );
            }
            if let (Some(gs), true) = (g, gv > cv) {
                cx.error(
                    file,
                    gs.span(),
                    Msg::new(MsgId::GuaranteeAboveCeiling)
                        .arg("guaranteed", rate(gv))
                        .arg("ceiling", rate(cv)),
                    Some(Msg::new(MsgId::GuaranteeAboveCeilingHint).arg("ceiling", rate(cv))),
                );
            }
            (gv, cv.max(1))
        }
    };
    let host_ceiling = r.host_ceiling.as_ref().and_then(|h| {
        let hc = host_ceiling(cx, file, h, capacity)?;
        if ceiling_read && hc > ceiling {
            cx.error(
                file,
                h.span(),
                Msg::new(MsgId::HostCeilingAboveCeiling)
                    .arg("host_ceiling", rate(hc))
                    .arg("ceiling", rate(ceiling)),
                Some(Msg::new(MsgId::HostCeilingAboveCeilingHint).arg("ceiling", rate(ceiling))),
            );
        }
        Some(hc.min(ceiling))
    });
    Limits {
        guaranteed,
        ceiling,
        burst,
        host_ceiling,
    }
}

/// Words admins use for "no limit", which a host ceiling cannot be: leaving it out is.
const NO_LIMIT: &[&str] = &["unlimited", "none", "off", "no", "tanpa batas"];

/// The most one host may pass: a rate or share as `ceiling` takes, above zero; never
/// "unlimited" (an absent `host_ceiling` is).
fn host_ceiling(cx: &mut Ctx, file: usize, v: &Spanned<String>, capacity: Rate) -> Option<u64> {
    let text = v.get_ref().trim();
    if NO_LIMIT.contains(&text.to_ascii_lowercase().as_str()) {
        cx.error(
            file,
            v.span(),
            Msg::new(MsgId::HostCeilingNone).arg("value", text),
            Some(Msg::new(MsgId::HostCeilingHint)),
        );
        return None;
    }
    let number: String = text
        .chars()
        .take_while(|c| c.is_ascii_digit() || matches!(c, '.' | ','))
        .collect();
    if number.replace(',', ".").parse::<f64>() == Ok(0.0) {
        cx.error(
            file,
            v.span(),
            Msg::new(MsgId::HostCeilingZero).arg("value", text),
            Some(Msg::new(MsgId::HostCeilingHint)),
        );
        return None;
    }
    amount(cx, file, v, "host_ceiling", capacity, false)
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
        .map_err(|e| {
            let at = e.at.unwrap_or(s.days.span());
            cx.error(file, at, e.message, Some(e.hint))
        })
        .ok();
    let hours = clock::parse_hours(s.hours.get_ref())
        .map_err(|e| {
            let hint = if e.id() == MsgId::HoursWithDots {
                let fixed = s.hours.get_ref().trim().replace('.', ":");
                Msg::new(MsgId::WriteLike).arg("line", format!("hours = \"{fixed}\""))
            } else {
                Msg::new(MsgId::HoursHint)
            };
            cx.error(file, s.hours.span(), e, Some(hint))
        })
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
            .and_then(|g| amount(cx, file, g, "guaranteed", cap, false));
        let c = r
            .ceiling
            .as_ref()
            .and_then(|c| amount(cx, file, c, "ceiling", cap, true));
        if r.guaranteed.is_none() && r.ceiling.is_none() {
            cx.error(
                file,
                o.span(),
                Msg::new(MsgId::OverrideNothing).arg("key", dir.as_str()),
                Some(Msg::new(MsgId::OverrideHint).arg("key", dir.as_str())),
            );
        }
        let eff_g = g.unwrap_or(base[dir].guaranteed);
        let eff_c = c.unwrap_or(base[dir].ceiling);
        if eff_g > eff_c {
            cx.error(
                file,
                o.span(),
                Msg::new(MsgId::ScheduleAboveCeiling)
                    .with("dir", direction(dir))
                    .arg("guaranteed", rate(eff_g))
                    .arg("ceiling", rate(eff_c)),
                Some(
                    Msg::new(MsgId::ScheduleAboveCeilingHint)
                        .arg("key", dir.as_str())
                        .arg("guaranteed", rate(eff_g)),
                ),
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
            Msg::new(MsgId::ScheduleNothing),
            Some(Msg::new(MsgId::ScheduleNothingHint)),
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
