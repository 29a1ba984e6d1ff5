//! Properties of the division, over thousands of random uplinks and over ticks of a
//! closed loop.

use std::{hint::black_box, time::Instant};

use gateway_common::Counters;

use super::*;
use crate::demand::Flow;

const KBPS: u64 = 1_000;
const MBPS: u64 = 1_000_000;
const GBPS: u64 = 1_000_000_000;

/// A share held back by its rate (the larger room to grow).
fn share(tier: Tier, guaranteed: u64, ceiling: u64, weight: u32) -> Share {
    Share {
        guaranteed,
        ceiling,
        weight,
        tier,
        growing: true,
    }
}

/// xorshift64*: the same sequence for a given seed on every machine.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Self {
        let mut rng = Rng(seed.wrapping_add(1).wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
        rng.next();
        rng
    }

    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// In `lo..=hi`.
    fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + (u128::from(self.next()) % (u128::from(hi - lo) + 1)) as u64
    }

    fn chance(&mut self, percent: u64) -> bool {
        self.range(0, 99) < percent
    }

    fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.range(0, items.len() as u64 - 1) as usize]
    }
}

/// One direction of an uplink at one tick: what [`allocate`] is called with.
#[derive(Debug, Clone)]
struct Uplink {
    capacity: u64,
    shares: Vec<Share>,
    demand: Vec<u64>,
    /// The rates of the last tick, which police what the agencies offer.
    last: Vec<u64>,
    /// Each agency's counters and measurements, as the control loop keeps them.
    counters: Vec<Counters>,
    flows: Vec<Flow>,
}

const SECOND: u64 = 1_000_000_000;

impl Uplink {
    fn idle(capacity: u64, shares: Vec<Share>) -> Self {
        let demand = vec![0; shares.len()];
        Uplink {
            capacity,
            shares,
            demand,
            last: Vec::new(),
            counters: Vec::new(),
            flows: Vec::new(),
        }
    }

    fn allocate(&self) -> Vec<u64> {
        allocate(self.capacity, &self.shares, &self.demand)
    }

    /// One tick of the control loop: `offered[i]` is what agency i offered during the last
    /// tick, in bits. Its last rate lets through what fits and drops the rest, as the data
    /// plane would; the counters are measured as the control loop measures them. Checks
    /// every property of the new allocation.
    fn tick(&mut self, offered: &[u64]) -> Vec<u64> {
        let n = self.shares.len();
        self.last.resize(n, 0);
        self.counters.resize(n, Counters::default());
        self.flows.resize(n, Flow::default());
        for (i, &bits) in offered.iter().enumerate() {
            let passed = bits.min(self.last[i]);
            let c = &mut self.counters[i];
            c.passed_bytes = c.passed_bytes.wrapping_add(passed / 8);
            c.dropped_bytes = c.dropped_bytes.wrapping_add((bits - passed) / 8);
            self.flows[i].observe(c, SECOND);
            self.demand[i] = self.flows[i].demand;
            self.shares[i].growing = self.flows[i].held_back();
        }
        let rates = self.allocate();
        if let Err(e) = check(self, &rates) {
            panic!("{e}\ndemand {:?}\nrates {rates:?}", self.demand);
        }
        self.last = rates.clone();
        rates
    }
}

/// Agencies, capacity and demands drawn from `seed`, with values at the boundaries
/// (0, guarantee, ceiling, u64::MAX) as often as in between. With `guarantees_fit` the
/// guarantees add up to at most the capacity, as policy validation ensures.
fn random_uplink(seed: u64, agencies: (u64, u64), guarantees_fit: bool) -> Uplink {
    let mut rng = Rng::new(seed);
    let n = rng.range(agencies.0, agencies.1) as usize;
    let capacity = match rng.range(0, 9) {
        0 => rng.range(0, 10 * KBPS),
        1 | 2 => rng.range(MBPS, 10 * GBPS),
        3 | 4 => GBPS,
        5 => rng.range(10 * GBPS, 100_000 * GBPS),
        6 => 100_000 * GBPS,
        7 => u64::MAX,
        _ => rng.range(0, 100 * MBPS),
    };
    // Guarantees: a random part of the capacity, split at random (some agencies get none).
    let reserved = u128::from(capacity) * u128::from(rng.range(0, 100)) / 100;
    let parts: Vec<u64> = (0..n)
        .map(|_| {
            if rng.chance(25) {
                0
            } else {
                rng.range(1, 1000)
            }
        })
        .collect();
    let all_parts = parts.iter().map(|&p| u128::from(p)).sum::<u128>().max(1);
    // On a quiet uplink demands stay near the guarantees, so there is often spare.
    let quiet = rng.chance(30);
    let mut shares = Vec::with_capacity(n);
    let mut demand = Vec::with_capacity(n);
    for part in parts {
        let guaranteed = if guarantees_fit {
            (reserved * u128::from(part) / all_parts) as u64
        } else {
            rng.range(0, capacity)
        };
        let ceiling = match rng.range(0, 5) {
            0 => guaranteed.max(1),
            1 => guaranteed.saturating_add(rng.range(1, 1000)),
            2 => capacity.max(guaranteed).max(1),
            3 => u64::MAX,
            _ => guaranteed.max(1).saturating_add(rng.range(0, capacity)),
        };
        let weight = if rng.chance(70) {
            rng.range(1, 10) as u32
        } else {
            rng.pick(&[0, 1, 100, 65_535, u32::MAX])
        };
        let mut sh = share(rng.pick(&Tier::ALL), guaranteed, ceiling, weight);
        sh.growing = rng.chance(50);
        shares.push(sh);
        demand.push(match rng.range(0, if quiet { 5 } else { 12 }) {
            0 | 1 => 0,
            2 => rng.range(1, 300 * KBPS),
            3 => guaranteed,
            4 => guaranteed.saturating_sub(1),
            5 => guaranteed.saturating_add(1),
            6 => ceiling,
            7 => ceiling.saturating_sub(1),
            8 => ceiling.saturating_add(1),
            9 => u64::MAX,
            // Wants about its ceiling (demand + a quarter).
            10 => ceiling / 5 * 4,
            _ => rng.range(0, ceiling.saturating_mul(2)),
        });
    }
    Uplink {
        capacity,
        shares,
        demand,
        last: Vec::new(),
        counters: Vec::new(),
        flows: Vec::new(),
    }
}

