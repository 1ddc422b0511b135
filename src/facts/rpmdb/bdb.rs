//! The Berkeley DB hash file `Packages` of rpm < 4.16 (CentOS 6 and 7, RHEL 8), read without
//! Berkeley DB: its pages are scanned in order, every key/data pair of every hash page taken,
//! and data too large for a hash page followed through its chain of overflow pages. Keys are
//! 4-byte header numbers (key 0 holds rpm's next number, not a package); data are rpm
//! headers.
//!
//! What is read (Berkeley DB 4.x/5.x on-disk format, little-endian as x86 writes it): the
//! hash metadata page 0 (magic 0x061561, version, page size, last page, encryption and
//! checksum flags); the 26-byte header of every page (page number, next page, entry count,
//! free-area offset, type); hash pages (types 2 and 13) with their item offsets and items of
//! type `H_KEYDATA` (bytes inline) and `H_OFFPAGE` (first overflow page and total length);
//! overflow pages (type 7). Big-endian, encrypted and checksummed files are refused with a
//! reason: rpm writes none of them on the distributions that use this format.

use super::{Bytes, Package, header, le16, le32};
use anyhow::{Context, Result, bail};

const HASH_MAGIC: u32 = 0x061561;
const P_HASH_UNSORTED: u8 = 2;
const P_OVERFLOW: u8 = 7;
const P_HASH: u8 = 13;
const H_KEYDATA: u8 = 1;
const H_OFFPAGE: u8 = 3;
const PAGE_HEADER: usize = 26;
/// No rpm header is larger.
const MAX_ITEM: u32 = 300 << 20;

struct Db<'a> {
    file: &'a dyn Bytes,
    page_size: usize,
    pages: u32,
    /// Pages read so far, against a budget of a few times the file (see sqlite's).
    reads: std::cell::Cell<u64>,
}

impl<'a> Db<'a> {
    fn open(file: &'a dyn Bytes) -> Result<Db<'a>> {
        let meta = file
            .fetch(0, 512)
            .context("too short to be a Berkeley DB file")?;
        let magic = le32(&meta, 12)?;
        if magic != HASH_MAGIC {
            if magic.swap_bytes() == HASH_MAGIC {
                bail!("a big-endian Berkeley DB hash file; imgseal reads little-endian ones only");
            }
            bail!("not a Berkeley DB hash file (magic {magic:#x})");
        }
        let version = le32(&meta, 16)?;
        if !(8..=10).contains(&version) {
            bail!("Berkeley DB hash version {version}; imgseal reads versions 8 to 10");
        }
        let page_size = le32(&meta, 20)? as usize;
        if !(512..=65536).contains(&page_size) || !page_size.is_power_of_two() {
            bail!("Berkeley DB page size {page_size} is not a power of two from 512 to 65536");
        }
        if meta[24] != 0 {
            bail!("an encrypted Berkeley DB file");
        }
        if meta[26] & 1 != 0 {
            bail!("a Berkeley DB file with page checksums; rpm writes none");
        }
        let last = le32(&meta, 32)?;
        let in_file = file.size() / page_size as u64;
        if in_file <= last as u64 {
            bail!(
                "Berkeley DB: the file holds {in_file} pages, its metadata says {}: it is cut short",
                last as u64 + 1
            );
        }
        let pages = last + 1;
        Ok(Db {
            file,
            page_size,
            pages,
            reads: Default::default(),
        })
    }

    fn page(&self, n: u32) -> Result<Vec<u8>> {
        if n >= self.pages {
            bail!(
                "Berkeley DB: page {n} is outside the file's {} pages",
                self.pages
            );
        }
        self.reads.set(self.reads.get() + 1);
        if self.reads.get() > 4 * self.pages as u64 + 1000 {
            bail!("Berkeley DB: the scan read more pages than 4 times the file: the links loop");
        }
        self.file
            .fetch(n as u64 * self.page_size as u64, self.page_size)
    }

    /// The bytes of item `i` of a hash page whose item offsets are `inp`.
    fn item<'p>(&self, n: u32, page: &'p [u8], inp: &[usize], i: usize) -> Result<&'p [u8]> {
        let start = inp[i];
        let end = if i == 0 { self.page_size } else { inp[i - 1] };
        if start >= end || end > self.page_size {
            bail!("Berkeley DB: item {i} of page {n} has no room ({start}..{end})");
        }
        Ok(&page[start..end])
    }

    /// An item's value: inline bytes, or the overflow chain it points to.
    fn value(&self, n: u32, item: &[u8]) -> Result<Vec<u8>> {
        match item[0] {
            H_KEYDATA => Ok(item[1..].to_vec()),
            H_OFFPAGE => {
                let first = le32(item, 4)?;
                let len = le32(item, 8)?;
                self.overflow(first, len)
                    .with_context(|| format!("an item of page {n}"))
            }
            t => bail!("Berkeley DB: page {n} holds an item of type {t}, not rpm's"),
        }
    }

    fn overflow(&self, mut n: u32, len: u32) -> Result<Vec<u8>> {
        if len > MAX_ITEM {
            bail!("Berkeley DB: a {len}-byte item");
        }
        let mut out = Vec::with_capacity(len as usize);
        let mut seen = std::collections::HashSet::new();
        while out.len() < len as usize {
            if n == 0 || !seen.insert(n) {
                bail!("Berkeley DB: an overflow chain ends early or loops (at page {n})");
            }
            let p = self.page(n)?;
            if p[25] != P_OVERFLOW || le32(&p, 8)? != n {
                bail!("Berkeley DB: page {n} of an overflow chain is not an overflow page");
            }
            let here = le16(&p, 22)? as usize;
            let Some(data) = p.get(PAGE_HEADER..PAGE_HEADER + here) else {
                bail!("Berkeley DB: overflow page {n} says it holds {here} bytes");
            };
            let take = data.len().min(len as usize - out.len());
            out.extend_from_slice(&data[..take]);
            n = le32(&p, 16)?;
        }
        Ok(out)
    }
}

