//! The policy loader's fuzz target (`fuzz/`, cargo-fuzz on nightly): installed by setup,
//! run for a bounded time by `cargo xtask test` and at length by `cargo xtask fuzz`.

use std::{
    fs,
    path::{Path, PathBuf},
    process::Command,
    time::SystemTime,
};

use anyhow::{Context, Result, bail};

use crate::{cargo, output, run, tools_dir};

/// Pinned: a new cargo-fuzz may need a newer Rust than the stable it is installed with.
const CARGO_FUZZ_VERSION: &str = "0.13.2";

/// libFuzzer's limits: one input taking 10 s is a hang, 2 GB a runaway allocation.
const INPUT_TIMEOUT_SECS: u32 = 10;
const RSS_LIMIT_MB: u32 = 2048;

/// cargo-fuzz in the project's tools folder, installed once (again if of another version).
pub fn setup(root: &Path) -> Result<PathBuf> {
    output(Command::new("rustc").args(["+nightly", "--version"])).context(
        "the nightly toolchain is needed to build the fuzz target: install it with `rustup toolchain install nightly`",
    )?;
    let tools = tools_dir(root);
    let bin = tools.join("bin/cargo-fuzz");
    let installed = Command::new(&bin)
        .arg("--version")
        .output()
        .map(|o| {
            String::from_utf8_lossy(&o.stdout).trim() == format!("cargo-fuzz {CARGO_FUZZ_VERSION}")
        })
        .unwrap_or(false);
    if installed {
        return Ok(bin);
    }
    eprintln!("setup: installing cargo-fuzz {CARGO_FUZZ_VERSION} (about a minute, once)");
    run(
        cargo(root)
            .args(["install", "cargo-fuzz", "--locked", "--force", "--version"])
            .arg(CARGO_FUZZ_VERSION)
            .arg("--root")
            .arg(&tools)
            // Keep this build out of the workspace's target dir locks.
            .env("CARGO_TARGET_DIR", tools.join("build")),
        "installing cargo-fuzz",
    )?;
    Ok(bin)
}

/// What a run of the fuzz target does.
pub enum Mode<'a> {
    /// Fuzz for this many seconds; `quiet` keeps libFuzzer's progress in a log file and shows
    /// it only on failure (for `cargo xtask test`).
    Fuzz { secs: u64, quiet: bool },
    /// Run each input once (to reproduce a crash).
    Reproduce(&'a [PathBuf]),
    /// Add to the committed corpus the inputs found so far that reach code it does not.
    Merge,
}

/// Runs the policy fuzz target. A crash, a hang or a runaway allocation fails with the input
/// that caused it and the command that reproduces it.
pub fn fuzz(root: &Path, mode: Mode) -> Result<()> {
    let cargo_fuzz = setup(root)?;
    // Its own target dir: the instrumented nightly build never touches the main build's.
    let target_dir = root.join("target/fuzz");
    let corpus = root.join("fuzz/corpus/policy");
    // New inputs the fuzzer finds land here; the committed corpus is only read.
    let scratch = target_dir.join("corpus/policy");
    let artifacts = target_dir.join("artifacts/policy");
    fs::create_dir_all(&scratch)?;
    fs::create_dir_all(&artifacts)?;
    let started = SystemTime::now();

    let mut cmd = Command::new(&cargo_fuzz);
    cmd.current_dir(root)
        // The outer `cargo` (stable) sets these; the nightly build must not inherit them.
        .env_remove("RUSTC")
        .env_remove("RUSTDOC")
        .env_remove("CARGO")
        .env("RUSTUP_TOOLCHAIN", "nightly")
        .args(["fuzz", "run"])
        // The loader is safe Rust: panics (overflow checks and debug assertions are on) and
        // hangs are what is looked for, and without ASan it runs about twice as many inputs.
        .args(["--sanitizer", "none", "--target-dir"])
        .arg(&target_dir)
        .arg("policy");
    match mode {
        Mode::Fuzz { .. } => {
            cmd.arg(&scratch).arg(&corpus);
        }
        Mode::Reproduce(inputs) => {
            cmd.args(inputs);
        }
        Mode::Merge => {
            cmd.arg(&corpus).arg(&scratch);
        }
    }
    cmd.arg("--")
        .arg(format!("-timeout={INPUT_TIMEOUT_SECS}"))
        .arg(format!("-rss_limit_mb={RSS_LIMIT_MB}"));
    if matches!(mode, Mode::Merge) {
        // Into the first folder, what the second adds, smallest first; by edges alone (not
        // hit counts), which keeps the committed corpus at hundreds of files, not thousands.
        cmd.args(["-merge=1", "-use_counters=0"]);
    } else {
        cmd.arg(format!("-dict={}", root.join("fuzz/policy.dict").display()))
            .arg(format!("-artifact_prefix={}/", artifacts.display()));
    }
    let log = target_dir.join("policy.log");
    if let Mode::Fuzz { secs, quiet } = mode {
        cmd.arg(format!("-max_total_time={secs}"));
        if quiet {
            let file = fs::File::create(&log)
                .with_context(|| format!("cannot create {}", log.display()))?;
            cmd.stdout(file.try_clone()?).stderr(file);
        }
    }
    let status = cmd
        .status()
        .with_context(|| format!("failed to start {cmd:?}"))?;
    let quiet = matches!(mode, Mode::Fuzz { quiet: true, .. });
    if status.success() {
        if quiet {
            // "Done 40000 runs in 61 second(s)"
            let text = fs::read_to_string(&log).unwrap_or_default();
            let done = text.lines().rfind(|l| l.starts_with("Done ")).unwrap_or("");
            eprintln!(
                "fuzzing: no failure. {done} (libFuzzer's log: {})",
                log.display()
            );
        }
        return Ok(());
    }
    if quiet {
        let text = fs::read_to_string(&log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        eprintln!("... the end of {}:", log.display());
        for l in &lines[lines.len().saturating_sub(60)..] {
            eprintln!("{l}");
        }
    }
    match mode {
        Mode::Reproduce(inputs) => bail!(
            "the policy loader fails on {} ({status})",
            inputs
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ),
        Mode::Merge => bail!("merging into the policy corpus failed ({status}): {cmd:?}"),
        Mode::Fuzz { .. } => {}
    }
    let found: Vec<PathBuf> = fs::read_dir(&artifacts)?
        .filter_map(|e| e.ok())
        .filter(|e| {
            e.metadata()
                .and_then(|m| m.modified())
                .is_ok_and(|t| t >= started)
        })
        .map(|e| e.path())
        .collect();
    if found.is_empty() {
        bail!("the policy fuzz target failed ({status}) and wrote no input: {cmd:?}");
    }
    let list: Vec<String> = found.iter().map(|p| p.display().to_string()).collect();
    bail!(
        "the policy loader failed on a fuzzed input (a panic, a hang over {INPUT_TIMEOUT_SECS} s, \
         more than {RSS_LIMIT_MB} MB, or a rejection without a position): {}\n\
         reproduce: cargo xtask fuzz {}\n\
         then fix it in gateway/src/policy/ with the input as a unit test, and add it to \
         fuzz/corpus/policy/",
        list.join(", "),
        list.join(" ")
    )
}
