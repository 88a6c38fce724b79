//! `kind: synth` — renders a procedural dataset in a real on-disk format (CelebA or Market-1501).
//!
//! No inputs. Parameters (`with:`):
//! - `style`: `faces` (a CelebA release: 40 attributes) or `pedestrians` (a Market-1501 release:
//!   27 raw attributes, the 12-attribute protocol). Required.
//! - `seed` (default 0): the same seed gives byte-identical files, whatever the thread count.
//! - `width`, `height`: image size in pixels (faces 178×218, pedestrians 64×128 by default).
//! - `label_noise` (default 0.02): probability of flipping a written label; faces scale it per
//!   attribute (subjective attributes such as Attractive or Oval_Face are noisier). `truth.csv`
//!   keeps the clean labels.
//! - `jpeg_quality` (default 90), `examples` (default 24: images on the contact sheet).
//! - `rates` (default none): `{ATTRIBUTE: p}` replaces the generator's prior of a named attribute
//!   (CelebA names for faces, raw Market field names for pedestrians) by the probability p of
//!   "yes", for every identity/image. Only attributes drawn on their own may be set (the error
//!   lists them); everything else is generated exactly as without it. The quickstart uses it to
//!   make rare attributes common enough to be learnt in a few hundred iterations.
//! - faces only: `images` (default 2000), `images_per_identity` (default 10; an identity keeps
//!   gender, age, skin and hair colour), `val_fraction`, `test_fraction` (default 0.1 each, of the
//!   identities, contiguous like CelebA's partition).
//! - pedestrians only: `identities` (default 100, half train, half test, interleaved ids),
//!   `images_per_identity` (default 8, across cameras 1–6), `query_per_identity` (default 1, test
//!   identities only), `distractors` (default 20 unlabelled `0000`/`-1` images in
//!   `bounding_box_test`).
//!
//! Outputs: `release/` (the dataset in the real layout), `truth.csv` (image, then the clean raw
//! attributes), `contact_sheet.png` (examples with their labels) and `synth.json`
//! (`{"style", "source": "synthetic", "images", "seed", …}`).

use std::collections::BTreeMap;

use anyhow::{Context as _, Result};
use serde::{Deserialize, Serialize};

use super::{canonical_params, InputSlot, ParamError, Resources, StageContext, StageKind};
use crate::data::celeba::ATTRIBUTES;
use crate::data::market::MARKET_FIELDS;
use crate::data::synth::faces::RATE_ATTRIBUTES;
use crate::data::synth::pedestrians::RATE_FIELDS;
use crate::data::synth::{self, FaceParams, PedestrianParams, Rates};

