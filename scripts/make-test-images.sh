#!/usr/bin/env bash
# Builds the test fixtures from Debian packages, from nothing, without mounting anything:
# one debootstrap'ed Debian 12 root, turned into several guest layouts, each written into a
# partitioned disk with `mke2fs -d` and converted to qcow2.
#
#   debian12.qcow2   real Debian 12: Debian's cloud-init 22.4, ufw on, an MTU hook, traces
#   debian12-boot.qcow2  the same vendor state on a Debian 12 that boots: kernel, initramfs,
#                    GRUB in the MBR (grub-install inside the appliance), serial console
#   centos7.qcow2    SYNTHETIC CentOS 7 layout (Debian userland): systemd, firewalld on,
#                    ifcfg-eth0 MTU=9000 + HWADDR, rpm db with cloud-init 0.7.9 + firewalld
#   centos6.qcow2    SYNTHETIC CentOS 6 layout: SysV init, iptables S08 links, udev
#                    70-persistent-net.rules, rpm db with el6 cloud-init
#   ubuntu1604.qcow2 SYNTHETIC Ubuntu 16.04 layout: xenial os-release/lsb-release, ufw on,
#                    interfaces MTU, dpkg db with a locally built cloud-init 0.7.9 deb
#   symlinks.qcow2   Debian 12 whose trace paths are symlinks into /etc and /, and whose
#                    /etc/cloud is a symlink (one cloud.cfg.d entry links to a FIFO)
#   blank.qcow2      a partitioned disk with an empty ext4 and no OS
#   arch.qcow2       SYNTHETIC Arch Linux layout: arch-release, rolling os-release, pacman's
#                    local database holding cloud-init 23.4.4-1 (tiny root)
#   nosh.qcow2       SYNTHETIC CentOS 7 root without /bin/sh, its rpm database the Berkeley DB
#                    Packages file of rpmdb/ (cloud-init 0.7.9) on a separate /var (p2, fstab
#                    LABEL=VAR): read without guest programs, once /var is mounted
#   fedora.qcow2     SYNTHETIC Fedora 39 root without /bin/sh in btrfs subvolume `root` (fstab
#                    subvol=root; `home` beside it): os-release only under /usr/lib,
#                    rpmdb.sqlite under /usr/lib/sysimage/rpm (/var/lib/rpm a link to it)
#   coreos.qcow2     SYNTHETIC CoreOS Container Linux layout: the root on p1 (no fstab, no /bin),
#                    /usr on p2 (USR-A) holding the only os-release and the binaries
#   initramfs/       initramfs archives for the unit tests (make-initramfs-fixtures.sh)
#   rpmdb/           rpm databases (sqlite, with a write-ahead log, Berkeley DB) written by
#                    Debian's rpm and db_load, for the unit tests (make-rpmdb-fixtures.sh)
#   win2008r2.qcow2, win2012r2.qcow2, winhiber.qcow2
#                    SYNTHETIC Windows Server layouts (make-windows-fixtures.sh)
#   vendor/          test vendor packages (rpm built with rpmbuild, debs repacked from
#                    Debian's real cloud-init with vendor versions) and their vendor.toml
#
# Each fixture has NAME.json beside it: what was planted, for the tests to assert on.
# Output goes to $IMGSEAL_FIXTURES (default: target/fixtures). The build is skipped when the
# stamp there matches this script's hash. Needs root (debootstrap, chroot, file ownership).
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
out=${IMGSEAL_FIXTURES:-$here/target/fixtures}
mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
suite=bookworm
# The disks embed the rpm databases of make-rpmdb-fixtures.sh: its changes rebuild them too.
stamp_want=$(cat "$0" "$here/scripts/make-rpmdb-fixtures.sh" | sha256sum | cut -d' ' -f1)

if [ "$(id -u)" -ne 0 ]; then
  echo "make-test-images.sh: needs root (debootstrap, chroot, root-owned guest files)" >&2
  exit 2
fi
# The initramfs archives of the unit tests: seconds to make, with a stamp of their own.
"$here/scripts/make-initramfs-fixtures.sh" "$out"
"$here/scripts/make-rpmdb-fixtures.sh" "$out"
# The Windows layouts (win2008r2, win2012r2, winhiber): NTFS and registry hives, a stamp of
# their own too.
"$here/scripts/make-windows-fixtures.sh" "$out"
if [ -f "$out/.stamp" ] && [ "$(cat "$out/.stamp")" = "$stamp_want" ]; then
  echo "make-test-images.sh: fixtures in $out are up to date"
  exit 0
fi
for t in debootstrap mke2fs sfdisk qemu-img rpmbuild dpkg-deb mkswap wixl; do
  command -v "$t" >/dev/null || { echo "make-test-images.sh: $t missing; run scripts/install-deps.sh" >&2; exit 2; }
done

mkdir -p "$out"
work=$(mktemp -d "${TMPDIR:-/tmp}/imgseal-fixtures.XXXXXX")
trap 'rm -rf "$work"' EXIT
t0=$(date +%s)
log() { echo "make-test-images.sh: [$(( $(date +%s) - t0 ))s] $*"; }

# ---------------------------------------------------------------------------------------
# 1. The base root: Debian 12 minbase + what the layouts need. Cached as a tarball keyed by
#    the package list, so editing a layout does not re-run debootstrap.
include=systemd,systemd-sysv,cloud-init,python3-cffi-backend,ufw,iptables,nftables,openssh-server,ifupdown,isc-dhcp-client,rpm,debconf,less,sudo,cron
base_key=$(echo "$suite $include" | sha256sum | cut -c1-16)
base_tar=$out/base-$base_key.tar
if [ ! -f "$base_tar" ]; then
  log "debootstrap $suite (minbase + $include)"
  rm -f "$out"/base-*.tar
  debootstrap --variant=minbase --include="$include" "$suite" "$work/base" "$mirror" >"$work/debootstrap.log" 2>&1 \
    || { tail -20 "$work/debootstrap.log" >&2; exit 1; }
  tar -C "$work/base" -cf "$base_tar.tmp" . && mv "$base_tar.tmp" "$base_tar"
  rm -rf "$work/base"
fi

