//! Checks across agencies and files: unique ids, VLANs and prefixes; guarantees that fit.

use std::{collections::HashMap, ops::Range};

use super::{
    super::{Direction, Prefix, clock, rate},
    Ctx,
    agency::AgencyOut,
    site::SiteOut,
};

pub(super) fn check_unique(cx: &mut Ctx, agencies: &[AgencyOut]) {
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
