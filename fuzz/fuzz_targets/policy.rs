//! The policy loader on arbitrary bytes, as `opd-gateway check` reads a file: it never
//! panics or hangs; a rejection has at least one error, each at a line and column inside
//! the file, shown in both languages; an accepted policy keeps the invariants the rest of
//! the gateway relies on.

#![no_main]

use std::collections::HashSet;

use libfuzzer_sys::fuzz_target;
use opd_gateway::policy::{
    self, Diagnostic, Direction, Lang, LocalTime, MsgId, Policy, Severity, Unclassified,
};

const FILE: &str = "policy.toml";

fuzz_target!(|data: &[u8]| {
    match policy::from_bytes(&[(FILE, data)]) {
        Ok(p) => check_accepted(&p, data),
        Err(e) => {
            assert!(
                e.errors().next().is_some(),
                "a rejection without an error: {e:?}"
            );
            for d in &e.diagnostics {
                check_position(d, data);
            }
            for lang in [Lang::Id, Lang::En] {
                let text = e.render(lang);
                assert!(!text.is_empty());
            }
        }
    }
});

/// A finding points into the file: a line and column an editor can jump to. Only a policy
/// with no `[site]` at all is a finding about the policy as a whole (line 0).
fn check_position(d: &Diagnostic, data: &[u8]) {
    for lang in [Lang::Id, Lang::En] {
        d.render(lang);
    }
    assert_eq!(d.file.to_str(), Some(FILE), "{d:?}");
    if d.line == 0 {
        assert!(
            d.message.id() == MsgId::NoSite && d.column == 0,
            "a finding without a position: {d:?}"
        );
        return;
    }
    assert!(d.column >= 1, "line without a column: {d:?}");
    // Invalid UTF-8 turns into one replacement character per bad sequence, so counts of
    // lines and characters before the first bad byte are kept; a byte-order mark only makes
    // the first line longer here than the loader counts it.
    let text = String::from_utf8_lossy(data);
    let lines: Vec<&str> = text.split('\n').collect();
    assert!(
        d.line <= lines.len(),
        "line {} of a file of {} lines: {d:?}",
        d.line,
        lines.len()
    );
    let width = lines[d.line - 1].chars().count();
    assert!(
        d.column <= width + 1,
        "column {} of a line of {width} characters: {d:?}",
        d.column
    );
}

fn check_accepted(p: &Policy, data: &[u8]) {
    for d in &p.warnings {
        assert_eq!(d.severity, Severity::Warning, "{d:?}");
        check_position(d, data);
    }
    let site = &p.site;
    if let Unclassified::Agency(i) = site.unclassified {
        assert!(i < p.agencies.len(), "unclassified names agency {i}");
    }
    let mut ids = HashSet::new();
    let mut vlans = HashSet::new();
    let mut qinq = HashSet::new();
    for a in &p.agencies {
        assert!(ids.insert(&a.id), "agency {} twice", a.id);
        for &v in &a.vlans {
            assert!((1..=4094).contains(&v), "{}: VLAN {v}", a.id);
            assert!(vlans.insert(v), "VLAN {v} twice");
        }
        for &(o, i) in &a.qinq {
            assert!((1..=4094).contains(&o) && (1..=4094).contains(&i));
            assert!(qinq.insert((o, i)), "QinQ {o}/{i} twice");
        }
        for dir in Direction::ALL {
            let l = a.limits[dir];
            assert!(l.guaranteed <= l.ceiling, "{}: {l:?}", a.id);
            if let Some(h) = l.host_ceiling {
                assert!(h > 0 && h <= l.ceiling, "{}: {l:?}", a.id);
            }
        }
        for s in &a.schedules {
            assert!(s.start < 1440 && s.end < 1440, "{}: {s:?}", a.id);
        }
    }
    for dir in Direction::ALL {
        assert!(site.headroom[dir] < site.capacity[dir], "{site:?}");
        let usable = site.usable(dir);
        // At midnight on Monday and wherever a window starts or ends, the limits in force
        // are consistent and the guarantees fit the uplink (summed without overflow).
        let mut moments = vec![LocalTime {
            weekday: 0,
            minute: 0,
        }];
        for a in &p.agencies {
            for s in &a.schedules {
                for (day, on) in s.days.iter().enumerate() {
                    if *on {
                        for minute in [s.start, s.end] {
                            moments.push(LocalTime {
                                weekday: day as u8,
                                minute,
                            });
                        }
                    }
                }
            }
        }
        moments.truncate(256);
        for t in moments {
            let mut sum: u128 = 0;
            for a in &p.agencies {
                let l = a.limits_at(dir, t);
                assert!(l.guaranteed <= l.ceiling, "{} at {t:?}: {l:?}", a.id);
                sum += l.guaranteed as u128;
            }
            assert!(
                sum <= usable as u128,
                "guarantees {sum} above the usable {usable} at {t:?}"
            );
        }
    }
}
