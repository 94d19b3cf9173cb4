// Admin pages (the admin role only): analytics charts with a date range,
// the audit log with filters and its verification, the notifications that
// failed with a retry, and offers. A chart is fetched with the admin's token
// and shown from a blob: URL (an <img> cannot send a Bearer header).

import { api, isAdmin } from './api.js';
import { h, replace, field, showErrors, clearErrors, toast, fmtDate } from './ui.js';

const SECTIONS = [['analytics', 'Analytics'], ['audit', 'Audit log'], ['failed', 'Failed notifications'], ['offers', 'Offers']];

export async function admin({ params }) {
  if (!isAdmin()) return [h('h1', {}, 'Admin'), h('p', {}, 'This needs the admin role.')];
  const section = params[0] || 'analytics';
  const tabs = h('ul', { class: 'tabs' }, SECTIONS.map(([k, t]) => h('li', {}, h('a', { href: '/admin/' + k, 'aria-current': k === section ? 'page' : null }, t))));
  const body = await ({ analytics, audit, failed, offers }[section] || analytics)();
  return [h('h1', {}, 'Admin: ' + (SECTIONS.find(([k]) => k === section) || SECTIONS[0])[1]), h('nav', { 'aria-label': 'Admin sections' }, tabs), body];
}

const REPORTS = {
  plays: ['track', 'album', 'artist', 'genre'],
  listeners: ['country', 'device', 'ageBand', 'all'],
  subscriptions: ['plan'],
  revenue: ['plan'],
};

const day = (d) => d.toISOString().slice(0, 10);

let chartURL = null;

async function analytics() {
  const today = new Date();
  const from = new Date(today.getTime() - 29 * 86400000);
  const form = h('form', { class: 'row', novalidate: true, 'aria-label': 'Report' },
    field('Report', 'report', { tag: 'select', options: Object.keys(REPORTS).map((r) => [r, r]) }),
    field('Group by', 'groupBy', { tag: 'select', options: REPORTS.plays.map((g) => [g, g]) }),
    field('From', 'from', { type: 'date', value: day(from) }),
    field('To', 'to', { type: 'date', value: day(today) }),
    h('button', { class: 'primary', type: 'submit' }, 'Show'),
    h('div', { class: 'alert error', role: 'alert', hidden: true }));
  const groupSel = form.querySelector('select[name="groupBy"]');
  form.querySelector('select[name="report"]').addEventListener('change', (e) => {
    groupSel.replaceChildren(...REPORTS[e.target.value].map((g) => h('option', { value: g }, g)));
  });
  const out = h('div', { 'aria-live': 'polite' });
  const show = async () => {
    clearErrors(form);
    const d = new FormData(form);
    const q = new URLSearchParams({ groupBy: d.get('groupBy'), from: d.get('from'), to: d.get('to') });
    const report = d.get('report');
    try {
      const [json, svg] = await Promise.all([api(`/admin/analytics/${report}?${q}`),
        api(`/admin/analytics/${report}?${q}&format=svg`, { raw: true }).then((r) => r.blob())]);
      if (chartURL) URL.revokeObjectURL(chartURL);
      chartURL = URL.createObjectURL(svg);
      const totals = json.series.map((s) => h('tr', {}, h('td', {}, s.key), h('td', {}, String(s.total))));
      replace(out, h('img', { class: 'chart', src: chartURL, alt: `${json.report} by ${json.groupBy}, ${json.from} to ${json.to}` }),
        h('div', { class: 'table-wrap' }, h('table', { class: 'data' }, h('caption', { class: 'sr-only' }, 'Totals'),
          h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, json.groupBy), h('th', { scope: 'col' }, `total (${json.unit})`))),
          h('tbody', {}, totals.length ? totals : h('tr', {}, h('td', { colspan: '2' }, 'Nothing counted in this range.'))))),
        h('p', {}, h('a', { href: '#', onclick: async (e) => { e.preventDefault(); await download(report, q); } }, 'Download CSV')));
    } catch (err) { showErrors(form, err); }
  };
  form.addEventListener('submit', (e) => { e.preventDefault(); show(); });
  await show();
  return [form, out];
}

async function download(report, q) {
  const res = await api(`/admin/analytics/${report}?${q}&format=csv`, { raw: true });
  const url = URL.createObjectURL(await res.blob());
  const a = h('a', { href: url, download: `${report}.csv` });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}

