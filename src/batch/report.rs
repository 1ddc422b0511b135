//! `imgseal batch-report DIR`: the summaries the shards of one array left in a shared output
//! directory, merged into one summary (schema 1, with `shards`): each image of the batch's
//! plan is ok, failed or skipped as its shard reported it, or missing when its shard left no
//! summary.

use super::shard::{self, Shard};
use super::summary::{ImageResult, ImageStatus, PlannedImage, Summary};
use anyhow::{Context, Result, bail};
use serde::Serialize;
use std::path::{Path, PathBuf};

/// One shard as the report found it.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ShardSeen {
    pub index: u32,
    pub count: u32,
    /// Its summary file; None when the shard left none.
    pub summary: Option<String>,
    pub images: usize,
    pub seconds: Option<f64>,
}

/// The merged summary: the batch summary's fields plus `shards`.
#[derive(Debug, Clone, Serialize)]
pub struct Merged {
    #[serde(flatten)]
    pub summary: Summary,
    pub shards: Vec<ShardSeen>,
}

impl Merged {
    pub fn all_ok(&self) -> bool {
        self.summary.all_ok()
    }
}

/// The shard summaries in `dir` (`.imgseal-shard-I-of-N.json`).
fn summaries(dir: &Path) -> Result<Vec<(PathBuf, Summary)>> {
    let mut out = vec![];
    let rd = std::fs::read_dir(dir)
        .with_context(|| format!("{}: cannot read the output directory", dir.display()))?;
    for e in rd {
        let p = e?.path();
        let name = p
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        if !(name.starts_with(".imgseal-shard-") && name.ends_with(".json")) {
            continue;
        }
        let text =
            std::fs::read_to_string(&p).with_context(|| format!("reading {}", p.display()))?;
        let s: Summary = serde_json::from_str(&text)
            .with_context(|| format!("{}: not an imgseal shard summary", p.display()))?;
        if s.schema != 1 || s.shard.is_none() {
            bail!("{}: not a shard summary of schema 1", p.display());
        }
        out.push((p, s));
    }
    out.sort_by_key(|(_, s)| s.shard.map(|x| x.index));
    Ok(out)
}

/// Merges the shard summaries in `dir`.
pub fn merge(dir: &Path) -> Result<Merged> {
    let found = summaries(dir)?;
    let Some((_, first)) = found.first() else {
        bail!(
            "{}: no shard summaries (.imgseal-shard-I-of-N.json); they are written by `imgseal batch --shard` when a shard ends",
            dir.display()
        );
    };
    let count = first.shard.expect("checked").count;
    if let Some((p, s)) = found
        .iter()
        .find(|(_, s)| s.shard.expect("checked").count != count)
    {
        bail!(
            "{}: a shard of {} where the others are of {count}; remove the summaries of the older array",
            p.display(),
            s.shard.expect("checked").count
        );
    }
    let plan: &[PlannedImage] = &first.plan;
    if let Some((p, _)) = found.iter().find(|(_, s)| s.plan != first.plan) {
        bail!(
            "{}: its plan (the batch's image list) differs from the other shards'; were they run with the same inputs?",
            p.display()
        );
    }
    let mut images = vec![];
    for planned in plan {
        let index = planned.shard.unwrap_or(0);
        let from = found
            .iter()
            .find(|(_, s)| s.shard.map(|x| x.index) == Some(index))
            .and_then(|(_, s)| {
                s.images.iter().find(|r| {
                    Path::new(&r.output)
                        .file_name()
                        .map(|n| n.to_string_lossy().into_owned())
                        .as_deref()
                        == Some(planned.output.as_str())
                })
            });
        images.push(match from {
            Some(r) => r.clone(),
            None => missing(dir, planned, Shard { index, count }),
        });
    }
    let shards = (0..count)
        .map(|i| {
            let f = found
                .iter()
                .find(|(_, s)| s.shard.map(|x| x.index) == Some(i));
            ShardSeen {
                index: i,
                count,
                summary: f.map(|(p, _)| p.to_string_lossy().into_owned()),
                images: plan.iter().filter(|p| p.shard == Some(i)).count(),
                seconds: f.map(|(_, s)| s.seconds),
            }
        })
        .collect();
    let summary = Summary {
        schema: 1,
        images,
        launches: found.iter().map(|(_, s)| s.launches).sum(),
        seconds: found.iter().map(|(_, s)| s.seconds).fold(0.0, f64::max),
        shard: None,
        plan: vec![],
    };
    Ok(Merged { summary, shards })
}

