//! What the input is: `qemu-img info --output=json`, parsed, and the policy on what imgseal
//! accepts (known container formats, no host files referenced unless asked).

use crate::cmd::Cmd;
use anyhow::{Context, Result, bail};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// Container formats imgseal reads. Everything else (dmg, bochs, cloop, parallels, luks...) is
/// refused: a vendor disk image is one of these.
pub const INPUT_FORMATS: &[&str] = &["raw", "qcow2", "vmdk", "vpc", "vhdx", "vdi", "qed"];

/// An input given on the command line: a file, or an NBD URI served by someone else.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", content = "location", rename_all = "lowercase")]
pub enum Input {
    File(PathBuf),
    Nbd(String),
}

impl Input {
    /// Classifies a command-line argument. NBD URIs are `nbd://host[:port]/export`,
    /// `nbd+tcp://…` or `nbd+unix:///export?socket=PATH`; everything else is a path.
    pub fn parse(raw: &str) -> Result<Input> {
        let shown = crate::ui::printable(raw);
        let arg = raw;
        if arg.starts_with("nbd://") || arg.starts_with("nbd+tcp://") {
            let rest = arg.split_once("://").map(|x| x.1).unwrap_or("");
            if rest.is_empty() || rest.starts_with('/') {
                bail!("{shown}: an nbd:// URI needs a host, e.g. nbd://127.0.0.1:10809/export");
            }
            return Ok(Input::Nbd(arg.to_string()));
        }
        if arg.starts_with("nbd+unix://") {
            if !arg.contains("socket=") {
                bail!(
                    "{shown}: an nbd+unix URI needs ?socket=PATH, e.g. nbd+unix:///export?socket=/run/nbd.sock"
                );
            }
            return Ok(Input::Nbd(arg.to_string()));
        }
        if arg.starts_with("nbd") && arg.contains("://") {
            bail!("{shown}: unsupported NBD URI scheme; use nbd://, nbd+tcp:// or nbd+unix://");
        }
        if arg.is_empty() {
            bail!("the image path is empty");
        }
        let p = PathBuf::from(arg);
        let meta = std::fs::metadata(&p).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => {
                anyhow::anyhow!("{shown}: no such file; give the path of a disk image")
            }
            std::io::ErrorKind::PermissionDenied => {
                anyhow::anyhow!("{shown}: permission denied; imgseal needs to read the image")
            }
            _ => anyhow::anyhow!("{shown}: {e}"),
        })?;
        if meta.is_dir() {
            bail!("{shown} is a directory; give a disk image file (batch takes directories)");
        }
        // Absolute paths keep qemu from reading "a:b" as protocol "a".
        let abs = std::fs::canonicalize(&p).with_context(|| format!("resolving {shown}"))?;
        Ok(Input::File(abs))
    }

    /// The string handed to qemu (an absolute path or the URI).
    pub fn qemu_name(&self) -> String {
        match self {
            Input::File(p) => p.to_string_lossy().into_owned(),
            Input::Nbd(u) => u.clone(),
        }
    }

    /// How to name the input in messages (one line, whatever the file name holds).
    pub fn display(&self) -> String {
        crate::ui::printable(&self.qemu_name()).into_owned()
    }

    pub fn path(&self) -> Option<&Path> {
        match self {
            Input::File(p) => Some(p),
            Input::Nbd(_) => None,
        }
    }
}

/// Names a file's container format from its header (and, for fixed VHD, its footer), the way
/// qemu would, so that every qemu command imgseal runs gets `-f` and qemu never probes.
/// Formats imgseal does not read are named too, to be refused by name.
pub fn detect_format(head: &[u8], tail: &[u8]) -> &'static str {
    let at = |off: usize, magic: &[u8]| head.get(off..off + magic.len()) == Some(magic);
    if at(0, b"QFI\xfb") {
        return match head.get(4..8) {
            Some([0, 0, 0, 1]) => "qcow",
            _ => "qcow2",
        };
    }
    if at(0, b"QED\0") {
        return "qed";
    }
    if at(0x40, &[0x7f, 0x10, 0xda, 0xbe]) {
        return "vdi";
    }
    if at(0, b"KDMV") || at(0, b"COWD") || at(0, b"# Disk DescriptorFile") {
        return "vmdk";
    }
    if at(0, b"vhdxfile") {
        return "vhdx";
    }
    if at(0, b"conectix") || tail.len() >= 512 && tail[tail.len() - 512..].starts_with(b"conectix")
    {
        return "vpc";
    }
    if at(0, b"LUKS\xba\xbe") {
        return "luks";
    }
    if at(0, b"Bochs Virtual HD Image") {
        return "bochs";
    }
    if at(0, b"#!/bin/sh\n#V2.0 Format") {
        return "cloop";
    }
    if at(0, b"WithoutFreeSpace") || at(0, b"WithouFreSpacExt") {
        return "parallels";
    }
    "raw"
}

