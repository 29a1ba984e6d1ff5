//! Fairness between the hosts of an agency, in the XDP programs run on crafted frames with
//! BPF_PROG_TEST_RUN: which host each frame is policed as, equal shares, the host ceiling,
//! a full host table and the active-host count. Needs root; run by `cargo xtask test`.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use aya::programs::{TestRun, TestRunOptions, Xdp};
use gateway_common::{Counters, Direction};
use opd_gateway::{
    control,
    dataplane::{Dataplane, HostEntry, LAN_PROGRAM, WAN_PROGRAM},
    plan::Applied,
    policy::{self, Policy},
};
use opd_testbed::{
    env_path,
    frames::{self, Frame},
    require_root,
};

const XDP_DROP: u32 = 1;
const XDP_PASS: u32 = 2;

/// Slots as the policy orders its agencies.
const KANTOR: u32 = 0;
const GUDANG: u32 = 1;
const KIOS: u32 = 2;
const TERBUKA: u32 = 3;

/// 800 kbit/s is 0.1 byte per µs: a test run refills a few bytes between two frames, so a
/// 300 ms bucket of 30 frames of 1000 bytes is what passes at once.
const POLICY: &str = r#"
[site]
name = "Uji"
lan = "lan"
wan = "wan"
capacity = { upload = "10Gbps", download = "10Gbps" }
unclassified = "drop"

[[agency]]
id = "kantor"
vlans = [110]
qinq = [[300, 7]]
upload = { guaranteed = "800kbps", ceiling = "800kbps", burst = "300ms" }
download = { guaranteed = "800kbps", ceiling = "800kbps", burst = "300ms" }

[[agency]]
id = "gudang"
hosts = "shared"
vlans = [120]
upload = { guaranteed = "800kbps", ceiling = "800kbps", burst = "300ms" }
download = { guaranteed = "800kbps", ceiling = "800kbps", burst = "300ms" }

[[agency]]
id = "kios"
vlans = [130]
upload = { guaranteed = "800kbps", ceiling = "800kbps", burst = "300ms" }
download = { guaranteed = "800kbps", ceiling = "800kbps", burst = "300ms", host_ceiling = "400kbps" }

[[agency]]
id = "terbuka"
vlans = [140]
upload = { guaranteed = "1Gbps", ceiling = "1Gbps" }
download = { guaranteed = "1Gbps", ceiling = "1Gbps" }
"#;

fn policy() -> Policy {
    policy::from_texts(&[("uji.toml", POLICY)]).expect("the test policy is valid")
}

/// The programs loaded with a host table of `host_table` entries, holding the policy.
fn load(host_table: u32) -> (Dataplane, Policy) {
    require_root();
    let p = policy();
    let mut dp = Dataplane::load_file_sized(&env_path("OPD_GATEWAY_EBPF"), host_table)
        .expect("load the XDP programs");
    Applied::start(&mut dp, &p).expect("configure the data plane");
    (dp, p)
}

fn run(dp: &Dataplane, program: &str, frame: &[u8]) -> u32 {
    let prog: &Xdp = dp.program(program).expect("program exists");
    let mut out = vec![0u8; frame.len() + 256];
    prog.test_run(TestRunOptions {
        data_in: Some(frame),
        data_out: Some(&mut out),
        repeat: 1,
        ..Default::default()
    })
    .unwrap_or_else(|e| panic!("BPF_PROG_TEST_RUN on a {}-byte frame: {e}", frame.len()))
    .return_value
}

fn v4(last: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(198, 18, 1, last))
}

const UPSTREAM: IpAddr = IpAddr::V4(Ipv4Addr::new(198, 19, 0, 1));

/// A 1000-byte download frame to `host` on `vid`.
fn download_to(vid: u16, host: IpAddr) -> Vec<u8> {
    Frame::ipv4_udp(1000 - 46)
        .addrs(UPSTREAM, host)
        .tag(frames::CTAG, vid)
        .bytes()
}

fn hosts(dp: &Dataplane, slot: u32) -> Vec<HostEntry> {
    let mut h = dp.hosts().agency(slot).expect("read the host table");
    h.sort_by_key(|e| (e.dir, e.addr));
    h
}

fn counters(dp: &Dataplane, slot: u32, dir: Direction) -> Counters {
    dp.counters().agency(slot, dir).expect("read the counters")
}

