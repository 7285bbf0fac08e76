// Reads and writes Keras weight files (HDF5) with h5wasm, in a layout-neutral form.
import * as fs from 'fs';
import * as path from 'path';

/** The weight kinds Keras uses for Conv2D, Dense and BatchNormalization, in Keras order. */
export const KERAS_WEIGHT_KINDS = ['kernel', 'bias', 'gamma', 'beta', 'moving_mean', 'moving_variance'] as const;
export type KerasWeightKind = (typeof KERAS_WEIGHT_KINDS)[number];

export interface KerasWeight {
  /** `kernel`, `bias`, `gamma`, `beta`, `moving_mean`, `moving_variance`, or another Keras variable name. */
  kind: string;
  /** Name as stored: `conv1_conv/kernel:0` (Keras 2) or `vars/0` (Keras 3). */
  storedName: string;
  shape: number[];
  data: Float32Array;
}

export interface KerasLayerWeights {
  /** Keras layer name (Keras 2), or the store path below `layers/` (Keras 3, e.g. `conv2d_3`). */
  name: string;
  weights: KerasWeight[];
}

export interface KerasWeightsFile {
  format: 'keras2' | 'keras3';
  path: string;
  /** Every layer named in the file, weightless ones included, in file order. */
  layerNames: string[];
  /** Layers that hold weights, in file order. */
  layers: KerasLayerWeights[];
  backend?: string;
  kerasVersion?: string;
}

export interface WriteLayer {
  name: string;
  weights: { kind: string; shape: number[]; data: Float32Array }[];
}

export interface WriteKerasOptions {
  /** All layer names in Keras order, weightless ones included (Keras writes them all). Defaults to `layers` names. */
  layerNames?: string[];
  kerasVersion?: string;
  backend?: string;
}

// HDF5 caps an attribute header at 64 KiB; Keras splits longer name lists into name0, name1, ...
const ATTRIBUTE_BYTES_LIMIT = 64512;
const HDF5_SIGNATURE = Buffer.from([0x89, 0x48, 0x44, 0x46, 0x0d, 0x0a, 0x1a, 0x0a]);

let h5wasmPromise: Promise<any> | undefined;

function findH5wasmEntry(): string {
  const tried: string[] = [];
  for (let dir = __dirname; ; dir = path.dirname(dir)) {
    const candidate = path.join(dir, 'node_modules', 'h5wasm', 'dist', 'node', 'hdf5_hl.js');
    tried.push(candidate);
    if (fs.existsSync(candidate)) return candidate;
    if (path.dirname(dir) === dir) break;
  }
  throw new Error(`carclass: the h5wasm package (needed for Keras .h5 files) was not found; looked in ${tried.join(', ')}. Run npm install h5wasm.`);
}

/**
 * Loads h5wasm's Node build (an ES module that reads the real file system). We load it with the real Node
 * `require` (Node >= 20.17 loads ES modules that way), reached through process.getBuiltinModule so that test
 * runners with their own module system do not intercept it; dynamic import is the fallback.
 */
export function loadH5wasm(): Promise<any> {
  if (!h5wasmPromise) {
    h5wasmPromise = (async () => {
      const entry = findH5wasmEntry();
      const getBuiltin = (process as any).getBuiltinModule as ((id: string) => any) | undefined;
      const moduleApi = getBuiltin ? getBuiltin('node:module') : require('node:module');
      let h5: any;
      try {
        h5 = moduleApi.createRequire(__filename)(entry);
      } catch {
        const dynamicImport = new Function('specifier', 'return import(specifier)') as (s: string) => Promise<any>;
        h5 = await dynamicImport(require('url').pathToFileURL(entry).href);
      }
      await h5.ready;
      return h5;
    })();
    h5wasmPromise.catch(() => { h5wasmPromise = undefined; });
  }
  return h5wasmPromise;
}

