//! [`MemFs`]: an in-memory [`GuestFs`] with the appliance's symlink semantics, so every
//! check and operation is unit tested without a launch.
//!
//! Test-only: `guest/mod.rs` declares this module under `#[cfg(test)]`, so none of it is
//! compiled into the binary or the library integration tests link against.

use super::fs::ContentMemo;
use super::fs::{CmdOut, FileId, GuestFs, Kind, Meta, join, parent};
use anyhow::{Result, anyhow, bail};
use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::path::Path;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Node {
    File { data: Vec<u8>, mode: u32 },
    Dir { mode: u32 },
    Link { target: String },
}

type Runner = Box<dyn Fn(&MemFs, &[&str]) -> CmdOut>;

/// An in-memory guest filesystem with real symlink resolution, for tests.
pub struct MemFs {
    nodes: RefCell<BTreeMap<String, Node>>,
    runner: Option<Runner>,
    /// Every command `run` was asked to execute, in order.
    pub commands: RefCell<Vec<Vec<String>>>,
    /// How many `read_at` calls were made (to see what a memo saved).
    pub reads_at: Cell<usize>,
    memo: ContentMemo,
    /// Registry hives by guest path (exact case).
    hives: RefCell<BTreeMap<String, std::rc::Rc<crate::guest::registry::MemHive>>>,
    /// What a node has beyond its kind, content and mode, when set: owner, mtime, xattrs.
    extra: RefCell<BTreeMap<String, Extra>>,
}

/// A node's owner, modification time and extended attributes (root's, 0 and none unless set).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Extra {
    pub uid: u32,
    pub gid: u32,
    pub mtime: i64,
    pub xattrs: BTreeMap<String, Vec<u8>>,
}

impl Default for MemFs {
    fn default() -> Self {
        Self::new()
    }
}

impl MemFs {
    pub fn new() -> MemFs {
        let mut nodes = BTreeMap::new();
        nodes.insert("/".to_string(), Node::Dir { mode: 0o755 });
        MemFs {
            nodes: RefCell::new(nodes),
            runner: None,
            commands: RefCell::new(Vec::new()),
            reads_at: Cell::new(0),
            memo: ContentMemo::default(),
            hives: RefCell::new(BTreeMap::new()),
            extra: RefCell::new(BTreeMap::new()),
        }
    }

    /// Adds a registry hive at `path` (a placeholder file there, the keys in memory).
    pub fn hive_file(self, path: &str, hive: crate::guest::registry::MemHive) -> Self {
        let s = self.bytes(path, b"regf");
        s.hives
            .borrow_mut()
            .insert(path.to_string(), std::rc::Rc::new(hive));
        s
    }

    /// The hive at `path`, to look at what was written.
    pub fn hive_at(&self, path: &str) -> std::rc::Rc<crate::guest::registry::MemHive> {
        self.hives.borrow()[path].clone()
    }

    /// Adds a file (creating parent directories).
    pub fn file(self, path: &str, content: &str) -> Self {
        self.mkdir_p(parent(path)).unwrap();
        self.nodes.borrow_mut().insert(
            path.to_string(),
            Node::File {
                data: content.as_bytes().to_vec(),
                mode: 0o644,
            },
        );
        self
    }

    /// Adds a file with binary content (creating parent directories).
    pub fn bytes(self, path: &str, content: &[u8]) -> Self {
        self.mkdir_p(parent(path)).unwrap();
        self.nodes.borrow_mut().insert(
            path.to_string(),
            Node::File {
                data: content.to_vec(),
                mode: 0o644,
            },
        );
        self
    }

    pub fn dir(self, path: &str) -> Self {
        self.mkdir_p(path).unwrap();
        self
    }

    pub fn link(self, path: &str, target: &str) -> Self {
        self.mkdir_p(parent(path)).unwrap();
        self.nodes.borrow_mut().insert(
            path.to_string(),
            Node::Link {
                target: target.to_string(),
            },
        );
        self
    }

