// The listener's own pages: profile and preferences, payment methods, plans
// and checkout (the saga's steps shown as they happen), family invitations,
// and the full list of notifications.

import { api, session } from './api.js';
import { h, replace, field, showErrors, clearErrors, toast, fmtMoney, fmtDate } from './ui.js';
import { noteRow } from './bell.js';

const GENRES = ['ambient', 'blues', 'classical', 'country', 'electronic', 'folk', 'hip-hop', 'jazz', 'pop', 'rock', 'soul', 'world'];

export async function me() {
  const [p, prefs, cards, sub, invites] = await Promise.all([api('/me'), api('/me/preferences'), api('/me/payment-methods'),
    api('/me/subscription').catch(() => null), api('/me/invitations').catch(() => ({ items: [] }))]);
  const profile = h('form', { class: 'narrow', novalidate: true, 'aria-labelledby': 'profile-h' },
    h('h2', { id: 'profile-h' }, 'Profile'),
    h('p', { class: 'muted' }, p.email),
    field('Name', 'displayName', { value: p.displayName, required: true, autocomplete: 'name' }),
    field('Country (two letters)', 'country', { value: p.country || '', maxlength: '2', autocomplete: 'country' }),
    field('Year of birth', 'birthYear', { type: 'number', value: p.birthYear || '' }),
    field('Phone (for text messages)', 'phone', { type: 'tel', value: p.phone || '', autocomplete: 'tel', placeholder: '+447700900123' }),
    h('div', { class: 'alert error', role: 'alert', hidden: true }),
    h('button', { class: 'primary', type: 'submit' }, 'Save profile'));
  profile.addEventListener('submit', async (e) => {
    e.preventDefault();
    clearErrors(profile);
    const d = new FormData(profile);
    const patch = { displayName: String(d.get('displayName')).trim() };
    for (const k of ['country', 'phone']) { const v = String(d.get(k) || '').trim(); patch[k] = v ? (k === 'country' ? v.toUpperCase() : v) : null; }
    const y = String(d.get('birthYear') || '').trim();
    patch.birthYear = y ? Number(y) : null;
    try { await api('/me', { method: 'PATCH', body: patch }); toast('Profile saved'); } catch (err) { showErrors(profile, err); }
  });

  const prefsForm = h('form', { class: 'narrow', novalidate: true, 'aria-labelledby': 'prefs-h' },
    h('h2', { id: 'prefs-h' }, 'Preferences'),
    h('fieldset', { 'data-field': 'favouriteGenres' }, h('legend', {}, 'Favourite genres'),
      h('div', { class: 'row' }, GENRES.map((g) => h('label', { class: 'inline' },
        h('input', { type: 'checkbox', name: 'genre', value: g, checked: prefs.favouriteGenres.includes(g) }), g))),
      h('p', { class: 'err', hidden: true, id: 'genres-err' })),
    h('fieldset', {}, h('legend', {}, 'Tell me by'),
      ['email', 'sms', 'inApp'].map((k) => h('label', { class: 'inline' },
        h('input', { type: 'checkbox', name: 'ch-' + k, checked: prefs.notifications[k] }), { email: 'Email', sms: 'Text message', inApp: 'In the app' }[k]))),
    h('label', { class: 'inline' }, h('input', { type: 'checkbox', name: 'marketing', checked: prefs.marketingOptIn }), 'Send me offers'),
    h('div', { class: 'alert error', role: 'alert', hidden: true }),
    h('p', {}, h('button', { class: 'primary', type: 'submit' }, 'Save preferences')));
  prefsForm.addEventListener('submit', async (e) => {
    e.preventDefault();
    clearErrors(prefsForm);
    const d = new FormData(prefsForm);
    const body = { favouriteGenres: d.getAll('genre').map(String),
      notifications: { email: d.get('ch-email') === 'on', sms: d.get('ch-sms') === 'on', inApp: d.get('ch-inApp') === 'on' },
      marketingOptIn: d.get('marketing') === 'on' };
    try { await api('/me/preferences', { method: 'PUT', body }); toast('Preferences saved'); } catch (err) { showErrors(prefsForm, err); }
  });

  const cardsBox = h('section', { 'aria-labelledby': 'cards-h' });
  const drawCards = (list) => replace(cardsBox, h('h2', { id: 'cards-h' }, 'Payment methods'),
    list.length ? h('ul', { class: 'entries' }, list.map((c) => h('li', {},
      h('span', { class: 'name' }, `${c.brand} ending ${c.last4}, ${String(c.expMonth).padStart(2, '0')}/${c.expYear}`),
      h('button', { class: 'danger', onclick: async () => {
        try { await api('/me/payment-methods/' + c.id, { method: 'DELETE' }); drawCards((await api('/me/payment-methods')).items); toast('Card removed'); } catch (err) { toast(err.message, 'error'); }
      } }, 'Remove'))))
      : h('p', { class: 'muted' }, 'No card yet.'),
    cardForm(async () => drawCards((await api('/me/payment-methods')).items)));
  drawCards(cards.items);

  return [h('h1', {}, p.displayName), h('p', {}, subscriptionLine(sub), ' ', h('a', { href: '/plans' }, sub && sub.status === 'active' ? 'Your plan' : 'See plans')),
    invitationsBox(invites.items), profile, prefsForm, cardsBox, deleteBox()];
}

