//! The systemd service: the unit verifies and its exposure is low, and the daemon — run
//! with nothing but the unit's three capabilities, as an unprivileged user — speaks the notify
//! protocol in order: READY, WATCHDOG from the loop, RELOADING then READY on SIGHUP,
//! STOPPING on SIGTERM. Needs root; run by `cargo xtask test`.

use std::{
    os::unix::net::UnixDatagram,
    path::Path,
    process::Command,
    time::{Duration, Instant},
};

use opd_testbed::{
    AgencyText, Forwarding, Limit, PolicyText, SimNetwork, TempDir, env_path, require_root,
};

fn unit_for_this_build(dir: &TempDir) -> std::path::PathBuf {
    let unit = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/opd-gateway.service"),
    )
    .expect("deploy/opd-gateway.service");
    let bin = env_path("OPD_GATEWAY_BIN");
    dir.write(
        "opd-gateway.service",
        &unit.replace("/usr/bin/opd-gateway", bin.to_str().unwrap()),
    )
}

#[test]
fn the_unit_verifies_and_its_exposure_is_low() {
    require_root();
    let dir = TempDir::new("unit");
    let unit = unit_for_this_build(&dir);
    // The man page is part of the installed package, not of this tree.
    let out = Command::new("systemd-analyze")
        .args(["verify", "--man=no"])
        .arg(&unit)
        .output()
        .expect("systemd-analyze");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success() && text.trim().is_empty(),
        "systemd-analyze verify: {}\n{text}",
        out.status
    );
    let out = Command::new("systemd-analyze")
        .args(["security", "--offline=true"])
        .arg(&unit)
        .output()
        .expect("systemd-analyze");
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text
        .lines()
        .find(|l| l.contains("Overall exposure level"))
        .unwrap_or_else(|| panic!("no score in:\n{text}"));
    let score: f64 = line
        .split(':')
        .nth(1)
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("cannot read the score from {line:?}"));
    eprintln!("systemd-analyze security --offline=true: {}", line.trim());
    assert!(score <= 2.0, "exposure {score} above 2.0:\n{text}");
}

/// Notify messages received in order, with a deadline for each.
struct Notifications {
    sock: UnixDatagram,
}

impl Notifications {
    /// The next message, its `KEY=VALUE` lines without the newline that may end the last.
    fn next(&self, within: Duration) -> Option<String> {
        self.sock.set_read_timeout(Some(within)).unwrap();
        let mut buf = [0u8; 4096];
        self.sock
            .recv(&mut buf)
            .ok()
            .map(|n| String::from_utf8_lossy(&buf[..n]).trim_end().to_string())
    }

    /// Waits for a message containing `what`, skipping watchdog pings; panics after `within`.
    fn expect(&self, what: &str, within: Duration) -> String {
        let deadline = Instant::now() + within;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let m = self
                .next(left.max(Duration::from_millis(1)))
                .unwrap_or_else(|| panic!("no {what} within {within:?}"));
            if m.contains(what) {
                return m;
            }
            assert!(
                m == "WATCHDOG=1" || m.starts_with("STATUS="),
                "unexpected {m:?} while waiting for {what}"
            );
        }
    }

    fn count_watchdog(&self, during: Duration) -> usize {
        let deadline = Instant::now() + during;
        let mut n = 0;
        while let Some(m) = self.next(
            deadline
                .saturating_duration_since(Instant::now())
                .max(Duration::from_millis(1)),
        ) {
            assert_eq!(m, "WATCHDOG=1", "only watchdog pings expected");
            n += 1;
            if Instant::now() >= deadline {
                break;
            }
        }
        n
    }
}

#[test]
fn with_only_its_three_capabilities_the_daemon_speaks_the_notify_protocol_in_order() {
    let net = SimNetwork::new(&[110], Forwarding::Redirect);
    let dir = TempDir::new("notify");
    let policy = PolicyText::simulated_regency(Forwarding::Redirect)
        .unclassified("drop")
        .agency(
            AgencyText::new("dinkes")
                .vlans(&[110])
                .both(Limit::rate("10Mbps")),
        );
    let policy = dir.write("policy.toml", &policy.to_string());
    let sock_path = dir.0.join("notify.sock");
    let sock = UnixDatagram::bind(&sock_path).expect("bind the notify socket");
    // The daemon runs as nobody: it must be able to reach the socket.
    for p in [&dir.0, &sock_path] {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o777)).unwrap();
    }
    let notes = Notifications { sock };
    // As DynamicUser= with the unit's CapabilityBoundingSet/AmbientCapabilities would run it.
    let caps = "-all,+bpf,+perfmon,+net_admin";
    let mut gw = net.start_gateway_with(
        &policy,
        "0s",
        &[
            "setpriv",
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            &format!("--inh-caps={caps}"),
            &format!("--ambient-caps={caps}"),
            &format!("--bounding-set={caps}"),
            "--",
        ],
        &[
            ("NOTIFY_SOCKET", sock_path.to_str().unwrap()),
            ("WATCHDOG_USEC", "1000000"),
        ],
    );
    let ready = notes.expect("READY=1", Duration::from_secs(20));
    assert!(ready.contains("STATUS=enforcing policy"), "{ready:?}");
    let pings = notes.count_watchdog(Duration::from_secs(3));
    assert!(
        pings >= 4,
        "WatchdogSec=1s asks for a ping every 0.5 s: got {pings} in 3 s"
    );
    // A stuck loop stops pinging (here: stopped by a signal).
    gw.signal(libc::SIGSTOP);
    let while_stuck = notes.count_watchdog(Duration::from_secs(2));
    gw.signal(libc::SIGCONT);
    assert!(
        while_stuck <= 1,
        "{while_stuck} pings from a stopped daemon"
    );
    let _ = notes.count_watchdog(Duration::from_secs(1));
    gw.signal(libc::SIGHUP);
    let reloading = notes.expect("RELOADING=1", Duration::from_secs(5));
    assert!(reloading.contains("MONOTONIC_USEC="), "{reloading:?}");
    notes.expect("READY=1", Duration::from_secs(5));
    gw.signal(libc::SIGTERM);
    notes.expect("STOPPING=1", Duration::from_secs(5));
    let status = gw.stop().expect("exit status");
    assert!(status.success(), "{status}\n{}", gw.log());
}
