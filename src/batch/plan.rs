//! What a batch will do, decided before any image work: the inputs expanded into entries
//! (images, directories, job files), each output name checked, the worker count, and which
//! outputs `--resume` finds already done.

use crate::digest;
use crate::manifest::Manifest;
use anyhow::{Context, Result, bail};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// File extensions taken as images when a directory is given.
pub const IMAGE_EXTENSIONS: &[&str] = &["qcow2", "img", "raw", "vmdk", "vhd", "vhdx", "vdi", "qed"];

/// Memory one appliance needs (with its qemu), used to size the default worker count.
pub const APPLIANCE_BYTES: u64 = 1_200 << 20;

/// Memory left to the host when sizing the default worker count.
pub const HOST_RESERVE_BYTES: u64 = 512 << 20;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub input: String,
    /// Relative to the output directory.
    pub output: String,
    pub profile: Option<String>,
}

/// A job file: `[[job]] input = "..." output = "..." profile = "..."`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct JobFile {
    #[serde(default, rename = "job")]
    jobs: Vec<JobEntry>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct JobEntry {
    input: String,
    output: Option<String>,
    profile: Option<String>,
}

fn default_output(input: &str) -> String {
    let base = Path::new(input)
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "image".into());
    let stem = match base.rsplit_once('.') {
        Some((s, ext)) if IMAGE_EXTENSIONS.contains(&ext) => s.to_string(),
        _ => base,
    };
    format!("{stem}.qcow2")
}

/// Expands the command line's inputs: images, directories of images, job files (`.toml`).
pub fn expand(inputs: &[String]) -> Result<Vec<Entry>> {
    let mut out = Vec::new();
    for i in inputs {
        let p = Path::new(i);
        if p.is_dir() {
            let mut names: Vec<PathBuf> = std::fs::read_dir(p)
                .with_context(|| format!("reading directory {i}"))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|f| f.is_file())
                .filter(|f| {
                    f.extension()
                        .and_then(|e| e.to_str())
                        .is_some_and(|e| IMAGE_EXTENSIONS.contains(&e))
                })
                .collect();
            names.sort();
            for f in names {
                let s = f.to_string_lossy().into_owned();
                out.push(Entry {
                    output: default_output(&s),
                    input: s,
                    profile: None,
                });
            }
        } else if i.ends_with(".toml") && p.is_file() {
            let text =
                std::fs::read_to_string(p).with_context(|| format!("reading job file {i}"))?;
            let jf: JobFile = crate::tomltext::parse_toml(&text, i)?;
            let base = p.parent().unwrap_or(Path::new("."));
            for j in jf.jobs {
                let input = if j.input.contains("://") || Path::new(&j.input).is_absolute() {
                    j.input.clone()
                } else {
                    base.join(&j.input).to_string_lossy().into_owned()
                };
                out.push(Entry {
                    output: j.output.unwrap_or_else(|| default_output(&j.input)),
                    input,
                    profile: j.profile,
                });
            }
        } else {
            out.push(Entry {
                output: default_output(i),
                input: i.clone(),
                profile: None,
            });
        }
    }
    let mut seen = BTreeMap::new();
    for e in &out {
        if e.output.contains('/') || e.output.starts_with('.') || e.output.is_empty() {
            bail!(
                "{}: output name {:?} must be a plain file name inside the output directory",
                e.input,
                e.output
            );
        }
        if let Some(prev) = seen.insert(e.output.clone(), e.input.clone()) {
            bail!(
                "{prev} and {} would both be written to {}; rename one or use a job file with outputs",
                e.input,
                e.output
            );
        }
    }
    if out.is_empty() {
        bail!("no images found in {}", inputs.join(", "));
    }
    Ok(out)
}

/// Worker count for `cores` and `mem_available` bytes (None: unknown): the cores, but no
/// more appliances than memory holds after [`HOST_RESERVE_BYTES`] for the host,
/// [`APPLIANCE_BYTES`] each; at least one.
pub fn workers_for(cores: usize, mem_available: Option<u64>) -> usize {
    let avail = mem_available.unwrap_or(APPLIANCE_BYTES * 2);
    let by_mem = (avail.saturating_sub(HOST_RESERVE_BYTES) / APPLIANCE_BYTES) as usize;
    cores.min(by_mem).max(1)
}

/// `MemAvailable` of a `/proc/meminfo` text, in bytes.
pub fn mem_available(meminfo: &str) -> Option<u64> {
    meminfo.lines().find_map(|l| {
        l.strip_prefix("MemAvailable:")?
            .trim()
            .trim_end_matches("kB")
            .trim()
            .parse::<u64>()
            .ok()
            .map(|kb| kb * 1024)
    })
}

