//! The compress handler: checks, credits, image work, stored results.

use std::sync::Arc;

use bytes::Bytes;
use hyper::header;
use hyper::http::request::Parts;
use hyper::StatusCode;

use super::answer::{AltAnswer, AltEntry, Done, Entry, RefAnswer, RefEntry};
use super::form::{CompressForm, Job};
use super::respond::{json_error, response, unauthorized};
use super::{lock, Resp, State};
use crate::accounts::Plan;
use crate::imaging::{self, OutFormat, Params, Watermark};
use crate::multipart;
use crate::util::random_u64;
use crate::{Encode, Shape};

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

/// When a compress pays for its images.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Charge {
    /// Reserve before the work, refund failed images after it.
    Now,
    /// Never (the trickle fault).
    Never,
    /// Not yet: the caller gets a [`Bill`] and charges it once the answer is due, if the client
    /// is still there (the stall fault).
    Later,
}

/// The credits a compress answer costs, for [`Charge::Later`].
#[derive(Debug)]
pub(crate) struct Bill {
    key: String,
    compress: u64,
    ai: bool,
}

impl State {
    /// Charges a bill (at most what the account has left: a bill is never refused).
    pub(crate) fn charge(&self, bill: &Bill) {
        let mut accounts = lock(&self.accounts);
        if let Some(acct) = accounts.map.get_mut(&bill.key) {
            let n = bill.compress.min(acct.compress_left());
            acct.take_compress(n);
            if bill.ai {
                acct.take_ai(n.min(acct.ai_left()));
            }
        }
    }
}

/// Handles a compress; with [`Charge::Later`] also returns what it costs.
pub(crate) async fn compress(
    state: &Arc<State>,
    parts: &Parts,
    body: Bytes,
    charge: Charge,
) -> (Resp, Option<Bill>) {
    match compress_inner(state, parts, body, charge).await {
        Ok(done) => done,
        Err(refused) => (refused, None),
    }
}

/// Real image work on one file (blocking: run it off the async threads).
fn encode(data: &[u8], params: &Params, wm: Option<Arc<Watermark>>) -> Outcome {
    match imaging::process(data, params, wm.as_deref()) {
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
}

/// Pass-through: the uploaded bytes are the result.
fn pass_through(job: &Job, ai: bool, format: OutFormat) -> Outcome {
    let (alt, seo) = if ai {
        let (a, s) = imaging::ai_text_passthrough(stem(&job.original_name), job.data.len(), format);
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
}

async fn compress_inner(
    state: &Arc<State>,
    parts: &Parts,
    body: Bytes,
    charge: Charge,
) -> Result<(Resp, Option<Bill>), Resp> {
    let (key, plan) = match state.authorize(&parts.headers) {
        Ok(k) => k,
        Err(d) => return Err(d.response()),
    };
    let content_type = parts
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let boundary = match multipart::boundary(content_type) {
        Ok(b) => b,
        Err(e) => return Err(json_error(StatusCode::BAD_REQUEST, &e)),
    };
    let form_parts = match multipart::parse(&body, &boundary) {
        Ok(p) => p,
        Err(e) => return Err(json_error(StatusCode::BAD_REQUEST, &e)),
    };
    let form = match CompressForm::from_parts(form_parts) {
        Ok(f) => f,
        Err((status, msg)) => return Err(json_error(status, &msg)),
    };
    let ai = form.alt_text || form.seo_rename;
    if plan == Plan::Free {
        if form.watermark.is_some() {
            return Err(json_error(
                StatusCode::FORBIDDEN,
                "watermark requires a paid plan",
            ));
        }
        if ai {
            return Err(json_error(
                StatusCode::FORBIDDEN,
                "AI features require a paid plan",
            ));
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
                return Err(json_error(
                    StatusCode::BAD_REQUEST,
                    "watermarkFile must be a PNG image",
                ))
            }
        },
        Some(data) => {
            if !data.starts_with(b"\x89PNG\r\n\x1a\n") {
                return Err(json_error(
                    StatusCode::BAD_REQUEST,
                    "watermarkFile must be a PNG image",
                ));
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
            return Err(unauthorized());
        };
        if acct.compress_left() < n {
            return Err(json_error(
                StatusCode::PAYMENT_REQUIRED,
                "compression credits used up for this billing period",
            ));
        }
        if ai && acct.ai_left() < n {
            return Err(json_error(
                StatusCode::PAYMENT_REQUIRED,
                "AI credits used up for this billing period",
            ));
        }
        if charge == Charge::Now {
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
    let paced = state.encoders.is_some() || !state.settings.work_time.is_zero();
    let outcomes: Vec<Outcome> = if !real && !paced {
        // Pass-through without pacing stays inline: it is the client benchmarks' fast path.
        form.files
            .iter()
            .map(|job| pass_through(job, ai, form.format))
            .collect()
    } else {
        let handles: Vec<_> = form
            .files
            .iter()
            .map(|job| {
                let state = state.clone();
                let job = Job {
                    original_name: job.original_name.clone(),
                    data: job.data.clone(),
                };
                let params = params.clone();
                let wm = watermark.clone();
                let format = form.format;
                // A task per image: the work goes on (as a real server's would) even if the
                // client hangs up, and holds its encoder slot until done.
                tokio::spawn(async move {
                    let _slot = match &state.encoders {
                        Some(s) => s.clone().acquire_owned().await.ok(),
                        None => None,
                    };
                    let out = if real {
                        tokio::task::spawn_blocking(move || encode(&job.data, &params, wm))
                            .await
                            .unwrap_or(Outcome::Failed("internal error"))
                    } else {
                        pass_through(&job, ai, format)
                    };
                    let pause = state.work_time();
                    if !pause.is_zero() {
                        tokio::time::sleep(pause).await;
                    }
                    out
                })
            })
            .collect();
        let mut out = Vec::with_capacity(handles.len());
        for h in handles {
            out.push(h.await.unwrap_or(Outcome::Failed("internal error")));
        }
        out
    };

    let failed = outcomes
        .iter()
        .filter(|o| matches!(o, Outcome::Failed(_)))
        .count() as u64;
    if charge == Charge::Now && failed > 0 {
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
    let bill = (charge == Charge::Later).then(|| Bill {
        key,
        compress: n - failed,
        ai,
    });
    Ok((
        response(StatusCode::OK, "application/json", body.unwrap_or_default()),
        bill,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stems() {
        assert_eq!(stem("cat.jpg"), "cat");
        assert_eq!(stem("a.b.c"), "a.b");
        assert_eq!(stem("noext"), "noext");
        assert_eq!(stem(".hidden"), ".hidden");
        assert_eq!(stem(""), "");
    }
}
