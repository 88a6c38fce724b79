//! `awmt-worker`: the half of awmt that links libtorch. The `awmt` front end starts it to run an
//! isolated stage (`exec-stage --context FILE`) and to ask what libtorch sees (`doctor`, `gpus`).

use std::path::PathBuf;
use std::process::ExitCode;

/// Keeps freed memory in the heap instead of returning it to the kernel: glibc's defaults unmap
/// and re-fault every tensor buffer above its (adaptive) mmap threshold, which on the quickstart's
/// small networks cost ~15% of a training's CPU time in system time and page faults
/// (docs/BENCHMARKS.md). Thresholds: allocations below 256 MiB from the heap, trim above 512 MiB.
fn keep_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets allocator parameters; called before any thread starts.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 256 << 20);
        libc::mallopt(libc::M_TRIM_THRESHOLD, 512 << 20);
    }
}

fn main() -> ExitCode {
    keep_freed_memory();
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.iter().map(String::as_str).collect::<Vec<_>>().as_slice() {
        ["exec-stage", "--context", file] => {
            let result = awmt::exec::worker::read_context(&PathBuf::from(file)).and_then(|ctx| awmt_torch::worker::run_here(&ctx));
            match result {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("error: {e:#}");
                    ExitCode::from(1)
                }
            }
        }
        ["doctor"] => {
            let cuda_loaded = awmt_torch::torch_env::load_cuda_backend();
            let lib = awmt_torch::torch_env::libtorch_dir().map(|d| d.display().to_string()).unwrap_or_else(|| "not found".into());
            let version = awmt_torch::torch_env::libtorch_version().unwrap_or_else(|| "unknown".into());
            println!("libtorch        {version} (expected {}) at {lib}", awmt::TORCH_VERSION);
            if version != "unknown" && !version.starts_with(awmt::TORCH_VERSION) {
                println!("                WARNING: awmt was built for torch {}; rebuild with `make build`", awmt::TORCH_VERSION);
            }
            let cuda = if tch::Cuda::is_available() {
                format!(
                    "available, {} device(s), cuDNN {}",
                    tch::Cuda::device_count(),
                    if tch::Cuda::cudnn_is_available() { "yes" } else { "no" }
                )
            } else if cuda_loaded {
                "backend loaded, no usable device".to_string()
            } else {
                "not usable (CPU-only libtorch install, or no CUDA libraries)".to_string()
            };
            println!("CUDA            {cuda}");
            println!("threads         {} torch intra-op", tch::get_num_threads());
            ExitCode::SUCCESS
        }
        ["gpus"] => {
            let n = if awmt_torch::torch_env::load_cuda_backend() { tch::Cuda::device_count().max(0) } else { 0 };
            println!("{n}");
            ExitCode::SUCCESS
        }
        _ => {
            eprintln!("usage: awmt-worker exec-stage --context FILE | doctor | gpus   (started by `awmt`)");
            ExitCode::from(2)
        }
    }
}
