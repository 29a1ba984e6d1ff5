//! Simulated agency networks for the demo and the privileged tests.
//!
//! A [`SimNetwork`] builds, in network namespaces of its own:
//!
//! ```text
//!  agency host ns (per VLAN) ─ nic ─┐                 ┌─ nic ─ upstream host ns (per VLAN)
//!  (tag pushed/popped by TC)        │  switch ns       │  (tag pushed/popped by TC)
//!                                  lanbr ─ gwlan ═╗ ╔═ gwwan ─ wanbr
//!                                                 ║ ║
//!                                    gateway ns:  lan   wan   (opd-gateway attaches here)
//! ```
//!
//! Every agency VLAN gets a host on the agencies' side and one on the upstream side, in
//! 198.18.<k>.0/24 (the benchmarking range). Everything is removed when the network is
//! dropped, also when a test panics.
//!
//! One module per part of the bed: [`netns`] and [`process`] are the guards everything else
//! stands on; [`topology`] builds the network, [`gateway`] starts the daemon in it,
//! [`streams`] and [`traffic`] send and measure traffic through it, [`htb`] and [`delay`]
//! are the peer it is measured against and the round-trip time added for that; [`http`]
//! reaches what listens inside a namespace, and [`scrape`] reads the daemon's metrics.
//! [`policy_text`] writes the policies they run, and [`bed`] puts network, policy and
//! gateway together the way most tests start. The items used everywhere are re-exported
//! here.

pub mod bed;
pub mod browser;
pub mod delay;
pub mod frames;
pub mod gateway;
pub mod htb;
pub mod http;
pub mod iperf;
pub mod netns;
pub mod plot;
pub mod policy_text;
pub mod process;
pub mod scrape;
pub mod scratch;
pub mod streams;
pub mod topology;
pub mod traffic;
pub mod transfer;

pub use bed::Bed;
pub use http::{http_get, http_get_authorized, url_encode};
pub use netns::{Netns, sweep_stale};
pub use policy_text::{AgencyText, Limit, PolicyText};
pub use process::{Process, env_path, require_root, sh};
pub use scrape::{DAEMON_ADDR, Metrics};
pub use scratch::TempDir;
pub use streams::{Phase, STREAM_PORT, Stream, Way};
pub use topology::{Forwarding, SimNetwork, VlanHosts};
