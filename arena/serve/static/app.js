// The page of `arena serve`: play an agent, watch two, replay recorded games (docs/serve.md).
// The server referees everything: it sends the board after every ply ("x" black, "o" white, "." empty,
// row by row from the top), the legal moves and every move's name, so this page has no rules of its own.
// Each tab keeps its own games (their ids in sessionStorage), so several tabs play separate games.
"use strict";

const $ = (id) => document.getElementById(id);
const SVG = "http://www.w3.org/2000/svg";
const COLOURS = ["black", "white"];

let INFO = null;
let tab = "play";
const games = {play: null, watch: null};   // the server's state of each tab's game
const views = {play: null, watch: null, records: null};  // the ply shown; null: the latest
let record = null;                          // the recorded game shown in the Records tab
let pending = {play: false, watch: false};  // a request of that tab is in flight
let watching = false;                       // the Watch tab's game is running
let watchTimer = null;
let watchRun = 0;        // bumped by every Start: an answer that belongs to an earlier run is dropped
let starting = false;    // Start's request for a new game is in flight
let watchBusy = false;   // the error shown is the Watch loop's "every worker busy"
const BUSY_RETRY = 1500; // ms before asking again when every search worker of the server is busy (503)

// -- the server ---------------------------------------------------------------------------------------------

class ApiError extends Error {
  constructor(message, status) { super(message); this.status = status; }
}

async function api(method, path, body) {
  const opt = {method, headers: {}};
  if (body !== undefined) {
    opt.headers["Content-Type"] = "application/json";
    opt.body = JSON.stringify(body);
  }
  let r;
  try {
    r = await fetch(path, opt);
  } catch (e) {
    throw new ApiError("the server does not answer (is arena serve still running?)", 0);
  }
  const data = await r.json().catch(() => ({error: `HTTP ${r.status}`}));
  if (!r.ok) throw new ApiError(data.error || `HTTP ${r.status}`, r.status);
  return data;
}

function showError(e) {
  const box = $("error");
  box.textContent = e ? (e.message || String(e)) : "";
  box.hidden = !e;
}

function setStatus(text) { $("status").textContent = text; }

// -- drawing ------------------------------------------------------------------------------------------------

function el(tag, attrs, parent) {
  const e = document.createElementNS(SVG, tag);
  for (const k in attrs) e.setAttribute(k, attrs[k]);
  if (parent) parent.appendChild(e);
  return e;
}

function text(parent, x, y, s, attrs) {
  const t = el("text", Object.assign({x, y, "text-anchor": "middle", "dominant-baseline": "central"}, attrs || {}),
               parent);
  t.textContent = s;
  return t;
}

const GTP = "ABCDEFGHJKLMNOPQRST";
function colName(game, c) { return game === "go" ? GTP[c] : String.fromCharCode(97 + c); }
function rowName(game, n, r) { return game === "go" ? String(n - r) : String(r + 1); }
function moveName(game, n, a) {
  if (a === n * n) return "pass";
  const r = Math.floor(a / n), c = a % n;
  return colName(game, c) + rowName(game, n, r);
}

const STARS = {9: [[2, 2], [2, 6], [6, 2], [6, 6], [4, 4]], 7: [[2, 2], [2, 4], [4, 2], [4, 4]], 5: [[2, 2]]};

