//! Splitting an inline request line into arguments, by Redis's rules.
//!
//! This is `sdssplitargs` from Redis's `sds.c`, which `processInlineBuffer`
//! applies to each line, so that a line typed into telnet means here what
//! it means to Redis:
//!
//! - Arguments are separated by runs of C `isspace` bytes (space, `\t`,
//!   `\n`, `\v`, `\f`, `\r`); an unquoted argument ends only at space,
//!   `\t`, `\n` or `\r`.
//! - `"..."` takes the escapes `\n \r \t \b \a \\ \"` and `\xHH`; any other
//!   escaped byte stands for itself.
//! - `'...'` takes only `\'`.
//! - A quote may open inside an argument (`a"b c"` is `ab c`), but a
//!   closing quote must be followed by a space or the end of the line.
//!   Anything else, or an unclosed quote, is "unbalanced quotes".
//!
//! One difference: Redis works on a C string, so a NUL byte ends its line
//! early and the rest is silently dropped. Here NUL is an ordinary byte.

/// Splits `line` (without its line terminator) into arguments; `None` if
/// its quotes are unbalanced. A blank line gives no arguments.
pub(crate) fn split_args(line: &[u8]) -> Option<Vec<Vec<u8>>> {
    let mut args = Vec::new();
    let mut at = 0;
    loop {
        while line.get(at).is_some_and(|&b| is_c_space(b)) {
            at += 1;
        }
        if at == line.len() {
            return Some(args);
        }
        let (arg, end) = read_arg(line, at)?;
        args.push(arg);
        at = end;
    }
}

/// Where a scan inside one argument is.
#[derive(Clone, Copy)]
enum Quote {
    None,
    Double,
    Single,
}

/// Reads the argument starting at `start` (not a space); returns it and the
/// index just past it.
fn read_arg(line: &[u8], start: usize) -> Option<(Vec<u8>, usize)> {
    let mut arg = Vec::new();
    let mut quote = Quote::None;
    let mut at = start;
    loop {
        let byte = line.get(at).copied();
        match quote {
            Quote::None => match byte {
                None | Some(b' ' | b'\n' | b'\r' | b'\t') => return Some((arg, at)),
                Some(b'"') => quote = Quote::Double,
                Some(b'\'') => quote = Quote::Single,
                Some(b) => arg.push(b),
            },
            Quote::Double => match byte {
                None => return None,
                Some(b'\\') => {
                    let (unescaped, len) = double_quoted_escape(&line[at..])?;
                    arg.push(unescaped);
                    at += len - 1;
                }
                Some(b'"') => return closed_at(line, at).map(|end| (arg, end)),
                Some(b) => arg.push(b),
            },
            Quote::Single => match byte {
                None => return None,
                Some(b'\\') if line.get(at + 1) == Some(&b'\'') => {
                    arg.push(b'\'');
                    at += 1;
                }
                Some(b'\'') => return closed_at(line, at).map(|end| (arg, end)),
                Some(b) => arg.push(b),
            },
        }
        at += 1;
    }
}

/// The escape at the start of `rest` (which starts with a backslash) inside
/// double quotes: the byte it stands for and its length. `None` for a
/// backslash that ends the line, which leaves the quote open.
fn double_quoted_escape(rest: &[u8]) -> Option<(u8, usize)> {
    debug_assert_eq!(
        rest.first(),
        Some(&b'\\'),
        "an escape starts with a backslash"
    );
    if let [_, b'x', hi, lo, ..] = *rest
        && let (Some(hi), Some(lo)) = (hex_value(hi), hex_value(lo))
    {
        return Some((hi * 16 + lo, 4));
    }
    let unescaped = match *rest.get(1)? {
        b'n' => b'\n',
        b'r' => b'\r',
        b't' => b'\t',
        b'b' => 0x08,
        b'a' => 0x07,
        other => other,
    };
    Some((unescaped, 2))
}

/// The end of an argument whose closing quote is at `at`, or `None` if the
/// quote is followed by something other than a space or the line's end.
fn closed_at(line: &[u8], at: usize) -> Option<usize> {
    match line.get(at + 1) {
        Some(&next) if !is_c_space(next) => None,
        _ => Some(at + 1),
    }
}

/// C's `isspace` in the "C" locale, which Redis uses between arguments.
fn is_c_space(byte: u8) -> bool {
    matches!(byte, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r')
}

fn hex_value(byte: u8) -> Option<u8> {
    char::from(byte)
        .to_digit(16)
        .and_then(|d| u8::try_from(d).ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(line: &str) -> Option<Vec<String>> {
        split_args(line.as_bytes()).map(|args| {
            args.into_iter()
                .map(|a| String::from_utf8(a).unwrap())
                .collect()
        })
    }

    fn ok(line: &str, expected: &[&str]) {
        assert_eq!(
            split(line),
            Some(expected.iter().map(|s| s.to_string()).collect()),
            "{line:?}"
        );
    }

    #[test]
    fn plain_words_split_on_runs_of_spaces() {
        ok("SET k v", &["SET", "k", "v"]);
        ok("  GET \t k  ", &["GET", "k"]);
        ok("a\x0bb", &["a\x0bb"]); // \v separates only between arguments
        ok("\x0b\x0ca\x0c", &["a\x0c"]);
        ok("", &[]);
        ok(" \t\r ", &[]);
    }

    #[test]
    fn double_quotes_take_c_escapes_and_hex() {
        ok(
            r#"SET "a b" "\n\r\t\b\a\\\"""#,
            &["SET", "a b", "\n\r\t\x08\x07\\\""],
        );
        ok(r#""\x41\x7a\x4F""#, &["AzO"]);
        ok(r#""\q\xZZ\x4""#, &["qxZZx4"]);
        ok(r#""""#, &[""]);
    }

    #[test]
    fn single_quotes_take_only_an_escaped_quote() {
        ok(r"'it\'s' '\n'", &["it's", r"\n"]);
        ok("''", &[""]);
    }

    #[test]
    fn a_quote_may_open_mid_argument_but_must_close_at_its_end() {
        ok(r#"ab"c d""#, &["abc d"]);
        ok(r#"x'y'"#, &["xy"]);
        assert_eq!(split(r#""a"b"#), None);
        assert_eq!(split(r#"'a'b"#), None);
        assert_eq!(split(r#"set """test-key""" test-value"#), None);
    }

    #[test]
    fn unclosed_quotes_are_unbalanced() {
        assert_eq!(split(r#"SET "k v"#), None);
        assert_eq!(split("SET 'k v"), None);
        assert_eq!(split(r#""abc\"#), None);
        assert_eq!(split(r"'abc\'"), None);
    }

    #[test]
    fn nul_is_an_ordinary_byte() {
        assert_eq!(
            split_args(b"SET k\0x \"v\0\""),
            Some(vec![b"SET".to_vec(), b"k\0x".to_vec(), b"v\0".to_vec()])
        );
    }
}
