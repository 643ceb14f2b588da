//! OVO's calls over HTTP/1.1: one `POST` per connection (`Connection: close`), over TLS (rustls, the
//! webpki roots) for `https://` and plain TCP for `http://` (a simulator on loopback).
//!
//! Why not a general HTTP client: a push call is held open for up to 70 seconds, so thousands are open at
//! once, and a general client's per-connection state (hyper's 8 KiB read and write buffers and its
//! request channel, about 26 KiB a connection) made 10,000 open pushes cost 400 MB. This one keeps a
//! connection's socket, the request it wrote and a buffer sized to the answer read so far
//! (docs/decisions/0016-live-ovo.md). Responses are parsed with `httparse`; bodies may be sized by
//! `Content-Length`, chunked, or run to the end of the connection.

use std::sync::Arc;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::rustls::pki_types::ServerName;
use tokio_rustls::rustls::{ClientConfig, RootCertStore};
use tokio_rustls::TlsConnector;

/// The largest answer read; OVO's are a few hundred bytes.
const MAX_ANSWER: usize = 64 * 1024;

/// Where OVO's calls go.
pub struct Poster {
    host: String,
    port: u16,
    /// The `Host` header: the host, with the port when it is not the scheme's.
    authority: String,
    path: String,
    tls: Option<(TlsConnector, ServerName<'static>)>,
}

/// An answer: its HTTP status and body.
pub struct Answered {
    pub status: u16,
    pub body: Vec<u8>,
}

impl Poster {
    /// For an `http://` or `https://` URL.
    pub fn new(url: &str) -> Result<Poster, String> {
        let u = url::Url::parse(url).map_err(|e| format!("{url:?}: {e}"))?;
        let host = u.host_str().ok_or_else(|| format!("{url:?} names no host"))?.to_string();
        let port = u.port_or_known_default().ok_or_else(|| format!("{url:?} names no port"))?;
        let authority = match u.port() {
            Some(p) => format!("{host}:{p}"),
            None => host.clone(),
        };
        let mut path = u.path().to_string();
        if let Some(q) = u.query() {
            path = format!("{path}?{q}");
        }
        let tls = match u.scheme() {
            "https" => {
                let roots = RootCertStore { roots: webpki_roots::TLS_SERVER_ROOTS.to_vec() };
                let config = ClientConfig::builder().with_root_certificates(roots).with_no_client_auth();
                let name = ServerName::try_from(host.trim_matches(['[', ']']).to_string())
                    .map_err(|e| format!("{url:?}: {e}"))?;
                Some((TlsConnector::from(Arc::new(config)), name))
            }
            "http" => None,
            other => return Err(format!("{url:?}: {other} is not http or https")),
        };
        let host = host.trim_matches(['[', ']']).to_string();
        Ok(Poster { host, port, authority, path, tls })
    }

