//! The HTTP side: listeners, connections, routing, handlers and fault application.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use bytes::Bytes;
use hmac::{Hmac, Mac};
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use hyper::header::{self, HeaderMap, HeaderValue};
use hyper::http::request::Parts;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde::Serialize;
use serde_json::{json, Value};
use sha2::Sha256;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_rustls::TlsAcceptor;

use crate::accounts::{well_formed, Accounts, Plan};
use crate::body::RespBody;
use crate::faults::{Applied, Fault, FaultMode, FaultQueue, ReqKind};
use crate::imaging::{self, OutFormat, Params, Position, Watermark};
use crate::multipart;
use crate::util::{
    hex, pct_decode, pct_encode, random_u64, rfc3339, unhex, unix_now, unix_now_f64,
};
use crate::{Encode, Shape};

/// One file may be at most 20 MiB.
pub const MAX_FILE: usize = 20 * 1024 * 1024;
/// At most 20 files per request.
pub const MAX_FILES: usize = 20;
/// Whole request body bound: 20 files of 20 MiB plus 1 MiB of fields and framing.
pub const MAX_BODY: usize = MAX_FILES * MAX_FILE + 1024 * 1024;
/// Size of the huge-json fault's document.
const HUGE_JSON_LEN: u64 = 200 * 1024 * 1024;

pub(crate) type Resp = Response<RespBody>;

/// Returned by a handler to close the connection without answering.
#[derive(Debug)]
pub(crate) struct Abort;

impl std::fmt::Display for Abort {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("connection closed on purpose")
    }
}

impl std::error::Error for Abort {}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Role {
    Api,
    Download,
    Foreign,
}

pub(crate) struct Settings {
    pub ttl: Duration,
    pub rate: Option<u32>,
    pub control: bool,
    pub shape: Shape,
    pub encode: Encode,
    pub agency_only: bool,
}

#[derive(Default)]
pub(crate) struct Stats {
    req_compress: AtomicU64,
    req_usage: AtomicU64,
    req_download: AtomicU64,
    req_foreign: AtomicU64,
    conn_api: AtomicU64,
    conn_download: AtomicU64,
    conn_foreign: AtomicU64,
    tls_handshakes: AtomicU64,
    auth_download: AtomicU64,
    auth_foreign: AtomicU64,
    faults_applied: AtomicU64,
}

impl Stats {
    fn all(&self) -> [&AtomicU64; 11] {
        [
            &self.req_compress,
            &self.req_usage,
            &self.req_download,
            &self.req_foreign,
            &self.conn_api,
            &self.conn_download,
            &self.conn_foreign,
            &self.tls_handshakes,
            &self.auth_download,
            &self.auth_foreign,
            &self.faults_applied,
        ]
    }
}

struct Stored {
    bytes: Bytes,
    content_type: &'static str,
    /// Unix time (seconds) at which the result expires and is deleted.
    exp: u64,
}

/// At most this many bytes of results are kept; past it the oldest are deleted early (their
/// URLs then answer 404), so that long benchmarks do not grow without bound.
pub const MAX_STORED_BYTES: usize = 1024 * 1024 * 1024;

/// Stored results, with their insertion order (which is also expiry order: the TTL is fixed).
struct ResultStore {
    map: HashMap<String, Arc<Stored>>,
    order: VecDeque<String>,
    bytes: usize,
    cap: usize,
}

impl Default for ResultStore {
    fn default() -> Self {
        ResultStore::with_cap(MAX_STORED_BYTES)
    }
}

impl ResultStore {
    fn with_cap(cap: usize) -> ResultStore {
        ResultStore {
            map: HashMap::new(),
            order: VecDeque::new(),
            bytes: 0,
            cap,
        }
    }

    fn insert(&mut self, id: String, stored: Stored) {
        self.bytes += stored.bytes.len();
        self.order.push_back(id.clone());
        self.map.insert(id, Arc::new(stored));
        while self.bytes > self.cap {
            let Some(old) = self.order.pop_front() else {
                break;
            };
            self.remove(&old);
        }
    }

    fn remove(&mut self, id: &str) {
        if let Some(s) = self.map.remove(id) {
            self.bytes -= s.bytes.len();
        }
    }