new_root() { # new_root DIR: a fresh copy of the base root
  mkdir -p "$1" && tar -C "$1" -xf "$base_tar"
  # The package cache of debootstrap is not part of any layout (it is kept in the tarball
  # only to repack Debian's cloud-init for the vendor packages below).
  rm -f "$1"/var/cache/apt/archives/*.deb
}

# The bootable root: the base plus a kernel, its initramfs and GRUB, installed by the
# guest's own apt in a chroot (Debian's packages). Cached like the base, keyed by it.
boot_pkgs="linux-image-amd64 grub-pc initramfs-tools zstd"
boot_tar=$out/boot-$(echo "$base_key $boot_pkgs" | sha256sum | cut -c1-16).tar
boot_root() { # boot_root DIR: a fresh copy of the bootable root
  if [ ! -f "$boot_tar" ]; then
    log "bootable root (base + $boot_pkgs)"
    rm -f "$out"/boot-*.tar
    local b=$work/bootbase
    new_root "$b"
    cp /etc/resolv.conf "$b/etc/resolv.conf"
    printf '#!/bin/sh\nexit 101\n' >"$b/usr/sbin/policy-rc.d"; chmod +x "$b/usr/sbin/policy-rc.d"
    mount -t proc proc "$b/proc"
    # No MBR to install into yet: GRUB goes in once the disk exists (below, in the appliance).
    if ! chroot "$b" sh -c 'printf "grub-pc grub-pc/install_devices multiselect\ngrub-pc grub-pc/install_devices_empty boolean true\n" | debconf-set-selections
        export DEBIAN_FRONTEND=noninteractive
        apt-get -qq update && apt-get install -y -qq --no-install-recommends '"$boot_pkgs" >"$work/boot-apt.log" 2>&1; then
      umount "$b/proc"; tail -20 "$work/boot-apt.log" >&2; exit 1
    fi
    umount "$b/proc"
    chroot "$b" apt-get clean
    rm -rf "$b"/var/lib/apt/lists/* "$b/usr/sbin/policy-rc.d" "$b/etc/resolv.conf"
    tar -C "$b" -cf "$boot_tar.tmp" . && mv "$boot_tar.tmp" "$boot_tar"
    rm -rf "$b"
  fi
  mkdir -p "$1" && tar -C "$1" -xf "$boot_tar"
}

# ---------------------------------------------------------------------------------------
# 2. Packages built here: guest cloud-init/firewalld rpms and debs, vendor test packages.
pkgs=$work/pkgs
mkdir -p "$pkgs" "$out/vendor"
tar -C "$work" -xf "$base_tar" ./var/cache/apt/archives
real_ci_deb=$(ls "$work"/var/cache/apt/archives/cloud-init_*_all.deb | head -1)

build_rpm() { # build_rpm NAME VERSION RELEASE ARCH FILES-SCRIPT [UNIT]
  local name=$1 ver=$2 rel=$3 arch=$4 body=$5 top=$work/rpmbuild-$1-$3
  mkdir -p "$top"/{SPECS,BUILD,RPMS,SOURCES,SRPMS,BUILDROOT}
  cat >"$top/SPECS/$name.spec" <<EOF
Name: $name
Version: $ver
Release: $rel
Summary: imgseal test fixture package $name
License: MIT
BuildArch: $arch
AutoReqProv: no
%description
A stand-in for $name built by imgseal's fixture script: same name, version and file
layout as the distribution's package, a shell stub instead of the program.
%install
$body
%files
%defattr(-,root,root,-)
/usr/bin/$name
%config(noreplace) /etc/*
/usr/lib/systemd/system/*
EOF
  rpmbuild --quiet --define "_topdir $top" --define "_build_id_links none" --target "$arch" \
    -bb "$top/SPECS/$name.spec" >/dev/null 2>&1 || rpmbuild --define "_topdir $top" --target "$arch" -bb "$top/SPECS/$name.spec"
  find "$top/RPMS" -name '*.rpm' -exec cp {} "$pkgs/" \;
}

ci_body() { # ci_body VERSION: %install body for a cloud-init stand-in
  cat <<EOF
mkdir -p %{buildroot}/usr/bin %{buildroot}/etc/cloud/cloud.cfg.d %{buildroot}/usr/lib/systemd/system
printf '#!/bin/sh\necho "cloud-init $1 (imgseal test fixture)"\n' > %{buildroot}/usr/bin/cloud-init
chmod 0755 %{buildroot}/usr/bin/cloud-init
printf 'users:\n - default\ndisable_root: 1\nssh_pwauth: 0\ndatasource_list: [ Ec2, OpenStack, None ]\ncloud_init_modules:\n - bootcmd\n' > %{buildroot}/etc/cloud/cloud.cfg
printf '[Unit]\nDescription=Initial cloud-init job\n[Service]\nType=oneshot\nExecStart=/usr/bin/cloud-init init\n[Install]\nWantedBy=multi-user.target\n' > %{buildroot}/usr/lib/systemd/system/cloud-init.service
EOF
}

log "building rpm and deb packages"
build_rpm cloud-init 0.7.9 24.el7.centos noarch "$(ci_body 0.7.9)"
build_rpm cloud-init 0.7.5 10.el6.centos.2 noarch "$(ci_body 0.7.5)"
build_rpm firewalld 0.6.3 13.el7_9 noarch '
mkdir -p %{buildroot}/usr/bin %{buildroot}/etc/firewalld %{buildroot}/usr/lib/systemd/system
printf "#!/bin/sh\necho firewalld stub\n" > %{buildroot}/usr/bin/firewalld
chmod 0755 %{buildroot}/usr/bin/firewalld
printf "DefaultZone=public\n" > %{buildroot}/etc/firewalld/firewalld.conf
printf "[Unit]\nDescription=firewalld - dynamic firewall daemon\n[Service]\nExecStart=/usr/bin/firewalld --nofork\n[Install]\nWantedBy=multi-user.target\nAlias=dbus-org.fedoraproject.FirewallD1.service\n" > %{buildroot}/usr/lib/systemd/system/firewalld.service
'
# Vendor rpms: the names the rules give, x86_64.
build_rpm cloud-init 0.7.5 20.el7.centos.1 x86_64 "$(ci_body 0.7.5-vendor-el7)"
build_rpm cloud-init 0.7.5 20.el6.2 x86_64 "$(ci_body 0.7.5-vendor-el6)"

build_deb() { # build_deb DIR: dpkg-deb with root ownership
  dpkg-deb --root-owner-group -Zxz -b "$1" "$pkgs/" >/dev/null
}

# The Ubuntu layout's own cloud-init 0.7.9 (a small stand-in, no dependencies).
d=$work/deb-ci-079
mkdir -p "$d/DEBIAN" "$d/usr/bin" "$d/etc/cloud/cloud.cfg.d"
cat >"$d/DEBIAN/control" <<EOF
Package: cloud-init
Version: 0.7.9-0ubuntu1~16.04.2
Architecture: all
Maintainer: imgseal fixtures <fixtures@imgseal.invalid>
Description: imgseal test fixture stand-in for cloud-init 0.7.9
EOF
printf '#!/bin/sh\necho "cloud-init 0.7.9 (imgseal test fixture)"\n' >"$d/usr/bin/cloud-init"
chmod 0755 "$d/usr/bin/cloud-init"
printf 'users:\n - default\ndatasource_list: [ NoCloud, ConfigDrive, OpenStack, Ec2, MAAS, None ]\n' >"$d/etc/cloud/cloud.cfg"
printf '# to update this file, run dpkg-reconfigure cloud-init\ndatasource_list: [ NoCloud, ConfigDrive, OpenStack, Ec2, MAAS, None ]\n' >"$d/etc/cloud/cloud.cfg.d/90_dpkg.cfg"
echo /etc/cloud/cloud.cfg >"$d/DEBIAN/conffiles"
echo /etc/cloud/cloud.cfg.d/90_dpkg.cfg >>"$d/DEBIAN/conffiles"
build_deb "$d"

repack_deb() { # repack_deb VERSION OUTNAME: Debian's real cloud-init with a vendor version
  local d=$work/repack-$1
  dpkg-deb -R "$real_ci_deb" "$d"
  sed -i "s/^Version: .*/Version: $1/" "$d/DEBIAN/control"
  dpkg-deb --root-owner-group -Zxz -b "$d" "$out/vendor/$2" >/dev/null
}
repack_deb "17.2-35-gf576b2a2-0ubuntu1~16.04.2-jd" "cloud-init_17.2-35-gf576b2a2-0ubuntu1_16.04.2-jd_all.deb"
ci_real_ver=$(dpkg-deb -f "$real_ci_deb" Version)
repack_deb "$ci_real_ver+jd1" "cloud-init_${ci_real_ver}+jd1_all.deb"
cp "$pkgs/cloud-init-0.7.5-20.el7.centos.1.x86_64.rpm" "$pkgs/cloud-init-0.7.5-20.el6.2.x86_64.rpm" "$out/vendor/"
# A stand-in MSI named like the vendor's, built by wixl (msitools): a real Windows Installer
# package that installs one text file; the Windows conversions stage it byte for byte.
m=$work/msi
mkdir -p "$m"
printf 'imgseal test stand-in for Cloudbase-Init 0.9.11: installs this file only.\r\n' >"$m/README.txt"
cat >"$m/cloudbase-init.wxs" <<'WXS'
<?xml version="1.0" encoding="utf-8"?>
<Wix xmlns="http://schemas.microsoft.com/wix/2006/wi">
  <Product Id="6E1F3A52-8C1B-4D0E-9B7A-2F4C5D6E7A01" Name="Cloudbase-Init 0.9.11 (imgseal test stand-in)"
           Language="1033" Version="0.9.11.0" Manufacturer="imgseal fixtures"
           UpgradeCode="0B3E7F20-5A9C-4E1D-8F6B-7C2D3E4F5A60">
    <Package InstallerVersion="200" Compressed="yes"
             Description="imgseal test stand-in for CloudbaseInitSetup_0_9_11_x64.msi"/>
    <Media Id="1" Cabinet="data.cab" EmbedCab="yes"/>
    <Directory Id="TARGETDIR" Name="SourceDir">
      <Directory Id="ProgramFiles64Folder">
        <Directory Id="INSTALLDIR" Name="Cloudbase-Init-Standin">
          <Component Id="Readme" Guid="3C9D1E7A-2B4F-4A6C-8E0D-1F2A3B4C5D6E" Win64="yes">
            <File Id="ReadmeFile" Source="README.txt"/>
          </Component>
        </Directory>
      </Directory>
    </Directory>
    <Feature Id="Main" Level="1"><ComponentRef Id="Readme"/></Feature>
  </Product>
