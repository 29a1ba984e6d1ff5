//! TCP transfers across a simulated network, the traffic offices really have: a server on
//! an upstream host that sends whatever it is asked for, and clients on agency hosts that
//! fetch and time it — one file at a time, or web-like browsing (on/off transfers of
//! heavy-tailed sizes with think times between them). Unlike UDP floods, these senders
//! answer drops: they offer only what they are allowed.

use std::{
    io::{self, Read, Write},
    net::{SocketAddrV4, TcpListener, TcpStream},
    os::fd::AsRawFd,
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    thread::JoinHandle,
    time::{Duration, Instant},
};

use crate::{Netns, Process, SimNetwork, sh};

/// The TCP port transfer servers listen on.
pub const TRANSFER_PORT: u16 = 5301;

/// Sets a socket's congestion control ("cubic", "bbr", "reno").
pub fn set_congestion_control(s: &impl AsRawFd, name: &str) -> io::Result<()> {
    // SAFETY: a string option of the length given, on a socket the caller owns.
    let r = unsafe {
        libc::setsockopt(
            s.as_raw_fd(),
            libc::IPPROTO_TCP,
            libc::TCP_CONGESTION,
            name.as_ptr().cast(),
            name.len() as libc::socklen_t,
        )
    };
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

/// A server that sends each client the number of bytes it asks for (8 bytes, big-endian),
/// then closes. Runs on threads in its namespace until dropped.
pub struct Server {
    stop: Arc<AtomicBool>,
    listener: Option<JoinHandle<()>>,
    /// Bytes sent so far, over all connections.
    pub sent: Arc<AtomicU64>,
}

impl Server {
    /// Serves on `addr` inside `ns`, sending with the congestion control `congestion`.
    pub fn start(ns: &Netns, addr: SocketAddrV4, congestion: &'static str) -> Server {
        let stop = Arc::new(AtomicBool::new(false));
        let sent = Arc::new(AtomicU64::new(0));
        let (stop2, sent2) = (stop.clone(), sent.clone());
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let listener = ns.spawn(move || {
            let listener = TcpListener::bind(addr)
                .unwrap_or_else(|e| panic!("transfer server cannot listen on {addr}: {e}"));
            listener
                .set_nonblocking(true)
                .expect("non-blocking listener");
            ready_tx.send(()).expect("the starter waits");
            while !stop2.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((stream, _)) => {
                        let sent = sent2.clone();
                        std::thread::spawn(move || {
                            // A client that went away is no failure of the server.
                            let _ = serve(stream, congestion, &sent);
                        });
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                        std::thread::sleep(Duration::from_millis(2))
                    }
                    Err(e) => panic!("transfer server on {addr}: {e}"),
                }
            }
        });
        ready_rx
            .recv_timeout(Duration::from_secs(10))
            .unwrap_or_else(|_| panic!("transfer server on {addr} did not start"));
        Server {
            stop,
            listener: Some(listener),
            sent,
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.listener.take()
            && t.join().is_err()
            && !std::thread::panicking()
        {
            panic!("the transfer server failed");
        }
    }
}

fn serve(mut stream: TcpStream, congestion: &str, sent: &AtomicU64) -> io::Result<()> {
    set_congestion_control(&stream, congestion)?;
    stream.set_nonblocking(false)?;
    stream.set_nodelay(true)?;
    let mut ask = [0u8; 8];
    stream.read_exact(&mut ask)?;
    let mut left = u64::from_be_bytes(ask);
    let chunk = [0x5Au8; 64 * 1024];
    while left > 0 {
        let n = left.min(chunk.len() as u64) as usize;
        stream.write_all(&chunk[..n])?;
        sent.fetch_add(n as u64, Ordering::Relaxed);
        left -= n as u64;
    }
    stream.shutdown(std::net::Shutdown::Write)
}