    fn expire(&mut self, now: f64) {
        while let Some(front) = self.order.front() {
            match self.map.get(front) {
                Some(s) if (s.exp as f64) > now => break,
                _ => {
                    let id = self.order.pop_front().expect("front exists");
                    self.remove(&id);
                }
            }
        }
    }

    fn clear(&mut self) -> usize {
        let n = self.map.len();
        *self = ResultStore::with_cap(self.cap);
        n
    }
}

pub(crate) struct State {
    pub settings: Settings,
    accounts: Mutex<Accounts>,
    results: Mutex<ResultStore>,
    secret: [u8; 32],
    download_base: String,
    foreign_base: String,
    foreign_http_base: String,
    stats: Stats,
    faults: Mutex<FaultQueue>,
    faults_pending: AtomicBool,
    rate: Mutex<HashMap<String, (u64, u32)>>,
    ids: AtomicU64,
    id_salt: u64,
    /// The User-Agent of the latest API request, so tests can see what clients send.
    last_user_agent: Mutex<Option<String>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl State {
    pub fn new(
        settings: Settings,
        accounts: Accounts,
        download_base: String,
        foreign_base: String,
        foreign_http_base: String,
    ) -> State {
        let mut secret = [0u8; 32];
        crate::util::os_random(&mut secret);
        State {
            settings,
            accounts: Mutex::new(accounts),
            results: Mutex::new(ResultStore::default()),
            secret,
            download_base,
            foreign_base,
            foreign_http_base,
            stats: Stats::default(),
            faults: Mutex::new(FaultQueue::default()),
            faults_pending: AtomicBool::new(false),
            rate: Mutex::new(HashMap::new()),
            ids: AtomicU64::new(1),
            id_salt: random_u64(),
            last_user_agent: Mutex::new(None),
        }
    }

    pub fn inject(&self, fault: Fault) {
        let mut q = lock(&self.faults);
        q.push(fault);
        self.faults_pending.store(!q.is_empty(), Relaxed);
    }

    fn take_fault(&self, kind: ReqKind) -> Option<Applied> {
        if !self.faults_pending.load(Relaxed) {
            return None;
        }
        let mut q = lock(&self.faults);
        let f = q.take(kind);
        self.faults_pending.store(!q.is_empty(), Relaxed);
        f
    }

    /// Clears faults, statistics and rate windows, and restores every account.
    pub fn reset(&self) {
        lock(&self.faults).clear();
        self.faults_pending.store(false, Relaxed);
        for c in self.stats.all() {
            c.store(0, Relaxed);
        }
        lock(&self.accounts).reset();
        lock(&self.rate).clear();
        *lock(&self.last_user_agent) = None;
    }

    /// Deletes every stored result; returns how many there were.
    pub fn delete_results(&self) -> usize {
        lock(&self.results).clear()
    }

    pub fn expire_results(&self) {
        lock(&self.results).expire(unix_now_f64());
    }

    pub fn stats_json(&self) -> Value {
        let s = &self.stats;
        let g = |a: &AtomicU64| a.load(Relaxed);
        let stored = {
            let mut r = lock(&self.results);
            r.expire(unix_now_f64());
            r.map.len()
        };
        let credits: serde_json::Map<String, Value> = lock(&self.accounts)
            .map
            .iter()
            .map(|(k, a)| {
                (
                    k.clone(),
                    json!({"compress": a.charged_compress, "ai": a.charged_ai}),
                )
            })
            .collect();
        json!({
            "requests": {
                "compress": g(&s.req_compress),
                "usage": g(&s.req_usage),
                "download": g(&s.req_download),
                "foreign": g(&s.req_foreign),
            },
            "connections": {
                "api": g(&s.conn_api),
                "download": g(&s.conn_download),
                "foreign": g(&s.conn_foreign),
            },
            "tls_handshakes": g(&s.tls_handshakes),
            "credits": credits,
            "authorization_seen": {
                "download": g(&s.auth_download),
                "foreign": g(&s.auth_foreign),
            },
            "faults_applied": g(&s.faults_applied),
            "results_stored": stored,
            "last_user_agent": lock(&self.last_user_agent).clone(),
        })
    }

    fn sign(&self, id: &str, name: &str, exp: u64) -> Hmac<Sha256> {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.secret).expect("any key length");
        mac.update(id.as_bytes());
        mac.update(b"|");
        mac.update(name.as_bytes());
        mac.update(b"|");
        mac.update(exp.to_string().as_bytes());
        mac
    }

