//! The data plane: loads the XDP programs, writes the policy into their maps, attaches them
//! to the `lan` and `wan` ports, and reads their counters.

use std::{
    collections::{BTreeMap, BTreeSet},
    path::Path,
};

use aya::{
    Ebpf, EbpfError,
    maps::{
        Array, DevMap, HashMap, MapData, MapError, PerCpuArray, PerCpuValues, xdp::XdpMapError,
    },
    programs::{ProgramError, Xdp, XdpMode, xdp::XdpLinkId},
};
use gateway_common::{
    AgencyRef, Bucket, Config, Counters, DIRECTIONS, Limit, LimitEntry, PORT_TO_LAN, PORT_TO_WAN,
    VLAN_SLOTS, agency_slot, forward, qinq_key, unclassified,
};

use crate::policy::{self, Forwarding, Policy, Unclassified};

/// The XDP programs, built by `cargo xtask build` and embedded in this binary.
#[cfg(opd_ebpf)]
pub static PROGRAMS: &[u8] = aya::include_bytes_aligned!(env!("OPD_GATEWAY_EBPF"));
#[cfg(not(opd_ebpf))]
pub static PROGRAMS: &[u8] = &[];

/// Program names in the object.
pub const LAN_PROGRAM: &str = "opd_lan";
pub const WAN_PROGRAM: &str = "opd_wan";

