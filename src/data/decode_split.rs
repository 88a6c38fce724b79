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
/// them, in order, to `out`. Unreadable images stop it with an error naming them.
pub fn decode_split(root: &Path, images: &[String], height: usize, width: usize, decoder: JpegDecoder, out: &Path) -> Result<()> {
    // Fail before creating anything if the decoder cannot be loaded.
    drop(ImageLoader::new(decoder)?);
    let file = std::fs::File::create(out).with_context(|| format!("creating {}", out.display()))?;
    let mut writer = std::io::BufWriter::with_capacity(1 << 20, file);
    let per = height * width * 3;
    let mut buf = vec![0u8; CHUNK.min(images.len().max(1)) * per];
    for chunk in images.chunks(CHUNK) {
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
        let bad: Vec<String> = results.into_iter().filter_map(|r| r.err().map(|e| format!("{e:#}"))).collect();
        if !bad.is_empty() {
            bail!(
                "{} image(s) could not be decoded:\n  {}\nre-run the split stage with `on_bad_image: skip` to leave such images out",
                bad.len(),
                bad.iter().take(10).cloned().collect::<Vec<_>>().join("\n  ")
            );
        }
        writer.write_all(bytes).with_context(|| format!("writing {}", out.display()))?;
    }
    writer.flush().with_context(|| format!("writing {}", out.display()))?;
    Ok(())
}
