//! A [`GuestFs`] decorator that records every change an operation makes — the list that goes
//! into reports and manifests, and the evidence for side effects (SELinux relabel). In a dry
//! run it records without changing anything: the operations' own code produces the plan.
//!
//! Registry writes are staged: an operation's hive reads see what earlier writes set, each
//! write is a recorded change (`HIVE\key value: old -> new`), and the driver writes every
//! changed hive once, after the last operation ([`Tracked::commit_hives`]), so a hive that
//! several operations change is opened for writing and committed once per conversion.

use crate::guest::fs::{CmdOut, FileId, GuestFs, Meta};
use crate::guest::registry::{Hive, NodeId, RegValue, named};
use anyhow::{Context, Result};
use serde::Serialize;
use std::cell::RefCell;
use std::collections::HashMap;
use std::path::Path;

#[derive(Debug, Clone, Serialize, serde::Deserialize, PartialEq, Eq)]
pub struct Change {
    /// `write`, `remove`, `remove-tree`, `truncate`, `mkdir`, `symlink`, `chmod`, `upload`, `run`.
    pub action: String,
    /// The guest path, or the command line for `run`.
    pub target: String,
}

pub struct Tracked<'a> {
    inner: &'a dyn GuestFs,
    dry_run: bool,
    log: RefCell<Vec<Change>>,
    /// Registry writes not yet committed, in order.
    staged: RefCell<Vec<RegWrite>>,
}

/// One staged registry write.
#[derive(Debug, Clone, PartialEq, Eq)]
struct RegWrite {
    /// The hive file's guest path.
    file: String,
    /// The key's path inside the hive.
    key: String,
    edit: RegEdit,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum RegEdit {
    Set(String, RegValue),
    /// Values deleted together (one rebuild of the key in the appliance).
    Delete(Vec<String>),
}

impl RegEdit {
    /// `values` as they read after this edit.
    fn apply(&self, values: &mut Vec<(String, RegValue)>) {
        match self {
            RegEdit::Set(name, value) => {
                match values
                    .iter_mut()
                    .find(|(n, _)| n.eq_ignore_ascii_case(name))
                {
                    Some(slot) => slot.1 = value.clone(),
                    None => values.push((name.clone(), value.clone())),
                }
            }
            RegEdit::Delete(names) => {
                let names: Vec<&str> = names.iter().map(String::as_str).collect();
                values.retain(|(n, _)| !named(&names, n));
            }
        }
    }
}

impl<'a> Tracked<'a> {
    pub fn new(inner: &'a dyn GuestFs, dry_run: bool) -> Tracked<'a> {
        Tracked {
            inner,
            dry_run,
            log: RefCell::new(Vec::new()),
            staged: RefCell::new(Vec::new()),
        }
    }

    /// Writes every staged registry value, each changed hive opened for writing and committed
    /// once; nothing in a dry run. Returns a note per committed hive.
    pub fn commit_hives(&self) -> Result<Vec<String>> {
        let staged = std::mem::take(&mut *self.staged.borrow_mut());
        if self.dry_run || staged.is_empty() {
            return Ok(vec![]);
        }
        let mut files: Vec<&str> = Vec::new();
        for w in &staged {
            if !files.contains(&w.file.as_str()) {
                files.push(&w.file);
            }
        }
        let mut notes = Vec::new();
        for f in files {
            let h = self.inner.hive(f, true)?;
            let (mut set, mut deleted) = (0, 0);
            for w in staged.iter().filter(|w| w.file == f) {
                // Looked up by path each time: deleting values rebuilds a key.
                let k = h
                    .key(&w.key)?
                    .with_context(|| format!("{f}: the key {} is gone", w.key))?;
                match &w.edit {
                    RegEdit::Set(name, value) => {
                        h.set_value(k, name, value)?;
                        set += 1;
                    }
                    RegEdit::Delete(names) => {
                        let names: Vec<&str> = names.iter().map(String::as_str).collect();
                        h.delete_values(k, &names)?;
                        deleted += names.len();
                    }
                }
            }
            h.commit()?;
            notes.push(format!(
                "{f}: {set} value(s) written, {deleted} deleted, committed once"
            ));
        }
        Ok(notes)
    }

    pub fn dry_run(&self) -> bool {
        self.dry_run
    }

    /// The changes recorded since the last call.
    pub fn take(&self) -> Vec<Change> {
        std::mem::take(&mut *self.log.borrow_mut())
    }

    fn record(&self, action: &str, target: &str) {
        self.log.borrow_mut().push(Change {
            action: action.into(),
            target: target.into(),
        });
    }
}

/// A hive as an operation sees it through [`Tracked`]: opened read-only, with the staged
/// writes laid over it; `set_value` stages and records, `commit` is the driver's.
struct StagedHive<'t> {
    inner: Box<dyn Hive + 't>,
    tracked: &'t Tracked<'t>,
    file: String,
    /// `SYSTEM`, `SOFTWARE`: the hive's name in recorded changes.
    name: String,
    /// The key path of each node handed out.
    paths: RefCell<HashMap<NodeId, String>>,
}

impl StagedHive<'_> {
    fn path(&self, node: NodeId) -> Result<String> {
        self.paths
            .borrow()
            .get(&node)
            .cloned()
            .context("a registry key not reached from the hive's root")
    }
}

