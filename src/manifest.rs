//! `OUTPUT.manifest.json` (a contract, schema 2): where an image came from and what was done
//! to it — input hash, profile and its hash, vendor packages, each operation's changes, the
//! before/after reports, seconds per stage, and the host's tool versions.
//!
//! Schema 2 names the content digest's algorithm (`output.content_digest {algorithm,
//! value}`); schema 1 had `output.content_sha256`, the plain SHA-256 of the guest-visible
//! bytes, and still reads (as algorithm `sha256`).

use crate::checks::Report;
use crate::digest::{Algorithm, ContentDigest, Sha256Digest};
use crate::ops::OpResult;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The schema imgseal writes.
pub const SCHEMA: u32 = 2;
/// The schemas imgseal reads (verify, batch --resume).
pub const READS: [u32; 2] = [1, 2];

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
    /// `--boot-test`: the sealed output booted once before it was published (absent when
    /// no boot test ran; added without a schema change: readers that do not know it skip it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub boot_test: Option<crate::boot::BootTest>,
    /// What the conversion ran with, pinned (absent in manifests written before it; added
    /// without a schema change). `imgseal diff-manifest` compares it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub environment: Option<Environment>,
}

/// The environment a conversion ran in: what, besides the input, the profile and the vendor
/// packages, could make two conversions differ.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Environment {
    /// `imgseal --version`: the release and the fingerprint of the source it was built from.
    pub imgseal: String,
    pub libguestfs: String,
    /// `qemu-img --version`'s first line.
    pub qemu: String,
    /// The appliance's kernel (`uname -r` and `-v` inside it).
    pub appliance_kernel: String,
    /// `host`; in a container the image's ID when the runtime tells it, else `unknown`
    /// (see [`container`]).
    pub container: String,
    /// The container image's name, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container_image: Option<String>,
    /// In imgseal's image: the SHA-256 its build wrote to `/etc/imgseal-image-content` over
    /// every installed package and version, the imgseal binary and the base's snapshot date
    /// (the same for two builds from the same inputs, unlike an image ID).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container_content: Option<String>,
    /// The date of the Debian snapshot the container's base image was debootstrapped
    /// from (`IMGSEAL_BASE_SNAPSHOT`, set in the image at build); absent on a host.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base_snapshot: Option<String>,
}

impl Environment {
    /// The fields as (name, value) pairs, for printing and comparing.
    pub fn fields(&self) -> Vec<(&'static str, String)> {
        let opt = |o: &Option<String>| o.clone().unwrap_or_else(|| "-".into());
        vec![
            ("imgseal", self.imgseal.clone()),
            ("libguestfs", self.libguestfs.clone()),
            ("qemu", self.qemu.clone()),
            ("appliance kernel", self.appliance_kernel.clone()),
            ("container", self.container.clone()),
            ("container image", opt(&self.container_image)),
            ("container content", opt(&self.container_content)),
            ("base snapshot", opt(&self.base_snapshot)),
        ]
    }
}

/// The container image imgseal runs in, from what the container tells it: `IMGSEAL_IMAGE_ID`
/// (and `IMGSEAL_IMAGE`) when set (docker gives a container no way to learn its image:
/// pass `-e IMGSEAL_IMAGE_ID=$(docker image inspect -f '{{.Id}}' imgseal)`), else podman's
/// `/run/.containerenv` (`imageid=`, `image=`: podman fills them for `--privileged`
/// containers only); `unknown` in a container without either (imgseal's image sets
/// `IMGSEAL_CONTAINER`, its name); otherwise `host`.
pub fn container() -> (String, Option<String>) {
    let env = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
    let containerenv = std::fs::read_to_string("/run/.containerenv").ok();
    container_from(
        env("IMGSEAL_IMAGE_ID"),
        env("IMGSEAL_IMAGE"),
        containerenv.as_deref(),
        env("IMGSEAL_CONTAINER"),
    )
}

