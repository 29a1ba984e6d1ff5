//! Units as admins write them: rates ("10Mbps", "1Gbps", "500kbps") and durations
//! ("250ms", "1s"). Anything ambiguous is refused with a hint saying what to write.

use std::{fmt, time::Duration};

/// A rate in bits per second.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Rate(pub u64);

impl Rate {
    pub const fn bits_per_second(self) -> u64 {
        self.0
    }

    pub const fn bytes_per_second(self) -> u64 {
        self.0 / 8
    }
}

impl fmt::Display for Rate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (div, unit) = match self.0 {
            r if r >= 1_000_000_000 && r % 1_000_000 == 0 => (1e9, "Gbps"),
            r if r >= 1_000_000 && r % 1_000 == 0 => (1e6, "Mbps"),
            r if r >= 1_000 => (1e3, "kbps"),
            _ => (1.0, "bps"),
        };
        let v = self.0 as f64 / div;
        if v.fract() == 0.0 {
            write!(f, "{v:.0}{unit}")
        } else {
            write!(f, "{}{unit}", format!("{v:.3}").trim_end_matches('0'))
        }
    }
}

/// Why a value could not be read; the text is meant for the admin who wrote it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct UnitError(pub String);

fn split_number(s: &str) -> (&str, &str) {
    let end = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == '_'))
        .unwrap_or(s.len());
    (&s[..end], s[end..].trim())
}

fn parse_number(num: &str, whole: &str, example: &str) -> Result<f64, UnitError> {
    let cleaned = num.replace('_', "");
    if cleaned.is_empty() {
        return Err(UnitError(format!(
            "\"{whole}\" does not start with a number; write e.g. \"{example}\""
        )));
    }
    cleaned
        .parse::<f64>()
        .ok()
        .filter(|v| v.is_finite())
        .ok_or_else(|| UnitError(format!("\"{num}\" in \"{whole}\" is not a number")))
}

/// Parses "10Mbps", "1.5Gbps", "500kbps", "64000bps".
pub fn parse_rate(s: &str) -> Result<Rate, UnitError> {
    let t = s.trim();
    let (num, unit) = split_number(t);
    let value = parse_number(num, t, "10Mbps")?;
    let mult: f64 = match unit {
        "bps" => 1.0,
        "kbps" | "Kbps" => 1e3,
        "Mbps" => 1e6,
        "Gbps" => 1e9,
        "Tbps" => 1e12,
        "" => {
            return Err(UnitError(format!(
                "\"{t}\" has no unit; write the rate with one, e.g. \"{num}Mbps\" or \"{num}kbps\""
            )));
        }
        u if u.eq_ignore_ascii_case("mb")
            || u.eq_ignore_ascii_case("mbyte")
            || u == "MBps"
            || u == "MB/s"
            || u == "GB"
            || u == "KB"
            || u == "kB" =>
        {
            return Err(UnitError(format!(
                "\"{t}\": \"{u}\" is ambiguous or in bytes; rates are in bits per second: write \"{num}Mbps\" (megabits) or \"{}Mbps\" if you meant megabytes",
                format_num(value * 8.0)
            )));
        }
        u if u.eq_ignore_ascii_case("mbps") => {
            return Err(UnitError(format!("\"{t}\": write the unit as \"Mbps\"")));
        }
        u if u.eq_ignore_ascii_case("gbps") => {
            return Err(UnitError(format!("\"{t}\": write the unit as \"Gbps\"")));
        }
        u => {
            return Err(UnitError(format!(
                "\"{t}\": unknown unit \"{u}\"; use bps, kbps, Mbps or Gbps, e.g. \"10Mbps\""
            )));
        }
    };
    let bps = (value * mult).round();
    if !(1.0..=1e15).contains(&bps) {
        return Err(UnitError(format!(
            "\"{t}\" is out of range; rates run from 1bps to 1000Tbps"
        )));
    }
    Ok(Rate(bps as u64))
}

/// A rate, or a share of the uplink's capacity in one direction.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Amount {
    Rate(Rate),
    /// Percent of the capacity, 0 < p ≤ 100.
    Percent(f64),
}

impl Amount {
    /// Bits per second, given the capacity it may be a share of.
    pub fn resolve(self, capacity: Rate) -> u64 {
        match self {
            Amount::Rate(r) => r.0,
            Amount::Percent(p) => (capacity.0 as f64 * p / 100.0).round() as u64,
        }
    }
}