    /// Stores a result; returns its signed URL and expiry (Unix seconds).
    fn store(&self, name: &str, bytes: Bytes, content_type: &'static str) -> (String, u64) {
        let n = self.ids.fetch_add(1, Relaxed);
        let mixed = (n.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ self.id_salt).rotate_left(17);
        let id = format!("{mixed:016x}{n:06x}");
        let exp = (unix_now_f64() + self.settings.ttl.as_secs_f64()).ceil() as u64;
        let sig = hex(&self.sign(&id, name, exp).finalize().into_bytes());
        let url = format!(
            "{}/d/{}/{}?exp={}&sig={}",
            self.download_base,
            id,
            pct_encode(name),
            exp,
            sig
        );
        lock(&self.results).insert(
            id,
            Stored {
                bytes,
                content_type,
                exp,
            },
        );
        (url, exp)
    }

    /// Checks the key: 401, then rate limit (429), then plan access (403).
    fn authorize(&self, headers: &HeaderMap) -> Result<(String, Plan), Denied> {
        let key = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| {
                let v = v.trim();
                let (scheme, rest) = v.split_once(' ')?;
                scheme.eq_ignore_ascii_case("bearer").then(|| rest.trim())
            });
        let key = match key {
            Some(k) if well_formed(k) => k,
            _ => return Err(Denied::Unauthorized),
        };
        let plan = {
            let accounts = lock(&self.accounts);
            if accounts.rolled.contains(key) {
                return Err(Denied::Unauthorized);
            }
            match accounts.map.get(key) {
                Some(a) => a.plan,
                None => return Err(Denied::Unauthorized),
            }
        };
        if let Some(limit) = self.settings.rate {
            let now = unix_now();
            let mut r = lock(&self.rate);
            let over = match r.get_mut(key) {
                Some(e) => {
                    if e.0 != now {
                        *e = (now, 0);
                    }
                    e.1 += 1;
                    e.1 > limit
                }
                None => {
                    r.insert(key.to_string(), (now, 1));
                    1 > limit
                }
            };
            if over {
                return Err(Denied::RateLimited);
            }
        }
        if self.settings.agency_only && plan != Plan::Agency {
            return Err(Denied::AgencyOnly);
        }
        Ok((key.to_string(), plan))
    }
}

/// Why `authorize` refused a request.
enum Denied {
    Unauthorized,
    RateLimited,
    AgencyOnly,
}

impl Denied {
    fn response(self) -> Resp {
        match self {
            Denied::Unauthorized => unauthorized(),
            Denied::RateLimited => with_header(
                json_error(StatusCode::TOO_MANY_REQUESTS, "rate limited"),
                header::RETRY_AFTER,
                "1",
            ),
            Denied::AgencyOnly => {
                json_error(StatusCode::FORBIDDEN, "API access requires the Agency plan")
            }
        }
    }
}

// ----- responses ---------------------------------------------------------------------------

fn response(status: StatusCode, content_type: &'static str, body: impl Into<Bytes>) -> Resp {
    let mut r = Response::new(RespBody::full(body));
    *r.status_mut() = status;
    r.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    r
}

fn json_value(status: StatusCode, v: &Value) -> Resp {
    response(
        status,
        "application/json",
        serde_json::to_vec(v).unwrap_or_default(),
    )
}

fn json_error(status: StatusCode, msg: &str) -> Resp {
    json_value(status, &json!({ "error": msg }))
}

