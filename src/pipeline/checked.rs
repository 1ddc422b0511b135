//! Stage 4: the "before" report. The operations run next, in their fixed order, through
//! [`Tracked`] (which records every change, and in a dry run only records).

use super::inspected::Inspected;
use super::operated::Operated;
use super::settings::Shared;
use crate::checks::Report;
use crate::ops::{self, OpCtx, OpOpts, Tracked};
use crate::ui::Reporter;
use anyhow::Result;

pub struct Checked {
    pub session: Inspected,
    pub before: Report,
}

impl Checked {
    pub fn operate(self, shared: &Shared, rep: &dyn Reporter) -> Result<Operated> {
        crate::signals::check()?;
        let (results, notes) = {
            let guest = self.session.guest(rep);
            let dry_run = shared.settings.dry_run;
            let tracked = Tracked::new(&guest, dry_run);
            let opts = OpOpts {
                allow_unpinned: shared.settings.allow_unpinned,
                network: shared.settings.network,
            };
            let ctx = OpCtx {
                fs: &tracked,
                os: &self.session.os,
                profile: &shared.settings.profile.profile,
                vendor: shared.vendor.as_ref().map_err(|e| e.clone()),
                opts: &opts,
                rep,
            };
            let results = ops::run_all(&ctx, &shared.defs)?;
            // The driver's side effect, decided once from what the operations changed.
            let mut notes = Vec::new();
            if !dry_run {
                let changed = results.iter().any(|r| !r.changes.is_empty());
                notes.extend(ops::relabel_if_needed(&tracked, changed)?);
            }
            (results, notes)
        };
        Ok(Operated {
            session: self.session,
            before: self.before,
            ops: results,
            notes,
        })
    }
}
