//! `opd-gateway`: the daemon and its command line.

use std::{
    io::Write,
    path::{Path, PathBuf},
    process::ExitCode,
    time::Duration,
};

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use opd_gateway::{
    DEFAULT_LISTEN, daemon, history, policy, report as needs, status, units::parse_duration,
};

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
        /// Where to serve the office's page (/), /metrics (Prometheus) and /status (JSON, for
        /// `opd-gateway status`). Another address than loopback needs --credential.
        #[arg(long, default_value = DEFAULT_LISTEN, value_name = "ADDR:PORT")]
        listen: std::net::SocketAddr,
        /// Where maps and links are pinned in bpffs. They outlive the daemon: a restart adopts
        /// them with no gap and no reset of counters; `opd-gateway detach` removes them.
        #[arg(long, default_value = DEFAULT_PIN_DIR, value_name = "DIR")]
        pin_dir: PathBuf,
        /// Where the history is kept (history.sqlite): each agency's traffic and demand every
        /// minute, read by `opd-gateway report`. The service's StateDirectory.
        #[arg(long, default_value = DEFAULT_STATE_DIR, value_name = "DIR")]
        state_dir: PathBuf,
        /// Days the 5-minute rows are kept (the 1-minute rows: 14 days).
        #[arg(long, default_value_t = 400, value_name = "DAYS", value_parser = clap::value_parser!(u64).range(1..=36_500))]
        history_days: u64,
        /// Record no history.
        #[arg(long)]
        no_history: bool,
        /// A file with one secret line that every request to --listen must carry (as the
        /// password of HTTP basic authentication, any user name, or a bearer token).
        /// Required when --listen is not a loopback address; never put it in a policy.
        #[arg(long, value_name = "FILE")]
        credential: Option<PathBuf>,
        /// A history row's length instead of a minute (for tests).
        #[arg(long, default_value = "60s", hide = true, value_parser = parse_interval)]
        history_minute: Duration,
    },
    /// What each agency used and needed over a period, from the history the daemon keeps:
    /// 95th percentile of 5-minute averages (nearest rank, as ISPs bill), peak, mean, office
    /// hours against the rest, how often it was held back, a recommended guarantee and
    /// ceiling for next year, and for the site the pooled uplink needed against the former
    /// packages (and their prices, from [site.costs]). Reads while the daemon runs.
    Report(ReportArgs),
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
        #[arg(long, default_value = DEFAULT_LISTEN, value_name = "ADDR:PORT")]
        endpoint: String,
        /// Print the status as JSON, for scripts.
        #[arg(long, conflicts_with = "watch")]
        json: bool,
        /// Refresh like `top` every interval (e.g. "2s") until Ctrl-C.
        #[arg(long, value_name = "INTERVAL", num_args = 0..=1, default_missing_value = "2s", value_parser = parse_interval)]
        watch: Option<Duration>,
        /// List one agency's busiest hosts (by address, rates over half a second) instead:
        /// who is using the agency's rate.
        #[arg(long, value_name = "AGENCY")]
        hosts: Option<String>,
        /// How many hosts --hosts lists.
        #[arg(long, value_name = "N", default_value_t = 20, requires = "hosts")]
        top: usize,
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
        /// Language of the messages: "id" (Bahasa Indonesia) or "en" (English). By default
        /// from the locale: Bahasa Indonesia when LC_ALL, LC_MESSAGES or LANG is id_*.
        #[arg(long, value_name = "id|en", value_parser = parse_lang)]
        lang: Option<policy::Lang>,
    },
}

const DEFAULT_PIN_DIR: &str = "/sys/fs/bpf/opd-gateway";
const DEFAULT_STATE_DIR: &str = "/var/lib/opd-gateway";

fn parse_interval(s: &str) -> Result<Duration, String> {
    parse_duration(s).map_err(|e| e.to_string())
}

fn parse_lang(s: &str) -> Result<policy::Lang, String> {
    policy::Lang::parse(s).ok_or_else(|| format!("\"{s}\": use \"id\" or \"en\""))
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Check { policy, lang } => {
            return check(&policy, lang.unwrap_or_else(policy::Lang::from_env));
        }
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
            hosts,
            top,
        } => show_status(&endpoint, json, watch, hosts.as_deref().map(|a| (a, top))),
        Command::Run {
            policy,
            interval,
            listen,
            pin_dir,
            state_dir,
            history_days,
            no_history,
            history_minute,
            credential,
        } => {
            init_logging();
            daemon::run(&daemon::Options {
                policy,
                interval,
                listen,
                pin_dir,
                history: (!no_history).then(|| history::Options {
                    dir: state_dir,
                    keep: Duration::from_secs(history_days * 86_400),
                    keep_minutes: history::KEEP_MINUTES,
                }),
                history_minute,
                credential,
            })
            .map_err(Into::into)
        }
        Command::Report(args) => report(args),
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

