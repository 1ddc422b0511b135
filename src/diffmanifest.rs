//! `imgseal diff-manifest A B`: whether two conversions did the same thing (their tree
//! digests match) and which of the things that could make them differ did: the input, the
//! profile, the vendor packages, the operations, and the environment (imgseal, libguestfs,
//! qemu, the appliance kernel, the container image and its base snapshot). It reads two
//! manifests and nothing else: an auditor needs no image to compare two conversions.

use crate::manifest::Manifest;
use anyhow::{Context, Result, bail};
use serde::Serialize;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Serialize)]
pub struct Field {
    pub name: &'static str,
    pub same: bool,
    pub a: String,
    pub b: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct ManifestDiff {
    pub schema: u32,
    pub a: String,
    pub b: String,
    /// The exit status's answer: 0 when true, 1 when false.
    pub tree_digest_match: bool,
    pub tree_sha256: [String; 2],
    /// Everything that could make two conversions differ, each compared.
    pub fields: Vec<Field>,
}

/// A manifest given as itself or as the image it sits beside.
pub fn manifest_path(p: &Path) -> PathBuf {
    if p.to_string_lossy().ends_with(".manifest.json") {
        p.to_path_buf()
    } else {
        crate::seal::OutputPaths::new(p).manifest()
    }
}

pub fn load(p: &Path) -> Result<Manifest> {
    let path = manifest_path(p);
    let text = std::fs::read_to_string(&path).with_context(|| {
        format!(
            "{}: reading the manifest (give OUTPUT.manifest.json or the OUTPUT beside it)",
            path.display()
        )
    })?;
    let m: Manifest = serde_json::from_str(&text)
        .with_context(|| format!("{}: not an imgseal manifest", path.display()))?;
    if !crate::manifest::READS.contains(&m.schema) {
        bail!(
            "{}: manifest schema {} is not supported (imgseal reads schemas {:?})",
            path.display(),
            m.schema,
            crate::manifest::READS
        );
    }
    if m.output.tree_sha256.is_none() {
        bail!(
            "{}: records no tree digest (written by an imgseal older than it); `imgseal verify --deep` on its image computes one",
            path.display()
        );
    }
    Ok(m)
}

/// The comparison of two manifests (both must record a tree digest).
pub fn diff(a_path: &Path, a: &Manifest, b_path: &Path, b: &Manifest) -> ManifestDiff {
    let tree = |m: &Manifest| {
        m.output
            .tree_sha256
            .map(|d| d.to_string())
            .unwrap_or_default()
    };
    let (ta, tb) = (tree(a), tree(b));
    let mut fields = Vec::new();
    let mut field = |name: &'static str, a: String, b: String| {
        fields.push(Field {
            name,
            same: a == b,
            a,
            b,
        })
    };
    let input = |m: &Manifest| {
        m.input
            .sha256
            .map(|d| d.to_string())
            .unwrap_or_else(|| "- (an NBD input: not hashed)".into())
    };
    field("input sha256", input(a), input(b));
    let profile = |m: &Manifest| format!("{} sha256:{}", m.profile.name, m.profile.sha256);
    field("profile", profile(a), profile(b));
    let vendor = |m: &Manifest| {
        let v: Vec<String> = m
            .vendor_packages
            .iter()
            .map(|p| format!("{} sha256:{}", p.file, p.sha256))
            .collect();
        if v.is_empty() {
            "none".into()
        } else {
            v.join(", ")
        }
    };
    field("vendor packages", vendor(a), vendor(b));
    let ops = |m: &Manifest| {
        m.operations
            .iter()
            .map(|o| format!("{} {}", o.id, o.status.as_str()))
            .collect::<Vec<_>>()
            .join(", ")
    };
    field("operations", ops(a), ops(b));
    let env = |m: &Manifest| {
        m.environment
            .as_ref()
            .map(|e| e.fields())
            .unwrap_or_default()
    };
    let (ea, eb) = (env(a), env(b));
    for name in [
        "imgseal",
        "libguestfs",
        "qemu",
        "appliance kernel",
        "container",
        "container image",
        "container content",
        "base snapshot",
    ] {
        let get = |e: &[(&str, String)]| {
            e.iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| v.clone())
                .unwrap_or_else(|| "not recorded".into())
        };
        field(name, get(&ea), get(&eb));
    }
    let content = |m: &Manifest| m.output.content_digest.to_string();
    field("disk content digest", content(a), content(b));
    ManifestDiff {
        schema: 1,
        a: manifest_path(a_path).display().to_string(),
        b: manifest_path(b_path).display().to_string(),
        tree_digest_match: !ta.is_empty() && ta == tb,
        tree_sha256: [ta, tb],
        fields,
    }
}

/// The text `diff-manifest` prints.
pub fn render(d: &ManifestDiff) -> String {
    let mut s = String::new();
    if d.tree_digest_match {
        s.push_str(&format!("tree digest: same ({})\n", d.tree_sha256[0]));
    } else {
        s.push_str(&format!(
            "tree digest: DIFFERS\n  A {}  {}\n  B {}  {}\n",
            d.tree_sha256[0], d.a, d.tree_sha256[1], d.b
        ));
    }
    let w = d.fields.iter().map(|f| f.name.len()).max().unwrap_or(0);
    for f in &d.fields {
        if f.same {
            s.push_str(&format!("  same     {:w$}  {}\n", f.name, f.a));
        } else {
            s.push_str(&format!(
                "  DIFFERS  {:w$}  A: {}\n           {:w$}  B: {}\n",
                f.name, f.a, "", f.b
            ));
        }
    }
    if !d.tree_digest_match && d.fields.iter().take(4).all(|f| f.same) {
        s.push_str("  (same input, profile, vendor packages and operations: the environment or a guest program's non-determinism made the difference)\n");
    }
    s
}