// d: {game, size, board, last, heat: {name: share}, pv: [{name, n, colour}], legal: Set, clickable}
function drawBoard(d) {
  const svg = $("board"), n = d.size, go = d.game === "go";
  const cell = Math.max(40, Math.min(80, Math.floor(440 / n))), pad = 28, W = pad * 2 + cell * n;
  svg.setAttribute("width", W);
  svg.setAttribute("height", W);
  svg.setAttribute("viewBox", `0 0 ${W} ${W}`);
  svg.innerHTML = "";
  const at = (i) => pad + cell * i + cell / 2;
  el("rect", {x: 0, y: 0, width: W, height: W, rx: 6, fill: go ? "#dcb35c" : "#2e7d4f"}, svg);
  const ink = go ? "#3a2a10" : "#e8f1ea";
  for (let i = 0; i < n; i++) {
    text(svg, at(i), pad / 2, colName(d.game, i), {fill: ink, "class": "coord"});
    text(svg, pad / 2, at(i), rowName(d.game, n, i), {fill: ink, "class": "coord"});
  }
  if (go) {
    for (let i = 0; i < n; i++) {
      el("line", {x1: at(0), y1: at(i), x2: at(n - 1), y2: at(i), stroke: "#3a2a10"}, svg);
      el("line", {x1: at(i), y1: at(0), x2: at(i), y2: at(n - 1), stroke: "#3a2a10"}, svg);
    }
    for (const [r, c] of STARS[n] || []) el("circle", {cx: at(c), cy: at(r), r: 3, fill: "#3a2a10"}, svg);
  } else {
    for (let i = 0; i <= n; i++) {
      el("line", {x1: pad, y1: pad + cell * i, x2: pad + cell * n, y2: pad + cell * i, stroke: "#143d26"}, svg);
      el("line", {x1: pad + cell * i, y1: pad, x2: pad + cell * i, y2: pad + cell * n, stroke: "#143d26"}, svg);
    }
  }
  // the heat-map, under the stones
  const heat = d.heat || {};
  const top = Math.max(1e-9, ...Object.values(heat));
  for (const name in heat) {
    const a = d.index[name];
    if (a === undefined || a === n * n) continue;
    const r = Math.floor(a / n), c = a % n, share = heat[name];
    const alpha = (0.06 + 0.74 * Math.sqrt(share / top)).toFixed(3);
    const s = go ? cell * 0.92 : cell - 4;
    el("rect", {x: at(c) - s / 2, y: at(r) - s / 2, width: s, height: s, rx: go ? s / 2 : 3,
                fill: `rgba(255, 86, 0, ${alpha})`, "class": "heat", "data-move": name,
                "data-share": share.toFixed(4)}, svg);
  }
  let nb = 0, nw = 0;
  for (let r = 0; r < n; r++) for (let c = 0; c < n; c++) {
    const s = d.board[r * n + c];
    if (s === ".") continue;
    s === "x" ? nb++ : nw++;
    el("circle", {cx: at(c), cy: at(r), r: cell * 0.42, fill: s === "x" ? "#151515" : "#f6f6f6",
                  stroke: s === "x" ? "#000" : "#777", "class": "stone " + (s === "x" ? "black" : "white"),
                  "data-move": moveName(d.game, n, r * n + c)}, svg);
  }
  if (d.last >= 0 && d.last < n * n) {
    const r = Math.floor(d.last / n), c = d.last % n;
    el("circle", {cx: at(c), cy: at(r), r: cell * 0.11, fill: "#e0302a", "class": "last"}, svg);
  }
  for (const p of d.pv || []) {  // the expected line: numbered, see-through stones
    const a = d.index[p.name];
    if (a === undefined || a === n * n || d.board[a] !== ".") continue;
    const r = Math.floor(a / n), c = a % n;
    el("circle", {cx: at(c), cy: at(r), r: cell * 0.36, fill: p.colour === "black" ? "#151515" : "#f6f6f6",
                  "fill-opacity": 0.55, stroke: "#222", "stroke-dasharray": "3 2", "class": "pv"}, svg);
    text(svg, at(c), at(r), String(p.n), {"class": "pvnum", fill: p.colour === "black" ? "#fff" : "#000"});
  }
  for (const name in heat) {  // the shares, over the stones
    const a = d.index[name], share = heat[name];
    if (a === undefined || a === n * n || share < 0.01) continue;
    const r = Math.floor(a / n), c = a % n, s = d.board[a];
    if ((d.pv || []).some(p => p.name === name && s === ".")) continue;
    text(svg, at(c), at(r) + (s === "." ? 0 : cell * 0.22), pct(share),
         {"class": "heatlabel", fill: s === "x" ? "#fff" : "#111"});
  }
  if (d.clickable) {  // click targets over everything
    for (let a = 0; a < n * n; a++) {
      const r = Math.floor(a / n), c = a % n;
      const target = el("rect", {x: at(c) - cell / 2, y: at(r) - cell / 2, width: cell, height: cell,
                                 fill: "transparent", "class": "cell" + (d.legal.has(a) ? " legal" : ""),
                                 "data-move": moveName(d.game, n, a)}, svg);
      target.addEventListener("click", () => d.clickable(moveName(d.game, n, a)));
    }
  }
  svg.dataset.ply = d.ply;
  svg.dataset.black = nb;
  svg.dataset.white = nw;
  svg.dataset.toPlay = d.toPlay || "";
}

