//! Units as admins write them: rates ("10Mbps", "1Gbps", "500kbps") and durations
//! ("250ms", "1s"). Anything ambiguous is refused with a hint saying what to write.

use std::{fmt, time::Duration};

use crate::policy::{Msg, MsgId};

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
        // The largest unit with at most two decimals: "1.125Mbps" would read as a thousand
        // to an Indonesian eye (and is refused as ambiguous), "1125kbps" cannot.
        let (div, unit) = match self.0 {
            r if r >= 1_000_000_000 && r % 10_000_000 == 0 => (1e9, "Gbps"),
            r if r >= 1_000_000 && r % 10_000 == 0 => (1e6, "Mbps"),
            r if r >= 1_000 && r % 10 == 0 => (1e3, "kbps"),
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

/// Why a value could not be read: a message for the admin who wrote it, and the value
/// corrected when it is clear what was meant.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct UnitError {
    pub message: Msg,
    /// What to write instead, e.g. "1.5Gbps" for "1,5Gbps".
    pub fix: Option<String>,
}

impl UnitError {
    fn new(message: Msg, fix: impl Into<Option<String>>) -> UnitError {
        UnitError {
            message,
            fix: fix.into(),
        }
    }
}

/// What kind of value is being read, for messages and examples.
#[derive(Clone, Copy)]
enum Kind {
    Rate,
    Share,
    Duration,
}

impl Kind {
    fn what(self) -> Msg {
        Msg::new(match self {
            Kind::Rate => MsgId::WhatRate,
            Kind::Share => MsgId::WhatShare,
            Kind::Duration => MsgId::WhatDuration,
        })
    }

    fn example(self) -> &'static str {
        match self {
            Kind::Rate => "10Mbps",
            Kind::Share => "3%",
            Kind::Duration => "250ms",
        }
    }
}

fn split_number(s: &str) -> (&str, &str) {
    let end = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == '_'))
        .unwrap_or(s.len());
    (&s[..end], s[end..].trim())
}

/// The number at the start of `whole` (`num`, as split off), refusing what would be misread:
/// a sign, a decimal comma, an exponent, or a point that may separate thousands.
fn parse_number(num: &str, unit: &str, whole: &str, kind: Kind) -> Result<f64, UnitError> {
    let value = |id| Msg::new(id).arg("value", whole);
    if let Some(rest) = whole.strip_prefix('-') {
        return Err(UnitError::new(
            value(MsgId::Negative).with("what", kind.what()),
            rest.trim().to_string(),
        ));
    }
    if let Some(rest) = unit.strip_prefix(',')
        && rest.starts_with(|c: char| c.is_ascii_digit())
    {
        let fixed = format!("{num}.{}", rest.trim());
        return Err(UnitError::new(
            value(MsgId::DecimalComma).arg("fixed", &fixed),
            fixed,
        ));
    }
    if let Some(rest) = unit.strip_prefix(['e', 'E'])
        && rest.starts_with(|c: char| c.is_ascii_digit() || c == '-' || c == '+')
    {
        let digits = rest.trim_start_matches(['-', '+']);
        let unit = digits
            .trim_start_matches(|c: char| c.is_ascii_digit())
            .trim();
        let expanded = format!("{num}e{}", &rest[..rest.len() - unit.len()].trim())
            .parse::<f64>()
            .ok()
            .filter(|v| (1.0..1e6).contains(v) && v.fract() == 0.0);
        let fixed = match expanded {
            Some(v) => format!("{}{unit}", format_num(v)),
            None => kind.example().to_string(),
        };
        return Err(UnitError::new(
            value(MsgId::Exponent).arg("fixed", &fixed),
            fixed,
        ));
    }
    // "1.000Mbps": a thousand as Indonesian writes it, or one as English does.
    let groups: Vec<&str> = num.split('.').collect();
    if groups.len() > 1
        && (1..=3).contains(&groups[0].len())
        && groups[1..].iter().all(|g| g.len() == 3)
        && groups.iter().all(|g| g.chars().all(|c| c.is_ascii_digit()))
    {
        let thousands = format!("{}{unit}", groups.concat());
        if groups.len() > 2 {
            return Err(UnitError::new(
                value(MsgId::ThousandsPoints).arg("fixed", &thousands),
                thousands,
            ));
        }
        let decimal: f64 = num.parse().unwrap_or(0.0);
        return Err(UnitError::new(
            value(MsgId::AmbiguousPoint)
                .arg("thousands", thousands)
                .arg("decimal", format!("{}{unit}", format_num(decimal))),
            None,
        ));
    }
    let cleaned = num.replace('_', "");
    if cleaned.is_empty() {
        return Err(UnitError::new(
            value(MsgId::NoNumber),
            kind.example().to_string(),
        ));
    }
    cleaned
        .parse::<f64>()
        .ok()
        .filter(|v| v.is_finite())
        .ok_or_else(|| {
            UnitError::new(
                Msg::new(MsgId::NotANumber)
                    .arg("number", num)
                    .arg("value", whole),
                None,
            )
        })
}

