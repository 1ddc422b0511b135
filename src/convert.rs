//! `imgseal convert`: the whole pipeline, one appliance launch per image.
//!
//! probe → overlay → attach → launch → inspect → check ("before") → operations → check
//! ("after"; a rule still failing stops here) → finalize (relabel flag, fstrim, swap) →
//! shutdown (checked) → convert to OUTPUT.partial → checksums → manifest → atomic rename.
//! Any failure before the rename removes the overlay and the partial output; the input is
//! only ever read.

use crate::checks::{self, Report};
use crate::digest::{self, Sha256Digest};
use crate::facts::OsInfo;
use crate::guest::fs::GuestFs;
use crate::guest::session::{Appliance, Drive, LaunchOpts};
use crate::image::{self, AttachOpts, Attached, Input};
use crate::manifest::{self, Manifest};
use crate::ops::{self, OpCtx, OpOpts, OpResult, Tracked};
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

/// What every image of a run shares (convert and batch).
#[derive(Debug, Clone)]
pub struct Settings {
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

/// One `imgseal convert`.
#[derive(Debug, Clone)]
pub struct ConvertOpts {
    pub input: Input,
    pub output: Option<PathBuf>,
    pub in_place: bool,
    pub settings: Settings,
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
    /// A stage that ran alongside others: its own time, without moving the clock.
    fn record(&mut self, stage: &str, secs: f64) {
        *self.t.entry(stage.to_string()).or_default() += (secs * 100.0).round() / 100.0;
    }
    fn finish(mut self) -> BTreeMap<String, f64> {
        let total = self.start.map(|s| s.elapsed().as_secs_f64()).unwrap_or(0.0);
        self.t
            .insert("total".into(), (total * 100.0).round() / 100.0);
        self.t
    }
}

/// What every image of a run shares: the settings, the vendor packages loaded from them and
/// the operations they select.
pub struct Shared {
    pub settings: Settings,
    pub vendor: std::result::Result<Vendor, String>,
    pub defs: Vec<ops::OpDef>,
}

impl Shared {
    /// Loads the vendor manifest and selects the operations; refuses a run whose package
    /// swap has no manifest to take packages from.
    pub fn new(o: &Settings) -> Result<Shared> {
        let defs = ops::select(&o.skip, &o.only)?;
        let vendor = Vendor::load(&o.vendor_dir).map_err(|e| format!("{e:#}"));
        if let (Err(why), false) = (&vendor, o.dry_run) {
            if defs.iter().any(|d| d.id == "cloud-init-swap") {
                bail!("{why}; or pass --skip cloud-init-swap");
            }
        }
        Ok(Shared {
            settings: o.clone(),
            vendor,
            defs,
        })
    }

