//! The data plane: loads the XDP programs, writes the policy into their maps, attaches them
//! to the `lan` and `wan` ports, and reads their counters.

use std::{
    collections::{BTreeMap, BTreeSet},
    path::Path,
};

use aya::{
    Ebpf, EbpfError, EbpfLoader,
    maps::{
        Array, DevMap, HashMap, MapData, MapError, PerCpuArray, PerCpuValues, xdp::XdpMapError,
    },
    programs::{
        ProgramError, Xdp, XdpMode,
        links::{FdLink, PinnedLink},
        xdp::{XdpLink, XdpLinkId},
    },
};
use gateway_common::{
    AgencyRef, Bucket, Config, Counters, DIRECTIONS, Limit, LimitEntry, MAX_AGENCIES, PORT_TO_LAN,
    PORT_TO_WAN, SlotId, VLAN_SLOTS, agency_slot, forward, qinq_key, unclassified,
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
        "the kernel refused to load program `{program}` (is this root, or does it hold CAP_BPF, CAP_PERFMON and CAP_NET_ADMIN?)"
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
    #[error("cannot use the pin directory {dir} (is bpffs mounted at /sys/fs/bpf?)")]
    PinDir {
        dir: std::path::PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot pin or adopt {what} under {dir}")]
    Pin {
        what: String,
        dir: std::path::PathBuf,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
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
    /// With a pin directory, maps and links live in bpffs and outlive this process.
    pin_dir: Option<std::path::PathBuf>,
    /// Our handles on the pinned links (the pins keep them alive without us).
    pinned_links: Vec<FdLink>,
    slot_ids: Array<MapData, SlotId>,
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
    /// Slot → agency id, kept with the maps so a restarted daemon finds its agencies.
    pub names: BTreeMap<u32, String>,
    pub config: Config,
}

impl Plan {
    /// A plan for `policy` with agency `i` in `slots[i]` and the given fixed limits.
    pub fn new(policy: &Policy, slots: &[u32], fixed: &[[Limit; 2]]) -> Plan {
        let mut vlans = vec![0 as AgencyRef; VLAN_SLOTS as usize];
        let mut qinq = BTreeMap::new();
        let mut fixed_by_slot = BTreeMap::new();
        let mut names = BTreeMap::new();
        for (i, agency) in policy.agencies.iter().enumerate() {
            names.insert(slots[i], agency.id.clone());
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
            names,
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
    /// Slot → agency id, as written to the slot id map.
    names: BTreeMap<u32, String>,
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
        let ebpf = Ebpf::load(bytes).map_err(|e| DataplaneError::Object(Box::new(e)))?;
        Self::from_ebpf(ebpf, None)
    }

    /// Loads the embedded programs with their maps pinned under `dir` (created if absent):
    /// maps found there from this build are adopted with their contents (counters, buckets,
    /// the agencies' slots, the rates in force); maps of another layout are replaced.
    pub fn load_pinned(dir: &Path) -> Result<(Self, Pins)> {
        if PROGRAMS.is_empty() {
            return Err(DataplaneError::NotBuilt);
        }
        std::fs::create_dir_all(dir).map_err(|source| DataplaneError::PinDir {
            dir: dir.to_path_buf(),
            source,
        })?;
        let pins = match check_pins(dir)? {
            Found::Nothing => Pins::Fresh,
            Found::Compatible => Pins::Adopted {
                slots: Default::default(),
            },
            Found::Incompatible(reason) => {
                remove_pins(dir, false)?;
                std::fs::create_dir_all(dir).map_err(|source| DataplaneError::PinDir {
                    dir: dir.to_path_buf(),
                    source,
                })?;
                Pins::Replaced { reason }
            }
        };
        let mut loader = EbpfLoader::new();
        for name in MAPS {
            loader.map_pin_path(name, dir.join(name));
        }
        let ebpf = loader
            .load(PROGRAMS)
            .map_err(|e| DataplaneError::Object(Box::new(e)))?;
        let mut dp = Self::from_ebpf(ebpf, Some(dir.to_path_buf()))?;
        let pins = match pins {
            Pins::Adopted { .. } => Pins::Adopted {
                slots: dp.read_applied()?,
            },
            other => other,
        };
        Ok((dp, pins))
    }

    /// Reads what adopted maps hold into the mirror `apply` diffs against; returns the
    /// agencies' slots.
    fn read_applied(&mut self) -> Result<std::collections::HashMap<String, u32>> {
        let read = |name: &'static str| {
            move |source| DataplaneError::ReadMap {
                name,
                source: Box::new(source),
            }
        };
        for vid in 0..VLAN_SLOTS {
            self.applied.vlans[vid as usize] =
                self.vlans.get(&vid, 0).map_err(read("OPD_VLANS"))?;
        }
        for entry in self.qinq.iter() {
            let (k, v) = entry.map_err(read("OPD_QINQ"))?;
            self.applied.qinq.insert(k, v);
        }
        let mut slots = std::collections::HashMap::new();
        for slot in 0..MAX_AGENCIES {
            let id = self.slot_ids.get(&slot, 0).map_err(read("OPD_SLOT_IDS"))?;
            if id == SlotId::FREE {
                continue;
            }
            let end = id
                .bytes
                .iter()
                .position(|&b| b == 0)
                .unwrap_or(id.bytes.len());
            let name = String::from_utf8_lossy(&id.bytes[..end]).into_owned();
            for dir in 0..DIRECTIONS {
                let index = agency_slot(slot, dir);
                let entry = self.limits.get(&index, 0).map_err(read("OPD_LIMITS"))?;
                self.applied.limits.insert(index, entry);
            }
            self.applied.names.insert(slot, name.clone());
            slots.insert(name, slot);
        }
        self.applied.config = Some(self.config.get(&0, 0).map_err(read("OPD_CONFIG"))?);
        Ok(slots)
    }

    fn from_ebpf(mut ebpf: Ebpf, pin_dir: Option<std::path::PathBuf>) -> Result<Self> {
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
            slot_ids: take(&mut ebpf, "OPD_SLOT_IDS")?,
            ebpf,
            links: Vec::new(),
            pin_dir,
            pinned_links: Vec::new(),
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
        for (&slot, name) in &plan.names {
            if self.applied.names.get(&slot) != Some(name) {
                let mut id = SlotId::FREE;
                let n = name.len().min(id.bytes.len());
                id.bytes[..n].copy_from_slice(&name.as_bytes()[..n]);
                self.slot_ids
                    .set(slot, id, 0)
                    .map_err(write("OPD_SLOT_IDS"))?;
                self.applied.names.insert(slot, name.clone());
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
        let gone: Vec<u32> = self
            .applied
            .names
            .keys()
            .filter(|s| !plan.names.contains_key(s))
            .copied()
            .collect();
        for slot in gone {
            self.slot_ids
                .set(slot, SlotId::FREE, 0)
                .map_err(write("OPD_SLOT_IDS"))?;
            self.applied.names.remove(&slot);
        }
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
            let attach_error = |source| DataplaneError::Attach {
                iface: iface.clone(),
                role,
                mode: mode_name,
                hint,
                source: Box::new(source),
            };
            let Some(dir) = &self.pin_dir else {
                let link = prog.attach(iface, mode).map_err(attach_error)?;
                self.links.push((name, link));
                continue;
            };
            // The link's pin is named after the port's role and index, so a link left on an
            // interface that is no longer this port is recognised and removed.
            let index = if role == "lan" { lan } else { wan };
            let pin = dir.join(format!("link_{role}_{index}"));
            let pin_error =
                |what: String, e: Box<dyn std::error::Error + Send + Sync>| DataplaneError::Pin {
                    what,
                    dir: dir.clone(),
                    source: e,
                };
            for stale in std::fs::read_dir(dir).into_iter().flatten().flatten() {
                let file = stale.file_name().to_string_lossy().into_owned();
                if file.starts_with(&format!("link_{role}_")) && stale.path() != pin {
                    std::fs::remove_file(stale.path())
                        .map_err(|e| pin_error(format!("the stale link {file}"), Box::new(e)))?;
                }
            }
            let pinned = if pin.exists() {
                // A previous daemon's link: swap in this build's program in one step
                // (bpf_link_update), so the port never runs without one.
                let old = PinnedLink::from_pin(&pin)
                    .map_err(|e| pin_error(format!("the link {}", pin.display()), Box::new(e)))?;
                let link = XdpLink::try_from(FdLink::from(old))
                    .map_err(|e| pin_error("the pinned link".into(), Box::new(e)))?;
                let id = prog.attach_to_link(link).map_err(attach_error)?;
                let link = prog.take_link(id).map_err(attach_error)?;
                FdLink::try_from(link).map_err(|e| pin_error("the link".into(), Box::new(e)))?
            } else {
                let id = prog.attach(iface, mode).map_err(attach_error)?;
                let link = prog.take_link(id).map_err(attach_error)?;
                let fd = FdLink::try_from(link)
                    .map_err(|e| pin_error("the new link".into(), Box::new(e)))?;
                FdLink::from(
                    fd.pin(&pin).map_err(|e| {
                        pin_error(format!("the link {}", pin.display()), Box::new(e))
                    })?,
                )
            };
            self.pinned_links.push(pinned);
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

/// Every map of the programs, pinned under the pin directory by these names.
pub const MAPS: [&str; 9] = [
    "OPD_VLANS",
    "OPD_QINQ",
    "OPD_LIMITS",
    "OPD_BUCKETS",
    "OPD_AGENCY_STATS",
    "OPD_OTHER_STATS",
    "OPD_CONFIG",
    "OPD_PORTS",
    "OPD_SLOT_IDS",
];

/// What a starting daemon found in its pin directory.
#[derive(Debug)]
pub enum Pins {
    /// Nothing: maps created and pinned.
    Fresh,
    /// The maps of a previous daemon of this build, adopted with their contents; the
    /// agencies' slots as they were.
    Adopted {
        slots: std::collections::HashMap<String, u32>,
    },
    /// Maps of another layout (another version), removed and created anew.
    Replaced { reason: String },
}

enum Found {
    Nothing,
    Compatible,
    Incompatible(String),
}

/// Compares pinned maps with this build's map definitions (type, key and value size,
/// entries).
fn check_pins(dir: &Path) -> Result<Found> {
    let obj = aya_obj::Object::parse(PROGRAMS).map_err(|e| DataplaneError::Pin {
        what: "the programs' map definitions".into(),
        dir: dir.to_path_buf(),
        source: Box::new(e),
    })?;
    let mut present = 0;
    for name in MAPS {
        let path = dir.join(name);
        if !path.exists() {
            continue;
        }
        present += 1;
        let want = obj.maps.get(name).ok_or(DataplaneError::MissingMap(name))?;
        let info = match MapData::from_pin(&path).and_then(|m| m.info()) {
            Ok(info) => info,
            Err(e) => return Ok(Found::Incompatible(format!("{name} cannot be opened: {e}"))),
        };
        let have_type = info.map_type().map(|t| t as u32).unwrap_or(u32::MAX);
        let (have, want) = (
            (
                have_type,
                info.key_size(),
                info.value_size(),
                info.max_entries(),
            ),
            (
                want.map_type(),
                want.key_size(),
                want.value_size(),
                want.max_entries(),
            ),
        );
        // Per-CPU and other special maps report their entries as created; compare all.
        if have != want {
            return Ok(Found::Incompatible(format!(
                "{name} has (type, key, value, entries) {have:?}, this build needs {want:?}"
            )));
        }
    }
    Ok(match present {
        0 => Found::Nothing,
        n if n == MAPS.len() => Found::Compatible,
        n => Found::Incompatible(format!("only {n} of the {} maps are pinned", MAPS.len())),
    })
}

/// Removes what a daemon pinned under `dir`: the links (which detaches the programs from
/// the ports) and, unless `links_only`, the maps and the directory. Returns what it removed.
pub fn remove_pins(dir: &Path, links_only: bool) -> Result<Vec<String>> {
    let mut removed = Vec::new();
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(removed),
        Err(source) => {
            return Err(DataplaneError::PinDir {
                dir: dir.to_path_buf(),
                source,
            });
        }
    };
    let mut names: Vec<String> = entries
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    // Links first: the ports stop running the programs before their maps go.
    names.sort_by_key(|n| !n.starts_with("link_"));
    for name in names {
        let is_link = name.starts_with("link_");
        if !is_link && (links_only || !MAPS.contains(&name.as_str())) {
            continue;
        }
        std::fs::remove_file(dir.join(&name)).map_err(|source| DataplaneError::PinDir {
            dir: dir.join(&name),
            source,
        })?;
        removed.push(name);
    }
    if !links_only {
        // Only if empty: something else pinned there is not ours to remove.
        let _ = std::fs::remove_dir(dir);
    }
    Ok(removed)
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
