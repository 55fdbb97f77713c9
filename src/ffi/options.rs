//! `flx_options` (what a compress asks for, plus progress and cancel) and `flx_cancel`.

use super::batch::flx_exists;
use super::{arg_mut, arg_opt_str, arg_path, arg_ref, ffi_entry, flx_status, free_box, into_raw};
use crate::{
    CancelToken, CompressOptions, Error, ExistsPolicy, Format, Observer, Position, Watermark,
};
use std::ffi::{c_char, c_int, c_void};
use std::path::PathBuf;

/// Output formats, for flx_options_set_format().
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum flx_format {
    /// WebP (the default).
    FLX_FORMAT_WEBP = 0,
    /// AVIF.
    FLX_FORMAT_AVIF = 1,
    /// JPEG.
    FLX_FORMAT_JPG = 2,
    /// PNG (lossless).
    FLX_FORMAT_PNG = 3,
}

/// Watermark positions, for flx_options_set_watermark(): top/middle/bottom, left/centre/right.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum flx_position {
    /// Top left.
    FLX_POS_TL = 0,
    /// Top centre.
    FLX_POS_TC = 1,
    /// Top right.
    FLX_POS_TR = 2,
    /// Middle left.
    FLX_POS_ML = 3,
    /// Centre.
    FLX_POS_MC = 4,
    /// Middle right.
    FLX_POS_MR = 5,
    /// Bottom left.
    FLX_POS_BL = 6,
    /// Bottom centre.
    FLX_POS_BC = 7,
    /// Bottom right (the default).
    FLX_POS_BR = 8,
}

impl flx_format {
    /// The format numbered `v`: functions take `int`, so an unknown value is checked, not UB.
    fn core(v: c_int) -> Option<Format> {
        use flx_format::*;
        let f = [
            FLX_FORMAT_WEBP,
            FLX_FORMAT_AVIF,
            FLX_FORMAT_JPG,
            FLX_FORMAT_PNG,
        ]
        .into_iter()
        .find(|f| *f as c_int == v)?;
        Some(match f {
            FLX_FORMAT_WEBP => Format::Webp,
            FLX_FORMAT_AVIF => Format::Avif,
            FLX_FORMAT_JPG => Format::Jpg,
            FLX_FORMAT_PNG => Format::Png,
        })
    }
}

impl flx_position {
    /// The position numbered `v`, checked as above.
    fn core(v: c_int) -> Option<Position> {
        use flx_position::*;
        let p = [
            FLX_POS_TL, FLX_POS_TC, FLX_POS_TR, FLX_POS_ML, FLX_POS_MC, FLX_POS_MR, FLX_POS_BL,
            FLX_POS_BC, FLX_POS_BR,
        ]
        .into_iter()
        .find(|p| *p as c_int == v)?;
        Some(match p {
            FLX_POS_TL => Position::TopLeft,
            FLX_POS_TC => Position::TopCenter,
            FLX_POS_TR => Position::TopRight,
            FLX_POS_ML => Position::MiddleLeft,
            FLX_POS_MC => Position::MiddleCenter,
            FLX_POS_MR => Position::MiddleRight,
            FLX_POS_BL => Position::BottomLeft,
            FLX_POS_BC => Position::BottomCenter,
            FLX_POS_BR => Position::BottomRight,
        })
    }
}

/// A progress callback, called on the thread that made the call: once at the start, then
/// whenever the figures change, at most every 50 ms: `done` bytes moved of `total` (0 when
/// unknown), uploaded for a compress, downloaded for a fetch or save. Return 0 to go on,
/// non-zero to stop: the call then ends promptly with FLX_CANCELLED. While nothing moves (the
/// server is still working) it is not called: stop such a call with a flx_cancel. It must not
/// call flx_ functions on the same client.
pub type flx_progress_fn =
    Option<unsafe extern "C" fn(user: *mut c_void, done: u64, total: u64) -> c_int>;

/// A tick callback, called on the thread that made the call about every 50 ms while it runs,
/// whether or not anything moved: for a host that keeps its event loop or a busy indicator
/// alive during a call (an editor's Cancel button). Return 0 to go on, non-zero to stop: the
/// call then ends promptly with FLX_CANCELLED, even while the server is still working. It
/// must not call flx_ functions on the same client.
pub type flx_tick_fn = Option<unsafe extern "C" fn(user: *mut c_void) -> c_int>;