    fn report(&self, fs: &dyn GuestFs, os: &OsInfo, image: &str) -> Result<Report> {
        let ctx = checks::Ctx::new(
            fs,
            os,
            &self.settings.profile.profile,
            self.vendor.as_ref().map_err(|e| e.clone()),
        );
        checks::run_all(&ctx, image, &self.settings.profile.profile.name)
    }
}

/// One image of a run.
#[derive(Debug, Clone)]
pub struct Job {
    pub input: Input,
    pub output: Option<PathBuf>,
    pub in_place: bool,
}

/// The output a job will write, checked before any work.
fn job_target(j: &Job, dry_run: bool) -> Result<Option<PathBuf>> {
    Ok(match (&j.output, j.in_place, dry_run) {
        (_, _, true) => None,
        (Some(_), true, _) => bail!("give either -o OUTPUT or --in-place, not both"),
        (None, true, _) => match &j.input {
            Input::File(p) => Some(p.clone()),
            Input::Nbd(u) => bail!("{u}: --in-place needs a file input"),
        },
        (Some(p), false, _) => {
            if let Input::File(i) = &j.input {
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
    })
}

pub fn run(o: &ConvertOpts, rep: &dyn Reporter) -> Result<Outcome> {
    let shared = Shared::new(&o.settings)?;
    let job = Job {
        input: o.input.clone(),
        output: o.output.clone(),
        in_place: o.in_place,
    };
    run_group(&shared, &[(job, rep)]).remove(0).result
}

/// The result of one image of a group.
pub struct GroupResult {
    pub result: Result<Outcome>,
    /// The failure came from sharing an appliance (launch, inspection, a lost appliance): the
    /// image deserves a retry alone.
    pub shared_failure: bool,
    /// Images the appliance that served this one served in all (0: no appliance was
    /// launched for it, e.g. the input was refused while attaching).
    pub images_per_launch: usize,
}

/// One image's state through the group pipeline.
struct Slot<'a> {
    job: &'a Job,
    rep: &'a dyn Reporter,
    stages: Stages,
    target: Option<PathBuf>,
    partial: Option<PartialOutput>,
    input_hash: Option<std::thread::JoinHandle<Result<Sha256Digest>>>,
    attached: Option<Attached>,
    drive: usize,
    os: Option<OsInfo>,
    before: Option<Report>,
    after: Option<Report>,
    ops: Vec<OpResult>,
    finalize: Vec<String>,
    accel: String,
    launch_secs: f64,
    fast_boot: bool,
    done: Option<GroupResult>,
}

impl Slot<'_> {
    fn alive(&self) -> bool {
        self.done.is_none()
    }
    fn fail(&mut self, e: anyhow::Error, shared_failure: bool, n: usize) {
        self.done = Some(GroupResult {
            result: Err(e),
            shared_failure,
            images_per_launch: n,
        });
    }
    fn finish(&mut self, o: Outcome, n: usize) {
        self.done = Some(GroupResult {
            result: Ok(o),
            shared_failure: false,
            images_per_launch: n,
        });
    }
    fn name(&self) -> String {
        self.job.input.display()
    }
}

/// Claims the output, starts hashing the input, attaches the image.
fn prepare(slot: &mut Slot, shared: &Shared) -> Result<()> {
    slot.target = job_target(slot.job, shared.settings.dry_run)?;
    if let Some(t) = &slot.target {
        let p = PartialOutput::claim(t, shared.settings.force || slot.job.in_place)?;
        if slot.job.in_place && !crate::ffi::os::same_filesystem(&p.partial(), t)? {
            bail!(
                "{}: cannot replace it atomically (its directory is on another filesystem); convert to -o OUTPUT instead",
                t.display()
            );
        }
        slot.partial = Some(p);
    }
    if let (Input::File(p), false) = (&slot.job.input, shared.settings.dry_run) {
        let p = p.clone();
        slot.input_hash = Some(std::thread::spawn(move || digest::sha256_file(&p)));
    }
    slot.rep.stage("attach", &slot.job.input.display());
    let attached = image::attach(&slot.job.input, &shared.settings.attach)?;
    slot.rep.debug(&format!(
        "{}: {} {} bytes, {} in the first MiB",
        slot.name(),
        attached.probe.format,
        attached.probe.virtual_size,
        attached.recognised
    ));
    slot.attached = Some(attached);
    Ok(())
}

/// Converts several images with ONE appliance launch: every image is attached as its own
/// drive, inspected together, then checked, changed and finalized one after the other, and
/// sealed after a single checked shutdown. A single conversion is a group of one.
pub fn run_group(shared: &Shared, jobs: &[(Job, &dyn Reporter)]) -> Vec<GroupResult> {
    let mut slots: Vec<Slot> = jobs
        .iter()
        .map(|(job, rep)| Slot {
            job,
            rep: *rep,
            stages: Stages::start(),
            target: None,
            partial: None,
            input_hash: None,
            attached: None,
            drive: 0,
            os: None,
            before: None,
            after: None,
            ops: vec![],
            finalize: vec![],
            accel: String::new(),
            launch_secs: 0.0,
            fast_boot: false,
            done: None,
        })
        .collect();
    for s in slots.iter_mut() {
        if let Err(e) = prepare(s, shared) {
            s.fail(e, false, 0);
        }
        s.stages.done("attach");
    }
    let live: Vec<usize> = (0..slots.len()).filter(|i| slots[*i].alive()).collect();
    let n = live.len();
    if n == 0 {
        return finish(slots);
    }
    let drives: Vec<Drive> = live
        .iter()
        .enumerate()
        .map(|(d, i)| {
            slots[*i].drive = d;
            let a = slots[*i].attached.as_ref().expect("attached");
            Drive::nbd_unix(
                a.export().socket(),
                image::nbd::EXPORT_NAME,
                shared.settings.dry_run,
            )
        })
        .collect();
    for i in &live {
        slots[*i].rep.stage(
            "launch",
            &format!("starting the libguestfs appliance ({n} image(s))"),
        );
    }
    let launch = signals::check().and_then(|_| {
        Appliance::launch(
            &drives,
            &LaunchOpts {
                network: shared.settings.network,
                ..Default::default()
            },
            slots[live[0]].rep,
        )
    });
    let app = match launch {
        Ok(a) => a,
        Err(e) => {
            let msg = format!("{e:#}");
            for i in &live {
                slots[*i].fail(anyhow::anyhow!("{msg}"), n > 1, n);
            }
            return finish(slots);
        }
    };
    for i in &live {
        slots[*i].accel = app.accel.name().to_string();
        slots[*i].launch_secs = (app.launch_secs * 10.0).round() / 10.0;
        slots[*i].fast_boot = app.fast_boot;
        slots[*i].stages.done("launch");
        slots[*i]
            .rep
            .stage("inspect", "identifying the operating system");
    }
    match app.roots() {
        Ok(roots) => assign_roots(&app, &mut slots, &live, &roots, n),
        Err(e) => {
            let msg = format!("{e:#}");
            for i in &live {
                slots[*i].fail(anyhow::anyhow!("{msg}"), n > 1, n);
            }
        }
    }
    for i in &live {
        if !slots[*i].alive() {
            continue;
        }
        slots[*i].stages.done("inspect");
        let r = process_guest(&app, &mut slots[*i], shared, n);
        let _ = app.handle().umount_all();
        if let Err(e) = r {
            slots[*i].fail(e, false, n);
            // A dead appliance cannot serve the rest of the group.
            if app.handle().list_devices().is_err() {
                let name = slots[*i].name();
                for j in &live {
                    if slots[*j].alive() {
                        slots[*j].fail(
                            anyhow::anyhow!("the appliance was lost while converting {name}"),
                            true,
                            n,
                        );
                    }
                }
            }
        }
    }
    for i in &live {
        if slots[*i].alive() {
            slots[*i]
                .rep
                .stage("finalize", "shutting the appliance down");
        }
    }
    if let Err(e) = app.shutdown() {
        let msg = format!("{e:#}");
        for i in &live {
            if slots[*i].alive() {
                slots[*i].fail(anyhow::anyhow!("{msg}"), n > 1, n);
            }
        }
    }
    for i in &live {
        if slots[*i].alive() {
            if let Err(e) = seal_slot(&mut slots[*i], shared, n) {
                slots[*i].fail(e, false, n);
            }
        }
    }
    finish(slots)
}

fn finish(slots: Vec<Slot>) -> Vec<GroupResult> {
    slots
        .into_iter()
        .map(|mut s| {
            // Guards go here: overlay, export, work dir, partial output.
            if let Some(a) = s.attached.take() {
                let _ = a.close();
            }
            s.done.take().unwrap_or_else(|| GroupResult {
                result: Err(anyhow::anyhow!("internal error: no result")),
                shared_failure: false,
                images_per_launch: 1,
            })
        })
        .collect()
}

/// Gives each image its root: exactly one operating system per disk.
fn assign_roots(app: &Appliance, slots: &mut [Slot], live: &[usize], roots: &[String], n: usize) {
    for i in live {
        let drive = slots[*i].drive;
        let mine: Vec<String> = roots
            .iter()
            .filter(|r| n == 1 || app.disk_index(r) == Some(drive))
            .cloned()
            .collect();
        let name = slots[*i].name();
        if mine.is_empty() && n == 1 {
            let e = app.explain_no_os(&name);
            slots[*i].fail(e, false, n);
            continue;
        }
        match crate::guest::session::single_root(&name, &mine)
            .and_then(|root| app.os_info(&name, &root))
        {
            Ok(os) if os.is_linux() => slots[*i].os = Some(os),
            Ok(os) => slots[*i].fail(
                anyhow::anyhow!(
                    "{name}: a {} guest; imgseal converts Linux guests only",
                    os.os_type
                ),
                false,
                n,
            ),
            // With several disks an unfound root may be a clash between them (same LVM
            // volume group names): worth a retry alone.
            Err(e) => slots[*i].fail(e, n > 1, n),
        }
    }
}

/// Mount, check, operate, check again, finalize: one image in a (possibly shared) appliance.
fn process_guest(app: &Appliance, slot: &mut Slot, shared: &Shared, n: usize) -> Result<()> {
    let rep = slot.rep;
    let image = slot.name();
    let mut os = slot.os.take().expect("inspected");
    app.handle().umount_all()?;
    let mounts = app.mount_os(&mut os, shared.settings.dry_run, n > 1)?;
    rep.stage("check", "before");
    let guest = app.guest(rep);
    let before = shared.report(&guest, &os, &image)?;
    slot.stages.done("check-before");
    signals::check()?;
    let tracked = Tracked::new(&guest, shared.settings.dry_run);
    let op_opts = OpOpts {
        allow_unpinned: shared.settings.allow_unpinned,
        network: shared.settings.network,
    };
    let octx = OpCtx {
        fs: &tracked,
        os: &os,
        profile: &shared.settings.profile.profile,
        vendor: shared.vendor.as_ref().map_err(|e| e.clone()),
        opts: &op_opts,
        rep,
    };
    let op_results = ops::run_all(&octx, &shared.defs)?;
    slot.stages.done("operations");
    signals::check()?;
    if shared.settings.dry_run {
        slot.finish(
            Outcome::Planned(Box::new(Plan {
                schema: 1,
                image,
                dry_run: true,
                before,
                operations: op_results,
            })),
            n,
        );
        return Ok(());
    }
    let changed = op_results.iter().any(|r| !r.changes.is_empty());
    if let Some(note) = ops::relabel_if_needed(&tracked, changed)? {
        slot.finalize.push(note);
    }
    rep.stage("check", "after");
    let after = shared.report(&guest, &os, &image)?;
    slot.stages.done("check-after");
    if !after.compliant {
        slot.finish(
            Outcome::NotCompliant(Box::new(Failed {
                schema: 1,
                image,
                compliant: false,
                before,
                operations: op_results,
                after,
            })),
            n,
        );
        return Ok(());
    }
    let drive = slot.drive;
    let notes = seal::finalize(
        app,
        &mounts,
        |dev| n == 1 || app.disk_index(dev) == Some(drive),
        rep,
    )?;
    slot.finalize.extend(notes);
    slot.stages.done("finalize");
    slot.os = Some(os);
    slot.before = Some(before);
    slot.after = Some(after);
    slot.ops = op_results;
    Ok(())
}

/// After the shutdown: write, hash, digest, sidecars, publish.
fn seal_slot(slot: &mut Slot, shared: &Shared, n: usize) -> Result<()> {
    signals::check()?;
    let rep = slot.rep;
    let mut attached = slot.attached.take().expect("attached");
    attached.stop_export()?;
    let partial = slot
        .partial
        .take()
        .expect("an output is claimed when not a dry run");
    let target = slot.target.clone().expect("target");
    let fmt = shared.settings.out_format.unwrap_or(if slot.job.in_place {
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
    seal::convert_image(
        &attached.overlay,
        &partial.partial(),
        fmt,
        shared.settings.compress,
        rep,
    )?;
    slot.stages.done("convert");
    // The file's checksum and the content digest read different bytes and are each bound
    // by one core's hashing: they run side by side (progress shows the longer one).
    rep.stage(
        "checksum",
        "sha256 of the output, and the content digest over NBD",
    );
    let out_path = partial.partial();
    let (sums, content) = std::thread::scope(|s| {
        let file = s.spawn(|| {
            let t0 = Instant::now();
            let r = seal::hash_file(
                &out_path,
                shared.settings.md5,
                &crate::ui::Recorder::default(),
            );
            (r, t0.elapsed().as_secs_f64())
        });
        let content = seal::content_digest(&out_path, fmt.qemu(), attached.workdir(), rep);
        let sums = file
            .join()
            .map_err(|_| anyhow::anyhow!("the output hashing thread panicked"));
        (sums, content)
    });
    let (sums, file_secs) = sums?;
    let (sha, md5) = sums?;
    let content = content?;
    slot.stages.record("checksum", file_secs);
    slot.stages.done("content-digest");
    let input_sha: Option<Sha256Digest> = match slot.input_hash.take() {
        Some(t) => Some(
            t.join()
                .map_err(|_| anyhow::anyhow!("the input hashing thread panicked"))??,
        ),
        None => None,
    };
    slot.stages.done("input-hash");
    let before = slot.before.take().expect("before");
    let after = slot.after.take().expect("after");
    let ops = std::mem::take(&mut slot.ops);
    let vendor_used: Vec<manifest::VendorUse> = match (
        &shared.vendor,
        ops.iter().any(|r| r.id == "cloud-init-swap"),
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
            path: slot.job.input.display(),
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
            name: shared.settings.profile.profile.name.clone(),
            source: shared.settings.profile.source.clone(),
            sha256: shared.settings.profile.sha256.clone(),
        },
        vendor_packages: vendor_used,
        operations: manifest::ops_json(&ops),
        finalize: std::mem::take(&mut slot.finalize),
        before: manifest::report_json(&before),
        after: manifest::report_json(&after),
        seconds: BTreeMap::new(),
        host: manifest::host_info(),
        appliance: manifest::ApplianceInfo {
            accel: slot.accel.clone(),
            launch_seconds: slot.launch_secs,
            fast_boot: slot.fast_boot,
            images_per_launch: n,
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
    slot.stages.done("manifest");
    m.seconds = std::mem::take(&mut slot.stages).finish();
    seal::write_atomic(
        &partial.paths.manifest(),
        serde_json::to_string_pretty(&m)?.as_bytes(),
    )?;
    signals::check()?;
    rep.stage("publish", &target.display().to_string());
    partial.publish()?;
    attached.close()?;
    slot.finish(Outcome::Converted(Box::new(m)), n);
    Ok(())
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
