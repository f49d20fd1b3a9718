//! Values: every [`Value`] variant goes into a real column and comes back unchanged, bound with
//! the connection's own placeholder style.
//!
//! The neutral API passes SQL through untouched; each adapter declares how its database writes
//! bind parameters ([`ConnectionProtocol::parameter_style`]), and portable code builds its SQL
//! with [`ParameterStyle::placeholder`](pool_core::ParameterStyle::placeholder). Rewriting SQL
//! would need an SQL lexer per dialect (quotes, comments, `?` inside JSON operators), so the
//! suite does what applications should: it asks the connection.
//!
//! Not covered, because the databases disagree: NaN and infinities (MySQL rejects them),
//! `-0.0` (MySQL may return `0`), and a boolean column's type on the way back (MySQL and SQLite
//! return `I64` 0/1, read with [`Value::as_bool`]).

use std::sync::Arc;

use pool_core::{ConnectionProtocol, Value};

use super::support::{expect_value, scalar_i64, show};
use crate::context::CaseContext;
use crate::outcome::{CaseError, CaseResult, Context, ensure, ensure_eq};
use crate::target::{ConformanceTarget, ConnectionOf};

/// One MiB: large enough to cross every protocol's packet and buffer boundaries.
const MIB: usize = 1 << 20;

/// A connection with a fresh table of one column per type.
async fn values_table<T: ConformanceTarget>(
    cx: &CaseContext<T>,
    conn: &mut ConnectionOf<T>,
) -> CaseResult<String> {
    let t = cx.target().column_types();
    let columns = format!(
        "id {} PRIMARY KEY, b {}, i {}, f {}, s {}, y {}",
        t.bigint, t.boolean, t.bigint, t.double, t.text, t.blob
    );
    cx.create_table(conn, "values", &columns).await
}

/// Inserts `value` into `column` of row `id` with bound parameters and reads it back twice:
/// with a bound parameter, and with none (MySQL answers parameterless statements over its text
/// protocol, where values travel as text). Both reads must agree; the first is returned.
async fn round_trip<C: ConnectionProtocol + ?Sized>(
    conn: &mut C,
    table: &str,
    column: &str,
    id: i64,
    value: &Value,
) -> CaseResult<Value> {
    let style = conn.parameter_style();
    let insert = format!(
        "INSERT INTO {table} (id, {column}) VALUES ({}, {})",
        style.placeholder(1),
        style.placeholder(2)
    );
    let inserted = conn
        .execute(&insert, &[Value::I64(id), value.clone()])
        .await
        .context(format!("inserting {} into {column}", show(value)))?;
    ensure_eq!(inserted, 1, "rows affected by inserting {}", show(value));
    let bound = read_one(
        conn,
        &format!(
            "SELECT {column} FROM {table} WHERE id = {}",
            style.placeholder(1)
        ),
        &[Value::I64(id)],
    )
    .await?;
    let inline = read_one(
        conn,
        &format!("SELECT {column} FROM {table} WHERE id = {id}"),
        &[],
    )
    .await?;
    expect_value(
        &inline,
        &bound,
        &format!("{column} read without parameters vs. with a bound parameter"),
    )?;
    Ok(bound)
}

/// The only column of the only row `sql` returns.
async fn read_one<C: ConnectionProtocol + ?Sized>(
    conn: &mut C,
    sql: &str,
    params: &[Value],
) -> CaseResult<Value> {
    let rows = conn.query(sql, params).await.context(sql)?;
    ensure_eq!(rows.len(), 1, "rows returned by `{sql}`");
    rows[0]
        .get(0)
        .cloned()
        .ok_or_else(|| CaseError::Failed(format!("`{sql}` returned no column")))
}

/// Round-trips each value of `values` through `column` and requires it back unchanged.
async fn exact_round_trips<T: ConformanceTarget>(
    cx: Arc<CaseContext<T>>,
    column: &str,
    values: Vec<Value>,
) -> CaseResult {
    let pool = cx.build(cx.pool()?).await?;
    let mut conn = pool.get().await.context("get()")?;
    let table = values_table(&cx, &mut conn).await?;
    for (id, value) in (1_i64..).zip(&values) {
        let back = round_trip(&mut *conn, &table, column, id, value).await?;
        expect_value(&back, value, &format!("round trip through column {column}"))?;
    }
    drop(conn);
    cx.close(pool).await
}

/// `NULL` bound into every column type comes back as `NULL`.
pub(crate) async fn null_round_trips_in_every_column_type<T: ConformanceTarget>(
    cx: Arc<CaseContext<T>>,
) -> CaseResult {
    let pool = cx.build(cx.pool()?).await?;
    let mut conn = pool.get().await.context("get()")?;
    let table = values_table(&cx, &mut conn).await?;
    for (id, column) in (1_i64..).zip(["b", "i", "f", "s", "y"]) {
        let back = round_trip(&mut *conn, &table, column, id, &Value::Null).await?;
        ensure!(
            back.is_null(),
            "NULL through column {column} came back as {}",
            show(&back)
        );
    }
    drop(conn);
    cx.close(pool).await
}

