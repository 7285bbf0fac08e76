// carclass web page: classify a picture, show the Grad-CAM overlay, and the "beat the AI" game.
// Plain browser JavaScript over the server's TF Serving-style API; no build step.
'use strict';

const state = { model: 'carclass', classes: [], samples: [], input: null, score: { you: 0, ai: 0 }, round: null };
const $ = (id) => document.getElementById(id);

function showError(message) {
  const box = $('error');
  box.textContent = message;
  box.hidden = !message;
}

/** A readable reason for a failed request: the server's own message, or what went wrong on the way. */
async function api(verb, body) {
  let response;
  try {
    response = await fetch(`/v1/models/${encodeURIComponent(state.model)}:${verb}`, {
      method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body),
    });
  } catch (error) {
    throw new Error(`the model server did not answer (${error.message}); is carclass serve still running?`);
  }
  const answer = await response.json().catch(() => ({}));
  if (!response.ok) {
    const reason = answer.error || response.statusText || 'no reason given';
    throw new Error(response.status === 413 ? `the picture is too large for the server: ${reason}` : `the server refused it (HTTP ${response.status}): ${reason}`);
  }
  return answer;
}

const pretty = (label) => label.replace(/_/g, ' ');

function base64(buffer) {
  const bytes = new Uint8Array(buffer);
  let text = '';
  for (let i = 0; i < bytes.length; i += 0x8000) text += String.fromCharCode.apply(null, bytes.subarray(i, i + 0x8000));
  return btoa(text);
}

/**
 * The picture as the server will get it: scaled down (never up) until it just covers the model input, so the
 * central crop the model sees holds most of the picture and a 20 MB photo is sent as a small JPEG. A JPEG that needs
 * no scaling is sent as it is (the same bytes the command line would read).
 */
async function prepare(blob) {
  let bitmap;
  try {
    bitmap = await createImageBitmap(blob);
  } catch {
    throw new Error(`this browser cannot read ${blob.name ? `"${blob.name}"` : 'the file'} (${blob.type || 'unknown type'}) as a picture`);
  }
  const [height, width] = state.input || [bitmap.height, bitmap.width];
  const scale = Math.min(1, Math.max(height / bitmap.height, width / bitmap.width));
  const w = Math.max(1, Math.round(bitmap.width * scale));
  const h = Math.max(1, Math.round(bitmap.height * scale));
  const canvas = document.createElement('canvas');
  canvas.width = w;
  canvas.height = h;
  canvas.getContext('2d').drawImage(bitmap, 0, 0, w, h);
  bitmap.close();
  if (scale === 1 && blob.type === 'image/jpeg') return { b64: base64(await blob.arrayBuffer()), picture: canvas, scaled: false };
  const jpeg = await new Promise((resolve) => canvas.toBlob(resolve, 'image/jpeg', 0.92));
  if (!jpeg) throw new Error('the browser could not re-encode the picture as JPEG');
  return { b64: base64(await jpeg.arrayBuffer()), picture: canvas, scaled: scale < 1 };
}

/** Top-5 and Grad-CAM for one picture, in one request. */
async function analyse(blob) {
  const { b64, picture, scaled } = await prepare(blob);
  const explained = await api('explain', { instances: [{ b64 }], heatmap: false, format: 'jpeg', top_k: 5 });
  const explanation = explained.explanations[0];
  return {
    top: explanation.top_k.map(([label, probability]) => ({ label, probability })),
    overlay: `data:${explanation.overlay.mime_type};base64,${explanation.overlay.b64}`,
    explained: explanation,
    picture,
    scaled,
  };
}

const loadImage = (img, src) => new Promise((resolve, reject) => {
  img.onload = () => resolve(img);
  img.onerror = () => reject(new Error('the overlay image could not be shown'));
  img.src = src;
});

/**
 * What the model saw: the whole (sent) picture, dimmed, with the Grad-CAM overlay of the central crop drawn where
 * crop_or_pad took it (crop first, then pad; an odd pixel goes bottom/right) and framed.
 */
