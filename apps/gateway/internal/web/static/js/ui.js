// Small DOM helpers: no framework, no inline styles (the CSP allows none).

// h builds an element: h('button', {class: 'primary', onclick: f}, 'Play').
// Attributes named on* become listeners; true/false toggle boolean
// attributes; null and undefined are skipped, as are null children.
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
    else if (k === 'class') el.className = v;
    else if (k === 'text') el.textContent = v;
    else if (k === 'value') { el.setAttribute('value', String(v)); el.value = v; } // the attribute is what a form reset restores
    else if (k === 'checked') el.checked = !!v;
    else if (v === true) el.setAttribute(k, '');
    else el.setAttribute(k, String(v));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    if (Array.isArray(c)) append(el, c);
    else el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
}

// replace empties el and fills it with children.
export function replace(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

const SVG = 'http://www.w3.org/2000/svg';

// cover draws an album's cover from its id: two colours and a ring, so
// every album looks its own without an image.
export function cover(id, cls = 'cover', label = '') {
  let n = 0;
  for (const ch of String(id)) n = (n * 31 + ch.charCodeAt(0)) >>> 0;
  const hue = n % 360, hue2 = (hue + 40 + (n >> 9) % 120) % 360;
  const svg = document.createElementNS(SVG, 'svg');
  svg.setAttribute('viewBox', '0 0 100 100');
  svg.setAttribute('class', cls);
  if (label) { svg.setAttribute('role', 'img'); svg.setAttribute('aria-label', label); } else svg.setAttribute('aria-hidden', 'true');
  const gid = 'g' + n.toString(36) + Math.random().toString(36).slice(2, 6);
  const defs = document.createElementNS(SVG, 'defs');
  const grad = document.createElementNS(SVG, 'linearGradient');
  grad.setAttribute('id', gid);
  grad.setAttribute('x2', '1'); grad.setAttribute('y2', '1');
  for (const [off, c] of [['0', `hsl(${hue} 65% 55%)`], ['1', `hsl(${hue2} 70% 30%)`]]) {
    const s = document.createElementNS(SVG, 'stop');
    s.setAttribute('offset', off); s.setAttribute('stop-color', c);
    grad.append(s);
  }
  defs.append(grad);
  const rect = document.createElementNS(SVG, 'rect');
  rect.setAttribute('width', '100'); rect.setAttribute('height', '100'); rect.setAttribute('rx', '8'); rect.setAttribute('fill', `url(#${gid})`);
  const ring = document.createElementNS(SVG, 'circle');
  ring.setAttribute('cx', String(30 + n % 40)); ring.setAttribute('cy', String(30 + (n >> 5) % 40)); ring.setAttribute('r', String(14 + n % 18));
  ring.setAttribute('fill', 'none'); ring.setAttribute('stroke', 'rgb(255 255 255 / .55)'); ring.setAttribute('stroke-width', '5');
  svg.append(defs, rect, ring);
  return svg;
}

export function fmtTime(sec) {
  if (!isFinite(sec) || sec < 0) sec = 0;
  const m = Math.floor(sec / 60), s = Math.floor(sec % 60);
  return `${m}:${String(s).padStart(2, '0')}`;
}

export function fmtMoney(minor, currency) {
  try {
    return new Intl.NumberFormat(undefined, { style: 'currency', currency }).format(minor / 100);
  } catch {
    return `${(minor / 100).toFixed(2)} ${currency}`;
  }
}

export function fmtDate(iso) {
  if (!iso) return '';
  const d = new Date(iso);
  return isNaN(d) ? iso : d.toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'short' });
}

export function toast(message, kind = '') {
  const box = document.getElementById('toasts');
  if (!box) return;
  const t = h('div', { class: 'toast ' + kind, role: kind === 'error' ? 'alert' : null }, message);
  while (box.children.length >= 3) box.firstElementChild.remove(); // a few at a time
  box.append(t);
  setTimeout(() => t.remove(), kind === 'error' ? 7000 : 4000);
}

