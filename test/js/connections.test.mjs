// WebSocket connections (handle.connect()): Init, actions over the
// connection, event subscriptions and broadcasts, errors, conn params.

import assert from "node:assert/strict";
import { it } from "node:test";
import {
	ActorError,
	T,
	describeEachEncoding,
	describeError,
	isActorError,
	plain,
	recorder,
	uniq,
	waitFor,
} from "./lib/helpers.mjs";
import { assertSameValue, dollarArrayOptions, dollarArrayValues, roundTripValues } from "./lib/values.mjs";

describeEachEncoding("connections", (ctx) => {
	it("Init: conn.ready resolves and carries the actor id", T, async () => {
		const handle = ctx.client.counter.getOrCreate([uniq("counter")]);
		const conn = handle.connect();
		try {
			await conn.ready;
			assert.equal(conn.connStatus, "connected");
			assert.equal(conn.actorId, await handle.resolve(), "Init.actorId must be the actor's id");
			assert.equal(typeof conn.connId, "string");
			assert.ok(conn.connId.length > 0, "Init.connectionId must be non-empty");
		} finally {
			await conn.dispose();
		}
	});

	it("counter: broadcasts reach every subscribed connection", T, async () => {
		const key = uniq("counter");
		const a = ctx.client.counter.getOrCreate([key]).connect();
		const b = ctx.client.counter.getOrCreate([key]).connect();
		try {
			const seenA = recorder(a, "count");
			const seenB = recorder(b, "count");
			// A round trip on each connection guarantees its subscription (sent
			// first on the socket) has been processed.
			assert.equal(await a.getCount(), 0);
			assert.equal(await b.getCount(), 0);

			// Action over a connection returns its value; the other connection sees the event.
			assert.equal(await a.increment(1), 1);
			await waitFor(() => seenB.length >= 1, { message: "b to receive count=1" });
			assert.equal(await b.increment(2), 3);
			await waitFor(() => seenA.length >= 2 && seenB.length >= 2, { message: "count=3 on both" });

			// An HTTP action (no connection) also broadcasts to both.
			assert.equal(await ctx.client.counter.getOrCreate([key]).increment(10), 13);
			await waitFor(() => seenA.length >= 3 && seenB.length >= 3, { message: "count=13 on both" });

			assert.deepStrictEqual(seenA, [1, 3, 13]);
			assert.deepStrictEqual(seenB, [1, 3, 13]);
			assert.equal(await a.getCount(), 13);
		} finally {
			await a.dispose();
			await b.dispose();
		}
	});

	it("events go only to the subscribed event name", T, async () => {
		const key = uniq("counter");
		const conn = ctx.client.counter.getOrCreate([key]).connect();
		try {
			const other = recorder(conn, "notCount");
			const count = recorder(conn, "count");
			assert.equal(await conn.increment(4), 4);
			await waitFor(() => count.length === 1, { message: "count event" });
			assert.deepStrictEqual(count, [4]);
			assert.deepStrictEqual(other, []);
		} finally {
			await conn.dispose();
		}
	});

	it("chatRoom: messages broadcast to both connections", T, async () => {
		const key = [uniq("org"), "lobby"];
		const alice = ctx.client.chatRoom.getOrCreate(key).connect();
		const bob = ctx.client.chatRoom.getOrCreate(key).connect();
		try {
			const seenAlice = recorder(alice, "newMessage");
			const seenBob = recorder(bob, "newMessage");
			assert.deepStrictEqual(plain(await alice.getMessages()), []);
			assert.deepStrictEqual(plain(await bob.getMessages()), []);

			await alice.sendMessage("hello from alice");
			await waitFor(() => seenBob.length >= 1, { message: "bob to receive alice's message" });
			await bob.sendMessage("hi alice");
			await waitFor(() => seenAlice.length >= 2, { message: "alice to receive bob's message" });
			await ctx.client.chatRoom.getOrCreate(key).sendMessage("via http");
			await waitFor(() => seenAlice.length >= 3 && seenBob.length >= 3, { message: "http message on both" });

			const expected = [{ text: "hello from alice" }, { text: "hi alice" }, { text: "via http" }];
			assert.deepStrictEqual(plain(seenAlice), expected);
			assert.deepStrictEqual(plain(seenBob), expected);
			assert.deepStrictEqual(plain(await bob.getMessages()), expected);
			assert.deepStrictEqual(plain(await alice.getRoomInfo()), { org: key[0], room: "lobby" });
		} finally {
			await alice.dispose();
			await bob.dispose();
		}
	});

	it("UserError over a connection rejects only that call", T, async () => {
		const conn = ctx.client.user.getOrCreate([uniq("user")]).connect();
		const connErrors = [];
		conn.onError((e) => connErrors.push(e));
		try {
			await assert.rejects(
				conn.updateUsername("ab"),
				isActorError("user", "username_too_short", {
					message: "Username too short",
					metadata: { minLength: 3, actual: 2 },
				}),
			);
			// The connection stays usable.
			await conn.updateUsername("bob");
			assert.equal(await conn.getUsername(), "bob");
			assert.equal(conn.connStatus, "connected");
			assert.deepStrictEqual(connErrors.map(describeError), [], "an action error is not a connection error");
		} finally {
			await conn.dispose();
		}
	});

	it("unknown action over a connection rejects with actor/action_not_found", T, async () => {
		const conn = ctx.client.counter.getOrCreate([uniq("counter")]).connect();
		try {
			await assert.rejects(conn.noSuchAction(), isActorError("actor", "action_not_found"));
			assert.equal(await conn.increment(2), 2);
		} finally {
			await conn.dispose();
		}
	});

	it("action timeout and masked internal errors over a connection", T, async () => {
		const conn = ctx.client.echo.getOrCreate([uniq("echo")]).connect();
		try {
			await assert.rejects(conn.slow(10_000), isActorError("actor", "action_timed_out"));
			await assert.rejects(
				conn.failInternal(),
				isActorError("actor", "internal_error", { message: "An internal error occurred" }),
			);
			assert.equal(await conn.slow(20), 20);
		} finally {
			await conn.dispose();
		}
	});

	it("concurrent actions over one connection get their own responses", T, async () => {
		const conn = ctx.client.echo.getOrCreate([uniq("echo")]).connect();
		try {
			const inputs = Array.from({ length: 20 }, (_, i) => `msg-${i}`);
			// slow() interleaved so responses may come back out of order.
			const results = await Promise.all([
				conn.slow(300),
				...inputs.map((v) => conn.echo(v)),
				conn.slow(100),
			]);
			assert.deepStrictEqual(results, [300, ...inputs, 100]);
		} finally {
			await conn.dispose();
		}
	});

	it("round-trips values through echo over a connection", T, async () => {
		const conn = ctx.client.echo.getOrCreate([uniq("echo")]).connect();
		try {
			for (const [label, value] of roundTripValues()) {
				assertSameValue(await conn.echo(value), value, label);
			}
			assertSameValue(await conn.echoArgs("a", 2n ** 70n, null), ["a", 2n ** 70n, null], "echoArgs");
		} finally {
			await conn.dispose();
		}
	});

	it("round-trips arrays that look like JSON-compat tags over a connection", dollarArrayOptions(ctx.encoding), async () => {
		const conn = ctx.client.echo.getOrCreate([uniq("echo")]).connect();
		try {
			for (const [label, value] of dollarArrayValues()) {
				assertSameValue(await conn.echo(value), value, label);
			}
		} finally {
			await conn.dispose();
		}
	});

	it("conn params: onBeforeConnect accepts the token and createConnState sees params", T, async () => {
		const key = uniq("guarded");
		const params = { token: "secret", name: "alice" };
		const handle = ctx.client.guarded.getOrCreate([key], { params });
		const alice = handle.connect();
		const bob = ctx.client.guarded.getOrCreate([key], { params: { token: "secret", name: "bob" } }).connect();
		try {
			assert.equal(await alice.whoAmI(), "alice");
			assert.equal(await bob.whoAmI(), "bob");
			assert.equal(await alice.connCount(), 2);
			// HTTP actions carry the params too (x-rivet-conn-params).
			assert.equal(await handle.whoAmI(), "alice");

			await bob.dispose();
			await waitFor(async () => (await alice.connCount()) === 1, {
				timeout: 10_000,
				message: "connCount to drop to 1 after bob disposed",
			});
		} finally {
			await alice.dispose();
			await bob.dispose();
		}
	});

	it("conn params: a wrong token is rejected with user/forbidden", T, async () => {
		const key = uniq("guarded");
		const conn = ctx.client.guarded
			.getOrCreate([key], { params: { token: "wrong", name: "mallory" } })
			.connect();
		const connErrors = [];
		conn.onError((e) => connErrors.push(e));
		try {
			await assert.rejects(
				conn.whoAmI(),
				isActorError("user", "forbidden", { message: "Invalid token" }),
			);
			await waitFor(
				() => connErrors.some((e) => e instanceof ActorError && e.group === "user" && e.code === "forbidden"),
				{ message: `an error event user/forbidden (got ${connErrors.map(describeError).join(", ") || "none"})` },
			);
			assert.notEqual(conn.connStatus, "connected");

			// Over HTTP the same params are rejected too.
			await assert.rejects(
				ctx.client.guarded.getOrCreate([key], { params: { token: "wrong", name: "mallory" } }).whoAmI(),
				isActorError("user", "forbidden"),
			);
			// The rejected connection was never counted.
			const ok = ctx.client.guarded.getOrCreate([key], { params: { token: "secret", name: "eve" } }).connect();
			try {
				assert.equal(await ok.whoAmI(), "eve");
				assert.equal(await ok.connCount(), 1);
			} finally {
				await ok.dispose();
			}
		} finally {
			await conn.dispose();
		}
	});

	it("conn params: an HTTP action without params still goes through onBeforeConnect", T, async () => {
		// Like the reference engine, every HTTP action runs the connection
		// hooks (with params undefined when the client sends none).
		await assert.rejects(
			ctx.client.guarded.getOrCreate([uniq("guarded")]).whoAmI(),
			isActorError("user", "forbidden", { message: "Invalid token" }),
		);
	});
});