    /// Posts `body` (JSON) with `headers`, and reads the whole answer. Bounded by the caller's timeout.
    pub async fn post(&self, headers: &[(&str, &str)], body: &[u8]) -> Result<Answered, String> {
        let mut head = format!(
            "POST {} HTTP/1.1\r\nhost: {}\r\ncontent-type: application/json\r\naccept: application/json\r\ncontent-length: {}\r\nconnection: close\r\n",
            self.path,
            self.authority,
            body.len()
        );
        for (name, value) in headers {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
        head.push_str("\r\n");
        let tcp =
            TcpStream::connect((self.host.as_str(), self.port)).await.map_err(|e| format!("could not connect: {e}"))?;
        let _ = tcp.set_nodelay(true);
        match &self.tls {
            None => exchange(tcp, head.as_bytes(), body).await,
            Some((connector, name)) => {
                let stream =
                    connector.connect(name.clone(), tcp).await.map_err(|e| format!("TLS handshake failed: {e}"))?;
                exchange(stream, head.as_bytes(), body).await
            }
        }
    }
}

/// Writes the request and reads its answer.
async fn exchange<S: AsyncRead + AsyncWrite + Unpin>(mut s: S, head: &[u8], body: &[u8]) -> Result<Answered, String> {
    s.write_all(head).await.map_err(|e| format!("could not send: {e}"))?;
    s.write_all(body).await.map_err(|e| format!("could not send: {e}"))?;
    s.flush().await.map_err(|e| format!("could not send: {e}"))?;
    let mut buf: Vec<u8> = Vec::with_capacity(1024);
    // The head.
    let (status, framing, start) = loop {
        if read_more(&mut s, &mut buf).await? == 0 {
            return Err("the connection closed before an answer".into());
        }
        let mut headers = [httparse::EMPTY_HEADER; 96];
        let mut res = httparse::Response::new(&mut headers);
        match res.parse(&buf).map_err(|e| format!("not an HTTP answer: {e}"))? {
            httparse::Status::Partial => continue,
            httparse::Status::Complete(n) => {
                let status = res.code.unwrap_or(0);
                let header = |name: &str| {
                    res.headers
                        .iter()
                        .find(|h| h.name.eq_ignore_ascii_case(name))
                        .map(|h| String::from_utf8_lossy(h.value).trim().to_ascii_lowercase())
                };
                let framing = if header("transfer-encoding").is_some_and(|v| v.contains("chunked")) {
                    Framing::Chunked
                } else if let Some(len) = header("content-length") {
                    Framing::Length(len.parse().map_err(|_| format!("a bad content-length: {len}"))?)
                } else {
                    Framing::ToEnd
                };
                break (status, framing, n);
            }
        }
    };
    buf.drain(..start);
    let body = match framing {
        Framing::Length(len) => {
            if len > MAX_ANSWER {
                return Err(format!("an answer of {len} bytes"));
            }
            while buf.len() < len {
                if read_more(&mut s, &mut buf).await? == 0 {
                    return Err("the connection closed in the middle of the answer".into());
                }
            }
            buf.truncate(len);
            buf
        }
        Framing::ToEnd => {
            // To the end of the connection; a TLS peer that closes without close_notify ends it too.
            loop {
                match read_more(&mut s, &mut buf).await {
                    Ok(0) => break,
                    Ok(_) => {}
                    Err(e) if e.contains("unexpected end of file") || e.contains("close_notify") => break,
                    Err(e) => return Err(e),
                }
            }
            buf
        }
        Framing::Chunked => dechunk(&mut s, buf).await?,
    };
    Ok(Answered { status, body })
}

enum Framing {
    Length(usize),
    Chunked,
    ToEnd,
}

/// Reads what is there into `buf`; 0 at the end of the connection.
async fn read_more<S: AsyncRead + Unpin>(s: &mut S, buf: &mut Vec<u8>) -> Result<usize, String> {
    if buf.len() >= MAX_ANSWER {
        return Err("an answer too large".into());
    }
    buf.reserve(1024);
    s.read_buf(buf).await.map_err(|e| format!("the connection failed: {e}"))
}

/// A chunked body, from what was read after the head (`buf`) and what follows.
async fn dechunk<S: AsyncRead + Unpin>(s: &mut S, mut buf: Vec<u8>) -> Result<Vec<u8>, String> {
    let mut body = Vec::new();
    loop {
        // A size line.
        let line_end = loop {
            if let Some(i) = buf.windows(2).position(|w| w == b"\r\n") {
                break i;
            }
            if read_more(s, &mut buf).await? == 0 {
                return Err("the connection closed in the middle of the answer".into());
            }
        };
        let line = String::from_utf8_lossy(&buf[..line_end]).to_string();
        let size_text = line.split(';').next().unwrap_or("").trim();
        let size = usize::from_str_radix(size_text, 16).map_err(|_| format!("a bad chunk size: {line:?}"))?;
        buf.drain(..line_end + 2);
        if size == 0 {
            return Ok(body);
        }
        if size > MAX_ANSWER || body.len() + size > MAX_ANSWER {
            return Err("an answer too large".into());
        }
        while buf.len() < size + 2 {
            if read_more(s, &mut buf).await? == 0 {
                return Err("the connection closed in the middle of the answer".into());
            }
        }
        body.extend_from_slice(&buf[..size]);
        buf.drain(..size + 2);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn answer_of(raw: &'static [u8]) -> Result<Answered, String> {
        let (client, mut server) = tokio::io::duplex(4096);
        tokio::spawn(async move {
            let mut request = vec![0u8; 1024];
            let _ = server.read(&mut request).await;
            for piece in raw.chunks(7) {
                let _ = server.write_all(piece).await;
            }
        });
        exchange(client, b"POST / HTTP/1.1\r\n\r\n", b"{}").await
    }

    #[tokio::test]
    async fn answers_are_read_however_they_are_framed() {
        let a = answer_of(b"HTTP/1.1 200 OK\r\nContent-Length: 17\r\n\r\n{\"responseCode\":1}").await.unwrap();
        assert_eq!((a.status, a.body.as_slice()), (200, &b"{\"responseCode\":1"[..]));
        let a = answer_of(b"HTTP/1.1 500 Internal Server Error\r\ntransfer-encoding: chunked\r\n\r\n4\r\n{\"a\"\r\n3;x=y\r\n:1}\r\n0\r\n\r\n")
            .await
            .unwrap();
        assert_eq!((a.status, a.body.as_slice()), (500, &b"{\"a\":1}"[..]));
        let a = answer_of(b"HTTP/1.1 401 Unauthorized\r\n\r\n{\"x\":2}").await.unwrap();
        assert_eq!((a.status, a.body.as_slice()), (401, &b"{\"x\":2}"[..]));
    }

    #[tokio::test]
    async fn a_cut_answer_is_an_error() {
        assert!(answer_of(b"HTTP/1.1 200 OK\r\nContent-Length: 50\r\n\r\n{\"short\"").await.is_err());
        assert!(answer_of(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n1\r\n{").await.is_err());
        assert!(answer_of(b"HTTP/1.1 20").await.is_err());
        assert!(answer_of(b"").await.is_err());
    }

    #[test]
    fn urls_give_host_port_and_path() {
        let p = Poster::new("http://127.0.0.1:8070/pos").unwrap();
        assert_eq!(
            (p.host.as_str(), p.port, p.authority.as_str(), p.path.as_str()),
            ("127.0.0.1", 8070, "127.0.0.1:8070", "/pos")
        );
        assert!(p.tls.is_none());
        let p = Poster::new("https://apigw.ovo.id/pos").unwrap();
        assert_eq!((p.host.as_str(), p.port, p.authority.as_str()), ("apigw.ovo.id", 443, "apigw.ovo.id"));
        assert!(p.tls.is_some());
        assert!(Poster::new("ftp://x/pos").is_err());
    }
}
