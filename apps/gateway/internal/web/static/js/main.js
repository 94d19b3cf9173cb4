// Harmonia's web player: the page shell, the router, the search box.
// Plain ES modules, no build step; every request goes to this origin.

import { api, session, isAdmin, onSession, refresh, signOut } from './api.js';
import { h, replace, debounce } from './ui.js';
import { shortcuts } from './player.js';
import './bell.js';

import * as pages from './pages.js';
import * as library from './library.js';
import * as account from './account.js';
import * as admin from './admin.js';

const routes = [
  [/^\/$/, pages.home, true],
  [/^\/signin$/, pages.signin, false],
  [/^\/signup$/, pages.signup, false],
  [/^\/search$/, pages.search, true],
  [/^\/album\/([\w-]+)$/, pages.album, true],
  [/^\/artist\/([\w-]+)$/, pages.artist, true],
  [/^\/playlists$/, library.playlists, true],
  [/^\/playlist\/([\w-]+)$/, library.playlist, true],
  [/^\/me$/, account.me, true],
  [/^\/plans$/, account.plans, false],
  [/^\/notifications$/, account.notifications, true],
  [/^\/admin(?:\/(\w+))?$/, admin.admin, true],
];

const main = document.getElementById('main');
let renderSeq = 0;

export function go(path, replaceState = false) {
  if (replaceState) history.replaceState(null, '', path); else history.pushState(null, '', path);
  render();
}

async function render() {
  const seq = ++renderSeq;
  const url = new URL(location.href);
  header(url.pathname);
  const match = routes.map(([re, f, auth]) => [re.exec(url.pathname), f, auth]).find(([m]) => m);
  if (!match) { replace(main, h('h1', {}, 'Not found'), h('p', {}, h('a', { href: '/' }, 'Home'))); return; }
  const [m, page, needsAuth] = match;
  if (needsAuth && !session()) { go('/signin?next=' + encodeURIComponent(url.pathname + url.search), true); return; }
  replace(main, h('p', { class: 'loading' }, 'Loading…'));
  try {
    const view = await page({ params: m.slice(1), query: url.searchParams, go });
    if (seq !== renderSeq) return; // another page was asked for meanwhile
    replace(main, view);
  } catch (err) {
    if (seq !== renderSeq) return;
    replace(main, h('h1', {}, err.status === 404 ? 'Not found' : 'Something went wrong'),
      h('div', { class: 'alert error', role: 'alert' }, err.message || String(err)),
      h('p', {}, h('a', { href: '/' }, 'Home')));
  }
  const t = main.querySelector('h1');
  document.title = (t ? t.textContent + ' · ' : '') + 'Harmonia';
  main.focus({ preventScroll: true });
  scrollTo(0, 0);
}

// links inside the page stay inside the page
document.addEventListener('click', (e) => {
  const a = e.target.closest && e.target.closest('a[href]');
  if (!a || e.defaultPrevented || e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey || a.target || a.hasAttribute('download')) return;
  const url = new URL(a.href, location.href);
  if (url.origin !== location.origin || url.pathname.startsWith('/api/') || url.pathname.startsWith('/app/')) return;
  e.preventDefault();
  go(url.pathname + url.search);
});
addEventListener('popstate', render);

// ---- the header ---------------------------------------------------------------

let headerFor = null;

function header(path) {
  const s = session();
  const key = (s ? s.userId + (isAdmin() ? ':admin' : '') : '-') + '|' + path;
  if (headerFor === key) return;
  headerFor = key;
  const link = (href, text) => h('li', {}, h('a', { href, 'aria-current': path === href || (href !== '/' && path.startsWith(href)) ? 'page' : null }, text));
  const top = document.getElementById('top');
  replace(top,
    h('a', { class: 'brand', href: '/' }, h('img', { src: document.querySelector('link[rel="icon"]').href, alt: '' }), 'Harmonia'),
    s ? searchBox() : null,
    h('nav', { 'aria-label': 'Main' }, h('ul', {},
      s ? link('/', 'Home') : null,
      s ? link('/playlists', 'Playlists') : null,
      link('/plans', 'Plans'),
      s && isAdmin() ? link('/admin', 'Admin') : null)),
    h('span', { class: 'grow' }),
    s ? h('harmonia-bell') : null,
    h('div', { class: 'account' },
      s ? [h('a', { class: 'button', href: '/me' }, 'Profile'),
        h('button', { onclick: async () => { await signOut(); go('/signin'); } }, 'Sign out')]
        : [h('a', { class: 'button', href: '/signin' }, 'Sign in'), h('a', { class: 'button primary', href: '/signup' }, 'Sign up')]));
}

