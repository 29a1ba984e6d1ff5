//! What the data plane should hold for a policy, and the ordered map writes that take it
//! there from what it holds now. Pure: the kernel only carries the writes out, through
//! [`Plane`], so the control loop runs the same against the kernel and a simulated plane.

use std::collections::{BTreeMap, BTreeSet};

use gateway_common::{
    AgencyRef, Config, Counters, Direction, Limit, LimitEntry, PerDirection, Rates, SlotId,
    VLAN_SLOTS, forward, qinq_key, unclassified,
};

use crate::{
    allocator::{self, Share},
    dataplane::{Contents, Dataplane, DataplaneError, MapWrite},
    policy::{Agency, Fallback, Forwarding, Hosts, Limits, Policy, Unclassified, defaults},
};

/// What the control loop needs from a data plane.
pub trait Plane {
    /// Counters of a slot and direction (monotonic, wrapping at 2^64).
    fn counters(&self, slot: u32, dir: Direction) -> Result<Counters, DataplaneError>;
    /// Carries out one write.
    fn write(&mut self, write: &MapWrite) -> Result<(), DataplaneError>;
    /// Hosts of a slot's agency active at `now_ns` (CLOCK_MONOTONIC) in a direction.
    fn active_hosts(&self, slot: u32, dir: Direction, now_ns: u64) -> Result<u32, DataplaneError>;
}

impl Plane for Dataplane {
    fn counters(&self, slot: u32, dir: Direction) -> Result<Counters, DataplaneError> {
        Dataplane::counters(self).agency(slot, dir)
    }

    fn active_hosts(&self, slot: u32, dir: Direction, now_ns: u64) -> Result<u32, DataplaneError> {
        Dataplane::active_hosts(self, slot, dir, now_ns)
    }

    fn write(&mut self, write: &MapWrite) -> Result<(), DataplaneError> {
        Dataplane::write(self, write)
    }
}

/// What the maps should hold for a policy.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    /// VLAN id → [`AgencyRef`] (slot + 1; 0 for none), all 4096 of them.
    pub vlans: Vec<AgencyRef>,
    /// [`qinq_key`] → [`AgencyRef`].
    pub qinq: BTreeMap<u32, AgencyRef>,
    /// Slot → fixed rates (the fallback division), for every slot in use.
    pub fixed: BTreeMap<u32, PerDirection<Rates>>,
    /// Slots taking a new agency: full bucket, zero counters, no rate from before.
    pub fresh: BTreeSet<u32>,
    /// Slot → agency id, kept with the maps so a restarted daemon finds its agencies.
    pub ids: BTreeMap<u32, String>,
    pub config: Config,
}

impl Plan {
    /// A plan for `policy` with agency `i` in `slots[i]` and the given fixed rates; every
    /// slot fresh.
    pub fn new(policy: &Policy, slots: &[u32], fixed: &[PerDirection<Rates>]) -> Plan {
        let mut vlans = vec![0 as AgencyRef; VLAN_SLOTS as usize];
        let mut qinq = BTreeMap::new();
        let mut fixed_by_slot = BTreeMap::new();
        let mut ids = BTreeMap::new();
        for (i, agency) in policy.agencies.iter().enumerate() {
            ids.insert(slots[i], agency.id.clone());
            let r = slots[i] + 1;
            for &vid in &agency.vlans {
                vlans[vid as usize] = r;
            }
            for &(outer, inner) in &agency.qinq {
                qinq.insert(qinq_key(outer, inner), r);
            }
            fixed_by_slot.insert(slots[i], fixed[i]);
        }
        let (unclassified_action, unclassified_agency) = match policy.site.unclassified {
            Unclassified::Pass => (unclassified::PASS, 0),
            Unclassified::Drop => (unclassified::DROP, 0),
            Unclassified::Agency(i) => (unclassified::AGENCY, slots[i]),
        };
        Plan {
            vlans,
            qinq,
            fresh: fixed_by_slot.keys().copied().collect(),
            fixed: fixed_by_slot,
            ids,
            config: Config {
                unclassified_action,
                unclassified_agency,
                forward: match policy.site.forwarding {
                    Forwarding::Redirect => forward::REDIRECT,
                    Forwarding::Bridge => forward::STACK,
                },
                host_ipv6_prefix: policy.site.host_ipv6_prefix as u32,
                uplink: [
                    uplink_limit(policy.site.usable(Direction::Upload)),
                    uplink_limit(policy.site.usable(Direction::Download)),
                ],
                // Until the control loop's first division.
                uplink_dynamic: [Limit::default(); 2],
                uplink_expires_ns: 0,
            },
        }
    }
}

