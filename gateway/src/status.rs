//! `opd-gateway status`: the running daemon's agencies, fetched from its `/status`.

use std::{io::Write, time::Duration};

use gateway_common::Direction;

use crate::metrics::{HostsStatus, Status};

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
    #[error("the daemon at {endpoint} answered {code}: {message}")]
    Refused {
        endpoint: String,
        code: u16,
        message: String,
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
    get(endpoint, &[])
}

/// The `top` busiest hosts of `agency` from the daemon at `endpoint`, as JSON text and
/// parsed.
pub fn fetch_hosts(
    endpoint: &str,
    agency: &str,
    top: usize,
) -> Result<(String, HostsStatus), FetchError> {
    let top = top.to_string();
    get(endpoint, &[("agency", agency), ("top", &top)])
}

fn get<T: serde::de::DeserializeOwned>(
    endpoint: &str,
    query: &[(&str, &str)],
) -> Result<(String, T), FetchError> {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(Duration::from_secs(5)))
        .http_status_as_error(false)
        .build()
        .into();
    let unreachable = |source| FetchError::Unreachable {
        endpoint: endpoint.to_string(),
        source: Box::new(source),
    };
    let mut response = agent
        .get(format!("http://{endpoint}/status"))
        .query_pairs(query.iter().copied())
        .call()
        .map_err(unreachable)?;
    let code = response.status();
    let raw = response.body_mut().read_to_string().map_err(unreachable)?;
    if !code.is_success() {
        return Err(FetchError::Refused {
            endpoint: endpoint.to_string(),
            code: code.as_u16(),
            message: raw.trim().to_string(),
        });
    }
    let status = serde_json::from_str(&raw).map_err(|source| FetchError::Malformed {
        endpoint: endpoint.to_string(),
        source,
    })?;
    Ok((raw, status))
}

/// An agency's busiest hosts as a table: address, direction, rate and drops.
pub fn write_hosts(out: &mut impl Write, h: &HostsStatus) -> std::io::Result<()> {
    writeln!(
        out,
        "{} — hosts = \"{}\"; active hosts {} up, {} down; {} in the host table",
        h.agency, h.hosts, h.active[0], h.active[1], h.in_table
    )?;
    writeln!(
        out,
        "\n{:<41} {:<9} {:>9} {:>9} {:>12} {:>12}",
        "host", "direction", "rate", "drops", "passed MB", "dropped MB"
    )?;
    for s in &h.list {
        writeln!(
            out,
            "{:<41} {:<9} {:>9} {:>9} {:>12.1} {:>12.1}",
            s.address.to_string(),
            s.direction.as_str(),
            mbps(s.rate_bps),
            mbps(s.dropped_bps),
            s.passed_bytes as f64 / 1e6,
            s.dropped_bytes as f64 / 1e6
        )?;
    }
    if h.list.is_empty() {
        writeln!(out, "(no host of this agency in the host table)")?;
    }
    writeln!(
        out,
        "\n(Mbps over the last {} ms, busiest first; passed and dropped since the host entered \
         the table)",
        h.interval_ms
    )
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
            "\n{:<9} {:<18} {:<8} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9} {:>6}",
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
            "borrowed",
            "hosts"
        )?;
        let (mut total, mut dropped) = (0, 0);
        for a in &s.agencies {
            let f = a.flow(dir);
            total += f.rate_bps;
            dropped += f.dropped_bps;
            let id: String = a.id.chars().take(18).collect();
            writeln!(
                out,
                "{:<9} {id:<18} {:<8} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9} {:>6}",
                "",
                a.tier.as_str(),
                mbps(f.guaranteed_bps),
                mbps(f.ceiling_bps),
                mbps(f.allocated_bps),
                mbps(f.limit_bps),
                mbps(f.rate_bps),
                mbps(f.demand_bps),
                mbps(f.dropped_bps),
                mbps(f.borrowed_bps),
                f.hosts
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
        let (divided, room) = (s.divided_bps[dir.index()], s.resend_room_bps[dir.index()]);
        if room > 0 && divided < s.usable(dir) {
            writeln!(
                out,
                "{:<9} divided {} of {} Mbps usable: {} Mbps kept for resent TCP segments",
                "",
                mbps(divided),
                mbps(s.usable(dir)),
                mbps(room)
            )?;
        }
    }
    writeln!(
        out,
        "\n(Mbps; alloc. = share by need, limit = what it may pass until the next tick (its share \
         or guarantee plus what nobody wants); rate, drops and borrowed (passed beyond the \
         guarantee) over the last tick; hosts = its hosts active at the last tick, when it \
         shares by host; `--hosts AGENCY` lists them)"
    )
}
