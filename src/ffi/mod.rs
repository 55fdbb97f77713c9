//! The C ABI. The only `unsafe` code of the crate lives in this module; it knows nothing of
//! HTTP and only translates between C values and the safe core.
//!
//! Every exported function runs its body through `entry` (via the `ffi_entry!` macro), which
//! catches panics, turns errors into a status plus the thread-local last error, and clears the
//! last error on success. Pointer arguments are read through the `arg_*` helpers, which reject
//! NULL and invalid UTF-8 with `FLX_INVALID_ARGUMENT` instead of crashing.
#![allow(non_camel_case_types)]

use crate::error::{Error, ErrorKind};
use std::cell::RefCell;
use std::ffi::{c_char, CStr, CString};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::PathBuf;

mod batch;
mod client;
mod compress;
#[cfg(test)]
mod hardening_tests;
mod options;
mod sync;
mod usage;

/// Runs an exported function's body with the panic boundary and the last-error bookkeeping.
macro_rules! ffi_entry {
    ($body:block) => {
        $crate::ffi::entry(move || -> ::std::result::Result<_, $crate::Error> { $body })
    };
}
pub(crate) use ffi_entry;

/// Status of a call. The numbers are stable: new values are only ever added.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum flx_status {
    /// Success.
    FLX_OK = 0,
    /// An argument was NULL, not UTF-8, out of range or otherwise invalid; nothing was sent.
    FLX_INVALID_ARGUMENT = 1,
    /// The key was missing, malformed, unknown or rolled (HTTP 401).
    FLX_UNAUTHORIZED = 2,
    /// The plan does not include the feature (HTTP 403): watermark, AI, or API access.
    FLX_FORBIDDEN = 3,
    /// Compression or AI credits are used up for this billing period (HTTP 402).
    FLX_QUOTA_EXCEEDED = 4,
    /// A file is over 20 MB or the request too large (local check or HTTP 413).
    FLX_TOO_LARGE = 5,
    /// Rate limited (HTTP 429); see flx_last_retry_after_ms().
    FLX_RATE_LIMITED = 6,
    /// The server rejected a field (HTTP 400).
    FLX_BAD_REQUEST = 7,
    /// The server failed (HTTP 5xx), or could not process one image of a batch.
    FLX_SERVER = 8,
    /// The connection could not be made or broke.
    FLX_NETWORK = 9,
    /// A connect, read or total time limit was reached.
    FLX_TIMEOUT = 10,
    /// TLS handshake or certificate verification failed.
    FLX_TLS = 11,
    /// The server's answer did not follow the protocol (not JSON, no URL, too large, redirect).
    FLX_PROTOCOL = 12,
    /// A result's signed URL expired or its file was deleted: compress again.
    FLX_EXPIRED = 13,
    /// A local file could not be read or written.
    FLX_IO = 14,
    /// The call was cancelled by a progress callback or a cancel token.
    FLX_CANCELLED = 15,
    /// A batch finished but some images failed; the batch is returned, see flx_batch_status().
    FLX_PARTIAL = 16,
    /// A bug in the library (a caught panic); please report it.
    FLX_INTERNAL = 17,
    /// A file is already at the output path and the save's flx_exists policy forbids
    /// replacing it (or another result of the same batch wrote it); nothing was written.
    FLX_EXISTS = 18,
}

impl flx_status {
    fn of(kind: ErrorKind) -> flx_status {
        use flx_status::*;
        match kind {
            ErrorKind::InvalidArgument => FLX_INVALID_ARGUMENT,
            ErrorKind::Unauthorized => FLX_UNAUTHORIZED,
            ErrorKind::Forbidden => FLX_FORBIDDEN,
            ErrorKind::QuotaExceeded => FLX_QUOTA_EXCEEDED,
            ErrorKind::TooLarge => FLX_TOO_LARGE,
            ErrorKind::RateLimited => FLX_RATE_LIMITED,
            ErrorKind::BadRequest => FLX_BAD_REQUEST,
            ErrorKind::Server => FLX_SERVER,
            ErrorKind::Network => FLX_NETWORK,
            ErrorKind::Timeout => FLX_TIMEOUT,
            ErrorKind::Tls => FLX_TLS,
            ErrorKind::Protocol => FLX_PROTOCOL,
            ErrorKind::Expired => FLX_EXPIRED,
            ErrorKind::Io => FLX_IO,
            ErrorKind::Cancelled => FLX_CANCELLED,
            ErrorKind::Partial => FLX_PARTIAL,
            ErrorKind::Internal => FLX_INTERNAL,
            ErrorKind::Exists => FLX_EXISTS,
        }
    }
}

