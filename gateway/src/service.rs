//! The systemd side of the daemon: the notify protocol (READY, RELOADING, STOPPING, the
//! watchdog), spoken over `$NOTIFY_SOCKET` when systemd runs the service with `Type=notify`.

use std::{os::unix::net::UnixDatagram, time::Duration};

/// A connection to systemd's notify socket, or nothing when not run by systemd.
pub struct Notifier {
    socket: Option<(UnixDatagram, std::os::unix::net::SocketAddr)>,
    /// Half of `WatchdogSec`, when systemd asks for watchdog pings.
    pub watchdog_every: Option<Duration>,
}

impl Notifier {
    /// Reads `NOTIFY_SOCKET` (a path, or `@name` for the abstract namespace) and
    /// `WATCHDOG_USEC` (honoured only if `WATCHDOG_PID` is unset or ours).
    pub fn from_env() -> std::io::Result<Notifier> {
        let socket = match std::env::var_os("NOTIFY_SOCKET") {
            None => None,
            Some(path) => {
                use std::os::unix::{ffi::OsStrExt, net::SocketAddr};
                let bytes = path.as_bytes();
                let addr = match bytes.strip_prefix(b"@") {
                    Some(name) => {
                        use std::os::linux::net::SocketAddrExt;
                        SocketAddr::from_abstract_name(name)?
                    }
                    None => SocketAddr::from_pathname(std::path::Path::new(&path))?,
                };
                Some((UnixDatagram::unbound()?, addr))
            }
        };
        let ours = std::env::var("WATCHDOG_PID")
            .map(|p| p.trim() == std::process::id().to_string())
            .unwrap_or(true);
        let watchdog_every = std::env::var("WATCHDOG_USEC")
            .ok()
            .and_then(|v| v.trim().parse::<u64>().ok())
            .filter(|&us| us > 0 && ours)
            .map(|us| Duration::from_micros(us / 2));
        Ok(Notifier {
            socket,
            watchdog_every,
        })
    }

    fn send(&self, message: &str) {
        if let Some((sock, addr)) = &self.socket
            && let Err(e) = sock.send_to_addr(message.as_bytes(), addr)
        {
            // systemd going away must not take the data plane's daemon with it.
            tracing::warn!(error = %e, "cannot notify systemd");
        }
    }

    /// Programs attached, policy in force.
    pub fn ready(&self, status: &str) {
        self.send(&format!("READY=1\nSTATUS={status}"));
    }

    /// A reload starts now (systemd ≥ 253 wants the monotonic time with it).
    pub fn reloading(&self) {
        let usec = crate::control::monotonic_ns() / 1000;
        self.send(&format!("RELOADING=1\nMONOTONIC_USEC={usec}"));
    }

    /// The control loop is alive: sent from the loop itself, so a stuck loop stops pinging.
    pub fn watchdog(&self) {
        self.send("WATCHDOG=1");
    }

    pub fn stopping(&self) {
        self.send("STOPPING=1");
    }

    pub fn status(&self, status: &str) {
        self.send(&format!("STATUS={status}"));
    }
}
