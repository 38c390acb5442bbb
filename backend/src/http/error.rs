//! Maps service errors to HTTP once, and turns every other failure into the same JSON body.

use api_types::message::Message;
use api_types::ErrorBody;
use poem::http::{header, HeaderValue, Method, StatusCode};
use poem::{Endpoint, IntoResponse, Request, Response};
use poem_openapi::payload::Json;
use poem_openapi::ApiResponse;

use super::spec::{allow_header, Spec};
use crate::error::ServiceError;

#[derive(Debug, ApiResponse)]
pub enum ApiError {
    /// The request is malformed: unreadable JSON, a wrong type, a bad query parameter.
    #[oai(status = 400)]
    BadRequest(Json<ErrorBody>),
    /// No valid credentials.
    #[oai(status = 401)]
    Unauthorized(Json<ErrorBody>),
    /// Valid credentials, but not allowed to do this.
    #[oai(status = 403)]
    Forbidden(Json<ErrorBody>),
    #[oai(status = 404)]
    NotFound(Json<ErrorBody>),
    /// The object is not in a state that allows this (the body says which it is in).
    #[oai(status = 409)]
    Conflict(Json<ErrorBody>),
    #[oai(status = 413)]
    PayloadTooLarge(Json<ErrorBody>),
    /// A body sent with a content type other than JSON (or with none).
    #[oai(status = 415)]
    UnsupportedMediaType(Json<ErrorBody>),
    /// Well-formed but invalid input; `field` names the culprit.
    #[oai(status = 422)]
    Unprocessable(Json<ErrorBody>),
    #[oai(status = 429)]
    TooManyRequests(Json<ErrorBody>),
    #[oai(status = 500)]
    Internal(Json<ErrorBody>),
}

pub type ApiResult<T> = Result<T, ApiError>;

tokio::task_local! {
    /// The language of the request being answered (`None`: English).
    static LOCALE: Option<&'static str>;
}

/// Answers with `answer` in the first language of `accept_language` that the message
/// catalogues have (validation messages; see [`api_types::message`]).
pub async fn in_language<T>(accept_language: Option<&str>, answer: impl std::future::Future<Output = T>) -> T {
    LOCALE.scope(accept_language.and_then(api_types::message::locale_for), answer).await
}

fn locale() -> Option<&'static str> {
    LOCALE.try_with(|l| *l).ok().flatten()
}

/// `message` in the language of the request being answered.
pub fn say(message: Message) -> String {
    message.text_in(locale())
}

impl ApiError {
    pub fn bad_request(code: &str, message: impl Into<String>, field: Option<String>) -> Self {
        ApiError::BadRequest(Json(ErrorBody { field, ..ErrorBody::new(code, message) }))
    }
}

impl From<ServiceError> for ApiError {
    fn from(e: ServiceError) -> Self {
        let message = e.message().text_in(locale());
        match e {
            ServiceError::NotFound { .. } => ApiError::NotFound(Json(ErrorBody::new("not_found", message))),
            ServiceError::Validation(f) => {
                ApiError::Unprocessable(Json(ErrorBody::new("invalid", message).with_field(f.field)))
            }
            ServiceError::Conflict(_) => ApiError::Conflict(Json(ErrorBody::new("conflict", message))),
            ServiceError::InvalidTransition { from, .. } => ApiError::Conflict(Json(ErrorBody {
                current_status: Some(from.as_str().to_string()),
                ..ErrorBody::new("invalid_transition", message)
            })),
            ServiceError::Unauthorized(_) => ApiError::Unauthorized(Json(ErrorBody::new("unauthorized", message))),
            ServiceError::Forbidden(_) => ApiError::Forbidden(Json(ErrorBody::new("forbidden", message))),
            ServiceError::RateLimited { .. } => {
                ApiError::TooManyRequests(Json(ErrorBody::new("rate_limited", message)))
            }
            ServiceError::Busy(_) => ApiError::TooManyRequests(Json(ErrorBody::new("busy", message))),
            ServiceError::Internal(cause) => {
                tracing::error!(error = ?cause, "internal error");
                ApiError::Internal(Json(ErrorBody::new("internal", message)))
            }
        }
    }
}

/// The stable `code` for a status that did not come from a service error.
fn code_for(status: StatusCode) -> &'static str {
    match status.as_u16() {
        400 => "bad_request",
        401 => "unauthorized",
        403 => "forbidden",
        404 => "not_found",
        405 => "method_not_allowed",
        409 => "conflict",
        413 => "payload_too_large",
        415 => "unsupported_media_type",
        422 => "invalid",
        429 => "rate_limited",
        _ if status.is_server_error() => "internal",
        _ => "error",
    }
}

pub fn json_error(status: StatusCode, message: impl Into<String>) -> Response {
    let body = ErrorBody::new(code_for(status), message);
    Response::builder()
        .status(status)
        .content_type("application/json; charset=utf-8")
        .body(serde_json::to_string(&body).expect("plain data"))
}

/// Wraps the API so that every error, including those raised by poem itself (unknown
/// route, bad path parameter, missing content type, size limit), answers in JSON.
pub async fn json_errors<E: Endpoint>(ep: E, req: Request, spec: &Spec) -> poem::Result<Response> {
    let path = req.uri().path().to_string();
    match ep.call(req).await {
        Ok(resp) => Ok(resp.into_response()),
        Err(err) if err.is_from_response() => Ok(err.into_response()),
        Err(err) => {
            let status = err.status();
            // The framework's own answers, in the request's language like the rest (what
            // the framework says of the detail stays as it wrote it).
            if let Some(p) = err.downcast_ref::<poem_openapi::error::ParseParamError>() {
                let message =
                    say(Message::new("parameter {name}: {reason}").arg("name", p.name).arg("reason", &p.reason));
                let body = ErrorBody::new("bad_request", message).with_field(p.name);
                return Ok(ApiError::BadRequest(Json(body)).into_response());
            }
            if status.is_server_error() {
                tracing::error!(error = %err, "request failed");
                return Ok(json_error(status, "internal error"));
            }
            if status == StatusCode::METHOD_NOT_ALLOWED {
                // RFC 9110: a 405 says which methods the resource does allow.
                let allowed = if crate::codo::is_codo_path(&path) {
                    Some(vec![Method::GET, Method::HEAD, Method::POST])
                } else {
                    spec.allowed(&path)
                };
                if let Some(methods) = allowed {
                    let allow = allow_header(&methods);
                    let mut resp = json_error(
                        status,
                        say(Message::new("method not allowed on this endpoint; use {allow}").arg("allow", &allow)),
                    );
                    if let Ok(v) = HeaderValue::from_str(&allow) {
                        resp.headers_mut().insert(header::ALLOW, v);
                    }
                    return Ok(resp);
                }
            }
            let message = say(match status {
                StatusCode::NOT_FOUND | StatusCode::METHOD_NOT_ALLOWED => Message::new("no such endpoint"),
                StatusCode::UNAUTHORIZED => Message::new("authentication required: send Authorization: Bearer <token>"),
                StatusCode::PAYLOAD_TOO_LARGE => Message::new("request body is too large"),
                StatusCode::UNSUPPORTED_MEDIA_TYPE => {
                    Message::new("this content type is not taken here: {detail}").arg("detail", err.to_string())
                }
                _ => Message::new("the request could not be read: {detail}").arg("detail", err.to_string()),
            });
            let status = if status == StatusCode::METHOD_NOT_ALLOWED { StatusCode::NOT_FOUND } else { status };
            Ok(json_error(status, message))
        }
    }
}
