//! Antialiased bilinear resizing of interleaved RGB bytes (PIL's triangle filter, widened by the
//! scale factor when shrinking), separable: a vertical pass into one f32 row, then a horizontal
//! pass back to bytes.
//!
//! Every output value is computed by one fixed sequence of f32 operations (`p₀·w₀`, then fused
//! multiply-adds in tap order, then round-half-even and clamp), whichever code path runs, so the
//! AVX2 kernels and the portable loops give byte-identical images: a prepared dataset does not
//! depend on the CPU it was made on. The AVX2 horizontal pass fetches its taps with in-register
//! permutes from a 16-float window where the taps of 8 outputs fit (always when enlarging), and
//! with gathers where they do not.

/// Filter taps of one axis: output `i` reads source samples `start[i] .. start[i] + taps` with
/// weights `weights[i·taps ..]` (zero-padded, so that every output has the same tap count).
struct Axis {
    start: Vec<usize>,
    taps: usize,
    weights: Vec<f32>,
}

impl Axis {
    /// PIL's bilinear ("triangle") filter: support 1 source pixel, times the scale when shrinking
    /// (which makes it antialiased); weights normalised to sum 1; zero taps trimmed.
    fn new(src: usize, dst: usize) -> Axis {
        let scale = src as f64 / dst as f64;
        let support = scale.max(1.0);
        let mut rows: Vec<(usize, Vec<f64>)> = Vec::with_capacity(dst);
        for i in 0..dst {
            let center = (i as f64 + 0.5) * scale;
            let lo = (center - support + 0.5).floor().max(0.0) as usize;
            let hi = ((center + support + 0.5).floor().max(0.0) as usize).min(src).max(lo + 1);
            let mut w: Vec<f64> = (lo..hi).map(|j| (1.0 - ((j as f64 - center + 0.5) / support).abs()).max(0.0)).collect();
            let mut first = lo;
            while w.len() > 1 && w[0] == 0.0 {
                w.remove(0);
                first += 1;
            }
            while w.len() > 1 && w[w.len() - 1] == 0.0 {
                w.pop();
            }
            let sum: f64 = w.iter().sum();
            if sum > 0.0 {
                w.iter_mut().for_each(|v| *v /= sum);
            } else {
                w = vec![1.0];
            }
            rows.push((first, w));
        }
        let taps = rows.iter().map(|r| r.1.len()).max().unwrap_or(1);
        let mut start = Vec::with_capacity(dst);
        let mut weights = vec![0f32; dst * taps];
        for (i, (first, w)) in rows.into_iter().enumerate() {
            // Shift the window left where it would run past the edge; the extra taps weigh 0.
            let s = first.min(src - taps);
            for (k, v) in w.iter().enumerate() {
                weights[i * taps + (first - s) + k] = *v as f32;
            }
            start.push(s);
        }
        Axis { start, taps, weights }
    }
}

/// Lanes of the AVX2 horizontal kernel (one register of f32); the AVX-512 kernel has twice as many.
const LANES: usize = 8;
/// Floats of the row the widest permute can reach (two AVX-512 registers); the row buffer has
/// this much slack after its end.
const WINDOW: usize = 4 * LANES;

/// Where the permute path of a kernel `lanes` wide can fetch the taps of each group of `lanes`
/// output values: `Some(base)` when they all lie in `row[base .. base + 2·lanes]`, and then the
/// taps' offsets from `base`, per group and tap (`offsets[(g·taps + k)·lanes + lane]`).
struct Windows {
    base: Vec<Option<usize>>,
    offsets: Vec<i32>,
}

