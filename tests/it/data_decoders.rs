//! The two JPEG decoders of `prepare` (zune-jpeg, libjpeg-turbo loaded at run time) and the
//! resampler behind both: agreement, DCT-domain shrinking, determinism, and the error a user
//! gets without the C library. Tests that need libjpeg-turbo install Debian's `libturbojpeg0`
//! when they run as root and it is missing; elsewhere they skip, saying so.

use crate::common;
use crate::data_support;

use std::path::Path;
use std::process::Command;

use awmt::data::images::{decode_rgb, ImageLoader, JpegDecoder};
use awmt::data::prepared::PreparedSplit;
use awmt::data::synth::encode_jpeg;
use awmt::data::turbojpeg::{self, TurboDecoder};
use data_support::{run_stage, tree_digest};
use serde_json::json;

/// Whether libturbojpeg.so.0 is installed, installing it first where that is possible. Checked
/// with ldconfig before the first `dlopen`, whose result this process keeps.
fn libjpeg_turbo_or_install() -> bool {
    let installed = || {
        Command::new("ldconfig").arg("-p").output().map(|o| String::from_utf8_lossy(&o.stdout).contains("libturbojpeg.so.0")).unwrap_or(false)
    };
    if !installed() && std::env::var("AWMT_LIBTURBOJPEG").is_err() {
        let root = Command::new("id").arg("-u").output().map(|o| o.stdout.starts_with(b"0")).unwrap_or(false);
        if root && Command::new("apt-get").arg("--version").output().is_ok() {
            eprintln!("libturbojpeg0 missing: installing Debian's package");
            let _ = Command::new("sh").args(["-c", "timeout 600 apt-get update -qq && DEBIAN_FRONTEND=noninteractive timeout 600 apt-get install -y -qq libturbojpeg0"]).status();
        }
    }
    match turbojpeg::available() {
        Ok(_) => true,
        Err(e) => {
            eprintln!("SKIPPED: libjpeg-turbo is not available here and could not be installed ({e:#})");
            false
        }
    }
}

/// A smooth test picture with edges, 178×218 like a CelebA crop.
fn picture() -> Vec<u8> {
    let (w, h) = (178usize, 218usize);
    let mut px = vec![0u8; w * h * 3];
    for y in 0..h {
        for x in 0..w {
            let i = (y * w + x) * 3;
            let inside = (x as f64 - 89.0).powi(2) / 50f64.powi(2) + (y as f64 - 100.0).powi(2) / 70f64.powi(2) < 1.0;
            px[i] = if inside { 220 } else { (x * 255 / w) as u8 };
            px[i + 1] = if inside { 170 } else { (y * 255 / h) as u8 };
            px[i + 2] = if inside { 140 } else { 60 };
        }
    }
    px
}

fn mean_abs(a: &[u8], b: &[u8]) -> f64 {
    assert_eq!(a.len(), b.len());
    a.iter().zip(b).map(|(x, y)| (*x as f64 - *y as f64).abs()).sum::<f64>() / a.len() as f64
}

#[test]
fn libjpeg_turbo_agrees_with_zune_and_shrinks_inside_the_idct() {
    if !libjpeg_turbo_or_install() {
        return;
    }
    let jpeg = encode_jpeg(&picture(), 178, 218, 90).unwrap();
    let zune = decode_rgb(&jpeg).unwrap();
    let mut turbo = TurboDecoder::new().unwrap();
    let full = turbo.decode(&jpeg, None).unwrap();
    assert_eq!((full.width, full.height), (178, 218));
    let d = mean_abs(&full.pixels, &zune.pixels);
    assert!(d < 1.5, "libjpeg-turbo and zune-jpeg differ by {d} on average");
    // The largest of 1/8, 1/4, 1/2 that still covers the target.
    for ((min_w, min_h), want) in [((224, 224), (178, 218)), ((100, 100), (178, 218)), ((64, 64), (89, 109)), ((40, 50), (45, 55)), ((20, 20), (23, 28))] {
        let img = turbo.decode(&jpeg, Some((min_w, min_h))).unwrap();
        assert_eq!((img.width, img.height), want, "target {min_w}×{min_h}");
        assert_eq!(img.pixels.len(), want.0 * want.1 * 3);
    }
    // Through the loader: a 64×64 target from a half-size decode stays close to zune's full decode.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a.jpg");
    std::fs::write(&path, &jpeg).unwrap();
    let (mut a, mut b) = (vec![0u8; 64 * 64 * 3], vec![0u8; 64 * 64 * 3]);
    ImageLoader::new(JpegDecoder::LibjpegTurbo).unwrap().load_resized(&path, 64, 64, &mut a).unwrap();
    ImageLoader::new(JpegDecoder::Zune).unwrap().load_resized(&path, 64, 64, &mut b).unwrap();
    let d = mean_abs(&a, &b);
    assert!(d < 3.0, "64×64 via a 1/2-scale decode differs from the full decode by {d} on average");
    // Corrupt data is an error, never a crash, and never a grey-filled image.
    assert!(turbo.decode(b"\xFF\xD8 not a jpeg", None).is_err());
    assert!(turbo.decode(&jpeg[..jpeg.len() / 2], None).is_err(), "a truncated JPEG is an error");
    std::fs::write(&path, b"\xFF\xD8\xFF\xE0 broken").unwrap();
    let err = format!("{:#}", ImageLoader::new(JpegDecoder::LibjpegTurbo).unwrap().load_resized(&path, 64, 64, &mut a).unwrap_err());
    assert!(err.contains("a.jpg") && err.contains("not a readable JPEG"), "{err}");
}

