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

#[derive(Debug, Default, Clone, Copy)]
pub struct FloodReport {
    pub sent: u64,
    pub send_errors: u64,
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
                    Ok(_) => report.sent += 1,
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
        // A large buffer so the receiver never loses what the gateway delivered.
        let size: libc::c_int = 8 << 20;
        // SAFETY: a valid socket and option value.
        unsafe {
            libc::setsockopt(
                sock.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_RCVBUFFORCE,
                (&size as *const libc::c_int).cast(),
                size_of::<libc::c_int>() as u32,
            )
        };
        sock.set_read_timeout(Some(Duration::from_millis(50)))
            .unwrap();
        ready_tx.send(()).unwrap();
        let mut buf = vec![0u8; 65536];
        let mut times = Vec::with_capacity(1 << 16);
        while Instant::now() < until {
            if let Ok(n) = sock.recv(&mut buf)
                && n == payload
            {
                times.push(Instant::now());
            }
        }
        Arrivals { times, payload }
    });
    ready_rx.recv().expect("receiver started");
    handle
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
