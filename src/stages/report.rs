//! `kind: report` — assembles one self-contained HTML page (`report.html`) and a Markdown summary
//! (`summary.md`) from comparisons, figures and datasets.
//!
//! ```yaml
//! report:
//!   kind: report
//!   inputs: {compare: [table1, table2], figures: figures, dataset: [faces, pedestrians]}
//!   with: {title: "AWMT quickstart", embed: true}
//! ```
//! Inputs (all optional, at least one of `compare`/`figures` needed):
//! - `compare` (one or more `compare` outputs): Table 1/2 first, then the other tables.
//! - `figures` (one or more `plot` outputs).
//! - `dataset` (one or more directories, e.g. `synth` outputs): a `contact_sheet.png` is shown,
//!   and the data source (`synth.json` or `tasks.json`) feeds the synthetic-data banner.
//! - `run_record` (optional JSON file the orchestrator may provide: durations, versions, host):
//!   shown under provenance. Nothing else in the page depends on time or machine, so the same
//!   inputs give the same bytes.
//!
//! Parameters (`with:`):
//! - `title` (default `awmt report — <pipeline>`).
//! - `embed` (default `true`): figures inside the page as data URIs (one file to send around);
//!   `false` links them relatively. Either way PNG and SVG copies are written to `figures/`.
//!
//! Outputs: `report.html`, `summary.md`, `figures/*.png|svg`.

use std::path::Path;

use anyhow::{bail, Context as _, Result};
use serde::{Deserialize, Serialize};

use super::{canonical_params, InputSlot, ParamError, StageContext, StageKind};
use crate::report::html::{base64, render, summary_markdown, FigureEntry, ReportPage, TableSection};
use crate::report::files::{CompareSummary, FigureInfo};
use crate::report::tables;
use crate::report::dag;

pub struct Report;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct Params {
    title: Option<String>,
    embed: bool,
}

impl Default for Params {
    fn default() -> Self {
        Params { title: None, embed: true }
    }
}

fn read_bytes(path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path).with_context(|| format!("reading {}", path.display()))
}

fn copy(from: &Path, to: &Path) -> Result<()> {
    std::fs::copy(from, to).with_context(|| format!("copying {} to {}", from.display(), to.display()))?;
    Ok(())
}

/// `(key, value)` rows from a JSON object, nested values as compact JSON.
fn flatten(value: &serde_json::Value) -> Vec<(String, String)> {
    let mut rows = match value {
        serde_json::Value::Object(map) => map
            .iter()
            .map(|(k, v)| {
                let text = match v {
                    serde_json::Value::String(s) => s.clone(),
                    other => other.to_string(),
                };
                (k.clone(), text)
            })
            .collect(),
        other => vec![("record".into(), other.to_string())],
    };
    rows.sort();
    rows
}

