//! `opd-gateway`: the daemon and its command line.

use std::{
    io::Write,
    path::PathBuf,
    process::ExitCode,
    time::{Duration, Instant},
};

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use gateway_common::{Counters, DIR_DOWNLOAD, DIR_UPLOAD, reason};
use opd_gateway::{
    dataplane::{self, Dataplane, RxVlanOffload},
    policy::{self, Policy},
    units::parse_duration,
};
use tokio::signal::unix::{SignalKind, signal};

#[derive(Parser)]
#[command(
    name = "opd-gateway",
    version,
    about = "Shares one internet uplink among agencies by VLAN, with XDP policing"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Load a policy, attach the XDP programs to its ports and enforce it until stopped
    /// (SIGINT/SIGTERM), printing per-agency rates.
    Run {
        /// Policy file, or directory of *.toml files.
        #[arg(short, long, value_name = "PATH")]
        policy: PathBuf,
        /// How often to print per-agency rates, e.g. "1s"; "0s" prints nothing.
        #[arg(long, default_value = "1s", value_parser = parse_interval)]
        interval: Duration,
    },
    /// Validate a policy without touching the kernel. Exit status: 0 valid, 1 invalid.
    Check {
        /// Policy file, or directory of *.toml files.
        policy: PathBuf,
    },
}

