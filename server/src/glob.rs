//! Redis's glob patterns (`KEYS`, `SCAN ... MATCH`): `*`, `?`, `[abc]`,
//! `[^a-z]`, and `\` quoting the next byte. Matching is on bytes.

/// Whether `s` matches `pattern`. Iterative, with one backtrack point for
/// the last `*`, so a hostile pattern costs at most `pattern × s` steps and
/// no recursion.
pub(crate) fn matches(pattern: &[u8], s: &[u8]) -> bool {
    // Redis's matcher never enters its loop for an empty string, so only
    // an empty pattern matches one; `KEYS *` and `SCAN` without `MATCH`
    // skip matching, so the empty key is listed by `*` alone.
    if s.is_empty() {
        return pattern.is_empty() || pattern == b"*";
    }
    let (mut p, mut i) = (0, 0);
    // Where to resume after the last `*`: (pattern index after it, s index).
    let mut star: Option<(usize, usize)> = None;
    while i < s.len() {
        if p < pattern.len() {
            match pattern[p] {
                b'*' => {
                    while p < pattern.len() && pattern[p] == b'*' {
                        p += 1;
                    }
                    if p == pattern.len() {
                        return true;
                    }
                    star = Some((p, i));
                    continue;
                }
                b'?' => {
                    p += 1;
                    i += 1;
                    continue;
                }
                b'[' => {
                    let (hit, next) = class(pattern, p, s[i]);
                    if hit {
                        p = next;
                        i += 1;
                        continue;
                    }
                }
                b'\\' if p + 1 < pattern.len() => {
                    if pattern[p + 1] == s[i] {
                        p += 2;
                        i += 1;
                        continue;
                    }
                }
                c => {
                    if c == s[i] {
                        p += 1;
                        i += 1;
                        continue;
                    }
                }
            }
        }
        match star {
            Some((sp, si)) => {
                p = sp;
                i = si + 1;
                star = Some((sp, si + 1));
            }
            None => return false,
        }
    }
    pattern[p..].iter().all(|&c| c == b'*')
}

/// Matches byte `c` against the class opening at `pattern[p] == b'['`:
/// whether it matched and the index after the class. An unclosed class
/// runs to the end of the pattern, as in Redis.
fn class(pattern: &[u8], p: usize, c: u8) -> (bool, usize) {
    let mut j = p + 1;
    let negate = pattern.get(j) == Some(&b'^');
    if negate {
        j += 1;
    }
    let mut hit = false;
    while j < pattern.len() && pattern[j] != b']' {
        if pattern[j] == b'\\' && j + 1 < pattern.len() {
            hit |= pattern[j + 1] == c;
            j += 2;
        } else if j + 2 < pattern.len() && pattern[j + 1] == b'-' {
            // As in Redis, a range may end at `]`: `[a-]` is `]` to `a`,
            // and the class then runs on (here, to the pattern's end).
            let (lo, hi) = (
                pattern[j].min(pattern[j + 2]),
                pattern[j].max(pattern[j + 2]),
            );
            hit |= (lo..=hi).contains(&c);
            j += 3;
        } else {
            hit |= pattern[j] == c;
            j += 1;
        }
    }
    let next = (j + 1).min(pattern.len());
    (hit != negate, next)
}

/// The bytes every key matching `pattern` starts with: the pattern up to
/// its first special character, with `\` escapes resolved. A scan seeks to
/// it instead of reading the whole keyspace.
pub(crate) fn literal_prefix(pattern: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < pattern.len() {
        match pattern[i] {
            b'*' | b'?' | b'[' => break,
            b'\\' if i + 1 < pattern.len() => {
                out.push(pattern[i + 1]);
                i += 2;
            }
            b'\\' => break,
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redis_glob_cases() {
        let yes: &[(&[u8], &[u8])] = &[
            (b"*", b""),
            (b"", b""),
            (b"*", b"anything"),
            (b"h?llo", b"hello"),
            (b"h*llo", b"heeeello"),
            (b"h[ae]llo", b"hallo"),
            (b"h[^e]llo", b"hallo"),
            (b"h[a-b]llo", b"hbllo"),
            (b"h[b-a]llo", b"hallo"),
            (b"user:*:name", b"user:42:name"),
            (b"a\\*b", b"a*b"),
            (b"*a*b*c*", b"xxaxxbxxcxx"),
            (b"[\\]]", b"]"),
            (b"a[a-]", b"a]"),
            (b"a[a-]", b"a^"),
        ];
        for (p, s) in yes {
            assert!(matches(p, s), "{p:?} should match {s:?}");
        }
        let no: &[(&[u8], &[u8])] = &[
            (b"h?llo", b"hllo"),
            (b"h[ae]llo", b"hillo"),
            (b"h[^e]llo", b"hello"),
            (b"a\\*b", b"axb"),
            (b"user:*", b"use"),
            (b"abc", b"abcd"),
            (b"*a*b*c*d", b"xxaxxbxxcxx"),
            (b"a[a-]", b"a-"),
            (b"**", b""),
            (b"?", b""),
        ];
        for (p, s) in no {
            assert!(!matches(p, s), "{p:?} should not match {s:?}");
        }
    }

    #[test]
    fn a_hostile_pattern_ends() {
        let p = [b'*', b'a'].repeat(200);
        let s = vec![b'a'; 5_000];
        assert!(!matches(&[&p[..], b"b"].concat(), &s));
    }

    #[test]
    fn literal_prefixes() {
        assert_eq!(literal_prefix(b"user:*"), b"user:");
        assert_eq!(literal_prefix(b"a\\*b*"), b"a*b");
        assert_eq!(literal_prefix(b"*x"), b"");
        assert_eq!(literal_prefix(b"ab?"), b"ab");
        assert_eq!(literal_prefix(b"exact"), b"exact");
    }
}
