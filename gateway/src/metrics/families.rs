//! Metric families built by name, one metric per label set: for values read at scrape time
//! (counters from the data plane, gauges from the last tick) rather than kept in a registry.

use prometheus::proto::{self, MetricFamily, MetricType};

#[derive(Default)]
pub(super) struct Families(Vec<MetricFamily>);

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

    pub(super) fn counter(&mut self, name: &str, help: &str, labels: &[(&str, &str)], value: u64) {
        let mut c = proto::Counter::default();
        c.set_value(value as f64);
        let mut m = proto::Metric::from_label(Self::labels(labels));
        m.set_counter(c);
        self.family(name, help, MetricType::COUNTER)
            .mut_metric()
            .push(m);
    }

    pub(super) fn gauge(&mut self, name: &str, help: &str, labels: &[(&str, &str)], value: f64) {
        let mut g = proto::Gauge::default();
        g.set_value(value);
        let mut m = proto::Metric::from_label(Self::labels(labels));
        m.set_gauge(g);
        self.family(name, help, MetricType::GAUGE)
            .mut_metric()
            .push(m);
    }

    pub(super) fn into_families(self) -> Vec<MetricFamily> {
        self.0
    }
}
