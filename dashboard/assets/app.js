// emcd dashboard: reads everything over the node's own WebSocket JSON-RPC.
// Plain JS, no framework, no build step. Errors a panel expects (a method
// this node does not serve) are shown in the panel, never thrown.
'use strict';

const WEI = 10n ** 18n;
const CHART_BLOCKS = 60;     // blocks in the chart
const SIGNERS_WINDOW = 100;  // blocks whose certificates the validator share counts
const JOBS_SHOWN = 25;       // newest jobs listed
const APPS_SHOWN = 10;       // newest apps and instances listed
const UTIL_UNKNOWN = 255;    // router/heartbeat.UtilUnknown
const METHOD_NOT_FOUND = -32601;

// ---- DOM helpers -------------------------------------------------------

const $ = (id) => document.getElementById(id);

// el builds an element; attrs may hold class, title, dataset (object),
// onclick; children are nodes or strings (always text, never HTML).
function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null) continue;
    if (k === 'class') e.className = v;
    else if (k === 'dataset') Object.assign(e.dataset, v);
    else if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
    else if (k === 'style') {
      // through CSSOM: the page's CSP forbids style attributes
      for (const decl of v.split(';')) {
        const i = decl.indexOf(':');
        if (i > 0) e.style.setProperty(decl.slice(0, i).trim(), decl.slice(i + 1).trim());
      }
    }
    else e.setAttribute(k, v);
  }
  for (const c of children.flat()) {
    if (c === undefined || c === null || c === false) continue;
    e.append(c instanceof Node ? c : String(c));
  }
  return e;
}

function fill(id, ...children) {
  const target = typeof id === 'string' ? $(id) : id;
  target.replaceChildren(...children.flat().filter((c) => c !== null && c !== undefined));
}

function note(text) { return el('div', { class: 'note' }, text); }
function errNote(e) { return el('div', { class: 'err' }, 'error: ' + (e && e.message ? e.message : String(e))); }

function table(headers, rows) {
  return el('table', {},
    el('thead', {}, el('tr', {}, headers.map((h) => {
      const [text, cls] = Array.isArray(h) ? h : [h, ''];
      return el('th', { class: cls }, text);
    }))),
    el('tbody', {}, rows));
}

function kv(pairs) {
  return el('div', { class: 'kv' }, pairs.filter(Boolean).flatMap(([k, v]) => [el('div', {}, k), el('div', {}, v)]));
}

// ---- formatting --------------------------------------------------------

function big(hex) {
  if (hex === null || hex === undefined) return 0n;
  try { return BigInt(hex); } catch (_) { return 0n; }
}
function num(hex) { return Number(big(hex)); }

// fmtEMC shows wei as EMC with up to `dp` decimals and thousands separators.
function fmtEMC(wei, dp = 4) {
  let w = big(wei);
  const neg = w < 0n;
  if (neg) w = -w;
  const whole = w / WEI;
  const scale = 10n ** BigInt(18 - dp);
  let frac = ((w % WEI) + scale / 2n) / scale; // rounded
  let wh = whole;
  if (frac >= 10n ** BigInt(dp)) { wh += 1n; frac = 0n; }
  let s = wh.toLocaleString('en-US');
  if (dp > 0) {
    const f = frac.toString().padStart(dp, '0').replace(/0+$/, '');
    if (f) s += '.' + f;
  }
  if (w > 0n && wh === 0n && frac === 0n) {
    // too small for dp decimals: three significant digits
    const digits = w.toString().padStart(18, '0');
    const first = digits.search(/[1-9]/);
    s = '0.' + digits.slice(0, first + 3).replace(/0+$/, '');
  }
  return (neg ? '-' : '') + s + ' EMC';
}

function shortHash(h, n = 6) {
  if (!h) return '—';
  return h.length > 2 * n + 4 ? h.slice(0, n + 2) + '…' + h.slice(-n + 2) : h;
}

function ago(unixSec) {
  const s = Math.max(0, Math.round(Date.now() / 1000 - unixSec));
  if (s < 60) return s + 's ago';
  if (s < 3600) return Math.floor(s / 60) + 'm ' + (s % 60) + 's ago';
  return Math.floor(s / 3600) + 'h ' + Math.floor((s % 3600) / 60) + 'm ago';
}

function pct(a, b) { return b > 0 ? (100 * a) / b : 0; }

function bar(percent, color) {
  const p = Math.max(0, Math.min(100, percent));
  return el('div', { class: 'bar' }, el('span', { style: `width:${p.toFixed(1)}%` + (color ? `;background:${color}` : '') }));
}