impl Hive for StagedHive<'_> {
    fn root(&self) -> Result<NodeId> {
        let r = self.inner.root()?;
        self.paths.borrow_mut().insert(r, String::new());
        Ok(r)
    }
    fn child(&self, node: NodeId, name: &str) -> Result<Option<NodeId>> {
        let c = self.inner.child(node, name)?;
        if let Some(c) = c {
            let p = self.path(node)?;
            let cp = if p.is_empty() {
                name.to_string()
            } else {
                format!("{p}\\{name}")
            };
            self.paths.borrow_mut().insert(c, cp);
        }
        Ok(c)
    }
    fn children(&self, node: NodeId) -> Result<Vec<(String, NodeId)>> {
        let p = self.path(node)?;
        let kids = self.inner.children(node)?;
        for (n, c) in &kids {
            let cp = if p.is_empty() {
                n.clone()
            } else {
                format!("{p}\\{n}")
            };
            self.paths.borrow_mut().insert(*c, cp);
        }
        Ok(kids)
    }
    fn values(&self, node: NodeId) -> Result<Vec<(String, RegValue)>> {
        let key = self.path(node)?;
        let mut v = self.inner.values(node)?;
        for w in self.tracked.staged.borrow().iter() {
            if w.file == self.file && w.key.eq_ignore_ascii_case(&key) {
                w.edit.apply(&mut v);
            }
        }
        Ok(v)
    }
    /// Stages the write and records it; setting a value to what it already is changes
    /// nothing (operations stay idempotent).
    fn set_value(&self, node: NodeId, name: &str, value: &RegValue) -> Result<()> {
        let key = self.path(node)?;
        let old = self.value(node, name)?;
        if old.as_ref() == Some(value) {
            return Ok(());
        }
        self.tracked.record(
            "registry",
            &format!(
                "{}\\{key} {name}: {} -> {value}",
                self.name,
                old.map_or("(absent)".to_string(), |o| o.to_string())
            ),
        );
        self.tracked.staged.borrow_mut().push(RegWrite {
            file: self.file.clone(),
            key,
            edit: RegEdit::Set(name.to_string(), value.clone()),
        });
        Ok(())
    }
    /// Stages the deletion of the values that are there and records each with its old value.
    fn delete_values(&self, node: NodeId, names: &[&str]) -> Result<NodeId> {
        let key = self.path(node)?;
        let gone: Vec<(String, RegValue)> = self
            .values(node)?
            .into_iter()
            .filter(|(n, _)| named(names, n))
            .collect();
        if gone.is_empty() {
            return Ok(node);
        }
        for (name, old) in &gone {
            self.tracked.record(
                "registry",
                &format!("{}\\{key} {name}: {old} -> (deleted)", self.name),
            );
        }
        self.tracked.staged.borrow_mut().push(RegWrite {
            file: self.file.clone(),
            key,
            edit: RegEdit::Delete(gone.into_iter().map(|(n, _)| n).collect()),
        });
        Ok(node)
    }
    fn commit(&self) -> Result<()> {
        Ok(())
    }
}

