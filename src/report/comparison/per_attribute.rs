//! Per-attribute accuracies of one dataset format (a wide attribute × method table and the rows of
//! `per_attribute_long`) and the win counts between methods.

use anyhow::{bail, Result};
use polars::prelude::{Column, DataFrame};

use super::{attributes, format_title, frame, majority_rate, measured_kind, pct, task_value, Group, Run, MAJORITY};
use crate::report::baselines::Baselines;
use crate::report::files::{PerAttributeRow, TableInfo};
use crate::report::tables::{PUBLISHED, PUBLISHED_SUFFIX};

/// The wide table: one column of accuracies (percent) per method, rows in `attributes` order.
#[derive(Debug, Clone, PartialEq)]
pub struct PerAttributeWide {
    pub attributes: Vec<String>,
    pub columns: Vec<(String, Vec<Option<f64>>)>,
}

impl PerAttributeWide {
    pub fn frame(&self) -> Result<DataFrame> {
        let mut cols = vec![Column::new("attribute".into(), self.attributes.clone())];
        for (name, values) in &self.columns {
            cols.push(Column::new(name.as_str().into(), values.clone()));
        }
        frame(cols)
    }
}

/// Everything per attribute for one format.
#[derive(Debug, Clone, PartialEq)]
pub struct PerAttribute {
    pub wide: PerAttributeWide,
    pub long: Vec<PerAttributeRow>,
    /// The methods that take part in the win counts, with their per-attribute accuracies:
    /// measured ones always, published ones only when every measured run is on real data.
    pub contenders: Vec<(String, Vec<Option<f64>>)>,
    /// Published methods shown (CelebA only).
    pub published: Vec<String>,
    pub all_real: bool,
}

/// The per-attribute tables of `format` from its groups and, for CelebA, the published methods
/// `published` names (in the order of the baselines file).
pub fn per_attribute(
    runs: &[Run],
    groups: &[&Group],
    format: &str,
    baselines: &Baselines,
    include_published: impl Fn(&str) -> bool,
) -> Result<PerAttribute> {
    let attrs = attributes(runs, groups);
    let all_real = groups.iter().all(|g| g.source == "real");
    let published: Vec<String> = if format == "celeba" {
        baselines.per_attribute.methods.iter().filter(|m| include_published(m)).cloned().collect()
    } else {
        Vec::new()
    };
    let mut columns: Vec<(String, Vec<Option<f64>>)> = Vec::new();
    let mut long = Vec::new();
    let mut contenders = Vec::new();
    let mut add_column = |name: String, values: Vec<Option<f64>>| -> Result<()> {
        if name == "attribute" || columns.iter().any(|(n, _)| *n == name) {
            bail!("two columns of the per-attribute table would be named `{name}`; rename a method");
        }
        columns.push((name, values));
        Ok(())
    };
    for g in groups {
        let mut acc = Vec::with_capacity(attrs.len());
        for a in &attrs {
            let s = g.stat(runs, |m| task_value(m, a, false));
            let b = g.stat(runs, |m| task_value(m, a, true));
            let n = g.runs.first().and_then(|&i| runs[i].metrics.tasks.iter().find(|t| &t.task == a)).map(|t| t.n as u64);
            acc.push(pct(s.as_ref().map(|s| s.mean)));
            long.push(PerAttributeRow {
                format: format.to_string(),
                attribute: a.clone(),
                method: g.method.clone(),
                kind: measured_kind(&g.source),
                accuracy_pct: pct(s.as_ref().map(|s| s.mean)),
                std_pct: pct(s.as_ref().and_then(|s| s.std)),
                seeds: s.as_ref().map(|s| s.seeds as u32),
                ma_pct: pct(b.map(|b| b.mean)),
                n,
            });
        }
        add_column(g.method.clone(), acc.clone())?;
        contenders.push((g.method.clone(), acc));
    }
    // The rate each attribute's accuracy must beat; not a contender in the win counts.
    let majority: Vec<Option<f64>> = attrs.iter().map(|a| pct(majority_rate(runs, groups, a))).collect();
    if majority.iter().any(Option::is_some) {
        add_column(MAJORITY.into(), majority)?;
    }
    for name in &published {
        let values: Vec<Option<f64>> = attrs.iter().map(|a| baselines.per_attribute.get(name, a)).collect();
        for (a, v) in attrs.iter().zip(&values) {
            long.push(PerAttributeRow {
                format: format.to_string(),
                attribute: a.clone(),
                method: name.clone(),
                kind: PUBLISHED.into(),
                accuracy_pct: *v,
                std_pct: None,
                seeds: None,
                ma_pct: None,
                n: None,
            });
        }
        let col = format!("{name}{PUBLISHED_SUFFIX}");
        add_column(col.clone(), values.clone())?;
        if all_real && values.iter().any(Option::is_some) {
            contenders.push((col, values));
        }
    }
    Ok(PerAttribute { wide: PerAttributeWide { attributes: attrs, columns }, long, contenders, published, all_real })
}

pub fn per_attribute_info(format: &str, t: &PerAttribute) -> TableInfo {
    TableInfo {
        stem: format!("per_attribute_{format}"),
        title: format!("Per-attribute accuracy (%) — {}", format_title(format)),
        caption: if t.published.is_empty() {
            format!("Measured runs, mean over seeds; “{MAJORITY}”: always answering the commoner label on the same rows.")
        } else {
            format!(
                "Measured runs (mean over seeds; “{MAJORITY}”: always answering the commoner label on the same rows) and, in columns marked “{}”, the numbers other authors reported on the real CelebA test set.",
                PUBLISHED_SUFFIX.trim()
            )
        },
    }
}

