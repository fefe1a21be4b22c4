//! TLS for every socket of the node and its tools: rustls (sans-IO) driven over glommio's
//! `TcpStream` by our own adapter ([`TlsStream`]), the server and client settings built from
//! AIS's configuration names (`server_crt`, `server_key`, `client_ca_tls`, `client_auth_tls`,
//! `skip_verify`, `domain_tls`), and a server certificate that can be reloaded from its files
//! while the node runs ([`CertStore::reload`]): the next handshake uses the new one.
//!
//! Why our own adapter and not futures-rustls: a request that lands on a core that does not
//! own its object moves to the owning core (`aisnode/src/server.rs`). glommio's streams are
//! not `Send`, so the move passes the descriptor; a TLS session must move with it. rustls's
//! connection state is `Send` and sans-IO, so [`TlsStream::into_parts`] gives the descriptor's
//! stream and a [`TlsState`] (session plus ciphertext read but not yet decrypted) that the
//! other core rebuilds with [`TlsStream::from_parts`]. futures-rustls has no way to rebuild a
//! stream from its parts.
//!
//! # Invariants
//! * Every byte read from the socket is either handed to rustls or kept in
//!   [`TlsState::pending`]; nothing is dropped across a hand-off.
//! * Socket deadlines are the caller's: the adapter calls the stream's own read and write,
//!   whose timeouts the caller sets ([`Stream::set_read_timeout`]).
//! * A peer that closes without `close_notify` reads as end of stream (as plain TCP): every
//!   HTTP body we read is framed by length or chunks, so truncation is detected there.
//!
//! # What this module does not do
//! No OCSP, no CRLs, no session resumption across nodes, no client-certificate modes that
//! accept a certificate without verifying it (AIS's `client_auth_tls` 1 and 2 are refused).

/// The rustls this module builds on, for crates that hold its configs.
pub use rustls;

use glommio::net::TcpStream;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::server::{ClientHello, ResolvesServerCert, WebPkiClientVerifier};
use rustls::sign::CertifiedKey;
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, ServerConfig, SignatureScheme};
use std::fmt;
use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock, RwLock};
use std::time::Duration;

/// Ciphertext read from the socket per read (a TLS record is at most ~16.6 KiB; several fit).
pub const TLS_READ_BUFFER_BYTES: usize = 64 * 1024;
/// Plaintext rustls takes per write before we flush its records to the socket.
pub const TLS_WRITE_BUFFER_BYTES: usize = 256 * 1024;
/// First byte of a TLS record carrying a handshake; anything else on a TLS port is not TLS.
const TLS_HANDSHAKE_RECORD: u8 = 0x16;

/// The crypto provider of every TLS config here (ring; see the workspace manifest).
pub fn provider() -> Arc<CryptoProvider> {
    static P: OnceLock<Arc<CryptoProvider>> = OnceLock::new();
    // Deprecated in rustls 0.23.48 only for lacking post-quantum key exchange (which needs
    // aws-lc-rs and its C/cmake toolchain); X25519 and the NIST curves remain.
    #[allow(deprecated)]
    P.get_or_init(|| Arc::new(rustls::crypto::ring::default_provider()))
        .clone()
}

/// A TLS setting or file that could not be used; names the file.
#[derive(Debug, Clone)]
pub struct TlsError(pub String);

impl fmt::Display for TlsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for TlsError {}

fn load_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let certs: Vec<_> = CertificateDer::pem_file_iter(path)
        .map_err(|e| TlsError(format!("certificate file {}: {e}", path.display())))?
        .collect::<Result<_, _>>()
        .map_err(|e| TlsError(format!("certificate file {}: {e}", path.display())))?;
    if certs.is_empty() {
        return Err(TlsError(format!(
            "certificate file {}: no PEM certificate in it",
            path.display()
        )));
    }
    Ok(certs)
}

fn load_key(path: &Path) -> Result<PrivateKeyDer<'static>, TlsError> {
    PrivateKeyDer::from_pem_file(path)
        .map_err(|e| TlsError(format!("key file {}: {e}", path.display())))
}

