//! A structural check of a sequential (baseline) JPEG's image data, independent of the decoder:
//! the Huffman-coded blocks are walked one by one, and the walk must end exactly where the data
//! does (before the next marker), with restart markers where the header says.
//!
//! A decoder, even a strict one, accepts bytes scribbled over the middle of the image data about
//! half the time: the codes still parse, the decoder drifts out of step and stops after the last
//! block without looking at what is left. That drift almost always changes how many bytes the
//! blocks take, which this walk sees (libjpeg calls it "extraneous bytes before marker").
//! Progressive and arithmetic-coded JPEGs are not walked (the decoder's own checks apply).
//!
//! The walk entropy-decodes every code (table lookups on a 64-bit bit buffer, like libjpeg) but
//! skips the dequantisation, inverse DCT, upsampling and colour conversion, so it costs about a
//! third of a decode: cheap enough for the `split` stage to run it alone on every image.

use anyhow::{bail, Result};

/// How many leading bits of a code the lookup table resolves at once (libjpeg uses 8 or 9).
const LOOKAHEAD: u32 = 9;

/// Canonical Huffman decoding tables of one DHT table.
#[derive(Clone)]
struct Huffman {
    /// For each code length 1..=16: the first code, how many codes, and where their symbols start.
    first: [i32; 17],
    count: [i32; 17],
    offset: [usize; 17],
    symbols: Vec<u8>,
    /// Indexed by the next `LOOKAHEAD` bits: `length << 8 | symbol` of the code they start with,
    /// 0 when that code is longer (then `decode` goes length by length).
    fast: Box<[u16; 1 << LOOKAHEAD]>,
}

impl Huffman {
    fn new(counts: &[u8], symbols: &[u8]) -> Huffman {
        let mut h = Huffman {
            first: [0; 17],
            count: [0; 17],
            offset: [0; 17],
            symbols: symbols.to_vec(),
            fast: Box::new([0; 1 << LOOKAHEAD]),
        };
        let (mut code, mut k) = (0i32, 0usize);
        for len in 1..=16 {
            h.first[len] = code;
            h.count[len] = counts[len - 1] as i32;
            h.offset[len] = k;
            code += h.count[len];
            k += h.count[len] as usize;
            code <<= 1;
        }
        // Shorter lengths first and never overwritten: a damaged table whose codes overlap
        // decodes as the length-by-length search would (the shortest match wins).
        for len in 1..=LOOKAHEAD as usize {
            let spread = LOOKAHEAD as usize - len;
            for i in 0..h.count[len] {
                let code = (h.first[len] + i) as usize;
                let Some(&symbol) = h.symbols.get(h.offset[len] + i as usize) else { break };
                if code >> len != 0 {
                    break; // more codes than this length has: the rest are never read
                }
                for slot in &mut h.fast[code << spread..(code + 1) << spread] {
                    if *slot == 0 {
                        *slot = ((len as u16) << 8) | symbol as u16;
                    }
                }
            }
        }
        h
    }

    /// The code at the top of `next` (the next 32 bits of the data): (its length, its symbol).
    #[inline]
    fn lookup(&self, next: u32) -> Result<(u32, u8)> {
        let hit = self.fast[(next >> (32 - LOOKAHEAD)) as usize];
        if hit != 0 {
            return Ok(((hit >> 8) as u32, hit as u8));
        }
        self.lookup_long(next)
    }

    /// Codes longer than `LOOKAHEAD` bits, length by length.
    fn lookup_long(&self, next: u32) -> Result<(u32, u8)> {
        for len in LOOKAHEAD as usize + 1..=16 {
            let i = (next >> (32 - len)) as i32 - self.first[len];
            if i >= 0 && i < self.count[len] {
                return match self.symbols.get(self.offset[len] + i as usize) {
                    Some(&s) => Ok((len as u32, s)),
                    None => bail!("a Huffman table is shorter than its code counts"),
                };
            }
        }
        bail!("an invalid Huffman code in the image data")
    }
}

/// Why the entropy-coded data stopped supplying bits.
#[derive(Clone, Copy, PartialEq)]
enum Stop {
    /// A marker (`FF` not followed by `00`).
    Marker,
    /// The end of the file.
    End,
}

/// Reads the entropy-coded data through a 64-bit buffer, undoing `FF 00` stuffing. Loading stops
/// at a marker or the end of the file; from then on zero bits are fed, and using one is an error.
struct Bits<'a> {
    data: &'a [u8],
    /// The next byte to load.
    pos: usize,
    /// Loaded bits, the next one in the top bit.
    buf: u64,
    /// How many bits of `buf` are loaded, the zero bits fed after a stop included.
    count: u32,
    /// How many of those (the last ones) are zero bits fed after a stop.
    fed: u32,
    stop: Option<Stop>,
}

