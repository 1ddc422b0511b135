//! How a conversion ends: a plan (dry run), a guest the operations could not make compliant
//! (nothing written), or a sealed and published output (its manifest).

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

#[derive(Debug)]
pub enum Outcome {
    Planned(Box<Plan>),
    NotCompliant(Box<Failed>),
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
