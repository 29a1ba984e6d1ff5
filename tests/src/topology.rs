//! The simulated network: a gateway namespace between a switch and a host pair per agency
//! VLAN (the diagram is in the crate's documentation), built by [`SimNetwork::new`] and
//! removed by its `Drop`, also when a test panics.
//!
//! This kernel has no 802.1Q devices, so each host's VLAN tag is pushed and popped by TC
//! programs on its interface.

use std::{path::PathBuf, process::Command};

use aya::{
    Ebpf, EbpfLoader,
    programs::{SchedClassifier, TcAttachType, Xdp, XdpMode},
};

use crate::{Netns, env_path, netns::unique_name, require_root, sh, sweep_stale};

/// One agency VLAN of a simulated network: a host on each side of the gateway.
pub struct VlanHosts {
    /// 0 for an untagged host.
    pub vid: u16,
    pub agency_side: Netns,
    pub upstream_side: Netns,
    /// 198.18.<k>.1
    pub agency_ip: std::net::Ipv4Addr,
    /// 198.18.<k>.2
    pub upstream_ip: std::net::Ipv4Addr,
}

/// Forwarding between the gateway's ports in a simulated network.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Forwarding {
    /// The gateway redirects with XDP; nothing else joins `lan` and `wan`.
    Redirect,
    /// A Linux bridge `br0` in the gateway namespace joins `lan` and `wan`.
    Bridge,
}

/// A simulated agency network around a gateway namespace.
pub struct SimNetwork {
    pub hosts: Vec<VlanHosts>,
    pub gateway: Netns,
    pub switch: Netns,
    /// The gateway's pin directory in bpffs, unique to this network.
    pub pin_dir: PathBuf,
    /// The gateway's state directory (its history), unique to this network.
    pub state_dir: PathBuf,
    /// Loaded TC and XDP programs of the simulated hosts; links close with them.
    pub(crate) programs: Vec<Ebpf>,
}

/// Queues on the gateway's ports, so each CPU has a receive queue of its own.
const PORT_QUEUES: &str = "2";

impl SimNetwork {
    /// Builds the network with one host pair per VLAN id (0: untagged).
    pub fn new(vids: &[u16], forwarding: Forwarding) -> SimNetwork {
        require_root();
        static SWEPT: std::sync::Once = std::sync::Once::new();
        SWEPT.call_once(sweep_stale);
        let sim_obj = std::fs::read(env_path("OPD_SIM_EBPF")).expect("read OPD_SIM_EBPF");
        let gateway = Netns::new("gw");
        let switch = Netns::new("sw");
        // A bpffs instance of this network's own: `ip netns exec` gives the daemon a fresh
        // /sys (without /sys/fs/bpf), but other mounts of ours are visible to it, and pins
        // there outlive each daemon the test starts.
        let bpffs = std::env::temp_dir().join(unique_name("bpffs"));
        std::fs::create_dir_all(&bpffs).expect("create a bpffs mount point");
        sh(Command::new("mount").args(["-t", "bpf", "bpf"]).arg(&bpffs));
        let pin_dir = bpffs.join("opd-gateway");
        let state_dir = std::env::temp_dir().join(unique_name("state"));
        let mut net = SimNetwork {
            hosts: Vec::new(),
            gateway,
            switch,
            pin_dir,
            state_dir,
            programs: Vec::new(),
        };
        let sw = &net.switch;
        for br in ["lanbr", "wanbr"] {
            sw.ip(&["link", "add", br, "type", "bridge"]);
            sw.ip(&["link", "set", br, "up"]);
        }
        for (port, sw_side, br) in [("lan", "gwlan", "lanbr"), ("wan", "gwwan", "wanbr")] {
            sw.ip(&[
                "link",
                "add",
                sw_side,
                "numtxqueues",
                PORT_QUEUES,
                "numrxqueues",
                PORT_QUEUES,
                "type",
                "veth",
                "peer",
                "name",
                port,
                "numtxqueues",
                PORT_QUEUES,
                "numrxqueues",
                PORT_QUEUES,
                "netns",
                net.gateway.name(),
            ]);
            sw.ip(&["link", "set", sw_side, "master", br, "up"]);
            net.gateway.ip(&["link", "set", port, "up"]);
            // Like a switch's trunk port: tags go on the wire inside the frame, not in
            // metadata beside it, so the gateway's XDP programs see them.
            sh(sw.command("ethtool").args([
                "-K",
                sw_side,
                "txvlan",
                "off",
                "tx-vlan-stag-hw-insert",
                "off",
            ]));
            // Transmit queue by CPU: frames sent from CPU n reach the gateway's receive
            // queue n, so the gateway polices on both CPUs at once.
            for q in 0..2 {
                sh(sw.command("sh").args([
                    "-c",
                    &format!(
                        "echo {:x} > /sys/class/net/{sw_side}/queues/tx-{q}/xps_cpus",
                        1 << q
                    ),
                ]));
            }
        }
        if forwarding == Forwarding::Bridge {
            let gw = &net.gateway;
            gw.ip(&["link", "add", "br0", "type", "bridge"]);
            gw.ip(&["link", "set", "lan", "master", "br0"]);
            gw.ip(&["link", "set", "wan", "master", "br0"]);
            gw.ip(&["link", "set", "br0", "up"]);
        } else {
            // Frames redirected into a veth need an XDP program on the receiving end.
            let mut loaded = Vec::new();
            for sw_side in ["gwlan", "gwwan"] {
                let obj = &sim_obj;
                loaded.push(net.switch.enter(|| {
                    let mut ebpf = Ebpf::load(obj).expect("load the simulation programs");
                    let prog: &mut Xdp = ebpf
                        .program_mut("sim_xdp_pass")
                        .unwrap()
                        .try_into()
                        .unwrap();
                    prog.load().expect("load sim_xdp_pass");
                    prog.attach(sw_side, XdpMode::Driver)
                        .unwrap_or_else(|e| panic!("attach sim_xdp_pass to {sw_side}: {e}"));
                    ebpf
                }));
            }
            net.programs.extend(loaded);
        }
        for (k, &vid) in vids.iter().enumerate() {
            let k = k + 1;
            let agency_ip = std::net::Ipv4Addr::new(198, 18, k as u8, 1);
            let upstream_ip = std::net::Ipv4Addr::new(198, 18, k as u8, 2);
            let agency_side = Netns::new(&format!("a{vid}"));
            let upstream_side = Netns::new(&format!("u{vid}"));
            for (host, ip, br, prefix) in [
                (&agency_side, agency_ip, "lanbr", "a"),
                (&upstream_side, upstream_ip, "wanbr", "u"),
            ] {
                let sw_port = format!("{prefix}{k}");
                net.switch.ip(&[
                    "link",
                    "add",
                    &sw_port,
                    "type",
                    "veth",
                    "peer",
                    "name",
                    "nic",
                    "netns",
                    host.name(),
                ]);
                net.switch
                    .ip(&["link", "set", &sw_port, "master", br, "up"]);
                host.ip(&["addr", "add", &format!("{ip}/24"), "dev", "nic"]);
                host.ip(&["link", "set", "nic", "up"]);
                // Hosts on a wire send frames with their checksums filled in. A veth would
                // leave them to an offload that XDP-redirected frames never get.
                sh(host.command("ethtool").args(["-K", "nic", "tx", "off"]));
                if vid != 0 {
                    let obj = &sim_obj;
                    net.programs.push(host.enter(|| attach_tagging(obj, vid)));
                }
            }
            net.hosts.push(VlanHosts {
                vid,
                agency_side,
                upstream_side,
                agency_ip,
                upstream_ip,
            });
        }
        net
    }

