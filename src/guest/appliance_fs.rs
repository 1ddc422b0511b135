//! [`GuestFs`] over a launched, mounted appliance: every guest file access of checks and
//! operations goes through the appliance's daemon (never a host mount).

use super::fs::{CmdOut, FileId, GuestFs, Kind, Meta, join};
use super::launch::Appliance;
use super::memo::GuestCache;
use crate::ffi::guestfs::Handle;
use crate::ui::Reporter;
use anyhow::{Context, Result, anyhow, bail};
use std::path::Path;

impl Appliance {
    /// The guest's files, through the appliance.
    pub fn guest<'a>(&'a self, rep: &'a dyn Reporter) -> Guest<'a> {
        Guest {
            h: &self.h,
            rep,
            cache: &self.cache,
        }
    }
}

/// [`GuestFs`] over a launched, mounted appliance.
///
/// Each daemon call is a round trip into the appliance (milliseconds under TCG), and the
/// checks ask about the same directories many times (every trace path's ancestors are
/// checked for links): `lstat` and `list` answers are remembered until anything is written
/// through this handle or a guest program runs. A `Guest` lives for one image's mounted
/// session; nothing else writes to the guest while it is in use.
pub struct Guest<'a> {
    h: &'a Handle,
    rep: &'a dyn Reporter,
    cache: &'a GuestCache,
}

impl Guest<'_> {
    fn changing(&self) {
        self.cache.clear();
    }
}

/// Runs a guest program with argv and a fixed environment, capturing stdout+stderr and
/// the exit status. The script is constant; arguments are positional parameters.
const RUN_SCRIPT: &str = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\n\
export PATH LC_ALL=C LANG=C DEBIAN_FRONTEND=noninteractive DEBCONF_NONINTERACTIVE_SEEN=true HOME=/root\n\
\"$@\" 2>&1 </dev/null\n\
printf '\\nimgseal-exit:%d\\n' \"$?\"\n";

const EXIT_MARK: &str = "\nimgseal-exit:";

/// Splits the output of [`RUN_SCRIPT`] into the program's output and exit status.
pub fn split_run_output(out: &str) -> Option<CmdOut> {
    let i = out.rfind(EXIT_MARK)?;
    let status = out[i + EXIT_MARK.len()..].trim().parse().ok()?;
    Some(CmdOut {
        status,
        output: out[..i].to_string(),
    })
}

impl<'a> Guest<'a> {
    pub fn handle(&self) -> &Handle {
        self.h
    }

