//! Table 1 (CelebA) and Table 2 (Market-1501 / Duke): published rows first, then one row per
//! measured method with mean ± sample std over its seeds and Δm over the separate models.

use anyhow::Result;
use polars::prelude::{Column, DataFrame};

use super::{
    attributes, format_title, frame, majority_kind, mean_majority_rate, measured_kind, pct, task_value, DeltaMBaseline, Group,
    Published, Run, MAJORITY, MODEL_SELECTION,
};
use crate::eval::delta_m::delta_m;
use crate::eval::seeds::{over_seeds, OverSeeds};
use crate::report::baselines::Baselines;
use crate::report::files::TableInfo;
use crate::report::tables::PUBLISHED;

/// Δm (percent) of `group` over `baseline` with its sample std over the group's seeds: each seed's
/// per-attribute accuracies against the baseline's mean over its seeds (Δm is linear in the
/// method's accuracies, so the mean of these is Δm of the seed means). The baseline's own Δm is 0.
pub fn group_delta_m(runs: &[Run], group: &Group, baseline: &Group) -> Option<OverSeeds> {
    let attrs = attributes(runs, &[group, baseline]);
    let base: Vec<Option<f64>> =
        attrs.iter().map(|a| baseline.stat(runs, |m| task_value(m, a, false)).map(|s| s.mean)).collect();
    let per_seed: Vec<f64> = group
        .runs
        .iter()
        .filter_map(|&i| {
            let acc: Vec<Option<f64>> = attrs.iter().map(|a| task_value(&runs[i].metrics, a, false)).collect();
            delta_m(&acc, &base)
        })
        .collect();
    let mut s = over_seeds(&per_seed)?;
    if group == baseline {
        s.mean = 0.0;
    }
    Some(s)
}

fn delta_m_of(runs: &[Run], groups: &[Group], g: &Group, baselines: &[DeltaMBaseline]) -> Option<OverSeeds> {
    let b = baselines.iter().find(|b| b.format == g.format)?.group?;
    group_delta_m(runs, g, &groups[b])
}

/// What a majority-class row is, as its `reference` cell says.
const MAJORITY_REFERENCE: &str =
    "always the commoner label of each attribute on the evaluated rows (the rate every method must beat)";

/// One row of Table 1 (percent).
#[derive(Debug, Clone, PartialEq)]
pub struct Table1Row {
    pub method: String,
    pub kind: String,
    pub mean_accuracy_pct: Option<f64>,
    pub std_pct: Option<f64>,
    pub seeds: Option<u32>,
    pub ma_pct: Option<f64>,
    pub delta_m_pct: Option<f64>,
    pub delta_m_std: Option<f64>,
    pub reference: String,
}

impl Table1Row {
    /// A row with one given number and no seeds, std or Δm (a published or majority-class row).
    fn fixed(method: String, kind: String, mean_accuracy_pct: Option<f64>, reference: String) -> Table1Row {
        Table1Row {
            method,
            kind,
            mean_accuracy_pct,
            std_pct: None,
            seeds: None,
            ma_pct: None,
            delta_m_pct: None,
            delta_m_std: None,
            reference,
        }
    }
}

/// Table 1's rows: the published means (filtered by `published`), then the measured methods.
pub fn table1(
    baselines: &Baselines,
    published: &Published,
    runs: &[Run],
    groups: &[Group],
    delta_m: &[DeltaMBaseline],
) -> Vec<Table1Row> {
    let mut rows: Vec<Table1Row> = baselines
        .table1
        .iter()
        .filter(|r| published.includes(&r.method))
        .map(|r| Table1Row::fixed(r.method.clone(), PUBLISHED.to_string(), Some(r.mean_accuracy), r.source.clone()))
        .collect();
    for g in groups {
        let acc = g.stat(runs, |m| m.mean_accuracy);
        let bal = g.stat(runs, |m| m.mean_balanced_accuracy);
        let dm = delta_m_of(runs, groups, g, delta_m);
        rows.push(Table1Row {
            method: g.method.clone(),
            kind: measured_kind(&g.source),
            mean_accuracy_pct: pct(acc.as_ref().map(|s| s.mean)),
            std_pct: pct(acc.as_ref().and_then(|s| s.std)),
            seeds: Some(g.runs.len() as u32),
            ma_pct: pct(bal.map(|s| s.mean)),
            delta_m_pct: dm.as_ref().map(|s| s.mean),
            delta_m_std: dm.and_then(|s| s.std),
            reference: format!("awmt runs: {}", g.run_names(runs)),
        });
    }
    // Last: the floor every measured row is read against.
    let all: Vec<&Group> = groups.iter().collect();
    if let (Some(first), Some(rate)) = (groups.first(), mean_majority_rate(runs, &all, &attributes(runs, &all))) {
        rows.push(Table1Row::fixed(MAJORITY.into(), majority_kind(&first.source), pct(Some(rate)), MAJORITY_REFERENCE.into()));
    }
    rows
}