</Wix>
WXS
(cd "$m" && wixl -a x64 -o "$out/vendor/CloudbaseInitSetup_0_9_11_x64.msi" cloudbase-init.wxs)

sha() { sha256sum "$1" | cut -d' ' -f1; }
v=$out/vendor
cat >"$v/vendor.toml" <<EOF
# Test vendor packages built by scripts/make-test-images.sh (not the vendor's binaries).
schema = 1

[[package]]
role = "cloud-init"
distro = "centos"
versions = ["7"]
file = "cloud-init-0.7.5-20.el7.centos.1.x86_64.rpm"
url = "http://storage.jd.com/product-design/cloud-init-0.7.5-20.el7.centos.1.x86_64.rpm"
sha256 = "$(sha "$v/cloud-init-0.7.5-20.el7.centos.1.x86_64.rpm")"

[[package]]
role = "cloud-init"
distro = "centos"
versions = ["6"]
file = "cloud-init-0.7.5-20.el6.2.x86_64.rpm"
url = "http://storage.jd.com/product-design/cloud-init-0.7.5-20.el6.2.x86_64.rpm"
sha256 = "$(sha "$v/cloud-init-0.7.5-20.el6.2.x86_64.rpm")"

[[package]]
role = "cloud-init"
distro = "ubuntu"
versions = ["16.04"]
file = "cloud-init_17.2-35-gf576b2a2-0ubuntu1_16.04.2-jd_all.deb"
url = "http://storage.jd.com/product-design/cloud-init_17.2-35-gf576b2a2-0ubuntu1_16.04.2-jd_all.deb"
sha256 = "$(sha "$v/cloud-init_17.2-35-gf576b2a2-0ubuntu1_16.04.2-jd_all.deb")"

[[package]]
role = "cloud-init"
distro = "debian"
versions = ["12"]
file = "cloud-init_${ci_real_ver}+jd1_all.deb"
url = "file:///test-fixture/cloud-init_${ci_real_ver}+jd1_all.deb"
sha256 = "$(sha "$v/cloud-init_${ci_real_ver}+jd1_all.deb")"

[[package]]
role = "cloudbase-init"
distro = "windows"
versions = ["6", "10"]
file = "CloudbaseInitSetup_0_9_11_x64.msi"
url = "http://storage.jd.com/product-design/CloudbaseInitSetup_0_9_11_x64.msi"
sha256 = "$(sha "$v/CloudbaseInitSetup_0_9_11_x64.msi")"
EOF

