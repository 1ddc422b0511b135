//! The output side: finalize the guest inside the same appliance launch (fstrim, swap
//! recreated empty), convert the overlay to `OUTPUT.partial`, check it, hash it (file
//! SHA-256, optional MD5, and a content digest of the guest-visible bytes over NBD), write
//! the sidecars and the manifest, then publish with an atomic rename.

use crate::cmd::Cmd;
use crate::digest::{Algorithm, ContentDigest, Sha256Digest};
use crate::guest::launch::Appliance;
use crate::image::nbd::NbdExport;
use crate::ui::Reporter;
use anyhow::{Context, Result, bail};
use serde::{Deserialize, Serialize};
use std::fs::File;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

/// Output container formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum OutFormat {
    Qcow2,
    Raw,
    Vmdk,
    Vhd,
}

impl OutFormat {
    /// The name qemu uses.
    pub fn qemu(self) -> &'static str {
        match self {
            OutFormat::Qcow2 => "qcow2",
            OutFormat::Raw => "raw",
            OutFormat::Vmdk => "vmdk",
            OutFormat::Vhd => "vpc",
        }
    }

    pub fn from_qemu(f: &str) -> Option<OutFormat> {
        match f {
            "qcow2" => Some(OutFormat::Qcow2),
            "raw" => Some(OutFormat::Raw),
            "vmdk" => Some(OutFormat::Vmdk),
            "vpc" => Some(OutFormat::Vhd),
            _ => None,
        }
    }
}

// ---- finalize (inside the appliance) -------------------------------------------------------

/// fstrim every mounted filesystem (the discards reach the overlay through NBD, so free
/// space is not copied), and recreate swap areas empty with their UUID and label.
pub fn finalize(
    app: &Appliance,
    mounts: &[(String, String)],
    rep: &dyn Reporter,
) -> Result<Vec<String>> {
    let h = app.handle();
    let mut notes = Vec::new();
    for (mp, dev) in mounts {
        crate::signals::check()?;
        rep.stage("finalize", &format!("fstrim {mp}"));
        match h.fstrim(mp) {
            Ok(()) => notes.push(format!("fstrim {mp} ({dev})")),
            Err(e) => notes.push(format!("fstrim {mp} ({dev}) not supported: {}", e.message)),
        }
    }
    h.sync()?;
    for crate::guest::inspect::BlockFs { dev, vfs } in app.filesystems()? {
        if vfs != "swap" {
            continue;
        }
        crate::signals::check()?;
        rep.stage("finalize", &format!("recreating swap {dev}"));
        let uuid = app.uuid(&dev);
        let label = app.label(&dev);
        // Old swap pages may hold memory of the build machine: discard (or zero) it all.
        if h.blkdiscard(&dev).is_err() {
            h.zero_device(&dev)
                .with_context(|| format!("clearing swap {dev}"))?;
        }
        h.mkswap(&dev, label.as_deref(), uuid.as_deref())
            .with_context(|| format!("recreating swap {dev}"))?;
        notes.push(format!(
            "swap {dev} recreated empty (uuid {}, label {})",
            uuid.as_deref().unwrap_or("-"),
            label.as_deref().unwrap_or("-")
        ));
    }
    Ok(notes)
}

// ---- the output file -----------------------------------------------------------------------

/// The paths of one output: the final name, its `.partial`, its sidecars.
#[derive(Debug, Clone)]
pub struct OutputPaths {
    pub target: PathBuf,
}

impl OutputPaths {
    pub fn new(target: &Path) -> OutputPaths {
        OutputPaths {
            target: target.to_path_buf(),
        }
    }
    fn with_suffix(&self, s: &str) -> PathBuf {
        let mut p = self.target.clone().into_os_string();
        p.push(s);
        PathBuf::from(p)
    }
    pub fn partial(&self) -> PathBuf {
        self.with_suffix(".partial")
    }
    pub fn sha256(&self) -> PathBuf {
        self.with_suffix(".sha256")
    }
    pub fn md5(&self) -> PathBuf {
        self.with_suffix(".md5")
    }
    pub fn manifest(&self) -> PathBuf {
        self.with_suffix(".manifest.json")
    }
    pub fn sidecars(&self) -> [PathBuf; 3] {
        [self.sha256(), self.md5(), self.manifest()]
    }
    pub fn file_name(&self) -> String {
        self.target
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default()
    }
}

