// Listener pages: home, sign-in and sign-up, search, album, artist.

import { api, cached, signIn, signUp, trackInfo, forget } from './api.js';
import { h, cover, fmtTime, field, showErrors, clearErrors, menu, toast, player, icon } from './ui.js';
import { myPlaylists, addToPlaylist, newPlaylistDialog } from './library.js';

// ---- sign in / sign up --------------------------------------------------------

export async function signin({ query, go }) {
  const form = h('form', { class: 'narrow', novalidate: true },
    field('Email', 'email', { type: 'email', autocomplete: 'email', required: true }),
    field('Password', 'password', { type: 'password', autocomplete: 'current-password', required: true }),
    h('div', { class: 'alert error', role: 'alert', hidden: true }),
    h('button', { class: 'primary', type: 'submit' }, 'Sign in'));
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    clearErrors(form);
    const d = new FormData(form);
    try {
      await signIn(String(d.get('email')).trim(), String(d.get('password')));
      go(safeNext(query.get('next')), true);
    } catch (err) { showErrors(form, err); }
  });
  return [h('h1', {}, 'Sign in'), form, h('p', {}, 'New here? ', h('a', { href: '/signup' }, 'Make an account')),
    h('p', { class: 'muted' }, 'On a local stack: listener@harmonia.local / harmonia-listener.')];
}

export async function signup({ go }) {
  const year = new Date().getFullYear();
  const form = h('form', { class: 'narrow', novalidate: true },
    field('Email', 'email', { type: 'email', autocomplete: 'email', required: true }),
    field('Password (at least 10 characters)', 'password', { type: 'password', autocomplete: 'new-password', required: true, minlength: '10' }),
    field('Your name', 'displayName', { autocomplete: 'name', required: true }),
    field('Country (two letters, e.g. PT)', 'country', { autocomplete: 'country', maxlength: '2' }),
    field('Year of birth', 'birthYear', { type: 'number', min: String(year - 120), max: String(year - 13) }),
    h('div', { class: 'alert error', role: 'alert', hidden: true }),
    h('button', { class: 'primary', type: 'submit' }, 'Create account'));
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    clearErrors(form);
    const d = new FormData(form);
    const input = { email: String(d.get('email')).trim(), password: String(d.get('password')), displayName: String(d.get('displayName')).trim() };
    const c = String(d.get('country') || '').trim().toUpperCase();
    if (c) input.country = c;
    const y = String(d.get('birthYear') || '').trim();
    if (y) input.birthYear = Number(y);
    try {
      await signUp(input);
      toast('Welcome to Harmonia');
      go('/', true);
    } catch (err) { showErrors(form, err); }
  });
  return [h('h1', {}, 'Make an account'), form, h('p', {}, 'Have one? ', h('a', { href: '/signin' }, 'Sign in'))];
}

function safeNext(n) { return n && n.startsWith('/') && !n.startsWith('//') ? n : '/'; }

// ---- albums and tracks ----------------------------------------------------------

async function artistName(id) {
  try { return (await cached('/artists/' + id)).name; } catch { return ''; }
}

export function albumCard(a, name) {
  const sub = h('span', { class: 'sub' }, name || '');
  if (!name && a.artistId) artistName(a.artistId).then((n) => { sub.textContent = n; });
  return h('li', { class: 'card' }, h('a', { href: '/album/' + a.id },
    cover(a.id), h('span', { class: 'title' }, a.title), sub,
    h('span', { class: 'sub' }, [a.genre, a.releaseDate ? a.releaseDate.slice(0, 4) : ''].filter(Boolean).join(' · '))));
}

export async function home() {
  const [fresh, trending] = await Promise.all([api('/albums?sort=new&limit=12'), api('/albums?sort=trending&limit=12')]);
  return [h('h1', {}, 'Listen now'),
    h('h2', {}, 'New releases'), h('ul', { class: 'grid', 'aria-label': 'New releases' }, fresh.items.map((a) => albumCard(a))),
    h('h2', {}, 'Trending'), trending.items.length
      ? h('ul', { class: 'grid', 'aria-label': 'Trending' }, trending.items.map((a) => albumCard(a)))
      : h('p', { class: 'muted' }, 'Nothing is trending yet.')];
}

