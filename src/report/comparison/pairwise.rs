//! The statistics between every pair of measured methods of one format
//! (docs/STATISTICS.md): the identity-level paired bootstrap of the mean-accuracy
//! difference (`bootstrap_<format>`) and, per attribute, of the accuracy difference with the
//! identity-level sign-flip test and Holm's correction (`attribute_tests_<format>`); McNemar per
//! attribute as the labelled image-level view (`mcnemar_<format>`).
//!
//! Seeds: seed k of A is paired with seed k of B (input order); the pairings are pooled as
//! `eval::paired` describes. The McNemar view uses the first pairing only.

use std::collections::HashMap;

use anyhow::{bail, Context as _, Result};
use polars::prelude::{Column, DataFrame};

use super::{format_title, frame, MODEL_SELECTION, SEED_PAIRING};
use crate::eval::bootstrap::cluster_bootstrap;
use crate::eval::files::RunCorrectness;
use crate::eval::holm::holm;
use crate::eval::mcnemar::{mcnemar, EXACT_BELOW};
use crate::eval::paired::{ClusteredDifferences, Clusters, Correctness, ResamplingUnit};
use crate::eval::seeds::over_seeds;
use crate::eval::sign_flip::{sign_flip_test, EXACT_UP_TO};
use crate::report::files::TableInfo;
use crate::rng::Rng;

/// Stream tag of the sign-flip draws (`Rng::stream`).
const SIGN_FLIP_STREAM: u64 = 0x5167_4e46;

/// One measured method: its label and its runs (seeds, input order) with their predictions.
pub struct MethodPredictions<'a> {
    pub method: String,
    pub runs: Vec<(String, &'a RunCorrectness)>,
}

/// The parameters of the statistics.
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    pub resamples: usize,
    pub level: f64,
    pub seed: u64,
    pub flips: usize,
    pub alpha: f64,
}

/// One row of `bootstrap_<format>` (differences A − B in percentage points).
#[derive(Debug, Clone, PartialEq)]
pub struct BootstrapRow {
    pub method_a: String,
    pub method_b: String,
    pub runs_a: String,
    pub runs_b: String,
    pub seed_pairings: u32,
    /// What was resampled (`identities`, `images (identity unknown)`, …).
    pub unit: String,
    /// How many of them.
    pub units: u64,
    pub images: u64,
    pub mean_diff_pct: f64,
    /// Sample std over the seed pairings of each pairing's observed difference.
    pub pairing_std_pct: Option<f64>,
    pub ci_low_pct: f64,
    pub ci_high_pct: f64,
    /// `"k of M"`: attributes with Holm-adjusted sign-flip p < alpha.
    pub significant_attributes: String,
}

/// One row of `attribute_tests_<format>`.
#[derive(Debug, Clone, PartialEq)]
pub struct AttributeTestRow {
    pub method_a: String,
    pub method_b: String,
    pub attribute: String,
    /// Images scored on this attribute by every run of the pair.
    pub images: u64,
    /// Units (identities) with a scored image, and those whose s_g ≠ 0.
    pub units: u64,
    pub units_differing: u64,
    pub diff_pct: Option<f64>,
    pub ci_low_pct: Option<f64>,
    pub ci_high_pct: Option<f64>,
    /// T = Σ_g s_g (summed over the seed pairings).
    pub statistic: i64,
    pub test: String,
    pub p_value: f64,
    pub p_value_holm: f64,
    pub significant: bool,
}

/// One row of `mcnemar_<format>` (the image-level view, first seed pairing).
#[derive(Debug, Clone, PartialEq)]
pub struct McNemarRow {
    pub method_a: String,
    pub method_b: String,
    pub run_a: String,
    pub run_b: String,
    pub attribute: String,
    pub n: u64,
    pub a_right_b_wrong: u64,
    pub b_right_a_wrong: u64,
    pub test: String,
    pub chi2: Option<f64>,
    pub p_value: f64,
    pub significant: bool,
}

/// All pairwise tables of one format.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Pairwise {
    pub bootstrap: Vec<BootstrapRow>,
    pub tests: Vec<AttributeTestRow>,
    pub mcnemar: Vec<McNemarRow>,
    /// Distinct units over the pairs (normally one).
    pub units: Vec<String>,
}