// ref is a clickable value that searches for itself.
function ref(text, query, title) {
  return el('span', { class: 'ref mono', title: title || query, onclick: () => search(query) }, text);
}
function addrRef(a) { return a ? ref(shortHash(a), a, a) : '—'; }

// ---- JSON-RPC over WebSocket -------------------------------------------

class RPCError extends Error {
  constructor(err) {
    super(err.message || 'error ' + err.code);
    this.code = err.code;
    this.data = err.data;
  }
}

class RPC {
  constructor(url) {
    this.url = url;
    this.nextID = 1;
    this.pending = new Map();   // id -> {resolve, reject}
    this.subs = new Map();      // subscription id -> callback
    this.onopen = () => {};
    this.onstatus = () => {};
    this.retry = 500;
    this.connect();
  }

  connect() {
    this.onstatus('connecting');
    const ws = new WebSocket(this.url);
    this.ws = ws;
    ws.onopen = () => {
      this.retry = 500;
      this.onstatus('live');
      this.onopen();
    };
    ws.onmessage = (ev) => this.receive(ev.data);
    ws.onclose = () => {
      this.onstatus('down');
      for (const p of this.pending.values()) p.reject(new Error('connection closed'));
      this.pending.clear();
      this.subs.clear();
      setTimeout(() => this.connect(), this.retry);
      this.retry = Math.min(this.retry * 2, 10000);
    };
    ws.onerror = () => {}; // onclose follows and reconnects
  }

  receive(data) {
    let msg;
    try { msg = JSON.parse(data); } catch (_) { return; }
    for (const m of Array.isArray(msg) ? msg : [msg]) {
      if (m.method === 'eth_subscription' && m.params) {
        const cb = this.subs.get(m.params.subscription);
        if (cb) cb(m.params.result);
        continue;
      }
      const p = this.pending.get(m.id);
      if (!p) continue;
      this.pending.delete(m.id);
      if (m.error) p.reject(new RPCError(m.error));
      else p.resolve(m.result);
    }
  }

  call(method, ...params) {
    return new Promise((resolve, reject) => {
      if (!this.ws || this.ws.readyState !== WebSocket.OPEN) {
        reject(new Error('not connected'));
        return;
      }
      const id = this.nextID++;
      this.pending.set(id, { resolve, reject });
      this.ws.send(JSON.stringify({ jsonrpc: '2.0', id, method, params }));
    });
  }

  async subscribe(kind, cb) {
    const id = await this.call('eth_subscribe', kind);
    this.subs.set(id, cb);
    return id;
  }
}

// ---- state -------------------------------------------------------------

const scheme = location.protocol === 'https:' ? 'wss://' : 'ws://';
const rpc = new RPC(scheme + location.host + '/');
const chain = {
  head: null,       // latest header seen
  blocks: [],       // {number, time, txs} of the last CHART_BLOCKS blocks, oldest first
};

rpc.onstatus = (s) => {
  $('conn-dot').className = 'dot ' + (s === 'live' ? 'live' : s === 'down' ? 'down' : '');
  $('conn-text').textContent = s === 'live' ? 'live' : s === 'down' ? 'disconnected, retrying' : 'connecting';
};

rpc.onopen = async () => {
  try {
    $('chain-id').textContent = num(await rpc.call('eth_chainId')).toString();
    const latest = await rpc.call('eth_getBlockByNumber', 'latest', false);
    await backfill(num(latest.number));
    await rpc.subscribe('newHeads', onHead);
    onHead(latest);
  } catch (e) {
    fill('chain-stats', errNote(e));
  }
};

async function backfill(head) {
  const from = Math.max(0, head - CHART_BLOCKS + 1);
  const calls = [];
  for (let n = from; n <= head; n++) calls.push(rpc.call('eth_getBlockByNumber', '0x' + n.toString(16), false));
  const blocks = await Promise.all(calls);
  chain.blocks = blocks.filter(Boolean).map(summary);
}

function summary(b) {
  return {
    number: num(b.number), time: num(b.timestamp), txs: b.transactions ? b.transactions.length : 0,
    gasUsed: num(b.gasUsed), miner: b.miner, hash: b.hash,
  };
}