/// The writes that make maps holding `applied` hold `plan`, in an order that never leaves a
/// frame unpoliced or policed as a stale agency: limits of new agencies first (their buckets
/// and counters fresh), then slot ids, then the VLAN and QinQ tables (one atomic entry at a
/// time), then the site settings, and last the slots no agency uses any more are freed.
/// Only what differs is written.
pub fn writes(applied: &Contents, plan: &Plan) -> Vec<MapWrite> {
    let mut out = Vec::new();
    for (&slot, fixed) in &plan.fixed {
        let fresh = plan.fresh.contains(&slot)
            || Direction::ALL
                .iter()
                .any(|&d| !applied.limits.contains_key(&(slot, d)));
        if fresh {
            out.push(MapWrite::ResetSlot { slot });
        }
        for dir in Direction::ALL {
            let entry = match applied.limits.get(&(slot, dir)) {
                Some(old) if !fresh => LimitEntry {
                    fixed: fixed[dir],
                    ..*old
                },
                _ => LimitEntry {
                    fixed: fixed[dir],
                    ..Default::default()
                },
            };
            if fresh || applied.limits.get(&(slot, dir)) != Some(&entry) {
                out.push(MapWrite::Limit { slot, dir, entry });
            }
        }
    }
    for (&slot, id) in &plan.ids {
        if applied.ids.get(&slot) != Some(id) {
            out.push(MapWrite::SlotId {
                slot,
                id: SlotId::new(id),
            });
        }
    }
    for (vid, &agency) in plan.vlans.iter().enumerate() {
        if applied.vlans[vid] != agency {
            out.push(MapWrite::Vlan {
                vid: vid as u16,
                agency,
            });
        }
    }
    for (&key, &agency) in &plan.qinq {
        if applied.qinq.get(&key) != Some(&agency) {
            out.push(MapWrite::Qinq {
                key,
                agency: Some(agency),
            });
        }
    }
    for &key in applied.qinq.keys().filter(|k| !plan.qinq.contains_key(k)) {
        out.push(MapWrite::Qinq { key, agency: None });
    }
    if applied.config != Some(plan.config) {
        out.push(MapWrite::Config(plan.config));
    }
    // Slots no agency uses any more: nothing points at them now.
    for &slot in applied.ids.keys().filter(|s| !plan.ids.contains_key(s)) {
        out.push(MapWrite::SlotId {
            slot,
            id: SlotId::FREE,
        });
    }
    out
}

/// The data plane as the control loop keeps it: a mirror of what its maps hold, so that
/// only what changes is written.
#[derive(Debug, Clone, Default)]
pub struct Applied {
    contents: Contents,
}

impl Applied {
    /// Maps holding `contents` ([`Contents::default`] for fresh maps).
    pub fn new(contents: Contents) -> Applied {
        Applied { contents }
    }

    /// Fresh maps made to hold `policy` as a starting daemon would (see [`initial_plan`]),
    /// for tools and tests that drive a data plane without the control loop.
    pub fn start(plane: &mut impl Plane, policy: &Policy) -> Result<Applied, DataplaneError> {
        let mut applied = Applied::default();
        applied.apply(plane, &initial_plan(policy))?;
        Ok(applied)
    }

    pub fn contents(&self) -> &Contents {
        &self.contents
    }

    fn carry_out(
        &mut self,
        plane: &mut impl Plane,
        writes: &[MapWrite],
    ) -> Result<(), DataplaneError> {
        for w in writes {
            plane.write(w)?;
            self.contents.record(w);
        }
        Ok(())
    }

