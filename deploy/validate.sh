#!/usr/bin/env bash
# Offline validation of deploy/: runs every validator available on this
# machine and says which ran. No cluster is contacted.
#
#   deploy/validate.sh        exit 0 when every validator that ran passed
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
ran=() skipped=()
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT

# 1. kustomize (built into kubectl): renders the plain manifests offline.
#    (`kubectl apply --dry-run=client` needs API discovery, so it cannot run
#    without a server; kustomize + the checks below cover the offline part.)
if command -v kubectl >/dev/null; then
  kubectl kustomize "$here/kubernetes" >"$tmp/kustomized.yaml"
  ran+=("kubectl kustomize")
else
  cat "$here"/kubernetes/{namespace,rbac,agent-daemonset,aggregator-deployment,service}.yaml \
    | sed 's/^apiVersion:/---\napiVersion:/' >"$tmp/kustomized.yaml"
  skipped+=("kubectl kustomize (no kubectl)")
fi

# 2. kubeconform: schema validation, where installed.
if command -v kubeconform >/dev/null; then
  kubeconform -strict -summary -skip ServiceMonitor "$tmp/kustomized.yaml"
  ran+=("kubeconform")
else
  skipped+=("kubeconform (not installed; not packaged in Debian)")
fi

# 3. Helm: lint and render the chart three ways (defaults; probe +
#    ServiceMonitor; PrometheusRule + Grafana dashboard ConfigMap). With the
#    helm binary where installed; else with Helm's own engine (the Helm v4
#    Go SDK, through the helm-python-sdk wheel: scripts/install-test-deps.sh
#    installs it, as Debian 12 packages no helm).
monitoring="prometheusRule.enabled=true,grafanaDashboard.enabled=true,serviceMonitor.enabled=true"
if command -v helm >/dev/null; then
  helm lint "$here/helm/cnictl"
  helm template t "$here/helm/cnictl" --namespace cnictl >"$tmp/helm.yaml"
  helm template t "$here/helm/cnictl" --namespace cnictl \
    --set agent.probe=true,serviceMonitor.enabled=true >"$tmp/helm-probe.yaml"
  helm template t "$here/helm/cnictl" --namespace cnictl --set "$monitoring" >"$tmp/helm-monitoring.yaml"
  ran+=("helm lint + helm template (helm $(helm version --short 2>/dev/null))")
elif python3 -c 'import helm_python' 2>/dev/null; then
  python3 - "$here/helm/cnictl" "$tmp" <<'PY'
import sys
import helm_python as helm
chart, tmp = sys.argv[1], sys.argv[2]
lint = helm.lint(chart)
if lint["errors"]:
    sys.exit(f"helm lint: {lint['errors']}")
for m in lint["messages"]:
    if m["severity"] > 1:  # 1 is INFO ("icon is recommended")
        sys.exit(f"helm lint: {m}")
runs = {
    "helm.yaml": {},
    "helm-probe.yaml": {"agent": {"probe": True}, "serviceMonitor": {"enabled": True}},
    "helm-monitoring.yaml": {"prometheusRule": {"enabled": True}, "grafanaDashboard": {"enabled": True},
                             "serviceMonitor": {"enabled": True}},
}
with helm.Chart.load(chart) as c:
    for out, values in runs.items():
        docs = c.render(values, name="t", namespace="cnictl")
        with open(f"{tmp}/{out}", "w") as f:
            for name, text in sorted(docs.items()):
                if text.strip():
                    f.write(f"---\n# Source: {name}\n{text}\n")
PY
  ran+=("helm lint + template (Helm $(python3 -c 'import helm_python as h; print(h.helm_sdk_version())') engine via helm-python-sdk)")
else
  skipped+=("helm template (no helm binary, no helm-python-sdk: scripts/install-test-deps.sh)")
fi

# The chart ships copies of the rules and the dashboard (Helm reads only
# files inside the chart): they must not drift.
cmp "$here/prometheus/cnictl-rules.yml" "$here/helm/cnictl/files/cnictl-rules.yml"
cmp "$here/grafana/cnictl-dashboard.json" "$here/helm/cnictl/files/cnictl-dashboard.json"

# 4. Structural + policy checks in Python (PyYAML).
python3 - "$here" "$tmp" <<'PY'
import glob, os, re, sys
import yaml

here, tmp = sys.argv[1], sys.argv[2]
errors = []
REVIEW = {("authentication.k8s.io", "tokenreviews"), ("authorization.k8s.io", "subjectaccessreviews")}
READ = {"get", "list", "watch"}

def check_rules(src, rules):
    for r in rules or []:
        verbs = set(r.get("verbs", []))
        if "nonResourceURLs" in r:
            if verbs != {"get"}:
                errors.append(f"{src}: nonResourceURLs rule has verbs {sorted(verbs)}, want get")
            continue
        pairs = {(g, res) for g in r.get("apiGroups", []) for res in r.get("resources", [])}
        if "*" in verbs or any("*" in p[1] for p in pairs):
            errors.append(f"{src}: wildcard in rule {r}")
        if verbs <= READ:
            continue
        if verbs == {"create"} and pairs <= REVIEW:
            continue
        errors.append(f"{src}: verbs {sorted(verbs)} on {sorted(pairs)}: only get/list/watch "
                      "(and create on tokenreviews/subjectaccessreviews) are allowed")

