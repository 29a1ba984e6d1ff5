//! The ports' own settings: interface indexes, bridge membership, and rx VLAN offload
//! (most NICs strip tags before XDP sees them while it is on).

use super::{DataplaneError, Result};

/// Index of a network interface in this network namespace.
pub fn ifindex(name: &str, role: &'static str) -> Result<u32> {
    let c = std::ffi::CString::new(name).map_err(|_| DataplaneError::NoInterface {
        name: name.into(),
        role,
    })?;
    // SAFETY: a valid C string.
    match unsafe { libc::if_nametoindex(c.as_ptr()) } {
        0 => Err(DataplaneError::NoInterface {
            name: name.into(),
            role,
        }),
        i => Ok(i),
    }
}

pub(super) fn same_bridge(a: &str, b: &str) -> bool {
    let master = |i: &str| std::fs::read_link(format!("/sys/class/net/{i}/master")).ok();
    matches!((master(a), master(b)), (Some(x), Some(y)) if x == y)
}

/// What [`ensure_rx_vlan_in_frame`] found and did on a port.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RxVlanOffload {
    /// The driver leaves tags in the frame.
    AlreadyOff,
    /// The driver stripped tags into metadata; switched off so XDP sees them.
    SwitchedOff,
}

/// Makes sure the NIC leaves 802.1Q tags in the frame, where the XDP programs read them:
/// with rx VLAN offload on, most drivers strip the tag before XDP runs (Linux ≥ 6.8 has a
/// kfunc for reading it back, but only some drivers implement it). Uses the ethtool flags
/// ioctl, like `ethtool -K <dev> rxvlan off`.
pub fn ensure_rx_vlan_in_frame(iface: &str) -> std::io::Result<RxVlanOffload> {
    const ETHTOOL_GFLAGS: u32 = 0x25;
    const ETHTOOL_SFLAGS: u32 = 0x26;
    const ETH_FLAG_RXVLAN: u32 = 1 << 8;
    #[repr(C)]
    struct EthtoolValue {
        cmd: u32,
        data: u32,
    }
    #[repr(C)]
    struct Ifreq {
        name: [libc::c_char; libc::IFNAMSIZ],
        data: *mut EthtoolValue,
        _pad: [u8; 16],
    }
    if iface.len() >= libc::IFNAMSIZ {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "interface name too long",
        ));
    }
    // SAFETY: a plain datagram socket for ioctls, closed below.
    let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    let ioctl = |cmd: u32, data: u32| -> std::io::Result<u32> {
        let mut value = EthtoolValue { cmd, data };
        let mut req = Ifreq {
            name: [0; libc::IFNAMSIZ],
            data: &mut value,
            _pad: [0; 16],
        };
        for (d, s) in req.name.iter_mut().zip(iface.bytes()) {
            *d = s as libc::c_char;
        }
        // SAFETY: SIOCETHTOOL with an ifreq pointing at a live ethtool_value.
        if unsafe { libc::ioctl(fd, libc::SIOCETHTOOL, &mut req) } < 0 {
            return Err(std::io::Error::last_os_error());
        }
        Ok(value.data)
    };
    let result = (|| {
        let flags = ioctl(ETHTOOL_GFLAGS, 0)?;
        if flags & ETH_FLAG_RXVLAN == 0 {
            return Ok(RxVlanOffload::AlreadyOff);
        }
        ioctl(ETHTOOL_SFLAGS, flags & !ETH_FLAG_RXVLAN)?;
        Ok(RxVlanOffload::SwitchedOff)
    })();
    // SAFETY: our own descriptor.
    unsafe { libc::close(fd) };
    result
}
