//! TLS for tokio-postgres over rustls (ring provider): the client configuration each
//! [`SslMode`] needs, and the `MakeTlsConnect` glue. The policy (what each mode verifies) lives
//! in [`client_config`]; the crate documentation explains it.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use pool_core::{Error, Result};
use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::WebPkiSupportedAlgorithms;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{
    CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme,
};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio_postgres::tls::{ChannelBinding, MakeTlsConnect, TlsConnect};

use crate::options::{RootCerts, SslMode};
use crate::wire::Tracked;

/// The rustls client configuration for `mode`, with roots loaded from `roots` when the mode
/// verifies certificates. Fails when the roots cannot be loaded (unreadable file, no
/// certificates in it, an empty system store).
pub(crate) fn client_config(
    mode: SslMode,
    roots: &RootCerts,
    accept_invalid_certs: bool,
) -> Result<Arc<ClientConfig>> {
    // The provider is passed explicitly rather than installed process-wide, so this crate never
    // fights another crate's choice of rustls provider.
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::config("sslmode", format!("TLS setup failed: {e}")))?;
    let verifies = match mode {
        SslMode::Disable | SslMode::Prefer => false,
        SslMode::Require | SslMode::VerifyCa | SslMode::VerifyFull => !accept_invalid_certs,
    };
    let verifier: Arc<dyn ServerCertVerifier> = if verifies {
        let store = Arc::new(load_roots(roots)?);
        let webpki = WebPkiServerVerifier::builder_with_provider(store, provider.clone())
            .build()
            .map_err(|e| Error::config("sslrootcert", format!("is unusable: {e}")))?;
        if mode == SslMode::VerifyCa {
            Arc::new(ChainOnly(webpki))
        } else {
            webpki
        }
    } else {
        Arc::new(AcceptAny(provider.signature_verification_algorithms))
    };
    let mut config = builder
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth();
    // PostgreSQL 17's direct TLS negotiation requires this ALPN; harmless before it.
    config.alpn_protocols = vec![b"postgresql".to_vec()];
    Ok(Arc::new(config))
}

fn load_roots(roots: &RootCerts) -> Result<RootCertStore> {
    let mut store = RootCertStore::empty();
    match roots {
        RootCerts::System => {
            let loaded = rustls_native_certs::load_native_certs();
            let (added, _) = store.add_parsable_certificates(loaded.certs);
            if added == 0 {
                return Err(Error::config(
                    "sslrootcert",
                    "is `system`, but no CA certificates were found in the system trust store; \
                     install ca-certificates or give a PEM file with sslrootcert=PATH",
                ));
            }
        }
        RootCerts::File(path) => {
            let pem = std::fs::read(path).map_err(|e| {
                Error::config(
                    "sslrootcert",
                    format!("could not be read from {}: {e}", path.display()),
                )
            })?;
            add_pem(&mut store, &pem, &path.display().to_string())?;
        }
        RootCerts::Pem(pem) => add_pem(&mut store, pem, "the PEM given to with_root_certs")?,
    }
    Ok(store)
}

fn add_pem(store: &mut RootCertStore, pem: &[u8], origin: &str) -> Result<()> {
    let certs = CertificateDer::pem_slice_iter(pem)
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|e| Error::config("sslrootcert", format!("{origin} is not valid PEM: {e}")))?;
    let (added, _) = store.add_parsable_certificates(certs);
    if added == 0 {
        return Err(Error::config(
            "sslrootcert",
            format!("{origin} holds no usable CA certificate"),
        ));
    }
    Ok(())
}

/// `verify-ca`: the chain must lead to a trusted root, the host name may differ. webpki checks
/// the name only after the chain, so a name mismatch means the chain was good.
#[derive(Debug)]
struct ChainOnly(Arc<WebPkiServerVerifier>);

