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

# 3. helm template, where installed; else the templates get the text checks.
if command -v helm >/dev/null; then
  helm lint "$here/helm/cnictl"
  helm template t "$here/helm/cnictl" --namespace cnictl >"$tmp/helm.yaml"
  helm template t "$here/helm/cnictl" --namespace cnictl \
    --set agent.probe=true,serviceMonitor.enabled=true >"$tmp/helm-probe.yaml"
  ran+=("helm lint + helm template")
else
  skipped+=("helm template (helm not installed; not packaged in Debian 12)")
fi

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
for name in ("helm.yaml", "helm-probe.yaml"):
    p = os.path.join(tmp, name)
    if os.path.exists(p):
        check_docs(name, load(p))

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
print("python checks: yaml parse, RBAC verbs, pod security, helm values: ok")
PY
ran+=("python yaml + RBAC/securityContext checks")

echo "validators run:     ${ran[*]/%/;}"
echo "validators skipped: ${skipped[*]/%/;}"
