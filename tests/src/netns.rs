//! Network namespaces of the test bed, and the names it gives everything it creates.
//!
//! Every namespace, bpffs mount point and scratch directory is named `opd-<pid>-<n>-<role>`:
//! unique to this process, so tests never share one, and traceable to it, so a later run can
//! remove what a killed run left behind ([`sweep_stale`]).

use std::{
    fs::File,
    os::fd::AsFd,
    process::{Command, Output},
    sync::atomic::{AtomicU32, Ordering},
};

use nix::sched::{CloneFlags, setns};

use crate::sh;

static NEXT: AtomicU32 = AtomicU32::new(0);

/// A name unique to this process and this call: `opd-<pid>-<n>-<role>`.
pub fn unique_name(role: &str) -> String {
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    format!("opd-{}-{n}-{role}", std::process::id())
}

/// The process id in a name this test bed gave (`opd-<pid>-…`), if it is one.
fn owner_pid(name: &str) -> Option<u32> {
    name.strip_prefix("opd-")?.split('-').next()?.parse().ok()
}

fn process_alive(pid: u32) -> bool {
    std::path::Path::new(&format!("/proc/{pid}")).exists()
}

/// Removes what earlier runs of the test bed left behind when they were killed before
/// their guards could run (`kill -9`, a CI timeout): namespaces named `opd-<pid>-…` and
/// bpffs mounts `<tmp>/opd-<pid>-…-bpffs` whose process is gone, and the processes still
/// running inside those namespaces (a gateway daemon outlives its test). Names of live
/// processes, and anything not named by this test bed, are left alone.
pub fn sweep_stale() {
    let listed = Command::new("ip").args(["netns", "list"]).output();
    let text = listed
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default();
    for ns in text.lines().filter_map(|l| l.split_whitespace().next()) {
        if owner_pid(ns).is_none_or(process_alive) {
            continue;
        }
        if let Ok(o) = Command::new("ip").args(["netns", "pids", ns]).output() {
            for pid in String::from_utf8_lossy(&o.stdout).split_whitespace() {
                if let Ok(pid) = pid.parse::<i32>() {
                    // SAFETY: a signal to a process in a namespace we created.
                    unsafe { libc::kill(pid, libc::SIGKILL) };
                }
            }
        }
        eprintln!("removing network namespace {ns} left by a killed run");
        let _ = Command::new("ip").args(["netns", "del", ns]).status();
    }
    let mounts = std::fs::read_to_string("/proc/self/mounts").unwrap_or_default();
    let tmp = std::env::temp_dir();
    for point in mounts
        .lines()
        .filter(|l| l.starts_with("bpf "))
        .filter_map(|l| l.split_whitespace().nth(1))
    {
        let path = std::path::Path::new(point);
        let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
            continue;
        };
        if path.parent() != Some(tmp.as_path())
            || !name.ends_with("-bpffs")
            || owner_pid(name).is_none_or(process_alive)
        {
            continue;
        }
        eprintln!("removing bpffs {point} left by a killed run");
        let _ = opd_gateway::dataplane::remove_pins(&path.join("opd-gateway"), false);
        if Command::new("umount")
            .arg(path)
            .status()
            .is_ok_and(|s| s.success())
        {
            let _ = std::fs::remove_dir(path);
        }
    }
    // State directories (a gateway's history) of killed runs.
    for entry in std::fs::read_dir(&tmp).into_iter().flatten().flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.ends_with("-state") && owner_pid(&name).is_some_and(|p| !process_alive(p)) {
            eprintln!("removing state directory {name} left by a killed run");
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

/// A network namespace that is deleted when dropped.
pub struct Netns {
    name: String,
}

impl Netns {
    /// A namespace named uniquely for this process: `opd-<pid>-<n>-<role>`.
    pub fn new(role: &str) -> Netns {
        let name = unique_name(role);
        sh(Command::new("ip").args(["netns", "add", &name]));
        let ns = Netns { name };
        ns.ip(&["link", "set", "lo", "up"]);
        ns
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// `ip -n <ns> ARGS`.
    pub fn ip(&self, args: &[&str]) -> Output {
        sh(Command::new("ip").arg("-n").arg(&self.name).args(args))
    }

    /// A command run inside the namespace (`ip netns exec`).
    pub fn command(&self, program: &str) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &self.name, program]);
        c
    }

    /// Runs `f` on a thread inside the namespace: sockets it opens and interfaces it looks up
    /// are this namespace's.
    pub fn enter<T: Send>(&self, f: impl FnOnce() -> T + Send) -> T {
        let path = format!("/run/netns/{}", self.name);
        std::thread::scope(|s| {
            s.spawn(|| {
                let file = File::open(&path).unwrap_or_else(|e| panic!("cannot open {path}: {e}"));
                setns(file.as_fd(), CloneFlags::CLONE_NEWNET)
                    .unwrap_or_else(|e| panic!("cannot enter {path}: {e}"));
                f()
            })
            .join()
            .expect("namespace thread panicked")
        })
    }

    /// Spawns a thread inside the namespace that runs `f` in the background.
    pub fn spawn<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> std::thread::JoinHandle<T> {
        let path = format!("/run/netns/{}", self.name);
        std::thread::spawn(move || {
            let file = File::open(&path).unwrap_or_else(|e| panic!("cannot open {path}: {e}"));
            setns(file.as_fd(), CloneFlags::CLONE_NEWNET)
                .unwrap_or_else(|e| panic!("cannot enter {path}: {e}"));
            f()
        })
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        // Deleting the namespace removes its interfaces and what is attached to them.
        let out = Command::new("ip")
            .args(["netns", "del", &self.name])
            .output();
        if !matches!(&out, Ok(o) if o.status.success()) {
            eprintln!(
                "warning: could not delete network namespace {}: {out:?}",
                self.name
            );
        }
    }
}
