//! The `[site]` table.

use std::{
    ops::{Range, RangeInclusive},
    time::Duration,
};

use toml::Spanned;

use super::names::valid_ifname;
use super::{
    super::{
        Costs, Direction, Fallback, Forwarding, Msg, MsgId, PerDirection, Site, TimeZone,
        Unclassified, XdpMode, defaults, messages::direction, rate, raw,
    },
    Ctx,
};
use crate::units::{Amount, Rate, parse_amount, parse_duration, parse_rate};

pub(super) struct SiteOut {
    pub(super) site: Site,
    pub(super) capacity_ok: bool,
    pub(super) capacity_span: Range<usize>,
    pub(super) file: usize,
    pub(super) unclassified_name: Option<(String, Range<usize>)>,
    /// `[site.costs]` has a `package_per_year` table: agencies' packages should be in it.
    pub(super) packages_priced: bool,
}

pub(super) fn compile_site(cx: &mut Ctx, file: usize, span: Range<usize>, s: raw::Site) -> SiteOut {
    let mut capacity = PerDirection::<u64>::default();
    let mut capacity_ok = true;
    let mut capacity_span = 0..0;
    match &s.capacity {
        None => {
            capacity_ok = false;
            cx.error(
                file,
                span,
                Msg::new(MsgId::NoCapacity),
                Some(Msg::new(MsgId::CapacityHint)),
            );
        }
        Some(c) => {
            capacity_span = c.span();
            let c = c.get_ref();
            for (dir, v) in [
                (Direction::Upload, &c.upload),
                (Direction::Download, &c.download),
            ] {
                match parse_rate(v.get_ref()) {
                    Ok(r) => capacity[dir] = r.bits_per_second(),
                    Err(e) => {
                        capacity_ok = false;
                        cx.unit_error(file, v.span(), e, dir.as_str(), "1Gbps");
                    }
                }
            }
        }
    }
    let mut headroom = PerDirection::<u64>::default();
    let headroom_amount = match &s.headroom {
        None => Amount::Percent(defaults::HEADROOM_PERCENT),
        Some(h) => match parse_amount(h.get_ref()) {
            Ok(a) => a,
            Err(e) => {
                cx.unit_error(file, h.span(), e, "headroom", "2%");
                Amount::Percent(defaults::HEADROOM_PERCENT)
            }
        },
    };
    for dir in Direction::ALL {
        let cap = capacity[dir];
        headroom[dir] = headroom_amount.resolve(Rate(cap));
        if capacity_ok && headroom[dir] >= cap {
            let span = s
                .headroom
                .as_ref()
                .map_or(capacity_span.clone(), |h| h.span());
            cx.error(
                file,
                span,
                Msg::new(MsgId::HeadroomAll)
                    .with("dir", direction(dir))
                    .arg("rate", rate(cap)),
                Some(Msg::new(MsgId::HeadroomHint)),
            );
            capacity_ok = false;
        }
    }
    let duration = |cx: &mut Ctx,
                    v: &Option<Spanned<String>>,
                    default: Duration,
                    min: Duration,
                    max: Duration,
                    what: &str,
                    example: &str| {
        match v {
            None => default,
            Some(v) => match parse_duration(v.get_ref()) {
                Ok(d) if d >= min && d <= max => d,
                Ok(_) => {
                    cx.error(
                        file,
                        v.span(),
                        Msg::new(MsgId::DurationRange)
                            .arg("key", what)
                            .arg("min", format!("{min:?}"))
                            .arg("max", format!("{max:?}")),
                        Some(
                            Msg::new(MsgId::WriteLike)
                                .arg("line", format!("{what} = \"{example}\"")),
                        ),
                    );
                    default
                }
                Err(e) => {
                    cx.unit_error(file, v.span(), e, what, example);
                    default
                }
            },
        }
    };
    let tick = duration(
        cx,
        &s.tick,
        defaults::TICK,
        Duration::from_millis(100),
        Duration::from_secs(60),
        "tick",
        "1s",
    );
    let expiry = duration(
        cx,
        &s.expiry,
        tick * defaults::EXPIRY_TICKS,
        Duration::from_millis(100),
        Duration::from_secs(3600),
        "expiry",
        "3s",
    );
    if let Some(e) = &s.expiry
        && expiry <= tick
    {
        cx.error(
            file,
            e.span(),
            Msg::new(MsgId::ExpiryNotAboveTick),
            Some(Msg::new(MsgId::WriteLike).arg(
                "line",
                format!("expiry = \"{}s\"", tick.as_secs_f64() * 3.0),
            )),
        );
    }
    let timezone = match &s.timezone {
        None => TimeZone::default(),
        Some(z) => TimeZone::parse(z.get_ref()).unwrap_or_else(|e| {
            cx.error(file, z.span(), e, Some(Msg::new(MsgId::TimeZoneHint)));
            TimeZone::default()
        }),
    };
    for (port, which) in [(&s.lan, "lan"), (&s.wan, "wan")] {
        if !valid_ifname(port.get_ref()) {
            cx.error(
                file,
                port.span(),
                Msg::new(MsgId::BadInterface).arg("value", port.get_ref()),
                Some(Msg::new(MsgId::WriteLike).arg(
                    "line",
                    format!("{which} = \"eth{}\"", if which == "lan" { 1 } else { 2 }),
                )),
            );
        }
    }
    if s.lan.get_ref() == s.wan.get_ref() {
        cx.error(
            file,
            s.wan.span(),
            Msg::new(MsgId::SamePorts),
            Some(Msg::new(MsgId::SamePortsHint)),
        );
    }
    let (unclassified, unclassified_name) = match &s.unclassified {
        None => (Unclassified::Pass, None),
        Some(u) => match u.get_ref().as_str() {
            "pass" => (Unclassified::Pass, None),
            "drop" => (Unclassified::Drop, None),
            other => (Unclassified::Pass, Some((other.to_string(), u.span()))),
        },
    };
    let costs = s
        .costs
        .as_ref()
        .map(|c| compile_costs(cx, file, c.get_ref()));
    let host_table = whole(
        cx,
        file,
        &s.host_table,
        "host_table",
        defaults::HOST_TABLE_RANGE,
        MsgId::HostTableHint,
    )
    .unwrap_or(defaults::HOST_TABLE);
    let host_ipv6_prefix = whole(
        cx,
        file,
        &s.host_ipv6_prefix,
        "host_ipv6_prefix",
        defaults::HOST_IPV6_PREFIX_RANGE,
        MsgId::HostIpv6PrefixHint,
    )
    .unwrap_or(defaults::HOST_IPV6_PREFIX);
    let packages_priced = s
        .costs
        .as_ref()
        .is_some_and(|c| c.get_ref().package_per_year.is_some());
    SiteOut {
        site: Site {
            name: s.name.unwrap_or_else(|| "OPD Gateway".into()),
            lan: s.lan.into_inner(),
            wan: s.wan.into_inner(),
            forwarding: s.forwarding.unwrap_or(Forwarding::Redirect),
            xdp_mode: s.xdp_mode.unwrap_or(XdpMode::Native),
            unclassified,
            capacity,
            headroom,
            tick,
            expiry,
            timezone,
            fallback: s.fallback.unwrap_or(Fallback::Shared),
            costs,
            hosts: s.hosts.unwrap_or_default(),
            host_table,
            host_ipv6_prefix,
        },
        capacity_ok,
        capacity_span,
        file,
        unclassified_name,
        packages_priced,
    }
}

