//! Map keys and values shared by the OPD Gateway XDP programs and the daemon.
//!
//! Every type is `#[repr(C)]` with explicit padding and a compile-time size check, so the
//! kernel and user space agree on the layout byte for byte. Field docs state units.
#![no_std]

use core::mem::size_of;

/// Agency indexes run from 0 to `MAX_AGENCIES - 1`.
pub const MAX_AGENCIES: u32 = 4096;
/// One slot per 12-bit VLAN id.
pub const VLAN_SLOTS: u32 = 4096;
/// Upload (policed on the `lan` port's ingress) and download (on the `wan` port's ingress).
pub const DIRECTIONS: u32 = 2;
pub const DIR_UPLOAD: u32 = 0;
pub const DIR_DOWNLOAD: u32 = 1;
/// Entries of the QinQ (outer, inner) → agency hash map.
pub const QINQ_ENTRIES: u32 = 4096;

/// Fixed-point shift of [`Limit::ns_per_byte_fp`]: the value is ns per byte × 2^20.
pub const NS_PER_BYTE_SHIFT: u32 = 20;

/// Index of an agency and direction in the per-agency maps.
#[inline(always)]
pub const fn agency_slot(agency: u32, direction: u32) -> u32 {
    agency * DIRECTIONS + direction
}

/// Value of the VLAN → agency array (and of the QinQ map): 0 means "no agency",
/// `n > 0` means agency index `n - 1`.
pub type AgencyRef = u32;

/// Key of the QinQ map: outer VID in the high 16 bits, inner VID in the low 16 bits.
#[inline(always)]
pub const fn qinq_key(outer: u16, inner: u16) -> u32 {
    ((outer as u32) << 16) | inner as u32
}

/// A rate limit as the data plane applies it (a GCRA / virtual-time token bucket).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Limit {
    /// Transmission time of one byte at the rate, in ns × 2^[`NS_PER_BYTE_SHIFT`].
    /// 0 means unlimited: frames pass without touching the bucket.
    pub ns_per_byte_fp: u64,
    /// Burst tolerance in ns: how far ahead of real time the bucket may run.
    /// Burst in bytes = `burst_ns` × rate in bytes/s ÷ 10^9.
    pub burst_ns: u64,
}
const _: () = assert!(size_of::<Limit>() == 16);

impl Limit {
    pub const UNLIMITED: Limit = Limit {
        ns_per_byte_fp: 0,
        burst_ns: 0,
    };

    /// A limit of `bits_per_second` (> 0) with a bucket depth of `burst_bytes`.
    pub const fn from_rate(bits_per_second: u64, burst_bytes: u64) -> Limit {
        // ns per byte = 8e9 / bps; keep the fraction.
        let ns_per_byte_fp =
            ((8_000_000_000u128 << NS_PER_BYTE_SHIFT) / bits_per_second as u128) as u64;
        let burst_ns = (burst_bytes as u128 * 8_000_000_000u128 / bits_per_second as u128) as u64;
        Limit {
            ns_per_byte_fp,
            burst_ns,
        }
    }

    /// Time the bucket advances for a frame of `len` bytes, in ns.
    #[inline(always)]
    pub const fn cost_ns(&self, len: u64) -> u64 {
        (len * self.ns_per_byte_fp) >> NS_PER_BYTE_SHIFT
    }
}

/// Limits of one agency in one direction; written by user space only.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LimitEntry {
    /// The policy's static value: applied whenever `dynamic` has expired, so a stopped
    /// daemon never freezes a stale division of the uplink.
    pub fixed: Limit,
    /// The value the control loop computed for this tick.
    pub dynamic: Limit,
    /// `dynamic` applies while `bpf_ktime_get_ns()` (CLOCK_MONOTONIC, ns) is below this.
    /// 0: never.
    pub dynamic_expires_ns: u64,
}
const _: () = assert!(size_of::<LimitEntry>() == 40);

/// Bucket state of one agency in one direction; written by the data plane only.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Bucket {
    /// Theoretical arrival time of the next conforming byte, CLOCK_MONOTONIC ns.
    /// Updated with compare-and-swap so CPUs policing the same agency never lose updates.
    pub tat_ns: u64,
}
const _: () = assert!(size_of::<Bucket>() == 8);