/// Reads what `detect_format` needs from a file.
pub fn detect_file_format(p: &Path) -> Result<&'static str> {
    use std::io::{Read, Seek, SeekFrom};
    let mut f = std::fs::File::open(p)?;
    let mut head = vec![0u8; 4096];
    let n = f.read(&mut head)?;
    head.truncate(n);
    let len = f.seek(SeekFrom::End(0))?;
    let mut tail = vec![0u8; 512.min(len as usize)];
    if len >= 512 {
        f.seek(SeekFrom::Start(len - 512))?;
        f.read_exact(&mut tail)?;
    }
    Ok(detect_format(&head, &tail))
}

/// The parts of `qemu-img info --output=json` imgseal uses.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub struct QemuImgInfo {
    pub format: String,
    pub virtual_size: u64,
    #[serde(default)]
    pub actual_size: Option<u64>,
    #[serde(default)]
    pub backing_filename: Option<String>,
    #[serde(default)]
    pub full_backing_filename: Option<String>,
    #[serde(default)]
    pub backing_filename_format: Option<String>,
    #[serde(default)]
    pub encrypted: Option<bool>,
    #[serde(default)]
    pub dirty_flag: Option<bool>,
    #[serde(default)]
    pub format_specific: Option<FormatSpecific>,
}

#[derive(Debug, Clone, Deserialize, Default)]
pub struct FormatSpecific {
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub data: serde_json::Value,
}

impl QemuImgInfo {
    pub fn parse(json: &str) -> Result<QemuImgInfo> {
        serde_json::from_str(json).context("parsing qemu-img info JSON")
    }

    /// Host files this image makes qemu open besides itself: the backing file, a qcow2
    /// external data file, vmdk extents stored in other files.
    pub fn referenced_files(&self, own_name: &str) -> Vec<String> {
        let mut out = Vec::new();
        if let Some(b) = &self.backing_filename {
            out.push(b.clone());
        }
        if let Some(fs) = &self.format_specific {
            if let Some(df) = fs.data.get("data-file").and_then(|v| v.as_str()) {
                out.push(df.to_string());
            }
            if fs.kind == "vmdk" {
                if let Some(extents) = fs.data.get("extents").and_then(|v| v.as_array()) {
                    for e in extents {
                        if let Some(f) = e.get("filename").and_then(|v| v.as_str()) {
                            if f != own_name && !out.iter().any(|o| o == f) {
                                out.push(f.to_string());
                            }
                        }
                    }
                }
            }
        }
        out
    }

    pub fn corrupt(&self) -> bool {
        self.format_specific
            .as_ref()
            .and_then(|f| f.data.get("corrupt"))
            .and_then(|v| v.as_bool())
            .unwrap_or(false)
    }
}

/// The probe result imgseal acts on.
#[derive(Debug, Clone, Serialize)]
pub struct Probe {
    pub input: Input,
    /// Always known after a probe; passed explicitly to every qemu tool.
    pub format: String,
    pub virtual_size: u64,
    pub backing: Option<String>,
}

