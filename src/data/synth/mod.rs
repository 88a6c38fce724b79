//! Procedural datasets written in the real on-disk formats (CelebA, Market-1501), so that the
//! loaders, the quickstart and the tests all go through the same code as real data.
//!
//! Determinism: every identity and every image draws from its own PRNG stream
//! (`Rng::stream(seed, purpose, index)`), images are rendered in parallel but collected in index
//! order, and no timestamp is written anywhere: the same parameters give byte-identical files
//! whatever the number of threads.

pub mod faces;
pub mod pedestrians;
pub mod raster;

use std::fmt::Write as _;
use std::path::Path;

use anyhow::{bail, Context as _, Result};
use rayon::prelude::*;

use super::celeba::{ATTRIBUTES, ATTR_FILE, IDENTITY_FILE, IMAGE_DIR, PARTITION_FILE};
use super::market::MARKET_FIELDS;
use super::matfile::{write_mat, MatValue};
use crate::rng::Rng;

const PURPOSE_IDENTITY: u64 = 1;
const PURPOSE_IMAGE: u64 = 2;
const PURPOSE_NOISE: u64 = 3;
const PURPOSE_LAYOUT: u64 = 4;

/// Encodes RGB8 pixels as a baseline JPEG with 4:2:0 chroma subsampling (box-averaged, as
/// libjpeg does by default): the layout of the real releases' photos, and what decoders are
/// tuned for. (The `image` crate's encoder can only write 4:4:4, which doubles the entropy-coded
/// data a decoder must read.)
pub fn encode_jpeg(pixels: &[u8], width: usize, height: usize, quality: u8) -> Result<Vec<u8>> {
    let (w, h) = (u16::try_from(width).context("JPEG width over 65535")?, u16::try_from(height).context("JPEG height over 65535")?);
    let mut out = Vec::with_capacity(width * height / 4);
    let mut encoder = jpeg_encoder::Encoder::new(&mut out, quality);
    encoder.set_sampling_factor(jpeg_encoder::SamplingFactor::R_4_2_0);
    encoder.set_chroma_subsampling_method(jpeg_encoder::ChromaSubsamplingMethod::Average);
    encoder.encode(pixels, w, h, jpeg_encoder::ColorType::Rgb).context("encoding a JPEG")?;
    Ok(out)
}

/// What a generator produced, for `synth.json`, `truth.csv` and the contact sheet.
pub struct Generated {
    /// `image` path relative to the release root, then one truth value per column.
    pub truth_columns: Vec<String>,
    pub truth: Vec<(String, Vec<i32>)>,
    /// Summary numbers (counts per split etc.).
    pub summary: serde_json::Value,
    /// Up to `sheet` examples: (RGB8 pixels, width, height, label lines).
    pub examples: Vec<(Vec<u8>, usize, usize, Vec<String>)>,
}

/// Positive rates that replace the generator's own priors of some attributes (the synth stage's
/// `rates:`): (attribute index in the style's list, probability of "yes"). The draw itself is
/// unchanged, so every other attribute and every picture stay as they are without overrides.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Rates(pub Vec<(usize, f32)>);

impl Rates {
    /// The probability to draw attribute `index` with: its override, else `prior`.
    pub fn of(&self, index: usize, prior: f32) -> f32 {
        self.0.iter().find(|(i, _)| *i == index).map_or(prior, |&(_, r)| r)
    }
}

// ------------------------------------------------------------------ faces

/// Parameters of `style: faces`.
#[derive(Debug, Clone)]
pub struct FaceParams {
    pub images: usize,
    pub images_per_identity: usize,
    pub width: usize,
    pub height: usize,
    pub seed: u64,
    pub label_noise: f32,
    /// Fractions of identities in the validation and test partitions (the rest is train).
    pub val_fraction: f64,
    pub test_fraction: f64,
    pub jpeg_quality: u8,
    pub examples: usize,
    pub rates: Rates,
}

