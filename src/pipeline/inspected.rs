//! Stage 3, where the front half ends: the guest's one operating system identified and its
//! filesystems mounted. `inspect`, `check` and `verify --deep` work here and close it;
//! `convert` goes on to the checks.

use super::launched::Launched;
use crate::facts::OsInfo;
use crate::guest::appliance_fs::Guest;
use crate::guest::launch::Appliance;
use crate::image::{self, Input};
use crate::manifest::ApplianceInfo;
use crate::ui::Reporter;
use anyhow::Result;

/// Field order is drop order: the appliance goes before the export it reads from.
pub struct Inspected {
    pub app: Appliance,
    pub disk: image::Attached,
    pub input: Input,
    pub os: OsInfo,
    /// (mountpoint, device) pairs mounted.
    pub mounts: Vec<(String, String)>,
}

/// Refuses a Windows guest any of whose NTFS volumes is marked dirty (an unclean shutdown, or
/// errors Windows found and chkdsk has not repaired). Every NTFS volume is checked, not only
/// C:: a dirty System Reserved holds the boot manager, and the image would boot into chkdsk on
/// the cloud. Two small reads per volume through the appliance; nothing is mounted. A volume
/// whose flags cannot be read is said in a note and left to ntfs-3g's own checks.
fn refuse_dirty_ntfs(l: &Launched, os: &OsInfo, rep: &dyn Reporter) -> Result<()> {
    use crate::facts::ntfs;
    let h = l.app.handle();
    for f in l.app.filesystems()?.iter().filter(|f| f.vfs == "ntfs") {
        let mut read = |off: u64, len: usize| -> Result<Vec<u8>> {
            Ok(h.pread_device(&f.dev, i32::try_from(len)?, i64::try_from(off)?)?)
        };
        match ntfs::volume_flags(&mut read) {
            Ok(flags) if flags & ntfs::VOLUME_IS_DIRTY != 0 => {
                // The drive letter Windows gives it, when MountedDevices names this partition.
                let letter = os
                    .windows
                    .as_ref()
                    .and_then(|w| {
                        w.drives
                            .iter()
                            .find(|d| d.device.as_deref() == Some(&f.dev))
                    })
                    .map(|d| format!("{}:", d.letter));
                let which = match (&letter, f.dev == os.root) {
                    (Some(x), true) => format!(" ({x}, the Windows system volume)"),
                    (Some(x), false) => format!(" ({x})"),
                    (None, true) => " (the Windows system volume)".to_string(),
                    (None, false) => String::new(),
                };
                anyhow::bail!(
                    "{}: the NTFS volume {}{which} is marked dirty (Windows was not shut down cleanly or found errors on it); \
                     imgseal will not write to it. Boot Windows once so that chkdsk repairs it (or run `chkdsk /f {}`), \
                     shut it down cleanly, then convert again",
                    l.input.display(),
                    f.dev,
                    letter.as_deref().unwrap_or("on that volume")
                );
            }
            Ok(_) => {}
            Err(e) => rep.note(&format!(
                "{}: the dirty flag of the NTFS volume {} could not be read ({e:#}); going on",
                l.input.display(),
                f.dev
            )),
        }
    }
    Ok(())
}

impl Inspected {
    /// The one operating system root, mounted per its fstab (read-only if launched so).
    /// `converting` (a conversion, its dry run too, so the plan says what the conversion
    /// would): a Windows volume imgseal must not write, dirty or hibernated, is refused.
    pub fn inspect(l: Launched, converting: bool, rep: &dyn Reporter) -> Result<Inspected> {
        crate::signals::check()?;
        rep.stage("inspect", "identifying the operating system");
        let mut os = l.app.inspect(&l.input.display(), rep)?;
        if converting && os.windows.is_some() {
            // ntfs-3g mounts a dirty volume read-write without a word: refuse before mounting.
            refuse_dirty_ntfs(&l, &os, rep)?;
        }
        let mounts = l.app.mount_os(&mut os, l.readonly)?;
        if converting && os.windows.is_some() {
            // ntfs-3g mounts a hibernated volume read-only without failing: refuse before any
            // change is attempted.
            if let Some(why) = crate::facts::windows::hibernated(&l.app.guest(rep))? {
                anyhow::bail!(
                    "{}: {why}; start Windows and shut it down fully (`shutdown /s /t 0`, fast startup off), then convert again",
                    l.input.display()
                );
            }
        }
        Ok(Inspected {
            app: l.app,
            disk: l.disk,
            input: l.input,
            os,
            mounts,
        })
    }

    pub fn guest<'a>(&'a self, rep: &'a dyn Reporter) -> Guest<'a> {
        self.app.guest(rep)
    }

    /// The input as the user named it.
    pub fn name(&self) -> String {
        self.input.display()
    }

    /// Which appliance ran, for reports and the manifest.
    pub fn appliance_info(&self) -> ApplianceInfo {
        ApplianceInfo {
            accel: self.app.accel.name().to_string(),
            launch_seconds: (self.app.launch_secs * 10.0).round() / 10.0,
            fast_boot: self.app.fast_boot,
            images_per_launch: 1,
        }
    }

    /// Shuts the appliance down (checked) and removes the export, overlay and work dir.
    pub fn close(self) -> Result<()> {
        let Inspected { app, disk, .. } = self;
        let r1 = app.shutdown();
        let r2 = disk.close();
        r1.and(r2)
    }
}
