//! `awmt-worker exec-stage --context F`: running one stage in this process, with its thread budget
//! applied to rayon and libtorch.

use anyhow::Result;

use awmt::stages::StageContext;

/// Runs one stage in this process (the worker).
pub fn run_here(ctx: &StageContext) -> Result<()> {
    let threads = ctx.threads.max(1);
    rayon::ThreadPoolBuilder::new().num_threads(threads).build_global().ok();
    tch::set_num_threads(threads as i32);
    if ctx.gpus > 0 {
        crate::torch_env::load_cuda_backend();
    }
    crate::stages::run(ctx)
}
