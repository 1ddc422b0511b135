//! imgseal's own NBD client, reading from an export: the fixed-newstyle handshake with
//! `NBD_OPT_GO`, structured replies (`NBD_OPT_STRUCTURED_REPLY`) and the `base:allocation`
//! meta context (`NBD_OPT_SET_META_CONTEXT`) where the server offers them, so that
//! `NBD_CMD_BLOCK_STATUS` tells which ranges read as zeros without reading them. A server
//! that refuses either gets plain reads (and no block status); one without `NBD_OPT_GO` gets
//! `NBD_OPT_EXPORT_NAME`. One request is in flight at a time; every length the server sends
//! is bounded before anything is allocated for it.

use anyhow::{Context, Result, bail};
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::Duration;

const NBDMAGIC: &[u8; 8] = b"NBDMAGIC";
const IHAVEOPT: u64 = 0x4948_4156_454F_5054;
const OPT_REPLY_MAGIC: u64 = 0x0003_e889_0455_65a9;
const REQUEST_MAGIC: u32 = 0x2560_9513;
const SIMPLE_REPLY_MAGIC: u32 = 0x6744_6698;
const STRUCTURED_REPLY_MAGIC: u32 = 0x668e_33ef;

const FLAG_FIXED_NEWSTYLE: u16 = 1 << 0;
const FLAG_NO_ZEROES: u16 = 1 << 1;

const OPT_EXPORT_NAME: u32 = 1;
const OPT_GO: u32 = 7;
const OPT_STRUCTURED_REPLY: u32 = 8;
const OPT_SET_META_CONTEXT: u32 = 10;

const REP_ACK: u32 = 1;
const REP_INFO: u32 = 3;
const REP_META_CONTEXT: u32 = 4;
const REP_FLAG_ERROR: u32 = 1 << 31;
const REP_ERR_UNSUP: u32 = 1 | REP_FLAG_ERROR;

const INFO_EXPORT: u16 = 0;

const CMD_READ: u16 = 0;
const CMD_DISC: u16 = 2;
const CMD_BLOCK_STATUS: u16 = 7;

const REPLY_FLAG_DONE: u16 = 1 << 0;
const REPLY_TYPE_NONE: u16 = 0;
const REPLY_TYPE_OFFSET_DATA: u16 = 1;
const REPLY_TYPE_OFFSET_HOLE: u16 = 2;
const REPLY_TYPE_BLOCK_STATUS: u16 = 5;
const REPLY_TYPE_ERROR_BIT: u16 = 1 << 15;
const REPLY_TYPE_ERROR_OFFSET: u16 = REPLY_TYPE_ERROR_BIT | 2;

/// `base:allocation`: the range reads as zeros (`NBD_STATE_HOLE`, bit 0, alone promises
/// nothing about the contents).
const STATE_ZERO: u32 = 1 << 1;

pub const BASE_ALLOCATION: &str = "base:allocation";

/// The largest single NBD read imgseal sends (qemu-nbd refuses requests above 32 MiB).
pub const MAX_REQUEST: usize = 16 << 20;
/// Option replies and error messages longer than this are a broken server.
const MAX_OPTION_REPLY: u32 = 64 << 10;
/// Block status asked for per request: its descriptors are bounded by what this range can
/// hold at 512-byte granularity (2 MiB of them at most), and adjacent alike ones are merged.
pub const MAX_STATUS_REQUEST: u32 = 128 << 20;

/// A range of the disk, and whether the server promised it reads as zeros.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Extent {
    pub offset: u64,
    pub len: u64,
    pub zero: bool,
}

/// What the handshake agreed on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Negotiated {
    pub structured_replies: bool,
    /// The server's id for `base:allocation`, when block status can be asked.
    pub allocation_context: Option<u32>,
}

/// imgseal's NBD client over a unix socket: positioned reads, and block status where the
/// server offers it.
pub struct NbdReader {
    s: UnixStream,
    size: u64,
    negotiated: Negotiated,
    cookie: u64,
    broken: bool,
}

