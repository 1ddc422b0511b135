//! Root finding: imgseal's own inspection (see [`super::inspect`]) run once per appliance,
//! every root with its fstab mountpoints resolved to appliance devices, and the one root an
//! image must have.

use super::inspect::{self, BlockFs, Named};
use super::launch::Appliance;
use super::memo::Root;
use crate::facts::OsInfo;
use crate::ffi::guestfs::Handle;
use crate::guest::fs::GuestFs;
use crate::ui::Reporter;
use anyhow::{Context, Result, bail};
use std::collections::HashMap;

impl Appliance {
    /// The one operating system on the disk. No OS or several are errors that say what to do.
    /// When imgseal's fast inspection finds no root, libguestfs's is asked (and `rep` told).
    pub fn inspect(&self, image: &str, rep: &dyn Reporter) -> Result<OsInfo> {
        let mut found = self.found()?;
        if found.is_empty() {
            found = self.found_by_libguestfs(image, rep)?;
        }
        if found.is_empty() {
            return Err(self.explain_no_os(image));
        }
        let roots: Vec<String> = found.iter().map(|r| r.os.root.clone()).collect();
        let root = single_root(image, &roots)?;
        match found.into_iter().find(|r| r.os.root == root) {
            Some(r) => Ok(r.os),
            None => bail!("{image}: no operating system found on {root}"),
        }
    }

    /// Every block device's filesystem type (see [`inspect::list_filesystems`]).
    pub fn filesystems(&self) -> Result<Vec<BlockFs>> {
        if let Some(f) = self.filesystems.borrow().as_ref() {
            return Ok(f.clone());
        }
        let f = inspect::list_filesystems(&self.h).context("listing the filesystems")?;
        *self.filesystems.borrow_mut() = Some(f.clone());
        Ok(f)
    }

    /// A filesystem's UUID (None when it has none or cannot say), asked once per appliance.
    pub fn uuid(&self, dev: &str) -> Option<String> {
        self.fs_id("uuid", dev, Handle::vfs_uuid)
    }

    /// A filesystem's label (None when it has none), asked once per appliance.
    pub fn label(&self, dev: &str) -> Option<String> {
        self.fs_id("label", dev, Handle::vfs_label)
    }

    fn fs_id(
        &self,
        kind: &'static str,
        dev: &str,
        ask: fn(&Handle, &str) -> crate::ffi::guestfs::Result<String>,
    ) -> Option<String> {
        let key = (kind, dev.to_string());
        if let Some(v) = self.ids.borrow().get(&key) {
            return v.clone();
        }
        let v = ask(&self.h, dev).ok().filter(|s| !s.is_empty());
        self.ids.borrow_mut().insert(key, v.clone());
        v
    }

