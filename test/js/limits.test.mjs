// Oversized and malformed input. The raw-request part talks to the gateway
// directly (no client) to send exactly the bytes under test; the client part
// checks that the official client surfaces the same errors.

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import WebSocket from "ws";
import {
	MAX_INCOMING_BYTES,
	T,
	describeEachEncoding,
	gatewayQueryUrl,
	isActorError,
	messageQueue,
	newClient,
	uniq,
	waitClosed,
	waitOpen,
} from "./lib/helpers.mjs";

const TWO_MIB = 2 * 1024 * 1024;

function actionUrl(key, action = "echo") {
	return gatewayQueryUrl("echo", [key], `/action/${encodeURIComponent(action)}`);
}

async function postAction(key, encoding, body, action = "echo") {
	return await fetch(actionUrl(key, action), {
		method: "POST",
		headers: {
			"x-rivet-encoding": encoding,
			"content-type": encoding === "json" ? "application/json" : "application/octet-stream",
		},
		body,
	});
}

/**
 * Decodes an HTTP error body the way the client does: JSON when the
 * content-type says so, otherwise the request's encoding. Returns
 * {group, code, message}. CBOR bodies are not decoded here (null).
 */
async function errorBody(res, requestEncoding) {
	const bytes = new Uint8Array(await res.arrayBuffer());
	const contentType = res.headers.get("content-type") ?? "";
	if (contentType.includes("application/json") || requestEncoding === "json") {
		const text = new TextDecoder().decode(bytes);
		try {
			return JSON.parse(text);
		} catch {
			assert.fail(`error body is not JSON (content-type ${contentType}): ${text.slice(0, 200)}`);
		}
	}
	if (requestEncoding === "bare") return decodeBareError(bytes);
	return null;
}

/** BARE HttpResponseError: u16le version, then str group, str code, str message, ... */
function decodeBareError(bytes) {
	let off = 0;
	const fail = (why) =>
		assert.fail(`bad BARE error body (${why}): ${Buffer.from(bytes).toString("hex").slice(0, 120)}`);
	if (bytes.length < 2) fail("too short");
	const version = bytes[0] | (bytes[1] << 8);
	if (version < 1 || version > 4) fail(`version ${version}`);
	off = 2;
	const uvarint = () => {
		let result = 0;
		let shift = 0;
		for (;;) {
			if (off >= bytes.length) fail("truncated uvarint");
			const b = bytes[off++];
			result += (b & 0x7f) * 2 ** shift;
			if ((b & 0x80) === 0) return result;
			shift += 7;
		}
	};
	const str = () => {
		const len = uvarint();
		if (off + len > bytes.length) fail("truncated string");
		const s = new TextDecoder().decode(bytes.subarray(off, off + len));
		off += len;
		return s;
	};
	return { group: str(), code: str(), message: str() };
}

function assertErrorShape(body, group, code) {
	if (body === null) return;
	assert.equal(typeof body, "object");
	assert.equal(body.group, group, `error group in ${JSON.stringify(body)}`);
	assert.equal(body.code, code, `error code in ${JSON.stringify(body)}`);
	assert.equal(typeof body.message, "string", "error message");
}