/// Renders a CelebA-format release under `release`.
pub fn generate_faces(release: &Path, p: &FaceParams) -> Result<Generated> {
    if p.images == 0 || p.images_per_identity == 0 {
        bail!("synth faces: `images` and `images_per_identity` must be positive");
    }
    let img_dir = release.join(IMAGE_DIR);
    std::fs::create_dir_all(&img_dir).with_context(|| format!("creating {}", img_dir.display()))?;
    let n_ids = p.images.div_ceil(p.images_per_identity);
    // A positive fraction always gets at least one identity, so no partition is silently empty.
    let share = |f: f64| if f > 0.0 { (((n_ids as f64) * f).round() as usize).max(1) } else { 0 };
    let (n_test, n_val) = (share(p.test_fraction), share(p.val_fraction));
    if n_test + n_val >= n_ids {
        bail!("synth faces: {n_ids} identities cannot fill train, val and test; raise `images` or lower `images_per_identity`");
    }
    let n_train = n_ids.saturating_sub(n_test + n_val);
    // Identities are contiguous blocks of images, partitions contiguous blocks of identities (as in CelebA).
    let partition_of = |id: usize| if id < n_train { 0u8 } else if id < n_train + n_val { 1 } else { 2 };
    let bases: Vec<faces::Face> = (0..n_ids).map(|id| faces::sample_face(&mut Rng::stream(p.seed, PURPOSE_IDENTITY, id as u64), None, &p.rates)).collect();

    let rendered: Vec<Result<([bool; 40], [bool; 40], Option<Vec<u8>>)>> = (0..p.images)
        .into_par_iter()
        .map(|i| {
            let id = i / p.images_per_identity;
            let mut rng = Rng::stream(p.seed, PURPOSE_IMAGE, i as u64);
            let face = faces::sample_face(&mut rng, Some(&bases[id]), &p.rates);
            let pixels = faces::render_face(&face, p.width, p.height, &mut rng);
            let jpeg = encode_jpeg(&pixels, p.width, p.height, p.jpeg_quality)?;
            let path = img_dir.join(format!("{:06}.jpg", i + 1));
            std::fs::write(&path, jpeg).with_context(|| format!("writing {}", path.display()))?;
            let labels = faces::noisy(&face.attrs, p.label_noise, &mut Rng::stream(p.seed, PURPOSE_NOISE, i as u64));
            // Contact-sheet examples: the first image of the first identities.
            let example = i % p.images_per_identity == 0 && i / p.images_per_identity < p.examples;
            Ok((face.attrs, labels, example.then_some(pixels)))
        })
        .collect();

    let mut attr = String::with_capacity(p.images * 130);
    let _ = write!(attr, "{}\r\n", p.images);
    for name in ATTRIBUTES {
        attr.push_str(name);
        attr.push(' ');
    }
    attr.push_str("\r\n");
    let mut part = String::with_capacity(p.images * 14);
    let mut ident = String::with_capacity(p.images * 16);
    let mut truth = Vec::with_capacity(p.images);
    let mut examples = Vec::new();
    let mut counts = [0usize; 3];
    let mut positives = [0usize; 40];
    for (i, r) in rendered.into_iter().enumerate() {
        let (clean, labels, pixels) = r?;
        let name = format!("{:06}.jpg", i + 1);
        let id = i / p.images_per_identity;
        // CelebA spacing: the first value after one space, the others right-aligned to width 2.
        attr.push_str(&name);
        for (k, v) in labels.iter().enumerate() {
            let v = if *v { 1 } else { -1 };
            if k == 0 {
                let _ = write!(attr, " {v}");
            } else {
                let _ = write!(attr, " {v:>2}");
            }
        }
        attr.push_str("\r\n");
        let pt = partition_of(id);
        counts[pt as usize] += 1;
        let _ = write!(part, "{name} {pt}\r\n");
        let _ = write!(ident, "{name} {}\r\n", id + 1);
        for (k, v) in clean.iter().enumerate() {
            positives[k] += *v as usize;
        }
        let clean_pm: Vec<i32> = faces::as_pm1(&clean).iter().map(|v| *v as i32).collect();
        if let Some(px) = pixels {
            let on: Vec<&str> = (0..40).filter(|&k| clean[k]).map(|k| faces::ABBREV[k]).collect();
            let lines = on.chunks(5).map(|c| c.join(" ")).collect();
            examples.push((px, p.width, p.height, lines));
        }
        truth.push((format!("{IMAGE_DIR}/{name}"), clean_pm));
    }
    for (file, text) in [(ATTR_FILE, &attr), (PARTITION_FILE, &part), (IDENTITY_FILE, &ident)] {
        let path = release.join(file);
        std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?;
    }
    let rates: serde_json::Map<String, serde_json::Value> =
        ATTRIBUTES.iter().zip(positives).map(|(n, c)| (n.to_string(), serde_json::json!((c as f64 / p.images as f64 * 1e4).round() / 1e4))).collect();
    Ok(Generated {
        truth_columns: ATTRIBUTES.iter().map(|s| s.to_string()).collect(),
        truth,
        summary: serde_json::json!({
            "identities": n_ids,
            "partition": {"train": counts[0], "val": counts[1], "test": counts[2]},
            "positive_rate": rates,
        }),
        examples,
    })
}

