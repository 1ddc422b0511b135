//! R8: traces of the image build. One table of categories drives both the read-only
//! inventory (`check`) and the cleanup operation (`convert`).
//!
//! (Being written: see the interface below.)

use crate::facts::OsInfo;
use crate::guest::fs::GuestFs;
use anyhow::Result;
use serde::Serialize;

/// What the cleanup does to one trace.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case", tag = "action")]
pub enum Action {
    /// Remove a file, or a symlink (never its target).
    Delete,
    /// Remove a directory tree (links inside are removed, never followed).
    DeleteTree,
    /// Empty a regular file that daemons expect to exist (current logs, wtmp, machine-id).
    Truncate,
    /// Remove the lines assigning these keys from a KEY=value file (ifcfg HWADDR, UUID).
    RemoveKeys { keys: Vec<String> },
}

/// One trace found in the guest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Trace {
    /// The category id, e.g. `shell-history`.
    pub category: &'static str,
    pub path: String,
    #[serde(flatten)]
    pub action: Action,
    /// Human detail, e.g. `2 lines: HWADDR (line 9), UUID (line 6)` or `123 bytes`.
    pub detail: String,
}

/// A category of traces.
pub struct Category {
    /// kebab-case id; the check id is `traces-<id>`.
    pub id: &'static str,
    /// One line, no trailing period.
    pub summary: &'static str,
    /// The virt-sysprep operations this category covers (empty: imgseal's own addition).
    pub sysprep: &'static [&'static str],
    pub find: fn(&dyn GuestFs, &OsInfo) -> Result<Vec<Trace>>,
}

pub fn categories() -> &'static [Category] {
    &[]
}

/// Every trace of every category not excluded.
pub fn find_all(fs: &dyn GuestFs, os: &OsInfo, exclude: &[String]) -> Result<Vec<Trace>> {
    let mut out = Vec::new();
    for c in categories() {
        if exclude.iter().any(|e| e == c.id) {
            continue;
        }
        out.extend((c.find)(fs, os)?);
    }
    Ok(out)
}
