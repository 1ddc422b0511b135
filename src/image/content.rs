//! The content digest of an NBD export, by either algorithm.
//!
//! `blkhash-sha256` costs what the data costs: one connection asks `NBD_CMD_BLOCK_STATUS`
//! which ranges read as zeros, and the disk is cut into work chunks of one block per stream
//! (4 MiB). A chunk that is all known zeros is never read; the others are read (their zero
//! ranges left out) and their block digests computed by workers on every core, each with its
//! own connection and one chunk buffer; the calling thread adds the digests to the streams in
//! order. Without block status (a server that does not offer it, or an error) every chunk is
//! read, and zero blocks are still recognised without hashing.
//!
//! `sha256` reads every byte in order, one thread reading ahead of the hashing thread.

use crate::blkhash::{self, BlkHash};
use crate::digest::{Algorithm, ContentDigest, Sha256Digest};
use crate::image::nbd::{Extent, NbdExport, NbdReader};
use crate::image::nbd_client::MAX_STATUS_REQUEST;
use crate::ui::Reporter;
use anyhow::{Context, Result, anyhow};
use std::collections::BTreeMap;
use std::sync::mpsc::{Receiver, Sender, SyncSender};
use std::sync::{Arc, Mutex};

/// One block per stream: the unit of reading and of work.
pub const CHUNK: usize = blkhash::BLOCK_SIZE * blkhash::STREAMS;

/// Connections a digest opens at most besides the planner's (imgseal's exports take 8).
const MAX_WORKERS: usize = 6;

/// The content digest of everything `export` serves.
pub fn digest_export(
    export: &NbdExport,
    algorithm: Algorithm,
    rep: &dyn Reporter,
) -> Result<ContentDigest> {
    let value = match algorithm {
        Algorithm::Sha256 => sha256_reader(export.connect()?, rep)?,
        Algorithm::BlkhashSha256 => {
            let workers = std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(1)
                .clamp(1, MAX_WORKERS);
            blkhash_connections(|| export.connect(), workers, rep)?
        }
    };
    Ok(ContentDigest { algorithm, value })
}

/// The size of one NBD request of the plain digest (aligned, large, within qemu-nbd's
/// 32 MiB limit; three in flight keep memory low).
pub const SHA256_CHUNK: usize = 4 << 20;

/// SHA-256 of everything an NBD reader serves, reading ahead on a second thread.
pub fn sha256_reader(mut reader: NbdReader, rep: &dyn Reporter) -> Result<Sha256Digest> {
    use sha2::Digest as _;
    let size = reader.size();
    let (full_tx, full_rx) = std::sync::mpsc::sync_channel::<Result<Vec<u8>>>(2);
    let (empty_tx, empty_rx) = std::sync::mpsc::channel::<Vec<u8>>();
    for _ in 0..3 {
        empty_tx.send(vec![0u8; SHA256_CHUNK]).ok();
    }
    let t = std::thread::spawn(move || {
        let mut off = 0u64;
        while off < size {
            let Ok(mut buf) = empty_rx.recv() else { return };
            let want = ((size - off) as usize).min(SHA256_CHUNK);
            buf.resize(want, 0);
            let r = reader.read_at(off, &mut buf).map(|_| buf);
            let failed = r.is_err();
            if full_tx.send(r).is_err() || failed {
                return;
            }
            off += want as u64;
        }
    });
    let mut h = sha2::Sha256::new();
    let mut done = 0u64;
    while done < size {
        crate::signals::check()?;
        let buf = full_rx.recv().context("the NBD reader stopped early")??;
        h.update(&buf);
        done += buf.len() as u64;
        rep.bytes(done, size);
        let _ = empty_tx.send(buf);
    }
    drop(empty_tx);
    let _ = t.join();
    Ok(Sha256Digest(h.finalize().into()))
}

/// Work for a hashing worker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Work {
    /// Chunk `chunk`; `data` are the ranges (offset in the chunk, length) not known to be
    /// zeros, in order: only they are read.
    Data { chunk: u64, data: Vec<(u32, u32)> },
    /// `count` full chunks from `first` on, all known zeros.
    Zero { first: u64, count: u64 },
}

/// Cuts the extents of a disk (in order, covering it) into work: a chunk with data is one
/// item listing its data ranges; consecutive full chunks of known zeros are one item.
pub struct ChunkPlanner {
    size: u64,
    /// Where the extents pushed so far end.
    pos: u64,
    chunk: u64,
    data: Vec<(u32, u32)>,
    zero_run: Option<(u64, u64)>,
}

