//! Property: however stream operations interleave — who opens, how data is cut, when each side
//! yields, how small the frames and buffers are — every stream delivers exactly its data, in
//! order, in both directions.

#![allow(clippy::expect_used, clippy::unwrap_used)]

mod common;

use bytes::Bytes;
use common::{headers, pattern};
use jitgate_spdy::{Connection, ConnectionConfig, Role, Stream};
use proptest::collection::vec;
use proptest::prelude::*;

/// One stream of the scenario.
#[derive(Debug, Clone)]
struct StreamPlan {
    /// The client opens it (else the server).
    client_opens: bool,
    /// Chunks the opener sends: (length, yields before sending).
    from_opener: Vec<(usize, u8)>,
    /// Chunks the other side sends.
    to_opener: Vec<(usize, u8)>,
    /// The accepting side, when it has nothing to send, finishes at once (else only after the
    /// opener's FIN, the other order of FINs).
    finish_at_once: bool,
}

fn chunks() -> impl Strategy<Value = Vec<(usize, u8)>> {
    vec((1usize..20_000, 0u8..4), 0..6)
}

fn plan() -> impl Strategy<Value = StreamPlan> {
    (any::<bool>(), chunks(), chunks(), any::<bool>()).prop_map(
        |(client_opens, from_opener, to_opener, finish_at_once)| StreamPlan {
            client_opens,
            from_opener,
            to_opener,
            finish_at_once,
        },
    )
}

/// The bytes chunk `n` of stream `stream` carries in direction `dir`.
fn chunk_data(stream: usize, dir: u8, n: usize, len: usize) -> Bytes {
    pattern(
        (stream as u8).wrapping_mul(16) ^ dir.wrapping_mul(7) ^ n as u8,
        len,
    )
}

fn expected(stream: usize, dir: u8, chunks: &[(usize, u8)]) -> Vec<u8> {
    chunks
        .iter()
        .enumerate()
        .flat_map(|(n, (len, _))| chunk_data(stream, dir, n, *len).to_vec())
        .collect()
}

/// Runs one side of one stream: the opener sends `from_opener` and reads `to_opener`, the other
/// side the reverse, each reading while it sends (as every Kubernetes stream user does: with
/// head-of-line blocking, a side that sends everything before it reads can stall the connection).
async fn run_side(
    stream: Stream,
    index: usize,
    plan: StreamPlan,
    opener: bool,
) -> (usize, bool, Vec<u8>) {
    let (mine, dir) = if opener {
        (plan.from_opener.clone(), 0)
    } else {
        (plan.to_opener.clone(), 1)
    };
    let delay_fin = !opener && !plan.finish_at_once && mine.is_empty();
    let (mut send, mut recv) = stream.into_split();
    let sender = async {
        for (n, (len, yields)) in mine.iter().enumerate() {
            for _ in 0..*yields {
                tokio::task::yield_now().await;
            }
            send.send(chunk_data(index, dir, n, *len))
                .await
                .expect("send");
        }
        if !delay_fin {
            send.finish().expect("finish");
        }
    };
    let reader = async {
        let mut out = Vec::new();
        while let Some(chunk) = recv.recv().await.expect("recv") {
            out.extend_from_slice(&chunk);
        }
        out
    };
    let ((), got) = tokio::join!(sender, reader);
    if delay_fin {
        send.finish().expect("finish");
    }
    (index, opener, got)
}

async fn scenario(plans: Vec<StreamPlan>, frame: usize, buffer: usize) {
    let config = ConnectionConfig {
        max_send_frame_len: frame,
        max_stream_buffer: buffer,
        max_queued_send_bytes: frame * 2,
        ..ConnectionConfig::default()
    };
    let (a, b) = tokio::io::duplex(8 * 1024);
    let client = Connection::new(a, Role::Client, config.clone()).expect("client");
    let server = Connection::new(b, Role::Server, config).expect("server");
    let mut tasks = Vec::new();
    let mut pending_accepts = (0, 0);
    for (index, plan) in plans.iter().enumerate() {
        let opener = if plan.client_opens { &client } else { &server };
        let stream = opener
            .open_stream(headers("plan", &index.to_string()), false)
            .expect("open");
        tasks.push(tokio::spawn(run_side(stream, index, plan.clone(), true)));
        if plan.client_opens {
            pending_accepts.0 += 1;
        } else {
            pending_accepts.1 += 1;
        }
    }
    for (acceptor, count) in [(&server, pending_accepts.0), (&client, pending_accepts.1)] {
        for _ in 0..count {
            let incoming = acceptor.accept().await.expect("a stream");
            let index: usize = incoming
                .headers()
                .get("plan")
                .and_then(|h| h.value_str())
                .and_then(|v| v.parse().ok())
                .expect("plan header");
            let stream = incoming.reply(headers("ok", "1"), false).expect("reply");
            tasks.push(tokio::spawn(run_side(
                stream,
                index,
                plans[index].clone(),
                false,
            )));
        }
    }
    let mut results = Vec::new();
    for task in tasks {
        results.push(task.await.expect("side"));
    }
    // Each stream appears twice: the opener's read (to_opener) and the other side's
    // (from_opener).
    let mut seen = vec![(false, false); plans.len()];
    for (index, opener, got) in results {
        let plan = &plans[index];
        let want = if opener {
            expected(index, 1, &plan.to_opener)
        } else {
            expected(index, 0, &plan.from_opener)
        };
        assert!(
            got == want,
            "stream {index}, {} side: got {} bytes, expected {}",
            if opener { "opening" } else { "accepting" },
            got.len(),
            want.len()
        );
        if opener {
            seen[index].0 = true;
        } else {
            seen[index].1 = true;
        }
    }
    assert!(
        seen.iter().all(|(a, b)| *a && *b),
        "both sides of every stream ran"
    );
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    #[test]
    fn every_stream_delivers_its_data_in_order(
        plans in vec(plan(), 1..6),
        frame in 1usize..9_000,
        buffer in 1usize..30_000,
    ) {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        runtime.block_on(async {
            tokio::time::timeout(std::time::Duration::from_secs(30), scenario(plans, frame, buffer))
                .await
                .expect("the scenario finishes");
        });
    }
}
