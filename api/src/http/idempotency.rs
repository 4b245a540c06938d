//! Safe retries with `Idempotency-Key` (issue 11, after the IETF draft "The Idempotency-Key
//! HTTP Header Field"): every state-changing route runs its write through
//! [`IdempotentWrite::write`], which stores the answer with the change and replays it.
//!
//! How it works, on the writer thread, inside the write's own savepoint of the group commit:
//! 1. look the key up (scoped to the API key's *name*); a live record with the same
//!    fingerprint is replayed as stored, one with another fingerprint is 422
//!    `IDEMPOTENCY_KEY_REUSED`; nothing else runs;
//! 2. otherwise run the operation in a nested savepoint ([`crate::writer::nested`]), so a
//!    refused operation (404, 409, 412) rolls back its own changes but not the record (an
//!    operation that refuses before writing runs without one, [`crate::writer::contained`]);
//! 3. build the route's answer from the outcome, capture it (status, body, `Location`,
//!    `ETag`), and store it with the key when [`is_stored`] says so (not a 400 or a
//!    5xx). It commits with the change or not at all.
//!
//! Because every write goes through the one writer in order, a duplicate sent while the first
//! is still in flight is looked up after it, in the same transaction or a later one, and gets
//! its answer: concurrent requests with one key apply once and all get the same answer, never
//! a 409 `IDEMPOTENCY_KEY_IN_USE` (with several replicas on PostgreSQL, the key row's lock
//! will give the same: what its unit of work must do is on [`crate::store::KeyTx`]). A caller
//! that hangs up after sending does not stop its write: once handed to the writer it commits,
//! record included, so the retry replays it.
//!
//! What makes two requests "the same" (the fingerprint): the method, the path, and the body
//! *as parsed*: the route's body type serialised again, so whitespace, key order, a field left
//! out or sent as `null`, and unknown fields (which the route ignores) do not matter, while any
//! value that changes what the write does does.
//!
//! **How a write route adopts it** (the route keeps its operation and its typed answer):
//! 1. take the header: `#[oai(name = "Idempotency-Key")] idempotency: Idempotency` (and keep
//!    the `auth: ApiKeyAuth` it has);
//! 2. replace `self.0.writer.write(declared, work).await` and the code that builds the answer
//!    with `idempotency.with_body(&auth, &body.0).write(&self.0, declared, work, render)
//!    .await?` (or `without_body(&auth)`), where `render` turns the `OpResult` into the answer
//!    (write both closures inline in the call, so their argument types are inferred);
//! 3. answer `Answer<Replayable<R>, S>` with an `S` of [`crate::http::statuses`] listing 422
//!    (every write marker does).
//!
//! `render` may run on the writer thread and more than once (a PostgreSQL batch that is
//! rerun runs its jobs again), and its batch may still fail after it ran: it must only build
//! the answer. What is counted per outcome (`reservations_total`) is named with
//! [`IdempotentWrite::counted_as`] and recorded here once the write's fate is known.

mod answer;
mod key;

use inventory_shared::time;
use poem::IntoResponse;
use poem::http::StatusCode;
use poem_openapi::types::ToJSON;
use sha2::{Digest, Sha256};

use super::auth::ApiKeyAuth;
use super::error::{ApiError, ApiResult};
use crate::ops::idempotency::{self as records, KeyRecord, KeyScope, StoredAnswer};
use crate::ops::{OpError, OpResult};
use crate::state::AppState;
use crate::store::{Declared, Tx};
use crate::writer::{Containment, contained};

pub use answer::{REPLAYED_HEADER, Replayable, is_stored, replayed_header_meta};
pub use key::{HEADER, Idempotency, IdempotencyKey};

impl Idempotency {
    /// Binds the key to a request with a JSON body of type `T`.
    pub fn with_body<T: ToJSON>(self, caller: &ApiKeyAuth, body: &T) -> IdempotentWrite {
        let body = body
            .to_json()
            .and_then(|v| serde_json::to_vec(&v).ok())
            .unwrap_or_default();
        self.bind(caller, &body)
    }

    /// Binds the key to a request without a body.
    pub fn without_body(self, caller: &ApiKeyAuth) -> IdempotentWrite {
        self.bind(caller, b"")
    }

    fn bind(self, caller: &ApiKeyAuth, body: &[u8]) -> IdempotentWrite {
        let keyed = self.key.map(|key| {
            let mut hash = Sha256::new();
            for part in [self.method.as_str().as_bytes(), self.path.as_bytes(), body] {
                // Length-prefixed, so no two different requests hash the same parts.
                hash.update((part.len() as u64).to_be_bytes());
                hash.update(part);
            }
            let fingerprint = hash.finalize().iter().map(|b| format!("{b:02x}")).collect();
            let scope = KeyScope {
                api_key_name: caller.0.clone(),
                key: key.into_inner(),
            };
            (scope, fingerprint)
        });
        IdempotentWrite {
            keyed,
            containment: Containment::Savepoint,
            counted: None,
        }
    }
}