async function onHead(h) {
  const n = num(h.number);
  if (chain.head && n <= num(chain.head.number) && n !== 0) {
    // a reorg cannot happen under BFT finality; ignore stale repeats
    if (n < num(chain.head.number)) return;
  }
  chain.head = h;
  $('head-number').textContent = '#' + n.toLocaleString('en-US');
  $('head-number').dataset.number = String(n);
  const last = chain.blocks[chain.blocks.length - 1];
  if (!last || last.number < n) {
    try {
      const b = await rpc.call('eth_getBlockByNumber', h.number, false);
      if (b) {
        chain.blocks.push(summary(b));
        chain.blocks = chain.blocks.filter((x) => x.number > n - CHART_BLOCKS);
      }
    } catch (_) { /* the next head retries */ }
  }
  drawChart();
  chainStats();
  recentBlocks();
  scheduleRefresh();
}

setInterval(() => {
  if (chain.head) $('head-age').textContent = ago(num(chain.head.timestamp));
}, 1000);

// ---- refresh of the panels (coalesced: one in flight, one queued) -----

let refreshing = false;
let refreshQueued = false;

function scheduleRefresh() {
  if (refreshing) { refreshQueued = true; return; }
  refreshing = true;
  refreshAll().finally(() => {
    refreshing = false;
    if (refreshQueued) {
      refreshQueued = false;
      setTimeout(scheduleRefresh, 500);
    }
  });
}

async function refreshAll() {
  await Promise.all([network(), validators(), epoch(), supply(), nodes(), jobsPanel(), apps()]
    .map((p) => p.catch(() => {})));
}

// guarded runs fn and shows its error in the panel instead of throwing.
async function guarded(panel, fn) {
  try { await fn(); } catch (e) { fill(panel, errNote(e)); }
}

// optional calls a method a node may not serve: null when it does not.
async function optional(method, ...params) {
  try { return { ok: true, value: await rpc.call(method, ...params) }; } catch (e) { return { ok: false, error: e }; }
}

// ---- chain stats and chart ---------------------------------------------

function chainStats() {
  const bs = chain.blocks;
  const timed = bs.filter((b) => b.number >= 2); // block 1's gap is from the genesis file's time
  if (timed.length >= 2) {
    const span = timed[timed.length - 1].time - timed[0].time;
    $('avg-block-time').textContent = (span / (timed.length - 1)).toFixed(2) + ' s';
  }
  if (bs.length) {
    const txs = bs.reduce((s, b) => s + b.txs, 0);
    $('avg-txs').textContent = (txs / bs.length).toFixed(2);
  }
}

function drawChart() {
  const canvas = $('chart');
  const dpr = window.devicePixelRatio || 1;
  const w = canvas.clientWidth;
  const h = 180;
  if (!w) return;
  if (canvas.width !== Math.round(w * dpr)) canvas.width = Math.round(w * dpr);
  canvas.height = Math.round(h * dpr);
  const ctx = canvas.getContext('2d');
  ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
  ctx.clearRect(0, 0, w, h);
  const bs = chain.blocks;
  const padL = 34, padR = 44, padT = 10, padB = 22;
  const pw = w - padL - padR, ph = h - padT - padB;
  const css = getComputedStyle(document.documentElement);
  const cBars = css.getPropertyValue('--accent').trim();
  const cLine = css.getPropertyValue('--accent2').trim();
  const cGrid = css.getPropertyValue('--line').trim();
  const cText = css.getPropertyValue('--muted').trim();
  ctx.font = '11px system-ui, sans-serif';
  ctx.strokeStyle = cGrid;
  ctx.fillStyle = cText;
  ctx.lineWidth = 1;
  for (let i = 0; i <= 4; i++) {
    const y = padT + (ph * i) / 4 + 0.5;
    ctx.beginPath(); ctx.moveTo(padL, y); ctx.lineTo(w - padR, y); ctx.stroke();
  }
  if (bs.length === 0) return;
  const maxTx = Math.max(1, ...bs.map((b) => b.txs));
  // seconds since the previous block, averaged over the last 5 (timestamps
  // are whole seconds); none for block 1: genesis has the file's time
  const raw = bs.map((b, i) => (i === 0 || b.number < 2 ? null : b.time - bs[i - 1].time));
  const gaps = raw.map((g, i) => {
    if (g === null) return null;
    const win = raw.slice(Math.max(0, i - 4), i + 1).filter((x) => x !== null);
    return win.reduce((a, b) => a + b, 0) / win.length;
  });
  const maxGap = Math.max(1, ...gaps.filter((g) => g !== null));
  const slot = pw / CHART_BLOCKS;
  const x0 = padL + pw - slot * bs.length;
  ctx.fillStyle = cBars;
  bs.forEach((b, i) => {
    const bh = (ph * b.txs) / maxTx;
    ctx.fillRect(x0 + i * slot + slot * 0.15, padT + ph - bh, Math.max(1, slot * 0.7), bh);
  });
  ctx.strokeStyle = cLine;
  ctx.lineWidth = 2;
  ctx.beginPath();
  let started = false;
  gaps.forEach((g, i) => {
    if (g === null) return;
    const x = x0 + i * slot + slot / 2;
    const y = padT + ph - (ph * g) / maxGap;
    if (started) ctx.lineTo(x, y); else { ctx.moveTo(x, y); started = true; }
  });
  ctx.stroke();
  ctx.fillStyle = cText;
  ctx.textAlign = 'right';
  ctx.fillText(String(maxTx), padL - 6, padT + 8);
  ctx.fillText('0', padL - 6, padT + ph);
  ctx.textAlign = 'left';
  ctx.fillText((maxGap < 10 ? maxGap.toFixed(1) : maxGap.toFixed(0)) + 's', w - padR + 6, padT + 8);
  ctx.fillText('0s', w - padR + 6, padT + ph);
  ctx.textAlign = 'center';
  const first = bs[0].number, last = bs[bs.length - 1].number;
  ctx.fillText('#' + first, Math.max(padL + 20, x0 + slot / 2), h - 6);
  ctx.fillText('#' + last, w - padR - 20, h - 6);
}
window.addEventListener('resize', drawChart);

