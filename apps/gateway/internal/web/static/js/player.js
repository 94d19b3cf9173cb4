// The player bar on every page: play/pause, previous/next, seek, volume,
// the queue (play next, add to the end, reorder, clear), a preview badge
// with an upgrade prompt, Media Session metadata and handlers, and the
// keyboard shortcuts. The queue and position are saved per listener
// (PUT /api/v1/me/player), so a reload or another device picks them up.

import { api, session, trackInfo, onSession, keepalive } from './api.js';
import { Engine } from './engine.js';
import { h, replace, cover, fmtTime, toast, debounce, icon } from './ui.js';

const SEEK_STEP = 5;

class HarmoniaPlayer extends HTMLElement {
  constructor() {
    super();
    this.engine = new Engine();
    this.queue = []; // [{id, info?: resolved track}]
    this.index = 0;
    this.saveSoon = debounce(() => this.save(), 1000);
    this.restored = null;
  }

  connectedCallback() {
    const e = this.engine;
    this.render();
    e.addEventListener('trackchange', () => this.onTrackChange());
    e.addEventListener('play', () => this.update());
    e.addEventListener('pause', () => { this.update(); this.save(); });
    e.addEventListener('ended', () => { this.update(); this.save(); });
    e.addEventListener('volumechange', () => this.update());
    e.addEventListener('error', (ev) => {
      const err = ev.detail;
      toast(err && err.status === 402 ? 'This track needs a plan.' : `Could not play: ${(err && err.message) || 'the stream failed'}`, 'error');
      this.update();
    });
    setInterval(() => this.progress(), 250);
    setInterval(() => { if (!e.paused) this.save(); }, 15000);
    addEventListener('pagehide', () => this.save(true));
    this.mediaSession();
    onSession((s) => { if (s) this.restore(); else this.reset(); });
  }

  // ---- the queue ----------------------------------------------------------

  get current() { return this.queue[this.index] || null; }

  // playTracks replaces the queue with tracks and plays the one at start.
  playTracks(tracks, start = 0) {
    const playable = tracks.filter((t) => t.audio);
    if (!playable.length) { toast('Nothing to play here yet.'); return; }
    const first = tracks[start];
    this.queue = playable.map((t) => ({ id: t.id, info: t }));
    this.index = Math.max(0, playable.findIndex((t) => t === first));
    this.start(0, true);
  }

  addNext(track) {
    const item = { id: track.id, info: track };
    if (!this.queue.length) { this.queue = [item]; this.index = 0; this.start(0, true); return; }
    this.queue.splice(this.index + 1, 0, item);
    this.queueChanged(`"${track.title}" plays next`);
  }

  addToEnd(track) {
    const item = { id: track.id, info: track };
    if (!this.queue.length) { this.queue = [item]; this.index = 0; this.start(0, true); return; }
    this.queue.push(item);
    this.queueChanged(`"${track.title}" added to the queue`);
  }

  remove(i) {
    if (i === this.index) return; // the one playing stays; skip it with next
    this.queue.splice(i, 1);
    if (i < this.index) this.index--;
    this.queueChanged();
  }

  move(from, to) {
    if (from === to || from < 0 || to < 0 || from >= this.queue.length || to >= this.queue.length) return;
    const [it] = this.queue.splice(from, 1);
    this.queue.splice(to, 0, it);
    if (this.index === from) this.index = to;
    else if (from < this.index && to >= this.index) this.index--;
    else if (from > this.index && to <= this.index) this.index++;
    this.queueChanged();
  }

  clear() {
    const cur = this.current;
    this.queue = cur ? [cur] : [];
    this.index = 0;
    this.queueChanged('Queue cleared');
  }

  queueChanged(message) {
    this.engine.setNext(this.infoAt(this.index + 1));
    this.prepareNext();
    this.renderQueue();
    this.update();
    this.saveSoon();
    if (message) toast(message);
  }

  infoAt(i) { const it = this.queue[i]; return it && it.info ? it.info : null; }

  async resolve(i) {
    const it = this.queue[i];
    if (!it) return null;
    if (!it.info) it.info = await trackInfo(it.id).catch(() => null);
    return it.info;
  }

  async prepareNext() {
    const info = await this.resolve(this.index + 1);
    if (info && info.audio) this.engine.setNext(info);
  }

  async start(offset, autoplay) {
    const info = await this.resolve(this.index);
    if (!info) { toast('That track is not available.', 'error'); return; }
    this.engine.setNext(null);
    await this.engine.load(info, offset, autoplay);
    this.prepareNext();
  }

  next() {
    if (this.index + 1 >= this.queue.length) { toast('End of the queue'); return; }
    this.index++;
    this.start(0, true);
    this.saveSoon();
  }