fn parse_interval(s: &str) -> Result<Duration, String> {
    parse_duration(s).map_err(|e| e.0)
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Check { policy } => return check(&policy),
        Command::Run { policy, interval } => run(&policy, interval),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn check(path: &std::path::Path) -> ExitCode {
    match policy::load(path) {
        Ok(p) => {
            println!(
                "{}: policy is valid: site \"{}\", {} agencies, {} file(s)",
                path.display(),
                p.site.name,
                p.agencies.len(),
                p.files.len()
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("{e}");
            ExitCode::FAILURE
        }
    }
}

fn run(path: &std::path::Path, interval: Duration) -> Result<()> {
    let policy = policy::load(path).map_err(|e| anyhow::anyhow!("{e}"))?;
    // Load and verify before touching any interface.
    let mut dp = Dataplane::load()?;
    dp.configure(&policy)?;
    for port in [&policy.site.lan, &policy.site.wan] {
        match dataplane::ensure_rx_vlan_in_frame(port) {
            Ok(RxVlanOffload::AlreadyOff) => {
                eprintln!(
                    "opd-gateway: {port}: rx VLAN offload is off: XDP reads tags from the frame"
                )
            }
            Ok(RxVlanOffload::SwitchedOff) => eprintln!(
                "opd-gateway: {port}: switched rx VLAN offload off so XDP sees the tags (ethtool -K {port} rxvlan off)"
            ),
            Err(e) => eprintln!(
                "opd-gateway: warning: {port}: cannot read or switch off rx VLAN offload ({e}); if the driver \
                 strips tags, every frame will look untagged: run `ethtool -K {port} rxvlan off`"
            ),
        }
    }
    dp.attach(&policy.site)?;
    eprintln!(
        "opd-gateway: enforcing \"{}\" ({} agencies) on lan={} wan={} ({:?} forwarding, {:?} XDP)",
        policy.site.name,
        policy.agencies.len(),
        policy.site.lan,
        policy.site.wan,
        policy.site.forwarding,
        policy.site.xdp_mode
    );

    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("failed to start the runtime")?;
    rt.block_on(report_until_stopped(&dp, &policy, interval))?;

    dp.detach().context("failed to detach the XDP programs")?;
    eprintln!("opd-gateway: stopped; programs detached");
    Ok(())
}

async fn report_until_stopped(dp: &Dataplane, policy: &Policy, interval: Duration) -> Result<()> {
    let mut sigint = signal(SignalKind::interrupt())?;
    let mut sigterm = signal(SignalKind::terminate())?;
    let tick = if interval.is_zero() {
        Duration::from_secs(3600)
    } else {
        interval
    };
    let mut ticker = tokio::time::interval(tick);
    let mut previous = Snapshot::take(dp, policy)?;
    let mut out = std::io::stdout().lock();
    ticker.tick().await;
    loop {
        tokio::select! {
            _ = sigint.recv() => break,
            _ = sigterm.recv() => break,
            _ = ticker.tick() => {
                if interval.is_zero() {
                    continue;
                }
                let now = Snapshot::take(dp, policy)?;
                print_rates(&mut out, policy, &previous, &now)?;
                previous = now;
            }
        }
    }
    Ok(())
}

struct Snapshot {
    at: Instant,
    /// [agency][direction]
    agencies: Vec<[Counters; 2]>,
    unclassified: [Counters; 2],
    control: [Counters; 2],
    malformed: [Counters; 2],
}

impl Snapshot {
    fn take(dp: &Dataplane, policy: &Policy) -> Result<Snapshot> {
        let both =
            |f: &dyn Fn(u32) -> Result<Counters, aya::maps::MapError>| -> Result<[Counters; 2]> {
                Ok([f(DIR_UPLOAD)?, f(DIR_DOWNLOAD)?])
            };
        let mut agencies = Vec::with_capacity(policy.agencies.len());
        for i in 0..policy.agencies.len() as u32 {
            agencies.push(both(&|d| dp.agency_counters(i, d)).context("failed to read counters")?);
        }
        Ok(Snapshot {
            at: Instant::now(),
            agencies,
            unclassified: both(&|d| dp.other_counters(reason::UNCLASSIFIED, d))?,
            control: both(&|d| dp.other_counters(reason::CONTROL, d))?,
            malformed: both(&|d| dp.other_counters(reason::MALFORMED, d))?,
        })
    }
}

fn mbps(bytes: u64, secs: f64) -> f64 {
    bytes as f64 * 8.0 / secs / 1e6
}

fn print_rates(out: &mut impl Write, policy: &Policy, a: &Snapshot, b: &Snapshot) -> Result<()> {
    let secs = b.at.duration_since(a.at).as_secs_f64().max(1e-3);
    writeln!(
        out,
        "{:<20} {:>6} | {:>9} {:>9} {:>9} | {:>9} {:>9} {:>9}",
        "agency", "vlan", "up Mbps", "limit", "drop Mbps", "down Mbps", "limit", "drop Mbps"
    )?;
    let delta = |x: &Counters, y: &Counters| Counters {
        passed_packets: y.passed_packets.wrapping_sub(x.passed_packets),
        passed_bytes: y.passed_bytes.wrapping_sub(x.passed_bytes),
        dropped_packets: y.dropped_packets.wrapping_sub(x.dropped_packets),
        dropped_bytes: y.dropped_bytes.wrapping_sub(x.dropped_bytes),
    };
    for (i, agency) in policy.agencies.iter().enumerate() {
        let up = delta(&a.agencies[i][0], &b.agencies[i][0]);
        let down = delta(&a.agencies[i][1], &b.agencies[i][1]);
        let vlan = agency
            .vlans
            .first()
            .map_or_else(|| "qinq".to_string(), |v| v.to_string());
        writeln!(
            out,
            "{:<20} {:>6} | {:>9.2} {:>9} {:>9.2} | {:>9.2} {:>9} {:>9.2}",
            truncate(&agency.id, 20),
            vlan,
            mbps(up.passed_bytes, secs),
            agency.upload.to_string(),
            mbps(up.dropped_bytes, secs),
            mbps(down.passed_bytes, secs),
            agency.download.to_string(),
            mbps(down.dropped_bytes, secs),
        )?;
    }
    let other = |name: &str, x: &[Counters; 2], y: &[Counters; 2]| {
        let up = delta(&x[0], &y[0]);
        let down = delta(&x[1], &y[1]);
        format!(
            "{name} {}/{} pkt/s",
            ((up.passed_packets + up.dropped_packets) as f64 / secs).round(),
            ((down.passed_packets + down.dropped_packets) as f64 / secs).round()
        )
    };
    writeln!(
        out,
        "({}, {}, {}; up/down)\n",
        other("unclassified", &a.unclassified, &b.unclassified),
        other("control", &a.control, &b.control),
        other("malformed", &a.malformed, &b.malformed),
    )?;
    out.flush()?;
    Ok(())
}

fn truncate(s: &str, n: usize) -> &str {
    match s.char_indices().nth(n) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}
