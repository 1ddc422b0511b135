#!/usr/bin/env bash
# Benchmarks: every goal is a ratio against a baseline measured in the same run.
#
#   scripts/bench.sh [convert] [hash] [digest] [size] [rss] [batch] [accel] [virtual] [shard] [windows] [repro]   (default: all)
#
#   convert  imgseal convert of the bootable Debian fixture (debian12-boot: a kernel, its
#            initramfs and GRUB, as vendors ship images) vs the guestfs-tools chain a user writes
#            today (virt-customize for the package swap, firewall and MTU edits + virt-sysprep
#            + virt-sparsify + sha256sum); goal imgseal <= 0.25x the chain's time
#   hash     SHA-256 of a 2 GiB file: imgseal vs sha256sum; goal >= 1.5x throughput
#   digest   content digest over NBD vs qemu-img convert to raw + sha256sum; goal >= 1.0x;
#            and of a 64 GiB-virtual copy of the Debian fixture; goal >= 10x
#   size     imgseal's output vs virt-sparsify --convert qcow2 of the same converted guest;
#            goal <= 1.0x
#   rss      peak RSS of imgseal during convert of the fixture and of a 64 GiB-virtual copy;
#            goal <= 64 MiB
#   batch    images per hour for 4 copies of the Debian fixture: imgseal batch vs imgseal
#            convert one after another vs the guestfs-tools chain per image; goal >= 4x the chain
#   virtual  convert of the bootable Debian fixture grown to 4 GiB and to 64 GiB virtual (the
#            same data): the cost follows the data, not the virtual size; goal 64G/4G <= 1.1
#   shard    4 copies of the Debian fixture: one batch --jobs 2 vs 2 Slurm array tasks of
#            --jobs 1 on a one-node local cluster (scripts/slurm-local.sh); the partition
#            deals the 4 images 2 + 2; goal array <= 1.15x the batch
#   windows  imgseal convert of the synthetic Windows Server 2012 R2 fixture vs the floor: one
#            inspected guestfish session that downloads both hives, merges the same registry
#            edits into them on the host (hivexregedit) and uploads them; goal <= 1.5x the
#            floor; prints imgseal's stage split
#   repro    the Debian fixture converted twice without and twice with SOURCE_DATE_EPOCH (raw
#            outputs): the 64 KiB blocks in which each pair's disks differ, as a ratio with over
#            without; the four share one tree digest (goal); the tree digest's share of the
#            conversion's time
#   accel    one automatic-acceleration launch (imgseal inspect of the Debian fixture, 3 runs
#            each) with a remembered KVM failure vs without one (a KVM attempt, then TCG), on
#            a host where /dev/kvm exists but qemu cannot use it; reports the saving per launch
#
# IMGSEAL_FIXTURES and CARGO_TARGET_DIR are honoured. Runs the release build under TCG (IMGSEAL_ACCEL=tcg, LIBGUESTFS_BACKEND_SETTINGS=force_tcg
# for the guestfs tools) so both sides pay the same appliance cost. Results are printed and
# appended as JSON lines to target/bench/results.jsonl. The binary is built in
# $CARGO_TARGET_DIR (default target/) and the fixtures are taken from $IMGSEAL_FIXTURES
# (default target/fixtures).
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"
[ -x "$HOME/.cargo/bin/cargo" ] && export PATH="$HOME/.cargo/bin:$PATH"
what=("$@")
[ ${#what[@]} -gt 0 ] || what=(convert hash digest size rss batch virtual accel shard windows repro)
want() { local w; for w in "${what[@]}"; do [ "$w" = "$1" ] && return 0; done; return 1; }

scripts/make-test-images.sh >/dev/null
cargo build --release --locked -q
bin=${CARGO_TARGET_DIR:-$here/target}/release/imgseal
fx=${IMGSEAL_FIXTURES:-$here/target/fixtures}
vendor=$fx/vendor
export IMGSEAL_ACCEL=tcg LIBGUESTFS_BACKEND_SETTINGS=force_tcg IMGSEAL_NO_PROGRESS=1
mkdir -p target/bench
# Warm up: libguestfs's appliance is built (and imgseal's fast-boot copy made) before any timing.
"$bin" -q doctor >/dev/null
w=$(mktemp -d "${TMPDIR:-/tmp}/imgseal-bench.XXXXXX")
trap 'rm -rf "$w"' EXIT
results=target/bench/results.jsonl
stamp=$(date -u +%Y-%m-%dT%H:%M:%SZ)

now() { date +%s.%N; }
secs() { python3 -c "print(round($2 - $1, 2))"; }
ratio() { python3 -c "print(round($1 / $2, 2))"; }
record() { # record NAME JSON-FIELDS
  echo "{\"when\":\"$stamp\",\"bench\":\"$1\",$2}" >>"$results"
}

vendor_deb=$(ls "$vendor"/cloud-init_*+jd1_all.deb)

chain() { # chain IN OUT: the guestfs-tools conversion a user writes today
  local in=$1 out=$2 work=$w/chain-work.qcow2
  cp "$in" "$work"
  virt-customize -q --no-network -a "$work" \
    --upload "$vendor_deb:/tmp/vendor.deb" \
    --run-command 'dpkg --purge cloud-init && rm -rf /var/lib/cloud/* && dpkg -i /tmp/vendor.deb && rm -f /tmp/vendor.deb' \
    --run-command 'echo "cloud-init cloud-init/datasources multiselect NoCloud, ConfigDrive, OpenStack, None" | debconf-set-selections && dpkg-reconfigure -f noninteractive cloud-init' \
    --write '/etc/cloud/cloud.cfg.d/99_datasources.cfg:datasource_list: [ NoCloud, ConfigDrive, OpenStack, None ]' \
    --run-command 'sed -i "s/^ENABLED=yes/ENABLED=no/" /etc/ufw/ufw.conf' \
    --run-command 'sed -i "/mtu/d" /etc/network/interfaces.d/eth0' >/dev/null
  virt-sysprep -q -a "$work" >/dev/null
  TMPDIR=$w virt-sparsify -q --convert qcow2 "$work" "$out" >/dev/null
  sha256sum "$out" >"$out.sha256"
  rm -f "$work"
}

if want convert; then
  echo "== convert: imgseal vs virt-customize + virt-sysprep + virt-sparsify + sha256sum (the bootable Debian fixture: kernel, initramfs, GRUB)"
  t0=$(now); "$bin" -q convert --vendor-dir "$vendor" "$fx/debian12-boot.qcow2" -o "$w/imgseal.qcow2" >/dev/null; t1=$(now)
  chain "$fx/debian12-boot.qcow2" "$w/chain.qcow2"; t2=$(now)
  a=$(secs "$t0" "$t1"); b=$(secs "$t1" "$t2"); r=$(ratio "$a" "$b")
  echo "imgseal ${a} s, chain ${b} s, ratio ${r} (goal <= 0.25)"
  rm -f "$w"/chain.qcow2*
  # For the record: the chain again, with imgseal's fast-boot appliance (what it would take
  # if the user also pointed libguestfs at it), and imgseal with libguestfs's own appliance.
  fast=$(ls -d "${LIBGUESTFS_CACHEDIR:-${TMPDIR:-/var/tmp}}/.guestfs-$(id -u)"/imgseal-fastboot-*/README.fixed 2>/dev/null | head -1)
  t3=$(now); IMGSEAL_STOCK_APPLIANCE=1 "$bin" -q convert --vendor-dir "$vendor" "$fx/debian12-boot.qcow2" -o "$w/imgseal-stock.qcow2" >/dev/null; t4=$(now)
  c=$(secs "$t3" "$t4")
  if [ -n "$fast" ]; then
    t5=$(now); LIBGUESTFS_PATH=$(dirname "$fast") chain "$fx/debian12-boot.qcow2" "$w/chain.qcow2"; t6=$(now)
    d=$(secs "$t5" "$t6")
  else
    d=null
  fi
  echo "imgseal with libguestfs's own appliance ${c} s (ratio $(ratio "$c" "$b")); chain with imgseal's fast-boot appliance ${d} s (imgseal/that: $( [ "$d" = null ] && echo n/a || ratio "$a" "$d"))"
  record convert "\"imgseal_s\":$a,\"chain_s\":$b,\"ratio\":$r,\"goal\":\"<=0.25\",\"imgseal_stock_appliance_s\":$c,\"chain_fastboot_s\":$d"
  rm -f "$w"/chain.qcow2* "$w"/imgseal-stock.qcow2*
fi

if want hash; then
  echo "== hash: SHA-256 of a 2 GiB file, imgseal vs sha256sum (tmpfs, warm cache, best of 3)"
  f=/dev/shm/imgseal-bench-2g
  head -c 2G /dev/urandom >"$f"
  best() { local b=999999 t s e; for _ in 1 2 3; do s=$(now); "$@" >/dev/null; e=$(now); t=$(secs "$s" "$e"); b=$(python3 -c "print(min($b,$t))"); done; echo "$b"; }
  a=$(best sha256sum "$f"); b=$(best "$bin" -q digest --file "$f")
  r=$(ratio "$a" "$b")
  echo "sha256sum ${a} s, imgseal ${b} s: imgseal is ${r}x the throughput (goal >= 1.5)"
  record hash "\"sha256sum_s\":$a,\"imgseal_s\":$b,\"ratio\":$r,\"goal\":\">=1.5\""
  rm -f "$f"
fi

sealed() { # a sealed Debian image to measure with (converted once per run)
  [ -f "$w/imgseal.qcow2" ] || "$bin" -q convert --vendor-dir "$vendor" "$fx/debian12.qcow2" -o "$w/imgseal.qcow2" >/dev/null
  echo "$w/imgseal.qcow2"
}

if want digest; then
  echo "== digest: content digest over NBD vs qemu-img convert -O raw + sha256sum"
  img=$(sealed)
  # qemu-img 10 refuses /dev/stdout as a target ("'file' driver requires a regular file"),
  # so the baseline converts to a raw file on tmpfs and hashes it.
  s=$(now); qemu-img convert -f qcow2 -O raw "$img" /dev/shm/imgseal-bench.raw; sha256sum /dev/shm/imgseal-bench.raw >/dev/null; e=$(now)
  rm -f /dev/shm/imgseal-bench.raw
  a=$(secs "$s" "$e")
  s=$(now); "$bin" -q digest "$img" >/dev/null; e=$(now); b=$(secs "$s" "$e")
  s=$(now); "$bin" -q digest --algorithm sha256 "$img" >/dev/null; e=$(now); c=$(secs "$s" "$e")
  r=$(ratio "$a" "$b")
  echo "qemu-img+sha256sum ${a} s, imgseal ${b} s: ${r}x (goal >= 1.0); imgseal --algorithm sha256 ${c} s ($(ratio "$a" "$c")x)"
  record digest "\"baseline_s\":$a,\"imgseal_s\":$b,\"ratio\":$r,\"goal\":\">=1.0\",\"imgseal_sha256_s\":$c"

  echo "== digest: a 64 GiB-virtual copy of the Debian fixture, the same two ways"
  qemu-img convert -f qcow2 -O qcow2 "$fx/debian12.qcow2" "$w/big.qcow2"
  qemu-img resize -q -f qcow2 "$w/big.qcow2" 64G
  s=$(now); qemu-img convert -f qcow2 -O raw "$w/big.qcow2" /dev/shm/imgseal-bench-big.raw; sha256sum /dev/shm/imgseal-bench-big.raw >/dev/null; e=$(now)
  rm -f /dev/shm/imgseal-bench-big.raw
  a=$(secs "$s" "$e")
  s=$(now); "$bin" -q digest "$w/big.qcow2" >/dev/null; e=$(now); b=$(secs "$s" "$e")
  s=$(now); "$bin" -q digest --algorithm sha256 "$w/big.qcow2" >/dev/null; e=$(now); c=$(secs "$s" "$e")
  r=$(ratio "$a" "$b")
  echo "qemu-img+sha256sum ${a} s, imgseal ${b} s: ${r}x (goal >= 10); imgseal --algorithm sha256 ${c} s ($(ratio "$a" "$c")x)"
  record digest_64g "\"baseline_s\":$a,\"imgseal_s\":$b,\"ratio\":$r,\"goal\":\">=10\",\"imgseal_sha256_s\":$c"
  rm -f "$w/big.qcow2"
fi

if want size; then
  echo "== size: imgseal output vs virt-sparsify --convert qcow2 of the same converted guest"
  img=$(sealed)
  TMPDIR=$w virt-sparsify -q --convert qcow2 "$img" "$w/sparsified.qcow2" >/dev/null
  a=$(stat -c %s "$img"); b=$(stat -c %s "$w/sparsified.qcow2"); r=$(ratio "$a" "$b")
  echo "imgseal ${a} B, virt-sparsify ${b} B: ${r}x (goal <= 1.0)"
  record size "\"imgseal_bytes\":$a,\"virt_sparsify_bytes\":$b,\"ratio\":$r,\"goal\":\"<=1.0\""
  rm -f "$w/sparsified.qcow2"
fi

if want rss; then
  echo "== rss: peak RSS of the imgseal process during convert"
  # Peak RSS of imgseal's own process (VmHWM), sampled until it exits: /usr/bin/time would
  # report the appliance's qemu too, a child libguestfs forks from imgseal.
  rss() {
    "$@" >/dev/null 2>&1 &
    local pid=$! peak=0 v
    while kill -0 "$pid" 2>/dev/null; do
      v=$(awk '/^VmHWM:/ {print $2}' "/proc/$pid/status" 2>/dev/null || true)
      [ -n "$v" ] && [ "$v" -gt "$peak" ] && peak=$v
      sleep 0.1
    done
    wait "$pid"
    echo "$peak"
  }
  a=$(rss "$bin" -q convert --vendor-dir "$vendor" "$fx/debian12.qcow2" -o "$w/rss.qcow2")
  rm -f "$w"/rss.qcow2*
  qemu-img convert -f qcow2 -O qcow2 "$fx/debian12.qcow2" "$w/big.qcow2"
  qemu-img resize -q -f qcow2 "$w/big.qcow2" 64G
  b=$(rss "$bin" -q convert --vendor-dir "$vendor" "$w/big.qcow2" -o "$w/rss-big.qcow2")
  rm -f "$w"/big.qcow2 "$w"/rss-big.qcow2*
  echo "fixture ${a} KiB, 64 GiB-virtual copy ${b} KiB (goal <= 65536 KiB each)"
  record rss "\"fixture_kib\":$a,\"virtual_64g_kib\":$b,\"goal_kib\":65536"
fi

if want batch; then
  echo "== batch: 4 copies of the Debian fixture, images per hour"
  mkdir -p "$w/in" "$w/out-batch" "$w/out-serial" "$w/out-chain"
  for i in 1 2 3 4; do cp "$fx/debian12.qcow2" "$w/in/debian-$i.qcow2"; done
  s=$(now); "$bin" -q batch --vendor-dir "$vendor" --out-dir "$w/out-batch" "$w/in" >/dev/null; e=$(now); a=$(secs "$s" "$e")
  s=$(now); for i in 1 2 3 4; do "$bin" -q convert --vendor-dir "$vendor" "$w/in/debian-$i.qcow2" -o "$w/out-serial/debian-$i.qcow2" >/dev/null; done; e=$(now); b=$(secs "$s" "$e")
  s=$(now); for i in 1 2 3 4; do chain "$w/in/debian-$i.qcow2" "$w/out-chain/debian-$i.qcow2"; done; e=$(now); c=$(secs "$s" "$e")
  ph() { python3 -c "print(round(4 * 3600 / $1, 1))"; }
  r=$(ratio "$c" "$a")
  echo "batch $(ph "$a")/h (${a} s), serial convert $(ph "$b")/h (${b} s), chain $(ph "$c")/h (${c} s); batch is ${r}x the chain (goal >= 4)"
  record batch "\"batch_s\":$a,\"serial_s\":$b,\"chain_s\":$c,\"batch_vs_chain\":$r,\"goal\":\">=4\""
fi

if want accel; then
  echo "== accel: automatic acceleration with a remembered KVM failure vs a KVM attempt first (3 inspects each)"
  if [ ! -e /dev/kvm ]; then
    echo "no /dev/kvm: every automatic launch is TCG already; nothing to measure"
  else
    cache=$w/accel-cache
    auto() { env -u IMGSEAL_ACCEL -u LIBGUESTFS_BACKEND_SETTINGS IMGSEAL_CACHE_DIR="$cache" \
      "$bin" -q inspect --json "$fx/debian12.qcow2" >"$w/accel.json" 2>"$w/accel.err"; }
    mean() { python3 -c "import sys; v=[float(x) for x in sys.argv[1:]]; print(round(sum(v)/len(v), 2))" "$@"; }
    tries=() remembered=()
    for _ in 1 2 3; do
      rm -rf "$cache"
      s=$(now); auto; e=$(now); tries+=("$(secs "$s" "$e")")
    done
    used=$(python3 -c "import json; print(json.load(open('$w/accel.json'))['appliance']['accel'])")
    if [ "$used" = kvm ]; then
      echo "KVM works on this host (nothing is remembered); nothing to measure"
    else
      [ -f "$cache/imgseal-kvm-failed.json" ] || { echo "bench.sh: no KVM failure was recorded" >&2; exit 1; }
      for _ in 1 2 3; do
        s=$(now); auto; e=$(now); remembered+=("$(secs "$s" "$e")")
      done
      grep -q "using TCG without trying KVM" "$w/accel.err" || { echo "bench.sh: the record was not used" >&2; exit 1; }
      a=$(mean "${tries[@]}"); b=$(mean "${remembered[@]}"); r=$(ratio "$b" "$a")
      saved=$(python3 -c "print(round($a - $b, 2))")
      echo "KVM attempt then TCG ${a} s (${tries[*]}), remembered failure ${b} s (${remembered[*]}): ${r}x the time, ${saved} s saved per launch"
      record accel "\"kvm_attempt_s\":$a,\"remembered_s\":$b,\"ratio\":$r,\"saved_per_launch_s\":$saved"
    fi
  fi
fi

if want virtual; then
  echo "== virtual: convert of the bootable fixture at 4 GiB and at 64 GiB virtual size (same data)"
  for g in 4 64; do
    qemu-img convert -f qcow2 -O qcow2 "$fx/debian12-boot.qcow2" "$w/v$g.qcow2"
    qemu-img resize -q -f qcow2 "$w/v$g.qcow2" ${g}G
  done
  t0=$(now); "$bin" -q convert --vendor-dir "$vendor" "$w/v4.qcow2" -o "$w/v4-out.qcow2" >/dev/null; t1=$(now)
  "$bin" -q convert --vendor-dir "$vendor" "$w/v64.qcow2" -o "$w/v64-out.qcow2" >/dev/null; t2=$(now)
  a=$(secs "$t0" "$t1"); b=$(secs "$t1" "$t2"); r=$(ratio "$b" "$a")
  echo "4 GiB ${a} s, 64 GiB ${b} s: ratio ${r} (goal <= 1.1)"
  record virtual "\"convert_4g_s\":$a,\"convert_64g_s\":$b,\"ratio\":$r,\"goal\":\"<=1.1\""
  rm -f "$w"/v4*.qcow2* "$w"/v64*.qcow2*
fi

if want shard; then
  echo "== shard: 4 copies of the Debian fixture, one batch --jobs 2 vs 2 Slurm array tasks of --jobs 1 (one host)"
  conf=$(scripts/slurm-local.sh start | sed -n 's/^export SLURM_CONF=//p')
  mkdir -p "$w/shard-in" "$w/shard-one" "$w/shard-array"
  for i in 1 2 3 4; do cp "$fx/debian12.qcow2" "$w/shard-in/debian-$i.qcow2"; done
  s=$(now); "$bin" -q batch --jobs 2 --vendor-dir "$vendor" --out-dir "$w/shard-one" "$w/shard-in" >/dev/null; e=$(now); a=$(secs "$s" "$e")
  # The array's end is taken from squeue polled every 0.2 s: `sbatch --wait` polls with a
  # back-off up to 10 s, which would time sbatch, not the array.
  s=$(now)
  id=$(SLURM_CONF=$conf IMGSEAL_BIN=$bin IMGSEAL_INPUTS=$w/shard-in IMGSEAL_OUT_DIR=$w/shard-array IMGSEAL_JOBS=1 \
    IMGSEAL_ARGS="-q --vendor-dir $vendor" sbatch --parsable --array=0-1 --cpus-per-task=1 \
    --output="$w/shard-array/slurm-%A_%a.out" deploy/slurm/imgseal-array.sbatch)
  id=${id%%;*}
  while [ -n "$(SLURM_CONF=$conf squeue -h -j "$id" 2>/dev/null)" ]; do sleep 0.2; done
  e=$(now); b=$(secs "$s" "$e")
  "$bin" batch-report "$w/shard-array" >/dev/null || { echo "bench shard: the array did not convert every image" >&2; exit 1; }
  per=$(python3 -c "import json,glob; print(sorted(len(json.load(open(f))['images']) for f in glob.glob('$w/shard-array/.imgseal-shard-*.json')))")
  r=$(ratio "$b" "$a")
  echo "one batch ${a} s, Slurm array ${b} s (images per task: ${per}): the array takes ${r}x the batch's time (goal <= 1.15)"
  record shard "\"batch_s\":$a,\"array_s\":$b,\"ratio\":$r,\"goal\":\"<=1.15\""
fi

if want windows; then
  echo "== windows: imgseal convert of the Windows Server 2012 R2 fixture vs one guestfish session editing both hives"
  win=$fx/win2012r2.qcow2
  t0=$(now); "$bin" -q convert --json --vendor-dir "$vendor" "$win" -o "$w/win.qcow2" >"$w/win.json"; t1=$(now)
  cp "$win" "$w/floor.qcow2"
  # The floor: the same registry edits (the firewall values of both control sets and the
  # policy, both MTUs, the DHCP lease values deleted), the hives downloaded, merged on the
  # host, uploaded, in one session.
  {
    echo 'Windows Registry Editor Version 5.00'
    for cs in ControlSet001 ControlSet002; do
      for p in DomainProfile StandardProfile PublicProfile; do
        printf '\n[\\%s\\Services\\SharedAccess\\Parameters\\FirewallPolicy\\%s]\n"EnableFirewall"=dword:00000000\n' "$cs" "$p"
      done
      printf '\n[\\%s\\Services\\Tcpip\\Parameters\\Interfaces\\{5A3C9E12-7B41-4C2A-9F0E-1D2B3C4D5E6F}]\n"MTU"=dword:00000578\n' "$cs"
      # The build's DHCP lease deleted (R8), as imgseal's trace cleanup does.
      printf '"%s"=-\n' DhcpIPAddress DhcpServer DhcpSubnetMask DhcpDefaultGateway Lease LeaseObtainedTime LeaseTerminatesTime
    done
  } >"$w/system.reg"
  printf 'Windows Registry Editor Version 5.00\n\n[\\Policies\\Microsoft\\WindowsFirewall\\DomainProfile]\n"EnableFirewall"=dword:00000000\n' >"$w/software.reg"
  t2=$(now)
  guestfish --format=qcow2 -a "$w/floor.qcow2" -i <<GF >/dev/null
download /Windows/System32/config/SYSTEM $w/SYSTEM
download /Windows/System32/config/SOFTWARE $w/SOFTWARE
!hivexregedit --merge $w/SYSTEM $w/system.reg
!hivexregedit --merge $w/SOFTWARE $w/software.reg
upload $w/SYSTEM /Windows/System32/config/SYSTEM
upload $w/SOFTWARE /Windows/System32/config/SOFTWARE
GF
  t3=$(now)
  a=$(secs "$t0" "$t1"); b=$(secs "$t2" "$t3"); r=$(ratio "$a" "$b")
  split=$(python3 -c "import json; s=json.load(open('$w/win.json'))['seconds']; print(', '.join('%s %s' % (k, v) for k, v in s.items()))")
  echo "imgseal ${a} s, guestfish floor ${b} s, ratio ${r} (goal <= 1.5); imgseal stages: ${split}"
  record windows "\"imgseal_s\":$a,\"floor_s\":$b,\"ratio\":$r,\"goal\":\"<=1.5\""
  rm -f "$w/floor.qcow2" "$w"/win.qcow2* "$w/SYSTEM" "$w/SOFTWARE"
fi

if want repro; then
  echo "== repro: the Debian fixture converted twice without and twice with SOURCE_DATE_EPOCH (raw outputs)"
  for mode in plain sde; do
    for i in 1 2; do
      sde=; [ "$mode" = sde ] && sde=1700000000
      SOURCE_DATE_EPOCH=$sde "$bin" -q convert --vendor-dir "$vendor" --output-format raw \
        -o "$w/repro-$mode$i.raw" "$fx/debian12.qcow2" >/dev/null
    done
  done
  read -r plain sde trees share <<<"$(python3 - "$w" <<'PY'
import json, sys
w = sys.argv[1]
def blocks(a, b):
    n = 0
    with open(a, "rb") as fa, open(b, "rb") as fb:
        while True:
            x, y = fa.read(65536), fb.read(65536)
            if not x and not y:
                return n
            n += x != y
def m(name):
    return json.load(open(f"{w}/repro-{name}.raw.manifest.json"))
ms = [m(n) for n in ("plain1", "plain2", "sde1", "sde2")]
trees = len({x["output"]["tree_sha256"] for x in ms})
share = sum(x["seconds"]["tree-digest"] for x in ms) / sum(x["seconds"]["total"] for x in ms)
print(blocks(f"{w}/repro-plain1.raw", f"{w}/repro-plain2.raw"),
      blocks(f"{w}/repro-sde1.raw", f"{w}/repro-sde2.raw"), trees, round(share, 3))
PY
)"
  r=$(ratio "$sde" "$plain")
  echo "64 KiB blocks that differ between two conversions: ${plain} without, ${sde} with SOURCE_DATE_EPOCH (${r}x); distinct tree digests over the 4: ${trees} (goal 1); the tree digest is ${share} of a conversion's time"
  [ "$trees" = 1 ] || { echo "bench repro: the four conversions do not share one tree digest" >&2; exit 1; }
  record repro "\"blocks_plain\":$plain,\"blocks_sde\":$sde,\"ratio\":$r,\"tree_digests\":$trees,\"tree_share\":$share,\"goal\":\"tree_digests==1\""
  rm -f "$w"/repro-*
fi
