//! The XDP programs run on crafted frames with BPF_PROG_TEST_RUN: verdicts, which counter
//! moved, and the policer's arithmetic. Needs root; run by `cargo xtask test`.

use aya::programs::{TestRun, TestRunOptions, Xdp};
use gateway_common::{Counters, Direction, PerDirection, Rates, Reason};
use opd_gateway::{
    control,
    dataplane::{Dataplane, LAN_PROGRAM, WAN_PROGRAM},
    plan::Applied,
    policy::{self, Policy},
};
use opd_testbed::{
    AgencyText, Forwarding, Limit, PolicyText, env_path,
    frames::{self, Expected, Frame, Rng},
    require_root,
};

const XDP_DROP: u32 = 1;
const XDP_PASS: u32 = 2;
const XDP_REDIRECT: u32 = 4;

fn policy(unclassified: &str, forwarding: Forwarding) -> Policy {
    let unlimited = Limit::rate("unlimited");
    let text = PolicyText::site()
        .capacity("100Gbps", "100Gbps")
        .forwarding(forwarding)
        .unclassified(unclassified)
        .agency(
            AgencyText::new("dinkes")
                .vlans(&[110, 111])
                .both(unlimited.clone()),
        )
        .agency(
            AgencyText::new("bpbd")
                .vlans(&[120])
                .qinq(&[(300, 7)])
                .both(unlimited.clone()),
        )
        .agency(
            AgencyText::new("slow")
                .vlans(&[130])
                .upload(Limit::rate("1Mbps").burst("100ms"))
                .download(unlimited),
        );
    policy::from_texts(&[("test.toml", &text.to_string())]).expect("the test policy is valid")
}

fn load(policy: &Policy) -> Dataplane {
    load_applied(policy).0
}

/// The programs loaded, holding `policy` as a starting daemon would.
fn load_applied(policy: &Policy) -> (Dataplane, Applied) {
    require_root();
    let mut dp =
        Dataplane::load_file(&env_path("OPD_GATEWAY_EBPF")).expect("load the XDP programs");
    let applied = Applied::start(&mut dp, policy).expect("configure the data plane");
    (dp, applied)
}

/// Every counter of the data plane, labelled.
fn counters(dp: &Dataplane, policy: &Policy) -> Vec<(String, Counters)> {
    let mut all = Vec::new();
    for dir in Direction::ALL {
        let d = dir.index();
        for (i, a) in policy.agencies.iter().enumerate() {
            all.push((
                format!("{}/{d}", a.id),
                dp.counters().agency(i as u32, dir).unwrap(),
            ));
        }
        for r in Reason::ALL {
            let c = dp.counters().reason(r, dir).unwrap();
            all.push((format!("{}/{d}", r.as_str()), c));
        }
    }
    all
}

/// What one frame did: the verdict and the single counter that moved (passed or dropped).
#[derive(Debug, PartialEq, Eq)]
struct Outcome {
    verdict: u32,
    counter: String,
    passed: bool,
    bytes: u64,
}

fn run(dp: &Dataplane, policy: &Policy, program: &str, frame: &[u8]) -> Outcome {
    let before = counters(dp, policy);
    let (verdict, _) = run_frame(dp, program, frame);
    let after = counters(dp, policy);
    let moved: Vec<(String, Counters)> = before
        .iter()
        .zip(&after)
        .filter(|(b, a)| b.1 != a.1)
        .map(|(b, a)| (b.0.clone(), a.1.since(&b.1)))
        .collect();
    assert_eq!(
        moved.len(),
        1,
        "exactly one counter must move per frame, got {moved:?}"
    );
    let (name, d) = &moved[0];
    assert_eq!(d.passed_packets + d.dropped_packets, 1, "{name}: {d:?}");
    Outcome {
        verdict,
        counter: name.clone(),
        passed: d.passed_packets == 1,
        bytes: d.passed_bytes + d.dropped_bytes,
    }
}

fn outcome(verdict: u32, counter: &str, passed: bool, bytes: usize) -> Outcome {
    Outcome {
        verdict,
        counter: counter.into(),
        passed,
        bytes: bytes as u64,
    }
}