/** h5wasm is synchronous: yield between layers so a 100 MB file does not hold the event loop in one piece. */
function yieldToEventLoop(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

function fail(file: string, reason: string): Error {
  return new Error(`Cannot read Keras weights from ${file}: ${reason}`);
}

/** The end-of-file address from the superblock (8-byte offsets only), relative to the signature. */
function declaredEnd(header: Buffer): number | undefined {
  const version = header[8];
  const [offsetSizeAt, endAt] = version === 0 ? [13, 40] : version === 1 ? [13, 44] : version === 2 || version === 3 ? [9, 28] : [-1, -1];
  if (offsetSizeAt < 0 || header[offsetSizeAt] !== 8) return undefined;
  const end = header.readBigUInt64LE(endAt);
  return end === 0xffffffffffffffffn ? undefined : Number(end);
}

/** HDF5 files start with a signature at offset 0, 512, 1024, 2048, ... (a user block may precede it). */
async function assertHdf5(file: string): Promise<void> {
  let handle: fs.promises.FileHandle;
  try {
    handle = await fs.promises.open(file, 'r');
  } catch (err: any) {
    throw fail(file, err.code === 'ENOENT' ? 'file not found' : err.code === 'EISDIR' ? 'it is a directory' : String(err.message));
  }
  try {
    const { size } = await handle.stat();
    const probe = Buffer.alloc(8);
    for (let offset = 0; offset + 8 <= size; offset = offset === 0 ? 512 : offset * 2) {
      await handle.read(probe, 0, 8, offset);
      if (probe.equals(HDF5_SIGNATURE)) {
        const header = Buffer.alloc(48);
        await handle.read(header, 0, 48, offset);
        const end = declaredEnd(header);
        if (end !== undefined && offset + end > size) {
          throw fail(file, `the file is truncated: it has ${size} bytes but its HDF5 superblock declares ${offset + end}`);
        }
        return;
      }
    }
    throw fail(file, size === 0 ? 'the file is empty' : 'not an HDF5 file (no HDF5 signature found)');
  } finally {
    await handle.close();
  }
}

function attrNames(node: any): string[] {
  return Object.keys(node.attrs ?? {});
}

function readAttr(node: any, name: string): unknown {
  return node.attrs[name]?.value;
}

/** Reads a string-list attribute, joining Keras's chunked form (`name0`, `name1`, ...). */
function readStringList(node: any, name: string): string[] | undefined {
  const names = attrNames(node);
  const collect = (value: unknown): string[] => {
    if (value === null || value === undefined) return [];
    if (typeof value === 'string') return [value];
    if (Array.isArray(value)) return value.map((v) => String(v));
    // An empty numeric attribute (what Keras writes for a weightless layer).
    if (ArrayBuffer.isView(value) && (value as unknown as ArrayLike<number>).length === 0) return [];
    throw new Error(`attribute ${name} is not a list of strings`);
  };
  if (names.includes(name)) return collect(readAttr(node, name));
  if (!names.includes(`${name}0`)) return undefined;
  const out: string[] = [];
  for (let i = 0; names.includes(`${name}${i}`); i++) out.push(...collect(readAttr(node, `${name}${i}`)));
  return out;
}

function readScalarString(node: any, name: string): string | undefined {
  if (!attrNames(node).includes(name)) return undefined;
  const value = readAttr(node, name);
  return Array.isArray(value) ? String(value[0]) : value === null || value === undefined ? undefined : String(value);
}

function halfToFloat(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exponent = (h >> 10) & 0x1f;
  const fraction = h & 0x3ff;
  if (exponent === 0) return sign * fraction * 2 ** -24;
  if (exponent === 31) return fraction ? NaN : sign * Infinity;
  return sign * (1 + fraction / 1024) * 2 ** (exponent - 15);
}

/** Reads a float dataset as float32 (float16 and float64 are converted). */
function readFloatDataset(h5: any, file: any, datasetPath: string, where: string): { shape: number[]; data: Float32Array } {
  const dataset = file.get(datasetPath);
  if (!dataset || dataset.type !== 'Dataset') throw fail(where, `dataset ${datasetPath} is missing`);
  const meta = dataset.metadata;
  const shape: number[] = (meta.shape ?? []).map(Number);
  const count = shape.reduce((a, b) => a * b, 1);
  if (meta.type !== h5.Module.H5T_class_t.H5T_FLOAT.value) {
    throw fail(where, `dataset ${datasetPath} holds ${dataset.dtype} values, expected floating point`);
  }
  let data: Float32Array;
  if (meta.size === 2) {
    // h5wasm has no float16 reader: read the raw (native-endian) halves and widen them.
    const bytes = meta.size * count;
    const ptr = h5.Module._malloc(Math.max(bytes, 1));
    try {
      h5.Module.get_dataset_data(file.file_id, datasetPath, null, null, null, BigInt(ptr));
      const halves = new Uint16Array(h5.Module.HEAPU8.slice(ptr, ptr + bytes).buffer);
      data = new Float32Array(count);
      for (let i = 0; i < count; i++) data[i] = halfToFloat(halves[i]);
    } finally {
      h5.Module._free(ptr);
    }
  } else {
    const value = dataset.value;
    data = value instanceof Float32Array ? value : Float32Array.from(value as ArrayLike<number>);
  }
  if (data.length !== count) throw fail(where, `dataset ${datasetPath} has ${data.length} values for shape [${shape}]`);
  return { shape, data };
}

/** `conv1_conv/kernel:0` -> `kernel`; `batch_normalization/moving_mean` -> `moving_mean`. */
export function kindFromWeightName(weightName: string): string {
  const last = weightName.split('/').pop() ?? weightName;
  return last.replace(/:\d+$/, '');
}

/** Keras 3 stores variables by position; infer kinds from the layer's class-derived path name and count. */
function keras3Kinds(layerPath: string, weights: { shape: number[] }[]): string[] {
  const leaf = (layerPath.split('/').pop() ?? '').replace(/_\d+$/, '');
  const n = weights.length;
  if (/batch_normalization/.test(leaf)) {
    if (n === 4) return ['gamma', 'beta', 'moving_mean', 'moving_variance'];
    if (n === 2) return ['moving_mean', 'moving_variance'];
  }
  if (n >= 1 && n <= 2 && weights[0].shape.length >= 2) return ['kernel', 'bias'].slice(0, n);
  return weights.map((_, i) => `var${i}`);
}

async function readKeras2(h5: any, file: any, root: any, rootPath: string, where: string): Promise<KerasWeightsFile> {
  let layerNames: string[];
  try {
    layerNames = readStringList(root, 'layer_names') ?? [];
  } catch (err: any) {
    throw fail(where, err.message);
  }
  const layers: KerasLayerWeights[] = [];
  for (const layerName of layerNames) {
    const groupPath = `${rootPath}${layerName}`;
    const group = file.get(groupPath);
    if (!group || group.type !== 'Group') throw fail(where, `layer_names lists ${layerName} but there is no group ${groupPath}`);
    let weightNames: string[] | undefined;
    try {
      weightNames = readStringList(group, 'weight_names');
    } catch (err: any) {
      throw fail(where, `layer ${layerName}: ${err.message}`);
    }
    if (weightNames === undefined) throw fail(where, `layer ${layerName} has no weight_names attribute`);
    if (weightNames.length === 0) continue;
    const weights = weightNames.map((storedName) => {
      const { shape, data } = readFloatDataset(h5, file, `${groupPath}/${storedName}`, where);
      return { kind: kindFromWeightName(storedName), storedName, shape, data };
    });
    layers.push({ name: layerName, weights });
    await yieldToEventLoop();
  }
  return {
    format: 'keras2', path: where, layerNames, layers,
    backend: readScalarString(root, 'backend') ?? readScalarString(file, 'backend'),
    kerasVersion: readScalarString(root, 'keras_version') ?? readScalarString(file, 'keras_version'),
  };
}

/** Keras 3 `.weights.h5`: groups `layers/<class_snake_name>[_n]/vars` holding datasets `0`, `1`, ... */
function readKeras3(h5: any, file: any, where: string): KerasWeightsFile {
  const layers: KerasLayerWeights[] = [];
  const layerNames: string[] = [];
  const visit = (groupPath: string) => {
    const group = file.get(groupPath);
    if (!group || group.type !== 'Group') return;
    const keys: string[] = group.keys();
    if (keys.includes('vars') && groupPath !== '/') {
      const varsPath = `${groupPath}/vars`;
      const vars = file.get(varsPath);
      const indices = (vars.keys() as string[]).filter((k) => /^\d+$/.test(k)).map(Number).sort((a, b) => a - b);
      const name = groupPath.replace(/^\/?layers\//, '');
      layerNames.push(name);
      if (indices.length > 0) {
        const raw = indices.map((i) => ({ storedName: `vars/${i}`, ...readFloatDataset(h5, file, `${varsPath}/${i}`, where) }));
        const kinds = keras3Kinds(name, raw);
        layers.push({ name, weights: raw.map((w, i) => ({ kind: kinds[i], ...w })) });
      }
    }
    for (const key of keys) if (key !== 'vars') visit(groupPath === '/' ? key : `${groupPath}/${key}`);
  };
  visit('layers');
  return {
    format: 'keras3', path: where, layerNames, layers,
    kerasVersion: readScalarString(file, 'keras_version'),
  };
}

/** Reads every weight of a Keras 2 (`layer_names`/`weight_names`) or Keras 3 (`layers/.../vars`) weights file. */
export async function readKerasWeights(file: string): Promise<KerasWeightsFile> {
  if (typeof file !== 'string' || file === '') throw new TypeError(`Expected path to a .h5 file for weights but received ${String(file)} of type ${typeof file}`);
  const absolute = path.resolve(file);
  await assertHdf5(absolute);
  const h5 = await loadH5wasm();
  let handle: any;
  try {
    handle = new h5.File(absolute, 'r');
  } catch (err: any) {
    throw fail(file, `HDF5 open failed (${err?.message ?? err})`);
  }
  try {
    return await readOpened(h5, handle, file);
  } catch (err: any) {
    if (err instanceof Error && err.message.startsWith('Cannot read Keras weights')) throw err;
    throw fail(file, `HDF5 read failed (${err?.message ?? err}); the file may be corrupt`);
  } finally {
    handle.close();
  }
}

/** Picks the layout from the root: Keras 2 attributes, a whole-model file, or the Keras 3 layers group. */
async function readOpened(h5: any, handle: any, file: string): Promise<KerasWeightsFile> {
  const rootAttrs = attrNames(handle);
  const hasLayerNames = (node: any) => attrNames(node).some((n) => n === 'layer_names' || n === 'layer_names0');
  if (hasLayerNames(handle)) return await readKeras2(h5, handle, handle, '', file);
  // A whole-model .h5 (model.save) keeps the weights under model_weights.
  const modelWeights = handle.keys().includes('model_weights') ? handle.get('model_weights') : undefined;
  if (modelWeights && hasLayerNames(modelWeights)) return await readKeras2(h5, handle, modelWeights, 'model_weights/', file);
  if (handle.keys().includes('layers')) return readKeras3(h5, handle, file);
  throw fail(file, `no Keras weights found: the root has no layer_names attribute (attributes: ${rootAttrs.join(', ') || 'none'}) and no layers group (groups: ${handle.keys().join(', ') || 'none'})`);
}

function fixedStringDtype(values: string[]): string {
  return `A${Math.max(1, ...values.map((v) => Buffer.byteLength(v)))}`;
}

/** Writes a string list the way Keras does: fixed-length byte strings, chunked when over the attribute limit. */
function writeStringList(node: any, name: string, values: string[]): void {
  if (values.length === 0) {
    node.create_attribute(name, new Float64Array(0), [0]);
    return;
  }
  const bytes = values.reduce((sum, v) => sum + Buffer.byteLength(v) + 1, 0);
  const chunks = Math.ceil(bytes / ATTRIBUTE_BYTES_LIMIT);
  if (chunks <= 1) {
    node.create_attribute(name, values, [values.length], fixedStringDtype(values));
    return;
  }
  const per = Math.ceil(values.length / chunks);
  for (let i = 0; i * per < values.length; i++) {
    const part = values.slice(i * per, (i + 1) * per);
    node.create_attribute(`${name}${i}`, part, [part.length], fixedStringDtype(part));
  }
}

/** Creates the intermediate groups of `name` (h5wasm does not), then the dataset; h5wasm reports failures only on stderr, so check. */
function writeDataset(group: any, name: string, data: Float32Array, shape: number[], file: string): void {
  const parts = name.split('/');
  let parent = group;
  for (const part of parts.slice(0, -1)) {
    parent = parent.keys().includes(part) ? parent.get(part) : parent.create_group(part);
  }
  const leaf = parts[parts.length - 1];
  parent.create_dataset({ name: leaf, data, shape, dtype: '<f' });
  if (parent.get(leaf)?.type !== 'Dataset') throw new Error(`Cannot write ${file}: HDF5 refused dataset ${group.path}/${name}`);
}

/**
 * Writes a Keras 2 layout weights file: root attributes `layer_names`, `backend`, `keras_version`; per layer a
 * group with attribute `weight_names` (`<layer>/<kind>:0`) and datasets at `<layer>/<layer>/<kind>:0`.
 * Written to a temporary file and renamed, so an interrupted export never leaves a broken file.
 */
export async function writeKerasWeights(file: string, layers: WriteLayer[], options: WriteKerasOptions = {}): Promise<void> {
  const h5 = await loadH5wasm();
  const absolute = path.resolve(file);
  const layerNames = options.layerNames ?? layers.map((l) => l.name);
  const byName = new Map(layers.map((l) => [l.name, l]));
  for (const l of layers) if (!layerNames.includes(l.name)) throw new Error(`Cannot write ${file}: layer ${l.name} holds weights but is not in layerNames`);
  const temporary = `${absolute}.tmp-${process.pid}-${Date.now()}`;
  await fs.promises.mkdir(path.dirname(absolute), { recursive: true });
  const out = new h5.File(temporary, 'w');
  try {
    writeStringList(out, 'layer_names', layerNames);
    const backend = options.backend ?? 'tensorflow';
    const version = options.kerasVersion ?? '2.15.0';
    out.create_attribute('backend', backend, [], fixedStringDtype([backend]));
    out.create_attribute('keras_version', version, [], fixedStringDtype([version]));
    for (const name of layerNames) {
      const group = out.create_group(name);
      const layer = byName.get(name);
      const weights = layer?.weights ?? [];
      const weightNames = weights.map((w) => `${name}/${w.kind}:0`);
      writeStringList(group, 'weight_names', weightNames);
      weights.forEach((w, i) => {
        const count = w.shape.reduce((a, b) => a * b, 1);
        if (count !== w.data.length) throw new Error(`Cannot write ${file}: ${name}/${w.kind} has ${w.data.length} values for shape [${w.shape}]`);
        writeDataset(group, weightNames[i], w.data, w.shape, file);
      });
      await yieldToEventLoop();
    }
  } catch (err) {
    out.close();
    await fs.promises.rm(temporary, { force: true });
    throw err;
  }
  out.close();
  await fs.promises.rename(temporary, absolute);
}