function pct(x) {
  const p = 100 * x;
  return p >= 9.95 ? p.toFixed(0) : p.toFixed(1);
}

function esc(s) {
  return String(s).replace(/[&<>"]/g, ch => ({"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;"}[ch]));
}

// -- a game's display ---------------------------------------------------------------------------------------

// What was thought about the position after `ply` moves: an analysis of it, else the search of the move
// that led to it (its heat lies on squares that were empty before that move).
function thoughtAt(st, ply) {
  if (!st) return null;
  if (st.analysis && st.analysis[String(ply)]) return st.analysis[String(ply)];
  if (st.thinking && ply > 0 && st.thinking[String(ply - 1)]) return st.thinking[String(ply - 1)];
  return null;
}

function shownPly(st, key) {
  const last = st.boards.length - 1;
  return views[key] === null ? last : Math.max(0, Math.min(last, views[key]));
}

function render() {
  const key = tab;
  const st = key === "records" ? record : games[key];
  document.body.dataset.tab = tab;
  for (const p of document.querySelectorAll(".panel[data-tab]")) p.hidden = p.dataset.tab !== tab;
  $("thinking").hidden = tab === "records";  // recorded games keep no thinking
  for (const b of document.querySelectorAll("#tabs button")) b.classList.toggle("on", b.dataset.tab === tab);
  $("p-komi").parentNode.hidden = !$("p-game").value.startsWith("go");
  $("w-komi").parentNode.hidden = !$("w-game").value.startsWith("go");
  renderButtons();
  if (!st) {
    $("board").innerHTML = "";
    $("title").textContent = key === "records" ? "Choose a recorded game" : "";
    $("moves").textContent = "";
    $("plylabel").textContent = "";
    $("winbar").hidden = true;
    renderThinking(null);
    if (key === "play") setStatus("Choose an opponent and start a new game.");
    else if (key === "watch") setStatus("Choose two agents and start.");
    else setStatus("");
    return;
  }
  const ply = shownPly(st, key), live = ply === st.boards.length - 1;
  const names = st.names || Array.from({length: st.size * st.size + 1}, (_, a) => moveName(st.game, st.size, a));
  const index = {};
  names.forEach((m, a) => { index[m] = a; });
  const thought = key === "records" ? null : thoughtAt(st, ply);
  const heatOn = $("t-heat").checked && thought;
  const what = $("t-what").value;
  const heat = heatOn ? ((what === "policy" && thought.policy) ? thought.policy : thought.heat) : null;
  let pv = [];
  if (thought && $("t-pv").checked && thought.pv) {
    thought.pv.forEach((m, j) => {
      const p = thought.ply + j;
      if (p >= ply) pv.push({name: m, n: p - ply + 1, colour: COLOURS[p % 2]});
    });
  }
  const humanTurn = key === "play" && live && !st.over && st.waiting === "human" && !pending.play;
  const legal = new Set(humanTurn ? st.legal.map(m => index[m]) : []);
  drawBoard({game: st.game, size: st.size, board: st.boards[ply], last: ply > 0 ? st.actions[ply - 1] : -1,
             heat, pv, index, legal, ply, toPlay: live ? st.to_play : "",
             clickable: key === "play" && live ? playClick : null});
  // title, score and status
  const players = st.players || {black: st.black, white: st.white};
  $("title").innerHTML = `<b>${esc(players.black)}</b> (black) vs <b>${esc(players.white)}</b> (white)` +
    ` &middot; ${st.game} ${st.size}x${st.size}` +
    (st.komi !== null && st.komi !== undefined ? `, komi ${st.komi}` : "") +
    (st.result ? ` &middot; <span id="result">${esc(st.result)}</span>` : "");
  const board = st.boards[ply];
  const nb = [...board].filter(c => c === "x").length, nw = [...board].filter(c => c === "o").length;
  const area = live && st.score ? ` · area now ${st.score.margin >= 0 ? "B" : "W"}+${Math.abs(st.score.margin)}` : "";
  const score = st.game === "go" ? `stones ${nb} black, ${nw} white${area}` : `discs ${nb} black, ${nw} white`;
  if (key === "records") {
    setStatus(`${st.reason} · move ${ply}/${st.moves.length} · ${score}`);
  } else if (!live) {
    setStatus(`Move ${ply} of ${st.boards.length - 1} · ${score} · End (or ▶|) returns to the game`);
  } else setStatus(statusLine(st, key) + " · " + score);
  // move list and review controls
  const sl = $("slider");
  sl.max = st.boards.length - 1;
  sl.value = ply;
  $("plylabel").textContent = `${ply} / ${st.boards.length - 1}`;
  $("moves").innerHTML = st.moves.map((m, i) => {
    const auto = st.auto && st.auto.includes(i) ? " auto" : "";
    return `<span data-ply="${i + 1}" class="mv${i + 1 === ply ? " cur" : ""}${auto}">` +
      `${i % 2 ? "" : (i / 2 + 1) + ". "}${esc(m)}</span>`;
  }).join(" ");
  renderWin(thought);
  renderThinking(thought, st, ply);
}

function statusLine(st, key) {
  const human = st.humans || [];
  if (st.over) {
    let who = "";
    if (human.length === 1 && st.winner) {
      who = st.winner === "draw" ? " · a draw" : st.winner === human[0] ? " · you win" : " · you lose";
    }
    return `Game over: ${st.result}${who}` + (st.message ? ` (${st.message})` : "");
  }
  const mover = st.to_play, spec = st.players[mover];
  let line;
  if (st.busy === "analysis") line = `analysing…`;
  else if (st.waiting === "agent") {
    line = (pending[key] || st.busy) ? `${mover} (${spec}) is thinking…` : `${mover} (${spec}) to move`;
  } else {
    const onlyPass = st.legal.length === 1 && st.legal[0] === "pass";
    line = human.length === 2 ? `${mover} to move` : `Your move (${mover})` + (onlyPass ? ": you can only pass" : "");
  }
  return (st.message ? st.message + " · " : "") + line;
}

function renderWin(t) {
  const bar = $("winbar");
  if (!t || t.black_win === undefined) { bar.hidden = true; return; }
  bar.hidden = false;
  $("winblack").style.width = `${(100 * t.black_win).toFixed(1)}%`;
  $("wintext").textContent = `black ${pct(t.black_win)}% · white ${pct(1 - t.black_win)}%`;
}

function renderThinking(t, st, ply) {
  const body = $("t-body");
  if (!t) {
    body.innerHTML = `<p class="note">${tab === "records" ? "Recorded games keep no thinking." :
      "An az:, mcts: or seq: agent's thinking shows here after it moves."}</p>`;
    return;
  }
  const head = t.analysis
    ? `Analysis by <b>${esc(t.agent)}</b> for ${t.side} (move ${t.ply + 1}): best <b>${esc(t.move)}</b>`
    : `<b>${esc(t.agent)}</b> (${t.side}) played <b>${esc(t.move)}</b> at move ${t.ply + 1}`;
  const bits = [];
  if (t.kind === "search") bits.push(`${t.simulations} simulations`);
  if (t.kind === "policy") bits.push("the policy head alone, no search");
  if (t.kind === "sequence") bits.push(`legal moves hold ${pct(t.legal_mass)}% of its prediction`);
  bits.push(`${t.seconds.toFixed(2)} s`);
  let html = `<p>${head}<br><span class="note">${bits.join(" · ")}</span></p>`;
  if (t.win !== undefined) {
    const value = (t.value >= 0 ? "+" : "") + t.value.toFixed(3);
    html += `<p>Win probability for ${t.side}: <b id="t-win">${pct(t.win)}%</b> ` +
      `<span class="note">(value ${value})</span></p>`;
  }
  if (t.pv && t.pv.length > 1) html += `<p>Expected line: <span id="t-line">${t.pv.map(esc).join(" ")}</span></p>`;
  const rows = Object.entries(t.heat).sort((a, b) => b[1] - a[1]).slice(0, 8);
  const cols = t.kind === "search" ? ["move", t.label, "visits", "Q", "policy"] : ["move", t.label];
  html += `<table id="t-top"><tr>${cols.map(c => `<th>${esc(c)}</th>`).join("")}</tr>` + rows.map(([m, s]) => {
    const q = t.q && t.q[m] !== undefined ? (t.q[m] >= 0 ? "+" : "") + t.q[m].toFixed(3) : "";
    const policy = pct((t.policy || t.heat)[m] || 0);
    const extra = t.kind === "search" ? `<td>${t.visits[m] || 0}</td><td>${q}</td><td>${policy}%</td>` : "";
    return `<tr${m === t.move ? ' class="chosen"' : ""}><td>${esc(m)}</td><td>${pct(s)}%</td>${extra}</tr>`;
  }).join("") + "</table>";
  body.innerHTML = html;
}

function renderButtons() {
  const st = games.play, busy = pending.play || (st && st.busy);
  const humanTurn = st && !st.over && st.waiting === "human" && views.play === null;
  $("p-pass").hidden = !(st && st.game === "go");
  $("p-pass").disabled = !(humanTurn && !busy && st.legal.includes("pass"));
  $("p-undo").disabled = !st || !!busy;
  $("p-resign").disabled = !st || st.over || !(st.humans || []).length;
  $("p-analyse").disabled = !(humanTurn && !busy && (st.shows || []).length);
  $("p-new").disabled = pending.play;
  setLink($("p-download"), st);
  const w = games.watch;
  $("w-pause").disabled = !w || w.over;
  $("w-pause").textContent = watching ? "Pause" : "Resume";
  $("w-step").disabled = !w || w.over || watching || pending.watch;
  $("w-start").disabled = starting;
  setLink($("w-download"), w);
}

function setLink(a, st) {
  if (st && st.id) {
    a.href = `/api/games/${st.id}/record`;
    a.classList.remove("disabled");
  } else {
    a.removeAttribute("href");
    a.classList.add("disabled");
  }
}

// -- playing ------------------------------------------------------------------------------------------------

function remember(key, st) {
  games[key] = st;
  if (st) sessionStorage.setItem(`arena-serve-${key}`, st.id);
  else sessionStorage.removeItem(`arena-serve-${key}`);
}

function gameChoice(select) {
  const [game, size] = select.value.split(":");
  return {game, size: Number(size)};
}

function options(body, komiInput, seedInput) {
  if (body.game === "go" && komiInput.value.trim() !== "") body.komi = Number(komiInput.value);
  if (seedInput.value.trim() !== "") body.seed = Number(seedInput.value);
  return body;
}

async function newPlayGame(ev) {
  if (ev) ev.preventDefault();
  if (pending.play) return;
  const choice = gameChoice($("p-game")), agent = $("p-agent").value.trim(), colour = $("p-colour").value;
  const body = options({...choice, black: colour === "black" ? "human" : agent,
                        white: colour === "white" ? "human" : agent}, $("p-komi"), $("p-seed"));
  if (games.play) body.replaces = games.play.id;
  showError(null);
  pending.play = true;
  setStatus(`Loading ${agent}…`);
  renderButtons();
  try {
    views.play = null;
    remember("play", await api("POST", "/api/games", body));
  } catch (e) {
    showError(e);
  } finally {
    pending.play = false;
  }
  render();
  await agentTurns();
}

// Let the agent answer while it is its move (it may have to move first, or twice after a pass).
async function agentTurns() {
  while (games.play && !games.play.over && games.play.waiting === "agent" && !pending.play) {
    pending.play = true;
    render();
    const id = games.play.id;
    try {
      const st = await api("POST", `/api/games/${id}/step`);
      if (games.play && games.play.id === id) remember("play", st);
    } catch (e) {
      showError(e);
      if (e.status === 404) remember("play", null);
      pending.play = false;
      if (e.status !== 503) break;
      render();
      await new Promise(ok => setTimeout(ok, BUSY_RETRY));  // every worker busy: ask again shortly
      if (!games.play || games.play.id !== id) break;
      showError(null);
      continue;
    }
    pending.play = false;
  }
  render();
}

async function playAction(path, body) {
  const st = games.play;
  if (!st || pending.play) return;
  showError(null);
  pending.play = true;
  renderButtons();
  try {
    remember("play", await api("POST", `/api/games/${st.id}/${path}`, body));
    views.play = null;
  } catch (e) {
    showError(e);
    if (e.status === 404) remember("play", null);
  } finally {
    pending.play = false;
  }
  render();
  if (path !== "undo" && path !== "analyse") await agentTurns();
}

function playClick(move) {
  const st = games.play;
  if (pending.play) { showError({message: "wait: the agent is thinking"}); return; }
  if (!st || st.over) { showError({message: "the game is over: start a new one"}); return; }
  if (st.waiting !== "human") { showError({message: "it is the agent's move"}); return; }
  playAction("move", {move});
}

// -- watching -----------------------------------------------------------------------------------------------

// One run of the Watch tab per Start: each answer is checked against the run and the game it was asked
// for, so an answer that arrives after a new Start (the old game's step, say) never touches the new game.
async function startWatch(ev) {
  if (ev) ev.preventDefault();
  if (starting) return;
  stopWatch();
  const run = ++watchRun;
  const body = options({...gameChoice($("w-game")), black: $("w-black").value.trim(), white: $("w-white").value.trim()},
                       $("w-komi"), $("w-seed"));
  if (games.watch) body.replaces = games.watch.id;  // the server drops it, stopping a search it still runs
  showError(null);
  starting = true;
  pending.watch = false;  // a step of the old game may still be in flight: its answer is dropped
  setStatus(`Loading ${body.black} and ${body.white}…`);
  renderButtons();
  try {
    const st = await api("POST", "/api/games", body);
    if (run === watchRun) {
      views.watch = null;
      remember("watch", st);
      watching = true;
    }
  } catch (e) {
    if (run === watchRun) showError(e);
  } finally {
    starting = false;
  }
  if (run !== watchRun) return;
  render();
  if (watching) watchLoop(run);
}

// One move of the Watch tab's game; whether to go on (false: over, paused by an error, or superseded).
async function watchStep(run) {
  const st = games.watch;
  if (!st || st.over || pending.watch || starting || run !== watchRun) return false;
  pending.watch = true;
  if (tab === "watch") render();
  let next;
  try {
    next = await api("POST", `/api/games/${st.id}/step`);
  } catch (e) {
    if (run !== watchRun || !games.watch || games.watch.id !== st.id) return false;
    pending.watch = false;
    showError(e);
    if (e.status === 404) remember("watch", null);
    if (tab === "watch") render();
    watchBusy = e.status === 503;
    return watchBusy ? "busy" : false;  // every search worker busy: try again after a pause
  }
  if (run !== watchRun || !games.watch || games.watch.id !== st.id) return false;  // a new Start meanwhile
  pending.watch = false;
  if (watchBusy) { watchBusy = false; showError(null); }  // the busy message was this loop's own
  remember("watch", next);
  if (tab === "watch") render();
  return !next.over;
}

async function watchLoop(run) {
  if (!watching || run !== watchRun) return;
  const more = await watchStep(run);
  if (run !== watchRun) return;
  if (!more) { watching = false; if (tab === "watch") render(); return; }
  watchTimer = setTimeout(() => watchLoop(run), more === "busy" ? BUSY_RETRY : Number($("w-delay").value));
}

function stopWatch() {
  watching = false;
  if (watchTimer) clearTimeout(watchTimer);
  watchTimer = null;
}

// -- recorded games -----------------------------------------------------------------------------------------

let recordDir = null, recordList = [];

async function loadDirs() {
  try {
    const d = await api("GET", "/api/records");
    const sel = $("r-dir");
    sel.innerHTML = d.directories.map(x =>
      `<option value="${esc(x.name)}">${esc(x.name)} (${x.game} ${x.size}x${x.size}, ${x.games} games)</option>`
    ).join("");
    const skipped = (d.skipped || []).map(x => `${x.name} skipped: ${x.error}`).join("; ");
    $("r-note").textContent = (d.directories.length ? "" :
      `No tournament or ladder results under ${d.root} (start arena serve with --games DIR). `) + skipped;
    const keep = recordDir && d.directories.some(x => x.name === recordDir);
    if (d.directories.length) await loadDir(keep ? recordDir : d.directories[0].name);
  } catch (e) { showError(e); }
}

async function loadDir(name) {
  recordDir = name;
  $("r-dir").value = name;
  const d = await api("GET", `/api/records/games?dir=${encodeURIComponent(name)}`);
  recordList = d.games;
  listRecords();
}

function listRecords() {
  const f = $("r-filter").value.toLowerCase();
  $("r-list").innerHTML = recordList.map(g => {
    const t = `${g.i + 1}. ${g.black} – ${g.white}  ${g.result}`;
    const sel = record && record.i === g.i && record.name === recordDir ? " sel" : "";
    return t.toLowerCase().includes(f) ? `<div class="item${sel}" data-i="${g.i}">${esc(t)}</div>` : "";
  }).join("");
}

async function openRecord(i) {
  try {
    record = await api("GET", `/api/records/game?dir=${encodeURIComponent(recordDir)}&i=${i}`);
    record.over = true;
    views.records = record.boards.length - 1;  // the final position first; Home goes to the start
    listRecords();
    render();
  } catch (e) { showError(e); }
}

// -- wiring -------------------------------------------------------------------------------------------------

function go(p) {
  const st = tab === "records" ? record : games[tab];
  if (!st) return;
  const last = st.boards.length - 1;
  p = Math.max(0, Math.min(last, p));
  views[tab] = p === last && tab !== "records" ? null : p;
  render();
}

function fillGames(select) {
  select.innerHTML = "";
  for (const game in INFO.games) for (const n of INFO.games[game]) {
    const o = document.createElement("option");
    o.value = `${game}:${n}`;
    o.textContent = `${game === "go" ? "Go" : "Othello"} ${n}x${n}`;
    select.appendChild(o);
  }
}

function fillAgents(select, list, inputs) {
  const key = select.value.replace(":", "");
  const specs = INFO.suggestions[key] || [];
  list.innerHTML = specs.map(s => `<option value="${esc(s)}">`).join("");
  for (const [input, pick] of inputs) {
    if (!input.value || !specs.includes(input.value)) input.value = specs[pick] || specs[0] || "random";
  }
  const komi = select === $("p-game") ? $("p-komi") : $("w-komi");
  const [game, n] = select.value.split(":");
  komi.placeholder = game === "go" ? `${INFO.komi[n]} (default)` : "";
}

async function restore(key) {
  const id = sessionStorage.getItem(`arena-serve-${key}`);
  if (!id) return;
  try {
    games[key] = await api("GET", `/api/games/${encodeURIComponent(id)}`);
    const sel = key === "play" ? $("p-game") : $("w-game");
    sel.value = `${games[key].game}:${games[key].size}`;
  } catch (e) {
    remember(key, null);
  }
}

async function init() {
  INFO = await api("GET", "/api/info");
  $("server").textContent = `seed ${INFO.seed} · move limit ${INFO.move_timeout} s`;
  fillGames($("p-game"));
  fillGames($("w-game"));
  const pickPlay = () => fillAgents($("p-game"), $("agents-play"), [[$("p-agent"), 0]]);
  const pickWatch = () => fillAgents($("w-game"), $("agents-watch"), [[$("w-black"), 0], [$("w-white"), 1]]);
  await restore("play");
  await restore("watch");
  pickPlay();
  pickWatch();
  if (games.play && games.play.humans.length === 1) {
    $("p-agent").value = games.play.players[games.play.humans[0] === "black" ? "white" : "black"];
  }
  if (games.watch) {
    $("w-black").value = games.watch.players.black;
    $("w-white").value = games.watch.players.white;
  }
  $("p-game").onchange = () => { pickPlay(); render(); };
  $("w-game").onchange = () => { pickWatch(); render(); };
  $("play-form").onsubmit = newPlayGame;
  $("watch-form").onsubmit = startWatch;
  $("p-pass").onclick = () => playAction("move", {move: "pass"});
  $("p-undo").onclick = () => playAction("undo");
  $("p-resign").onclick = () => { if (confirm("Resign this game?")) playAction("resign"); };
  $("p-analyse").onclick = () => playAction("analyse");
  $("w-pause").onclick = () => {
    if (watching) stopWatch(); else if (games.watch && !games.watch.over) { watching = true; watchLoop(watchRun); }
    render();
  };
  $("w-step").onclick = () => watchStep(watchRun);
  for (const b of document.querySelectorAll("#tabs button")) b.onclick = () => {
    tab = b.dataset.tab;
    showError(null);
    if (tab === "records" && !recordList.length) loadDirs();
    render();
  };
  $("r-dir").onchange = () => loadDir($("r-dir").value).catch(showError);
  $("r-filter").oninput = listRecords;
  $("r-list").onclick = (e) => { if (e.target.dataset.i) openRecord(Number(e.target.dataset.i)); };
  for (const id of ["t-heat", "t-what", "t-pv"]) $(id).onchange = render;
  $("first").onclick = () => go(0);
  $("prev").onclick = () => go(shownPly(cur(), tab) - 1);
  $("next").onclick = () => go(shownPly(cur(), tab) + 1);
  $("last").onclick = () => go(1e9);
  $("slider").oninput = (e) => go(Number(e.target.value));
  $("moves").onclick = (e) => { if (e.target.dataset.ply) go(Number(e.target.dataset.ply)); };
  document.addEventListener("keydown", (e) => {
    if (["INPUT", "SELECT", "TEXTAREA"].includes(e.target.tagName) && e.target.type !== "range") return;
    const st = cur();
    if (!st) return;
    if (e.key === "ArrowLeft") go(shownPly(st, tab) - 1);
    else if (e.key === "ArrowRight") go(shownPly(st, tab) + 1);
    else if (e.key === "Home") go(0);
    else if (e.key === "End") go(1e9);
  });
  render();
  if (games.play) agentTurns();
}

function cur() { return tab === "records" ? record : games[tab]; }

init().catch(showError);
