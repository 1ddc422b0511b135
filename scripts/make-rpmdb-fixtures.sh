#!/usr/bin/env bash
# Builds the rpm database fixtures of the unit tests (src/facts/rpmdb) into DIR/rpmdb, with
# Debian's real tools only:
#
#   sqlite/rpmdb.sqlite  written by rpm 4.18 itself (`rpm --initdb`, `rpm -i --justdb`) from
#                        packages built here with rpmbuild: cloud-init, firewalld (with an
#                        epoch, x86_64) and 60 filler subpackages whose long descriptions make
#                        every header span overflow pages and the tables span interior pages
#   wal/rpmdb.sqlite(-wal) the same database with one committed transaction still in its
#                        write-ahead log (cloud-init deleted by python3's sqlite3 module, the
#                        copy taken before the connection closed and checkpointed)
#   bdb/Packages         a Berkeley DB hash file as CentOS 6/7 keep it, written by db_load
#                        (db5.3-util) from the same header blobs, keyed by 4-byte header
#                        numbers, key 0 holding the next number; read back by rpm's own
#                        read-only bdb backend to check it
#   *.expected           what rpm itself lists from each (`rpm -qa --qf`): NAME EPOCH VERSION
#                        RELEASE ARCH per line, "(none)" for no epoch, sorted
#
#   scripts/make-rpmdb-fixtures.sh [DIR]   DIR defaults to $IMGSEAL_FIXTURES, else
#                                          target/fixtures
#
# Skipped when DIR/rpmdb/.stamp matches this script's hash. Called by make-test-images.sh,
# which also puts these databases into the rpm disk fixtures. Needs rpm, rpmbuild, db_load
# and /usr/bin/python3 (scripts/install-deps.sh).
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
out=${1:-${IMGSEAL_FIXTURES:-$here/target/fixtures}}/rpmdb
stamp_want=$(sha256sum "$0" | cut -d' ' -f1)
if [ -f "$out/.stamp" ] && [ "$(cat "$out/.stamp")" = "$stamp_want" ]; then
  echo "make-rpmdb-fixtures.sh: fixtures in $out are up to date"
  exit 0
fi
for t in rpm rpmbuild db_load /usr/bin/python3; do
  command -v "$t" >/dev/null || { echo "make-rpmdb-fixtures.sh: $t missing; run scripts/install-deps.sh" >&2; exit 2; }
done

work=$(mktemp -d "${TMPDIR:-/tmp}/imgseal-rpmdb.XXXXXX")
trap 'rm -rf "$work"' EXIT
rm -rf "$out.tmp" && mkdir -p "$out.tmp"
o=$out.tmp

spec() { # spec NAME VERSION RELEASE EPOCH ARCH FILLERS: a spec with FILLERS subpackages
  local name=$1 ver=$2 rel=$3 epoch=$4 arch=$5 n=$6 i
  echo "Name: $name"; echo "Version: $ver"; echo "Release: $rel"
  [ "$epoch" = "(none)" ] || echo "Epoch: $epoch"
  printf 'Summary: imgseal rpmdb fixture %s\nLicense: MIT\nBuildArch: %s\nAutoReqProv: no\n' "$name" "$arch"
  printf '%%description\nA stand-in for %s built by imgseal'"'"'s fixture script.\n' "$name"
  for i in $(seq 1 "$n"); do
    printf '%%package -n imgseal-filler-%02d\nSummary: filler %d\n%%description -n imgseal-filler-%02d\n' "$i" "$i" "$i"
    # ~6 KiB of description: the header outgrows a 4 KiB page.
    for _ in $(seq 1 80); do echo "Filler text of package $i, long enough to push its header past one database page."; done
    printf '%%files -n imgseal-filler-%02d\n/usr/share/imgseal-filler-%02d\n' "$i" "$i"
  done
  printf '%%install\nmkdir -p %%{buildroot}/usr/bin %%{buildroot}/usr/share\n'
  printf 'echo stub > %%{buildroot}/usr/bin/%s\n' "$name"
  for i in $(seq 1 "$n"); do printf 'echo filler > %%{buildroot}/usr/share/imgseal-filler-%02d\n' "$i"; done
  printf '%%files\n/usr/bin/%s\n' "$name"
}

build() { # build NAME VERSION RELEASE EPOCH ARCH FILLERS
  local top=$work/rpmbuild-$1
  mkdir -p "$top"/{SPECS,BUILD,RPMS,SOURCES,SRPMS,BUILDROOT}
  spec "$@" >"$top/SPECS/$1.spec"
  rpmbuild --quiet --define "_topdir $top" --define "_build_id_links none" --target "$5" \
    -bb "$top/SPECS/$1.spec" >"$work/rpmbuild-$1.log" 2>&1 || { cat "$work/rpmbuild-$1.log" >&2; exit 1; }
  find "$top/RPMS" -name '*.rpm' -exec cp {} "$work/rpms/" \;
}
mkdir -p "$work/rpms"
build cloud-init 0.7.9 24.el7.centos '(none)' noarch 60
build firewalld 0.6.3 13.el7_9 1 x86_64 0
# A package whose name starts like cloud-init's is another package.
build cloud-init-extra 1.0 2 '(none)' noarch 0

