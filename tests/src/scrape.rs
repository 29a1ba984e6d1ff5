//! The daemon's Prometheus metrics as a test or benchmark reads them: one GET of /metrics in
//! the gateway's namespace, parsed as Prometheus's text format, so a figure is looked up by
//! metric name and labels rather than by how a line happens to be written.

use std::collections::BTreeSet;

use prometheus_parse::{Sample, Scrape, Value};

use crate::{Netns, http_get};

/// Where `opd-gateway run` serves /metrics and /status by default.
pub const DAEMON_ADDR: &str = "127.0.0.1:9477";

/// One scrape of /metrics: the text as served, and its samples.
pub struct Metrics {
    text: String,
    samples: Vec<Sample>,
}

impl Metrics {
    /// Scrapes the gateway listening on [`DAEMON_ADDR`] in `ns`; panics unless it answers
    /// 200 with a readable exposition.
    pub fn scrape(ns: &Netns) -> Metrics {
        let (code, text) = http_get(ns, DAEMON_ADDR, "/metrics").expect("GET /metrics");
        assert_eq!(code, 200, "GET /metrics: {text}");
        Metrics::parse(text)
    }

    /// Parses an exposition in Prometheus's text format.
    pub fn parse(text: String) -> Metrics {
        let samples = Scrape::parse(text.lines().map(|l| Ok(l.to_string())))
            .expect("lines of a string always read")
            .samples;
        Metrics { text, samples }
    }

    /// The exposition as the daemon served it.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// Every sample of metric `name` that carries all of `labels`, in the order served:
    /// its series (`name{label="value",…}`, labels sorted) and its value.
    pub fn series(&self, name: &str, labels: &[(&str, &str)]) -> Vec<(String, f64)> {
        self.samples
            .iter()
            .filter(|s| s.metric == name)
            .filter(|s| labels.iter().all(|(k, v)| s.labels.get(k) == Some(*v)))
            .filter_map(|s| {
                let series = if s.labels.is_empty() {
                    s.metric.clone()
                } else {
                    format!("{}{{{}}}", s.metric, s.labels)
                };
                Some((series, scalar(&s.value)?))
            })
            .collect()
    }

    /// The value of the one sample of metric `name` with `labels`, if there is one.
    pub fn value(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        match self.series(name, labels).as_slice() {
            [(_, v)] => Some(*v),
            _ => None,
        }
    }

    /// The sum over every sample of metric `name` that carries `labels`.
    pub fn sum(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        self.series(name, labels).iter().map(|(_, v)| v).sum()
    }

    /// The names of every sample, as they appear on the wire (a histogram's buckets as
    /// `<name>_bucket`).
    pub fn names(&self) -> BTreeSet<String> {
        self.samples
            .iter()
            .map(|s| match s.value {
                Value::Histogram(_) => format!("{}_bucket", s.metric),
                _ => s.metric.clone(),
            })
            .collect()
    }
}

/// The value of a counter, gauge or untyped sample.
fn scalar(v: &Value) -> Option<f64> {
    match *v {
        Value::Counter(x) | Value::Gauge(x) | Value::Untyped(x) => Some(x),
        Value::Histogram(_) | Value::Summary(_) => None,
    }
}
