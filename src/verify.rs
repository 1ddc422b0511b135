//! `imgseal verify OUTPUT [--deep]`: re-hash an output against its `.sha256` sidecar and its
//! manifest (schema 1 or 2); `--deep` also recomputes the content digest with the algorithm
//! the manifest names, re-runs the checks and recomputes the tree digest (one launch).

use crate::manifest::Manifest;
use crate::seal::{self, OutputPaths};
use crate::ui::Reporter;
use anyhow::{Context, Result, bail};
use serde::Serialize;
use std::path::Path;

#[derive(Debug, Clone, Serialize)]
pub struct Verification {
    pub schema: u32,
    pub image: String,
    pub ok: bool,
    /// What was compared: `sha256 file`, `manifest sha256`, `size`, `format`, ...
    pub checked: Vec<String>,
    /// Each mismatch, saying what differs.
    pub mismatches: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub report: Option<crate::checks::Report>,
    /// The manifest's boot test (`convert --boot-test`), as recorded at conversion.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub boot_test: Option<crate::boot::BootTest>,
    /// The tree digest the manifest records (absent in manifests older than it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tree_sha256: Option<crate::digest::Sha256Digest>,
    /// The environment the manifest records (absent in manifests older than it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub environment: Option<crate::manifest::Environment>,
}

pub fn run(image: &Path, deep: bool, rep: &dyn Reporter) -> Result<Verification> {
    if !image.is_file() {
        bail!("{}: no such image file", image.display());
    }
    let paths = OutputPaths::new(image);
    let name = paths.file_name();
    let mut v = Verification {
        schema: 1,
        image: image.display().to_string(),
        ok: true,
        checked: vec![],
        mismatches: vec![],
        report: None,
        boot_test: None,
        tree_sha256: None,
        environment: None,
    };
    let manifest_text = std::fs::read_to_string(paths.manifest()).with_context(|| {
        format!(
            "{}: reading the manifest (imgseal writes it beside every output)",
            paths.manifest().display()
        )
    })?;
    let m: Manifest = serde_json::from_str(&manifest_text)
        .with_context(|| format!("{}: not an imgseal manifest", paths.manifest().display()))?;
    if !crate::manifest::READS.contains(&m.schema) {
        bail!(
            "{}: manifest schema {} is not supported (imgseal reads schemas {:?})",
            paths.manifest().display(),
            m.schema,
            crate::manifest::READS
        );
    }
    v.boot_test = m.boot_test.clone();
    v.tree_sha256 = m.output.tree_sha256;
    v.environment = m.environment.clone();
    let sum_text = std::fs::read_to_string(paths.sha256())
        .with_context(|| format!("reading {}", paths.sha256().display()))?;
    let Some((sum_hex, sum_name)) = sum_text.lines().next().and_then(seal::parse_sum_line) else {
        bail!("{}: not in `sha256sum` form", paths.sha256().display());
    };

    rep.stage("verify", "sha256 of the image");
    let md5 = m.output.md5.is_some() || paths.md5().exists();
    let (sha, md5hex) = seal::hash_file(image, md5, rep)?;
    let mut mismatch = |what: String| v.mismatches.push(what);
    v.checked.push("sha256 sidecar".into());
    if sum_hex.to_ascii_lowercase() != sha.to_string() {
        mismatch(format!(
            "sha256 is {sha}, {} says {sum_hex}",
            paths.sha256().display()
        ));
    }
    if sum_name != name {
        mismatch(format!(
            "{} names {sum_name:?}, not {name:?}",
            paths.sha256().display()
        ));
    }
    v.checked.push("manifest sha256".into());
    if m.output.sha256 != sha {
        mismatch(format!(
            "sha256 is {sha}, the manifest says {}",
            m.output.sha256
        ));
    }
    let size = std::fs::metadata(image)?.len();
    v.checked.push("manifest size".into());
    if m.output.size != size {
        mismatch(format!(
            "size is {size} bytes, the manifest says {}",
            m.output.size
        ));
    }
    if let Some(got) = &md5hex {
        v.checked.push("md5".into());
        let side = std::fs::read_to_string(paths.md5())
            .ok()
            .and_then(|t| t.split_whitespace().next().map(str::to_string));
        if let Some(side) = side {
            if &side != got {
                mismatch(format!(
                    "md5 is {got}, {} says {side}",
                    paths.md5().display()
                ));
            }
        }
        if let Some(mm) = &m.output.md5 {
            if mm != got {
                mismatch(format!("md5 is {got}, the manifest says {mm}"));
            }
        }
    }
    let info = crate::cmd::Cmd::new("qemu-img")
        .args(["info", "--output=json", "-U", "-f", &m.output.format])
        .arg(image)
        .output_any()?;
    v.checked.push("format".into());
    if !info.status.success() {
        mismatch(format!(
            "qemu-img cannot open it as {}: {}",
            m.output.format,
            crate::cmd::stderr_tail(&info.stderr)
        ));
    }
    if deep {
        let work = crate::image::Workdir::new()?;
        rep.stage("verify", "content digest over NBD");
        // The algorithm the manifest names (schema 1: sha256).
        let want = m.output.content_digest;
        let content =
            seal::content_digest(image, &m.output.format, work.path(), want.algorithm, rep)?;
        v.checked.push("content digest".into());
        if content != want {
            mismatch(format!(
                "content digest is {content}, the manifest says {want}"
            ));
        }
        work.close()?;
        let (report, tree) = recheck(image, &m, m.output.tree_sha256.is_some(), rep)?;
        match (m.output.tree_sha256, tree) {
            (Some(want), Some(tree)) => {
                v.checked.push("tree digest".into());
                if want != tree.sha256 {
                    v.mismatches.push(format!(
                        "tree digest is {}, the manifest says {want}",
                        tree.sha256
                    ));
                }
            }
            _ => rep.note(
                "the manifest records no tree digest (--no-tree-digest, or written before imgseal had one): not recomputed",
            ),
        }
        v.checked.push("rules (check re-run)".into());
        if !report.compliant {
            v.mismatches.push(format!(
                "the rules no longer pass: {} fail",
                report.failing_rules.join(", ")
            ));
        }
        v.report = Some(report);
    }
    v.ok = v.mismatches.is_empty();
    Ok(v)
}