/// `basic: equal, seed 1, 120 iterations; …` from the training settings a run recorded.
fn training_text(entries: &[serde_json::Value]) -> String {
    let text = |v: &serde_json::Value| match v {
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    entries
        .iter()
        .map(|e| {
            let mut parts = Vec::new();
            if let Some(w) = e.get("weighting") {
                parts.push(match w.get("method") {
                    Some(m) if w.as_object().is_some_and(|o| o.len() == 1) => text(m),
                    _ => text(w),
                });
            }
            if let Some(seed) = e.get("seed") {
                parts.push(format!("seed {}", text(seed)));
            }
            if let Some(it) = e.get("iterations") {
                parts.push(format!("{} iterations", text(it)));
            }
            let stage = e.get("stage").map(text).unwrap_or_default();
            if parts.is_empty() {
                stage
            } else {
                format!("{stage}: {}", parts.join(", "))
            }
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// The data source a dataset directory declares, if any.
fn dataset_source(dir: &Path) -> Result<Option<String>> {
    for file in ["synth.json", "tasks.json"] {
        let path = dir.join(file);
        if path.exists() {
            let text = std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
            let v: serde_json::Value =
                serde_json::from_str(&text).with_context(|| format!("{}: not valid JSON", path.display()))?;
            if let Some(s) = v.get("source").and_then(|s| s.as_str()) {
                return Ok(Some(s.to_string()));
            }
        }
    }
    Ok(None)
}

impl StageKind for Report {
    fn name(&self) -> &'static str {
        "report"
    }
    fn version(&self) -> u32 {
        1
    }
    fn input_slots(&self) -> &'static [InputSlot] {
        &[
            InputSlot { name: "compare", required: false, many: true },
            InputSlot { name: "figures", required: false, many: true },
            InputSlot { name: "dataset", required: false, many: true },
            InputSlot { name: "run_record", required: false, many: false },
        ]
    }
    fn check_params(&self, with: &serde_json::Value) -> Result<serde_json::Value, ParamError> {
        let canonical = canonical_params::<Params>(with)?;
        let p: Params = serde_json::from_value(canonical.clone()).map_err(|e| ParamError::new(&[], e.to_string()))?;
        if p.title.as_deref().is_some_and(|t| t.trim().is_empty()) {
            return Err(ParamError::new(&["title"], "must not be empty (leave it out for the default)"));
        }
        Ok(canonical)
    }
    fn provenance_slot(&self) -> Option<&'static str> {
        Some("run_record")
    }

    fn run(&self, ctx: &StageContext) -> Result<()> {
        let p: Params = ctx.params()?;
        let (compares, plots, datasets) = (ctx.inputs("compare"), ctx.inputs("figures"), ctx.inputs("dataset"));
        if compares.is_empty() && plots.is_empty() {
            bail!("stage `{}` has nothing to report: give it `compare` and/or `figures` inputs", ctx.stage);
        }
        let fig_dir = ctx.out_dir.join("figures");
        std::fs::create_dir_all(&fig_dir).with_context(|| format!("creating {}", fig_dir.display()))?;

        let mut synthetic = false;
        let mut sources: Vec<String> = Vec::new();
        let mut headline = Vec::new();
        let mut rest = Vec::new();
        let mut runs = Vec::new();
        let mut provenance: Vec<(String, String)> = vec![
            ("pipeline".into(), ctx.pipeline.clone()),
            ("report stage".into(), ctx.stage.clone()),
            ("report parameters".into(), ctx.params.to_string()),
        ];
        for (slot, items) in ctx.inputs.iter() {
            let names: Vec<String> = items
                .iter()
                .map(|i| {
                    i.stage.clone().unwrap_or_else(|| {
                        i.path.file_name().map(|f| f.to_string_lossy().into_owned()).unwrap_or_default()
                    })
                })
                .collect();
            provenance.push((format!("input `{slot}`"), names.join(", ")));
        }
        for (k, item) in compares.iter().enumerate() {
            let summary = CompareSummary::load(&item.path)?;
            synthetic |= summary.synthetic;
            sources.extend(summary.sources.iter().cloned());
            let name = item.stage.clone().unwrap_or_else(|| format!("compare {}", k + 1));
            provenance.push((format!("`{name}` parameters"), summary.params.to_string()));
            for info in &summary.tables {
                let frame = tables::read(&item.path, &info.stem)?;
                let id = format!("c{k}-{}", info.stem);
                let section = TableSection {
                    html: tables::html(&frame, &id)?,
                    markdown: tables::markdown(&frame)?,
                    rows: frame.height(),
                    id,
                    title: info.title.clone(),
                    caption: info.caption.clone(),
                };
                if info.stem == "table1" || info.stem == "table2" {
                    headline.push(section);
                } else {
                    rest.push(section);
                }
            }
            for r in &summary.runs {
                let s = |key: &str| match r.get(key) {
                    Some(serde_json::Value::String(s)) => s.clone(),
                    Some(v) => v.to_string(),
                    None => String::new(),
                };
                let training =
                    r.get("training").and_then(|t| t.as_array()).map(|t| training_text(t)).unwrap_or_default();
                runs.push(vec![
                    s("stage"),
                    s("method"),
                    s("format"),
                    s("source"),
                    s("split"),
                    s("model_stages"),
                    training,
                ]);
            }
        }
        let mut figures = Vec::new();
        let mut used: Vec<String> = Vec::new();
        for item in plots {
            for info in FigureInfo::load_all(&item.path)? {
                let mut stem = info.stem.clone();
                let mut n = 2;
                while used.contains(&stem) {
                    stem = format!("{}_{n}", info.stem);
                    n += 1;
                }
                used.push(stem.clone());
                let png = item.path.join(format!("{}.png", info.stem));
                let svg = item.path.join(format!("{}.svg", info.stem));
                copy(&png, &fig_dir.join(format!("{stem}.png")))?;
                let has_svg = svg.exists();
                if has_svg {
                    copy(&svg, &fig_dir.join(format!("{stem}.svg")))?;
                }
                let file = format!("figures/{stem}.png");
                let src = if p.embed {
                    format!("data:image/png;base64,{}", base64(&read_bytes(&png)?))
                } else {
                    file.clone()
                };
                figures.push(FigureEntry {
                    id: format!("fig-{stem}"),
                    title: info.title.clone(),
                    caption: info.caption.clone(),
                    src,
                    svg: (has_svg && !p.embed).then(|| format!("figures/{stem}.svg")),
                    file,
                });
            }
        }
        let mut contact_sheets = Vec::new();
        for (k, item) in datasets.iter().enumerate() {
            if let Some(source) = dataset_source(&item.path)? {
                synthetic |= source != "real";
                sources.push(source);
            }
            let sheet = item.path.join("contact_sheet.png");
            if sheet.exists() {
                let name = item.stage.clone().unwrap_or_else(|| format!("dataset {}", k + 1));
                let file = format!("figures/contact_sheet_{}.png", k + 1);
                copy(&sheet, &ctx.out_dir.join(&file))?;
                let src = if p.embed {
                    format!("data:image/png;base64,{}", base64(&read_bytes(&sheet)?))
                } else {
                    file.clone()
                };
                contact_sheets.push(FigureEntry {
                    id: format!("contact-sheet-{}", k + 1),
                    title: format!("Example images of `{name}`"),
                    caption: "Images with their labels, as the dataset stage wrote them.".into(),
                    src,
                    svg: None,
                    file,
                });
            }
        }
        sources.sort();
        sources.dedup();
        provenance.push(("data source".into(), if sources.is_empty() { "unknown".into() } else { sources.join(", ") }));
        let (mut pipeline_svg, mut timeline_svg, mut resources_html) = (None, None, None);
        let run_record = match ctx.inputs("run_record") {
            [] => Vec::new(),
            [one] => {
                let text = std::fs::read_to_string(&one.path)
                    .with_context(|| format!("reading run record {}", one.path.display()))?;
                let mut v: serde_json::Value = serde_json::from_str(&text)
                    .with_context(|| format!("{}: the run record must be a JSON file", one.path.display()))?;
                // The stage graph and the run's traces are drawn, not listed.
                if let Some(obj) = v.as_object_mut() {
                    let graph: Vec<dag::GraphStage> = obj.remove("graph").and_then(|g| serde_json::from_value(g).ok()).unwrap_or_default();
                    let traces: Vec<crate::trace_record::StageTrace> = obj.remove("traces").and_then(|t| serde_json::from_value(t).ok()).unwrap_or_default();
                    if !graph.is_empty() {
                        pipeline_svg = Some(dag::graph_svg(&graph));
                        timeline_svg = dag::timeline_svg(&traces);
                        resources_html = (!traces.is_empty()).then(|| dag::resources_html(&traces));
                    }
                }
                flatten(&v)
            }
            many => bail!("stage `{}`: input `run_record` must name one file, got {}", ctx.stage, many.len()),
        };
        let page = ReportPage {
            title: p.title.clone().unwrap_or_else(|| format!("awmt report — {}", ctx.pipeline)),
            pipeline: ctx.pipeline.clone(),
            stage: ctx.stage.clone(),
            synthetic,
            sources,
            headline,
            tables: rest,
            figures,
            contact_sheets,
            provenance,
            runs,
            run_record,
            pipeline_svg,
            timeline_svg,
            resources_html,
        };
        let html = render(&page)?;
        let path = ctx.out_dir.join("report.html");
        std::fs::write(&path, html).with_context(|| format!("writing {}", path.display()))?;
        let path = ctx.out_dir.join("summary.md");
        std::fs::write(&path, summary_markdown(&page)).with_context(|| format!("writing {}", path.display()))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parameters_default_and_validate() {
        let c = Report.check_params(&serde_json::Value::Null).unwrap();
        assert_eq!(c, serde_json::json!({"title": null, "embed": true}));
        assert!(Report.check_params(&serde_json::json!({"title": ""})).is_err());
        assert!(Report.check_params(&serde_json::json!({"embedd": true})).is_err());
    }

    #[test]
    fn training_settings_read_compactly() {
        let t = training_text(&[
            serde_json::json!({"stage": "awmt", "weighting": {"method": "validation_loss_trend", "k": 50}, "seed": 3}),
            serde_json::json!({"stage": "basic", "weighting": {"method": "equal"}, "iterations": 10, "tasks": ["a"]}),
        ]);
        assert_eq!(t, "awmt: {\"k\":50,\"method\":\"validation_loss_trend\"}, seed 3; basic: equal, 10 iterations");
    }

    #[test]
    fn run_records_flatten() {
        let rows = flatten(&serde_json::json!({"host": "h", "durations": {"a": 1.5}}));
        assert_eq!(
            rows,
            vec![("durations".to_string(), "{\"a\":1.5}".to_string()), ("host".to_string(), "h".to_string())]
        );
    }
}
