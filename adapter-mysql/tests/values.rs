//! Values map the same way through the text protocol (no parameters) and the binary protocol
//! of prepared statements (with parameters).

mod common;

use pool_core::{ConnectionProtocol, ParameterStyle, Row, Value};

const TABLE: &str = "CREATE TEMPORARY TABLE typed (
    ti TINYINT, si SMALLINT, mi MEDIUMINT, i INT, bi BIGINT,
    ubi BIGINT UNSIGNED, ui INT UNSIGNED, flag BOOL,
    f FLOAT, d DOUBLE, dec_ DECIMAL(10,2),
    vc VARCHAR(20), txt TEXT, ch CHAR(3),
    vb VARBINARY(20), bl BLOB, bn BINARY(2),
    dt DATE, dtm DATETIME(6), tm TIME, yr YEAR,
    nul INT
) DEFAULT CHARSET=utf8mb4";

fn expected() -> Vec<Value> {
    vec![
        Value::I64(-128),
        Value::I64(-32768),
        Value::I64(8_388_607),
        Value::I64(i64::from(i32::MIN)),
        Value::I64(i64::MAX),
        Value::Text("18446744073709551615".into()),
        Value::I64(4_294_967_295),
        Value::I64(1),
        Value::F64(0.5),
        Value::F64(1.25e100),
        Value::Text("12.50".into()),
        Value::Text("h\u{e9}llo \u{1f600}".into()),
        Value::Text("long text".into()),
        Value::Text("abc".into()),
        Value::Bytes(vec![0, 159, 146, 150, 255]),
        Value::Bytes(b"blob".to_vec()),
        Value::Bytes(vec![1, 2]),
        Value::Text("2024-05-01".into()),
        Value::Text("2024-05-01 12:03:04.250000".into()),
        Value::Text("-26:03:04".into()),
        Value::I64(2024),
        Value::Null,
    ]
}

async fn fill(conn: &mut adapter_mysql::MysqlConnection) {
    conn.execute(TABLE, &[]).await.unwrap();
    let inserted = conn
        .execute(
            "INSERT INTO typed VALUES (?, ?, ?, ?, ?, 18446744073709551615, ?, ?, ?, ?, '12.50', \
             ?, ?, ?, ?, ?, ?, '2024-05-01', '2024-05-01 12:03:04.25', '-26:03:04', 2024, ?)",
            &[
                Value::I64(-128),
                Value::I64(-32768),
                Value::I64(8_388_607),
                Value::I64(i64::from(i32::MIN)),
                Value::I64(i64::MAX),
                Value::I64(4_294_967_295),
                Value::Bool(true),
                Value::F64(0.5),
                Value::F64(1.25e100),
                Value::Text("h\u{e9}llo \u{1f600}".into()),
                Value::Text("long text".into()),
                Value::Text("abc".into()),
                Value::Bytes(vec![0, 159, 146, 150, 255]),
                Value::Bytes(b"blob".to_vec()),
                Value::Bytes(vec![1, 2]),
                Value::Null,
            ],
        )
        .await
        .unwrap();
    assert_eq!(inserted, 1, "execute returns the affected rows");
}

fn check(row: &Row, protocol: &str) {
    assert_eq!(row.len(), expected().len());
    for ((name, actual), expected) in row.columns().iter().zip(row.values()).zip(expected()) {
        assert_eq!(
            actual, &expected,
            "column {name} over the {protocol} protocol"
        );
    }
}

#[tokio::test]
async fn every_column_type_maps_the_same_over_both_protocols() {
    let mut conn = common::connect().await;
    fill(&mut conn).await;

    let text = conn.query("SELECT * FROM typed", &[]).await.unwrap();
    check(&text[0], "text");
    let binary = conn
        .query("SELECT * FROM typed WHERE ? = ?", &[1.into(), 1.into()])
        .await
        .unwrap();
    check(&binary[0], "binary");
    assert_eq!(text[0].get_by_name("vc"), binary[0].get_by_name("vc"));
}

#[tokio::test]
async fn a_boolean_comes_back_as_an_integer_that_reads_as_a_bool() {
    let mut conn = common::connect().await;
    let value = common::scalar(&mut conn, "SELECT ?", &[Value::Bool(true)]).await;
    assert_eq!(value, Value::I64(1));
    assert_eq!(value.as_bool(), Some(true));
    let literal = common::scalar(&mut conn, "SELECT FALSE", &[]).await;
    assert_eq!(literal.as_bool(), Some(false));
}

#[tokio::test]
async fn execute_reports_affected_rows_and_query_returns_all_rows_in_order() {
    let mut conn = common::connect().await;
    conn.execute("CREATE TEMPORARY TABLE t (id INT PRIMARY KEY, v TEXT)", &[])
        .await
        .unwrap();
    let inserted = conn
        .execute("INSERT INTO t VALUES (1, 'a'), (2, 'b'), (3, 'c')", &[])
        .await
        .unwrap();
    assert_eq!(inserted, 3);
    let updated = conn
        .execute("UPDATE t SET v = ? WHERE id >= ?", &["z".into(), 2.into()])
        .await
        .unwrap();
    assert_eq!(updated, 2);
    let rows = conn
        .query("SELECT id, v FROM t ORDER BY id", &[])
        .await
        .unwrap();
    let values: Vec<_> = rows
        .iter()
        .map(|r| {
            (
                r.get(0).unwrap().as_i64().unwrap(),
                r.get_by_name("v").unwrap().as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        values,
        vec![(1, "a".into()), (2, "z".into()), (3, "z".into())]
    );
    assert_eq!(rows[0].columns(), &["id".to_owned(), "v".to_owned()]);
    let empty = conn
        .query("SELECT id FROM t WHERE id > 10", &[])
        .await
        .unwrap();
    assert!(empty.is_empty());
}

#[tokio::test]
async fn the_parameter_style_is_question_marks() {
    let conn = common::connect().await;
    assert_eq!(conn.parameter_style(), ParameterStyle::QuestionMark);
}

#[tokio::test]
async fn a_multi_statement_query_returns_the_first_result_and_stays_in_sync() {
    let mut conn = common::connect().await;
    let rows = conn.query("SELECT 1; SELECT 2, 3", &[]).await.unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].values(), &[Value::I64(1)]);
    assert_eq!(
        common::scalar(&mut conn, "SELECT 4", &[]).await,
        Value::I64(4)
    );
    assert!(!conn.is_broken());
}

#[tokio::test]
async fn a_json_column_is_text() {
    let mut conn = common::connect().await;
    conn.execute("CREATE TEMPORARY TABLE j (doc JSON)", &[])
        .await
        .unwrap();
    conn.execute("INSERT INTO j VALUES (?)", &[r#"{"a": 1}"#.into()])
        .await
        .unwrap();
    let text = common::scalar(&mut conn, "SELECT doc FROM j", &[]).await;
    assert_eq!(text, Value::Text(r#"{"a": 1}"#.into()));
    let binary = common::scalar(&mut conn, "SELECT doc FROM j WHERE ?", &[1.into()]).await;
    assert_eq!(binary, text);
}
