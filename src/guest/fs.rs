//! The guest filesystem as checks and operations see it.
//!
//! Checks and operations are written against [`GuestFs`], never against libguestfs directly:
//! the appliance implements it (`appliance_fs::Guest`), and `memfs::MemFs` (unit tests only)
//! implements it in memory with the same symlink semantics, so every check and operation is
//! unit tested without a launch.
//!
//! Semantics (those of the appliance, where paths resolve inside the guest root):
//! - `lstat`, `readlink`, `remove` never follow the last component;
//! - `read`, `write`, `truncate`, `list` follow symlinks like the kernel does;
//! - every path is absolute.

use anyhow::Result;
use std::any::Any;
use std::cell::RefCell;
use std::collections::HashMap;
use std::path::Path;
use std::rc::Rc;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    File,
    Dir,
    Symlink,
    Other,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Meta {
    pub kind: Kind,
    pub size: u64,
    pub mode: u32,
}

/// Who a regular file is: its path, and what changes whenever its content may have (inode,
/// size, modification and change times; the change time cannot be set back by a program).
/// Facts about a file's content are remembered under it ([`ContentMemo`]).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct FileId {
    pub path: String,
    pub dev: u64,
    pub ino: u64,
    pub size: u64,
    pub mtime: (i64, i64),
    pub ctime: (i64, i64),
}

/// Facts computed from a file's content (an initramfs listing), remembered by the file's
/// identity ([`FileId`]) for the rest of the session. A write does not clear them: a file
/// that changed has a new identity and is read again; one that did not is not.
#[derive(Default)]
pub struct ContentMemo {
    facts: RefCell<HashMap<FactKey, Rc<dyn Any>>>,
}

/// What kind of fact (`"initramfs"`), about which file.
type FactKey = (&'static str, FileId);

impl ContentMemo {
    /// The fact of this kind remembered for this file, if any.
    pub fn get<T: 'static>(&self, kind: &'static str, id: &FileId) -> Option<Rc<T>> {
        let v = self.facts.borrow().get(&(kind, id.clone()))?.clone();
        v.downcast::<T>().ok()
    }

    pub fn put<T: 'static>(&self, kind: &'static str, id: FileId, fact: Rc<T>) {
        // Older identities of the same path are dead: drop them.
        let mut facts = self.facts.borrow_mut();
        facts.retain(|(k, i), _| *k != kind || i.path != id.path);
        facts.insert((kind, id), fact);
    }
}

/// The result of a guest program run through `/bin/sh` (stdout and stderr together).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CmdOut {
    pub status: i32,
    pub output: String,
}

impl CmdOut {
    pub fn ok(&self) -> bool {
        self.status == 0
    }
}

pub trait GuestFs {
    /// Metadata of the path itself (a link is reported as a link); None if it does not exist.
    fn lstat(&self, path: &str) -> Result<Option<Meta>>;
    /// Contents of a file (links followed).
    fn read(&self, path: &str) -> Result<Vec<u8>>;
    /// Up to `len` bytes of a regular file (links followed) from `offset`, fewer at its end:
    /// for files too large to read whole. Not remembered.
    fn read_at(&self, path: &str, offset: u64, len: usize) -> Result<Vec<u8>>;
    /// The identity of the regular file `path` resolves to (links followed); None when it
    /// does not exist or is not a regular file.
    fn file_id(&self, path: &str) -> Result<Option<FileId>>;
    fn readlink(&self, path: &str) -> Result<String>;
    /// Names in a directory (links followed), sorted; empty when it does not exist.
    fn list(&self, dir: &str) -> Result<Vec<String>>;
    fn write(&self, path: &str, data: &[u8]) -> Result<()>;
    /// Removes a file, a link (not its target) or an empty directory.
    fn remove(&self, path: &str) -> Result<()>;
    /// Removes a directory tree without following links inside it.
    fn remove_tree(&self, path: &str) -> Result<()>;
    fn truncate(&self, path: &str) -> Result<()>;
    fn mkdir_p(&self, path: &str) -> Result<()>;
    fn symlink(&self, target: &str, link: &str) -> Result<()>;
    fn chmod(&self, mode: u32, path: &str) -> Result<()>;
    /// Copies a host file into the guest.
    fn upload(&self, host: &Path, guest: &str) -> Result<()>;
    /// Sets the modification (and access) time of `path` itself, a link not followed
    /// (`SOURCE_DATE_EPOCH`).
    fn set_mtime(&self, path: &str, secs: i64) -> Result<()>;
    /// Runs a guest program with argv, chrooted into the guest.
    fn run(&self, argv: &[&str]) -> Result<CmdOut>;

