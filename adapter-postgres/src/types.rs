//! The mapping between pool-core's neutral [`Value`] and PostgreSQL types; the crate
//! documentation's "Values" section states it for users.

use std::error::Error as StdError;
use std::fmt::Write as _;

use bytes::BytesMut;
use pool_core::Value;
use tokio_postgres::types::{Format, FromSql, IsNull, Kind, ToSql, Type, to_sql_checked};

type BoxError = Box<dyn StdError + Sync + Send>;

/// The type declared for a parameter whose type the server should infer (OID 0).
pub(crate) fn unspecified() -> Type {
    Type::new(String::new(), 0, Kind::Pseudo, "pg_catalog".to_owned())
}

/// A neutral value bound as a statement parameter.
#[derive(Debug)]
pub(crate) struct Param<'a>(pub(crate) &'a Value);

impl Param<'_> {
    /// True when the value is written in the binary format of `ty`.
    fn is_binary(&self, ty: &Type) -> bool {
        match self.0 {
            Value::Bool(_) => *ty == Type::BOOL,
            Value::I64(_) => [
                Type::INT2,
                Type::INT4,
                Type::INT8,
                Type::OID,
                Type::FLOAT4,
                Type::FLOAT8,
            ]
            .contains(ty),
            Value::F64(_) => *ty == Type::FLOAT4 || *ty == Type::FLOAT8,
            Value::Bytes(_) => *ty == Type::BYTEA,
            _ => false,
        }
    }
}

impl ToSql for Param<'_> {
    fn to_sql(&self, ty: &Type, out: &mut BytesMut) -> Result<IsNull, BoxError> {
        if self.is_binary(ty) {
            write_binary(self.0, ty, out)?;
        } else {
            write_text(self.0, ty, out)?;
        }
        Ok(if self.0.is_null() {
            IsNull::Yes
        } else {
            IsNull::No
        })
    }

    fn accepts(_: &Type) -> bool {
        // Any type: conversions are decided per value in `to_sql`, and the server parses the
        // text format for the rest.
        true
    }

    fn encode_format(&self, ty: &Type) -> Format {
        if self.is_binary(ty) {
            Format::Binary
        } else {
            Format::Text
        }
    }

    to_sql_checked!();
}

fn write_binary(value: &Value, ty: &Type, out: &mut BytesMut) -> Result<(), BoxError> {
    let out_of_range = |v: i64| format!("the value {v} is out of range for type {ty}");
    match value {
        Value::Bool(b) => out.extend_from_slice(&[u8::from(*b)]),
        Value::I64(v) => match *ty {
            Type::INT2 => out.extend_from_slice(
                &i16::try_from(*v)
                    .map_err(|_| out_of_range(*v))?
                    .to_be_bytes(),
            ),
            Type::INT4 => out.extend_from_slice(
                &i32::try_from(*v)
                    .map_err(|_| out_of_range(*v))?
                    .to_be_bytes(),
            ),
            Type::OID => out.extend_from_slice(
                &u32::try_from(*v)
                    .map_err(|_| out_of_range(*v))?
                    .to_be_bytes(),
            ),
            #[allow(clippy::cast_precision_loss)] // float columns accept the nearest value
            Type::FLOAT4 => out.extend_from_slice(&(*v as f32).to_be_bytes()),
            #[allow(clippy::cast_precision_loss)]
            Type::FLOAT8 => out.extend_from_slice(&(*v as f64).to_be_bytes()),
            _ => out.extend_from_slice(&v.to_be_bytes()),
        },
        #[allow(clippy::cast_possible_truncation)] // a float4 column holds a float4
        Value::F64(v) if *ty == Type::FLOAT4 => out.extend_from_slice(&(*v as f32).to_be_bytes()),
        Value::F64(v) => out.extend_from_slice(&v.to_be_bytes()),
        Value::Bytes(b) => out.extend_from_slice(b),
        _ => unreachable!("is_binary only accepts the values above"),
    }
    Ok(())
}

