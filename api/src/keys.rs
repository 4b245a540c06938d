//! The API keys in force (`API_KEYS=key:name,key:name`), parsed once at start-up by
//! [`crate::config`] and checked by the HTTP layer's authentication. Keys are compared in
//! constant time and never printed: `Debug` shows only their names.
//!
//! Its own module, below both `config` and `http`, so that settings do not depend on the HTTP
//! layer.

use subtle::ConstantTimeEq;

/// The configured keys.
#[derive(Clone)]
pub struct ApiKeys {
    keys: Vec<(Vec<u8>, String)>,
}

impl std::fmt::Debug for ApiKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<&str> = self.keys.iter().map(|(_, n)| n.as_str()).collect();
        f.debug_struct("ApiKeys").field("names", &names).finish()
    }
}

impl ApiKeys {
    /// Parses `key:name,key:name` (a key without `:name` is named `key-N`).
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut keys = Vec::new();
        for (i, entry) in text
            .split(',')
            .map(str::trim)
            .filter(|e| !e.is_empty())
            .enumerate()
        {
            let (key, name) = match entry.split_once(':') {
                Some((k, n)) => (k.trim(), n.trim().to_owned()),
                None => (entry, format!("key-{}", i + 1)),
            };
            if key.len() < 8 {
                return Err(format!(
                    "entry {} has a key shorter than 8 characters",
                    i + 1
                ));
            }
            keys.push((key.as_bytes().to_vec(), name));
        }
        if keys.is_empty() {
            return Err("no key given (expected key:name,key:name)".to_owned());
        }
        Ok(Self { keys })
    }

    /// The names of the keys (for the start-up log).
    pub fn names(&self) -> Vec<&str> {
        self.keys.iter().map(|(_, n)| n.as_str()).collect()
    }

    /// The name of the caller owning `presented`, comparing against every key in constant time.
    pub fn caller(&self, presented: &str) -> Option<String> {
        let presented = presented.as_bytes();
        let mut found = None;
        for (key, name) in &self.keys {
            if bool::from(key.as_slice().ct_eq(presented)) {
                found = Some(name.clone());
            }
        }
        found
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_parse_and_match_by_value() {
        let keys = ApiKeys::parse("secret-one:pos, secret-two:web").expect("valid");
        assert_eq!(keys.caller("secret-two").as_deref(), Some("web"));
        assert_eq!(keys.caller("secret-tw"), None);
        assert_eq!(keys.caller(""), None);
        assert!(!format!("{keys:?}").contains("secret"));
        assert!(ApiKeys::parse("short:x").is_err());
        assert!(ApiKeys::parse(" , ").is_err());
    }
}