/// Options for compress calls. Defaults: WebP, quality 82, no resize, no watermark, no AI, no
/// progress or tick callback. One options object may be reused for many calls, but not changed while
/// a call is using it.
pub struct flx_options {
    pub(crate) options: CompressOptions,
    pub(crate) progress: flx_progress_fn,
    pub(crate) user: *mut c_void,
    pub(crate) tick: flx_tick_fn,
    pub(crate) tick_user: *mut c_void,
    pub(crate) cancel: Option<CancelToken>,
    /// Where compress calls save results as they come (flx_options_set_output()).
    pub(crate) output: Option<(PathBuf, ExistsPolicy)>,
}

/// A cancel flag that can be triggered from any thread (a signal handler excepted) to stop the
/// calls whose options carry it. Safe to share between threads.
pub struct flx_cancel {
    pub(crate) token: CancelToken,
}

impl flx_options {
    fn new() -> flx_options {
        flx_options {
            options: CompressOptions::default(),
            progress: None,
            user: std::ptr::null_mut(),
            tick: None,
            tick_user: std::ptr::null_mut(),
            cancel: None,
            output: None,
        }
    }

    /// The observer for one call: the callback is called on this (the calling) thread only.
    pub(crate) fn observer(&self) -> Observer<'_> {
        let mut obs = Observer::none();
        if let Some(f) = self.progress {
            let user = self.user;
            obs = obs.with_progress(move |p| {
                // SAFETY: the caller registered `f` with `user` for exactly this use.
                unsafe { f(user, p.done, p.total) == 0 }
            });
        }
        if let Some(f) = self.tick {
            let user = self.tick_user;
            obs = obs.with_tick(move || {
                // SAFETY: the caller registered `f` with `user` for exactly this use.
                unsafe { f(user) == 0 }
            });
        }
        if let Some(t) = &self.cancel {
            obs = obs.with_cancel(t.clone());
        }
        obs
    }
}

/// Default options when the caller passes NULL.
pub(crate) fn options_or_default<'a>(p: *const flx_options) -> &'a flx_options {
    static DEFAULT: once_cell::sync::Lazy<SyncOptions> =
        once_cell::sync::Lazy::new(|| SyncOptions(flx_options::new()));
    // SAFETY: non-NULL options come from flx_options_new and outlive the call, per the header.
    unsafe { p.as_ref() }.unwrap_or(&DEFAULT.0)
}

struct SyncOptions(flx_options);
// SAFETY: the default options hold no callback and a NULL user pointer, and are never mutated.
unsafe impl Sync for SyncOptions {}
// SAFETY: as above.
unsafe impl Send for SyncOptions {}

/// Creates options with the defaults (WebP, quality 82). Free with flx_options_free().
/// Returns NULL only if memory runs out.
#[no_mangle]
pub extern "C" fn flx_options_new() -> *mut flx_options {
    ffi_entry!({ Ok(into_raw(flx_options::new())) })
}

/// Frees options. NULL is ignored.
#[no_mangle]
pub extern "C" fn flx_options_free(options: *mut flx_options) {
    ffi_entry!({
        free_box(options);
        Ok(())
    })
}

/// Sets the output format, a flx_format value; anything else is FLX_INVALID_ARGUMENT.
#[no_mangle]
pub extern "C" fn flx_options_set_format(options: *mut flx_options, format: c_int) -> flx_status {
    ffi_entry!({
        let o = arg_mut(options, "options")?;
        o.options.format = flx_format::core(format).ok_or_else(|| {
            Error::invalid(format!(
                "format must be a flx_format value 0..3 (got {format})"
            ))
        })?;
        Ok(flx_status::FLX_OK)
    })
}

/// Sets the lossy quality, 40..100 (default 82); ignored for PNG, which is lossless.
#[no_mangle]
pub extern "C" fn flx_options_set_quality(options: *mut flx_options, quality: u32) -> flx_status {
    ffi_entry!({
        let o = arg_mut(options, "options")?;
        let mut next = o.options.clone();
        next.quality = quality;
        next.validate()?;
        o.options = next;
        Ok(flx_status::FLX_OK)
    })
}