#[test]
fn each_frame_is_policed_as_its_host_or_as_none() {
    let (dp, _) = load(65_536);
    // IPv4 going up: the source; going down: the destination.
    let up = Frame::ipv4_udp(100)
        .addrs(v4(10), UPSTREAM)
        .tag(frames::CTAG, 110)
        .bytes();
    assert_eq!(run(&dp, LAN_PROGRAM, &up), XDP_PASS);
    assert_eq!(run(&dp, WAN_PROGRAM, &download_to(110, v4(11))), XDP_PASS);
    // QinQ (300, 7) is kantor's too; the host is the address inside both tags.
    let qinq = Frame::ipv4_udp(100)
        .addrs(v4(12), UPSTREAM)
        .tag(frames::STAG, 300)
        .tag(frames::CTAG, 7)
        .bytes();
    assert_eq!(run(&dp, LAN_PROGRAM, &qinq), XDP_PASS);
    // IPv6 by /64: two devices of one LAN are one host, another /64 is another.
    let a: Ipv6Addr = "2001:db8:0:1::5".parse().unwrap();
    let b: Ipv6Addr = "2001:db8:0:1:aaaa::6".parse().unwrap();
    let c: Ipv6Addr = "2001:db8:0:2::5".parse().unwrap();
    let from: Ipv6Addr = "2001:db8:ffff::1".parse().unwrap();
    let mut v6_len = 0;
    for to in [a, b, c] {
        let f = Frame::ipv6_udp(100)
            .addrs(from.into(), to.into())
            .tag(frames::CTAG, 110)
            .bytes();
        v6_len = f.len() as u64;
        assert_eq!(run(&dp, WAN_PROGRAM, &f), XDP_PASS);
    }
    let got: Vec<(Direction, IpAddr, u64)> = hosts(&dp, KANTOR)
        .iter()
        .map(|h| (h.dir, h.addr, h.passed_bytes))
        .collect();
    let lan1: IpAddr = "2001:db8:0:1::".parse().unwrap();
    let lan2: IpAddr = "2001:db8:0:2::".parse().unwrap();
    assert_eq!(
        got,
        vec![
            (Direction::Upload, v4(10), up.len() as u64),
            (Direction::Upload, v4(12), qinq.len() as u64),
            (Direction::Download, v4(11), 1000),
            (Direction::Download, lan1, 2 * v6_len),
            (Direction::Download, lan2, v6_len),
        ]
    );
    let down = counters(&dp, KANTOR, Direction::Download);
    assert_eq!((down.host_packets, down.hostless_packets), (4, 0));
    assert_eq!(down.new_hosts, 3);

    // Without a whole IP header there is no host: the agency's bucket alone polices it.
    let truncated_v4 = Frame::new(frames::IPV4, vec![0x45; 19])
        .tag(frames::CTAG, 110)
        .bytes();
    let mut short_v6 = Frame::ipv6_udp(0);
    short_v6.payload.truncate(39);
    let truncated_v6 = short_v6.tag(frames::CTAG, 110).bytes();
    let not_ip = Frame::new(0x88B5, vec![0; 100])
        .tag(frames::CTAG, 110)
        .bytes();
    for f in [&truncated_v4, &truncated_v6, &not_ip] {
        assert_eq!(run(&dp, WAN_PROGRAM, f), XDP_PASS);
    }
    let down = counters(&dp, KANTOR, Direction::Download);
    assert_eq!((down.host_packets, down.hostless_packets), (4, 3));
    assert_eq!(
        hosts(&dp, KANTOR).len(),
        5,
        "no host for a frame without one"
    );

    // An agency whose hosts share one bucket enters none.
    assert_eq!(run(&dp, WAN_PROGRAM, &download_to(120, v4(20))), XDP_PASS);
    assert!(hosts(&dp, GUDANG).is_empty());
    let shared = counters(&dp, GUDANG, Direction::Download);
    assert_eq!((shared.host_packets, shared.hostless_packets), (0, 0));
}

/// Rounds of one frame from each of `senders` (a host listed twice sends twice a round):
/// how many frames of each host passed.
fn rounds(dp: &Dataplane, vid: u16, senders: &[u8], n: usize) -> Vec<(u8, usize)> {
    let mut passed: Vec<(u8, usize)> = Vec::new();
    for _ in 0..n {
        for &h in senders {
            let ok = match run(dp, WAN_PROGRAM, &download_to(vid, v4(h))) {
                XDP_PASS => 1,
                XDP_DROP => 0,
                other => panic!("verdict {other}"),
            };
            match passed.iter_mut().find(|(k, _)| *k == h) {
                Some(p) => p.1 += ok,
                None => passed.push((h, ok)),
            }
        }
    }
    passed
}

/// Frames sent every 10 ms for `secs`, one from each of `senders` (a host listed twice
/// sends twice a round) to agency `vid`: how many of each host's passed after `settle`.
fn paced(dp: &Dataplane, vid: u16, senders: &[u8], settle: f64, secs: f64) -> Vec<(u8, usize)> {
    let start = std::time::Instant::now();
    let mut passed: Vec<(u8, usize)> = Vec::new();
    let mut round = 0u32;
    while start.elapsed().as_secs_f64() < secs {
        let counting = start.elapsed().as_secs_f64() >= settle;
        for &h in senders {
            let ok = run(dp, WAN_PROGRAM, &download_to(vid, v4(h))) == XDP_PASS;
            match passed.iter_mut().find(|(k, _)| *k == h) {
                Some(p) => p.1 += usize::from(ok && counting),
                None => passed.push((h, usize::from(ok && counting))),
            }
        }
        round += 1;
        let next = start + std::time::Duration::from_millis(10) * round;
        std::thread::sleep(next.saturating_duration_since(std::time::Instant::now()));
    }
    passed
}