/// `a.0 / a.1 <= b.0 / b.1` for positive denominators, exactly.
fn at_most(a: (i128, u64), b: (i128, u64)) -> bool {
    a.0 * i128::from(b.1) <= b.0 * i128::from(a.1)
}

/// Checks every property the control loop relies on; says which one failed and where.
fn check(u: &Uplink, rates: &[u64]) -> Result<(), String> {
    let n = u.shares.len();
    if rates.len() != n {
        return Err(format!("{} rates for {n} agencies", rates.len()));
    }
    let capacity = u128::from(u.capacity);
    let wants = wants(&u.shares, &u.demand);
    let mut bases: Vec<u64> = u
        .shares
        .iter()
        .zip(&wants)
        .map(|(s, &w)| s.guaranteed.min(w))
        .collect();
    let reserved: u128 = bases.iter().map(|&b| u128::from(b)).sum();
    if reserved > capacity {
        // Guarantees beyond the capacity are scaled down proportionally.
        for b in &mut bases {
            *b = (u128::from(*b) * capacity / reserved) as u64;
        }
    }
    let weight = |i: usize| u64::from(u.shares[i].weight.max(1));

    // Safety, ceiling, work conservation.
    let total: u128 = rates.iter().map(|&r| u128::from(r)).sum();
    if total > capacity {
        return Err(format!("safety: {total} bits/s given out of {capacity}"));
    }
    for (i, (&r, s)) in rates.iter().zip(&u.shares).enumerate() {
        if r > s.ceiling {
            return Err(format!(
                "ceiling: agency {i} gets {r} > ceiling {}",
                s.ceiling
            ));
        }
    }
    let ceilings: u128 = u.shares.iter().map(|s| u128::from(s.ceiling)).sum();
    if total * 100 < (capacity * 98).min(ceilings * 100) {
        return Err(format!(
            "work conservation: {total} given, capacity {capacity}, ceilings {ceilings}"
        ));
    }
    // In fact every bit that can be given is.
    let divisible = capacity.min(ceilings);
    if total != divisible {
        return Err(format!(
            "uplink not fully divided: {total} of {divisible} given"
        ));
    }

    // Guarantees (scaled down if they do not fit).
    for (i, (&r, &b)) in rates.iter().zip(&bases).enumerate() {
        if r < b {
            return Err(format!("guarantee: agency {i} gets {r} < {b}"));
        }
    }

    // Spare (beyond want) only once every agency has its want.
    let short = |i: usize| rates[i] < wants[i];
    let all_have_want = !(0..n).any(short);
    if !all_have_want && let Some(i) = (0..n).find(|&i| rates[i] > wants[i]) {
        return Err(format!(
            "spare: agency {i} above its want while others are short"
        ));
    }

    // Per tier, up to want (gain over the base), then spare (gain over the want, once every
    // agency has its want): weighted max-min fairness, and lower tiers gain nothing while
    // an agency of the tier is below its limit.
    let ceiling_each: Vec<u64> = u.shares.iter().map(|s| s.ceiling).collect();
    let phases = [
        ("want", &bases, &wants, true),
        ("spare", &wants, &ceiling_each, all_have_want),
    ];
    for (phase, floors, limits, applies) in phases {
        if !applies {
            continue;
        }
        let gain = |i: usize| i128::from(rates[i]) - i128::from(floors[i]);
        for tier in Tier::ALL {
            let members: Vec<usize> = (0..n).filter(|&i| u.shares[i].tier == tier).collect();
            // The agency below its limit with the least (gain + 1) / weight ...
            let Some(i) = members
                .iter()
                .copied()
                .filter(|&i| rates[i] < limits[i])
                .min_by(|&a, &b| {
                    let ka = (gain(a) + 1) * i128::from(weight(b));
                    ka.cmp(&((gain(b) + 1) * i128::from(weight(a))))
                })
            else {
                continue;
            };
            // ... and every agency j of the tier: (gain_j - 1) / w_j <= (gain_i + 1) / w_i,
            // one bit/s of rounding either side.
            let lowest = (gain(i) + 1, weight(i));
            if let Some(j) = members
                .iter()
                .copied()
                .find(|&j| !at_most((gain(j) - 1, weight(j)), lowest))
            {
                return Err(format!(
                    "{phase} fairness in {tier:?}: agency {j} gains {} at weight {}, \
                     agency {i} (below its limit) gains {} at weight {}",
                    gain(j),
                    weight(j),
                    gain(i),
                    weight(i)
                ));
            }
            if let Some(j) = (0..n).find(|&j| u.shares[j].tier > tier && gain(j) != 0) {
                return Err(format!(
                    "{phase} tier order: agency {i} in {tier:?} below its limit, \
                     agency {j} in {:?} gains {}",
                    u.shares[j].tier,
                    gain(j)
                ));
            }
        }
    }
    Ok(())
}

/// Allocates for the uplink drawn from `seed` twice and checks every property.
fn check_seed(seed: u64, agencies: (u64, u64), guarantees_fit: bool) -> (Uplink, Vec<u64>) {
    let u = random_uplink(seed, agencies, guarantees_fit);
    let rates = u.allocate();
    let again = u.allocate();
    let result = check(&u, &rates)
        .and_then(|()| {
            (rates == again)
                .then_some(())
                .ok_or("not deterministic".to_string())
        })
        .and_then(|()| check_division(&u, &rates));
    if let Err(e) = result {
        let detail = if u.shares.len() <= 60 {
            format!("\n{u:?}\nrates {rates:?}")
        } else {
            String::new()
        };
        panic!("{e}\nreproduce: random_uplink({seed}, {agencies:?}, {guarantees_fit}){detail}");
    }
    (u, rates)
}

