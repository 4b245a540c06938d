//! `JsonBody<T>`: a JSON request body that reports every bad field at once.
//!
//! poem-openapi's own `Json<T>` stops at the first field it cannot parse. This payload reads
//! the body, checks each property against the schema poem-openapi derived for `T` (type,
//! required, length, range, pattern, all declared with `#[oai(validator(...))]` and so
//! documented in the spec), and answers 400 `VALIDATION_FAILED` listing every offending field,
//! or 400 `MALFORMED_JSON` when the body is not JSON at all.

use std::any::TypeId;
use std::collections::HashMap;
use std::sync::{Arc, LazyLock, RwLock};

use poem::{Request, RequestBody};
use poem_openapi::payload::{ParsePayload, Payload};
use poem_openapi::registry::{MetaMediaType, MetaRequest, MetaSchema, MetaSchemaRef, Registry};
use poem_openapi::types::{ParseFromJSON, Type};
use poem_openapi::{ApiExtractor, ApiExtractorType, ExtractParamOptions};
use regex::Regex;
use serde_json::Value;

use super::error::{ApiError, FieldError};

/// Largest request body accepted (413 above).
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

/// A JSON body of type `T`, checked field by field against `T`'s schema.
#[derive(Debug, Clone)]
pub struct JsonBody<T>(pub T);

impl<T: Type> Payload for JsonBody<T> {
    const CONTENT_TYPE: &'static str = "application/json";

    fn check_content_type(content_type: &str) -> bool {
        content_type.starts_with("application/json") || content_type.contains("+json")
    }

    fn schema_ref() -> MetaSchemaRef {
        T::schema_ref()
    }

    fn register(registry: &mut Registry) {
        T::register(registry);
    }
}

impl<T: ParseFromJSON + 'static> ParsePayload for JsonBody<T> {
    const IS_REQUIRED: bool = true;

    async fn from_request(request: &Request, body: &mut RequestBody) -> poem::Result<Self> {
        let _ = request;
        let data = body
            .take()?
            .into_bytes_limit(MAX_BODY_BYTES)
            .await
            .map_err(|e| match e {
                poem::error::ReadBodyError::PayloadTooLarge => ApiError::Other(
                    poem::http::StatusCode::PAYLOAD_TOO_LARGE,
                    "PAYLOAD_TOO_LARGE",
                    format!("the body is larger than {MAX_BODY_BYTES} bytes"),
                ),
                other => ApiError::MalformedJson(format!("could not read the body: {other}")),
            })?;
        Ok(Self(parse::<T>(&data)?))
    }
}

impl<'a, T: ParseFromJSON + 'static> ApiExtractor<'a> for JsonBody<T> {
    const TYPES: &'static [ApiExtractorType] = &[ApiExtractorType::RequestObject];
    type ParamType = ();
    type ParamRawType = ();

    fn register(registry: &mut Registry) {
        <Self as Payload>::register(registry);
    }

    fn request_meta() -> Option<MetaRequest> {
        Some(MetaRequest {
            description: None,
            content: vec![MetaMediaType {
                content_type: Self::CONTENT_TYPE,
                schema: Self::schema_ref(),
            }],
            required: has_required_fields::<T>(),
        })
    }

    async fn from_request(
        request: &'a Request,
        body: &mut RequestBody,
        _param_opts: ExtractParamOptions<Self::ParamType>,
    ) -> poem::Result<Self> {
        // A missing Content-Type, or curl's default for `-d`, is read as JSON (the body must
        // still parse as JSON); any other type is 415.
        if let Some(content_type) = request.content_type()
            && !Self::check_content_type(content_type)
            && !content_type.starts_with("application/x-www-form-urlencoded")
        {
            return Err(ApiError::Other(
                poem::http::StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "UNSUPPORTED_MEDIA_TYPE",
                format!("send the body as application/json, not {content_type}"),
            )
            .into());
        }
        <Self as ParsePayload>::from_request(request, body).await
    }
}

/// Parses and checks a body. Public for unit tests.
pub fn parse<T: ParseFromJSON + 'static>(data: &[u8]) -> Result<T, ApiError> {
    // An empty body is an empty object: bodies whose fields are all optional (cancel) may be
    // left out, and the others report each missing field.
    let data: &[u8] = if data.iter().all(u8::is_ascii_whitespace) {
        b"{}"
    } else {
        data
    };
    let value: Value = serde_json::from_slice(data)
        .map_err(|e| ApiError::MalformedJson(format!("the body is not valid JSON ({e})")))?;
    if !value.is_object() {
        return Err(ApiError::field("body", "must be a JSON object"));
    }
    let registry = registry_of::<T>();
    if let Some(schema) = resolve(&registry, &T::schema_ref()) {
        let errors = check_object(&registry, schema, &value, "");
        if !errors.is_empty() {
            return Err(ApiError::Validation(errors));
        }
    }
    T::parse_from_json(Some(value)).map_err(|e| ApiError::field("body", e.into_message()))
}

