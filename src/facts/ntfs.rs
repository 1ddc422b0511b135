//! NTFS's volume flags, read from the raw volume (through the appliance's `pread_device`, so
//! nothing is mounted) and parsed here: the boot sector gives the geometry, MFT record 3 is
//! `$Volume`, and its `$VOLUME_INFORMATION` attribute (type 0x70) holds the flags.
//! `VOLUME_IS_DIRTY` is set by Windows while a volume is in use and left set after an unclean
//! shutdown or when Windows found corruption; chkdsk (autochk at the next boot) clears it.
//! Debian 12's ntfs-3g mounts such a volume read-write without a word, so imgseal refuses it
//! itself before writing.
//!
//! Every offset is checked: a truncated or garbage volume gives an error naming what is wrong,
//! never a panic.

use anyhow::{Context, Result, bail};

/// `VOLUME_IS_DIRTY` in `$VOLUME_INFORMATION`'s flags.
pub const VOLUME_IS_DIRTY: u16 = 0x0001;
/// `$Volume`'s MFT record number.
const VOLUME_RECORD: u64 = 3;
/// `$VOLUME_INFORMATION`'s attribute type.
const VOLUME_INFORMATION: u32 = 0x70;
const END_OF_ATTRIBUTES: u32 = 0xFFFF_FFFF;
/// Update sequence (fixup) stride: always 512 bytes, whatever the sector size.
const FIXUP_STRIDE: usize = 512;

/// Where the MFT is and how big its records are, from the boot sector.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Geometry {
    pub bytes_per_cluster: u64,
    /// Byte offset of the MFT in the volume.
    pub mft_offset: u64,
    pub record_size: usize,
}

fn u16_at(b: &[u8], off: usize) -> Option<u16> {
    Some(u16::from_le_bytes(
        b.get(off..off.checked_add(2)?)?.try_into().ok()?,
    ))
}
fn u32_at(b: &[u8], off: usize) -> Option<u32> {
    Some(u32::from_le_bytes(
        b.get(off..off.checked_add(4)?)?.try_into().ok()?,
    ))
}
fn u64_at(b: &[u8], off: usize) -> Option<u64> {
    Some(u64::from_le_bytes(
        b.get(off..off.checked_add(8)?)?.try_into().ok()?,
    ))
}

/// The geometry an NTFS boot sector declares.
pub fn geometry(boot: &[u8]) -> Result<Geometry> {
    if boot.len() < 512 {
        bail!("the boot sector is truncated ({} bytes)", boot.len());
    }
    if &boot[3..11] != b"NTFS    " {
        bail!(
            "no NTFS boot sector (OEM id {:?})",
            String::from_utf8_lossy(&boot[3..11])
        );
    }
    let bps = u64::from(u16_at(boot, 0x0B).unwrap_or(0));
    if !(256..=4096).contains(&bps) || !bps.is_power_of_two() {
        bail!("implausible bytes per sector {bps}");
    }
    // Sectors per cluster: up to 128 as is; above, 2^(256 - n) (clusters of 64 KiB and more).
    let spc_raw = boot[0x0D];
    let spc = match spc_raw {
        0 => bail!("zero sectors per cluster"),
        1..=0x80 if spc_raw.is_power_of_two() => u64::from(spc_raw),
        0xF4..=0xFF => 1u64 << (256 - u32::from(spc_raw)),
        _ => bail!("implausible sectors per cluster {spc_raw:#x}"),
    };
    let cluster = bps * spc;
    let lcn = u64_at(boot, 0x30).unwrap_or(0);
    let mft_offset = lcn
        .checked_mul(cluster)
        .with_context(|| format!("the MFT's cluster number {lcn} is out of range"))?;
    // Clusters per MFT record: positive counts clusters, negative n means 2^-n bytes.
    let cpr = boot[0x40] as i8;
    let record_size = if cpr > 0 {
        u64::from(cpr as u8) * cluster
    } else if (-16..=-9).contains(&cpr) {
        1u64 << (-i32::from(cpr))
    } else {
        bail!("implausible MFT record size field {cpr}");
    };
    if !(512..=65536).contains(&record_size) || !record_size.is_multiple_of(FIXUP_STRIDE as u64) {
        bail!("implausible MFT record size {record_size}");
    }
    Ok(Geometry {
        bytes_per_cluster: cluster,
        mft_offset,
        record_size: record_size as usize,
    })
}

