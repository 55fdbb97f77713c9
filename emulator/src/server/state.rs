//! The server's shared state: accounts, statistics, rate windows, signing, the fault queue.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use hmac::{Hmac, Mac};
use hyper::header::{self, HeaderMap};
use hyper::StatusCode;
use serde_json::{json, Value};
use sha2::Sha256;

use super::respond::{json_error, unauthorized, with_header};
use super::results::{ResultStore, Stored};
use super::{lock, Resp, Settings};
use crate::accounts::{well_formed, Accounts, Plan};
use crate::faults::{Applied, Fault, FaultQueue, ReqKind};
use crate::util::{hex, pct_encode, random_u64, unix_now, unix_now_f64};

#[derive(Default)]
pub(crate) struct Stats {
    pub(crate) req_compress: AtomicU64,
    pub(crate) req_usage: AtomicU64,
    pub(crate) req_download: AtomicU64,
    pub(crate) req_foreign: AtomicU64,
    pub(crate) conn_api: AtomicU64,
    pub(crate) conn_download: AtomicU64,
    pub(crate) conn_foreign: AtomicU64,
    pub(crate) tls_handshakes: AtomicU64,
    pub(crate) auth_download: AtomicU64,
    pub(crate) auth_foreign: AtomicU64,
    pub(crate) faults_applied: AtomicU64,
    /// Stalled requests whose client hung up before the answer was due.
    pub(crate) abandoned: AtomicU64,
}

impl Stats {
    fn all(&self) -> [&AtomicU64; 12] {
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
            &self.abandoned,
        ]
    }
}

pub(crate) struct State {
    pub settings: Settings,
    pub(crate) accounts: Mutex<Accounts>,
    pub(crate) results: Mutex<ResultStore>,
    secret: [u8; 32],
    download_base: String,
    pub(crate) foreign_base: String,
    pub(crate) foreign_http_base: String,
    pub(crate) stats: Stats,
    faults: Mutex<FaultQueue>,
    faults_pending: AtomicBool,
    rate: Mutex<HashMap<String, (u64, u32)>>,
    ids: AtomicU64,
    id_salt: u64,
    /// Slots for images being worked on at once (`--encoders`).
    pub(crate) encoders: Option<Arc<tokio::sync::Semaphore>>,
    /// The User-Agent of the latest API request, so tests can see what clients send.
    pub(crate) last_user_agent: Mutex<Option<String>>,
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
        let encoders = settings
            .encoders
            .map(|n| Arc::new(tokio::sync::Semaphore::new(n)));
        State {
            encoders,
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

    /// This image's added work time: `work_time`, varied uniformly by up to `work_jitter`.
    pub(crate) fn work_time(&self) -> Duration {
        let (base, jitter) = (self.settings.work_time, self.settings.work_jitter);
        if jitter.is_zero() {
            return base;
        }
        let u = (random_u64() >> 11) as f64 / (1u64 << 53) as f64; // uniform in [0, 1)
        let ms = base.as_secs_f64() + jitter.as_secs_f64() * (2.0 * u - 1.0);
        Duration::from_secs_f64(ms.max(0.0))
    }

    pub fn inject(&self, fault: Fault) {
        let mut q = lock(&self.faults);
        q.push(fault);
        self.faults_pending.store(!q.is_empty(), Relaxed);
    }

    pub(crate) fn take_fault(&self, kind: ReqKind) -> Option<Applied> {
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
            "abandoned": g(&s.abandoned),
            "results_stored": stored,
            "last_user_agent": lock(&self.last_user_agent).clone(),
        })
    }

    pub(crate) fn sign(&self, id: &str, name: &str, exp: u64) -> Hmac<Sha256> {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.secret).expect("any key length");
        mac.update(id.as_bytes());
        mac.update(b"|");
        mac.update(name.as_bytes());
        mac.update(b"|");
        mac.update(exp.to_string().as_bytes());
        mac
    }

    /// Stores a result; returns its signed URL and expiry (Unix seconds).
    pub(crate) fn store(
        &self,
        name: &str,
        bytes: Bytes,
        content_type: &'static str,
    ) -> (String, u64) {
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
    pub(crate) fn authorize(&self, headers: &HeaderMap) -> Result<(String, Plan), Denied> {
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
pub(crate) enum Denied {
    Unauthorized,
    RateLimited,
    AgencyOnly,
}

impl Denied {
    pub(crate) fn response(self) -> Resp {
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