/// Fetches `bytes` from a transfer server, on the calling thread (which must be in the
/// client's namespace): the time from the first byte of the connection to the last byte of
/// the data.
pub fn fetch(server: SocketAddrV4, bytes: u64, limit: Duration) -> io::Result<Duration> {
    let start = Instant::now();
    let mut s = TcpStream::connect_timeout(&server.into(), limit)?;
    s.set_read_timeout(Some(limit))?;
    s.write_all(&bytes.to_be_bytes())?;
    let mut buf = vec![0u8; 256 * 1024];
    let mut got = 0u64;
    while got < bytes {
        match s.read(&mut buf)? {
            0 => {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    format!("the server closed after {got} of {bytes} bytes"),
                ));
            }
            n => got += n as u64,
        }
        if start.elapsed() > limit {
            return Err(io::Error::new(
                io::ErrorKind::TimedOut,
                format!("{got} of {bytes} bytes in {limit:?}"),
            ));
        }
    }
    Ok(start.elapsed())
}

/// One finished fetch of a browsing user.
#[derive(Clone, Copy, Debug)]
pub struct Fetched {
    /// When it started, from the start of the browsing.
    pub at: Duration,
    pub bytes: u64,
    pub took: Duration,
}

/// Web-like use of one user: fetch, think, fetch again, until `duration` is over.
#[derive(Clone, Copy, Debug)]
pub struct Browsing {
    /// Page and file sizes: Pareto with this minimum and shape (heavy-tailed: most are
    /// small, a few are large), cut at `max_bytes`.
    pub min_bytes: u64,
    pub shape: f64,
    pub max_bytes: u64,
    /// Think time between fetches: exponential with this mean.
    pub think: Duration,
    pub duration: Duration,
    /// The sizes and think times drawn, for the same sequence in every run and peer.
    pub seed: u64,
}

impl Browsing {
    /// The sequence of (think time before, size) this user goes through.
    pub fn plan(&self) -> impl Iterator<Item = (Duration, u64)> + use<> {
        let mut rng = self.seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
        let mut unit = move || {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            // (0, 1]: never 0, so logarithms and powers stay finite.
            ((rng >> 11) as f64 + 1.0) / (1u64 << 53) as f64
        };
        let b = *self;
        std::iter::from_fn(move || {
            let think = b.think.mul_f64(-unit().ln());
            let size = (b.min_bytes as f64 / unit().powf(1.0 / b.shape)).min(b.max_bytes as f64);
            Some((think, size as u64))
        })
    }

    /// Runs the browsing on a thread inside `ns` against `server`; the thread returns every
    /// fetch that finished, and fails loudly on one that did not.
    pub fn start(&self, ns: &Netns, server: SocketAddrV4) -> JoinHandle<Vec<Fetched>> {
        let b = *self;
        ns.spawn(move || {
            let begin = Instant::now();
            let mut done = Vec::new();
            for (think, bytes) in b.plan() {
                std::thread::sleep(think);
                let at = begin.elapsed();
                if at >= b.duration {
                    break;
                }
                let took = fetch(server, bytes, Duration::from_secs(60))
                    .unwrap_or_else(|e| panic!("fetch of {bytes} bytes from {server}: {e}"));
                done.push(Fetched { at, bytes, took });
            }
            done
        })
    }
}

/// What iperf3 measured of one agency's downloads.
#[derive(Clone, Debug)]
pub struct Downloaded {
    /// Goodput per reporting interval, bits/s.
    pub bins: Vec<f64>,
    /// Goodput over the whole run, bits/s.
    pub goodput: f64,
    /// Segments the senders resent.
    pub resent: u64,
}