#[derive(Debug, thiserror::Error)]
pub enum DataplaneError {
    #[error(
        "this opd-gateway was built without its XDP programs; build it with `cargo xtask build`"
    )]
    NotBuilt,
    #[error("failed to parse the XDP programs' object")]
    Object(#[source] Box<EbpfError>),
    #[error("the XDP programs' object has no program `{0}` (built from another version?)")]
    MissingProgram(&'static str),
    #[error("the XDP programs' object has no map `{0}` (built from another version?)")]
    MissingMap(&'static str),
    #[error(
        "the kernel refused to load program `{program}` (is this root, with CAP_BPF and CAP_NET_ADMIN?)"
    )]
    Verify {
        program: &'static str,
        #[source]
        source: Box<ProgramError>,
    },
    #[error("failed to open map `{name}`")]
    OpenMap {
        name: &'static str,
        #[source]
        source: Box<MapError>,
    },
    #[error("failed to write map `{name}`")]
    WriteMap {
        name: &'static str,
        #[source]
        source: Box<MapError>,
    },
    #[error("failed to read map `{name}`")]
    ReadMap {
        name: &'static str,
        #[source]
        source: Box<MapError>,
    },
    #[error("cannot count the possible CPUs")]
    Cpus(#[source] std::io::Error),
    #[error("cannot duplicate the descriptor of map `{0}`")]
    DupMap(&'static str, #[source] std::io::Error),
    #[error("failed to write the port map")]
    WritePorts(#[source] Box<XdpMapError>),
    #[error("interface `{name}` (site.{role}) does not exist; check `{role}` in the site file")]
    NoInterface { name: String, role: &'static str },
    #[error("failed to attach to `{iface}` (site.{role}) in {mode} mode; {hint}")]
    Attach {
        iface: String,
        role: &'static str,
        mode: &'static str,
        hint: &'static str,
        #[source]
        source: Box<ProgramError>,
    },
    #[error(
        "forwarding = \"bridge\" but `{lan}` and `{wan}` are not ports of one Linux bridge, so nothing would forward between them; add both to a bridge (`ip link set {lan} master br0`) or use forwarding = \"redirect\""
    )]
    NotBridged { lan: String, wan: String },
}

type Result<T> = std::result::Result<T, DataplaneError>;

/// Loaded programs and their maps.
pub struct Dataplane {
    ebpf: Ebpf,
    vlans: Array<MapData, AgencyRef>,
    qinq: HashMap<MapData, u32, AgencyRef>,
    limits: Array<MapData, LimitEntry>,
    agency_stats: PerCpuArray<MapData, Counters>,
    other_stats: PerCpuArray<MapData, Counters>,
    config: Array<MapData, Config>,
    ports: DevMap<MapData>,
    buckets: Array<MapData, Bucket>,
    /// Duplicates of the two counter maps' descriptors, for handles of the exporter's own
    /// (opening a map by id would need CAP_SYS_ADMIN).
    stats_fds: [std::os::fd::OwnedFd; 2],
    links: Vec<(&'static str, XdpLinkId)>,
    cpus: usize,
    /// What the maps hold, as last written.
    applied: Applied,
}

/// What the maps should hold for a policy (see [`Dataplane::apply`]).
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    /// VLAN id → [`AgencyRef`] (slot + 1; 0 for none), all 4096 of them.
    pub vlans: Vec<AgencyRef>,
    /// [`qinq_key`] → [`AgencyRef`].
    pub qinq: BTreeMap<u32, AgencyRef>,
    /// Slot → fixed limits per direction, for every slot in use.
    pub fixed: BTreeMap<u32, [Limit; 2]>,
    /// Slots taking a new agency: full bucket, zero counters, no rate from before.
    pub fresh: BTreeSet<u32>,
    pub config: Config,
}

impl Plan {
    /// A plan for `policy` with agency `i` in `slots[i]` and the given fixed limits.
    pub fn new(policy: &Policy, slots: &[u32], fixed: &[[Limit; 2]]) -> Plan {
        let mut vlans = vec![0 as AgencyRef; VLAN_SLOTS as usize];
        let mut qinq = BTreeMap::new();
        let mut fixed_by_slot = BTreeMap::new();
        for (i, agency) in policy.agencies.iter().enumerate() {
            let r = slots[i] + 1;
            for &vid in &agency.vlans {
                vlans[vid as usize] = r;
            }
            for &(outer, inner) in &agency.qinq {
                qinq.insert(qinq_key(outer, inner), r);
            }
            fixed_by_slot.insert(slots[i], fixed[i]);
        }
        let (unclassified_action, unclassified_agency) = match policy.site.unclassified {
            Unclassified::Pass => (unclassified::PASS, 0),
            Unclassified::Drop => (unclassified::DROP, 0),
            Unclassified::Agency(i) => (unclassified::AGENCY, slots[i]),
        };
        Plan {
            vlans,
            qinq,
            fresh: fixed_by_slot.keys().copied().collect(),
            fixed: fixed_by_slot,
            config: Config {
                unclassified_action,
                unclassified_agency,
                forward: match policy.site.forwarding {
                    Forwarding::Redirect => forward::REDIRECT,
                    Forwarding::Bridge => forward::STACK,
                },
                _pad: 0,
            },
        }
    }
}

#[derive(Debug, Default)]
struct Applied {
    vlans: Vec<AgencyRef>,
    qinq: BTreeMap<u32, AgencyRef>,
    /// By map index (slot × 2 + direction).
    limits: BTreeMap<u32, LimitEntry>,
    config: Option<Config>,
}

fn take<T>(ebpf: &mut Ebpf, name: &'static str) -> Result<T>
where
    T: TryFrom<aya::maps::Map, Error = MapError>,
{
    let map = ebpf
        .take_map(name)
        .ok_or(DataplaneError::MissingMap(name))?;
    T::try_from(map).map_err(|source| DataplaneError::OpenMap {
        name,
        source: Box::new(source),
    })
}

impl Dataplane {
    /// Loads the embedded programs into the kernel (verifying them) without attaching them.
    pub fn load() -> Result<Self> {
        if PROGRAMS.is_empty() {
            return Err(DataplaneError::NotBuilt);
        }
        Self::load_object(PROGRAMS)
    }

    /// Loads programs from an object file (tests and tools built apart from the daemon).
    pub fn load_file(path: &Path) -> Result<Self> {
        let bytes = std::fs::read(path).map_err(|e| {
            DataplaneError::Object(Box::new(EbpfError::FileError {
                path: path.to_path_buf(),
                error: e,
            }))
        })?;
        Self::load_object(&bytes)
    }

    fn load_object(bytes: &[u8]) -> Result<Self> {
        let mut ebpf = Ebpf::load(bytes).map_err(|e| DataplaneError::Object(Box::new(e)))?;
        for name in [LAN_PROGRAM, WAN_PROGRAM] {
            let prog: &mut Xdp = ebpf
                .program_mut(name)
                .ok_or(DataplaneError::MissingProgram(name))?
                .try_into()
                .map_err(|source| DataplaneError::Verify {
                    program: name,
                    source: Box::new(source),
                })?;
            prog.load().map_err(|source| DataplaneError::Verify {
                program: name,
                source: Box::new(source),
            })?;
        }
        let dup = |name: &'static str| -> Result<std::os::fd::OwnedFd> {
            use std::os::fd::AsFd;
            match ebpf.map(name) {
                Some(aya::maps::Map::PerCpuArray(data)) => data
                    .fd()
                    .as_fd()
                    .try_clone_to_owned()
                    .map_err(|e| DataplaneError::DupMap(name, e)),
                _ => Err(DataplaneError::MissingMap(name)),
            }
        };
        let stats_fds = [dup("OPD_AGENCY_STATS")?, dup("OPD_OTHER_STATS")?];
        Ok(Dataplane {
            stats_fds,
            vlans: take(&mut ebpf, "OPD_VLANS")?,
            qinq: take(&mut ebpf, "OPD_QINQ")?,
            limits: take(&mut ebpf, "OPD_LIMITS")?,
            agency_stats: take(&mut ebpf, "OPD_AGENCY_STATS")?,
            other_stats: take(&mut ebpf, "OPD_OTHER_STATS")?,
            config: take(&mut ebpf, "OPD_CONFIG")?,
            ports: take(&mut ebpf, "OPD_PORTS")?,
            buckets: take(&mut ebpf, "OPD_BUCKETS")?,
            ebpf,
            links: Vec::new(),
            cpus: aya::util::nr_cpus().map_err(|(_, e)| DataplaneError::Cpus(e))?,
            applied: Applied {
                vlans: vec![0; VLAN_SLOTS as usize],
                ..Default::default()
            },
        })
    }

    /// A loaded program, e.g. for BPF_PROG_TEST_RUN.
    pub fn program(&self, name: &str) -> Option<&Xdp> {
        self.ebpf.program(name).and_then(|p| p.try_into().ok())
    }

    /// Makes the maps hold `plan`, in an order that never leaves a frame unpoliced or
    /// policed by a stale agency: limits of new agencies first (their buckets and counters
    /// fresh), then the VLAN and QinQ tables (one atomic entry at a time), then the site
    /// settings. Writes only what differs from what was applied before.
    pub fn apply(&mut self, plan: &Plan) -> Result<()> {
        let write = |name| {
            move |source| DataplaneError::WriteMap {
                name,
                source: Box::new(source),
            }
        };
        for (&slot, fixed) in &plan.fixed {
            for dir in 0..DIRECTIONS {
                let index = agency_slot(slot, dir);
                let entry = match self.applied.limits.get(&index) {
                    Some(old) if !plan.fresh.contains(&slot) => LimitEntry {
                        fixed: fixed[dir as usize],
                        ..*old
                    },
                    _ => {
                        // A slot taking a new agency starts with a full bucket and zero counts.
                        self.buckets
                            .set(index, Bucket::default(), 0)
                            .map_err(write("OPD_BUCKETS"))?;
                        let zero = PerCpuValues::try_from(vec![Counters::default(); self.cpus])
                            .expect("one value per CPU");
                        self.agency_stats
                            .set(index, zero, 0)
                            .map_err(write("OPD_AGENCY_STATS"))?;
                        LimitEntry {
                            fixed: fixed[dir as usize],
                            ..Default::default()
                        }
                    }
                };
                if plan.fresh.contains(&slot) || self.applied.limits.get(&index) != Some(&entry) {
                    self.limits
                        .set(index, entry, 0)
                        .map_err(write("OPD_LIMITS"))?;
                    self.applied.limits.insert(index, entry);
                }
            }
        }
        for (vid, &agency) in plan.vlans.iter().enumerate() {
            if self.applied.vlans[vid] != agency {
                self.vlans
                    .set(vid as u32, agency, 0)
                    .map_err(write("OPD_VLANS"))?;
                self.applied.vlans[vid] = agency;
            }
        }
        for (key, &agency) in &plan.qinq {
            if self.applied.qinq.get(key) != Some(&agency) {
                self.qinq
                    .insert(key, agency, 0)
                    .map_err(write("OPD_QINQ"))?;
                self.applied.qinq.insert(*key, agency);
            }
        }
        let stale: Vec<u32> = self
            .applied
            .qinq
            .keys()
            .filter(|k| !plan.qinq.contains_key(k))
            .copied()
            .collect();
        for key in stale {
            self.qinq.remove(&key).map_err(write("OPD_QINQ"))?;
            self.applied.qinq.remove(&key);
        }
        if self.applied.config != Some(plan.config) {
            self.config
                .set(0, plan.config, 0)
                .map_err(write("OPD_CONFIG"))?;
            self.applied.config = Some(plan.config);
        }
        // Slots no agency uses any more: nothing points at them now.
        self.applied
            .limits
            .retain(|index, _| plan.fixed.contains_key(&(index / DIRECTIONS)));
        Ok(())
    }

    /// Sets the rate the control loop computed for a slot and direction, valid until
    /// `expires_ns` (CLOCK_MONOTONIC); after that the data plane falls back to the fixed
    /// value on its own.
    pub fn set_rate(
        &mut self,
        slot: u32,
        direction: u32,
        rate: Limit,
        expires_ns: u64,
    ) -> Result<()> {
        let index = agency_slot(slot, direction);
        let Some(old) = self.applied.limits.get(&index).copied() else {
            return Ok(()); // not an agency of the applied plan
        };
        let entry = LimitEntry {
            dynamic: rate,
            dynamic_expires_ns: expires_ns,
            ..old
        };
        self.limits
            .set(index, entry, 0)
            .map_err(|source| DataplaneError::WriteMap {
                name: "OPD_LIMITS",
                source: Box::new(source),
            })?;
        self.applied.limits.insert(index, entry);
        Ok(())
    }

    /// Points the redirect map at the two ports.
    pub fn set_ports(&mut self, lan_ifindex: u32, wan_ifindex: u32) -> Result<()> {
        self.ports
            .set(PORT_TO_WAN, wan_ifindex, None, 0)
            .map_err(|e| DataplaneError::WritePorts(Box::new(e)))?;
        self.ports
            .set(PORT_TO_LAN, lan_ifindex, None, 0)
            .map_err(|e| DataplaneError::WritePorts(Box::new(e)))
    }

    /// Attaches the programs to the site's ports (after [`Dataplane::apply`]).
    pub fn attach(&mut self, site: &policy::Site) -> Result<()> {
        let lan = ifindex(&site.lan, "lan")?;
        let wan = ifindex(&site.wan, "wan")?;
        if site.forwarding == Forwarding::Bridge && !same_bridge(&site.lan, &site.wan) {
            return Err(DataplaneError::NotBridged {
                lan: site.lan.clone(),
                wan: site.wan.clone(),
            });
        }
        self.set_ports(lan, wan)?;
        let (mode, mode_name, hint) = match site.xdp_mode {
            policy::XdpMode::Native => (
                XdpMode::Driver,
                "native",
                "if the driver lacks native XDP, set xdp_mode = \"generic\" in [site] (slower)",
            ),
            policy::XdpMode::Generic => (
                XdpMode::Skb,
                "generic",
                "another XDP program may already be attached to it (see `ip link show`)",
            ),
        };
        for (name, iface, role) in [
            (LAN_PROGRAM, &site.lan, "lan"),
            (WAN_PROGRAM, &site.wan, "wan"),
        ] {
            let prog: &mut Xdp = self
                .ebpf
                .program_mut(name)
                .ok_or(DataplaneError::MissingProgram(name))?
                .try_into()
                .map_err(|source| DataplaneError::Verify {
                    program: name,
                    source: Box::new(source),
                })?;
            let link = prog
                .attach(iface, mode)
                .map_err(|source| DataplaneError::Attach {
                    iface: iface.clone(),
                    role,
                    mode: mode_name,
                    hint,
                    source: Box::new(source),
                })?;
            self.links.push((name, link));
        }
        Ok(())
    }

    /// Detaches the programs from the ports. Frames then flow unpoliced (or not at all in
    /// redirect mode without a bridge).
    pub fn detach(&mut self) -> std::result::Result<(), ProgramError> {
        while let Some((name, link)) = self.links.pop() {
            let prog: &mut Xdp = self
                .ebpf
                .program_mut(name)
                .expect("attached programs exist")
                .try_into()?;
            prog.detach(link)?;
        }
        Ok(())
    }

    /// Handles of the counter maps of the exporter's own (the same kernel maps).
    pub fn counter_maps(&self) -> Result<crate::metrics::CounterMaps> {
        let reopen = |name: &'static str, fd: &std::os::fd::OwnedFd| {
            let open = || -> std::result::Result<_, MapError> {
                let fd = fd.try_clone().map_err(|io_error| {
                    MapError::SyscallError(aya::sys::SyscallError {
                        call: "dup",
                        io_error,
                    })
                })?;
                PerCpuArray::try_from(aya::maps::Map::PerCpuArray(MapData::from_fd(fd)?))
            };
            open().map_err(|source| DataplaneError::OpenMap {
                name,
                source: Box::new(source),
            })
        };
        Ok(crate::metrics::CounterMaps {
            agencies: reopen("OPD_AGENCY_STATS", &self.stats_fds[0])?,
            others: reopen("OPD_OTHER_STATS", &self.stats_fds[1])?,
        })
    }

    /// Counters of one agency and direction, summed over CPUs.
    pub fn agency_counters(
        &self,
        agency: u32,
        direction: u32,
    ) -> std::result::Result<Counters, MapError> {
        sum(&self.agency_stats, agency_slot(agency, direction))
    }

    /// Counters of one [`gateway_common::reason`] and direction, summed over CPUs.
    pub fn other_counters(
        &self,
        reason: u32,
        direction: u32,
    ) -> std::result::Result<Counters, MapError> {
        sum(&self.other_stats, reason * DIRECTIONS + direction)
    }

    /// Counters of one agency and direction per CPU (to see which CPUs policed it).
    pub fn agency_counters_per_cpu(
        &self,
        agency: u32,
        direction: u32,
    ) -> std::result::Result<Vec<Counters>, MapError> {
        Ok(self
            .agency_stats
            .get(&agency_slot(agency, direction), 0)?
            .iter()
            .copied()
            .collect())
    }

    /// The limits in force for an agency and direction.
    pub fn limit(&self, agency: u32, direction: u32) -> std::result::Result<LimitEntry, MapError> {
        self.limits.get(&agency_slot(agency, direction), 0)
    }
}

impl Drop for Dataplane {
    fn drop(&mut self) {
        // Links close with the object anyway; detaching first keeps the order explicit.
        if let Err(e) = self.detach() {
            tracing::warn!(error = %e, "detaching the XDP programs failed");
        }
    }
}

fn sum(
    map: &PerCpuArray<MapData, Counters>,
    index: u32,
) -> std::result::Result<Counters, MapError> {
    let mut total = Counters::default();
    for c in map.get(&index, 0)?.iter() {
        total.add(c);
    }
    Ok(total)
}

/// Index of a network interface in this network namespace.
pub fn ifindex(name: &str, role: &'static str) -> Result<u32> {
    let c = std::ffi::CString::new(name).map_err(|_| DataplaneError::NoInterface {
        name: name.into(),
        role,
    })?;
    // SAFETY: a valid C string.
    match unsafe { libc::if_nametoindex(c.as_ptr()) } {
        0 => Err(DataplaneError::NoInterface {
            name: name.into(),
            role,
        }),
        i => Ok(i),
    }
}

fn same_bridge(a: &str, b: &str) -> bool {
    let master = |i: &str| std::fs::read_link(format!("/sys/class/net/{i}/master")).ok();
    matches!((master(a), master(b)), (Some(x), Some(y)) if x == y)
}

/// What [`ensure_rx_vlan_in_frame`] found and did on a port.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RxVlanOffload {
    /// The driver leaves tags in the frame.
    AlreadyOff,
    /// The driver stripped tags into metadata; switched off so XDP sees them.
    SwitchedOff,
}

