//! `cargo xtask demo`: the real `opd-gateway` on a simulated agency network, with traffic.
//!
//! Every agency of the policy gets a host pair on its VLAN; each host floods the gateway at
//! twice the agency's limit in both directions while the gateway prints per-agency rates.
//! At the end the demo prints what the receivers got against each limit. Everything is
//! removed on exit, also on Ctrl-C.

use std::{
    net::SocketAddrV4,
    path::PathBuf,
    sync::atomic::{AtomicBool, Ordering},
    time::{Duration, Instant},
};

use opd_gateway::policy::{self, Limit};
use opd_testbed::{
    Forwarding, SimNetwork, TempDir,
    traffic::{Flood, receive, wait_reachable},
};

const DEFAULT_POLICY: &str = include_str!("../../../policies/simulated-regency.toml");
const PAYLOAD: usize = 1400;

static STOP: AtomicBool = AtomicBool::new(false);

extern "C" fn on_signal(_: libc::c_int) {
    STOP.store(true, Ordering::Relaxed);
}

fn usage() -> ! {
    eprintln!(
        "usage: cargo xtask demo -- [--duration SECONDS] [--policy FILE]\n\
         Runs opd-gateway on a simulated regency (default: policies/simulated-regency.toml;\n\
         a policy for the simulation names its ports `lan` and `wan`)."
    );
    std::process::exit(2)
}

fn main() {
    let mut duration = Duration::from_secs(20);
    let mut policy_file: Option<PathBuf> = None;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--duration" => {
                let v = args.next().unwrap_or_else(|| usage());
                let secs: u64 = v.trim_end_matches('s').parse().unwrap_or_else(|_| usage());
                duration = Duration::from_secs(secs.max(5));
            }
            "--policy" => policy_file = Some(args.next().unwrap_or_else(|| usage()).into()),
            _ => usage(),
        }
    }
    // SAFETY: the handler only stores to an atomic.
    unsafe {
        libc::signal(libc::SIGINT, on_signal as *const () as libc::sighandler_t);
        libc::signal(libc::SIGTERM, on_signal as *const () as libc::sighandler_t);
    }

    let dir = TempDir::new("demo");
    let path = match policy_file {
        Some(p) => p,
        None => dir.write("simulated-regency.toml", DEFAULT_POLICY),
    };
    let policy = match policy::load(&path) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(1);
        }
    };
    let vids: Vec<u16> = policy
        .agencies
        .iter()
        .map(|a| *a.vlans.first().expect("demo agencies have a VLAN"))
        .collect();
    let forwarding = match policy.site.forwarding {
        policy::Forwarding::Redirect => Forwarding::Redirect,
        policy::Forwarding::Bridge => Forwarding::Bridge,
    };
    println!(
        "Building the simulated network: gateway, switch, and a host pair for each of {} agencies…",
        vids.len()
    );
    let net = SimNetwork::new(&vids, forwarding);
    let mut gw = net.start_gateway(&path, "2s");
    for &vid in &vids {
        let h = net.vlan(vid);
        wait_reachable(&h.agency_side, h.upstream_ip);
    }
    println!(
        "Every agency now floods at twice its limit, upload and download, for {}s. \
         The gateway prints what it passes and drops:\n",
        duration.as_secs()
    );

    let start = Instant::now();
    let offered = |l: Limit| match l {
        Limit::Rate { rate, .. } => 2.0 * rate.bits_per_second() as f64,
        Limit::Unlimited => 20e6,
    };
    let mut flows = Vec::new();
    for (agency, &vid) in policy.agencies.iter().zip(&vids) {
        let h = net.vlan(vid);
        for (upload, limit) in [(true, agency.upload), (false, agency.download)] {
            let (from, to, ip) = if upload {
                (&h.agency_side, &h.upstream_side, h.upstream_ip)
            } else {
                (&h.upstream_side, &h.agency_side, h.agency_ip)
            };
            let addr = SocketAddrV4::new(ip, 5001);
            let rx = receive(
                to,
                addr,
                PAYLOAD,
                start + duration + Duration::from_millis(300),
            );
            let tx = Flood {
                to: addr,
                payload: PAYLOAD,
                frame_bits_per_second: offered(limit),
                duration,
                cpu: None,
            }
            .start(from);
            flows.push((agency.id.clone(), upload, limit, tx, rx));
        }
    }
    while start.elapsed() < duration + Duration::from_millis(400) {
        if STOP.load(Ordering::Relaxed) {
            println!("\nInterrupted: removing the simulated network.");
            gw.stop();
            return; // the network and scratch files go with their guards
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    gw.stop();

    println!("\nWhat the receivers got (whole frames, after the first 2 s):");
    println!(
        "{:<14} {:<9} {:>10} {:>12} {:>8}",
        "agency", "direction", "limit", "delivered", "ratio"
    );
    for (id, upload, limit, tx, rx) in flows {
        tx.join().expect("sender");
        let arrivals = rx.join().expect("receiver");
        let from = start + Duration::from_secs(2);
        let delivered = arrivals.frame_rate(from, start + duration);
        let (limit_text, ratio) = match limit {
            Limit::Rate { rate, .. } => (
                rate.to_string(),
                format!("{:.3}", delivered / rate.bits_per_second() as f64),
            ),
            Limit::Unlimited => ("unlimited".into(), "-".into()),
        };
        println!(
            "{:<14} {:<9} {:>10} {:>9.2} Mbps {:>8}",
            id,
            if upload { "upload" } else { "download" },
            limit_text,
            delivered / 1e6,
            ratio
        );
    }
    println!("\nSimulated network removed.");
}
