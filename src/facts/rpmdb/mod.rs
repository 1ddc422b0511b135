//! rpm's package database read as files, without the guest's `rpm` (which needs the guest's
//! `/bin/sh` and libraries): rpm ≥ 4.16's sqlite `rpmdb.sqlite` ([`sqlite`]) and the Berkeley
//! DB hash `Packages` file of CentOS 6/7 and RHEL 8 ([`bdb`]). Both hold one rpm header per
//! installed package ([`header`]), of which imgseal reads name, epoch, version, release and
//! arch.
//!
//! Everything is read-only and bounded: every page number, offset and length is checked
//! against the file, every walk counts its steps, and a database that is damaged or hostile
//! gives an error naming what is wrong, never a panic or an endless loop.

pub mod bdb;
pub mod header;
pub mod sqlite;

#[cfg(test)]
pub(crate) mod tests;

use crate::guest::fs::GuestFs;
use anyhow::{Result, bail};
use std::cell::RefCell;
use std::collections::HashMap;

/// One installed package as its header names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Package {
    pub name: String,
    pub epoch: Option<u32>,
    pub version: String,
    pub release: String,
    pub arch: Option<String>,
}

impl Package {
    /// `VERSION-RELEASE`, as `rpm -q --qf '%{VERSION}-%{RELEASE}'` prints it.
    pub fn version_release(&self) -> String {
        format!("{}-{}", self.version, self.release)
    }
}

/// Random access to a database file's bytes.
pub trait Bytes {
    fn size(&self) -> u64;
    /// Exactly `len` bytes at `offset`; an error past the end.
    fn fetch(&self, offset: u64, len: usize) -> Result<Vec<u8>>;
}

impl Bytes for [u8] {
    fn size(&self) -> u64 {
        self.len() as u64
    }

    fn fetch(&self, offset: u64, len: usize) -> Result<Vec<u8>> {
        let end = offset.checked_add(len as u64);
        match end {
            Some(end) if end <= self.len() as u64 => {
                Ok(self[offset as usize..end as usize].to_vec())
            }
            _ => bail!(
                "reading {len} bytes at offset {offset} of a {}-byte file",
                self.len()
            ),
        }
    }
}

impl Bytes for Vec<u8> {
    fn size(&self) -> u64 {
        self.len() as u64
    }

    fn fetch(&self, offset: u64, len: usize) -> Result<Vec<u8>> {
        self.as_slice().fetch(offset, len)
    }
}

/// The largest database file imgseal reads (a large RHEL install's is a few hundred MiB).
pub const MAX_FILE: u64 = 2 << 30;
const CHUNK: u64 = 1 << 20;
/// Chunks kept in memory at once (the rest are read again when needed).
const KEEP: usize = 64;

/// A guest file read through the appliance in 1 MiB pieces, on demand, the most recently
/// used ones kept.
pub struct GuestFile<'a> {
    fs: &'a dyn GuestFs,
    path: String,
    size: u64,
    chunks: RefCell<Chunks>,
}

/// A use counter, and chunk number → (when last used, bytes).
type Chunks = (u64, HashMap<u64, (u64, Vec<u8>)>);

impl<'a> GuestFile<'a> {
    pub fn open(fs: &'a dyn GuestFs, path: &str) -> Result<GuestFile<'a>> {
        let Some(id) = fs.file_id(path)? else {
            bail!("{path} is not a regular file");
        };
        if id.size > MAX_FILE {
            bail!(
                "{path} is {} bytes, more than the {MAX_FILE} imgseal reads",
                id.size
            );
        }
        Ok(GuestFile {
            fs,
            path: path.to_string(),
            size: id.size,
            chunks: RefCell::new((0, HashMap::new())),
        })
    }

    fn chunk(&self, n: u64) -> Result<Vec<u8>> {
        let mut c = self.chunks.borrow_mut();
        c.0 += 1;
        let tick = c.0;
        if let Some((used, data)) = c.1.get_mut(&n) {
            *used = tick;
            return Ok(data.clone());
        }
        let start = n * CHUNK;
        let want = CHUNK.min(self.size.saturating_sub(start)) as usize;
        let data = self.fs.read_at(&self.path, start, want)?;
        if data.len() != want {
            bail!(
                "{}: read {} bytes at offset {start}, expected {want} (the file changed?)",
                self.path,
                data.len()
            );
        }
        if c.1.len() >= KEEP
            && let Some(oldest) = c.1.iter().min_by_key(|(_, (u, _))| *u).map(|(k, _)| *k)
        {
            c.1.remove(&oldest);
        }
        c.1.insert(n, (tick, data.clone()));
        Ok(data)
    }
}

impl Bytes for GuestFile<'_> {
    fn size(&self) -> u64 {
        self.size
    }

