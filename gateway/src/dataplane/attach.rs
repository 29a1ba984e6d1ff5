//! The programs on the ports: attached as XDP links, pinned when the maps are, so a
//! restarted daemon swaps its programs into the running links without a gap.

use std::path::{Path, PathBuf};

use aya::programs::{
    ProgramError, Xdp, XdpMode,
    links::{FdLink, PinnedLink},
    xdp::{XdpLink, XdpLinkId},
};

use super::{Dataplane, DataplaneError, LAN_PROGRAM, Result, WAN_PROGRAM, nic};

/// Where the XDP programs run on the ports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttachMode {
    /// In the driver (fast; needs driver support).
    Native,
    /// In the kernel's generic path (any interface, slower).
    Generic,
}

/// The two ports and how to attach to them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ports {
    /// Towards the agencies' trunk (upload is policed on its ingress).
    pub lan: String,
    /// Towards the upstream router's trunk (download is policed on its ingress).
    pub wan: String,
    pub mode: AttachMode,
    /// A Linux bridge forwards between the ports (the programs pass frames to the stack);
    /// otherwise the programs redirect frames to the other port themselves.
    pub bridged: bool,
}

/// The links this daemon holds.
pub(super) struct Links {
    /// Links of unpinned programs (tests and tools), detached on drop.
    unpinned: Vec<(&'static str, XdpLinkId)>,
    /// With a pin directory, links live in bpffs and outlive this process.
    pin_dir: Option<PathBuf>,
    /// Our handles on the pinned links (the pins keep them alive without us).
    pinned: Vec<FdLink>,
}

impl Links {
    pub(super) fn new(pin_dir: Option<PathBuf>) -> Links {
        Links {
            unpinned: Vec::new(),
            pin_dir,
            pinned: Vec::new(),
        }
    }
}

const LINK_PREFIX: &str = "link_";

/// True for the pin of a link (`link_<role>_<ifindex>`), as opposed to a map's.
pub(super) fn is_link_pin(name: &str) -> bool {
    name.starts_with(LINK_PREFIX)
}

impl Dataplane {
    /// Attaches the programs to the ports (after the maps hold a plan).
    pub fn attach(&mut self, ports: &Ports) -> Result<()> {
        let lan = nic::ifindex(&ports.lan, "lan")?;
        let wan = nic::ifindex(&ports.wan, "wan")?;
        if ports.bridged && !nic::same_bridge(&ports.lan, &ports.wan) {
            return Err(DataplaneError::NotBridged {
                lan: ports.lan.clone(),
                wan: ports.wan.clone(),
            });
        }
        self.maps.set_ports(lan, wan)?;
        let (mode, mode_name, hint) = match ports.mode {
            AttachMode::Native => (
                XdpMode::Driver,
                "native",
                "if the driver lacks native XDP, set xdp_mode = \"generic\" in [site] (slower)",
            ),
            AttachMode::Generic => (
                XdpMode::Skb,
                "generic",
                "another XDP program may already be attached to it (see `ip link show`)",
            ),
        };
        for (name, iface, role, index) in [
            (LAN_PROGRAM, &ports.lan, "lan", lan),
            (WAN_PROGRAM, &ports.wan, "wan", wan),
        ] {
            let prog = super::xdp(&mut self.ebpf, name)?;
            let attach_error = |source| DataplaneError::Attach {
                iface: iface.clone(),
                role,
                mode: mode_name,
                hint,
                source: Box::new(source),
            };
            let Some(dir) = &self.links.pin_dir else {
                let link = prog.attach(iface, mode).map_err(attach_error)?;
                self.links.unpinned.push((name, link));
                continue;
            };
            let link = attach_pinned(prog, dir, iface, role, index, mode, attach_error)?;
            self.links.pinned.push(link);
        }
        Ok(())
    }

    /// Detaches the programs this daemon attached without pins. Frames then flow unpoliced
    /// (or not at all in redirect mode without a bridge). Pinned links stay.
    pub fn detach(&mut self) -> std::result::Result<(), ProgramError> {
        while let Some((name, link)) = self.links.unpinned.pop() {
            let prog: &mut Xdp = self
                .ebpf
                .program_mut(name)
                .expect("attached programs exist")
                .try_into()?;
            prog.detach(link)?;
        }
        Ok(())
    }
}

/// Attaches `prog` to `iface` through a link pinned under `dir` as `link_<role>_<index>`: a
/// previous daemon's link there gets this program swapped in (bpf_link_update), so the port
/// never runs without one; a link left on an interface that is no longer this port is
/// recognised by its name and removed.
fn attach_pinned(
    prog: &mut Xdp,
    dir: &Path,
    iface: &str,
    role: &str,
    index: u32,
    mode: XdpMode,
    attach_error: impl Fn(ProgramError) -> DataplaneError,
) -> Result<FdLink> {
    let pin = dir.join(format!("{LINK_PREFIX}{role}_{index}"));
    let pin_error =
        |what: String, e: Box<dyn std::error::Error + Send + Sync>| DataplaneError::Pin {
            what,
            dir: dir.to_path_buf(),
            source: e,
        };
    for stale in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let file = stale.file_name().to_string_lossy().into_owned();
        if file.starts_with(&format!("{LINK_PREFIX}{role}_")) && stale.path() != pin {
            std::fs::remove_file(stale.path())
                .map_err(|e| pin_error(format!("the stale link {file}"), Box::new(e)))?;
        }
    }
    if pin.exists() {
        let old = PinnedLink::from_pin(&pin)
            .map_err(|e| pin_error(format!("the link {}", pin.display()), Box::new(e)))?;
        let link = XdpLink::try_from(FdLink::from(old))
            .map_err(|e| pin_error("the pinned link".into(), Box::new(e)))?;
        let id = prog.attach_to_link(link).map_err(&attach_error)?;
        let link = prog.take_link(id).map_err(&attach_error)?;
        FdLink::try_from(link).map_err(|e| pin_error("the link".into(), Box::new(e)))
    } else {
        let id = prog.attach(iface, mode).map_err(&attach_error)?;
        let link = prog.take_link(id).map_err(&attach_error)?;
        let fd =
            FdLink::try_from(link).map_err(|e| pin_error("the new link".into(), Box::new(e)))?;
        let pinned = fd
            .pin(&pin)
            .map_err(|e| pin_error(format!("the link {}", pin.display()), Box::new(e)))?;
        Ok(FdLink::from(pinned))
    }
}
