// Stateless (HTTP) actions through the gateway: resolution by key / id,
// compound keys, errors, timeouts and value round trips.

import assert from "node:assert/strict";
import { it } from "node:test";
import {
	ACTION_TIMEOUT_MS,
	ENDPOINT,
	NAMESPACE,
	T,
	T_SLOW,
	describeEachEncoding,
	isActorError,
	plain,
	uniq,
} from "./lib/helpers.mjs";
import { assertSameValue, dollarArrayOptions, dollarArrayValues, roundTripValues } from "./lib/values.mjs";

describeEachEncoding("HTTP actions", (ctx) => {
	it("getOrCreate: increment returns the new count and state persists", T, async () => {
		const key = uniq("counter");
		const counter = ctx.client.counter.getOrCreate([key]);
		assert.equal(await counter.increment(5), 5);
		assert.equal(await counter.increment(3), 8);
		assert.equal(await counter.getCount(), 8);
		// A second handle for the same key reaches the same actor.
		assert.equal(await ctx.client.counter.getOrCreate([key]).getCount(), 8);
		// A different key is a different actor.
		assert.equal(await ctx.client.counter.getOrCreate([uniq("counter")]).getCount(), 0);
	});

	it("create with an explicit key, then get, resolve and getForId", T, async () => {
		const key = uniq("created");
		const created = await ctx.client.counter.create([key]);
		assert.equal(await created.increment(2), 2);

		const byKey = ctx.client.counter.get([key]);
		assert.equal(await byKey.getCount(), 2);

		const id = await byKey.resolve();
		assert.equal(typeof id, "string");
		assert.ok(id.length > 0, "actor id must be non-empty");
		assert.equal(await created.resolve(), id, "create() and get() resolve to the same actor id");
		assert.equal(
			await ctx.client.counter.getOrCreate([key]).resolve(),
			id,
			"getOrCreate() of an existing key resolves to the existing actor",
		);

		const byId = ctx.client.counter.getForId(id);
		assert.equal(await byId.getCount(), 2);
		assert.equal(await byId.increment(1), 3);
		assert.equal(await byKey.getCount(), 3);
	});

	it("resolve() of different keys gives different actor ids", T, async () => {
		const a = await ctx.client.counter.getOrCreate([uniq("a")]).resolve();
		const b = await ctx.client.counter.getOrCreate([uniq("b")]).resolve();
		assert.notEqual(a, b);
	});

	it("REST GET /actors?actor_ids= lists the resolved actor", T, async () => {
		const key = uniq("rest");
		const id = await ctx.client.counter.getOrCreate([key]).resolve();
		const res = await fetch(
			`${ENDPOINT}/actors?actor_ids=${encodeURIComponent(id)}&namespace=${NAMESPACE}`,
		);
		assert.equal(res.status, 200);
		const body = await res.json();
		assert.ok(Array.isArray(body.actors), "body.actors must be an array");
		assert.equal(body.actors.length, 1);
		assert.equal(body.actors[0].actor_id, id);
		assert.equal(body.actors[0].name, "counter");
		assert.equal(body.actors[0].key, key);
	});

	it("UserError surfaces group, code, message and metadata", T, async () => {
		const user = ctx.client.user.getOrCreate([uniq("user")]);
		await assert.rejects(
			user.updateUsername("ab"),
			isActorError("user", "username_too_short", {
				message: "Username too short",
				metadata: { minLength: 3, actual: 2 },
			}),
		);
		// The failed call did not change state, and the actor keeps working.
		assert.equal(await user.getUsername(), "");
		await user.updateUsername("alice");
		assert.equal(await user.getUsername(), "alice");
	});

	it("unknown action rejects with actor/action_not_found", T, async () => {
		const counter = ctx.client.counter.getOrCreate([uniq("counter")]);
		await assert.rejects(counter.noSuchAction(1), isActorError("actor", "action_not_found"));
		assert.equal(await counter.increment(1), 1);
	});

	it("get() of a missing actor rejects with actor/not_found and does not create it", T_SLOW, async () => {
		const key = `missing-${uniq("m")}`;
		// The client retries not_found on key queries (~24 x 100 ms) before giving up.
		await assert.rejects(ctx.client.counter.get([key]).getCount(), isActorError("actor", "not_found"));
		await assert.rejects(ctx.client.counter.get([key]).resolve(), isActorError("actor", "not_found"));
	});

	it("compound keys: slash inside an element, distinct keys are distinct actors", T, async () => {
		const org = uniq("org-x");
		const key = [org, "room/1"];
		const room = ctx.client.chatRoom.getOrCreate(key);
		assert.deepStrictEqual(plain(await room.getRoomInfo()), { org, room: "room/1" });
		await room.sendMessage("in room 1");

		// Same key through the REST API (escaped serialization) finds the same actor.
		const id = await ctx.client.chatRoom.get(key).resolve();
		assert.equal(await room.resolve(), id);
		assert.deepStrictEqual(plain(await ctx.client.chatRoom.getForId(id).getRoomInfo()), {
			org,
			room: "room/1",
		});

		// These keys must all be different actors from [org, "room/1"].
		const others = [
			[org, "room/2"],
			[`${org}-2`, "room/1"],
			[`${org}/room`, "1"],
			[`${org}/room/1`],
			[org, "room", "1"],
		];
		for (const other of others) {
			const h = ctx.client.chatRoom.getOrCreate(other);
			assert.deepStrictEqual(plain(await h.getMessages()), [], `messages of ${JSON.stringify(other)}`);
			assert.notEqual(await h.resolve(), id, `actor id of ${JSON.stringify(other)}`);
		}
		assert.deepStrictEqual(plain(await ctx.client.chatRoom.getOrCreate([org, "room/2"]).getRoomInfo()), {
			org,
			room: "room/2",
		});
		assert.deepStrictEqual(plain(await room.getMessages()), [{ text: "in room 1" }]);
	});

	it("action timeout rejects with actor/action_timed_out", T, async () => {
		const echo = ctx.client.echo.getOrCreate([uniq("echo")]);
		assert.equal(await echo.slow(50), 50);
		const started = Date.now();
		await assert.rejects(echo.slow(10_000), isActorError("actor", "action_timed_out"));
		const elapsed = Date.now() - started;
		assert.ok(
			elapsed < 9_000,
			`timed out after ${elapsed} ms; the fixture action timeout is ${ACTION_TIMEOUT_MS} ms`,
		);
		assert.deepStrictEqual(plain(await echo.echo("after timeout")), "after timeout");
	});

	it("a plain error in an action is masked as actor/internal_error", T, async () => {
		const echo = ctx.client.echo.getOrCreate([uniq("echo")]);
		await assert.rejects(
			echo.failInternal(),
			isActorError("actor", "internal_error", { message: "An internal error occurred" }),
		);
		assert.equal(await echo.echo(1), 1);
	});

	it("round-trips values through echo", T, async () => {
		const echo = ctx.client.echo.getOrCreate([uniq("echo")]);
		for (const [label, value] of roundTripValues()) {
			assertSameValue(await echo.echo(value), value, label);
		}
		assertSameValue(await echo.echoArgs(1, "two", null, [3], { four: 4 }), [1, "two", null, [3], { four: 4 }], "echoArgs");
		assertSameValue(await echo.echoArgs(), [], "echoArgs()");
	});

	it("round-trips arrays that look like JSON-compat tags", dollarArrayOptions(ctx.encoding), async () => {
		const echo = ctx.client.echo.getOrCreate([uniq("echo")]);
		for (const [label, value] of dollarArrayValues()) {
			assertSameValue(await echo.echo(value), value, label);
		}
	});
});
