//! What an initramfs holds, read on the host: the file comes through the appliance in
//! pieces ([`GuestFs::read_at`]) and is parsed here, so no guest program (`lsinitrd`,
//! `lsinitramfs`) runs under emulation.
//!
//! The layout is the one the kernel unpacks (`init/initramfs.c`): cpio "newc" entries
//! (magic `070701` or `070702`), runs of zero bytes between them, and at entry boundaries
//! compressed segments (gzip, zstd, xz, lzma, bzip2, legacy lz4) whose output is again newc
//! entries. Early microcode is an uncompressed archive in front of a compressed one.
//!
//! The archive is guest data, possibly hostile: everything is bounded ([`Limits`]): the
//! bytes read, the bytes all decompressors produce together (a bomb stops at the limit,
//! streaming, nothing decompressed is kept but names), the entries, the segments, the name
//! lengths. Names are data only: nothing here touches the host's filesystem, and a name that
//! climbs out with `..` makes the archive [`Unlistable`]. Only module names (and the
//! content of a small `modules.builtin`) are kept.

use crate::guest::fs::GuestFs;
use anyhow::Result;
use std::io::{self, BufRead, Read};
use std::rc::Rc;

/// How much of an initramfs imgseal reads and unpacks before it gives up.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Size of the file (compressed): initramfs files are 10-150 MiB.
    pub file: u64,
    /// Bytes produced by all decompressors together (real ones unpack to 50-400 MiB).
    pub unpacked: u64,
    /// cpio entries (a Debian initramfs has ~1,300; one with all firmware ~10,000).
    pub entries: u64,
    /// Uncompressed runs and compressed segments.
    pub segments: usize,
}

pub const LIMITS: Limits = Limits {
    file: 512 << 20,
    unpacked: 1 << 30,
    entries: 250_000,
    segments: 64,
};

/// The longest entry name the kernel accepts (PATH_MAX).
const MAX_NAME: usize = 4096;
/// Bytes of kept module names (far more than any real initramfs needs).
const MAX_KEPT: usize = 32 << 20;
/// A `modules.builtin` larger than this is not read (real ones are ~20 KiB).
const MAX_BUILTIN: u64 = 4 << 20;
/// Memory a zstd window or an xz/lzma dictionary may take (zstd's own default limit).
const MAX_WINDOW: u64 = 128 << 20;
/// One piece read from the guest file.
const CHUNK: usize = 1 << 20;

/// What an initramfs holds that the boot checks ask about.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Initramfs {
    /// Kernel module files (`*.ko`, `*.ko.xz`, `*.ko.zst`, `*.ko.gz`), as archived, without
    /// a leading `/` or `./`.
    pub modules: Vec<String>,
    /// Module names a `modules.builtin` in the archive lists (built into its kernel).
    pub builtin: Vec<String>,
    /// Each segment in order: `cpio` for an uncompressed run, else its compression.
    pub segments: Vec<&'static str>,
    pub entries: u64,
    /// Bytes all decompressors produced.
    pub unpacked: u64,
}

impl Initramfs {
    /// Whether a module (`virtio_blk`) is in the archive as a file or listed as built in.
    pub fn has_module(&self, name: &str) -> bool {
        let want = normalize(name);
        self.builtin.contains(&want)
            || self
                .modules
                .iter()
                .any(|m| module_name(m).is_some_and(|n| n == want))
    }
}

/// Why an initramfs could not be listed: a finding about the guest, not a failure of
/// imgseal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unlistable(pub String);

/// The listing of an initramfs, or why there is none.
pub type Listing = std::result::Result<Initramfs, Unlistable>;

const MODULE_SUFFIXES: [&str; 4] = [".ko", ".ko.xz", ".ko.zst", ".ko.gz"];

/// `kernel/drivers/block/virtio_blk.ko.zst` -> `virtio_blk`; None for other files.
pub fn module_name(path: &str) -> Option<String> {
    let base = path.rsplit('/').next()?;
    MODULE_SUFFIXES
        .iter()
        .find_map(|s| base.strip_suffix(s))
        .filter(|n| !n.is_empty())
        .map(normalize)
}

