//! Decodes the images of one split in parallel into the `<split>.u8` file the `prepare` stage
//! writes (N×H×W×3 uint8, rows in table order), a chunk at a time so memory stays bounded.

use std::io::Write as _;
use std::path::Path;

use anyhow::{bail, Context as _, Result};
use rayon::prelude::*;

use super::images::{ImageLoader, JpegDecoder};

/// Images decoded per chunk (bounded memory: a chunk at 224×224 is ~600 MB at most).
const CHUNK: usize = 4096;

/// Decodes `images` (paths relative to `root`) to `height`×`width` RGB with `decoder` and writes
/// them, in order, to `out`. An unreadable image stops it with an error naming the files, or,
/// with `skip`, is left out of `out`; returns the rows left out with why.
pub fn decode_split(
    root: &Path,
    images: &[String],
    height: usize,
    width: usize,
    decoder: JpegDecoder,
    skip: bool,
    out: &Path,
) -> Result<Vec<(usize, String)>> {
    // Fail before creating anything if the decoder cannot be loaded.
    drop(ImageLoader::new(decoder)?);
    let file = std::fs::File::create(out).with_context(|| format!("creating {}", out.display()))?;
    let mut writer = std::io::BufWriter::with_capacity(1 << 20, file);
    let per = height * width * 3;
    let mut buf = vec![0u8; CHUNK.min(images.len().max(1)) * per];
    let mut skipped = Vec::new();
    for (c, chunk) in images.chunks(CHUNK).enumerate() {
        let bytes = &mut buf[..chunk.len() * per];
        let results: Vec<Result<()>> = bytes
            .par_chunks_mut(per)
            .zip(chunk.par_iter())
            .map_init(
                || ImageLoader::new(decoder),
                |loader, (dst, image)| match loader {
                    Ok(loader) => loader.load_resized(&root.join(image), height, width, dst),
                    Err(e) => Err(anyhow::anyhow!("{e:#}")),
                },
            )
            .collect();
        let bad: Vec<(usize, String)> =
            results.iter().enumerate().filter_map(|(k, r)| r.as_ref().err().map(|e| (k, format!("{e:#}")))).collect();
        if !bad.is_empty() && !skip {
            bail!(
                "{} image(s) could not be decoded:\n  {}{}\nrepair or remove them, or set `on_bad_image: skip` on this stage to leave them out (they are listed in skipped.json)",
                bad.len(),
                bad.iter().take(10).map(|(_, m)| m.as_str()).collect::<Vec<_>>().join("\n  "),
                if bad.len() > 10 { format!("\n  … and {} more", bad.len() - 10) } else { String::new() }
            );
        }
        for (k, r) in results.iter().enumerate() {
            if r.is_ok() {
                writer.write_all(&bytes[k * per..(k + 1) * per]).with_context(|| format!("writing {}", out.display()))?;
            }
        }
        skipped.extend(bad.into_iter().map(|(k, m)| (c * CHUNK + k, m)));
    }
    writer.flush().with_context(|| format!("writing {}", out.display()))?;
    Ok(skipped)
}
