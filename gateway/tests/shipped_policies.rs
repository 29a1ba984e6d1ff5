//! Every policy shipped in `policies/` is valid, checked by the `opd-gateway check` binary.

use std::{path::Path, process::Command};

#[test]
fn every_shipped_policy_passes_check() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../policies");
    let mut checked = 0;
    for entry in std::fs::read_dir(&dir).expect("policies/ exists") {
        let path = entry.unwrap().path();
        let is_policy = path.is_dir() || path.extension().is_some_and(|e| e == "toml");
        if !is_policy {
            continue;
        }
        let out = Command::new(env!("CARGO_BIN_EXE_opd-gateway"))
            .arg("check")
            .arg(&path)
            .output()
            .expect("run opd-gateway check");
        assert!(
            out.status.success(),
            "{} fails check:\n{}",
            path.display(),
            String::from_utf8_lossy(&out.stderr)
        );
        checked += 1;
    }
    assert!(
        checked >= 2,
        "expected the shipped policies in {}",
        dir.display()
    );
}

#[test]
fn check_reports_errors_with_positions_and_fails() {
    let dir = std::env::temp_dir().join(format!("opd-check-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("bad.toml");
    std::fs::write(
        &file,
        "[site]\nlan = \"eth1\"\nwan = \"eth2\"\n\n[[agency]]\nid = \"a\"\nvlans = [10]\nupload = { rate = \"10\" }\ndownload = { rate = \"1Gbps\" }\n",
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_opd-gateway"))
        .arg("check")
        .arg(&file)
        .output()
        .expect("run opd-gateway check");
    std::fs::remove_dir_all(&dir).unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("bad.toml:8:19: error: \"10\" has no unit"),
        "{err}"
    );
}
