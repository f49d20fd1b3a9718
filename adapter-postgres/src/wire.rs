//! What a session's own traffic says about it: the transaction status and whether the holder
//! sent anything that keeps state in the session.
//!
//! tokio-postgres reads the transaction status of every `ReadyForQuery` and keeps it to
//! itself. [`Tracked`] sits between the driver and the socket (above TLS, so it reads plain
//! protocol) and watches the message headers go by in both directions, without copying a
//! message unless it must read its text:
//!
//! * backend `ReadyForQuery` (`Z`): the transaction status, `I` idle, `T` in a transaction,
//!   `E` in a failed one;
//! * frontend `Query` (`Q`) and `Parse` (`P`): their SQL, scanned by
//!   [`changes_session`](crate::session_sql::changes_session); a prepared statement that
//!   changes the session is remembered by name, and a `Bind` (`B`) of it marks the session
//!   again on every later execution;
//! * backend `ParameterStatus` (`S`) after startup: a reported setting changed (`SET`
//!   inside a function included); `NotificationResponse` (`A`): a `LISTEN` is active;
//! * frontend `Query` and `Sync` against backend `ReadyForQuery`: how many requests are
//!   still unanswered (a native call dropped halfway leaves one);
//! * backend `NoticeResponse` (`N`): counted, so tests and operators can see that the pool's
//!   own statements draw no warnings.
//!
//! Both directions are handled in the connection's I/O task, which is the only writer; the
//! connection reads the result at return through [`SessionTracker`]. The driver hands a
//! call's answer to its caller only after reading it here, so once a holder's calls have
//! returned, the tracker has seen their `ReadyForQuery`.
//!
//! When the parser loses its place (a length no server sends), it stops and the session
//! counts as dirty from then on: every return resets it, which is always correct.

use std::io;
use std::pin::Pin;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU64, AtomicUsize, Ordering};
use std::task::{Context, Poll, ready};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use crate::session_sql::changes_session;

/// PostgreSQL's own limit on a message is 1 GB; anything longer means the parser is lost.
const MAX_MESSAGE: usize = 1 << 30;

/// How much of a `Query`'s or `Parse`'s text is read when the message is split across writes;
/// a longer one is assumed to change the session.
const MAX_SCANNED_SQL: usize = 64 * 1024;

/// How much of a `Bind` is read: its portal and statement names come first.
const BIND_PREFIX: usize = 256;

/// How many statements that change the session are remembered by name; past it, every
/// `Bind` marks the session.
const MAX_REMEMBERED: usize = 64;

/// The code of an `SSLRequest` / `GSSENCRequest`: the server answers with one byte.
const SSL_REQUEST: u32 = 80_877_103;
const GSSENC_REQUEST: u32 = 80_877_104;

/// The session's state as its traffic showed it, shared between the I/O task (which writes
/// it) and the connection (which reads it at return and clears it after a reset).
#[derive(Debug)]
pub(crate) struct SessionTracker {
    /// The status byte of the last `ReadyForQuery`.
    status: AtomicU8,
    /// Requests written (`Query`, `Sync`, `FunctionCall`) whose `ReadyForQuery` has not been
    /// read. A `Sync` inside `COPY FROM STDIN` gets none, so this can stay one too high until
    /// the next reset re-synchronises it: a false "unsettled" costs one reset, never a miss.
    awaiting: AtomicUsize,
    /// The session may hold state beyond its transaction.
    dirty: AtomicBool,
    /// Prepared statements whose SQL changes the session, by name.
    remembered: Mutex<Vec<Box<[u8]>>>,
    /// Any name is in `remembered` (so a `Bind` needs no lock when none is).
    remembers_any: AtomicBool,
    /// `remembered` overflowed: every `Bind` marks the session.
    forgot_some: AtomicBool,
    /// The parser lost its place.
    lost: AtomicBool,
    /// `NoticeResponse` messages received (warnings and notices, which the server also logs
    /// at its default `log_min_messages` when they are warnings).
    notices: AtomicU64,
}

