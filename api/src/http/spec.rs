//! The spec as served: poem-openapi's document with its top-level tags in the order a newcomer
//! reads them (poem-openapi sorts them by name, which put Events first in Swagger UI).

use poem::web::Html;
use poem::{Response, Route, endpoint::make_sync};
use serde_json::Value;

/// Swagger UI shows its groups in this order.
pub const TAG_ORDER: [&str; 5] = ["Products", "Stock", "Reservations", "Events", "System"];

fn rank(name: &str) -> usize {
    TAG_ORDER
        .iter()
        .position(|t| *t == name)
        .unwrap_or(TAG_ORDER.len())
}

/// Reorders the top-level `tags` array of a JSON spec (the first `"tags": [{` is the top-level
/// one: operations list their tags as strings).
pub fn order_tags_json(spec: &str) -> String {
    let Some(start) = spec
        .find("\"tags\": [\n    {")
        .or_else(|| spec.find("\"tags\":[{"))
    else {
        return spec.to_owned();
    };
    let Some(open) = spec[start..].find('[').map(|i| start + i) else {
        return spec.to_owned();
    };
    let mut depth = 0;
    let mut end = None;
    for (i, c) in spec[open..].char_indices() {
        match c {
            '[' => depth += 1,
            ']' => {
                depth -= 1;
                if depth == 0 {
                    end = Some(open + i + 1);
                    break;
                }
            }
            _ => {}
        }
    }
    let Some(end) = end else {
        return spec.to_owned();
    };
    let Ok(mut tags) = serde_json::from_str::<Vec<Value>>(&spec[open..end]) else {
        return spec.to_owned();
    };
    tags.sort_by_key(|t| rank(t["name"].as_str().unwrap_or_default()));
    let Ok(ordered) = serde_json::to_string(&tags) else {
        return spec.to_owned();
    };
    format!("{}{}{}", &spec[..open], ordered, &spec[end..])
}

/// Reorders the top-level `tags:` block of a YAML spec (entries `- name: X` with indented
/// continuation lines).
pub fn order_tags_yaml(spec: &str) -> String {
    let Some(start) = spec.find("\ntags:\n").map(|i| i + "\ntags:\n".len()) else {
        return spec.to_owned();
    };
    let rest = &spec[start..];
    let block_len = rest
        .split_inclusive('\n')
        .take_while(|l| l.starts_with("- ") || l.starts_with("  "))
        .map(str::len)
        .sum::<usize>();
    let mut entries: Vec<String> = Vec::new();
    for line in rest[..block_len].split_inclusive('\n') {
        match entries.last_mut() {
            Some(entry) if !line.starts_with("- ") => entry.push_str(line),
            _ => entries.push(line.to_owned()),
        }
    }
    entries.sort_by_key(|e| {
        rank(
            e.lines()
                .next()
                .and_then(|l| l.strip_prefix("- name: "))
                .unwrap_or_default()
                .trim(),
        )
    });
    format!(
        "{}{}{}",
        &spec[..start],
        entries.concat(),
        &rest[block_len..]
    )
}

/// `/openapi.json`, `/openapi.yaml` and the Swagger UI page, all from the ordered document.
pub fn add_endpoints(route: Route, json: String, yaml: String, swagger_html: String) -> Route {
    let html = swagger_html.replace(&json, &order_tags_json(&json));
    let json = order_tags_json(&json);
    let yaml = order_tags_yaml(&yaml);
    route
        .at("/docs", make_sync(move |_| Html(html.clone())))
        .at(
            "/openapi.json",
            make_sync(move |_| {
                Response::builder()
                    .content_type("application/json; charset=utf-8")
                    .body(json.clone())
            }),
        )
        .at(
            "/openapi.yaml",
            make_sync(move |_| {
                Response::builder()
                    .content_type("application/x-yaml; charset=utf-8")
                    .body(yaml.clone())
            }),
        )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_come_in_reading_order_in_json_and_yaml() {
        let json = r#"{"tags":[{"name":"Events"},{"name":"Products"},{"name":"System"},{"name":"Stock"}],"paths":{"/a":{"get":{"tags":["Events"]}}}}"#;
        assert_eq!(
            order_tags_json(json),
            r#"{"tags":[{"name":"Products"},{"name":"Stock"},{"name":"Events"},{"name":"System"}],"paths":{"/a":{"get":{"tags":["Events"]}}}}"#
        );
        let yaml = "openapi: 3.0.0\ntags:\n- name: Events\n  description: e\n- name: Products\n  description: p\npaths:\n  /a: {}\n";
        assert_eq!(
            order_tags_yaml(yaml),
            "openapi: 3.0.0\ntags:\n- name: Products\n  description: p\n- name: Events\n  description: e\npaths:\n  /a: {}\n"
        );
    }
}