#[test]
fn frames_are_classified_by_vlan_and_counted_whole() {
    let p = policy("pass", Forwarding::Bridge);
    let dp = load(&p);
    let up = |f: &Frame| {
        let b = f.bytes();
        (run(&dp, &p, LAN_PROGRAM, &b), b.len())
    };
    let cases: Vec<(&str, Frame, &str, u32)> = vec![
        (
            "untagged IPv4",
            Frame::ipv4_udp(100),
            "unclassified/0",
            XDP_PASS,
        ),
        (
            "802.1Q VLAN 110",
            Frame::ipv4_udp(100).tag(frames::CTAG, 110),
            "dinkes/0",
            XDP_PASS,
        ),
        (
            "second VLAN of an agency",
            Frame::ipv4_udp(100).tag(frames::CTAG, 111),
            "dinkes/0",
            XDP_PASS,
        ),
        (
            "IPv6 on VLAN 120",
            Frame::ipv6_udp(100).tag(frames::CTAG, 120),
            "bpbd/0",
            XDP_PASS,
        ),
        (
            "QinQ pair in the QinQ table",
            Frame::ipv4_udp(100)
                .tag(frames::STAG, 300)
                .tag(frames::CTAG, 7),
            "bpbd/0",
            XDP_PASS,
        ),
        (
            "QinQ pair not in the table: outer VLAN decides",
            Frame::ipv4_udp(100)
                .tag(frames::STAG, 110)
                .tag(frames::CTAG, 9),
            "dinkes/0",
            XDP_PASS,
        ),
        (
            "unknown VLAN",
            Frame::ipv4_udp(100).tag(frames::CTAG, 999),
            "unclassified/0",
            XDP_PASS,
        ),
        (
            "priority tag (VID 0)",
            Frame::ipv4_udp(100).tag(frames::CTAG, 0),
            "unclassified/0",
            XDP_PASS,
        ),
        (
            "ARP on VLAN 110",
            Frame::arp().tag(frames::CTAG, 110),
            "control/0",
            XDP_PASS,
        ),
        ("untagged ARP", Frame::arp(), "control/0", XDP_PASS),
        ("LLDP", Frame::lldp(), "control/0", XDP_PASS),
        (
            "IPv6 neighbour solicitation",
            Frame::ipv6_neighbour_solicitation().tag(frames::CTAG, 120),
            "control/0",
            XDP_PASS,
        ),
    ];
    for (what, frame, counter, verdict) in cases {
        let (got, len) = up(&frame);
        assert_eq!(got, outcome(verdict, counter, true, len), "{what}");
    }
    // Download is counted on its own direction.
    let b = Frame::ipv4_udp(100).tag(frames::CTAG, 120).bytes();
    assert_eq!(
        run(&dp, &p, WAN_PROGRAM, &b),
        outcome(XDP_PASS, "bpbd/1", true, b.len())
    );
}

#[test]
fn multi_buffer_frames_are_counted_whole() {
    let p = policy("pass", Forwarding::Bridge);
    let dp = load(&p);
    // Larger than a page: BPF_PROG_TEST_RUN hands it to the frags-aware program in buffers.
    let b = Frame::ipv4_udp(9000).tag(frames::CTAG, 110).bytes();
    assert_eq!(
        run(&dp, &p, LAN_PROGRAM, &b),
        outcome(XDP_PASS, "dinkes/0", true, b.len())
    );
}

#[test]
fn unclassified_frames_follow_the_site_default() {
    let frame = Frame::ipv4_udp(64).tag(frames::CTAG, 999).bytes();
    let untagged = Frame::ipv4_udp(64).bytes();
    let p = policy("drop", Forwarding::Bridge);
    let dp = load(&p);
    assert_eq!(
        run(&dp, &p, LAN_PROGRAM, &frame),
        outcome(XDP_DROP, "unclassified/0", false, frame.len())
    );
    // Control frames are never policed, not even by a "drop" default.
    let arp = Frame::arp().bytes();
    assert_eq!(
        run(&dp, &p, LAN_PROGRAM, &arp),
        outcome(XDP_PASS, "control/0", true, arp.len())
    );
    drop(dp);
    let p = policy("bpbd", Forwarding::Bridge);
    let dp = load(&p);
    assert_eq!(
        run(&dp, &p, WAN_PROGRAM, &untagged),
        outcome(XDP_PASS, "bpbd/1", true, untagged.len())
    );
}