// field is a labelled input with a place for its error (named by the API's
// problem: errors[].field).
export function field(label, name, attrs = {}) {
  const id = 'f-' + name.replace(/[^a-z0-9]/gi, '-') + '-' + Math.random().toString(36).slice(2, 7);
  const errId = id + '-err';
  const input = attrs.tag === 'select'
    ? h('select', { id, name, ...attrs, tag: null, options: null }, (attrs.options || []).map(([v, t]) => h('option', { value: v }, t)))
    : h(attrs.tag || 'input', { id, name, ...attrs, tag: null });
  return h('div', { class: 'field', 'data-field': name }, h('label', { for: id }, label), input, h('p', { class: 'err', id: errId, hidden: true }));
}

// showErrors puts a problem's field errors next to their inputs, and its
// detail in the form's alert; it returns whether any field was named.
export function showErrors(form, err) {
  clearErrors(form);
  let named = false;
  const fields = (err && err.problem && err.problem.errors) || [];
  for (const fe of fields) {
    const box = form.querySelector(`[data-field="${CSS.escape(fe.field)}"]`) || form.querySelector(`[data-field="${CSS.escape(fe.field.split(/[.[]/)[0])}"]`);
    if (!box) continue;
    named = true;
    const input = box.querySelector('input, select, textarea');
    const p = box.querySelector('.err');
    p.textContent = fe.detail;
    p.hidden = false;
    if (input) {
      input.setAttribute('aria-invalid', 'true');
      input.setAttribute('aria-describedby', p.id);
      if (fields[0] === fe) input.focus();
    }
  }
  const alert = form.querySelector('.alert') || form.appendChild(h('div', { class: 'alert error', role: 'alert' }));
  alert.classList.add('error');
  alert.textContent = (err && err.message) || 'Something went wrong.';
  alert.hidden = false;
  return named;
}

export function clearErrors(form) {
  for (const p of form.querySelectorAll('.err')) { p.hidden = true; p.textContent = ''; }
  for (const i of form.querySelectorAll('[aria-invalid]')) { i.removeAttribute('aria-invalid'); i.removeAttribute('aria-describedby'); }
  const a = form.querySelector('.alert');
  if (a) a.hidden = true;
}

// menu is a button that opens a list of actions (keyboard: arrows, Escape).
export function menu(label, items, opts = {}) {
  const id = 'm-' + Math.random().toString(36).slice(2, 8);
  const btn = h('button', { class: opts.icon ? 'icon' : '', 'aria-haspopup': 'menu', 'aria-expanded': 'false', 'aria-controls': id, 'aria-label': label, title: label },
    opts.icon || label);
  const list = h('ul', { role: 'menu', id, hidden: true });
  const wrap = h('div', { class: 'menu' }, btn, list);
  const close = () => { list.hidden = true; btn.setAttribute('aria-expanded', 'false'); document.removeEventListener('click', outside, true); };
  const outside = (e) => { if (!wrap.contains(e.target)) close(); };
  const open = async () => {
    const entries = typeof items === 'function' ? await items() : items;
    list.replaceChildren(...entries.map((it) => {
      if (it === '-') return h('li', { role: 'separator', class: 'sep' });
      if (it.label && !it.run) return h('li', { role: 'presentation', class: 'label' }, it.label);
      return h('li', { role: 'none' }, h('button', { role: 'menuitem', tabindex: '-1', onclick: () => { close(); btn.focus(); it.run(); } }, it.text));
    }));
    list.hidden = false;
    btn.setAttribute('aria-expanded', 'true');
    document.addEventListener('click', outside, true);
    list.querySelector('[role="menuitem"]')?.focus();
  };
  btn.addEventListener('click', () => (list.hidden ? open() : close()));
  list.addEventListener('keydown', (e) => {
    const its = [...list.querySelectorAll('[role="menuitem"]')];
    const i = its.indexOf(document.activeElement);
    if (e.key === 'ArrowDown') { e.preventDefault(); its[(i + 1) % its.length]?.focus(); }
    else if (e.key === 'ArrowUp') { e.preventDefault(); its[(i - 1 + its.length) % its.length]?.focus(); }
    else if (e.key === 'Escape') { e.preventDefault(); close(); btn.focus(); }
    else if (e.key === 'Tab') close();
  });
  return wrap;
}