/// Parses "10Mbps", "1.5Gbps", "500kbps", "64000bps".
pub fn parse_rate(s: &str) -> Result<Rate, UnitError> {
    let t = s.trim();
    let (num, unit) = split_number(t);
    let value = parse_number(num, unit, t, Kind::Rate)?;
    let mult: f64 = match unit {
        "bps" => 1.0,
        "kbps" | "Kbps" => 1e3,
        "Mbps" => 1e6,
        "Gbps" => 1e9,
        "Tbps" => 1e12,
        "" => {
            let fixed = format!("{num}Mbps");
            return Err(UnitError::new(
                Msg::new(MsgId::NoUnit).arg("value", t),
                fixed,
            ));
        }
        u => return Err(rate_unit_error(t, num, value, u)),
    };
    let bps = (value * mult).round();
    if !(1.0..=1e15).contains(&bps) {
        return Err(UnitError::new(
            Msg::new(MsgId::RateRange).arg("value", t),
            None,
        ));
    }
    Ok(Rate(bps as u64))
}

/// "m", "mbps", "Mbit", "mbit/s", "Mb/s": a rate unit spelt otherwise (lowercased).
fn spelled(lower: &str) -> bool {
    let rest = &lower[1..];
    ["", "bps", "bit", "bits", "bit/s", "b/s"].contains(&rest)
}