/// What [`divide`] promises: each agency at most its want, the rates and the spare adding up
/// to exactly the capacity, a spare only once every want is met, and [`allocate`] handing
/// out only that spare on top.
fn check_division(u: &Uplink, allocated: &[u64]) -> Result<(), String> {
    let d = divide(u.capacity, &u.shares, &u.demand);
    let wants = wants(&u.shares, &u.demand);
    let total: u128 = d.rates.iter().map(|&r| u128::from(r)).sum::<u128>() + u128::from(d.spare);
    if total != u128::from(u.capacity) {
        return Err(format!(
            "divide: rates and spare add up to {total}, not {}",
            u.capacity
        ));
    }
    for (i, (&r, &w)) in d.rates.iter().zip(&wants).enumerate() {
        if r > w {
            return Err(format!("divide: agency {i} got {r} above its want {w}"));
        }
        if d.spare > 0 && r < w {
            return Err(format!(
                "divide: a spare of {} while agency {i} wants {w} and got {r}",
                d.spare
            ));
        }
        if allocated[i] < r {
            return Err(format!(
                "allocate gave agency {i} {} below divide's {r}",
                allocated[i]
            ));
        }
    }
    Ok(())
}

#[test]
fn random_uplinks_keep_every_property() {
    let (mut contended, mut spare) = (0, 0);
    for seed in 0..6000 {
        let (u, rates) = check_seed(seed, (1, 60), true);
        let wants = wants(&u.shares, &u.demand);
        if rates.iter().zip(&wants).any(|(r, w)| r < w) {
            contended += 1;
        } else if rates.iter().zip(&u.shares).any(|(&r, s)| r < s.ceiling) {
            spare += 1;
        }
    }
    // Both ways of dividing are well exercised.
    eprintln!("{contended} uplinks short of the agencies' wants, {spare} dividing spare");
    assert!(contended > 1000 && spare > 1000);
}

#[test]
fn random_uplinks_with_4094_agencies_keep_every_property() {
    for seed in 0..40 {
        check_seed(1_000_000 + seed, (4094, 4094), true);
    }
}

#[test]
fn guarantees_beyond_the_capacity_are_scaled_down_safely() {
    for seed in 0..2000 {
        check_seed(2_000_000 + seed, (1, 60), false);
    }
    for seed in 0..10 {
        check_seed(3_000_000 + seed, (4094, 4094), false);
    }
    // Two agencies guaranteed 600 Mbps each on 1 Gbps: 500 Mbps each.
    let shares = [share(Tier::Standard, 600 * MBPS, GBPS, 1); 2];
    assert_eq!(allocate(GBPS, &shares, &[GBPS; 2]), [500 * MBPS; 2]);
}

#[test]
fn random_demands_smooth_within_bounds() {
    let mut rng = Rng::new(7);
    for _ in 0..100_000 {
        let some = [rng.next(), rng.range(0, 10 * GBPS)];
        let previous = rng.pick(&[0, 1, u64::MAX, some[0], some[1]]);
        let some = [rng.next(), rng.range(0, 10 * GBPS)];
        let measured = rng.pick(&[0, 1, u64::MAX, previous, some[0], some[1]]);
        let d = smooth_demand(previous, measured);
        assert!(
            d >= measured && d <= previous.max(measured),
            "{previous} {measured} -> {d}"
        );
        if measured < previous {
            assert!(d < previous, "{previous} {measured} -> {d}: does not fall");
        }
    }
}

// ---- Want and demand ----

#[test]
fn an_idle_agency_keeps_a_small_allocation() {
    let mut agency = share(Tier::Standard, 50 * MBPS, 200 * MBPS, 10);
    agency.growing = false;
    assert_eq!(want(&agency, 0), 256 * KBPS);
    agency.growing = true;
    assert_eq!(
        want(&agency, 0),
        50 * MBPS,
        "waking up: its whole guarantee"
    );
    assert_eq!(
        want(&share(Tier::Public, 0, 100 * KBPS, 1), 0),
        100 * KBPS,
        "up to its ceiling"
    );
}

#[test]
fn a_busy_agency_gets_room_to_grow_up_to_its_ceiling() {
    let agency = share(Tier::Standard, 50 * MBPS, 200 * MBPS, 10);
    assert_eq!(want(&agency, 40 * MBPS), 50 * MBPS);
    assert_eq!(want(&agency, 100 * MBPS), 125 * MBPS);
    assert_eq!(want(&agency, 190 * MBPS), 200 * MBPS);
    assert_eq!(want(&agency, u64::MAX), 200 * MBPS);
    assert_eq!(
        want(&share(Tier::Critical, 0, u64::MAX, 1), u64::MAX),
        u64::MAX
    );
}

#[test]
fn a_steady_agency_gets_little_room() {
    let mut agency = share(Tier::Standard, 20 * MBPS, 200 * MBPS, 1);
    agency.growing = false;
    assert_eq!(want(&agency, 100 * MBPS), 101 * MBPS);
    assert_eq!(
        want(&agency, 0),
        256 * KBPS,
        "an idle agency lends its guarantee"
    );
    assert_eq!(want(&agency, 10 * MBPS), 10_256 * KBPS, "at least 256 kbps");
}

