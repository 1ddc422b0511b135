#!/usr/bin/env bash
# Builds the Windows test fixtures: SYNTHETIC layouts, not Windows. No Windows image can be
# downloaded here, so these are NTFS volumes (made by ntfs-3g inside the libguestfs appliance:
# nothing is mounted on the host) holding the directory layout, the registry hives and the
# traces of a Windows Server build, with stub executables:
#
#   win2008r2.qcow2  Windows Server 2008 R2 (6.1, build 7601): C: alone
#   win2012r2.qcow2  Windows Server 2012 R2 (6.3, build 9600): "System Reserved" + C:
#   winhiber.qcow2   the 2012 R2 layout, hibernated (hiberfil.sys begins with "HIBR"), which
#                    ntfs-3g refuses to open for writing
#   windirty.qcow2   the 2012 R2 layout with C: marked dirty (VOLUME_IS_DIRTY set in $Volume's
#                    $VOLUME_INFORMATION, as an unclean shutdown leaves it), which ntfs-3g
#                    mounts read-write without a word
#   winbitlocker.qcow2  the 2012 R2 layout whose C: is a SYNTHETIC BitLocker volume: only the
#                    header libblkid recognises ("-FVE-FS-" boot sector, FVE metadata blocks),
#                    zeros behind it
#
# The hives are real regf files: scripts/mkhive.py writes an empty hive and hivexregedit
# --merge fills it from the .reg text below. What each fixture plants is in NAME.json.
#
#   scripts/make-windows-fixtures.sh OUT_DIR
#
# Skipped when OUT_DIR/.stamp-windows matches this script's and mkhive.py's hashes.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
out=${1:?usage: make-windows-fixtures.sh OUT_DIR}
stamp_want=$(cat "$0" "$here/scripts/mkhive.py" | sha256sum | cut -d' ' -f1)
if [ -f "$out/.stamp-windows" ] && [ "$(cat "$out/.stamp-windows")" = "$stamp_want" ]; then
  exit 0
fi
for t in guestfish hivexregedit sfdisk qemu-img python3; do
  command -v "$t" >/dev/null || { echo "make-windows-fixtures.sh: $t missing; run scripts/install-deps.sh" >&2; exit 2; }
done
mkdir -p "$out"
work=$(mktemp -d "${TMPDIR:-/tmp}/imgseal-winfix.XXXXXX")
trap 'rm -rf "$work"' EXIT
export LIBGUESTFS_BACKEND_SETTINGS=${LIBGUESTFS_BACKEND_SETTINGS:-force_tcg}
t0=$(date +%s)
log() { echo "make-windows-fixtures.sh: [$(( $(date +%s) - t0 ))s] $*"; }

# A string value as .reg's hex(1): UTF-16LE with its terminating NUL (hivexregedit reads the
# .reg file as bytes, so anything beyond ASCII must be written this way).
u16() { python3 -c 'import sys; print("hex(1):" + ",".join("%02x" % b for b in (sys.argv[1] + "\0").encode("utf-16-le")))' "$1"; }
# A REG_MULTI_SZ as hex(7).
multi() { python3 -c 'import sys; print("hex(7):" + ",".join("%02x" % b for b in ("".join(s + "\0" for s in sys.argv[1:]) + "\0").encode("utf-16-le")))' "$@"; }
dword() { printf 'dword:%08x' "$1"; }
# pe_stub FILE: the smallest PE32+ x86-64 console executable header `file` (and so libguestfs's
# file_architecture) recognises: a DOS header pointing at "PE\0\0", a COFF header for AMD64,
# an optional header with the PE32+ magic and the console subsystem. It runs nothing.
pe_stub() {
  python3 - "$1" <<'PY'
import struct, sys
b = bytearray(512)
b[0:2] = b"MZ"
struct.pack_into("<I", b, 0x3C, 0x80)
b[0x80:0x84] = b"PE\0\0"
struct.pack_into("<HHIIIHH", b, 0x84, 0x8664, 0, 0, 0, 0, 0xF0, 0x0022)
opt = 0x98
struct.pack_into("<H", b, opt, 0x20B)        # PE32+
struct.pack_into("<H", b, opt + 68, 3)       # IMAGE_SUBSYSTEM_WINDOWS_CUI
b[0x200 - 32:] = b"imgseal test stub, runs nothing".ljust(32, b"\0")
open(sys.argv[1], "wb").write(bytes(b))
PY
}

