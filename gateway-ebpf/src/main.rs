//! The OPD Gateway data plane: XDP programs on the `lan` and `wan` ports.
//!
//! Every frame is parsed (Ethernet, 802.1Q / 802.1ad tags, IPv4 / IPv6), classified to an
//! agency by VLAN id (an array index), policed by that agency's bucket for the direction,
//! counted, and then forwarded to the other port (redirect) or handed to the stack (a Linux
//! bridge). Control frames are forwarded without policing; frames too short to classify are
//! dropped and counted, never guessed.
#![no_std]
#![no_main]
// The bpfel target declares no compare-and-swap for core::sync::atomic (BPF v1 has none);
// the v3 instruction set this program is built for does, through the intrinsic.
#![feature(core_intrinsics)]
#![allow(internal_features)]

use core::intrinsics::{AtomicOrdering::Relaxed, atomic_cxchg, atomic_xadd};

use aya_ebpf::{
    bindings::{BPF_NOEXIST, xdp_action},
    helpers::{bpf_ktime_get_ns, generated::bpf_xdp_get_buff_len},
    macros::{map, xdp},
    maps::{Array, DevMap, HashMap, LruHashMap, PerCpuArray},
    programs::XdpContext,
};
use gateway_common::{
    AgencyRef, Bucket, Buckets, Config, Counters, Direction, Gcra, HostAdmit, HostCount, HostKey,
    HostState, Limit, LimitEntry, MAX_AGENCIES, PORT_TO_LAN, PORT_TO_WAN, QINQ_ENTRIES, Reason,
    SlotId, UplinkBucket, VLAN_SLOTS, Verdict, Which, agency_slot, by_host, forward, host_admit,
    host_settle, host_window, mask_v6, qinq_key, unclassified,
};

// Each map's static is named as `gateway_common::map` names it: the name in the object,
// which the daemon opens and pins it by.

/// VLAN id → agency (see [`AgencyRef`]).
#[map]
static OPD_VLANS: Array<AgencyRef> = Array::with_max_entries(VLAN_SLOTS, 0);

/// (outer, inner) VLAN ids of double-tagged frames → agency. Looked up only for QinQ frames;
/// when absent the outer id is looked up in [`OPD_VLANS`].
#[map]
static OPD_QINQ: HashMap<u32, AgencyRef> = HashMap::with_max_entries(QINQ_ENTRIES, 0);

/// Limits per agency and direction, written by the daemon.
#[map]
static OPD_LIMITS: Array<LimitEntry> = Array::with_max_entries(MAX_AGENCIES * Direction::COUNT, 0);

/// Bucket state per agency and direction, written only here.
#[map]
static OPD_BUCKETS: Array<Bucket> = Array::with_max_entries(MAX_AGENCIES * Direction::COUNT, 0);

/// Bucket state of the whole uplink per direction, written only here: every frame an agency
/// passes is charged to it, and a frame may borrow only while it has room.
#[map]
static OPD_UPLINK_BUCKETS: Array<UplinkBucket> = Array::with_max_entries(Direction::COUNT, 0);

/// Per-CPU counters per agency and direction.
#[map]
static OPD_AGENCY_STATS: PerCpuArray<Counters> =
    PerCpuArray::with_max_entries(MAX_AGENCIES * Direction::COUNT, 0);

/// Per-CPU counters per [`Reason`] and direction.
#[map]
static OPD_OTHER_STATS: PerCpuArray<Counters> =
    PerCpuArray::with_max_entries(Reason::COUNT * Direction::COUNT, 0);

#[map]
static OPD_CONFIG: Array<Config> = Array::with_max_entries(1, 0);

/// The agency id in each slot, written by the daemon and never read here: pinned with the
/// other maps, it lets a restarted daemon give every agency back its slot and counters.
#[map]
static OPD_SLOT_IDS: Array<SlotId> = Array::with_max_entries(MAX_AGENCIES, 0);

/// (agency and direction, host address) → the host's buckets and counters, for agencies
/// that share by host. The least recently seen host makes room for a new one; the daemon
/// sizes it from the policy (`host_table`) before loading.
#[map]
static OPD_HOSTS: LruHashMap<HostKey, HostState> = LruHashMap::with_max_entries(65_536, 0);

