//! Stage 6: every rule passes after the operations. Finalizing makes the disk ready to
//! copy: fstrim of every mounted filesystem (the discards reach the overlay, so free space
//! is not copied), swap recreated empty, and the appliance shut down — checked, since a
//! failed shutdown may have lost writes.

use super::finalized::Finalized;
use super::inspected::Inspected;
use crate::checks::Report;
use crate::ops::OpResult;
use crate::ui::Reporter;
use anyhow::Result;

pub struct Compliant {
    pub session: Inspected,
    pub before: Report,
    pub ops: Vec<OpResult>,
    pub after: Report,
    pub notes: Vec<String>,
}

impl Compliant {
    pub fn finalize(self, rep: &dyn Reporter) -> Result<Finalized> {
        crate::signals::check()?;
        let mut notes = self.notes;
        notes.extend(crate::seal::finalize(
            &self.session.app,
            &self.session.mounts,
            rep,
        )?);
        let appliance = self.session.appliance_info();
        let Inspected {
            app, disk, input, ..
        } = self.session;
        rep.stage("finalize", "shutting the appliance down");
        app.shutdown()?;
        Ok(Finalized {
            disk,
            input,
            before: self.before,
            ops: self.ops,
            after: self.after,
            notes,
            appliance,
        })
    }
}