// the search box: suggestions after 200 ms of quiet, arrows and Enter
function searchBox() {
  const list = h('ul', { class: 'suggestions', id: 'suggestions', role: 'listbox', hidden: true, 'aria-label': 'Suggestions' });
  const input = h('input', { id: 'q', name: 'q', type: 'search', autocomplete: 'off', placeholder: 'Search songs, albums, artists  ( / )',
    role: 'combobox', 'aria-autocomplete': 'list', 'aria-controls': 'suggestions', 'aria-expanded': 'false' });
  const cur = new URLSearchParams(location.search).get('q');
  if (location.pathname === '/search' && cur) input.value = cur;
  let items = [], active = -1, seq = 0;
  const close = () => { list.hidden = true; input.setAttribute('aria-expanded', 'false'); input.removeAttribute('aria-activedescendant'); active = -1; };
  const choose = (it) => {
    close();
    if (!it) { if (input.value.trim()) go('/search?q=' + encodeURIComponent(input.value.trim())); return; }
    if (it.type === 'album') go('/album/' + it.id);
    else if (it.type === 'artist') go('/artist/' + it.id);
    else if (it.type === 'playlist') go('/playlist/' + it.id);
    else go('/search?q=' + encodeURIComponent(it.text));
  };
  const show = () => {
    list.replaceChildren(...items.map((it, i) => h('li', { id: 'sug-' + i, role: 'option', 'aria-selected': String(i === active),
      onmousedown: (e) => { e.preventDefault(); choose(it); } }, h('span', {}, it.text), h('span', { class: 'kind' }, it.type || ''))));
    list.hidden = items.length === 0;
    input.setAttribute('aria-expanded', String(!list.hidden));
    if (active >= 0) input.setAttribute('aria-activedescendant', 'sug-' + active); else input.removeAttribute('aria-activedescendant');
  };
  const suggest = debounce(async () => {
    const q = input.value.trim();
    const mine = ++seq;
    if (!q) { items = []; show(); return; }
    try {
      const res = await api('/search/suggest?q=' + encodeURIComponent(q));
      if (mine !== seq) return;
      items = res.items || [];
      active = -1;
      show();
    } catch { items = []; show(); }
  }, 200);
  input.addEventListener('input', suggest);
  input.addEventListener('keydown', (e) => {
    if (e.key === 'ArrowDown' && items.length) { e.preventDefault(); active = (active + 1) % items.length; show(); }
    else if (e.key === 'ArrowUp' && items.length) { e.preventDefault(); active = (active - 1 + items.length) % items.length; show(); }
    else if (e.key === 'Enter') { e.preventDefault(); choose(active >= 0 ? items[active] : null); }
    else if (e.key === 'Escape') { close(); }
  });
  input.addEventListener('blur', () => setTimeout(close, 100));
  return h('form', { class: 'searchbox', role: 'search', onsubmit: (e) => { e.preventDefault(); choose(null); } },
    h('label', { for: 'q', class: 'sr-only' }, 'Search'), input, list);
}

// ---- keyboard help ------------------------------------------------------------

const help = h('dialog', { id: 'help', 'aria-labelledby': 'help-title' },
  h('h2', { id: 'help-title' }, 'Keyboard shortcuts'),
  h('dl', {},
    [['Space', 'Play or pause'], ['← / →', 'Back or forward 5 seconds'], ['j', 'Next track'], ['k', 'Previous track'],
      ['m', 'Mute'], ['/', 'Search'], ['?', 'This help']].map(([k, d]) => [h('dt', {}, h('kbd', {}, k)), h('dd', {}, d)])),
  h('p', { class: 'muted' }, 'Shortcuts wait while you type in a field. In a list, Alt+↑ and Alt+↓ move the focused row.'),
  h('form', { method: 'dialog' }, h('button', { class: 'primary' }, 'Close')));
document.body.append(help);

// ---- start ----------------------------------------------------------------------

const player = document.querySelector('harmonia-player');
window.harmonia = { player, engine: player.engine, go }; // for the console (and the browser tests)
shortcuts(player, () => help.showModal());
document.addEventListener('harmonia:play', (e) => player.playTracks(e.detail.tracks, e.detail.start));
onSession(() => { headerFor = null; header(location.pathname); });

await refresh(); // a reload keeps the session (the cookie), if there is one
await render();
performance.mark('harmonia:ready'); // the first view is drawn and the controls answer
document.documentElement.dataset.ready = 'true';
