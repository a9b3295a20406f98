//! Front ends: the thin I/O shells that carry a station device's stream API over a byte
//! stream, and the faults they can inject.
//!
//! One connection = one task that reads `ToRadio` frames (with the project's framer: garbage
//! between frames is ignored as the firmware does) and hands them to the simulation task, and
//! writes what the device gives it, rendered with [`Faults`]. Three kinds of stream:
//! in-process `tokio::io::duplex`, TCP on 127.0.0.1, and a pseudo-terminal whose slave is set
//! raw and kept open by the simulator (so the master never sees EIO), re-created after an
//! unplug at the same `--link` symlink.
//!
//! Dependencies go one way: [`sim`](crate::sim) starts front ends; a front end talks to the
//! simulation task only through the `cmd` inbox and knows nothing of `sim`.

use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::str::FromStr;
use std::task::{ready, Context, Poll};

use faro_proto::frame::{decode_as, frame_body, to_frame, FrameDecoder, Item};
use faro_proto::mesh::ToRadio;
use tokio::io::unix::AsyncFd;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::sync::mpsc;

use crate::cmd::{Cmd, Link};
use crate::device::{ConnId, ToClient};
use crate::world::{ConnOut, FrontKind};

/// Frames waiting for one connection's writer (the device's own queue is behind it).
pub const CONN_CHANNEL: usize = 8;

/// Faults a front end injects into what the device writes. A client with a correct framer
/// still gets every real frame.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Faults {
    /// Device log text between frames: the device's own log lines (serial links) and an extra
    /// line containing UTF-8 "—É" (`E2 80 94 C3 89`) before every third frame.
    pub log_text: bool,
    /// A stray header `94 C3 7F FF` (length over 512) before every fourth frame.
    pub stray_headers: bool,
    /// Every byte in its own write.
    pub one_byte: bool,
    /// An extra frame whose body is not a valid protobuf before every fifth frame.
    pub corrupt: bool,
}

impl Faults {
    /// No faults.
    pub fn none() -> Faults {
        Faults::default()
    }

    /// All faults at once.
    pub fn all() -> Faults {
        Faults {
            log_text: true,
            stray_headers: true,
            one_byte: true,
            corrupt: true,
        }
    }

    /// Adds the fault named `kind` (`log-text`, `stray-headers`, `one-byte`, `corrupt`, `all`).
    pub fn add(&mut self, kind: &str) -> Result<(), UnknownFault> {
        match kind {
            "log-text" => self.log_text = true,
            "stray-headers" => self.stray_headers = true,
            "one-byte" => self.one_byte = true,
            "corrupt" => self.corrupt = true,
            "all" => *self = Faults::all(),
            "none" => {}
            other => return Err(UnknownFault(other.to_string())),
        }
        Ok(())
    }
}

/// A fault name that is not one of ours.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown fault {0:?} (expected log-text, stray-headers, one-byte, corrupt, all)")]
pub struct UnknownFault(pub String);

impl FromStr for Faults {
    type Err = UnknownFault;

    /// One name or several separated by commas: `log-text,corrupt`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut f = Faults::default();
        for kind in s.split(',').map(str::trim).filter(|k| !k.is_empty()) {
            f.add(kind)?;
        }
        Ok(f)
    }
}

/// The corrupt body: a field with wire type 7 (invalid). It holds no `94 C3`, so a framer that
/// rescans after the false header finds the next real frame at once.
pub const CORRUPT_BODY: [u8; 5] = [0x0F, 0xC3, 0x94, 0x2A, 0x07];
/// The stray header: a length of 0x7FFF, far over 512.
pub const STRAY_HEADER: [u8; 4] = [0x94, 0xC3, 0x7F, 0xFF];
/// The injected log line (with "—É").
pub const FAULT_LOG_LINE: &str =
    "DEBUG | 00:00:00 1 [RadioIf] Lora RX (id=0x1a2b3c4d fr=0x5a5a0102 name=Patrulla —Él)\r\n";

/// Turns device output into bytes, with faults.
#[derive(Debug)]
pub struct Renderer {
    faults: Faults,
    frames: u64,
}

impl Renderer {
    /// A renderer for these faults.
    pub fn new(faults: Faults) -> Self {
        Renderer { faults, frames: 0 }
    }

