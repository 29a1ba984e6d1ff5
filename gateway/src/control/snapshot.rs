//! What one tick measured and decided, as plain data: the metrics, the status and the
//! daemon's table are built from it, never from the controller's internals.

use gateway_common::{PerDirection, Tier};

use super::Tracked;
use crate::{demand::Flow, policy::Policy};

/// One agency after a tick.
#[derive(Debug, Clone, PartialEq)]
pub struct AgencySnapshot {
    pub id: String,
    pub name: String,
    pub tier: Tier,
    /// Its slot in the data plane's maps.
    pub slot: u32,
    /// How its rate is shared between its hosts.
    pub hosts: crate::policy::Hosts,
    pub flows: PerDirection<Flow>,
}

/// The uplink after a tick.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Snapshot {
    /// The site's name.
    pub site: String,
    /// The fingerprint of the policy in force.
    pub policy: u64,
    /// Ticks so far.
    pub ticks: u64,
    /// How often the uplink is re-divided.
    pub tick: std::time::Duration,
    /// Purchased capacity and what is divided (capacity − headroom), bits/s.
    pub capacity: PerDirection<u64>,
    pub usable: PerDirection<u64>,
    /// What the last tick divided: `usable`, or less in the download direction while
    /// resent TCP segments need more room than the headroom leaves, bits/s.
    pub divided: PerDirection<u64>,
    /// Room kept for resent TCP segments (smoothed), bits/s.
    pub resend_room: PerDirection<u64>,
    /// In policy order.
    pub agencies: Vec<AgencySnapshot>,
    /// Entries of the data plane's host table.
    pub host_table: u32,
}

impl Snapshot {
    /// What agencies' frames took of the uplink in a direction over the last tick, passed
    /// or dropped, bits/s.
    pub fn carried(&self, dir: gateway_common::Direction) -> u64 {
        self.agencies
            .iter()
            .map(|a| a.flows[dir].passed_rate + a.flows[dir].dropped_rate)
            .sum()
    }

    pub(super) fn new(
        policy: &Policy,
        tracked: &[Tracked],
        ticks: u64,
        divided: PerDirection<u64>,
        resend_room: PerDirection<u64>,
    ) -> Snapshot {
        let site = &policy.site;
        Snapshot {
            site: site.name.clone(),
            policy: policy.fingerprint,
            ticks,
            tick: site.tick,
            capacity: site.capacity,
            usable: PerDirection::from_fn(|d| site.usable(d)),
            divided,
            resend_room,
            host_table: site.host_table,
            agencies: policy
                .agencies
                .iter()
                .zip(tracked)
                .map(|(a, t)| AgencySnapshot {
                    id: a.id.clone(),
                    name: a.name.clone(),
                    tier: a.tier,
                    slot: t.slot,
                    hosts: a.hosts,
                    flows: t.flows,
                })
                .collect(),
        }
    }
}
