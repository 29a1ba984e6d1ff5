//! Simulated agency networks for the demo and the privileged tests.
//!
//! A [`SimNetwork`] builds, in network namespaces of its own:
//!
//! ```text
//!  agency host ns (per VLAN) ─ nic ─┐                 ┌─ nic ─ upstream host ns (per VLAN)
//!  (tag pushed/popped by TC)        │  switch ns       │  (tag pushed/popped by TC)
//!                                  lanbr ─ gwlan ═╗ ╔═ gwwan ─ wanbr
//!                                                 ║ ║
//!                                    gateway ns:  lan   wan   (opd-gateway attaches here)
//! ```
//!
//! Every agency VLAN gets a host on the agencies' side and one on the upstream side, in
//! 198.18.<k>.0/24 (the benchmarking range). Everything is removed when the network is
//! dropped, also when a test panics.

pub mod delay;
pub mod frames;
pub mod plot;
pub mod traffic;
pub mod transfer;

use std::{
    fs::File,
    os::fd::AsFd,
    path::PathBuf,
    process::{Child, Command, Output, Stdio},
    sync::atomic::{AtomicU32, Ordering},
    time::{Duration, Instant},
};

use aya::{
    Ebpf, EbpfLoader,
    programs::{
        SchedClassifier, TcAttachType, Xdp, XdpMode,
        tc::{NlOptions, TcAttachOptions, TcHandle},
    },
};
use nix::sched::{CloneFlags, setns};

/// Fails the calling test loudly unless it runs as root.
pub fn require_root() {
    // SAFETY: no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        panic!(
            "this test needs root (it creates network namespaces and attaches XDP programs); \
             run the tests with `cargo xtask test` as root"
        );
    }
}

/// A path given by `cargo xtask` through the environment; panics with what to do if absent.
pub fn env_path(var: &str) -> PathBuf {
    let p = std::env::var_os(var).unwrap_or_else(|| {
        panic!("{var} is not set: run this through `cargo xtask test` or `cargo xtask demo`")
    });
    let p = PathBuf::from(p);
    assert!(
        p.exists(),
        "{var}={} does not exist; run `cargo xtask build`",
        p.display()
    );
    p
}

/// Runs a command to completion and panics with its output if it fails.
pub fn sh(cmd: &mut Command) -> Output {
    const SETUP: &str = "`cargo xtask setup` installs every program the tests use";
    let out = cmd.output().unwrap_or_else(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            panic!("{:?} is not installed: {SETUP}", cmd.get_program());
        }
        panic!("cannot run {cmd:?}: {e}")
    });
    if !out.status.success() {
        let stderr = String::from_utf8_lossy(&out.stderr);
        // `ip netns exec` reports a missing program this way.
        let hint = if stderr.contains("exec of") && stderr.contains("No such file") {
            format!("\n(a program is not installed: {SETUP})")
        } else {
            String::new()
        };
        panic!(
            "{cmd:?} failed ({}):\n{}{stderr}{hint}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
        );
    }
    out
}

static NEXT: AtomicU32 = AtomicU32::new(0);

/// Sets an integer socket option.
pub(crate) fn set_int_option(
    fd: &impl std::os::fd::AsRawFd,
    level: libc::c_int,
    name: libc::c_int,
    value: libc::c_int,
) -> std::io::Result<()> {
    // SAFETY: an int option of the size given, on a socket the caller owns.
    let r = unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            level,
            name,
            (&value as *const libc::c_int).cast(),
            size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if r < 0 {
        Err(std::io::Error::last_os_error())
    } else {
        Ok(())
    }
}

/// The process id in a name this test bed gave (`opd-<pid>-…`), if it is one.
fn owner_pid(name: &str) -> Option<u32> {
    name.strip_prefix("opd-")?.split('-').next()?.parse().ok()
}

fn process_alive(pid: u32) -> bool {
    std::path::Path::new(&format!("/proc/{pid}")).exists()
}