    /// The bytes to write for one item.
    pub fn render(&mut self, item: &ToClient) -> Vec<u8> {
        match item {
            ToClient::Log(line) if self.faults.log_text => line.as_bytes().to_vec(),
            ToClient::Log(_) => Vec::new(),
            ToClient::Frame(m) => {
                let n = self.frames;
                self.frames += 1;
                let mut out = Vec::new();
                if self.faults.log_text && n % 3 == 1 {
                    out.extend_from_slice(FAULT_LOG_LINE.as_bytes());
                }
                if self.faults.stray_headers && n % 4 == 2 {
                    out.extend_from_slice(&STRAY_HEADER);
                }
                if self.faults.corrupt && n % 5 == 3 {
                    out.extend(frame_body(&CORRUPT_BODY).unwrap_or_default());
                }
                match to_frame(m) {
                    Ok(bytes) => out.extend(bytes),
                    Err(e) => tracing::error!(%e, "device frame too long; not sent"),
                }
                out
            }
        }
    }
}

/// Attaches a connection and serves it until either side closes it. Returns when done.
pub(crate) async fn serve<S>(
    stream: S,
    station: u32,
    conn: ConnId,
    kind: FrontKind,
    faults: Faults,
    link: Link,
) where
    S: AsyncRead + AsyncWrite + Send + 'static,
{
    let (out_tx, mut out_rx) = mpsc::channel(CONN_CHANNEL);
    if !link
        .send(Cmd::Attach {
            station,
            conn,
            kind,
            out: out_tx,
        })
        .await
    {
        return;
    }
    let (mut rd, mut wr) = tokio::io::split(stream);
    let reader = async {
        let mut dec = FrameDecoder::new();
        let mut buf = vec![0u8; 1024];
        loop {
            let n = match rd.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            dec.push(&buf[..n]);
            while let Some(item) = dec.next_item(decode_as::<ToRadio>) {
                match item {
                    Item::Frame(msg) => {
                        if !link.send(Cmd::ToRadio { conn, msg }).await {
                            return;
                        }
                    }
                    Item::Log(bytes) => {
                        if bytes.iter().any(|&b| b != 0xC3) {
                            tracing::trace!(
                                len = bytes.len(),
                                "ignoring non-frame bytes from client"
                            );
                        }
                    }
                }
            }
        }
        link.send(Cmd::Detached { conn }).await;
    };
    let writer = async {
        let mut renderer = Renderer::new(faults);
        while let Some(out) = out_rx.recv().await {
            link.wake.notify_one();
            let item = match out {
                ConnOut::Item(item) => item,
                ConnOut::Close => break,
            };
            let bytes = renderer.render(&item);
            let res = if faults.one_byte {
                write_one_byte(&mut wr, &bytes).await
            } else {
                wr.write_all(&bytes).await
            };
            if res.is_err() || wr.flush().await.is_err() {
                break;
            }
        }
        let _ = wr.shutdown().await;
    };
    tokio::select! {
        () = reader => {}
        () = writer => {}
    }
}

async fn write_one_byte<W: AsyncWrite + Unpin>(w: &mut W, bytes: &[u8]) -> io::Result<()> {
    for b in bytes {
        w.write_all(std::slice::from_ref(b)).await?;
        w.flush().await?;
    }
    Ok(())
}

// ---- PTY -----------------------------------------------------------------------------------

/// A terminal file descriptor (a PTY master, or a PTY slave opened by a test client) as a
/// tokio stream: non-blocking and readiness-driven. EIO (the other side is gone) reads as
/// end of stream.
#[derive(Debug)]
pub struct AsyncTty {
    fd: AsyncFd<OwnedFd>,
}

/// A freshly opened pseudo-terminal.
#[derive(Debug)]
pub struct Pty {
    /// Master, for the device side.
    pub master: AsyncTty,
    /// Slave, kept open by the simulator so the master never reads EIO.
    pub slave: OwnedFd,
    /// `/dev/pts/N`.
    pub path: PathBuf,
}

/// Opens a terminal device (e.g. a PTY slave path) for reading and writing, non-blocking,
/// without making it the controlling terminal. For test clients.
pub fn open_tty(path: &Path) -> io::Result<AsyncTty> {
    use std::os::unix::fs::OpenOptionsExt;
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags(nix::libc::O_NOCTTY | nix::libc::O_NONBLOCK)
        .open(path)?;
    AsyncTty::new(OwnedFd::from(file))
}

impl AsyncTty {
    /// Wraps a descriptor that is already non-blocking.
    pub fn new(fd: OwnedFd) -> io::Result<AsyncTty> {
        // `AsyncFd::new` is deprecated because a generic `T: AsRawFd` may change or close its
        // descriptor behind the reactor's back; an `OwnedFd` owns one descriptor for its whole
        // life and is closed only when the `AsyncFd` drops it, which is the condition
        // `register` asks for. The workspace forbids `unsafe`, so we use the safe constructor.
        #[allow(deprecated)]
        let fd = AsyncFd::new(fd)?;
        Ok(AsyncTty { fd })
    }
}

