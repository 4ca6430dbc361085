// @ts-check
/**
 * <recproxy-player>: plays one call's recording through the public API, with its waveform, a
 * download button, keyboard keys, and its errors in words. The player page (index.html) uses it,
 * and so can any other site's page, as a module script loaded from the daemon (README.md,
 * "Player", has the snippet).
 *
 * Attributes: `base` (the daemon's URL; default: where this module came from), `org`,
 * `call-sid`, `api-key` (or set the `apiKey` property; none behind trusted-header auth),
 * `autoplay`. The daemon must list the site in RECPROXY_CORS_ORIGINS.
 */
import { Api, ApiError, describeError, wavesurferPeaks } from './api.js';
import WaveSurfer from './vendor/wavesurfer.esm.js';

/** Seconds an arrow key seeks. */
export const SEEK_STEP = 5;
/** How many min/max pairs the waveform asks for at most (the API's limit is 10000). */
const MAX_POINTS = 4000;

const STYLE = `
:host { display: block; font: 14px/1.4 system-ui, sans-serif; color: #1d2433; }
.box { border: 1px solid #d5dae3; border-radius: 8px; padding: 12px; background: #fff; }
.title { font-weight: 600; margin-bottom: 6px; min-height: 1.4em; }
.wave { min-height: 64px; background: #f5f7fb; border-radius: 4px; margin: 8px 0; cursor: pointer; }
.wave-note { color: #5b6474; font-size: 12px; padding: 22px 8px; }
audio { width: 100%; }
.row { display: flex; gap: 8px; align-items: center; margin-top: 6px; }
button { font: inherit; padding: 4px 10px; border: 1px solid #9aa4b5; border-radius: 4px; background: #f0f3f8; cursor: pointer; }
button:disabled { opacity: .5; cursor: default; }
.status { color: #5b6474; font-size: 13px; }
.status.error { color: #a3160b; font-weight: 600; }
`;

/** The player element: one call at a time. */
export class RecproxyPlayer extends HTMLElement {
  static observedAttributes = ['base', 'org', 'call-sid', 'api-key'];

  constructor() {
    super();
    const root = this.attachShadow({ mode: 'open' });
    root.innerHTML = `<style>${STYLE}</style>
      <div class="box" part="box">
        <div class="title" part="title"></div>
        <div class="wave" part="waveform"></div>
        <audio controls preload="metadata" part="audio"></audio>
        <div class="row">
          <button type="button" class="download" part="download" disabled>Download</button>
          <span class="status" role="status" aria-live="polite"></span>
        </div>
      </div>`;
    /** @type {HTMLAudioElement} */
    this.audio = /** @type {HTMLAudioElement} */ (root.querySelector('audio'));
    /** @type {HTMLElement} */
    this.wave = /** @type {HTMLElement} */ (root.querySelector('.wave'));
    /** @type {HTMLElement} */
    this.statusLine = /** @type {HTMLElement} */ (root.querySelector('.status'));
    /** @type {HTMLElement} */
    this.titleLine = /** @type {HTMLElement} */ (root.querySelector('.title'));
    /** @type {HTMLButtonElement} */
    this.downloadButton = /** @type {HTMLButtonElement} */ (root.querySelector('.download'));
    /** @type {string | null} the API key (kept out of attributes when set as a property) */
    this._apiKey = null;
    /** @type {string | null} the call whose recording is loaded */
    this.sid = null;
    /** @type {import('./api.js').StreamUrl | null} */
    this.stream = null;
    /** @type {WaveSurfer | null} */
    this.waveSurfer = null;
    /** Whether the listener means it to play (not the element's state, which an error pauses). */
    this.wantsPlay = false;
    /** Refreshes of the stream URL since playback last made progress (a bound on retries). */
    this.refreshes = 0;
    /** Incremented per load: answers for an earlier call are dropped. */
    this.generation = 0;

    this.downloadButton.addEventListener('click', () => void this.download());
    this.audio.addEventListener('play', () => (this.wantsPlay = true));
    this.audio.addEventListener('pause', () => {
      // A pause the element makes itself on an error is not the listener's.
      if (!this.audio.error) this.wantsPlay = false;
    });
    this.audio.addEventListener('timeupdate', () => {
      if (this.audio.currentTime > 0 && !this.audio.paused) this.refreshes = 0;
    });
    this.audio.addEventListener('error', () => void this.mediaFailed());
    this.addEventListener('keydown', (event) => {
      if (this.handleKey(event)) event.preventDefault();
    });
    if (!this.hasAttribute('tabindex')) this.tabIndex = 0;
    // A key set on the element before this module defined it is an own property shadowing the
    // accessor: take it over.
    if (Object.prototype.hasOwnProperty.call(this, 'apiKey')) {
      const key = /** @type {{ apiKey?: string | null }} */ (this).apiKey ?? null;
      delete (/** @type {{ apiKey?: string | null }} */ (this).apiKey);
      this.apiKey = key;
    }
  }

