//! Windows registry hives, read and written through libguestfs's hivex API: the appliance's
//! daemon opens the guest's hive file, so a hive is never parsed on the host. [`Hive`] is the
//! interface checks and inspection use; [`ApplianceHive`] implements it over a handle, and
//! [`MemHive`] in memory for unit tests (as `GuestFs` has `MemFs`).
//!
//! Key paths are written as Windows writes them, `Microsoft\Windows NT\CurrentVersion`,
//! relative to the hive's root; names compare case-insensitively, as Windows compares them.

use crate::ffi::guestfs::Handle;
use anyhow::{Context, Result, bail};
use std::cell::Cell;

/// A key of an open hive.
pub type NodeId = i64;

/// A registry value, by its type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RegValue {
    /// REG_SZ (1) and REG_EXPAND_SZ (2): UTF-16LE text.
    Sz(String),
    ExpandSz(String),
    /// REG_DWORD (4), little endian.
    Dword(u32),
    /// REG_MULTI_SZ (7): a list of strings.
    MultiSz(Vec<String>),
    /// REG_QWORD (11).
    Qword(u64),
    /// REG_BINARY (3) and every other type: the type and the raw bytes.
    Raw(u32, Vec<u8>),
}

pub const REG_SZ: u32 = 1;
pub const REG_EXPAND_SZ: u32 = 2;
pub const REG_BINARY: u32 = 3;
pub const REG_DWORD: u32 = 4;
pub const REG_MULTI_SZ: u32 = 7;
pub const REG_QWORD: u32 = 11;

fn utf16(bytes: &[u8]) -> Vec<u16> {
    bytes
        .chunks_exact(2)
        .map(|c| u16::from_le_bytes([c[0], c[1]]))
        .collect()
}

fn text(units: &[u16]) -> String {
    String::from_utf16_lossy(units)
}

fn to_utf16z(s: &str) -> Vec<u8> {
    s.encode_utf16()
        .chain([0])
        .flat_map(|u| u.to_le_bytes())
        .collect()
}

impl RegValue {
    /// Decodes a value's type and bytes as the hive stores them. Strings end at their first
    /// NUL (Windows writes one; a value without it is read whole); a DWORD or QWORD of the
    /// wrong length stays raw rather than being guessed.
    pub fn from_raw(kind: u32, data: &[u8]) -> RegValue {
        match kind {
            REG_SZ | REG_EXPAND_SZ => {
                let u = utf16(data);
                let end = u.iter().position(|&c| c == 0).unwrap_or(u.len());
                let s = text(&u[..end]);
                if kind == REG_SZ {
                    RegValue::Sz(s)
                } else {
                    RegValue::ExpandSz(s)
                }
            }
            REG_DWORD if data.len() == 4 => {
                RegValue::Dword(u32::from_le_bytes(data.try_into().expect("4 bytes")))
            }
            REG_QWORD if data.len() == 8 => {
                RegValue::Qword(u64::from_le_bytes(data.try_into().expect("8 bytes")))
            }
            REG_MULTI_SZ => {
                let u = utf16(data);
                let mut out = Vec::new();
                for part in u.split(|&c| c == 0) {
                    if part.is_empty() {
                        // An empty string ends the list (the final double NUL); Windows'
                        // PendingFileRenameOperations uses empty entries inside the list too,
                        // so keep them unless they are the trailing terminator.
                        out.push(String::new());
                    } else {
                        out.push(text(part));
                    }
                }
                while out.last().is_some_and(String::is_empty) {
                    out.pop();
                }
                RegValue::MultiSz(out)
            }
            other => RegValue::Raw(other, data.to_vec()),
        }
    }

    /// The type and bytes to store.
    pub fn to_raw(&self) -> (u32, Vec<u8>) {
        match self {
            RegValue::Sz(s) => (REG_SZ, to_utf16z(s)),
            RegValue::ExpandSz(s) => (REG_EXPAND_SZ, to_utf16z(s)),
            RegValue::Dword(d) => (REG_DWORD, d.to_le_bytes().to_vec()),
            RegValue::Qword(q) => (REG_QWORD, q.to_le_bytes().to_vec()),
            RegValue::MultiSz(v) => {
                let mut b: Vec<u8> = v.iter().flat_map(|s| to_utf16z(s)).collect();
                b.extend([0, 0]);
                (REG_MULTI_SZ, b)
            }
            RegValue::Raw(k, b) => (*k, b.clone()),
        }
    }

