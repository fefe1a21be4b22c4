//! Layer 2: this node's TLS, built once at start from `net.http` of its start-up config:
//! which networks speak HTTPS (AIS's `use_https`, our per-network switches), the certificate
//! store every TLS listener shares (reloaded by `load-x509`), and the client settings the
//! node uses for its peers (installed as the process's default, so every `https://` call of
//! `net::client` and the object transfers use them).
//!
//! Peers are verified against `client_ca_tls` (the cluster's CA), or not at all with
//! `skip_verify`; with `client_auth_tls` > 0 the node shows its own certificate as the
//! client certificate, so intra-cluster calls pass a listener that requires one.

use crate::meta::config::HttpConf;
use net::tls::rustls::ServerConfig;
use net::tls::{self, CertStore, ClientAuth, ClientTls, ClientTlsOpts};
use std::path::PathBuf;
use std::sync::Arc;

/// The three networks of a node (AIS: public, intra-control, intra-data).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Network {
    Public = 0,
    Control = 1,
    Data = 2,
}

#[derive(Default)]
pub struct NodeTls {
    /// HTTPS on (public, intra-control, intra-data).
    pub https: [bool; 3],
    /// The node's certificate (when any network speaks HTTPS).
    pub store: Option<Arc<CertStore>>,
    /// The server config every TLS listener uses.
    pub server: Option<Arc<ServerConfig>>,
    /// The node's client settings for `https://` peers.
    pub client: Option<ClientTls>,
}

impl std::fmt::Debug for NodeTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "NodeTls(https: {:?})", self.https)
    }
}

impl NodeTls {
    /// From `net.http`; errors name the field or file.
    pub fn from_conf(h: &HttpConf) -> Result<NodeTls, String> {
        let https = h.https();
        if !https.iter().any(|b| *b) {
            return Ok(NodeTls {
                https,
                ..NodeTls::default()
            });
        }
        if h.server_crt.is_empty() || h.server_key.is_empty() {
            return Err(
                "net.http: HTTPS needs server_crt and server_key (PEM certificate and key files)"
                    .into(),
            );
        }
        if h.client_ca_tls.is_empty() && !h.skip_verify {
            return Err(
                "net.http: HTTPS needs client_ca_tls (the CA that signs the nodes' \
                        certificates, to verify peers) or skip_verify"
                    .into(),
            );
        }
        let auth = ClientAuth::from_ais(h.client_auth_tls).map_err(|e| format!("net.http.{e}"))?;
        let crt = PathBuf::from(&h.server_crt);
        let key = PathBuf::from(&h.server_key);
        let store = CertStore::load(&crt, &key).map_err(|e| format!("net.http: {e}"))?;
        let ca = (!h.client_ca_tls.is_empty()).then(|| PathBuf::from(&h.client_ca_tls));
        let server = tls::server_config(store.clone(), ca.as_deref(), auth)
            .map_err(|e| format!("net.http: {e}"))?;
        let client = ClientTls::new(&ClientTlsOpts {
            ca,
            skip_verify: h.skip_verify,
            cert: (auth != ClientAuth::None).then(|| (crt.clone(), key.clone())),
            server_name: (!h.domain_tls.is_empty()).then(|| h.domain_tls.clone()),
        })
        .map_err(|e| format!("net.http: {e}"))?;
        Ok(NodeTls {
            https,
            store: Some(store),
            server: Some(server),
            client: Some(client),
        })
    }

    /// The server config of a listener on `net`; `None`: plain HTTP.
    pub fn listener(&self, net: Network) -> Option<Arc<ServerConfig>> {
        if self.https[net as usize] {
            self.server.clone()
        } else {
            None
        }
    }

    /// `http` or `https` for URLs on `net`.
    pub fn scheme(&self, net: Network) -> &'static str {
        if self.https[net as usize] {
            "https"
        } else {
            "http"
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conf(v: serde_json::Value) -> HttpConf {
        serde_json::from_value(v).expect("an HttpConf")
    }

    #[test]
    fn plain_by_default_and_https_settings_that_cannot_work_are_refused_by_name() {
        let t = NodeTls::from_conf(&HttpConf::default()).unwrap();
        assert_eq!(t.https, [false; 3]);
        assert!(t.listener(Network::Public).is_none() && t.store.is_none());
        assert_eq!(t.scheme(Network::Data), "http");
        let cases = [
            (
                serde_json::json!({"use_https": true}),
                "server_crt and server_key",
            ),
            (
                serde_json::json!({"control_https": true, "server_crt": "/c", "server_key": "/k"}),
                "client_ca_tls",
            ),
            (
                serde_json::json!({"use_https": true, "server_crt": "/c", "server_key": "/k",
                                   "skip_verify": true, "client_auth_tls": 1}),
                "client_auth_tls 1",
            ),
            (
                serde_json::json!({"use_https": true, "server_crt": "/nonexistent.pem",
                                   "server_key": "/k", "skip_verify": true}),
                "/nonexistent.pem",
            ),
        ];
        for (v, want) in cases {
            let e = NodeTls::from_conf(&conf(v.clone())).unwrap_err();
            assert!(e.contains(want), "{v}: {e}");
        }
    }
}
