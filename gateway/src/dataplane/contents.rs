//! What the data plane's maps hold, and the writes that change it: the vocabulary between
//! the plan (which decides what to write) and the kernel (which carries writes out).

use std::collections::BTreeMap;

use gateway_common::{
    AgencyRef, Config, Direction, LimitEntry, MAX_AGENCIES, SlotId, VLAN_SLOTS, agency_slot,
};

/// One change to the maps. The kernel carries these out one at a time, in the order given.
#[derive(Debug, Clone, PartialEq)]
pub enum MapWrite {
    /// A slot takes a new agency: a full bucket and zero counters in both directions.
    ResetSlot { slot: u32 },
    /// The limits of a slot in a direction.
    Limit {
        slot: u32,
        dir: Direction,
        entry: LimitEntry,
    },
    /// The agency id kept with a slot ([`SlotId::FREE`] frees it).
    SlotId { slot: u32, id: SlotId },
    /// A VLAN id's agency (0: none).
    Vlan { vid: u16, agency: AgencyRef },
    /// A QinQ pair's agency ([`gateway_common::qinq_key`]); `None` removes the pair.
    Qinq { key: u32, agency: Option<AgencyRef> },
    /// The site settings.
    Config(Config),
}

/// The maps' contents that the control loop decides (not buckets or counters).
#[derive(Debug, Clone, PartialEq)]
pub struct Contents {
    /// Slot → agency id, for every slot in use.
    pub ids: BTreeMap<u32, String>,
    /// VLAN id → agency, all [`VLAN_SLOTS`] of them.
    pub vlans: Vec<AgencyRef>,
    /// QinQ key → agency.
    pub qinq: BTreeMap<u32, AgencyRef>,
    /// (slot, direction) → limits, for every slot in use.
    pub limits: BTreeMap<(u32, Direction), LimitEntry>,
    /// `None` until first written.
    pub config: Option<Config>,
}

impl Default for Contents {
    /// What freshly created maps hold: nothing.
    fn default() -> Self {
        Contents {
            ids: BTreeMap::new(),
            vlans: vec![0; VLAN_SLOTS as usize],
            qinq: BTreeMap::new(),
            limits: BTreeMap::new(),
            config: None,
        }
    }
}

impl Contents {
    /// Takes note of a write the kernel carried out.
    pub fn record(&mut self, write: &MapWrite) {
        match write {
            MapWrite::ResetSlot { .. } => {}
            MapWrite::Limit { slot, dir, entry } => {
                self.limits.insert((*slot, *dir), *entry);
            }
            MapWrite::SlotId { slot, id } => match id.id() {
                Some(name) => {
                    self.ids.insert(*slot, name.to_string());
                }
                None => {
                    // A freed slot: nothing points at it any more.
                    self.ids.remove(slot);
                    for dir in Direction::ALL {
                        self.limits.remove(&(*slot, dir));
                    }
                }
            },
            MapWrite::Vlan { vid, agency } => self.vlans[*vid as usize] = *agency,
            MapWrite::Qinq { key, agency } => match agency {
                Some(a) => {
                    self.qinq.insert(*key, *a);
                }
                None => {
                    self.qinq.remove(key);
                }
            },
            MapWrite::Config(c) => self.config = Some(*c),
        }
    }

    /// Slots of the agencies the maps name, by agency id.
    pub fn slots(&self) -> std::collections::HashMap<String, u32> {
        self.ids.iter().map(|(&s, id)| (id.clone(), s)).collect()
    }
}

/// Index of a slot and direction in the per-agency maps, checked against their size.
pub(crate) fn index(slot: u32, dir: Direction) -> u32 {
    debug_assert!(slot < MAX_AGENCIES, "slot {slot} out of range");
    agency_slot(slot, dir)
}
