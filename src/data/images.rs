//! The image pipeline: JPEG (zune-jpeg) / PNG decode to RGB, SIMD resize (`resample`:
//! antialiased bilinear like PIL), and normalisation to CHW floats.

use std::path::Path;

use anyhow::{anyhow, bail, Context as _, Result};
use zune_core::bytestream::ZCursor;
use zune_core::colorspace::ColorSpace;
use zune_core::options::DecoderOptions;
use zune_jpeg::JpegDecoder as ZuneDecoder;

use serde::{Deserialize, Serialize};

use super::resample::{bytes_to_chw, ResizePlan};
use super::turbojpeg::TurboDecoder;

/// ImageNet channel statistics on the 0..1 scale (torchvision's `Normalize` defaults).
pub const IMAGENET_MEAN: [f32; 3] = [0.485, 0.456, 0.406];
pub const IMAGENET_STD: [f32; 3] = [0.229, 0.224, 0.225];

/// A decoded RGB image, HWC, 3 bytes per pixel.
pub struct Rgb {
    pub width: usize,
    pub height: usize,
    pub pixels: Vec<u8>,
}

fn is_jpeg(bytes: &[u8]) -> bool {
    bytes.starts_with(&[0xFF, 0xD8])
}

/// Decoders are third-party code fed with user files: a panic inside one becomes an error.
fn guarded<T>(f: impl FnOnce() -> Result<T>) -> Result<T> {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)) {
        Ok(r) => r,
        Err(_) => bail!("the decoder failed on this file (corrupt image data)"),
    }
}

/// Decodes JPEG (or anything else `image` reads, e.g. PNG) bytes to RGB. JPEGs are decoded
/// strictly: a truncated file, a marker inside the image data, an undecodable code or image data
/// whose blocks do not end where it does (`jpeg_check`) is an error (a lenient decoder fills what
/// it cannot read with grey and says nothing).
pub fn decode_rgb(bytes: &[u8]) -> Result<Rgb> {
    guarded(|| {
        if is_jpeg(bytes) {
            let opts = DecoderOptions::default().jpeg_set_out_colorspace(ColorSpace::RGB).set_strict_mode(true);
            let mut dec = ZuneDecoder::new_with_options(ZCursor::new(bytes), opts);
            let pixels = dec.decode().map_err(|e| anyhow!("not a readable JPEG: {e:?}"))?;
            // What a strict decoder still lets through: blocks that parse but end in the wrong place.
            super::jpeg_check::check(bytes).map_err(|e| anyhow!("damaged JPEG: {e}"))?;
            let info = dec.info().ok_or_else(|| anyhow!("JPEG without a frame header"))?;
            let (width, height) = (info.width as usize, info.height as usize);
            if pixels.len() != width * height * 3 || width == 0 || height == 0 {
                bail!("JPEG decoded to {} bytes for {width}×{height} RGB", pixels.len());
            }
            Ok(Rgb { width, height, pixels })
        } else {
            let img = image::load_from_memory(bytes).map_err(|e| anyhow!("not a readable image: {e}"))?.to_rgb8();
            let (width, height) = (img.width() as usize, img.height() as usize);
            Ok(Rgb { width, height, pixels: img.into_raw() })
        }
    })
}

/// The `split` stage's check of an image's bytes, without the cost of a decode where the JPEG walk
/// covers the same ground: a sequential JPEG has its headers read by the decoder and every
/// Huffman-coded block walked (`jpeg_check`: truncation, undecodable codes, blocks that do not end
/// where the data does); anything else (PNG, progressive JPEG) is decoded in full. What this leaves
/// to `prepare`, whose full decode names the file: a JPEG whose headers and blocks are sound but
/// whose pixels the decoder still refuses to produce.
pub fn check_decodable(bytes: &[u8]) -> Result<()> {
    guarded(|| {
        if is_jpeg(bytes) {
            let opts = DecoderOptions::default().jpeg_set_out_colorspace(ColorSpace::RGB).set_strict_mode(true);
            let mut dec = ZuneDecoder::new_with_options(ZCursor::new(bytes), opts);
            dec.decode_headers().map_err(|e| anyhow!("not a readable JPEG: {e:?}"))?;
            match dec.dimensions() {
                Some((w, h)) if w > 0 && h > 0 => {}
                _ => bail!("JPEG without a frame size"),
            }
            if super::jpeg_check::check(bytes).map_err(|e| anyhow!("damaged JPEG: {e}"))? == super::jpeg_check::Walked::Blocks {
                return Ok(());
            }
        }
        decode_rgb(bytes).map(|_| ())
    })
}

/// Reads only the headers of an image file: Ok((width, height)) when it looks decodable.
pub fn probe(path: &Path) -> Result<(usize, usize)> {
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    guarded(|| {
        if is_jpeg(&bytes) {
            let mut dec = ZuneDecoder::new(ZCursor::new(&bytes[..]));
            dec.decode_headers().map_err(|e| anyhow!("not a readable JPEG: {e:?}"))?;
            let (w, h) = dec.dimensions().ok_or_else(|| anyhow!("JPEG without a frame header"))?;
            Ok((w as usize, h as usize))
        } else {
            let r = image::ImageReader::new(std::io::Cursor::new(&bytes[..]))
                .with_guessed_format()
                .map_err(|e| anyhow!("cannot read: {e}"))?;
            let (w, h) = r.into_dimensions().map_err(|e| anyhow!("not a readable image: {e}"))?;
            Ok((w as usize, h as usize))
        }
    })
    .with_context(|| format!("{}", path.display()))
}

