//! The Market-1501 / Duke colour rule: a colour prediction is correct iff that colour is marked
//! for the identity; identities with no colour marked are never correct; with several colours
//! marked, any of them counts.
//!
//! The split tables carry the marked classes of a colour task `<task>` in an extra string column
//! `<task>__marked` (class indices joined by `;`, e.g. `"2;5"`; empty or null when none is marked).

use anyhow::{bail, Result};

use super::metrics::Truth;

/// Suffix of the split-table column that holds the marked classes of a colour task.
pub const MARKED_SUFFIX: &str = "__marked";

/// The name of the marked-classes column of `task`.
pub fn marked_column(task: &str) -> String {
    format!("{task}{MARKED_SUFFIX}")
}

/// Parses `"2;5"` into `[2, 5]` (sorted, deduplicated); `""` gives no class. Errors name the bad
/// part; `classes` bounds the legal indices.
pub fn parse_marked(text: &str, classes: usize) -> Result<Vec<i64>> {
    let mut out = Vec::new();
    for part in text.split(';') {
        let part = part.trim();
        if part.is_empty() {
            continue;
        }
        let Ok(value) = part.parse::<i64>() else {
            bail!("marked colours `{text}`: `{part}` is not a class index (expected e.g. `2;5`)");
        };
        if value < 0 || value as usize >= classes {
            bail!("marked colours `{text}`: class {value} is out of range 0..{classes}");
        }
        out.push(value);
    }
    out.sort_unstable();
    out.dedup();
    Ok(out)
}

/// The truth of a colour task for one image: the marked set (possibly empty) when the table has a
/// marked column (null counts as none marked), else the plain label.
pub fn colour_truth(label: Option<i64>, marked: Option<Option<&str>>, classes: usize) -> Result<Truth> {
    match marked {
        Some(cell) => Ok(Truth::AnyOf(parse_marked(cell.unwrap_or(""), classes)?)),
        None => Ok(match label {
            Some(l) => Truth::Label(l),
            None => Truth::Masked,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_marked_sets() {
        assert_eq!(parse_marked("2;5", 8).unwrap(), vec![2, 5]);
        assert_eq!(parse_marked("5;2;5", 8).unwrap(), vec![2, 5]);
        assert_eq!(parse_marked("", 8).unwrap(), Vec::<i64>::new());
        assert_eq!(parse_marked(" 3 ", 8).unwrap(), vec![3]);
        assert!(parse_marked("2;x", 8).unwrap_err().to_string().contains("`x`"));
        assert!(parse_marked("8", 8).unwrap_err().to_string().contains("out of range"));
    }

    #[test]
    fn unmarked_never_correct_and_any_marked_counts() {
        let unmarked = colour_truth(None, Some(None), 8).unwrap();
        assert_eq!(unmarked, Truth::AnyOf(vec![]));
        for p in 0..8 {
            assert_eq!(unmarked.correct(p), Some(false));
        }
        let multi = colour_truth(None, Some(Some("1;4")), 8).unwrap();
        assert_eq!(multi.correct(1), Some(true));
        assert_eq!(multi.correct(4), Some(true));
        assert_eq!(multi.correct(0), Some(false));
        // Without a marked column the plain label decides; no label = not scored.
        assert_eq!(colour_truth(Some(3), None, 8).unwrap().correct(3), Some(true));
        assert_eq!(colour_truth(None, None, 8).unwrap().correct(3), None);
    }
}