    /// Facts about file contents remembered for this guest session by file identity, when
    /// the implementation keeps them.
    fn content_memo(&self) -> Option<&ContentMemo> {
        None
    }
    /// Opens the Windows registry hive file at `path` (for writing when `write`): through
    /// libguestfs's hivex API on the appliance, never parsed on the host. One hive at a time.
    fn hive(&self, path: &str, _write: bool) -> Result<Box<dyn super::registry::Hive + '_>> {
        anyhow::bail!("{path}: registry hives cannot be opened here")
    }
    /// Bytes available on the filesystem holding `path`, when the implementation knows.
    fn available(&self, _path: &str) -> Result<Option<u64>> {
        Ok(None)
    }

    /// Every path below `dir`, recursively, relative to it, sorted; links are not followed
    /// and a `dir` that is itself a link yields nothing. Empty when `dir` does not exist.
    fn find(&self, dir: &str) -> Result<Vec<String>>;

    /// lstat of several names in one directory (one round trip on the appliance).
    fn lstat_many(&self, dir: &str, names: &[String]) -> Result<Vec<Option<Meta>>> {
        names.iter().map(|n| self.lstat(&join(dir, n))).collect()
    }

    /// Every entry below `dir` with its metadata: (full path, meta), links not followed.
    /// Nothing when `dir` or one of its ancestors is a symlink: a walk never leaves the
    /// tree it was asked to walk.
    fn walk(&self, dir: &str) -> Result<Vec<(String, Meta)>> {
        if !self.is_dir(dir)? || self.symlinked_ancestor(dir)?.is_some() {
            return Ok(vec![]);
        }
        let names = self.find(dir)?;
        let metas = self.lstat_many(dir, &names)?;
        Ok(names
            .into_iter()
            .zip(metas)
            .filter_map(|(n, m)| m.map(|m| (join(dir, &n), m)))
            .collect())
    }

    // ---- provided helpers ----

    fn exists(&self, path: &str) -> Result<bool> {
        Ok(self.lstat(path)?.is_some())
    }

    fn is_symlink(&self, path: &str) -> Result<bool> {
        Ok(matches!(self.lstat(path)?, Some(m) if m.kind == Kind::Symlink))
    }

    fn is_file(&self, path: &str) -> Result<bool> {
        Ok(matches!(self.lstat(path)?, Some(m) if m.kind == Kind::File))
    }

    fn is_dir(&self, path: &str) -> Result<bool> {
        Ok(matches!(self.lstat(path)?, Some(m) if m.kind == Kind::Dir))
    }

    /// A file's text if it is a regular file or a link resolving to one; None otherwise.
    fn read_text(&self, path: &str) -> Result<Option<String>> {
        match self.lstat(path)? {
            None => Ok(None),
            Some(m) if m.kind == Kind::Dir || m.kind == Kind::Other => Ok(None),
            Some(_) => match self.read(path) {
                Ok(b) => Ok(Some(String::from_utf8_lossy(&b).into_owned())),
                // A dangling link or a link to a directory reads as absent.
                Err(_) if self.is_symlink(path)? => Ok(None),
                Err(e) => Err(e),
            },
        }
    }

    /// The first ancestor of `path` (not `path` itself) that is a symlink, if any.
    fn symlinked_ancestor(&self, path: &str) -> Result<Option<String>> {
        let mut cur = String::new();
        let parts: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
        for p in parts.iter().take(parts.len().saturating_sub(1)) {
            cur.push('/');
            cur.push_str(p);
            if self.is_symlink(&cur)? {
                return Ok(Some(cur));
            }
        }
        Ok(None)
    }

    /// Expands `*` and `?` in the last component of an absolute pattern; sorted full paths.
    fn glob(&self, pattern: &str) -> Result<Vec<String>> {
        let dir = parent(pattern).to_string();
        let name = &pattern[dir.len()..].trim_start_matches('/');
        if !name.contains(['*', '?']) {
            return Ok(if self.exists(pattern)? {
                vec![pattern.to_string()]
            } else {
                vec![]
            });
        }
        self.list_matching(&dir, &|n| !n.starts_with('.') && wildcard(name, n))
    }

    /// Files (full paths) in a directory matching a predicate on the name.
    fn list_matching(&self, dir: &str, pred: &dyn Fn(&str) -> bool) -> Result<Vec<String>> {
        Ok(self
            .list(dir)?
            .into_iter()
            .filter(|n| pred(n))
            .map(|n| join(dir, &n))
            .collect())
    }
}

/// Joins a directory and a name into a guest path.
pub fn join(dir: &str, name: &str) -> String {
    if dir.ends_with('/') {
        format!("{dir}{name}")
    } else {
        format!("{dir}/{name}")
    }
}

