//! Reading what `kubectl port-forward` prints about the local ports it chose.

use std::net::SocketAddr;

/// Parses `Forwarding from 127.0.0.1:41234 -> 8080` into the local address and the pod port.
pub fn parse_forwarding_line(line: &str) -> Option<(SocketAddr, u16)> {
    let rest = line.trim().strip_prefix("Forwarding from ")?;
    let (local, remote) = rest.split_once(" -> ")?;
    Some((local.trim().parse().ok()?, remote.trim().parse().ok()?))
}

/// The IPv4 loopback address forwarded to `pod_port`, from kubectl's output so far.
pub fn forwarded_ipv4(output: &str, pod_port: u16) -> Option<SocketAddr> {
    output
        .lines()
        .filter_map(parse_forwarding_line)
        .find(|(local, port)| *port == pod_port && local.is_ipv4())
        .map(|(local, _)| local)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_ipv4_and_ipv6_lines() {
        let out = "Forwarding from 127.0.0.1:41234 -> 8080\nForwarding from [::1]:41234 -> 8080\n\
                   Forwarding from 127.0.0.1:40000 -> 9090\n";
        assert_eq!(
            forwarded_ipv4(out, 8080),
            Some("127.0.0.1:41234".parse().expect("addr"))
        );
        assert_eq!(
            forwarded_ipv4(out, 9090),
            Some("127.0.0.1:40000".parse().expect("addr"))
        );
        assert_eq!(forwarded_ipv4(out, 7070), None);
        assert_eq!(
            parse_forwarding_line("Forwarding from [::1]:41234 -> 8080").map(|(_, p)| p),
            Some(8080)
        );
        assert_eq!(parse_forwarding_line("Handling connection for 8080"), None);
    }
}
