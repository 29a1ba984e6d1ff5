//! The Debian package built by `cargo xtask package`: its contents, its metadata, and that
//! what it installs works — the binary validates the example policy it ships, the manual
//! pages render, the unit verifies. Run by `cargo xtask test`.

use std::process::Command;

use opd_testbed::{TempDir, env_path, sh};

#[test]
fn the_package_holds_a_working_gateway() {
    let deb = env_path("OPD_GATEWAY_DEB");
    let listing =
        String::from_utf8(sh(Command::new("dpkg-deb").arg("-c").arg(&deb)).stdout).unwrap();
    let files: Vec<&str> = listing
        .lines()
        .filter_map(|l| l.split_whitespace().last())
        .collect();
    for want in [
        "./usr/bin/opd-gateway",
        "./usr/lib/systemd/system/opd-gateway.service",
        "./etc/opd-gateway/policy/00-site.toml",
        "./etc/opd-gateway/policy/60-wifi-publik.toml",
        "./usr/share/man/man1/opd-gateway.1.gz",
        "./usr/share/man/man1/opd-gateway-run.1.gz",
        "./usr/share/bash-completion/completions/opd-gateway",
        "./usr/share/zsh/vendor-completions/_opd-gateway",
        "./usr/share/fish/vendor_completions.d/opd-gateway.fish",
        "./usr/share/opd-gateway/grafana-dashboard.json",
    ] {
        assert!(
            files.contains(&want),
            "{want} missing from the package:\n{listing}"
        );
    }
    let field = |f: &str| {
        String::from_utf8(sh(Command::new("dpkg-deb").args(["-f"]).arg(&deb).arg(f)).stdout)
            .unwrap()
    };
    assert_eq!(field("Package").trim(), "opd-gateway");
    assert!(
        field("Depends").contains("adduser"),
        "postinst creates the service user with adduser"
    );
    let control = String::from_utf8(
        sh(Command::new("dpkg-deb")
            .arg("-I")
            .arg(&deb)
            .arg("conffiles"))
        .stdout,
    )
    .unwrap();
    assert!(
        control.contains("/etc/opd-gateway/policy/00-site.toml"),
        "the policy is the admin's: conffiles\n{control}"
    );
    let postinst =
        String::from_utf8(sh(Command::new("dpkg-deb").arg("-I").arg(&deb).arg("postinst")).stdout)
            .unwrap();
    assert!(
        postinst.contains("adduser --system --group") && postinst.contains("opd-gateway"),
        "{postinst}"
    );

    // What it installs, unpacked into a throwaway root.
    let root = TempDir::new("deb-root");
    sh(Command::new("dpkg-deb").arg("-x").arg(&deb).arg(&root.0));
    let bin = root.0.join("usr/bin/opd-gateway");
    let check = sh(Command::new(&bin)
        .arg("check")
        .arg(root.0.join("etc/opd-gateway/policy")));
    let said = String::from_utf8_lossy(&check.stdout);
    eprintln!("{said}");
    assert!(
        said.contains("policy is valid") && said.contains("37 agencies"),
        "{said}"
    );
    for page in std::fs::read_dir(root.0.join("usr/share/man/man1")).unwrap() {
        let page = page.unwrap().path();
        let out = sh(Command::new("man")
            .arg("-l")
            .arg(&page)
            .env("MANWIDTH", "80")
            .env("MAN_KEEP_FORMATTING", "0"));
        assert!(
            String::from_utf8_lossy(&out.stdout).contains("opd-gateway"),
            "{}",
            page.display()
        );
    }
    let unit =
        std::fs::read_to_string(root.0.join("usr/lib/systemd/system/opd-gateway.service")).unwrap();
    let unit_here = root.write(
        "opd-gateway.service",
        &unit.replace("/usr/bin/opd-gateway", bin.to_str().unwrap()),
    );
    let out = Command::new("systemd-analyze")
        .args(["verify", "--man=no"])
        .arg(&unit_here)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let bash = std::fs::read_to_string(
        root.0
            .join("usr/share/bash-completion/completions/opd-gateway"),
    )
    .unwrap();
    assert!(
        bash.contains("opd-gateway") && bash.contains("status"),
        "bash completion knows the commands"
    );
}
