//! The spec as served and committed: poem-openapi's document, finished in two ways it cannot
//! express itself:
//! - the top-level tags in the order a newcomer reads them (poem-openapi sorts them by name,
//!   which put Events first in Swagger UI);
//! - OpenAPI links from the operations that create something to the ones that act on it
//!   (a created reservation's `id` feeds confirm, cancel and get), so clients and the
//!   stateful phase of a fuzzer can follow them.
//!
//! The document is edited as a `serde_yaml::Value`, whose maps keep their order, and written
//! both as JSON (`/openapi.json`, Swagger UI) and YAML (`/openapi.yaml`, `openapi.yaml`).

use poem::web::Html;
use poem::{Response, Route, endpoint::make_sync};
use serde_yaml::{Mapping, Value};

/// Swagger UI shows its groups in this order.
pub const TAG_ORDER: [&str; 5] = ["Products", "Stock", "Reservations", "Events", "System"];

/// One link: from the `status` answer of `from`, to operation `to`, its parameters taken from
/// the answer's body (`name` ← `$response.body#/field`).
struct Link {
    from: &'static str,
    status: &'static str,
    name: &'static str,
    to: &'static str,
    parameters: &'static [(&'static str, &'static str)],
    description: &'static str,
}

const LINKS: &[Link] = &[
    Link {
        from: "create_hold",
        status: "201",
        name: "GetHold",
        to: "get_hold",
        parameters: &[("id", "id")],
        description: "The hold just created.",
    },
    Link {
        from: "create_hold",
        status: "201",
        name: "ConfirmHold",
        to: "confirm_hold",
        parameters: &[("id", "id")],
        description: "Confirm (sell) every line of the hold just created.",
    },
    Link {
        from: "create_hold",
        status: "201",
        name: "CancelHold",
        to: "cancel_hold",
        parameters: &[("id", "id")],
        description: "Cancel the hold just created.",
    },
    Link {
        from: "create_hold",
        status: "201",
        name: "ExtendHold",
        to: "extend_hold",
        parameters: &[("id", "id")],
        description: "Move the deadline of the hold just created.",
    },
    Link {
        from: "create_product",
        status: "201",
        name: "GetProduct",
        to: "get_product",
        parameters: &[("id", "id")],
        description: "The product just created.",
    },
    Link {
        from: "create_product",
        status: "201",
        name: "ReplaceProduct",
        to: "replace_product",
        parameters: &[("id", "id")],
        description: "Replace the product just created.",
    },
    Link {
        from: "create_product",
        status: "201",
        name: "DeleteProduct",
        to: "delete_product",
        parameters: &[("id", "id")],
        description: "Delete the product just created.",
    },
    Link {
        from: "create_product",
        status: "201",
        name: "GetProductStock",
        to: "get_product_stock",
        parameters: &[("product_id", "id")],
        description: "The product's stock in every store.",
    },
    Link {
        from: "create_stock",
        status: "201",
        name: "GetStock",
        to: "get_stock",
        parameters: &[("product_id", "product_id"), ("store_id", "store_id")],
        description: "The stock row just created.",
    },
    Link {
        from: "create_stock",
        status: "201",
        name: "AdjustStock",
        to: "adjust_stock",
        parameters: &[("product_id", "product_id"), ("store_id", "store_id")],
        description: "Adjust the stock row just created.",
    },
    Link {
        from: "create_reservation",
        status: "201",
        name: "GetReservation",
        to: "get_reservation",
        parameters: &[("id", "id")],
        description: "The reservation just created.",
    },
    Link {
        from: "create_reservation",
        status: "201",
        name: "ConfirmReservation",
        to: "confirm_reservation",
        parameters: &[("id", "id")],
        description: "Confirm (sell) the reservation just created.",
    },
    Link {
        from: "create_reservation",
        status: "201",
        name: "CancelReservation",
        to: "cancel_reservation",
        parameters: &[("id", "id")],
        description: "Cancel the reservation just created.",
    },
];

fn rank(name: &str) -> usize {
    TAG_ORDER
        .iter()
        .position(|t| *t == name)
        .unwrap_or(TAG_ORDER.len())
}

