// Reviews results of a matching run in the review UI by keyboard alone, in Debian's headless
// Chromium, as tests/system/tests/api/ui.rs asks:
//
//   node review.mjs BASE_URL KEY RUN_ID COUNT SCREENSHOT_DIR
//
// Signs in with KEY, opens the run, starts the queue with `j`, and decides COUNT results with one
// key each (`a` approve; `1` picks the first candidate where nothing is matched), then undoes
// nothing. Every request the page makes is recorded: one to another origin fails the run.
// Screenshots of the runs page, the run and a result go to SCREENSHOT_DIR (when not empty).
// Prints one JSON line: {decisions: [{document_id, key}], keystrokes, requests, foreign,
// decisions_ms (from the first decision's page to the last decision's answer)}.
import { chromium } from "playwright-core";

const [base, key, runId, countText, shots] = process.argv.slice(2);
const count = Number(countText);
const origin = new URL(base).origin;

const browser = await chromium.launch({
  executablePath: process.env.CONCORD_CHROMIUM || "/usr/bin/chromium",
  headless: true,
  args: ["--no-sandbox", "--disable-gpu"],
});
let failure = null;
const out = { decisions: [], keystrokes: 0, requests: 0, foreign: [], decisions_ms: 0 };
try {
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  const page = await context.newPage();
  page.setDefaultTimeout(20000);
  page.on("request", (request) => {
    out.requests += 1;
    const url = new URL(request.url());
    if (url.origin !== origin && url.protocol !== "data:") out.foreign.push(request.url());
  });
  const press = async (keyName) => {
    out.keystrokes += 1;
    await Promise.all([page.waitForNavigation({ waitUntil: "load" }), page.keyboard.press(keyName)]);
  };

  // Sign in (typing the key is the one thing done without a shortcut).
  await page.goto(`${base}/ui/runs`);
  if (!page.url().endsWith("/ui/login")) throw new Error(`not sent to sign in: ${page.url()}`);
  await page.fill("#key", key);
  await Promise.all([page.waitForNavigation(), page.keyboard.press("Enter")]);
  out.keystrokes += 1;
  if (!page.url().endsWith("/ui/runs")) throw new Error(`sign-in failed: ${page.url()}`);
  if (shots) await page.screenshot({ path: `${shots}/runs.png` });

  await page.goto(`${base}/ui/runs/${runId}`);
  if (shots) await page.screenshot({ path: `${shots}/run.png`, fullPage: true });
  await press("j");
  if (shots) await page.screenshot({ path: `${shots}/result.png`, fullPage: true });

  const started = Date.now();
  for (let i = 0; i < count; i += 1) {
    const status = await page.getAttribute("#status", "data-status");
    if (status !== "needs_review" && status !== "unreviewed") {
      throw new Error(`result ${i} is not waiting for review: ${status} at ${page.url()}`);
    }
    const heading = await page.textContent("h1");
    const documentId = heading.replace(/^Document\s+/, "").split(/\s+/)[0];
    const approve = page.locator('[data-key="a"]');
    const keyName = (await approve.isDisabled()) ? "1" : "a";
    await press(keyName);
    out.decisions.push({ document_id: documentId, key: keyName });
  }
  out.decisions_ms = Date.now() - started;
} catch (error) {
  failure = error;
} finally {
  await browser.close();
}
console.log(JSON.stringify(out));
if (failure) {
  console.error(failure.stack || String(failure));
  process.exit(1);
}