// ---- panels ------------------------------------------------------------

function recentBlocks() {
  const rows = chain.blocks.slice(-8).reverse().map((b) => el('tr', {},
    el('td', {}, ref('#' + b.number, String(b.number))),
    el('td', { class: 'hide-sm' }, ref(shortHash(b.hash), b.hash, b.hash)),
    el('td', { class: 'num' }, ago(b.time)),
    el('td', { class: 'num' }, String(b.txs)),
    el('td', { class: 'num hide-sm' }, b.gasUsed.toLocaleString('en-US')),
    el('td', { class: 'hide-sm' }, addrRef(b.miner))));
  fill('blocks', table(['block', ['hash', 'hide-sm'], ['time', 'num'], ['txs', 'num'], ['gas used', 'num hide-sm'], ['proposer', 'hide-sm']], rows));
}

async function network() {
  const [peers, pool, cons] = await Promise.all([
    optional('net_peerCount'), optional('txpool_status'), optional('emc_consensusStatus')]);
  $('peer-count').textContent = peers.ok ? String(num(peers.value)) : 'n/a';
  $('txpool').textContent = pool.ok ? `${num(pool.value.pending)} pending · ${num(pool.value.queued)} queued` : 'n/a';
  let c = 'n/a';
  if (cons.ok) {
    const s = cons.value;
    if (s === null) c = 'dev sealer';
    else if (typeof s === 'object') {
      const parts = [];
      if (s.height !== undefined) parts.push('height ' + num(s.height));
      if (s.round !== undefined) parts.push('round ' + num(s.round));
      c = parts.length ? parts.join(' · ') : 'IBFT';
    }
  }
  $('consensus').textContent = c;
}

async function validators() {
  await guarded('validators', async () => {
    const head = chain.head ? num(chain.head.number) : 0;
    const from = Math.max(0, head - SIGNERS_WINDOW + 1);
    const [vals, signers] = await Promise.all([
      rpc.call('emc_validators'),
      optional('emc_signers', '0x' + from.toString(16), '0x' + head.toString(16))]);
    const share = new Map();
    if (signers.ok) {
      for (const s of signers.value.signers) share.set(s.address.toLowerCase(), s);
      $('signers-range').textContent = `certificates of the last ${num(signers.value.certificates)} blocks`;
    } else {
      $('signers-range').textContent = '';
    }
    const total = vals.reduce((s, v) => s + big(v.stake), 0n);
    const rows = vals.map((v) => {
      const s = share.get(v.address.toLowerCase());
      const p = s ? pct(num(s.signed), num(s.eligible)) : null;
      return el('tr', {},
        el('td', {}, addrRef(v.address)),
        el('td', { class: 'num' }, fmtEMC(v.stake, 0)),
        el('td', { class: 'num hide-sm' }, total > 0n ? (Number((big(v.stake) * 10000n) / total) / 100).toFixed(1) + '%' : '—'),
        el('td', {}, v.jailed ? el('span', { class: 'badge st-failed' }, 'jailed') : el('span', { class: 'badge st-settled' }, 'active')),
        el('td', {}, p === null ? note(signers.ok ? 'no certificates' : 'n/a')
          : el('div', { class: 'share' }, bar(p), el('span', { class: 'mono' }, p.toFixed(0) + '%'))));
    });
    fill('validators', vals.length ? table(['validator', ['stake', 'num'], ['of total', 'num hide-sm'], 'status', 'signed'], rows)
      : note('no validators'));
  });
}

