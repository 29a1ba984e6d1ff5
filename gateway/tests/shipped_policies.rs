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
        .env("LANG", "C.UTF-8")
        .env_remove("LC_ALL")
        .env_remove("LC_MESSAGES")
        .output()
        .expect("run opd-gateway check");
    let id = Command::new(env!("CARGO_BIN_EXE_opd-gateway"))
        .arg("check")
        .arg(&file)
        .env("LANG", "id_ID.UTF-8")
        .env_remove("LC_ALL")
        .env_remove("LC_MESSAGES")
        .output()
        .expect("run opd-gateway check");
    std::fs::remove_dir_all(&dir).unwrap();
    // The language follows the locale when --lang is not given.
    let err_id = String::from_utf8_lossy(&id.stderr);
    assert!(
        err_id.contains("bad.toml:8:19: kesalahan: \"10\" tidak memiliki satuan"),
        "{err_id}"
    );
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("bad.toml:8:19: error: \"10\" has no unit"),
        "{err}"
    );
}

/// Every file in tests/broken-policies states each error `check` must report, in both
/// languages, as whole lines: `# expect: LINE:COLUMN: message` (English) and
/// `# expect-id: LINE:COLUMN: pesan` (Bahasa Indonesia), and hints as `# hint: …` and
/// `# hint-id: …`. Nothing else may be reported as an error, and every error has a hint.
/// A file saved in Windows' "ANSI" encoding states its expectations in that encoding; a
/// directory states them in its `expect.txt`.
#[test]
fn broken_policies_fail_with_the_expected_messages_and_positions() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/broken-policies");
    let mut checked = 0;
    let mut failures = Vec::new();
    for entry in std::fs::read_dir(&dir).expect("tests/broken-policies exists") {
        let path = entry.unwrap().path();
        let stated = if path.is_dir() {
            path.join("expect.txt")
        } else {
            path.clone()
        };
        let bytes = std::fs::read(&stated).unwrap();
        let text = String::from_utf8(bytes.clone())
            .unwrap_or_else(|_| bytes.iter().map(|&b| char::from(b)).collect());
        for (lang, severity, hint) in [("en", "error", "hint"), ("id", "kesalahan", "petunjuk")] {
            let (expect, expect_hint) = match lang {
                "en" => ("# expect: ", "# hint: "),
                _ => ("# expect-id: ", "# hint-id: "),
            };
            let expected: Vec<String> = text
                .lines()
                .filter_map(|l| l.strip_prefix(expect))
                .map(|e| {
                    let (pos, msg) = e.split_once(": ").unwrap();
                    let place = if pos.is_empty() {
                        path.display().to_string()
                    } else {
                        format!("{}:{pos}", path.display())
                    };
                    format!("{place}: {severity}: {msg}")
                })
                .collect();
            let hints: Vec<String> = text
                .lines()
                .filter_map(|l| l.strip_prefix(expect_hint))
                .map(|h| format!("  {hint}: {h}"))
                .collect();
            assert!(
                !expected.is_empty(),
                "{} states no expected error in {lang}",
                path.display()
            );
            let out = Command::new(env!("CARGO_BIN_EXE_opd-gateway"))
                .args(["check", "--lang", lang])
                .arg(&path)
                .output()
                .expect("run opd-gateway check");
            let err = String::from_utf8_lossy(&out.stderr);
            let lines: Vec<&str> = err.lines().collect();
            if out.status.code() != Some(1) {
                failures.push(format!(
                    "{}: exit status {:?}, expected 1",
                    path.display(),
                    out.status.code()
                ));
            }
            for want in expected.iter().chain(&hints) {
                if !lines.contains(&want.as_str()) {
                    failures.push(format!("{}: missing `{want}` in:\n{err}", path.display()));
                }
            }
            let marker = format!(": {severity}: ");
            let errors: Vec<usize> = (0..lines.len())
                .filter(|&i| lines[i].contains(&marker))
                .collect();
            if errors.len() != expected.len() {
                failures.push(format!(
                    "{}: {} errors reported, {} expected:\n{err}",
                    path.display(),
                    errors.len(),
                    expected.len()
                ));
            }
            let hint_line = format!("  {hint}: ");
            for &i in &errors {
                if !lines.get(i + 1).is_some_and(|l| l.starts_with(&hint_line)) {
                    failures.push(format!("{}: `{}` has no hint", path.display(), lines[i]));
                }
            }
        }
        checked += 1;
    }
    assert!(
        checked >= 20,
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

/// What Windows editors save: a byte-order mark and CRLF line ends simply work (positions
/// counted without them); UTF-16 (Notepad's "Unicode") is named as such.
#[test]
fn files_saved_by_windows_editors() {
    let dir = std::env::temp_dir().join(format!("opd-check-windows-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let policy = "[site]\nlan = \"eth1\"\nwan = \"eth2\"\ncapacity = { upload = \"1Gbps\", download = \"1Gbps\" }\n\n[[agency]]\nid = \"dispar\"\nname = \"Dinas Pariwisata & Kebudayaan \u{e9}\"\nvlans = [150]\nupload = { rate = \"10Mbps\" }\ndownload = { rate = \"10 furlongs\" }\n";
    let windows = |text: &str| {
        let mut bytes = vec![0xef, 0xbb, 0xbf];
        bytes.extend(text.replace('\n', "\r\n").into_bytes());
        bytes
    };
    let check = |name: &str, bytes: Vec<u8>| {
        let file = dir.join(name);
        std::fs::write(&file, bytes).unwrap();
        let out = Command::new(env!("CARGO_BIN_EXE_opd-gateway"))
            .args(["check", "--lang", "en"])
            .arg(&file)
            .output()
            .expect("run opd-gateway check");
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let valid = policy.replace("10 furlongs", "10Mbps");
    let (status, err) = check("valid.toml", windows(&valid));
    assert_eq!(status, Some(0), "{err}");
    let (status, err) = check("bad.toml", windows(policy));
    assert_eq!(status, Some(1), "{err}");
    assert!(
        err.contains("bad.toml:11:21: error: \"10 furlongs\": unknown unit \"furlongs\""),
        "{err}"
    );
    let bad_site = valid.replace("\"eth1\"", "\"eth 1\"");
    let (_, err) = check("site.toml", windows(&bad_site));
    assert!(err.contains("site.toml:2:7: error: \"eth 1\""), "{err}");
    let utf16: Vec<u8> = [0xff, 0xfe]
        .into_iter()
        .chain(valid.encode_utf16().flat_map(u16::to_le_bytes))
        .collect();
    let (status, err) = check("unicode.toml", utf16);
    std::fs::remove_dir_all(&dir).unwrap();
    assert_eq!(status, Some(1), "{err}");
    assert!(
        err.contains(
            "unicode.toml:1:1: error: the file is UTF-16 (Notepad's \"Unicode\"), not UTF-8"
        ),
        "{err}"
    );
}

/// The `check` output the README and the Bahasa Indonesia guide show is what `check` prints,
/// in each language, for the policy they describe (a dinas file with a QinQ pair of three
/// and MikroTik's `max-limit`, at lines 41 and 42).
#[test]
fn the_docs_show_real_check_output() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let dir = std::env::temp_dir().join(format!("opd-check-docs-{}", std::process::id()));
    let policy = dir.join("policy");
    std::fs::create_dir_all(&policy).unwrap();
    std::fs::write(
        policy.join("00-site.toml"),
        "[site]\nlan = \"eth1\"\nwan = \"eth2\"\ncapacity = { upload = \"1Gbps\", download = \"1Gbps\" }\n",
    )
    .unwrap();
    let mut dinas = "# Dinas\n".repeat(36);
    dinas.push_str("[[agency]]\nid = \"disbud\"\nname = \"Dinas Pariwisata dan Kebudayaan\"\nvlans = [150]\nqinq = [[3000, 10, 5]]\nupload = { max-limit = \"50Mbps\" }\ndownload = { rate = \"10Mbps\" }\n");
    std::fs::write(policy.join("30-dinas.toml"), dinas).unwrap();
    let mut shown = 0;
    for doc in ["README.md", "docs/MULAI-CEPAT.md"] {
        let text = std::fs::read_to_string(root.join(doc)).unwrap();
        let mut lines = text.lines().peekable();
        while let Some(line) = lines.next() {
            let Some(lang) = line
                .strip_prefix("$ opd-gateway check --lang ")
                .and_then(|rest| rest.strip_suffix(" /etc/opd-gateway/policy"))
            else {
                continue;
            };
            let mut expected = Vec::new();
            while let Some(l) = lines.next_if(|l| !l.starts_with('$') && !l.starts_with("```")) {
                expected.push(l);
            }
            let out = Command::new(env!("CARGO_BIN_EXE_opd-gateway"))
                .args(["check", "--lang", lang])
                .arg(&policy)
                .output()
                .expect("run opd-gateway check");
            let err = String::from_utf8_lossy(&out.stderr)
                .replace(&policy.display().to_string(), "/etc/opd-gateway/policy");
            assert_eq!(err.trim_end(), expected.join("\n"), "{doc}, --lang {lang}");
            shown += 1;
        }
    }
    std::fs::remove_dir_all(&dir).unwrap();
    assert!(shown >= 4, "the docs show check's output in both languages");
}