#[test]
fn demand_rises_at_once_and_falls_by_half_each_tick() {
    assert_eq!(smooth_demand(0, 800 * MBPS), 800 * MBPS);
    let mut demand = 100 * MBPS;
    let mut history = vec![];
    for _ in 0..3 {
        demand = smooth_demand(demand, 0);
        history.push(demand);
    }
    assert_eq!(
        history,
        [50 * MBPS, 25 * MBPS, 12_500_000],
        "7/8 given back in 3 ticks"
    );
    // A one-tick lull costs a busy agency half its demand, and it is back the next tick.
    assert_eq!(smooth_demand(100 * MBPS, 0), 50 * MBPS);
    assert_eq!(smooth_demand(50 * MBPS, 100 * MBPS), 100 * MBPS);
    // Falls to the measured load exactly.
    let mut demand = u64::MAX;
    let ticks = (1..=64).find(|_| {
        demand = smooth_demand(demand, 3);
        demand == 3
    });
    assert_eq!(ticks, Some(64));
}

// ---- Edge cases ----

#[test]
fn no_agencies_no_rates() {
    assert_eq!(allocate(GBPS, &[], &[]), Vec::<u64>::new());
    assert_eq!(allocate(0, &[], &[]), Vec::<u64>::new());
}

#[test]
fn no_capacity_nothing_given() {
    let shares = [
        share(Tier::Critical, 0, GBPS, 1),
        share(Tier::Standard, 0, GBPS, 1),
    ];
    assert_eq!(allocate(0, &shares, &[0, GBPS]), [0, 0]);
    // Guarantees beyond a zero capacity are scaled to zero.
    let shares = [share(Tier::Critical, 10 * MBPS, GBPS, 1)];
    assert_eq!(allocate(0, &shares, &[GBPS]), [0]);
}

#[test]
fn one_agency_gets_the_uplink_up_to_its_ceiling() {
    for demand in [0, MBPS, GBPS, u64::MAX] {
        let agency = [share(Tier::Public, 0, 300 * MBPS, 1)];
        assert_eq!(allocate(GBPS, &agency, &[demand]), [300 * MBPS]);
        let agency = [share(Tier::Public, 0, 2 * GBPS, 1)];
        assert_eq!(allocate(GBPS, &agency, &[demand]), [GBPS]);
    }
}

#[test]
fn idle_agencies_share_the_idle_uplink_by_tier_up_to_their_ceilings() {
    let u = Uplink::idle(
        100 * MBPS,
        vec![
            share(Tier::Critical, 0, 30 * MBPS, 1),
            share(Tier::Standard, 0, 50 * MBPS, 1),
            share(Tier::Standard, 0, 50 * MBPS, 1),
            share(Tier::Public, 0, 100 * MBPS, 1),
        ],
    );
    let rates = u.allocate();
    check(&u, &rates).unwrap();
    // Critical to its ceiling; the rest split evenly in Standard; Public keeps its want.
    let rest = (100 * MBPS - 30 * MBPS - 256 * KBPS) / 2;
    assert_eq!(rates, [30 * MBPS, rest, rest, 256 * KBPS]);
}

#[test]
fn agencies_all_at_their_ceilings() {
    let shares: Vec<Share> = (1..=10)
        .map(|i| share(Tier::Standard, i * MBPS, 10 * i * MBPS, i as u32))
        .collect();
    let demand: Vec<u64> = shares.iter().map(|s| s.ceiling).collect();
    // Σ ceiling = 550 Mbps: on 1 Gbps everyone is at its ceiling.
    let u = Uplink {
        capacity: GBPS,
        shares: shares.clone(),
        demand: demand.clone(),
        last: Vec::new(),
        counters: Vec::new(),
        flows: Vec::new(),
    };
    assert_eq!(u.allocate(), demand);
    // On 275 Mbps, weights proportional to ceilings: everyone at half its ceiling.
    let u = Uplink {
        capacity: 275 * MBPS,
        shares,
        demand: demand.clone(),
        last: Vec::new(),
        counters: Vec::new(),
        flows: Vec::new(),
    };
    let rates = u.allocate();
    check(&u, &rates).unwrap();
    assert_eq!(rates, demand.iter().map(|c| c / 2).collect::<Vec<_>>());
}

#[test]
fn ceilings_below_the_capacity_leave_the_rest_unused() {
    let shares = [
        share(Tier::Critical, 10 * MBPS, 100 * MBPS, 1),
        share(Tier::Standard, 0, 50 * MBPS, 1),
        share(Tier::Public, 0, 20 * MBPS, 1),
    ];
    for demand in [[0, 0, 0], [GBPS, GBPS, GBPS], [MBPS, 0, u64::MAX]] {
        assert_eq!(
            allocate(GBPS, &shares, &demand),
            [100 * MBPS, 50 * MBPS, 20 * MBPS]
        );
    }
}

#[test]
fn huge_rates_do_not_overflow() {
    // 100 Tbps among 4094 agencies guaranteed 10 Gbps each, all wanting everything.
    let shares: Vec<Share> = (0..4094u64)
        .map(|i| {
            share(
                Tier::ALL[i as usize % 3],
                10 * GBPS,
                u64::MAX,
                u32::MAX - i as u32,
            )
        })
        .collect();
    let u = Uplink {
        capacity: 100_000 * GBPS,
        shares,
        demand: vec![u64::MAX; 4094],
        last: Vec::new(),
        counters: Vec::new(),
        flows: Vec::new(),
    };
    check(&u, &u.allocate()).unwrap();
    // Everything at u64::MAX.
    let u = Uplink {
        capacity: u64::MAX,
        shares: vec![share(Tier::Standard, u64::MAX / 4, u64::MAX, u32::MAX); 5],
        demand: vec![u64::MAX; 5],
        last: Vec::new(),
        counters: Vec::new(),
        flows: Vec::new(),
    };
    let rates = u.allocate();
    check(&u, &rates).unwrap();
    assert!(rates.iter().all(|&r| r >= u64::MAX / 5), "{rates:?}");
}

#[test]
fn invalid_shares_stay_safe() {
    // Guarantee above the ceiling, ceiling 0, weight 0.
    let shares = [
        share(Tier::Critical, 50 * MBPS, 10 * MBPS, 0),
        share(Tier::Standard, 0, 0, 0),
        share(Tier::Standard, 0, GBPS, 0),
    ];
    let rates = allocate(100 * MBPS, &shares, &[GBPS; 3]);
    assert_eq!(rates, [10 * MBPS, 0, 90 * MBPS]);
}

