//! Errors become responses here, and only here: the one error type of the HTTP edge
//! ([`ApiError`]) and its RFC 9457 problem body, the mapping of an inventory operation's
//! [`OpError`] to a status, and the translation of the framework's errors (poem-openapi's parse
//! errors, unknown routes, wrong methods, bare 4xx/5xx) into the same body.
//!
//! Every 4xx/5xx answer is `application/problem+json` with `type`, `title`, `status`, `detail`
//! and a stable `code`; validation failures add `errors: [{field, message}]`. Internal errors
//! (storage, bugs) become a 500 with a generic detail: the cause is logged once, here, inside
//! the request's span (so with its request id), never sent to the client.

use poem::http::{HeaderValue, StatusCode};
use poem::{IntoResponse, Response};
use poem_openapi::Object;
use poem_openapi::error::{
    AuthorizationError, ContentTypeError, ParseParamError, ParsePathError, ParseRequestPayloadError,
};
use poem_openapi::types::ToJSON;

use super::allow::AllowIndex;
use super::models::{ItemProblem, UnfulfilledLine};
use super::reasons::human_reason;
use crate::ops::OpError;

/// The problem body (RFC 9457) every error answer carries.
#[derive(Debug, Clone, Object)]
#[oai(example)]
pub struct Problem {
    /// A URI naming the kind of problem (`/problems/<code in kebab case>`).
    #[oai(rename = "type")]
    pub kind: String,
    /// Short summary of the kind of problem.
    pub title: String,
    /// The HTTP status.
    pub status: u16,
    /// What went wrong in this request.
    pub detail: String,
    /// Stable machine-readable code, e.g. `INSUFFICIENT_STOCK`.
    pub code: String,
    /// For `VALIDATION_FAILED`: each offending field and why.
    #[oai(skip_serializing_if_is_none)]
    pub errors: Option<Vec<FieldError>>,
    /// For `INSUFFICIENT_STOCK` from `POST /holds`: every line that cannot be reserved.
    #[oai(skip_serializing_if_is_none)]
    pub lines: Option<Vec<UnfulfilledLine>>,
    /// For `BULK_ITEMS_REFUSED` from `POST /stock/bulk`: every refused item, with its own
    /// status and code.
    #[oai(skip_serializing_if_is_none)]
    pub items: Option<Vec<ItemProblem>>,
}

/// One invalid input field.
#[derive(Debug, Clone, PartialEq, Eq, Object)]
pub struct FieldError {
    /// The field (body property, query or path parameter) name.
    pub field: String,
    /// Why it was refused.
    pub message: String,
}

impl FieldError {
    /// A field error.
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }
}

impl poem_openapi::types::Example for Problem {
    fn example() -> Self {
        ApiError::Validation(vec![
            FieldError::new("quantity", "must be between 1 and 1000000000"),
            FieldError::new("store_id", super::types::STORE_ID_MESSAGE),
        ])
        .problem()
    }
}