function compose(canvas, picture, overlayImg) {
  const [height, width] = [overlayImg.naturalHeight, overlayImg.naturalWidth];
  const origin = (inSize, outSize) => (inSize >= outSize ? Math.floor((inSize - outSize) / 2) : -Math.floor((outSize - inSize) / 2));
  const x0 = origin(picture.width, width);
  const y0 = origin(picture.height, height);
  const left = Math.min(0, x0);
  const top = Math.min(0, y0);
  canvas.width = Math.max(picture.width, x0 + width) - left;
  canvas.height = Math.max(picture.height, y0 + height) - top;
  const g = canvas.getContext('2d');
  g.fillStyle = '#e3e6ea';
  g.fillRect(0, 0, canvas.width, canvas.height);
  g.globalAlpha = 0.45;
  g.drawImage(picture, -left, -top);
  g.globalAlpha = 1;
  g.drawImage(overlayImg, x0 - left, y0 - top);
  g.strokeStyle = '#ffffff';
  g.lineWidth = 2;
  g.strokeRect(x0 - left + 1, y0 - top + 1, width - 2, height - 2);
  canvas.dataset.crop = `${x0},${y0},${width},${height}`;
  canvas.hidden = false;
}

function renderPredictions(list, top, truth) {
  list.replaceChildren(...top.map(({ label, probability }) => {
    const item = document.createElement('li');
    if (label === truth) item.className = 'truth';
    const percent = (100 * probability).toFixed(1);
    item.innerHTML = '<div class="label"><span></span><span></span></div><div class="bar"><span></span></div>';
    item.querySelector('.label span:first-child').textContent = pretty(label);
    item.querySelector('.label span:last-child').textContent = `${percent} %`;
    item.querySelector('.bar span').style.width = `${percent}%`;
    return item;
  }));
}

async function explore(blob) {
  showError('');
  const url = URL.createObjectURL(blob);
  const input = $('input-image');
  input.hidden = false;
  input.onerror = () => { input.hidden = true; };
  input.src = url;
  $('result').hidden = false;
  $('predictions').replaceChildren();
  $('overlay').removeAttribute('src');
  $('overlay-view').hidden = true;
  $('overlay-caption').textContent = 'Where the model looked (Grad-CAM): computing…';
  try {
    const { top, overlay, explained, picture, scaled } = await analyse(blob);
    renderPredictions($('predictions'), top);
    compose($('overlay-view'), picture, await loadImage($('overlay'), overlay));
    $('overlay-caption').textContent = `Where the model looked for ${pretty(explained.label)} (Grad-CAM), in the framed ` +
      `${explained.width}x${explained.height} crop it saw${scaled ? ' of the picture scaled down in the browser' : ''}`;
  } catch (error) {
    $('overlay-caption').textContent = 'No result for this picture.';
    showError(`Could not analyse this picture: ${error.message}`);
  } finally {
    URL.revokeObjectURL(url);
  }
}

async function sampleBlob(sample) {
  const response = await fetch(sample.url);
  if (!response.ok) throw new Error(`could not load ${sample.name}`);
  return response.blob();
}

function renderSamples() {
  $('samples').replaceChildren(...state.samples.map((sample) => {
    const button = document.createElement('button');
    button.type = 'button';
    button.title = sample.label ? pretty(sample.label) : sample.name;
    const img = document.createElement('img');
    img.src = sample.url;
    img.alt = button.title;
    img.loading = 'lazy';
    button.append(img);
    button.addEventListener('click', async () => {
      try {
        await explore(await sampleBlob(sample));
      } catch (error) {
        showError(error.message);
      }
    });
    return button;
  }));
}

function shuffled(items) {
  const copy = items.slice();
  for (let i = copy.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [copy[i], copy[j]] = [copy[j], copy[i]];
  }
  return copy;
}

/** Why the game cannot start, or '' when it can. */
function gameProblem() {
  const labelled = state.samples.filter((s) => s.label);
  if (state.samples.length === 0) return 'The game needs sample pictures with known labels: start the server with --samples <folder of dataset JPEGs>.';
  if (labelled.length === 0) {
    return `None of the ${state.samples.length} sample pictures has a name that starts with one of the model's ` +
      `${state.classes.length} classes (for example "${state.classes[0] || 'Make_Model'}_2019_....jpg"), so the game cannot ` +
      `know the right answers. Name the files as in the dataset, or serve samples of this model's classes.`;
  }
  return '';
}

