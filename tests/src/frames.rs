//! Crafted Ethernet frames for BPF_PROG_TEST_RUN tests and benchmarks.

/// Ethertypes and tag protocol ids.
pub const IPV4: u16 = 0x0800;
pub const IPV6: u16 = 0x86DD;
pub const ARP: u16 = 0x0806;
pub const LLDP: u16 = 0x88CC;
pub const CTAG: u16 = 0x8100;
pub const STAG: u16 = 0x88A8;

pub const DST: [u8; 6] = [0x02, 0, 0, 0, 0, 0x02];
pub const SRC: [u8; 6] = [0x02, 0, 0, 0, 0, 0x01];
/// Nearest-bridge group address used by STP and LLDP.
pub const LINK_LOCAL: [u8; 6] = [0x01, 0x80, 0xC2, 0, 0, 0x0E];

/// A frame under construction.
#[derive(Clone, Debug)]
pub struct Frame {
    pub dst: [u8; 6],
    /// (TPID, VID) from the outermost tag in.
    pub tags: Vec<(u16, u16)>,
    pub ethertype: u16,
    pub payload: Vec<u8>,
}

impl Frame {
    pub fn new(ethertype: u16, payload: Vec<u8>) -> Frame {
        Frame {
            dst: DST,
            tags: Vec::new(),
            ethertype,
            payload,
        }
    }

    /// An IPv4/UDP frame with `len` bytes of UDP payload.
    pub fn ipv4_udp(len: usize) -> Frame {
        let total = 20 + 8 + len;
        let mut p = vec![
            0x45,
            0,
            (total >> 8) as u8,
            total as u8,
            0,
            0,
            0x40,
            0,
            64,
            17,
            0,
            0,
            198,
            18,
            1,
            1,
            198,
            18,
            1,
            2,
        ];
        p.extend_from_slice(&[
            0x30,
            0x39,
            0x13,
            0x88,
            ((8 + len) >> 8) as u8,
            (8 + len) as u8,
            0,
            0,
        ]);
        p.resize(total, 0xAB);
        Frame::new(IPV4, p)
    }

    /// An IPv6/UDP frame with `len` bytes of UDP payload.
    pub fn ipv6_udp(len: usize) -> Frame {
        let plen = 8 + len;
        let mut p = vec![0x60, 0, 0, 0, (plen >> 8) as u8, plen as u8, 17, 64];
        p.extend_from_slice(&[0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
        p.extend_from_slice(&[0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2]);
        p.extend_from_slice(&[0x30, 0x39, 0x13, 0x88, (plen >> 8) as u8, plen as u8, 0, 0]);
        p.resize(40 + plen, 0xCD);
        Frame::new(IPV6, p)
    }

    /// An IPv6 neighbour solicitation.
    pub fn ipv6_neighbour_solicitation() -> Frame {
        let mut f = Frame::ipv6_udp(16);
        f.payload[6] = 58; // ICMPv6
        f.payload[7] = 255;
        f.payload[40] = 135;
        f
    }

    pub fn arp() -> Frame {
        let mut p = vec![0, 1, 8, 0, 6, 4, 0, 1];
        p.extend_from_slice(&SRC);
        p.extend_from_slice(&[198, 18, 1, 1]);
        p.extend_from_slice(&[0; 6]);
        p.extend_from_slice(&[198, 18, 1, 2]);
        Frame::new(ARP, p)
    }

    pub fn lldp() -> Frame {
        let mut f = Frame::new(LLDP, vec![0x02, 0x07, 0x04, 2, 0, 0, 0, 0, 1, 0, 0]);
        f.dst = LINK_LOCAL;
        f
    }

    /// The same IP frame from `src` to `dst` (both IPv4 or both IPv6, as the frame is).
    /// The IPv4 header checksum is left as it was: the gateway does not check it.
    pub fn addrs(mut self, src: std::net::IpAddr, dst: std::net::IpAddr) -> Frame {
        use std::net::IpAddr::{V4, V6};
        match (src, dst) {
            (V4(s), V4(d)) => {
                assert_eq!(self.ethertype, IPV4, "IPv4 addresses for an IPv4 frame");
                self.payload[12..16].copy_from_slice(&s.octets());
                self.payload[16..20].copy_from_slice(&d.octets());
            }
            (V6(s), V6(d)) => {
                assert_eq!(self.ethertype, IPV6, "IPv6 addresses for an IPv6 frame");
                self.payload[8..24].copy_from_slice(&s.octets());
                self.payload[24..40].copy_from_slice(&d.octets());
            }
            _ => panic!("source and destination of one family"),
        }
        self
    }

    /// Adds a tag inside the existing ones.
    pub fn tag(mut self, tpid: u16, vid: u16) -> Frame {
        self.tags.push((tpid, vid));
        self
    }

    pub fn bytes(&self) -> Vec<u8> {
        let mut b = Vec::with_capacity(64 + self.payload.len());
        b.extend_from_slice(&self.dst);
        b.extend_from_slice(&SRC);
        for &(tpid, vid) in &self.tags {
            b.extend_from_slice(&tpid.to_be_bytes());
            // PCP 5 set, to prove it is masked off.
            b.extend_from_slice(&((5u16 << 13) | vid).to_be_bytes());
        }
        b.extend_from_slice(&self.ethertype.to_be_bytes());
        b.extend_from_slice(&self.payload);
        b
    }
}

/// How the gateway must treat a frame, decided independently of the XDP program from the
/// frame's bytes (the reference the program is tested against).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Expected {
    Malformed,
    Control,
    /// Tag stack read: (outer VID, inner VID) where present; `None` for untagged frames.
    Tagged {
        outer: Option<u16>,
        inner: Option<u16>,
    },
}

fn be16(b: &[u8], off: usize) -> Option<u16> {
    b.get(off..off + 2)
        .map(|s| u16::from_be_bytes([s[0], s[1]]))
}

fn is_tpid(p: u16) -> bool {
    p == 0x8100 || p == 0x88A8 || p == 0x9100
}

/// The reference classifier.
pub fn expected(b: &[u8]) -> Expected {
    let Some(mut proto) = be16(b, 12) else {
        return Expected::Malformed;
    };
    if b[0..5] == [0x01, 0x80, 0xC2, 0, 0] && b[5] & 0xF0 == 0 {
        return Expected::Control;
    }
    let mut off = 14;
    let mut vids = Vec::new();
    while is_tpid(proto) && vids.len() < 2 {
        let (Some(tci), Some(next)) = (be16(b, off), be16(b, off + 2)) else {
            return Expected::Malformed;
        };
        vids.push(tci & 0x0FFF);
        proto = next;
        off += 4;
    }
    let control = match proto {
        0x0806 | 0x88CC | 0x8809 | 0x888E => true,
        0x86DD => {
            b.get(off + 6) == Some(&58) && b.get(off + 40).is_some_and(|t| (133..=137).contains(t))
        }
        _ => false,
    };
    if control {
        return Expected::Control;
    }
    Expected::Tagged {
        outer: vids.first().copied(),
        inner: vids.get(1).copied(),
    }
}

/// A small deterministic generator (xorshift64*) for garbage frames: fixed seeds, no crates.
pub struct Rng(pub u64);

impl Rng {
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }
}