#[test]
fn redirect_mode_sends_frames_to_the_other_port() {
    let p = policy("pass", Forwarding::Redirect);
    let mut dp = load(&p);
    // Loopback exists in every namespace; the verdict is what is tested here, not delivery.
    dp.set_ports(1, 1).expect("write the port map");
    let b = Frame::ipv4_udp(64).tag(frames::CTAG, 110).bytes();
    assert_eq!(
        run(&dp, &p, LAN_PROGRAM, &b),
        outcome(XDP_REDIRECT, "dinkes/0", true, b.len())
    );
    // Link-local control frames stay on their link.
    let l = Frame::lldp().bytes();
    assert_eq!(
        run(&dp, &p, LAN_PROGRAM, &l),
        outcome(XDP_PASS, "control/0", true, l.len())
    );
    // ARP must cross to reach the router.
    let a = Frame::arp().tag(frames::CTAG, 110).bytes();
    assert_eq!(
        run(&dp, &p, LAN_PROGRAM, &a),
        outcome(XDP_REDIRECT, "control/0", true, a.len())
    );
}

/// Counter a reference classification must move, under the test policy with "pass".
fn reference_counter(e: Expected) -> &'static str {
    let vlan = |v: u16| match v {
        110 | 111 => "dinkes/0",
        120 => "bpbd/0",
        130 => "slow/0",
        _ => "unclassified/0",
    };
    match e {
        Expected::Malformed => "malformed/0",
        Expected::Control => "control/0",
        Expected::Tagged { outer: None, .. } => "unclassified/0",
        Expected::Tagged {
            outer: Some(300),
            inner: Some(7),
        } => "bpbd/0",
        Expected::Tagged { outer: Some(o), .. } => vlan(o),
    }
}

#[test]
fn truncated_frames_are_never_misclassified() {
    let p = policy("pass", Forwarding::Bridge);
    let dp = load(&p);
    let frames = [
        Frame::ipv4_udp(40).tag(frames::CTAG, 110),
        Frame::ipv4_udp(40)
            .tag(frames::STAG, 300)
            .tag(frames::CTAG, 7),
        Frame::ipv6_udp(40).tag(frames::CTAG, 120),
        Frame::ipv6_neighbour_solicitation().tag(frames::CTAG, 120),
        Frame::arp().tag(frames::CTAG, 110),
    ];
    let mut checked = 0;
    for f in &frames {
        let full = f.bytes();
        // The kernel hands XDP no frame shorter than an Ethernet header (BPF_PROG_TEST_RUN
        // refuses one too), so cuts start there.
        for cut in 14..=full.len() {
            let b = &full[..cut];
            let want = reference_counter(frames::expected(b));
            let got = run(&dp, &p, LAN_PROGRAM, b);
            assert_eq!(got.counter, want, "{f:?} cut at {cut} bytes");
            assert_eq!(got.bytes, cut as u64);
            if want == "malformed/0" {
                assert_eq!(got.verdict, XDP_DROP, "cut at {cut}");
            }
            checked += 1;
        }
    }
    eprintln!("{checked} truncated frames classified as the reference does");
}

#[test]
fn garbage_is_never_misclassified() {
    let p = policy("pass", Forwarding::Bridge);
    let dp = load(&p);
    let mut rng = Rng(0x0bd_9a7e);
    let interesting = [0x8100u16, 0x88A8, 0x9100, 0x0800, 0x86DD, 0x0806, 0x88CC];
    let vids = [110u16, 111, 120, 130, 300, 7, 0, 999, 4095];
    for i in 0..3000 {
        let len = 14 + rng.below(120) as usize;
        let mut b: Vec<u8> = (0..len).map(|_| rng.next_u64() as u8).collect();
        // Bias towards structure the parser looks at: tag protocol ids and known VLANs.
        let mut off = 12;
        while off + 4 <= len && rng.below(3) > 0 {
            let t = interesting[rng.below(interesting.len() as u64) as usize];
            b[off..off + 2].copy_from_slice(&t.to_be_bytes());
            let v = vids[rng.below(vids.len() as u64) as usize] | ((rng.below(8) as u16) << 13);
            b[off + 2..off + 4].copy_from_slice(&v.to_be_bytes());
            off += 4;
        }
        if rng.below(10) == 0 {
            b[..6].copy_from_slice(&frames::LINK_LOCAL);
        }
        let want = reference_counter(frames::expected(&b));
        let got = run(&dp, &p, LAN_PROGRAM, &b);
        assert_eq!(got.counter, want, "garbage frame {i}: {b:02x?}");
        assert_eq!(got.bytes, len as u64);
        assert!(
            matches!(got.verdict, XDP_PASS | XDP_DROP),
            "frame {i}: verdict {}",
            got.verdict
        );
    }
}