impl SessionTracker {
    pub(crate) fn new() -> Self {
        Self {
            status: AtomicU8::new(b'I'),
            awaiting: AtomicUsize::new(0),
            dirty: AtomicBool::new(false),
            remembered: Mutex::new(Vec::new()),
            remembers_any: AtomicBool::new(false),
            forgot_some: AtomicBool::new(false),
            lost: AtomicBool::new(false),
            notices: AtomicU64::new(0),
        }
    }

    /// How many `NoticeResponse` messages the session received.
    pub(crate) fn notices(&self) -> u64 {
        self.notices.load(Ordering::Acquire)
    }

    /// Idle, every request answered, and nothing sent that keeps session state.
    pub(crate) fn is_clean(&self) -> bool {
        !self.in_transaction() && !self.has_unanswered() && !self.is_dirty()
    }

    /// The last `ReadyForQuery` said a transaction is open or failed (or the parser is lost,
    /// and then a `ROLLBACK` might be needed).
    pub(crate) fn in_transaction(&self) -> bool {
        self.status.load(Ordering::Acquire) != b'I' || self.lost.load(Ordering::Acquire)
    }

    /// A request went out whose answer has not been read.
    pub(crate) fn has_unanswered(&self) -> bool {
        self.awaiting.load(Ordering::Acquire) > 0
    }

    /// The session may hold state beyond its transaction.
    pub(crate) fn is_dirty(&self) -> bool {
        self.dirty.load(Ordering::Acquire) || self.lost.load(Ordering::Acquire)
    }

    /// After a round trip the connection awaited: every earlier request was answered too.
    pub(crate) fn answered_all(&self) {
        self.awaiting.store(0, Ordering::Release);
    }

    /// After the session reset ran: its state is gone. With `statements_gone` (the reset
    /// deallocated prepared statements) the remembered names go with it.
    pub(crate) fn session_reset(&self, statements_gone: bool) {
        self.dirty.store(false, Ordering::Release);
        if statements_gone {
            self.lock_remembered().clear();
            self.remembers_any.store(false, Ordering::Release);
            self.forgot_some.store(false, Ordering::Release);
        }
    }

    fn lock_remembered(&self) -> std::sync::MutexGuard<'_, Vec<Box<[u8]>>> {
        // The list is never left half-changed, so a poisoned lock's content is still right.
        self.remembered
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn mark_dirty(&self) {
        self.dirty.store(true, Ordering::Release);
    }

    fn sent_request(&self) {
        self.awaiting.fetch_add(1, Ordering::AcqRel);
    }

    fn ready_for_query(&self, status: u8) {
        self.status.store(status, Ordering::Release);
        // Only this task changes the count apart from `answered_all`, so load and store
        // cannot lose an increment.
        let awaiting = self.awaiting.load(Ordering::Acquire);
        self.awaiting
            .store(awaiting.saturating_sub(1), Ordering::Release);
    }

    fn parsed(&self, body: &[u8], whole: bool) {
        // Parse: statement name, NUL, SQL, NUL, parameter types.
        let Some(name_end) = body.iter().position(|&b| b == 0) else {
            self.mark_dirty();
            return;
        };
        let sql = &body[name_end + 1..];
        let sql = sql
            .iter()
            .position(|&b| b == 0)
            .map_or(sql, |end| &sql[..end]);
        if !whole || changes_session(sql) {
            self.mark_dirty();
            let name = &body[..name_end];
            if !name.is_empty() {
                self.remember(name);
            }
        }
    }

    fn remember(&self, name: &[u8]) {
        let mut remembered = self.lock_remembered();
        if remembered.len() >= MAX_REMEMBERED {
            self.forgot_some.store(true, Ordering::Release);
        } else if !remembered.iter().any(|known| **known == *name) {
            remembered.push(name.into());
            self.remembers_any.store(true, Ordering::Release);
        }
    }

