//! The control loop's logic: every tick, counters → demand → allocation → rates with an
//! expiry; and reloads that keep every agency's slot, counters and demand.
//!
//! It talks to the data plane through [`Plane`], so it runs the same against the kernel
//! maps and against a simulated plane in tests.

use std::collections::{BTreeSet, HashMap};

use gateway_common::{Counters, Limit, MAX_AGENCIES};

use crate::{
    allocator::{self, Share},
    dataplane::{Dataplane, DataplaneError, Plan},
    policy::{Direction, Fallback, Policy, Tier},
};

/// What the control loop needs from a data plane.
pub trait Plane {
    /// Counters of a slot and direction (monotonic, wrapping at 2^64).
    fn counters(&self, slot: u32, dir: Direction) -> Result<Counters, DataplaneError>;
    /// Makes the maps hold a plan (see [`Dataplane::apply`]).
    fn apply(&mut self, plan: &Plan) -> Result<(), DataplaneError>;
    /// Sets a slot's rate in a direction until `expires_ns` (CLOCK_MONOTONIC).
    fn set_rate(
        &mut self,
        slot: u32,
        dir: Direction,
        rate: Limit,
        expires_ns: u64,
    ) -> Result<(), DataplaneError>;
}

impl Plane for Dataplane {
    fn counters(&self, slot: u32, dir: Direction) -> Result<Counters, DataplaneError> {
        self.agency_counters(slot, dir as u32)
            .map_err(|source| DataplaneError::ReadMap {
                name: "OPD_AGENCY_STATS",
                source: Box::new(source),
            })
    }

    fn apply(&mut self, plan: &Plan) -> Result<(), DataplaneError> {
        Dataplane::apply(self, plan)
    }

    fn set_rate(
        &mut self,
        slot: u32,
        dir: Direction,
        rate: Limit,
        expires_ns: u64,
    ) -> Result<(), DataplaneError> {
        Dataplane::set_rate(self, slot, dir as u32, rate, expires_ns)
    }
}

/// One agency's state in one direction, carried from tick to tick (and across reloads).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Flow {
    /// Passed + dropped bytes at the last tick.
    pub offered_bytes: u64,
    pub passed_bytes: u64,
    pub dropped_bytes: u64,
    /// Smoothed demand, bits/s.
    pub demand: u64,
    /// Offered and passed over the last tick, bits/s.
    pub offered_rate: u64,
    pub passed_rate: u64,
    pub dropped_rate: u64,
    /// Allocated rate, bits/s.
    pub allocated: u64,
    /// Guarantee and ceiling in force at the last tick, bits/s.
    pub guaranteed: u64,
    pub ceiling: u64,
}

/// An agency as the control loop tracks it.
#[derive(Debug, Clone)]
pub struct Tracked {
    pub slot: u32,
    /// Per [`Direction`].
    pub flows: [Flow; 2],
}

#[derive(Debug, thiserror::Error)]
pub enum ControlError {
    #[error("the data plane refused an update")]
    Plane(#[from] DataplaneError),
    #[error("no free agency slot: the data plane holds at most {MAX_AGENCIES} agencies")]
    NoSlot,
}

/// The needs-based divider of the uplink.
pub struct Controller {
    policy: Policy,
    /// Per agency of `policy`.
    tracked: Vec<Tracked>,
    /// CLOCK_MONOTONIC ns of the last tick.
    last_tick_ns: Option<u64>,
    pub ticks: u64,
    /// Slots of agencies a previous daemon placed (while adopting only).
    known: HashMap<String, u32>,
}

impl Controller {
    /// Takes over the data plane with `policy`: agencies in slots 0.., fixed limits from the
    /// policy's fallback, counters read as the starting point.
    pub fn new(policy: Policy, plane: &mut impl Plane) -> Result<Controller, ControlError> {
        Self::adopt(policy, plane, HashMap::new())
    }

    /// Takes over a data plane a previous daemon left running: agencies found in `known`
    /// (id → slot, as the pinned maps record them) keep their slot, counters, buckets and
    /// the rates in force; the others start fresh in slots nobody used.
    pub fn adopt(
        policy: Policy,
        plane: &mut impl Plane,
        known: HashMap<String, u32>,
    ) -> Result<Controller, ControlError> {
        let mut c = Controller {
            policy: policy.clone(),
            tracked: Vec::new(),
            last_tick_ns: None,
            ticks: 0,
            known,
        };
        c.reload(policy, plane)?;
        c.known.clear();
        Ok(c)
    }

    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    pub fn tracked(&self) -> &[Tracked] {
        &self.tracked
    }

