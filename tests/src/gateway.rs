//! The gateway under test: the real `opd-gateway run` started in a simulated network's
//! gateway namespace, with that network's own pin directory.

use std::{
    path::Path,
    process::Stdio,
    time::{Duration, Instant},
};

use crate::{Process, SimNetwork, env_path};

impl SimNetwork {
    /// Starts `opd-gateway run` in the gateway namespace with a policy file.
    pub fn start_gateway(&self, policy: &Path, interval: &str) -> Process {
        self.start_gateway_with(policy, interval, &[], &[])
    }

    /// Starts `opd-gateway run` behind a wrapper command (e.g. `setpriv …`) and with extra
    /// environment, and waits until both ports carry its XDP programs.
    pub fn start_gateway_with(
        &self,
        policy: &Path,
        interval: &str,
        wrapper: &[&str],
        env: &[(&str, &str)],
    ) -> Process {
        self.start_gateway_full(policy, interval, wrapper, env, &[])
    }

    /// Starts `opd-gateway run` with more options (e.g. `--history-minute 2s`).
    pub fn start_gateway_args(&self, policy: &Path, interval: &str, args: &[&str]) -> Process {
        self.start_gateway_full(policy, interval, &[], &[], args)
    }

    fn start_gateway_full(
        &self,
        policy: &Path,
        interval: &str,
        wrapper: &[&str],
        env: &[(&str, &str)],
        args: &[&str],
    ) -> Process {
        let bin = env_path("OPD_GATEWAY_BIN");
        let mut cmd = match wrapper.split_first() {
            Some((program, args)) => {
                let mut c = self.gateway.command(program);
                c.args(args).arg(&bin);
                c
            }
            None => self.gateway.command(bin.to_str().unwrap()),
        };
        cmd.args(["run", "--policy"])
            .arg(policy)
            .args(["--interval", interval])
            .arg("--pin-dir")
            .arg(&self.pin_dir)
            .arg("--state-dir")
            .arg(&self.state_dir)
            .args(args)
            .envs(env.iter().copied())
            .stdin(Stdio::null());
        let mut p = Process::spawn_logged(cmd, "opd-gateway");
        // Attached once both ports carry an XDP program.
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let out = self.gateway.ip(&["-d", "link", "show"]);
            let text = String::from_utf8_lossy(&out.stdout);
            if text.matches("prog/xdp").count() >= 2 {
                return p;
            }
            assert!(
                p.running(),
                "opd-gateway exited before attaching; see its output above"
            );
            assert!(
                Instant::now() < deadline,
                "opd-gateway did not attach within 20 s"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}