impl ChunkPlanner {
    pub fn new(size: u64) -> ChunkPlanner {
        ChunkPlanner {
            size,
            pos: 0,
            chunk: 0,
            data: vec![],
            zero_run: None,
        }
    }

    /// Where the extents pushed so far end.
    pub fn pos(&self) -> u64 {
        self.pos
    }

    fn chunk_start(&self) -> u64 {
        self.chunk * CHUNK as u64
    }

    fn chunk_end(&self) -> u64 {
        (self.chunk_start() + CHUNK as u64).min(self.size)
    }

    fn flush_zeros(&mut self, emit: &mut dyn FnMut(Work) -> Result<()>) -> Result<()> {
        if let Some((first, count)) = self.zero_run.take() {
            emit(Work::Zero { first, count })?;
        }
        Ok(())
    }

    fn add_zero_chunks(&mut self, n: u64, emit: &mut dyn FnMut(Work) -> Result<()>) -> Result<()> {
        match &mut self.zero_run {
            Some((first, count)) if *first + *count == self.chunk => *count += n,
            _ => {
                self.flush_zeros(emit)?;
                self.zero_run = Some((self.chunk, n));
            }
        }
        self.chunk += n;
        self.pos = self.chunk_start();
        Ok(())
    }

    /// The current chunk is complete.
    fn end_chunk(&mut self, emit: &mut dyn FnMut(Work) -> Result<()>) -> Result<()> {
        let full = self.chunk_end() - self.chunk_start() == CHUNK as u64;
        if self.data.is_empty() && full {
            self.add_zero_chunks(1, emit)
        } else {
            self.flush_zeros(emit)?;
            emit(Work::Data {
                chunk: self.chunk,
                data: std::mem::take(&mut self.data),
            })?;
            self.chunk += 1;
            Ok(())
        }
    }

    /// Takes the next extent (it starts where the last one ended; clipped to the disk).
    pub fn push(&mut self, e: Extent, emit: &mut dyn FnMut(Work) -> Result<()>) -> Result<()> {
        if e.offset != self.pos {
            return Err(anyhow!(
                "block status skipped from {} to {}",
                self.pos,
                e.offset
            ));
        }
        let mut len = e.len.min(self.size - self.pos);
        while len > 0 {
            let start = self.chunk_start();
            // Whole chunks of zeros at once (not the last chunk when it is short).
            if e.zero && self.pos == start {
                let full_chunks = self.size / CHUNK as u64;
                let n = (len / CHUNK as u64).min(full_chunks.saturating_sub(self.chunk));
                if n > 0 {
                    self.add_zero_chunks(n, emit)?;
                    len -= n * CHUNK as u64;
                    continue;
                }
            }
            let take = len.min(self.chunk_end() - self.pos);
            if !e.zero {
                let at = (self.pos - start) as u32;
                match self.data.last_mut() {
                    Some((o, l)) if *o + *l == at => *l += take as u32,
                    _ => self.data.push((at, take as u32)),
                }
            }
            self.pos += take;
            len -= take;
            if self.pos == self.chunk_end() {
                self.end_chunk(emit)?;
            }
        }
        Ok(())
    }

    /// After the last extent: emits what is left.
    pub fn finish(mut self, emit: &mut dyn FnMut(Work) -> Result<()>) -> Result<()> {
        if self.pos != self.size {
            return Err(anyhow!(
                "block status described {} of {} bytes",
                self.pos,
                self.size
            ));
        }
        self.flush_zeros(emit)
    }
}

/// A worker's result.
enum Done {
    Blocks { chunk: u64, digests: Vec<[u8; 32]> },
    Zero { first: u64, count: u64 },
}

