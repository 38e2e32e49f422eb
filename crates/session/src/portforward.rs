//! Port-forward sessions: kubectl's forwarded TCP connections re-originated to the apiserver one
//! by one, so the gateway can check every port, count every byte, and end every connection
//! with a message when access ends (`k8s.io/cri-streaming/pkg/streaming/portforward`).
//!
//! Each forwarded connection is a pair of SPDY streams with the same `requestid`: `error`
//! (server to client: why the connection failed) and `data` (the bytes, both ways; FIN is the
//! end of one direction). The client leg is SPDY (`portforward.k8s.io`), plain or tunnelled in
//! WebSocket binary messages (`SPDY/3.1+portforward.k8s.io`, kubectl ≥ 1.31); the upstream leg
//! is one SPDY connection to the apiserver, carrying one stream pair per client connection
//! with a request id of the gateway's own.

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use jitgate_spdy::{
    Connection, HeaderBlock, IncomingStream, RecvStream, RstStatus, SendStream, Stream,
};
use jitgate_wire::portforward::{PortForwardStream, StreamType};
use tokio::sync::watch;
use tokio::task::JoinSet;

use crate::CutReason;

/// How long a connection's first stream may wait for its partner (the kubelet allows 30 s).
pub const PAIR_TIMEOUT: Duration = Duration::from_secs(30);

/// How long a cut session stays open after telling its connections why, so kubectl prints it.
pub const CUT_LINGER: Duration = Duration::from_millis(300);

/// Most forwarded connections open at once in one session.
pub const MAX_CONNECTIONS: usize = 64;

/// Which ports a session may forward to.
pub trait PortCheck: Send + Sync {
    /// `Ok` to forward to `port`, or the message for the user.
    fn check(&self, port: u16) -> Result<(), String>;
}

/// Any port (the profile does not restrict ports).
#[derive(Debug, Default, Clone, Copy)]
pub struct AnyPort;

impl PortCheck for AnyPort {
    fn check(&self, _port: u16) -> Result<(), String> {
        Ok(())
    }
}

/// What a port-forward session amounted to.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PortForwardSummary {
    /// Bytes from kubectl to the pod.
    pub bytes_from_client: u64,
    /// Bytes from the pod to kubectl.
    pub bytes_to_client: u64,
    /// Forwarded connections opened.
    pub connections: u64,
    /// Connections refused (port not allowed, upstream failure).
    pub refused: u64,
    /// Ports used, sorted.
    pub ports: Vec<u16>,
    /// Why it was cut, if it was.
    pub cut: Option<CutReason>,
}

#[derive(Debug, Default)]
struct Counters {
    from_client: AtomicU64,
    to_client: AtomicU64,
}

/// Half of a connection waiting for its partner.
struct Waiting {
    port: u16,
    error: Option<Stream>,
    data: Option<Stream>,
    since: tokio::time::Instant,
}

