// Playlists: create, rename, public or private, add from any track's menu,
// reorder by drag and by keyboard, delete. Every change sends the version it
// saw (If-Match); a 412 means someone changed it elsewhere, and the page
// says so and shows the latest version.

import { api, session, trackInfo } from './api.js';
import { h, replace, field, showErrors, clearErrors, toast, fmtTime, player, icon } from './ui.js';
import { dragRow } from './player.js';

export async function myPlaylists() {
  const page = await api('/me/playlists?limit=50');
  return page.items;
}

export async function addToPlaylist(id, info) {
  try {
    const p = await api(`/playlists/${id}/tracks`, { method: 'POST', body: { trackId: info.id } });
    toast(`Added "${info.title}" to ${p.name}`);
  } catch (e) { toast(e.message, 'error'); }
}

// newPlaylistDialog asks for a name, creates the playlist, and adds info.
export function newPlaylistDialog(info) {
  const form = h('form', { method: 'dialog', novalidate: true },
    h('h2', {}, 'New playlist'),
    field('Name', 'name', { required: true, maxlength: '100' }),
    h('div', { class: 'alert error', role: 'alert', hidden: true }),
    h('div', { class: 'row' }, h('button', { class: 'primary', value: 'ok' }, 'Create'), h('button', { value: 'cancel', formnovalidate: true }, 'Cancel')));
  const dlg = h('dialog', { 'aria-label': 'New playlist' }, form);
  document.body.append(dlg);
  form.addEventListener('submit', async (e) => {
    if (e.submitter && e.submitter.value === 'cancel') return;
    e.preventDefault();
    clearErrors(form);
    try {
      const p = await api('/playlists', { method: 'POST', body: { name: String(new FormData(form).get('name')).trim(), public: false } });
      if (info) await addToPlaylist(p.id, info);
      dlg.close();
    } catch (err) { showErrors(form, err); }
  });
  dlg.addEventListener('close', () => dlg.remove());
  dlg.showModal();
}

export async function playlists({ go }) {
  const mine = await myPlaylists();
  const form = h('form', { class: 'row', novalidate: true },
    field('New playlist', 'name', { required: true, maxlength: '100', placeholder: 'For the train' }),
    h('div', { class: 'field' }, h('label', { class: 'inline' }, h('input', { type: 'checkbox', name: 'public' }), 'Public')),
    h('button', { class: 'primary', type: 'submit' }, 'Create'),
    h('div', { class: 'alert error', role: 'alert', hidden: true }));
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    clearErrors(form);
    const d = new FormData(form);
    try {
      const p = await api('/playlists', { method: 'POST', body: { name: String(d.get('name')).trim(), public: d.get('public') === 'on' } });
      go('/playlist/' + p.id);
    } catch (err) { showErrors(form, err); }
  });
  return [h('h1', {}, 'Your playlists'), form,
    mine.length ? h('ul', { class: 'entries' }, mine.map((p) => h('li', {},
      h('a', { class: 'name', href: '/playlist/' + p.id }, p.name),
      h('span', { class: 'muted' }, `${p.entries.length} tracks · ${p.public ? 'public' : 'private'}`))))
      : h('p', { class: 'muted' }, 'No playlists yet. Make one above, or from any track\'s ⋯ menu.')];
}

