//! Divides the uplink among agencies by need, once per tick and per direction.
//!
//! All rates are bits per second (u64).
//!
//! Each tick the control loop turns every agency's offered load (passed + dropped bytes) into a
//! demand with [`smooth_demand`], then [`divide`] shares the capacity (the uplink's capacity
//! minus headroom) out by need in two phases:
//! 1. **Base**: each agency gets its guarantee, up to what it [`want`]s (an idle agency does not
//!    hold its whole guarantee; the data plane gives it back the moment its frames arrive).
//! 2. **Want**: tier by tier ([`Tier::Critical`], then [`Tier::Standard`], then [`Tier::Public`]),
//!    what is left goes to the agencies of the tier by weighted max-min fairness, each up to
//!    its want. A tier gets nothing here until every agency of the tiers before it has its want.
//!
//! What nobody wants is the **spare**: the control loop lets every agency borrow it on top of
//! its share, first come first served, and the data plane's uplink bucket keeps the total
//! within the capacity. [`allocate`] instead hands the spare out again by tier and weight up
//! to each ceiling, for the static division the data plane falls back to.
//!
//! Neither ever exceeds the capacity or an agency's ceiling; [`allocate`] adds up to exactly
//! `min(capacity, Σ ceiling)`, [`divide`]'s rates and spare to exactly `capacity`.

pub use gateway_common::Tier;

/// Allocation constants, in one place.
pub mod defaults {
    /// Room to grow as a fraction of demand (1/4) for an agency held back by its rate (its
    /// frames were dropped last tick): it can take 25% more the next tick, so TCP probing
    /// for more bandwidth finds it.
    pub const GROWTH_DIVISOR: u64 = 4;
    /// Room as a fraction of demand (1/100) for an agency whose traffic all passed: it is
    /// not held back, so reserving much for it would leave the uplink idle while others
    /// queue (the demo's office hours used 89% of a contended uplink with 1/4 for everyone,
    /// 98% with 1/50). If it grows, its drops show it and the next tick gives it the larger
    /// room.
    pub const STEADY_DIVISOR: u64 = 100;
    /// Smallest room (256 kbps): enough for an idle office's DNS, NTP, mail polling and
    /// keep-alives. 45 idle agencies hold 11.5 Mbps, about 1% of a 1 Gbps uplink.
    pub const MIN_ROOM: u64 = 256_000;
    /// Demand above the measured load falls by half the difference per tick: an agency that
    /// goes idle gives back 7/8 of its demand within three ticks, and a one-tick lull costs a
    /// busy agency at most half its demand.
    pub const DEMAND_FALL_DIVISOR: u64 = 2;
}

/// One agency in one direction, as the policy sets it right now (schedules already resolved).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Share {
    /// Bits/s the agency always gets when it wants them. Policy validation keeps
    /// `guaranteed <= ceiling` and the agencies' sum within the capacity; if the sum exceeds
    /// it anyway, [`allocate`] scales the guarantees down proportionally.
    pub guaranteed: u64,
    /// Bits/s the agency never exceeds, even on an idle uplink.
    pub ceiling: u64,
    /// The agency's share of contended capacity relative to the others of its tier; 0 counts as 1.
    pub weight: u32,
    pub tier: Tier,
    /// The agency's rate held it back last tick (some of its frames were dropped): it gets
    /// the larger room to grow.
    pub growing: bool,
}

/// Each agency's want (see [`want`]).
fn wants(shares: &[Share], demand: &[u64]) -> Vec<u64> {
    shares
        .iter()
        .zip(demand)
        .map(|(s, &d)| want(s, d))
        .collect()
}

/// What an agency is given room for this tick, in bits/s: its smoothed `demand` (bits/s) plus
/// room to grow, capped at its ceiling.
///
/// Room is a quarter of the demand for a [`Share::growing`] agency and a hundredth for a
/// steady one, at least 256 kbps (see [`defaults`]), so an idle agency keeps a small
/// allocation. A growing agency wants at least its whole guarantee: an agency waking up
/// (its first frames dropped at the idle allocation) has its guarantee the next tick, even
/// when its TCP connections have not yet shown how much they need.
pub fn want(share: &Share, demand: u64) -> u64 {
    let (divisor, floor) = if share.growing {
        (defaults::GROWTH_DIVISOR, share.guaranteed)
    } else {
        (defaults::STEADY_DIVISOR, 0)
    };
    let room = (demand / divisor).max(defaults::MIN_ROOM);
    demand.saturating_add(room).max(floor).min(share.ceiling)
}

