//! `JsonBody<T>`: a JSON request body parsed with serde, so that a wrong type or a
//! missing field answers 400 with the path of the field (`steps[1].timeout_secs`).
//! Bodies are read through [`Strict`]: an object is required wherever a struct is
//! expected, and a string holding NUL answers 422 naming the field.

use api_types::message::Message;
use api_types::ErrorBody;
use poem::{Request, RequestBody};
use poem_openapi::payload::{Json, ParsePayload, Payload};
use poem_openapi::registry::{MetaSchemaRef, Registry};
use poem_openapi::types::Type;
use serde::de::DeserializeOwned;

use super::error::ApiError;
use super::strict::{Strict, NUL_MESSAGE};
use crate::state::AppState;

pub struct JsonBody<T>(pub T);

impl<T: Type + Send> Payload for JsonBody<T> {
    const CONTENT_TYPE: &'static str = "application/json; charset=utf-8";

    fn check_content_type(content_type: &str) -> bool {
        matches!(content_type.parse::<mime::Mime>(), Ok(m) if m.type_() == "application"
            && (m.subtype() == "json" || m.suffix().is_some_and(|s| s == "json")))
    }

    fn schema_ref() -> MetaSchemaRef {
        T::schema_ref()
    }

    fn register(registry: &mut Registry) {
        T::register(registry);
    }
}

/// Reads a whole body, refusing more than the configured limit even without Content-Length.
pub async fn read_limited(req: &Request, body: &mut RequestBody) -> poem::Result<Vec<u8>> {
    let limit = req.data::<AppState>().map(|s| s.settings.max_body_bytes).unwrap_or(1024 * 1024);
    let bytes = body.take()?.into_bytes_limit(limit).await.map_err(|e| match e {
        poem::error::ReadBodyError::PayloadTooLarge => {
            poem::Error::from(ApiError::PayloadTooLarge(Json(ErrorBody::new(
                "payload_too_large",
                super::error::say(Message::new("request body is larger than {limit} bytes").arg("limit", limit)),
            ))))
        }
        other => other.into(),
    })?;
    Ok(bytes.to_vec())
}

/// Parses JSON with the path of the first offending field in the error.
pub fn parse_json<T: DeserializeOwned>(data: &[u8]) -> Result<T, ApiError> {
    if data.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::bad_request("invalid_body", "request body is empty; expected a JSON object", None));
    }
    let mut de = serde_json::Deserializer::from_slice(data);
    let value = serde_path_to_error::deserialize(Strict(&mut de)).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        let parent = (!matches!(path.as_str(), "." | "?" | "")).then_some(path);
        let message = inner.to_string();
        if message.starts_with(NUL_MESSAGE) {
            // A NUL in a key is reported at the object holding it (`args.?` → `args`); at
            // the top, as `body`.
            let field = parent
                .map(|p| p.strip_suffix(".?").unwrap_or(&p).to_string())
                .filter(|p| p != "?")
                .unwrap_or_else(|| "body".to_string());
            return crate::error::ServiceError::validation(field, NUL_MESSAGE).into();
        }
        // For a missing field serde points at the object; name the field itself.
        let named = message.strip_prefix("missing field `").and_then(|rest| rest.split('`').next()).map(str::to_string);
        let field = match (parent, named) {
            (Some(p), Some(n)) => Some(format!("{p}.{n}")),
            (None, Some(n)) => Some(n),
            (p, None) => p,
        };
        let message = match inner.classify() {
            serde_json::error::Category::Syntax | serde_json::error::Category::Eof => {
                format!("request body is not valid JSON: {inner}")
            }
            _ => message,
        };
        ApiError::bad_request("invalid_body", message, field)
    })?;
    de.end()
        .map_err(|e| ApiError::bad_request("invalid_body", format!("request body is not valid JSON: {e}"), None))?;
    Ok(value)
}

impl<T: DeserializeOwned + Send> ParsePayload for JsonBody<T> {
    const IS_REQUIRED: bool = true;

    async fn from_request(request: &Request, body: &mut RequestBody) -> poem::Result<Self> {
        let data = read_limited(request, body).await?;
        Ok(JsonBody(parse_json(&data)?))
    }
}

poem_openapi::impl_apirequest_for_payload!(JsonBody<T>, T: Type + DeserializeOwned + Send);

/// A JSON body that may be left out entirely (then `T::default()`), for actions such as
/// `POST /tasks/{id}/approve` whose body only carries an optional comment.
pub struct OptionalJsonBody<T>(pub T);

impl<'a, T: Type + DeserializeOwned + Default + Send> poem_openapi::ApiExtractor<'a> for OptionalJsonBody<T> {
    const TYPES: &'static [poem_openapi::ApiExtractorType] = &[poem_openapi::ApiExtractorType::RequestObject];
    type ParamType = ();
    type ParamRawType = ();

    fn register(registry: &mut Registry) {
        T::register(registry);
    }

    fn request_meta() -> Option<poem_openapi::registry::MetaRequest> {
        Some(poem_openapi::registry::MetaRequest {
            description: None,
            content: vec![poem_openapi::registry::MetaMediaType {
                content_type: "application/json; charset=utf-8",
                schema: T::schema_ref(),
            }],
            required: false,
        })
    }

    async fn from_request(
        request: &'a Request,
        body: &mut RequestBody,
        _param_opts: poem_openapi::ExtractParamOptions<Self::ParamType>,
    ) -> poem::Result<Self> {
        let data = read_limited(request, body).await?;
        if data.iter().all(u8::is_ascii_whitespace) {
            return Ok(OptionalJsonBody(T::default()));
        }
        if let Some(ct) = request.content_type() {
            if !<JsonBody<T> as Payload>::check_content_type(ct) {
                return Err(poem_openapi::error::ContentTypeError::NotSupported { content_type: ct.to_string() }.into());
            }
        }
        Ok(OptionalJsonBody(parse_json(&data)?))
    }
}

/// The query parameter (or `path`) whose decoded text holds NUL, if any: every path and
/// query string is checked once, before routing, so no handler ever sees one.
pub fn nul_in_uri(uri: &poem::http::Uri) -> Option<String> {
    if percent_encoding::percent_decode_str(uri.path()).any(|b| b == 0) {
        return Some("path".to_string());
    }
    form_urlencoded::parse(uri.query().unwrap_or("").as_bytes())
        .find(|(k, v)| k.contains('\0') || v.contains('\0'))
        .map(|(k, _)| if k.contains('\0') { "query".to_string() } else { k.into_owned() })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// serde_json stops at 128 levels; up to there, `Strict` and serde_path_to_error add
    /// frames per level. Measured in a debug build: a quarter of a tokio worker's 2 MiB.
    #[test]
    fn the_deepest_json_fits_in_a_quarter_of_a_worker_stack() {
        let deep = |open: &str, close: &str| format!("{}1{}", open.repeat(127), close.repeat(127)).into_bytes();
        let bodies = [deep("[", "]"), deep("{\"a\":", "}")];
        std::thread::Builder::new()
            .stack_size(512 * 1024)
            .spawn(move || {
                for body in bodies {
                    if let Err(e) = parse_json::<serde_json::Value>(&body) {
                        panic!("{e:?}");
                    }
                    assert!(parse_json::<api_types::CommandInput>(&body).is_err());
                }
            })
            .unwrap()
            .join()
            .unwrap();
    }
}
