//! The `Allow` header of 405 answers, computed from the spec's paths and methods.

use std::collections::BTreeSet;

/// Path templates of the spec and their methods.
#[derive(Debug, Default)]
pub struct AllowIndex {
    routes: Vec<(Vec<Segment>, BTreeSet<String>)>,
}

#[derive(Debug, PartialEq, Eq)]
enum Segment {
    Literal(String),
    /// A `{name}` parameter.
    Param(String),
}

impl AllowIndex {
    /// Reads the `paths` of an OpenAPI document (JSON text).
    pub fn from_spec(spec_json: &str) -> Self {
        let mut index = Self::default();
        let Ok(doc) = serde_json::from_str::<serde_json::Value>(spec_json) else {
            return index;
        };
        let Some(paths) = doc.get("paths").and_then(|p| p.as_object()) else {
            return index;
        };
        for (template, ops) in paths {
            let segments = template
                .split('/')
                .filter(|s| !s.is_empty())
                .map(|s| {
                    if let Some(name) = s.strip_prefix('{').and_then(|n| n.strip_suffix('}')) {
                        Segment::Param(name.to_owned())
                    } else {
                        Segment::Literal(s.to_owned())
                    }
                })
                .collect();
            let methods = ops
                .as_object()
                .map(|o| o.keys().map(|m| m.to_ascii_uppercase()).collect())
                .unwrap_or_default();
            index.routes.push((segments, methods));
        }
        index
    }

    /// The methods allowed on `path` (`"GET, PUT"`), preferring templates with more literal
    /// segments, as the router does.
    pub fn allowed(&self, path: &str) -> Option<String> {
        let best = self.route_of(path)?;
        Some(best.1.iter().cloned().collect::<Vec<_>>().join(", "))
    }

    /// The spec name of the `n`-th path parameter of the route `path` matches (poem-openapi
    /// reports path parse errors as `param0`, `param1`, … after its internal route names).
    pub fn path_param_name(&self, path: &str, n: usize) -> Option<String> {
        let (segments, _) = self.route_of(path)?;
        segments
            .iter()
            .filter_map(|s| match s {
                Segment::Param(name) => Some(name.clone()),
                Segment::Literal(_) => None,
            })
            .nth(n)
    }

    fn route_of(&self, path: &str) -> Option<&(Vec<Segment>, BTreeSet<String>)> {
        let parts: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
        self.routes
            .iter()
            .filter(|(segments, _)| {
                segments.len() == parts.len()
                    && segments.iter().zip(&parts).all(|(s, p)| match s {
                        Segment::Literal(l) => l == p,
                        Segment::Param(_) => true,
                    })
            })
            .max_by_key(|(segments, _)| {
                segments
                    .iter()
                    .filter(|s| matches!(s, Segment::Literal(_)))
                    .count()
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literal_templates_win_over_parameters() {
        let spec = r#"{"paths": {
            "/api/v1/stock/{product_id}/{store_id}": {"get": {}, "put": {}},
            "/api/v1/stock/product/{product_id}": {"get": {}},
            "/api/v1/stock/transfer": {"post": {}}
        }}"#;
        let index = AllowIndex::from_spec(spec);
        assert_eq!(
            index.allowed("/api/v1/stock/p1/MAD-001").as_deref(),
            Some("GET, PUT")
        );
        assert_eq!(
            index
                .path_param_name("/api/v1/stock/p1/MAD-001", 1)
                .as_deref(),
            Some("store_id")
        );
        assert_eq!(
            index.allowed("/api/v1/stock/product/p1").as_deref(),
            Some("GET")
        );
        assert_eq!(
            index.allowed("/api/v1/stock/transfer").as_deref(),
            Some("POST")
        );
        assert_eq!(index.allowed("/nowhere"), None);
    }
}