/// The default `--jobs`: [`workers_for`] this host's cores and memory.
pub fn default_jobs() -> usize {
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    let mem = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| mem_available(&m));
    workers_for(cores, mem)
}

/// For `--resume`: the output's manifest when it records this input (sha256) and this
/// profile, and the output still has the sha256 it records; None otherwise.
pub fn up_to_date(out: &Path, input: &Path, profile_sha: &str) -> Result<Option<Manifest>> {
    let m = crate::seal::OutputPaths::new(out).manifest();
    if !out.is_file() || !m.is_file() {
        return Ok(None);
    }
    let Ok(man) = serde_json::from_str::<Manifest>(&std::fs::read_to_string(&m)?) else {
        return Ok(None);
    };
    if man.profile.sha256 != profile_sha {
        return Ok(None);
    }
    let Some(want) = man.input.sha256 else {
        return Ok(None);
    };
    let current =
        digest::sha256_file(input)? == want && digest::sha256_file(out)? == man.output.sha256;
    Ok(current.then_some(man))
}

#[cfg(test)]
mod tests {
    use super::*;

    const GIB: u64 = 1 << 30;

    #[test]
    fn workers_are_bounded_by_cores_and_by_memory() {
        // Plenty of memory: the cores decide.
        assert_eq!(workers_for(2, Some(24 * GIB)), 2);
        assert_eq!(workers_for(16, Some(64 * GIB)), 16);
        // Little memory: the appliances it holds decide (512 MiB kept for the host).
        assert_eq!(
            workers_for(16, Some(HOST_RESERVE_BYTES + 3 * APPLIANCE_BYTES)),
            3
        );
        assert_eq!(
            workers_for(16, Some(HOST_RESERVE_BYTES + 3 * APPLIANCE_BYTES - 1)),
            2
        );
        // Never fewer than one, even without memory or cores to spare.
        assert_eq!(workers_for(8, Some(100 << 20)), 1);
        assert_eq!(workers_for(0, Some(64 * GIB)), 1);
        // Unknown memory: room for one appliance.
        assert_eq!(workers_for(8, None), 1);
    }

    #[test]
    fn mem_available_is_read_from_meminfo() {
        let m =
            "MemTotal:       24000000 kB\nMemFree:         1000 kB\nMemAvailable:   20000000 kB\n";
        assert_eq!(mem_available(m), Some(20_000_000 * 1024));
        assert_eq!(mem_available("MemTotal: 1 kB\n"), None);
        assert_eq!(mem_available("MemAvailable: lots kB\n"), None);
    }

    #[test]
    fn default_jobs_is_at_least_one_and_at_most_the_cores() {
        let n = default_jobs();
        assert!(n >= 1);
        assert!(n <= std::thread::available_parallelism().unwrap().get());
    }

    #[test]
    fn inputs_expand_from_dirs_files_and_job_files() {
        let d = tempfile::tempdir().unwrap();
        for n in ["b.qcow2", "a.img", "notes.txt"] {
            std::fs::write(d.path().join(n), b"x").unwrap();
        }
        let e = expand(&[d.path().to_string_lossy().into_owned()]).unwrap();
        let outs: Vec<&str> = e.iter().map(|x| x.output.as_str()).collect();
        assert_eq!(outs, vec!["a.qcow2", "b.qcow2"]);
        let jf = d.path().join("jobs.toml");
        std::fs::write(&jf, "[[job]]\ninput = \"a.img\"\noutput = \"a-sealed.qcow2\"\nprofile = \"jdcloud\"\n[[job]]\ninput = \"/abs/c.vmdk\"\n").unwrap();
        let e = expand(&[jf.to_string_lossy().into_owned()]).unwrap();
        assert_eq!(e[0].input, d.path().join("a.img").to_string_lossy());
        assert_eq!(e[0].output, "a-sealed.qcow2");
        assert_eq!(e[0].profile.as_deref(), Some("jdcloud"));
        assert_eq!(e[1].output, "c.qcow2");
        std::fs::write(&jf, "[[job]]\ninput = \"a.img\"\noutpt = \"x\"\n").unwrap();
        assert!(
            expand(&[jf.to_string_lossy().into_owned()])
                .unwrap_err()
                .to_string()
                .contains("jobs.toml:3:1")
        );
    }

    #[test]
    fn clashing_outputs_are_refused() {
        let e = expand(&["/x/disk.qcow2".into(), "/y/disk.img".into()])
            .unwrap_err()
            .to_string();
        assert!(e.contains("would both be written to disk.qcow2"), "{e}");
    }
}
