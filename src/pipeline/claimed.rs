//! Stage 0 (convert only): the output is claimed before any slow work — `OUTPUT.partial`
//! created and locked, an existing output refused without `--force` — and the input's
//! SHA-256 starts on a thread of its own.

use super::settings::Job;
use crate::digest::{self, Sha256Digest};
use crate::image::Input;
use crate::seal::PartialOutput;
use anyhow::{Result, bail};
use std::path::PathBuf;
use std::thread::JoinHandle;

pub struct Claimed {
    pub target: PathBuf,
    pub partial: PartialOutput,
    pub in_place: bool,
    /// None for an NBD input (nothing to hash on this host).
    input_hash: Option<JoinHandle<Result<Sha256Digest>>>,
}

impl Claimed {
    pub fn claim(job: &Job, force: bool) -> Result<Claimed> {
        let target = target(job)?;
        let partial = PartialOutput::claim(&target, force || job.in_place)?;
        if job.in_place && !crate::ffi::os::same_filesystem(&partial.partial(), &target)? {
            bail!(
                "{}: cannot replace it atomically (its directory is on another filesystem); convert to -o OUTPUT instead",
                target.display()
            );
        }
        let input_hash = match &job.input {
            Input::File(p) => {
                let p = p.clone();
                Some(std::thread::spawn(move || digest::sha256_file(&p)))
            }
            Input::Nbd(_) => None,
        };
        Ok(Claimed {
            target,
            partial,
            in_place: job.in_place,
            input_hash,
        })
    }

    /// The input's SHA-256 (waiting for its thread); None for an NBD input.
    pub fn input_sha256(&mut self) -> Result<Option<Sha256Digest>> {
        match self.input_hash.take() {
            Some(t) => Ok(Some(t.join().map_err(|_| {
                anyhow::anyhow!("the input hashing thread panicked")
            })??)),
            None => Ok(None),
        }
    }
}

/// The file a job writes: `-o OUTPUT` (never the input itself) or the input for --in-place.
fn target(j: &Job) -> Result<PathBuf> {
    Ok(match (&j.output, j.in_place) {
        (Some(_), true) => bail!("give either -o OUTPUT or --in-place, not both"),
        (None, true) => match &j.input {
            Input::File(p) => p.clone(),
            Input::Nbd(u) => bail!("{u}: --in-place needs a file input"),
        },
        (Some(p), false) => {
            if let Input::File(i) = &j.input
                && std::fs::canonicalize(p).ok().as_ref() == Some(i)
            {
                bail!(
                    "{}: the output is the input; use --in-place to replace the input",
                    p.display()
                );
            }
            p.clone()
        }
        (None, false) => bail!("give -o OUTPUT (or --in-place, or --dry-run)"),
    })
}
