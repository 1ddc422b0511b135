//! `imgseal convert`: the whole pipeline, one appliance launch per image.
//!
//! probe → overlay → attach → launch → inspect → check ("before") → operations → check
//! ("after"; a rule still failing stops here) → finalize (relabel flag, fstrim, swap) →
//! shutdown (checked) → convert to OUTPUT.partial → checksums → manifest → atomic rename.
//! Any failure before the rename removes the overlay and the partial output; the input is
//! only ever read.

use crate::checks::{self, Report};
use crate::digest::{self, Sha256Digest};
use crate::image::{AttachOpts, Input};
use crate::manifest::{self, Manifest};
use crate::ops::{self, OpCtx, OpOpts, OpResult, Tracked};
use crate::pipeline::{Session, SessionOpts};
use crate::profile;
use crate::seal::{self, OutFormat, PartialOutput};
use crate::signals;
use crate::ui::Reporter;
use crate::vendor::Vendor;
use anyhow::{Context, Result, bail};
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Instant;

#[derive(Debug, Clone)]
pub struct ConvertOpts {
    pub input: Input,
    pub output: Option<PathBuf>,
    pub in_place: bool,
    pub force: bool,
    pub attach: AttachOpts,
    pub profile: profile::Loaded,
    pub vendor_dir: PathBuf,
    pub skip: Vec<String>,
    pub only: Vec<String>,
    pub dry_run: bool,
    pub network: bool,
    pub allow_unpinned: bool,
    /// None: qcow2, or the input's own format for --in-place.
    pub out_format: Option<OutFormat>,
    pub compress: bool,
    pub md5: bool,
}

/// What a dry run prints: the plan.
#[derive(Debug, Clone, Serialize)]
pub struct Plan {
    pub schema: u32,
    pub image: String,
    pub dry_run: bool,
    pub before: Report,
    pub operations: Vec<OpResult>,
}

/// A conversion whose "after" check still fails: nothing is written.
#[derive(Debug, Clone, Serialize)]
pub struct Failed {
    pub schema: u32,
    pub image: String,
    pub compliant: bool,
    pub before: Report,
    pub operations: Vec<OpResult>,
    pub after: Report,
}

#[derive(Debug)]
pub enum Outcome {
    Planned(Box<Plan>),
    NotCompliant(Box<Failed>),
    Converted(Box<Manifest>),
}

/// Seconds per stage.
#[derive(Default)]
struct Stages {
    t: BTreeMap<String, f64>,
    start: Option<Instant>,
    at: Option<Instant>,
}

impl Stages {
    fn start() -> Stages {
        let now = Instant::now();
        Stages {
            t: BTreeMap::new(),
            start: Some(now),
            at: Some(now),
        }
    }
    fn done(&mut self, stage: &str) {
        let now = Instant::now();
        let secs = now.duration_since(self.at.unwrap_or(now)).as_secs_f64();
        *self.t.entry(stage.to_string()).or_default() += (secs * 100.0).round() / 100.0;
        self.at = Some(now);
    }
    fn finish(mut self) -> BTreeMap<String, f64> {
        let total = self.start.map(|s| s.elapsed().as_secs_f64()).unwrap_or(0.0);
        self.t
            .insert("total".into(), (total * 100.0).round() / 100.0);
        self.t
    }
}

fn checks_report(
    s: &Session,
    fs: &dyn crate::guest::fs::GuestFs,
    o: &ConvertOpts,
    vendor: &std::result::Result<Vendor, String>,
) -> Report {
    let ctx = checks::Ctx::new(
        fs,
        &s.os,
        &o.profile.profile,
        vendor.as_ref().map_err(|e| e.clone()),
    );
    checks::run_all(&ctx, &o.input.display(), &o.profile.profile.name)
}