// debounce runs f after ms of quiet.
export function debounce(f, ms) {
  let t;
  return (...args) => { clearTimeout(t); t = setTimeout(() => f(...args), ms); };
}

// player is the page's player bar.
export const player = () => document.querySelector('harmonia-player');

// icon is a small SVG drawing (fonts may lack the symbols): decorative, the
// control that holds it carries the label.
const ICONS = {
  play: ['M8 5v14l11-7z'],
  pause: ['M6 5h4v14H6z', 'M14 5h4v14h-4z'],
  prev: ['M6 6h2v12H6z', 'M9.5 12l8.5 6V6z'],
  next: ['M16 6h2v12h-2z', 'M6 18l8.5-6L6 6z'],
  volume: ['M3 9v6h4l5 5V4L7 9H3z', 'M16.5 12A4.5 4.5 0 0 0 14 8v8a4.5 4.5 0 0 0 2.5-4z', 'M14 3.2v2.1a7 7 0 0 1 0 13.4v2.1a9 9 0 0 0 0-17.6z'],
  mute: ['M3 9v6h4l5 5V4L7 9H3z', 'M15.3 8.7l1.4-1.4 2.3 2.3 2.3-2.3 1.4 1.4-2.3 2.3 2.3 2.3-1.4 1.4-2.3-2.3-2.3 2.3-1.4-1.4 2.3-2.3z'],
  bell: ['M12 22a2 2 0 0 0 2-2h-4a2 2 0 0 0 2 2z', 'M18 16v-5c0-3.1-1.6-5.6-4.5-6.3V4a1.5 1.5 0 0 0-3 0v.7C7.6 5.4 6 7.9 6 11v5l-2 2v1h16v-1z'],
  more: ['M5 10.2a1.8 1.8 0 1 0 0 3.6 1.8 1.8 0 0 0 0-3.6z', 'M12 10.2a1.8 1.8 0 1 0 0 3.6 1.8 1.8 0 0 0 0-3.6z', 'M19 10.2a1.8 1.8 0 1 0 0 3.6 1.8 1.8 0 0 0 0-3.6z'],
  up: ['M12 4l-7 7h4.5v9h5v-9H19z'],
  down: ['M12 20l7-7h-4.5V4h-5v9H5z'],
  close: ['M6.4 5l5.6 5.6L17.6 5 19 6.4 13.4 12l5.6 5.6-1.4 1.4-5.6-5.6L6.4 19 5 17.6 10.6 12 5 6.4z'],
  queue: ['M3 6h12v2H3z', 'M3 11h12v2H3z', 'M3 16h8v2H3z', 'M16 13v6l5-3z'],
  grip: ['M9 5h2v2H9zM13 5h2v2h-2zM9 11h2v2H9zM13 11h2v2h-2zM9 17h2v2H9zM13 17h2v2h-2z'],
};

export function icon(name) {
  const svg = document.createElementNS(SVG, 'svg');
  svg.setAttribute('viewBox', '0 0 24 24');
  svg.setAttribute('class', 'ico');
  svg.setAttribute('aria-hidden', 'true');
  svg.setAttribute('focusable', 'false');
  for (const d of ICONS[name] || []) {
    const p = document.createElementNS(SVG, 'path');
    p.setAttribute('d', d);
    p.setAttribute('fill', 'currentColor');
    svg.append(p);
  }
  return svg;
}