/// Runs a port-forward session between kubectl's SPDY connection and the gateway's SPDY
/// connection to the apiserver until kubectl closes it, the apiserver goes away, or `cut`
/// resolves: then every open connection gets the reason on its error stream (kubectl prints
/// it) and both connections are closed.
pub async fn run<C>(
    client: Connection,
    upstream: Connection,
    ports: Arc<dyn PortCheck>,
    cut: C,
) -> PortForwardSummary
where
    C: Future<Output = CutReason>,
{
    tokio::pin!(cut);
    let upstream = Arc::new(upstream);
    let counters = Arc::new(Counters::default());
    let (cut_tx, cut_rx) = watch::channel::<Option<CutReason>>(None);
    let mut waiting: HashMap<String, Waiting> = HashMap::new();
    let mut tasks: JoinSet<()> = JoinSet::new();
    let mut summary = PortForwardSummary::default();
    let mut next_id: u64 = 0;
    let mut sweep = tokio::time::interval(Duration::from_secs(1));
    loop {
        tokio::select! {
            reason = &mut cut => {
                let _ = cut_tx.send(Some(reason.clone()));
                summary.cut = Some(reason);
                break;
            }
            incoming = client.accept() => {
                let Some(incoming) = incoming else { break };
                let Some((key, pf, stream)) = accept(incoming) else { continue };
                let entry = waiting.entry(key.clone()).or_insert_with(|| Waiting {
                    port: pf.port,
                    error: None,
                    data: None,
                    since: tokio::time::Instant::now(),
                });
                if entry.port != pf.port {
                    // Two halves naming different ports: refuse both.
                    if let Some(mut w) = waiting.remove(&key) {
                        reset(&mut w);
                    }
                    let (mut s, _) = stream.into_split();
                    s.reset(RstStatus::PROTOCOL_ERROR);
                    continue;
                }
                match pf.stream_type {
                    StreamType::Error => entry.error = Some(stream),
                    StreamType::Data => entry.data = Some(stream),
                }
                if entry.error.is_some() && entry.data.is_some() {
                    let Some(w) = waiting.remove(&key) else { continue };
                    let (Some(error), Some(data)) = (w.error, w.data) else { continue };
                    if tasks.len() >= MAX_CONNECTIONS {
                        summary.refused += 1;
                        refuse(error, data, &format!(
                            "jitgate allows at most {MAX_CONNECTIONS} forwarded connections at once per session"
                        )).await;
                        continue;
                    }
                    if let Err(why) = ports.check(w.port) {
                        summary.refused += 1;
                        refuse(error, data, &why).await;
                        continue;
                    }
                    summary.connections += 1;
                    if !summary.ports.contains(&w.port) {
                        summary.ports.push(w.port);
                    }
                    next_id += 1;
                    tasks.spawn(forward(
                        upstream.clone(),
                        w.port,
                        next_id.to_string(),
                        error,
                        data,
                        counters.clone(),
                        cut_rx.clone(),
                    ));
                }
            }
            Some(_) = tasks.join_next(), if !tasks.is_empty() => {}
            _ = sweep.tick() => {
                // Halves whose partner never came are dropped (reset), as the kubelet does.
                let now = tokio::time::Instant::now();
                let stale: Vec<String> = waiting
                    .iter()
                    .filter(|(_, w)| now.duration_since(w.since) > PAIR_TIMEOUT)
                    .map(|(k, _)| k.clone())
                    .collect();
                for k in stale {
                    if let Some(mut w) = waiting.remove(&k) {
                        reset(&mut w);
                    }
                }
            }
            _ = upstream.closed() => break,
        }
    }
    // Connections still open learn why (on a cut), then end; give them a moment to write it.
    if summary.cut.is_none() {
        let _ = cut_tx.send(Some(CutReason {
            kind: "ended",
            message: "the port-forward session ended".into(),
        }));
    }
    let open_at_cut = !tasks.is_empty();
    let drain = async { while tasks.join_next().await.is_some() {} };
    if tokio::time::timeout(Duration::from_secs(2), drain)
        .await
        .is_err()
    {
        tasks.abort_all();
    }
    if summary.cut.is_some() && open_at_cut {
        // kubectl reads each connection's error message on its own goroutine while another
        // watches the connection: closing at once can end the process before it prints why.
        tokio::time::sleep(CUT_LINGER).await;
    }
    for (_, mut w) in waiting.drain() {
        reset(&mut w);
    }
    client.close();
    upstream.close();
    let _ = tokio::time::timeout(Duration::from_secs(2), async {
        let _ = client.closed().await;
    })
    .await;
    summary.ports.sort_unstable();
    summary.bytes_from_client = counters.from_client.load(Ordering::Relaxed);
    summary.bytes_to_client = counters.to_client.load(Ordering::Relaxed);
    summary
}

/// Replies to a client stream, keyed by its request id (or, for clients that send none, its
/// stream id as the kubelet pairs them: data = error + 2).
fn accept(incoming: IncomingStream) -> Option<(String, PortForwardStream, Stream)> {
    let Ok(pf) = PortForwardStream::from_headers(incoming.headers()) else {
        incoming.refuse(RstStatus::PROTOCOL_ERROR);
        return None;
    };
    let key = match &pf.request_id {
        Some(id) => id.clone(),
        None => {
            let id = incoming.id().get();
            let error_id = match pf.stream_type {
                StreamType::Error => id,
                StreamType::Data => id.saturating_sub(2),
            };
            format!("stream-{error_id}")
        }
    };
    let stream = incoming.reply(HeaderBlock::new(), false).ok()?;
    Some((key, pf, stream))
}

