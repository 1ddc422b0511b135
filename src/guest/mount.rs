//! Mount policy: the guest's filesystems at their fstab mountpoints (shortest first, `/`
//! always the inspected root), read-only for inspect/check/dry runs; a damaged ext
//! filesystem is never mounted for writing; a broken secondary filesystem is skipped.

use super::launch::Appliance;
use crate::facts::{OsInfo, initsys};
use anyhow::{Context, Result, anyhow, bail};

impl Appliance {
    /// Mounts the guest's filesystems at their mountpoints (shortest first) and fills in
    /// what needs files (the init system). Returns (mountpoint, device) pairs mounted.
    pub fn mount_os(&self, os: &mut OsInfo, readonly: bool) -> Result<Vec<(String, String)>> {
        let mut mps = self.mountpoints(os)?;
        mps.sort_by_key(|(mp, _)| mp.len());
        let mut mounted = Vec::new();
        self.cache.clear();
        for (mp, dev) in mps {
            if !readonly {
                self.refuse_damaged_ext(&dev, &mp)?;
            }
            let r = if readonly {
                self.h.mount_ro(&dev, &mp)
            } else {
                self.h.mount(&dev, &mp)
            };
            match r {
                Ok(()) => mounted.push((mp, dev)),
                Err(e) if mp == "/" => {
                    return Err(anyhow!(e)).context(format!("mounting the root filesystem {dev}"));
                }
                // A missing or broken secondary filesystem is reported, not fatal.
                Err(_) => continue,
            }
        }
        if os.is_linux() {
            os.init_system = initsys::detect(&self.guest(&crate::ui::Recorder::default()))?;
        }
        Ok(mounted)
    }

    /// The guest's mountpoints: its fstab's, with `/` always the inspected root.
    pub fn mountpoints(&self, os: &OsInfo) -> Result<Vec<(String, String)>> {
        let mut mps = self.fstab_mountpoints(&os.root)?;
        mps.retain(|(mp, _)| mp != "/");
        mps.push(("/".to_string(), os.root.clone()));
        Ok(mps)
    }

    /// Unmounts every guest filesystem (forgetting what was read through them).
    pub fn umount_all(&self) -> Result<()> {
        self.cache.clear();
        self.h
            .umount_all()
            .context("unmounting the guest filesystems")?;
        Ok(())
    }

    /// Writing to an ext filesystem the kernel has marked with errors could make the damage
    /// worse: refuse, and say how to repair it.
    fn refuse_damaged_ext(&self, dev: &str, mp: &str) -> Result<()> {
        let Ok(t) = self.h.vfs_type(dev) else {
            return Ok(());
        };
        if !t.starts_with("ext") {
            return Ok(());
        }
        let fields = self.h.tune2fs_l(dev).unwrap_or_default();
        let state = fields
            .iter()
            .find(|(k, _)| k == "Filesystem state")
            .map(|(_, v)| v.as_str())
            .unwrap_or("");
        if state.contains("error") {
            bail!(
                "{dev} ({mp}): the {t} filesystem is marked as having errors (state \"{state}\"); imgseal will not write to it. \
                 Repair a copy first, e.g. `guestfish -a COPY run : e2fsck {dev} correct:true forceall:true`"
            );
        }
        Ok(())
    }
}