export async function playlist({ params, go }) {
  const id = params[0];
  const box = h('div');
  let p;
  const load = async () => { p = await api('/playlists/' + id); draw(); };
  const infos = new Map();
  // change sends the version seen; a 412 reloads and says why
  const change = async (path, opts, done) => {
    try {
      const out = await api(path, { ...opts, ifMatch: p._etag });
      if (out) { p = out; draw(); } else await load();
      if (done) toast(done);
    } catch (e) {
      if (e.status === 412) {
        toast('This playlist was changed somewhere else. Here is its latest version; try again.', 'error');
        await load();
      } else toast(e.message, 'error');
    }
  };
  const draw = () => {
    const own = session() && p.ownerId === session().userId;
    const tracks = () => p.entries.map((en) => infos.get(en.trackId)).filter(Boolean);
    const rows = p.entries.map((en, i) => {
      const name = h('span', { class: 'name' }, '…');
      const info = infos.get(en.trackId);
      const fill = (t) => { name.replaceChildren(h('span', {}, t.title), ' ', h('span', { class: 'muted' }, `${t.artistName} · ${t.audio ? fmtTime(t.audio.durationMs / 1000) : ''}`)); };
      if (info) fill(info); else trackInfo(en.trackId).then((t) => { infos.set(en.trackId, t); fill(t); }).catch(() => { name.textContent = 'A track no longer available'; });
      const move = (to) => {
        if (to < 0 || to >= p.entries.length) return;
        const ids = p.entries.map((x) => x.id);
        const [x] = ids.splice(i, 1);
        ids.splice(to, 0, x);
        change(`/playlists/${id}/order`, { method: 'PUT', body: { entryIds: ids } }).then(() => focusEntry(to));
      };
      const li = h('li', { tabindex: own ? '0' : null, draggable: own ? 'true' : null, 'data-entry': en.id,
        'aria-label': own ? `${i + 1}. Alt+Up or Alt+Down moves it.` : null },
      own ? h('span', { class: 'grip', 'aria-hidden': 'true' }, icon('grip')) : null,
      h('span', { class: 'muted' }, String(i + 1)), name,
      h('button', { class: 'icon', 'aria-label': 'Play from here', title: 'Play from here', onclick: () => { const t = tracks(); player().playTracks(t, Math.max(0, t.findIndex((x) => x.id === en.trackId))); } }, icon('play')),
      own ? [h('button', { class: 'icon', 'aria-label': 'Move up', title: 'Move up', disabled: i === 0, onclick: () => move(i - 1) }, icon('up')),
        h('button', { class: 'icon', 'aria-label': 'Move down', title: 'Move down', disabled: i === p.entries.length - 1, onclick: () => move(i + 1) }, icon('down')),
        h('button', { class: 'icon', 'aria-label': 'Remove', title: 'Remove', onclick: () => change(`/playlists/${id}/tracks/${en.id}`, { method: 'DELETE' }, 'Removed') }, icon('close'))] : null);
      if (own) {
        li.addEventListener('keydown', (ev) => {
          if (ev.altKey && ev.key === 'ArrowUp') { ev.preventDefault(); move(i - 1); }
          if (ev.altKey && ev.key === 'ArrowDown') { ev.preventDefault(); move(i + 1); }
        });
        dragRow(li, i, (from, to) => {
          const ids = p.entries.map((x) => x.id);
          const [x] = ids.splice(from, 1);
          ids.splice(to, 0, x);
          change(`/playlists/${id}/order`, { method: 'PUT', body: { entryIds: ids } });
        });
      }
      return li;
    });
    const rename = h('form', { class: 'row', novalidate: true },
      field('Name', 'name', { value: p.name, maxlength: '100', required: true }),
      h('button', { type: 'submit' }, 'Rename'),
      h('div', { class: 'alert error', role: 'alert', hidden: true }));
    rename.addEventListener('submit', (e) => {
      e.preventDefault();
      clearErrors(rename);
      change('/playlists/' + id, { method: 'PATCH', body: { name: String(new FormData(rename).get('name')).trim() } }, 'Renamed');
    });
    const pub = h('input', { type: 'checkbox', checked: p.public, id: 'pl-public' });
    pub.addEventListener('change', () => change('/playlists/' + id, { method: 'PATCH', body: { public: pub.checked } }, pub.checked ? 'Now public' : 'Now private'));
    replace(box,
      h('h1', {}, p.name),
      h('p', { class: 'muted' }, `${p.entries.length} tracks · ${p.public ? 'public' : 'private'}`),
      h('div', { class: 'toolbar' },
        h('button', { class: 'primary', disabled: !p.entries.length, onclick: () => player().playTracks(tracks(), 0) }, icon('play'), 'Play'),
        own ? h('label', { class: 'inline', for: 'pl-public' }, pub, 'Public') : null,
        own ? h('button', { class: 'danger', onclick: async () => {
          if (!confirm(`Delete "${p.name}"?`)) return;
          try { await api('/playlists/' + id, { method: 'DELETE', ifMatch: p._etag }); toast('Playlist deleted'); go('/playlists'); } catch (e) {
            if (e.status === 412) { toast('This playlist was changed somewhere else; look again before deleting it.', 'error'); await load(); } else toast(e.message, 'error');
          }
        } }, 'Delete') : null),
      own ? rename : null,
      p.entries.length ? h('ol', { class: 'entries', 'aria-label': 'Tracks' }, rows) : h('p', { class: 'muted' }, 'Empty. Add tracks from any track\'s ⋯ menu.'));
  };
  const focusEntry = (i) => setTimeout(() => box.querySelectorAll('.entries li')[i]?.focus(), 0);
  await load();
  return box;
}