/// Opens a PTY with a raw slave and a non-blocking master.
pub fn open_pty() -> io::Result<Pty> {
    use nix::fcntl::{fcntl, FcntlArg, OFlag};
    use nix::sys::termios::{cfmakeraw, tcgetattr, tcsetattr, SetArg};
    let pty = nix::pty::openpty(None, None).map_err(io::Error::from)?;
    let mut t = tcgetattr(&pty.slave).map_err(io::Error::from)?;
    cfmakeraw(&mut t);
    tcsetattr(&pty.slave, SetArg::TCSANOW, &t).map_err(io::Error::from)?;
    let path = nix::unistd::ttyname(&pty.slave).map_err(io::Error::from)?;
    let flags = fcntl(&pty.master, FcntlArg::F_GETFL).map_err(io::Error::from)?;
    let flags = OFlag::from_bits_truncate(flags) | OFlag::O_NONBLOCK;
    fcntl(&pty.master, FcntlArg::F_SETFL(flags)).map_err(io::Error::from)?;
    Ok(Pty {
        master: AsyncTty::new(pty.master)?,
        slave: pty.slave,
        path,
    })
}

impl AsyncRead for AsyncTty {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        loop {
            let mut guard = ready!(self.fd.poll_read_ready(cx))?;
            let unfilled = buf.initialize_unfilled();
            match guard.try_io(|fd| {
                nix::unistd::read(fd.get_ref().as_fd(), unfilled).map_err(io::Error::from)
            }) {
                Ok(Ok(n)) => {
                    buf.advance(n);
                    return Poll::Ready(Ok(()));
                }
                // EIO: no slave open (cannot happen while we hold it): end of stream.
                Ok(Err(e)) if e.raw_os_error() == Some(nix::libc::EIO) => {
                    return Poll::Ready(Ok(()))
                }
                Ok(Err(e)) => return Poll::Ready(Err(e)),
                Err(_would_block) => continue,
            }
        }
    }
}

impl AsyncWrite for AsyncTty {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        loop {
            let mut guard = ready!(self.fd.poll_write_ready(cx))?;
            match guard
                .try_io(|fd| nix::unistd::write(fd.get_ref().as_fd(), buf).map_err(io::Error::from))
            {
                Ok(res) => return Poll::Ready(res),
                Err(_would_block) => continue,
            }
        }
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

/// Points `link` at `target`, replacing what was there (atomically, via rename).
pub fn point_link(link: &Path, target: &Path) -> io::Result<()> {
    let tmp = link.with_extension(format!("tmp{}", std::process::id()));
    let _ = std::fs::remove_file(&tmp);
    std::os::unix::fs::symlink(target, &tmp)?;
    std::fs::rename(&tmp, link)
}

/// Removes `link` if it is a symlink (never a regular file).
pub fn remove_link(link: &Path) {
    if std::fs::symlink_metadata(link).is_ok_and(|m| m.file_type().is_symlink()) {
        let _ = std::fs::remove_file(link);
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use faro_proto::mesh::{from_radio, FromRadio, Message};

    #[test]
    fn fault_names() {
        assert_eq!("".parse::<Faults>().unwrap(), Faults::none());
        let f: Faults = "log-text, corrupt".parse().unwrap();
        assert!(f.log_text && f.corrupt && !f.one_byte && !f.stray_headers);
        assert_eq!("all".parse::<Faults>().unwrap(), Faults::all());
        assert!("bogus".parse::<Faults>().is_err());
    }

    #[test]
    fn injected_garbage_is_what_it_claims() {
        assert!(FromRadio::decode(&CORRUPT_BODY[..]).is_err());
        assert!(FAULT_LOG_LINE
            .as_bytes()
            .windows(5)
            .any(|w| w == [0xE2, 0x80, 0x94, 0xC3, 0x89]));
    }

    #[test]
    fn every_real_frame_survives_all_faults() {
        let mut r = Renderer::new(Faults::all());
        let mut bytes = Vec::new();
        let frames: Vec<FromRadio> = (1..=40)
            .map(|i| FromRadio {
                id: i,
                payload_variant: Some(from_radio::PayloadVariant::ConfigCompleteId(i)),
            })
            .collect();
        for f in &frames {
            bytes.extend(r.render(&ToClient::Log("INFO | boot —É\r\n".into())));
            bytes.extend(r.render(&ToClient::Frame(f.clone())));
        }
        let mut dec = FrameDecoder::new();
        let mut got = Vec::new();
        for b in &bytes {
            dec.push(std::slice::from_ref(b));
            while let Some(item) = dec.next_item(decode_as::<FromRadio>) {
                if let Item::Frame(m) = item {
                    got.push(m);
                }
            }
        }
        assert_eq!(got, frames);
        assert!(dec.stats().malformed_bodies > 0 && dec.stats().oversize_headers > 0);
    }
}