    /// Sets an extended attribute of a node (builder form of [`MemFs::set_xattr`]).
    pub fn xattr(self, path: &str, name: &str, value: &[u8]) -> Self {
        self.set_xattr(path, name, value);
        self
    }

    pub fn set_xattr(&self, path: &str, name: &str, value: &[u8]) {
        self.extra
            .borrow_mut()
            .entry(path.to_string())
            .or_default()
            .xattrs
            .insert(name.to_string(), value.to_vec());
    }

    pub fn chown(&self, path: &str, uid: u32, gid: u32) {
        let mut x = self.extra.borrow_mut();
        let e = x.entry(path.to_string()).or_default();
        e.uid = uid;
        e.gid = gid;
    }

    /// A node's owner, mtime and xattrs.
    pub fn extra(&self, path: &str) -> Extra {
        self.extra.borrow().get(path).cloned().unwrap_or_default()
    }

    /// Every node as the tree digest sees it (`guest::tree`).
    pub fn tree(&self) -> Result<Vec<super::tree::Entry>> {
        use super::tree::{Entry, Type};
        use sha2::Digest;
        Ok(self
            .nodes
            .borrow()
            .iter()
            .map(|(p, n)| {
                let x = self.extra(p);
                let mut e = Entry {
                    path: p.as_bytes().to_vec(),
                    kind: Type::Dir,
                    mode: 0,
                    uid: x.uid as u64,
                    gid: x.gid as u64,
                    size: 0,
                    sha256: None,
                    target: None,
                    dev: None,
                    xattrs: x.xattrs.into_iter().collect(),
                };
                match n {
                    Node::File { data, mode } => {
                        e.kind = Type::File;
                        e.mode = *mode;
                        e.size = data.len() as u64;
                        e.sha256 = Some(sha2::Sha256::digest(data).into());
                    }
                    Node::Dir { mode } => e.mode = *mode,
                    Node::Link { target } => {
                        e.kind = Type::Symlink;
                        e.mode = 0o777;
                        e.size = target.len() as u64;
                        e.target = Some(target.as_bytes().to_vec());
                    }
                }
                e
            })
            .collect())
    }

    /// Scripts the result of guest commands.
    pub fn with_runner(mut self, f: impl Fn(&MemFs, &[&str]) -> CmdOut + 'static) -> Self {
        self.runner = Some(Box::new(f));
        self
    }

    pub fn node(&self, path: &str) -> Option<Node> {
        self.nodes.borrow().get(path).cloned()
    }

    /// A snapshot of every node (for "nothing changed" assertions).
    pub fn snapshot(&self) -> BTreeMap<String, Node> {
        self.nodes.borrow().clone()
    }

    pub fn text(&self, path: &str) -> Option<String> {
        self.read(path)
            .ok()
            .map(|b| String::from_utf8_lossy(&b).into_owned())
    }

    /// Resolves every component, following links (up to 40), to a canonical path.
    fn resolve(&self, path: &str, follow_last: bool) -> Result<String> {
        let mut todo: Vec<String> = path
            .split('/')
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect();
        todo.reverse();
        let mut cur = String::from("/");
        let mut hops = 0;
        while let Some(comp) = todo.pop() {
            if comp == "." {
                continue;
            }
            if comp == ".." {
                cur = parent(&cur).to_string();
                continue;
            }
            let next = join(&cur, &comp);
            let is_last = todo.is_empty();
            match self.nodes.borrow().get(&next) {
                Some(Node::Link { target }) if !is_last || follow_last => {
                    hops += 1;
                    if hops > 40 {
                        bail!("{path}: too many levels of symbolic links");
                    }
                    let mut parts: Vec<String> = target
                        .split('/')
                        .filter(|s| !s.is_empty())
                        .map(str::to_string)
                        .collect();
                    parts.reverse();
                    todo.extend(parts);
                    if target.starts_with('/') {
                        cur = "/".into();
                    }
                }
                _ => cur = next,
            }
        }
        Ok(cur)
    }

    fn no_entry(path: &str) -> anyhow::Error {
        anyhow!("{path}: No such file or directory")
    }
}

