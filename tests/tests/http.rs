//! The daemon's HTTP endpoints under abuse: a flood of idle connections, and accept failing
//! for want of file descriptors. Neither may grow the daemon without bound, spin a CPU, or
//! keep `/metrics` from answering once the abuse ends. Needs root; run by `cargo xtask test`.

use std::{
    net::TcpStream,
    time::{Duration, Instant},
};

use opd_testbed::{
    AgencyText, Bed, DAEMON_ADDR as METRICS, Forwarding, Limit, PolicyText, http_get, sh,
};

/// A gateway with one agency, answering /metrics.
fn gateway() -> Bed {
    let policy = PolicyText::simulated_regency(Forwarding::Redirect)
        .unclassified("drop")
        .agency(
            AgencyText::new("dinkes")
                .vlans(&[110])
                .both(Limit::rate("10Mbps")),
        );
    let bed = Bed::start(&[110], Forwarding::Redirect, &policy, "0s");
    let deadline = Instant::now() + Duration::from_secs(10);
    while !matches!(
        http_get(&bed.net.gateway, METRICS, "/metrics"),
        Ok((200, _))
    ) {
        assert!(Instant::now() < deadline, "/metrics did not answer");
        std::thread::sleep(Duration::from_millis(100));
    }
    bed
}

/// A value from /proc/<pid>/status, e.g. "VmRSS" (kB) or "Threads".
fn proc_status(pid: u32, key: &str) -> u64 {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("the daemon runs");
    text.lines()
        .find_map(|l| l.strip_prefix(key)?.strip_prefix(':'))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or_else(|| panic!("no {key} in /proc/{pid}/status"))
}

/// Descriptors the process holds open.
fn descriptors(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .expect("the daemon runs")
        .count()
}

/// CPU time the process used so far (user + system), in clock ticks.
fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("the daemon runs");
    // Fields after the command name (which may hold spaces) end with ')'.
    let after = &stat[stat.rfind(')').expect("stat has a command") + 2..];
    let f: Vec<&str> = after.split_whitespace().collect();
    f[11].parse::<u64>().unwrap() + f[12].parse::<u64>().unwrap()
}

/// Opens `n` connections to the daemon from inside its namespace that send nothing.
fn idle_connections(bed: &Bed, n: usize) -> Vec<TcpStream> {
    bed.net.gateway.enter(|| {
        (0..n)
            .filter_map(|_| {
                TcpStream::connect_timeout(&METRICS.parse().unwrap(), Duration::from_millis(300))
                    .ok()
            })
            .collect()
    })
}

#[test]
fn a_flood_of_idle_connections_is_bounded_and_over_when_they_go() {
    let mut bed = gateway();
    let pid = bed.gateway.child.as_ref().unwrap().id();
    let (rss, fds) = (proc_status(pid, "VmRSS"), descriptors(pid));
    // More than the daemon serves at once.
    let n = opd_gateway::http::MAX_CONNECTIONS + 200;
    let flood = idle_connections(&bed, n);
    // The kernel queues what the daemon does not take (a few may be refused when its queue
    // is full).
    assert!(
        flood.len() > opd_gateway::http::MAX_CONNECTIONS,
        "only {} connections opened",
        flood.len()
    );
    std::thread::sleep(Duration::from_secs(2));
    let (rss_flooded, fds_flooded) = (proc_status(pid, "VmRSS"), descriptors(pid));
    eprintln!(
        "{} idle connections: descriptors {fds} → {fds_flooded}, resident {rss} → {rss_flooded} kB",
        flood.len()
    );
    assert!(
        fds_flooded <= fds + opd_gateway::http::MAX_CONNECTIONS,
        "the daemon took {} connections at once; it serves at most {}",
        fds_flooded - fds,
        opd_gateway::http::MAX_CONNECTIONS
    );
    assert!(
        rss_flooded < rss + 8 * 1024,
        "the daemon grew from {rss} to {rss_flooded} kB under {} idle connections",
        flood.len()
    );
    drop(flood);
    // Once they are gone, the next scrape is served at once.
    let start = Instant::now();
    let (code, _) = http_get(&bed.net.gateway, METRICS, "/metrics").expect("GET /metrics");
    assert_eq!(code, 200);
    assert!(
        start.elapsed() < Duration::from_secs(2),
        "/metrics took {:?} after the flood",
        start.elapsed()
    );
    assert!(bed.gateway.running(), "the daemon died under the flood");
}

#[test]
fn accept_failing_for_want_of_descriptors_does_not_spin() {
    let mut bed = gateway();
    let pid = bed.gateway.child.as_ref().unwrap().id();
    // Few descriptors left for connections: accept fails with EMFILE once they are used.
    let open = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .count();
    let limit = open + 8;
    sh(std::process::Command::new("prlimit")
        .arg(format!("--pid={pid}"))
        .arg(format!("--nofile={limit}:{limit}")));
    let flood = idle_connections(&bed, 40);
    let ticks = cpu_ticks(pid);
    std::thread::sleep(Duration::from_secs(3));
    let used = cpu_ticks(pid) - ticks;
    // SAFETY: no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as u64;
    eprintln!(
        "{} connections against {limit} descriptors: the daemon used {used} of {} CPU ticks in 3 s",
        flood.len(),
        3 * hz
    );
    assert!(
        used * 10 < 3 * hz,
        "the daemon used {used} CPU ticks of {} in 3 s while accept failed: it spins",
        3 * hz
    );
    drop(flood);
    // The descriptors come back when the idle connections are closed; the scrape then works.
    let deadline = Instant::now() + Duration::from_secs(15);
    while !matches!(
        http_get(&bed.net.gateway, METRICS, "/metrics"),
        Ok((200, _))
    ) {
        assert!(
            Instant::now() < deadline,
            "/metrics does not answer after the descriptors came back"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(bed.gateway.running(), "the daemon died when accept failed");
}