/// Every (header number, header blob) pair, in page order.
fn blobs(file: &dyn Bytes, f: &mut dyn FnMut(u32, Vec<u8>) -> Result<()>) -> Result<()> {
    let db = Db::open(file)?;
    for n in 1..db.pages {
        let page = db.page(n)?;
        // Pages never written are zeros; a page number that is not its own is not in use.
        if !matches!(page[25], P_HASH | P_HASH_UNSORTED) || le32(&page, 8)? != n {
            continue;
        }
        let entries = le16(&page, 20)? as usize;
        if PAGE_HEADER + 2 * entries > db.page_size || !entries.is_multiple_of(2) {
            bail!("Berkeley DB: hash page {n} claims {entries} items");
        }
        let inp: Vec<usize> = (0..entries)
            .map(|i| le16(&page, PAGE_HEADER + 2 * i).map(|o| o as usize))
            .collect::<Result<_>>()?;
        for i in (0..entries).step_by(2) {
            let key = db.item(n, &page, &inp, i)?;
            let data = db.item(n, &page, &inp, i + 1)?;
            let key = db.value(n, key)?;
            let Ok(key) = <[u8; 4]>::try_from(key.as_slice()) else {
                bail!(
                    "Berkeley DB: a key of {} bytes on page {n}, not a header number",
                    key.len()
                );
            };
            let hnum = u32::from_le_bytes(key);
            if hnum == 0 {
                continue;
            }
            f(hnum, db.value(n, data)?)?;
        }
    }
    Ok(())
}

/// Every package in the file, in header-number order.
pub fn packages(file: &dyn Bytes) -> Result<Vec<Package>> {
    let mut out = Vec::new();
    blobs(file, &mut |h, blob| {
        out.push((
            h,
            header::parse(&blob).with_context(|| format!("package {h}"))?,
        ));
        Ok(())
    })?;
    out.sort_by_key(|(h, _)| *h);
    Ok(out.into_iter().map(|(_, p)| p).collect())
}

/// The installed packages named `name`, in header-number order.
pub fn find(file: &dyn Bytes, name: &str) -> Result<Vec<Package>> {
    Ok(packages(file)?
        .into_iter()
        .filter(|p| p.name == name)
        .collect())
}
