//! `opd-gateway run`: loads the policy and the programs, attaches to the ports, then ticks,
//! reloads and serves `/metrics` until stopped.

mod table;
mod watch;

use std::{
    net::SocketAddr,
    path::{Path, PathBuf},
    sync::Arc,
    time::{Duration, Instant},
};

use tokio::signal::unix::{SignalKind, signal};
use tracing::{error, info, warn};

pub use watch::PolicyWatcher;

use crate::{
    control::{ControlError, Controller, Snapshot, monotonic_ns, unix_seconds},
    dataplane::{
        AttachMode, Contents, Dataplane, DataplaneError, Pins, Ports,
        nic::{RxVlanOffload, ensure_rx_vlan_in_frame},
    },
    history::{self, Recorder, Writer},
    http,
    metrics::Exporter,
    policy::{self, Forwarding, Policy, XdpMode, rate},
    service::Notifier,
    web::{self, Credential, Web},
};

/// What `opd-gateway run` is told.
#[derive(Debug, Clone)]
pub struct Options {
    /// Policy file, or directory of *.toml files.
    pub policy: PathBuf,
    /// How often to print the per-agency table; zero for never.
    pub interval: Duration,
    /// Where to serve /metrics and /status.
    pub listen: SocketAddr,
    /// Where maps and links are pinned in bpffs.
    pub pin_dir: PathBuf,
    /// Where and how long the history is kept; none records none.
    pub history: Option<history::Options>,
    /// A history row's length: a minute, shorter in tests.
    pub history_minute: Duration,
    /// A file holding the secret every HTTP request must carry; required on a listener
    /// other than loopback.
    pub credential: Option<PathBuf>,
}

