//! Host side of an image: probe, private work directory, qcow2 overlay, qemu-nbd export, and
//! imgseal's own NBD reads. The input is only ever opened read-only (as the overlay's backing).

pub mod content;
pub mod nbd;
pub mod nbd_client;
pub mod probe;
pub mod sniff;

use crate::cmd::Cmd;
use anyhow::{Context, Result, bail};
use nbd::NbdExport;
pub use probe::{Input, Probe};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// Prefix of imgseal's work directories: `imgseal-<pid>-XXXXXX` under the temp dir.
pub const WORKDIR_PREFIX: &str = "imgseal-";

/// Where work directories (overlays, sockets) go: `$IMGSEAL_TMPDIR`, else `$TMPDIR`, else /tmp.
pub fn temp_base() -> PathBuf {
    std::env::var_os("IMGSEAL_TMPDIR")
        .map(PathBuf::from)
        .unwrap_or_else(std::env::temp_dir)
}

/// A private (0700) work directory, removed with everything in it on close or Drop.
pub struct Workdir {
    dir: Option<tempfile::TempDir>,
}

impl Workdir {
    pub fn new() -> Result<Workdir> {
        let base = temp_base();
        remove_stale_workdirs(&base);
        let dir = tempfile::Builder::new()
            .prefix(&format!("{WORKDIR_PREFIX}{}-", std::process::id()))
            .tempdir_in(&base)
            .with_context(|| format!("creating a work directory in {}", base.display()))?;
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o700))?;
        Ok(Workdir { dir: Some(dir) })
    }

    pub fn path(&self) -> &Path {
        self.dir.as_ref().expect("workdir used after close").path()
    }

    pub fn close(mut self) -> Result<()> {
        if let Some(d) = self.dir.take() {
            let p = d.path().to_path_buf();
            d.close()
                .with_context(|| format!("removing {}", p.display()))?;
        }
        Ok(())
    }
}

/// Removes work directories left by imgseal processes that no longer exist (killed with
/// SIGKILL, power loss). Only directories named by imgseal, owned by this user, whose pid is
/// gone are touched.
pub fn remove_stale_workdirs(base: &Path) {
    let Ok(rd) = std::fs::read_dir(base) else {
        return;
    };
    let me = crate::ffi::os::geteuid();
    for e in rd.flatten() {
        let name = e.file_name();
        let Some(name) = name.to_str() else { continue };
        let Some(rest) = name.strip_prefix(WORKDIR_PREFIX) else {
            continue;
        };
        let Some(pid) = rest.split('-').next().and_then(|p| p.parse::<i32>().ok()) else {
            continue;
        };
        use std::os::unix::fs::MetadataExt;
        let Ok(meta) = std::fs::symlink_metadata(e.path()) else {
            continue;
        };
        if !meta.is_dir() || meta.uid() != me {
            continue;
        }
        if crate::ffi::os::pid_alive(pid) {
            continue;
        }
        let _ = std::fs::remove_dir_all(e.path());
    }
}

/// Options for attaching an input.
#[derive(Debug, Clone, Default)]
pub struct AttachOpts {
    pub format: Option<String>,
    pub allow_backing: bool,
}

/// An attached image: the input probed, a qcow2 overlay over it in a private directory, and
/// qemu-nbd exporting the overlay. All writes land in the overlay.
pub struct Attached {
    pub probe: Probe,
    pub overlay: PathBuf,
    /// What the sniff recognised in the first MiB.
    pub recognised: &'static str,
    export: Option<NbdExport>,
    work: Workdir,
}

impl Attached {
    pub fn export(&self) -> &NbdExport {
        self.export
            .as_ref()
            .expect("export used after it was stopped")
    }

    pub fn workdir(&self) -> &Path {
        self.work.path()
    }

    /// Stops qemu-nbd (flushing the overlay) but keeps the overlay for sealing.
    pub fn stop_export(&mut self) -> Result<()> {
        match self.export.take() {
            Some(e) => e.close(),
            None => Ok(()),
        }
    }

    /// Stops the export and removes the overlay and the work directory.
    pub fn close(mut self) -> Result<()> {
        let r1 = self.stop_export();
        let work = std::mem::replace(&mut self.work, Workdir { dir: None });
        let r2 = work.close();
        r1.and(r2)
    }
}

/// Creates a qcow2 overlay whose backing is the input (format given explicitly).
pub fn create_overlay(probe: &Probe, overlay: &Path) -> Result<()> {
    Cmd::new("qemu-img")
        .args(["create", "-q", "-f", "qcow2", "-F", &probe.format, "-b"])
        .arg(probe.input.qemu_name())
        .arg(overlay)
        .arg(probe.virtual_size.to_string())
        .output()
        .with_context(|| format!("creating an overlay over {}", probe.input.display()))?;
    Ok(())
}

/// Probe, overlay, export, and reject a disk with nothing recognisable in its first MiB.
pub fn attach(input: &Input, opts: &AttachOpts) -> Result<Attached> {
    let probe = probe::probe(input, opts.format.as_deref(), opts.allow_backing)?;
    let work = Workdir::new()?;
    let overlay = work.path().join("overlay.qcow2");
    create_overlay(&probe, &overlay)?;
    let export = NbdExport::start(&overlay, "qcow2", work.path(), "disk", false)
        .with_context(|| format!("attaching {} over NBD", input.display()))?;
    let recognised = sniff_export(&export, input)?;
    Ok(Attached {
        probe,
        overlay,
        recognised,
        export: Some(export),
        work,
    })
}

/// Reads the first MiB through imgseal's NBD client and names what it holds.
pub fn sniff_export(export: &NbdExport, input: &Input) -> Result<&'static str> {
    let mut r = export.connect()?;
    let mut buf = vec![0u8; sniff::SNIFF_LEN];
    let n = r.read_at(0, &mut buf)?;
    match sniff::recognise(&buf[..n]) {
        Some(what) => Ok(what),
        None => bail!(
            "{}: no partition table or filesystem in the first MiB (blank, random or unknown data); \
             this does not look like a disk image with an operating system",
            input.display()
        ),
    }
}
