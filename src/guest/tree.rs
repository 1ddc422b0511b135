//! The tree digest: one SHA-256 over what the guest's files are — every path with its type,
//! permission bits, owner, size, link target, the extended attributes that change what a
//! file may do (`security.selinux`, `security.capability`) and its content's SHA-256 — and
//! nothing about when or where on the disk they were written (no times, no inode numbers,
//! no directory sizes, no block layout). Two conversions that did the same thing to the same
//! input have the same tree digest even when their disks differ in timestamps, inode
//! generations or the journal; an auditor can recompute it from the text below.
//!
//! The serialization (`imgseal-tree-v1`, what [`digest`] hashes) is the line
//! `imgseal-tree-v1` followed by one line per entry, sorted by the path's bytes, each line
//! `PATH TYPE MODE UID GID SIZE CONTENT XATTRS` (single spaces, `\n` at the end):
//!
//! - `PATH`: absolute (`/` is the root), bytes outside `!`..`~` and `%` written `%XX`
//!   (upper-case hex);
//! - `TYPE`: `f` regular file (hard links too), `d` directory, `l` symbolic link, `c`/`b`
//!   character/block device, `p` FIFO, `s` socket;
//! - `MODE`: the permission bits (`mode & 07777`) as four octal digits;
//! - `UID`, `GID`: decimal;
//! - `SIZE`: bytes of a file's content, of a link's target; `0` otherwise;
//! - `CONTENT`: a file's SHA-256 (lower-case hex), a link's target (escaped like `PATH`), a
//!   device's `MAJOR:MINOR`; `-` otherwise;
//! - `XATTRS`: `-`, or `NAME=HEX` of each recorded attribute present, by name, joined by `,`.
//!
//! In the appliance the tree is read by [`super::appliance_fs::Guest::tree`] (`find0`,
//! `checksums_out`, and per directory `lstatnslist` and `lxattrlist`); [`read_tar`] reads
//! the same tree from a GNU tar stream (`imgseal digest --tree` needs no tar; an auditor's
//! `virt-tar-out --xattrs --numeric-owner` archive can be checked with it).

use anyhow::{Context, Result, bail};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::fmt::Write as _;
use std::io::Read;

/// The first line of the serialization; a new format gets a new name.
pub const FORMAT: &str = "imgseal-tree-v1";

/// The extended attributes the digest records (others, such as `user.*`, are left out).
pub const XATTRS: [&str; 2] = ["security.capability", "security.selinux"];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Type {
    File,
    Dir,
    Symlink,
    Char,
    Block,
    Fifo,
    Socket,
}

impl Type {
    fn letter(self) -> char {
        match self {
            Type::File => 'f',
            Type::Dir => 'd',
            Type::Symlink => 'l',
            Type::Char => 'c',
            Type::Block => 'b',
            Type::Fifo => 'p',
            Type::Socket => 's',
        }
    }
}

/// One guest file as the digest sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Absolute, as bytes (guest names need not be UTF-8).
    pub path: Vec<u8>,
    pub kind: Type,
    /// Permission bits only (`& 0o7777`).
    pub mode: u32,
    pub uid: u64,
    pub gid: u64,
    /// File: content bytes; link: target bytes; else 0.
    pub size: u64,
    /// File: SHA-256 of the content.
    pub sha256: Option<[u8; 32]>,
    /// Link: the target.
    pub target: Option<Vec<u8>>,
    /// Device: (major, minor).
    pub dev: Option<(u64, u64)>,
    /// Recorded attributes present ([`XATTRS`]), any order.
    pub xattrs: Vec<(String, Vec<u8>)>,
}

/// The digest of a tree and how many entries it covers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TreeDigest {
    pub sha256: crate::digest::Sha256Digest,
    pub entries: usize,
}

