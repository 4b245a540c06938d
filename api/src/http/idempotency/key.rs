//! The `Idempotency-Key` request header: its syntax, its spec entry, and the extractor every
//! state-changing route takes.

use poem::Request;
use poem::RequestBody;
use poem::http::Method;
use poem_openapi::error::ParseParamError;
use poem_openapi::registry::{MetaParamIn, MetaSchema, MetaSchemaRef};
use poem_openapi::{ApiExtractor, ApiExtractorType, ExtractParamOptions};

/// The header's name, as routes declare it (`#[oai(name = "Idempotency-Key")]`).
pub const HEADER: &str = "Idempotency-Key";

/// The header's pattern: a bare key, or the same key as a structured-field string in double
/// quotes. A key is 1–255 visible ASCII characters other than `"` and `\`: those two delimit
/// and escape a structured-field string, so a key holding one could not be written both ways.
pub const PATTERN: &str = r#"^(?:[!#-\[\]-~]{1,255}|"[!#-\[\]-~]{1,255}")$"#;

/// Why a header value was refused (the `message` of the 400's field error).
pub const MESSAGE: &str = "must be 1–255 visible ASCII characters other than '\"' and '\\', \
                           bare or in double quotes";

/// A client's idempotency key, without the quotes it may have been sent in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyKey(String);

impl IdempotencyKey {
    /// Parses a header value: `abc` and `"abc"` are the same key.
    pub fn parse(value: &str) -> Result<Self, &'static str> {
        let key = value
            .strip_prefix('"')
            .and_then(|rest| rest.strip_suffix('"'))
            .unwrap_or(value);
        let ok = (1..=255).contains(&key.len())
            && key
                .bytes()
                .all(|b| b.is_ascii_graphic() && b != b'"' && b != b'\\');
        if ok {
            Ok(Self(key.to_owned()))
        } else {
            Err(MESSAGE)
        }
    }

    /// The key.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The key, owned.
    pub fn into_inner(self) -> String {
        self.0
    }
}

/// The header's schema in the spec: the pattern, and what the header does.
pub fn schema() -> MetaSchemaRef {
    let mut schema = MetaSchema::new("string");
    schema.pattern = Some(PATTERN.to_owned());
    // No `example`: tools that fuzz the spec would send it on every write, and from the second
    // route on it is a reused key (422) instead of a test of the route.
    schema.description = Some(
        "Makes a retry safe; e.g. a UUID per logical operation. The first request with a key runs; its answer (status, body, \
         `Location`, `ETag`) is stored with the change, for `IDEMPOTENCY_KEY_TTL` (24 h by \
         default), per API key. The same request again with the same key gets that answer \
         again, with `Idempotent-Replayed: true`, and changes nothing. The same key with \
         another method, path or body is 422 `IDEMPOTENCY_KEY_REUSED`. Answers 400, 401 and \
         5xx are not stored: fix the request and retry with the same key.",
    );
    MetaSchemaRef::Inline(Box::new(schema))
}

/// The `Idempotency-Key` of a state-changing request, with what identifies the request
/// (method and path; the body is added by [`Idempotency::with_body`]).
///
/// A route declares it as a parameter named after the header:
/// `#[oai(name = "Idempotency-Key")] idempotency: Idempotency`. The spec then lists the
/// optional header with [`schema`]; a malformed value is a 400 `VALIDATION_FAILED` naming
/// `Idempotency-Key`, like any other bad parameter.
#[derive(Debug, Clone)]
pub struct Idempotency {
    pub(super) key: Option<IdempotencyKey>,
    pub(super) method: Method,
    pub(super) path: String,
}

impl<'a> ApiExtractor<'a> for Idempotency {
    const TYPES: &'static [ApiExtractorType] = &[ApiExtractorType::Parameter];
    const PARAM_IS_REQUIRED: bool = false;
    type ParamType = ();
    type ParamRawType = ();

    fn param_in() -> Option<MetaParamIn> {
        Some(MetaParamIn::Header)
    }

    fn param_schema_ref() -> Option<MetaSchemaRef> {
        Some(schema())
    }

    async fn from_request(
        request: &'a Request,
        _body: &mut RequestBody,
        _param_opts: ExtractParamOptions<Self::ParamType>,
    ) -> poem::Result<Self> {
        let refuse = |reason: &str| ParseParamError {
            name: HEADER,
            reason: reason.to_owned(),
        };
        let mut values = request.headers().get_all(HEADER).iter();
        let key = match (values.next(), values.next()) {
            (None, _) => None,
            (Some(_), Some(_)) => return Err(refuse("must be sent once").into()),
            (Some(value), None) => {
                let text = value.to_str().map_err(|_| refuse(MESSAGE))?;
                Some(IdempotencyKey::parse(text).map_err(refuse)?)
            }
        };
        Ok(Self {
            key,
            method: request.method().clone(),
            path: request.uri().path().to_owned(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bare_and_quoted_keys_are_the_same_key() {
        let bare = IdempotencyKey::parse("order-42").expect("bare");
        let quoted = IdempotencyKey::parse("\"order-42\"").expect("quoted");
        assert_eq!(bare, quoted);
        assert_eq!(quoted.as_str(), "order-42");
        assert!(IdempotencyKey::parse(&"k".repeat(255)).is_ok());
        assert!(IdempotencyKey::parse(&format!("\"{}\"", "k".repeat(255))).is_ok());
    }

    #[test]
    fn anything_else_is_refused() {
        for bad in [
            "",
            "\"\"",
            "has space",
            "tab\there",
            "ñ",
            "a\"b",
            "back\\slash",
            "\"unclosed",
            &"k".repeat(256),
        ] {
            assert_eq!(IdempotencyKey::parse(bad), Err(MESSAGE), "{bad:?}");
        }
    }

    #[test]
    fn the_pattern_says_what_the_parser_does() {
        let pattern = regex::Regex::new(PATTERN).expect("the pattern compiles");
        for text in [
            "order-42",
            "\"order-42\"",
            "!#[]~",
            "",
            "\"\"",
            "a b",
            "a\"b",
            "\"x",
            "x\\y",
        ] {
            assert_eq!(
                pattern.is_match(text),
                IdempotencyKey::parse(text).is_ok(),
                "{text:?}"
            );
        }
    }
}