// trackMenu: play next, add to the queue, add to a playlist.
export function trackMenu(info) {
  return menu(`More for ${info.title}`, async () => {
    const mine = await myPlaylists().catch(() => []);
    return [
      { text: 'Play next', run: () => player().addNext(info) },
      { text: 'Add to the queue', run: () => player().addToEnd(info) },
      '-',
      { label: 'Add to a playlist' },
      ...mine.map((p) => ({ text: p.name, run: () => addToPlaylist(p.id, info) })),
      { text: 'New playlist…', run: () => newPlaylistDialog(info) },
    ];
  }, { icon: icon('more') });
}

export function trackTable(tracks, { showAlbum = false } = {}) {
  const rows = tracks.map((t, i) => {
    const playBtn = h('button', { class: 'icon', 'aria-label': `Play ${t.title}`, title: 'Play', disabled: !t.audio,
      onclick: () => player().playTracks(tracks, i) }, icon('play'));
    return h('tr', { 'data-track': t.id },
      h('td', { class: 'num' }, String(t.trackNumber || i + 1)),
      h('td', {}, h('div', {}, t.title), showAlbum ? h('div', { class: 'muted' }, [t.artistName, t.albumTitle].filter(Boolean).join(' · ')) : null,
        t.audio ? null : h('div', { class: 'muted' }, 'No audio yet')),
      h('td', { class: 'dur' }, t.audio ? fmtTime(t.audio.durationMs / 1000) : ''),
      h('td', { class: 'act' }, h('div', { class: 'row' }, playBtn, trackMenu(t))));
  });
  const table = h('table', { class: 'tracks' },
    h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, '#'), h('th', { scope: 'col' }, 'Title'), h('th', { scope: 'col', class: 'dur' }, 'Time'),
      h('th', { scope: 'col' }, h('span', { class: 'sr-only' }, 'Actions')))),
    h('tbody', {}, rows));
  const mark = () => {
    const now = player() && player().engine.track;
    for (const tr of table.querySelectorAll('tr[data-track]')) tr.classList.toggle('playing', !!now && tr.dataset.track === now.id);
  };
  document.addEventListener('harmonia:nowplaying', mark);
  mark();
  return table;
}

export async function album({ params }) {
  const a = await api('/albums/' + params[0]);
  const name = a.artist ? a.artist.name : await artistName(a.artistId);
  const tracks = (a.tracks || []).map((t) => ({ ...t, albumTitle: a.title, artistName: name, genre: a.genre }));
  const total = tracks.reduce((n, t) => n + (t.audio ? t.audio.durationMs : 0), 0);
  return [
    h('div', { class: 'hero' }, cover(a.id, 'cover big', ''),
      h('div', { class: 'meta' },
        h('p', { class: 'muted' }, 'Album'),
        h('h1', {}, a.title),
        h('p', {}, h('a', { href: '/artist/' + a.artistId }, name), ' · ', [a.genre, a.releaseDate ? a.releaseDate.slice(0, 4) : ''].filter(Boolean).join(' · '),
          ' · ', `${tracks.length} tracks, ${fmtTime(total / 1000)}`),
        h('div', { class: 'toolbar' },
          h('button', { class: 'primary', onclick: () => player().playTracks(tracks, 0), disabled: !tracks.some((t) => t.audio) }, icon('play'), 'Play'),
          h('button', { onclick: () => { for (const t of tracks.filter((x) => x.audio)) player().addToEnd(t); } }, 'Add all to the queue')))),
    trackTable(tracks)];
}

