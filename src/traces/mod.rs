//! R8: traces of the image build. One table of categories drives both the read-only
//! inventory (`check`) and the cleanup operation (`convert`).
//!
//! Each [`Category`] finds the concrete [`Trace`]s present in a guest, each with the
//! [`Action`] that clears it; [`apply`] performs one trace's action. The categories cover
//! virt-sysprep's default Linux operations (see [`Category::sysprep`]) plus what sysprep
//! misses: every shell and REPL history, cloud-init state and logs, the systemd journal,
//! installer leftovers, user caches and the systemd random seed.
//!
//! What counts as a trace:
//! - an empty regular file or an empty directory carries nothing and is not a trace, except
//!   in `tmp-files` and `pam-data`, where an entry's existence is the state;
//! - a symlink at a trace path is a trace to `Delete` (the link, never its target), except a
//!   link into `/dev` (`~/.bash_history -> /dev/null` is a deliberate setting), and except
//!   where noted (`machine-id`, `blkid-tab`, `net-*` files, links in `/var/log` without a
//!   log's name such as Debian's `/var/log/README`);
//! - every path belongs to one category at most (the two `net-*` categories remove disjoint
//!   keys from the same ifcfg file).
//!
//! Safety, the operation contract: a missing file is normal, not an error; decisions are
//! made on `lstat`/`walk`, never by reading through a link; a path below a symlink is
//! skipped (the link, when it is a trace itself, is reported by its own category and
//! removed as a link); well-known system links (`/var/run -> /run`, `/var/lock ->
//! /run/lock`, `/var/mail <-> /var/spool/mail`, `/home -> var/home`, `/root ->
//! var/roothome`) are mapped to their canonical path first, so they do not hide traces.
//! `apply` checks all of this again right before acting.
//!
//! Layout: this file holds the types, [`find_all`] and [`apply`]; `paths` the path-safety
//! helpers every category goes through; `categories` the table and its find functions.

mod categories;
mod paths;
#[cfg(test)]
mod tests;

use crate::applies::Applies;
use crate::facts::OsInfo;
use crate::guest::fs::{GuestFs, Kind};
use crate::parse::shellvars;
use anyhow::{Context, Result};
use paths::{TMP_DIRS, at};
use serde::Serialize;
use std::collections::BTreeSet;

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
    /// The canonical guest path (`/run/utmp`, not `/var/run/utmp`).
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
    /// The guests it is about; on others it finds nothing.
    pub applies: Applies,
    /// The traces of this category present in the guest. Read-only. Callers go through
    /// [`Category::find`], which asks `applies` first.
    pub scan: fn(&dyn GuestFs) -> Result<Vec<Trace>>,
}

impl Category {
    /// The traces of this category present in the guest; none on a guest it is not about.
    pub fn find(&self, fs: &dyn GuestFs, os: &OsInfo) -> Result<Vec<Trace>> {
        if self.applies.matches(os) {
            (self.scan)(fs)
        } else {
            Ok(vec![])
        }
    }
}

/// Every category, in the order `check` reports them and `convert` clears them.
pub fn categories() -> &'static [Category] {
    categories::CATEGORIES
}

/// Every trace of every category not excluded.
pub fn find_all(fs: &dyn GuestFs, os: &OsInfo, exclude: &[String]) -> Result<Vec<Trace>> {
    let mut out = Vec::new();
    for c in categories() {
        if exclude.iter().any(|e| e == c.id) {
            continue;
        }
        out.extend(c.find(fs, os)?);
    }
    Ok(out)
}

/// Performs one trace's action; returns whether it changed anything.
///
/// The path is checked again with `lstat` right before acting, since the guest may have
/// changed: a missing path, or one below a symlink, is left alone (`Ok(false)`); a path
/// that is a symlink is removed as a link, whatever the action; only regular files are
/// truncated or rewritten; a `Delete` never removes a directory.
///
/// The one place `apply` creates something: when `/tmp` or `/var/tmp` is a symlink (a
/// `tmp-files` trace), the link is replaced by an empty directory with mode 01777, because
/// a system needs both.
pub fn apply(fs: &dyn GuestFs, t: &Trace) -> Result<bool> {
    apply_checked(fs, t).with_context(|| format!("clearing {} ({})", t.path, t.category))
}

fn apply_checked(fs: &dyn GuestFs, t: &Trace) -> Result<bool> {
    let Some((path, meta)) = at(fs, &t.path)? else {
        return Ok(false);
    };
    if let Action::RemoveKeys { keys } = &t.action {
        return match meta.kind {
            Kind::File => remove_keys(fs, &path, keys),
            _ => Ok(false),
        };
    }
    match (meta.kind, &t.action) {
        (Kind::Symlink, _) => {
            fs.remove(&path)?;
            if t.category == "tmp-files" && TMP_DIRS.contains(&path.as_str()) {
                fs.mkdir_p(&path)?;
                fs.chmod(0o1777, &path)?;
            }
            Ok(true)
        }
        (Kind::File, Action::Truncate) if meta.size > 0 => {
            fs.truncate(&path)?;
            Ok(true)
        }
        (_, Action::Truncate) => Ok(false),
        (Kind::Dir, Action::DeleteTree) => {
            fs.remove_tree(&path)?;
            Ok(true)
        }
        // Found as a file: never remove a directory that has taken its place.
        (Kind::Dir, _) => Ok(false),
        (_, _) => {
            fs.remove(&path)?;
            Ok(true)
        }
    }
}

/// Rewrites a regular file without the lines assigning `keys`; whether it changed.
fn remove_keys(fs: &dyn GuestFs, path: &str, keys: &[String]) -> Result<bool> {
    let data = fs.read(path)?;
    let kept = without_keys(&data, keys);
    if kept == data {
        return Ok(false);
    }
    fs.write(path, &kept)?;
    Ok(true)
}

/// The bytes of a KEY=value file without the lines assigning `keys`; every other byte
/// (comments, quoting, line endings, a missing final newline) is kept as it was.
fn without_keys(data: &[u8], keys: &[String]) -> Vec<u8> {
    let text = String::from_utf8_lossy(data);
    let drop: BTreeSet<usize> = shellvars::parse(&text)
        .into_iter()
        .filter(|v| keys.contains(&v.key))
        .map(|v| v.line)
        .collect();
    data.split_inclusive(|b| *b == b'\n')
        .enumerate()
        .filter(|(i, _)| !drop.contains(&(i + 1)))
        .flat_map(|(_, line)| line.iter().copied())
        .collect()
}