pub fn table1_frame(rows: &[Table1Row]) -> Result<DataFrame> {
    frame(vec![
        Column::new("method".into(), rows.iter().map(|r| r.method.clone()).collect::<Vec<_>>()),
        Column::new("kind".into(), rows.iter().map(|r| r.kind.clone()).collect::<Vec<_>>()),
        Column::new("mean_accuracy_pct".into(), rows.iter().map(|r| r.mean_accuracy_pct).collect::<Vec<_>>()),
        Column::new("std_pct".into(), rows.iter().map(|r| r.std_pct).collect::<Vec<_>>()),
        Column::new("seeds".into(), rows.iter().map(|r| r.seeds).collect::<Vec<_>>()),
        Column::new("mA_pct".into(), rows.iter().map(|r| r.ma_pct).collect::<Vec<_>>()),
        Column::new("delta_m_pct".into(), rows.iter().map(|r| r.delta_m_pct).collect::<Vec<_>>()),
        Column::new("delta_m_std".into(), rows.iter().map(|r| r.delta_m_std).collect::<Vec<_>>()),
        Column::new("reference".into(), rows.iter().map(|r| r.reference.clone()).collect::<Vec<_>>()),
    ])
}

fn delta_m_sentence(delta_m: &[DeltaMBaseline]) -> String {
    let notes: Vec<String> = delta_m
        .iter()
        .map(|d| if delta_m.len() > 1 { format!("{}: {}", format_title(&d.format), d.note) } else { d.note.clone() })
        .collect();
    format!(
        "Δm = (100/M) Σ_j (acc_m,j − acc_sep,j) / acc_sep,j over the M attributes, mean ± sample std over the method's seeds (positive: the multi-task model beats the separate models). {}",
        notes.join(" ")
    )
}

pub fn table1_info(attribute_count: usize, delta_m: &[DeltaMBaseline]) -> TableInfo {
    TableInfo {
        stem: "table1".into(),
        title: "Table 1 — mean accuracy on CelebA".into(),
        caption: format!(
            "Published rows are the means over all 40 attributes their authors reported on the real CelebA test set. Measured rows are this pipeline's runs over {attribute_count} attributes (mean ± sample std over seeds; mA = mean balanced accuracy; model: {MODEL_SELECTION}). “{MAJORITY}” is the accuracy of always answering each attribute's commoner label on the same test rows. {}",
            delta_m_sentence(delta_m)
        ),
    }
}

/// One row of Table 2 (percent).
#[derive(Debug, Clone, PartialEq)]
pub struct Table2Row {
    pub method: String,
    pub kind: String,
    pub market_pct: Option<f64>,
    pub market_std: Option<f64>,
    pub duke_pct: Option<f64>,
    pub duke_std: Option<f64>,
    /// `"<market seeds> / <duke seeds>"`.
    pub seeds: Option<String>,
    pub delta_m_market_pct: Option<f64>,
    pub delta_m_market_std: Option<f64>,
    pub delta_m_duke_pct: Option<f64>,
    pub delta_m_duke_std: Option<f64>,
    pub reference: String,
}

impl Table2Row {
    /// A row with given Market and Duke numbers and no seeds, std or Δm (published, majority class).
    fn fixed(method: String, kind: String, market_pct: Option<f64>, duke_pct: Option<f64>, reference: String) -> Table2Row {
        Table2Row {
            method,
            kind,
            market_pct,
            market_std: None,
            duke_pct,
            duke_std: None,
            seeds: None,
            delta_m_market_pct: None,
            delta_m_market_std: None,
            delta_m_duke_pct: None,
            delta_m_duke_std: None,
            reference,
        }
    }
}

