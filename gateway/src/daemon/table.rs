//! The per-agency table `opd-gateway run` prints every `--interval`.

use std::io::Write;

use gateway_common::Direction;

use crate::control::Snapshot;

fn mbps(bps: u64) -> String {
    format!("{:.1}", bps as f64 / 1e6)
}

/// Rate / allocation / guarantee per direction (drops after a minus), and the uplink's use.
pub fn write(out: &mut impl Write, s: &Snapshot) -> std::io::Result<()> {
    writeln!(
        out,
        "{:<18} {:<8} | {:>26} | {:>26}",
        "agency", "tier", "upload Mbps: rate/alloc/guar", "download Mbps: rate/alloc/guar"
    )?;
    for a in &s.agencies {
        let cell = |d: Direction| {
            let f = &a.flows[d];
            let drop = if f.dropped_rate > 0 {
                format!(" -{}", mbps(f.dropped_rate))
            } else {
                String::new()
            };
            format!(
                "{}/{}/{}{drop}",
                mbps(f.passed_rate),
                mbps(f.allocated),
                mbps(f.guaranteed)
            )
        };
        let (up, down) = (cell(Direction::Upload), cell(Direction::Download));
        let id: String = a.id.chars().take(18).collect();
        writeln!(
            out,
            "{id:<18} {:<8} | {up:>26} | {down:>26}",
            a.tier.as_str()
        )?;
    }
    let in_use = |d: Direction| -> u64 { s.agencies.iter().map(|a| a.flows[d].passed_rate).sum() };
    writeln!(
        out,
        "uplink: {} of {} Mbps up, {} of {} Mbps down in use (tick {})\n",
        mbps(in_use(Direction::Upload)),
        mbps(s.usable.upload),
        mbps(in_use(Direction::Download)),
        mbps(s.usable.download),
        s.ticks
    )?;
    out.flush()
}