/// Everything an API operation can answer instead of success.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// 400 `VALIDATION_FAILED`: one entry per offending field.
    #[error("validation failed")]
    Validation(Vec<FieldError>),
    /// 400 `MALFORMED_JSON`: the body is not JSON.
    #[error("malformed JSON: {0}")]
    MalformedJson(String),
    /// 401 `UNAUTHORIZED`.
    #[error("missing or invalid API key")]
    Unauthorized,
    /// An inventory operation's refusal (404, 409, 412 with the operation's code).
    #[error("{0}")]
    Refused(OpError),
    /// Any other client error status with its code (404 route, 405, 413, 415 ...).
    #[error("{2}")]
    Other(StatusCode, &'static str, String),
    /// 503 `SERVICE_UNAVAILABLE`.
    #[error("{0}")]
    Unavailable(String),
    /// 500 `INTERNAL_ERROR`. The cause is logged, never returned.
    #[error("internal error: {0:#}")]
    Internal(#[from] anyhow::Error),
}

/// The one mapping of operation errors to HTTP: storage failures become a generic 500 (the
/// cause is logged by the middleware), the rest keep their own code and message.
impl From<OpError> for ApiError {
    fn from(e: OpError) -> Self {
        match e {
            OpError::Storage(cause) => Self::Internal(cause),
            OpError::ShuttingDown | OpError::Unavailable => Self::Unavailable(e.to_string()),
            refused => Self::Refused(refused),
        }
    }
}

impl From<sqlx::Error> for ApiError {
    fn from(e: sqlx::Error) -> Self {
        OpError::from(e).into()
    }
}

impl From<rusqlite::Error> for ApiError {
    fn from(e: rusqlite::Error) -> Self {
        OpError::from(e).into()
    }
}

impl ApiError {
    /// A single-field validation failure.
    pub fn field(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::Validation(vec![FieldError::new(field, message)])
    }

    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::Validation(_) | Self::MalformedJson(_) => StatusCode::BAD_REQUEST,
            Self::Unauthorized => StatusCode::UNAUTHORIZED,
            Self::Refused(e) => refused_status(e),
            Self::Other(status, ..) => *status,
            Self::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The stable code.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Validation(_) => "VALIDATION_FAILED",
            Self::MalformedJson(_) => "MALFORMED_JSON",
            Self::Unauthorized => "UNAUTHORIZED",
            Self::Refused(e) => e.code(),
            Self::Other(_, code, _) => code,
            Self::Unavailable(_) => "SERVICE_UNAVAILABLE",
            Self::Internal(_) => "INTERNAL_ERROR",
        }
    }

    /// The problem body sent to the client.
    pub fn problem(&self) -> Problem {
        let status = self.status();
        let code = self.code();
        let detail = match self {
            Self::Validation(errors) => {
                let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
                format!("invalid input: {}", fields.join(", "))
            }
            Self::Internal(_) => {
                "the server could not complete the request; it was logged with the request id"
                    .to_owned()
            }
            other => other.to_string(),
        };
        Problem {
            kind: format!("/problems/{}", code.to_ascii_lowercase().replace('_', "-")),
            title: status.canonical_reason().unwrap_or("Error").to_owned(),
            status: status.as_u16(),
            detail,
            code: code.to_owned(),
            errors: match self {
                Self::Validation(errors) => Some(errors.clone()),
                _ => None,
            },
            lines: match self {
                Self::Refused(OpError::ShortLines(lines)) => {
                    Some(lines.iter().cloned().map(UnfulfilledLine::from).collect())
                }
                _ => None,
            },
            items: match self {
                Self::Refused(OpError::BulkRefused(refused)) => Some(
                    refused
                        .iter()
                        .map(|r| ItemProblem {
                            index: r.index as i64,
                            product_id: r.product_id.clone(),
                            store_id: r.store_id.clone(),
                            status: refused_status(&r.error).as_u16(),
                            code: r.error.code().to_owned(),
                            detail: r.error.to_string(),
                        })
                        .collect(),
                ),
                _ => None,
            },
        }
    }
}

