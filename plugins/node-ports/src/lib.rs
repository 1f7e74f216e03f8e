//! NodePorts, as upstream: a pod's host ports must be free on the node. A
//! port conflicts with one in use of the same protocol and number on the
//! same IP, and `0.0.0.0` on either side conflicts with every IP.

use wasm_scheduler_sdk::prelude::*;
use wasm_scheduler_sdk::types::HostPort;

/// Upstream's `ErrReason`.
pub const REASON: &str = "node(s) didn't have free ports for the requested pod ports";

/// The plugin; it has no configuration.
pub struct NodePorts;

const ANY_IP: &str = "0.0.0.0";

fn normalized(p: &HostPort) -> (&str, &str, u16) {
    let ip = if p.ip.is_empty() {
        ANY_IP
    } else {
        p.ip.as_str()
    };
    let protocol = if p.protocol.is_empty() {
        "TCP"
    } else {
        p.protocol.as_str()
    };
    (ip, protocol, p.port)
}

/// Upstream's `HostPortInfo.CheckConflict`.
pub fn conflicts(wanted: &HostPort, used: &[HostPort]) -> bool {
    let (ip, protocol, port) = normalized(wanted);
    used.iter().map(normalized).any(|(uip, uproto, uport)| {
        uproto == protocol && uport == port && (ip == ANY_IP || uip == ANY_IP || uip == ip)
    })
}

impl Plugin for NodePorts {
    const NAME: &'static str = "NodePorts";
    const EXTENSION_POINTS: ExtensionPoints = ExtensionPoints::FILTER;
    type Config = ();

    fn init(_: ()) -> Result<Self, String> {
        Ok(NodePorts)
    }

    fn filter(&self, pod: &Pod, node: &NodeInfo) -> Status {
        if pod
            .host_ports
            .iter()
            .any(|p| conflicts(p, &node.usage.host_ports))
        {
            Status::unschedulable(REASON)
        } else {
            Status::success()
        }
    }
}

export_plugin!(NodePorts);

#[cfg(test)]
mod tests {
    use super::*;

    fn port(ip: &str, protocol: &str, port: u16) -> HostPort {
        HostPort {
            ip: ip.into(),
            protocol: protocol.into(),
            port,
        }
    }

    #[test]
    fn any_ip_conflicts_with_every_ip() {
        let used = [port("127.0.0.1", "TCP", 8080)];
        assert!(conflicts(&port("0.0.0.0", "TCP", 8080), &used));
        assert!(!conflicts(&port("127.0.0.2", "TCP", 8080), &used));
        assert!(!conflicts(&port("127.0.0.1", "UDP", 8080), &used));
        assert!(conflicts(
            &port("127.0.0.2", "UDP", 53),
            &[port("0.0.0.0", "UDP", 53)]
        ));
    }
}
