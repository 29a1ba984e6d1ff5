//! The host table: read on demand for the admin looking for the busiest hosts of an
//! agency, and cleared of a slot that takes a new agency. The control loop reads only the
//! active-host counts (see [`super::Dataplane::active_hosts`]).

use std::{
    net::{IpAddr, Ipv4Addr, Ipv6Addr},
    os::fd::{AsFd, OwnedFd},
};

use aya::{
    Ebpf,
    maps::{HashMap, Map, MapData, MapError},
};
use gateway_common::{Direction, HostKey, HostState, map};

use super::{DataplaneError, Result};

/// One host of an agency in one direction, as the table holds it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HostEntry {
    pub dir: Direction,
    /// The host's address: an IPv4 address, or an IPv6 prefix's first address.
    pub addr: IpAddr,
    /// Since it entered the table (it leaves when the table needs room and it is the least
    /// recently seen).
    pub passed_bytes: u64,
    pub dropped_bytes: u64,
}

impl HostEntry {
    fn new(key: &HostKey, state: &HostState) -> Option<HostEntry> {
        let dir = match key.slot % Direction::COUNT {
            0 => Direction::Upload,
            _ => Direction::Download,
        };
        let a = key.addr;
        let addr = match key.family {
            4 => IpAddr::V4(Ipv4Addr::new(a[0], a[1], a[2], a[3])),
            6 => IpAddr::V6(Ipv6Addr::from(a)),
            _ => return None,
        };
        Some(HostEntry {
            dir,
            addr,
            passed_bytes: state.passed_bytes,
            dropped_bytes: state.dropped_bytes,
        })
    }
}

/// A handle of one's own on the host table (a duplicated descriptor, like
/// [`super::CounterReader`]), for reading it beside the control loop.
pub struct HostReader {
    table: HashMap<MapData, HostKey, HostState>,
    fd: OwnedFd,
}

fn open_error(source: MapError) -> DataplaneError {
    DataplaneError::OpenMap {
        name: map::HOSTS,
        source: Box::new(source),
    }
}

fn read_error(source: MapError) -> DataplaneError {
    DataplaneError::ReadMap {
        name: map::HOSTS,
        source: Box::new(source),
    }
}

impl HostReader {
    /// A handle on the host table of loaded programs (before their maps are taken).
    pub(super) fn open(ebpf: &Ebpf) -> Result<HostReader> {
        let fd = match ebpf.map(map::HOSTS) {
            Some(Map::LruHashMap(data)) => data
                .fd()
                .as_fd()
                .try_clone_to_owned()
                .map_err(|e| DataplaneError::DupMap(map::HOSTS, e))?,
            _ => return Err(DataplaneError::MissingMap(map::HOSTS)),
        };
        Self::from_fd(fd)
    }

    fn from_fd(fd: OwnedFd) -> Result<HostReader> {
        let dup = fd
            .try_clone()
            .map_err(|e| DataplaneError::DupMap(map::HOSTS, e))?;
        let data = MapData::from_fd(dup).map_err(open_error)?;
        let table = HashMap::try_from(Map::LruHashMap(data)).map_err(open_error)?;
        Ok(HostReader { table, fd })
    }

    /// A handle of one's own on the same table.
    pub fn try_clone(&self) -> Result<HostReader> {
        let fd = self
            .fd
            .try_clone()
            .map_err(|e| DataplaneError::DupMap(map::HOSTS, e))?;
        Self::from_fd(fd)
    }

    /// Every host the table holds for the agency in `slot`, both directions. Walks the
    /// whole table (up to its `host_table` entries): for an admin's question, not for
    /// every tick.
    pub fn agency(&self, slot: u32) -> Result<Vec<HostEntry>> {
        let slots = [
            gateway_common::agency_slot(slot, Direction::Upload),
            gateway_common::agency_slot(slot, Direction::Download),
        ];
        let mut out = Vec::new();
        for key in self.table.keys() {
            // A key the programs evicted between two steps of the walk is skipped.
            let Ok(key) = key else { continue };
            if !slots.contains(&key.slot) {
                continue;
            }
            match self.table.get(&key, 0) {
                Ok(state) => out.extend(HostEntry::new(&key, &state)),
                Err(MapError::KeyNotFound) => {}
                Err(e) => return Err(read_error(e)),
            }
        }
        Ok(out)
    }

    /// Every entry of the agency in `slot`, so a new agency in it starts with none of its
    /// predecessor's hosts.
    pub(super) fn clear(table: &mut HashMap<MapData, HostKey, HostState>, slot: u32) -> Result<()> {
        let slots = [
            gateway_common::agency_slot(slot, Direction::Upload),
            gateway_common::agency_slot(slot, Direction::Download),
        ];
        let stale: Vec<HostKey> = table
            .keys()
            .filter_map(|k| k.ok())
            .filter(|k| slots.contains(&k.slot))
            .collect();
        for key in stale {
            match table.remove(&key) {
                Ok(()) | Err(MapError::KeyNotFound) => {}
                Err(source) => {
                    return Err(DataplaneError::WriteMap {
                        name: map::HOSTS,
                        source: Box::new(source),
                    });
                }
            }
        }
        Ok(())
    }
}