#[test]
#[should_panic(expected = "one demand per agency")]
fn a_missing_demand_is_a_bug() {
    allocate(GBPS, &[share(Tier::Standard, 0, GBPS, 1)], &[]);
}

// ---- How capacity is divided ----

#[test]
fn guarantees_first_then_tiers_in_order_then_weights() {
    let shares = [
        share(Tier::Critical, 10 * MBPS, 100 * MBPS, 1),
        share(Tier::Standard, 20 * MBPS, 100 * MBPS, 3),
        share(Tier::Standard, 10 * MBPS, 100 * MBPS, 1),
        share(Tier::Public, 0, 100 * MBPS, 1),
    ];
    let demand = [30 * MBPS, 80 * MBPS, 80 * MBPS, 50 * MBPS];
    // Guarantees take 40 Mbps; the critical agency then its want (37.5 Mbps); the 32.5 Mbps
    // left split 3:1 in Standard; Public has no guarantee and gets nothing.
    assert_eq!(
        allocate(100 * MBPS, &shares, &demand),
        [37_500_000, 44_375_000, 18_125_000, 0]
    );
}

#[test]
fn public_wifi_keeps_only_its_guarantee_while_others_want_more() {
    let shares = [
        share(Tier::Critical, 10 * MBPS, 100 * MBPS, 1),
        share(Tier::Public, 5 * MBPS, 100 * MBPS, 100),
    ];
    assert_eq!(
        allocate(50 * MBPS, &shares, &[GBPS, GBPS]),
        [45 * MBPS, 5 * MBPS]
    );
}

#[test]
fn spare_goes_to_ceilings_by_tier_then_by_weight() {
    let u = Uplink {
        capacity: 100 * MBPS,
        shares: vec![
            share(Tier::Critical, 0, 30 * MBPS, 1),
            share(Tier::Standard, 0, 50 * MBPS, 1),
            share(Tier::Standard, 0, 50 * MBPS, 1),
            share(Tier::Public, 0, 100 * MBPS, 1),
        ],
        demand: vec![0, 0, 10 * MBPS, 0],
        last: Vec::new(),
        counters: Vec::new(),
        flows: Vec::new(),
    };
    // Wants: 256 kbps, 256 kbps, 12.5 Mbps, 256 kbps. Spare 86.732 Mbps: critical to its
    // ceiling, the 56.988 Mbps left split evenly in Standard.
    let rates = u.allocate();
    check(&u, &rates).unwrap();
    assert_eq!(rates, [30 * MBPS, 28_750_000, 40_994_000, 256 * KBPS]);
}

#[test]
fn rounding_leftovers_are_given_out_but_never_more() {
    // 10 bits/s over 3 equal agencies wanting more than that.
    let shares = [share(Tier::Standard, 0, 100, 1); 3];
    let rates = allocate(10, &shares, &[MBPS; 3]);
    assert_eq!(rates.iter().sum::<u64>(), 10);
    assert!(rates.iter().all(|&r| r == 3 || r == 4), "{rates:?}");
}

// ---- The regency: closed-loop scenarios ----

const CAPACITY: u64 = GBPS;

/// 45 agencies of a regency: (name, tier, guaranteed Mbps, ceiling Mbps, weight).
const REGENCY: [(&str, Tier, u64, u64, u32); 45] = [
    ("RSUD (hospital)", Tier::Critical, 50, 400, 8),
    ("BPBD (disaster)", Tier::Critical, 20, 200, 8),
    ("Setda", Tier::Standard, 30, 200, 6),
    ("DPRD", Tier::Standard, 20, 100, 4),
    ("Bappeda", Tier::Standard, 15, 100, 3),
    ("BPKAD", Tier::Standard, 25, 150, 5),
    ("Bapenda", Tier::Standard, 20, 100, 4),
    ("Disdukcapil", Tier::Standard, 50, 200, 10),
    ("Dinkes", Tier::Standard, 40, 200, 8),
    ("Disdik", Tier::Standard, 40, 200, 8),
    ("Diskominfo", Tier::Standard, 50, 300, 10),
    ("DPMPTSP", Tier::Standard, 25, 150, 5),
    ("Dinas PUPR", Tier::Standard, 15, 100, 3),
    ("Dinsos", Tier::Standard, 10, 100, 2),
    ("BKPSDM", Tier::Standard, 15, 100, 3),
    ("Inspektorat", Tier::Standard, 5, 50, 1),
    ("Satpol PP", Tier::Standard, 5, 50, 1),
    ("Dishub", Tier::Standard, 5, 50, 1),
    ("DLH", Tier::Standard, 5, 50, 1),
    ("Distan", Tier::Standard, 5, 50, 1),
    ("Diskan", Tier::Standard, 3, 30, 1),
    ("Disperindag", Tier::Standard, 5, 50, 1),
    ("Diskop UKM", Tier::Standard, 3, 30, 1),
    ("Dispar", Tier::Standard, 3, 30, 1),
    ("Dispora", Tier::Standard, 2, 20, 1),
    ("Dispusip", Tier::Standard, 5, 50, 1),
    ("Disnaker", Tier::Standard, 5, 50, 1),
    ("DP3A", Tier::Standard, 3, 30, 1),
    ("DPMD", Tier::Standard, 10, 100, 2),
    ("Kesbangpol", Tier::Standard, 2, 20, 1),
    ("Disperkim", Tier::Standard, 5, 50, 1),
    ("Kec. Kota", Tier::Standard, 5, 30, 1),
    ("Kec. Timur", Tier::Standard, 4, 30, 1),
    ("Kec. Barat", Tier::Standard, 4, 30, 1),
    ("Kec. Utara", Tier::Standard, 3, 30, 1),
    ("Kec. Selatan", Tier::Standard, 3, 30, 1),
    ("Kec. Pesisir", Tier::Standard, 2, 30, 1),
    ("Kec. Gunung", Tier::Standard, 2, 30, 1),
    ("Kec. Lembah", Tier::Standard, 3, 30, 1),
    ("Kec. Sawah", Tier::Standard, 4, 30, 1),
    ("Kec. Danau", Tier::Standard, 3, 30, 1),
    ("Kec. Hulu", Tier::Standard, 5, 30, 1),
    ("Kec. Hilir", Tier::Standard, 4, 30, 1),
    ("WiFi taman kota", Tier::Public, 0, 600, 1),
    ("WiFi balai desa", Tier::Public, 5, 600, 1),
];
const RSUD: usize = 0;
const BPBD: usize = 1;
const DISDUKCAPIL: usize = 7;