/// Active hosts per agency and direction, counted here.
#[map]
static OPD_HOST_COUNTS: Array<HostCount> =
    Array::with_max_entries(MAX_AGENCIES * Direction::COUNT, 0);

/// [`PORT_TO_WAN`] holds the `wan` port, [`PORT_TO_LAN`] the `lan` port.
#[map]
static OPD_PORTS: DevMap = DevMap::with_max_entries(2, 0);

const ETH_HLEN: usize = 14;
const VLAN_HLEN: usize = 4;
const ETH_P_IP: u16 = 0x0800;
const ETH_P_IPV6: u16 = 0x86DD;
const ETH_P_ARP: u16 = 0x0806;
const ETH_P_8021Q: u16 = 0x8100;
const ETH_P_8021AD: u16 = 0x88A8;
/// Pre-standard QinQ service tag still sent by some switches.
const ETH_P_QINQ_LEGACY: u16 = 0x9100;
const ETH_P_LLDP: u16 = 0x88CC;
const ETH_P_SLOW: u16 = 0x8809; // LACP, marker
const ETH_P_PAE: u16 = 0x888E; // 802.1X
const IPPROTO_ICMPV6: u8 = 58;

/// Upload: frames from the agencies' trunk.
#[xdp(frags)]
pub fn opd_lan(ctx: XdpContext) -> u32 {
    gateway(&ctx, Direction::Upload, PORT_TO_WAN)
}

/// Download: frames from the upstream router's trunk.
#[xdp(frags)]
pub fn opd_wan(ctx: XdpContext) -> u32 {
    gateway(&ctx, Direction::Download, PORT_TO_LAN)
}

/// What the parser found out about a frame.
enum Class {
    /// Frame shorter than its own Ethernet header and tags.
    Malformed,
    /// Link-local or neighbour-resolution traffic: never policed. Link-local frames (STP,
    /// LLDP, LACP) belong to this link, as in any bridge; the rest is forwarded.
    Control { link_local: bool },
    /// Classified (0 = no agency: untagged or unknown VLAN), with the EtherType after the
    /// tags and the offset of the network header.
    Agency {
        found: AgencyRef,
        proto: u16,
        off: usize,
    },
}

/// What happened to a frame, for its counters.
#[derive(Clone, Copy)]
enum Counted {
    Passed {
        marked: bool,
        borrowed: bool,
        excess: bool,
    },
    Dropped {
        uplink: bool,
    },
}

#[inline(always)]
fn gateway(ctx: &XdpContext, dir: Direction, port: u32) -> u32 {
    // Whole frame, every buffer of a multi-buffer frame included.
    // SAFETY: the helper only reads the context it is given.
    let len = unsafe { bpf_xdp_get_buff_len(ctx.ctx) };
    let Some(config) = OPD_CONFIG.get(0) else {
        return xdp_action::XDP_ABORTED;
    };
    match classify(ctx) {
        Class::Malformed => {
            count(
                &OPD_OTHER_STATS,
                Reason::Malformed.slot(dir),
                len,
                Counted::Dropped { uplink: false },
            );
            xdp_action::XDP_DROP
        }
        Class::Control { link_local } => {
            count(&OPD_OTHER_STATS, Reason::Control.slot(dir), len, UNPOLICED);
            if link_local {
                xdp_action::XDP_PASS
            } else {
                pass(config, port)
            }
        }
        Class::Agency { found, proto, off } => {
            let agency = if found != 0 {
                found - 1
            } else {
                match config.unclassified_action {
                    unclassified::AGENCY => config.unclassified_agency,
                    unclassified::DROP => {
                        count(
                            &OPD_OTHER_STATS,
                            Reason::Unclassified.slot(dir),
                            len,
                            Counted::Dropped { uplink: false },
                        );
                        return xdp_action::XDP_DROP;
                    }
                    _ => {
                        count(
                            &OPD_OTHER_STATS,
                            Reason::Unclassified.slot(dir),
                            len,
                            UNPOLICED,
                        );
                        return pass(config, port);
                    }
                }
            };
            let slot = agency_slot(agency, dir);
            // Read before policing, and never branched on: the verifier then walks the
            // policing paths once, not once per outcome of the read.
            let tcp = tcp_bytes(ctx, proto, off, len);
            let (verdict, host) = police(ctx, config, dir, slot, len, proto, off);
            match verdict {
                Verdict::Drop { uplink, host: over } => {
                    let c = count(&OPD_AGENCY_STATS, slot, len, Counted::Dropped { uplink });
                    if let Some(c) = c {
                        // SAFETY: per-CPU value, as in `count`.
                        unsafe { (*c).tcp_dropped_bytes += tcp };
                    }
                    count_host(c, host, len, false, over);
                    xdp_action::XDP_DROP
                }
                Verdict::Pass {
                    congested,
                    borrowed,
                    excess,
                } => {
                    let marked = congested && mark_ce(ctx, proto, off);
                    let c = count(
                        &OPD_AGENCY_STATS,
                        slot,
                        len,
                        Counted::Passed {
                            marked,
                            borrowed,
                            excess,
                        },
                    );
                    count_host(c, host, len, true, false);
                    pass(config, port)
                }
            }
        }
    }
}

