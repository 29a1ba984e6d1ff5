//! An SVG plot of each agency's demand, share by need and delivered rate over time, as the
//! demo records them from the daemon's /status.

use std::fmt::Write as _;

/// One agency's series: (seconds, Mbps) points.
pub struct Series {
    pub agency: String,
    pub guaranteed_mbps: f64,
    pub demand: Vec<(f64, f64)>,
    pub allocated: Vec<(f64, f64)>,
    pub rate: Vec<(f64, f64)>,
}

const W: f64 = 360.0;
const H: f64 = 150.0;
const PAD: f64 = 34.0;

/// Small multiples: one chart per agency, phases shaded, a legend on top.
pub fn svg(
    title: &str,
    series: &[Series],
    phases: &[(f64, f64, &str)],
    capacity_mbps: f64,
) -> String {
    let cols = 2usize;
    let rows = series.len().div_ceil(cols);
    let (width, height) = (
        cols as f64 * (W + PAD) + PAD,
        rows as f64 * (H + PAD + 14.0) + 70.0,
    );
    let t_max = series
        .iter()
        .flat_map(|s| s.rate.iter().chain(&s.allocated).map(|p| p.0))
        .fold(1.0, f64::max);
    let mut out = String::new();
    let _ = write!(
        out,
        r##"<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0}" height="{height:.0}" font-family="sans-serif" font-size="11">
<rect width="100%" height="100%" fill="white"/>
<text x="{PAD}" y="20" font-size="14" font-weight="bold">{title}</text>
<g transform="translate({PAD},38)">
<line x1="0" y1="0" x2="18" y2="0" stroke="#999" stroke-dasharray="4 3" stroke-width="2"/><text x="22" y="4">demand</text>
<line x1="80" y1="0" x2="98" y2="0" stroke="#1f77b4" stroke-width="2"/><text x="102" y="4">share</text>
<line x1="175" y1="0" x2="193" y2="0" stroke="#2ca02c" stroke-width="2"/><text x="197" y="4">delivered</text>
<line x1="255" y1="0" x2="273" y2="0" stroke="#d62728" stroke-dasharray="1 3" stroke-width="2"/><text x="277" y="4">guarantee (Mbps, download)</text>
</g>
"##
    );
    for (i, s) in series.iter().enumerate() {
        let (col, row) = (i % cols, i / cols);
        let (x0, y0) = (
            PAD + col as f64 * (W + PAD),
            60.0 + row as f64 * (H + PAD + 14.0),
        );
        let y_max = s
            .demand
            .iter()
            .chain(&s.allocated)
            .chain(&s.rate)
            .map(|p| p.1)
            .fold(s.guaranteed_mbps * 1.2, f64::max)
            .min(capacity_mbps * 1.05)
            .max(1.0);
        let x = |t: f64| x0 + t / t_max * W;
        let y = |v: f64| y0 + H - v.min(y_max) / y_max * H;
        let _ = write!(
            out,
            r##"<text x="{x0}" y="{:.1}" font-weight="bold">{}</text>"##,
            y0 - 4.0,
            s.agency
        );
        for (a, b, _) in phases.iter().skip(1).step_by(2) {
            let _ = write!(
                out,
                r##"<rect x="{:.1}" y="{y0}" width="{:.1}" height="{H}" fill="#f3f3f3"/>"##,
                x(*a),
                x(*b) - x(*a)
            );
        }
        let _ = write!(
            out,
            r##"<rect x="{x0}" y="{y0}" width="{W}" height="{H}" fill="none" stroke="#ccc"/>"##
        );
        for k in 0..=4 {
            let v = y_max * k as f64 / 4.0;
            let _ = write!(
                out,
                r##"<text x="{:.1}" y="{:.1}" text-anchor="end" fill="#666">{v:.0}</text>"##,
                x0 - 3.0,
                y(v) + 4.0
            );
        }
        let _ = write!(
            out,
            r##"<line x1="{x0}" x2="{:.1}" y1="{g:.1}" y2="{g:.1}" stroke="#d62728" stroke-dasharray="1 3" stroke-width="1.5"/>"##,
            x0 + W,
            g = y(s.guaranteed_mbps)
        );
        for (points, style) in [
            (&s.demand, r##"stroke="#999" stroke-dasharray="4 3""##),
            (&s.allocated, r##"stroke="#1f77b4""##),
            (&s.rate, r##"stroke="#2ca02c""##),
        ] {
            let path: Vec<String> = points
                .iter()
                .map(|(t, v)| format!("{:.1},{:.1}", x(*t), y(*v)))
                .collect();
            let _ = write!(
                out,
                r##"<polyline fill="none" stroke-width="1.6" {style} points="{}"/>"##,
                path.join(" ")
            );
        }
        if row == rows - 1 || i + cols >= series.len() {
            for (a, _, name) in phases {
                let _ = write!(
                    out,
                    r##"<text x="{:.1}" y="{:.1}" fill="#666">{name}</text>"##,
                    x(*a) + 3.0,
                    y0 + H + 14.0
                );
            }
        }
    }
    out.push_str("</svg>\n");
    out
}
