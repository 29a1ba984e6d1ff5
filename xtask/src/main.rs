//! `cargo xtask`: sets up the toolchain the XDP programs need, builds them, and runs the
//! demo and every test tier. Each command runs `setup` first; it is idempotent and takes
//! seconds once done.

use std::{
    env,
    ffi::OsString,
    fs,
    path::{Path, PathBuf},
    process::Command,
};

use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand};

mod fuzz;
mod packages;

#[derive(Parser)]
#[command(about = "Build, test and demo OPD Gateway")]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Install what building and testing need: rust-src for nightly, bpf-linker built
    /// against the toolchain's LLVM, cargo-fuzz, bpffs, Debian packages. Idempotent.
    Setup,
    /// Build the XDP programs and the `opd-gateway` binary (release).
    Build,
    /// Run every test tier: unit tests, 60 s of fuzzing the policy loader,
    /// BPF_PROG_TEST_RUN tests and network-namespace traffic tests. Needs root.
    Test {
        /// Extra arguments for the privileged test binaries (e.g. a test name filter).
        #[arg(trailing_var_arg = true)]
        args: Vec<String>,
    },
    /// Fuzz the policy loader (no panic, no hang, every rejection with a position); no
    /// root needed.
    Fuzz {
        /// How long to fuzz, in seconds.
        #[arg(long, default_value_t = 60)]
        time: u64,
        /// libFuzzer's progress into target/fuzz/policy.log, shown only on failure (as
        /// `cargo xtask test` runs it).
        #[arg(long)]
        quiet: bool,
        /// Instead of fuzzing, add to the committed corpus (fuzz/corpus/policy) the inputs
        /// found so far (target/fuzz/corpus/policy) that reach code it does not.
        #[arg(long, conflicts_with = "inputs")]
        merge: bool,
        /// Inputs to run once instead (e.g. a crash the fuzzer wrote), to reproduce it.
        inputs: Vec<PathBuf>,
    },
    /// Run the gateway on a simulated agency network with traffic. Needs root.
    Demo {
        /// Arguments for the demo (see `cargo xtask demo -- --help`).
        #[arg(trailing_var_arg = true)]
        args: Vec<String>,
    },
    /// Measure the data plane against its baselines; writes BENCHMARKS.md. Needs root.
    Bench {
        /// Sections to run (program, forwarding, allocator, accuracy, daemon); all by default.
        #[arg(trailing_var_arg = true)]
        sections: Vec<String>,
    },
    /// Build the Debian package (target/debian/opd-gateway_*.deb).
    Package,
    /// Check formatting and lints of the host and eBPF crates.
    Lint,
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    let root = workspace_root();
    match cli.command {
        Cmd::Setup => {
            setup_toolchain(&root)?;
            fuzz::setup(&root)?;
            setup_system()?;
        }
        Cmd::Build => {
            setup_toolchain(&root)?;
            build(&root)?;
        }
        Cmd::Test { args } => {
            let mut objs = privileged_setup(&root, "the tests")?;
            objs.deb = Some(package(&root, &objs)?);
            test(&root, &objs, &args)?;
        }
        Cmd::Fuzz {
            time,
            quiet,
            merge,
            inputs,
        } => {
            let mode = if merge {
                fuzz::Mode::Merge
            } else if !inputs.is_empty() {
                fuzz::Mode::Reproduce(&inputs)
            } else {
                fuzz::Mode::Fuzz { secs: time, quiet }
            };
            fuzz::fuzz(&root, mode)?;
        }
        Cmd::Demo { args } => {
            let objs = privileged_setup(&root, "the demo")?;
            run_testbed_bin(&root, &objs, "opd-demo", &args)?;
        }
        Cmd::Bench { sections } => {
            let objs = privileged_setup(&root, "the benchmarks")?;
            // A partial run must not replace the report of a whole one.
            let out = if sections.is_empty() {
                "BENCHMARKS.md"
            } else {
                "target/BENCHMARKS-partial.md"
            };
            let mut args = vec![root.join(out).to_string_lossy().into_owned()];
            args.extend(sections);
            run_testbed_bin(&root, &objs, "opd-bench", &args)?;
        }
        Cmd::Package => {
            setup_toolchain(&root)?;
            let objs = build(&root)?;
            let deb = package(&root, &objs)?;
            println!("{}", deb.display());
        }
        Cmd::Lint => {
            setup_toolchain(&root)?;
            lint(&root)?;
        }
    }
    Ok(())
}

/// Everything a command that attaches XDP programs in namespaces needs, then the build.
fn privileged_setup(root: &Path, what: &str) -> Result<Objects> {
    require_root(&format!(
        "for {what}, XDP programs are attached and network namespaces created"
    ))?;
    setup_toolchain(root)?;
    setup_system()?;
    build(root)
}