fn load_roots(path: &Path) -> Result<RootCertStore, TlsError> {
    let mut roots = RootCertStore::empty();
    for c in load_certs(path)? {
        roots
            .add(c)
            .map_err(|e| TlsError(format!("CA file {}: {e}", path.display())))?;
    }
    Ok(roots)
}

// ---------------------------------------------------------------------------------------------
// Server side
// ---------------------------------------------------------------------------------------------

/// The node's certificate and key, read from their files and re-read on [`CertStore::reload`].
/// Shared by every core; read once per handshake.
pub struct CertStore {
    crt: PathBuf,
    key: PathBuf,
    current: RwLock<Arc<CertifiedKey>>,
    /// Modification time and size of both files when they were last loaded.
    loaded: std::sync::Mutex<Option<FileStamps>>,
}

type FileStamps = [(std::time::SystemTime, u64); 2];

fn stamps(crt: &Path, key: &Path) -> Option<FileStamps> {
    let st = |p: &Path| {
        std::fs::metadata(p)
            .ok()
            .and_then(|m| Some((m.modified().ok()?, m.len())))
    };
    Some([st(crt)?, st(key)?])
}

impl fmt::Debug for CertStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CertStore({})", self.crt.display())
    }
}

fn certified_key(crt: &Path, key: &Path) -> Result<Arc<CertifiedKey>, TlsError> {
    let chain = load_certs(crt)?;
    let k = load_key(key)?;
    CertifiedKey::from_der(chain, k, &provider())
        .map(Arc::new)
        .map_err(|e| {
            TlsError(format!(
                "certificate {} and key {}: {e}",
                crt.display(),
                key.display()
            ))
        })
}

impl CertStore {
    pub fn load(crt: &Path, key: &Path) -> Result<Arc<CertStore>, TlsError> {
        let before = stamps(crt, key);
        let ck = certified_key(crt, key)?;
        Ok(Arc::new(CertStore {
            crt: crt.to_path_buf(),
            key: key.to_path_buf(),
            current: RwLock::new(ck),
            loaded: std::sync::Mutex::new(before),
        }))
    }

    /// Read the files again; on success new handshakes use the new certificate (sessions
    /// already established keep theirs). On failure the old one stays. Blocking (file reads).
    pub fn reload(&self) -> Result<(), TlsError> {
        let before = stamps(&self.crt, &self.key);
        let ck = certified_key(&self.crt, &self.key)?;
        *self.current.write().expect("cert lock") = ck;
        *self.loaded.lock().expect("stamp lock") = before;
        Ok(())
    }

    /// [`CertStore::reload`] if either file changed (modification time or size) since it
    /// was last loaded: `Ok(true)` reloaded, `Ok(false)` unchanged. A pair that does not load
    /// (a rotation half done: new certificate, old key) is tried again at the next call.
    /// Blocking (`stat`, file reads).
    pub fn reload_if_changed(&self) -> Result<bool, TlsError> {
        let now = stamps(&self.crt, &self.key);
        if now.is_none() || now == *self.loaded.lock().expect("stamp lock") {
            return Ok(false);
        }
        self.reload().map(|()| true)
    }

    /// The DER of the certificate in use (leaf first).
    pub fn chain(&self) -> Vec<CertificateDer<'static>> {
        self.current.read().expect("cert lock").cert.clone()
    }

    pub fn crt_path(&self) -> &Path {
        &self.crt
    }
}

impl ResolvesServerCert for CertStore {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.current.read().expect("cert lock").clone())
    }
}

/// AIS's `client_auth_tls` (Go's `tls.ClientAuthType`) as far as this node honours it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientAuth {
    /// 0: no client certificate asked for.
    None,
    /// 3: a client certificate, if sent, must verify against `client_ca_tls`.
    VerifyIfGiven,
    /// 4: every client must send a certificate that verifies against `client_ca_tls`.
    Require,
}