fn unauthorized() -> Resp {
    response(
        StatusCode::UNAUTHORIZED,
        "application/json",
        Bytes::from_static(br#"{ "error": "Unauthorized" }"#),
    )
}

fn with_header(mut r: Resp, name: header::HeaderName, value: &str) -> Resp {
    if let Ok(v) = HeaderValue::from_str(value) {
        r.headers_mut().insert(name, v);
    }
    r
}

fn too_large(msg: &str) -> Resp {
    with_header(
        json_error(StatusCode::PAYLOAD_TOO_LARGE, msg),
        header::CONNECTION,
        "close",
    )
}

const HTML_500: &str = "<!DOCTYPE html>\n<html><head><title>500 Internal Server Error</title></head>\n<body><h1>500 Internal Server Error</h1><hr><p>nginx</p></body></html>\n";
const HTML_PAGE: &str = "<!DOCTYPE html>\n<html><head><title>Fluximage</title></head>\n<body><h1>Welcome to Fluximage</h1><p>Please sign in.</p></body></html>\n";

// ----- connections -------------------------------------------------------------------------

pub(crate) async fn accept_loop(
    listener: TcpListener,
    state: Arc<State>,
    role: Role,
    tls: Option<TlsAcceptor>,
) {
    loop {
        let (tcp, _) = match listener.accept().await {
            Ok(c) => c,
            Err(_) => {
                // Out of file descriptors or similar: back off a little.
                tokio::time::sleep(Duration::from_millis(20)).await;
                continue;
            }
        };
        let _ = tcp.set_nodelay(true);
        match role {
            Role::Api => &state.stats.conn_api,
            Role::Download => &state.stats.conn_download,
            Role::Foreign => &state.stats.conn_foreign,
        }
        .fetch_add(1, Relaxed);
        let state = state.clone();
        let tls = tls.clone();
        tokio::spawn(async move {
            match tls {
                Some(acceptor) => {
                    if role == Role::Foreign && !starts_with_tls(&tcp).await {
                        // The foreign listener also speaks plain HTTP (the redirect-http target).
                        serve(tcp, state, role).await;
                        return;
                    }
                    let accepted =
                        tokio::time::timeout(Duration::from_secs(10), acceptor.accept(tcp)).await;
                    if let Ok(Ok(stream)) = accepted {
                        state.stats.tls_handshakes.fetch_add(1, Relaxed);
                        serve(stream, state, role).await;
                    }
                }
                None => serve(tcp, state, role).await,
            }
        });
    }
}

/// Whether the first byte the client sends is a TLS handshake record.
async fn starts_with_tls(tcp: &TcpStream) -> bool {
    let mut b = [0u8; 1];
    matches!(
        tokio::time::timeout(Duration::from_secs(10), tcp.peek(&mut b)).await,
        Ok(Ok(1)) if b[0] == 0x16
    )
}

async fn serve<S>(io: S, state: Arc<State>, role: Role)
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let svc = service_fn(move |req| {
        let state = state.clone();
        async move {
            match role {
                Role::Api => api(state, req).await,
                Role::Download => download_origin(state, req).await,
                Role::Foreign => foreign(state, req).await,
            }
        }
    });
    let _ = http1::Builder::new()
        .keep_alive(true)
        .serve_connection(TokioIo::new(io), svc)
        .await;
}

enum BodyError {
    TooLarge,
    Io,
}

