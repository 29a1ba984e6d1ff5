//! Traffic across a simulated network: UDP floods on one VLAN in one direction, phase by
//! phase, with a receiver timestamping what arrives at the far end (see [`crate::traffic`]
//! for the floods and the receiver themselves).

use std::time::{Duration, Instant};

use crate::{SimNetwork, traffic};

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

    /// Waits until every VLAN's agency host reaches its upstream host through the gateway.
    pub fn wait_reachable(&self, vids: &[u16]) {
        for &vid in vids {
            let h = self.vlan(vid);
            traffic::wait_reachable(&h.agency_side, h.upstream_ip);
        }
    }
}
