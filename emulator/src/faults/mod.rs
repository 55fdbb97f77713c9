//! Faults injected on demand: the public [`Fault`] description and the queue that hands them out.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::util::XorShift;

mod apply;

pub(crate) use apply::apply_fault;

/// What an injected fault does to a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum FaultMode {
    /// 429 with `Retry-After` (default 1) and `{"error":"rate limited"}`.
    #[serde(rename = "429")]
    TooManyRequests,
    /// 502 with `{"error":"bad gateway"}`.
    #[serde(rename = "502")]
    BadGateway,
    /// 503 with optional `Retry-After` and `{"error":"service unavailable"}`.
    #[serde(rename = "503")]
    ServiceUnavailable,
    /// 504 with `{"error":"gateway timeout"}`.
    #[serde(rename = "504")]
    GatewayTimeout,
    /// 500 with an HTML body (`text/html`), as a proxy would send.
    #[serde(rename = "500-html")]
    InternalHtml,
    /// Read the whole request, process it (charging credits), then close without answering.
    #[serde(rename = "reset")]
    Reset,
    /// Close the connection as soon as the request headers arrived, without reading the body.
    #[serde(rename = "reset-early")]
    ResetEarly,
    /// Read the request, wait `delay_ms`, then answer normally if the client is still connected;
    /// a compress is charged only then. A client that hung up meanwhile gets nothing, pays
    /// nothing and is counted in the stats' `abandoned`.
    #[serde(rename = "stall")]
    Stall,
    /// Answer 200 with a Content-Length, then send the body a few bytes every ~100 ms, taking
    /// longer than `delay_ms` in all (a compress is not charged).
    #[serde(rename = "trickle")]
    Trickle,
    /// 200 `application/json` whose (well-framed) body is cut in the middle.
    #[serde(rename = "truncated-json")]
    TruncatedJson,
    /// 200 `application/json`: a valid 200 MiB JSON document, streamed.
    #[serde(rename = "huge-json")]
    HugeJson,
    /// 200 with `text/html` and an HTML body.
    #[serde(rename = "wrong-content-type")]
    WrongContentType,
    /// 307 to the foreign listener, same path and query.
    #[serde(rename = "redirect-foreign")]
    RedirectForeign,
    /// 307 to a plain `http://` URL (the foreign listener's, which also speaks plain HTTP).
    #[serde(rename = "redirect-http")]
    RedirectHttp,
    /// Each of the next `count` matching requests gets, with probability `rate`, one of
    /// 429, 503, 500-html or reset-early, drawn from a generator seeded with `seed`.
    #[serde(rename = "random")]
    Random,
}

impl FaultMode {
    pub const ALL: [FaultMode; 15] = [
        FaultMode::TooManyRequests,
        FaultMode::BadGateway,
        FaultMode::ServiceUnavailable,
        FaultMode::GatewayTimeout,
        FaultMode::InternalHtml,
        FaultMode::Reset,
        FaultMode::ResetEarly,
        FaultMode::Stall,
        FaultMode::Trickle,
        FaultMode::TruncatedJson,
        FaultMode::HugeJson,
        FaultMode::WrongContentType,
        FaultMode::RedirectForeign,
        FaultMode::RedirectHttp,
        FaultMode::Random,
    ];

    /// The wire name (`"429"`, `"reset-early"`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            FaultMode::TooManyRequests => "429",
            FaultMode::BadGateway => "502",
            FaultMode::ServiceUnavailable => "503",
            FaultMode::GatewayTimeout => "504",
            FaultMode::InternalHtml => "500-html",
            FaultMode::Reset => "reset",
            FaultMode::ResetEarly => "reset-early",
            FaultMode::Stall => "stall",
            FaultMode::Trickle => "trickle",
            FaultMode::TruncatedJson => "truncated-json",
            FaultMode::HugeJson => "huge-json",
            FaultMode::WrongContentType => "wrong-content-type",
            FaultMode::RedirectForeign => "redirect-foreign",
            FaultMode::RedirectHttp => "redirect-http",
            FaultMode::Random => "random",
        }
    }

    pub fn parse(s: &str) -> Option<FaultMode> {
        FaultMode::ALL.into_iter().find(|m| m.as_str() == s)
    }
}

/// Which requests a fault applies to.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FaultPath {
    /// `POST /api/compress`.
    Compress,
    /// `GET /api/usage`.
    Usage,
    /// `GET /d/...` on the download origin.
    Download,
    /// Any API request (compress or usage); not downloads.
    #[default]
    Any,
}