/// The blkhash digest over connections from `connect`: one plans, `workers` hash.
pub fn blkhash_connections(
    connect: impl Fn() -> Result<NbdReader>,
    workers: usize,
    rep: &dyn Reporter,
) -> Result<Sha256Digest> {
    let planner_conn = connect()?;
    let size = planner_conn.size();
    let conns = (0..workers.max(1))
        .map(|_| connect())
        .collect::<Result<Vec<_>>>()?;
    if planner_conn.has_block_status() {
        rep.debug(
            "content digest: the server reports zero ranges (block status); they are not read",
        );
    } else {
        rep.debug("content digest: no block status from the server; every byte is read");
    }
    let chunks = size.div_ceil(CHUNK as u64);
    let (work_tx, work_rx) = std::sync::mpsc::sync_channel::<Work>(2 * conns.len());
    let work_rx = Arc::new(Mutex::new(work_rx));
    let (done_tx, done_rx) = std::sync::mpsc::channel::<Result<Done>>();
    let zero_md = *BlkHash::default().zero_md();
    std::thread::scope(|scope| {
        {
            let done_tx = done_tx.clone();
            scope.spawn(move || {
                if let Err(e) = plan(planner_conn, size, &work_tx) {
                    let _ = done_tx.send(Err(e));
                }
            });
        }
        for conn in conns {
            let rx = Arc::clone(&work_rx);
            let tx = done_tx.clone();
            scope.spawn(move || worker(conn, size, &zero_md, rx, tx));
        }
        drop(work_rx);
        drop(done_tx);
        collect(done_rx, chunks, size, rep)
    })
}

/// Walks the disk's block status (or, without it, takes everything as data) into work.
fn plan(mut conn: NbdReader, size: u64, tx: &SyncSender<Work>) -> Result<()> {
    let mut p = ChunkPlanner::new(size);
    let mut emit = |w: Work| {
        tx.send(w)
            .map_err(|_| anyhow!("the digest workers stopped"))
    };
    let mut status = conn.has_block_status();
    while p.pos() < size {
        let off = p.pos();
        let extents = if status {
            match conn.block_status(off, MAX_STATUS_REQUEST) {
                Ok(e) => e,
                // Whatever went wrong, reading is always right.
                Err(_) => {
                    status = false;
                    continue;
                }
            }
        } else {
            vec![Extent {
                offset: off,
                len: size - off,
                zero: false,
            }]
        };
        for e in extents {
            p.push(e, &mut emit)?;
        }
    }
    p.finish(&mut emit)
}

fn worker(
    mut conn: NbdReader,
    size: u64,
    zero_md: &[u8; 32],
    rx: Arc<Mutex<Receiver<Work>>>,
    tx: Sender<Result<Done>>,
) {
    let mut buf = vec![0u8; CHUNK];
    loop {
        let w = match rx.lock() {
            Ok(g) => g.recv(),
            Err(_) => return,
        };
        let Ok(w) = w else { return };
        let r = match w {
            Work::Zero { first, count } => Ok(Done::Zero { first, count }),
            Work::Data { chunk, data } => {
                hash_chunk(&mut conn, size, chunk, &data, zero_md, &mut buf)
                    .map(|digests| Done::Blocks { chunk, digests })
            }
        };
        let failed = r.is_err();
        if tx.send(r).is_err() || failed {
            return;
        }
    }
}

/// Reads a chunk's data ranges (the rest is zeros) and returns its block digests.
fn hash_chunk(
    conn: &mut NbdReader,
    size: u64,
    chunk: u64,
    data: &[(u32, u32)],
    zero_md: &[u8; 32],
    buf: &mut [u8],
) -> Result<Vec<[u8; 32]>> {
    let bs = blkhash::BLOCK_SIZE;
    let start = chunk * CHUNK as u64;
    let len = (size - start).min(CHUNK as u64) as usize;
    let buf = &mut buf[..len];
    let read: usize = data.iter().map(|&(_, l)| l as usize).sum();
    if read < len {
        buf.fill(0);
    }
    // Which blocks hold data to look at; the others are known zeros.
    let mut has_data = vec![false; len.div_ceil(bs)];
    for &(o, l) in data {
        let (o, l) = (o as usize, l as usize);
        conn.read_at(start + o as u64, &mut buf[o..o + l])?;
        for flag in &mut has_data[o / bs..(o + l).div_ceil(bs)] {
            *flag = true;
        }
    }
    Ok(buf
        .chunks(bs)
        .zip(has_data)
        .map(|(b, data)| {
            if !data && b.len() == bs {
                *zero_md
            } else {
                blkhash::block_digest(b, bs, zero_md)
            }
        })
        .collect())
}

