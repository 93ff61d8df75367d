// cutoverd status page: polls the JSON API (docs/api.md, HTTP section) once
// per second and renders one cutover. Read-only: it never calls a mutating
// endpoint. No libraries and no external URLs; charts are inline SVG.
//
// The API is protobuf's JSON mapping with snake_case names: int64 are strings,
// Durations "1.5s", Timestamps RFC 3339, enums "PHASE_COPYING", and fields at
// their default value may be absent, so every read below has a default.
//
// Stable hooks for tests and scripts (docs/status-page.md): body[data-phase]
// (phase without prefix), body[data-kind], #phase, #cutover-id,
// #tables tr[data-table], #timeline li[data-phase][data-state], #events li,
// #backlog-chart, #rate-chart, #flip, #accepted-losses, #replay, #banner.
'use strict';

(function () {
  const POLL_MS = 1000;
  const LIST_EVERY = 5;          // the list (every cutover, plans included) every 5th poll
  const FETCH_TIMEOUT_MS = 4000; // a hung daemon counts as unreachable
  const MAIN = ['PLANNED', 'CAPTURING', 'COPYING', 'INDEXING', 'VERIFYING_COPY', 'MIGRATING',
    'CATCHING_UP', 'READY', 'FLIPPING', 'DRAINING', 'COMPLETED'];
  const SIDE = ['PAUSED', 'FAILED', 'ABORTED', 'ROLLING_BACK', 'ROLLED_BACK'];
  const TERMINAL = new Set(['COMPLETED', 'ABORTED', 'ROLLED_BACK']);
  const KIND_LABEL = {
    idle: 'planned, not started', running: 'running', waiting: 'waiting for approval',
    ok: 'completed', failed: 'failed: needs an operator', paused: 'paused', ended: 'ended', loading: '',
  };

  const st = {
    id: null,            // the cutover shown
    pinned: false,       // chosen by ?cutover= or the selector (never switched automatically)
    list: [],
    cutover: null,
    transitions: [],
    lastSeq: 0,
    series: null,
    seriesFinal: false,  // a terminal cutover's series is fetched once more, then kept
    seriesAt: 0,         // Date.now() of the last series fetch
    skew: 0,             // server clock - browser clock (ms), when they clearly differ
    dateHeader: false,   // the server sends Date: the better clock reading
    newestSample: null,  // time of the newest series point seen
    notFound: null,
    lastOk: 0,           // Date.now() of the last fully successful poll
    failing: null,       // why the last poll failed
    polls: 0,
    selectorKey: '',
  };

  // ---- parsing (protobuf JSON) ----
  const num = (v) => (v === undefined || v === null || v === '' ? 0 : Number(v));
  const phaseName = (p) => (p ? String(p).replace(/^PHASE_/, '') : '');
  const tableState = (s) => (s ? String(s).replace(/^TABLE_STATE_/, '') : 'PENDING');
  const flipStep = (s) => (s ? String(s).replace(/^FLIP_STEP_/, '') : 'NONE');
  // RFC 3339 with up to nanoseconds -> milliseconds since the epoch (float).
  function ts(s) {
    if (!s) return null;
    const m = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(\.\d+)?(Z|[+-]\d\d:\d\d)$/.exec(s);
    if (!m) { const t = Date.parse(s); return Number.isNaN(t) ? null : t; }
    return Date.parse(m[1] + m[3]) + (m[2] ? Number(m[2]) * 1000 : 0);
  }
  // Duration "1.500s" -> seconds; null when absent.
  function dur(s) {
    if (s === undefined || s === null || s === '') return null;
    const m = /^(-?\d+(?:\.\d+)?)s$/.exec(String(s));
    return m ? Number(m[1]) : null;
  }

  // ---- formatting ----
  const esc = (s) => String(s === undefined || s === null ? '' : s).replace(/[&<>"']/g,
    (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' }[c]));
  const fmtInt = (n) => Math.round(num(n)).toLocaleString('en-US');
  function fmtCompact(n) {
    const a = Math.abs(n);
    if (a >= 1e9) return (n / 1e9).toFixed(a >= 1e10 ? 0 : 1) + 'G';
    if (a >= 1e6) return (n / 1e6).toFixed(a >= 1e7 ? 0 : 1) + 'M';
    if (a >= 1e3) return (n / 1e3).toFixed(a >= 1e4 ? 1 : 1) + 'k';
    if (a >= 100 || n === Math.round(n)) return String(Math.round(n));
    return n.toFixed(a >= 10 ? 1 : 2);
  }
  // Bytes in 1024 steps with pg_size_pretty's unit names.
  function fmtBytes(b) {
    b = num(b);
    const u = ['B', 'kB', 'MB', 'GB', 'TB', 'PB'];
    let i = 0;
    while (Math.abs(b) >= 1024 && i < u.length - 1) { b /= 1024; i++; }
    return (i === 0 ? String(Math.round(b)) : b.toFixed(Math.abs(b) >= 100 ? 0 : 1)) + ' ' + u[i];
  }
  function fmtSecs(s) {
    if (s === null || s === undefined || Number.isNaN(s)) return '–';
    const neg = s < 0; s = Math.abs(s);
    let r;
    if (s === 0) r = '0 s';
    else if (s < 0.001) r = (s * 1e6).toFixed(0) + ' µs';
    else if (s < 1) r = (s * 1000).toFixed(s < 0.01 ? 2 : 1) + ' ms';
    else if (s < 60) r = s.toFixed(s < 10 ? 2 : 1) + ' s';
    else if (s < 3600) r = Math.floor(s / 60) + 'm ' + String(Math.floor(s % 60)).padStart(2, '0') + 's';
    else if (s < 86400) r = Math.floor(s / 3600) + 'h ' + String(Math.floor((s % 3600) / 60)).padStart(2, '0') + 'm';
    else r = Math.floor(s / 86400) + 'd ' + Math.floor((s % 86400) / 3600) + 'h';
    return (neg ? '-' : '') + r;
  }
  const fmtAgo = (s) => (s < 60 ? Math.round(s) + ' s' : fmtSecs(s));
  const pad2 = (n) => String(n).padStart(2, '0');
  function fmtClock(ms) {
    if (ms === null) return '–';
    const d = new Date(ms);
    return pad2(d.getHours()) + ':' + pad2(d.getMinutes()) + ':' + pad2(d.getSeconds());
  }
  function fmtWhen(ms) {
    if (ms === null) return '–';
    const d = new Date(ms);
    return d.getFullYear() + '-' + pad2(d.getMonth() + 1) + '-' + pad2(d.getDate()) + ' ' + fmtClock(ms);
  }
  const pretty = (p) => p.replace(/_/g, ' ');

  function kindOf(c) {
    const p = phaseName(c.phase);
    if (p === 'COMPLETED') return 'ok';
    if (p === 'FAILED') return 'failed';
    if (p === 'PAUSED') return 'paused';
    if (p === 'ABORTED' || p === 'ROLLED_BACK') return 'ended';
    if (p === 'PLANNED') return 'idle';
    if (p === 'READY' && !c.approved && !((c.plan || {}).flip || {}).auto_flip) return 'waiting';
    return 'running';
  }

  // ---- DOM helpers: only touch what changed (keeps selection and focus) ----
  const $ = (id) => document.getElementById(id);
  const last = new Map();
  function html(id, s) {
    if (last.get(id) === s) return;
    last.set(id, s);
    $(id).innerHTML = s;
  }
  function text(id, s) {
    const el = $(id);
    if (el.textContent !== s) el.textContent = s;
  }

  // ---- fetching ----
  async function getJson(path) {
    const ctl = new AbortController();
    const timer = setTimeout(() => ctl.abort(), FETCH_TIMEOUT_MS);
    try {
      const r = await fetch(path, { cache: 'no-store', signal: ctl.signal, headers: { Accept: 'application/json' } });
      const date = Date.parse(r.headers.get('Date') || '');
      if (!Number.isNaN(date)) { st.dateHeader = true; noteServerTime(date + 500); }
      let body = null;
      try { body = await r.json(); } catch (e) { body = null; }
      if (!r.ok) {
        const err = new Error((body && body.error) || ('HTTP ' + r.status));
        err.status = r.status;
        throw err;
      }
      return body || {};
    } catch (e) {
      if (e.name === 'AbortError') throw new Error('no answer within ' + FETCH_TIMEOUT_MS / 1000 + ' s');
      throw e;
    } finally {
      clearTimeout(timer);
    }
  }
  const api = (rest) => 'api/v1/cutovers' + rest;  // relative: works behind a path-prefix proxy

  function chooseDefault(list) {
    if (!list.length) return null;
    const byUpdate = list.slice().sort((a, b) => (ts(b.updated_at) || 0) - (ts(a.updated_at) || 0));
    const live = byUpdate.find((c) => !TERMINAL.has(phaseName(c.phase)));
    return (live || byUpdate[0]).id;
  }

  function select(id, pinned) {
    if (id === st.id) return;
    st.id = id;
    st.pinned = pinned;
    st.cutover = null;
    st.transitions = [];
    st.lastSeq = 0;
    st.series = null;
    st.seriesFinal = false;
    st.seriesAt = 0;
    st.newestSample = null;
    st.notFound = null;
    last.clear();
    for (const k in chartKeys) delete chartKeys[k];
    if (pinned) {
      const u = new URL(window.location.href);
      u.searchParams.set('cutover', id);
      window.history.replaceState(null, '', u.toString());
    }
  }

  // Durations "in phase for", "lease until" and countdowns compare server
  // timestamps with the browser's clock; a browser clock that is clearly off
  // (more than 3 s: another host without NTP, or headless virtual time) is
  // corrected by the server's Date header or the newest live sample.
  function noteServerTime(serverMs) {
    const d = serverMs - Date.now();
    st.skew = Math.abs(d) > 3000 ? d : 0;
  }
  const nowMs = () => Date.now() + st.skew;

  // A StatusPoint made from the cutover itself (between series fetches).
  function livePoint(c) {
    const r = c.replay || {};
    return {
      at: new Date(nowMs()).toISOString(), phase: c.phase, backlog: r.backlog,
      replay_events_per_second: r.events_per_second, copy_bytes_per_second: (c.copy || {}).bytes_per_second,
      rollback_backlog: (c.rollback_replay || {}).backlog,
    };
  }

  async function poll() {
    st.polls++;
    try {
      if (st.polls === 1 || st.polls % LIST_EVERY === 0 || (!st.id && !st.pinned)) {
        st.list = (await getJson(api(''))).cutovers || [];
        if (!st.pinned) {
          const def = chooseDefault(st.list);
          // Follow the newest live cutover until the operator picks one.
          if (def && (!st.cutover || TERMINAL.has(phaseName(st.cutover.phase)))) select(def, false);
        }
      }
      if (st.id) {
        const id = encodeURIComponent(st.id);
        // The series is up to 3600 points: fetch it every second while short,
        // every 5 s once long; in between, the cutover's own numbers extend it.
        const have = st.series && st.series.points ? st.series.points.length : 0;
        const wantSeries = !st.seriesFinal && Date.now() - st.seriesAt >= (have < 300 ? 0 : 4900);
        const [c, tl, series] = await Promise.all([
          getJson(api('/' + id)),
          getJson(api('/' + id + '/timeline?after_seq=' + st.lastSeq)),
          wantSeries ? getJson(api('/' + id + '/series')).catch((e) => ({ error: e.message })) : null,
        ]);
        st.cutover = c;
        st.notFound = null;
        for (const t of tl.transitions || []) {
          if (num(t.seq) > st.lastSeq) { st.transitions.push(t); st.lastSeq = num(t.seq); }
        }
        if (series) {
          st.series = series;
          st.seriesAt = Date.now();
          // The daemon samples a terminal cutover once more, then stops.
          const pts = series.points || [];
          if (pts.length && TERMINAL.has(phaseName(pts[pts.length - 1].phase))) st.seriesFinal = true;
          // While the daemon samples (its newest point moved since the last
          // fetch), the newest point is about 0.5 s old: a server clock reading.
          const newest = pts.length ? ts(pts[pts.length - 1].at) : null;
          if (!st.seriesFinal && newest && st.newestSample && newest > st.newestSample && !st.dateHeader) noteServerTime(newest + 500);
          st.newestSample = newest;
        } else if (have && !st.seriesFinal && !TERMINAL.has(phaseName(c.phase))) {
          st.series.points.push(livePoint(c));
        }
      }
      st.lastOk = Date.now();
      st.failing = null;
    } catch (e) {
      if (e.status === 404 && st.id) {
        st.notFound = e.message;
        st.lastOk = Date.now();
        st.failing = null;
      } else {
        st.failing = e.message || String(e);
      }
    }
    try {
      render();
    } catch (e) {
      // A rendering bug must not stop the polling; show it instead.
      st.failing = 'page error: ' + e.message;
      renderBanner();
      if (window.console) console.error(e);
    }
    // A hidden tab polls every 5 s.
    setTimeout(poll, document.hidden ? 5 * POLL_MS : POLL_MS);
  }

  // ---- rendering ----
  function render() {
    renderBanner();
    renderSelector();
    const c = st.cutover;
    if (!c) {
      // Nothing to show (yet): only the summary card, with what to do.
      if (st.notFound || (st.lastOk && !st.id)) {
        document.body.dataset.phase = '';
        document.body.dataset.kind = 'none';
        text('phase', st.notFound ? 'cutover not found' : 'no cutovers yet');
        text('phase-kind', st.notFound ? 'pick one above, or drop ?cutover= from the address' : 'create one with: cutoverctl plan <plan.json>');
        text('time-in-phase', '');
      }
      return;
    }
    const now = nowMs();
    const phase = phaseName(c.phase);
    const kind = kindOf(c);
    document.body.dataset.phase = phase;
    document.body.dataset.kind = kind;
    document.body.dataset.cutover = c.id || '';
    document.title = phase + ' · ' + ((c.plan || {}).name || c.id) + ' · cutover';
    renderSummary(c, phase, kind, now);
    renderTimeline(c, phase, now);
    renderCharts(c);
    renderCopy(c, phase);
    renderReplay(c);
    renderFlip(c, phase, now);
    renderLosses(c, phase);
    renderEvents();
  }

  function renderBanner() {
    const b = $('banner');
    const now = Date.now();
    let msg = '';
    if (st.failing) {
      msg = 'daemon unreachable: ' + st.failing + ' · ' +
        (st.lastOk ? 'last update ' + fmtAgo((now - st.lastOk) / 1000) + ' ago; showing the last data'
          : 'no data yet');
    } else if (st.notFound) {
      msg = st.notFound + ' · pick another cutover above';
    }
    b.hidden = !msg;
    b.className = st.failing ? 'down' : 'warn';
    text('banner', msg);
    document.body.classList.toggle('stale', !!st.failing);
    text('updated', st.lastOk ? 'updated ' + fmtClock(st.lastOk + st.skew) : 'connecting…');
  }

  function renderSelector() {
    const sel = $('cutover-select');
    const items = st.list.slice().sort((a, b) => (ts(b.updated_at) || 0) - (ts(a.updated_at) || 0));
    if (st.id && !items.some((c) => c.id === st.id)) items.unshift({ id: st.id, phase: st.cutover ? st.cutover.phase : '' });
    const key = items.map((c) => c.id + phaseName(c.phase)).join('|') + '#' + st.id;
    if (key === st.selectorKey) return;
    st.selectorKey = key;
    sel.innerHTML = items.map((c) => '<option value="' + esc(c.id) + '"' + (c.id === st.id ? ' selected' : '') + '>' +
      esc(((c.plan || {}).name ? c.plan.name + ' · ' : '') + c.id + ' · ' + (phaseName(c.phase) || '?')) + '</option>').join('');
  }

  function fact(label, value, cls) {
    return '<div' + (cls ? ' class="' + cls + '"' : '') + '><dt>' + esc(label) + '</dt><dd>' + value + '</dd></div>';
  }

  function renderSummary(c, phase, kind, now) {
    text('phase', phase);
    $('phase').className = 'phase k-' + kind;
    let kindText = KIND_LABEL[kind] || '';
    if (phase === 'PAUSED' && c.paused_phase) kindText += ' in ' + phaseName(c.paused_phase);
    if (phase === 'FAILED' && c.failed_phase) kindText += ' (in ' + phaseName(c.failed_phase) + ')';
    if (phase === 'READY' && c.approved) kindText = 'approved: flipping';
    if (phase === 'ROLLING_BACK') kindText = 'rolling back to blue';
    if (phase === 'ABORTED') kindText = 'aborted before the flip: blue untouched, traffic on blue';
    if (phase === 'ROLLED_BACK') kindText = 'rolled back: traffic on blue';
    text('phase-kind', kindText);
    const entered = ts(c.phase_entered_at);
    text('time-in-phase', entered ? (TERMINAL.has(phase) ? 'since ' + fmtWhen(entered)
      : 'for ' + fmtSecs(Math.max(0, (now - entered) / 1000)) + ' (since ' + fmtClock(entered) + ')') : '');

    const plan = c.plan || {};
    const leaseExp = ts(c.lease_expires_at);
    let lease = c.lease_holder ? '<span class="mono">' + esc(c.lease_holder) + '</span>' : '<span class="muted">none</span>';
    if (c.lease_holder && leaseExp) {
      // A few seconds of slack: renewal is periodic and clocks differ a little.
      lease += leaseExp + 3000 < now ? ' <span class="bad">expired ' + fmtAgo((now - leaseExp) / 1000) + ' ago</span>'
        : ' <span class="muted">until ' + fmtClock(leaseExp) + '</span>';
    }
    let facts = fact('cutover', '<span id="cutover-id" class="mono">' + esc(c.id) + '</span>') +
      fact('plan', esc(plan.name || '–')) +
      fact('lease holder', lease) +
      fact('approved', c.approved ? '<span class="good">yes</span>' : (plan.flip || {}).auto_flip ? 'auto flip' : 'no') +
      fact('started', fmtWhen(ts(c.created_at)));
    const deadline = ts(c.approval_deadline_at);
    if (phase === 'READY' && deadline) {
      facts += fact('approval deadline', fmtClock(deadline) + ' <span class="muted">(in ' + fmtSecs(Math.max(0, (deadline - now) / 1000)) + ', then ABORTED)</span>');
    }
    if (c.completed_at) facts += fact('completed', fmtWhen(ts(c.completed_at)));
    html('facts', facts);

    let att = '';
    const blockers = c.flip_blockers || [];
    if (blockers.length) {
      att += '<div class="box warnbox"><b>Flip blockers</b> (approve is refused while any holds)<ul>' +
        blockers.map((b) => '<li>' + esc(b) + '</li>').join('') + '</ul></div>';
    } else if (phase === 'READY' && !c.approved) {
      att += '<div class="box okbox">No flip blockers: <code>cutoverctl approve ' + esc(c.id) + '</code> would start the flip.</div>';
    }
    if (c.reason) att += '<div class="box ' + (phase === 'FAILED' ? 'badbox' : 'infobox') + '"><b>Reason</b> ' + esc(c.reason) + '</div>';
    if (c.next_step) att += '<div class="box badbox"><b>Next step</b> <code>' + esc(c.next_step) + '</code></div>';
    html('attention', att);
  }

  // Seconds spent in each phase, from the timeline (a phase entered twice
  // counts twice); the current phase counts up unless it is terminal.
  function phaseTimes(c, now) {
    const spent = {};
    const visited = new Set();
    let cur = null;
    let since = null;
    for (const t of st.transitions) {
      const to = phaseName(t.to);
      const at = ts(t.at);
      if (!to || to === cur) continue;
      if (cur !== null && since !== null && at !== null) spent[cur] = (spent[cur] || 0) + (at - since) / 1000;
      cur = to;
      since = at;
      visited.add(to);
    }
    const phase = phaseName(c.phase);
    if (cur !== phase) {  // timeline behind the cutover (or empty): trust the cutover
      cur = phase;
      since = ts(c.phase_entered_at);
      visited.add(phase);
    }
    if (since !== null && !TERMINAL.has(cur)) spent[cur] = (spent[cur] || 0) + Math.max(0, (now - since) / 1000);
    // A terminal phase has no duration: show when it was reached.
    const reachedAt = TERMINAL.has(cur) ? since : null;
    return { spent, visited, reachedAt };
  }

  function renderTimeline(c, phase, now) {
    const { spent, visited, reachedAt } = phaseTimes(c, now);
    const durText = (p, state) => {
      const t = spent[p];
      if (p === phase && reachedAt !== null) return 'at ' + fmtClock(reachedAt);
      if (t === undefined) return state === 'skipped' ? 'skipped' : '';
      return fmtSecs(t);
    };
    // Where on the main path the cutover is (or was, in a side phase).
    let anchor = phase;
    if (phase === 'PAUSED') anchor = phaseName(c.paused_phase);
    if (phase === 'FAILED') anchor = phaseName(c.failed_phase);
    if (phase === 'ROLLING_BACK' || phase === 'ROLLED_BACK') anchor = 'COMPLETED';
    if (phase === 'ABORTED') {
      anchor = MAIN.slice().reverse().find((p) => visited.has(p)) || 'PLANNED';
    }
    const ai = MAIN.indexOf(anchor);
    let s = '';
    MAIN.forEach((p, i) => {
      let state = 'pending';
      if (p === phase) state = 'current';
      else if (p === anchor && phase !== 'ABORTED') state = phase === 'FAILED' ? 'failed' : (phase === 'PAUSED' ? 'paused' : 'done');
      else if (visited.has(p)) state = 'done';
      else if (i < ai) state = 'skipped';
      s += '<li data-phase="' + p + '" data-state="' + state + '" class="step s-' + state + (state === 'current' ? ' k-' + kindOf(c) : '') + '">' +
        '<span class="dot"></span><span class="name">' + pretty(p) + '</span><span class="dur">' + durText(p, state) + '</span></li>';
    });
    const side = SIDE.filter((p) => visited.has(p) || p === phase);
    if (side.length) {
      s += '<li class="sep" aria-hidden="true"></li>';
      for (const p of side) {
        const state = p === phase ? 'current' : 'done';
        s += '<li data-phase="' + p + '" data-state="' + state + '" class="step side s-' + state + ' side-' + p.toLowerCase() +
          (state === 'current' ? ' k-' + kindOf(c) : '') + '"><span class="dot"></span><span class="name">' + pretty(p) +
          '</span><span class="dur">' + durText(p, state) + '</span></li>';
      }
    }
    html('timeline', s);
  }

  // ---- charts (inline SVG) ----
  function niceStep(span, count) {
    const raw = span / Math.max(1, count);
    const mag = Math.pow(10, Math.floor(Math.log10(raw)));
    for (const m of [1, 2, 2.5, 5, 10]) if (raw <= m * mag) return m * mag;
    return 10 * mag;
  }
  const TIME_STEPS = [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200];
  const PHASE_TINT = {
    PLANNED: '#9aa5b1', CAPTURING: '#6c8ebf', COPYING: '#3b82f6', INDEXING: '#6366f1', VERIFYING_COPY: '#8b5cf6',
    MIGRATING: '#a855f7', CATCHING_UP: '#0ea5e9', READY: '#f59e0b', FLIPPING: '#ef4444', DRAINING: '#14b8a6',
    COMPLETED: '#22c55e', PAUSED: '#a78bfa', FAILED: '#dc2626', ABORTED: '#64748b', ROLLING_BACK: '#f97316',
    ROLLED_BACK: '#64748b',
  };

  // lines: [{name, color, values: [number|null per point]}]; times: ms per point.
  function lineChart(el, times, lines, opt) {
    const W = Math.max(280, Math.round(el.clientWidth || 560));
    const H = opt.height || 190;
    const L = 58, R = 12, T = 22, B = 24;
    const pw = W - L - R, ph = H - T - B;
    if (!times.length) {
      return '<svg class="svg" width="' + W + '" height="' + H + '" role="img" aria-label="no samples yet">' +
        '<text x="' + W / 2 + '" y="' + H / 2 + '" class="empty" text-anchor="middle">' + esc(opt.empty || 'no samples yet') + '</text></svg>';
    }
    const t0 = times[0], t1 = Math.max(times[times.length - 1], t0 + 10000);
    let max = 0;
    for (const l of lines) for (const v of l.values) if (v !== null && v > max) max = v;
    if (opt.threshold && opt.threshold > max) max = opt.threshold;
    if (max <= 0) max = opt.minMax || 1;
    // Byte axes step in whole kB/MB/GB, so the ticks read 20 MB/s, not 19.1 MB/s.
    const unit = opt.bytes ? Math.pow(1024, Math.max(0, Math.floor(Math.log(max) / Math.log(1024)))) : 1;
    const step = niceStep(max / unit, 4) * unit;
    const ymax = Math.ceil(max / step) * step;
    const x = (t) => L + ((t - t0) / (t1 - t0)) * pw;
    const y = (v) => T + ph - (v / ymax) * ph;
    let g = '';
    // Phase bands behind the lines, so "why did the backlog grow" has an answer.
    if (opt.phases) {
      let i = 0;
      while (i < times.length) {
        let j = i;
        while (j + 1 < times.length && opt.phases[j + 1] === opt.phases[i]) j++;
        const xa = x(times[i]), xb = x(j + 1 < times.length ? times[j + 1] : times[j]);
        const p = opt.phases[i];
        g += '<rect class="band" x="' + xa.toFixed(1) + '" y="' + T + '" width="' + Math.max(1, xb - xa).toFixed(1) + '" height="' + ph +
          '" fill="' + (PHASE_TINT[p] || '#999') + '"><title>' + p + '</title></rect>';
        if (xb - xa > 58) g += '<text class="bandlabel" x="' + (xa + 4).toFixed(1) + '" y="' + (T + 11) + '">' + pretty(p) + '</text>';
        i = j + 1;
      }
    }
    for (let v = 0; v <= ymax + step / 2; v += step) {
      g += '<line class="grid" x1="' + L + '" x2="' + (L + pw) + '" y1="' + y(v).toFixed(1) + '" y2="' + y(v).toFixed(1) + '"/>' +
        '<text class="tick" x="' + (L - 6) + '" y="' + (y(v) + 4).toFixed(1) + '" text-anchor="end">' + esc(opt.fmt(v)) + '</text>';
    }
    const span = (t1 - t0) / 1000;
    const ts_ = TIME_STEPS.find((s) => span / s <= Math.max(2, Math.floor(pw / 90))) || 7200;
    for (let s = Math.ceil(t0 / 1000 / ts_) * ts_; s * 1000 <= t1; s += ts_) {
      const xx = x(s * 1000);
      g += '<line class="xtick" x1="' + xx.toFixed(1) + '" x2="' + xx.toFixed(1) + '" y1="' + (T + ph) + '" y2="' + (T + ph + 4) + '"/>' +
        '<text class="tick" x="' + xx.toFixed(1) + '" y="' + (H - 6) + '" text-anchor="middle">' + fmtClock(s * 1000) + '</text>';
    }
    if (opt.threshold) {
      g += '<line class="threshold" x1="' + L + '" x2="' + (L + pw) + '" y1="' + y(opt.threshold).toFixed(1) + '" y2="' + y(opt.threshold).toFixed(1) + '"/>' +
        '<text class="thlabel" x="' + (L + pw - 4) + '" y="' + (y(opt.threshold) - 4).toFixed(1) + '" text-anchor="end">' + esc(opt.thresholdLabel) + '</text>';
    }
    let legend = '';
    lines.forEach((l, k) => {
      let d = '';
      let pen = false;
      for (let i = 0; i < times.length; i++) {
        const v = l.values[i];
        // A gap of more than 5 s (daemon down, lease moving) breaks the line.
        if (v === null || (i > 0 && times[i] - times[i - 1] > 5000)) pen = false;
        if (v === null) continue;
        d += (pen ? 'L' : 'M') + x(times[i]).toFixed(1) + ' ' + y(v).toFixed(1);
        pen = true;
      }
      g += '<path class="line" d="' + d + '" stroke="' + l.color + '"/>';
      const lv = l.values[l.values.length - 1];
      legend += '<tspan dx="' + (k ? 14 : 0) + '" fill="' + l.color + '">■ </tspan><tspan>' + esc(l.name) + ' ' +
        esc(lv === null ? '–' : opt.fmt(lv)) + '</tspan>';
    });
    g += '<text class="legend" x="' + L + '" y="13">' + legend + '</text>';
    g += '<line class="axis" x1="' + L + '" x2="' + L + '" y1="' + T + '" y2="' + (T + ph) + '"/>' +
      '<line class="axis" x1="' + L + '" x2="' + (L + pw) + '" y1="' + (T + ph) + '" y2="' + (T + ph) + '"/>';
    return '<svg class="svg" width="' + W + '" height="' + H + '" viewBox="0 0 ' + W + ' ' + H + '" role="img" aria-label="' +
      esc(opt.label) + '">' + g + '</svg>';
  }

  const chartKeys = {};
  function chart(id, times, lines, opt) {
    const el = $(id);
    const key = JSON.stringify([el.clientWidth, times.length, times[times.length - 1], lines.map((l) => l.values[l.values.length - 1]), opt.threshold]);
    if (chartKeys[id] === key) return;
    chartKeys[id] = key;
    html(id, lineChart(el, times, lines, opt));
  }

  function renderCharts(c) {
    const pts = (st.series && st.series.points) || [];
    const times = pts.map((p) => ts(p.at));
    const phases = pts.map((p) => phaseName(p.phase));
    const empty = st.series && st.series.error ? 'series unavailable: ' + st.series.error : 'no samples yet';
    const backlog = pts.map((p) => num(p.backlog));
    const hasRollback = pts.some((p) => num(p.rollback_backlog) > 0);
    const maxBacklog = num(((c.plan || {}).flip || {}).max_backlog);
    const bl = [{ name: 'forward (blue→green)', color: 'var(--c-backlog)', values: backlog }];
    if (hasRollback) bl.push({ name: 'rollback (green→blue)', color: 'var(--c-rollback)', values: pts.map((p) => num(p.rollback_backlog)) });
    chart('backlog-chart', times, bl, {
      fmt: fmtCompact, label: 'replay backlog over time', phases, empty,
      threshold: maxBacklog > 0 ? maxBacklog : 0, thresholdLabel: 'max_backlog ' + fmtInt(maxBacklog),
    });
    const r = c.replay || {};
    text('backlog-now', 'now ' + fmtInt(r.backlog) + ' events' + (dur(r.oldest_event_age) ? ', oldest ' + fmtSecs(dur(r.oldest_event_age)) : ''));
    chart('rate-chart', times, [
      { name: 'applied', color: 'var(--c-rate)', values: pts.map((p) => num(p.replay_events_per_second)) },
    ], { fmt: (v) => fmtCompact(v) + '/s', label: 'replay rate over time', phases, empty });
    text('rate-now', 'now ' + fmtCompact(num(r.events_per_second)) + ' events/s');
    // The copy rate only while the copy runs (paused included); the table shows the result after.
    const copying = [c.phase, c.paused_phase, c.failed_phase].some((p) => phaseName(p) === 'COPYING') &&
      pts.some((p) => num(p.copy_bytes_per_second) > 0);
    $('copy-rate-box').hidden = !copying;
    if (copying) {
      chart('copy-chart', times, [
        { name: 'copy', color: 'var(--c-copy)', values: pts.map((p) => num(p.copy_bytes_per_second)) },
      ], { fmt: (v) => fmtBytes(v) + '/s', bytes: true, label: 'copy rate over time', phases, height: 150, empty });
      text('copy-rate-now', 'now ' + fmtBytes(num((c.copy || {}).bytes_per_second)) + '/s');
    }
  }

  function bar(frac, cls) {
    const f = Math.max(0, Math.min(1, frac));
    return '<span class="bar ' + (cls || '') + '"><span style="width:' + (f * 100).toFixed(1) + '%"></span></span>';
  }

  function renderCopy(c, phase) {
    const cp = c.copy || {};
    const tables = cp.tables || [];
    const verify = {};
    for (const v of ((c.verify || {}).tables || [])) verify[v.table] = v;
    const counts = {};
    for (const t of tables) counts[tableState(t.state)] = (counts[tableState(t.state)] || 0) + 1;
    text('copy-caption', tables.length ? tables.length + ' tables: ' + Object.keys(counts).map((k) => counts[k] + ' ' + k.toLowerCase()).join(', ') : '');
    const bc = num(cp.bytes_copied), be = num(cp.bytes_estimated);
    let sum = '';
    if (tables.length || cp.bytes_copied) {
      const done = tables.length > 0 && tables.every((t) => ['COPIED', 'INDEXING', 'DONE'].includes(tableState(t.state)));
      const eta = dur(cp.eta);
      sum = '<div class="copysum">' + bar(done ? 1 : (be > 0 ? bc / be : 0), done ? 'full' : '') +
        '<span><b>' + fmtBytes(bc) + '</b> of ~' + fmtBytes(be) + '</span>' +
        '<span><b>' + fmtInt(cp.rows_copied) + '</b> rows</span>' +
        (phase === 'COPYING' ? '<span><b>' + fmtBytes(num(cp.bytes_per_second)) + '/s</b> · ' + fmtCompact(num(cp.rows_per_second)) + ' rows/s</span>' +
          '<span>ETA <b>' + (eta === null ? 'unknown' : fmtSecs(eta)) + '</b></span>' : '') +
        (dur(cp.elapsed) !== null ? '<span>elapsed ' + fmtSecs(dur(cp.elapsed)) + '</span>' : '') +
        (cp.snapshot_id ? '<span class="muted">snapshot <span class="mono">' + esc(cp.snapshot_id) + '</span></span>' : '') + '</div>';
    } else {
      sum = '<p class="muted">' + (MAIN.indexOf(phase) >= 0 && MAIN.indexOf(phase) < 2 ? 'The copy starts after capture is live (COPYING).' : 'No copy progress recorded.') + '</p>';
    }
    html('copy-summary', sum);
    const rows = tables.map((t) => {
      const state = tableState(t.state);
      const past = ['COPIED', 'INDEXING', 'DONE'].includes(state);
      const re = num(t.rows_estimated), rc = num(t.rows_copied), tbe = num(t.bytes_estimated), tbc = num(t.bytes_copied);
      const it = num(t.indexes_total), id = num(t.indexes_done);
      const v = verify[t.table];
      const vtxt = !v ? '<span class="muted">–</span>' : v.match ? '<span class="good" title="blue ' + esc(fmtInt(v.blue_rows)) + ' rows = green">✓ match</span>'
        : '<span class="bad">✗ blue ' + fmtInt(v.blue_rows) + ' / green ' + fmtInt(v.green_rows) + '</span>';
      const cd = dur(t.copy_duration), idd = dur(t.index_duration);
      return '<tr data-table="' + esc(t.table) + '" data-state="' + state + '" data-rows-copied="' + rc + '">' +
        '<td class="mono tname" title="' + esc(t.table) + '">' + esc(t.table) + '</td>' +
        '<td><span class="pill t-' + state.toLowerCase() + '">' + state + '</span></td>' +
        '<td class="num">' + bar(past ? 1 : (re > 0 ? rc / re : 0), past ? 'full' : '') + '<span class="rows">' + fmtInt(rc) + '</span>' +
        '<span class="muted"> / ~' + (re > 0 ? fmtInt(re) : '?') + '</span></td>' +
        '<td class="num">' + fmtBytes(tbc) + '<span class="muted"> / ~' + fmtBytes(tbe) + '</span></td>' +
        '<td>' + (it ? bar(id / it, id >= it ? 'full' : '') + id + '/' + it : '<span class="muted">–</span>') + '</td>' +
        '<td class="num">' + (cd !== null ? fmtSecs(cd) : '–') + ' / ' + (idd !== null ? fmtSecs(idd) : '–') + '</td>' +
        '<td>' + vtxt + '</td></tr>';
    });
    html('tables-body', rows.join('') || '<tr class="none"><td colspan="7" class="muted">no tables yet</td></tr>');
  }

  function stat(label, value, cls, title) {
    return '<div class="stat ' + (cls || '') + '"' + (title ? ' title="' + esc(title) + '"' : '') + '><span class="v">' + value +
      '</span><span class="l">' + esc(label) + '</span></div>';
  }

  function replayBlock(r, title) {
    const dl = num(r.dead_letters);
    const age = dur(r.oldest_event_age);
    const lag = dur(r.relay_lag);
    return '<div class="replay-leg"><h3>' + esc(title) + '</h3><div class="stats">' +
      stat('backlog', fmtInt(r.backlog), num(r.backlog) > 0 ? '' : 'dim', 'queued or in the outbox, not yet applied') +
      stat('oldest event age', age === null ? '–' : fmtSecs(age)) +
      stat('replay rate', fmtCompact(num(r.events_per_second)) + '/s') +
      stat('captured', fmtInt(r.captured)) +
      stat('applied', fmtInt(r.applied)) +
      stat('no-ops', fmtInt(r.noops), '', 'row absent on the target (created after the snapshot): recorded, not an error') +
      stat('duplicates', fmtInt(r.duplicates), '', 're-deliveries removed by event_id') +
      stat('dead letters', fmtInt(dl), dl > 0 ? 'alert' : 'dim', 'undecodable or unknown events: they block the flip') +
      (r.relay_backlog !== undefined || lag !== null ? stat('relay backlog', fmtInt(r.relay_backlog), '', 'rows still in the capturing side\'s outbox') +
        stat('relay lag', lag === null ? '–' : fmtSecs(lag)) : '') +
      '</div>' + (dl > 0 ? '<p class="box badbox"><b>' + fmtInt(dl) + ' dead letter(s)</b>: the flip is refused until they are handled (docs/runbooks/dead-letters.md).</p>' : '') + '</div>';
  }

  function renderReplay(c) {
    const r = c.replay;
    let s = r ? replayBlock(r, 'forward: blue → green') : '<p class="muted">Replay starts once capture is live.</p>';
    if (c.rollback_replay && (c.reverse_capture_installed || phaseName(c.phase) === 'ROLLING_BACK' || phaseName(c.phase) === 'ROLLED_BACK')) {
      s += replayBlock(c.rollback_replay, 'rollback leg: green → blue');
    }
    html('replay', s);
  }

  function flipBlock(f, title, stepNow, live) {
    const attempts = num(f.attempts);
    const gap = dur(f.write_gap), pause = dur(f.pause_duration);
    const ok = !!f.succeeded;
    let s = '<div class="flipres" data-succeeded="' + ok + '"' + (gap !== null ? ' data-write-gap-seconds="' + gap + '"' : '') + '>' +
      '<h3>' + esc(title) + ' <span class="pill ' + (ok ? 'good-bg' : live ? 'run-bg' : 'bad-bg') + '">' +
      (ok ? 'succeeded' : live ? 'in progress: ' + flipStep(stepNow) : 'not succeeded') + '</span></h3><div class="stats">' +
      stat('write gap', gap === null ? '–' : fmtSecs(gap), 'big', 'router paused → resumed on the new side: how long writes waited') +
      stat('pause', pause === null ? '–' : fmtSecs(pause)) +
      stat('attempts', String(attempts)) +
      stat('tail events', fmtInt(f.tail_events), '', 'applied between the fence and the flip') +
      (f.flipped_at ? stat('flipped at', fmtClock(ts(f.flipped_at))) : '') + '</div>';
    const steps = f.steps || [];
    if (steps.length) {
      const mx = Math.max(...steps.map((x) => dur(x.duration) || 0), 1e-6);
      s += '<div class="fsteps" aria-label="time per flip step">' + steps.map((x) => {
        const d = dur(x.duration) || 0;
        return '<span>' + esc(x.step) + '</span>' + bar(d / mx, 'fstep') + '<span class="num">' + fmtSecs(d) + '</span>';
      }).join('') + '</div>';
    }
    if (f.failure_reason) s += '<p class="box ' + (ok ? 'infobox' : 'badbox') + '"><b>Last failure</b> ' + esc(f.failure_reason) + '</p>';
    return s + '</div>';
  }

  function renderFlip(c, phase, now) {
    const f = c.flip;
    let s = '';
    if (f && (num(f.attempts) > 0 || f.succeeded || (f.steps || []).length)) {
      s += flipBlock(f, 'blue → green', c.flip_step, phase === 'FLIPPING');
    } else {
      s += '<p class="muted">No flip yet. It starts in READY after <code>cutoverctl approve</code>' +
        (((c.plan || {}).flip || {}).auto_flip ? ' (auto flip: without approval)' : '') + '.</p>';
    }
    const endsAt = ts(c.rollback_window_ends_at);
    if (endsAt && phase === 'COMPLETED') {
      s += endsAt > now && c.reverse_capture_installed
        ? '<p class="box infobox"><b>Rollback window open</b> until ' + fmtWhen(endsAt) + ' (' + fmtSecs((endsAt - now) / 1000) + ' left)<br><code>cutoverctl rollback ' + esc(c.id) + '</code></p>'
        : '<p class="muted">Rollback window closed at ' + fmtWhen(endsAt) + '.</p>';
    }
    if (c.rollback && (num(c.rollback.attempts) > 0 || (c.rollback.steps || []).length)) {
      s += flipBlock(c.rollback, 'rollback: green → blue', c.rollback_step, phase === 'ROLLING_BACK');
    }
    html('flip', s);
  }

  function renderLosses(c, phase) {
    const l = c.accepted_losses || [];
    if (!l.length) {
      const after = ['DRAINING', 'COMPLETED', 'ROLLING_BACK', 'ROLLED_BACK'].includes(phase);
      html('accepted-losses', '<p class="muted">' + (after ? 'None: no writes on blue after the snapshot beyond what capture carried.'
        : 'Computed in DRAINING, once blue is fenced: writes on blue after the snapshot that green will not have (not revocations).') + '</p>');
      return;
    }
    let ti = 0, tu = 0, td = 0;
    const rows = l.map((x) => {
      const i = num(x.inserts), u = num(x.updates), d = num(x.deletes);
      ti += i; tu += u; td += d;
      return '<tr data-table="' + esc(x.table) + '"><td class="mono">' + esc(x.table).replace(/([._])/g, '$1<wbr>') + '</td><td class="num">' + fmtInt(i) +
        '</td><td class="num">' + fmtInt(u) + '</td><td class="num">' + fmtInt(d) + '</td><td class="num"><b>' + fmtInt(i + u + d) + '</b></td></tr>';
    }).join('');
    html('accepted-losses', '<p class="muted">At most this many row writes made on blue after the snapshot are not on green ' +
      '(new tokens, consents…; revocations are replayed, never lost). From pg_stat_user_tables minus the events capture carried: an upper bound.</p>' +
      '<div class="scroll"><table class="losses"><thead><tr><th>table</th><th class="num">inserts</th><th class="num">updates</th><th class="num">deletes</th><th class="num">≤ total</th></tr></thead><tbody>' +
      rows + '</tbody><tfoot><tr><td>all tables</td><td class="num">' + fmtInt(ti) + '</td><td class="num">' + fmtInt(tu) + '</td><td class="num">' +
      fmtInt(td) + '</td><td class="num"><b>' + fmtInt(ti + tu + td) + '</b></td></tr></tfoot></table></div>');
  }

  function renderEvents() {
    const rows = st.transitions.slice(-20).reverse().map((t) => {
      const from = phaseName(t.from), to = phaseName(t.to);
      const move = from && from !== 'UNSPECIFIED' && from !== to
        ? '<span class="ph">' + esc(from) + '</span> → <span class="ph">' + esc(to) + '</span>'
        : '<span class="ph">' + esc(to) + '</span>';
      return '<li data-seq="' + esc(t.seq) + '"><time title="' + esc(t.at) + '">' + fmtClock(ts(t.at)) + '</time>' +
        '<div><span class="move">' + move + '</span> <span class="action">' + esc(t.action) + '</span>' +
        ' <span class="actor">by ' + esc(t.actor) + '</span>' + (t.reason ? '<div class="reason">' + esc(t.reason) + '</div>' : '') + '</div></li>';
    });
    html('events', rows.join('') || '<li class="muted">no timeline rows yet</li>');
  }

  // ---- start ----
  function start() {
    $('tables').tBodies[0].id = 'tables-body';
    const q = new URLSearchParams(window.location.search).get('cutover');
    if (q) select(q, true);
    $('cutover-select').addEventListener('change', (e) => {
      select(e.target.value, true);
      render();
    });
    let resizeTimer = null;
    window.addEventListener('resize', () => {
      clearTimeout(resizeTimer);
      resizeTimer = setTimeout(() => { for (const k in chartKeys) delete chartKeys[k]; if (st.cutover) renderCharts(st.cutover); }, 150);
    });
    // The banner's "N s ago" keeps counting while polls hang.
    setInterval(() => { if (st.failing) renderBanner(); }, 1000);
    poll();
  }
  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', start);
  else start();
})();
