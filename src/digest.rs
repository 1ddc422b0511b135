//! SHA-256 digests: a type that parses and prints back identically, and hashing while the
//! bytes stream (sha2 picks its SHA-NI/AVX2 code path at run time).

use anyhow::{Context, Result, bail};
use sha2::{Digest, Sha256};
use std::fmt;
use std::io::Read;
use std::path::Path;
use std::str::FromStr;

#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Sha256Digest(pub [u8; 32]);

impl fmt::Display for Sha256Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for b in self.0 {
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for Sha256Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "sha256:{self}")
    }
}

impl FromStr for Sha256Digest {
    type Err = anyhow::Error;
    /// 64 hex digits, either case (printed back in lower case).
    fn from_str(s: &str) -> Result<Self> {
        let s = s.trim();
        if s.len() != 64 || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
            bail!("not a SHA-256 digest (64 hex digits): {s:?}");
        }
        let mut out = [0u8; 32];
        for (i, o) in out.iter_mut().enumerate() {
            *o = u8::from_str_radix(&s[2 * i..2 * i + 2], 16)?;
        }
        Ok(Sha256Digest(out))
    }
}

impl serde::Serialize for Sha256Digest {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}

impl<'de> serde::Deserialize<'de> for Sha256Digest {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// The buffer size for streaming hashes: large enough that syscalls do not dominate.
pub const BUF: usize = 4 << 20;

/// Hashes a reader to its end; `progress` gets the running byte count.
pub fn sha256_reader(mut r: impl Read, mut progress: impl FnMut(u64)) -> Result<Sha256Digest> {
    let mut h = Sha256::new();
    let mut buf = vec![0u8; BUF];
    let mut total = 0u64;
    loop {
        let n = match r.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e.into()),
        };
        h.update(&buf[..n]);
        total += n as u64;
        progress(total);
    }
    Ok(Sha256Digest(h.finalize().into()))
}

pub fn sha256_file(p: &Path) -> Result<Sha256Digest> {
    let f = std::fs::File::open(p).with_context(|| format!("opening {}", p.display()))?;
    sha256_reader(f, |_| {}).with_context(|| format!("hashing {}", p.display()))
}

pub fn sha256_bytes(b: &[u8]) -> Sha256Digest {
    Sha256Digest(Sha256::digest(b).into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_answer() {
        assert_eq!(
            sha256_bytes(b"abc").to_string(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        let d = sha256_reader(&b"abc"[..], |_| {}).unwrap();
        assert_eq!(d, sha256_bytes(b"abc"));
    }

    #[test]
    fn parses_and_prints_back() {
        let s = "BA7816BF8F01CFEA414140DE5DAE2223B00361A396177A9CB410FF61F20015AD";
        let d: Sha256Digest = s.parse().unwrap();
        assert_eq!(d.to_string(), s.to_lowercase());
        assert_eq!(d.to_string().parse::<Sha256Digest>().unwrap(), d);
        assert!("xyz".parse::<Sha256Digest>().is_err());
        assert!("g".repeat(64).parse::<Sha256Digest>().is_err());
        let j = serde_json::to_string(&d).unwrap();
        assert_eq!(serde_json::from_str::<Sha256Digest>(&j).unwrap(), d);
    }

    #[test]
    fn progress_reports_bytes() {
        let data = vec![7u8; BUF + 10];
        let mut last = 0;
        sha256_reader(&data[..], |n| last = n).unwrap();
        assert_eq!(last, data.len() as u64);
    }
}
