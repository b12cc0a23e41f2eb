//! Text that may come as UTF-16 (AWS's `currentevents` does, without saying so in its
//! `Content-Type`) or as UTF-8, told apart by the byte order mark or, without one, by where the
//! zero bytes fall.

use super::parsed::ParseError;

/// How many leading bytes are looked at to guess an encoding without a byte order mark.
const SNIFF: usize = 64;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Encoding {
    Utf8,
    Utf16Le,
    Utf16Be,
}

/// The body as text. A BOM decides (FF FE little-endian, FE FF big-endian, EF BB BF UTF-8);
/// without one, JSON's first characters are ASCII, so in UTF-16 every other byte is zero:
/// zeros at odd offsets say little-endian, at even offsets big-endian, none UTF-8.
pub fn decode(body: &[u8]) -> Result<String, ParseError> {
    let (encoding, rest) = match body {
        [0xFF, 0xFE, rest @ ..] => (Encoding::Utf16Le, rest),
        [0xFE, 0xFF, rest @ ..] => (Encoding::Utf16Be, rest),
        [0xEF, 0xBB, 0xBF, rest @ ..] => (Encoding::Utf8, rest),
        _ => (sniff(body), body),
    };
    match encoding {
        Encoding::Utf8 => std::str::from_utf8(rest)
            .map(str::to_owned)
            .map_err(ParseError::NotUtf8),
        Encoding::Utf16Le => utf16(rest, u16::from_le_bytes, "little-endian"),
        Encoding::Utf16Be => utf16(rest, u16::from_be_bytes, "big-endian"),
    }
}

fn sniff(body: &[u8]) -> Encoding {
    let head = &body[..body.len().min(SNIFF)];
    let zeros_at = |parity: usize| {
        head.iter()
            .skip(parity)
            .step_by(2)
            .filter(|b| **b == 0)
            .count()
    };
    let (even, odd) = (zeros_at(0), zeros_at(1));
    // Most of one half zero and none of the other: a handful of stray zeros in what is
    // really UTF-8 (or garbage) does not make it UTF-16.
    let pairs = head.len() / 2;
    if pairs > 0 && odd * 2 > pairs && even == 0 {
        Encoding::Utf16Le
    } else if pairs > 0 && even * 2 > pairs && odd == 0 {
        Encoding::Utf16Be
    } else {
        Encoding::Utf8
    }
}

fn utf16(bytes: &[u8], unit: fn([u8; 2]) -> u16, order: &str) -> Result<String, ParseError> {
    if !bytes.len().is_multiple_of(2) {
        return Err(ParseError::NotUtf16(format!(
            "{order}, but an odd number of bytes ({}): cut short?",
            bytes.len()
        )));
    }
    let units = bytes.chunks_exact(2).map(|pair| unit([pair[0], pair[1]]));
    char::decode_utf16(units)
        .enumerate()
        .map(|(i, c)| {
            c.map_err(|e| {
                ParseError::NotUtf16(format!(
                    "{order}, unpaired surrogate {:#06x} at byte {}",
                    e.unpaired_surrogate(),
                    i * 2
                ))
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn le(s: &str) -> Vec<u8> {
        s.encode_utf16().flat_map(u16::to_le_bytes).collect()
    }

    fn be(s: &str) -> Vec<u8> {
        s.encode_utf16().flat_map(u16::to_be_bytes).collect()
    }

    #[test]
    fn boms_decide() {
        let text = "[{\"summary\":\"Élevé — 😀\"}]";
        assert_eq!(
            decode(&[&[0xFF, 0xFE][..], &le(text)].concat()).unwrap(),
            text
        );
        assert_eq!(
            decode(&[&[0xFE, 0xFF][..], &be(text)].concat()).unwrap(),
            text
        );
        assert_eq!(
            decode(&[b"\xEF\xBB\xBF", text.as_bytes()].concat()).unwrap(),
            text
        );
    }

    #[test]
    fn without_a_bom_the_zeros_decide() {
        let text = "[{\"service\":\"ec2-us-east-1\"}]";
        assert_eq!(decode(&le(text)).unwrap(), text);
        assert_eq!(decode(&be(text)).unwrap(), text);
        assert_eq!(decode(text.as_bytes()).unwrap(), text);
        assert_eq!(decode(&le("[]")).unwrap(), "[]");
    }

    #[test]
    fn broken_utf16_says_why() {
        let e = decode(&[0xFF, 0xFE, b'[', 0, b']'])
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("not UTF-16 JSON: little-endian, but an odd number"),
            "{e}"
        );
        let e = decode(&[0xFE, 0xFF, 0xD8, 0x00, 0x00, b'['])
            .unwrap_err()
            .to_string();
        assert!(e.contains("unpaired surrogate 0xd800 at byte 0"), "{e}");
        let e = decode(b"\xC3\x28").unwrap_err().to_string();
        assert!(e.starts_with("not UTF-8: "), "{e}");
    }
}
