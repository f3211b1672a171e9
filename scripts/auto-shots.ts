/**
 * Pictures of an auto run's report for docs/batch-size.md, section 7: `dptrain report RUN`'s
 * charts of B(t) and φ(t), the predicted goodput and the learning-rate gain, screenshotted in
 * Chromium (/usr/bin/chromium through playwright-core; nothing is downloaded).
 *
 * Run: `npm run build && node dist/scripts/auto-shots.js RUN_DIR [PREFIX]` (default prefix
 * docs/img/batch-size-auto-), writing PREFIX<chart>.png.
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { writeReport } from '../src/study/index.js';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const [runDir, prefix = path.join(repoRoot, 'docs', 'img', 'batch-size-auto-')] = process.argv.slice(2);
const { file } = await writeReport(runDir);
const { chromium } = await import('playwright-core');
const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--no-first-run'] });
try {
  const page = await browser.newPage({ viewport: { width: 1000, height: 900 } });
  await page.goto('file://' + path.resolve(file));
  await page.waitForSelector('body[data-charts-ready]', { timeout: 30_000 });
  for (const id of ['adaptive-batch', 'adaptive-goodput', 'adaptive-gain']) {
    await page.locator(`section#${id}`).screenshot({ path: `${prefix}${id.replace('adaptive-', '')}.png` });
    console.error(`wrote ${prefix}${id.replace('adaptive-', '')}.png`);
  }
} finally {
  await browser.close();
}
