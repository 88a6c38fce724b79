//! The files the results kinds exchange (docs/STAGES.md), each with its one reader and writer:
//! `compare.json` and `per_attribute_long` (written by `compare`, read by `plot` and `report`) and
//! `figures.json` (written by `plot`, read by `report`). Torch-free, so the front end reads them.

use std::path::Path;

use anyhow::{bail, Context as _, Result};
use polars::prelude::{Column, DataFrame, DataType};
use serde::{Deserialize, Serialize};

use super::tables;

/// Which of the paper's tables a comparison lays out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Layout {
    /// Table 1: CelebA.
    Celeba,
    /// Table 2: Market-1501 and DukeMTMC-reID.
    Pedestrian,
}

/// One table a comparison wrote (`<stem>.csv/.md/.html/.parquet`), with its title and caption.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TableInfo {
    pub stem: String,
    pub title: String,
    pub caption: String,
}

/// How the statistics of one dataset format were computed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FormatStatistics {
    pub format: String,
    /// What the bootstrap and the sign-flip test resample (`identities`, `images (identity
    /// unknown)`, …), one entry per distinct answer over the method pairs.
    pub units: Vec<String>,
    /// The method Δm is measured against (the separate models), if any.
    pub delta_m_baseline: Option<String>,
}

/// The settings behind every interval and p-value of a comparison.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StatisticsSettings {
    pub resamples: usize,
    pub level: f64,
    pub seed: u64,
    pub flips: usize,
    pub alpha: f64,
    /// How several seeds per method enter the tests.
    pub seed_pairing: String,
    pub multiple_testing: String,
    pub formats: Vec<FormatStatistics>,
}

/// `compare.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CompareSummary {
    pub table: Layout,
    pub formats: Vec<String>,
    pub sources: Vec<String>,
    pub synthetic: bool,
    /// Which model of each training run was evaluated.
    pub model_selection: String,
    pub statistics: StatisticsSettings,
    pub methods: Vec<serde_json::Value>,
    pub published: Vec<serde_json::Value>,
    pub runs: Vec<serde_json::Value>,
    pub tables: Vec<TableInfo>,
    pub params: serde_json::Value,
}

impl CompareSummary {
    pub const FILE: &'static str = "compare.json";

    pub fn load(dir: &Path) -> Result<CompareSummary> {
        let path = dir.join(Self::FILE);
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("reading {} (is this input a `compare` stage?)", path.display()))?;
        serde_json::from_str(&text)
            .with_context(|| format!("{}: not a valid compare summary; re-run the compare stage", path.display()))
    }

    pub fn save(&self, dir: &Path) -> Result<()> {
        crate::util::write_json(&dir.join(Self::FILE), self)
    }
}

/// One entry of `figures.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FigureInfo {
    pub stem: String,
    pub kind: String,
    pub title: String,
    pub caption: String,
}

impl FigureInfo {
    pub const FILE: &'static str = "figures.json";

    pub fn load_all(dir: &Path) -> Result<Vec<FigureInfo>> {
        let path = dir.join(Self::FILE);
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("reading {} (is this input a `plot` stage?)", path.display()))?;
        serde_json::from_str(&text).with_context(|| format!("{}: not a valid figure list", path.display()))
    }

    pub fn save_all(dir: &Path, figures: &[FigureInfo]) -> Result<()> {
        crate::util::write_json(&dir.join(Self::FILE), &figures)
    }
}

/// One row of `per_attribute_long`: every per-attribute number with its method (percent).
#[derive(Debug, Clone, PartialEq)]
pub struct PerAttributeRow {
    pub format: String,
    pub attribute: String,
    pub method: String,
    /// `published` or `measured (… data)`.
    pub kind: String,
    pub accuracy_pct: Option<f64>,
    /// Sample std over seeds.
    pub std_pct: Option<f64>,
    pub seeds: Option<u32>,
    pub ma_pct: Option<f64>,
    /// Images scored (first seed).
    pub n: Option<u64>,
}

/// Stem of the long per-attribute table.
pub const PER_ATTRIBUTE_LONG: &str = "per_attribute_long";

/// The long per-attribute table as a frame with the documented columns.
pub fn per_attribute_long_frame(rows: &[PerAttributeRow]) -> Result<DataFrame> {
    let text = |f: fn(&PerAttributeRow) -> &str| rows.iter().map(|r| f(r).to_string()).collect::<Vec<_>>();
    let num = |f: fn(&PerAttributeRow) -> Option<f64>| rows.iter().map(f).collect::<Vec<_>>();
    Ok(DataFrame::new_infer_height(vec![
        Column::new("format".into(), text(|r| &r.format)),
        Column::new("attribute".into(), text(|r| &r.attribute)),
        Column::new("method".into(), text(|r| &r.method)),
        Column::new("kind".into(), text(|r| &r.kind)),
        Column::new("accuracy_pct".into(), num(|r| r.accuracy_pct)),
        Column::new("std_pct".into(), num(|r| r.std_pct)),
        Column::new("seeds".into(), rows.iter().map(|r| r.seeds).collect::<Vec<_>>()),
        Column::new("mA_pct".into(), num(|r| r.ma_pct)),
        Column::new("n".into(), rows.iter().map(|r| r.n).collect::<Vec<_>>()),
    ])?)
}

