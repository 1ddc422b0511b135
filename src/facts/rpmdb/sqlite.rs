//! rpm's sqlite database (`rpmdb.sqlite`, rpm ≥ 4.16) read without sqlite: just enough of
//! the file format to walk table b-trees. rpm keeps one row per package in
//! `Packages(hnum INTEGER PRIMARY KEY, blob BLOB)`, the blob being the package's header, and
//! an index table `Name(key, hnum, idx)`. A lookup reads `Name`, then each matching row of
//! `Packages` by its rowid: a few pages, not the whole file.
//!
//! What is read (the sqlite file format, version 3): the 100-byte file header (page size,
//! reserved bytes, text encoding); table b-tree pages (interior 0x05, leaf 0x0d) with their
//! cell pointer arrays; cells with varint payload sizes and rowids; payloads spilling into
//! overflow page chains; records (a varint header of serial types, then the values); and
//! committed frames of a write-ahead log (`rpmdb.sqlite-wal`, checksummed), which rpm uses
//! and which holds the newest pages until sqlite checkpoints it. Index b-trees, free lists
//! and rollback journals are not needed and not read.

use super::{Bytes, Package, be16, be32, header};
use anyhow::{Context, Result, bail};
use std::collections::{HashMap, HashSet};

const MAGIC: &[u8; 16] = b"SQLite format 3\0";
/// No rpm header is larger (rpm's `HEADER_DATA_MAX` plus its index).
const MAX_PAYLOAD: u64 = 300 << 20;
/// Deeper than any real b-tree (a 2^64-row table with 4 cells a page is 32 deep).
const MAX_DEPTH: usize = 40;

pub struct Db<'a> {
    file: &'a dyn Bytes,
    wal: Option<&'a dyn Bytes>,
    /// Page number → offset of its newest committed copy in the write-ahead log.
    logged: HashMap<u32, u64>,
    pub(crate) page_size: usize,
    usable: usize,
    pages: u32,
    /// Pages read so far, against a budget of a few times the file: hostile links between
    /// pages cannot make a walk read the file over and over.
    reads: std::cell::Cell<u64>,
}

/// A column value of a record.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Int(i64),
    Float(f64),
    Text(Vec<u8>),
    Blob(Vec<u8>),
}

