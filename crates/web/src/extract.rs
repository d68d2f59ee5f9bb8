//! Extractors whose rejections are problem+json: JSON bodies (with the failing field's
//! path), path ids, queries, and the bearer-token actor.

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use circle_app::{Actor, App};
use circle_domain::DomainError;
use serde::de::DeserializeOwned;

use crate::problem::ApiError;

/// A JSON request body, parsed through the domain constructors. Wrong types, unknown fields
/// and broken field rules are 422 naming the field; malformed JSON is 400; a body that is
/// not JSON is 415; an oversized body is 413.
pub struct ApiJson<T>(pub T);

impl<S, T> FromRequest<S> for ApiJson<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let is_json = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|ct| {
                let ct = ct
                    .split(';')
                    .next()
                    .unwrap_or("")
                    .trim()
                    .to_ascii_lowercase();
                ct == "application/json" || ct.ends_with("+json")
            });
        if !is_json {
            return Err(ApiError::BadRequest {
                status: StatusCode::UNSUPPORTED_MEDIA_TYPE,
                code: "unsupported_media_type",
                detail: "send the body as application/json".to_owned(),
                errors: Default::default(),
            });
        }
        let bytes = Bytes::from_request(req, state).await.map_err(|rejection| {
            let status = rejection.status();
            if status == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::BadRequest {
                    status,
                    code: "payload_too_large",
                    detail: "the request body is larger than the server accepts".to_owned(),
                    errors: Default::default(),
                }
            } else {
                ApiError::bad_request("unreadable_body", "the request body could not be read")
            }
        })?;
        parse_json(&bytes).map(ApiJson)
    }
}

/// Whether `c` may appear in text the API accepts: anything but control characters, with
/// tab and line breaks allowed (free text has them; single-line fields refuse them in their
/// domain constructors). A NUL, in particular, is refused here on both databases: PostgreSQL
/// cannot store one in `text` and SQLite would truncate it in some tools (issue 16, item 3).
pub fn is_allowed_char(c: char) -> bool {
    !c.is_control() || matches!(c, '\t' | '\r' | '\n')
}

/// The 422 for a value holding a control character; names the field, never the value.
fn control_character(field: String) -> ApiError {
    ApiError::field(
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_input",
        field,
        "must not contain control characters (tab and line breaks are allowed)".to_owned(),
    )
}

/// The path (`items/2/answer`, as the other field errors name it) of the first string or
/// key in `value` holding a character [`is_allowed_char`] refuses.
fn first_control_character(value: &serde_json::Value, path: &str) -> Option<String> {
    let join = |name: &str| {
        if path.is_empty() {
            name.to_owned()
        } else {
            format!("{path}/{name}")
        }
    };
    match value {
        serde_json::Value::String(s) => (!s.chars().all(is_allowed_char)).then(|| {
            if path.is_empty() {
                "body".to_owned()
            } else {
                path.to_owned()
            }
        }),
        serde_json::Value::Array(items) => items
            .iter()
            .enumerate()
            .find_map(|(i, v)| first_control_character(v, &join(&i.to_string()))),
        serde_json::Value::Object(map) => map.iter().find_map(|(k, v)| {
            if k.chars().all(is_allowed_char) {
                first_control_character(v, &join(k))
            } else {
                // The key itself is the bad value: name where it sits, not the key.
                Some(if path.is_empty() {
                    "body".to_owned()
                } else {
                    path.to_owned()
                })
            }
        }),
        _ => None,
    }
}

/// Deserializes with the path of the failing field; messages never echo values. Every
/// string (and key) is checked for control characters first, whatever type it becomes.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    // A body that is not JSON fails below with its line and column.
    if let Ok(value) = serde_json::from_slice::<serde_json::Value>(bytes)
        && let Some(field) = first_control_character(&value, "")
    {
        return Err(control_character(field));
    }
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let inner = e.inner();
        match inner.classify() {
            serde_json::error::Category::Syntax
            | serde_json::error::Category::Eof
            | serde_json::error::Category::Io => ApiError::bad_request(
                "malformed_json",
                format!(
                    "the body is not valid JSON (line {}, column {})",
                    inner.line(),
                    inner.column()
                ),
            ),
            serde_json::error::Category::Data => {
                let (field, message) = describe(&path_of(e.path()), &inner.to_string());
                ApiError::field(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "invalid_input",
                    field,
                    message,
                )
            }
        }
    })?;
    de.end().map_err(|_| {
        ApiError::bad_request("malformed_json", "unexpected data after the JSON value")
    })?;
    Ok(value)
}

