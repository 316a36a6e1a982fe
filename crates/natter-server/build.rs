//! Rebuilds the crate when anything in `web/dist` changes, added files included: `include_dir!`
//! (src/web.rs) tracks only the files it saw, so precompressed siblings written by
//! `web/scripts/compress.mjs` next to unchanged files would otherwise not be embedded.
fn main() {
    println!("cargo:rerun-if-changed=../../web/dist");
}
