//! Power BI error bodies: `{"error": {"code", "message", ...}}`, or anything else.

use std::sync::Arc;

use serde::Deserialize;

use crate::error::{Error, PowerBiError};
use crate::http::Reply;

/// How much of an unexpected error body is kept.
const RAW_BODY_LIMIT: usize = 1024;

/// The typed error for an error reply. Works for empty and non-JSON bodies too.
pub(crate) fn power_bi_error(reply: &Reply) -> Error {
    #[derive(Deserialize)]
    struct Envelope {
        error: Option<Detail>,
    }
    #[derive(Deserialize)]
    struct Detail {
        code: Option<String>,
        message: Option<String>,
    }
    let detail = serde_json::from_slice::<Envelope>(&reply.body).ok().and_then(|e| e.error);
    let raw_body = match &detail {
        Some(_) => None,
        None if reply.body.iter().all(u8::is_ascii_whitespace) => None,
        None => Some(truncated(&reply.body)),
    };
    let (code, message) = detail.map(|d| (d.code, d.message)).unwrap_or_default();
    Error::PowerBi(Arc::new(PowerBiError {
        status: reply.status,
        code,
        message,
        request_id: reply.request_id.clone(),
        retry_after: reply.retry_after,
        raw_body,
    }))
}

fn truncated(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(&body[..body.len().min(RAW_BODY_LIMIT)]);
    text.into_owned()
}
