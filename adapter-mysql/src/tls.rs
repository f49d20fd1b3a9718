//! TLS through rustls: the `ssl_mode` levels and where trusted root certificates come from.
//!
//! | `ssl_mode`          | TLS                          | certificate chain | host name |
//! |---------------------|------------------------------|-------------------|-----------|
//! | `disabled`          | never                        | –                 | –         |
//! | `preferred` (default) | if the server offers it    | not verified      | no        |
//! | `required`          | always, else connect fails   | **verified**      | **yes**   |
//! | `verify_ca`         | always                       | verified          | no (see below) |
//! | `verify_identity`   | always                       | verified          | yes       |
//!
//! Two deliberate choices:
//!
//! * `required` verifies the certificate, unlike the MySQL command-line client's
//!   `--ssl-mode=REQUIRED`. Whenever TLS is required, verification is on unless it is switched
//!   off by name: `ssl_accept_invalid_certs=true` (builder:
//!   [`MysqlOptions::danger_accept_invalid_certs`](crate::MysqlOptions::danger_accept_invalid_certs))
//!   encrypts without authenticating the server, for a development server with a self-signed
//!   certificate.
//! * `preferred` is the default, as in MySQL's own clients: it encrypts when the server can and
//!   works against servers without TLS. Without verification it only defeats passive
//!   eavesdropping; use `required` against anything reachable by others. Against a server
//!   without TLS, the first connect of a connector costs a second TCP connect (the first
//!   handshake learns that the server has no TLS); the connector remembers it, and its later
//!   connects go straight to plain TCP.
//!
//! `verify_ca` asks `mysql_async` to skip the host-name check. `mysql_async` 0.37 recognises a
//! host-name mismatch by the text `NotValidForName` in the rustls error, which the current rustls
//! (0.23.x) no longer prints, so a mismatching name is still rejected: `verify_ca` fails closed
//! and behaves like `verify_identity` until that is fixed upstream.
//!
//! Trusted roots (`ssl_roots`): `system` (default, the operating system's store through
//! `rustls-native-certs`), `webpki` (Mozilla's bundle compiled into `webpki-roots`), or a CA
//! file given with `ssl_ca=/path/ca.pem`, which then is the only trusted root (as with MySQL's
//! `--ssl-ca`). Client certificates are not supported yet.
//!
//! TLS does not apply to Unix sockets: `mysql_async` leaves a socket connection unencrypted.
//! On a loopback address it switches to the server's socket (`prefer_socket`, on by default),
//! so with `ssl_mode` other than `disabled` or `preferred` the connector turns
//! `prefer_socket` off, keeping the verified TLS session on TCP.

use std::path::PathBuf;
use std::str::FromStr;
use std::sync::{Arc, OnceLock};

use mysql_async::SslOpts;
use pool_core::{Error, Result};

/// How much TLS a connection demands; see the [module docs](self) for the table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum SslMode {
    /// Never use TLS.
    Disabled,
    /// Use TLS when the server offers it, without verifying its certificate (the default).
    #[default]
    Preferred,
    /// Require TLS and verify the certificate chain and host name.
    Required,
    /// Require TLS and verify the certificate chain (host name: see the module docs).
    VerifyCa,
    /// Require TLS and verify the certificate chain and host name.
    VerifyIdentity,
}

impl SslMode {
    /// The spelling used in URLs.
    pub fn as_str(self) -> &'static str {
        match self {
            SslMode::Disabled => "disabled",
            SslMode::Preferred => "preferred",
            SslMode::Required => "required",
            SslMode::VerifyCa => "verify_ca",
            SslMode::VerifyIdentity => "verify_identity",
        }
    }

    /// True when a connection without TLS is refused.
    pub fn requires_tls(self) -> bool {
        matches!(
            self,
            SslMode::Required | SslMode::VerifyCa | SslMode::VerifyIdentity
        )
    }
}

impl FromStr for SslMode {
    type Err = Error;

