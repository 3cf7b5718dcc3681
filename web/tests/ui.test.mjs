// Drives the cnictl UI in headless Debian chromium with playwright-core.
// Run by exporter/tests/ui.rs, which starts the server and sets:
//   CNICTL_URL   base URL of the server (http://127.0.0.1:PORT)
//   CNICTL_SRC / CNICTL_DST   a pod pair whose path is broken
//   CNICTL_OK_SRC / CNICTL_OK_DST  a pod pair whose path is delivered over a tunnel
//   CNICTL_BROKEN_NODE        the node with the fault
//   CNICTL_MODEL              the cluster's model name
//   CNICTL_SCALE_URL          (optional) a server on a large generated cluster
//   CNICTL_NF_URL             (optional) a server whose node-2 FORWARD policy drops pods' traffic
//   CNICTL_SCREENSHOT         where to save the explain screenshot
//   CNICTL_SHOTS              a directory for a screenshot of every view
//   CNICTL_SOURCE             text the header must show as the data's source
//   CNICTL_POLICY_URL         (optional) a server on a bundle with NetworkPolicies
//   CNICTL_ROOT_URL           (optional) a server on a bundle where one BGP session down makes six findings
//   CNICTL_BAD_URL            (optional) a server whose source never loads
//   CNICTL_BAD_MESSAGE        a line of that server's load error
//   CNICTL_PROFILE            a fresh, empty chromium profile directory
import { chromium } from "playwright-core";
import assert from "node:assert/strict";

const env = (k) => {
  const v = process.env[k];
  if (!v) throw new Error(`${k} is not set`);
  return v;
};
const base = env("CNICTL_URL");
const src = env("CNICTL_SRC");
const dst = env("CNICTL_DST");
const brokenNode = env("CNICTL_BROKEN_NODE");
const shots = env("CNICTL_SHOTS");
const natural = new Intl.Collator(undefined, { numeric: true, sensitivity: "base" });

// Every text of every path diagram on the page inside the diagram, inside
// its hop's box when it belongs to one, over no other text, no other box
// and no edge (edges sampled every 2 px): what a person would see as a
// clipped or overlapping label. Measured in the browser, on the boxes the
// layout produced.
async function diagramProblems() {
  return page.evaluate(() => {
    const out = [];
    const inside = (a, b) => a.left >= b.left - 0.5 && a.right <= b.right + 0.5 && a.top >= b.top - 0.5 && a.bottom <= b.bottom + 0.5;
    const overlap = (a, b) => a.left < b.right - 0.5 && b.left < a.right - 0.5 && a.top < b.bottom - 0.5 && b.top < a.bottom - 0.5;
    const name = (t) => (t.querySelector("title") ? t.textContent.replace(t.querySelector("title").textContent, "") : t.textContent).slice(0, 50);
    for (const svg of document.querySelectorAll('svg[aria-label="packet path diagram"]')) {
      const sb = svg.getBoundingClientRect();
      const texts = [...svg.querySelectorAll("text")].map((t) => ({ t, b: t.getBoundingClientRect(), hop: t.closest("g.hop") }));
      const boxes = [...svg.querySelectorAll("g.hop rect")].map((r) => ({ g: r.parentNode, b: r.getBoundingClientRect() }));
      const ctm = svg.getScreenCTM();
      const points = [];
      for (const p of svg.querySelectorAll("path.edge")) {
        const len = p.getTotalLength();
        for (let l = 0; l <= len; l += 2) {
          const q = p.getPointAtLength(l);
          points.push(new DOMPoint(q.x, q.y).matrixTransform(ctm));
        }
      }
      texts.forEach((x, i) => {
        if (!x.b.width) return;
        if (!inside(x.b, sb)) out.push(`clipped by the diagram: ${name(x.t)}`);
        if (x.hop && !inside(x.b, x.hop.querySelector("rect").getBoundingClientRect())) out.push(`overflows its box: ${name(x.t)}`);
        for (const y of texts.slice(i + 1)) if (y.b.width && overlap(x.b, y.b)) out.push(`overlap: "${name(x.t)}" / "${name(y.t)}"`);
        for (const bx of boxes) if (bx.g !== x.hop && overlap(x.b, bx.b)) out.push(`over a hop box: ${name(x.t)}`);
        if (points.some((q) => q.x > x.b.left && q.x < x.b.right && q.y > x.b.top && q.y < x.b.bottom)) out.push(`an edge crosses: ${name(x.t)}`);
      });
    }
    return out;
  });
}
async function noDiagramProblems(what) {
  const problems = await diagramProblems();
  assert.deepEqual(problems, [], `${what}: clipped or overlapping labels`);
}

