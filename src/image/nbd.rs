//! The host side of NBD: a `qemu-nbd` export held by a guard; imgseal's own client
//! (`nbd_client`) reads from it.

use crate::cmd::Cmd;
use anyhow::{Context, Result, bail};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

/// The export name imgseal gives its own qemu-nbd exports.
pub const EXPORT_NAME: &str = "imgseal";

/// A running `qemu-nbd` serving one image on a unix socket inside a private directory.
/// `close()` stops it and reports how it ended; Drop stops it best-effort. Created with
/// PDEATHSIG, so it also dies when imgseal is killed.
pub struct NbdExport {
    child: Option<Child>,
    _kill_on_signal: crate::signals::ChildGuard,
    socket: PathBuf,
    log: PathBuf,
}

impl NbdExport {
    /// Exports `image` (of the given format, never probed) on `dir/NAME.sock`.
    pub fn start(
        image: &Path,
        format: &str,
        dir: &Path,
        name: &str,
        readonly: bool,
    ) -> Result<Self> {
        let socket = dir.join(format!("{name}.sock"));
        let log = dir.join(format!("{name}.qemu-nbd.log"));
        let logf =
            std::fs::File::create(&log).with_context(|| format!("creating {}", log.display()))?;
        let mut cmd = Cmd::new("qemu-nbd")
            .arg(format!("--format={format}"))
            .arg("--socket")
            .arg(&socket)
            .arg(format!("--export-name={EXPORT_NAME}"))
            .args(["--persistent", "--shared=8", "--cache=unsafe"]);
        cmd = if readonly {
            cmd.arg("--read-only")
        } else {
            cmd.args(["--discard=unmap", "--detect-zeroes=unmap"])
        };
        let child = cmd
            .arg(image)
            .spawn(Stdio::null(), Stdio::from(logf))
            .context("starting qemu-nbd (is qemu-utils installed? run scripts/install-deps.sh)")?;
        let mut export = NbdExport {
            _kill_on_signal: crate::signals::ChildGuard::new(child.id()),
            child: Some(child),
            socket,
            log,
        };
        export.wait_ready(image)?;
        Ok(export)
    }

    fn wait_ready(&mut self, image: &Path) -> Result<()> {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if UnixStream::connect(&self.socket).is_ok() {
                return Ok(());
            }
            if let Some(child) = self.child.as_mut() {
                if let Some(status) = child.try_wait()? {
                    self.child = None;
                    let log = std::fs::read(&self.log).unwrap_or_default();
                    bail!(
                        "qemu-nbd could not export {} ({status}): {}",
                        image.display(),
                        crate::cmd::stderr_tail(&log)
                    );
                }
            }
            if Instant::now() > deadline {
                bail!(
                    "qemu-nbd did not open {} within 30 s",
                    self.socket.display()
                );
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    pub fn socket(&self) -> &Path {
        &self.socket
    }

    /// Opens a client connection with imgseal's own NBD client.
    pub fn connect(&self) -> Result<NbdReader> {
        NbdReader::connect_unix(&self.socket, EXPORT_NAME)
    }

    /// Stops qemu-nbd with SIGTERM (it flushes the image and exits cleanly), and reports a
    /// failure to stop or an unclean exit.
    pub fn close(mut self) -> Result<()> {
        self.stop()
    }

    fn stop(&mut self) -> Result<()> {
        let Some(mut child) = self.child.take() else {
            return Ok(());
        };
        if let Some(status) = child.try_wait()? {
            let log = std::fs::read(&self.log).unwrap_or_default();
            bail!(
                "qemu-nbd exited early ({status}); writes may be lost: {}",
                crate::cmd::stderr_tail(&log)
            );
        }
        crate::ffi::os::kill(child.id(), libc::SIGTERM);
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = child.try_wait()? {
                use std::os::unix::process::ExitStatusExt;
                if status.success() || status.signal() == Some(libc::SIGTERM) {
                    return Ok(());
                }
                bail!("qemu-nbd ended with {status} while stopping");
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                bail!("qemu-nbd did not stop within 30 s and was killed; writes may be lost");
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for NbdExport {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

pub use super::nbd_client::{Extent, MAX_REQUEST, NbdReader};
