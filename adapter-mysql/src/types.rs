//! Mapping between the pool's neutral [`Value`] and MySQL values.
//!
//! Results are mapped by the column's type, so both protocols give the same values: queries
//! without parameters use the text protocol (every value arrives as text), queries with
//! parameters the binary protocol of prepared statements (typed values).
//!
//! | MySQL column | [`Value`] |
//! |---|---|
//! | `NULL` | [`Value::Null`] |
//! | `TINYINT` … `BIGINT`, `YEAR` (signed) | [`Value::I64`] |
//! | unsigned integers that fit in `i64` | [`Value::I64`] |
//! | `BIGINT UNSIGNED` above `i64::MAX` | [`Value::Text`] with its decimal digits (exact) |
//! | `BOOL`/`BOOLEAN` (an alias of `TINYINT(1)`) | [`Value::I64`] 0/1; [`Value::as_bool`] reads it |
//! | `FLOAT`, `DOUBLE` | [`Value::F64`] |
//! | `DECIMAL`/`NUMERIC` | [`Value::Text`], e.g. `"12.50"`: exact, where `f64` would round |
//! | `DATE`, `DATETIME`, `TIMESTAMP`, `TIME` | [`Value::Text`] in MySQL's format (`2024-05-01 12:00:00.250000`) |
//! | `CHAR`, `VARCHAR`, `TEXT`, `ENUM`, `SET` (non-binary character set), `JSON` | [`Value::Text`] |
//! | `BINARY`, `VARBINARY`, `BLOB`, `BIT`, `GEOMETRY` (character set `binary`, 63) | [`Value::Bytes`] |
//!
//! Text columns arrive in the connection's character set (`utf8mb4`); a value that is still not
//! valid UTF-8 comes back as [`Value::Bytes`] rather than being altered.
//!
//! Parameters: `Null` → `NULL`, `Bool` → integer 0/1, `I64` → signed integer, `F64` → double,
//! `Text` → string, `Bytes` → binary string.

use std::sync::Arc;

use mysql_async::consts::{ColumnFlags, ColumnType};
use mysql_async::{Column, Value as MyValue};
use pool_core::{BackendError, Result, Row, Value};

/// MySQL's `binary` character set: the column holds bytes, not text.
const BINARY_CHARSET: u16 = 63;

/// A neutral parameter as a MySQL value.
pub(crate) fn to_mysql(value: &Value) -> Result<MyValue> {
    Ok(match value {
        Value::Null => MyValue::NULL,
        Value::Bool(b) => MyValue::Int(i64::from(*b)),
        Value::I64(i) => MyValue::Int(*i),
        Value::F64(f) => MyValue::Double(*f),
        Value::Text(s) => MyValue::Bytes(s.as_bytes().to_vec()),
        Value::Bytes(b) => MyValue::Bytes(b.clone()),
        other => {
            return Err(BackendError::query(format!(
                "adapter-mysql cannot send the parameter {other:?}: its type is not supported"
            ))
            .into());
        }
    })
}

/// Neutral parameters as MySQL positional parameters.
pub(crate) fn params(values: &[Value]) -> Result<Vec<MyValue>> {
    values.iter().map(to_mysql).collect()
}

/// The column names of a result, shared by all its rows.
pub(crate) fn column_names(columns: &[Column]) -> Arc<[String]> {
    columns.iter().map(|c| c.name_str().into_owned()).collect()
}

/// One MySQL row as a neutral row.
pub(crate) fn row(names: &Arc<[String]>, row: mysql_async::Row) -> Row {
    let columns = row.columns();
    let values = row
        .unwrap()
        .into_iter()
        .zip(columns.iter())
        .map(|(value, column)| from_mysql(value, column))
        .collect();
    Row::new(Arc::clone(names), values)
}

/// One MySQL value, from either protocol, as a neutral value.
pub(crate) fn from_mysql(value: MyValue, column: &Column) -> Value {
    match value {
        MyValue::NULL => Value::Null,
        MyValue::Int(i) => Value::I64(i),
        MyValue::UInt(u) => unsigned(u),
        MyValue::Float(f) => Value::F64(f64::from(f)),
        MyValue::Double(f) => Value::F64(f),
        MyValue::Date(y, mo, d, h, mi, s, us) => {
            let date = format!("{y:04}-{mo:02}-{d:02}");
            if column.column_type() == ColumnType::MYSQL_TYPE_DATE {
                Value::Text(date)
            } else {
                Value::Text(format!(
                    "{date} {h:02}:{mi:02}:{s:02}{}",
                    fraction(us, column.decimals())
                ))
            }
        }
        MyValue::Time(negative, days, h, mi, s, us) => {
            let hours = u64::from(days) * 24 + u64::from(h);
            Value::Text(format!(
                "{}{hours:02}:{mi:02}:{s:02}{}",
                if negative { "-" } else { "" },
                fraction(us, column.decimals())
            ))
        }
        MyValue::Bytes(bytes) => from_bytes(bytes, column),
    }
}

