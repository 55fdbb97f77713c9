// The API's limits and the library's setting ranges: the one place they are written. build.rs
// includes this file too, so the header's FLX_MAX_* macros come from these constants.

/// The documented per-file limit: 20 MB (taken as 20 MiB, the server's reading).
pub const MAX_FILE_BYTES: u64 = 20 * 1024 * 1024;
/// The documented number of files in one request.
pub const MAX_FILES_PER_REQUEST: usize = 20;
/// The most retries a retry policy may ask for.
pub const MAX_RETRIES: u32 = 10;
/// The most requests of one batch in flight at once.
pub const MAX_CONCURRENCY: u32 = 16;
