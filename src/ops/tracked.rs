//! A [`GuestFs`] decorator that records every change an operation makes — the list that goes
//! into reports and manifests, and the evidence for side effects (SELinux relabel). In a dry
//! run it records without changing anything: the operations' own code produces the plan.

use crate::guest::fs::{CmdOut, FileId, GuestFs, Meta};
use anyhow::Result;
use serde::Serialize;
use std::cell::RefCell;
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
}

impl<'a> Tracked<'a> {
    pub fn new(inner: &'a dyn GuestFs, dry_run: bool) -> Tracked<'a> {
        Tracked {
            inner,
            dry_run,
            log: RefCell::new(Vec::new()),
        }
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

impl GuestFs for Tracked<'_> {
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
    fn run_readonly(&self, argv: &[&str]) -> Result<CmdOut> {
        self.inner.run_readonly(argv)
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