/// Table 2's rows: published first, then one row per (method, data source), Market and Duke
/// runs of a method side by side.
pub fn table2(
    baselines: &Baselines,
    published: &Published,
    runs: &[Run],
    groups: &[Group],
    delta_m: &[DeltaMBaseline],
) -> Vec<Table2Row> {
    let mut rows: Vec<Table2Row> = baselines
        .table2
        .iter()
        .filter(|r| published.includes(&r.method))
        .map(|r| Table2Row::fixed(r.method.clone(), PUBLISHED.to_string(), r.market, r.duke, r.source.clone()))
        .collect();
    let mut keys: Vec<(String, String)> = Vec::new();
    for g in groups {
        let key = (g.method.clone(), g.source.clone());
        if !keys.contains(&key) {
            keys.push(key);
        }
    }
    for (method, source) in keys {
        let find = |f: &str| groups.iter().find(|g| g.method == method && g.source == source && g.format == f);
        let (gm, gd) = (find("market"), find("duke"));
        let acc = |g: Option<&Group>| g.and_then(|g| g.stat(runs, |x| x.mean_accuracy));
        let dm = |g: Option<&Group>| g.and_then(|g| delta_m_of(runs, groups, g, delta_m));
        let (sm, sd, dmm, dmd) = (acc(gm), acc(gd), dm(gm), dm(gd));
        let count = |g: Option<&Group>| g.map_or(0, |g| g.runs.len());
        let names: Vec<String> = [gm, gd].iter().flatten().map(|g| g.run_names(runs)).collect();
        rows.push(Table2Row {
            method: method.clone(),
            kind: measured_kind(&source),
            market_pct: pct(sm.as_ref().map(|s| s.mean)),
            market_std: pct(sm.as_ref().and_then(|s| s.std)),
            duke_pct: pct(sd.as_ref().map(|s| s.mean)),
            duke_std: pct(sd.as_ref().and_then(|s| s.std)),
            seeds: Some(format!("{} / {}", count(gm), count(gd))),
            delta_m_market_pct: dmm.as_ref().map(|s| s.mean),
            delta_m_market_std: dmm.and_then(|s| s.std),
            delta_m_duke_pct: dmd.as_ref().map(|s| s.mean),
            delta_m_duke_std: dmd.and_then(|s| s.std),
            reference: format!("awmt runs: {}", names.join(", ")),
        });
    }
    // Last: the floor every measured row is read against, per dataset.
    let rate = |f: &str| {
        let gs: Vec<&Group> = groups.iter().filter(|g| g.format == f).collect();
        mean_majority_rate(runs, &gs, &attributes(runs, &gs))
    };
    if let Some(first) = groups.first() {
        let (m, d) = (rate("market"), rate("duke"));
        if m.is_some() || d.is_some() {
            rows.push(Table2Row::fixed(MAJORITY.into(), majority_kind(&first.source), pct(m), pct(d), MAJORITY_REFERENCE.into()));
        }
    }
    rows
}

pub fn table2_frame(rows: &[Table2Row]) -> Result<DataFrame> {
    let num = |f: fn(&Table2Row) -> Option<f64>| rows.iter().map(f).collect::<Vec<_>>();
    frame(vec![
        Column::new("method".into(), rows.iter().map(|r| r.method.clone()).collect::<Vec<_>>()),
        Column::new("kind".into(), rows.iter().map(|r| r.kind.clone()).collect::<Vec<_>>()),
        Column::new("market1501_pct".into(), num(|r| r.market_pct)),
        Column::new("market1501_std".into(), num(|r| r.market_std)),
        Column::new("duke_pct".into(), num(|r| r.duke_pct)),
        Column::new("duke_std".into(), num(|r| r.duke_std)),
        Column::new("seeds (market / duke)".into(), rows.iter().map(|r| r.seeds.clone()).collect::<Vec<_>>()),
        Column::new("delta_m_market_pct".into(), num(|r| r.delta_m_market_pct)),
        Column::new("delta_m_market_std".into(), num(|r| r.delta_m_market_std)),
        Column::new("delta_m_duke_pct".into(), num(|r| r.delta_m_duke_pct)),
        Column::new("delta_m_duke_std".into(), num(|r| r.delta_m_duke_std)),
        Column::new("reference".into(), rows.iter().map(|r| r.reference.clone()).collect::<Vec<_>>()),
    ])
}