/// Scales images down proportionally to fit `max_width` × `max_height` pixels (0: no limit on
/// that side); never enlarges. At most 65535 each.
#[no_mangle]
pub extern "C" fn flx_options_set_max_size(
    options: *mut flx_options,
    max_width: u32,
    max_height: u32,
) -> flx_status {
    ffi_entry!({
        let o = arg_mut(options, "options")?;
        let mut next = o.options.clone();
        next.max_width = (max_width > 0).then_some(max_width);
        next.max_height = (max_height > 0).then_some(max_height);
        next.validate()?;
        o.options = next;
        Ok(flx_status::FLX_OK)
    })
}

/// Groups the results under a session id of the caller's choosing; NULL lets the server pick.
#[no_mangle]
pub extern "C" fn flx_options_set_session_id(
    options: *mut flx_options,
    session_id: *const c_char,
) -> flx_status {
    ffi_entry!({
        let o = arg_mut(options, "options")?;
        let mut next = o.options.clone();
        next.session_id = arg_opt_str(session_id, "session_id")?.map(str::to_string);
        next.validate()?;
        o.options = next;
        Ok(flx_status::FLX_OK)
    })
}

/// Makes flx_compress(), flx_compress_inputs() and flx_compress_buffer() save each result
/// into the folder `dir` as soon as its request answers, while the next requests upload: on a
/// slow link the call then takes about the time of the upload alone, where saving each result
/// afterwards with flx_batch_save() costs a round trip per image. `dir` is copied; NULL turns
/// it off.
///
/// Before anything is uploaded, the call creates `dir` when missing and proves it writable
/// (else it fails and spends nothing), and checks each input's result name (its stem and the
/// format's extension, "cat.jpg" -> "cat.webp"; not with SEO renaming, where the server picks
/// names) under `policy`, a flx_exists value, exactly as flx_batch_save() would: an input
/// whose result could not be saved (a file already there under FLX_EXISTS_ERROR, its own input
/// file, or the same name as another input's result unless renaming) fails on its own with
/// FLX_EXISTS or FLX_INVALID_ARGUMENT and is not sent, so it costs no credit.
///
/// In the batch, FLX_FIELD_PATH gives the file written; an item whose result could not be
/// saved has that failure as its flx_batch_status() and flx_batch_error() (its result can
/// still be saved elsewhere with flx_batch_save()). Progress counts the downloads too, once
/// the server has announced their sizes. flx_compress_file() ignores this setting.
#[no_mangle]
pub extern "C" fn flx_options_set_output(
    options: *mut flx_options,
    dir: *const c_char,
    policy: c_int,
) -> flx_status {
    ffi_entry!({
        let o = arg_mut(options, "options")?;
        let policy = flx_exists::policy(policy)?;
        o.output = if dir.is_null() {
            None
        } else {
            let dir = arg_path(dir, "dir")?;
            if dir.as_os_str().is_empty() {
                return Err(Error::invalid(
                    "dir is empty; name a folder (\".\" for the current one)",
                ));
            }
            Some((dir, policy))
        };
        Ok(flx_status::FLX_OK)
    })
}

/// Draws the PNG at `png_path` on every image (paid plans; FLX_FORBIDDEN on free): `scale` is
/// its width in percent of the image's, 5..50; `opacity` 0 (transparent) .. 100 (opaque);
/// `position` a flx_position value. NULL `png_path` removes the watermark. The file is checked
/// (readable, not empty, at most 20 MB) when a compress call starts.
#[no_mangle]
pub extern "C" fn flx_options_set_watermark(
    options: *mut flx_options,
    png_path: *const c_char,
    scale: u32,
    opacity: u32,
    position: c_int,
) -> flx_status {
    ffi_entry!({
        let o = arg_mut(options, "options")?;
        if png_path.is_null() {
            o.options.watermark = None;
            return Ok(flx_status::FLX_OK);
        }
        let position = flx_position::core(position).ok_or_else(|| {
            Error::invalid(format!(
                "position must be a flx_position value 0..8 (got {position})"
            ))
        })?;
        let watermark = Watermark {
            path: arg_path(png_path, "png_path")?,
            scale,
            opacity,
            position,
        };
        for (name, v, lo, hi) in [
            ("watermark scale", scale, 5, 50),
            ("watermark opacity", opacity, 0, 100),
        ] {
            if !(lo..=hi).contains(&v) {
                return Err(Error::invalid(format!(
                    "{name} must be between {lo} and {hi} (got {v})"
                )));
            }
        }
        o.options.watermark = Some(watermark);
        Ok(flx_status::FLX_OK)
    })
}

