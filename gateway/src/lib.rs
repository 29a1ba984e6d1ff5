//! OPD Gateway: shares one internet uplink among government agencies (OPD), one VLAN each.
//!
//! - [`policy`]: the policy files admins write, read strictly and validated completely;
//! - [`units`]: rates and durations as admins write them;
//! - [`dataplane`]: the XDP programs (load, configure, attach, counters).

pub mod dataplane;
pub mod policy;
pub mod units;