async fn read_body(headers: &HeaderMap, body: Incoming) -> Result<Bytes, BodyError> {
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

async fn api(state: Arc<State>, req: Request<Incoming>) -> Result<Resp, Abort> {
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
    if let Some(ua) = req.headers().get(header::USER_AGENT).and_then(|v| v.to_str().ok()) {
        let mut last = lock(&state.last_user_agent);
        if last.as_deref() != Some(ua) {
            *last = Some(ua.to_string());
        }
    }
    handle_with_faults(state, kind, req).await
}

async fn download_origin(state: Arc<State>, req: Request<Incoming>) -> Result<Resp, Abort> {
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

async fn foreign(state: Arc<State>, req: Request<Incoming>) -> Result<Resp, Abort> {
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

async fn handle_with_faults(
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

async fn normal(
    state: &Arc<State>,
    kind: ReqKind,
    parts: &Parts,
    body: Bytes,
    charge: bool,
) -> Resp {
    match kind {
        ReqKind::Compress => compress(state, parts, body, charge).await,
        ReqKind::Usage => usage(state, parts),
        ReqKind::Download => download(state, parts),
    }
}

async fn apply_fault(
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
        FaultMode::Stall => {
            tokio::time::sleep(Duration::from_millis(f.delay_ms)).await;
            normal(&state, kind, &parts, body, false).await
        }
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

// ----- control -----------------------------------------------------------------------------

async fn control(state: &Arc<State>, req: Request<Incoming>) -> Resp {
    let (parts, incoming) = req.into_parts();
    let body = read_body(&parts.headers, incoming)
        .await
        .unwrap_or_default();
    if !state.settings.control {
        return json_error(StatusCode::NOT_FOUND, "not found");
    }
    match (&parts.method, parts.uri.path()) {
        (&Method::POST, "/__control/fault") => {
            let v: Value = match serde_json::from_slice(&body) {
                Ok(v) => v,
                Err(e) => return json_error(StatusCode::BAD_REQUEST, &format!("bad JSON: {e}")),
            };
            let list = match v {
                Value::Array(a) => a,
                other => vec![other],
            };
            let mut faults = Vec::with_capacity(list.len());
            for item in &list {
                match Fault::from_json(item) {
                    Ok(f) => faults.push(f),
                    Err(e) => return json_error(StatusCode::BAD_REQUEST, &e),
                }
            }
            let n = faults.len();
            for f in faults {
                state.inject(f);
            }
            json_value(StatusCode::OK, &json!({"ok": true, "queued": n}))
        }
        (&Method::POST, "/__control/reset") => {
            state.reset();
            json_value(StatusCode::OK, &json!({"ok": true}))
        }
        (&Method::POST, "/__control/delete-results") => {
            let n = state.delete_results();
            json_value(StatusCode::OK, &json!({"ok": true, "deleted": n}))
        }
        (&Method::GET, "/__control/stats") => json_value(StatusCode::OK, &state.stats_json()),
        _ => json_error(StatusCode::NOT_FOUND, "not found"),
    }
}

// ----- usage -------------------------------------------------------------------------------

fn usage(state: &State, parts: &Parts) -> Resp {
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

fn download(state: &State, parts: &Parts) -> Resp {
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

// ----- compress ----------------------------------------------------------------------------

struct Job {
    original_name: String,
    data: Bytes,
}

struct CompressForm {
    files: Vec<Job>,
    format: OutFormat,
    quality: u8,
    max_width: Option<u32>,
    max_height: Option<u32>,
    session_id: Option<String>,
    watermark: Option<Bytes>,
    wm_scale: u32,
    wm_opacity: u32,
    wm_position: Position,
    alt_text: bool,
    seo_rename: bool,
}

fn bad(msg: impl Into<String>) -> (StatusCode, String) {
    (StatusCode::BAD_REQUEST, msg.into())
}

fn int_in(field: &str, v: &str, lo: u32, hi: u32) -> Result<u32, (StatusCode, String)> {
    v.trim()
        .parse::<u32>()
        .ok()
        .filter(|n| (lo..=hi).contains(n))
        .ok_or_else(|| bad(format!("{field} must be between {lo} and {hi}")))
}

fn boolean(field: &str, v: &str) -> Result<bool, (StatusCode, String)> {
    match v.trim() {
        "true" => Ok(true),
        "false" => Ok(false),
        _ => Err(bad(format!("{field} must be true or false"))),
    }
}

impl CompressForm {
    fn from_parts(parts: Vec<multipart::Part>) -> Result<CompressForm, (StatusCode, String)> {
        let mut f = CompressForm {
            files: Vec::new(),
            format: OutFormat::Webp,
            quality: 82,
            max_width: None,
            max_height: None,
            session_id: None,
            watermark: None,
            wm_scale: 20,
            wm_opacity: 100,
            wm_position: Position { row: 2, col: 2 },
            alt_text: false,
            seo_rename: false,
        };
        for part in parts {
            let name = part.name.as_str();
            match name {
                "file" => {
                    f.files.push(Job {
                        original_name: part.filename.unwrap_or_default(),
                        data: part.data,
                    });
                    continue;
                }
                "watermarkFile" => {
                    if !part.data.is_empty() {
                        f.watermark = Some(part.data);
                    }
                    continue;
                }
                _ => {}
            }
            let known = [
                "format",
                "quality",
                "maxWidth",
                "maxHeight",
                "sessionId",
                "watermarkScale",
                "watermarkOpacity",
                "watermarkPosition",
                "altText",
                "seoRename",
            ];
            if !known.contains(&name) {
                continue; // unknown fields are ignored, as a tolerant server would
            }
            let Ok(v) = std::str::from_utf8(&part.data) else {
                return Err(bad(format!("{name} must be UTF-8 text")));
            };
            match name {
                "format" => {
                    f.format = OutFormat::parse(v.trim())
                        .ok_or_else(|| bad("format must be one of webp, avif, jpg, png"))?
                }
                "quality" => f.quality = int_in("quality", v, 40, 100)? as u8,
                "maxWidth" | "maxHeight" => {
                    let n = v
                        .trim()
                        .parse::<u32>()
                        .ok()
                        .filter(|n| (1..=100_000).contains(n))
                        .ok_or_else(|| bad(format!("{name} must be a positive integer")))?;
                    if name == "maxWidth" {
                        f.max_width = Some(n);
                    } else {
                        f.max_height = Some(n);
                    }
                }
                "sessionId" => {
                    if v.len() > 200 || v.chars().any(char::is_control) {
                        return Err(bad(
                            "sessionId must be at most 200 characters without control characters",
                        ));
                    }
                    f.session_id = (!v.is_empty()).then(|| v.to_string());
                }
                "watermarkScale" => f.wm_scale = int_in(name, v, 5, 50)?,
                "watermarkOpacity" => f.wm_opacity = int_in(name, v, 0, 100)?,
                "watermarkPosition" => {
                    f.wm_position = Position::parse(v.trim()).ok_or_else(|| {
                        bad("watermarkPosition must be one of TL, TC, TR, ML, MC, MR, BL, BC, BR")
                    })?
                }
                "altText" => f.alt_text = boolean(name, v)?,
                "seoRename" => f.seo_rename = boolean(name, v)?,
                _ => {}
            }
        }
        if f.files.is_empty() {
            return Err(bad("no file"));
        }
        if f.files.len() > MAX_FILES {
            return Err((
                StatusCode::PAYLOAD_TOO_LARGE,
                "at most 20 files per request".into(),
            ));
        }
        for j in &f.files {
            if j.data.len() > MAX_FILE {
                return Err((
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "file is larger than 20 MB".into(),
                ));
            }
        }
        if f.watermark.as_ref().is_some_and(|w| w.len() > MAX_FILE) {
            return Err((
                StatusCode::PAYLOAD_TOO_LARGE,
                "watermarkFile is larger than 20 MB".into(),
            ));
        }
        Ok(f)
    }
}

enum Outcome {
    Ok {
        bytes: Bytes,
        content_type: &'static str,
        width: Option<u32>,
        height: Option<u32>,
        alt_text: Option<String>,
        seo_name: Option<String>,
    },
    Failed(&'static str),
}

fn stem(name: &str) -> &str {
    match name.rsplit_once('.') {
        Some((s, _)) if !s.is_empty() => s,
        _ => name,
    }
}

async fn compress(state: &Arc<State>, parts: &Parts, body: Bytes, charge: bool) -> Resp {
    let (key, plan) = match state.authorize(&parts.headers) {
        Ok(k) => k,
        Err(d) => return d.response(),
    };
    let content_type = parts
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let boundary = match multipart::boundary(content_type) {
        Ok(b) => b,
        Err(e) => return json_error(StatusCode::BAD_REQUEST, &e),
    };
    let form_parts = match multipart::parse(&body, &boundary) {
        Ok(p) => p,
        Err(e) => return json_error(StatusCode::BAD_REQUEST, &e),
    };
    let form = match CompressForm::from_parts(form_parts) {
        Ok(f) => f,
        Err((status, msg)) => return json_error(status, &msg),
    };
    let ai = form.alt_text || form.seo_rename;
    if plan == Plan::Free {
        if form.watermark.is_some() {
            return json_error(StatusCode::FORBIDDEN, "watermark requires a paid plan");
        }
        if ai {
            return json_error(StatusCode::FORBIDDEN, "AI features require a paid plan");
        }
    }
    let real = state.settings.encode == Encode::Real;
    let watermark = match &form.watermark {
        None => None,
        Some(data) if real => match imaging::decode_watermark(data) {
            Ok(image) => Some(Arc::new(Watermark {
                image,
                scale: form.wm_scale,
                opacity: form.wm_opacity,
                position: form.wm_position,
            })),
            Err(()) => {
                return json_error(StatusCode::BAD_REQUEST, "watermarkFile must be a PNG image")
            }
        },
        Some(data) => {
            if !data.starts_with(b"\x89PNG\r\n\x1a\n") {
                return json_error(StatusCode::BAD_REQUEST, "watermarkFile must be a PNG image");
            }
            None
        }
    };

    // Reserve the credits up front; failed images are refunded below.
    let n = form.files.len() as u64;
    let mut ai_from_topup = 0;
    {
        let mut accounts = lock(&state.accounts);
        let Some(acct) = accounts.map.get_mut(&key) else {
            return unauthorized();
        };
        if acct.compress_left() < n {
            return json_error(
                StatusCode::PAYMENT_REQUIRED,
                "compression credits used up for this billing period",
            );
        }
        if ai && acct.ai_left() < n {
            return json_error(
                StatusCode::PAYMENT_REQUIRED,
                "AI credits used up for this billing period",
            );
        }
        if charge {
            acct.take_compress(n);
            if ai {
                ai_from_topup = acct.take_ai(n);
            }
        }
    }

    let params = Arc::new(Params {
        format: form.format,
        quality: form.quality,
        max_width: form.max_width,
        max_height: form.max_height,
        ai,
    });
    let outcomes: Vec<Outcome> = if real {
        let handles: Vec<_> = form
            .files
            .iter()
            .map(|job| {
                let data = job.data.clone();
                let params = params.clone();
                let wm = watermark.clone();
                tokio::task::spawn_blocking(move || {
                    match imaging::process(&data, &params, wm.as_deref()) {
                        Ok(o) => Outcome::Ok {
                            bytes: Bytes::from(o.bytes),
                            content_type: params.format.content_type(),
                            width: Some(o.width),
                            height: Some(o.height),
                            alt_text: o.alt_text,
                            seo_name: o.seo_name,
                        },
                        Err(e) => Outcome::Failed(e),
                    }
                })
            })
            .collect();
        let mut out = Vec::with_capacity(handles.len());
        for h in handles {
            out.push(h.await.unwrap_or(Outcome::Failed("internal error")));
        }
        out
    } else {
        form.files
            .iter()
            .map(|job| {
                let (alt, seo) = if ai {
                    let (a, s) = imaging::ai_text_passthrough(
                        stem(&job.original_name),
                        job.data.len(),
                        form.format,
                    );
                    (Some(a), Some(s))
                } else {
                    (None, None)
                };
                Outcome::Ok {
                    bytes: job.data.clone(),
                    content_type: imaging::sniff_content_type(&job.data),
                    width: None,
                    height: None,
                    alt_text: alt,
                    seo_name: seo,
                }
            })
            .collect()
    };

    let failed = outcomes
        .iter()
        .filter(|o| matches!(o, Outcome::Failed(_)))
        .count() as u64;
    if charge && failed > 0 {
        let mut accounts = lock(&state.accounts);
        if let Some(acct) = accounts.map.get_mut(&key) {
            acct.refund_compress(failed);
            if ai {
                acct.refund_ai(failed, ai_from_topup);
            }
        }
    }

    let session_id = form
        .session_id
        .clone()
        .unwrap_or_else(|| format!("s_{:016x}", random_u64()));
    let ext = form.format.as_str();
    let ttl = state.settings.ttl.as_secs();
    let mut entries = Vec::with_capacity(outcomes.len());
    for (job, outcome) in form.files.iter().zip(outcomes) {
        let original = job.original_name.as_str();
        match outcome {
            Outcome::Failed(error) => entries.push(Entry::Failed { original, error }),
            Outcome::Ok {
                bytes,
                content_type,
                width,
                height,
                alt_text,
                seo_name,
            } => {
                let st = stem(original);
                let name = format!("{}.{ext}", if st.is_empty() { "image" } else { st });
                let size = bytes.len();
                let (url, exp) = state.store(&name, bytes, content_type);
                entries.push(Entry::Ok(Done {
                    original,
                    name,
                    format: ext,
                    original_size: job.data.len(),
                    size,
                    width,
                    height,
                    url,
                    exp,
                    alt_text: alt_text.filter(|_| form.alt_text),
                    seo_name: seo_name.filter(|_| form.seo_rename),
                }));
            }
        }
    }
    let body = match state.settings.shape {
        Shape::Reference => serde_json::to_vec(&RefAnswer {
            session_id,
            results: entries.iter().map(RefEntry::from).collect(),
        }),
        Shape::Alt => serde_json::to_vec(&AltAnswer {
            session_id,
            data: entries.iter().map(|e| AltEntry::new(e, ttl)).collect(),
        }),
    };
    response(StatusCode::OK, "application/json", body.unwrap_or_default())
}

// ----- answer shapes -----------------------------------------------------------------------

struct Done<'a> {
    original: &'a str,
    name: String,
    format: &'static str,
    original_size: usize,
    size: usize,
    width: Option<u32>,
    height: Option<u32>,
    url: String,
    exp: u64,
    alt_text: Option<String>,
    seo_name: Option<String>,
}

enum Entry<'a> {
    Ok(Done<'a>),
    Failed {
        original: &'a str,
        error: &'static str,
    },
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct RefAnswer<'a> {
    session_id: String,
    results: Vec<RefEntry<'a>>,
}

#[derive(Serialize)]
#[serde(untagged)]
enum RefEntry<'a> {
    #[serde(rename_all = "camelCase")]
    Ok {
        original_name: &'a str,
        name: &'a str,
        format: &'static str,
        original_size: usize,
        size: usize,
        width: Option<u32>,
        height: Option<u32>,
        url: &'a str,
        expires_at: String,
        alt_text: Option<&'a str>,
        seo_name: Option<&'a str>,
    },
    #[serde(rename_all = "camelCase")]
    Failed {
        original_name: &'a str,
        error: &'static str,
    },
}

impl<'a> From<&'a Entry<'a>> for RefEntry<'a> {
    fn from(e: &'a Entry<'a>) -> Self {
        match e {
            Entry::Ok(d) => RefEntry::Ok {
                original_name: d.original,
                name: &d.name,
                format: d.format,
                original_size: d.original_size,
                size: d.size,
                width: d.width,
                height: d.height,
                url: &d.url,
                expires_at: rfc3339(d.exp),
                alt_text: d.alt_text.as_deref(),
                seo_name: d.seo_name.as_deref(),
            },
            Entry::Failed { original, error } => RefEntry::Failed {
                original_name: original,
                error,
            },
        }
    }
}

#[derive(Serialize)]
struct AltAnswer<'a> {
    session_id: String,
    data: Vec<AltEntry<'a>>,
}

#[derive(Serialize)]
#[serde(untagged)]
enum AltEntry<'a> {
    Ok {
        original_filename: &'a str,
        filename: &'a str,
        format: &'static str,
        original_size: usize,
        compressed_size: usize,
        width: Option<u32>,
        height: Option<u32>,
        download_url: &'a str,
        expires_in: u64,
        alt_text: Option<&'a str>,
        seo_name: Option<&'a str>,
    },
    Failed {
        original_filename: &'a str,
        error: &'static str,
    },
}

impl<'a> AltEntry<'a> {
    fn new(e: &'a Entry<'a>, ttl: u64) -> Self {
        match e {
            Entry::Ok(d) => AltEntry::Ok {
                original_filename: d.original,
                filename: &d.name,
                format: d.format,
                original_size: d.original_size,
                compressed_size: d.size,
                width: d.width,
                height: d.height,
                download_url: &d.url,
                expires_in: ttl,
                alt_text: d.alt_text.as_deref(),
                seo_name: d.seo_name.as_deref(),
            },
            Entry::Failed { original, error } => AltEntry::Failed {
                original_filename: original,
                error,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stored(len: usize, exp: u64) -> Stored {
        Stored {
            bytes: Bytes::from(vec![0u8; len]),
            content_type: "image/png",
            exp,
        }
    }

    #[test]
    fn result_store_caps_bytes_and_expires_in_order() {
        let mut r = ResultStore::with_cap(100);
        r.insert("a".into(), stored(40, 10));
        r.insert("b".into(), stored(40, 11));
        r.insert("c".into(), stored(40, 12));
        // Over the cap: the oldest went.
        assert!(!r.map.contains_key("a"));
        assert_eq!(r.bytes, 80);
        r.remove("b");
        assert_eq!(r.bytes, 40);
        r.insert("d".into(), stored(10, 13));
        r.expire(12.0);
        assert!(!r.map.contains_key("c"));
        assert!(r.map.contains_key("d"));
        assert_eq!(r.bytes, 10);
        assert_eq!(r.order.len(), 1);
        assert_eq!(r.clear(), 1);
        assert_eq!((r.bytes, r.cap), (0, 100));
    }

    #[test]
    fn stems() {
        assert_eq!(stem("cat.jpg"), "cat");
        assert_eq!(stem("a.b.c"), "a.b");
        assert_eq!(stem("noext"), "noext");
        assert_eq!(stem(".hidden"), ".hidden");
        assert_eq!(stem(""), "");
    }
}