impl<'a> Bits<'a> {
    fn new(data: &'a [u8], pos: usize) -> Bits<'a> {
        Bits { data, pos, buf: 0, count: 0, fed: 0, stop: None }
    }

    /// Loads bytes until more than 56 bits are in the buffer.
    #[inline]
    fn fill(&mut self) {
        // Most of the time the next bytes hold no `FF`: load them in one go.
        if self.stop.is_none() {
            if let Some(next) = self.data.get(self.pos..self.pos + 8) {
                let word = u64::from_be_bytes(next.try_into().expect("8 bytes"));
                let take = (64 - self.count) / 8;
                // A byte of `word` is FF where the same byte of `!word` is zero.
                let inverted = !word;
                let has_ff = inverted.wrapping_sub(0x0101_0101_0101_0101) & !inverted & 0x8080_8080_8080_8080;
                // Only the first `take` bytes matter; a false mark (a borrow from a later FF) only
                // sends this load down the byte-by-byte path.
                if take > 0 && has_ff >> (64 - 8 * take) == 0 {
                    self.buf |= (word >> (64 - 8 * take)) << (64 - self.count - 8 * take);
                    self.pos += take as usize;
                    self.count += 8 * take;
                    return;
                }
            }
        }
        while self.count <= 56 {
            if self.stop.is_none() {
                match self.data.get(self.pos) {
                    None => self.stop = Some(Stop::End),
                    Some(&0xFF) if self.data.get(self.pos + 1) != Some(&0x00) => self.stop = Some(Stop::Marker),
                    Some(&b) => {
                        self.pos += if b == 0xFF { 2 } else { 1 };
                        self.buf |= (b as u64) << (56 - self.count);
                        self.count += 8;
                        continue;
                    }
                }
            }
            self.count += 8;
            self.fed += 8;
        }
    }

    /// The next 32 bits, not consumed (zero bits fed after a stop included).
    #[inline]
    fn peek32(&mut self) -> u32 {
        if self.count < 32 {
            self.fill();
        }
        (self.buf >> 32) as u32
    }

    /// Consumes `n` (at most 32) bits; the caller peeked them.
    #[inline]
    fn skip(&mut self, n: u32) {
        self.buf <<= n;
        self.count -= n;
    }

    /// Whether bits fed after the data stopped were used: the error to report then, whatever
    /// else went wrong with them.
    fn overrun(&self) -> Option<anyhow::Error> {
        (self.count < self.fed).then(|| {
            anyhow::anyhow!(
                "the image data ends early ({})",
                if self.stop == Some(Stop::End) { "truncated file" } else { "a marker where more data was due" }
            )
        })
    }

    /// Drops the padding bits of the current byte, skips fill bytes (`FF`…) and returns the
    /// marker that must come next; an error if other bytes come first.
    fn marker(&mut self) -> Result<u8> {
        if let Some(e) = self.overrun() {
            return Err(e);
        }
        // Whole bytes loaded but not used are bytes before the marker.
        let unused = (self.count - self.fed) / 8;
        self.buf = 0;
        self.count = 0;
        self.fed = 0;
        self.stop = None;
        let start = self.pos;
        while self.data.get(self.pos) == Some(&0xFF) && self.data.get(self.pos + 1) == Some(&0xFF) {
            self.pos += 1;
        }
        match (unused, self.data.get(self.pos), self.data.get(self.pos + 1)) {
            (0, Some(0xFF), Some(&m)) if m != 0x00 => {
                self.pos += 2;
                Ok(m)
            }
            _ => {
                let extra = unused as usize + self.data[start..].iter().position(|&b| b == 0xFF).unwrap_or(self.data.len() - start);
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

/// Walks one block: its DC difference (the running DC, `predictor`, stays within `dc_limit`
/// after the quantisation step `q`) and its AC codes, at most 63 coefficients.
#[inline]
fn walk_block(bits: &mut Bits, dct: &Huffman, act: &Huffman, predictor: &mut i64, q: i64, dc_limit: i64) -> Result<()> {
    let next = bits.peek32();
    let (len, t) = dct.lookup(next)?;
    if t > 16 {
        bail!("an impossible DC code in the image data");
    }
    let t = t as u32;
    // `len + t` is at most 32 bits: both came from the one peek.
    let diff = if t == 0 { 0 } else { (next << len) >> (32 - t) };
    bits.skip(len + t);
    *predictor += extend(diff, t as u8);
    if (*predictor * q).abs() > dc_limit + q {
        bail!("a block brightness outside the sample range (damaged data)");
    }
    let mut k = 1;
    while k < 64 {
        let next = bits.peek32();
        let (len, rs) = act.lookup(next)?;
        let (run, size) = ((rs >> 4) as usize, (rs & 15) as u32);
        bits.skip(len + size);
        if size == 0 {
            if run != 15 {
                break;
            }
            k += 16;
        } else {
            k += run + 1;
        }
    }
    if k > 64 {
        bail!("a block with more than 64 coefficients in the image data");
    }
    Ok(())
}

/// How much of a JPEG [`check`] walked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Walked {
    /// Every scan's blocks, to the end-of-image marker.
    Blocks,
    /// Only the headers: a progressive, lossless or arithmetic-coded JPEG, or one without a scan.
    HeadersOnly,
}

/// Checks the image data of a sequential Huffman JPEG (see the module doc); says whether it
/// walked the blocks (not for progressive, arithmetic or lossless JPEGs).
pub fn check(bytes: &[u8]) -> Result<Walked> {
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
    let mut scans = 0usize;
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
            0xD9 => return Ok(if scans > 0 { Walked::Blocks } else { Walked::HeadersOnly }),
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
            0xC2 | 0xC3 | 0xC5..=0xC7 | 0xC9..=0xCB | 0xCD..=0xCF => return Ok(Walked::HeadersOnly),
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
                let mut bits = Bits::new(bytes, pos);
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
                            if let Err(e) = walk_block(&mut bits, dct, act, &mut predictor[k], q, dc_limit) {
                                return Err(bits.overrun().unwrap_or(e));
                            }
                            if let Some(e) = bits.overrun() {
                                return Err(e);
                            }
                        }
                    }
                }
                let after = bits.marker()?;
                if (0xD0..=0xD7).contains(&after) {
                    bail!("a restart marker after the last block (damaged data)");
                }
                pos = bits.pos - 2;
                scans += 1;
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

    fn encode(px: &[u8], w: usize, h: usize, setup: impl FnOnce(&mut jpeg_encoder::Encoder<&mut Vec<u8>>)) -> Vec<u8> {
        let mut out = Vec::new();
        let mut enc = jpeg_encoder::Encoder::new(&mut out, 90);
        enc.set_sampling_factor(jpeg_encoder::SamplingFactor::R_4_2_0);
        setup(&mut enc);
        enc.encode(px, w as u16, h as u16, jpeg_encoder::ColorType::Rgb).unwrap();
        out
    }

    /// The buffered reader's edge cases: restart markers every few MCUs (the reader stops at each
    /// and starts again after it), image-specific Huffman tables (long codes), one MCU per
    /// restart interval; and what is not walked says so.
    #[test]
    fn restart_intervals_long_codes_and_progressive() {
        let (w, h) = (96, 80);
        let px = picture(w, h);
        for (what, jpeg) in [
            ("restart every 3 MCUs", encode(&px, w, h, |e| e.set_restart_interval(3))),
            ("restart every MCU", encode(&px, w, h, |e| e.set_restart_interval(1))),
            ("optimised tables", encode(&px, w, h, |e| e.set_optimized_huffman_tables(true))),
        ] {
            assert_eq!(check(&jpeg).unwrap(), Walked::Blocks, "{what}");
            crate::data::images::check_decodable(&jpeg).unwrap();
            let err = check(&jpeg[..jpeg.len() - 300]).unwrap_err().to_string();
            assert!(err.contains("truncated") || err.contains("ends early"), "{what}: {err}");
            // 64 bytes scribbled over the image data: caught unless the codes happen to line up
            // again before the next marker, which a short restart interval makes likelier (the
            // walk starts afresh at each one). Fixed inputs and bytes: the count does not vary.
            let (mut caught, mut x) = (0, 0x2545_F491u32);
            for k in 0..50 {
                let mut b = jpeg.clone();
                let at = jpeg.len() / 4 + k * (jpeg.len() / 2) / 50;
                for byte in &mut b[at..at + 64] {
                    x ^= x << 13;
                    x ^= x >> 17;
                    x ^= x << 5;
                    *byte = (x >> 24) as u8;
                }
                caught += check(&b).is_err() as usize;
            }
            assert!(caught >= 48, "{what}: only {caught} of 50 scribbled copies caught");
        }
        // A restart marker removed: the walk expects it and stops there.
        let jpeg = encode(&px, w, h, |e| e.set_restart_interval(2));
        let rst = jpeg.windows(2).rposition(|p| p[0] == 0xFF && (0xD0..=0xD7).contains(&p[1])).unwrap();
        let mut cut = jpeg.clone();
        cut.drain(rst..rst + 2);
        assert!(check(&cut).is_err(), "a missing restart marker");
        // Progressive: headers only, so the split check decodes it in full (and a truncated one fails).
        let progressive = encode(&px, w, h, |e| e.set_progressive(true));
        assert_eq!(check(&progressive).unwrap(), Walked::HeadersOnly);
        crate::data::images::check_decodable(&progressive).unwrap();
        assert!(crate::data::images::check_decodable(&progressive[..progressive.len() / 2]).is_err());
    }
}