/// Runs one of the testbed's programs (the demo, the benchmarks) with the built objects.
fn run_testbed_bin(root: &Path, objs: &Objects, bin: &str, args: &[String]) -> Result<()> {
    let mut cmd = cargo(root);
    cmd.args([
        "run",
        "--release",
        "--quiet",
        "-p",
        "opd-testbed",
        "--bin",
        bin,
        "--",
    ])
    .args(args);
    objs.apply(&mut cmd);
    run(&mut cmd, bin)
}

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives in the workspace")
        .to_path_buf()
}

fn cargo(root: &Path) -> Command {
    let mut cmd = Command::new(env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    cmd.current_dir(root);
    cmd
}

fn run(cmd: &mut Command, what: &str) -> Result<()> {
    let status = cmd
        .status()
        .with_context(|| format!("failed to start {what}: {cmd:?}"))?;
    if !status.success() {
        bail!("{what} failed ({status}): {cmd:?}");
    }
    Ok(())
}

fn output(cmd: &mut Command) -> Result<String> {
    let out = cmd
        .output()
        .with_context(|| format!("failed to start {cmd:?}"))?;
    if !out.status.success() {
        bail!(
            "{cmd:?} failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

fn require_root(why: &str) -> Result<()> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        bail!("this needs root: {why}. Run it as root, e.g. `sudo -E cargo xtask ...`");
    }
    Ok(())
}

fn tools_dir(root: &Path) -> PathBuf {
    root.join("target/tools")
}

/// rust-src for nightly, and bpf-linker linked against nightly's own libLLVM.
fn setup_toolchain(root: &Path) -> Result<()> {
    let sysroot = output(Command::new("rustc").args(["+nightly", "--print", "sysroot"]))
        .context("the nightly toolchain is needed to build the XDP programs: install it with `rustup toolchain install nightly`")?;
    let sysroot = PathBuf::from(sysroot.trim());
    if !sysroot.join("lib/rustlib/src/rust/library/core").is_dir() {
        eprintln!("setup: adding rust-src to the nightly toolchain");
        run(
            Command::new("rustup").args(["component", "add", "rust-src", "--toolchain", "nightly"]),
            "installing rust-src for nightly (needed by -Z build-std)",
        )?;
    }

    let llvm = fs::read_dir(sysroot.join("lib"))
        .with_context(|| format!("cannot list {}", sysroot.join("lib").display()))?
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .find(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("libLLVM.so.") && n.contains("-rust-"))
        })
        .with_context(|| {
            format!(
                "no libLLVM.so.*-rust-* in {}: the nightly toolchain should ship one; reinstall it",
                sysroot.join("lib").display()
            )
        })?;
    let llvm_name = llvm.file_name().unwrap().to_string_lossy().into_owned();
    // "libLLVM.so.22.1-rust-1.97.0-nightly" → LLVM major 22.
    let major = llvm_name
        .trim_start_matches("libLLVM.so.")
        .split(['.', '-'])
        .next()
        .unwrap_or_default()
        .to_string();

    let tools = tools_dir(root);
    let linker = tools.join("bin/bpf-linker");
    let stamp = tools.join("bpf-linker.llvm");
    let built_for = fs::read_to_string(&stamp).unwrap_or_default();
    if linker.is_file() && built_for.trim() == llvm_name && linker_resolves(&linker) {
        return Ok(());
    }
    eprintln!("setup: building bpf-linker against {llvm_name} (about a minute)");
    let prefix = tools.join("llvm");
    fs::create_dir_all(prefix.join("lib"))?;
    for name in ["libLLVM.so".to_string(), llvm_name.clone()] {
        let link = prefix.join("lib").join(name);
        let _ = fs::remove_file(&link); // absent on the first run
        std::os::unix::fs::symlink(&llvm, &link)
            .with_context(|| format!("cannot link {} to {}", link.display(), llvm.display()))?;
    }
    let mut cmd = cargo(root);
    cmd.args([
        "install",
        "bpf-linker",
        "--locked",
        "--force",
        "--no-default-features",
    ])
    .args(["--features", &format!("llvm-{major}")])
    .arg("--root")
    .arg(&tools)
    .env("LLVM_PREFIX", &prefix)
    // Keep this build out of the workspace's target dir locks.
    .env("CARGO_TARGET_DIR", tools.join("build"));
    run(
        &mut cmd,
        &format!(
            "building bpf-linker with --features llvm-{major} against {}",
            llvm.display()
        ),
    )?;
    if !linker_resolves(&linker) {
        bail!(
            "bpf-linker was built but `ldd {}` does not resolve libLLVM; remove {} and run `cargo xtask setup` again",
            linker.display(),
            tools.display()
        );
    }
    fs::write(&stamp, &llvm_name)?;
    Ok(())
}

