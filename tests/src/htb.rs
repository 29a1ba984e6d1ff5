//! The peer OPD Gateway is measured against: Linux HTB with a class per agency, as an admin
//! would shape the same ports without it.

use aya::{
    Ebpf,
    programs::{
        SchedClassifier, TcAttachType,
        tc::{NlOptions, TcAttachOptions, TcHandle},
    },
};

use crate::{SimNetwork, Way, env_path, sh};

impl SimNetwork {
    /// Shapes the gateway's ports the way an admin would without OPD Gateway: Linux HTB with
    /// one class per agency VLAN at a fixed rate (`rate` = `ceil`, HTB's default burst and
    /// leaf queue), downloads on `lan`'s egress and uploads on `wan`'s. Frames are classified
    /// by VLAN with a cls_bpf filter: the stack keeps the tag beside the frame by the time it
    /// reaches a bridge port's queue, where `u32` cannot see it, and this kernel has no
    /// `flower`. Needs [`Forwarding::Bridge`] and no gateway running.
    pub fn shape_with_htb(&mut self, classes: &[(u16, u64, u64)]) {
        let obj = std::fs::read(env_path("OPD_SIM_EBPF")).expect("read OPD_SIM_EBPF");
        for (dev, way) in [("lan", Way::Download), ("wan", Way::Upload)] {
            let tc = |args: &str| {
                sh(self.gateway.command("tc").args(args.split_whitespace()));
            };
            tc(&format!(
                "qdisc add dev {dev} root handle 1: htb default fff"
            ));
            tc(&format!(
                "class add dev {dev} parent 1: classid 1:fff htb rate 100gbit"
            ));
            for &(vid, up, down) in classes {
                let bps = if way == Way::Upload { up } else { down };
                tc(&format!(
                    "class add dev {dev} parent 1: classid 1:{vid:x} htb rate {bps}bit ceil {bps}bit"
                ));
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
}