/// The kernel treats `-` and `_` in module names alike.
fn normalize(name: &str) -> String {
    name.replace('-', "_")
}

/// Lists an initramfs of the guest, once per file identity: the answer (a listing or why
/// there is none) is remembered for the guest session, so an initramfs the conversion did not
/// change is not read again, and a rebuilt one (a new identity) is. An error is a failure to
/// read the guest, not a finding.
pub fn list_guest(fs: &dyn GuestFs, path: &str) -> Result<Rc<Listing>> {
    let Some(id) = fs.file_id(path)? else {
        return Ok(Rc::new(Err(Unlistable("not a regular file".into()))));
    };
    if let Some(memo) = fs.content_memo()
        && let Some(hit) = memo.get::<Listing>("initramfs", &id)
    {
        return Ok(hit);
    }
    let listing = Rc::new(list_guest_file(fs, path, id.size, &LIMITS)?);
    if let Some(memo) = fs.content_memo() {
        memo.put("initramfs", id, listing.clone());
    }
    Ok(listing)
}

/// Reads and lists one guest file of `size` bytes, in pieces.
pub fn list_guest_file(
    fs: &dyn GuestFs,
    path: &str,
    size: u64,
    limits: &Limits,
) -> Result<Listing> {
    if size > limits.file {
        return Ok(Err(Unlistable(format!(
            "{} MiB, more than the {} MiB imgseal reads of an initramfs",
            size >> 20,
            limits.file >> 20
        ))));
    }
    let guest_error: std::cell::RefCell<Option<anyhow::Error>> = Default::default();
    let fetch = |offset: u64, len: usize| -> io::Result<Vec<u8>> {
        fs.read_at(path, offset, len).map_err(|e| {
            let msg = format!("{e:#}");
            *guest_error.borrow_mut() = Some(e);
            io::Error::other(msg)
        })
    };
    let mut src = Source::new(Box::new(fetch), size);
    let listing = list(&mut src, limits);
    // A failed read of the guest is imgseal's trouble, not the archive's.
    if let Some(e) = guest_error.borrow_mut().take() {
        return Err(e.context(format!("reading {path}")));
    }
    Ok(listing)
}

/// Lists an initramfs held in memory (tests, and files already read).
pub fn list_bytes(data: &[u8], limits: &Limits) -> Listing {
    let fetch = |offset: u64, len: usize| -> io::Result<Vec<u8>> {
        let start = (offset as usize).min(data.len());
        let end = start.saturating_add(len).min(data.len());
        Ok(data[start..end].to_vec())
    };
    list(&mut Source::new(Box::new(fetch), data.len() as u64), limits)
}

// ---- the input: a file read in pieces ----------------------------------------------------

type Fetch<'a> = Box<dyn FnMut(u64, usize) -> io::Result<Vec<u8>> + 'a>;

/// A file read in pieces of [`CHUNK`] bytes, as a [`BufRead`] that knows its offset; it can
/// look a few bytes ahead ([`Source::peek`]) to tell a compression by its magic.
struct Source<'a> {
    fetch: Fetch<'a>,
    size: u64,
    buf: Vec<u8>,
    pos: usize,
    /// Offset in the file of `buf[0]`.
    base: u64,
}

impl<'a> Source<'a> {
    fn new(fetch: Fetch<'a>, size: u64) -> Source<'a> {
        Source {
            fetch,
            size,
            buf: Vec::new(),
            pos: 0,
            base: 0,
        }
    }

    /// Offset of the next byte to be read.
    fn offset(&self) -> u64 {
        self.base + self.pos as u64
    }

    /// Reads the next piece, keeping the unread bytes; false at the end of the file.
    fn more(&mut self) -> io::Result<bool> {
        let end = self.base + self.buf.len() as u64;
        if end >= self.size {
            return Ok(false);
        }
        let want = CHUNK.min((self.size - end) as usize);
        let piece = (self.fetch)(end, want)?;
        if piece.is_empty() {
            // The file is shorter than it was: read what there is.
            self.size = end;
            return Ok(false);
        }
        self.buf.drain(..self.pos);
        self.base += self.pos as u64;
        self.pos = 0;
        self.buf.extend_from_slice(&piece);
        Ok(true)
    }

    /// At least `n` bytes ahead, fewer only at the end of the file.
    fn peek(&mut self, n: usize) -> io::Result<&[u8]> {
        while self.buf.len() - self.pos < n && self.more()? {}
        let end = (self.pos + n).min(self.buf.len());
        Ok(&self.buf[self.pos..end])
    }
}

impl Read for Source<'_> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        let b = self.fill_buf()?;
        let n = b.len().min(out.len());
        out[..n].copy_from_slice(&b[..n]);
        self.consume(n);
        Ok(n)
    }
}

