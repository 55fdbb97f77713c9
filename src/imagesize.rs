//! Width and height from the first bytes of a PNG, JPEG, WebP, AVIF or GIF file, for answers
//! that do not state them. Only headers are read: no pixel is decoded.

/// How much of a file is enough to find its dimensions (JPEG metadata can push the frame
/// header back; AVIF keeps `ispe` in the `meta` box near the start).
pub(crate) const HEAD_BYTES: usize = 256 * 1024;

/// The image's (width, height), when `head` starts a file of a known format with sane sizes.
pub(crate) fn dimensions(head: &[u8]) -> Option<(u32, u32)> {
    let d = png(head)
        .or_else(|| gif(head))
        .or_else(|| jpeg(head))
        .or_else(|| webp(head))
        .or_else(|| avif(head))?;
    (d.0 > 0 && d.1 > 0).then_some(d)
}

fn be16(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from(u16::from_be_bytes(
        b.get(at..at + 2)?.try_into().ok()?,
    )))
}

fn le16(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from(u16::from_le_bytes(
        b.get(at..at + 2)?.try_into().ok()?,
    )))
}

fn be32(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_be_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

fn le24(b: &[u8], at: usize) -> Option<u32> {
    let s = b.get(at..at + 3)?;
    Some(u32::from(s[0]) | u32::from(s[1]) << 8 | u32::from(s[2]) << 16)
}

fn png(b: &[u8]) -> Option<(u32, u32)> {
    (b.starts_with(b"\x89PNG\r\n\x1a\n") && b.get(12..16)? == b"IHDR").then_some(())?;
    Some((be32(b, 16)?, be32(b, 20)?))
}

fn gif(b: &[u8]) -> Option<(u32, u32)> {
    (b.starts_with(b"GIF87a") || b.starts_with(b"GIF89a")).then_some(())?;
    Some((le16(b, 6)?, le16(b, 8)?))
}

fn jpeg(b: &[u8]) -> Option<(u32, u32)> {
    b.starts_with(&[0xFF, 0xD8]).then_some(())?;
    let mut at = 2;
    // Each step moves past one segment, so the walk ends within the buffer.
    while at + 4 <= b.len() {
        if b[at] != 0xFF {
            return None;
        }
        let marker = b[at + 1];
        if marker == 0xFF {
            at += 1; // fill byte
            continue;
        }
        if marker == 0xD8 || (0xD0..=0xD7).contains(&marker) || marker == 0x01 {
            at += 2;
            continue;
        }
        let len = be16(b, at + 2)? as usize;
        // Start-of-frame markers carry the size; C4 (DHT), C8 (JPG) and CC (DAC) do not.
        if (0xC0..=0xCF).contains(&marker) && ![0xC4, 0xC8, 0xCC].contains(&marker) {
            return Some((be16(b, at + 7)?, be16(b, at + 5)?));
        }
        if len < 2 {
            return None;
        }
        at += 2 + len;
    }
    None
}

fn webp(b: &[u8]) -> Option<(u32, u32)> {
    (b.get(0..4)? == b"RIFF" && b.get(8..12)? == b"WEBP").then_some(())?;
    match b.get(12..16)? {
        b"VP8 " => {
            // Frame tag (3 bytes), start code 9D 01 2A, then 14-bit width and height.
            (b.get(23..26)? == [0x9D, 0x01, 0x2A]).then_some(())?;
            Some((le16(b, 26)? & 0x3FFF, le16(b, 28)? & 0x3FFF))
        }
        b"VP8L" => {
            (*b.get(20)? == 0x2F).then_some(())?;
            let bits = u32::from_le_bytes(b.get(21..25)?.try_into().ok()?);
            Some(((bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1))
        }
        b"VP8X" => Some((le24(b, 24)? + 1, le24(b, 27)? + 1)),
        _ => None,
    }
}

fn avif(b: &[u8]) -> Option<(u32, u32)> {
    let brand = b.get(8..12)?;
    (b.get(4..8)? == b"ftyp" && (brand == b"avif" || brand == b"avis")).then_some(())?;
    // The first image spatial extents property ('ispe': version/flags, width, height) belongs
    // to the primary image in the files encoders write.
    let at = b.windows(4).position(|w| w == b"ispe")?;
    Some((be32(b, at + 8)?, be32(b, at + 12)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_each_format_header() {
        let mut png = b"\x89PNG\r\n\x1a\n\0\0\0\x0dIHDR".to_vec();
        png.extend_from_slice(&640u32.to_be_bytes());
        png.extend_from_slice(&480u32.to_be_bytes());
        assert_eq!(dimensions(&png), Some((640, 480)));

        assert_eq!(dimensions(b"GIF89a\x20\x03\x58\x02rest"), Some((800, 600)));

        // SOI, an APP0 segment, then SOF0 with height 100, width 200.
        let jpg = [
            0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x04, 0x00, 0x00, 0xFF, 0xC0, 0x00, 0x11, 0x08, 0x00,
            0x64, 0x00, 0xC8, 0x03,
        ];
        assert_eq!(dimensions(&jpg), Some((200, 100)));

        let mut vp8x = b"RIFF\0\0\0\0WEBPVP8X\x0a\0\0\0\0\0\0\0".to_vec();
        vp8x.extend_from_slice(&[0x1F, 0x03, 0x00, 0xDF, 0x01, 0x00]); // 800 x 480
        assert_eq!(dimensions(&vp8x), Some((800, 480)));

        let mut lossy = b"RIFF\0\0\0\0WEBPVP8 \0\0\0\0\0\0\0\x9d\x01\x2a".to_vec();
        lossy.extend_from_slice(&[0x40, 0x01, 0xF0, 0x00]); // 320 x 240
        assert_eq!(dimensions(&lossy), Some((320, 240)));

        let mut avif = b"\0\0\0\x1cftypavif".to_vec();
        avif.extend_from_slice(b"\0\0\0\0....ispe\0\0\0\0");
        avif.extend_from_slice(&1024u32.to_be_bytes());
        avif.extend_from_slice(&683u32.to_be_bytes());
        assert_eq!(dimensions(&avif), Some((1024, 683)));

        assert_eq!(dimensions(b"not an image"), None);
        assert_eq!(dimensions(&png[..18]), None);
        assert_eq!(dimensions(&[0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x00]), None);
    }
}
