//! Every generated CNI model forwards every pod to every other pod (and to
//! each Service backend), with the decapsulation/encapsulation the model implies.

mod common;

use cnictl_dataplane::{Dataplane, Disposition, Hints, Ingress, Packet, Proto, Step};
use cnictl_gen::{generate, GenModel, GenSpec};

fn spec(model: GenModel) -> GenSpec {
    GenSpec {
        model,
        nodes: 4,
        pods_per_node: 3,
        services: 2,
    }
}

/// The dataplane with the pod attachment the generated model uses (the
/// generator collects no pod netns).
fn dataplane(model: GenModel, snap: &cnictl_model::ClusterSnapshot) -> Dataplane {
    let hints = match model {
        GenModel::CalicoBgp | GenModel::CalicoIpip => Hints::everywhere(common::CALICO),
        _ => Hints::default(),
    };
    Dataplane::with_hints(snap, &hints)
}

#[test]
fn every_model_delivers_every_pod_pair() {
    for model in GenModel::ALL {
        let snap = generate(&spec(model)).expect("generate");
        let dp = dataplane(model, &snap);
        assert_eq!(dp.pod_count(), 12, "{model}");
        for a in 0..dp.pod_count() as u32 {
            for b in 0..dp.pod_count() as u32 {
                let (a, b) = (cnictl_dataplane::PodId(a), cnictl_dataplane::PodId(b));
                let pkt = Packet::new(dp.pod_ips(a)[0], dp.pod_ips(b)[0]);
                let t = dp.trace(&pkt, Ingress::Pod(a));
                assert_eq!(
                    t.disposition,
                    Disposition::Delivered,
                    "{model} {} → {}:\n{}",
                    dp.pod_key(a),
                    dp.pod_key(b),
                    common::render(&dp, &t)
                );
                let crosses = dp.pod_node(a) != dp.pod_node(b);
                let encap = t
                    .hops
                    .iter()
                    .any(|h| matches!(h.step, Step::VxlanEncap { .. } | Step::IpipEncap { .. }));
                let want_encap =
                    crosses && matches!(model, GenModel::FlannelVxlan | GenModel::CalicoIpip);
                assert_eq!(
                    encap,
                    want_encap,
                    "{model} {} → {}:\n{}",
                    dp.pod_key(a),
                    dp.pod_key(b),
                    common::render(&dp, &t)
                );
            }
        }
    }
}

#[test]
fn every_model_reaches_service_backends_through_ipvs() {
    for model in GenModel::ALL {
        let snap = generate(&spec(model)).expect("generate");
        let dp = dataplane(model, &snap);
        let svc = &snap.k8s.services.as_ref().expect("services")[0];
        let a = cnictl_dataplane::PodId(0);
        let mut pkt = Packet::new(dp.pod_ips(a)[0], svc.cluster_ips[0]);
        pkt.proto = if svc.ports[0].protocol == "UDP" {
            Proto::Udp
        } else {
            Proto::Tcp
        };
        pkt.dport = svc.ports[0].port;
        let t = dp.trace(&pkt, Ingress::Pod(a));
        assert!(
            !t.branches.is_empty(),
            "{model}: no IPVS branch:\n{}",
            common::render(&dp, &t)
        );
        assert_eq!(
            t.disposition,
            Disposition::Delivered,
            "{model}:\n{}",
            common::render(&dp, &t)
        );
    }
}

#[test]
fn reachability_matrix_matches_single_traces() {
    let snap = generate(&spec(GenModel::CalicoBgp)).expect("generate");
    let dp = dataplane(GenModel::CalicoBgp, &snap);
    let pods = dp.pods_by_node();
    assert_eq!(pods.len(), 4);
    let m = dp.reachability_matrix(&pods);
    assert_eq!(m.len(), 16);
    for (i, a) in pods.iter().enumerate() {
        for (j, b) in pods.iter().enumerate() {
            let pkt = Packet::new(dp.pod_ips(*a)[0], dp.pod_ips(*b)[0]);
            assert_eq!(
                m[i * pods.len() + j],
                dp.trace(&pkt, Ingress::Pod(*a)).disposition
            );
        }
    }
}
