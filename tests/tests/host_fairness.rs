//! Fairness between the hosts of one agency (`hosts = "fair"`) with real traffic through the
//! real daemon: TCP hosts with many flows against hosts with one, a UDP flood beside a TCP
//! host, and up to a thousand hosts from raw frames. Each host's rate is read from the
//! gateway's own host table (its pinned map), as whole frames the way the gateway counts
//! them. Needs root; run by `cargo xtask test`.

use std::{
    collections::BTreeMap,
    net::{Ipv4Addr, SocketAddrV4},
    process::Stdio,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    thread::JoinHandle,
    time::{Duration, Instant},
};

use aya::maps::{HashMap, Map, MapData};
use gateway_common::{Direction, HostKey, HostState, map};
use opd_testbed::{
    AgencyText, Bed, Forwarding, Limit, PolicyText, Process, SimNetwork,
    frames::{self, Frame},
    iperf, sh,
    traffic::{self, Flood},
};

const MBPS: f64 = 1e6;
const VID: u16 = 110;

/// One agency on VLAN 110 with `download` (and plenty upload, for the ACKs), its hosts
/// shared as `hosts` says; the daemon ticks every second (the default).
fn policy(hosts: &str, upload: Limit, download: Limit) -> PolicyText {
    PolicyText::simulated_regency(Forwarding::Redirect)
        .unclassified("drop")
        .agency(
            AgencyText::new("dinkes")
                .vlans(&[VID])
                .hosts(hosts)
                .upload(upload)
                .download(download),
        )
}

/// What the host table says each IPv4 host passed in direction `dir`, bytes of whole
/// frames.
fn passed(table: &HashMap<MapData, HostKey, HostState>, dir: Direction) -> BTreeMap<Ipv4Addr, u64> {
    let mut out = BTreeMap::new();
    for key in table.keys() {
        // A key evicted between two steps of the walk is skipped.
        let Ok(key) = key else { continue };
        if key.family != 4 || key.slot % Direction::COUNT != dir.index() as u32 {
            continue;
        }
        if let Ok(state) = table.get(&key, 0) {
            let a = key.addr;
            *out.entry(Ipv4Addr::new(a[0], a[1], a[2], a[3]))
                .or_default() += state.passed_bytes;
        }
    }
    out
}

/// The gateway's host table, opened from its pin.
fn host_table(net: &SimNetwork) -> HashMap<MapData, HostKey, HostState> {
    let path = net.pin_dir.join(map::HOSTS);
    let data = MapData::from_pin(&path)
        .unwrap_or_else(|e| panic!("open the gateway's host table {}: {e}", path.display()));
    HashMap::try_from(Map::LruHashMap(data)).expect("the host table is an LRU hash map")
}

/// The host table read every 100 ms until stopped: what each host had passed downloading
/// by then.
struct Sampler {
    stop: Arc<AtomicBool>,
    thread: JoinHandle<Vec<(Instant, BTreeMap<Ipv4Addr, u64>)>>,
}

impl Sampler {
    fn start(net: &SimNetwork) -> Sampler {
        let table = host_table(net);
        let stop = Arc::new(AtomicBool::new(false));
        let stop2 = stop.clone();
        let thread = std::thread::spawn(move || {
            let mut samples = Vec::new();
            while !stop2.load(Ordering::Relaxed) {
                samples.push((Instant::now(), passed(&table, Direction::Download)));
                std::thread::sleep(Duration::from_millis(100));
            }
            samples
        });
        Sampler { stop, thread }
    }

    fn finish(self) -> Samples {
        self.stop.store(true, Ordering::Relaxed);
        Samples(self.thread.join().expect("the host table sampler"))
    }
}

struct Samples(Vec<(Instant, BTreeMap<Ipv4Addr, u64>)>);

impl Samples {
    /// The sample nearest `t`.
    fn at(&self, t: Instant) -> &(Instant, BTreeMap<Ipv4Addr, u64>) {
        self.0
            .iter()
            .min_by_key(|(at, _)| if *at > t { *at - t } else { t - *at })
            .expect("samples")
    }

    /// The host's rate over `[from, to)`, bits/s of whole frames.
    fn rate(&self, host: Ipv4Addr, from: Instant, to: Instant) -> f64 {
        let ((t0, a), (t1, b)) = (self.at(from), self.at(to));
        let bytes = b.get(&host).copied().unwrap_or(0) - a.get(&host).copied().unwrap_or(0);
        bytes as f64 * 8.0 / (*t1 - *t0).as_secs_f64()
    }
}

