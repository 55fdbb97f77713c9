//! Routing per origin, reading bodies, and the usage and download handlers.

use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;

use bytes::Bytes;
use hmac::Mac;
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use hyper::header::{self, HeaderMap, HeaderValue};
use hyper::http::request::Parts;
use hyper::{Method, Request, Response, StatusCode};

use super::compress::{compress, Charge};
use super::control::control;
use super::respond::{json_error, response, too_large, unauthorized};
use super::{lock, Abort, Resp, State, MAX_BODY};
use crate::body::RespBody;
use crate::faults::{apply_fault, FaultMode, ReqKind};
use crate::util::{pct_decode, unhex, unix_now_f64};

pub(crate) enum BodyError {
    TooLarge,
    Io,
}

pub(crate) async fn read_body(headers: &HeaderMap, body: Incoming) -> Result<Bytes, BodyError> {
    if let Some(len) = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
    {
        if len > MAX_BODY as u64 {
            return Err(BodyError::TooLarge);
        }
    }
    match Limited::new(body, MAX_BODY).collect().await {
        Ok(c) => Ok(c.to_bytes()),
        Err(e) if e.is::<http_body_util::LengthLimitError>() => Err(BodyError::TooLarge),
        Err(_) => Err(BodyError::Io),
    }
}

// ----- routing -----------------------------------------------------------------------------

pub(crate) async fn api(state: Arc<State>, req: Request<Incoming>) -> Result<Resp, Abort> {
    let kind = match req.uri().path() {
        "/api/compress" if req.method() == Method::POST => ReqKind::Compress,
        "/api/usage" if req.method() == Method::GET || req.method() == Method::HEAD => {
            ReqKind::Usage
        }
        "/api/compress" | "/api/usage" => {
            let (parts, body) = req.into_parts();
            let _ = read_body(&parts.headers, body).await;
            return Ok(json_error(
                StatusCode::METHOD_NOT_ALLOWED,
                "method not allowed",
            ));
        }
        p if p.starts_with("/__control/") => return Ok(control(&state, req).await),
        _ => {
            let (parts, body) = req.into_parts();
            let _ = read_body(&parts.headers, body).await;
            return Ok(json_error(StatusCode::NOT_FOUND, "not found"));
        }
    };
    match kind {
        ReqKind::Compress => &state.stats.req_compress,
        _ => &state.stats.req_usage,
    }
    .fetch_add(1, Relaxed);
    if let Some(ua) = req
        .headers()
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
    {
        let mut last = lock(&state.last_user_agent);
        if last.as_deref() != Some(ua) {
            *last = Some(ua.to_string());
        }
    }
    handle_with_faults(state, kind, req).await
}

pub(crate) async fn download_origin(
    state: Arc<State>,
    req: Request<Incoming>,
) -> Result<Resp, Abort> {
    state.stats.req_download.fetch_add(1, Relaxed);
    if req.headers().contains_key(header::AUTHORIZATION) {
        state.stats.auth_download.fetch_add(1, Relaxed);
    }
    if !req.uri().path().starts_with("/d/") {
        return Ok(json_error(StatusCode::NOT_FOUND, "not found"));
    }
    if req.method() != Method::GET && req.method() != Method::HEAD {
        return Ok(json_error(
            StatusCode::METHOD_NOT_ALLOWED,
            "method not allowed",
        ));
    }
    handle_with_faults(state, ReqKind::Download, req).await
}

pub(crate) async fn foreign(state: Arc<State>, req: Request<Incoming>) -> Result<Resp, Abort> {
    state.stats.req_foreign.fetch_add(1, Relaxed);
    if req.headers().contains_key(header::AUTHORIZATION) {
        state.stats.auth_foreign.fetch_add(1, Relaxed);
    }
    let (parts, body) = req.into_parts();
    let _ = read_body(&parts.headers, body).await;
    Ok(response(
        StatusCode::OK,
        "text/plain",
        Bytes::from_static(b"foreign"),
    ))
}

pub(crate) async fn handle_with_faults(
    state: Arc<State>,
    kind: ReqKind,
    req: Request<Incoming>,
) -> Result<Resp, Abort> {
    let fault = state.take_fault(kind);
    if let Some(f) = fault {
        state.stats.faults_applied.fetch_add(1, Relaxed);
        if f.mode == FaultMode::ResetEarly {
            return Err(Abort);
        }
    }
    let (parts, incoming) = req.into_parts();
    let body = match read_body(&parts.headers, incoming).await {
        Ok(b) => b,
        Err(BodyError::TooLarge) => return Ok(too_large("request body too large")),
        Err(BodyError::Io) => return Err(Abort),
    };
    match fault {
        None => Ok(normal(&state, kind, &parts, body, true).await),
        Some(f) => apply_fault(state, kind, f, parts, body).await,
    }
}

pub(crate) async fn normal(
    state: &Arc<State>,
    kind: ReqKind,
    parts: &Parts,
    body: Bytes,
    charge: bool,
) -> Resp {
    match kind {
        ReqKind::Compress => {
            let charge = if charge { Charge::Now } else { Charge::Never };
            compress(state, parts, body, charge).await.0
        }
        ReqKind::Usage => usage(state, parts),
        ReqKind::Download => download(state, parts),
    }
}

// ----- usage -------------------------------------------------------------------------------

pub(crate) fn usage(state: &State, parts: &Parts) -> Resp {
    let (key, _) = match state.authorize(&parts.headers) {
        Ok(k) => k,
        Err(d) => return d.response(),
    };
    let body = match lock(&state.accounts).map.get(&key) {
        Some(a) => serde_json::to_vec(&a.usage()).unwrap_or_default(),
        None => return unauthorized(),
    };
    response(StatusCode::OK, "application/json", body)
}

// ----- downloads ---------------------------------------------------------------------------

pub(crate) fn download(state: &State, parts: &Parts) -> Resp {
    let path = parts.uri.path();
    let Some((id, enc_name)) = path["/d/".len()..].split_once('/') else {
        return json_error(StatusCode::NOT_FOUND, "not found");
    };
    let mut exp = None;
    let mut sig = None;
    for pair in parts.uri.query().unwrap_or("").split('&') {
        match pair.split_once('=') {
            Some(("exp", v)) => exp = v.parse::<u64>().ok(),
            Some(("sig", v)) => sig = unhex(v),
            _ => {}
        }
    }
    let (Some(exp), Some(sig)) = (exp, sig) else {
        return json_error(StatusCode::FORBIDDEN, "missing or malformed signature");
    };
    let name = match pct_decode(enc_name).map(String::from_utf8) {
        Some(Ok(n)) => n,
        _ => return json_error(StatusCode::FORBIDDEN, "invalid signature"),
    };
    if state.sign(id, &name, exp).verify_slice(&sig).is_err() {
        return json_error(StatusCode::FORBIDDEN, "invalid signature");
    }
    if unix_now_f64() >= exp as f64 {
        return json_error(StatusCode::GONE, "result expired, compress again");
    }
    let stored = lock(&state.results).map.get(id).cloned();
    let Some(stored) = stored else {
        return json_error(StatusCode::NOT_FOUND, "result not found");
    };
    let mut r = Response::new(RespBody::full(stored.bytes.clone()));
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(stored.content_type),
    );
    h.insert(
        header::CONTENT_LENGTH,
        HeaderValue::from(stored.bytes.len() as u64),
    );
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("private, max-age=60"),
    );
    r
}
