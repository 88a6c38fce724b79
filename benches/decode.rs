//! Benchmark: procedural-dataset throughput, then JPEG decode + resize + normalise of the same
//! 178×218 JPEGs at 224×224 and 64×64 on 1 and 2 threads. Prints one JSON object (images/s).
//!
//! `cargo bench --bench decode -- [--images N] [--dir DIR] [--json FILE]`; `DIR` keeps the
//! rendered JPEGs so that benches/decode_pil.py can time PIL + torchvision on the same files.

use std::path::PathBuf;
use std::time::Instant;

use awmt::data::images::{decode_rgb, normalise_chw, ImageLoader, JpegDecoder, IMAGENET_MEAN, IMAGENET_STD};
use awmt::data::synth::{generate_faces, generate_pedestrians, write_contact_sheet, FaceParams, PedestrianParams};
use rayon::prelude::*;

fn arg(name: &str) -> Option<String> {
    let args: Vec<String> = std::env::args().collect();
    args.iter().position(|a| a == name).and_then(|i| args.get(i + 1).cloned())
}

/// CPU seconds (user + system) this process has used so far.
fn cpu_seconds() -> f64 {
    // SAFETY: getrusage only writes into the struct we pass.
    let mut u: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut u) };
    let tv = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 * 1e-6;
    tv(u.ru_utime) + tv(u.ru_stime)
}

/// Decode + resize + normalise every file once, through the loader the `prepare` stage uses;
/// returns (images per wall-clock second, images per CPU second), best of `reps`. The second
/// figure is what one core delivers even when other processes share the machine.
fn time_pipeline(files: &[PathBuf], size: usize, threads: usize, reps: usize, decoder: JpegDecoder) -> (f64, f64) {
    let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().expect("thread pool");
    let (mut best, mut best_cpu) = (0.0f64, 0.0f64);
    for _ in 0..reps {
        let cpu = cpu_seconds();
        let t = Instant::now();
        let checksum: f64 = pool.install(|| {
            files
                .par_iter()
                .map_init(
                    || (ImageLoader::new(decoder).expect("decoder"), vec![0u8; size * size * 3], vec![0f32; size * size * 3]),
                    |(loader, hwc, chw), path| {
                        loader.load_resized(path, size, size, hwc).expect("decode");
                        normalise_chw(hwc, IMAGENET_MEAN, IMAGENET_STD, chw);
                        chw[0] as f64
                    },
                )
                .sum()
        });
        std::hint::black_box(checksum);
        best = best.max(files.len() as f64 / t.elapsed().as_secs_f64());
        best_cpu = best_cpu.max(files.len() as f64 / (cpu_seconds() - cpu).max(1e-9));
    }
    (best, best_cpu)
}