impl<'a> Db<'a> {
    /// Opens the database file and, when given, its write-ahead log. An invalid log is
    /// ignored, as sqlite ignores it.
    pub fn open(file: &'a dyn Bytes, wal: Option<&'a dyn Bytes>) -> Result<Db<'a>> {
        let head = file
            .fetch(0, 100)
            .context("too short to be an sqlite database")?;
        if &head[..16] != MAGIC {
            bail!("not an sqlite 3 database (no \"SQLite format 3\" header)");
        }
        let page_size = match be16(&head, 16)? {
            1 => 65536,
            n => n as usize,
        };
        if !(512..=65536).contains(&page_size) || !page_size.is_power_of_two() {
            bail!("sqlite header: page size {page_size} is not a power of two from 512 to 65536");
        }
        let usable = page_size - head[20] as usize;
        if usable < 480 {
            bail!(
                "sqlite header: {} reserved bytes leave too little of a page",
                head[20]
            );
        }
        match be32(&head, 56)? {
            0 | 1 => {}
            e => bail!("sqlite header: text encoding {e} (UTF-16); rpm writes UTF-8"),
        }
        // The size in the header counts when it was written by a version that keeps it.
        let in_file = file.size() / page_size as u64;
        let said = be32(&head, 28)? as u64;
        if be32(&head, 24)? == be32(&head, 92)? && said > in_file {
            bail!(
                "sqlite: the file holds {in_file} pages, its header says {said}: it is cut short"
            );
        }
        let mut db = Db {
            file,
            wal: None,
            logged: HashMap::new(),
            page_size,
            usable,
            pages: u32::try_from(file.size() / page_size as u64).unwrap_or(u32::MAX),
            reads: Default::default(),
        };
        if let Some(w) = wal
            && let Some((logged, pages)) = read_wal(w, page_size)?
        {
            db.wal = Some(w);
            db.logged = logged;
            db.pages = pages;
        }
        Ok(db)
    }

    /// Page `n` (1-based), from the log when it holds a newer copy.
    fn page(&self, n: u32) -> Result<Vec<u8>> {
        if n == 0 || n > self.pages {
            bail!(
                "sqlite: page {n} is outside the database's {} pages",
                self.pages
            );
        }
        self.reads.set(self.reads.get() + 1);
        if self.reads.get() > 4 * self.pages as u64 + 1000 {
            bail!("sqlite: the walk read more pages than 4 times the file: the links loop");
        }
        match (self.logged.get(&n), self.wal) {
            (Some(&at), Some(w)) => w.fetch(at, self.page_size),
            _ => self
                .file
                .fetch((n as u64 - 1) * self.page_size as u64, self.page_size),
        }
    }

    /// The b-tree page `n`: its bytes, where its header starts, its type and its cells.
    pub(crate) fn btree(&self, n: u32) -> Result<Node> {
        let page = self.page(n)?;
        let h = if n == 1 { 100 } else { 0 };
        let kind = page[h];
        let interior = match kind {
            0x05 => true,
            0x0d => false,
            0x02 | 0x0a => bail!("sqlite: page {n} is an index page where a table was expected"),
            k => bail!("sqlite: page {n} is not a table b-tree page (type {k:#04x})"),
        };
        let cells = be16(&page, h + 3)? as usize;
        let array = h + if interior { 12 } else { 8 };
        if array + 2 * cells > self.usable {
            bail!("sqlite: page {n} claims {cells} cells, more than fit");
        }
        let right = if interior { be32(&page, h + 8)? } else { 0 };
        let mut offsets = Vec::with_capacity(cells);
        for i in 0..cells {
            let o = be16(&page, array + 2 * i)? as usize;
            if o < array + 2 * cells || o >= self.usable {
                bail!("sqlite: page {n} cell {i} at offset {o} is outside the cell area");
            }
            offsets.push(o);
        }
        Ok(Node {
            n,
            page,
            interior,
            right,
            offsets,
        })
    }

    /// An interior cell: (left child, key).
    fn interior_cell(&self, node: &Node, o: usize) -> Result<(u32, i64)> {
        let child = be32(&node.page[..self.usable], o)?;
        let (key, _) = varint(&node.page[..self.usable], o + 4)?;
        Ok((child, key as i64))
    }

    /// A leaf cell's rowid and where its payload starts, with its size.
    fn leaf_cell(&self, node: &Node, o: usize) -> Result<(i64, u64, usize)> {
        let page = &node.page[..self.usable];
        let (size, o) = varint(page, o)?;
        let (rowid, o) = varint(page, o)?;
        Ok((rowid as i64, size, o))
    }

    /// A leaf cell's whole payload, following its overflow chain.
    fn payload(&self, node: &Node, size: u64, at: usize) -> Result<Vec<u8>> {
        if size > MAX_PAYLOAD {
            bail!("sqlite: page {} holds a {size}-byte row", node.n);
        }
        let u = self.usable as u64;
        let x = u - 35;
        let local = if size <= x {
            size
        } else {
            let m = ((u - 12) * 32 / 255) - 23;
            let k = m + (size - m) % (u - 4);
            if k <= x { k } else { m }
        } as usize;
        let page = &node.page[..self.usable];
        let Some(here) = page.get(at..at + local) else {
            bail!("sqlite: a row on page {} runs past the page", node.n);
        };
        let mut out = Vec::with_capacity(size as usize);
        out.extend_from_slice(here);
        if local as u64 == size {
            return Ok(out);
        }
        let mut next = be32(page, at + local)?;
        let mut seen = HashSet::new();
        while (out.len() as u64) < size {
            if next == 0 || !seen.insert(next) {
                bail!(
                    "sqlite: the overflow chain of a row on page {} ends early or loops",
                    node.n
                );
            }
            let p = self.page(next)?;
            let take = ((size - out.len() as u64) as usize).min(self.usable - 4);
            out.extend_from_slice(&p[4..4 + take]);
            next = be32(&p, 0)?;
        }
        Ok(out)
    }

    /// Every row of the table whose b-tree starts at `root`, in rowid order.
    pub fn scan(&self, root: u32, f: &mut dyn FnMut(i64, Vec<u8>) -> Result<()>) -> Result<()> {
        let mut seen = HashSet::new();
        self.scan_at(root, 0, &mut seen, f)
    }

    fn scan_at(
        &self,
        n: u32,
        depth: usize,
        seen: &mut HashSet<u32>,
        f: &mut dyn FnMut(i64, Vec<u8>) -> Result<()>,
    ) -> Result<()> {
        if depth > MAX_DEPTH || !seen.insert(n) {
            bail!("sqlite: the b-tree reaches page {n} twice or is too deep");
        }
        let node = self.btree(n)?;
        for &o in &node.offsets {
            if node.interior {
                let (child, _) = self.interior_cell(&node, o)?;
                self.scan_at(child, depth + 1, seen, f)?;
            } else {
                let (rowid, size, at) = self.leaf_cell(&node, o)?;
                f(rowid, self.payload(&node, size, at)?)?;
            }
        }
        if node.interior {
            self.scan_at(node.right, depth + 1, seen, f)?;
        }
        Ok(())
    }

    /// The payload of row `rowid` of the table at `root`, descending by key.
    pub fn lookup(&self, root: u32, rowid: i64) -> Result<Option<Vec<u8>>> {
        let mut n = root;
        for _ in 0..=MAX_DEPTH {
            let node = self.btree(n)?;
            if !node.interior {
                for &o in &node.offsets {
                    let (r, size, at) = self.leaf_cell(&node, o)?;
                    if r == rowid {
                        return self.payload(&node, size, at).map(Some);
                    }
                }
                return Ok(None);
            }
            n = node.right;
            for &o in &node.offsets {
                let (child, key) = self.interior_cell(&node, o)?;
                if rowid <= key {
                    n = child;
                    break;
                }
            }
        }
        bail!("sqlite: the b-tree at page {root} is deeper than {MAX_DEPTH} levels")
    }

    /// The schema: (type, name, root page) of every table and index.
    pub fn schema(&self) -> Result<Vec<(String, String, u32)>> {
        let mut out = Vec::new();
        self.scan(1, &mut |_, rec| {
            let v = record(&rec)?;
            let text = |i: usize| match v.get(i) {
                Some(Value::Text(t)) => String::from_utf8_lossy(t).into_owned(),
                _ => String::new(),
            };
            let root = match v.get(3) {
                Some(Value::Int(r)) => u32::try_from(*r).unwrap_or(0),
                _ => 0,
            };
            out.push((text(0), text(1), root));
            Ok(())
        })?;
        Ok(out)
    }

    fn table(&self, name: &str) -> Result<Option<u32>> {
        Ok(self
            .schema()?
            .into_iter()
            .find(|(t, n, r)| t == "table" && n == name && *r != 0)
            .map(|(_, _, r)| r))
    }

    fn packages_root(&self) -> Result<u32> {
        self.table("Packages")?
            .context("sqlite database without a Packages table (not an rpm database)")
    }
}

