//! The control loop's logic: every tick, counters → demand → allocation → rates with an
//! expiry; and reloads that keep every agency's slot, counters and demand.
//!
//! It talks to the data plane through [`Plane`], so it runs the same against the kernel
//! maps and against a simulated plane in tests; what it measured is handed out as a
//! [`Snapshot`].

mod snapshot;

use std::collections::{BTreeSet, HashMap};

use gateway_common::{Direction, MAX_AGENCIES, PerDirection};

pub use snapshot::{AgencySnapshot, Snapshot};

use crate::{
    allocator,
    dataplane::{Contents, DataplaneError},
    demand::Flow,
    plan::{self, Applied, Plan, Plane},
    policy::{Limits, Policy, Site},
};

/// An agency as the control loop tracks it.
#[derive(Debug, Clone)]
pub struct Tracked {
    pub slot: u32,
    pub flows: PerDirection<Flow>,
}

#[derive(Debug, thiserror::Error)]
pub enum ControlError {
    #[error("the data plane refused an update")]
    Plane(#[from] DataplaneError),
    #[error("no free agency slot: the data plane holds at most {MAX_AGENCIES} agencies")]
    NoSlot,
    #[error(
        "changing {} cannot be applied by a reload (it decides how the programs are loaded or where they are attached): restart the service to apply it",
        .keys.join(", ")
    )]
    NeedsRestart { keys: Vec<&'static str> },
}

/// The needs-based divider of the uplink.
pub struct Controller {
    policy: Policy,
    /// Per agency of `policy`.
    tracked: Vec<Tracked>,
    /// What the data plane's maps hold.
    applied: Applied,
    /// CLOCK_MONOTONIC ns of the last measured tick.
    last_tick_ns: Option<u64>,
    ticks: u64,
    /// Room kept on the uplink for TCP segments the gateway dropped, which their senders
    /// send again (smoothed, bits/s; see [`resend_room`]).
    resend_room: PerDirection<u64>,
    /// What the last tick divided among the agencies, bits/s.
    divided: PerDirection<u64>,
}

impl Controller {
    /// Takes over a data plane holding `contents` ([`Contents::default`] for fresh maps):
    /// agencies the maps name keep their slot, counters, buckets and the rates in force;
    /// the others start fresh in slots nobody used. Fixed limits come from the policy's
    /// fallback division.
    pub fn adopt(
        policy: Policy,
        plane: &mut impl Plane,
        contents: Contents,
    ) -> Result<Controller, ControlError> {
        let mut c = Controller {
            // Nothing running yet: every agency of `policy` is new or adopted.
            policy: policy.clone(),
            tracked: Vec::new(),
            applied: Applied::new(contents),
            last_tick_ns: None,
            ticks: 0,
            resend_room: PerDirection::default(),
            divided: PerDirection::from_fn(|d| policy.site.usable(d)),
        };
        c.switch(policy, plane)?;
        Ok(c)
    }

    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    pub fn tracked(&self) -> &[Tracked] {
        &self.tracked
    }

    /// Ticks so far.
    pub fn ticks(&self) -> u64 {
        self.ticks
    }

    /// What the maps hold, as last written.
    pub fn applied(&self) -> &Contents {
        self.applied.contents()
    }

    /// Switches to a new, already validated policy without a gap (see [`Controller::adopt`]
    /// for what agencies keep). Refused with [`ControlError::NeedsRestart`] if it moves the
    /// programs to other ports or another mode; nothing changes then.
    pub fn reload(&mut self, policy: Policy, plane: &mut impl Plane) -> Result<(), ControlError> {
        needs_restart(&self.policy.site, &policy.site)?;
        self.switch(policy, plane)
    }