fn main() {
    let n: usize = arg("--images").and_then(|v| v.parse().ok()).unwrap_or(2000);
    let keep = arg("--dir").map(PathBuf::from);
    let tmp = tempfile::tempdir().expect("tempdir");
    let root = keep.clone().unwrap_or_else(|| tmp.path().to_path_buf());
    let faces_dir = root.join("faces");
    let _ = std::fs::remove_dir_all(&faces_dir);

    let mut out = serde_json::Map::new();
    // Synth throughput (JPEGs written), 1 and 2 threads.
    for threads in [1usize, 2] {
        let dir = root.join(format!("synth-{threads}"));
        let _ = std::fs::remove_dir_all(&dir);
        let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().expect("pool");
        // Examples are kept in memory for the contact sheets: a negligible cost.
        let fp = FaceParams { images: n, images_per_identity: 10, width: 178, height: 218, seed: 1, label_noise: 0.02, val_fraction: 0.1, test_fraction: 0.1, jpeg_quality: 90, examples: 18, rates: Default::default() };
        let t = Instant::now();
        let g = pool.install(|| generate_faces(&dir, &fp)).expect("faces");
        out.insert(format!("synth_faces_178x218_t{threads}"), serde_json::json!(n as f64 / t.elapsed().as_secs_f64()));
        write_contact_sheet(&root.join("faces_contact_sheet.png"), &g, 6).expect("sheet");
        let pp = PedestrianParams { identities: n / 10, images_per_identity: 10, query_per_identity: 0, distractors: 0, width: 64, height: 128, seed: 1, label_noise: 0.0, jpeg_quality: 90, examples: 24, rates: Default::default() };
        let pdir = root.join(format!("synth-ped-{threads}"));
        let _ = std::fs::remove_dir_all(&pdir);
        let t = Instant::now();
        let g = pool.install(|| generate_pedestrians(&pdir, &pp)).expect("pedestrians");
        out.insert(format!("synth_pedestrians_64x128_t{threads}"), serde_json::json!((pp.identities * 10) as f64 / t.elapsed().as_secs_f64()));
        write_contact_sheet(&root.join("pedestrians_contact_sheet.png"), &g, 12).expect("sheet");
        let _ = std::fs::remove_dir_all(&pdir);
        if threads == 1 {
            std::fs::rename(dir.join("img_align_celeba"), &faces_dir).expect("keep the JPEGs");
        }
        let _ = std::fs::remove_dir_all(&dir);
    }
    let mut files: Vec<PathBuf> = std::fs::read_dir(&faces_dir).expect("faces").map(|e| e.expect("entry").path()).collect();
    files.sort();
    let bytes: u64 = files.iter().map(|f| std::fs::metadata(f).map(|m| m.len()).unwrap_or(0)).sum();
    out.insert("jpeg_files".into(), serde_json::json!(files.len()));
    out.insert("jpeg_mean_bytes".into(), serde_json::json!(bytes / files.len().max(1) as u64));
    // Warm the page cache, then time.
    time_pipeline(&files, 64, 2, 1, JpegDecoder::Zune);
    // Breakdown: read + decode alone, one thread.
    let mut best = 0.0f64;
    for _ in 0..3 {
        let t = Instant::now();
        let mut sum = 0usize;
        for f in &files {
            let bytes = std::fs::read(f).expect("read");
            sum += decode_rgb(&bytes).expect("decode").pixels[0] as usize;
        }
        std::hint::black_box(sum);
        best = best.max(files.len() as f64 / t.elapsed().as_secs_f64());
    }
    out.insert("awmt_decode_only_t1".into(), serde_json::json!(best));
    let turbo = awmt::data::turbojpeg::available();
    out.insert("libjpeg_turbo".into(), serde_json::json!(match &turbo { Ok(lib) => format!("loaded {lib}"), Err(e) => format!("{e:#}") }));
    for size in [224usize, 64] {
        for threads in [1usize, 2] {
            let (wall, cpu) = time_pipeline(&files, size, threads, 3, JpegDecoder::Zune);
            out.insert(format!("awmt_{size}_t{threads}"), serde_json::json!(wall));
            out.insert(format!("awmt_{size}_t{threads}_per_cpu_second"), serde_json::json!(cpu));
            if turbo.is_ok() {
                let (wall, cpu) = time_pipeline(&files, size, threads, 3, JpegDecoder::LibjpegTurbo);
                out.insert(format!("awmt_turbo_{size}_t{threads}"), serde_json::json!(wall));
                out.insert(format!("awmt_turbo_{size}_t{threads}_per_cpu_second"), serde_json::json!(cpu));
            }
        }
        // Every later epoch: the prepared uint8 images are only normalised (what
        // PreparedSplit::batch does per image), one thread.
        let mut prepared = vec![0u8; files.len() * size * size * 3];
        let mut loader = ImageLoader::new(JpegDecoder::Zune).expect("decoder");
        for (f, dst) in files.iter().zip(prepared.chunks_exact_mut(size * size * 3)) {
            loader.load_resized(f, size, size, dst).expect("decode");
        }
        let mut chw = vec![0f32; size * size * 3];
        let mut best = 0.0f64;
        for _ in 0..3 {
            let t = Instant::now();
            for img in prepared.chunks_exact(size * size * 3) {
                normalise_chw(img, IMAGENET_MEAN, IMAGENET_STD, &mut chw);
                std::hint::black_box(&chw);
            }
            best = best.max(files.len() as f64 / t.elapsed().as_secs_f64());
        }
        out.insert(format!("awmt_prepared_{size}_t1"), serde_json::json!(best));
    }
    out.insert("jpeg_dir".into(), serde_json::json!(faces_dir.display().to_string()));
    let text = serde_json::to_string_pretty(&serde_json::Value::Object(out)).expect("json");
    println!("{text}");
    if let Some(p) = arg("--json") {
        std::fs::write(p, text + "\n").expect("write json");
    }
    if keep.is_none() {
        drop(tmp);
    }
}