/// The value an exported function returns when it fails, by return type.
pub(crate) trait FailValue {
    fn fail(status: flx_status) -> Self;
}

impl FailValue for flx_status {
    fn fail(status: flx_status) -> Self {
        status
    }
}

impl<T> FailValue for *mut T {
    fn fail(_: flx_status) -> Self {
        std::ptr::null_mut()
    }
}

impl<T> FailValue for *const T {
    fn fail(_: flx_status) -> Self {
        std::ptr::null()
    }
}

impl FailValue for usize {
    fn fail(_: flx_status) -> Self {
        0
    }
}

impl FailValue for i64 {
    fn fail(_: flx_status) -> Self {
        -1
    }
}

impl FailValue for () {
    fn fail(_: flx_status) -> Self {}
}

struct LastError {
    message: CString,
    http_status: i32,
    retry_after_ms: i64,
}

thread_local! {
    static LAST_ERROR: RefCell<Option<LastError>> = const { RefCell::new(None) };
}

fn to_cstring(s: &str) -> CString {
    CString::new(s.replace('\0', "\u{FFFD}")).unwrap_or_default()
}

pub(crate) fn set_last_error(e: &Error) {
    let last = LastError {
        message: to_cstring(e.message()),
        http_status: e.http_status().map_or(0, i32::from),
        retry_after_ms: e
            .retry_after()
            .map_or(-1, |d| d.as_millis().min(i64::MAX as u128) as i64),
    };
    LAST_ERROR.with(|l| *l.borrow_mut() = Some(last));
}

fn clear_last_error() {
    LAST_ERROR.with(|l| *l.borrow_mut() = None);
}

/// The panic boundary and last-error bookkeeping shared by every export (see `ffi_entry!`).
pub(crate) fn entry<T: FailValue>(body: impl FnOnce() -> Result<T, Error>) -> T {
    // A caught panic is reported through the status; it must not also print on the host's stderr.
    crate::quiet::install();
    let _quiet = crate::quiet::enter();
    match catch_unwind(AssertUnwindSafe(body)) {
        Ok(Ok(v)) => {
            clear_last_error();
            v
        }
        Ok(Err(e)) => {
            set_last_error(&e);
            T::fail(flx_status::of(e.kind()))
        }
        Err(payload) => {
            let what = payload
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic".into());
            set_last_error(&Error::new(
                ErrorKind::Internal,
                format!("internal error in libfluximage (please report): {what}"),
            ));
            T::fail(flx_status::FLX_INTERNAL)
        }
    }
}

/// Borrows `*p`, or fails naming the argument when it is NULL.
pub(crate) fn arg_ref<'a, T>(p: *const T, name: &str) -> Result<&'a T, Error> {
    // SAFETY: non-NULL pointers come from this library's own `_new` functions, per the header's contract.
    unsafe { p.as_ref() }.ok_or_else(|| Error::invalid(format!("{name} is NULL")))
}

/// Mutably borrows `*p`, or fails naming the argument when it is NULL.
pub(crate) fn arg_mut<'a, T>(p: *mut T, name: &str) -> Result<&'a mut T, Error> {
    // SAFETY: as arg_ref; the header forbids using a handle from two threads while it is configured.
    unsafe { p.as_mut() }.ok_or_else(|| Error::invalid(format!("{name} is NULL")))
}

/// Reads a NUL-terminated UTF-8 string argument.
pub(crate) fn arg_str<'a>(p: *const c_char, name: &str) -> Result<&'a str, Error> {
    if p.is_null() {
        return Err(Error::invalid(format!("{name} is NULL")));
    }
    // SAFETY: the caller passes a NUL-terminated string, per the header's contract.
    let c = unsafe { CStr::from_ptr(p) };
    c.to_str()
        .map_err(|_| Error::invalid(format!("{name} is not valid UTF-8")))
}

/// Reads an optional string argument: NULL gives `None`.
pub(crate) fn arg_opt_str<'a>(p: *const c_char, name: &str) -> Result<Option<&'a str>, Error> {
    if p.is_null() {
        Ok(None)
    } else {
        arg_str(p, name).map(Some)
    }
}

