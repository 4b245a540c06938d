//! Making secrets safe to log: a leaf module every other one may use (config, publishers).

/// Replaces the password of a URL (`scheme://user:password@host/...`) with `***`, so the URL can
/// be logged. URLs without a password come back unchanged.
pub fn mask_url_password(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, path) = rest.split_at(authority_end);
    let Some((userinfo, host)) = authority.rsplit_once('@') else {
        return url.to_owned();
    };
    match userinfo.split_once(':') {
        Some((user, _password)) => format!("{scheme}://{user}:***@{host}{path}"),
        None => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_masked_and_nothing_else_changes() {
        assert_eq!(
            mask_url_password("redis://:s3cret@cache:6380/2"),
            "redis://:***@cache:6380/2"
        );
        assert_eq!(
            mask_url_password("rediss://app:p@ss@cache/0"),
            "rediss://app:***@cache/0"
        );
        assert_eq!(
            mask_url_password("redis://127.0.0.1:6379"),
            "redis://127.0.0.1:6379"
        );
        assert_eq!(mask_url_password("redis://user@host"), "redis://user@host");
        assert_eq!(mask_url_password("not a url"), "not a url");
    }
}