function subscriptionLine(sub) {
  if (!sub) return 'No plan: you hear 30-second previews.';
  if (sub.status === 'active') return `Plan: ${sub.planId}, active until ${fmtDate(sub.periodEnd)}${sub.cancelAtPeriodEnd ? ' (cancelled, ends then)' : ''}.`;
  return `Your last checkout ended ${sub.status.replace('_', ' ')}.`;
}

function deleteBox() {
  const btn = h('button', { class: 'danger', onclick: async () => {
    if (!confirm('Delete your account? Your profile, playlists and payment methods are erased.')) return;
    try { await api('/me', { method: 'DELETE' }); toast('Your account is being deleted'); location.assign('/signin'); } catch (e) { toast(e.message, 'error'); }
  } }, 'Delete my account');
  return h('section', { 'aria-labelledby': 'del-h' }, h('h2', { id: 'del-h' }, 'Delete your account'), h('p', { class: 'muted' }, 'This cannot be undone.'), btn);
}

// cardForm adds a card (the simulated processor's test cards work).
export function cardForm(done) {
  const form = h('form', { class: 'narrow', novalidate: true, 'aria-label': 'Add a card' },
    h('h3', {}, 'Add a card'),
    field('Card number', 'cardNumber', { inputmode: 'numeric', autocomplete: 'cc-number', placeholder: '4242 4242 4242 4242' }),
    h('div', { class: 'row' },
      field('Month', 'expMonth', { type: 'number', min: '1', max: '12', autocomplete: 'cc-exp-month', value: '12' }),
      field('Year', 'expYear', { type: 'number', autocomplete: 'cc-exp-year', value: String(new Date().getFullYear() + 3) }),
      field('CVC', 'cvc', { inputmode: 'numeric', autocomplete: 'cc-csc', maxlength: '4', value: '123' })),
    field('Name on the card', 'holderName', { autocomplete: 'cc-name' }),
    h('div', { class: 'alert error', role: 'alert', hidden: true }),
    h('button', { type: 'submit' }, 'Add card'));
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    clearErrors(form);
    const d = new FormData(form);
    const body = { cardNumber: String(d.get('cardNumber')).replace(/[\s-]/g, ''), expMonth: Number(d.get('expMonth')), expYear: Number(d.get('expYear')),
      cvc: String(d.get('cvc')).trim(), holderName: String(d.get('holderName')).trim() };
    try {
      const c = await api('/me/payment-methods', { method: 'POST', body });
      toast(`${c.brand} ending ${c.last4} added`);
      form.reset();
      await done(c);
    } catch (err) { showErrors(form, err); }
  });
  return form;
}