impl ClientAuth {
    /// From AIS's integer; 1 and 2 (a certificate asked for but not verified) are refused.
    pub fn from_ais(v: i64) -> Result<ClientAuth, TlsError> {
        match v {
            0 => Ok(ClientAuth::None),
            3 => Ok(ClientAuth::VerifyIfGiven),
            4 => Ok(ClientAuth::Require),
            1 | 2 => Err(TlsError(format!(
                "client_auth_tls {v} (accept a client certificate without verifying it) is not \
                 supported: use 3 (verify if given) or 4 (require and verify)"
            ))),
            _ => Err(TlsError(format!(
                "client_auth_tls {v}: expected 0, 3 or 4 (Go's tls.ClientAuthType)"
            ))),
        }
    }
}

/// A server config whose certificate comes from `store` (reloadable).
pub fn server_config(
    store: Arc<CertStore>,
    client_ca: Option<&Path>,
    auth: ClientAuth,
) -> Result<Arc<ServerConfig>, TlsError> {
    let builder = ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsError(e.to_string()))?;
    let builder = match (auth, client_ca) {
        (ClientAuth::None, _) => builder.with_no_client_auth(),
        (_, None) => return Err(TlsError(
            "client_auth_tls 3 or 4 needs client_ca_tls (the CA that signs client certificates)"
                .into(),
        )),
        (a, Some(ca)) => {
            let roots = Arc::new(load_roots(ca)?);
            let v = WebPkiClientVerifier::builder_with_provider(roots, provider());
            let v = if a == ClientAuth::VerifyIfGiven {
                v.allow_unauthenticated()
            } else {
                v
            };
            builder.with_client_cert_verifier(
                v.build()
                    .map_err(|e| TlsError(format!("client_ca_tls {}: {e}", ca.display())))?,
            )
        }
    };
    let mut cfg = builder.with_cert_resolver(store);
    cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(cfg))
}

// ---------------------------------------------------------------------------------------------
// Client side
// ---------------------------------------------------------------------------------------------

/// How a client checks servers and which certificate it shows (AIS's `AIS_CLIENT_CA`,
/// `AIS_SKIP_VERIFY_CRT`, `AIS_CRT`/`AIS_CRT_KEY`; a node's `net.http` for its peers).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClientTlsOpts {
    /// PEM file of the CA(s) that sign server certificates. Without it (and without
    /// `skip_verify`) no server is trusted: there is no system trust store here.
    pub ca: Option<PathBuf>,
    /// Accept any server certificate (self-signed test setups; AIS's `skip_verify`).
    pub skip_verify: bool,
    /// Client certificate and key (mutual TLS).
    pub cert: Option<(PathBuf, PathBuf)>,
    /// Name to verify servers' certificates against instead of the host in the URL
    /// (AIS's `domain_tls`).
    pub server_name: Option<String>,
}

impl ClientTlsOpts {
    /// AIS's client environment (`AIS_CLIENT_CA`, `AIS_SKIP_VERIFY_CRT`, `AIS_CRT`,
    /// `AIS_CRT_KEY`) read through `get`; `skip_verify` when the variable is unset is the
    /// tool's own default (AIS's aisloader: true, the CLI: false). A certificate without its
    /// key (or the reverse) is an error naming both variables.
    pub fn from_env(
        get: impl Fn(&str) -> Option<String>,
        skip_verify_default: bool,
    ) -> Result<ClientTlsOpts, TlsError> {
        let skip_verify = match get("AIS_SKIP_VERIFY_CRT") {
            None => skip_verify_default,
            Some(v) => match v.to_ascii_lowercase().as_str() {
                "1" | "t" | "true" | "y" | "yes" | "on" => true,
                "0" | "f" | "false" | "n" | "no" | "off" => false,
                _ => {
                    return Err(TlsError(format!(
                        "AIS_SKIP_VERIFY_CRT={v:?}: expected true or false"
                    )))
                }
            },
        };
        let cert = match (get("AIS_CRT"), get("AIS_CRT_KEY")) {
            (Some(c), Some(k)) => Some((PathBuf::from(c), PathBuf::from(k))),
            (None, None) => None,
            _ => {
                return Err(TlsError(
                    "AIS_CRT and AIS_CRT_KEY go together (client certificate and its key)".into(),
                ))
            }
        };
        Ok(ClientTlsOpts {
            ca: get("AIS_CLIENT_CA").map(PathBuf::from),
            skip_verify,
            cert,
            server_name: None,
        })
    }
}

