//! The division under traffic that answers drops, as offices have: TCP downloads through the
//! daemon over real round trips. A sender that backs off when its frames are dropped never
//! shows its need as drops for long, so these check what UDP floods cannot: that a
//! guarantee holds at once, that idle capacity is borrowed without a ramp, and that busy
//! agencies share by tier. Figures are the bench's (`cargo xtask bench -- closed`); the
//! floors here only catch a division that fails closed-loop traffic. Needs root.

use std::{
    net::SocketAddrV4,
    time::{Duration, Instant},
};

use opd_testbed::{
    AgencyText, Bed, Forwarding, Limit, Metrics, PolicyText,
    transfer::{Server, TRANSFER_PORT, fetch, iperf_downloads},
};

/// A 100 Mbps uplink: dinkes (standard, 10 Mbps guaranteed, 60 ceiling), bpbd (critical, 20
/// guaranteed, 80 ceiling) and public WiFi (nothing guaranteed), as on the demo's network.
fn policy() -> PolicyText {
    PolicyText::simulated_regency(Forwarding::Redirect)
        .capacity("100Mbps", "100Mbps")
        .unclassified("drop")
        .agency(
            AgencyText::new("dinkes")
                .vlans(&[110])
                .both(Limit::guaranteed("10Mbps", "60Mbps")),
        )
        .agency(
            AgencyText::new("bpbd")
                .tier("critical")
                .vlans(&[120])
                .both(Limit::guaranteed("20Mbps", "80Mbps")),
        )
        .agency(
            AgencyText::new("wifi")
                .tier("public")
                .vlans(&[130])
                .both(Limit::ceiling("unlimited")),
        )
}

const VIDS: [u16; 3] = [110, 120, 130];

#[test]
fn a_download_from_idle_borrows_the_idle_uplink_at_once() {
    let bed = Bed::start(&VIDS, Forwarding::Redirect, &policy(), "0s");
    let net = &bed.net;
    let h = net.vlan(110);
    let _delay = net.delay_upstream(110, Duration::from_millis(20));
    let server_addr = SocketAddrV4::new(h.upstream_ip, TRANSFER_PORT);
    let _server = Server::start(&h.upstream_side, server_addr, "cubic");
    // The uplink idle for a few ticks: dinkes's allocation is what an idle agency keeps.
    std::thread::sleep(Duration::from_secs(3));
    let bytes = 4_000_000;
    let took = h
        .agency_side
        .enter(|| fetch(server_addr, bytes, Duration::from_secs(30)))
        .expect("fetch 4 MB");
    let mbps = bytes as f64 * 8.0 / took.as_secs_f64() / 1e6;
    eprintln!(
        "4 MB from idle over a 20 ms round trip: {:.2} s, {mbps:.1} Mbps (guarantee 10, ceiling 60)",
        took.as_secs_f64()
    );
    // A fixed 10 Mbps package takes 3.4 s; a division that follows TCP down took 6–27 s.
    assert!(
        mbps >= 20.0,
        "{mbps:.1} Mbps: the download did not borrow the idle uplink"
    );
}

#[test]
fn busy_tcp_agencies_get_their_guarantees_and_fill_the_uplink() {
    let bed = Bed::start(&VIDS, Forwarding::Redirect, &policy(), "0s");
    let net = &bed.net;
    let delays: Vec<_> = VIDS
        .iter()
        .map(|&vid| net.delay_upstream(vid, Duration::from_millis(10)))
        .collect();
    let start = Instant::now();
    let got: Vec<f64> = iperf_downloads(net, &VIDS, 4, 10, Duration::from_secs(1))
        .into_iter()
        .map(|d| d.goodput)
        .collect();
    drop(delays);
    eprintln!(
        "4 CUBIC downloads each, 10 s from idle (Mbps): dinkes {:.1}, bpbd {:.1}, wifi {:.1}; {:.1} s",
        got[0] / 1e6,
        got[1] / 1e6,
        got[2] / 1e6,
        start.elapsed().as_secs_f64()
    );
    // Goodput is TCP payload, about 95% of the frames the gateway counts.
    assert!(got[0] >= 0.9 * 10e6, "dinkes below its guarantee: {got:?}");
    assert!(got[1] >= 0.9 * 20e6, "bpbd below its guarantee: {got:?}");
    let total: f64 = got.iter().sum();
    assert!(
        total >= 0.85 * 98e6,
        "the uplink was left idle: {:.1} of 98 Mbps",
        total / 1e6
    );
    // bpbd is critical: it borrows before the standard tier.
    assert!(got[1] > got[0], "{got:?}");
}

