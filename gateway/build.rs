//! Embeds the XDP programs when `cargo xtask build` points OPD_GATEWAY_EBPF at them. Without
//! it the binary still builds (for unit tests on hosts without the eBPF toolchain) and says
//! at run time how to get a complete one.
fn main() {
    println!("cargo::rustc-check-cfg=cfg(opd_ebpf)");
    println!("cargo::rerun-if-env-changed=OPD_GATEWAY_EBPF");
    if let Some(path) = std::env::var_os("OPD_GATEWAY_EBPF") {
        let path = std::path::PathBuf::from(path);
        if !path.is_file() {
            panic!(
                "OPD_GATEWAY_EBPF={} is not a file; run `cargo xtask build`",
                path.display()
            );
        }
        println!("cargo::rerun-if-changed={}", path.display());
        println!("cargo::rustc-cfg=opd_ebpf");
    }
}