/// The finished document as (JSON, YAML), from poem-openapi's JSON.
pub fn finish(poem_json: &str) -> anyhow::Result<(String, String)> {
    let mut doc: Value = serde_json::from_str(poem_json)?;
    order_tags(&mut doc);
    add_links(&mut doc)?;
    Ok((
        serde_json::to_string_pretty(&doc)?,
        serde_yaml::to_string(&doc)?,
    ))
}

fn order_tags(doc: &mut Value) {
    if let Some(Value::Sequence(tags)) = doc.get_mut("tags") {
        tags.sort_by_key(|t| rank(t.get("name").and_then(Value::as_str).unwrap_or_default()));
    }
}

fn add_links(doc: &mut Value) -> anyhow::Result<()> {
    let Some(Value::Mapping(paths)) = doc.get_mut("paths") else {
        anyhow::bail!("the spec has no paths");
    };
    for link in LINKS {
        let response = paths
            .values_mut()
            .filter_map(Value::as_mapping_mut)
            .flat_map(|ops| ops.values_mut())
            .find(|op| op.get("operationId").and_then(Value::as_str) == Some(link.from))
            .and_then(|op| op.get_mut("responses"))
            .and_then(|r| r.get_mut(link.status))
            .and_then(Value::as_mapping_mut)
            .ok_or_else(|| anyhow::anyhow!("no {} answer of {}", link.status, link.from))?;
        let links = response
            .entry("links".into())
            .or_insert_with(|| Value::Mapping(Mapping::new()));
        let mut parameters = Mapping::new();
        for (param, field) in link.parameters {
            parameters.insert((*param).into(), format!("$response.body#/{field}").into());
        }
        let mut body = Mapping::new();
        body.insert("operationId".into(), link.to.into());
        body.insert("parameters".into(), Value::Mapping(parameters));
        body.insert("description".into(), link.description.into());
        if let Value::Mapping(links) = links {
            links.insert(link.name.into(), Value::Mapping(body));
        }
    }
    Ok(())
}

/// `/openapi.json`, `/openapi.yaml` and the Swagger UI page, all from the finished document.
/// `swagger_html` embeds poem-openapi's own JSON, which is swapped for the finished one.
pub fn add_endpoints(route: Route, poem_json: &str, swagger_html: String) -> anyhow::Result<Route> {
    let (json, yaml) = finish(poem_json)?;
    let html = swagger_html.replace(poem_json, &json);
    Ok(route
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
        ))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SPEC: &str = r#"{"tags":[{"name":"Events"},{"name":"Products"},{"name":"System"},{"name":"Stock"}],
        "paths":{"/p":{"post":{"operationId":"create_product","responses":{"201":{"description":"c"}}}},
                 "/s":{"post":{"operationId":"create_stock","responses":{"201":{"description":"c"}}}},
                 "/r":{"post":{"operationId":"create_reservation","responses":{"201":{"description":"c"}}}},
                 "/h":{"post":{"operationId":"create_hold","responses":{"201":{"description":"c"}}}}}}"#;

    #[test]
    fn tags_come_in_reading_order_in_json_and_yaml() {
        let (json, yaml) = finish(SPEC).expect("finished");
        let doc: serde_json::Value = serde_json::from_str(&json).expect("json");
        let names: Vec<&str> = doc["tags"]
            .as_array()
            .expect("tags")
            .iter()
            .map(|t| t["name"].as_str().expect("name"))
            .collect();
        assert_eq!(names, ["Products", "Stock", "Events", "System"]);
        let from_yaml: serde_json::Value = serde_yaml::from_str(&yaml).expect("yaml");
        assert_eq!(from_yaml, doc);
    }

    #[test]
    fn a_created_reservation_links_to_confirm_and_cancel() {
        let (json, _) = finish(SPEC).expect("finished");
        let doc: serde_json::Value = serde_json::from_str(&json).expect("json");
        let links = &doc["paths"]["/r"]["post"]["responses"]["201"]["links"];
        assert_eq!(
            links["ConfirmReservation"]["operationId"],
            "confirm_reservation"
        );
        assert_eq!(
            links["CancelReservation"]["parameters"]["id"],
            "$response.body#/id"
        );
        let stock = &doc["paths"]["/s"]["post"]["responses"]["201"]["links"]["GetStock"];
        assert_eq!(stock["parameters"]["store_id"], "$response.body#/store_id");
    }

    #[test]
    fn a_link_from_a_missing_operation_is_an_error() {
        assert!(finish(r#"{"paths":{}}"#).is_err());
    }
}