describe("gateway input validation (raw requests)", () => {
	it("positive control: a well-formed JSON and BARE action request succeeds", T, async () => {
		const key = uniq("raw-ok");
		const json = await postAction(key, "json", JSON.stringify({ args: ["ok"] }));
		assert.equal(json.status, 200, `json status (body ${await json.clone().text()})`);
		assert.deepStrictEqual(await json.json(), { output: "ok" });

		// 04 00 = v4; args = data(len 2: CBOR [5]).
		const bare = await postAction(key, "bare", new Uint8Array([0x04, 0x00, 0x02, 0x81, 0x05]));
		assert.equal(bare.status, 200);
		// 04 00 = v4; output = data(len 1: CBOR 5).
		assert.deepStrictEqual(new Uint8Array(await bare.arrayBuffer()), new Uint8Array([0x04, 0x00, 0x01, 0x05]));
	});

	it("a body under the limit is accepted", T, async () => {
		const big = "y".repeat(512 * 1024);
		const res = await postAction(uniq("raw-big"), "json", JSON.stringify({ args: [big] }));
		assert.equal(res.status, 200);
		assert.deepStrictEqual(await res.json(), { output: big });
	});

	for (const encoding of ["json", "bare", "cbor"]) {
		it(`an oversized ${encoding} body (2 MiB > ${MAX_INCOMING_BYTES} B) gets 413 message/incoming_too_long`, T, async () => {
			let body;
			if (encoding === "json") body = JSON.stringify({ args: ["x".repeat(TWO_MIB)] });
			else body = new Uint8Array(TWO_MIB).fill(0x41);
			const res = await postAction(uniq("raw-413"), encoding, body);
			assert.equal(res.status, 413);
			assertErrorShape(await errorBody(res, encoding), "message", "incoming_too_long");
		});
	}

	it("malformed JSON gets 400 message/malformed", T, async () => {
		const res = await postAction(uniq("raw-400"), "json", "{not json");
		assert.equal(res.status, 400);
		assertErrorShape(await errorBody(res, "json"), "message", "malformed");
	});

	it("a BARE body with a wrong version prefix gets 400", T, async () => {
		const res = await postAction(uniq("raw-400"), "bare", new Uint8Array([0x63, 0x00, 0x02, 0x81, 0x05]));
		assert.equal(res.status, 400);
		const body = await errorBody(res, "bare");
		assert.ok(body.group.length > 0 && body.code.length > 0, `structured error: ${JSON.stringify(body)}`);
	});

	it("a truncated BARE body gets 400", T, async () => {
		const res = await postAction(uniq("raw-400"), "bare", new Uint8Array([0x04, 0x00, 0x09, 0x81]));
		assert.equal(res.status, 400);
		await res.arrayBuffer();
	});

	it("an unknown x-rivet-encoding gets 400", T, async () => {
		const res = await postAction(uniq("raw-400"), "yaml", JSON.stringify({ args: [1] }));
		assert.equal(res.status, 400);
		await res.arrayBuffer();
	});

	it("a WebSocket frame over the limit closes the connection", T, async () => {
		const key = uniq("ws-big");
		const url = gatewayQueryUrl("echo", [key], "/connect").replace(/^http/, "ws");
		const ws = new WebSocket(url, ["rivet", "rivet_encoding.json"]);
		const messages = messageQueue(ws);
		try {
			await waitOpen(ws);
			assert.equal(ws.protocol, "rivet", "the server must select the `rivet` subprotocol");

			const init = JSON.parse(await messages.next());
			assert.equal(init?.body?.tag, "Init", `first message must be Init: ${JSON.stringify(init)}`);
			assert.equal(typeof init.body.val.actorId, "string");
			assert.equal(typeof init.body.val.connectionId, "string");

			const request = (id, arg) =>
				JSON.stringify({
					body: { tag: "ActionRequest", val: { id: ["$BigInt", String(id)], name: "echo", args: [arg] } },
				});
			ws.send(request(0, "ping"));
			const reply = JSON.parse(await messages.next());
			assert.deepStrictEqual(reply, {
				body: { tag: "ActionResponse", val: { id: ["$BigInt", "0"], output: "ping" } },
			});

			ws.send(request(1, "x".repeat(TWO_MIB)));
			await waitClosed(ws, 10_000);
			// Nothing but (optionally) an Error may have been sent for the oversized frame.
			for (;;) {
				let data;
				try {
					data = await messages.next(10);
				} catch {
					break;
				}
				const msg = JSON.parse(data);
				assert.notEqual(msg?.body?.tag, "ActionResponse", "the oversized action must not run");
			}
		} finally {
			ws.terminate();
		}
	});

	it("the engine keeps serving after bad input", T, async () => {
		const client = newClient("bare");
		try {
			assert.equal(await client.echo.getOrCreate([uniq("after")]).echo("still alive"), "still alive");
		} finally {
			await client.dispose();
		}
	});
});

describeEachEncoding("input limits via the client", (ctx) => {
	it("an oversized HTTP action argument rejects with message/incoming_too_long", T, async () => {
		const echo = ctx.client.echo.getOrCreate([uniq("big")]);
		await assert.rejects(echo.echo("x".repeat(TWO_MIB)), isActorError("message", "incoming_too_long"));
		assert.equal(await echo.echo("small"), "small");
	});

	it("an oversized message over a connection fails, and the engine keeps serving", T, async () => {
		const key = uniq("big");
		const conn = ctx.client.echo.getOrCreate([key]).connect();
		try {
			assert.equal(await conn.echo("before"), "before");
			let err;
			try {
				await conn.echo("x".repeat(TWO_MIB));
			} catch (e) {
				err = e;
			}
			// The engine closes the socket (the client then reconnects by itself);
			// the pending call is rejected with whatever the close carried.
			assert.ok(err, "the oversized action must not succeed");
		} finally {
			await conn.dispose();
		}
		const fresh = ctx.client.echo.getOrCreate([key]).connect();
		try {
			assert.equal(await fresh.echo("after"), "after");
		} finally {
			await fresh.dispose();
		}
	});
});