/// An iperf3 server on the agency's side for one test, that does not report.
fn iperf_server(net: &SimNetwork, addr: Ipv4Addr, port: u16) -> Process {
    let mut c = net.vlan(VID).agency_side.command("iperf3");
    c.args(["-s", "-1", "-B", &addr.to_string(), "-p", &port.to_string()])
        .stdout(Stdio::null());
    Process::spawn(c, "iperf3 server")
}

/// An iperf3 client on the upstream side sending to `addr` (a download for the agency)
/// with `flows` CUBIC flows for `seconds`.
fn iperf_download(
    net: &SimNetwork,
    addr: Ipv4Addr,
    port: u16,
    flows: usize,
    seconds: u64,
) -> JoinHandle<()> {
    let mut c = net.vlan(VID).upstream_side.command("iperf3");
    c.args([
        "-c",
        &addr.to_string(),
        "-p",
        &port.to_string(),
        "-C",
        "cubic",
    ])
    .args(["-P", &flows.to_string(), "-t", &seconds.to_string()])
    .stdout(Stdio::null());
    std::thread::spawn(move || {
        sh(&mut c);
    })
}

/// TCP payload of a full-size segment (with timestamps) and the tagged frame carrying it:
/// goodput × FRAME / PAYLOAD is the rate the gateway counts.
const PAYLOAD: f64 = 1448.0;
const FRAME: f64 = 1518.0;

/// Three hosts downloading at once: what each got while all three were busy, and what A
/// got once B and C stopped.
struct ThreeHosts {
    /// A, B, C: goodput (Mbps, iperf3's receivers) from 3 s to 9.5 s.
    busy: [f64; 3],
    /// The same as whole frames from the gateway's host table (`hosts = "fair"` only).
    frames: Option<[f64; 3]>,
    /// A's goodput alone in the first and the second second (tick) after B and C stopped
    /// (10 s), and from 12 s to 15.5 s.
    alone: [f64; 3],
}

/// Servers this far from the agency's hosts: a round trip to the internet. With none (under
/// 0.1 ms between namespaces) a single flow's unpaced bursts overrun any host's bucket and
/// its host keeps well under its share: 4.0 and 3.6 Mbps against 11.6 for 16 flows, where 20
/// ms gives 6.35 each (BENCHMARKS.md, section 11).
const RTT: Duration = Duration::from_millis(20);

/// Host A with 16 TCP flows for 16 s, B and C with one each for 10 s, through an agency of
/// 20 Mbps download whose hosts are `hosts`, [`RTT`] from their servers.
fn three_hosts(hosts: &str, download: Limit) -> ThreeHosts {
    let p = policy(hosts, Limit::rate("100Mbps"), download);
    let bed = Bed::start(&[VID], Forwarding::Redirect, &p, "0s");
    let net = &bed.net;
    let _delay = net.delay_upstream(VID, RTT);
    let addrs = net.vlan(VID).add_agency_addresses(3);
    let receivers: Vec<_> = addrs
        .iter()
        .enumerate()
        .map(|(i, &a)| iperf::receiver(&net.vlan(VID).agency_side, a, 5201 + i as u16))
        .collect();
    std::thread::sleep(Duration::from_millis(300));
    let sampler = Sampler::start(net);
    let start = Instant::now();
    let clients: Vec<JoinHandle<()>> = [(16, 16), (1, 10), (1, 10)]
        .iter()
        .enumerate()
        .map(|(i, &(flows, secs))| iperf_download(net, addrs[i], 5201 + i as u16, flows, secs))
        .collect();
    for c in clients {
        c.join().expect("an iperf3 client");
    }
    let samples = sampler.finish();
    let got: Vec<Vec<(f64, f64)>> = receivers
        .into_iter()
        .map(|r| r.join().expect("an iperf3 server"))
        .collect();
    let busy = [0, 1, 2].map(|i| iperf::mean_rate(&got[i], 3.0, 9.5));
    let frames = (hosts == "fair").then(|| {
        [0, 1, 2].map(|i| {
            samples.rate(
                addrs[i],
                start + Duration::from_secs(3),
                start + Duration::from_millis(9500),
            ) / MBPS
        })
    });
    let alone = [
        iperf::mean_rate(&got[0], 10.0, 11.0),
        iperf::mean_rate(&got[0], 11.0, 12.0),
        iperf::mean_rate(&got[0], 12.0, 15.5),
    ];
    eprintln!(
        "hosts = \"{hosts}\": A (16 flows), B, C (1 each) goodput {busy:.2?} Mbps, Jain {:.3}; \
         as frames at the gateway {frames:.2?}; A alone after B and C stopped at 10 s: \
         {alone:.2?} Mbps goodput (1st second, 2nd second, 12–15.5 s)",
        iperf::jain(&busy),
    );
    ThreeHosts {
        busy,
        frames,
        alone,
    }
}

