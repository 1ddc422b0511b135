//! R8: the inventory of traces of the image build, one check per trace category.

use super::{CheckDef, Ctx, Outcome, brief};
use crate::rule::RuleId;
use crate::traces::categories;
use anyhow::Result;

pub fn checks() -> Vec<CheckDef> {
    categories()
        .iter()
        .map(|c| {
            let id = c.id;
            CheckDef::new(
                format!("traces-{id}"),
                RuleId::R8,
                c.applies,
                format!("No traces: {}", c.summary),
                Box::new(move |ctx: &Ctx| run(ctx, id)),
            )
        })
        .collect()
}

fn run(ctx: &Ctx, category: &str) -> Result<Outcome> {
    let mine: Vec<&crate::traces::Trace> = ctx
        .traces()?
        .iter()
        .filter(|t| t.category == category)
        .collect();
    if mine.is_empty() {
        return Ok(Outcome::pass("none found"));
    }
    let paths: Vec<String> = mine.iter().map(|t| t.path.clone()).collect();
    let found = mine
        .iter()
        .map(|t| {
            if t.detail.is_empty() {
                t.path.clone()
            } else {
                format!("{} ({})", t.path, t.detail)
            }
        })
        .collect();
    Ok(Outcome::fail(
        format!("{} found: {}", paths.len(), brief(&paths, 3)),
        found,
    ))
}