pub(crate) struct Node {
    n: u32,
    page: Vec<u8>,
    pub(crate) interior: bool,
    right: u32,
    offsets: Vec<usize>,
}

/// The header blob of a `Packages` row (`hnum` is the rowid; the record is NULL, blob).
fn blob_of(rec: &[u8]) -> Result<Vec<u8>> {
    match record(rec)?.into_iter().nth(1) {
        Some(Value::Blob(b)) | Some(Value::Text(b)) => Ok(b),
        other => bail!("sqlite: a Packages row holds {other:?}, not a header blob"),
    }
}

/// Every package in the database, in `hnum` order.
pub fn packages(file: &dyn Bytes, wal: Option<&dyn Bytes>) -> Result<Vec<Package>> {
    let db = Db::open(file, wal)?;
    let root = db.packages_root()?;
    let mut out = Vec::new();
    db.scan(root, &mut |hnum, rec| {
        let p = header::parse(&blob_of(&rec)?).with_context(|| format!("package {hnum}"))?;
        out.push(p);
        Ok(())
    })?;
    Ok(out)
}

/// The installed packages named `name`, through the `Name` index table (a scan of
/// `Packages` when there is none), in `hnum` order.
pub fn find(file: &dyn Bytes, wal: Option<&dyn Bytes>, name: &str) -> Result<Vec<Package>> {
    let db = Db::open(file, wal)?;
    let root = db.packages_root()?;
    let Some(names) = db.table("Name")? else {
        return Ok(packages(file, wal)?
            .into_iter()
            .filter(|p| p.name == name)
            .collect());
    };
    let mut hnums = Vec::new();
    db.scan(names, &mut |_, rec| {
        let v = record(&rec)?;
        if let (Some(Value::Text(k) | Value::Blob(k)), Some(Value::Int(h))) = (v.first(), v.get(1))
            && k == name.as_bytes()
        {
            hnums.push(*h);
        }
        Ok(())
    })?;
    hnums.sort_unstable();
    hnums.dedup();
    let mut out = Vec::new();
    for h in hnums {
        // An index entry without its package is a stale index, not a package.
        let Some(rec) = db.lookup(root, h)? else {
            continue;
        };
        let p = header::parse(&blob_of(&rec)?).with_context(|| format!("package {h}"))?;
        if p.name == name {
            out.push(p);
        }
    }
    Ok(out)
}

/// A varint at `at`: its value and the offset after it.
pub(crate) fn varint(b: &[u8], at: usize) -> Result<(u64, usize)> {
    let mut v = 0u64;
    for i in 0..9 {
        let Some(&byte) = b.get(at + i) else {
            bail!("sqlite: a varint at offset {at} runs past the end");
        };
        if i == 8 {
            return Ok(((v << 8) | byte as u64, at + 9));
        }
        v = (v << 7) | (byte & 0x7f) as u64;
        if byte & 0x80 == 0 {
            return Ok((v, at + i + 1));
        }
    }
    unreachable!()
}