const ctx = await chromium.launchPersistentContext(env("CNICTL_PROFILE"), {
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  headless: true,
  viewport: { width: 1500, height: 1000 },
  colorScheme: "dark",
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync"],
});
const failures = [];
const page = ctx.pages()[0] || (await ctx.newPage());
page.on("pageerror", (e) => failures.push(`page error: ${e.message}`));
page.on("console", (m) => {
  if (m.type() !== "error") return;
  // The server without an analysis answers 503 on purpose.
  const bad = process.env.CNICTL_BAD_URL;
  if (bad && (m.location().url || "").startsWith(bad) && /status of 503/.test(m.text())) return;
  failures.push(`console error: ${m.text()}`);
});
// Nothing but the server under test may be contacted.
await page.route("**/*", (route) => {
  const u = route.request().url();
  const allowed = [base, process.env.CNICTL_SCALE_URL, process.env.CNICTL_NF_URL, process.env.CNICTL_BAD_URL,
    process.env.CNICTL_POLICY_URL, process.env.CNICTL_ROOT_URL].filter(Boolean);
  if (allowed.some((a) => u.startsWith(a)) || u.startsWith("data:")) return route.continue();
  failures.push(`external request blocked: ${u}`);
  return route.abort();
});

// Polls from Node (page.waitForFunction would eval in the page, which the
// server's Content-Security-Policy rightly forbids).
async function until(what, fn, ms = 10000) {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (await fn()) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`timed out waiting for ${what}`);
}

async function step(name, fn) {
  const t0 = Date.now();
  await fn();
  console.log(`ok ${name} (${Date.now() - t0} ms)`);
}