fn escape(out: &mut String, bytes: &[u8]) {
    for &b in bytes {
        if (0x21..=0x7e).contains(&b) && b != b'%' {
            out.push(b as char);
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
}

fn hex(out: &mut String, bytes: &[u8]) {
    for b in bytes {
        let _ = write!(out, "{b:02x}");
    }
}

/// The line of one entry (with its `\n`).
pub fn line(e: &Entry) -> String {
    let mut s = String::new();
    escape(&mut s, &e.path);
    let size = match e.kind {
        Type::File | Type::Symlink => e.size,
        _ => 0,
    };
    let _ = write!(
        s,
        " {} {:04o} {} {} {size} ",
        e.kind.letter(),
        e.mode & 0o7777,
        e.uid,
        e.gid
    );
    match (e.kind, &e.sha256, &e.target, e.dev) {
        (Type::File, Some(h), _, _) => hex(&mut s, h),
        (Type::Symlink, _, Some(t), _) => escape(&mut s, t),
        (Type::Char | Type::Block, _, _, Some((ma, mi))) => {
            let _ = write!(s, "{ma}:{mi}");
        }
        _ => s.push('-'),
    }
    s.push(' ');
    let mut x: Vec<&(String, Vec<u8>)> = e
        .xattrs
        .iter()
        .filter(|(n, _)| XATTRS.contains(&n.as_str()))
        .collect();
    x.sort();
    if x.is_empty() {
        s.push('-');
    }
    for (i, (n, v)) in x.iter().enumerate() {
        if i > 0 {
            s.push(',');
        }
        s.push_str(n);
        s.push('=');
        hex(&mut s, v);
    }
    s.push('\n');
    s
}

/// The whole serialization (the header line and every entry, sorted by path).
pub fn serialize(entries: &mut [Entry]) -> String {
    entries.sort_by(|a, b| a.path.cmp(&b.path));
    let mut s = format!("{FORMAT}\n");
    for e in entries.iter() {
        s.push_str(&line(e));
    }
    s
}

/// The tree digest: SHA-256 of [`serialize`].
pub fn digest(mut entries: Vec<Entry>) -> TreeDigest {
    let text = serialize(&mut entries);
    TreeDigest {
        sha256: crate::digest::Sha256Digest(Sha256::digest(text.as_bytes()).into()),
        entries: entries.len(),
    }
}

/// `checksums_out`'s file (`sha256sum` lines, `HASH  ./path`, names with a newline or a
/// backslash escaped and the line marked with a leading `\`) as absolute path -> SHA-256.
pub fn parse_checksums(text: &[u8]) -> Result<HashMap<Vec<u8>, [u8; 32]>> {
    let mut out = HashMap::new();
    for line in text.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
        let (escaped, line) = match line.strip_prefix(b"\\") {
            Some(rest) => (true, rest),
            None => (false, line),
        };
        if line.len() < 66 || !(line[64] == b' ' && (line[65] == b' ' || line[65] == b'*')) {
            bail!(
                "checksums-out: an unexpected line {:?}",
                String::from_utf8_lossy(line)
            );
        }
        let mut sum = [0u8; 32];
        for (i, b) in sum.iter_mut().enumerate() {
            let h = std::str::from_utf8(&line[2 * i..2 * i + 2])?;
            *b = u8::from_str_radix(h, 16).context("checksums-out: not a SHA-256")?;
        }
        let mut name = line[66..].to_vec();
        if escaped {
            let mut u = Vec::with_capacity(name.len());
            let mut it = name.iter();
            while let Some(&c) = it.next() {
                if c == b'\\' {
                    match it.next() {
                        Some(b'n') => u.push(b'\n'),
                        Some(b'r') => u.push(b'\r'),
                        Some(b'\\') => u.push(b'\\'),
                        _ => bail!(
                            "checksums-out: a bad escape in {:?}",
                            String::from_utf8_lossy(&name)
                        ),
                    }
                } else {
                    u.push(c);
                }
            }
            name = u;
        }
        out.insert(guest_path(&name)?, sum);
    }
    Ok(out)
}

// ---- reading a tar stream (GNU tar's output with --xattrs --numeric-owner) -----------------

/// The entries of a tar stream whose names are relative to the guest root (`./etc/…`, as
/// `tar -C / -c .` writes them). Content is hashed as it streams by and never kept. Hard
/// links become regular-file entries with the content of the file they link to (tar sends a
/// file's bytes once, at its first name). Sockets are not in the stream (tar skips them).
///
/// Formats: ustar/GNU headers (checksummed), pax extended headers (`path`, `linkpath`,
/// `size`, `uid`, `gid`, `SCHILY.xattr.*`), GNU long names (`L`,
/// `K`), base-256 numbers. Anything else is an error naming it, never a guess.
pub fn read_tar(r: &mut dyn Read) -> Result<Vec<Entry>> {
    let mut out: Vec<Entry> = Vec::new();
    // path -> index in `out`, for hard links.
    let mut files: HashMap<Vec<u8>, usize> = HashMap::new();
    let mut long_name: Option<Vec<u8>> = None;
    let mut long_link: Option<Vec<u8>> = None;
    let mut pax: HashMap<String, Vec<u8>> = HashMap::new();
    let mut global: HashMap<String, Vec<u8>> = HashMap::new();
    let mut h = [0u8; 512];
    loop {
        if !read_block(r, &mut h)? {
            // EOF without the end-of-archive blocks: a truncated stream.
            bail!("tar stream ended without its end-of-archive marker");
        }
        if h.iter().all(|&b| b == 0) {
            // End of archive (tar writes two zero blocks, then pads its record): drain it.
            std::io::copy(r, &mut std::io::sink())?;
            break;
        }
        verify_checksum(&h)?;
        let typ = h[156];
        let mut size = number(&h[124..136]).context("tar header: size")?;
        if let Some(s) = pax.get("size").or_else(|| global.get("size")) {
            size = parse_dec(s).context("pax size")?;
        }
        match typ {
            b'x' | b'g' => {
                let data = read_data(r, size, 1 << 24)?;
                let recs = parse_pax(&data)?;
                if typ == b'x' {
                    pax.extend(recs);
                } else {
                    global.extend(recs);
                }
                continue;
            }
            b'L' | b'K' => {
                let mut data = read_data(r, size, 1 << 20)?;
                while data.last() == Some(&0) {
                    data.pop();
                }
                if typ == b'L' {
                    long_name = Some(data);
                } else {
                    long_link = Some(data);
                }
                continue;
            }
            _ => {}
        }
        let attr = |k: &str| pax.get(k).or_else(|| global.get(k));
        let name = match (attr("path"), long_name.take()) {
            (Some(p), _) => p.clone(),
            (None, Some(l)) => l,
            (None, None) => {
                let mut n = cstr(&h[0..100]).to_vec();
                let prefix = cstr(&h[345..500]);
                if &h[257..263] == b"ustar\0" && !prefix.is_empty() {
                    let mut p = prefix.to_vec();
                    p.push(b'/');
                    p.extend_from_slice(&n);
                    n = p;
                }
                n
            }
        };
        let link = match (attr("linkpath"), long_link.take()) {
            (Some(p), _) => p.clone(),
            (None, Some(l)) => l,
            (None, None) => cstr(&h[157..257]).to_vec(),
        };
        let mode = number(&h[100..108]).context("tar header: mode")? as u32 & 0o7777;
        let uid = match attr("uid") {
            Some(v) => parse_dec(v)?,
            None => number(&h[108..116]).context("tar header: uid")?,
        };
        let gid = match attr("gid") {
            Some(v) => parse_dec(v)?,
            None => number(&h[116..124]).context("tar header: gid")?,
        };
        let mut xattrs = Vec::new();
        for x in XATTRS {
            if let Some(v) = pax.get(&format!("SCHILY.xattr.{x}")) {
                // The raw value, as the kernel returns it (an SELinux label with its NUL).
                xattrs.push((x.to_string(), v.clone()));
            }
        }
        pax.clear();
        let path = guest_path(&name)?;
        let mut e = Entry {
            path: path.clone(),
            kind: Type::File,
            mode,
            uid,
            gid,
            size: 0,
            sha256: None,
            target: None,
            dev: None,
            xattrs,
        };
        match typ {
            b'0' | 0 | b'7' => {
                let (n, d) = hash_data(r, size)?;
                e.size = n;
                e.sha256 = Some(d);
                files.insert(path, out.len());
            }
            b'1' => {
                let target = guest_path(&link)?;
                let Some(&i) = files.get(&target) else {
                    bail!(
                        "tar stream: hard link {} to {}, which came before it as no file",
                        String::from_utf8_lossy(&path),
                        String::from_utf8_lossy(&target)
                    );
                };
                e.size = out[i].size;
                e.sha256 = out[i].sha256;
                skip_data(r, size)?;
            }
            b'2' => {
                e.kind = Type::Symlink;
                e.size = link.len() as u64;
                e.target = Some(link);
                skip_data(r, size)?;
            }
            b'3' | b'4' => {
                e.kind = if typ == b'3' { Type::Char } else { Type::Block };
                e.dev = Some((
                    number(&h[329..337]).context("tar header: devmajor")?,
                    number(&h[337..345]).context("tar header: devminor")?,
                ));
                skip_data(r, size)?;
            }
            b'5' => {
                e.kind = Type::Dir;
                skip_data(r, size)?;
            }
            b'6' => {
                e.kind = Type::Fifo;
                skip_data(r, size)?;
            }
            t => bail!(
                "tar stream: {}: entry type {:?} is not one imgseal reads",
                String::from_utf8_lossy(&path),
                t as char
            ),
        }
        out.push(e);
    }
    Ok(out)
}

/// `./etc/x` (or `etc/x`, `./`, `.`) as the absolute guest path `/etc/x` (`/`).
fn guest_path(name: &[u8]) -> Result<Vec<u8>> {
    let mut n = name;
    while let Some(rest) = n.strip_prefix(b"./") {
        n = rest;
    }
    if n == b"." {
        n = b"";
    }
    while n.last() == Some(&b'/') {
        n = &n[..n.len() - 1];
    }
    if n.is_empty() {
        return Ok(b"/".to_vec());
    }
    if n.starts_with(b"/") || n.split(|&b| b == b'/').any(|c| c == b".." || c.is_empty()) {
        bail!(
            "tar stream: name {:?} is not a plain relative path",
            String::from_utf8_lossy(name)
        );
    }
    let mut p = vec![b'/'];
    p.extend_from_slice(n);
    Ok(p)
}

fn cstr(b: &[u8]) -> &[u8] {
    match b.iter().position(|&c| c == 0) {
        Some(i) => &b[..i],
        None => b,
    }
}

/// Reads one 512-byte block; false at a clean EOF before it.
fn read_block(r: &mut dyn Read, b: &mut [u8; 512]) -> Result<bool> {
    let mut n = 0;
    while n < 512 {
        let k = r.read(&mut b[n..])?;
        if k == 0 {
            if n == 0 {
                return Ok(false);
            }
            bail!("tar stream ended inside a block");
        }
        n += k;
    }
    Ok(true)
}

fn verify_checksum(h: &[u8; 512]) -> Result<()> {
    let want = number(&h[148..156]).context("tar header: checksum")?;
    let got: u64 = h
        .iter()
        .enumerate()
        .map(|(i, &b)| {
            if (148..156).contains(&i) {
                32
            } else {
                b as u64
            }
        })
        .sum();
    if want != got {
        bail!("tar stream: a header's checksum does not match (a corrupt stream)");
    }
    Ok(())
}

/// An octal header number (space/NUL terminated), or GNU base-256 (high bit set).
fn number(f: &[u8]) -> Result<u64> {
    if f.first().is_some_and(|b| b & 0x80 != 0) {
        let mut v: u64 = (f[0] & 0x7f) as u64;
        for &b in &f[1..] {
            v = v
                .checked_mul(256)
                .and_then(|v| v.checked_add(b as u64))
                .ok_or_else(|| anyhow::anyhow!("base-256 number too large"))?;
        }
        return Ok(v);
    }
    let s = cstr(f);
    let s = std::str::from_utf8(s)?.trim_matches(|c: char| c == ' ' || c == '\0');
    if s.is_empty() {
        return Ok(0);
    }
    Ok(u64::from_str_radix(s, 8)?)
}

fn parse_dec(v: &[u8]) -> Result<u64> {
    Ok(std::str::from_utf8(v)?.trim().parse()?)
}

fn padded(size: u64) -> u64 {
    size.div_ceil(512) * 512
}

fn read_data(r: &mut dyn Read, size: u64, max: u64) -> Result<Vec<u8>> {
    if size > max {
        bail!("tar stream: an extended header of {size} bytes");
    }
    let mut b = vec![0u8; padded(size) as usize];
    r.read_exact(&mut b)?;
    b.truncate(size as usize);
    Ok(b)
}

fn skip_data(r: &mut dyn Read, size: u64) -> Result<()> {
    let want = padded(size);
    let n = std::io::copy(&mut r.take(want), &mut std::io::sink())?;
    if n != want {
        bail!("tar stream ended inside an entry's data");
    }
    Ok(())
}

/// Hashes `size` bytes of content (and skips the padding).
fn hash_data(r: &mut dyn Read, size: u64) -> Result<(u64, [u8; 32])> {
    let mut h = Sha256::new();
    let mut left = size;
    let mut buf = vec![0u8; 1 << 20];
    while left > 0 {
        let want = left.min(buf.len() as u64) as usize;
        r.read_exact(&mut buf[..want])
            .context("tar stream ended inside a file's content")?;
        h.update(&buf[..want]);
        left -= want as u64;
    }
    let pad = padded(size) - size;
    if std::io::copy(&mut r.take(pad), &mut std::io::sink())? != pad {
        bail!("tar stream ended inside an entry's padding");
    }
    Ok((size, h.finalize().into()))
}

/// pax records: `LEN KEY=VALUE\n`, values binary-safe (xattr values are raw bytes).
fn parse_pax(mut d: &[u8]) -> Result<Vec<(String, Vec<u8>)>> {
    let mut out = Vec::new();
    while !d.is_empty() {
        let sp = d
            .iter()
            .position(|&b| b == b' ')
            .ok_or_else(|| anyhow::anyhow!("tar stream: a pax record without its length"))?;
        let len: usize = std::str::from_utf8(&d[..sp])?.parse()?;
        if len <= sp + 1 || len > d.len() || d[len - 1] != b'\n' {
            bail!("tar stream: a malformed pax record");
        }
        let rec = &d[sp + 1..len - 1];
        let eq = rec
            .iter()
            .position(|&b| b == b'=')
            .ok_or_else(|| anyhow::anyhow!("tar stream: a pax record without '='"))?;
        out.push((
            String::from_utf8_lossy(&rec[..eq]).into_owned(),
            rec[eq + 1..].to_vec(),
        ));
        d = &d[len..];
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::guest::fs::{GuestFs, MemFs};

    fn entry(path: &str, kind: Type) -> Entry {
        Entry {
            path: path.as_bytes().to_vec(),
            kind,
            mode: 0o644,
            uid: 0,
            gid: 0,
            size: 0,
            sha256: None,
            target: None,
            dev: None,
            xattrs: vec![],
        }
    }

    #[test]
    fn lines_follow_the_documented_format() {
        let mut f = entry("/etc/a b%", Type::File);
        f.size = 3;
        f.sha256 = Some(Sha256::digest(b"abc").into());
        f.xattrs = vec![
            ("security.selinux".into(), b"x\0".to_vec()),
            ("user.ignored".into(), b"y".to_vec()),
            ("security.capability".into(), vec![1, 2]),
        ];
        assert_eq!(
            line(&f),
            "/etc/a%20b%25 f 0644 0 0 3 ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad security.capability=0102,security.selinux=7800\n"
        );
        let mut l = entry("/lib", Type::Symlink);
        l.mode = 0o777;
        l.size = 7;
        l.target = Some(b"usr/lib".to_vec());
        assert_eq!(line(&l), "/lib l 0777 0 0 7 usr/lib -\n");
        let mut d = entry("/", Type::Dir);
        d.mode = 0o40755;
        d.size = 4096;
        assert_eq!(line(&d), "/ d 0755 0 0 0 - -\n");
        let mut c = entry("/dev/null", Type::Char);
        c.dev = Some((1, 3));
        assert_eq!(line(&c), "/dev/null c 0644 0 0 0 1:3 -\n");
        let mut v = vec![l, d, f, c];
        let s = serialize(&mut v);
        assert!(s.starts_with("imgseal-tree-v1\n/ d "), "{s}");
        let paths: Vec<&str> = s
            .lines()
            .skip(1)
            .map(|l| l.split(' ').next().unwrap())
            .collect();
        assert_eq!(paths, vec!["/", "/dev/null", "/etc/a%20b%25", "/lib"]);
    }

    #[test]
    fn the_digest_changes_with_content_mode_and_owner_and_not_with_time() {
        let fs = || {
            MemFs::new()
                .file("/etc/hostname", "vm\n")
                .file("/usr/bin/ping", "ELF")
                .xattr("/usr/bin/ping", "security.capability", &[1, 0, 0, 2])
                .link("/bin", "usr/bin")
        };
        let base = digest(fs().tree().unwrap());
        assert_eq!(base, digest(fs().tree().unwrap()), "deterministic");
        // /, /bin, /etc, /etc/hostname, /usr, /usr/bin, /usr/bin/ping
        assert_eq!(base.entries, 7);

        let t = fs();
        t.set_mtime("/etc/hostname", 1_700_000_000).unwrap();
        t.set_mtime("/etc", 1).unwrap();
        assert_eq!(
            digest(t.tree().unwrap()),
            base,
            "a time is not part of the tree"
        );

        let c = fs();
        c.write("/etc/hostname", b"vn\n").unwrap();
        assert_ne!(digest(c.tree().unwrap()), base, "content");

        let m = fs();
        m.chmod(0o600, "/etc/hostname").unwrap();
        assert_ne!(digest(m.tree().unwrap()), base, "mode");

        let o = fs();
        o.chown("/etc/hostname", 0, 4);
        assert_ne!(digest(o.tree().unwrap()), base, "group");
        let o = fs();
        o.chown("/etc/hostname", 1000, 0);
        assert_ne!(digest(o.tree().unwrap()), base, "owner");

        let x = fs();
        x.set_xattr("/usr/bin/ping", "security.capability", &[1, 0, 0, 3]);
        assert_ne!(digest(x.tree().unwrap()), base, "capability");
        let u = fs();
        u.set_xattr("/usr/bin/ping", "user.comment", b"not recorded");
        assert_eq!(digest(u.tree().unwrap()), base, "user.* is not recorded");

        let l = fs();
        l.remove("/bin").unwrap();
        l.symlink("/usr/bin", "/bin").unwrap();
        assert_ne!(digest(l.tree().unwrap()), base, "link target");
    }

    /// A tar stream written by the host's GNU tar (as the appliance's tar writes it) reads
    /// back as the tree it was made from, hard links and long names included.
    #[test]
    fn a_gnu_tar_stream_reads_as_its_tree() {
        use std::os::unix::fs::{PermissionsExt, symlink};
        let d = tempfile::tempdir().unwrap();
        let r = d.path();
        std::fs::create_dir_all(r.join("etc/deep")).unwrap();
        std::fs::write(r.join("etc/hostname"), b"vm\n").unwrap();
        std::fs::set_permissions(r.join("etc/hostname"), PermissionsExt::from_mode(0o640)).unwrap();
        std::fs::hard_link(r.join("etc/hostname"), r.join("etc/deep/again")).unwrap();
        let long = "n".repeat(150);
        std::fs::write(r.join("etc/deep").join(&long), vec![7u8; 70_000]).unwrap();
        symlink("../etc/hostname", r.join("etc/link")).unwrap();
        let tar = std::process::Command::new("tar")
            .args(["--numeric-owner", "--xattrs", "-C"])
            .arg(r)
            .args(["-cf", "-", "."])
            .output()
            .expect("running tar");
        assert!(
            tar.status.success(),
            "{}",
            String::from_utf8_lossy(&tar.stderr)
        );
        let mut es = read_tar(&mut &tar.stdout[..]).unwrap();
        es.sort_by(|a, b| a.path.cmp(&b.path));
        let by = |p: &str| es.iter().find(|e| e.path == p.as_bytes()).unwrap().clone();
        assert_eq!(es[0].path, b"/");
        assert_eq!(es[0].kind, Type::Dir);
        let h = by("/etc/hostname");
        assert_eq!((h.kind, h.mode, h.size), (Type::File, 0o640, 3));
        assert_eq!(h.sha256, Some(Sha256::digest(b"vm\n").into()));
        let again = by("/etc/deep/again");
        assert_eq!(
            (again.kind, again.sha256, again.size),
            (Type::File, h.sha256, 3)
        );
        let big = by(&format!("/etc/deep/{long}"));
        assert_eq!(big.sha256, Some(Sha256::digest(vec![7u8; 70_000]).into()));
        let l = by("/etc/link");
        assert_eq!(l.kind, Type::Symlink);
        assert_eq!(l.target.as_deref(), Some(&b"../etc/hostname"[..]));
        assert_eq!(es.len(), 7);
        // The same tree again is the same digest, whatever the times.
        std::fs::write(r.join("etc/hostname"), b"vm\n").unwrap();
        let tar2 = std::process::Command::new("tar")
            .args(["--numeric-owner", "--xattrs", "-C"])
            .arg(r)
            .args(["-cf", "-", "."])
            .output()
            .unwrap();
        assert_eq!(
            digest(read_tar(&mut &tar2.stdout[..]).unwrap()),
            digest(es.clone())
        );
        // A truncated or corrupted stream is an error, never a digest.
        assert!(read_tar(&mut &tar.stdout[..2048]).is_err());
        let mut bad = tar.stdout.clone();
        bad[10] ^= 1;
        assert!(read_tar(&mut &bad[..]).is_err());
    }

    #[test]
    fn checksums_out_lines_read_as_paths_and_hashes() {
        let h = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
        let text = format!("{h}  ./etc/a b\n\\{h}  ./x\\ny\\\\z\n{h} *./bin\n");
        let m = parse_checksums(text.as_bytes()).unwrap();
        let want: [u8; 32] = Sha256::digest(b"abc").into();
        assert_eq!(m[&b"/etc/a b"[..]], want);
        assert_eq!(m[&b"/x\ny\\z"[..]], want);
        assert_eq!(m[&b"/bin"[..]], want);
        assert!(parse_checksums(b"nothash  ./x\n").is_err());
    }

    #[test]
    fn pax_records_and_numbers() {
        let recs = parse_pax(b"31 SCHILY.xattr.security.x=a\0b\n12 path=ab/\n").unwrap();
        assert_eq!(
            recs[0],
            ("SCHILY.xattr.security.x".into(), b"a\0b".to_vec())
        );
        assert_eq!(recs[1], ("path".into(), b"ab/".to_vec()));
        assert!(parse_pax(b"99 x=y\n").is_err());
        assert_eq!(number(b"0000644\0").unwrap(), 0o644);
        assert_eq!(number(&[0x80, 0, 0, 0, 0, 0, 0, 1, 0]).unwrap(), 256);
        assert_eq!(guest_path(b"./").unwrap(), b"/");
        assert_eq!(guest_path(b"./etc/x").unwrap(), b"/etc/x");
        assert!(guest_path(b"./../etc").is_err());
        assert!(guest_path(b"/etc").is_err());
    }
}
