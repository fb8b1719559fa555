//! Page ids as ranges: `7-12 15 20-4000` in text, `[[7, 12], [15, 15],
//! [20, 4000]]` in JSON.

use serde_json::{Value, json};

/// Page ids as runs of consecutive ids, `first..=last` each: a freelist of
/// 30,000 ids is a few ranges, not 30,000 numbers.
pub(super) struct Ranges {
    runs: Vec<(u64, u64)>,
    /// Ids met more than once (in a sorted list).
    pub(super) repeated: Vec<u64>,
}

impl Ranges {
    /// Runs of `ids` in their order: consecutive ids join a run.
    pub(super) fn of(ids: &[u64]) -> Ranges {
        let mut r = Ranges {
            runs: Vec::new(),
            repeated: Vec::new(),
        };
        for &id in ids {
            match r.runs.last_mut() {
                Some((_, last)) if last.checked_add(1) == Some(id) => *last = id,
                Some((_, last)) if *last == id => r.repeated.push(id),
                _ => r.runs.push((id, id)),
            }
        }
        r
    }

    /// Runs of `ids`, sorted: each repeat is one id met again.
    pub(super) fn of_sorted(ids: &[u64]) -> Ranges {
        debug_assert!(ids.is_sorted(), "Ranges::of_sorted of unsorted ids");
        Ranges::of(ids)
    }

    /// `7-12 15 20-4000`, or `none`.
    pub(super) fn text(&self) -> String {
        if self.runs.is_empty() {
            return "none".into();
        }
        let runs: Vec<String> = self
            .runs
            .iter()
            .map(|&(a, b)| {
                if a == b {
                    a.to_string()
                } else {
                    format!("{a}-{b}")
                }
            })
            .collect();
        runs.join(" ")
    }

    /// `[[7, 12], [15, 15], [20, 4000]]`.
    pub(super) fn json(&self) -> Value {
        json!(self.runs.iter().map(|&(a, b)| [a, b]).collect::<Vec<_>>())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_and_repeats() {
        let r = Ranges::of_sorted(&[3, 4, 5, 7, 9, 9, 10]);
        assert_eq!(r.text(), "3-5 7 9-10");
        assert_eq!(r.repeated, [9]);
        assert_eq!(r.json(), json!([[3, 5], [7, 7], [9, 10]]));
        // In chain order, a step down starts a new run.
        assert_eq!(Ranges::of(&[8, 9, 2, 3]).text(), "8-9 2-3");
        assert_eq!(Ranges::of(&[]).text(), "none");
        assert_eq!(
            Ranges::of(&[u64::MAX - 1, u64::MAX]).text(),
            format!("{}-{}", u64::MAX - 1, u64::MAX)
        );
    }
}