    /// Makes the maps hold `plan` (see [`writes`]).
    pub fn apply(&mut self, plane: &mut impl Plane, plan: &Plan) -> Result<(), DataplaneError> {
        let w = writes(&self.contents, plan);
        self.carry_out(plane, &w)
    }

    /// Sets the rates the control loop computed for a slot and direction, valid until
    /// `expires_ns` (CLOCK_MONOTONIC); after that the data plane falls back to the fixed
    /// ones on its own. A slot the maps do not hold is left alone.
    pub fn set_rates(
        &mut self,
        plane: &mut impl Plane,
        slot: u32,
        dir: Direction,
        rates: Rates,
        expires_ns: u64,
    ) -> Result<(), DataplaneError> {
        let Some(old) = self.contents.limits.get(&(slot, dir)) else {
            return Ok(());
        };
        let entry = LimitEntry {
            dynamic: rates,
            dynamic_expires_ns: expires_ns,
            ..*old
        };
        self.carry_out(plane, &[MapWrite::Limit { slot, dir, entry }])
    }

    /// Sets what all agencies together may pass in each direction, bits/s (buckets as
    /// [`uplink_limit`] makes them), until `expires_ns` (CLOCK_MONOTONIC); after that the
    /// data plane falls back to the capacity less headroom on its own.
    pub fn set_uplink(
        &mut self,
        plane: &mut impl Plane,
        bps: PerDirection<u64>,
        expires_ns: u64,
    ) -> Result<(), DataplaneError> {
        let Some(old) = self.contents.config else {
            return Ok(());
        };
        let config = Config {
            uplink_dynamic: [
                uplink_limit(bps[Direction::Upload]),
                uplink_limit(bps[Direction::Download]),
            ],
            uplink_expires_ns: expires_ns,
            ..old
        };
        self.carry_out(plane, &[MapWrite::Config(config)])
    }
}

/// What every agency keeps in a direction however busy the others are, bits/s: 256 kbps (the
/// allocator's smallest room), or less where the guarantees leave less — enough for an idle
/// office's DNS, mail polling and keep-alives, and for the connections of a public WiFi that
/// gets nothing else to stay alive. Never makes the guarantees add up to more than `usable`.
pub fn floor(usable: u64, guarantees: &[u64]) -> u64 {
    let reserved: u64 = guarantees.iter().fold(0u64, |a, &g| a.saturating_add(g));
    let each = usable.saturating_sub(reserved) / (guarantees.len() as u64).max(1);
    each.min(allocator::defaults::MIN_ROOM)
}

/// An agency's limits with its guarantee raised to `floor` (but never above its ceiling).
pub fn with_floor(limits: Limits, floor: u64) -> Limits {
    Limits {
        guaranteed: limits.guaranteed.max(floor).min(limits.ceiling),
        ..limits
    }
}

/// An agency in one direction as the allocator sees it.
pub fn share(agency: &Agency, limits: &Limits, growing: bool) -> Share {
    Share {
        guaranteed: limits.guaranteed,
        ceiling: limits.ceiling,
        weight: agency.weight,
        tier: agency.tier,
        growing,
    }
}

/// The static division the data plane falls back to when rates expire, per agency and
/// direction: never more than the uplink can carry.
pub fn fallback_rates(policy: &Policy) -> Vec<PerDirection<u64>> {
    let mut out = vec![PerDirection::<u64>::default(); policy.agencies.len()];
    for dir in Direction::ALL {
        let usable = policy.site.usable(dir);
        let base = base_limits(policy, dir);
        let rates = match policy.site.fallback {
            Fallback::Guaranteed => {
                // Base guarantees fit the capacity whenever they apply; scale them down in
                // case schedules cover every hour and the base is never checked on its own.
                let sum: u128 = base.iter().map(|l| l.guaranteed as u128).sum();
                base.iter()
                    .map(|l| {
                        if sum <= usable as u128 {
                            l.guaranteed
                        } else {
                            (l.guaranteed as u128 * usable as u128 / sum) as u64
                        }
                    })
                    .collect()
            }
            Fallback::Shared => {
                // As if every agency were busy up to its ceiling.
                let shares: Vec<Share> = policy
                    .agencies
                    .iter()
                    .zip(&base)
                    .map(|(a, l)| share(a, l, true))
                    .collect();
                let busy: Vec<u64> = base.iter().map(|l| l.ceiling).collect();
                allocator::allocate(usable, &shares, &busy)
            }
        };
        for (o, r) in out.iter_mut().zip(rates) {
            o[dir] = r;
        }
    }
    out
}

