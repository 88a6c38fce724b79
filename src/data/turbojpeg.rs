//! libjpeg-turbo's TurboJPEG API, loaded at run time: the optional `decoder: libjpeg-turbo` of the
//! `prepare` stage. It decodes 4:2:0 photos faster than zune-jpeg and can shrink by 1/2, 1/4 or
//! 1/8 inside the inverse DCT, which is most of the work saved when the target is small.
//!
//! Loaded with `dlopen` rather than linked, so that building awmt never needs the C library: it
//! comes from the system (`libturbojpeg0` on Debian/Ubuntu, `libjpeg-turbo` elsewhere) or from
//! `AWMT_LIBTURBOJPEG=/path/to/libturbojpeg.so.0`. Only the TurboJPEG 2.0 functions are used
//! (3.x keeps them).

use std::ffi::{c_char, c_int, c_ulong, c_void, CStr, CString};
use std::sync::OnceLock;

use anyhow::{anyhow, bail, Result};

use super::images::Rgb;

/// `TJPF_RGB`: interleaved RGB output.
const TJPF_RGB: c_int = 0;

type InitDecompress = unsafe extern "C" fn() -> *mut c_void;
type DecompressHeader3 = unsafe extern "C" fn(*mut c_void, *const u8, c_ulong, *mut c_int, *mut c_int, *mut c_int, *mut c_int) -> c_int;
type Decompress2 = unsafe extern "C" fn(*mut c_void, *const u8, c_ulong, *mut u8, c_int, c_int, c_int, c_int, c_int) -> c_int;
type GetErrorStr2 = unsafe extern "C" fn(*mut c_void) -> *const c_char;
type Destroy = unsafe extern "C" fn(*mut c_void) -> c_int;

struct Api {
    init_decompress: InitDecompress,
    decompress_header3: DecompressHeader3,
    decompress2: Decompress2,
    get_error_str2: GetErrorStr2,
    destroy: Destroy,
    /// Where it was loaded from, for messages.
    library: String,
}

/// What to tell a user who asked for this decoder and does not have it.
const INSTALL_HINT: &str = "install libjpeg-turbo's TurboJPEG library (Debian/Ubuntu: `apt-get install libturbojpeg0`; \
     Fedora: `dnf install turbojpeg`) or point AWMT_LIBTURBOJPEG at libturbojpeg.so.0, or use `decoder: zune`";

fn load() -> Result<Api, String> {
    let candidates: Vec<String> = match std::env::var("AWMT_LIBTURBOJPEG") {
        Ok(p) if !p.is_empty() => vec![p],
        _ => vec!["libturbojpeg.so.0".into(), "libturbojpeg.so".into()],
    };
    let mut tried = Vec::new();
    for name in &candidates {
        let Ok(c) = CString::new(name.as_bytes()) else { continue };
        // SAFETY: dlopen with a NUL-terminated name; the handle is kept for the process's life.
        let handle = unsafe { libc::dlopen(c.as_ptr(), libc::RTLD_NOW | libc::RTLD_LOCAL) };
        if handle.is_null() {
            tried.push(name.clone());
            continue;
        }
        let symbol = |s: &str| -> Result<*mut c_void, String> {
            let cs = CString::new(s).expect("symbol names have no NUL");
            // SAFETY: dlsym on a live handle with a NUL-terminated name.
            let p = unsafe { libc::dlsym(handle, cs.as_ptr()) };
            if p.is_null() {
                Err(format!("{name} has no `{s}`: it is not libjpeg-turbo's TurboJPEG 2.0 or later"))
            } else {
                Ok(p)
            }
        };
        // SAFETY: each symbol is the C function of that name with the signature declared above
        // (TurboJPEG 2.0 API, `turbojpeg.h`).
        unsafe {
            return Ok(Api {
                init_decompress: std::mem::transmute::<*mut c_void, InitDecompress>(symbol("tjInitDecompress")?),
                decompress_header3: std::mem::transmute::<*mut c_void, DecompressHeader3>(symbol("tjDecompressHeader3")?),
                decompress2: std::mem::transmute::<*mut c_void, Decompress2>(symbol("tjDecompress2")?),
                get_error_str2: std::mem::transmute::<*mut c_void, GetErrorStr2>(symbol("tjGetErrorStr2")?),
                destroy: std::mem::transmute::<*mut c_void, Destroy>(symbol("tjDestroy")?),
                library: name.clone(),
            });
        }
    }
    Err(format!("cannot load {}", tried.join(" or ")))
}

