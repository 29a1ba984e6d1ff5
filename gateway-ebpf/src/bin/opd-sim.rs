//! Programs for simulated agency networks (the demo and the tests), not for the gateway:
//! a host on an agency VLAN gets its 802.1Q tag pushed on egress and popped on ingress by
//! TC programs, since 802.1Q devices are not available everywhere; and an empty XDP program
//! serves as the baseline the gateway's cost is measured against and as the XDP program a
//! veth needs on its receiving side to accept redirected frames.
#![no_std]
#![no_main]

use aya_ebpf::{
    bindings::{TC_ACT_OK, TC_ACT_SHOT, xdp_action},
    helpers::{
        bpf_ktime_get_ns,
        generated::{bpf_skb_vlan_pop, bpf_skb_vlan_push},
    },
    macros::{classifier, xdp},
    programs::{TcContext, XdpContext},
};

/// The host's VLAN id, set at load time.
#[unsafe(no_mangle)]
static HOST_VID: u16 = 0;

const ETH_P_8021Q: u16 = 0x8100;

#[inline(always)]
fn host_vid() -> u16 {
    // SAFETY: a read of a load-time constant.
    unsafe { core::ptr::read_volatile(&HOST_VID) }
}

/// Egress: tag every frame with the host's VLAN.
#[classifier]
pub fn sim_tag_push(ctx: TcContext) -> i32 {
    // SAFETY: the helper gets the context it was called with.
    let r = unsafe { bpf_skb_vlan_push(ctx.skb.skb, ETH_P_8021Q.to_be(), host_vid()) };
    if r == 0 { TC_ACT_OK } else { TC_ACT_SHOT }
}

/// Ingress: keep only frames of the host's VLAN and remove the tag.
#[classifier]
pub fn sim_tag_pop(ctx: TcContext) -> i32 {
    let skb = ctx.skb.skb;
    // SAFETY: reads of context fields the verifier allows for TC programs.
    let (present, tci) = unsafe { ((*skb).vlan_present, (*skb).vlan_tci) };
    if present == 0 || (tci & 0x0FFF) as u16 != host_vid() {
        return TC_ACT_SHOT;
    }
    // SAFETY: as above.
    if unsafe { bpf_skb_vlan_pop(skb) } == 0 {
        TC_ACT_OK
    } else {
        TC_ACT_SHOT
    }
}

/// HTB classifier for the peer the benchmarks compare against: class `<major>:<vid>` by
/// the frame's VLAN tag (kept beside the frame by the stack, where `u32` cannot see it),
/// `<major>:fff` for untagged and priority-tagged frames. The program gives the minor number; the filter's
/// `classid` gives the major.
#[classifier]
pub fn sim_htb_classify(ctx: TcContext) -> i32 {
    let skb = ctx.skb.skb;
    // SAFETY: reads and a write of context fields the verifier allows for TC classifiers.
    unsafe {
        // VID 0 (a priority tag) too: minor 0 would name the qdisc itself, which sends the
        // frame past every class, unshaped.
        let vid = (*skb).vlan_tci & 0x0FFF;
        (*skb).tc_classid = if (*skb).vlan_present != 0 && vid != 0 {
            vid
        } else {
            0x0FFF
        };
    }
    TC_ACT_OK
}

/// Does nothing: the baseline for cost measurements, and the receiver side of redirects.
#[xdp(frags)]
pub fn sim_xdp_pass(_ctx: XdpContext) -> u32 {
    xdp_action::XDP_PASS
}

/// One clock read, then pass: what the gateway's one `bpf_ktime_get_ns` per policed frame
/// costs on its own, for the benchmarks' breakdown.
#[xdp(frags)]
pub fn sim_xdp_clock(_ctx: XdpContext) -> u32 {
    // SAFETY: no arguments.
    let now = unsafe { bpf_ktime_get_ns() };
    // Keep the read: a value the verifier cannot know.
    if now == 0 {
        xdp_action::XDP_DROP
    } else {
        xdp_action::XDP_PASS
    }
}

#[cfg(not(test))]
#[panic_handler]
fn panic(_info: &core::panic::PanicInfo) -> ! {
    loop {}
}

#[unsafe(link_section = "license")]
#[unsafe(no_mangle)]
static LICENSE: [u8; 4] = *b"GPL\0";
