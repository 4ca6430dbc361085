// @ts-check
/**
 * The player page (index.html): sign in (an API key in a password field, kept in sessionStorage,
 * never in a URL; or none behind a signing-in proxy), the organization's calls newest first with
 * search and cursor paging, and the <recproxy-player> of embed.js for the selected call.
 */
import { Api, describeError } from './api.js';
import { RecproxyPlayer, formatTime } from './embed.js';

/** Calls per page of the listing. */
const PAGE_SIZE = 50;
const KEY = 'recproxy.key';
const ORG = 'recproxy.org';
const SIGNED_IN = 'recproxy.signedIn';

/**
 * @template {Element} T
 * @param {string} selector
 * @returns {T}
 */
const $ = (selector) => /** @type {T} */ (document.querySelector(selector));

const signin = /** @type {HTMLFormElement} */ ($('#signin'));
const orgInput = /** @type {HTMLInputElement} */ ($('#org'));
const keyInput = /** @type {HTMLInputElement} */ ($('#key'));
const signout = /** @type {HTMLButtonElement} */ ($('#signout'));
const who = /** @type {HTMLElement} */ ($('#who'));
const search = /** @type {HTMLFormElement} */ ($('#search'));
const rows = /** @type {HTMLTableSectionElement} */ ($('#calls tbody'));
const more = /** @type {HTMLButtonElement} */ ($('#more'));
const count = /** @type {HTMLElement} */ ($('#count'));
const message = /** @type {HTMLElement} */ ($('#message'));
const callsSection = /** @type {HTMLElement} */ ($('#calls-section'));
const playerSection = /** @type {HTMLElement} */ ($('#player-section'));
const player = /** @type {RecproxyPlayer} */ ($('#player'));

/** The daemon this page came from: /player/ lives at its root. */
const base = new URL('..', location.href).href;

/** The listing's state: its filters and where the next page starts. */
let listing = { filters: /** @type {Record<string, string>} */ ({}), cursor: /** @type {string | null} */ (null), shown: 0, generation: 0 };

function api() {
  return new Api({ base, org: sessionStorage.getItem(ORG) ?? '', key: sessionStorage.getItem(KEY) });
}

/** @param {string} text */
function show(text) {
  message.textContent = text;
}

/** @param {boolean} signedIn */
function render(signedIn) {
  callsSection.hidden = !signedIn;
  playerSection.hidden = !signedIn;
  signout.hidden = !signedIn;
  keyInput.value = '';
  const key = sessionStorage.getItem(KEY);
  who.textContent = signedIn ? `${sessionStorage.getItem(ORG)}, ${key ? 'API key' : 'signed in by the proxy'}` : '';
}

signin.addEventListener('submit', (event) => {
  event.preventDefault();
  sessionStorage.setItem(ORG, orgInput.value.trim());
  // An empty key field keeps the key already signed in with (changing the organization only);
  // signing in afresh with it empty is signing in with no key (a signing-in proxy in front).
  if (keyInput.value) sessionStorage.setItem(KEY, keyInput.value.trim());
  else if (!sessionStorage.getItem(SIGNED_IN)) sessionStorage.removeItem(KEY);
  sessionStorage.setItem(SIGNED_IN, '1');
  render(true);
  void list({});
});

signout.addEventListener('click', () => {
  sessionStorage.removeItem(KEY);
  sessionStorage.removeItem(SIGNED_IN);
  player.clear();
  rows.replaceChildren();
  show('');
  render(false);
});

/**
 * The search form's filters in the API's terms: a date range in the browser's time zone, `until`
 * the end of its day.
 */
function filters() {
  const form = new FormData(search);
  /** @type {Record<string, string>} */
  const out = {};
  const text = (/** @type {string} */ name) => String(form.get(name) ?? '').trim();
  if (text('to')) out.to = text('to');
  if (text('from')) out.from = text('from');
  if (text('since')) out.since = new Date(`${text('since')}T00:00`).toISOString();
  if (text('until')) {
    const end = new Date(`${text('until')}T00:00`);
    end.setDate(end.getDate() + 1);
    out.until = end.toISOString();
  }
  return out;
}

search.addEventListener('submit', (event) => {
  event.preventDefault();
  void list(filters());
});
search.addEventListener('reset', () => setTimeout(() => void list({})));
more.addEventListener('click', () => void page());

/**
 * A new listing: the first page for these filters.
 * @param {Record<string, string>} filters
 */
async function list(filters) {
  listing = { filters, cursor: null, shown: 0, generation: listing.generation + 1 };
  rows.replaceChildren();
  await page();
}

/** The next page of the listing, appended. */
async function page() {
  const { generation } = listing;
  const client = api();
  more.disabled = true;
  try {
    const { calls, next_cursor } = await client.listCalls({ ...listing.filters, limit: PAGE_SIZE, ...(listing.cursor ? { cursor: listing.cursor } : {}) });
    if (generation !== listing.generation) return;
    for (const call of calls) rows.append(row(call));
    listing.cursor = next_cursor;
    listing.shown += calls.length;
    count.textContent = listing.shown === 0 ? 'No calls.' : `${listing.shown} call${listing.shown === 1 ? '' : 's'}${next_cursor ? ', more older ones' : ''}.`;
    more.hidden = !next_cursor;
    show('');
  } catch (err) {
    if (generation === listing.generation) show(describeError(err, { org: client.org }));
  } finally {
    more.disabled = false;
  }
}

/** @param {import('./api.js').Call} call */
function row(call) {
  const tr = document.createElement('tr');
  tr.dataset.sid = call.call_sid;
  const cells = [
    call.started_at ? new Date(call.started_at).toLocaleString() : '—',
    call.from ?? '—',
    call.to,
    call.duration_ms === null ? '—' : formatTime(call.duration_ms / 1000),
  ];
  for (const text of cells) {
    const td = document.createElement('td');
    td.textContent = text;
    tr.append(td);
  }
  const td = document.createElement('td');
  const button = document.createElement('button');
  button.type = 'button';
  button.className = 'play';
  button.textContent = `▶ ${call.call_sid}`;
  td.append(button);
  tr.append(td);
  tr.addEventListener('click', () => {
    for (const other of rows.querySelectorAll('tr.selected')) other.classList.remove('selected');
    tr.classList.add('selected');
    player.apiKey = sessionStorage.getItem(KEY);
    player.setAttribute('base', base);
    player.setAttribute('org', sessionStorage.getItem(ORG) ?? '');
    void player.load(call.call_sid, { play: true, title: `${call.from ?? 'unknown'} → ${call.to}${call.started_at ? `, ${new Date(call.started_at).toLocaleString()}` : ''}` });
  });
  return tr;
}

// The player's keys work anywhere on the page, except while typing in a field.
document.addEventListener('keydown', (event) => {
  if (event.defaultPrevented || event.composedPath().includes(player)) return;
  if (player.handleKey(event)) event.preventDefault();
});

// An error the player meets with the credential (a refused key) is the page's business too.
player.addEventListener('recproxy-status', (event) => {
  const { text, error } = /** @type {CustomEvent<{ text: string, error: boolean }>} */ (event).detail;
  if (error && /sign in again/.test(text)) show(text);
});

orgInput.value = sessionStorage.getItem(ORG) ?? '';
if (sessionStorage.getItem(SIGNED_IN)) {
  render(true);
  void list({});
} else render(false);