/// Undoes the update sequence protection of a multi-sector record in place: the last two
/// bytes of every 512-byte stride hold the update sequence number, their real value is in the
/// update sequence array (offset at 0x04, count at 0x06, the number itself first).
pub fn apply_fixups(rec: &mut [u8]) -> Result<()> {
    let (Some(usa), Some(count)) = (u16_at(rec, 0x04), u16_at(rec, 0x06)) else {
        bail!("the record header is truncated");
    };
    let (usa, count) = (usize::from(usa), usize::from(count));
    let strides = rec.len() / FIXUP_STRIDE;
    if !rec.len().is_multiple_of(FIXUP_STRIDE) || count != strides + 1 {
        bail!(
            "update sequence count {count} does not fit a {}-byte record",
            rec.len()
        );
    }
    if usa < 0x08 || usa % 2 != 0 || usa + 2 * count > rec.len().min(FIXUP_STRIDE - 2) {
        bail!("update sequence array at {usa:#x} is out of place");
    }
    let usn = [rec[usa], rec[usa + 1]];
    for i in 0..strides {
        let end = (i + 1) * FIXUP_STRIDE - 2;
        if rec[end..end + 2] != usn {
            bail!("torn record: sector {i} does not end with the update sequence number");
        }
        let saved = usa + 2 * (i + 1);
        let (a, b) = (rec[saved], rec[saved + 1]);
        rec[end] = a;
        rec[end + 1] = b;
    }
    Ok(())
}

/// The flags of `$VOLUME_INFORMATION` in `$Volume`'s MFT record (fixups not yet applied).
pub fn volume_flags_in_record(raw: &[u8]) -> Result<u16> {
    if raw.len() < FIXUP_STRIDE {
        bail!("$Volume's MFT record is truncated ({} bytes)", raw.len());
    }
    if &raw[0..4] != b"FILE" {
        bail!(
            "MFT record 3 is not a FILE record (signature {:?})",
            String::from_utf8_lossy(&raw[0..4])
        );
    }
    let mut rec = raw.to_vec();
    apply_fixups(&mut rec).context("MFT record 3")?;
    if u16_at(&rec, 0x16).unwrap_or(0) & 0x0001 == 0 {
        bail!("MFT record 3 ($Volume) is not in use");
    }
    let used = (u32_at(&rec, 0x18).unwrap_or(0) as usize).min(rec.len());
    let mut a = usize::from(u16_at(&rec, 0x14).unwrap_or(0));
    if a < 0x18 {
        bail!("MFT record 3's first attribute offset {a:#x} is inside the header");
    }
    loop {
        let Some(t) = u32_at(&rec, a).filter(|_| a + 4 <= used) else {
            bail!("MFT record 3 ends without an end marker");
        };
        if t == END_OF_ATTRIBUTES {
            bail!("$Volume has no $VOLUME_INFORMATION attribute");
        }
        let len = u32_at(&rec, a + 4).unwrap_or(0) as usize;
        if len < 0x18 || !len.is_multiple_of(8) || a.checked_add(len).is_none_or(|e| e > used) {
            bail!("attribute {t:#x} at {a:#x} has an impossible length {len}");
        }
        if t == VOLUME_INFORMATION {
            if rec[a + 8] != 0 {
                bail!("$VOLUME_INFORMATION is non-resident");
            }
            let vlen = u32_at(&rec, a + 0x10).unwrap_or(0) as usize;
            let voff = usize::from(u16_at(&rec, a + 0x14).unwrap_or(0));
            if vlen < 0x0C || voff < 0x18 || voff + vlen > len {
                bail!("$VOLUME_INFORMATION's value ({vlen} bytes at {voff:#x}) is out of place");
            }
            return Ok(u16_at(&rec, a + voff + 0x0A).unwrap_or(0));
        }
        a += len;
    }
}