try {
  await step("overview shows health, counts and nodes", async () => {
    await page.goto(`${base}/#/`);
    const health = page.locator("#health");
    await health.waitFor();
    assert.match(await health.textContent(), /error/);
    await until("the header names the source", async () => /collected/.test(await page.locator("#source").textContent()));
    const source = await page.locator("#source").textContent();
    assert.ok(source.includes(env("CNICTL_SOURCE")), `header source: ${source}`);
    assert.match(await page.locator("#source").getAttribute("title"), /data collected \d{4}-\d\d-\d\dT/);
    assert.ok(await page.locator("#source .when").isVisible(), "the collection time is not cut off");
    await page.screenshot({ path: `${shots}/overview.png`, fullPage: true });
    assert.equal(await page.locator("#model-badge").textContent(), env("CNICTL_MODEL"));
    const rows = page.locator(".dtable tbody tr");
    assert.ok((await rows.count()) > 1, "node rows");
    await page.locator(`a[href="#/node/${brokenNode}"]`).first().waitFor();
    await page.locator(".dtable input[type=search]").first().fill(brokenNode);
    const total = await rows.count();
    await until("node filter", async () => {
      const t = page.locator(".dtable").first();
      const n = await t.locator("tbody tr").count();
      return n >= 1 && n < total && (await t.locator(`a[href="#/node/${brokenNode}"]`).count()) === 1;
    });
  });

  await step("findings list with filters", async () => {
    await page.goto(`${base}/#/findings`);
    await page.locator(".finding").first().waitFor();
    const all = await page.locator(".finding").count();
    assert.ok(all > 0);
    await page.locator('select[aria-label="severity"]').selectOption("error");
    await page.locator('input[aria-label="node"]').fill(brokenNode);
    await until("node filter applied", async () => {
      const texts = await page.locator(".finding .head").allTextContents();
      return page.url().includes("node=") && texts.length > 0 && texts.every((t) => t.includes(brokenNode));
    });
    await page.screenshot({ path: `${shots}/findings.png`, fullPage: true });
    await page.locator('input[aria-label="search"]').fill("zzz-no-such-text");
    await page.locator(".empty").waitFor();
  });

  if (process.env.CNICTL_ROOT_URL) await step("findings grouped by root cause", async () => {
    const rc = process.env.CNICTL_ROOT_URL;
    await page.goto(`${rc}/#/findings`);
    await page.locator(".finding").first().waitFor();
    // One BGP session down: one root card, its five consequences folded under it.
    await until("one root cause shown", async () => (await page.locator(".finding").count()) === 1);
    const head = await page.locator(".finding .head").first().textContent();
    assert.match(head, /bgp-session-down/);
    const fold = page.locator(".finding details.consequences summary");
    assert.equal((await fold.textContent()).trim(), "5 consequences of this root cause");
    await fold.click();
    assert.equal(await page.locator(".finding .symptom").count(), 5);
    const why = await page.locator(".finding .symptom .because").allTextContents();
    assert.ok(why.some((t) => t.includes("the other end of the same session")), why.join(" | "));
    await page.screenshot({ path: `${shots}/findings-root-causes.png`, fullPage: true });
    await page.locator('select[aria-label="grouping"]').selectOption("");
    await until("every finding listed", async () => (await page.locator(".finding").count()) === 6);
    assert.equal(await page.locator(".finding .pill", { hasText: "consequence" }).count(), 5);
  });

  await step("node page flags entries next to findings", async () => {
    await page.goto(`${base}/#/node/${brokenNode}`);
    await page.locator("h1").filter({ hasText: brokenNode }).waitFor();
    await page.locator(".finding").first().waitFor();
    assert.ok((await page.locator("table").count()) >= 3, "routes, BGP, neighbour tables");
    await page.screenshot({ path: `${shots}/node.png`, fullPage: true });
  });

  await step("explain draws a delivered tunnel path with outer addresses", async () => {
    const ok = `src=${encodeURIComponent(env("CNICTL_OK_SRC"))}&dst=${encodeURIComponent(env("CNICTL_OK_DST"))}`;
    await page.goto(`${base}/#/explain?${ok}`);
    await page.locator("#path-svg").waitFor();
    assert.match(await page.locator("#verdict").textContent(), /DELIVERED/);
    assert.equal(await page.locator("#path-svg g.hop.fail").count(), 0);
    assert.equal(await page.locator("#path-svg g.hop.ok").count(), 1, "the delivering hop is marked");
    const labels = (await page.locator("#path-svg .edge-label.crossing").allTextContents()).join(" ");
    assert.match(labels, /encap: outer \d+\.\d+\.\d+\.\d+ → \d+\.\d+\.\d+\.\d+/, `outer header on the crossing: ${labels}`);
    await noDiagramProblems("delivered tunnel path");
  });

  await step("explain draws the path with the failing hop marked", async () => {
    await page.goto(`${base}/#/explain?src=${encodeURIComponent(src)}&dst=${encodeURIComponent(dst)}`);
    await page.locator("#path-svg").waitFor();
    const verdict = await page.locator("#verdict").textContent();
    assert.match(verdict, /DROPPED/);
    const fail = page.locator("#path-svg g.hop.fail");
    assert.equal(await fail.count(), 1, "one failing hop");
    const failText = (await page.locator("#path-svg .fail-text").allTextContents()).join(" ");
    assert.match(failText, /finding [a-z-]+/, "code shown on the diagram");
    assert.ok((await page.locator("#path-svg g.hop").count()) >= 3, "hops drawn");
    const box = await page.locator("#path-svg").boundingBox();
    assert.ok(box && box.width > 200 && box.height > 100, "diagram has a size");
    await noDiagramProblems("dropped path");
    await page.screenshot({ path: env("CNICTL_SCREENSHOT"), fullPage: true });
    await page.screenshot({ path: `${shots}/explain.png`, fullPage: true });
  });

  await step("explain offers names and follows the reply with reverse", async () => {
    await page.goto(`${base}/#/explain`);
    await page.locator("#explain-names").waitFor({ state: "attached" });
    const names = await page.locator("#explain-names option").evaluateAll((os) => os.map((o) => o.value));
    assert.ok(names.includes(src) && names.includes(dst), `pods offered: ${names.slice(0, 8)}`);
    assert.ok(names.some((n) => n.startsWith("svc/")), "Services offered");
    assert.equal(await page.locator('input[name="src"]').getAttribute("list"), "explain-names");
    await page.locator('input[name="src"]').fill(env("CNICTL_OK_SRC"));
    await page.locator('input[name="dst"]').fill(env("CNICTL_OK_DST"));
    await page.locator('input[name="reverse"]').check();
    await page.locator('#explain-form button[type="submit"]').click();
    await until("reverse in the URL", async () => page.url().includes("reverse=true"));
    await page.locator("#path-svg").waitFor();
    assert.match(await page.locator("#verdict").textContent(), /DELIVERED|DROPPED|UNKNOWN/);
    assert.ok(await page.locator('input[name="reverse"]').isChecked(), "the toggle survives the reload");
    await noDiagramProblems("reverse path");
    await page.screenshot({ path: `${shots}/explain-reverse.png`, fullPage: true });
  });

  await step("explain form submits and reports bad input", async () => {
    await page.goto(`${base}/#/explain`);
    await page.locator('input[name="src"]').fill("default/no-such-pod");
    await page.locator('input[name="dst"]').fill(dst);
    await page.locator('#explain-form button[type="submit"]').click();
    await page.locator("#explain-out .banner.err").waitFor();
    assert.match(await page.locator("#explain-out").textContent(), /unknown/);
  });

  if (process.env.CNICTL_NF_URL) {
    await step("explain draws a netfilter drop as a gate naming the rule", async () => {
      const nf = process.env.CNICTL_NF_URL;
      await page.goto(`${nf}/#/explain?src=default%2Fweb-1&dst=default%2Fapi-2`);
      await page.locator("#path-svg").waitFor();
      assert.match(await page.locator("#verdict").textContent(), /DROPPED .*netfilter-drop/);
      const gate = page.locator("#path-svg g.hop.netfilter.nf-drop");
      assert.equal(await gate.count(), 1, "one netfilter gate");
      assert.equal(await page.locator("#path-svg g.hop.netfilter.fail").count(), 1, "the gate is the failing hop");
      const title = await gate.locator("title").textContent();
      assert.match(title, /ip filter FORWARD policy DROP/);
      assert.match(title, /forward · ip filter FORWARD policy · iptables-nft \(iptables-save\.txt\)/);
      const failText = (await page.locator("#path-svg .fail-text").allTextContents()).join(" ");
      assert.match(failText, /finding netfilter-forward-drop/);
      const row = page.locator("table.hops tr.fail");
      assert.match(await row.textContent(), /netfilter \(forward, iptables-nft\)/);
      await noDiagramProblems("netfilter drop");
    });
  }

  if (process.env.CNICTL_POLICY_URL) {
    const pol = process.env.CNICTL_POLICY_URL;
    // The grid's cells, as the page drew them.
    const drawn = () => page.locator("#policy-grid td.pcell:not(.self)").evaluateAll((tds) =>
      tds.map((t) => ({ src: t.dataset.src, dst: t.dataset.dst, intended: t.dataset.intended, dataplane: t.dataset.dataplane,
        by: t.dataset.by, mark: t.textContent, disagree: t.classList.contains("disagree") })));
    const sameAsApi = async (query) => {
      const doc = await (await fetch(`${pol}/api/v1/matrix?${query}`)).json();
      const cells = await drawn();
      assert.equal(cells.length, doc.cells.length, "one grid cell per API cell");
      const key = (c) => `${c.src} → ${c.dst}`;
      const byKey = new Map(cells.map((c) => [key(c), c]));
      for (const c of doc.cells) {
        const d = byKey.get(key(c));
        assert.ok(d, `cell ${key(c)} drawn`);
        assert.deepEqual([d.intended, d.dataplane, d.by], [c.intended, c.dataplane, c.by.join(",")], key(c));
      }
      return { doc, cells };
    };
    // No overlap between the grid's header texts and the cells, and no
    // row label cut off.
    const gridProblems = () => page.evaluate(() => {
      const out = [];
      const overlap = (a, b) => a.left < b.right - 0.5 && b.left < a.right - 0.5 && a.top < b.bottom - 0.5 && b.top < a.bottom - 0.5;
      const boxes = [...document.querySelectorAll("#policy-grid th, #policy-grid td")].map((e) => ({ e, b: e.getBoundingClientRect() }));
      boxes.forEach((x, i) => { for (const y of boxes.slice(i + 1)) if (overlap(x.b, y.b)) out.push(`overlap: ${x.e.textContent} / ${y.e.textContent}`); });
      for (const th of document.querySelectorAll("#policy-grid th.row")) if (th.scrollWidth > th.clientWidth + 1) out.push(`cut off: ${th.textContent}`);
      const legend = [...document.querySelectorAll("#policy-legend .item")].map((e) => e.getBoundingClientRect());
      legend.forEach((a, i) => { for (const b of legend.slice(i + 1)) if (overlap(a, b)) out.push("legend items overlap"); });
      return out;
    });

    await step("policy view: the grid equals the API's matrix, disagreements listed", async () => {
      await page.goto(`${pol}/#/policy`);
      await page.locator("#policy-grid").waitFor();
      const probes = await page.locator("#policy-probe option").evaluateAll((os) => os.map((o) => o.textContent));
      assert.deepEqual(probes, ["TCP 8080", "UDP 53"]);
      const { cells } = await sameAsApi("proto=tcp&port=8080");
      const web1api2 = cells.find((c) => c.src === "default/web-1" && c.dst === "default/api-2");
      assert.equal(web1api2.mark, "✓", "an allowed pair the dataplane delivers");
      const hole = cells.find((c) => c.src === "default/api-1" && c.dst === "default/web-2");
      assert.ok(hole.disagree && hole.mark === "!", "a denied pair the dataplane delivers is a disagreement");
      assert.equal(await page.locator("#policy-grid td.pcell.self").count(), 6, "the diagonal");
      assert.match(await page.locator("#policy-summary").textContent(), /21 pod pairs where the dataplane disagrees/);
      assert.equal(await page.locator("#policy-disagreements tbody tr").count(), 21);
      assert.deepEqual(await gridProblems(), [], "policy grid layout");
      await page.locator('#policy-grid td[data-src="default/api-1"][data-dst="default/web-2"]').click();
      const detail = await page.locator("#policy-cell").textContent();
      assert.match(detail, /default\/api-1 → default\/web-2/);
      assert.match(detail, /isolated by: default\/default-deny/);
      assert.match(detail, /dataplane: delivered.*disagrees/);
      await page.screenshot({ path: `${shots}/policy.png`, fullPage: true });
    });

    await step("policy view: another port and by namespace", async () => {
      await page.locator("#policy-probe").selectOption("udp/53");
      await until("UDP 53 in the URL", async () => page.url().includes("proto=udp&port=53"));
      await until("the UDP grid", async () => /UDP 53/.test(await page.locator("#policy-summary").textContent()));
      await sameAsApi("proto=udp&port=53");
      await page.locator("#policy-by-ns").check();
      await until("by namespace in the URL", async () => page.url().includes("by=namespace"));
      await until("the namespace grid", async () => (await page.locator("#policy-grid td.pcell").count()) === 1);
      const { cells } = await sameAsApi("proto=udp&port=53&by=namespace");
      assert.equal(cells[0].src, "default");
      assert.deepEqual(await gridProblems(), [], "namespace grid layout");
      await page.screenshot({ path: `${shots}/policy-namespace.png`, fullPage: true });
    });

    await step("policy view without NetworkPolicies says they were not collected", async () => {
      await page.goto(`${base}/#/policy`);
      await page.locator("#policy-missing").waitFor();
      assert.match(await page.locator("#policy-missing").textContent(), /k8s\/networkpolicies\.json/);
      await page.screenshot({ path: `${shots}/policy-missing.png`, fullPage: true });
    });
  }

  if (process.env.CNICTL_SCALE_URL) {
    await step("a large cluster stays usable (paged tables)", async () => {
      const big = process.env.CNICTL_SCALE_URL;
      const t0 = Date.now();
      await page.goto(`${big}/#/`);
      await page.locator("#health").waitFor({ timeout: 30000 });
      const t = page.locator(".dtable").first();
      await t.locator("tbody tr").first().waitFor();
      const shown = await t.locator("tbody tr").count();
      assert.ok(shown <= 100, `rows are paged (${shown} shown)`);
      const loadMs = Date.now() - t0;
      assert.ok(loadMs < 10000, `overview rendered in ${loadMs} ms`);
      const pager = t.locator(".pager span");
      assert.match(await pager.textContent(), /page 1 \/ \d+/);
      await t.locator(".pager button", { hasText: "next" }).click();
      assert.match(await pager.textContent(), /page 2 \//);
      // Natural order: node-2 before node-10.
      const byName = t.locator("th", { hasText: /^node$/ });
      await byName.click();
      const names = await t.locator("tbody tr td:first-child").allTextContents();
      assert.deepEqual(names, [...names].sort(natural.compare), "natural order");
      assert.ok(names.indexOf("node-2") >= 0 && names.indexOf("node-2") < names.indexOf("node-10"), `node-2 before node-10: ${names.slice(0, 12)}`);
      const th = t.locator("th", { hasText: "routes" });
      const s0 = Date.now();
      await th.click();
      assert.ok(Date.now() - s0 < 3000, "sorting is quick");
      console.log(`  overview of the large cluster in ${loadMs} ms`);
    });
  }

  if (process.env.CNICTL_BAD_URL) {
    await step("a source that does not load: the error shown once, readable", async () => {
      const bad = process.env.CNICTL_BAD_URL;
      const msg = env("CNICTL_BAD_MESSAGE");
      await page.goto(`${bad}/#/`);
      await page.locator(".error-box").waitFor();
      await until("status polled", async () => /not ready/.test(await page.locator("#status").textContent()));
      const body = await page.locator("body").innerText();
      assert.equal(body.split(msg).length - 1, 1, `the error appears once:\n${body}`);
      assert.ok(await page.locator("#stale").isHidden(), "no second copy in the banner");
      const box = await page.locator(".error-box pre").boundingBox();
      const view = page.viewportSize();
      assert.ok(box && box.x + box.width <= view.width, "the message wraps inside the page");
      await page.screenshot({ path: `${shots}/load-error.png`, fullPage: true });
    });
  }

  await step("light theme toggles", async () => {
    await page.goto(`${base}/#/`);
    await page.locator("#health").waitFor();
    await page.locator("#theme").click();
    assert.equal(await page.evaluate(() => document.documentElement.dataset.theme), "light");
  });
} catch (e) {
  failures.push(String(e && e.stack ? e.stack : e));
} finally {
  await ctx.close();
}
// The unknown-pod explain answers 404 on purpose; chromium logs that as a console error.
const real = failures.filter((f) => !/status of 404/.test(f));
if (real.length) {
  console.error(real.join("\n"));
  process.exit(1);
}
console.log("ui: all steps passed");
