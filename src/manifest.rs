//! `OUTPUT.manifest.json` (a contract, schema 1): where an image came from and what was done
//! to it — input hash, profile and its hash, vendor packages, each operation's changes, the
//! before/after reports, seconds per stage, and the host's tool versions.

use crate::checks::Report;
use crate::digest::Sha256Digest;
use crate::ops::OpResult;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

pub const SCHEMA: u32 = 1;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Manifest {
    pub schema: u32,
    pub tool: Tool,
    /// UTC, RFC 3339.
    pub created: String,
    pub input: InputInfo,
    pub output: OutputInfo,
    pub profile: ProfileInfo,
    pub vendor_packages: Vec<VendorUse>,
    pub operations: Vec<OpResult>,
    pub finalize: Vec<String>,
    pub before: Report,
    pub after: Report,
    /// Seconds per stage, and `total`.
    pub seconds: BTreeMap<String, f64>,
    pub host: HostInfo,
    pub appliance: ApplianceInfo,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Tool {
    pub name: String,
    pub version: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct InputInfo {
    pub path: String,
    pub format: String,
    pub virtual_size: u64,
    /// SHA-256 of the input file; null for an NBD input.
    pub sha256: Option<Sha256Digest>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct OutputInfo {
    pub path: String,
    pub format: String,
    /// Bytes of the output file.
    pub size: u64,
    pub virtual_size: u64,
    pub sha256: Sha256Digest,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub md5: Option<String>,
    /// SHA-256 of the guest-visible disk bytes (stable across container formats).
    pub content_sha256: Sha256Digest,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ProfileInfo {
    pub name: String,
    pub source: String,
    pub sha256: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct VendorUse {
    pub file: String,
    pub sha256: Sha256Digest,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct HostInfo {
    pub kernel: String,
    pub qemu: String,
    pub libguestfs: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ApplianceInfo {
    pub accel: String,
    pub launch_seconds: f64,
    /// Whether imgseal's fast-boot copy of the appliance ran (TCG launches).
    #[serde(default)]
    pub fast_boot: bool,
    /// Images the one appliance launch served: always 1 (kept in the contract from when a
    /// batch could share a launch).
    #[serde(default = "one")]
    pub images_per_launch: usize,
}

fn one() -> usize {
    1
}

/// The host's kernel release, qemu version and libguestfs version.
pub fn host_info() -> HostInfo {
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .unwrap_or_default()
        .trim()
        .to_string();
    let qemu = crate::cmd::Cmd::new("qemu-img")
        .arg("--version")
        .stdout()
        .map(|s| s.lines().next().unwrap_or("").to_string())
        .unwrap_or_default();
    let libguestfs = crate::ffi::guestfs::Handle::create()
        .and_then(|h| h.version())
        .map(|v| v.to_string())
        .unwrap_or_default();
    HostInfo {
        kernel,
        qemu,
        libguestfs,
    }
}

/// Now in UTC as RFC 3339 (seconds), without a date crate.
pub fn now_rfc3339() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    rfc3339(secs)
}

pub fn rfc3339(secs: u64) -> String {
    let days = (secs / 86400) as i64;
    let rem = secs % 86400;
    // Civil from days (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = if m <= 2 { y + 1 } else { y };
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        (rem % 3600) / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_dates() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339(1_795_620_000), "2026-11-25T15:20:00Z");
    }
}