fn regency() -> Uplink {
    let shares: Vec<Share> = REGENCY
        .iter()
        .map(|&(_, tier, g, c, w)| share(tier, g * MBPS, c * MBPS, w))
        .collect();
    let reserved: u64 = shares.iter().map(|s| s.guaranteed).sum();
    assert!(
        reserved <= CAPACITY,
        "the policy validator refuses {reserved} bits/s of guarantees"
    );
    Uplink::idle(CAPACITY, shares)
}

fn indices(tier: Tier) -> impl Iterator<Item = usize> {
    (0..REGENCY.len()).filter(move |&i| REGENCY[i].1 == tier)
}

fn mbps(rate: u64) -> f64 {
    rate as f64 / MBPS as f64
}

/// Every agency busy (offering 3 × its guarantee + 20 Mbps, public WiFi 500 Mbps) except
/// Disdukcapil, idle until a flood wakes it between ticks 4 and 5. Tick k allocates from
/// the load measured over the interval since tick k - 1.
#[test]
fn an_agency_that_wakes_up_gets_its_guarantee_within_two_ticks() {
    let mut uplink = regency();
    let mut offered: Vec<u64> = REGENCY
        .iter()
        .map(|&(_, tier, g, _, _)| match tier {
            Tier::Public => 500 * MBPS,
            _ => (3 * g + 20) * MBPS,
        })
        .collect();
    offered[DISDUKCAPIL] = 0;
    let guaranteed = uplink.shares[DISDUKCAPIL].guaranteed;
    let mut woke_at = None;
    for tick in 0..10 {
        // The flood (800 Mbps of UDP, passed + dropped) starts halfway through the
        // interval measured at tick 5.
        offered[DISDUKCAPIL] = match tick {
            ..5 => 0,
            5 => 400 * MBPS,
            _ => 800 * MBPS,
        };
        let rates = uplink.tick(&offered);
        eprintln!(
            "tick {tick}: Disdukcapil {:6.1} Mbps",
            mbps(rates[DISDUKCAPIL])
        );
        if tick < 5 {
            assert_eq!(rates[DISDUKCAPIL], 256 * KBPS, "idle: the smallest room");
        } else if rates[DISDUKCAPIL] >= guaranteed {
            woke_at.get_or_insert(tick);
        }
        if tick >= 6 {
            assert!(rates[DISDUKCAPIL] >= guaranteed, "tick {tick}: {rates:?}");
        }
        assert!(rates.iter().sum::<u64>() == CAPACITY);
        // The others keep their guarantees throughout.
        for (i, s) in uplink
            .shares
            .iter()
            .enumerate()
            .filter(|&(i, _)| i != DISDUKCAPIL)
        {
            assert!(
                rates[i] >= s.guaranteed,
                "tick {tick}: {} below its guarantee",
                REGENCY[i].0
            );
        }
    }
    eprintln!(
        "Disdukcapil at its guarantee {} tick(s) after waking",
        woke_at.unwrap() - 4
    );
}

/// At night the offices are idle and public WiFi takes what is left; the offices wake
/// during tick 7 and by tick 8 each has its guarantee and public WiFi is back to its own.
#[test]
fn public_wifi_takes_the_night_and_gives_the_morning_back() {
    let mut uplink = regency();
    let night = |i: usize| match REGENCY[i] {
        (_, Tier::Public, ..) => 500 * MBPS,
        _ if i == RSUD => 30 * MBPS,
        _ if i == BPBD => 2 * MBPS,
        _ => 100 * KBPS,
    };
    let morning = |i: usize| match REGENCY[i] {
        (_, Tier::Public, ..) => 500 * MBPS,
        _ if i == RSUD => 120 * MBPS,
        _ if i == BPBD => 10 * MBPS,
        (_, _, g, ..) => (2 * g + 10) * MBPS,
    };
    let public: Vec<usize> = indices(Tier::Public).collect();
    let offices: Vec<usize> = indices(Tier::Standard).collect();
    eprintln!(
        "tick          RSUD   BPBD  offices  (lowest office/guarantee)  WiFi taman  WiFi desa   total (Mbps)"
    );
    for tick in 0..12 {
        let offered: Vec<u64> = (0..REGENCY.len())
            .map(|i| match tick {
                ..7 => night(i),
                7 => (night(i) + morning(i)) / 2,
                _ => morning(i),
            })
            .collect();
        let rates = uplink.tick(&offered);
        let lowest = offices
            .iter()
            .map(|&i| rates[i] as f64 / uplink.shares[i].guaranteed as f64)
            .fold(f64::INFINITY, f64::min);
        let to_offices: u64 = offices.iter().map(|&i| rates[i]).sum();
        let to_public: u64 = public.iter().map(|&i| rates[i]).sum();
        eprintln!(
            "{tick:>2} {:7} {:6.1} {:6.1} {:8.1} {:>15.2} {:>22.1} {:>10.1} {:>7.1}",
            if tick < 7 { "night" } else { "morning" },
            mbps(rates[RSUD]),
            mbps(rates[BPBD]),
            mbps(to_offices),
            lowest,
            mbps(rates[public[0]]),
            mbps(rates[public[1]]),
            mbps(rates.iter().sum()),
        );
        if (1..7).contains(&tick) {
            assert!(
                to_public >= CAPACITY / 100 * 85,
                "night {tick}: public gets {to_public}"
            );
        }
        if tick >= 8 {
            assert!(lowest >= 1.0, "tick {tick}: an office below its guarantee");
            let public_guaranteed: u64 = public.iter().map(|&i| uplink.shares[i].guaranteed).sum();
            assert_eq!(
                to_public, public_guaranteed,
                "tick {tick}: public keeps only its guarantee"
            );
        }
    }
}