fn path_of(path: &serde_path_to_error::Path) -> String {
    use serde_path_to_error::Segment;
    path.iter()
        .filter_map(|s| match s {
            Segment::Seq { index } => Some(index.to_string()),
            Segment::Map { key } => Some(key.clone()),
            Segment::Enum { variant } => Some(variant.clone()),
            Segment::Unknown => None,
        })
        .collect::<Vec<_>>()
        .join("/")
}

fn between_backticks(s: &str) -> Option<&str> {
    let start = s.find('`')? + 1;
    let end = s[start..].find('`')? + start;
    Some(&s[start..end])
}

/// The field and a value-free message for a serde data error.
fn describe(path: &str, raw: &str) -> (String, String) {
    let msg = raw.split(" at line ").next().unwrap_or(raw);
    let join = |name: &str| {
        if path.is_empty() {
            name.to_owned()
        } else {
            format!("{path}/{name}")
        }
    };
    if let Some(rest) = msg.strip_prefix("missing field ") {
        let name = between_backticks(rest).unwrap_or("?");
        return (join(name), "is required".to_owned());
    }
    if let Some(rest) = msg.strip_prefix("unknown field ") {
        let name = between_backticks(rest).unwrap_or("?");
        let expected = rest
            .split_once(", expected")
            .map(|x| x.1.trim())
            .unwrap_or("");
        let m = if expected.is_empty() {
            "is not a known field".to_owned()
        } else {
            format!("is not a known field; expected {expected}")
        };
        // The path already ends at the unknown key.
        let field = if path.is_empty() {
            name.to_owned()
        } else {
            path.to_owned()
        };
        return (field, m);
    }
    let field = if path.is_empty() {
        "body".to_owned()
    } else {
        path.to_owned()
    };
    if msg.starts_with("invalid type") {
        let expected = msg
            .rsplit_once(", expected ")
            .map_or("another type", |x| x.1);
        return (field, format!("has the wrong type; expected {expected}"));
    }
    if msg.starts_with("unknown variant") {
        let expected = msg
            .split_once(", expected ")
            .map_or("one of the documented values", |x| x.1);
        return (
            field,
            format!("is not an allowed value; expected {expected}"),
        );
    }
    if msg.starts_with("invalid value") || msg.starts_with("invalid length") {
        let expected = msg
            .rsplit_once(", expected ")
            .map_or("a valid value", |x| x.1);
        return (field, format!("is out of range; expected {expected}"));
    }
    // Our own constructors' rules read "must …" or "is …" and never contain the value.
    if msg.starts_with("must ") || msg.starts_with("is ") {
        return (field, msg.to_owned());
    }
    // Anything else (date and time parsers quote their input): say what is expected.
    (
        field,
        "is not a valid value for this field (see the OpenAPI schema)".to_owned(),
    )
}

/// A numeric id from the path; anything else is 400.
pub struct ApiPath<T>(pub T);

impl<S, T> FromRequestParts<S> for ApiPath<T>
where
    S: Send + Sync,
    T: DeserializeOwned + Send,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        // Segments arrive percent-decoded: `%00` is a NUL by now.
        if let Ok(raw) = axum::extract::RawPathParams::from_request_parts(parts, state).await
            && let Some((name, _)) = raw.iter().find(|(_, v)| !v.chars().all(is_allowed_char))
        {
            return Err(control_character(name.to_owned()));
        }
        axum::extract::Path::<T>::from_request_parts(parts, state)
            .await
            .map(|p| ApiPath(p.0))
            .map_err(|_| {
                ApiError::bad_request("bad_path", "an id in the path is not a valid integer id")
            })
    }
}

