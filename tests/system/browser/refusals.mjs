// What the review UI refuses, as a browser meets it (tests/system/tests/api/ui.rs):
//
//   node refusals.mjs BASE_URL READ_KEY OTHER_KEY WRITE_KEY RUN_ID RESULT_ID
//
// * a read-only key's reviewer sees the result with no decision form, and pressing `a` decides
//   nothing (the page stays);
// * another organisation's reviewer gets a 404 page for the run;
// * a decision form submitted without its CSRF token (the field removed in the page) is refused
//   with a 403 page.
// Prints one JSON line: {read_only_form, read_only_url_kept, other_org_status, csrf_status}.
import { chromium } from "playwright-core";

const [base, readKey, otherKey, writeKey, runId, resultId] = process.argv.slice(2);
const resultUrl = `${base}/ui/runs/${runId}/results/${resultId}`;
const browser = await chromium.launch({
  executablePath: process.env.CONCORD_CHROMIUM || "/usr/bin/chromium",
  headless: true,
  args: ["--no-sandbox", "--disable-gpu"],
});
let failure = null;
const out = {};
const signIn = async (key) => {
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  const page = await context.newPage();
  page.setDefaultTimeout(20000);
  await page.goto(`${base}/ui/login`);
  await page.fill("#key", key);
  await Promise.all([page.waitForNavigation(), page.keyboard.press("Enter")]);
  return page;
};
try {
  const reader = await signIn(readKey);
  await reader.goto(resultUrl);
  out.read_only_form = await reader.locator("form.decide").count();
  await reader.keyboard.press("a");
  await reader.waitForTimeout(300);
  out.read_only_url_kept = reader.url() === resultUrl;

  const stranger = await signIn(otherKey);
  const response = await stranger.goto(`${base}/ui/runs/${runId}`);
  out.other_org_status = response.status();

  const writer = await signIn(writeKey);
  await writer.goto(resultUrl);
  await writer.evaluate(() => document.querySelector('form.decide input[name="csrf"]').remove());
  const [answer] = await Promise.all([
    writer.waitForResponse((r) => r.url().endsWith("/decide")),
    writer.click('form.decide button[value="rejected"]'),
  ]);
  out.csrf_status = answer.status();
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
