//! Legs over SPDY/3.1 remotecommand streams (`v4.channel.k8s.io`): as the server towards kubectl
//! (≤ 1.29, or with `KUBECTL_REMOTE_COMMAND_WEBSOCKETS=false`) and as the client towards the
//! apiserver when it refuses WebSocket.
//!
//! One SPDY stream per standard stream, named by its `streamtype` header: the client opens
//! `error`, then `stdin`, `stdout`, `stderr` (not with a TTY) and `resize` (with a TTY) as the
//! request's `stdin`/`stdout`/`stderr`/`tty` parameters ask, and the server accepts each. The
//! end of stdin is its FIN; the server writes the exit `Status` on `error`, then ends every
//! stream and the connection (`k8s.io/cri-streaming/pkg/streaming/remotecommand`).

use std::time::Duration;

use bytes::{Bytes, BytesMut};
use jitgate_spdy::{Connection, HeaderBlock, RecvStream, SendStream};
use jitgate_wire::remotecommand::{Protocol, ResizeDecoder, StreamType};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::mpsc;

use crate::leg::{LEG_QUEUE, Leg};
use crate::{ExecFrame, SessionError};

/// How long the client may take to open its streams (the kubelet's default is 30 s).
pub const STREAM_CREATION_TIMEOUT: Duration = Duration::from_secs(30);

/// The largest exit `Status` accepted on the error stream.
pub const MAX_STATUS_LEN: usize = 64 * 1024;

/// Which streams a request asks for, from its `stdin`, `stdout`, `stderr` and `tty` parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct StreamSet {
    /// `stdin=true`.
    pub stdin: bool,
    /// `stdout=true`.
    pub stdout: bool,
    /// `stderr=true` (ignored with a TTY, which merges it into stdout).
    pub stderr: bool,
    /// `tty=true`: adds the resize stream.
    pub tty: bool,
}

impl StreamSet {
    /// The streams, in the order client-go opens them.
    pub fn streams(self) -> Vec<StreamType> {
        let mut out = vec![StreamType::Error];
        if self.stdin {
            out.push(StreamType::Stdin);
        }
        if self.stdout {
            out.push(StreamType::Stdout);
        }
        if self.stderr && !self.tty {
            out.push(StreamType::Stderr);
        }
        if self.tty {
            out.push(StreamType::Resize);
        }
        out
    }
}

/// The server side towards kubectl, after `101` with `protocol`: accepts the streams `set`
/// names and turns them into frames.
///
/// # Errors
/// The connection fails, or the streams do not all arrive within
/// [`STREAM_CREATION_TIMEOUT`].
pub async fn server_leg<T>(io: T, protocol: Protocol, set: StreamSet) -> Result<Leg, SessionError>
where
    T: AsyncRead + AsyncWrite + Send + Unpin + 'static,
{
    let conn = Connection::server(io).map_err(SessionError::Spdy)?;
    let mut wanted = set.streams();
    let mut writers: Vec<(StreamType, SendStream)> = Vec::new();
    let mut readers: Vec<(StreamType, RecvStream)> = Vec::new();
    let accepted = tokio::time::timeout(STREAM_CREATION_TIMEOUT, async {
        while !wanted.is_empty() {
            let Some(incoming) = conn.accept().await else {
                return Err(SessionError::StreamsMissing {
                    missing: names(&wanted),
                    secs: 0,
                });
            };
            let kind = match StreamType::from_headers(incoming.headers(), protocol) {
                Ok(k) if wanted.contains(&k) => k,
                Ok(_) | Err(_) => {
                    incoming.refuse(jitgate_spdy::RstStatus::REFUSED_STREAM);
                    continue;
                }
            };
            wanted.retain(|w| *w != kind);
            let stream = incoming
                .reply(HeaderBlock::new(), false)
                .map_err(SessionError::Spdy)?;
            let (send, recv) = stream.into_split();
            match kind {
                StreamType::Stdin | StreamType::Resize => readers.push((kind, recv)),
                _ => writers.push((kind, send)),
            }
        }
        Ok(())
    })
    .await;
    match accepted {
        Ok(Ok(())) => {}
        Ok(Err(e)) => return Err(e),
        Err(_) => {
            return Err(SessionError::StreamsMissing {
                missing: names(&wanted),
                secs: STREAM_CREATION_TIMEOUT.as_secs(),
            });
        }
    }
    // kubectl's side is over when its connection is, not when its streams are: a session
    // without stdin has nothing to read from kubectl at all.
    Ok(spawn_leg(conn, readers, writers, true))
}

/// The client side towards the apiserver, after its `101` with `protocol`: opens the streams
/// `set` names, as client-go does, and waits for each reply.
///
/// # Errors
/// The connection fails or refuses a stream.
pub async fn client_leg<T>(io: T, protocol: Protocol, set: StreamSet) -> Result<Leg, SessionError>
where
    T: AsyncRead + AsyncWrite + Send + Unpin + 'static,
{
    let conn = Connection::client(io).map_err(SessionError::Spdy)?;
    let mut writers: Vec<(StreamType, SendStream)> = Vec::new();
    let mut readers: Vec<(StreamType, RecvStream)> = Vec::new();
    for kind in set.streams() {
        let stream = conn
            .open_stream(kind.to_headers(), false)
            .map_err(SessionError::Spdy)?;
        stream.wait_reply().await.map_err(SessionError::Spdy)?;
        let (send, recv) = stream.into_split();
        match kind {
            StreamType::Stdin | StreamType::Resize => writers.push((kind, send)),
            _ => readers.push((kind, recv)),
        }
    }
    let _ = protocol;
    // The container's side is over once stdout, stderr and the error stream have ended.
    Ok(spawn_leg(conn, readers, writers, false))
}

