//! Thin shell: parse, dispatch, print the error chain, map to exit codes.

use anyhow::Result;
use clap::Parser;
use imgseal::cli::{Cli, Command};
use imgseal::ui::{Console, Reporter};
use imgseal::{doctor, exit, image, inspect, pipeline};

fn run(cli: Cli, rep: &Console) -> Result<i32> {
    match cli.command {
        Command::Inspect(a) => {
            let input = image::Input::parse(&a.image.image)?;
            let opts = pipeline::SessionOpts {
                attach: image::AttachOpts {
                    format: a.image.format.clone(),
                    allow_backing: a.image.allow_backing,
                },
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
