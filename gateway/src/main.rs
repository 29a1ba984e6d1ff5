//! `opd-gateway`: the daemon and its command line.

use std::{
    io::Write,
    path::{Path, PathBuf},
    process::ExitCode,
    sync::Arc,
    time::{Duration, Instant},
};

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use opd_gateway::{
    control::{Controller, monotonic_ns, unix_seconds},
    dataplane::{self, Dataplane, Pins, RxVlanOffload},
    metrics::{self, Exporter},
    policy::{self, Direction, rate},
    service::Notifier,
    units::parse_duration,
};
use tokio::signal::unix::{SignalKind, signal};
use tracing::{error, info, warn};

#[derive(Parser)]
#[command(
    name = "opd-gateway",
    version,
    about = "Shares one internet uplink among agencies by need, with XDP policing per agency VLAN"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Load a policy, attach the XDP programs to its ports and divide the uplink by need
    /// every tick until stopped (SIGINT/SIGTERM). SIGHUP, or any change to the policy's
    /// files, reloads it; a policy that fails validation is rejected and the running one
    /// stays in force.
    Run {
        /// Policy file, or directory of *.toml files.
        #[arg(short, long, value_name = "PATH")]
        policy: PathBuf,
        /// How often to print the per-agency table, e.g. "5s"; "0s" prints none.
        #[arg(long, default_value = "5s", value_parser = parse_interval)]
        interval: Duration,
        /// Where to serve /metrics (Prometheus) and /status (JSON, for `opd-gateway status`).
        #[arg(long, default_value = "127.0.0.1:9477", value_name = "ADDR:PORT")]
        listen: std::net::SocketAddr,
        /// Where maps and links are pinned in bpffs. They outlive the daemon: a restart adopts
        /// them with no gap and no reset of counters; `opd-gateway detach` removes them.
        #[arg(long, default_value = DEFAULT_PIN_DIR, value_name = "DIR")]
        pin_dir: PathBuf,
    },
    /// Remove everything the gateway pinned or attached (for decommissioning): the programs
    /// leave the ports, then the maps go. Traffic then flows unpoliced in bridge mode and
    /// stops in redirect mode (nothing forwards between the ports any more).
    Detach {
        #[arg(long, default_value = DEFAULT_PIN_DIR, value_name = "DIR")]
        pin_dir: PathBuf,
    },
    /// Show the running daemon's agencies: guarantee, ceiling, allocation, current rate,
    /// demand, drops and borrowing, per direction (from its local /status endpoint).
    Status {
        /// Where the daemon serves /status (its --listen address).
        #[arg(long, default_value = "127.0.0.1:9477", value_name = "ADDR:PORT")]
        endpoint: String,
        /// Print the status as JSON, for scripts.
        #[arg(long, conflicts_with = "watch")]
        json: bool,
        /// Refresh like `top` every interval (e.g. "2s") until Ctrl-C.
        #[arg(long, value_name = "INTERVAL", num_args = 0..=1, default_missing_value = "2s", value_parser = parse_interval)]
        watch: Option<Duration>,
    },
    /// Print a shell completion script (e.g. `opd-gateway completions bash >
    /// /usr/share/bash-completion/completions/opd-gateway`).
    Completions { shell: clap_complete::Shell },
    /// Write the manual pages (roff: opd-gateway.1 and one per subcommand) into a
    /// directory, generated from these very options.
    Manpages { dir: PathBuf },
    /// Validate a policy without touching the kernel, like `nginx -t`. Prints every error
    /// and warning with file, line and column. Exit status: 0 valid (warnings allowed),
    /// 1 invalid, 2 bad command line.
    Check {
        /// Policy file, or directory of *.toml files.
        policy: PathBuf,
    },
}

const DEFAULT_PIN_DIR: &str = "/sys/fs/bpf/opd-gateway";

