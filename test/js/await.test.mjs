// Actors that stay responsive while they wait (docs/concurrency.md): the
// quickstart examples inventory, order, chatRoomList, counterWorker,
// reminder, relay and agent, through the official client.

import assert from "node:assert/strict";
import { it } from "node:test";
import { T, describeEachEncoding, gatewayQueryUrl, isActorError, plain, recorder, uniq, waitFor } from "./lib/helpers.mjs";

describeEachEncoding("await", (ctx) => {
	it("order.process reserves one item of inventory main through the actor's client", T, async () => {
		const inventory = ctx.client.inventory.getOrCreate(["main"]);
		const before = await inventory.getStock();
		const order = ctx.client.order.getOrCreate([uniq("order")]);
		assert.equal(await order.process(), before - 1);
		assert.equal(await inventory.getStock(), before - 1);
	});

	it("chatRoomList.addRoom creates chat rooms [org, name] and lists them in order", T, async () => {
		const org = uniq("org");
		const list = ctx.client.chatRoomList.getOrCreate([org]);
		assert.equal(await list.addRoom("general"), "general");
		assert.equal(await list.addRoom("random"), "random");
		assert.deepStrictEqual(plain(await list.listRooms()), ["general", "random"]);
		// The rooms exist (get, not getOrCreate) and know their key.
		assert.deepStrictEqual(plain(await ctx.client.chatRoom.get([org, "random"]).getRoomInfo()), { org, room: "random" });
		// create of an existing room fails, and the list is unchanged.
		await assert.rejects(list.addRoom("general"), isActorError("user", "room_exists"));
		assert.deepStrictEqual(plain(await list.listRooms()), ["general", "random"]);
	});

	it("counterWorker adds each mutate message's delta in its Run loop", T, async () => {
		const worker = ctx.client.counterWorker.getOrCreate([uniq("worker")]);
		for (const delta of [5, 7, -2]) await worker.send("mutate", { delta });
		await waitFor(async () => (await worker.getValue()) === 10, { message: "value 10", timeout: 10_000 });
	});

	it("reminder broadcasts its message after the delay", T, async () => {
		const conn = ctx.client.reminder.getOrCreate([uniq("reminder")]).connect();
		try {
			const seen = recorder(conn, "reminder");
			await conn.setReminder("stand up", 50);
			await waitFor(() => seen.length === 1, { message: "reminder event", timeout: 10_000 });
			assert.deepStrictEqual(plain(seen), [{ message: "stand up" }]);
		} finally {
			await conn.dispose();
		}
	});

	it("relay a bounces 4 times between a and b (call chains re-enter waiting actors)", T, async () => {
		assert.equal(await ctx.client.relay.getOrCreate(["a"]).bounce(4), 4);
		assert.equal(await ctx.client.relay.getOrCreate(["b"]).bounce(3), 3);
	});

	it("agent.ask streams tokens while getHistory answers at once", T, async () => {
		const key = [uniq("agent")];
		const conn = ctx.client.agent.getOrCreate(key).connect();
		try {
			const tokens = recorder(conn, "token");
			assert.deepStrictEqual(plain(await conn.getHistory()), []);
			let askDone = false;
			const ask = conn.ask("one two three four", 100).then((answer) => {
				askDone = true;
				return answer;
			});
			await waitFor(() => tokens.length >= 1, { message: "first token" });
			// While ask waits between tokens the actor answers other calls.
			const handle = ctx.client.agent.getOrCreate(key);
			for (let i = 0; i < 8; i++) {
				assert.deepStrictEqual(plain(await handle.getHistory()), []);
			}
			assert.equal(askDone, false, "getHistory answered only after ask finished");
			assert.equal(await ask, "four three two one");
			assert.deepStrictEqual(tokens, ["four", "three", "two", "one"]);
			assert.deepStrictEqual(plain(await handle.getHistory()), [{ prompt: "one two three four", answer: "four three two one" }]);
		} finally {
			await conn.dispose();
		}
	});

	it("agent GET /request/stream answers server-sent events, one per token", T, async () => {
		const url = gatewayQueryUrl("agent", [uniq("sse")], "/request/stream") + "&prompt=a%20b%20c&ms=200";
		const res = await fetch(url);
		assert.equal(res.status, 200);
		assert.match(res.headers.get("content-type") ?? "", /text\/event-stream/);
		const reader = res.body.getReader();
		const decoder = new TextDecoder();
		let text = "";
		let firstAt = 0;
		for (;;) {
			const { value, done } = await reader.read();
			if (done) break;
			text += decoder.decode(value, { stream: true });
			if (!firstAt && text.includes("\n\n")) firstAt = Date.now();
		}
		const endAt = Date.now();
		assert.equal(text, "data: c\n\ndata: b\n\ndata: a\n\n");
		// The first event arrived while two more 200 ms waits were to come.
		assert.ok(endAt - firstAt >= 300, `first event ${endAt - firstAt} ms before the end: not streamed`);
	});

	it("agent.ask with a bad delay is a user error", T, async () => {
		await assert.rejects(ctx.client.agent.getOrCreate([uniq("agent")]).ask("x", -1), isActorError("user", "invalid_delay"));
	});
});