/// The values of a record.
pub fn record(rec: &[u8]) -> Result<Vec<Value>> {
    let (hlen, mut at) = varint(rec, 0)?;
    let hlen = usize::try_from(hlen).unwrap_or(usize::MAX);
    if hlen > rec.len() || hlen < at {
        bail!(
            "sqlite: a record header of {hlen} bytes in a {}-byte record",
            rec.len()
        );
    }
    let mut body = hlen;
    let mut out = Vec::new();
    while at < hlen {
        let (ty, next) = varint(&rec[..hlen], at)?;
        at = next;
        let (len, kind) = match ty {
            0 | 8 | 9 => (0, ty),
            1..=4 => (ty as usize, 1),
            5 => (6, 1),
            6 => (8, 1),
            7 => (8, 7),
            10 | 11 => bail!("sqlite: reserved serial type {ty} in a record"),
            n => (((n - 12) / 2) as usize, if n % 2 == 0 { 12 } else { 13 }),
        };
        let Some(bytes) = body.checked_add(len).and_then(|end| rec.get(body..end)) else {
            bail!("sqlite: a record's value runs past its end");
        };
        body += len;
        out.push(match kind {
            0 => Value::Null,
            8 => Value::Int(0),
            9 => Value::Int(1),
            1 => {
                // Big-endian two's complement of 1, 2, 3, 4, 6 or 8 bytes.
                let mut v = if bytes[0] & 0x80 != 0 { -1i64 } else { 0 };
                for &b in bytes {
                    v = (v << 8) | b as i64;
                }
                Value::Int(v)
            }
            7 => Value::Float(f64::from_bits(u64::from_be_bytes(
                bytes.try_into().unwrap(),
            ))),
            12 => Value::Blob(bytes.to_vec()),
            _ => Value::Text(bytes.to_vec()),
        });
    }
    Ok(out)
}

const WAL_MAGIC_LE: u32 = 0x377f0682;
const WAL_MAGIC_BE: u32 = 0x377f0683;

/// The committed frames of a write-ahead log: page → offset of its newest committed copy,
/// and the database's size in pages after the last commit. None when the log is empty or
/// invalid (sqlite then reads the database file alone). Frames after the first one whose
/// salt or running checksum does not match, and frames of an uncommitted transaction, do
/// not count.
fn read_wal(w: &dyn Bytes, page_size: usize) -> Result<Option<(HashMap<u32, u64>, u32)>> {
    if w.size() < 32 {
        return Ok(None);
    }
    let head = w.fetch(0, 32)?;
    let magic = be32(&head, 0)?;
    if (magic != WAL_MAGIC_LE && magic != WAL_MAGIC_BE)
        || be32(&head, 4)? != 3007000
        || be32(&head, 8)? as usize != page_size
    {
        return Ok(None);
    }
    let big = magic == WAL_MAGIC_BE;
    let mut sum = checksum(big, (0, 0), &head[..24]);
    if sum != (be32(&head, 24)?, be32(&head, 28)?) {
        return Ok(None);
    }
    let salt = &head[16..24];
    let frame = 24 + page_size as u64;
    let mut committed = HashMap::new();
    let mut pending = HashMap::new();
    let mut pages = None;
    let mut at = 32u64;
    while at + frame <= w.size() {
        let f = w.fetch(at, frame as usize)?;
        if &f[8..16] != salt {
            break;
        }
        sum = checksum(big, sum, &f[..8]);
        sum = checksum(big, sum, &f[24..]);
        if sum != (be32(&f, 16)?, be32(&f, 20)?) {
            break;
        }
        let pgno = be32(&f, 0)?;
        if pgno == 0 {
            break;
        }
        pending.insert(pgno, at + 24);
        let size_after = be32(&f, 4)?;
        if size_after != 0 {
            committed.extend(pending.drain());
            pages = Some(size_after);
        }
        at += frame;
    }
    Ok(pages.map(|p| (committed, p)))
}

/// sqlite's log checksum: running sums over 32-bit words, in the log's byte order.
fn checksum(big: bool, (mut s0, mut s1): (u32, u32), data: &[u8]) -> (u32, u32) {
    for pair in data.chunks_exact(8) {
        let word = |b: &[u8]| {
            let b: [u8; 4] = b.try_into().unwrap();
            if big {
                u32::from_be_bytes(b)
            } else {
                u32::from_le_bytes(b)
            }
        };
        s0 = s0.wrapping_add(word(&pair[..4])).wrapping_add(s1);
        s1 = s1.wrapping_add(word(&pair[4..])).wrapping_add(s0);
    }
    (s0, s1)
}
