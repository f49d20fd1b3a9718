//! Small helpers the cases share: one value out of a query, readable values in messages.

use pool_core::{ConnectionProtocol, Value};

use crate::outcome::{CaseError, CaseResult, Context, ensure_eq};
use crate::target::{ConformanceTarget, ConnectionOf, Native};

/// Runs `sql` and returns the first column of its only row.
pub(crate) async fn scalar<C: ConnectionProtocol + ?Sized>(
    conn: &mut C,
    sql: &str,
    params: &[Value],
) -> CaseResult<Value> {
    let rows = conn.query(sql, params).await.context(sql)?;
    ensure_eq!(rows.len(), 1, "rows returned by `{sql}`");
    rows[0]
        .get(0)
        .cloned()
        .ok_or_else(|| CaseError::Failed(format!("`{sql}` returned a row without columns")))
}

/// [`scalar`], read as an integer (booleans as 0/1).
pub(crate) async fn scalar_i64<C: ConnectionProtocol + ?Sized>(
    conn: &mut C,
    sql: &str,
    params: &[Value],
) -> CaseResult<i64> {
    let value = scalar(conn, sql, params).await?;
    value.as_i64().ok_or_else(|| {
        CaseError::Failed(format!("`{sql}` returned {}, not an integer", show(&value)))
    })
}

/// A value for a message: long text and bytes are shortened to their length and start.
pub(crate) fn show(value: &Value) -> String {
    const KEEP: usize = 40;
    match value {
        Value::Text(s) if s.len() > KEEP => {
            let start: String = s.chars().take(KEEP / 2).collect();
            format!("Text({} bytes: {start:?}…)", s.len())
        }
        Value::Bytes(b) if b.len() > KEEP => {
            format!("Bytes({} bytes: {:?}…)", b.len(), &b[..KEEP / 2])
        }
        other => format!("{other:?}"),
    }
}

/// Fails unless `got` is exactly `expected` (same variant, same value), naming `what`.
pub(crate) fn expect_value(got: &Value, expected: &Value, what: &str) -> CaseResult<()> {
    if got == expected {
        Ok(())
    } else {
        Err(CaseError::Failed(format!(
            "{what}: sent {}, got back {}",
            show(expected),
            show(got)
        )))
    }
}

/// Runs `sql` through the target's native client; a target without one makes the case not
/// applicable.
pub(crate) async fn execute_native<T: ConformanceTarget>(
    target: &T,
    conn: &mut ConnectionOf<T>,
    sql: &str,
) -> CaseResult<()> {
    target.execute_native(conn, sql).await.map_err(|e| match e {
        Native::Unsupported(reason) => CaseError::NotApplicable(reason),
        Native::Failed(message) => {
            CaseError::Failed(format!("`{sql}` through the native client: {message}"))
        }
    })
}
