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
    let per = height * width * 3;
    let capacity = CHUNK.min(images.len().max(1)) * per;
    // Two buffers: one being decoded into while a writer thread writes the other, so the disk
    // never waits for the decoders nor the decoders for the disk (at 224×224 the full CelebA is
    // 30 GB, about as long to write as to decode).
    let (to_writer, from_decoder) = std::sync::mpsc::sync_channel::<(Vec<u8>, Vec<bool>)>(1);
    let (to_decoder, from_writer) = std::sync::mpsc::channel::<Vec<u8>>();
    std::thread::scope(|scope| -> Result<Vec<(usize, String)>> {
        let writer = scope.spawn(move || -> Result<()> {
            let mut writer = file;
            for (bytes, ok) in from_decoder {
                // Runs of decoded images in one write each (a whole chunk when nothing was skipped).
                let mut k = 0;
                while k < ok.len() {
                    let end = k + ok[k..].iter().take_while(|&&o| o == ok[k]).count();
                    if ok[k] {
                        writer.write_all(&bytes[k * per..end * per]).with_context(|| format!("writing {}", out.display()))?;
                    }
                    k = end;
                }
                // The decoder may have stopped (an error); then nobody needs the buffer back.
                let _ = to_decoder.send(bytes);
            }
            Ok(())
        });
        // Decodes chunk by chunk into buffers (a fresh one for each of the first two chunks, then
        // those the writer hands back) and sends each with its per-image success mask.
        let decode = || -> Result<Vec<(usize, String)>> {
            let mut skipped = Vec::new();
            for (c, chunk) in images.chunks(CHUNK).enumerate() {
                let mut buf = match c {
                    0 | 1 => vec![0u8; capacity],
                    // The writer failed (its error is the one to report) or hands back a buffer.
                    _ => match from_writer.recv() {
                        Ok(buf) => buf,
                        Err(_) => break,
                    },
                };
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
                let ok: Vec<bool> = results.iter().map(Result::is_ok).collect();
                if to_writer.send((buf, ok)).is_err() {
                    break;
                }
                skipped.extend(bad.into_iter().map(|(k, m)| (c * CHUNK + k, m)));
            }
            Ok(skipped)
        };
        let decoded = decode();
        drop(to_writer);
        let written = writer.join().map_err(|_| anyhow::anyhow!("the thread writing {} panicked", out.display()))?;
        // A decode error explains more than the write error it may have caused.
        let skipped = decoded?;
        written?;
        Ok(skipped)
    })
}