fn names(streams: &[StreamType]) -> String {
    streams
        .iter()
        .map(|s| s.name())
        .collect::<Vec<_>>()
        .join(", ")
}

/// Reader: one task per readable stream, all feeding the leg's incoming channel, which closes
/// when every one has ended. Writer: frames to their streams; at the end every written stream
/// is finished and the connection closed gracefully.
fn spawn_leg(
    conn: Connection,
    readers: Vec<(StreamType, RecvStream)>,
    writers: Vec<(StreamType, SendStream)>,
    until_connection_ends: bool,
) -> Leg {
    let (in_tx, in_rx) = mpsc::channel::<ExecFrame>(LEG_QUEUE);
    let (out_tx, mut out_rx) = mpsc::channel::<ExecFrame>(LEG_QUEUE);
    let conn = std::sync::Arc::new(conn);

    let reader_conn = conn.clone();
    let reader = tokio::spawn(async move {
        let mut tasks = Vec::new();
        for (kind, recv) in readers {
            tasks.push(tokio::spawn(read_stream(kind, recv, in_tx.clone())));
        }
        // Holding a sender keeps the channel open until the connection ends, where asked.
        let keep_open = until_connection_ends.then_some(in_tx);
        let mut first_error = None;
        for t in tasks {
            if let Ok(Err(e)) = t.await
                && first_error.is_none()
            {
                first_error = Some(e);
            }
        }
        if keep_open.is_some()
            && first_error.is_none()
            && let Err(e) = reader_conn.closed().await
        {
            return Err(SessionError::Spdy(e));
        }
        drop(keep_open);
        first_error.map_or(Ok(()), Err)
    });

    let writer_conn = conn.clone();
    let writer = tokio::spawn(async move {
        let mut writers = writers;
        let mut result = Ok(());
        while let Some(frame) = out_rx.recv().await {
            let (kind, payload, fin) = match frame {
                ExecFrame::Data(kind, payload) => (kind, payload, false),
                ExecFrame::Error(payload) => (StreamType::Error, payload, true),
                ExecFrame::Resize(size) => {
                    (StreamType::Resize, Bytes::from(size.to_json_line()), false)
                }
                ExecFrame::Close(kind) => (kind, Bytes::new(), true),
            };
            let Some((_, stream)) = writers.iter_mut().find(|(k, _)| *k == kind) else {
                // A stream this session does not have (stderr with a TTY): nothing to write to.
                continue;
            };
            if !payload.is_empty()
                && let Err(e) = stream.send(payload).await
            {
                result = Err(SessionError::Spdy(e));
                break;
            }
            if fin && stream.is_open() {
                let _ = stream.finish();
            }
        }
        for (_, stream) in &mut writers {
            if stream.is_open() {
                let _ = stream.finish();
            }
        }
        writer_conn.close();
        // Give the peer the time to read what was written; the leg's grace bounds it.
        let _ = writer_conn.closed().await;
        result
    });
    Leg::new("SPDY/3.1 v4.channel.k8s.io", in_rx, out_tx, reader, writer)
}

async fn read_stream(
    kind: StreamType,
    mut recv: RecvStream,
    to: mpsc::Sender<ExecFrame>,
) -> Result<(), SessionError> {
    let mut resize = ResizeDecoder::new();
    let mut status = BytesMut::new();
    loop {
        let chunk = match recv.recv().await {
            Ok(Some(chunk)) => chunk,
            Ok(None) => break,
            // The peer reset the stream (the kubelet resets every stream after the exit status):
            // that is its end.
            Err(e) if e.is_reset_by_peer() => break,
            Err(e) => return Err(SessionError::Spdy(e)),
        };
        let frames = match kind {
            StreamType::Resize => resize
                .push(&chunk)
                .map_err(SessionError::Protocol)?
                .into_iter()
                .map(ExecFrame::Resize)
                .collect(),
            StreamType::Error => {
                if status.len() + chunk.len() > MAX_STATUS_LEN {
                    return Err(SessionError::Protocol(
                        jitgate_wire::StreamError::MessageTooLarge {
                            len: status.len() + chunk.len(),
                            max: MAX_STATUS_LEN,
                        },
                    ));
                }
                status.extend_from_slice(&chunk);
                Vec::new()
            }
            data => vec![ExecFrame::Data(data, chunk)],
        };
        for frame in frames {
            if to.send(frame).await.is_err() {
                return Ok(());
            }
        }
    }
    let last = match kind {
        // The whole status, once the stream ends.
        StreamType::Error if !status.is_empty() => Some(ExecFrame::Error(status.freeze())),
        StreamType::Stdin => Some(ExecFrame::Close(StreamType::Stdin)),
        _ => None,
    };
    if let Some(frame) = last {
        let _ = to.send(frame).await;
    }
    Ok(())
}