/// Whether `T`'s schema requires any property (a body of only optional fields may be left out;
/// an empty body reads as `{}`).
fn has_required_fields<T: Type + 'static>() -> bool {
    let registry = registry_of::<T>();
    resolve(&registry, &T::schema_ref()).is_none_or(|schema| !schema.required.is_empty())
}

/// The schemas `T` registers, built once per body type (this runs on every request).
fn registry_of<T: Type + 'static>() -> Arc<Registry> {
    static CACHE: LazyLock<RwLock<HashMap<TypeId, Arc<Registry>>>> =
        LazyLock::new(Default::default);
    let key = TypeId::of::<T>();
    if let Some(found) = CACHE.read().ok().and_then(|c| c.get(&key).cloned()) {
        return found;
    }
    let mut registry = Registry::new();
    T::register(&mut registry);
    let registry = Arc::new(registry);
    if let Ok(mut cache) = CACHE.write() {
        cache.insert(key, registry.clone());
    }
    registry
}

fn resolve<'r>(registry: &'r Registry, schema: &'r MetaSchemaRef) -> Option<&'r MetaSchema> {
    match schema {
        MetaSchemaRef::Inline(schema) => Some(schema),
        MetaSchemaRef::Reference(name) => registry.schemas.get(name.as_str()),
    }
}

fn check_object(
    registry: &Registry,
    schema: &MetaSchema,
    value: &Value,
    prefix: &str,
) -> Vec<FieldError> {
    let mut errors = Vec::new();
    let Some(object) = value.as_object() else {
        return errors;
    };
    for (name, property) in &schema.properties {
        let field = format!("{prefix}{name}");
        let required = schema.required.contains(name);
        match object.get(*name) {
            None | Some(Value::Null) if required => {
                errors.push(FieldError::new(field, "is required"));
            }
            None | Some(Value::Null) => {}
            Some(v) => {
                if let Some(prop) = resolve(registry, property) {
                    check_property(registry, prop, v, &field, &mut errors);
                }
            }
        }
    }
    errors
}

/// Checks one present value; nested objects and array items are checked too, each failure
/// named by its JSON path (`items[2].quantity`).
fn check_property(
    registry: &Registry,
    schema: &MetaSchema,
    value: &Value,
    field: &str,
    errors: &mut Vec<FieldError>,
) {
    if let Some(message) = check_value(schema, value) {
        errors.push(FieldError::new(field, message));
        return;
    }
    match value {
        Value::Object(_) if schema.ty == "object" && !schema.properties.is_empty() => {
            errors.extend(check_object(registry, schema, value, &format!("{field}.")));
        }
        Value::Array(items) if schema.ty == "array" => {
            if let Some(min) = schema.min_items
                && items.len() < min
            {
                errors.push(FieldError::new(
                    field,
                    if min == 1 {
                        "must not be empty".to_owned()
                    } else {
                        format!("must have at least {min} items")
                    },
                ));
                return;
            }
            if let Some(max) = schema.max_items
                && items.len() > max
            {
                errors.push(FieldError::new(
                    field,
                    format!("must have at most {max} items"),
                ));
                return;
            }
            let Some(item_schema) = schema.items.as_deref().and_then(|i| resolve(registry, i))
            else {
                return;
            };
            for (i, item) in items.iter().enumerate() {
                let path = format!("{field}[{i}]");
                if item.is_null() {
                    errors.push(FieldError::new(path, "is required"));
                } else {
                    check_property(registry, item_schema, item, &path, errors);
                }
            }
        }
        _ => {}
    }
}

/// One error per element of a list of (product_id, store_id) that repeats an earlier one
/// (holds and bulk sync name each row once: two lines for one row are ambiguous).
pub fn repeated_rows<'a>(rows: impl Iterator<Item = (&'a str, &'a str)>) -> Vec<FieldError> {
    let mut first: HashMap<(&str, &str), usize> = HashMap::new();
    let mut errors = Vec::new();
    for (i, row) in rows.enumerate() {
        if let Some(earlier) = first.get(&row) {
            errors.push(FieldError::new(
                format!("items[{i}]"),
                format!("repeats the product_id and store_id of items[{earlier}]"),
            ));
        } else {
            first.insert(row, i);
        }
    }
    errors
}