/// The K seed pairings of two methods aligned on the images and tasks every run has, with the
/// images' clusters.
struct Aligned {
    tasks: Vec<String>,
    clusters: Clusters,
    /// Per pairing: (A's matrix, B's matrix) over the aligned images × tasks.
    pairs: Vec<(Correctness, Correctness)>,
}

fn align(a: &MethodPredictions, b: &MethodPredictions) -> Result<Aligned> {
    let k = a.runs.len().min(b.runs.len());
    let runs: Vec<&(String, &RunCorrectness)> = a.runs[..k].iter().chain(&b.runs[..k]).collect();
    let first = runs[0].1;
    let tasks: Vec<String> = first.tasks.iter().filter(|t| runs.iter().all(|r| r.1.tasks.contains(t))).cloned().collect();
    let indices: Vec<HashMap<&str, usize>> = runs.iter().map(|r| r.1.image_index()).collect();
    let mut images: Vec<usize> = Vec::new(); // rows of the first run present in all
    for (i, name) in first.images.iter().enumerate() {
        if indices.iter().all(|ix| ix.contains_key(name.as_str())) {
            images.push(i);
        }
    }
    // Identities come from the first run; every other run must agree.
    for (r, ix) in runs.iter().zip(&indices).skip(1) {
        for &i in &images {
            let name = first.images[i].as_str();
            let j = ix[name];
            if r.1.identities[j] != first.identities[i] {
                bail!(
                    "runs `{}` and `{}` give image `{name}` different identities ({:?} vs {:?}); were they evaluated on the same split?",
                    runs[0].0,
                    r.0,
                    first.identities[i],
                    r.1.identities[j]
                );
            }
        }
    }
    let clusters = Clusters::from_identities(&images.iter().map(|&i| first.identities[i]).collect::<Vec<_>>());
    let matrix = |run: &RunCorrectness, ix: &HashMap<&str, usize>| {
        let cols: Vec<usize> = tasks.iter().map(|t| run.tasks.iter().position(|x| x == t).unwrap_or(0)).collect();
        let mut m = Correctness::new(images.len(), tasks.len());
        for (row, &i) in images.iter().enumerate() {
            let j = ix[first.images[i].as_str()];
            for (t, &c) in cols.iter().enumerate() {
                m.set(row, t, run.correct.get(j, c));
            }
        }
        m
    };
    let pairs =
        (0..k).map(|p| (matrix(runs[p].1, &indices[p]), matrix(runs[k + p].1, &indices[k + p]))).collect();
    Ok(Aligned { tasks, clusters, pairs })
}