/// Runs `qemu-img info` and applies imgseal's input policy.
pub fn probe(input: &Input, format: Option<&str>, allow_backing: bool) -> Result<Probe> {
    if let Some(f) = format {
        if !INPUT_FORMATS.contains(&f) {
            bail!(
                "--format {f} is not an image format imgseal reads; use one of {}",
                INPUT_FORMATS.join(", ")
            );
        }
    }
    if let Input::File(p) = input {
        let len = std::fs::metadata(p)
            .with_context(|| format!("reading {}", input.display()))?
            .len();
        let is_block = {
            use std::os::unix::fs::FileTypeExt;
            std::fs::metadata(p)?.file_type().is_block_device()
        };
        if len == 0 && !is_block {
            bail!(
                "{}: the file is empty (0 bytes); this is not a disk image",
                input.display()
            );
        }
    }
    let name = input.qemu_name();
    // The format is always explicit: given, raw for an NBD export (it carries guest-visible
    // bytes), or read from the file's header by imgseal itself; qemu never probes.
    let detected = match (input, format) {
        (_, Some(f)) => f,
        (Input::Nbd(_), None) => "raw",
        (Input::File(p), None) => {
            detect_file_format(p).with_context(|| format!("reading {}", input.display()))?
        }
    };
    if !INPUT_FORMATS.contains(&detected) {
        bail!(
            "{}: a {detected} image; imgseal reads {} (convert it with qemu-img first{})",
            input.display(),
            INPUT_FORMATS.join(", "),
            if detected == "luks" {
                ", after decrypting it"
            } else {
                ""
            }
        );
    }
    let cmd = Cmd::new("qemu-img")
        .args(["info", "--output=json", "-U", "-f", detected])
        .timeout(std::time::Duration::from_secs(120));
    let out = cmd.arg(&name).output_any()?;
    if !out.status.success() {
        let err = crate::cmd::stderr_tail(&out.stderr);
        let err = err.strip_prefix("qemu-img: ").unwrap_or(&err).to_string();
        match input {
            Input::Nbd(u) => bail!(
                "{u}: cannot read the NBD export: {err}; check that the NBD server is running and the URI is right"
            ),
            Input::File(_) => bail!(
                "{}: not a readable disk image: {err}; check the file or give --format",
                input.display()
            ),
        }
    }
    let info = QemuImgInfo::parse(&String::from_utf8_lossy(&out.stdout))?;
    check_policy(input, &info, allow_backing)?;
    let p = Probe {
        input: input.clone(),
        format: detected.to_string(),
        virtual_size: info.virtual_size,
        backing: info.backing_filename.clone(),
    };
    // The chain (loops, missing layers) first: qemu-img check would open the backing file.
    if allow_backing {
        check_chain(&p)?;
    }
    if info.format == "qcow2" {
        check_qcow2(input)?;
    }
    Ok(p)
}

/// imgseal's input policy over a parsed probe (pure, so it is unit tested).
pub fn check_policy(input: &Input, info: &QemuImgInfo, allow_backing: bool) -> Result<()> {
    let who = input.display();
    if !INPUT_FORMATS.contains(&info.format.as_str()) {
        bail!(
            "{who}: format '{}' is not one imgseal reads ({}); convert it with qemu-img first",
            info.format,
            INPUT_FORMATS.join(", ")
        );
    }
    if info.encrypted == Some(true) {
        bail!("{who}: the image container is encrypted; decrypt it with qemu-img convert first");
    }
    if info.corrupt() {
        bail!(
            "{who}: qemu-img marks this {} image corrupt; repair it with `qemu-img check -r all` on a copy",
            info.format
        );
    }
    if info.virtual_size == 0 {
        bail!("{who}: the disk's virtual size is 0; this is not a usable disk image");
    }
    let refs = info.referenced_files(&input.qemu_name());
    if !refs.is_empty() && !allow_backing {
        bail!(
            "{who}: the image refers to other files ({}); imgseal refuses backing chains and external files by default \
             (a crafted image could read host files). Flatten it with `qemu-img convert`, or pass --allow-backing if you trust it",
            refs.join(", ")
        );
    }
    if info.backing_filename.is_some() && info.backing_filename_format.is_none() {
        bail!(
            "{who}: the backing file has no recorded format, so qemu would have to guess it; \
             set it with `qemu-img rebase -u -F FORMAT -b BACKING`"
        );
    }
    Ok(())
}

/// `qemu-img check` output (only the counts imgseal acts on).
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub struct QemuImgCheck {
    #[serde(default)]
    pub corruptions: u64,
    #[serde(default)]
    pub check_errors: u64,
    #[serde(default)]
    pub image_end_offset: Option<u64>,
}