fn reset(w: &mut Waiting) {
    for s in [w.error.take(), w.data.take()].into_iter().flatten() {
        let (mut send, _) = s.into_split();
        send.reset(RstStatus::CANCEL);
    }
}

/// Tells kubectl why a connection is not forwarded (on its error stream) and ends it.
async fn refuse(error: Stream, data: Stream, why: &str) {
    let (mut error_send, _) = error.into_split();
    let _ = error_send.send(Bytes::from(why.to_owned())).await;
    let _ = error_send.finish();
    let (mut data_send, _) = data.into_split();
    let _ = data_send.finish();
}

/// One forwarded connection: an upstream stream pair for it, then bytes both ways until both
/// directions end, the upstream reports an error, or the session is cut.
async fn forward(
    upstream: Arc<Connection>,
    port: u16,
    request_id: String,
    client_error: Stream,
    client_data: Stream,
    counters: Arc<Counters>,
    mut cut: watch::Receiver<Option<CutReason>>,
) {
    let (mut client_error_send, _) = client_error.into_split();
    let (mut client_data_send, mut client_data_recv) = client_data.into_split();
    let open = |stream_type| {
        let headers = PortForwardStream {
            stream_type,
            port,
            request_id: Some(request_id.clone()),
        }
        .to_headers();
        upstream.open_stream(headers, false)
    };
    let opened = async {
        let error = open(StreamType::Error)?;
        error.wait_reply().await?;
        let data = open(StreamType::Data)?;
        data.wait_reply().await?;
        Ok::<_, jitgate_spdy::Error>((error, data))
    };
    let (up_error, up_data) = match opened.await {
        Ok(pair) => pair,
        Err(e) => {
            let _ = client_error_send
                .send(Bytes::from(format!(
                    "jitgate could not forward port {port} upstream: {e}"
                )))
                .await;
            let _ = client_error_send.finish();
            client_data_send.reset(RstStatus::CANCEL);
            return;
        }
    };
    let (mut up_error_send, mut up_error_recv) = up_error.into_split();
    // The gateway writes nothing on the upstream error stream.
    let _ = up_error_send.finish();
    let (mut up_data_send, mut up_data_recv) = up_data.into_split();

    let to_pod = async {
        loop {
            match client_data_recv.recv().await {
                Ok(Some(chunk)) => {
                    counters
                        .from_client
                        .fetch_add(chunk.len() as u64, Ordering::Relaxed);
                    if up_data_send.send(chunk).await.is_err() {
                        return;
                    }
                }
                Ok(None) => {
                    let _ = up_data_send.finish();
                    return;
                }
                Err(_) => {
                    up_data_send.reset(RstStatus::CANCEL);
                    return;
                }
            }
        }
    };
    let to_client = async {
        loop {
            match up_data_recv.recv().await {
                Ok(Some(chunk)) => {
                    counters
                        .to_client
                        .fetch_add(chunk.len() as u64, Ordering::Relaxed);
                    if client_data_send.send(chunk).await.is_err() {
                        return;
                    }
                }
                Ok(None) => {
                    let _ = client_data_send.finish();
                    return;
                }
                Err(_) => {
                    client_data_send.reset(RstStatus::CANCEL);
                    return;
                }
            }
        }
    };
    // What the kubelet says about this connection (e.g. nothing listens on the port) goes to
    // kubectl as it is.
    let errors = async {
        let mut said = Vec::new();
        while let Ok(Some(chunk)) = up_error_recv.recv().await {
            if said.len() < 64 * 1024 {
                said.extend_from_slice(&chunk);
            }
        }
        said
    };
    let ended_by = {
        let both = async { tokio::join!(to_pod, to_client) };
        tokio::pin!(both);
        tokio::pin!(errors);
        let mut upstream_error: Option<Vec<u8>> = None;
        // A connection opened after its session was cut (shutdown began) ends at once.
        if cut.borrow().is_some() {
            cut.mark_changed();
        }
        loop {
            tokio::select! {
                _ = &mut both => break None,
                said = &mut errors, if upstream_error.is_none() => {
                    if said.is_empty() {
                        upstream_error = Some(said);
                    } else {
                        break Some(String::from_utf8_lossy(&said).into_owned());
                    }
                }
                changed = cut.changed() => {
                    let reason = match changed {
                        Ok(()) => cut.borrow().clone(),
                        Err(_) => None,
                    };
                    if let Some(reason) = reason {
                        break Some(reason.message);
                    }
                }
            }
        }
    };
    if let Some(message) = ended_by {
        let _ = client_error_send.send(Bytes::from(message)).await;
        let _ = client_error_send.finish();
        // FIN, not a reset: kubectl prints the error stream's message once its copy of the
        // data stream has ended cleanly.
        if client_data_send.is_open() {
            let _ = client_data_send.finish();
        }
        up_data_send.reset(RstStatus::CANCEL);
    } else {
        let _ = client_error_send.finish();
    }
}

