//! `batch --shard I/N`: one array task's share of a batch. The partition is by a hash of each
//! output's name, so every host computes the same shards whatever order the inputs were
//! listed in or a directory was read; every image is in exactly one shard. `--shard auto`
//! takes the index and count from the array engine running the task (Slurm, Kubernetes
//! Indexed Jobs, AWS Batch).

use super::plan::Entry;
use anyhow::{Result, bail};
use serde::{Deserialize, Serialize};
use sha2::Digest as _;

/// Shard `index` of `count` (0-based).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Shard {
    pub index: u32,
    pub count: u32,
}

impl std::fmt::Display for Shard {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

/// The shard an output name belongs to among `count`: the first 8 bytes of its SHA-256, big
/// endian, modulo `count`.
pub fn of(output: &str, count: u32) -> u32 {
    let d = sha2::Sha256::digest(output.as_bytes());
    let h = u64::from_be_bytes(d[..8].try_into().expect("8 bytes"));
    (h % u64::from(count.max(1))) as u32
}

impl Shard {
    /// `I/N` with 0 <= I < N.
    pub fn parse(s: &str) -> Result<Shard> {
        let Some((i, n)) = s.split_once('/') else {
            bail!("--shard {s:?}: give INDEX/COUNT (0-based, e.g. 0/4) or auto");
        };
        let (Ok(index), Ok(count)) = (i.trim().parse::<u32>(), n.trim().parse::<u32>()) else {
            bail!("--shard {s:?}: INDEX and COUNT must be whole numbers (e.g. 0/4)");
        };
        Shard::new(index, count, &format!("--shard {s}"))
    }

    fn new(index: u32, count: u32, what: &str) -> Result<Shard> {
        if count == 0 {
            bail!("{what}: the shard count must be at least 1");
        }
        if index >= count {
            bail!(
                "{what}: shard index {index} is not below the count {count} (indexes are 0-based)"
            );
        }
        Ok(Shard { index, count })
    }

    /// Whether this shard takes `e`.
    pub fn takes(&self, e: &Entry) -> bool {
        of(&e.output, self.count) == self.index
    }

