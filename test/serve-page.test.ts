/// <reference lib="dom" />
// The web page end to end in headless Chromium (Debian `chromium` + playwright-core), over the colour fake backend.
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import sharp from 'sharp';
import { chromium, BrowserContext, Page } from 'playwright-core';
import { createServer, createColourBackend, ModelServer } from '../lib/serve';

const CHROMIUM = '/usr/bin/chromium';
const ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
  '--disable-component-update', '--disable-sync'];
const available = fs.existsSync(CHROMIUM);
const suite = available ? describe : describe.skip;
if (!available) {
  // eslint-disable-next-line no-console
  console.warn(`serve-page tests skipped: ${CHROMIUM} is missing (install it: apt-get install -y chromium)`);
}

suite(`web page in headless Chromium (${CHROMIUM})`, () => {
  let server: ModelServer;
  let url: string;
  let context: BrowserContext;
  let page: Page;
  let userDataDir: string;
  const pageErrors: string[] = [];

  beforeAll(async () => {
    server = createServer(createColourBackend({ height: 64, width: 64 }), { port: 0 });
    ({ url } = await server.listen());
    userDataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'carclass-chromium-'));
    context = await chromium.launchPersistentContext(userDataDir, { executablePath: CHROMIUM, headless: true, args: ARGS, viewport: { width: 1200, height: 900 } });
    page = context.pages()[0] ?? (await context.newPage());
    page.on('pageerror', (error) => pageErrors.push(error.message));
    await page.goto(url);
    await page.waitForSelector('body[data-ready="true"]');
  });

  afterAll(async () => {
    await context?.close();
    await server?.close();
    if (userDataDir) fs.rmSync(userDataDir, { recursive: true, force: true });
  });

  test('upload a picture: top-5 predictions and the Grad-CAM overlay are shown; screenshot saved', async () => {
    expect(await page.textContent('#model-info')).toContain('6 classes');
    // A blue picture with a grey block: the colour model must say Blue_Sedan.
    const picture = path.join(os.tmpdir(), `carclass-page-upload-${process.pid}.jpg`);
    const block = await sharp({ create: { width: 60, height: 30, channels: 3, background: { r: 128, g: 128, b: 128 } } }).png().toBuffer();
    await sharp({ create: { width: 160, height: 100, channels: 3, background: { r: 40, g: 60, b: 200 } } })
      .composite([{ input: block, left: 50, top: 50 }]).jpeg().toFile(picture);
    await page.setInputFiles('#file', picture);

    await page.waitForFunction(() => document.querySelectorAll('#predictions li').length === 5);
    const rows = await page.$$eval('#predictions li', (items) => items.map((li) => li.textContent ?? ''));
    expect(rows[0]).toMatch(/^Blue Sedan\s*\d+\.\d %$/);
    const percents = rows.map((row) => Number(/([\d.]+) %/.exec(row)?.[1]));
    expect([...percents].sort((a, b) => b - a)).toEqual(percents);

    await page.waitForFunction(() => {
      const img = document.getElementById('overlay') as HTMLImageElement;
      return img.src.startsWith('data:image/jpeg;base64,') && img.complete && img.naturalWidth === 64;
    });
    expect(await page.textContent('#overlay-caption')).toContain('Blue Sedan');
    expect(await page.isVisible('#error')).toBe(false);

    const screenshot = path.join(os.tmpdir(), 'carclass-serve-page.png');
    await page.screenshot({ path: screenshot, fullPage: true });
    const meta = await sharp(screenshot).metadata();
    expect(meta.format).toBe('png');
    expect(meta.width).toBeGreaterThan(600);
    fs.rmSync(picture);
  });

  test('pick a sample: its predictions replace the previous ones', async () => {
    await page.click('#samples button[title="Yellow Cab"]');
    await page.waitForFunction(() => document.querySelector('#predictions li')?.textContent?.startsWith('Yellow Cab'));
    await page.waitForFunction(() => (document.getElementById('overlay-caption')?.textContent ?? '').includes('Yellow Cab'));
  });

  test('beat the AI: four choices including the truth, then the verdict, model answer and heatmap are revealed', async () => {
    expect(await page.isVisible('#result')).toBe(true);
    expect(await page.isVisible('#game')).toBe(false);
    await page.click('#tab-game');
    expect(await page.isVisible('#game-empty')).toBe(false);
    await page.waitForFunction(() => document.querySelectorAll('#choices button').length === 4);
    const sampleUrl = await page.getAttribute('#game-image', 'src');
    const truth = decodeURIComponent(sampleUrl ?? '').replace(/^\/samples\//, '').replace(/_demo\.jpg$/, '');
    const labels = await page.$$eval('#choices button', (buttons) => buttons.map((b) => (b as HTMLButtonElement).dataset.label));
    expect(labels).toContain(truth);
    expect(new Set(labels).size).toBe(4);
    expect(await page.isVisible('#reveal')).toBe(false);

    await page.click(`#choices button[data-label="${truth}"]`);
    await page.waitForSelector('#reveal', { state: 'visible' });
    expect(await page.textContent('#verdict')).toMatch(/^You got it; it is a .* The model got it too/);
    expect(await page.textContent('#score-you')).toBe('1');
    expect(await page.textContent('#score-ai')).toBe('1');
    expect(await page.$$eval('#game-predictions li.truth', (items) => items.length)).toBe(1);
    await page.waitForFunction(() => (document.getElementById('game-overlay') as HTMLImageElement).naturalWidth === 64);
    await page.screenshot({ path: path.join(os.tmpdir(), 'carclass-serve-game.png'), fullPage: true });

    // A wrong guess is marked and not scored.
    await page.click('#next-round');
    await page.waitForFunction(() => !document.querySelector('#choices button[disabled]'));
    const nextTruth = decodeURIComponent((await page.getAttribute('#game-image', 'src')) ?? '').replace(/^\/samples\//, '').replace(/_demo\.jpg$/, '');
    const wrong = (await page.$$eval('#choices button', (b) => b.map((x) => (x as HTMLButtonElement).dataset.label))).find((l) => l !== nextTruth);
    await page.click(`#choices button[data-label="${wrong}"]`);
    await page.waitForSelector('#reveal', { state: 'visible' });
    expect(await page.textContent('#score-you')).toBe('1');
    expect(await page.getAttribute(`#choices button[data-label="${wrong}"]`, 'class')).toContain('wrong');
    expect(pageErrors).toEqual([]);
  });

  test('without labelled samples the game explains what it needs and shows no broken round', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'carclass-page-samples-'));
    await sharp({ create: { width: 40, height: 30, channels: 3, background: { r: 9, g: 9, b: 9 } } }).jpeg().toFile(path.join(dir, 'Mystery_Car_x.jpg'));
    const other = createServer(createColourBackend({ height: 64, width: 64 }), { port: 0, samplesDir: dir });
    const { url: otherUrl } = await other.listen();
    const second = await context.newPage();
    try {
      await second.goto(otherUrl);
      await second.waitForSelector('body[data-ready="true"]');
      expect(await second.$$eval('#samples button', (b) => b.length)).toBe(1);
      await second.click('#tab-game');
      await second.waitForSelector('#game-empty', { state: 'visible' });
      expect(await second.isVisible('#round')).toBe(false);
      expect(await second.isVisible('#next-round')).toBe(false);
    } finally {
      await second.close();
      await other.close();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