/// A [`SendStream`] and [`RecvStream`] pair, re-exported for the gateway's tests.
pub type StreamHalves = (SendStream, RecvStream);

/// Runs the plain WebSocket form of port-forward (`?ports=…`, `v4.channel.k8s.io` or its base64
/// variant; what browsers and older clients use; kubectl tunnels SPDY instead): one
/// connection per listed port, on channel `2i` (data, both ways) and `2i+1` (errors, to the
/// client), each starting with the port in two bytes (little-endian) as the kubelet writes it.
/// Each port is one upstream stream pair on the gateway's SPDY connection. The session ends
/// when every port's connection has ended, when the client closes the WebSocket, or at `cut`
/// (every port's error channel then says why).
pub async fn run_channels<S, C>(
    io: S,
    protocol: jitgate_wire::channel::ChannelProtocol,
    ports: jitgate_wire::portforward::WebSocketPorts,
    upstream: Connection,
    check: Arc<dyn PortCheck>,
    cut: C,
) -> PortForwardSummary
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
    C: Future<Output = CutReason>,
{
    use futures_util::{SinkExt as _, StreamExt as _};
    use jitgate_wire::channel::{ChannelCodec, ChannelMessage, MessageKind};
    use tokio_tungstenite::WebSocketStream;
    use tokio_tungstenite::tungstenite::Message;
    use tokio_tungstenite::tungstenite::protocol::Role;

    tokio::pin!(cut);
    let counters = Arc::new(Counters::default());
    let mut summary = PortForwardSummary::default();
    let codec = ChannelCodec::new(protocol);
    let ws = WebSocketStream::from_raw_socket(io, Role::Server, None).await;
    let (mut sink, mut source) = ws.split();
    let (out_tx, mut out_rx) = tokio::sync::mpsc::channel::<(u8, Bytes)>(crate::leg::LEG_QUEUE);
    let writer = tokio::spawn(async move {
        while let Some((channel, payload)) = out_rx.recv().await {
            let Ok(bytes) = codec.encode(&ChannelMessage::Data { channel, payload }) else {
                continue;
            };
            let message = match codec.protocol().message_kind() {
                MessageKind::Binary => Message::Binary(bytes),
                MessageKind::Text => match String::from_utf8(bytes.to_vec()) {
                    Ok(text) => Message::text(text),
                    Err(_) => continue,
                },
            };
            if sink.send(message).await.is_err() {
                return;
            }
        }
        let _ = sink.send(Message::Close(None)).await;
        let _ = sink.close().await;
    });

    // Every port: its prefixes, its upstream pair, and a task copying the pod's side back.
    let upstream = Arc::new(upstream);
    let mut to_pod: Vec<Option<SendStream>> = Vec::new();
    let mut tasks: JoinSet<()> = JoinSet::new();
    let mut error_channels = Vec::new();
    for (index, &port) in ports.ports().iter().enumerate() {
        let (Some(data_ch), Some(error_ch)) =
            (ports.data_channel(index), ports.error_channel(index))
        else {
            to_pod.push(None);
            continue;
        };
        error_channels.push(error_ch);
        let prefix = Bytes::copy_from_slice(&jitgate_wire::portforward::port_prefix(port));
        let _ = out_tx.send((data_ch, prefix.clone())).await;
        let _ = out_tx.send((error_ch, prefix)).await;
        if let Err(why) = check.check(port) {
            summary.refused += 1;
            let _ = out_tx.send((error_ch, Bytes::from(why))).await;
            to_pod.push(None);
            continue;
        }
        let open = |stream_type| {
            upstream.open_stream(
                PortForwardStream {
                    stream_type,
                    port,
                    request_id: Some(index.to_string()),
                }
                .to_headers(),
                false,
            )
        };
        let opened = async {
            let error = open(StreamType::Error)?;
            error.wait_reply().await?;
            let data = open(StreamType::Data)?;
            data.wait_reply().await?;
            Ok::<_, jitgate_spdy::Error>((error, data))
        };
        match opened.await {
            Ok((error, data)) => {
                summary.connections += 1;
                if !summary.ports.contains(&port) {
                    summary.ports.push(port);
                }
                let (mut error_send, mut error_recv) = error.into_split();
                let _ = error_send.finish();
                let (data_send, mut data_recv) = data.into_split();
                to_pod.push(Some(data_send));
                let out = out_tx.clone();
                let counters = counters.clone();
                tasks.spawn(async move {
                    let copy = async {
                        while let Ok(Some(chunk)) = data_recv.recv().await {
                            counters
                                .to_client
                                .fetch_add(chunk.len() as u64, Ordering::Relaxed);
                            if out.send((data_ch, chunk)).await.is_err() {
                                return;
                            }
                        }
                    };
                    let errors = async {
                        let mut said = Vec::new();
                        while let Ok(Some(chunk)) = error_recv.recv().await {
                            if said.len() < 64 * 1024 {
                                said.extend_from_slice(&chunk);
                            }
                        }
                        said
                    };
                    let (_, said) = tokio::join!(copy, errors);
                    if !said.is_empty() {
                        let _ = out.send((error_ch, Bytes::from(said))).await;
                    }
                });
            }
            Err(e) => {
                summary.refused += 1;
                let _ = out_tx
                    .send((
                        error_ch,
                        Bytes::from(format!(
                            "jitgate could not forward port {port} upstream: {e}"
                        )),
                    ))
                    .await;
                to_pod.push(None);
            }
        }
    }
    summary.ports.sort_unstable();

    // The client's data, to the pods' ports, until the client leaves, every port is done, or
    // the cut.
    let mut any_open = !tasks.is_empty();
    while any_open {
        tokio::select! {
            reason = &mut cut => {
                for &ch in &error_channels {
                    let _ = out_tx.send((ch, Bytes::from(reason.message.clone()))).await;
                }
                summary.cut = Some(reason);
                break;
            }
            message = source.next() => {
                let payload = match message {
                    Some(Ok(Message::Binary(b))) => b,
                    Some(Ok(Message::Text(t))) => Bytes::copy_from_slice(t.as_bytes()),
                    Some(Ok(Message::Ping(_) | Message::Pong(_) | Message::Frame(_))) => continue,
                    Some(Ok(Message::Close(_)) | Err(_)) | None => break,
                };
                let Ok(Some(ChannelMessage::Data { channel, payload })) = codec.decode(&payload) else {
                    // An empty message carries nothing; anything malformed ends the session.
                    if payload.is_empty() { continue; }
                    break;
                };
                let Some(pc) = ports.channel(channel) else { break };
                if pc.stream_type != StreamType::Data {
                    // Clients write data channels only.
                    break;
                }
                if let Some(Some(send)) = to_pod.get_mut(pc.index) {
                    counters.from_client.fetch_add(payload.len() as u64, Ordering::Relaxed);
                    if send.send(payload).await.is_err() {
                        to_pod[pc.index] = None;
                    }
                }
            }
            done = tasks.join_next() => {
                if done.is_none() || tasks.is_empty() {
                    any_open = false;
                }
            }
        }
    }
    for send in to_pod.iter_mut().flatten() {
        if summary.cut.is_some() {
            send.reset(RstStatus::CANCEL);
        } else {
            let _ = send.finish();
        }
    }
    if summary.cut.is_some() {
        tokio::time::sleep(CUT_LINGER).await;
    }
    tasks.abort_all();
    drop(out_tx);
    let _ = tokio::time::timeout(Duration::from_secs(2), writer).await;
    upstream.close();
    summary.bytes_from_client = counters.from_client.load(Ordering::Relaxed);
    summary.bytes_to_client = counters.to_client.load(Ordering::Relaxed);
    summary
}
