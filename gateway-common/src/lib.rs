//! Map keys and values shared by the OPD Gateway XDP programs and the daemon.
//!
//! Every type is `#[repr(C)]` with explicit padding and a compile-time size check, so the
//! kernel and user space agree on the layout byte for byte. Field docs state units.
#![no_std]

use core::{
    fmt,
    mem::size_of,
    ops::{Index, IndexMut},
};

/// Agency indexes run from 0 to `MAX_AGENCIES - 1`.
pub const MAX_AGENCIES: u32 = 4096;
/// One slot per 12-bit VLAN id.
pub const VLAN_SLOTS: u32 = 4096;
/// Entries of the QinQ (outer, inner) → agency hash map.
pub const QINQ_ENTRIES: u32 = 4096;

/// Fixed-point shift of [`Limit::ns_per_byte_fp`]: the value is ns per byte × 2^20.
pub const NS_PER_BYTE_SHIFT: u32 = 20;

/// Which way traffic crosses the gateway: upload is policed on the `lan` port's ingress,
/// download on the `wan` port's ingress.
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize, serde::Deserialize),
    serde(rename_all = "lowercase")
)]
pub enum Direction {
    Upload = 0,
    Download = 1,
}

impl Direction {
    pub const ALL: [Direction; 2] = [Direction::Upload, Direction::Download];
    pub const COUNT: u32 = 2;

    /// 0 for upload, 1 for download.
    #[inline(always)]
    pub const fn index(self) -> usize {
        self as usize
    }

    /// "upload" or "download", as metrics, the status and the policy spell it.
    pub const fn as_str(self) -> &'static str {
        match self {
            Direction::Upload => "upload",
            Direction::Download => "download",
        }
    }
}

impl fmt::Display for Direction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One value per [`Direction`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct PerDirection<T> {
    pub upload: T,
    pub download: T,
}

impl<T> PerDirection<T> {
    pub const fn new(upload: T, download: T) -> Self {
        PerDirection { upload, download }
    }

    /// Each direction's value from `f`.
    pub fn from_fn(mut f: impl FnMut(Direction) -> T) -> Self {
        PerDirection {
            upload: f(Direction::Upload),
            download: f(Direction::Download),
        }
    }

    pub fn map<U>(self, mut f: impl FnMut(T) -> U) -> PerDirection<U> {
        PerDirection {
            upload: f(self.upload),
            download: f(self.download),
        }
    }

    /// Both values with their direction, upload first.
    pub fn iter(&self) -> impl Iterator<Item = (Direction, &T)> {
        [
            (Direction::Upload, &self.upload),
            (Direction::Download, &self.download),
        ]
        .into_iter()
    }
}

impl<T> Index<Direction> for PerDirection<T> {
    type Output = T;
    fn index(&self, dir: Direction) -> &T {
        match dir {
            Direction::Upload => &self.upload,
            Direction::Download => &self.download,
        }
    }
}

impl<T> IndexMut<Direction> for PerDirection<T> {
    fn index_mut(&mut self, dir: Direction) -> &mut T {
        match dir {
            Direction::Upload => &mut self.upload,
            Direction::Download => &mut self.download,
        }
    }
}

/// Index of an agency and direction in the per-agency maps.
#[inline(always)]
pub const fn agency_slot(agency: u32, dir: Direction) -> u32 {
    agency * Direction::COUNT + dir as u32
}

/// Frames counted apart from agencies, per direction (see [`Reason::slot`]).
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Reason {
    /// ARP, STP, LLDP, LACP, 802.1X, IPv6 neighbour discovery: forwarded, never policed.
    Control = 0,
    /// Untagged or unknown-VLAN frames, handled by [`Config::unclassified_action`].
    Unclassified = 1,
    /// Frames too short to read their Ethernet header and tags: always dropped.
    Malformed = 2,
}

impl Reason {
    pub const ALL: [Reason; 3] = [Reason::Control, Reason::Unclassified, Reason::Malformed];
    pub const COUNT: u32 = 3;

    /// Index of this reason and direction in the reason counters map.
    #[inline(always)]
    pub const fn slot(self, dir: Direction) -> u32 {
        self as u32 * Direction::COUNT + dir as u32
    }

    /// The `reason` label of the metrics.
    pub const fn as_str(self) -> &'static str {
        match self {
            Reason::Control => "control",
            Reason::Unclassified => "unclassified",
            Reason::Malformed => "malformed",
        }
    }
}

/// Priority tier: capacity beyond guarantees goes to tiers strictly in this order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize, serde::Deserialize),
    serde(rename_all = "lowercase")
)]
pub enum Tier {
    /// Hospitals, disaster management: served first.
    Critical,
    Standard,
    /// Free public WiFi in parks and village halls: only ever what is left over.
    Public,
}

impl Tier {
    /// In the order they are served.
    pub const ALL: [Tier; 3] = [Tier::Critical, Tier::Standard, Tier::Public];

    /// As the policy, the metrics and the status spell it.
    pub const fn as_str(self) -> &'static str {
        match self {
            Tier::Critical => "critical",
            Tier::Standard => "standard",
            Tier::Public => "public",
        }
    }
}