def check_pod(src, doc):
    spec = doc["spec"]["template"]["spec"]
    for c in spec["containers"]:
        sc = c.get("securityContext", {})
        caps = sc.get("capabilities", {})
        if caps.get("drop") != ["ALL"]:
            errors.append(f"{src}: container {c['name']} does not drop ALL capabilities")
        extra = set(caps.get("add", [])) - {"NET_ADMIN", "SYS_ADMIN", "NET_RAW"}
        if extra:
            errors.append(f"{src}: container {c['name']} adds {sorted(extra)}")
        if sc.get("privileged"):
            errors.append(f"{src}: container {c['name']} is privileged")
        if not sc.get("readOnlyRootFilesystem"):
            errors.append(f"{src}: container {c['name']} has a writable root filesystem")
        if "resources" not in c:
            errors.append(f"{src}: container {c['name']} has no resources")
        for v in c.get("volumeMounts", []):
            if v["mountPath"] != "/tmp" and not v.get("readOnly"):
                errors.append(f"{src}: mount {v['mountPath']} is writable")
    if doc["kind"] == "DaemonSet":
        if not spec.get("hostNetwork") or not spec.get("hostPID"):
            errors.append(f"{src}: agent DaemonSet needs hostNetwork and hostPID")
        if {"operator": "Exists"} not in spec.get("tolerations", []):
            errors.append(f"{src}: agent DaemonSet does not tolerate every taint")
    if doc["kind"] == "Deployment":
        if not spec.get("securityContext", {}).get("runAsNonRoot"):
            errors.append(f"{src}: aggregator does not run as non-root")

def check_docs(src, docs):
    kinds = []
    for d in docs:
        if not d:
            continue
        for k in ("apiVersion", "kind", "metadata"):
            if k not in d:
                errors.append(f"{src}: a document has no {k}")
        kinds.append(d.get("kind"))
        if d.get("kind") == "ClusterRole" or d.get("kind") == "Role":
            check_rules(src, d.get("rules"))
        if d.get("kind") in ("DaemonSet", "Deployment"):
            check_pod(src, d)
    return kinds

def load(path):
    with open(path) as f:
        try:
            return list(yaml.safe_load_all(f))
        except yaml.YAMLError as e:
            errors.append(f"{path}: {e}")
            return []

for path in sorted(glob.glob(os.path.join(here, "kubernetes", "*.yaml"))):
    load(path)
kinds = check_docs("kustomize output", load(os.path.join(tmp, "kustomized.yaml")))
for want in ("Namespace", "ServiceAccount", "ClusterRole", "ClusterRoleBinding", "DaemonSet", "Deployment", "Service"):
    if want not in kinds:
        errors.append(f"kustomize output: no {want}")
check_docs("servicemonitor.yaml", load(os.path.join(here, "kubernetes", "servicemonitor.yaml")))
for name in ("helm.yaml", "helm-probe.yaml", "helm-monitoring.yaml"):
    p = os.path.join(tmp, name)
    if os.path.exists(p):
        check_docs(name, load(p))

def check_monitoring(docs):
    """The PrometheusRule carries the shipped rules; the dashboard
    ConfigMap carries the sidecar's label and a dashboard that needs no
    import-time input."""
    import json
    by_kind = {d["kind"]: d for d in docs if d}
    rules = load(os.path.join(here, "prometheus", "cnictl-rules.yml"))[0]
    pr = by_kind.get("PrometheusRule")
    if not pr or pr["spec"]["groups"] != rules["groups"]:
        errors.append("helm: the PrometheusRule does not carry deploy/prometheus/cnictl-rules.yml")
    cm = by_kind.get("ConfigMap")
    if not cm or cm["metadata"]["labels"].get("grafana_dashboard") != "1":
        errors.append("helm: no dashboard ConfigMap labelled grafana_dashboard: \"1\"")
        return
    text = cm["data"]["cnictl-dashboard.json"]
    dash = json.loads(text)
    if "${DS_" in text or "__inputs" in dash:
        errors.append("helm: the dashboard needs an import-time data source input")
    if not any(v.get("type") == "datasource" for v in dash["templating"]["list"]):
        errors.append("helm: the dashboard has no data source variable")
    if "cnictl_aggregator_agent" not in text:
        errors.append("helm: the dashboard has no agents panel")

p = os.path.join(tmp, "helm-monitoring.yaml")
if os.path.exists(p):
    check_monitoring(load(p))
default = os.path.join(tmp, "helm.yaml")
if os.path.exists(default):
    kinds = [d["kind"] for d in load(default) if d]
    if "PrometheusRule" in kinds or "ConfigMap" in kinds:
        errors.append("helm: monitoring objects rendered while disabled")

# Helm sources: values and Chart parse; RBAC verbs in the templates (text,
# since templates are not YAML until rendered).
chart = os.path.join(here, "helm", "cnictl")
values = load(os.path.join(chart, "values.yaml"))[0]
load(os.path.join(chart, "Chart.yaml"))
if values.get("insecureNoAuth") is not False:
    errors.append("helm values: insecureNoAuth must default to false")
for key in ("image", "agent", "aggregator"):
    if key not in values:
        errors.append(f"helm values: no {key}")
for tpl in glob.glob(os.path.join(chart, "templates", "*.yaml")):
    text = open(tpl).read()
    for m in re.finditer(r"verbs:\s*\[([^\]]*)\]", text):
        verbs = {v.strip().strip('"') for v in m.group(1).split(",")}
        if not verbs <= READ | {"create"}:
            errors.append(f"{tpl}: verbs {sorted(verbs)}")
    if text.count('verbs: ["create"]') > 2:
        errors.append(f"{tpl}: create granted more than on the two review kinds")
    if text.count("{{") != text.count("}}"):
        errors.append(f"{tpl}: unbalanced template braces")

if errors:
    print("\n".join(errors), file=sys.stderr)
    sys.exit(1)
print("python checks: yaml parse, RBAC verbs, pod security, helm values, monitoring objects: ok")
PY
ran+=("python yaml + RBAC/securityContext checks")

echo "validators run:     ${ran[*]/%/;}"
echo "validators skipped: ${skipped[*]/%/;}"