/// Removes what earlier runs of the test bed left behind when they were killed before
/// their guards could run (`kill -9`, a CI timeout): namespaces named `opd-<pid>-…` and
/// bpffs mounts `<tmp>/opd-<pid>-…-bpffs` whose process is gone, and the processes still
/// running inside those namespaces (a gateway daemon outlives its test). Names of live
/// processes, and anything not named by this test bed, are left alone.
pub fn sweep_stale() {
    let listed = Command::new("ip").args(["netns", "list"]).output();
    let text = listed
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default();
    for ns in text.lines().filter_map(|l| l.split_whitespace().next()) {
        if owner_pid(ns).is_none_or(process_alive) {
            continue;
        }
        if let Ok(o) = Command::new("ip").args(["netns", "pids", ns]).output() {
            for pid in String::from_utf8_lossy(&o.stdout).split_whitespace() {
                if let Ok(pid) = pid.parse::<i32>() {
                    // SAFETY: a signal to a process in a namespace we created.
                    unsafe { libc::kill(pid, libc::SIGKILL) };
                }
            }
        }
        eprintln!("removing network namespace {ns} left by a killed run");
        let _ = Command::new("ip").args(["netns", "del", ns]).status();
    }
    let mounts = std::fs::read_to_string("/proc/self/mounts").unwrap_or_default();
    let tmp = std::env::temp_dir();
    for point in mounts
        .lines()
        .filter(|l| l.starts_with("bpf "))
        .filter_map(|l| l.split_whitespace().nth(1))
    {
        let path = std::path::Path::new(point);
        let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
            continue;
        };
        if path.parent() != Some(tmp.as_path())
            || !name.ends_with("-bpffs")
            || owner_pid(name).is_none_or(process_alive)
        {
            continue;
        }
        eprintln!("removing bpffs {point} left by a killed run");
        let _ = opd_gateway::dataplane::remove_pins(&path.join("opd-gateway"), false);
        if Command::new("umount")
            .arg(path)
            .status()
            .is_ok_and(|s| s.success())
        {
            let _ = std::fs::remove_dir(path);
        }
    }
}

/// A network namespace that is deleted when dropped.
pub struct Netns {
    name: String,
}

impl Netns {
    /// A namespace named uniquely for this process: `opd-<pid>-<n>-<role>`.
    pub fn new(role: &str) -> Netns {
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let name = format!("opd-{}-{n}-{role}", std::process::id());
        sh(Command::new("ip").args(["netns", "add", &name]));
        let ns = Netns { name };
        ns.ip(&["link", "set", "lo", "up"]);
        ns
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// `ip -n <ns> ARGS`.
    pub fn ip(&self, args: &[&str]) -> Output {
        sh(Command::new("ip").arg("-n").arg(&self.name).args(args))
    }

    /// A command run inside the namespace (`ip netns exec`).
    pub fn command(&self, program: &str) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &self.name, program]);
        c
    }

    /// Runs `f` on a thread inside the namespace: sockets it opens and interfaces it looks up
    /// are this namespace's.
    pub fn enter<T: Send>(&self, f: impl FnOnce() -> T + Send) -> T {
        let path = format!("/run/netns/{}", self.name);
        std::thread::scope(|s| {
            s.spawn(|| {
                let file = File::open(&path).unwrap_or_else(|e| panic!("cannot open {path}: {e}"));
                setns(file.as_fd(), CloneFlags::CLONE_NEWNET)
                    .unwrap_or_else(|e| panic!("cannot enter {path}: {e}"));
                f()
            })
            .join()
            .expect("namespace thread panicked")
        })
    }

    /// Spawns a thread inside the namespace that runs `f` in the background.
    pub fn spawn<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> std::thread::JoinHandle<T> {
        let path = format!("/run/netns/{}", self.name);
        std::thread::spawn(move || {
            let file = File::open(&path).unwrap_or_else(|e| panic!("cannot open {path}: {e}"));
            setns(file.as_fd(), CloneFlags::CLONE_NEWNET)
                .unwrap_or_else(|e| panic!("cannot enter {path}: {e}"));
            f()
        })
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        // Deleting the namespace removes its interfaces and what is attached to them.
        let out = Command::new("ip")
            .args(["netns", "del", &self.name])
            .output();
        if !matches!(&out, Ok(o) if o.status.success()) {
            eprintln!(
                "warning: could not delete network namespace {}: {out:?}",
                self.name
            );
        }
    }
}

/// A child process killed (SIGTERM, then SIGKILL) when dropped.
pub struct Process {
    pub child: Option<Child>,
    what: String,
    /// Its standard error so far, when spawned with [`Process::spawn_logged`].
    log: Option<std::sync::Arc<std::sync::Mutex<String>>>,
}

impl Process {
    pub fn spawn(mut cmd: Command, what: &str) -> Process {
        let child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {what} ({cmd:?}): {e}"));
        Process {
            child: Some(child),
            what: what.into(),
            log: None,
        }
    }