/// Win counts: `beats[row][col]` = on how many attributes the row method is strictly more
/// accurate than the column method (`None` on the diagonal).
#[derive(Debug, Clone, PartialEq)]
pub struct Wins {
    pub methods: Vec<String>,
    pub beats: Vec<Vec<Option<u32>>>,
}

pub fn wins(contenders: &[(String, Vec<Option<f64>>)]) -> Wins {
    let beats = contenders
        .iter()
        .enumerate()
        .map(|(i, (_, mine))| {
            contenders
                .iter()
                .enumerate()
                .map(|(j, (_, theirs))| {
                    (i != j).then(|| {
                        mine.iter().zip(theirs).filter(|(a, b)| matches!((a, b), (Some(a), Some(b)) if a > b)).count()
                            as u32
                    })
                })
                .collect()
        })
        .collect();
    Wins { methods: contenders.iter().map(|c| c.0.clone()).collect(), beats }
}

impl Wins {
    pub fn frame(&self) -> Result<DataFrame> {
        let mut cols = vec![Column::new("method".into(), self.methods.clone())];
        for (j, opponent) in self.methods.iter().enumerate() {
            let counts: Vec<Option<u32>> = self.beats.iter().map(|row| row[j]).collect();
            cols.push(Column::new(format!("beats {opponent}").as_str().into(), counts));
        }
        frame(cols)
    }
}

pub fn wins_info(format: &str, t: &PerAttribute) -> TableInfo {
    TableInfo {
        stem: format!("wins_{format}"),
        title: format!(
            "Wins — {}: on how many of the {} attributes the row method is more accurate than the column method",
            format_title(format),
            t.wide.attributes.len()
        ),
        caption: if t.all_real || t.published.is_empty() {
            "Ties count for neither method.".into()
        } else {
            "Ties count for neither method. Published methods are left out because the measured runs are not on the real dataset.".into()
        },
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::run;
    use super::super::group_runs;
    use super::*;

    #[test]
    fn wide_long_and_published_columns() {
        let mut runs = vec![
            run("e[a]", "a", "celeba", &[("Bald", 0.9), ("Male", 0.8)], false),
            run("e[a2]", "a", "celeba", &[("Bald", 0.7), ("Male", 0.8)], false),
            run("e[b]", "b", "celeba", &[("Bald", 0.95), ("Male", 0.6)], false),
        ];
        let groups = group_runs(&runs).unwrap();
        let refs: Vec<&Group> = groups.iter().collect();
        let baselines = Baselines::embedded().unwrap();
        let t = per_attribute(&runs, &refs, "celeba", &baselines, |m| m == "Moon").unwrap();
        assert_eq!(t.wide.attributes, ["Bald", "Male"]);
        let names: Vec<&str> = t.wide.columns.iter().map(|c| c.0.as_str()).collect();
        assert_eq!(names, ["a", "b", MAJORITY, "Moon (published)"]);
        assert!((t.wide.columns[0].1[0].unwrap() - 80.0).abs() < 1e-9);
        assert_eq!(t.wide.columns[2].1, [Some(60.0), Some(60.0)], "the test rows' majority rate");
        assert_eq!(t.wide.columns[3].1[0], Some(98.77), "Moon on Bald");
        assert_eq!(t.long.len(), 6);
        assert_eq!(t.long[0].seeds, Some(2));
        assert!((t.long[0].std_pct.unwrap() - 100.0 * 0.2 / 2f64.sqrt()).abs() < 1e-9);
        // Synthetic runs: published numbers are shown but do not compete (nor does the majority).
        assert_eq!(t.contenders.len(), 2);
        assert!(wins_info("celeba", &t).caption.contains("left out"));
        assert_eq!(t.wide.frame().unwrap().shape(), (2, 5));
        // Real runs: they do.
        for r in &mut runs {
            r.metrics.source = "real".into();
        }
        let groups = group_runs(&runs).unwrap();
        let refs: Vec<&Group> = groups.iter().collect();
        let t = per_attribute(&runs, &refs, "celeba", &baselines, |m| m == "Moon").unwrap();
        assert_eq!(t.contenders.len(), 3);
        // A method named like a published column is refused.
        let clash = vec![run("e[m]", "Moon (published)", "celeba", &[("Bald", 0.9)], false)];
        let g = group_runs(&clash).unwrap();
        let err = per_attribute(&clash, &g.iter().collect::<Vec<_>>(), "celeba", &baselines, |m| m == "Moon").unwrap_err();
        assert!(err.to_string().contains("rename a method"), "{err}");
    }

    #[test]
    fn wins_count_strictly_better_attributes() {
        let c = vec![
            ("a".to_string(), vec![Some(90.0), Some(80.0), Some(70.0)]),
            ("b".to_string(), vec![Some(85.0), Some(80.0), None]),
        ];
        let w = wins(&c);
        assert_eq!(w.beats, vec![vec![None, Some(1)], vec![Some(0), None]]);
        let f = w.frame().unwrap();
        assert_eq!(f.get_column_names().iter().map(|c| c.as_str()).collect::<Vec<_>>(), ["method", "beats a", "beats b"]);
    }
}