#[test]
fn the_policer_passes_the_burst_then_the_rate() {
    let p = policy("pass", Forwarding::Bridge);
    let dp = load(&p);
    // "slow": 1 Mbps upload, 100 ms burst = 12 500 bytes.
    let frame = Frame::ipv4_udp(1000 - 46).tag(frames::CTAG, 130).bytes();
    assert_eq!(frame.len(), 1000);
    let start = std::time::Instant::now();
    let mut passed = 0u64;
    for _ in 0..200 {
        let o = run(&dp, &p, LAN_PROGRAM, &frame);
        assert_eq!(o.counter, "slow/0");
        if o.passed {
            assert_eq!(o.verdict, XDP_PASS);
            passed += 1;
        } else {
            assert_eq!(o.verdict, XDP_DROP);
        }
    }
    let elapsed = start.elapsed().as_secs_f64();
    // The burst (100 ms at 1 Mbps, at least ten full frames: 15 180 bytes), the first
    // frame's own room, and what the rate refills.
    let burst = p.agencies[2].limits.upload.burst_bytes(1_000_000) as f64;
    assert_eq!(burst, 15_180.0);
    let allowed = burst / 1000.0 + 1.0 + elapsed * 1e6 / 8.0 / 1000.0;
    assert!(
        passed >= 12,
        "the burst must pass: {passed} of 200 frames passed"
    );
    assert!(
        passed as f64 <= allowed + 1.0,
        "{passed} frames passed in {elapsed:.3}s, at most {allowed:.1} allowed"
    );
    let c = dp.counters().agency(2, Direction::Upload).unwrap();
    assert_eq!(c.passed_packets, passed);
    assert_eq!(c.dropped_packets, 200 - passed);
    assert_eq!(c.passed_bytes, passed * 1000);
    // The other direction is not limited.
    let o = run(&dp, &p, WAN_PROGRAM, &frame);
    assert_eq!(o, outcome(XDP_PASS, "slow/1", true, 1000));
}

/// The data plane's bucket at `bps` bits/s, `depth` bytes deep.
fn bucket(bps: u64, depth: u64) -> gateway_common::Limit {
    gateway_common::Limit::from_rate(bps, depth)
}

/// A guarantee of `bps` with a bucket of `depth` bytes, nothing to borrow.
fn guaranteed(bps: u64, depth: u64) -> Rates {
    Rates {
        guaranteed: bucket(bps, depth),
        ..Default::default()
    }
}

#[test]
fn a_rate_raised_after_a_stop_applies_at_once() {
    let p = policy("pass", Forwarding::Bridge);
    let (mut dp, mut applied) = load_applied(&p);
    let frame = Frame::ipv4_udp(1000 - 46).tag(frames::CTAG, 130).bytes();
    let expires = control::monotonic_ns() + 60_000_000_000;
    // "slow" all but stopped (8 bps): its burst passes, then a debt of hours builds up.
    applied
        .set_rates(
            &mut dp,
            2,
            Direction::Upload,
            guaranteed(8, 15_180),
            expires,
        )
        .unwrap();
    let passed_slow = (0..40)
        .filter(|_| run(&dp, &p, LAN_PROGRAM, &frame).passed)
        .count();
    assert!(
        (1..=16).contains(&passed_slow),
        "{passed_slow} frames passed at 8 bps"
    );
    // The control loop gives it 100 Mbps: the new rate holds from now, not after the debt.
    applied
        .set_rates(
            &mut dp,
            2,
            Direction::Upload,
            guaranteed(100_000_000, 1_250_000),
            expires,
        )
        .unwrap();
    // The debt beyond the bucket is forgiven, the bucket itself starts empty: frames pass at
    // the new rate (one per 80 µs) from the moment it is set.
    let start = std::time::Instant::now();
    let passed_fast = (0..100)
        .filter(|_| run(&dp, &p, LAN_PROGRAM, &frame).passed)
        .count();
    let at_rate = (start.elapsed().as_nanos() as f64 / 80_000.0).min(100.0);
    assert!(
        passed_fast as f64 >= 0.9 * at_rate - 1.0 && passed_fast > 0,
        "only {passed_fast} of 100 frames passed after the rate was raised; {at_rate:.0} were due"
    );
}

