//! Building answers: JSON errors, headers, the HTML pages some faults send.

use bytes::Bytes;
use hyper::header::{self, HeaderValue};
use hyper::{Response, StatusCode};
use serde_json::{json, Value};

use super::Resp;
use crate::body::RespBody;

pub(crate) fn response(
    status: StatusCode,
    content_type: &'static str,
    body: impl Into<Bytes>,
) -> Resp {
    let mut r = Response::new(RespBody::full(body));
    *r.status_mut() = status;
    r.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    r
}

pub(crate) fn json_value(status: StatusCode, v: &Value) -> Resp {
    response(
        status,
        "application/json",
        serde_json::to_vec(v).unwrap_or_default(),
    )
}

pub(crate) fn json_error(status: StatusCode, msg: &str) -> Resp {
    json_value(status, &json!({ "error": msg }))
}

pub(crate) fn unauthorized() -> Resp {
    response(
        StatusCode::UNAUTHORIZED,
        "application/json",
        Bytes::from_static(br#"{ "error": "Unauthorized" }"#),
    )
}

pub(crate) fn with_header(mut r: Resp, name: header::HeaderName, value: &str) -> Resp {
    if let Ok(v) = HeaderValue::from_str(value) {
        r.headers_mut().insert(name, v);
    }
    r
}

pub(crate) fn too_large(msg: &str) -> Resp {
    with_header(
        json_error(StatusCode::PAYLOAD_TOO_LARGE, msg),
        header::CONNECTION,
        "close",
    )
}

pub(crate) const HTML_500: &str = "<!DOCTYPE html>\n<html><head><title>500 Internal Server Error</title></head>\n<body><h1>500 Internal Server Error</h1><hr><p>nginx</p></body></html>\n";
pub(crate) const HTML_PAGE: &str = "<!DOCTYPE html>\n<html><head><title>Fluximage</title></head>\n<body><h1>Welcome to Fluximage</h1><p>Please sign in.</p></body></html>\n";
