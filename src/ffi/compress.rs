//! The compress calls: paths, in-memory buffers, a mix of both, and one file to one file.

use super::batch::flx_batch;
use super::client::flx_client;
use super::options::{flx_options, options_or_default};
use super::{
    arg_opt_str, arg_path, arg_ref, arg_slice, check_out, ffi_entry, flx_status, into_raw,
    write_out,
};
use crate::{Error, Input};
use std::ffi::c_char;

/// One input of flx_compress_inputs(): either `path` (a file, streamed from disk) or `data` +
/// `len` (bytes in memory, copied) with `name` (the file name to upload under, e.g.
/// "photo.jpg"; required with `data`, ignored with `path`). Set the unused members to NULL/0.
#[repr(C)]
pub struct flx_input {
    /// A file path (any bytes but NUL), or NULL when `data` is used.
    pub path: *const c_char,
    /// Image bytes, or NULL when `path` is used.
    pub data: *const u8,
    /// Number of bytes at `data`.
    pub len: usize,
    /// File name for `data`, UTF-8.
    pub name: *const c_char,
}

/// More inputs than this in one call is surely a wrong `n`.
const MAX_INPUTS: usize = 1_000_000;

/// An in-memory input, copied only once its length passed the local check: a huge buffer is
/// refused at once instead of being copied first. A refused buffer becomes an empty
/// placeholder input plus its error.
fn buffer_input(
    name: &str,
    data: *const u8,
    len: usize,
    what: &str,
) -> Result<(Input, Option<Error>), Error> {
    if data.is_null() {
        return Err(Error::invalid(format!(
            "{what} is NULL but its length is {len}"
        )));
    }
    if let Err(e) = crate::input::check_len(name, len as u64) {
        return Ok((Input::bytes(name, Vec::new()), Some(e)));
    }
    Ok((Input::bytes(name, arg_slice(data, len, what)?), None))
}

fn read_input(i: usize, input: &flx_input) -> Result<(Input, Option<Error>), Error> {
    match (input.path.is_null(), input.data.is_null()) {
        (false, true) => Ok((
            Input::Path(arg_path(input.path, &format!("inputs[{i}].path"))?),
            None,
        )),
        (true, false) => {
            let name = arg_opt_str(input.name, &format!("inputs[{i}].name"))?.ok_or_else(|| {
                Error::invalid(format!(
                    "inputs[{i}].name is NULL; in-memory inputs need a file name"
                ))
            })?;
            buffer_input(name, input.data, input.len, &format!("inputs[{i}].data"))
        }
        (true, true) => Err(Error::invalid(format!(
            "inputs[{i}] has neither path nor data"
        ))),
        (false, false) => Err(Error::invalid(format!(
            "inputs[{i}] has both path and data; set one"
        ))),
    }
}

/// Runs a compress and hands the batch out: FLX_OK, FLX_PARTIAL when some images failed, or
/// the first failure when all failed (the batch is handed out in every case).
fn run(
    client: *mut flx_client,
    inputs: Vec<(Input, Option<Error>)>,
    options: *const flx_options,
    batch_out: *mut *mut flx_batch,
) -> Result<flx_status, Error> {
    write_out(batch_out, std::ptr::null_mut());
    let client = &arg_ref(client as *const flx_client, "client")?.client;
    let options = options_or_default(options);
    let (inputs, refused): (Vec<Input>, Vec<Option<Error>>) = inputs.into_iter().unzip();
    let save = options
        .output
        .as_ref()
        .map(|(dir, policy)| (dir.as_path(), *policy));
    let batch = client.compress_refusing(
        &inputs,
        &refused,
        &options.options,
        save,
        &mut options.observer(),
    )?;
    let status = batch.status();
    write_out(batch_out, into_raw(flx_batch::new(batch)));
    status.map(|_| flx_status::FLX_OK)
}

