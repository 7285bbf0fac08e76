// Runs an ONNX file with onnxruntime-node outside Jest (its native binding makes Float32Arrays of the main
// realm, which onnxruntime-common inside Jest's sandbox rejects). Usage: node ort-run.js job.json
// ORT_GRAPH_OPT=disabled/basic/extended/all overrides the default graph optimisation level (all), for diagnosis.
// job: { model, runs: [{ input: file.bin, dims: [...], type?: 'uint8', output: file.bin }] }; prints JSON with names and dims.
const fs = require('fs');
const ort = require('onnxruntime-node');

(async () => {
  const job = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));
  const session = await ort.InferenceSession.create(job.model, { intraOpNumThreads: 2, interOpNumThreads: 1, ...(process.env.ORT_GRAPH_OPT ? { graphOptimizationLevel: process.env.ORT_GRAPH_OPT } : {}) });
  const report = { version: ort.env.versions.node, inputNames: session.inputNames, outputNames: session.outputNames, runs: [] };
  for (const run of job.runs) {
    const buf = fs.readFileSync(run.input);
    const bytes = buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength);
    const x = run.type === 'uint8' ? new Uint8Array(bytes) : new Float32Array(bytes);
    const out = await session.run({ [session.inputNames[0]]: new ort.Tensor(run.type ?? 'float32', x, run.dims) });
    const y = out[session.outputNames[0]];
    fs.writeFileSync(run.output, Buffer.from(y.data.buffer, y.data.byteOffset, y.data.byteLength));
    report.runs.push({ dims: y.dims, type: y.type });
  }
  await session.release();
  process.stdout.write(JSON.stringify(report));
})().catch((e) => {
  console.error(e);
  process.exit(1);
});
