//! SHA-256 digests: a type that parses and prints back identically, and hashing while the
//! bytes stream (sha2 picks its SHA-NI/AVX2 code path at run time). A content digest names
//! its algorithm: the block-based `blkhash-sha256` (see `crate::blkhash`) or the plain
//! SHA-256 of every guest-visible byte.

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

/// How a disk's guest-visible bytes are digested (a contract: the names are in manifests).
#[derive(
    Debug,
    Clone,
    Copy,
    Default,
    PartialEq,
    Eq,
    serde::Serialize,
    serde::Deserialize,
    clap::ValueEnum,
)]
pub enum Algorithm {
    /// blkhash's block-based SHA-256 (64 KiB blocks, 64 streams): holes and zero blocks cost
    /// next to nothing, blocks are hashed on every core.
    #[default]
    #[serde(rename = "blkhash-sha256")]
    #[value(name = "blkhash-sha256")]
    BlkhashSha256,
    /// SHA-256 of every byte, as `qemu-img convert -O raw` + `sha256sum` computes it.
    #[serde(rename = "sha256")]
    #[value(name = "sha256")]
    Sha256,
}

impl Algorithm {
    pub fn name(self) -> &'static str {
        match self {
            Algorithm::BlkhashSha256 => "blkhash-sha256",
            Algorithm::Sha256 => "sha256",
        }
    }
}

impl fmt::Display for Algorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A content digest and the algorithm that made it. Printed `ALGORITHM:HEX`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ContentDigest {
    pub algorithm: Algorithm,
    pub value: Sha256Digest,
}

impl fmt::Display for ContentDigest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.algorithm, self.value)
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
    fn content_digests_name_their_algorithm() {
        let d = ContentDigest {
            algorithm: Algorithm::default(),
            value: sha256_bytes(b"abc"),
        };
        assert_eq!(d.algorithm, Algorithm::BlkhashSha256);
        assert_eq!(
            d.to_string(),
            "blkhash-sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        let j = serde_json::to_value(d).unwrap();
        assert_eq!(j["algorithm"], "blkhash-sha256");
        assert_eq!(j["value"], d.value.to_string());
        let plain: ContentDigest = serde_json::from_str(
            r#"{"algorithm":"sha256","value":"ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"}"#,
        )
        .unwrap();
        assert_eq!(plain.algorithm, Algorithm::Sha256);
        assert!(
            serde_json::from_str::<ContentDigest>(r#"{"algorithm":"md5","value":"00"}"#).is_err()
        );
    }

    #[test]
    fn progress_reports_bytes() {
        let data = vec![7u8; BUF + 10];
        let mut last = 0;
        sha256_reader(&data[..], |n| last = n).unwrap();
        assert_eq!(last, data.len() as u64);
    }
}
