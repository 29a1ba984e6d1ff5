//! A delay line for simulated networks: this kernel has no netem, so a relay holds every
//! frame between two interfaces for a set time, in user space, through AF_PACKET sockets.
//!
//! Each direction has a receiving thread, which stamps frames with the time they are due,
//! and a sending thread, which waits until then. The delay is the same for every frame, so
//! order is kept. Tags the stack keeps beside a frame (802.1Q offload) are put back into
//! the frame before it is sent on.

use std::{
    io,
    mem::{size_of, zeroed},
    os::fd::{AsRawFd, FromRawFd, OwnedFd},
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicU64, Ordering},
        mpsc,
    },
    thread::JoinHandle,
    time::{Duration, Instant},
};

use crate::{Netns, SimNetwork};

/// Frames relayed, and frames the relay itself lost: sends that failed, frames the
/// receiving sockets dropped (buffer full), frames too long for the buffer.
#[derive(Debug, Default)]
pub struct RelayCounts {
    pub relayed: AtomicU64,
    pub send_errors: AtomicU64,
    pub receive_drops: AtomicU64,
    pub truncated: AtomicU64,
}

impl RelayCounts {
    /// Every frame the relay lost.
    pub fn lost(&self) -> u64 {
        self.send_errors.load(Ordering::Relaxed)
            + self.receive_drops.load(Ordering::Relaxed)
            + self.truncated.load(Ordering::Relaxed)
    }
}

/// A running delay line between two interfaces of one namespace; stops when dropped.
pub struct DelayLine {
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
    counts: Arc<RelayCounts>,
}

/// A packet socket on `ifname`: receiving every frame, or (`receive` false) only sending.
fn packet_socket(ifname: &str, receive: bool) -> io::Result<(OwnedFd, i32)> {
    let proto = if receive {
        (libc::ETH_P_ALL as u16).to_be()
    } else {
        0
    };
    // SAFETY: plain socket creation; the result is checked.
    let fd = unsafe { libc::socket(libc::AF_PACKET, libc::SOCK_RAW, proto as i32) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `fd` is a fresh descriptor we own.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    let name = std::ffi::CString::new(ifname).expect("interface name");
    // SAFETY: a NUL-terminated name.
    let ifindex = unsafe { libc::if_nametoindex(name.as_ptr()) } as i32;
    if ifindex == 0 {
        return Err(io::Error::new(
            io::ErrorKind::NotFound,
            format!("no interface {ifname}"),
        ));
    }
    let set = |level, option, value| crate::traffic::set_int_option(&fd, level, option, value);
    // The frames we send are not ours to relay back; the tag the stack took off comes back
    // in the auxiliary data; a deep buffer so a busy CPU does not drop frames here.
    set(libc::SOL_PACKET, libc::PACKET_IGNORE_OUTGOING, 1)?;
    set(libc::SOL_PACKET, libc::PACKET_AUXDATA, 1)?;
    set(libc::SOL_SOCKET, libc::SO_RCVBUFFORCE, 16 << 20)?;
    set(libc::SOL_SOCKET, libc::SO_SNDBUFFORCE, 16 << 20)?;
    let tv = libc::timeval {
        tv_sec: 0,
        tv_usec: 100_000,
    };
    // SAFETY: a timeval option on our own socket.
    let r = unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_RCVTIMEO,
            &tv as *const libc::timeval as *const libc::c_void,
            size_of::<libc::timeval>() as u32,
        )
    };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: zeroed is a valid sockaddr_ll.
    let mut sll: libc::sockaddr_ll = unsafe { zeroed() };
    sll.sll_family = libc::AF_PACKET as u16;
    sll.sll_protocol = proto;
    sll.sll_ifindex = ifindex;
    // SAFETY: a sockaddr_ll of the right size.
    let r = unsafe {
        libc::bind(
            fd.as_raw_fd(),
            &sll as *const libc::sockaddr_ll as *const libc::sockaddr,
            size_of::<libc::sockaddr_ll>() as u32,
        )
    };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok((fd, ifindex))
}

/// What a receive got.
enum Received {
    /// A frame of this many bytes (tag restored) at the start of the buffer.
    Frame(usize),
    /// A frame longer than the buffer.
    Truncated,
    Nothing,
}

/// Frames the kernel dropped on this socket since the last call (its buffer was full).
fn socket_drops(fd: &OwnedFd) -> u64 {
    // SAFETY: zeroed is a valid tpacket_stats.
    let mut st: libc::tpacket_stats = unsafe { zeroed() };
    let mut len = size_of::<libc::tpacket_stats>() as libc::socklen_t;
    // SAFETY: a struct of the size given, on our own socket.
    let r = unsafe {
        libc::getsockopt(
            fd.as_raw_fd(),
            libc::SOL_PACKET,
            libc::PACKET_STATISTICS,
            &mut st as *mut libc::tpacket_stats as *mut libc::c_void,
            &mut len,
        )
    };
    if r < 0 { 0 } else { st.tp_drops as u64 }
}

