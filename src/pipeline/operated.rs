//! Stage 5: the operations have run. A dry run ends here with its plan; a conversion checks
//! again, and a rule still failing ends it with no output.

use super::checked::Checked;
use super::inspected::Inspected;
use super::outcome::Plan;
use super::settings::Shared;
use crate::checks::Report;
use crate::ops::{self, OpCtx, OpOpts, OpResult, Tracked};
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
    /// The operations that apply to the guest, in their fixed order, through [`Tracked`]
    /// (which records every change, and in a dry run only records).
    pub fn operate(checked: Checked, shared: &Shared, rep: &dyn Reporter) -> Result<Operated> {
        crate::signals::check()?;
        let (results, notes) = {
            let guest = checked.session.guest(rep);
            let dry_run = shared.settings.dry_run;
            let tracked = Tracked::new(&guest, dry_run);
            let opts = OpOpts {
                allow_unpinned: shared.settings.allow_unpinned,
                network: shared.settings.network,
            };
            let ctx = OpCtx {
                fs: &tracked,
                os: &checked.session.os,
                profile: &shared.settings.profile.profile,
                vendor: shared.vendor.as_ref().map_err(|e| e.clone()),
                opts: &opts,
                rep,
            };
            let results = ops::run_all(&ctx, &shared.defs)?;
            // The registry values the operations staged: each changed hive written and
            // committed once.
            let mut notes = tracked.commit_hives()?;
            // The driver's side effect, decided once from what the operations changed.
            if !dry_run {
                let changed = results.iter().any(|r| !r.changes.is_empty());
                notes.extend(ops::relabel_if_needed(&tracked, changed)?);
                if let Some(secs) = shared.settings.source_date_epoch {
                    let mut all: Vec<ops::Change> = tracked.take();
                    all.extend(results.iter().flat_map(|r| r.changes.iter().cloned()));
                    let n = ops::stamp_times(&tracked, &all, secs)?;
                    notes.push(format!(
                        "SOURCE_DATE_EPOCH: {n} path(s) imgseal wrote (and their directories) dated {}",
                        crate::manifest::rfc3339(secs as u64)
                    ));
                }
            }
            (results, notes)
        };
        Ok(Operated {
            session: checked.session,
            before: checked.before,
            ops: results,
            notes,
        })
    }

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
}
