//! `awmt-supervise __supervise LOCK -- PROGRAM ARGS…`: the parent process of a command stage's
//! process tree (`src/supervise.rs`, compiled in here by path rather than linked through the awmt
//! library, so that this binary never links libtorch and starts in a millisecond even in builds
//! whose `awmt` does). `awmt __supervise` does the same.

#[allow(dead_code)]
#[path = "../supervise.rs"]
mod supervise;

fn main() -> std::process::ExitCode {
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    if args.get(1).is_some_and(|a| a == supervise::ARG) {
        let code = supervise::main(&args[2..]);
        return std::process::ExitCode::from(code.clamp(0, 255) as u8);
    }
    eprintln!("awmt-supervise is started by awmt for command stages; it is not meant to be run by hand");
    std::process::ExitCode::from(2)
}