    /// Spawns with standard error passed through and kept, for [`Process::log`].
    pub fn spawn_logged(mut cmd: Command, what: &str) -> Process {
        use std::io::BufRead;
        cmd.stderr(Stdio::piped());
        let mut p = Process::spawn(cmd, what);
        let stderr = p.child.as_mut().unwrap().stderr.take().unwrap();
        let log = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
        let sink = log.clone();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(stderr)
                .lines()
                .map_while(Result::ok)
            {
                eprintln!("{line}");
                let mut l = sink.lock().unwrap();
                l.push_str(&line);
                l.push('\n');
            }
        });
        p.log = Some(log);
        p
    }

    /// What the process wrote to standard error so far.
    pub fn log(&self) -> String {
        self.log
            .as_ref()
            .map(|l| l.lock().unwrap().clone())
            .unwrap_or_default()
    }

    /// Sends a signal (e.g. `libc::SIGHUP`).
    pub fn signal(&self, sig: libc::c_int) {
        let child = self.child.as_ref().expect("the process was started");
        // SAFETY: signalling our own child.
        let r = unsafe { libc::kill(child.id() as i32, sig) };
        assert_eq!(r, 0, "cannot signal {}", self.what);
    }

    /// Sends SIGTERM and waits (bounded) for the exit status.
    pub fn stop(&mut self) -> Option<std::process::ExitStatus> {
        let mut child = self.child.take()?;
        // SAFETY: signalling our own child.
        unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            match child.try_wait() {
                Ok(Some(status)) => return Some(status),
                Ok(None) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(20))
                }
                _ => {
                    eprintln!("warning: {} did not stop on SIGTERM; killing it", self.what);
                    let _ = child.kill(); // it may have exited just now
                    return child.wait().ok();
                }
            }
        }
    }

    /// True while the process runs.
    pub fn running(&mut self) -> bool {
        matches!(self.child.as_mut().map(|c| c.try_wait()), Some(Ok(None)))
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        self.stop();
    }
}

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
    /// Loaded TC and XDP programs of the simulated hosts; links close with them.
    programs: Vec<Ebpf>,
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
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let bpffs = std::env::temp_dir().join(format!("opd-{}-{n}-bpffs", std::process::id()));
        std::fs::create_dir_all(&bpffs).expect("create a bpffs mount point");
        sh(Command::new("mount").args(["-t", "bpf", "bpf"]).arg(&bpffs));
        let pin_dir = bpffs.join("opd-gateway");
        let mut net = SimNetwork {
            hosts: Vec::new(),
            gateway,
            switch,
            pin_dir,
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

    /// Starts `opd-gateway run` in the gateway namespace with a policy file.
    pub fn start_gateway(&self, policy: &std::path::Path, interval: &str) -> Process {
        self.start_gateway_with(policy, interval, &[], &[])
    }

    /// Starts `opd-gateway run` behind a wrapper command (e.g. `setpriv …`) and with extra
    /// environment, and waits until both ports carry its XDP programs.
    pub fn start_gateway_with(
        &self,
        policy: &std::path::Path,
        interval: &str,
        wrapper: &[&str],
        env: &[(&str, &str)],
    ) -> Process {
        let bin = env_path("OPD_GATEWAY_BIN");
        let mut cmd = match wrapper.split_first() {
            Some((program, args)) => {
                let mut c = self.gateway.command(program);
                c.args(args).arg(&bin);
                c
            }
            None => self.gateway.command(bin.to_str().unwrap()),
        };
        cmd.args(["run", "--policy"])
            .arg(policy)
            .args(["--interval", interval])
            .arg("--pin-dir")
            .arg(&self.pin_dir)
            .envs(env.iter().copied())
            .stdin(Stdio::null());
        let mut p = Process::spawn_logged(cmd, "opd-gateway");
        // Attached once both ports carry an XDP program.
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let out = self.gateway.ip(&["-d", "link", "show"]);
            let text = String::from_utf8_lossy(&out.stdout);
            if text.matches("prog/xdp").count() >= 2 {
                return p;
            }
            assert!(
                p.running(),
                "opd-gateway exited before attaching; see its output above"
            );
            assert!(
                Instant::now() < deadline,
                "opd-gateway did not attach within 20 s"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// A site file for this network.
    pub fn site_toml(forwarding: Forwarding, unclassified: &str) -> String {
        format!(
            "[site]\nname = \"Simulated regency\"\nlan = \"lan\"\nwan = \"wan\"\ncapacity = {{ upload = \"1Gbps\", download = \"1Gbps\" }}\nforwarding = \"{}\"\nxdp_mode = \"native\"\nunclassified = \"{unclassified}\"\n",
            match forwarding {
                Forwarding::Redirect => "redirect",
                Forwarding::Bridge => "bridge",
            }
        )
    }
}

/// Which way traffic crosses the gateway.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Way {
    /// From the agency host to its upstream host (policed on `lan` ingress).
    Upload,
    /// From the upstream host to the agency host (policed on `wan` ingress).
    Download,
}

/// One phase of a [`Stream`]: from `start + offset`, for `duration`, at a rate counted as
/// the gateway counts it (whole tagged frames, bits/s).
#[derive(Clone, Copy, Debug)]
pub struct Phase {
    pub offset: Duration,
    pub duration: Duration,
    pub bits_per_second: f64,
}

/// UDP floods across one VLAN of a simulated network and the receiver at the far end.
pub struct Stream {
    senders: Vec<std::thread::JoinHandle<traffic::FloodReport>>,
    receiver: std::thread::JoinHandle<traffic::Arrivals>,
}

impl Stream {
    /// Waits for the senders and the receiver: what arrived, and what each phase sent.
    pub fn finish(self) -> (traffic::Arrivals, Vec<traffic::FloodReport>) {
        let sent = self
            .senders
            .into_iter()
            .map(|s| s.join().expect("sender"))
            .collect();
        (self.receiver.join().expect("receiver"), sent)
    }

    /// What arrived.
    pub fn arrivals(self) -> traffic::Arrivals {
        self.finish().0
    }
}

/// The UDP port streams use.
pub const STREAM_PORT: u16 = 5001;

impl SimNetwork {
    /// Floods VLAN `vid` one `way`, phase by phase from `start` (datagrams of `payload`
    /// bytes), with a receiver timestamping arrivals until `until`.
    pub fn stream(
        &self,
        vid: u16,
        way: Way,
        payload: usize,
        start: Instant,
        until: Instant,
        phases: &[Phase],
    ) -> Stream {
        let h = self.vlan(vid);
        let (from, to, ip) = match way {
            Way::Upload => (&h.agency_side, &h.upstream_side, h.upstream_ip),
            Way::Download => (&h.upstream_side, &h.agency_side, h.agency_ip),
        };
        let addr = std::net::SocketAddrV4::new(ip, STREAM_PORT);
        let receiver = traffic::receive(to, addr, payload, until);
        let senders = phases
            .iter()
            .filter(|p| p.bits_per_second > 0.0)
            .map(|p| {
                traffic::Flood {
                    to: addr,
                    payload,
                    frame_bits_per_second: p.bits_per_second,
                    duration: p.duration,
                    cpu: None,
                    delay: (start + p.offset).saturating_duration_since(Instant::now()),
                }
                .start(from)
            })
            .collect();
        Stream { senders, receiver }
    }

    /// Back-to-back phases of `phase` each from `start`, one per rate (bits/s of whole
    /// frames, 0 for a quiet phase), 1400-byte datagrams, received until 500 ms after the
    /// last phase.
    pub fn phased_stream(
        &self,
        vid: u16,
        way: Way,
        start: Instant,
        phase: Duration,
        rates: &[f64],
    ) -> Stream {
        let phases: Vec<Phase> = rates
            .iter()
            .enumerate()
            .map(|(p, &bits_per_second)| Phase {
                offset: phase * p as u32,
                duration: phase,
                bits_per_second,
            })
            .collect();
        let until = start + phase * rates.len() as u32 + Duration::from_millis(500);
        self.stream(vid, way, 1400, start, until, &phases)
    }

    /// One phase from `start` for `duration` at `bits_per_second`, received until shortly
    /// after.
    pub fn steady_stream(
        &self,
        vid: u16,
        way: Way,
        start: Instant,
        duration: Duration,
        bits_per_second: f64,
    ) -> Stream {
        self.phased_stream(vid, way, start, duration, &[bits_per_second])
    }

    /// Shapes the gateway's ports the way an admin would without OPD Gateway: Linux HTB with
    /// one class per agency VLAN at a fixed rate (`rate` = `ceil`, HTB's default burst and
    /// leaf queue), downloads on `lan`'s egress and uploads on `wan`'s. Frames are classified
    /// by VLAN with a cls_bpf filter: the stack keeps the tag beside the frame by the time it
    /// reaches a bridge port's queue, where `u32` cannot see it, and this kernel has no
    /// `flower`. Needs [`Forwarding::Bridge`] and no gateway running.
    pub fn shape_with_htb(&mut self, classes: &[(u16, u64, u64)]) {
        let obj = std::fs::read(env_path("OPD_SIM_EBPF")).expect("read OPD_SIM_EBPF");
        for (dev, way) in [("lan", Way::Download), ("wan", Way::Upload)] {
            let tc = |args: &str| {
                sh(self.gateway.command("tc").args(args.split_whitespace()));
            };
            tc(&format!(
                "qdisc add dev {dev} root handle 1: htb default fff"
            ));
            tc(&format!(
                "class add dev {dev} parent 1: classid 1:fff htb rate 100gbit"
            ));
            for &(vid, up, down) in classes {
                let bps = if way == Way::Upload { up } else { down };
                tc(&format!(
                    "class add dev {dev} parent 1: classid 1:{vid:x} htb rate {bps}bit ceil {bps}bit"
                ));
            }
            let ebpf = self.gateway.enter(|| {
                let mut ebpf = Ebpf::load(&obj).expect("load the simulation programs");
                let prog: &mut SchedClassifier = ebpf
                    .program_mut("sim_htb_classify")
                    .unwrap()
                    .try_into()
                    .unwrap();
                prog.load().expect("load sim_htb_classify");
                let options = TcAttachOptions::Netlink(NlOptions {
                    classid: Some(TcHandle::new(1, 0)),
                    ..Default::default()
                });
                prog.attach_with_options(dev, TcAttachType::Custom(0x0001_0000), options)
                    .unwrap_or_else(|e| panic!("attach sim_htb_classify to {dev}: {e}"));
                ebpf
            });
            self.programs.push(ebpf);
        }
    }

    /// Puts a delay line between VLAN `vid`'s upstream host and the upstream switch, so
    /// that everything to and from that host takes `rtt` longer (half each way). For the
    /// rest of this network's life that host is reached only through the relay (its veths
    /// go with the switch namespace).
    pub fn delay_upstream(&self, vid: u16, rtt: Duration) -> delay::DelayLine {
        let k = self
            .hosts
            .iter()
            .position(|h| h.vid == vid)
            .unwrap_or_else(|| panic!("no hosts on VLAN {vid}"))
            + 1;
        let sw = &self.switch;
        let (port, near, far) = (format!("u{k}"), format!("dl{k}"), format!("dr{k}"));
        sw.ip(&["link", "set", &port, "nomaster"]);
        sw.ip(&["link", "add", &near, "type", "veth", "peer", "name", &far]);
        sw.ip(&["link", "set", &near, "master", "wanbr", "up"]);
        sw.ip(&["link", "set", &far, "up"]);
        delay::DelayLine::start(sw, &port, &far, rtt / 2)
    }

    /// Waits until every VLAN's agency host reaches its upstream host through the gateway.
    pub fn wait_reachable(&self, vids: &[u16]) {
        for &vid in vids {
            let h = self.vlan(vid);
            traffic::wait_reachable(&h.agency_side, h.upstream_ip);
        }
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
    }
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

/// An HTTP GET from inside a namespace (e.g. to a daemon listening on its loopback):
/// (status code, body).
pub fn http_get(ns: &Netns, addr: &str, target: &str) -> std::io::Result<(u16, String)> {
    use std::io::{Read, Write};
    let (addr, target) = (addr.to_string(), target.to_string());
    ns.enter(move || {
        let mut s = std::net::TcpStream::connect(&addr)?;
        s.set_read_timeout(Some(Duration::from_secs(10)))?;
        write!(
            s,
            "GET {target} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
        )?;
        let mut raw = Vec::new();
        s.read_to_end(&mut raw)?;
        let text = String::from_utf8_lossy(&raw).into_owned();
        let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
        let code = head
            .split_whitespace()
            .nth(1)
            .and_then(|c| c.parse().ok())
            .unwrap_or(0);
        // Chunked bodies (Prometheus's API) are decoded; others are returned as they are.
        let body = if head
            .to_ascii_lowercase()
            .contains("transfer-encoding: chunked")
        {
            dechunk(body)
        } else {
            body.to_string()
        };
        Ok((code, body))
    })
}

fn dechunk(mut body: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = body.split_once("\r\n") {
        let Ok(n) = usize::from_str_radix(size.trim(), 16) else {
            break;
        };
        if n == 0 || rest.len() < n {
            break;
        }
        out.push_str(&rest[..n]);
        body = rest[n..].trim_start_matches("\r\n");
    }
    out
}

/// Percent-encodes a URL query value.
pub fn url_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// A scratch directory removed when dropped.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let p = std::env::temp_dir().join(format!("opd-{}-{n}-{tag}", std::process::id()));
        std::fs::create_dir_all(&p).expect("create a temp dir");
        TempDir(p)
    }

    pub fn write(&self, name: &str, text: &str) -> PathBuf {
        let p = self.0.join(name);
        std::fs::write(&p, text).expect("write a temp file");
        p
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0); // best effort: a scratch dir in /tmp
    }
}