/// Adds the workers' digests to the streams in chunk order.
fn collect(
    rx: Receiver<Result<Done>>,
    chunks: u64,
    size: u64,
    rep: &dyn Reporter,
) -> Result<Sha256Digest> {
    let mut h = BlkHash::default();
    let mut next = 0u64;
    let mut waiting: BTreeMap<u64, Done> = BTreeMap::new();
    while next < chunks {
        crate::signals::check()?;
        let d = rx.recv().context("the digest workers stopped early")??;
        let at = match &d {
            Done::Blocks { chunk, .. } => *chunk,
            Done::Zero { first, .. } => *first,
        };
        waiting.insert(at, d);
        while let Some(d) = waiting.remove(&next) {
            match d {
                Done::Blocks { digests, .. } => {
                    for b in &digests {
                        h.add_block_digest(b);
                    }
                    next += 1;
                }
                Done::Zero { count, .. } => {
                    h.add_zero_blocks(count * blkhash::STREAMS as u64);
                    next += count;
                }
            }
            rep.bytes((next * CHUNK as u64).min(size), size);
        }
    }
    Ok(h.finish())
}

#[cfg(test)]
mod tests {
    use super::*;

    const C: u64 = CHUNK as u64;

    fn plan_of(size: u64, extents: &[(u64, bool)]) -> Vec<Work> {
        let mut out = vec![];
        let mut emit = |w: Work| {
            out.push(w);
            Ok(())
        };
        let mut p = ChunkPlanner::new(size);
        let mut at = 0;
        for &(len, zero) in extents {
            p.push(
                Extent {
                    offset: at,
                    len,
                    zero,
                },
                &mut emit,
            )
            .unwrap();
            at += len;
        }
        p.finish(&mut emit).unwrap();
        out
    }

    #[test]
    fn zero_chunks_are_runs_and_data_chunks_list_their_ranges() {
        // 10 chunks and a half: data, 3 zero chunks, a chunk half data, zeros to the end.
        let size = 10 * C + C / 2;
        let w = plan_of(
            size,
            &[
                (C, false),
                (3 * C, true),
                (C / 2, false),
                (size - 4 * C - C / 2, true),
            ],
        );
        assert_eq!(
            w,
            vec![
                Work::Data {
                    chunk: 0,
                    data: vec![(0, C as u32)]
                },
                Work::Zero { first: 1, count: 3 },
                Work::Data {
                    chunk: 4,
                    data: vec![(0, C as u32 / 2)]
                },
                Work::Zero { first: 5, count: 5 },
                // The short last chunk is hashed by a worker (its block is partial) but not read.
                Work::Data {
                    chunk: 10,
                    data: vec![]
                },
            ]
        );
    }

    #[test]
    fn unaligned_extents_split_and_merge_inside_chunks() {
        let size = 3 * C;
        let w = plan_of(
            size,
            &[
                (100, false),
                (C - 200, true),
                (300, false),
                (C - 200, true),
                (size - 2 * C, true),
            ],
        );
        assert_eq!(
            w,
            vec![
                Work::Data {
                    chunk: 0,
                    data: vec![(0, 100), (C as u32 - 100, 100)]
                },
                Work::Data {
                    chunk: 1,
                    data: vec![(0, 200)]
                },
                Work::Zero { first: 2, count: 1 },
            ]
        );
    }

    #[test]
    fn everything_as_data_and_tiny_disks() {
        assert_eq!(
            plan_of(2 * C, &[(2 * C, false)]),
            vec![
                Work::Data {
                    chunk: 0,
                    data: vec![(0, C as u32)]
                },
                Work::Data {
                    chunk: 1,
                    data: vec![(0, C as u32)]
                }
            ]
        );
        assert_eq!(plan_of(0, &[]), vec![]);
        assert_eq!(
            plan_of(1000, &[(1000, true)]),
            vec![Work::Data {
                chunk: 0,
                data: vec![]
            }]
        );
        // An extent past the end is clipped.
        assert_eq!(
            plan_of(C, &[(5 * C, true)]),
            vec![Work::Zero { first: 0, count: 1 }]
        );
    }

    #[test]
    fn a_gap_or_a_short_description_is_an_error() {
        let mut emit = |_: Work| Ok(());
        let mut p = ChunkPlanner::new(C);
        let e = p.push(
            Extent {
                offset: 10,
                len: 10,
                zero: false,
            },
            &mut emit,
        );
        assert!(e.is_err());
        let mut p = ChunkPlanner::new(C);
        p.push(
            Extent {
                offset: 0,
                len: 10,
                zero: false,
            },
            &mut emit,
        )
        .unwrap();
        assert!(p.finish(&mut emit).is_err());
    }
}