    /// The text of a string value.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            RegValue::Sz(s) | RegValue::ExpandSz(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_dword(&self) -> Option<u32> {
        match self {
            RegValue::Dword(d) => Some(*d),
            _ => None,
        }
    }
}

impl std::fmt::Display for RegValue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RegValue::Sz(s) => write!(f, "{s:?}"),
            RegValue::ExpandSz(s) => write!(f, "expand:{s:?}"),
            RegValue::Dword(d) => write!(f, "dword:{d}"),
            RegValue::Qword(q) => write!(f, "qword:{q}"),
            RegValue::MultiSz(v) => write!(f, "multi:{v:?}"),
            RegValue::Raw(k, b) => {
                write!(f, "hex({k}):")?;
                for (i, x) in b.iter().enumerate() {
                    write!(f, "{}{x:02x}", if i == 0 { "" } else { "," })?;
                }
                Ok(())
            }
        }
    }
}

/// One open hive.
pub trait Hive {
    fn root(&self) -> Result<NodeId>;
    /// The child key named `name` (case-insensitive).
    fn child(&self, node: NodeId, name: &str) -> Result<Option<NodeId>>;
    /// The child keys with their names, in the hive's order.
    fn children(&self, node: NodeId) -> Result<Vec<(String, NodeId)>>;
    /// The values with their names, in the hive's order.
    fn values(&self, node: NodeId) -> Result<Vec<(String, RegValue)>>;
    /// Adds or replaces a value.
    fn set_value(&self, node: NodeId, name: &str, value: &RegValue) -> Result<()>;
    /// Deletes the values named (case-insensitive; names not there are ignored) and every
    /// other value and subkey stays. Returns the key's handle afterwards, which may differ
    /// from `node` (see [`ApplianceHive`]); other keys' handles stay valid.
    fn delete_values(&self, node: NodeId, names: &[&str]) -> Result<NodeId>;
    /// Writes the changes back into the hive file.
    fn commit(&self) -> Result<()>;

    /// The key at a backslash-separated path from the root; None when a part is missing.
    fn key(&self, path: &str) -> Result<Option<NodeId>> {
        let mut n = self.root()?;
        for part in path.split('\\').filter(|p| !p.is_empty()) {
            match self.child(n, part)? {
                Some(c) => n = c,
                None => return Ok(None),
            }
        }
        Ok(Some(n))
    }

    /// The value `name` of `node` (case-insensitive).
    fn value(&self, node: NodeId, name: &str) -> Result<Option<RegValue>> {
        Ok(self
            .values(node)?
            .into_iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v))
    }

    /// The value `name` of the key at `path`; None when either is missing.
    fn get(&self, path: &str, name: &str) -> Result<Option<RegValue>> {
        match self.key(path)? {
            Some(k) => self.value(k, name),
            None => Ok(None),
        }
    }
}

impl<T: Hive + ?Sized> Hive for std::rc::Rc<T> {
    fn root(&self) -> Result<NodeId> {
        (**self).root()
    }
    fn child(&self, node: NodeId, name: &str) -> Result<Option<NodeId>> {
        (**self).child(node, name)
    }
    fn children(&self, node: NodeId) -> Result<Vec<(String, NodeId)>> {
        (**self).children(node)
    }
    fn values(&self, node: NodeId) -> Result<Vec<(String, RegValue)>> {
        (**self).values(node)
    }
    fn set_value(&self, node: NodeId, name: &str, value: &RegValue) -> Result<()> {
        (**self).set_value(node, name, value)
    }
    fn delete_values(&self, node: NodeId, names: &[&str]) -> Result<NodeId> {
        (**self).delete_values(node, names)
    }
    fn commit(&self) -> Result<()> {
        (**self).commit()
    }
}

/// Whether `name` is one of `names`, compared as Windows compares value names.
pub fn named(names: &[&str], name: &str) -> bool {
    names.iter().any(|n| n.eq_ignore_ascii_case(name))
}

/// A key copied out of an open hive: its name, its values' raw types and bytes (so a copy
/// written back is byte-identical, whatever a value holds) and its subkeys.
struct KeyCopy {
    name: String,
    values: Vec<(String, i64, Vec<u8>)>,
    children: Vec<KeyCopy>,
}