/// Every agency's limits in a direction outside any schedule, with the [`floor`].
fn base_limits(policy: &Policy, dir: Direction) -> Vec<Limits> {
    let guarantees: Vec<u64> = policy
        .agencies
        .iter()
        .map(|a| a.limits[dir].guaranteed)
        .collect();
    let floor = floor(policy.site.usable(dir), &guarantees);
    policy
        .agencies
        .iter()
        .map(|a| with_floor(a.limits[dir], floor))
        .collect()
}

/// The fallback division in the data plane's form: each agency's base guarantee, and its
/// fallback rate as what it may pass in all, nothing beyond.
pub fn fallback_limits(policy: &Policy) -> Vec<PerDirection<Rates>> {
    let base = PerDirection::from_fn(|d| base_limits(policy, d));
    fallback_rates(policy)
        .into_iter()
        .zip(&policy.agencies)
        .enumerate()
        .map(|(i, (r, a))| {
            PerDirection::from_fn(|d| {
                let l = &base[d][i];
                // Static: nothing beyond the division, however idle the uplink; its hosts
                // share what it may pass.
                Rates {
                    excess: Limit::default(),
                    ..rates(l, a.hosts, l.guaranteed, r[d], r[d])
                }
            })
        })
        .collect()
}

/// The data plane's form of what an agency may pass in a direction: `guaranteed` on its
/// guarantee bucket (never more than `limit`), up to `limit` in all as its share, and up to
/// its ceiling beyond that while the uplink has plenty of room (bits/s). Each bucket is as
/// deep as the agency's `burst` at its rate. With `hosts = "fair"` its active hosts share
/// `shared` bits/s equally (see [`gateway_common::police_host`]); any host ceiling holds
/// either way.
pub fn rates(limits: &Limits, hosts: Hosts, guaranteed: u64, limit: u64, shared: u64) -> Rates {
    let guaranteed = guaranteed.min(limit);
    let bucket = |bps: u64| {
        if bps == 0 {
            Limit::default()
        } else {
            Limit::from_rate(bps, limits.burst_bytes(bps))
        }
    };
    Rates {
        guaranteed: bucket(guaranteed),
        borrow: bucket(limit - guaranteed),
        excess: bucket(limits.ceiling.saturating_sub(limit.max(guaranteed))),
        host_share: match hosts {
            Hosts::Fair => bucket(shared.max(1)),
            Hosts::Shared => Limit::default(),
        },
        host_ceiling: bucket(limits.host_ceiling.unwrap_or(0)),
    }
}

/// What an agency's hosts share in a direction this tick, bits/s: what it may pass, or
/// what it passed if more (it borrowed what the uplink left idle), never beyond its
/// ceiling.
pub fn host_shared(limits: &Limits, limit: u64, passed: u64) -> u64 {
    limit.max(passed).min(limits.ceiling)
}

/// What all agencies together may pass in a direction: the usable capacity, as deep as
/// the default burst.
pub fn uplink_limit(usable: u64) -> Limit {
    if usable == 0 {
        // Nothing to divide; a rate of zero would read as "no limit".
        return Limit::from_rate(1, 0);
    }
    let depth = usable as u128 * defaults::BURST_TIME.as_nanos() / 8 / 1_000_000_000;
    Limit::from_rate(usable, (depth as u64).max(defaults::MIN_BURST_BYTES))
}

/// The plan a policy starts with: agency `i` in slot `i`, fixed limits from its fallback.
pub fn initial_plan(policy: &Policy) -> Plan {
    let slots: Vec<u32> = (0..policy.agencies.len() as u32).collect();
    Plan::new(policy, &slots, &fallback_limits(policy))
}

#[cfg(test)]
mod tests;
