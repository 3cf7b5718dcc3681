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
page.on("console", (m) => { if (m.type() === "error") failures.push(`console error: ${m.text()}`); });
// Nothing but the server under test may be contacted.
await page.route("**/*", (route) => {
  const u = route.request().url();
  const allowed = [base, process.env.CNICTL_SCALE_URL, process.env.CNICTL_NF_URL].filter(Boolean);
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
    await page.locator('input[aria-label="search"]').fill("zzz-no-such-text");
    await page.locator(".empty").waitFor();
  });

  await step("node page flags entries next to findings", async () => {
    await page.goto(`${base}/#/node/${brokenNode}`);
    await page.locator("h1").filter({ hasText: brokenNode }).waitFor();
    await page.locator(".finding").first().waitFor();
    assert.ok((await page.locator("table").count()) >= 3, "routes, BGP, neighbour tables");
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
    await page.screenshot({ path: env("CNICTL_SCREENSHOT"), fullPage: true });
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
      const th = t.locator("th", { hasText: "routes" });
      const s0 = Date.now();
      await th.click();
      assert.ok(Date.now() - s0 < 3000, "sorting is quick");
      console.log(`  overview of the large cluster in ${loadMs} ms`);
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