/// A client TLS setting: the rustls config and the optional fixed server name.
#[derive(Clone)]
pub struct ClientTls {
    pub config: Arc<ClientConfig>,
    pub server_name: Option<ServerName<'static>>,
}

impl fmt::Debug for ClientTls {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ClientTls(server_name: {:?})", self.server_name)
    }
}

impl ClientTls {
    pub fn new(o: &ClientTlsOpts) -> Result<ClientTls, TlsError> {
        let builder = ClientConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .map_err(|e| TlsError(e.to_string()))?;
        let builder = if o.skip_verify {
            builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(NoVerify(provider())))
        } else {
            let roots = match &o.ca {
                Some(p) => load_roots(p)?,
                None => RootCertStore::empty(),
            };
            builder.with_root_certificates(roots)
        };
        let mut cfg = match &o.cert {
            Some((crt, key)) => builder
                .with_client_auth_cert(load_certs(crt)?, load_key(key)?)
                .map_err(|e| {
                    TlsError(format!(
                        "client certificate {} and key {}: {e}",
                        crt.display(),
                        key.display()
                    ))
                })?,
            None => builder.with_no_client_auth(),
        };
        cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
        let server_name = match &o.server_name {
            Some(n) if !n.is_empty() => Some(
                ServerName::try_from(n.clone())
                    .map_err(|e| TlsError(format!("domain_tls {n:?}: {e}")))?,
            ),
            _ => None,
        };
        Ok(ClientTls {
            config: Arc::new(cfg),
            server_name,
        })
    }

    /// The name a connection to `host` verifies: the fixed one, else `host` (an IP literal
    /// is checked against the certificate's IP addresses).
    pub fn name_for(&self, host: &str) -> io::Result<ServerName<'static>> {
        if let Some(n) = &self.server_name {
            return Ok(n.clone());
        }
        ServerName::try_from(host.to_owned())
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, format!("{host}: {e}")))
    }
}

/// The client TLS setting of this process (the node's for its peers, a tool's from its
/// environment), used by `https://` requests that bring none of their own.
static DEFAULT_CLIENT: RwLock<Option<ClientTls>> = RwLock::new(None);

pub fn set_default_client(c: ClientTls) {
    *DEFAULT_CLIENT.write().expect("tls client lock") = Some(c);
}

pub fn default_client() -> Option<ClientTls> {
    DEFAULT_CLIENT.read().expect("tls client lock").clone()
}

/// `skip_verify`: every server certificate is accepted; handshake signatures still verify
/// (the peer holds the key of the certificate it sent).
#[derive(Debug)]
struct NoVerify(Arc<CryptoProvider>);

impl ServerCertVerifier for NoVerify {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

// ---------------------------------------------------------------------------------------------
// The stream
// ---------------------------------------------------------------------------------------------

/// A TLS session's state without its socket: what moves between cores with the descriptor.
pub struct TlsState {
    pub conn: rustls::Connection,
    /// Ciphertext read from the socket and not yet given to rustls.
    pub pending: Vec<u8>,
}

/// A TLS session over a glommio `TcpStream`.
pub struct TlsStream {
    tcp: TcpStream,
    conn: rustls::Connection,
    /// Ciphertext read from the socket: `cbuf[cpos..cend]` not yet given to rustls.
    cbuf: Vec<u8>,
    cpos: usize,
    cend: usize,
    /// Records rustls produced, on their way to the socket.
    wbuf: Vec<u8>,
    eof: bool,
}

fn tls_err(e: rustls::Error) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, e)
}

/// Why a server-side handshake failed.
#[derive(Debug)]
pub enum AcceptError {
    /// The client spoke something else first (plain HTTP to an HTTPS port); the stream is
    /// returned so the server can answer in plain text before closing.
    NotTls(TcpStream),
    Io(io::Error),
}