  connectedCallback() {
    if (this.getAttribute('call-sid') && this.sid === null) void this.load(this.getAttribute('call-sid') ?? '', { play: this.hasAttribute('autoplay') });
  }

  /**
   * @param {string} name
   * @param {string | null} before
   * @param {string | null} after
   */
  attributeChangedCallback(name, before, after) {
    if (name === 'call-sid' && after && after !== before && this.isConnected) void this.load(after, { play: this.hasAttribute('autoplay') });
  }

  /** The API key: the `apiKey` property, else the `api-key` attribute, else none. */
  get apiKey() {
    return this._apiKey ?? this.getAttribute('api-key');
  }
  set apiKey(key) {
    const before = this.apiKey;
    this._apiKey = key || null;
    // A key given after the call started loading: load it again with the key.
    if (this.sid && this.isConnected && this.apiKey !== before) void this.load(this.sid, { play: this.wantsPlay });
  }

  /** The API client for the element's daemon, organization and key. */
  api() {
    const base = this.getAttribute('base') || new URL('..', import.meta.url).href;
    return new Api({ base, org: this.getAttribute('org') ?? '', key: this.apiKey });
  }

  /**
   * Shows a line of status; `error` marks it as a failure.
   * @param {string} text
   * @param {boolean} [error]
   */
  say(text, error = false) {
    this.statusLine.textContent = text;
    this.statusLine.classList.toggle('error', error);
    this.dispatchEvent(new CustomEvent('recproxy-status', { detail: { text, error }, bubbles: true, composed: true }));
  }

  /** Unloads the call: no audio, no waveform, nothing said. */
  clear() {
    this.generation++;
    this.sid = null;
    this.stream = null;
    this.wantsPlay = false;
    this.waveSurfer?.destroy();
    this.waveSurfer = null;
    this.wave.replaceChildren();
    this.audio.removeAttribute('src');
    this.audio.load();
    this.downloadButton.disabled = true;
    this.titleLine.textContent = '';
    this.say('');
  }

  /**
   * Loads a call: a stream URL for the audio element, then its waveform; plays when asked.
   * @param {string} sid
   * @param {{ play?: boolean, title?: string }} [options]
   */
  async load(sid, options = {}) {
    this.clear();
    const generation = this.generation;
    this.sid = sid;
    this.refreshes = 0;
    this.wantsPlay = Boolean(options.play);
    this.titleLine.textContent = options.title ?? sid;
    this.say('Loading…');
    const api = this.api();
    try {
      this.stream = await api.streamUrl(sid);
    } catch (err) {
      if (generation === this.generation) this.say(describeError(err, { org: api.org }), true);
      return;
    }
    if (generation !== this.generation) return;
    this.audio.src = this.stream.url;
    this.downloadButton.disabled = false;
    this.say(`Ready: ${this.stream.filename}`);
    if (this.wantsPlay) this.play();
    await this.drawWaveform(api, sid, generation);
  }

  /** Plays; a refusal by the browser (autoplay policy) is said, not thrown. */
  play() {
    this.wantsPlay = true;
    this.audio.play().catch((err) => {
      if (err instanceof Error && err.name === 'NotAllowedError') this.say('Press play to listen.');
    });
  }

  /**
   * The waveform from the peaks endpoint, drawn by wavesurfer.js over the same audio element
   * (clicking it seeks); for a format the daemon cannot decode, a note instead.
   * @param {Api} api
   * @param {string} sid
   * @param {number} generation
   */
  async drawWaveform(api, sid, generation) {
    const width = this.wave.clientWidth || 600;
    const points = Math.max(1, Math.min(MAX_POINTS, Math.round(width * (globalThis.devicePixelRatio || 1))));
    let peaks;
    try {
      peaks = wavesurferPeaks(await api.peaks(sid, points));
    } catch (err) {
      if (generation !== this.generation) return;
      const note = document.createElement('div');
      note.className = 'wave-note';
      note.textContent = err instanceof ApiError && err.code === 'WAVEFORM_UNAVAILABLE' ? 'No waveform for this format; it still plays.' : `No waveform: ${describeError(err, { org: api.org })}`;
      this.wave.replaceChildren(note);
      return;
    }
    if (generation !== this.generation) return;
    this.waveSurfer = WaveSurfer.create({
      container: this.wave,
      media: this.audio,
      peaks: peaks.peaks,
      duration: peaks.duration,
      height: 64,
      waveColor: '#8aa4d6',
      progressColor: '#2f5bb7',
      cursorColor: '#a3160b',
      normalize: true,
      interact: true,
    });
    this.waveSurfer.on('redraw', () => this.dispatchEvent(new CustomEvent('recproxy-waveform', { bubbles: true, composed: true })));
  }

