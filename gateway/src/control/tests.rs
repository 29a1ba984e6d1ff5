//! The control loop against a simulated data plane that polices like the XDP program.

use std::collections::BTreeMap;

use gateway_common::{Bucket, Counters, Direction, Limit, LimitEntry, Plain, Rates, Verdict};

use super::*;
use crate::{dataplane::MapWrite, plan::fallback_rates, policy};

const SECOND: u64 = 1_000_000_000;
/// Monday 2026-11-23 10:00 in Jakarta.
const MONDAY_10H: i64 = 1_795_402_800;
const UP: Direction = Direction::Upload;

/// A data plane in memory: carries out the same writes, polices with the same GCRA
/// arithmetic.
#[derive(Default)]
struct SimPlane {
    /// What the maps hold, as the kernel's would.
    maps: Contents,
    buckets: BTreeMap<(u32, Direction), Bucket>,
    uplink_tat: BTreeMap<Direction, u64>,
    counters: BTreeMap<(u32, Direction), Counters>,
    /// Every write, in order.
    writes: Vec<MapWrite>,
}

impl Plane for SimPlane {
    fn counters(&self, slot: u32, dir: Direction) -> Result<Counters, DataplaneError> {
        Ok(self.counters.get(&(slot, dir)).copied().unwrap_or_default())
    }

    fn write(&mut self, write: &MapWrite) -> Result<(), DataplaneError> {
        if let MapWrite::ResetSlot { slot } = write {
            for dir in Direction::ALL {
                self.buckets.insert((*slot, dir), Bucket::default());
                self.counters.insert((*slot, dir), Counters::default());
            }
        }
        self.maps.record(write);
        self.writes.push(write.clone());
        Ok(())
    }

    fn active_hosts(&self, _: u32, _: Direction, _: u64) -> Result<u32, DataplaneError> {
        Ok(0)
    }
}

impl SimPlane {
    fn effective(&self, slot: u32, dir: Direction, now: u64) -> Rates {
        *self.maps.limits[&(slot, dir)].at(now)
    }

    fn uplink(&self, dir: Direction, now: u64) -> Limit {
        self.maps
            .config
            .map_or(Limit::default(), |c| c.uplink_at(dir, now))
    }

    /// One frame of `slot` at `t`, policed as the data plane polices it.
    fn police(&mut self, slot: u32, dir: Direction, t: u64, frame: u64) {
        let rates = self.effective(slot, dir, t);
        let uplink = self.uplink(dir, t);
        let mut buckets = Plain {
            agency: self.buckets.entry((slot, dir)).or_default(),
            uplink: self.uplink_tat.entry(dir).or_default(),
            host: None,
        };
        // Frames of no host: policed by the agency's buckets alone.
        let verdict = gateway_common::police(&rates, &uplink, t, frame, false, &mut buckets);
        let c = self.counters.entry((slot, dir)).or_default();
        match verdict {
            Verdict::Pass {
                borrowed, excess, ..
            } => {
                c.passed_packets = c.passed_packets.wrapping_add(1);
                c.passed_bytes = c.passed_bytes.wrapping_add(frame);
                if borrowed {
                    c.borrowed_bytes = c.borrowed_bytes.wrapping_add(frame);
                }
                if excess {
                    c.excess_bytes = c.excess_bytes.wrapping_add(frame);
                }
            }
            Verdict::Drop { .. } => {
                c.dropped_packets = c.dropped_packets.wrapping_add(1);
                c.dropped_bytes = c.dropped_bytes.wrapping_add(frame);
            }
        }
    }

    /// Offers `load[i].1` bits/s of `frame`-byte frames for slot `load[i].0` during [t0, t1),
    /// the agencies' frames interleaved in time as on the wire.
    fn offer_all(&mut self, dir: Direction, load: &[(u32, u64)], t0: u64, t1: u64, frame: u64) {
        let mut next: Vec<(u64, u32, u64)> = load
            .iter()
            .filter(|(_, bps)| *bps > 0)
            .map(|&(slot, bps)| (t0, slot, frame * 8 * SECOND / bps))
            .collect();
        while let Some(i) = (0..next.len())
            .filter(|&i| next[i].0 < t1)
            .min_by_key(|&i| next[i].0)
        {
            let (t, slot, gap) = next[i];
            self.police(slot, dir, t, frame);
            next[i].0 = t + gap.max(1);
        }
    }

