//! The programs' maps, typed, each opened by its name in [`gateway_common::map`], and the
//! one place map writes are carried out.

use aya::{
    Ebpf,
    maps::{Array, DevMap, HashMap, MapData, MapError, PerCpuArray, PerCpuValues},
};
use gateway_common::{
    AgencyRef, Bucket, Config, Counters, Direction, HostCount, HostKey, HostState, LimitEntry,
    MAX_AGENCIES, PORT_TO_LAN, PORT_TO_WAN, SlotId, VLAN_SLOTS, host_window, map,
};

use super::{
    DataplaneError, Result,
    contents::{Contents, MapWrite, index},
};

/// The maps the daemon writes (the counters are read through [`super::CounterReader`]).
pub(super) struct Maps {
    vlans: Array<MapData, AgencyRef>,
    qinq: HashMap<MapData, u32, AgencyRef>,
    limits: Array<MapData, LimitEntry>,
    buckets: Array<MapData, Bucket>,
    agency_stats: PerCpuArray<MapData, Counters>,
    config: Array<MapData, Config>,
    ports: DevMap<MapData>,
    slot_ids: Array<MapData, SlotId>,
    hosts: HashMap<MapData, HostKey, HostState>,
    host_counts: Array<MapData, HostCount>,
    cpus: usize,
}

fn take<T>(ebpf: &mut Ebpf, name: &'static str) -> Result<T>
where
    T: TryFrom<aya::maps::Map, Error = MapError>,
{
    let map = ebpf
        .take_map(name)
        .ok_or(DataplaneError::MissingMap(name))?;
    T::try_from(map).map_err(|source| DataplaneError::OpenMap {
        name,
        source: Box::new(source),
    })
}

fn write_error(name: &'static str) -> impl Fn(MapError) -> DataplaneError {
    move |source| DataplaneError::WriteMap {
        name,
        source: Box::new(source),
    }
}

fn read_error(name: &'static str) -> impl Fn(MapError) -> DataplaneError {
    move |source| DataplaneError::ReadMap {
        name,
        source: Box::new(source),
    }
}

impl Maps {
    pub(super) fn take(ebpf: &mut Ebpf) -> Result<Maps> {
        Ok(Maps {
            vlans: take(ebpf, map::VLANS)?,
            qinq: take(ebpf, map::QINQ)?,
            limits: take(ebpf, map::LIMITS)?,
            buckets: take(ebpf, map::BUCKETS)?,
            agency_stats: take(ebpf, map::AGENCY_STATS)?,
            config: take(ebpf, map::CONFIG)?,
            ports: take(ebpf, map::PORTS)?,
            slot_ids: take(ebpf, map::SLOT_IDS)?,
            hosts: take(ebpf, map::HOSTS)?,
            host_counts: take(ebpf, map::HOST_COUNTS)?,
            cpus: aya::util::nr_cpus().map_err(|(_, e)| DataplaneError::Cpus(e))?,
        })
    }

    /// Hosts of the slot's agency active at `now_ns` (CLOCK_MONOTONIC) in a direction.
    pub(super) fn active_hosts(&self, slot: u32, dir: Direction, now_ns: u64) -> Result<u32> {
        let c = self
            .host_counts
            .get(&index(slot, dir), 0)
            .map_err(read_error(map::HOST_COUNTS))?;
        Ok(c.active(host_window(now_ns)))
    }

    /// Carries out one write. Each is one atomic map update (a slot reset is six, and one
    /// removal per host of the slot's former agency).
    pub(super) fn write(&mut self, write: &MapWrite) -> Result<()> {
        match write {
            MapWrite::ResetSlot { slot } => {
                super::hosts::HostReader::clear(&mut self.hosts, *slot)?;
                for dir in Direction::ALL {
                    let i = index(*slot, dir);
                    self.host_counts
                        .set(i, HostCount::default(), 0)
                        .map_err(write_error(map::HOST_COUNTS))?;
                    self.buckets
                        .set(i, Bucket::default(), 0)
                        .map_err(write_error(map::BUCKETS))?;
                    let zero = PerCpuValues::try_from(vec![Counters::default(); self.cpus])
                        .expect("one value per CPU");
                    self.agency_stats
                        .set(i, zero, 0)
                        .map_err(write_error(map::AGENCY_STATS))?;
                }
                Ok(())
            }
            MapWrite::Limit { slot, dir, entry } => self
                .limits
                .set(index(*slot, *dir), *entry, 0)
                .map_err(write_error(map::LIMITS)),
            MapWrite::SlotId { slot, id } => self
                .slot_ids
                .set(*slot, *id, 0)
                .map_err(write_error(map::SLOT_IDS)),
            MapWrite::Vlan { vid, agency } => self
                .vlans
                .set(u32::from(*vid), *agency, 0)
                .map_err(write_error(map::VLANS)),
            MapWrite::Qinq {
                key,
                agency: Some(agency),
            } => self
                .qinq
                .insert(key, agency, 0)
                .map_err(write_error(map::QINQ)),
            MapWrite::Qinq { key, agency: None } => {
                self.qinq.remove(key).map_err(write_error(map::QINQ))
            }
            MapWrite::Config(config) => self
                .config
                .set(0, config, 0)
                .map_err(write_error(map::CONFIG)),
        }
    }

    /// What adopted maps hold: the agencies in their slots with their limits, the VLAN and
    /// QinQ tables and the site settings.
    pub(super) fn read(&self) -> Result<Contents> {
        let mut contents = Contents::default();
        for vid in 0..VLAN_SLOTS {
            contents.vlans[vid as usize] =
                self.vlans.get(&vid, 0).map_err(read_error(map::VLANS))?;
        }
        for entry in self.qinq.iter() {
            let (k, v) = entry.map_err(read_error(map::QINQ))?;
            contents.qinq.insert(k, v);
        }
        for slot in 0..MAX_AGENCIES {
            let id = self
                .slot_ids
                .get(&slot, 0)
                .map_err(read_error(map::SLOT_IDS))?;
            let Some(name) = id.id() else { continue };
            for dir in Direction::ALL {
                let entry = self
                    .limits
                    .get(&index(slot, dir), 0)
                    .map_err(read_error(map::LIMITS))?;
                contents.limits.insert((slot, dir), entry);
            }
            contents.ids.insert(slot, name.to_string());
        }
        contents.config = Some(self.config.get(&0, 0).map_err(read_error(map::CONFIG))?);
        Ok(contents)
    }

    /// Points the redirect map at the two ports.
    pub(super) fn set_ports(&mut self, lan_ifindex: u32, wan_ifindex: u32) -> Result<()> {
        self.ports
            .set(PORT_TO_WAN, wan_ifindex, None, 0)
            .map_err(|e| DataplaneError::WritePorts(Box::new(e)))?;
        self.ports
            .set(PORT_TO_LAN, lan_ifindex, None, 0)
            .map_err(|e| DataplaneError::WritePorts(Box::new(e)))
    }
}