fn linker_resolves(linker: &Path) -> bool {
    match Command::new("ldd").arg(linker).output() {
        Ok(out) => {
            let text = String::from_utf8_lossy(&out.stdout);
            out.status.success() && text.contains("libLLVM") && !text.contains("not found")
        }
        Err(_) => false,
    }
}

/// bpffs and Debian packages; root only.
fn setup_system() -> Result<()> {
    require_root("mounting bpffs and installing Debian packages")?;
    let mounts = fs::read_to_string("/proc/mounts").context("cannot read /proc/mounts")?;
    let bpffs = mounts.lines().any(|l| {
        let f: Vec<&str> = l.split_whitespace().collect();
        f.len() > 2 && f[1] == "/sys/fs/bpf" && f[2] == "bpf"
    });
    if !bpffs {
        eprintln!("setup: mounting bpffs at /sys/fs/bpf");
        run(
            Command::new("mount").args(["-t", "bpf", "bpf", "/sys/fs/bpf"]),
            "mounting bpffs at /sys/fs/bpf",
        )?;
    }
    let missing: Vec<&str> = packages::to_install()
        .into_iter()
        .filter(|p| {
            !Command::new("dpkg-query")
                .args(["-W", "-f=${Status}", p])
                .output()
                .map(|o| String::from_utf8_lossy(&o.stdout).contains("install ok installed"))
                .unwrap_or(false)
        })
        .collect();
    if !missing.is_empty() {
        eprintln!("setup: installing Debian packages: {}", missing.join(" "));
        run(
            Command::new("apt-get").args(["update", "-q"]),
            "apt-get update (check the machine's Debian mirror access)",
        )?;
        run(
            Command::new("apt-get")
                .args(["install", "-y", "-q", "--no-install-recommends"])
                .args(&missing)
                .env("DEBIAN_FRONTEND", "noninteractive"),
            &format!("apt-get install {}", missing.join(" ")),
        )?;
    }
    Ok(())
}

/// Paths of the built eBPF objects, handed to builds and tests through the environment.
struct Objects {
    gateway: PathBuf,
    sim: PathBuf,
    /// The release `opd-gateway` binary with `gateway` embedded.
    daemon: PathBuf,
    /// The Debian package, once built.
    deb: Option<PathBuf>,
}

impl Objects {
    fn apply(&self, cmd: &mut Command) {
        cmd.env("OPD_GATEWAY_EBPF", &self.gateway)
            .env("OPD_SIM_EBPF", &self.sim)
            .env("OPD_GATEWAY_BIN", &self.daemon);
        if let Some(deb) = &self.deb {
            cmd.env("OPD_GATEWAY_DEB", deb);
        }
    }
}

/// cargo-deb, installed into the project's tools folder once.
fn cargo_deb(root: &Path) -> Result<PathBuf> {
    let tools = tools_dir(root);
    let bin = tools.join("bin/cargo-deb");
    if !bin.is_file() {
        eprintln!("setup: installing cargo-deb (a few minutes, once)");
        run(
            cargo(root)
                .args([
                    "install",
                    "cargo-deb",
                    "--locked",
                    "--version",
                    "3.8.0",
                    "--root",
                ])
                .arg(&tools)
                .env("CARGO_TARGET_DIR", tools.join("build")),
            "installing cargo-deb",
        )?;
    }
    Ok(bin)
}

