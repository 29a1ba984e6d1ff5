//! The peers OPD Gateway is measured against: Linux HTB on the same ports, as an admin would
//! shape them without it — a class per agency at a fixed rate (fixed packages), or a tree that
//! borrows by priority (rate = guarantee, ceil = ceiling, prio = tier, quantum by weight)
//! under a parent at the usable capacity.
//!
//! Frames are classified by VLAN with a cls_bpf filter: the stack keeps the tag beside the
//! frame by the time it reaches a bridge port's queue, where `u32` cannot see it, and this
//! kernel has no `flower`. Every shaping needs [`crate::Forwarding::Bridge`] and no gateway
//! running; downloads are shaped on `lan`'s egress, uploads on `wan`'s.

use aya::{
    Ebpf,
    programs::{
        SchedClassifier, TcAttachType,
        tc::{NlOptions, TcAttachOptions, TcHandle},
    },
};
use gateway_common::{Direction, PerDirection, Tier};

use crate::{SimNetwork, env_path, sh};

/// One agency as an HTB tree sees it; rates in bits/s.
#[derive(Clone, Copy, Debug)]
pub struct HtbClass {
    pub vid: u16,
    pub tier: Tier,
    pub weight: u32,
    pub guaranteed: PerDirection<u64>,
    pub ceiling: PerDirection<u64>,
}

/// HTB's smallest useful rate: a class with no guarantee still needs one.
const MIN_RATE: u64 = 8_000;

impl SimNetwork {
    /// Builds an HTB tree on each port's egress: `classes(dir)` gives the `tc` lines under
    /// the root `1:` (with `{dev}` for the port); frames go to class `1:<vid in hex>` by their
    /// VLAN tag, `1:fff` when untagged.
    fn shape(&mut self, classes: &dyn Fn(Direction) -> Vec<String>) {
        let obj = std::fs::read(env_path("OPD_SIM_EBPF")).expect("read OPD_SIM_EBPF");
        for (dev, dir) in [("lan", Direction::Download), ("wan", Direction::Upload)] {
            let tc = |line: &str| {
                let line = line.replace("{dev}", dev);
                sh(self.gateway.command("tc").args(line.split_whitespace()));
            };
            tc("qdisc add dev {dev} root handle 1: htb default fff");
            for line in classes(dir) {
                tc(&line);
            }
            let ebpf = self.gateway.enter(|| {
                let mut ebpf = Ebpf::load(&obj).expect("load the simulation programs");
                let prog: &mut SchedClassifier = ebpf
                    .program_mut("sim_htb_classify")
                    .unwrap()
                    .try_into()
                    .unwrap();
                prog.load().expect("load sim_htb_classify");
                let options = TcAttachOptions::Netlink(NlOptions {
                    classid: Some(TcHandle::new(1, 0)),
                    ..Default::default()
                });
                prog.attach_with_options(dev, TcAttachType::Custom(0x0001_0000), options)
                    .unwrap_or_else(|e| panic!("attach sim_htb_classify to {dev}: {e}"));
                ebpf
            });
            self.programs.push(ebpf);
        }
    }

    /// Shapes the ports with one HTB class per agency VLAN at a fixed rate (`rate` = `ceil`,
    /// HTB's default burst and leaf queue): `(vid, upload bits/s, download bits/s)`.
    pub fn shape_with_htb(&mut self, classes: &[(u16, u64, u64)]) {
        self.shape(&|dir| {
            let mut lines =
                vec!["class add dev {dev} parent 1: classid 1:fff htb rate 100gbit".to_string()];
            for &(vid, up, down) in classes {
                let bps = if dir == Direction::Upload { up } else { down };
                lines.push(format!(
                    "class add dev {{dev}} parent 1: classid 1:{vid:x} htb rate {bps}bit ceil {bps}bit"
                ));
            }
            lines
        });
    }

    /// Shapes the ports as fixed packages: each agency held to its guarantee, as if it had
    /// bought a line of that size; agencies with no guarantee share what is left of `usable`
    /// equally, as public WiFi on a package of its own would.
    pub fn shape_fixed(&mut self, usable: PerDirection<u64>, classes: &[HtbClass]) {
        let packages: Vec<(u16, u64, u64)> = classes
            .iter()
            .map(|c| {
                let rate = |dir: Direction| {
                    let bought: u64 = classes.iter().map(|c| c.guaranteed[dir]).sum();
                    let without = classes.iter().filter(|c| c.guaranteed[dir] == 0).count();
                    match c.guaranteed[dir] {
                        0 => usable[dir].saturating_sub(bought) / without.max(1) as u64,
                        g => g,
                    }
                    .max(MIN_RATE)
                };
                (c.vid, rate(Direction::Upload), rate(Direction::Download))
            })
            .collect();
        self.shape_with_htb(&packages);
    }

    /// Shapes the ports as an admin would share an uplink with HTB: per direction one tree
    /// under a parent at `usable`, a class per agency at rate = its guarantee and ceil = its
    /// ceiling, borrowing in tier order (`prio`) and by weight (`quantum`) within a tier.
    pub fn shape_borrowing(&mut self, usable: PerDirection<u64>, classes: &[HtbClass]) {
        self.shape(&|dir| {
            let u = usable[dir];
            let mut lines = vec![
                format!("class add dev {{dev}} parent 1: classid 1:1 htb rate {u}bit ceil {u}bit"),
                // Frames of no agency: what is left, last.
                format!(
                    "class add dev {{dev}} parent 1:1 classid 1:fff htb rate {MIN_RATE}bit ceil {u}bit prio 7"
                ),
            ];
            for c in classes {
                lines.push(format!(
                    "class add dev {{dev}} parent 1:1 classid 1:{:x} htb rate {}bit ceil {}bit prio {} quantum {}",
                    c.vid,
                    c.guaranteed[dir].max(MIN_RATE),
                    c.ceiling[dir].min(u),
                    c.tier as u32,
                    // HTB divides what is borrowed within a priority in proportion to quantum.
                    3028 * c.weight.max(1),
                ));
            }
            lines
        });
    }
}
