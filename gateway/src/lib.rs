//! OPD Gateway: shares one internet uplink among government agencies (OPD), one VLAN each.
//!
//! Where things go, from the policy file to the packet and back to a metric:
//! - [`policy`]: the policy files admins write, read strictly and validated completely
//!   ([`units`]: rates and durations as admins write them);
//! - [`plan`]: what the data plane's maps should hold for a policy, the fallback division,
//!   and the ordered writes that take the maps there (pure);
//! - [`dataplane`]: the kernel side: loads the XDP programs, carries out map writes,
//!   attaches to the ports, reads the counters; knows nothing of policy files;
//! - [`demand`]: an agency's traffic measured tick by tick (pure);
//! - [`allocator`]: divides the uplink by need (a pure function);
//! - [`control`]: the control loop: counters → demand → allocation → rates, reloads;
//!   hands out a [`control::Snapshot`] of each tick;
//! - [`metrics`]: Prometheus metrics and the status, from the snapshot and the counters;
//! - [`history`]: every agency's traffic and demand minute by minute, kept 13 months in
//!   an embedded store; [`report`]: the needs report the budget is decided on;
//! - [`http`]: `/metrics` and `/status` over HTTP, and [`web`]: the office's page at `/`;
//! - [`daemon`]: `opd-gateway run`: the loop, the policy watcher, the periodic table;
//! - [`status`]: `opd-gateway status`, the client of `/status`;
//! - [`service`]: the systemd notify protocol and watchdog.

pub mod allocator;
pub mod control;
pub mod daemon;
pub mod dataplane;
pub mod demand;
pub mod history;
pub mod http;
pub mod metrics;
pub mod plan;
pub mod policy;
pub mod report;
pub mod service;
pub mod status;
pub mod units;
pub mod web;

/// Where the daemon serves `/metrics` and `/status` unless told otherwise, and where
/// `opd-gateway status` looks for them.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:9477";

/// An error with its causes, "outer: inner: innermost", for one log line.
pub fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}
