//! What each request does with the `rusqlite::Connection`, on the worker thread. Statements go
//! through rusqlite's prepared-statement cache (`prepare_cached`).

use std::sync::Arc;

use pool_core::{Row, Value};
use rusqlite::{CachedStatement, Connection};

use crate::types::{Param, from_sql};

/// Runs one statement and returns the rows it changed (0 for statements that change none,
/// such as DDL or a `SELECT`, whose rows are stepped through and dropped).
///
/// A string of several statements without parameters runs as a batch (a migration script) and
/// returns the rows all of them changed, triggers included.
pub(crate) fn execute(conn: &Connection, sql: &str, params: &[Value]) -> rusqlite::Result<u64> {
    let before = conn.total_changes();
    match conn.prepare_cached(sql) {
        Ok(mut stmt) => {
            bind(&mut stmt, params)?;
            let mut rows = stmt.raw_query();
            while rows.next()?.is_some() {}
        }
        // rusqlite refuses several statements, or fails preparing one after the first (which
        // may need the first to have run, e.g. an INSERT into a table the first creates).
        // Running it as a batch gives the right result either way: a single bad statement
        // fails again with the same error.
        Err(_) if params.is_empty() && is_batch(sql) => {
            conn.execute_batch(sql)?;
            return Ok(conn.total_changes() - before);
        }
        Err(e) => return Err(e),
    }
    // `changes()` keeps the count of the last INSERT/UPDATE/DELETE, so a statement that changed
    // nothing (DDL, SELECT) would report a stale number: the total tells them apart. A DML
    // statement reports its own rows, without those its triggers changed, as SQLite counts.
    Ok(if conn.total_changes() == before {
        0
    } else {
        conn.changes()
    })
}

/// Runs a query and returns all its rows, sharing one column-name list between them.
pub(crate) fn query(conn: &Connection, sql: &str, params: &[Value]) -> rusqlite::Result<Vec<Row>> {
    let mut stmt = conn.prepare_cached(sql)?;
    bind(&mut stmt, params)?;
    let columns: Arc<[String]> = stmt.column_names().into_iter().map(String::from).collect();
    let width = columns.len();
    let mut out = Vec::new();
    let mut rows = stmt.raw_query();
    while let Some(row) = rows.next()? {
        let mut values = Vec::with_capacity(width);
        for i in 0..width {
            values.push(from_sql(row.get_ref(i)?, i)?);
        }
        out.push(Row::new(Arc::clone(&columns), values));
    }
    Ok(out)
}

/// A real statement through the handle: proves the worker is responsive and the handle open.
pub(crate) fn ping(conn: &Connection) -> rusqlite::Result<()> {
    conn.prepare_cached("SELECT 1")?.query_row([], |_| Ok(()))
}

/// Ends a transaction the holder left open, if any: the whole reset when the holder ran
/// nothing that can leave state beyond a transaction.
pub(crate) fn rollback(conn: &Connection) -> rusqlite::Result<()> {
    if !conn.is_autocommit() {
        conn.execute_batch("ROLLBACK")?;
    }
    Ok(())
}

/// Returns the session to a clean state: rolls back an open transaction, drops temporary
/// tables, views and triggers, and detaches attached databases. Pragmas the holder changed are
/// not restored.
pub(crate) fn reset(conn: &Connection) -> rusqlite::Result<()> {
    rollback(conn)?;
    let temp: Vec<(String, String)> = {
        let mut stmt = conn.prepare_cached(
            "SELECT type, name FROM temp.sqlite_master \
             WHERE type IN ('view', 'trigger', 'table') AND name NOT LIKE 'sqlite_%'",
        )?;
        stmt.query_map([], |row| Ok((row.get(0)?, row.get(1)?)))?
            .collect::<rusqlite::Result<_>>()?
    };
    for (kind, name) in temp {
        let kind = match kind.as_str() {
            "view" => "VIEW",
            "trigger" => "TRIGGER",
            _ => "TABLE",
        };
        conn.execute_batch(&format!("DROP {kind} IF EXISTS temp.{}", quote(&name)))?;
    }
    let attached: Vec<String> = {
        let mut stmt = conn.prepare_cached("SELECT name FROM pragma_database_list")?;
        stmt.query_map([], |row| row.get(0))?
            .collect::<rusqlite::Result<Vec<String>>>()?
            .into_iter()
            .filter(|name| name != "main" && name != "temp")
            .collect()
    };
    for name in attached {
        conn.execute_batch(&format!("DETACH DATABASE {}", quote(&name)))?;
    }
    Ok(())
}