/// `flows` CUBIC downloads by each of the VLANs `vids` at once, for `seconds`, from their
/// upstream hosts (iperf3 in reverse), goodput reported every `interval`.
pub fn iperf_downloads(
    net: &SimNetwork,
    vids: &[u16],
    flows: usize,
    seconds: u64,
    interval: Duration,
) -> Vec<Downloaded> {
    let servers: Vec<Process> = vids
        .iter()
        .map(|&vid| {
            let h = net.vlan(vid);
            let mut c = h.upstream_side.command("iperf3");
            c.args(["-s", "-1", "-B", &h.upstream_ip.to_string()])
                .stdout(std::process::Stdio::null());
            Process::spawn(c, "iperf3 server")
        })
        .collect();
    std::thread::sleep(Duration::from_millis(300));
    let clients: Vec<_> = vids
        .iter()
        .map(|&vid| {
            let h = net.vlan(vid);
            let mut c = h.agency_side.command("iperf3");
            c.args(["-c", &h.upstream_ip.to_string(), "-R", "-J", "-C", "cubic"])
                .args(["-i", &interval.as_secs_f64().to_string()])
                .args(["-P", &flows.to_string(), "-t", &seconds.to_string()]);
            std::thread::spawn(move || sh(&mut c))
        })
        .collect();
    let got = clients
        .into_iter()
        .map(|c| {
            let out = c.join().expect("iperf3 client");
            let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("iperf3 JSON");
            Downloaded {
                bins: json["intervals"]
                    .as_array()
                    .expect("iperf3 intervals")
                    .iter()
                    .map(|i| i["sum"]["bits_per_second"].as_f64().unwrap_or(0.0))
                    .collect(),
                goodput: json["end"]["sum_received"]["bits_per_second"]
                    .as_f64()
                    .expect("end.sum_received.bits_per_second"),
                resent: json["end"]["sum_sent"]["retransmits"].as_u64().unwrap_or(0),
            }
        })
        .collect();
    drop(servers);
    got
}

/// TCP segments a namespace's hosts sent again so far (the kernel's RetransSegs), read on
/// the calling thread, which must be in that namespace.
pub fn retransmitted_segments() -> u64 {
    let snmp = std::fs::read_to_string("/proc/thread-self/net/snmp")
        .expect("read /proc/thread-self/net/snmp");
    let mut tcp = snmp.lines().filter(|l| l.starts_with("Tcp:"));
    let (names, values) = (tcp.next(), tcp.next());
    let (Some(names), Some(values)) = (names, values) else {
        panic!("no Tcp lines in /proc/net/snmp");
    };
    names
        .split_whitespace()
        .zip(values.split_whitespace())
        .find(|(n, _)| *n == "RetransSegs")
        .and_then(|(_, v)| v.parse().ok())
        .expect("RetransSegs in /proc/net/snmp")
}

/// The `q`-quantile (0–1) of a sample, by nearest rank.
pub fn quantile(sorted: &[f64], q: f64) -> f64 {
    assert!(!sorted.is_empty(), "a quantile of nothing");
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn browsing_sizes_are_heavy_tailed_and_repeatable() {
        let b = Browsing {
            min_bytes: 20_000,
            shape: 1.2,
            max_bytes: 8_000_000,
            think: Duration::from_millis(500),
            duration: Duration::from_secs(60),
            seed: 7,
        };
        let a: Vec<(Duration, u64)> = b.plan().take(2000).collect();
        assert_eq!(a, b.plan().take(2000).collect::<Vec<_>>());
        let mut sizes: Vec<f64> = a.iter().map(|&(_, s)| s as f64).collect();
        sizes.sort_by(f64::total_cmp);
        let median = quantile(&sizes, 0.5);
        // Pareto(20 kB, 1.2): median 20 kB × 2^(1/1.2) ≈ 35.6 kB; a tail past 1 MB.
        assert!((30_000.0..42_000.0).contains(&median), "median {median}");
        assert!(sizes[sizes.len() - 1] > 1_000_000.0);
        let think: f64 = a.iter().map(|&(t, _)| t.as_secs_f64()).sum::<f64>() / a.len() as f64;
        assert!((0.45..0.55).contains(&think), "mean think {think}");
    }
}