impl BufRead for Source<'_> {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        if self.pos == self.buf.len() {
            self.more()?;
        }
        Ok(&self.buf[self.pos..])
    }
    fn consume(&mut self, n: usize) {
        self.pos = (self.pos + n).min(self.buf.len());
    }
}

// ---- the segments ------------------------------------------------------------------------

fn list(src: &mut Source, limits: &Limits) -> Listing {
    let mut cpio = Cpio::new(limits);
    loop {
        let head = src.peek(6).map_err(read_failed)?.to_vec();
        let Some(&first) = head.first() else { break };
        if first == 0 || first == b'0' || !cpio.at_boundary() {
            if first == b'0' && cpio.at_boundary() && cpio.out.segments.last() != Some(&"cpio") {
                cpio.segment("cpio")?;
            }
            // Uncompressed: entries and zero runs, up to the next compressed segment.
            cpio.pos = src.offset();
            let buf = src.fill_buf().map_err(read_failed)?;
            let used = cpio.feed(buf)?;
            src.consume(used);
            continue;
        }
        let offset = src.offset();
        let codec = Codec::of(&head).ok_or_else(|| {
            Unlistable(format!(
                "unknown data at offset {offset} (neither cpio nor a known compression)"
            ))
        })?;
        cpio.segment(codec.name())?;
        unpack(codec, src, &mut cpio).map_err(|Unlistable(why)| {
            Unlistable(format!(
                "{} segment at offset {offset}: {why}",
                codec.name()
            ))
        })?;
    }
    if !cpio.at_boundary() {
        return Err(Unlistable(format!(
            "truncated: the file ends inside entry {} (at offset {})",
            cpio.entry_label(),
            src.offset()
        )));
    }
    if cpio.out.entries == 0 {
        return Err(Unlistable(
            "no cpio entries (empty or not an initramfs)".into(),
        ));
    }
    Ok(cpio.out)
}

fn read_failed(e: io::Error) -> Unlistable {
    Unlistable(format!("read failed: {e}"))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Codec {
    Gzip,
    Zstd,
    Xz,
    Lzma,
    Bzip2,
    Lz4,
    Lzo,
}

impl Codec {
    /// The compressions the kernel can unpack, by magic (`decompress_method`).
    fn of(head: &[u8]) -> Option<Codec> {
        const MAGICS: &[(&[u8], Codec)] = &[
            (b"\x1f\x8b", Codec::Gzip),
            (b"\x28\xb5\x2f\xfd", Codec::Zstd),
            (b"\xfd7zXZ\x00", Codec::Xz),
            (b"\x5d\x00\x00", Codec::Lzma),
            (b"BZh", Codec::Bzip2),
            (b"\x02\x21\x4c\x18", Codec::Lz4),
            (b"\x89LZO", Codec::Lzo),
        ];
        MAGICS
            .iter()
            .find(|(m, _)| head.starts_with(m))
            .map(|(_, c)| *c)
    }

    fn name(self) -> &'static str {
        match self {
            Codec::Gzip => "gzip",
            Codec::Zstd => "zstd",
            Codec::Xz => "xz",
            Codec::Lzma => "lzma",
            Codec::Bzip2 => "bzip2",
            Codec::Lz4 => "lz4",
            Codec::Lzo => "lzo",
        }
    }
}

