//! The per-image pipeline. Each stage is a value holding exactly what exists at that point;
//! the next stage takes it by value, so no stage can be reached without the ones before it.
//!
//! ```text
//!  claimed.rs    Claimed     convert only: OUTPUT.partial claimed and locked, input hashing
//!  attached.rs   Attached    probe (formats explicit), qcow2 overlay, qemu-nbd export, sniff
//!  launched.rs   Launched    one appliance over the export (KVM, else TCG)
//!  inspected.rs  Inspected   the one OS root, mounted  <- inspect, check, verify --deep end here
//!  checked.rs    Checked     the "before" report
//!  operated.rs   Operated    the operations' results   <- a dry run ends here (the plan)
//!  compliant.rs  Compliant   the "after" report passes (else: not compliant, nothing written)
//!  finalized.rs  Finalized   tree digest, fstrim, swap recreated, checked shutdown
//!  sealed.rs     Sealed      OUTPUT.partial written, checked, hashed; the manifest drafted
//!  boot_tested.rs  (Sealed)  --boot-test: OUTPUT.partial booted once (else: nothing published)
//!  published.rs  Published   sidecars, manifest, atomic rename
//! ```
//!
//! Each file holds its stage's type and how it is made from the stage before (`Checked::check`
//! takes an `Inspected`, ...): a file imports only earlier stages. [`open`] is the front half
//! every command shares; [`convert`] is the whole path. A new stage is one file with its
//! type and one line in [`convert`]: the boot test takes the `Sealed` output and gives it
//! back with its section in the manifest.
//! Any failure drops the stages built so far: the appliance is killed, the export, overlay
//! and work directory removed, the partial output deleted; the input is only ever read.

mod attached;
mod boot_tested;
mod checked;
mod claimed;
mod clock;
mod compliant;
mod finalized;
mod inspected;
mod launched;
mod operated;
mod outcome;
mod published;
mod sealed;
mod settings;

pub use attached::Attached;
pub use checked::Checked;
pub use claimed::Claimed;
pub use clock::Clock;
pub use compliant::Compliant;
pub use finalized::Finalized;
pub use inspected::Inspected;
pub use launched::Launched;
pub use operated::Operated;
pub use outcome::{Attempt, BootFailed, Failed, Outcome, Plan};
pub use published::Published;
pub use sealed::Sealed;
pub use settings::{Job, Settings, Shared};

use crate::guest::launch::LaunchOpts;
use crate::image::{AttachOpts, Input};
use crate::ui::Reporter;
use anyhow::Result;

/// The front half: attach, launch, inspect and mount. `readonly` for inspect, check,
/// verify and dry runs.
pub fn open(
    input: &Input,
    attach_opts: &AttachOpts,
    launch: &LaunchOpts,
    readonly: bool,
    rep: &dyn Reporter,
) -> Result<Inspected> {
    let attached = Attached::attach(input, attach_opts, rep)?;
    Inspected::inspect(
        Launched::launch(attached, readonly, launch, rep)?,
        false,
        rep,
    )
}

/// Converts one image: every stage in order, timed for the manifest.
pub fn convert(shared: &Shared, job: &Job, rep: &dyn Reporter) -> Attempt {
    let mut seen = Seen::default();
    let outcome = run(shared, job, rep, &mut seen);
    Attempt {
        outcome,
        launched: seen.launched,
        before: seen.before,
        ops: seen.ops,
    }
}

/// How far a conversion got, kept whatever way it ends.
#[derive(Default)]
struct Seen {
    launched: bool,
    before: Option<crate::checks::Report>,
    ops: Vec<crate::ops::OpResult>,
}

fn run(shared: &Shared, job: &Job, rep: &dyn Reporter, seen: &mut Seen) -> Result<Outcome> {
    let s = &shared.settings;
    let mut clock = Clock::start();
    // The output is claimed first: an existing output is refused before any slow work.
    let claimed = (!s.dry_run)
        .then(|| Claimed::claim(job, s.force))
        .transpose()?;
    let attached = Attached::attach(&job.input, &s.attach, rep)?;
    clock.done("attach");
    seen.launched = true;
    let launch = LaunchOpts {
        network: s.network,
        ..Default::default()
    };
    let launched = Launched::launch(attached, s.dry_run, &launch, rep)?;
    clock.done("launch");
    let inspected = Inspected::inspect(launched, true, rep)?;
    clock.done("inspect");
    let checked = Checked::check(inspected, shared, rep)?;
    clock.done("check-before");
    seen.before = Some(checked.before.clone());
    let operated = Operated::operate(checked, shared, rep)?;
    clock.done("operations");
    seen.ops = operated.ops.clone();
    let Some(claimed) = claimed else {
        return Ok(Outcome::Planned(Box::new(operated.plan()?)));
    };
    let compliant = match Compliant::recheck(operated, shared, rep)? {
        Ok(c) => c,
        Err(failed) => return Ok(Outcome::NotCompliant(failed)),
    };
    clock.done("check-after");
    let finalized = Finalized::finalize(compliant, s.tree_digest, rep)?;
    clock.done("finalize");
    // Inside finalize's time; recorded on its own as well.
    if finalized.tree.is_some() {
        clock.record("tree-digest", finalized.tree_seconds);
    }
    let mut sealed = Sealed::seal(finalized, claimed, shared, &mut clock, rep)?;
    if let Some(b) = &s.boot_test {
        sealed = match boot_tested::boot_test(sealed, b, shared, rep)? {
            Ok(s) => s,
            Err(failed) => return Ok(Outcome::BootFailed(failed)),
        };
        clock.done("boot-test");
    }
    let published = Published::publish(sealed, clock, rep)?;
    Ok(Outcome::Converted(Box::new(published.manifest)))
}
