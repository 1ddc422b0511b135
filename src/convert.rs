//! `imgseal convert`: one image through the whole [`pipeline`](crate::pipeline), and the
//! human summary of how it ended.

use crate::checks::{self, Report};
use crate::image::Input;
use crate::ops::{OpResult, OpStatus};
use crate::pipeline::{self, Attempt, Job, Outcome, Settings, Shared};
use crate::ui::Reporter;
use anyhow::Result;
use std::path::PathBuf;

/// One `imgseal convert`.
#[derive(Debug, Clone)]
pub struct ConvertOpts {
    pub input: Input,
    pub output: Option<PathBuf>,
    pub in_place: bool,
    pub settings: Settings,
}

/// One conversion: its attempt (the outcome, or the error with how far it got), and the ids
/// of the operations selected. A configuration error is the outer error, before any image
/// work.
pub fn run(o: &ConvertOpts, rep: &dyn Reporter) -> Result<(Attempt, Vec<&'static str>)> {
    let shared = Shared::new(&o.settings)?;
    let job = Job {
        input: o.input.clone(),
        output: o.output.clone(),
        in_place: o.in_place,
    };
    let selected = shared.defs.iter().map(|d| d.id).collect();
    Ok((pipeline::convert(&shared, &job, rep), selected))
}

/// The human summary of a conversion.
pub fn render(outcome: &Outcome, color: bool) -> String {
    let ops_text = |ops: &[OpResult]| -> String {
        let mut s = String::new();
        for r in ops {
            let planned = r.status == OpStatus::Planned;
            // A plan lists its changes; the notes speak of work done.
            let notes = if planned {
                String::new()
            } else {
                r.notes.join("; ")
            };
            s.push_str(&format!(
                "  {:<22} {:<6} {:<9} {notes}\n",
                r.id,
                r.rule,
                r.status.as_str()
            ));
            if planned {
                for c in &r.changes {
                    s.push_str(&format!(
                        "  {:<22} {:<6} {:<9}   would {} {}\n",
                        "", "", "", c.action, c.target
                    ));
                }
            }
        }
        s
    };
    match outcome {
        Outcome::Planned(p) => format!(
            "{}\nbefore: {}\n\nplan (dry run, nothing written):\n{}",
            p.image,
            verdict(&p.before),
            ops_text(&p.operations)
        ),
        Outcome::NotCompliant(f) => format!(
            "{}\nbefore: {}\n\noperations:\n{}\nafter:\n{}\nno output written: rules still fail after the operations\n",
            f.image,
            verdict(&f.before),
            ops_text(&f.operations),
            checks::render_text(&f.after, color, false)
        ),
        Outcome::BootFailed(f) => format!(
            "{} -> {}\nbefore: {}\n\noperations:\n{}\nafter:  {}\n\n{}no output published: the sealed image did not pass its boot test\n",
            f.image,
            f.output,
            verdict(&f.before),
            ops_text(&f.operations),
            verdict(&f.after),
            crate::boot::render(&f.output, &f.boot_test),
        ),
        Outcome::Converted(m) => format!(
            "{} -> {}\nbefore: {}\n\noperations:\n{}\nafter:  {}\n{}\noutput  {} ({}, {})\nsha256  {}\ncontent {}\ntime    {:.0} s\n",
            m.input.path,
            m.output.path,
            verdict(&m.before),
            ops_text(&m.operations),
            verdict(&m.after),
            m.boot_test
                .as_ref()
                .map(|b| format!(
                    "boot:   {}, report after {:.0} s\n",
                    b.summary(),
                    b.report_after_s.unwrap_or(0.0)
                ))
                .unwrap_or_default(),
            m.output.path,
            m.output.format,
            crate::ui::human_bytes(m.output.size),
            m.output.sha256,
            m.output.content_digest,
            m.seconds.get("total").copied().unwrap_or(0.0)
        ),
    }
}

fn verdict(r: &Report) -> String {
    if r.compliant {
        "compliant".into()
    } else {
        format!("not compliant ({} fail)", r.failing_rules.join(", "))
    }
}
