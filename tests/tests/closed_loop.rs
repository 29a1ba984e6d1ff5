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
    AgencyText, Bed, Forwarding, Limit, PolicyText,
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
