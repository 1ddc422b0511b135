//! The batch summary (schema 1, a contract: scripts parse it) and its table.

use super::plan::Entry;
use crate::pipeline::Outcome;
use crate::ui::human_bytes;
use serde::{Deserialize, Serialize};
use std::path::Path;

/// How one image of a batch ended (serialised as today's strings).
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum ImageStatus {
    Ok,
    Failed,
    /// Already up to date (`--resume`).
    Skipped,
    /// `batch-report` only: its shard left no summary (it never ran, or has not finished).
    Missing,
}

impl ImageStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            ImageStatus::Ok => "ok",
            ImageStatus::Failed => "failed",
            ImageStatus::Skipped => "skipped",
            ImageStatus::Missing => "missing",
        }
    }

    /// Done: converted, or already up to date.
    pub fn is_ok(self) -> bool {
        matches!(self, ImageStatus::Ok | ImageStatus::Skipped)
    }
}

/// One image of a sharded batch's plan: the shard it belongs to.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct PlannedImage {
    pub input: String,
    pub output: String,
    pub shard: Option<u32>,
}

/// One image's line in the summary.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ImageResult {
    pub input: String,
    pub output: String,
    pub status: ImageStatus,
    pub error: Option<String>,
    pub seconds: f64,
    pub sha256: Option<String>,
    pub os: Option<String>,
    /// Rules failing before and passing after.
    pub rules_fixed: Vec<String>,
    pub size: Option<u64>,
    /// 1 when an appliance was launched for this image (every image has its own), null when
    /// it was refused before a launch.
    pub images_per_launch: Option<usize>,
    pub log: String,
    /// The image's `--junit` testsuite, once its conversion ran (not in the JSON contract).
    #[serde(skip)]
    pub suite: Option<crate::junit::Suite>,
}

impl ImageResult {
    /// The result of entry `e` of a batch writing into `out_dir`, with nothing known yet but
    /// where its output (`DIR/NAME`) and its log (`DIR/NAME.log`) go.
    pub fn new(e: &Entry, out_dir: &Path, status: ImageStatus) -> ImageResult {
        ImageResult {
            input: e.input.clone(),
            output: out_dir.join(&e.output).to_string_lossy().into_owned(),
            status,
            error: None,
            seconds: 0.0,
            sha256: None,
            os: None,
            rules_fixed: vec![],
            size: None,
            images_per_launch: None,
            log: out_dir
                .join(format!("{}.log", e.output))
                .to_string_lossy()
                .into_owned(),
            suite: None,
        }
    }

    /// Fills in how a conversion ended.
    pub fn record(&mut self, outcome: &Outcome) {
        match outcome {
            Outcome::Converted(m) => {
                self.status = ImageStatus::Ok;
                self.sha256 = Some(m.output.sha256.to_string());
                self.size = Some(m.output.size);
                self.rules_fixed = m.before.failing_rules.clone();
                self.os = Some(m.before.os.short());
            }
            Outcome::NotCompliant(f) => {
                self.status = ImageStatus::Failed;
                self.error = Some(format!(
                    "rules still fail after the operations: {}",
                    f.after.failing_rules.join(", ")
                ));
                self.os = Some(f.before.os.short());
            }
            Outcome::BootFailed(f) => {
                self.status = ImageStatus::Failed;
                self.error = Some(format!(
                    "the sealed output did not pass its boot test ({}): {}; log {}",
                    f.boot_test.summary(),
                    f.boot_test.failing().join("; "),
                    f.boot_test.log
                ));
                self.os = Some(f.before.os.short());
            }
            Outcome::Planned(_) => self.status = ImageStatus::Ok,
        }
    }