impl fmt::Display for Tier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The name of every map of the gateway's programs, as the object file and the pin
/// directory have them. The programs name their map statics exactly so.
pub mod map {
    pub const VLANS: &str = "OPD_VLANS";
    pub const QINQ: &str = "OPD_QINQ";
    pub const LIMITS: &str = "OPD_LIMITS";
    pub const BUCKETS: &str = "OPD_BUCKETS";
    pub const AGENCY_STATS: &str = "OPD_AGENCY_STATS";
    pub const OTHER_STATS: &str = "OPD_OTHER_STATS";
    pub const UPLINK_BUCKETS: &str = "OPD_UPLINK_BUCKETS";
    pub const CONFIG: &str = "OPD_CONFIG";
    pub const PORTS: &str = "OPD_PORTS";
    pub const SLOT_IDS: &str = "OPD_SLOT_IDS";
    pub const HOSTS: &str = "OPD_HOSTS";
    pub const HOST_COUNTS: &str = "OPD_HOST_COUNTS";
    /// Every map, each pinned under the pin directory by its name.
    pub const ALL: [&str; 12] = [
        VLANS,
        QINQ,
        LIMITS,
        BUCKETS,
        UPLINK_BUCKETS,
        AGENCY_STATS,
        OTHER_STATS,
        CONFIG,
        PORTS,
        SLOT_IDS,
        HOSTS,
        HOST_COUNTS,
    ];
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

/// What an agency may pass in one direction, in three parts with a bucket each.
///
/// A frame passes on the agency's guarantee while that bucket allows, whatever else the
/// uplink carries. Beyond it, the agency borrows its share of what others leave while its
/// borrow bucket allows and the uplink's bucket has room; beyond its share, up to its
/// ceiling, it may take excess only while the uplink's bucket is less than half used, so
/// idle capacity is never wasted but a busy uplink is shared by the shares. Every frame
/// that passes is charged to the uplink's bucket, so borrowers get exactly what guaranteed
/// traffic leaves.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Rates {
    /// The guarantee. A rate of zero (`ns_per_byte_fp == 0`): none.
    pub guaranteed: Limit,
    /// Its share beyond the guarantee. A rate of zero: none.
    pub borrow: Limit,
    /// Beyond its share, up to its ceiling. A rate of zero: none.
    pub excess: Limit,
    /// What the agency's hosts share (`hosts = "fair"`): each active host may pass this
    /// rate divided by the number of active hosts before its frames count as beyond its
    /// share (see [`police_host`]). A rate of zero: the agency's hosts share one bucket.
    pub host_share: Limit,
    /// The most one host may pass. A rate of zero: no limit per host.
    pub host_ceiling: Limit,
}
const _: () = assert!(size_of::<Rates>() == 80);

/// Limits of one agency in one direction; written by user space only.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LimitEntry {
    /// The policy's static values: applied whenever `dynamic` has expired, so a stopped
    /// daemon never freezes a stale division of the uplink.
    pub fixed: Rates,
    /// The values the control loop computed for this tick.
    pub dynamic: Rates,
    /// `dynamic` applies while `bpf_ktime_get_ns()` (CLOCK_MONOTONIC, ns) is below this.
    /// 0: never.
    pub dynamic_expires_ns: u64,
}
const _: () = assert!(size_of::<LimitEntry>() == 168);

impl LimitEntry {
    /// The rates in force at `now_ns`.
    #[inline(always)]
    pub fn at(&self, now_ns: u64) -> &Rates {
        if now_ns < self.dynamic_expires_ns {
            &self.dynamic
        } else {
            &self.fixed
        }
    }
}

/// Bucket state of one agency in one direction; written by the data plane only. Each is the
/// theoretical arrival time of the next conforming byte, CLOCK_MONOTONIC ns, updated with
/// compare-and-swap so CPUs policing the same agency never lose updates.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Bucket {
    pub guaranteed_tat_ns: u64,
    pub borrow_tat_ns: u64,
    pub excess_tat_ns: u64,
    pub _pad: u64,
}
const _: () = assert!(size_of::<Bucket>() == 32);

/// Bucket state of the uplink in one direction, alone on its cache line: every CPU that
/// passes a frame of any agency updates it.
#[repr(C, align(64))]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct UplinkBucket {
    pub tat_ns: u64,
    pub _pad: [u64; 7],
}
const _: () = assert!(size_of::<UplinkBucket>() == 64);

/// What a bucket says to a frame (generic cell rate algorithm, on virtual time).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Gcra {
    /// The frame conforms; the bucket moves to `tat_ns`. `congested`: more than half of the
    /// bucket is in use after it.
    Pass { tat_ns: u64, congested: bool },
    /// The frame does not conform; the bucket stays.
    Refuse,
    /// The bucket holds more debt than its depth (its rate or depth just shrank, or it is
    /// given a rate again after a stop): it moves to `tat_ns`, a full depth of debt, and
    /// the frame is judged again.
    Forgive { tat_ns: u64 },
}

impl Limit {
    /// The same rate with half the depth: a bucket judged by it refuses once it is more than
    /// half used.
    #[inline(always)]
    pub const fn half_depth(&self) -> Limit {
        Limit {
            ns_per_byte_fp: self.ns_per_byte_fp,
            burst_ns: self.burst_ns / 2,
        }
    }

    /// Judges a frame of `len` bytes at `now_ns` against a bucket at `tat_ns`.
    #[inline(always)]
    pub fn judge(&self, tat_ns: u64, now_ns: u64, len: u64) -> Gcra {
        let horizon = now_ns + self.burst_ns;
        if tat_ns > horizon {
            return Gcra::Forgive { tat_ns: horizon };
        }
        let start = if tat_ns > now_ns { tat_ns } else { now_ns };
        let next = start + self.cost_ns(len);
        if next > horizon {
            Gcra::Refuse
        } else {
            Gcra::Pass {
                tat_ns: next,
                congested: next - now_ns > self.burst_ns / 2,
            }
        }
    }

    /// The bucket after a frame that passes whatever the bucket holds (charged, never
    /// forgiven: the capacity was used).
    #[inline(always)]
    pub fn charge(&self, tat_ns: u64, now_ns: u64, len: u64) -> u64 {
        let start = if tat_ns > now_ns { tat_ns } else { now_ns };
        start + self.cost_ns(len)
    }
}

/// The buckets one frame of an agency may draw on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Which {
    Guaranteed,
    Borrow,
    Excess,
    /// The whole uplink's, in the frame's direction.
    Uplink,
    /// The frame's host's share of its agency.
    HostShare,
    /// The frame's host's ceiling.
    HostCeiling,
}

/// The operations policing needs on bucket state: atomic in the data plane, plain in tests.
pub trait Buckets {
    /// Takes a frame from a bucket if it conforms to `limit`: `Some(congested)`, else
    /// `None`. With `forgive`, debt beyond the bucket's depth is forgiven first (see
    /// [`Gcra::Forgive`]); without, a bucket in such debt refuses.
    fn take(
        &mut self,
        which: Which,
        limit: &Limit,
        now_ns: u64,
        len: u64,
        forgive: bool,
    ) -> Option<bool>;
    /// Charges a frame to a bucket whatever it holds.
    fn charge(&mut self, which: Which, limit: &Limit, now_ns: u64, len: u64);
    /// Gives back what a frame was charged (`cost_ns`), when a later bucket refused it.
    fn refund(&mut self, which: Which, cost_ns: u64);
}

