//! The block-based content digest, `blkhash-sha256`: the construction of Nir Soffer's blkhash
//! (the hash `blksum` prints), written from its documentation.
//!
//! The disk is cut into blocks of [`BLOCK_SIZE`] bytes (the last one may be shorter), and each
//! block gets its SHA-256. Block `i` belongs to stream `i % STREAMS`; each stream is the
//! SHA-256 of its blocks' digests in order; the result is the SHA-256 of the [`STREAMS`]
//! stream digests in stream order:
//!
//! ```text
//! stream(s) = H( H(block s) || H(block s+S) || H(block s+2S) || ... )
//! digest    = H( stream(0) || stream(1) || ... || stream(S-1) )
//! ```
//!
//! A block of zeros needs no hashing: its digest is the precomputed H(zero block), and a
//! range known to read as zeros (a hole) is added without reading it. The disk's size is
//! bound by the construction: it fixes how many block digests each stream holds and the
//! length of the last block, so a disk and the same disk grown by zeros differ.
//!
//! Block digests are independent, so they are computed on every core; only the cheap
//! stream updates (32 bytes per block) are done in order.

use crate::digest::Sha256Digest;
use sha2::{Digest, Sha256};

/// Bytes per block (blkhash's default).
pub const BLOCK_SIZE: usize = 64 << 10;
/// Streams (the default of blkhash releases with 64 streams; releases with 32 streams
/// give other values).
pub const STREAMS: usize = 64;

/// True when every byte is zero: compared a machine word at a time, with an early exit.
pub fn is_zero(buf: &[u8]) -> bool {
    // 4 KiB pieces: OR-folding a piece vectorises, and a data block is rejected at once.
    buf.chunks(4096).all(|piece| {
        let mut words = piece.chunks_exact(8);
        let acc = words.by_ref().fold(0u64, |a, w| {
            a | u64::from_ne_bytes(w.try_into().expect("8 bytes"))
        });
        acc == 0 && words.remainder().iter().all(|&b| b == 0)
    })
}

/// SHA-256 of `len` zero bytes.
pub fn zeros_digest(len: usize) -> [u8; 32] {
    let zeros = vec![0u8; len];
    Sha256::digest(&zeros).into()
}

/// The digest of one block: the precomputed zero-block digest for a full block of zeros,
/// else its SHA-256.
pub fn block_digest(block: &[u8], block_size: usize, zero_md: &[u8; 32]) -> [u8; 32] {
    if block.len() == block_size && is_zero(block) {
        *zero_md
    } else {
        Sha256::digest(block).into()
    }
}

/// The streams and the running block count. Block digests are added in block order;
/// bytes can be added too (`update`, `zero`), buffered to whole blocks.
pub struct BlkHash {
    block_size: usize,
    streams: Vec<Sha256>,
    /// Blocks added so far.
    blocks: u64,
    zero_md: [u8; 32],
    /// `zero_md` repeated, to add many zero blocks to a stream in few updates.
    zero_run: Vec<u8>,
    /// The start of a block not yet complete (bytes added with `update` or `zero`).
    pending: Vec<u8>,
}

impl Default for BlkHash {
    fn default() -> Self {
        BlkHash::new(BLOCK_SIZE, STREAMS)
    }
}

impl BlkHash {
    /// A hash with other parameters than imgseal's (they change every value).
    pub fn new(block_size: usize, streams: usize) -> BlkHash {
        assert!(block_size > 0 && streams > 0);
        let zero_md = zeros_digest(block_size);
        BlkHash {
            block_size,
            streams: (0..streams).map(|_| Sha256::new()).collect(),
            blocks: 0,
            zero_md,
            zero_run: zero_md.repeat(128),
            pending: Vec::new(),
        }
    }

    pub fn block_size(&self) -> usize {
        self.block_size
    }

    pub fn zero_md(&self) -> &[u8; 32] {
        &self.zero_md
    }

    /// Blocks added so far.
    pub fn blocks(&self) -> u64 {
        self.blocks
    }

    /// Adds the digest of the next block.
    pub fn add_block_digest(&mut self, d: &[u8; 32]) {
        debug_assert!(
            self.pending.is_empty(),
            "block digests after a partial block"
        );
        let s = (self.blocks % self.streams.len() as u64) as usize;
        self.streams[s].update(d);
        self.blocks += 1;
    }

