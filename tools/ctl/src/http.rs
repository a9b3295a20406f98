//! A small blocking HTTP/1.1 client for farod's control socket: one request per connection
//! (`Connection: close`), bodies by `Content-Length`, chunked transfer or end of stream, and
//! line-by-line reading for the event stream. Every read and write has a timeout.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The header naming the operator on writes.
pub const OPERATOR_HEADER: &str = "X-Faro-Operator";
/// Longest header block accepted from farod.
const MAX_HEAD: usize = 16 * 1024;

/// Why a request did not get a successful answer.
#[derive(Debug)]
pub enum Error {
    /// Nothing to talk to at the socket (or not allowed to).
    Unreachable { socket: PathBuf, source: io::Error },
    /// farod answered with an error: its one-line reason.
    Refused { reason: String },
    /// farod stopped answering or closed the connection early.
    Io(io::Error),
    /// The answer was not HTTP as expected.
    Protocol(String),
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Error::Unreachable { socket, source }
                if source.kind() == io::ErrorKind::PermissionDenied =>
            {
                write!(
                    f,
                    "cannot connect to {}: permission denied; is this user in the faro-desk group?",
                    socket.display()
                )
            }
            Error::Unreachable { socket, source } => {
                write!(
                    f,
                    "cannot connect: {source}; is farod running? (socket {})",
                    socket.display()
                )
            }
            // farod's reason may quote what someone typed or the air carried.
            Error::Refused { reason, .. } => f.write_str(&crate::render::clean(reason)),
            Error::Io(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                f.write_str("farod did not answer in time")
            }
            Error::Io(e) => write!(f, "connection to farod failed: {e}"),
            Error::Protocol(m) => write!(
                f,
                "unexpected answer from farod: {}",
                crate::render::clean(m)
            ),
        }
    }
}

impl From<io::Error> for Error {
    fn from(e: io::Error) -> Self {
        Error::Io(e)
    }
}

/// An answer's status line and headers; the body is read from [`Answer::body`].
pub struct Answer {
    /// HTTP status.
    pub status: u16,
    headers: Vec<(String, String)>,
    /// The body, de-chunked.
    pub body: Box<dyn BufRead + Send>,
}

impl Answer {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The whole body.
    pub fn read_all(mut self) -> Result<Vec<u8>, Error> {
        let mut out = Vec::new();
        self.body.read_to_end(&mut out)?;
        Ok(out)
    }
}

/// Talks to farod at one socket.
#[derive(Debug, Clone)]
pub struct Client {
    socket: PathBuf,
    /// Longest wait for any single read or write.
    pub timeout: Duration,
}

impl Client {
    /// A client for `socket`.
    pub fn new(socket: &Path) -> Client {
        Client {
            socket: socket.to_path_buf(),
            timeout: Duration::from_secs(30),
        }
    }

    /// Sends a request and reads the status line and headers. Error statuses come back as
    /// [`Error::Refused`] with farod's reason.
    pub fn request(
        &self,
        method: &str,
        path: &str,
        operator: Option<&str>,
        body: Option<&[u8]>,
    ) -> Result<Answer, Error> {
        let mut stream =
            UnixStream::connect(&self.socket).map_err(|source| Error::Unreachable {
                socket: self.socket.clone(),
                source,
            })?;
        stream.set_read_timeout(Some(self.timeout))?;
        stream.set_write_timeout(Some(self.timeout))?;
        let mut req = format!(
            "{method} {path} HTTP/1.1\r\nHost: farod\r\nUser-Agent: faroctl/{}\r\nAccept: application/json\r\nConnection: close\r\n",
            env!("CARGO_PKG_VERSION")
        )
        .into_bytes();
        if let Some(who) = operator {
            // Names may be UTF-8 ("Inés"): sent as raw bytes, which HTTP allows in values.
            req.extend_from_slice(format!("{OPERATOR_HEADER}: {who}\r\n").as_bytes());
        }
        if let Some(b) = body {
            req.extend_from_slice(
                format!(
                    "Content-Type: application/json\r\nContent-Length: {}\r\n",
                    b.len()
                )
                .as_bytes(),
            );
        }
        req.extend_from_slice(b"\r\n");
        req.extend_from_slice(body.unwrap_or_default());
        stream.write_all(&req)?;
        let answer = read_head(BufReader::new(stream))?;
        if (200..300).contains(&answer.status) {
            return Ok(answer);
        }
        let status = answer.status;
        let body = answer.read_all()?;
        let reason = serde_json::from_slice::<serde_json::Value>(&body)
            .ok()
            .and_then(|v| v.get("error").and_then(|e| e.as_str()).map(str::to_string))
            .unwrap_or_else(|| format!("farod answered HTTP {status}"));
        Err(Error::Refused { reason })
    }
}

