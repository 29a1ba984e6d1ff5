//! Prometheus metrics and the daemon's status, served over HTTP on a local address.
//!
//! Traffic counters are read from the data plane's maps at scrape time, through map handles
//! of the exporter's own; limits, allocations and demand are the control loop's last tick.
//! Labels are bounded by the policy (agency id, direction, tier, reason), never addresses.

use std::{
    fmt::Write as _,
    sync::{
        Mutex,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use aya::maps::{MapData, PerCpuArray};
use gateway_common::{Counters, DIRECTIONS, agency_slot, reason};
use prometheus::{
    Encoder, Histogram, HistogramOpts, IntCounter, IntCounterVec, Opts, Registry, TextEncoder,
    proto::{self, MetricFamily, MetricType},
};
use serde::Serialize;
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{TcpListener, TcpStream},
};

use crate::{
    control::Controller,
    policy::{Direction, Tier},
};

/// Per-CPU counter maps, opened apart from the data plane's own handles.
pub struct CounterMaps {
    pub agencies: PerCpuArray<MapData, Counters>,
    pub others: PerCpuArray<MapData, Counters>,
}

impl CounterMaps {
    fn read(map: &PerCpuArray<MapData, Counters>, index: u32) -> Counters {
        let mut total = Counters::default();
        if let Ok(values) = map.get(&index, 0) {
            for c in values.iter() {
                total.add(c);
            }
        }
        total
    }
}

/// One agency as the status shows it.
#[derive(Debug, Clone, Serialize, serde::Deserialize, PartialEq)]
pub struct AgencyStatus {
    pub id: String,
    pub name: String,
    pub tier: String,
    #[serde(skip)]
    pub slot: u32,
    /// Per direction: upload, download.
    pub upload: FlowStatus,
    pub download: FlowStatus,
}

/// One agency in one direction; rates in bits/s, totals in bytes.
#[derive(Debug, Clone, Copy, Default, Serialize, serde::Deserialize, PartialEq)]
pub struct FlowStatus {
    pub guaranteed_bps: u64,
    pub ceiling_bps: u64,
    pub allocated_bps: u64,
    pub rate_bps: u64,
    pub demand_bps: u64,
    pub dropped_bps: u64,
    /// Allocated above its guarantee: capacity borrowed from others.
    pub borrowed_bps: u64,
    pub passed_bytes: u64,
    pub dropped_bytes: u64,
}

/// What `opd-gateway status` shows.
#[derive(Debug, Clone, Default, Serialize, serde::Deserialize, PartialEq)]
pub struct Status {
    pub site: String,
    pub policy: String,
    pub generation: u64,
    pub tick: u64,
    pub capacity_bps: [u64; 2],
    pub usable_bps: [u64; 2],
    pub agencies: Vec<AgencyStatus>,
}

/// The daemon's metrics.
pub struct Exporter {
    maps: Mutex<CounterMaps>,
    status: Mutex<Status>,
    registry: Registry,
    pub tick_seconds: Histogram,
    pub ticks: IntCounter,
    pub reloads: IntCounterVec,
    last_good_load: AtomicU64,
}

fn tier_name(t: Tier) -> &'static str {
    match t {
        Tier::Critical => "critical",
        Tier::Standard => "standard",
        Tier::Public => "public",
    }
}

impl Exporter {
    pub fn new(maps: CounterMaps) -> Exporter {
        let registry = Registry::new();
        let tick_seconds = Histogram::with_opts(
            HistogramOpts::new(
                "opd_gateway_tick_duration_seconds",
                "Time one control-loop tick took: read counters, divide the uplink, write rates.",
            )
            .buckets(vec![
                1e-5, 5e-5, 1e-4, 5e-4, 1e-3, 5e-3, 1e-2, 5e-2, 0.1, 0.5,
            ]),
        )
        .expect("valid histogram");
        let ticks = IntCounter::with_opts(Opts::new(
            "opd_gateway_ticks_total",
            "Control-loop ticks since the daemon started.",
        ))
        .expect("valid counter");
        let reloads = IntCounterVec::new(
            Opts::new(
                "opd_gateway_policy_reloads_total",
                "Policy reloads by result: success (applied) or failure (rejected; the running policy stayed in force).",
            ),
            &["result"],
        )
        .expect("valid counter");
        for r in ["success", "failure"] {
            reloads.with_label_values(&[r]);
        }
        registry
            .register(Box::new(tick_seconds.clone()))
            .expect("register");
        registry
            .register(Box::new(ticks.clone()))
            .expect("register");
        registry
            .register(Box::new(reloads.clone()))
            .expect("register");
        Exporter {
            maps: Mutex::new(maps),
            status: Mutex::new(Status::default()),
            registry,
            tick_seconds,
            ticks,
            reloads,
            last_good_load: AtomicU64::new(0),
        }
    }

