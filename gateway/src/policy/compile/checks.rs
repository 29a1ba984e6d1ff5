//! Checks across agencies and files: unique ids, VLANs and prefixes; guarantees that fit.

use std::{collections::HashMap, ops::Range};

use super::{
    super::{
        Direction, Msg, MsgId, Prefix, clock,
        messages::{direction, week_time},
        rate,
    },
    Ctx,
    agency::AgencyOut,
    site::SiteOut,
};

pub(super) fn check_unique(cx: &mut Ctx, agencies: &[AgencyOut]) {
    let mut ids: HashMap<&str, (usize, Range<usize>)> = HashMap::new();
    let mut vlans: HashMap<u16, (usize, usize, Range<usize>)> = HashMap::new();
    let mut qinqs: HashMap<(u16, u16), (usize, usize, Range<usize>)> = HashMap::new();
    let mut prefixes: Vec<(Prefix, usize, usize, Range<usize>)> = Vec::new();
    // For hints: the next VLAN id (and inner id of a QinQ pair) no agency uses.
    let used: std::collections::HashSet<u16> = agencies
        .iter()
        .flat_map(|a| a.agency.vlans.iter().copied())
        .collect();
    let pairs: std::collections::HashSet<(u16, u16)> = agencies
        .iter()
        .flat_map(|a| a.agency.qinq.iter().copied())
        .collect();
    let free = |after: u16, taken: &dyn Fn(u16) -> bool| {
        (after + 1..=4094)
            .chain(1..after)
            .find(|v| !taken(*v))
            .unwrap_or(after)
    };
    for (ai, a) in agencies.iter().enumerate() {
        let id = a.agency.id.as_str();
        if let Some((f, span)) = ids.get(id) {
            let other = cx.place(a.file, *f, span.clone());
            cx.error(
                a.file,
                a.id_span.clone(),
                Msg::new(MsgId::DuplicateId).arg("value", id),
                Some(
                    Msg::new(MsgId::DuplicateIdHint)
                        .arg("value", id)
                        .with("place", other),
                ),
            );
        } else {
            ids.insert(id, (a.file, a.id_span.clone()));
        }
        for (vid, span) in a.agency.vlans.iter().zip(&a.vlan_spans) {
            if let Some((owner, f, s)) = vlans.get(vid) {
                let other = cx.place(a.file, *f, s.clone());
                let (message, hint) = if *owner == ai {
                    (
                        Msg::new(MsgId::VlanTwice).arg("vlan", vid),
                        Msg::new(MsgId::ListedTwiceHint).with("place", other),
                    )
                } else {
                    (
                        Msg::new(MsgId::VlanTaken)
                            .arg("vlan", vid)
                            .arg("agency", &agencies[*owner].agency.id),
                        Msg::new(MsgId::VlanTakenHint)
                            .with("place", other)
                            .arg("free", free(*vid, &|v| used.contains(&v))),
                    )
                };
                cx.error(a.file, span.clone(), message, Some(hint));
            } else {
                vlans.insert(*vid, (ai, a.file, span.clone()));
            }
        }
        for (pair, span) in a.agency.qinq.iter().zip(&a.qinq_spans) {
            if let Some((owner, f, s)) = qinqs.get(pair) {
                let other = cx.place(a.file, *f, s.clone());
                let (message, hint) = if *owner == ai {
                    (
                        Msg::new(MsgId::QinqTwice),
                        Msg::new(MsgId::ListedTwiceHint).with("place", other),
                    )
                } else {
                    (
                        Msg::new(MsgId::QinqTaken).arg("agency", &agencies[*owner].agency.id),
                        Msg::new(MsgId::QinqTakenHint)
                            .with("place", other)
                            .arg("outer", pair.0)
                            .arg("free", free(pair.1, &|v| pairs.contains(&(pair.0, v)))),
                    )
                };
                let message = message.arg("outer", pair.0).arg("inner", pair.1);
                cx.error(a.file, span.clone(), message, Some(hint));
            } else {
                qinqs.insert(*pair, (ai, a.file, span.clone()));
            }
        }
        for (p, span) in a.agency.prefixes.iter().zip(&a.prefix_spans) {
            if let Some((q, owner, f, s)) = prefixes.iter().find(|(q, ..)| q.overlaps(p)) {
                let other = cx.place(a.file, *f, s.clone());
                let (message, hint) = if *owner == ai {
                    (
                        Msg::new(MsgId::PrefixOverlapOwn),
                        Msg::new(MsgId::PrefixOverlapOwnHint).with("place", other),
                    )
                } else {
                    (
                        Msg::new(MsgId::PrefixOverlap).arg("agency", &agencies[*owner].agency.id),
                        Msg::new(MsgId::PrefixOverlapHint).with("place", other),
                    )
                };
                let message = message.arg("prefix", p).arg("other", q);
                cx.error(a.file, span.clone(), message, Some(hint));
            } else {
                prefixes.push((*p, ai, a.file, span.clone()));
            }
        }
    }
}

/// Σ guarantees ≤ capacity − headroom, at every moment of the week: checked at every point
/// where some schedule starts or ends. When one agency's schedule window is what pushes the
/// sum over, the error points at that window; otherwise at the capacity.
pub(super) fn check_guarantees(cx: &mut Ctx, site: &SiteOut, agencies: &[AgencyOut]) {
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
            let t = super::super::LocalTime {
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
            let (largest, largest_id) = parts[0];
            let top: Vec<String> = parts
                .iter()
                .take(3)
                .map(|(g, id)| format!("{id} {}", rate(*g)))
                .collect();
            let top = top.join(", ");
            let over = sum - usable;
            // The window that raises a guarantee most at this moment, if lowering it alone
            // would be enough.
            let culprit = agencies
                .iter()
                .filter_map(|a| {
                    let i = a.agency.schedules.iter().position(|s| s.covers(t))?;
                    let g = a.agency.schedules[i].overrides[dir].guaranteed?;
                    let raise = g.checked_sub(a.agency.limits[dir].guaranteed)?;
                    let span = a.schedule_spans.get(i)?[dir].clone();
                    Some((raise, g, a, span))
                })
                .max_by_key(|c| c.0)
                .filter(|c| c.0 >= over);
            let when = week_time(t.weekday, t.minute);
            let message = |id| {
                Msg::new(id)
                    .with("dir", direction(dir))
                    .arg("sum", rate(sum))
                    .arg("usable", rate(usable))
                    .arg("capacity", rate(site.site.capacity[dir]))
                    .arg("headroom", rate(site.site.headroom[dir]))
            };
            match culprit {
                Some((_, g, a, span)) => cx.error(
                    a.file,
                    span,
                    message(MsgId::GuaranteesOverInWindow).with("time", when),
                    Some(
                        Msg::new(MsgId::GuaranteesOverInWindowHint)
                            .arg("agency", &a.agency.id)
                            .arg("guaranteed", rate(g))
                            .arg("fits", rate(g - over))
                            .arg("key", dir.as_str())
                            .arg("top", &top),
                    ),
                ),
                None => {
                    let message = message(MsgId::GuaranteesOver);
                    let message = if timed {
                        message.with("when", Msg::new(MsgId::OnTime).with("time", when))
                    } else {
                        message.arg("when", "")
                    };
                    cx.error(
                        site.file,
                        site.capacity_span.clone(),
                        message,
                        Some(
                            Msg::new(MsgId::GuaranteesOverHint)
                                .arg("top", &top)
                                .arg("agency", largest_id)
                                .arg("fits", rate(largest.saturating_sub(over).max(1))),
                        ),
                    )
                }
            }
            break;
        }
    }
}
