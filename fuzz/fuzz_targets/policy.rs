//! The policy loader on arbitrary bytes, as `opd-gateway check` reads a file or a
//! directory: it never panics or hangs; a rejection has at least one error, each at a line
//! and column inside the file it names, shown in both languages; an accepted policy keeps
//! the invariants the rest of the gateway relies on.
//!
//! A line `#%file` splits the input into the files of a directory (at most eight), so
//! findings across files (a second `[site]`, a VLAN taken in another file) are tried too.

#![no_main]

use std::collections::HashSet;

use libfuzzer_sys::fuzz_target;
use opd_gateway::policy::{
    self, Diagnostic, Direction, Lang, LocalTime, MsgId, Policy, Severity, Unclassified,
};

const SEPARATOR: &[u8] = b"\n#%file\n";
const NAMES: [&str; 8] = [
    "00.toml", "10.toml", "20.toml", "30.toml", "40.toml", "50.toml", "60.toml", "70.toml",
];

fuzz_target!(|data: &[u8]| {
    let files = split(data);
    match policy::from_bytes(&files) {
        Ok(p) => check_accepted(&p, &files),
        Err(e) => {
            assert!(
                e.errors().next().is_some(),
                "a rejection without an error: {e:?}"
            );
            for d in &e.diagnostics {
                check_position(d, &files);
            }
            for lang in [Lang::Id, Lang::En] {
                let text = e.render(lang);
                assert!(!text.is_empty());
            }
        }
    }
});

/// The files of the input, named in order.
fn split(data: &[u8]) -> Vec<(&'static str, &[u8])> {
    let mut files = Vec::new();
    let mut rest = data;
    while files.len() < NAMES.len() - 1
        && let Some(at) = rest.windows(SEPARATOR.len()).position(|w| w == SEPARATOR)
    {
        files.push((NAMES[files.len()], &rest[..at]));
        rest = &rest[at + SEPARATOR.len()..];
    }
    files.push((NAMES[files.len()], rest));
    files
}

/// A finding points into the file it names: a line and column an editor can jump to. Only
/// a policy with no `[site]` at all is a finding about the policy as a whole (line 0, named
/// by its first file, as `check` names the directory).
fn check_position(d: &Diagnostic, files: &[(&str, &[u8])]) {
    for lang in [Lang::Id, Lang::En] {
        d.render(lang);
    }
    let data = files
        .iter()
        .find(|(name, _)| d.file.to_str() == Some(name))
        .unwrap_or_else(|| panic!("a finding about no file of the policy: {d:?}"))
        .1;
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

fn check_accepted(p: &Policy, files: &[(&str, &[u8])]) {
    assert_eq!(p.files.len(), files.len());
    for d in &p.warnings {
        assert_eq!(d.severity, Severity::Warning, "{d:?}");
        check_position(d, files);
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