fn read_head(mut r: BufReader<UnixStream>) -> Result<Answer, Error> {
    let mut lines = Vec::new();
    let mut total = 0;
    loop {
        let mut line = Vec::new();
        let n = r
            .by_ref()
            .take((MAX_HEAD - total + 1) as u64)
            .read_until(b'\n', &mut line)?;
        total += n;
        if n == 0 {
            return Err(Error::Protocol(
                "the connection closed before an answer".into(),
            ));
        }
        if total > MAX_HEAD {
            return Err(Error::Protocol("header block too long".into()));
        }
        let line = String::from_utf8_lossy(&line)
            .trim_end_matches(['\r', '\n'])
            .to_string();
        if line.is_empty() {
            break;
        }
        lines.push(line);
    }
    let mut it = lines.into_iter();
    let status_line = it.next().unwrap_or_default();
    let status = status_line
        .strip_prefix("HTTP/1.")
        .and_then(|rest| rest.split(' ').nth(1))
        .and_then(|s| s.parse::<u16>().ok())
        .ok_or_else(|| Error::Protocol(format!("bad status line {status_line:?}")))?;
    let headers: Vec<(String, String)> = it
        .filter_map(|l| {
            l.split_once(':')
                .map(|(n, v)| (n.trim().to_string(), v.trim().to_string()))
        })
        .collect();
    let mut answer = Answer {
        status,
        headers,
        body: Box::new(io::empty()),
    };
    let chunked = answer
        .header("transfer-encoding")
        .is_some_and(|v| v.eq_ignore_ascii_case("chunked"));
    answer.body = if chunked {
        Box::new(BufReader::new(Chunked {
            inner: r,
            left: 0,
            done: false,
        }))
    } else if let Some(len) = answer.header("content-length") {
        let len: u64 = len
            .parse()
            .map_err(|_| Error::Protocol(format!("bad Content-Length {len:?}")))?;
        Box::new(r.take(len))
    } else {
        Box::new(r)
    };
    Ok(answer)
}

/// The data of a chunked body.
struct Chunked<R> {
    inner: R,
    left: usize,
    done: bool,
}

impl<R: BufRead> Chunked<R> {
    fn line(&mut self) -> io::Result<String> {
        let mut line = String::new();
        if self.inner.by_ref().take(1024).read_line(&mut line)? == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "farod closed the stream mid-answer",
            ));
        }
        Ok(line)
    }
}

impl<R: BufRead> Read for Chunked<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.left == 0 {
            if self.done || buf.is_empty() {
                return Ok(0);
            }
            let size = self.line()?;
            let size = size.split(';').next().unwrap_or("").trim();
            self.left = usize::from_str_radix(size, 16).map_err(|_| {
                io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("bad chunk size {size:?}"),
                )
            })?;
            if self.left == 0 {
                // Trailers, then the blank line that ends the body.
                while !self.line()?.trim().is_empty() {}
                self.done = true;
            }
        }
        let n = self
            .inner
            .by_ref()
            .take(self.left.min(buf.len()) as u64)
            .read(buf)?;
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "farod closed the stream mid-chunk",
            ));
        }
        self.left -= n;
        if self.left == 0 {
            self.line()?; // the CRLF after the chunk's data
        }
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunked_bodies_are_joined() {
        let raw = b"5\r\nhello\r\n7;ext=1\r\n, world\r\n0\r\nX-Trailer: 1\r\n\r\n";
        let mut out = String::new();
        Chunked {
            inner: &raw[..],
            left: 0,
            done: false,
        }
        .read_to_string(&mut out)
        .expect("read");
        assert_eq!(out, "hello, world");
        let cut = b"5\r\nhel";
        let err = Chunked {
            inner: &cut[..],
            left: 0,
            done: false,
        }
        .read_to_string(&mut String::new());
        assert_eq!(err.map_err(|e| e.kind()), Err(io::ErrorKind::UnexpectedEof));
    }
}