fn parse_interval(s: &str) -> Result<Duration, String> {
    parse_duration(s).map_err(|e| e.0)
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Check { policy } => return check(&policy),
        Command::Completions { shell } => {
            let mut cmd = <Cli as clap::CommandFactory>::command();
            clap_complete::generate(shell, &mut cmd, "opd-gateway", &mut std::io::stdout());
            Ok(())
        }
        Command::Manpages { dir } => manpages(&dir),
        Command::Status {
            endpoint,
            json,
            watch,
        } => status(&endpoint, json, watch),
        Command::Run {
            policy,
            interval,
            listen,
            pin_dir,
        } => run(&policy, interval, listen, &pin_dir),
        Command::Detach { pin_dir } => detach(&pin_dir),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn fetch_status(endpoint: &str) -> Result<(String, metrics::Status)> {
    use std::io::{Read, Write as _};
    let mut s = std::net::TcpStream::connect(endpoint).with_context(|| {
        format!("cannot reach the daemon at {endpoint}: is `opd-gateway run` running (see its --listen)?")
    })?;
    s.set_read_timeout(Some(Duration::from_secs(5)))?;
    write!(
        s,
        "GET /status HTTP/1.1\r\nHost: {endpoint}\r\nConnection: close\r\n\r\n"
    )?;
    let mut raw = String::new();
    s.read_to_string(&mut raw)?;
    let (head, body) = raw
        .split_once("\r\n\r\n")
        .context("malformed HTTP response")?;
    anyhow::ensure!(
        head.starts_with("HTTP/1.1 200"),
        "the daemon answered: {}",
        head.lines().next().unwrap_or("")
    );
    let status = serde_json::from_str(body).context("malformed status")?;
    Ok((body.to_string(), status))
}

fn status(endpoint: &str, json: bool, watch: Option<Duration>) -> Result<()> {
    loop {
        let (raw, status) = fetch_status(endpoint)?;
        if json {
            println!("{raw}");
            return Ok(());
        }
        let mut out = std::io::stdout().lock();
        if watch.is_some() {
            write!(out, "\x1b[H\x1b[2J")?; // home, clear: a refreshing screen like top
        }
        write_status(&mut out, &status)?;
        out.flush()?;
        match watch {
            Some(every) => std::thread::sleep(every),
            None => return Ok(()),
        }
    }
}

fn write_status(out: &mut impl Write, s: &metrics::Status) -> Result<()> {
    let m = |bps: u64| format!("{:.1}", bps as f64 / 1e6);
    writeln!(
        out,
        "{} — policy {} (generation {}), tick {}; uplink {} / {} Mbps usable (up / down)",
        s.site,
        s.policy,
        s.generation,
        s.tick,
        m(s.usable_bps[0]),
        m(s.usable_bps[1])
    )?;
    for (dir, name) in [(0, "UPLOAD"), (1, "DOWNLOAD")] {
        writeln!(
            out,
            "\n{name:<9} {:<18} {:<8} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9}",
            "agency",
            "tier",
            "guarant.",
            "ceiling",
            "alloc.",
            "rate",
            "demand",
            "drops",
            "borrowed"
        )?;
        let mut total = 0;
        for a in &s.agencies {
            let f = if dir == 0 { &a.upload } else { &a.download };
            total += f.rate_bps;
            let id: String = a.id.chars().take(18).collect();
            writeln!(
                out,
                "{:<9} {id:<18} {:<8} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9}",
                "",
                a.tier,
                m(f.guaranteed_bps),
                m(f.ceiling_bps),
                m(f.allocated_bps),
                m(f.rate_bps),
                m(f.demand_bps),
                m(f.dropped_bps),
                m(f.borrowed_bps)
            )?;
        }
        writeln!(
            out,
            "{:<9} {:<18} {:<8} {:>9} {:>9} {:>9} {:>9}",
            "",
            "total",
            "",
            "",
            "",
            "",
            m(total)
        )?;
    }
    writeln!(
        out,
        "\n(Mbps; rate and drops over the last tick; borrowed = allocation above the guarantee)"
    )?;
    Ok(())
}

fn check(path: &Path) -> ExitCode {
    match policy::load(path) {
        Ok(p) => {
            for w in &p.warnings {
                eprintln!("{w}");
            }
            println!(
                "{}: policy is valid: site \"{}\", {} agencies in {} file(s), {} warning(s)",
                path.display(),
                p.site.name,
                p.agencies.len(),
                p.files.len(),
                p.warnings.len()
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("{e}");
            ExitCode::FAILURE
        }
    }
}

/// Logs to standard error, one line per event with its fields; under systemd (which sets
/// JOURNAL_STREAM) without timestamps or colours, as the journal adds its own.
fn init_logging() {
    let journal = std::env::var_os("JOURNAL_STREAM").is_some();
    let b = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_target(false)
        .with_ansi(!journal && std::io::IsTerminal::is_terminal(&std::io::stderr()));
    if journal {
        b.without_time().init();
    } else {
        b.init();
    }
}

/// Each finding in a policy as its own event, with its position as fields.
fn log_diagnostics(diags: &[policy::Diagnostic]) {
    for d in diags {
        let (file, line, column) = (d.file.display().to_string(), d.line, d.column);
        let hint = d.hint.as_deref().unwrap_or("");
        match d.severity {
            policy::Severity::Error => error!(%file, line, column, hint, "{}", d.message),
            policy::Severity::Warning => warn!(%file, line, column, hint, "{}", d.message),
        }
    }
}

fn manpages(dir: &Path) -> Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let cmd = <Cli as clap::CommandFactory>::command();
    let mut pages = vec![("opd-gateway".to_string(), cmd.clone())];
    for sub in cmd.get_subcommands().filter(|s| s.get_name() != "help") {
        let name = format!("opd-gateway-{}", sub.get_name());
        pages.push((name.clone(), sub.clone().name(name)));
    }
    for (name, page) in pages {
        let path = dir.join(format!("{name}.1"));
        let mut file = std::fs::File::create(&path)
            .with_context(|| format!("cannot write {}", path.display()))?;
        clap_mangen::Man::new(page).render(&mut file)?;
    }
    Ok(())
}

fn detach(dir: &Path) -> Result<()> {
    let removed = dataplane::remove_pins(dir, false)?;
    if removed.is_empty() {
        println!("nothing pinned under {}", dir.display());
    } else {
        println!("removed from {}: {}", dir.display(), removed.join(", "));
    }
    Ok(())
}

fn run(
    path: &Path,
    interval: Duration,
    listen: std::net::SocketAddr,
    pin_dir: &Path,
) -> Result<()> {
    init_logging();
    let policy = match policy::load(path) {
        Ok(p) => p,
        Err(e) => {
            log_diagnostics(&e.diagnostics);
            anyhow::bail!(
                "the policy at {} is invalid ({} errors); `opd-gateway check {}` lists them",
                path.display(),
                e.errors().count(),
                path.display()
            );
        }
    };
    log_diagnostics(&policy.warnings);
    // Load and verify before touching any interface.
    let (mut dp, pins) = Dataplane::load_pinned(pin_dir)?;
    let known = match pins {
        Pins::Fresh => {
            info!(pin_dir = %pin_dir.display(), "maps created and pinned");
            Default::default()
        }
        Pins::Adopted { slots } => {
            info!(
                pin_dir = %pin_dir.display(),
                agencies = slots.len(),
                "adopted the pinned maps: counters, buckets and rates carry on"
            );
            slots
        }
        Pins::Replaced { reason } => {
            warn!(pin_dir = %pin_dir.display(), %reason, "pinned maps of another layout replaced; counters start at zero");
            Default::default()
        }
    };
    let mut ctl = Controller::adopt(policy, &mut dp, known)?;
    ctl.tick(&mut dp, monotonic_ns(), unix_seconds())?;
    let site = ctl.policy().site.clone();
    for port in [&site.lan, &site.wan] {
        match dataplane::ensure_rx_vlan_in_frame(port) {
            Ok(RxVlanOffload::AlreadyOff) => {
                info!(%port, "rx VLAN offload is off: XDP reads tags from the frame")
            }
            Ok(RxVlanOffload::SwitchedOff) => info!(
                %port,
                "switched rx VLAN offload off so XDP sees the tags (as ethtool -K {port} rxvlan off)"
            ),
            Err(e) => warn!(
                %port,
                error = %e,
                "cannot read or switch off rx VLAN offload; if the driver strips tags, every frame \
                 will look untagged: run `ethtool -K {port} rxvlan off`"
            ),
        }
    }
    dp.attach(&site)?;
    info!(
        site = %site.name,
        agencies = ctl.policy().agencies.len(),
        policy = %format_args!("{:016x}", ctl.policy().fingerprint),
        lan = %site.lan,
        wan = %site.wan,
        forwarding = ?site.forwarding,
        xdp_mode = ?site.xdp_mode,
        capacity_up = %rate(site.capacity[0]),
        capacity_down = %rate(site.capacity[1]),
        tick = ?site.tick,
        "enforcing"
    );

    let notifier = Notifier::from_env().context("cannot open $NOTIFY_SOCKET")?;
    notifier.ready(&format!(
        "enforcing policy {:016x}: {} agencies",
        ctl.policy().fingerprint,
        ctl.policy().agencies.len()
    ));
    let exporter = Arc::new(Exporter::new(dp.counter_maps()?));
    exporter.policy_loaded();
    exporter.update(&ctl, 1);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("failed to start the runtime")?;
    rt.block_on(async {
        let listener = tokio::net::TcpListener::bind(listen)
            .await
            .with_context(|| {
                format!(
                    "cannot listen on {listen} for /metrics (another process there? see --listen)"
                )
            })?;
        info!(%listen, "serving /metrics and /status");
        let server = tokio::spawn(metrics::serve(listener, exporter.clone()));
        let result = control_loop(&mut dp, &mut ctl, path, interval, &exporter, &notifier).await;
        server.abort();
        result
    })?;

    info!(
        pin_dir = %pin_dir.display(),
        "stopped; the programs stay attached and keep enforcing (rates fall back to the static \
         division at expiry) until a new daemon adopts them or `opd-gateway detach` removes them"
    );
    Ok(())
}

/// Files of the policy with their identity and modification time: a change here means an
/// admin saved something (editors often save by writing a new file and renaming it).
fn stat_policy(path: &Path) -> Vec<(PathBuf, u64, u64, i64, i64)> {
    use std::os::unix::fs::MetadataExt;
    let mut files = policy::policy_files(path).unwrap_or_default();
    files.sort();
    files
        .into_iter()
        .filter_map(|f| {
            let m = std::fs::metadata(&f).ok()?;
            Some((f, m.ino(), m.size(), m.mtime(), m.mtime_nsec()))
        })
        .collect()
}

async fn control_loop(
    dp: &mut Dataplane,
    ctl: &mut Controller,
    path: &Path,
    interval: Duration,
    exporter: &Exporter,
    notifier: &Notifier,
) -> Result<()> {
    let mut generation = 1;
    // Pinged from this loop, so a stuck tick or reload stops the pings and systemd acts.
    let mut watchdog =
        tokio::time::interval(notifier.watchdog_every.unwrap_or(Duration::from_secs(3600)));
    let mut sigint = signal(SignalKind::interrupt())?;
    let mut sigterm = signal(SignalKind::terminate())?;
    let mut sighup = signal(SignalKind::hangup())?;
    let mut tick = ctl.policy().site.tick;
    let mut ticker = tokio::time::interval(tick);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    ticker.tick().await;
    let mut seen = stat_policy(path);
    let mut pending: Option<Vec<_>> = None;
    let mut last_print = Instant::now();
    let mut out = std::io::stdout().lock();
    loop {
        let mut reload_now = false;
        tokio::select! {
            _ = sigint.recv() => break,
            _ = sigterm.recv() => break,
            _ = watchdog.tick() => {
                if notifier.watchdog_every.is_some() {
                    notifier.watchdog();
                }
            }
            _ = sighup.recv() => {
                info!(path = %path.display(), "SIGHUP: reloading");
                reload_now = true;
            }
            _ = ticker.tick() => {
                let started = Instant::now();
                ctl.tick(dp, monotonic_ns(), unix_seconds())?;
                exporter.tick_seconds.observe(started.elapsed().as_secs_f64());
                exporter.ticks.inc();
                exporter.update(ctl, generation);
                if !interval.is_zero() && last_print.elapsed() >= interval {
                    print_table(&mut out, ctl)?;
                    last_print = Instant::now();
                }
                // A change is reloaded once it has stayed put for a tick, so a save in
                // several steps is read whole.
                let now = stat_policy(path);
                if now != seen {
                    if pending.as_ref() == Some(&now) {
                        info!(path = %path.display(), "policy files changed: reloading");
                        reload_now = true;
                    } else {
                        pending = Some(now);
                    }
                }
            }
        }
        if reload_now {
            seen = stat_policy(path);
            pending = None;
            notifier.reloading();
            match reload(dp, ctl, path)? {
                Reload::Applied => {
                    generation += 1;
                    exporter.reloads.with_label_values(&["success"]).inc();
                    exporter.policy_loaded();
                    exporter.update(ctl, generation);
                }
                Reload::Rejected => exporter.reloads.with_label_values(&["failure"]).inc(),
                Reload::Unchanged => {}
            }
            notifier.ready(&format!(
                "enforcing policy {:016x}: {} agencies",
                ctl.policy().fingerprint,
                ctl.policy().agencies.len()
            ));
            if ctl.policy().site.tick != tick {
                tick = ctl.policy().site.tick;
                ticker = tokio::time::interval(tick);
                ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                ticker.tick().await;
            }
        }
    }
    notifier.stopping();
    Ok(())
}

enum Reload {
    Applied,
    Rejected,
    Unchanged,
}

/// Validates the policy on disk completely; applies it only if valid, else logs why and
/// keeps the running one. Errors only when the data plane itself fails.
fn reload(dp: &mut Dataplane, ctl: &mut Controller, path: &Path) -> Result<Reload> {
    let running = format!("{:016x}", ctl.policy().fingerprint);
    let new = match policy::load(path) {
        Ok(p) => p,
        Err(e) => {
            warn!(
                policy = %running,
                errors = e.errors().count(),
                "reload rejected; the running policy stays in force"
            );
            log_diagnostics(&e.diagnostics);
            return Ok(Reload::Rejected);
        }
    };
    if new.fingerprint == ctl.policy().fingerprint {
        info!(policy = %running, "policy unchanged");
        return Ok(Reload::Unchanged);
    }
    let (old, next) = (&ctl.policy().site, &new.site);
    if old.lan != next.lan || old.wan != next.wan || old.xdp_mode != next.xdp_mode {
        warn!(
            policy = %running,
            "reload rejected; the running policy stays in force: changing `lan`, `wan` or \
             `xdp_mode` moves the programs to other ports: restart the service to apply it"
        );
        return Ok(Reload::Rejected);
    }
    log_diagnostics(&new.warnings);
    let (to, n) = (format!("{:016x}", new.fingerprint), new.agencies.len());
    ctl.reload(new, dp)?;
    ctl.tick(dp, monotonic_ns(), unix_seconds())?;
    info!(from = %running, to = %to, agencies = n, "policy reloaded");
    Ok(Reload::Applied)
}

fn mbps(bps: u64) -> String {
    format!("{:.1}", bps as f64 / 1e6)
}

fn print_table(out: &mut impl Write, ctl: &Controller) -> Result<()> {
    writeln!(
        out,
        "{:<18} {:<8} | {:>26} | {:>26}",
        "agency", "tier", "upload Mbps: rate/alloc/guar", "download Mbps: rate/alloc/guar"
    )?;
    let mut sum = [0u64; 2];
    for (a, t) in ctl.policy().agencies.iter().zip(ctl.tracked()) {
        let mut cell = |d: Direction| {
            let f = t.flows[d.index()];
            sum[d.index()] += f.passed_rate;
            let drop = if f.dropped_rate > 0 {
                format!(" -{}", mbps(f.dropped_rate))
            } else {
                String::new()
            };
            format!(
                "{}/{}/{}{drop}",
                mbps(f.passed_rate),
                mbps(f.allocated),
                mbps(f.guaranteed)
            )
        };
        let (up, down) = (cell(Direction::Upload), cell(Direction::Download));
        let id: String = a.id.chars().take(18).collect();
        writeln!(
            out,
            "{id:<18} {:<8} | {up:>26} | {down:>26}",
            format!("{:?}", a.tier).to_lowercase()
        )?;
    }
    let site = &ctl.policy().site;
    writeln!(
        out,
        "uplink: {} of {} Mbps up, {} of {} Mbps down in use (tick {})\n",
        mbps(sum[0]),
        mbps(site.usable(Direction::Upload)),
        mbps(sum[1]),
        mbps(site.usable(Direction::Download)),
        ctl.ticks
    )?;
    out.flush()?;
    Ok(())
}
