//! Fuzzing (proptest) of every parser of guest files, manifests and tool output: no panic
//! on any input. CI runs a short pass (the default case count); `scripts/fuzz.sh` runs a
//! long one (`PROPTEST_CASES`).

use imgseal::facts::rpmdb::{bdb, header, sqlite};
use imgseal::parse::{
    cloudcfg, dhclient, dpkg, fstab, grub, ini, interfaces, netplan, repos, shellvars,
};
use proptest::prelude::*;
use std::sync::OnceLock;

/// Realistic samples that mutations start from.
const SAMPLES: &[&str] = &[
    "DEVICE=eth0\nBOOTPROTO=\"dhcp\"\nMTU=9000 # jumbo\nHWADDR='52:54:00:12:34:56'\nexport X=\"a \\\"b\\\"\"\n",
    "source /etc/network/interfaces.d/*\nauto lo\niface lo inet loopback\nallow-hotplug eth0\niface eth0 inet dhcp\n  mtu 9000\n  post-up ip link set dev eth0 mtu 9000 \\\n   && true\n",
    "network:\n  version: 2\n  ethernets:\n    ens3:\n      dhcp4: true\n      mtu: 9000\n      match: {macaddress: 'fa:16:3e:00:00:01'}\n",
    "# to update this file, run dpkg-reconfigure cloud-init\ndatasource_list: [ NoCloud, ConfigDrive, OpenStack, None ]\ndatasource:\n  OpenStack:\n    timeout: 5\n",
    "datasource_list:\n  - NoCloud\n  - 'None'\n",
    "Package: cloud-init\nStatus: install ok installed\nVersion: 22.4.2-1\nDescription: x\n long line\n\nPackage: ufw\nStatus: deinstall ok config-files\n",
    "UUID=abc / ext4 errors=remount-ro 0 1\n/dev/sda2 none swap sw 0 0\n# comment\nproc /proc proc defaults\n",
    "supersede interface-mtu 9000;\ninterface \"eth0\" { default interface-mtu 1400; }\n",
    "[connection]\nid=a\n[ethernet]\nmtu=9000\n[ipv4]\nmethod=auto\n",
    "[base]\nbaseurl=http://a.example.com/x\n  http://b.example.com/y\nmirrorlist=http://m/?r=7\nenabled=0\n",
    "deb [arch=amd64] http://deb.debian.org/debian bookworm main\nTypes: deb\nURIs: http://a http://b\nSuites: x\nEnabled: no\n",
    "set default=\"${saved_entry}\"\nmenuentry 'CentOS (3.10)' $menuentry_id_option 'gnulinux-3.10' {\n linux16 /vmlinuz-3.10.0 ro\n}\ndefault=0\ntitle C6\n kernel /vmlinuz-2.6.32 ro\n",
];

/// A sample with random bytes spliced in: close to real input, yet broken anywhere.
fn mutated() -> impl Strategy<Value = String> {
    (0..SAMPLES.len(), any::<usize>(), any::<usize>(), ".{0,40}").prop_map(|(i, at, cut, junk)| {
        let s = SAMPLES[i];
        let mut b: Vec<char> = s.chars().collect();
        let at = at % (b.len() + 1);
        let cut = (cut % 20).min(b.len() - at);
        b.splice(at..at + cut, junk.chars());
        b.into_iter().collect()
    })
}

fn input() -> impl Strategy<Value = String> {
    prop_oneof![mutated(), ".{0,300}", "[ -~\n\t\\[\\]{}:#=\"']{0,300}"]
}

fn every_text_parser(s: &str) {
    let _ = shellvars::parse(s);
    let _ = shellvars::unquote(s);
    let i = interfaces::parse(s);
    for iface in &i.ifaces {
        for o in &iface.options {
            let _ = interfaces::hook_mtu(&o.value);
        }
    }
    let _ = netplan::parse(s);
    let _ = cloudcfg::datasource_list(s);
    let _ = dpkg::parse_status(s);
    let _ = fstab::parse(s);
    let _ = dhclient::mtu_statements(s);
    let _ = ini::parse(s);
    let _ = repos::yum(s);
    let _ = repos::apt_list(s);
    let _ = repos::apt_deb822(s);
    let _ = repos::host_of(s);
    let (e, d) = grub::grub2_cfg(s);
    let _ = grub::select(&e, d.as_deref());
    let _ = grub::select(&e, Some(s));
    let _ = grub::grub_legacy(s);
    let _ = grub::grubenv_saved(s);
    let _ = grub::kernel_of(s);
    let _ = imgseal::seal::parse_sum_line(s);
    let _ = imgseal::guest::appliance_fs::split_run_output(s);
    let _ = imgseal::image::probe::QemuImgInfo::parse(s);
    let _ = imgseal::tomltext::parse_toml::<imgseal::profile::Profile>(s, "fuzz.toml");
    let _ = imgseal::tomltext::parse_toml::<imgseal::vendor::Manifest>(s, "vendor.toml");
    let _ = s.parse::<imgseal::digest::Sha256Digest>();
    let _ = imgseal::ui::printable(s);
}