/// True when `sql` has a statement after its first `;` (a cheap test, only used once
/// preparing has already failed).
fn is_batch(sql: &str) -> bool {
    sql.trim_end().trim_end_matches(';').contains(';')
}

/// Binds `params` in order: the n-th value to `?`, `?n`, or a parameter *named* by the number
/// n (`$n`, `:n`, `@n`). SQLite numbers named parameters by first appearance, so without this
/// `SELECT $2, $1` would bind the first value to `$2`.
fn bind(stmt: &mut CachedStatement<'_>, params: &[Value]) -> rusqlite::Result<()> {
    let count = stmt.parameter_count();
    let needed = (1..=count)
        .map(|index| position(stmt, index) + 1)
        .max()
        .unwrap_or(0);
    if params.len() != needed {
        return Err(rusqlite::Error::InvalidParameterCount(params.len(), needed));
    }
    for index in 1..=count {
        let value = &params[position(stmt, index)];
        stmt.raw_bind_parameter(index, Param(value))?;
    }
    Ok(())
}

/// Which value (0-based) parameter `index` (1-based) takes: its number for `$n`, `:n` and
/// `@n`, else its own index (`?` and `?n`, which SQLite already numbers that way).
fn position(stmt: &CachedStatement<'_>, index: usize) -> usize {
    stmt.parameter_name(index)
        .filter(|name| !name.starts_with('?'))
        .and_then(|name| name[1..].parse::<usize>().ok())
        .filter(|n| *n >= 1)
        .map_or(index - 1, |n| n - 1)
}

/// An SQL identifier in double quotes.
fn quote(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn execute_counts_only_the_rows_a_statement_changed() {
        let conn = Connection::open_in_memory().unwrap();
        assert_eq!(execute(&conn, "CREATE TABLE t (x)", &[]).unwrap(), 0);
        assert_eq!(
            execute(&conn, "INSERT INTO t VALUES (1), (2), (3)", &[]).unwrap(),
            3
        );
        // DDL and SELECT after an insert do not report the insert's count.
        assert_eq!(execute(&conn, "CREATE TABLE u (y)", &[]).unwrap(), 0);
        assert_eq!(execute(&conn, "SELECT * FROM t", &[]).unwrap(), 0);
        assert_eq!(
            execute(
                &conn,
                "UPDATE t SET x = x + 1 WHERE x > ?",
                &[Value::I64(1)]
            )
            .unwrap(),
            2
        );
        assert_eq!(
            execute(
                &conn,
                "INSERT INTO u VALUES (1); INSERT INTO u VALUES (2);",
                &[]
            )
            .unwrap(),
            2
        );
    }

    #[test]
    fn numbered_parameters_bind_by_their_number() {
        let conn = Connection::open_in_memory().unwrap();
        let rows = query(
            &conn,
            "SELECT $2, $1, $2, ?",
            &[Value::I64(10), Value::I64(20), Value::I64(30)],
        )
        .unwrap();
        assert_eq!(
            rows[0].values(),
            [
                Value::I64(20),
                Value::I64(10),
                Value::I64(20),
                Value::I64(30)
            ]
        );
    }

    #[test]
    fn wrong_parameter_count_is_an_error() {
        let conn = Connection::open_in_memory().unwrap();
        assert!(matches!(
            query(&conn, "SELECT ?, ?", &[Value::I64(1)]),
            Err(rusqlite::Error::InvalidParameterCount(1, 2))
        ));
    }

    #[test]
    fn reset_rolls_back_and_drops_temporary_state() {
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch(
            "CREATE TABLE t (x); ATTACH ':memory:' AS other; BEGIN; \
             INSERT INTO t VALUES (1); CREATE TEMP TABLE \"we\"\"ird\" (y); \
             CREATE TEMP VIEW v AS SELECT 1;",
        )
        .unwrap();
        assert!(!conn.is_autocommit());
        reset(&conn).unwrap();
        assert!(conn.is_autocommit());
        let count: i64 = conn
            .query_row("SELECT count(*) FROM t", [], |r| r.get(0))
            .unwrap();
        assert_eq!(count, 0);
        let temp: i64 = conn
            .query_row("SELECT count(*) FROM temp.sqlite_master", [], |r| r.get(0))
            .unwrap();
        assert_eq!(temp, 0);
        let attached: i64 = conn
            .query_row(
                "SELECT count(*) FROM pragma_database_list WHERE name = 'other'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(attached, 0);
    }
}
