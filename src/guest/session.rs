//! One appliance per image: launch (KVM, else TCG), inspection, mounting, and the
//! [`GuestFs`] implementation over the appliance.

use super::fastboot;
use super::fs::{CmdOut, GuestFs, Kind, Meta, join};
use super::inspect::{self, BlockFs, Named};
use crate::facts::{OsInfo, initsys};
use crate::ffi::guestfs::{DriveOpts, Handle};
use crate::ui::Reporter;
use anyhow::{Context, Result, anyhow, bail};
use std::cell::RefCell;
use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

/// How the appliance's qemu is accelerated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Accel {
    Kvm,
    Tcg,
}

impl Accel {
    pub fn name(self) -> &'static str {
        match self {
            Accel::Kvm => "kvm",
            Accel::Tcg => "tcg",
        }
    }
}

/// `IMGSEAL_ACCEL`: `auto` (default: KVM, falling back to TCG once), `kvm`, `tcg`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AccelMode {
    Auto,
    Kvm,
    Tcg,
}

impl AccelMode {
    pub fn from_env() -> Result<AccelMode> {
        Self::parse(
            std::env::var("IMGSEAL_ACCEL").ok().as_deref(),
            std::env::var("LIBGUESTFS_BACKEND_SETTINGS").ok().as_deref(),
        )
    }

    /// `IMGSEAL_ACCEL` and `LIBGUESTFS_BACKEND_SETTINGS` values to a mode.
    pub fn parse(imgseal_accel: Option<&str>, backend_settings: Option<&str>) -> Result<AccelMode> {
        match imgseal_accel {
            None | Some("") | Some("auto") => {
                // A user who already forces TCG for libguestfs gets TCG without a KVM attempt.
                if backend_settings
                    .unwrap_or("")
                    .split(':')
                    .any(|s| s == "force_tcg")
                {
                    Ok(AccelMode::Tcg)
                } else {
                    Ok(AccelMode::Auto)
                }
            }
            Some("kvm") => Ok(AccelMode::Kvm),
            Some("tcg") => Ok(AccelMode::Tcg),
            Some(other) => bail!("IMGSEAL_ACCEL={other} is not one of auto, kvm, tcg"),
        }
    }
}

/// Set once a KVM launch failed in this process: later launches (batch) go straight to TCG.
static KVM_BROKEN: AtomicBool = AtomicBool::new(false);

/// A drive to add: a file name (or NBD export name) and its options, or a scratch disk.
#[derive(Debug, Clone)]
pub enum Drive {
    Image {
        name: String,
        opts: DriveOpts,
    },
    /// A blank disk of this many bytes that lives as long as the appliance.
    Scratch(i64),
}

impl Drive {
    /// An NBD export on a unix socket, raw guest bytes.
    pub fn nbd_unix(socket: &Path, export: &str, readonly: bool) -> Drive {
        Drive::Image {
            name: export.to_string(),
            opts: DriveOpts {
                readonly,
                format: "raw".into(),
                protocol: Some("nbd".into()),
                server: vec![format!("unix:{}", socket.display())],
                discard: (!readonly).then(|| "besteffort".to_string()),
                cachemode: Some("unsafe".into()),
                ..Default::default()
            },
        }
    }

    /// A local image file with an explicit format (tests and `verify --deep`).
    pub fn file(path: &Path, format: &str, readonly: bool) -> Drive {
        Drive::Image {
            name: path.to_string_lossy().into_owned(),
            opts: DriveOpts {
                readonly,
                format: format.into(),
                ..Default::default()
            },
        }
    }
}

#[derive(Debug, Clone, Default)]
pub struct LaunchOpts {
    /// Give the appliance a network (user-mode NAT), for `apt-get install -f` and the like.
    pub network: bool,
    pub memsize_mib: Option<i32>,
}

