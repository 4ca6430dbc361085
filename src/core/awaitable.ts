/**
 * A value now, or a promise of it: what a store answers when it may answer at once (SQLite, a
 * memoised row) or later (a networked database). The request path takes either without making a
 * promise of a value it already holds; every `await` takes both as they are.
 * docs/architecture.md, "One request", says where it is used.
 */
export type Awaitable<T> = T | Promise<T>;

/** True when `value` is a promise (or any thenable) rather than the value itself. */
export function isPromise<T>(value: Awaitable<T>): value is Promise<T> {
  return typeof (value as { then?: unknown } | null | undefined)?.then === 'function';
}

/**
 * `next(value)`: now when `value` is at hand (a throw of `next` is thrown), after it settles when
 * it is a promise (a throw of `next`, or a rejection, rejects).
 */
export function whenReady<T, U>(value: Awaitable<T>, next: (value: T) => Awaitable<U>): Awaitable<U> {
  return isPromise(value) ? value.then(next) : next(value);
}