fn be16(b: &[u8]) -> u16 {
    u16::from_be_bytes([b[0], b[1]])
}
fn be32(b: &[u8]) -> u32 {
    u32::from_be_bytes([b[0], b[1], b[2], b[3]])
}
fn be64(b: &[u8]) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[..8]);
    u64::from_be_bytes(a)
}

fn read_u16(s: &mut impl Read) -> Result<u16> {
    let mut b = [0u8; 2];
    s.read_exact(&mut b)?;
    Ok(u16::from_be_bytes(b))
}
fn read_u32(s: &mut impl Read) -> Result<u32> {
    let mut b = [0u8; 4];
    s.read_exact(&mut b)?;
    Ok(u32::from_be_bytes(b))
}
fn read_u64(s: &mut impl Read) -> Result<u64> {
    let mut b = [0u8; 8];
    s.read_exact(&mut b)?;
    Ok(u64::from_be_bytes(b))
}

/// Reads and drops `n` bytes.
fn skip(s: &mut impl Read, n: u64) -> Result<()> {
    let got = std::io::copy(&mut s.take(n), &mut std::io::sink())?;
    if got != n {
        bail!("the NBD server closed the connection");
    }
    Ok(())
}

/// An NBD error number as text.
fn errno_text(e: u32) -> String {
    let name = match e {
        1 => "EPERM",
        5 => "EIO",
        12 => "ENOMEM",
        22 => "EINVAL",
        28 => "ENOSPC",
        75 => "EOVERFLOW",
        95 => "ENOTSUP",
        108 => "ESHUTDOWN",
        _ => "error",
    };
    format!("{name} ({e})")
}

/// One option reply: its type and data.
struct OptReply {
    kind: u32,
    data: Vec<u8>,
}

fn send_option(s: &mut impl Write, opt: u32, data: &[u8]) -> Result<()> {
    let mut m = Vec::with_capacity(16 + data.len());
    m.extend_from_slice(&IHAVEOPT.to_be_bytes());
    m.extend_from_slice(&opt.to_be_bytes());
    m.extend_from_slice(&(data.len() as u32).to_be_bytes());
    m.extend_from_slice(data);
    s.write_all(&m)?;
    s.flush()?;
    Ok(())
}

fn read_option_reply(s: &mut impl Read, opt: u32) -> Result<OptReply> {
    let magic = read_u64(s)?;
    if magic != OPT_REPLY_MAGIC {
        bail!("the NBD server's option reply has a bad magic ({magic:#x})");
    }
    let got_opt = read_u32(s)?;
    let kind = read_u32(s)?;
    let len = read_u32(s)?;
    if got_opt != opt {
        bail!("the NBD server answered option {got_opt} to option {opt}");
    }
    if len > MAX_OPTION_REPLY {
        bail!("the NBD server's reply to option {opt} is {len} bytes long");
    }
    let mut data = vec![0u8; len as usize];
    s.read_exact(&mut data)?;
    Ok(OptReply { kind, data })
}

/// A server's refusal of an option, as text.
fn refusal(opt: &str, r: &OptReply) -> String {
    let msg = String::from_utf8_lossy(&r.data);
    let code = r.kind & !REP_FLAG_ERROR;
    if msg.is_empty() {
        format!("the NBD server refused {opt} (error {code})")
    } else {
        format!("the NBD server refused {opt} (error {code}): {msg}")
    }
}

/// Length-prefixed string, as option data carries them.
fn put_str(m: &mut Vec<u8>, s: &str) {
    m.extend_from_slice(&(s.len() as u32).to_be_bytes());
    m.extend_from_slice(s.as_bytes());
}

impl NbdReader {
    pub fn connect_unix(socket: &Path, export: &str) -> Result<NbdReader> {
        let s = UnixStream::connect(socket)
            .with_context(|| format!("connecting to NBD socket {}", socket.display()))?;
        s.set_read_timeout(Some(Duration::from_secs(120)))?;
        NbdReader::handshake(s, export)
            .with_context(|| format!("NBD handshake on {}", socket.display()))
    }

