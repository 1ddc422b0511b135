//! Gives `imgseal --version` a fingerprint of the source it was built from, so an installed
//! binary can be told apart from a stale one (the installed-tool test compares the two).

use std::fs;
use std::path::{Path, PathBuf};

/// FNV-1a, 64 bits: enough to tell two source trees apart, no dependency needed.
fn fnv(h: &mut u64, bytes: &[u8]) {
    for b in bytes {
        *h ^= u64::from(*b);
        *h = h.wrapping_mul(0x0100_0000_01b3);
    }
}

fn files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(rd) = fs::read_dir(dir) else { return };
    for e in rd.flatten() {
        let p = e.path();
        if p.is_dir() {
            files(&p, out);
        } else {
            out.push(p);
        }
    }
}

fn main() {
    let root = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap());
    let mut list = vec![];
    files(&root.join("src"), &mut list);
    for f in ["Cargo.toml", "Cargo.lock", "build.rs"] {
        list.push(root.join(f));
    }
    list.sort();
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for p in &list {
        let rel = p.strip_prefix(&root).unwrap_or(p);
        fnv(&mut h, rel.to_string_lossy().as_bytes());
        fnv(&mut h, &[0]);
        fnv(&mut h, &fs::read(p).unwrap_or_default());
        fnv(&mut h, &[0]);
    }
    println!(
        "cargo:rustc-env=IMGSEAL_VERSION={} (source {:016x})",
        std::env::var("CARGO_PKG_VERSION").unwrap(),
        h
    );
    for f in ["src", "Cargo.toml", "Cargo.lock", "build.rs"] {
        println!("cargo:rerun-if-changed={f}");
    }
}