impl KeyCopy {
    /// The name and size of the largest value in the key and below it.
    fn largest_value(&self) -> Option<(String, usize)> {
        let own = self
            .values
            .iter()
            .map(|(n, _, d)| (format!("{}\\{n}", self.name), d.len()));
        let below = self.children.iter().filter_map(KeyCopy::largest_value);
        own.chain(below).max_by_key(|(_, n)| *n)
    }
}

/// How deep and how many keys a rebuilt subtree may hold: an interface key holds a handful.
const COPY_MAX_DEPTH: usize = 16;
const COPY_MAX_KEYS: usize = 4096;
/// The largest value data a hive of Windows XP and later keeps in one cell: above it Windows
/// expects the "big data" layout, which hivex does not write, so a rebuild refuses such a key.
const ONE_CELL_MAX: usize = 16344;

/// A hive opened in the appliance. libguestfs holds one hive per handle; the flag shared with
/// the opener refuses a second open while this one lives. Dropping it closes the hive without
/// writing anything that was not committed.
pub struct ApplianceHive<'a> {
    h: &'a Handle,
    open: &'a Cell<bool>,
    path: String,
}

impl<'a> ApplianceHive<'a> {
    pub fn open(
        h: &'a Handle,
        open: &'a Cell<bool>,
        path: &str,
        write: bool,
    ) -> Result<ApplianceHive<'a>> {
        if open.get() {
            bail!("opening the hive {path}: another hive is open on this appliance");
        }
        h.hivex_open(path, write).with_context(|| {
            format!(
                "opening the registry hive {path} (damaged, or not a hive: repair the image in Windows, or restore the hive from System32\\config\\RegBack, then convert again)"
            )
        })?;
        open.set(true);
        Ok(ApplianceHive {
            h,
            open,
            path: path.to_string(),
        })
    }
}

impl Drop for ApplianceHive<'_> {
    fn drop(&mut self) {
        let _ = self.h.hivex_close();
        self.open.set(false);
    }
}

impl ApplianceHive<'_> {
    fn raw_values(&self, node: NodeId) -> Result<Vec<(String, i64, Vec<u8>)>> {
        self.h
            .hivex_node_values(node)?
            .into_iter()
            .map(|v| {
                Ok((
                    self.h.hivex_value_key(v)?,
                    self.h.hivex_value_type(v)?,
                    self.h.hivex_value_value(v)?,
                ))
            })
            .collect()
    }

    fn copy_key(&self, node: NodeId, depth: usize, budget: &mut usize) -> Result<KeyCopy> {
        if depth > COPY_MAX_DEPTH || *budget == 0 {
            bail!(
                "{}: the key {} to rebuild (to delete some of its values) has more than {COPY_MAX_KEYS} subkeys or \
                 {COPY_MAX_DEPTH} levels; delete those values in Windows (`reg delete`), or convert with --skip of the \
                 operation that deletes them",
                self.path,
                self.h.hivex_node_name(node).unwrap_or_default()
            );
        }
        *budget -= 1;
        let mut children = Vec::new();
        for c in self.h.hivex_node_children(node)? {
            children.push(self.copy_key(c, depth + 1, budget)?);
        }
        Ok(KeyCopy {
            name: self.h.hivex_node_name(node)?,
            values: self.raw_values(node)?,
            children,
        })
    }

    fn write_key(&self, parent: NodeId, k: &KeyCopy) -> Result<NodeId> {
        let n = self
            .h
            .hivex_node_add_child(parent, &k.name)
            .with_context(|| format!("adding the key {} in {}", k.name, self.path))?;
        for (name, kind, data) in &k.values {
            self.h
                .hivex_node_set_value(n, name, *kind, data)
                .with_context(|| format!("setting {name} in {}", self.path))?;
        }
        for c in &k.children {
            self.write_key(n, c)?;
        }
        Ok(n)
    }
}