/// The ones' complement sum of an IPv4 header: 0xFFFF when its checksum is right.
fn ipv4_header_sum(h: &[u8]) -> u16 {
    let mut sum: u32 = h[..20]
        .chunks(2)
        .map(|w| u16::from_be_bytes([w[0], w[1]]) as u32)
        .sum();
    while sum > 0xFFFF {
        sum = (sum & 0xFFFF) + (sum >> 16);
    }
    sum as u16
}

/// Runs one frame and returns the verdict and the frame as the program left it.
fn run_frame(dp: &Dataplane, program: &str, frame: &[u8]) -> (u32, Vec<u8>) {
    let prog: &Xdp = dp.program(program).expect("program exists");
    let mut out = vec![0u8; frame.len() + 256];
    let r = prog
        .test_run(TestRunOptions {
            data_in: Some(frame),
            data_out: Some(&mut out),
            repeat: 1,
            ..Default::default()
        })
        .unwrap_or_else(|e| panic!("BPF_PROG_TEST_RUN on a {}-byte frame: {e}", frame.len()));
    out.truncate(r.data_size_out as usize);
    (r.return_value, out)
}

#[test]
fn ecn_capable_frames_are_marked_once_the_bucket_is_half_used() {
    let p = policy("pass", Forwarding::Bridge);
    let dp = load(&p);
    // "slow": 1 Mbps upload, a bucket of 15 180 bytes; 1000-byte frames, IPv4 at offset 18.
    let mut ect0 = Frame::ipv4_udp(1000 - 46).tag(frames::CTAG, 130).bytes();
    ect0[18 + 1] = 0b10; // ECT(0)
    let sum = !ipv4_header_sum(&ect0[18..38]);
    ect0[18 + 10..18 + 12].copy_from_slice(&sum.to_be_bytes());
    assert_eq!(ipv4_header_sum(&ect0[18..38]), 0xFFFF);
    let mut not_ect = ect0.clone();
    not_ect[18 + 1] = 0;
    let sum = !{
        not_ect[18 + 10..18 + 12].fill(0);
        ipv4_header_sum(&not_ect[18..38])
    };
    not_ect[18 + 10..18 + 12].copy_from_slice(&sum.to_be_bytes());

    // Half the bucket passes as sent; then frames pass marked Congestion Experienced with
    // a checksum still right; then the rate holds and frames are dropped, marked or not.
    let mut verdicts = Vec::new();
    for i in 0..20 {
        let (verdict, out) = run_frame(&dp, LAN_PROGRAM, &ect0);
        if verdict == XDP_DROP {
            verdicts.push('D');
            continue;
        }
        assert_eq!(verdict, XDP_PASS);
        assert_eq!(
            ipv4_header_sum(&out[18..38]),
            0xFFFF,
            "frame {i}: IPv4 header checksum broken by marking"
        );
        assert_eq!(
            out[..19],
            ect0[..19],
            "frame {i}: only the ECN field may change"
        );
        assert_eq!(out[20..28], ect0[20..28]);
        assert_eq!(out[30..], ect0[30..]);
        verdicts.push(match out[19] {
            0b10 => 'P',
            0b11 => 'M',
            other => panic!("frame {i}: TOS byte {other:#x}"),
        });
    }
    let verdicts: String = verdicts.into_iter().collect();
    // 15 180 bytes of bucket: 7 frames use less than half of it, the rest of the burst is
    // marked, and the rate (1 Mbps: a frame per 8 ms) holds the rest back.
    assert!(
        verdicts.starts_with("PPPPPPP"),
        "the first half of the bucket passes unmarked: {verdicts}"
    );
    let marked = verdicts.matches('M').count();
    assert!(
        (7..=9).contains(&marked),
        "the second half of the bucket is marked: {verdicts}"
    );
    assert!(
        verdicts.ends_with("DD"),
        "beyond the bucket, ECN-capable frames are dropped too: {verdicts}"
    );
    let c = dp.counters().agency(2, Direction::Upload).unwrap();
    assert_eq!(c.marked_packets, marked as u64, "{c:?}");

    // A frame that is not ECN-capable passes unchanged once the rate allows it.
    std::thread::sleep(std::time::Duration::from_millis(20));
    let (verdict, out) = run_frame(&dp, LAN_PROGRAM, &not_ect);
    assert_eq!(verdict, XDP_PASS);
    assert_eq!(out, not_ect, "a frame without ECT must not be changed");

    // IPv6: ECT(1) becomes CE (no header checksum).
    std::thread::sleep(std::time::Duration::from_millis(20));
    let mut v6 = Frame::ipv6_udp(1000 - 66).tag(frames::CTAG, 130).bytes();
    v6[18] = 0x60;
    v6[19] = 0x10; // traffic class 0x01: ECT(1)
    let (verdict, out) = run_frame(&dp, LAN_PROGRAM, &v6);
    assert_eq!(verdict, XDP_PASS);
    assert_eq!(out[19], 0x30, "IPv6 ECT(1) must become CE");
    assert_eq!(out[..19], v6[..19]);
    assert_eq!(out[20..], v6[20..]);
}