/// Makes sure the NIC leaves 802.1Q tags in the frame, where the XDP programs read them:
/// with rx VLAN offload on, most drivers strip the tag before XDP runs (Linux ≥ 6.8 has a
/// kfunc for reading it back, but only some drivers implement it). Uses the ethtool flags
/// ioctl, like `ethtool -K <dev> rxvlan off`.
pub fn ensure_rx_vlan_in_frame(iface: &str) -> std::io::Result<RxVlanOffload> {
    const ETHTOOL_GFLAGS: u32 = 0x25;
    const ETHTOOL_SFLAGS: u32 = 0x26;
    const ETH_FLAG_RXVLAN: u32 = 1 << 8;
    #[repr(C)]
    struct EthtoolValue {
        cmd: u32,
        data: u32,
    }
    #[repr(C)]
    struct Ifreq {
        name: [libc::c_char; libc::IFNAMSIZ],
        data: *mut EthtoolValue,
        _pad: [u8; 16],
    }
    if iface.len() >= libc::IFNAMSIZ {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "interface name too long",
        ));
    }
    // SAFETY: a plain datagram socket for ioctls, closed below.
    let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    let ioctl = |cmd: u32, data: u32| -> std::io::Result<u32> {
        let mut value = EthtoolValue { cmd, data };
        let mut req = Ifreq {
            name: [0; libc::IFNAMSIZ],
            data: &mut value,
            _pad: [0; 16],
        };
        for (d, s) in req.name.iter_mut().zip(iface.bytes()) {
            *d = s as libc::c_char;
        }
        // SAFETY: SIOCETHTOOL with an ifreq pointing at a live ethtool_value.
        if unsafe { libc::ioctl(fd, libc::SIOCETHTOOL, &mut req) } < 0 {
            return Err(std::io::Error::last_os_error());
        }
        Ok(value.data)
    };
    let result = (|| {
        let flags = ioctl(ETHTOOL_GFLAGS, 0)?;
        if flags & ETH_FLAG_RXVLAN == 0 {
            return Ok(RxVlanOffload::AlreadyOff);
        }
        ioctl(ETHTOOL_SFLAGS, flags & !ETH_FLAG_RXVLAN)?;
        Ok(RxVlanOffload::SwitchedOff)
    })();
    // SAFETY: our own descriptor.
    unsafe { libc::close(fd) };
    result
}
