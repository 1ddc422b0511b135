//! On real archives made by scripts/make-initramfs-fixtures.sh (a missing fixture fails the
//! test, it never skips), and on hostile ones made here in memory.

use super::*;
use crate::guest::fs::MemFs;
use std::io::Write;
use std::path::PathBuf;

const REG: u32 = 0o100644;
const DIR: u32 = 0o040755;

fn fixture_dir() -> PathBuf {
    let base = std::env::var_os("IMGSEAL_FIXTURES")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/fixtures"));
    let d = base.join("initramfs");
    assert!(
        d.join(".stamp").exists(),
        "initramfs fixtures missing in {}: run scripts/make-test-images.sh (or \
         scripts/make-initramfs-fixtures.sh)",
        d.display()
    );
    d
}

fn fixture(name: &str) -> Vec<u8> {
    let p = fixture_dir().join(name);
    std::fs::read(&p).unwrap_or_else(|e| panic!("fixture {}: {e}", p.display()))
}

fn fixture_lines(name: &str) -> Vec<String> {
    String::from_utf8(fixture(name))
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect()
}

/// A newc archive of these entries (name, mode, content) and its trailer.
pub(crate) fn newc(entries: &[(&str, u32, &[u8])]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut all: Vec<(&str, u32, &[u8])> = entries.to_vec();
    all.push(("TRAILER!!!", 0, b""));
    for (i, (name, mode, data)) in all.iter().enumerate() {
        let namesize = name.len() + 1;
        let fields = [
            i as u32 + 1,
            *mode,
            0,
            0,
            1,
            0,
            data.len() as u32,
            0,
            0,
            0,
            0,
            namesize as u32,
            0,
        ];
        out.extend_from_slice(b"070701");
        for f in fields {
            out.extend_from_slice(format!("{f:08x}").as_bytes());
        }
        out.extend_from_slice(name.as_bytes());
        out.push(0);
        out.resize(out.len().div_ceil(4) * 4, 0);
        out.extend_from_slice(data);
        out.resize(out.len().div_ceil(4) * 4, 0);
    }
    out
}

pub(crate) fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

fn why(l: Listing) -> String {
    match l {
        Ok(l) => panic!("listed, expected a finding: {l:?}"),
        Err(Unlistable(why)) => why,
    }
}

fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v
}

#[test]
fn every_compression_the_kernel_reads_lists_the_same_real_modules() {
    let want = fixture_lines("tree.modules");
    assert_eq!(want.len(), 3, "{want:?}");
    let tree: u64 = fixture_lines("tree.entries")[0].parse().unwrap();
    // (fixture, segments, entries beyond the tree and its trailer)
    let cases: &[(&str, &[&str], u64)] = &[
        ("cpio.img", &["cpio"], 0),
        ("gzip.img", &["gzip"], 0),
        ("zstd.img", &["zstd"], 0),
        ("xz.img", &["xz"], 0),
        ("lzma.img", &["lzma"], 0),
        ("bzip2.img", &["bzip2"], 0),
        ("lz4.img", &["lz4"], 0),
        // Early microcode (4 entries and a trailer, zero-padded to 512 bytes) in front.
        ("early+zstd.img", &["cpio", "zstd"], 5),
        ("early+pad+gzip.img", &["cpio", "gzip"], 5),
        // Two compressed segments: the first one's end is found exactly.
        ("xz+gzip.img", &["xz", "gzip"], 5),
    ];
    for (name, segments, extra) in cases {
        let l = list_bytes(&fixture(name), &LIMITS).unwrap_or_else(|e| panic!("{name}: {e:?}"));
        assert_eq!(sorted(l.modules.clone()), want, "{name}");
        assert_eq!(&l.segments, segments, "{name}");
        assert_eq!(l.entries, tree + 1 + extra, "{name}");
        for m in ["virtio_blk", "virtio_net", "virtio_scsi"] {
            assert!(l.has_module(m), "{name}: {m}");
        }
        // The host kernel's real modules.builtin came along.
        assert!(l.builtin.len() > 20, "{name}: {:?}", l.builtin);
        assert!(!l.has_module("no_such_module"), "{name}");
    }
}

