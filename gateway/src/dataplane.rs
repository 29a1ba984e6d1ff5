//! The data plane: loads the XDP programs, writes the policy into their maps, attaches them
//! to the `lan` and `wan` ports, and reads their counters.

use std::path::Path;

use aya::{
    Ebpf, EbpfError,
    maps::{Array, DevMap, HashMap, MapData, MapError, PerCpuArray, xdp::XdpMapError},
    programs::{ProgramError, Xdp, XdpMode, xdp::XdpLinkId},
};
use gateway_common::{
    AgencyRef, Config, Counters, DIRECTIONS, LimitEntry, PORT_TO_LAN, PORT_TO_WAN, VLAN_SLOTS,
    agency_slot, forward, qinq_key, unclassified,
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
    links: Vec<(&'static str, XdpLinkId)>,
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
        Ok(Dataplane {
            vlans: take(&mut ebpf, "OPD_VLANS")?,
            qinq: take(&mut ebpf, "OPD_QINQ")?,
            limits: take(&mut ebpf, "OPD_LIMITS")?,
            agency_stats: take(&mut ebpf, "OPD_AGENCY_STATS")?,
            other_stats: take(&mut ebpf, "OPD_OTHER_STATS")?,
            config: take(&mut ebpf, "OPD_CONFIG")?,
            ports: take(&mut ebpf, "OPD_PORTS")?,
            ebpf,
            links: Vec::new(),
        })
    }

    /// A loaded program, e.g. for BPF_PROG_TEST_RUN.
    pub fn program(&self, name: &str) -> Option<&Xdp> {
        self.ebpf.program(name).and_then(|p| p.try_into().ok())
    }

    /// Writes the policy's classification and limits into the maps.
    pub fn configure(&mut self, policy: &Policy) -> Result<()> {
        let write = |name| {
            move |source| DataplaneError::WriteMap {
                name,
                source: Box::new(source),
            }
        };

        let mut vlan_table = vec![0 as AgencyRef; VLAN_SLOTS as usize];
        let mut qinq_table = std::collections::HashMap::new();
        for (idx, agency) in policy.agencies.iter().enumerate() {
            let fixed = [agency.upload, agency.download];
            for (dir, limit) in fixed.iter().enumerate() {
                let entry = LimitEntry {
                    fixed: limit.to_dataplane(),
                    ..Default::default()
                };
                self.limits
                    .set(agency_slot(idx as u32, dir as u32), entry, 0)
                    .map_err(write("OPD_LIMITS"))?;
            }
            for &vid in &agency.vlans {
                vlan_table[vid as usize] = idx as AgencyRef + 1;
            }
            for &(outer, inner) in &agency.qinq {
                qinq_table.insert(qinq_key(outer, inner), idx as AgencyRef + 1);
            }
        }
        for (vid, agency) in vlan_table.iter().enumerate() {
            self.vlans
                .set(vid as u32, agency, 0)
                .map_err(write("OPD_VLANS"))?;
        }
        let stale: Vec<u32> = self
            .qinq
            .keys()
            .filter_map(|k| k.ok())
            .filter(|k| !qinq_table.contains_key(k))
            .collect();
        for key in stale {
            self.qinq.remove(&key).map_err(write("OPD_QINQ"))?;
        }
        for (key, agency) in &qinq_table {
            self.qinq
                .insert(key, agency, 0)
                .map_err(write("OPD_QINQ"))?;
        }

        let (unclassified_action, unclassified_agency) = match policy.site.unclassified {
            Unclassified::Pass => (unclassified::PASS, 0),
            Unclassified::Drop => (unclassified::DROP, 0),
            Unclassified::Agency(idx) => (unclassified::AGENCY, idx as u32),
        };
        let config = Config {
            unclassified_action,
            unclassified_agency,
            forward: match policy.site.forwarding {
                Forwarding::Redirect => forward::REDIRECT,
                Forwarding::Bridge => forward::STACK,
            },
            _pad: 0,
        };
        self.config.set(0, config, 0).map_err(write("OPD_CONFIG"))
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

    /// Attaches the programs to the site's ports (after [`Dataplane::configure`]).
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
            eprintln!("warning: detaching the XDP programs failed: {e}");
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