/// Offered load 3 × the capacity, spread at random over the agencies and changing every tick.
#[test]
fn an_oversubscribed_uplink_is_fully_divided_every_tick() {
    let mut uplink = regency();
    let mut rng = Rng::new(45);
    for tick in 0..30 {
        let parts: Vec<u64> = (0..REGENCY.len()).map(|_| rng.range(0, 100)).collect();
        let all: u64 = parts.iter().sum();
        let offered: Vec<u64> = parts.iter().map(|p| 3 * CAPACITY / all * p).collect();
        let total_offered: u64 = offered.iter().sum();
        assert!(total_offered > 3 * CAPACITY - GBPS / 1000);
        let rates = uplink.tick(&offered);
        let total: u64 = rates.iter().sum();
        assert!(
            (CAPACITY / 100 * 98..=CAPACITY).contains(&total),
            "tick {tick}: {total}"
        );
    }
}

/// Ticks until consecutive allocations differ by less than 0.5% for every agency from
/// then on, and whether they stopped changing at all over the last 10 ticks.
fn settling(history: &[Vec<u64>]) -> (usize, bool) {
    let moved = |a: &[u64], b: &[u64]| {
        a.iter()
            .zip(b)
            .any(|(&x, &y)| x.abs_diff(y) as f64 > 0.005 * x.max(y) as f64)
    };
    let settled = history
        .windows(2)
        .rposition(|w| moved(&w[0], &w[1]))
        .map_or(0, |last| last + 1);
    let still = history[history.len() - 10..]
        .windows(2)
        .all(|w| w[0] == w[1]);
    (settled, still)
}

/// Constant offered load after a busy period (demand still at the ceilings): idle,
/// light, heavy and flooding agencies, about 3 × the capacity in all.
#[test]
fn constant_demand_settles_without_oscillation() {
    let mut uplink = regency();
    uplink.demand = uplink.shares.iter().map(|s| s.ceiling).collect();
    let offered: Vec<u64> = REGENCY
        .iter()
        .enumerate()
        .map(|(i, &(_, _, g, c, _))| match i % 4 {
            0 => 0,
            1 => g * MBPS / 2,
            2 => 2 * g * MBPS,
            _ => 2 * c * MBPS,
        })
        .collect();
    eprintln!("offered {:.0} Mbps", mbps(offered.iter().sum()));
    let history: Vec<Vec<u64>> = (0..50).map(|_| uplink.tick(&offered)).collect();
    let (settled, still) = settling(&history);
    eprintln!("settled within 0.5% after {settled} ticks; unchanged over the last 10: {still}");
    assert!(
        settled <= 30 && still,
        "settled after {settled} ticks, still: {still}"
    );
}

/// Senders that adapt to their rate, as TCP does: each offers at most 10% more than it was
/// allowed (the excess dropped), up to what its users want.
#[test]
fn adaptive_senders_settle_without_oscillation() {
    let mut uplink = regency();
    let users: Vec<u64> = REGENCY
        .iter()
        .map(|&(_, _, g, _, _)| (3 * g + 20) * MBPS)
        .collect();
    let mut rates = vec![0; REGENCY.len()];
    let mut history = vec![];
    for _ in 0..100 {
        let offered: Vec<u64> = users
            .iter()
            .zip(&rates)
            .map(|(&u, &r)| u.min(r + r / 10))
            .collect();
        rates = uplink.tick(&offered);
        history.push(rates.clone());
    }
    let (settled, still) = settling(&history);
    eprintln!(
        "adaptive senders settled within 0.5% after {settled} ticks; unchanged over the last 10: {still}"
    );
    assert!(
        settled <= 50 && still,
        "settled after {settled} ticks, still: {still}"
    );
}

/// The data plane over one tick, as a fluid: each agency passes what it offers up to its
/// guarantee whatever the uplink holds, then borrows up to its limit while the uplink has
/// room (shared in proportion to what each asks, as frames arriving first come first served).
fn police(capacity: u64, shares: &[Share], limits: &[u64], offered: &[u64]) -> Vec<u64> {
    let on_guarantee: Vec<u64> = offered
        .iter()
        .zip(shares)
        .map(|(&o, s)| o.min(s.guaranteed))
        .collect();
    let asks: Vec<u64> = offered
        .iter()
        .zip(limits)
        .zip(&on_guarantee)
        .map(|((&o, &l), &g)| o.min(l).saturating_sub(g))
        .collect();
    let room =
        u128::from(capacity).saturating_sub(on_guarantee.iter().map(|&g| u128::from(g)).sum());
    let asked: u128 = asks.iter().map(|&a| u128::from(a)).sum();
    on_guarantee
        .iter()
        .zip(&asks)
        .map(|(&g, &a)| {
            let borrowed = if asked <= room {
                a
            } else {
                (u128::from(a) * room / asked) as u64
            };
            g + borrowed
        })
        .collect()
}