/// The rpm database fixtures (scripts/make-rpmdb-fixtures.sh): real files to damage.
fn rpmdb_fixture(name: &str) -> &'static [u8] {
    static FILES: OnceLock<Vec<(String, Vec<u8>)>> = OnceLock::new();
    let files = FILES.get_or_init(|| {
        let base = std::env::var_os("IMGSEAL_FIXTURES")
            .map(std::path::PathBuf::from)
            .unwrap_or_else(|| {
                std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/fixtures")
            })
            .join("rpmdb");
        [
            "sqlite/rpmdb.sqlite",
            "wal/rpmdb.sqlite",
            "wal/rpmdb.sqlite-wal",
            "bdb/Packages",
        ]
        .iter()
        .map(|n| {
            let p = base.join(n);
            let b = std::fs::read(&p).unwrap_or_else(|e| {
                panic!("{}: {e}: run scripts/make-test-images.sh", p.display())
            });
            (n.to_string(), b)
        })
        .collect()
    });
    &files.iter().find(|(n, _)| n == name).unwrap().1
}

/// A real database with a few bytes changed, mostly where the structure is (the first
/// bytes of pages: headers, cell pointers, item offsets), and maybe cut short.
fn damaged(name: &'static str) -> impl Strategy<Value = Vec<u8>> {
    (
        proptest::collection::vec((any::<u32>(), 0usize..96, any::<u8>(), any::<bool>()), 1..8),
        proptest::option::weighted(0.1, any::<usize>()),
    )
        .prop_map(move |(edits, cut)| {
            let mut b = rpmdb_fixture(name).to_vec();
            let pages = (b.len() / 4096).max(1);
            for (page, off, byte, anywhere) in edits {
                let at = if anywhere {
                    page as usize % b.len()
                } else {
                    (page as usize % pages) * 4096 + off
                };
                if at < b.len() {
                    b[at] = byte;
                }
            }
            if let Some(c) = cut {
                b.truncate(c % (b.len() + 1));
            }
            b
        })
}

proptest! {
    #[test]
    fn rpm_sqlite_reader_never_panics_or_loops(db in damaged("sqlite/rpmdb.sqlite")) {
        let _ = sqlite::packages(&db, None);
        let _ = sqlite::find(&db, None, "cloud-init");
    }

    #[test]
    fn rpm_sqlite_log_reader_never_panics_or_loops(wal in damaged("wal/rpmdb.sqlite-wal")) {
        let db = rpmdb_fixture("wal/rpmdb.sqlite").to_vec();
        let _ = sqlite::packages(&db, Some(&wal));
        let _ = sqlite::find(&db, Some(&wal), "cloud-init");
    }

    #[test]
    fn rpm_berkeley_db_reader_never_panics_or_loops(db in damaged("bdb/Packages")) {
        let _ = bdb::packages(&db);
    }

    #[test]
    fn rpm_readers_never_panic_on_junk(bytes in proptest::collection::vec(any::<u8>(), 0..5000)) {
        let _ = header::parse(&bytes);
        let _ = sqlite::packages(&bytes, None);
        let _ = sqlite::record(&bytes);
        let _ = bdb::packages(&bytes);
        // Junk behind a valid file header reaches the page walkers.
        let mut s = rpmdb_fixture("sqlite/rpmdb.sqlite")[..100].to_vec();
        s.extend_from_slice(&bytes);
        let _ = sqlite::packages(&s, None);
        let mut b = rpmdb_fixture("bdb/Packages")[..512].to_vec();
        b.extend_from_slice(&bytes);
        let _ = bdb::packages(&b);
    }

    #[test]
    fn text_parsers_never_panic(s in input()) {
        every_text_parser(&s);
    }

    #[test]
    fn version_order_is_total_and_antisymmetric(a in "[0-9a-z.~+-]{0,12}", b in "[0-9a-z.~+-]{0,12}") {
        let ab = grub::vercmp(&a, &b);
        prop_assert_eq!(ab, grub::vercmp(&b, &a).reverse());
        prop_assert_eq!(grub::vercmp(&a, &a), std::cmp::Ordering::Equal);
    }

    #[test]
    fn disk_sniff_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..70000)) {
        let _ = imgseal::image::sniff::recognise(&bytes);
    }

    #[test]
    fn shell_values_round_trip_through_quotes(v in "[ -~]{0,40}") {
        // A value written in double quotes with escapes reads back as itself.
        let quoted = format!("\"{}\"", v.replace('\\', "\\\\").replace('"', "\\\"").replace('$', "\\$").replace('`', "\\`"));
        prop_assert_eq!(shellvars::unquote(&quoted), v.as_str());
    }
}
