//! The one way traffic is read: per-CPU counters summed, per agency slot or reason and
//! direction. A failed read is an error, never zeros (Prometheus would take zeros for a
//! counter reset).

use std::os::fd::{AsFd, OwnedFd};

use aya::{
    Ebpf,
    maps::{Map, MapData, MapError, PerCpuArray},
};
use gateway_common::{Counters, Direction, Reason, map};

use super::{DataplaneError, Result, contents::index};

/// Handles of the two counter maps. Cloning opens handles of one's own on the same kernel
/// maps (a duplicated descriptor: opening a map by id would need CAP_SYS_ADMIN), so the
/// exporter reads at scrape time without the control loop's handles.
pub struct CounterReader {
    agencies: PerCpuArray<MapData, Counters>,
    others: PerCpuArray<MapData, Counters>,
    fds: [OwnedFd; 2],
}

fn dup(ebpf: &Ebpf, name: &'static str) -> Result<OwnedFd> {
    match ebpf.map(name) {
        Some(Map::PerCpuArray(data)) => data
            .fd()
            .as_fd()
            .try_clone_to_owned()
            .map_err(|e| DataplaneError::DupMap(name, e)),
        _ => Err(DataplaneError::MissingMap(name)),
    }
}

fn open(fd: &OwnedFd, name: &'static str) -> Result<PerCpuArray<MapData, Counters>> {
    let open = || -> std::result::Result<_, MapError> {
        let fd = fd.try_clone().map_err(|io_error| {
            MapError::SyscallError(aya::sys::SyscallError {
                call: "dup",
                io_error,
            })
        })?;
        PerCpuArray::try_from(Map::PerCpuArray(MapData::from_fd(fd)?))
    };
    open().map_err(|source| DataplaneError::OpenMap {
        name,
        source: Box::new(source),
    })
}

impl CounterReader {
    /// Handles of the counter maps of loaded programs (before their maps are taken).
    pub(super) fn open(ebpf: &Ebpf) -> Result<CounterReader> {
        let fds = [dup(ebpf, map::AGENCY_STATS)?, dup(ebpf, map::OTHER_STATS)?];
        Self::from_fds(fds)
    }

    fn from_fds(fds: [OwnedFd; 2]) -> Result<CounterReader> {
        Ok(CounterReader {
            agencies: open(&fds[0], map::AGENCY_STATS)?,
            others: open(&fds[1], map::OTHER_STATS)?,
            fds,
        })
    }

    /// Handles of one's own on the same maps.
    pub fn try_clone(&self) -> Result<CounterReader> {
        let dup = |i: usize, name| {
            self.fds[i]
                .try_clone()
                .map_err(|e| DataplaneError::DupMap(name, e))
        };
        Self::from_fds([dup(0, map::AGENCY_STATS)?, dup(1, map::OTHER_STATS)?])
    }

    /// An agency slot's counters in a direction, summed over CPUs.
    pub fn agency(&self, slot: u32, dir: Direction) -> Result<Counters> {
        sum(&self.agencies, index(slot, dir), map::AGENCY_STATS)
    }

    /// The counters of frames that belong to no agency, by reason and direction.
    pub fn reason(&self, reason: Reason, dir: Direction) -> Result<Counters> {
        sum(&self.others, reason.slot(dir), map::OTHER_STATS)
    }
}

fn sum(map: &PerCpuArray<MapData, Counters>, index: u32, name: &'static str) -> Result<Counters> {
    let values = map
        .get(&index, 0)
        .map_err(|source| DataplaneError::ReadMap {
            name,
            source: Box::new(source),
        })?;
    let mut total = Counters::default();
    for c in values.iter() {
        total.add(c);
    }
    Ok(total)
}