/// A fault to apply to the next `count` matching requests.
///
/// JSON form (`POST /__control/fault`): `{"mode":"503","count":2,"path":"compress",
/// "retry_after":3,"delay_ms":5000}`; for random faults `{"mode":"random","rate":0.2,
/// "seed":42,"count":100}` or `{"random":{"rate":0.2,"seed":42},"count":100}`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Fault {
    pub mode: FaultMode,
    /// How many matching requests get the fault (default 1).
    #[serde(default = "default_count")]
    pub count: u32,
    /// Which requests match (default: any API request).
    #[serde(default)]
    pub path: FaultPath,
    /// `Retry-After` seconds for 429 (default 1 there) and 502/503/504 (default: none).
    #[serde(default)]
    pub retry_after: Option<u64>,
    /// Stall and trickle duration in milliseconds (default 5000).
    #[serde(default = "default_delay")]
    pub delay_ms: u64,
    /// Random mode: the fraction of requests that get a fault (default 0.2).
    #[serde(default = "default_rate")]
    pub rate: f64,
    /// Random mode: the generator's seed (default 42).
    #[serde(default = "default_seed")]
    pub seed: u64,
}

fn default_count() -> u32 {
    1
}
fn default_delay() -> u64 {
    5000
}
fn default_rate() -> f64 {
    0.2
}
fn default_seed() -> u64 {
    42
}

impl Fault {
    /// One request, any API path, no Retry-After, 5000 ms delay.
    pub fn new(mode: FaultMode) -> Fault {
        Fault {
            mode,
            count: 1,
            path: FaultPath::Any,
            retry_after: None,
            delay_ms: 5000,
            rate: 0.2,
            seed: 42,
        }
    }

    /// A random fault on a `rate` fraction of the next `count` API requests.
    pub fn random(rate: f64, seed: u64, count: u32) -> Fault {
        Fault {
            rate,
            seed,
            count,
            ..Fault::new(FaultMode::Random)
        }
    }

    pub fn with_count(mut self, count: u32) -> Fault {
        self.count = count;
        self
    }

    pub fn with_path(mut self, path: FaultPath) -> Fault {
        self.path = path;
        self
    }

    pub fn with_retry_after(mut self, secs: u64) -> Fault {
        self.retry_after = Some(secs);
        self
    }

    pub fn with_delay_ms(mut self, ms: u64) -> Fault {
        self.delay_ms = ms;
        self
    }

    /// Parses the control JSON, accepting the `{"random":{"rate":..,"seed":..}}` form too.
    pub fn from_json(v: &Value) -> Result<Fault, String> {
        let mut v = v.clone();
        let obj = v
            .as_object_mut()
            .ok_or_else(|| "fault must be a JSON object".to_string())?;
        if let Some(r) = obj.remove("random") {
            let r = r
                .as_object()
                .ok_or_else(|| "random must be an object {\"rate\":..,\"seed\":..}".to_string())?;
            obj.entry("mode").or_insert_with(|| Value::from("random"));
            for k in ["rate", "seed"] {
                if let Some(x) = r.get(k) {
                    obj.insert(k.to_string(), x.clone());
                }
            }
        }
        // Accept a numeric mode such as 429 as well as "429".
        if let Some(m) = obj.get("mode").and_then(Value::as_u64) {
            obj.insert("mode".into(), Value::from(m.to_string()));
        }
        let f: Fault = serde_json::from_value(v).map_err(|e| format!("bad fault: {e}"))?;
        if !(0.0..=1.0).contains(&f.rate) {
            return Err("rate must be between 0 and 1".into());
        }
        Ok(f)
    }
}

/// The kind of request a fault is matched against.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ReqKind {
    Compress,
    Usage,
    Download,
}

impl FaultPath {
    fn matches(self, kind: ReqKind) -> bool {
        matches!(
            (self, kind),
            (FaultPath::Any, ReqKind::Compress)
                | (FaultPath::Any, ReqKind::Usage)
                | (FaultPath::Compress, ReqKind::Compress)
                | (FaultPath::Usage, ReqKind::Usage)
                | (FaultPath::Download, ReqKind::Download)
        )
    }
}

/// A fault chosen for one request.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Applied {
    pub mode: FaultMode,
    pub retry_after: Option<u64>,
    pub delay_ms: u64,
}