#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    #[error(
        "the policy at {path} is invalid ({errors} errors); `opd-gateway check {path}` lists them"
    )]
    InvalidPolicy { path: String, errors: usize },
    #[error(transparent)]
    Dataplane(#[from] DataplaneError),
    #[error(transparent)]
    Control(#[from] ControlError),
    #[error("cannot listen on {addr} for /metrics (another process there? see --listen)")]
    Listen {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot start the daemon's runtime")]
    Runtime(#[source] std::io::Error),
    #[error("cannot write the per-agency table")]
    Table(#[source] std::io::Error),
    #[error(
        "--listen {addr} is reachable from the network: the page, /status and /metrics there \
         need a credential. Give one with --credential FILE (a file with one secret line), or \
         listen on 127.0.0.1"
    )]
    NeedsCredential { addr: SocketAddr },
    #[error(transparent)]
    Credential(#[from] web::CredentialError),
}

/// Each finding in a policy as its own event, with its position as fields, in the language
/// of the daemon's locale (as `opd-gateway check` shows them).
pub fn log_diagnostics(diags: &[policy::Diagnostic]) {
    let lang = policy::Lang::from_env();
    for d in diags {
        let (file, line, column) = (d.file.display().to_string(), d.line, d.column);
        let hint = d.hint.as_ref().map(|h| h.text(lang)).unwrap_or_default();
        let message = d.message.text(lang);
        match d.severity {
            policy::Severity::Error => error!(%file, line, column, hint, "{message}"),
            policy::Severity::Warning => warn!(%file, line, column, hint, "{message}"),
        }
    }
}

/// Where and how a policy's programs attach.
fn ports(site: &policy::Site) -> Ports {
    Ports {
        lan: site.lan.clone(),
        wan: site.wan.clone(),
        mode: match site.xdp_mode {
            XdpMode::Native => AttachMode::Native,
            XdpMode::Generic => AttachMode::Generic,
        },
        bridged: site.forwarding == Forwarding::Bridge,
    }
}

fn ready_status(policy: &Policy) -> String {
    format!(
        "enforcing policy {:016x}: {} agencies",
        policy.fingerprint,
        policy.agencies.len()
    )
}

/// Runs the gateway until SIGINT or SIGTERM. The programs stay attached afterwards.
pub fn run(opts: &Options) -> Result<(), DaemonError> {
    let path = &opts.policy;
    let credential = opts
        .credential
        .as_deref()
        .map(Credential::read)
        .transpose()?;
    if credential.is_none() && !opts.listen.ip().is_loopback() {
        return Err(DaemonError::NeedsCredential { addr: opts.listen });
    }
    let policy = policy::load(path).map_err(|e| {
        log_diagnostics(&e.diagnostics);
        DaemonError::InvalidPolicy {
            path: path.display().to_string(),
            errors: e.errors().count(),
        }
    })?;
    log_diagnostics(&policy.warnings);
    // Load and verify before touching any interface.
    let (mut dp, pins) = Dataplane::load_pinned(&opts.pin_dir, policy.site.host_table)?;
    let pin_dir = opts.pin_dir.display();
    let contents = match pins {
        Pins::Fresh => {
            info!(%pin_dir, "maps created and pinned");
            Contents::default()
        }
        Pins::Adopted { contents } => {
            info!(
                %pin_dir,
                agencies = contents.ids.len(),
                "adopted the pinned maps: counters, buckets and rates carry on"
            );
            contents
        }
        Pins::Replaced { reason } => {
            warn!(%pin_dir, %reason, "pinned maps of another layout replaced; counters start at zero");
            Contents::default()
        }
    };
    let mut ctl = Controller::adopt(policy, &mut dp, contents)?;
    ctl.tick(&mut dp, monotonic_ns(), unix_seconds())?;
    let site = ctl.policy().site.clone();
    for port in [&site.lan, &site.wan] {
        match ensure_rx_vlan_in_frame(port) {
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
    dp.attach(&ports(&site))?;
    info!(
        site = %site.name,
        agencies = ctl.policy().agencies.len(),
        policy = %format_args!("{:016x}", ctl.policy().fingerprint),
        lan = %site.lan,
        wan = %site.wan,
        forwarding = ?site.forwarding,
        xdp_mode = ?site.xdp_mode,
        capacity_up = %rate(site.capacity.upload),
        capacity_down = %rate(site.capacity.download),
        tick = ?site.tick,
        "enforcing"
    );

    let notifier = Notifier::from_env();
    notifier.ready(&ready_status(ctl.policy()));
    let exporter = Arc::new(Exporter::new(dp.counters().try_clone()?, ctl.snapshot()));
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(DaemonError::Runtime)?;
    rt.block_on(async {
        let listener = tokio::net::TcpListener::bind(opts.listen)
            .await
            .map_err(|source| DaemonError::Listen {
                addr: opts.listen,
                source,
            })?;
        let guarded = credential.is_some();
        let web = Arc::new(Web::new(
            opts.history.as_ref().map(|h| h.dir.clone()),
            credential,
        ));
        web.policy_applied(ctl.policy(), path);
        if guarded {
            info!(
                listen = %opts.listen,
                "serving the page at /, /metrics and /status; every request needs the credential"
            );
        } else {
            info!(listen = %opts.listen, "serving the page at /, /metrics and /status");
        }
        let app = http::App::new(exporter.clone(), web.clone(), dp.hosts().try_clone()?);
        let server = tokio::spawn(http::serve(listener, app));
        let history = opts.history.as_ref().and_then(|h| {
            match Writer::start(h, opts.history_minute) {
                Ok(w) => Some(History {
                    recorder: Recorder::new(opts.history_minute),
                    writer: w,
                    last: Instant::now(),
                }),
                Err(e) => {
                    error!(
                        error = %crate::error_chain(&e),
                        "history: cannot open the store; policing goes on, but no history is recorded"
                    );
                    None
                }
            }
        });
        let mut daemon = Loop {
            dp: &mut dp,
            ctl: &mut ctl,
            path,
            interval: opts.interval,
            exporter: &exporter,
            notifier: &notifier,
            history,
            web: &web,
        };
        let result = daemon.run().await;
        server.abort();
        if let Some(mut h) = daemon.history.take() {
            // The minute so far: the next daemon adds to the same rows.
            if let Some(rows) = h.recorder.take() {
                h.writer.send(minute(daemon.ctl, &daemon.ctl.snapshot(), rows));
            }
            h.writer.finish();
        }
        result
    })?;

    info!(
        %pin_dir,
        "stopped; the programs stay attached and keep enforcing (rates fall back to the static \
         division at expiry) until a new daemon adopts them or `opd-gateway detach` removes them"
    );
    Ok(())
}

/// The daemon's loop and what it works on.
struct Loop<'a> {
    dp: &'a mut Dataplane,
    ctl: &'a mut Controller,
    path: &'a Path,
    interval: Duration,
    exporter: &'a Exporter,
    notifier: &'a Notifier,
    history: Option<History>,
    web: &'a Web,
}

/// The history being recorded.
struct History {
    recorder: Recorder,
    writer: Writer,
    /// When the last tick was recorded.
    last: Instant,
}

impl History {
    /// Adds the tick just taken; hands a finished minute to the writer.
    fn record(&mut self, ctl: &Controller, snapshot: &Snapshot) {
        let elapsed = self.last.elapsed();
        self.last = Instant::now();
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs_f64())
            .unwrap_or(0.0);
        if let Some(rows) = self.recorder.record(snapshot, now, elapsed) {
            self.writer.send(minute(ctl, snapshot, rows));
        }
    }
}

fn minute(ctl: &Controller, snapshot: &Snapshot, rows: Vec<history::Row>) -> history::Minute {
    history::Minute {
        site: history::SiteInfo::new(ctl.policy()),
        agencies: history::agencies(ctl.policy(), snapshot),
        rows,
    }
}

/// A ticker that never bursts to catch up after a stall.
fn ticker(every: Duration) -> tokio::time::Interval {
    let mut t = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
    t.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    t
}

impl Loop<'_> {
    async fn run(&mut self) -> Result<(), DaemonError> {
        // Pinged from this loop, so a stuck tick or reload stops the pings and systemd acts.
        let watchdog_every = self.notifier.watchdog_every;
        let mut watchdog =
            tokio::time::interval(watchdog_every.unwrap_or(Duration::from_secs(3600)));
        let signals = |kind| signal(kind).map_err(DaemonError::Runtime);
        let mut sigint = signals(SignalKind::interrupt())?;
        let mut sigterm = signals(SignalKind::terminate())?;
        let mut sighup = signals(SignalKind::hangup())?;
        let mut tick = self.ctl.policy().site.tick;
        let mut ticker_ = ticker(tick);
        let mut watcher = PolicyWatcher::new(self.path);
        let mut last_print = Instant::now();
        loop {
            let mut reload_now = false;
            tokio::select! {
                _ = sigint.recv() => break,
                _ = sigterm.recv() => break,
                _ = watchdog.tick() => {
                    if watchdog_every.is_some() {
                        self.notifier.watchdog();
                    }
                }
                _ = sighup.recv() => {
                    info!(path = %self.path.display(), "SIGHUP: reloading");
                    reload_now = true;
                }
                _ = ticker_.tick() => {
                    let started = Instant::now();
                    self.ctl.tick(self.dp, monotonic_ns(), unix_seconds())?;
                    // One snapshot of the tick for the metrics and the history.
                    let snapshot = self.ctl.snapshot();
                    if let Some(h) = &mut self.history {
                        h.record(self.ctl, &snapshot);
                    }
                    self.exporter.on_tick(snapshot, started.elapsed());
                    if !self.interval.is_zero() && last_print.elapsed() >= self.interval {
                        table::write(&mut std::io::stdout().lock(), &self.ctl.snapshot())
                            .map_err(DaemonError::Table)?;
                        last_print = Instant::now();
                    }
                    if watcher.changed() {
                        info!(path = %self.path.display(), "policy files changed: reloading");
                        reload_now = true;
                    }
                }
            }
            if reload_now {
                watcher.reloaded();
                self.notifier.reloading();
                self.reload()?;
                self.notifier.ready(&ready_status(self.ctl.policy()));
                if self.ctl.policy().site.tick != tick {
                    tick = self.ctl.policy().site.tick;
                    ticker_ = ticker(tick);
                }
            }
        }
        self.notifier.stopping();
        Ok(())
    }

    /// Validates the policy on disk completely; applies it only if valid, else logs why and
    /// keeps the running one. Errors only when the data plane itself fails.
    fn reload(&mut self) -> Result<(), DaemonError> {
        let running = format!("{:016x}", self.ctl.policy().fingerprint);
        let new = match policy::load(self.path) {
            Ok(p) => p,
            Err(e) => {
                warn!(
                    policy = %running,
                    errors = e.errors().count(),
                    "reload rejected; the running policy stays in force"
                );
                log_diagnostics(&e.diagnostics);
                self.exporter.on_reload_rejected();
                self.web.reloaded("rejected", Some(&e));
                return Ok(());
            }
        };
        if new.fingerprint == self.ctl.policy().fingerprint {
            info!(policy = %running, "policy unchanged");
            self.web.reloaded("unchanged", None);
            return Ok(());
        }
        let (to, n, warnings) = (
            format!("{:016x}", new.fingerprint),
            new.agencies.len(),
            new.warnings.clone(),
        );
        match self.ctl.reload(new, self.dp) {
            Ok(()) => {}
            Err(e @ ControlError::NeedsRestart { .. }) => {
                warn!(policy = %running, "reload rejected; the running policy stays in force: {e}");
                self.exporter.on_reload_rejected();
                self.web.refused(&e.to_string());
                return Ok(());
            }
            Err(e) => return Err(e.into()),
        }
        log_diagnostics(&warnings);
        // The reload's tick measured the traffic since the last one: record it too.
        self.ctl.tick(self.dp, monotonic_ns(), unix_seconds())?;
        let snapshot = self.ctl.snapshot();
        if let Some(h) = &mut self.history {
            h.record(self.ctl, &snapshot);
        }
        self.exporter.on_reload_applied(snapshot);
        self.web.policy_applied(self.ctl.policy(), self.path);
        self.web.reloaded("applied", None);
        info!(from = %running, to = %to, agencies = n, "policy reloaded");
        Ok(())
    }
}

/// `opd-gateway detach`: removes everything pinned under `dir`; says what it removed.
pub fn detach(dir: &Path) -> Result<Vec<String>, DaemonError> {
    Ok(crate::dataplane::remove_pins(dir, false)?)
}