fn missing(dir: &Path, p: &PlannedImage, s: Shard) -> ImageResult {
    let e = super::Entry {
        input: p.input.clone(),
        output: p.output.clone(),
        profile: None,
    };
    let mut r = ImageResult::new(&e, dir, ImageStatus::Missing);
    r.error = Some(format!(
        "shard {s} left no summary ({} missing): it never ran, or has not finished",
        shard::summary_name(s)
    ));
    r
}

/// The merged table: the batch table, then one line per shard.
pub fn render(m: &Merged) -> String {
    let mut s = super::render(&m.summary);
    s.push('\n');
    for sh in &m.shards {
        s.push_str(&format!(
            "shard {}/{}: {} image(s), {}\n",
            sh.index,
            sh.count,
            sh.images,
            match (&sh.summary, sh.seconds) {
                (Some(_), Some(t)) => format!("ran in {t:.0} s"),
                _ => "no summary: never ran or not finished".into(),
            }
        ));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn result(out_dir: &Path, output: &str, status: ImageStatus) -> ImageResult {
        ImageResult {
            input: format!("/in/{output}"),
            output: out_dir.join(output).to_string_lossy().into_owned(),
            status,
            error: None,
            seconds: 1.0,
            sha256: None,
            os: None,
            rules_fixed: vec![],
            size: None,
            images_per_launch: Some(1),
            log: String::new(),
            suite: None,
        }
    }

    fn write_shard(dir: &Path, s: Shard, plan: &[PlannedImage], status: ImageStatus) {
        let images = plan
            .iter()
            .filter(|p| p.shard == Some(s.index))
            .map(|p| result(dir, &p.output, status))
            .collect();
        let sum = Summary {
            schema: 1,
            images,
            launches: 1,
            seconds: 10.0 + f64::from(s.index),
            shard: Some(s),
            plan: plan.to_vec(),
        };
        std::fs::write(
            dir.join(shard::summary_name(s)),
            serde_json::to_string(&sum).unwrap(),
        )
        .unwrap();
    }

    #[test]
    fn shards_merge_and_a_shard_that_never_ran_makes_its_images_missing() {
        let d = tempfile::tempdir().unwrap();
        let entries: Vec<super::super::Entry> = (0..6)
            .map(|i| super::super::Entry {
                input: format!("/in/d{i}.qcow2"),
                output: format!("d{i}.qcow2"),
                profile: None,
            })
            .collect();
        let plan = super::super::plan(&entries, Some(Shard { index: 0, count: 3 }));
        assert!(
            merge(d.path())
                .unwrap_err()
                .to_string()
                .contains("no shard summaries")
        );
        write_shard(
            d.path(),
            Shard { index: 0, count: 3 },
            &plan,
            ImageStatus::Ok,
        );
        write_shard(
            d.path(),
            Shard { index: 2, count: 3 },
            &plan,
            ImageStatus::Skipped,
        );
        let m = merge(d.path()).unwrap();
        assert_eq!(m.summary.images.len(), 6);
        assert!(!m.all_ok());
        for (p, r) in plan.iter().zip(&m.summary.images) {
            let want = match p.shard {
                Some(0) => ImageStatus::Ok,
                Some(2) => ImageStatus::Skipped,
                _ => ImageStatus::Missing,
            };
            assert_eq!(r.status, want, "{}", p.output);
        }
        assert_eq!(m.shards.len(), 3);
        assert!(m.shards[1].summary.is_none());
        let text = render(&m);
        assert!(
            text.contains("shard 1/3") && text.contains("never ran"),
            "{text}"
        );
        let j = serde_json::to_value(&m).unwrap();
        assert_eq!(j["schema"], 1);
        assert_eq!(j["shards"].as_array().unwrap().len(), 3);
        // The missing shard arrives: everything is done.
        write_shard(
            d.path(),
            Shard { index: 1, count: 3 },
            &plan,
            ImageStatus::Ok,
        );
        assert!(merge(d.path()).unwrap().all_ok());
        // A summary of another array (another count) is refused, naming it.
        write_shard(
            d.path(),
            Shard { index: 0, count: 2 },
            &plan,
            ImageStatus::Ok,
        );
        let e = merge(d.path()).unwrap_err().to_string();
        assert!(e.contains("-of-2.json") || e.contains("of 2"), "{e}");
    }
}