/// PostgreSQL's text input format of `value`.
fn write_text(value: &Value, ty: &Type, out: &mut BytesMut) -> Result<(), BoxError> {
    match value {
        Value::Null => {}
        Value::Bool(b) => out.extend_from_slice(if *b { b"true" } else { b"false" }),
        Value::I64(v) => out.extend_from_slice(v.to_string().as_bytes()),
        Value::F64(v) => {
            let text = if v.is_nan() {
                "NaN".to_owned()
            } else if v.is_infinite() {
                if *v > 0.0 { "Infinity" } else { "-Infinity" }.to_owned()
            } else {
                // Rust prints the shortest string that reads back as the same f64.
                v.to_string()
            };
            out.extend_from_slice(text.as_bytes());
        }
        Value::Text(s) => out.extend_from_slice(s.as_bytes()),
        Value::Bytes(b) => {
            let mut hex = String::with_capacity(2 + 2 * b.len());
            hex.push_str("\\x");
            for byte in b {
                let _ = write!(hex, "{byte:02x}");
            }
            out.extend_from_slice(hex.as_bytes());
        }
        other => return Err(format!("cannot bind {other:?} to a parameter of type {ty}").into()),
    }
    Ok(())
}

/// A column's raw bytes in binary format, whatever its type (decoded by [`decode`]).
pub(crate) struct Raw<'a>(pub(crate) Option<&'a [u8]>);

impl<'a> FromSql<'a> for Raw<'a> {
    fn from_sql(_: &Type, raw: &'a [u8]) -> Result<Self, BoxError> {
        Ok(Raw(Some(raw)))
    }

    fn from_sql_null(_: &Type) -> Result<Self, BoxError> {
        Ok(Raw(None))
    }

    fn accepts(_: &Type) -> bool {
        true
    }
}

/// Decodes one column value of type `ty` (binary format) into a neutral value.
pub(crate) fn decode(ty: &Type, raw: Option<&[u8]>) -> Result<Value, String> {
    let Some(raw) = raw else {
        return Ok(Value::Null);
    };
    let value = match *ty {
        Type::BOOL => Value::Bool(fixed::<1>(raw)?[0] != 0),
        Type::INT2 => Value::I64(i16::from_be_bytes(fixed(raw)?).into()),
        Type::INT4 => Value::I64(i32::from_be_bytes(fixed(raw)?).into()),
        Type::INT8 => Value::I64(i64::from_be_bytes(fixed(raw)?)),
        Type::OID => Value::I64(u32::from_be_bytes(fixed(raw)?).into()),
        Type::FLOAT4 => Value::F64(f32::from_be_bytes(fixed(raw)?).into()),
        Type::FLOAT8 => Value::F64(f64::from_be_bytes(fixed(raw)?)),
        Type::BYTEA => Value::Bytes(raw.to_vec()),
        // What `SELECT pg_sleep(1)` and other procedures-as-functions return.
        Type::VOID => Value::Null,
        Type::TEXT
        | Type::VARCHAR
        | Type::BPCHAR
        | Type::NAME
        | Type::CHAR
        | Type::UNKNOWN
        | Type::JSON
        | Type::XML => Value::Text(utf8(raw)?),
        // jsonb's binary format is a version byte (1) and the JSON text.
        Type::JSONB => match raw.split_first() {
            Some((1, json)) => Value::Text(utf8(json)?),
            _ => return Err("unknown jsonb version".to_owned()),
        },
        Type::UUID => Value::Text(uuid(fixed(raw)?)),
        Type::NUMERIC => Value::Text(numeric(raw)?),
        Type::DATE => Value::Text(date(i32::from_be_bytes(fixed(raw)?))),
        Type::TIME => Value::Text(time_of_day(i64::from_be_bytes(fixed(raw)?))),
        Type::TIMESTAMP => Value::Text(timestamp(i64::from_be_bytes(fixed(raw)?))),
        Type::TIMESTAMPTZ => {
            let micros = i64::from_be_bytes(fixed(raw)?);
            let mut text = timestamp(micros);
            if micros != i64::MAX && micros != i64::MIN {
                text.push_str("+00");
            }
            Value::Text(text)
        }
        _ => match ty.kind() {
            Kind::Enum(_) => Value::Text(utf8(raw)?),
            Kind::Domain(base) => return decode(base, Some(raw)),
            _ if ty.name() == "citext" => Value::Text(utf8(raw)?),
            _ => {
                return Err(format!(
                    "has type `{ty}`, which the neutral Value cannot hold"
                ));
            }
        },
    };
    Ok(value)
}

