#!/usr/bin/env bash
# Downloads the vendor packages listed in a vendor.toml into its directory, checks them
# against their pinned sha256, and prints each file's sha256.
#
#   scripts/fetch-vendor-packages.sh [--pin] [DIR]     (DIR defaults to vendor-packages)
#
# --pin writes the sha256 of each downloaded file into vendor.toml where the pin is empty
# (a mismatch against an existing pin is always an error, never overwritten). Trust the
# first download as you would trust the vendor's page: compare the printed hashes with what
# the vendor publishes before pinning.
set -euo pipefail
pin=0
dir=vendor-packages
for a in "$@"; do
  case "$a" in
    --pin) pin=1 ;;
    -h|--help) sed -n '2,11p' "$0"; exit 0 ;;
    -*) echo "fetch-vendor-packages.sh: unknown option $a" >&2; exit 2 ;;
    *) dir=$a ;;
  esac
done
manifest=$dir/vendor.toml
[ -f "$manifest" ] || { echo "fetch-vendor-packages.sh: no $manifest" >&2; exit 2; }

# file<TAB>url<TAB>sha256 for each [[package]] (the manifest's own simple layout).
entries=$(awk -F' = ' '
  /^\[\[package\]\]/ { if (f != "") print f "\t" u "\t" s; f = u = s = "" }
  /^file = /   { f = $2; gsub(/"/, "", f) }
  /^url = /    { u = $2; gsub(/"/, "", u) }
  /^sha256 = / { s = $2; gsub(/"/, "", s) }
  END { if (f != "") print f "\t" u "\t" s }' "$manifest")

status=0
while IFS=$'\t' read -r file url want; do
  [ -n "$file" ] || continue
  case "$file" in */*|.*) echo "fetch-vendor-packages.sh: refusing file name '$file'" >&2; exit 2 ;; esac
  dest=$dir/$file
  if [ ! -f "$dest" ]; then
    echo "fetching $url"
    if ! curl -fsSL --retry 2 -o "$dest.part" "$url"; then
      rm -f "$dest.part"; echo "  FAILED to download $file" >&2; status=1; continue
    fi
    mv "$dest.part" "$dest"
  fi
  got=$(sha256sum "$dest" | cut -d' ' -f1)
  if [ -z "$want" ]; then
    echo "$got  $file  (not pinned)"
    if [ "$pin" -eq 1 ]; then
      awk -v f="$file" -v h="$got" '
        /^file = / { cur = $0; gsub(/^file = "|"$/, "", cur) }
        /^sha256 = ""/ && cur == f { print "sha256 = \"" h "\""; next }
        { print }' "$manifest" >"$manifest.tmp" && mv "$manifest.tmp" "$manifest"
      echo "  pinned in $manifest"
    fi
  elif [ "$want" = "$got" ]; then
    echo "$got  $file  OK"
  else
    echo "$got  $file  MISMATCH: $manifest pins $want" >&2; status=1
  fi
done <<<"$entries"
exit $status