/// Shell-style match of `*` and `?` (no character classes).
pub fn wildcard(pattern: &str, name: &str) -> bool {
    fn go(p: &[u8], n: &[u8]) -> bool {
        match (p.first(), n.first()) {
            (None, None) => true,
            (Some(b'*'), _) => go(&p[1..], n) || (!n.is_empty() && go(p, &n[1..])),
            (Some(b'?'), Some(_)) => go(&p[1..], &n[1..]),
            (Some(a), Some(b)) if a == b => go(&p[1..], &n[1..]),
            _ => false,
        }
    }
    go(pattern.as_bytes(), name.as_bytes())
}

/// The directory part of a guest path.
pub fn parent(path: &str) -> &str {
    match path.trim_end_matches('/').rfind('/') {
        Some(0) => "/",
        Some(i) => &path[..i],
        None => "/",
    }
}

// ------------------------------------------------------------------------------------------

/// The in-memory implementation, for unit tests only (not compiled into the binary).
#[cfg(test)]
pub use super::memfs::{MemFs, Node};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_resolve_like_the_kernel() {
        let fs = MemFs::new()
            .file("/etc/passwd", "root:x:0:0")
            .link("/root/.bash_history", "/etc/passwd")
            .link("/var/log", "../etc")
            .link("/lib", "usr/lib")
            .file("/usr/lib/os-release", "ID=debian");
        assert_eq!(
            fs.lstat("/root/.bash_history").unwrap().unwrap().kind,
            Kind::Symlink
        );
        assert_eq!(fs.read("/root/.bash_history").unwrap(), b"root:x:0:0");
        assert_eq!(fs.list("/var/log").unwrap(), vec!["passwd"]);
        assert_eq!(
            fs.read_text("/lib/os-release").unwrap().unwrap(),
            "ID=debian"
        );
        assert_eq!(
            fs.symlinked_ancestor("/var/log/passwd").unwrap().as_deref(),
            Some("/var/log")
        );
        assert_eq!(fs.symlinked_ancestor("/var/log").unwrap(), None);
        // Removing a link leaves its target alone.
        fs.remove("/root/.bash_history").unwrap();
        assert!(fs.exists("/etc/passwd").unwrap());
        // Truncating through a link truncates the target: operations must lstat first.
        fs.truncate("/var/log/passwd").unwrap();
        assert_eq!(fs.read("/etc/passwd").unwrap(), b"");
    }

    #[test]
    fn remove_tree_does_not_follow_links() {
        let fs = MemFs::new()
            .file("/etc/shadow", "x")
            .link("/tmp/evil", "/etc")
            .file("/tmp/a/b", "1");
        fs.remove_tree("/tmp").unwrap();
        assert!(fs.exists("/etc/shadow").unwrap());
        assert!(!fs.exists("/tmp").unwrap());
    }

    #[test]
    fn loops_are_errors_not_hangs() {
        let fs = MemFs::new().link("/a", "/b").link("/b", "/a");
        assert!(fs.read("/a").is_err());
        assert_eq!(fs.read_text("/a").unwrap(), None);
    }

    #[test]
    fn walk_stays_inside_its_tree() {
        let fs = MemFs::new()
            .file("/var/log/syslog", "x")
            .file("/var/log/apt/history.log", "y")
            .link("/var/log/evil", "/etc")
            .file("/etc/passwd", "root")
            .link("/home/u/.ssh", "/etc");
        let w: Vec<String> = fs
            .walk("/var/log")
            .unwrap()
            .into_iter()
            .map(|(p, _)| p)
            .collect();
        assert_eq!(
            w,
            vec![
                "/var/log/apt",
                "/var/log/apt/history.log",
                "/var/log/evil",
                "/var/log/syslog"
            ]
        );
        assert!(fs.walk("/home/u/.ssh").unwrap().is_empty());
        assert!(fs.walk("/nope").unwrap().is_empty());
    }

    #[test]
    fn globbing() {
        let fs = MemFs::new()
            .file("/etc/netplan/50-cloud-init.yaml", "")
            .file("/etc/netplan/01-netcfg.yaml", "")
            .file("/etc/netplan/.hidden.yaml", "")
            .file("/etc/netplan/README", "");
        assert_eq!(
            fs.glob("/etc/netplan/*.yaml").unwrap(),
            vec![
                "/etc/netplan/01-netcfg.yaml",
                "/etc/netplan/50-cloud-init.yaml"
            ]
        );
        assert_eq!(
            fs.glob("/etc/netplan/README").unwrap(),
            vec!["/etc/netplan/README"]
        );
        assert!(fs.glob("/nope/*").unwrap().is_empty());
        assert!(wildcard("S??iptables", "S08iptables"));
        assert!(!wildcard("S??iptables", "K92iptables"));
        assert!(wildcard("*", ""));
    }

    #[test]
    fn path_helpers() {
        assert_eq!(parent("/etc/cloud/cloud.cfg"), "/etc/cloud");
        assert_eq!(parent("/etc"), "/");
        assert_eq!(join("/", "etc"), "/etc");
        assert_eq!(join("/etc", "x"), "/etc/x");
    }
}
