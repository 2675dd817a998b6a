// Shared helpers for the rivetkube JS-client conformance suite.
//
// Every *.test.mjs file drives the engine at $RIVET_ENDPOINT with the official
// `rivetkit` client (pinned in package.json) in each of the three wire
// encodings. See README.md for the fixture actors the engine must register.

import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { after, before, describe } from "node:test";
import { ActorError, createClient } from "rivetkit/client";

export { ActorError };

const rawEndpoint = process.env.RIVET_ENDPOINT;
if (!rawEndpoint) {
	throw new Error(
		"RIVET_ENDPOINT is not set. Start the engine with the fixture actors and run e.g. " +
			"`RIVET_ENDPOINT=http://127.0.0.1:6420 node --test` (see test/js/README.md).",
	);
}

/** Engine base URL without a trailing slash, e.g. http://127.0.0.1:6420 */
export const ENDPOINT = rawEndpoint.replace(/\/+$/, "");
export const NAMESPACE = "default";
export const ENCODINGS = ["bare", "json", "cbor"];

/** Limits the fixture engine runs with (see README.md). */
export const MAX_INCOMING_BYTES = 1024 * 1024;
export const ACTION_TIMEOUT_MS = 2000;

/** Per-test timeout for ordinary tests. */
export const T = { timeout: 30_000 };
/** Per-test timeout for tests that wait on retries, timers or sleep. */
export const T_SLOW = { timeout: 60_000 };

/** Unique, URL-safe actor key component so tests never share an actor. */
export function uniq(prefix = "k") {
	return `${prefix}-${Date.now().toString(36)}-${randomBytes(5).toString("hex")}`;
}

export function sleep(ms) {
	return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * Polls `fn` until it returns a truthy value (or a promise of one) and returns
 * that value. Fails with `message` once `timeout` ms have passed.
 */
export async function waitFor(
	fn,
	{ timeout = 5000, interval = 20, message = "condition" } = {},
) {
	const deadline = Date.now() + timeout;
	let lastError;
	for (;;) {
		try {
			const value = await fn();
			if (value) return value;
			lastError = undefined;
		} catch (err) {
			lastError = err;
		}
		if (Date.now() >= deadline) {
			const why = lastError ? ` (last error: ${describeError(lastError)})` : "";
			assert.fail(`timed out after ${timeout} ms waiting for ${message}${why}`);
		}
		await sleep(interval);
	}
}

export function describeError(err) {
	if (err instanceof ActorError) {
		return `ActorError ${err.group}/${err.code}: ${err.message}`;
	}
	return `${err?.constructor?.name ?? typeof err}: ${err?.message ?? String(err)}`;
}

/**
 * Returns a validator for assert.rejects that requires an ActorError with the
 * given group and code, and optionally an exact message and metadata.
 */
export function isActorError(group, code, extra = {}) {
	return (err) => {
		assert.ok(
			err instanceof ActorError,
			`expected ActorError ${group}/${code}, got ${describeError(err)}`,
		);
		assert.equal(err.group, group, `group (error was ${describeError(err)})`);
		assert.equal(err.code, code, `code (error was ${describeError(err)})`);
		if ("message" in extra) {
			assert.equal(err.message, extra.message, "error message");
		}
		if ("metadata" in extra) {
			assert.deepStrictEqual(
				plain(err.metadata),
				extra.metadata,
				"error metadata",
			);
		}
		return true;
	};
}

/**
 * Normalises decoded values for deep comparison: Buffers (cbor-x decodes byte
 * strings to Buffer in Node) become plain Uint8Arrays, recursively.
 */
export function plain(value) {
	if (value instanceof Uint8Array) {
		return new Uint8Array(value.buffer, value.byteOffset, value.byteLength).slice();
	}
	if (Array.isArray(value)) return value.map(plain);
	if (value instanceof Map) {
		return new Map([...value].map(([k, v]) => [plain(k), plain(v)]));
	}
	if (value && typeof value === "object" && Object.getPrototypeOf(value) === Object.prototype) {
		return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, plain(v)]));
	}
	return value;
}

/** Records events delivered to a connection listener. */
export function recorder(conn, eventName) {
	const seen = [];
	conn.on(eventName, (...args) => seen.push(args.length === 1 ? args[0] : args));
	return seen;
}

/**
 * `describe` once per encoding. `body(ctx)` gets a context whose `client` is a
 * fresh client for that encoding, created before the suite's tests and
 * disposed (with all its connections) after them.
 */