    /// Inspection (once per appliance): each filesystem that can hold a root is mounted
    /// read-only at `/`, examined and unmounted again. A btrfs filesystem whose default
    /// subvolume holds no root is examined subvolume by subvolume; a separate `/usr` the
    /// candidate's fstab names is mounted before it is examined.
    fn found(&self) -> Result<Vec<Root>> {
        if let Some(f) = self.found.borrow().as_ref() {
            return Ok(f.clone());
        }
        let fss = self.filesystems()?;
        self.h
            .umount_all()
            .context("unmounting before inspection")?;
        // Subvolumes of every btrfs filesystem (one daemon call each): roots may live in
        // one, and fstab may name one by id.
        let subvolumes: HashMap<String, Vec<(u64, String)>> = fss
            .iter()
            .filter(|f| f.vfs == "btrfs")
            .map(|f| {
                let list = self.h.btrfs_subvolume_list(&f.dev).unwrap_or_default();
                (f.dev.clone(), list)
            })
            .collect();
        let mut found = Vec::new();
        for f in fss.iter().filter(|f| inspect::may_hold_root(&f.vfs)) {
            if let Some(x) = self.examine_at(&f.dev, &fss, &subvolumes)? {
                found.push(x);
            } else if let Some(list) = subvolumes.get(&f.dev) {
                found.extend(self.subvolume_roots(&f.dev, list, &fss, &subvolumes)?);
            }
        }
        // fstab names filesystems by UUID or label: ask those only when they are used.
        let uses = |p: &[&str]| {
            found.iter().any(|(x, _)| {
                x.fstab
                    .iter()
                    .any(|e| p.iter().any(|p| e.spec.starts_with(p)))
            })
        };
        let (want_uuid, want_label) = (
            uses(&["UUID=", "/dev/disk/by-uuid/"]),
            uses(&["LABEL=", "/dev/disk/by-label/"]),
        );
        let named = self.named(&fss, want_uuid, want_label, &subvolumes);
        let roots: Vec<Root> = found
            .into_iter()
            .map(|(x, usr)| {
                let mut mountpoints = inspect::mountpoints(&x.fstab, &named);
                // CoreOS's /usr is in no fstab: it is mounted where inspection found it.
                if let Some(u) = usr
                    && !mountpoints.iter().any(|(mp, _)| mp == "/usr")
                {
                    mountpoints.push(("/usr".to_string(), u));
                }
                let mut os = x.os;
                if let Some(w) = os.windows.as_mut() {
                    crate::facts::windows::map_drives(&mut w.drives, &self.partition_ids());
                }
                Root { mountpoints, os }
            })
            .collect();
        *self.found.borrow_mut() = Some(roots.clone());
        Ok(roots)
    }

    /// The filesystems fstab can name, with UUIDs and labels when asked for.
    fn named(
        &self,
        fss: &[BlockFs],
        want_uuid: bool,
        want_label: bool,
        subvolumes: &HashMap<String, Vec<(u64, String)>>,
    ) -> Vec<Named> {
        fss.iter()
            .filter(|f| f.vfs != "unknown" && f.vfs != "LVM2_member" && f.vfs != "crypto_LUKS")
            .map(|f| Named {
                dev: f.dev.clone(),
                uuid: want_uuid.then(|| self.uuid(&f.dev)).flatten(),
                label: want_label.then(|| self.label(&f.dev)).flatten(),
                subvolumes: subvolumes.get(&f.dev).cloned().unwrap_or_default(),
            })
            .collect()
    }

    /// Mounts `mountable` (a device or `btrfsvol:DEV/PATH`) read-only at `/`, and the `/usr`
    /// its fstab names when that is another filesystem, examines it, and unmounts both. With
    /// the root found: the `/usr` mounted for it that no fstab names (CoreOS).
    fn examine_at(
        &self,
        mountable: &str,
        fss: &[BlockFs],
        subvolumes: &HashMap<String, Vec<(u64, String)>>,
    ) -> Result<Option<(inspect::Found, Option<String>)>> {
        // Each candidate is a different tree at `/`: no answer about one is kept for the next.
        self.cache.clear();
        if self.h.mount_ro(mountable, "/").is_err() {
            return Ok(None); // not mountable: not a root we could work on either
        }
        let rec = crate::ui::Recorder::default();
        let usr = self.mount_usr(mountable, fss, subvolumes, &rec);
        // What was read of the root alone still holds unless /usr changed under it.
        if usr.is_some() {
            self.cache.clear();
        }
        let r = inspect::examine(&self.guest(&rec));
        self.cache.clear();
        if usr.is_some() {
            self.h
                .umount("/usr")
                .with_context(|| format!("unmounting /usr after inspecting {mountable}"))?;
        }
        self.h
            .umount("/")
            .with_context(|| format!("unmounting {mountable} after inspecting it"))?;
        let Some(mut x) = r.with_context(|| format!("inspecting {mountable}"))? else {
            return Ok(None);
        };
        x.os.root = mountable.to_string();
        Ok(Some((x, usr.flatten())))
    }

