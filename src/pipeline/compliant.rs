//! Stage 6: the "after" report, and every rule passes; a rule still failing ends the
//! conversion here with both reports and no output.

use super::inspected::Inspected;
use super::operated::Operated;
use super::outcome::Failed;
use super::settings::Shared;
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
    /// The "after" report: compliant, or the reports of a conversion that publishes nothing.
    pub fn recheck(
        o: Operated,
        shared: &Shared,
        rep: &dyn Reporter,
    ) -> Result<std::result::Result<Compliant, Box<Failed>>> {
        crate::signals::check()?;
        rep.stage("check", "after");
        let after = shared.report(&o.session.guest(rep), &o.session.os, &o.session.name())?;
        if !after.compliant {
            return Ok(Err(Box::new(Failed {
                schema: 1,
                image: o.session.name(),
                compliant: false,
                before: o.before,
                operations: o.ops,
                after,
            })));
        }
        Ok(Ok(Compliant {
            session: o.session,
            before: o.before,
            ops: o.ops,
            after,
            notes: o.notes,
        }))
    }
}
