//! The systemd side of the daemon: the notify protocol (READY, RELOADING, STOPPING, the
//! watchdog) when systemd runs the service with `Type=notify`, through the sd-notify crate.
//! Outside systemd (no `$NOTIFY_SOCKET`) every call does nothing.

use std::time::Duration;

use sd_notify::NotifyState;

/// The daemon's link to its service manager.
pub struct Notifier {
    /// Half of `WatchdogSec`, when systemd asks for watchdog pings.
    pub watchdog_every: Option<Duration>,
}

impl Notifier {
    /// Reads `WATCHDOG_USEC` (honoured only if `WATCHDOG_PID` is unset or ours).
    pub fn from_env() -> Notifier {
        Notifier {
            watchdog_every: sd_notify::watchdog_enabled().map(|every| every / 2),
        }
    }

    fn send(&self, states: &[NotifyState]) {
        if let Err(e) = sd_notify::notify(states) {
            // systemd going away must not take the data plane's daemon with it.
            tracing::warn!(error = %e, "cannot notify systemd");
        }
    }

    /// Programs attached, policy in force.
    pub fn ready(&self, status: &str) {
        self.send(&[NotifyState::Ready, NotifyState::Status(status)]);
    }

    /// A reload starts now (systemd ≥ 253 wants the monotonic time with it).
    pub fn reloading(&self) {
        match NotifyState::monotonic_usec_now() {
            Ok(now) => self.send(&[NotifyState::Reloading, now]),
            Err(e) => tracing::warn!(error = %e, "cannot read the monotonic clock"),
        }
    }

    /// The control loop is alive: sent from the loop itself, so a stuck loop stops pinging.
    pub fn watchdog(&self) {
        self.send(&[NotifyState::Watchdog]);
    }

    pub fn stopping(&self) {
        self.send(&[NotifyState::Stopping]);
    }
}