# ---------------------------------------------------------------------------------------
# 3. Layout helpers.
put() { # put ROOT PATH CONTENT [MODE]
  # Never write through a guest symlink out of the root (/var/run -> /run is absolute).
  case "$(realpath -m "$1$2")" in "$(realpath "$1")"/*) ;; *) echo "put: $2 escapes $1" >&2; exit 1 ;; esac
  mkdir -p "$(dirname "$1$2")"
  printf '%s' "$3" >"$1$2"
  chmod "${4:-0644}" "$1$2"
}

# Traces of an image build, in every place R8 looks. Prints the planted paths.
plant_traces() { # plant_traces ROOT
  local r=$1
  chroot "$r" useradd -m -s /bin/bash builder >/dev/null 2>&1 || true
  local h
  for h in /root /home/builder; do
    put "$r" "$h/.bash_history" $'sudo apt-get update\ncurl -o /tmp/setup.sh http://build.internal/setup.sh\n'
    put "$r" "$h/.zsh_history" $': 1700000000:0;ls\n'
    put "$r" "$h/.local/share/fish/fish_history" $'- cmd: ls\n'
    put "$r" "$h/.python_history" $'import os\n'
    put "$r" "$h/.mysql_history" $'show databases;\n'
    put "$r" "$h/.psql_history" $'\\l\n'
    put "$r" "$h/.sqlite_history" $'.tables\n'
    put "$r" "$h/.lesshst" $'.less-history-file:\n'
    put "$r" "$h/.viminfo" $'# Viminfo\n'
    put "$r" "$h/.ssh/authorized_keys" "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBuilderKeyBuilderKeyBuilderKey builder@build-host"$'\n' 0600
    put "$r" "$h/.ssh/known_hosts" $'build.internal ssh-ed25519 AAAA\n'
  done
  chroot "$r" chown -R builder:builder /home/builder
  put "$r" /var/log/auth.log $'Nov 20 10:00:00 build sshd[1]: Accepted publickey for root\n'
  put "$r" /var/log/syslog $'Nov 20 10:00:00 build kernel: booted\n'
  put "$r" /var/log/syslog.1 $'old\n'
  printf 'old rotated\n' | gzip >"$r/var/log/auth.log.2.gz"
  put "$r" /var/log/cloud-init.log $'2024 cloud-init ran\n'
  put "$r" /var/log/cloud-init-output.log $'Cloud-init v. 22.4 finished\n'
  mkdir -p "$r/var/log/journal/0123456789abcdef0123456789abcdef"
  put "$r" /var/log/journal/0123456789abcdef0123456789abcdef/system.journal 'LPKSHHRH fake journal'
  printf 'x%.0s' $(seq 1 384) >"$r/var/log/wtmp"
  printf 'y%.0s' $(seq 1 384) >"$r/var/log/btmp"
  printf 'z%.0s' $(seq 1 292) >"$r/var/log/lastlog"
  put "$r" /var/lib/dhcp/dhclient.eth0.leases $'lease {\n  interface "eth0";\n  fixed-address 10.0.2.15;\n}\n'
  put "$r" /var/lib/dhclient/dhclient--eth0.lease $'lease { }\n'
  mkdir -p "$r/var/lib/cloud/instances/i-0123456789/sem" "$r/var/lib/cloud/data"
  put "$r" /var/lib/cloud/instances/i-0123456789/user-data.txt $'#cloud-config\npassword: build\n'
  ln -sfn /var/lib/cloud/instances/i-0123456789 "$r/var/lib/cloud/instance"
  put "$r" /var/lib/cloud/data/instance-id $'i-0123456789\n'
  put "$r" /var/cache/apt/archives/curl_7.88.1-10_amd64.deb 'not really a deb'
  put "$r" /var/cache/yum/x86_64/7/base/packages/curl-7.29.0.rpm 'not really an rpm'
  put "$r" /tmp/setup.sh $'#!/bin/sh\necho build\n'
  mkdir -p "$r/tmp/build-dir/sub"
  put "$r" /tmp/build-dir/sub/artifact 'artifact'
  put "$r" /var/tmp/packer-build.log 'packer'
  put "$r" /var/crash/_usr_bin_foo.0.crash 'ProblemType: Crash'
  put "$r" /var/mail/root $'From builder\n'
  put "$r" /var/spool/cron/crontabs/builder $'* * * * * /tmp/setup.sh\n' 0600
  put "$r" /etc/udev/rules.d/70-persistent-net.rules \
    $'SUBSYSTEM=="net", ACTION=="add", ATTR{address}=="52:54:00:12:34:56", NAME="eth0"\n'
  cp "$r/etc/passwd" "$r/etc/passwd-"; cp "$r/etc/shadow" "$r/etc/shadow-"
  cp "$r/etc/group" "$r/etc/group-"; cp "$r/etc/gshadow" "$r/etc/gshadow-"
  put "$r" /root/.cache/pip/http/x 'cache'
  put "$r" /etc/ssh/ssh_host_dsa_key 'fake dsa key' 0600
}

# The traces every layout gets, as the tests check them (ssh host keys are real ones).
traces_json() { # traces_json ROOT
  local r=$1
  (
    cd "$r"
    for p in root/.bash_history home/builder/.bash_history root/.zsh_history root/.local/share/fish/fish_history \
      root/.python_history root/.mysql_history root/.psql_history root/.sqlite_history root/.lesshst \
      root/.viminfo home/builder/.viminfo root/.ssh/authorized_keys home/builder/.ssh/authorized_keys \
      var/log/syslog.1 var/log/auth.log.2.gz var/log/cloud-init.log var/log/cloud-init-output.log \
      var/log/journal/0123456789abcdef0123456789abcdef/system.journal var/lib/dhcp/dhclient.eth0.leases \
      var/lib/dhclient/dhclient--eth0.lease var/lib/cloud/instances var/lib/cloud/instance var/lib/cloud/data \
      var/cache/apt/archives/curl_7.88.1-10_amd64.deb var/cache/yum/x86_64/7/base/packages/curl-7.29.0.rpm \
      tmp/setup.sh tmp/build-dir var/tmp/packer-build.log var/crash/_usr_bin_foo.0.crash var/mail/root \
      var/spool/cron/crontabs/builder etc/udev/rules.d/70-persistent-net.rules etc/passwd- etc/shadow- \
      etc/group- etc/gshadow- root/.cache/pip etc/ssh/ssh_host_dsa_key etc/ssh/ssh_host_rsa_key \
      etc/ssh/ssh_host_ed25519_key etc/ssh/ssh_host_ecdsa_key.pub; do
      [ -e "$p" ] || [ -L "$p" ] && printf '"/%s",' "$p"
    done
  ) | sed 's/,$//'
}

common_linux() { # common_linux ROOT HOSTNAME
  local r=$1
  echo "$2" >"$r/etc/hostname"
  printf '127.0.0.1 localhost\n127.0.1.1 %s\n' "$2" >"$r/etc/hosts"
  # A root password, so tests can check /etc/shadow survives conversion untouched.
  chroot "$r" usermod -p '$6$fixture$Q3o5Vf1Yz7z8n1ZK9eQyD3lFq3Xv3k7w0m8s0Vx5N8kqg3v1P5YQm0a6y9sZQ4b2c7d8e9f0g1h2i3j4k5l6m7' root
}

# Writes ROOT into OUT.qcow2: MBR, p1 ext4 (UUID/LABEL given) and p2 swap.
make_disk() { # make_disk ROOT NAME ROOT_UUID SWAP_UUID
  local r=$1 name=$2 ruuid=$3 suuid=$4 raw=$work/$2.raw
  local total_mib=2048 root_mib=1792
  truncate -s ${total_mib}M "$raw"
  sfdisk --quiet "$raw" <<EOF
label: dos
label-id: 0x1a2b3c4d
start=2048, size=$((root_mib * 2048)), type=83, bootable
type=82
EOF
  mke2fs -q -F -t ext4 -L root -U "$ruuid" -E "offset=$((2048 * 512))" -d "$r" "$raw" "$((root_mib * 1024))k"
  local swap_start=$((2048 + root_mib * 2048)) swap_sectors=$(( (total_mib - root_mib - 1) * 2048 ))
  truncate -s $((swap_sectors * 512)) "$work/swap.img"
  mkswap -q -L swap -U "$suuid" "$work/swap.img" >/dev/null
  dd if="$work/swap.img" of="$raw" bs=512 seek="$swap_start" conv=notrunc,sparse status=none
  rm -f "$work/swap.img"
  qemu-img convert -q -f raw -O qcow2 "$raw" "$out/$name.qcow2.tmp"
  mv "$out/$name.qcow2.tmp" "$out/$name.qcow2"
  rm -f "$raw"
}

fstab_uuid() { # fstab_uuid ROOT ROOT_UUID SWAP_UUID
  printf 'UUID=%s / ext4 errors=remount-ro 0 1\nUUID=%s none swap sw 0 0\n' "$2" "$3" >"$1/etc/fstab"
}

enable_unit() { # enable_unit ROOT UNIT FILE-IN-ROOT
  mkdir -p "$1/etc/systemd/system/multi-user.target.wants"
  ln -sfn "$3" "$1/etc/systemd/system/multi-user.target.wants/$2"
}

rpm_layout() { # rpm_layout ROOT: make the guest's own rpm keep its db where CentOS does
  local r=$1
  mkdir -p "$r/etc/rpm" "$r/var/lib/rpm"
  echo '%_dbpath /var/lib/rpm' >"$r/etc/rpm/macros"
  chroot "$r" rpm --initdb
  chroot "$r" dpkg --purge ufw cloud-init >/dev/null 2>&1
  rm -f "$r/etc/debian_version" "$r/etc/lsb-release"
  rm -rf "$r/etc/apt/sources.list.d" "$r/etc/apt/sources.list" "$r/etc/network/interfaces.d"
  rm -f "$r/etc/network/interfaces"
}

rpm_install() { # rpm_install ROOT RPM...: installed by the guest's own rpm
  local r=$1; shift
  mkdir -p "$r/tmp/rpms"
  cp "$@" "$r/tmp/rpms/"
  chroot "$r" sh -c 'rpm -ivh --nodeps --quiet /tmp/rpms/*.rpm' >/dev/null
  rm -rf "$r/tmp/rpms"
}

json() { # json NAME KEY=VALUE...: write the fixture's description (values are raw JSON)
  local name=$1; shift
  { echo "{"; echo "  \"name\": \"$name\","
    local first=1
    for kv in "$@"; do
      [ $first -eq 1 ] || echo ","
      first=0
      printf '  "%s": %s' "${kv%%=*}" "${kv#*=}"
    done
    echo; echo "}"; } >"$out/$name.json"
}

# What a Debian 12 vendor image has that the rules reject (R2 ufw on, R3 an MTU pinned,
# R4/R5 Debian's own cloud-init, R8 traces), on top of a fresh root.
debian_vendor_state() { # debian_vendor_state ROOT HOSTNAME ROOT_UUID SWAP_UUID
  local r=$1
  common_linux "$r" "$2"
  fstab_uuid "$r" "$3" "$4"
  echo "deb http://deb.debian.org/debian bookworm main" >"$r/etc/apt/sources.list"
  echo "deb http://security.debian.org/debian-security bookworm-security main" >>"$r/etc/apt/sources.list"
  printf 'source-directory /etc/network/interfaces.d\n\nauto lo\niface lo inet loopback\n' >"$r/etc/network/interfaces"
  put "$r" /etc/network/interfaces.d/eth0 $'allow-hotplug eth0\niface eth0 inet dhcp\n    post-up ip link set dev eth0 mtu 9000\n'
  sed -i 's/^ENABLED=.*/ENABLED=yes/' "$r/etc/ufw/ufw.conf"
  plant_traces "$r"
}

