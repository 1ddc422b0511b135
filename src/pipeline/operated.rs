//! Stage 5: the operations have run. A dry run ends here with its plan; a conversion checks
//! again, and a rule still failing ends it with no output.

use super::compliant::Compliant;
use super::inspected::Inspected;
use super::outcome::{Failed, Plan};
use super::settings::Shared;
use crate::checks::Report;
use crate::ops::OpResult;
use crate::ui::Reporter;
use anyhow::Result;

pub struct Operated {
    pub session: Inspected,
    pub before: Report,
    pub ops: Vec<OpResult>,
    /// What the driver did beside the operations (the SELinux relabel flag).
    pub notes: Vec<String>,
}

impl Operated {
    /// The dry run's plan; the appliance is shut down (checked).
    pub fn plan(self) -> Result<Plan> {
        let image = self.session.name();
        self.session.close()?;
        Ok(Plan {
            schema: 1,
            image,
            dry_run: true,
            before: self.before,
            operations: self.ops,
        })
    }

    /// The "after" report: compliant, or the reports of a conversion that publishes nothing.
    pub fn recheck(
        self,
        shared: &Shared,
        rep: &dyn Reporter,
    ) -> Result<std::result::Result<Compliant, Box<Failed>>> {
        crate::signals::check()?;
        rep.stage("check", "after");
        let after = shared.report(
            &self.session.guest(rep),
            &self.session.os,
            &self.session.name(),
        )?;
        if !after.compliant {
            return Ok(Err(Box::new(Failed {
                schema: 1,
                image: self.session.name(),
                compliant: false,
                before: self.before,
                operations: self.ops,
                after,
            })));
        }
        Ok(Ok(Compliant {
            session: self.session,
            before: self.before,
            ops: self.ops,
            after,
            notes: self.notes,
        }))
    }
}
