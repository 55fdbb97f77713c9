//! The credit check made before any upload, and `flx usage`.

use crate::args::Global;
use crate::exit::{self, Failure};
use crate::output::{thousands, Reporter};
use fluximage::{CancelToken, Client, ErrorKind, Observer, Usage};
use serde_json::json;

/// The API shows this limit for plans without a practical one (Pro, Agency).
const UNLIMITED_SENTINEL: u64 = 99_999;

/// Compressions left, or `None` when unknown or unlimited.
pub fn compressions_left(u: &Usage) -> Option<u64> {
    match (u.compressions_limit, u.compressions_used) {
        (Some(limit), Some(used)) if limit < UNLIMITED_SENTINEL => Some(limit.saturating_sub(used)),
        _ => None,
    }
}

/// Refuses (exit 3) a run of `n` images that the credits cannot cover; nothing is sent then.
/// A server without a usage endpoint only gets a warning: the server still has the last word.
pub fn check(
    client: &Client,
    n: u64,
    ai: bool,
    cancel: &CancelToken,
    rep: &Reporter,
) -> Result<(), Failure> {
    let usage = match client.usage(&mut Observer::none().with_cancel(cancel.clone())) {
        Ok(u) => u,
        Err(e)
            if matches!(
                e.kind(),
                ErrorKind::Protocol | ErrorKind::BadRequest | ErrorKind::Server
            ) =>
        {
            rep.warn(&format!("cannot check the credits first ({e}); going on"));
            return Ok(());
        }
        Err(e) => return Err(Failure::from_error(&e)),
    };
    let plan = usage.plan.clone().unwrap_or_else(|| "unknown plan".into());
    if usage.can_compress == Some(false) {
        return Err(Failure::credits(format!(
            "no compression credits left ({plan}); {} image(s) need {}; nothing was uploaded",
            thousands(n),
            thousands(n)
        )));
    }
    if let Some(left) = compressions_left(&usage) {
        if left < n {
            return Err(Failure::credits(format!(
                "{} image(s) need {} compressions, you have {} left ({plan}); nothing was uploaded",
                thousands(n),
                thousands(n),
                thousands(left)
            )));
        }
    }
    if ai {
        if let Some(left) = usage.ai_credits_remaining {
            if left < n {
                return Err(Failure::credits(format!(
                    "{} image(s) need {} AI credits, you have {} left ({plan}); nothing was uploaded",
                    thousands(n),
                    thousands(n),
                    thousands(left)
                )));
            }
        }
    }
    Ok(())
}

/// `flx usage`: plan and credits, for people or as JSON.
pub fn usage(global: &Global, cancel: &CancelToken) -> Result<u8, Failure> {
    let client = crate::config::client(global)?;
    let u = client
        .usage(&mut Observer::none().with_cancel(cancel.clone()))
        .map_err(|e| Failure::from_error(&e))?;
    if global.json || global.jsonl {
        let raw: serde_json::Value =
            serde_json::from_str(&u.raw_json).unwrap_or(serde_json::Value::Null);
        let doc = json!({
            "v": crate::output::SCHEMA, "type": "usage", "plan": u.plan,
            "compressions_used": u.compressions_used, "compressions_limit": u.compressions_limit,
            "compressions_left": compressions_left(&u),
            "ai_credits_used": u.ai_credits_used, "ai_credits_monthly": u.ai_credits_monthly,
            "ai_topup_credits": u.ai_topup_credits, "ai_credits_remaining": u.ai_credits_remaining,
            "can_compress": u.can_compress, "can_use_ai": u.can_use_ai, "raw": raw,
        });
        println!(
            "{}",
            if global.json {
                serde_json::to_string_pretty(&doc).unwrap_or_default()
            } else {
                doc.to_string()
            }
        );
        return Ok(exit::OK);
    }
    let n = |v: Option<u64>| v.map(thousands).unwrap_or_else(|| "?".into());
    println!("plan:          {}", u.plan.as_deref().unwrap_or("unknown"));
    let limit = match u.compressions_limit {
        Some(l) if l >= UNLIMITED_SENTINEL => "unlimited".to_string(),
        other => n(other),
    };
    let left = compressions_left(&u)
        .map(|l| format!(", {} left", thousands(l)))
        .unwrap_or_default();
    println!(
        "compressions:  {} used of {limit}{left}",
        n(u.compressions_used)
    );
    println!(
        "AI credits:    {} used of {} this month, {} top-up, {} left",
        n(u.ai_credits_used),
        n(u.ai_credits_monthly),
        n(u.ai_topup_credits),
        n(u.ai_credits_remaining)
    );
    let yes_no = |b: Option<bool>| match b {
        Some(true) => "yes",
        Some(false) => "no",
        None => "unknown",
    };
    println!("can compress:  {}", yes_no(u.can_compress));
    println!("can use AI:    {}", yes_no(u.can_use_ai));
    if !global.quiet {
        println!("key:           {}", client.masked_key());
    }
    Ok(exit::OK)
}
