//! Facts about the linked libtorch: where it is, its version, and loading its CUDA backend.
//!
//! Rust links with `--as-needed`, which drops `libtorch_cuda.so` (nothing references it directly),
//! so CUDA would look unavailable even on a GPU machine. Instead of forcing that link (which would
//! make the binary need cuDNN, cuBLAS and NCCL everywhere), awmt `dlopen`s the backend at run time
//! when a GPU is wanted: on a CPU-only install the load fails quietly and torch stays on the CPU.

use std::path::PathBuf;

/// The directory holding the libtorch this process loaded (from `/proc/self/maps`).
pub fn libtorch_dir() -> Option<PathBuf> {
    let maps = std::fs::read_to_string("/proc/self/maps").ok()?;
    maps.lines()
        .filter_map(|l| l.split_whitespace().nth(5))
        .find(|p| p.ends_with("/libtorch_cpu.so"))
        .and_then(|p| PathBuf::from(p).parent().map(|d| d.to_path_buf()))
}

/// The torch version of the loaded libtorch (`torch/version.py` beside its `lib/`).
pub fn libtorch_version() -> Option<String> {
    let torch = libtorch_dir()?.parent()?.to_path_buf();
    let text = std::fs::read_to_string(torch.join("version.py")).ok()?;
    text.lines()
        .find(|l| l.starts_with("__version__"))
        .and_then(|l| l.split(['\'', '"']).nth(1))
        .map(str::to_string)
}

/// Loads `libtorch_cuda.so` from the loaded libtorch's directory, if it can be loaded. Returns
/// whether it is loaded.
pub fn load_cuda_backend() -> bool {
    // Touch libtorch first so that it is mapped and its directory known.
    let _ = tch::get_num_threads();
    let Some(dir) = libtorch_dir() else { return false };
    let path = dir.join("libtorch_cuda.so");
    let Ok(c) = std::ffi::CString::new(path.to_string_lossy().as_bytes()) else { return false };
    // SAFETY: dlopen of a shared library with a NUL-terminated path; the handle is kept for the
    // life of the process on purpose (its static initialisers register the CUDA backend).
    let handle = unsafe { libc::dlopen(c.as_ptr(), libc::RTLD_NOW | libc::RTLD_GLOBAL) };
    !handle.is_null()
}