/// A launched appliance. `shutdown()` must be called to know that writes reached the disks;
/// Drop kills it.
pub struct Appliance {
    h: Handle,
    pub accel: Accel,
    /// Whether imgseal's fast-boot copy of the appliance runs (TCG only).
    pub fast_boot: bool,
    pub launch_secs: f64,
    /// The appliance's qemu is killed if imgseal is interrupted.
    _kill_on_signal: Option<crate::signals::ChildGuard>,
    /// Filesystem listing, asked once (filesystems do not come or go during a session).
    filesystems: RefCell<Option<Vec<BlockFs>>>,
    /// Inspection, done once: every root found, with its fstab mountpoints resolved.
    found: RefCell<Option<Vec<Root>>>,
    /// Filesystem UUIDs and labels asked so far, by (`uuid`|`label`, device).
    ids: RefCell<HashMap<(&'static str, String), Option<String>>>,
}

/// One operating system root found by inspection.
#[derive(Debug, Clone)]
struct Root {
    os: OsInfo,
    mountpoints: Vec<(String, String)>,
}

fn handle_for(accel: Accel, drives: &[Drive], opts: &LaunchOpts) -> Result<Handle> {
    let h = Handle::create()?;
    let mut settings: Vec<String> = h
        .get_backend_settings()
        .unwrap_or_default()
        .into_iter()
        .filter(|s| s != "force_tcg" && s != "force_kvm")
        .collect();
    settings.push(match accel {
        Accel::Kvm => "force_kvm".into(),
        Accel::Tcg => "force_tcg".into(),
    });
    let refs: Vec<&str> = settings.iter().map(String::as_str).collect();
    h.set_backend_settings(&refs)?;
    // Old (CentOS 6) guest binaries call the legacy vsyscall page.
    h.set_append("vsyscall=emulate")?;
    h.set_network(opts.network)?;
    if let Some(m) = opts.memsize_mib {
        h.set_memsize(m)?;
    }
    for d in drives {
        match d {
            Drive::Image { name, opts } => h
                .add_drive(name, opts)
                .with_context(|| format!("adding drive {name}"))?,
            Drive::Scratch(size) => h.add_drive_scratch(*size)?,
        }
    }
    Ok(h)
}

/// The most telling line of a launch error (libguestfs errors can be long).
fn short_reason(e: &anyhow::Error) -> String {
    let s = format!("{e:#}");
    s.lines().next().unwrap_or("").chars().take(200).collect()
}

impl Appliance {
    /// Launches one appliance with the given drives. In auto mode a failed KVM launch is
    /// retried once with TCG, saying so in one line.
    pub fn launch(drives: &[Drive], opts: &LaunchOpts, rep: &dyn Reporter) -> Result<Appliance> {
        let mode = AccelMode::from_env()?;
        let first = match mode {
            AccelMode::Tcg => Accel::Tcg,
            AccelMode::Kvm => Accel::Kvm,
            AccelMode::Auto if KVM_BROKEN.load(Ordering::Relaxed) => Accel::Tcg,
            AccelMode::Auto if !Path::new("/dev/kvm").exists() => Accel::Tcg,
            AccelMode::Auto => Accel::Kvm,
        };
        let t0 = Instant::now();
        match Self::launch_with(first, drives, opts, rep) {
            Ok((h, fast)) => Ok(Appliance::new(h, first, fast, t0)),
            Err(e) if first == Accel::Kvm && mode == AccelMode::Auto => {
                KVM_BROKEN.store(true, Ordering::Relaxed);
                rep.note(&format!(
                    "KVM launch failed ({}); retrying with TCG software emulation (slower)",
                    short_reason(&e)
                ));
                let t0 = Instant::now();
                let (h, fast) =
                    Self::launch_with(Accel::Tcg, drives, opts, rep).map_err(launch_error)?;
                Ok(Appliance::new(h, Accel::Tcg, fast, t0))
            }
            Err(e) => Err(launch_error(e)),
        }
    }

    /// One launch with the given accelerator. Under TCG the fast-boot appliance is used when
    /// there is one (see [`fastboot`]); if it does not start, the stock appliance is launched
    /// instead, saying so. Returns the handle and whether the fast-boot appliance runs.
    fn launch_with(
        accel: Accel,
        drives: &[Drive],
        opts: &LaunchOpts,
        rep: &dyn Reporter,
    ) -> Result<(Handle, bool)> {
        let tcg_fast = accel == Accel::Tcg && fastboot::enabled();
        let ensure = |h: &Handle| match fastboot::ensure(h) {
            Ok(d) => d,
            Err(e) => {
                rep.debug(&format!("no fast-boot appliance: {e:#}"));
                None
            }
        };
        let h = handle_for(accel, drives, opts)?;
        let fast = if tcg_fast { ensure(&h) } else { None };
        let Some(dir) = fast else {
            h.launch()?;
            if tcg_fast {
                // This launch has built (or refreshed) libguestfs's appliance: copy it now,
                // for the next launch.
                ensure(&h);
            }
            return Ok((h, false));
        };
        h.set_path(&dir.to_string_lossy())?;
        let e = match h.launch() {
            Ok(()) => return Ok((h, true)),
            Err(e) => anyhow::Error::from(e),
        };
        drop(h);
        // An interrupted launch is not the copy's fault.
        crate::signals::check()?;
        let reason = short_reason(&e);
        rep.note(&format!(
            "the fast-boot appliance did not start ({reason}); retrying with libguestfs's own appliance"
        ));
        let h = handle_for(accel, drives, opts)?;
        h.launch()?;
        // The stock appliance starts where the copy did not: the copy is at fault, and is
        // not tried again for this stock appliance.
        fastboot::mark_failed(&dir, &reason);
        Ok((h, false))
    }