fn unsigned(u: u64) -> Value {
    i64::try_from(u).map_or_else(|_| Value::Text(u.to_string()), Value::I64)
}

/// Fractional seconds as MySQL's text protocol prints them: as many digits as the column
/// declares, none for a column without fractional seconds (`decimals` 0, or 31/39 for
/// "not fixed", where only a non-zero fraction is shown).
fn fraction(micros: u32, decimals: u8) -> String {
    match decimals {
        1..=6 => {
            let digits = usize::from(decimals);
            let scaled = micros / 10u32.pow(6 - u32::from(decimals));
            format!(".{scaled:0digits$}")
        }
        0 => String::new(),
        _ if micros == 0 => String::new(),
        _ => format!(".{micros:06}"),
    }
}

/// A value that arrived as bytes: every value of the text protocol, and strings, decimals and
/// blobs of the binary protocol.
fn from_bytes(bytes: Vec<u8>, column: &Column) -> Value {
    use ColumnType::*;
    let unsigned_column = column.flags().contains(ColumnFlags::UNSIGNED_FLAG);
    match column.column_type() {
        MYSQL_TYPE_NULL => Value::Null,
        MYSQL_TYPE_TINY | MYSQL_TYPE_SHORT | MYSQL_TYPE_INT24 | MYSQL_TYPE_LONG
        | MYSQL_TYPE_LONGLONG | MYSQL_TYPE_YEAR => {
            let text = String::from_utf8_lossy(&bytes);
            let parsed = if unsigned_column {
                text.parse::<u64>().ok().map(unsigned)
            } else {
                text.parse::<i64>().ok().map(Value::I64)
            };
            parsed.unwrap_or_else(|| Value::Text(text.into_owned()))
        }
        MYSQL_TYPE_FLOAT | MYSQL_TYPE_DOUBLE => {
            let text = String::from_utf8_lossy(&bytes);
            text.parse::<f64>()
                .map_or_else(|_| Value::Text(text.into_owned()), Value::F64)
        }
        // Decimals, temporal values and MySQL 8's JSON are text sent in the character set
        // `binary`: never bytes.
        MYSQL_TYPE_DECIMAL
        | MYSQL_TYPE_NEWDECIMAL
        | MYSQL_TYPE_DATE
        | MYSQL_TYPE_NEWDATE
        | MYSQL_TYPE_TIME
        | MYSQL_TYPE_TIME2
        | MYSQL_TYPE_DATETIME
        | MYSQL_TYPE_DATETIME2
        | MYSQL_TYPE_TIMESTAMP
        | MYSQL_TYPE_TIMESTAMP2
        | MYSQL_TYPE_JSON => text_or_bytes(bytes),
        MYSQL_TYPE_BIT | MYSQL_TYPE_GEOMETRY | MYSQL_TYPE_VECTOR => Value::Bytes(bytes),
        _ if column.character_set() == BINARY_CHARSET => Value::Bytes(bytes),
        _ => text_or_bytes(bytes),
    }
}