#[test]
fn a_real_mkinitramfs_archive_lists_what_lsinitramfs_lists() {
    let l = list_bytes(&fixture("mkinitramfs.img"), &LIMITS).unwrap();
    assert_eq!(
        sorted(l.modules.clone()),
        fixture_lines("mkinitramfs.modules")
    );
    assert_eq!(l.segments.last(), Some(&"zstd"));
    for m in ["virtio_blk", "virtio_net", "virtio_scsi", "dm_mod"] {
        assert!(l.has_module(m), "{m}");
    }
    assert!(l.unpacked > l.modules.len() as u64 * 1000);
}

#[test]
fn a_real_archive_without_the_other_drivers_says_so() {
    let l = list_bytes(&fixture("partial.gz.img"), &LIMITS).unwrap();
    assert!(l.has_module("virtio_blk"));
    assert!(!l.has_module("virtio_net") && !l.has_module("virtio_scsi"));
}

#[test]
fn hostile_real_archives_are_findings() {
    let cases = [
        ("truncated-zstd.img", "truncated"),
        ("truncated-cpio.img", "truncated"),
        ("bomb.zst.img", "decompression bomb"),
        ("nested.img", "junk inside the compressed data"),
        ("junk.img", "unknown data at offset"),
        (
            "dotdot.img",
            "\"../../evil\" climbs out of the archive with '..'",
        ),
    ];
    for (name, want) in cases {
        let w = why(list_bytes(&fixture(name), &LIMITS));
        assert!(w.contains(want), "{name}: {w}");
    }
}

#[test]
fn the_guest_file_is_read_in_pieces_and_listed_once_per_identity() {
    let big = fixture("mkinitramfs.img");
    let fs = MemFs::new()
        .bytes("/boot/initrd.img-6.1", &big)
        .link("/initrd.img", "boot/initrd.img-6.1");
    let l = list_guest(&fs, "/initrd.img").unwrap();
    assert!(l.as_ref().as_ref().unwrap().has_module("virtio_blk"));
    let pieces = fs.reads_at.get();
    assert_eq!(pieces, big.len().div_ceil(CHUNK), "1 MiB pieces");
    // Unchanged: the memo answers, nothing is read.
    let again = list_guest(&fs, "/initrd.img").unwrap();
    assert!(Rc::ptr_eq(&l, &again));
    assert_eq!(fs.reads_at.get(), pieces);
    // Rebuilt (a new identity): read again, and the new content counts.
    fs.write("/boot/initrd.img-6.1", &fixture("partial.gz.img"))
        .unwrap();
    let l = list_guest(&fs, "/initrd.img").unwrap();
    assert!(fs.reads_at.get() > pieces);
    let l = l.as_ref().as_ref().unwrap();
    assert!(l.has_module("virtio_blk") && !l.has_module("virtio_net"));
    // A finding is remembered too.
    let fs = MemFs::new().bytes("/boot/x", &fixture("junk.img"));
    assert!(list_guest(&fs, "/boot/x").unwrap().is_err());
    let n = fs.reads_at.get();
    assert!(list_guest(&fs, "/boot/x").unwrap().is_err());
    assert_eq!(fs.reads_at.get(), n);
}

#[test]
fn what_is_not_a_regular_file_or_too_big_is_not_read() {
    let fs = MemFs::new().dir("/boot/d").bytes("/boot/big", b"0707");
    let w = why((*list_guest(&fs, "/boot/d").unwrap()).clone());
    assert!(w.contains("not a regular file"), "{w}");
    assert!(list_guest(&fs, "/boot/none").unwrap().is_err());
    let small = Limits { file: 3, ..LIMITS };
    let w = why(list_guest_file(&fs, "/boot/big", 4, &small).unwrap());
    assert!(w.contains("more than the 0 MiB"), "{w}");
    assert_eq!(fs.reads_at.get(), 0);
}

#[test]
fn a_gzip_bomb_stops_at_the_limit() {
    // 64 MiB of zeros inside one entry, against a 16 MiB limit.
    let zeros = vec![0u8; 64 << 20];
    let bomb = gzip(&newc(&[("zeros", REG, &zeros)]));
    assert!(bomb.len() < 1 << 20);
    let limits = Limits {
        unpacked: 16 << 20,
        ..LIMITS
    };
    let w = why(list_bytes(&bomb, &limits));
    assert!(w.contains("more than 16 MiB"), "{w}");
    assert!(w.starts_with("gzip segment at offset 0:"), "{w}");
    // Within the limit it is just a big file.
    let l = list_bytes(&bomb, &LIMITS).unwrap();
    assert_eq!((l.entries, l.unpacked > 64 << 20), (2, true));
}

