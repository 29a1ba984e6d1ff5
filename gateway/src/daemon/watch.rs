//! Notices when an admin saves the policy: the files' identities and modification times,
//! compared every tick. A change is reported once it has stayed put for a tick, so a save in
//! several steps (editors often write a new file and rename it over the old) is read whole.
//!
//! Polling a few `stat`s per tick, rather than inotify: it sees renames and new files in a
//! policy directory without a watch per file or a thread, and works on any filesystem.

use std::path::{Path, PathBuf};

use crate::policy;

/// One file of the policy as `stat` sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Stamp {
    path: PathBuf,
    inode: u64,
    size: u64,
    modified_s: i64,
    modified_ns: i64,
}

/// The policy's files as they are now; `None` if they cannot be listed (a directory being
/// replaced, or no descriptor to spare): no sign of a change either way.
fn stamps(path: &Path) -> Option<Vec<Stamp>> {
    use std::os::unix::fs::MetadataExt;
    let mut files = policy::policy_files(path).ok()?;
    files.sort();
    files
        .into_iter()
        .map(|f| {
            let m = std::fs::metadata(&f).ok()?;
            Some(Stamp {
                path: f,
                inode: m.ino(),
                size: m.size(),
                modified_s: m.mtime(),
                modified_ns: m.mtime_nsec(),
            })
        })
        .collect()
}

/// Watches a policy file or directory.
pub struct PolicyWatcher {
    path: PathBuf,
    /// As of the last reload.
    seen: Option<Vec<Stamp>>,
    /// A change seen at the last check, waiting to stay put.
    pending: Option<Vec<Stamp>>,
}

impl PolicyWatcher {
    pub fn new(path: &Path) -> PolicyWatcher {
        PolicyWatcher {
            path: path.to_path_buf(),
            seen: stamps(path),
            pending: None,
        }
    }

    /// True when the files changed and then stayed as they are since the last check.
    pub fn changed(&mut self) -> bool {
        let Some(now) = stamps(&self.path) else {
            return false;
        };
        if Some(&now) == self.seen.as_ref() {
            self.pending = None;
            return false;
        }
        if self.pending.as_ref() == Some(&now) {
            return true;
        }
        self.pending = Some(now);
        false
    }

    /// The files as they are now count as seen (after a reload, whatever its cause).
    pub fn reloaded(&mut self) {
        self.seen = stamps(&self.path);
        self.pending = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_change_is_reported_once_it_has_stayed_put_for_a_check() {
        let dir = std::env::temp_dir().join(format!("opd-watch-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("00-site.toml");
        std::fs::write(&file, "a").unwrap();
        let mut w = PolicyWatcher::new(&dir);
        assert!(!w.changed());
        // Saved by writing a new file and renaming it over the old one.
        let tmp = dir.join(".00-site.toml.swp");
        std::fs::write(&tmp, "bb").unwrap();
        std::fs::rename(&tmp, &file).unwrap();
        assert!(!w.changed(), "reported before it stayed put");
        assert!(w.changed(), "not reported once it stayed put");
        w.reloaded();
        assert!(!w.changed());
        // A new file in the directory is a change too.
        std::fs::write(dir.join("10-agencies.toml"), "c").unwrap();
        assert!(!w.changed());
        assert!(w.changed());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