async function epoch() {
  const r = await optional('emc_epochInfo');
  if (!r.ok) {
    fill('epoch', r.error.code === METHOD_NOT_FOUND ? note('not available on this chain') : note(r.error.message));
    return;
  }
  const e = r.value;
  const head = chain.head ? num(chain.head.number) : num(e.firstBlock);
  const first = num(e.firstBlock), last = num(e.lastBlock);
  const progress = pct(head - first + 1, last - first + 1);
  const p = e.pools || {};
  fill('epoch',
    el('div', { class: 'stats' },
      el('div', {}, el('span', { class: 'label' }, 'epoch'), el('span', {}, String(num(e.epoch)))),
      el('div', {}, el('span', { class: 'label' }, 'blocks'), el('span', {}, `${first}–${last}`)),
      el('div', {}, el('span', { class: 'label' }, 'period'), el('span', {}, String(num(e.period))))),
    bar(progress),
    el('div', { class: 'muted small', style: 'margin:4px 0 10px' }, `${progress.toFixed(0)}% through the epoch`),
    kv([
      ['epoch reward', fmtEMC(e.epochReward)],
      ['last settled', e.lastSettled === null ? 'none yet' : `epoch ${num(e.lastSettled)} · ${fmtEMC(e.lastReward)}`],
      ['node pool', fmtEMC(p.node)],
      ['trade pool', fmtEMC(p.trade)],
      ['staking pool', fmtEMC(p.staking)],
      ['long-term pool', fmtEMC(p.longTerm)],
      ['accrued, unclaimed', fmtEMC(p.accrued)],
    ]));
}

async function supply() {
  await guarded('supply', async () => {
    const s = await rpc.call('emc_supply');
    const total = big(s.total);
    const parts = [
      ['circulating', big(s.circulating), 'var(--accent)'],
      ['held by modules', big(s.moduleHeld), 'var(--accent2)'],
      ['burned', big(s.burned), 'var(--bad)'],
    ];
    const stack = el('div', { class: 'bar stack', style: 'height:12px;margin-bottom:10px' },
      parts.map(([, v, c]) => el('span', { style: `width:${total > 0n ? pct(Number(v * 100000n / total), 100000).toFixed(3) : 0}%;background:${c}` })));
    fill('supply', stack, kv([
      ['total', fmtEMC(s.total, 0)],
      ...parts.map(([k, v, c]) => [el('span', {}, el('span', { class: 'swatch', style: `background:${c}` }), k), fmtEMC(v)]),
      ['burned: base fee', fmtEMC(s.burnedBaseFee)],
      ['burned: rent', fmtEMC(s.burnedRent)],
      ['burned: slashing', fmtEMC(s.burnedSlash)],
    ]));
  });
}

