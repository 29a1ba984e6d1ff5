//! The usual start of a traffic test: a simulated network, a policy written to a scratch
//! directory, the gateway running it, and every host pair reachable through the gateway.

use std::path::PathBuf;

use crate::{Forwarding, PolicyText, Process, SimNetwork, TempDir};

/// A simulated network with the gateway running a policy.
///
/// Fields drop in order: the gateway stops before its policy and its network go.
pub struct Bed {
    pub gateway: Process,
    pub policy_path: PathBuf,
    /// Where the policy was written; free for the test's other files.
    pub dir: TempDir,
    pub net: SimNetwork,
}

impl Bed {
    /// Host pairs on `vids`, `policy` written to `policy.toml`, `opd-gateway run` attached
    /// with its table every `interval` (`"0s"`: none), and every VLAN of `vids` reachable.
    pub fn start(vids: &[u16], forwarding: Forwarding, policy: &PolicyText, interval: &str) -> Bed {
        let net = SimNetwork::new(vids, forwarding);
        let dir = TempDir::new("policy");
        let path = dir.write("policy.toml", &policy.to_string());
        Bed::run(net, dir, path, vids, interval)
    }

    /// As [`Bed::start`], with a policy already written: a file or a directory of files,
    /// kept with `dir`.
    pub fn start_with_file(
        vids: &[u16],
        forwarding: Forwarding,
        dir: TempDir,
        policy_path: PathBuf,
        interval: &str,
    ) -> Bed {
        let net = SimNetwork::new(vids, forwarding);
        Bed::run(net, dir, policy_path, vids, interval)
    }

    fn run(
        net: SimNetwork,
        dir: TempDir,
        policy_path: PathBuf,
        vids: &[u16],
        interval: &str,
    ) -> Bed {
        let gateway = net.start_gateway(&policy_path, interval);
        net.wait_reachable(vids);
        Bed {
            gateway,
            policy_path,
            dir,
            net,
        }
    }
}