impl Windows {
    fn new(index: &[i32], n: usize, taps: usize, lanes: usize) -> Windows {
        let groups = index.len().div_ceil(lanes);
        let mut base = Vec::with_capacity(groups);
        let mut offsets = vec![0i32; groups * taps * lanes];
        for g in 0..groups {
            let values = g * lanes..((g + 1) * lanes).min(n);
            let lo = values.clone().map(|e| index[e] as usize).min().unwrap_or(0);
            let hi = values.clone().map(|e| index[e] as usize + 3 * (taps - 1)).max().unwrap_or(0);
            if hi - lo < 2 * lanes {
                for k in 0..taps {
                    for e in values.clone() {
                        offsets[(g * taps + k) * lanes + e - g * lanes] = (index[e] as usize + 3 * k - lo) as i32;
                    }
                }
                base.push(Some(lo));
            } else {
                base.push(None);
            }
        }
        Windows { base, offsets }
    }
}

/// The implementations of [`ResizePlan::resize`]; all give the same bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kernel {
    Portable,
    #[cfg(target_arch = "x86_64")]
    Avx2,
    #[cfg(target_arch = "x86_64")]
    Avx512,
}

impl Kernel {
    /// The kernels this CPU can run, slowest first.
    pub fn available() -> Vec<Kernel> {
        #[allow(unused_mut)]
        let mut kernels = vec![Kernel::Portable];
        #[cfg(target_arch = "x86_64")]
        {
            if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma") {
                kernels.push(Kernel::Avx2);
                if std::arch::is_x86_feature_detected!("avx512f") && std::arch::is_x86_feature_detected!("avx512bw") {
                    kernels.push(Kernel::Avx512);
                }
            }
        }
        kernels
    }
}

/// A resize from one fixed source size to one fixed output size, with its coefficient tables and
/// row buffer. Build once, use for every image of that size.
pub struct ResizePlan {
    src: (usize, usize),
    dst: (usize, usize),
    vertical: Axis,
    /// Horizontal taps, per interleaved output value `e` (pixel `e / 3`, channel `e % 3`).
    h_taps: usize,
    /// Index into the f32 row of tap 0 of value `e` (padded to a multiple of `2·LANES`).
    h_index: Vec<i32>,
    /// Weights, tap-major: `h_weight[k · padded + e]`.
    h_weight: Vec<f32>,
    /// Permute windows for the AVX2 (8-lane) and AVX-512 (16-lane) kernels.
    windows8: Windows,
    windows16: Windows,
    row: Vec<f32>,
    /// The fastest kernel this CPU runs (chosen once).
    kernel: Kernel,
}

impl ResizePlan {
    pub fn new(src_width: usize, src_height: usize, width: usize, height: usize) -> ResizePlan {
        assert!(src_width > 0 && src_height > 0 && width > 0 && height > 0, "empty image");
        let horizontal = Axis::new(src_width, width);
        let vertical = Axis::new(src_height, height);
        let n = width * 3;
        let padded = n.div_ceil(2 * LANES) * 2 * LANES;
        let t = horizontal.taps;
        let mut h_index = vec![0i32; padded];
        let mut h_weight = vec![0f32; padded * t];
        for e in 0..n {
            let (x, c) = (e / 3, e % 3);
            h_index[e] = (3 * horizontal.start[x] + c) as i32;
            for k in 0..t {
                h_weight[k * padded + e] = horizontal.weights[x * t + k];
            }
        }
        let windows8 = Windows::new(&h_index, n, t, LANES);
        let windows16 = Windows::new(&h_index, n, t, 2 * LANES);
        ResizePlan {
            src: (src_width, src_height),
            dst: (width, height),
            vertical,
            h_taps: t,
            h_index,
            h_weight,
            windows8,
            windows16,
            // Room for a whole window read past the end of the row.
            row: vec![0f32; src_width * 3 + WINDOW],
            kernel: *Kernel::available().last().expect("the portable kernel is always available"),
        }
    }

    /// Source (width, height) and output (width, height) this plan was made for.
    pub fn sizes(&self) -> ((usize, usize), (usize, usize)) {
        (self.src, self.dst)
    }

    /// Resizes `src` (source height × width × 3 bytes) into `out` (output height × width × 3)
    /// with the fastest kernel this CPU runs.
    pub fn resize(&mut self, src: &[u8], out: &mut [u8]) {
        self.resize_with(self.kernel, src, out);
    }