#[inline(always)]
fn pass(config: &Config, port: u32) -> u32 {
    if config.forward == forward::REDIRECT {
        // Falls back to the stack if the port is missing from the devmap.
        OPD_PORTS
            .redirect(port, xdp_action::XDP_PASS as u64)
            .unwrap_or(xdp_action::XDP_PASS)
    } else {
        xdp_action::XDP_PASS
    }
}

/// Sets ECN Congestion Experienced on an ECN-capable IPv4 or IPv6 packet (RFC 3168),
/// keeping the IPv4 header checksum right; anything else is left alone. True if marked.
#[inline(always)]
fn mark_ce(ctx: &XdpContext, proto: u16, off: usize) -> bool {
    let (start, end) = (ctx.data(), ctx.data_end());
    let ip = (start + off) as *mut u8;
    match proto {
        ETH_P_IP => {
            if start + off + 20 > end {
                return false;
            }
            // SAFETY: within the frame's linear part, checked above.
            unsafe {
                let (first, tos) = (*ip, *ip.add(1));
                if tos & 3 == 0 || tos & 3 == 3 {
                    return false; // not ECN-capable, or already marked
                }
                *ip.add(1) = tos | 3;
                // Incremental update of the header checksum (RFC 1624, eqn. 3).
                let old = u16::from_be_bytes([first, tos]) as u32;
                let new = u16::from_be_bytes([first, tos | 3]) as u32;
                let check = u16::from_be_bytes([*ip.add(10), *ip.add(11)]) as u32;
                let mut sum = (!check & 0xFFFF) + (!old & 0xFFFF) + new;
                sum = (sum & 0xFFFF) + (sum >> 16);
                sum = (sum & 0xFFFF) + (sum >> 16);
                let [hi, lo] = (!(sum as u16)).to_be_bytes();
                *ip.add(10) = hi;
                *ip.add(11) = lo;
            }
            true
        }
        ETH_P_IPV6 => {
            if start + off + 40 > end {
                return false;
            }
            // SAFETY: as above. The ECN field is bits 4–5 of the header's second byte.
            unsafe {
                let b = *ip.add(1);
                let ecn = (b >> 4) & 3;
                if ecn == 0 || ecn == 3 {
                    return false;
                }
                *ip.add(1) = b | 0x30;
            }
            true
        }
        _ => false,
    }
}

/// `len` if a frame whose network header (EtherType `proto`) starts at `off` carries TCP
/// (IPv4's protocol or IPv6's next header; extension headers are not followed), else 0.
/// Without a branch but the read's bounds check: it runs on every drop path the verifier
/// walks.
#[inline(always)]
fn tcp_bytes(ctx: &XdpContext, proto: u16, off: usize, len: u64) -> u64 {
    const IPPROTO_TCP: u64 = 6;
    // 1 if `x` is zero, else 0.
    let zero = |x: u64| x.wrapping_sub(1) >> 63;
    let v4 = zero(u64::from(proto ^ ETH_P_IP));
    let v6 = zero(u64::from(proto ^ ETH_P_IPV6));
    // IPv4's protocol is its 10th byte, IPv6's next header its 7th.
    let at = off + 9 - 3 * v6 as usize;
    match read::<u8>(ctx, at) {
        Some(p) => len * (v4 | v6) * zero(u64::from(p) ^ IPPROTO_TCP),
        None => 0,
    }
}

