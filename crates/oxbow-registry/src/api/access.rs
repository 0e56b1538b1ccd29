//! The access layer in front of every route: HTTP Basic authentication (401 with
//! `WWW-Authenticate` when missing or wrong), authorization of the operation the route performs
//! on its subject (403, error code 40301), and an audit line for every change and every refusal.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use serde_json::json;

use super::AppState;
use crate::access::{Caller, Operation};

fn refuse(status: StatusCode, code: u32, message: String, challenge: bool) -> Response {
    let body = json!({"error_code": code, "message": message}).to_string();
    let mut resp = (status, body).into_response();
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(super::CONTENT_TYPE),
    );
    if challenge {
        h.insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Basic realm=\"oxbow-schema-registry\""),
        );
    }
    resp
}

/// The user and password of an `Authorization: Basic` header.
fn basic(req: &Request) -> Option<(String, String)> {
    let value = req.headers().get(header::AUTHORIZATION)?.to_str().ok()?;
    let encoded = value
        .strip_prefix("Basic ")
        .or_else(|| value.strip_prefix("basic "))?;
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (user, password) = text.split_once(':')?;
    Some((user.to_string(), password.to_string()))
}

/// Percent-decodes one path segment (subjects arrive with `/` as `%2F`).
fn decode(seg: &str) -> String {
    let bytes = seg.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let Ok(b) = u8::from_str_radix(&seg[i + 1..i + 3], 16) {
                out.push(b);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// What a route does, and to which subject (`None`: the registry as a whole). Listings and
/// look-ups by id are authorized inside their handlers (they filter, or need the id's subjects).
fn operation(method: &Method, path: &str) -> Option<(Operation, Option<String>)> {
    let segs: Vec<&str> = path.trim_matches('/').split('/').collect();
    let configs = if *method == Method::GET {
        Operation::DescribeConfigs
    } else {
        Operation::AlterConfigs
    };
    match segs.as_slice() {
        ["subjects", s, ..] => {
            let s = Some(decode(s));
            let op = match (method, segs.len()) {
                (&Method::DELETE, _) => Operation::Delete,
                (&Method::POST, 3) => Operation::Write,
                _ => Operation::Read,
            };
            Some((op, s))
        }
        ["compatibility", "subjects", s, ..] => Some((Operation::Read, Some(decode(s)))),
        ["config", s] | ["mode", s] => Some((configs, Some(decode(s)))),
        ["config"] | ["mode"] => Some((configs, None)),
        _ => None,
    }
}

fn is_change(method: &Method, path: &str) -> bool {
    let lookup_or_check = path.starts_with("/compatibility/")
        || (*method == Method::POST && path.trim_matches('/').split('/').count() == 2);
    matches!(*method, Method::POST | Method::PUT | Method::DELETE) && !lookup_or_check
}

pub async fn layer(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    mut req: Request,
    next: Next,
) -> Response {
    let access = &state.access;
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let caller = match &access.authenticate {
        None => Caller {
            user: "ANONYMOUS".into(),
            peer,
        },
        Some(auth) => match basic(&req) {
            Some((user, password)) if auth.authenticate(&user, &password) => Caller { user, peer },
            Some((user, _)) => {
                let c = Caller {
                    user: user.clone(),
                    peer,
                };
                access.audit.record("registry_authentication", &c, "failure", json!({"method": method.as_str(), "path": path, "reason": "wrong user or password"}));
                tracing::warn!(%peer, user, path, "schema registry: authentication failed");
                return refuse(
                    StatusCode::UNAUTHORIZED,
                    40101,
                    format!("Authentication failed for user {user}"),
                    true,
                );
            }
            None => {
                return refuse(
                    StatusCode::UNAUTHORIZED,
                    40101,
                    "Authentication required (HTTP Basic)".into(),
                    true,
                );
            }
        },
    };
    if let Some((op, subject)) = operation(&method, &path) {
        if !access.authorize.authorize(&caller, op, subject.as_deref()) {
            let what = subject
                .clone()
                .map_or("the registry".to_string(), |s| format!("Subject: {s}"));
            access.audit.record("registry_denied", &caller, "denied", json!({"method": method.as_str(), "path": path, "operation": format!("{op:?}"), "subject": subject}));
            return refuse(
                StatusCode::FORBIDDEN,
                40301,
                format!("User {} is denied operation {op:?} on {what}", caller.user),
                false,
            );
        }
    }
    let change = is_change(&method, &path);
    req.extensions_mut().insert(caller.clone());
    let resp = next.run(req).await;
    if change {
        let outcome = if resp.status().is_success() {
            "success"
        } else {
            "refused"
        };
        access.audit.record(
            "registry_change",
            &caller,
            outcome,
            json!({"method": method.as_str(), "path": path, "status": resp.status().as_u16()}),
        );
    }
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn given_routes_when_mapping_should_name_operation_and_subject() {
        assert_eq!(
            operation(&Method::POST, "/subjects/a%2Fb.proto/versions"),
            Some((Operation::Write, Some("a/b.proto".into())))
        );
        assert_eq!(
            operation(&Method::POST, "/subjects/x"),
            Some((Operation::Read, Some("x".into())))
        );
        assert_eq!(
            operation(&Method::DELETE, "/subjects/x/versions/1"),
            Some((Operation::Delete, Some("x".into())))
        );
        assert_eq!(
            operation(&Method::PUT, "/config"),
            Some((Operation::AlterConfigs, None))
        );
        assert_eq!(
            operation(&Method::GET, "/mode/x"),
            Some((Operation::DescribeConfigs, Some("x".into())))
        );
        assert_eq!(operation(&Method::GET, "/schemas/ids/1"), None);
        assert!(is_change(&Method::POST, "/subjects/x/versions"));
        assert!(!is_change(&Method::POST, "/subjects/x"));
        assert!(!is_change(
            &Method::POST,
            "/compatibility/subjects/x/versions"
        ));
    }
}