    fn bound(&self, body: &[u8]) {
        if self.forgot_some.load(Ordering::Acquire) {
            self.mark_dirty();
            return;
        }
        if !self.remembers_any.load(Ordering::Acquire) {
            return;
        }
        // Bind: portal name, NUL, statement name, NUL, …
        let mut names = body.splitn(3, |&b| b == 0);
        let (Some(_portal), Some(statement)) = (names.next(), names.next()) else {
            self.mark_dirty();
            return;
        };
        if self
            .lock_remembered()
            .iter()
            .any(|known| **known == *statement)
        {
            self.mark_dirty();
        }
    }

    fn got_lost(&self) {
        self.lost.store(true, Ordering::Release);
    }
}

/// A stream the driver reads and writes, with the [`SessionTracker`] watching.
pub(crate) struct Tracked<S> {
    inner: S,
    tracker: std::sync::Arc<SessionTracker>,
    frontend: Framing,
    backend: Framing,
    /// Until the startup message is written, frontend messages have no type byte.
    startup_written: bool,
    /// An `SSLRequest` went out: the next byte from the server is its one-byte answer.
    awaiting_answer_byte: bool,
    /// The first `ReadyForQuery` arrived: the session is up, later `ParameterStatus`
    /// messages are changes.
    started: bool,
    lost: bool,
}

impl<S> Tracked<S> {
    pub(crate) fn new(inner: S, tracker: std::sync::Arc<SessionTracker>) -> Self {
        Self {
            inner,
            tracker,
            frontend: Framing::default(),
            backend: Framing::default(),
            startup_written: false,
            awaiting_answer_byte: false,
            started: false,
            lost: false,
        }
    }

    /// The stream and the tracker, for a TLS layer to wrap the stream and track above it.
    pub(crate) fn into_parts(self) -> (S, std::sync::Arc<SessionTracker>) {
        (self.inner, self.tracker)
    }

    pub(crate) fn get_ref(&self) -> &S {
        &self.inner
    }

    fn lose(&mut self) {
        self.lost = true;
        self.tracker.got_lost();
    }

    fn watch_written(&mut self, mut bytes: &[u8]) {
        while !bytes.is_empty() && !self.lost {
            let typed = self.startup_written;
            let tracker = &self.tracker;
            let mut startup_written = false;
            let mut answer_byte = false;
            let step = self
                .frontend
                .feed(bytes, typed, frontend_keeps, |kind, body, whole| {
                    match kind {
                        UNTYPED => {
                            let code = body
                                .get(..4)
                                .map(|c| u32::from_be_bytes([c[0], c[1], c[2], c[3]]));
                            if matches!(code, Some(SSL_REQUEST | GSSENC_REQUEST)) {
                                answer_byte = true;
                            } else {
                                startup_written = true;
                            }
                        }
                        b'Q' => {
                            tracker.sent_request();
                            let sql = body.strip_suffix(&[0]).unwrap_or(body);
                            if !whole || changes_session(sql) {
                                tracker.mark_dirty();
                            }
                        }
                        b'P' => tracker.parsed(body, whole),
                        b'B' => tracker.bound(body),
                        b'S' => tracker.sent_request(),
                        // A function call can change anything, and is answered by ReadyForQuery.
                        b'F' => {
                            tracker.sent_request();
                            tracker.mark_dirty();
                        }
                        _ => {}
                    }
                });
            match step {
                Ok(used) => bytes = &bytes[used..],
                Err(Lost) => self.lose(),
            }
            self.startup_written |= startup_written;
            self.awaiting_answer_byte |= answer_byte;
        }
    }

