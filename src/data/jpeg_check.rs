//! A structural check of a sequential (baseline) JPEG's image data, independent of the decoder:
//! the Huffman-coded blocks are walked one by one, and the walk must end exactly where the data
//! does (before the next marker), with restart markers where the header says.
//!
//! A decoder, even a strict one, accepts bytes scribbled over the middle of the image data about
//! half the time: the codes still parse, the decoder drifts out of step and stops after the last
//! block without looking at what is left. That drift almost always changes how many bytes the
//! blocks take, which this walk sees (libjpeg calls it "extraneous bytes before marker").
//! Progressive and arithmetic-coded JPEGs are not walked (the decoder's own checks apply).

use anyhow::{bail, Result};

/// Canonical Huffman decoding tables of one DHT table.
#[derive(Clone, Default)]
struct Huffman {
    /// For each code length 1..=16: the first code, how many codes, and where their symbols start.
    first: [i32; 17],
    count: [i32; 17],
    offset: [usize; 17],
    symbols: Vec<u8>,
}

impl Huffman {
    fn new(counts: &[u8], symbols: &[u8]) -> Huffman {
        let mut h = Huffman { symbols: symbols.to_vec(), ..Default::default() };
        let (mut code, mut k) = (0i32, 0usize);
        for len in 1..=16 {
            h.first[len] = code;
            h.count[len] = counts[len - 1] as i32;
            h.offset[len] = k;
            code += h.count[len];
            k += h.count[len] as usize;
            code <<= 1;
        }
        h
    }

    fn decode(&self, bits: &mut Bits) -> Result<u8> {
        let mut code = 0i32;
        for len in 1..=16 {
            code = (code << 1) | bits.bit()? as i32;
            let i = code - self.first[len];
            if i >= 0 && i < self.count[len] {
                return match self.symbols.get(self.offset[len] + i as usize) {
                    Some(&s) => Ok(s),
                    None => bail!("a Huffman table is shorter than its code counts"),
                };
            }
        }
        bail!("an invalid Huffman code in the image data")
    }
}

/// Reads the entropy-coded data bit by bit, undoing `FF 00` stuffing; stops at a marker.
struct Bits<'a> {
    data: &'a [u8],
    pos: usize,
    byte: u8,
    left: u32,
}

impl Bits<'_> {
    fn bit(&mut self) -> Result<u8> {
        if self.left == 0 {
            let Some(&b) = self.data.get(self.pos) else { bail!("the image data ends early (truncated file)") };
            if b == 0xFF {
                match self.data.get(self.pos + 1) {
                    Some(0x00) => self.pos += 2,
                    _ => bail!("the image data ends early (a marker where more data was due)"),
                }
            } else {
                self.pos += 1;
            }
            self.byte = b;
            self.left = 8;
        }
        self.left -= 1;
        Ok((self.byte >> self.left) & 1)
    }

    fn bits(&mut self, n: u8) -> Result<u32> {
        let mut v = 0u32;
        for _ in 0..n {
            v = (v << 1) | self.bit()? as u32;
        }
        Ok(v)
    }

    /// Drops the padding bits of the current byte, skips fill bytes (`FF`…) and returns the
    /// marker that must come next; an error if other bytes come first.
    fn marker(&mut self) -> Result<u8> {
        self.left = 0;
        let start = self.pos;
        while self.data.get(self.pos) == Some(&0xFF) && self.data.get(self.pos + 1) == Some(&0xFF) {
            self.pos += 1;
        }
        match (self.data.get(self.pos), self.data.get(self.pos + 1)) {
            (Some(0xFF), Some(&m)) if m != 0x00 => {
                self.pos += 2;
                Ok(m)
            }
            _ => {
                let extra = self.data[start..].iter().position(|&b| b == 0xFF).unwrap_or(self.data.len() - start);
                bail!("{extra} extraneous bytes after the last block of the image data (damaged data)")
            }
        }
    }
}

struct Component {
    id: u8,
    h: usize,
    v: usize,
    /// Quantisation table.
    tq: usize,
}

/// A coefficient difference from its `t` magnitude bits (JPEG's EXTEND).
fn extend(v: u32, t: u8) -> i64 {
    if t == 0 {
        0
    } else if v < 1 << (t - 1) {
        v as i64 - ((1i64 << t) - 1)
    } else {
        v as i64
    }
}