// ------------------------------------------------------------ pedestrians

/// Parameters of `style: pedestrians`.
#[derive(Debug, Clone)]
pub struct PedestrianParams {
    pub identities: usize,
    pub images_per_identity: usize,
    pub query_per_identity: usize,
    /// Unlabelled test-folder images (ids `0000` distractors and `-1` junk), as in Market-1501.
    pub distractors: usize,
    pub width: usize,
    pub height: usize,
    pub seed: u64,
    pub label_noise: f32,
    pub jpeg_quality: u8,
    pub examples: usize,
    pub rates: Rates,
}

/// Field orders of the real `market_attribute.mat` (they differ between train and test).
const MAT_TRAIN_ORDER: [&str; 27] = [
    "age", "backpack", "bag", "handbag", "downblack", "downblue", "downbrown", "downgray", "downgreen", "downpink",
    "downpurple", "downwhite", "downyellow", "upblack", "upblue", "upgreen", "upgray", "uppurple", "upred", "upwhite",
    "upyellow", "clothes", "down", "up", "hair", "hat", "gender",
];
const MAT_TEST_ORDER: [&str; 27] = [
    "age", "backpack", "bag", "handbag", "clothes", "down", "up", "hair", "hat", "gender", "upblack", "upwhite", "upred",
    "uppurple", "upyellow", "upgray", "upblue", "upgreen", "downblack", "downwhite", "downpink", "downpurple",
    "downyellow", "downgray", "downblue", "downgreen", "downbrown",
];

struct PedJob {
    folder: &'static str,
    name: String,
    /// Index into the identity list; None for distractors/junk.
    identity: Option<usize>,
    /// Shown on the contact sheet.
    example: bool,
}