// A round: a class drawn evenly among those with samples, one of its samples, the true class and three others,
// shuffled; the model answers in the background.
async function newRound() {
  showError('');
  const problem = gameProblem();
  $('game-empty').textContent = problem;
  $('game-empty').hidden = !problem;
  $('round').hidden = Boolean(problem);
  $('next-round').hidden = Boolean(problem);
  const unlabelled = state.samples.filter((s) => !s.label).length;
  $('game-note').textContent = !problem && unlabelled ? `${unlabelled} of ${state.samples.length} samples are left out: their names match none of the model's classes.` : '';
  if (problem) return;
  const playable = state.samples.filter((s) => s.label);
  const previous = state.round && state.round.sample;
  const labels = [...new Set(playable.map((s) => s.label))];
  const label = labels[Math.floor(Math.random() * labels.length)];
  const ofLabel = playable.filter((s) => s.label === label);
  const pool = ofLabel.length > 1 ? ofLabel.filter((s) => s !== previous) : ofLabel;
  const sample = pool[Math.floor(Math.random() * pool.length)];
  const others = shuffled(state.classes.filter((c) => c !== sample.label)).slice(0, 3);
  const round = { sample, choices: shuffled([sample.label, ...others]), answered: false };
  state.round = round;
  $('reveal').hidden = true;
  $('verdict').textContent = '';
  $('game-image').src = sample.url;
  $('choices').replaceChildren(...round.choices.map((choice) => {
    const button = document.createElement('button');
    button.type = 'button';
    button.textContent = pretty(choice);
    button.dataset.label = choice;
    button.addEventListener('click', () => answer(round, choice));
    return button;
  }));
  round.analysis = sampleBlob(sample).then(analyse);
  round.analysis.catch(() => undefined);
}

async function answer(round, guess) {
  if (round.answered || state.round !== round) return;
  round.answered = true;
  const truth = round.sample.label;
  for (const button of $('choices').children) {
    button.disabled = true;
    if (button.dataset.label === truth) button.classList.add('right');
    else if (button.dataset.label === guess) button.classList.add('wrong');
  }
  try {
    const { top, overlay } = await round.analysis;
    const aiRight = top[0].label === truth;
    const youRight = guess === truth;
    if (youRight) state.score.you++;
    if (aiRight) state.score.ai++;
    $('score-you').textContent = state.score.you;
    $('score-ai').textContent = state.score.ai;
    $('verdict').textContent = `${youRight ? 'You got it' : `You said ${pretty(guess)}`}; it is a ${pretty(truth)}. ` +
      `The model ${aiRight ? 'got it too' : `said ${pretty(top[0].label)}`} (${(100 * top[0].probability).toFixed(1)} %).`;
    renderPredictions($('game-predictions'), top, truth);
    $('game-overlay').src = overlay;
    $('reveal').hidden = false;
  } catch (error) {
    $('verdict').textContent = `It is a ${pretty(truth)}. The model could not answer: ${error.message}`;
    showError(`The model could not answer: ${error.message}`);
  }
}

function selectTab(name) {
  $('explore').hidden = name !== 'explore';
  $('game').hidden = name !== 'game';
  $('tab-explore').classList.toggle('active', name === 'explore');
  $('tab-game').classList.toggle('active', name === 'game');
  if (name === 'game' && !state.round) newRound();
}

function wire() {
  $('file').addEventListener('change', (event) => {
    const file = event.target.files[0];
    if (file) explore(file);
  });
  const drop = $('drop');
  drop.addEventListener('dragover', (event) => { event.preventDefault(); drop.classList.add('over'); });
  drop.addEventListener('dragleave', () => drop.classList.remove('over'));
  drop.addEventListener('drop', (event) => {
    event.preventDefault();
    drop.classList.remove('over');
    const file = event.dataTransfer.files[0];
    if (file) explore(file);
  });
  $('tab-explore').addEventListener('click', () => selectTab('explore'));
  $('tab-game').addEventListener('click', () => selectTab('game'));
  $('next-round').addEventListener('click', newRound);
}

async function start() {
  wire();
  try {
    const response = await fetch('/samples');
    const info = await response.json();
    if (!response.ok) throw new Error(info.error || response.statusText);
    Object.assign(state, { model: info.model, classes: info.classes, samples: info.samples });
    const meta = await (await fetch(`/v1/models/${encodeURIComponent(info.model)}/metadata`)).json();
    const dims = meta.metadata.signature_def.signature_def.serving_default.inputs.input_1.tensor_shape.dim.map((d) => Number(d.size));
    state.input = [dims[1], dims[2]];
    $('model-info').textContent = `Model "${info.model}": ${info.classes.length} classes, input ${dims[2]}x${dims[1]}`;
    renderSamples();
  } catch (error) {
    showError(`Could not reach the model server: ${error.message}`);
  }
  document.body.dataset.ready = 'true';
}

start();
