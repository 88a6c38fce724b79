//! `kind: prepare` — decodes each split once into a memory-mapped uint8 array for training.
//!
//! Inputs: `split` (a split stage) and `root` (the same dataset input the split read: a synth
//! stage or a dataset folder; `tasks.json`'s `root` field says where the release is inside it).
//! Parameters (`with:`):
//! - `size`: `[H, W]` (default `[64, 64]`): every image is decoded (zune-jpeg) and resized
//!   (antialiased bilinear, no crop: the 178×218 CelebA crop is squashed as in the paper).
//! - `decoder`: `zune` (default: zune-jpeg, pure Rust) or `libjpeg-turbo` (libjpeg-turbo's
//!   TurboJPEG, loaded at run time; faster, and it shrinks by 1/2, 1/4 or 1/8 inside the IDCT
//!   when the target size allows). The two give slightly different pixels, so the choice is part
//!   of the cache key like every parameter.
//! - `splits` (default `[train, val, test]`).
//! - `on_bad_image` (`error` | `skip`, default `error`): JPEGs are decoded strictly (a truncated
//!   file or damaged image data is an error naming the file, never rows of grey); `skip` leaves
//!   such images out instead: the split tables copied here lose those rows, and `skipped.json`
//!   counts and lists them.
//! - `mean`, `std` (default ImageNet's): the normalisation recorded for training to apply.
//!
//! Outputs: `<split>.u8` (N×H×W×3 uint8, row-major, rows in the order of `<split>.parquet`),
//! `prepared.json` (`PreparedInfo`), copies of `tasks.json`, the split tables and `split.json`, so
//! training and evaluation need only this stage, and with `on_bad_image: skip`, `skipped.json`
//! (`{"skipped_images": N, "skipped": [{"split", "image", "reason"}]}`).

use anyhow::{bail, Context as _, Result};
use serde::{Deserialize, Serialize};

use super::{canonical_params, InputSlot, ParamError, Resources, StageContext, StageKind};
use crate::data::decode_split::decode_split;
use crate::data::images::{JpegDecoder, IMAGENET_MEAN, IMAGENET_STD};
use crate::data::prepared::PreparedInfo;
use crate::data::tasks::{LabelTable, TaskSet};

/// Copies `<split>.parquet` and `.csv` from `from` to `to` without the rows `drop` (every column
/// kept, e.g. the `__marked` columns of Market/Duke).
fn drop_rows(from: &std::path::Path, to: &std::path::Path, split: &str, drop: &[usize]) -> Result<()> {
    use polars::prelude::{BooleanChunked, CsvWriter, NewChunkedArray, ParquetReader, ParquetWriter, SerReader, SerWriter};
    let src = from.join(format!("{split}.parquet"));
    let file = std::fs::File::open(&src).with_context(|| format!("opening {}", src.display()))?;
    let df = ParquetReader::new(file).finish().with_context(|| format!("reading {}", src.display()))?;
    let drop: std::collections::HashSet<usize> = drop.iter().copied().collect();
    let keep: Vec<bool> = (0..df.height()).map(|r| !drop.contains(&r)).collect();
    let mask = BooleanChunked::from_slice("keep".into(), &keep);
    let mut kept = df.filter(&mask).with_context(|| format!("filtering {}", src.display()))?;
    let pq = to.join(format!("{split}.parquet"));
    ParquetWriter::new(std::fs::File::create(&pq).with_context(|| format!("creating {}", pq.display()))?)
        .finish(&mut kept)
        .with_context(|| format!("writing {}", pq.display()))?;
    let csv = to.join(format!("{split}.csv"));
    CsvWriter::new(std::fs::File::create(&csv).with_context(|| format!("creating {}", csv.display()))?)
        .finish(&mut kept)
        .with_context(|| format!("writing {}", csv.display()))?;
    Ok(())
}

pub struct Prepare;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Params {
    #[serde(default = "default_size")]
    pub size: [usize; 2],
    #[serde(default = "default_splits")]
    pub splits: Vec<String>,
    #[serde(default)]
    pub decoder: JpegDecoder,
    #[serde(default = "default_mean")]
    pub mean: [f32; 3],
    #[serde(default = "default_std")]
    pub std: [f32; 3],
    #[serde(default)]
    pub on_bad_image: OnBadImage,
}

/// What to do with an image that does not decode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OnBadImage {
    #[default]
    Error,
    Skip,
}

fn default_size() -> [usize; 2] {
    [64, 64]
}
fn default_splits() -> Vec<String> {
    vec!["train".into(), "val".into(), "test".into()]
}
fn default_mean() -> [f32; 3] {
    IMAGENET_MEAN
}
fn default_std() -> [f32; 3] {
    IMAGENET_STD
}

