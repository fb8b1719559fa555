//! Keys as `dump` shows them and as `--key` and `--prefix` read them back:
//! escaped text (`\xNN` for a byte that is not printable ASCII, and `\\`,
//! `\n`, `\r`, `\t`, `\'`, `\"`, as `escape_ascii` writes them) or hex.

/// `bytes` as hex or escaped text, cut after `max` bytes and marked so.
pub(super) fn show(bytes: &[u8], hex: bool, max: usize) -> String {
    let cut = &bytes[..bytes.len().min(max)];
    let mut s = if hex {
        cut.iter().map(|b| format!("{b:02x}")).collect()
    } else {
        cut.escape_ascii().to_string()
    };
    if bytes.len() > max {
        s.push_str(&format!("...(+{} bytes)", bytes.len() - max));
    }
    s
}

/// The least key above every key that starts with `prefix`, if any (none
/// when the prefix is all 0xff bytes, or empty).
pub(super) fn prefix_end(prefix: &[u8]) -> Option<Vec<u8>> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < 0xff {
            end.push(last + 1);
            return Some(end);
        }
    }
    None
}

/// A key typed in hex, as `--hex` shows keys.
pub(super) fn parse_hex(b: &[u8]) -> Result<Vec<u8>, String> {
    if !b.len().is_multiple_of(2) {
        return Err("with --hex, a key is an even number of hex digits".into());
    }
    b.chunks(2)
        .map(|pair| {
            hex_byte(pair)
                .ok_or_else(|| format!("{:?} is not a hex byte", pair.escape_ascii().to_string()))
        })
        .collect()
}

/// Two hex digits as a byte (`from_str_radix` alone would take `+f`).
fn hex_byte(digits: &[u8]) -> Option<u8> {
    let digit = |d: u8| (d as char).to_digit(16);
    match digits {
        [hi, lo] => Some((digit(*hi)? * 16 + digit(*lo)?) as u8),
        _ => None,
    }
}

/// A key typed as text, its escapes read as `escape_ascii` writes them.
pub(super) fn unescape(b: &[u8]) -> Result<Vec<u8>, String> {
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] != b'\\' {
            out.push(b[i]);
            i += 1;
            continue;
        }
        let (byte, used) = match b.get(i + 1) {
            Some(b'\\') => (b'\\', 2),
            Some(b'n') => (b'\n', 2),
            Some(b'r') => (b'\r', 2),
            Some(b't') => (b'\t', 2),
            Some(b'\'') => (b'\'', 2),
            Some(b'"') => (b'"', 2),
            Some(b'x') => {
                let digits = b.get(i + 2..i + 4).unwrap_or_default();
                let byte = hex_byte(digits)
                    .ok_or_else(|| format!("\\x at byte {i} is not followed by two hex digits"))?;
                (byte, 4)
            }
            _ => {
                return Err(format!(
                    "unknown escape at byte {i} (use \\xNN for a byte, \\\\ for a backslash)"
                ));
            }
        };
        out.push(byte);
        i += used;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_byte_reads_back_as_shown() {
        let all: Vec<u8> = (0..=255).collect();
        let text = show(&all, false, all.len());
        assert_eq!(unescape(text.as_bytes()).unwrap(), all);
        let hex = show(&all, true, all.len());
        assert_eq!(parse_hex(hex.as_bytes()).unwrap(), all);
        assert_eq!(unescape(br"a\\b\x00\xFF").unwrap(), b"a\\b\x00\xff");
    }

    #[test]
    fn bad_keys_are_refused() {
        for bad in [&br"\x0"[..], br"\x", br"\xg0", br"\x+f", br"\", br"\q"] {
            assert!(unescape(bad).is_err(), "{}", bad.escape_ascii());
        }
        for bad in [&b"abc"[..], b"0g", b" 0", b"+f", b"-1"] {
            assert!(parse_hex(bad).is_err(), "{}", bad.escape_ascii());
        }
        assert_eq!(parse_hex(b"").unwrap(), b"");
    }

    #[test]
    fn prefix_end_is_the_least_key_past_the_prefix() {
        assert_eq!(prefix_end(b"ab"), Some(b"ac".to_vec()));
        assert_eq!(prefix_end(b"a\xff\xff"), Some(b"b".to_vec()));
        assert_eq!(prefix_end(b"\xff"), None);
        assert_eq!(prefix_end(b""), None);
    }
}
