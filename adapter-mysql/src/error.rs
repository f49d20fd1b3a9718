//! The one place where a `mysql_async` error gets its [`ErrorClass`].
//!
//! The class decides whether the pool may reuse the connection, so the rule is conservative:
//! anything that may have left the wire protocol in an unknown state (I/O, TLS, a driver-level
//! protocol error, a session the server ended) is [`ErrorClass::Connection`]; an error the
//! server reported about one statement (syntax, constraint, lock wait, interrupted query) is
//! [`ErrorClass::Query`] and leaves the connection usable. Server errors carry their MySQL error
//! number as the [`BackendError::code`].
//!
//! Every error while a session is being opened (refused port, authentication, unknown
//! database, too many connections, host blocked, TLS) is [`ErrorClass::Connection`]: there is
//! no connection to reuse. Such errors also say where the connect went ([`MysqlConnectError`]:
//! host, port, user, database and `ssl_mode`, never the password), as the PostgreSQL adapter's
//! do.

use std::error::Error as StdError;
use std::fmt;

use mysql_async::{Error as MyError, IoError};
use pool_core::{BackendError, ErrorClass};

/// Server error numbers after which the session is gone or unusable.
///
/// Client-side numbers (2006, 2013, 2055) are listed too: a proxy such as ProxySQL or
/// MaxScale can forward them as server errors.
const CONNECTION_ERROR_CODES: &[u16] = &[
    1040, // ER_CON_COUNT_ERROR: too many connections
    1043, // ER_HANDSHAKE_ERROR
    1045, // ER_ACCESS_DENIED_ERROR: authentication (at connect, or a COM_CHANGE_USER)
    1053, // ER_SERVER_SHUTDOWN: server shutdown in progress
    1077, // ER_NORMAL_SHUTDOWN
    1079, // ER_SHUTDOWN_COMPLETE
    1080, // ER_FORCING_CLOSE
    1081, // ER_IPSOCK_ERROR
    1129, // ER_HOST_IS_BLOCKED
    1130, // ER_HOST_NOT_PRIVILEGED
    1152, // ER_ABORTING_CONNECTION
    1153, // ER_NET_PACKET_TOO_LARGE: the server closes the connection after it
    1154, // ER_NET_READ_ERROR_FROM_PIPE
    1155, // ER_NET_FCNTL_ERROR
    1156, // ER_NET_PACKETS_OUT_OF_ORDER
    1157, // ER_NET_UNCOMPRESS_ERROR
    1158, // ER_NET_READ_ERROR
    1159, // ER_NET_READ_INTERRUPTED
    1160, // ER_NET_ERROR_ON_WRITE
    1161, // ER_NET_WRITE_INTERRUPTED
    1184, // ER_NEW_ABORTING_CONNECTION
    1203, // ER_TOO_MANY_USER_CONNECTIONS: max_user_connections
    1251, // ER_NOT_SUPPORTED_AUTH_MODE: the client cannot do the account's auth plugin
    1275, // ER_SERVER_IS_IN_SECURE_AUTH_MODE: the account has an old-style password
    1698, // ER_ACCESS_DENIED_NO_PASSWORD_ERROR: e.g. unix_socket authentication refused
    1820, // ER_MUST_CHANGE_PASSWORD: the session can run nothing but SET PASSWORD
    1862, // ER_MUST_CHANGE_PASSWORD_LOGIN: expired password refused at login
    1927, // ER_CONNECTION_KILLED (MariaDB): KILL CONNECTION
    2006, // CR_SERVER_GONE_ERROR
    2013, // CR_SERVER_LOST
    2055, // CR_SERVER_LOST_EXTENDED
    3118, // ER_ACCOUNT_HAS_BEEN_LOCKED (MySQL 8)
    3169, // ER_SESSION_WAS_KILLED (MySQL 8)
    4031, // ER_CLIENT_INTERACTION_TIMEOUT (MySQL 8): disconnected for inactivity
];

/// The class of a `mysql_async` error from a session that was open, and the MySQL error
/// number, if the server sent one.
///
/// Some numbers are connection errors only while a session is being opened: 1044 (access
/// denied to the database), 1049 (unknown database) or 1226 (a per-hour user limit) come from
/// a `USE` or one statement too and then leave the session usable. A failed connect is always
/// [`ErrorClass::Connection`], whatever its number (see the module docs).
pub fn error_class(error: &MyError) -> (ErrorClass, Option<u16>) {
    match error {
        MyError::Server(e) if CONNECTION_ERROR_CODES.contains(&e.code) => {
            (ErrorClass::Connection, Some(e.code))
        }
        MyError::Server(e) => (ErrorClass::Query, Some(e.code)),
        // `mysql_async` closes the stream after any error that is not the server's, even a
        // parameter-count mismatch (it then reports "connection closed"), so all of them break
        // the connection. The adapter checks parameter counts itself, before `mysql_async` can.
        MyError::Driver(_) | MyError::Io(_) | MyError::Other(_) | MyError::Url(_) => {
            (ErrorClass::Connection, None)
        }
    }
}

/// Maps a `mysql_async` error into the pool's [`BackendError`], with its class and code.
pub(crate) fn classify(error: MyError) -> BackendError {
    let (class, code) = error_class(&error);
    let backend = BackendError::new(class, error);
    match code {
        Some(code) => backend.with_code(code.to_string()),
        None => backend,
    }
}

/// Maps an error from opening a session: always [`ErrorClass::Connection`], with the server's
/// error number if it sent one, and `target` (where the connect went) in front of the message.
pub(crate) fn classify_connect(error: MyError, target: String) -> BackendError {
    let code = error_class(&error).1;
    let backend = BackendError::connection(MysqlConnectError { target, error });
    match code {
        Some(code) => backend.with_code(code.to_string()),
        None => backend,
    }
}

