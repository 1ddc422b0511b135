//! `batch --shard I/N`: one array task's share of a batch. The partition is by a hash of each
//! output's name: the batch's outputs are ranked by their SHA-256 and dealt out in turn, so
//! every host computes the same shards whatever order the inputs were listed in or a
//! directory was read, every image is in exactly one shard, and shard sizes differ by at most
//! one (a plain hash modulo N can give 3 + 1 for 4 images over 2 tasks, and the array then
//! waits for the longer task). `--shard auto` takes the index and count from the array engine
//! running the task (Slurm, Kubernetes Indexed Jobs, AWS Batch).

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

/// The shard of each output name among `count`, in the order given: the names are sorted by
/// their SHA-256 (the name itself breaks a tie) and the k-th of that order goes to shard
/// k mod `count`. The answer depends only on the set of names, never on their order; the
/// shards differ in size by at most one.
pub fn assign(outputs: &[&str], count: u32) -> Vec<u32> {
    let count = count.max(1);
    let mut ranked: Vec<(_, &str, usize)> = outputs
        .iter()
        .enumerate()
        .map(|(i, o)| (sha2::Sha256::digest(o.as_bytes()), *o, i))
        .collect();
    ranked.sort();
    let mut shard = vec![0; outputs.len()];
    for (rank, (_, _, i)) in ranked.into_iter().enumerate() {
        shard[i] = (rank % count as usize) as u32;
    }
    shard
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

    /// This shard's entries of the whole batch's `entries`, in their order.
    pub fn select(&self, entries: Vec<Entry>) -> Vec<Entry> {
        let names: Vec<&str> = entries.iter().map(|e| e.output.as_str()).collect();
        let shards = assign(&names, self.count);
        entries
            .into_iter()
            .zip(shards)
            .filter(|(_, s)| *s == self.index)
            .map(|(e, _)| e)
            .collect()
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

    /// A deterministic shuffle (a different one per `seed`).
    fn shuffled(all: &[Entry], seed: usize) -> Vec<Entry> {
        let mut v = all.to_vec();
        let n = v.len();
        for i in (1..n).rev() {
            let j = (i * 7919 + seed * 104729 + 13) % (i + 1);
            v.swap(i, j);
        }
        v
    }

    #[test]
    fn the_partition_is_total_disjoint_balanced_and_independent_of_input_order() {
        for size in [1usize, 2, 3, 4, 5, 17, 97] {
            let all = entries(size);
            for n in 1..=16u32 {
                let mut seen: HashMap<String, u32> = HashMap::new();
                for seed in 0..3 {
                    let list = if seed == 0 {
                        all.clone()
                    } else {
                        shuffled(&all, seed)
                    };
                    let mut here: HashMap<String, u32> = HashMap::new();
                    for i in 0..n {
                        let s = Shard { index: i, count: n };
                        let mine = s.select(list.clone());
                        // Balanced: every shard has floor(size/n) or ceil(size/n) images.
                        let (lo, hi) = (size / n as usize, size.div_ceil(n as usize));
                        assert!(
                            (lo..=hi).contains(&mine.len()),
                            "size {size}, n={n}: shard {i} has {} (seed {seed})",
                            mine.len()
                        );
                        for e in mine {
                            assert!(
                                here.insert(e.output.clone(), i).is_none(),
                                "{} in two shards of {n} (seed {seed})",
                                e.output
                            );
                        }
                    }
                    assert_eq!(here.len(), size, "n={n}: not every image is in a shard");
                    // The same image lands in the same shard whatever the order.
                    for (k, v) in here {
                        if let Some(prev) = seen.insert(k.clone(), v) {
                            assert_eq!(prev, v, "{k}: shard {prev}, then {v} (seed {seed})");
                        }
                    }
                }
            }
        }
        // Four images over two tasks split 2 + 2 (a hash modulo 2 would often give 3 + 1).
        for base in 0..50 {
            let names: Vec<String> = (0..4).map(|i| format!("v{base}-{i}.qcow2")).collect();
            let refs: Vec<&str> = names.iter().map(String::as_str).collect();
            let a = assign(&refs, 2);
            assert_eq!(a.iter().filter(|&&s| s == 0).count(), 2, "{names:?}: {a:?}");
        }
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