  previous() {
    if (this.engine.currentTime > 3 || this.index === 0) { this.start(0, !this.engine.paused); return; }
    this.index--;
    this.start(0, true);
    this.saveSoon();
  }

  toggle() {
    const e = this.engine;
    if (!e.track) { if (this.current) this.start(this.restored ? this.restored.positionMs / 1000 : 0, true); return; }
    if (e.paused) e.play(); else e.pause();
  }

  seekBy(d) { this.engine.seek(this.engine.currentTime + d); }

  // the engine moved on by itself (gapless): follow it in the queue
  onTrackChange() {
    const e = this.engine;
    if (e.track && this.current && e.track.id !== this.current.id && this.queue[this.index + 1] && this.queue[this.index + 1].id === e.track.id) {
      this.index++;
    }
    this.restored = null;
    this.prepareNext();
    this.renderQueue();
    this.update();
    this.setMetadata();
    this.saveSoon();
    document.dispatchEvent(new CustomEvent('harmonia:nowplaying', { detail: e.track }));
  }

  // ---- saving -------------------------------------------------------------

  state() {
    return { trackIds: this.queue.map((q) => q.id), index: this.queue.length ? this.index : 0,
      positionMs: Math.round(this.engine.currentTime * 1000), volume: this.engine.vol };
  }

  async save(unloading) {
    if (!session() || this.restoring) return;
    if (unloading) { keepalive('/me/player', 'PUT', this.state()); return; }
    try {
      await api('/me/player', { method: 'PUT', body: this.state() });
    } catch { /* saved on the next change */ }
  }

  async restore() {
    if (this.queue.length) return;
    this.restoring = true;
    try {
      const p = await api('/me/player');
      this.queue = p.trackIds.map((id) => ({ id }));
      this.index = Math.min(p.index, Math.max(0, this.queue.length - 1));
      this.restored = p;
      this.engine.setVolume(p.volume ?? 1);
      await this.resolve(this.index);
      this.renderQueue();
      this.update();
    } catch { /* a fresh queue */ }
    this.restoring = false;
  }

  reset() {
    this.engine.stop();
    this.queue = [];
    this.index = 0;
    this.restored = null;
    this.renderQueue();
    this.update();
  }

  // ---- view ---------------------------------------------------------------

  render() {
    this.coverBox = h('div', { class: 'coverbox' });
    this.titleEl = h('div', { class: 't' }, 'Nothing playing');
    this.artistEl = h('div', { class: 'a' }, '');
    this.badge = h('span', { class: 'badge', hidden: true, title: 'You hear a preview: listeners with a plan hear whole tracks' }, 'Preview');
    this.upgrade = h('a', { class: 'upgrade', href: '/plans', hidden: true }, 'Hear whole tracks: see plans');
    this.prevBtn = h('button', { class: 'icon', 'aria-label': 'Previous (k)', title: 'Previous (k)', onclick: () => this.previous() }, icon('prev'));
    this.playBtn = h('button', { class: 'icon primary', 'aria-label': 'Play (space)', title: 'Play (space)', onclick: () => this.toggle() }, icon('play'));
    this.nextBtn = h('button', { class: 'icon', 'aria-label': 'Next (j)', title: 'Next (j)', onclick: () => this.next() }, icon('next'));
    this.pos = h('span', { class: 'pos', 'aria-hidden': 'true' }, '0:00');
    this.dur = h('span', { class: 'dur', 'aria-hidden': 'true' }, '0:00');
    this.seekBar = h('input', { type: 'range', min: '0', max: '0', step: '0.1', value: '0', 'aria-label': 'Seek', 'aria-valuetext': '0:00 of 0:00' });
    this.seekBar.addEventListener('input', () => { this.dragging = true; this.pos.textContent = fmtTime(Number(this.seekBar.value)); });
    this.seekBar.addEventListener('change', () => { this.dragging = false; this.engine.seek(Number(this.seekBar.value)); });
    this.muteBtn = h('button', { class: 'icon', 'aria-label': 'Mute (m)', title: 'Mute (m)', 'aria-pressed': 'false', onclick: () => this.engine.setMuted(!this.engine.muted) }, icon('volume'));
    this.volBar = h('input', { type: 'range', min: '0', max: '1', step: '0.05', value: '1', 'aria-label': 'Volume' });
    this.volBar.addEventListener('input', () => { this.engine.setVolume(Number(this.volBar.value)); this.saveSoon(); });
    this.queueBtn = h('button', { 'aria-expanded': 'false', 'aria-controls': 'queue-panel', onclick: () => this.toggleQueue() }, icon('queue'), 'Queue');
    this.panel = h('section', { class: 'queue-panel', id: 'queue-panel', hidden: true, 'aria-label': 'Queue' });
    replace(this,
      h('div', { class: 'player', role: 'region', 'aria-label': 'Player' },
        h('div', { class: 'now' }, this.coverBox, h('div', { class: 'what' }, this.titleEl, this.artistEl, h('div', { class: 'row' }, this.badge, this.upgrade))),
        h('div', { class: 'mid' },
          h('div', { class: 'buttons' }, this.prevBtn, this.playBtn, this.nextBtn),
          h('div', { class: 'seek' }, this.pos, this.seekBar, this.dur)),
        h('div', { class: 'side' }, this.muteBtn, this.volBar, this.queueBtn)),
      this.panel);
    this.update();
  }

