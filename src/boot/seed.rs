//! The NoCloud seed: a small FAT volume labelled `cidata` holding `meta-data` and a
//! `user-data` that makes cloud-init run the report script and power the guest off. Made
//! with dosfstools and mtools (`mkfs.vfat -C`, `mcopy -i`): nothing is mounted.

use crate::cmd::Cmd;
use anyhow::{Context, Result};
use std::path::Path;

/// The guest side of the report: run by cloud-init, written to `/run` by the seed.
pub const REPORT_SCRIPT: &str = include_str!("report.py");
const GUEST_SCRIPT: &str = "/run/imgseal-boot-report.py";

/// `meta-data`: a fresh instance id, so cloud-init runs as on a first boot even where the
/// image kept an old instance's state.
pub fn meta_data(instance_id: &str) -> String {
    format!("instance-id: {instance_id}\nlocal-hostname: imgseal-boot-test\n")
}

/// `user-data` (cloud-config): write the report script, run it with the guest's Python
/// (python3, else python; a marker line when there is none), power off.
pub fn user_data() -> String {
    let script: String = REPORT_SCRIPT
        .lines()
        .map(|l| {
            if l.is_empty() {
                "\n".to_string()
            } else {
                format!("      {l}\n")
            }
        })
        .collect();
    let no_python = super::judge::NO_PYTHON;
    format!(
        "#cloud-config\n\
         # imgseal boot test: report on the second serial port, then power off.\n\
         write_files:\n\
         \x20 - path: {GUEST_SCRIPT}\n\
         \x20   permissions: '0644'\n\
         \x20   content: |\n\
         {script}\
         runcmd:\n\
         \x20 - [sh, -c, 'for p in python3 python; do if command -v $p >/dev/null 2>&1; then exec $p {GUEST_SCRIPT}; fi; done; echo {no_python} >/dev/ttyS1']\n\
         power_state:\n\
         \x20 mode: poweroff\n\
         \x20 condition: true\n\
         \x20 timeout: 30\n\
         \x20 message: imgseal boot test done\n"
    )
}

/// Writes the seed image (raw FAT, 1 MiB) at `path`.
pub fn build(path: &Path, instance_id: &str) -> Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let ud = dir.join("user-data");
    let md = dir.join("meta-data");
    std::fs::write(&ud, user_data()).with_context(|| format!("writing {}", ud.display()))?;
    std::fs::write(&md, meta_data(instance_id))
        .with_context(|| format!("writing {}", md.display()))?;
    Cmd::new("mkfs.vfat")
        .args(["-n", "CIDATA", "-C"])
        .arg(path)
        .arg("1024")
        .output()
        .context(
            "making the NoCloud seed (is dosfstools installed? run scripts/install-deps.sh)",
        )?;
    Cmd::new("mcopy")
        .arg("-i")
        .arg(path)
        .arg(&ud)
        .arg(&md)
        .arg("::")
        .output()
        .context("filling the NoCloud seed (is mtools installed? run scripts/install-deps.sh)")?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse::yaml::Value;

    #[test]
    fn user_data_is_cloud_config_that_carries_the_script_and_powers_off() {
        let ud = user_data();
        assert!(ud.starts_with("#cloud-config\n"));
        let doc = crate::parse::yaml::parse(&ud).expect("user-data parses as YAML");
        let s = |v: Option<&Value>| match v {
            Some(Value::String(s)) => s.clone(),
            other => panic!("not a string: {other:?}"),
        };
        let Some(Value::Seq(files)) = doc.get("write_files") else {
            panic!("no write_files: {doc:?}");
        };
        assert_eq!(s(files[0].get("path")), GUEST_SCRIPT);
        // The script arrives in the guest byte for byte.
        assert_eq!(s(files[0].get("content")), REPORT_SCRIPT);
        let ps = doc.get("power_state").unwrap();
        assert_eq!(s(ps.get("mode")), "poweroff");
        let Some(Value::Seq(run)) = doc.get("runcmd") else {
            panic!("no runcmd");
        };
        assert!(format!("{:?}", run[0]).contains(GUEST_SCRIPT));
        assert!(meta_data("i-1").starts_with("instance-id: i-1\n"));
    }

    #[test]
    fn the_report_script_writes_to_the_second_serial_port_between_markers() {
        assert!(REPORT_SCRIPT.contains("/dev/ttyS1"));
        assert!(REPORT_SCRIPT.contains(super::super::judge::BEGIN));
        assert!(REPORT_SCRIPT.contains(super::super::judge::END));
    }
}