    /// Every file of the mounted guest as the tree digest sees it ([`super::tree`]), in few
    /// libguestfs calls: `find0` of `/` (every name, one call), `checksums_out` sha256 of
    /// `/` (every regular file's SHA-256, hashed inside the appliance, one call), and per
    /// directory one `lstatnslist` and one `lxattrlist` (and a `readlinklist` where it holds
    /// links). Both walks descend into every filesystem mounted in the guest's tree (a mount
    /// point shows the mounted filesystem's root, as the guest sees it).
    ///
    /// (A single `tar_out` of `/` was measured first: one call, but every content byte
    /// crosses the appliance's serial channel, 45 s for the debian12 fixture under TCG
    /// against 17 s for `checksums_out` hashing it in place.)
    pub fn tree(&self) -> Result<Vec<super::tree::Entry>> {
        use super::tree::{Entry, Type};
        use std::collections::BTreeMap;
        let work = crate::image::Workdir::new()?;
        let names_file = work.path().join("names");
        let sums_file = work.path().join("sums");
        let host = |p: &Path| {
            p.to_str()
                .map(str::to_string)
                .ok_or_else(|| anyhow!("{}: path is not UTF-8", p.display()))
        };
        self.rep
            .debug("guest find0 / and checksums-out sha256 / (tree digest)");
        let t0 = std::time::Instant::now();
        self.h
            .find0("/", &host(&names_file)?)
            .context("listing the guest's files (find0)")?;
        self.h
            .checksums_out("sha256", "/", &host(&sums_file)?)
            .context("hashing the guest's files (checksums-out)")?;
        let names = std::fs::read(&names_file)?;
        let sums = super::tree::parse_checksums(&std::fs::read(&sums_file)?)?;
        work.close()?;
        let t1 = std::time::Instant::now();

        // Names by directory; the root itself is "." of "/".
        let mut dirs: BTreeMap<Vec<u8>, Vec<&[u8]>> = BTreeMap::new();
        dirs.entry(b"/".to_vec()).or_default().push(b".");
        for n in names.split(|&b| b == 0).filter(|n| !n.is_empty()) {
            let n = n.strip_prefix(b"/").unwrap_or(n);
            let (parent, base) = match n.iter().rposition(|&b| b == b'/') {
                Some(i) => (&n[..i], &n[i + 1..]),
                None => (&b""[..], n),
            };
            let mut dir = b"/".to_vec();
            dir.extend_from_slice(parent);
            dirs.entry(dir).or_default().push(base);
        }
        let mut out = Vec::new();
        for (dir, bases) in &dirs {
            crate::signals::check()?;
            let stats = self.h.lstat_list_bytes(dir, bases)?;
            let xattrs = self.h.lxattr_list(dir, bases)?;
            let links: Vec<&[u8]> = bases
                .iter()
                .zip(&stats)
                .filter(|(_, s)| s.is_some_and(|s| s.mode & libc::S_IFMT == libc::S_IFLNK))
                .map(|(b, _)| *b)
                .collect();
            let mut targets = if links.is_empty() {
                vec![]
            } else {
                self.h.readlink_list(dir, &links)?
            }
            .into_iter();
            for ((base, st), xa) in bases.iter().zip(stats).zip(xattrs) {
                let mut path = dir.clone();
                if *base != b"." {
                    if path.len() > 1 {
                        path.push(b'/');
                    }
                    path.extend_from_slice(base);
                }
                let Some(st) = st else {
                    bail!(
                        "{}: listed but gone while the tree was read",
                        String::from_utf8_lossy(&path)
                    );
                };
                let mut e = Entry {
                    kind: Type::Dir,
                    mode: st.mode & 0o7777,
                    uid: st.uid as u64,
                    gid: st.gid as u64,
                    size: 0,
                    sha256: None,
                    target: None,
                    dev: None,
                    xattrs: xa
                        .into_iter()
                        .filter(|(n, _)| super::tree::XATTRS.contains(&n.as_str()))
                        .collect(),
                    path,
                };
                match st.mode & libc::S_IFMT {
                    libc::S_IFREG => {
                        e.kind = Type::File;
                        e.size = st.size;
                        e.sha256 = Some(*sums.get(&e.path).ok_or_else(|| {
                            anyhow!(
                                "{}: a regular file checksums-out did not hash",
                                String::from_utf8_lossy(&e.path)
                            )
                        })?);
                    }
                    libc::S_IFDIR => {}
                    libc::S_IFLNK => {
                        let t = targets.next().unwrap_or_default().into_bytes();
                        e.kind = Type::Symlink;
                        e.size = t.len() as u64;
                        e.target = Some(t);
                    }
                    libc::S_IFCHR | libc::S_IFBLK => {
                        e.kind = if st.mode & libc::S_IFMT == libc::S_IFCHR {
                            Type::Char
                        } else {
                            Type::Block
                        };
                        e.dev = Some((libc::major(st.rdev) as u64, libc::minor(st.rdev) as u64));
                    }
                    libc::S_IFIFO => e.kind = Type::Fifo,
                    _ => e.kind = Type::Socket,
                }
                out.push(e);
            }
        }
        self.rep.debug(&format!(
            "tree: {} names, {} file hashes in {:.1} s; metadata of {} directories in {:.1} s",
            out.len(),
            sums.len(),
            (t1 - t0).as_secs_f64(),
            dirs.len(),
            t1.elapsed().as_secs_f64()
        ));
        Ok(out)
    }
}