qf='%{NAME} %{EPOCH} %{VERSION} %{RELEASE} %{ARCH}\n'
mkdir -p "$o/sqlite"
rpm --dbpath "$o/sqlite" --initdb
rpm --dbpath "$o/sqlite" -i --justdb --nodeps --ignorearch --ignoreos "$work"/rpms/*.rpm 2>/dev/null
rpm --dbpath "$o/sqlite" -qa --qf "$qf" | LC_ALL=C sort >"$o/sqlite.expected"
# rpm checkpoints and empties its log when it closes: the database is one file.
[ ! -s "$o/sqlite/rpmdb.sqlite-wal" ] || { echo "make-rpmdb-fixtures.sh: rpm left a write-ahead log" >&2; exit 1; }
rm -f "$o/sqlite/.rpm.lock" "$o/sqlite/rpmdb.sqlite-shm" "$o/sqlite/rpmdb.sqlite-wal"
[ "$(wc -l <"$o/sqlite.expected")" -eq 63 ] || { echo "make-rpmdb-fixtures.sh: rpm lists $(wc -l <"$o/sqlite.expected") packages, not 63" >&2; exit 1; }

# A committed transaction left in the write-ahead log: copy the files while the connection
# that wrote it is still open (closing it would checkpoint the log into the database).
mkdir -p "$o/wal"
/usr/bin/python3 - "$o/sqlite/rpmdb.sqlite" "$o/wal" <<'EOF'
import shutil, sqlite3, sys
src, dst = sys.argv[1], sys.argv[2]
shutil.copy(src, dst + "/rpmdb.sqlite")
c = sqlite3.connect(dst + "/rpmdb.sqlite", isolation_level=None)
assert c.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
c.execute("PRAGMA wal_autocheckpoint = 0")
(h,) = c.execute("SELECT hnum FROM Name WHERE key = 'cloud-init'").fetchone()
c.execute("BEGIN")
c.execute("DELETE FROM Packages WHERE hnum = ?", (h,))
c.execute("DELETE FROM Name WHERE hnum = ?", (h,))
c.execute("COMMIT")
shutil.copy(dst + "/rpmdb.sqlite", dst + "/snap.sqlite")
shutil.copy(dst + "/rpmdb.sqlite-wal", dst + "/snap.sqlite-wal")
c.close()
EOF
mv "$o/wal/snap.sqlite" "$o/wal/rpmdb.sqlite"; mv "$o/wal/snap.sqlite-wal" "$o/wal/rpmdb.sqlite-wal"
rm -f "$o/wal/rpmdb.sqlite-shm"
[ "$(stat -c %s "$o/wal/rpmdb.sqlite-wal")" -gt 32 ] || { echo "make-rpmdb-fixtures.sh: the write-ahead log is empty" >&2; exit 1; }
# rpm reads the pair (it opens the database read-write to take its lock: work on a copy).
mkdir -p "$work/walcopy" && cp "$o/wal/rpmdb.sqlite" "$o/wal/rpmdb.sqlite-wal" "$work/walcopy/"
rpm --dbpath "$work/walcopy" -qa --qf "$qf" | LC_ALL=C sort >"$o/wal.expected"
grep -q '^cloud-init ' "$o/wal.expected" && { echo "make-rpmdb-fixtures.sh: the logged delete is not seen" >&2; exit 1; }

# Berkeley DB hash files from the same header blobs, in db_load's printable dump format.
/usr/bin/python3 - "$o/sqlite/rpmdb.sqlite" >"$work/packages.dump" <<'EOF'
import sqlite3, struct, sys
c = sqlite3.connect("file:" + sys.argv[1] + "?immutable=1", uri=True)
esc = lambda b: " " + "".join("\\%02x" % x for x in b)
rows = c.execute("SELECT hnum, blob FROM Packages ORDER BY hnum").fetchall()
print("VERSION=3\nformat=print\ntype=hash\nHEADER=END")
print(esc(struct.pack("<I", 0))); print(esc(struct.pack("<I", rows[-1][0] + 1)))
for h, blob in rows:
    print(esc(struct.pack("<I", h))); print(esc(blob))
print("DATA=END")
EOF
mkdir -p "$o/bdb" "$work/bdb"
db_load -f "$work/packages.dump" "$o/bdb/Packages"
cp "$o/bdb/Packages" "$work/bdb/"
rpm --dbpath "$work/bdb" --define '_db_backend bdb_ro' -qa --qf "$qf" 2>/dev/null | LC_ALL=C sort >"$o/bdb.expected"
cmp -s "$o/bdb.expected" "$o/sqlite.expected" || { echo "make-rpmdb-fixtures.sh: rpm reads bdb/Packages differently" >&2; exit 1; }

echo "$stamp_want" >"$o/.stamp"
rm -rf "$out" && mv "$o" "$out"
echo "make-rpmdb-fixtures.sh: $(ls "$out")"