pub fn table2_info(delta_m: &[DeltaMBaseline]) -> TableInfo {
    TableInfo {
        stem: "table2".into(),
        title: "Table 2 — mean accuracy (%) on Market-1501 and DukeMTMC-reID attributes".into(),
        caption: format!(
            "Published rows are the numbers their authors reported on the real datasets (official 12- and 10-attribute protocols). Measured rows are this pipeline's runs (mean ± sample std over seeds; model: {MODEL_SELECTION}). “{MAJORITY}” is the accuracy of always answering each attribute's commoner label on the same test rows. {}",
            delta_m_sentence(delta_m)
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::run;
    use super::super::{delta_m_baselines, group_runs};
    use super::*;

    fn fixture() -> (Vec<Run>, Vec<Group>) {
        let runs = vec![
            run("e[awmt]", "awmt", "celeba", &[("A", 0.9), ("B", 0.6)], false),
            run("e[awmt2]", "awmt", "celeba", &[("A", 0.8), ("B", 0.7)], false),
            run("e[sep]", "sep", "celeba", &[("A", 0.8), ("B", 0.75)], true),
        ];
        let groups = group_runs(&runs).unwrap();
        (runs, groups)
    }

    #[test]
    fn delta_m_by_hand_with_its_spread_over_seeds() {
        let (runs, groups) = fixture();
        // Seed 1: ((0.9−0.8)/0.8 + (0.6−0.75)/0.75)/2 = (0.125 − 0.2)/2 = −3.75%.
        // Seed 2: ((0.8−0.8)/0.8 + (0.7−0.75)/0.75)/2 = −3.333…%.
        let d = group_delta_m(&runs, &groups[0], &groups[1]).unwrap();
        let (s1, s2) = (-3.75, -100.0 / 30.0);
        assert!((d.mean - (s1 + s2) / 2.0).abs() < 1e-9, "{d:?}");
        assert!((d.std.unwrap() - (s1 - s2).abs() / 2f64.sqrt()).abs() < 1e-9);
        let own = group_delta_m(&runs, &groups[1], &groups[1]).unwrap();
        assert_eq!((own.mean, own.std), (0.0, None));
    }

    #[test]
    fn table1_has_published_then_measured_rows_with_delta_m() {
        let (runs, groups) = fixture();
        let dm = delta_m_baselines(&runs, &groups, None).unwrap();
        let baselines = Baselines::embedded().unwrap();
        let published = Published::Names(vec!["Moon".into()]);
        let rows = table1(&baselines, &published, &runs, &groups, &dm);
        assert_eq!(rows.iter().map(|r| r.method.as_str()).collect::<Vec<_>>(), ["Moon", "awmt", "sep", MAJORITY]);
        assert_eq!((rows[0].kind.as_str(), rows[0].delta_m_pct), (PUBLISHED, None));
        assert_eq!((rows[3].kind.as_str(), rows[3].mean_accuracy_pct), ("baseline (synthetic test labels)", Some(60.0)));
        let awmt = &rows[1];
        assert!((awmt.mean_accuracy_pct.unwrap() - 75.0).abs() < 1e-9);
        assert!((awmt.std_pct.unwrap() - 0.0).abs() < 1e-9, "both seeds average 75%");
        assert_eq!(awmt.seeds, Some(2));
        assert!(awmt.delta_m_pct.unwrap() < 0.0 && awmt.delta_m_std.is_some());
        assert_eq!(rows[2].delta_m_pct, Some(0.0));
        assert_eq!(awmt.reference, "awmt runs: e[awmt], e[awmt2]");
        let f = table1_frame(&rows).unwrap();
        assert_eq!(f.shape(), (4, 9));
        let info = table1_info(2, &dm);
        assert!(info.caption.contains("last iteration") && info.caption.contains("`sep`"), "{}", info.caption);
    }

    #[test]
    fn table2_sets_market_and_duke_side_by_side() {
        let runs = vec![
            run("m[awmt]", "awmt", "market", &[("gender", 0.9), ("hat", 0.9)], false),
            run("d[awmt]", "awmt", "duke", &[("gender", 0.8), ("hat", 0.8)], false),
            run("m[sep]", "sep", "market", &[("gender", 0.85), ("hat", 0.85)], true),
        ];
        let groups = group_runs(&runs).unwrap();
        let dm = delta_m_baselines(&runs, &groups, None).unwrap();
        let rows = table2(&Baselines::embedded().unwrap(), &Published::Keyword(super::super::PublishedKeyword::None), &runs, &groups, &dm);
        assert_eq!(rows.len(), 3);
        assert_eq!((rows[2].method.as_str(), rows[2].market_pct, rows[2].duke_pct), (MAJORITY, Some(60.0), Some(60.0)));
        let awmt = &rows[0];
        assert_eq!((awmt.market_pct, awmt.duke_pct), (Some(90.0), Some(80.0)));
        assert_eq!(awmt.seeds.as_deref(), Some("1 / 1"));
        assert!((awmt.delta_m_market_pct.unwrap() - 100.0 * 0.05 / 0.85).abs() < 1e-9);
        assert_eq!(awmt.delta_m_duke_pct, None, "no separate models on Duke");
        assert_eq!(rows[1].duke_pct, None);
        assert_eq!(table2_frame(&rows).unwrap().shape(), (3, 12));
        assert!(table2_info(&dm).caption.contains("No Δm: no method evaluates single-task"));
    }
}