/// Query parameters; a bad one is 400 naming it.
pub struct ApiQuery<T>(pub T);

impl<S, T> FromRequestParts<S> for ApiQuery<T>
where
    S: Send + Sync,
    T: DeserializeOwned + Send,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let q = parts.uri.query().unwrap_or("");
        if let Some((name, _)) = form_urlencoded::parse(q.as_bytes())
            .find(|(k, v)| !k.chars().chain(v.chars()).all(is_allowed_char))
        {
            let field = if name.chars().all(is_allowed_char) {
                name.into_owned()
            } else {
                "query".to_owned()
            };
            return Err(control_character(field));
        }
        let de = serde_urlencoded::Deserializer::new(form_urlencoded::parse(q.as_bytes()));
        serde_path_to_error::deserialize(de)
            .map(ApiQuery)
            .map_err(|e| {
                let (field, message) = describe(&path_of(e.path()), &e.inner().to_string());
                ApiError::field(StatusCode::BAD_REQUEST, "bad_query", field, message)
            })
    }
}

/// The authenticated user, from `Authorization: Bearer <token>`; 401 otherwise.
pub struct Auth(pub Actor);

impl FromRequestParts<App> for Auth {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, app: &App) -> Result<Self, Self::Rejection> {
        let token = bearer(&parts.headers).ok_or(ApiError::Domain(DomainError::Unauthenticated))?;
        let actor = app.authenticate(token).await.map_err(ApiError::from)?;
        Ok(Auth(actor.with_request(request_meta(parts))))
    }
}

/// The raw bearer token of a request, if it has one.
pub fn bearer(headers: &axum::http::HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    (scheme.eq_ignore_ascii_case("bearer") && !token.trim().is_empty()).then_some(token.trim())
}

/// The request id (set by the request-id middleware) and the peer address, for the audit.
pub fn request_meta(parts: &Parts) -> circle_app::RequestMeta {
    circle_app::RequestMeta {
        request_id: parts
            .headers
            .get("x-request-id")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned),
        source: parts
            .extensions
            .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
            .map(|c| c.0.ip().to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn type_errors_name_the_field_and_not_the_value() {
        #[derive(serde::Deserialize, Debug)]
        #[allow(dead_code, reason = "only deserialized")]
        struct T {
            size: u32,
        }
        let err = parse_json::<T>(br#"{"size": "Jane Secret"}"#).unwrap_err();
        let ApiError::BadRequest { errors, .. } = err else {
            panic!("expected a field error")
        };
        assert_eq!(errors.0[0].field, "size");
        assert!(!errors.0[0].message.contains("Jane"));
    }

    #[test]
    fn control_characters_are_refused_naming_the_path() {
        #[derive(serde::Deserialize, Debug)]
        #[allow(dead_code, reason = "only deserialized")]
        struct T {
            items: Vec<serde_json::Value>,
        }
        let err =
            parse_json::<T>(br#"{"items": [1, "ok\ttab", {"answer": "a\u0000b"}]}"#).unwrap_err();
        let ApiError::BadRequest { status, errors, .. } = err else {
            panic!("expected a field error")
        };
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(errors.0[0].field, "items/2/answer");
        assert!(parse_json::<T>(br#"{"items": ["line\r\nbreak\ttab"]}"#).is_ok());
        assert!(parse_json::<T>(br#"{"items": ["bell\u0007"]}"#).is_err());
        assert!(parse_json::<T>(br#"{"items": ["c1\u0085"]}"#).is_err());
    }

    #[test]
    fn dates_that_do_not_parse_are_not_quoted() {
        #[derive(serde::Deserialize, Debug)]
        #[allow(dead_code, reason = "only deserialized")]
        struct T {
            on: jiff::civil::Date,
        }
        let err = parse_json::<T>(br#"{"on": "Jane-13-99"}"#).unwrap_err();
        let ApiError::BadRequest { errors, .. } = err else {
            panic!("expected a field error")
        };
        assert_eq!(errors.0[0].field, "on");
        assert!(!errors.0[0].message.contains("Jane"));
    }
}
