//! Stage 4: the "before" report, every check that applies to the guest.

use super::inspected::Inspected;
use super::settings::Shared;
use crate::checks::Report;
use crate::ui::Reporter;
use anyhow::Result;

pub struct Checked {
    pub session: Inspected,
    pub before: Report,
}

impl Checked {
    /// The "before" report: every rule check of the profile that applies to the guest.
    pub fn check(session: Inspected, shared: &Shared, rep: &dyn Reporter) -> Result<Checked> {
        crate::signals::check()?;
        rep.stage("check", "before");
        let before = shared.report(&session.guest(rep), &session.os, &session.name())?;
        Ok(Checked { session, before })
    }
}