/// A whole number within `range`, if written; out of it, refused with the range and, in
/// `hint`, the nearest value that fits.
fn whole<T>(
    cx: &mut Ctx,
    file: usize,
    v: &Option<Spanned<i64>>,
    key: &str,
    range: RangeInclusive<T>,
    hint: MsgId,
) -> Option<T>
where
    T: Copy + Into<i64> + TryFrom<i64>,
{
    let v = v.as_ref()?;
    let (min, max) = ((*range.start()).into(), (*range.end()).into());
    let n = *v.get_ref();
    if (min..=max).contains(&n) {
        return T::try_from(n).ok();
    }
    cx.error(
        file,
        v.span(),
        Msg::new(MsgId::WholeNumberRange)
            .arg("key", key)
            .arg("min", min)
            .arg("max", max)
            .arg("value", n),
        Some(Msg::new(hint).arg("fits", n.clamp(min, max))),
    );
    None
}

/// `[site.costs]`: prices above 0, each package a rate, priced once.
fn compile_costs(cx: &mut Ctx, file: usize, c: &raw::Costs) -> Costs {
    let price = |cx: &mut Ctx, p: &Spanned<i64>, line: String| match u64::try_from(*p.get_ref()) {
        Ok(v) if v > 0 => v,
        _ => {
            cx.error(
                file,
                p.span(),
                Msg::new(MsgId::PriceNotPositive).arg("value", p.get_ref()),
                Some(Msg::new(MsgId::WriteLike).arg("line", line)),
            );
            0
        }
    };
    let uplink_per_mbps_month = price(
        cx,
        &c.uplink_per_mbps_month,
        "uplink_per_mbps_month = 250000".into(),
    );
    let currency = match &c.currency {
        None => "Rp".to_string(),
        Some(v) if v.get_ref().is_empty() => {
            cx.error(
                file,
                v.span(),
                Msg::new(MsgId::CurrencyEmpty),
                Some(Msg::new(MsgId::WriteLike).arg("line", "currency = \"Rp\"")),
            );
            "Rp".to_string()
        }
        Some(v) => v.get_ref().clone(),
    };
    let mut packages: Vec<(u64, u64, Range<usize>)> = Vec::new();
    for (name, p) in c.package_per_year.iter().flatten() {
        let written = name.get_ref();
        let bps = match parse_rate(written) {
            Ok(r) => r.bits_per_second(),
            Err(e) => {
                let fixed = e.fix.as_deref().unwrap_or("20Mbps");
                cx.error(
                    file,
                    name.span(),
                    e.message,
                    Some(
                        Msg::new(MsgId::WriteLike)
                            .arg("line", format!("\"{fixed}\" = {}", p.get_ref())),
                    ),
                );
                continue;
            }
        };
        let amount = price(cx, p, format!("\"{written}\" = 60000000"));
        if let Some((_, _, first)) = packages.iter().find(|(r, _, _)| *r == bps) {
            let place = cx.place(file, file, first.clone());
            cx.error(
                file,
                name.span(),
                Msg::new(MsgId::PackageTwice)
                    .arg("rate", rate(bps))
                    .arg("value", written),
                Some(Msg::new(MsgId::ListedTwiceHint).with("place", place)),
            );
            continue;
        }
        packages.push((bps, amount, name.span()));
    }
    packages.sort_by_key(|(bps, _, _)| *bps);
    Costs {
        currency,
        uplink_per_mbps_month,
        package_per_year: packages.into_iter().map(|(r, p, _)| (r, p)).collect(),
    }
}