    /// Records that a policy was loaded and applied now.
    pub fn policy_loaded(&self) {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        self.last_good_load.store(now, Ordering::Relaxed);
    }

    /// Takes the control loop's view after a tick.
    pub fn update(&self, ctl: &Controller, generation: u64) {
        let policy = ctl.policy();
        // Totals as the tick read them: no second read of the maps.
        let flow = |f: &crate::control::Flow| FlowStatus {
            guaranteed_bps: f.guaranteed,
            ceiling_bps: f.ceiling,
            allocated_bps: f.allocated,
            rate_bps: f.passed_rate,
            demand_bps: f.demand,
            dropped_bps: f.dropped_rate,
            borrowed_bps: f.allocated.saturating_sub(f.guaranteed),
            passed_bytes: f.passed_bytes,
            dropped_bytes: f.dropped_bytes,
        };
        let agencies = policy
            .agencies
            .iter()
            .zip(ctl.tracked())
            .map(|(a, t)| AgencyStatus {
                id: a.id.clone(),
                name: a.name.clone(),
                tier: tier_name(a.tier).into(),
                slot: t.slot,
                upload: flow(&t.flows[0]),
                download: flow(&t.flows[1]),
            })
            .collect();
        let site = &policy.site;
        *self.status.lock().expect("status lock") = Status {
            site: site.name.clone(),
            policy: format!("{:016x}", policy.fingerprint),
            generation,
            tick: ctl.ticks,
            capacity_bps: site.capacity,
            usable_bps: [
                site.usable(Direction::Upload),
                site.usable(Direction::Download),
            ],
            agencies,
        };
    }

    pub fn status(&self) -> Status {
        self.status.lock().expect("status lock").clone()
    }

    /// The text exposition of every metric.
    pub fn render(&self) -> String {
        let mut families = self.registry.gather();
        families.extend(self.families());
        families.sort_by(|a, b| a.name().cmp(b.name()));
        let mut out = Vec::new();
        TextEncoder::new()
            .encode(&families, &mut out)
            .expect("text encoding cannot fail on gathered families");
        String::from_utf8(out).expect("the text format is UTF-8")
    }

