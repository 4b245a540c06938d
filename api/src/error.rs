//! The one error type of the HTTP edge and its RFC 9457 problem body, and the one place an
//! inventory operation's [`OpError`] becomes a status.
//!
//! Every 4xx/5xx answer is `application/problem+json` with `type`, `title`, `status`, `detail`
//! and a stable `code`; validation failures add `errors: [{field, message}]`. Internal errors
//! (storage, bugs) become a 500 with a generic detail: the cause is logged once, with the
//! request id, by the middleware in [`crate::http`], never sent to the client.

use poem::http::StatusCode;
use poem::{IntoResponse, Response};
use poem_openapi::registry::{MetaHeader, MetaMediaType, MetaResponse, MetaResponses, Registry};
use poem_openapi::types::{ToJSON, Type};
use poem_openapi::{ApiResponse, Object};

use crate::http::models::{ItemProblem, UnfulfilledLine};
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
            FieldError::new("store_id", crate::http::types::STORE_ID_MESSAGE),
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
            OpError::ShuttingDown => Self::Unavailable(e.to_string()),
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
        OpError::ShuttingDown | OpError::QueryTimeout => StatusCode::SERVICE_UNAVAILABLE,
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
        builder = builder.header("www-authenticate", crate::http::auth::CHALLENGE);
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

/// Which error statuses an operation can answer (STYLE 6): the spec lists exactly these, so a
/// generated client and a fuzzer know every answer. A marker type per kind of operation.
pub trait Statuses: Send + Sync + 'static {
    /// The statuses, ascending.
    const LIST: &'static [u16];
    /// A read under the time budget, whose 503 is `QUERY_TIMEOUT`.
    const READ: bool = false;

    /// The spec's description of `status` for this kind of operation.
    fn describe(status: u16) -> &'static str {
        describe(status, Self::READ)
    }
}

