//! Gives every binary and test of this package an rpath to libtorch, so they run
//! without LD_LIBRARY_PATH. torch-sys (`links = "tch"`) exports its lib folder.
fn main() {
    println!("cargo:rerun-if-env-changed=DEP_TCH_LIBTORCH_LIB");
    if let Ok(lib) = std::env::var("DEP_TCH_LIBTORCH_LIB") {
        println!("cargo:rustc-link-arg=-Wl,-rpath,{lib}");
    }
}
