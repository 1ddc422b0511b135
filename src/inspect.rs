//! `imgseal inspect`: a read-only report of what is in an image.

use crate::facts::{OsInfo, cloudinit, firewall, network};
use crate::guest::fs::GuestFs;
use crate::guest::launch::Appliance;
use crate::pipeline::Inspected;
use anyhow::Result;
use serde::Serialize;

/// The JSON document `inspect --json` prints (a contract: scripts parse it).
#[derive(Debug, Clone, Serialize)]
pub struct Inspection {
    pub schema: u32,
    pub image: String,
    pub format: String,
    pub virtual_size: u64,
    /// What imgseal's NBD sniff found in the first MiB.
    pub disk_signature: String,
    pub appliance: ApplianceInfo,
    pub os: OsInfo,
    pub filesystems: Vec<Filesystem>,
    /// Linux only.
    pub cloud_init: Option<cloudinit::CloudInit>,
    pub firewall: Vec<firewall::FirewallService>,
    pub network: Option<network::NetworkFacts>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ApplianceInfo {
    pub accel: String,
    pub launch_seconds: f64,
    /// Whether imgseal's fast-boot copy of the appliance ran (TCG launches).
    pub fast_boot: bool,
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Filesystem {
    pub device: String,
    #[serde(rename = "type")]
    pub fs_type: String,
    pub mountpoint: Option<String>,
    pub uuid: Option<String>,
    pub label: Option<String>,
}

pub const SCHEMA: u32 = 1;

/// Every filesystem the appliance sees, with mountpoints from inspection.
pub fn filesystems(app: &Appliance, os: &OsInfo) -> Result<Vec<Filesystem>> {
    let mps = app.mountpoints(os)?;
    Ok(app
        .filesystems()?
        .into_iter()
        .filter(|f| f.vfs != "unknown" && f.vfs != "LVM2_member")
        .map(
            |crate::guest::inspect::BlockFs { dev, vfs: t }| Filesystem {
                // A btrfs subvolume (`btrfsvol:/dev/sda1/root`) counts for its filesystem;
                // of several, the shortest mountpoint names it.
                mountpoint: mps
                    .iter()
                    .filter(|(_, d)| {
                        *d == dev
                            || d.strip_prefix("btrfsvol:")
                                .and_then(|r| r.strip_prefix(dev.as_str()))
                                .is_some_and(|r| r.starts_with('/'))
                    })
                    .min_by_key(|(m, _)| m.len())
                    .map(|(m, _)| m.clone()),
                uuid: app.uuid(&dev),
                label: app.label(&dev),
                device: dev,
                fs_type: t,
            },
        )
        .collect())
}

/// Gathers the report from a mounted guest.
pub fn gather(s: &Inspected, fs: &dyn GuestFs) -> Result<Inspection> {
    let os = s.os.clone();
    let linux = os.is_linux();
    Ok(Inspection {
        schema: SCHEMA,
        image: s.disk.probe.input.display(),
        format: s.disk.probe.format.clone(),
        virtual_size: s.disk.probe.virtual_size,
        disk_signature: s.disk.recognised.to_string(),
        appliance: ApplianceInfo {
            accel: s.app.accel.name().to_string(),
            launch_seconds: (s.app.launch_secs * 10.0).round() / 10.0,
            fast_boot: s.app.fast_boot,
        },
        filesystems: filesystems(&s.app, &os)?,
        cloud_init: if linux {
            Some(cloudinit::scan(fs, &os)?)
        } else {
            None
        },
        firewall: if linux {
            firewall::scan(fs, &os)?
        } else {
            vec![]
        },
        network: if linux {
            Some(network::scan(fs)?)
        } else {
            None
        },
        os,
    })
}

fn opt(s: &Option<String>) -> &str {
    s.as_deref().unwrap_or("-")
}

/// The human summary: aligned `key  value` lines, grouped.
pub fn render_text(i: &Inspection) -> String {
    let mut rows: Vec<(String, String)> = Vec::new();
    let mut row = |k: &str, v: String| rows.push((k.to_string(), v));
    row(
        "image",
        format!(
            "{} ({}, {})",
            i.image,
            i.format,
            crate::ui::human_bytes(i.virtual_size)
        ),
    );
    row(
        "appliance",
        format!(
            "{} launch {:.1} s",
            i.appliance.accel, i.appliance.launch_seconds
        ),
    );
    row(
        "os",
        format!("{} {} ({})", i.os.os_type, i.os.short(), i.os.arch),
    );
    row("product", i.os.product_name.clone());
    if let Some(w) = &i.os.windows {
        row(
            "build",
            format!("{} {} ({})", w.build, w.edition, w.installation_type),
        );
        row("system root", w.system_root.clone());
        row(
            "control sets",
            format!(
                "{} current; {} named by Select",
                w.current_control_set,
                w.control_sets.join(", ")
            ),
        );
        for d in &w.drives {
            let on = d.device.as_deref().unwrap_or("no attached partition");
            row(
                "drive",
                format!("{}: {on} ({} {})", d.letter, d.kind, d.location),
            );
        }
        for a in &w.applications {
            row(
                "application",
                format!(
                    "{} {} ({}, {})",
                    if a.display_name.is_empty() {
                        &a.name
                    } else {
                        &a.display_name
                    },
                    a.version,
                    a.publisher,
                    a.view
                ),
            );
        }
    } else {
        row(
            "packages",
            format!("{} / {}", i.os.package_format, i.os.package_management),
        );
        row("init system", i.os.init_system.to_string());
    }
    row("hostname", i.os.hostname.clone());
    for f in &i.filesystems {
        row(
            "filesystem",
            format!(
                "{} {} on {} uuid={} label={}",
                f.device,
                f.fs_type,
                f.mountpoint.as_deref().unwrap_or("(not mounted)"),
                opt(&f.uuid),
                opt(&f.label)
            ),
        );
    }
    if let Some(c) = &i.cloud_init {
        row(
            "cloud-init",
            if let Some(e) = &c.package_database_error {
                format!("unknown ({e})")
            } else if c.installed {
                format!("installed, version {}", opt(&c.version))
            } else {
                "not installed".into()
            },
        );
        row(
            "datasources",
            match (&c.datasources, &c.datasources_from) {
                (Some(l), Some(f)) => format!("[{}] (from {f})", l.join(", ")),
                _ => "not set (cloud-init probes all it knows)".into(),
            },
        );
    }
    if i.os.is_linux() && i.firewall.is_empty() {
        row("firewall", "none installed".into());
    }
    for f in &i.firewall {
        row(
            "firewall",
            format!(
                "{} {}{}",
                f.name,
                if f.starts_at_boot {
                    "starts at boot"
                } else {
                    "off at boot"
                },
                if f.evidence.is_empty() {
                    String::new()
                } else {
                    format!(" ({})", f.evidence.join("; "))
                }
            ),
        );
    }
    if let Some(n) = &i.network {
        for f in &n.files {
            row("network file", f.clone());
        }
        match n.primary() {
            Some(p) => row(
                "primary nic",
                format!("{} {} ({})", p.name, p.method, p.file),
            ),
            None => row("primary nic", "not configured in any file".into()),
        }
        if n.mtus.is_empty() {
            row("mtu", "none set (DHCP decides)".into());
        }
        for m in &n.mtus {
            row(
                "mtu",
                format!("{} at {}:{} ({})", m.value, m.file, m.line, m.setting),
            );
        }
    }
    let w = rows.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
    rows.iter()
        .map(|(k, v)| format!("{k:<w$}  {v}\n"))
        .collect()
}
