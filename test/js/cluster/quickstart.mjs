// The quickstart actors (examples/quickstart: counter, chatRoom, user)
// through a gateway on a Kubernetes cluster, with the official rivetkit
// client in every encoding: HTTP actions, WebSocket connections and their
// events. Run by the cluster e2e suite (test/e2e/cluster):
//
//   RIVET_ENDPOINT=http://127.0.0.1:6420 node --test cluster/quickstart.mjs
//
// It lives outside node's default test file patterns, so a plain
// `node --test` (the conformance suite against the fixture actors) skips it.

import assert from "node:assert/strict";
import { it } from "node:test";
import {
	T,
	describeEachEncoding,
	isActorError,
	plain,
	recorder,
	uniq,
	waitFor,
} from "../lib/helpers.mjs";

describeEachEncoding("quickstart on a cluster", (ctx) => {
	it("counter: actions over HTTP keep their state", T, async () => {
		const counter = ctx.client.counter.getOrCreate([uniq("js-counter")]);
		assert.equal(await counter.getCount(), 0);
		assert.equal(await counter.increment(5), 5);
		assert.equal(await counter.increment(2), 7);
		assert.equal(await counter.getCount(), 7);
	});

	it("counter: every connection receives the count events", T, async () => {
		const key = uniq("js-counter");
		const a = ctx.client.counter.getOrCreate([key]).connect();
		const b = ctx.client.counter.getOrCreate([key]).connect();
		try {
			const seenA = recorder(a, "count");
			const seenB = recorder(b, "count");
			// A round trip on each connection makes sure its subscription arrived.
			assert.equal(await a.getCount(), 0);
			assert.equal(await b.getCount(), 0);
			assert.equal(await a.increment(1), 1);
			assert.equal(await ctx.client.counter.getOrCreate([key]).increment(10), 11);
			await waitFor(() => seenA.length >= 2 && seenB.length >= 2, {
				timeout: 10_000,
				message: "count events 1 and 11 on both connections",
			});
			assert.deepStrictEqual(seenA, [1, 11]);
			assert.deepStrictEqual(seenB, [1, 11]);
		} finally {
			await a.dispose();
			await b.dispose();
		}
	});

	it("chatRoom: messages are broadcast and kept", T, async () => {
		const org = uniq("org");
		const room = ctx.client.chatRoom.getOrCreate([org, "general"]);
		assert.deepStrictEqual(plain(await room.getRoomInfo()), { org, room: "general" });
		const alice = ctx.client.chatRoom.getOrCreate([org, "general"]).connect();
		const bob = ctx.client.chatRoom.getOrCreate([org, "general"]).connect();
		try {
			const seen = recorder(bob, "newMessage");
			assert.deepStrictEqual(plain(await bob.getMessages()), []);
			assert.deepStrictEqual(plain(await alice.sendMessage("hello")), { text: "hello" });
			assert.deepStrictEqual(plain(await room.sendMessage("over http")), { text: "over http" });
			await waitFor(() => seen.length >= 2, { timeout: 10_000, message: "two newMessage events" });
			assert.deepStrictEqual(plain(seen), [{ text: "hello" }, { text: "over http" }]);
			assert.deepStrictEqual(plain(await room.getMessages()), [{ text: "hello" }, { text: "over http" }]);
		} finally {
			await alice.dispose();
			await bob.dispose();
		}
	});

	it("user: a UserError reaches the client", T, async () => {
		const user = ctx.client.user.getOrCreate([uniq("js-user")]);
		await assert.rejects(user.updateUsername("ab"), isActorError("user", "username_too_short"));
		assert.equal(await user.updateUsername("alice"), "alice");
		assert.equal(await user.getUsername(), "alice");
	});
});
