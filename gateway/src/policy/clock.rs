//! Local time for office-hours schedules: the site's time zone, weekdays, "07:30-16:00".
//!
//! Indonesia keeps no daylight saving time, so its zones are fixed offsets and need no zone
//! database: WIB (Asia/Jakarta, Asia/Pontianak), WITA (Asia/Makassar), WIT (Asia/Jayapura).

use std::{fmt, ops::Range};

use toml::Spanned;

use super::{Msg, MsgId};

/// A fixed UTC offset with the name the admin wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TimeZone {
    pub name: String,
    pub offset_seconds: i32,
}

impl Default for TimeZone {
    fn default() -> Self {
        TimeZone {
            name: "Asia/Jakarta".into(),
            offset_seconds: 7 * 3600,
        }
    }
}

impl TimeZone {
    /// "Asia/Jakarta", "Asia/Makassar", "Asia/Jayapura", "Asia/Pontianak", "WIB", "WITA",
    /// "WIT", "UTC", "UTC+7", "UTC+07:00", "UTC-03:30"; spaces around are ignored, as in
    /// every other value.
    pub fn parse(s: &str) -> Result<TimeZone, Msg> {
        let s = s.trim();
        let named = match s {
            "Asia/Jakarta" | "Asia/Pontianak" | "WIB" => Some(7 * 3600),
            "Asia/Makassar" | "Asia/Ujung_Pandang" | "WITA" => Some(8 * 3600),
            "Asia/Jayapura" | "WIT" => Some(9 * 3600),
            "UTC" | "Etc/UTC" => Some(0),
            _ => None,
        };
        if let Some(offset_seconds) = named {
            return Ok(TimeZone {
                name: s.into(),
                offset_seconds,
            });
        }
        let bad = || Msg::new(MsgId::UnknownTimeZone).arg("value", s);
        let rest = s.strip_prefix("UTC").ok_or_else(bad)?;
        let (sign, rest) = match rest.as_bytes().first() {
            Some(b'+') => (1, &rest[1..]),
            Some(b'-') => (-1, &rest[1..]),
            _ => return Err(bad()),
        };
        let (h, m) = rest.split_once(':').unwrap_or((rest, "0"));
        let (h, m): (i32, i32) = (h.parse().map_err(|_| bad())?, m.parse().map_err(|_| bad())?);
        if !(0..=14).contains(&h) || !(0..60).contains(&m) {
            return Err(bad());
        }
        Ok(TimeZone {
            name: s.into(),
            offset_seconds: sign * (h * 3600 + m * 60),
        })
    }

    /// The local weekday and minute of day at `unix_seconds`.
    pub fn local(&self, unix_seconds: i64) -> LocalTime {
        let t = unix_seconds + self.offset_seconds as i64;
        let days = t.div_euclid(86_400);
        let minute = (t.rem_euclid(86_400) / 60) as u16;
        // 1970-01-01 was a Thursday (Monday = 0 → Thursday = 3).
        let weekday = ((days + 3).rem_euclid(7)) as u8;
        LocalTime { weekday, minute }
    }
}

/// A moment of the week in the site's time zone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct LocalTime {
    /// Monday = 0 … Sunday = 6.
    pub weekday: u8,
    /// Minutes since local midnight, 0..1440.
    pub minute: u16,
}

pub const DAY_NAMES: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];
const DAY_LONG: [&str; 7] = [
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
    "Sunday",
];

impl fmt::Display for LocalTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {:02}:{:02}",
            DAY_LONG[self.weekday as usize % 7],
            self.minute / 60,
            self.minute % 60
        )
    }
}

/// Why `days` could not be read.
#[derive(Debug)]
pub struct DaysError {
    /// The item at fault; none when the list is empty.
    pub at: Option<Range<usize>>,
    pub message: Msg,
    pub hint: Msg,
}