fn fixed<const N: usize>(raw: &[u8]) -> Result<[u8; N], String> {
    raw.try_into()
        .map_err(|_| format!("expected {N} bytes, got {}", raw.len()))
}

fn utf8(raw: &[u8]) -> Result<String, String> {
    String::from_utf8(raw.to_vec()).map_err(|e| format!("is not valid UTF-8: {e}"))
}

fn uuid(b: [u8; 16]) -> String {
    let mut s = String::with_capacity(36);
    for (i, byte) in b.iter().enumerate() {
        if matches!(i, 4 | 6 | 8 | 10) {
            s.push('-');
        }
        let _ = write!(s, "{byte:02x}");
    }
    s
}

/// `numeric`'s binary format: digit count, weight (of the first base-10000 digit), sign,
/// display scale, then the base-10000 digits.
fn numeric(raw: &[u8]) -> Result<String, String> {
    let word = |i: usize| -> Result<u16, String> {
        raw.get(i..i + 2)
            .map(|b| u16::from_be_bytes([b[0], b[1]]))
            .ok_or_else(|| "truncated numeric".to_owned())
    };
    let ndigits = usize::from(word(0)?);
    #[allow(clippy::cast_possible_wrap)] // the weight is an int16 on the wire
    let weight = i32::from(word(2)? as i16);
    let sign = word(4)?;
    let scale = usize::from(word(6)?);
    let digits = (0..ndigits)
        .map(|i| word(8 + 2 * i))
        .collect::<Result<Vec<_>, _>>()?;
    let mut s = String::new();
    match sign {
        0x0000 => {}
        0x4000 => s.push('-'),
        0xC000 => return Ok("NaN".to_owned()),
        0xD000 => return Ok("Infinity".to_owned()),
        0xF000 => return Ok("-Infinity".to_owned()),
        other => return Err(format!("unknown numeric sign {other:#x}")),
    }
    let digit = |i: i32| -> u16 {
        usize::try_from(i)
            .ok()
            .and_then(|i| digits.get(i).copied())
            .unwrap_or(0)
    };
    if weight < 0 {
        s.push('0');
    } else {
        let _ = write!(s, "{}", digit(0));
        for i in 1..=weight {
            let _ = write!(s, "{:04}", digit(i));
        }
    }
    if scale > 0 {
        let mut fraction = String::new();
        let mut i = weight + 1;
        while fraction.len() < scale {
            let _ = write!(fraction, "{:04}", digit(i));
            i += 1;
        }
        fraction.truncate(scale);
        s.push('.');
        s.push_str(&fraction);
    }
    Ok(s)
}

const MICROS_PER_DAY: i64 = 86_400_000_000;
/// Days from 1970-01-01 to PostgreSQL's epoch, 2000-01-01.
const PG_EPOCH_DAYS: i64 = 10_957;

