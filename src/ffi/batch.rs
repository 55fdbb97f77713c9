//! `flx_batch`: the outcome of a compress call, its accessors, and fetching or saving results.

use super::client::flx_client;
use super::options::{flx_options, options_or_default};
use super::{arg_path, arg_ref, check_out, cstring, ffi_entry, flx_status, free_box, write_out};
use crate::{Batch, Error, ExistsPolicy, ImageInfo, Item};
use std::ffi::{c_char, c_int, CString};
use std::os::unix::ffi::OsStrExt;

/// The outcome of a compress call: one item per input, in input order. Read-only after
/// creation, so it may be read from several threads at once. Strings it returns are owned by
/// it and valid until flx_batch_free().
pub struct flx_batch {
    pub(crate) batch: Batch,
    strings: Vec<[Option<CString>; STRING_FIELDS]>,
    errors: Vec<Option<CString>>,
    json: CString,
    session_id: Option<CString>,
}

/// What flx_batch_str() and flx_batch_num() read from an item. Values below 100 are strings
/// (flx_batch_str), from 100 numbers (flx_batch_num).
///
/// FLX_FIELD_WIDTH and FLX_FIELD_HEIGHT come from the server's answer or, when it did not say,
/// from the image's header once the result was saved or fetched.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum flx_field {
    /// The output file name, e.g. "cat.webp".
    FLX_FIELD_NAME = 0,
    /// The name the image was uploaded under.
    FLX_FIELD_ORIGINAL_NAME = 1,
    /// The output format ("webp", "avif", "jpg", "png").
    FLX_FIELD_FORMAT = 2,
    /// The signed download URL. It is a capability: anyone holding it can download the result
    /// until it expires, so log it no more than a password.
    FLX_FIELD_URL = 3,
    /// When the URL expires, RFC 3339 UTC ("2026-11-23T06:30:00Z").
    FLX_FIELD_EXPIRES_AT = 4,
    /// AI-written alt text (when asked for).
    FLX_FIELD_ALT_TEXT = 5,
    /// AI-written SEO file name (when asked for).
    FLX_FIELD_SEO_NAME = 6,
    /// The input as given: its path, or the name of an in-memory buffer.
    FLX_FIELD_INPUT = 7,
    /// The file the result was saved to by a compress with flx_options_set_output(); NULL
    /// when it was not saved (see flx_batch_status() for why).
    FLX_FIELD_PATH = 8,
    /// Size of the upload in bytes.
    FLX_FIELD_ORIGINAL_SIZE = 100,
    /// Size of the result in bytes.
    FLX_FIELD_SIZE = 101,
    /// Width of the result in pixels.
    FLX_FIELD_WIDTH = 102,
    /// Height of the result in pixels.
    FLX_FIELD_HEIGHT = 103,
    /// When the URL expires, in seconds since the Unix epoch.
    FLX_FIELD_EXPIRES_UNIX = 104,
    /// For a failed item: the HTTP status of the request that failed as a whole (0 when no
    /// server answered, or when the server answered 200 but could not process this image).
    FLX_FIELD_HTTP_STATUS = 105,
}

impl flx_field {
    /// Every field: functions take `int`, so an unknown value is checked here, never UB.
    const ALL: [flx_field; 15] = [
        flx_field::FLX_FIELD_NAME,
        flx_field::FLX_FIELD_ORIGINAL_NAME,
        flx_field::FLX_FIELD_FORMAT,
        flx_field::FLX_FIELD_URL,
        flx_field::FLX_FIELD_EXPIRES_AT,
        flx_field::FLX_FIELD_ALT_TEXT,
        flx_field::FLX_FIELD_SEO_NAME,
        flx_field::FLX_FIELD_INPUT,
        flx_field::FLX_FIELD_PATH,
        flx_field::FLX_FIELD_ORIGINAL_SIZE,
        flx_field::FLX_FIELD_SIZE,
        flx_field::FLX_FIELD_WIDTH,
        flx_field::FLX_FIELD_HEIGHT,
        flx_field::FLX_FIELD_EXPIRES_UNIX,
        flx_field::FLX_FIELD_HTTP_STATUS,
    ];

    fn from_int(v: c_int) -> Option<flx_field> {
        flx_field::ALL.into_iter().find(|f| *f as c_int == v)
    }
}

/// The string fields, in the order of their numbers (the index into `flx_batch::strings`).
const STRING_FIELDS: usize = 9;

