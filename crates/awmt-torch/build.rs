//! Bakes an rpath to the libtorch that torch-sys linked against into every binary of this package,
//! so `target/release/awmt-worker` runs without LD_LIBRARY_PATH (docs/TOOLCHAIN.md, "Finding
//! libtorch"). The `awmt` package links no libtorch and needs no build script.
fn main() {
    println!("cargo:rerun-if-env-changed=LIBTORCH");
    if let Ok(lib) = std::env::var("DEP_TCH_LIBTORCH_LIB") {
        println!("cargo:rustc-link-arg=-Wl,-rpath,{lib}");
    }
}
