// The page of the releases and flags in headless Chromium, driven by
// Playwright: go test -run Browser ./examples/fleet starts what it needs
// and runs this with
//
//   FLEET_URL     the page of a running examples/fleet (--ui), release in progress
//   READONLY_URL  rollsafe serve --read-only on the same database
//   SEEDED_URL    rollsafe serve on a database of 50 instances and 1,000 audit records
//   ROLLSAFE      the rollsafe binary; ROLLSAFE_DSN the fleet's SQLite file
//   OUT           where the screenshots go; CHROMIUM the browser
//
// Each step prints a line of JSON ({"step": ...} or {"figure": ...}); a
// failed step throws, and the process exits 1 with the reason on stderr.
import { chromium } from "playwright-core";
import { execFile, spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";

const env = (name) => {
  const v = process.env[name];
  if (!v) throw new Error(`$${name} is not set`);
  return v;
};
const out = env("OUT");
const say = (o) => console.log(JSON.stringify(o));
const run = promisify(execFile);

const profile = mkdtempSync(join(tmpdir(), "rollsafe-chromium-"));
const browser = await chromium.launchPersistentContext(profile, {
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  headless: true,
  viewport: { width: 1280, height: 900 },
  args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync"],
});

// Every console error (a CSP violation is one) fails the run.
const problems = [];
function watch(page, name) {
  page.on("console", (m) => {
    if (m.type() === "error") problems.push(`${name}: console: ${m.text()}`);
  });
  page.on("pageerror", (e) => problems.push(`${name}: ${e.message}`));
  return page;
}

async function shot(page, name) {
  await page.screenshot({ path: join(out, name + ".png"), fullPage: true });
}

function check(cond, msg) {
  if (!cond) throw new Error(msg);
}

// revision reads the store revision the page shows.
const revision = (page) => page.evaluate(() => Number(document.body.dataset.flagsRevision));

// caughtUp says, in the page, whether every instance row serves the
// page's revision.
const caughtUp = () => {
  const rev = Number(document.body.dataset.flagsRevision);
  const rows = [...document.querySelectorAll("#instances tr[data-id]")];
  return rows.length > 0 && rows.every((r) => r.dataset.revision !== "" && Number(r.dataset.revision) >= rev);
};

async function act(page, button, reason) {
  await page.click(button);
  await page.waitForSelector("#act[open]");
  await page.fill("#act-reason", reason);
  await page.click("#act-confirm");
  // The dialog closes when the server took the write; it stays open with
  // the server's answer when it did not.
  await page.waitForFunction(() => !document.getElementById("act").open || document.getElementById("act-error").textContent);
  const refused = await page.textContent("#act-error");
  check(!refused, `${button}: the server refused: ${refused}`);
}

// serve starts rollsafe serve on the fleet's database at addr, and
// returns the child and its URL once it listens.
function serve(addr = "127.0.0.1:0") {
  const child = spawn(env("ROLLSAFE"), ["serve", "--dialect", "sqlite", "--dsn", env("ROLLSAFE_DSN"), "--addr", addr, "--actor", "browser-test"],
    { stdio: ["ignore", "pipe", "inherit"] });
  children.push(child);
  return new Promise((resolve, reject) => {
    let seen = "";
    child.stdout.on("data", (b) => {
      seen += b;
      const m = seen.match(/at (http:\/\/\S+\/)/);
      if (m) resolve({ child, url: m[1] });
    });
    child.on("exit", (code) => reject(new Error(`rollsafe serve --addr ${addr} exited ${code}: ${seen}`)));
  });
}
const children = [];

try {
  // 1. First paint of a page with 50 instances and 1,000 audit records.
  const seeded = watch(await browser.newPage(), "seeded");
  const paints = [];
  for (let i = 0; i < 5; i++) {
    await seeded.goto(env("SEEDED_URL"), { waitUntil: "load" });
    // The paint entry is recorded a moment after the paint itself.
    const fcp = await (await seeded.waitForFunction(() => {
      const e = performance.getEntriesByName("first-contentful-paint")[0];
      return e ? e.startTime : null;
    }, null, { timeout: 10000 })).jsonValue();
    paints.push(fcp);
  }
  const instances = await seeded.locator("#instances tr[data-id]").count();
  const audit = await seeded.locator("#audit tr[data-revision]").count();
  check(instances === 50, `the seeded page shows ${instances} instances, not 50`);
  check(audit === 100, `the seeded page opens on ${audit} audit records, not 100`);
  const shared = await seeded.locator('#audit tr[data-revision]', { hasText: "the shared rules or metadata" }).count();
  check(shared === 1, `the change of the metadata alone shows ${shared} times, not once`);
  await seeded.click("#older");
  await seeded.waitForFunction(() => document.querySelectorAll("#audit tr[data-revision]").length === 200);
  await shot(seeded, "1-seeded");
  paints.sort((a, b) => a - b);
  say({ figure: "firstPaintMs", instances, auditRecords: 1000, runs: paints.map((p) => Math.round(p)), median: Math.round(paints[2]) });
  await seeded.close();

  // 2. The running fleet's release advances a step.
  const page = watch(await browser.newPage(), "fleet");
  await page.goto(env("FLEET_URL"));
  await page.waitForSelector('#live.on');
  const card = 'article.release[data-id="orders-v2"]';
  await page.waitForSelector(`${card}[data-state="Progressing"]`);
  await page.waitForFunction((c) => Number(document.querySelector(c).dataset.step) >= 1, card, { timeout: 60000 });
  const first = Number(await page.getAttribute(card, "data-step"));
  await shot(page, "2-release-running");
  await page.waitForFunction(([c, s]) => Number(document.querySelector(c).dataset.step) > s, [card, first], { timeout: 60000 });
  const next = Number(await page.getAttribute(card, "data-step"));
  say({ step: "advanced", from: first, to: next });
  await shot(page, "3-release-advanced");

  // 3. Abort it with a reason: the rollback, the decision and the audit record.
  const reason = `browser test: abort at step ${next}`;
  await act(page, `${card} button[data-action="abort"]`, reason);
  await page.waitForSelector(`${card}[data-state="RolledBack"]`, { timeout: 30000 });
  await page.waitForFunction((r) => [...document.querySelectorAll(".decisions tr[data-kind=rollback] td")].some((td) => td.textContent === r), reason);
  await page.waitForFunction(() => {
    const row = document.querySelector("#audit tr[data-revision]");
    return row && row.textContent.includes("orders-v2") && row.textContent.includes("off 100 / on 0");
  });
  check(await page.locator(`${card} button[data-action]`).count() === 0, "a rolled-back release still offers actions");
  say({ step: "aborted", reason });
  await shot(page, "4-release-aborted");

  // 4. Set a flag's weights from the page. A change made by someone else
  // while the dialog was open makes the write fail, never overwrites it.
  const create = 'tr[data-key="orders-create-v2"]';
  const setWeights = async (on, off) => {
    await page.fill('#act-weights input[data-variant="on"]', String(on));
    await page.fill('#act-weights input[data-variant="off"]', String(off));
  };
  await page.click(`${create} button[data-action="weights"]`);
  await page.waitForSelector("#act[open]");
  await setWeights(10, 90);
  await run(env("ROLLSAFE"), ["flags", "weights", "orders-create-v2", "off=50", "on=50", "--dialect", "sqlite",
    "--dsn", env("ROLLSAFE_DSN"), "--reason", "browser test: weights from the CLI", "--actor", "browser-test"]);
  await page.waitForFunction((c) => document.querySelector(c).textContent.includes("off 50 / on 50"), create, { timeout: 10000 });
  await page.fill("#act-reason", "browser test: weights from a stale dialog");
  await page.click("#act-confirm");
  await page.waitForFunction(() => document.getElementById("act-error").textContent !== "");
  const conflict = await page.textContent("#act-error");
  check(/based on revision \d+, the store is at \d+/.test(conflict), `a stale weights dialog was answered: ${conflict}`);
  await page.click("#act-cancel");
  await page.click(`${create} button[data-action="weights"]`);
  await page.waitForSelector("#act[open]");
  await setWeights(10, 90);
  await page.fill("#act-reason", "browser test: weights from the page");
  await page.click("#act-confirm");
  await page.waitForFunction(() => !document.getElementById("act").open || document.getElementById("act-error").textContent);
  check(!(await page.textContent("#act-error")), `the weights were refused: ${await page.textContent("#act-error")}`);
  await page.waitForFunction((c) => document.querySelector(c).textContent.includes("off 90 / on 10"), create, { timeout: 10000 });
  say({ step: "weights", stale: conflict });

  // 5. Kill a flag from the page: every instance's revision catches up.
  const row = 'tr[data-key="orders-summary-v2"]';
  const killedAt = Date.now();
  await act(page, `${row} button[data-action="kill"]`, "browser test: kill from the page");
  await page.waitForSelector(`${row}[data-state="DISABLED"]`);
  const killRev = await revision(page);
  await page.waitForFunction(caughtUp, null, { timeout: 10000 });
  say({ figure: "killToEveryInstanceMs", ms: Date.now() - killedAt, revision: killRev });
  await shot(page, "5-flag-killed");

  // 6. Changes made outside the page reach it: the time from starting the
  // CLI (its process start included) to the page showing the change.
  const cli = (verb) => run(env("ROLLSAFE"), ["flags", verb, "orders-summary-v2", "--dialect", "sqlite",
    "--dsn", env("ROLLSAFE_DSN"), "--reason", `browser test: ${verb} from the CLI`, "--actor", "browser-test"]);
  const reach = [];
  for (const [verb, state] of [["revive", "ENABLED"], ["kill", "DISABLED"], ["revive", "ENABLED"]]) {
    const t0 = Date.now();
    await cli(verb);
    await page.waitForSelector(`${row}[data-state="${state}"]`, { timeout: 10000 });
    reach.push(Date.now() - t0);
  }
  say({ figure: "storeChangeToPageMs", runs: reach });

  // 7. The feed drops: its server is killed, a change is made meanwhile,
  // the server comes back on the same address; the page reconnects by
  // itself, then reads what it missed.
  let server = await serve();
  const addr = server.url;
  const follower = watch(await browser.newPage(), "reconnect");
  await follower.goto(addr);
  await follower.waitForSelector("#live.on");
  server.child.kill("SIGKILL");
  await follower.waitForSelector("#live.off", { timeout: 10000 });
  await cli("kill");
  server = await serve(new URL(addr).host);
  await follower.waitForSelector("#live.on", { timeout: 40000 });
  await follower.waitForSelector(`${row}[data-state="DISABLED"]`, { timeout: 10000 });
  say({ step: "reconnected" });
  await cli("revive");
  await follower.waitForSelector(`${row}[data-state="ENABLED"]`, { timeout: 10000 });
  server.child.kill("SIGTERM");
  await follower.close();

  // 8. Read-only: everything shown, no action button at all.
  const ro = watch(await browser.newPage(), "read-only");
  await ro.goto(env("READONLY_URL"));
  await ro.waitForSelector('tr[data-key="orders-summary-v2"]');
  await ro.waitForSelector('article.release[data-id="orders-v2"]');
  const buttons = await ro.evaluate(() => [...document.querySelectorAll("button")].filter((b) => !b.closest("dialog")).map((b) => b.textContent));
  check(buttons.length === 0, `the read-only page has buttons: ${buttons.join(", ")}`);
  const res = await ro.evaluate(async () => {
    const csrf = document.querySelector('meta[name="rollsafe-csrf"]').content;
    const r = await fetch("api/flags/orders-summary-v2/kill", {
      method: "POST", body: JSON.stringify({ reason: "read-only" }),
      headers: { "Content-Type": "application/json", "X-Rollsafe-CSRF": csrf },
    });
    return r.status;
  });
  check(res === 403, `a write from the read-only page answered ${res}, not 403`);
  say({ step: "read-only", buttons: 0, write: res });
  await shot(ro, "6-read-only");

  // Errors logged on purpose: the stale weights' 409, the refused write of
  // the read-only page, and the reconnecting page while its server was gone.
  const expected = (p) => (p.startsWith("fleet: ") && p.includes("409 (Conflict)")) ||
    (p.startsWith("read-only: ") && p.includes("403")) || (p.startsWith("reconnect: ") && p.includes("net::ERR_"));
  const left = problems.filter((p) => !expected(p));
  check(left.length === 0, "the pages logged errors:\n" + left.join("\n"));
  say({ ok: true });
} catch (e) {
  console.error(e.stack || String(e));
  process.exitCode = 1;
} finally {
  for (const c of children) if (c.exitCode === null) c.kill("SIGKILL");
  await browser.close();
  rmSync(profile, { recursive: true, force: true });
}