/// The volume flags of the NTFS volume `read(offset, length)` reads from.
pub fn volume_flags(read: &mut dyn FnMut(u64, usize) -> Result<Vec<u8>>) -> Result<u16> {
    let g = geometry(&read(0, 512).context("reading the boot sector")?)?;
    let at = (g.record_size as u64)
        .checked_mul(VOLUME_RECORD)
        .and_then(|o| o.checked_add(g.mft_offset))
        .context("the MFT lies beyond any volume")?;
    let rec = read(at, g.record_size).context("reading $Volume's MFT record")?;
    if rec.len() < g.record_size {
        bail!("$Volume's MFT record at {at} is past the end of the volume");
    }
    volume_flags_in_record(&rec)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECTOR: usize = 512;
    const CLUSTER: usize = 4096;
    const MFT_LCN: usize = 4;
    const RECORD: usize = 1024;

    fn boot() -> Vec<u8> {
        let mut b = vec![0u8; SECTOR];
        b[0..3].copy_from_slice(&[0xEB, 0x52, 0x90]);
        b[3..11].copy_from_slice(b"NTFS    ");
        b[0x0B..0x0D].copy_from_slice(&(SECTOR as u16).to_le_bytes());
        b[0x0D] = (CLUSTER / SECTOR) as u8;
        b[0x30..0x38].copy_from_slice(&(MFT_LCN as u64).to_le_bytes());
        b[0x40] = (-10i8) as u8; // 2^10 = 1024-byte records
        b[510] = 0x55;
        b[511] = 0xAA;
        b
    }

    /// `$Volume`'s record as Windows writes it: a $STANDARD_INFORMATION, a $VOLUME_NAME and
    /// the $VOLUME_INFORMATION carrying `flags`, then the fixups applied with `usn`.
    fn volume_record(flags: u16, usn: u16) -> Vec<u8> {
        let mut r = vec![0u8; RECORD];
        r[0..4].copy_from_slice(b"FILE");
        r[0x04..0x06].copy_from_slice(&0x30u16.to_le_bytes()); // update sequence array
        r[0x06..0x08].copy_from_slice(&3u16.to_le_bytes()); // usn + 2 sectors
        r[0x14..0x16].copy_from_slice(&0x38u16.to_le_bytes()); // first attribute
        r[0x16..0x18].copy_from_slice(&1u16.to_le_bytes()); // in use
        let mut a = 0x38;
        let mut attr = |r: &mut Vec<u8>, t: u32, value: &[u8]| {
            let len = (0x18 + value.len()).div_ceil(8) * 8;
            r[a..a + 4].copy_from_slice(&t.to_le_bytes());
            r[a + 4..a + 8].copy_from_slice(&(len as u32).to_le_bytes());
            r[a + 0x10..a + 0x14].copy_from_slice(&(value.len() as u32).to_le_bytes());
            r[a + 0x14..a + 0x16].copy_from_slice(&0x18u16.to_le_bytes());
            r[a + 0x18..a + 0x18 + value.len()].copy_from_slice(value);
            a += len;
        };
        attr(&mut r, 0x10, &[0x11; 0x48]);
        attr(&mut r, 0x60, &[0x41, 0, 0x42, 0]);
        let mut vi = [0u8; 12];
        vi[8] = 3; // NTFS 3.1
        vi[9] = 1;
        vi[10..12].copy_from_slice(&flags.to_le_bytes());
        attr(&mut r, VOLUME_INFORMATION, &vi);
        r[a..a + 4].copy_from_slice(&END_OF_ATTRIBUTES.to_le_bytes());
        r[0x18..0x1C].copy_from_slice(&((a + 8) as u32).to_le_bytes());
        // Real bytes at the ends of the two strides, saved into the array, then replaced.
        r[510..512].copy_from_slice(&[0xAB, 0xCD]);
        r[1022..1024].copy_from_slice(&[0xEF, 0x01]);
        r[0x30..0x32].copy_from_slice(&usn.to_le_bytes());
        for i in 0..2 {
            let end = (i + 1) * 512 - 2;
            let (x, y) = (r[end], r[end + 1]);
            r[0x32 + 2 * i] = x;
            r[0x32 + 2 * i + 1] = y;
            r[end..end + 2].copy_from_slice(&usn.to_le_bytes());
        }
        r
    }

    fn volume(flags: u16) -> Vec<u8> {
        let mut v = vec![0u8; MFT_LCN * CLUSTER + 8 * RECORD];
        v[..SECTOR].copy_from_slice(&boot());
        let at = MFT_LCN * CLUSTER + 3 * RECORD;
        v[at..at + RECORD].copy_from_slice(&volume_record(flags, 0x0007));
        v
    }

    fn flags_of(v: &[u8]) -> Result<u16> {
        volume_flags(&mut |off, len| {
            let s = (off as usize).min(v.len());
            Ok(v[s..(s + len).min(v.len())].to_vec())
        })
    }

    #[test]
    fn the_dirty_flag_is_read_and_a_clean_volume_is_not_dirty() {
        assert_eq!(flags_of(&volume(0x0001)).unwrap(), VOLUME_IS_DIRTY);
        assert_eq!(flags_of(&volume(0x0000)).unwrap() & VOLUME_IS_DIRTY, 0);
        // Other flags (upgrade on mount, chkdsk underway) are read too, dirty or not.
        assert_eq!(flags_of(&volume(0x4002)).unwrap(), 0x4002);
    }

    #[test]
    fn the_geometry_follows_the_boot_sector() {
        let g = geometry(&boot()).unwrap();
        assert_eq!(g.bytes_per_cluster, 4096);
        assert_eq!(g.mft_offset, 16384);
        assert_eq!(g.record_size, 1024);
        // A positive field counts clusters; large clusters use the 2^(256 - n) form.
        let mut b = boot();
        b[0x0D] = 1;
        b[0x40] = 2;
        assert_eq!(geometry(&b).unwrap().record_size, 1024);
        b[0x0D] = 0xFF; // 2^(256 - 255) = 2 sectors
        assert_eq!(geometry(&b).unwrap().bytes_per_cluster, 1024);
    }

    #[test]
    fn fixups_restore_the_bytes_under_the_update_sequence_number() {
        let mut r = volume_record(0, 0x1234);
        assert_eq!(&r[510..512], &[0x34, 0x12]);
        apply_fixups(&mut r).unwrap();
        assert_eq!(&r[510..512], &[0xAB, 0xCD]);
        assert_eq!(&r[1022..1024], &[0xEF, 0x01]);
    }

    #[test]
    fn a_torn_record_is_an_error() {
        let mut r = volume_record(1, 0x0007);
        r[1022] ^= 0xFF; // the second sector never got written
        let e = volume_flags_in_record(&r).unwrap_err();
        assert!(format!("{e:#}").contains("torn record"), "{e:#}");
    }

    #[test]
    fn garbage_and_truncated_volumes_are_errors_never_panics() {
        let good = volume(1);
        let why = |v: &[u8]| format!("{:#}", flags_of(v).unwrap_err());
        assert!(why(&[]).contains("truncated"));
        assert!(why(&good[..300]).contains("truncated"));
        // The boot sector whole but the MFT cut off.
        assert!(why(&good[..MFT_LCN * CLUSTER + 3 * RECORD + 100]).contains("past the end"));
        let mut v = good.clone();
        v[3..11].copy_from_slice(b"MSDOS5.0");
        assert!(why(&v).contains("no NTFS boot sector"));
        let mut v = good.clone();
        v[0x0B] = 0x33;
        assert!(why(&v).contains("bytes per sector"));
        let mut v = good.clone();
        v[0x0D] = 3;
        assert!(why(&v).contains("sectors per cluster"));
        let mut v = good.clone();
        v[0x40] = 0;
        assert!(why(&v).contains("record size"));
        let mut v = good.clone();
        v[0x30..0x38].copy_from_slice(&u64::MAX.to_le_bytes());
        assert!(why(&v).contains("out of range"));
        let at = MFT_LCN * CLUSTER + 3 * RECORD;
        let mut v = good.clone();
        v[at..at + 4].copy_from_slice(b"BAAD");
        assert!(why(&v).contains("not a FILE record"));
        // An attribute whose length runs off the record, and one of length zero (no loop).
        for len in [0xFFFF_0000u32, 0] {
            let mut v = good.clone();
            v[at + 0x3C..at + 0x40].copy_from_slice(&len.to_le_bytes());
            assert!(why(&v).contains("impossible length"), "{len}");
        }
        let mut v = good.clone();
        v[at + 0x06] = 9; // update sequence count
        assert!(why(&v).contains("update sequence count"));
        let mut v = good.clone();
        v[at + 0x04] = 0xF0; // update sequence array offset
        v[at + 0x05] = 0x03;
        assert!(why(&v).contains("out of place"));
        // Every single-byte corruption of the record, and every truncation, is an answer.
        for i in 0..RECORD {
            for x in [0x00, 0xFF, 0x80] {
                let mut v = good.clone();
                v[at + i] = x;
                let _ = flags_of(&v);
            }
        }
        for n in 0..good.len() {
            let _ = flags_of(&good[..n]);
        }
    }

    #[test]
    fn a_volume_without_volume_information_says_so() {
        let mut v = volume(1);
        let at = MFT_LCN * CLUSTER + 3 * RECORD;
        // Rename the 0x70 attribute's type to 0x80 ($DATA).
        let first = 0x38 + 0x60 + 0x20;
        assert_eq!(v[at + first], 0x70);
        v[at + first] = 0x80;
        assert!(format!("{:#}", flags_of(&v).unwrap_err()).contains("no $VOLUME_INFORMATION"));
    }
}