/// Bucket state in plain memory, for tests and simulations on one thread.
pub struct Plain<'a> {
    pub agency: &'a mut Bucket,
    pub uplink: &'a mut u64,
    /// The frame's host, if it has one.
    pub host: Option<&'a mut HostState>,
}

impl Plain<'_> {
    fn tat(&mut self, which: Which) -> &mut u64 {
        match which {
            Which::Guaranteed => &mut self.agency.guaranteed_tat_ns,
            Which::Borrow => &mut self.agency.borrow_tat_ns,
            Which::Excess => &mut self.agency.excess_tat_ns,
            Which::Uplink => self.uplink,
            Which::HostShare => &mut self.host.as_mut().expect("a host").share_tat_ns,
            Which::HostCeiling => &mut self.host.as_mut().expect("a host").ceiling_tat_ns,
        }
    }
}

impl Buckets for Plain<'_> {
    fn take(
        &mut self,
        which: Which,
        limit: &Limit,
        now_ns: u64,
        len: u64,
        forgive: bool,
    ) -> Option<bool> {
        let tat = self.tat(which);
        loop {
            match limit.judge(*tat, now_ns, len) {
                Gcra::Refuse => return None,
                Gcra::Forgive { tat_ns } if forgive => *tat = tat_ns,
                Gcra::Forgive { .. } => return None,
                Gcra::Pass { tat_ns, congested } => {
                    *tat = tat_ns;
                    return Some(congested);
                }
            }
        }
    }

    fn charge(&mut self, which: Which, limit: &Limit, now_ns: u64, len: u64) {
        let tat = self.tat(which);
        *tat = limit.charge(*tat, now_ns, len);
    }

    fn refund(&mut self, which: Which, cost_ns: u64) {
        let tat = self.tat(which);
        *tat = tat.wrapping_sub(cost_ns);
    }
}

/// What policing decided for a frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// `uplink`: the agency's own buckets allowed it, the uplink had no room. `host`: its
    /// host was beyond its share of the agency (and the agency had no room to spare) or
    /// beyond its host ceiling.
    Drop { uplink: bool, host: bool },
    /// `congested`: the bucket that let it through is more than half used, so the agency
    /// is at its rate and ECN-capable frames are marked. `borrowed`: beyond the guarantee;
    /// `excess`: beyond its share too, while the uplink had plenty of room.
    Pass {
        congested: bool,
        borrowed: bool,
        excess: bool,
    },
}

/// Polices one frame of `len` bytes at `now_ns` for an agency with `rates`, on an uplink
/// whose bucket is `uplink` (a rate of zero: no uplink limit); see [`Rates`] for the order
/// in which its buckets are drawn on. A frame `over_share` (its host is beyond its share
/// of the agency) passes only while the bucket it draws on is less than a quarter used, and
/// never on forgiven debt: the room the agency's other hosts leave, never theirs — the
/// other three quarters stay for their bursts.
#[inline(always)]
pub fn police(
    rates: &Rates,
    uplink: &Limit,
    now_ns: u64,
    len: u64,
    over_share: bool,
    b: &mut impl Buckets,
) -> Verdict {
    const DROP: Verdict = Verdict::Drop {
        uplink: false,
        host: false,
    };
    const UPLINK: Verdict = Verdict::Drop {
        uplink: true,
        host: false,
    };
    let open = |l: &Limit| l.ns_per_byte_fp != 0;
    let own = |l: &Limit| {
        if over_share {
            Limit {
                ns_per_byte_fp: l.ns_per_byte_fp,
                burst_ns: l.burst_ns / OVER_SHARE_DEPTH,
            }
        } else {
            *l
        }
    };
    let forgive = !over_share;
    let may_borrow = open(&rates.borrow) || open(&rates.excess);
    if open(&rates.guaranteed)
        && let Some(congested) = b.take(
            Which::Guaranteed,
            &own(&rates.guaranteed),
            now_ns,
            len,
            forgive,
        )
    {
        if open(uplink) {
            b.charge(Which::Uplink, uplink, now_ns, len);
        }
        // Marked only when it cannot borrow: a frame within the guarantee of an agency
        // that may borrow is no sign that it is at its rate.
        return Verdict::Pass {
            congested: congested && !may_borrow,
            borrowed: false,
            excess: false,
        };
    }
    // Its share beyond the guarantee, while the uplink has room. The uplink's debt is never
    // forgiven: guaranteed traffic used that capacity.
    if open(&rates.borrow)
        && let Some(congested) = b.take(Which::Borrow, &own(&rates.borrow), now_ns, len, forgive)
    {
        if !open(uplink) {
            return Verdict::Pass {
                congested,
                borrowed: true,
                excess: false,
            };
        }
        return match b.take(Which::Uplink, uplink, now_ns, len, false) {
            Some(shared) => Verdict::Pass {
                congested: congested || shared,
                borrowed: true,
                excess: false,
            },
            None => {
                b.refund(Which::Borrow, rates.borrow.cost_ns(len));
                UPLINK
            }
        };
    }
    // Beyond its share, up to its ceiling, only while the uplink is less than half used.
    if !open(&rates.excess) {
        return DROP;
    }
    let Some(congested) = b.take(Which::Excess, &own(&rates.excess), now_ns, len, forgive) else {
        return DROP;
    };
    if !open(uplink) {
        return Verdict::Pass {
            congested,
            borrowed: true,
            excess: true,
        };
    }
    match b.take(Which::Uplink, &uplink.half_depth(), now_ns, len, false) {
        Some(_) => Verdict::Pass {
            congested,
            borrowed: true,
            excess: true,
        },
        None => {
            b.refund(Which::Excess, rates.excess.cost_ns(len));
            UPLINK
        }
    }
}