export function describeEachEncoding(name, body) {
	for (const encoding of ENCODINGS) {
		describe(`${name} [${encoding}]`, () => {
			const ctx = { encoding, client: undefined };
			before(() => {
				ctx.client = newClient(encoding);
			});
			after(async () => {
				await ctx.client?.dispose();
			});
			body(ctx);
		});
	}
}

/**
 * Creates a client for `encoding`. The client loads the `ws` package itself
 * (dynamic `import("ws")`) when `globalThis.WebSocket` is missing, as on
 * Node 20; rivetkit 2.3.19 has no createClient option for a custom WebSocket
 * implementation.
 */
export function newClient(encoding) {
	return createClient({ endpoint: ENDPOINT, namespace: NAMESPACE, encoding });
}

/** URL of a query-routed (get-or-create) gateway path, as the client builds it. */
export function gatewayQueryUrl(name, key, path) {
	const params = new URLSearchParams();
	params.append("rvt-namespace", NAMESPACE);
	params.append("rvt-method", "getOrCreate");
	params.append("rvt-runner", "default");
	params.append("rvt-key", key.join(","));
	params.append("rvt-crash-policy", "sleep");
	return `${ENDPOINT}/gateway/${encodeURIComponent(name)}${path}?${params}`;
}

/**
 * Collects messages from a WHATWG-style WebSocket (the `ws` package or the
 * client's wrapper) so tests can await them in order with a deadline.
 */
export function messageQueue(ws) {
	const queue = [];
	const waiters = [];
	let closed;
	const onMessage = (ev) => {
		const waiter = waiters.shift();
		if (waiter) waiter.resolve(ev.data);
		else queue.push(ev.data);
	};
	const onClose = (ev) => {
		closed = { code: ev.code, reason: ev.reason };
		for (const w of waiters.splice(0)) {
			w.reject(new Error(`websocket closed (code ${ev.code}, reason ${JSON.stringify(ev.reason)})`));
		}
	};
	ws.addEventListener("message", onMessage);
	ws.addEventListener("close", onClose);
	return {
		get closed() {
			return closed;
		},
		next(timeout = 5000) {
			if (queue.length > 0) return Promise.resolve(queue.shift());
			if (closed) {
				return Promise.reject(new Error(`websocket closed (code ${closed.code})`));
			}
			return new Promise((resolve, reject) => {
				const waiter = {
					resolve: (v) => {
						clearTimeout(timer);
						resolve(v);
					},
					reject: (e) => {
						clearTimeout(timer);
						reject(e);
					},
				};
				const timer = setTimeout(() => {
					const i = waiters.indexOf(waiter);
					if (i >= 0) waiters.splice(i, 1);
					reject(new Error(`no websocket message within ${timeout} ms`));
				}, timeout);
				waiters.push(waiter);
			});
		},
	};
}

/** Resolves when `ws` is open; rejects on close/error or after `timeout` ms. */
export function waitOpen(ws, timeout = 10_000) {
	if (ws.readyState === 1) return Promise.resolve();
	return new Promise((resolve, reject) => {
		const timer = setTimeout(() => reject(new Error(`websocket not open within ${timeout} ms`)), timeout);
		ws.addEventListener("open", () => {
			clearTimeout(timer);
			resolve();
		});
		ws.addEventListener("close", (ev) => {
			clearTimeout(timer);
			reject(new Error(`websocket closed before open (code ${ev.code}, reason ${JSON.stringify(ev.reason)})`));
		});
		ws.addEventListener("error", (ev) => {
			clearTimeout(timer);
			reject(new Error(`websocket error before open: ${ev?.message ?? ev?.error?.message ?? "unknown"}`));
		});
	});
}

/** Resolves with {code, reason} once `ws` is closed; rejects after `timeout` ms. */
export function waitClosed(ws, timeout = 10_000) {
	if (ws.readyState === 3) return Promise.resolve({ code: undefined, reason: undefined });
	return new Promise((resolve, reject) => {
		const timer = setTimeout(() => reject(new Error(`websocket not closed within ${timeout} ms`)), timeout);
		ws.addEventListener("close", (ev) => {
			clearTimeout(timer);
			resolve({ code: ev.code, reason: ev.reason });
		});
	});
}

/** Converts WebSocket message data (ArrayBuffer / Buffer / Uint8Array) to a Uint8Array. */
export function bytesOf(data) {
	if (data instanceof ArrayBuffer) return new Uint8Array(data);
	if (ArrayBuffer.isView(data)) {
		return new Uint8Array(data.buffer, data.byteOffset, data.byteLength).slice();
	}
	if (Array.isArray(data)) return new Uint8Array(Buffer.concat(data));
	throw new TypeError(`not binary websocket data: ${typeof data}`);
}
