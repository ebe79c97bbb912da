// The technician's view in a real browser: headless Chromium on the Temporal Web UI of a dev server started with
// --ui-codec-endpoint pointing at our codec server, as `npm start` does. Lists hand-offs filtered by TicketId,
// opens one, and checks the input is decoded with the secret "sealed". Screenshot: .artifacts/screenshots/.
// Needs Debian's chromium (`.ci/run` installs it); without it the test is skipped with a message saying so.
import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureTemporalCli } from '../../src/temporal/cli.js';
import { startDevServer, type DevServer } from '../../src/temporal/dev-server.js';
import { freePort } from '../../src/temporal/ports.js';
import { allSearchAttributes } from '../../workflows/search-attributes.js';
import { startTestService, type TestService } from '../helpers/service.js';
import { shareWorkflowId } from '../../workflows/ids.js';

const root = fileURLToPath(new URL('../..', import.meta.url));
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const haveChromium = existsSync(CHROMIUM);
if (!haveChromium)
  console.warn(`[temporal-ui] SKIPPED: no Chromium at ${CHROMIUM} (apt-get install -y chromium, or set CHROMIUM_PATH)`);

/** The UI renders user metadata (Markdown) inside sandboxed frames, which page-level locators do not enter. */
async function waitForTextInAnyFrame(
  page: import('playwright-core').Page,
  text: string,
  timeoutMs = 20_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    for (const frame of page.frames()) {
      if (
        (await frame
          .getByText(text)
          .count()
          .catch(() => 0)) > 0
      )
        return;
    }
    await page.waitForTimeout(250);
  }
  throw new Error(`"${text}" did not appear in the page or any of its frames within ${timeoutMs} ms`);
}

describe.skipIf(!haveChromium)('Temporal UI shows hand-offs decoded through the codec server', () => {
  let dev: DevServer;
  let svc: TestService;
  let uiUrl: string;

  beforeAll(async () => {
    const port = await freePort();
    const uiPort = await freePort();
    uiUrl = `http://127.0.0.1:${uiPort}`;
    dev = await startDevServer({
      cliPath: await ensureTemporalCli({ projectDir: root, env: process.env, log: () => {} }),
      port: await freePort(),
      uiPort,
      searchAttributes: allSearchAttributes,
      uiCodecEndpoint: `http://127.0.0.1:${port}/codec`,
    });
    svc = await startTestService({ PORT: String(port), CODEC_ALLOWED_ORIGINS: uiUrl }, undefined, dev.address);
  }, 60_000);
  afterAll(async () => {
    await svc?.stop();
    await dev?.stop();
  });

  it('lists the hand-off by TicketId, opens it, and shows its input decoded with the secret sealed', async () => {
    const { chromium } = await import('playwright-core');
    const secret = 'Ui-Check-Secret-7781!';
    const ticketId = `T-UI-${Date.now()}`;
    const res = await svc.api('POST', '/v1/shares', {
      ticketId,
      secret: { value: secret },
      link: { channel: 'sms', to: '+15550400001' },
    });
    expect(res.status).toBe(202);
    await svc.waitForState(res.body.shareId, 'awaiting_view', 30_000);

    const browser = await chromium.launch({
      executablePath: CHROMIUM,
      // Playwright already disables background networking, component updates and sync; the resolver rule stops
      // Chromium's own lookups (update checks, accounts, autofill) from leaving the machine (Chromium's
      // --host-resolver-rules switch, net/dns/mapped_host_resolver.h).
      args: [
        '--no-sandbox',
        '--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1',
        '--disable-features=AutofillServerCommunication',
      ],
    });
    const codecCalls: number[] = [];
    try {
      const page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
      page.on('response', (r) => {
        if (r.url().includes('/codec/decode') && r.request().method() === 'POST') codecCalls.push(r.status());
      });
      const query = encodeURIComponent(`TicketId="${ticketId}"`);
      await page.goto(`${uiUrl}/namespaces/default/workflows?query=${query}`);
      const dir = join(root, '.artifacts', 'screenshots');
      await mkdir(dir, { recursive: true });
      const row = page.locator(`a:text("${shareWorkflowId(res.body.shareId)}"):visible`).first();
      await row.waitFor({ timeout: 30_000 });
      await page.screenshot({ path: join(dir, 'temporal-ui-list.png') });
      await row.click();
      await page.locator(':text("sealed"):visible').first().waitFor({ timeout: 30_000 });
      await expect(page.locator(`:text("${ticketId}"):visible`).first().isVisible()).resolves.toBe(true);
      expect(await page.locator(':text("Codec Server could not connect"):visible').count()).toBe(0);
      const html = await page.content();
      expect(html).not.toContain(secret);
      await page.screenshot({ path: join(dir, 'temporal-ui-handoff.png'), fullPage: true });
      // The summary a technician recognises the hand-off by (static user metadata, decoded too).
      await page.locator(':text("User Metadata"):visible').first().click();
      await waitForTextInAnyFrame(page, `Ticket ${ticketId}: link by SMS to +155*****001`);
      // The UI renders the Markdown in sandboxed frames that paint a moment later: only the picture waits for them.
      await page.waitForTimeout(1_500);
      await page.screenshot({ path: join(dir, 'temporal-ui-metadata.png') });
    } finally {
      await browser.close();
    }
    expect(codecCalls.length).toBeGreaterThan(0);
    expect(codecCalls.every((s) => s === 200)).toBe(true);
    await svc.expectNoLeaksIn({ secrets: [secret], shareIds: [res.body.shareId] });
  }, 90_000);
});
