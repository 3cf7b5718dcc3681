//! Collectors: the only crate that touches files, sockets, netlink and the Kubernetes API.