fn container_from(
    id: Option<String>,
    image: Option<String>,
    containerenv: Option<&str>,
    marker: Option<String>,
) -> (String, Option<String>) {
    if let Some(id) = id {
        return (id, image);
    }
    if let Some(t) = containerenv {
        let get = |k: &str| {
            t.lines()
                .filter_map(|l| l.split_once('='))
                .find(|(key, _)| key.trim() == k)
                .map(|(_, v)| v.trim().trim_matches('"').to_string())
                .filter(|v| !v.is_empty())
        };
        if let Some(id) = get("imageid") {
            return (id, get("image"));
        }
    }
    if containerenv.is_some() || marker.is_some() {
        return ("unknown".into(), marker);
    }
    ("host".into(), None)
}

/// The environment of this process (its host tools as `host_info` found them), with the
/// appliance's kernel as the launch reported it.
pub fn environment(host: &HostInfo, appliance_kernel: String) -> Environment {
    let (container, container_image) = container();
    Environment {
        imgseal: env!("IMGSEAL_VERSION").to_string(),
        libguestfs: host.libguestfs.clone(),
        qemu: host.qemu.clone(),
        appliance_kernel,
        container,
        container_image,
        container_content: std::fs::read_to_string("/etc/imgseal-image-content")
            .ok()
            .map(|t| t.trim().to_string())
            .filter(|t| !t.is_empty()),
        base_snapshot: std::env::var("IMGSEAL_BASE_SNAPSHOT")
            .ok()
            .filter(|v| !v.is_empty()),
    }
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
#[serde(try_from = "OutputInfoAnySchema")]
pub struct OutputInfo {
    pub path: String,
    pub format: String,
    /// Bytes of the output file.
    pub size: u64,
    pub virtual_size: u64,
    pub sha256: Sha256Digest,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub md5: Option<String>,
    /// The digest of the guest-visible disk bytes (stable across container formats).
    pub content_digest: ContentDigest,
    /// The tree digest (`guest::tree`, format `imgseal-tree-v1`): every guest file's path,
    /// type, mode, owner, size, link target, security xattrs and content, no times. Equal
    /// for two conversions that did the same thing. Added without a schema change (absent
    /// in manifests written before it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tree_sha256: Option<Sha256Digest>,
}

/// `output` as either schema wrote it.
#[derive(Deserialize)]
struct OutputInfoAnySchema {
    path: String,
    format: String,
    size: u64,
    virtual_size: u64,
    sha256: Sha256Digest,
    #[serde(default)]
    md5: Option<String>,
    #[serde(default)]
    content_digest: Option<ContentDigest>,
    /// Schema 1.
    #[serde(default)]
    content_sha256: Option<Sha256Digest>,
    #[serde(default)]
    tree_sha256: Option<Sha256Digest>,
}

impl TryFrom<OutputInfoAnySchema> for OutputInfo {
    type Error = String;
    fn try_from(o: OutputInfoAnySchema) -> Result<Self, String> {
        let content_digest = match (o.content_digest, o.content_sha256) {
            (Some(d), _) => d,
            (None, Some(value)) => ContentDigest {
                algorithm: Algorithm::Sha256,
                value,
            },
            (None, None) => return Err("output has no content_digest".into()),
        };
        Ok(OutputInfo {
            path: o.path,
            format: o.format,
            size: o.size,
            virtual_size: o.virtual_size,
            sha256: o.sha256,
            md5: o.md5,
            content_digest,
            tree_sha256: o.tree_sha256,
        })
    }
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

/// `SOURCE_DATE_EPOCH` (reproducible-builds.org): unset or empty is None; anything but a
/// non-negative integer number of seconds is an error naming it.
pub fn source_date_epoch() -> anyhow::Result<Option<i64>> {
    parse_source_date_epoch(std::env::var_os("SOURCE_DATE_EPOCH").as_deref())
}

fn parse_source_date_epoch(v: Option<&std::ffi::OsStr>) -> anyhow::Result<Option<i64>> {
    let Some(v) = v.filter(|v| !v.is_empty()) else {
        return Ok(None);
    };
    let s = v.to_string_lossy();
    match s.parse::<i64>() {
        Ok(n) if n >= 0 && s.bytes().all(|b| b.is_ascii_digit()) => Ok(Some(n)),
        _ => anyhow::bail!(
            "SOURCE_DATE_EPOCH={s:?} is not a number of seconds since 1970-01-01 UTC; set it to one (e.g. $(git log -1 --format=%ct)) or unset it"
        ),
    }
}

/// The manifest's `created`: `SOURCE_DATE_EPOCH` when set, else now.
pub fn created(source_date_epoch: Option<i64>) -> String {
    match source_date_epoch {
        Some(s) => rfc3339(s as u64),
        None => now_rfc3339(),
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
    fn output_reads_both_schemas_and_writes_the_new_one() {
        let hex = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
        let old = format!(
            r#"{{"path":"o.qcow2","format":"qcow2","size":1,"virtual_size":2,"sha256":"{hex}","content_sha256":"{hex}"}}"#
        );
        let o: OutputInfo = serde_json::from_str(&old).unwrap();
        assert_eq!(o.content_digest.algorithm, Algorithm::Sha256);
        assert_eq!(o.content_digest.value.to_string(), hex);
        let j = serde_json::to_value(&o).unwrap();
        assert!(j.get("content_sha256").is_none(), "{j}");
        assert_eq!(j["content_digest"]["algorithm"], "sha256");
        assert_eq!(j["content_digest"]["value"], hex);
        let back: OutputInfo = serde_json::from_value(j).unwrap();
        assert_eq!(back.content_digest, o.content_digest);
        let new = format!(
            r#"{{"path":"o","format":"raw","size":1,"virtual_size":2,"sha256":"{hex}","content_digest":{{"algorithm":"blkhash-sha256","value":"{hex}"}}}}"#
        );
        let o: OutputInfo = serde_json::from_str(&new).unwrap();
        assert_eq!(o.content_digest.algorithm, Algorithm::BlkhashSha256);
        let none =
            format!(r#"{{"path":"o","format":"raw","size":1,"virtual_size":2,"sha256":"{hex}"}}"#);
        assert!(serde_json::from_str::<OutputInfo>(&none).is_err());
    }

    #[test]
    fn the_container_is_named_by_what_it_tells() {
        let s = |v: &str| Some(v.to_string());
        let podman = "engine=\"podman-4.3.1\"\nname=\"x\"\nimage=\"localhost/imgseal:latest\"\nimageid=\"3f5a\"\nrootless=0\n";
        assert_eq!(
            container_from(None, None, Some(podman), s("imgseal")),
            ("3f5a".into(), s("localhost/imgseal:latest"))
        );
        assert_eq!(
            container_from(s("sha256:9"), s("imgseal"), Some(podman), None),
            ("sha256:9".into(), s("imgseal"))
        );
        assert_eq!(
            container_from(None, None, None, s("imgseal")),
            ("unknown".into(), s("imgseal"))
        );
        assert_eq!(
            container_from(None, None, None, None),
            ("host".into(), None)
        );
    }

    #[test]
    fn source_date_epoch_is_seconds_or_an_error() {
        use std::ffi::OsStr;
        assert_eq!(parse_source_date_epoch(None).unwrap(), None);
        assert_eq!(parse_source_date_epoch(Some(OsStr::new(""))).unwrap(), None);
        assert_eq!(
            parse_source_date_epoch(Some(OsStr::new("1700000000"))).unwrap(),
            Some(1_700_000_000)
        );
        for bad in ["-1", "+5", "1.5", "yesterday", " 1"] {
            let e = parse_source_date_epoch(Some(OsStr::new(bad)))
                .unwrap_err()
                .to_string();
            assert!(
                e.contains("SOURCE_DATE_EPOCH") && e.contains("seconds"),
                "{e}"
            );
        }
        assert_eq!(created(Some(951_782_400)), "2000-02-29T00:00:00Z");
    }

    #[test]
    fn rfc3339_dates() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339(1_795_620_000), "2026-11-25T15:20:00Z");
    }
}