/// Renders a Market-1501-format release under `release`.
pub fn generate_pedestrians(release: &Path, p: &PedestrianParams) -> Result<Generated> {
    if p.identities < 2 || p.images_per_identity == 0 {
        bail!("synth pedestrians: need at least 2 `identities` and 1 image per identity");
    }
    if p.identities > 9999 {
        bail!("synth pedestrians: at most 9999 identities (Market file names hold a 4-digit id)");
    }
    let peds: Vec<pedestrians::Pedestrian> =
        (0..p.identities).map(|k| pedestrians::sample_pedestrian(&mut Rng::stream(p.seed, PURPOSE_IDENTITY, k as u64), &p.rates)).collect();
    // Identities interleave between train and test (as in Market: 0002 train, 0001 test).
    let mut layout = Rng::stream(p.seed, PURPOSE_LAYOUT, 0);
    let mut order: Vec<usize> = (0..p.identities).collect();
    layout.shuffle(&mut order);
    let mut is_train = vec![false; p.identities];
    for &k in &order[..p.identities / 2] {
        is_train[k] = true;
    }
    let mut jobs = Vec::new();
    for (k, &train) in is_train.iter().enumerate() {
        let id = k + 1;
        let mut frame = 100 + layout.below(900);
        let mut add = |folder: &'static str, jobs: &mut Vec<PedJob>, layout: &mut Rng| {
            let cam = 1 + layout.below(6);
            let seq = 1 + layout.below(6);
            frame += 25 + layout.below(400);
            jobs.push(PedJob { folder, name: format!("{id:04}_c{cam}s{seq}_{frame:06}_{:02}", 1 + layout.below(3)), identity: Some(k), example: false });
        };
        let first = jobs.len();
        for _ in 0..p.images_per_identity {
            add(if train { "bounding_box_train" } else { "bounding_box_test" }, &mut jobs, &mut layout);
        }
        if !train {
            for _ in 0..p.query_per_identity {
                add("query", &mut jobs, &mut layout);
            }
        }
        jobs[first].example = k < p.examples;
    }
    for d in 0..p.distractors {
        let id = if d % 3 == 2 { "-1".to_string() } else { "0000".to_string() };
        let frame = 100 + layout.below(90000);
        jobs.push(PedJob { folder: "bounding_box_test", name: format!("{id}_c{}s{}_{frame:06}_{:02}", 1 + layout.below(6), 1 + layout.below(6), d % 100), identity: None, example: false });
    }
    // Two images can draw the same name; make names unique by bumping the box number.
    let mut seen = std::collections::HashSet::new();
    for j in &mut jobs {
        let mut name = format!("{}.jpg", j.name);
        let mut bump = 4;
        while !seen.insert((j.folder, name.clone())) {
            name = format!("{}{:02}.jpg", &j.name[..j.name.len() - 2], bump);
            bump += 1;
        }
        j.name = name;
    }
    for folder in ["bounding_box_train", "bounding_box_test", "query"] {
        std::fs::create_dir_all(release.join(folder)).with_context(|| format!("creating {}", release.join(folder).display()))?;
    }
    let rendered: Vec<Result<Option<Vec<u8>>>> = jobs
        .par_iter()
        .enumerate()
        .map(|(i, job)| {
            let mut rng = Rng::stream(p.seed, PURPOSE_IMAGE, i as u64);
            let pixels = match job.identity {
                Some(k) => pedestrians::render_pedestrian(&peds[k], p.width, p.height, &mut rng),
                None => {
                    // A distractor: another (unlabelled) person or background only.
                    let stranger = pedestrians::sample_pedestrian(&mut rng, &Rates::default());
                    pedestrians::render_pedestrian(&stranger, p.width, p.height, &mut rng)
                }
            };
            let path = release.join(job.folder).join(&job.name);
            std::fs::write(&path, encode_jpeg(&pixels, p.width, p.height, p.jpeg_quality)?).with_context(|| format!("writing {}", path.display()))?;
            Ok(job.example.then_some(pixels))
        })
        .collect();
    let mut examples = Vec::new();
    let mut truth = Vec::new();
    for (job, r) in jobs.iter().zip(rendered) {
        let pixels = r?;
        let Some(k) = job.identity else { continue };
        if let Some(px) = pixels {
            examples.push((px, p.width, p.height, pedestrians::describe(&peds[k].raw)));
        }
        if job.folder != "query" {
            truth.push((format!("{}/{}", job.folder, job.name), peds[k].raw.iter().map(|v| *v as i32).collect()));
        }
    }
    truth.sort_by(|a, b| a.0.cmp(&b.0));

    // The attribute file: per split, identities in id order, labels with noise.
    let noisy: Vec<[u8; 27]> =
        peds.iter().enumerate().map(|(k, ped)| pedestrians::noisy(&ped.raw, p.label_noise, &mut Rng::stream(p.seed, PURPOSE_NOISE, k as u64))).collect();
    let split_struct = |train: bool, order: &[&str]| -> MatValue {
        let ids: Vec<usize> = (0..p.identities).filter(|&k| is_train[k] == train).collect();
        let mut fields: Vec<(String, MatValue)> = order
            .iter()
            .map(|f| {
                let col = MARKET_FIELDS.iter().position(|m| m == f).unwrap_or(0);
                let values: Vec<f64> = ids.iter().map(|&k| noisy[k][col] as f64).collect();
                (f.to_string(), MatValue::row(&values))
            })
            .collect();
        let index = ids.iter().map(|&k| MatValue::text(&format!("{:04}", k + 1))).collect();
        fields.push(("image_index".into(), MatValue::Cell { dims: vec![1, ids.len()], items: index }));
        MatValue::record(fields)
    };
    let top = MatValue::record(vec![("test".into(), split_struct(false, &MAT_TEST_ORDER)), ("train".into(), split_struct(true, &MAT_TRAIN_ORDER))]);
    write_mat(&release.join("market_attribute.mat"), &[("market_attribute".into(), top)])?;
    let count = |folder: &str| jobs.iter().filter(|j| j.folder == folder).count();
    Ok(Generated {
        truth_columns: MARKET_FIELDS.iter().map(|s| s.to_string()).collect(),
        truth,
        summary: serde_json::json!({
            "identities": {"train": is_train.iter().filter(|t| **t).count(), "test": is_train.iter().filter(|t| !**t).count()},
            "images": {"bounding_box_train": count("bounding_box_train"), "bounding_box_test": count("bounding_box_test"), "query": count("query")},
            "distractors": p.distractors,
        }),
        examples,
    })
}