    /// Adds `n` full blocks of zeros without hashing them: each stream takes the zero-block
    /// digest once for each of those blocks that falls to it.
    pub fn add_zero_blocks(&mut self, n: u64) {
        debug_assert!(self.pending.is_empty(), "zero blocks after a partial block");
        let streams = self.streams.len() as u64;
        let start = self.blocks;
        let end = start + n;
        for (s, h) in self.streams.iter_mut().enumerate() {
            // The first block at or after `start` that goes to stream s.
            let first = start + (s as u64 + streams - start % streams) % streams;
            if first >= end {
                continue;
            }
            let mut count = (end - 1 - first) / streams + 1;
            let per_update = (self.zero_run.len() / 32) as u64;
            while count > 0 {
                let k = count.min(per_update);
                h.update(&self.zero_run[..k as usize * 32]);
                count -= k;
            }
        }
        self.blocks = end;
    }

    /// Adds bytes (any length; a partial block waits for the rest).
    pub fn update(&mut self, mut data: &[u8]) {
        if !self.pending.is_empty() {
            let take = data.len().min(self.block_size - self.pending.len());
            self.pending.extend_from_slice(&data[..take]);
            data = &data[take..];
            if self.pending.len() < self.block_size {
                return;
            }
            let d = block_digest(&self.pending, self.block_size, &self.zero_md);
            self.pending.clear();
            self.add_block_digest(&d);
        }
        let mut blocks = data.chunks_exact(self.block_size);
        for b in blocks.by_ref() {
            let d = block_digest(b, self.block_size, &self.zero_md);
            self.add_block_digest(&d);
        }
        self.pending.extend_from_slice(blocks.remainder());
    }

    /// Adds `len` bytes known to be zeros: whole blocks are not hashed.
    pub fn zero(&mut self, mut len: u64) {
        if !self.pending.is_empty() {
            let take = len.min((self.block_size - self.pending.len()) as u64) as usize;
            self.pending.resize(self.pending.len() + take, 0);
            len -= take as u64;
            if self.pending.len() < self.block_size {
                return;
            }
            let d = block_digest(&self.pending, self.block_size, &self.zero_md);
            self.pending.clear();
            self.add_block_digest(&d);
        }
        let bs = self.block_size as u64;
        self.add_zero_blocks(len / bs);
        self.pending.resize((len % bs) as usize, 0);
    }

    /// The digest: a pending partial block is hashed as it is (its length counts).
    pub fn finish(mut self) -> Sha256Digest {
        if !self.pending.is_empty() {
            let d: [u8; 32] = Sha256::digest(&self.pending).into();
            self.pending.clear();
            self.add_block_digest(&d);
        }
        let mut root = Sha256::new();
        for s in self.streams {
            root.update(s.finalize());
        }
        Sha256Digest(root.finalize().into())
    }
}