    fn fetch(&self, offset: u64, len: usize) -> Result<Vec<u8>> {
        let end = match offset.checked_add(len as u64) {
            Some(e) if e <= self.size => e,
            _ => bail!(
                "{}: reading {len} bytes at offset {offset} of a {}-byte file",
                self.path,
                self.size
            ),
        };
        let mut out = Vec::with_capacity(len);
        let mut at = offset;
        while at < end {
            let n = at / CHUNK;
            let chunk = self.chunk(n)?;
            let from = (at - n * CHUNK) as usize;
            let to = ((end - n * CHUNK) as usize).min(chunk.len());
            out.extend_from_slice(&chunk[from..to]);
            at = n * CHUNK + to as u64;
        }
        Ok(out)
    }
}

/// Big-endian and little-endian integers at an offset of a buffer, checked.
pub(crate) fn be32(b: &[u8], at: usize) -> Result<u32> {
    match b.get(at..at.wrapping_add(4)) {
        Some(s) => Ok(u32::from_be_bytes(s.try_into().unwrap())),
        None => bail!(
            "a 4-byte field at offset {at} is past the end ({} bytes)",
            b.len()
        ),
    }
}

pub(crate) fn be16(b: &[u8], at: usize) -> Result<u16> {
    match b.get(at..at.wrapping_add(2)) {
        Some(s) => Ok(u16::from_be_bytes(s.try_into().unwrap())),
        None => bail!(
            "a 2-byte field at offset {at} is past the end ({} bytes)",
            b.len()
        ),
    }
}

pub(crate) fn le32(b: &[u8], at: usize) -> Result<u32> {
    match b.get(at..at.wrapping_add(4)) {
        Some(s) => Ok(u32::from_le_bytes(s.try_into().unwrap())),
        None => bail!(
            "a 4-byte field at offset {at} is past the end ({} bytes)",
            b.len()
        ),
    }
}

pub(crate) fn le16(b: &[u8], at: usize) -> Result<u16> {
    match b.get(at..at.wrapping_add(2)) {
        Some(s) => Ok(u16::from_le_bytes(s.try_into().unwrap())),
        None => bail!(
            "a 2-byte field at offset {at} is past the end ({} bytes)",
            b.len()
        ),
    }
}

/// A Berkeley DB hash `Packages` file holding these packages (name, `VERSION-RELEASE`),
/// laid out as db_load writes a small one (a metadata page and one hash page), for unit
/// tests of what reads package facts. The reader itself is tested on files written by
/// Debian's db_load and rpm (tests.rs).
#[cfg(test)]
pub fn test_packages_file(pkgs: &[(&str, &str)]) -> Vec<u8> {
    use header::{ARCH, NAME, RELEASE, VERSION, build, string};
    const PS: usize = 4096;
    let mut file = vec![0u8; 2 * PS];
    file[12..16].copy_from_slice(&0x061561u32.to_le_bytes());
    file[16..20].copy_from_slice(&9u32.to_le_bytes());
    file[20..24].copy_from_slice(&(PS as u32).to_le_bytes());
    file[25] = 8;
    file[32..36].copy_from_slice(&1u32.to_le_bytes());
    let page = &mut file[PS..];
    page[8..12].copy_from_slice(&1u32.to_le_bytes());
    page[25] = 13;
    let mut items = Vec::new();
    for (i, (name, vr)) in pkgs.iter().enumerate() {
        let (v, r) = vr.split_once('-').expect("VERSION-RELEASE");
        let blob = build(&[
            string(NAME, name),
            string(VERSION, v),
            string(RELEASE, r),
            string(ARCH, "noarch"),
        ]);
        items.push([&[1u8][..], &(i as u32 + 1).to_le_bytes()].concat());
        items.push([&[1u8][..], &blob].concat());
    }
    page[20..22].copy_from_slice(&(items.len() as u16).to_le_bytes());
    let mut end = PS;
    for (i, item) in items.iter().enumerate() {
        let at = end - item.len();
        page[at..end].copy_from_slice(item);
        page[26 + 2 * i..28 + 2 * i].copy_from_slice(&(at as u16).to_le_bytes());
        end = at;
    }
    file
}
