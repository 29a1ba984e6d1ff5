//! Real traffic between simulated hosts: paced UDP floods and a receiver that timestamps
//! every datagram, so a delivered rate can be measured over any window.

use std::{
    net::{SocketAddrV4, UdpSocket},
    os::fd::AsRawFd,
    thread::JoinHandle,
    time::{Duration, Instant},
};

use crate::Netns;

/// Ethernet (14) + 802.1Q tag (4) + IPv4 (20) + UDP (8): what the gateway counts on top of
/// a datagram's payload.
pub const TAGGED_OVERHEAD: usize = 46;

/// A paced UDP flood.
#[derive(Clone, Debug)]
pub struct Flood {
    pub to: SocketAddrV4,
    pub payload: usize,
    /// Target rate counted as the gateway counts it: whole tagged frames, bits/s.
    pub frame_bits_per_second: f64,
    pub duration: Duration,
    /// Pin the sending thread to this CPU.
    pub cpu: Option<usize>,
    /// Wait this long before sending.
    pub delay: Duration,
}

#[derive(Debug, Default, Clone)]
pub struct FloodReport {
    pub sent: u64,
    pub send_errors: u64,
    /// When each datagram left: a gap at the receiver only counts where the sender sent.
    pub times: Vec<Instant>,
}

impl FloodReport {
    /// Datagrams sent in `[from, to)`.
    pub fn sent_between(&self, from: Instant, to: Instant) -> usize {
        self.times
            .iter()
            .filter(|t| **t >= from && **t < to)
            .count()
    }
}

impl Flood {
    pub fn frame_bytes(&self) -> usize {
        self.payload + TAGGED_OVERHEAD
    }

    /// Starts the flood from a thread inside `ns`.
    pub fn start(&self, ns: &Netns) -> JoinHandle<FloodReport> {
        let spec = self.clone();
        ns.spawn(move || spec.run())
    }

    fn run(&self) -> FloodReport {
        if let Some(cpu) = self.cpu {
            let mut set = nix::sched::CpuSet::new();
            set.set(cpu).expect("cpu index");
            nix::sched::sched_setaffinity(nix::unistd::Pid::from_raw(0), &set)
                .unwrap_or_else(|e| panic!("pin the sender to CPU {cpu}: {e}"));
        }
        std::thread::sleep(self.delay);
        let sock = UdpSocket::bind("0.0.0.0:0").expect("bind a UDP sender");
        let payload = vec![0x5Au8; self.payload];
        let pps = self.frame_bits_per_second / 8.0 / self.frame_bytes() as f64;
        let start = Instant::now();
        let mut report = FloodReport::default();
        loop {
            let elapsed = start.elapsed();
            if elapsed >= self.duration {
                break;
            }
            let due = (elapsed.as_secs_f64() * pps) as u64;
            // Bounded batches, so an unpaced flood (rate beyond what the host can send)
            // still notices the end of its duration.
            let mut batch = 0;
            while report.sent + report.send_errors < due && batch < 4096 {
                batch += 1;
                match sock.send_to(&payload, self.to) {
                    Ok(_) => {
                        report.sent += 1;
                        report.times.push(Instant::now());
                    }
                    Err(_) => report.send_errors += 1,
                }
            }
            if report.sent + report.send_errors >= due {
                std::thread::sleep(Duration::from_micros(200));
            }
        }
        report
    }
}

/// Arrival times of the datagrams one socket received.
pub struct Arrivals {
    pub times: Vec<Instant>,
    pub payload: usize,
}

impl Arrivals {
    /// Delivered rate in bits/s of whole tagged frames in consecutive bins of `bin` over
    /// `[from, to)`.
    pub fn binned_rates(&self, from: Instant, to: Instant, bin: Duration) -> Vec<f64> {
        let mut out = Vec::new();
        let mut t = from;
        while t + bin <= to {
            out.push(self.frame_rate(t, t + bin));
            t += bin;
        }
        out
    }

