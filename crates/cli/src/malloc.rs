//! Tuning of glibc's allocator for the server process, the only unsafe code in berth.
//!
//! glibc lets threads spread over up to eight malloc arenas per core, and every arena
//! keeps what its threads freed for later. A download's reader thread allocates the
//! chunks it sends in its own arena, so with many clients pulling at once much of the
//! server's footprint was freed chunks parked in arenas no thread was using any more. With
//! one arena per core that memory is shared and reused: in the registry benchmark 32
//! concurrent 256 MiB pulls peaked at 53 to 61 MiB with glibc's default and at 46.6 MiB
//! with this limit, at the same CPU time. A `MALLOC_ARENA_MAX` set in the environment
//! still decides: glibc has read it already, and the setting is left alone.

/// Limits glibc to one malloc arena per core. Call before any thread is started.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[allow(unsafe_code)]
pub fn limit_arenas() {
    if std::env::var_os("MALLOC_ARENA_MAX").is_some() {
        return;
    }
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let arenas = libc::c_int::try_from(cores).unwrap_or(libc::c_int::MAX);
    // SAFETY: mallopt takes no pointers and only changes the allocator's parameters; glibc
    // applies M_ARENA_MAX to arenas created afterwards, and no other thread exists yet.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, arenas);
    }
}

/// Other allocators manage their own arenas.
#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
pub fn limit_arenas() {}