/// Senders that answer drops as TCP does, tick by tick (each offers what it passed last tick
/// and a quarter more, up to its need), policed by the limits the control loop derives from
/// [`divide`]. Every tick each may pass its guarantee, whatever its allocation followed,
/// and never its ceiling. Settled, the uplink is used in full.
#[test]
fn closed_loop_senders_get_their_guarantees_every_tick_and_fill_the_uplink() {
    let uplink = regency();
    let n = REGENCY.len();
    let need: Vec<u64> = REGENCY
        .iter()
        .map(|&(_, _, g, c, _)| (2 * g + 15).min(c) * MBPS)
        .collect();
    let mut shares = uplink.shares.clone();
    let mut flows = vec![Flow::default(); n];
    let mut counters = vec![Counters::default(); n];
    let mut offered = vec![MBPS; n];
    let mut limits: Vec<u64> = shares.iter().map(|s| s.guaranteed).collect();
    let mut used = Vec::new();
    for tick in 0..200 {
        for (i, (s, &l)) in shares.iter().zip(&limits).enumerate() {
            let name = REGENCY[i].0;
            assert!(
                l >= s.guaranteed,
                "tick {tick}: {name}'s limit {l} is below its guarantee"
            );
            assert!(
                l <= s.ceiling,
                "tick {tick}: {name}'s limit {l} is above its ceiling"
            );
        }
        let passed = police(uplink.capacity, &shares, &limits, &offered);
        used.push(passed.iter().sum::<u64>());
        for i in 0..n {
            let c = &mut counters[i];
            c.passed_bytes += passed[i] / 8;
            c.dropped_bytes += (offered[i] - passed[i]) / 8;
            flows[i].observe(c, SECOND);
            shares[i].growing = flows[i].held_back();
            // What it got, and a quarter more to probe for room (its acknowledgements
            // clock it), up to what it needs.
            offered[i] = (passed[i] + passed[i] / 4).min(need[i]).max(KBPS);
        }
        let demand: Vec<u64> = flows.iter().map(|f| f.demand).collect();
        let d = divide(uplink.capacity, &shares, &demand);
        limits = (0..n).map(|i| d.limit(i, &shares[i])).collect();
    }
    let settled = used[100..].iter().sum::<u64>() as f64 / 100.0;
    eprintln!(
        "closed-loop senders used {:.1}% of the uplink once settled",
        100.0 * settled / uplink.capacity as f64
    );
    assert!(
        settled >= 0.95 * uplink.capacity as f64,
        "settled use {settled} of {}",
        uplink.capacity
    );
}

// ---- Cost ----

/// Reports the time per call; asserts nothing, the machine is shared.
#[test]
fn time_per_call_is_reported() {
    let mut rng = Rng::new(4094);
    for n in [45usize, 4094] {
        let shares: Vec<Share> = (0..n)
            .map(|_| {
                let g = rng.range(0, GBPS / n as u64);
                share(
                    rng.pick(&Tier::ALL),
                    g,
                    g + rng.range(1, GBPS),
                    rng.range(1, 10) as u32,
                )
            })
            .collect();
        // Demand 3 × the capacity: the capacity runs out within a tier, which is water-filled.
        let demand: Vec<u64> = (0..n).map(|_| rng.range(0, 6 * GBPS / n as u64)).collect();
        let calls = if n < 100 { 20_000 } else { 1_000 };
        let mut times: Vec<u128> = (0..calls)
            .map(|_| {
                let start = Instant::now();
                black_box(allocate(
                    black_box(GBPS),
                    black_box(&shares),
                    black_box(&demand),
                ));
                start.elapsed().as_nanos()
            })
            .collect();
        times.sort_unstable();
        eprintln!(
            "allocate, {n} agencies ({} build): median {:.1} µs, best {:.1} µs, 99th percentile {:.1} µs",
            if cfg!(debug_assertions) {
                "debug"
            } else {
                "optimized"
            },
            times[calls / 2] as f64 / 1e3,
            times[0] as f64 / 1e3,
            times[calls * 99 / 100] as f64 / 1e3,
        );
    }
}

/// An idle agency's limit is what it would get the moment it became busy: its guarantee and
/// its tier's part of what is left, as HTB lends to a class the moment it has traffic.
#[test]
fn an_idle_agency_may_pass_what_it_would_get_if_busy() {
    // 100 Mbps: two busy standard agencies, an idle standard one, an idle critical one and
    // a busy public WiFi.
    let shares = [
        share(Tier::Standard, 10 * MBPS, 100 * MBPS, 1),
        share(Tier::Standard, 10 * MBPS, 100 * MBPS, 1),
        share(Tier::Standard, 10 * MBPS, 100 * MBPS, 2),
        share(Tier::Critical, 20 * MBPS, 100 * MBPS, 1),
        share(Tier::Public, 0, 100 * MBPS, 1),
    ];
    let mut idle = shares;
    for s in &mut idle[2..4] {
        s.growing = false;
    }
    let demand = [80 * MBPS, 80 * MBPS, 0, 0, 80 * MBPS];
    let d = divide(100 * MBPS, &idle, &demand);
    let limits: Vec<u64> = (0..5).map(|i| d.limit(i, &idle[i])).collect();
    assert_eq!(d.spare, 0);
    // The busy two share the 100 Mbps but what the idle ones keep (256 kbps each, the
    // smallest room): 49.744 Mbps each; WiFi gets nothing beyond.
    assert_eq!(d.rates[0], d.rates[1]);
    assert!(
        (49 * MBPS..50 * MBPS).contains(&d.rates[0]),
        "{:?}",
        d.rates
    );
    assert_eq!(limits[0], d.rates[0], "a busy agency is held to its part");
    // The idle standard agency (weight 2) would get twice the busy ones' part beyond its
    // guarantee; the idle critical agency everything the standard tier borrows.
    let part = d.rates[0] - 10 * MBPS;
    let near = |a: u64, b: u64| a.abs_diff(b) <= 2;
    assert!(near(limits[2], 10 * MBPS + 2 * part), "{limits:?}");
    assert!(limits[3] >= 20 * MBPS + 2 * part, "{limits:?}");
    // Public WiFi: only its guarantee (none) while the standard tier wants more.
    assert_eq!(limits[4], d.rates[4]);
}