    /// Resizes with one particular kernel (tests compare them); panics if the CPU lacks it.
    pub fn resize_with(&mut self, kernel: Kernel, src: &[u8], out: &mut [u8]) {
        let ((sw, sh), (w, h)) = (self.src, self.dst);
        assert_eq!(src.len(), sw * sh * 3, "source buffer size");
        assert_eq!(out.len(), w * h * 3, "output buffer size");
        assert!(kernel == self.kernel || Kernel::available().contains(&kernel), "this CPU cannot run the {kernel:?} kernel");
        match kernel {
            Kernel::Portable => self.resize_portable(src, out),
            // SAFETY (both): the CPU has the features (asserted above); sizes were asserted.
            #[cfg(target_arch = "x86_64")]
            Kernel::Avx2 => unsafe { self.resize_avx2(src, out) },
            #[cfg(target_arch = "x86_64")]
            Kernel::Avx512 => unsafe { self.resize_avx512(src, out) },
        }
    }

    /// The reference path: plain loops, the same operations in the same order as the kernels.
    fn resize_portable(&mut self, src: &[u8], out: &mut [u8]) {
        let rowlen = self.src.0 * 3;
        let n = self.dst.0 * 3;
        let padded = self.h_index.len();
        let (vt, ht) = (self.vertical.taps, self.h_taps);
        for y in 0..self.dst.1 {
            let s = self.vertical.start[y];
            let w = &self.vertical.weights[y * vt..(y + 1) * vt];
            let row = &mut self.row[..rowlen];
            vertical_portable(src, rowlen, s, w, row, 0);
            let out_row = &mut out[y * n..(y + 1) * n];
            for (e, o) in out_row.iter_mut().enumerate() {
                let i = self.h_index[e] as usize;
                let mut acc = row[i] * self.h_weight[e];
                for k in 1..ht {
                    acc = row[i + 3 * k].mul_add(self.h_weight[k * padded + e], acc);
                }
                *o = acc.clamp(0.0, 255.0).round_ties_even() as u8;
            }
        }
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn resize_avx2(&mut self, src: &[u8], out: &mut [u8]) {
        use std::arch::x86_64::*;
        let rowlen = self.src.0 * 3;
        let n = self.dst.0 * 3;
        let padded = self.h_index.len();
        let (vt, ht) = (self.vertical.taps, self.h_taps);
        let row = self.row.as_mut_ptr();
        for y in 0..self.dst.1 {
            // Vertical pass: row[i] = Σ_k w_k · src[s + k][i].
            let s = self.vertical.start[y];
            let w = &self.vertical.weights[y * vt..(y + 1) * vt];
            let mut i = 0;
            while i + LANES <= rowlen {
                let p = src.as_ptr().add(s * rowlen + i);
                let bytes = _mm_loadl_epi64(p as *const __m128i);
                let mut acc = _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(bytes)), _mm256_set1_ps(w[0]));
                for (k, &wk) in w.iter().enumerate().skip(1) {
                    let bytes = _mm_loadl_epi64(p.add(k * rowlen) as *const __m128i);
                    acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(bytes)), _mm256_set1_ps(wk), acc);
                }
                _mm256_storeu_ps(row.add(i), acc);
                i += LANES;
            }
            vertical_portable(src, rowlen, s, w, std::slice::from_raw_parts_mut(row, rowlen), i);
            // Horizontal pass, LANES output values at a time.
            let out_row = out.as_mut_ptr().add(y * n);
            for (g, window) in self.windows8.base.iter().enumerate() {
                let e = g * LANES;
                if e >= n {
                    break;
                }
                let weights = self.h_weight.as_ptr().add(e);
                let mut acc = _mm256_setzero_ps();
                match *window {
                    Some(base) => {
                        let lo = _mm256_loadu_ps(row.add(base));
                        let hi = _mm256_loadu_ps(row.add(base + LANES));
                        let offsets = self.windows8.offsets.as_ptr().add(g * ht * LANES);
                        for k in 0..ht {
                            let idx = _mm256_loadu_si256(offsets.add(k * LANES) as *const __m256i);
                            let from_hi = _mm256_castsi256_ps(_mm256_cmpgt_epi32(idx, _mm256_set1_epi32(LANES as i32 - 1)));
                            let tap = _mm256_blendv_ps(_mm256_permutevar8x32_ps(lo, idx), _mm256_permutevar8x32_ps(hi, idx), from_hi);
                            let wk = _mm256_loadu_ps(weights.add(k * padded));
                            acc = if k == 0 { _mm256_mul_ps(tap, wk) } else { _mm256_fmadd_ps(tap, wk, acc) };
                        }
                    }
                    None => {
                        let idx = _mm256_loadu_si256(self.h_index.as_ptr().add(e) as *const __m256i);
                        for k in 0..ht {
                            let tap = _mm256_i32gather_ps::<4>(row.add(3 * k), idx);
                            let wk = _mm256_loadu_ps(weights.add(k * padded));
                            acc = if k == 0 { _mm256_mul_ps(tap, wk) } else { _mm256_fmadd_ps(tap, wk, acc) };
                        }
                    }
                }
                // Clamp, round half to even (the default rounding mode), pack to bytes.
                let ints = _mm256_cvtps_epi32(_mm256_min_ps(_mm256_max_ps(acc, _mm256_setzero_ps()), _mm256_set1_ps(255.0)));
                let words = _mm_packus_epi32(_mm256_castsi256_si128(ints), _mm256_extracti128_si256::<1>(ints));
                let bytes = _mm_packus_epi16(words, words);
                if e + LANES <= n {
                    _mm_storel_epi64(out_row.add(e) as *mut __m128i, bytes);
                } else {
                    let mut tail = [0u8; 16];
                    _mm_storeu_si128(tail.as_mut_ptr() as *mut __m128i, bytes);
                    std::ptr::copy_nonoverlapping(tail.as_ptr(), out_row.add(e), n - e);
                }
            }
        }
    }
}