macro_rules! statuses {
    ($($(#[$meta:meta])* $name:ident = [$($status:literal),+] $($read:ident)?;)+) => {
        $(
            $(#[$meta])*
            pub struct $name;
            impl Statuses for $name {
                const LIST: &'static [u16] = &[$($status),+];
                $(const READ: bool = statuses!(@$read);)?
            }
        )+
    };
    (@read) => { true };
}

/// The markers of [`Statuses`].
pub mod statuses {
    use super::Statuses;

    statuses! {
        /// `GET /health`: the database does not answer.
        Health = [503];
        /// A public read by key: bad key, not found, storage failure, over its time budget.
        PublicGet = [400, 404, 500, 503] read;
        /// A public list with query parameters.
        PublicList = [400, 500, 503] read;
        /// An authenticated read without parameters that can fail.
        Read = [401, 500, 503] read;
        /// An authenticated read with parameters to validate.
        ReadParams = [400, 401, 500, 503] read;
        /// An authenticated read with parameters of one thing by key.
        ReadParamsOne = [400, 401, 404, 500, 503] read;
        /// A write with a body that may meet a conflict.
        WriteBody = [400, 401, 404, 409, 413, 415, 422, 500, 503];
        /// A write with a body that checks `If-Match`.
        WriteBodyIfMatch = [400, 401, 404, 409, 412, 413, 415, 422, 500, 503];
        /// A write with a body that creates (no 404).
        CreateBody = [400, 401, 409, 413, 415, 422, 500, 503];
        /// A write without a body (400 only for a malformed `Idempotency-Key`).
        WriteNoBody = [400, 401, 404, 409, 422, 500, 503];
    }

    /// `POST /stock/transfer`: a write with a body whose 422 also means `SAME_STORE`.
    pub struct Transfer;

    impl Statuses for Transfer {
        const LIST: &'static [u16] = WriteBody::LIST;

        fn describe(status: u16) -> &'static str {
            match status {
                422 => {
                    "`from_store_id` and `to_store_id` name the same store (`SAME_STORE`), or \
                     the `Idempotency-Key` was used for another request: another method, path \
                     or body (`IDEMPOTENCY_KEY_REUSED`)"
                }
                _ => super::describe(status, Self::READ),
            }
        }
    }
}

fn describe(status: u16, read: bool) -> &'static str {
    match status {
        503 if read => {
            "The read ran past its time budget, `DB_READ_TIMEOUT`, or found no read connection \
             within it (`QUERY_TIMEOUT`): retry later or narrow the request"
        }
        400 => {
            "Invalid input (`VALIDATION_FAILED` naming each field, `MALFORMED_JSON`; \
             `INVALID_CURSOR` on a paged list)"
        }
        401 => "Missing, unknown or repeated `X-API-Key` (`UNAUTHORIZED`)",
        404 => {
            "Not found (`PRODUCT_NOT_FOUND`, `STOCK_NOT_FOUND`, `RESERVATION_NOT_FOUND`, \
             `HOLD_NOT_FOUND`)"
        }
        409 => "Conflict with the current state (see the `code`)",
        412 => "`If-Match` names an old version (`VERSION_MISMATCH`)",
        413 => "The body is larger than 1 MiB (`PAYLOAD_TOO_LARGE`)",
        415 => "The body is not JSON (`UNSUPPORTED_MEDIA_TYPE`)",
        422 => {
            "The `Idempotency-Key` was used for another request: another method, path or body \
             (`IDEMPOTENCY_KEY_REUSED`)"
        }
        500 => "Internal error (`INTERNAL_ERROR`); details are in the server log",
        503 => {
            "The database does not answer, or the server is shutting down (`SERVICE_UNAVAILABLE`)"
        }
        _ => "Error",
    }
}

/// An operation's error answer: an [`ApiError`] whose possible statuses `S` the spec lists.
pub struct Fail<S>(pub ApiError, std::marker::PhantomData<fn() -> S>);

impl<S> std::fmt::Debug for Fail<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl<S> From<ApiError> for Fail<S> {
    fn from(e: ApiError) -> Self {
        Self(e, std::marker::PhantomData)
    }
}

impl<S> From<OpError> for Fail<S> {
    fn from(e: OpError) -> Self {
        ApiError::from(e).into()
    }
}

impl<S> From<Fail<S>> for poem::Error {
    fn from(f: Fail<S>) -> Self {
        // The middleware finds the ApiError inside and renders the problem body.
        poem::Error::from(f.0)
    }
}

impl<S> IntoResponse for Fail<S> {
    fn into_response(self) -> Response {
        self.0.into_response()
    }
}

impl<S: Statuses> ApiResponse for Fail<S> {
    fn meta() -> MetaResponses {
        // The statuses of a route that takes `Idempotency-Key` list 422; its stored refusals
        // (404, 409, 412) may then come back replayed, with `Idempotent-Replayed`.
        let is_idempotent_write = S::LIST.contains(&422);
        let is_stored = |status: u16| {
            StatusCode::from_u16(status).is_ok_and(crate::http::idempotency::is_stored)
        };
        MetaResponses {
            responses: S::LIST
                .iter()
                .map(|status| MetaResponse {
                    description: S::describe(*status),
                    status: Some(*status),
                    status_range: None,
                    content: vec![MetaMediaType {
                        content_type: "application/problem+json",
                        schema: Problem::schema_ref(),
                    }],
                    headers: if *status == 401 {
                        vec![MetaHeader {
                            name: "WWW-Authenticate".to_owned(),
                            description: Some(format!(
                                "The challenge: `{}`",
                                crate::http::auth::CHALLENGE
                            )),
                            required: true,
                            deprecated: false,
                            schema: String::schema_ref(),
                        }]
                    } else if is_idempotent_write && is_stored(*status) {
                        vec![crate::http::idempotency::replayed_header_meta()]
                    } else {
                        vec![]
                    },
                })
                .collect(),
        }
    }

    fn register(registry: &mut Registry) {
        Problem::register(registry);
    }
}

/// Result of a helper at the HTTP edge.
pub type ApiResult<T> = Result<T, ApiError>;

/// Result of an API operation whose error statuses are `S`.
pub type Answer<T, S> = Result<T, Fail<S>>;