/// A damaged qcow2 (truncated, corrupted tables) is refused before it is attached: qemu
/// would read the missing clusters as zeros and the conversion would silently lose data.
/// The metadata walk takes milliseconds even for large images.
pub fn check_qcow2(input: &Input) -> Result<()> {
    // The image alone, its backing file (if any) not opened: `"backing": null`.
    let spec = serde_json::json!({
        "driver": "qcow2",
        "file": { "driver": "file", "filename": input.qemu_name() },
        "backing": null,
    });
    let out = Cmd::new("qemu-img")
        .args(["check", "--output=json", "-U"])
        .arg(format!("json:{spec}"))
        .timeout(std::time::Duration::from_secs(300))
        .output_any()?;
    let c: QemuImgCheck = match serde_json::from_slice(&out.stdout) {
        Ok(c) => c,
        Err(_) => bail!(
            "{}: qemu-img check could not read the qcow2 metadata: {}",
            input.display(),
            crate::cmd::stderr_tail(&out.stderr)
                .lines()
                .last()
                .unwrap_or("")
        ),
    };
    if c.corruptions > 0 || c.check_errors > 0 {
        bail!(
            "{}: the qcow2 image is damaged ({} corrupt clusters, {} check errors; a truncated \
             download looks like this); fetch it again, or repair a copy with `qemu-img check -r all`",
            input.display(),
            c.corruptions,
            c.check_errors
        );
    }
    Ok(())
}