    /// The handshake on a connected stream.
    pub fn handshake(mut s: UnixStream, export: &str) -> Result<NbdReader> {
        let mut hello = [0u8; 18];
        s.read_exact(&mut hello)?;
        if &hello[..8] != NBDMAGIC {
            bail!("not an NBD server (no NBDMAGIC)");
        }
        if be64(&hello[8..16]) != IHAVEOPT {
            bail!("an old-style NBD server: imgseal speaks the newstyle protocol only");
        }
        let flags = be16(&hello[16..18]);
        let fixed = flags & FLAG_FIXED_NEWSTYLE != 0;
        let no_zeroes = flags & FLAG_NO_ZEROES != 0;
        let mut cflags = 0u32;
        if fixed {
            cflags |= FLAG_FIXED_NEWSTYLE as u32;
        }
        if no_zeroes {
            cflags |= FLAG_NO_ZEROES as u32;
        }
        s.write_all(&cflags.to_be_bytes())?;

        let mut negotiated = Negotiated {
            structured_replies: false,
            allocation_context: None,
        };
        // Only a fixed-newstyle server may be sent options other than EXPORT_NAME.
        if !fixed {
            let (size, _) = export_name(&mut s, export, no_zeroes)?;
            return Ok(NbdReader::new(s, size, negotiated));
        }
        send_option(&mut s, OPT_STRUCTURED_REPLY, &[])?;
        let r = read_option_reply(&mut s, OPT_STRUCTURED_REPLY)?;
        negotiated.structured_replies = r.kind == REP_ACK;
        if negotiated.structured_replies {
            let mut q = Vec::new();
            put_str(&mut q, export);
            q.extend_from_slice(&1u32.to_be_bytes());
            put_str(&mut q, BASE_ALLOCATION);
            send_option(&mut s, OPT_SET_META_CONTEXT, &q)?;
            loop {
                let r = read_option_reply(&mut s, OPT_SET_META_CONTEXT)?;
                match r.kind {
                    REP_META_CONTEXT if r.data.len() >= 4 => {
                        if &r.data[4..] == BASE_ALLOCATION.as_bytes() {
                            negotiated.allocation_context = Some(be32(&r.data));
                        }
                    }
                    REP_ACK => break,
                    // Refused (or unknown): no block status, plain reads still work.
                    k if k & REP_FLAG_ERROR != 0 => break,
                    k => bail!("the NBD server answered the meta context option with reply {k}"),
                }
            }
        }

        let mut go = Vec::new();
        put_str(&mut go, export);
        go.extend_from_slice(&0u16.to_be_bytes());
        send_option(&mut s, OPT_GO, &go)?;
        let mut size = None;
        loop {
            let r = read_option_reply(&mut s, OPT_GO)?;
            match r.kind {
                // Other kinds of information are not asked for, and skipped.
                REP_INFO if r.data.len() >= 12 && be16(&r.data) == INFO_EXPORT => {
                    size = Some(be64(&r.data[2..10]));
                }
                REP_ACK => break,
                REP_ERR_UNSUP => {
                    let (sz, _) = export_name(&mut s, export, no_zeroes)?;
                    size = Some(sz);
                    break;
                }
                k if k & REP_FLAG_ERROR != 0 => {
                    bail!("{}", refusal(&format!("export {export:?}"), &r))
                }
                _ => {}
            }
        }
        let Some(size) = size else {
            bail!("the NBD server did not say the export's size");
        };
        Ok(NbdReader::new(s, size, negotiated))
    }

    fn new(s: UnixStream, size: u64, negotiated: Negotiated) -> NbdReader {
        NbdReader {
            s,
            size,
            negotiated,
            cookie: 0,
            broken: false,
        }
    }

    pub fn size(&self) -> u64 {
        self.size
    }

    pub fn negotiated(&self) -> Negotiated {
        self.negotiated
    }

    /// Whether `block_status` can be asked.
    pub fn has_block_status(&self) -> bool {
        self.negotiated.allocation_context.is_some()
    }

    fn send(&mut self, cmd: u16, offset: u64, len: u32) -> Result<u64> {
        if self.broken {
            bail!("the NBD connection failed earlier");
        }
        self.cookie += 1;
        let mut m = [0u8; 28];
        m[0..4].copy_from_slice(&REQUEST_MAGIC.to_be_bytes());
        m[6..8].copy_from_slice(&cmd.to_be_bytes());
        m[8..16].copy_from_slice(&self.cookie.to_be_bytes());
        m[16..24].copy_from_slice(&offset.to_be_bytes());
        m[24..28].copy_from_slice(&len.to_be_bytes());
        self.s.write_all(&m)?;
        Ok(self.cookie)
    }