fn item_strings(item: &Item) -> [Option<CString>; STRING_FIELDS] {
    use flx_field::*;
    let info: Option<&ImageInfo> = item.outcome.as_ref().ok();
    let saved = item.saved.as_ref().and_then(|s| s.as_ref().ok());
    let value = |f: flx_field| -> Option<CString> {
        let text = match f {
            // A path is bytes on Unix, not always UTF-8: handed back as it is.
            FLX_FIELD_PATH => {
                return saved.and_then(|p| CString::new(p.as_os_str().as_bytes()).ok())
            }
            FLX_FIELD_INPUT => Some(item.input.as_str()),
            FLX_FIELD_NAME => info.map(|i| i.name.as_str()),
            FLX_FIELD_ORIGINAL_NAME => info.and_then(|i| i.original_name.as_deref()),
            FLX_FIELD_FORMAT => info.and_then(|i| i.format.as_deref()),
            FLX_FIELD_URL => info.map(|i| i.url.as_str()),
            FLX_FIELD_EXPIRES_AT => info.and_then(|i| i.expires_at.as_deref()),
            FLX_FIELD_ALT_TEXT => info.and_then(|i| i.alt_text.as_deref()),
            FLX_FIELD_SEO_NAME => info.and_then(|i| i.seo_name.as_deref()),
            FLX_FIELD_ORIGINAL_SIZE
            | FLX_FIELD_SIZE
            | FLX_FIELD_WIDTH
            | FLX_FIELD_HEIGHT
            | FLX_FIELD_EXPIRES_UNIX
            | FLX_FIELD_HTTP_STATUS => None,
        };
        text.map(cstring)
    };
    std::array::from_fn(|slot| value(flx_field::ALL[slot]))
}

/// The flx_exists policy of flx_batch_save(): what happens when a file is already at the
/// output path. Under every policy, results of one batch never replace each other and an
/// item's own input file is never replaced.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub enum flx_exists {
    /// Fail with FLX_EXISTS and write nothing (the safe default).
    FLX_EXISTS_ERROR = 0,
    /// Write to the first free name beside it: "cat-2.webp", "cat-3.webp", ...
    FLX_EXISTS_RENAME = 1,
    /// Replace the existing file.
    FLX_EXISTS_OVERWRITE = 2,
}

impl flx_exists {
    /// The policy numbered `v`: the function takes `int`, so an unknown value is checked, not UB.
    pub(crate) fn policy(v: c_int) -> Result<ExistsPolicy, Error> {
        use flx_exists::*;
        let e = [FLX_EXISTS_ERROR, FLX_EXISTS_RENAME, FLX_EXISTS_OVERWRITE]
            .into_iter()
            .find(|e| *e as c_int == v)
            .ok_or_else(|| {
                Error::invalid(format!("policy must be a flx_exists value 0..2 (got {v})"))
            })?;
        Ok(match e {
            FLX_EXISTS_ERROR => ExistsPolicy::Error,
            FLX_EXISTS_RENAME => ExistsPolicy::Rename,
            FLX_EXISTS_OVERWRITE => ExistsPolicy::Overwrite,
        })
    }
}

impl flx_batch {
    pub(crate) fn new(batch: Batch) -> flx_batch {
        flx_batch {
            strings: batch.items.iter().map(item_strings).collect(),
            errors: batch
                .items
                .iter()
                .map(|i| i.error().map(|e| cstring(e.message())))
                .collect(),
            json: cstring(&batch.raw_json),
            session_id: batch.session_id.as_deref().map(cstring),
            batch,
        }
    }

    fn item(&self, i: usize) -> Result<&Item, Error> {
        self.batch.items.get(i).ok_or_else(|| {
            Error::invalid(format!(
                "item index {i} is out of range (the batch has {} items)",
                self.batch.items.len()
            ))
        })
    }
}

/// The number of items (one per input). 0 for NULL.
#[no_mangle]
pub extern "C" fn flx_batch_len(batch: *const flx_batch) -> usize {
    ffi_entry!({ Ok(arg_ref(batch, "batch")?.batch.items.len()) })
}

/// The status of item `i`: FLX_OK when its image was optimized (and, with
/// flx_options_set_output(), saved), otherwise why it failed (e.g. FLX_SERVER "cannot decode
/// image", FLX_TOO_LARGE, FLX_IO for an unreadable file, FLX_EXISTS for a save). Reading a
/// failed item is not a failed call: flx_last_error() is cleared. FLX_INVALID_ARGUMENT (with
/// flx_last_error() set) when `i` is out of range.
#[no_mangle]
pub extern "C" fn flx_batch_status(batch: *const flx_batch, i: usize) -> flx_status {
    ffi_entry!({
        Ok(match arg_ref(batch, "batch")?.item(i)?.error() {
            None => flx_status::FLX_OK,
            Some(e) => flx_status::of(e.kind()),
        })
    })
}