    /// A separate `/usr` (CoreOS; servers partitioned the old way): os-release, the
    /// binaries and the package databases of some distributions live there, so it is
    /// mounted read-only before anything is read: the one the root's fstab names, or, on a
    /// CoreOS root (`/etc/coreos/update.conf`, no fstab entry), the filesystem holding
    /// `share/coreos`, as libguestfs finds it. None when nothing was mounted;
    /// `Some(None)` for fstab's, `Some(Some(dev))` for one found without fstab.
    fn mount_usr(
        &self,
        root: &str,
        fss: &[BlockFs],
        subvolumes: &HashMap<String, Vec<(u64, String)>>,
        rec: &crate::ui::Recorder,
    ) -> Option<Option<String>> {
        let g = self.guest(rec);
        if !g.is_dir("/usr").unwrap_or(false) {
            return None;
        }
        let entry = match g.read_text("/etc/fstab") {
            Ok(Some(text)) => crate::parse::fstab::parse(&text)
                .into_iter()
                .find(|e| e.file.trim_end_matches('/') == "/usr" && e.vfstype != "swap"),
            _ => None,
        };
        let Some(e) = entry else {
            if !g.is_file("/etc/coreos/update.conf").unwrap_or(false) {
                return None;
            }
            let root_dev = root.strip_prefix("btrfsvol:").unwrap_or(root);
            for f in fss
                .iter()
                .filter(|f| inspect::may_hold_root(&f.vfs) && !root_dev.starts_with(f.dev.as_str()))
            {
                if self.h.mount_ro(&f.dev, "/usr").is_err() {
                    continue;
                }
                self.cache.clear();
                if self.guest(rec).is_dir("/usr/share/coreos").unwrap_or(false) {
                    return Some(Some(f.dev.clone()));
                }
                let _ = self.h.umount("/usr");
            }
            self.cache.clear();
            return None;
        };
        let by_uuid = e.spec.starts_with("UUID=") || e.spec.starts_with("/dev/disk/by-uuid/");
        let by_label = e.spec.starts_with("LABEL=") || e.spec.starts_with("/dev/disk/by-label/");
        let named = self.named(fss, by_uuid, by_label, subvolumes);
        let dev = inspect::resolve_spec(&e.spec, &named)?;
        let subvols = subvolumes.get(&dev).map(Vec::as_slice).unwrap_or_default();
        self.h
            .mount_ro(&inspect::mountable(&dev, &e.options, subvols), "/usr")
            .ok()
            .map(|()| None)
    }

    /// The roots in a btrfs filesystem's subvolumes (Fedora's `root`, Ubuntu's `@`), as
    /// libguestfs names them (`btrfsvol:/dev/sda2/root`). Snapshots hold roots too: when
    /// several do, the ones whose own fstab mounts that subvolume at `/` are kept.
    fn subvolume_roots(
        &self,
        dev: &str,
        list: &[(u64, String)],
        fss: &[BlockFs],
        subvolumes: &HashMap<String, Vec<(u64, String)>>,
    ) -> Result<Vec<(inspect::Found, Option<String>)>> {
        // Snapshots last; at most 16 subvolumes are looked at.
        let mut order: Vec<&(u64, String)> = list.iter().collect();
        order.sort_by_key(|(_, p)| p.contains("snapshot"));
        let mut roots = Vec::new();
        for (id, path) in order.into_iter().take(16) {
            let m = format!("btrfsvol:{dev}/{path}");
            if let Some(x) = self.examine_at(&m, fss, subvolumes)? {
                roots.push((*id, path.clone(), x));
            }
        }
        if roots.len() > 1 {
            let own: Vec<_> = roots
                .iter()
                .filter(|(id, path, (x, _))| {
                    x.fstab.iter().any(|e| {
                        e.file == "/"
                            && match inspect::subvolume_of(&e.options) {
                                Some(inspect::Subvolume::Path(p)) => p == *path,
                                Some(inspect::Subvolume::Id(i)) => i == *id,
                                None => false,
                            }
                    })
                })
                .cloned()
                .collect();
            if !own.is_empty() {
                roots = own;
            }
        }
        Ok(roots.into_iter().map(|(_, _, x)| x).collect())
    }

