//! One agency's traffic in one direction, measured tick by tick: the rates it passed and
//! dropped and the demand the allocator divides the uplink by. Pure: the control loop and
//! the allocator's property tests take the same step.

use gateway_common::Counters;

use crate::allocator;

/// One agency's state in one direction, carried from tick to tick (and across reloads).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Flow {
    /// The counters at the last measured tick.
    pub counted: Counters,
    /// Smoothed demand, bits/s.
    pub demand: u64,
    /// Offered, passed and dropped over the last measured tick, bits/s.
    pub offered_rate: u64,
    pub passed_rate: u64,
    pub dropped_rate: u64,
    /// Of the dropped, TCP segments (sent again by their senders), bits/s.
    pub tcp_dropped_rate: u64,
    /// Passed beyond its guarantee over the last measured tick, bits/s.
    pub borrowed_rate: u64,
    /// Its share of the uplink by need this tick, bits/s.
    pub allocated: u64,
    /// What it may pass in all this tick, bits/s: its guarantee or share, whichever is
    /// larger, plus whatever no agency wants, up to its ceiling.
    pub limit: u64,
    /// Guarantee and ceiling in force at the last tick, bits/s.
    pub guaranteed: u64,
    pub ceiling: u64,
    /// Its hosts active at the last tick (hosts that sent a frame within the last ~0.3 s),
    /// when it shares by host; 0 otherwise.
    pub hosts: u32,
}

impl Flow {
    /// Takes `counters` as the starting point, without measuring a rate.
    pub fn start(&mut self, counters: &Counters) {
        self.counted = *counters;
    }

    /// Measures the rates over the `elapsed_ns` since the last measurement and updates the
    /// demand.
    pub fn observe(&mut self, counters: &Counters, elapsed_ns: u64) {
        let rate = |bytes: u64| {
            (bytes as u128 * 8 * 1_000_000_000 / elapsed_ns.max(1) as u128).min(u64::MAX as u128)
                as u64
        };
        let d = counters.since(&self.counted);
        self.passed_rate = rate(d.passed_bytes);
        self.dropped_rate = rate(d.dropped_bytes);
        self.tcp_dropped_rate = rate(d.tcp_dropped_bytes);
        self.offered_rate = rate(d.passed_bytes.wrapping_add(d.dropped_bytes));
        self.borrowed_rate = rate(d.borrowed_bytes);
        self.demand = allocator::smooth_demand(self.demand, self.offered_rate);
        self.counted = *counters;
    }

    /// Held back by its rate over the last tick: more than 0.5% of what it offered was
    /// dropped. Such an agency gets the larger room to grow.
    pub fn held_back(&self) -> bool {
        self.dropped_rate > self.offered_rate / 200
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counters(passed: u64, dropped: u64) -> Counters {
        Counters {
            passed_bytes: passed,
            dropped_bytes: dropped,
            ..Default::default()
        }
    }

    #[test]
    fn rates_are_measured_over_the_elapsed_time() {
        let mut f = Flow::default();
        f.start(&counters(1_000, 0));
        // 125,000 bytes passed and 12,500 dropped in half a second.
        f.observe(&counters(126_000, 12_500), 500_000_000);
        assert_eq!(f.passed_rate, 2_000_000);
        assert_eq!(f.dropped_rate, 200_000);
        assert_eq!(f.offered_rate, 2_200_000);
        assert_eq!(f.demand, 2_200_000);
        assert!(f.held_back());
    }

    #[test]
    fn wrapped_counters_give_the_right_difference() {
        let mut f = Flow::default();
        f.start(&counters(u64::MAX - 99, 0));
        f.observe(&counters(25, 0), 1_000_000_000);
        assert_eq!(f.passed_rate, 125 * 8);
        assert!(!f.held_back());
    }
}