impl ResizePlan {
    /// The AVX2 kernel's twin with 16 lanes: one two-register permute per tap.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx512f,avx512bw,avx2,fma")]
    unsafe fn resize_avx512(&mut self, src: &[u8], out: &mut [u8]) {
        use std::arch::x86_64::*;
        const L: usize = 2 * LANES;
        let rowlen = self.src.0 * 3;
        let n = self.dst.0 * 3;
        let padded = self.h_index.len();
        let (vt, ht) = (self.vertical.taps, self.h_taps);
        let row = self.row.as_mut_ptr();
        for y in 0..self.dst.1 {
            let s = self.vertical.start[y];
            let w = &self.vertical.weights[y * vt..(y + 1) * vt];
            let mut i = 0;
            while i + L <= rowlen {
                let p = src.as_ptr().add(s * rowlen + i);
                let bytes = _mm_loadu_si128(p as *const __m128i);
                let mut acc = _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(bytes)), _mm512_set1_ps(w[0]));
                for (k, &wk) in w.iter().enumerate().skip(1) {
                    let bytes = _mm_loadu_si128(p.add(k * rowlen) as *const __m128i);
                    acc = _mm512_fmadd_ps(_mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(bytes)), _mm512_set1_ps(wk), acc);
                }
                _mm512_storeu_ps(row.add(i), acc);
                i += L;
            }
            vertical_portable(src, rowlen, s, w, std::slice::from_raw_parts_mut(row, rowlen), i);
            let out_row = out.as_mut_ptr().add(y * n);
            for (g, window) in self.windows16.base.iter().enumerate() {
                let e = g * L;
                if e >= n {
                    break;
                }
                let weights = self.h_weight.as_ptr().add(e);
                let mut acc = _mm512_setzero_ps();
                match *window {
                    Some(base) => {
                        let lo = _mm512_loadu_ps(row.add(base));
                        let hi = _mm512_loadu_ps(row.add(base + L));
                        let offsets = self.windows16.offsets.as_ptr().add(g * ht * L);
                        for k in 0..ht {
                            let idx = _mm512_loadu_si512(offsets.add(k * L) as *const _);
                            let tap = _mm512_permutex2var_ps(lo, idx, hi);
                            let wk = _mm512_loadu_ps(weights.add(k * padded));
                            acc = if k == 0 { _mm512_mul_ps(tap, wk) } else { _mm512_fmadd_ps(tap, wk, acc) };
                        }
                    }
                    None => {
                        let idx = _mm512_loadu_si512(self.h_index.as_ptr().add(e) as *const _);
                        for k in 0..ht {
                            let tap = _mm512_i32gather_ps::<4>(idx, row.add(3 * k) as *const f32);
                            let wk = _mm512_loadu_ps(weights.add(k * padded));
                            acc = if k == 0 { _mm512_mul_ps(tap, wk) } else { _mm512_fmadd_ps(tap, wk, acc) };
                        }
                    }
                }
                let ints = _mm512_cvtps_epi32(_mm512_min_ps(_mm512_max_ps(acc, _mm512_setzero_ps()), _mm512_set1_ps(255.0)));
                let mask: __mmask16 = if e + L <= n { 0xFFFF } else { (1u32 << (n - e)) as u16 - 1 };
                _mm512_mask_cvtusepi32_storeu_epi8(out_row.add(e) as *mut i8, mask, ints);
            }
        }
    }
}

