//! Mapping between the pool's neutral [`Value`] and SQLite's storage classes.
//!
//! | `Value`       | SQLite            | comes back as   |
//! |---------------|-------------------|-----------------|
//! | `Null`        | `NULL`            | `Null`          |
//! | `Bool(b)`     | `INTEGER` 0 or 1  | `I64(0 or 1)`: SQLite has no boolean; [`Value::as_bool`] reads it |
//! | `I64`         | `INTEGER`         | `I64`           |
//! | `F64`         | `REAL`            | `F64`           |
//! | `Text`        | `TEXT`            | `Text` (invalid UTF-8 in a `TEXT` value is an error) |
//! | `Bytes`       | `BLOB`            | `Bytes`         |
//!
//! A column's value comes back in the storage class SQLite stored it in, whatever the declared
//! type (SQLite's type affinity decides that on insert).

use pool_core::Value;
use rusqlite::ToSql;
use rusqlite::types::{ToSqlOutput, Type, ValueRef};

/// A borrowed [`Value`] bound as a statement parameter without copying it.
pub(crate) struct Param<'a>(pub(crate) &'a Value);

impl ToSql for Param<'_> {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        let value = match self.0 {
            Value::Null => ValueRef::Null,
            Value::Bool(b) => ValueRef::Integer(i64::from(*b)),
            Value::I64(v) => ValueRef::Integer(*v),
            Value::F64(v) => ValueRef::Real(*v),
            Value::Text(s) => ValueRef::Text(s.as_bytes()),
            Value::Bytes(b) => ValueRef::Blob(b),
            other => {
                return Err(rusqlite::Error::ToSqlConversionFailure(
                    format!("the SQLite adapter cannot bind the value {other:?}").into(),
                ));
            }
        };
        Ok(ToSqlOutput::Borrowed(value))
    }
}

/// Column `index`'s value as a neutral [`Value`].
pub(crate) fn from_sql(value: ValueRef<'_>, index: usize) -> rusqlite::Result<Value> {
    Ok(match value {
        ValueRef::Null => Value::Null,
        ValueRef::Integer(v) => Value::I64(v),
        ValueRef::Real(v) => Value::F64(v),
        ValueRef::Text(bytes) => Value::Text(
            std::str::from_utf8(bytes)
                .map_err(|e| {
                    rusqlite::Error::FromSqlConversionFailure(index, Type::Text, e.into())
                })?
                .to_owned(),
        ),
        ValueRef::Blob(bytes) => Value::Bytes(bytes.to_vec()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(value: Value) -> Value {
        let conn = rusqlite::Connection::open_in_memory().unwrap();
        conn.query_row("SELECT ?1", [Param(&value)], |row| {
            from_sql(row.get_ref(0)?, 0)
        })
        .unwrap()
    }

    #[test]
    fn values_round_trip_through_sqlite() {
        for value in [
            Value::Null,
            Value::I64(-42),
            Value::I64(i64::MAX),
            Value::F64(1.5),
            Value::Text("héllo".into()),
            Value::Text(String::new()),
            Value::Bytes(vec![0, 255, 7]),
        ] {
            assert_eq!(round_trip(value.clone()), value);
        }
    }

    #[test]
    fn booleans_come_back_as_integers() {
        assert_eq!(round_trip(Value::Bool(true)), Value::I64(1));
        assert_eq!(round_trip(Value::Bool(false)), Value::I64(0));
        assert_eq!(round_trip(Value::Bool(true)).as_bool(), Some(true));
    }

    #[test]
    fn invalid_utf8_text_is_an_error() {
        let conn = rusqlite::Connection::open_in_memory().unwrap();
        let result = conn.query_row("SELECT CAST(x'ff' AS TEXT)", [], |row| {
            from_sql(row.get_ref(0)?, 0)
        });
        assert!(matches!(
            result,
            Err(rusqlite::Error::FromSqlConversionFailure(0, Type::Text, _))
        ));
    }
}