    /// The lowest delivered rate (bits/s) over `bin`-long bins of `[from, to)` in which the
    /// sender sent at least half of what it sends in a bin on average: a bin where the host
    /// itself stalled (nothing sent) says nothing about the gateway.
    pub fn lowest_rate_while_sending(
        &self,
        sender: &FloodReport,
        from: Instant,
        to: Instant,
        bin: Duration,
    ) -> f64 {
        let bins = ((to - from).as_secs_f64() / bin.as_secs_f64()) as u32;
        let expected = sender.sent_between(from, to) as f64 / bins.max(1) as f64;
        (0..bins)
            .map(|k| (from + bin * k, from + bin * (k + 1)))
            .filter(|&(a, b)| sender.sent_between(a, b) as f64 >= expected / 2.0)
            .map(|(a, b)| self.frame_rate(a, b))
            .fold(f64::INFINITY, f64::min)
    }

    /// Delivered rate in bits/s of whole tagged frames, over `[from, to)`.
    pub fn frame_rate(&self, from: Instant, to: Instant) -> f64 {
        let n = self
            .times
            .iter()
            .filter(|t| **t >= from && **t < to)
            .count();
        n as f64 * (self.payload + TAGGED_OVERHEAD) as f64 * 8.0 / (to - from).as_secs_f64()
    }
}

/// Receives on `bind` inside `ns` until `until`, timestamping each datagram.
pub fn receive(
    ns: &Netns,
    bind: SocketAddrV4,
    payload: usize,
    until: Instant,
) -> JoinHandle<Arrivals> {
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    let handle = ns.spawn(move || {
        let sock = UdpSocket::bind(bind).unwrap_or_else(|e| panic!("bind {bind}: {e}"));
        // A large buffer so the receiver never loses what the gateway delivered; arrival
        // times from the kernel (when the datagram reached the socket), so a receiving
        // thread that was not scheduled for a while does not shift them.
        for (option, value) in [(libc::SO_RCVBUFFORCE, 8 << 20), (libc::SO_TIMESTAMPNS, 1)] {
            set_int_option(&sock, libc::SOL_SOCKET, option, value)
                .unwrap_or_else(|e| panic!("receiver socket option {option}: {e}"));
        }
        sock.set_read_timeout(Some(Duration::from_millis(50)))
            .unwrap();
        ready_tx.send(()).unwrap();
        let mut buf = vec![0u8; 65536];
        let mut times = Vec::with_capacity(1 << 16);
        while Instant::now() < until {
            if let Some((n, at)) = recv_stamped(&sock, &mut buf)
                && n == payload
            {
                times.push(at);
            }
        }
        Arrivals { times, payload }
    });
    ready_rx.recv().expect("receiver started");
    handle
}

/// One datagram and the moment the kernel received it (SCM_TIMESTAMPNS, wall clock),
/// mapped onto `Instant`; the moment of reading where the kernel gave none.
fn recv_stamped(sock: &UdpSocket, buf: &mut [u8]) -> Option<(usize, Instant)> {
    let mut iov = libc::iovec {
        iov_base: buf.as_mut_ptr().cast(),
        iov_len: buf.len(),
    };
    let mut control = [0u64; 16];
    // SAFETY: zeroed msghdr with valid pointers to the buffers above.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.as_mut_ptr().cast();
    msg.msg_controllen = size_of_val(&control);
    // SAFETY: a valid socket and message header.
    let n = unsafe { libc::recvmsg(sock.as_raw_fd(), &mut msg, 0) };
    if n < 0 {
        return None;
    }
    let now = Instant::now();
    let mut at = now;
    // SAFETY: walking the control messages the kernel wrote into `control`.
    unsafe {
        let mut c = libc::CMSG_FIRSTHDR(&msg);
        while !c.is_null() {
            if (*c).cmsg_level == libc::SOL_SOCKET && (*c).cmsg_type == libc::SCM_TIMESTAMPNS {
                let ts = std::ptr::read_unaligned(libc::CMSG_DATA(c) as *const libc::timespec);
                let stamped = Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32);
                let wall = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .unwrap_or_default();
                at = now.checked_sub(wall.saturating_sub(stamped)).unwrap_or(now);
            }
            c = libc::CMSG_NXTHDR(&msg, c);
        }
    }
    Some((n as usize, at))
}