/// Asks for AI-written alt text and/or an SEO file name per image (paid plans; 1 AI credit per
/// image for either or both; FLX_FORBIDDEN on free, FLX_QUOTA_EXCEEDED without credits).
#[no_mangle]
pub extern "C" fn flx_options_set_ai(
    options: *mut flx_options,
    alt_text: bool,
    seo_rename: bool,
) -> flx_status {
    ffi_entry!({
        let o = arg_mut(options, "options")?;
        o.options.alt_text = alt_text;
        o.options.seo_rename = seo_rename;
        Ok(flx_status::FLX_OK)
    })
}

/// Sets a progress callback (see flx_progress_fn) with a pointer handed back to it unchanged;
/// NULL `callback` removes it. Calls with a callback run their network work on a worker thread
/// while the calling thread runs the callback.
#[no_mangle]
pub extern "C" fn flx_options_set_progress(
    options: *mut flx_options,
    callback: flx_progress_fn,
    user: *mut c_void,
) -> flx_status {
    ffi_entry!({
        let o = arg_mut(options, "options")?;
        o.progress = callback;
        o.user = user;
        Ok(flx_status::FLX_OK)
    })
}

/// Sets a tick callback (see flx_tick_fn) with a pointer handed back to it unchanged; NULL
/// `tick` removes it. Like a progress callback, it makes calls run their network work on a
/// worker thread while the calling thread runs the callbacks.
#[no_mangle]
pub extern "C" fn flx_options_set_tick(
    options: *mut flx_options,
    tick: flx_tick_fn,
    user: *mut c_void,
) -> flx_status {
    ffi_entry!({
        let o = arg_mut(options, "options")?;
        o.tick = tick;
        o.tick_user = user;
        Ok(flx_status::FLX_OK)
    })
}

/// Attaches a cancel flag: triggering it ends the calls using these options with
/// FLX_CANCELLED within about 100 ms, and closes their connections so that the server stops
/// the work (and bills nothing more). A call without a progress or tick callback runs on the
/// calling thread, and the trigger closes its connections itself; one still opening a
/// connection ends when the connect does (at most the connect timeout, 10 s by default). The
/// options keep their own reference, so `cancel` may be freed before them. NULL detaches it.
#[no_mangle]
pub extern "C" fn flx_options_set_cancel(
    options: *mut flx_options,
    cancel: *const flx_cancel,
) -> flx_status {
    ffi_entry!({
        let o = arg_mut(options, "options")?;
        o.cancel = if cancel.is_null() {
            None
        } else {
            Some(arg_ref(cancel, "cancel")?.token.clone())
        };
        Ok(flx_status::FLX_OK)
    })
}

/// Creates an untriggered cancel flag. Free with flx_cancel_free().
#[no_mangle]
pub extern "C" fn flx_cancel_new() -> *mut flx_cancel {
    ffi_entry!({
        Ok(into_raw(flx_cancel {
            token: CancelToken::new(),
        }))
    })
}

/// Triggers the flag, from any thread; calls watching it end with FLX_CANCELLED, their
/// connections closed. Irreversible: make a new flag for the next call.
#[no_mangle]
pub extern "C" fn flx_cancel_trigger(cancel: *const flx_cancel) -> flx_status {
    ffi_entry!({
        arg_ref(cancel, "cancel")?.token.cancel();
        Ok(flx_status::FLX_OK)
    })
}

/// Frees a cancel flag. NULL is ignored. Options it was attached to keep working.
#[no_mangle]
pub extern "C" fn flx_cancel_free(cancel: *mut flx_cancel) {
    ffi_entry!({
        free_box(cancel);
        Ok(())
    })
}