/// `YYYY-MM-DD` of a day count since 2000-01-01 (Howard Hinnant's `civil_from_days`).
fn civil(days_since_2000: i64) -> (i64, i64, i64) {
    let z = days_since_2000 + PG_EPOCH_DAYS + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

fn date(days: i32) -> String {
    match days {
        i32::MAX => "infinity".to_owned(),
        i32::MIN => "-infinity".to_owned(),
        days => {
            let (y, m, d) = civil(days.into());
            format!("{y:04}-{m:02}-{d:02}")
        }
    }
}

fn time_of_day(micros: i64) -> String {
    let secs = micros / 1_000_000;
    let mut s = format!("{:02}:{:02}:{:02}", secs / 3600, secs / 60 % 60, secs % 60);
    let fraction = micros % 1_000_000;
    if fraction != 0 {
        let digits = format!("{fraction:06}");
        s.push('.');
        s.push_str(digits.trim_end_matches('0'));
    }
    s
}

fn timestamp(micros: i64) -> String {
    match micros {
        i64::MAX => "infinity".to_owned(),
        i64::MIN => "-infinity".to_owned(),
        micros => {
            let days = micros.div_euclid(MICROS_PER_DAY);
            let (y, m, d) = civil(days);
            format!(
                "{y:04}-{m:02}-{d:02} {}",
                time_of_day(micros.rem_euclid(MICROS_PER_DAY))
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn numeric_bytes(weight: i16, sign: u16, scale: u16, digits: &[u16]) -> Vec<u8> {
        let mut v = Vec::new();
        v.extend_from_slice(&u16::try_from(digits.len()).unwrap().to_be_bytes());
        v.extend_from_slice(&weight.to_be_bytes());
        v.extend_from_slice(&sign.to_be_bytes());
        v.extend_from_slice(&scale.to_be_bytes());
        for d in digits {
            v.extend_from_slice(&d.to_be_bytes());
        }
        v
    }

    #[test]
    fn numerics_render_as_postgres_prints_them() {
        let table: &[(i16, u16, u16, &[u16], &str)] = &[
            (0, 0, 0, &[], "0"),
            (0, 0, 2, &[], "0.00"),
            (1, 0, 0, &[1, 2345], "12345"),
            (0, 0x4000, 3, &[12, 3450], "-12.345"),
            (-1, 0, 4, &[50], "0.0050"),
            (-2, 0, 8, &[12], "0.00000012"),
            (2, 0, 0, &[1], "100000000"),
            (0, 0xC000, 0, &[], "NaN"),
        ];
        for (weight, sign, scale, digits, expected) in table {
            let raw = numeric_bytes(*weight, *sign, *scale, digits);
            assert_eq!(numeric(&raw).unwrap(), *expected);
        }
    }

    #[test]
    fn dates_and_times_render_as_postgres_prints_them() {
        assert_eq!(date(0), "2000-01-01");
        assert_eq!(date(-1), "1999-12-31");
        assert_eq!(date(9_077), "2024-11-07");
        assert_eq!(time_of_day(3_723_500_000), "01:02:03.5");
        assert_eq!(timestamp(-1), "1999-12-31 23:59:59.999999");
        assert_eq!(timestamp(i64::MAX), "infinity");
    }

    #[test]
    fn uuids_render_in_the_canonical_form() {
        let b = [
            0xa0, 0xee, 0xbc, 0x99, 0x9c, 0x0b, 0x4e, 0xf8, 0xbb, 0x6d, 0x6b, 0xb9, 0xbd, 0x38,
            0x0a, 0x11,
        ];
        assert_eq!(uuid(b), "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11");
    }

    #[test]
    fn parameters_pick_binary_only_for_matching_types() {
        assert!(Param(&Value::I64(1)).is_binary(&Type::INT4));
        assert!(!Param(&Value::I64(1)).is_binary(&Type::NUMERIC));
        assert!(!Param(&Value::Text("1".into())).is_binary(&Type::INT4));
        assert!(!Param(&Value::I64(1)).is_binary(&unspecified()));
    }

    #[test]
    fn out_of_range_integers_are_refused_with_the_type() {
        let mut out = BytesMut::new();
        let Err(err) = Param(&Value::I64(3_000_000_000)).to_sql(&Type::INT4, &mut out) else {
            panic!("3000000000 fits no int4");
        };
        let err = err.to_string();
        assert!(err.contains("3000000000") && err.contains("int4"), "{err}");
    }
}