/// Waits until `ns` can reach `ip` (ARP resolved through the gateway), bounded.
pub fn wait_reachable(ns: &Netns, ip: std::net::Ipv4Addr) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let ok = ns
            .command("ping")
            .args(["-c", "1", "-W", "1", &ip.to_string()])
            .output()
            .map(|o| o.status.success())
            .unwrap_or(false);
        if ok {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{ip} is not reachable from {} within 10 s",
            ns.name()
        );
    }
}

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

/// What [`blast`] sent: frames the socket took, and sends it refused (its buffer full).
#[derive(Debug, Default, Clone, Copy)]
pub struct Blasted {
    pub sent: u64,
    pub refused: u64,
}

/// Sends `frames` in turn, round after round, out of `ifname` inside `ns` for `duration`,
/// as fast as the host can, through an AF_PACKET socket that bypasses the qdisc: raw frames
/// that carry their own tags and addresses, e.g. of many hosts no namespace has.
pub fn blast(
    ns: &Netns,
    ifname: &str,
    frames: Vec<Vec<u8>>,
    duration: Duration,
) -> JoinHandle<Blasted> {
    assert!(!frames.is_empty(), "nothing to send");
    let ifname = ifname.to_string();
    ns.spawn(move || {
        let fd = raw_sender(&ifname).unwrap_or_else(|e| panic!("AF_PACKET on {ifname}: {e}"));
        // Batches of up to 64 frames per system call.
        const BATCH: usize = 64;
        let mut iovs: Vec<libc::iovec> = frames
            .iter()
            .map(|f| libc::iovec {
                iov_base: f.as_ptr() as *mut _,
                iov_len: f.len(),
            })
            .collect();
        let mut report = Blasted::default();
        let (start, mut next) = (Instant::now(), 0usize);
        while start.elapsed() < duration {
            // SAFETY: zeroed headers are valid; each points at one iovec of `iovs`, which
            // outlives the call.
            let mut msgs: [libc::mmsghdr; BATCH] = unsafe { std::mem::zeroed() };
            for m in msgs.iter_mut() {
                m.msg_hdr.msg_iov = &mut iovs[next];
                m.msg_hdr.msg_iovlen = 1;
                next = (next + 1) % frames.len();
            }
            // SAFETY: a socket we own and `BATCH` valid message headers.
            let n = unsafe { libc::sendmmsg(fd.as_raw_fd(), msgs.as_mut_ptr(), BATCH as _, 0) };
            if n < 0 {
                report.refused += BATCH as u64;
                std::thread::yield_now();
            } else {
                report.sent += n as u64;
                report.refused += (BATCH - n as usize) as u64;
            }
        }
        report
    })
}

/// A packet socket bound to `ifname` for sending only, past the qdisc.
fn raw_sender(ifname: &str) -> std::io::Result<std::os::fd::OwnedFd> {
    use std::os::fd::FromRawFd;
    // SAFETY: plain socket creation; the result is checked.
    let fd = unsafe { libc::socket(libc::AF_PACKET, libc::SOCK_RAW, 0) };
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: a fresh descriptor we own.
    let fd = unsafe { std::os::fd::OwnedFd::from_raw_fd(fd) };
    let name = std::ffi::CString::new(ifname).expect("interface name");
    // SAFETY: a NUL-terminated name.
    let ifindex = unsafe { libc::if_nametoindex(name.as_ptr()) } as i32;
    if ifindex == 0 {
        return Err(std::io::Error::new(
            std::io::ErrorKind::NotFound,
            format!("no interface {ifname}"),
        ));
    }
    set_int_option(&fd, libc::SOL_PACKET, libc::PACKET_QDISC_BYPASS, 1)?;
    set_int_option(&fd, libc::SOL_SOCKET, libc::SO_SNDBUFFORCE, 4 << 20)?;
    // SAFETY: a zeroed sockaddr_ll is valid; family and interface set below.
    let mut sll: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
    sll.sll_family = libc::AF_PACKET as u16;
    sll.sll_ifindex = ifindex;
    // SAFETY: a valid address of the size given, on a socket we own.
    let r = unsafe {
        libc::bind(
            fd.as_raw_fd(),
            (&sll as *const libc::sockaddr_ll).cast(),
            size_of::<libc::sockaddr_ll>() as libc::socklen_t,
        )
    };
    if r < 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(fd)
}
