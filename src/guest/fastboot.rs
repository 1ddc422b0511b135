//! A fast-booting copy of libguestfs's appliance, for launches under software emulation.
//!
//! Under TCG the stock appliance spends ~3 s of its ~10 s launch before the kernel prints
//! its first line: the kernel's boot stub decompresses the XZ-compressed kernel one emulated
//! instruction at a time. qemu can start an uncompressed kernel directly at its PVH entry
//! point (`-kernel vmlinux`), so imgseal keeps, next to libguestfs's own appliance, a
//! "fixed appliance" (libguestfs's documented layout: `kernel`, `initrd`, `root`,
//! `README.fixed`) whose kernel is the same kernel, decompressed once on the host, and whose
//! initrd and root are hard links to the files supermin built. It is used for TCG launches
//! only (under KVM decompression is quick); a launch that fails with it is retried with the
//! stock appliance, saying so, and the copy is dropped.
//!
//! The copy is named after the stock appliance it was made from (device, inode and size of
//! its three files, and the libguestfs version), so a rebuilt appliance gets a new copy.
//! While the host's package database is newer than the stock appliance (supermin would
//! rebuild it), the stock appliance is launched instead: that launch refreshes it, and the
//! copy is made afterwards. `IMGSEAL_STOCK_APPLIANCE=1` turns all of this off.

use crate::cmd::Cmd;
use crate::ffi::guestfs::Handle;
use anyhow::{Context, Result, bail};
use sha2::Digest as _;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

const PREFIX: &str = "imgseal-fastboot-";
const FILES: [&str; 3] = ["kernel", "initrd", "root"];

/// Whether the fast-boot appliance may be used at all.
pub fn enabled() -> bool {
    std::env::var_os("IMGSEAL_STOCK_APPLIANCE").is_none_or(|v| v.is_empty() || v == "0")
}

/// libguestfs's per-user cache directory (`$cachedir/.guestfs-$UID`).
fn cache_dir(h: &Handle) -> Result<PathBuf> {
    let base = h.get_cachedir()?;
    Ok(Path::new(&base).join(format!(".guestfs-{}", crate::ffi::os::geteuid())))
}

/// The name of the copy made from the stock appliance as it is now, and when the oldest
/// of its files was written; None when there is no stock appliance yet.
fn fingerprint(stock: &Path, libguestfs: &str) -> Option<(String, SystemTime)> {
    let mut hash = sha2::Sha256::new();
    hash.update(libguestfs.as_bytes());
    let mut oldest: Option<SystemTime> = None;
    for f in FILES {
        let m = std::fs::metadata(stock.join(f)).ok()?;
        let mtime = m.modified().ok()?;
        oldest = Some(oldest.map_or(mtime, |o| o.min(mtime)));
        // Not the mtime: supermin touches its files at every check. A rebuild writes new
        // files (new inodes: the copy's hard links keep the old ones allocated).
        hash.update(format!("{f}:{}:{}:{};", m.dev(), m.ino(), m.size()).as_bytes());
    }
    let d = hash.finalize();
    let hex: String = d[..8].iter().map(|b| format!("{b:02x}")).collect();
    Some((format!("{PREFIX}{hex}"), oldest?))
}

/// supermin rebuilds its appliance when the package database is newer than it: until a
/// stock launch has done that, the copy would be of an outdated appliance.
fn outdated(built: SystemTime, package_db: Option<SystemTime>) -> bool {
    package_db.is_some_and(|db| db > built)
}

fn package_db_mtime() -> Option<SystemTime> {
    [
        "/var/lib/dpkg/status",
        "/var/lib/rpm/rpmdb.sqlite",
        "/var/lib/rpm/Packages",
    ]
    .iter()
    .filter_map(|p| std::fs::metadata(p).ok()?.modified().ok())
    .max()
}

fn wanted_name(stock: &Path, libguestfs: &str) -> Option<String> {
    let (name, built) = fingerprint(stock, libguestfs)?;
    (!outdated(built, package_db_mtime())).then_some(name)
}