impl GuestFs for MemFs {
    fn lstat(&self, path: &str) -> Result<Option<Meta>> {
        let p = self.resolve(path, false)?;
        Ok(self.nodes.borrow().get(&p).map(|n| match n {
            Node::File { data, mode } => Meta {
                kind: Kind::File,
                size: data.len() as u64,
                mode: *mode,
            },
            Node::Dir { mode } => Meta {
                kind: Kind::Dir,
                size: 4096,
                mode: *mode,
            },
            Node::Link { target } => Meta {
                kind: Kind::Symlink,
                size: target.len() as u64,
                mode: 0o777,
            },
        }))
    }

    fn hive(&self, path: &str, _write: bool) -> Result<Box<dyn crate::guest::registry::Hive + '_>> {
        match self.hives.borrow().get(path) {
            Some(h) => Ok(Box::new(h.clone())),
            None => bail!("{path}: not a registry hive"),
        }
    }

    fn read(&self, path: &str) -> Result<Vec<u8>> {
        let p = self.resolve(path, true)?;
        match self.nodes.borrow().get(&p) {
            Some(Node::File { data, .. }) => Ok(data.clone()),
            Some(_) => bail!("{path}: not a regular file"),
            None => Err(Self::no_entry(path)),
        }
    }

    fn read_at(&self, path: &str, offset: u64, len: usize) -> Result<Vec<u8>> {
        self.reads_at.set(self.reads_at.get() + 1);
        let data = self.read(path)?;
        let start = usize::try_from(offset)
            .unwrap_or(usize::MAX)
            .min(data.len());
        Ok(data[start..start.saturating_add(len).min(data.len())].to_vec())
    }

    /// In memory there are no inodes: a hash of the content stands in for one.
    fn file_id(&self, path: &str) -> Result<Option<FileId>> {
        use std::hash::{Hash, Hasher};
        let p = self.resolve(path, true)?;
        Ok(match self.nodes.borrow().get(&p) {
            Some(Node::File { data, .. }) => {
                let mut h = std::collections::hash_map::DefaultHasher::new();
                data.hash(&mut h);
                Some(FileId {
                    path: path.to_string(),
                    dev: 0,
                    ino: h.finish(),
                    size: data.len() as u64,
                    mtime: (0, 0),
                    ctime: (0, 0),
                })
            }
            _ => None,
        })
    }

    fn content_memo(&self) -> Option<&ContentMemo> {
        Some(&self.memo)
    }

    fn readlink(&self, path: &str) -> Result<String> {
        let p = self.resolve(path, false)?;
        match self.nodes.borrow().get(&p) {
            Some(Node::Link { target }) => Ok(target.clone()),
            _ => bail!("{path}: not a symbolic link"),
        }
    }

    fn list(&self, dir: &str) -> Result<Vec<String>> {
        let p = self.resolve(dir, true)?;
        let nodes = self.nodes.borrow();
        if !matches!(nodes.get(&p), Some(Node::Dir { .. })) {
            return Ok(vec![]);
        }
        let prefix = join(&p, "");
        Ok(nodes
            .keys()
            .filter_map(|k| k.strip_prefix(&prefix))
            .filter(|rest| !rest.is_empty() && !rest.contains('/'))
            .map(str::to_string)
            .collect())
    }

    fn write(&self, path: &str, data: &[u8]) -> Result<()> {
        let p = self.resolve(path, true)?;
        if !matches!(self.nodes.borrow().get(parent(&p)), Some(Node::Dir { .. })) {
            return Err(Self::no_entry(path));
        }
        let mut nodes = self.nodes.borrow_mut();
        let mode = match nodes.get(&p) {
            Some(Node::File { mode, .. }) => *mode,
            Some(Node::Dir { .. }) => bail!("{path}: is a directory"),
            _ => 0o644,
        };
        nodes.insert(
            p,
            Node::File {
                data: data.to_vec(),
                mode,
            },
        );
        Ok(())
    }

    fn remove(&self, path: &str) -> Result<()> {
        let p = self.resolve(path, false)?;
        let has_children = {
            let prefix = join(&p, "");
            self.nodes
                .borrow()
                .keys()
                .any(|k| k.starts_with(&prefix) && k != &p)
        };
        let mut nodes = self.nodes.borrow_mut();
        match nodes.get(&p) {
            None => Err(Self::no_entry(path)),
            Some(Node::Dir { .. }) if has_children => bail!("{path}: directory not empty"),
            Some(_) => {
                nodes.remove(&p);
                Ok(())
            }
        }
    }

    fn remove_tree(&self, path: &str) -> Result<()> {
        let p = self.resolve(path, false)?;
        let prefix = join(&p, "");
        self.nodes
            .borrow_mut()
            .retain(|k, _| k != &p && !k.starts_with(&prefix));
        Ok(())
    }

    fn truncate(&self, path: &str) -> Result<()> {
        let p = self.resolve(path, true)?;
        match self.nodes.borrow_mut().get_mut(&p) {
            Some(Node::File { data, .. }) => {
                data.clear();
                Ok(())
            }
            Some(_) => bail!("{path}: not a regular file"),
            None => Err(Self::no_entry(path)),
        }
    }

    fn mkdir_p(&self, path: &str) -> Result<()> {
        let mut cur = String::new();
        for comp in path.split('/').filter(|s| !s.is_empty()) {
            cur.push('/');
            cur.push_str(comp);
            let r = self.resolve(&cur, true)?;
            let mut nodes = self.nodes.borrow_mut();
            match nodes.get(&r) {
                Some(Node::Dir { .. }) => {}
                Some(_) => bail!("{cur}: exists and is not a directory"),
                None => {
                    nodes.insert(r.clone(), Node::Dir { mode: 0o755 });
                }
            }
            cur = r;
        }
        Ok(())
    }

    fn symlink(&self, target: &str, link: &str) -> Result<()> {
        let p = self.resolve(link, false)?;
        if self.nodes.borrow().contains_key(&p) {
            bail!("{link}: file exists");
        }
        self.nodes.borrow_mut().insert(
            p,
            Node::Link {
                target: target.to_string(),
            },
        );
        Ok(())
    }

    fn chmod(&self, new: u32, path: &str) -> Result<()> {
        let p = self.resolve(path, true)?;
        match self.nodes.borrow_mut().get_mut(&p) {
            Some(Node::File { mode, .. }) | Some(Node::Dir { mode }) => {
                *mode = new;
                Ok(())
            }
            _ => Err(Self::no_entry(path)),
        }
    }

    fn upload(&self, host: &Path, guest: &str) -> Result<()> {
        let data = std::fs::read(host)?;
        self.write(guest, &data)
    }

    fn set_mtime(&self, path: &str, secs: i64) -> Result<()> {
        let p = self.resolve(path, false)?;
        if !self.nodes.borrow().contains_key(&p) {
            return Err(Self::no_entry(path));
        }
        self.extra.borrow_mut().entry(p).or_default().mtime = secs;
        Ok(())
    }

    fn find(&self, dir: &str) -> Result<Vec<String>> {
        let p = self.resolve(dir, false)?;
        if !matches!(self.nodes.borrow().get(&p), Some(Node::Dir { .. })) {
            return Ok(vec![]);
        }
        let prefix = join(&p, "");
        Ok(self
            .nodes
            .borrow()
            .keys()
            .filter_map(|k| k.strip_prefix(&prefix))
            .filter(|r| !r.is_empty())
            .map(str::to_string)
            .collect())
    }

    fn run(&self, argv: &[&str]) -> Result<CmdOut> {
        self.commands
            .borrow_mut()
            .push(argv.iter().map(|s| s.to_string()).collect());
        match &self.runner {
            Some(f) => Ok(f(self, argv)),
            None => Ok(CmdOut {
                status: 127,
                output: format!("{}: command not found", argv.first().unwrap_or(&"")),
            }),
        }
    }
}