async function nodes() {
  const r = await optional('emc_computeNodes');
  if (!r.ok) {
    fill('nodes', note(r.error.code === METHOD_NOT_FOUND ? 'not available on this chain' : r.error.message));
    return;
  }
  const list = r.value.nodes;
  const live = await optional('emc_liveNodes');
  const byOwner = new Map();
  if (live.ok) for (const n of live.value) byOwner.set(n.latest.owner.toLowerCase(), n);
  const head = chain.head ? num(chain.head.number) : 0;
  const rows = list.map((n) => {
    const l = byOwner.get(n.owner.toLowerCase());
    let util = el('span', { class: 'muted' }, live.ok ? 'offline' : 'n/a');
    if (l) {
      const u = l.latest.gpuUtil || [];
      util = el('span', { class: 'util', title: u.map((x) => (x === UTIL_UNKNOWN ? '?' : x + '%')).join(' ') },
        u.map((x) => el('span', {}, el('i', { style: `height:${x === UTIL_UNKNOWN ? 0 : x}%` }))),
        el('span', { class: 'mono', style: 'width:auto;background:none;margin-left:4px;height:auto' },
          `${avgUtil(u)} · ${l.latest.freeGpus}/${num(n.gpuCount)} free`));
    }
    // The chain's reliability score (computing/score, 0…1,000,000; the
    // router gives no job below 250,000) and the last challenge outcomes.
    let score = el('span', { class: 'muted' }, 'n/a');
    if (n.score !== null && n.score !== undefined) {
      const v = num(n.score);
      const hist = (n.history || []).slice(0, 8);
      score = el('span', { title: 'reliability score ' + v + ' / 1,000,000' + (hist.length ? '; last challenges: ' + hist.join(', ') : '; no challenges yet') },
        el('span', { class: 'badge ' + (v < 250000 ? 'st-failed' : 'st-settled') }, (v / 10000).toFixed(1)),
        hist.length ? el('span', { class: 'mono small', style: 'margin-left:6px' }, hist.map((h) => (h === 'verified' ? '✓' : '✗')).join('')) : null);
    }
    return el('tr', {},
      el('td', {}, addrRef(n.owner)),
      el('td', {}, num(n.gpuCount) ? `${num(n.gpuCount)} × ${n.gpuModel || 'GPU'}` : 'CPU only',
        n.simulated ? el('span', { class: 'badge', style: 'margin-left:6px' }, 'simulated') : null),
      el('td', { class: 'num hide-sm' }, num(n.memoryMiB) ? (num(n.memoryMiB) / 1024).toFixed(0) + ' GiB' : '—'),
      el('td', {}, util),
      el('td', {}, score),
      el('td', { class: 'num hide-sm' }, head ? `${head - num(n.lastSeenBlock)} blocks ago` : '—'));
  });
  const routers = r.value.routers || [];
  fill('nodes',
    list.length ? table(['owner', 'GPUs', ['memory', 'num hide-sm'], 'live utilisation', 'score', ['last seen', 'num hide-sm']], rows)
      : note('no compute node registered'),
    el('div', { class: 'muted small', style: 'margin-top:8px' },
      `${num(r.value.totalNodes)} registered node(s) · ${routers.length} router(s)` +
      (routers.length ? ': ' + routers.map((x) => shortHash(x.owner) + (x.staked ? '' : ' (unstaked)')).join(', ') : '') +
      (live.ok ? '' : ' · live status: ' + live.error.message)));
}

function avgUtil(u) {
  const known = u.filter((x) => x !== UTIL_UNKNOWN);
  return known.length ? (known.reduce((a, b) => a + b, 0) / known.length).toFixed(0) + '%' : '?%';
}

function jobRow(j) {
  const cost = j.escrowKind === 'credits' ? `${big(j.costCredits)} credits` : fmtEMC(j.cost);
  return el('tr', { dataset: { jobId: String(num(j.id)), state: j.state } },
    el('td', {}, ref('#' + num(j.id), 'job ' + num(j.id))),
    el('td', {}, el('span', { class: 'badge st-' + j.state }, j.state)),
    el('td', {}, addrRef(j.submitter)),
    el('td', {}, num(j.gpus) ? `${num(j.gpus)} × ${j.gpuModel || 'any'}` : 'CPU'),
    el('td', { class: 'hide-sm' }, addrRef(j.node)),
    el('td', { class: 'num' }, ['completed', 'settled', 'failed', 'disputed'].includes(j.state) ? cost : '—'),
    el('td', { class: 'num hide-sm' }, ref('#' + num(j.submitBlock), String(num(j.submitBlock)))));
}

async function jobsPanel() {
  const r = await optional('emc_jobs', { limit: '0x1' });
  if (!r.ok) {
    fill('jobs', note(r.error.code === METHOD_NOT_FOUND ? 'not available on this chain' : r.error.message));
    return;
  }
  const total = num(r.value.total);
  $('jobs-total').textContent = total ? `${total} in all, newest first` : '';
  if (!total) { fill('jobs', note('no jobs yet')); return; }
  const page = await rpc.call('emc_jobs', { offset: '0x' + Math.max(0, total - JOBS_SHOWN).toString(16), limit: '0x' + JOBS_SHOWN.toString(16) });
  const list = page.jobs.slice().reverse();
  fill('jobs', table(['job', 'state', 'submitter', 'GPUs', ['node', 'hide-sm'], ['cost', 'num'], ['block', 'num hide-sm']], list.map(jobRow)));
}