/// Re-runs `check` on the output with the profile the manifest names, and computes its tree
/// digest, in one appliance launch.
fn recheck(
    image: &Path,
    m: &Manifest,
    want_tree: bool,
    rep: &dyn Reporter,
) -> Result<(
    crate::checks::Report,
    Option<crate::guest::tree::TreeDigest>,
)> {
    let spec = m
        .profile
        .source
        .strip_prefix("builtin:")
        .unwrap_or(&m.profile.source);
    let prof = crate::profile::load(spec).with_context(|| {
        format!(
            "loading the profile the manifest names ({})",
            m.profile.source
        )
    })?;
    if prof.sha256 != m.profile.sha256 {
        rep.note(&format!("profile {} changed since the conversion (sha256 differs); checking with the current text", m.profile.source));
    }
    let input = crate::image::Input::parse(&image.to_string_lossy())?;
    let attach = crate::image::AttachOpts {
        format: Some(m.output.format.clone()),
        allow_backing: false,
    };
    let s = crate::pipeline::open(&input, &attach, &Default::default(), true, rep)?;
    rep.stage("verify", "re-running the rule checks");
    let report = crate::checks::run_all(
        &crate::checks::Ctx::new(
            &s.guest(rep),
            &s.os,
            &prof.profile,
            Err("not needed to verify".into()),
        ),
        &image.display().to_string(),
        &prof.profile.name,
    );
    let tree = (report.is_ok() && want_tree).then(|| {
        rep.stage("verify", "tree digest of the guest's files");
        s.guest(rep).tree().map(crate::guest::tree::digest)
    });
    // Closed (checked) whatever the checks made of the guest.
    s.close()?;
    let report = report?;
    let tree = tree.transpose()?;
    // Without the vendor dir the vendor-build check skips: the build was verified at
    // conversion and recorded in the manifest.
    Ok((report, tree))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_image_or_manifest_is_an_error() {
        let r = crate::ui::Recorder::default();
        assert!(
            run(Path::new("/nonexistent.qcow2"), false, &r)
                .unwrap_err()
                .to_string()
                .contains("no such image")
        );
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("x.qcow2");
        std::fs::write(&p, b"x").unwrap();
        let e = format!("{:#}", run(&p, false, &r).unwrap_err());
        assert!(
            e.contains("x.qcow2.manifest.json: reading the manifest"),
            "{e}"
        );
    }
}