struct Active {
    fault: Fault,
    remaining: u32,
    rng: XorShift,
}

#[derive(Default)]
pub(crate) struct FaultQueue {
    active: Vec<Active>,
}

const RANDOM_MODES: [FaultMode; 4] = [
    FaultMode::TooManyRequests,
    FaultMode::ServiceUnavailable,
    FaultMode::InternalHtml,
    FaultMode::ResetEarly,
];

impl FaultQueue {
    pub fn push(&mut self, fault: Fault) {
        if fault.count == 0 {
            return;
        }
        self.active.push(Active {
            remaining: fault.count,
            rng: XorShift::new(fault.seed),
            fault,
        });
    }

    pub fn clear(&mut self) {
        self.active.clear();
    }

    pub fn is_empty(&self) -> bool {
        self.active.is_empty()
    }

    /// The fault for the next request of `kind`, if one is queued (first queued, first served).
    pub fn take(&mut self, kind: ReqKind) -> Option<Applied> {
        let idx = self
            .active
            .iter()
            .position(|a| a.fault.path.matches(kind))?;
        let a = &mut self.active[idx];
        a.remaining -= 1;
        let applied = if a.fault.mode == FaultMode::Random {
            let hit = a.rng.next_f64() < a.fault.rate;
            let pick = RANDOM_MODES[(a.rng.next_u64() % RANDOM_MODES.len() as u64) as usize];
            hit.then_some(Applied {
                mode: pick,
                retry_after: a.fault.retry_after,
                delay_ms: a.fault.delay_ms,
            })
        } else {
            Some(Applied {
                mode: a.fault.mode,
                retry_after: a.fault.retry_after,
                delay_ms: a.fault.delay_ms,
            })
        };
        if a.remaining == 0 {
            self.active.remove(idx);
        }
        applied
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_forms() {
        let f = Fault::from_json(
            &serde_json::json!({"mode":"503","count":2,"path":"compress","retry_after":3}),
        )
        .unwrap();
        assert_eq!(f.mode, FaultMode::ServiceUnavailable);
        assert_eq!(f.count, 2);
        assert_eq!(f.path, FaultPath::Compress);
        assert_eq!(f.retry_after, Some(3));
        let f = Fault::from_json(&serde_json::json!({"mode":429})).unwrap();
        assert_eq!(f.mode, FaultMode::TooManyRequests);
        assert_eq!(f.count, 1);
        assert_eq!(f.path, FaultPath::Any);
        let f = Fault::from_json(&serde_json::json!({"random":{"rate":0.5,"seed":7},"count":9}))
            .unwrap();
        assert_eq!(f.mode, FaultMode::Random);
        assert_eq!((f.rate, f.seed, f.count), (0.5, 7, 9));
        assert!(Fault::from_json(&serde_json::json!({"mode":"nope"})).is_err());
        assert!(Fault::from_json(&serde_json::json!([1])).is_err());
        for m in FaultMode::ALL {
            assert_eq!(FaultMode::parse(m.as_str()), Some(m));
            let f = Fault::from_json(&serde_json::json!({"mode": m.as_str()})).unwrap();
            assert_eq!(f.mode, m);
        }
    }

    #[test]
    fn queue_matching_and_counts() {
        let mut q = FaultQueue::default();
        q.push(Fault::new(FaultMode::BadGateway).with_path(FaultPath::Download));
        q.push(Fault::new(FaultMode::Stall).with_count(2));
        assert_eq!(q.take(ReqKind::Usage).unwrap().mode, FaultMode::Stall);
        assert_eq!(q.take(ReqKind::Compress).unwrap().mode, FaultMode::Stall);
        assert!(q.take(ReqKind::Compress).is_none());
        assert_eq!(
            q.take(ReqKind::Download).unwrap().mode,
            FaultMode::BadGateway
        );
        assert!(q.is_empty());
    }

    #[test]
    fn random_is_deterministic_and_bounded() {
        let run = || {
            let mut q = FaultQueue::default();
            q.push(Fault::random(0.3, 42, 1000));
            (0..1000)
                .map(|_| q.take(ReqKind::Compress).map(|a| a.mode))
                .collect::<Vec<_>>()
        };
        let a = run();
        assert_eq!(a, run());
        let hits = a.iter().filter(|x| x.is_some()).count();
        assert!((200..400).contains(&hits), "{hits}");
    }
}
