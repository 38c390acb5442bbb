//! Makes builds that embed static/ notice files added there (a rebuilt UI's new
//! `pkg/HASH/`): rust-embed tracks only the files it embedded. rust-embed embeds when
//! debug assertions are off (release); debug builds read static/ at run time, so they are
//! not rebuilt whenever the UI is.

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    if std::env::var_os("CARGO_CFG_DEBUG_ASSERTIONS").is_none() {
        println!("cargo:rerun-if-changed=../static");
    }
}