/// Parses day names: "mon" … "sun", ranges "mon-fri", and "weekdays", "weekend", "daily".
pub fn parse_days(items: &[Spanned<String>]) -> Result<[bool; 7], DaysError> {
    let mut days = [false; 7];
    let hint = || Msg::new(MsgId::DaysHint);
    if items.is_empty() {
        return Err(DaysError {
            at: None,
            message: Msg::new(MsgId::DaysEmpty),
            hint: hint(),
        });
    }
    for item in items {
        let text = item.get_ref().trim();
        if let Some(fixed) = english_days(text) {
            return Err(DaysError {
                at: Some(item.span()),
                message: Msg::new(MsgId::DayInIndonesian)
                    .arg("value", text)
                    .arg("fixed", &fixed),
                hint: Msg::new(MsgId::WriteLike).arg("line", format!("days = [\"{fixed}\"]")),
            });
        }
        let unknown = |d: &str| DaysError {
            at: Some(item.span()),
            message: Msg::new(MsgId::UnknownDay).arg("value", d),
            hint: hint(),
        };
        let index = |d: &str| {
            DAY_NAMES
                .iter()
                .position(|n| n.eq_ignore_ascii_case(d.trim()))
                .ok_or_else(|| unknown(d))
        };
        match text.to_ascii_lowercase().as_str() {
            "weekdays" => days[..5].iter_mut().for_each(|d| *d = true),
            "weekend" => days[5..].iter_mut().for_each(|d| *d = true),
            "daily" => days.iter_mut().for_each(|d| *d = true),
            other => match other.split_once('-') {
                Some((a, b)) => {
                    let (a, b) = (index(a)?, index(b)?);
                    if a > b {
                        return Err(DaysError {
                            at: Some(item.span()),
                            message: Msg::new(MsgId::DaysBackwards).arg("value", text),
                            hint: Msg::new(MsgId::DaysBackwardsHint),
                        });
                    }
                    days[a..=b].iter_mut().for_each(|d| *d = true);
                }
                None => days[index(other)?] = true,
            },
        }
    }
    Ok(days)
}

/// "senin-jumat" as the policy writes it ("mon-fri"), if every day in it is Indonesian.
fn english_days(item: &str) -> Option<String> {
    const HARI: [&[&str]; 7] = [
        &["senin", "sen"],
        &["selasa", "sel"],
        &["rabu", "rab"],
        &["kamis", "kam"],
        &["jumat", "jum'at", "jum"],
        &["sabtu", "sab"],
        &["minggu", "ahad", "min"],
    ];
    let day = |d: &str| {
        let d = d.trim().to_lowercase();
        HARI.iter()
            .position(|names| names.contains(&d.as_str()))
            .map(|i| DAY_NAMES[i])
    };
    match item.split_once('-') {
        Some((a, b)) => Some(format!("{}-{}", day(a)?, day(b)?)),
        None => day(item).map(str::to_string),
    }
}

/// Parses "07:30-16:00" into (start, end) minutes; end 24:00 is allowed; a window whose end
/// is before its start runs past midnight ("22:00-06:00").
pub fn parse_hours(s: &str) -> Result<(u16, u16), Msg> {
    let s = s.trim();
    // "07.30-16.00", as times are written in Indonesian.
    if s.contains('.') && !s.contains(':') {
        let fixed = s.replace('.', ":");
        if parse_hours(&fixed).is_ok() {
            return Err(Msg::new(MsgId::HoursWithDots)
                .arg("value", s)
                .arg("fixed", fixed));
        }
    }
    let bad = || Msg::new(MsgId::NotAWindow).arg("value", s);
    let (a, b) = s.split_once('-').ok_or_else(bad)?;
    let minute = |t: &str| -> Result<u16, Msg> {
        let (h, m) = t.trim().split_once(':').ok_or_else(bad)?;
        if h.len() != 2 || m.len() != 2 {
            return Err(bad());
        }
        let (h, m): (u16, u16) = (h.parse().map_err(|_| bad())?, m.parse().map_err(|_| bad())?);
        if m >= 60 || h > 24 || (h == 24 && m != 0) {
            return Err(Msg::new(MsgId::NotATime).arg("value", t.trim()));
        }
        Ok(h * 60 + m)
    };
    let (start, end) = (minute(a)?, minute(b)?);
    if start == end {
        return Err(Msg::new(MsgId::EmptyWindow).arg("value", s));
    }
    Ok((start, end))
}