/// The status of an operation's refusal. Exhaustive on purpose: a new refusal must choose its
/// status here rather than fall into a default.
pub fn refused_status(e: &OpError) -> StatusCode {
    match e {
        OpError::ProductNotFound(_)
        | OpError::SkuNotFound(_)
        | OpError::StockNotFound { .. }
        | OpError::ReservationNotFound(_)
        | OpError::HoldNotFound(_) => StatusCode::NOT_FOUND,
        OpError::SkuTaken(_)
        | OpError::ProductInUse(_)
        | OpError::StockExists { .. }
        | OpError::QuantityBelowReserved { .. }
        | OpError::InsufficientStock { .. }
        | OpError::NotPending { .. }
        | OpError::HoldNotPending { .. }
        | OpError::HoldExpired { .. }
        | OpError::ShortLines(_)
        | OpError::LifetimeExceeded { .. }
        | OpError::InHold { .. }
        | OpError::BulkRefused(_)
        | OpError::ReservationExpired { .. }
        | OpError::OutOfRange { .. } => StatusCode::CONFLICT,
        OpError::VersionMismatch { .. } => StatusCode::PRECONDITION_FAILED,
        // The body is well-formed and each field valid on its own; the two fields together
        // ask for something that cannot be done. Not a 409: no state would make it possible.
        OpError::SameStore { .. } => StatusCode::UNPROCESSABLE_ENTITY,
        OpError::ShuttingDown | OpError::Unavailable | OpError::QueryTimeout => {
            StatusCode::SERVICE_UNAVAILABLE
        }
        OpError::Storage(_) => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

/// Renders a problem body as an `application/problem+json` response.
pub fn problem_response(problem: &Problem) -> Response {
    let status = StatusCode::from_u16(problem.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let body = serde_json::to_vec(&problem.to_json()).unwrap_or_default();
    let mut builder = Response::builder()
        .status(status)
        .content_type("application/problem+json");
    if status == StatusCode::UNAUTHORIZED {
        builder = builder.header("www-authenticate", super::auth::CHALLENGE);
    }
    builder.body(body)
}

impl poem::error::ResponseError for ApiError {
    fn status(&self) -> StatusCode {
        ApiError::status(self)
    }

    fn as_response(&self) -> Response {
        problem_response(&self.problem())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        problem_response(&self.problem())
    }
}

/// Result of a helper at the HTTP edge.
pub type ApiResult<T> = Result<T, ApiError>;

/// Any 4xx/5xx that is not yet a problem body becomes one (panics caught by poem, limits).
pub(super) fn ensure_problem(resp: Response) -> Response {
    let status = resp.status();
    let is_problem = resp
        .content_type()
        .is_some_and(|ct| ct.starts_with("application/problem+json"));
    if status.as_u16() < 400 || is_problem {
        return resp;
    }
    problem_response(&status_problem(status, String::new()).problem())
}

fn status_problem(status: StatusCode, detail: String) -> ApiError {
    let code = match status {
        StatusCode::NOT_FOUND => "NOT_FOUND",
        StatusCode::METHOD_NOT_ALLOWED => "METHOD_NOT_ALLOWED",
        StatusCode::PAYLOAD_TOO_LARGE => "PAYLOAD_TOO_LARGE",
        StatusCode::UNSUPPORTED_MEDIA_TYPE => "UNSUPPORTED_MEDIA_TYPE",
        StatusCode::UNAUTHORIZED => return ApiError::Unauthorized,
        s if s.is_server_error() => return ApiError::Internal(anyhow::anyhow!("{s}: {detail}")),
        _ => "BAD_REQUEST",
    };
    let detail = if detail.is_empty() {
        status.canonical_reason().unwrap_or("error").to_lowercase()
    } else {
        detail
    };
    ApiError::Other(status, code, detail)
}

/// Turns an error that left an endpoint (ours, poem-openapi's parse errors, unknown routes,
/// wrong methods) into its problem response; internal errors are logged here, once.
pub(super) fn error_response(
    err: poem::Error,
    method: &str,
    path: &str,
    allow: &AllowIndex,
) -> Response {
    let api_error = if let Some(e) = err.downcast_ref::<ApiError>() {
        match e {
            ApiError::Internal(cause) => {
                tracing::error!(error = format!("{cause:#}"), "internal error");
                return problem_response(&e.problem());
            }
            _ => return problem_response(&e.problem()),
        }
    } else if let Some(e) = err.downcast_ref::<ParseParamError>() {
        ApiError::Validation(vec![FieldError::new(e.name, human_reason(&e.reason))])
    } else if let Some(e) = err.downcast_ref::<ParsePathError>() {
        let name = e
            .name
            .strip_prefix("param")
            .and_then(|n| n.parse().ok())
            .and_then(|n| allow.path_param_name(path, n))
            .unwrap_or_else(|| e.name.to_owned());
        ApiError::Validation(vec![FieldError::new(name, human_reason(&e.reason))])
    } else if let Some(e) = err.downcast_ref::<ParseRequestPayloadError>() {
        ApiError::MalformedJson(e.reason.clone())
    } else if err.is::<AuthorizationError>() {
        ApiError::Unauthorized
    } else if let Some(e) = err.downcast_ref::<ContentTypeError>() {
        ApiError::Other(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "UNSUPPORTED_MEDIA_TYPE",
            e.to_string(),
        )
    } else {
        let status = err.status();
        let detail = match status {
            StatusCode::NOT_FOUND => format!("no route for {method} {path}"),
            StatusCode::METHOD_NOT_ALLOWED => format!("{method} is not allowed on {path}"),
            s if s.is_server_error() => err.to_string(),
            _ => err.to_string(),
        };
        status_problem(status, detail)
    };
    if let ApiError::Internal(cause) = &api_error {
        tracing::error!(error = format!("{cause:#}"), "internal error");
    }
    let mut response = problem_response(&api_error.problem());
    if api_error.status() == StatusCode::METHOD_NOT_ALLOWED
        && let Some(methods) = allow.allowed(path)
        && let Ok(value) = HeaderValue::from_str(&methods)
    {
        response.headers_mut().insert("allow", value);
    }
    response
}
