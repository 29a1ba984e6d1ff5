//! The report as one printable page: what the head of the IT office takes to the budget
//! meeting. Self-contained (inline CSS, inline SVG charts, no script, no font, image or
//! style sheet fetched from anywhere), laid out for A4, and written as polyglot markup an
//! XML parser reads too: every element closed, every attribute quoted, every text from the
//! report escaped.

use std::{
    fmt::Write as _,
    io::{self, Write},
};

use gateway_common::{Direction, Tier};

use super::{AgencyReport, Figures, RULE_CEILING, RULE_GUARANTEE, Report, format_date};
use crate::policy::Lang;

/// Appends to the page (writing to a `String` cannot fail).
macro_rules! put {
    ($s:expr, $($arg:tt)*) => {{
        let _ = write!($s, $($arg)*);
    }};
}

/// Writes the report as one HTML page in `lang`.
pub fn write(out: &mut impl Write, r: &Report, lang: Lang) -> io::Result<()> {
    let mut s = String::with_capacity(32 * 1024 + r.agencies.len() * 4 * 1024);
    Page { r, lang }.render(&mut s);
    out.write_all(s.as_bytes())
}

/// `s` with `&`, `<`, `>`, `"` and `'` escaped, for text and attribute values alike.
fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// `v` with `decimals` decimals, grouped in thousands: "1,234.5" in English, "1.234,5" in
/// Bahasa Indonesia.
fn num(v: f64, decimals: usize, lang: Lang) -> String {
    let (thousands, point) = match lang {
        Lang::En => (',', '.'),
        Lang::Id => ('.', ','),
    };
    let plain = format!("{:.*}", decimals, v.abs());
    let (int, frac) = match plain.split_once('.') {
        Some((i, f)) => (i, Some(f)),
        None => (plain.as_str(), None),
    };
    let mut out = String::new();
    if v < 0.0 && plain.bytes().any(|b| b.is_ascii_digit() && b != b'0') {
        out.push('-');
    }
    for (i, c) in int.chars().enumerate() {
        if i > 0 && (int.len() - i).is_multiple_of(3) {
            out.push(thousands);
        }
        out.push(c);
    }
    if let Some(f) = frac {
        out.push(point);
        out.push_str(f);
    }
    out
}

/// The step, top and decimals of a chart's Mbps axis reaching at least `max`: about four
/// steps of 1, 2, 2.5 or 5 times a power of ten.
fn scale(max: f64) -> (f64, f64, usize) {
    let max = if max > 0.0 { max } else { 1.0 };
    let raw = max / 4.0;
    let power = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 2.5, 5.0, 10.0]
        .iter()
        .map(|m| m * power)
        .find(|s| *s >= raw * 0.999)
        .unwrap_or(10.0 * power);
    let top = (max / step - 1e-9).ceil().max(1.0) * step;
    let decimals = (0..4)
        .find(|d| {
            let scaled = step * 10f64.powi(*d as i32);
            (scaled - scaled.round()).abs() < 1e-6
        })
        .unwrap_or(3);
    (step, top, decimals)
}

const STYLE: &str = r#"
:root { color-scheme: light; }
* { box-sizing: border-box; }
body { margin: 0 auto; max-width: 1000px; padding: 24px 28px 40px; color: #1d232b; background: #fff;
  font-family: system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, "Noto Sans", "Liberation Sans", sans-serif;
  font-size: 14px; line-height: 1.45; font-variant-numeric: tabular-nums;
  -webkit-print-color-adjust: exact; print-color-adjust: exact; }