/// Reads a path argument: any bytes but NUL, as the OS takes them.
pub(crate) fn arg_path(p: *const c_char, name: &str) -> Result<PathBuf, Error> {
    use std::os::unix::ffi::OsStrExt;
    if p.is_null() {
        return Err(Error::invalid(format!("{name} is NULL")));
    }
    // SAFETY: the caller passes a NUL-terminated string, per the header's contract.
    let bytes = unsafe { CStr::from_ptr(p) }.to_bytes();
    if bytes.is_empty() {
        return Err(Error::invalid(format!("{name} is empty")));
    }
    Ok(PathBuf::from(std::ffi::OsStr::from_bytes(bytes)))
}

/// Borrows `n` elements at `p`; `p` may be NULL only when `n` is 0.
pub(crate) fn arg_slice<'a, T>(p: *const T, n: usize, name: &str) -> Result<&'a [T], Error> {
    if n == 0 {
        return Ok(&[]);
    }
    if p.is_null() {
        return Err(Error::invalid(format!(
            "{name} is NULL but its length is {n}"
        )));
    }
    if n > isize::MAX as usize / std::mem::size_of::<T>().max(1) {
        return Err(Error::invalid(format!(
            "{name} length {n} is impossibly large"
        )));
    }
    // SAFETY: the caller promises `n` readable elements at `p`, per the header's contract.
    Ok(unsafe { std::slice::from_raw_parts(p, n) })
}

/// Writes an out-parameter (only ever called on success).
pub(crate) fn write_out<T>(out: *mut T, value: T) {
    // SAFETY: `out` was checked non-NULL by the caller of write_out before any work was done.
    unsafe { out.write(value) }
}

/// Moves a value to the heap for C; released by `free_box`.
pub(crate) fn into_raw<T>(v: T) -> *mut T {
    Box::into_raw(Box::new(v))
}

/// Releases a value made by `into_raw`; NULL is ignored.
pub(crate) fn free_box<T: ?Sized>(p: *mut T) {
    if !p.is_null() {
        // SAFETY: `p` came from into_raw and the header says it is freed once.
        drop(unsafe { Box::from_raw(p) });
    }
}

/// Releases a string made by `CString::into_raw`; NULL is ignored.
pub(crate) fn free_cstring(p: *mut c_char) {
    if !p.is_null() {
        // SAFETY: `p` came from CString::into_raw in this library and the header says it is freed once.
        drop(unsafe { CString::from_raw(p) });
    }
}

/// Rejects a NULL out-parameter before any work is done.
pub(crate) fn check_out<T>(p: *mut T, name: &str) -> Result<(), Error> {
    if p.is_null() {
        Err(Error::invalid(format!("{name} is NULL")))
    } else {
        Ok(())
    }
}

/// An owned C string for handles to hand out.
pub(crate) fn cstring(s: &str) -> CString {
    to_cstring(s)
}

/// The message of the last failed `flx_` call on this thread, or "" when the last call
/// succeeded. Owned by the library: valid until the next `flx_` call on this thread; never NULL.
/// The message never contains the full API key.
#[no_mangle]
pub extern "C" fn flx_last_error() -> *const c_char {
    LAST_ERROR.with(|l| match &*l.borrow() {
        Some(e) => e.message.as_ptr(),
        None => c"".as_ptr(),
    })
}

/// The HTTP status of the last failed call on this thread, or 0 when no server answered.
#[no_mangle]
pub extern "C" fn flx_last_http_status() -> i32 {
    LAST_ERROR.with(|l| l.borrow().as_ref().map_or(0, |e| e.http_status))
}

/// How long the server asked to wait (Retry-After) in the last failed call on this thread, in
/// milliseconds, or -1 when it did not say.
#[no_mangle]
pub extern "C" fn flx_last_retry_after_ms() -> i64 {
    LAST_ERROR.with(|l| l.borrow().as_ref().map_or(-1, |e| e.retry_after_ms))
}

/// A static English description of a status ("invalid argument", "rate limited", ...);
/// "unknown status" for a value that is not a flx_status. Never NULL, never freed.
#[no_mangle]
pub extern "C" fn flx_status_str(status: i32) -> *const c_char {
    // The texts are the core's (ErrorKind::describe), made C strings once.
    static TEXTS: once_cell::sync::Lazy<Vec<CString>> = once_cell::sync::Lazy::new(|| {
        ErrorKind::ALL
            .iter()
            .map(|k| to_cstring(k.describe()))
            .collect()
    });
    match status {
        0 => c"ok".as_ptr(),
        _ => ErrorKind::from_code(status).map_or(c"unknown status".as_ptr(), |k| {
            TEXTS[k as usize - 1].as_ptr()
        }),
    }
}