    /// Reads `buf.len()` bytes at `offset` (clipped to the end of the disk); returns how many.
    pub fn read_at(&mut self, offset: u64, buf: &mut [u8]) -> Result<usize> {
        if offset >= self.size {
            return Ok(0);
        }
        let n = (buf.len() as u64).min(self.size - offset) as usize;
        let mut off = offset;
        for chunk in buf[..n].chunks_mut(MAX_REQUEST) {
            let len = chunk.len();
            let r = self.read_one(off, chunk);
            if r.is_err() {
                self.broken = true;
            }
            r.with_context(|| format!("NBD read of {len} bytes at offset {off}"))?;
            off += len as u64;
        }
        Ok(n)
    }

    fn read_one(&mut self, offset: u64, buf: &mut [u8]) -> Result<()> {
        let len = buf.len() as u32;
        let cookie = self.send(CMD_READ, offset, len)?;
        let mut covered = 0u64;
        let mut error: Option<String> = None;
        loop {
            let magic = read_u32(&mut self.s)?;
            match magic {
                SIMPLE_REPLY_MAGIC => {
                    let err = read_u32(&mut self.s)?;
                    check_cookie(read_u64(&mut self.s)?, cookie)?;
                    if err != 0 {
                        bail!("the NBD server failed the read: {}", errno_text(err));
                    }
                    self.s.read_exact(buf)?;
                    return Ok(());
                }
                STRUCTURED_REPLY_MAGIC => {
                    let h = self.chunk_header(cookie)?;
                    match h.kind {
                        REPLY_TYPE_OFFSET_DATA => {
                            if h.len < 8 {
                                bail!("an NBD data chunk of {} bytes", h.len);
                            }
                            let at = read_u64(&mut self.s)?;
                            let dlen = (h.len - 8) as u64;
                            let start = at.checked_sub(offset).filter(|s| s + dlen <= len as u64);
                            let Some(start) = start else {
                                bail!("the NBD server sent data outside the range read");
                            };
                            self.s
                                .read_exact(&mut buf[start as usize..(start + dlen) as usize])?;
                            covered += dlen;
                        }
                        REPLY_TYPE_OFFSET_HOLE => {
                            if h.len != 12 {
                                bail!("an NBD hole chunk of {} bytes", h.len);
                            }
                            let at = read_u64(&mut self.s)?;
                            let hlen = read_u32(&mut self.s)? as u64;
                            let start = at.checked_sub(offset).filter(|s| s + hlen <= len as u64);
                            let Some(start) = start else {
                                bail!("the NBD server sent a hole outside the range read");
                            };
                            buf[start as usize..(start + hlen) as usize].fill(0);
                            covered += hlen;
                        }
                        _ => self.other_chunk(&h, &mut error)?,
                    }
                    if h.done {
                        break;
                    }
                }
                m => bail!("the NBD server's reply has a bad magic ({m:#x})"),
            }
        }
        if let Some(e) = error {
            bail!("{e}");
        }
        if covered != len as u64 {
            bail!("the NBD server sent {covered} of {len} bytes");
        }
        Ok(())
    }

    /// The extents of `[offset, offset + len)` (`len` at most [`MAX_STATUS_REQUEST`]), in order,
    /// alike neighbours merged. They cover a prefix of the range (the server may describe
    /// less than was asked) and never go past it.
    pub fn block_status(&mut self, offset: u64, len: u32) -> Result<Vec<Extent>> {
        let Some(ctx) = self.negotiated.allocation_context else {
            bail!("the NBD server offers no block status");
        };
        let len = (len as u64).min(self.size.saturating_sub(offset)) as u32;
        if len == 0 {
            return Ok(vec![]);
        }
        let r = self.block_status_one(ctx, offset, len);
        if r.is_err() {
            self.broken = true;
        }
        r.with_context(|| format!("NBD block status of {len} bytes at offset {offset}"))
    }