# ---------------------------------------------------------------------------------------
# 4. Layouts.
log "debian12"
r=$work/debian12; new_root "$r"
debian_vendor_state "$r" fixture-debian 0b6a6d4e-1111-4a6b-9c3e-0000000000d1 0b6a6d4e-2222-4a6b-9c3e-0000000000d1
make_disk "$r" debian12 0b6a6d4e-1111-4a6b-9c3e-0000000000d1 0b6a6d4e-2222-4a6b-9c3e-0000000000d1
json debian12 'distro="debian"' 'major=12' 'package_format="deb"' \
  "cloud_init_version=\"$ci_real_ver\"" 'firewall=["ufw"]' 'mtu_files=["/etc/network/interfaces.d/eth0"]' \
  "vendor_version=\"$ci_real_ver+jd1\"" "traces=[$(traces_json "$r")]" \
  'failing=["R2","R3","R4/R5","R8"]' 'synthetic=false'

log "symlinks (Debian 12 whose trace paths are links into /etc and /)"
for p in root/.bash_history root/.python_history var/log/syslog.1; do rm -f "$r/$p"; done
ln -s /etc/passwd "$r/root/.bash_history"
ln -s /etc/shadow "$r/root/.python_history"
ln -s /etc/hostname "$r/var/log/syslog.1"
rm -rf "$r/root/.ssh"; ln -s /etc "$r/root/.ssh"
rm -rf "$r/var/tmp"; ln -s / "$r/var/tmp"
rm -rf "$r/tmp/build-dir"; ln -s /etc "$r/tmp/build-dir"
mv "$r/etc/cloud" "$r/etc/cloud.real"; ln -s /etc/cloud.real "$r/etc/cloud"
# A configuration file that is a link to a FIFO: reading it would block the appliance.
mkfifo "$r/srv/imgseal-fifo"
ln -s /srv/imgseal-fifo "$r/etc/cloud.real/cloud.cfg.d/50_fifo.cfg"
put "$r" "/root/file with spaces.txt" 'x'
printf 'y' >"$r/tmp/name
with newline"
# Names that would do harm if ever pasted into a host shell.
printf 'z' >"$r/tmp/\$(touch imgseal-pwned)"
printf 'z' >"$r/tmp/;touch imgseal-pwned;"
printf 'z' >"$r/root/.bash_history;touch imgseal-pwned"
make_disk "$r" symlinks 0b6a6d4e-1111-4a6b-9c3e-0000000000f1 0b6a6d4e-2222-4a6b-9c3e-0000000000f1
json symlinks 'distro="debian"' 'major=12' \
  'links={"/root/.bash_history":"/etc/passwd","/root/.python_history":"/etc/shadow","/var/log/syslog.1":"/etc/hostname","/root/.ssh":"/etc","/var/tmp":"/","/tmp/build-dir":"/etc","/etc/cloud":"/etc/cloud.real"}' \
  'synthetic=false'
rm -rf "$r"

log "debian12-boot (Debian 12 with a kernel, initramfs and GRUB in the MBR: boots under qemu)"
r=$work/debian12-boot; boot_root "$r"
debian_vendor_state "$r" fixture-debian-boot 0b6a6d4e-1111-4a6b-9c3e-0000000000b1 0b6a6d4e-2222-4a6b-9c3e-0000000000b1
# A serial console (what a cloud's console log and imgseal's boot test read), classic eth0
# names (the pinned MTU is on eth0), a short menu.
sed -i 's/^GRUB_TIMEOUT=.*/GRUB_TIMEOUT=1/; s/^GRUB_CMDLINE_LINUX_DEFAULT=.*/GRUB_CMDLINE_LINUX_DEFAULT=""/; s/^GRUB_CMDLINE_LINUX=.*/GRUB_CMDLINE_LINUX="console=ttyS0,115200n8 net.ifnames=0"/' "$r/etc/default/grub"
printf 'GRUB_TERMINAL=serial\nGRUB_SERIAL_COMMAND="serial --unit=0 --speed=115200"\nGRUB_DISABLE_OS_PROBER=true\n' >>"$r/etc/default/grub"
kver=$(basename "$(ls "$r"/boot/vmlinuz-*)" | sed 's/^vmlinuz-//')
make_disk "$r" debian12-boot 0b6a6d4e-1111-4a6b-9c3e-0000000000b1 0b6a6d4e-2222-4a6b-9c3e-0000000000b1
# GRUB into the MBR and its grub.cfg, by the guest's own grub-install and update-grub, run
# inside the libguestfs appliance (the disk is never mounted on this host).
LIBGUESTFS_BACKEND_SETTINGS=force_tcg guestfish --format=qcow2 -a "$out/debian12-boot.qcow2" -m /dev/sda1 \
  command "grub-install --target=i386-pc /dev/sda" : command update-grub >"$work/grub.log" 2>&1 \
  || { cat "$work/grub.log" >&2; exit 1; }
json debian12-boot 'distro="debian"' 'major=12' 'package_format="deb"' \
  "cloud_init_version=\"$ci_real_ver\"" 'firewall=["ufw"]' 'mtu_files=["/etc/network/interfaces.d/eth0"]' \
  "vendor_version=\"$ci_real_ver+jd1\"" "traces=[$(traces_json "$r")]" \
  "kernel=\"$kver\"" 'bootable=true' 'failing=["R2","R3","R4/R5","R8"]' 'synthetic=false'
rm -rf "$r"