/// Parses a rate ("10Mbps") or a share of the capacity ("3%", "2.5%").
pub fn parse_amount(s: &str) -> Result<Amount, UnitError> {
    let t = s.trim();
    if let Some(num) = t.strip_suffix('%') {
        let p = parse_number(num.trim(), t, "3%")?;
        if !(p > 0.0 && p <= 100.0) {
            return Err(UnitError(format!(
                "\"{t}\" is out of range; a share of the uplink runs from above 0% to 100%"
            )));
        }
        return Ok(Amount::Percent(p));
    }
    parse_rate(t).map(Amount::Rate)
}

fn format_num(v: f64) -> String {
    if v.fract() == 0.0 {
        format!("{v:.0}")
    } else {
        format!("{v}")
    }
}

/// Parses "250ms", "1s", "500us", "2m".
pub fn parse_duration(s: &str) -> Result<Duration, UnitError> {
    let t = s.trim();
    let (num, unit) = split_number(t);
    let value = parse_number(num, t, "250ms")?;
    let nanos: f64 = match unit {
        "ns" => 1.0,
        "us" | "µs" => 1e3,
        "ms" => 1e6,
        "s" => 1e9,
        "m" | "min" => 60e9,
        "h" => 3600e9,
        "" => {
            return Err(UnitError(format!(
                "\"{t}\" has no unit; write e.g. \"{num}ms\" or \"{num}s\""
            )));
        }
        u => {
            return Err(UnitError(format!(
                "\"{t}\": unknown unit \"{u}\"; use ms, s, m or h, e.g. \"250ms\""
            )));
        }
    };
    let ns = (value * nanos).round();
    if ns > 1e18 {
        return Err(UnitError(format!("\"{t}\" is too long")));
    }
    Ok(Duration::from_nanos(ns as u64))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_as_admins_write_them() {
        assert_eq!(parse_rate("10Mbps").unwrap(), Rate(10_000_000));
        assert_eq!(parse_rate("1Gbps").unwrap(), Rate(1_000_000_000));
        assert_eq!(parse_rate("500kbps").unwrap(), Rate(500_000));
        assert_eq!(parse_rate("1.5Gbps").unwrap(), Rate(1_500_000_000));
        assert_eq!(parse_rate(" 2.5 Mbps ").unwrap(), Rate(2_500_000));
        assert_eq!(parse_rate("64000bps").unwrap(), Rate(64_000));
        assert_eq!(parse_rate("1_000Mbps").unwrap(), Rate(1_000_000_000));
    }

    #[test]
    fn ambiguous_rates_say_what_to_write() {
        let e = parse_rate("10").unwrap_err().0;
        assert!(e.contains("\"10Mbps\""), "{e}");
        let e = parse_rate("10MB").unwrap_err().0;
        assert!(e.contains("bits per second") && e.contains("80Mbps"), "{e}");
        let e = parse_rate("10mbps").unwrap_err().0;
        assert!(e.contains("\"Mbps\""), "{e}");
        let e = parse_rate("fast").unwrap_err().0;
        assert!(e.contains("does not start with a number"), "{e}");
        assert!(parse_rate("0Mbps").is_err());
        assert!(parse_rate("1.2.3Mbps").is_err());
        assert!(
            parse_rate("10 furlongs")
                .unwrap_err()
                .0
                .contains("unknown unit")
        );
    }

    #[test]
    fn shares_of_the_capacity() {
        assert_eq!(parse_amount("3%").unwrap(), Amount::Percent(3.0));
        assert_eq!(
            parse_amount("2.5%").unwrap().resolve(Rate(1_000_000_000)),
            25_000_000
        );
        assert_eq!(
            parse_amount("10Mbps").unwrap(),
            Amount::Rate(Rate(10_000_000))
        );
        assert!(parse_amount("0%").is_err());
        assert!(parse_amount("150%").is_err());
        assert!(parse_amount("%").is_err());
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("250ms").unwrap(), Duration::from_millis(250));
        assert_eq!(parse_duration("1s").unwrap(), Duration::from_secs(1));
        assert_eq!(parse_duration("1.5s").unwrap(), Duration::from_millis(1500));
        assert_eq!(parse_duration("500us").unwrap(), Duration::from_micros(500));
        assert!(parse_duration("5").unwrap_err().0.contains("\"5ms\""));
        assert!(parse_duration("5 days").is_err());
    }

    #[test]
    fn rates_display_as_written() {
        assert_eq!(Rate(10_000_000).to_string(), "10Mbps");
        assert_eq!(Rate(1_000_000_000).to_string(), "1Gbps");
        assert_eq!(Rate(2_500_000).to_string(), "2.5Mbps");
        assert_eq!(Rate(500_000).to_string(), "500kbps");
    }
}