impl TlsStream {
    fn new(tcp: TcpStream, mut conn: rustls::Connection) -> TlsStream {
        // Records of up to this much plaintext go out per socket write (rustls's default
        // of 64 KiB makes four times as many writes for a large GET).
        conn.set_buffer_limit(Some(TLS_WRITE_BUFFER_BYTES));
        TlsStream {
            tcp,
            conn,
            cbuf: vec![0; TLS_READ_BUFFER_BYTES],
            cpos: 0,
            cend: 0,
            wbuf: Vec::new(),
            eof: false,
        }
    }

    /// Server handshake on an accepted connection (the caller sets its deadline with the
    /// socket's read and write timeouts).
    pub async fn accept(tcp: TcpStream, cfg: Arc<ServerConfig>) -> Result<TlsStream, AcceptError> {
        let conn = rustls::ServerConnection::new(cfg).map_err(|e| AcceptError::Io(tls_err(e)))?;
        let mut s = TlsStream::new(tcp, conn.into());
        let n = s.tcp_read().await.map_err(AcceptError::Io)?;
        if n == 0 {
            return Err(AcceptError::Io(io::ErrorKind::UnexpectedEof.into()));
        }
        if s.cbuf[0] != TLS_HANDSHAKE_RECORD {
            return Err(AcceptError::NotTls(s.tcp));
        }
        s.handshake().await.map_err(AcceptError::Io)?;
        Ok(s)
    }

    /// Client handshake on a connected stream.
    pub async fn connect(tcp: TcpStream, tls: &ClientTls, host: &str) -> io::Result<TlsStream> {
        let name = tls.name_for(host)?;
        let conn = rustls::ClientConnection::new(tls.config.clone(), name).map_err(tls_err)?;
        let mut s = TlsStream::new(tcp, conn.into());
        s.handshake().await?;
        Ok(s)
    }

    async fn tcp_read(&mut self) -> io::Result<usize> {
        use futures_lite::AsyncReadExt;
        debug_assert_eq!(self.cpos, self.cend, "ciphertext left unread");
        let n = self.tcp.read(&mut self.cbuf).await?;
        self.cpos = 0;
        self.cend = n;
        if n == 0 {
            self.eof = true;
        }
        Ok(n)
    }

    /// Give rustls what we have read (or the end of the stream) and process it; alerts
    /// rustls wants to send on an error go out before the error is returned.
    async fn feed(&mut self) -> io::Result<()> {
        if self.cpos < self.cend {
            let used = self.conn.read_tls(&mut &self.cbuf[self.cpos..self.cend])?;
            self.cpos += used;
        } else if self.eof {
            self.conn.read_tls(&mut &[][..])?;
        }
        if let Err(e) = self.conn.process_new_packets() {
            let _ = self.flush().await;
            return Err(tls_err(e));
        }
        Ok(())
    }

    async fn flush(&mut self) -> io::Result<()> {
        use futures_lite::AsyncWriteExt;
        while self.conn.wants_write() {
            self.wbuf.clear();
            self.conn.write_tls(&mut self.wbuf)?;
            self.tcp.write_all(&self.wbuf).await?;
        }
        Ok(())
    }

