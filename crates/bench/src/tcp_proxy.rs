//! A plain TCP forwarder: the cost of one more hop on the way to the apiserver, with no TLS, HTTP
//! or audit work. It puts a floor under what any gateway in that position can reach on this
//! machine (docs/benchmarks.md: `l4-proxy`).

use std::net::SocketAddr;

use tokio::net::{TcpListener, TcpStream};

/// Forwards every connection accepted on `listen` to `to`, byte for byte, until killed. Prints
/// `listening on ADDR` once bound.
pub async fn run(listen: SocketAddr, to: SocketAddr) -> anyhow::Result<()> {
    let listener = TcpListener::bind(listen).await?;
    println!("listening on {}", listener.local_addr()?);
    loop {
        let (mut client, _) = listener.accept().await?;
        tokio::spawn(async move {
            let _ = client.set_nodelay(true);
            let Ok(mut server) = TcpStream::connect(to).await else {
                return;
            };
            let _ = server.set_nodelay(true);
            let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
        });
    }
}
