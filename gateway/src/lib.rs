//! OPD Gateway: shares one internet uplink among government agencies (OPD), one VLAN each.
//!
//! - [`policy`]: the policy files admins write, read strictly and validated completely;
//! - [`units`]: rates and durations as admins write them;
//! - [`allocator`]: divides the uplink by need (a pure function);
//! - [`control`]: the control loop's logic (counters → demand → rates) and reloads;
//! - [`dataplane`]: the XDP programs (load, configure, attach, counters);
//! - [`metrics`]: Prometheus metrics and the status, served over HTTP;
//! - [`service`]: the systemd notify protocol and watchdog.

pub mod allocator;
pub mod control;
pub mod dataplane;
pub mod metrics;
pub mod policy;
pub mod service;
pub mod units;