    fn families(&self) -> Vec<MetricFamily> {
        let status = self.status.lock().expect("status lock").clone();
        let maps = self.maps.lock().expect("metrics lock");
        let mut f = Families::default();
        const DIRS: [&str; 2] = ["upload", "download"];
        for a in &status.agencies {
            for (d, dir) in DIRS.iter().enumerate() {
                let flow = if d == 0 { &a.upload } else { &a.download };
                let c = CounterMaps::read(&maps.agencies, agency_slot(a.slot, d as u32));
                let labels = [("agency", a.id.as_str()), ("direction", dir)];
                f.counter(
                    "opd_gateway_agency_passed_bytes_total",
                    "Bytes of the agency's frames passed (whole frames, tags included).",
                    &labels,
                    c.passed_bytes,
                );
                f.counter(
                    "opd_gateway_agency_passed_packets_total",
                    "The agency's frames passed.",
                    &labels,
                    c.passed_packets,
                );
                f.counter(
                    "opd_gateway_agency_dropped_bytes_total",
                    "Bytes of the agency's frames dropped by its rate limit.",
                    &labels,
                    c.dropped_bytes,
                );
                f.counter(
                    "opd_gateway_agency_dropped_packets_total",
                    "The agency's frames dropped by its rate limit.",
                    &labels,
                    c.dropped_packets,
                );
                f.counter(
                    "opd_gateway_agency_ecn_marked_packets_total",
                    "The agency's passed frames marked ECN Congestion Experienced: the agency was at its rate and the sender was asked to slow down instead of losing frames.",
                    &labels,
                    c.marked_packets,
                );
                let bytes = |bps: u64| bps as f64 / 8.0;
                f.gauge(
                    "opd_gateway_agency_allocated_bytes_per_second",
                    "Rate the control loop allocated to the agency at its last tick.",
                    &labels,
                    bytes(flow.allocated_bps),
                );
                f.gauge(
                    "opd_gateway_agency_guaranteed_bytes_per_second",
                    "The agency's guarantee in force (schedules applied).",
                    &labels,
                    bytes(flow.guaranteed_bps),
                );
                f.gauge(
                    "opd_gateway_agency_ceiling_bytes_per_second",
                    "The agency's ceiling in force (schedules applied).",
                    &labels,
                    bytes(flow.ceiling_bps),
                );
                f.gauge(
                    "opd_gateway_agency_demand_bytes_per_second",
                    "The agency's estimated demand: passed plus dropped, smoothed.",
                    &labels,
                    bytes(flow.demand_bps),
                );
                f.gauge(
                    "opd_gateway_agency_borrowed_bytes_per_second",
                    "Allocation above the agency's guarantee: capacity borrowed from others.",
                    &labels,
                    bytes(flow.borrowed_bps),
                );
            }
            f.gauge(
                "opd_gateway_agency_info",
                "An agency of the policy in force, with its display name and tier.",
                &[
                    ("agency", a.id.as_str()),
                    ("name", a.name.as_str()),
                    ("tier", a.tier.as_str()),
                ],
                1.0,
            );
        }
        for (d, dir) in DIRS.iter().enumerate() {
            for (r, name) in [
                (reason::CONTROL, "control"),
                (reason::UNCLASSIFIED, "unclassified"),
                (reason::MALFORMED, "malformed"),
            ] {
                let c = CounterMaps::read(&maps.others, r * DIRECTIONS + d as u32);
                let labels = [("direction", *dir), ("reason", name)];
                f.counter("opd_gateway_unattributed_passed_bytes_total", "Bytes of frames passed that belong to no agency: control frames, and untagged or unknown-VLAN traffic the site lets pass.", &labels, c.passed_bytes);
                f.counter(
                    "opd_gateway_unattributed_passed_packets_total",
                    "Frames passed that belong to no agency.",
                    &labels,
                    c.passed_packets,
                );
                f.counter("opd_gateway_unattributed_dropped_bytes_total", "Bytes of frames dropped that belong to no agency: malformed, and untagged or unknown-VLAN traffic the site drops.", &labels, c.dropped_bytes);
                f.counter(
                    "opd_gateway_unattributed_dropped_packets_total",
                    "Frames dropped that belong to no agency.",
                    &labels,
                    c.dropped_packets,
                );
            }
            let labels = [("direction", *dir)];
            let passed: u64 = status
                .agencies
                .iter()
                .map(|a| {
                    if d == 0 {
                        a.upload.rate_bps
                    } else {
                        a.download.rate_bps
                    }
                })
                .sum();
            f.gauge(
                "opd_gateway_uplink_capacity_bytes_per_second",
                "The uplink's purchased capacity.",
                &labels,
                status.capacity_bps[d] as f64 / 8.0,
            );
            f.gauge(
                "opd_gateway_uplink_usable_bytes_per_second",
                "Capacity minus headroom: what is divided among agencies.",
                &labels,
                status.usable_bps[d] as f64 / 8.0,
            );
            f.gauge(
                "opd_gateway_uplink_utilisation_ratio",
                "Agencies' passed traffic over the last tick as a share of the usable capacity.",
                &labels,
                if status.usable_bps[d] > 0 {
                    passed as f64 / status.usable_bps[d] as f64
                } else {
                    0.0
                },
            );
        }
        f.gauge(
            "opd_gateway_policy_generation",
            "Policies applied since the daemon started (1 for the first).",
            &[],
            status.generation as f64,
        );
        f.gauge(
            "opd_gateway_policy_info",
            "The policy in force, by fingerprint (a hash of its files).",
            &[("fingerprint", status.policy.as_str())],
            1.0,
        );
        f.gauge(
            "opd_gateway_policy_last_success_timestamp_seconds",
            "When a policy was last loaded and applied (Unix time).",
            &[],
            self.last_good_load.load(Ordering::Relaxed) as f64,
        );
        f.gauge(
            "opd_gateway_build_info",
            "The running build.",
            &[("version", env!("CARGO_PKG_VERSION"))],
            1.0,
        );
        f.0
    }
}

