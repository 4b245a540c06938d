//! `X-API-Key` authentication against the keys parsed at start-up ([`ApiKeys`], from
//! `API_KEYS`); only the key's name is ever logged.

use std::sync::Arc;

use poem::Request;
use poem_openapi::SecurityScheme;
use poem_openapi::auth::ApiKey;

use crate::keys::ApiKeys;

/// A caller authenticated by `X-API-Key`; holds the key's name.
#[derive(SecurityScheme)]
#[oai(
    ty = "api_key",
    key_name = "X-API-Key",
    key_in = "header",
    checker = "check_key"
)]
pub struct ApiKeyAuth(pub String);

/// The `WWW-Authenticate` challenge sent with every 401 (RFC 9110 requires one): the scheme
/// is the API-key style, naming the header that carries the key.
pub const CHALLENGE: &str = "ApiKey header=\"X-API-Key\"";

async fn check_key(req: &Request, key: ApiKey) -> Option<String> {
    // Two keys in one request are ambiguous (a proxy may have added one): refuse rather
    // than pick one.
    if req.headers().get_all("x-api-key").iter().count() != 1 {
        return None;
    }
    req.data::<Arc<ApiKeys>>()?.caller(&key.key)
}