/// `true` and `false` come back as the same truth value (as `Bool`, or `I64` 1/0 where the
/// database has no boolean type).
pub(crate) async fn booleans_round_trip<T: ConformanceTarget>(
    cx: Arc<CaseContext<T>>,
) -> CaseResult {
    let pool = cx.build(cx.pool()?).await?;
    let mut conn = pool.get().await.context("get()")?;
    let table = values_table(&cx, &mut conn).await?;
    for (id, truth) in (1_i64..).zip([true, false]) {
        let back = round_trip(&mut *conn, &table, "b", id, &Value::Bool(truth)).await?;
        ensure_eq!(
            back.as_bool(),
            Some(truth),
            "Bool({truth}) read back ({back:?})"
        );
    }
    drop(conn);
    cx.close(pool).await
}

/// `i64::MIN`, `i64::MAX`, 0 and -1 come back as exactly those `I64`s.
pub(crate) async fn i64_extremes_round_trip<T: ConformanceTarget>(
    cx: Arc<CaseContext<T>>,
) -> CaseResult {
    let values = [i64::MIN, i64::MAX, 0, -1, 1 << 53]
        .map(Value::I64)
        .to_vec();
    exact_round_trips(cx, "i", values).await
}

/// Doubles come back bit-exact: fractions, the largest and smallest normal magnitudes, π.
pub(crate) async fn floats_round_trip_exactly<T: ConformanceTarget>(
    cx: Arc<CaseContext<T>>,
) -> CaseResult {
    let values = [
        0.0,
        1.5,
        -2.25,
        std::f64::consts::PI,
        1e300,
        -1e-300,
        f64::MIN_POSITIVE,
        f64::MAX,
        0.1 + 0.2,
    ]
    .map(Value::F64)
    .to_vec();
    exact_round_trips(cx, "f", values).await
}

/// Empty text, text in several scripts with 4-byte characters, and 1 MiB of text come back
/// unchanged (and the empty string is not turned into `NULL`).
pub(crate) async fn text_round_trips_empty_unicode_and_1_mib<T: ConformanceTarget>(
    cx: Arc<CaseContext<T>>,
) -> CaseResult {
    let unicode = "héllo wörld · Ελληνικά · 日本語 · עברית · 🦀🚀 · \u{1F469}\u{200D}\u{1F4BB}";
    let pattern = "ascii, ünïcödé, 中文, 🦀; ";
    let mib: String = pattern.chars().cycle().take(MIB).collect();
    ensure!(mib.len() >= MIB, "the large text is at least 1 MiB");
    let values = vec![
        Value::Text(String::new()),
        Value::Text(unicode.to_owned()),
        Value::Text("quotes ' \" and \\ backslash; -- not a comment".to_owned()),
        Value::Text(mib),
    ];
    exact_round_trips(cx, "s", values).await
}

/// Bytes come back unchanged: NUL bytes anywhere, every byte value, empty, and 1 MiB.
pub(crate) async fn bytes_with_nul_round_trip<T: ConformanceTarget>(
    cx: Arc<CaseContext<T>>,
) -> CaseResult {
    let every_byte: Vec<u8> = (0..=255).collect();
    let large: Vec<u8> = (0..MIB).map(|i| (i % 251) as u8).collect();
    let values = vec![
        Value::Bytes(vec![0]),
        Value::Bytes(vec![0, 1, 0, 255, 0]),
        Value::Bytes(every_byte),
        Value::Bytes(Vec::new()),
        Value::Bytes(large),
    ];
    exact_round_trips(cx, "y", values).await
}

/// Several parameters bind by position in the connection's placeholder style: a row is found
/// by the right values in the right order and not by the same values swapped.
pub(crate) async fn parameters_bind_in_the_adapters_placeholder_style<T: ConformanceTarget>(
    cx: Arc<CaseContext<T>>,
) -> CaseResult {
    let pool = cx.build(cx.pool()?).await?;
    let mut conn = pool.get().await.context("get()")?;
    let table = values_table(&cx, &mut conn).await?;
    let style = conn.parameter_style();
    let insert = format!(
        "INSERT INTO {table} (id, b, i, f, s, y) VALUES ({})",
        style.placeholders(6)
    );
    let row = [
        Value::I64(7),
        Value::Bool(true),
        Value::I64(11),
        Value::F64(2.5),
        Value::Text("eleven".to_owned()),
        Value::Bytes(b"\x00bin".to_vec()),
    ];
    let inserted = conn.execute(&insert, &row).await.context(&insert)?;
    ensure_eq!(inserted, 1, "rows inserted with six parameters");

    let find = format!(
        "SELECT count(*) FROM {table} WHERE i = {} AND s = {} AND f = {}",
        style.placeholder(1),
        style.placeholder(2),
        style.placeholder(3)
    );
    let right = [
        Value::I64(11),
        Value::Text("eleven".into()),
        Value::F64(2.5),
    ];
    ensure_eq!(
        scalar_i64(&mut *conn, &find, &right).await?,
        1,
        "rows matching the inserted values in order"
    );
    let swapped = [Value::I64(7), Value::Text("eleven".into()), Value::F64(2.5)];
    ensure_eq!(
        scalar_i64(&mut *conn, &find, &swapped).await?,
        0,
        "rows matching a wrong first parameter"
    );
    let select = format!(
        "SELECT b, i, f, s, y FROM {table} WHERE id = {}",
        style.placeholder(1)
    );
    let rows = conn
        .query(&select, &[Value::I64(7)])
        .await
        .context(&select)?;
    ensure_eq!(rows.len(), 1, "rows read back");
    let got = rows[0].values();
    ensure_eq!(got[0].as_bool(), Some(true), "column b");
    for (i, expected) in row[2..].iter().enumerate() {
        expect_value(&got[i + 1], expected, "a column bound by position")?;
    }
    drop(conn);
    cx.close(pool).await
}
