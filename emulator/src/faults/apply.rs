//! Applying a queued fault to one request: error answers, lost answers, slow or broken bodies,
//! redirects.

use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use hyper::header::{self, HeaderValue};
use hyper::http::request::Parts;
use hyper::{Response, StatusCode};
use tokio::sync::mpsc;

use super::{Applied, FaultMode, ReqKind};
use crate::accounts::Plan;
use crate::body::RespBody;
use crate::server::peer::Peer;
use crate::server::respond::{json_error, response, with_header, HTML_500, HTML_PAGE};
use crate::server::routes::normal;
use crate::server::{compress, Abort, Charge, Resp, State};

/// Size of the huge-json fault's document.
const HUGE_JSON_LEN: u64 = 200 * 1024 * 1024;

pub(crate) async fn apply_fault(
    state: Arc<State>,
    kind: ReqKind,
    f: Applied,
    parts: Parts,
    body: Bytes,
) -> Result<Resp, Abort> {
    let status_fault = |status: StatusCode, msg: &str, default_ra: Option<u64>| {
        let r = json_error(status, msg);
        match f.retry_after.or(default_ra) {
            Some(s) => with_header(r, header::RETRY_AFTER, &s.to_string()),
            None => r,
        }
    };
    let path_and_query = parts
        .uri
        .path_and_query()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| "/".into());
    Ok(match f.mode {
        FaultMode::TooManyRequests => {
            status_fault(StatusCode::TOO_MANY_REQUESTS, "rate limited", Some(1))
        }
        FaultMode::ServiceUnavailable => {
            status_fault(StatusCode::SERVICE_UNAVAILABLE, "service unavailable", None)
        }
        FaultMode::BadGateway => status_fault(StatusCode::BAD_GATEWAY, "bad gateway", None),
        FaultMode::GatewayTimeout => {
            status_fault(StatusCode::GATEWAY_TIMEOUT, "gateway timeout", None)
        }
        FaultMode::InternalHtml => response(
            StatusCode::INTERNAL_SERVER_ERROR,
            "text/html; charset=utf-8",
            HTML_500,
        ),
        FaultMode::WrongContentType => {
            response(StatusCode::OK, "text/html; charset=utf-8", HTML_PAGE)
        }
        FaultMode::Reset => {
            // The request is processed (and charged), then the answer is lost.
            let _ = normal(&state, kind, &parts, body, true).await;
            return Err(Abort);
        }
        FaultMode::ResetEarly => return Err(Abort),
        FaultMode::Stall => return stall(state, kind, f.delay_ms, parts, body).await,
        FaultMode::Trickle => {
            let resp = normal(&state, kind, &parts, body, false).await;
            trickle(resp, f.delay_ms)
        }
        FaultMode::TruncatedJson => {
            let full = match kind {
                ReqKind::Usage => {
                    serde_json::to_vec(&crate::accounts::Account::new(Plan::Pro).usage())
                        .unwrap_or_default()
                }
                _ => SAMPLE_COMPRESS_JSON.as_bytes().to_vec(),
            };
            let cut = full.len() / 2;
            response(
                StatusCode::OK,
                "application/json",
                Bytes::from(full).slice(..cut),
            )
        }
        FaultMode::HugeJson => huge_json(),
        FaultMode::RedirectForeign => {
            redirect(&format!("{}{}", state.foreign_base, path_and_query))
        }
        FaultMode::RedirectHttp => {
            redirect(&format!("{}{}", state.foreign_http_base, path_and_query))
        }
        FaultMode::Random => normal(&state, kind, &parts, body, true).await,
    })
}

/// Counts a stalled request as abandoned unless it is disarmed: also when hyper drops the
/// handler because it saw the client hang up first.
struct Abandoned<'a> {
    state: &'a State,
    armed: bool,
}

impl Drop for Abandoned<'_> {
    fn drop(&mut self) {
        if self.armed {
            self.state.stats.abandoned.fetch_add(1, Relaxed);
        }
    }
}