/// Checks the image data of a sequential Huffman JPEG (see the module doc). Ok for JPEGs it does
/// not walk (progressive, arithmetic, lossless).
pub fn check(bytes: &[u8]) -> Result<()> {
    if !bytes.starts_with(&[0xFF, 0xD8]) {
        bail!("not a JPEG");
    }
    let mut pos = 2;
    let mut dc: [Option<Huffman>; 4] = Default::default();
    let mut ac: [Option<Huffman>; 4] = Default::default();
    let mut frame: Option<(usize, usize, Vec<Component>)> = None;
    // The DC step of each quantisation table, and the sample precision.
    let mut q_dc = [1i64; 4];
    let mut precision = 8u32;
    let mut restart = 0usize;
    let segment = |pos: usize| -> Result<&[u8]> {
        let len = match (bytes.get(pos), bytes.get(pos + 1)) {
            (Some(&a), Some(&b)) => ((a as usize) << 8) | b as usize,
            _ => bail!("the file ends inside a header"),
        };
        if len < 2 || pos + len > bytes.len() {
            bail!("a header segment runs past the end of the file");
        }
        Ok(&bytes[pos + 2..pos + len])
    };
    loop {
        // Next marker (fill bytes allowed).
        while bytes.get(pos) == Some(&0xFF) && bytes.get(pos + 1) == Some(&0xFF) {
            pos += 1;
        }
        let marker = match (bytes.get(pos), bytes.get(pos + 1)) {
            (Some(0xFF), Some(&m)) => m,
            (None, _) => bail!("no end-of-image marker"),
            _ => bail!("bytes where a header marker was due at offset {pos}"),
        };
        pos += 2;
        match marker {
            0xD9 => return Ok(()),
            0xD0..=0xD7 | 0x01 => {}
            0xC0 | 0xC1 => {
                let s = segment(pos)?;
                if s.len() < 6 {
                    bail!("a short frame header");
                }
                precision = s[0] as u32;
                let height = ((s[1] as usize) << 8) | s[2] as usize;
                let width = ((s[3] as usize) << 8) | s[4] as usize;
                let n = s[5] as usize;
                if s.len() < 6 + 3 * n || n == 0 {
                    bail!("a short frame header");
                }
                let comps = (0..n)
                    .map(|i| Component {
                        id: s[6 + 3 * i],
                        h: (s[7 + 3 * i] >> 4).max(1) as usize,
                        v: (s[7 + 3 * i] & 15).max(1) as usize,
                        tq: (s[8 + 3 * i] & 3) as usize,
                    })
                    .collect();
                frame = Some((width, height, comps));
                pos += s.len() + 2;
            }
            // Progressive, lossless, arithmetic-coded: not walked here.
            0xC2 | 0xC3 | 0xC5..=0xC7 | 0xC9..=0xCB | 0xCD..=0xCF => return Ok(()),
            0xC4 => {
                let s = segment(pos)?;
                let mut i = 0;
                while i < s.len() {
                    if i + 17 > s.len() {
                        bail!("a short Huffman table");
                    }
                    let (class, id) = (s[i] >> 4, (s[i] & 15) as usize);
                    let counts = &s[i + 1..i + 17];
                    let total: usize = counts.iter().map(|&c| c as usize).sum();
                    if i + 17 + total > s.len() || id > 3 {
                        bail!("a damaged Huffman table");
                    }
                    let table = Huffman::new(counts, &s[i + 17..i + 17 + total]);
                    if class == 0 {
                        dc[id] = Some(table);
                    } else {
                        ac[id] = Some(table);
                    }
                    i += 17 + total;
                }
                pos += s.len() + 2;
            }
            0xDB => {
                let s = segment(pos)?;
                let mut i = 0;
                while i < s.len() {
                    let (wide, id) = (s[i] >> 4 != 0, (s[i] & 3) as usize);
                    let size = if wide { 129 } else { 65 };
                    if i + size > s.len() {
                        bail!("a short quantisation table");
                    }
                    q_dc[id] = if wide { ((s[i + 1] as i64) << 8) | s[i + 2] as i64 } else { s[i + 1] as i64 }.max(1);
                    i += size;
                }
                pos += s.len() + 2;
            }
            0xDD => {
                let s = segment(pos)?;
                if s.len() < 2 {
                    bail!("a short restart header");
                }
                restart = ((s[0] as usize) << 8) | s[1] as usize;
                pos += s.len() + 2;
            }
            0xDA => {
                let s = segment(pos)?;
                let Some((width, height, comps)) = &frame else { bail!("image data before the frame header") };
                let n = *s.first().unwrap_or(&0) as usize;
                if n == 0 || s.len() < 1 + 2 * n {
                    bail!("a short scan header");
                }
                // (blocks per MCU, DC table, AC table, DC quantisation step)
                let mut blocks_of: Vec<(usize, usize, usize, i64)> = Vec::new();
                let mut scan_comps: Vec<&Component> = Vec::new();
                for k in 0..n {
                    let id = s[1 + 2 * k];
                    let Some(c) = comps.iter().find(|c| c.id == id) else { bail!("a scan names an unknown component") };
                    let (td, ta) = ((s[2 + 2 * k] >> 4) as usize, (s[2 + 2 * k] & 15) as usize);
                    if td > 3 || ta > 3 || dc[td].is_none() || ac[ta].is_none() {
                        bail!("a scan uses a Huffman table that is not defined");
                    }
                    blocks_of.push((if n == 1 { 1 } else { c.h * c.v }, td, ta, q_dc[c.tq]));
                    scan_comps.push(c);
                }
                let hmax = comps.iter().map(|c| c.h).max().unwrap_or(1);
                let vmax = comps.iter().map(|c| c.v).max().unwrap_or(1);
                let mcus = if n == 1 {
                    let c = scan_comps[0];
                    (width * c.h).div_ceil(hmax).div_ceil(8) * (height * c.v).div_ceil(vmax).div_ceil(8)
                } else {
                    width.div_ceil(8 * hmax) * height.div_ceil(8 * vmax)
                };
                pos += s.len() + 2;
                let mut bits = Bits { data: bytes, pos, byte: 0, left: 0 };
                // A block's mean level is 1/8 of its DC coefficient and lies within the sample
                // range: data that drifted out of step soon walks the running DC out of it.
                let dc_limit = 8i64 << (precision.clamp(2, 16) - 1);
                let mut predictor = vec![0i64; blocks_of.len()];
                for m in 0..mcus {
                    if restart > 0 && m > 0 && m % restart == 0 {
                        let want = 0xD0 + ((m / restart - 1) % 8) as u8;
                        let got = bits.marker()?;
                        if got != want {
                            bail!("restart marker {got:#04x} where {want:#04x} was due (damaged data)");
                        }
                        predictor.iter_mut().for_each(|p| *p = 0);
                    }
                    for (k, &(count, td, ta, q)) in blocks_of.iter().enumerate() {
                        let (dct, act) = (dc[td].as_ref().expect("checked above"), ac[ta].as_ref().expect("checked above"));
                        for _ in 0..count {
                            let t = dct.decode(&mut bits)?;
                            if t > 16 {
                                bail!("an impossible DC code in the image data");
                            }
                            predictor[k] += extend(bits.bits(t)?, t);
                            if (predictor[k] * q).abs() > dc_limit + q {
                                bail!("a block brightness outside the sample range (damaged data)");
                            }
                            let mut k = 1;
                            while k < 64 {
                                let rs = act.decode(&mut bits)?;
                                let (r, size) = ((rs >> 4) as usize, rs & 15);
                                if size == 0 {
                                    if r != 15 {
                                        break;
                                    }
                                    k += 16;
                                } else {
                                    k += r;
                                    bits.bits(size)?;
                                    k += 1;
                                }
                            }
                            if k > 64 {
                                bail!("a block with more than 64 coefficients in the image data");
                            }
                        }
                    }
                }
                let after = bits.marker()?;
                if (0xD0..=0xD7).contains(&after) {
                    bail!("a restart marker after the last block (damaged data)");
                }
                pos = bits.pos - 2;
            }
            _ => {
                let s = segment(pos)?;
                pos += s.len() + 2;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn picture(w: usize, h: usize) -> Vec<u8> {
        let mut px = vec![0u8; w * h * 3];
        for y in 0..h {
            for x in 0..w {
                let i = (y * w + x) * 3;
                px[i] = (x * 255 / w) as u8;
                px[i + 1] = (y * 255 / h) as u8;
                px[i + 2] = ((x * y) % 251) as u8;
            }
        }
        px
    }

    #[test]
    fn valid_jpegs_pass_and_scribbles_are_seen() {
        let (w, h) = (178, 218);
        let px = picture(w, h);
        // Both encoders awmt uses: 4:2:0 (the synthetic datasets') and 4:4:4 (`image`'s).
        let mut jpegs = vec![crate::data::synth::encode_jpeg(&px, w, h, 90).unwrap()];
        let mut rgb444 = Vec::new();
        let img = image::RgbImage::from_raw(w as u32, h as u32, px.clone()).unwrap();
        image::codecs::jpeg::JpegEncoder::new_with_quality(&mut rgb444, 85).encode_image(&img).unwrap();
        jpegs.push(rgb444);
        for jpeg in &jpegs {
            check(jpeg).unwrap();
            assert!(check(&jpeg[..jpeg.len() / 2]).is_err(), "truncated");
            let mut x: u32 = 0x9E37_79B9;
            let (mut caught, trials) = (0, 200);
            for t in 0..trials {
                let mut b = jpeg.clone();
                let start = 700 + (t * 37) % (b.len() - 1000);
                for byte in &mut b[start..start + 200] {
                    x ^= x << 13;
                    x ^= x >> 17;
                    x ^= x << 5;
                    *byte = (x >> 24) as u8;
                }
                if check(&b).is_err() {
                    caught += 1;
                }
            }
            assert!(caught >= trials * 98 / 100, "only {caught} of {trials} scribbled JPEGs were caught");
        }
    }
}
