//! Prometheus metrics and the daemon's status.
//!
//! Traffic counters are read from the data plane at scrape time, through a
//! [`CounterReader`] of the exporter's own; limits, allocations and demand are the last
//! [`Snapshot`] the control loop handed over. The exporter is told of ticks and reloads
//! through its methods. Labels are bounded by the policy (agency id, direction, tier,
//! reason), never addresses.

mod families;
mod status;

use std::{
    sync::{
        Mutex,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use gateway_common::{Direction, Reason};
use prometheus::{
    Encoder, Histogram, HistogramOpts, IntCounter, IntCounterVec, Opts, Registry, TextEncoder,
};

pub use status::{AgencyStatus, FlowStatus, HostStatus, HostsStatus, Status};

use crate::{
    control::Snapshot,
    dataplane::{CounterReader, DataplaneError},
};
use families::Families;

/// The snapshot in force and how many policies were applied.
struct State {
    snapshot: Snapshot,
    generation: u64,
}

/// The daemon's metrics.
pub struct Exporter {
    counters: CounterReader,
    state: Mutex<State>,
    registry: Registry,
    tick_seconds: Histogram,
    ticks: IntCounter,
    reloads: IntCounterVec,
    last_good_load: AtomicU64,
}

impl Exporter {
    /// An exporter for the policy applied at start (generation 1), as `snapshot` shows it.
    pub fn new(counters: CounterReader, snapshot: Snapshot) -> Exporter {
        let registry = Registry::new();
        let tick_seconds = Histogram::with_opts(
            HistogramOpts::new(
                "opd_gateway_tick_duration_seconds",
                "Time one control-loop tick took: read counters, divide the uplink, write rates.",
            )
            .buckets(vec![
                1e-5, 5e-5, 1e-4, 5e-4, 1e-3, 5e-3, 1e-2, 5e-2, 0.1, 0.5,
            ]),
        )
        .expect("valid histogram");
        let ticks = IntCounter::with_opts(Opts::new(
            "opd_gateway_ticks_total",
            "Control-loop ticks since the daemon started.",
        ))
        .expect("valid counter");
        let reloads = IntCounterVec::new(
            Opts::new(
                "opd_gateway_policy_reloads_total",
                "Policy reloads by result: success (applied) or failure (rejected; the running policy stayed in force).",
            ),
            &["result"],
        )
        .expect("valid counter");
        for r in ["success", "failure"] {
            reloads.with_label_values(&[r]);
        }
        for c in [
            Box::new(tick_seconds.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(ticks.clone()),
            Box::new(reloads.clone()),
        ] {
            registry.register(c).expect("each metric registered once");
        }
        let exporter = Exporter {
            counters,
            state: Mutex::new(State {
                snapshot,
                generation: 1,
            }),
            registry,
            tick_seconds,
            ticks,
            reloads,
            last_good_load: AtomicU64::new(0),
        };
        exporter.policy_applied();
        exporter
    }

    fn policy_applied(&self) {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        self.last_good_load.store(now, Ordering::Relaxed);
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state
            .lock()
            .expect("no panics while the state is held")
    }

    /// A tick that took `took` ended with `snapshot`.
    pub fn on_tick(&self, snapshot: Snapshot, took: Duration) {
        self.tick_seconds.observe(took.as_secs_f64());
        self.ticks.inc();
        self.state().snapshot = snapshot;
    }

    /// A new policy was applied; `snapshot` shows it.
    pub fn on_reload_applied(&self, snapshot: Snapshot) {
        self.reloads.with_label_values(&["success"]).inc();
        self.policy_applied();
        let mut state = self.state();
        state.snapshot = snapshot;
        state.generation += 1;
    }

    /// A policy was rejected; the running one stays.
    pub fn on_reload_rejected(&self) {
        self.reloads.with_label_values(&["failure"]).inc();
    }

    /// An agency of the policy in force: its slot, how its hosts share, and its hosts
    /// active at the last tick (upload, download).
    pub fn agency(&self, id: &str) -> Option<(u32, crate::policy::Hosts, [u32; 2])> {
        let state = self.state();
        let a = state.snapshot.agencies.iter().find(|a| a.id == id)?;
        Some((
            a.slot,
            a.hosts,
            [a.flows.upload.hosts, a.flows.download.hosts],
        ))
    }

    pub fn status(&self) -> Status {
        let state = self.state();
        Status::new(&state.snapshot, state.generation)
    }

    /// The text exposition of every metric. Fails if the counters cannot be read: a scrape
    /// that fails is marked down by Prometheus, where zeros would read as a counter reset.
    pub fn render(&self) -> Result<String, DataplaneError> {
        let mut families = self.registry.gather();
        families.extend(self.families()?);
        families.sort_by(|a, b| a.name().cmp(b.name()));
        let mut out = Vec::new();
        TextEncoder::new()
            .encode(&families, &mut out)
            .expect("text encoding cannot fail on gathered families");
        Ok(String::from_utf8(out).expect("the text format is UTF-8"))
    }

    fn families(&self) -> Result<Vec<prometheus::proto::MetricFamily>, DataplaneError> {
        let (snapshot, generation) = {
            let state = self.state();
            (state.snapshot.clone(), state.generation)
        };
        let mut f = Families::default();
        for a in &snapshot.agencies {
            for (dir, flow) in a.flows.iter() {
                let c = self.counters.agency(a.slot, dir)?;
                let labels = [("agency", a.id.as_str()), ("direction", dir.as_str())];
                f.counter(
                    "opd_gateway_agency_passed_bytes_total",
                    "Bytes of the agency's frames passed (whole frames, tags included).",
                    &labels,
                    c.passed_bytes,
                );
                f.counter(
                    "opd_gateway_agency_passed_packets_total",
                    "The agency's frames passed.",
                    &labels,
                    c.passed_packets,
                );
                f.counter(
                    "opd_gateway_agency_dropped_bytes_total",
                    "Bytes of the agency's frames dropped by its rate limit.",
                    &labels,
                    c.dropped_bytes,
                );
                f.counter(
                    "opd_gateway_agency_tcp_dropped_bytes_total",
                    "Of the dropped bytes, TCP segments: their senders send them again, so a dropped download segment crosses the uplink twice.",
                    &labels,
                    c.tcp_dropped_bytes,
                );
                f.counter(
                    "opd_gateway_agency_dropped_packets_total",
                    "The agency's frames dropped by its rate limit.",
                    &labels,
                    c.dropped_packets,
                );
                f.counter(
                    "opd_gateway_agency_ecn_marked_packets_total",
                    "The agency's passed frames marked ECN Congestion Experienced: the agency was at its rate and the sender was asked to slow down instead of losing frames.",
                    &labels,
                    c.marked_packets,
                );
                f.counter(
                    "opd_gateway_agency_borrowed_bytes_total",
                    "Bytes of the agency's frames passed beyond its guarantee, on capacity others left (counted in passed too).",
                    &labels,
                    c.borrowed_bytes,
                );
                f.counter(
                    "opd_gateway_agency_excess_bytes_total",
                    "Bytes of the agency's frames passed beyond its share while the uplink had plenty of room (counted in borrowed too).",
                    &labels,
                    c.excess_bytes,
                );
                f.counter(
                    "opd_gateway_agency_uplink_full_dropped_bytes_total",
                    "Bytes of the agency's frames its own limits allowed but dropped because the uplink was full (counted in dropped too).",
                    &labels,
                    c.uplink_dropped_bytes,
                );
                let all = c.passed_packets.wrapping_add(c.dropped_packets);
                for (by, n) in [
                    ("host", c.host_packets),
                    ("agency", all.wrapping_sub(c.host_packets)),
                ] {
                    f.counter(
                        "opd_gateway_agency_policed_packets_total",
                        "The agency's frames by what policed them: by=\"host\", its host's share and ceiling as well as the agency's buckets (hosts = \"fair\" or a host ceiling, the frame's host in the host table); by=\"agency\", the agency's buckets alone (a shared agency, a frame without an IP header, or no room in the host table).",
                        &[
                            ("agency", a.id.as_str()),
                            ("direction", dir.as_str()),
                            ("by", by),
                        ],
                        n,
                    );
                }
                f.counter(
                    "opd_gateway_agency_host_dropped_packets_total",
                    "The agency's frames dropped because their host was beyond its share of the agency while the agency had no room to spare, or beyond its host ceiling (counted in dropped too).",
                    &labels,
                    c.host_dropped_packets,
                );
                f.counter(
                    "opd_gateway_agency_new_hosts_total",
                    "Hosts of the agency entered into the host table: new ones, and ones that had made room for others. Growing fast while the active hosts stay few: the table is too small (host_table).",
                    &labels,
                    c.new_hosts,
                );
                f.gauge(
                    "opd_gateway_agency_active_hosts",
                    "The agency's hosts that sent a frame in the last ~0.3 s at the last tick, when it shares by host (hosts = \"fair\" or a host ceiling); 0 otherwise.",
                    &labels,
                    flow.hosts as f64,
                );
                let bytes = |bps: u64| bps as f64 / 8.0;
                f.gauge(
                    "opd_gateway_agency_allocated_bytes_per_second",
                    "The agency's share of the uplink by need at the last tick.",
                    &labels,
                    bytes(flow.allocated),
                );
                f.gauge(
                    "opd_gateway_agency_limit_bytes_per_second",
                    "What the agency may pass in all until the next tick: its guarantee or share, plus what no agency wants, up to its ceiling.",
                    &labels,
                    bytes(flow.limit),
                );
                f.gauge(
                    "opd_gateway_agency_guaranteed_bytes_per_second",
                    "The agency's guarantee in force (schedules applied).",
                    &labels,
                    bytes(flow.guaranteed),
                );
                f.gauge(
                    "opd_gateway_agency_ceiling_bytes_per_second",
                    "The agency's ceiling in force (schedules applied).",
                    &labels,
                    bytes(flow.ceiling),
                );
                f.gauge(
                    "opd_gateway_agency_demand_bytes_per_second",
                    "The agency's estimated demand: passed plus dropped, smoothed.",
                    &labels,
                    bytes(flow.demand),
                );
                f.gauge(
                    "opd_gateway_agency_borrowed_bytes_per_second",
                    "What the agency passed beyond its guarantee over the last tick.",
                    &labels,
                    bytes(flow.borrowed_rate),
                );
            }
            f.gauge(
                "opd_gateway_agency_info",
                "An agency of the policy in force, with its display name and tier.",
                &[
                    ("agency", a.id.as_str()),
                    ("name", a.name.as_str()),
                    ("tier", a.tier.as_str()),
                ],
                1.0,
            );
        }
        for dir in Direction::ALL {
            for reason in Reason::ALL {
                let c = self.counters.reason(reason, dir)?;
                let labels = [("direction", dir.as_str()), ("reason", reason.as_str())];
                f.counter("opd_gateway_unattributed_passed_bytes_total", "Bytes of frames passed that belong to no agency: control frames, and untagged or unknown-VLAN traffic the site lets pass.", &labels, c.passed_bytes);
                f.counter(
                    "opd_gateway_unattributed_passed_packets_total",
                    "Frames passed that belong to no agency.",
                    &labels,
                    c.passed_packets,
                );
                f.counter("opd_gateway_unattributed_dropped_bytes_total", "Bytes of frames dropped that belong to no agency: malformed, and untagged or unknown-VLAN traffic the site drops.", &labels, c.dropped_bytes);
                f.counter(
                    "opd_gateway_unattributed_dropped_packets_total",
                    "Frames dropped that belong to no agency.",
                    &labels,
                    c.dropped_packets,
                );
            }
            let labels = [("direction", dir.as_str())];
            let passed: u64 = snapshot
                .agencies
                .iter()
                .map(|a| a.flows[dir].passed_rate)
                .sum();
            let usable = snapshot.usable[dir];
            let carried = snapshot.carried(dir);
            f.gauge(
                "opd_gateway_uplink_capacity_bytes_per_second",
                "The uplink's purchased capacity.",
                &labels,
                snapshot.capacity[dir] as f64 / 8.0,
            );
            f.gauge(
                "opd_gateway_uplink_usable_bytes_per_second",
                "Capacity minus headroom: what is divided among agencies.",
                &labels,
                usable as f64 / 8.0,
            );
            f.gauge(
                "opd_gateway_uplink_divided_bytes_per_second",
                "What the last tick divided among agencies: the usable capacity, or less in the download direction while the TCP segments the gateway drops (sent again over the uplink) need more room than the headroom leaves.",
                &labels,
                snapshot.divided[dir] as f64 / 8.0,
            );
            f.gauge(
                "opd_gateway_uplink_resend_room_bytes_per_second",
                "Room kept on the uplink for TCP segments the gateway dropped, which their senders send again (download only; smoothed over ticks).",
                &labels,
                snapshot.resend_room[dir] as f64 / 8.0,
            );
            f.gauge(
                "opd_gateway_uplink_utilisation_ratio",
                "Agencies' passed traffic over the last tick as a share of the usable capacity.",
                &labels,
                if usable > 0 {
                    passed as f64 / usable as f64
                } else {
                    0.0
                },
            );
            f.gauge(
                "opd_gateway_uplink_carried_bytes_per_second",
                "Agencies' frames that reached the gateway over the last tick, passed or dropped: what they took of the uplink (a download frame dropped here has already crossed it).",
                &labels,
                carried as f64 / 8.0,
            );
            f.gauge(
                "opd_gateway_uplink_carried_ratio",
                "Agencies' frames passed or dropped over the last tick as a share of the purchased capacity; above 1 in the download direction, the upstream router's queue decides who gets what.",
                &labels,
                if snapshot.capacity[dir] > 0 {
                    carried as f64 / snapshot.capacity[dir] as f64
                } else {
                    0.0
                },
            );
        }
        f.gauge(
            "opd_gateway_host_table_entries",
            "How many (agency, host) pairs the data plane's host table holds at most (host_table); when more are active, the least recently seen make room.",
            &[],
            snapshot.host_table as f64,
        );
        f.gauge(
            "opd_gateway_policy_generation",
            "Policies applied since the daemon started (1 for the first).",
            &[],
            generation as f64,
        );
        f.gauge(
            "opd_gateway_policy_info",
            "The policy in force, by fingerprint (a hash of its files).",
            &[("fingerprint", format!("{:016x}", snapshot.policy).as_str())],
            1.0,
        );
        f.gauge(
            "opd_gateway_policy_last_success_timestamp_seconds",
            "When a policy was last loaded and applied (Unix time).",
            &[],
            self.last_good_load.load(Ordering::Relaxed) as f64,
        );
        f.gauge(
            "opd_gateway_build_info",
            "The running build.",
            &[("version", env!("CARGO_PKG_VERSION"))],
            1.0,
        );
        Ok(f.into_families())
    }
}
