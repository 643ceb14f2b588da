//! Speaking to a running Kasir through its API, for the commands that do (`listen`, `trigger`,
//! `export`, and the API commands): where the server is, which key to use, and the calls, made with
//! `kasir-client` (so the CLI retries a POST with the same `Idempotency-Key` as any SDK user would).

use std::path::PathBuf;

/// Where Kasir's API is and which key to use: every client command takes these two.
#[derive(clap::Args, Debug, Clone)]
pub struct Connection {
    /// The Kasir server.
    #[arg(long, global = true, env = "KASIR_API_URL", default_value = "http://127.0.0.1:8080")]
    pub api_url: String,
    /// A file holding `ak_…:sk_…`; without it, the key comes from KASIR_API_KEY (never a flag, which
    /// `ps` would show).
    #[arg(long, global = true)]
    pub api_key_file: Option<PathBuf>,
}

/// An API key pair, as `ak_…:sk_…`.
#[derive(Clone)]
pub struct ApiKey {
    pub access: String,
    secret: String,
}

impl ApiKey {
    pub(crate) fn parse(text: &str, from: &str) -> Result<ApiKey, String> {
        let (access, secret) = text
            .trim()
            .split_once(':')
            .filter(|(a, s)| a.starts_with("ak_") && s.starts_with("sk_"))
            .ok_or_else(|| format!("{from} must hold an API key pair as ak_…:sk_…"))?;
        Ok(ApiKey { access: access.to_string(), secret: secret.to_string() })
    }

    pub fn is_live(&self) -> bool {
        self.access.starts_with("ak_live_")
    }

    /// The SDK, on this key, for the server at `base`.
    pub fn client(&self, base: &str) -> kasir_client::Client {
        kasir_client::Client::new(base, &self.access, &self.secret)
    }
}

impl Connection {
    pub fn key(&self) -> Result<ApiKey, String> {
        match &self.api_key_file {
            Some(path) => {
                let text =
                    std::fs::read_to_string(path).map_err(|e| format!("--api-key-file {}: {e}", path.display()))?;
                ApiKey::parse(&text, &format!("--api-key-file {}", path.display()))
            }
            None => {
                let text = std::env::var("KASIR_API_KEY")
                    .map_err(|_| "give the API key in KASIR_API_KEY=ak_…:sk_… or --api-key-file PATH".to_string())?;
                ApiKey::parse(&text, "KASIR_API_KEY")
            }
        }
    }

    pub fn base(&self) -> String {
        self.api_url.trim_end_matches('/').to_string()
    }
}