/// An uplink of 8 Mbps each way, "kantor" with a guarantee of 1 Mbps, public "wifi" with none.
fn small_uplink() -> Policy {
    let text = PolicyText::site()
        .capacity("8Mbps", "8Mbps")
        .headroom("1kbps")
        .agency(
            AgencyText::new("kantor")
                .vlans(&[110])
                .both(Limit::guaranteed("1Mbps", "8Mbps")),
        )
        .agency(
            AgencyText::new("wifi")
                .tier("public")
                .vlans(&[120])
                .both(Limit::ceiling("8Mbps")),
        )
        .to_string();
    policy::from_texts(&[("small.toml", &text)]).expect("the test policy is valid")
}

/// The programs holding [`small_uplink`], with `rates` set for agency `slot` in `dir` as
/// the control loop sets them, for the next minute: the policy, the data plane and what it
/// holds.
fn small_uplink_with(slot: u32, dir: Direction, rates: Rates) -> (Policy, Dataplane, Applied) {
    let p = small_uplink();
    let (mut dp, mut applied) = load_applied(&p);
    let expires = control::monotonic_ns() + 60_000_000_000;
    applied
        .set_rates(&mut dp, slot, dir, rates, expires)
        .unwrap();
    (p, dp, applied)
}

/// How many of `n` frames pass, and the counters that moved meanwhile.
fn send(dp: &Dataplane, program: &str, frame: &[u8], n: usize, slot: u32) -> (usize, Counters) {
    let dir = if program == LAN_PROGRAM {
        Direction::Upload
    } else {
        Direction::Download
    };
    let before = dp.counters().agency(slot, dir).unwrap();
    let passed = (0..n)
        .filter(|_| run_frame(dp, program, frame).0 == XDP_PASS)
        .count();
    (
        passed,
        dp.counters().agency(slot, dir).unwrap().since(&before),
    )
}

