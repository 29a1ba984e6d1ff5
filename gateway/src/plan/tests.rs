//! The plan for a policy, the fallback division, and the order of map writes.

use gateway_common::Direction;

use super::*;
use crate::policy;

const UP: Direction = Direction::Upload;

const SITE: &str = "[site]\nlan = \"lan\"\nwan = \"wan\"\ncapacity = { upload = \"100Mbps\", download = \"100Mbps\" }\nheadroom = \"1Mbps\"\n";

fn policy(text: &str) -> Policy {
    policy::from_texts(&[("p.toml", text)]).unwrap_or_else(|e| panic!("{e}"))
}

/// Two standard agencies with guarantees and a public WiFi that only borrows.
fn three_text(site_extra: &str) -> String {
    format!(
        "{SITE}{site_extra}[[agency]]\nid = \"dinkes\"\nvlans = [10]\nupload = {{ guaranteed = \"20Mbps\" }}\ndownload = {{ guaranteed = \"20Mbps\" }}\n\
         [[agency]]\nid = \"bpbd\"\nvlans = [20]\nqinq = [[300, 7]]\nupload = {{ guaranteed = \"30Mbps\" }}\ndownload = {{ guaranteed = \"30Mbps\" }}\n\
         [[agency]]\nid = \"wifi\"\ntier = \"public\"\nvlans = [30]\nupload = {{ ceiling = \"100Mbps\" }}\ndownload = {{ ceiling = \"100Mbps\" }}\n"
    )
}

#[test]
fn every_agency_keeps_a_floor_that_never_oversubscribes() {
    assert_eq!(floor(100_000_000, &[20_000_000, 30_000_000, 0]), 256_000);
    // 1 Mbps left for four agencies: 250 kbps each.
    assert_eq!(floor(100_000_000, &[99_000_000, 0, 0, 0]), 250_000);
    assert_eq!(floor(100_000_000, &[100_000_000, 0]), 0);
    assert_eq!(floor(100_000_000, &[]), 256_000);
    let l = Limits {
        guaranteed: 0,
        ceiling: 100_000,
        burst: std::time::Duration::from_millis(100),
        host_ceiling: None,
    };
    assert_eq!(
        with_floor(l, 256_000).guaranteed,
        100_000,
        "never above the ceiling"
    );
}

#[test]
fn a_guaranteed_fallback_is_each_agencys_guarantee() {
    let p = policy(&three_text("fallback = \"guaranteed\"\n"));
    let r = fallback_rates(&p);
    // WiFi has no guarantee: it keeps the floor every agency keeps.
    assert_eq!(
        r.iter().map(|r| r[UP]).collect::<Vec<_>>(),
        vec![20_000_000, 30_000_000, 256_000]
    );
    // "shared": as if everyone were busy, guarantees first and the rest by tier.
    let r = fallback_rates(&policy(&three_text("")));
    assert_eq!(r.iter().map(|r| r[UP]).sum::<u64>(), 99_000_000);
    assert!(r[0][UP] >= 20_000_000 && r[1][UP] >= 30_000_000);
}

/// Where in `writes` the first write matching `f` stands.
fn position(writes: &[MapWrite], f: impl Fn(&MapWrite) -> bool) -> usize {
    writes
        .iter()
        .position(f)
        .unwrap_or_else(|| panic!("no such write in {writes:#?}"))
}

#[test]
fn fresh_maps_get_every_agency_then_its_vlans_then_the_site() {
    let p = policy(&three_text(""));
    let w = writes(&Contents::default(), &initial_plan(&p));
    let reset = position(&w, |w| matches!(w, MapWrite::ResetSlot { slot: 1 }));
    let limit = position(&w, |w| matches!(w, MapWrite::Limit { slot: 1, .. }));
    let vlan = position(&w, |w| matches!(w, MapWrite::Vlan { vid: 20, agency: 2 }));
    let qinq = position(&w, |w| {
        matches!(
            w,
            MapWrite::Qinq {
                agency: Some(2),
                ..
            }
        )
    });
    let config = position(&w, |w| matches!(w, MapWrite::Config(_)));
    assert!(reset < limit && limit < vlan && vlan < qinq && qinq < config);
    // Nothing else: VLANs nobody has are already 0 in fresh maps.
    let vlans = w
        .iter()
        .filter(|w| matches!(w, MapWrite::Vlan { .. }))
        .count();
    assert_eq!(vlans, 3);
}