/// Up to this many active hosts, each host's bucket is as deep in bytes as its agency's;
/// beyond, as deep in time (see [`host_share`]).
pub const HOST_DEPTH_HOSTS: u64 = 4;

/// A frame of a host beyond its share may use this part of its agency's buckets (1/4).
pub const OVER_SHARE_DEPTH: u64 = 4;

/// True if an agency's hosts are policed apart with these rates: a share or a ceiling.
#[inline(always)]
pub const fn by_host(rates: &Rates) -> bool {
    rates.host_share.ns_per_byte_fp != 0 || rates.host_ceiling.ns_per_byte_fp != 0
}

/// The share of one of `hosts` active hosts of an agency: the agency's host share divided
/// by their number. Up to [`HOST_DEPTH_HOSTS`] hosts, each bucket is as deep in bytes as the
/// agency's (a single TCP flow's unpaced window must fit in its host's bucket); beyond, as
/// deep in time, so a host's credit shrinks with its share (a thousand hosts each holding
/// the agency's depth would let arrival order decide, and deeper buckets only moderately
/// so: four times as deep spread a thousand hosts' shares to −10%, against ±0.4%).
#[inline(always)]
pub const fn host_share(share: &Limit, hosts: u32) -> Limit {
    // Without branches, which multiply the paths the kernel's verifier walks. Each factor
    // is bounded so the products fit 64 bits (BPF has no wider multiply): 1 to 2^20 hosts,
    // a share of at least ~1 kbit/s (2^43 fixed-point ns per byte), a depth of at most
    // 2^40 ns (18 minutes).
    let hosts = max_u64(min_u64(hosts as u64, 1 << 20), 1);
    let per_byte = min_u64(share.ns_per_byte_fp, 1 << 43);
    let depth = min_u64(share.burst_ns, 1 << 40);
    // `hosts` up to HOST_DEPTH_HOSTS, else 1.
    let few = ((hosts.wrapping_sub(HOST_DEPTH_HOSTS + 1) as i64) >> 63) as u64;
    let deeper = 1 + (hosts.wrapping_sub(1) & few);
    Limit {
        ns_per_byte_fp: per_byte.wrapping_mul(hosts),
        burst_ns: depth.wrapping_mul(deeper),
    }
}

/// The smaller of two values, without a branch; `a` is taken modulo 2^63 (the values here
/// are far below; an absurd one stays bounded by `b`).
#[inline(always)]
const fn min_u64(a: u64, b: u64) -> u64 {
    let a = a & (u64::MAX >> 1);
    let d = a.wrapping_sub(b);
    // All ones when a < b (the difference went negative), else zero.
    let mask = ((d as i64) >> 63) as u64;
    b.wrapping_add(d & mask)
}

/// The larger of two values below 2^63, without a branch.
#[inline(always)]
const fn max_u64(a: u64, b: u64) -> u64 {
    let d = a.wrapping_sub(b);
    let mask = ((d as i64) >> 63) as u64;
    a.wrapping_sub(d & mask)
}

/// Polices one frame of a host of an agency that shares by host (see [`by_host`]), one of
/// `hosts` active hosts. Beyond its ceiling the frame is dropped; within its share it is
/// policed as any frame of the agency; beyond its share it may use only the room the
/// others leave (see [`police`]). So a host alone gets the whole rate, hosts that all want
/// more get equal shares, and what one leaves the others take.
#[inline(always)]
pub fn police_host(
    rates: &Rates,
    uplink: &Limit,
    now_ns: u64,
    len: u64,
    hosts: u32,
    b: &mut impl Buckets,
) -> Verdict {
    match host_admit(rates, now_ns, len, hosts, b) {
        HostAdmit::OverCeiling => HostAdmit::DROP,
        HostAdmit::Admit { over_share } => {
            let verdict = police(rates, uplink, now_ns, len, over_share, b);
            host_settle(rates, len, hosts, over_share, verdict, b)
        }
    }
}

/// What a host's own buckets say to a frame, before the agency's (see [`police_host`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HostAdmit {
    /// Beyond the host's ceiling: dropped.
    OverCeiling,
    /// On to the agency's buckets; `over_share`: beyond the host's share.
    Admit { over_share: bool },
}

impl HostAdmit {
    /// The verdict for a frame beyond its host's ceiling.
    pub const DROP: Verdict = Verdict::Drop {
        uplink: false,
        host: true,
    };
}

/// The first half of [`police_host`]: the host's ceiling and share buckets.
#[inline(always)]
pub fn host_admit(
    rates: &Rates,
    now_ns: u64,
    len: u64,
    hosts: u32,
    b: &mut impl Buckets,
) -> HostAdmit {
    let ceiling = rates.host_ceiling;
    if ceiling.ns_per_byte_fp != 0
        && b.take(Which::HostCeiling, &ceiling, now_ns, len, true)
            .is_none()
    {
        return HostAdmit::OverCeiling;
    }
    let share = host_share(&rates.host_share, hosts);
    let over_share = share.ns_per_byte_fp != 0
        && b.take(Which::HostShare, &share, now_ns, len, true)
            .is_none();
    HostAdmit::Admit { over_share }
}

/// The second half of [`police_host`], once the agency's buckets gave their `verdict` on
/// a frame [`host_admit`] admitted: a frame that did not pass is given back to its host's
/// buckets.
#[inline(always)]
pub fn host_settle(
    rates: &Rates,
    len: u64,
    hosts: u32,
    over_share: bool,
    verdict: Verdict,
    b: &mut impl Buckets,
) -> Verdict {
    let Verdict::Drop { uplink, .. } = verdict else {
        return verdict;
    };
    if rates.host_ceiling.ns_per_byte_fp != 0 {
        b.refund(Which::HostCeiling, rates.host_ceiling.cost_ns(len));
    }
    let share = host_share(&rates.host_share, hosts);
    if share.ns_per_byte_fp != 0 && !over_share {
        b.refund(Which::HostShare, share.cost_ns(len));
    }
    Verdict::Drop {
        uplink,
        host: over_share,
    }
}