    fn block_status_one(&mut self, ctx: u32, offset: u64, len: u32) -> Result<Vec<Extent>> {
        let cookie = self.send(CMD_BLOCK_STATUS, offset, len)?;
        let end = offset + len as u64;
        let mut out: Vec<Extent> = Vec::new();
        let mut error: Option<String> = None;
        let mut seen = false;
        loop {
            let magic = read_u32(&mut self.s)?;
            match magic {
                SIMPLE_REPLY_MAGIC => {
                    let err = read_u32(&mut self.s)?;
                    check_cookie(read_u64(&mut self.s)?, cookie)?;
                    bail!(
                        "the NBD server answered block status without extents: {}",
                        errno_text(err)
                    );
                }
                STRUCTURED_REPLY_MAGIC => {
                    let h = self.chunk_header(cookie)?;
                    if h.kind == REPLY_TYPE_BLOCK_STATUS {
                        if h.len < 4 || (h.len - 4) % 8 != 0 {
                            bail!("an NBD block status chunk of {} bytes", h.len);
                        }
                        let id = read_u32(&mut self.s)?;
                        let count = (h.len - 4) / 8;
                        if id != ctx || seen {
                            skip(&mut self.s, count as u64 * 8)?;
                        } else {
                            seen = true;
                            let mut at = offset;
                            let mut d = [0u8; 8];
                            for _ in 0..count {
                                self.s.read_exact(&mut d)?;
                                let elen = be32(&d) as u64;
                                let zero = be32(&d[4..]) & STATE_ZERO != 0;
                                let elen = elen.min(end - at);
                                if elen == 0 {
                                    continue;
                                }
                                match out.last_mut() {
                                    Some(last) if last.zero == zero => last.len += elen,
                                    _ => out.push(Extent {
                                        offset: at,
                                        len: elen,
                                        zero,
                                    }),
                                }
                                at += elen;
                            }
                        }
                    } else {
                        self.other_chunk(&h, &mut error)?;
                    }
                    if h.done {
                        break;
                    }
                }
                m => bail!("the NBD server's reply has a bad magic ({m:#x})"),
            }
        }
        if let Some(e) = error {
            bail!("{e}");
        }
        if out.is_empty() {
            bail!("the NBD server described none of the range");
        }
        Ok(out)
    }

    fn chunk_header(&mut self, cookie: u64) -> Result<ChunkHeader> {
        let mut h = [0u8; 16];
        self.s.read_exact(&mut h)?;
        let flags = be16(&h[0..2]);
        let kind = be16(&h[2..4]);
        check_cookie(be64(&h[4..12]), cookie)?;
        let len = be32(&h[12..16]);
        let bound = (MAX_REQUEST as u32 + 8).max(MAX_OPTION_REPLY) + (MAX_STATUS_REQUEST / 512) * 8;
        if len > bound {
            bail!("an NBD reply chunk of {len} bytes");
        }
        Ok(ChunkHeader {
            done: flags & REPLY_FLAG_DONE != 0,
            kind,
            len,
        })
    }

    /// A chunk that is neither data nor status: an error is kept for when the reply ends,
    /// anything else is skipped.
    fn other_chunk(&mut self, h: &ChunkHeader, error: &mut Option<String>) -> Result<()> {
        match h.kind {
            REPLY_TYPE_NONE => {
                if h.len != 0 || !h.done {
                    bail!("a malformed NBD reply chunk (type none)");
                }
            }
            k if k & REPLY_TYPE_ERROR_BIT != 0 => {
                if h.len < 6 || h.len > MAX_OPTION_REPLY {
                    bail!("an NBD error chunk of {} bytes", h.len);
                }
                let mut p = vec![0u8; h.len as usize];
                self.s.read_exact(&mut p)?;
                let err = be32(&p);
                let mlen = (be16(&p[4..6]) as usize).min(p.len() - 6);
                let msg = String::from_utf8_lossy(&p[6..6 + mlen]).into_owned();
                let at = (k == REPLY_TYPE_ERROR_OFFSET && p.len() >= 6 + mlen + 8)
                    .then(|| be64(&p[6 + mlen..]));
                let mut text = format!("the NBD server failed the request: {}", errno_text(err));
                if let Some(at) = at {
                    text.push_str(&format!(" at offset {at}"));
                }
                if !msg.is_empty() {
                    text.push_str(&format!(": {msg}"));
                }
                error.get_or_insert(text);
            }
            _ => skip(&mut self.s, h.len as u64)?,
        }
        Ok(())
    }
}