/// Per-CPU traffic counters (one entry per agency and direction, or per reason and direction).
/// Whole frames: Ethernet header and VLAN tags included, all buffers of multi-buffer frames.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counters {
    pub passed_packets: u64,
    pub passed_bytes: u64,
    pub dropped_packets: u64,
    pub dropped_bytes: u64,
    /// Passed frames marked ECN Congestion Experienced (counted in `passed_*` too).
    pub marked_packets: u64,
}
const _: () = assert!(size_of::<Counters>() == 40);

impl Counters {
    pub fn add(&mut self, other: &Counters) {
        self.passed_packets = self.passed_packets.wrapping_add(other.passed_packets);
        self.passed_bytes = self.passed_bytes.wrapping_add(other.passed_bytes);
        self.dropped_packets = self.dropped_packets.wrapping_add(other.dropped_packets);
        self.dropped_bytes = self.dropped_bytes.wrapping_add(other.dropped_bytes);
        self.marked_packets = self.marked_packets.wrapping_add(other.marked_packets);
    }
}

/// Reasons counted apart from agencies, per direction: index `reason * DIRECTIONS + dir`.
pub mod reason {
    /// ARP, STP, LLDP, LACP, 802.1X, IPv6 neighbour discovery: forwarded, never policed.
    pub const CONTROL: u32 = 0;
    /// Untagged or unknown-VLAN frames, handled by [`super::Config::unclassified_action`].
    pub const UNCLASSIFIED: u32 = 1;
    /// Frames too short to read their Ethernet header and tags: always dropped.
    pub const MALFORMED: u32 = 2;
    pub const COUNT: u32 = 3;
}

/// What happens to untagged and unknown-VLAN frames.
pub mod unclassified {
    pub const PASS: u32 = 0;
    pub const DROP: u32 = 1;
    /// Policed as the agency in [`super::Config::unclassified_agency`].
    pub const AGENCY: u32 = 2;
}

/// How frames that pass leave the gateway.
pub mod forward {
    /// XDP_PASS: the kernel's stack (a Linux bridge joining `lan` and `wan`) forwards them.
    pub const STACK: u32 = 0;
    /// XDP_REDIRECT to the other port through the port devmap.
    pub const REDIRECT: u32 = 1;
}

/// Index of the port devmap: where frames arriving on a port are redirected to.
pub const PORT_TO_WAN: u32 = 0;
pub const PORT_TO_LAN: u32 = 1;

/// Global settings of the data plane (a single-entry array).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Config {
    /// One of [`unclassified`].
    pub unclassified_action: u32,
    /// Agency index used when `unclassified_action` is [`unclassified::AGENCY`].
    pub unclassified_agency: u32,
    /// One of [`forward`].
    pub forward: u32,
    pub _pad: u32,
}
const _: () = assert!(size_of::<Config>() == 16);

/// An agency id as stored per slot: UTF-8, zero-padded; all zero for a free slot.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SlotId {
    pub bytes: [u8; 64],
}
const _: () = assert!(size_of::<SlotId>() == 64);

impl SlotId {
    pub const FREE: SlotId = SlotId { bytes: [0; 64] };
}

#[cfg(feature = "user")]
mod pod {
    // SAFETY: a byte array.
    unsafe impl aya::Pod for super::SlotId {}
    // SAFETY: all of these are #[repr(C)], contain only integers and have no padding.
    unsafe impl aya::Pod for super::Limit {}
    unsafe impl aya::Pod for super::LimitEntry {}
    unsafe impl aya::Pod for super::Bucket {}
    unsafe impl aya::Pod for super::Counters {}
    unsafe impl aya::Pod for super::Config {}
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limit_costs_match_the_rate() {
        // 8 Mbps = 1 byte per µs.
        let l = Limit::from_rate(8_000_000, 10_000);
        assert_eq!(l.cost_ns(1), 1000);
        assert_eq!(l.cost_ns(1500), 1_500_000);
        assert_eq!(l.burst_ns, 10_000_000);
        // 100 Gbps: 0.08 ns per byte, kept by the fixed point to a millionth.
        let l = Limit::from_rate(100_000_000_000, 0);
        assert!((79_999..=80_000).contains(&l.cost_ns(1_000_000)));
        // 8 kbps, a 256 KiB multi-buffer frame: no overflow.
        let l = Limit::from_rate(8_000, 0);
        assert_eq!(l.cost_ns(262_144), 262_144_000_000);
    }
}
