//! `ranking_<format>`: the measured methods of one dataset format ranked by mean accuracy (mean
//! over seeds), with the spread over seeds, Δm over the separate models, and the identity-level
//! paired bootstrap interval of each method's difference from the top-ranked one (read from the
//! `bootstrap_<format>` rows, so the two tables always agree).

use anyhow::Result;
use polars::prelude::{Column, DataFrame};

use super::headline::group_delta_m;
use super::pairwise::BootstrapRow;
use super::{format_title, frame, pct, DeltaMBaseline, Group, Run};
use crate::report::files::TableInfo;

/// One row of `ranking_<format>`.
#[derive(Debug, Clone, PartialEq)]
pub struct RankingRow {
    pub rank: u32,
    pub method: String,
    pub seeds: u32,
    pub mean_accuracy_pct: Option<f64>,
    pub std_pct: Option<f64>,
    pub delta_m_pct: Option<f64>,
    pub delta_m_std: Option<f64>,
    /// This method − the top-ranked one, percentage points, with its bootstrap interval.
    pub diff_to_best_pct: Option<f64>,
    pub ci_low_pct: Option<f64>,
    pub ci_high_pct: Option<f64>,
}

/// Ranks `groups` (one format's measured methods; `all` indexes Δm's baselines).
pub fn ranking(runs: &[Run], groups: &[&Group], all: &[Group], delta_m: &[DeltaMBaseline], boot: &[BootstrapRow]) -> Vec<RankingRow> {
    let mut scored: Vec<(&Group, Option<f64>, Option<f64>)> = groups
        .iter()
        .map(|g| {
            let acc = g.stat(runs, |m| m.mean_accuracy);
            (*g, acc.as_ref().map(|s| s.mean), acc.and_then(|s| s.std))
        })
        .collect();
    // Highest mean first; methods without a number last; ties keep input order (stable sort).
    scored.sort_by(|a, b| b.1.unwrap_or(f64::NEG_INFINITY).partial_cmp(&a.1.unwrap_or(f64::NEG_INFINITY)).unwrap_or(std::cmp::Ordering::Equal));
    let best = scored.first().map(|s| s.0.method.clone());
    scored
        .iter()
        .enumerate()
        .map(|(k, (g, mean, std))| {
            let dm = delta_m
                .iter()
                .find(|b| b.format == g.format)
                .and_then(|b| b.group)
                .and_then(|b| group_delta_m(runs, g, &all[b]));
            // The interval against the best: the bootstrap row of the pair, sign flipped if the
            // best is its A side.
            let vs_best = best.as_deref().and_then(|best| {
                if g.method == best {
                    return Some((0.0, 0.0, 0.0));
                }
                boot.iter().find_map(|r| {
                    if r.method_a == g.method && r.method_b == best {
                        Some((r.mean_diff_pct, r.ci_low_pct, r.ci_high_pct))
                    } else if r.method_b == g.method && r.method_a == best {
                        Some((-r.mean_diff_pct, -r.ci_high_pct, -r.ci_low_pct))
                    } else {
                        None
                    }
                })
            });
            RankingRow {
                rank: k as u32 + 1,
                method: g.method.clone(),
                seeds: g.runs.len() as u32,
                mean_accuracy_pct: pct(*mean),
                std_pct: pct(*std),
                delta_m_pct: dm.as_ref().map(|s| s.mean),
                delta_m_std: dm.and_then(|s| s.std),
                diff_to_best_pct: vs_best.map(|v| v.0),
                ci_low_pct: vs_best.map(|v| v.1),
                ci_high_pct: vs_best.map(|v| v.2),
            }
        })
        .collect()
}

pub fn ranking_frame(rows: &[RankingRow]) -> Result<DataFrame> {
    frame(vec![
        Column::new("rank".into(), rows.iter().map(|r| r.rank).collect::<Vec<_>>()),
        Column::new("method".into(), rows.iter().map(|r| r.method.clone()).collect::<Vec<_>>()),
        Column::new("seeds".into(), rows.iter().map(|r| r.seeds).collect::<Vec<_>>()),
        Column::new("mean_accuracy_pct".into(), rows.iter().map(|r| r.mean_accuracy_pct).collect::<Vec<_>>()),
        Column::new("std_pct".into(), rows.iter().map(|r| r.std_pct).collect::<Vec<_>>()),
        Column::new("delta_m_pct".into(), rows.iter().map(|r| r.delta_m_pct).collect::<Vec<_>>()),
        Column::new("delta_m_std".into(), rows.iter().map(|r| r.delta_m_std).collect::<Vec<_>>()),
        Column::new("diff_to_best_pct".into(), rows.iter().map(|r| r.diff_to_best_pct).collect::<Vec<_>>()),
        Column::new("ci_low_pct".into(), rows.iter().map(|r| r.ci_low_pct).collect::<Vec<_>>()),
        Column::new("ci_high_pct".into(), rows.iter().map(|r| r.ci_high_pct).collect::<Vec<_>>()),
    ])
}

pub fn ranking_info(format: &str, level: f64) -> TableInfo {
    TableInfo {
        stem: format!("ranking_{format}"),
        title: format!("Measured methods ranked by mean accuracy — {}", format_title(format)),
        caption: format!(
            "Mean accuracy: mean ± sample std over seeds. Δm: over the separate models (see Table 1/2). diff_to_best_pct: this method − the top-ranked one in percentage points, with its {:.0}% identity-level paired bootstrap interval (the bootstrap table's row for the pair); an interval containing 0 means the two are not distinguishable at this sample size.",
            level * 100.0
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::run;
    use super::*;

    #[test]
    fn ranked_by_mean_with_the_interval_against_the_best() {
        let runs = vec![
            run("a", "A", "celeba", &[("x", 0.6), ("y", 0.6)], false),
            run("b", "B", "celeba", &[("x", 0.9), ("y", 0.7)], false),
        ];
        let groups = super::super::group_runs(&runs).unwrap();
        let refs: Vec<&Group> = groups.iter().collect();
        let boot = vec![BootstrapRow {
            method_a: "A".into(),
            method_b: "B".into(),
            runs_a: "a".into(),
            runs_b: "b".into(),
            seed_pairings: 1,
            unit: "identities".into(),
            units: 10,
            images: 20,
            mean_diff_pct: -20.0,
            pairing_std_pct: None,
            ci_low_pct: -25.0,
            ci_high_pct: -15.0,
            significant_attributes: "1 of 2".into(),
        }];
        let rows = ranking(&runs, &refs, &groups, &[], &boot);
        assert_eq!(rows.iter().map(|r| r.method.as_str()).collect::<Vec<_>>(), vec!["B", "A"]);
        assert_eq!((rows[0].rank, rows[0].diff_to_best_pct), (1, Some(0.0)));
        assert!((rows[0].mean_accuracy_pct.unwrap() - 80.0).abs() < 1e-9);
        assert_eq!((rows[1].diff_to_best_pct, rows[1].ci_low_pct, rows[1].ci_high_pct), (Some(-20.0), Some(-25.0), Some(-15.0)));
        assert_eq!(ranking_frame(&rows).unwrap().height(), 2);
    }
}