    /// Case-insensitive; `-` and `_` are interchangeable (`VERIFY-CA`, `verify_ca`).
    fn from_str(s: &str) -> Result<Self> {
        match s.to_ascii_lowercase().replace('-', "_").as_str() {
            "disabled" | "disable" => Ok(SslMode::Disabled),
            "preferred" | "prefer" => Ok(SslMode::Preferred),
            "required" | "require" => Ok(SslMode::Required),
            "verify_ca" => Ok(SslMode::VerifyCa),
            "verify_identity" | "verify_full" => Ok(SslMode::VerifyIdentity),
            _ => Err(Error::config(
                "ssl_mode",
                format!(
                    "is `{s}`; expected one of disabled, preferred, required, verify_ca, \
                     verify_identity"
                ),
            )),
        }
    }
}

/// Where the root certificates that authenticate the server come from.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum TlsRoots {
    /// The operating system's trust store (the default), loaded once per process.
    #[default]
    System,
    /// Mozilla's root bundle compiled into the binary (`webpki-roots`).
    WebPki,
    /// Only the certificates in this PEM (or DER) file.
    CaFile(PathBuf),
}

/// The TLS settings of one connector.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct TlsConfig {
    pub(crate) mode: SslMode,
    pub(crate) roots: TlsRoots,
    /// Encrypt without authenticating the server, even when TLS is required.
    pub(crate) accept_invalid_certs: bool,
}

/// What one connection attempt does about TLS.
#[derive(Debug, Clone)]
pub(crate) enum TlsPlan {
    /// Plain TCP (or socket).
    Plain,
    /// TLS with these options; a connection without TLS is an error.
    Required(SslOpts),
    /// TLS with these options if the server offers it, else plain.
    Opportunistic(SslOpts),
}

impl TlsConfig {
    /// The `mysql_async` options this configuration produces.
    pub(crate) fn plan(&self) -> Result<TlsPlan> {
        match self.mode {
            SslMode::Disabled => Ok(TlsPlan::Plain),
            // Nothing to verify against: an unauthenticated server cannot be told from an
            // attacker, so checking would only make `preferred` fail where MySQL clients work.
            SslMode::Preferred => Ok(TlsPlan::Opportunistic(
                SslOpts::default().with_danger_accept_invalid_certs(true),
            )),
            SslMode::Required | SslMode::VerifyIdentity => Ok(TlsPlan::Required(
                self.verified_opts()?
                    .with_danger_accept_invalid_certs(self.accept_invalid_certs),
            )),
            SslMode::VerifyCa => Ok(TlsPlan::Required(
                self.verified_opts()?
                    .with_danger_skip_domain_validation(true)
                    .with_danger_accept_invalid_certs(self.accept_invalid_certs),
            )),
        }
    }

    fn verified_opts(&self) -> Result<SslOpts> {
        let opts = SslOpts::default();
        Ok(match &self.roots {
            TlsRoots::WebPki => opts.with_disable_built_in_roots(false),
            TlsRoots::CaFile(path) => opts
                .with_disable_built_in_roots(true)
                .with_root_certs(vec![path.clone().into()]),
            TlsRoots::System => opts.with_disable_built_in_roots(true).with_root_certs(
                system_roots()?
                    .iter()
                    .map(|der| der.clone().into())
                    .collect(),
            ),
        })
    }
}