log "centos7 (synthetic layout)"
r=$work/centos7; new_root "$r"
rpm_layout "$r"
common_linux "$r" fixture-centos7
printf 'NAME="CentOS Linux"\nVERSION="7 (Core)"\nID="centos"\nID_LIKE="rhel fedora"\nVERSION_ID="7"\nPRETTY_NAME="CentOS Linux 7 (Core)"\nCPE_NAME="cpe:/o:centos:centos:7"\n' >"$r/etc/os-release"
rm -f "$r/usr/lib/os-release"
echo 'CentOS Linux release 7.9.2009 (Core)' >"$r/etc/centos-release"
cp "$r/etc/centos-release" "$r/etc/redhat-release"
fstab_uuid "$r" 0b6a6d4e-1111-4a6b-9c3e-0000000000c7 0b6a6d4e-2222-4a6b-9c3e-0000000000c7
rpm_install "$r" "$pkgs/cloud-init-0.7.9-24.el7.centos.noarch.rpm" "$pkgs/firewalld-0.6.3-13.el7_9.noarch.rpm"
enable_unit "$r" firewalld.service /usr/lib/systemd/system/firewalld.service
ln -sfn /usr/lib/systemd/system/firewalld.service "$r/etc/systemd/system/dbus-org.fedoraproject.FirewallD1.service"
put "$r" /etc/sysconfig/network-scripts/ifcfg-eth0 $'# Generated by anaconda\nTYPE="Ethernet"\nBOOTPROTO="dhcp"\nDEFROUTE="yes"\nNAME="eth0"\nUUID="5fb06bd0-0bb0-7ffb-45f1-d6edd65f3e03"\nDEVICE="eth0"\nONBOOT="yes"\nHWADDR="52:54:00:12:34:56"\nMTU="9000"\n'
put "$r" /etc/sysconfig/network-scripts/ifcfg-lo $'DEVICE=lo\nIPADDR=127.0.0.1\nONBOOT=yes\n'
put "$r" /etc/sysconfig/network $'NETWORKING=yes\nHOSTNAME=fixture-centos7\n'
put "$r" /etc/yum.repos.d/CentOS-Base.repo $'[base]\nname=CentOS-$releasever - Base\nmirrorlist=http://mirrorlist.centos.org/?release=$releasever&arch=$basearch&repo=os\n#baseurl=http://mirror.centos.org/centos/$releasever/os/$basearch/\ngpgcheck=1\n\n[updates]\nname=CentOS-$releasever - Updates\nbaseurl=http://mirrors.example.com/centos/$releasever/updates/$basearch/\ngpgcheck=1\n'
put "$r" /etc/selinux/config $'SELINUX=enforcing\nSELINUXTYPE=targeted\n'
put "$r" /root/anaconda-ks.cfg $'#version=DEVEL\nrootpw --iscrypted $6$x\n'
put "$r" /root/install.log $'Installing kernel\n'
put "$r" /var/lib/yum/uuid $'5a4c3b2a-1d0e-4f9a-8b7c-6d5e4f3a2b1c\n'
plant_traces "$r"
make_disk "$r" centos7 0b6a6d4e-1111-4a6b-9c3e-0000000000c7 0b6a6d4e-2222-4a6b-9c3e-0000000000c7
json centos7 'distro="centos"' 'major=7' 'minor=9' 'package_format="rpm"' 'cloud_init_version="0.7.9-24.el7.centos"' \
  'firewall=["firewalld"]' 'mtu_files=["/etc/sysconfig/network-scripts/ifcfg-eth0"]' \
  'vendor_version="0.7.5-20.el7.centos.1"' \
  "traces=[$(traces_json "$r"),\"/root/anaconda-ks.cfg\",\"/root/install.log\",\"/var/lib/yum/uuid\"]" \
  'failing=["R2","R3","R4/R5","R8"]' 'synthetic=true'
rm -rf "$r"

log "centos6 (synthetic layout)"
r=$work/centos6; new_root "$r"
rpm_layout "$r"
common_linux "$r" fixture-centos6
rm -f "$r/etc/os-release" "$r/usr/lib/os-release"
echo 'CentOS release 6.10 (Final)' >"$r/etc/centos-release"
cp "$r/etc/centos-release" "$r/etc/redhat-release"
# SysV init: /sbin/init is a program, not a link to systemd; runlevels under /etc/rc.d.
rm -f "$r/usr/sbin/init"
cp "$r/bin/true" "$r/usr/sbin/init"
printf 'id:3:initdefault:\n' >"$r/etc/inittab"
rm -rf "$r/etc/systemd/system/multi-user.target.wants"
mkdir -p "$r/etc/rc.d/init.d"
for rl in 0 1 2 3 4 5 6; do mkdir -p "$r/etc/rc.d/rc$rl.d"; rm -rf "$r/etc/rc$rl.d"; ln -s "rc.d/rc$rl.d" "$r/etc/rc$rl.d"; done
for s in iptables ip6tables; do
  printf '#!/bin/sh\n# chkconfig: 2345 08 92\necho %s\n' "$s" >"$r/etc/rc.d/init.d/$s"; chmod 0755 "$r/etc/rc.d/init.d/$s"
  for rl in 2 3 4 5; do ln -s "../init.d/$s" "$r/etc/rc.d/rc$rl.d/S08$s"; done
  for rl in 0 1 6; do ln -s "../init.d/$s" "$r/etc/rc.d/rc$rl.d/K92$s"; done
done
printf '/dev/sda1 / ext4 defaults 1 1\n/dev/sda2 swap swap defaults 0 0\n' >"$r/etc/fstab"
rpm_install "$r" "$pkgs/cloud-init-0.7.5-10.el6.centos.2.noarch.rpm"
put "$r" /etc/sysconfig/network-scripts/ifcfg-eth0 $'DEVICE=eth0\nHWADDR=52:54:00:12:34:56\nTYPE=Ethernet\nUUID=0e6b7f7c-3d2a-4e4f-9d2a-1c0b9a8f7e6d\nONBOOT=yes\nNM_CONTROLLED=yes\nBOOTPROTO=dhcp\n'
put "$r" /etc/sysconfig/network $'NETWORKING=yes\nHOSTNAME=fixture-centos6\n'
put "$r" /etc/yum.repos.d/CentOS-Base.repo $'[base]\nname=CentOS-6 - Base\nbaseurl=http://vault.centos.org/6.10/os/$basearch/\ngpgcheck=1\n'
put "$r" /etc/selinux/config $'SELINUX=disabled\n'
put "$r" /root/anaconda-ks.cfg $'#version=DEVEL\n'
put "$r" /root/install.log $'Installing kernel\n'
put "$r" /root/install.log.syslog $'syslog\n'
plant_traces "$r"
make_disk "$r" centos6 0b6a6d4e-1111-4a6b-9c3e-0000000000c6 0b6a6d4e-2222-4a6b-9c3e-0000000000c6
json centos6 'distro="centos"' 'major=6' 'minor=10' 'package_format="rpm"' 'cloud_init_version="0.7.5-10.el6.centos.2"' \
  'firewall=["iptables","ip6tables"]' 'mtu_files=[]' 'vendor_version="0.7.5-20.el6.2"' \
  "traces=[$(traces_json "$r"),\"/root/anaconda-ks.cfg\",\"/root/install.log\",\"/root/install.log.syslog\"]" \
  'failing=["R2","R4/R5","R8"]' 'synthetic=true'
rm -rf "$r"