/// Decompresses one segment from `src` (which is left just past it) into the cpio parser.
fn unpack(codec: Codec, src: &mut Source, cpio: &mut Cpio) -> std::result::Result<(), Unlistable> {
    let corrupt = |e: &dyn std::fmt::Display| Unlistable(format!("truncated or corrupt: {e}"));
    let window_kib = (MAX_WINDOW >> 10) as u32;
    cpio.pos = 0;
    match codec {
        Codec::Gzip => pump(&mut flate2::bufread::GzDecoder::new(src), cpio),
        Codec::Bzip2 => pump(&mut bzip2::bufread::BzDecoder::new(src), cpio),
        Codec::Zstd => {
            let mut frames = ruzstd::decoding::FrameDecoder::new();
            frames.set_max_window_size(MAX_WINDOW);
            let mut d = ruzstd::decoding::StreamingDecoder::new_with_decoder(src, frames)
                .map_err(|e| corrupt(&e))?;
            pump(&mut d, cpio)
        }
        Codec::Xz => pump(
            &mut lzma_rust2::XzReader::new_mem_limit(src, false, window_kib),
            cpio,
        ),
        Codec::Lzma => {
            let mut d = lzma_rust2::LzmaReader::new_mem_limit(src, window_kib, None)
                .map_err(|e| corrupt(&e))?;
            pump(&mut d, cpio)
        }
        Codec::Lz4 => pump(&mut Lz4Legacy::new(src), cpio),
        Codec::Lzo => Err(Unlistable(
            "LZO compression, which imgseal does not read".into(),
        )),
    }
}

/// Feeds a decompressor's output to the parser, counting it against the limit.
fn pump(dec: &mut dyn Read, cpio: &mut Cpio) -> std::result::Result<(), Unlistable> {
    let mut buf = vec![0u8; 64 << 10];
    loop {
        let n = match dec.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(Unlistable(format!("truncated or corrupt: {e}"))),
        };
        cpio.out.unpacked += n as u64;
        if cpio.out.unpacked > cpio.limits.unpacked {
            return Err(Unlistable(format!(
                "unpacks to more than {} MiB (a decompression bomb?); stopped there",
                cpio.limits.unpacked >> 20
            )));
        }
        if cpio.feed(&buf[..n])? < n {
            return Err(Unlistable(
                "junk inside the compressed data (not a cpio entry)".into(),
            ));
        }
    }
    if !cpio.at_boundary() {
        return Err(Unlistable(format!(
            "the compressed data ends inside entry {} (truncated?)",
            cpio.entry_label()
        )));
    }
    Ok(())
}

/// The legacy LZ4 format (`lz4 -l`, the one the kernel reads): a magic, then blocks of at
/// most 8 MiB each preceded by their compressed size. It has no end mark: it ends at the
/// end of the file, at zero padding, or where a size is impossible.
struct Lz4Legacy<'s, 'a> {
    src: &'s mut Source<'a>,
    out: Vec<u8>,
    pos: usize,
    done: bool,
}

const LZ4_MAGIC: u32 = 0x184c2102;
const LZ4_BLOCK: usize = 8 << 20;

impl<'s, 'a> Lz4Legacy<'s, 'a> {
    fn new(src: &'s mut Source<'a>) -> Self {
        src.consume(4);
        Lz4Legacy {
            src,
            out: Vec::new(),
            pos: 0,
            done: false,
        }
    }

    fn next_block(&mut self) -> io::Result<bool> {
        loop {
            let head = self.src.peek(4)?;
            if head.len() < 4 {
                return Ok(false);
            }
            let n = u32::from_le_bytes(head.try_into().unwrap());
            if n == LZ4_MAGIC {
                self.src.consume(4);
                continue;
            }
            if n == 0 {
                return Ok(false);
            }
            // LZ4_COMPRESSBOUND of a full block.
            if n as usize > LZ4_BLOCK + LZ4_BLOCK / 255 + 16 {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("lz4 block of {n} bytes, more than a block can be"),
                ));
            }
            self.src.consume(4);
            let mut packed = vec![0u8; n as usize];
            self.src.read_exact(&mut packed)?;
            self.out.resize(LZ4_BLOCK, 0);
            let got = lz4_flex::block::decompress_into(&packed, &mut self.out)
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e.to_string()))?;
            self.out.truncate(got);
            self.pos = 0;
            return Ok(true);
        }
    }
}