    /// One agency alone.
    fn offer(&mut self, slot: u32, dir: Direction, bps: u64, t0: u64, t1: u64, frame: u64) {
        self.offer_all(dir, &[(slot, bps)], t0, t1, frame);
    }
}

/// The slots reset (taking a new agency) by these writes.
fn resets(writes: &[MapWrite]) -> Vec<u32> {
    writes
        .iter()
        .filter_map(|w| match w {
            MapWrite::ResetSlot { slot } => Some(*slot),
            _ => None,
        })
        .collect()
}

fn policy(text: &str) -> Policy {
    policy::from_texts(&[("p.toml", text)]).unwrap_or_else(|e| panic!("{e}"))
}

const SITE: &str = "[site]\nlan = \"lan\"\nwan = \"wan\"\ncapacity = { upload = \"100Mbps\", download = \"100Mbps\" }\nheadroom = \"1Mbps\"\n";

/// Two standard agencies with guarantees and a public WiFi that only borrows.
fn three_text(site_extra: &str) -> String {
    format!(
        "{SITE}{site_extra}[[agency]]\nid = \"dinkes\"\nvlans = [10]\nupload = {{ guaranteed = \"20Mbps\" }}\ndownload = {{ guaranteed = \"20Mbps\" }}\n\
         [[agency]]\nid = \"bpbd\"\nvlans = [20]\nupload = {{ guaranteed = \"30Mbps\" }}\ndownload = {{ guaranteed = \"30Mbps\" }}\n\
         [[agency]]\nid = \"wifi\"\ntier = \"public\"\nvlans = [30]\nupload = {{ ceiling = \"100Mbps\" }}\ndownload = {{ ceiling = \"100Mbps\" }}\n"
    )
}

fn three() -> Policy {
    policy(&three_text(""))
}

fn upload_rates(c: &Controller) -> Vec<u64> {
    c.tracked().iter().map(|t| t.flows[UP].allocated).collect()
}

/// Runs `ticks` ticks of one second with each agency offering `load[i]` bits/s upload.
fn run(c: &mut Controller, plane: &mut SimPlane, now: &mut u64, ticks: usize, load: &[u64]) {
    for _ in 0..ticks {
        let load: Vec<(u32, u64)> = c
            .tracked()
            .iter()
            .map(|t| t.slot)
            .zip(load.iter().copied())
            .collect();
        plane.offer_all(UP, &load, *now, *now + SECOND, 1250);
        *now += SECOND;
        c.tick(plane, *now, MONDAY_10H + (*now / SECOND) as i64)
            .unwrap();
        let sum: u64 = upload_rates(c).iter().sum();
        assert!(
            sum <= c.policy().site.usable(Direction::Upload),
            "oversubscribed: {sum}"
        );
    }
}

/// A controller on [`three`] at `start`, after its first (measuring) tick and `ticks` more
/// under `load`: the plane, the controller and the time of the last tick.
fn started(start: u64, ticks: usize, load: &[u64]) -> (SimPlane, Controller, u64) {
    let mut plane = SimPlane::default();
    let mut c = Controller::adopt(three(), &mut plane, Contents::default()).unwrap();
    let mut now = start;
    c.tick(&mut plane, now, MONDAY_10H).unwrap();
    run(&mut c, &mut plane, &mut now, ticks, load);
    (plane, c, now)
}