export async function artist({ params }) {
  const [ar, albums, following] = await Promise.all([api('/artists/' + params[0]), api('/albums?artistId=' + params[0] + '&limit=50'),
    api('/me/following').catch(() => ({ items: [] }))]);
  let follows = following.items.includes(ar.id);
  const btn = h('button', { 'aria-pressed': String(follows) });
  const label = () => { btn.textContent = follows ? 'Following' : 'Follow'; btn.setAttribute('aria-pressed', String(follows)); btn.className = follows ? '' : 'primary'; };
  label();
  btn.addEventListener('click', async () => {
    try {
      await api('/me/following/' + ar.id, { method: follows ? 'DELETE' : 'PUT' });
      follows = !follows;
      label();
      toast(follows ? `You follow ${ar.name}: new releases reach your bell` : `You no longer follow ${ar.name}`);
    } catch (e) { toast(e.message, 'error'); }
  });
  return [
    h('div', { class: 'hero' }, cover(ar.id, 'cover big'),
      h('div', { class: 'meta' }, h('p', { class: 'muted' }, 'Artist'), h('h1', {}, ar.name),
        h('p', { class: 'muted' }, (ar.genres || []).join(', ')), h('div', { class: 'toolbar' }, btn))),
    h('h2', {}, 'Albums'),
    albums.items.length ? h('ul', { class: 'grid' }, albums.items.map((a) => albumCard(a, ar.name))) : h('p', { class: 'muted' }, 'No albums yet.')];
}

// ---- search -------------------------------------------------------------------

export async function search({ query }) {
  const q = (query.get('q') || '').trim();
  if (!q) return [h('h1', {}, 'Search'), h('p', { class: 'muted' }, 'Type in the box above: words in any order, typos forgiven.')];
  const r = await api('/search?q=' + encodeURIComponent(q) + '&limit=10');
  const out = [h('h1', {}, `Results for “${q}”`)];
  const top = r.top;
  if (!top) return [...out, h('p', {}, 'Nothing found. Try fewer words.')];
  const href = (it) => it.type === 'album' ? '/album/' + it.id : it.type === 'artist' ? '/artist/' + it.id
    : it.type === 'playlist' ? '/playlist/' + it.id : '/album/' + it.albumId;
  const label = (it) => it.title || it.name || '';
  const playSearchTrack = async (items, i) => {
    try {
      const infos = await Promise.all(items.map((x) => trackInfo(x.id).catch(() => null)));
      const ok = infos.filter(Boolean);
      player().playTracks(ok, Math.max(0, ok.findIndex((t) => t.id === items[i].id)));
    } catch (e) { toast(e.message, 'error'); }
  };
  out.push(h('section', { 'aria-labelledby': 'top-h' }, h('h2', { id: 'top-h' }, 'Top result'),
    h('div', { class: 'card top-result' },
      h('a', { href: href(top), class: 'title' }, label(top)),
      h('div', { class: 'sub' }, [top.type, top.artistName, top.albumTitle].filter(Boolean).join(' · ')),
      top.type === 'track' ? h('button', { class: 'primary', onclick: () => playSearchTrack([top], 0) }, icon('play'), 'Play') : null)));
  const tracks = (r.tracks && r.tracks.items) || [];
  if (tracks.length) {
    out.push(h('section', { 'aria-labelledby': 'tr-h' }, h('h2', { id: 'tr-h' }, 'Tracks'),
      h('table', { class: 'tracks' }, h('tbody', {}, tracks.map((t, i) => h('tr', {},
        h('td', {}, h('div', {}, t.title), h('div', { class: 'muted' }, [t.artistName, t.albumTitle].filter(Boolean).join(' · '))),
        h('td', { class: 'dur' }, t.durationMs ? fmtTime(t.durationMs / 1000) : ''),
        h('td', { class: 'act' }, h('button', { class: 'icon', 'aria-label': `Play ${t.title}`, onclick: () => playSearchTrack(tracks, i) }, icon('play')))))))));
  }
  for (const [key, title] of [['albums', 'Albums'], ['artists', 'Artists'], ['playlists', 'Playlists']]) {
    const items = (r[key] && r[key].items) || [];
    if (!items.length) continue;
    out.push(h('section', { 'aria-labelledby': key + '-h' }, h('h2', { id: key + '-h' }, title),
      h('ul', { class: 'grid' }, items.map((it) => h('li', { class: 'card' }, h('a', { href: href(it) },
        cover(it.id), h('span', { class: 'title' }, label(it)),
        h('span', { class: 'sub' }, [it.artistName, it.genre, it.year].filter(Boolean).join(' · '))))))));
  }
  return out;
}

export { forget };