    /// libguestfs's own (slow, broad) inspection, for a disk where imgseal's found no root but
    /// some filesystem could hold one: a root in a btrfs subvolume, or a layout imgseal does not
    /// read. Said in one line; what it finds replaces the (empty) fast answer. An encrypted or
    /// filesystem-less disk is not asked: libguestfs could not read it either.
    fn found_by_libguestfs(&self, image: &str, rep: &dyn Reporter) -> Result<Vec<Root>> {
        let Some(why) = self.undecided()? else {
            return Ok(vec![]);
        };
        rep.note(&format!(
            "{image}: imgseal's fast inspection found no root ({why}); asking libguestfs's inspect_os (slower)"
        ));
        self.h
            .umount_all()
            .context("unmounting before libguestfs inspection")?;
        self.cache.clear();
        let roots = self.h.inspect_os().context("libguestfs inspect_os")?;
        let mut found = Vec::new();
        for root in roots {
            let os = os_from_libguestfs(&self.h, &root)
                .with_context(|| format!("libguestfs inspection of {root}"))?;
            let mountpoints = self.h.inspect_get_mountpoints(&root).unwrap_or_default();
            found.push(Root { os, mountpoints });
        }
        *self.found.borrow_mut() = Some(found.clone());
        Ok(found)
    }

    /// Why a disk on which imgseal found no root may still hold one libguestfs finds: a
    /// btrfs filesystem (the root may be a subvolume other than the default), a candidate
    /// that would not mount, or one holding parts of an operating system (a separate `/usr`,
    /// an `/etc` without release files). None for a blank or data-only disk, which keeps
    /// its quick "no operating system" answer.
    fn undecided(&self) -> Result<Option<String>> {
        const TRACES: &[&str] = &[
            "/etc",
            "/usr/lib/os-release",
            "/lib/os-release",
            "/bin",
            "/sbin",
            "/usr/bin",
        ];
        let rec = crate::ui::Recorder::default();
        for f in self
            .filesystems()?
            .iter()
            .filter(|f| inspect::may_hold_root(&f.vfs))
        {
            if f.vfs == "btrfs" {
                return Ok(Some(format!(
                    "{} is btrfs: a root may be in a subvolume",
                    f.dev
                )));
            }
            self.cache.clear();
            if self.h.mount_ro(&f.dev, "/").is_err() {
                return Ok(Some(format!("{} ({}) would not mount", f.dev, f.vfs)));
            }
            let g = self.guest(&rec);
            let mut trace = None;
            for t in TRACES {
                if g.exists(t)? {
                    trace = Some(*t);
                    break;
                }
            }
            self.cache.clear();
            self.h
                .umount("/")
                .with_context(|| format!("unmounting {}", f.dev))?;
            if let Some(t) = trace {
                return Ok(Some(format!(
                    "{} holds {t} but no root imgseal recognises",
                    f.dev
                )));
            }
        }
        Ok(None)
    }

    /// The mountpoints the root's fstab names, resolved to appliance devices.
    pub(super) fn fstab_mountpoints(&self, root: &str) -> Result<Vec<(String, String)>> {
        Ok(self
            .found()?
            .into_iter()
            .find(|r| r.os.root == root)
            .map(|r| r.mountpoints)
            .unwrap_or_default())
    }

