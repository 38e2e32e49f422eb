//! The HTTPS client for sinks: [`jitgate_outbound`]'s (rustls with ring, the bundled Mozilla
//! roots or a sink's own CA bundle, HTTP/1.1, pooled).

use std::time::Duration;

use crate::NotifyError;

/// The pooled client type.
pub(crate) use jitgate_outbound::HttpClient;

/// Builds the client for one sink. With `ca_pem`, only its certificates are trusted; without,
/// the Mozilla root program's roots compiled into the binary. The connector would speak plain
/// http to any host, but sink URLs are checked when the sink is made: http only to loopback.
pub(crate) fn build(
    sink: &str,
    ca_pem: Option<&[u8]>,
    connect_timeout: Duration,
) -> Result<HttpClient, NotifyError> {
    jitgate_outbound::build(ca_pem, connect_timeout).map_err(|e| match e {
        jitgate_outbound::BuildError::CaBundle { problem } => NotifyError::CaBundle {
            sink: sink.to_owned(),
            problem,
        },
        jitgate_outbound::BuildError::Tls { source } => NotifyError::Tls { source },
    })
}