/// The host table's key: an agency and direction ([`agency_slot`]) and a host's address.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct HostKey {
    pub slot: u32,
    /// 4 or 6.
    pub family: u32,
    /// An IPv4 address in the first four bytes, or an IPv6 address masked to the site's
    /// host prefix; network byte order, zero beyond.
    pub addr: [u8; 16],
}
const _: () = assert!(size_of::<HostKey>() == 24);

/// A host's state in the host table: its buckets and the bytes it passed and lost (bytes
/// alone: each counter is an atomic add on a line every CPU shares). Written by the data
/// plane only.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct HostState {
    pub share_tat_ns: u64,
    pub ceiling_tat_ns: u64,
    /// The activity window ([`host_window`]) it was last counted active in.
    pub window: u64,
    pub passed_bytes: u64,
    pub dropped_bytes: u64,
}
const _: () = assert!(size_of::<HostState>() == 40);

/// A host is active while it sent a frame in the current or the previous window of
/// 2^27 ns (134 ms): one that stops leaves its share to the others within 268 ms.
pub const HOST_WINDOW_SHIFT: u32 = 27;

/// The activity window of `now_ns` (CLOCK_MONOTONIC).
#[inline(always)]
pub const fn host_window(now_ns: u64) -> u64 {
    now_ns >> HOST_WINDOW_SHIFT
}

/// How many hosts of an agency were active in a direction: for each of the last two
/// windows, the window in the high 32 bits and the hosts that sent in it in the low 32.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct HostCount {
    pub current: u64,
    pub previous: u64,
}
const _: () = assert!(size_of::<HostCount>() == 16);

impl HostCount {
    /// A window and a count in one word.
    #[inline(always)]
    pub const fn pack(window: u64, hosts: u32) -> u64 {
        (window << 32) | hosts as u64
    }

    /// Hosts active at `window`: the most counted in it or in the one before (the current
    /// window is still filling up).
    #[inline(always)]
    pub const fn active(&self, window: u64) -> u32 {
        let w = window & 0xFFFF_FFFF;
        let current = if self.current >> 32 == w {
            self.current as u32
        } else {
            0
        };
        // Before the first frame of a window, the window before is still `current`.
        let before = w.wrapping_sub(1) & 0xFFFF_FFFF;
        let previous = if self.current >> 32 == before {
            self.current as u32
        } else if self.previous >> 32 == before {
            self.previous as u32
        } else {
            0
        };
        if current > previous {
            current
        } else {
            previous
        }
    }
}

/// An IPv6 address masked to its first `prefix` bits.
#[inline(always)]
pub const fn mask_v6(addr: [u8; 16], prefix: u32) -> [u8; 16] {
    let mut out = [0u8; 16];
    let mut i = 0;
    while i < 16 {
        let bits = prefix as i64 - 8 * i as i64;
        out[i] = if bits >= 8 {
            addr[i]
        } else if bits <= 0 {
            0
        } else {
            addr[i] & (0xFFu8 << (8 - bits))
        };
        i += 1;
    }
    out
}

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
    /// Passed bytes borrowed beyond the agency's guarantee (counted in `passed_bytes` too).
    pub borrowed_bytes: u64,
    /// Of those, passed beyond its share while the uplink had plenty of room.
    pub excess_bytes: u64,
    /// Dropped bytes the agency's own limits allowed but the uplink had no room for
    /// (counted in `dropped_bytes` too).
    pub uplink_dropped_bytes: u64,
    /// Frames judged by their host's buckets (`hosts = "fair"` or a host ceiling).
    pub host_packets: u64,
    /// Frames of an agency that shares by host judged by the agency's buckets alone: no IP
    /// header to find the host by, or no room in the host table.
    pub hostless_packets: u64,
    /// Dropped frames whose host was beyond its share or ceiling (counted in
    /// `dropped_packets` too).
    pub host_dropped_packets: u64,
    /// Hosts entered into the host table (a new host, or one that had aged out).
    pub new_hosts: u64,
    /// Dropped bytes of TCP segments (counted in `dropped_bytes` too): their senders send
    /// them again, so in the download direction they cross the uplink twice.
    pub tcp_dropped_bytes: u64,
}
const _: () = assert!(size_of::<Counters>() == 104);

impl Counters {
    /// What was counted since `earlier` (wrapping: a counter that wrapped still gives the
    /// right difference).
    pub fn since(&self, earlier: &Counters) -> Counters {
        Counters {
            passed_packets: self.passed_packets.wrapping_sub(earlier.passed_packets),
            passed_bytes: self.passed_bytes.wrapping_sub(earlier.passed_bytes),
            dropped_packets: self.dropped_packets.wrapping_sub(earlier.dropped_packets),
            dropped_bytes: self.dropped_bytes.wrapping_sub(earlier.dropped_bytes),
            marked_packets: self.marked_packets.wrapping_sub(earlier.marked_packets),
            borrowed_bytes: self.borrowed_bytes.wrapping_sub(earlier.borrowed_bytes),
            excess_bytes: self.excess_bytes.wrapping_sub(earlier.excess_bytes),
            uplink_dropped_bytes: self
                .uplink_dropped_bytes
                .wrapping_sub(earlier.uplink_dropped_bytes),
            host_packets: self.host_packets.wrapping_sub(earlier.host_packets),
            hostless_packets: self.hostless_packets.wrapping_sub(earlier.hostless_packets),
            host_dropped_packets: self
                .host_dropped_packets
                .wrapping_sub(earlier.host_dropped_packets),
            new_hosts: self.new_hosts.wrapping_sub(earlier.new_hosts),
            tcp_dropped_bytes: self
                .tcp_dropped_bytes
                .wrapping_sub(earlier.tcp_dropped_bytes),
        }
    }

