//! Thin shell: parse, dispatch, print the error chain, map to exit codes.

use anyhow::Result;
use clap::Parser;
use imgseal::cli::{Cli, Command};
use imgseal::ui::{Console, Reporter};
use imgseal::cli::ImageArgs;
use imgseal::{checks, doctor, exit, image, inspect, pipeline, profile, rules, vendor};

fn attach_opts(a: &ImageArgs) -> image::AttachOpts {
    image::AttachOpts {
        format: a.format.clone(),
        allow_backing: a.allow_backing,
    }
}

fn run(cli: Cli, rep: &Console) -> Result<i32> {
    match cli.command {
        Command::Check(a) => {
            // Configuration errors surface before any image work.
            let prof = profile::load(&a.profile.profile)?;
            let vend = vendor::Vendor::load(&a.profile.vendor_dir).map_err(|e| format!("{e:#}"));
            let input = image::Input::parse(&a.image.image)?;
            let opts = pipeline::SessionOpts {
                attach: attach_opts(&a.image),
                readonly: true,
                ..Default::default()
            };
            let s = pipeline::Session::open(&input, &opts, rep)?;
            if !s.os.is_linux() {
                anyhow::bail!("{}: a {} guest; imgseal checks Linux guests only", input.display(), s.os.os_type);
            }
            rep.stage("check", "running the rule checks");
            let guest = s.guest(rep);
            let ctx = checks::Ctx::new(&guest, &s.os, &prof.profile, vend.as_ref().map_err(|e| e.clone()));
            let report = checks::run_all(&ctx, &input.display(), &prof.profile.name);
            drop(ctx);
            drop(guest);
            s.close()?;
            rep.finish();
            if a.json {
                println!("{}", serde_json::to_string_pretty(&report)?);
            } else {
                print!("{}", checks::render_text(&report, imgseal::ui::color_stdout(), cli.verbose));
            }
            Ok(if report.has_errors() {
                exit::ERROR
            } else if report.compliant {
                exit::OK
            } else {
                exit::NONCOMPLIANT
            })
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
            let input = image::Input::parse(&a.image.image)?;
            let opts = pipeline::SessionOpts {
                attach: attach_opts(&a.image),
                readonly: true,
                ..Default::default()
            };
            let s = pipeline::Session::open(&input, &opts, rep)?;
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
    let rep = Console::new(cli.verbose, cli.quiet);
    let code = match run(cli, &rep) {
        Ok(code) => code,
        Err(e) => {
            rep.finish();
            eprintln!("imgseal: error: {e:#}");
            exit::ERROR
        }
    };
    std::process::exit(code);
}