    pub fn fail(&mut self, error: String) {
        self.status = ImageStatus::Failed;
        self.error = Some(error);
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Summary {
    pub schema: u32,
    pub images: Vec<ImageResult>,
    /// Appliance launches (one per image that got that far).
    pub launches: usize,
    pub seconds: f64,
    /// `--shard`: which shard this is (absent otherwise).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shard: Option<super::Shard>,
    /// `--shard`: every image of the batch and its shard.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub plan: Vec<PlannedImage>,
}

impl Summary {
    /// Every image succeeded (converted, or already up to date).
    pub fn all_ok(&self) -> bool {
        self.images.iter().all(|r| r.status.is_ok())
    }
}

/// The summary table.
pub fn render(s: &Summary) -> String {
    let mut rows = vec![[
        "image".to_string(),
        "os".into(),
        "status".into(),
        "rules fixed".into(),
        "seconds".into(),
        "size".into(),
        "sha256".into(),
    ]];
    for r in &s.images {
        rows.push([
            Path::new(&r.input)
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_else(|| r.input.clone()),
            r.os.clone().unwrap_or_else(|| "-".into()),
            r.status.as_str().to_string(),
            if r.rules_fixed.is_empty() {
                "-".into()
            } else {
                r.rules_fixed.join(",")
            },
            format!("{:.0}", r.seconds),
            r.size.map(human_bytes).unwrap_or_else(|| "-".into()),
            r.sha256
                .as_deref()
                .map(|h| h.chars().take(16).collect())
                .unwrap_or_else(|| "-".into()),
        ]);
    }
    let w: Vec<usize> = (0..7)
        .map(|c| rows.iter().map(|r| r[c].chars().count()).max().unwrap_or(0))
        .collect();
    let mut out = String::new();
    for r in &rows {
        let line: Vec<String> = r.iter().zip(&w).map(|(c, w)| format!("{c:<w$}")).collect();
        out.push_str(line.join("  ").trim_end());
        out.push('\n');
    }
    for r in s.images.iter().filter(|r| !r.status.is_ok()) {
        out.push_str(&format!(
            "\n{}: {}\n  log: {}\n",
            r.input,
            r.error.as_deref().unwrap_or("failed"),
            r.log
        ));
    }
    let count = |st| s.images.iter().filter(|r| r.status == st).count();
    let (ok, skipped, failed) = (
        count(ImageStatus::Ok),
        count(ImageStatus::Skipped),
        count(ImageStatus::Failed),
    );
    let converted = s
        .images
        .iter()
        .filter(|r| r.images_per_launch.is_some())
        .count();
    out.push_str(&format!(
        "\n{ok} converted, {skipped} skipped, {failed} failed in {:.0} s; {} appliance launch(es) for {converted} image(s)\n",
        s.seconds, s.launches
    ));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_summary_table_lists_every_image_and_the_failures() {
        let ok = ImageResult {
            input: "/in/centos7.qcow2".into(),
            output: "/out/centos7.qcow2".into(),
            status: ImageStatus::Ok,
            error: None,
            seconds: 61.4,
            sha256: Some("ab".repeat(32)),
            os: Some("centos 7.9".into()),
            rules_fixed: vec!["R2".into(), "R4".into()],
            size: Some(460 << 20),
            images_per_launch: Some(1),
            log: "/out/centos7.qcow2.log".into(),
            suite: None,
        };
        let bad = ImageResult {
            input: "/in/notes.txt".into(),
            status: ImageStatus::Failed,
            error: Some("/in/notes.txt: no partition table".into()),
            sha256: None,
            os: None,
            rules_fixed: vec![],
            size: None,
            images_per_launch: None,
            log: "/out/notes.txt.qcow2.log".into(),
            ..ok.clone()
        };
        let t = render(&Summary {
            schema: 1,
            images: vec![ok, bad],
            launches: 1,
            seconds: 70.0,
            shard: None,
            plan: vec![],
        });
        let lines: Vec<&str> = t.lines().collect();
        assert!(
            lines[0].starts_with("image") && lines[0].contains("rules fixed"),
            "{t}"
        );
        assert!(
            lines[1].starts_with("centos7.qcow2")
                && lines[1].contains("R2,R4")
                && lines[1].contains("abababababababab"),
            "{t}"
        );
        assert!(
            lines[2].starts_with("notes.txt") && lines[2].contains("failed"),
            "{t}"
        );
        assert!(
            t.contains(
                "/in/notes.txt: /in/notes.txt: no partition table\n  log: /out/notes.txt.qcow2.log"
            ),
            "{t}"
        );
        assert!(
            t.trim_end().ends_with(
                "1 converted, 0 skipped, 1 failed in 70 s; 1 appliance launch(es) for 1 image(s)"
            ),
            "{t}"
        );
    }

    #[test]
    fn statuses_serialise_as_the_contract_strings() {
        for (s, want) in [
            (ImageStatus::Ok, "\"ok\""),
            (ImageStatus::Failed, "\"failed\""),
            (ImageStatus::Skipped, "\"skipped\""),
        ] {
            assert_eq!(serde_json::to_string(&s).unwrap(), want);
            assert_eq!(format!("\"{}\"", s.as_str()), want);
        }
    }
}