    fn watch_read(&mut self, mut bytes: &[u8]) {
        if self.awaiting_answer_byte && !bytes.is_empty() {
            // `S`: TLS follows (on a new `Tracked` above it); `N`: the startup message does.
            self.awaiting_answer_byte = false;
            bytes = &bytes[1..];
        }
        while !bytes.is_empty() && !self.lost {
            let tracker = &self.tracker;
            let started = self.started;
            let mut ready = false;
            let step = self
                .backend
                .feed(bytes, true, backend_keeps, |kind, body, _| match kind {
                    b'Z' => {
                        ready = true;
                        tracker.ready_for_query(body.first().copied().unwrap_or(b'E'));
                    }
                    b'S' | b'A' if started => tracker.mark_dirty(),
                    b'N' => {
                        tracker.notices.fetch_add(1, Ordering::AcqRel);
                    }
                    _ => {}
                });
            match step {
                Ok(used) => bytes = &bytes[used..],
                Err(Lost) => self.lose(),
            }
            if ready && !self.started {
                // The startup's own ReadyForQuery answers no counted request.
                self.started = true;
                self.tracker.answered_all();
            }
        }
    }
}

/// How many body bytes of a frontend message the tracker reads.
fn frontend_keeps(kind: u8) -> usize {
    match kind {
        b'Q' | b'P' => MAX_SCANNED_SQL,
        b'B' => BIND_PREFIX,
        UNTYPED => 4,
        _ => 0,
    }
}

/// How many body bytes of a backend message the tracker reads.
fn backend_keeps(kind: u8) -> usize {
    match kind {
        b'Z' => 1,
        _ => 0,
    }
}

/// The kind given to a message without a type byte (the startup phase's).
const UNTYPED: u8 = 0;

/// The parser found a length no server or driver sends.
struct Lost;

/// One direction's message framing, fed the bytes as they pass.
#[derive(Default)]
struct Framing {
    header: [u8; 5],
    header_len: usize,
    /// Reading a body (the header is complete).
    in_body: bool,
    kind: u8,
    body_len: usize,
    body_left: usize,
    /// How many body bytes to keep for the handler.
    keep: usize,
    kept: Vec<u8>,
}