impl ServerCertVerifier for ChainOnly {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> std::result::Result<ServerCertVerified, rustls::Error> {
        match self
            .0
            .verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
        {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}

/// `prefer`, and `require` with the explicit opt-out: any certificate is accepted, but the
/// handshake signatures are still checked, so the session key belongs to whoever holds the
/// certificate's key.
#[derive(Debug)]
struct AcceptAny(WebPkiSupportedAlgorithms);

impl ServerCertVerifier for AcceptAny {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> std::result::Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.0)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.0)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_schemes()
    }
}

/// tokio-postgres's TLS factory over a shared rustls configuration (also used for the TLS
/// connection of a cancel request).
#[derive(Clone)]
pub(crate) struct MakeRustls {
    config: Arc<ClientConfig>,
}

impl MakeRustls {
    pub(crate) fn new(config: Arc<ClientConfig>) -> Self {
        Self { config }
    }
}

impl<S> MakeTlsConnect<S> for MakeRustls
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    type Stream = RustlsStream<S>;
    type TlsConnect = RustlsConnect;
    type Error = rustls::pki_types::InvalidDnsNameError;

    fn make_tls_connect(
        &mut self,
        domain: &str,
    ) -> std::result::Result<RustlsConnect, Self::Error> {
        // `ServerName` parses IP addresses too, which are then matched against IP SANs.
        // tokio-postgres passes "" for a Unix socket, where the server always declines TLS
        // (and `build` refuses the modes that require it), so any name will do there.
        let domain = if domain.is_empty() {
            "localhost"
        } else {
            domain
        };
        let name = ServerName::try_from(domain.to_owned())?;
        Ok(RustlsConnect {
            config: self.config.clone(),
            name,
        })
    }
}

/// One TLS handshake towards a named server.
pub(crate) struct RustlsConnect {
    config: Arc<ClientConfig>,
    name: ServerName<'static>,
}

impl<S> TlsConnect<S> for RustlsConnect
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    type Stream = RustlsStream<S>;
    type Error = io::Error;
    type Future = Pin<Box<dyn Future<Output = io::Result<RustlsStream<S>>> + Send>>;

    fn connect(self, stream: S) -> Self::Future {
        Box::pin(async move {
            tokio_rustls::TlsConnector::from(self.config)
                .connect(self.name, stream)
                .await
                .map(RustlsStream)
        })
    }
}

/// A TLS stream tokio-postgres reads and writes.
pub(crate) struct RustlsStream<S>(tokio_rustls::client::TlsStream<S>);

impl<S> tokio_postgres::tls::TlsStream for RustlsStream<S>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    fn channel_binding(&self) -> ChannelBinding {
        // tls-server-end-point needs the certificate's signature hash; without it SCRAM falls
        // back to plain SCRAM-SHA-256 (channel_binding=prefer, the default).
        ChannelBinding::none()
    }
}

delegate_io!(read for RustlsStream);

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncWrite for RustlsStream<S> {
    delegate_io!(write);

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_shutdown(cx)
    }
}

/// TLS for a [`Tracked`] socket: the handshake runs on the bare socket, and the tracker moves
/// above TLS, where it reads plain protocol.
pub(crate) struct TrackedTls(pub(crate) RustlsConnect);

impl<S> TlsConnect<Tracked<S>> for TrackedTls
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    type Stream = Tracked<RustlsStream<S>>;
    type Error = io::Error;
    type Future = Pin<Box<dyn Future<Output = io::Result<Self::Stream>> + Send>>;

    fn connect(self, stream: Tracked<S>) -> Self::Future {
        let (socket, tracker) = stream.into_parts();
        let handshake = TlsConnect::<S>::connect(self.0, socket);
        Box::pin(async move { Ok(Tracked::new(handshake.await?, tracker)) })
    }
}

impl<S> tokio_postgres::tls::TlsStream for Tracked<RustlsStream<S>>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    fn channel_binding(&self) -> ChannelBinding {
        self.get_ref().channel_binding()
    }
}