/// Receives one frame into `buf`, restoring a tag the stack kept beside it.
fn receive(fd: &OwnedFd, buf: &mut [u8]) -> Received {
    let mut cmsg = [0u64; 16];
    let mut iov = libc::iovec {
        iov_base: buf[4..].as_mut_ptr() as *mut libc::c_void,
        iov_len: buf.len() - 4,
    };
    // SAFETY: zeroed is a valid msghdr; its pointers are set below.
    let mut msg: libc::msghdr = unsafe { zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = cmsg.as_mut_ptr() as *mut libc::c_void;
    msg.msg_controllen = size_of::<[u64; 16]>();
    // SAFETY: the buffers outlive the call.
    let n = unsafe { libc::recvmsg(fd.as_raw_fd(), &mut msg, libc::MSG_TRUNC) };
    if n < 14 {
        return Received::Nothing;
    }
    let n = n as usize;
    if n > buf.len() - 4 {
        return Received::Truncated;
    }
    // SAFETY: walking the control messages the kernel wrote into our buffer.
    let mut tag = None;
    unsafe {
        let mut c = libc::CMSG_FIRSTHDR(&msg);
        while !c.is_null() {
            if (*c).cmsg_level == libc::SOL_PACKET && (*c).cmsg_type == libc::PACKET_AUXDATA {
                let aux =
                    std::ptr::read_unaligned(libc::CMSG_DATA(c) as *const libc::tpacket_auxdata);
                if aux.tp_status & libc::TP_STATUS_VLAN_VALID != 0 {
                    let tpid = if aux.tp_status & libc::TP_STATUS_VLAN_TPID_VALID != 0 {
                        aux.tp_vlan_tpid
                    } else {
                        0x8100
                    };
                    tag = Some((tpid, aux.tp_vlan_tci));
                }
            }
            c = libc::CMSG_NXTHDR(&msg, c);
        }
    }
    match tag {
        None => {
            buf.copy_within(4..4 + n, 0);
            Received::Frame(n)
        }
        Some((tpid, tci)) => {
            // Addresses move 4 bytes forward; the tag goes between them and the EtherType.
            buf.copy_within(4..16, 0);
            buf[12..14].copy_from_slice(&tpid.to_be_bytes());
            buf[14..16].copy_from_slice(&tci.to_be_bytes());
            Received::Frame(n + 4)
        }
    }
}

impl DelayLine {
    /// Relays every frame between `a` and `b` (interfaces of `ns`), each held for `delay`.
    pub fn start(ns: &Netns, a: &str, b: &str, delay: Duration) -> DelayLine {
        let stop = Arc::new(AtomicBool::new(false));
        let counts = Arc::new(RelayCounts::default());
        // Every socket first, so a failure leaves no thread behind.
        let sockets = ns.enter(|| {
            [(a, b), (b, a)].map(|(from, to)| {
                let rx = packet_socket(from, true)
                    .unwrap_or_else(|e| panic!("delay line: socket on {from}: {e}"));
                let tx = packet_socket(to, false)
                    .unwrap_or_else(|e| panic!("delay line: socket on {to}: {e}"));
                (rx, tx)
            })
        });
        let mut threads = Vec::new();
        for (rx, tx) in sockets {
            let (queue, held) = mpsc::channel::<(Instant, Vec<u8>)>();
            let (s, c) = (stop.clone(), counts.clone());
            threads.push(std::thread::spawn(move || {
                let mut buf = vec![0u8; 65536 + 4];
                socket_drops(&rx.0); // start counting from here
                while !s.load(Ordering::Relaxed) {
                    match receive(&rx.0, &mut buf) {
                        Received::Frame(n) => {
                            let _ = queue.send((Instant::now() + delay, buf[..n].to_vec()));
                        }
                        Received::Truncated => {
                            c.truncated.fetch_add(1, Ordering::Relaxed);
                        }
                        Received::Nothing => {}
                    }
                }
                c.receive_drops
                    .fetch_add(socket_drops(&rx.0), Ordering::Relaxed);
            }));
            let (s, c) = (stop.clone(), counts.clone());
            threads.push(std::thread::spawn(move || {
                let (fd, ifindex) = tx;
                // SAFETY: zeroed is a valid sockaddr_ll.
                let mut sll: libc::sockaddr_ll = unsafe { zeroed() };
                sll.sll_family = libc::AF_PACKET as u16;
                sll.sll_ifindex = ifindex;
                sll.sll_halen = 6;
                while !s.load(Ordering::Relaxed) {
                    let Ok((due, frame)) = held.recv_timeout(Duration::from_millis(100)) else {
                        continue;
                    };
                    sll.sll_protocol = u16::from_ne_bytes([frame[12], frame[13]]);
                    let now = Instant::now();
                    if due > now {
                        std::thread::sleep(due - now);
                    }
                    // SAFETY: the frame and the address outlive the call.
                    let r = unsafe {
                        libc::sendto(
                            fd.as_raw_fd(),
                            frame.as_ptr() as *const libc::c_void,
                            frame.len(),
                            0,
                            &sll as *const libc::sockaddr_ll as *const libc::sockaddr,
                            size_of::<libc::sockaddr_ll>() as u32,
                        )
                    };
                    if r < 0 {
                        c.send_errors.fetch_add(1, Ordering::Relaxed);
                    } else {
                        c.relayed.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }));
        }
        DelayLine {
            stop,
            threads,
            counts,
        }
    }
}

impl DelayLine {
    /// Stops the relay and returns its counts: frames relayed and frames it lost.
    pub fn finish(mut self) -> (u64, u64) {
        self.stop_threads();
        (
            self.counts.relayed.load(Ordering::Relaxed),
            self.counts.lost(),
        )
    }

    fn stop_threads(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

impl Drop for DelayLine {
    fn drop(&mut self) {
        self.stop_threads();
    }
}

impl SimNetwork {
    /// Puts a delay line between VLAN `vid`'s upstream host and the upstream switch, so
    /// that everything to and from that host takes `rtt` longer (half each way). For the
    /// rest of this network's life that host is reached only through the relay (its veths
    /// go with the switch namespace).
    pub fn delay_upstream(&self, vid: u16, rtt: Duration) -> DelayLine {
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
        DelayLine::start(sw, &port, &far, rtt / 2)
    }
}
