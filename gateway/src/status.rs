//! `opd-gateway status`: the running daemon's agencies, fetched from its `/status`.

use std::{io::Write, time::Duration};

use gateway_common::Direction;

use crate::metrics::Status;

/// Why the status could not be fetched.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error(
        "cannot reach the daemon at {endpoint}: is `opd-gateway run` running (see its --listen)?"
    )]
    Unreachable {
        endpoint: String,
        #[source]
        source: Box<ureq::Error>,
    },
    #[error("the daemon at {endpoint} sent a status this version cannot read")]
    Malformed {
        endpoint: String,
        #[source]
        source: serde_json::Error,
    },
}

/// The daemon's status at `endpoint` (host:port), as JSON text and parsed.
pub fn fetch(endpoint: &str) -> Result<(String, Status), FetchError> {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(Duration::from_secs(5)))
        .build()
        .into();
    let unreachable = |source| FetchError::Unreachable {
        endpoint: endpoint.to_string(),
        source: Box::new(source),
    };
    let raw = agent
        .get(format!("http://{endpoint}/status"))
        .call()
        .map_err(unreachable)?
        .body_mut()
        .read_to_string()
        .map_err(unreachable)?;
    let status = serde_json::from_str(&raw).map_err(|source| FetchError::Malformed {
        endpoint: endpoint.to_string(),
        source,
    })?;
    Ok((raw, status))
}

fn mbps(bps: u64) -> String {
    format!("{:.1}", bps as f64 / 1e6)
}

/// The status as a table per direction: guarantee, ceiling, allocation, rate, demand,
/// drops and borrowing of every agency, in Mbps.
pub fn write_table(out: &mut impl Write, s: &Status) -> std::io::Result<()> {
    writeln!(
        out,
        "{} — policy {} (generation {}), tick {}; uplink {} / {} Mbps usable (up / down)",
        s.site,
        s.policy,
        s.generation,
        s.tick,
        mbps(s.usable(Direction::Upload)),
        mbps(s.usable(Direction::Download))
    )?;
    for dir in Direction::ALL {
        writeln!(
            out,
            "\n{:<9} {:<18} {:<8} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9}",
            dir.as_str().to_uppercase(),
            "agency",
            "tier",
            "guarant.",
            "ceiling",
            "alloc.",
            "limit",
            "rate",
            "demand",
            "drops",
            "borrowed"
        )?;
        let (mut total, mut dropped) = (0, 0);
        for a in &s.agencies {
            let f = a.flow(dir);
            total += f.rate_bps;
            dropped += f.dropped_bps;
            let id: String = a.id.chars().take(18).collect();
            writeln!(
                out,
                "{:<9} {id:<18} {:<8} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9}",
                "",
                a.tier.as_str(),
                mbps(f.guaranteed_bps),
                mbps(f.ceiling_bps),
                mbps(f.allocated_bps),
                mbps(f.limit_bps),
                mbps(f.rate_bps),
                mbps(f.demand_bps),
                mbps(f.dropped_bps),
                mbps(f.borrowed_bps)
            )?;
        }
        writeln!(
            out,
            "{:<9} {:<18} {:<8} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9}",
            "",
            "total",
            "",
            "",
            "",
            "",
            "",
            mbps(total),
            "",
            mbps(dropped)
        )?;
        let (carried, capacity) = (s.carried(dir), s.capacity(dir));
        writeln!(
            out,
            "{:<9} uplink carried (rate + drops) {} of {} Mbps purchased ({:.0}%)",
            "",
            mbps(carried),
            mbps(capacity),
            if capacity > 0 {
                carried as f64 * 100.0 / capacity as f64
            } else {
                0.0
            }
        )?;
    }
    writeln!(
        out,
        "\n(Mbps; alloc. = share by need, limit = what it may pass until the next tick (its share \
         or guarantee plus what nobody wants); rate, drops and borrowed (passed beyond the \
         guarantee) over the last tick)"
    )
}
