//! A KVM launch failure remembered across runs.
//!
//! On hosts where `/dev/kvm` exists but qemu cannot use it (a nested or restricted
//! hypervisor: qemu aborts setting an MSR), every automatic launch spent ~4 s failing with
//! KVM before it fell back to TCG. A failure confirmed by the TCG launch that followed is
//! written to `imgseal-kvm-failed.json` in the cache directory (`$IMGSEAL_CACHE_DIR`, else
//! libguestfs's `$cachedir/.guestfs-UID`, where the fast-boot appliance lives too), keyed by
//! what decides whether KVM works: the host kernel release, the qemu version and the CPU
//! model. For 24 hours automatic launches on the same host go straight to TCG;
//! `IMGSEAL_ACCEL=kvm` still tries KVM, and `imgseal doctor` always does and updates the
//! record (a KVM launch that works removes it). A record of another key, an old one, or one
//! that cannot be read is ignored.

use crate::cmd::Cmd;
use crate::ffi::guestfs::Handle;
use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

pub const FILE: &str = "imgseal-kvm-failed.json";
/// How long a failure is believed.
pub const REMEMBER_SECS: u64 = 24 * 3600;

/// What decides whether qemu can use KVM here.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostKey {
    pub kernel: String,
    pub qemu: String,
    pub cpu: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Record {
    #[serde(flatten)]
    pub key: HostKey,
    /// Seconds since the epoch.
    pub failed_at: u64,
    pub reason: String,
}

pub fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Where the record lives (`$IMGSEAL_CACHE_DIR`, else libguestfs's per-user cache
/// directory) and this host's key, from a handle that is never launched.
pub fn locate() -> Result<(PathBuf, HostKey)> {
    let h = Handle::create()?;
    let dir = match std::env::var_os("IMGSEAL_CACHE_DIR").filter(|d| !d.is_empty()) {
        Some(d) => PathBuf::from(d),
        None => {
            Path::new(&h.get_cachedir()?).join(format!(".guestfs-{}", crate::ffi::os::geteuid()))
        }
    };
    Ok((dir, host_key(&h.get_hv()?)))
}

/// This host's key; `hv` is the qemu binary libguestfs runs.
pub fn host_key(hv: &str) -> HostKey {
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .unwrap_or_default()
        .trim()
        .to_string();
    let qemu = Cmd::new(hv)
        .arg("--version")
        .stdout()
        .map(|s| s.lines().next().unwrap_or("").trim().to_string())
        .unwrap_or_default();
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .unwrap_or_default()
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            (k.trim() == "model name").then(|| v.trim().to_string())
        })
        .unwrap_or_default();
    HostKey { kernel, qemu, cpu }
}

/// The failure recorded in `dir` for this key, if it is younger than [`REMEMBER_SECS`].
pub fn remembered(dir: &Path, key: &HostKey, now: u64) -> Option<Record> {
    let text = std::fs::read(dir.join(FILE)).ok()?;
    let r: Record = serde_json::from_slice(&text).ok()?;
    // A record from the future (a clock set back) is not believed either.
    let fresh = r.failed_at <= now + 60 && now.saturating_sub(r.failed_at) < REMEMBER_SECS;
    (r.key == *key && fresh).then_some(r)
}

/// Records a failure, atomically (a temporary file renamed over the record).
pub fn remember(dir: &Path, key: &HostKey, reason: &str, now: u64) -> Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let r = Record {
        key: key.clone(),
        failed_at: now,
        reason: reason.to_string(),
    };
    let mut tmp = tempfile::NamedTempFile::new_in(dir)
        .with_context(|| format!("creating a file in {}", dir.display()))?;
    serde_json::to_writer_pretty(&mut tmp, &r)?;
    tmp.as_file().sync_all()?;
    tmp.persist(dir.join(FILE))
        .map_err(|e| e.error)
        .with_context(|| format!("writing {}", dir.join(FILE).display()))?;
    Ok(())
}

/// Forgets a recorded failure (KVM worked); true if there was one.
pub fn forget(dir: &Path) -> bool {
    std::fs::remove_file(dir.join(FILE)).is_ok()
}

/// How long ago, for a message: `3 min`, `5 h`.
pub fn ago(secs: u64) -> String {
    match secs {
        s if s < 60 => format!("{s} s"),
        s if s < 3600 => format!("{} min", s / 60),
        s => format!("{} h", s / 3600),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> HostKey {
        HostKey {
            kernel: "6.18.44".into(),
            qemu: "QEMU emulator version 10.0.2".into(),
            cpu: "AMD EPYC".into(),
        }
    }

    #[test]
    fn a_failure_is_remembered_for_its_host_for_a_day() {
        let d = tempfile::tempdir().unwrap();
        let t = 1_800_000_000;
        assert_eq!(remembered(d.path(), &key(), t), None);
        remember(d.path(), &key(), "qemu aborted", t).unwrap();
        let r = remembered(d.path(), &key(), t + 3600).unwrap();
        assert_eq!((r.reason.as_str(), r.failed_at), ("qemu aborted", t));
        assert_eq!(remembered(d.path(), &key(), t + REMEMBER_SECS), None);
        assert_eq!(
            remembered(d.path(), &key(), t - 3600),
            None,
            "from the future"
        );
        // Another kernel, qemu or CPU: not this host's record.
        for other in [
            HostKey {
                kernel: "6.1.0".into(),
                ..key()
            },
            HostKey {
                qemu: "QEMU emulator version 9.2".into(),
                ..key()
            },
            HostKey {
                cpu: "Intel Xeon".into(),
                ..key()
            },
        ] {
            assert_eq!(remembered(d.path(), &other, t), None, "{other:?}");
        }
        // Rewritten in place, nothing else left in the directory.
        remember(d.path(), &key(), "again", t + 10).unwrap();
        assert_eq!(
            remembered(d.path(), &key(), t + 20).unwrap().reason,
            "again"
        );
        let names: Vec<_> = std::fs::read_dir(d.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec![FILE]);
        assert!(forget(d.path()));
        assert!(!forget(d.path()));
        assert_eq!(remembered(d.path(), &key(), t + 20), None);
    }

    #[test]
    fn a_corrupt_or_unreadable_record_is_ignored() {
        let d = tempfile::tempdir().unwrap();
        for bad in [
            &b"{not json"[..],
            b"",
            b"{\"kernel\":\"6.18.44\"}",
            &[0xff, 0xfe],
        ] {
            std::fs::write(d.path().join(FILE), bad).unwrap();
            assert_eq!(remembered(d.path(), &key(), 1), None);
        }
        std::fs::remove_file(d.path().join(FILE)).unwrap();
        std::fs::create_dir(d.path().join(FILE)).unwrap();
        assert_eq!(remembered(d.path(), &key(), 1), None);
        // A directory in the way of the record: writing it fails, it does not panic.
        assert!(remember(d.path(), &key(), "x", 1).is_err());
    }

    #[test]
    fn this_hosts_key_names_its_kernel() {
        let k = host_key("/nonexistent/qemu-system-x86_64");
        assert!(!k.kernel.is_empty());
        assert_eq!(k.qemu, "", "no such qemu, no version");
        assert_eq!(ago(59), "59 s");
        assert_eq!(ago(3599), "59 min");
        assert_eq!(ago(7200), "2 h");
    }
}