impl Hive for ApplianceHive<'_> {
    fn root(&self) -> Result<NodeId> {
        Ok(self.h.hivex_root()?)
    }

    fn child(&self, node: NodeId, name: &str) -> Result<Option<NodeId>> {
        Ok(self.h.hivex_node_get_child(node, name)?)
    }

    fn children(&self, node: NodeId) -> Result<Vec<(String, NodeId)>> {
        self.h
            .hivex_node_children(node)?
            .into_iter()
            .map(|c| Ok((self.h.hivex_node_name(c)?, c)))
            .collect()
    }

    fn values(&self, node: NodeId) -> Result<Vec<(String, RegValue)>> {
        Ok(self
            .raw_values(node)?
            .into_iter()
            .map(|(name, kind, data)| (name, RegValue::from_raw(kind as u32, &data)))
            .collect())
    }

    fn set_value(&self, node: NodeId, name: &str, value: &RegValue) -> Result<()> {
        let (kind, data) = value.to_raw();
        self.h
            .hivex_node_set_value(node, name, i64::from(kind), &data)
            .with_context(|| format!("setting {name} in {}", self.path))?;
        Ok(())
    }

    /// libguestfs's hivex API can set a value but not delete one, so the key is rebuilt:
    /// its values and subkeys are copied out (raw), the key deleted, added again under the
    /// same parent with the same name, and everything but the deleted values written back.
    /// What a rebuilt key does not keep: its class name, last-write time and own security
    /// descriptor (hivex gives the new key its parent's).
    fn delete_values(&self, node: NodeId, names: &[&str]) -> Result<NodeId> {
        let values = self.raw_values(node)?;
        if !values.iter().any(|(n, _, _)| named(names, n)) {
            return Ok(node);
        }
        let mut budget = COPY_MAX_KEYS;
        let mut copy = self.copy_key(node, 0, &mut budget)?;
        copy.values.retain(|(n, _, _)| !named(names, n));
        if let Some((at, n)) = copy.largest_value()
            && n > ONE_CELL_MAX
        {
            bail!(
                "{}: deleting values of the key {} would rewrite its value {at} ({n} bytes) in a layout Windows does not read; \
                 delete them in Windows (`reg delete`), or convert with --skip of the operation that deletes them",
                self.path,
                copy.name
            );
        }
        let parent = self.h.hivex_node_parent(node)?;
        self.h
            .hivex_node_delete_child(node)
            .with_context(|| format!("deleting the key {} in {}", copy.name, self.path))?;
        self.write_key(parent, &copy)
    }

    fn commit(&self) -> Result<()> {
        self.h
            .hivex_commit()
            .with_context(|| format!("committing the registry hive {}", self.path))?;
        Ok(())
    }
}

/// A hive in memory, for unit tests: keys by path (lower-cased), values in insertion order.
#[cfg(test)]
#[derive(Debug, Clone, Default)]
pub struct MemHive {
    keys: std::cell::RefCell<Vec<MemKey>>,
    pub commits: Cell<u32>,
}

#[cfg(test)]
#[derive(Debug, Clone)]
struct MemKey {
    name: String,
    parent: Option<usize>,
    values: Vec<(String, RegValue)>,
    /// Deleted (rebuilt elsewhere): using its handle is an error, as it would be in hivex.
    deleted: bool,
}

#[cfg(test)]
impl MemHive {
    pub fn new() -> MemHive {
        let h = MemHive::default();
        h.keys.borrow_mut().push(MemKey {
            name: String::new(),
            parent: None,
            values: vec![],
            deleted: false,
        });
        h
    }

    /// Creates the key at `path` (and its parents) and sets a value in it.
    pub fn with(self, path: &str, name: &str, value: RegValue) -> MemHive {
        let k = self.make_key(path);
        self.set_value(k, name, &value).expect("set");
        self
    }

    /// The key behind a handle, or an error for a deleted one.
    fn live(&self, node: NodeId) -> Result<MemKey> {
        match self.keys.borrow().get(node as usize) {
            Some(k) if !k.deleted => Ok(k.clone()),
            _ => bail!("registry handle {node}: no such key (deleted or rebuilt)"),
        }
    }

    /// Copies key `i` and its subtree to new handles under `parent` and deletes the old ones.
    fn rebuild(&self, i: usize, parent: Option<usize>) -> Result<usize> {
        let mut copy = self.live(i as NodeId)?;
        copy.parent = parent;
        let new = {
            let mut keys = self.keys.borrow_mut();
            keys[i].deleted = true;
            keys.push(copy);
            keys.len() - 1
        };
        let kids: Vec<usize> = (0..self.keys.borrow().len())
            .filter(|&c| {
                let k = &self.keys.borrow()[c];
                !k.deleted && k.parent == Some(i)
            })
            .collect();
        for c in kids {
            self.rebuild(c, Some(new))?;
        }
        Ok(new)
    }

