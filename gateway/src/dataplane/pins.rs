//! Maps and links pinned in bpffs, so enforcement outlives the daemon: checked against this
//! build's map layout on start, adopted if they match, replaced if not.

use std::path::Path;

use aya::maps::MapData;
use gateway_common::map;

use super::{DataplaneError, PROGRAMS, Result, contents::Contents};

/// What a starting daemon found in its pin directory.
#[derive(Debug)]
pub enum Pins {
    /// Nothing: maps created and pinned.
    Fresh,
    /// The maps of a previous daemon of this build, adopted with what they hold.
    Adopted { contents: Contents },
    /// Maps of another layout (another version), removed and created anew.
    Replaced { reason: String },
}

pub(super) enum Found {
    Nothing,
    Compatible,
    Incompatible(String),
}

fn pin_dir_error(dir: &Path) -> impl Fn(std::io::Error) -> DataplaneError + '_ {
    move |source| DataplaneError::PinDir {
        dir: dir.to_path_buf(),
        source,
    }
}

/// Makes `dir` ready for this build's maps: created if absent, emptied of maps of another
/// layout. Says what it found.
pub(super) fn prepare(dir: &Path, host_table: u32) -> Result<Found> {
    std::fs::create_dir_all(dir).map_err(pin_dir_error(dir))?;
    let found = check(dir, host_table)?;
    if let Found::Incompatible(_) = found {
        remove_pins(dir, false)?;
        std::fs::create_dir_all(dir).map_err(pin_dir_error(dir))?;
    }
    Ok(found)
}

/// Compares pinned maps with this build's map definitions (type, key and value size,
/// entries; the host table's entries as the policy sizes it). A host table of another size
/// is removed, to be created anew: its hosts start afresh, and everything else is kept.
fn check(dir: &Path, host_table: u32) -> Result<Found> {
    let obj = aya_obj::Object::parse(PROGRAMS).map_err(|e| DataplaneError::Pin {
        what: "the programs' map definitions".into(),
        dir: dir.to_path_buf(),
        source: Box::new(e),
    })?;
    let mut present = 0;
    for name in map::ALL {
        let path = dir.join(name);
        if !path.exists() {
            continue;
        }
        present += 1;
        let want = obj.maps.get(name).ok_or(DataplaneError::MissingMap(name))?;
        let info = match MapData::from_pin(&path).and_then(|m| m.info()) {
            Ok(info) => info,
            Err(e) => return Ok(Found::Incompatible(format!("{name} cannot be opened: {e}"))),
        };
        let have_type = info.map_type().map(|t| t as u32).unwrap_or(u32::MAX);
        let have = (
            have_type,
            info.key_size(),
            info.value_size(),
            info.max_entries(),
        );
        let entries = if name == map::HOSTS {
            host_table
        } else {
            want.max_entries()
        };
        let want = (want.map_type(), want.key_size(), want.value_size(), entries);
        if name == map::HOSTS && have.0 == want.0 && have.1 == want.1 && have.2 == want.2 {
            if have.3 != want.3 {
                std::fs::remove_file(&path).map_err(pin_dir_error(&path))?;
                tracing::info!(
                    from = have.3,
                    to = want.3,
                    "the host table is resized: its hosts start afresh"
                );
            }
            continue;
        }
        // Per-CPU and other special maps report their entries as created; compare all.
        if have != want {
            return Ok(Found::Incompatible(format!(
                "{name} has (type, key, value, entries) {have:?}, this build needs {want:?}"
            )));
        }
    }
    Ok(match present {
        0 => Found::Nothing,
        n if n == map::ALL.len() => Found::Compatible,
        n => Found::Incompatible(format!(
            "only {n} of the {} maps are pinned",
            map::ALL.len()
        )),
    })
}

/// Removes what a daemon pinned under `dir`: the links (which detaches the programs from
/// the ports) and, unless `links_only`, the maps and the directory. Returns what it removed.
pub fn remove_pins(dir: &Path, links_only: bool) -> Result<Vec<String>> {
    let mut removed = Vec::new();
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(removed),
        Err(source) => {
            return Err(DataplaneError::PinDir {
                dir: dir.to_path_buf(),
                source,
            });
        }
    };
    let mut names: Vec<String> = entries
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    // Links first: the ports stop running the programs before their maps go.
    names.sort_by_key(|n| !super::attach::is_link_pin(n));
    for name in names {
        let is_link = super::attach::is_link_pin(&name);
        if !is_link && (links_only || !map::ALL.contains(&name.as_str())) {
            continue;
        }
        std::fs::remove_file(dir.join(&name)).map_err(pin_dir_error(&dir.join(&name)))?;
        removed.push(name);
    }
    if !links_only {
        // Only if empty: something else pinned there is not ours to remove.
        let _ = std::fs::remove_dir(dir);
    }
    Ok(removed)
}