impl Read for Lz4Legacy<'_, '_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.pos == self.out.len() {
            if self.done || !self.next_block()? {
                self.done = true;
                return Ok(0);
            }
        }
        let n = (self.out.len() - self.pos).min(buf.len());
        buf[..n].copy_from_slice(&self.out[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

// ---- the cpio entries --------------------------------------------------------------------

const HEADER: usize = 110;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Between entries: zero bytes, then a header (`0`) or the end of this run.
    Reset,
    Header,
    Name {
        left: usize,
    },
    NamePad {
        left: usize,
    },
    Data {
        left: u64,
    },
    DataPad {
        left: usize,
    },
}

/// A push parser of newc entries, kept across segments (the kernel's own state machine
/// continues across them too, and must be between entries where a segment ends).
struct Cpio<'l> {
    limits: &'l Limits,
    state: State,
    /// Offset within the current segment, for the 4-byte alignment of headers.
    pos: u64,
    header: Vec<u8>,
    name: Vec<u8>,
    size: u64,
    regular: bool,
    /// The contents of the `modules.builtin` being read.
    builtin: Option<Vec<u8>>,
    kept: usize,
    out: Initramfs,
}

fn pad4(n: u64) -> usize {
    ((4 - n % 4) % 4) as usize
}

impl<'l> Cpio<'l> {
    fn new(limits: &'l Limits) -> Self {
        Cpio {
            limits,
            state: State::Reset,
            pos: 0,
            header: Vec::with_capacity(HEADER),
            name: Vec::new(),
            size: 0,
            regular: false,
            builtin: None,
            kept: 0,
            out: Initramfs::default(),
        }
    }

    fn at_boundary(&self) -> bool {
        self.state == State::Reset
    }

    fn segment(&mut self, what: &'static str) -> std::result::Result<(), Unlistable> {
        if self.out.segments.len() >= self.limits.segments {
            return Err(Unlistable(format!(
                "more than {} segments (nested or repeated archives)",
                self.limits.segments
            )));
        }
        self.out.segments.push(what);
        Ok(())
    }

    fn entry_label(&self) -> String {
        if self.name.is_empty() {
            format!("#{}", self.out.entries)
        } else {
            shown(&self.name)
        }
    }

    /// Parses as much of `buf` as belongs to this run of entries; returns the bytes used,
    /// fewer than `buf.len()` only between entries where something else (a compressed
    /// segment, or junk) begins.
    fn feed(&mut self, buf: &[u8]) -> std::result::Result<usize, Unlistable> {
        let mut i = 0;
        while i < buf.len() {
            let rest = &buf[i..];
            let used = match self.state {
                State::Reset => {
                    let zeros = rest.iter().take_while(|&&b| b == 0).count();
                    match rest.get(zeros) {
                        None => {}
                        Some(b'0') => {
                            let at = self.pos + zeros as u64;
                            if !at.is_multiple_of(4) {
                                return Err(Unlistable(format!(
                                    "broken padding: an entry header at unaligned offset {at}"
                                )));
                            }
                            self.header.clear();
                            self.state = State::Header;
                        }
                        Some(_) => {
                            self.pos += zeros as u64;
                            return Ok(i + zeros);
                        }
                    }
                    zeros
                }
                State::Header => {
                    let n = (HEADER - self.header.len()).min(rest.len());
                    self.header.extend_from_slice(&rest[..n]);
                    if self.header.len() == HEADER {
                        self.start_entry()?;
                    }
                    n
                }
                State::Name { left } => {
                    let n = left.min(rest.len());
                    self.name.extend_from_slice(&rest[..n]);
                    if left == n {
                        let namesize = self.name.len() as u64;
                        self.name_done()?;
                        self.state = State::NamePad {
                            left: pad4(HEADER as u64 + namesize),
                        };
                    } else {
                        self.state = State::Name { left: left - n };
                    }
                    n
                }
                State::NamePad { left } => {
                    let n = left.min(rest.len());
                    self.state = State::NamePad { left: left - n };
                    n
                }
                State::Data { left } => {
                    let n = left.min(rest.len() as u64) as usize;
                    if let Some(b) = &mut self.builtin {
                        b.extend_from_slice(&rest[..n]);
                    }
                    self.state = State::Data {
                        left: left - n as u64,
                    };
                    n
                }
                State::DataPad { left } => {
                    let n = left.min(rest.len());
                    self.state = State::DataPad { left: left - n };
                    n
                }
            };
            i += used;
            self.pos += used as u64;
            self.settle();
        }
        Ok(buf.len())
    }

