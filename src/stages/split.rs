//! `kind: split` — any of the three dataset formats → `tasks.json` and train / val / test tables.
//!
//! Input `root`: a `synth` stage (its `release/` is used, `source: synthetic`) or a dataset folder
//! (`source: real`): CelebA flat or `Anno/`+`Eval/`+`Img/`; Market/Duke with `bounding_box_train/`,
//! `bounding_box_test/` and the attribute file (`market_attribute.mat` / `duke_attribute.mat`) at
//! the root or in `attribute/`. Parameters (`with:`):
//! - `format`: `celeba`, `market` or `duke`. Required.
//! - `val_fraction` (default 0.1) and `seed` (default 0): Market and Duke have no validation split,
//!   so this fraction of the *training identities*, drawn with `seed`, becomes `val`
//!   (identity-disjoint from `train`). CelebA uses its official partition (0 train, 1 val, 2 test)
//!   and ignores both.
//! - `on_bad_image` (`error` | `skip`, default `error`): a listed image that is missing, unreadable
//!   or damaged stops the stage with a list of the files; `skip` leaves those rows out and counts
//!   them in `split.json`. Every image is read and checked in parallel (`check_decodable`): a
//!   sequential JPEG's headers are parsed and every coded block walked, which catches truncation
//!   and corrupt image data at about a third of a decode's cost; PNGs and progressive JPEGs are
//!   decoded in full. A JPEG whose blocks are sound but that the decoder still refuses is caught
//!   by `prepare`, which decodes every image and names the file the same way.
//! - `tasks` (optional): a subset of task names, in the order wanted.
//! - `target` (`attributes` | `identity`, default `attributes`): `identity` replaces the attribute
//!   tasks by one C-way task `identity_class` whose classes are the identities of the `train` split (in
//!   increasing id order); rows of other identities (val/test of an identity-disjoint protocol) are
//!   masked. It is the label of a *pretext* task: a trunk pre-trained on it never sees an
//!   attribute label (see pipelines/quickstart.yaml). Not combinable with `tasks`.
//!
//! Outputs: `tasks.json`, `{train,val,test}.parquet` and `.csv` (`image`, `identity`, one Int32
//! column per task, null = masked; for Market/Duke colour tasks also a text column
//! `<task>__marked` listing every marked colour, e.g. `2;5`), and `split.json` (counts, skipped
//! images, parameters). Market/Duke `test` is the official evaluation set: the labelled
//! `bounding_box_test` images.

use anyhow::{Context as _, Result};
use serde::{Deserialize, Serialize};

use super::{canonical_params, InputSlot, ParamError, Resources, StageContext, StageKind};
use crate::data::splits::{build, resolve_input, OnBadImage, SplitOptions, SPLITS};

pub struct Split;

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    Celeba,
    Market,
    Duke,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BadImage {
    Error,
    Skip,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Params {
    pub format: Format,
    #[serde(default = "default_val_fraction")]
    pub val_fraction: f64,
    #[serde(default)]
    pub seed: u64,
    #[serde(default = "default_bad")]
    pub on_bad_image: BadImage,
    #[serde(default)]
    pub tasks: Option<Vec<String>>,
    #[serde(default)]
    pub target: Target,
}

/// What the label columns hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Target {
    /// The dataset's attribute tasks (the protocol).
    #[default]
    Attributes,
    /// One multiclass task: which training identity the image shows.
    Identity,
}

fn default_val_fraction() -> f64 {
    0.1
}
fn default_bad() -> BadImage {
    BadImage::Error
}

impl Format {
    fn name(self) -> &'static str {
        match self {
            Format::Celeba => "celeba",
            Format::Market => "market",
            Format::Duke => "duke",
        }
    }
}

impl StageKind for Split {
    fn name(&self) -> &'static str {
        "split"
    }
    fn version(&self) -> u32 {
        // 2: images are checked by the JPEG block walk instead of a full decode (what `split`
        // rejects, and the reasons in split.json, can differ).
        2
    }
    fn input_slots(&self) -> &'static [InputSlot] {
        &[InputSlot { name: "root", required: true, many: false }]
    }
    fn check_params(&self, with: &serde_json::Value) -> Result<serde_json::Value, ParamError> {
        let v = canonical_params::<Params>(with)?;
        let p: Params = serde_json::from_value(v.clone()).map_err(|e| ParamError::new(&[], e.to_string()))?;
        if !(0.0..1.0).contains(&p.val_fraction) {
            return Err(ParamError::new(&["val_fraction"], "must be in [0, 1)"));
        }
        if let Some(t) = &p.tasks {
            if t.is_empty() {
                return Err(ParamError::new(&["tasks"], "an empty task list; leave `tasks` out to keep every task"));
            }
        }
        if p.target == Target::Identity && p.tasks.is_some() {
            return Err(ParamError::new(&["target"], "`target: identity` has one task of its own; leave `tasks` out"));
        }
        Ok(v)
    }
    fn user_outputs(&self) -> &'static [&'static str] {
        &["tasks.json", "split.json", "*.csv"]
    }
    fn default_resources(&self, _params: &serde_json::Value) -> Resources {
        Resources { cpus: 2, ..Resources::default() }
    }
    fn run(&self, ctx: &StageContext) -> Result<()> {
        let p: Params = ctx.params()?;
        let input = resolve_input(&ctx.input("root")?.path)?;
        let opts = SplitOptions {
            format: p.format.name(),
            val_fraction: p.val_fraction,
            seed: p.seed,
            on_bad_image: if p.on_bad_image == BadImage::Skip { OnBadImage::Skip } else { OnBadImage::Error },
            tasks: p.tasks.as_deref(),
            identity_target: p.target == Target::Identity,
            check_images: true,
        };
        let pool = rayon::ThreadPoolBuilder::new().num_threads(ctx.threads.max(1)).build().context("starting worker threads")?;
        let built = pool.install(|| build(&input, &opts))?;
        std::fs::create_dir_all(&ctx.out_dir).with_context(|| format!("creating {}", ctx.out_dir.display()))?;
        built.tasks.save(&ctx.out_dir)?;
        let mut counts = serde_json::Map::new();
        for (s, name) in SPLITS.iter().enumerate() {
            let extra: Vec<(String, Vec<Option<String>>)> =
                built.extra[s].iter().map(|(task, col)| (format!("{task}__marked"), col.clone())).collect();
            built.tables[s].write_with_extra(&built.tasks, &ctx.out_dir, name, &extra)?;
            counts.insert(name.to_string(), serde_json::json!(built.tables[s].len()));
        }
        let info = serde_json::json!({
            "format": p.format.name(),
            "source": input.source,
            "counts": counts,
            "skipped_images": built.skipped.len(),
            "skipped": built.skipped.iter().map(|(image, why)| serde_json::json!({"image": image, "reason": why})).collect::<Vec<_>>(),
            "details": built.details,
            "params": ctx.params,
        });
        let path = ctx.out_path("split.json")?;
        crate::util::write_json(&path, &info)?;
        Ok(())
    }
}