/// Frames that are never policed, as counted.
const UNPOLICED: Counted = Counted::Passed {
    marked: false,
    borrowed: false,
    excess: false,
};

/// Counts a frame by what happened to it; the counters it counted in, for more.
#[inline(always)]
fn count(
    map: &PerCpuArray<Counters>,
    index: u32,
    len: u64,
    what: Counted,
) -> Option<*mut Counters> {
    let ptr = map.get_ptr_mut(index);
    if let Some(c) = ptr {
        // SAFETY: per-CPU value, and XDP runs with preemption off: no other writer.
        let c = unsafe { &mut *c };
        match what {
            Counted::Passed {
                marked,
                borrowed,
                excess,
            } => {
                c.passed_packets += 1;
                c.passed_bytes += len;
                if marked {
                    c.marked_packets += 1;
                }
                if borrowed {
                    c.borrowed_bytes += len;
                }
                if excess {
                    c.excess_bytes += len;
                }
            }
            Counted::Dropped { uplink } => {
                c.dropped_packets += 1;
                c.dropped_bytes += len;
                if uplink {
                    c.uplink_dropped_bytes += len;
                }
            }
        }
    }
    ptr
}

/// Which host a frame of an agency was policed as.
#[derive(Clone, Copy)]
enum HostUse {
    /// The agency shares one bucket among its hosts.
    Off,
    /// It shares by host, but this frame has no host: no IP header, or no room in the host
    /// table.
    Hostless,
    /// Its host's entry; `new` if this frame entered it.
    Host { state: *mut HostState, new: bool },
}

/// Counts a frame by its host, and in its agency's counters `c` (as [`count`] found them)
/// how it was policed.
#[inline(always)]
fn count_host(c: Option<*mut Counters>, host: HostUse, len: u64, passed: bool, over: bool) {
    let Some(c) = c else { return };
    // SAFETY: per-CPU value, as in `count`.
    let c = unsafe { &mut *c };
    match host {
        HostUse::Off => {}
        HostUse::Hostless => c.hostless_packets += 1,
        HostUse::Host { state, new } => {
            c.host_packets += 1;
            if new {
                c.new_hosts += 1;
            }
            if over {
                c.host_dropped_packets += 1;
            }
            // SAFETY: a live value of the host table (see `police`); shared by every CPU, so
            // added to atomically.
            unsafe {
                let bytes = if passed {
                    &raw mut (*state).passed_bytes
                } else {
                    &raw mut (*state).dropped_bytes
                };
                atomic_xadd::<u64, u64, { Relaxed }>(bytes, len);
            }
        }
    }
}

/// Polices one frame of an agency (`slot`) in a direction, as [`gateway_common::police`]
/// (or [`gateway_common::police_host`], for an agency that shares by host) decides, on the
/// agency's buckets, the uplink's and its host's. Every bucket is exact across CPUs
/// (compare-and-swap).
#[inline(always)]
fn police(
    ctx: &XdpContext,
    config: &Config,
    dir: Direction,
    slot: u32,
    len: u64,
    proto: u16,
    off: usize,
) -> (Verdict, HostUse) {
    const DROP: (Verdict, HostUse) = (
        Verdict::Drop {
            uplink: false,
            host: false,
        },
        HostUse::Off,
    );
    let Some(entry) = OPD_LIMITS.get(slot) else {
        return DROP;
    };
    let (Some(agency), Some(uplink_bucket)) = (
        OPD_BUCKETS.get_ptr_mut(slot),
        OPD_UPLINK_BUCKETS.get_ptr_mut(dir as u32),
    ) else {
        return DROP;
    };
    // One clock read per frame.
    // SAFETY: no arguments.
    let now = unsafe { bpf_ktime_get_ns() };
    let uplink = &config.uplink_at(dir, now);
    let mut buckets = Atomic {
        agency,
        // SAFETY: a field of a live map value.
        uplink: unsafe { &raw mut (*uplink_bucket).tat_ns },
        host: core::ptr::null_mut(),
    };
    let rates = entry.at(now);
    // The agency's buckets are written out once, for frames with a host and without: each
    // copy would be walked by the verifier on its own.
    let mut host = HostUse::Off;
    let mut hosts = 0;
    let mut over_share = false;
    if by_host(rates) {
        host = HostUse::Hostless;
        let found = match host_key(ctx, dir, slot, proto, off, config.host_ipv6_prefix) {
            Some(key) => host_entry(&key),
            None => None,
        };
        if let Some((state, new)) = found {
            host = HostUse::Host { state, new };
            hosts = active_hosts(slot, state, now);
            buckets.host = state;
            match host_admit(rates, now, len, hosts, &mut buckets) {
                HostAdmit::OverCeiling => return (HostAdmit::DROP, host),
                HostAdmit::Admit { over_share: o } => over_share = o,
            }
        }
    }
    let v = gateway_common::police(rates, uplink, now, len, over_share, &mut buckets);
    match host {
        HostUse::Host { .. } => (
            host_settle(rates, len, hosts, over_share, v, &mut buckets),
            host,
        ),
        _ => (v, host),
    }
}