    /// The host pair of a VLAN.
    pub fn vlan(&self, vid: u16) -> &VlanHosts {
        self.hosts
            .iter()
            .find(|h| h.vid == vid)
            .unwrap_or_else(|| panic!("no hosts on VLAN {vid}"))
    }
}

impl Drop for SimNetwork {
    fn drop(&mut self) {
        // The gateway's pins outlive it by design; this network's go with it.
        if let Err(e) = opd_gateway::dataplane::remove_pins(&self.pin_dir, false) {
            eprintln!("warning: cannot remove {}: {e}", self.pin_dir.display());
        }
        if let Some(bpffs) = self.pin_dir.parent() {
            let unmounted = Command::new("umount").arg(bpffs).status();
            if !matches!(unmounted, Ok(s) if s.success()) {
                eprintln!("warning: cannot unmount {}", bpffs.display());
            }
            let _ = std::fs::remove_dir(bpffs); // best effort: an empty directory in /tmp
        }
        let _ = std::fs::remove_dir_all(&self.state_dir);
    }
}

impl VlanHosts {
    /// `n` more addresses on the agency-side host, 198.18.<k>.10 onwards: separate hosts of
    /// the agency as the gateway tells hosts apart (by address), on one namespace.
    pub fn add_agency_addresses(&self, n: u8) -> Vec<std::net::Ipv4Addr> {
        add_addresses(&self.agency_side, self.agency_ip, 10, n)
    }

    /// `n` more addresses on the upstream-side host, 198.18.<k>.130 onwards.
    pub fn add_upstream_addresses(&self, n: u8) -> Vec<std::net::Ipv4Addr> {
        add_addresses(&self.upstream_side, self.upstream_ip, 130, n)
    }
}

/// Adds `n` addresses in `ip`'s /24 from `.first` to the host's `nic`.
fn add_addresses(
    host: &Netns,
    ip: std::net::Ipv4Addr,
    first: u8,
    n: u8,
) -> Vec<std::net::Ipv4Addr> {
    assert!(
        first as u16 + n as u16 <= 255,
        "{n} addresses from .{first} do not fit a /24"
    );
    let [a, b, c, _] = ip.octets();
    (0..n)
        .map(|i| {
            let extra = std::net::Ipv4Addr::new(a, b, c, first + i);
            host.ip(&["addr", "add", &format!("{extra}/24"), "dev", "nic"]);
            extra
        })
        .collect()
}

/// Loads and attaches the tag push (egress) and pop (ingress) programs on `nic`.
fn attach_tagging(obj: &[u8], vid: u16) -> Ebpf {
    let mut ebpf = EbpfLoader::new()
        .override_global("HOST_VID", &vid, true)
        .load(obj)
        .expect("load the simulation programs");
    for (name, at) in [
        ("sim_tag_push", TcAttachType::Egress),
        ("sim_tag_pop", TcAttachType::Ingress),
    ] {
        let prog: &mut SchedClassifier = ebpf.program_mut(name).unwrap().try_into().unwrap();
        prog.load().unwrap_or_else(|e| panic!("load {name}: {e}"));
        prog.attach("nic", at)
            .unwrap_or_else(|e| panic!("attach {name} to nic: {e}"));
    }
    ebpf
}
