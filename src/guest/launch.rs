//! The appliance: drives, launch (KVM, else TCG, with the fast-boot copy under TCG) and the
//! checked shutdown. Inspection is in [`super::roots`], mounting in [`super::mount`], guest
//! file access in [`super::appliance_fs`]: each adds an `impl Appliance` block of its own.

use super::fastboot;
use super::inspect::BlockFs;
use super::kvm_record;
use super::memo::{GuestCache, Root};
use crate::ffi::guestfs::{DriveOpts, Handle};
use crate::ui::Reporter;
use anyhow::{Context, Result, bail};
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

/// `IMGSEAL_ACCEL`: `auto` (default: KVM, falling back to TCG once, and straight to TCG
/// while a KVM failure on this host is remembered: [`kvm_record`]), `kvm`, `tcg`.
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
    /// Try KVM even if a failure of it is remembered (`doctor`), and record the outcome.
    pub fresh_kvm: bool,
}

/// A launched appliance. `shutdown()` must be called to know that writes reached the disks;
/// Drop kills it.
pub struct Appliance {
    pub(super) h: Handle,
    pub accel: Accel,
    /// Whether imgseal's fast-boot copy of the appliance runs (TCG only).
    pub fast_boot: bool,
    pub launch_secs: f64,
    /// The appliance's qemu is killed if imgseal is interrupted.
    _kill_on_signal: Option<crate::signals::ChildGuard>,
    /// Filesystem listing, asked once (filesystems do not come or go during a session).
    pub(super) filesystems: RefCell<Option<Vec<BlockFs>>>,
    /// Inspection, done once: every root found, with its fstab mountpoints resolved.
    pub(super) found: RefCell<Option<Vec<Root>>>,
    /// Filesystem UUIDs and labels asked so far, by (`uuid`|`label`, device).
    pub(super) ids: RefCell<HashMap<(&'static str, String), Option<String>>>,
    /// Guest file answers remembered across the stages of one image (see [`GuestCache`]).
    pub(super) cache: GuestCache,
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
        let auto_kvm = mode == AccelMode::Auto
            && !KVM_BROKEN.load(Ordering::Relaxed)
            && Path::new("/dev/kvm").exists();
        // Where a KVM failure is recorded and this host's key: only asked when it matters.
        let record = || match kvm_record::locate() {
            Ok(r) => Some(r),
            Err(e) => {
                rep.debug(&format!("no KVM failure record: {e:#}"));
                None
            }
        };
        let located = auto_kvm.then(record).flatten();
        let first = match mode {
            AccelMode::Tcg => Accel::Tcg,
            AccelMode::Kvm => Accel::Kvm,
            AccelMode::Auto if !auto_kvm => Accel::Tcg,
            AccelMode::Auto => match &located {
                Some((dir, key)) if !opts.fresh_kvm => {
                    match kvm_record::remembered(dir, key, kvm_record::now()) {
                        Some(r) => {
                            // Said once: later launches of this process go to TCG quietly.
                            KVM_BROKEN.store(true, Ordering::Relaxed);
                            rep.note(&format!(
                                "KVM failed on this host {} ago ({}); using TCG without trying KVM for 24 h \
                                  (IMGSEAL_ACCEL=kvm tries it, `imgseal doctor` re-checks)",
                                kvm_record::ago(kvm_record::now().saturating_sub(r.failed_at)),
                                r.reason
                            ));
                            Accel::Tcg
                        }
                        None => Accel::Kvm,
                    }
                }
                _ => Accel::Kvm,
            },
        };
        let t0 = Instant::now();
        match Self::launch_with(first, drives, opts, rep) {
            Ok((h, fast)) => {
                if first == Accel::Kvm {
                    // KVM works (again): nothing to remember.
                    let dir = located.map(|(d, _)| d).or_else(|| record().map(|(d, _)| d));
                    if dir.is_some_and(|d| kvm_record::forget(&d)) {
                        rep.debug("KVM launched: the recorded KVM failure is removed");
                    }
                }
                Ok(Appliance::new(h, first, fast, t0))
            }
            Err(e) if first == Accel::Kvm && mode == AccelMode::Auto => {
                KVM_BROKEN.store(true, Ordering::Relaxed);
                // An interrupted launch says nothing about KVM.
                crate::signals::check()?;
                let reason = short_reason(&e);
                rep.note(&format!(
                    "KVM launch failed ({reason}); retrying with TCG software emulation (slower)"
                ));
                let t0 = Instant::now();
                let (h, fast) =
                    Self::launch_with(Accel::Tcg, drives, opts, rep).map_err(launch_error)?;
                // TCG started where KVM did not: KVM is at fault, and later runs on this
                // host need not try it.
                if let Some((dir, key)) = located {
                    match kvm_record::remember(&dir, &key, &reason, kvm_record::now()) {
                        Ok(()) => rep.debug(&format!(
                            "KVM failure recorded in {}",
                            dir.join(kvm_record::FILE).display()
                        )),
                        Err(e) => rep.debug(&format!("KVM failure not recorded: {e:#}")),
                    }
                }
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
        rep.debug(&format!("launching the appliance with {}", accel.name()));
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
            cache: GuestCache::default(),
        }
    }

    /// An appliance with only a small scratch disk (`doctor`).
    pub fn launch_scratch(opts: &LaunchOpts, rep: &dyn Reporter) -> Result<Appliance> {
        Self::launch(&[Drive::Scratch(64 << 20)], opts, rep)
    }

    pub fn handle(&self) -> &Handle {
        &self.h
    }

    /// Unmounts everything and shuts the appliance down; an error means writes may be lost.
    pub fn shutdown(self) -> Result<()> {
        self.cache.clear();
        self.h
            .umount_all()
            .context("unmounting the guest filesystems")?;
        self.h
            .shutdown()
            .context("shutting the appliance down (writes may not have reached the disk)")?;
        Ok(())
    }
}

fn launch_error(e: anyhow::Error) -> anyhow::Error {
    e.context(
        "launching the libguestfs appliance failed; run `imgseal doctor` \
         (or `libguestfs-test-tool`) to see why",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

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