  update() {
    const e = this.engine;
    const info = e.track || this.infoAt(this.index);
    const playing = !e.paused && !!e.track;
    this.playBtn.replaceChildren(icon(playing ? 'pause' : 'play'));
    this.playBtn.setAttribute('aria-label', playing ? 'Pause (space)' : 'Play (space)');
    this.playBtn.title = playing ? 'Pause (space)' : 'Play (space)';
    this.playBtn.disabled = !info;
    this.prevBtn.disabled = !info;
    this.nextBtn.disabled = this.index + 1 >= this.queue.length;
    this.muteBtn.replaceChildren(icon(e.muted ? 'mute' : 'volume'));
    this.muteBtn.setAttribute('aria-pressed', String(e.muted));
    this.volBar.value = String(e.vol);
    if (info) {
      this.titleEl.replaceChildren(h('a', { href: `/album/${info.albumId}` }, info.title));
      this.artistEl.replaceChildren(info.artistName ? h('a', { href: `/artist/${info.artistId}` }, info.artistName) : '');
      if (this.coverFor !== info.albumId) { replace(this.coverBox, cover(info.albumId)); this.coverFor = info.albumId; }
    } else {
      this.titleEl.textContent = 'Nothing playing';
      this.artistEl.textContent = '';
      this.coverBox.replaceChildren();
      this.coverFor = null;
    }
    const preview = e.track && e.preview;
    this.badge.hidden = !preview;
    this.upgrade.hidden = !preview;
    this.progress();
  }

  progress() {
    const e = this.engine;
    const d = e.duration || (this.restored && this.infoAt(this.index) && this.infoAt(this.index).audio ? this.infoAt(this.index).audio.durationMs / 1000 : 0);
    const t = e.track ? e.currentTime : (this.restored ? this.restored.positionMs / 1000 : 0);
    this.seekBar.max = String(d || 0);
    if (!this.dragging) {
      this.seekBar.value = String(t);
      this.pos.textContent = fmtTime(t);
    }
    this.dur.textContent = fmtTime(d);
    this.seekBar.setAttribute('aria-valuetext', `${fmtTime(t)} of ${fmtTime(d)}`);
    if ('mediaSession' in navigator && e.track && d > 0 && navigator.mediaSession.setPositionState) {
      try { navigator.mediaSession.setPositionState({ duration: d, position: Math.min(t, d), playbackRate: 1 }); } catch { /* not yet */ }
    }
  }

  toggleQueue() {
    this.panel.hidden = !this.panel.hidden;
    this.queueBtn.setAttribute('aria-expanded', String(!this.panel.hidden));
    if (!this.panel.hidden) { this.renderQueue(); this.panel.querySelector('button, [tabindex]')?.focus(); }
  }

