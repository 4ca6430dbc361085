/**
 * The daemon's own URLs for recordings: `{publicUrl}/media/{token}`, where the token (src/token.ts)
 * names the storage key, its expiry and headers. What a stream URL is for local storage, and for
 * S3/MinIO in `proxy` mode.
 *
 * The base URL is RECPROXY_PUBLIC_URL when set, else `http://{HOST}:{PORT}`. With `PORT=0` the
 * port is only known once the server listens, after everything else is built (the routes need
 * the URL maker before the server can listen). Rather than a context field rewritten later, the
 * one part that can wait is explicit: a PublicOrigin that `serve` binds to its listening port
 * once (`listening`), and that refuses to be read before then. Nothing makes a media URL before
 * the daemon listens, so nothing can see an unbound origin in practice.
 */
import type { SignOptions, SignedUrl } from '../core/storage.js';
import type { TokenSigner } from '../token.js';

/** What a media token carries for the access audit. */
export interface MediaAudit {
  org: string;
  sid: string;
  principal: string;
}

/** `http://{host}:{port}`, with a wildcard listen address replaced by its loopback. */
export function defaultPublicUrl(host: string, port: number): string {
  const reachable = host === '0.0.0.0' ? '127.0.0.1' : host === '::' ? '::1' : host;
  return `http://${reachable.includes(':') ? `[${reachable}]` : reachable}:${port}`;
}

/** The base URL browsers use to reach this daemon. */
export class PublicOrigin {
  #url: string | undefined;

  /**
   * @param configured RECPROXY_PUBLIC_URL, if set: the base URL, whatever the daemon listens on
   * @param host, port where the daemon listens; port 0 leaves the origin unbound until `listening`
   */
  constructor(
    configured: string | undefined,
    readonly host: string,
    port: number,
  ) {
    if (configured) this.#url = configured;
    else if (port !== 0) this.#url = defaultPublicUrl(host, port);
  }

  /**
   * The server listens on `port`: without a configured URL, the origin is `http://{host}:{port}`.
   * Called once, by whoever starts the server; a configured or already-known origin stays as it is.
   */
  listening(port: number): void {
    this.#url ??= defaultPublicUrl(this.host, port);
  }

  /** @throws Error while the port is still unknown (PORT=0 and not yet listening): a bug */
  get url(): string {
    if (this.#url === undefined) throw new Error('the public URL is not known before the server listens (PORT=0)');
    return this.#url;
  }
}

/** Makes `{publicUrl}/media/{token}` URLs. */
export class MediaUrls {
  constructor(
    readonly signer: TokenSigner,
    readonly origin: PublicOrigin,
  ) {}

  /**
   * A media URL for `key`, valid `options.expiresIn` seconds (whole seconds from now), or until
   * `exp` (whole seconds since the epoch) when given: the same arguments and `exp` make the same
   * URL, byte for byte (what src/calls/stream-url.ts relies on to make a URL again).
   */
  url(key: string, options: SignOptions, audit?: MediaAudit, exp = Math.floor(Date.now() / 1000) + options.expiresIn): SignedUrl {
    const token = this.signer.sign({
      key,
      exp,
      disposition: options.disposition,
      filename: options.filename,
      contentType: options.contentType,
      ...audit,
    });
    return { url: `${this.origin.url.replace(/\/+$/, '')}/media/${token}`, expiresAt: new Date(exp * 1000) };
  }
}