#[test]
fn a_busy_host_takes_no_more_than_its_share_and_a_shared_bucket_lets_it() {
    let (dp, _) = load(65_536);
    // Host 1 sends three frames every 10 ms, hosts 2 and 3 one each: 500 frames a second
    // for an agency of 100 (800 kbit/s of 1000-byte frames). Counted once the buckets'
    // depths are spent.
    let senders = [1, 1, 1, 2, 3];
    let fair = paced(&dp, 110, &senders, 1.0, 2.5);
    let shared = paced(&dp, 120, &senders, 1.0, 2.5);
    eprintln!("frames passed in 1.5 s: fair {fair:?}, shared {shared:?}");
    let total = |p: &[(u8, usize)]| p.iter().map(|x| x.1).sum::<usize>() as f64;
    // The agency's rate either way: 150 frames in 1.5 s.
    for p in [&fair, &shared] {
        assert!((total(p) / 150.0 - 1.0).abs() <= 0.1, "{p:?}");
    }
    // Shared: by arrival, three to one to one.
    assert!(shared[0].1 as f64 >= 0.5 * total(&shared), "{shared:?}");
    // Fair: a third each.
    for (h, p) in &fair {
        let third = total(&fair) / 3.0;
        assert!(
            (*p as f64 / third - 1.0).abs() <= 0.15,
            "host {h}: {fair:?}"
        );
    }
}

#[test]
fn a_host_ceiling_holds_however_much_the_agency_has_left() {
    let (dp, _) = load(65_536);
    // kios: 400 kbit/s per host downwards, its bucket as deep as 300 ms at that rate but at
    // least ten full-size frames (15,180 bytes): 15 frames of 1000 bytes.
    let one = rounds(&dp, 130, &[1], 40);
    assert_eq!(one, vec![(1, 15)], "one host alone: its ceiling's depth");
    let down = counters(&dp, KIOS, Direction::Download);
    assert_eq!(down.host_dropped_packets, 25, "{down:?}");
    // A second host has its own ceiling: the agency (30 frames) still had room.
    let two = rounds(&dp, 130, &[2], 40);
    assert_eq!(two, vec![(2, 15)]);
}

#[test]
fn a_full_host_table_never_drops_a_frame_the_agency_would_pass() {
    // Room for 64 hosts; 1000 hosts send.
    let (dp, _) = load(64);
    let many: Vec<u8> = (0..=255).collect();
    // An agency with room for all of it: every frame passes, hosts entered or not.
    let mut passed = 0;
    for i in 0..1000u32 {
        let host = IpAddr::V4(Ipv4Addr::new(198, 18, 2 + (i / 250) as u8, (i % 250) as u8));
        passed += usize::from(run(&dp, WAN_PROGRAM, &download_to(140, host)) == XDP_PASS);
    }
    assert_eq!(passed, 1000);
    let open = counters(&dp, TERBUKA, Direction::Download);
    assert_eq!(open.host_packets + open.hostless_packets, 1000, "{open:?}");
    assert!(
        hosts(&dp, TERBUKA).len() <= 64,
        "the table keeps its size: {}",
        hosts(&dp, TERBUKA).len()
    );
    // A limited agency passes as many frames of 200 new hosts as its own bucket holds:
    // what the agency alone would pass, as the shared agency beside it shows.
    let fair = rounds(&dp, 110, &many[..200], 1);
    let shared = rounds(&dp, 120, &many[..200], 1);
    let total = |p: &[(u8, usize)]| p.iter().map(|x| x.1).sum::<usize>();
    assert!(
        total(&fair).abs_diff(total(&shared)) <= 1,
        "fair {} vs shared {}",
        total(&fair),
        total(&shared)
    );
    assert!((30..=32).contains(&total(&fair)), "{}", total(&fair));
}

#[test]
fn active_hosts_are_counted_and_leave_when_they_stop() {
    let (dp, _) = load(65_536);
    for h in [1, 2, 3] {
        run(&dp, WAN_PROGRAM, &download_to(110, v4(h)));
    }
    let now = control::monotonic_ns();
    assert_eq!(
        dp.active_hosts(KANTOR, Direction::Download, now).unwrap(),
        3
    );
    assert_eq!(dp.active_hosts(KANTOR, Direction::Upload, now).unwrap(), 0);
    // Only host 1 goes on: within two windows (268 ms) it is the only one.
    let start = std::time::Instant::now();
    while start.elapsed() < std::time::Duration::from_millis(400) {
        run(&dp, WAN_PROGRAM, &download_to(110, v4(1)));
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    let now = control::monotonic_ns();
    assert_eq!(
        dp.active_hosts(KANTOR, Direction::Download, now).unwrap(),
        1
    );
    // Nobody: none.
    std::thread::sleep(std::time::Duration::from_millis(300));
    let now = control::monotonic_ns();
    assert_eq!(
        dp.active_hosts(KANTOR, Direction::Download, now).unwrap(),
        0
    );
}
