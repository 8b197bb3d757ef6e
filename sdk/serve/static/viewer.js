// The radseg viewer: one slice at a time of a volume served by `radseg serve`, its session's masks drawn over it.
// Talks only to the session API of radseg/serve/session_api.py. Positions sent are (slice, row, col) voxel
// indices; pixels arrive as int16 [rows, cols] (HU for CT), masks as np.packbits of bool [rows, cols].
"use strict";

const $ = (id) => document.getElementById(id);
const token = new URLSearchParams(location.hash.slice(1)).get("token");
const STRUCTURE = [255, 64, 64, 120]; // RGBA of a structure pixel on the overlay canvas
const BODY_EDGE = [64, 220, 96, 200]; // a body pixel on the outline (a 4-neighbour outside the body)
const BODY_INSIDE = [64, 220, 96, 30]; // a body pixel inside the outline

const view = {
  session: null, shape: null, spacing: null, modality: null, k: 0, window: { center: 40, width: 400 },
  autoWindow: null, pixels: new Map(), masks: { structure: new Map(), body: new Map() }, state: null,
  clicks: {}, busy: 0, loading: 0, dragging: false, dragQueued: null, dragInFlight: false, lastClickAt: null,
};
window.radsegViewer = view; // for tests and for people poking at it from the console