    pub fn add(&mut self, other: &Counters) {
        self.passed_packets = self.passed_packets.wrapping_add(other.passed_packets);
        self.passed_bytes = self.passed_bytes.wrapping_add(other.passed_bytes);
        self.dropped_packets = self.dropped_packets.wrapping_add(other.dropped_packets);
        self.dropped_bytes = self.dropped_bytes.wrapping_add(other.dropped_bytes);
        self.marked_packets = self.marked_packets.wrapping_add(other.marked_packets);
        self.borrowed_bytes = self.borrowed_bytes.wrapping_add(other.borrowed_bytes);
        self.excess_bytes = self.excess_bytes.wrapping_add(other.excess_bytes);
        self.uplink_dropped_bytes = self
            .uplink_dropped_bytes
            .wrapping_add(other.uplink_dropped_bytes);
        self.host_packets = self.host_packets.wrapping_add(other.host_packets);
        self.hostless_packets = self.hostless_packets.wrapping_add(other.hostless_packets);
        self.host_dropped_packets = self
            .host_dropped_packets
            .wrapping_add(other.host_dropped_packets);
        self.new_hosts = self.new_hosts.wrapping_add(other.new_hosts);
        self.tcp_dropped_bytes = self.tcp_dropped_bytes.wrapping_add(other.tcp_dropped_bytes);
    }
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
    /// IPv6 hosts are told apart by this many leading bits of their address (0–128).
    pub host_ipv6_prefix: u32,
    /// What all agencies together may pass, per [`Direction`] (capacity − headroom), when
    /// no daemon says otherwise. A rate of zero: no limit.
    pub uplink: [Limit; 2],
    /// What the control loop lets all agencies together pass this tick, per [`Direction`]:
    /// in the download direction less than `uplink` while dropped TCP frames, which will be
    /// sent again, need room on the uplink. In force while `bpf_ktime_get_ns()` is below
    /// `uplink_expires_ns` (0: never), so a stopped daemon's correction lapses with its
    /// rates.
    pub uplink_dynamic: [Limit; 2],
    pub uplink_expires_ns: u64,
}
const _: () = assert!(size_of::<Config>() == 88);

impl Config {
    /// What all agencies together may pass in `dir` at `now_ns`: the control loop's rate
    /// until it expires, then the fixed one. Chosen without a branch: a branch choosing
    /// between two places in the map value would double every path the verifier walks
    /// after it.
    #[inline(always)]
    pub fn uplink_at(&self, dir: Direction, now_ns: u64) -> Limit {
        let i = match dir {
            Direction::Upload => 0,
            Direction::Download => 1,
        };
        // All ones while `now_ns` < `uplink_expires_ns` (both far below 2^63), else zero.
        let dynamic = ((now_ns.wrapping_sub(self.uplink_expires_ns) as i64) >> 63) as u64;
        let pick = |d: u64, f: u64| (d & dynamic) | (f & !dynamic);
        Limit {
            ns_per_byte_fp: pick(
                self.uplink_dynamic[i].ns_per_byte_fp,
                self.uplink[i].ns_per_byte_fp,
            ),
            burst_ns: pick(self.uplink_dynamic[i].burst_ns, self.uplink[i].burst_ns),
        }
    }
}

/// An agency id as stored per slot: UTF-8, zero-padded; all zero for a free slot.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SlotId {
    pub bytes: [u8; 64],
}
const _: () = assert!(size_of::<SlotId>() == 64);

impl SlotId {
    pub const FREE: SlotId = SlotId { bytes: [0; 64] };

    /// The slot id of an agency id (policy validation keeps ids within 64 bytes).
    pub fn new(id: &str) -> SlotId {
        let mut out = SlotId::FREE;
        let n = id.len().min(out.bytes.len());
        out.bytes[..n].copy_from_slice(&id.as_bytes()[..n]);
        out
    }

    /// The agency id, or `None` for a free slot (or one holding no UTF-8).
    pub fn id(&self) -> Option<&str> {
        let end = self
            .bytes
            .iter()
            .position(|&b| b == 0)
            .unwrap_or(self.bytes.len());
        match core::str::from_utf8(&self.bytes[..end]) {
            Ok("") | Err(_) => None,
            Ok(id) => Some(id),
        }
    }
}

#[cfg(feature = "user")]
mod pod {
    // SAFETY: a byte array.
    unsafe impl aya::Pod for super::SlotId {}
    // SAFETY: all of these are #[repr(C)], contain only integers and have no padding.
    unsafe impl aya::Pod for super::Limit {}
    unsafe impl aya::Pod for super::LimitEntry {}
    unsafe impl aya::Pod for super::Bucket {}
    unsafe impl aya::Pod for super::UplinkBucket {}
    unsafe impl aya::Pod for super::Counters {}
    unsafe impl aya::Pod for super::Config {}
    unsafe impl aya::Pod for super::HostKey {}
    unsafe impl aya::Pod for super::HostState {}
    unsafe impl aya::Pod for super::HostCount {}
}

#[cfg(test)]
mod tests {
    extern crate std;

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

    #[test]
    fn the_control_loops_uplink_rate_holds_until_it_expires() {
        let fixed = Limit::from_rate(99_000_000, 1_237_500);
        let dynamic = Limit::from_rate(94_000_000, 1_175_000);
        let mut c = Config {
            uplink: [Limit::from_rate(50_000_000, 625_000), fixed],
            uplink_dynamic: [Limit::from_rate(40_000_000, 500_000), dynamic],
            uplink_expires_ns: 0,
            ..Config::default()
        };
        assert_eq!(c.uplink_at(Direction::Download, 5), fixed, "never set");
        c.uplink_expires_ns = 10_000_000_000;
        assert_eq!(c.uplink_at(Direction::Download, 0), dynamic);
        assert_eq!(c.uplink_at(Direction::Download, 9_999_999_999), dynamic);
        assert_eq!(c.uplink_at(Direction::Download, 10_000_000_000), fixed);
        assert_eq!(
            c.uplink_at(Direction::Upload, 1),
            Limit::from_rate(40_000_000, 500_000)
        );
        assert_eq!(
            c.uplink_at(Direction::Upload, 20_000_000_000),
            Limit::from_rate(50_000_000, 625_000)
        );
    }