/// The vertical pass for `row[from..]`: `row[i] = src[s][i]·w₀`, then `+= src[s + k][i]·w_k` as
/// fused multiply-adds in tap order (the kernels' arithmetic exactly).
#[inline(always)]
fn vertical_portable(src: &[u8], rowlen: usize, s: usize, w: &[f32], row: &mut [f32], from: usize) {
    for (i, o) in row.iter_mut().enumerate().take(rowlen).skip(from) {
        let mut acc = src[s * rowlen + i] as f32 * w[0];
        for (k, &wk) in w.iter().enumerate().skip(1) {
            acc = (src[(s + k) * rowlen + i] as f32).mul_add(wk, acc);
        }
        *o = acc;
    }
}

/// HWC RGB bytes → CHW floats: `x · scale[c] + offset[c]` with one fused multiply-add per value
/// (so every code path rounds alike).
pub fn bytes_to_chw(hwc: &[u8], scale: [f32; 3], offset: [f32; 3], out: &mut [f32]) {
    assert_eq!(hwc.len(), out.len(), "input and output sizes");
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma") {
        // SAFETY: the CPU has AVX2 and FMA (checked just above).
        unsafe { bytes_to_chw_avx2(hwc, scale, offset, out) };
        return;
    }
    bytes_to_chw_portable(hwc, scale, offset, out);
}

#[inline(always)]
fn bytes_to_chw_portable(hwc: &[u8], scale: [f32; 3], offset: [f32; 3], out: &mut [f32]) {
    let n = hwc.len() / 3;
    let hwc = &hwc[..3 * n];
    let (r, rest) = out.split_at_mut(n);
    let (g, b) = rest.split_at_mut(n);
    let b = &mut b[..n];
    for i in 0..n {
        r[i] = (hwc[3 * i] as f32).mul_add(scale[0], offset[0]);
        g[i] = (hwc[3 * i + 1] as f32).mul_add(scale[1], offset[1]);
        b[i] = (hwc[3 * i + 2] as f32).mul_add(scale[2], offset[2]);
    }
}