pub fn run(o: &ConvertOpts, rep: &dyn Reporter) -> Result<Outcome> {
    let mut stages = Stages::start();
    let defs = ops::select(&o.skip, &o.only)?;
    let vendor = Vendor::load(&o.vendor_dir).map_err(|e| format!("{e:#}"));
    if let (Err(why), false) = (&vendor, o.dry_run) {
        if defs.iter().any(|d| d.id == "cloud-init-swap") {
            bail!("{why}; or pass --skip cloud-init-swap");
        }
    }
    // Claim the output first: a bad output path fails before a minute of work.
    let target = match (&o.output, o.in_place, o.dry_run) {
        (_, _, true) => None,
        (Some(_), true, _) => bail!("give either -o OUTPUT or --in-place, not both"),
        (None, true, _) => match &o.input {
            Input::File(p) => Some(p.clone()),
            Input::Nbd(u) => bail!("{u}: --in-place needs a file input"),
        },
        (Some(p), false, _) => {
            if let Input::File(i) = &o.input {
                if std::fs::canonicalize(p).ok().as_ref() == Some(i) {
                    bail!(
                        "{}: the output is the input; use --in-place to replace the input",
                        p.display()
                    );
                }
            }
            Some(p.clone())
        }
        (None, false, false) => bail!("give -o OUTPUT (or --in-place, or --dry-run)"),
    };
    let partial = match &target {
        Some(t) => Some(PartialOutput::claim(t, o.force || o.in_place)?),
        None => None,
    };
    if let (Some(p), Some(t)) = (&partial, &target) {
        if o.in_place && !crate::ffi::os::same_filesystem(&p.partial(), t)? {
            bail!(
                "{}: cannot replace it atomically (its directory is on another filesystem); convert to -o OUTPUT instead",
                t.display()
            );
        }
    }
    let input_hash = match (&o.input, o.dry_run) {
        (Input::File(p), false) => {
            let p = p.clone();
            Some(std::thread::spawn(move || digest::sha256_file(&p)))
        }
        _ => None,
    };

    let sopts = SessionOpts {
        attach: o.attach.clone(),
        launch: crate::guest::session::LaunchOpts {
            network: o.network,
            ..Default::default()
        },
        readonly: o.dry_run,
    };
    let session = Session::open(&o.input, &sopts, rep)?;
    stages.done("attach+launch+inspect");
    if !session.os.is_linux() {
        bail!(
            "{}: a {} guest; imgseal converts Linux guests only",
            o.input.display(),
            session.os.os_type
        );
    }
    let accel = session.app.accel.name().to_string();
    let launch_secs = session.app.launch_secs;

    rep.stage("check", "before");
    let guest = session.guest(rep);
    let before = checks_report(&session, &guest, o, &vendor);
    stages.done("check-before");
    signals::check()?;

    let tracked = Tracked::new(&guest, o.dry_run);
    let op_opts = OpOpts {
        allow_unpinned: o.allow_unpinned,
        network: o.network,
    };
    let octx = OpCtx {
        fs: &tracked,
        os: &session.os,
        profile: &o.profile.profile,
        vendor: vendor.as_ref().map_err(|e| e.clone()),
        opts: &op_opts,
        rep,
    };
    let op_results = ops::run_all(&octx, &defs)?;
    stages.done("operations");
    signals::check()?;

    if o.dry_run {
        drop(guest);
        session.close()?;
        return Ok(Outcome::Planned(Box::new(Plan {
            schema: 1,
            image: o.input.display(),
            dry_run: true,
            before,
            operations: op_results,
        })));
    }

    let changed = op_results.iter().any(|r| !r.changes.is_empty());
    let mut finalize_notes = Vec::new();
    if let Some(n) = ops::relabel_if_needed(&tracked, changed)? {
        finalize_notes.push(n);
    }
    rep.stage("check", "after");
    let after = checks_report(&session, &guest, o, &vendor);
    stages.done("check-after");
    if !after.compliant {
        drop(guest);
        session.close()?;
        return Ok(Outcome::NotCompliant(Box::new(Failed {
            schema: 1,
            image: o.input.display(),
            compliant: false,
            before,
            operations: op_results,
            after,
        })));
    }
    drop(guest);

    finalize_notes.extend(seal::finalize(&session.app, &session.mounts, rep)?);
    rep.stage("finalize", "shutting the appliance down");
    let mut attached = session.shutdown()?;
    stages.done("finalize");
    signals::check()?;

    let partial = partial.expect("an output is claimed when not a dry run");
    let target = target.expect("target");
    let fmt = o.out_format.unwrap_or(if o.in_place {
        OutFormat::from_qemu(&attached.probe.format).unwrap_or(OutFormat::Qcow2)
    } else {
        OutFormat::Qcow2
    });
    let need = measure(&attached.overlay)?;
    seal::check_space(
        partial
            .partial()
            .parent()
            .unwrap_or(std::path::Path::new(".")),
        need,
    )?;
    rep.stage(
        "seal",
        &format!("writing {} ({})", partial.partial().display(), fmt.qemu()),
    );
    seal::convert_image(&attached.overlay, &partial.partial(), fmt, o.compress, rep)?;
    stages.done("convert");

    rep.stage("checksum", "sha256 of the output");
    let (sha, md5) = seal::hash_file(&partial.partial(), o.md5, rep)?;
    stages.done("checksum");
    rep.stage("checksum", "content digest over NBD");
    let content = seal::content_digest(&partial.partial(), fmt.qemu(), attached.workdir(), rep)?;
    stages.done("content-digest");
    let input_sha: Option<Sha256Digest> = match input_hash {
        Some(t) => Some(
            t.join()
                .map_err(|_| anyhow::anyhow!("the input hashing thread panicked"))??,
        ),
        None => None,
    };
    stages.done("input-hash");

    let vendor_used: Vec<manifest::VendorUse> = match (
        &vendor,
        op_results.iter().any(|r| r.id == "cloud-init-swap"),
    ) {
        (Ok(v), true) => v
            .find("cloud-init", &before.os)
            .and_then(|p| {
                p.sha256.parse().ok().map(|s| manifest::VendorUse {
                    file: p.file.clone(),
                    sha256: s,
                })
            })
            .into_iter()
            .collect(),
        _ => vec![],
    };
    let out_size = std::fs::metadata(partial.partial())?.len();
    let mut m = Manifest {
        schema: manifest::SCHEMA,
        tool: manifest::Tool {
            name: "imgseal".into(),
            version: env!("CARGO_PKG_VERSION").into(),
        },
        created: manifest::now_rfc3339(),
        input: manifest::InputInfo {
            path: o.input.display(),
            format: attached.probe.format.clone(),
            virtual_size: attached.probe.virtual_size,
            sha256: input_sha,
        },
        output: manifest::OutputInfo {
            path: target.to_string_lossy().into_owned(),
            format: fmt.qemu().into(),
            size: out_size,
            virtual_size: attached.probe.virtual_size,
            sha256: sha,
            md5: md5.clone(),
            content_sha256: content,
        },
        profile: manifest::ProfileInfo {
            name: o.profile.profile.name.clone(),
            source: o.profile.source.clone(),
            sha256: o.profile.sha256.clone(),
        },
        vendor_packages: vendor_used,
        operations: manifest::ops_json(&op_results),
        finalize: finalize_notes,
        before: manifest::report_json(&before),
        after: manifest::report_json(&after),
        seconds: BTreeMap::new(),
        host: manifest::host_info(),
        appliance: manifest::ApplianceInfo {
            accel,
            launch_seconds: (launch_secs * 10.0).round() / 10.0,
        },
    };
    // Sidecars first: a visible OUTPUT always has true sidecars.
    let name = partial.paths.file_name();
    seal::write_atomic(
        &partial.paths.sha256(),
        seal::sha256_line(&sha, &name).as_bytes(),
    )?;
    match &md5 {
        Some(md5) => {
            seal::write_atomic(&partial.paths.md5(), format!("{md5}  {name}\n").as_bytes())?
        }
        None => {
            let _ = std::fs::remove_file(partial.paths.md5());
        }
    }
    stages.done("manifest");
    m.seconds = stages.finish();
    seal::write_atomic(
        &partial.paths.manifest(),
        serde_json::to_string_pretty(&m)?.as_bytes(),
    )?;
    signals::check()?;
    rep.stage("publish", &target.display().to_string());
    partial.publish()?;
    attached.stop_export()?;
    attached.close()?;
    Ok(Outcome::Converted(Box::new(m)))
}

