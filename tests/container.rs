//! Issue 18: the container image, built and run as the README says. `scripts/container.sh
//! build` makes the Debian 12 base with debootstrap (no registry), builds the Dockerfile with
//! `podman build --isolation=chroot` around this test's imgseal binary, and the README's own
//! `docker run` lines run with `podman run --runtime=runc`: `doctor`, then one conversion of
//! the debian12 fixture with the work directory mounted. The output is verified on the host
//! (`verify --deep`), and its manifest names the image it was converted in. A podman that
//! cannot build or run fails this test: nothing here is skipped.

mod common;
use common::*;
use std::path::Path;
use std::process::Command;
use std::time::Instant;

const README_DOCTOR: &str = "docker run --rm imgseal doctor";
const README_CONVERT: &str = r#"docker run --rm -v "$PWD:/images" imgseal convert /images/vendor.qcow2 -o /images/sealed.qcow2 --vendor-dir /images/vendor-packages"#;

/// A README line as CI runs it: `podman run --runtime=runc` for `docker run`, in `dir`.
fn run_readme_line(line: &str, dir: &Path) -> std::process::Output {
    let readme =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md")).unwrap();
    assert!(
        readme.lines().any(|l| l.trim() == line),
        "the README no longer holds the line this test runs: {line}"
    );
    let cmd = line.replacen("docker run", "podman run --runtime=runc", 1);
    let conf = containers_conf();
    Command::new("sh")
        .args(["-c", &cmd])
        .current_dir(dir)
        .env("CONTAINERS_CONF", conf.path())
        .output()
        .unwrap()
}

/// podman gives a container an open-file limit of 1048576, which a process whose own hard
/// limit is lower (these CI hosts: 20000) may not set: runc then fails with "error setting
/// rlimit type 7" (and likewise for processes). A containers.conf whose default_ulimits are
/// this process's open-file hard limit (from /proc/self/limits) and 4096 processes keeps the
/// README's line as it is (the README says so).
fn containers_conf() -> tempfile::NamedTempFile {
    let limits = std::fs::read_to_string("/proc/self/limits").unwrap();
    let hard = |what: &str| -> String {
        let l = limits
            .lines()
            .find(|l| l.starts_with(what))
            .unwrap_or_else(|| panic!("no {what} in /proc/self/limits"));
        let v: Vec<&str> = l[what.len()..].split_whitespace().collect();
        v[1].to_string()
    };
    // nproc at the hard limit is still refused here; 4096 (the README's) is plenty.
    let nofile = hard("Max open files");
    let nproc = hard("Max processes")
        .parse::<u64>()
        .map(|n| n.min(4096))
        .unwrap_or(4096);
    let f = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(
        f.path(),
        format!(
            "[containers]\ndefault_ulimits = [\"nofile={nofile}:{nofile}\", \"nproc={nproc}:{nproc}\"]\n"
        ),
    )
    .unwrap();
    f
}

fn podman(args: &[&str]) -> String {
    let conf = containers_conf();
    let out = Command::new("podman")
        .args(args)
        .env("CONTAINERS_CONF", conf.path())
        .output()
        .unwrap();
    assert!(out.status.success(), "podman {args:?}: {}", stderr(&out));
    stdout(&out).trim().to_string()
}

#[test]
fn the_image_builds_runs_doctor_and_a_conversion_that_verifies_on_the_host() {
    let t0 = Instant::now();
    let out = Command::new(Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/container.sh"))
        .args(["build", "--binary", env!("CARGO_BIN_EXE_imgseal")])
        .output()
        .expect("running scripts/container.sh");
    assert!(
        out.status.success(),
        "the container image did not build:\n{}\n{}",
        stdout(&out),
        stderr(&out)
    );
    let build_s = t0.elapsed().as_secs_f64();
    let id = podman(&["image", "inspect", "-f", "{{.Id}}", "imgseal"]);
    let size: f64 = podman(&["image", "inspect", "-f", "{{.Size}}", "imgseal"])
        .parse()
        .unwrap();
    let snapshot = podman(&[
        "image",
        "inspect",
        "-f",
        "{{index .Labels \"imgseal.base_snapshot\"}}",
        "debian:bookworm-local",
    ]);
    assert!(
        snapshot.len() == 16 && snapshot.ends_with('Z'),
        "{snapshot}"
    );

    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let t1 = Instant::now();
    let out = run_readme_line(README_DOCTOR, d);
    assert_eq!(
        out.status.code(),
        Some(0),
        "doctor in the container:\n{}\n{}",
        stdout(&out),
        stderr(&out)
    );
    let doctor_s = t1.elapsed().as_secs_f64();

    std::fs::copy(fixture("debian12.qcow2"), d.join("vendor.qcow2")).unwrap();
    let vendor = d.join("vendor-packages");
    std::fs::create_dir(&vendor).unwrap();
    for e in std::fs::read_dir(vendor_dir()).unwrap() {
        let e = e.unwrap();
        if e.file_type().unwrap().is_file() {
            std::fs::copy(e.path(), vendor.join(e.file_name())).unwrap();
        }
    }
    let t2 = Instant::now();
    let out = run_readme_line(README_CONVERT, d);
    assert_eq!(
        out.status.code(),
        Some(0),
        "convert in the container:\n{}\n{}",
        stdout(&out),
        stderr(&out)
    );
    let convert_s = t2.elapsed().as_secs_f64();
    eprintln!(
        "container: build {build_s:.0} s, doctor run {doctor_s:.0} s, convert run {convert_s:.0} s, image {:.0} MB",
        size / 1e6
    );

    // Verified on the host, with the host's imgseal.
    let sealed = d.join("sealed.qcow2");
    let out = Imgseal::new().run(&["verify", "--deep", sealed.to_str().unwrap()]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}{}",
        stdout(&out),
        stderr(&out)
    );
    let m: serde_json::Value =
        serde_json::from_slice(&std::fs::read(d.join("sealed.qcow2.manifest.json")).unwrap())
            .unwrap();
    // podman tells only a --privileged container its image ID: the README's line gets
    // `unknown` there, and the image is named by its name and its content digest.
    let env = &m["environment"];
    assert!(
        env["container"] == id.as_str() || env["container"] == "unknown",
        "{env}"
    );
    assert_eq!(env["container_image"], "imgseal", "{env}");
    let content = podman(&[
        "run",
        "--rm",
        "--runtime=runc",
        "--entrypoint",
        "cat",
        "imgseal",
        "/etc/imgseal-image-content",
    ]);
    assert_eq!(content.len(), 64, "{content}");
    assert_eq!(env["container_content"], content.as_str(), "{env}");
    assert_eq!(env["base_snapshot"], snapshot.as_str(), "{env}");
    assert!(
        stdout(&out).contains(&format!("container content  {content}")),
        "verify prints the environment:\n{}",
        stdout(&out)
    );
    assert_eq!(m["output"]["tree_sha256"].as_str().unwrap().len(), 64);
}
