//! `cnictl_formats::frame::decode_frame` on frames recorded from namespace labs
//! with tcpdump (and hand-made IPIP ones): see tests/data/pcap/README.md.

use std::net::IpAddr;
use std::path::Path;

use cnictl_collect::probe::{check_wire, WireExpect};
use cnictl_formats::frame::{decode_frame, Decoded, Encap};

/// The single frame of a recorded pcap, decoded with its link type.
fn decode(file: &str) -> (i32, Decoded) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/pcap")
        .join(file);
    let mut cap = pcap::Capture::from_file(&path).expect("recorded pcap opens");
    let linktype = cap.get_datalink().0;
    let frame = cap.next_packet().expect("one frame").data.to_vec();
    (
        linktype,
        decode_frame(linktype, &frame).expect("frame decodes"),
    )
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

#[test]
fn vxlan_on_the_underlay_has_outer_vni_and_inner() {
    let (lt, d) = decode("vxlan-underlay-eth0.pcap");
    assert_eq!(lt, 1);
    assert_eq!(
        (d.src, d.dst, d.proto),
        (ip("192.0.2.11"), ip("192.0.2.12"), 17)
    );
    assert_eq!(d.encap, Some(Encap::Vxlan { vni: 1, port: 8472 }));
    assert_eq!(d.innermost(), (ip("10.244.1.2"), ip("10.244.2.3")));
    assert_eq!(d.inner_proto, Some(1));
}

#[test]
fn linux_cooked_capture_decodes_the_same_packet() {
    let (lt, d) = decode("linux-sll-any.pcap");
    assert_eq!(lt, 113);
    assert_eq!(d.encap, Some(Encap::Vxlan { vni: 1, port: 8472 }));
    assert_eq!((d.src, d.dst), (ip("192.0.2.11"), ip("192.0.2.12")));
    assert_eq!(d.innermost(), (ip("10.244.1.2"), ip("10.244.2.3")));
}

#[test]
fn inner_and_pod_side_frames_are_plain() {
    for f in [
        "vxlan-inner-flannel1.pcap",
        "pod-veth.pcap",
        "calico-bgp-underlay-eth0.pcap",
    ] {
        let (_, d) = decode(f);
        assert_eq!(d.encap, None, "{f}");
        assert_eq!(
            (d.src, d.dst, d.proto),
            (ip("10.244.1.2"), ip("10.244.2.3"), 1),
            "{f}"
        );
        assert_eq!(d.inner_src, None, "{f}");
    }
}

#[test]
fn handmade_ipip_in_ethernet_and_raw_link_types() {
    // The file says LINKTYPE_RAW (101); libpcap reports it as DLT_RAW (12).
    for (f, lt) in [
        ("ipip-handmade-eth0.pcap", 1),
        ("ipip-handmade-raw.pcap", 12),
    ] {
        let (got, d) = decode(f);
        assert_eq!(got, lt, "{f}");
        assert_eq!(
            (d.src, d.dst, d.proto),
            (ip("192.0.2.11"), ip("192.0.2.12"), 4),
            "{f}"
        );
        assert_eq!(d.encap, Some(Encap::Ipip), "{f}");
        assert_eq!(d.innermost(), (ip("10.244.1.2"), ip("10.244.2.3")), "{f}");
    }
    let (_, tunl0) = decode("ipip-handmade-tunl0.pcap");
    assert_eq!(tunl0.encap, None);
    assert_eq!((tunl0.src, tunl0.dst), (ip("10.244.1.2"), ip("10.244.2.3")));
}

#[test]
fn wire_check_flags_a_wrong_outer_destination() {
    let (_, d) = decode("vxlan-underlay-eth0.pcap");
    let mut e = WireExpect {
        inner_src: ip("10.244.1.2"),
        inner_dst: ip("10.244.2.3"),
        outer: Some((ip("192.0.2.11"), ip("192.0.2.12"))),
        encap: Some(Encap::Vxlan { vni: 1, port: 8472 }),
    };
    assert_eq!(check_wire(std::slice::from_ref(&d), &e).unwrap(), d);
    e.outer = Some((ip("192.0.2.11"), ip("192.0.2.13")));
    let err = check_wire(std::slice::from_ref(&d), &e).unwrap_err();
    assert!(err.contains("expected 192.0.2.11 → 192.0.2.13"), "{err}");
    assert!(
        err.contains("saw 192.0.2.11 → 192.0.2.12 vxlan vni 1"),
        "{err}"
    );
    e.outer = Some((ip("192.0.2.11"), ip("192.0.2.12")));
    e.encap = Some(Encap::Vxlan { vni: 2, port: 8472 });
    assert!(check_wire(&[d], &e).is_err());
}

#[test]
fn truncated_frames_are_errors_not_panics() {
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/pcap/vxlan-underlay-eth0.pcap");
    let mut cap = pcap::Capture::from_file(&path).unwrap();
    let frame = cap.next_packet().unwrap().data.to_vec();
    for cut in [0, 13, 20, 40, 45, 52, 60, 80] {
        let r = decode_frame(1, &frame[..cut.min(frame.len())]);
        assert!(r.is_err(), "cut at {cut}: {r:?}");
    }
}