/// Writes `per_attribute_long` in every table format.
pub fn write_per_attribute_long(dir: &Path, rows: &[PerAttributeRow]) -> Result<()> {
    tables::write_all(&mut per_attribute_long_frame(rows)?, dir, PER_ATTRIBUTE_LONG)
}

/// Reads `per_attribute_long.parquet` back.
pub fn read_per_attribute_long(dir: &Path) -> Result<Vec<PerAttributeRow>> {
    let df = tables::read(dir, PER_ATTRIBUTE_LONG)?;
    let path = dir.join(format!("{PER_ATTRIBUTE_LONG}.parquet"));
    let column = |name: &str, dtype: &DataType| -> Result<Column> {
        let col = df.column(name).with_context(|| format!("{}: no column `{name}`", path.display()))?;
        col.cast(dtype).with_context(|| format!("{}: column `{name}` is not {dtype}", path.display()))
    };
    let strings = |name: &str| -> Result<Vec<String>> {
        let col = column(name, &DataType::String)?;
        col.str()?
            .iter()
            .enumerate()
            .map(|(row, v)| match v {
                Some(v) => Ok(v.to_string()),
                None => bail!("{}: row {}: empty `{name}`; re-run the compare stage", path.display(), row + 1),
            })
            .collect()
    };
    let floats = |name: &str| -> Result<Vec<Option<f64>>> { Ok(column(name, &DataType::Float64)?.f64()?.iter().collect()) };
    let (format, attribute, method, kind) = (strings("format")?, strings("attribute")?, strings("method")?, strings("kind")?);
    let (accuracy, std, ma) = (floats("accuracy_pct")?, floats("std_pct")?, floats("mA_pct")?);
    let seeds: Vec<Option<u32>> = column("seeds", &DataType::UInt32)?.u32()?.iter().collect();
    let n: Vec<Option<u64>> = column("n", &DataType::UInt64)?.u64()?.iter().collect();
    Ok((0..df.height())
        .map(|r| PerAttributeRow {
            format: format[r].clone(),
            attribute: attribute[r].clone(),
            method: method[r].clone(),
            kind: kind[r].clone(),
            accuracy_pct: accuracy[r],
            std_pct: std[r],
            seeds: seeds[r],
            ma_pct: ma[r],
            n: n[r],
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn per_attribute_long_round_trips() {
        let rows = vec![
            PerAttributeRow {
                format: "celeba".into(),
                attribute: "Smiling".into(),
                method: "AWMT".into(),
                kind: "measured (synthetic data)".into(),
                accuracy_pct: Some(91.25),
                std_pct: Some(0.5),
                seeds: Some(3),
                ma_pct: Some(88.0),
                n: Some(1200),
            },
            PerAttributeRow {
                format: "celeba".into(),
                attribute: "Smiling".into(),
                method: "Moon".into(),
                kind: tables::PUBLISHED.into(),
                accuracy_pct: Some(92.6),
                std_pct: None,
                seeds: None,
                ma_pct: None,
                n: None,
            },
        ];
        let dir = tempfile::tempdir().unwrap();
        write_per_attribute_long(dir.path(), &rows).unwrap();
        assert_eq!(read_per_attribute_long(dir.path()).unwrap(), rows);
        assert!(dir.path().join("per_attribute_long.csv").exists());
    }

    #[test]
    fn summaries_name_the_file_and_the_fix() {
        let dir = tempfile::tempdir().unwrap();
        let err = CompareSummary::load(dir.path()).unwrap_err();
        assert!(format!("{err:#}").contains("compare.json"), "{err:#}");
        std::fs::write(dir.path().join("compare.json"), "{}").unwrap();
        let err = CompareSummary::load(dir.path()).unwrap_err();
        assert!(format!("{err:#}").contains("re-run the compare stage"), "{err:#}");
        let figs = vec![FigureInfo { stem: "a".into(), kind: "k".into(), title: "t".into(), caption: "c".into() }];
        FigureInfo::save_all(dir.path(), &figs).unwrap();
        assert_eq!(FigureInfo::load_all(dir.path()).unwrap(), figs);
    }
}