impl StageKind for Prepare {
    fn name(&self) -> &'static str {
        "prepare"
    }
    /// 2: own resampler (f32 separable triangle filter) instead of fast_image_resize.
    /// 3: strict JPEG decoding and `skipped.json`.
    fn version(&self) -> u32 {
        3
    }
    fn input_slots(&self) -> &'static [InputSlot] {
        &[InputSlot { name: "split", required: true, many: false }, InputSlot { name: "root", required: true, many: false }]
    }
    fn check_params(&self, with: &serde_json::Value) -> Result<serde_json::Value, ParamError> {
        let v = canonical_params::<Params>(with)?;
        let p: Params = serde_json::from_value(v.clone()).map_err(|e| ParamError::new(&[], e.to_string()))?;
        let [h, w] = p.size;
        if !(8..=1024).contains(&h) || !(8..=1024).contains(&w) {
            return Err(ParamError::new(&["size"], format!("[{h}, {w}] is outside 8..=1024")));
        }
        if p.splits.is_empty() {
            return Err(ParamError::new(&["splits"], "name at least one split"));
        }
        for (i, s) in p.splits.iter().enumerate() {
            if !["train", "val", "test"].contains(&s.as_str()) {
                return Err(ParamError::new(&["splits", &i.to_string()], format!("unknown split `{s}` (train, val or test)")));
            }
        }
        if p.std.iter().any(|s| !(*s > 0.0)) {
            return Err(ParamError::new(&["std"], "every std must be positive"));
        }
        Ok(v)
    }
    /// The decoded arrays stay in the cache.
    fn user_outputs(&self) -> &'static [&'static str] {
        &["prepared.json", "skipped.json"]
    }
    fn default_resources(&self, _params: &serde_json::Value) -> Resources {
        Resources { cpus: 2, ..Resources::default() }
    }
    fn run(&self, ctx: &StageContext) -> Result<()> {
        let p: Params = ctx.params()?;
        let split_dir = &ctx.input("split")?.path;
        let root = &ctx.input("root")?.path;
        let tasks = TaskSet::load(split_dir)?;
        let release = if tasks.root.is_empty() { root.clone() } else { root.join(&tasks.root) };
        if !release.is_dir() {
            bail!("{}: no dataset release here (tasks.json says root `{}`); is `root` the input the split stage read?", release.display(), tasks.root);
        }
        let pool = rayon::ThreadPoolBuilder::new().num_threads(ctx.threads.max(1)).build().context("starting worker threads")?;
        let [h, w] = p.size;
        let mut counts = std::collections::BTreeMap::new();
        let mut skipped_list = Vec::new();
        std::fs::create_dir_all(&ctx.out_dir).with_context(|| format!("creating {}", ctx.out_dir.display()))?;
        for split in &p.splits {
            let table = LabelTable::read(&tasks, split_dir, split)?;
            let out = ctx.out_path(format!("{split}.u8"))?;
            let skip = p.on_bad_image == OnBadImage::Skip;
            let skipped = pool
                .install(|| decode_split(&release, &table.images, h, w, p.decoder, skip, &out))
                .with_context(|| format!("preparing split `{split}`"))?;
            counts.insert(split.clone(), table.len() - skipped.len());
            if skipped.is_empty() {
                for ext in ["parquet", "csv"] {
                    let name = format!("{split}.{ext}");
                    std::fs::copy(split_dir.join(&name), ctx.out_path(&name)?).with_context(|| format!("copying {}", split_dir.join(&name).display()))?;
                }
            } else {
                let rows: Vec<usize> = skipped.iter().map(|(r, _)| *r).collect();
                drop_rows(split_dir, &ctx.out_dir, split, &rows)?;
            }
            for (row, reason) in skipped {
                skipped_list.push(serde_json::json!({"split": split, "image": table.images[row], "reason": reason}));
            }
        }
        // Only with `skip` (so the default's outputs, and what depends on them, stay as they were).
        if p.on_bad_image == OnBadImage::Skip {
            crate::util::write_json(
                &ctx.out_path("skipped.json")?,
                &serde_json::json!({"skipped_images": skipped_list.len(), "skipped": skipped_list}),
            )?;
        }
        for name in [TaskSet::FILE, "split.json"] {
            let from = split_dir.join(name);
            if from.is_file() {
                std::fs::copy(&from, ctx.out_path(name)?).with_context(|| format!("copying {}", from.display()))?;
            }
        }
        PreparedInfo { height: h, width: w, channels: 3, splits: counts, mean: p.mean, std: p.std }.save(&ctx.out_dir)?;
        Ok(())
    }
}