hive() { # hive FILE ROOTNAME REGFILE: an empty hive filled from the .reg text
  python3 "$here/scripts/mkhive.py" "$1" "$2"
  hivexregedit --merge "$1" "$3"
}

# The interfaces' GUIDs and the disk signature: fixed, so the tests can name them.
nic1='{5A3C9E12-7B41-4C2A-9F0E-1D2B3C4D5E6F}'
nic2='{8E1F2A3B-4C5D-4E6F-8A9B-0C1D2E3F4A5B}'
nic_sub='{0C7D4B2A-19E6-4F3B-A5D8-6E2F1B9C3A40}'
net_class='{4D36E972-E325-11CE-BFC1-08002BE10318}'
admin_sid='S-1-5-21-1004336348-1177238915-682003330-500'

# write_hives DIR PRODUCT VERSION BUILD HOSTNAME CONNECTION C_OFFSET
write_hives() {
  local d=$1 product=$2 version=$3 build=$4 host=$5 conn=$6 c_off=$7
  mkdir -p "$d"
  # SYSTEM: two control sets, both named by Select; the firewall on in every profile; a jumbo
  # MTU on the first interface; DHCP lease values; a pending rename and file renames.
  {
    echo 'Windows Registry Editor Version 5.00'
    echo
    printf '[\\Select]\n"Current"=%s\n"Default"=%s\n"LastKnownGood"=%s\n"Failed"=%s\n\n' \
      "$(dword 1)" "$(dword 1)" "$(dword 2)" "$(dword 0)"
    printf '[\\Setup]\n"SetupType"=%s\n"CmdLine"=""\n"SystemSetupInProgress"=%s\n\n' "$(dword 0)" "$(dword 0)"
    printf '[\\MountedDevices]\n"\\\\DosDevices\\\\C:"=hex:4d,3c,2b,1a,%s\n\n' \
      "$(python3 -c 'import struct,sys; print(",".join("%02x" % b for b in struct.pack("<Q", int(sys.argv[1]))))' "$c_off")"
    for cs in ControlSet001 ControlSet002; do
      local k="\\$cs"
      for p in "$k" "$k\\Control" "$k\\Control\\ComputerName" "$k\\Control\\Network" \
               "$k\\Control\\Network\\$net_class" "$k\\Control\\Session Manager" \
               "$k\\Services" "$k\\Services\\Tcpip" "$k\\Services\\Tcpip\\Parameters" \
               "$k\\Services\\Tcpip\\Parameters\\Interfaces" "$k\\Services\\SharedAccess" \
               "$k\\Services\\SharedAccess\\Parameters" \
               "$k\\Services\\SharedAccess\\Parameters\\FirewallPolicy"; do
        printf '[%s]\n\n' "$p"
      done
      printf '[%s\\Control\\ComputerName\\ComputerName]\n"ComputerName"="%s"\n\n' "$k" "$host"
      printf '[%s\\Control\\ComputerName\\ActiveComputerName]\n"ComputerName"="%s"\n\n' "$k" "$host"
      printf '[%s\\Control\\Network\\%s\\%s]\n\n' "$k" "$net_class" "$nic1"
      printf '[%s\\Control\\Network\\%s\\%s\\Connection]\n"Name"=%s\n"PnpInstanceID"="PCI\\\\VEN_1AF4&DEV_1000\\\\3&13C0B0C5&0&18"\n\n' \
        "$k" "$net_class" "$nic1" "$(u16 "$conn")"
      printf '[%s\\Control\\Network\\%s\\%s]\n\n' "$k" "$net_class" "$nic2"
      printf '[%s\\Control\\Network\\%s\\%s\\Connection]\n"Name"=%s\n\n' \
        "$k" "$net_class" "$nic2" "$(u16 "${conn} 2")"
      printf '[%s\\Control\\Session Manager]\n"PendingFileRenameOperations"=%s\n\n' \
        "$k" "$(multi '\??\C:\Windows\Temp\old.dll' '' '\??\C:\Windows\Temp\new.dll' '!\??\C:\Windows\System32\new.dll')"
      printf '[%s\\Services\\Tcpip\\Parameters]\n"Hostname"="%s"\n"NV Hostname"="%s-NEW"\n"Domain"=""\n\n' "$k" "$host" "$host"
      printf '[%s\\Services\\Tcpip\\Parameters\\Interfaces\\%s]\n"EnableDHCP"=%s\n"MTU"=%s\n"DhcpIPAddress"="10.0.2.15"\n"DhcpServer"="10.0.2.2"\n"DhcpSubnetMask"="255.255.255.0"\n"DhcpDefaultGateway"=%s\n"Lease"=%s\n"LeaseObtainedTime"=%s\n"LeaseTerminatesTime"=%s\n\n' \
        "$k" "$nic1" "$(dword 1)" "$(dword 9000)" "$(multi 10.0.2.2)" "$(dword 86400)" "$(dword 1700000000)" "$(dword 1700086400)"
      # A subkey with a value and an empty one below it: deleting the lease rebuilds the
      # interface key (hivex cannot delete a value), and these must come through it.
      printf '[%s\\Services\\Tcpip\\Parameters\\Interfaces\\%s\\%s]\n"ProfileName"="imgseal test subkey"\n\n' "$k" "$nic1" "$nic_sub"
      printf '[%s\\Services\\Tcpip\\Parameters\\Interfaces\\%s\\%s\\Empty]\n\n' "$k" "$nic1" "$nic_sub"
      printf '[%s\\Services\\Tcpip\\Parameters\\Interfaces\\%s]\n"EnableDHCP"=%s\n"MTU"=%s\n\n' \
        "$k" "$nic2" "$(dword 1)" "$(dword 1400)"
      for prof in DomainProfile StandardProfile PublicProfile; do
        printf '[%s\\Services\\SharedAccess\\Parameters\\FirewallPolicy\\%s]\n"EnableFirewall"=%s\n"DisableNotifications"=%s\n\n' \
          "$k" "$prof" "$(dword 1)" "$(dword 0)"
      done
      printf '[%s\\Services\\MpsSvc]\n"Start"=%s\n"DisplayName"="@%%SystemRoot%%\\\\system32\\\\FirewallAPI.dll,-23090"\n\n' "$k" "$(dword 2)"
    done
  } >"$d/system.reg"
  hive "$d/SYSTEM" SYSTEM "$d/system.reg"

  # SOFTWARE: the version, installed applications (64- and 32-bit views), a group policy that
  # enables the firewall, servicing and update reboot markers, the administrator's profile.
  local cv='\Microsoft\Windows NT\CurrentVersion' wcv='\Microsoft\Windows\CurrentVersion'
  {
    echo 'Windows Registry Editor Version 5.00'
    echo
    for p in '\Microsoft' '\Microsoft\Windows NT' "$cv" "$cv\\ProfileList" '\Microsoft\Windows' \
             "$wcv" "$wcv\\Uninstall" "$wcv\\WindowsUpdate" "$wcv\\Component Based Servicing" \
             '\Policies' '\Policies\Microsoft' '\Policies\Microsoft\WindowsFirewall' \
             '\Wow6432Node' '\Wow6432Node\Microsoft' '\Wow6432Node\Microsoft\Windows' \
             '\Wow6432Node\Microsoft\Windows\CurrentVersion' \
             '\Wow6432Node\Microsoft\Windows\CurrentVersion\Uninstall'; do
      printf '[%s]\n\n' "$p"
    done
    printf '[%s]\n"ProductName"="%s"\n"CurrentVersion"="%s"\n"CurrentBuild"="%s"\n"CurrentBuildNumber"="%s"\n"EditionID"="ServerStandard"\n"InstallationType"="Server"\n"SystemRoot"="C:\\\\Windows"\n"PathName"="C:\\\\Windows"\n"RegisteredOwner"="Windows User"\n\n' \
      "$cv" "$product" "$version" "$build" "$build"
    printf '[%s\\ProfileList\\%s]\n"ProfileImagePath"="C:\\\\Users\\\\Administrator"\n\n' "$cv" "$admin_sid"
    printf '[%s\\Uninstall\\{90150000-0011-0000-1000-0000000FF1CE}]\n"DisplayName"="Build Agent Tools"\n"DisplayVersion"="2.4.1"\n"Publisher"="Example Build Co."\n\n' "$wcv"
    printf '[\\Wow6432Node\\Microsoft\\Windows\\CurrentVersion\\Uninstall\\7-Zip]\n"DisplayName"="7-Zip 9.20"\n"DisplayVersion"="9.20.00.0"\n"Publisher"="Igor Pavlov"\n\n'
    printf '[%s\\WindowsUpdate\\Auto Update]\n\n[%s\\WindowsUpdate\\Auto Update\\RebootRequired]\n"a1b2c3d4-0000-0000-0000-000000000001"=%s\n\n' "$wcv" "$wcv" "$(dword 1)"
    printf '[%s\\Component Based Servicing\\RebootPending]\n\n' "$wcv"
    printf '[\\Policies\\Microsoft\\WindowsFirewall\\DomainProfile]\n"EnableFirewall"=%s\n\n' "$(dword 1)"
    printf '[\\Policies\\Microsoft\\WindowsFirewall\\StandardProfile]\n"DisableNotifications"=%s\n\n' "$(dword 1)"
  } >"$d/software.reg"
  hive "$d/SOFTWARE" SOFTWARE "$d/software.reg"

  printf 'Windows Registry Editor Version 5.00\n\n[\\SAM]\n\n[\\SAM\\Domains]\n\n[\\SAM\\Domains\\Account]\n"F"=hex:02,00,01,00\n\n' >"$d/sam.reg"
  hive "$d/SAM" SAM "$d/sam.reg"
  printf 'Windows Registry Editor Version 5.00\n\n[\\Policy]\n\n' >"$d/security.reg"
  hive "$d/SECURITY" SECURITY "$d/security.reg"
  printf 'Windows Registry Editor Version 5.00\n\n[\\Software]\n\n' >"$d/default.reg"
  hive "$d/DEFAULT" DEFAULT "$d/default.reg"
  rm -f "$d"/*.reg
}

# c_tree DIR: the files of C: (stubs where Windows has binaries) and the build's traces.
c_tree() {
  local c=$1 hives=$2 u
  mkdir -p "$c/Windows/System32/config" "$c/Windows/System32/drivers/etc" "$c/Program Files" \
    "$c/Program Files (x86)" "$c/ProgramData" "$c/Users/Public"
  cp "$hives"/{SYSTEM,SOFTWARE,SAM,SECURITY,DEFAULT} "$c/Windows/System32/config/"
  pe_stub "$c/Windows/System32/cmd.exe"
  pe_stub "$c/Windows/System32/ntoskrnl.exe"
  pe_stub "$c/Windows/explorer.exe"
  printf '# hosts\r\n127.0.0.1 localhost\r\n' >"$c/Windows/System32/drivers/etc/hosts"
  # Traces (R8).
  u=$c/Users/Administrator
  mkdir -p "$c/Windows/Temp/build" "$u/AppData/Local/Temp" \
    "$u/AppData/Roaming/Microsoft/Windows/PowerShell/PSReadLine" \
    "$u/AppData/Roaming/Microsoft/Windows/Recent" "$c/Windows/Prefetch" \
    "$c/\$Recycle.Bin/$admin_sid" "$c/Windows/Panther" "$c/Windows/System32/Sysprep/Panther" \
    "$c/Windows/SoftwareDistribution/Download/3f2a" "$c/ProgramData/Microsoft/Windows/WER/ReportQueue/AppCrash_build" \
    "$c/Windows/Minidump" "$c/Windows/System32/winevt/Logs" \
    "$u/AppData/Local/Microsoft/Terminal Server Client/Cache" "$c/Windows/WinSxS" \
    "$u/Documents"
  printf 'build step 1\r\n' >"$c/Windows/Temp/build.log"
  printf 'artifact\r\n' >"$c/Windows/Temp/build/artifact.zip"
  printf 'tmp\r\n' >"$u/AppData/Local/Temp/setup-1234.tmp"
  printf 'Invoke-WebRequest http://build.internal/agent.msi -OutFile C:\\agent.msi\r\nnet user Administrator Build-Pass-1\r\n' \
    >"$u/AppData/Roaming/Microsoft/Windows/PowerShell/PSReadLine/ConsoleHost_history.txt"
  printf 'L\0\0\0 shortcut\r\n' >"$u/AppData/Roaming/Microsoft/Windows/Recent/agent.msi.lnk"
  printf 'SCCA prefetch\r\n' >"$c/Windows/Prefetch/CMD.EXE-4A81B364.pf"
  printf 'deleted file\r\n' >"$c/\$Recycle.Bin/$admin_sid/\$RABC123.txt"
  printf '$I header\r\n' >"$c/\$Recycle.Bin/$admin_sid/\$IABC123.txt"
  cat >"$c/Windows/Panther/unattend.xml" <<'EOF'
<?xml version="1.0" encoding="utf-8"?>
<unattend xmlns="urn:schemas-microsoft-com:unattend">
  <settings pass="oobeSystem"><component name="Microsoft-Windows-Shell-Setup">
    <UserAccounts><AdministratorPassword><Value>Build-Pass-1</Value><PlainText>true</PlainText></AdministratorPassword></UserAccounts>
  </component></settings>
</unattend>
EOF
  cp "$c/Windows/Panther/unattend.xml" "$c/Windows/System32/Sysprep/unattend.xml"
  printf 'setupact\r\n' >"$c/Windows/Panther/setupact.log"
  printf 'sysprep log\r\n' >"$c/Windows/System32/Sysprep/Panther/setupact.log"
  printf 'MSCF update\r\n' >"$c/Windows/SoftwareDistribution/Download/3f2a/windows6.3-kb3172614-x64.cab"
  printf 'Version=1\r\nEventType=APPCRASH\r\n' >"$c/ProgramData/Microsoft/Windows/WER/ReportQueue/AppCrash_build/Report.wer"
  printf 'PAGEDU64 dump\r\n' >"$c/Windows/MEMORY.DMP"
  printf 'PAGEDU64 minidump\r\n' >"$c/Windows/Minidump/120620-1234-01.dmp"
  for l in System Application Security Setup; do printf 'ElfFile\0 %s\r\n' "$l" >"$c/Windows/System32/winevt/Logs/$l.evtx"; done
  printf 'RDP8bmp cache\r\n' >"$u/AppData/Local/Microsoft/Terminal Server Client/Cache/bcache22.bmc"
  printf '<?xml version="1.0"?><PendingTransaction/>\r\n' >"$c/Windows/WinSxS/pending.xml"
  # Kept: the user's documents are not traces.
  printf 'keep me\r\n' >"$u/Documents/readme.txt"
}

# ntfs_disk NAME C_DEVICE SIZES_MIB LABELS... : a raw MBR disk (signature 1A2B3C4D) whose
# partitions are NTFS volumes made and filled in the appliance from $work/NAME.pN.tar
ntfs_disk() {
  local name=$1 raw=$work/$1.raw c_dev=$2; shift 2
  local -a sizes labels
  IFS=, read -ra sizes <<<"$1"; shift
  labels=("$@")
  local total=2 table="label: dos"$'\n'"label-id: 0x1a2b3c4d"$'\n' s
  for s in "${sizes[@]}"; do table+="size=${s}MiB, type=7"$'\n'; total=$(( total + s )); done
  truncate -s "${total}M" "$raw"
  printf '%s' "$table" | sfdisk --quiet "$raw"
  local gf=(--format=raw -a "$raw" run) i
  for i in "${!sizes[@]}"; do
    local p=/dev/sda$(( i + 1 ))
    gf+=(: mkfs ntfs "$p")
    [ -z "${labels[$i]}" ] || gf+=(label:"${labels[$i]}")
    gf+=(: mount "$p" / : tar-in "$work/$name.p$(( i + 1 )).tar" /)
    # The link from a Temp directory into System32\config, made by ntfs-3g: trace cleanup
    # must remove the link and leave the hives.
    [ "$p" != "$c_dev" ] || gf+=(: ln-s /Windows/System32/config /Windows/Temp/config-link)
    gf+=(: umount /)
  done
  guestfish "${gf[@]}"
}

# windows NAME PRODUCT VERSION BUILD HOSTNAME CONNECTION RESERVED(0|1)
windows() {
  local name=$1 product=$2 version=$3 build=$4 host=$5 conn=$6 reserved=$7
  local h=$work/$name-hives c=$work/$name-c c_off
  # C: is the first partition at 1 MiB, or the second after a 32 MiB System Reserved.
  if [ "$reserved" = 1 ]; then c_off=$(( 33 * 1024 * 1024 )); else c_off=$(( 1024 * 1024 )); fi
  write_hives "$h" "$product" "$version" "$build" "$host" "$conn" "$c_off"
  c_tree "$c" "$h"
  if [ "$reserved" = 1 ]; then
    local sr=$work/$name-sr
    mkdir -p "$sr/Boot"
    printf 'imgseal test stub for bootmgr\n' >"$sr/bootmgr"
    printf 'imgseal test stub for BCD\n' >"$sr/Boot/BCD"
    tar -C "$sr" -cf "$work/$name.p1.tar" .
    tar -C "$c" -cf "$work/$name.p2.tar" .
    ntfs_disk "$name" /dev/sda2 32,96 "System Reserved" ""
  else
    tar -C "$c" -cf "$work/$name.p1.tar" .
    ntfs_disk "$name" /dev/sda1 96 ""
  fi
}

log "win2008r2 (synthetic Windows Server 2008 R2 layout: C: alone)"
windows win2008r2 "Windows Server 2008 R2 Standard" 6.1 7601 WIN-2008R2 "本地连接" 0
qemu-img convert -q -f raw -O qcow2 "$work/win2008r2.raw" "$out/win2008r2.qcow2"

log "win2012r2 (synthetic Windows Server 2012 R2 layout: System Reserved + C:)"
windows win2012r2 "Windows Server 2012 R2 Standard" 6.3 9600 WIN-2012R2 "以太网" 1
qemu-img convert -q -f raw -O qcow2 "$work/win2012r2.raw" "$out/win2012r2.qcow2"

# ntfs_set_dirty RAW OFFSET: sets VOLUME_IS_DIRTY on the NTFS volume at byte OFFSET of a raw
# disk, in $Volume's MFT record (number 3) and in its $MFTMirr copy, as Windows leaves it. The
# flag lies in the record's first 510 bytes, so no update sequence fixup is in the way.
ntfs_set_dirty() {
  python3 - "$1" "$2" <<'PY'
import struct, sys
path, part = sys.argv[1], int(sys.argv[2])
f = open(path, "r+b")
f.seek(part); bs = f.read(512)
assert bs[3:11] == b"NTFS    ", "not NTFS"
bps, spc = struct.unpack_from("<HB", bs, 0x0B)
cluster = bps * spc
mft, mirr = struct.unpack_from("<qq", bs, 0x30)
cpr, = struct.unpack_from("<b", bs, 0x40)
rec = cpr * cluster if cpr > 0 else 1 << -cpr
f.seek(part + mft * cluster + 3 * rec); r = f.read(rec)
assert r[0:4] == b"FILE", "MFT record 3 is not a FILE record"
a, = struct.unpack_from("<H", r, 0x14)
while True:
    t, n = struct.unpack_from("<II", r, a)
    assert t != 0xFFFFFFFF and n, "no $VOLUME_INFORMATION"
    if t == 0x70:
        break
    a += n
assert r[a + 8] == 0, "$VOLUME_INFORMATION is not resident"
flags = a + struct.unpack_from("<H", r, a + 0x14)[0] + 0x0A
assert flags % 512 < 510, "the flags lie under an update sequence number"
old, = struct.unpack_from("<H", r, flags)
for base in (mft, mirr):
    f.seek(part + base * cluster + 3 * rec + flags); f.write(struct.pack("<H", old | 1))
PY
}

# bitlocker_header RAW OFFSET SIZE: replaces the partition at byte OFFSET (SIZE bytes) of a raw
# disk by zeros and the header of a BitLocker volume (Windows 7 and later) as libblkid knows
# it: a boot sector with the "-FVE-FS-" OEM id, BitLocker's volume GUID and the offsets of
# three FVE metadata blocks, each starting with "-FVE-FS-".
bitlocker_header() {
  python3 - "$1" "$2" "$3" <<'PY'
import struct, sys, uuid
path, part, size = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
f = open(path, "r+b")
f.seek(part)
for _ in range(size >> 20):
    f.write(bytes(1 << 20))
b = bytearray(512)
b[0:11] = b"\xeb\x58\x90-FVE-FS-"
struct.pack_into("<HB", b, 0x0B, 512, 8)
b[0x47:0x5A] = b"NO NAME    FAT32   "
b[0xA0:0xB0] = uuid.UUID("4967d63b-2e29-4ad8-8399-f6a339e3d001").bytes_le
for i in range(3):
    off = (1 + i) << 20
    struct.pack_into("<Q", b, 0xB0 + 8 * i, off)
    f.seek(part + off); f.write(b"-FVE-FS-" + struct.pack("<HH", 64, 2))
b[510:512] = b"\x55\xaa"
f.seek(part); f.write(b)
PY
}

log "windirty (the 2012 R2 layout, C: marked dirty)"
cp --sparse=always "$work/win2012r2.raw" "$work/windirty.raw"
ntfs_set_dirty "$work/windirty.raw" $(( 33 * 1024 * 1024 ))
qemu-img convert -q -f raw -O qcow2 "$work/windirty.raw" "$out/windirty.qcow2"
rm -f "$work/windirty.raw"

log "winbitlocker (the 2012 R2 layout, C: a BitLocker volume)"
cp --sparse=always "$work/win2012r2.raw" "$work/winbitlocker.raw"
bitlocker_header "$work/winbitlocker.raw" $(( 33 * 1024 * 1024 )) $(( 96 * 1024 * 1024 ))
qemu-img convert -q -f raw -O qcow2 "$work/winbitlocker.raw" "$out/winbitlocker.qcow2"
rm -f "$work/winbitlocker.raw"

log "winhiber (the 2012 R2 layout, hibernated)"
guestfish --format=raw -a "$work/win2012r2.raw" run : mount /dev/sda2 / \
  : write /hiberfil.sys "HIBR imgseal test: a hibernated Windows" : umount /
qemu-img convert -q -f raw -O qcow2 "$work/win2012r2.raw" "$out/winhiber.qcow2"

cat >"$out/win2008r2.json" <<EOF
{ "name": "win2008r2", "synthetic": true, "distro": "windows", "major": 6, "minor": 1,
  "product_name": "Windows Server 2008 R2 Standard", "build": "7601", "hostname": "WIN-2008R2",
  "connection": "本地连接", "nic": "$nic1", "nic2": "$nic2", "nic_sub": "$nic_sub", "mtu": 9000, "control_sets": [1, 2],
  "admin_sid": "$admin_sid", "c_partition": 1 }
EOF
cat >"$out/win2012r2.json" <<EOF
{ "name": "win2012r2", "synthetic": true, "distro": "windows", "major": 6, "minor": 3,
  "product_name": "Windows Server 2012 R2 Standard", "build": "9600", "hostname": "WIN-2012R2",
  "connection": "以太网", "nic": "$nic1", "nic2": "$nic2", "nic_sub": "$nic_sub", "mtu": 9000, "control_sets": [1, 2],
  "admin_sid": "$admin_sid", "c_partition": 2 }
EOF
cat >"$out/winhiber.json" <<EOF
{ "name": "winhiber", "synthetic": true, "distro": "windows", "hibernated": true }
EOF
cat >"$out/windirty.json" <<EOF
{ "name": "windirty", "synthetic": true, "distro": "windows", "dirty": "/dev/sda2" }
EOF
cat >"$out/winbitlocker.json" <<EOF
{ "name": "winbitlocker", "synthetic": true, "distro": "windows", "bitlocker": "/dev/sda2" }
EOF
echo "$stamp_want" >"$out/.stamp-windows"
log "done: win2008r2.qcow2 win2012r2.qcow2 windirty.qcow2 winbitlocker.qcow2 winhiber.qcow2"