/// The fast-boot appliance for the current stock appliance, made now if needed. None when
/// there is nothing to make it from yet (the stock launch will build that).
pub fn ensure(h: &Handle) -> Result<Option<PathBuf>> {
    let cache = cache_dir(h)?;
    let stock = cache.join("appliance.d");
    let version = h.version().map(|v| v.to_string()).unwrap_or_default();
    let Some(name) = wanted_name(&stock, &version) else {
        return Ok(None);
    };
    let dir = cache.join(&name);
    // Made already, or tried and failed for this stock appliance.
    let settled = |dir: &PathBuf| {
        if dir.join("README.fixed").exists() {
            Some(Some(dir.clone()))
        } else if dir.join("FAILED").exists() {
            Some(None)
        } else {
            None
        }
    };
    if let Some(d) = settled(&dir) {
        return Ok(d);
    }
    // One maker at a time (batch workers launch together).
    let lock = std::fs::File::create(cache.join("imgseal-fastboot.lock"))
        .with_context(|| format!("creating a lock file in {}", cache.display()))?;
    lock.lock()?;
    if let Some(d) = settled(&dir) {
        return Ok(d);
    }
    // Older copies (and leftovers of an interrupted make) hold links to old roots.
    for e in std::fs::read_dir(&cache)?.flatten() {
        let n = e.file_name().to_string_lossy().into_owned();
        if n.starts_with(PREFIX) && n != name {
            let _ = std::fs::remove_dir_all(e.path());
        }
    }
    let tmp = cache.join(format!("{name}.tmp"));
    let _ = std::fs::remove_dir_all(&tmp);
    let made = make(&stock, &tmp).and_then(|()| {
        std::fs::rename(&tmp, &dir).with_context(|| format!("renaming {}", tmp.display()))
    });
    if let Err(e) = made {
        let _ = std::fs::remove_dir_all(&tmp);
        // An interrupted make is tried again next time; any other failure is remembered.
        crate::signals::check()?;
        mark_failed(&dir, &format!("{e:#}"));
        return Err(e);
    }
    Ok(Some(dir))
}

/// Remembers that this stock appliance cannot be booted fast (its copy is removed), so
/// later launches do not try again until libguestfs rebuilds its appliance.
pub fn mark_failed(dir: &Path, reason: &str) {
    let _ = std::fs::remove_dir_all(dir);
    if std::fs::create_dir_all(dir).is_ok() {
        let _ = std::fs::write(dir.join("FAILED"), format!("{reason}\n"));
    }
}

/// Builds the fixed appliance in `out` from the stock one.
fn make(stock: &Path, out: &Path) -> Result<()> {
    std::fs::create_dir_all(out)?;
    let kernel = std::fs::read(stock.join("kernel")).context("reading the appliance kernel")?;
    let vmlinux = decompress_kernel(&kernel, out)?;
    if !has_pvh_entry(&vmlinux) {
        bail!("the appliance kernel has no PVH entry point; qemu cannot start it uncompressed");
    }
    std::fs::write(out.join("kernel"), &vmlinux)?;
    for f in ["initrd", "root"] {
        // Hard links: supermin replaces its files when it rebuilds, these stay as they were.
        std::fs::hard_link(stock.join(f), out.join(f))
            .with_context(|| format!("linking the appliance {f}"))?;
    }
    std::fs::write(
        out.join("README.fixed"),
        "A fixed libguestfs appliance made by imgseal: libguestfs's supermin appliance with\n\
         its kernel decompressed, so that qemu boots it through the PVH entry point without\n\
         running the decompressor under software emulation. Safe to delete.\n",
    )?;
    Ok(())
}

/// The decompressors of a bzImage payload, by magic number, and the host tool for each.
const CODECS: &[(&[u8], &str)] = &[
    (b"\xfd7zXZ\x00", "xz"),
    (b"\x1f\x8b", "gzip"),
    (b"\x28\xb5\x2f\xfd", "zstd"),
    (b"\x02\x21\x4c\x18", "lz4"),
    (b"BZh", "bzip2"),
];

/// The compressed kernel inside a bzImage: (payload without its trailing size, the tool
/// that decompresses it, the decompressed size the build recorded).
pub fn bzimage_payload(b: &[u8]) -> Result<(&[u8], &'static str, u32)> {
    let u32_at = |o: usize| {
        b.get(o..o + 4)
            .map(|s| u32::from_le_bytes(s.try_into().unwrap()))
    };
    if b.get(0x202..0x206) != Some(b"HdrS") {
        bail!("not a bzImage (no HdrS setup header)");
    }
    let setup_sects = match b.get(0x1f1) {
        Some(0) | None => 4,
        Some(n) => *n as usize,
    };
    let (Some(off), Some(len)) = (u32_at(0x248), u32_at(0x24c)) else {
        bail!("bzImage header too short");
    };
    let start = (setup_sects + 1) * 512 + off as usize;
    let Some(payload) = b.get(start..start + len as usize) else {
        bail!("bzImage payload lies outside the file");
    };
    if payload.len() < 8 {
        bail!("bzImage payload too short");
    }
    // The kernel build appends the decompressed size (32-bit little endian).
    let (data, size) = payload.split_at(payload.len() - 4);
    let size = u32::from_le_bytes(size.try_into().unwrap());
    let Some((_, tool)) = CODECS.iter().find(|(m, _)| data.starts_with(m)) else {
        bail!("unknown bzImage payload compression");
    };
    Ok((data, tool, size))
}

