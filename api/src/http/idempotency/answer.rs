//! An answer as stored and replayed: captured from the response a route built, sent back
//! byte for byte, and documented in the spec as the route's own responses.

use std::marker::PhantomData;

use poem::http::{HeaderValue, StatusCode, header};
use poem::{IntoResponse, Response};
use poem_openapi::ApiResponse;
use poem_openapi::registry::{MetaHeader, MetaResponses, MetaSchema, MetaSchemaRef, Registry};
use serde_json::Value;

use crate::ops::idempotency::StoredAnswer;

/// The response header that marks a replayed answer.
pub const REPLAYED_HEADER: &str = "Idempotent-Replayed";

/// Whether an answer with this status is stored for the key: the outcomes of the business
/// rules (2xx, 404, 409, 412) are, so a retry cannot apply a refused write later. A 400 (the
/// request was malformed), 401 or 5xx (nothing was decided) are not: the client fixes the
/// request, or just retries, with the same key.
pub fn is_stored(status: StatusCode) -> bool {
    status.is_success()
        || matches!(
            status,
            StatusCode::NOT_FOUND | StatusCode::CONFLICT | StatusCode::PRECONDITION_FAILED
        )
}

/// Reads a response built on the writer thread into a [`StoredAnswer`].
///
/// The body is read with `block_on`: the writer thread is not async, and a body our routes
/// build (JSON or problem JSON, or none) is already in memory, so the future is ready at once.
pub fn capture(response: Response) -> StoredAnswer {
    let text = |name: header::HeaderName| {
        response
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let status = response.status().as_u16();
    let content_type = text(header::CONTENT_TYPE);
    let location = text(header::LOCATION);
    let etag = text(header::ETAG);
    let body = futures::executor::block_on(response.into_body().into_vec()).unwrap_or_default();
    StoredAnswer {
        status,
        content_type,
        location,
        etag,
        body,
    }
}

/// Rebuilds the response of a stored answer; `replayed` adds `Idempotent-Replayed: true`.
fn rebuild(answer: StoredAnswer, replayed: bool) -> Response {
    let mut builder = Response::builder()
        .status(StatusCode::from_u16(answer.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR));
    for (name, value) in [
        (header::CONTENT_TYPE, answer.content_type),
        (header::LOCATION, answer.location),
        (header::ETAG, answer.etag),
    ] {
        if let Some(value) = value.and_then(|v| HeaderValue::from_str(&v).ok()) {
            builder = builder.header(name, value);
        }
    }
    if replayed {
        builder = builder.header(REPLAYED_HEADER, "true");
    }
    builder.body(answer.body)
}

/// A write's success answer `R`, either as the route built it (no key) or as stored for its
/// key (first time or replay). The spec shows `R`'s responses, each with the optional
/// `Idempotent-Replayed` header.
pub struct Replayable<R> {
    response: Response,
    _answer: PhantomData<fn() -> R>,
}

impl<R: IntoResponse> Replayable<R> {
    /// The answer as the route built it.
    pub fn built(answer: R) -> Self {
        Self {
            response: answer.into_response(),
            _answer: PhantomData,
        }
    }

    /// A stored answer, sent the first time (`replayed = false`) or again.
    pub(super) fn stored(answer: StoredAnswer, replayed: bool) -> Self {
        Self {
            response: rebuild(answer, replayed),
            _answer: PhantomData,
        }
    }
}

impl<R> IntoResponse for Replayable<R> {
    fn into_response(self) -> Response {
        self.response
    }
}

/// The `Idempotent-Replayed` header as the spec lists it on a write's stored answers.
pub fn replayed_header_meta() -> MetaHeader {
    let mut schema = MetaSchema::new("string");
    schema.enum_items = vec![Value::from("true")];
    MetaHeader {
        name: REPLAYED_HEADER.to_owned(),
        description: Some(
            "`true` when this is the stored answer to an earlier request with the same \
             `Idempotency-Key`"
                .to_owned(),
        ),
        required: false,
        deprecated: false,
        schema: MetaSchemaRef::Inline(Box::new(schema)),
    }
}

impl<R: ApiResponse> ApiResponse for Replayable<R> {
    fn meta() -> MetaResponses {
        let mut meta = R::meta();
        for response in &mut meta.responses {
            response.headers.push(replayed_header_meta());
        }
        meta
    }

    fn register(registry: &mut Registry) {
        R::register(registry);
    }
}
