//! The daemon's status as `/status` serves it and `opd-gateway status` shows it.

use gateway_common::{Direction, Tier};
use serde::{Deserialize, Serialize};

use crate::{control::Snapshot, demand::Flow};

/// One agency in one direction; rates in bits/s, totals in bytes.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq)]
pub struct FlowStatus {
    pub guaranteed_bps: u64,
    pub ceiling_bps: u64,
    /// Its share of the uplink by need.
    pub allocated_bps: u64,
    /// What it may pass in all: its guarantee or share, plus what nobody wants.
    pub limit_bps: u64,
    pub rate_bps: u64,
    pub demand_bps: u64,
    pub dropped_bps: u64,
    /// Passed beyond its guarantee: capacity borrowed from what others left.
    pub borrowed_bps: u64,
    pub passed_bytes: u64,
    pub dropped_bytes: u64,
    /// Its hosts active at the last tick, when it shares by host; 0 otherwise (and from a
    /// daemon that did not say).
    #[serde(default)]
    pub hosts: u32,
}

impl From<&Flow> for FlowStatus {
    fn from(f: &Flow) -> FlowStatus {
        FlowStatus {
            guaranteed_bps: f.guaranteed,
            ceiling_bps: f.ceiling,
            allocated_bps: f.allocated,
            limit_bps: f.limit,
            rate_bps: f.passed_rate,
            demand_bps: f.demand,
            dropped_bps: f.dropped_rate,
            borrowed_bps: f.borrowed_rate,
            passed_bytes: f.counted.passed_bytes,
            dropped_bytes: f.counted.dropped_bytes,
            hosts: f.hosts,
        }
    }
}

/// One agency as the status shows it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct AgencyStatus {
    pub id: String,
    pub name: String,
    pub tier: Tier,
    pub upload: FlowStatus,
    pub download: FlowStatus,
}

impl AgencyStatus {
    pub fn flow(&self, dir: Direction) -> &FlowStatus {
        match dir {
            Direction::Upload => &self.upload,
            Direction::Download => &self.download,
        }
    }
}

/// What `opd-gateway status` shows.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Status {
    pub site: String,
    /// The policy's fingerprint, in hex.
    pub policy: String,
    /// Policies applied since the daemon started (1 for the first).
    pub generation: u64,
    /// Ticks so far.
    pub tick: u64,
    /// Milliseconds between ticks (0 from a daemon that did not say).
    #[serde(default)]
    pub tick_ms: u64,
    /// Per direction: upload, download; bits/s.
    pub capacity_bps: [u64; 2],
    pub usable_bps: [u64; 2],
    /// What the last tick divided (see [`Snapshot::divided`]), and the room it kept for
    /// resent TCP segments; zero from a daemon that did not say.
    #[serde(default)]
    pub divided_bps: [u64; 2],
    #[serde(default)]
    pub resend_room_bps: [u64; 2],
    pub agencies: Vec<AgencyStatus>,
}

impl Status {
    pub fn new(snapshot: &Snapshot, generation: u64) -> Status {
        Status {
            site: snapshot.site.clone(),
            policy: format!("{:016x}", snapshot.policy),
            generation,
            tick: snapshot.ticks,
            tick_ms: snapshot.tick.as_millis() as u64,
            capacity_bps: [snapshot.capacity.upload, snapshot.capacity.download],
            usable_bps: [snapshot.usable.upload, snapshot.usable.download],
            divided_bps: [snapshot.divided.upload, snapshot.divided.download],
            resend_room_bps: [snapshot.resend_room.upload, snapshot.resend_room.download],
            agencies: snapshot
                .agencies
                .iter()
                .map(|a| AgencyStatus {
                    id: a.id.clone(),
                    name: a.name.clone(),
                    tier: a.tier,
                    upload: (&a.flows.upload).into(),
                    download: (&a.flows.download).into(),
                })
                .collect(),
        }
    }

    /// What was divided in a direction, bits/s.
    pub fn usable(&self, dir: Direction) -> u64 {
        self.usable_bps[dir.index()]
    }

    /// What was purchased in a direction, bits/s.
    pub fn capacity(&self, dir: Direction) -> u64 {
        self.capacity_bps[dir.index()]
    }

    /// What agencies' frames took of the uplink in a direction over the last tick, passed
    /// or dropped, bits/s.
    pub fn carried(&self, dir: Direction) -> u64 {
        self.agencies
            .iter()
            .map(|a| a.flow(dir).rate_bps + a.flow(dir).dropped_bps)
            .sum()
    }
}

/// One host of an agency in one direction, as `/status?agency=` lists it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct HostStatus {
    pub direction: Direction,
    /// An IPv4 address, or the first address of an IPv6 prefix of the site's
    /// `host_ipv6_prefix`.
    pub address: std::net::IpAddr,
    /// Over the listing's interval, bits/s.
    pub rate_bps: u64,
    pub dropped_bps: u64,
    /// Since it entered the host table.
    pub passed_bytes: u64,
    pub dropped_bytes: u64,
}