    /// How the registry can name each partition of the attached disks (Windows drive
    /// letters): the MBR signature with the start byte, or the GPT partition GUID. A disk
    /// that has no partition table gives none.
    fn partition_ids(&self) -> Vec<crate::facts::windows::PartitionId> {
        let mut out = Vec::new();
        for disk in self.h.list_devices().unwrap_or_default() {
            let Ok(parts) = self.h.part_list(&disk) else {
                continue;
            };
            let gpt = self.h.part_get_parttype(&disk).is_ok_and(|t| t == "gpt");
            let sig = self
                .h
                .pread_device(&disk, 4, 440)
                .ok()
                .and_then(|b| b.try_into().ok())
                .map(u32::from_le_bytes);
            for (num, start) in parts {
                out.push(crate::facts::windows::PartitionId {
                    device: format!("{disk}{num}"),
                    mbr: sig.filter(|_| !gpt).map(|s| (s, start)),
                    gpt_guid: if gpt {
                        self.h.part_get_gpt_guid(&disk, num).ok()
                    } else {
                        None
                    },
                });
            }
        }
        out
    }

    /// Why a disk shows no operating system: an encrypted volume says so by name (libblkid
    /// names LUKS `crypto_LUKS` and a BitLocker volume, Windows's, `BitLocker`).
    pub fn explain_no_os(&self, image: &str) -> anyhow::Error {
        let fss = self.filesystems().unwrap_or_default();
        if let Some(BlockFs { dev, .. }) = fss.iter().find(|f| f.vfs == "BitLocker") {
            return anyhow::anyhow!(
                "{image}: {dev} is a BitLocker-encrypted volume and imgseal works offline without keys; \
                 decrypt it in Windows (`manage-bde -off C:` for the system volume, else that volume's letter, \
                 until `manage-bde -status` says Fully Decrypted), \
                 then run imgseal again"
            );
        }
        let luks = fss.into_iter().find(|f| f.vfs == "crypto_LUKS");
        if let Some(BlockFs { dev, .. }) = luks {
            return anyhow::anyhow!(
                "{image}: the root filesystem is encrypted ({dev} is a LUKS volume); imgseal works offline without keys, so \
                 decrypt the image first"
            );
        }
        anyhow::anyhow!(
            "{image}: no operating system found (a blank or data-only disk); imgseal needs a disk with an installed Linux system"
        )
    }
}

/// The operating system libguestfs's inspection reports for one root.
fn os_from_libguestfs(h: &Handle, root: &str) -> Result<OsInfo> {
    use crate::facts::{OsFamily, PackageFormat};
    use crate::ffi::guestfs::InspectField as F;
    let get = |f: F| h.inspect_get(f, root).unwrap_or_else(|_| "unknown".into());
    let (major, minor) = h.inspect_get_version(root).unwrap_or((0, 0));
    Ok(OsInfo {
        os_type: OsFamily::from_name(&get(F::Type)),
        distro: get(F::Distro),
        major_version: major,
        minor_version: minor,
        arch: get(F::Arch),
        product_name: get(F::ProductName),
        package_format: PackageFormat::from_name(&get(F::PackageFormat)),
        package_management: get(F::PackageManagement),
        init_system: Default::default(),
        hostname: h.inspect_get(F::Hostname, root).unwrap_or_default(),
        root: root.to_string(),
        windows: None,
    })
}

/// The single root of an image; none or several are errors that say what to do.
pub fn single_root(image: &str, roots: &[String]) -> Result<String> {
    match roots {
        [] => bail!(
            "{image}: no operating system found (a blank or data-only disk, or an encrypted root); \
             imgseal needs a disk with an installed Linux system"
        ),
        [one] => Ok(one.clone()),
        many => bail!(
            "{image}: {} operating systems found on one disk ({}); imgseal converts single-OS images only",
            many.len(),
            many.join(", ")
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn root_counts() {
        assert!(
            single_root("x", &[])
                .unwrap_err()
                .to_string()
                .contains("no operating system found")
        );
        assert_eq!(
            single_root("x", &["/dev/sda1".into()]).unwrap(),
            "/dev/sda1"
        );
        let e = single_root("x", &["/dev/sda1".into(), "/dev/sda2".into()])
            .unwrap_err()
            .to_string();
        assert!(e.contains("2 operating systems found on one disk"), "{e}");
    }
}