    fn new(h: Handle, accel: Accel, fast_boot: bool, t0: Instant) -> Appliance {
        let guard = h
            .pid()
            .ok()
            .map(|p| crate::signals::ChildGuard::new(p as u32));
        Appliance {
            h,
            accel,
            fast_boot,
            launch_secs: t0.elapsed().as_secs_f64(),
            _kill_on_signal: guard,
            filesystems: RefCell::default(),
            found: RefCell::default(),
            ids: RefCell::default(),
        }
    }

    /// An appliance with only a small scratch disk (`doctor`).
    pub fn launch_scratch(opts: &LaunchOpts, rep: &dyn Reporter) -> Result<Appliance> {
        Self::launch(&[Drive::Scratch(64 << 20)], opts, rep)
    }

    pub fn handle(&self) -> &Handle {
        &self.h
    }

    /// The one operating system on the disk. No OS or several are errors that say what to do.
    pub fn inspect(&self, image: &str) -> Result<OsInfo> {
        let roots = self.roots()?;
        if roots.is_empty() {
            return Err(self.explain_no_os(image));
        }
        let root = single_root(image, &roots)?;
        self.os_info(image, &root)
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

    /// Every operating system root on every disk.
    pub fn roots(&self) -> Result<Vec<String>> {
        Ok(self.found()?.into_iter().map(|r| r.os.root).collect())
    }

    /// Inspection (once per appliance): each filesystem that can hold a root is mounted
    /// read-only at `/`, examined and unmounted again.
    fn found(&self) -> Result<Vec<Root>> {
        if let Some(f) = self.found.borrow().as_ref() {
            return Ok(f.clone());
        }
        let fss = self.filesystems()?;
        self.h
            .umount_all()
            .context("unmounting before inspection")?;
        let rec = crate::ui::Recorder::default();
        let mut found = Vec::new();
        for f in fss.iter().filter(|f| inspect::may_hold_root(&f.vfs)) {
            if self.h.mount_ro(&f.dev, "/").is_err() {
                continue; // not mountable: not a root we could work on either
            }
            let r = inspect::examine(&self.guest(&rec));
            self.h
                .umount("/")
                .with_context(|| format!("unmounting {} after inspecting it", f.dev))?;
            if let Some(mut x) = r.with_context(|| format!("inspecting {}", f.dev))? {
                x.os.root = f.dev.clone();
                found.push(x);
            }
        }
        // fstab names filesystems by UUID or label: ask those only when they are used.
        let uses = |p: &[&str]| {
            found
                .iter()
                .flat_map(|x| &x.fstab)
                .any(|e| p.iter().any(|p| e.spec.starts_with(p)))
        };
        let (want_uuid, want_label) = (
            uses(&["UUID=", "/dev/disk/by-uuid/"]),
            uses(&["LABEL=", "/dev/disk/by-label/"]),
        );
        let named: Vec<Named> = fss
            .iter()
            .filter(|f| f.vfs != "unknown" && f.vfs != "LVM2_member" && f.vfs != "crypto_LUKS")
            .map(|f| Named {
                dev: f.dev.clone(),
                uuid: want_uuid.then(|| self.uuid(&f.dev)).flatten(),
                label: want_label.then(|| self.label(&f.dev)).flatten(),
            })
            .collect();
        let roots: Vec<Root> = found
            .into_iter()
            .map(|x| Root {
                mountpoints: inspect::mountpoints(&x.fstab, &named),
                os: x.os,
            })
            .collect();
        *self.found.borrow_mut() = Some(roots.clone());
        Ok(roots)
    }

    /// What inspection found on one root (the init system is filled in once mounted).
    pub fn os_info(&self, image: &str, root: &str) -> Result<OsInfo> {
        let Some(r) = self.found()?.into_iter().find(|r| r.os.root == root) else {
            bail!("{image}: no operating system found on {root}");
        };
        Ok(r.os)
    }

    /// The mountpoints the root's fstab names, resolved to appliance devices.
    fn fstab_mountpoints(&self, root: &str) -> Result<Vec<(String, String)>> {
        Ok(self
            .found()?
            .into_iter()
            .find(|r| r.os.root == root)
            .map(|r| r.mountpoints)
            .unwrap_or_default())
    }

    /// Which added drive (0 = the first) a device lives on: `/dev/sdb2` → 1; a logical
    /// volume → the drive holding its volume group's physical volumes.
    pub fn disk_index(&self, dev: &str) -> Option<usize> {
        if let Some(i) = disk_index_of_name(dev) {
            return Some(i);
        }
        let lv = self.h.lvm_canonical_lv_name(dev).ok()?;
        let vg = lv.strip_prefix("/dev/")?.split('/').next()?.to_string();
        let uuids = self.h.vgpvuuids(&vg).ok()?;
        let norm = |u: &str| u.replace('-', "");
        self.h.pvs().ok()?.into_iter().find_map(|pv| {
            let u = self.h.pvuuid(&pv).ok()?;
            uuids
                .iter()
                .any(|x| norm(x) == norm(&u))
                .then(|| disk_index_of_name(&pv))
                .flatten()
        })
    }

    /// Mounts the guest's filesystems at their mountpoints (shortest first) and fills in
    /// what needs files (the init system). Returns (mountpoint, device) pairs mounted.
    pub fn mount_os(
        &self,
        os: &mut OsInfo,
        readonly: bool,
        shared: bool,
    ) -> Result<Vec<(String, String)>> {
        let mut mps = self.mountpoints(os, shared)?;
        mps.sort_by_key(|(mp, _)| mp.len());
        let mut mounted = Vec::new();
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

    /// The guest's mountpoints, each on the guest's own disk. `/` is always the inspected
    /// root. With several disks in one appliance (batch) an fstab entry such as `/dev/sda1`
    /// or a UUID shared by copies of one image can resolve to another disk: such an entry
    /// is mapped back onto the root's disk (the filesystem with the same UUID there, or the
    /// same partition number), or left unmounted.
    pub fn mountpoints(&self, os: &OsInfo, shared: bool) -> Result<Vec<(String, String)>> {
        let mut mps = self.fstab_mountpoints(&os.root)?;
        mps.retain(|(mp, _)| mp != "/");
        mps.push(("/".to_string(), os.root.clone()));
        if !shared {
            return Ok(mps);
        }
        let Some(own) = self.disk_index(&os.root) else {
            return Ok(mps.into_iter().filter(|(mp, _)| mp == "/").collect());
        };
        let own_fs: Vec<String> = self
            .filesystems()?
            .into_iter()
            .map(|f| f.dev)
            .filter(|d| self.disk_index(d) == Some(own))
            .collect();
        let mut out = Vec::new();
        for (mp, dev) in mps {
            if self.disk_index(&dev) == Some(own) {
                out.push((mp, dev));
                continue;
            }
            let by_uuid = self.uuid(&dev).and_then(|u| {
                own_fs
                    .iter()
                    .find(|d| self.uuid(d).as_deref() == Some(u.as_str()))
                    .cloned()
            });
            let by_number = partition_number(&dev).and_then(|n| {
                own_fs
                    .iter()
                    .find(|d| partition_number(d) == Some(n))
                    .cloned()
            });
            if let Some(d) = by_uuid.or(by_number) {
                out.push((mp, d));
            }
        }
        Ok(out)
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

    /// Why a disk shows no operating system: an encrypted volume says so by name.
    pub fn explain_no_os(&self, image: &str) -> anyhow::Error {
        let luks = self
            .filesystems()
            .unwrap_or_default()
            .into_iter()
            .find(|f| f.vfs == "crypto_LUKS");
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

    /// The guest's files, through the appliance.
    pub fn guest<'a>(&'a self, rep: &'a dyn Reporter) -> Guest<'a> {
        Guest {
            h: &self.h,
            rep,
            stats: RefCell::default(),
            lists: RefCell::default(),
            reads: RefCell::default(),
            finds: RefCell::default(),
        }
    }

    /// Unmounts everything and shuts the appliance down; an error means writes may be lost.
    pub fn shutdown(self) -> Result<()> {
        self.h
            .umount_all()
            .context("unmounting the guest filesystems")?;
        self.h
            .shutdown()
            .context("shutting the appliance down (writes may not have reached the disk)")?;
        Ok(())
    }
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

/// The partition number of `/dev/sdb3` (3).
pub fn partition_number(dev: &str) -> Option<u32> {
    let digits: String = dev
        .chars()
        .rev()
        .take_while(|c| c.is_ascii_digit())
        .collect();
    disk_index_of_name(dev)?;
    digits.chars().rev().collect::<String>().parse().ok()
}

/// `/dev/sda1` → 0, `/dev/sdb` → 1, `/dev/sdaa3` → 26 (libguestfs names drives in the order
/// they were added).
pub fn disk_index_of_name(dev: &str) -> Option<usize> {
    let rest = dev
        .strip_prefix("/dev/sd")
        .or_else(|| dev.strip_prefix("/dev/vd"))?;
    let letters: String = rest
        .chars()
        .take_while(|c| c.is_ascii_lowercase())
        .collect();
    if letters.is_empty() || !rest[letters.len()..].chars().all(|c| c.is_ascii_digit()) {
        return None;
    }
    let mut n = 0usize;
    for c in letters.chars() {
        n = n * 26 + (c as usize - 'a' as usize + 1);
    }
    Some(n - 1)
}

fn launch_error(e: anyhow::Error) -> anyhow::Error {
    e.context(
        "launching the libguestfs appliance failed; run `imgseal doctor` \
         (or `libguestfs-test-tool`) to see why",
    )
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
    stats: RefCell<HashMap<String, Option<Meta>>>,
    lists: RefCell<HashMap<String, Vec<String>>>,
    reads: RefCell<HashMap<String, Vec<u8>>>,
    finds: RefCell<HashMap<String, Vec<String>>>,
}

impl Guest<'_> {
    /// Forgets every remembered answer: the guest is about to change.
    fn changing(&self) {
        self.stats.borrow_mut().clear();
        self.lists.borrow_mut().clear();
        self.reads.borrow_mut().clear();
        self.finds.borrow_mut().clear();
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
    fn lstat(&self, path: &str) -> Result<Option<Meta>> {
        if let Some(m) = self.stats.borrow().get(path) {
            return Ok(*m);
        }
        // A name missing from its directory's remembered listing does not exist.
        let dir = super::fs::parent(path);
        let name = path.trim_end_matches('/')[dir.len()..].trim_start_matches('/');
        if !name.is_empty()
            && self
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
        self.stats.borrow_mut().insert(path.to_string(), m);
        Ok(m)
    }

    /// In 1 MiB `pread` calls (well inside the protocol's message limit) until one comes
    /// back empty: a round trip each, where `read_file` costs a download (~70 ms under TCG).
    fn read(&self, path: &str) -> Result<Vec<u8>> {
        if let Some(b) = self.reads.borrow().get(path) {
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
        self.reads
            .borrow_mut()
            .insert(path.to_string(), out.clone());
        Ok(out)
    }

    fn readlink(&self, path: &str) -> Result<String> {
        Ok(self.h.readlink(path)?)
    }

    fn list(&self, dir: &str) -> Result<Vec<String>> {
        if let Some(v) = self.lists.borrow().get(dir) {
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
        self.lists.borrow_mut().insert(dir.to_string(), v.clone());
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

    fn find(&self, dir: &str) -> Result<Vec<String>> {
        if let Some(v) = self.finds.borrow().get(dir) {
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
        self.finds.borrow_mut().insert(dir.to_string(), v.clone());
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
        let known = self.stats.borrow();
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
                let mut stats = self.stats.borrow_mut();
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

    #[test]
    fn disk_indexes_from_device_names() {
        assert_eq!(disk_index_of_name("/dev/sda1"), Some(0));
        assert_eq!(disk_index_of_name("/dev/sdb"), Some(1));
        assert_eq!(disk_index_of_name("/dev/sdz9"), Some(25));
        assert_eq!(disk_index_of_name("/dev/sdaa3"), Some(26));
        assert_eq!(disk_index_of_name("/dev/vdc2"), Some(2));
        assert_eq!(disk_index_of_name("/dev/centos/root"), None);
        assert_eq!(disk_index_of_name("/dev/sda1x"), None);
        assert_eq!(partition_number("/dev/sdb3"), Some(3));
        assert_eq!(partition_number("/dev/sdb"), None);
        assert_eq!(partition_number("/dev/mapper/x1"), None);
    }

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

    #[test]
    fn accel_mode_from_settings() {
        assert_eq!(AccelMode::parse(None, None).unwrap(), AccelMode::Auto);
        assert_eq!(
            AccelMode::parse(Some("auto"), Some("force_tcg")).unwrap(),
            AccelMode::Tcg
        );
        assert_eq!(
            AccelMode::parse(None, Some("a:force_tcg")).unwrap(),
            AccelMode::Tcg
        );
        assert_eq!(
            AccelMode::parse(Some("kvm"), Some("force_tcg")).unwrap(),
            AccelMode::Kvm
        );
        assert_eq!(AccelMode::parse(Some("tcg"), None).unwrap(), AccelMode::Tcg);
        let e = AccelMode::parse(Some("warp"), None)
            .unwrap_err()
            .to_string();
        assert!(e.contains("IMGSEAL_ACCEL=warp"), "{e}");
    }
}