/// Compresses the files at `paths[0..n]` (n ≥ 1) with `options` (NULL: defaults).
///
/// Each file is checked first (readable, not empty, at most 20 MB); a file that fails its check
/// fails only its own item, and nothing is spent on it. The rest are uploaded in requests of at
/// most 20 files, streamed from disk, several requests at a time (flx_client_set_concurrency).
///
/// `*batch_out` is set to NULL first, then receives a batch whenever the inputs were checked,
/// with one item per path, in the same order, each with its own status (flx_batch_status()):
/// free it with flx_batch_free() whatever the status. The status says how the call went:
/// FLX_OK when every image succeeded, FLX_PARTIAL when some failed, and when every image
/// failed, the first failure (e.g. FLX_UNAUTHORIZED, or FLX_IO for a missing file) with
/// flx_last_error() set. `*batch_out` stays NULL only when the call stopped before checking
/// the inputs: invalid arguments or options, or a cancel. `paths` is borrowed for the call
/// only. A NULL entry in `paths` is FLX_INVALID_ARGUMENT (check `n`).
#[no_mangle]
pub extern "C" fn flx_compress(
    client: *mut flx_client,
    paths: *const *const c_char,
    n: usize,
    options: *const flx_options,
    batch_out: *mut *mut flx_batch,
) -> flx_status {
    ffi_entry!({
        check_out(batch_out, "batch_out")?;
        if n > MAX_INPUTS {
            return Err(Error::invalid(format!(
                "n = {n} inputs is more than the {MAX_INPUTS} allowed; is n right?"
            )));
        }
        let inputs = arg_slice(paths, n, "paths")?
            .iter()
            .enumerate()
            .map(|(i, &p)| arg_path(p, &format!("paths[{i}]")).map(|p| (Input::Path(p), None)))
            .collect::<Result<Vec<_>, _>>()?;
        run(client, inputs, options, batch_out)
    })
}

/// Compresses `inputs[0..n]`, each a path or a buffer (see flx_input); otherwise exactly like
/// flx_compress(), `*batch_out` included. Buffers are copied during the call and may be freed
/// when it returns.
#[no_mangle]
pub extern "C" fn flx_compress_inputs(
    client: *mut flx_client,
    inputs: *const flx_input,
    n: usize,
    options: *const flx_options,
    batch_out: *mut *mut flx_batch,
) -> flx_status {
    ffi_entry!({
        check_out(batch_out, "batch_out")?;
        if n > MAX_INPUTS {
            return Err(Error::invalid(format!(
                "n = {n} inputs is more than the {MAX_INPUTS} allowed; is n right?"
            )));
        }
        let inputs = arg_slice(inputs, n, "inputs")?
            .iter()
            .enumerate()
            .map(|(i, input)| read_input(i, input))
            .collect::<Result<Vec<_>, _>>()?;
        run(client, inputs, options, batch_out)
    })
}

/// Compresses one image held in memory: `len` bytes at `data` (copied during the call),
/// uploaded as `name` (e.g. "photo.jpg"; the result is named after it). Returns and writes
/// `*batch_out` exactly like flx_compress() with one input: FLX_PARTIAL means this image
/// failed on the server (the batch says why). An empty buffer is FLX_INVALID_ARGUMENT.
#[no_mangle]
pub extern "C" fn flx_compress_buffer(
    client: *mut flx_client,
    data: *const u8,
    len: usize,
    name: *const c_char,
    options: *const flx_options,
    batch_out: *mut *mut flx_batch,
) -> flx_status {
    ffi_entry!({
        check_out(batch_out, "batch_out")?;
        let name = arg_opt_str(name, "name")?
            .ok_or_else(|| Error::invalid("name is NULL; give the file name to upload under"))?;
        if len == 0 {
            return Err(Error::invalid("the buffer is empty (len is 0)"));
        }
        run(
            client,
            vec![buffer_input(name, data, len, "data")?],
            options,
            batch_out,
        )
    })
}

/// Compresses the file `input_path` and writes the result to `output_path`: the output folder
/// is checked before anything is uploaded; the result is downloaded to a temporary file in that
/// folder and renamed into place, so `output_path` is either the whole result or untouched.
/// `output_path` is named by the caller and is replaced when it exists; missing folders are
/// created. It must not be the input file (FLX_INVALID_ARGUMENT): the original is never
/// overwritten. The image's own failure is returned as the status (e.g. FLX_SERVER: cannot
/// decode image).
#[no_mangle]
pub extern "C" fn flx_compress_file(
    client: *mut flx_client,
    input_path: *const c_char,
    output_path: *const c_char,
    options: *const flx_options,
) -> flx_status {
    ffi_entry!({
        let client = &arg_ref(client as *const flx_client, "client")?.client;
        let input = arg_path(input_path, "input_path")?;
        let output = arg_path(output_path, "output_path")?;
        let options = options_or_default(options);
        client.compress_file(&input, &output, &options.options, &mut options.observer())?;
        Ok(flx_status::FLX_OK)
    })
}
