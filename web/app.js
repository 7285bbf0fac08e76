// carclass web page: classify a picture, show the Grad-CAM overlay, and the "beat the AI" game.
// Plain browser JavaScript over the server's TF Serving-style API; no build step.
'use strict';

const state = { model: 'carclass', classes: [], samples: [], score: { you: 0, ai: 0 }, round: null };
const $ = (id) => document.getElementById(id);

function showError(message) {
  const box = $('error');
  box.textContent = message;
  box.hidden = !message;
}

async function api(verb, body) {
  const response = await fetch(`/v1/models/${encodeURIComponent(state.model)}:${verb}`, {
    method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body),
  });
  const answer = await response.json().catch(() => ({ error: response.statusText }));
  if (!response.ok) throw new Error(answer.error || `HTTP ${response.status}`);
  return answer;
}

const pretty = (label) => label.replace(/_/g, ' ');

function base64(buffer) {
  const bytes = new Uint8Array(buffer);
  let text = '';
  for (let i = 0; i < bytes.length; i += 0x8000) text += String.fromCharCode.apply(null, bytes.subarray(i, i + 0x8000));
  return btoa(text);
}

/** The server decodes JPEG; other formats are re-encoded in the browser. */
async function jpegBase64(blob) {
  if (blob.type === 'image/jpeg') return base64(await blob.arrayBuffer());
  const bitmap = await createImageBitmap(blob);
  const canvas = document.createElement('canvas');
  canvas.width = bitmap.width;
  canvas.height = bitmap.height;
  canvas.getContext('2d').drawImage(bitmap, 0, 0);
  const jpeg = await new Promise((resolve) => canvas.toBlob(resolve, 'image/jpeg', 0.92));
  return base64(await jpeg.arrayBuffer());
}

/** Top-5 and Grad-CAM for one picture. */
async function analyse(blob) {
  const b64 = await jpegBase64(blob);
  const [classified, explained] = await Promise.all([
    api('classify', { instances: [{ b64 }], top_k: 5 }),
    api('explain', { instances: [{ b64 }], heatmap: false, format: 'jpeg' }),
  ]);
  const explanation = explained.explanations[0];
  return {
    top: classified.result[0].map(([label, probability]) => ({ label, probability })),
    overlay: `data:${explanation.overlay.mime_type};base64,${explanation.overlay.b64}`,
    explained: explanation,
  };
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
  $('input-image').src = url;
  $('result').hidden = false;
  $('predictions').replaceChildren();
  $('overlay').removeAttribute('src');
  $('overlay-caption').textContent = 'Where the model looked (Grad-CAM): computing…';
  try {
    const { top, overlay, explained } = await analyse(blob);
    renderPredictions($('predictions'), top);
    $('overlay').src = overlay;
    $('overlay-caption').textContent = `Where the model looked for ${pretty(explained.label)} (Grad-CAM)`;
  } catch (error) {
    showError(`Could not analyse this picture: ${error.message}`);
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

// A round: a labelled sample, its true class and three others, shuffled; the model answers in the background.
async function newRound() {
  showError('');
  const playable = state.samples.filter((s) => s.label);
  $('game-empty').hidden = playable.length > 0;
  $('round').hidden = playable.length === 0;
  $('next-round').hidden = playable.length === 0;
  if (playable.length === 0) return;
  const previous = state.round && state.round.sample;
  const pool = playable.length > 1 ? playable.filter((s) => s !== previous) : playable;
  const sample = pool[Math.floor(Math.random() * pool.length)];
  const others = shuffled(state.classes.filter((c) => c !== sample.label)).slice(0, 3);
  const round = { sample, choices: shuffled([sample.label, ...others]), answered: false };
  state.round = round;
  $('reveal').hidden = true;
  $('verdict').textContent = '';
  $('game-image').src = sample.url;
  $('choices').replaceChildren(...round.choices.map((label) => {
    const button = document.createElement('button');
    button.type = 'button';
    button.textContent = pretty(label);
    button.dataset.label = label;
    button.addEventListener('click', () => answer(round, label));
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
    $('model-info').textContent = `Model "${info.model}": ${info.classes.length} classes`;
    renderSamples();
  } catch (error) {
    showError(`Could not reach the model server: ${error.message}`);
  }
  document.body.dataset.ready = 'true';
}

start();