#[test]
fn allocations_follow_need_and_fall_back_when_the_loop_stops() {
    // Everyone busy: guarantees first, the public tier gets what is left.
    let (mut plane, mut c, mut now) =
        started(10 * SECOND, 4, &[80_000_000, 80_000_000, 80_000_000]);
    let r = upload_rates(&c);
    assert!(r[0] >= 20_000_000 && r[1] >= 30_000_000, "{r:?}");
    assert!(
        r.iter().sum::<u64>() >= 97_000_000,
        "work conserving: {r:?}"
    );
    // dinkes goes idle and bpbd needs only 30 Mbps: the public tier takes the leftovers.
    run(
        &mut c,
        &mut plane,
        &mut now,
        4,
        &[0, 30_000_000, 80_000_000],
    );
    let idle = upload_rates(&c);
    assert!(
        idle[0] < 10_000_000,
        "an idle agency gives its share back: {idle:?}"
    );
    assert!(
        idle[2] > r[2] + 20_000_000,
        "the public tier takes the leftovers: {r:?} → {idle:?}"
    );
    // The loop stops: rates hold until the expiry, then the data plane falls back to the
    // policy's static division on its own.
    let slot = c.tracked()[2].slot;
    let dynamic = plane.effective(slot, Direction::Upload, now + SECOND);
    let expiry = c.policy().site.expiry.as_nanos() as u64;
    let fallback = plane.effective(slot, Direction::Upload, now + expiry + 1);
    let fixed = fallback_rates(c.policy());
    // WiFi has no guarantee: it keeps the floor every agency keeps (256 kbps here).
    let wifi = crate::plan::with_floor(c.policy().agencies[2].limits[UP], 256_000);
    let flow = c.tracked()[2].flows[UP];
    let hosts = c.policy().agencies[2].hosts;
    let shared = crate::plan::host_shared(&wifi, flow.limit, flow.passed_rate);
    assert_eq!(
        dynamic,
        crate::plan::rates(&wifi, hosts, 256_000, flow.limit, shared)
    );
    let wifi_fixed = fixed[2][UP];
    assert_eq!(
        fallback,
        Rates {
            excess: Limit::default(),
            ..crate::plan::rates(&wifi, hosts, 256_000, wifi_fixed, wifi_fixed)
        }
    );
    assert_ne!(dynamic, fallback);
    // dinkes wakes up: its guarantee within two ticks.
    run(
        &mut c,
        &mut plane,
        &mut now,
        2,
        &[80_000_000, 80_000_000, 80_000_000],
    );
    assert!(upload_rates(&c)[0] >= 20_000_000, "{:?}", upload_rates(&c));

    // The static division never oversubscribes the uplink.
    assert!(fixed.iter().map(|r| r[UP]).sum::<u64>() <= c.policy().site.usable(Direction::Upload));
}

/// Adds to a slot's download counters one second of `passed` and `dropped` bits/s, of which
/// `tcp` bits/s dropped TCP segments.
fn count_download(plane: &mut SimPlane, slot: u32, passed: u64, dropped: u64, tcp: u64) {
    let c = plane.counters.entry((slot, DOWN)).or_default();
    c.passed_bytes += passed / 8;
    c.dropped_bytes += dropped / 8;
    c.tcp_dropped_bytes += tcp / 8;
}

const DOWN: Direction = Direction::Download;

#[test]
fn dropped_tcp_downloads_get_room_on_the_uplink_for_their_resends() {
    let (mut plane, mut c, mut now) = started(10 * SECOND, 1, &[0, 0, 0]);
    let usable = c.policy().site.usable(DOWN);
    assert_eq!(c.snapshot().divided[DOWN], usable, "nothing dropped yet");
    let slots: Vec<u32> = c.tracked().iter().map(|t| t.slot).collect();
    // Every agency busy downloading over TCP; 6 Mbps of its segments dropped, which will
    // cross the 100 Mbps uplink again: 94 Mbps is divided, where the headroom alone would
    // leave 99.
    let mut tick = |c: &mut Controller, plane: &mut SimPlane, dropped: u64, tcp: u64| {
        for &slot in &slots {
            count_download(plane, slot, 33_000_000, dropped / 3, tcp / 3);
        }
        now += SECOND;
        c.tick(plane, now, MONDAY_10H).unwrap();
        now
    };
    let at = tick(&mut c, &mut plane, 6_000_000, 6_000_000);
    let s = c.snapshot();
    assert_eq!(s.resend_room[DOWN], 6_000_000);
    assert_eq!(s.divided[DOWN], 94_000_000);
    assert_eq!(
        s.divided[UP],
        c.policy().site.usable(UP),
        "uploads need no room"
    );
    let allocated: u64 = c.tracked().iter().map(|t| t.flows[DOWN].allocated).sum();
    assert!(allocated <= 94_000_000, "{allocated}");
    // The data plane's uplink bucket holds the agencies to it until the rates expire, then
    // falls back to the usable capacity on its own.
    let expiry = c.policy().site.expiry.as_nanos() as u64;
    assert_eq!(plane.uplink(DOWN, at + 1), plan::uplink_limit(94_000_000));
    assert_eq!(plane.uplink(UP, at + 1), plan::uplink_limit(usable));
    assert_eq!(plane.uplink(DOWN, at + expiry), plan::uplink_limit(usable));
    // The drops stop: the room falls by half the difference per tick, as demand does.
    tick(&mut c, &mut plane, 0, 0);
    assert_eq!(c.snapshot().resend_room[DOWN], 3_000_000);
    assert_eq!(c.snapshot().divided[DOWN], 97_000_000);
    tick(&mut c, &mut plane, 0, 0);
    tick(&mut c, &mut plane, 0, 0);
    assert_eq!(
        c.snapshot().divided[DOWN],
        usable,
        "within the headroom again"
    );
    // A UDP flood's drops would not shrink with its share: they keep no room (what is
    // left of the TCP room falls on).
    let before = c.snapshot().resend_room[DOWN];
    tick(&mut c, &mut plane, 60_000_000, 0);
    tick(&mut c, &mut plane, 60_000_000, 0);
    assert_eq!(c.snapshot().resend_room[DOWN], before / 4);
    assert_eq!(c.snapshot().divided[DOWN], usable);
    // However many TCP segments are dropped, the guarantees in force are divided.
    tick(&mut c, &mut plane, 90_000_000, 90_000_000);
    assert_eq!(
        c.snapshot().divided[DOWN],
        50_256_000,
        "dinkes 20 + bpbd 30 + the 256 kbps every agency keeps"
    );
}