    #[test]
    fn a_bucket_passes_its_depth_then_its_rate() {
        // 8 Mbps (1 byte per µs), 10 kB deep (10 ms).
        let l = Limit::from_rate(8_000_000, 10_000);
        let now = 1_000_000_000;
        let mut tat = 0;
        let mut passed = 0;
        for _ in 0..20 {
            match l.judge(tat, now, 1_000) {
                Gcra::Pass { tat_ns, congested } => {
                    assert_eq!(congested, tat_ns - now > 5_000_000);
                    tat = tat_ns;
                    passed += 1;
                }
                Gcra::Refuse => {}
                Gcra::Forgive { .. } => panic!("no debt here"),
            }
        }
        assert_eq!(passed, 10, "the depth: ten 1 kB frames at once");
        // 1 ms later, one more frame's worth has been refilled.
        assert!(matches!(
            l.judge(tat, now + 1_000_000, 1_000),
            Gcra::Pass { .. }
        ));
        // A charge is taken whatever the bucket holds; after a long idle it counts from now.
        assert_eq!(l.charge(tat, now, 1_000), tat + 1_000_000);
        assert_eq!(l.charge(0, now, 1_000), now + 1_000_000);
        // Debt beyond the depth (the rate just shrank) is forgiven down to one depth.
        assert_eq!(
            l.judge(now + 60_000_000, now, 1_000),
            Gcra::Forgive {
                tat_ns: now + 10_000_000
            }
        );
    }

    /// 1000-byte frames at 8 Mbps (one per ms) and buckets of 10 frames (10 ms).
    fn bucket(mbps: u64) -> Limit {
        Limit::from_rate(mbps * 1_000_000, mbps * 1_250)
    }

    /// How many of `n` frames sent at once pass, and how.
    fn burst(rates: &Rates, uplink: &Limit, b: &mut Bucket, u: &mut u64, n: usize) -> [usize; 4] {
        let mut out = [0; 4]; // on the guarantee, borrowed, excess, dropped for the uplink
        for _ in 0..n {
            let mut p = Plain {
                agency: b,
                uplink: u,
                host: None,
            };
            match police(rates, uplink, 1_000_000_000, 1_000, false, &mut p) {
                Verdict::Pass { excess: true, .. } => out[2] += 1,
                Verdict::Pass { borrowed: true, .. } => out[1] += 1,
                Verdict::Pass { .. } => out[0] += 1,
                Verdict::Drop { uplink: true, .. } => out[3] += 1,
                Verdict::Drop { uplink: false, .. } => {}
            }
        }
        out
    }

    #[test]
    fn frames_draw_on_the_guarantee_then_the_share_then_the_excess() {
        // Each bucket 10 ms deep: 8 Mbps holds ten 1000-byte frames.
        let rates = Rates {
            guaranteed: bucket(8),
            borrow: bucket(8),
            excess: bucket(8),
            ..Rates::default()
        };
        // An uplink of 80 Mbps: 100 frames deep, 50 before it is half used.
        let uplink = bucket(80);
        let (mut b, mut u) = (Bucket::default(), 0);
        assert_eq!(burst(&rates, &uplink, &mut b, &mut u, 40), [10, 10, 10, 0]);
    }

    #[test]
    fn a_guarantee_passes_a_full_uplink_and_excess_needs_half_of_it_free() {
        let rates = Rates {
            guaranteed: bucket(8),
            borrow: bucket(8),
            excess: bucket(80),
            ..Rates::default()
        };
        let uplink = bucket(80);
        // 45 frames of other agencies in the uplink already: 5 more before it is half used.
        let (mut b, mut u) = (Bucket::default(), 1_000_000_000 + 45_000_000 / 80 * 8);
        let got = burst(&rates, &uplink, &mut b, &mut u, 40);
        assert_eq!(
            got[0], 10,
            "the guarantee passes whatever the uplink holds: {got:?}"
        );
        // The guarantee's frames took the uplink past half: the share still passes (the
        // uplink has room), the excess does not.
        assert_eq!(got[1], 10, "{got:?}");
        assert_eq!(got[2], 0, "{got:?}");
        assert_eq!(
            got[3], 20,
            "the excess was refused for want of uplink: {got:?}"
        );
        // The refused excess was given back: with the uplink empty again, it passes.
        u = 0;
        let later = burst(&rates, &uplink, &mut b, &mut u, 60);
        assert_eq!(later[2], 50, "half the uplink for the excess: {later:?}");
    }

    /// Hosts offering `offered` Mbps each in 1000-byte frames, interleaved evenly, for 10 s
    /// through an agency of `mbps` (its guarantee, nothing to borrow) shared by host with a
    /// host ceiling of `ceiling` Mbps (0: none): what each passed, Mbps.
    fn hosts_through(mbps: u64, ceiling: u64, offered: &[f64]) -> std::vec::Vec<f64> {
        let rates = Rates {
            guaranteed: bucket(mbps),
            host_share: bucket(mbps),
            host_ceiling: if ceiling == 0 {
                Limit::default()
            } else {
                bucket(ceiling)
            },
            ..Rates::default()
        };
        let mut agency = Bucket::default();
        let mut uplink = 0;
        let mut hosts = std::vec![HostState::default(); offered.len()];
        let mut next: std::vec::Vec<f64> = std::vec![1e9; offered.len()];
        let mut passed = std::vec![0u64; offered.len()];
        let end = 11e9;
        loop {
            // The host whose next frame is due first.
            let (h, &t) = next
                .iter()
                .enumerate()
                .min_by(|a, b| a.1.total_cmp(b.1))
                .unwrap();
            if t >= end {
                break;
            }
            let active = offered.iter().filter(|&&o| o > 0.0).count() as u32;
            let mut b = Plain {
                agency: &mut agency,
                uplink: &mut uplink,
                host: Some(&mut hosts[h]),
            };
            let v = police_host(&rates, &Limit::default(), t as u64, 1_000, active, &mut b);
            if matches!(v, Verdict::Pass { .. }) && t >= 2e9 {
                passed[h] += 1_000;
            }
            next[h] = t + 8_000.0 / offered[h] * 1_000.0;
        }
        passed.iter().map(|&b| b as f64 * 8.0 / 9e6).collect()
    }

    #[test]
    fn hosts_that_all_want_more_get_equal_shares() {
        let got = hosts_through(20, 0, &[60.0, 10.0, 10.0]);
        // Each has its third; the flood cannot take what the others use.
        assert!((got[1] - 6.67).abs() < 0.2, "{got:?}");
        assert!((got[2] - 6.67).abs() < 0.2, "{got:?}");
        let total: f64 = got.iter().sum();
        assert!(
            (total - 20.0).abs() < 0.4,
            "the agency's rate in all: {got:?}"
        );
    }