/// The same loop, compiled for AVX2 + FMA (the compiler vectorises the strided loads).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn bytes_to_chw_avx2(hwc: &[u8], scale: [f32; 3], offset: [f32; 3], out: &mut [f32]) {
    bytes_to_chw_portable(hwc, scale, offset, out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn image(w: usize, h: usize, seed: u64) -> Vec<u8> {
        let mut s = seed;
        (0..w * h * 3)
            .map(|_| {
                s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                (s >> 56) as u8
            })
            .collect()
    }

    /// The filter's definition evaluated in f64, one output pixel at a time.
    fn reference(src: &[u8], sw: usize, sh: usize, w: usize, h: usize) -> Vec<f64> {
        let weights = |src: usize, dst: usize, i: usize| -> Vec<(usize, f64)> {
            let scale = src as f64 / dst as f64;
            let support = scale.max(1.0);
            let center = (i as f64 + 0.5) * scale;
            let v: Vec<(usize, f64)> = (0..src).map(|j| (j, (1.0 - ((j as f64 + 0.5 - center) / support).abs()).max(0.0))).filter(|p| p.1 > 0.0).collect();
            let sum: f64 = v.iter().map(|p| p.1).sum();
            v.into_iter().map(|(j, x)| (j, x / sum)).collect()
        };
        let mut out = vec![0f64; w * h * 3];
        for y in 0..h {
            let wy = weights(sh, h, y);
            for x in 0..w {
                let wx = weights(sw, w, x);
                for c in 0..3 {
                    out[(y * w + x) * 3 + c] = wy.iter().map(|&(j, a)| wx.iter().map(|&(i, b)| a * b * src[(j * sw + i) * 3 + c] as f64).sum::<f64>()).sum();
                }
            }
        }
        out
    }

    #[test]
    fn kernels_equal_portable_loops_and_the_filter_definition() {
        for (k, &(sw, sh, w, h)) in
            [(178, 218, 224, 224), (178, 218, 64, 64), (64, 128, 32, 64), (13, 7, 5, 19), (40, 50, 40, 50), (1, 1, 9, 3), (300, 2, 7, 1), (9, 9, 8, 8)].iter().enumerate()
        {
            let src = image(sw, sh, k as u64);
            let mut plan = ResizePlan::new(sw, sh, w, h);
            let mut portable = vec![1u8; w * h * 3];
            plan.resize_with(Kernel::Portable, &src, &mut portable);
            for kernel in Kernel::available() {
                let mut got = vec![7u8; w * h * 3];
                plan.resize_with(kernel, &src, &mut got);
                assert_eq!(got, portable, "{sw}×{sh} → {w}×{h}: the {kernel:?} kernel and the portable loops differ");
            }
            let mut fast = vec![0u8; w * h * 3];
            plan.resize(&src, &mut fast);
            let want = reference(&src, sw, sh, w, h);
            for (i, (&got, &want)) in fast.iter().zip(&want).enumerate() {
                assert!((got as f64 - want).abs() <= 0.5 + 1e-3, "{sw}×{sh} → {w}×{h}, value {i}: {got} vs {want:.3}");
            }
            if (sw, sh) == (w, h) {
                assert_eq!(fast, src, "same size must copy");
            }
        }
    }

    #[test]
    fn kernels_on_this_machine() {
        // Says which kernels the equality test above exercised here.
        eprintln!("resize kernels on this CPU: {:?}", Kernel::available());
        assert_eq!(Kernel::available()[0], Kernel::Portable);
    }

    #[test]
    fn chw_conversion_equals_portable_loop() {
        let src = image(37, 11, 3);
        let (scale, offset) = ([0.1f32, 0.2, 0.3], [-1.0f32, 0.5, 2.0]);
        let mut fast = vec![0f32; src.len()];
        let mut portable = vec![0f32; src.len()];
        bytes_to_chw(&src, scale, offset, &mut fast);
        bytes_to_chw_portable(&src, scale, offset, &mut portable);
        assert_eq!(fast, portable);
        let n = 37 * 11;
        assert_eq!(fast[n + 5], (src[5 * 3 + 1] as f32).mul_add(0.2, 0.5));
    }
}
