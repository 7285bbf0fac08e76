// `carclass serve` and `carclass explain`: the serving module parses its own flags; the engine is wired in here.
import { Command, UsageError } from './command';
import { serveCommand, parseServeArgs, explainCommand, parseExplainArgs, EngineDeps } from '../serve/commands';
import { loadModel } from '../model';
import { decodeImage } from '../image';

const engine: EngineDeps = { loadModel: (checkpoint) => loadModel(checkpoint), decodeImage };

function parsed<T>(parse: () => T): T {
  try {
    return parse();
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
}

export const serveCliCommand: Command = {
  name: 'serve',
  summary: 'Serves a checkpoint over the TF Serving REST API (:predict, :classify, :explain) with a web page at /.',
  usage: 'carclass serve <checkpoint> [--port 8501] [--host 127.0.0.1] [--name carclass] [--samples dir] [--demo]',
  help: [
    '--max-batch-size 32 --max-wait-ms 5   dynamic batching of concurrent requests',
    '--max-body-bytes --max-instances --request-timeout-ms --max-concurrency   limits (violations get a 4xx JSON error)',
    '--cors   answer CORS requests from the server\'s own origin only (off by default)',
    '--quiet   no log line per request',
    '--max-decode-pixels 200000000   most pixels the b64 images of one request may declare (413 beyond)',
    '--max-decode-ms 10000   most time the b64 images of one request may take to decode (413 beyond)',
    '--demo   serve a colour-classifier backend without a checkpoint (tries the page and API)',
  ],
  options: {},
  rawArgs: true,
  async run(_v, argv) {
    const options = parsed(() => parseServeArgs(argv));
    const { url } = await serveCommand(options, engine);
    console.log(`carclass serve: listening on ${url} (POST ${url}/v1/models/${options.name ?? 'carclass'}:predict); Ctrl-C stops`);
    await new Promise<void>(() => undefined); // runs until a signal shuts the server down
    return 0;
  },
};

export const explainCliCommand: Command = {
  name: 'explain',
  summary: 'Grad-CAM for one image: writes the heatmap blended over the picture (PNG or JPEG).',
  usage: 'carclass explain <image> --checkpoint <path> [--class N | --label L] [--layer conv5_block3_3_conv] [--out out.png] [--format png|jpeg] [--alpha 0.4] [--heatmap h.json]',
  options: {},
  rawArgs: true,
  async run(_v, argv) {
    // --out FILE (as every other command spells it) is --output.
    const args = argv.flatMap((a) => (a === '--out' ? ['--output'] : a.startsWith('--out=') ? ['--output', a.slice(6)] : [a]));
    const { image, options } = parsed(() => parseExplainArgs(args));
    const r = await explainCommand(image, options, engine);
    console.log(`${image}: ${r.label} (${(r.probability * 100).toFixed(1)} %), overlay ${r.output}${r.heatmapOutput ? `, heatmap ${r.heatmapOutput}` : ''}`);
    return 0;
  },
};