#[test]
fn a_guarantee_passes_however_full_the_uplink_and_borrowers_get_what_is_left() {
    let p = small_uplink();
    let (mut dp, mut applied) = load_applied(&p);
    let expires = control::monotonic_ns() + 60_000_000_000;
    // kantor: its 1 Mbps guarantee (a bucket of ten 1518-byte frames: 15 180 bytes), no
    // borrowing; wifi: may borrow 80 Mbps (a 1 MB bucket), so only the uplink holds it.
    applied
        .set_rates(
            &mut dp,
            0,
            Direction::Upload,
            guaranteed(1_000_000, 15_180),
            expires,
        )
        .unwrap();
    let wifi = Rates {
        borrow: bucket(80_000_000, 1_000_000),
        ..Default::default()
    };
    applied
        .set_rates(&mut dp, 1, Direction::Upload, wifi, expires)
        .unwrap();
    let kantor_frame = Frame::ipv4_udp(1000 - 46).tag(frames::CTAG, 110).bytes();
    let wifi_frame = Frame::ipv4_udp(1000 - 46).tag(frames::CTAG, 120).bytes();

    // The uplink's bucket holds 100 ms at 8 Mbps: about 100 of wifi's 1000-byte frames.
    let start = std::time::Instant::now();
    let (passed, c) = send(&dp, LAN_PROGRAM, &wifi_frame, 150, 1);
    let refilled = start.elapsed().as_secs_f64() * 8e6 / 8.0 / 1000.0;
    assert!(
        (99..=101 + refilled.ceil() as usize).contains(&passed),
        "{passed} of wifi's frames passed; the uplink holds 100 (+{refilled:.1} refilled)"
    );
    assert_eq!(
        c.borrowed_bytes, c.passed_bytes,
        "all of it borrowed: {c:?}"
    );
    assert_eq!(
        c.uplink_dropped_bytes, c.dropped_bytes,
        "every drop for want of uplink: {c:?}"
    );
    // kantor's guarantee passes although the uplink is full, and pushes it further.
    let (passed, c) = send(&dp, LAN_PROGRAM, &kantor_frame, 20, 0);
    assert!(
        (15..=16).contains(&passed),
        "{passed} of kantor's frames passed on its guarantee: {c:?}"
    );
    assert_eq!(c.borrowed_bytes, 0);
    assert_eq!(c.uplink_dropped_bytes, 0, "its own bucket held it: {c:?}");
    // So wifi gets nothing more for now.
    let (passed, c) = send(&dp, LAN_PROGRAM, &wifi_frame, 10, 1);
    assert_eq!(passed, 0, "{c:?}");
    assert_eq!(c.uplink_dropped_bytes, 10_000);
}

#[test]
fn a_borrower_is_held_to_its_own_limit_while_the_uplink_has_room() {
    // kantor downloads: its guarantee of 1 Mbps and 1 Mbps more to borrow, each 15 180
    // bytes deep; the uplink (100 kB deep) has room for all of it.
    let rates = Rates {
        guaranteed: bucket(1_000_000, 15_180),
        borrow: bucket(1_000_000, 15_180),
        ..Default::default()
    };
    let (_, dp, _) = small_uplink_with(0, Direction::Download, rates);
    let frame = Frame::ipv4_udp(1000 - 46).tag(frames::CTAG, 110).bytes();
    let (passed, c) = send(&dp, WAN_PROGRAM, &frame, 60, 0);
    assert!(
        (30..=32).contains(&passed),
        "{passed} frames passed: 15 on the guarantee and 15 borrowed: {c:?}"
    );
    assert!(
        (15_000..=16_000).contains(&c.borrowed_bytes),
        "borrowed: {c:?}"
    );
    assert_eq!(c.uplink_dropped_bytes, 0, "held by its own limit: {c:?}");
}

#[test]
fn beyond_its_share_an_agency_takes_excess_only_while_the_uplink_is_half_free() {
    // kantor: 15 frames on its guarantee, 15 as its share, and up to 80 Mbps more (a 1 MB
    // bucket) while the uplink (8 Mbps, 100 kB deep: 50 frames to half) is less than half
    // used.
    let rates = Rates {
        guaranteed: bucket(1_000_000, 15_180),
        borrow: bucket(1_000_000, 15_180),
        excess: bucket(80_000_000, 1_000_000),
        ..Default::default()
    };
    let (_, dp, _) = small_uplink_with(0, Direction::Download, rates);
    let frame = Frame::ipv4_udp(1000 - 46).tag(frames::CTAG, 110).bytes();
    let (passed, c) = send(&dp, WAN_PROGRAM, &frame, 100, 0);
    // 15 + 15 charged to the uplink, then excess until it is half used: about 20 more.
    assert!(
        (49..=52).contains(&passed),
        "{passed} frames passed; about 50 expected: {c:?}"
    );
    assert!(
        (19_000..=22_000).contains(&c.excess_bytes),
        "about 20 frames of excess: {c:?}"
    );
    assert_eq!(
        c.uplink_dropped_bytes, c.dropped_bytes,
        "the rest refused for want of uplink: {c:?}"
    );
}

