//! Stage 7: finalized — the guest trimmed, swap recreated, the appliance shut down (checked)
//! and every write in the overlay.

use super::compliant::Compliant;
use super::inspected::Inspected;
use crate::checks::Report;
use crate::image::{self, Input};
use crate::manifest::ApplianceInfo;
use crate::ops::OpResult;
use crate::ui::Reporter;
use anyhow::Result;

pub struct Finalized {
    pub disk: image::Attached,
    pub input: Input,
    pub before: Report,
    pub ops: Vec<OpResult>,
    pub after: Report,
    /// What finalizing did (fstrim, swap, the relabel flag), in words.
    pub notes: Vec<String>,
    pub appliance: ApplianceInfo,
}

impl Finalized {
    /// fstrim of every mounted filesystem (the discards reach the overlay, so free space is
    /// not copied), swap recreated empty, and the appliance shut down — checked, since a
    /// failed shutdown may have lost writes.
    pub fn finalize(c: Compliant, rep: &dyn Reporter) -> Result<Finalized> {
        crate::signals::check()?;
        let mut notes = c.notes;
        notes.extend(crate::seal::finalize(
            &c.session.app,
            &c.session.mounts,
            rep,
        )?);
        let appliance = c.session.appliance_info();
        let Inspected {
            app, disk, input, ..
        } = c.session;
        rep.stage("finalize", "shutting the appliance down");
        app.shutdown()?;
        Ok(Finalized {
            disk,
            input,
            before: c.before,
            ops: c.ops,
            after: c.after,
            notes,
            appliance,
        })
    }
}