// apps shows the newest published apps and the newest instances (leases)
// with their state, node and what they were charged.
async function apps() {
  const shown = '0x' + APPS_SHOWN.toString(16);
  const r = await optional('emc_apps', '0x0', '0x1');
  if (!r.ok) {
    fill('apps', note(r.error.code === METHOD_NOT_FOUND ? 'not available on this chain' : r.error.message));
    return;
  }
  const totalApps = num(r.value.total);
  if (!totalApps) { fill('apps', note('no apps published yet')); return; }
  const [page, insts] = await Promise.all([
    rpc.call('emc_apps', '0x' + Math.max(0, totalApps - APPS_SHOWN).toString(16), shown),
    optional('emc_instances', '0x0', '0x1'),
  ]);
  const price = (a) => {
    const parts = [];
    if (big(a.pricePerCallWei) > 0n) parts.push(fmtEMC(a.pricePerCallWei, 6) + ' / call');
    if (big(a.pricePerGpuSecondWei) > 0n) parts.push(fmtEMC(a.pricePerGpuSecondWei, 6) + ' / GPU·s');
    return parts.join(' + ') || '—';
  };
  const out = [table(['app', ['publisher', 'hide-sm'], 'price', ['royalty', 'num'], ['block', 'num hide-sm']],
    page.apps.slice().reverse().map((a) => el('tr', {},
      el('td', {}, el('span', { class: 'mono' }, '#' + num(a.id)), ' ', a.name || ''),
      el('td', { class: 'hide-sm' }, addrRef(a.publisher)),
      el('td', {}, price(a)),
      el('td', { class: 'num' }, (num(a.royaltyBps) / 100).toFixed(2) + ' %'),
      el('td', { class: 'num hide-sm' }, ref('#' + num(a.block), String(num(a.block)))))))];
  const totalInst = insts.ok ? num(insts.value.total) : 0;
  if (totalInst) {
    const ip = await rpc.call('emc_instances', '0x' + Math.max(0, totalInst - APPS_SHOWN).toString(16), shown);
    out.push(el('h3', { class: 'sub' }, `Instances (${totalInst} in all, newest first)`));
    out.push(table(['instance', 'app', 'state', ['owner', 'hide-sm'], ['node', 'hide-sm'], ['calls', 'num'], ['charged', 'num']],
      ip.instances.slice().reverse().map((i) => el('tr', {},
        el('td', { class: 'mono' }, '#' + num(i.id)),
        el('td', { class: 'mono' }, '#' + num(i.app)),
        el('td', {}, el('span', { class: 'badge st-' + i.state }, i.state + (i.endReason ? ' (' + i.endReason + ')' : ''))),
        el('td', { class: 'hide-sm' }, addrRef(i.owner)),
        el('td', { class: 'hide-sm' }, addrRef(i.node)),
        el('td', { class: 'num' }, String(num(i.calls))),
        el('td', { class: 'num' }, fmtEMC(i.charged, 6))))));
  } else {
    out.push(note('no instances deployed yet'));
  }
  fill('apps', out);
}

// ---- search ------------------------------------------------------------

async function search(q) {
  q = String(q).trim();
  if (!q) return;
  $('search-input').value = q;
  const panel = $('search-panel');
  panel.hidden = false;
  fill('search-result', note('searching ' + q + ' …'));
  panel.scrollIntoView({ behavior: 'smooth', block: 'start' });
  try {
    const blocks = await searchFor(q);
    fill('search-result', blocks.length ? blocks : note('nothing found for ' + q));
  } catch (e) {
    fill('search-result', errNote(e));
  }
}

function resultBlock(title, body) {
  return el('div', { class: 'result-block' }, el('h3', {}, title), body);
}