log "ubuntu1604 (synthetic layout)"
r=$work/ubuntu1604; new_root "$r"
common_linux "$r" fixture-ubuntu
chroot "$r" dpkg --purge cloud-init >/dev/null 2>&1
rm -rf "$r/etc/cloud" "$r/var/lib/cloud"
mkdir -p "$r/tmp/debs"; cp "$pkgs/cloud-init_0.7.9-0ubuntu1~16.04.2_all.deb" "$r/tmp/debs/"
chroot "$r" dpkg -i /tmp/debs/cloud-init_0.7.9-0ubuntu1~16.04.2_all.deb >/dev/null
rm -rf "$r/tmp/debs"
printf 'NAME="Ubuntu"\nVERSION="16.04.7 LTS (Xenial Xerus)"\nID=ubuntu\nID_LIKE=debian\nPRETTY_NAME="Ubuntu 16.04.7 LTS"\nVERSION_ID="16.04"\nVERSION_CODENAME=xenial\nUBUNTU_CODENAME=xenial\n' >"$r/etc/os-release"
rm -f "$r/usr/lib/os-release"
printf 'DISTRIB_ID=Ubuntu\nDISTRIB_RELEASE=16.04\nDISTRIB_CODENAME=xenial\nDISTRIB_DESCRIPTION="Ubuntu 16.04.7 LTS"\n' >"$r/etc/lsb-release"
echo 'stretch/sid' >"$r/etc/debian_version"
fstab_uuid "$r" 0b6a6d4e-1111-4a6b-9c3e-000000001604 0b6a6d4e-2222-4a6b-9c3e-000000001604
printf 'deb http://archive.ubuntu.com/ubuntu xenial main restricted\ndeb http://security.ubuntu.com/ubuntu xenial-security main\n' >"$r/etc/apt/sources.list"
sed -i 's/^ENABLED=.*/ENABLED=yes/' "$r/etc/ufw/ufw.conf"
printf 'source /etc/network/interfaces.d/*\n\nauto lo\niface lo inet loopback\n\nauto eth0\niface eth0 inet dhcp\n    mtu 1400\n' >"$r/etc/network/interfaces"
rm -rf "$r/etc/network/interfaces.d"; mkdir -p "$r/etc/network/interfaces.d"
put "$r" /run/reboot-required $'*** System restart required ***\n'
plant_traces "$r"
make_disk "$r" ubuntu1604 0b6a6d4e-1111-4a6b-9c3e-000000001604 0b6a6d4e-2222-4a6b-9c3e-000000001604
json ubuntu1604 'distro="ubuntu"' 'major=16' 'minor=4' 'package_format="deb"' 'cloud_init_version="0.7.9-0ubuntu1~16.04.2"' \
  'firewall=["ufw"]' 'mtu_files=["/etc/network/interfaces"]' 'vendor_version="17.2-35-gf576b2a2-0ubuntu1~16.04.2-jd"' \
  "traces=[$(traces_json "$r")]" 'failing=["R2","R3","R4/R5","R8"]' 'synthetic=true'
rm -rf "$r"

log "blank"
r=$work/blank; mkdir -p "$r/lost+found"
make_disk "$r" blank 0b6a6d4e-1111-4a6b-9c3e-0000000000b0 0b6a6d4e-2222-4a6b-9c3e-0000000000b0
json blank 'distro=null'
rm -rf "$r"

# ---------------------------------------------------------------------------------------
# 5. Small hostile disks for the hardening suite: tiny roots (inspection finds an OS) in
#    small partitions, each built into its own file and placed with dd.
tiny_root() { # tiny_root DIR DISTRO: just enough of a system for libguestfs inspection
  local d=$1
  mkdir -p "$d"/{etc,bin,sbin,usr/bin,var/lib/dpkg,root,tmp}
  cp "$base_bin/sh" "$d/bin/sh"; cp "$base_bin/ls" "$d/bin/ls"
  cp "$base_etc/passwd" "$base_etc/shadow" "$base_etc/group" "$d/etc/"
  echo "tiny" >"$d/etc/hostname"
  echo "/dev/sda1 / ext4 defaults 0 1" >"$d/etc/fstab"
  case "$2" in
    debian)
      printf 'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nNAME="Debian GNU/Linux"\nVERSION_ID="12"\nID=debian\n' >"$d/etc/os-release"
      echo 12.4 >"$d/etc/debian_version"
      printf 'Package: cloud-init\nStatus: install ok installed\nVersion: 22.4.2-1+deb12u4\nArchitecture: all\n\n' >"$d/var/lib/dpkg/status" ;;
    centos)
      echo 'CentOS Linux release 7.9.2009 (Core)' >"$d/etc/redhat-release"
      printf 'NAME="CentOS Linux"\nID="centos"\nVERSION_ID="7"\n' >"$d/etc/os-release" ;;
    fedora)
      # Fedora's own layout: os-release under /usr/lib only (/etc's a link to it), the rpm
      # database under /usr/lib/sysimage/rpm with /var/lib/rpm a link to it.
      rm -rf "$d/var/lib/dpkg"
      mkdir -p "$d/usr/lib/sysimage/rpm" "$d/var/lib"
      printf 'NAME="Fedora Linux"\nVERSION="39 (Cloud Edition)"\nID=fedora\nVERSION_ID=39\nPLATFORM_ID="platform:f39"\nPRETTY_NAME="Fedora Linux 39 (Cloud Edition)"\nVARIANT_ID=cloud\n' >"$d/usr/lib/os-release"
      ln -s ../usr/lib/os-release "$d/etc/os-release"
      echo 'Fedora release 39 (Thirty Nine)' >"$d/etc/fedora-release"
      ln -s fedora-release "$d/etc/redhat-release"; ln -s fedora-release "$d/etc/system-release"
      cp "$out/rpmdb/sqlite/rpmdb.sqlite" "$d/usr/lib/sysimage/rpm/"
      ln -s ../../usr/lib/sysimage/rpm "$d/var/lib/rpm" ;;
    arch)
      # Arch's own layout: an empty arch-release, a rolling os-release (no VERSION_ID) and
      # pacman's database of one directory per package, each with its desc file.
      rm -rf "$d/var/lib/dpkg"
      : >"$d/etc/arch-release"
      printf 'NAME="Arch Linux"\nPRETTY_NAME="Arch Linux"\nID=arch\nBUILD_ID=rolling\n' >"$d/etc/os-release"
      mkdir -p "$d/var/lib/pacman/local/cloud-init-23.4.4-1"
      echo 9 >"$d/var/lib/pacman/local/ALPM_DB_VERSION"
      printf '%%NAME%%\ncloud-init\n\n%%VERSION%%\n23.4.4-1\n\n%%BASE%%\ncloud-init\n\n%%ARCH%%\nany\n\n' \
        >"$d/var/lib/pacman/local/cloud-init-23.4.4-1/desc" ;;
  esac
}

part_img() { # part_img DIR FILE SIZE_MIB: an ext4 of DIR, built in its own file
  mke2fs -q -F -t ext4 -J size=1 -m 0 -d "$1" "$2" "$(( $3 * 1024 ))k"
}

disk_of() { # disk_of NAME PART_FILE...: an MBR disk holding the partition files in order
  local name=$1 raw=$work/$1.raw start=2048 table="label: dos"$'\n' sizes=() f s
  shift
  for f in "$@"; do s=$(( ($(stat -c %s "$f") + 511) / 512 )); sizes+=("$s"); table+="start=$start, size=$s, type=83"$'\n'; start=$(( start + s + 2048 )); done
  truncate -s $(( (start + 2048) * 512 )) "$raw"
  printf '%s' "$table" | sfdisk --quiet "$raw"
  start=2048
  for i in "${!sizes[@]}"; do
    dd if="${@:$((i + 1)):1}" of="$raw" bs=512 seek="$start" conv=notrunc,sparse status=none
    start=$(( start + ${sizes[$i]} + 2048 ))
  done
  qemu-img convert -q -f raw -O qcow2 "$raw" "$out/$name.qcow2"
  rm -f "$raw" "$@"
}

base_bin=$work/basebin; base_etc=$work/baseetc
mkdir -p "$base_bin" "$base_etc"
# bookworm is merged-/usr and /bin/sh is dash: take the real binaries (ELF, for arch detection).
tar -C "$work" -xf "$base_tar" ./usr/bin/dash ./usr/bin/ls ./etc/passwd ./etc/shadow ./etc/group
cp "$work/usr/bin/dash" "$base_bin/sh"; cp "$work/usr/bin/ls" "$base_bin/ls"
cp "$work"/etc/passwd "$work"/etc/shadow "$work"/etc/group "$base_etc/"