/// The host a frame belongs to: the inner IP address after the tags, the source going up
/// and the destination going down; IPv6 by the site's prefix. None for a frame with no
/// whole IP header.
#[inline(always)]
fn host_key(
    ctx: &XdpContext,
    dir: Direction,
    slot: u32,
    proto: u16,
    off: usize,
    ipv6_prefix: u32,
) -> Option<HostKey> {
    let mut key = HostKey {
        slot,
        family: 0,
        addr: [0; 16],
    };
    match proto {
        ETH_P_IP => {
            // The whole fixed header, as a host would need to send it.
            read::<[u8; 20]>(ctx, off)?;
            let at = match dir {
                Direction::Upload => off + 12,
                Direction::Download => off + 16,
            };
            let a = read::<[u8; 4]>(ctx, at)?;
            key.family = 4;
            key.addr[0] = a[0];
            key.addr[1] = a[1];
            key.addr[2] = a[2];
            key.addr[3] = a[3];
        }
        ETH_P_IPV6 => {
            read::<[u8; 40]>(ctx, off)?;
            let at = match dir {
                Direction::Upload => off + 8,
                Direction::Download => off + 24,
            };
            key.family = 6;
            key.addr = mask_v6(read::<[u8; 16]>(ctx, at)?, ipv6_prefix);
        }
        _ => return None,
    }
    Some(key)
}

/// The host's entry in the host table, entered if new (`true`). None if the table has no
/// room for it.
#[inline(always)]
fn host_entry(key: &HostKey) -> Option<(*mut HostState, bool)> {
    if let Some(state) = OPD_HOSTS.get_ptr_mut(key) {
        return Some((state, false));
    }
    // Another CPU may enter it first: then its entry is the one used.
    let new = OPD_HOSTS
        .insert(key, HostState::default(), BPF_NOEXIST as u64)
        .is_ok();
    OPD_HOSTS.get_ptr_mut(key).map(|state| (state, new))
}

/// The active hosts of the agency's slot, counting this frame's host if it is the first
/// of its window.
#[inline(always)]
fn active_hosts(slot: u32, host: *mut HostState, now: u64) -> u32 {
    let Some(counts) = OPD_HOST_COUNTS.get_ptr_mut(slot) else {
        return 1;
    };
    let window = host_window(now);
    // SAFETY: live map values shared by every CPU; read with one instruction each and
    // written by compare-and-swap (see `Atomic`).
    unsafe {
        let seen_at = &raw mut (*host).window;
        let seen = core::ptr::read_volatile(seen_at);
        if seen != window {
            let (_, first) = atomic_cxchg::<u64, { Relaxed }, { Relaxed }>(seen_at, seen, window);
            if first {
                let current = &raw mut (*counts).current;
                let mut tries = 0;
                while tries < TRIES {
                    tries += 1;
                    let was = core::ptr::read_volatile(current);
                    let same = was >> 32 == window & 0xFFFF_FFFF;
                    let next = if same {
                        was + 1
                    } else {
                        HostCount::pack(window, 1)
                    };
                    let (_, swapped) =
                        atomic_cxchg::<u64, { Relaxed }, { Relaxed }>(current, was, next);
                    if swapped {
                        if !same {
                            core::ptr::write_volatile(&raw mut (*counts).previous, was);
                        }
                        break;
                    }
                }
            }
        }
        let c = HostCount {
            current: core::ptr::read_volatile(&raw const (*counts).current),
            previous: core::ptr::read_volatile(&raw const (*counts).previous),
        };
        c.active(window)
    }
}