#[test]
fn applied_again_nothing_is_written_and_a_change_writes_only_itself() {
    let p = policy(&three_text(""));
    let mut plan = initial_plan(&p);
    let mut applied = Contents::default();
    for w in writes(&applied, &plan) {
        applied.record(&w);
    }
    // The same agencies, no longer taking their slots afresh.
    plan.fresh.clear();
    assert_eq!(writes(&applied, &plan), vec![]);
    // bpbd's VLAN moves from 20 to 21 and its QinQ pair goes; dinkes leaves.
    let q = policy(&three_text("").replace("vlans = [20]\nqinq = [[300, 7]]", "vlans = [21]"));
    let mut q = q;
    q.agencies.remove(0);
    let slots = [1, 2];
    let mut next = Plan::new(&q, &slots, &fallback_limits(&q));
    next.fresh.clear();
    let w = writes(&applied, &next);
    let point = position(&w, |w| matches!(w, MapWrite::Vlan { vid: 21, agency: 2 }));
    let unpoint = position(&w, |w| matches!(w, MapWrite::Vlan { vid: 10, agency: 0 }));
    let free = position(
        &w,
        |w| matches!(w, MapWrite::SlotId { slot: 0, id } if *id == SlotId::FREE),
    );
    assert!(
        point < free && unpoint < free,
        "a slot is freed last: {w:#?}"
    );
    assert!(
        w.iter()
            .any(|w| matches!(w, MapWrite::Qinq { agency: None, .. }))
    );
    assert!(
        !w.iter().any(|w| matches!(w, MapWrite::ResetSlot { .. })),
        "kept agencies keep their buckets and counters"
    );
}

#[test]
fn a_rate_keeps_the_fixed_limit_and_an_unknown_slot_is_left_alone() {
    struct Recorder(Vec<MapWrite>);
    impl Plane for Recorder {
        fn counters(&self, _: u32, _: Direction) -> Result<Counters, DataplaneError> {
            Ok(Counters::default())
        }
        fn write(&mut self, write: &MapWrite) -> Result<(), DataplaneError> {
            self.0.push(write.clone());
            Ok(())
        }
        fn active_hosts(&self, _: u32, _: Direction, _: u64) -> Result<u32, DataplaneError> {
            Ok(0)
        }
    }
    let p = policy(&three_text(""));
    let mut plane = Recorder(Vec::new());
    let mut applied = Applied::default();
    applied.apply(&mut plane, &initial_plan(&p)).unwrap();
    let fixed = applied.contents().limits[&(0, UP)].fixed;
    let rate = Rates {
        guaranteed: Limit::from_rate(5_000_000, 62_500),
        ..Default::default()
    };
    plane.0.clear();
    applied.set_rates(&mut plane, 0, UP, rate, 42).unwrap();
    applied.set_rates(&mut plane, 9, UP, rate, 42).unwrap();
    assert_eq!(
        plane.0,
        vec![MapWrite::Limit {
            slot: 0,
            dir: UP,
            entry: LimitEntry {
                fixed,
                dynamic: rate,
                dynamic_expires_ns: 42
            }
        }]
    );
}

#[test]
fn hosts_share_what_the_agency_may_pass_and_a_host_ceiling_holds_either_way() {
    let l = Limits {
        guaranteed: 10_000_000,
        ceiling: 50_000_000,
        burst: std::time::Duration::from_millis(100),
        host_ceiling: Some(5_000_000),
    };
    let fair = rates(&l, Hosts::Fair, 10_000_000, 20_000_000, 30_000_000);
    // The hosts share 30 Mbps, each bucket as deep in time as the agency's.
    assert_eq!(fair.host_share, Limit::from_rate(30_000_000, 375_000));
    assert_eq!(fair.host_share.burst_ns, 100_000_000);
    assert_eq!(fair.host_ceiling, Limit::from_rate(5_000_000, 62_500));
    // The agency's own buckets are as without hosts.
    let shared = rates(&l, Hosts::Shared, 10_000_000, 20_000_000, 30_000_000);
    assert_eq!(
        (fair.guaranteed, fair.borrow, fair.excess),
        (shared.guaranteed, shared.borrow, shared.excess)
    );
    assert_eq!(shared.host_share, Limit::default(), "one bucket for all");
    assert_eq!(shared.host_ceiling, fair.host_ceiling);
    let open = Limits {
        host_ceiling: None,
        ..l
    };
    let shared = rates(&open, Hosts::Shared, 10_000_000, 20_000_000, 30_000_000);
    assert!(!gateway_common::by_host(&shared), "nothing per host at all");
    // What they share: the limit, or what it passed when it borrowed more, never beyond
    // the ceiling.
    assert_eq!(host_shared(&l, 20_000_000, 5_000_000), 20_000_000);
    assert_eq!(host_shared(&l, 20_000_000, 35_000_000), 35_000_000);
    assert_eq!(host_shared(&l, 20_000_000, 90_000_000), 50_000_000);
}

#[test]
fn the_fallback_shares_its_rate_between_the_hosts_and_the_site_sets_the_ipv6_prefix() {
    let p = policy(&three_text("host_ipv6_prefix = 56\n"));
    let plan = initial_plan(&p);
    assert_eq!(plan.config.host_ipv6_prefix, 56);
    let fixed = fallback_limits(&p);
    let r = fallback_rates(&p);
    for (i, f) in fixed.iter().enumerate() {
        let total = Limit::from_rate(r[i][UP], 1);
        assert_eq!(
            f[UP].host_share.ns_per_byte_fp, total.ns_per_byte_fp,
            "agency {i}"
        );
    }
}
