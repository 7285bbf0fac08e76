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
    const posts: string[] = [];
    const onRequest = (request: import('playwright-core').Request) => {
      if (request.method() === 'POST') posts.push(`${new URL(request.url()).pathname} ${request.postData()}`);
    };
    page.on('request', onRequest);
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
    // Sent once (explain with top_k), scaled down to just cover the 64x64 input: 160x100 -> 102x64.
    page.off('request', onRequest);
    expect(posts.length).toBe(1);
    const [route, body] = posts[0].split(' ');
    expect(route).toBe('/v1/models/carclass:explain');
    const sent = JSON.parse(body);
    expect(sent.top_k).toBe(5);
    const sentMeta = await sharp(Buffer.from(sent.instances[0].b64, 'base64')).metadata();
    expect([sentMeta.format, sentMeta.width, sentMeta.height]).toEqual(['jpeg', 102, 64]);
    // The overlay shows the whole sent picture with the 64x64 central crop framed where crop_or_pad took it.
    await page.waitForSelector('#overlay-view', { state: 'visible' });
    expect(await page.$eval('#overlay-view', (c) => [(c as HTMLCanvasElement).width, (c as HTMLCanvasElement).height, (c as HTMLCanvasElement).dataset.crop])).toEqual([102, 64, '19,0,64,64']);
    // Inside the frame the overlay is opaque; outside, the picture is dimmed towards grey.
    const [inside, outside] = await page.$eval('#overlay-view', (c) => {
      const g = (c as HTMLCanvasElement).getContext('2d') as CanvasRenderingContext2D;
      return [Array.from(g.getImageData(50, 10, 1, 1).data), Array.from(g.getImageData(5, 10, 1, 1).data)];
    });
    expect(inside).not.toEqual(outside);
    expect(Math.abs(outside[2] - Math.round(0.55 * 0xea + 0.45 * 200))).toBeLessThanOrEqual(12); // blue 200 over #e3e6ea at alpha 0.45

    const screenshot = path.join(os.tmpdir(), 'carclass-serve-page.png');
    await page.screenshot({ path: screenshot, fullPage: true });
    const meta = await sharp(screenshot).metadata();
    expect(meta.format).toBe('png');
    expect(meta.width).toBeGreaterThan(600);
    fs.rmSync(picture);
  });

  test('a large photo is scaled down in the browser and sent once as a small JPEG', async () => {
    const big = path.join(os.tmpdir(), `carclass-page-big-${process.pid}.jpg`);
    const noise = Buffer.alloc(3000 * 2000 * 3);
    for (let i = 0; i < noise.length; i++) noise[i] = (i * 2654435761) >>> 24;
    await sharp(noise, { raw: { width: 3000, height: 2000, channels: 3 } }).jpeg({ quality: 95 }).toFile(big);
    expect(fs.statSync(big).size).toBeGreaterThan(3_000_000);
    const sizes: number[] = [];
    const onRequest = (request: import('playwright-core').Request) => {
      if (request.method() === 'POST') sizes.push(request.postData()?.length ?? 0);
    };
    page.on('request', onRequest);
    try {
      await page.setInputFiles('#file', big);
      await page.waitForFunction(() => (document.getElementById('overlay-caption')?.textContent ?? '').includes('scaled down in the browser'));
      expect(sizes.length).toBe(1);
      expect(sizes[0]).toBeLessThan(40_000);
      expect(await page.$eval('#overlay-view', (c) => (c as HTMLCanvasElement).dataset.crop)).toBe('16,0,64,64'); // 96x64
    } finally {
      page.off('request', onRequest);
      fs.rmSync(big);
    }
  });

  test('errors replace "computing…" and broken images with a readable message', async () => {
    const text = path.join(os.tmpdir(), `carclass-page-text-${process.pid}.jpg`);
    fs.writeFileSync(text, 'not a picture at all');
    try {
      await page.setInputFiles('#file', text);
      await page.waitForSelector('#error', { state: 'visible' });
      expect(await page.textContent('#error')).toMatch(/^Could not analyse this picture: this browser cannot read "carclass-page-text-\d+\.jpg" \(image\/jpeg\) as a picture$/);
      expect(await page.textContent('#overlay-caption')).toBe('No result for this picture.');
      await page.waitForSelector('#input-image', { state: 'hidden' });
      expect(await page.isVisible('#overlay-view')).toBe(false);
      expect(await page.isVisible('#overlay')).toBe(false);
      // A server-side failure shows the server's reason.
      await page.route('**/*:explain', (route) => route.fulfill({ status: 503, contentType: 'application/json', body: '{"error":"the engine is warming up"}' }));
      await page.click('#samples button[title="Red Roadster"]');
      await page.waitForFunction(() => (document.getElementById('error')?.textContent ?? '').includes('the engine is warming up'));
      expect(await page.textContent('#error')).toBe('Could not analyse this picture: the server refused it (HTTP 503): the engine is warming up');
      expect(await page.textContent('#overlay-caption')).toBe('No result for this picture.');
      expect(await page.isVisible('#input-image')).toBe(true);
    } finally {
      await page.unroute('**/*:explain');
      fs.rmSync(text);
    }
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

  /** A second server over the samples `fill` writes into a fresh folder, and a page on it; everything is removed after. */
  async function withSamplesPage(fill: (dir: string) => Promise<void>, use: (second: Page) => Promise<void>): Promise<void> {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'carclass-page-samples-'));
    await fill(dir);
    const other = createServer(createColourBackend({ height: 64, width: 64 }), { port: 0, samplesDir: dir });
    const { url: otherUrl } = await other.listen();
    const second = await context.newPage();
    try {
      await second.goto(otherUrl);
      await second.waitForSelector('body[data-ready="true"]');
      await use(second);
    } finally {
      await second.close();
      await other.close();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  }

  test('without labelled samples the game explains what it needs and shows no broken round', async () => {
    await withSamplesPage(async (dir) => {
      await sharp({ create: { width: 40, height: 30, channels: 3, background: { r: 9, g: 9, b: 9 } } }).jpeg().toFile(path.join(dir, 'Mystery_Car_x.jpg'));
    }, async (second) => {
      expect(await second.$$eval('#samples button', (b) => b.length)).toBe(1);
      await second.click('#tab-game');
      await second.waitForSelector('#game-empty', { state: 'visible' });
      expect(await second.textContent('#game-empty')).toMatch(/^None of the 1 sample pictures has a name that starts with one of the model's 6 classes \(for example "Red_Roadster_2019_\.\.\.\.jpg"\)/);
      expect(await second.isVisible('#round')).toBe(false);
      expect(await second.isVisible('#next-round')).toBe(false);
    });
  });

  test('beat the AI draws classes evenly, not samples: one Blue Sedan among ten Red Roadsters comes up about half the time', async () => {
    await withSamplesPage(async (dir) => {
      const red = await sharp({ create: { width: 64, height: 64, channels: 3, background: { r: 200, g: 40, b: 40 } } }).jpeg().toBuffer();
      for (let i = 0; i < 10; i++) fs.writeFileSync(path.join(dir, `Red_Roadster_${i}.jpg`), red);
      await sharp({ create: { width: 64, height: 64, channels: 3, background: { r: 40, g: 60, b: 200 } } }).jpeg().toFile(path.join(dir, 'Blue_Sedan_0.jpg'));
      fs.writeFileSync(path.join(dir, 'Mystery_Car_0.jpg'), red);
    }, async (second) => {
      await second.click('#tab-game');
      await second.waitForSelector('#round', { state: 'visible' });
      expect(await second.textContent('#game-note')).toBe("1 of 12 samples are left out: their names match none of the model's classes.");
      let blue = 0;
      const rounds = 40;
      for (let i = 0; i < rounds; i++) {
        if (i > 0) await second.click('#next-round');
        if ((await second.getAttribute('#game-image', 'src'))?.includes('Blue_Sedan')) blue++;
      }
      // Even classes: Binomial(40, 0.5), P(< 10) = 0.0003. Sample-uniform draws would give Binomial(40, 1/11), mean 3.6.
      expect(blue).toBeGreaterThanOrEqual(10);
      expect(blue).toBeLessThanOrEqual(30);
    });
  });
});