/// The uplink divided by need: what each agency wants and gets, and what nobody wants.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Division {
    /// Per agency, in the order of the shares, bits/s: at most its [`want`].
    pub rates: Vec<u64>,
    /// What is left once every want is met, bits/s: 0 on a contended uplink.
    pub spare: u64,
    /// Per tier (in [`Tier::ALL`] order): what an agency of the tier would get beyond its
    /// guarantee if it were busy now.
    openings: [Opening; 3],
}

/// What a tier leaves an agency of its own that becomes busy.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Opening {
    /// Every want of the tier is met: it may take what the tiers after it borrow, and the
    /// spare (bits/s).
    All(u64),
    /// The tier is contended: its busy agencies share `left` bits/s by weight, over a total
    /// `weight`, and a newly busy one would get its part as they do.
    Level { left: u128, weight: u128 },
}

impl Division {
    /// What agency `i` (with `share`) may pass in all until the next tick, bits/s: its rate
    /// plus the spare, and at least what it would get if it were busy now (its guarantee and
    /// its tier's part of what is left, as HTB lends to a class the moment it has traffic),
    /// up to its ceiling. The limits add up to more than the capacity: the data plane passes
    /// guaranteed traffic first and lets the rest borrow only while the uplink has room.
    pub fn limit(&self, i: usize, share: &Share) -> u64 {
        let weight = u128::from(share.weight.max(1));
        let opening = match self.openings[share.tier as usize] {
            Opening::All(bps) => bps,
            Opening::Level {
                left,
                weight: total,
            } => (left * weight / total.max(1)).min(u128::from(u64::MAX)) as u64,
        };
        self.rates[i]
            .saturating_add(self.spare)
            .max(share.guaranteed.saturating_add(opening))
            .min(share.ceiling)
    }
}

/// Divides `capacity` (bits/s: the uplink's capacity minus headroom, one direction) among
/// agencies by what they [`want`]: each gets `min(guaranteed, want)`, then its tier's
/// weighted max-min fair part of what is left up to its want; tiers are served strictly in
/// order. What nobody wants is the spare. If the guarantees (up to want) add up to more
/// than `capacity`, they are scaled down proportionally. O(n log n).
///
/// # Panics
/// If `shares` and `demand` differ in length.
pub fn divide(capacity: u64, shares: &[Share], demand: &[u64]) -> Division {
    assert_eq!(
        shares.len(),
        demand.len(),
        "one demand per agency: {} shares, {} demands",
        shares.len(),
        demand.len()
    );
    let wants = wants(shares, demand);
    let mut rates = guarantees(capacity, shares, &wants);
    let given: u128 = rates.iter().map(|&r| u128::from(r)).sum();
    let left = capacity - given as u64;
    let (spare, openings) = share_out(left, shares, &mut rates, |i| wants[i]);
    Division {
        rates,
        spare,
        openings,
    }
}

/// Divides `capacity` among agencies as [`divide`] does, then hands out the spare again the
/// same way, each agency up to its ceiling, so the rates add up to exactly
/// `min(capacity, Σ ceiling)`. For the static division the data plane falls back to.
///
/// # Panics
/// If `shares` and `demand` differ in length.
pub fn allocate(capacity: u64, shares: &[Share], demand: &[u64]) -> Vec<u64> {
    let Division {
        mut rates, spare, ..
    } = divide(capacity, shares, demand);
    share_out(spare, shares, &mut rates, |i| shares[i].ceiling);
    rates
}

/// Phase 1: each agency's guarantee up to its want, scaled down if they exceed `capacity`.
fn guarantees(capacity: u64, shares: &[Share], wants: &[u64]) -> Vec<u64> {
    let mut rates: Vec<u64> = shares
        .iter()
        .zip(wants)
        .map(|(s, &w)| s.guaranteed.min(w))
        .collect();
    let reserved: u128 = rates.iter().map(|&r| u128::from(r)).sum();
    if reserved > u128::from(capacity) {
        // Rounding down keeps the sum within the capacity.
        for r in &mut rates {
            *r = (u128::from(*r) * u128::from(capacity) / reserved) as u64;
        }
    }
    rates
}