#[test]
fn a_wrapped_counter_gives_the_right_demand() {
    let mut plane = SimPlane::default();
    let mut c = Controller::adopt(three(), &mut plane, Contents::default()).unwrap();
    let slot = c.tracked()[0].slot;
    let i = (slot, UP);
    plane.counters.insert(
        i,
        Counters {
            passed_bytes: u64::MAX - 100_000,
            passed_packets: u64::MAX - 80,
            ..Default::default()
        },
    );
    let mut now = SECOND;
    c.tick(&mut plane, now, MONDAY_10H).unwrap();
    // 10 Mbps for a second: 1.25 MB, through the wrap.
    plane.counters.get_mut(&i).unwrap().passed_bytes = (u64::MAX - 100_000).wrapping_add(1_250_000);
    now += SECOND;
    c.tick(&mut plane, now, MONDAY_10H + 1).unwrap();
    assert_eq!(c.tracked()[0].flows[UP].offered_rate, 10_000_000);
    assert_eq!(c.tracked()[0].flows[UP].demand, 10_000_000);
}

#[test]
fn a_late_or_early_tick_never_gives_a_wrong_rate() {
    let (mut plane, mut c, mut now) = started(SECOND, 3, &[15_000_000, 5_000_000, 0]);
    let before = c.tracked()[0].flows[UP].demand;
    // A tick 1 ms after the previous one: too short to measure, the demand stands.
    let slot = c.tracked()[0].slot;
    plane.offer(
        slot,
        Direction::Upload,
        15_000_000,
        now,
        now + 1_000_000,
        1250,
    );
    now += 1_000_000;
    c.tick(&mut plane, now, MONDAY_10H + 4).unwrap();
    assert_eq!(c.tracked()[0].flows[UP].demand, before);
    // The loop stalls for 30 s (the data plane fell back meanwhile): the demand measured
    // is the stall's average, and the rates written are valid.
    plane.offer(
        slot,
        Direction::Upload,
        15_000_000,
        now,
        now + 30 * SECOND,
        1250,
    );
    now += 30 * SECOND;
    c.tick(&mut plane, now, MONDAY_10H + 34).unwrap();
    let f = c.tracked()[0].flows[UP];
    assert!((14_900_000..=15_100_000).contains(&f.offered_rate), "{f:?}");
    let r = upload_rates(&c);
    assert!(r.iter().sum::<u64>() <= c.policy().site.usable(Direction::Upload));
    for (rate, a) in r.iter().zip(&c.policy().agencies) {
        assert!(*rate <= a.limits[UP].ceiling);
    }
}