fn meta_from(s: crate::ffi::guestfs::Stat) -> Meta {
    let kind = match s.mode & libc::S_IFMT {
        libc::S_IFREG => Kind::File,
        libc::S_IFDIR => Kind::Dir,
        libc::S_IFLNK => Kind::Symlink,
        _ => Kind::Other,
    };
    Meta {
        kind,
        size: s.size,
        mode: s.mode & 0o7777,
    }
}

fn not_found(e: &crate::ffi::guestfs::GuestfsError) -> bool {
    e.errno == libc::ENOENT || e.message.contains("No such file or directory")
}

impl GuestFs for Guest<'_> {
    fn hive(&self, path: &str, write: bool) -> Result<Box<dyn super::registry::Hive + '_>> {
        if write {
            self.changing();
        }
        Ok(Box::new(super::registry::ApplianceHive::open(
            self.h,
            &self.cache.hive_open,
            path,
            write,
        )?))
    }

    fn lstat(&self, path: &str) -> Result<Option<Meta>> {
        if let Some(m) = self.cache.stats.borrow().get(path) {
            return Ok(*m);
        }
        // A name missing from its directory's remembered listing does not exist.
        let dir = super::fs::parent(path);
        // (`/` is its own parent: it has no name to look up.)
        let name = path
            .trim_end_matches('/')
            .get(dir.len()..)
            .unwrap_or("")
            .trim_start_matches('/');
        if !name.is_empty()
            && self
                .cache
                .lists
                .borrow()
                .get(dir)
                .is_some_and(|names| !names.iter().any(|n| n == name))
        {
            return Ok(None);
        }
        let m = match self.h.lstat(path) {
            Ok(s) => Some(meta_from(s)),
            Err(e) if not_found(&e) || e.errno == libc::ENOTDIR => None,
            Err(e) => return Err(e.into()),
        };
        self.cache.stats.borrow_mut().insert(path.to_string(), m);
        Ok(m)
    }

    /// In 1 MiB `pread` calls (well inside the protocol's message limit) until one comes
    /// back empty: a round trip each, where `read_file` costs a download (~70 ms under TCG).
    fn read(&self, path: &str) -> Result<Vec<u8>> {
        if let Some(b) = self.cache.reads.borrow().get(path) {
            return Ok(b.clone());
        }
        // Only regular files: opening a FIFO (or a device) that a hostile guest links to
        // would block the appliance's daemon for good.
        let regular = match self.lstat(path)?.map(|m| m.kind) {
            Some(Kind::File) => true,
            Some(Kind::Symlink) => self
                .h
                .stat(path)
                .is_ok_and(|s| s.mode & libc::S_IFMT == libc::S_IFREG),
            _ => false,
        };
        if !regular {
            bail!("{path}: not a regular file (or a link to one); not read");
        }
        const CHUNK: usize = 1 << 20;
        let mut out = Vec::new();
        loop {
            let b = self.h.pread(path, CHUNK as i32, out.len() as i64)?;
            if b.is_empty() {
                break;
            }
            out.extend_from_slice(&b);
        }
        self.cache
            .reads
            .borrow_mut()
            .insert(path.to_string(), out.clone());
        Ok(out)
    }

    /// One `pread` (callers ask for at most 1 MiB, well inside the protocol's limit), after
    /// checking that `path` resolves to a regular file, for the same reason as `read`.
    fn read_at(&self, path: &str, offset: u64, len: usize) -> Result<Vec<u8>> {
        if self.file_id(path)?.is_none() {
            bail!("{path}: not a regular file (or a link to one); not read");
        }
        let len = i32::try_from(len.min(1 << 20)).unwrap_or(1 << 20);
        let offset = i64::try_from(offset).map_err(|_| anyhow!("{path}: offset too large"))?;
        Ok(self.h.pread(path, len, offset)?)
    }

    fn file_id(&self, path: &str) -> Result<Option<FileId>> {
        match self.h.stat(path) {
            Ok(s) if s.mode & libc::S_IFMT == libc::S_IFREG => Ok(Some(FileId {
                path: path.to_string(),
                dev: s.dev,
                ino: s.ino,
                size: s.size,
                mtime: (s.mtime, s.mtime_nsec),
                ctime: (s.ctime, s.ctime_nsec),
            })),
            Ok(_) => Ok(None),
            Err(e) if not_found(&e) || e.errno == libc::ENOTDIR || e.errno == libc::ELOOP => {
                Ok(None)
            }
            Err(e) => Err(e.into()),
        }
    }

    fn content_memo(&self) -> Option<&super::fs::ContentMemo> {
        Some(&self.cache.contents)
    }

    fn readlink(&self, path: &str) -> Result<String> {
        Ok(self.h.readlink(path)?)
    }

    fn list(&self, dir: &str) -> Result<Vec<String>> {
        if let Some(v) = self.cache.lists.borrow().get(dir) {
            return Ok(v.clone());
        }
        let v = match self.h.ls(dir) {
            Ok(mut v) => {
                v.sort();
                v
            }
            Err(e)
                if not_found(&e)
                    || e.errno == libc::ENOTDIR
                    || e.message.contains("Not a directory") =>
            {
                vec![]
            }
            Err(e) => return Err(e.into()),
        };
        self.cache
            .lists
            .borrow_mut()
            .insert(dir.to_string(), v.clone());
        Ok(v)
    }

    fn write(&self, path: &str, data: &[u8]) -> Result<()> {
        self.changing();
        self.rep
            .debug(&format!("guest write {path} ({} bytes)", data.len()));
        Ok(self.h.write(path, data)?)
    }

    fn remove(&self, path: &str) -> Result<()> {
        self.rep.debug(&format!("guest rm {path}"));
        let kind = self.lstat(path)?.map(|m| m.kind);
        self.changing();
        match kind {
            Some(Kind::Dir) => Ok(self.h.rmdir(path)?),
            Some(_) => Ok(self.h.rm(path)?),
            None => bail!("{path}: No such file or directory"),
        }
    }

    fn remove_tree(&self, path: &str) -> Result<()> {
        self.changing();
        self.rep.debug(&format!("guest rm -rf {path}"));
        Ok(self.h.rm_rf(path)?)
    }

    fn truncate(&self, path: &str) -> Result<()> {
        self.changing();
        self.rep.debug(&format!("guest truncate {path}"));
        Ok(self.h.truncate(path)?)
    }

    fn mkdir_p(&self, path: &str) -> Result<()> {
        self.changing();
        Ok(self.h.mkdir_p(path)?)
    }

    fn symlink(&self, target: &str, link: &str) -> Result<()> {
        self.changing();
        self.rep.debug(&format!("guest ln -s {target} {link}"));
        Ok(self.h.ln_s(target, link)?)
    }

    fn chmod(&self, mode: u32, path: &str) -> Result<()> {
        self.changing();
        Ok(self.h.chmod(mode, path)?)
    }

    fn upload(&self, host: &Path, guest: &str) -> Result<()> {
        self.changing();
        self.rep
            .debug(&format!("upload {} -> {guest}", host.display()));
        let host = host
            .to_str()
            .ok_or_else(|| anyhow!("{}: path is not UTF-8", host.display()))?;
        Ok(self.h.upload(host, guest)?)
    }

    fn set_mtime(&self, path: &str, secs: i64) -> Result<()> {
        self.changing();
        self.rep.debug(&format!("guest touch -h -d @{secs} {path}"));
        Ok(self.h.utimens(path, secs, 0)?)
    }

    fn find(&self, dir: &str) -> Result<Vec<String>> {
        if let Some(v) = self.cache.finds.borrow().get(dir) {
            return Ok(v.clone());
        }
        if !self.is_dir(dir)? {
            return Ok(vec![]);
        }
        let mut v: Vec<String> = self
            .h
            .find(dir)?
            .into_iter()
            .map(|n| n.trim_start_matches('/').to_string())
            .collect();
        v.sort();
        self.cache
            .finds
            .borrow_mut()
            .insert(dir.to_string(), v.clone());
        Ok(v)
    }

    fn available(&self, path: &str) -> Result<Option<u64>> {
        Ok(Some(self.h.statvfs_avail(path)?))
    }

    /// `names` may be relative paths below `dir` (a walk's): lstatnslist takes plain names
    /// of one directory, so they are grouped by their parent, in bounded batches.
    fn lstat_many(&self, dir: &str, names: &[String]) -> Result<Vec<Option<Meta>>> {
        let mut out: Vec<Option<Meta>> = vec![None; names.len()];
        let mut groups: std::collections::BTreeMap<String, Vec<(usize, &str)>> = Default::default();
        let known = self.cache.stats.borrow();
        for (i, n) in names.iter().enumerate() {
            let n = n.trim_start_matches('/');
            let (sub, base) = match n.rsplit_once('/') {
                Some((s, b)) => (join(dir, s), b),
                None => (dir.to_string(), n),
            };
            // Answers remembered since the last change need no round trip.
            if let Some(m) = known.get(&join(&sub, base)) {
                out[i] = *m;
                continue;
            }
            groups.entry(sub).or_default().push((i, base));
        }
        drop(known);
        for (sub, items) in groups {
            for chunk in items.chunks(500) {
                let refs: Vec<&str> = chunk.iter().map(|(_, b)| *b).collect();
                let mut stats = self.cache.stats.borrow_mut();
                for ((i, base), s) in chunk.iter().zip(self.h.lstat_list(&sub, &refs)?) {
                    out[*i] = s.map(meta_from);
                    stats.insert(join(&sub, base), out[*i]);
                }
            }
        }
        Ok(out)
    }

    fn run(&self, argv: &[&str]) -> Result<CmdOut> {
        self.changing();
        self.rep.debug(&format!(
            "guest$ {}",
            argv.iter()
                .map(|a| crate::cmd::shell_quote(a))
                .collect::<Vec<_>>()
                .join(" ")
        ));
        let mut full = vec!["/bin/sh", "-c", RUN_SCRIPT, "imgseal"];
        full.extend_from_slice(argv);
        let raw = self
            .h
            .command(&full)
            .with_context(|| format!("running {} in the guest", argv.join(" ")))?;
        let out = split_run_output(&raw).ok_or_else(|| {
            anyhow!(
                "running {} in the guest: no exit status in its output",
                argv.join(" ")
            )
        })?;
        if self.rep.is_verbose() {
            for l in out.output.lines() {
                self.rep.debug(&format!("guest| {l}"));
            }
            self.rep.debug(&format!("guest exit {}", out.status));
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_output_is_split_from_its_exit_status() {
        let o = split_run_output("hello\nworld\nimgseal-exit:3\n").unwrap();
        assert_eq!(o.output, "hello\nworld");
        assert_eq!(o.status, 3);
        // Output without a trailing newline, and output that mentions the marker itself.
        let o = split_run_output("x imgseal-exit:9\nimgseal-exit:0\n").unwrap();
        assert_eq!((o.output.as_str(), o.status), ("x imgseal-exit:9", 0));
        let o = split_run_output("a\nimgseal-exit:9\n\nimgseal-exit:0\n").unwrap();
        assert_eq!(o.status, 0);
        assert_eq!(o.output, "a\nimgseal-exit:9\n");
        assert_eq!(split_run_output("garbage"), None);
    }
}
