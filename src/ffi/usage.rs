//! `flx_usage`: the plan and credits of the key.

use super::client::flx_client;
use super::options::{flx_options, options_or_default};
use super::{arg_ref, check_out, cstring, ffi_entry, flx_status, free_box, into_raw, write_out};
use crate::{Error, Usage};
use std::ffi::{c_char, c_int, CString};

/// Plan and credits as reported by the server. Read-only; strings are owned by it.
pub struct flx_usage {
    usage: Usage,
    plan: Option<CString>,
    json: CString,
}

/// What flx_usage_num() reads.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum flx_usage_field {
    /// Compressions used this billing period.
    FLX_USAGE_COMPRESSIONS_USED = 0,
    /// Compressions allowed per period (99999 stands for "unlimited", really 50,000).
    FLX_USAGE_COMPRESSIONS_LIMIT = 1,
    /// AI credits used this month.
    FLX_USAGE_AI_CREDITS_USED = 2,
    /// AI credits included per month.
    FLX_USAGE_AI_CREDITS_MONTHLY = 3,
    /// Purchased AI credits (never expire; used after the monthly ones).
    FLX_USAGE_AI_TOPUP_CREDITS = 4,
    /// AI credits left: monthly - used + top-up.
    FLX_USAGE_AI_CREDITS_REMAINING = 5,
    /// 1 when a compression would be accepted now, else 0 (the authoritative check).
    FLX_USAGE_CAN_COMPRESS = 6,
    /// 1 when AI features may be used now, else 0.
    FLX_USAGE_CAN_USE_AI = 7,
}

impl flx_usage_field {
    /// Every field: functions take `int`, so an unknown value is checked here, never UB.
    const ALL: [flx_usage_field; 8] = [
        flx_usage_field::FLX_USAGE_COMPRESSIONS_USED,
        flx_usage_field::FLX_USAGE_COMPRESSIONS_LIMIT,
        flx_usage_field::FLX_USAGE_AI_CREDITS_USED,
        flx_usage_field::FLX_USAGE_AI_CREDITS_MONTHLY,
        flx_usage_field::FLX_USAGE_AI_TOPUP_CREDITS,
        flx_usage_field::FLX_USAGE_AI_CREDITS_REMAINING,
        flx_usage_field::FLX_USAGE_CAN_COMPRESS,
        flx_usage_field::FLX_USAGE_CAN_USE_AI,
    ];

    fn from_int(v: c_int) -> Option<flx_usage_field> {
        flx_usage_field::ALL.into_iter().find(|f| *f as c_int == v)
    }
}

/// Asks the server for the key's plan and credits (GET /api/usage). On FLX_OK `*usage_out`
/// receives a handle to free with flx_usage_free(); on failure it is not written. Only the
/// progress callback and cancel flag of `options` are used (NULL: none).
#[no_mangle]
pub extern "C" fn flx_usage_get(
    client: *mut flx_client,
    options: *const flx_options,
    usage_out: *mut *mut flx_usage,
) -> flx_status {
    ffi_entry!({
        check_out(usage_out, "usage_out")?;
        let client = &arg_ref(client as *const flx_client, "client")?.client;
        let options = options_or_default(options);
        let usage = client.usage(&mut options.observer())?;
        let handle = flx_usage {
            plan: usage.plan.as_deref().map(cstring),
            json: cstring(&usage.raw_json),
            usage,
        };
        write_out(usage_out, into_raw(handle));
        Ok(flx_status::FLX_OK)
    })
}

/// The plan: "free", "starter", "pro", "agency" (or whatever the server says); NULL when the
/// answer did not say. Owned by `usage`.
#[no_mangle]
pub extern "C" fn flx_usage_plan(usage: *const flx_usage) -> *const c_char {
    ffi_entry!({
        Ok(arg_ref(usage, "usage")?
            .plan
            .as_ref()
            .map_or(std::ptr::null(), |s| s.as_ptr()))
    })
}

/// A number from the usage answer (a flx_usage_field), or -1 when the server did not say.
#[no_mangle]
pub extern "C" fn flx_usage_num(usage: *const flx_usage, field: c_int) -> i64 {
    ffi_entry!({
        let u = &arg_ref(usage, "usage")?.usage;
        let n = |v: Option<u64>| v.map_or(-1, |n| i64::try_from(n).unwrap_or(i64::MAX));
        let b = |v: Option<bool>| v.map_or(-1, i64::from);
        use flx_usage_field::*;
        let f = flx_usage_field::from_int(field).ok_or_else(|| {
            Error::invalid(format!("field {field} is not a flx_usage_field (0..7)"))
        })?;
        Ok(match f {
            FLX_USAGE_COMPRESSIONS_USED => n(u.compressions_used),
            FLX_USAGE_COMPRESSIONS_LIMIT => n(u.compressions_limit),
            FLX_USAGE_AI_CREDITS_USED => n(u.ai_credits_used),
            FLX_USAGE_AI_CREDITS_MONTHLY => n(u.ai_credits_monthly),
            FLX_USAGE_AI_TOPUP_CREDITS => n(u.ai_topup_credits),
            FLX_USAGE_AI_CREDITS_REMAINING => n(u.ai_credits_remaining),
            FLX_USAGE_CAN_COMPRESS => b(u.can_compress),
            FLX_USAGE_CAN_USE_AI => b(u.can_use_ai),
        })
    })
}

/// The usage answer exactly as received (JSON, with the server's own field names). Owned by
/// `usage`.
#[no_mangle]
pub extern "C" fn flx_usage_json(usage: *const flx_usage) -> *const c_char {
    ffi_entry!({ Ok(arg_ref(usage, "usage")?.json.as_ptr()) })
}

/// Frees a usage handle. NULL is ignored.
#[no_mangle]
pub extern "C" fn flx_usage_free(usage: *mut flx_usage) {
    ffi_entry!({
        free_box(usage);
        Ok(())
    })
}
