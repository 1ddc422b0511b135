//! Stage 8: `OUTPUT.partial` is written, checked and hashed, and its manifest is complete but
//! for the timings. A stage that only examines the sealed output (a boot test) takes and
//! gives back a `Sealed`, adding its section to the manifest.

use super::claimed::Claimed;
use super::clock::Clock;
use super::finalized::Finalized;
use super::settings::Shared;
use crate::digest::Sha256Digest;
use crate::image;
use crate::manifest::{self, Manifest};
use crate::seal::{self, OutFormat};
use crate::ui::Reporter;
use anyhow::{Context, Result};
use std::path::Path;
use std::time::Instant;

pub struct Sealed {
    pub manifest: Manifest,
    /// The output being written, still `OUTPUT.partial`.
    pub claimed: Claimed,
    /// The work directory and overlay, removed once published.
    pub disk: image::Attached,
}

impl Sealed {
    /// The overlay written to `OUTPUT.partial` (formats explicit, zero clusters skipped)
    /// and checked; the file's SHA-256 (and MD5) beside the content digest over NBD; the
    /// manifest drafted.
    pub fn seal(
        mut f: Finalized,
        mut claimed: Claimed,
        shared: &Shared,
        clock: &mut Clock,
        rep: &dyn Reporter,
    ) -> Result<Sealed> {
        crate::signals::check()?;
        f.disk.stop_export()?;
        let s = &shared.settings;
        let format = s.out_format.unwrap_or(if claimed.in_place {
            OutFormat::from_qemu(&f.disk.probe.format).unwrap_or(OutFormat::Qcow2)
        } else {
            OutFormat::Qcow2
        });
        let out = claimed.partial.partial();
        seal::check_space(
            out.parent().unwrap_or(Path::new(".")),
            measure(&f.disk.overlay)?,
        )?;
        rep.stage(
            "seal",
            &format!("writing {} ({})", out.display(), format.qemu()),
        );
        seal::convert_image(&f.disk.overlay, &out, format, s.compress, rep)?;
        clock.done("convert");
        // The file's checksum and the content digest read different bytes and are each bound
        // by one core's hashing: they run side by side (progress shows the longer one).
        rep.stage(
            "checksum",
            "sha256 of the output, and the content digest over NBD",
        );
        let (sums, content) = std::thread::scope(|scope| {
            let file = scope.spawn(|| {
                let t0 = Instant::now();
                let r = seal::hash_file(&out, s.md5, &crate::ui::Recorder::default());
                (r, t0.elapsed().as_secs_f64())
            });
            let content =
                seal::content_digest(&out, format.qemu(), f.disk.workdir(), s.digest, rep);
            let sums = file
                .join()
                .map_err(|_| anyhow::anyhow!("the output hashing thread panicked"));
            (sums, content)
        });
        let (sums, file_secs) = sums?;
        let (sha256, md5) = sums?;
        let content_digest = content?;
        clock.record("checksum", file_secs);
        clock.done("content-digest");
        let input_sha256 = claimed.input_sha256()?;
        clock.done("input-hash");
        let size = std::fs::metadata(&out)
            .with_context(|| format!("reading the size of {}", out.display()))?
            .len();
        let output = manifest::OutputInfo {
            path: claimed.target.to_string_lossy().into_owned(),
            format: format.qemu().into(),
            size,
            virtual_size: f.disk.probe.virtual_size,
            sha256,
            md5,
            content_digest,
            tree_sha256: f.tree.as_ref().map(|t| t.sha256),
        };
        let manifest = draft(&f, shared, output, input_sha256);
        Ok(Sealed {
            manifest,
            claimed,
            disk: f.disk,
        })
    }
}

/// The manifest of the sealed output (its `seconds` are filled in when published).
fn draft(
    f: &Finalized,
    shared: &Shared,
    output: manifest::OutputInfo,
    input_sha256: Option<Sha256Digest>,
) -> Manifest {
    let s = &shared.settings;
    let vendor_packages: Vec<manifest::VendorUse> = match (
        &shared.vendor,
        f.ops.iter().any(|r| r.id == "cloud-init-swap"),
    ) {
        (Ok(v), true) => v
            .find("cloud-init", &f.before.os)
            .and_then(|p| {
                p.sha256.parse().ok().map(|sha256| manifest::VendorUse {
                    file: p.file.clone(),
                    sha256,
                })
            })
            .into_iter()
            .collect(),
        _ => vec![],
    };
    let host = manifest::host_info();
    Manifest {
        schema: manifest::SCHEMA,
        tool: manifest::Tool {
            name: "imgseal".into(),
            version: env!("CARGO_PKG_VERSION").into(),
        },
        created: manifest::created(s.source_date_epoch),
        input: manifest::InputInfo {
            path: f.input.display(),
            format: f.disk.probe.format.clone(),
            virtual_size: f.disk.probe.virtual_size,
            sha256: input_sha256,
        },
        output,
        profile: manifest::ProfileInfo {
            name: s.profile.profile.name.clone(),
            source: s.profile.source.clone(),
            sha256: s.profile.sha256.clone(),
        },
        vendor_packages,
        operations: f.ops.clone(),
        finalize: f.notes.clone(),
        before: f.before.clone(),
        after: f.after.clone(),
        seconds: Default::default(),
        host: host.clone(),
        appliance: f.appliance.clone(),
        boot_test: None,
        environment: Some(manifest::environment(&host, f.appliance_kernel.clone())),
    }
}

/// Bytes the output will need, with a margin: `qemu-img measure` as qcow2 (the allocated
/// data plus metadata), which also bounds the sparse raw, vmdk and vhd outputs; qemu-img
/// cannot measure vmdk or vpc directly.
fn measure(overlay: &Path) -> Result<u64> {
    #[derive(serde::Deserialize)]
    struct M {
        required: u64,
    }
    let out = crate::cmd::Cmd::new("qemu-img")
        .args(["measure", "--output=json", "-f", "qcow2", "-O", "qcow2"])
        .arg(overlay)
        .stdout()
        .context("measuring the output size")?;
    let m: M = serde_json::from_str(&out).context("parsing qemu-img measure")?;
    Ok(m.required + m.required / 10 + (16 << 20))
}