/// Hands `left` out tier by tier, each agency up to `up_to(i)`, by weighted max-min within a
/// tier. Returns what is left, and what each tier leaves an agency of its own that becomes
/// busy.
fn share_out(
    mut left: u64,
    shares: &[Share],
    rates: &mut [u64],
    up_to: impl Fn(usize) -> u64,
) -> (u64, [Opening; 3]) {
    let mut claims = Vec::with_capacity(shares.len());
    // Per tier: contended at a level, or met with what it took.
    let mut fills = [(None, 0u64); 3];
    for (t, tier) in Tier::ALL.into_iter().enumerate() {
        if left == 0 {
            fills[t].0 = Some((0, 1));
            continue;
        }
        claims.clear();
        claims.extend(
            shares
                .iter()
                .enumerate()
                .filter(|(_, s)| s.tier == tier)
                .map(|(i, s)| Claim {
                    agency: i,
                    room: up_to(i).saturating_sub(rates[i]),
                    weight: u64::from(s.weight.max(1)),
                })
                .filter(|c| c.room > 0),
        );
        let before = left;
        let (rest, level) = water_fill(left, &mut claims, rates);
        left = rest;
        fills[t] = (level, before - left);
    }
    // A met tier's newcomer would take what every later tier borrows, and the spare.
    let mut later = left;
    let mut openings = [Opening::All(0); 3];
    for t in (0..3).rev() {
        openings[t] = match fills[t].0 {
            Some((left, weight)) => Opening::Level { left, weight },
            None => Opening::All(later),
        };
        later = later.saturating_add(fills[t].1);
    }
    (left, openings)
}

/// Demand smoothing, once per tick per agency and direction: `previous` is the last smoothed
/// demand and `measured` what the agency offered during the last tick
/// ((passed + dropped bytes) × 8 / tick seconds), both in bits/s. Returns the new demand in bits/s.
///
/// Rises at once: an agency held at its allocation shows its true offered load in its dropped
/// bytes and must get room for it the next tick. Falls by half the difference per tick (see
/// [`defaults::DEMAND_FALL_DIVISOR`]): an idle agency gives capacity back within a few ticks,
/// and a brief lull does not make a busy one lose its place. Reaches `measured` exactly when
/// the load stays constant.
pub fn smooth_demand(previous: u64, measured: u64) -> u64 {
    if measured >= previous {
        measured
    } else {
        previous - (previous - measured).div_ceil(defaults::DEMAND_FALL_DIVISOR)
    }
}

/// An agency asking for up to `room` more bits/s, with its weight (>= 1).
#[derive(Clone, Copy, Debug)]
struct Claim {
    agency: usize,
    room: u64,
    weight: u64,
}

/// Raises each claimant's rate by its weighted max-min fair part of `budget` (bits/s), at most
/// by its room. Returns what is left of `budget` (0 unless every claim was met in full) and,
/// if not every claim was met, the level: what the claimants not met share, and their total
/// weight.
///
/// Water-filling: a level rises, each agency gets `min(room, level × weight)`. Sorting by
/// room per weight finds the agencies met in full below the final level; the rest share what
/// is left in proportion to their weights, rounded down, and the few bits lost to rounding
/// (fewer than the number of agencies) go one each to the first of them.
fn water_fill(budget: u64, claims: &mut [Claim], rates: &mut [u64]) -> (u64, Option<(u128, u128)>) {
    let total: u128 = claims.iter().map(|c| u128::from(c.room)).sum();
    if total <= u128::from(budget) {
        for c in claims.iter() {
            rates[c.agency] += c.room;
        }
        return (budget - total as u64, None);
    }
    // room_a / weight_a vs room_b / weight_b, exactly (products stay below 2^96).
    claims.sort_unstable_by(|a, b| {
        (u128::from(a.room) * u128::from(b.weight))
            .cmp(&(u128::from(b.room) * u128::from(a.weight)))
            .then(a.agency.cmp(&b.agency))
    });
    let mut left = u128::from(budget);
    let mut weight: u128 = claims.iter().map(|c| u128::from(c.weight)).sum();
    let mut met = 0;
    // Met in full when room / weight <= left / (weight of those not yet met); then room <= left.
    while let Some(c) = claims.get(met)
        && u128::from(c.room) * weight <= left * u128::from(c.weight)
    {
        rates[c.agency] += c.room;
        left -= u128::from(c.room);
        weight -= u128::from(c.weight);
        met += 1;
    }
    // Not all are met (total > budget). Each of the rest has room > left × weight_i / weight,
    // so its rounded-down part plus one bit still fits in its room.
    let rest = &claims[met..];
    let mut shared = 0;
    for c in rest {
        let part = left * u128::from(c.weight) / weight;
        rates[c.agency] += part as u64;
        shared += part;
    }
    let odd = (left - shared) as usize;
    for c in &rest[..odd] {
        rates[c.agency] += 1;
    }
    (0, Some((left, weight)))
}

#[cfg(test)]
mod tests;