/// Holds the answer `delay_ms`, then answers only a client that is still connected; a compress
/// is charged at that moment, so a client that gave up (a cancelled call) pays nothing.
async fn stall(
    state: Arc<State>,
    kind: ReqKind,
    delay_ms: u64,
    parts: Parts,
    body: Bytes,
) -> Result<Resp, Abort> {
    let peer = parts.extensions.get::<Arc<Peer>>().cloned();
    let gone = || peer.as_ref().is_some_and(|p| p.gone());
    let mut guard = Abandoned {
        state: &state,
        armed: true,
    };
    // Look at the socket every 50 ms while holding the answer.
    let deadline = tokio::time::Instant::now() + Duration::from_millis(delay_ms);
    for _ in 0..=delay_ms / STALL_POLL_MS {
        let now = tokio::time::Instant::now();
        if now >= deadline {
            break;
        }
        if gone() {
            return Err(Abort);
        }
        tokio::time::sleep((deadline - now).min(Duration::from_millis(STALL_POLL_MS))).await;
    }
    let (resp, bill) = match kind {
        ReqKind::Compress => compress(&state, &parts, body, Charge::Later).await,
        _ => (normal(&state, kind, &parts, body, false).await, None),
    };
    if gone() {
        return Err(Abort);
    }
    guard.armed = false;
    if let Some(bill) = bill {
        state.charge(&bill);
    }
    Ok(resp)
}

/// How often a stalled request checks that its client is still connected.
const STALL_POLL_MS: u64 = 50;

const SAMPLE_COMPRESS_JSON: &str = r#"{"sessionId":"s_0123456789abcdef","results":[{"originalName":"cat.jpg","name":"cat.webp","format":"webp","originalSize":482113,"size":91022,"width":1600,"height":1067,"url":"http://127.0.0.1:1/d/0/cat.webp?exp=0&sig=00","expiresAt":"2026-11-23T06:30:00Z","altText":null,"seoName":null}]}"#;

fn redirect(location: &str) -> Resp {
    with_header(
        json_error(StatusCode::TEMPORARY_REDIRECT, "moved"),
        header::LOCATION,
        location,
    )
}

/// Re-sends a buffered answer a few bytes at a time, taking longer than `delay_ms` in all.
fn trickle(mut resp: Resp, delay_ms: u64) -> Resp {
    let Some(bytes) = resp.body_mut().take_bytes() else {
        return resp;
    };
    let len = bytes.len() as u64;
    resp.headers_mut()
        .insert(header::CONTENT_LENGTH, HeaderValue::from(len));
    let chunks = len.min(delay_ms / 100 + 1).max(1);
    let interval = Duration::from_millis((delay_ms / chunks + 1).max(100));
    let chunk_size = len.div_ceil(chunks).max(1) as usize;
    let (tx, rx) = mpsc::channel(1);
    tokio::spawn(async move {
        let mut off = 0;
        while off < bytes.len() {
            tokio::time::sleep(interval).await;
            let end = (off + chunk_size).min(bytes.len());
            if tx.send(bytes.slice(off..end)).await.is_err() {
                return;
            }
            off = end;
        }
    });
    *resp.body_mut() = RespBody::Stream(rx);
    resp
}

/// A valid 200 MiB JSON document, generated in 64 KiB chunks.
fn huge_json() -> Resp {
    static PAD: [u8; 64 * 1024] = [b'a'; 64 * 1024];
    let prefix: &'static [u8] = br#"{"sessionId":"s_huge","padding":""#;
    let suffix: &'static [u8] = br#"","results":[]}"#;
    let (tx, rx) = mpsc::channel(4);
    tokio::spawn(async move {
        if tx.send(Bytes::from_static(prefix)).await.is_err() {
            return;
        }
        let mut left = HUGE_JSON_LEN - prefix.len() as u64 - suffix.len() as u64;
        while left > 0 {
            let n = left.min(PAD.len() as u64) as usize;
            if tx.send(Bytes::from_static(&PAD[..n])).await.is_err() {
                return;
            }
            left -= n as u64;
        }
        let _ = tx.send(Bytes::from_static(suffix)).await;
    });
    let mut r = Response::new(RespBody::Stream(rx));
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    r.headers_mut()
        .insert(header::CONTENT_LENGTH, HeaderValue::from(HUGE_JSON_LEN));
    r
}