    /// `--shard auto`: the array engine's variables (looked up with `var`). Slurm exports its
    /// count; Kubernetes does not, so `shard_count` (`--shard-count N`) gives it.
    pub fn from_env(
        var: &dyn Fn(&str) -> Option<String>,
        shard_count: Option<u32>,
    ) -> Result<Shard> {
        let num = |name: &str| -> Result<Option<u32>> {
            match var(name) {
                None => Ok(None),
                Some(v) if v.trim().is_empty() => Ok(None),
                Some(v) => match v.trim().parse::<u32>() {
                    Ok(n) => Ok(Some(n)),
                    Err(_) => bail!("{name}={v:?} is not a whole number"),
                },
            }
        };
        if let Some(id) = num("SLURM_ARRAY_TASK_ID")? {
            let min = num("SLURM_ARRAY_TASK_MIN")?.unwrap_or(0);
            let step = num("SLURM_ARRAY_TASK_STEP")?.unwrap_or(1).max(1);
            let count = match (
                shard_count,
                num("SLURM_ARRAY_TASK_COUNT")?,
                num("SLURM_ARRAY_TASK_MAX")?,
            ) {
                (Some(n), _, _) => n,
                (None, Some(n), _) => n,
                (None, None, Some(max)) => (max.saturating_sub(min)) / step + 1,
                (None, None, None) => bail!(
                    "--shard auto: SLURM_ARRAY_TASK_ID is set but neither SLURM_ARRAY_TASK_COUNT nor SLURM_ARRAY_TASK_MAX; pass --shard-count N"
                ),
            };
            if id < min {
                bail!("--shard auto: SLURM_ARRAY_TASK_ID {id} is below SLURM_ARRAY_TASK_MIN {min}");
            }
            return Shard::new((id - min) / step, count, "--shard auto (Slurm)");
        }
        if let Some(i) = num("JOB_COMPLETION_INDEX")? {
            let Some(n) = shard_count else {
                bail!(
                    "--shard auto: JOB_COMPLETION_INDEX is set (a Kubernetes Indexed Job) but Kubernetes does not export the count; pass --shard-count N (the Job's completions)"
                );
            };
            return Shard::new(i, n, "--shard auto (Kubernetes)");
        }
        if let Some(i) = num("AWS_BATCH_JOB_ARRAY_INDEX")? {
            let n = match (shard_count, num("AWS_BATCH_JOB_ARRAY_SIZE")?) {
                (Some(n), _) | (None, Some(n)) => n,
                (None, None) => bail!(
                    "--shard auto: AWS_BATCH_JOB_ARRAY_INDEX is set but AWS_BATCH_JOB_ARRAY_SIZE is not; pass --shard-count N"
                ),
            };
            return Shard::new(i, n, "--shard auto (AWS Batch)");
        }
        bail!(
            "--shard auto: no array task index in the environment (SLURM_ARRAY_TASK_ID, JOB_COMPLETION_INDEX or AWS_BATCH_JOB_ARRAY_INDEX); run it as an array task, or give --shard INDEX/COUNT"
        )
    }
}

/// `--shard` as given: a fixed shard, or `auto`.
pub fn resolve(arg: &str, shard_count: Option<u32>) -> Result<Shard> {
    if arg == "auto" {
        Shard::from_env(&|k| std::env::var(k).ok(), shard_count)
    } else {
        if shard_count.is_some() {
            bail!("--shard-count goes with --shard auto; --shard {arg} names its count");
        }
        Shard::parse(arg)
    }
}

/// The summary file a shard leaves in the output directory (`batch-report` merges them).
pub fn summary_name(s: Shard) -> String {
    format!(".imgseal-shard-{}-of-{}.json", s.index, s.count)
}

/// The lock a shard holds while it runs (two attempts of one index never overlap; other
/// shards write the same directory beside it).
pub fn lock_name(s: Shard) -> String {
    format!(".imgseal-shard-{}-of-{}.lock", s.index, s.count)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn entries(n: usize) -> Vec<Entry> {
        (0..n)
            .map(|i| Entry {
                input: format!("/in/img-{i}.qcow2"),
                output: format!("img-{i}.qcow2"),
                profile: None,
            })
            .collect()
    }

    #[test]
    fn the_partition_is_total_disjoint_and_independent_of_input_order() {
        let all = entries(97);
        for n in 1..=16u32 {
            let mut seen: HashMap<String, u32> = HashMap::new();
            // The same entries in a shuffled order (a deterministic shuffle: reversed and
            // interleaved) give every output the same shard.
            let mut shuffled = all.clone();
            shuffled.reverse();
            shuffled.rotate_left(n as usize % 7);
            for (order, list) in [("given", &all), ("shuffled", &shuffled)] {
                for i in 0..n {
                    let s = Shard { index: i, count: n };
                    for e in list.iter().filter(|e| s.takes(e)) {
                        if let Some(prev) = seen.insert(e.output.clone(), i) {
                            assert_eq!(
                                prev, i,
                                "{} in shards {prev} and {i} of {n} ({order})",
                                e.output
                            );
                        }
                    }
                }
            }
            assert_eq!(
                seen.len(),
                all.len(),
                "n={n}: not every image is in a shard"
            );
            // No shard is wildly unbalanced for 97 images.
            if n <= 4 {
                for i in 0..n {
                    let k = seen.values().filter(|&&s| s == i).count();
                    assert!(k >= 97 / n as usize / 2, "n={n} shard {i} has {k}");
                }
            }
        }
        // A stable answer: the same name always lands in the same shard (a recorded value).
        assert_eq!(of("img-0.qcow2", 1), 0);
        let a = of("debian-1.qcow2", 2);
        assert_eq!(a, of("debian-1.qcow2", 2));
    }

    #[test]
    fn shards_parse_and_bad_ones_say_what_to_give() {
        assert_eq!(Shard::parse("1/4").unwrap(), Shard { index: 1, count: 4 });
        for (bad, says) in [
            ("4/4", "not below the count"),
            ("0/0", "at least 1"),
            ("x/2", "whole numbers"),
            ("3", "INDEX/COUNT"),
        ] {
            let e = Shard::parse(bad).unwrap_err().to_string();
            assert!(e.contains(says), "{bad}: {e}");
        }
        assert!(
            resolve("0/2", Some(2))
                .unwrap_err()
                .to_string()
                .contains("--shard auto")
        );
    }

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> + use<> {
        let m: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |k| m.get(k).cloned()
    }

    #[test]
    fn auto_reads_each_engines_variables() {
        // Slurm: --array=0-3 exports the id, the count, min and max.
        let s = Shard::from_env(
            &env(&[
                ("SLURM_ARRAY_TASK_ID", "2"),
                ("SLURM_ARRAY_TASK_COUNT", "4"),
                ("SLURM_ARRAY_TASK_MIN", "0"),
                ("SLURM_ARRAY_TASK_MAX", "3"),
            ]),
            None,
        )
        .unwrap();
        assert_eq!(s, Shard { index: 2, count: 4 });
        // An array that starts at 1, without the count: min and max give it.
        let s = Shard::from_env(
            &env(&[
                ("SLURM_ARRAY_TASK_ID", "3"),
                ("SLURM_ARRAY_TASK_MIN", "1"),
                ("SLURM_ARRAY_TASK_MAX", "3"),
            ]),
            None,
        )
        .unwrap();
        assert_eq!(s, Shard { index: 2, count: 3 });
        // Kubernetes needs --shard-count.
        let k = env(&[("JOB_COMPLETION_INDEX", "1")]);
        assert!(
            Shard::from_env(&k, None)
                .unwrap_err()
                .to_string()
                .contains("--shard-count")
        );
        assert_eq!(
            Shard::from_env(&k, Some(3)).unwrap(),
            Shard { index: 1, count: 3 }
        );
        // AWS Batch exports both.
        let a = env(&[
            ("AWS_BATCH_JOB_ARRAY_INDEX", "0"),
            ("AWS_BATCH_JOB_ARRAY_SIZE", "2"),
        ]);
        assert_eq!(
            Shard::from_env(&a, None).unwrap(),
            Shard { index: 0, count: 2 }
        );
        // An index beyond the count, garbage, nothing at all.
        let over = env(&[
            ("AWS_BATCH_JOB_ARRAY_INDEX", "5"),
            ("AWS_BATCH_JOB_ARRAY_SIZE", "2"),
        ]);
        assert!(
            Shard::from_env(&over, None)
                .unwrap_err()
                .to_string()
                .contains("not below")
        );
        let junk = env(&[("SLURM_ARRAY_TASK_ID", "two")]);
        assert!(
            Shard::from_env(&junk, None)
                .unwrap_err()
                .to_string()
                .contains("whole number")
        );
        let e = Shard::from_env(&env(&[]), None).unwrap_err().to_string();
        assert!(
            e.contains("SLURM_ARRAY_TASK_ID") && e.contains("JOB_COMPLETION_INDEX"),
            "{e}"
        );
    }
}