/// The download counters of every agency, summed: passed and dropped bytes.
fn download_bytes(m: &Metrics, agency: &str) -> (f64, f64) {
    let labels = [("direction", "download"), ("agency", agency)];
    (
        m.sum("opd_gateway_agency_passed_bytes_total", &labels),
        m.sum("opd_gateway_agency_dropped_bytes_total", &labels),
    )
}

/// Busy TCP agencies on an oversubscribed 100 Mbps uplink, at a round trip of `rtt`: what
/// the uplink carried in download (passed + dropped: a dropped frame has crossed it) and
/// each agency's passed rate against its allocation, over the settled part of the run.
fn resends_fit_the_uplink(rtt: Duration) {
    let bed = Bed::start(&VIDS, Forwarding::Redirect, &policy(), "0s");
    let net = &bed.net;
    let _delays: Vec<_> = VIDS.iter().map(|&v| net.delay_upstream(v, rtt)).collect();
    let names = ["dinkes", "bpbd", "wifi"];
    let (settle, window) = (Duration::from_secs(5), Duration::from_secs(8));
    let (first, last, allocated) = std::thread::scope(|s| {
        let downloads = s.spawn(|| iperf_downloads(net, &VIDS, 4, 15, Duration::from_secs(1)));
        std::thread::sleep(settle);
        let first = Metrics::scrape(&net.gateway);
        let t0 = Instant::now();
        let mut allocated = vec![Vec::new(); names.len()];
        while t0.elapsed() < window {
            std::thread::sleep(Duration::from_millis(500));
            let m = Metrics::scrape(&net.gateway);
            for (i, a) in names.iter().enumerate() {
                let labels = [("direction", "download"), ("agency", *a)];
                let bps = m.sum("opd_gateway_agency_allocated_bytes_per_second", &labels) * 8.0;
                allocated[i].push(bps);
            }
        }
        let last = Metrics::scrape(&net.gateway);
        let seconds = t0.elapsed().as_secs_f64();
        downloads.join().expect("iperf3 downloads");
        ((first, seconds), last, allocated)
    });
    let (first, seconds) = first;
    let rate = |bytes: f64| bytes * 8.0 / seconds;
    let mut carried = 0.0;
    let mut lines = Vec::new();
    let mut failures = Vec::new();
    // (passed, mean allocation) per agency, bits/s.
    let got: Vec<(f64, f64)> = names
        .iter()
        .enumerate()
        .map(|(i, a)| {
            let (p0, d0) = download_bytes(&first, a);
            let (p1, d1) = download_bytes(&last, a);
            let (passed, dropped) = (rate(p1 - p0), rate(d1 - d0));
            carried += passed + dropped;
            let alloc = allocated[i].iter().sum::<f64>() / allocated[i].len() as f64;
            lines.push(format!(
                "{a}: passed {:.2} Mbps (allocated {:.2}), dropped {:.2}",
                passed / 1e6,
                alloc / 1e6,
                dropped / 1e6
            ));
            (passed, alloc)
        })
        .collect();
    // Each agency gets its allocation; beyond it only what the others leave of theirs (the
    // division lets anyone borrow what is left unused, first come first served). Within 5%,
    // or half a percent of the uplink for an agency held near the 256 kbps floor: its
    // bucket of ten full frames alone is 121 kbps every 100 ms.
    let left: f64 = got.iter().map(|(p, a)| (a - p).max(0.0)).sum();
    for (a, &(passed, alloc)) in names.iter().zip(&got) {
        let within = (0.05 * alloc).max(0.005 * 100e6);
        if passed < alloc - within || passed > alloc + within + left {
            failures.push(format!(
                "{a} passed {:.2} Mbps: not within {:.2} of its allocation of {:.2} (+ {:.2} the others left)",
                passed / 1e6,
                within / 1e6,
                alloc / 1e6,
                left / 1e6
            ));
        }
    }
    let room = last
        .value(
            "opd_gateway_uplink_resend_room_bytes_per_second",
            &[("direction", "download")],
        )
        .unwrap_or(f64::NAN)
        * 8.0;
    eprintln!(
        "RTT {:?}, 4 CUBIC downloads per agency: uplink carried {:.2} Mbps of 100 (room for resends {:.2}); {}",
        rtt,
        carried / 1e6,
        room / 1e6,
        lines.join("; ")
    );
    if carried > 100e6 {
        failures.push(format!(
            "the uplink carried {:.2} Mbps in download, passed or dropped: more than the 100 purchased",
            carried / 1e6
        ));
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn tcp_resends_fit_the_uplink_at_5_ms() {
    resends_fit_the_uplink(Duration::from_millis(5));
}

#[test]
fn tcp_resends_fit_the_uplink_at_40_ms() {
    resends_fit_the_uplink(Duration::from_millis(40));
}