#[test]
fn prepare_with_libjpeg_turbo_is_deterministic_and_close_to_zune() {
    if !libjpeg_turbo_or_install() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let synth = dir.path().join("synth");
    run_stage("synth", json!({"style": "faces", "images": 30, "images_per_identity": 3, "seed": 4, "examples": 4}), &[], &synth, 2).unwrap();
    let split = dir.path().join("split");
    run_stage("split", json!({"format": "celeba"}), &[("root", &synth)], &split, 2).unwrap();
    let prepare = |name: &str, decoder: &str, threads: usize| {
        let out = dir.path().join(name);
        run_stage("prepare", json!({"size": [64, 64], "decoder": decoder, "splits": ["train"]}), &[("split", &split), ("root", &synth)], &out, threads).unwrap();
        out
    };
    let (turbo, turbo_again, zune) = (prepare("t1", "libjpeg-turbo", 2), prepare("t2", "libjpeg-turbo", 1), prepare("z", "zune", 2));
    assert_eq!(tree_digest(&turbo), tree_digest(&turbo_again), "same decoder, same bytes, whatever the threads");
    let (a, b) = (PreparedSplit::open(&turbo, "train").unwrap(), PreparedSplit::open(&zune, "train").unwrap());
    assert_eq!(a.len, b.len);
    for i in 0..a.len {
        let d = mean_abs(a.image(i), b.image(i));
        assert!(d < 3.0, "image {i}: the decoders' 64×64 images differ by {d} on average");
    }
    assert_ne!(tree_digest(&turbo).get("train.u8"), tree_digest(&zune).get("train.u8"), "the decoders' pixels differ slightly");
}

#[test]
fn asking_for_libjpeg_turbo_without_it_says_what_to_install() {
    let p = common::Project::new();
    p.write(
        "p.yaml",
        "stages:\n  faces:\n    kind: synth\n    with: {style: faces, images: 12, images_per_identity: 3, width: 40, height: 48, examples: 2}\n  split:\n    kind: split\n    inputs: {root: faces}\n    with: {format: celeba}\n  prep:\n    kind: prepare\n    inputs: {split: split, root: faces}\n    with: {size: [16, 16], decoder: libjpeg-turbo}\n",
    );
    let out = p.command(&["run", "p.yaml"]).env("AWMT_LIBTURBOJPEG", p.path("no/libturbojpeg.so.0")).output().unwrap();
    let err = common::stderr(&out);
    assert!(!out.status.success(), "{err}");
    assert!(err.contains("decoder `libjpeg-turbo`") && err.contains("apt-get install libturbojpeg0") && err.contains("decoder: zune"), "{err}");
    // A misspelt decoder is refused before anything runs, naming the choices.
    p.write("q.yaml", &p.read("p.yaml").replace("libjpeg-turbo", "turbo"));
    let out = p.awmt(&["run", "q.yaml"]);
    let err = common::stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("q.yaml:") && err.contains("zune") && err.contains("libjpeg-turbo"), "{err}");
    assert!(!Path::new(&p.path("cache/stages")).exists() || p.cache_entries().iter().all(|e| !e.join("out/train.u8").exists()));
}

