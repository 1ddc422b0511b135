//! Recognises a partition table or filesystem from the first MiB of a disk, so that garbage
//! input is rejected before an appliance launch (about 10 s under TCG) is spent on it.

/// How many bytes of the disk are read for recognition.
pub const SNIFF_LEN: usize = 1 << 20;

/// What was recognised first, as a short human name.
pub fn recognise(buf: &[u8]) -> Option<&'static str> {
    let at = |off: usize, magic: &[u8]| buf.get(off..off + magic.len()) == Some(magic);

    // Partition tables.
    if at(512, b"EFI PART") || at(4096, b"EFI PART") {
        return Some("GPT partition table");
    }
    // LVM2 physical volume label: "LABELONE" in one of the first four sectors.
    if (0..4).any(|s| at(s * 512, b"LABELONE") && at(s * 512 + 24, b"LVM2 001")) {
        return Some("LVM2 physical volume");
    }
    if at(0, b"LUKS\xba\xbe") {
        return Some("LUKS encrypted volume");
    }
    if at(3, b"NTFS    ") {
        return Some("NTFS filesystem");
    }
    if at(0, b"XFSB") {
        return Some("XFS filesystem");
    }
    if at(0x438, &[0x53, 0xEF]) {
        return Some("ext2/3/4 filesystem");
    }
    if at(0x10040, b"_BHRfS_M") {
        return Some("btrfs filesystem");
    }
    if at(0x8001, b"CD001") {
        return Some("ISO 9660 filesystem");
    }
    if at(0x36, b"FAT") || at(0x52, b"FAT32") {
        return Some("FAT filesystem");
    }
    if at(4086, b"SWAPSPACE2") || at(4086, b"SWAP-SPACE") {
        return Some("Linux swap");
    }
    if is_mbr(buf) {
        return Some("MBR partition table");
    }
    None
}

/// An MBR: the 0x55AA signature and four entries that look like partition entries
/// (boot flag 0x00/0x80, at least one non-empty type with a non-zero size).
fn is_mbr(buf: &[u8]) -> bool {
    if buf.len() < 512 || buf[510] != 0x55 || buf[511] != 0xAA {
        return false;
    }
    let mut used = 0;
    for i in 0..4 {
        let e = &buf[446 + i * 16..446 + (i + 1) * 16];
        if e[0] != 0x00 && e[0] != 0x80 {
            return false;
        }
        let kind = e[4];
        let sectors = u32::from_le_bytes([e[12], e[13], e[14], e[15]]);
        if kind != 0 {
            if sectors == 0 {
                return false;
            }
            used += 1;
        }
    }
    used > 0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn blank() -> Vec<u8> {
        vec![0u8; SNIFF_LEN]
    }

    #[test]
    fn blank_and_random_are_not_recognised() {
        assert_eq!(recognise(&blank()), None);
        // Deterministic pseudo-random bytes (xorshift), no 55AA forced.
        let mut x: u64 = 0x9E3779B97F4A7C15;
        let buf: Vec<u8> = (0..SNIFF_LEN)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect();
        assert_eq!(recognise(&buf), None);
        assert_eq!(recognise(&[]), None);
    }

    #[test]
    fn mbr_with_a_partition() {
        let mut b = blank();
        b[510] = 0x55;
        b[511] = 0xAA;
        b[446 + 4] = 0x83;
        b[446 + 8..446 + 12].copy_from_slice(&2048u32.to_le_bytes());
        b[446 + 12..446 + 16].copy_from_slice(&4096u32.to_le_bytes());
        assert_eq!(recognise(&b), Some("MBR partition table"));
        b[446] = 0x12; // invalid boot flag
        assert_eq!(recognise(&b), None);
    }

    #[test]
    fn signature_without_entries_is_not_an_mbr() {
        let mut b = blank();
        b[510] = 0x55;
        b[511] = 0xAA;
        assert_eq!(recognise(&b), None);
    }

    #[test]
    fn filesystems_and_tables() {
        let cases: &[(usize, &[u8], &str)] = &[
            (512, b"EFI PART", "GPT partition table"),
            (0x438, &[0x53, 0xEF], "ext2/3/4 filesystem"),
            (0, b"XFSB", "XFS filesystem"),
            (0, b"LUKS\xba\xbe", "LUKS encrypted volume"),
            (3, b"NTFS    ", "NTFS filesystem"),
            (0x10040, b"_BHRfS_M", "btrfs filesystem"),
            (0x8001, b"CD001", "ISO 9660 filesystem"),
            (4086, b"SWAPSPACE2", "Linux swap"),
        ];
        for (off, magic, name) in cases {
            let mut b = blank();
            b[*off..off + magic.len()].copy_from_slice(magic);
            assert_eq!(recognise(&b), Some(*name), "{name}");
        }
        let mut b = blank();
        b[512..520].copy_from_slice(b"LABELONE");
        b[536..544].copy_from_slice(b"LVM2 001");
        assert_eq!(recognise(&b), Some("LVM2 physical volume"));
    }

    #[test]
    fn short_buffers_do_not_panic() {
        for n in [0, 1, 511, 512, 4095, 4096, 0x439] {
            let _ = recognise(&vec![0x55; n]);
        }
    }
}