/// The Debian package: manual pages and completions generated by the built binary, then
/// cargo-deb around the release build.
fn package(root: &Path, objs: &Objects) -> Result<PathBuf> {
    let cargo_deb = cargo_deb(root)?;
    let dist = root.join("target/dist");
    let _ = fs::remove_dir_all(&dist); // a fresh set of generated files
    run(
        Command::new(&objs.daemon)
            .arg("manpages")
            .arg(dist.join("man")),
        "generating the manual pages",
    )?;
    fs::create_dir_all(dist.join("completions"))?;
    for (shell, file) in [
        ("bash", "opd-gateway.bash"),
        ("zsh", "_opd-gateway"),
        ("fish", "opd-gateway.fish"),
    ] {
        let text = output(Command::new(&objs.daemon).args(["completions", shell]))?;
        fs::write(dist.join("completions").join(file), text)?;
    }
    let out_dir = root.join("target/debian");
    let _ = fs::remove_dir_all(&out_dir); // only this build's package in it
    let mut cmd = Command::new(cargo_deb);
    cmd.current_dir(root)
        .args([
            "deb",
            "-p",
            "opd-gateway",
            "--no-build",
            "--no-strip",
            "--output",
        ])
        .arg(&out_dir);
    run(&mut cmd, "building the Debian package")?;
    fs::read_dir(&out_dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .find(|p| p.extension().is_some_and(|x| x == "deb"))
        .context("cargo-deb wrote no .deb")
}

fn ebpf_build_cmd(root: &Path, subcommand: &str) -> Command {
    let tools_bin = tools_dir(root).join("bin");
    let mut path = OsString::from(&tools_bin);
    path.push(":");
    path.push(env::var_os("PATH").unwrap_or_default());
    let mut cmd = Command::new("cargo");
    cmd.current_dir(root.join("gateway-ebpf"))
        // The outer `cargo` (stable) sets these; the nightly build must not inherit them.
        .env_remove("RUSTUP_TOOLCHAIN")
        .env_remove("RUSTC")
        .env_remove("RUSTDOC")
        .env_remove("CARGO")
        .env("PATH", path)
        .env("CARGO_TARGET_DIR", root.join("target/ebpf"))
        .args([
            "+nightly",
            subcommand,
            "--release",
            "--target",
            "bpfel-unknown-none",
        ])
        .args(["-Z", "build-std=core"]);
    cmd
}

fn build(root: &Path) -> Result<Objects> {
    run(
        &mut ebpf_build_cmd(root, "build"),
        "building the XDP programs (gateway-ebpf)",
    )?;
    let dir = root.join("target/ebpf/bpfel-unknown-none/release");
    let objs = Objects {
        gateway: dir.join("opd-gateway"),
        sim: dir.join("opd-sim"),
        daemon: root.join("target/release/opd-gateway"),
        deb: None,
    };
    let mut cmd = cargo(root);
    cmd.args(["build", "--release", "-p", "opd-gateway"]);
    objs.apply(&mut cmd);
    run(&mut cmd, "building opd-gateway")?;
    Ok(objs)
}

fn test(root: &Path, objs: &Objects, args: &[String]) -> Result<()> {
    eprintln!("== unit and property tests (unprivileged)");
    let mut cmd = cargo(root);
    cmd.args([
        "test",
        "--release",
        "--workspace",
        "--exclude",
        "opd-testbed",
    ]);
    objs.apply(&mut cmd);
    run(&mut cmd, "unit tests")?;

    // Before the privileged tier: a loader crash is an unprivileged failure, found in a
    // minute, not after half an hour of traffic tests.
    eprintln!("== fuzzing the policy loader (60 s; `cargo xtask fuzz --time N` for longer)");
    fuzz::fuzz(
        root,
        fuzz::Mode::Fuzz {
            secs: 60,
            quiet: true,
        },
    )?;

    eprintln!("== data plane and traffic tests (privileged)");
    let mut cmd = cargo(root);
    cmd.args(["test", "--release", "-p", "opd-testbed", "--"])
        // Traffic tests measure rates: one at a time on a small machine. Their figures
        // (delivered rates, TCP goodput) belong in the log, passing or not.
        .args(["--test-threads=1", "--nocapture"])
        .args(args);
    objs.apply(&mut cmd);
    cmd.env("OPD_GATEWAY_BIN", root.join("target/release/opd-gateway"));
    run(&mut cmd, "privileged tests")
}

fn lint(root: &Path) -> Result<()> {
    run(
        cargo(root).args(["fmt", "--all", "--", "--check"]),
        "cargo fmt",
    )?;
    run(
        Command::new("cargo")
            .current_dir(root.join("gateway-ebpf"))
            .args(["fmt", "--", "--check"]),
        "cargo fmt (gateway-ebpf)",
    )?;
    run(
        Command::new("cargo")
            .current_dir(root.join("fuzz"))
            .args(["+nightly", "fmt", "--", "--check"]),
        "cargo fmt (fuzz)",
    )?;
    run(
        cargo(root).args([
            "clippy",
            "--workspace",
            "--all-targets",
            "--",
            "-D",
            "warnings",
        ]),
        "cargo clippy",
    )?;
    run(
        ebpf_build_cmd(root, "clippy").args(["--", "-D", "warnings"]),
        "cargo clippy (gateway-ebpf)",
    )?;
    run(
        Command::new("cargo")
            .current_dir(root.join("fuzz"))
            .env_remove("RUSTUP_TOOLCHAIN")
            .env_remove("RUSTC")
            .env_remove("CARGO")
            .env("CARGO_TARGET_DIR", root.join("target/fuzz/clippy"))
            .args(["+nightly", "clippy", "--", "-D", "warnings"]),
        "cargo clippy (fuzz)",
    )
}
