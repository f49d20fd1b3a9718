//! Redaction of secrets in URLs, for every error, `Debug` and log line the manager writes.

/// Replaces the password of a URL (`scheme://user:password@host`) and the value of any
/// `password=`/`pass=`/`pwd=` query or key-value parameter by `***`.
///
/// ```
/// use pool_manager::redact::redact_url;
///
/// assert_eq!(
///     redact_url("postgres://app:s3cret@db:5432/shop?sslmode=require"),
///     "postgres://app:***@db:5432/shop?sslmode=require"
/// );
/// assert_eq!(
///     redact_url("mysql://db/shop?user=app&password=s3cret"),
///     "mysql://db/shop?user=app&password=***"
/// );
/// ```
pub fn redact_url(url: &str) -> String {
    let mut out = if url.contains("://") {
        redact_userinfo(url)
    } else {
        redact_key_value(url)
    };
    for key in SECRET_KEYS {
        out = redact_param(&out, key);
    }
    out
}

fn redact_userinfo(url: &str) -> String {
    let Some(scheme_end) = url.find("://") else {
        return url.to_owned();
    };
    let authority_start = scheme_end + 3;
    let rest = &url[authority_start..];
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let authority = &rest[..authority_end];
    // The last '@' of the authority ends the user info (a password may contain an unencoded
    // '@'). Without one, the first '@' anywhere does: tokio-postgres reads a URL's credentials up
    // to the first '@', so `postgres://app:pa/ss@db/x` has the password `pa/ss`.
    let Some(at) = authority.rfind('@').or_else(|| rest.find('@')) else {
        return url.to_owned();
    };
    let userinfo = &rest[..at];
    let Some(colon) = userinfo.find(':') else {
        return url.to_owned();
    };
    format!(
        "{}{}:***{}",
        &url[..authority_start],
        &userinfo[..colon],
        &url[authority_start + at..]
    )
}

const SECRET_KEYS: [&str; 4] = ["password", "pass", "pwd", "passwd"];

/// A libpq key/value string with the values of password keys replaced, also quoted values
/// with spaces (`password='a b'`) and `key = value` with spaces around `=`. Stops at the first
/// thing that does not parse and leaves the rest to [`redact_param`].
fn redact_key_value(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    loop {
        let trimmed = rest.trim_start();
        out.push_str(&rest[..rest.len() - trimmed.len()]);
        rest = trimmed;
        let key_end = rest
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(rest.len());
        let after_key = &rest[key_end..];
        let after_eq = match after_key.trim_start().strip_prefix('=') {
            Some(after) if key_end > 0 => after,
            _ => break,
        };
        let value_start = rest.len() - after_eq.trim_start().len();
        let value = &rest[value_start..];
        let mut chars = value.char_indices();
        let quoted = value.starts_with('\'');
        if quoted {
            chars.next();
        }
        let mut end = value.len();
        while let Some((i, c)) = chars.next() {
            match c {
                '\\' => {
                    chars.next();
                }
                '\'' if quoted => {
                    end = i + 1;
                    break;
                }
                c if c.is_whitespace() && !quoted => {
                    end = i;
                    break;
                }
                _ => {}
            }
        }
        let key = rest[..key_end].to_ascii_lowercase();
        out.push_str(&rest[..value_start]);
        if SECRET_KEYS.contains(&key.as_str()) {
            out.push_str("***");
        } else {
            out.push_str(&value[..end]);
        }
        rest = &value[end..];
        if rest.is_empty() {
            break;
        }
    }
    out.push_str(rest);
    out
}

fn redact_param(url: &str, key: &str) -> String {
    // ASCII lowercasing keeps byte offsets, so indices found in `lower` apply to `url`.
    let lower = url.to_ascii_lowercase();
    let needle = format!("{key}=");
    let mut out = String::with_capacity(url.len());
    let mut copied = 0;
    let mut search = 0;
    while let Some(found) = lower[search..].find(&needle) {
        let start = search + found;
        let value_start = start + needle.len();
        search = value_start;
        let boundary = start == 0 || matches!(url.as_bytes()[start - 1], b'?' | b'&' | b' ' | b';');
        if !boundary {
            continue;
        }
        let value_end = url[value_start..]
            .find(['&', ' ', ';', '#'])
            .map_or(url.len(), |e| value_start + e);
        out.push_str(&url[copied..value_start]);
        out.push_str("***");
        copied = value_end;
        search = value_end;
    }
    out.push_str(&url[copied..]);
    out
}

#[cfg(test)]
mod tests {
    use super::redact_url;

    #[test]
    fn redaction_table() {
        let cases = [
            ("sqlite::memory:", "sqlite::memory:"),
            ("sqlite:///tmp/x.db", "sqlite:///tmp/x.db"),
            ("postgres://app@db/x", "postgres://app@db/x"),
            ("postgres://app:pw@db/x", "postgres://app:***@db/x"),
            ("postgres://app:p@ss@db/x", "postgres://app:***@db/x"),
            // Found by fuzzing: tokio-postgres reads `pa/ss` as the password.
            ("postgres://app:pa/ss@db/x", "postgres://app:***@db/x"),
            (
                "mysql://root:pw@127.0.0.1:3306",
                "mysql://root:***@127.0.0.1:3306",
            ),
            (
                "postgres://db/x?password=pw&a=b",
                "postgres://db/x?password=***&a=b",
            ),
            (
                "host=db password=pw user=app",
                "host=db password=*** user=app",
            ),
            (
                "host=db password='it is\\' secret' user=app",
                "host=db password=*** user=app",
            ),
            (
                "host=db password = 'a b' dbname=x",
                "host=db password = *** dbname=x",
            ),
            ("host=db password='open quote", "host=db password=***"),
            (
                "postgres://db/x?PASSWORD=pw",
                "postgres://db/x?PASSWORD=***",
            ),
            (
                "postgres://db/x?mypassword=keep",
                "postgres://db/x?mypassword=keep",
            ),
        ];
        for (input, expected) in cases {
            assert_eq!(redact_url(input), expected, "input {input:?}");
        }
    }
}