fn api() -> Result<&'static Api> {
    static API: OnceLock<Result<Api, String>> = OnceLock::new();
    API.get_or_init(load).as_ref().map_err(|e| anyhow!("decoder `libjpeg-turbo`: {e}; {INSTALL_HINT}"))
}

/// Whether the library can be loaded here (and, if so, from where).
pub fn available() -> Result<String> {
    api().map(|a| a.library.clone())
}

/// One decompressor; keep one per thread (a TurboJPEG handle must not be shared).
pub struct TurboDecoder {
    handle: *mut c_void,
    api: &'static Api,
}

// SAFETY: a handle may move between threads; it is only ever used through `&mut self`.
unsafe impl Send for TurboDecoder {}

impl TurboDecoder {
    pub fn new() -> Result<TurboDecoder> {
        let api = api()?;
        // SAFETY: a plain constructor; null means failure.
        let handle = unsafe { (api.init_decompress)() };
        if handle.is_null() {
            bail!("libjpeg-turbo could not create a decompressor");
        }
        Ok(TurboDecoder { handle, api })
    }

    fn error(&self) -> String {
        // SAFETY: the handle is live; the library returns a NUL-terminated static or per-handle string.
        let p = unsafe { (self.api.get_error_str2)(self.handle) };
        if p.is_null() {
            "unknown error".into()
        } else {
            // SAFETY: non-null, NUL-terminated (see above).
            unsafe { CStr::from_ptr(p) }.to_string_lossy().trim().to_string()
        }
    }

    /// Decodes a JPEG to RGB at full size or, given `at_least` = (width, height), shrunk by the
    /// largest of 1/8, 1/4, 1/2 that keeps it at least that big (full size if none does).
    pub fn decode(&mut self, bytes: &[u8], at_least: Option<(usize, usize)>) -> Result<Rgb> {
        let (mut w, mut h, mut subsamp, mut colorspace) = (0 as c_int, 0 as c_int, 0 as c_int, 0 as c_int);
        // SAFETY: the handle is live, `bytes` is valid for its length, the outputs are locals.
        let rc = unsafe { (self.api.decompress_header3)(self.handle, bytes.as_ptr(), bytes.len() as c_ulong, &mut w, &mut h, &mut subsamp, &mut colorspace) };
        if rc != 0 || w <= 0 || h <= 0 {
            bail!("not a readable JPEG: {}", self.error());
        }
        let (w, h) = (w as usize, h as usize);
        let denom = match at_least {
            Some((min_w, min_h)) => [8usize, 4, 2].into_iter().find(|d| w.div_ceil(*d) >= min_w && h.div_ceil(*d) >= min_h).unwrap_or(1),
            None => 1,
        };
        // TurboJPEG's TJSCALED: ceil(dimension · 1/denom).
        let (width, height) = (w.div_ceil(denom), h.div_ceil(denom));
        let mut pixels = vec![0u8; width * height * 3];
        // SAFETY: `pixels` holds height rows of width·3 bytes, the pitch given; the handle is live.
        let rc = unsafe {
            (self.api.decompress2)(self.handle, bytes.as_ptr(), bytes.len() as c_ulong, pixels.as_mut_ptr(), width as c_int, (width * 3) as c_int, height as c_int, TJPF_RGB, 0)
        };
        // Strict, like the zune path: a warning (truncated data filled with grey, extraneous
        // bytes before a marker: damaged image data) is an error too.
        if rc != 0 {
            bail!("not a readable JPEG: {}", self.error());
        }
        Ok(Rgb { width, height, pixels })
    }
}

impl Drop for TurboDecoder {
    fn drop(&mut self) {
        // SAFETY: the handle came from tjInitDecompress and is destroyed once.
        unsafe { (self.api.destroy)(self.handle) };
    }
}