/// The uncompressed kernel (an ELF file) of a bzImage, through the host's decompressor.
fn decompress_kernel(bz: &[u8], work: &Path) -> Result<Vec<u8>> {
    let (data, tool, size) = bzimage_payload(bz)?;
    let packed = work.join("payload");
    std::fs::write(&packed, data)?;
    let out = Cmd::new(tool)
        .args(["-d", "-c"])
        .arg(&packed)
        .output()
        .with_context(|| format!("decompressing the appliance kernel with {tool}"));
    let _ = std::fs::remove_file(&packed);
    let out = out?.stdout;
    if out.len() != size as usize {
        bail!(
            "the decompressed kernel has {} bytes, its header says {size}",
            out.len()
        );
    }
    Ok(out)
}

/// Whether an ELF kernel carries a Xen PVH entry point note (`XEN_ELFNOTE_PHYS32_ENTRY`),
/// which is what qemu's `-kernel` needs to start an uncompressed x86 kernel.
pub fn has_pvh_entry(elf: &[u8]) -> bool {
    const PT_NOTE: u32 = 4;
    const XEN_ELFNOTE_PHYS32_ENTRY: u32 = 18;
    if elf.len() < 64 || &elf[..4] != b"\x7fELF" || elf[4] != 2 || elf[5] != 1 {
        return false; // only 64-bit little-endian kernels
    }
    let u16_at = |o: usize| elf.get(o..o + 2).map(|s| u16::from_le_bytes([s[0], s[1]]));
    let u32_at = |o: usize| {
        elf.get(o..o + 4)
            .map(|s| u32::from_le_bytes(s.try_into().unwrap()))
    };
    let u64_at = |o: usize| {
        elf.get(o..o + 8)
            .map(|s| u64::from_le_bytes(s.try_into().unwrap()))
    };
    let (Some(phoff), Some(phentsize), Some(phnum)) = (u64_at(0x20), u16_at(0x36), u16_at(0x38))
    else {
        return false;
    };
    // Offsets come from the file: every sum is checked, nothing is followed out of bounds.
    let at = |base: u64, plus: u64| usize::try_from(base.checked_add(plus)?).ok();
    for i in 0..phnum as u64 {
        let Some(ph) = (i * phentsize as u64)
            .checked_add(phoff)
            .and_then(|p| at(p, 0))
        else {
            break;
        };
        if u32_at(ph) != Some(PT_NOTE) {
            continue;
        }
        let (Some(off), Some(size)) = (u64_at(ph + 8), u64_at(ph + 32)) else {
            continue;
        };
        let (Some(mut p), Some(end)) = (at(off, 0), at(off, size)) else {
            continue;
        };
        let end = end.min(elf.len());
        while p.saturating_add(12) <= end {
            let (Some(namesz), Some(descsz), Some(kind)) =
                (u32_at(p), u32_at(p + 4), u32_at(p + 8))
            else {
                break;
            };
            let name = elf
                .get(p + 12..)
                .and_then(|r| r.get(..namesz as usize))
                .unwrap_or(&[]);
            if kind == XEN_ELFNOTE_PHYS32_ENTRY && name.starts_with(b"Xen") {
                return true;
            }
            let align = |n: u32| (n as usize).div_ceil(4) * 4;
            p = p.saturating_add(12 + align(namesz) + align(descsz));
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A minimal ELF64 with one PT_NOTE segment holding the given notes.
    fn elf_with_notes(notes: &[(&[u8], u32)]) -> Vec<u8> {
        let mut note = Vec::new();
        for (name, kind) in notes {
            let mut n = name.to_vec();
            n.push(0);
            note.extend((n.len() as u32).to_le_bytes());
            note.extend(4u32.to_le_bytes());
            note.extend(kind.to_le_bytes());
            note.extend(&n);
            note.resize(note.len().div_ceil(4) * 4, 0);
            note.extend(0x0100_0000u32.to_le_bytes());
        }
        let mut e = vec![0u8; 64 + 56];
        e[..4].copy_from_slice(b"\x7fELF");
        e[4] = 2;
        e[5] = 1;
        e[0x20..0x28].copy_from_slice(&64u64.to_le_bytes()); // phoff
        e[0x36..0x38].copy_from_slice(&56u16.to_le_bytes()); // phentsize
        e[0x38..0x3a].copy_from_slice(&1u16.to_le_bytes()); // phnum
        e[64..68].copy_from_slice(&4u32.to_le_bytes()); // PT_NOTE
        e[72..80].copy_from_slice(&120u64.to_le_bytes()); // p_offset
        e[96..104].copy_from_slice(&(note.len() as u64).to_le_bytes()); // p_filesz
        e.extend(note);
        e
    }

    #[test]
    fn pvh_entry_note_is_found_among_other_notes() {
        assert!(has_pvh_entry(&elf_with_notes(&[(b"GNU", 3), (b"Xen", 18)])));
        assert!(!has_pvh_entry(&elf_with_notes(&[(b"GNU", 3), (b"Xen", 6)])));
        assert!(!has_pvh_entry(&elf_with_notes(&[(b"Linux", 18)])));
        assert!(!has_pvh_entry(b"\x7fELF\x01\x01"));
        // Offsets pointing past the end are not followed.
        let mut bad = elf_with_notes(&[(b"Xen", 18)]);
        bad[72..80].copy_from_slice(&u64::MAX.to_le_bytes());
        assert!(!has_pvh_entry(&bad));
    }

    /// A bzImage-shaped file: setup header, then a payload at payload_offset.
    fn bzimage(payload: &[u8], decompressed: u32) -> Vec<u8> {
        let setup_sects = 2u8;
        let mut b = vec![0u8; (setup_sects as usize + 1) * 512];
        b[0x1f1] = setup_sects;
        b[0x202..0x206].copy_from_slice(b"HdrS");
        let off = 100u32;
        let mut full = payload.to_vec();
        full.extend(decompressed.to_le_bytes());
        b[0x248..0x24c].copy_from_slice(&off.to_le_bytes());
        b[0x24c..0x250].copy_from_slice(&(full.len() as u32).to_le_bytes());
        b.resize(b.len() + off as usize, 0x90);
        b.extend(full);
        b.extend(b"trailing setup data");
        b
    }

    #[test]
    fn bzimage_payload_is_found_by_header_and_magic() {
        let xz = b"\xfd7zXZ\x00rest-of-stream";
        let img = bzimage(xz, 4242);
        let (data, tool, size) = bzimage_payload(&img).unwrap();
        assert_eq!((data, tool, size), (&xz[..], "xz", 4242));
        let img = bzimage(b"\x28\xb5\x2f\xfdzstd-frame", 7);
        assert_eq!(bzimage_payload(&img).unwrap().1, "zstd");
        assert!(bzimage_payload(&bzimage(b"no known magic", 1)).is_err());
        assert!(bzimage_payload(b"MZ not a kernel").is_err());
        let mut cut = bzimage(xz, 1);
        cut.truncate(1000);
        assert!(bzimage_payload(&cut).is_err());
    }

    #[test]
    fn a_real_xz_payload_decompresses_to_its_recorded_size() {
        let dir = tempfile::tempdir().unwrap();
        let plain: Vec<u8> = (0..200_000u32)
            .flat_map(|i| (i % 251).to_le_bytes())
            .collect();
        let src = dir.path().join("plain");
        std::fs::write(&src, &plain).unwrap();
        let xz = Cmd::new("xz")
            .args(["-c", "--check=crc32"])
            .arg(&src)
            .output()
            .unwrap()
            .stdout;
        let out = decompress_kernel(&bzimage(&xz, plain.len() as u32), dir.path()).unwrap();
        assert_eq!(out, plain);
        // A recorded size that does not match is refused.
        let e = decompress_kernel(&bzimage(&xz, 5), dir.path()).unwrap_err();
        assert!(format!("{e:#}").contains("header says 5"), "{e:#}");
        // The payload file is not left behind.
        assert!(!dir.path().join("payload").exists());
    }

    #[test]
    fn the_copy_is_named_after_the_stock_appliance() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(
            fingerprint(dir.path(), "1.48.6"),
            None,
            "no stock appliance yet"
        );
        for f in FILES {
            std::fs::write(dir.path().join(f), f).unwrap();
        }
        let (a, _) = fingerprint(dir.path(), "1.48.6").unwrap();
        assert!(a.starts_with(PREFIX));
        assert_eq!(fingerprint(dir.path(), "1.48.6").unwrap().0, a, "stable");
        assert_ne!(
            fingerprint(dir.path(), "1.50.0").unwrap().0,
            a,
            "libguestfs version"
        );
        // supermin touches its files at every check: still the same appliance.
        let f = std::fs::File::options()
            .write(true)
            .open(dir.path().join("root"))
            .unwrap();
        f.set_modified(SystemTime::now() + std::time::Duration::from_secs(5))
            .unwrap();
        assert_eq!(fingerprint(dir.path(), "1.48.6").unwrap().0, a, "touched");
        // A rebuild renames new files into place: new inodes, a new appliance.
        std::fs::write(dir.path().join("initrd.new"), "initrd").unwrap();
        std::fs::rename(dir.path().join("initrd.new"), dir.path().join("initrd")).unwrap();
        assert_ne!(
            fingerprint(dir.path(), "1.48.6").unwrap().0,
            a,
            "rebuilt appliance"
        );
    }

    #[test]
    fn a_package_database_newer_than_the_appliance_makes_it_outdated() {
        let t = SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_800_000_000);
        let later = t + std::time::Duration::from_secs(1);
        assert!(outdated(t, Some(later)));
        assert!(!outdated(later, Some(t)));
        assert!(!outdated(t, None));
    }
}