/// Bucket state in map values, shared by every CPU.
struct Atomic {
    agency: *mut Bucket,
    uplink: *mut u64,
    /// The frame's host; null when it has none.
    host: *mut HostState,
}

impl Atomic {
    #[inline(always)]
    fn tat(&self, which: Which) -> *mut u64 {
        // SAFETY: fields of live map values (see `police`); the host's buckets are used
        // only when the frame has a host.
        unsafe {
            match which {
                Which::Guaranteed => &raw mut (*self.agency).guaranteed_tat_ns,
                Which::Borrow => &raw mut (*self.agency).borrow_tat_ns,
                Which::Excess => &raw mut (*self.agency).excess_tat_ns,
                Which::Uplink => self.uplink,
                Which::HostShare => &raw mut (*self.host).share_tat_ns,
                Which::HostCeiling => &raw mut (*self.host).ceiling_tat_ns,
            }
        }
    }
}

/// Rounds of compare-and-swap on one bucket before a frame is charged without the check:
/// one to forgive a debt, two to lose a race with another CPU. Every round multiplies the
/// paths the verifier walks.
const TRIES: u32 = 3;

// SAFETY (for every access below): the pointers come from map lookups of this program, live
// as long as it runs and are 8-byte aligned. An aligned 64-bit load is one BPF instruction,
// so atomic (LLVM's BPF backend has no atomic-load lowering to ask for it by name); every
// write is a compare-and-swap or an atomic add.
impl Buckets for Atomic {
    #[inline(always)]
    fn take(
        &mut self,
        which: Which,
        limit: &Limit,
        now: u64,
        len: u64,
        forgive: bool,
    ) -> Option<bool> {
        let tat = self.tat(which);
        // SAFETY: see above.
        unsafe {
            let mut seen = core::ptr::read_volatile(tat);
            let mut tries = 0;
            while tries < TRIES {
                tries += 1;
                let (next, verdict) = match limit.judge(seen, now, len) {
                    Gcra::Refuse => return None,
                    Gcra::Forgive { tat_ns } if forgive => (tat_ns, None),
                    Gcra::Forgive { .. } => return None,
                    Gcra::Pass { tat_ns, congested } => (tat_ns, Some(congested)),
                };
                let (current, swapped) =
                    atomic_cxchg::<u64, { Relaxed }, { Relaxed }>(tat, seen, next);
                seen = if swapped { next } else { current };
                // A forgiven bucket judges the frame again.
                if swapped && verdict.is_some() {
                    return verdict;
                }
            }
            // Still contended: charge the frame without the check rather than spin.
            atomic_xadd::<u64, u64, { Relaxed }>(tat, limit.cost_ns(len));
        }
        Some(true)
    }

    #[inline(always)]
    fn charge(&mut self, which: Which, limit: &Limit, now: u64, len: u64) {
        let tat = self.tat(which);
        // SAFETY: see above.
        unsafe {
            let mut seen = core::ptr::read_volatile(tat);
            let mut tries = 0;
            while tries < TRIES {
                tries += 1;
                let next = limit.charge(seen, now, len);
                let (current, swapped) =
                    atomic_cxchg::<u64, { Relaxed }, { Relaxed }>(tat, seen, next);
                if swapped {
                    return;
                }
                seen = current;
            }
            atomic_xadd::<u64, u64, { Relaxed }>(tat, limit.cost_ns(len));
        }
    }

    #[inline(always)]
    fn refund(&mut self, which: Which, cost_ns: u64) {
        // SAFETY: see above.
        unsafe { atomic_xadd::<u64, u64, { Relaxed }>(self.tat(which), cost_ns.wrapping_neg()) };
    }
}