/// Resizes RGB images; keep one per thread (it keeps the plan of the last size pair it saw, and
/// a dataset's images mostly share one size).
#[derive(Default)]
pub struct RgbResizer {
    plan: Option<ResizePlan>,
}

impl RgbResizer {
    /// Resizes `img` to `height`×`width` (no aspect-preserving crop: the paper squashes the
    /// 178×218 CelebA crop to 224×224) into `out` (height·width·3 bytes).
    pub fn resize_into(&mut self, img: &Rgb, height: usize, width: usize, out: &mut [u8]) -> Result<()> {
        if out.len() != height * width * 3 {
            bail!("output buffer of {} bytes for {height}×{width}×3", out.len());
        }
        if img.pixels.len() != img.width * img.height * 3 || img.width == 0 || img.height == 0 {
            bail!("image of {} bytes for {}×{}×3", img.pixels.len(), img.width, img.height);
        }
        if img.width == width && img.height == height {
            out.copy_from_slice(&img.pixels);
            return Ok(());
        }
        let sizes = ((img.width, img.height), (width, height));
        let plan = match &mut self.plan {
            Some(plan) if plan.sizes() == sizes => plan,
            slot => slot.insert(ResizePlan::new(img.width, img.height, width, height)),
        };
        plan.resize(&img.pixels, out);
        Ok(())
    }
}

/// Which library decodes JPEGs (other formats always go through `image`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum JpegDecoder {
    /// zune-jpeg: pure Rust, always there.
    #[default]
    #[serde(rename = "zune")]
    Zune,
    /// libjpeg-turbo's TurboJPEG, loaded at run time; shrinks by 1/2, 1/4 or 1/8 while decoding
    /// when the target is that much smaller.
    #[serde(rename = "libjpeg-turbo")]
    LibjpegTurbo,
}

/// Reads, decodes and resizes image files; keep one per thread.
#[derive(Default)]
pub struct ImageLoader {
    /// Set for `JpegDecoder::LibjpegTurbo`.
    turbo: Option<TurboDecoder>,
    resizer: RgbResizer,
}

impl ImageLoader {
    /// A loader for `decoder`; fails (saying what to install) if that decoder cannot be loaded.
    pub fn new(decoder: JpegDecoder) -> Result<ImageLoader> {
        let turbo = match decoder {
            JpegDecoder::Zune => None,
            JpegDecoder::LibjpegTurbo => Some(TurboDecoder::new()?),
        };
        Ok(ImageLoader { turbo, resizer: RgbResizer::default() })
    }

    /// Reads, decodes and resizes one image file into `out` (HWC RGB bytes, `height`×`width`).
    pub fn load_resized(&mut self, path: &Path, height: usize, width: usize, out: &mut [u8]) -> Result<()> {
        let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
        let img = match (&mut self.turbo, is_jpeg(&bytes)) {
            (Some(turbo), true) => guarded(|| turbo.decode(&bytes, Some((width, height)))),
            _ => decode_rgb(&bytes),
        }
        .with_context(|| format!("{}", path.display()))?;
        self.resizer.resize_into(&img, height, width, out).with_context(|| format!("{}", path.display()))
    }
}

/// HWC RGB bytes → CHW floats, `(x/255 − mean) / std` per channel (computed as one fused
/// multiply-add, `x · 1/(255·std) − mean/std`). Panics if the lengths differ.
pub fn normalise_chw(hwc: &[u8], mean: [f32; 3], std: [f32; 3], out: &mut [f32]) {
    let scale: [f32; 3] = std::array::from_fn(|c| 1.0 / (255.0 * std[c]));
    let offset: [f32; 3] = std::array::from_fn(|c| -mean[c] / std[c]);
    bytes_to_chw(hwc, scale, offset, out);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decode_resize_normalise() {
        let mut img = image::RgbImage::new(40, 50);
        for (x, y, p) in img.enumerate_pixels_mut() {
            *p = image::Rgb([(x * 6) as u8, (y * 5) as u8, 128]);
        }
        let mut jpeg = Vec::new();
        image::codecs::jpeg::JpegEncoder::new_with_quality(&mut jpeg, 95).encode_image(&img).unwrap();
        let rgb = decode_rgb(&jpeg).unwrap();
        assert_eq!((rgb.width, rgb.height), (40, 50));
        let mut out = vec![0u8; 16 * 8 * 3];
        RgbResizer::default().resize_into(&rgb, 16, 8, &mut out).unwrap();
        // Blue stays ~128 everywhere; red grows left to right.
        assert!(out.chunks(3).all(|p| (p[2] as i32 - 128).abs() < 8));
        assert!(out[3 * 7] as i32 > out[0] as i32 + 100);
        let mut f = vec![0f32; 16 * 8 * 3];
        normalise_chw(&out, IMAGENET_MEAN, IMAGENET_STD, &mut f);
        let want = (out[2] as f32 / 255.0 - IMAGENET_MEAN[2]) / IMAGENET_STD[2];
        assert!((f[2 * 128] - want).abs() < 1e-5);
        // A truncated JPEG is an error (a lenient decoder would fill the rest with grey).
        assert!(decode_rgb(&jpeg[..jpeg.len() / 3]).is_err());
        assert!(decode_rgb(b"\xFF\xD8garbage").is_err());
        assert!(decode_rgb(b"not an image").is_err());
    }
}
