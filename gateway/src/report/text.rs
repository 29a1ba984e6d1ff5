//! The report as a table for the terminal, and as CSV for the office's spreadsheets.

use std::io::{self, Write};

use gateway_common::Direction;

use super::{Figures, RULE_CEILING, RULE_GUARANTEE, Report, format_date};
use crate::policy::Lang;

/// A text in the report's language.
pub fn tr(lang: Lang, en: &'static str, id: &'static str) -> &'static str {
    match lang {
        Lang::En => en,
        Lang::Id => id,
    }
}

/// kbit/s as Mbps with one decimal.
pub fn mbps(kbps: u64) -> String {
    format!("{:.1}", kbps as f64 / 1000.0)
}

fn percent(share: f64) -> String {
    format!("{:.1}%", share * 100.0)
}

/// The CSV's columns: one row per agency and direction; rates in Mbps, shares in percent.
pub const CSV_HEADER: &[&str] = &[
    "agency",
    "name",
    "tier",
    "direction",
    "samples",
    "p95_mbps",
    "peak_mbps",
    "mean_mbps",
    "office_mean_mbps",
    "other_mean_mbps",
    "demand_p95_mbps",
    "office_demand_p95_mbps",
    "demand_peak_mbps",
    "held_back_percent",
    "at_ceiling_percent",
    "passed_gb",
    "dropped_gb",
    "guaranteed_mbps",
    "ceiling_mbps",
    "recommended_guaranteed_mbps",
    "recommended_ceiling_mbps",
    "package_mbps",
    "package_price_per_year",
];

/// A field as RFC 4180 quotes it; text a spreadsheet would take for a formula (`=`, `+`,
/// `-`, `@`) is kept as text with a leading apostrophe.
fn csv_field(s: &str) -> String {
    let s = if s.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{s}")
    } else {
        s.to_string()
    };
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s
    }
}

/// One row per agency and direction, with [`CSV_HEADER`] first. Numbers as a spreadsheet
/// reads them in any locale: a dot for decimals, no thousands separator.
pub fn write_csv(out: &mut impl Write, r: &Report) -> io::Result<()> {
    writeln!(out, "{}", CSV_HEADER.join(","))?;
    let m = |k: u64| format!("{:.3}", k as f64 / 1000.0);
    let gb = |b: u64| format!("{:.6}", b as f64 / 1e9);
    for a in &r.agencies {
        for dir in Direction::ALL {
            let f = &a.dirs[dir];
            let fields = [
                csv_field(&a.id),
                csv_field(&a.name),
                a.tier.as_str().to_string(),
                dir.as_str().to_string(),
                f.samples.to_string(),
                m(f.p95),
                m(f.peak),
                m(f.mean),
                m(f.office_mean),
                m(f.other_mean),
                m(f.demand_p95),
                m(f.office_demand_p95),
                m(f.demand_peak),
                format!("{:.2}", f.held_share * 100.0),
                format!("{:.2}", f.ceiling_share * 100.0),
                gb(f.passed_bytes),
                gb(f.dropped_bytes),
                m(f.guaranteed),
                m(f.ceiling),
                m(f.recommended_guaranteed),
                m(f.recommended_ceiling),
                a.package.map(m).unwrap_or_default(),
                a.package_price.map(|p| p.to_string()).unwrap_or_default(),
            ];
            writeln!(out, "{}", fields.join(","))?;
        }
    }
    Ok(())
}

