//! Thin shell: parse, dispatch, print the error chain, map to exit codes.

use anyhow::Result;
use clap::Parser;
use imgseal::cli::{Cli, Command};
use imgseal::cli::{ImageArgs, ProfileArgs, RunArgs};
use imgseal::pipeline::{self, Outcome, Settings};
use imgseal::ui::{Console, Reporter};
use imgseal::{
    checks, convert, doctor, exit, image, inspect, installed, junit, profile, rules, vendor, verify,
};
use std::path::Path;

fn attach_opts(a: &ImageArgs) -> image::AttachOpts {
    image::AttachOpts {
        format: a.format.clone(),
        allow_backing: a.allow_backing,
    }
}

/// What convert and batch share, from their arguments (configuration errors surface here,
/// before any image work).
fn settings(
    p: &ProfileArgs,
    r: &RunArgs,
    attach: image::AttachOpts,
    force: bool,
    only: Vec<String>,
    dry_run: bool,
) -> Result<Settings> {
    Ok(Settings {
        force,
        attach,
        profile: profile::load(&p.profile)?,
        vendor_dir: p.vendor_dir.clone(),
        skip: r.skip.clone(),
        only,
        dry_run,
        network: r.network,
        allow_unpinned: r.allow_unpinned,
        out_format: r.output_format,
        compress: r.compress,
        md5: r.md5,
        digest: r.digest,
        boot_test: r.boot_test.then(|| imgseal::boot::Settings {
            timeout_s: r.boot_timeout,
            ..Default::default()
        }),
        source_date_epoch: imgseal::manifest::source_date_epoch()?,
        tree_digest: !r.no_tree_digest,
    })
}

/// Refuses a `--junit FILE` that could not be written, before any other work.
fn junit_target(p: Option<&Path>) -> Result<()> {
    p.map(junit::check_target).transpose().map(|_| ())
}

/// `--junit`: writes the report of `command` when asked.
fn write_junit(
    p: Option<&Path>,
    command: &str,
    suites: impl FnOnce() -> Vec<junit::Suite>,
) -> Result<()> {
    match p {
        Some(p) => junit::Testsuites::new(command, suites()).write(p),
        None => Ok(()),
    }
}

/// An image as reports name it, also when it cannot be opened.
fn image_name(image: &str) -> String {
    image::Input::parse(image)
        .map(|i| i.display())
        .unwrap_or_else(|_| imgseal::ui::printable(image).into_owned())
}

/// inspect and check: the front half of the pipeline, read-only.
fn open_readonly(a: &ImageArgs, rep: &Console) -> Result<pipeline::Inspected> {
    let input = image::Input::parse(&a.image)?;
    pipeline::open(&input, &attach_opts(a), &Default::default(), true, rep)
}