/// The busiest hosts of one agency (`/status?agency=`, `opd-gateway status --hosts`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct HostsStatus {
    pub agency: String,
    /// "fair" or "shared".
    pub hosts: String,
    /// Hosts active at the last tick, per direction (upload, download).
    pub active: [u32; 2],
    /// How long the rates were measured over, ms.
    pub interval_ms: u64,
    /// Busiest first (passed + dropped over the interval, then passed in all), at most as
    /// many as asked for, both directions.
    pub list: Vec<HostStatus>,
    /// How many hosts the table held for the agency in all.
    pub in_table: usize,
}

impl HostsStatus {
    /// The `top` busiest of the agency's hosts, from two readings of the host table taken
    /// `elapsed` apart. A host that entered the table between them counts from zero.
    pub fn new(
        agency: &str,
        hosts: &str,
        active: [u32; 2],
        before: &[crate::dataplane::HostEntry],
        after: &[crate::dataplane::HostEntry],
        elapsed: std::time::Duration,
        top: usize,
    ) -> HostsStatus {
        let earlier: std::collections::HashMap<_, _> =
            before.iter().map(|h| ((h.dir, h.addr), h)).collect();
        let ns = elapsed.as_nanos().max(1);
        let rate = |bytes: u64| (bytes as u128 * 8 * 1_000_000_000 / ns) as u64;
        let mut list: Vec<HostStatus> = after
            .iter()
            .map(|h| {
                let (p0, d0) = match earlier.get(&(h.dir, h.addr)) {
                    // Fewer than before: it left the table and came back.
                    Some(b)
                        if b.passed_bytes <= h.passed_bytes
                            && b.dropped_bytes <= h.dropped_bytes =>
                    {
                        (b.passed_bytes, b.dropped_bytes)
                    }
                    _ => (0, 0),
                };
                HostStatus {
                    direction: h.dir,
                    address: h.addr,
                    rate_bps: rate(h.passed_bytes - p0),
                    dropped_bps: rate(h.dropped_bytes - d0),
                    passed_bytes: h.passed_bytes,
                    dropped_bytes: h.dropped_bytes,
                }
            })
            .collect();
        list.sort_by(|a, b| {
            (b.rate_bps + b.dropped_bps, b.passed_bytes, a.address).cmp(&(
                a.rate_bps + a.dropped_bps,
                a.passed_bytes,
                b.address,
            ))
        });
        let in_table = list.len();
        list.truncate(top);
        HostsStatus {
            agency: agency.to_string(),
            hosts: hosts.to_string(),
            active,
            interval_ms: elapsed.as_millis() as u64,
            list,
            in_table,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::{net::IpAddr, time::Duration};

    use super::*;
    use crate::dataplane::HostEntry;

    fn entry(dir: Direction, last: u8, passed: u64, dropped: u64) -> HostEntry {
        HostEntry {
            dir,
            addr: IpAddr::from([198, 18, 1, last]),
            passed_bytes: passed,
            dropped_bytes: dropped,
        }
    }

    #[test]
    fn hosts_are_listed_busiest_first_with_their_rates_over_the_interval() {
        let d = Direction::Download;
        let before = [entry(d, 1, 1_000_000, 0), entry(d, 2, 5_000_000, 0)];
        let after = [
            // 500 kB in half a second: 8 Mbps, 125 kB dropped: 2 Mbps.
            entry(d, 1, 1_500_000, 125_000),
            // Idle, but more in all.
            entry(d, 2, 5_000_000, 0),
            // New since the first reading: counted from zero.
            entry(d, 3, 250_000, 0),
            // Fewer bytes than before: it left the table and came back.
            entry(Direction::Upload, 1, 62_500, 0),
        ];
        let before_up = [entry(Direction::Upload, 1, 9_000_000, 0)];
        let all_before: Vec<HostEntry> = before.iter().chain(&before_up).copied().collect();
        let h = HostsStatus::new(
            "dinkes",
            "fair",
            [1, 3],
            &all_before,
            &after,
            Duration::from_millis(500),
            3,
        );
        let got: Vec<(Direction, String, u64, u64)> = h
            .list
            .iter()
            .map(|s| {
                (
                    s.direction,
                    s.address.to_string(),
                    s.rate_bps,
                    s.dropped_bps,
                )
            })
            .collect();
        assert_eq!(
            got,
            vec![
                (d, "198.18.1.1".into(), 8_000_000, 2_000_000),
                (d, "198.18.1.3".into(), 4_000_000, 0),
                (Direction::Upload, "198.18.1.1".into(), 1_000_000, 0),
            ]
        );
        assert_eq!(h.in_table, 4);
        assert_eq!(h.interval_ms, 500);
        let json = serde_json::to_string(&h).unwrap();
        assert!(json.contains("\"direction\":\"download\""), "{json}");
        assert_eq!(serde_json::from_str::<HostsStatus>(&json).unwrap(), h);
    }
}