/// Why item `i` failed, or NULL when it succeeded. Owned by the batch.
#[no_mangle]
pub extern "C" fn flx_batch_error(batch: *const flx_batch, i: usize) -> *const c_char {
    ffi_entry!({
        let b = arg_ref(batch, "batch")?;
        b.item(i)?;
        Ok(b.errors[i]
            .as_ref()
            .map_or(std::ptr::null(), |s| s.as_ptr()))
    })
}

/// A string field (a flx_field below 100) of item `i`, or NULL when the server did not say
/// (or the item failed; FLX_FIELD_INPUT is always set). Owned by the batch. Asking for a
/// numeric field here is FLX_INVALID_ARGUMENT.
#[no_mangle]
pub extern "C" fn flx_batch_str(batch: *const flx_batch, i: usize, field: c_int) -> *const c_char {
    ffi_entry!({
        let b = arg_ref(batch, "batch")?;
        b.item(i)?;
        let slot = flx_field::from_int(field)
            .map(|f| f as usize)
            .filter(|&f| f < STRING_FIELDS)
            .ok_or_else(|| {
                Error::invalid(format!("field {field} is not a string flx_field (0..8)"))
            })?;
        Ok(b.strings[i][slot]
            .as_ref()
            .map_or(std::ptr::null(), |s| s.as_ptr()))
    })
}

/// A numeric field (a flx_field from 100) of item `i`, or -1 when unknown (or the item failed;
/// FLX_FIELD_HTTP_STATUS is 0 when no server answered). Asking for a string field here is
/// FLX_INVALID_ARGUMENT (and -1).
#[no_mangle]
pub extern "C" fn flx_batch_num(batch: *const flx_batch, i: usize, field: c_int) -> i64 {
    ffi_entry!({
        let item = arg_ref(batch, "batch")?.item(i)?;
        let info = item.outcome.as_ref().ok();
        let known = |v: Option<u64>| v.map_or(-1, |n| i64::try_from(n).unwrap_or(i64::MAX));
        let not_numeric = || {
            Error::invalid(format!(
                "field {field} is not a numeric flx_field (100..105)"
            ))
        };
        use flx_field::*;
        Ok(match flx_field::from_int(field).ok_or_else(not_numeric)? {
            FLX_FIELD_ORIGINAL_SIZE => known(info.and_then(|i| i.original_size)),
            FLX_FIELD_SIZE => known(info.and_then(|i| i.size)),
            FLX_FIELD_WIDTH => known(item.dimensions().map(|d| u64::from(d.0))),
            FLX_FIELD_HEIGHT => known(item.dimensions().map(|d| u64::from(d.1))),
            FLX_FIELD_EXPIRES_UNIX => info.and_then(|i| i.expires_unix).unwrap_or(-1),
            FLX_FIELD_HTTP_STATUS => item
                .outcome
                .as_ref()
                .err()
                .and_then(|e| e.http_status())
                .map_or(0, i64::from),
            FLX_FIELD_NAME
            | FLX_FIELD_ORIGINAL_NAME
            | FLX_FIELD_FORMAT
            | FLX_FIELD_URL
            | FLX_FIELD_EXPIRES_AT
            | FLX_FIELD_ALT_TEXT
            | FLX_FIELD_SEO_NAME
            | FLX_FIELD_INPUT
            | FLX_FIELD_PATH => return Err(not_numeric()),
        })
    })
}

/// The server's answer as received (JSON); with several requests, a JSON array of their
/// answers. Nothing the server sent is lost. Owned by the batch; never NULL for a valid batch.
#[no_mangle]
pub extern "C" fn flx_batch_json(batch: *const flx_batch) -> *const c_char {
    ffi_entry!({ Ok(arg_ref(batch, "batch")?.json.as_ptr()) })
}

/// The session id the server grouped the results under, or NULL when it gave none.
#[no_mangle]
pub extern "C" fn flx_batch_session_id(batch: *const flx_batch) -> *const c_char {
    ffi_entry!({
        Ok(arg_ref(batch, "batch")?
            .session_id
            .as_ref()
            .map_or(std::ptr::null(), |s| s.as_ptr()))
    })
}

