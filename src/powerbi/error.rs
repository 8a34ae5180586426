//! Power BI error replies, in every shape the live service sends: `{"error": {"code",
//! "message", "details"}}`, `{"error": {"code", "pbi.error": {"code", "details": [{"code",
//! "detail": {"type", "value"}}]}}}` (no message: the text is in the details), a top-level
//! `{"message": ...}` or `{"Message": ...}`, or an empty body with only the
//! `X-PowerBI-Error-Info` header. Unknown fields are ignored.

use std::sync::Arc;

use serde_json::{Map, Value};

use crate::error::{Error, PowerBiError, PowerBiErrorDetail};
use crate::http::Reply;

/// How much of an unexpected error body is kept.
const RAW_BODY_LIMIT: usize = 1024;
/// How much of any one text from the body is kept.
const TEXT_LIMIT: usize = 1024;
/// How many detail entries are kept.
const MAX_DETAILS: usize = 16;

/// The typed error for an error reply. Works for empty and non-JSON bodies too.
pub(crate) fn power_bi_error(reply: &Reply) -> Error {
    let parsed = serde_json::from_slice::<Value>(&reply.body).ok().and_then(|v| match v {
        Value::Object(map) => read_body(&map),
        _ => None,
    });
    let blank = reply.body.iter().all(u8::is_ascii_whitespace);
    let raw_body = match &parsed {
        None if !blank => Some(truncated(&reply.body, RAW_BODY_LIMIT)),
        _ => None,
    };
    let Parsed { code, message, details } = parsed.unwrap_or_default();
    Error::PowerBi(Arc::new(PowerBiError {
        status: reply.status,
        code,
        message,
        details,
        request_id: reply.request_id.clone(),
        error_info: reply.error_info.clone().filter(|i| !i.trim().is_empty()),
        www_authenticate: reply.www_authenticate.clone(),
        retry_after: reply.retry_after,
        raw_body,
    }))
}

#[derive(Default)]
struct Parsed {
    code: Option<String>,
    message: Option<String>,
    details: Vec<PowerBiErrorDetail>,
}

/// Reads an error object; `None` when it is none of the known shapes.
fn read_body(body: &Map<String, Value>) -> Option<Parsed> {
    // `{"error": {...}}`, or the same fields at the top level (as some clients log it).
    let error = match body.get("error") {
        Some(Value::Object(error)) => error,
        _ => body,
    };
    let pbi = error.get("pbi.error").and_then(Value::as_object);
    let code = text(error, "code").or_else(|| pbi.and_then(|p| text(p, "code")));
    let message = text(error, "message").or_else(|| text(error, "Message"));
    let mut details = Vec::new();
    for entry in list(error, "details") {
        // The swagger's `ErrorDetail {code, message, target}`.
        if let Some(message) = text(entry, "message") {
            details.push(PowerBiErrorDetail { code: text(entry, "code").or_else(|| text(entry, "target")), message });
        }
    }
    for entry in pbi.map(|p| list(p, "details")).into_iter().flatten() {
        // `{"code": "...", "detail": {"type": 1, "value": "..."}}`
        let value = entry.get("detail").and_then(Value::as_object).and_then(|d| text(d, "value"));
        if let Some(message) = value {
            details.push(PowerBiErrorDetail { code: text(entry, "code"), message });
        }
    }
    details.truncate(MAX_DETAILS);
    (code.is_some() || message.is_some() || !details.is_empty()).then_some(Parsed { code, message, details })
}

fn list<'a>(object: &'a Map<String, Value>, field: &str) -> impl Iterator<Item = &'a Map<String, Value>> {
    object.get(field).and_then(Value::as_array).into_iter().flatten().filter_map(Value::as_object)
}

/// A non-empty string field, bounded.
fn text(object: &Map<String, Value>, field: &str) -> Option<String> {
    let value = object.get(field)?.as_str()?.trim();
    (!value.is_empty()).then(|| truncated(value.as_bytes(), TEXT_LIMIT))
}

fn truncated(body: &[u8], limit: usize) -> String {
    let text = String::from_utf8_lossy(&body[..body.len().min(limit)]);
    text.into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reply(status: u16, body: &str) -> Reply {
        Reply { request_id: Some("r-1".into()), ..Reply::json(status, body) }
    }

    fn parse(reply: &Reply) -> PowerBiError {
        match power_bi_error(reply) {
            Error::PowerBi(e) => Arc::unwrap_or_clone(e),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn swagger_details_keep_their_target() {
        let e = parse(&reply(
            400,
            r#"{"error":{"code":"InvalidRequest","message":"Bad","details":[{"message":"m","target":"accessLevel"}]}}"#,
        ));
        assert_eq!(e.code.as_deref(), Some("InvalidRequest"));
        assert_eq!(e.message.as_deref(), Some("Bad"));
        assert_eq!(e.details, [PowerBiErrorDetail { code: Some("accessLevel".into()), message: "m".into() }]);
        assert_eq!(e.raw_body, None);
    }

    #[test]
    fn unknown_json_and_non_json_bodies_are_kept_raw() {
        assert_eq!(parse(&reply(500, r#"{"unexpected":1}"#)).raw_body.as_deref(), Some(r#"{"unexpected":1}"#));
        assert_eq!(
            parse(&reply(502, "<html>bad gateway</html>")).raw_body.as_deref(),
            Some("<html>bad gateway</html>")
        );
        let long = "x".repeat(5000);
        assert_eq!(parse(&reply(500, &long)).raw_body.map(|b| b.len()), Some(RAW_BODY_LIMIT));
        let e = parse(&reply(401, "  "));
        assert_eq!((e.raw_body, e.code, e.message), (None, None, None));
    }

    #[test]
    fn texts_and_detail_lists_are_bounded() {
        let details: Vec<String> =
            (0..40).map(|i| format!(r#"{{"code":"c{i}","detail":{{"type":1,"value":"v{i}"}}}}"#)).collect();
        let body = format!(
            r#"{{"error":{{"code":"X","message":"{}","pbi.error":{{"details":[{}]}}}}}}"#,
            "m".repeat(3000),
            details.join(",")
        );
        let e = parse(&reply(400, &body));
        assert_eq!(e.message.map(|m| m.len()), Some(TEXT_LIMIT));
        assert_eq!(e.details.len(), MAX_DETAILS);
        assert_eq!(e.details[15], PowerBiErrorDetail { code: Some("c15".into()), message: "v15".into() });
    }
}
