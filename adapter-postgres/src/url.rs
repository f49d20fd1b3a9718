//! The connection-string pre-pass: takes out the parameters this crate owns (tokio-postgres's
//! parser rejects `sslmode=verify-full`, knows neither `sslrootcert` nor `pgbouncer`, and knows
//! three of libpq's six `target_session_attrs`) and hands the rest,
//! unchanged in meaning, to tokio-postgres's parser, so each libpq parameter is validated once,
//! by the driver that uses it.

use std::borrow::Cow;

use percent_encoding::percent_decode_str;
use pool_core::{Error, Result};

/// Parameters this crate parses itself.
const OWN_KEYS: &[&str] = &[
    "sslmode",
    "sslrootcert",
    "target_session_attrs",
    "pgbouncer",
];

/// A connection string split into the driver's part and ours.
#[derive(Debug, Default, PartialEq)]
pub(crate) struct Split {
    /// The string for `tokio_postgres::Config::from_str`, without our parameters.
    pub(crate) driver: String,
    /// Our parameters, decoded, in the order they appeared.
    pub(crate) own: Vec<(String, String)>,
    /// Every parameter key that appeared (so defaults apply only to what the user left out).
    pub(crate) keys: Vec<String>,
}

/// Splits `input`, a `postgres://` / `postgresql://` URL or a libpq key/value string.
pub(crate) fn split(input: &str) -> Result<Split> {
    if let Some(scheme) = url_scheme(input) {
        if scheme != "postgres" && scheme != "postgresql" {
            return Err(Error::config(
                "url",
                format!("has the scheme `{scheme}://`; use `postgres://` or `postgresql://`"),
            ));
        }
        return Ok(split_url(input));
    }
    if let Some(error) = missing_separator(input) {
        return Err(error);
    }
    Ok(split_key_value(input))
}

/// A string that starts like a URL (`postgresql//app@db/shop`, `postgres:/db`) but has no
/// `://` after its scheme: said so, instead of the key/value parser's "unexpected EOF". Only
/// the scheme and the separator found are quoted (the rest may hold a password).
fn missing_separator(input: &str) -> Option<Error> {
    let first = input.trim_start().split(char::is_whitespace).next()?;
    if first.contains('=') {
        return None;
    }
    let scheme_len = first
        .find(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.')))
        .unwrap_or(first.len());
    let (scheme, rest) = first.split_at(scheme_len);
    let separator: String = rest
        .chars()
        .take_while(|c| matches!(c, ':' | '/'))
        .collect();
    if scheme.is_empty() || separator.is_empty() {
        return None;
    }
    let expected =
        if scheme.eq_ignore_ascii_case("postgres") || scheme.eq_ignore_ascii_case("postgresql") {
            format!("`{scheme}://`")
        } else {
            "`postgres://` or `postgresql://`".to_owned()
        };
    Some(Error::config(
        "url",
        format!(
            "is malformed: `{scheme}` is followed by `{separator}`, not `://`; a URL starts \
             with {expected} (`postgresql://user@host:5432/db`), a key/value string with \
             `host=`"
        ),
    ))
}

/// The scheme of a URL, or `None` for a key/value string (whose first word holds `=`).
fn url_scheme(input: &str) -> Option<&str> {
    let (scheme, _) = input.trim_start().split_once("://")?;
    let is_scheme = !scheme.is_empty()
        && scheme
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
    is_scheme.then_some(scheme)
}

/// The text given for `option` in the driver's part of a connection string, for an error
/// message: a key/value pair's value, a URL query parameter, or for `port` the URL's ports
/// that are not numbers. At most 64 characters.
pub(crate) fn value_of(input: &str, option: &str) -> Option<String> {
    let found = if url_scheme(input).is_some() {
        let after_credentials = input.find('@').map_or(0, |at| at + 1);
        let rest = &input[after_credentials..];
        let (authority, query) = match rest.split_once('?') {
            Some((before, query)) => (before, Some(query)),
            None => (rest, None),
        };
        let from_query = query.and_then(|q| {
            q.split('&')
                .filter_map(|pair| pair.split_once('='))
                .find(|(k, _)| decode(k) == option)
                .map(|(_, v)| decode(v).into_owned())
        });
        match from_query {
            Some(value) => Some(value),
            None if option == "port" => {
                let authority = authority.split('/').next().unwrap_or_default();
                let authority = authority.rsplit('@').next().unwrap_or_default();
                authority
                    .split(',')
                    .filter(|host| !host.ends_with(']'))
                    .filter_map(|host| host.rsplit_once(':').map(|(_, port)| port))
                    .find(|port| port.parse::<u16>().is_err())
                    .map(|port| decode(port).into_owned())
            }
            None => None,
        }
    } else {
        tokenize(input)?
            .into_iter()
            .find(|(k, _)| *k == option)
            .map(|(_, v)| v)
    }?;
    Some(found.chars().take(64).collect())
}

fn split_url(input: &str) -> Split {
    // Mirrors tokio-postgres's URL parser: the credentials end at the first `@`, the query
    // starts at the first `?` after them.
    let after_credentials = input.find('@').map_or(0, |at| at + 1);
    let Some(question) = input[after_credentials..]
        .find('?')
        .map(|q| q + after_credentials)
    else {
        return Split {
            driver: input.to_owned(),
            ..Split::default()
        };
    };
    let mut split = Split {
        driver: input[..question].to_owned(),
        ..Split::default()
    };
    let mut kept = Vec::new();
    for pair in input[question + 1..].split('&') {
        let Some((raw_key, raw_value)) = pair.split_once('=') else {
            // Malformed: leave it for the driver's parser to report.
            kept.push(pair);
            continue;
        };
        let key = decode(raw_key);
        split.keys.push(key.to_string());
        if OWN_KEYS.contains(&&*key) {
            split
                .own
                .push((key.into_owned(), decode(raw_value).into_owned()));
        } else {
            kept.push(pair);
        }
    }
    if !kept.is_empty() {
        split.driver.push('?');
        split.driver.push_str(&kept.join("&"));
    }
    split
}

fn decode(s: &str) -> Cow<'_, str> {
    percent_decode_str(s).decode_utf8_lossy()
}