/// Every pairwise table of one format; pairs are (i, j) with i < j in the order of `methods`.
pub fn pairwise(methods: &[MethodPredictions], s: &Settings) -> Result<Pairwise> {
    let mut out = Pairwise::default();
    let mut pair_index = 0u64;
    for i in 0..methods.len() {
        for j in (i + 1)..methods.len() {
            let (a, b) = (&methods[i], &methods[j]);
            if a.runs.is_empty() || b.runs.is_empty() {
                continue;
            }
            let aligned = align(a, b)?;
            if aligned.clusters.of_image.is_empty() || aligned.tasks.is_empty() {
                continue;
            }
            pair_index += 1;
            let pairs: Vec<(&Correctness, &Correctness)> = aligned.pairs.iter().map(|(x, y)| (x, y)).collect();
            let d = ClusteredDifferences::new(&pairs, &aligned.clusters)?;
            let boot = cluster_bootstrap(&d, s.resamples, s.seed, s.level)
                .with_context(|| format!("bootstrap of `{}` vs `{}`", a.method, b.method))?;
            let per_pairing: Vec<f64> = pairs
                .iter()
                .map(|p| ClusteredDifferences::new(std::slice::from_ref(p), &aligned.clusters).map(|d| d.observed().0))
                .collect::<Result<Vec<_>>>()?
                .into_iter()
                .flatten()
                .collect();
            let unit = d.unit().describe();
            if !out.units.contains(&unit) {
                out.units.push(unit.clone());
            }
            let tests: Vec<_> = (0..d.tasks())
                .map(|t| {
                    let seed = Rng::stream(s.seed, SIGN_FLIP_STREAM, (pair_index << 32) | t as u64).next_u64();
                    let sums = d.cluster_sums(t);
                    (sums.len(), sign_flip_test(&sums, s.flips, seed))
                })
                .collect();
            let adjusted = holm(&tests.iter().map(|(_, t)| t.p_value).collect::<Vec<_>>());
            let significant = adjusted.iter().filter(|p| **p < s.alpha).count();
            for (t, ((units, test), p_holm)) in tests.into_iter().zip(&adjusted).enumerate() {
                let ci = boot.tasks[t];
                out.tests.push(AttributeTestRow {
                    method_a: a.method.clone(),
                    method_b: b.method.clone(),
                    attribute: aligned.tasks[t].clone(),
                    images: d.scored(t),
                    units: units as u64,
                    units_differing: test.nonzero as u64,
                    diff_pct: ci.map(|c| 100.0 * c.observed),
                    ci_low_pct: ci.map(|c| 100.0 * c.low),
                    ci_high_pct: ci.map(|c| 100.0 * c.high),
                    statistic: test.statistic,
                    test: test.method.label(),
                    p_value: test.p_value,
                    p_value_holm: *p_holm,
                    significant: *p_holm < s.alpha,
                });
            }
            out.bootstrap.push(BootstrapRow {
                method_a: a.method.clone(),
                method_b: b.method.clone(),
                runs_a: a.runs[..d.pairings()].iter().map(|r| r.0.as_str()).collect::<Vec<_>>().join(", "),
                runs_b: b.runs[..d.pairings()].iter().map(|r| r.0.as_str()).collect::<Vec<_>>().join(", "),
                seed_pairings: d.pairings() as u32,
                unit,
                units: d.clusters() as u64,
                images: d.images() as u64,
                mean_diff_pct: 100.0 * boot.mean.observed,
                pairing_std_pct: over_seeds(&per_pairing).and_then(|o| o.std).map(|v| 100.0 * v),
                ci_low_pct: 100.0 * boot.mean.low,
                ci_high_pct: 100.0 * boot.mean.high,
                significant_attributes: format!("{significant} of {}", d.tasks()),
            });
            // The image-level view on the first pairing.
            let (ca, cb) = &aligned.pairs[0];
            for (t, task) in aligned.tasks.iter().enumerate() {
                let m = mcnemar((0..ca.images()).filter_map(|im| match (ca.get(im, t), cb.get(im, t)) {
                    (Some(x), Some(y)) => Some((x, y)),
                    _ => None,
                }));
                out.mcnemar.push(McNemarRow {
                    method_a: a.method.clone(),
                    method_b: b.method.clone(),
                    run_a: a.runs[0].0.clone(),
                    run_b: b.runs[0].0.clone(),
                    attribute: task.clone(),
                    n: m.n,
                    a_right_b_wrong: m.a_only,
                    b_right_a_wrong: m.b_only,
                    test: m.test.label().to_string(),
                    chi2: m.statistic,
                    p_value: m.p_value,
                    significant: m.p_value < s.alpha,
                });
            }
        }
    }
    Ok(out)
}

fn strings<R>(rows: &[R], f: impl Fn(&R) -> &str) -> Vec<String> {
    rows.iter().map(|r| f(r).to_string()).collect()
}

pub fn bootstrap_frame(rows: &[BootstrapRow]) -> Result<DataFrame> {
    frame(vec![
        Column::new("method_a".into(), strings(rows, |r| &r.method_a)),
        Column::new("method_b".into(), strings(rows, |r| &r.method_b)),
        Column::new("runs_a".into(), strings(rows, |r| &r.runs_a)),
        Column::new("runs_b".into(), strings(rows, |r| &r.runs_b)),
        Column::new("seed_pairings".into(), rows.iter().map(|r| r.seed_pairings).collect::<Vec<_>>()),
        Column::new("unit".into(), strings(rows, |r| &r.unit)),
        Column::new("units".into(), rows.iter().map(|r| r.units).collect::<Vec<_>>()),
        Column::new("images".into(), rows.iter().map(|r| r.images).collect::<Vec<_>>()),
        Column::new("mean_diff_pct".into(), rows.iter().map(|r| r.mean_diff_pct).collect::<Vec<_>>()),
        Column::new("pairing_std_pct".into(), rows.iter().map(|r| r.pairing_std_pct).collect::<Vec<_>>()),
        Column::new("ci_low_pct".into(), rows.iter().map(|r| r.ci_low_pct).collect::<Vec<_>>()),
        Column::new("ci_high_pct".into(), rows.iter().map(|r| r.ci_high_pct).collect::<Vec<_>>()),
        Column::new("significant_attributes".into(), strings(rows, |r| &r.significant_attributes)),
    ])
}