/// The operating system's root certificates (DER), loaded on first use and kept for the process.
fn system_roots() -> Result<Arc<Vec<Vec<u8>>>> {
    static ROOTS: OnceLock<std::result::Result<Arc<Vec<Vec<u8>>>, String>> = OnceLock::new();
    let loaded = ROOTS.get_or_init(|| {
        let result = rustls_native_certs::load_native_certs();
        if result.certs.is_empty() {
            let errors: Vec<String> = result.errors.iter().map(ToString::to_string).collect();
            return Err(format!(
                "found no root certificates in the system trust store ({}); set \
                 `ssl_ca=/path/to/ca.pem` or `ssl_roots=webpki`",
                if errors.is_empty() {
                    "no errors reported".to_owned()
                } else {
                    errors.join("; ")
                }
            ));
        }
        Ok(Arc::new(
            result
                .certs
                .into_iter()
                .map(|der| der.as_ref().to_vec())
                .collect(),
        ))
    });
    loaded
        .clone()
        .map_err(|reason| Error::config("ssl_roots", reason))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(mode: SslMode, roots: TlsRoots, accept_invalid_certs: bool) -> TlsConfig {
        TlsConfig {
            mode,
            roots,
            accept_invalid_certs,
        }
    }

    fn required(plan: TlsPlan) -> SslOpts {
        match plan {
            TlsPlan::Required(opts) => opts,
            other => panic!("expected TLS to be required, got {other:?}"),
        }
    }

    #[test]
    fn ssl_mode_parses_every_documented_spelling() {
        let cases = [
            ("disabled", SslMode::Disabled),
            ("DISABLED", SslMode::Disabled),
            ("preferred", SslMode::Preferred),
            ("required", SslMode::Required),
            ("verify_ca", SslMode::VerifyCa),
            ("VERIFY-CA", SslMode::VerifyCa),
            ("verify_identity", SslMode::VerifyIdentity),
            ("verify-full", SslMode::VerifyIdentity),
        ];
        for (input, expected) in cases {
            assert_eq!(input.parse::<SslMode>().unwrap(), expected, "{input}");
        }
        let err = "sometimes".parse::<SslMode>().unwrap_err();
        assert!(matches!(err, Error::Config { ref field, .. } if field == "ssl_mode"));
    }

    #[test]
    fn disabled_is_plain_and_preferred_is_opportunistic_and_unverified() {
        let plain = config(SslMode::Disabled, TlsRoots::WebPki, false).plan();
        assert!(matches!(plain.unwrap(), TlsPlan::Plain));
        match config(SslMode::Preferred, TlsRoots::WebPki, false)
            .plan()
            .unwrap()
        {
            TlsPlan::Opportunistic(opts) => assert!(opts.accept_invalid_certs()),
            other => panic!("expected opportunistic TLS, got {other:?}"),
        }
    }

    #[test]
    fn required_verifies_chain_and_host_name_by_default() {
        for mode in [SslMode::Required, SslMode::VerifyIdentity] {
            let opts = required(config(mode, TlsRoots::WebPki, false).plan().unwrap());
            assert!(!opts.accept_invalid_certs(), "{mode:?}");
            assert!(!opts.skip_domain_validation(), "{mode:?}");
            assert!(!opts.disable_built_in_roots(), "{mode:?}");
            assert!(opts.root_certs().is_empty(), "{mode:?}");
        }
    }

    #[test]
    fn verify_ca_skips_only_the_host_name() {
        let opts = required(
            config(SslMode::VerifyCa, TlsRoots::WebPki, false)
                .plan()
                .unwrap(),
        );
        assert!(!opts.accept_invalid_certs());
        assert!(opts.skip_domain_validation());
    }

    #[test]
    fn accepting_invalid_certs_must_be_asked_for() {
        let opts = required(
            config(SslMode::Required, TlsRoots::WebPki, true)
                .plan()
                .unwrap(),
        );
        assert!(opts.accept_invalid_certs());
    }

    #[test]
    fn a_ca_file_is_the_only_trusted_root() {
        let path = PathBuf::from("/etc/mysql/ca.pem");
        let opts = required(
            config(
                SslMode::VerifyIdentity,
                TlsRoots::CaFile(path.clone()),
                false,
            )
            .plan()
            .unwrap(),
        );
        assert!(opts.disable_built_in_roots());
        assert_eq!(opts.root_certs().len(), 1);
        assert!(opts.root_certs()[0] == path.into());
    }

    #[test]
    fn system_roots_replace_the_compiled_in_bundle() {
        // This machine has a system trust store (ca-certificates); an empty one would be an
        // error naming `ssl_roots`, which the match below would report.
        match config(SslMode::Required, TlsRoots::System, false).plan() {
            Ok(plan) => {
                let opts = required(plan);
                assert!(opts.disable_built_in_roots());
                assert!(!opts.root_certs().is_empty());
            }
            Err(Error::Config { field, reason }) => {
                assert_eq!(field, "ssl_roots");
                assert!(reason.contains("ssl_ca"), "{reason}");
            }
            Err(other) => panic!("unexpected error {other}"),
        }
    }
}
