//! Which error statuses each operation can answer, for the spec (STYLE 6): a marker type per
//! kind of operation ([`Statuses`]), and [`Fail`], the error half of an operation's
//! [`Answer`], whose spec lists exactly its marker's statuses with their descriptions.

use poem::IntoResponse;
use poem::Response;
use poem::http::StatusCode;
use poem_openapi::ApiResponse;
use poem_openapi::registry::{MetaHeader, MetaMediaType, MetaResponse, MetaResponses, Registry};
use poem_openapi::types::Type;

use super::error::{ApiError, Problem};
use crate::ops::OpError;

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

// The markers of [`Statuses`].
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
            _ => describe(status, Self::READ),
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
        let is_stored =
            |status: u16| StatusCode::from_u16(status).is_ok_and(super::idempotency::is_stored);
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
                                super::auth::CHALLENGE
                            )),
                            required: true,
                            deprecated: false,
                            schema: String::schema_ref(),
                        }]
                    } else if is_idempotent_write && is_stored(*status) {
                        vec![super::idempotency::replayed_header_meta()]
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

/// Result of an API operation whose error statuses are `S`.
pub type Answer<T, S> = Result<T, Fail<S>>;