pub fn tests_frame(rows: &[AttributeTestRow]) -> Result<DataFrame> {
    frame(vec![
        Column::new("method_a".into(), strings(rows, |r| &r.method_a)),
        Column::new("method_b".into(), strings(rows, |r| &r.method_b)),
        Column::new("attribute".into(), strings(rows, |r| &r.attribute)),
        Column::new("images".into(), rows.iter().map(|r| r.images).collect::<Vec<_>>()),
        Column::new("units".into(), rows.iter().map(|r| r.units).collect::<Vec<_>>()),
        Column::new("units_differing".into(), rows.iter().map(|r| r.units_differing).collect::<Vec<_>>()),
        Column::new("diff_pct".into(), rows.iter().map(|r| r.diff_pct).collect::<Vec<_>>()),
        Column::new("ci_low_pct".into(), rows.iter().map(|r| r.ci_low_pct).collect::<Vec<_>>()),
        Column::new("ci_high_pct".into(), rows.iter().map(|r| r.ci_high_pct).collect::<Vec<_>>()),
        Column::new("statistic".into(), rows.iter().map(|r| r.statistic).collect::<Vec<_>>()),
        Column::new("test".into(), strings(rows, |r| &r.test)),
        Column::new("p_value".into(), rows.iter().map(|r| r.p_value).collect::<Vec<_>>()),
        Column::new("p_value_holm".into(), rows.iter().map(|r| r.p_value_holm).collect::<Vec<_>>()),
        Column::new("significant".into(), rows.iter().map(|r| r.significant).collect::<Vec<_>>()),
    ])
}

pub fn mcnemar_frame(rows: &[McNemarRow]) -> Result<DataFrame> {
    frame(vec![
        Column::new("method_a".into(), strings(rows, |r| &r.method_a)),
        Column::new("method_b".into(), strings(rows, |r| &r.method_b)),
        Column::new("run_a".into(), strings(rows, |r| &r.run_a)),
        Column::new("run_b".into(), strings(rows, |r| &r.run_b)),
        Column::new("attribute".into(), strings(rows, |r| &r.attribute)),
        Column::new("n".into(), rows.iter().map(|r| r.n).collect::<Vec<_>>()),
        Column::new("a_right_b_wrong".into(), rows.iter().map(|r| r.a_right_b_wrong).collect::<Vec<_>>()),
        Column::new("b_right_a_wrong".into(), rows.iter().map(|r| r.b_right_a_wrong).collect::<Vec<_>>()),
        Column::new("test".into(), strings(rows, |r| &r.test)),
        Column::new("chi2".into(), rows.iter().map(|r| r.chi2).collect::<Vec<_>>()),
        Column::new("p_value".into(), rows.iter().map(|r| r.p_value).collect::<Vec<_>>()),
        Column::new("significant".into(), rows.iter().map(|r| r.significant).collect::<Vec<_>>()),
    ])
}

fn unit_text(units: &[String]) -> String {
    match units {
        [] => "identities".into(),
        [one] => one.clone(),
        many => many.join("; "),
    }
}

/// What a title says was resampled.
fn unit_title(units: &[String]) -> &'static str {
    let identities = ResamplingUnit::Identities.describe();
    let images = ResamplingUnit::Images.describe();
    if units.iter().all(|u| *u == identities) {
        "identities resampled"
    } else if units.iter().all(|u| *u == images) {
        "images resampled: identities unknown"
    } else {
        "identities resampled, images where the identity is unknown"
    }
}

pub fn bootstrap_info(format: &str, p: &Pairwise, s: &Settings) -> TableInfo {
    TableInfo {
        stem: format!("bootstrap_{format}"),
        title: format!(
            "Mean-accuracy difference A − B with a {:.0}% paired bootstrap interval ({}) — {}",
            s.level * 100.0,
            unit_title(&p.units),
            format_title(format)
        ),
        caption: format!(
            "Resampled: {} (B = {} resamples, seed {}; every image of a drawn identity, twice if drawn twice), percentile interval. Seeds: {SEED_PAIRING}; pairing_std_pct is the sample std over the pairings of their observed differences. Models: {MODEL_SELECTION}. An interval that contains 0 means the difference is not distinguishable from noise at this sample size. significant_attributes: attributes whose identity-level sign-flip test has Holm-adjusted p < {}.",
            unit_text(&p.units),
            s.resamples,
            s.seed,
            s.alpha
        ),
    }
}