/// The report for a terminal: the site's figures, then one line per agency and direction.
pub fn write_table(out: &mut impl Write, r: &Report, lang: Lang) -> io::Result<()> {
    let t = |en, id| tr(lang, en, id);
    writeln!(
        out,
        "{} {} — {} {} {} {} ({} {:.0} {} {:.0} {})",
        t("Needs report", "Laporan kebutuhan"),
        r.site,
        format_date(r.from, &r.timezone),
        t("to", "s.d."),
        format_date(r.to - 1, &r.timezone),
        r.timezone.name,
        t("recorded", "tercatat"),
        r.recorded_hours,
        t("of", "dari"),
        r.period_hours,
        t("hours", "jam"),
    )?;
    writeln!(out)?;
    for dir in [Direction::Download, Direction::Upload] {
        let s = &r.site_dirs[dir];
        writeln!(
            out,
            "{:<9} {} {} Mbps, {} {} Mbps + {}% = {} {} Mbps; {} {} Mbps; {} ({}) {} Mbps{}",
            dir_name(dir, lang),
            t("pooled need p95", "kebutuhan gabungan p95"),
            mbps(s.p95_demand),
            t("used p95", "terpakai p95"),
            mbps(s.p95_passed),
            r.headroom_percent,
            t("uplink needed", "uplink yang dibutuhkan"),
            mbps(s.needed),
            t("capacity now", "kapasitas sekarang"),
            mbps(s.capacity),
            t("former packages", "paket lama"),
            s.with_package,
            mbps(s.packages),
            if s.needed > 0 && s.packages > 0 {
                format!(
                    ", {} {:.1}×",
                    t("pooling gain", "keuntungan penggabungan"),
                    s.packages as f64 / s.needed as f64
                )
            } else {
                String::new()
            }
        )?;
    }
    if let Some(m) = &r.money {
        writeln!(
            out,
            "{}: {} {} Mbps = {} {}; {} {} {}; {} {} {}",
            t("per year", "per tahun"),
            t("pooled uplink", "uplink gabungan"),
            m.pooled_mbps,
            m.currency,
            money(m.pooled_per_year, lang),
            t("former packages", "paket lama"),
            m.currency,
            money(m.packages_per_year, lang),
            t("difference", "selisih"),
            m.currency,
            money_signed(
                m.packages_per_year as i128 - m.pooled_per_year as i128,
                lang
            ),
        )?;
        if !m.unpriced.is_empty() {
            writeln!(
                out,
                "  {}: {}",
                t(
                    "packages without a price in [site.costs], left out",
                    "paket tanpa harga di [site.costs], tidak dihitung"
                ),
                m.unpriced.join(", ")
            )?;
        }
    }
    if let Some(w) = &r.wifi {
        writeln!(
            out,
            "{}: {:.1} GB {}, {:.1} GB {}, {:.1} {}",
            t("public WiFi", "WiFi publik"),
            w.gigabytes.download,
            t("downloaded", "diunduh"),
            w.gigabytes.upload,
            t("uploaded", "diunggah"),
            w.hours_served,
            t("hours served", "jam melayani"),
        )?;
    }
    writeln!(out)?;
    writeln!(
        out,
        "{:<16} {:<9} {:>8} {:>8} {:>8} {:>8} {:>8} {:>7} {:>7} {:>15} {:>15} {:>7}",
        t("AGENCY", "OPD"),
        t("DIR", "ARAH"),
        "P95",
        t("PEAK", "PUNCAK"),
        t("MEAN", "RERATA"),
        t("OFFICE", "JAMKERJA"),
        t("NEED95", "BUTUH95"),
        t("HELD", "TERTAHAN"),
        t("AT-CEIL", "DI-BATAS"),
        t("GUAR→NEXT", "JAMINAN→BARU"),
        t("CEIL→NEXT", "BATAS→BARU"),
        t("PACKAGE", "PAKET"),
    )?;
    for a in &r.agencies {
        for dir in [Direction::Download, Direction::Upload] {
            let f: &Figures = &a.dirs[dir];
            writeln!(
                out,
                "{:<16} {:<9} {:>8} {:>8} {:>8} {:>8} {:>8} {:>7} {:>7} {:>15} {:>15} {:>7}",
                truncate(&a.id, 16),
                dir_name(dir, lang),
                mbps(f.p95),
                mbps(f.peak),
                mbps(f.mean),
                mbps(f.office_mean),
                mbps(f.demand_p95),
                percent(f.held_share),
                percent(f.ceiling_share),
                format!("{}→{}", mbps(f.guaranteed), mbps(f.recommended_guaranteed)),
                format!("{}→{}", mbps(f.ceiling), mbps(f.recommended_ceiling)),
                a.package.map(mbps).unwrap_or_else(|| "-".into()),
            )?;
        }
    }
    writeln!(out)?;
    writeln!(
        out,
        "{} Mbps. {}",
        t("Rates in", "Laju dalam"),
        t(
            "P95: 95th percentile of 5-minute averages (nearest rank, as ISPs bill). NEED95: of the \
             demand. HELD: share of the time more than 0.5% was dropped; AT-CEIL: held back by its \
             own ceiling.",
            "P95: persentil ke-95 dari rata-rata 5 menit (peringkat terdekat, seperti tagihan ISP). \
             BUTUH95: dari kebutuhan. TERTAHAN: bagian waktu lebih dari 0,5% dibuang; DI-BATAS: \
             tertahan oleh batas atasnya sendiri."
        )
    )?;
    writeln!(out, "{}", t(RULE_GUARANTEE.0, RULE_GUARANTEE.1))?;
    writeln!(out, "{}", t(RULE_CEILING.0, RULE_CEILING.1))?;
    Ok(())
}

fn dir_name(dir: Direction, lang: Lang) -> &'static str {
    match dir {
        Direction::Download => tr(lang, "download", "unduh"),
        Direction::Upload => tr(lang, "upload", "unggah"),
    }
}

fn truncate(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_string()
    } else {
        s.chars().take(n - 1).chain(['…']).collect()
    }
}

/// A whole amount with thousands separators: "1,250,000" in English, "1.250.000" in
/// Bahasa Indonesia.
pub fn money(v: u64, lang: Lang) -> String {
    let digits = v.to_string();
    let sep = match lang {
        Lang::En => ',',
        Lang::Id => '.',
    };
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(sep);
        }
        out.push(c);
    }
    out
}

fn money_signed(v: i128, lang: Lang) -> String {
    let s = money(v.unsigned_abs() as u64, lang);
    if v < 0 { format!("-{s}") } else { s }
}