/// Bytes the output will need, with a margin: `qemu-img measure` as qcow2 (the allocated
/// data plus metadata), which also bounds the sparse raw, vmdk and vhd outputs; qemu-img
/// cannot measure vmdk or vpc directly.
fn measure(overlay: &std::path::Path) -> Result<u64> {
    #[derive(serde::Deserialize)]
    struct M {
        required: u64,
    }
    let out = crate::cmd::Cmd::new("qemu-img")
        .args(["measure", "--output=json", "-f", "qcow2", "-O", "qcow2"])
        .arg(overlay)
        .stdout()
        .context("measuring the output size")?;
    let m: M = serde_json::from_str(&out).context("parsing qemu-img measure")?;
    Ok(m.required + m.required / 10 + (16 << 20))
}

/// The human summary of a conversion.
pub fn render(outcome: &Outcome, color: bool) -> String {
    let ops_text = |ops: &[OpResult]| -> String {
        let mut s = String::new();
        for r in ops {
            // A plan lists its changes; the notes speak of work done.
            let notes = if r.status == "planned" {
                String::new()
            } else {
                r.notes.join("; ")
            };
            s.push_str(&format!(
                "  {:<22} {:<6} {:<9} {notes}\n",
                r.id, r.rule, r.status
            ));
            if r.status == "planned" {
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
        Outcome::Converted(m) => {
            let ops: Vec<OpResult> =
                serde_json::from_value(m.operations.clone()).unwrap_or_default();
            let after: Report = serde_json::from_value(m.after.clone())
                .unwrap_or_else(|_| panic!("manifest after report"));
            let before: Report = serde_json::from_value(m.before.clone())
                .unwrap_or_else(|_| panic!("manifest before report"));
            format!(
                "{} -> {}\nbefore: {}\n\noperations:\n{}\nafter:  {}\n\noutput  {} ({}, {})\nsha256  {}\ncontent {}\ntime    {:.0} s\n",
                m.input.path,
                m.output.path,
                verdict(&before),
                ops_text(&ops),
                verdict(&after),
                m.output.path,
                m.output.format,
                crate::ui::human_bytes(m.output.size),
                m.output.sha256,
                m.output.content_sha256,
                m.seconds.get("total").copied().unwrap_or(0.0)
            )
        }
    }
}

fn verdict(r: &Report) -> String {
    if r.compliant {
        "compliant".into()
    } else {
        format!("not compliant ({} fail)", r.failing_rules.join(", "))
    }
}