log "full (a Debian root with no room left)"
r=$work/full; tiny_root "$r" debian
part_img "$r" "$work/full.p1" 12
# Fill what is left with real (allocated) data, leaving under 1 MiB.
free_bytes=$(dumpe2fs -h "$work/full.p1" 2>/dev/null | awk -F: '/^Free blocks/ {f=$2} /^Block size/ {b=$2} END {print f * b}')
debugfs_fill=$work/fill.bin
head -c $(( free_bytes - 900 * 1024 )) /dev/urandom >"$debugfs_fill"
debugfs -w -R "write $debugfs_fill /var/filler" "$work/full.p1" >/dev/null 2>&1
rm -f "$debugfs_fill"
disk_of full "$work/full.p1"
json full 'distro="debian"' 'synthetic=true'
rm -rf "$r"

log "fserr (ext4 marked with errors)"
r=$work/fserr; tiny_root "$r" debian
part_img "$r" "$work/fserr.p1" 16
debugfs -w -R "ssv state 2" "$work/fserr.p1" >/dev/null 2>&1
disk_of fserr "$work/fserr.p1"
json fserr 'distro="debian"' 'synthetic=true'
rm -rf "$r"

log "twoos (two operating systems on one disk)"
tiny_root "$work/os1" debian; tiny_root "$work/os2" centos
part_img "$work/os1" "$work/twoos.p1" 16; part_img "$work/os2" "$work/twoos.p2" 16
disk_of twoos "$work/twoos.p1" "$work/twoos.p2"
json twoos 'distro=null' 'roots=2'
rm -rf "$work/os1" "$work/os2"

log "arch (synthetic Arch Linux layout with a pacman database)"
r=$work/arch; tiny_root "$r" arch
part_img "$r" "$work/arch.p1" 16
disk_of arch "$work/arch.p1"
json arch 'distro="archlinux"' 'package_format="pacman"' 'cloud_init_version="23.4.4-1"' 'synthetic=true'
rm -rf "$r"

log "nosh (a CentOS 7 root without /bin/sh: the guest's rpm cannot run; a Berkeley DB rpm database)"
r=$work/nosh; tiny_root "$r" centos
rm -f "$r/bin/sh"
# /var is its own filesystem (fstab LABEL=VAR): the rpm database is read only once it is mounted.
mkdir -p "$work/nosh-var/lib/rpm" "$work/nosh-var/log" && cp "$out/rpmdb/bdb/Packages" "$work/nosh-var/lib/rpm/Packages"
echo "LABEL=VAR /var ext4 defaults 0 2" >>"$r/etc/fstab"
rm -rf "$r/var" && mkdir -p "$r/var"
part_img "$r" "$work/nosh.p1" 16
mke2fs -q -F -t ext4 -J size=1 -m 0 -L VAR -d "$work/nosh-var" "$work/nosh.p2" 16M
disk_of nosh "$work/nosh.p1" "$work/nosh.p2"
json nosh 'distro="centos"' 'major=7' 'minor=9' 'package_format="rpm"' \
  'cloud_init_version="0.7.9-24.el7.centos"' 'rpm_database="/var/lib/rpm/Packages"' 'var="/dev/sda2"' 'synthetic=true'
rm -rf "$r" "$work/nosh-var"

log "fedora (a Fedora 39 root without /bin/sh in btrfs subvolume root, os-release under /usr/lib, rpmdb.sqlite)"
r=$work/fedora; tiny_root "$r" fedora
rm -f "$r/bin/sh"
mkdir -p "$r/home"
# Fedora's btrfs layout: subvolumes root and home, the top level (the default subvolume)
# holding nothing else; made inside the appliance, which has btrfs-progs.
printf 'LABEL=fedora / btrfs subvol=root,compress=zstd:1 0 0\nLABEL=fedora /home btrfs subvol=home,compress=zstd:1 0 0\n' >"$r/etc/fstab"
tar -C "$r" -cf "$work/fedora.tar" .
truncate -s 128M "$work/fedora.p1"
LIBGUESTFS_BACKEND_SETTINGS=force_tcg guestfish --format=raw -a "$work/fedora.p1" run : \
  mkfs-btrfs /dev/sda label:fedora : mount /dev/sda / : \
  btrfs-subvolume-create /root : btrfs-subvolume-create /home : umount / : \
  mount-options subvol=root /dev/sda / : tar-in "$work/fedora.tar" / : umount-all >"$work/btrfs.log" 2>&1 \
  || { cat "$work/btrfs.log" >&2; exit 1; }
rm -f "$work/fedora.tar"
disk_of fedora "$work/fedora.p1"
json fedora 'distro="fedora"' 'major=39' 'minor=0' 'package_format="rpm"' 'root="btrfsvol:/dev/sda1/root"' \
  'cloud_init_version="0.7.9-24.el7.centos"' 'rpm_database="/usr/lib/sysimage/rpm/rpmdb.sqlite"' 'synthetic=true'
rm -rf "$r"

log "coreos (a CoreOS Container Linux layout: /usr, holding the only os-release, is another filesystem no fstab names)"
# As Container Linux lays it out (and libguestfs recognises it): the root holds /etc (with
# coreos/update.conf, os-release a link into /usr), /root, /home and an empty /usr, but no
# /bin and no fstab; USR-A holds bin, lib/os-release, share/coreos, local.
r=$work/coreos; mkdir -p "$r/root/etc/coreos" "$r/root/root" "$r/root/home" "$r/root/usr" "$r/root/var" \
  "$r/usr/bin" "$r/usr/sbin" "$r/usr/lib" "$r/usr/local" "$r/usr/share/coreos"
cp "$base_bin/sh" "$base_bin/ls" "$r/usr/bin/"
cp "$base_etc/passwd" "$base_etc/shadow" "$base_etc/group" "$r/root/etc/"
echo coreos >"$r/root/etc/hostname"
printf 'GROUP=stable\nSERVER=https://public.update.core-os.net/v1/update/\n' >"$r/root/etc/coreos/update.conf"
ln -s ../usr/lib/os-release "$r/root/etc/os-release"
printf 'NAME="Container Linux by CoreOS"\nID=coreos\nVERSION=2512.3.0\nVERSION_ID=2512.3.0\nBUILD_ID=2020-06-10-0035\nPRETTY_NAME="Container Linux by CoreOS 2512.3.0 (Oklo)"\n' >"$r/usr/lib/os-release"
printf 'DISTRIB_ID="Container Linux by CoreOS"\nDISTRIB_RELEASE=2512.3.0\n' >"$r/usr/share/coreos/lsb-release"
mke2fs -q -F -t ext4 -J size=1 -m 0 -L ROOT -d "$r/root" "$work/coreos.p1" 16M
mke2fs -q -F -t ext4 -J size=1 -m 0 -L USR-A -d "$r/usr" "$work/coreos.p2" 16M
disk_of coreos "$work/coreos.p1" "$work/coreos.p2"
json coreos 'distro="coreos"' 'major=2512' 'minor=3' 'root="/dev/sda1"' 'usr="/dev/sda2"' 'synthetic=true'
rm -rf "$r"

log "luks (an encrypted root)"
truncate -s 32M "$work/luks.p1"
printf 'imgseal-test-key' >"$work/luks.key"
cryptsetup luksFormat --batch-mode --type luks2 --pbkdf pbkdf2 --pbkdf-force-iterations 1000 \
  --key-file "$work/luks.key" "$work/luks.p1" >/dev/null
disk_of luks "$work/luks.p1"
json luks 'distro=null' 'encrypted=true'

echo "$stamp_want" >"$out/.stamp"
log "done: $(cd "$out" && ls ./*.qcow2 | tr '\n' ' ')"