/// A write bound to its `Idempotency-Key` (if the client sent one).
#[derive(Debug)]
pub struct IdempotentWrite {
    keyed: Option<(KeyScope, String)>,
    containment: Containment,
    /// The `operation` label of `reservations_total` this write counts under, if any.
    counted: Option<&'static str>,
}

/// What the writer decided for a keyed request.
enum Keyed {
    /// The first request with this key: its answer, now stored, and its outcome's code.
    Fresh(StoredAnswer, &'static str),
    /// The answer of an earlier request with this key.
    Replay(StoredAnswer),
    /// The key was used for another request.
    Reused,
    /// The operation's answer is an error that is not stored (5xx): sent as is.
    NotStored(ApiError),
}

impl IdempotentWrite {
    /// The operation refuses before its first change, so it needs no savepoint of its own
    /// ([`Containment::RefusesBeforeWriting`]; the reservation route).
    pub fn refusing_before_writing(mut self) -> Self {
        self.containment = Containment::RefusesBeforeWriting;
        self
    }

    /// Counts the write in `reservations_total{operation, outcome}` (`"ok"` or the answer's
    /// error code) once, after its batch's fate is known: not again when a writer reruns the
    /// job, not as `"ok"` when the batch then fails, and not for a replayed answer (the
    /// operation ran once).
    pub fn counted_as(mut self, operation: &'static str) -> Self {
        self.counted = Some(operation);
        self
    }

    /// Runs `work` on the writer like [`crate::writer::Writer::write`] (`declared`: the rows
    /// it acts on) and turns its outcome into the route's answer with `render`; with a key, as
    /// the module documentation says. `render` runs on the writer thread when there is a key:
    /// keep it to building the answer. Both may be run again when a writer reruns its batch
    /// (PostgreSQL's), hence `FnMut`.
    pub async fn write<T, R, F, G>(
        self,
        state: &AppState,
        declared: Declared,
        mut work: F,
        mut render: G,
    ) -> ApiResult<Replayable<R>>
    where
        T: Send + 'static,
        R: IntoResponse + Send + 'static,
        F: FnMut(&mut dyn Tx) -> OpResult<T> + Send + 'static,
        G: FnMut(OpResult<T>) -> ApiResult<R> + Send + 'static,
    {
        let Self {
            keyed,
            containment,
            counted,
        } = self;
        let count = |outcome: &'static str| {
            if let Some(operation) = counted {
                crate::metrics::record_reservation(operation, outcome);
            }
        };
        let Some((scope, fingerprint)) = keyed else {
            let result = state
                .writer
                .write_contained(containment, declared, work)
                .await;
            let answer = render(result);
            count(outcome(&answer));
            return answer.map(Replayable::built);
        };
        let ttl = state.idempotency_ttl;
        // The job itself refuses before writing (the key lookup comes first, the operation is
        // contained on its own, the record is stored last), so it needs no savepoint.
        let keyed = state
            .writer
            .write_contained(Containment::RefusesBeforeWriting, declared, move |tx| {
                let now = time::now();
                if let Some(found) = records::find_key(tx, &scope, &now)? {
                    return Ok(if found.fingerprint == fingerprint {
                        Keyed::Replay(found.answer)
                    } else {
                        Keyed::Reused
                    });
                }
                let result = contained(tx, containment, |tx| work(tx));
                // A storage error may leave changes behind (a write that promised to refuse
                // before writing broke the promise): fail the job, so the writer undoes it,
                // rather than answer it unstored and commit what it changed.
                if let Err(e @ OpError::Storage(_)) = result {
                    return Err(e);
                }
                let answer = render(result);
                let code = outcome(&answer);
                let response = match answer {
                    Ok(answer) => answer.into_response(),
                    Err(e) if is_stored(e.status()) => e.into_response(),
                    Err(e) => return Ok(Keyed::NotStored(e)),
                };
                let record = KeyRecord {
                    fingerprint: fingerprint.clone(),
                    answer: answer::capture(response),
                };
                records::store_key(tx, &scope, &record, &now, &(now + ttl))?;
                Ok(Keyed::Fresh(record.answer, code))
            })
            .await
            .inspect_err(|e| count(e.code()))?;
        match keyed {
            Keyed::Fresh(answer, code) => {
                count(code);
                Ok(Replayable::stored(answer, false))
            }
            Keyed::Replay(answer) => Ok(Replayable::stored(answer, true)),
            Keyed::Reused => Err(ApiError::Other(
                StatusCode::UNPROCESSABLE_ENTITY,
                "IDEMPOTENCY_KEY_REUSED",
                "this Idempotency-Key was used for another request (method, path or body); \
                 use a new key for a new request"
                    .to_owned(),
            )),
            Keyed::NotStored(e) => {
                count(e.code());
                Err(e)
            }
        }
    }
}

/// `"ok"`, or the code of the error an answer is.
fn outcome<R>(answer: &ApiResult<R>) -> &'static str {
    match answer {
        Ok(_) => "ok",
        Err(e) => e.code(),
    }
}