struct ChunkHeader {
    done: bool,
    kind: u16,
    len: u32,
}

fn check_cookie(got: u64, want: u64) -> Result<()> {
    if got != want {
        bail!("the NBD server answered request {got}, not {want}");
    }
    Ok(())
}

/// `NBD_OPT_EXPORT_NAME`: the export's size and transmission flags.
fn export_name(s: &mut UnixStream, export: &str, no_zeroes: bool) -> Result<(u64, u16)> {
    send_option(s, OPT_EXPORT_NAME, export.as_bytes())?;
    let size = read_u64(s)?;
    let flags = read_u16(s)?;
    if !no_zeroes {
        skip(s, 124)?;
    }
    Ok((size, flags))
}

impl Drop for NbdReader {
    fn drop(&mut self) {
        // A clean goodbye (the server logs none of a dropped connection).
        if !self.broken {
            let _ = self.send(CMD_DISC, 0, 0);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A fake NBD server on one end of a socket pair: a disk in memory, extents for block
    /// status, and switches for what it refuses.
    struct Fake {
        disk: Vec<u8>,
        extents: Vec<(u32, u32)>,
        structured: bool,
        meta: bool,
        go: bool,
        /// Splits reads into a data chunk and a hole chunk where the disk has zeros.
        sparse_reads: bool,
        /// Fails reads at this offset with EIO.
        fail_at: Option<u64>,
    }

    impl Fake {
        fn new(disk: Vec<u8>) -> Fake {
            Fake {
                disk,
                extents: vec![],
                structured: true,
                meta: true,
                go: true,
                sparse_reads: false,
                fail_at: None,
            }
        }

        fn serve(self) -> NbdReader {
            let (a, b) = UnixStream::pair().unwrap();
            std::thread::spawn(move || {
                let _ = self.run(b);
            });
            NbdReader::handshake(a, "imgseal").unwrap()
        }

        fn reply(s: &mut UnixStream, opt: u32, kind: u32, data: &[u8]) -> Result<()> {
            let mut m = Vec::new();
            m.extend_from_slice(&OPT_REPLY_MAGIC.to_be_bytes());
            m.extend_from_slice(&opt.to_be_bytes());
            m.extend_from_slice(&kind.to_be_bytes());
            m.extend_from_slice(&(data.len() as u32).to_be_bytes());
            m.extend_from_slice(data);
            s.write_all(&m)?;
            Ok(())
        }

        fn chunk(s: &mut UnixStream, done: bool, kind: u16, cookie: u64, p: &[u8]) -> Result<()> {
            let mut m = Vec::new();
            m.extend_from_slice(&STRUCTURED_REPLY_MAGIC.to_be_bytes());
            m.extend_from_slice(&(done as u16).to_be_bytes());
            m.extend_from_slice(&kind.to_be_bytes());
            m.extend_from_slice(&cookie.to_be_bytes());
            m.extend_from_slice(&(p.len() as u32).to_be_bytes());
            m.extend_from_slice(p);
            s.write_all(&m)?;
            Ok(())
        }

        fn run(self, mut s: UnixStream) -> Result<()> {
            s.write_all(NBDMAGIC)?;
            s.write_all(&IHAVEOPT.to_be_bytes())?;
            s.write_all(&(FLAG_FIXED_NEWSTYLE | FLAG_NO_ZEROES).to_be_bytes())?;
            let _cflags = read_u32(&mut s)?;
            let mut structured = false;
            loop {
                assert_eq!(read_u64(&mut s)?, IHAVEOPT);
                let opt = read_u32(&mut s)?;
                let len = read_u32(&mut s)?;
                let mut data = vec![0u8; len as usize];
                s.read_exact(&mut data)?;
                match opt {
                    OPT_STRUCTURED_REPLY if self.structured => {
                        structured = true;
                        Fake::reply(&mut s, opt, REP_ACK, &[])?
                    }
                    OPT_SET_META_CONTEXT if self.meta => {
                        let mut m = 7u32.to_be_bytes().to_vec();
                        m.extend_from_slice(BASE_ALLOCATION.as_bytes());
                        Fake::reply(&mut s, opt, REP_META_CONTEXT, &m)?;
                        Fake::reply(&mut s, opt, REP_ACK, &[])?
                    }
                    OPT_GO if self.go => {
                        let mut info = INFO_EXPORT.to_be_bytes().to_vec();
                        info.extend_from_slice(&(self.disk.len() as u64).to_be_bytes());
                        info.extend_from_slice(&1u16.to_be_bytes());
                        Fake::reply(&mut s, opt, REP_INFO, &info)?;
                        Fake::reply(&mut s, opt, REP_ACK, &[])?;
                        break;
                    }
                    OPT_EXPORT_NAME => {
                        s.write_all(&(self.disk.len() as u64).to_be_bytes())?;
                        s.write_all(&1u16.to_be_bytes())?;
                        break;
                    }
                    _ => Fake::reply(&mut s, opt, REP_ERR_UNSUP, b"not here")?,
                }
            }
            loop {
                let mut r = [0u8; 28];
                s.read_exact(&mut r)?;
                assert_eq!(be32(&r), REQUEST_MAGIC);
                let cmd = be16(&r[6..8]);
                let cookie = be64(&r[8..16]);
                let off = be64(&r[16..24]);
                let len = be32(&r[24..28]) as u64;
                match cmd {
                    CMD_READ if self.fail_at == Some(off) => {
                        let mut p = 5u32.to_be_bytes().to_vec();
                        p.extend_from_slice(&4u16.to_be_bytes());
                        p.extend_from_slice(b"gone");
                        if structured {
                            Fake::chunk(&mut s, true, REPLY_TYPE_ERROR_BIT | 1, cookie, &p)?;
                        } else {
                            s.write_all(&SIMPLE_REPLY_MAGIC.to_be_bytes())?;
                            s.write_all(&5u32.to_be_bytes())?;
                            s.write_all(&cookie.to_be_bytes())?;
                        }
                    }
                    CMD_READ if structured => {
                        let data = &self.disk[off as usize..(off + len) as usize];
                        // Data first, then (sparse) the trailing zeros as a hole.
                        let keep = if self.sparse_reads {
                            data.iter().rposition(|&b| b != 0).map_or(0, |p| p + 1)
                        } else {
                            data.len()
                        };
                        if keep < data.len() {
                            let mut h = (off + keep as u64).to_be_bytes().to_vec();
                            h.extend_from_slice(&((data.len() - keep) as u32).to_be_bytes());
                            Fake::chunk(&mut s, keep == 0, REPLY_TYPE_OFFSET_HOLE, cookie, &h)?;
                        }
                        if keep > 0 {
                            let mut p = off.to_be_bytes().to_vec();
                            p.extend_from_slice(&data[..keep]);
                            Fake::chunk(&mut s, true, REPLY_TYPE_OFFSET_DATA, cookie, &p)?;
                        }
                    }
                    CMD_READ => {
                        s.write_all(&SIMPLE_REPLY_MAGIC.to_be_bytes())?;
                        s.write_all(&0u32.to_be_bytes())?;
                        s.write_all(&cookie.to_be_bytes())?;
                        s.write_all(&self.disk[off as usize..(off + len) as usize])?;
                    }
                    CMD_BLOCK_STATUS => {
                        // The extents from the one holding `off`, the first cut to start there.
                        let mut p = 7u32.to_be_bytes().to_vec();
                        let mut at = 0u64;
                        for &(elen, flags) in &self.extents {
                            let e_end = at + elen as u64;
                            if e_end > off {
                                let from = at.max(off);
                                p.extend_from_slice(&((e_end - from) as u32).to_be_bytes());
                                p.extend_from_slice(&flags.to_be_bytes());
                            }
                            at = e_end;
                        }
                        Fake::chunk(&mut s, true, REPLY_TYPE_BLOCK_STATUS, cookie, &p)?;
                    }
                    CMD_DISC => return Ok(()),
                    _ => panic!("unexpected command {cmd}"),
                }
            }
        }
    }

    fn pattern(n: usize) -> Vec<u8> {
        (0..n).map(|i| (i % 253) as u8 + 1).collect()
    }

    #[test]
    fn structured_reads_with_holes_and_block_status() {
        let mut disk = pattern(1 << 20);
        disk[300_000..].fill(0);
        let mut f = Fake::new(disk.clone());
        f.sparse_reads = true;
        f.extents = vec![(300_000, 0), (600_000, 3), (148_576, 2)];
        let mut c = f.serve();
        assert_eq!(c.size(), 1 << 20);
        assert_eq!(
            c.negotiated(),
            Negotiated {
                structured_replies: true,
                allocation_context: Some(7)
            }
        );
        let mut buf = vec![0xffu8; 400_000];
        assert_eq!(c.read_at(0, &mut buf).unwrap(), 400_000);
        assert_eq!(buf, disk[..400_000]);
        // A read wholly in the hole comes back as one hole chunk.
        let mut buf = vec![0xffu8; 4096];
        c.read_at(500_000, &mut buf).unwrap();
        assert!(buf.iter().all(|&b| b == 0));
        // Reads past the end are clipped.
        let mut buf = vec![0u8; 100];
        assert_eq!(c.read_at((1 << 20) - 10, &mut buf).unwrap(), 10);
        assert_eq!(c.read_at(1 << 20, &mut buf).unwrap(), 0);
        // Both zero-flagged extents merge; the reply is clipped to the range asked.
        assert_eq!(
            c.block_status(0, 1 << 20).unwrap(),
            vec![
                Extent {
                    offset: 0,
                    len: 300_000,
                    zero: false
                },
                Extent {
                    offset: 300_000,
                    len: (1 << 20) - 300_000,
                    zero: true
                },
            ]
        );
        assert_eq!(
            c.block_status(100, 1000).unwrap(),
            vec![Extent {
                offset: 100,
                len: 1000,
                zero: false
            }]
        );
    }

    #[test]
    fn a_server_refusing_structured_replies_gets_plain_reads() {
        let disk = pattern(100_000);
        let mut f = Fake::new(disk.clone());
        f.structured = false;
        let mut c = f.serve();
        assert_eq!(
            c.negotiated(),
            Negotiated {
                structured_replies: false,
                allocation_context: None
            }
        );
        assert!(!c.has_block_status());
        assert!(c.block_status(0, 10).is_err());
        let mut buf = vec![0u8; 100_000];
        c.read_at(0, &mut buf).unwrap();
        assert_eq!(buf, disk);
    }

    #[test]
    fn a_server_refusing_meta_contexts_or_go_still_serves() {
        let disk = pattern(5000);
        let mut f = Fake::new(disk.clone());
        f.meta = false;
        f.go = false;
        let mut c = f.serve();
        assert_eq!(c.size(), 5000);
        assert!(c.negotiated().structured_replies);
        assert!(!c.has_block_status());
        let mut buf = vec![0u8; 5000];
        c.read_at(0, &mut buf).unwrap();
        assert_eq!(buf, disk);
    }

    #[test]
    fn read_errors_are_reported_with_the_servers_message() {
        for structured in [true, false] {
            let mut f = Fake::new(pattern(10_000));
            f.structured = structured;
            f.fail_at = Some(4096);
            let mut c = f.serve();
            let mut buf = vec![0u8; 100];
            c.read_at(0, &mut buf).unwrap();
            let e = format!("{:#}", c.read_at(4096, &mut buf).unwrap_err());
            assert!(e.contains("EIO"), "{e}");
            if structured {
                assert!(e.contains("gone"), "{e}");
            }
        }
    }

    #[test]
    fn not_an_nbd_server() {
        let (a, mut b) = UnixStream::pair().unwrap();
        std::thread::spawn(move || {
            let _ = b.write_all(b"HTTP/1.1 400 Bad Request\r\n\r\n");
        });
        let e = NbdReader::handshake(a, "x").err().unwrap().to_string();
        assert!(e.contains("not an NBD server"), "{e}");
    }
}