fn split_key_value(input: &str) -> Split {
    let Some(pairs) = tokenize(input) else {
        // Malformed: the driver's parser reports it with its own (password-free) message.
        return Split {
            driver: input.to_owned(),
            ..Split::default()
        };
    };
    let mut split = Split::default();
    let mut kept = Vec::new();
    for (key, value) in pairs {
        split.keys.push(key.to_owned());
        if OWN_KEYS.contains(&key) {
            split.own.push((key.to_owned(), value));
        } else {
            kept.push(format!("{key}='{}'", quote(&value)));
        }
    }
    split.driver = kept.join(" ");
    split
}

/// Escapes a value for a single-quoted libpq value.
fn quote(value: &str) -> String {
    value.replace('\\', "\\\\").replace('\'', "\\'")
}

/// libpq's key/value grammar, as tokio-postgres implements it: `key = value` pairs separated by
/// whitespace; values are bare (with `\` escapes) or single-quoted (with `\` escapes).
/// `None` when the string is malformed.
fn tokenize(input: &str) -> Option<Vec<(&str, String)>> {
    let mut pairs = Vec::new();
    let mut rest = input.trim_start();
    while !rest.is_empty() {
        let key_end = rest.find(|c: char| c.is_whitespace() || c == '=')?;
        let key = &rest[..key_end];
        if key.is_empty() {
            return None;
        }
        rest = rest[key_end..].trim_start().strip_prefix('=')?.trim_start();
        let mut value = String::new();
        let mut chars = rest.char_indices();
        let quoted = rest.starts_with('\'');
        if quoted {
            chars.next();
        }
        let mut end = None;
        while let Some((i, c)) = chars.next() {
            match c {
                '\\' => value.push(chars.next()?.1),
                '\'' if quoted => {
                    end = Some(i + 1);
                    break;
                }
                c if c.is_whitespace() && !quoted => {
                    end = Some(i);
                    break;
                }
                c => value.push(c),
            }
        }
        let end = match end {
            Some(end) => end,
            None if quoted => return None,
            None => rest.len(),
        };
        if !quoted && value.is_empty() {
            return None;
        }
        pairs.push((key, value));
        rest = rest[end..].trim_start();
    }
    Some(pairs)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn own(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn url_parameters_we_own_are_taken_out_and_the_rest_is_kept() {
        let s = split("postgres://u:p%3Fw@h/db?sslmode=verify-full&application_name=x&sslrootcert=%2Ftmp%2Fca.pem")
            .unwrap();
        assert_eq!(s.driver, "postgres://u:p%3Fw@h/db?application_name=x");
        assert_eq!(
            s.own,
            own(&[("sslmode", "verify-full"), ("sslrootcert", "/tmp/ca.pem")])
        );
        assert_eq!(s.keys, ["sslmode", "application_name", "sslrootcert"]);
    }

    #[test]
    fn a_question_mark_in_the_password_does_not_start_the_query() {
        let s = split("postgresql://u:p?w@h/db?sslmode=disable").unwrap();
        assert_eq!(s.driver, "postgresql://u:p?w@h/db");
        assert_eq!(s.own, own(&[("sslmode", "disable")]));
    }

    #[test]
    fn key_value_strings_are_requoted_without_our_parameters() {
        let s = split(r"host=h password='it\'s a secret' sslmode = require user=u\ x").unwrap();
        assert_eq!(s.driver, r"host='h' password='it\'s a secret' user='u x'");
        assert_eq!(s.own, own(&[("sslmode", "require")]));
    }

    #[test]
    fn malformed_key_value_strings_go_to_the_driver_untouched() {
        for input in ["host", "host=", "password='open", "=x"] {
            let s = split(input).unwrap();
            assert_eq!(s.driver, input);
            assert!(s.own.is_empty());
        }
    }

    #[test]
    fn the_value_of_an_option_is_found_for_its_error() {
        for (input, option, value) in [
            ("postgres://u@h:notaport/db", "port", Some("notaport")),
            ("postgres://u:p@h1:5432,h2:x/db", "port", Some("x")),
            (
                "postgres://u@h/db?connect_timeout=soon",
                "connect_timeout",
                Some("soon"),
            ),
            ("host=h port=nope", "port", Some("nope")),
            ("postgres://u@h/db", "port", None),
        ] {
            assert_eq!(value_of(input, option).as_deref(), value, "{input}");
        }
    }

    #[test]
    fn a_scheme_without_its_slashes_is_named() {
        for (input, scheme, separator) in [
            ("postgresql//app:pw@db/shop", "postgresql", "//"),
            ("postgres:/app:pw@db/shop", "postgres", ":/"),
            ("postgres:app@db", "postgres", ":"),
        ] {
            let err = split(input).unwrap_err().to_string();
            assert!(
                err.contains(&format!("`{scheme}` is followed by `{separator}`")),
                "{err}"
            );
            assert!(err.contains(&format!("`{scheme}://`")), "{err}");
            assert!(!err.contains("pw"), "{err}");
        }
        assert!(split("host=db dbname=shop").is_ok());
    }

    #[test]
    fn other_schemes_are_refused_by_name() {
        let err = split("mysql://u:pw@h/db").unwrap_err().to_string();
        assert!(err.contains("mysql://"), "{err}");
        assert!(!err.contains("pw"), "{err}");
    }
}