// ---- HTTP ----------------------------------------------------------------------------------------------------
async function api(method, path, body) {
  const headers = {};
  if (token) headers.Authorization = "Bearer " + token;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const t0 = performance.now();
  const r = await fetch("api" + path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const ms = performance.now() - t0;
  if (!r.ok) {
    let detail = r.statusText;
    try { detail = (await r.json()).detail; } catch (e) { /* not JSON */ }
    throw new Error(typeof detail === "string" ? detail : JSON.stringify(detail));
  }
  const type = r.headers.get("content-type") || "";
  const data = r.status === 204 ? null : type.includes("json") ? await r.json() : new Uint8Array(await r.arrayBuffer());
  return { data, ms };
}

function showBusy() { document.body.dataset.busy = String(view.busy + view.loading); }

async function busy(what, fn) {
  view.busy += 1;
  showBusy();
  setButtons();
  $("message").textContent = "";
  try {
    return await fn();
  } catch (e) {
    $("message").textContent = `${what}: ${e.message}`;
  } finally {
    view.busy -= 1;
    showBusy();
    setButtons();
  }
}

function showLatency(ms, serverMs, what) {
  $("latency").textContent = `${what} ${ms.toFixed(0)} ms (server ${serverMs.toFixed(1)} ms)`;
}

// ---- images and sessions -------------------------------------------------------------------------------------
async function listImages() {
  try {
    const { data } = await api("GET", "/images");
    const select = $("image");
    select.innerHTML = "";
    for (const im of data) {
      const o = document.createElement("option");
      o.value = im.id;
      o.textContent = `${im.modality || "NIfTI"} · ${im.name}`;
      select.appendChild(o);
    }
    $("status").textContent = `${data.length} images`;
  } catch (e) {
    $("status").textContent = "the image list did not load: " + e.message;
  }
}

async function openImage(id) {
  await busy("open", async () => {
    if (view.session) api("DELETE", `/sessions/${view.session}`).catch(() => {});
    const { data, ms } = await api("POST", "/sessions", { image: id });
    Object.assign(view, { session: data.session, shape: data.shape, spacing: data.spacing, modality: data.modality,
      window: { ...data.window }, autoWindow: { ...data.window }, actions: data.actions, clicks: {}, state: null });
    view.pixels.clear();
    clearMasks();
    const [slices, rows, cols] = data.shape;
    for (const c of ["pixels", "overlay", "marks"]) { $(c).width = cols; $(c).height = rows; }
    $("stack").style.aspectRatio = `${cols * data.spacing[2]} / ${rows * data.spacing[1]}`;
    $("slice").max = String(slices - 1);
    $("status").textContent = `${data.modality} ${slices} × ${rows} × ${cols}, opened in ${ms.toFixed(0)} ms`;
    syncWindowInputs();
    await goTo(Math.floor(slices / 2));
    if (data.warnings.length) $("message").textContent = data.warnings.join(" ");
  });
}

function clearMasks() { view.masks.structure.clear(); view.masks.body.clear(); }

// ---- slices --------------------------------------------------------------------------------------------------
async function goTo(k) {
  if (!view.shape) return;
  k = Math.max(0, Math.min(view.shape[0] - 1, k));
  view.k = k;
  $("slice").value = String(k);
  document.body.dataset.slice = String(k);
  view.loading += 1; // counted in data-busy, so a test (or a person) can tell the slice is drawn
  showBusy();
  try {
    await Promise.all([loadPixels(k), loadMask("structure", k), loadMask("body", k)]);
    if (view.k === k) draw();
  } catch (e) {
    $("message").textContent = `slice ${k + 1}: ${e.message}`;
  } finally {
    view.loading -= 1;
    showBusy();
  }
}

async function loadPixels(k) {
  if (view.pixels.has(k)) return;
  const { data } = await api("GET", `/sessions/${view.session}/slice/${k}`);
  view.pixels.set(k, new Int16Array(data.buffer, data.byteOffset, data.byteLength / 2));
  if (view.pixels.size > 96) view.pixels.delete(view.pixels.keys().next().value); // oldest first
}

async function loadMask(layer, k) {
  if (view.masks[layer].has(k)) return;
  if (layer === "structure" && view.state && !view.state.slices[k]) { view.masks.structure.set(k, null); return; }
  if (layer === "body" && !(view.state && view.state.body)) { view.masks.body.set(k, null); return; }
  const { data } = await api("GET", `/sessions/${view.session}/mask/${layer}/${k}`);
  view.masks[layer].set(k, data);
}

function bit(packed, i) { return (packed[i >> 3] >> (7 - (i & 7))) & 1; }

function draw() {
  const [, rows, cols] = view.shape;
  const px = view.pixels.get(view.k);
  if (px) {
    const ctx = $("pixels").getContext("2d");
    const img = ctx.createImageData(cols, rows);
    const lo = view.window.center - view.window.width / 2, scale = 255 / view.window.width;
    for (let i = 0; i < px.length; i++) {
      const v = Math.max(0, Math.min(255, (px[i] - lo) * scale));
      img.data[4 * i] = img.data[4 * i + 1] = img.data[4 * i + 2] = v;
      img.data[4 * i + 3] = 255;
    }
    ctx.putImageData(img, 0, 0);
  }
  const octx = $("overlay").getContext("2d");
  const over = octx.createImageData(cols, rows);
  const s = view.masks.structure.get(view.k), b = view.masks.body.get(view.k);
  if (s || b) {
    const inBody = (i) => bit(b, i) === 1;
    for (let i = 0; i < rows * cols; i++) {
      let color = null;
      if (s && bit(s, i)) color = STRUCTURE;
      else if (b && inBody(i)) {
        const r = Math.floor(i / cols), c = i % cols;
        const edge = r === 0 || c === 0 || r === rows - 1 || c === cols - 1 || !inBody(i - 1) || !inBody(i + 1) ||
          !inBody(i - cols) || !inBody(i + cols);
        color = edge ? BODY_EDGE : BODY_INSIDE;
      }
      if (color) over.data.set(color, 4 * i);
    }
  }
  octx.putImageData(over, 0, 0);
  drawMarks();
  const area = view.state && view.state.slices[view.k] || 0;
  const mm2 = area * view.spacing[1] * view.spacing[2];
  $("where").textContent = `slice ${view.k + 1} / ${view.shape[0]} · ${mm2.toFixed(0)} mm² here` +
    (view.state ? ` · ${view.state.volume_ml} mL in all` : "");
}

function drawMarks() {
  const ctx = $("marks").getContext("2d");
  const [, rows, cols] = view.shape;
  ctx.clearRect(0, 0, cols, rows);
  const r = Math.max(2, cols / 128);
  for (const [row, col, positive] of view.clicks[view.k] || []) {
    ctx.beginPath();
    ctx.arc(col + 0.5, row + 0.5, r, 0, 2 * Math.PI);
    ctx.fillStyle = positive ? "#3f3" : "#39f";
    ctx.fill();
  }
}

// ---- answers -------------------------------------------------------------------------------------------------
function takeSliceAnswer(a) {
  const bytes = Uint8Array.from(atob(a.mask), (c) => c.charCodeAt(0));
  view.masks.structure.set(a.slice, bytes);
  view.clicks[a.slice] = a.clicks;
  if (view.state) {
    if (a.area) view.state.slices[a.slice] = a.area; else delete view.state.slices[a.slice];
  } else {
    view.state = { slices: a.area ? { [a.slice]: a.area } : {}, body: false, volume_ml: 0 };
  }
  view.undo = a.undo;
  if (a.warnings && a.warnings.length) $("message").textContent = a.warnings.join(" ");
}

async function takeState(state) {
  view.state = state;
  view.clicks = state.clicks;
  view.undo = state.undo;
  clearMasks();
  await goTo(view.k);
}

async function click(row, col, positive) {
  await busy("click", async () => {
    const k = view.k;
    const { data, ms } = await api("POST", `/sessions/${view.session}/click`, { slice: k, row, col, positive });
    takeSliceAnswer(data);
    showLatency(ms, data.latency_ms, "click");
    if (view.k === k) draw();
  });
}

async function drag(row, col) { // one drag request in flight; moves made meanwhile collapse into the latest
  view.dragQueued = [row, col];
  if (view.dragInFlight) return;
  view.dragInFlight = true;
  try {
    while (view.dragQueued) {
      const [r, c] = view.dragQueued;
      view.dragQueued = null;
      await busy("drag", async () => {
        const { data, ms } = await api("POST", `/sessions/${view.session}/drag`, { row: r, col: c });
        takeSliceAnswer(data);
        showLatency(ms, data.latency_ms, "drag");
        if (view.k === data.slice) draw();
      });
    }
  } finally {
    view.dragInFlight = false;
  }
}

async function action(name, body) {
  await busy(name, async () => {
    const { data, ms } = await api("POST", `/sessions/${view.session}/${name}`, body);
    showLatency(ms, data.latency_ms, name);
    if (data.stopped) {
      const d = data.stopped;
      $("status").textContent = `${name}: slices ${d.down ? d.down.last + 1 : "?"}–${d.up ? d.up.last + 1 : "?"} ` +
        `(stopped: ${d.down ? d.down.reason : "?"} / ${d.up ? d.up.reason : "?"})`;
    }
    if (data.body_ml !== undefined) $("status").textContent = `body: ${data.body_ml} mL`;
    await takeState(data.state);
  });
}

async function save(to) {
  await busy("save", async () => {
    const { data, ms } = await api("POST", `/sessions/${view.session}/save`, { to, name: $("name").value });
    showLatency(ms, data.latency_ms, "save");
    const link = `api/sessions/${view.session}/seg.dcm`;
    $("saved").innerHTML = "";
    const a = document.createElement("a");
    a.href = link;
    a.textContent = `${data.file}${data.stored ? " (stored in the PACS)" : ""}`;
    a.dataset.seriesUid = data.series_uid;
    a.id = "saved-link";
    $("saved").append("Saved: ", a);
  });
}

// ---- input ---------------------------------------------------------------------------------------------------
function toVoxel(ev) {
  const rect = $("marks").getBoundingClientRect();
  const [, rows, cols] = view.shape;
  const col = Math.max(0, Math.min(cols - 1, ((ev.clientX - rect.left) / rect.width) * cols - 0.5));
  const row = Math.max(0, Math.min(rows - 1, ((ev.clientY - rect.top) / rect.height) * rows - 0.5));
  return [row, col];
}

$("marks").addEventListener("contextmenu", (ev) => ev.preventDefault());
$("marks").addEventListener("pointerdown", (ev) => {
  if (!view.session) return;
  const [row, col] = toVoxel(ev);
  const positive = ev.button === 0 && !ev.shiftKey;
  view.dragging = ev.button === 0 || ev.button === 2;
  $("marks").setPointerCapture(ev.pointerId);
  view.pending = click(row, col, positive);
});
$("marks").addEventListener("pointermove", async (ev) => {
  if (!view.dragging || !view.session) return;
  const [row, col] = toVoxel(ev);
  await view.pending; // the click first, then its moves
  if (view.dragging) drag(row, col);
});
$("marks").addEventListener("pointerup", () => { view.dragging = false; });
$("marks").addEventListener("wheel", (ev) => { ev.preventDefault(); goTo(view.k + (ev.deltaY > 0 ? 1 : -1)); },
  { passive: false });
$("slice").addEventListener("input", () => goTo(Number($("slice").value)));
$("open").addEventListener("click", () => openImage($("image").value));
$("undo").addEventListener("click", () => action("undo"));
$("reset").addEventListener("click", () => action("reset"));
$("propagate").addEventListener("click", () => action("propagate", { slice: view.k }));
$("correct").addEventListener("click", () => action("correct", { slice: view.k }));
$("body").addEventListener("click", () => action("body"));
$("save").addEventListener("click", () => save("file"));
$("save-pacs").addEventListener("click", () => save("pacs"));
for (const b of document.querySelectorAll("[data-window]")) {
  b.addEventListener("click", () => {
    const w = b.dataset.window === "auto" ? view.autoWindow : b.dataset.window.split(",").map(Number);
    view.window = Array.isArray(w) ? { center: w[0], width: w[1] } : { ...w };
    syncWindowInputs();
    if (view.shape) draw();
  });
}
for (const id of ["level", "width"]) {
  $(id).addEventListener("change", () => {
    view.window = { center: Number($("level").value), width: Math.max(1, Number($("width").value)) };
    if (view.shape) draw();
  });
}
function syncWindowInputs() { $("level").value = view.window.center; $("width").value = view.window.width; }

document.addEventListener("keydown", (ev) => {
  if (!view.session || ev.target.tagName === "INPUT" || ev.target.tagName === "SELECT") return;
  const key = ev.key.toLowerCase();
  const keys = {
    arrowup: () => goTo(view.k + 1), pageup: () => goTo(view.k + 10), arrowdown: () => goTo(view.k - 1),
    pagedown: () => goTo(view.k - 10), u: () => action("undo"), r: () => action("reset"),
    p: () => action("propagate", { slice: view.k }), c: () => action("correct", { slice: view.k }),
    b: () => action("body"), s: () => save("file"),
  };
  if (ev.ctrlKey && key === "z") { ev.preventDefault(); action("undo"); return; }
  if (ev.ctrlKey || ev.metaKey || ev.altKey || !keys[key]) return;
  ev.preventDefault();
  keys[key]();
});

function setButtons() {
  const open = Boolean(view.session), a = view.actions || {};
  $("undo").disabled = !open || !view.undo;
  for (const id of ["reset", "correct"]) $(id).disabled = !open;
  $("propagate").disabled = !open || !a.propagate;
  $("body").disabled = !open || !a.body;
  $("save").disabled = !open || !a.save_file;
  $("save-pacs").disabled = !open || !a.save_pacs;
}

setButtons();
listImages();