/// A failed connect to MySQL/MariaDB: where it went (host and port or socket, user, database,
/// `ssl_mode`; never the password) and the driver's message, each cause once (`mysql_async`
/// prints "Input/output error" twice for a refused port).
///
/// Reach it through [`BackendError::source_error`] and `downcast_ref::<MysqlConnectError>()`,
/// then [`mysql`](Self::mysql) for the driver's error.
#[derive(Debug)]
pub struct MysqlConnectError {
    target: String,
    error: MyError,
}

impl MysqlConnectError {
    /// The driver's error.
    pub fn mysql(&self) -> &MyError {
        &self.error
    }
}

impl fmt::Display for MysqlConnectError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: ", self.target)?;
        match &self.error {
            MyError::Io(IoError::Io(e)) => write!(f, "I/O error: {e}"),
            MyError::Io(IoError::Tls(e)) => write!(f, "TLS error: {e}"),
            MyError::Server(e) => write!(f, "the server refused the session: {e}"),
            MyError::Driver(e) => write!(f, "{e}"),
            other => write!(f, "{other}"),
        }
    }
}

impl StdError for MysqlConnectError {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        Some(&self.error)
    }
}

#[cfg(test)]
mod tests {
    use std::io;

    use mysql_async::{DriverError, IoError, ServerError};

    use super::*;

    fn server(code: u16) -> MyError {
        MyError::Server(ServerError {
            code,
            message: format!("error {code}"),
            state: "HY000".to_owned(),
        })
    }

    #[test]
    fn classes_match_the_table() {
        let cases: Vec<(&str, MyError, ErrorClass, Option<&str>)> = vec![
            ("syntax", server(1064), ErrorClass::Query, Some("1064")),
            (
                "duplicate key",
                server(1062),
                ErrorClass::Query,
                Some("1062"),
            ),
            ("deadlock", server(1213), ErrorClass::Query, Some("1213")),
            ("lock wait", server(1205), ErrorClass::Query, Some("1205")),
            (
                "query interrupted",
                server(1317),
                ErrorClass::Query,
                Some("1317"),
            ),
            (
                "unknown table",
                server(1146),
                ErrorClass::Query,
                Some("1146"),
            ),
            (
                "connection killed",
                server(1927),
                ErrorClass::Connection,
                Some("1927"),
            ),
            (
                "server gone away",
                server(2006),
                ErrorClass::Connection,
                Some("2006"),
            ),
            (
                "lost connection",
                server(2013),
                ErrorClass::Connection,
                Some("2013"),
            ),
            (
                "shutdown",
                server(1053),
                ErrorClass::Connection,
                Some("1053"),
            ),
            (
                "session killed",
                server(3169),
                ErrorClass::Connection,
                Some("3169"),
            ),
            (
                "closed",
                MyError::Driver(DriverError::ConnectionClosed),
                ErrorClass::Connection,
                None,
            ),
            (
                "out of order",
                MyError::Driver(DriverError::PacketOutOfOrder),
                ErrorClass::Connection,
                None,
            ),
            (
                "param count",
                MyError::Driver(DriverError::StmtParamsMismatch {
                    required: 2,
                    supplied: 1,
                }),
                ErrorClass::Connection,
                None,
            ),
            (
                "io",
                MyError::Io(IoError::Io(io::Error::from(io::ErrorKind::BrokenPipe))),
                ErrorClass::Connection,
                None,
            ),
        ];
        for (name, error, class, code) in cases {
            let backend = classify(error);
            assert_eq!(backend.class(), class, "{name}");
            assert_eq!(backend.code(), code, "{name}");
        }
    }

    #[test]
    fn every_connect_failure_is_a_connection_error_with_its_code() {
        // 1044 and 1049 are query errors from a `USE`, but not while opening a session.
        for code in [
            1044, 1045, 1049, 1040, 1129, 1130, 1203, 1226, 1251, 1698, 1862,
        ] {
            let backend = classify_connect(server(code), "db:3306".to_owned());
            assert_eq!(backend.class(), ErrorClass::Connection, "{code}");
            assert_eq!(backend.code(), Some(code.to_string().as_str()));
        }
        for code in [1045, 1203, 1251, 1698, 1862, 3118] {
            assert_eq!(
                classify(server(code)).class(),
                ErrorClass::Connection,
                "{code}"
            );
        }
        for code in [1044, 1049] {
            assert_eq!(classify(server(code)).class(), ErrorClass::Query, "{code}");
        }
    }

    #[test]
    fn a_refused_connect_names_the_target_and_says_io_error_once() {
        let refused = MyError::Io(IoError::Io(io::Error::from(
            io::ErrorKind::ConnectionRefused,
        )));
        let backend = classify_connect(refused, "127.0.0.1:1 as user `app`".to_owned());
        let message = backend.to_string();
        assert_eq!(
            message,
            "127.0.0.1:1 as user `app`: I/O error: connection refused"
        );
        let source = backend
            .source_error()
            .downcast_ref::<MysqlConnectError>()
            .expect("a MysqlConnectError");
        assert!(matches!(source.mysql(), MyError::Io(_)));
    }

    #[test]
    fn the_driver_error_is_kept_for_downcasting() {
        let backend = classify(server(1064));
        let source = backend
            .source_error()
            .downcast_ref::<MyError>()
            .expect("a mysql_async::Error");
        assert!(matches!(source, MyError::Server(e) if e.code == 1064));
    }
}