#[test]
fn a_clock_step_changes_only_which_schedule_applies() {
    let p = policy(&format!(
        "{SITE}[[agency]]\nid = \"disdik\"\nvlans = [5]\nupload = {{ guaranteed = \"10Mbps\" }}\ndownload = {{ guaranteed = \"10Mbps\" }}\n\
         [[agency.schedule]]\ndays = [\"mon-fri\"]\nhours = \"07:00-15:00\"\nupload = {{ guaranteed = \"60Mbps\" }}\n\
         [[agency]]\nid = \"wifi\"\ntier = \"public\"\nvlans = [6]\nupload = {{ ceiling = \"100Mbps\" }}\ndownload = {{ guaranteed = \"1Mbps\" }}\n"
    ));
    let mut plane = SimPlane::default();
    let mut c = Controller::adopt(p, &mut plane, Contents::default()).unwrap();
    let mut now = SECOND;
    let load = [90_000_000u64, 90_000_000];
    let mut wall = MONDAY_10H;
    for step in [
        0i64,
        -4 * 3600,
        9 * 3600,
        5 * 86_400,
        -5 * 86_400 - 6 * 3600,
    ] {
        wall += step;
        for _ in 0..3 {
            let load: Vec<(u32, u64)> = c.tracked().iter().map(|t| t.slot).zip(load).collect();
            plane.offer_all(UP, &load, now, now + SECOND, 1250);
            now += SECOND;
            wall += 1;
            c.tick(&mut plane, now, wall).unwrap();
            let r = upload_rates(&c);
            assert!(r.iter().sum::<u64>() <= 100_000_000, "{r:?}");
        }
        let local = c.policy().site.timezone.local(wall);
        let office = local.weekday < 5 && (420..900).contains(&local.minute);
        let g = c.tracked()[0].flows[UP].guaranteed;
        assert_eq!(
            g,
            if office { 60_000_000 } else { 10_000_000 },
            "at {local}"
        );
        assert!(c.tracked()[0].flows[UP].allocated >= g, "at {local}");
    }
}

#[test]
fn reload_keeps_slots_and_counters_and_reuses_freed_slots_fresh() {
    let (mut plane, mut c, mut now) = started(SECOND, 2, &[10_000_000, 10_000_000, 10_000_000]);
    let slots: Vec<u32> = c.tracked().iter().map(|t| t.slot).collect();
    assert_eq!(slots, vec![0, 1, 2]);
    let bpbd_bytes = plane.counters[&(1, UP)].passed_bytes;
    assert!(bpbd_bytes > 0);

    // dinkes removed, bpbd re-VLANed and its guarantee changed, a new agency added.
    let next = policy(&format!(
        "{SITE}[[agency]]\nid = \"bpbd\"\nvlans = [21]\nupload = {{ guaranteed = \"40Mbps\" }}\ndownload = {{ guaranteed = \"30Mbps\" }}\n\
         [[agency]]\nid = \"wifi\"\ntier = \"public\"\nvlans = [30]\nupload = {{ ceiling = \"100Mbps\" }}\ndownload = {{ ceiling = \"100Mbps\" }}\n\
         [[agency]]\nid = \"dukcapil\"\nvlans = [40]\nupload = {{ guaranteed = \"5Mbps\" }}\ndownload = {{ guaranteed = \"5Mbps\" }}\n"
    ));
    let before = plane.writes.len();
    c.reload(next.clone(), &mut plane).unwrap();
    let slots: Vec<u32> = c.tracked().iter().map(|t| t.slot).collect();
    assert_eq!(
        slots,
        vec![1, 2, 3],
        "kept agencies keep their slots; the new one takes a slot nobody used"
    );
    assert_eq!(
        plane.counters[&(1, UP)].passed_bytes,
        bpbd_bytes,
        "counters carry on"
    );
    let vlans = &plane.maps.vlans;
    assert_eq!(vlans[20], 0, "VLAN 20 no longer belongs to anyone");
    assert_eq!(vlans[21], 2, "VLAN 21 is bpbd's (slot 1)");
    assert_eq!(vlans[10], 0);
    assert_eq!(vlans[40], 4);
    assert_eq!(resets(&plane.writes[before..]), vec![3]);
    assert_eq!(
        plane.maps.ids.keys().copied().collect::<Vec<_>>(),
        vec![1, 2, 3],
        "dinkes's slot is freed"
    );
    // Dinkes's old slot is reused by the next newcomer, starting from zero.
    assert!(
        plane.counters[&(0, UP)].passed_bytes > 0,
        "dinkes's old counts are still there"
    );
    let mut later = next.clone();
    let mut extra = later.agencies[2].clone();
    extra.id = "bappeda".into();
    extra.vlans = vec![50];
    later.agencies.push(extra);
    later.fingerprint ^= 1;
    c.reload(later, &mut plane).unwrap();
    assert_eq!(c.tracked()[3].slot, 0);
    assert_eq!(
        plane.counters[&(0, UP)],
        Counters::default(),
        "a reused slot starts at zero"
    );
    c.reload(next, &mut plane).unwrap();
    // The demand of a kept agency carries over: no re-learning after a reload.
    assert!(c.tracked()[0].flows[UP].demand > 0);
    run(
        &mut c,
        &mut plane,
        &mut now,
        2,
        &[60_000_000, 0, 60_000_000],
    );
    assert!(upload_rates(&c)[0] >= 40_000_000);
}

