//! An rpm header as rpm keeps it in its database: a big-endian count of index entries `il`
//! and data size `dl`, `il` entries of 16 bytes (tag, type, offset into the data, count),
//! then `dl` bytes of data. A header taken from a package file starts with an 8-byte magic
//! (`8e ad e8 01` and 4 reserved bytes), which is accepted too.

use super::{Package, be32};
use anyhow::{Result, bail};

pub const NAME: u32 = 1000;
pub const VERSION: u32 = 1001;
pub const RELEASE: u32 = 1002;
pub const EPOCH: u32 = 1003;
pub const ARCH: u32 = 1022;

const INT32: u32 = 4;
const STRING: u32 = 6;
const STRING_ARRAY: u32 = 8;
const I18NSTRING: u32 = 9;

/// rpm's own limits (`HEADER_TAGS_MAX`, `HEADER_DATA_MAX`).
const MAX_TAGS: u32 = 0xffff;
const MAX_DATA: u32 = 256 << 20;

/// Name, epoch, version, release and arch of a header.
pub fn parse(blob: &[u8]) -> Result<Package> {
    let blob = match blob {
        [0x8e, 0xad, 0xe8, 0x01, _, _, _, _, rest @ ..] => rest,
        b => b,
    };
    let il = be32(blob, 0)?;
    let dl = be32(blob, 4)?;
    if il == 0 || il > MAX_TAGS || dl > MAX_DATA {
        bail!("rpm header with {il} entries and {dl} bytes of data is not a header");
    }
    let store = 8 + 16 * il as usize;
    let Some(data) = blob.get(store..store + dl as usize) else {
        bail!(
            "rpm header says {il} entries and {dl} bytes of data, but holds {} bytes",
            blob.len()
        );
    };
    let mut name = None;
    let mut version = None;
    let mut release = None;
    let mut epoch = None;
    let mut arch = None;
    for i in 0..il as usize {
        let e = 8 + 16 * i;
        let (tag, ty, off, count) = (
            be32(blob, e)?,
            be32(blob, e + 4)?,
            be32(blob, e + 8)?,
            be32(blob, e + 12)?,
        );
        let slot = match tag {
            NAME => &mut name,
            VERSION => &mut version,
            RELEASE => &mut release,
            ARCH => &mut arch,
            EPOCH => {
                if ty != INT32 || count < 1 {
                    bail!("rpm header: EPOCH has type {ty} and count {count}, not one INT32");
                }
                epoch = Some(be32(data, off as usize)?);
                continue;
            }
            _ => continue,
        };
        if !matches!(ty, STRING | STRING_ARRAY | I18NSTRING) || count < 1 {
            bail!("rpm header: tag {tag} has type {ty}, not a string");
        }
        *slot = Some(string_at(data, off)?);
    }
    let need = |v: Option<String>, what: &str| -> Result<String> {
        v.ok_or_else(|| anyhow::anyhow!("rpm header without a {what}"))
    };
    Ok(Package {
        name: need(name, "NAME")?,
        epoch,
        version: need(version, "VERSION")?,
        release: need(release, "RELEASE")?,
        arch,
    })
}

/// The NUL-terminated string at `off` of the data store.
fn string_at(data: &[u8], off: u32) -> Result<String> {
    let Some(rest) = data.get(off as usize..) else {
        bail!(
            "rpm header: a string at offset {off} is past the {}-byte data",
            data.len()
        );
    };
    let Some(end) = rest.iter().position(|&b| b == 0) else {
        bail!("rpm header: the string at offset {off} has no end");
    };
    Ok(String::from_utf8_lossy(&rest[..end]).into_owned())
}

/// A header holding exactly these tags, as rpm lays one out (for tests).
#[cfg(test)]
pub fn build(entries: &[(u32, u32, Vec<u8>)]) -> Vec<u8> {
    let mut index = Vec::new();
    let mut data = Vec::new();
    for (tag, ty, value) in entries {
        if *ty == INT32 {
            while data.len() % 4 != 0 {
                data.push(0);
            }
        }
        index.extend_from_slice(&tag.to_be_bytes());
        index.extend_from_slice(&ty.to_be_bytes());
        index.extend_from_slice(&(data.len() as u32).to_be_bytes());
        index.extend_from_slice(&1u32.to_be_bytes());
        data.extend_from_slice(value);
    }
    let mut out = Vec::new();
    out.extend_from_slice(&(entries.len() as u32).to_be_bytes());
    out.extend_from_slice(&(data.len() as u32).to_be_bytes());
    out.extend(index);
    out.extend(data);
    out
}

#[cfg(test)]
pub fn string(tag: u32, s: &str) -> (u32, u32, Vec<u8>) {
    let mut v = s.as_bytes().to_vec();
    v.push(0);
    (tag, STRING, v)
}

#[cfg(test)]
pub fn int32(tag: u32, n: u32) -> (u32, u32, Vec<u8>) {
    (tag, INT32, n.to_be_bytes().to_vec())
}
