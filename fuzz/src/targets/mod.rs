//! One module per fuzz target, each with `check(data)`: the harness, shared by the AFL++
//! binaries in src/bin/ and by the corpus replay test.
pub mod c_abi;
pub mod compress_answer;
pub mod emulator_multipart;
pub mod headers;
pub mod multipart_roundtrip;
pub mod sync_manifest;
pub mod usage_answer;
