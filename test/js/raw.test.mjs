// Raw HTTP (handle.fetch -> onRequest) and raw WebSocket
// (handle.webSocket -> onWebSocket) passthrough.

import assert from "node:assert/strict";
import { it } from "node:test";
import {
	T,
	bytesOf,
	describeEachEncoding,
	messageQueue,
	plain,
	uniq,
	waitClosed,
	waitOpen,
} from "./lib/helpers.mjs";

describeEachEncoding("raw HTTP and WebSocket", (ctx) => {
	it("fetch: method, path, query and body reach onRequest", T, async () => {
		const raw = ctx.client.rawHttp.getOrCreate([uniq("raw")]);
		const res = await raw.fetch("/hello?x=1", { method: "POST", body: "hi" });
		assert.equal(res.status, 200);
		assert.match(res.headers.get("content-type") ?? "", /json/);
		// The client appends its rvt-* routing parameters to the same query
		// string; the engine must strip them before the actor sees the request.
		assert.deepStrictEqual(await res.json(), { method: "POST", path: "/hello", query: "x=1", body: "hi" });
	});

	it("fetch: GET with nested path, several query params and no body", T, async () => {
		const raw = ctx.client.rawHttp.getOrCreate([uniq("raw")]);
		const res = await raw.fetch("/a/b/c?b=2&a=1");
		assert.equal(res.status, 200);
		assert.deepStrictEqual(await res.json(), { method: "GET", path: "/a/b/c", query: "b=2&a=1", body: "" });

		const root = await raw.fetch("/");
		assert.equal(root.status, 200);
		assert.deepStrictEqual(await root.json(), { method: "GET", path: "/", query: "", body: "" });
	});

	it("fetch: PUT with a larger body via getForId", T, async () => {
		const key = uniq("raw");
		const id = await ctx.client.rawHttp.getOrCreate([key]).resolve();
		const body = "é".repeat(50_000);
		const res = await ctx.client.rawHttp.getForId(id).fetch("/upload", { method: "PUT", body });
		assert.equal(res.status, 200);
		assert.deepStrictEqual(await res.json(), { method: "PUT", path: "/upload", query: "", body });
	});

	it("fetch: the actor's status code is passed through", T, async () => {
		const raw = ctx.client.rawHttp.getOrCreate([uniq("raw")]);
		const teapot = await raw.fetch("/status/418");
		assert.equal(teapot.status, 418);
		assert.equal(await teapot.text(), "");
		const created = await raw.fetch("/status/201", { method: "POST", body: "x" });
		assert.equal(created.status, 201);
		await created.arrayBuffer();
	});

	it("webSocket: text and binary messages are echoed with their type", T, async () => {
		const raw = ctx.client.rawHttp.getOrCreate([uniq("raw")]);
		const ws = await raw.webSocket("/echo");
		const messages = messageQueue(ws);
		try {
			await waitOpen(ws);

			ws.send("hello");
			const text = await messages.next();
			assert.equal(typeof text, "string", "a text frame comes back as text");
			assert.equal(text, "hello");

			ws.send("ünïcødé 🎉");
			assert.equal(await messages.next(), "ünïcødé 🎉");

			ws.send(new Uint8Array([0, 1, 2, 253, 254, 255]));
			const bin = await messages.next();
			assert.notEqual(typeof bin, "string", "a binary frame comes back as binary");
			assert.deepStrictEqual(plain(bytesOf(bin)), new Uint8Array([0, 1, 2, 253, 254, 255]));

			// Order is preserved across a burst.
			for (let i = 0; i < 20; i++) ws.send(`n${i}`);
			for (let i = 0; i < 20; i++) assert.equal(await messages.next(), `n${i}`);

			const big = new Uint8Array(200_000).map((_, i) => i % 251);
			ws.send(big);
			assert.deepStrictEqual(plain(bytesOf(await messages.next())), big);
		} finally {
			ws.close(1000, "done");
		}
		await waitClosed(ws);
	});

	it("webSocket: path with a query string still reaches onWebSocket", T, async () => {
		const raw = ctx.client.rawHttp.getOrCreate([uniq("raw")]);
		const ws = await raw.webSocket("/some/path?room=1");
		const messages = messageQueue(ws);
		try {
			await waitOpen(ws);
			ws.send("ping");
			assert.equal(await messages.next(), "ping");
		} finally {
			ws.close(1000, "done");
		}
		await waitClosed(ws);
	});
});