/// JPEG damage a lenient decoder hides: the file cut in half (the rest would be grey) and 200
/// random bytes written over the middle of the image data.
fn damaged(jpeg: &[u8]) -> [(&'static str, Vec<u8>); 2] {
    let truncated = jpeg[..jpeg.len() / 2].to_vec();
    let mut scribbled = jpeg.to_vec();
    let mut x: u32 = 0x1234_5678;
    let mid = scribbled.len() / 2;
    for b in &mut scribbled[mid..mid + 200] {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        *b = (x >> 24) as u8;
    }
    [("truncated", truncated), ("scribbled", scribbled)]
}

#[test]
fn damaged_jpegs_are_errors_not_grey_images() {
    let jpeg = encode_jpeg(&picture(), 178, 218, 90).unwrap();
    for (what, bytes) in damaged(&jpeg) {
        assert!(decode_rgb(&bytes).is_err(), "a {what} JPEG decoded");
    }
}

/// A user's dataset folder (a rendered CelebA release) with two damaged images, split and prepared
/// by a pipeline: by default the run stops naming both files; `on_bad_image: skip` leaves them out
/// and lists them.
#[test]
fn a_pipeline_over_damaged_images_names_them_or_skips_them() {
    let p = common::Project::new();
    let synth = p.path("synth");
    run_stage("synth", json!({"style": "faces", "images": 24, "images_per_identity": 3, "seed": 9, "examples": 2, "width": 64, "height": 80}), &[], &synth, 2).unwrap();
    std::fs::rename(synth.join("release"), p.path("celeba")).unwrap();
    let mut names: Vec<_> = std::fs::read_dir(p.path("celeba/img_align_celeba")).unwrap().map(|e| e.unwrap().path()).collect();
    names.sort();
    let original = std::fs::read(&names[0]).unwrap();
    for ((what, bytes), path) in damaged(&original).into_iter().zip([&names[0], &names[5]]) {
        let _ = what;
        std::fs::write(path, bytes).unwrap();
    }
    let bad: Vec<String> = [&names[0], &names[5]].iter().map(|n| n.file_name().unwrap().to_string_lossy().into_owned()).collect();
    let yaml = |on_bad: &str| {
        format!(
            "stages:\n  split:\n    kind: split\n    inputs: {{root: celeba}}\n    with: {{format: celeba{on_bad}}}\n  prep:\n    kind: prepare\n    inputs: {{split: split, root: celeba}}\n    with: {{size: [16, 16]}}\n"
        )
    };
    p.write("p.yaml", &yaml(""));
    let out = p.awmt(&["run", "p.yaml"]);
    let err = common::stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    for b in &bad {
        assert!(err.contains(b.as_str()), "names {b}: {err}");
    }
    assert!(err.contains("on_bad_image: skip"), "{err}");
    p.write("p.yaml", &yaml(", on_bad_image: skip"));
    let out = p.awmt(&["run", "p.yaml"]);
    assert!(out.status.success(), "{}", common::stderr(&out));
    let info: serde_json::Value = serde_json::from_str(&p.read("reports/p/split/split.json")).unwrap();
    assert_eq!(info["skipped_images"], 2, "{info}");
    let listed: Vec<&str> = info["skipped"].as_array().unwrap().iter().map(|s| s["image"].as_str().unwrap()).collect();
    for b in &bad {
        assert!(listed.iter().any(|l| l.ends_with(b.as_str())), "{b} listed in {listed:?}");
    }
    let prepared: serde_json::Value = serde_json::from_str(&p.read("reports/p/prep/prepared.json")).unwrap();
    let total: u64 = prepared["splits"].as_object().unwrap().values().map(|v| v.as_u64().unwrap()).sum();
    assert_eq!(total, 22, "the two damaged images are left out: {prepared}");
}

/// `prepare` itself decodes strictly and can skip: a split made before an image was damaged.
#[test]
fn prepare_skips_and_lists_images_damaged_after_the_split() {
    let dir = tempfile::tempdir().unwrap();
    let synth = dir.path().join("synth");
    run_stage("synth", json!({"style": "faces", "images": 24, "images_per_identity": 3, "seed": 5, "examples": 2, "width": 64, "height": 80}), &[], &synth, 2).unwrap();
    let split = dir.path().join("split");
    run_stage("split", json!({"format": "celeba"}), &[("root", &synth)], &split, 2).unwrap();
    let (_, rows) = data_support::read_csv(&split.join("train.csv"));
    let victim = rows[1][0].clone();
    let path = synth.join("release").join(&victim);
    let bytes = std::fs::read(&path).unwrap();
    std::fs::write(&path, &bytes[..bytes.len() / 2]).unwrap();
    let strict = dir.path().join("strict");
    let err = format!("{:#}", run_stage("prepare", json!({"size": [16, 16], "splits": ["train"]}), &[("split", &split), ("root", &synth)], &strict, 2).unwrap_err());
    assert!(err.contains(&victim) && err.contains("on_bad_image: skip"), "{err}");
    let lenient = dir.path().join("lenient");
    run_stage("prepare", json!({"size": [16, 16], "splits": ["train"], "on_bad_image": "skip"}), &[("split", &split), ("root", &synth)], &lenient, 2).unwrap();
    let skipped: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(lenient.join("skipped.json")).unwrap()).unwrap();
    assert_eq!(skipped["skipped_images"], 1);
    assert_eq!(skipped["skipped"][0]["image"], victim.as_str());
    let prepared = PreparedSplit::open(&lenient, "train").unwrap();
    assert_eq!(prepared.len, rows.len() - 1);
    let (_, kept) = data_support::read_csv(&lenient.join("train.csv"));
    assert_eq!(kept.len(), rows.len() - 1);
    assert!(kept.iter().all(|r| r[0] != victim), "the table loses the row too");
}
