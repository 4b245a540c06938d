//! [`Combined`]: several writes sent as one statement, one round trip. Each write is a
//! common table expression of one `WITH` (PostgreSQL runs every data-modifying one to
//! completion, read or not); each is written with its own parameters `$1`, `$2`, … and
//! renumbered here after the ones before it, so a part reads as the statement it would be
//! on its own. (Every `$` followed by digits is a parameter: a part must not hold one inside
//! a string literal or a name; none does.)
//!
//! What one statement changes about the writes: they share one snapshot and run in no
//! promised order, and the table's statement-level triggers fire once at the end with every
//! row of the statement (the counters' triggers sum them, so that is the same), as do the
//! foreign-key checks (a reservation may name a hold inserted beside it). So only writes
//! that touch different rows and need no order among them belong here; an order that
//! matters is written as a data dependency (a part that reads another), as the events'
//! locks are.

use sqlx::postgres::PgArguments;
use sqlx::{Arguments, Encode, PgConnection, Postgres, Type};

/// A statement being built: its parts, and the values of their parameters in order.
#[derive(Default)]
pub(super) struct Combined {
    /// `name AS (...)`, comma-separated.
    parts: String,
    /// The statement after the `WITH` (`SELECT 1` unless a part sets it).
    last: Option<String>,
    args: PgArguments,
    /// The data-modifying parts, in the order added ([`Combined::write`]).
    writes: Vec<String>,
    /// Parameters the parts declared so far.
    declared: usize,
    /// Values bound so far.
    bound: usize,
    /// The first value that could not be encoded.
    error: Option<sqlx::Error>,
}

impl Combined {
    /// Adds `sql` as the part `name` (`AS MATERIALIZED` when `materialized`: evaluated once,
    /// as written, where another part reads it). Its parameters, `$1`…`$n` in `sql`, are the
    /// next `n` values [`Combined::bind`] is given.
    pub fn part(&mut self, name: &str, materialized: bool, sql: &str) -> &mut Self {
        if !self.parts.is_empty() {
            self.parts.push_str(", ");
        }
        self.parts.push_str(name);
        self.parts.push_str(if materialized {
            " AS MATERIALIZED ("
        } else {
            " AS ("
        });
        let sql = self.renumber(sql);
        self.parts.push_str(&sql);
        self.parts.push(')');
        self
    }

    /// Adds the data-modifying statement `sql` (no `RETURNING` of its own) as the part
    /// `name`, parameters as in [`Combined::part`]. It returns a row per row written, which
    /// [`Combined::after_writes`] counts.
    pub fn write(&mut self, name: &str, sql: &str) -> &mut Self {
        self.writes.push(name.to_owned());
        self.part(name, false, &format!("{sql} RETURNING 1"))
    }

    /// Adds the `MATERIALIZED` part `name` (parameters as in [`Combined::part`]), which
    /// [`Combined::after_writes`] then waits for as for a write: a check that must come
    /// before the locks taken after the writes. It must return one row.
    pub fn gate(&mut self, name: &str, sql: &str) -> &mut Self {
        self.writes.push(name.to_owned());
        self.part(name, true, sql)
    }

    /// A condition (always true) that holds only once every part added with
    /// [`Combined::write`] (or [`Combined::gate`]) so far has run to completion: it counts their rows. A part whose
    /// `WHERE` holds it runs after them (PostgreSQL evaluates it once, before the part's
    /// first row), whatever order it would pick otherwise.
    pub fn after_writes(&self) -> String {
        if self.writes.is_empty() {
            return "true".to_owned();
        }
        let counts: Vec<String> = self
            .writes
            .iter()
            .map(|name| format!("(SELECT count(*) FROM {name})"))
            .collect();
        format!("{} >= 0", counts.join(" + "))
    }

    /// Sets the statement after the `WITH` (parameters as in [`Combined::part`]).
    pub fn last(&mut self, sql: &str) -> &mut Self {
        self.last = Some(self.renumber(sql));
        self
    }

    /// The next parameter's value.
    pub fn bind<'q, T>(&mut self, value: T) -> &mut Self
    where
        T: Encode<'q, Postgres> + Type<Postgres> + 'q,
    {
        self.bound += 1;
        if let Err(e) = Arguments::add(&mut self.args, value) {
            self.fail(sqlx::Error::Encode(e));
        }
        self
    }

    /// The values already bound (for a part that binds through another module's binder).
    pub fn args(&mut self, values: usize) -> &mut PgArguments {
        self.bound += values;
        &mut self.args
    }

    /// Records a value that could not be encoded: [`Combined::execute`] returns it.
    pub fn fail(&mut self, error: sqlx::Error) {
        self.error.get_or_insert(error);
    }

    /// Runs the statement on `conn` (nothing when no part was added).
    pub async fn execute(self, conn: &mut PgConnection) -> sqlx::Result<()> {
        if let Some(e) = self.error {
            return Err(e);
        }
        if self.parts.is_empty() {
            return Ok(());
        }
        if self.declared != self.bound {
            // A bug in a part, not a database error: the batch fails (500), the writer lives.
            debug_assert_eq!(self.declared, self.bound, "parameters and values differ");
            return Err(sqlx::Error::InvalidArgument(format!(
                "a combined statement declares {} parameters and binds {} values",
                self.declared, self.bound
            )));
        }
        let statement = format!(
            "WITH {} {}",
            self.parts,
            self.last.as_deref().unwrap_or("SELECT 1")
        );
        sqlx::query_with(&statement, self.args)
            .execute(conn)
            .await?;
        Ok(())
    }

    /// `sql` with each `$k` made `$(k + parameters so far)`; counts its parameters.
    fn renumber(&mut self, sql: &str) -> String {
        let base = self.declared;
        let mut out = String::with_capacity(sql.len() + 16);
        let mut highest = 0;
        let mut chars = sql.chars().peekable();
        while let Some(c) = chars.next() {
            out.push(c);
            if c != '$' {
                continue;
            }
            let mut digits = String::new();
            while let Some(d) = chars.peek().copied().filter(char::is_ascii_digit) {
                digits.push(d);
                chars.next();
            }
            if let Ok(k) = digits.parse::<usize>() {
                highest = highest.max(k);
                out.push_str(&(k + base).to_string());
            } else {
                out.push_str(&digits);
            }
        }
        self.declared += highest;
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_part_s_parameters_follow_the_ones_before() {
        let mut c = Combined::default();
        c.part("a", false, "UPDATE t SET x = $2 WHERE id = $1");
        c.part("b", true, "SELECT $1::int, $10");
        c.last("SELECT $1");
        assert_eq!(
            c.parts,
            "a AS (UPDATE t SET x = $2 WHERE id = $1), b AS MATERIALIZED (SELECT $3::int, $12)"
        );
        assert_eq!(c.last.as_deref(), Some("SELECT $13"));
        assert_eq!(c.declared, 13);
    }

    #[test]
    fn a_part_can_wait_for_every_write_before_it() {
        let mut c = Combined::default();
        assert_eq!(c.after_writes(), "true");
        c.write("a", "UPDATE t SET x = $1").bind(1_i64);
        c.write("b", "DELETE FROM t").part("c", true, "SELECT 1");
        assert_eq!(
            c.after_writes(),
            "(SELECT count(*) FROM a) + (SELECT count(*) FROM b) >= 0"
        );
        assert!(
            c.parts
                .starts_with("a AS (UPDATE t SET x = $1 RETURNING 1), b AS (")
        );
    }
}