#[test]
fn a_restarted_daemon_adopts_slots_counters_and_rates() {
    let (mut plane, c, mut now) = started(SECOND, 3, &[30_000_000, 30_000_000, 30_000_000]);
    let before: Vec<Counters> = (0..3).map(|s| plane.counters[&(s, UP)]).collect();
    let rates: Vec<LimitEntry> = (0..3).map(|s| plane.maps.limits[&(s, UP)]).collect();
    drop(c);

    // The new daemon's policy lists the agencies in another order and adds one.
    let mut p = three();
    p.agencies.reverse();
    let mut extra = p.agencies[0].clone();
    extra.id = "bappeda".into();
    extra.vlans = vec![40];
    p.agencies.push(extra);
    // What the kernel hands a new daemon: the maps as they are.
    let contents = plane.maps.clone();
    let before_adopt = plane.writes.len();
    let mut c = Controller::adopt(p, &mut plane, contents).unwrap();
    let slots: Vec<u32> = c.tracked().iter().map(|t| t.slot).collect();
    assert_eq!(
        slots,
        vec![2, 1, 0, 3],
        "each agency back in its slot; the newcomer in a free one"
    );
    assert_eq!(resets(&plane.writes[before_adopt..]), vec![3]);
    for s in 0..3u32 {
        assert_eq!(
            plane.counters[&(s, UP)],
            before[s as usize],
            "counters carry on"
        );
        assert_eq!(
            plane.maps.limits[&(s, UP)].dynamic,
            rates[s as usize].dynamic,
            "rates in force stay"
        );
    }
    // The first tick of the new daemon only measures: the adopted rates stay until they
    // expire or the second tick replaces them.
    c.tick(&mut plane, now, MONDAY_10H + 10).unwrap();
    assert_eq!(plane.maps.limits[&(0, UP)].dynamic, rates[0].dynamic);
    run(
        &mut c,
        &mut plane,
        &mut now,
        2,
        &[30_000_000, 30_000_000, 30_000_000, 0],
    );
    assert!(
        c.tracked()[0].flows[UP].demand >= 29_000_000,
        "demand measured again from the adopted counters"
    );
}

/// A sender that answers drops as TCP does, round trip by round trip: it doubles its rate
/// until the first loss (slow start), then grows by a twentieth per round trip and backs off
/// to 70% after a round trip with losses (CUBIC's factor), never above what it needs.
#[derive(Clone, Copy)]
struct TcpLike {
    slot: u32,
    rate: f64,
    need: f64,
    slow_start: bool,
}

impl TcpLike {
    fn new(slot: u32, need: u64) -> TcpLike {
        TcpLike {
            slot,
            rate: 1e6,
            need: need as f64,
            slow_start: true,
        }
    }

    fn answer(&mut self, lost: bool) {
        if lost {
            self.rate *= 0.7;
            self.slow_start = false;
        } else if self.slow_start {
            self.rate *= 2.0;
        } else {
            self.rate *= 1.05;
        }
        self.rate = self.rate.clamp(100e3, self.need);
    }
}

const RTT: u64 = 20_000_000;