    async fn handshake(&mut self) -> io::Result<()> {
        while self.conn.is_handshaking() {
            if self.conn.wants_write() {
                self.flush().await?;
                continue;
            }
            if self.cpos == self.cend {
                if self.eof {
                    return Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "peer closed during the TLS handshake",
                    ));
                }
                self.tcp_read().await?;
            }
            self.feed().await?;
        }
        self.flush().await
    }

    /// Decrypted bytes into `out`; 0 at the end of the stream.
    pub async fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        loop {
            match self.conn.reader().read(out) {
                Ok(n) => return Ok(n),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                // Closed without close_notify: the end, as on plain TCP (see the invariants).
                Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(0),
                Err(e) => return Err(e),
            }
            if self.cpos == self.cend {
                if self.eof {
                    return Ok(0);
                }
                self.tcp_read().await?;
            }
            self.feed().await?;
            if self.conn.wants_write() {
                self.flush().await?;
            }
        }
    }

    pub async fn write_all(&mut self, mut data: &[u8]) -> io::Result<()> {
        while !data.is_empty() {
            let n = self.conn.writer().write(data)?;
            if n == 0 && !self.conn.wants_write() {
                return Err(io::ErrorKind::WriteZero.into());
            }
            data = &data[n..];
            self.flush().await?;
        }
        Ok(())
    }

    /// Send `close_notify` and shut the socket down.
    pub async fn shutdown(mut self) {
        self.conn.send_close_notify();
        let _ = self.flush().await;
        let _ = self.tcp.shutdown(std::net::Shutdown::Both).await;
    }

    pub fn tcp(&self) -> &TcpStream {
        &self.tcp
    }

    /// The socket and the session (for a hand-off to another core).
    pub fn into_parts(self) -> (TcpStream, TlsState) {
        let pending = self.cbuf[self.cpos..self.cend].to_vec();
        (
            self.tcp,
            TlsState {
                conn: self.conn,
                pending,
            },
        )
    }

    /// Rebuild a session moved from another core.
    pub fn from_parts(tcp: TcpStream, st: TlsState) -> TlsStream {
        let mut s = TlsStream::new(tcp, st.conn);
        let n = st.pending.len();
        if n > s.cbuf.len() {
            s.cbuf.resize(n, 0);
        }
        s.cbuf[..n].copy_from_slice(&st.pending);
        s.cend = n;
        s
    }

    /// The certificate chain the peer presented (client certificates on a server).
    pub fn peer_certificates(&self) -> Option<&[CertificateDer<'static>]> {
        self.conn.peer_certificates()
    }
}

/// A connection's byte stream: plain TCP (no extra copy or allocation) or TLS.
pub enum Stream {
    Plain(TcpStream),
    Tls(Box<TlsStream>),
}

impl Stream {
    pub async fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        match self {
            Stream::Plain(s) => futures_lite::AsyncReadExt::read(s, out).await,
            Stream::Tls(t) => t.read(out).await,
        }
    }

    pub async fn write_all(&mut self, data: &[u8]) -> io::Result<()> {
        match self {
            Stream::Plain(s) => futures_lite::AsyncWriteExt::write_all(s, data).await,
            Stream::Tls(t) => t.write_all(data).await,
        }
    }

    pub fn tcp(&self) -> &TcpStream {
        match self {
            Stream::Plain(s) => s,
            Stream::Tls(t) => &t.tcp,
        }
    }

    pub fn is_tls(&self) -> bool {
        matches!(self, Stream::Tls(_))
    }

    pub fn set_read_timeout(&self, t: Option<Duration>) -> io::Result<()> {
        self.tcp().set_read_timeout(t).map_err(Into::into)
    }

    pub fn set_write_timeout(&self, t: Option<Duration>) -> io::Result<()> {
        self.tcp().set_write_timeout(t).map_err(Into::into)
    }

    pub fn set_nodelay(&self, on: bool) -> io::Result<()> {
        self.tcp().set_nodelay(on).map_err(Into::into)
    }

    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.tcp().peer_addr().map_err(Into::into)
    }

    pub async fn shutdown(self) {
        match self {
            Stream::Plain(s) => {
                let _ = s.shutdown(std::net::Shutdown::Both).await;
            }
            Stream::Tls(t) => t.shutdown().await,
        }
    }
}

/// `subject` and validity of a PEM certificate file's leaf, as `openssl x509` would show the
/// fields that matter when rotating (for `GET /v1/daemon?what=certificate`): decoded from the
/// DER without an X.509 library, so only what a rotation check needs.
pub fn cert_info(chain: &[CertificateDer<'_>]) -> Vec<(String, String)> {
    use sha2::Digest;
    let Some(leaf) = chain.first() else {
        return vec![];
    };
    let fp = sha2::Sha256::digest(leaf.as_ref());
    vec![
        (
            "sha256_fingerprint".into(),
            crate::hex::encode(fp.as_slice()),
        ),
        ("chain_length".into(), chain.len().to_string()),
    ]
}

#[cfg(test)]
mod tests;
