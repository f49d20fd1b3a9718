//! `${VAR}` substitution, so secrets stay in the environment and out of files.
//!
//! - `${VAR}` is replaced by the variable's value; an unset variable is an error naming it.
//! - `${VAR:-fallback}` uses `fallback` when `VAR` is unset or empty.
//! - `$$` is a literal `$`; any other `$` is kept as is.
//!
//! Errors name the variable, never its value.

/// Replaces every `${VAR}` in `input` using `lookup`. The error says what is wrong, for a
/// person (the caller adds where).
///
/// ```
/// use pool_manager::env_subst::substitute;
///
/// let lookup = |name: &str| (name == "PW").then(|| "s3cret".to_owned());
/// assert_eq!(
///     substitute("postgres://app:${PW}@db/${DB:-shop}", &lookup).unwrap(),
///     "postgres://app:s3cret@db/shop"
/// );
/// assert_eq!(
///     substitute("${MISSING}", &lookup).unwrap_err(),
///     "uses the environment variable `MISSING`, which is not set"
/// );
/// ```
pub fn substitute(
    input: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> std::result::Result<String, String> {
    let mut out = String::with_capacity(input.len());
    let mut rest = input;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..at]);
        let after = &rest[at + 1..];
        if let Some(tail) = after.strip_prefix('$') {
            out.push('$');
            rest = tail;
        } else if let Some(body) = after.strip_prefix('{') {
            let Some(end) = body.find('}') else {
                return Err("has an unterminated `${` (write `$$` for a literal `$`)".to_owned());
            };
            let expr = &body[..end];
            let (name, fallback) = match expr.split_once(":-") {
                Some((name, fallback)) => (name, Some(fallback)),
                None => (expr, None),
            };
            if !valid_name(name) {
                // Quoted only when it is made of name characters (a typo such as `${1X}`): a
                // `${` inside a URL's password would otherwise be echoed with the password.
                let plain = name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
                return Err(if plain {
                    format!("has `${{{name}}}`, which is not a valid environment variable name")
                } else {
                    "has a `${` that does not start a valid environment variable name (letters, \
                     digits and `_`; write `$$` for a literal `$`)"
                        .to_owned()
                });
            }
            match (
                lookup(name).filter(|v| !v.is_empty() || fallback.is_none()),
                fallback,
            ) {
                (Some(value), _) => out.push_str(&value),
                (None, Some(fallback)) => out.push_str(fallback),
                (None, None) => {
                    return Err(format!(
                        "uses the environment variable `{name}`, which is not set"
                    ));
                }
            }
            rest = &body[end + 1..];
        } else {
            out.push('$');
            rest = after;
        }
    }
    out.push_str(rest);
    Ok(out)
}

/// Looks variables up in the process environment.
pub fn process_env(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(name: &str) -> Option<String> {
        match name {
            "USER" => Some("app".to_owned()),
            "EMPTY" => Some(String::new()),
            _ => None,
        }
    }

    #[test]
    fn substitution_table() {
        let cases: &[(&str, Result<&str, &str>)] = &[
            ("plain", Ok("plain")),
            ("${USER}", Ok("app")),
            ("a${USER}b${USER}", Ok("aappbapp")),
            ("${NOPE:-dflt}", Ok("dflt")),
            ("${EMPTY:-dflt}", Ok("dflt")),
            ("${EMPTY}", Ok("")),
            ("cost $$5", Ok("cost $5")),
            ("a $ b", Ok("a $ b")),
            (
                "${NOPE}",
                Err("uses the environment variable `NOPE`, which is not set"),
            ),
            (
                "${USER",
                Err("has an unterminated `${` (write `$$` for a literal `$`)"),
            ),
            (
                "${1X}",
                Err("has `${1X}`, which is not a valid environment variable name"),
            ),
            (
                "postgres://app:${pw:x@db/${1}",
                Err(
                    "has a `${` that does not start a valid environment variable name (letters, \
                     digits and `_`; write `$$` for a literal `$`)",
                ),
            ),
        ];
        for (input, expected) in cases {
            let got = substitute(input, &env);
            assert_eq!(
                got.as_deref().map_err(String::as_str),
                *expected,
                "input {input:?}"
            );
        }
    }
}