// ----------------------------------------------------------------- outputs

/// Writes `truth.csv`: `image`, then one column per raw attribute.
pub fn write_truth(path: &Path, g: &Generated) -> Result<()> {
    let mut out = String::with_capacity(g.truth.len() * (g.truth_columns.len() * 3 + 30));
    out.push_str("image");
    for c in &g.truth_columns {
        out.push(',');
        out.push_str(c);
    }
    out.push('\n');
    for (image, values) in &g.truth {
        out.push_str(image);
        for v in values {
            let _ = write!(out, ",{v}");
        }
        out.push('\n');
    }
    std::fs::write(path, out).with_context(|| format!("writing {}", path.display()))
}

/// A grid of example images with their (clean) labels printed under each.
pub fn write_contact_sheet(path: &Path, g: &Generated, columns: usize) -> Result<()> {
    if g.examples.is_empty() {
        bail!("no examples to draw a contact sheet from");
    }
    let (w, h) = (g.examples[0].1, g.examples[0].2);
    let scale = if w >= 120 { 2 } else { 1 };
    let lines = g.examples.iter().map(|e| e.3.len()).max().unwrap_or(0);
    let (tile_w, tile_h) = (w + 6, h + 4 + lines * 6 * scale + 4);
    let cols = columns.min(g.examples.len()).max(1);
    let rows = g.examples.len().div_ceil(cols);
    let (sw, sh) = (cols * tile_w, rows * tile_h);
    let mut buf = vec![255u8; sw * sh * 3];
    for (k, (px, ew, eh, labels)) in g.examples.iter().enumerate() {
        let (ox, oy) = ((k % cols) * tile_w + 3, (k / cols) * tile_h + 2);
        for y in 0..*eh.min(&h) {
            for x in 0..*ew.min(&w) {
                let s = (y * ew + x) * 3;
                let d = ((oy + y) * sw + ox + x) * 3;
                buf[d..d + 3].copy_from_slice(&px[s..s + 3]);
            }
        }
        for (l, line) in labels.iter().enumerate() {
            raster::draw_text(&mut buf, sw, ox, oy + h + 3 + l * 6 * scale, line, scale, [20, 20, 20]);
        }
    }
    image::save_buffer(path, &buf, sw as u32, sh as u32, image::ExtendedColorType::Rgb8).with_context(|| format!("writing {}", path.display()))
}