pub fn tests_info(format: &str, p: &Pairwise, s: &Settings) -> TableInfo {
    TableInfo {
        stem: format!("attribute_tests_{format}"),
        title: format!(
            "Per-attribute differences A − B and paired sign-flip tests ({}) — {}",
            unit_title(&p.units),
            format_title(format)
        ),
        caption: format!(
            "Resampled: {}. diff_pct with its {:.0}% identity-level bootstrap interval (B = {}); p_value from the paired sign-flip permutation test on s_g = Σ (c_A − c_B) over the images of identity g and the seed pairings (exact over all sign flips when at most {EXACT_UP_TO} identities differ, else {} seeded random flips with the +1 correction); p_value_holm is Holm-adjusted over the attributes of the pair, significant = adjusted p < {}. Seeds: {SEED_PAIRING}. Models: {MODEL_SELECTION}.",
            unit_text(&p.units),
            s.level * 100.0,
            s.resamples,
            s.flips,
            s.alpha
        ),
    }
}

pub fn mcnemar_info(format: &str, s: &Settings) -> TableInfo {
    TableInfo {
        stem: format!("mcnemar_{format}"),
        title: format!("McNemar's test per attribute, image-level view — {}", format_title(format)),
        caption: format!(
            "Image-level view: treats every image as independent, so where identities repeat its p-values are too small; the identity-level tests are in the per-attribute tests table. Paired on the same images (first seed of each method), no correction for multiple attributes. Exact binomial test when fewer than {EXACT_BELOW} rows disagree, else chi-square with continuity correction; significant = p < {}.",
            s.alpha
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A run over `n` images of identities `i / per_identity`, one task `T`, right where `right(i)`.
    fn run(n: usize, per_identity: usize, right: impl Fn(usize) -> bool) -> RunCorrectness {
        let mut correct = Correctness::new(n, 1);
        for i in 0..n {
            correct.set(i, 0, Some(right(i)));
        }
        RunCorrectness {
            images: (0..n).map(|i| format!("{i}.jpg")).collect(),
            identities: (0..n).map(|i| (per_identity > 0).then_some((i / per_identity.max(1)) as i64)).collect(),
            tasks: vec!["T".into()],
            correct,
        }
    }

    fn settings() -> Settings {
        Settings { resamples: 500, level: 0.95, seed: 1, flips: 2000, alpha: 0.05 }
    }

    #[test]
    fn one_pair_with_pooled_seeds() {
        // A: right on every image in both seeds. B seed 1: wrong on identity 0's 4 images; seed 2:
        // wrong on identity 1's. Pooled s_g: identity 0 → 4, identity 1 → 4, others 0 (10 identities).
        let a1 = run(40, 4, |_| true);
        let a2 = run(40, 4, |_| true);
        let b1 = run(40, 4, |i| i / 4 != 0);
        let b2 = run(40, 4, |i| i / 4 != 1);
        let methods = vec![
            MethodPredictions { method: "A".into(), runs: vec![("a1".into(), &a1), ("a2".into(), &a2)] },
            MethodPredictions { method: "B".into(), runs: vec![("b1".into(), &b1), ("b2".into(), &b2), ("b3".into(), &b2)] },
        ];
        let p = pairwise(&methods, &settings()).unwrap();
        assert_eq!(p.units, ["identities"]);
        let b = &p.bootstrap[0];
        assert_eq!((b.seed_pairings, b.units, b.images), (2, 10, 40));
        assert_eq!((b.runs_a.as_str(), b.runs_b.as_str()), ("a1, a2", "b1, b2"), "B's third seed has no partner");
        // Each pairing differs by 4/40 = 10 points; pooled 10, no spread over pairings.
        assert!((b.mean_diff_pct - 10.0).abs() < 1e-9);
        assert_eq!(b.pairing_std_pct, Some(0.0));
        assert!(b.ci_low_pct >= 0.0 && b.ci_high_pct > 10.0);
        let t = &p.tests[0];
        // Two identities differ, both +4: exact p = 2/4 (|±4 ± 4| ≥ 8 for ++ and −−).
        assert_eq!((t.units, t.units_differing, t.statistic), (10, 2, 8));
        assert_eq!(t.p_value, 0.5);
        assert_eq!(t.p_value_holm, 0.5);
        assert!(!t.significant);
        assert_eq!(b.significant_attributes, "0 of 1");
        // The image-level view on the first pairing sees 4 discordant images out of 40.
        let m = &p.mcnemar[0];
        assert_eq!((m.n, m.a_right_b_wrong, m.b_right_a_wrong), (40, 4, 0));
        assert_eq!((m.run_a.as_str(), m.run_b.as_str()), ("a1", "b1"));
        assert_eq!(bootstrap_frame(&p.bootstrap).unwrap().shape(), (1, 13));
        assert_eq!(tests_frame(&p.tests).unwrap().shape(), (1, 14));
        assert_eq!(mcnemar_frame(&p.mcnemar).unwrap().shape(), (1, 12));
        let info = bootstrap_info("celeba", &p, &settings());
        assert!(info.caption.contains("Resampled: identities") && info.caption.contains("seed k of A"), "{}", info.caption);
        assert!(info.title.contains("(identities resampled)"), "{}", info.title);
    }

    #[test]
    fn unknown_identities_resample_images_and_say_so() {
        let a = run(30, 0, |i| i % 2 == 0);
        let b = run(30, 0, |i| i % 3 == 0);
        let methods = vec![
            MethodPredictions { method: "A".into(), runs: vec![("a".into(), &a)] },
            MethodPredictions { method: "B".into(), runs: vec![("b".into(), &b)] },
        ];
        let p = pairwise(&methods, &settings()).unwrap();
        assert_eq!(p.units, ["images (identity unknown)"]);
        assert_eq!(p.bootstrap[0].units, 30);
        let info = tests_info("market", &p, &settings());
        assert!(info.caption.contains("Resampled: images (identity unknown)"));
        assert!(info.title.contains("images resampled"), "{}", info.title);
        // One image per unit: the sign-flip p equals the exact McNemar p (b + c < 25).
        let m = &p.mcnemar[0];
        assert!((p.tests[0].p_value - m.p_value).abs() < 1e-12, "{} vs {}", p.tests[0].p_value, m.p_value);
    }

    #[test]
    fn identities_must_agree_between_runs() {
        let a = run(8, 4, |_| true);
        let b = run(8, 2, |_| true);
        let methods = vec![
            MethodPredictions { method: "A".into(), runs: vec![("a".into(), &a)] },
            MethodPredictions { method: "B".into(), runs: vec![("b".into(), &b)] },
        ];
        let err = pairwise(&methods, &settings()).unwrap_err();
        assert!(err.to_string().contains("different identities"), "{err}");
    }

    /// The size the brief sets for `make run` (4 methods × 3 seeds × 1,500 images of identities of
    /// 8 × 12 attributes, B = 2,000, 10,000 flips), timed, not asserted:
    /// `cargo test --release --lib pairwise_cost -- --ignored --nocapture`.
    #[test]
    #[ignore]
    fn pairwise_cost_at_quickstart_scale() {
        let (n, tasks) = (1500, 12);
        let mut rng = Rng::new(9);
        let mut make = |accuracy: f64, per_identity: usize| {
            let mut correct = Correctness::new(n, tasks);
            for i in 0..n {
                for t in 0..tasks {
                    correct.set(i, t, Some((rng.next_u64() % 1000) as f64 / 1000.0 < accuracy));
                }
            }
            RunCorrectness {
                images: (0..n).map(|i| format!("{i}.jpg")).collect(),
                identities: (0..n).map(|i| (per_identity > 0).then_some((i / per_identity.max(1)) as i64)).collect(),
                tasks: (0..tasks).map(|t| format!("t{t}")).collect(),
                correct,
            }
        };
        for per_identity in [8, 0] {
            let runs: Vec<Vec<RunCorrectness>> =
                (0..4).map(|m| (0..3).map(|_| make(0.8 + 0.03 * m as f64, per_identity)).collect()).collect();
            let methods: Vec<MethodPredictions> = runs
                .iter()
                .enumerate()
                .map(|(m, rs)| MethodPredictions {
                    method: format!("m{m}"),
                    runs: rs.iter().enumerate().map(|(k, r)| (format!("m{m}s{k}"), r)).collect(),
                })
                .collect();
            let s = Settings { resamples: 2000, level: 0.95, seed: 0, flips: 10_000, alpha: 0.05 };
            let start = std::time::Instant::now();
            let p = pairwise(&methods, &s).unwrap();
            eprintln!(
                "{} pairs, unit {:?}: {:.3} s",
                p.bootstrap.len(),
                p.units,
                start.elapsed().as_secs_f64()
            );
        }
    }
}