fn run(cli: Cli, rep: &Console) -> Result<i32> {
    match cli.command {
        Command::Check(a) => {
            // Configuration errors surface before any image work.
            junit_target(a.junit.as_deref())?;
            let prof = profile::load(&a.profile.profile)?;
            let vend = vendor::Vendor::load(&a.profile.vendor_dir).map_err(|e| format!("{e:#}"));
            let report = (|| {
                let s = open_readonly(&a.image, rep)?;
                rep.stage("check", "running the rule checks");
                let report = checks::run_all(
                    &checks::Ctx::new(
                        &s.guest(rep),
                        &s.os,
                        &prof.profile,
                        vend.as_ref().map_err(|e| e.clone()),
                    ),
                    &s.name(),
                    &prof.profile.name,
                );
                // Closed (checked) whatever the checks made of the guest.
                s.close()?;
                report
            })();
            // Written whatever the verdict: a non-compliant image (exit 1) is its main use.
            let written = write_junit(a.junit.as_deref(), "check", || {
                vec![match &report {
                    Ok(r) => junit::check(r),
                    Err(e) => {
                        junit::image_error(&image_name(&a.image.image), "check", &format!("{e:#}"))
                    }
                }]
            });
            let report = report?;
            rep.finish();
            if a.json {
                println!("{}", serde_json::to_string_pretty(&report)?);
            } else {
                print!(
                    "{}",
                    checks::render_text(&report, imgseal::ui::color_stdout(), cli.verbose)
                );
            }
            written?;
            Ok(if report.has_errors() {
                exit::ERROR
            } else if report.compliant {
                exit::OK
            } else {
                exit::NONCOMPLIANT
            })
        }
        Command::Convert(a) => {
            junit_target(a.junit.as_deref())?;
            let settings = settings(
                &a.profile,
                &a.run,
                attach_opts(&a.image),
                a.force,
                a.only.clone(),
                a.dry_run,
            )?;
            let input = image::Input::parse(&a.image.image).inspect_err(|e| {
                // An input that cannot be opened is the image's error, as in a batch.
                let _ = write_junit(a.junit.as_deref(), "convert", || {
                    vec![junit::image_error(
                        &image_name(&a.image.image),
                        "convert",
                        &format!("{e:#}"),
                    )]
                });
            })?;
            let opts = convert::ConvertOpts {
                input,
                output: a.output.clone(),
                in_place: a.in_place,
                settings,
            };
            let (attempt, selected) = convert::run(&opts, rep)?;
            rep.finish();
            let written = write_junit(a.junit.as_deref(), "convert", || {
                vec![junit::conversion(
                    &opts.input.display(),
                    &attempt,
                    &selected,
                )]
            });
            let outcome = attempt.outcome?;
            if a.json {
                let v = match &outcome {
                    Outcome::Planned(p) => serde_json::to_string_pretty(p)?,
                    Outcome::NotCompliant(f) => serde_json::to_string_pretty(f)?,
                    Outcome::BootFailed(f) => serde_json::to_string_pretty(f)?,
                    Outcome::Converted(m) => serde_json::to_string_pretty(m)?,
                };
                println!("{v}");
            } else {
                print!("{}", convert::render(&outcome, imgseal::ui::color_stdout()));
            }
            written?;
            Ok(match outcome {
                Outcome::NotCompliant(_) | Outcome::BootFailed(_) => exit::NONCOMPLIANT,
                _ => exit::OK,
            })
        }
        Command::Batch(a) => {
            junit_target(a.junit.as_deref())?;
            // Each input's format is probed from its headers (batch has no --format).
            let settings = settings(
                &a.profile,
                &a.run,
                image::AttachOpts::default(),
                a.force,
                vec![],
                false,
            )?;
            let entries = imgseal::batch::expand(&a.inputs)?;
            let shard = a
                .shard
                .as_deref()
                .map(|s| imgseal::batch::shard::resolve(s, a.shard_count))
                .transpose()?;
            if a.dry_run {
                let plan: Vec<_> = imgseal::batch::plan(&entries, shard)
                    .into_iter()
                    .filter(|p| shard.is_none_or(|s| p.shard == Some(s.index)))
                    .collect();
                if a.json {
                    println!(
                        "{}",
                        serde_json::to_string_pretty(&serde_json::json!({
                            "schema": 1,
                            "dry_run": true,
                            "shard": shard,
                            "images": plan,
                        }))?
                    );
                } else {
                    let what = shard.map_or("this batch".to_string(), |s| format!("shard {s}"));
                    println!(
                        "{what} would convert {} image(s) into {}:",
                        plan.len(),
                        a.out_dir.display()
                    );
                    for p in &plan {
                        println!("  {} -> {}", p.input, p.output);
                    }
                }
                return Ok(exit::OK);
            }
            let summary = imgseal::batch::run(imgseal::batch::BatchOpts {
                entries,
                out_dir: a.out_dir.clone(),
                jobs: a.jobs.unwrap_or_else(imgseal::batch::default_jobs),
                resume: a.resume,
                settings,
                quiet: cli.quiet,
                shard,
            })?;
            rep.finish();
            if a.json {
                println!("{}", serde_json::to_string_pretty(&summary)?);
            } else {
                print!("{}", imgseal::batch::render(&summary));
            }
            if let Some(p) = &a.junit {
                junit::batch(&summary).write(p)?;
            }
            if imgseal::signals::interrupted() {
                return Ok(exit::INTERRUPTED);
            }
            Ok(if summary.all_ok() {
                exit::OK
            } else {
                exit::ERROR
            })
        }
        Command::BootTest(a) => {
            let input = image::Input::parse(&a.image.image)?;
            let Some(path) = input.path().map(Path::to_path_buf) else {
                anyhow::bail!(
                    "{}: boot-test needs an image file (export the NBD disk to a file first)",
                    input.display()
                );
            };
            let probe =
                image::probe::probe(&input, a.image.format.as_deref(), a.image.allow_backing)?;
            let vendor = vendor::Vendor::load(&a.vendor_dir).map_err(|e| format!("{e:#}"));
            let log = a
                .log
                .clone()
                .unwrap_or_else(|| imgseal::boot::default_log(&path));
            let settings = imgseal::boot::Settings {
                timeout_s: a.timeout,
                firmware: a.firmware,
            };
            let bt = imgseal::boot::run(
                &path,
                &probe.format,
                &settings,
                &|r| imgseal::boot::vendor_expectation(&vendor, r),
                &log,
                rep,
            )?;
            rep.finish();
            if a.json {
                #[derive(serde::Serialize)]
                struct Out<'a> {
                    schema: u32,
                    image: String,
                    #[serde(flatten)]
                    boot_test: &'a imgseal::boot::BootTest,
                }
                let out = Out {
                    schema: 1,
                    image: input.display(),
                    boot_test: &bt,
                };
                println!("{}", serde_json::to_string_pretty(&out)?);
            } else {
                print!("{}", imgseal::boot::render(&input.display(), &bt));
            }
            Ok(if bt.passed {
                exit::OK
            } else {
                exit::NONCOMPLIANT
            })
        }
        Command::BatchReport(a) => {
            let m = imgseal::batch::report::merge(&a.dir)?;
            if a.json {
                println!("{}", serde_json::to_string_pretty(&m)?);
            } else {
                print!("{}", imgseal::batch::report::render(&m));
            }
            Ok(if m.all_ok() {
                exit::OK
            } else {
                exit::NONCOMPLIANT
            })
        }
        Command::Verify(a) => {
            let v = verify::run(&a.output, a.deep, rep)?;
            rep.finish();
            if a.json {
                println!("{}", serde_json::to_string_pretty(&v)?);
            } else {
                println!(
                    "{}: {} ({})",
                    v.image,
                    if v.ok { "OK" } else { "MISMATCH" },
                    v.checked.join(", ")
                );
                for m in &v.mismatches {
                    println!("  {m}");
                }
                match &v.tree_sha256 {
                    Some(t) => println!("  tree digest: {t}"),
                    None => println!("  tree digest: none recorded (an older manifest)"),
                }
                match &v.environment {
                    Some(e) => {
                        println!("  converted with:");
                        for (k, val) in e.fields() {
                            println!("    {k:16}  {val}");
                        }
                    }
                    None => println!("  environment: none recorded (an older manifest)"),
                }
                match &v.boot_test {
                    Some(b) => println!(
                        "  boot test at conversion: {}; {}",
                        b.summary(),
                        b.judgements
                            .iter()
                            .map(|j| format!("{} {}", j.id, if j.passed { "ok" } else { "FAIL" }))
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                    None => println!(
                        "  boot test: none recorded (convert --boot-test boots the output)"
                    ),
                }
            }
            Ok(if v.ok { exit::OK } else { exit::NONCOMPLIANT })
        }
        Command::DiffManifest(a) => {
            let ma = imgseal::diffmanifest::load(&a.a)?;
            let mb = imgseal::diffmanifest::load(&a.b)?;
            let d = imgseal::diffmanifest::diff(&a.a, &ma, &a.b, &mb);
            if a.json {
                println!("{}", serde_json::to_string_pretty(&d)?);
            } else {
                print!("{}", imgseal::diffmanifest::render(&d));
            }
            Ok(if d.tree_digest_match {
                exit::OK
            } else {
                exit::NONCOMPLIANT
            })
        }
        Command::Digest(a) if a.tree => {
            // `imgseal-tree-v1:HEX  PATH`, like a content digest's line.
            let input = image::Input::parse(&a.path.to_string_lossy())?;
            let attach = image::AttachOpts {
                format: a.format.clone(),
                allow_backing: false,
            };
            let s = pipeline::open(&input, &attach, &Default::default(), true, rep)?;
            rep.stage("digest", "tree digest of the guest's files");
            let tree = s.guest(rep).tree().map(imgseal::guest::tree::digest);
            s.close()?;
            let tree = tree?;
            rep.finish();
            let algorithm = imgseal::guest::tree::FORMAT;
            if a.json {
                let j = serde_json::json!({
                    "path": a.path.display().to_string(),
                    "of": "tree",
                    "algorithm": algorithm,
                    "value": tree.sha256,
                    "entries": tree.entries,
                });
                println!("{}", serde_json::to_string_pretty(&j)?);
            } else {
                println!("{algorithm}:{}  {}", tree.sha256, a.path.display());
            }
            Ok(exit::OK)
        }
        Command::Digest(a) => {
            // --file: sha256sum's `HEX  PATH`; content: `ALGORITHM:HEX  PATH`.
            let (of, d) = if a.file {
                let value = imgseal::seal::hash_file(&a.path, false, rep)?.0;
                let d = imgseal::digest::ContentDigest {
                    algorithm: imgseal::digest::Algorithm::Sha256,
                    value,
                };
                ("file", d)
            } else {
                let input = image::Input::parse(&a.path.to_string_lossy())?;
                let probe = image::probe::probe(&input, a.format.as_deref(), false)?;
                let work = image::Workdir::new()?;
                let d = imgseal::seal::content_digest(
                    &a.path,
                    &probe.format,
                    work.path(),
                    a.algorithm,
                    rep,
                )?;
                work.close()?;
                ("content", d)
            };
            rep.finish();
            if a.json {
                let j = serde_json::json!({
                    "path": a.path.display().to_string(),
                    "of": of,
                    "algorithm": d.algorithm,
                    "value": d.value,
                });
                println!("{}", serde_json::to_string_pretty(&j)?);
            } else if a.file {
                println!("{}  {}", d.value, a.path.display());
            } else {
                println!("{d}  {}", a.path.display());
            }
            Ok(exit::OK)
        }
        Command::Rules(a) => {
            let list = rules::list();
            if a.json {
                println!("{}", serde_json::to_string_pretty(&list)?);
            } else if a.markdown {
                print!("{}", rules::markdown(&list));
            } else {
                print!("{}", rules::text(&list));
            }
            Ok(exit::OK)
        }
        Command::Inspect(a) => {
            let s = open_readonly(&a.image, rep)?;
            rep.stage("inspect", "reading configuration");
            let report = inspect::gather(&s, &s.guest(rep))?;
            s.close()?;
            rep.finish();
            if a.json {
                println!("{}", serde_json::to_string_pretty(&report)?);
            } else {
                print!("{}", inspect::render_text(&report));
            }
            Ok(exit::OK)
        }
        Command::Completions(a) => {
            use std::io::Write;
            std::io::stdout().write_all(&installed::completions(a.shell))?;
            Ok(exit::OK)
        }
        Command::Manpages(a) => {
            for p in installed::manpages(&a.dir)? {
                println!("{}", p.display());
            }
            Ok(exit::OK)
        }
        Command::Doctor(a) => {
            let checks = doctor::run(rep);
            rep.finish();
            if a.json {
                println!("{}", serde_json::to_string_pretty(&checks)?);
            } else {
                print!("{}", doctor::render_text(&checks));
            }
            Ok(if checks.iter().all(|c| c.ok) {
                exit::OK
            } else {
                exit::ERROR
            })
        }
    }
}

fn main() {
    let cli = Cli::parse();
    imgseal::signals::install();
    let rep = Console::new(cli.verbose, cli.quiet);
    let code = match run(cli, &rep) {
        Ok(code) => code,
        Err(e) if imgseal::signals::is_interrupted(&e) => {
            rep.finish();
            eprintln!("imgseal: {}", imgseal::signals::Interrupted);
            exit::INTERRUPTED
        }
        Err(e) => {
            rep.finish();
            // One line, whatever the causes spelled: scripts read the last line.
            let msg = format!("{e:#}")
                .split_whitespace()
                .collect::<Vec<_>>()
                .join(" ");
            eprintln!("imgseal: error: {msg}");
            exit::ERROR
        }
    };
    std::process::exit(code);
}