#[test]
fn hosts_with_many_flows_and_with_one_get_equal_shares() {
    let fair = three_hosts("fair", Limit::rate("20Mbps"));
    let shared = three_hosts("shared", Limit::rate("20Mbps"));
    eprintln!(
        "\n| 20 Mbps agency, goodput Mbps | A (16 flows) | B (1 flow) | C (1 flow) | Jain |\n\
         |---|---:|---:|---:|---:|"
    );
    for (what, r) in [("hosts = \"fair\"", &fair), ("hosts = \"shared\"", &shared)] {
        eprintln!(
            "| {what} | {:.2} | {:.2} | {:.2} | {:.3} |",
            r.busy[0],
            r.busy[1],
            r.busy[2],
            iperf::jain(&r.busy)
        );
    }
    let mut failures = Vec::new();
    // 20 Mbps of frames in three: 6.67 each, as the gateway counts them.
    let share = 20.0 / 3.0;
    let frames = fair.frames.expect("fair hosts are in the host table");
    for (name, got) in ["A", "B", "C"].iter().zip(frames) {
        if (got / share - 1.0).abs() > 0.10 {
            failures.push(format!(
                "fair: host {name} passed {got:.2} Mbps of frames, not within 10% of {share:.2}"
            ));
        }
    }
    if iperf::jain(&frames) < 0.98 {
        failures.push(format!(
            "fair: Jain's index {:.3} < 0.98",
            iperf::jain(&frames)
        ));
    }
    // Two ticks after B and C stop, A has the agency's rate.
    let second = fair.alone[1] * FRAME / PAYLOAD;
    if second < 0.9 * 20.0 {
        failures.push(format!(
            "fair: A alone had {second:.2} Mbps of frames in the second tick after B and C \
             stopped, below 18"
        ));
    }
    // With one bucket for the agency, flows compete, not hosts: 16 flows take most.
    if shared.busy[0] <= shared.busy[1] + shared.busy[2] {
        failures.push(format!(
            "shared: A with 16 flows got {:.2} Mbps, not more than B and C together ({:.2})",
            shared.busy[0],
            shared.busy[1] + shared.busy[2]
        ));
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn a_udp_flood_does_not_take_a_tcp_hosts_share() {
    let p = policy("fair", Limit::rate("100Mbps"), Limit::rate("20Mbps"));
    let bed = Bed::start(&[VID], Forwarding::Redirect, &p, "0s");
    let net = &bed.net;
    let _delay = net.delay_upstream(VID, RTT);
    let h = net.vlan(VID);
    let addrs = h.add_agency_addresses(2);
    let (flooded, tcp) = (addrs[0], addrs[1]);
    let server = iperf_server(net, tcp, 5201);
    std::thread::sleep(Duration::from_millis(300));
    let run = Duration::from_secs(12);
    let sampler = Sampler::start(net);
    let start = Instant::now();
    let to = SocketAddrV4::new(flooded, opd_testbed::STREAM_PORT);
    let receiver = traffic::receive(
        &h.agency_side,
        to,
        1400,
        start + run + Duration::from_secs(1),
    );
    // Three times the agency's rate, counted as the gateway counts it.
    let flood = Flood {
        to,
        payload: 1400,
        frame_bits_per_second: 60.0 * MBPS,
        duration: run,
        cpu: None,
        delay: Duration::ZERO,
    }
    .start(&h.upstream_side);
    let client = iperf_download(net, tcp, 5201, 1, run.as_secs());
    client.join().expect("the iperf3 client");
    let sent = flood.join().expect("the flood");
    let arrived = receiver.join().expect("the receiver");
    let samples = sampler.finish();
    drop(server);
    let (from, to) = (
        start + Duration::from_secs(3),
        start + run - Duration::from_millis(500),
    );
    let offered =
        sent.sent_between(from, to) as f64 * (1400 + traffic::TAGGED_OVERHEAD) as f64 * 8.0
            / (to - from).as_secs_f64()
            / MBPS;
    let (udp, tcp_rate) = (
        samples.rate(flooded, from, to) / MBPS,
        samples.rate(tcp, from, to) / MBPS,
    );
    eprintln!(
        "20 Mbps agency: UDP host offered {offered:.2} Mbps, passed {udp:.2} (received {:.2}); \
         TCP host (1 flow) passed {tcp_rate:.2} Mbps, fair share 10",
        arrived.frame_rate(from, to) / MBPS
    );
    assert!(
        offered >= 2.5 * 20.0,
        "the flood offered only {offered:.2} Mbps: this host could not send 3× the agency's rate"
    );
    assert!(
        tcp_rate >= 0.9 * 10.0,
        "the TCP host got {tcp_rate:.2} Mbps beside a UDP flood, below 90% of its 10 Mbps share"
    );
}

/// `n` hosts (sources 198.19.x.y) sending upload frames of 128 bytes on VLAN 110 in turn,
/// as fast as this machine can, through an agency of `rate`: each host's passed bytes and
/// the agency's rate, over 8 s after 2 s to settle.
fn many_hosts(n: u32, rate_mbps: f64) {
    let p = policy(
        "fair",
        Limit::rate(&format!("{rate_mbps}Mbps")),
        Limit::rate("10Mbps"),
    );
    // No host namespaces: the frames come from the switch's side of the gateway's `lan`.
    let bed = Bed::start(&[], Forwarding::Redirect, &p, "0s");
    let net = &bed.net;
    let sources: Vec<Ipv4Addr> = (0..n)
        .map(|i| Ipv4Addr::new(198, 19, (i >> 8) as u8, i as u8))
        .collect();
    let to = Ipv4Addr::new(198, 18, 1, 2);
    let frames: Vec<Vec<u8>> = sources
        .iter()
        .map(|&s| {
            Frame::ipv4_udp(82)
                .tag(frames::CTAG, VID)
                .addrs(s.into(), to.into())
                .bytes()
        })
        .collect();
    assert_eq!(frames[0].len(), 128);
    let table = host_table(net);
    let run = Duration::from_secs(11);
    let sender = traffic::blast(&net.switch, "gwlan", frames, run);
    std::thread::sleep(Duration::from_secs(2));
    let (t0, before) = (Instant::now(), passed(&table, Direction::Upload));
    std::thread::sleep(Duration::from_secs(8));
    let (t1, after) = (Instant::now(), passed(&table, Direction::Upload));
    let sent = sender.join().expect("the raw sender");
    let secs = (t1 - t0).as_secs_f64();
    let rates: Vec<f64> = sources
        .iter()
        .map(|s| {
            let got = after.get(s).copied().unwrap_or(0) - before.get(s).copied().unwrap_or(0);
            got as f64 * 8.0 / secs
        })
        .collect();
    let total: f64 = rates.iter().sum();
    let mean = total / n as f64;
    let (low, high) = rates
        .iter()
        .fold((f64::INFINITY, 0.0f64), |(l, h), &r| (l.min(r), h.max(r)));
    let offered = sent.sent as f64 * 128.0 * 8.0 / run.as_secs_f64() / MBPS;
    eprintln!(
        "{n} hosts through {rate_mbps} Mbps: offered {offered:.1} Mbps ({} frames sent, {} refused \
         by the socket); agency passed {:.3} Mbps ({:+.2}%); per host mean {:.1} kbps, lowest \
         {:+.1}%, highest {:+.1}%, Jain {:.4}",
        sent.sent,
        sent.refused,
        total / MBPS,
        (total / (rate_mbps * MBPS) - 1.0) * 100.0,
        mean / 1e3,
        (low / mean - 1.0) * 100.0,
        (high / mean - 1.0) * 100.0,
        iperf::jain(&rates)
    );
    assert!(
        offered >= 1.5 * rate_mbps,
        "{n} hosts: this machine offered only {offered:.1} Mbps, not enough to overload {rate_mbps}"
    );
    let seen = after.keys().filter(|a| sources.contains(a)).count();
    assert_eq!(seen, n as usize, "hosts in the gateway's host table");
    assert!(
        (total / (rate_mbps * MBPS) - 1.0).abs() <= 0.02,
        "{n} hosts: the agency passed {:.3} Mbps, not within 2% of {rate_mbps}",
        total / MBPS
    );
    assert!(
        low >= 0.9 * mean && high <= 1.1 * mean,
        "{n} hosts: shares from {:.1} to {:.1} kbps around a mean of {:.1}: not within 10%",
        low / 1e3,
        high / 1e3,
        mean / 1e3
    );
}

#[test]
fn one_host_has_the_whole_rate() {
    many_hosts(1, 20.0);
}

#[test]
fn ten_hosts_share_equally() {
    many_hosts(10, 20.0);
}

#[test]
fn a_hundred_hosts_share_equally() {
    many_hosts(100, 20.0);
}

#[test]
fn a_thousand_hosts_share_equally() {
    many_hosts(1000, 20.0);
}
