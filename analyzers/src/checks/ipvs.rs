//! Shared input guards for the IPVS checks.

use super::{NodeCx, Out};
use crate::code::{Code, Input};

/// The node's virtual servers, or `None` after recording why the IPVS
/// checks cannot run (no ipvsadm.txt, no services.json, an empty table).
pub(crate) fn input<'e>(
    cx: &NodeCx<'e>,
    code: Code,
    out: &mut Out,
) -> Option<&'e [cnictl_model::VirtualService]> {
    let node = cx.name();
    let Some(vs) = &cx.node.ipvs else {
        out.skip_missing(code, node, Input::Ipvsadm, "IPVS checks");
        return None;
    };
    let Some(svcs) = &cx.exp.services else {
        out.skip(
            code,
            Some(node),
            "no k8s/services.json: IPVS checks skipped".to_string(),
        );
        return None;
    };
    if vs.is_empty() && !svcs.is_empty() {
        out.skip(
            code,
            Some(node),
            format!("{node}'s ipvsadm.txt lists no virtual servers (kube-proxy not in IPVS mode?): IPVS checks skipped"),
        );
        return None;
    }
    Some(vs)
}
