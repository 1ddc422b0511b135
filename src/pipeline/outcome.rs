//! How a conversion ends: a plan (dry run), a guest the operations could not make compliant
//! (nothing written), a sealed output that failed its boot test (nothing published), or a
//! sealed and published output (its manifest).

use crate::checks::Report;
use crate::manifest::Manifest;
use crate::ops::OpResult;
use serde::Serialize;

/// What a dry run prints: the plan.
#[derive(Debug, Clone, Serialize)]
pub struct Plan {
    pub schema: u32,
    pub image: String,
    pub dry_run: bool,
    pub before: Report,
    pub operations: Vec<OpResult>,
}

/// A conversion whose "after" check still fails: nothing is written.
#[derive(Debug, Clone, Serialize)]
pub struct Failed {
    pub schema: u32,
    pub image: String,
    pub compliant: bool,
    pub before: Report,
    pub operations: Vec<OpResult>,
    pub after: Report,
}

/// A conversion whose sealed output did not pass its boot test: nothing is published.
#[derive(Debug, Clone, Serialize)]
pub struct BootFailed {
    pub schema: u32,
    pub image: String,
    /// Where the output would have gone.
    pub output: String,
    pub published: bool,
    pub before: Report,
    pub operations: Vec<OpResult>,
    pub after: Report,
    pub boot_test: crate::boot::BootTest,
}

#[derive(Debug)]
pub enum Outcome {
    Planned(Box<Plan>),
    NotCompliant(Box<Failed>),
    /// Sealed, but it did not boot as it must (`--boot-test`): nothing published.
    BootFailed(Box<BootFailed>),
    Converted(Box<Manifest>),
}

/// One image's conversion and whether it got as far as an appliance launch (batch counts
/// launches), with what it had found by the time it ended, also when it failed: the
/// "before" report once taken and the operations' results once they all ran (`--junit`
/// reports a failed conversion with them).
pub struct Attempt {
    pub outcome: anyhow::Result<Outcome>,
    pub launched: bool,
    pub before: Option<Report>,
    pub ops: Vec<OpResult>,
}