    #[test]
    fn what_a_light_host_leaves_goes_to_the_others() {
        let got = hosts_through(20, 0, &[60.0, 2.0]);
        assert!(
            (got[1] - 2.0).abs() < 0.1,
            "the light host has all it wants: {got:?}"
        );
        assert!(
            (got[0] - 18.0).abs() < 0.5,
            "the rest to the heavy one: {got:?}"
        );
    }

    #[test]
    fn a_host_alone_has_the_whole_rate() {
        let got = hosts_through(20, 0, &[60.0]);
        assert!((got[0] - 20.0).abs() < 0.4, "{got:?}");
    }

    #[test]
    fn a_host_ceiling_holds_however_idle_the_agency() {
        let got = hosts_through(20, 5, &[60.0, 1.0]);
        assert!((got[0] - 5.0).abs() < 0.2, "{got:?}");
        assert!((got[1] - 1.0).abs() < 0.1, "{got:?}");
    }

    #[test]
    fn a_refused_frame_is_given_back_to_its_hosts_buckets() {
        // The agency's bucket is empty: a frame within the host's share is dropped, and the
        // host's buckets are as before.
        let rates = Rates {
            guaranteed: bucket(8),
            host_share: bucket(8),
            host_ceiling: bucket(8),
            ..Rates::default()
        };
        let now = 1_000_000_000;
        let mut agency = Bucket {
            guaranteed_tat_ns: now + 10_000_000,
            ..Bucket::default()
        };
        let (mut uplink, mut host) = (0, HostState::default());
        let mut b = Plain {
            agency: &mut agency,
            uplink: &mut uplink,
            host: Some(&mut host),
        };
        let v = police_host(&rates, &Limit::default(), now, 1_000, 2, &mut b);
        assert_eq!(
            v,
            Verdict::Drop {
                uplink: false,
                host: false
            }
        );
        assert_eq!(host.share_tat_ns, now, "share refunded");
        assert_eq!(host.ceiling_tat_ns, now, "ceiling refunded");
    }

    #[test]
    fn active_hosts_are_counted_over_two_windows() {
        let c = HostCount {
            current: HostCount::pack(10, 2),
            previous: HostCount::pack(9, 5),
        };
        assert_eq!(c.active(10), 5, "the window still filling up");
        assert_eq!(
            c.active(11),
            2,
            "a window later the ones that stopped are gone"
        );
        assert_eq!(c.active(12), 0);
        let c = HostCount {
            current: HostCount::pack(10, 7),
            previous: HostCount::pack(9, 5),
        };
        assert_eq!(c.active(10), 7);
        // Windows wrap at 2^32 in the packed form.
        let w = (1u64 << 32) + 3;
        let c = HostCount {
            current: HostCount::pack(w, 4),
            previous: HostCount::pack(w - 1, 1),
        };
        assert_eq!(c.active(w), 4);
    }

    #[test]
    fn a_hosts_share_is_bounded_and_deep_enough() {
        assert_eq!((min_u64(3, 4), min_u64(9, 4), min_u64(4, 4)), (3, 4, 4));
        assert_eq!((max_u64(0, 1), max_u64(7, 1)), (1, 7));
        let share = Limit::from_rate(20_000_000, 250_000); // 100 ms deep
        for (hosts, rate, depth_ns) in [
            (0u32, 20_000_000u64, 100_000_000u64),
            (1, 20_000_000, 100_000_000),
            (2, 10_000_000, 200_000_000),
            (4, 5_000_000, 400_000_000),
            (5, 4_000_000, 100_000_000),
            (1000, 20_000, 100_000_000),
        ] {
            let l = host_share(&share, hosts);
            let want = Limit::from_rate(rate, 0).ns_per_byte_fp;
            assert!(
                l.ns_per_byte_fp.abs_diff(want) <= hosts.max(1) as u64,
                "{hosts}"
            );
            assert_eq!(l.burst_ns, depth_ns, "{hosts}");
        }
        // Bounded: no overflow for absurd inputs.
        let slow = Limit {
            ns_per_byte_fp: u64::MAX,
            burst_ns: u64::MAX,
        };
        let l = host_share(&slow, u32::MAX);
        assert!(l.ns_per_byte_fp <= (1 << 43) << 20);
        assert!(l.burst_ns <= (1 << 40) * HOST_DEPTH_HOSTS);
    }

    #[test]
    fn ipv6_hosts_are_masked_to_their_prefix() {
        let a: [u8; 16] = core::array::from_fn(|i| 0xF0 | i as u8);
        let m = mask_v6(a, 64);
        assert_eq!(m[..8], a[..8]);
        assert!(m[8..].iter().all(|&b| b == 0));
        assert_eq!(mask_v6(a, 128), a);
        assert_eq!(mask_v6(a, 0), [0; 16]);
        let m = mask_v6(a, 60);
        assert_eq!(m[7], a[7] & 0xF0);
        assert_eq!(m[8], 0);
    }

    #[test]
    fn slot_ids_round_trip() {
        assert_eq!(SlotId::new("dinkes").id(), Some("dinkes"));
        let long = "a".repeat(64);
        assert_eq!(SlotId::new(&long).id(), Some(long.as_str()));
        assert_eq!(SlotId::FREE.id(), None);
    }

    #[test]
    fn slots_of_agencies_and_reasons_do_not_overlap_within_their_maps() {
        assert_eq!(agency_slot(0, Direction::Upload), 0);
        assert_eq!(agency_slot(0, Direction::Download), 1);
        assert_eq!(agency_slot(7, Direction::Download), 15);
        let mut seen = [false; (Reason::COUNT * Direction::COUNT) as usize];
        for r in Reason::ALL {
            for d in Direction::ALL {
                let slot = r.slot(d) as usize;
                assert!(!seen[slot], "{r:?} {d:?}");
                seen[slot] = true;
            }
        }
        assert!(seen.iter().all(|&s| s));
    }
}
