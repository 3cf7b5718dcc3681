//! Docker's iptables rules for the default bridge network of one host, as
//! the Docker daemon installs them: the shape of Docker 26.1
//! (libnetwork/drivers/bridge/setup_ip_tables_linux.go and
//! port_mapping_linux.go; the rules are listed for each case in moby's
//! integration/network/bridge/iptablesdoc/generated/*.md — this is the
//! default-bridge subset of usernet-portmap.md before v28 moved the
//! forward rules behind the `docker-ext-bridges-v4` ipset).
//!
//! FORWARD's policy is DROP: what the daemon sets when it enables
//! ip_forward itself, the state that breaks Kubernetes pod traffic on
//! nodes where Docker was installed.

use std::fmt::Write;
use std::net::Ipv4Addr;

use ipnet::Ipv4Net;

/// One published port: host port → container address and port (TCP).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Published {
    pub host_port: u16,
    pub container: Ipv4Addr,
    pub port: u16,
}

/// `iptables-save` text of a host whose docker0 holds `subnet`'s gateway.
pub fn iptables_save(subnet: Ipv4Net, published: &[Published]) -> String {
    let mut s = String::new();
    nat(&mut s, subnet, published);
    filter(&mut s, published);
    s
}

fn nat(s: &mut String, subnet: Ipv4Net, published: &[Published]) {
    s.push_str("*nat\n:PREROUTING ACCEPT [0:0]\n:INPUT ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n:POSTROUTING ACCEPT [0:0]\n:DOCKER - [0:0]\n");
    s.push_str("-A PREROUTING -m addrtype --dst-type LOCAL -j DOCKER\n");
    s.push_str("-A OUTPUT ! -d 127.0.0.0/8 -m addrtype --dst-type LOCAL -j DOCKER\n");
    let _ = writeln!(s, "-A POSTROUTING -s {subnet} ! -o docker0 -j MASQUERADE");
    for p in published {
        let (c, port) = (p.container, p.port);
        let _ = writeln!(
            s,
            "-A POSTROUTING -s {c}/32 -d {c}/32 -p tcp -m tcp --dport {port} -j MASQUERADE"
        );
    }
    s.push_str("-A DOCKER -i docker0 -j RETURN\n");
    for p in published {
        let _ = writeln!(
            s,
            "-A DOCKER ! -i docker0 -p tcp -m tcp --dport {} -j DNAT --to-destination {}:{}",
            p.host_port, p.container, p.port
        );
    }
    s.push_str("COMMIT\n");
}

fn filter(s: &mut String, published: &[Published]) {
    s.push_str("*filter\n:INPUT ACCEPT [0:0]\n:FORWARD DROP [0:0]\n:OUTPUT ACCEPT [0:0]\n:DOCKER - [0:0]\n:DOCKER-ISOLATION-STAGE-1 - [0:0]\n:DOCKER-ISOLATION-STAGE-2 - [0:0]\n:DOCKER-USER - [0:0]\n");
    s.push_str("-A FORWARD -j DOCKER-USER\n-A FORWARD -j DOCKER-ISOLATION-STAGE-1\n");
    s.push_str("-A FORWARD -o docker0 -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT\n");
    s.push_str("-A FORWARD -o docker0 -j DOCKER\n");
    s.push_str("-A FORWARD -i docker0 ! -o docker0 -j ACCEPT\n-A FORWARD -i docker0 -o docker0 -j ACCEPT\n");
    for p in published {
        let _ = writeln!(
            s,
            "-A DOCKER -d {}/32 ! -i docker0 -o docker0 -p tcp -m tcp --dport {} -j ACCEPT",
            p.container, p.port
        );
    }
    s.push_str("-A DOCKER-ISOLATION-STAGE-1 -i docker0 ! -o docker0 -j DOCKER-ISOLATION-STAGE-2\n");
    s.push_str("-A DOCKER-ISOLATION-STAGE-1 -j RETURN\n");
    s.push_str(
        "-A DOCKER-ISOLATION-STAGE-2 -o docker0 -j DROP\n-A DOCKER-ISOLATION-STAGE-2 -j RETURN\n",
    );
    s.push_str("-A DOCKER-USER -j RETURN\nCOMMIT\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn publishes_and_masquerades_as_the_daemon_does() {
        let p = Published {
            host_port: 8080,
            container: Ipv4Addr::new(172, 17, 1, 2),
            port: 8080,
        };
        let text = iptables_save("172.17.1.0/24".parse().unwrap(), &[p]);
        for line in [
            "-A POSTROUTING -s 172.17.1.0/24 ! -o docker0 -j MASQUERADE",
            "-A DOCKER ! -i docker0 -p tcp -m tcp --dport 8080 -j DNAT --to-destination 172.17.1.2:8080",
            "-A DOCKER -d 172.17.1.2/32 ! -i docker0 -o docker0 -p tcp -m tcp --dport 8080 -j ACCEPT",
            ":FORWARD DROP [0:0]",
        ] {
            assert!(text.contains(line), "{line}\n{text}");
        }
    }
}
