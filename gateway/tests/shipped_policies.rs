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

/// Every file in tests/broken-policies names, in `# expect: LINE:COLUMN: message` lines,
/// each error `check` must report, and nothing else may be reported as an error.
#[test]
fn broken_policies_fail_with_the_expected_messages_and_positions() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/broken-policies");
    let mut checked = 0;
    let mut failures = Vec::new();
    for entry in std::fs::read_dir(&dir).expect("tests/broken-policies exists") {
        let path = entry.unwrap().path();
        let text = std::fs::read_to_string(&path).unwrap();
        let expected: Vec<&str> = text
            .lines()
            .filter_map(|l| l.strip_prefix("# expect: "))
            .collect();
        let hints: Vec<&str> = text
            .lines()
            .filter_map(|l| l.strip_prefix("# expect-hint: "))
            .collect();
        assert!(
            !expected.is_empty(),
            "{} states no expected error",
            path.display()
        );
        let out = Command::new(env!("CARGO_BIN_EXE_opd-gateway"))
            .arg("check")
            .arg(&path)
            .output()
            .expect("run opd-gateway check");
        let err = String::from_utf8_lossy(&out.stderr);
        if out.status.code() != Some(1) {
            failures.push(format!(
                "{}: exit status {:?}, expected 1",
                path.display(),
                out.status.code()
            ));
        }
        for e in &expected {
            let (pos, msg) = e.split_once(": ").unwrap();
            let want = format!("{}:{pos}: error: {msg}", path.display());
            if !err.contains(&want) {
                failures.push(format!("{}: missing `{want}` in:\n{err}", path.display()));
            }
        }
        for h in &hints {
            if !err.contains(&format!("hint: {h}")) {
                failures.push(format!("{}: missing hint `{h}` in:\n{err}", path.display()));
            }
        }
        let reported = err.lines().filter(|l| l.contains(": error: ")).count();
        if reported != expected.len() {
            failures.push(format!(
                "{}: {reported} errors reported, {} expected:\n{err}",
                path.display(),
                expected.len()
            ));
        }
        checked += 1;
    }
    assert!(
        checked >= 8,
        "the corpus of broken policies is missing from {}",
        dir.display()
    );
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

/// Every TOML example in the README and the docs is a valid policy, or a valid part of one
/// (an agency or a schedule, completed with the least around it).
#[test]
fn every_policy_example_in_the_docs_is_valid() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let site = "[site]\nlan = \"eth1\"\nwan = \"eth2\"\ncapacity = { upload = \"1Gbps\", download = \"1Gbps\" }\n";
    let agency = "[[agency]]\nid = \"example\"\nvlans = [4000]\nupload = { guaranteed = \"1Mbps\" }\ndownload = { guaranteed = \"1Mbps\" }\n";
    let mut checked = 0;
    for doc in ["README.md", "docs/MULAI-CEPAT.md"] {
        let text = std::fs::read_to_string(root.join(doc)).unwrap_or_else(|e| panic!("{doc}: {e}"));
        let mut rest = text.as_str();
        while let Some(i) = rest.find("```toml\n") {
            let body_start = i + "```toml\n".len();
            let len = rest[body_start..].find("```").expect("a closed code block");
            let block = &rest[body_start..body_start + len];
            rest = &rest[body_start + len + 3..];
            let whole = if block.contains("[site]") {
                block.to_string()
            } else if block.trim_start().starts_with("[[agency.schedule]]") {
                format!("{site}{agency}{block}")
            } else {
                format!("{site}{block}")
            };
            if let Err(e) = opd_gateway::policy::from_texts(&[(doc, &whole)]) {
                panic!("an example in {doc} is not a valid policy:\n{block}\n{e}");
            }
            checked += 1;
        }
    }
    assert!(checked >= 2, "the docs' policy examples were not found");
}
