//! Programs the test bed runs: one-shot commands that must succeed ([`sh`]), long-running
//! children stopped when their guard drops ([`Process`]), and what every privileged test needs
//! before it starts (root, the paths `cargo xtask` hands over).

use std::{
    path::PathBuf,
    process::{Child, Command, Output, Stdio},
    time::{Duration, Instant},
};

/// Fails the calling test loudly unless it runs as root.
pub fn require_root() {
    // SAFETY: no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        panic!(
            "this test needs root (it creates network namespaces and attaches XDP programs); \
             run the tests with `cargo xtask test` as root"
        );
    }
}

/// A path given by `cargo xtask` through the environment; panics with what to do if absent.
pub fn env_path(var: &str) -> PathBuf {
    let p = std::env::var_os(var).unwrap_or_else(|| {
        panic!("{var} is not set: run this through `cargo xtask test` or `cargo xtask demo`")
    });
    let p = PathBuf::from(p);
    assert!(
        p.exists(),
        "{var}={} does not exist; run `cargo xtask build`",
        p.display()
    );
    p
}

/// Runs a command to completion and panics with its output if it fails.
pub fn sh(cmd: &mut Command) -> Output {
    const SETUP: &str = "`cargo xtask setup` installs every program the tests use";
    let out = cmd.output().unwrap_or_else(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            panic!("{:?} is not installed: {SETUP}", cmd.get_program());
        }
        panic!("cannot run {cmd:?}: {e}")
    });
    if !out.status.success() {
        let stderr = String::from_utf8_lossy(&out.stderr);
        // `ip netns exec` reports a missing program this way.
        let hint = if stderr.contains("exec of") && stderr.contains("No such file") {
            format!("\n(a program is not installed: {SETUP})")
        } else {
            String::new()
        };
        panic!(
            "{cmd:?} failed ({}):\n{}{stderr}{hint}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
        );
    }
    out
}

/// A child process killed (SIGTERM, then SIGKILL) when dropped.
pub struct Process {
    pub child: Option<Child>,
    what: String,
    /// Its standard error so far, when spawned with [`Process::spawn_logged`].
    log: Option<std::sync::Arc<std::sync::Mutex<String>>>,
}

impl Process {
    pub fn spawn(mut cmd: Command, what: &str) -> Process {
        let child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {what} ({cmd:?}): {e}"));
        Process {
            child: Some(child),
            what: what.into(),
            log: None,
        }
    }

    /// Spawns with standard error passed through and kept, for [`Process::log`].
    pub fn spawn_logged(mut cmd: Command, what: &str) -> Process {
        use std::io::BufRead;
        cmd.stderr(Stdio::piped());
        let mut p = Process::spawn(cmd, what);
        let stderr = p.child.as_mut().unwrap().stderr.take().unwrap();
        let log = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
        let sink = log.clone();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(stderr)
                .lines()
                .map_while(Result::ok)
            {
                eprintln!("{line}");
                let mut l = sink.lock().unwrap();
                l.push_str(&line);
                l.push('\n');
            }
        });
        p.log = Some(log);
        p
    }

    /// What the process wrote to standard error so far.
    pub fn log(&self) -> String {
        self.log
            .as_ref()
            .map(|l| l.lock().unwrap().clone())
            .unwrap_or_default()
    }

    /// Sends a signal (e.g. `libc::SIGHUP`).
    pub fn signal(&self, sig: libc::c_int) {
        let child = self.child.as_ref().expect("the process was started");
        // SAFETY: signalling our own child.
        let r = unsafe { libc::kill(child.id() as i32, sig) };
        assert_eq!(r, 0, "cannot signal {}", self.what);
    }

    /// Sends SIGTERM and waits (bounded) for the exit status.
    pub fn stop(&mut self) -> Option<std::process::ExitStatus> {
        let mut child = self.child.take()?;
        // SAFETY: signalling our own child.
        unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            match child.try_wait() {
                Ok(Some(status)) => return Some(status),
                Ok(None) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(20))
                }
                _ => {
                    eprintln!("warning: {} did not stop on SIGTERM; killing it", self.what);
                    let _ = child.kill(); // it may have exited just now
                    return child.wait().ok();
                }
            }
        }
    }

    /// True while the process runs.
    pub fn running(&mut self) -> bool {
        matches!(self.child.as_mut().map(|c| c.try_wait()), Some(Ok(None)))
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        self.stop();
    }
}