pub struct Synth;

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Style {
    Faces,
    Pedestrians,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Params {
    pub style: Style,
    #[serde(default)]
    pub seed: u64,
    #[serde(default)]
    pub width: Option<usize>,
    #[serde(default)]
    pub height: Option<usize>,
    #[serde(default = "default_noise")]
    pub label_noise: f32,
    #[serde(default = "default_quality")]
    pub jpeg_quality: u8,
    #[serde(default = "default_examples")]
    pub examples: usize,
    #[serde(default)]
    pub images: Option<usize>,
    #[serde(default)]
    pub images_per_identity: Option<usize>,
    #[serde(default)]
    pub val_fraction: Option<f64>,
    #[serde(default)]
    pub test_fraction: Option<f64>,
    #[serde(default)]
    pub identities: Option<usize>,
    #[serde(default)]
    pub query_per_identity: Option<usize>,
    #[serde(default)]
    pub distractors: Option<usize>,
    /// Left out of the canonical parameters when empty, so keys without it stay as they were.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub rates: BTreeMap<String, f64>,
}

fn default_noise() -> f32 {
    0.02
}
fn default_quality() -> u8 {
    90
}
fn default_examples() -> usize {
    24
}

impl Params {
    /// Fills the style's defaults and rejects parameters of the other style.
    fn resolve(mut self) -> Result<Params, ParamError> {
        let other: &[(&str, bool)] = match self.style {
            Style::Faces => &[("identities", self.identities.is_some()), ("query_per_identity", self.query_per_identity.is_some()), ("distractors", self.distractors.is_some())],
            Style::Pedestrians => &[("images", self.images.is_some()), ("val_fraction", self.val_fraction.is_some()), ("test_fraction", self.test_fraction.is_some())],
        };
        for (name, given) in other {
            if *given {
                let style = if self.style == Style::Faces { "faces" } else { "pedestrians" };
                return Err(ParamError::new(&[*name], format!("`{name}` does not apply to style: {style}")));
            }
        }
        let faces = self.style == Style::Faces;
        self.width.get_or_insert(if faces { 178 } else { 64 });
        self.height.get_or_insert(if faces { 218 } else { 128 });
        self.images_per_identity.get_or_insert(if faces { 10 } else { 8 });
        if faces {
            self.images.get_or_insert(2000);
            self.val_fraction.get_or_insert(0.1);
            self.test_fraction.get_or_insert(0.1);
        } else {
            self.identities.get_or_insert(100);
            self.query_per_identity.get_or_insert(1);
            self.distractors.get_or_insert(20);
        }
        let (w, h) = (self.width.unwrap_or(0), self.height.unwrap_or(0));
        if !(16..=4096).contains(&w) || !(16..=4096).contains(&h) {
            return Err(ParamError::new(&["width"], format!("image size {w}×{h} is outside 16..=4096")));
        }
        if !(0.0..=0.5).contains(&self.label_noise) {
            return Err(ParamError::new(&["label_noise"], "must be in [0, 0.5]"));
        }
        if !(1..=100).contains(&self.jpeg_quality) {
            return Err(ParamError::new(&["jpeg_quality"], "must be in 1..=100"));
        }
        if self.images_per_identity == Some(0) || self.images == Some(0) {
            return Err(ParamError::new(&["images"], "image counts must be positive"));
        }
        if let (Some(v), Some(t)) = (self.val_fraction, self.test_fraction) {
            if !(0.0..1.0).contains(&v) || !(0.0..1.0).contains(&t) || v + t >= 1.0 {
                return Err(ParamError::new(&["val_fraction"], "val_fraction and test_fraction must be ≥ 0 and leave room for training"));
            }
        }
        if let Some(n) = self.identities {
            if !(2..=9999).contains(&n) {
                return Err(ParamError::new(&["identities"], "must be in 2..=9999 (Market ids have 4 digits)"));
            }
        }
        self.rates()?;
        Ok(self)
    }

    /// `rates:` as attribute indices of the style's list, each checked.
    fn rates(&self) -> Result<Rates, ParamError> {
        let settable: Vec<&str> = match self.style {
            Style::Faces => RATE_ATTRIBUTES.iter().map(|&i| ATTRIBUTES[i]).collect(),
            Style::Pedestrians => RATE_FIELDS.to_vec(),
        };
        let mut out = Vec::new();
        for (name, &rate) in &self.rates {
            if !settable.contains(&name.as_str()) {
                return Err(ParamError::new(
                    &["rates", name.as_str()],
                    format!("`{name}` cannot be given a rate for this style; these can: {}", settable.join(", ")),
                ));
            }
            if !(0.0..=1.0).contains(&rate) {
                return Err(ParamError::new(&["rates", name.as_str()], format!("{rate} is not a probability (0 to 1)")));
            }
            let index = match self.style {
                Style::Faces => ATTRIBUTES.iter().position(|a| a == name),
                Style::Pedestrians => MARKET_FIELDS.iter().position(|f| f == name),
            };
            out.extend(index.map(|i| (i, rate as f32)));
        }
        Ok(Rates(out))
    }
}

impl StageKind for Synth {
    fn name(&self) -> &'static str {
        "synth"
    }
    /// 2: JPEGs with 4:2:0 chroma subsampling (jpeg-encoder) instead of 4:4:4.
    /// 3: pedestrians' cues drawn large enough to survive the quickstart's 48×24 (before, models
    /// fell below the majority rate on them): age groups further apart in height, wider backpacks,
    /// shoulder bags and handbags, thicker straps, wider arms (sleeve length).
    fn version(&self) -> u32 {
        3
    }
    fn input_slots(&self) -> &'static [InputSlot] {
        &[]
    }
    fn check_params(&self, with: &serde_json::Value) -> Result<serde_json::Value, ParamError> {
        let p: Params = serde_json::from_value(canonical_params::<Params>(with)?).map_err(|e| ParamError::new(&[], e.to_string()))?;
        let p = p.resolve()?;
        serde_json::to_value(&p).map_err(|e| ParamError::new(&[], e.to_string()))
    }
    /// The release itself (thousands of JPEGs) stays in the cache; the report gets the summary.
    fn user_outputs(&self) -> &'static [&'static str] {
        &["contact_sheet.png", "synth.json"]
    }
    fn default_resources(&self, _params: &serde_json::Value) -> Resources {
        Resources { cpus: 2, ..Resources::default() }
    }
    fn run(&self, ctx: &StageContext) -> Result<()> {
        let p: Params = ctx.params()?;
        let p = p.resolve().map_err(|e| anyhow::anyhow!("{}", e.message))?;
        let rates = p.rates().map_err(|e| anyhow::anyhow!("{}", e.message))?;
        let pool = rayon::ThreadPoolBuilder::new().num_threads(ctx.threads.max(1)).build().context("starting worker threads")?;
        let release = ctx.out_path("release/.keep")?.parent().map(|p| p.to_path_buf()).unwrap_or_default();
        let _ = std::fs::remove_file(release.join(".keep"));
        let (w, h) = (p.width.unwrap_or(0), p.height.unwrap_or(0));
        let (generated, style, images) = match p.style {
            Style::Faces => {
                let fp = FaceParams {
                    images: p.images.unwrap_or(0),
                    images_per_identity: p.images_per_identity.unwrap_or(1),
                    width: w,
                    height: h,
                    seed: p.seed,
                    label_noise: p.label_noise,
                    val_fraction: p.val_fraction.unwrap_or(0.1),
                    test_fraction: p.test_fraction.unwrap_or(0.1),
                    jpeg_quality: p.jpeg_quality,
                    examples: p.examples,
                    rates,
                };
                (pool.install(|| synth::generate_faces(&release, &fp))?, "faces", fp.images)
            }
            Style::Pedestrians => {
                let pp = PedestrianParams {
                    identities: p.identities.unwrap_or(0),
                    images_per_identity: p.images_per_identity.unwrap_or(1),
                    query_per_identity: p.query_per_identity.unwrap_or(0),
                    distractors: p.distractors.unwrap_or(0),
                    width: w,
                    height: h,
                    seed: p.seed,
                    label_noise: p.label_noise,
                    jpeg_quality: p.jpeg_quality,
                    examples: p.examples,
                    rates,
                };
                let g = pool.install(|| synth::generate_pedestrians(&release, &pp))?;
                let n = pp.identities * pp.images_per_identity + pp.identities.div_ceil(2) * pp.query_per_identity + pp.distractors;
                (g, "pedestrians", n)
            }
        };
        synth::write_truth(&ctx.out_path("truth.csv")?, &generated)?;
        if p.examples > 0 {
            synth::write_contact_sheet(&ctx.out_path("contact_sheet.png")?, &generated, if p.style == Style::Faces { 6 } else { 12 })?;
        }
        let mut info = serde_json::json!({
            "style": style,
            "source": "synthetic",
            "format": if p.style == Style::Faces { "celeba" } else { "market" },
            "images": images,
            "seed": p.seed,
            "width": w,
            "height": h,
            "label_noise": p.label_noise,
            "release": "release",
            "details": generated.summary,
        });
        if !p.rates.is_empty() {
            info["rates"] = serde_json::json!(p.rates);
        }
        let path = ctx.out_path("synth.json")?;
        crate::util::write_json(&path, &info)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_name_settable_attributes_of_the_style_and_stay_out_of_the_key_when_absent() {
        let plain = Synth.check_params(&serde_json::json!({"style": "faces"})).unwrap();
        assert!(plain.get("rates").is_none(), "no rates: the canonical parameters (and keys) are as before");
        let set = Synth.check_params(&serde_json::json!({"style": "faces", "rates": {"Wearing_Hat": 0.2}})).unwrap();
        assert_eq!(set["rates"], serde_json::json!({"Wearing_Hat": 0.2}));
        let derived = Synth.check_params(&serde_json::json!({"style": "faces", "rates": {"No_Beard": 0.5}})).unwrap_err();
        assert_eq!(derived.path, ["rates", "No_Beard"]);
        assert!(derived.message.contains("Wearing_Hat") && derived.message.contains("Narrow_Eyes"), "{}", derived.message);
        let other_style = Synth.check_params(&serde_json::json!({"style": "pedestrians", "rates": {"Wearing_Hat": 0.2}})).unwrap_err();
        assert!(other_style.message.contains("hat, backpack"), "{}", other_style.message);
        let bad = Synth.check_params(&serde_json::json!({"style": "pedestrians", "rates": {"hat": 1.5}})).unwrap_err();
        assert!(bad.message.contains("not a probability"), "{}", bad.message);
    }
}