    fn switch(&mut self, policy: Policy, plane: &mut impl Plane) -> Result<(), ControlError> {
        let running: HashMap<&str, &Tracked> = self
            .policy
            .agencies
            .iter()
            .zip(&self.tracked)
            .map(|(a, t)| (a.id.as_str(), t))
            .collect();
        // Agencies the maps name but the running policy does not: a previous daemon's.
        let known = self.applied.contents().slots();
        // New agencies never take a slot the maps hold: a removed agency's VLANs point at
        // its slot until the new plan is applied, and its frames must not be counted as a
        // newcomer's. Freed slots are reused from the next reload on.
        let mut used: BTreeSet<u32> = self.tracked.iter().map(|t| t.slot).collect();
        used.extend(known.values());
        let mut tracked = Vec::with_capacity(policy.agencies.len());
        let mut fresh = Vec::new();
        let mut adopted = Vec::new();
        for (i, a) in policy.agencies.iter().enumerate() {
            let slot = match (running.get(a.id.as_str()), known.get(&a.id)) {
                (Some(t), _) => {
                    tracked.push((*t).clone());
                    continue;
                }
                (None, Some(&slot)) => {
                    adopted.push(i);
                    slot
                }
                (None, None) => {
                    let slot = (0..MAX_AGENCIES)
                        .find(|s| !used.contains(s))
                        .ok_or(ControlError::NoSlot)?;
                    used.insert(slot);
                    fresh.push(i);
                    slot
                }
            };
            tracked.push(Tracked {
                slot,
                flows: PerDirection::default(),
            });
        }
        let slots: Vec<u32> = tracked.iter().map(|t| t.slot).collect();
        let mut plan = Plan::new(&policy, &slots, &plan::fallback_limits(&policy));
        plan.fresh = fresh.iter().map(|&i| tracked[i].slot).collect();
        self.applied.apply(plane, &plan)?;
        // New slots start from the counters as they are now (zeroed by the plan), adopted
        // ones from where the previous daemon left them.
        for i in fresh.into_iter().chain(adopted) {
            for dir in Direction::ALL {
                let c = plane.counters(tracked[i].slot, dir)?;
                tracked[i].flows[dir].start(&c);
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
        let local = site.timezone.local(unix_seconds);
        self.ticks += 1;
        let Some(last) = self.last_tick_ns else {
            // The first tick only takes the counters as a starting point: with no demand
            // measured yet, the rates in force (the policy's static division, or an adopted
            // daemon's last rates until they expire) stay.
            for (a, t) in self.policy.agencies.iter().zip(&mut self.tracked) {
                for dir in Direction::ALL {
                    let f = &mut t.flows[dir];
                    f.start(&plane.counters(t.slot, dir)?);
                    let l = a.limits_at(dir, local);
                    (f.guaranteed, f.ceiling) = (l.guaranteed, l.ceiling);
                }
            }
            self.last_tick_ns = Some(now_ns);
            return Ok(());
        };
        // Measure only over a meaningful interval: a tick that follows the previous one too
        // closely (a late tick caught up) keeps the demand it had. Monotonic time never goes
        // back; a wall-clock step changes only which schedule applies.
        let elapsed = now_ns.saturating_sub(last);
        let measure = elapsed >= site.tick.as_nanos() as u64 / 4;
        let expires = now_ns.saturating_add(site.expiry.as_nanos() as u64);
        for dir in Direction::ALL {
            let mut shares = Vec::with_capacity(self.tracked.len());
            let mut demand = Vec::with_capacity(self.tracked.len());
            let mut limits = Vec::with_capacity(self.tracked.len());
            let in_force: Vec<Limits> = self
                .policy
                .agencies
                .iter()
                .map(|a| a.limits_at(dir, local))
                .collect();
            let guarantees: Vec<u64> = in_force.iter().map(|l| l.guaranteed).collect();
            let floor = plan::floor(site.usable(dir), &guarantees);
            for ((a, t), l) in self
                .policy
                .agencies
                .iter()
                .zip(&mut self.tracked)
                .zip(in_force)
            {
                let f = &mut t.flows[dir];
                if measure {
                    f.observe(&plane.counters(t.slot, dir)?, elapsed);
                }
                (f.guaranteed, f.ceiling) = (l.guaranteed, l.ceiling);
                let l = plan::with_floor(l, floor);
                shares.push(plan::share(a, &l, f.held_back()));
                demand.push(f.demand);
                limits.push(l);
            }
            // Download frames the gateway drops have crossed the uplink already, and TCP
            // sends them again: what the agencies pass and what their senders resend must
            // fit the purchased capacity together, or the provider's queue, not the
            // division, decides who gets what.
            let tcp_dropped = self.tracked.iter().map(|t| t.flows[dir].tcp_dropped_rate);
            let room = &mut self.resend_room[dir];
            if measure {
                *room = resend_room(dir, *room, tcp_dropped.sum());
            }
            let guaranteed = limits.iter().map(|l| l.guaranteed).sum();
            let budget = divisible(site, dir, *room, guaranteed);
            self.divided[dir] = budget;
            let division = allocator::divide(budget, &shares, &demand);
            let agencies = self.policy.agencies.iter();
            for (i, ((t, l), a)) in self
                .tracked
                .iter_mut()
                .zip(&limits)
                .zip(agencies)
                .enumerate()
            {
                // Its guarantee holds at once, whatever it wanted; beyond its share it may
                // borrow what nobody wants, first come first served: the uplink's bucket in
                // the data plane keeps the sum within the capacity.
                let limit = division.limit(i, &shares[i]);
                let f = &mut t.flows[dir];
                let shared = plan::host_shared(l, limit, f.passed_rate);
                let rates = plan::rates(l, a.hosts, l.guaranteed, limit, shared);
                self.applied.set_rates(plane, t.slot, dir, rates, expires)?;
                (f.allocated, f.limit) = (division.rates[i], limit);
                // Counted by the data plane only for agencies that police by host.
                f.hosts = if gateway_common::by_host(&rates) {
                    plane.active_hosts(t.slot, dir, now_ns)?
                } else {
                    0
                };
            }
        }
        self.applied.set_uplink(plane, self.divided, expires)?;
        if measure {
            self.last_tick_ns = Some(now_ns);
        }
        Ok(())
    }

    /// What the last tick measured and decided, for the metrics, the status and the log.
    pub fn snapshot(&self) -> Snapshot {
        Snapshot::new(
            &self.policy,
            &self.tracked,
            self.ticks,
            self.divided,
            self.resend_room,
        )
    }
}

/// The room to keep on the uplink in `dir` for resent TCP segments, given the last tick's
/// `previous` room and the TCP segments the agencies' buckets dropped over the last tick,
/// `tcp_dropped` (bits/s): rises at once, falls by half the difference per tick as demand
/// does. Only downloads need it (an upload frame dropped at the gateway never reaches the
/// uplink), and only TCP's drops count: a sender that slows down when its share shrinks
/// is what the room makes room for — a UDP flood's drops would not shrink with it.
pub fn resend_room(dir: Direction, previous: u64, tcp_dropped: u64) -> u64 {
    match dir {
        Direction::Upload => 0,
        Direction::Download => allocator::smooth_demand(previous, tcp_dropped),
    }
}

/// What is divided among the agencies in `dir`, bits/s: the capacity less the headroom, and
/// less the room for resent segments where that is more than the headroom — but never
/// less than the `guaranteed` rates in force (guarantees hold whatever else the uplink
/// carries).
pub fn divisible(site: &Site, dir: Direction, resend_room: u64, guaranteed: u64) -> u64 {
    let usable = site.usable(dir);
    let within = site.capacity[dir].saturating_sub(resend_room);
    usable.min(within).max(guaranteed.min(usable))
}

/// The keys of [`Site`] a reload cannot change: they decide where and how the programs are
/// attached.
fn needs_restart(running: &Site, new: &Site) -> Result<(), ControlError> {
    let mut keys = Vec::new();
    if running.lan != new.lan {
        keys.push("`lan`");
    }
    if running.wan != new.wan {
        keys.push("`wan`");
    }
    if running.xdp_mode != new.xdp_mode {
        keys.push("`xdp_mode`");
    }
    if running.host_table != new.host_table {
        keys.push("`host_table`");
    }
    if keys.is_empty() {
        Ok(())
    } else {
        Err(ControlError::NeedsRestart { keys })
    }
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
