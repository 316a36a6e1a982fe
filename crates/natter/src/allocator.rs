//! How the process's memory allocator is tuned, before anything allocates much.
//!
//! Password hashing (argon2id) allocates ~19 MiB per hash, on whichever blocking thread runs it.
//! glibc's malloc serves a block that large with `mmap` and unmaps it when freed, but its
//! *dynamic* threshold then rises to the size just freed, so from the second hash on, these
//! blocks come from the thread's heap arena and stay there after being freed: a node that has
//! done a few dozen logins keeps hundreds of MiB it no longer uses (the soak in BENCHMARKS.md
//! measured 510-980 MiB per node). Fixing the threshold at 4 MiB turns the dynamic rise off:
//! every block of 4 MiB or more is mapped for its use and returned to the kernel when freed,
//! which for a few hashes a second costs nothing measurable. Smaller blocks are unaffected.

/// Blocks this large or larger are always mapped and unmapped, never kept in an arena.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
const MMAP_THRESHOLD_BYTES: libc::c_int = 4 << 20;

/// Fixes glibc's mmap threshold (see the module docs). Call first thing in `main`; a no-op
/// where the C library is not glibc.
pub fn return_large_blocks_to_the_kernel() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: `mallopt` only sets a parameter of glibc's allocator; it is called before any
    // other thread exists, and a refusal (return value 0) leaves the defaults in place.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES);
    }
}