/// The output being written: `OUTPUT.partial`, locked (flock) for as long as this guard
/// lives so a later run can tell a stale partial (owner dead: lock free) from a live one.
/// Drop removes the partial and any temporary sidecar unless `publish` succeeded.
pub struct PartialOutput {
    pub paths: OutputPaths,
    lock: Option<File>,
    published: bool,
}

impl PartialOutput {
    /// Claims `target`: refuses an existing output unless `overwrite`, removes a stale
    /// partial left by a killed run, refuses one held by a running imgseal.
    pub fn claim(target: &Path, overwrite: bool) -> Result<PartialOutput> {
        let paths = OutputPaths::new(target);
        let dir = target
            .parent()
            .filter(|d| !d.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        if !dir.is_dir() {
            bail!("{}: the output directory does not exist", dir.display());
        }
        if target.is_dir() {
            bail!(
                "{}: is a directory; give the output image's file name",
                target.display()
            );
        }
        let partial = paths.partial();
        if partial.exists() {
            let f = File::options().read(true).write(true).open(&partial)?;
            if f.try_lock().is_err() {
                bail!(
                    "{}: another imgseal run is writing this output right now",
                    partial.display()
                );
            }
            drop(f);
            std::fs::remove_file(&partial)?;
            for s in paths.sidecars() {
                let _ = std::fs::remove_file(tmp_name(&s));
            }
        }
        if target.exists() && !overwrite {
            bail!("{}: exists; pass --force to replace it", target.display());
        }
        let f = File::options()
            .read(true)
            .write(true)
            .create_new(true)
            .open(&partial)
            .with_context(|| format!("creating {}", partial.display()))?;
        f.try_lock()
            .map_err(|e| anyhow::anyhow!("locking {}: {e:?}", partial.display()))?;
        Ok(PartialOutput {
            paths,
            lock: Some(f),
            published: false,
        })
    }

    pub fn partial(&self) -> PathBuf {
        self.paths.partial()
    }

    /// fsyncs the image and renames it over the final name (atomic on one filesystem),
    /// then fsyncs the directory.
    pub fn publish(mut self) -> Result<PathBuf> {
        let partial = self.partial();
        File::open(&partial)?.sync_all()?;
        std::fs::rename(&partial, &self.paths.target).with_context(|| {
            format!(
                "renaming {} to {}",
                partial.display(),
                self.paths.target.display()
            )
        })?;
        self.published = true;
        if let Some(dir) = self.paths.target.parent() {
            if let Ok(d) = File::open(if dir.as_os_str().is_empty() {
                Path::new(".")
            } else {
                dir
            }) {
                let _ = d.sync_all();
            }
        }
        self.lock.take();
        Ok(self.paths.target.clone())
    }
}

impl Drop for PartialOutput {
    fn drop(&mut self) {
        if !self.published {
            let _ = std::fs::remove_file(self.paths.partial());
            for s in self.paths.sidecars() {
                let _ = std::fs::remove_file(tmp_name(&s));
            }
        }
    }
}

fn tmp_name(p: &Path) -> PathBuf {
    let mut s = p.as_os_str().to_owned();
    s.push(".tmp");
    PathBuf::from(s)
}

/// Writes a small file atomically (temp + fsync + rename).
pub fn write_atomic(p: &Path, data: &[u8]) -> Result<()> {
    let tmp = tmp_name(p);
    let mut f = File::create(&tmp).with_context(|| format!("creating {}", tmp.display()))?;
    f.write_all(data)?;
    f.sync_all()?;
    std::fs::rename(&tmp, p)
        .with_context(|| format!("renaming {} to {}", tmp.display(), p.display()))?;
    Ok(())
}

/// `qemu-img convert` of the overlay into the partial file: formats explicit, zero
/// clusters skipped, byte progress reported. Then `qemu-img check` for qcow2.
pub fn convert_image(
    overlay: &Path,
    out: &Path,
    fmt: OutFormat,
    compress: bool,
    rep: &dyn Reporter,
) -> Result<()> {
    let mut cmd = Cmd::new("qemu-img").args(["convert", "-p", "-f", "qcow2", "-O", fmt.qemu()]);
    if compress {
        if fmt != OutFormat::Qcow2 {
            bail!("--compress needs --output-format qcow2");
        }
        cmd = cmd.arg("-c");
    }
    if fmt == OutFormat::Qcow2 {
        cmd = cmd.args(["-o", "compat=1.1"]);
    }
    let line = cmd.line().to_string();
    rep.debug(&line);
    let mut child = cmd
        .arg(overlay)
        .arg(out)
        .spawn(std::process::Stdio::piped(), std::process::Stdio::piped())?;
    let _guard = crate::signals::ChildGuard::new(child.id());
    // qemu-img -p prints "    (12.34/100%)\r".
    let (Some(mut stdout), Some(mut stderr)) = (child.stdout.take(), child.stderr.take()) else {
        bail!("{line}: its output pipes were not set up");
    };
    let err_thread = std::thread::spawn(move || {
        let mut s = Vec::new();
        let _ = stderr.read_to_end(&mut s);
        s
    });
    let mut buf = [0u8; 256];
    let mut acc = String::new();
    while let Ok(n) = stdout.read(&mut buf) {
        if n == 0 {
            break;
        }
        acc.push_str(&String::from_utf8_lossy(&buf[..n]));
        while let Some(i) = acc.find('\r') {
            let piece: String = acc.drain(..=i).collect();
            if let Some(pct) = piece
                .trim()
                .trim_start_matches('(')
                .split('/')
                .next()
                .and_then(|p| p.parse::<f64>().ok())
            {
                rep.bytes((pct * 100.0) as u64, 10000);
            }
        }
    }
    let status = child.wait()?;
    let err = err_thread.join().unwrap_or_default();
    if !status.success() {
        crate::signals::check()?;
        bail!(
            "{line} failed ({status}): {}",
            crate::cmd::stderr_tail(&err)
        );
    }
    if fmt == OutFormat::Qcow2 {
        Cmd::new("qemu-img")
            .args(["check", "-q", "-f", "qcow2"])
            .arg(out)
            .output()
            .context("qemu-img check of the new image")?;
    }
    Ok(())
}

/// SHA-256 (and MD5 if asked) of a file in one streamed pass.
pub fn hash_file(
    p: &Path,
    md5: bool,
    rep: &dyn Reporter,
) -> Result<(Sha256Digest, Option<String>)> {
    use md5::Digest as _;
    let mut f = File::open(p).with_context(|| format!("opening {}", p.display()))?;
    let total = f.metadata()?.len();
    let mut sha = sha2::Sha256::new();
    let mut m = md5.then(md5::Md5::new);
    let mut buf = vec![0u8; crate::digest::BUF];
    let mut done = 0u64;
    loop {
        crate::signals::check()?;
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        sha.update(&buf[..n]);
        if let Some(m) = m.as_mut() {
            m.update(&buf[..n]);
        }
        done += n as u64;
        rep.bytes(done, total);
    }
    let md5hex = m.map(|m| m.finalize().iter().map(|b| format!("{b:02x}")).collect());
    Ok((Sha256Digest(sha.finalize().into()), md5hex))
}

/// The content digest of an image's guest-visible bytes (the same for every container format
/// of one disk), read through imgseal's NBD client from a read-only qemu-nbd export.
pub fn content_digest(
    image: &Path,
    format: &str,
    workdir: &Path,
    algorithm: Algorithm,
    rep: &dyn Reporter,
) -> Result<ContentDigest> {
    let export = NbdExport::start(image, format, workdir, "content", true)?;
    let d = crate::image::content::digest_export(&export, algorithm, rep);
    let r = export.close();
    let d = d?;
    r?;
    Ok(d)
}

/// `sha256sum -c` form: `HEX  NAME` with the file's base name.
pub fn sha256_line(d: &Sha256Digest, name: &str) -> String {
    format!("{d}  {name}\n")
}

/// Parses a `sha256sum` line (text or binary mode marker).
pub fn parse_sum_line(line: &str) -> Option<(String, String)> {
    let line = line.trim_end_matches(['\n', '\r']);
    let (hex, rest) = line.split_once(' ')?;
    let name = rest
        .strip_prefix(' ')
        .or_else(|| rest.strip_prefix('*'))
        .unwrap_or(rest);
    Some((hex.to_string(), name.to_string()))
}

/// Refuses to write into a directory that will not hold the output (a rough estimate: the
/// overlay's allocated size plus the input's).
pub fn check_space(dir: &Path, need: u64) -> Result<()> {
    if let Ok(free) = crate::ffi::os::free_bytes(dir) {
        if free < need {
            bail!(
                "{}: {} free, the output needs about {}; free space or choose another output directory",
                dir.display(),
                crate::ui::human_bytes(free),
                crate::ui::human_bytes(need)
            );
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sum_lines_round_trip() {
        let d = crate::digest::sha256_bytes(b"x");
        let l = sha256_line(&d, "disk.qcow2");
        assert_eq!(
            parse_sum_line(&l),
            Some((d.to_string(), "disk.qcow2".to_string()))
        );
        assert_eq!(
            parse_sum_line("abc *bin.img"),
            Some(("abc".into(), "bin.img".into()))
        );
        assert_eq!(parse_sum_line("garbage"), None);
    }

    #[test]
    fn partial_is_claimed_locked_and_cleaned() {
        let d = tempfile::tempdir().unwrap();
        let out = d.path().join("out.qcow2");
        let p = PartialOutput::claim(&out, false).unwrap();
        assert!(p.partial().exists());
        // A second claim while the first is alive is refused.
        let e = PartialOutput::claim(&out, false).err().unwrap().to_string();
        assert!(e.contains("another imgseal run"), "{e}");
        drop(p);
        assert!(
            !d.path().join("out.qcow2.partial").exists(),
            "removed on drop"
        );
        // A stale partial (no lock holder) is removed by the next claim.
        std::fs::write(d.path().join("out.qcow2.partial"), b"stale").unwrap();
        std::fs::write(d.path().join("out.qcow2.sha256.tmp"), b"stale").unwrap();
        let p = PartialOutput::claim(&out, false).unwrap();
        assert_eq!(std::fs::read(p.partial()).unwrap(), b"");
        assert!(!d.path().join("out.qcow2.sha256.tmp").exists());
        std::fs::write(p.partial(), b"image").unwrap();
        let published = p.publish().unwrap();
        assert_eq!(std::fs::read(&published).unwrap(), b"image");
        assert!(!d.path().join("out.qcow2.partial").exists());
        // An existing output needs overwrite.
        let e = PartialOutput::claim(&out, false).err().unwrap().to_string();
        assert!(e.contains("--force"), "{e}");
        assert!(PartialOutput::claim(&out, true).is_ok());
    }

    #[test]
    fn output_names() {
        let p = OutputPaths::new(Path::new("/x/disk.qcow2"));
        assert_eq!(p.partial(), Path::new("/x/disk.qcow2.partial"));
        assert_eq!(p.sha256(), Path::new("/x/disk.qcow2.sha256"));
        assert_eq!(p.manifest(), Path::new("/x/disk.qcow2.manifest.json"));
        assert_eq!(p.file_name(), "disk.qcow2");
        assert_eq!(OutFormat::from_qemu("vpc"), Some(OutFormat::Vhd));
    }
}
