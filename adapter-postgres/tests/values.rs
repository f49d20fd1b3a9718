//! Neutral values map to and from PostgreSQL types, with and without the statement cache.

mod common;

use adapter_postgres::PostgresConnection;
use pool_core::{ConnectionProtocol, ErrorClass, ParameterStyle, Value};

async fn both_modes() -> [(&'static str, PostgresConnection); 2] {
    [
        ("cached", common::connect().await),
        (
            "uncached",
            common::connect_with(common::options().with_statement_cache_capacity(0)).await,
        ),
    ]
}

#[tokio::test]
async fn columns_map_to_neutral_values() {
    for (mode, mut conn) in both_modes().await {
        let rows = conn
            .query(
                "SELECT true AS b, 7::int2 AS i2, 70000::int4 AS i4, 9000000000::int8 AS i8, \
                 1.5::float4 AS f4, 2.25::float8 AS f8, 'x'::text AS t, 'v'::varchar AS v, \
                 'n'::name AS n, 'c'::char(3) AS c, '\\x00ff'::bytea AS by, NULL::int4 AS nul, \
                 -12.345::numeric AS num, 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'::uuid AS u, \
                 '2024-11-07'::date AS d, '2024-11-07 01:02:03.5+00'::timestamptz AS ts, \
                 '{\"k\": 1}'::jsonb AS j",
                &[],
            )
            .await
            .unwrap_or_else(|e| panic!("{mode}: {e}"));
        let row = &rows[0];
        let expected = [
            ("b", Value::Bool(true)),
            ("i2", Value::I64(7)),
            ("i4", Value::I64(70_000)),
            ("i8", Value::I64(9_000_000_000)),
            ("f4", Value::F64(1.5)),
            ("f8", Value::F64(2.25)),
            ("t", Value::Text("x".into())),
            ("v", Value::Text("v".into())),
            ("n", Value::Text("n".into())),
            ("c", Value::Text("c  ".into())),
            ("by", Value::Bytes(vec![0, 255])),
            ("nul", Value::Null),
            ("num", Value::Text("-12.345".into())),
            (
                "u",
                Value::Text("a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11".into()),
            ),
            ("d", Value::Text("2024-11-07".into())),
            ("ts", Value::Text("2024-11-07 01:02:03.5+00".into())),
            ("j", Value::Text("{\"k\": 1}".into())),
        ];
        for (column, value) in expected {
            assert_eq!(
                row.get_by_name(column),
                Some(&value),
                "{mode}: column {column}"
            );
        }
    }
}

#[tokio::test]
async fn parameters_round_trip_and_convert_to_the_inferred_types() {
    for (mode, mut conn) in both_modes().await {
        let rows = conn
            .query(
                "SELECT $1::int4 AS i4, $2::int2 AS i2, $3::float8 AS f8, $4::bool AS b, \
                 $5::text AS t, $6::bytea AS by, $7::numeric AS num, $8::date AS d, \
                 $9::int8 AS nul, $10::float4 AS f4_from_int",
                &[
                    Value::I64(42),
                    Value::I64(-3),
                    Value::F64(0.1),
                    Value::Bool(false),
                    Value::Text("héllo".into()),
                    Value::Bytes(vec![1, 2, 3]),
                    Value::I64(5),
                    Value::Text("2024-02-29".into()),
                    Value::Null,
                    Value::I64(2),
                ],
            )
            .await
            .unwrap_or_else(|e| panic!("{mode}: {e}"));
        let values = rows[0].values();
        assert_eq!(
            values,
            [
                Value::I64(42),
                Value::I64(-3),
                Value::F64(0.1),
                Value::Bool(false),
                Value::Text("héllo".into()),
                Value::Bytes(vec![1, 2, 3]),
                Value::Text("5".into()),
                Value::Text("2024-02-29".into()),
                Value::Null,
                Value::F64(2.0),
            ],
            "{mode}"
        );
    }
}

#[tokio::test]
async fn an_i64_binds_to_an_int4_column_and_execute_counts_rows() {
    let table = common::unique_table("values_int4");
    for (mode, mut conn) in both_modes().await {
        conn.execute(
            &format!("CREATE TEMP TABLE {table} (id int4 PRIMARY KEY, label text)"),
            &[],
        )
        .await
        .unwrap();
        let sql = format!("INSERT INTO {table} (id, label) VALUES ($1, $2), ($3, $4)");
        let inserted = conn
            .execute(&sql, &[1.into(), "one".into(), 2.into(), Value::Null])
            .await
            .unwrap_or_else(|e| panic!("{mode}: {e}"));
        assert_eq!(inserted, 2, "{mode}");
        let rows = conn
            .query(
                &format!("SELECT label FROM {table} WHERE id = $1"),
                &[Value::I64(1)],
            )
            .await
            .unwrap();
        assert_eq!(rows[0].get(0), Some(&Value::Text("one".into())), "{mode}");
        let updated = conn
            .execute(&format!("UPDATE {table} SET label = 'x'"), &[])
            .await
            .unwrap();
        assert_eq!(updated, 2, "{mode}");
    }
}

#[tokio::test]
async fn an_out_of_range_parameter_is_a_query_error_and_the_connection_stays_usable() {
    let mut conn = common::connect().await;
    let err = conn
        .query("SELECT $1::int4", &[Value::I64(3_000_000_000)])
        .await
        .unwrap_err();
    assert_eq!(
        err.backend().map(|b| b.class()),
        Some(ErrorClass::Query),
        "{err}"
    );
    assert!(err.to_string().contains("3000000000"), "{err}");
    assert!(!conn.is_broken());
    assert_eq!(
        common::scalar(&mut conn, "SELECT 1", &[]).await,
        Value::I64(1)
    );
}

#[tokio::test]
async fn an_unmappable_column_is_a_query_error_that_suggests_a_cast() {
    let mut conn = common::connect().await;
    let err = conn
        .query("SELECT ARRAY[1, 2] AS numbers", &[])
        .await
        .unwrap_err();
    let message = err.to_string();
    assert!(
        message.contains("numbers") && message.contains("::text"),
        "{message}"
    );
    assert!(!conn.is_broken());
    let rows = conn.query("SELECT ARRAY[1, 2]::text", &[]).await.unwrap();
    assert_eq!(rows[0].get(0), Some(&Value::Text("{1,2}".into())));
}

#[tokio::test]
async fn parameters_are_written_with_dollar_placeholders() {
    let conn = common::connect().await;
    assert_eq!(conn.parameter_style(), ParameterStyle::Dollar);
    assert_eq!(conn.parameter_style().placeholder(2), "$2");
}

#[tokio::test]
async fn execute_runs_a_parameterless_script_and_counts_all_its_rows() {
    for (mode, mut conn) in both_modes().await {
        let affected = conn
            .execute(
                "CREATE TEMP TABLE script_rows (x int); INSERT INTO script_rows VALUES (1), (2); \
                 UPDATE script_rows SET x = x + 1",
                &[],
            )
            .await
            .unwrap_or_else(|e| panic!("{mode}: {e}"));
        assert_eq!(affected, 4, "{mode}");
        assert_eq!(
            common::scalar(&mut conn, "SELECT sum(x) FROM script_rows", &[]).await,
            Value::I64(5),
            "{mode}"
        );
    }
}