    /// Moves past the parts of an entry that are complete (or empty).
    fn settle(&mut self) {
        loop {
            self.state = match self.state {
                State::NamePad { left: 0 } => State::Data { left: self.size },
                State::Data { left: 0 } => {
                    self.entry_done();
                    State::DataPad {
                        left: pad4(self.size),
                    }
                }
                State::DataPad { left: 0 } => State::Reset,
                _ => return,
            }
        }
    }

    fn start_entry(&mut self) -> std::result::Result<(), Unlistable> {
        let h = &self.header;
        match &h[..6] {
            b"070701" | b"070702" => {}
            b"070707" => {
                return Err(Unlistable(
                    "old-style (odc) cpio, which the kernel does not unpack".into(),
                ));
            }
            _ => {
                return Err(Unlistable(
                    "no cpio magic where an entry should start".into(),
                ));
            }
        }
        let mut fields = [0u64; 13];
        for (i, f) in fields.iter_mut().enumerate() {
            let s = &h[6 + 8 * i..6 + 8 * (i + 1)];
            *f = std::str::from_utf8(s)
                .ok()
                .filter(|s| s.bytes().all(|b| b.is_ascii_hexdigit()))
                .and_then(|s| u64::from_str_radix(s, 16).ok())
                .ok_or_else(|| Unlistable("a cpio header field is not hexadecimal".into()))?;
        }
        let (mode, size, namesize) = (fields[1], fields[6], fields[11] as usize);
        self.out.entries += 1;
        if self.out.entries > self.limits.entries {
            return Err(Unlistable(format!(
                "more than {} entries",
                self.limits.entries
            )));
        }
        if namesize == 0 || namesize > MAX_NAME {
            return Err(Unlistable(format!(
                "entry #{} has a name of {namesize} bytes",
                self.out.entries
            )));
        }
        self.size = size;
        self.regular = mode & 0o170000 == 0o100000;
        self.name.clear();
        self.state = State::Name { left: namesize };
        Ok(())
    }

    /// The whole name is in: judge it and decide what to keep of the entry.
    fn name_done(&mut self) -> std::result::Result<(), Unlistable> {
        // The stored name ends with a NUL.
        if self.name.last() == Some(&0) {
            self.name.pop();
        }
        let name = String::from_utf8_lossy(&self.name).into_owned();
        if name.split('/').any(|c| c == "..") {
            return Err(Unlistable(format!(
                "entry {} climbs out of the archive with '..'",
                shown(&self.name)
            )));
        }
        let mut clean = name.as_str();
        while let Some(r) = clean.strip_prefix("./").or_else(|| clean.strip_prefix('/')) {
            clean = r;
        }
        self.builtin = None;
        if self.regular && module_name(clean).is_some() {
            self.kept += clean.len();
            if self.kept > MAX_KEPT {
                return Err(Unlistable("too many module names".into()));
            }
            self.out.modules.push(clean.to_string());
        } else if self.regular
            && clean.rsplit('/').next() == Some("modules.builtin")
            && self.size <= MAX_BUILTIN
        {
            self.builtin = Some(Vec::new());
        }
        Ok(())
    }

    fn entry_done(&mut self) {
        if let Some(b) = self.builtin.take() {
            for line in String::from_utf8_lossy(&b).lines() {
                if let Some(n) = module_name(line.trim())
                    && !self.out.builtin.contains(&n)
                {
                    self.kept += n.len();
                    self.out.builtin.push(n);
                }
            }
        }
        self.name.clear();
    }
}

/// A name for a message: quoted, escaped, at most 120 characters.
fn shown(name: &[u8]) -> String {
    let s: String = String::from_utf8_lossy(name).chars().take(120).collect();
    format!("{s:?}")
}

#[cfg(test)]
pub(crate) mod tests;
