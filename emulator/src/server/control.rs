//! The control endpoints `/__control/*` (only with `control` enabled).

use std::sync::Arc;

use hyper::body::Incoming;
use hyper::{Method, Request, StatusCode};
use serde_json::{json, Value};

use super::respond::{json_error, json_value};
use super::routes::read_body;
use super::{Resp, State};
use crate::faults::Fault;

pub(crate) async fn control(state: &Arc<State>, req: Request<Incoming>) -> Resp {
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
