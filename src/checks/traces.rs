//! R8: the inventory of traces of the image build, one check per trace category.

use super::{CheckDef, Ctx, Outcome, brief};
use crate::traces::categories;
use anyhow::Result;

pub fn checks() -> Vec<CheckDef> {
    categories()
        .iter()
        .map(|c| {
            let id = c.id;
            CheckDef::new(format!("traces-{id}"), "R8", format!("No traces: {}", c.summary), Box::new(move |ctx: &Ctx| run(ctx, id)))
        })
        .collect()
}

fn run(ctx: &Ctx, category: &str) -> Result<Outcome> {
    let found: Vec<String> = ctx
        .traces()?
        .iter()
        .filter(|t| t.category == category)
        .map(|t| if t.detail.is_empty() { t.path.clone() } else { format!("{} ({})", t.path, t.detail) })
        .collect();
    Ok(if found.is_empty() {
        Outcome::pass("none found")
    } else {
        let paths: Vec<String> = found.iter().map(|f| f.split(" (").next().unwrap_or(f).to_string()).collect();
        Outcome::fail(format!("{} found: {}", found.len(), brief(&paths, 3)), found)
    })
}