/// A unit that is not one of ours: bytes, a spelling (MikroTik's "10M", "mbps", "Mbit/s"),
/// or something else.
fn rate_unit_error(t: &str, num: &str, value: f64, u: &str) -> UnitError {
    let squeezed: String = u.chars().filter(|c| !c.is_whitespace()).collect();
    let lower = squeezed.to_ascii_lowercase();
    let prefix = match lower.chars().next() {
        Some('k') => Some("kbps"),
        Some('m') => Some("Mbps"),
        Some('g') => Some("Gbps"),
        Some('t') => Some("Tbps"),
        Some('b') => Some("bps"),
        _ => None,
    };
    let bytes = squeezed.contains('B') || lower.contains("byte") || lower == "mb";
    match prefix {
        Some(p) if bytes => {
            let bits = format!("{num}{p}");
            UnitError::new(
                Msg::new(MsgId::InBytes)
                    .arg("value", t)
                    .arg("unit", u)
                    .arg("bits", &bits)
                    .arg("bytes", format!("{}{p}", format_num(value * 8.0))),
                bits,
            )
        }
        Some(p) if spelled(&lower) => {
            let fixed = format!("{num}{p}");
            UnitError::new(
                Msg::new(MsgId::UnitSpelling).arg("value", t).arg("unit", p),
                fixed,
            )
        }
        _ => UnitError::new(
            Msg::new(MsgId::UnknownRateUnit)
                .arg("value", t)
                .arg("unit", u),
            None,
        ),
    }
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
        let (n, rest) = split_number(num.trim());
        let p = parse_number(n, rest, t, Kind::Share).map_err(|mut e| {
            if let Some(f) = &mut e.fix
                && !f.ends_with('%')
            {
                f.push('%');
            }
            e
        })?;
        if !rest.is_empty() {
            return Err(UnitError::new(
                Msg::new(MsgId::NotANumber)
                    .arg("number", num.trim())
                    .arg("value", t),
                None,
            ));
        }
        if !(p > 0.0 && p <= 100.0) {
            return Err(UnitError::new(
                Msg::new(MsgId::PercentRange).arg("value", t),
                None,
            ));
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
    let value = parse_number(num, unit, t, Kind::Duration)?;
    let nanos: f64 = match unit {
        "ns" => 1.0,
        "us" | "µs" => 1e3,
        "ms" => 1e6,
        "s" => 1e9,
        "m" | "min" => 60e9,
        "h" => 3600e9,
        "" => {
            return Err(UnitError::new(
                Msg::new(MsgId::NoUnit).arg("value", t),
                format!("{num}ms"),
            ));
        }
        u => {
            let fixed = match u.to_ascii_lowercase().as_str() {
                "msec" | "millis" | "milliseconds" | "milidetik" => Some("ms"),
                "sec" | "secs" | "seconds" | "second" | "detik" | "dtk" => Some("s"),
                "mins" | "minute" | "minutes" | "menit" => Some("m"),
                "hour" | "hours" | "jam" => Some("h"),
                _ => None,
            };
            return Err(UnitError::new(
                Msg::new(MsgId::UnknownDurationUnit)
                    .arg("value", t)
                    .arg("unit", u),
                fixed.map(|f| format!("{num}{f}")),
            ));
        }
    };
    let ns = (value * nanos).round();
    if ns > 1e18 {
        return Err(UnitError::new(
            Msg::new(MsgId::DurationTooLong).arg("value", t),
            None,
        ));
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

    /// The message, and the value it says to write instead.
    fn refused(r: Result<impl fmt::Debug, UnitError>) -> (MsgId, Option<String>) {
        let e = r.unwrap_err();
        (e.message.id(), e.fix)
    }

    #[test]
    fn ambiguous_rates_say_what_to_write() {
        let fix = |s: &str| Some(s.to_string());
        assert_eq!(refused(parse_rate("10")), (MsgId::NoUnit, fix("10Mbps")));
        assert_eq!(refused(parse_rate("10MB")), (MsgId::InBytes, fix("10Mbps")));
        assert!(
            parse_rate("10MB")
                .unwrap_err()
                .to_string()
                .contains("80Mbps")
        );
        assert_eq!(refused(parse_rate("2GB")), (MsgId::InBytes, fix("2Gbps")));
        assert_eq!(
            refused(parse_rate("10mbps")),
            (MsgId::UnitSpelling, fix("10Mbps"))
        );
        assert_eq!(
            refused(parse_rate("50 mbps")),
            (MsgId::UnitSpelling, fix("50Mbps"))
        );
        // MikroTik's way of writing a rate.
        assert_eq!(
            refused(parse_rate("10M")),
            (MsgId::UnitSpelling, fix("10Mbps"))
        );
        assert_eq!(
            refused(parse_rate("512k")),
            (MsgId::UnitSpelling, fix("512kbps"))
        );
        assert_eq!(
            refused(parse_rate("1 Gbit/s")),
            (MsgId::UnitSpelling, fix("1Gbps"))
        );
        assert_eq!(
            refused(parse_rate("1,5Gbps")),
            (MsgId::DecimalComma, fix("1.5Gbps"))
        );
        assert_eq!(
            refused(parse_rate("-10Mbps")),
            (MsgId::Negative, fix("10Mbps"))
        );
        assert_eq!(
            refused(parse_rate("1e30Mbps")),
            (MsgId::Exponent, fix("10Mbps"))
        );
        assert_eq!(
            refused(parse_rate("1e3Mbps")),
            (MsgId::Exponent, fix("1000Mbps"))
        );
        assert_eq!(
            refused(parse_rate("1.000Mbps")),
            (MsgId::AmbiguousPoint, None)
        );
        assert!(
            parse_rate("1.000Mbps")
                .unwrap_err()
                .to_string()
                .contains("\"1000Mbps\" (thousands) or \"1Mbps\" (a decimal)")
        );
        assert_eq!(
            refused(parse_rate("1.000.000bps")),
            (MsgId::ThousandsPoints, fix("1000000bps"))
        );
        assert_eq!(parse_rate("1.5Gbps").unwrap(), Rate(1_500_000_000));
        assert_eq!(parse_rate("2.25Mbps").unwrap(), Rate(2_250_000));
        assert_eq!(refused(parse_rate("fast")).0, MsgId::NoNumber);
        assert_eq!(refused(parse_rate("0Mbps")).0, MsgId::RateRange);
        assert_eq!(refused(parse_rate("1.2.3Mbps")).0, MsgId::NotANumber);
        assert_eq!(
            refused(parse_rate("10 furlongs")),
            (MsgId::UnknownRateUnit, None)
        );
        assert_eq!(refused(parse_amount("-3%")), (MsgId::Negative, fix("3%")));
        assert_eq!(
            refused(parse_amount("2,5%")),
            (MsgId::DecimalComma, fix("2.5%"))
        );
        assert_eq!(refused(parse_duration("-1s")), (MsgId::Negative, fix("1s")));
        assert_eq!(
            refused(parse_duration("0,5s")),
            (MsgId::DecimalComma, fix("0.5s"))
        );
        assert_eq!(
            refused(parse_duration("5 detik")),
            (MsgId::UnknownDurationUnit, fix("5s"))
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
        assert_eq!(parse_duration("5").unwrap_err().fix.as_deref(), Some("5ms"));
        assert!(parse_duration("5 days").is_err());
    }

    #[test]
    fn rates_display_as_written() {
        assert_eq!(Rate(10_000_000).to_string(), "10Mbps");
        assert_eq!(Rate(1_000_000_000).to_string(), "1Gbps");
        assert_eq!(Rate(2_500_000).to_string(), "2.5Mbps");
        assert_eq!(Rate(500_000).to_string(), "500kbps");
        assert_eq!(Rate(1_125_000).to_string(), "1125kbps");
        assert_eq!(Rate(1_234_000_000).to_string(), "1234Mbps");
        // What is displayed reads back as the same rate.
        for r in [
            1,
            999,
            1_005,
            1_125_000,
            2_250_000,
            979_999_999,
            1_100_000_000,
        ] {
            assert_eq!(parse_rate(&Rate(r).to_string()), Ok(Rate(r)), "{r}");
        }
    }
}
