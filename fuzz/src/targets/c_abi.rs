//! The C ABI given hostile arguments, as a C program would call it: option setters with any
//! values (out of range, bad enums, non-UTF-8 strings, missing files), then the batch
//! accessors of a batch parsed from fuzzed JSON with any index and field.
//! Invariants: no crash and no panic escaping (a caught panic would be FLX_INTERNAL, which is
//! also a failure here); every failing call leaves a non-empty flx_last_error(); every string
//! handed out is NUL-terminated; an index inside the batch is never an invalid argument.

use std::ffi::{c_char, c_int, c_void, CStr, CString};

const FLX_INVALID_ARGUMENT: c_int = 1;
const FLX_INTERNAL: c_int = 17;

extern "C" {
    fn flx_options_new() -> *mut c_void;
    fn flx_options_free(o: *mut c_void);
    fn flx_options_set_format(o: *mut c_void, format: c_int) -> c_int;
    fn flx_options_set_quality(o: *mut c_void, q: u32) -> c_int;
    fn flx_options_set_max_size(o: *mut c_void, w: u32, h: u32) -> c_int;
    fn flx_options_set_session_id(o: *mut c_void, id: *const c_char) -> c_int;
    fn flx_options_set_watermark(
        o: *mut c_void,
        png: *const c_char,
        scale: u32,
        opacity: u32,
        position: c_int,
    ) -> c_int;
    fn flx_options_set_ai(o: *mut c_void, alt: bool, seo: bool) -> c_int;
    fn flx_batch_len(b: *const c_void) -> usize;
    fn flx_batch_status(b: *const c_void, i: usize) -> c_int;
    fn flx_batch_error(b: *const c_void, i: usize) -> *const c_char;
    fn flx_batch_str(b: *const c_void, i: usize, field: c_int) -> *const c_char;
    fn flx_batch_num(b: *const c_void, i: usize, field: c_int) -> i64;
    fn flx_batch_json(b: *const c_void) -> *const c_char;
    fn flx_batch_session_id(b: *const c_void) -> *const c_char;
    fn flx_batch_free(b: *mut c_void);
    fn flx_last_error() -> *const c_char;
    fn flx_status_str(status: c_int) -> *const c_char;
}

/// Reads a C string the library handed out (NULL allowed): proves it is NUL-terminated.
fn read(p: *const c_char) -> Option<Vec<u8>> {
    // SAFETY: the library promises NULL or a NUL-terminated string owned by the handle.
    (!p.is_null()).then(|| unsafe { CStr::from_ptr(p) }.to_bytes().to_vec())
}

fn last_error() -> Vec<u8> {
    // SAFETY: flx_last_error takes no argument and never returns NULL.
    read(unsafe { flx_last_error() }).expect("flx_last_error is never NULL")
}

/// A setter's status: never a caught panic, and a failure always says why.
fn check_status(status: c_int) {
    assert_ne!(
        status,
        FLX_INTERNAL,
        "a panic inside the library: {:?}",
        String::from_utf8_lossy(&last_error())
    );
    if status != 0 {
        assert!(
            !last_error().is_empty(),
            "status {status} without a message"
        );
    }
}

struct Bytes<'a>(&'a [u8]);
impl Bytes<'_> {
    fn u8(&mut self) -> u8 {
        let (b, rest) = self.0.split_first().map_or((0, &[][..]), |(b, r)| (*b, r));
        self.0 = rest;
        b
    }
    fn u32(&mut self) -> u32 {
        u32::from_le_bytes([self.u8(), self.u8(), self.u8(), self.u8()])
    }
    /// Up to the next NUL (or the end): any bytes, as C would pass them.
    fn cstring(&mut self) -> CString {
        let end = self.0.iter().position(|&b| b == 0).unwrap_or(self.0.len());
        let s = CString::new(&self.0[..end]).expect("no NUL inside");
        self.0 = self.0.get(end + 1..).unwrap_or(&[]);
        s
    }
}

/// Checks one input (see the module docs for what must hold).
pub fn check(data: &[u8]) {
    crate::planted(data);
    let mut input = Bytes(data);
    // SAFETY (every call below): the arguments follow the header's contract: handles from
    // their _new functions, NUL-terminated strings, each freed once.
    unsafe {
        let o = flx_options_new();
        for _ in 0..8 {
            let status = match input.u8() % 7 {
                0 => flx_options_set_format(o, input.u32() as c_int),
                1 => flx_options_set_quality(o, input.u32()),
                2 => flx_options_set_max_size(o, input.u32(), input.u32()),
                3 => flx_options_set_session_id(o, input.cstring().as_ptr()),
                4 => flx_options_set_watermark(
                    o,
                    input.cstring().as_ptr(),
                    input.u32(),
                    input.u32(),
                    input.u32() as c_int,
                ),
                5 => flx_options_set_ai(o, input.u8() & 1 == 1, input.u8() & 2 == 2),
                _ => break,
            };
            check_status(status);
            assert!(read(flx_status_str(status)).is_some());
        }
        flx_options_free(o);
        let uploaded = usize::from(input.u8() % 8);
        let Ok(json) = std::str::from_utf8(input.0) else {
            return;
        };
        let Ok(batch) = fluximage::fuzzing::compress_answer(json, uploaded, "webp") else {
            return;
        };
        let b = fluximage::ffi::fuzz_batch_new(batch);
        let len = flx_batch_len(b);
        assert_eq!(len, uploaded);
        assert_eq!(read(flx_batch_json(b)).as_deref(), Some(json.as_bytes()));
        let _ = read(flx_batch_session_id(b));
        for (k, &byte) in data.iter().take(16).enumerate() {
            let i = if k % 2 == 0 {
                usize::from(byte) % (len + 2)
            } else {
                usize::MAX - usize::from(byte)
            };
            let field = c_int::from(byte as i8) + if k % 3 == 0 { 100 } else { 0 };
            // A failed item's status is not a failed call (flx_last_error is cleared), so
            // only an index outside the batch must come with a message.
            let status = flx_batch_status(b, i);
            assert_ne!(status, FLX_INTERNAL);
            if i < len {
                assert_ne!(status, FLX_INVALID_ARGUMENT, "item {i} of {len}");
            } else {
                assert_eq!(status, FLX_INVALID_ARGUMENT, "item {i} of {len}");
                check_status(status);
            }
            let _ = read(flx_batch_error(b, i));
            let _ = read(flx_batch_str(b, i, field));
            let _ = flx_batch_num(b, i, field);
            let _ = last_error();
        }
        flx_batch_free(b);
    }
}