/// The library's version, "MAJOR.MINOR.PATCH"; static, never freed. Compare with
/// FLX_VERSION_MAJOR/MINOR/PATCH to detect a header/library mismatch.
#[no_mangle]
pub extern "C" fn flx_version() -> *const c_char {
    const V: &CStr =
        match CStr::from_bytes_with_nul(concat!(env!("CARGO_PKG_VERSION"), "\0").as_bytes()) {
            Ok(v) => v,
            Err(_) => c"unknown",
        };
    V.as_ptr()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn panics_become_internal_errors() {
        let s: flx_status = entry(|| -> Result<flx_status, Error> { panic!("boom") });
        assert_eq!(s, flx_status::FLX_INTERNAL);
        // SAFETY: flx_last_error returns a valid NUL-terminated string.
        let msg = unsafe { CStr::from_ptr(flx_last_error()) }
            .to_str()
            .unwrap();
        assert!(msg.contains("boom"), "{msg}");
        let p: *mut u8 = entry(|| -> Result<*mut u8, Error> { panic!("again") });
        assert!(p.is_null());
    }

    #[test]
    fn success_clears_and_errors_set_status() {
        let s: flx_status = entry(|| {
            Err(Error::from_http(
                crate::error::Target::Api,
                429,
                None,
                b"",
                Some(std::time::Duration::from_secs(2)),
            ))
        });
        assert_eq!(s, flx_status::FLX_RATE_LIMITED);
        assert_eq!(flx_last_http_status(), 429);
        assert_eq!(flx_last_retry_after_ms(), 2000);
        let s: flx_status = entry(|| Ok(flx_status::FLX_OK));
        assert_eq!(s, flx_status::FLX_OK);
        assert_eq!(flx_last_http_status(), 0);
        // SAFETY: as above.
        assert_eq!(unsafe { CStr::from_ptr(flx_last_error()) }.to_bytes(), b"");
    }

    #[test]
    fn status_strings_cover_every_kind() {
        for (i, k) in (1..).zip(ErrorKind::ALL) {
            assert_eq!(flx_status::of(k) as i32, i);
            assert_eq!(k as i32, i);
            // SAFETY: flx_status_str returns a static string.
            assert_eq!(
                unsafe { CStr::from_ptr(flx_status_str(i)) }
                    .to_str()
                    .unwrap(),
                k.describe()
            );
        }
        // SAFETY: as above.
        assert_eq!(
            unsafe { CStr::from_ptr(flx_status_str(19)) }
                .to_str()
                .unwrap(),
            "unknown status"
        );
        // SAFETY: as above.
        assert_eq!(
            unsafe { CStr::from_ptr(flx_status_str(18)) }
                .to_str()
                .unwrap(),
            "file exists"
        );
    }
}

#[cfg(test)]
mod header_tests {
    /// The committed header states the version and limits; they must agree with the code.
    #[test]
    fn header_macros_agree_with_cargo_and_core() {
        let header =
            std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/include/fluximage.h"))
                .unwrap();
        let define = |name: &str| -> String {
            let line = header
                .lines()
                .find(|l| l.starts_with(&format!("#define {name} ")))
                .unwrap_or_else(|| panic!("{name} missing"));
            line[format!("#define {name} ").len()..]
                .trim()
                .trim_matches('"')
                .to_string()
        };
        let parts: Vec<String> = ["MAJOR", "MINOR", "PATCH"]
            .iter()
            .map(|p| define(&format!("FLX_VERSION_{p}")))
            .collect();
        assert_eq!(parts.join("."), env!("CARGO_PKG_VERSION"));
        assert_eq!(define("FLX_VERSION_STRING"), env!("CARGO_PKG_VERSION"));
        assert_eq!(
            define("FLX_MAX_FILE_BYTES"),
            crate::MAX_FILE_BYTES.to_string()
        );
        assert_eq!(
            define("FLX_MAX_FILES_PER_REQUEST"),
            crate::MAX_FILES_PER_REQUEST.to_string()
        );
        assert_eq!(define("FLX_MAX_RETRIES"), crate::MAX_RETRIES.to_string());
        assert_eq!(
            define("FLX_MAX_CONCURRENCY"),
            crate::MAX_CONCURRENCY.to_string()
        );
    }
}

/// Fuzzing only (feature `fuzzing`): hands `batch` out as C receives one from a compress call,
/// so the C ABI target can drive the batch accessors without a server. Free with flx_batch_free.
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub fn fuzz_batch_new(batch: crate::Batch) -> *mut std::ffi::c_void {
    into_raw(batch::flx_batch::new(batch)).cast()
}