async function audit() {
  const form = h('form', { class: 'row', novalidate: true, 'aria-label': 'Filters' },
    field('Actor (user id)', 'actor', {}),
    field('Action', 'action', { placeholder: 'auth.login.failed' }),
    field('Subject id', 'subjectId', {}),
    field('From', 'from', { type: 'date' }),
    field('To', 'to', { type: 'date' }),
    h('button', { class: 'primary', type: 'submit' }, 'Filter'),
    h('div', { class: 'alert error', role: 'alert', hidden: true }));
  const out = h('div');
  const verifyOut = h('p', { role: 'status' });
  const verify = h('button', { onclick: async () => {
    verifyOut.textContent = 'Checking the chain…';
    try {
      const v = await api('/admin/audit/verify');
      verifyOut.textContent = v.ok ? `The chain holds: ${v.entries} entries, ${v.checkpoints} signed checkpoints.`
        : `Broken at entry ${v.broken && v.broken.seq}: ${v.broken && v.broken.reason}`;
      verifyOut.className = v.ok ? 'alert ok' : 'alert error';
    } catch (e) { verifyOut.textContent = e.message; verifyOut.className = 'alert error'; }
  } }, 'Verify the chain');
  const load = async (cursor) => {
    clearErrors(form);
    const d = new FormData(form);
    const q = new URLSearchParams({ limit: '25' });
    for (const k of ['actor', 'action', 'subjectId', 'from', 'to']) { const v = String(d.get(k) || '').trim(); if (v) q.set(k, v); }
    if (cursor) q.set('cursor', cursor);
    try {
      const page = await api('/admin/audit?' + q);
      replace(out, h('div', { class: 'table-wrap' }, h('table', { class: 'data' },
        h('thead', {}, h('tr', {}, ['When', 'Service', 'Actor', 'Action', 'Subject', 'Outcome'].map((t) => h('th', { scope: 'col' }, t)))),
        h('tbody', {}, page.items.map((e) => h('tr', {},
          h('td', {}, fmtDate(e.at)), h('td', {}, e.service || ''), h('td', {}, h('code', {}, e.actor)), h('td', {}, e.action),
          h('td', {}, e.subjectType ? `${e.subjectType} ` : '', h('code', {}, e.subjectId || '')), h('td', {}, e.outcome)))))),
      page.items.length ? null : h('p', { class: 'muted' }, 'No entries match.'),
      page.nextCursor ? h('button', { onclick: () => load(page.nextCursor) }, 'Older') : null);
    } catch (err) { showErrors(form, err); }
  };
  form.addEventListener('submit', (e) => { e.preventDefault(); load(); });
  await load();
  return [h('div', { class: 'toolbar' }, verify), verifyOut, form, out];
}

async function failed() {
  const out = h('div');
  const load = async () => {
    const list = await api('/admin/notifications/failed');
    const items = list.items || [];
    replace(out, items.length ? h('div', { class: 'table-wrap' }, h('table', { class: 'data' },
      h('thead', {}, h('tr', {}, ['When', 'Channel', 'Kind', 'Attempts', 'Error', ''].map((t) => h('th', { scope: 'col' }, t)))),
      h('tbody', {}, items.map((m) => h('tr', {},
        h('td', {}, fmtDate(m.updatedAt || m.createdAt)), h('td', {}, m.channel), h('td', {}, m.kind), h('td', {}, String(m.attempts || 0)),
        h('td', {}, m.error || ''),
        h('td', {}, h('button', { onclick: async () => {
          try { await api(`/admin/notifications/failed/${m.id}/retry`, { method: 'POST' }); toast('Sent again'); load(); } catch (e) { toast(e.message, 'error'); }
        } }, 'Retry')))))))
      : h('p', { class: 'muted' }, 'No message has failed.'));
  };
  await load();
  return out;
}

async function offers() {
  const until = new Date(Date.now() + 30 * 86400000);
  const form = h('form', { class: 'narrow', novalidate: true, 'aria-label': 'New offer' },
    field('Title', 'title', { maxlength: '120' }),
    field('Text', 'body', { tag: 'textarea', rows: '3' }),
    field('Plan', 'planId', { tag: 'select', options: [['', 'Any'], ['individual', 'Individual'], ['family', 'Family'], ['premium', 'Premium']] }),
    field('Valid until', 'validUntil', { type: 'date', value: day(until) }),
    h('div', { class: 'alert error', role: 'alert', hidden: true }),
    h('button', { class: 'primary', type: 'submit' }, 'Publish to listeners who opted in'));
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    clearErrors(form);
    const d = new FormData(form);
    const body = { title: String(d.get('title')).trim(), body: String(d.get('body')).trim(), validUntil: `${d.get('validUntil')}T23:59:59Z` };
    if (d.get('planId')) body.planId = String(d.get('planId'));
    try {
      await api('/admin/offers', { method: 'POST', body, idempotencyKey: 'web-' + crypto.randomUUID() });
      toast('Offer published');
      form.reset();
    } catch (err) { showErrors(form, err); }
  });
  return form;
}