/// Verifies a whole backing chain can be opened (only when --allow-backing is given).
pub fn check_chain(p: &Probe) -> Result<()> {
    if p.backing.is_none() {
        return Ok(());
    }
    let out = Cmd::new("qemu-img")
        .args([
            "info",
            "--output=json",
            "-U",
            "--backing-chain",
            "-f",
            &p.format,
        ])
        .arg(p.input.qemu_name())
        .output_any()?;
    if !out.status.success() {
        bail!(
            "{}: its backing chain cannot be opened: {}",
            p.input.display(),
            crate::cmd::stderr_tail(&out.stderr)
        );
    }
    let chain: Vec<QemuImgInfo> =
        serde_json::from_slice(&out.stdout).context("parsing qemu-img info --backing-chain")?;
    for layer in &chain {
        if layer.backing_filename.is_some() && layer.backing_filename_format.is_none() {
            bail!(
                "{}: a layer of its backing chain has no recorded backing format; refusing to let qemu guess",
                p.input.display()
            );
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const QCOW2_WITH_BACKING: &str = r#"{
        "children": [],
        "backing-filename-format": "raw",
        "virtual-size": 2147483648,
        "filename": "/tmp/o.qcow2",
        "cluster-size": 65536,
        "format": "qcow2",
        "actual-size": 200704,
        "format-specific": {"type": "qcow2", "data": {"compat": "1.1", "compression-type": "zlib",
            "lazy-refcounts": false, "refcount-bits": 16, "corrupt": false, "extended-l2": false}},
        "full-backing-filename": "/etc/passwd",
        "backing-filename": "/etc/passwd",
        "dirty-flag": false
    }"#;

    fn file() -> Input {
        Input::File("/tmp/o.qcow2".into())
    }

    #[test]
    fn parses_qemu_img_info() {
        let i = QemuImgInfo::parse(QCOW2_WITH_BACKING).unwrap();
        assert_eq!(i.format, "qcow2");
        assert_eq!(i.virtual_size, 2 << 30);
        assert_eq!(i.actual_size, Some(200704));
        assert_eq!(i.backing_filename.as_deref(), Some("/etc/passwd"));
        assert_eq!(i.backing_filename_format.as_deref(), Some("raw"));
        assert!(!i.corrupt());
        assert_eq!(i.referenced_files("/tmp/o.qcow2"), vec!["/etc/passwd"]);
    }

    #[test]
    fn backing_file_is_refused_unless_allowed() {
        let i = QemuImgInfo::parse(QCOW2_WITH_BACKING).unwrap();
        let e = check_policy(&file(), &i, false).unwrap_err().to_string();
        assert!(e.contains("refers to other files (/etc/passwd)"), "{e}");
        assert!(e.contains("--allow-backing"), "{e}");
        check_policy(&file(), &i, true).unwrap();
    }

    #[test]
    fn backing_without_format_is_refused_even_when_allowed() {
        let mut i = QemuImgInfo::parse(QCOW2_WITH_BACKING).unwrap();
        i.backing_filename_format = None;
        let e = check_policy(&file(), &i, true).unwrap_err().to_string();
        assert!(e.contains("no recorded format"), "{e}");
    }

    #[test]
    fn external_data_file_and_vmdk_extents_count_as_references() {
        let j = r#"{"format":"qcow2","virtual-size":1048576,
            "format-specific":{"type":"qcow2","data":{"data-file":"/srv/data.raw","corrupt":false}}}"#;
        let i = QemuImgInfo::parse(j).unwrap();
        assert_eq!(i.referenced_files("/x.qcow2"), vec!["/srv/data.raw"]);

        let j = r#"{"format":"vmdk","virtual-size":1048576,
            "format-specific":{"type":"vmdk","data":{"extents":[
                {"filename":"/x.vmdk","format":"FLAT","virtual-size":1048576},
                {"filename":"/etc/shadow","format":"FLAT","virtual-size":1048576}]}}}"#;
        let i = QemuImgInfo::parse(j).unwrap();
        assert_eq!(i.referenced_files("/x.vmdk"), vec!["/etc/shadow"]);
        assert!(check_policy(&Input::File("/x.vmdk".into()), &i, false).is_err());
    }

    #[test]
    fn unknown_format_corrupt_and_zero_size_are_refused() {
        let mut i = QemuImgInfo {
            format: "dmg".into(),
            virtual_size: 1 << 20,
            ..Default::default()
        };
        assert!(
            check_policy(&file(), &i, false)
                .unwrap_err()
                .to_string()
                .contains("format 'dmg'")
        );
        i.format = "raw".into();
        check_policy(&file(), &i, false).unwrap();
        i.virtual_size = 0;
        assert!(
            check_policy(&file(), &i, false)
                .unwrap_err()
                .to_string()
                .contains("virtual size is 0")
        );
        let j = r#"{"format":"qcow2","virtual-size":1048576,
            "format-specific":{"type":"qcow2","data":{"corrupt":true}}}"#;
        let i = QemuImgInfo::parse(j).unwrap();
        assert!(
            check_policy(&file(), &i, false)
                .unwrap_err()
                .to_string()
                .contains("corrupt")
        );
    }

    #[test]
    fn formats_from_headers() {
        let mut q = vec![0u8; 512];
        q[..4].copy_from_slice(b"QFI\xfb");
        q[7] = 3;
        assert_eq!(detect_format(&q, &[]), "qcow2");
        q[7] = 1;
        assert_eq!(detect_format(&q, &[]), "qcow");
        assert_eq!(detect_format(b"QED\0xxxx", &[]), "qed");
        let mut vdi = vec![0u8; 512];
        vdi[0x40..0x44].copy_from_slice(&[0x7f, 0x10, 0xda, 0xbe]);
        assert_eq!(detect_format(&vdi, &[]), "vdi");
        assert_eq!(detect_format(b"KDMV....", &[]), "vmdk");
        assert_eq!(
            detect_format(b"# Disk DescriptorFile\nversion=1", &[]),
            "vmdk"
        );
        assert_eq!(detect_format(b"vhdxfile", &[]), "vhdx");
        let mut footer = vec![0u8; 512];
        footer[..8].copy_from_slice(b"conectix");
        assert_eq!(detect_format(&[0u8; 512], &footer), "vpc");
        assert_eq!(detect_format(b"LUKS\xba\xbe\0\x02", &[]), "luks");
        assert_eq!(detect_format(&[0u8; 4096], &[0u8; 512]), "raw");
        assert_eq!(detect_format(&[], &[]), "raw");
    }

    #[test]
    fn input_classification() {
        assert_eq!(
            Input::parse("nbd://127.0.0.1:10809/disk").unwrap(),
            Input::Nbd("nbd://127.0.0.1:10809/disk".into())
        );
        assert!(Input::parse("nbd+unix:///disk?socket=/run/x.sock").is_ok());
        assert!(
            Input::parse("nbd+unix:///disk")
                .unwrap_err()
                .to_string()
                .contains("socket=")
        );
        assert!(
            Input::parse("nbd:///disk")
                .unwrap_err()
                .to_string()
                .contains("needs a host")
        );
        assert!(
            Input::parse("nbds://h/x")
                .unwrap_err()
                .to_string()
                .contains("unsupported")
        );
        let e = Input::parse("/nonexistent/disk.qcow2")
            .unwrap_err()
            .to_string();
        assert!(e.contains("/nonexistent/disk.qcow2: no such file"), "{e}");
        let d = tempfile::tempdir().unwrap();
        let e = Input::parse(d.path().to_str().unwrap())
            .unwrap_err()
            .to_string();
        assert!(e.contains("is a directory"), "{e}");
    }
}