const TEST_CARDS = [
  ['4242424242424242', 'approved: the plan starts at once'],
  ['4000000000000002', 'declined: the checkout ends "payment failed", nothing is charged'],
  ['4000000000009995', 'insufficient funds: "payment failed", nothing is charged'],
  ['4000000000000119', 'the processor fails twice, then approves: the saga retries and the plan starts'],
  ['4000000000000259', 'the processor answers too late: the saga gives the money back and ends "failed"'],
];

// what each end of a checkout means, in plain words
const OUTCOMES = {
  active: 'You are subscribed. Whole tracks, no previews.',
  payment_failed: 'The card was refused, so nothing was charged. Try another card.',
  failed: 'Something failed after the payment, so the money was given back and the plan did not start. Try again in a moment.',
};

export async function plans() {
  const signedIn = !!session();
  const [list, sub, cards] = await Promise.all([api('/plans'), signedIn ? api('/me/subscription').catch(() => null) : null,
    signedIn ? api('/me/payment-methods').catch(() => ({ items: [] })) : { items: [] }]);
  const status = h('div', { 'aria-live': 'polite' });
  const out = [h('h1', {}, 'Plans'),
    h('ul', { class: 'plans' }, list.items.map((pl) => h('li', { class: 'card' },
      h('h2', {}, pl.name), h('p', { class: 'price' }, fmtMoney(pl.price, pl.currency), h('span', { class: 'muted' }, ` a ${pl.period || 'month'}`)),
      h('p', { class: 'muted' }, pl.maxMembers > 1 ? `Up to ${pl.maxMembers} people` : 'One listener', pl.highQuality ? ', high quality' : ''),
      signedIn && pl.price > 0 ? h('button', { class: 'primary', 'data-plan': pl.id, onclick: () => checkout(pl, status) }, `Choose ${pl.name}`) : null,
      pl.price === 0 ? h('p', { class: 'muted' }, '30-second previews, no card needed.') : null))), status];
  if (!signedIn) return [...out, h('p', {}, h('a', { href: '/signin?next=/plans' }, 'Sign in'), ' to subscribe.')];
  const cardSel = h('select', { id: 'pm', name: 'paymentMethodId' }, cards.items.map((c) => h('option', { value: c.id }, `${c.brand} ending ${c.last4}`)));
  const cardBox = h('div', { class: 'field', 'data-field': 'paymentMethodId' }, h('label', { for: 'pm' }, 'Pay with'), cardSel, h('p', { class: 'err', hidden: true }));
  const refreshCards = async (added) => {
    const l = (await api('/me/payment-methods')).items;
    cardSel.replaceChildren(...l.map((c) => h('option', { value: c.id }, `${c.brand} ending ${c.last4}`)));
    if (added) cardSel.value = added.id;
  };
  out.push(
    sub ? h('div', { class: 'alert' }, subscriptionLine(sub), sub.status === 'active' ? cancelButton(sub) : null) : null,
    cardBox, cardForm(refreshCards),
    h('details', {}, h('summary', {}, 'Test cards (any future date, any CVC)'),
      h('ul', {}, TEST_CARDS.map(([n, what]) => h('li', {}, h('code', {}, n), ': ', what)))),
    sub && sub.status === 'active' && sub.planId === 'family' ? familyBox(sub) : null);
  return out;
}

function cancelButton(sub) {
  if (sub.cancelAtPeriodEnd) return null;
  return h('button', { onclick: async () => {
    if (!confirm('Cancel? You keep the plan until the end of the period you paid for.')) return;
    try { await api(`/subscriptions/${sub.id}/cancel`, { method: 'POST' }); toast('Cancelled: it ends at the end of the period'); } catch (e) { toast(e.message, 'error'); }
  } }, 'Cancel the plan');
}

