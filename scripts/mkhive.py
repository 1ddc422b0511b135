#!/usr/bin/env python3
"""Writes an empty Windows registry hive (regf) holding only its root key.

    scripts/mkhive.py OUT.hive [ROOT-NAME]

hivexregedit --merge fills a hive but cannot create one; this writes the smallest hive it
accepts, from the public description of the format:

- a 4 KiB base block: "regf", two equal sequence numbers, version 1.3, the root cell's offset
  and the size of the hive bins, the file name, and at 0x1FC the XOR of the first 127 dwords;
- one 4 KiB hive bin ("hbin") holding the root key node ("nk", flagged as the hive's entry),
  one security cell ("sk": owner Administrators, group SYSTEM, a DACL granting KEY_ALL_ACCESS
  to SYSTEM and Administrators and KEY_READ to Users, inherited by subkeys; hivex copies the
  parent's sk into every key it adds), and the rest of the bin as one free cell.

Cell offsets are relative to the first hive bin (file offset 4096); a cell starts with its size
as a signed 32-bit number, negative when it is in use, and is 8-byte aligned.
"""
import struct
import sys

HBIN_START = 0x1000
HBIN_SIZE = 0x1000
NONE = 0xFFFFFFFF
# 2020-01-01T00:00:00Z as a FILETIME: fixed, so the same hive comes out every time.
FILETIME = (1577836800 + 11644473600) * 10_000_000


def sid(revision_and_auth, *subs):
    rev, auth = revision_and_auth
    return struct.pack("<BB", rev, len(subs)) + auth.to_bytes(6, "big") + b"".join(
        struct.pack("<I", s) for s in subs
    )


def ace(mask, s, flags=0x02):  # ACCESS_ALLOWED_ACE, CONTAINER_INHERIT_ACE
    return struct.pack("<BBHI", 0, flags, 8 + len(s), mask) + s


def security_descriptor():
    system = sid((1, 5), 18)
    admins = sid((1, 5), 32, 544)
    users = sid((1, 5), 32, 545)
    aces = [ace(0x000F003F, system), ace(0x000F003F, admins), ace(0x00020019, users)]
    acl = struct.pack("<BBHHH", 2, 0, 8 + sum(len(a) for a in aces), len(aces), 0) + b"".join(aces)
    # SE_SELF_RELATIVE | SE_DACL_PRESENT; owner, group, (no SACL), DACL after the 20-byte header.
    owner_off = 20
    group_off = owner_off + len(admins)
    dacl_off = group_off + len(system)
    head = struct.pack("<BBHIIII", 1, 0, 0x8004, owner_off, group_off, 0, dacl_off)
    return head + admins + system + acl


def cell(data):
    size = (4 + len(data) + 7) & ~7
    return struct.pack("<i", -size) + data + b"\0" * (size - 4 - len(data))


def build(root_name="ROOT", file_name="hive"):
    name = root_name.encode("ascii")
    nk_off = 0x20  # after the hbin header
    nk_len = len(cell(b"\0" * (0x4C + len(name))))
    sk_off = nk_off + nk_len
    nk = struct.pack(
        "<2sHQIIIIIIIIIIIIIIIHH",
        b"nk",
        0x0004 | 0x0008 | 0x0020,  # KEY_HIVE_ENTRY | KEY_NO_DELETE | KEY_COMP_NAME
        FILETIME,
        0,  # access bits
        0,  # parent (the root has none)
        0, 0,  # subkeys, volatile subkeys
        NONE, NONE,  # their lists
        0, NONE,  # values, their list
        sk_off,
        NONE,  # class name
        0, 0, 0, 0,  # largest subkey name, class name, value name, value data
        0,  # work var
        len(name),
        0,
    ) + name
    sd = security_descriptor()
    sk = struct.pack("<2sHIIII", b"sk", 0, sk_off, sk_off, 1, len(sd)) + sd
    cells = cell(nk) + cell(sk)
    assert len(cell(nk)) == nk_len
    free = HBIN_SIZE - 0x20 - len(cells)
    cells += struct.pack("<i", free) + b"\0" * (free - 4)
    hbin = struct.pack("<4sIIQQI", b"hbin", 0, HBIN_SIZE, 0, FILETIME, 0) + cells
    assert len(hbin) == HBIN_SIZE

    base = bytearray(HBIN_START)
    struct.pack_into(
        "<4sIIQIIIIIII",
        base,
        0,
        b"regf",
        1, 1,  # primary and secondary sequence numbers: equal, the hive is consistent
        FILETIME,
        1, 3,  # version 1.3
        0,  # primary file
        1,  # direct memory load
        nk_off,
        HBIN_SIZE,  # size of the hive bins data
        1,  # clustering factor
    )
    fn = file_name.encode("utf-16-le")[:64]
    base[0x30 : 0x30 + len(fn)] = fn
    checksum = 0
    for (d,) in struct.iter_unpack("<I", bytes(base[:0x1FC])):
        checksum ^= d
    if checksum == 0xFFFFFFFF:
        checksum = 0xFFFFFFFE
    elif checksum == 0:
        checksum = 1
    struct.pack_into("<I", base, 0x1FC, checksum)
    return bytes(base) + hbin


def main(argv):
    if len(argv) not in (2, 3):
        sys.stderr.write(__doc__)
        return 2
    out = argv[1]
    root = argv[2] if len(argv) == 3 else "ROOT"
    with open(out, "wb") as f:
        f.write(build(root, out.rsplit("/", 1)[-1]))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