/// Builds metric families by name, one metric per label set.
#[derive(Default)]
struct Families(Vec<MetricFamily>);

impl Families {
    fn family(&mut self, name: &str, help: &str, kind: MetricType) -> &mut MetricFamily {
        if let Some(i) = self.0.iter().position(|f| f.name() == name) {
            return &mut self.0[i];
        }
        let mut f = MetricFamily::default();
        f.set_name(name.into());
        f.set_help(help.into());
        f.set_field_type(kind);
        self.0.push(f);
        self.0.last_mut().expect("just pushed")
    }

    fn labels(labels: &[(&str, &str)]) -> Vec<proto::LabelPair> {
        labels
            .iter()
            .map(|(k, v)| {
                let mut l = proto::LabelPair::default();
                l.set_name((*k).into());
                l.set_value((*v).into());
                l
            })
            .collect()
    }

    fn counter(&mut self, name: &str, help: &str, labels: &[(&str, &str)], value: u64) {
        let mut c = proto::Counter::default();
        c.set_value(value as f64);
        let mut m = proto::Metric::from_label(Self::labels(labels));
        m.set_counter(c);
        self.family(name, help, MetricType::COUNTER)
            .mut_metric()
            .push(m);
    }

    fn gauge(&mut self, name: &str, help: &str, labels: &[(&str, &str)], value: f64) {
        let mut g = proto::Gauge::default();
        g.set_value(value);
        let mut m = proto::Metric::from_label(Self::labels(labels));
        m.set_gauge(g);
        self.family(name, help, MetricType::GAUGE)
            .mut_metric()
            .push(m);
    }
}

/// Serves `/metrics` (Prometheus text format) and `/status` (JSON) until the task is dropped.
pub async fn serve(listener: TcpListener, exporter: std::sync::Arc<Exporter>) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let exporter = exporter.clone();
        tokio::spawn(async move {
            // A slow or silent client is dropped; it never holds up the control loop.
            let _ = tokio::time::timeout(Duration::from_secs(5), answer(stream, &exporter)).await;
        });
    }
}

async fn answer(mut stream: TcpStream, exporter: &Exporter) -> std::io::Result<()> {
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 1024];
    while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = stream.read(&mut chunk).await?;
        if n == 0 || buf.len() > 16 * 1024 {
            return Ok(());
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    let head = String::from_utf8_lossy(&buf);
    let mut words = head.split_whitespace();
    let (method, target) = (words.next().unwrap_or(""), words.next().unwrap_or(""));
    let path = target.split('?').next().unwrap_or("");
    let (status, kind, body) = match (method, path) {
        ("GET", "/metrics") => (
            "200 OK",
            "text/plain; version=0.0.4; charset=utf-8",
            exporter.render(),
        ),
        ("GET", "/status") => (
            "200 OK",
            "application/json",
            serde_json::to_string(&exporter.status()).expect("status serializes"),
        ),
        ("GET", "/") => (
            "200 OK",
            "text/plain; charset=utf-8",
            "opd-gateway: see /metrics and /status\n".into(),
        ),
        ("GET", _) => (
            "404 Not Found",
            "text/plain; charset=utf-8",
            "not found: try /metrics or /status\n".into(),
        ),
        _ => (
            "405 Method Not Allowed",
            "text/plain; charset=utf-8",
            "only GET\n".into(),
        ),
    };
    let mut response = String::with_capacity(body.len() + 128);
    let _ = write!(
        response,
        "HTTP/1.1 {status}\r\nContent-Type: {kind}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    response.push_str(&body);
    stream.write_all(response.as_bytes()).await?;
    stream.shutdown().await
}