// checkout starts the saga and shows each step as the subscription moves.
async function checkout(plan, status) {
  const pm = document.getElementById('pm');
  if (!pm || !pm.value) { toast('Add a card first', 'error'); return; }
  const steps = [['starting', 'Checkout started'], ['charging', 'Charging your card'], ['active', 'Plan active']];
  const list = h('ol', { class: 'steps', 'aria-label': 'Checkout steps' }, steps.map(([k, t]) => h('li', { 'data-step': k }, t)));
  const line = h('p', { class: 'outcome', role: 'status' }, 'Starting…');
  replace(status, h('h2', {}, `Subscribing to ${plan.name}`), list, line);
  const mark = (s) => {
    let cls;
    if (s.status === 'active') cls = ['done', 'done', 'done'];
    else if (s.status === 'pending') cls = s.step === 'charging' ? ['done', 'now', ''] : s.step === 'compensating' ? ['done', 'failed', ''] : ['now', '', ''];
    else cls = ['done', 'failed', ''];
    [...list.children].forEach((li, i) => { li.className = cls[i]; });
    if (s.status === 'pending') line.textContent = s.step === 'compensating' ? 'A later step failed: giving the money back…' : `Working: ${s.step || 'starting'}…`;
    else line.textContent = OUTCOMES[s.status] || `Ended: ${s.status.replace('_', ' ')}.`;
    line.dataset.status = s.status;
  };
  try {
    const key = 'web-' + crypto.randomUUID();
    const s = await api('/subscriptions', { method: 'POST', body: { planId: plan.id, paymentMethodId: pm.value }, idempotencyKey: key });
    mark(s);
    for (let i = 0; i < 240; i++) { // up to two minutes
      await new Promise((r) => setTimeout(r, 500));
      const cur = await api('/subscriptions/' + s.id);
      mark(cur);
      if (cur.status !== 'pending') {
        if (cur.status === 'active') toast('Subscribed: whole tracks from now on');
        return;
      }
    }
    line.textContent = 'Still working; this page updates when it ends. You can leave it.';
  } catch (e) {
    line.textContent = e.message;
    line.dataset.status = 'error';
  }
}

function familyBox(sub) {
  const form = h('form', { class: 'narrow', novalidate: true },
    h('h2', {}, 'Family members'),
    h('p', { class: 'muted' }, 'Invite someone by their email; they accept from their profile.'),
    field('Email', 'email', { type: 'email' }),
    h('div', { class: 'alert error', role: 'alert', hidden: true }),
    h('button', { type: 'submit' }, 'Invite'));
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    clearErrors(form);
    try {
      await api(`/subscriptions/${sub.id}/members`, { method: 'POST', body: { email: String(new FormData(form).get('email')).trim() } });
      toast('Invitation sent');
      form.reset();
    } catch (err) { showErrors(form, err); }
  });
  return form;
}

function invitationsBox(items) {
  const pending = items.filter((i) => i.status === 'pending');
  if (!pending.length) return null;
  return h('section', { class: 'alert', 'aria-labelledby': 'inv-h' }, h('h2', { id: 'inv-h' }, 'Invitations'),
    h('ul', {}, pending.map((i) => h('li', {}, 'A family plan invited you. ',
      h('button', { class: 'primary', onclick: async (e) => {
        try { await api(`/me/invitations/${i.id}/accept`, { method: 'POST' }); e.target.closest('li').textContent = 'Accepted: you are in the family plan.'; } catch (err) { toast(err.message, 'error'); }
      } }, 'Accept')))));
}

export async function notifications() {
  const box = h('div');
  const load = async (cursor) => {
    const page = await api('/me/notifications?limit=20' + (cursor ? '&cursor=' + encodeURIComponent(cursor) : ''));
    const list = h('ul', { class: 'notes' }, page.items.map((n) => noteRow(n, async () => {
      await api(`/me/notifications/${n.id}/read`, { method: 'POST' });
      n.readAt = new Date().toISOString();
      load(cursor);
    })));
    replace(box, h('p', {}, `${page.unread} unread. `, h('button', { onclick: async () => { await api('/me/notifications/read-all', { method: 'POST' }); load(); } }, 'Mark all read')),
      page.items.length ? list : h('p', { class: 'muted' }, 'Nothing yet.'),
      page.nextCursor ? h('button', { onclick: () => load(page.nextCursor) }, 'Older') : null);
  };
  await load();
  return [h('h1', {}, 'Notifications'), box];
}