/// Reads a `T` at `offset` of the frame's linear part, bounds-checked for the verifier.
#[inline(always)]
fn read<T: Copy>(ctx: &XdpContext, offset: usize) -> Option<T> {
    let start = ctx.data();
    let end = ctx.data_end();
    if start + offset + core::mem::size_of::<T>() > end {
        return None;
    }
    // SAFETY: in bounds, checked above; unaligned read since frames have no alignment.
    Some(unsafe { core::ptr::read_unaligned((start + offset) as *const T) })
}

#[inline(always)]
fn be16(ctx: &XdpContext, offset: usize) -> Option<u16> {
    read::<[u8; 2]>(ctx, offset).map(u16::from_be_bytes)
}

/// 01:80:C2:00:00:00–0F: STP, LACP, LLDP, 802.1X — never forwarded by a bridge.
#[inline(always)]
fn is_link_local(ctx: &XdpContext) -> bool {
    match read::<[u8; 6]>(ctx, 0) {
        Some(d) => {
            d[0] == 0x01
                && d[1] == 0x80
                && d[2] == 0xC2
                && d[3] == 0
                && d[4] == 0
                && d[5] & 0xF0 == 0
        }
        None => false,
    }
}

#[inline(always)]
fn is_tpid(proto: u16) -> bool {
    proto == ETH_P_8021Q || proto == ETH_P_8021AD || proto == ETH_P_QINQ_LEGACY
}

#[inline(always)]
fn classify(ctx: &XdpContext) -> Class {
    let Some(mut proto) = be16(ctx, 12) else {
        return Class::Malformed;
    };
    if is_link_local(ctx) {
        return Class::Control { link_local: true };
    }
    let mut off = ETH_HLEN;
    let mut outer: u16 = 0;
    let mut inner: u16 = 0;
    let mut tags = 0u32;
    if is_tpid(proto) {
        let (Some(tci), Some(next)) = (be16(ctx, off), be16(ctx, off + 2)) else {
            return Class::Malformed;
        };
        outer = tci & 0x0FFF;
        proto = next;
        off += VLAN_HLEN;
        tags = 1;
        if is_tpid(proto) {
            let (Some(tci), Some(next)) = (be16(ctx, off), be16(ctx, off + 2)) else {
                return Class::Malformed;
            };
            inner = tci & 0x0FFF;
            proto = next;
            off += VLAN_HLEN;
            tags = 2;
        }
    }
    if is_control(ctx, proto, off) {
        return Class::Control { link_local: false };
    }
    // VID 0 is a priority tag: the frame belongs to the native VLAN, as if untagged.
    let found = match tags {
        0 => 0,
        1 => lookup_vlan(outer),
        _ => {
            // SAFETY: hash map lookup of a plain key; the value is only copied.
            match unsafe { OPD_QINQ.get(qinq_key(outer, inner)) } {
                Some(a) => *a,
                None => lookup_vlan(outer),
            }
        }
    };
    Class::Agency { found, proto, off }
}

#[inline(always)]
fn lookup_vlan(vid: u16) -> AgencyRef {
    if vid == 0 {
        return 0;
    }
    match OPD_VLANS.get(vid as u32) {
        Some(a) => *a,
        None => 0,
    }
}

/// Frames that keep the network itself working: ARP, LLDP, LACP, 802.1X, and IPv6
/// neighbour/router discovery. A truncated IPv6 header is not control: it is policed as
/// its VLAN's traffic.
#[inline(always)]
fn is_control(ctx: &XdpContext, proto: u16, off: usize) -> bool {
    match proto {
        ETH_P_ARP | ETH_P_LLDP | ETH_P_SLOW | ETH_P_PAE => true,
        ETH_P_IPV6 => {
            // Next header at +6; the ICMPv6 type right after the fixed 40-byte header.
            // Neighbour discovery carries no extension headers (RFC 4861 hop limit 255).
            if read::<u8>(ctx, off + 6) != Some(IPPROTO_ICMPV6) {
                return false;
            }
            match read::<u8>(ctx, off + 40) {
                Some(t) => (133..=137).contains(&t),
                None => false,
            }
        }
        ETH_P_IP => false,
        _ => false,
    }
}

#[cfg(not(test))]
#[panic_handler]
fn panic(_info: &core::panic::PanicInfo) -> ! {
    loop {}
}

#[unsafe(link_section = "license")]
#[unsafe(no_mangle)]
static LICENSE: [u8; 4] = *b"GPL\0";