impl GuestFs for Tracked<'_> {
    fn hive(&self, path: &str, _write: bool) -> Result<Box<dyn Hive + '_>> {
        let inner = self.inner.hive(path, false)?;
        Ok(Box::new(StagedHive {
            inner,
            tracked: self,
            file: path.to_string(),
            name: path.rsplit('/').next().unwrap_or(path).to_ascii_uppercase(),
            paths: RefCell::new(HashMap::new()),
        }))
    }
    fn lstat(&self, path: &str) -> Result<Option<Meta>> {
        self.inner.lstat(path)
    }
    fn read(&self, path: &str) -> Result<Vec<u8>> {
        self.inner.read(path)
    }
    fn read_at(&self, path: &str, offset: u64, len: usize) -> Result<Vec<u8>> {
        self.inner.read_at(path, offset, len)
    }
    fn file_id(&self, path: &str) -> Result<Option<FileId>> {
        self.inner.file_id(path)
    }
    fn content_memo(&self) -> Option<&crate::guest::fs::ContentMemo> {
        self.inner.content_memo()
    }
    fn readlink(&self, path: &str) -> Result<String> {
        self.inner.readlink(path)
    }
    fn list(&self, dir: &str) -> Result<Vec<String>> {
        self.inner.list(dir)
    }
    fn find(&self, dir: &str) -> Result<Vec<String>> {
        self.inner.find(dir)
    }
    fn lstat_many(&self, dir: &str, names: &[String]) -> Result<Vec<Option<Meta>>> {
        self.inner.lstat_many(dir, names)
    }
    fn available(&self, path: &str) -> Result<Option<u64>> {
        self.inner.available(path)
    }

    fn write(&self, path: &str, data: &[u8]) -> Result<()> {
        self.record("write", path);
        if self.dry_run {
            Ok(())
        } else {
            self.inner.write(path, data)
        }
    }
    fn remove(&self, path: &str) -> Result<()> {
        self.record("remove", path);
        if self.dry_run {
            Ok(())
        } else {
            self.inner.remove(path)
        }
    }
    fn remove_tree(&self, path: &str) -> Result<()> {
        self.record("remove-tree", path);
        if self.dry_run {
            Ok(())
        } else {
            self.inner.remove_tree(path)
        }
    }
    fn truncate(&self, path: &str) -> Result<()> {
        self.record("truncate", path);
        if self.dry_run {
            Ok(())
        } else {
            self.inner.truncate(path)
        }
    }
    fn mkdir_p(&self, path: &str) -> Result<()> {
        if self.inner.is_dir(path)? {
            return Ok(());
        }
        self.record("mkdir", path);
        if self.dry_run {
            Ok(())
        } else {
            self.inner.mkdir_p(path)
        }
    }
    fn symlink(&self, target: &str, link: &str) -> Result<()> {
        self.record("symlink", &format!("{link} -> {target}"));
        if self.dry_run {
            Ok(())
        } else {
            self.inner.symlink(target, link)
        }
    }
    fn chmod(&self, mode: u32, path: &str) -> Result<()> {
        self.record("chmod", &format!("{path} {mode:o}"));
        if self.dry_run {
            Ok(())
        } else {
            self.inner.chmod(mode, path)
        }
    }
    fn upload(&self, host: &Path, guest: &str) -> Result<()> {
        self.record("upload", guest);
        if self.dry_run {
            Ok(())
        } else {
            self.inner.upload(host, guest)
        }
    }
    /// Not a change of its own: it follows a recorded one (`SOURCE_DATE_EPOCH`).
    fn set_mtime(&self, path: &str, secs: i64) -> Result<()> {
        if self.dry_run {
            Ok(())
        } else {
            self.inner.set_mtime(path, secs)
        }
    }
    /// A dry run records the command and answers success with no output.
    fn run(&self, argv: &[&str]) -> Result<CmdOut> {
        self.record("run", &argv.join(" "));
        if self.dry_run {
            Ok(CmdOut {
                status: 0,
                output: String::new(),
            })
        } else {
            self.inner.run(argv)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::guest::fs::MemFs;

    #[test]
    fn registry_writes_are_staged_recorded_and_committed_once_per_hive() {
        use crate::guest::registry::MemHive;
        let fs = MemFs::new().hive_file(
            "/Windows/System32/config/SYSTEM",
            MemHive::new().with("A\\B", "X", RegValue::Dword(1)),
        );
        for dry_run in [true, false] {
            let t = Tracked::new(&fs, dry_run);
            {
                let h = t.hive("/Windows/System32/config/SYSTEM", true).unwrap();
                let k = h.key("a\\b").unwrap().unwrap();
                h.set_value(k, "X", &RegValue::Dword(0)).unwrap();
                h.set_value(k, "Y", &RegValue::Sz("new".into())).unwrap();
                // Reads see the staged writes; setting the same value again is no change.
                assert_eq!(h.value(k, "x").unwrap(), Some(RegValue::Dword(0)));
                h.set_value(k, "X", &RegValue::Dword(0)).unwrap();
            }
            let changes = t.take();
            assert_eq!(
                changes
                    .iter()
                    .map(|c| c.target.as_str())
                    .collect::<Vec<_>>(),
                [
                    "SYSTEM\\a\\b X: dword:1 -> dword:0",
                    "SYSTEM\\a\\b Y: (absent) -> \"new\""
                ]
            );
            assert!(changes.iter().all(|c| c.action == "registry"));
            let hive = fs.hive_at("/Windows/System32/config/SYSTEM");
            // Nothing reaches the hive before the driver commits.
            assert_eq!(hive.get("A\\B", "X").unwrap(), Some(RegValue::Dword(1)));
            let notes = t.commit_hives().unwrap();
            if dry_run {
                assert!(notes.is_empty());
                assert_eq!(hive.commits.get(), 0);
                assert_eq!(hive.get("A\\B", "X").unwrap(), Some(RegValue::Dword(1)));
            } else {
                assert_eq!(notes.len(), 1, "{notes:?}");
                assert_eq!(hive.commits.get(), 1, "one commit for the hive");
                assert_eq!(hive.get("A\\B", "X").unwrap(), Some(RegValue::Dword(0)));
                assert_eq!(
                    hive.get("A\\B", "Y").unwrap(),
                    Some(RegValue::Sz("new".into()))
                );
            }
        }
    }

    /// Set, delete, set again on one key, with a subkey below it: the staged view and the
    /// committed hive agree, the key is rebuilt under a new handle (as in the appliance) with
    /// its subkey, and the commit finds it by path.
    #[test]
    fn deletes_and_sets_of_one_key_apply_in_order_through_a_rebuild() {
        use crate::guest::registry::MemHive;
        let path = "/Windows/System32/config/SYSTEM";
        let fs = MemFs::new().hive_file(
            path,
            MemHive::new()
                .with("Nic", "DhcpIPAddress", RegValue::Sz("10.0.2.15".into()))
                .with("Nic", "Lease", RegValue::Dword(86400))
                .with("Nic", "MTU", RegValue::Dword(9000))
                .with("Nic\\Sub", "Kept", RegValue::Dword(7)),
        );
        let t = Tracked::new(&fs, false);
        {
            let h = t.hive(path, true).unwrap();
            let k = h.key("Nic").unwrap().unwrap();
            h.set_value(k, "MTU", &RegValue::Dword(1400)).unwrap();
            h.delete_values(k, &["dhcpipaddress", "Lease", "Absent"])
                .unwrap();
            h.set_value(k, "Lease", &RegValue::Dword(1)).unwrap();
            let seen: Vec<String> = h
                .values(k)
                .unwrap()
                .iter()
                .map(|(n, v)| format!("{n}={v}"))
                .collect();
            assert_eq!(seen, ["MTU=dword:1400", "Lease=dword:1"]);
        }
        let changes: Vec<String> = t.take().into_iter().map(|c| c.target).collect();
        assert_eq!(
            changes,
            [
                "SYSTEM\\Nic MTU: dword:9000 -> dword:1400",
                "SYSTEM\\Nic DhcpIPAddress: \"10.0.2.15\" -> (deleted)",
                "SYSTEM\\Nic Lease: dword:86400 -> (deleted)",
                "SYSTEM\\Nic Lease: (absent) -> dword:1",
            ]
        );
        let hive = fs.hive_at(path);
        let old = hive.key("Nic").unwrap().unwrap();
        t.commit_hives().unwrap();
        let k = hive.key("Nic").unwrap().unwrap();
        assert_ne!(k, old, "rebuilt under a new handle");
        assert!(hive.values(old).is_err(), "the old handle is gone");
        let got: Vec<String> = hive
            .values(k)
            .unwrap()
            .iter()
            .map(|(n, v)| format!("{n}={v}"))
            .collect();
        assert_eq!(got, ["MTU=dword:1400", "Lease=dword:1"]);
        assert_eq!(
            hive.get("Nic\\Sub", "Kept").unwrap(),
            Some(RegValue::Dword(7)),
            "the subkey moved with the rebuilt key"
        );
        assert_eq!(hive.commits.get(), 1);
    }

    #[test]
    fn records_and_applies_or_only_records() {
        let fs = MemFs::new().file("/etc/ufw/ufw.conf", "ENABLED=yes\n");
        let t = Tracked::new(&fs, true);
        t.write("/etc/ufw/ufw.conf", b"ENABLED=no\n").unwrap();
        t.mkdir_p("/etc").unwrap(); // exists: not a change
        assert_eq!(fs.text("/etc/ufw/ufw.conf").unwrap(), "ENABLED=yes\n");
        assert_eq!(
            t.take(),
            vec![Change {
                action: "write".into(),
                target: "/etc/ufw/ufw.conf".into()
            }]
        );
        assert!(t.take().is_empty());
        let t = Tracked::new(&fs, false);
        t.write("/etc/ufw/ufw.conf", b"ENABLED=no\n").unwrap();
        assert_eq!(fs.text("/etc/ufw/ufw.conf").unwrap(), "ENABLED=no\n");
        assert_eq!(t.take().len(), 1);
    }
}
