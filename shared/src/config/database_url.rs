//! `DATABASE_URL`: which engine a value names ([`Engine`]: its scheme picks it, anything
//! unknown is refused), a PostgreSQL URL that prints without its password ([`PostgresUrl`]),
//! and clap's parsers for it and `SQLITE_PATH`.

use std::path::PathBuf;

/// The storage engine `DATABASE_URL` names, parsed once at start (its scheme picks it, as in
/// atuin's server: `postgres://` / `postgresql://` PostgreSQL, a path or `sqlite:` SQLite,
/// anything else refused).
#[derive(Clone, PartialEq, Eq)]
pub enum Engine {
    /// A SQLite database file (or `:memory:`).
    Sqlite(PathBuf),
    /// A PostgreSQL server, as the libpq URL the operator wrote.
    Postgres(PostgresUrl),
}

/// A `postgres://` or `postgresql://` URL. Its `Debug` and `Display` hide the password, so
/// the URL can be logged.
#[derive(Clone, PartialEq, Eq)]
pub struct PostgresUrl(String);

impl PostgresUrl {
    /// The URL as written, password included: only for connecting.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for PostgresUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // scheme://user:password@host/… → scheme://user:***@host/…
        let Some((scheme, rest)) = self.0.split_once("://") else {
            return f.write_str(&self.0);
        };
        let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
        let (authority, tail) = rest.split_at(authority_end);
        let tail = mask_password_parameter(tail);
        match authority.rsplit_once('@') {
            Some((userinfo, host)) => match userinfo.split_once(':') {
                Some((user, _password)) => write!(f, "{scheme}://{user}:***@{host}{tail}"),
                None => write!(f, "{scheme}://{authority}{tail}"),
            },
            None => write!(f, "{scheme}://{authority}{tail}"),
        }
    }
}

/// `path?…&password=secret&…` → `path?…&password=***&…` (libpq takes the password as a query
/// parameter too).
fn mask_password_parameter(tail: &str) -> String {
    let Some((path, query)) = tail.split_once('?') else {
        return tail.to_owned();
    };
    let masked: Vec<String> = query
        .split('&')
        .map(|pair| match pair.split_once('=') {
            Some((key, _)) if key.eq_ignore_ascii_case("password") => format!("{key}=***"),
            _ => pair.to_owned(),
        })
        .collect();
    format!("{path}?{}", masked.join("&"))
}

impl std::fmt::Debug for PostgresUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PostgresUrl({self})")
    }
}

/// The database for a log line: the SQLite path, or the URL without its password.
impl std::fmt::Display for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Sqlite(path) => write!(f, "{}", path.display()),
            Self::Postgres(url) => write!(f, "{url}"),
        }
    }
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Sqlite(path) => f.debug_tuple("Sqlite").field(path).finish(),
            Self::Postgres(url) => f.debug_tuple("Postgres").field(url).finish(),
        }
    }
}

impl Engine {
    /// Reads a `DATABASE_URL` value. The part before the first `:` is a scheme when it looks
    /// like one (a letter, then letters, digits, `+`, `-` or `.`; two characters or more, so
    /// a Windows drive letter is still a path); a value without one is a SQLite path.
    /// Refusing an unknown scheme, rather than reading `mysql://h/db` as a relative path,
    /// is the point: that reading once created a folder named `postgres:` and served from a
    /// private SQLite file while the operator believed it used their PostgreSQL server.
    pub fn parse(text: &str) -> Result<Self, String> {
        let text = text.trim();
        if text.is_empty() {
            return Err("DATABASE_URL is empty; unset it for the default database \
                        (data/inventory.db), or name a file or a postgres:// URL"
                .to_owned());
        }
        let Some(scheme) = scheme_of(text) else {
            return Ok(Self::Sqlite(sqlite_file(text)));
        };
        match scheme.to_ascii_lowercase().as_str() {
            "sqlite" => {
                let rest = &text[scheme.len() + 1..];
                let rest = rest.strip_prefix("//").unwrap_or(rest);
                if rest.is_empty() {
                    return Err(format!("DATABASE_URL `{text}` names no SQLite file"));
                }
                Ok(Self::Sqlite(sqlite_file(rest)))
            }
            "postgres" | "postgresql" if text[scheme.len() + 1..].starts_with("//") => {
                Ok(Self::Postgres(PostgresUrl(text.to_owned())))
            }
            "postgres" | "postgresql" => Err(format!(
                "DATABASE_URL `{scheme}:…` is not a PostgreSQL URL: write {scheme}://USER@HOST:PORT/DATABASE"
            )),
            _ => Err(format!(
                "DATABASE_URL: `{scheme}://` is not a database this service runs on; \
                 use a SQLite path (data/inventory.db), sqlite://PATH, or postgres://USER@HOST:PORT/DATABASE"
            )),
        }
    }

