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