async function searchFor(q) {
  const out = [];
  let m;
  if ((m = q.match(/^(?:job\s*#?|j)(\d+)$/i))) {
    const j = await rpc.call('emc_getJob', '0x' + BigInt(m[1]).toString(16));
    if (j) out.push(jobResult(j));
    return out;
  }
  if ((m = q.match(/^#?(\d+)$/))) {
    const n = '0x' + BigInt(m[1]).toString(16);
    const [b, j] = await Promise.all([rpc.call('eth_getBlockByNumber', n, false), optional('emc_getJob', n)]);
    if (b) out.push(blockResult(b));
    if (j.ok && j.value) out.push(jobResult(j.value));
    return out;
  }
  if (/^0x[0-9a-fA-F]{64}$/.test(q)) {
    const tx = await rpc.call('eth_getTransactionByHash', q);
    if (tx) {
      const rc = await rpc.call('eth_getTransactionReceipt', q);
      out.push(txResult(tx, rc));
      return out;
    }
    const b = await rpc.call('eth_getBlockByHash', q, false);
    if (b) out.push(blockResult(b));
    return out;
  }
  if (/^0x[0-9a-fA-F]{40}$/.test(q)) {
    out.push(await addressResult(q));
    return out;
  }
  throw new Error('not a block number, hash, address or job (try 42, job 7, 0x…)');
}

function blockResult(b) {
  return resultBlock('Block #' + num(b.number), kv([
    ['hash', b.hash],
    ['parent', ref(shortHash(b.parentHash, 10), b.parentHash, b.parentHash)],
    ['time', new Date(num(b.timestamp) * 1000).toISOString() + ' (' + ago(num(b.timestamp)) + ')'],
    ['proposer', addrRef(b.miner)],
    ['transactions', b.transactions.length ? el('span', {}, b.transactions.map((h, i) => [i ? ', ' : '', ref(shortHash(h), h, h)])) : '0'],
    ['gas used', `${num(b.gasUsed).toLocaleString('en-US')} of ${num(b.gasLimit).toLocaleString('en-US')}`],
    ['base fee', b.baseFeePerGas ? (Number(big(b.baseFeePerGas)) / 1e9).toFixed(3) + ' gwei' : '—'],
  ]));
}

function txResult(tx, rc) {
  return resultBlock('Transaction', kv([
    ['hash', tx.hash],
    ['block', tx.blockNumber ? ref('#' + num(tx.blockNumber), String(num(tx.blockNumber))) : 'pending'],
    ['from', addrRef(tx.from)],
    ['to', tx.to ? addrRef(tx.to) : 'contract creation'],
    ['value', fmtEMC(tx.value)],
    ['nonce', String(num(tx.nonce))],
    ['status', rc ? (num(rc.status) === 1 ? el('span', { class: 'badge st-settled' }, 'success') : el('span', { class: 'badge st-failed' }, 'reverted')) : 'pending'],
    rc && ['gas used', num(rc.gasUsed).toLocaleString('en-US')],
    ['input', tx.input && tx.input.length > 2 ? `${(tx.input.length - 2) / 2} bytes (selector ${tx.input.slice(0, 10)})` : 'none'],
  ]));
}

function jobResult(j) {
  return resultBlock('Job #' + num(j.id), kv([
    ['state', el('span', { class: 'badge st-' + j.state }, j.state)],
    ['submitter', addrRef(j.submitter)],
    ['GPUs', num(j.gpus) ? `${num(j.gpus)} × ${j.gpuModel || 'any'}` : 'CPU only'],
    ['image', j.image],
    ['submitted in', ref('#' + num(j.submitBlock), String(num(j.submitBlock)))],
    ['router', addrRef(j.router)],
    ['node', addrRef(j.node)],
    ['escrow', j.escrowKind === 'credits' ? `${big(j.escrowCredits)} credits` : fmtEMC(j.escrow)],
    ['price', fmtEMC(j.priceWeiPerGpuSecond, 8) + ' per GPU-second'],
    ['GPU time', (num(j.gpuMillis) / 1000).toFixed(3) + ' s'],
    ['cost', fmtEMC(j.cost, 8)],
    ['burned', fmtEMC(j.burned, 8)],
    ['refund', fmtEMC(j.refund, 8)],
    ['exit code', String(j.exit)],
    ['result', j.recordSHA256 || '—'],
  ]));
}

async function addressResult(a) {
  const [bal, nonce, code, stake, credits, rewards, jobs] = await Promise.all([
    rpc.call('eth_getBalance', a, 'latest'), rpc.call('eth_getTransactionCount', a, 'latest'),
    rpc.call('eth_getCode', a, 'latest'), optional('emc_stakeOf', a), optional('emc_creditsOf', a),
    optional('emc_rewardsOf', a), optional('emc_jobs', { owner: a, limit: '0x64' })]);
  const pairs = [
    ['balance', fmtEMC(bal)],
    ['nonce', String(num(nonce))],
    ['kind', code && code !== '0x' ? `contract (${(code.length - 2) / 2} bytes of code)` : 'account'],
  ];
  if (stake.ok && stake.value && big(stake.value.amount) > 0n) {
    pairs.push(['stake', `${fmtEMC(stake.value.amount)} as ${stake.value.role || '—'}` + (stake.value.jailed ? ' (jailed)' : '')]);
  }
  if (credits.ok) pairs.push(['credits', String(big(credits.value))]);
  if (rewards.ok && big(rewards.value.total) > 0n) pairs.push(['claimable rewards', fmtEMC(rewards.value.total)]);
  const body = [kv(pairs)];
  if (jobs.ok && jobs.value.jobs.length) {
    body.push(el('div', { class: 'table-wrap', style: 'margin-top:8px' },
      table(['job', 'state', 'submitter', 'GPUs', ['node', 'hide-sm'], ['cost', 'num'], ['block', 'num hide-sm']],
        jobs.value.jobs.slice().reverse().map(jobRow))));
  }
  return resultBlock('Address ' + a, el('div', {}, body));
}

$('search').addEventListener('submit', (ev) => {
  ev.preventDefault();
  search($('search-input').value);
});
$('search-close').addEventListener('click', () => { $('search-panel').hidden = true; });
