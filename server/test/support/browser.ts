// Real headless Chromium for the browser tests (Debian `chromium`, driven by playwright-core),
// and the page problems every browser test fails on: script errors, console errors and CSP
// violations (which the page itself reports, so none goes unnoticed).
import { existsSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';

export const CHROMIUM = '/usr/bin/chromium';

export function launchChromium(): Promise<Browser> {
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: apt-get install -y chromium`);
  return chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
  });
}

/** Collects the page's console errors, uncaught errors and the context's CSP violations. */
export async function recordProblems(context: BrowserContext, page: Page, problems: string[]) {
  page.on('console', (msg) => {
    if (msg.type() === 'error') problems.push(msg.text());
  });
  page.on('pageerror', (err) => problems.push(String(err)));
  await context.addInitScript(() => {
    document.addEventListener('securitypolicyviolation', (e) =>
      console.error(`CSP violation: ${e.violatedDirective}`),
    );
  });
}

/**
 * Where browser tests put their pictures: build/screenshots (ignored by git), so a test run never
 * changes tracked files. `make screenshots` copies them into docs/screenshots on purpose.
 */
export const SCREENSHOTS = path.resolve(import.meta.dirname, '../../../build/screenshots');

/** A still picture for the docs (build/screenshots/FILE): transitions finished, toasts hidden. */
export async function screenshot(
  page: Page,
  file: string,
  clip?: { x: number; y: number; width: number; height: number },
) {
  mkdirSync(SCREENSHOTS, { recursive: true });
  // Toasts are hidden through the CSSOM, not an injected <style>: the pages' CSP (style-src
  // 'self') would refuse that and report a violation.
  await page.evaluate(() => {
    for (const el of document.querySelectorAll<HTMLElement>('.el-message')) el.style.display = 'none';
  });
  await page.screenshot({
    ...(clip ? { clip } : {}),
    path: path.join(SCREENSHOTS, file),
    animations: 'disabled',
    caret: 'hide',
  });
}

/** The two window sizes the browser tests use: an agent's desktop and a visitor's laptop. */
export const DESKTOP = { width: 1440, height: 900 } as const;
export const LAPTOP = { width: 1280, height: 800 } as const;

/**
 * A page in a context of its own (its own cookies: one signed-in person or one visitor), with the
 * page problems recorded into `problems` and a default timeout for every wait.
 */
export async function openPage(
  browser: Browser,
  problems: string[],
  opts: { viewport?: { width: number; height: number }; locale?: string; timeoutMs?: number } = {},
): Promise<{ context: BrowserContext; page: Page }> {
  const context = await browser.newContext({
    viewport: opts.viewport ?? DESKTOP,
    ...(opts.locale !== undefined ? { locale: opts.locale } : { locale: 'zh-CN' }),
  });
  const page = await context.newPage();
  page.setDefaultTimeout(opts.timeoutMs ?? 10_000);
  await recordProblems(context, page, problems);
  return { context, page };
}
