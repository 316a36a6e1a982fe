//! The process's memory allocator: jemalloc, returning what it no longer uses within a second.
//!
//! Two measured reasons, both about memory kept after it was freed:
//! - **Connection storms.** 10,000 clients connecting 1,000 at a time leave each connection a
//!   few hundred bytes that live on (its task, its outlet, the hub's entries) among tens of
//!   megabytes of handshakes that are freed. glibc's malloc mixes the two on the same pages and
//!   can give back only the pages left wholly free, even after a `malloc_trim`: 1.26-1.68 KiB of
//!   server RSS per idle connection settled, 1.52 mean over seven runs, four of them above the
//!   1.5 KiB target (`natter-bench --targets natter --duration-s 3 idle`). jemalloc keeps each
//!   size class on pages of its own, so the freed handshakes leave whole pages: 1.23-1.41 KiB,
//!   1.32 mean, over seven runs alternating with those.
//! - **Password hashes.** argon2id allocates ~19 MiB per hash. glibc's malloc, left to itself,
//!   raised its mmap threshold after the first such block and kept the later ones in its arenas
//!   (the soak in BENCHMARKS.md measured 510-980 MiB per node). jemalloc's background thread
//!   returns dirty pages to the kernel after `dirty_decay_ms`, set here to one second.
//!
//! C code in the process (SQLite) still allocates through the C library's malloc.

#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// jemalloc's options, read when it starts: a background thread purges unused pages, dirty ones
/// after a second and without a second ("muzzy") stage.
#[allow(non_upper_case_globals, reason = "the symbol jemalloc looks for")]
#[unsafe(export_name = "_rjem_malloc_conf")]
pub static malloc_conf: &[u8] = b"background_thread:true,dirty_decay_ms:1000,muzzy_decay_ms:0\0";