#[test]
fn entries_segments_and_names_are_bounded() {
    let names: Vec<String> = (0..1000).map(|i| format!("f{i}")).collect();
    let many: Vec<(&str, u32, &[u8])> = names.iter().map(|n| (n.as_str(), REG, &b""[..])).collect();
    let few = Limits {
        entries: 100,
        ..LIMITS
    };
    assert!(why(list_bytes(&newc(&many), &few)).contains("more than 100 entries"));
    // Many compressed segments, each a small archive (or a chain of nested-looking ones).
    let one = gzip(&newc(&[("a", REG, b"x")]));
    let chain: Vec<u8> = one.iter().copied().cycle().take(one.len() * 20).collect();
    let l = list_bytes(&chain, &LIMITS).unwrap();
    assert_eq!(l.segments.len(), 20);
    let seg = Limits {
        segments: 10,
        ..LIMITS
    };
    assert!(why(list_bytes(&chain, &seg)).contains("more than 10 segments"));
    // A name longer than the kernel's PATH_MAX.
    let long = "n".repeat(5000);
    let w = why(list_bytes(&newc(&[(&long, REG, b"")]), &LIMITS));
    assert!(w.contains("name of 5001 bytes"), "{w}");
}

#[test]
fn names_are_cleaned_and_judged_as_data() {
    let a = newc(&[
        ("./usr", DIR, b""),
        ("./usr/lib/modules/6/kernel/virtio-blk.ko", REG, b"ELF"),
        ("/lib/modules/6/virtio_net.ko.gz", REG, b"ELF"),
        // A directory named like a module, a module name with nothing before the suffix.
        ("lib/modules/6/fake.ko", DIR, b""),
        ("lib/.ko", REG, b""),
        (
            "lib/modules/6/modules.builtin",
            REG,
            b"kernel/drivers/scsi/virtio_scsi.ko\n",
        ),
    ]);
    let l = list_bytes(&a, &LIMITS).unwrap();
    assert_eq!(
        l.modules,
        vec![
            "usr/lib/modules/6/kernel/virtio-blk.ko",
            "lib/modules/6/virtio_net.ko.gz"
        ]
    );
    assert_eq!(l.builtin, vec!["virtio_scsi"]);
    // `-` and `_` alike, as the kernel has them.
    assert!(l.has_module("virtio_blk") && l.has_module("virtio-scsi"));
    for bad in ["../etc/passwd", "usr/../../x", ".."] {
        let w = why(list_bytes(&newc(&[(bad, REG, b"")]), &LIMITS));
        assert!(w.contains("climbs out"), "{bad}: {w}");
    }
    // A dot-dot inside a component is just a name.
    assert!(list_bytes(&newc(&[("a..b", REG, b"")]), &LIMITS).is_ok());
}

#[test]
fn broken_framing_is_a_finding() {
    let good = newc(&[("a", REG, b"hello")]);
    // The crc variant of newc is read too.
    let mut crc = good.clone();
    crc[5] = b'2';
    assert!(list_bytes(&crc, &LIMITS).is_ok());
    let mut odc = good.clone();
    odc[5] = b'7';
    assert!(why(list_bytes(&odc, &LIMITS)).contains("odc"));
    let mut hex = good.clone();
    hex[10] = b'z';
    assert!(why(list_bytes(&hex, &LIMITS)).contains("not hexadecimal"));
    // An archive that starts off the 4-byte grid.
    let mut off = vec![0u8; 2];
    off.extend_from_slice(&good);
    assert!(why(list_bytes(&off, &LIMITS)).contains("unaligned"));
    assert!(why(list_bytes(b"", &LIMITS)).contains("no cpio entries"));
    assert!(why(list_bytes(&[0u8; 4096], &LIMITS)).contains("no cpio entries"));
    let w = why(list_bytes(b"\x89LZO\x00\x0d\x0a\x1a\x0a", &LIMITS));
    assert!(w.contains("LZO"), "{w}");
    // Cut in the compressed data, and compressed data cut inside an entry.
    let z = gzip(&good);
    assert!(why(list_bytes(&z[..z.len() - 6], &LIMITS)).contains("truncated or corrupt"));
    let cut = gzip(&good[..good.len() - 130]);
    assert!(why(list_bytes(&cut, &LIMITS)).contains("ends inside entry"));
}