    /// Switches to a new, already validated policy without a gap: agencies that stay keep
    /// their slot, counters, demand and current rates; new ones get free slots; the data
    /// plane is updated in an order that never leaves a frame unpoliced.
    pub fn reload(&mut self, policy: Policy, plane: &mut impl Plane) -> Result<(), ControlError> {
        let old: HashMap<&str, &Tracked> = self
            .policy
            .agencies
            .iter()
            .zip(&self.tracked)
            .map(|(a, t)| (a.id.as_str(), t))
            .collect();
        // New agencies never take a slot the running policy uses: a removed agency's VLANs
        // point at its slot until the new plan is applied, and its frames must not be
        // counted as a newcomer's. Freed slots are reused from the next reload on.
        let mut used: BTreeSet<u32> = self.tracked.iter().map(|t| t.slot).collect();
        used.extend(self.known.values());
        let mut tracked = Vec::with_capacity(policy.agencies.len());
        let mut fresh = Vec::new();
        let mut adopted = Vec::new();
        for (i, a) in policy.agencies.iter().enumerate() {
            match (old.get(a.id.as_str()), self.known.get(&a.id)) {
                (Some(t), _) => tracked.push((*t).clone()),
                (None, Some(&slot)) => {
                    adopted.push(i);
                    tracked.push(Tracked {
                        slot,
                        flows: [Flow::default(); 2],
                    });
                }
                (None, None) => {
                    let slot = (0..MAX_AGENCIES)
                        .find(|s| !used.contains(s))
                        .ok_or(ControlError::NoSlot)?;
                    used.insert(slot);
                    fresh.push(i);
                    tracked.push(Tracked {
                        slot,
                        flows: [Flow::default(); 2],
                    });
                }
            }
        }
        let slots: Vec<u32> = tracked.iter().map(|t| t.slot).collect();
        let fixed = fallback_limits(&policy);
        let mut plan = Plan::new(&policy, &slots, &fixed);
        plan.fresh = fresh.iter().map(|&i| tracked[i].slot).collect();
        plane.apply(&plan)?;
        // New slots start from the counters as they are now (zeroed by `apply`), adopted
        // ones from where the previous daemon left them.
        for i in fresh.into_iter().chain(adopted) {
            for dir in Direction::BOTH {
                let c = plane.counters(tracked[i].slot, dir)?;
                let f = &mut tracked[i].flows[dir.index()];
                f.offered_bytes = c.passed_bytes.wrapping_add(c.dropped_bytes);
                f.passed_bytes = c.passed_bytes;
                f.dropped_bytes = c.dropped_bytes;
            }
        }
        self.policy = policy;
        self.tracked = tracked;
        Ok(())
    }