  async renderQueue() {
    if (this.panel.hidden) return;
    const list = h('ol', { class: 'entries', 'aria-label': 'Tracks in the queue' });
    const rows = this.queue.map((it, i) => {
      const name = h('span', { class: 'name' }, it.info ? it.info.title : '…');
      const li = h('li', { class: i === this.index ? 'current' : '', draggable: 'true', tabindex: '0',
        'aria-label': `${i + 1}. ${it.info ? it.info.title : 'track'}${i === this.index ? ' (playing)' : ''}. Alt+Up or Alt+Down moves it.` },
      h('span', { class: 'grip', 'aria-hidden': 'true' }, icon('grip')), name,
      h('button', { class: 'icon', 'aria-label': 'Move up', title: 'Move up', onclick: () => this.move(i, i - 1), disabled: i === 0 }, icon('up')),
      h('button', { class: 'icon', 'aria-label': 'Move down', title: 'Move down', onclick: () => this.move(i, i + 1), disabled: i === this.queue.length - 1 }, icon('down')),
      h('button', { class: 'icon', 'aria-label': 'Remove from the queue', title: 'Remove', onclick: () => this.remove(i), disabled: i === this.index }, icon('close')));
      li.addEventListener('keydown', (ev) => {
        if (ev.altKey && ev.key === 'ArrowUp') { ev.preventDefault(); this.move(i, i - 1); this.focusRow(i - 1); }
        if (ev.altKey && ev.key === 'ArrowDown') { ev.preventDefault(); this.move(i, i + 1); this.focusRow(i + 1); }
        if (ev.key === 'Enter' && ev.target === li) { this.index = i; this.start(0, true); }
      });
      dragRow(li, i, (from, to) => this.move(from, to));
      if (!it.info) this.resolve(i).then((info) => { if (info) name.textContent = info.title; });
      return li;
    });
    list.append(...rows);
    replace(this.panel,
      h('div', { class: 'row' }, h('h2', {}, 'Queue'), h('span', { class: 'grow' }),
        h('button', { onclick: () => this.clear(), disabled: this.queue.length < 2 }, 'Clear'),
        h('button', { 'aria-label': 'Close the queue', onclick: () => this.toggleQueue() }, 'Close')),
      this.queue.length ? list : h('p', { class: 'muted' }, 'The queue is empty. Play an album, or add tracks from their menu.'));
  }

  focusRow(i) { setTimeout(() => this.panel.querySelectorAll('.entries li')[i]?.focus(), 0); }

  setMetadata() {
    const info = this.engine.track;
    if (!('mediaSession' in navigator) || !info) return;
    navigator.mediaSession.metadata = new MediaMetadata({ title: info.title, artist: info.artistName || '', album: info.albumTitle || '',
      artwork: [{ src: document.querySelector('link[rel="icon"]').href, sizes: '64x64', type: 'image/svg+xml' }] });
  }

  mediaSession() {
    if (!('mediaSession' in navigator)) return;
    const ms = navigator.mediaSession;
    const set = (a, f) => { try { ms.setActionHandler(a, f); } catch { /* unsupported */ } };
    set('play', () => this.engine.play());
    set('pause', () => this.engine.pause());
    set('previoustrack', () => this.previous());
    set('nexttrack', () => this.next());
    set('seekbackward', (d) => this.seekBy(-(d.seekOffset || SEEK_STEP)));
    set('seekforward', (d) => this.seekBy(d.seekOffset || SEEK_STEP));
    set('seekto', (d) => this.engine.seek(d.seekTime));
    this.engine.addEventListener('play', () => { ms.playbackState = 'playing'; });
    this.engine.addEventListener('pause', () => { ms.playbackState = 'paused'; });
  }
}

// dragRow makes a list row reorderable by drag and drop.
export function dragRow(li, i, move) {
  li.addEventListener('dragstart', (ev) => { ev.dataTransfer.setData('text/plain', String(i)); ev.dataTransfer.effectAllowed = 'move'; li.classList.add('dragging'); });
  li.addEventListener('dragend', () => li.classList.remove('dragging'));
  li.addEventListener('dragover', (ev) => { ev.preventDefault(); li.classList.add('over'); });
  li.addEventListener('dragleave', () => li.classList.remove('over'));
  li.addEventListener('drop', (ev) => {
    ev.preventDefault();
    li.classList.remove('over');
    const from = Number(ev.dataTransfer.getData('text/plain'));
    if (!Number.isNaN(from)) move(from, i);
  });
}

customElements.define('harmonia-player', HarmoniaPlayer);

// shortcuts: space, ←/→ seek, j/k next/previous, m mute, / search, ? help;
// ignored while typing, and space on a button is the button's.
export function shortcuts(player, openHelp) {
  addEventListener('keydown', (ev) => {
    const t = ev.target;
    const typing = t && (t.isContentEditable || ['INPUT', 'TEXTAREA', 'SELECT'].includes(t.tagName));
    if (typing || ev.ctrlKey || ev.metaKey || ev.altKey) return;
    if (ev.key === ' ' && t && t.closest && t.closest('button, a, [role="menuitem"], summary, li[tabindex]')) return;
    const e = player.engine;
    switch (ev.key) {
      case ' ': ev.preventDefault(); player.toggle(); break;
      case 'ArrowLeft': if (e.track) { ev.preventDefault(); player.seekBy(-SEEK_STEP); } break;
      case 'ArrowRight': if (e.track) { ev.preventDefault(); player.seekBy(SEEK_STEP); } break;
      case 'j': player.next(); break;
      case 'k': player.previous(); break;
      case 'm': e.setMuted(!e.muted); break;
      case '/': ev.preventDefault(); document.getElementById('q')?.focus(); break;
      case '?': ev.preventDefault(); openHelp(); break;
      default:
    }
  });
}
