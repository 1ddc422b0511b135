//! Fuzzing (proptest) of every parser of guest files, manifests and tool output: no panic
//! on any input. CI runs a short pass (the default case count); `scripts/fuzz.sh` runs a
//! long one (`PROPTEST_CASES`).

use imgseal::parse::{
    cloudcfg, dhclient, dpkg, fstab, grub, ini, interfaces, netplan, repos, shellvars,
};
use proptest::prelude::*;

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

proptest! {
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
