//! Every external program the gateway, the tests, the test bed, the demo, the benchmarks and
//! xtask itself start, and where a fresh Debian machine gets it. `cargo xtask setup`
//! installs the Debian packages named here; a test reads the sources and fails when a
//! program is started that this table does not name.

/// Where a program comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
    /// A Debian package that `cargo xtask setup` installs.
    Install(&'static str),
    /// A package of every Debian system (priority required), never installed by setup.
    Base(&'static str),
    /// The Rust toolchain (rustup, cargo, rustc), which building the project needs anyway.
    Toolchain,
}

/// Program → where it comes from. One line per program.
pub const PROGRAMS: &[(&str, Source)] = &[
    // Installed by setup.
    ("bpftool", Source::Install("bpftool")),
    ("chromium", Source::Install("chromium")),
    ("ethtool", Source::Install("ethtool")),
    ("iperf3", Source::Install("iperf3")),
    ("ip", Source::Install("iproute2")),
    ("tc", Source::Install("iproute2")),
    ("ping", Source::Install("iputils-ping")),
    ("man", Source::Install("man-db")),
    ("prometheus", Source::Install("prometheus")),
    ("promtool", Source::Install("prometheus")),
    ("sysctl", Source::Install("procps")),
    ("systemd-analyze", Source::Install("systemd")),
    // Every Debian system has these.
    ("apt-get", Source::Base("apt")),
    ("dpkg-deb", Source::Base("dpkg")),
    ("dpkg-query", Source::Base("dpkg")),
    ("ldd", Source::Base("libc-bin")),
    ("mount", Source::Base("mount")),
    ("umount", Source::Base("mount")),
    ("prlimit", Source::Base("util-linux")),
    ("setpriv", Source::Base("util-linux")),
    ("sh", Source::Base("dash")),
    ("uname", Source::Base("coreutils")),
    // The toolchain that builds the project.
    ("cargo", Source::Toolchain),
    ("rustc", Source::Toolchain),
    ("rustup", Source::Toolchain),
];

/// Packages no program is started from that setup installs too, and why.
pub const SUPPORT: &[(&str, &str)] = &[
    (
        "fonts-dejavu-core",
        "the text of the pages headless Chromium renders for the screenshots in docs/ (Chromium \
         depends on no font)",
    ),
    (
        "g++",
        "libFuzzer's C++ runtime, which libfuzzer-sys compiles for the policy fuzz target",
    ),
];

/// The Debian packages setup installs, each once, in the order of [`PROGRAMS`], then
/// [`SUPPORT`].
pub fn to_install() -> Vec<&'static str> {
    let mut out: Vec<&'static str> = Vec::new();
    for (_, source) in PROGRAMS {
        if let Source::Install(p) = source
            && !out.contains(p)
        {
            out.push(p);
        }
    }
    for (p, _) in SUPPORT {
        if !out.contains(p) {
            out.push(p);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use std::path::{Path, PathBuf};

    use super::*;

    /// The workspace's Rust sources that start programs (the eBPF crate starts none).
    fn sources() -> Vec<PathBuf> {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
        let mut out = Vec::new();
        let mut dirs: Vec<PathBuf> = ["gateway", "tests", "xtask"]
            .iter()
            .map(|d| root.join(d))
            .collect();
        while let Some(dir) = dirs.pop() {
            for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{dir:?}: {e}")) {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    dirs.push(path);
                } else if path.extension().is_some_and(|x| x == "rs") {
                    out.push(path);
                }
            }
        }
        assert!(out.len() > 20, "found only {} source files", out.len());
        out
    }

    /// The first string literal at or after `from`, if it comes before `limit`.
    fn literal(text: &str, from: usize, limit: usize) -> Option<&str> {
        let rest = &text[from..limit.min(text.len())];
        let open = rest.find('"')?;
        let len = rest[open + 1..].find('"')?;
        Some(&rest[open + 1..open + 1 + len])
    }

    /// Programs named by a literal where the sources start one: `Command::new("…")`,
    /// `.command("…")` (a program run inside a test namespace), and the wrapper program of
    /// `start_gateway_with(…, &["…", …])`. With the file and line of each.
    fn started_programs() -> Vec<(String, String)> {
        let mut found = Vec::new();
        // This file names the patterns it looks for.
        for path in sources().into_iter().filter(|p| !p.ends_with(file!())) {
            let text = std::fs::read_to_string(&path).unwrap();
            let mut add = |at: usize, program: &str| {
                let line_start = text[..at].rfind('\n').map_or(0, |i| i + 1);
                if text[line_start..at].trim_start().starts_with("//") {
                    return; // a comment
                }
                let line = text[..at].lines().count();
                found.push((program.to_string(), format!("{}:{line}", path.display())));
            };
            for call in ["Command::new(", ".command("] {
                for (at, _) in text.match_indices(call) {
                    let args = at + call.len();
                    // Only literal program names: `Command::new(&bin)` starts our own build.
                    if text[args..].starts_with('"')
                        && let Some(p) = literal(&text, args, args + 80)
                    {
                        add(at, p);
                    }
                }
            }
            for (at, _) in text.match_indices("start_gateway_with(") {
                if let Some(list) = text[at..].find("&[").map(|i| at + i)
                    && let Some(p) = literal(&text, list, list + 80)
                {
                    add(at, p);
                }
            }
        }
        found
    }

    #[test]
    fn every_program_started_is_installed_by_setup_or_part_of_debian() {
        let started = started_programs();
        // The scan itself works: these are started today.
        for known in ["iperf3", "bpftool", "ip", "setpriv"] {
            assert!(
                started.iter().any(|(p, _)| p == known),
                "the scan no longer finds `{known}` being started; fix the scan"
            );
        }
        let mut missing = Vec::new();
        for (program, at) in &started {
            if !PROGRAMS.iter().any(|(p, _)| p == program) {
                missing.push(format!("`{program}` (started at {at})"));
            }
        }
        assert!(
            missing.is_empty(),
            "programs started but not in xtask/src/packages.rs, so a fresh machine may not \
             have them: {}. Add each with the Debian package that provides it \
             (`dpkg -S $(command -v <program>)`), as Source::Install unless every Debian \
             system has it",
            missing.join(", ")
        );
    }

    #[test]
    fn every_program_in_the_table_is_started_somewhere() {
        let started = started_programs();
        let unused: Vec<&str> = PROGRAMS
            .iter()
            .map(|(p, _)| *p)
            .filter(|p| !started.iter().any(|(s, _)| s == p))
            .collect();
        assert!(
            unused.is_empty(),
            "xtask/src/packages.rs names programs nothing starts: {unused:?}; remove them"
        );
    }
}