impl Framing {
    /// Consumes bytes of at most one message from `bytes` and returns how many; calls
    /// `handle(kind, kept body, whole)` when that message is complete, `whole` saying whether
    /// the kept bytes are the whole body.
    fn feed(
        &mut self,
        bytes: &[u8],
        typed: bool,
        keeps: fn(u8) -> usize,
        handle: impl FnOnce(u8, &[u8], bool),
    ) -> Result<usize, Lost> {
        let mut used = 0;
        if !self.in_body {
            let header_size = if typed { 5 } else { 4 };
            let take = (header_size - self.header_len).min(bytes.len());
            self.header[self.header_len..self.header_len + take].copy_from_slice(&bytes[..take]);
            self.header_len += take;
            used += take;
            if self.header_len < header_size {
                return Ok(used);
            }
            let (kind, length) = if typed {
                (self.header[0], &self.header[1..5])
            } else {
                (UNTYPED, &self.header[0..4])
            };
            let length = u32::from_be_bytes([length[0], length[1], length[2], length[3]]) as usize;
            if !(4..=MAX_MESSAGE).contains(&length) {
                return Err(Lost);
            }
            self.header_len = 0;
            self.in_body = true;
            self.kind = kind;
            self.body_len = length - 4;
            self.body_left = self.body_len;
            self.keep = keeps(kind).min(self.body_len);
            self.kept.clear();
        }
        let rest = &bytes[used..];
        let whole = self.keep == self.body_len;
        if self.body_left == self.body_len && rest.len() >= self.body_len {
            // The whole body is here: read it in place.
            self.in_body = false;
            handle(self.kind, &rest[..self.keep], whole);
            return Ok(used + self.body_len);
        }
        let take = rest.len().min(self.body_left);
        let read_so_far = self.body_len - self.body_left;
        if read_so_far < self.keep {
            let wanted = (self.keep - read_so_far).min(take);
            self.kept.extend_from_slice(&rest[..wanted]);
        }
        self.body_left -= take;
        if self.body_left == 0 {
            self.in_body = false;
            handle(self.kind, &self.kept, whole);
            self.kept = Vec::new();
        }
        Ok(used + take)
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Tracked<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        ready!(Pin::new(&mut this.inner).poll_read(cx, buf))?;
        this.watch_read(&buf.filled()[before..]);
        Poll::Ready(Ok(()))
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Tracked<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let written = ready!(Pin::new(&mut this.inner).poll_write(cx, buf))?;
        this.watch_written(&buf[..written]);
        Poll::Ready(Ok(written))
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    fn message(kind: u8, body: &[u8]) -> Vec<u8> {
        let mut out = vec![kind];
        out.extend_from_slice(&(body.len() as u32 + 4).to_be_bytes());
        out.extend_from_slice(body);
        out
    }

    fn startup() -> Vec<u8> {
        let body = [&196_608u32.to_be_bytes()[..], b"user\0app\0\0"].concat();
        let mut out = (body.len() as u32 + 4).to_be_bytes().to_vec();
        out.extend_from_slice(&body);
        out
    }

    fn started() -> (Tracked<()>, Arc<SessionTracker>) {
        let tracker = Arc::new(SessionTracker::new());
        let mut tracked = Tracked::new((), tracker.clone());
        tracked.watch_written(&startup());
        let mut answer = message(b'R', &0u32.to_be_bytes());
        answer.extend(message(b'S', b"TimeZone\0UTC\0"));
        answer.extend(message(b'Z', b"I"));
        tracked.watch_read(&answer);
        (tracked, tracker)
    }

    /// Feeds `bytes` in pieces of `piece` bytes, as a socket may.
    fn write_in_pieces(tracked: &mut Tracked<()>, bytes: &[u8], piece: usize) {
        for chunk in bytes.chunks(piece) {
            tracked.watch_written(chunk);
        }
    }

    fn read_in_pieces(tracked: &mut Tracked<()>, bytes: &[u8], piece: usize) {
        for chunk in bytes.chunks(piece) {
            tracked.watch_read(chunk);
        }
    }

    #[test]
    fn a_fresh_session_is_clean_despite_its_startup_parameters() {
        let (_, tracker) = started();
        assert!(tracker.is_clean());
    }

    #[test]
    fn the_transaction_status_follows_ready_for_query_in_any_split() {
        for piece in [1, 2, 3, 7, 1000] {
            let (mut tracked, tracker) = started();
            write_in_pieces(&mut tracked, &message(b'Q', b"BEGIN\0"), piece);
            assert!(tracker.has_unanswered());
            read_in_pieces(
                &mut tracked,
                &[message(b'C', b"BEGIN\0"), message(b'Z', b"T")].concat(),
                piece,
            );
            assert!(tracker.in_transaction() && !tracker.has_unanswered() && !tracker.is_dirty());
            write_in_pieces(&mut tracked, &message(b'Q', b"SELEC\0"), piece);
            read_in_pieces(
                &mut tracked,
                &[message(b'E', b"SERROR\0\0"), message(b'Z', b"E")].concat(),
                piece,
            );
            assert!(tracker.in_transaction());
            write_in_pieces(&mut tracked, &message(b'Q', b"ROLLBACK\0"), piece);
            read_in_pieces(&mut tracked, &message(b'Z', b"I"), piece);
            assert!(tracker.is_clean(), "piece {piece}");
        }
    }

    #[test]
    fn session_changing_sql_marks_the_session_in_any_split() {
        for piece in [1, 4, 1000] {
            let (mut tracked, tracker) = started();
            write_in_pieces(
                &mut tracked,
                &message(b'Q', b"SET search_path = app\0"),
                piece,
            );
            assert!(tracker.is_dirty(), "piece {piece}");
            tracker.session_reset(true);
            assert!(!tracker.is_dirty());
        }
    }

    #[test]
    fn a_prepared_statement_that_changes_the_session_marks_it_on_every_bind() {
        let (mut tracked, tracker) = started();
        let parse = message(b'P', b"s1\0SET statement_timeout = 5\0\0\0");
        let bind = message(b'B', b"\0s1\0\0\0\0\0\0\0");
        tracked.watch_written(&[parse, message(b'S', b"")].concat());
        tracked.watch_read(&[message(b'1', b""), message(b'Z', b"I")].concat());
        assert!(tracker.is_dirty());
        tracker.session_reset(false);
        tracked.watch_written(
            &[
                bind.clone(),
                message(b'E', b"\0\0\0\0\0"),
                message(b'S', b""),
            ]
            .concat(),
        );
        assert!(
            tracker.is_dirty(),
            "binding the remembered statement marks the session"
        );
        tracker.session_reset(false);
        let other = message(b'B', b"\0s2\0\0\0\0\0\0\0");
        tracked.watch_written(&other);
        assert!(!tracker.is_dirty(), "another statement does not");
        tracker.session_reset(true);
        tracked.watch_written(&bind);
        assert!(
            !tracker.is_dirty(),
            "a reset that deallocated statements forgets the names"
        );
    }

    #[test]
    fn a_plain_prepared_query_leaves_the_session_clean() {
        let (mut tracked, tracker) = started();
        let parse = message(b'P', b"s0\0SELECT $1::int\0\0\0");
        let bind = message(b'B', b"\0s0\0\0\0\0\0\0\0");
        tracked.watch_written(&[parse, message(b'S', b""), bind, message(b'S', b"")].concat());
        tracked.watch_read(
            &[
                message(b'1', b""),
                message(b'Z', b"I"),
                message(b'2', b""),
                message(b'Z', b"I"),
            ]
            .concat(),
        );
        assert!(tracker.is_clean());
    }

    #[test]
    fn parameter_changes_and_notifications_after_startup_mark_the_session() {
        let (mut tracked, tracker) = started();
        tracked.watch_read(&message(b'S', b"TimeZone\0Europe/Paris\0"));
        assert!(tracker.is_dirty());
        tracker.session_reset(true);
        tracked.watch_read(&message(b'A', b"\0\0\0\x01jobs\0\0"));
        assert!(tracker.is_dirty());
    }

    #[test]
    fn a_request_without_its_answer_is_unanswered() {
        let (mut tracked, tracker) = started();
        tracked.watch_written(&message(b'Q', b"SELECT pg_sleep(10)\0"));
        assert!(!tracker.is_clean());
        tracker.answered_all();
        assert!(tracker.is_clean());
    }

    #[test]
    fn an_ssl_request_and_its_answer_byte_are_understood() {
        let tracker = Arc::new(SessionTracker::new());
        let mut tracked = Tracked::new((), tracker.clone());
        let ssl_request = [&8u32.to_be_bytes()[..], &SSL_REQUEST.to_be_bytes()].concat();
        tracked.watch_written(&ssl_request);
        tracked.watch_read(b"N");
        tracked.watch_written(&startup());
        tracked.watch_read(&message(b'Z', b"I"));
        tracked.watch_written(&message(b'Q', b"BEGIN\0"));
        tracked.watch_read(&message(b'Z', b"T"));
        assert!(tracker.in_transaction() && !tracker.is_dirty());
    }

    #[test]
    fn a_length_no_server_sends_loses_the_parser_and_the_session_counts_as_dirty() {
        let (mut tracked, tracker) = started();
        tracked.watch_read(&[b'D', 0, 0, 0, 1]);
        assert!(tracker.is_dirty() && tracker.in_transaction());
        tracked.watch_read(&message(b'Z', b"I"));
        assert!(tracker.is_dirty(), "a lost parser stays lost");
    }
}