  /**
   * The audio element failed. A stream URL that expired (or any media error while a call is
   * loaded) gets a new URL from the stream endpoint, and playback resumes where it was; twice
   * without progress in between, and the failure is shown instead.
   */
  async mediaFailed() {
    const error = this.audio.error;
    if (!this.sid || !this.stream || !error || !this.audio.getAttribute('src')) return;
    const generation = this.generation;
    const position = this.audio.currentTime;
    const resume = this.wantsPlay;
    if (this.refreshes >= 2) {
      this.say(
        error.code === error.MEDIA_ERR_SRC_NOT_SUPPORTED
          ? `This browser cannot play the recording (${this.stream.content_type}); download it instead.`
          : 'The recording stopped loading and a fresh link did not help; try again later.',
        true,
      );
      return;
    }
    this.refreshes++;
    this.say('The playback link expired; getting a new one…');
    const api = this.api();
    let stream;
    try {
      stream = await api.streamUrl(this.sid);
    } catch (err) {
      if (generation === this.generation) this.say(describeError(err, { org: api.org }), true);
      return;
    }
    if (generation !== this.generation) return;
    this.stream = stream;
    this.audio.addEventListener(
      'loadedmetadata',
      () => {
        if (generation !== this.generation) return;
        if (position > 0) this.audio.currentTime = position;
        if (resume) this.play();
        this.say(`Resumed at ${formatTime(position)} with a new link.`);
      },
      { once: true },
    );
    this.audio.src = stream.url;
    this.dispatchEvent(new CustomEvent('recproxy-refreshed', { detail: { position }, bubbles: true, composed: true }));
  }

  /** Saves the recording under the API's file name (fetched with the credential, kept out of URLs). */
  async download() {
    if (!this.sid) return;
    const api = this.api();
    this.say('Downloading…');
    try {
      const { blob, filename } = await api.download(this.sid);
      const url = URL.createObjectURL(blob);
      const a = document.createElement('a');
      a.href = url;
      a.download = filename ?? this.stream?.filename ?? `${this.sid}`;
      a.rel = 'noopener';
      this.shadowRoot?.append(a);
      a.click();
      a.remove();
      setTimeout(() => URL.revokeObjectURL(url), 60_000);
      this.say(`Saved ${a.download}`);
    } catch (err) {
      this.say(describeError(err, { org: api.org }), true);
    }
  }

  /**
   * Space plays or pauses, ArrowLeft/ArrowRight seek 5 s; never while typing in a field.
   * @param {KeyboardEvent} event
   * @returns {boolean} whether the key was the player's
   */
  handleKey(event) {
    if (!this.audio.getAttribute('src') || event.altKey || event.ctrlKey || event.metaKey) return false;
    const target = /** @type {Element | null} */ (event.composedPath()[0] ?? event.target);
    // Fields take their keys, and the audio element's own controls answer them themselves.
    if (target instanceof HTMLElement && (target.isContentEditable || /^(INPUT|TEXTAREA|SELECT|AUDIO)$/.test(target.tagName))) return false;
    if (event.key === ' ' || event.code === 'Space') {
      if (this.audio.paused) this.play();
      else this.audio.pause();
      return true;
    }
    if (event.key === 'ArrowLeft' || event.key === 'ArrowRight') {
      const end = Number.isFinite(this.audio.duration) ? this.audio.duration : Infinity;
      const to = this.audio.currentTime + (event.key === 'ArrowRight' ? SEEK_STEP : -SEEK_STEP);
      this.audio.currentTime = Math.max(0, Math.min(end, to));
      return true;
    }
    return false;
  }
}

/**
 * `m:ss`
 * @param {number} seconds
 */
export function formatTime(seconds) {
  const s = Math.max(0, Math.floor(seconds));
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, '0')}`;
}

if (!customElements.get('recproxy-player')) customElements.define('recproxy-player', RecproxyPlayer);