    /// One tick at `now_ns` (CLOCK_MONOTONIC) and `unix_seconds` (wall clock, only for
    /// office-hours schedules). Rates hold until `now_ns` + the site's expiry.
    pub fn tick(
        &mut self,
        plane: &mut impl Plane,
        now_ns: u64,
        unix_seconds: i64,
    ) -> Result<(), ControlError> {
        let site = &self.policy.site;
        let tick_ns = site.tick.as_nanos() as u64;
        // Measure only over a meaningful interval: a tick that follows the previous one too
        // closely (a late tick caught up) keeps the demand it had. Monotonic time never goes
        // back; a wall-clock step changes only which schedule applies.
        if self.last_tick_ns.is_none() {
            // The first tick only takes the counters as a starting point: with no demand
            // measured yet, the rates in force (the policy's static division, or an adopted
            // daemon's last rates until they expire) stay.
            for (a, t) in self.policy.agencies.iter().zip(&mut self.tracked) {
                for dir in Direction::BOTH {
                    let c = plane.counters(t.slot, dir)?;
                    let f = &mut t.flows[dir.index()];
                    f.offered_bytes = c.passed_bytes.wrapping_add(c.dropped_bytes);
                    f.passed_bytes = c.passed_bytes;
                    f.dropped_bytes = c.dropped_bytes;
                    let l = a.limits_at(dir, site.timezone.local(unix_seconds));
                    f.guaranteed = l.guaranteed;
                    f.ceiling = l.ceiling;
                }
            }
            self.last_tick_ns = Some(now_ns);
            self.ticks += 1;
            return Ok(());
        }
        let elapsed = self.last_tick_ns.map(|t| now_ns.saturating_sub(t));
        let measure = elapsed.filter(|&e| e >= tick_ns / 4);
        let local = site.timezone.local(unix_seconds);
        for dir in Direction::BOTH {
            let mut shares = Vec::with_capacity(self.tracked.len());
            let mut demand = Vec::with_capacity(self.tracked.len());
            let mut limits = Vec::with_capacity(self.tracked.len());
            for (a, t) in self.policy.agencies.iter().zip(&mut self.tracked) {
                let c = plane.counters(t.slot, dir)?;
                let f = &mut t.flows[dir.index()];
                let offered = c.passed_bytes.wrapping_add(c.dropped_bytes);
                if let Some(e) = measure {
                    // Wrapping differences: a counter that wrapped still gives the right delta.
                    let rate = |delta: u64| {
                        (delta as u128 * 8 * 1_000_000_000 / e as u128).min(u64::MAX as u128) as u64
                    };
                    f.offered_rate = rate(offered.wrapping_sub(f.offered_bytes));
                    f.passed_rate = rate(c.passed_bytes.wrapping_sub(f.passed_bytes));
                    f.dropped_rate = rate(c.dropped_bytes.wrapping_sub(f.dropped_bytes));
                    f.demand = allocator::smooth_demand(f.demand, f.offered_rate);
                }
                if measure.is_some() {
                    f.offered_bytes = offered;
                    f.passed_bytes = c.passed_bytes;
                    f.dropped_bytes = c.dropped_bytes;
                }
                let l = a.limits_at(dir, local);
                f.guaranteed = l.guaranteed;
                f.ceiling = l.ceiling;
                // Held back by its rate: more than 0.5% of what it offered was dropped.
                let growing = f.dropped_rate > f.offered_rate / 200;
                shares.push(share(a.tier, a.weight, l.guaranteed, l.ceiling, growing));
                demand.push(f.demand);
                limits.push(l);
            }
            let rates = allocator::allocate(site.usable(dir), &shares, &demand);
            let expires = now_ns.saturating_add(site.expiry.as_nanos() as u64);
            for ((t, l), rate) in self.tracked.iter_mut().zip(&limits).zip(rates) {
                plane.set_rate(t.slot, dir, l.to_dataplane(rate), expires)?;
                t.flows[dir.index()].allocated = rate;
            }
        }
        if measure.is_some() {
            self.last_tick_ns = Some(now_ns);
        }
        self.ticks += 1;
        Ok(())
    }
}

fn share(tier: Tier, weight: u32, guaranteed: u64, ceiling: u64, growing: bool) -> Share {
    Share {
        guaranteed,
        ceiling,
        weight,
        growing,
        tier: match tier {
            Tier::Critical => allocator::Tier::Critical,
            Tier::Standard => allocator::Tier::Standard,
            Tier::Public => allocator::Tier::Public,
        },
    }
}

/// The static division the data plane falls back to when rates expire, per agency and
/// direction: never more than the uplink can carry.
pub fn fallback_rates(policy: &Policy) -> Vec<[u64; 2]> {
    let mut out = vec![[0u64; 2]; policy.agencies.len()];
    for dir in Direction::BOTH {
        let usable = policy.site.usable(dir);
        let base: Vec<_> = policy
            .agencies
            .iter()
            .map(|a| a.limits[dir.index()])
            .collect();
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
                    .map(|(a, l)| share(a.tier, a.weight, l.guaranteed, l.ceiling, true))
                    .collect();
                let busy: Vec<u64> = base.iter().map(|l| l.ceiling).collect();
                allocator::allocate(usable, &shares, &busy)
            }
        };
        for (o, r) in out.iter_mut().zip(rates) {
            o[dir.index()] = r;
        }
    }
    out
}

/// The plan a policy starts with: agency `i` in slot `i`, fixed limits from its fallback.
pub fn initial_plan(policy: &Policy) -> Plan {
    let slots: Vec<u32> = (0..policy.agencies.len() as u32).collect();
    Plan::new(policy, &slots, &fallback_limits(policy))
}

fn fallback_limits(policy: &Policy) -> Vec<[Limit; 2]> {
    fallback_rates(policy)
        .into_iter()
        .zip(&policy.agencies)
        .map(|(r, a)| {
            [
                a.limits[0].to_dataplane(r[0]),
                a.limits[1].to_dataplane(r[1]),
            ]
        })
        .collect()
}

/// CLOCK_MONOTONIC in ns: the clock `bpf_ktime_get_ns` reads.
pub fn monotonic_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: a valid timespec to fill.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

/// Seconds since the Unix epoch (wall clock).
pub fn unix_seconds() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

#[cfg(test)]
mod tests;