h1 { font-size: 24px; margin: 0 0 2px; letter-spacing: -0.01em; }
h2 { font-size: 17px; margin: 28px 0 10px; padding-bottom: 4px; border-bottom: 2px solid #1f3a5f; color: #1f3a5f; }
h3 { font-size: 15px; margin: 0 0 4px; }
p { margin: 6px 0; }
.meta { color: #4a5563; margin: 0; }
.muted { color: #5f6b7a; }
.small { font-size: 12px; }
header { border-bottom: 3px solid #1f3a5f; padding-bottom: 10px; }
.eyebrow { text-transform: uppercase; letter-spacing: 0.08em; font-size: 11px; color: #5f6b7a; margin: 0 0 4px; }
.summary { border: 1px solid #c9d3df; border-radius: 6px; padding: 14px 16px; margin-top: 16px; background: #f7f9fc; }
.summary h2 { margin-top: 18px; }
.summary h2:first-child { margin-top: 0; }
.cards { display: flex; flex-wrap: wrap; gap: 10px; margin: 8px 0 12px; }
.card { flex: 1 1 0; min-width: 150px; background: #fff; border: 1px solid #d5dce6; border-left: 4px solid #1f3a5f; border-radius: 4px; padding: 8px 10px; }
.card.key { border-left-color: #2e7d32; }
.card .label { font-size: 12px; color: #4a5563; }
.card .value { font-size: 22px; font-weight: 700; line-height: 1.2; }
.card .note { font-size: 11px; color: #5f6b7a; }
.cards.money .value { font-size: 19px; overflow-wrap: anywhere; }
table { border-collapse: collapse; width: 100%; }
th, td { padding: 3px 5px; text-align: right; vertical-align: top; }
th { font-weight: 600; background: #e9eef5; border-bottom: 1px solid #9aa8ba; vertical-align: bottom; }
td { border-bottom: 1px solid #e3e8ef; }
th.l, td.l { text-align: left; }
table.site { width: auto; min-width: 60%; font-size: 13px; background: #fff; }
table.site th[scope="row"] { background: none; font-weight: normal; text-align: left; border-bottom: 1px solid #e3e8ef; }
table.agencies { font-size: 11.5px; }
table.agencies tbody:nth-of-type(even) td { background: #f5f7fa; }
table.agencies td { white-space: nowrap; }
table.agencies td.name { font-weight: 600; white-space: normal; width: 20%; min-width: 130px; }
table.agencies tr.up td { border-bottom-color: #c9d3df; }
.id { display: block; font-weight: normal; font-size: 10.5px; color: #5f6b7a; }
.warn { font-weight: 700; color: #a3261b; }
.rise { font-weight: 700; }
.rules { border-left: 4px solid #2e7d32; background: #f3f8f3; padding: 8px 12px; margin: 10px 0 0; font-size: 12.5px; }
.rules p { margin: 2px 0; }
.howto { background: #fbfaf4; border: 1px solid #e4dfc4; border-radius: 6px; padding: 10px 14px; font-size: 13px; }
.howto h2 { border: 0; margin: 0 0 4px; padding: 0; font-size: 15px; }
.howto li { margin: 3px 0; }
.howto ul { margin: 4px 0; padding-left: 20px; }
.wifi { margin: 12px 0 0; font-size: 13px; }
.agency { border: 1px solid #d5dce6; border-radius: 6px; padding: 10px 12px 6px; margin: 0 0 14px; }
.agency .facts { font-size: 12px; color: #333c47; margin: 0 0 4px; }
.agency .facts b { color: #1d232b; }
svg.chart { display: block; width: 100%; height: auto; }
svg.chart text { font-family: inherit; font-size: 9.5px; fill: #333c47; }
svg.chart .ax { stroke: #59636f; stroke-width: 1; }
svg.chart .grid { stroke: #d9dee5; stroke-width: 0.6; }
svg.chart .office { fill: #eef1f6; }
svg.chart .key .office { stroke: #c5ccd6; stroke-width: 0.6; }
svg.chart path.down { stroke: #6f8fbf; stroke-width: 14; }
svg.chart rect.down { fill: #6f8fbf; }
svg.chart path { fill: none; }
svg.chart .upl { fill: none; stroke: #e08a1e; stroke-width: 1.8; stroke-linejoin: round; }
svg.chart .p95 { stroke: #a3261b; stroke-width: 2; }
svg.chart .guar { stroke: #2e7d32; stroke-width: 1.8; stroke-dasharray: 7 4; }
svg.chart .pkg { stroke: #5b3b8c; stroke-width: 1.8; stroke-dasharray: 2 3; }
svg.chart .ya { text-anchor: end; }
svg.chart .hx { text-anchor: middle; }
svg.chart text.lp95 { fill: #a3261b; font-weight: 600; }
svg.chart text.lguar { fill: #2e7d32; font-weight: 600; }
svg.chart text.lpkg { fill: #5b3b8c; font-weight: 600; }
footer { margin-top: 24px; padding-top: 6px; border-top: 1px solid #c9d3df; font-size: 11px; color: #5f6b7a; }
@page { size: A4; margin: 12mm 11mm 14mm; }
@media print {
  body { max-width: none; padding: 0; font-size: 10pt; }
  h2 { margin-top: 16px; }
  .summary, .howto, .rules, table.site, .cards { break-inside: avoid; page-break-inside: avoid; }
  table.agencies { font-size: 7.6pt; }
  table.agencies thead { display: table-header-group; }
  table.agencies tbody { break-inside: avoid; page-break-inside: avoid; }
  .agency { break-inside: avoid; page-break-inside: avoid; padding: 6px 8px 2px; margin-bottom: 8px; }
  h2.profiles { break-before: page; page-break-before: always; }
  .card .value { font-size: 16pt; }
  .cards.money .value { font-size: 12.5pt; }
  table.agencies td.name { min-width: 0; width: 21%; }
  table.agencies th, table.agencies td { padding: 2px 3px; }
}
"#;

struct Page<'a> {
    r: &'a Report,
    lang: Lang,
}

impl Page<'_> {
    fn t(&self, en: &'static str, id: &'static str) -> &'static str {
        match self.lang {
            Lang::En => en,
            Lang::Id => id,
        }
    }

    /// kbit/s as Mbps with one decimal, without the unit.
    fn mbps(&self, kbps: u64) -> String {
        num(kbps as f64 / 1000.0, 1, self.lang)
    }

    /// kbit/s as "12.3 Mbps".
    fn rate(&self, kbps: u64) -> String {
        format!("{}\u{a0}Mbps", self.mbps(kbps))
    }

    fn percent(&self, share: f64) -> String {
        format!("{}%", num(share * 100.0, 1, self.lang))
    }

    fn amount(&self, v: u64) -> String {
        num(v as f64, 0, self.lang)
    }

    fn money(&self, currency: &str, v: u64) -> String {
        format!("{}\u{a0}{}", esc(currency), self.amount(v))
    }

    fn dir(&self, dir: Direction) -> &'static str {
        match dir {
            Direction::Download => self.t("download", "unduh"),
            Direction::Upload => self.t("upload", "unggah"),
        }
    }

    fn tier(&self, tier: Tier) -> &'static str {
        match tier {
            Tier::Critical => self.t("critical", "kritis"),
            Tier::Standard => self.t("standard", "standar"),
            Tier::Public => self.t("public WiFi", "WiFi publik"),
        }
    }

    /// "Mon–Fri 07:30–16:00".
    fn office_hours(&self) -> String {
        let names = match self.lang {
            Lang::En => ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"],
            Lang::Id => ["Sen", "Sel", "Rab", "Kam", "Jum", "Sab", "Min"],
        };
        let o = &self.r.office;
        let mut runs = Vec::new();
        let mut d = 0;
        while d < 7 {
            if o.days[d] {
                let start = d;
                while d + 1 < 7 && o.days[d + 1] {
                    d += 1;
                }
                runs.push(if start == d {
                    names[d].to_string()
                } else {
                    format!("{}–{}", names[start], names[d])
                });
            }
            d += 1;
        }
        let hm = |m: u16| format!("{:02}:{:02}", m / 60, m % 60);
        format!("{} {}–{}", runs.join(", "), hm(o.start), hm(o.end))
    }

    fn render(&self, s: &mut String) {
        let r = self.r;
        let lang = match self.lang {
            Lang::En => "en",
            Lang::Id => "id",
        };
        let title = format!(
            "{} — {}",
            self.t("Bandwidth needs report", "Laporan kebutuhan bandwidth"),
            r.site
        );
        put!(
            s,
            "<!DOCTYPE html>\n<html lang=\"{lang}\" xml:lang=\"{lang}\">\n<head>\n\
             <meta charset=\"utf-8\"/>\n\
             <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"/>\n\
             <meta name=\"generator\" content=\"opd-gateway report\"/>\n\
             <title>{}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n",
            esc(&title)
        );
        self.header(s);
        self.summary(s);
        self.how_to_read(s);
        self.table(s);
        self.profiles(s);
        put!(
            s,
            "<footer>{} · {} · {}</footer>\n</body>\n</html>\n",
            self.t(
                "Made by opd-gateway report from the gateway's own history",
                "Dibuat oleh opd-gateway report dari riwayat gateway sendiri"
            ),
            esc(&r.site),
            self.period()
        );
    }

    fn period(&self) -> String {
        let r = self.r;
        format!(
            "{} {} {} ({})",
            format_date(r.from, &r.timezone),
            self.t("to", "s.d."),
            format_date((r.to - 1).max(r.from), &r.timezone),
            esc(&r.timezone.name)
        )
    }

    fn header(&self, s: &mut String) {
        let r = self.r;
        let share = if r.period_hours > 0.0 {
            r.recorded_hours / r.period_hours
        } else {
            0.0
        };
        put!(
            s,
            "<header>\n<p class=\"eyebrow\">{}</p>\n<h1>{}</h1>\n\
             <p class=\"meta\"><b>{}</b> · {} {} {} {} {} ({})</p>\n\
             <p class=\"meta small\">{}: {} · {}: {}% · {}: {}</p>\n</header>\n",
            self.t(
                "Bandwidth needs report for the budget",
                "Laporan kebutuhan bandwidth untuk anggaran"
            ),
            esc(&r.site),
            self.period(),
            self.t("recorded", "tercatat"),
            num(r.recorded_hours, 0, self.lang),
            self.t("of", "dari"),
            num(r.period_hours, 0, self.lang),
            self.t("hours", "jam"),
            self.percent(share),
            self.t("Office hours", "Jam kerja"),
            esc(&self.office_hours()),
            self.t(
                "headroom above the pooled need",
                "cadangan di atas kebutuhan gabungan"
            ),
            r.headroom_percent,
            self.t("agencies", "OPD"),
            r.agencies.len(),
        );
    }

    fn summary(&self, s: &mut String) {
        let r = self.r;
        let sd = &r.site_dirs;
        // The uplink is bought for the larger direction; the headline shows that one.
        let d = if sd.upload.needed > sd.download.needed {
            Direction::Upload
        } else {
            Direction::Download
        };
        let f = &sd[d];
        let gain = |needed: u64, packages: u64| {
            if needed > 0 && packages > 0 {
                format!("{}×", num(packages as f64 / needed as f64, 1, self.lang))
            } else {
                "–".to_string()
            }
        };
        put!(
            s,
            "<section class=\"summary\">\n<h2>{}</h2>\n<div class=\"cards\">\n",
            self.t("Summary for the budget", "Ringkasan untuk anggaran")
        );
        let card = |s: &mut String, class: &str, label: &str, value: &str, note: &str| {
            put!(
                s,
                "<div class=\"card{class}\"><div class=\"label\">{label}</div>\
                 <div class=\"value\">{value}</div><div class=\"note\">{note}</div></div>\n"
            );
        };
        card(
            s,
            " key",
            self.t("Pooled uplink needed", "Uplink gabungan yang dibutuhkan"),
            &self.rate(f.needed),
            &format!(
                "{} {} + {}% ({})",
                self.t("p95 of the pooled need", "p95 kebutuhan gabungan"),
                self.rate(f.p95_demand),
                r.headroom_percent,
                self.dir(d)
            ),
        );
        card(
            s,
            "",
            self.t("Capacity in force", "Kapasitas sekarang"),
            &self.rate(f.capacity),
            &format!(
                "{} {} · {} {}",
                self.dir(Direction::Download),
                self.rate(sd.download.capacity),
                self.dir(Direction::Upload),
                self.rate(sd.upload.capacity)
            ),
        );
        card(
            s,
            "",
            self.t("Former packages, summed", "Jumlah paket lama"),
            &self.rate(f.packages),
            &format!(
                "{} {}",
                f.with_package,
                self.t(
                    "agencies with a package of their own",
                    "OPD dengan paket sendiri"
                )
            ),
        );
        card(
            s,
            " key",
            self.t("Pooling gain", "Keuntungan penggabungan"),
            &gain(f.needed, f.packages),
            self.t(
                "former packages ÷ pooled uplink needed",
                "paket lama ÷ uplink gabungan yang dibutuhkan",
            ),
        );
        s.push_str("</div>\n");

        // Both directions in detail.
        put!(
            s,
            "<table class=\"site\">\n<thead><tr><th class=\"l\">{}</th><th>{}</th><th>{}</th></tr></thead>\n<tbody>\n",
            self.t("Whole uplink, Mbps", "Seluruh uplink, Mbps"),
            self.dir(Direction::Download),
            self.dir(Direction::Upload),
        );
        let row = |s: &mut String, label: &str, v: &dyn Fn(&super::SiteFigures) -> String| {
            put!(
                s,
                "<tr><th scope=\"row\">{label}</th><td>{}</td><td>{}</td></tr>\n",
                v(&sd.download),
                v(&sd.upload)
            );
        };
        row(
            s,
            self.t(
                "used, p95 of the pooled sum",
                "terpakai, p95 jumlah gabungan",
            ),
            &|f| self.mbps(f.p95_passed),
        );
        row(s, self.t("used, highest", "terpakai, tertinggi"), &|f| {
            self.mbps(f.peak_passed)
        });
        row(
            s,
            self.t(
                "needed, p95 of the pooled sum",
                "kebutuhan, p95 jumlah gabungan",
            ),
            &|f| self.mbps(f.p95_demand),
        );
        let needed_label = format!(
            "<b>{} (+{}%)</b>",
            self.t("pooled uplink needed", "uplink gabungan yang dibutuhkan"),
            r.headroom_percent
        );
        row(s, &needed_label, &|f| {
            format!("<b>{}</b>", self.mbps(f.needed))
        });
        row(s, self.t("capacity in force", "kapasitas sekarang"), &|f| {
            self.mbps(f.capacity)
        });
        row(
            s,
            self.t("former packages, summed", "jumlah paket lama"),
            &|f| self.mbps(f.packages),
        );
        row(s, self.t("pooling gain", "keuntungan penggabungan"), &|f| {
            gain(f.needed, f.packages)
        });
        s.push_str("</tbody>\n</table>\n");

        if let Some(m) = &r.money {
            put!(
                s,
                "<h2>{}</h2>\n<div class=\"cards money\">\n",
                self.t("Money per year", "Biaya per tahun")
            );
            card(
                s,
                "",
                self.t("Pooled uplink", "Uplink gabungan"),
                &self.money(&m.currency, m.pooled_per_year),
                &format!(
                    "{} Mbps {}",
                    self.amount(m.pooled_mbps),
                    self.t("for 12 months", "selama 12 bulan")
                ),
            );
            card(
                s,
                "",
                self.t("Former packages", "Paket lama"),
                &self.money(&m.currency, m.packages_per_year),
                &format!(
                    "{} {}",
                    f.with_package - m.unpriced.len().min(f.with_package),
                    self.t("packages with a price", "paket dengan harga")
                ),
            );
            let (label, v) = if m.packages_per_year >= m.pooled_per_year {
                (
                    self.t("Saving per year", "Penghematan per tahun"),
                    m.packages_per_year - m.pooled_per_year,
                )
            } else {
                (
                    self.t("Extra cost per year", "Tambahan biaya per tahun"),
                    m.pooled_per_year - m.packages_per_year,
                )
            };
            card(
                s,
                " key",
                label,
                &self.money(&m.currency, v),
                self.t(
                    "former packages − pooled uplink",
                    "paket lama − uplink gabungan",
                ),
            );
            s.push_str("</div>\n");
            if !m.unpriced.is_empty() {
                let names: Vec<String> = m
                    .unpriced
                    .iter()
                    .map(|id| {
                        let name = r
                            .agencies
                            .iter()
                            .find(|a| &a.id == id)
                            .map_or(id.as_str(), |a| a.name.as_str());
                        esc(name)
                    })
                    .collect();
                put!(
                    s,
                    "<p class=\"small muted\">{}: {}.</p>\n",
                    self.t(
                        "Packages without a price in [site.costs], left out of the packages' sum",
                        "Paket tanpa harga di [site.costs], tidak dihitung dalam jumlah paket"
                    ),
                    names.join(", ")
                );
            }
        }

        if let Some(w) = &r.wifi {
            put!(
                s,
                "<p class=\"wifi\"><b>{}</b> ({} {}): {} GB {}, {} GB {}; {} {} {} {} {}. {}</p>\n",
                self.t("Public WiFi", "WiFi publik"),
                w.agencies,
                match (self.lang, w.agencies) {
                    (Lang::En, 1) => "network",
                    _ => self.t("networks", "jaringan"),
                },
                num(w.gigabytes.download, 1, self.lang),
                self.t("downloaded", "diunduh"),
                num(w.gigabytes.upload, 1, self.lang),
                self.t("uploaded", "diunggah"),
                self.t("served", "melayani"),
                num(w.hours_served, 0, self.lang),
                self.t("of", "dari"),
                num(r.recorded_hours, 0, self.lang),
                self.t("recorded hours", "jam tercatat"),
                self.t(
                    "It takes only what the agencies leave, so it is not in the pooled need.",
                    "WiFi publik hanya memakai sisa yang tidak dipakai OPD, jadi tidak dihitung dalam kebutuhan gabungan."
                ),
            );
        }
        s.push_str("</section>\n");
    }

    fn how_to_read(&self, s: &mut String) {
        let items: [&str; 5] = match self.lang {
            Lang::En => [
                "Rates are in Mbps (megabits per second). <b>p95</b> is the 95th percentile of \
                 5-minute averages: the rate an agency stays below 95% of the time. ISPs bill on \
                 it, so an uplink is bought for the p95, not for the single highest moment.",
                "<b>Held back</b> is the share of the time an agency lost more than 0.5% of its \
                 traffic because it asked for more than it could get. An agency that is often \
                 held back needs a bigger guarantee. <b>At ceiling</b> is the part of that time \
                 its own ceiling stopped it: there the ceiling, not the guarantee, is too low.",
                "The <b>recommended</b> guarantee and ceiling for next year come from what each \
                 agency needed, not from what it was given, by the two rules printed under the \
                 table. ↑ marks a figure that should rise, ↓ one that can fall.",
                "The <b>pooling gain</b> is the former separate packages summed, divided by the \
                 pooled uplink needed. Agencies rarely peak at the same moment, so one shared \
                 uplink the size of the pooled need (its p95 plus the headroom) serves them all.",
                "The charts show each agency's average day: bars for download, the orange line \
                 for upload, with its download p95, its guarantee and its former package as \
                 horizontal lines; the shaded hours are office hours.",
            ],
            Lang::Id => [
                "Laju dalam Mbps (megabit per detik). <b>p95</b> adalah persentil ke-95 dari \
                 rata-rata 5 menit: laju yang tidak dilampaui sebuah OPD selama 95% waktu. ISP \
                 menagih berdasarkan angka ini, jadi uplink dibeli untuk p95, bukan untuk satu \
                 saat tertinggi.",
                "<b>Tertahan</b> adalah bagian waktu sebuah OPD kehilangan lebih dari 0,5% lalu \
                 lintasnya karena meminta lebih dari yang bisa diberikan. OPD yang sering \
                 tertahan memerlukan jaminan yang lebih besar. <b>Di batas atas</b> adalah bagian \
                 dari waktu itu ketika batas atasnya sendiri yang menahan: di situ batas atasnya, \
                 bukan jaminannya, yang terlalu rendah.",
                "Jaminan dan batas atas yang <b>disarankan</b> untuk tahun depan dihitung dari \
                 kebutuhan tiap OPD, bukan dari yang diberikan kepadanya, menurut dua aturan di \
                 bawah tabel. ↑ menandai angka yang perlu naik, ↓ angka yang dapat turun.",
                "<b>Keuntungan penggabungan</b> adalah jumlah paket lama yang terpisah dibagi \
                 uplink gabungan yang dibutuhkan. OPD jarang mencapai puncak pada saat yang sama, \
                 jadi satu uplink bersama sebesar kebutuhan gabungan (p95-nya ditambah cadangan) \
                 cukup untuk semuanya.",
                "Grafik menunjukkan hari rata-rata tiap OPD: batang untuk unduh, garis oranye \
                 untuk unggah, dengan p95 unduh, jaminan, dan paket lamanya sebagai garis \
                 mendatar; jam yang diarsir adalah jam kerja.",
            ],
        };
        put!(
            s,
            "<section class=\"howto\">\n<h2>{}</h2>\n<ul>\n",
            self.t("How to read this report", "Cara membaca laporan ini")
        );
        for i in items {
            put!(s, "<li>{i}</li>\n");
        }
        s.push_str("</ul>\n</section>\n");
    }

    /// "5.0 → 10.0 ↑".
    fn change(&self, now: u64, next: u64) -> String {
        let mark = match next.cmp(&now) {
            std::cmp::Ordering::Greater => " <span class=\"rise\">↑</span>",
            std::cmp::Ordering::Less => " ↓",
            std::cmp::Ordering::Equal => "",
        };
        format!("{} → {}{mark}", self.mbps(now), self.mbps(next))
    }

    fn table(&self, s: &mut String) {
        let r = self.r;
        put!(
            s,
            "<h2>{}</h2>\n<table class=\"agencies\" id=\"agencies\">\n<thead><tr>",
            self.t(
                "Agencies: what they used and what they need (Mbps)",
                "OPD: yang dipakai dan yang dibutuhkan (Mbps)"
            )
        );
        let heads = [
            ("l", self.t("Agency", "OPD")),
            ("l", self.t("Direction", "Arah")),
            ("", "p95"),
            ("", self.t("Peak", "Puncak")),
            ("", self.t("Mean", "Rerata")),
            ("", self.t("Office-hours mean", "Rerata jam kerja")),
            ("", self.t("Mean other hours", "Rerata di luar jam kerja")),
            ("", self.t("Held back", "Tertahan")),
            ("", self.t("At ceiling", "Di batas atas")),
            ("", self.t("Guarantee → recommended", "Jaminan → saran")),
            ("", self.t("Ceiling → recommended", "Batas atas → saran")),
            ("", self.t("Former package", "Paket lama")),
        ];
        for (class, h) in heads {
            if class.is_empty() {
                put!(s, "<th>{h}</th>");
            } else {
                put!(s, "<th class=\"{class}\">{h}</th>");
            }
        }
        s.push_str("</tr></thead>\n");
        for a in &r.agencies {
            s.push_str("<tbody>\n");
            for (i, dir) in [Direction::Download, Direction::Upload]
                .into_iter()
                .enumerate()
            {
                let f: &Figures = &a.dirs[dir];
                let held = |share: f64| {
                    if share >= 0.05 {
                        format!("<span class=\"warn\">{}</span>", self.percent(share))
                    } else {
                        self.percent(share)
                    }
                };
                if i == 0 {
                    put!(
                        s,
                        "<tr class=\"down\"><td class=\"l name\" rowspan=\"2\">{}<span class=\"id\">{} · {}</span></td>",
                        esc(&a.name),
                        esc(&a.id),
                        self.tier(a.tier)
                    );
                } else {
                    s.push_str("<tr class=\"up\">");
                }
                put!(
                    s,
                    "<td class=\"l\">{}</td><td><b>{}</b></td><td>{}</td><td>{}</td><td>{}</td>\
                     <td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td>",
                    self.dir(dir),
                    self.mbps(f.p95),
                    self.mbps(f.peak),
                    self.mbps(f.mean),
                    self.mbps(f.office_mean),
                    self.mbps(f.other_mean),
                    held(f.held_share),
                    held(f.ceiling_share),
                    self.change(f.guaranteed, f.recommended_guaranteed),
                    self.change(f.ceiling, f.recommended_ceiling),
                );
                if i == 0 {
                    put!(
                        s,
                        "<td rowspan=\"2\">{}</td>",
                        a.package.map_or("–".to_string(), |p| self.mbps(p))
                    );
                }
                s.push_str("</tr>\n");
            }
            s.push_str("</tbody>\n");
        }
        s.push_str("</table>\n");
        put!(
            s,
            "<div class=\"rules\">\n<p><b>{}</b></p>\n<p>{}</p>\n<p>{}</p>\n</div>\n",
            self.t(
                "How the recommendation is made, per agency and direction:",
                "Cara saran dihitung, per OPD dan arah:"
            ),
            esc(match self.lang {
                Lang::En => RULE_GUARANTEE.0,
                Lang::Id => RULE_GUARANTEE.1,
            }),
            esc(match self.lang {
                Lang::En => RULE_CEILING.0,
                Lang::Id => RULE_CEILING.1,
            }),
        );
    }

    fn profiles(&self, s: &mut String) {
        put!(
            s,
            "<h2 class=\"profiles\">{}</h2>\n",
            self.t("Each agency's average day", "Hari rata-rata tiap OPD")
        );
        for a in &self.r.agencies {
            let d = &a.dirs.download;
            put!(
                s,
                "<section class=\"agency\">\n<h3>{} <span class=\"muted small\">{} · {}</span></h3>\n\
                 <p class=\"facts\">{} p95 <b>{}</b> · {} {} · {} {} · {} {} · {} {}{}</p>\n",
                esc(&a.name),
                esc(&a.id),
                self.tier(a.tier),
                self.dir(Direction::Download),
                self.rate(d.p95),
                self.t("peak", "puncak"),
                self.rate(d.peak),
                self.t("held back", "tertahan"),
                self.percent(d.held_share),
                self.t("guarantee", "jaminan"),
                self.change(d.guaranteed, d.recommended_guaranteed),
                self.t("ceiling", "batas atas"),
                self.change(d.ceiling, d.recommended_ceiling),
                match a.package {
                    Some(p) => format!(
                        " · {} {}",
                        self.t("former package", "paket lama"),
                        self.rate(p)
                    ),
                    None => String::new(),
                },
            );
            self.chart(s, a);
            s.push_str("</section>\n");
        }
    }

    /// The agency's average day as an inline SVG: download per hour as bars, upload as a
    /// line, its download p95, guarantee and former package as labelled horizontal lines.
    /// Kept small (one path per kind of line, styles in the page's CSS): a regency has
    /// dozens of agencies.
    fn chart(&self, s: &mut String, a: &AgencyReport) {
        // The plot: 24 hours of BW units from X0, Mbps from Y1 (0) up to Y0 (the top).
        const X0: f64 = 56.0;
        const BW: f64 = 20.0;
        const X1: f64 = X0 + 24.0 * BW;
        const Y0: f64 = 32.0;
        const Y1: f64 = 172.0;
        let (d, u) = (&a.dirs.download, &a.dirs.upload);
        let mut lines: Vec<(u64, &str, String)> =
            vec![(d.p95, "p95", format!("p95 {}", self.mbps(d.p95)))];
        if d.guaranteed > 0 {
            lines.push((
                d.guaranteed,
                "guar",
                format!(
                    "{} {}",
                    self.t("guarantee", "jaminan"),
                    self.mbps(d.guaranteed)
                ),
            ));
        }
        if let Some(p) = a.package {
            lines.push((
                p,
                "pkg",
                format!("{} {}", self.t("package", "paket"), self.mbps(p)),
            ));
        }
        let max = d
            .profile
            .iter()
            .chain(u.profile.iter())
            .copied()
            .chain(lines.iter().map(|l| l.0))
            .max()
            .unwrap_or(0);
        let (step, top, decimals) = scale(max as f64 / 1000.0);
        let y = |kbps: u64| Y1 - (kbps as f64 / 1000.0) / top * (Y1 - Y0);
        put!(
            s,
            "<svg class=\"chart\" viewBox=\"0 0 640 200\" role=\"img\"><title>{}: {}</title>\n",
            esc(&a.name),
            self.t("average day, Mbps per hour", "hari rata-rata, Mbps per jam"),
        );
        // Office hours, shaded.
        let o = &self.r.office;
        if o.days.iter().any(|d| *d) && o.end > o.start {
            put!(
                s,
                "<rect class=\"office\" x=\"{}\" y=\"{Y0}\" width=\"{}\" height=\"{}\"/>\n",
                c(X0 + o.start as f64 / 60.0 * BW),
                c((o.end - o.start) as f64 / 60.0 * BW),
                Y1 - Y0
            );
        }
        // Grid and the Mbps axis.
        let steps = (top / step).round() as usize;
        s.push_str("<path class=\"grid\" d=\"");
        for i in 1..=steps {
            put!(
                s,
                "M{X0} {}H{X1}",
                c(Y1 - i as f64 / steps as f64 * (Y1 - Y0))
            );
        }
        put!(
            s,
            "\"/>\n<g class=\"ya\" transform=\"translate({},3)\">",
            X0 - 5.0
        );
        for i in 0..=steps {
            put!(
                s,
                "<text y=\"{}\">{}</text>",
                c(Y1 - i as f64 / steps as f64 * (Y1 - Y0)),
                num(step * i as f64, decimals, self.lang)
            );
        }
        put!(
            s,
            "</g>\n<text transform=\"rotate(-90)\" x=\"{}\" y=\"12\" class=\"hx\">Mbps</text>\n",
            -(Y0 + Y1) / 2.0
        );
        // Download bars: one thick stroke per hour.
        let mut bars = String::new();
        for (h, v) in d.profile.iter().enumerate() {
            if *v > 0 {
                put!(bars, "M{} {Y1}V{}", c(X0 + (h as f64 + 0.5) * BW), c(y(*v)));
            }
        }
        if !bars.is_empty() {
            put!(s, "<path class=\"down\" d=\"{bars}\"/>\n");
        }
        // Upload line.
        s.push_str("<polyline class=\"upl\" points=\"");
        for (h, v) in u.profile.iter().enumerate() {
            put!(
                s,
                "{}{},{}",
                if h > 0 { " " } else { "" },
                c(X0 + (h as f64 + 0.5) * BW),
                c(y(*v))
            );
        }
        s.push_str("\"/>\n");
        // Reference lines, labelled at their right end (labels pushed apart if close).
        let mut labels: Vec<(f64, &str, &str)> = lines
            .iter()
            .map(|(v, class, label)| (y(*v), *class, label.as_str()))
            .collect();
        for (yy, class, _) in &labels {
            put!(s, "<path class=\"{class}\" d=\"M{X0} {}H{X1}\"/>\n", c(*yy));
        }
        labels.sort_by(|a, b| a.0.total_cmp(&b.0));
        let mut at: Vec<f64> = labels.iter().map(|l| l.0 + 3.0).collect();
        for i in 1..at.len() {
            at[i] = at[i].max(at[i - 1] + 11.0);
        }
        if let Some(last) = at.last().copied()
            && last > Y1 + 3.0
        {
            let shift = last - (Y1 + 3.0);
            for v in &mut at {
                *v -= shift;
            }
        }
        for ((_, class, label), yy) in labels.iter().zip(&at) {
            put!(
                s,
                "<text class=\"l{class}\" x=\"{}\" y=\"{}\">{}</text>\n",
                X1 + 4.0,
                c(*yy),
                esc(label)
            );
        }
        // The axes and the hours.
        put!(
            s,
            "<path class=\"ax\" d=\"M{X0} {Y0}V{Y1}H{X1}\"/>\n<g class=\"hx\" transform=\"translate(0,{})\">",
            Y1 + 12.0
        );
        for h in 0..24 {
            put!(
                s,
                "<text x=\"{}\">{h}</text>",
                c(X0 + (h as f64 + 0.5) * BW)
            );
        }
        put!(
            s,
            "<text x=\"{}\" y=\"13\">{} ({})</text></g>\n",
            (X0 + X1) / 2.0,
            self.t("mean per hour of the day", "rerata per jam dalam sehari"),
            esc(&self.r.timezone.name)
        );
        // The legend, on top.
        let items: [(&str, &str); 6] = [
            ("down", self.dir(Direction::Download)),
            ("upl", self.dir(Direction::Upload)),
            ("p95", self.t("download p95", "p95 unduh")),
            ("guar", self.t("guarantee", "jaminan")),
            ("pkg", self.t("former package", "paket lama")),
            ("office", self.t("office hours", "jam kerja")),
        ];
        let mut x = X0;
        s.push_str("<g class=\"key\">");
        for (class, label) in items {
            if (class == "guar" && d.guaranteed == 0) || (class == "pkg" && a.package.is_none()) {
                continue;
            }
            match class {
                "down" | "office" => put!(
                    s,
                    "<rect class=\"{class}\" x=\"{x}\" y=\"8\" width=\"14\" height=\"9\"/>"
                ),
                _ => put!(s, "<path class=\"{class}\" d=\"M{x} 12.5h18\"/>"),
            }
            put!(s, "<text x=\"{}\" y=\"16\">{label}</text>", x + 22.0);
            x += 22.0 + label.chars().count() as f64 * 5.6 + 16.0;
        }
        s.push_str("</g></svg>\n");
    }
}

/// A chart coordinate: one decimal at most, none when it is whole.
fn c(v: f64) -> String {
    let r = (v * 10.0).round() / 10.0;
    if r == r.trunc() {
        format!("{}", r as i64)
    } else {
        format!("{r:.1}")
    }
}

#[cfg(test)]
mod tests {
    use gateway_common::PerDirection;

    use super::*;
    use crate::{
        policy::TimeZone,
        report::{Money, OfficeHours, SiteFigures, Wifi, step_up},
    };

    /// An agency's figures with a download p95 of `p95` kbit/s and a working-day shape.
    fn figures(p95: u64, package: Option<u64>, held: f64) -> Figures {
        let mut profile = [0u64; 24];
        for (h, v) in profile.iter_mut().enumerate() {
            let day = if (8..16).contains(&h) { 1.0 } else { 0.25 };
            let wave = 0.8 + 0.2 * ((h as f64) / 3.0).sin();
            *v = (p95 as f64 * 0.7 * day * wave) as u64;
        }
        let guaranteed = package.map_or(p95 / 2, |p| p / 2);
        Figures {
            samples: 8_000,
            p95,
            peak: p95 * 3 / 2,
            mean: p95 / 2,
            office_mean: p95 * 7 / 10,
            other_mean: p95 / 5,
            demand_p95: p95 * 11 / 10,
            office_demand_p95: p95 * 11 / 10,
            demand_peak: p95 * 2,
            held_share: held,
            ceiling_share: held / 3.0,
            passed_bytes: p95 * 1000,
            dropped_bytes: p95,
            guaranteed,
            ceiling: p95 * 2,
            recommended_guaranteed: step_up(p95 * 11 / 10),
            recommended_ceiling: step_up(p95 * 5 / 2),
            profile,
        }
    }

    fn agency(id: &str, name: &str, tier: Tier, p95: u64, package: Option<u64>) -> AgencyReport {
        let held = if id.len().is_multiple_of(3) {
            0.12
        } else {
            0.01
        };
        AgencyReport {
            id: id.into(),
            name: name.into(),
            tier,
            package,
            package_price: package.map(|p| p * 30_000),
            dirs: PerDirection {
                download: figures(p95, package, held),
                upload: figures(p95 / 4, package, held / 2.0),
            },
        }
    }

    fn report(agencies: Vec<AgencyReport>) -> Report {
        let tz = TimeZone::default();
        let from = crate::report::parse_date("2026-01-01", &tz).unwrap();
        let to = crate::report::parse_date("2026-02-01", &tz).unwrap();
        let packages: u64 = agencies.iter().filter_map(|a| a.package).sum();
        let with_package = agencies.iter().filter(|a| a.package.is_some()).count();
        let site = |needed: u64, capacity: u64| SiteFigures {
            p95_passed: needed * 7 / 10,
            peak_passed: needed,
            p95_demand: needed * 10 / 12,
            needed,
            capacity,
            packages,
            with_package,
        };
        Report {
            site: "Kabupaten Contoh <Uji>".into(),
            timezone: tz,
            from,
            to,
            office: OfficeHours::default(),
            headroom_percent: 20,
            recorded_hours: 700.0,
            period_hours: 744.0,
            agencies,
            site_dirs: PerDirection {
                download: site(61_500, 100_000),
                upload: site(20_300, 100_000),
            },
            wifi: Some(Wifi {
                agencies: 1,
                gigabytes: PerDirection {
                    download: 1_234.56,
                    upload: 210.4,
                },
                hours_served: 520.0,
            }),
            money: Some(Money {
                currency: "Rp".into(),
                pooled_mbps: 62,
                pooled_per_year: 62 * 150_000 * 12,
                packages_per_year: 1_250_000_000,
                unpriced: vec!["pariwisata".into()],
            }),
        }
    }

    fn small() -> Report {
        report(vec![
            agency(
                "dinkes",
                "Dinas Kesehatan",
                Tier::Critical,
                1_234_500,
                Some(50_000),
            ),
            agency(
                "pariwisata",
                "Dinas Pariwisata & Kebudayaan <Seni>",
                Tier::Standard,
                12_345,
                Some(20_000),
            ),
            agency("wifi-taman", "WiFi Taman Kota", Tier::Public, 8_000, None),
        ])
    }

    fn many(n: usize) -> Report {
        report(
            (0..n)
                .map(|i| {
                    agency(
                        &format!("opd-{i:02}"),
                        &format!("Dinas Nomor {i} & Urusan \"Umum\""),
                        if i % 5 == 0 {
                            Tier::Critical
                        } else {
                            Tier::Standard
                        },
                        (i as u64 + 1) * 1_700,
                        (i % 4 != 3).then_some(((i as u64 % 5) + 1) * 10_000),
                    )
                })
                .collect(),
        )
    }

    fn html(r: &Report, lang: Lang) -> String {
        let mut out = Vec::new();
        write(&mut out, r, lang).unwrap();
        String::from_utf8(out).unwrap()
    }

    fn parse(page: &str) -> Result<roxmltree::Document<'_>, roxmltree::Error> {
        let opt = roxmltree::ParsingOptions {
            allow_dtd: true,
            ..Default::default()
        };
        roxmltree::Document::parse_with_options(page, opt)
    }

    fn texts(node: roxmltree::Node) -> String {
        node.descendants()
            .filter(|n| n.is_text())
            .map(|n| n.text().unwrap_or(""))
            .collect()
    }

    #[test]
    fn numbers_per_language() {
        assert_eq!(num(1_234.5, 1, Lang::Id), "1.234,5");
        assert_eq!(num(1_234.5, 1, Lang::En), "1,234.5");
        assert_eq!(num(1_250_000_000.0, 0, Lang::Id), "1.250.000.000");
        assert_eq!(num(999.96, 1, Lang::En), "1,000.0");
        assert_eq!(num(12.0, 0, Lang::En), "12");
        assert_eq!(num(-0.01, 1, Lang::En), "0.0");
        assert_eq!(num(-1234.0, 0, Lang::Id), "-1.234");
    }

    #[test]
    fn axis_scale_is_round() {
        assert_eq!(scale(0.0), (0.25, 1.0, 2));
        assert_eq!(scale(9.3), (2.5, 10.0, 1));
        assert_eq!(scale(61.5), (20.0, 80.0, 0));
        assert_eq!(scale(1_234.5), (500.0, 1_500.0, 0));
    }

    #[test]
    fn page_is_well_formed_self_contained_and_complete() {
        let r = small();
        for lang in [Lang::Id, Lang::En] {
            let page = html(&r, lang);
            let doc = parse(&page).unwrap_or_else(|e| panic!("{lang:?}: not well-formed: {e}"));
            for bad in ["http://", "https://", "src=", "@import", "url(", "<script"] {
                assert!(!page.contains(bad), "{lang:?}: {bad} in the page");
            }
            assert!(!page.contains("Pariwisata & K"), "unescaped &");
            assert!(page.contains("Dinas Pariwisata &amp; Kebudayaan &lt;Seni&gt;"));
            assert!(page.contains("Kabupaten Contoh &lt;Uji&gt;"));

            let table = doc
                .descendants()
                .find(|n| n.attribute("id") == Some("agencies"))
                .expect("the agencies' table");
            let cells: Vec<String> = table
                .descendants()
                .filter(|n| n.has_tag_name("td"))
                .map(texts)
                .collect();
            for a in &r.agencies {
                let names = table
                    .descendants()
                    .filter(|n| n.is_text() && n.text() == Some(a.name.as_str()))
                    .count();
                assert_eq!(names, 1, "{lang:?}: {} in the table", a.name);
            }
            let (big, small) = match lang {
                Lang::Id => ("1.234,5", "12,3"),
                Lang::En => ("1,234.5", "12.3"),
            };
            for p95 in [big, small] {
                assert!(cells.iter().any(|c| c == p95), "{lang:?}: p95 {p95}");
            }
            let wrong = match lang {
                Lang::Id => "1,234.5",
                Lang::En => "1.234,5",
            };
            assert!(!page.contains(wrong), "{lang:?}: {wrong}");

            let blocks: Vec<_> = doc
                .descendants()
                .filter(|n| n.attribute("class") == Some("agency"))
                .collect();
            assert_eq!(blocks.len(), r.agencies.len());
            for b in &blocks {
                assert_eq!(b.descendants().filter(|n| n.has_tag_name("svg")).count(), 1);
            }
            let svgs = doc.descendants().filter(|n| n.has_tag_name("svg")).count();
            assert_eq!(svgs, r.agencies.len());

            let all = texts(doc.root_element());
            let (g, c) = match lang {
                Lang::En => (RULE_GUARANTEE.0, RULE_CEILING.0),
                Lang::Id => (RULE_GUARANTEE.1, RULE_CEILING.1),
            };
            assert!(all.contains(g) && all.contains(c), "{lang:?}: the rules");
            let html = doc.root_element();
            assert_eq!(
                html.attribute("lang"),
                Some(if lang == Lang::Id { "id" } else { "en" })
            );
        }
    }

    #[test]
    fn labels_follow_the_language() {
        let r = small();
        let id = html(&r, Lang::Id);
        let en = html(&r, Lang::En);
        for s in [
            "Ringkasan untuk anggaran",
            "Cara membaca laporan ini",
            "Keuntungan penggabungan",
            "WiFi publik",
            "Penghematan per tahun",
            "Rp\u{a0}1.250.000.000",
            "2026-01-01 s.d. 2026-01-31",
        ] {
            assert!(id.contains(s), "id: {s}");
            assert!(!en.contains(s), "en: {s}");
        }
        for s in [
            "Summary for the budget",
            "How to read this report",
            "Pooling gain",
            "Public WiFi",
            "Saving per year",
            "Rp\u{a0}1,250,000,000",
            "2026-01-01 to 2026-01-31",
        ] {
            assert!(en.contains(s), "en: {s}");
            assert!(!id.contains(s), "id: {s}");
        }
        // Packages 70 Mbps over 61.5 needed.
        assert!(id.contains("1,1×") && en.contains("1.1×"));
        // The unpriced agency by name.
        assert!(en.contains("left out of the packages' sum: Dinas Pariwisata &amp; Kebudayaan"));
    }

    #[test]
    fn forty_five_agencies_fit_in_200_kb() {
        let r = many(45);
        for lang in [Lang::Id, Lang::En] {
            let page = html(&r, lang);
            assert!(page.len() < 200_000, "{lang:?}: {} bytes", page.len());
            let doc = parse(&page).unwrap();
            assert_eq!(
                doc.descendants().filter(|n| n.has_tag_name("svg")).count(),
                45
            );
        }
    }

    #[test]
    fn an_empty_report_is_still_a_page() {
        let mut r = report(Vec::new());
        r.money = None;
        r.wifi = None;
        r.site_dirs = Default::default();
        let page = html(&r, Lang::Id);
        parse(&page).unwrap();
        assert!(!page.contains("NaN") && !page.contains(">inf") && !page.contains("∞"));
    }

    /// Writes samples to look at: `cargo test -p opd-gateway --lib report::html -- --ignored`.
    #[test]
    #[ignore]
    fn sample() {
        let mut r = many(12);
        r.agencies.insert(0, small().agencies[1].clone());
        r.agencies.insert(0, small().agencies[0].clone());
        r.agencies.push(small().agencies[2].clone());
        std::fs::write("/tmp/report-sample.html", html(&r, Lang::Id)).unwrap();
        std::fs::write("/tmp/report-sample-en.html", html(&r, Lang::En)).unwrap();
    }
}