/// The minutes of the week (Monday 00:00 = 0) a schedule window covers, as half-open ranges.
pub fn week_ranges(days: &[bool; 7], start: u16, end: u16) -> Vec<(u32, u32)> {
    let mut out = Vec::new();
    for (d, on) in days.iter().enumerate() {
        if !on {
            continue;
        }
        let base = d as u32 * 1440;
        if start < end {
            out.push((base + start as u32, base + end as u32));
        } else {
            // Past midnight: the evening of this day and the morning of the next.
            out.push((base + start as u32, base + 1440));
            let next = ((d + 1) % 7) as u32 * 1440;
            out.push((next, next + end as u32));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::Lang;

    #[test]
    fn indonesian_zones_and_offsets() {
        for (zone, offset) in [
            ("Asia/Jakarta", 7 * 3600),
            ("Asia/Makassar", 8 * 3600),
            ("Asia/Jayapura", 9 * 3600),
            ("UTC+07:00", 7 * 3600),
            ("UTC-3:30", -(3 * 3600 + 1800)),
        ] {
            assert_eq!(
                TimeZone::parse(zone).unwrap().offset_seconds,
                offset,
                "{zone}"
            );
        }
        assert_eq!(
            TimeZone::parse("Asia/Tokyo").unwrap_err().id(),
            MsgId::UnknownTimeZone
        );
        assert_eq!(
            TimeZone::parse(" Asia/Jakarta ").unwrap().offset_seconds,
            7 * 3600
        );
        assert_eq!(TimeZone::parse("WITA").unwrap().offset_seconds, 8 * 3600);
    }

    #[test]
    fn local_time() {
        let wib = TimeZone::default();
        // 2026-11-23 00:30 UTC is a Monday, 07:30 in Jakarta.
        let t = wib.local(1_795_393_800);
        assert_eq!(
            t,
            LocalTime {
                weekday: 0,
                minute: 7 * 60 + 30
            }
        );
        assert_eq!(t.to_string(), "Monday 07:30");
        // 1970-01-01 00:00 UTC: Thursday, 07:00 WIB.
        assert_eq!(
            wib.local(0),
            LocalTime {
                weekday: 3,
                minute: 420
            }
        );
    }

    #[test]
    fn days_and_hours() {
        let days = |d: &[&str]| {
            let items: Vec<Spanned<String>> = d
                .iter()
                .enumerate()
                .map(|(i, s)| Spanned::new(i * 10..i * 10 + 5, s.to_string()))
                .collect();
            parse_days(&items)
        };
        assert_eq!(
            days(&["mon-fri"]).unwrap(),
            [true, true, true, true, true, false, false]
        );
        assert_eq!(
            days(&["weekend", "wed"]).unwrap(),
            [false, false, true, false, false, true, true]
        );
        assert_eq!(
            days(&["fri-mon"]).unwrap_err().message.id(),
            MsgId::DaysBackwards
        );
        let e = days(&["mon", "someday"]).unwrap_err();
        assert_eq!((e.at, e.message.id()), (Some(10..15), MsgId::UnknownDay));
        let e = days(&["Senin-Jumat"]).unwrap_err();
        assert_eq!(e.message.id(), MsgId::DayInIndonesian);
        assert_eq!(
            e.hint.text(Lang::En),
            "write it like this: `days = [\"mon-fri\"]`"
        );
        assert_eq!(
            parse_hours("07.30-16.00").unwrap_err().text(Lang::En),
            "\"07.30-16.00\": write the hours with a colon: \"07:30-16:00\""
        );
        assert_eq!(parse_hours("07:30-16:00").unwrap(), (450, 960));
        assert_eq!(parse_hours("22:00-06:00").unwrap(), (1320, 360));
        assert_eq!(parse_hours("00:00-24:00").unwrap(), (0, 1440));
        assert!(parse_hours("8-16").is_err());
        assert_eq!(
            parse_hours("08:00-08:00").unwrap_err().id(),
            MsgId::EmptyWindow
        );
        assert!(parse_hours("08:00-25:00").is_err());
    }

    #[test]
    fn overnight_windows_wrap_into_the_next_day() {
        let mut sun = [false; 7];
        sun[6] = true;
        assert_eq!(
            week_ranges(&sun, 1320, 360),
            vec![(6 * 1440 + 1320, 7 * 1440), (0, 360)]
        );
    }
}
