//! The driver-neutral values and rows of [`ConnectionProtocol`](crate::ConnectionProtocol).
//!
//! They are deliberately small: enough for health checks, the shared conformance suite and
//! simple queries. Real applications reach for each adapter's native client, which every pooled
//! connection exposes.

use std::fmt;
use std::sync::Arc;

/// One parameter or column value, in the handful of types every supported database shares.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Value {
    /// SQL `NULL`.
    Null,
    /// A boolean (MySQL reports it as `TINYINT(1)`, so it may come back as [`Value::I64`]).
    Bool(bool),
    /// A signed 64-bit integer; narrower integer columns widen into it.
    I64(i64),
    /// A double-precision float; `REAL`/`FLOAT` columns widen into it.
    F64(f64),
    /// UTF-8 text.
    Text(String),
    /// Raw bytes (`BYTEA`, `BLOB`, `VARBINARY`).
    Bytes(Vec<u8>),
}

impl Value {
    /// True for [`Value::Null`].
    pub fn is_null(&self) -> bool {
        matches!(self, Value::Null)
    }

    /// The integer inside, also from a boolean (as 0 or 1), else `None`.
    pub fn as_i64(&self) -> Option<i64> {
        match self {
            Value::I64(v) => Some(*v),
            Value::Bool(b) => Some(i64::from(*b)),
            _ => None,
        }
    }

    /// The float inside, else `None`.
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Value::F64(v) => Some(*v),
            _ => None,
        }
    }

    /// The text inside, else `None`.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Text(s) => Some(s),
            _ => None,
        }
    }

    /// The bytes inside, else `None`.
    pub fn as_bytes(&self) -> Option<&[u8]> {
        match self {
            Value::Bytes(b) => Some(b),
            _ => None,
        }
    }

    /// The boolean inside, also from an integer 0 or 1 (MySQL's `TINYINT(1)`), else `None`.
    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Value::Bool(b) => Some(*b),
            Value::I64(0) => Some(false),
            Value::I64(1) => Some(true),
            _ => None,
        }
    }
}

impl From<bool> for Value {
    fn from(v: bool) -> Self {
        Value::Bool(v)
    }
}
impl From<i64> for Value {
    fn from(v: i64) -> Self {
        Value::I64(v)
    }
}
impl From<i32> for Value {
    fn from(v: i32) -> Self {
        Value::I64(i64::from(v))
    }
}
impl From<f64> for Value {
    fn from(v: f64) -> Self {
        Value::F64(v)
    }
}
impl From<&str> for Value {
    fn from(v: &str) -> Self {
        Value::Text(v.to_owned())
    }
}
impl From<String> for Value {
    fn from(v: String) -> Self {
        Value::Text(v)
    }
}
impl From<Vec<u8>> for Value {
    fn from(v: Vec<u8>) -> Self {
        Value::Bytes(v)
    }
}
impl<T: Into<Value>> From<Option<T>> for Value {
    fn from(v: Option<T>) -> Self {
        v.map_or(Value::Null, Into::into)
    }
}

/// One result row: values in column order, with the column names shared by all rows of a result.
#[derive(Clone, PartialEq)]
pub struct Row {
    columns: Arc<[String]>,
    values: Vec<Value>,
}

impl Row {
    /// A row from shared column names and its values (adapters build these).
    ///
    /// `values` is truncated or padded with `NULL` to the number of columns, so a row is
    /// never inconsistent with its header.
    pub fn new(columns: Arc<[String]>, mut values: Vec<Value>) -> Self {
        values.resize(columns.len(), Value::Null);
        Self { columns, values }
    }

    /// The value of column `index` (0-based), if it exists.
    pub fn get(&self, index: usize) -> Option<&Value> {
        self.values.get(index)
    }

    /// The value of the first column named `name`, if there is one.
    pub fn get_by_name(&self, name: &str) -> Option<&Value> {
        let index = self.columns.iter().position(|c| c == name)?;
        self.values.get(index)
    }

    /// The column names, in order.
    pub fn columns(&self) -> &[String] {
        &self.columns
    }

    /// The values, in column order.
    pub fn values(&self) -> &[Value] {
        &self.values
    }

    /// Number of columns.
    pub fn len(&self) -> usize {
        self.values.len()
    }

    /// True when the row has no columns.
    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    /// Takes the values out of the row.
    pub fn into_values(self) -> Vec<Value> {
        self.values
    }
}

impl fmt::Debug for Row {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut map = f.debug_map();
        for (name, value) in self.columns.iter().zip(&self.values) {
            map.entry(name, value);
        }
        map.finish()
    }
}

/// How an adapter writes the n-th bind parameter in SQL: the neutral API passes SQL through
/// untouched, so portable code asks the connection for its style instead of guessing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ParameterStyle {
    /// `?` for every parameter (MySQL, SQLite).
    QuestionMark,
    /// `$1`, `$2`, … (PostgreSQL; SQLite accepts it too).
    Dollar,
}

impl ParameterStyle {
    /// The placeholder for parameter `index` (1-based, as SQL counts).
    pub fn placeholder(self, index: usize) -> String {
        match self {
            ParameterStyle::QuestionMark => "?".to_owned(),
            ParameterStyle::Dollar => format!("${index}"),
        }
    }

    /// `count` placeholders joined by `", "`: handy for `VALUES (…)` lists.
    pub fn placeholders(self, count: usize) -> String {
        (1..=count)
            .map(|i| self.placeholder(i))
            .collect::<Vec<_>>()
            .join(", ")
    }
}