/// Runs closed-loop senders for `seconds`, a tick every second: what each passed, per second.
fn closed_loop(
    c: &mut Controller,
    plane: &mut SimPlane,
    now: &mut u64,
    senders: &mut [TcpLike],
    seconds: usize,
) -> Vec<Vec<f64>> {
    let mut per_second = Vec::new();
    for _ in 0..seconds {
        let before: Vec<Counters> = senders
            .iter()
            .map(|s| plane.counters(s.slot, UP).unwrap())
            .collect();
        for _ in 0..SECOND / RTT {
            let round: Vec<Counters> = senders
                .iter()
                .map(|s| plane.counters(s.slot, UP).unwrap())
                .collect();
            let load: Vec<(u32, u64)> = senders.iter().map(|s| (s.slot, s.rate as u64)).collect();
            plane.offer_all(UP, &load, *now, *now + RTT, 1500);
            *now += RTT;
            for (s, r) in senders.iter_mut().zip(&round) {
                let lost = plane.counters(s.slot, UP).unwrap().since(r).dropped_packets > 0;
                s.answer(lost);
            }
        }
        c.tick(plane, *now, MONDAY_10H + (*now / SECOND) as i64)
            .unwrap();
        per_second.push(
            senders
                .iter()
                .zip(&before)
                .map(|(s, b)| {
                    plane.counters(s.slot, UP).unwrap().since(b).passed_bytes as f64 * 8.0
                })
                .collect(),
        );
    }
    per_second
}

#[test]
fn a_closed_loop_sender_alone_gets_the_idle_uplink_within_a_second() {
    let (mut plane, mut c, mut now) = started(SECOND, 3, &[0, 0, 0]);
    let mut tcp = [TcpLike::new(c.tracked()[0].slot, u64::MAX)];
    let got = closed_loop(&mut c, &mut plane, &mut now, &mut tcp, 3);
    let usable = c.policy().site.usable(UP) as f64;
    for (second, rates) in got.iter().enumerate() {
        eprintln!("second {second}: {:.1} Mbps", rates[0] / 1e6);
    }
    assert!(
        got[0][0] >= 0.8 * usable,
        "the first second, slow start included: {:.1} of {:.1} Mbps",
        got[0][0] / 1e6,
        usable / 1e6
    );
    assert!(
        got[1][0] >= 0.9 * usable && got[2][0] >= 0.9 * usable,
        "{got:?}"
    );
}

#[test]
fn closed_loop_senders_get_their_guarantees_at_once_and_share_the_rest_by_tier() {
    let (mut plane, mut c, mut now) = started(SECOND, 3, &[0, 0, 0]);
    let mut tcp: Vec<TcpLike> = c
        .tracked()
        .iter()
        .map(|t| TcpLike::new(t.slot, u64::MAX))
        .collect();
    let got = closed_loop(&mut c, &mut plane, &mut now, &mut tcp, 10);
    let usable = c.policy().site.usable(UP) as f64;
    for (second, r) in got.iter().enumerate() {
        eprintln!(
            "second {second}: dinkes {:.1}, bpbd {:.1}, wifi {:.1} Mbps",
            r[0] / 1e6,
            r[1] / 1e6,
            r[2] / 1e6
        );
    }
    // From the first second: the guarantees (20 and 30 Mbps) and a full uplink (each
    // second within the senders' sawtooth, and on average).
    for r in &got {
        assert!(r[0] >= 0.95 * 20e6 && r[1] >= 0.95 * 30e6, "{r:?}");
        assert!(r.iter().sum::<f64>() >= 0.9 * usable, "{r:?}");
    }
    let mean: f64 = got.iter().map(|r| r.iter().sum::<f64>()).sum::<f64>() / got.len() as f64;
    assert!(mean >= 0.95 * usable, "the uplink used {mean} on average");
    // Settled: what is beyond the guarantees goes to the standard tier, half each; public
    // WiFi keeps what every agency keeps (256 kbps), and gets nothing more.
    for r in &got[5..] {
        for (rate, want) in [(r[0], 20e6 + 24.4e6), (r[1], 30e6 + 24.4e6)] {
            assert!((rate - want).abs() <= 0.1 * want, "{r:?}");
        }
    }
}
