// The notification bell: the unread count, the latest notifications, and
// new ones live from the server-sent events stream. An EventSource cannot
// send a Bearer token, so it opens with a single-use ticket the API issues
// (POST /me/notifications/stream-ticket); after a break it opens again with
// a new ticket and reads the list to catch up.

import { api, session, onSession } from './api.js';
import { h, replace, fmtDate, toast, icon } from './ui.js';

class HarmoniaBell extends HTMLElement {
  connectedCallback() {
    this.unread = 0;
    this.items = [];
    this.es = null;
    this.backoff = 1000;
    this.btn = h('button', { class: 'icon bell', 'aria-haspopup': 'dialog', 'aria-expanded': 'false', 'aria-controls': 'bell-panel',
      onclick: () => this.toggle() }, icon('bell'), this.countEl = h('span', { class: 'count', hidden: true }));
    this.panel = h('div', { class: 'bell-panel', id: 'bell-panel', role: 'dialog', 'aria-label': 'Notifications', hidden: true });
    this.panel.addEventListener('keydown', (e) => { if (e.key === 'Escape') { this.toggle(false); this.btn.focus(); } });
    replace(this, this.btn, this.panel);
    this.label();
    this.off = onSession((s) => (s ? this.start() : this.stop()));
    if (session()) this.start();
  }

  disconnectedCallback() { this.stop(); if (this.off) this.off(); }

  label() {
    this.countEl.hidden = this.unread === 0;
    this.countEl.textContent = this.unread > 99 ? '99+' : String(this.unread);
    this.btn.setAttribute('aria-label', this.unread ? `Notifications, ${this.unread} unread` : 'Notifications');
  }

  async load() {
    try {
      const page = await api('/me/notifications?limit=10');
      this.items = page.items;
      this.unread = page.unread;
      this.label();
      this.renderPanel();
    } catch { /* the bell waits for the next event */ }
  }

  async start() {
    if (this.started) return;
    this.started = true;
    await this.load();
    this.connect();
  }

  stop() {
    this.started = false;
    if (this.es) { this.es.close(); this.es = null; }
    clearTimeout(this.retry);
    this.unread = 0;
    this.items = [];
    this.label();
  }

  async connect() {
    if (!this.started) return;
    let t;
    try {
      t = await api('/me/notifications/stream-ticket', { method: 'POST' });
    } catch {
      this.again();
      return;
    }
    const es = new EventSource(t.url);
    this.es = es;
    es.addEventListener('open', () => { this.backoff = 1000; this.dataset.live = 'true'; });
    es.addEventListener('notification', (ev) => {
      let n;
      try { n = JSON.parse(ev.data); } catch { return; }
      if (this.items.some((x) => x.id === n.id)) return;
      this.items.unshift(n);
      this.items = this.items.slice(0, 10);
      if (!n.readAt) this.unread++;
      this.label();
      this.renderPanel();
      toast(n.title);
      document.dispatchEvent(new CustomEvent('harmonia:notification', { detail: n }));
    });
    es.addEventListener('error', () => {
      if (es.readyState === EventSource.CLOSED) { // refused: a used ticket, or signed out
        delete this.dataset.live;
        if (this.es === es) this.es = null;
        this.again();
      }
    });
  }

  again() {
    if (!this.started) return;
    clearTimeout(this.retry);
    this.retry = setTimeout(async () => { await this.load(); this.connect(); }, this.backoff);
    this.backoff = Math.min(this.backoff * 2, 30000);
  }

  toggle(open) {
    const show = open ?? this.panel.hidden;
    this.panel.hidden = !show;
    this.btn.setAttribute('aria-expanded', String(show));
    if (show) { this.renderPanel(); this.panel.querySelector('button, a')?.focus(); }
  }

  async markRead(n) {
    try {
      await api(`/me/notifications/${n.id}/read`, { method: 'POST' });
      if (!n.readAt) { n.readAt = new Date().toISOString(); this.unread = Math.max(0, this.unread - 1); }
      this.label();
      this.renderPanel();
    } catch (e) { toast(e.message, 'error'); }
  }

  async markAll() {
    try {
      await api('/me/notifications/read-all', { method: 'POST' });
      for (const n of this.items) n.readAt = n.readAt || new Date().toISOString();
      this.unread = 0;
      this.label();
      this.renderPanel();
    } catch (e) { toast(e.message, 'error'); }
  }

  renderPanel() {
    if (this.panel.hidden) return;
    const list = this.items.length
      ? h('ul', { class: 'notes' }, this.items.map((n) => noteRow(n, () => this.markRead(n))))
      : h('p', { class: 'muted' }, 'Nothing yet. Follow an artist to hear about their new releases.');
    replace(this.panel,
      h('div', { class: 'row' }, h('h2', {}, 'Notifications'), h('span', { class: 'grow' }),
        h('button', { onclick: () => this.markAll(), disabled: this.unread === 0 }, 'Mark all read')),
      list,
      h('p', {}, h('a', { href: '/notifications', onclick: () => this.toggle(false) }, 'All notifications')));
  }
}

export function noteRow(n, markRead) {
  return h('li', { class: n.readAt ? '' : 'unread' },
    h('div', { class: 'body' },
      h('strong', {}, n.link ? h('a', { href: localLink(n.link) }, n.title) : n.title),
      h('div', {}, n.body),
      h('div', { class: 'when' }, fmtDate(n.createdAt))),
    n.readAt ? null : h('button', { onclick: markRead, 'aria-label': `Mark read: ${n.title}` }, 'Mark read'));
}

// localLink turns an API link (/api/v1/albums/<id>) into the player's page.
export function localLink(link) {
  const m = /\/albums\/([\w-]+)/.exec(link) || [];
  if (m[1]) return '/album/' + m[1];
  const a = /\/artists\/([\w-]+)/.exec(link) || [];
  if (a[1]) return '/artist/' + a[1];
  return link.startsWith('/') && !link.startsWith('/api/') ? link : '/notifications';
}

customElements.define('harmonia-bell', HarmoniaBell);
