//! The kernel side: loads the XDP programs, carries out the map writes it is given, attaches
//! the programs to the ports and reads the counters. It knows nothing of policy files: what
//! the maps should hold is decided by [`crate::plan`].
//!
//! - [`maps`]: the typed maps, each opened by its name in [`gateway_common::map`];
//! - [`contents`]: what the maps hold and the writes that change it;
//! - [`counters`]: the counter reader (the only way traffic is read);
//! - [`pins`]: maps pinned in bpffs, checked against this build and adopted;
//! - [`attach`]: the programs on the ports;
//! - [`nic`]: the ports' settings (VLAN offload, bridge membership).

mod attach;
pub mod contents;
mod counters;
mod hosts;
mod maps;
pub mod nic;
mod pins;

use std::path::{Path, PathBuf};

use aya::{
    Ebpf, EbpfError, EbpfLoader,
    maps::{MapError, xdp::XdpMapError},
    programs::{ProgramError, Xdp},
};
use gateway_common::map;

pub use attach::{AttachMode, Ports};
pub use contents::{Contents, MapWrite};
pub use counters::CounterReader;
pub use hosts::{HostEntry, HostReader};
pub use pins::{Pins, remove_pins};

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
        "the XDP programs' object has a map `{0}` this daemon does not know, so it would not be pinned (built from another version?)"
    )]
    UnknownMap(String),
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
        dir: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot pin or adopt {what} under {dir}")]
    Pin {
        what: String,
        dir: PathBuf,
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
    maps: maps::Maps,
    counters: CounterReader,
    hosts: HostReader,
    links: attach::Links,
}

impl Dataplane {
    /// Loads programs from an object file (tests and tools built apart from the daemon),
    /// with maps of their own, not pinned.
    pub fn load_file(path: &Path) -> Result<Self> {
        Self::load_file_sized(path, crate::policy::defaults::HOST_TABLE)
    }

    /// As [`Dataplane::load_file`], with a host table of `host_table` entries.
    pub fn load_file_sized(path: &Path, host_table: u32) -> Result<Self> {
        let bytes = std::fs::read(path).map_err(|e| {
            DataplaneError::Object(Box::new(EbpfError::FileError {
                path: path.to_path_buf(),
                error: e,
            }))
        })?;
        let ebpf = EbpfLoader::new()
            .map_max_entries(map::HOSTS, host_table)
            .load(&bytes)
            .map_err(|e| DataplaneError::Object(Box::new(e)))?;
        Self::from_ebpf(ebpf, None)
    }

    /// Loads the embedded programs with their maps pinned under `dir` (created if absent)
    /// and a host table of `host_table` entries: maps found there from this build are
    /// adopted with their contents (counters, buckets, the agencies' slots, the rates in
    /// force); maps of another layout are replaced, and a host table of another size alone
    /// (its hosts start afresh).
    pub fn load_pinned(dir: &Path, host_table: u32) -> Result<(Self, Pins)> {
        if PROGRAMS.is_empty() {
            return Err(DataplaneError::NotBuilt);
        }
        let found = pins::prepare(dir, host_table)?;
        let mut loader = EbpfLoader::new();
        loader.map_max_entries(map::HOSTS, host_table);
        for name in map::ALL {
            loader.map_pin_path(name, dir.join(name));
        }
        let ebpf = loader
            .load(PROGRAMS)
            .map_err(|e| DataplaneError::Object(Box::new(e)))?;
        let dp = Self::from_ebpf(ebpf, Some(dir.to_path_buf()))?;
        let pins = match found {
            pins::Found::Nothing => Pins::Fresh,
            pins::Found::Compatible => Pins::Adopted {
                contents: dp.maps.read()?,
            },
            pins::Found::Incompatible(reason) => Pins::Replaced { reason },
        };
        Ok((dp, pins))
    }

    fn from_ebpf(mut ebpf: Ebpf, pin_dir: Option<PathBuf>) -> Result<Self> {
        // Every map is named in the table, or it would be neither pinned nor checked.
        if let Some((name, _)) = ebpf.maps().find(|(name, _)| !map::ALL.contains(name)) {
            return Err(DataplaneError::UnknownMap(name.to_string()));
        }
        for name in [LAN_PROGRAM, WAN_PROGRAM] {
            xdp(&mut ebpf, name)?
                .load()
                .map_err(|source| DataplaneError::Verify {
                    program: name,
                    source: Box::new(source),
                })?;
        }
        let counters = CounterReader::open(&ebpf)?;
        let hosts = HostReader::open(&ebpf)?;
        Ok(Dataplane {
            maps: maps::Maps::take(&mut ebpf)?,
            counters,
            hosts,
            ebpf,
            links: attach::Links::new(pin_dir),
        })
    }

    /// A loaded program, e.g. for BPF_PROG_TEST_RUN.
    pub fn program(&self, name: &str) -> Option<&Xdp> {
        self.ebpf.program(name).and_then(|p| p.try_into().ok())
    }

    /// Carries out one write.
    pub fn write(&mut self, write: &MapWrite) -> Result<()> {
        self.maps.write(write)
    }

    /// Points the redirect map at two ports by interface index ([`Dataplane::attach`] does
    /// this itself).
    pub fn set_ports(&mut self, lan_ifindex: u32, wan_ifindex: u32) -> Result<()> {
        self.maps.set_ports(lan_ifindex, wan_ifindex)
    }

    /// The counters of every agency and reason.
    pub fn counters(&self) -> &CounterReader {
        &self.counters
    }

    /// The host table, for listing an agency's hosts.
    pub fn hosts(&self) -> &HostReader {
        &self.hosts
    }

    /// Hosts of the slot's agency active at `now_ns` (CLOCK_MONOTONIC) in a direction.
    pub fn active_hosts(
        &self,
        slot: u32,
        dir: gateway_common::Direction,
        now_ns: u64,
    ) -> Result<u32> {
        self.maps.active_hosts(slot, dir, now_ns)
    }
}

/// One of the gateway's XDP programs in the object.
fn xdp<'a>(ebpf: &'a mut Ebpf, name: &'static str) -> Result<&'a mut Xdp> {
    ebpf.program_mut(name)
        .ok_or(DataplaneError::MissingProgram(name))?
        .try_into()
        .map_err(|source| DataplaneError::Verify {
            program: name,
            source: Box::new(source),
        })
}

impl Drop for Dataplane {
    fn drop(&mut self) {
        // Links close with the object anyway; detaching first keeps the order explicit.
        if let Err(e) = self.detach() {
            tracing::warn!(error = %e, "detaching the XDP programs failed");
        }
    }
}