/// Prints the status once, as JSON, or refreshed every `watch` like `top` until killed.
/// With `hosts`, an agency's busiest hosts (at most that many) instead.
fn show_status(
    endpoint: &str,
    json: bool,
    watch: Option<Duration>,
    hosts: Option<(&str, usize)>,
) -> Result<()> {
    loop {
        let mut out = std::io::stdout().lock();
        if let Some((agency, top)) = hosts {
            let (raw, h) = status::fetch_hosts(endpoint, agency, top)?;
            if json {
                println!("{raw}");
                return Ok(());
            }
            if watch.is_some() {
                write!(out, "\x1b[H\x1b[2J")?;
            }
            status::write_hosts(&mut out, &h)?;
        } else {
            let (raw, s) = status::fetch(endpoint)?;
            if json {
                println!("{raw}");
                return Ok(());
            }
            if watch.is_some() {
                write!(out, "\x1b[H\x1b[2J")?; // home, clear: a refreshing screen like top
            }
            status::write_table(&mut out, &s)?;
        }
        out.flush()?;
        match watch {
            Some(every) => std::thread::sleep(every),
            None => return Ok(()),
        }
    }
}

fn check(path: &Path, lang: policy::Lang) -> ExitCode {
    match policy::load(path) {
        Ok(p) => {
            for w in &p.warnings {
                eprintln!("{}", w.render(lang));
            }
            let valid = policy::Msg::new(policy::MsgId::PolicyValid)
                .arg("path", path.display())
                .arg("site", &p.site.name)
                .arg("agencies", p.agencies.len())
                .arg("files", p.files.len())
                .arg("warnings", p.warnings.len());
            println!("{}", valid.text(lang));
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("{}", e.render(lang));
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
    let removed = daemon::detach(dir)?;
    if removed.is_empty() {
        println!("nothing pinned under {}", dir.display());
    } else {
        println!("removed from {}: {}", dir.display(), removed.join(", "));
    }
    Ok(())
}

#[derive(clap::Args)]
struct ReportArgs {
    /// The daemon's --state-dir.
    #[arg(long, default_value = DEFAULT_STATE_DIR, value_name = "DIR")]
    state_dir: PathBuf,
    /// First day, e.g. 2026-01-01 (local date of the site); default: the first recorded.
    #[arg(long, value_name = "DATE")]
    from: Option<String>,
    /// Last day, included; default: the last recorded.
    #[arg(long, value_name = "DATE")]
    to: Option<String>,
    /// Only this agency (by id); repeat for several.
    #[arg(long, value_name = "ID")]
    agency: Vec<String>,
    /// table (terminal), csv (one row per agency and direction) or html (one printable
    /// page with charts).
    #[arg(long, default_value = "table", value_parser = ["table", "csv", "html"])]
    format: String,
    /// Language: "id" or "en". Default: Bahasa Indonesia for html, else from the locale.
    #[arg(long, value_name = "id|en", value_parser = parse_lang)]
    lang: Option<policy::Lang>,
    /// Office hours, in the site's time zone.
    #[arg(
        long,
        default_value = "mon-fri 07:30-16:00",
        value_name = "DAYS HH:MM-HH:MM"
    )]
    office_hours: String,
    /// Kept above the 95th percentile of the pooled need when sizing the uplink, percent.
    #[arg(long, default_value_t = 20, value_name = "PERCENT", value_parser = clap::value_parser!(u64).range(0..=1000))]
    headroom: u64,
    /// Write to this file instead of standard output.
    #[arg(short, long, value_name = "FILE")]
    output: Option<PathBuf>,
}

/// `opd-gateway report`: reads the history (read-only, beside a running daemon) and writes
/// the needs report.
fn report(a: ReportArgs) -> Result<()> {
    let store = history::Store::open_read(&history::path_in(&a.state_dir))?;
    let office = needs::OfficeHours::parse(&a.office_hours).map_err(anyhow::Error::msg)?;
    // Dates are local to the site; its time zone is in the history.
    let (first, last) = store.span()?;
    let tz = store
        .site()?
        .as_ref()
        .map(|s| policy::TimeZone {
            name: s.timezone.clone(),
            offset_seconds: s.offset_seconds,
        })
        .unwrap_or_default();
    let from = match &a.from {
        Some(d) => needs::parse_date(d, &tz).map_err(|e| anyhow::anyhow!("--from {e}"))?,
        None => first.unwrap_or(0),
    };
    let to = match &a.to {
        Some(d) => needs::parse_date(d, &tz).map_err(|e| anyhow::anyhow!("--to {e}"))? + 86_400,
        None => last.map(|l| l + 1).unwrap_or(from + 1).max(from + 1),
    };
    if to <= from {
        anyhow::bail!("--to is before --from: the period is empty");
    }
    let known = store.agency_ids()?;
    for id in &a.agency {
        if !known.contains(id) {
            anyhow::bail!(
                "--agency {id}: no such agency in the history (recorded: {})",
                known.join(", ")
            );
        }
    }
    let history = store.read(from, to)?;
    let r = needs::Report::compute(
        &history,
        &needs::Options {
            from,
            to,
            agencies: a.agency,
            office,
            headroom_percent: a.headroom,
        },
    );
    let lang = a.lang.unwrap_or(if a.format == "html" {
        policy::Lang::Id
    } else {
        policy::Lang::from_env()
    });
    let mut buf = Vec::new();
    match a.format.as_str() {
        "csv" => needs::text::write_csv(&mut buf, &r)?,
        "html" => needs::html::write(&mut buf, &r, lang)?,
        _ => needs::text::write_table(&mut buf, &r, lang)?,
    }
    match &a.output {
        Some(path) => std::fs::write(path, &buf)
            .with_context(|| format!("cannot write {}", path.display()))?,
        None => std::io::stdout().write_all(&buf)?,
    }
    Ok(())
}