/// The digest of bytes in memory.
pub fn blkhash_bytes(data: &[u8]) -> Sha256Digest {
    let mut h = BlkHash::default();
    h.update(data);
    h.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    const BS: usize = BLOCK_SIZE;

    /// An input as blkhash's own tests write it: runs of one byte, `None` a hole.
    type Runs = Vec<(Option<u8>, usize)>;

    fn digest_of(extents: &[(Option<u8>, usize)], streams: usize) -> String {
        let mut h = BlkHash::new(BS, streams);
        for &(b, len) in extents {
            match b {
                Some(b) => h.update(&vec![b; len]),
                None => h.zero(len as u64),
            }
        }
        h.finish().to_string()
    }

    /// The plain construction, every block hashed (no zero shortcut), for comparison.
    fn naive(data: &[u8], bs: usize, streams: usize) -> String {
        let mut st: Vec<Sha256> = (0..streams).map(|_| Sha256::new()).collect();
        for (i, b) in data.chunks(bs).enumerate() {
            st[i % streams].update(Sha256::digest(b));
        }
        let mut root = Sha256::new();
        for s in st {
            root.update(s.finalize());
        }
        hex(&root.finalize())
    }

    fn hex(b: &[u8]) -> String {
        b.iter().map(|x| format!("{x:02x}")).collect()
    }

    const A: Option<u8> = Some(b'A');
    const Z: Option<u8> = Some(0);
    const HOLE: Option<u8> = None;

    /// The known answers of blkhash's test suite for sha256 and 64 KiB blocks: 64 streams
    /// (what imgseal uses) and 32 (older releases). Matching both shows the construction,
    /// the zero shortcuts and the partial-block rules are blkhash's.
    #[test]
    fn matches_blkhash_known_answers() {
        let half = BS / 2;
        let mix: Runs = vec![
            (A, half),
            (HOLE, half),
            (HOLE, half),
            (Z, half),
            (Some(b'E'), half),
            (HOLE, half),
            (HOLE, half),
            (Z, half),
        ];
        let full: Runs = b"ABCDEF".iter().map(|&c| (Some(c), half)).collect();
        let cases: Vec<(&str, Runs, &str, &str)> = vec![
            (
                "block data",
                vec![(A, BS)],
                "70eac04b8330211be9e1737b711e241fb3233a7d372ae9819f1aab6cf525a74b",
                "3fe9a19c59cc0320c1bb605e3cbf3ecd35a295a1f7a2b4e5ebc1efdd1f5ebb8c",
            ),
            (
                "block of zeros",
                vec![(Z, BS)],
                "63aa20dde75b6c4756c8e10760f60ce817247f6fa7d1077977e606cc47ae6e15",
                "62e22dfa9a68d2747441335d07929c1577a0a836a90cb9bddc016f1728ae0ae6",
            ),
            (
                "hole block",
                vec![(HOLE, BS)],
                "63aa20dde75b6c4756c8e10760f60ce817247f6fa7d1077977e606cc47ae6e15",
                "62e22dfa9a68d2747441335d07929c1577a0a836a90cb9bddc016f1728ae0ae6",
            ),
            (
                "partial block",
                vec![(A, half)],
                "5f83249849f938a21ddb2a3c2edd090bb152e1b7a4d667032c5e9ca42ef55385",
                "cd8d1ced5e8cb96831fc637e7c69a4ce940b04be401b30be7fabba4451c6e4c0",
            ),
            (
                "partial block of zeros",
                vec![(Z, half)],
                "1a305cd50790418c9fc0904a5677bedc0aa7cdcbae43a080dd71388b6feca68d",
                "eb6df5009bff0bd2f11a42fdfee2f24ab88b8e2c4d8cd3fac686ecbb06a91c60",
            ),
            (
                "partial hole",
                vec![(HOLE, half)],
                "1a305cd50790418c9fc0904a5677bedc0aa7cdcbae43a080dd71388b6feca68d",
                "eb6df5009bff0bd2f11a42fdfee2f24ab88b8e2c4d8cd3fac686ecbb06a91c60",
            ),
            (
                "sparse",
                vec![(HOLE, 8 * BS)],
                "20d599e6ed9c6ff44a78fef9af8d3c696a556cf535fcb0bba3ef6d519d7238e7",
                "ac5b87337b903179e34e03ddddaa2132a5ff0733922a2c697b322416529ab50b",
            ),
            (
                "sparse 1 GiB",
                vec![(HOLE, 1 << 30)],
                "114987e2287276ffdd3dab2426a630a84d060cf01cd7d8e9d1bfa7ddb78ba5ad",
                "cd8516de3da285cff382e4bd7528d148d8650691b5b78d77e0ebf8a6609c7aa0",
            ),
            (
                "sparse unaligned",
                vec![(HOLE, 8 * BS), (HOLE, half)],
                "310bf52aebda5c7c6b4a7725ee4fe528c369273bab1ed1f6a76f53f187bc0aec",
                "904281f5a6b3a2cddde0ef22fcd904a7210354b637365f6f6b21bb0b2ae230cb",
            ),
            (
                "zeros unaligned",
                vec![(Z, 8 * BS), (Z, half)],
                "310bf52aebda5c7c6b4a7725ee4fe528c369273bab1ed1f6a76f53f187bc0aec",
                "904281f5a6b3a2cddde0ef22fcd904a7210354b637365f6f6b21bb0b2ae230cb",
            ),
            (
                "full",
                full.clone(),
                "cafbb8ce5060e31d858ed85b09fe38ae71d79ad5a210d56957a5a384c5a6f34d",
                "51dce4f28453cb4087dd506441da279916b60f6875e51ca4df5d2184de69509b",
            ),
            (
                "full unaligned",
                full[..5].to_vec(),
                "5f7db317939052a697b1f56e15557e60fdd1b31e8b1363bda1d6913e862759cc",
                "35b8503c0575e3b81a7d5f7f03bb9e10a2baa0b86d871e26ae9d458ff1b5e656",
            ),
            (
                "mixed data, zeros and holes",
                mix.clone(),
                "a4b396c7f9ab5a902777418fb1ff3a485de459c6478a40a710ffa8eac3358517",
                "6a2f51e242d77a19e966b3ecad98c63dbe0bb2ff984c4ba70fb52c6ef9956897",
            ),
            (
                "mixed, ending in a partial hole",
                mix[..7].to_vec(),
                "1aaa8cefa00b5ba1f33a39e239e68d66b28eae90db66065a5137166ebaecdcca",
                "3dc7e5448806207aa096baccdec8d2c0a27986ebf31a4a7e96e9ec9ca334eb84",
            ),
        ];
        for (name, ext, want64, want32) in cases {
            assert_eq!(digest_of(&ext, 64), want64, "{name} (64 streams)");
            assert_eq!(digest_of(&ext, 32), want32, "{name} (32 streams)");
        }
    }

    #[test]
    fn zero_blocks_and_hashed_zeros_agree() {
        // Read zeros, a known-zero range and the zero-block shortcut give one value, at
        // every block alignment.
        for len in [0, 1, BS - 1, BS, BS + 1, 3 * BS, 64 * BS, 65 * BS + 7] {
            let zeros = vec![0u8; len];
            let mut a = BlkHash::default();
            a.update(&zeros);
            let mut b = BlkHash::default();
            b.zero(len as u64);
            let n = naive(&zeros, BS, STREAMS);
            assert_eq!(a.finish().to_string(), n, "read zeros, {len} B");
            assert_eq!(b.finish().to_string(), n, "known zeros, {len} B");
        }
        let mut c = BlkHash::default();
        c.add_zero_blocks(200);
        let mut d = BlkHash::default();
        for _ in 0..200 {
            d.add_block_digest(&zeros_digest(BS));
        }
        assert_eq!(c.finish(), d.finish());
    }

    #[test]
    fn zero_runs_land_in_the_right_streams() {
        // Zero runs starting and ending anywhere against the stream cycle.
        let mut data = vec![0u8; 150 * BS];
        for (i, b) in [3usize, 64, 65, 127, 149].iter().enumerate() {
            data[b * BS + i] = 1 + i as u8;
        }
        let want = naive(&data, BS, STREAMS);
        let mut h = BlkHash::default();
        let mut run = 0u64;
        for b in data.chunks(BS) {
            if is_zero(b) {
                run += 1;
            } else {
                h.add_zero_blocks(run);
                run = 0;
                h.add_block_digest(&Sha256::digest(b).into());
            }
        }
        h.add_zero_blocks(run);
        assert_eq!(h.finish().to_string(), want);
    }

    #[test]
    fn any_split_of_the_input_gives_one_value() {
        let data: Vec<u8> = (0..(3 * BS + 1000)).map(|i| (i * 7 % 251) as u8).collect();
        let want = naive(&data, BS, STREAMS);
        for step in [1000, BS - 1, BS, BS + 3, 2 * BS] {
            let mut h = BlkHash::default();
            for piece in data.chunks(step) {
                h.update(piece);
            }
            assert_eq!(h.finish().to_string(), want, "pieces of {step}");
        }
        assert_eq!(blkhash_bytes(&data).to_string(), want);
    }

    #[test]
    fn the_size_is_part_of_the_value() {
        let mut data = vec![0u8; 2 * BS];
        data[10] = 9;
        let base = blkhash_bytes(&data);
        // Grown by a whole zero block, by one zero byte, shrunk by a zero byte.
        let mut grown = data.clone();
        grown.resize(3 * BS, 0);
        assert_ne!(blkhash_bytes(&grown), base);
        let mut byte = data.clone();
        byte.push(0);
        assert_ne!(blkhash_bytes(&byte), base);
        assert_ne!(blkhash_bytes(&data[..2 * BS - 1]), base);
        // Empty and a lone zero byte differ too.
        assert_ne!(blkhash_bytes(&[]), blkhash_bytes(&[0]));
        // One bit in a data block.
        let mut flipped = data.clone();
        flipped[BS + 5] ^= 1;
        assert_ne!(blkhash_bytes(&flipped), base);
        // Not the plain SHA-256 of the bytes.
        assert_ne!(base, crate::digest::sha256_bytes(&data));
    }

    #[test]
    fn zero_detection() {
        assert!(is_zero(&[]));
        assert!(is_zero(&[0; 13]));
        assert!(is_zero(&vec![0; BS]));
        for at in [0, 7, 8, 4095, 4096, BS - 1] {
            let mut b = vec![0u8; BS];
            b[at] = 0x80;
            assert!(!is_zero(&b), "non-zero byte at {at}");
        }
        let mut odd = vec![0u8; 4101];
        odd[4100] = 1;
        assert!(!is_zero(&odd));
    }
}
