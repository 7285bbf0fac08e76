// Independent reference: a Keras-semantics interpreter in Python (NHWC, HWIO kernels, explicit
// ZeroPadding then 'valid' ops, BN inference with eps 1.001e-5) reads our checkpoint and must give
// the same probabilities as predictOnBatch. Skipped when /usr/bin/python3 has no torch.
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { createModel } from '../lib/model';
import { colourTask } from './helpers-model';

const PY = '/usr/bin/python3';
const hasTorch = spawnSync(PY, ['-c', 'import torch, numpy'], { encoding: 'utf8' }).status === 0;

const SCRIPT = String.raw`
import json, sys, struct
import numpy as np, torch, torch.nn.functional as F
layers = json.load(open(sys.argv[1]))
raw = open(sys.argv[2], 'rb').read()
n = struct.unpack('<Q', raw[:8])[0]
header = json.loads(raw[8:8 + n])
def w(name):
    h = header[name]; a, b = h['data_offsets']
    return torch.from_numpy(np.frombuffer(raw[8 + n + a: 8 + n + b], dtype='<f4').reshape(h['shape']).astype(np.float64))
x = torch.from_numpy(np.fromfile(sys.argv[3], dtype='<f4').reshape([int(v) for v in sys.argv[4].split(',')]).astype(np.float64))
outs = {}
for L in layers:
    t = L['type']; name = L['name']; ins = [outs[i] for i in L['inputs']]
    if t == 'InputLayer': y = x
    elif t == 'ZeroPadding2D':
        ph = (L['outputShape'][0] - ins[0].shape[1]) // 2; pw = (L['outputShape'][1] - ins[0].shape[2]) // 2
        y = F.pad(ins[0], (0, 0, pw, pw, ph, ph))
    elif t == 'Conv2D':
        k = w(name + '/kernel')  # HWIO
        inp = ins[0].permute(0, 3, 1, 2)
        same = name.startswith('block')  # VGG16: 'same' padding, stride 1
        pad = k.shape[0] // 2 if same else 0
        hin, win = inp.shape[2] + 2 * pad, inp.shape[3] + 2 * pad
        oh, ow = L['outputShape'][0], L['outputShape'][1]
        stride = next(s for s in (1, 2, 3) if (hin - k.shape[0]) // s + 1 == oh and (win - k.shape[1]) // s + 1 == ow)
        y = F.conv2d(inp, k.permute(3, 2, 0, 1), w(name + '/bias') if (name + '/bias') in header else None, stride=stride, padding=pad)
        y = y.permute(0, 2, 3, 1)
        if name.startswith('block'): y = F.relu(y)
    elif t == 'BatchNormalization':
        y = (ins[0] - w(name + '/moving_mean')) / torch.sqrt(w(name + '/moving_variance') + 1.001e-5) * w(name + '/gamma') + w(name + '/beta')
    elif t == 'Activation': y = F.relu(ins[0])
    elif t == 'MaxPooling2D':
        inp = ins[0].permute(0, 3, 1, 2); oh = L['outputShape'][0]
        if name.startswith('max_pooling2d'): y = inp[:, :, ::2, ::2]
        elif name == 'pool1_pool': y = F.max_pool2d(inp, 3, 2)
        else: y = F.max_pool2d(inp, 2, 2)
        y = y.permute(0, 2, 3, 1); assert y.shape[1] == oh, name
    elif t == 'Add': y = ins[0] + ins[1]
    elif t == 'GlobalAveragePooling2D': y = ins[0].mean((1, 2))
    elif t == 'Flatten': y = ins[0].reshape(ins[0].shape[0], -1)
    elif t == 'Dropout': y = ins[0]
    elif t == 'Dense':
        y = ins[0] @ w(name + '/kernel') + w(name + '/bias')
        y = torch.softmax(y, 1) if name in ('head_pred', 'predictions') else F.relu(y)
    else: raise SystemExit('unknown layer type ' + t)
    assert list(y.shape[1:]) == L['outputShape'], (name, list(y.shape), L['outputShape'])
    outs[name] = y
print(json.dumps(outs[layers[-1]['name']].reshape(-1).tolist()))
`;

(hasTorch ? test : test.skip).each([
  ['resnet-tiny', 'gap', 64, 80],
  ['resnet-small', 'gap', 48, 40],
  ['vgg16', 'vgg', 64, 64],
] as const)('%s with head %s matches the Python Keras-semantics reference', async (arch, head, h, w) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'carclass-parity-'));
  try {
    const m = await createModel({ arch, head, numClasses: 3, inputShape: [h, w, 3], unfreeze: 'all', seed: 3 });
    m.compile({ optimizer: { name: 'adam', learningRate: 1e-3 } });
    await m.trainOnBatch(colourTask(4, h, w, 1)); // non-trivial BN moving statistics
    await m.trainOnBatch(colourTask(4, h, w, 2));
    // sharpen the head so the probabilities are far from uniform and any deviation shows
    const weights = await m.getWeights();
    const kernel = weights['head_pred/kernel'];
    await m.setWeights({ 'head_pred/kernel': { shape: kernel.shape, data: kernel.data.map((v) => v * 50) } }, { allowPartial: true });
    const input = colourTask(3, h, w, 5);
    const ours = await m.predictOnBatch(input);
    expect(Math.max(...ours)).toBeGreaterThan(0.45);
    const files = await m.save(path.join(dir, 'm'));
    const layersFile = path.join(dir, 'layers.json');
    fs.writeFileSync(layersFile, JSON.stringify(m.layers()));
    const xFile = path.join(dir, 'x.f32');
    fs.writeFileSync(xFile, Buffer.from(input.x.buffer));
    const scriptFile = path.join(dir, 'ref.py');
    fs.writeFileSync(scriptFile, SCRIPT);
    const r = spawnSync(PY, [scriptFile, layersFile, files.weights, xFile, input.shape.join(',')], { encoding: 'utf8', env: { ...process.env, OMP_NUM_THREADS: '1' } });
    expect(r.stderr).toBe('');
    const ref: number[] = JSON.parse(r.stdout);
    expect(ref).toHaveLength(ours.length);
    for (let i = 0; i < ref.length; i++) expect(Math.abs(ours[i] - ref[i])).toBeLessThan(2e-4);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
