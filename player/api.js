// @ts-check
/**
 * The recording API as the player uses it: requests with the organization and (when there is one)
 * the API key, the JSON error envelope turned into words, the download's file name, and the
 * peaks of GET /api/calls/{call_sid}/recording/peaks turned into what wavesurfer.js draws.
 * Plain ES module, no build step: served as is under /player/ (src/routes/player.ts).
 */

/**
 * @typedef {{ base: string, org: string, key?: string | null }} ApiOptions
 * @typedef {{ call_sid: string, to: string, from: string | null, started_at: string | null,
 *   duration_ms: number | null, content_type: string, size_bytes: number }} Call
 * @typedef {{ url: string, expires_in: number, content_type: string, filename: string }} StreamUrl
 * @typedef {{ version: number, channels: number, sample_rate: number, samples_per_pixel: number,
 *   bits: number, length: number, duration: number, data: number[] }} Peaks
 */

/** An answer of the API that is not a success, or a request that never got one. */
export class ApiError extends Error {
  /**
   * @param {number} status the HTTP status (0: no answer: network, CORS)
   * @param {string} code the envelope's error code
   * @param {string} message the envelope's message
   * @param {number | null} [retryAfter] seconds, from Retry-After
   */
  constructor(status, code, message, retryAfter = null) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.code = code;
    this.retryAfter = retryAfter;
  }
}

/**
 * What an error means for the person at the player, in words, from the envelope's code.
 * @param {unknown} err
 * @param {{ org?: string }} [context]
 * @returns {string}
 */
export function describeError(err, context = {}) {
  if (!(err instanceof ApiError)) return `Something went wrong: ${err instanceof Error ? err.message : String(err)}`;
  const org = context.org ? ` ${context.org}` : '';
  switch (err.code) {
    case 'UNAUTHORIZED':
      return 'The API key was refused — sign in again.';
    case 'ORG_FORBIDDEN':
      return `Your credential does not give access to the organization${org} (403): check the organization, or sign in with a key that holds it.`;
    case 'INSUFFICIENT_SCOPE':
      return 'Your credential may not do this (403): it needs a wider scope.';
    case 'TOKEN_EXPIRED':
    case 'TOKEN_INVALID':
    case 'TOKEN_REVOKED':
      return 'The playback link was refused (403): it expired or its key was revoked. Sign in again.';
    case 'CALL_NOT_FOUND':
      return `There is no such call in the organization${org} (404).`;
    case 'RECORDING_NOT_FOUND':
      return 'The recording of this call is missing from storage (404): the call is listed, but its audio is gone.';
    case 'WAVEFORM_UNAVAILABLE':
      return 'No waveform for this format; the recording still plays.';
    case 'RATE_LIMITED':
      return `Too many requests: wait ${err.retryAfter ?? 'a few'} seconds and try again.`;
    case 'SERVER_BUSY':
      return 'The server is busy: try again in a few seconds.';
    case 'VALIDATION_ERROR':
      return `The request was refused: ${err.message}`;
    case 'NETWORK':
      return `The recording server could not be reached (${err.message}).`;
    default:
      return `The server answered ${err.status} ${err.code}: ${err.message}`;
  }
}

/**
 * The file name a Content-Disposition header gives (RFC 6266): `filename*` (RFC 5987,
 * `UTF-8''percent-encoded`) first, else `filename` (quoted or a token); null when neither.
 * @param {string | null} header
 * @returns {string | null}
 */