/// Downloads the result of item `i` to `path_or_dir` and, when `path_out` is not NULL, gives
/// the path written in `*path_out` (free it with flx_string_free()).
///
/// `path_or_dir` is a file path, or a folder (an existing directory, or a path ending in "/")
/// where the file is named after the result (FLX_FIELD_NAME). Missing folders are created.
/// When a file is already at the output path, `policy` (a flx_exists value) decides:
/// FLX_EXISTS_ERROR fails with FLX_EXISTS before anything is downloaded, FLX_EXISTS_RENAME
/// writes "name-2.ext" (or the next free number), FLX_EXISTS_OVERWRITE replaces it. Under
/// every policy the results of one batch never replace each other (FLX_EXISTS, or renamed),
/// and the item's own input file is never replaced (FLX_INVALID_ARGUMENT).
///
/// The signed URL is fetched without the API key. The file is written through a temporary
/// file in the same folder and renamed into place: a failed or interrupted download leaves
/// nothing behind. Only the progress callback and cancel flag of `options` are used (NULL:
/// none). FLX_EXPIRED when the URL expired: compress again. A failed item returns its own
/// status. `path_or_dir` and `options` are borrowed for the call only.
#[no_mangle]
pub extern "C" fn flx_batch_save(
    client: *mut flx_client,
    batch: *const flx_batch,
    i: usize,
    path_or_dir: *const c_char,
    policy: c_int,
    options: *const flx_options,
    path_out: *mut *mut c_char,
) -> flx_status {
    ffi_entry!({
        let client = &arg_ref(client as *const flx_client, "client")?.client;
        let item = arg_ref(batch, "batch")?.item(i)?;
        let path = arg_path(path_or_dir, "path_or_dir")?;
        let policy = flx_exists::policy(policy)?;
        let options = options_or_default(options);
        let written = client.save(item, &path, policy, &mut options.observer())?;
        if !path_out.is_null() {
            let c = CString::new(written.as_os_str().as_bytes())
                .map_err(|_| Error::invalid("the written path contains a NUL byte"))?;
            write_out(path_out, c.into_raw());
        }
        Ok(flx_status::FLX_OK)
    })
}

/// Frees a string the library handed to the caller (the `path_out` of flx_batch_save()).
/// NULL is ignored; freeing twice is undefined.
#[no_mangle]
pub extern "C" fn flx_string_free(s: *mut c_char) {
    ffi_entry!({
        super::free_cstring(s);
        Ok(())
    })
}

/// Downloads the result of item `i` into memory: on FLX_OK, `*data_out` and `*len_out`
/// receive a buffer that the caller frees with flx_bytes_free(data, len); on failure they are
/// not written. Only the progress callback and cancel flag of `options` are used (NULL: none).
#[no_mangle]
pub extern "C" fn flx_batch_fetch(
    client: *mut flx_client,
    batch: *const flx_batch,
    i: usize,
    options: *const flx_options,
    data_out: *mut *mut u8,
    len_out: *mut usize,
) -> flx_status {
    ffi_entry!({
        check_out(data_out, "data_out")?;
        check_out(len_out, "len_out")?;
        let client = &arg_ref(client as *const flx_client, "client")?.client;
        let item = arg_ref(batch, "batch")?.item(i)?;
        let image = item.outcome.as_ref().map_err(Clone::clone)?;
        let options = options_or_default(options);
        let bytes = client
            .fetch(image, &mut options.observer())?
            .into_boxed_slice();
        item.learn_dimensions(&bytes[..bytes.len().min(crate::imagesize::HEAD_BYTES)]);
        let len = bytes.len();
        write_out(len_out, len);
        write_out(data_out, Box::into_raw(bytes) as *mut u8);
        Ok(flx_status::FLX_OK)
    })
}

/// Frees a buffer from flx_batch_fetch(), with the length it came with. NULL is ignored.
#[no_mangle]
pub extern "C" fn flx_bytes_free(data: *mut u8, len: usize) {
    ffi_entry!({
        if !data.is_null() {
            let slice = std::ptr::slice_from_raw_parts_mut(data, len);
            free_box(slice);
        }
        Ok(())
    })
}

/// Frees a batch and its strings. NULL is ignored.
#[no_mangle]
pub extern "C" fn flx_batch_free(batch: *mut flx_batch) {
    ffi_entry!({
        free_box(batch);
        Ok(())
    })
}