    /// The engine's name, for logs and messages.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Sqlite(_) => "SQLite",
            Self::Postgres(_) => "PostgreSQL",
        }
    }
}

/// `scheme` in `scheme:rest` when the text starts with one (RFC 3986's letters).
fn scheme_of(text: &str) -> Option<&str> {
    let (scheme, _) = text.split_once(':')?;
    let mut chars = scheme.chars();
    let first = chars.next()?;
    (scheme.len() >= 2
        && first.is_ascii_alphabetic()
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.')))
    .then_some(scheme)
}

/// A SQLite path without sqlx's connection options (`data/x.db?mode=rwc` → `data/x.db`).
fn sqlite_file(text: &str) -> PathBuf {
    PathBuf::from(text.split('?').next().unwrap_or(text))
}

/// clap's parser for `DATABASE_URL`.
///
/// A parser of its own rather than a plain function: clap's error for a refused value quotes
/// the value, and a `DATABASE_URL` may hold a password (`postgress://app:secret@db/inv`, a typo
/// in the scheme). This one says only what [`Engine::parse`] says, which never repeats a
/// PostgreSQL URL.
#[derive(Debug, Clone, Copy)]
pub(super) struct DatabaseUrlParser;

impl clap::builder::TypedValueParser for DatabaseUrlParser {
    type Value = Engine;

    fn parse_ref(
        &self,
        cmd: &clap::Command,
        _arg: Option<&clap::Arg>,
        value: &std::ffi::OsStr,
    ) -> Result<Engine, clap::Error> {
        let refuse = |message: String| {
            clap::Error::raw(
                clap::error::ErrorKind::ValueValidation,
                format!("{message}\n"),
            )
            .with_cmd(cmd)
        };
        let text = value
            .to_str()
            .ok_or_else(|| refuse("DATABASE_URL is not valid UTF-8".to_owned()))?;
        Engine::parse(text).map_err(refuse)
    }
}

/// clap's parser for `SQLITE_PATH`: a SQLite path or `sqlite:` URL only.
pub(super) fn parse_sqlite_path(text: &str) -> Result<PathBuf, String> {
    match Engine::parse(text).map_err(|e| e.replace("DATABASE_URL", "SQLITE_PATH"))? {
        Engine::Sqlite(path) => Ok(path),
        Engine::Postgres(_) => {
            Err("SQLITE_PATH names a PostgreSQL server; set DATABASE_URL instead".to_owned())
        }
    }
}

/// Why a command refused the database its settings name.
#[derive(Debug, thiserror::Error)]
pub enum EngineRefused {
    /// `DATABASE_URL` names a PostgreSQL server, and the command works on a SQLite file only
    /// (`inventory-api backup`: PostgreSQL has its own tools).
    #[error(
        "DATABASE_URL names a PostgreSQL server ({0}); this command copies a SQLite file. \
         Back PostgreSQL up with pg_dump or continuous archiving (docs/operations.md); \
         nothing was created"
    )]
    SqliteOnly(PostgresUrl),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn postgres_urls_print_without_their_password() {
        let url = PostgresUrl("postgres://app:s3cret@db:5432/inv?x=1".to_owned());
        assert_eq!(url.to_string(), "postgres://app:***@db:5432/inv?x=1");
        assert!(!format!("{url:?}").contains("s3cret"));
        let refused = EngineRefused::SqliteOnly(url).to_string();
        assert!(!refused.contains("s3cret"), "{refused}");
        assert!(refused.contains("pg_dump"), "{refused}");
        let plain = PostgresUrl("postgres://postgres@127.0.0.1:5432/inv".to_owned());
        assert_eq!(plain.to_string(), "postgres://postgres@127.0.0.1:5432/inv");
        let query = PostgresUrl("postgresql://db/inv?user=app&password=s3cret&x=1".to_owned());
        assert_eq!(
            query.to_string(),
            "postgresql://db/inv?user=app&password=***&x=1"
        );
    }
}