    /// Creates the key at `path` and its parents.
    pub fn make_key(&self, path: &str) -> NodeId {
        let mut n = 0usize;
        for part in path.split('\\').filter(|p| !p.is_empty()) {
            let found = self.child(n as NodeId, part).expect("mem");
            n = match found {
                Some(c) => c as usize,
                None => {
                    let mut keys = self.keys.borrow_mut();
                    keys.push(MemKey {
                        name: part.to_string(),
                        parent: Some(n),
                        values: vec![],
                        deleted: false,
                    });
                    keys.len() - 1
                }
            };
        }
        n as NodeId
    }
}

#[cfg(test)]
impl Hive for MemHive {
    fn root(&self) -> Result<NodeId> {
        Ok(0)
    }

    fn child(&self, node: NodeId, name: &str) -> Result<Option<NodeId>> {
        Ok(self
            .keys
            .borrow()
            .iter()
            .position(|k| {
                !k.deleted && k.parent == Some(node as usize) && k.name.eq_ignore_ascii_case(name)
            })
            .map(|i| i as NodeId))
    }

    fn children(&self, node: NodeId) -> Result<Vec<(String, NodeId)>> {
        Ok(self
            .keys
            .borrow()
            .iter()
            .enumerate()
            .filter(|(_, k)| !k.deleted && k.parent == Some(node as usize))
            .map(|(i, k)| (k.name.clone(), i as NodeId))
            .collect())
    }

    fn values(&self, node: NodeId) -> Result<Vec<(String, RegValue)>> {
        Ok(self.live(node)?.values)
    }

    fn set_value(&self, node: NodeId, name: &str, value: &RegValue) -> Result<()> {
        self.live(node)?;
        let mut keys = self.keys.borrow_mut();
        let vals = &mut keys[node as usize].values;
        match vals.iter_mut().find(|(n, _)| n.eq_ignore_ascii_case(name)) {
            Some(slot) => slot.1 = value.clone(),
            None => vals.push((name.to_string(), value.clone())),
        }
        Ok(())
    }

    /// As the appliance does it: the key and its subtree are rebuilt under new handles and
    /// the old ones stop working.
    fn delete_values(&self, node: NodeId, names: &[&str]) -> Result<NodeId> {
        let key = self.live(node)?;
        if !key.values.iter().any(|(n, _)| named(names, n)) {
            return Ok(node);
        }
        let new = self.rebuild(node as usize, key.parent)?;
        self.keys.borrow_mut()[new]
            .values
            .retain(|(n, _)| !named(names, n));
        Ok(new as NodeId)
    }

    fn commit(&self) -> Result<()> {
        self.commits.set(self.commits.get() + 1);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_round_trip_through_their_stored_bytes() {
        for v in [
            RegValue::Sz("以太网".into()),
            RegValue::ExpandSz("%SystemRoot%\\system32".into()),
            RegValue::Dword(9000),
            RegValue::Qword(1 << 40),
            RegValue::MultiSz(vec!["a".into(), "".into(), "b".into()]),
            RegValue::Raw(REG_BINARY, vec![0x4d, 0x3c, 0, 1]),
        ] {
            let (k, b) = v.to_raw();
            assert_eq!(RegValue::from_raw(k, &b), v, "{v}");
        }
        // Strings stop at their NUL; a DWORD of the wrong size is not guessed.
        assert_eq!(
            RegValue::from_raw(REG_SZ, &[b'h', 0, b'i', 0, 0, 0, b'x', 0]),
            RegValue::Sz("hi".into())
        );
        assert_eq!(
            RegValue::from_raw(REG_DWORD, &[1, 2]),
            RegValue::Raw(REG_DWORD, vec![1, 2])
        );
        // Odd trailing bytes of a string are dropped, never a panic.
        assert_eq!(
            RegValue::from_raw(REG_SZ, &[b'h', 0, b'i']),
            RegValue::Sz("h".into())
        );
    }

    #[test]
    fn keys_are_found_by_path_in_any_letter_case() {
        let h = MemHive::new().with(
            "Microsoft\\Windows NT\\CurrentVersion",
            "ProductName",
            RegValue::Sz("Windows Server 2012 R2 Standard".into()),
        );
        assert_eq!(
            h.get("microsoft\\WINDOWS NT\\currentversion", "productname")
                .unwrap(),
            Some(RegValue::Sz("Windows Server 2012 R2 Standard".into()))
        );
        assert_eq!(h.get("Microsoft\\Nope", "ProductName").unwrap(), None);
        assert_eq!(h.key("\\").unwrap(), Some(0));
    }
}