fn text_or_bytes(bytes: Vec<u8>) -> Value {
    String::from_utf8(bytes).map_or_else(|e| Value::Bytes(e.into_bytes()), Value::Text)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn column(ty: ColumnType, flags: ColumnFlags, charset: u16, decimals: u8) -> Column {
        Column::new(ty)
            .with_flags(flags)
            .with_character_set(charset)
            .with_decimals(decimals)
    }

    fn signed(ty: ColumnType) -> Column {
        column(ty, ColumnFlags::empty(), BINARY_CHARSET, 0)
    }

    #[test]
    fn text_protocol_values_follow_the_column_type() {
        use ColumnType::*;
        let utf8mb4 = 45;
        let unsigned_big = column(
            MYSQL_TYPE_LONGLONG,
            ColumnFlags::UNSIGNED_FLAG,
            BINARY_CHARSET,
            0,
        );
        let cases: Vec<(&str, &[u8], Column, Value)> = vec![
            ("tinyint", b"-5", signed(MYSQL_TYPE_TINY), Value::I64(-5)),
            (
                "bigint",
                b"9223372036854775807",
                signed(MYSQL_TYPE_LONGLONG),
                Value::I64(i64::MAX),
            ),
            ("unsigned fits", b"42", unsigned_big.clone(), Value::I64(42)),
            (
                "unsigned too big",
                b"18446744073709551615",
                unsigned_big,
                Value::Text("18446744073709551615".into()),
            ),
            ("year", b"2024", signed(MYSQL_TYPE_YEAR), Value::I64(2024)),
            ("double", b"1.5", signed(MYSQL_TYPE_DOUBLE), Value::F64(1.5)),
            ("float", b"0.25", signed(MYSQL_TYPE_FLOAT), Value::F64(0.25)),
            (
                "decimal",
                b"12.50",
                signed(MYSQL_TYPE_NEWDECIMAL),
                Value::Text("12.50".into()),
            ),
            (
                "datetime",
                b"2024-05-01 12:00:00",
                signed(MYSQL_TYPE_DATETIME),
                Value::Text("2024-05-01 12:00:00".into()),
            ),
            (
                "varchar",
                "h\u{e9}llo".as_bytes(),
                column(MYSQL_TYPE_VAR_STRING, ColumnFlags::empty(), utf8mb4, 0),
                Value::Text("h\u{e9}llo".into()),
            ),
            (
                "varbinary",
                b"\x00\xff",
                column(
                    MYSQL_TYPE_VAR_STRING,
                    ColumnFlags::BINARY_FLAG,
                    BINARY_CHARSET,
                    0,
                ),
                Value::Bytes(vec![0, 255]),
            ),
            (
                "blob",
                b"abc",
                column(MYSQL_TYPE_BLOB, ColumnFlags::BINARY_FLAG, BINARY_CHARSET, 0),
                Value::Bytes(b"abc".to_vec()),
            ),
            (
                "text",
                b"abc",
                column(MYSQL_TYPE_BLOB, ColumnFlags::empty(), utf8mb4, 0),
                Value::Text("abc".into()),
            ),
            (
                "invalid utf-8 in a text column stays bytes",
                b"\xff",
                column(MYSQL_TYPE_STRING, ColumnFlags::empty(), utf8mb4, 0),
                Value::Bytes(vec![255]),
            ),
            (
                "bit",
                b"\x01",
                signed(MYSQL_TYPE_BIT),
                Value::Bytes(vec![1]),
            ),
            (
                "MySQL 8 JSON arrives with the binary character set",
                b"{\"a\": 1}",
                column(MYSQL_TYPE_JSON, ColumnFlags::BINARY_FLAG, BINARY_CHARSET, 0),
                Value::Text("{\"a\": 1}".into()),
            ),
        ];
        for (name, bytes, column, expected) in cases {
            assert_eq!(
                from_mysql(MyValue::Bytes(bytes.to_vec()), &column),
                expected,
                "{name}"
            );
        }
        assert_eq!(
            from_mysql(MyValue::NULL, &signed(MYSQL_TYPE_LONG)),
            Value::Null
        );
    }

    #[test]
    fn binary_protocol_values_map_to_the_same_values() {
        use ColumnType::*;
        let any = signed(MYSQL_TYPE_LONGLONG);
        assert_eq!(from_mysql(MyValue::Int(-1), &any), Value::I64(-1));
        assert_eq!(from_mysql(MyValue::UInt(7), &any), Value::I64(7));
        assert_eq!(
            from_mysql(MyValue::UInt(u64::MAX), &any),
            Value::Text(u64::MAX.to_string())
        );
        assert_eq!(from_mysql(MyValue::Float(0.5), &any), Value::F64(0.5));
        assert_eq!(from_mysql(MyValue::Double(2.5), &any), Value::F64(2.5));
        assert_eq!(
            from_mysql(
                MyValue::Date(2024, 5, 1, 0, 0, 0, 0),
                &signed(MYSQL_TYPE_DATE)
            ),
            Value::Text("2024-05-01".into())
        );
        assert_eq!(
            from_mysql(
                MyValue::Date(2024, 5, 1, 12, 3, 4, 250_000),
                &column(MYSQL_TYPE_DATETIME, ColumnFlags::empty(), BINARY_CHARSET, 6)
            ),
            Value::Text("2024-05-01 12:03:04.250000".into())
        );
        assert_eq!(
            from_mysql(
                MyValue::Date(2024, 5, 1, 12, 3, 4, 250_000),
                &column(MYSQL_TYPE_DATETIME, ColumnFlags::empty(), BINARY_CHARSET, 3)
            ),
            Value::Text("2024-05-01 12:03:04.250".into())
        );
        assert_eq!(
            from_mysql(MyValue::Time(true, 1, 2, 3, 4, 0), &signed(MYSQL_TYPE_TIME)),
            Value::Text("-26:03:04".into())
        );
    }

    #[test]
    fn parameters_map_to_mysql_values() {
        assert_eq!(to_mysql(&Value::Null).unwrap(), MyValue::NULL);
        assert_eq!(to_mysql(&Value::Bool(true)).unwrap(), MyValue::Int(1));
        assert_eq!(to_mysql(&Value::I64(-3)).unwrap(), MyValue::Int(-3));
        assert_eq!(to_mysql(&Value::F64(1.5)).unwrap(), MyValue::Double(1.5));
        assert_eq!(
            to_mysql(&Value::Text("é".into())).unwrap(),
            MyValue::Bytes("é".as_bytes().to_vec())
        );
        assert_eq!(
            to_mysql(&Value::Bytes(vec![0, 1])).unwrap(),
            MyValue::Bytes(vec![0, 1])
        );
    }
}