/// Checks one value against its property schema; returns why it is refused.
fn check_value(schema: &MetaSchema, value: &Value) -> Option<String> {
    match schema.ty {
        "string" => {
            let Some(text) = value.as_str() else {
                return Some("must be a string".to_owned());
            };
            let chars = text.chars().count();
            // A domain type's pattern names the rule in words ("must be a UUID such as …");
            // its length bounds are part of that rule, so they fail with the same sentence.
            let named = schema
                .pattern
                .as_deref()
                .and_then(super::types::pattern_message);
            let length_ok = schema.min_length.is_none_or(|min| chars >= min)
                && schema.max_length.is_none_or(|max| chars <= max);
            if let Some(message) = named
                && !length_ok
            {
                return Some(message.to_owned());
            }
            if let Some(min) = schema.min_length
                && chars < min
            {
                return Some(if min == 1 {
                    "must not be empty".to_owned()
                } else {
                    format!("must be at least {min} characters")
                });
            }
            if let Some(max) = schema.max_length
                && chars > max
            {
                return Some(format!("must be at most {max} characters"));
            }
            if let Some(pattern) = &schema.pattern
                && !pattern_matches(pattern, text)
            {
                return Some(
                    super::types::pattern_message(pattern)
                        .map(str::to_owned)
                        .unwrap_or_else(|| format!("must match {pattern}")),
                );
            }
            if !schema.enum_items.is_empty() && !schema.enum_items.contains(value) {
                return Some(format!(
                    "must be one of {}",
                    Value::Array(schema.enum_items.clone())
                ));
            }
            None
        }
        "integer" => {
            let Some(n) = value.as_i64() else {
                return Some(if value.is_number() {
                    "must be a whole number within range".to_owned()
                } else {
                    "must be an integer".to_owned()
                });
            };
            check_range(schema, n as f64)
        }
        "number" => {
            let Some(n) = value.as_f64() else {
                return Some("must be a number".to_owned());
            };
            check_range(schema, n).or_else(|| check_multiple(schema, n))
        }
        "boolean" if !value.is_boolean() => Some("must be true or false".to_owned()),
        "object" if !value.is_object() => Some("must be an object".to_owned()),
        "array" if !value.is_array() => Some("must be an array".to_owned()),
        _ => None,
    }
}

fn check_range(schema: &MetaSchema, n: f64) -> Option<String> {
    match (schema.minimum, schema.maximum) {
        (Some(min), Some(max)) if n < min || n > max => {
            Some(format!("must be between {min} and {max}"))
        }
        (Some(min), None) if n < min => Some(format!("must be at least {min}")),
        (None, Some(max)) if n > max => Some(format!("must be at most {max}")),
        _ => None,
    }
}

/// `multipleOf`; 0.01 (prices) counts the decimals as written, since 19.9 / 0.01 is not exact.
fn check_multiple(schema: &MetaSchema, n: f64) -> Option<String> {
    let step = schema.multiple_of?;
    if step == 0.01 {
        return (!super::types::has_at_most_two_decimals(n))
            .then(|| "must have at most two decimals".to_owned());
    }
    let steps = n / step;
    if (steps - steps.round()).abs() <= 1e-6 {
        return None;
    }
    Some(format!("must be a multiple of {step}"))
}

fn pattern_matches(pattern: &str, text: &str) -> bool {
    static CACHE: LazyLock<std::sync::Mutex<Vec<(String, Regex)>>> =
        LazyLock::new(Default::default);
    let Ok(mut cache) = CACHE.lock() else {
        return true;
    };
    if let Some((_, re)) = cache.iter().find(|(p, _)| p == pattern) {
        return re.is_match(text);
    }
    match Regex::new(pattern) {
        Ok(re) => {
            let ok = re.is_match(text);
            cache.push((pattern.to_owned(), re));
            ok
        }
        Err(_) => true,
    }
}

#[cfg(test)]
mod tests {
    use poem_openapi::Object;

    use super::*;
    use crate::http::types::{PositiveQuantity, STORE_ID_MESSAGE, StoreId};

    #[derive(Debug, Object)]
    struct Line {
        store_id: StoreId,
        quantity: PositiveQuantity,
    }

    #[derive(Debug, Object)]
    struct Order {
        #[oai(validator(min_items = 1, max_items = 3))]
        items: Vec<Line>,
        first: Line,
    }

    fn fields(body: &str) -> Vec<(String, String)> {
        match parse::<Order>(body.as_bytes()) {
            Err(ApiError::Validation(errors)) => {
                errors.into_iter().map(|e| (e.field, e.message)).collect()
            }
            other => panic!("expected a validation failure, got {other:?}"),
        }
    }

    #[test]
    fn nested_objects_and_array_items_are_named_by_their_json_path() {
        let found = fields(
            r#"{"first": {"store_id": "café", "quantity": 1},
                "items": [{"store_id": "MAD-001", "quantity": 1},
                          {"store_id": "MAD-001", "quantity": 0},
                          null]}"#,
        );
        assert_eq!(
            found,
            vec![
                (
                    "items[1].quantity".to_owned(),
                    "must be between 1 and 1000000000".to_owned()
                ),
                ("items[2]".to_owned(), "is required".to_owned()),
                ("first.store_id".to_owned(), STORE_ID_MESSAGE.to_owned()),
            ]
        );
    }

    #[test]
    fn array_sizes_are_checked_and_good_bodies_parse() {
        assert_eq!(
            fields(r#"{"first": {"store_id": "A", "quantity": 1}, "items": []}"#),
            vec![("items".to_owned(), "must not be empty".to_owned())]
        );
        let order = parse::<Order>(
            br#"{"first": {"store_id": "A", "quantity": 1},
                 "items": [{"store_id": "B", "quantity": 2}]}"#,
        )
        .expect("valid");
        assert_eq!(order.items[0].quantity.get(), 2);
    }
}
