//! The statistics every section reports: the median of repeated runs and their spread.

/// Median and the spread (min–max) of a sample.
pub struct Stats {
    pub median: f64,
    pub min: f64,
    pub max: f64,
}

impl Stats {
    /// Median (of the middle two for an even count) and spread; runs that gave no figure
    /// (NaN) are left out.
    pub fn of(sample: impl IntoIterator<Item = f64>) -> Stats {
        let mut v: Vec<f64> = sample.into_iter().filter(|x| !x.is_nan()).collect();
        if v.is_empty() {
            return Stats {
                median: f64::NAN,
                min: f64::NAN,
                max: f64::NAN,
            };
        }
        v.sort_by(f64::total_cmp);
        let n = v.len();
        Stats {
            median: if n % 2 == 1 {
                v[n / 2]
            } else {
                (v[n / 2 - 1] + v[n / 2]) / 2.0
            },
            min: v[0],
            max: v[n - 1],
        }
    }

    /// `median (min–max)` with `digits` decimals: how the tables show a figure.
    pub fn show(&self, digits: usize) -> String {
        format!(
            "{:.d$} ({:.d$}–{:.d$})",
            self.median,
            self.min,
            self.max,
            d = digits
        )
    }
}

/// The value at quantile `p` (0–1) of a sample, by nearest rank; NaN for an empty one.
pub fn percentile(v: &[f64], p: f64) -> f64 {
    let mut v = v.to_vec();
    v.sort_by(f64::total_cmp);
    if v.is_empty() {
        f64::NAN
    } else {
        v[((v.len() - 1) as f64 * p).round() as usize]
    }
}