/// `frame` (single-tagged, network header at byte 18) with its IP protocol set to TCP.
fn as_tcp(mut frame: Vec<u8>) -> Vec<u8> {
    match frame[18] >> 4 {
        4 => frame[18 + 9] = 6,
        6 => frame[18 + 6] = 6,
        v => panic!("IP version {v}"),
    }
    frame
}

#[test]
fn the_control_loops_uplink_rate_holds_until_it_expires() {
    // wifi may borrow 80 Mbps downloading (a 1 MB bucket): only the uplink holds it.
    let wifi = Rates {
        borrow: bucket(80_000_000, 1_000_000),
        ..Default::default()
    };
    let (p, mut dp, mut applied) = small_uplink_with(1, Direction::Download, wifi);
    let expires = control::monotonic_ns() + 60_000_000_000;
    let frame = Frame::ipv4_udp(1000 - 46).tag(frames::CTAG, 120).bytes();
    // The control loop divides 4 Mbps of the 8 downloading (its bucket 100 ms deep: 50
    // kB), the 8 Mbps uploading.
    let usable = p.site.usable(Direction::Upload);
    let bps = PerDirection::new(usable, 4_000_000);
    applied.set_uplink(&mut dp, bps, expires).unwrap();
    let (passed, c) = send(&dp, WAN_PROGRAM, &frame, 100, 1);
    assert!(
        (49..=52).contains(&passed),
        "{passed} frames passed; the 4 Mbps uplink holds about 50: {c:?}"
    );
    // Once the control loop's rate expires, the uplink is the capacity less headroom
    // again: its bucket (full: 100 ms of debt at either rate) refills at 8 Mbps, a frame
    // per ms, where 4 Mbps would refill one per 2 ms.
    applied
        .set_uplink(&mut dp, bps, control::monotonic_ns())
        .unwrap();
    let start = std::time::Instant::now();
    std::thread::sleep(std::time::Duration::from_millis(60));
    let (passed, c) = send(&dp, WAN_PROGRAM, &frame, 100, 1);
    let ms = start.elapsed().as_secs_f64() * 1e3;
    assert!(
        passed as f64 >= 0.85 * ms && passed as f64 <= ms + 2.0,
        "{passed} frames passed {ms:.1} ms after the control loop's rate expired; at 8 Mbps about {ms:.0}: {c:?}"
    );
}

#[test]
fn dropped_tcp_segments_are_counted_apart() {
    // kantor: 1 Mbps downloading, ten 1000-byte frames deep, nothing to borrow.
    let (_, dp, _) = small_uplink_with(0, Direction::Download, guaranteed(1_000_000, 10_000));
    let udp = Frame::ipv4_udp(1000 - 46).tag(frames::CTAG, 110).bytes();
    let tcp4 = as_tcp(udp.clone());
    let tcp6 = as_tcp(Frame::ipv6_udp(1000 - 66).tag(frames::CTAG, 110).bytes());
    // The bucket empties; then every frame is dropped, and only TCP's count as resent.
    let (passed, _) = send(&dp, WAN_PROGRAM, &udp, 20, 0);
    assert!((10..=11).contains(&passed), "{passed}");
    let (passed, c) = send(&dp, WAN_PROGRAM, &udp, 10, 0);
    assert_eq!(
        (passed, c.dropped_bytes, c.tcp_dropped_bytes),
        (0, 10_000, 0)
    );
    let (passed, c) = send(&dp, WAN_PROGRAM, &tcp4, 10, 0);
    assert_eq!(passed, 0);
    assert_eq!((c.dropped_bytes, c.tcp_dropped_bytes), (10_000, 10_000));
    let (passed, c) = send(&dp, WAN_PROGRAM, &tcp6, 5, 0);
    assert_eq!(passed, 0);
    assert_eq!((c.dropped_bytes, c.tcp_dropped_bytes), (5_000, 5_000));
    // A frame too short to hold the protocol's byte is not counted as TCP.
    let short = as_tcp(udp.clone())[..18 + 8].to_vec();
    let (passed, c) = send(&dp, WAN_PROGRAM, &short, 3, 0);
    assert_eq!(passed, 0);
    assert_eq!(c.tcp_dropped_bytes, 0, "{c:?}");
}