export function dispositionFilename(header) {
  if (!header) return null;
  const star = /(?:^|;)\s*filename\*\s*=\s*([^']*)'[^']*'([^;\s]+)/i.exec(header);
  if (star) {
    const charset = (star[1] ?? '').toLowerCase();
    try {
      if (charset === 'utf-8') return safeName(decodeURIComponent(star[2] ?? ''));
      if (charset === 'iso-8859-1') return safeName(unescape(star[2] ?? ''));
    } catch {
      // a malformed encoding: fall back to filename
    }
  }
  const quoted = /(?:^|;)\s*filename\s*=\s*"((?:[^"\\]|\\.)*)"/i.exec(header);
  if (quoted) return safeName((quoted[1] ?? '').replace(/\\(.)/g, '$1'));
  const token = /(?:^|;)\s*filename\s*=\s*([^;\s"]+)/i.exec(header);
  return token ? safeName(token[1] ?? '') : null;
}

/**
 * A name with no path in it (the browser strips paths too; this keeps the saved name honest).
 * @param {string} name
 */
function safeName(name) {
  const base = name.split(/[/\\]/).pop() ?? '';
  return base === '' ? null : base;
}

/**
 * audiowaveform's JSON (v2: min/max pairs of 16-bit values, channels merged into one) as
 * wavesurfer.js 7 takes pre-computed peaks: one channel of values in -1..1 (the min/max pairs
 * stay interleaved: wavesurfer draws each pixel from the highest and lowest value it covers) and
 * the duration in seconds.
 * @param {Peaks} json
 * @returns {{ peaks: Float32Array[], duration: number }}
 */
export function wavesurferPeaks(json) {
  const scale = json.bits === 8 ? 128 : 32768;
  const values = new Float32Array(json.data.length);
  for (let i = 0; i < json.data.length; i++) values[i] = Math.max(-1, Math.min(1, (json.data[i] ?? 0) / scale));
  return { peaks: [values], duration: json.duration };
}

/** The recording API of one daemon, for one organization, with one credential (or none). */
export class Api {
  /** @param {ApiOptions} options */
  constructor(options) {
    /** The daemon's base URL, ending in `/`. */
    this.base = options.base.endsWith('/') ? options.base : `${options.base}/`;
    this.org = options.org;
    this.key = options.key || null;
  }

  /**
   * The request headers: the organization, and the key when there is one (behind trusted-header
   * authentication there is none: the proxy in front says who the user is).
   * @returns {Record<string, string>}
   */
  headers() {
    /** @type {Record<string, string>} */
    const headers = { 'X-Organization-Id': this.org };
    if (this.key) headers.Authorization = `Bearer ${this.key}`;
    return headers;
  }

  /**
   * A request to the API; an answer other than 2xx throws an ApiError from its envelope.
   * @param {string} path relative to the base, such as `api/calls`
   * @param {Record<string, string | number | undefined>} [query]
   * @returns {Promise<Response>}
   */
  async request(path, query = {}) {
    const url = new URL(path, this.base);
    for (const [name, value] of Object.entries(query)) if (value !== undefined && value !== '') url.searchParams.set(name, String(value));
    let response;
    try {
      response = await fetch(url, { headers: this.headers(), credentials: 'same-origin' });
    } catch (err) {
      throw new ApiError(0, 'NETWORK', err instanceof Error ? err.message : String(err));
    }
    if (response.ok) return response;
    let code = `HTTP_${response.status}`;
    let message = response.statusText;
    try {
      const body = await response.json();
      if (body && body.error) ({ code, message } = body.error);
    } catch {
      // not the envelope: keep the status
    }
    const retry = Number(response.headers.get('Retry-After'));
    throw new ApiError(response.status, code, message, Number.isFinite(retry) && retry > 0 ? retry : null);
  }

  /**
   * One page of the organization's calls, newest first.
   * @param {{ to?: string, from?: string, since?: string, until?: string, limit?: number, cursor?: string }} filters
   * @returns {Promise<{ calls: Call[], next_cursor: string | null }>}
   */
  async listCalls(filters) {
    const body = await (await this.request('api/calls', filters)).json();
    return { calls: body.data, next_cursor: body.next_cursor };
  }

  /**
   * A fresh stream URL for the call.
   * @param {string} sid
   * @returns {Promise<StreamUrl>}
   */
  async streamUrl(sid) {
    return (await (await this.request(`api/calls/${encodeURIComponent(sid)}/recording/stream`)).json()).data;
  }

  /**
   * The call's waveform, at most `points` min/max pairs.
   * @param {string} sid
   * @param {number} points
   * @returns {Promise<Peaks>}
   */
  async peaks(sid, points) {
    return (await this.request(`api/calls/${encodeURIComponent(sid)}/recording/peaks`, { points })).json();
  }

  /**
   * The recording's bytes and the name the API gives them (Content-Disposition).
   * @param {string} sid
   * @returns {Promise<{ blob: Blob, filename: string | null }>}
   */
  async download(sid) {
    const response = await this.request(`api/calls/${encodeURIComponent(sid)}/recording/download`);
    const filename = dispositionFilename(response.headers.get('Content-Disposition'));
    return { blob: await response.blob(), filename };
  }
}
