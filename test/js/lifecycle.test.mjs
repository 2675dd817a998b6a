// Actor lifecycle: idle sleep and wake, destroy (from inside and via REST),
// and the actor KV store.

import assert from "node:assert/strict";
import { it } from "node:test";
import {
	ENDPOINT,
	NAMESPACE,
	T,
	T_SLOW,
	describeEachEncoding,
	describeError,
	isActorError,
	plain,
	sleep,
	uniq,
	waitFor,
} from "./lib/helpers.mjs";

describeEachEncoding("lifecycle", (ctx) => {
	it("sleepy: sleeps when idle and wakes with its state", T_SLOW, async () => {
		const sleepy = ctx.client.sleepy.getOrCreate([uniq("sleepy")]);
		assert.equal(await sleepy.increment(), 1);
		assert.equal(await sleepy.increment(), 2);
		const first = plain(await sleepy.getState());
		assert.equal(first.count, 2);
		// No assertion on first.sleeps: whether 300 ms passed between two
		// calls depends on machine load, and tests never assert on timing.
		assert.ok(first.wakes >= 1, `onWake runs on first start (wakes=${first.wakes})`);

		// Every poll keeps the actor awake for another 300 ms, so poll slowly.
		let state;
		const deadline = Date.now() + 10_000;
		for (;;) {
			await sleep(1000);
			state = plain(await sleepy.getState());
			if (state.sleeps >= 1 || Date.now() >= deadline) break;
		}
		assert.ok(state.sleeps >= 1, `actor never slept within 10 s: ${JSON.stringify(state)}`);
		assert.equal(state.count, 2, "state survives sleep");
		assert.ok(state.wakes >= 2, `woken again after sleeping: ${JSON.stringify(state)}`);
		assert.equal(await sleepy.increment(), 3);
	});

	it("destroySelf: the same key then gets a fresh actor", T_SLOW, async () => {
		const key = uniq("life");
		const handle = ctx.client.lifecycle.getOrCreate([key]);
		assert.equal(await handle.getValue(), null, "initial value is null");
		await handle.setValue(7);
		assert.equal(await handle.getValue(), 7);
		const oldId = await ctx.client.lifecycle.get([key]).resolve();

		await handle.destroySelf();

		// Destruction may complete just after the action returns: allow the
		// engine a moment, but the old actor must never serve this key again
		// once it is gone.
		const fresh = ctx.client.lifecycle.getOrCreate([key]);
		await waitFor(async () => (await fresh.getValue()) === null, {
			timeout: 5000,
			interval: 100,
			message: "getOrCreate of the destroyed key to reach a new actor (value null)",
		});
		const newId = await fresh.resolve();
		assert.notEqual(newId, oldId, "a new actor id after destroy");
		assert.equal(await ctx.client.lifecycle.getForId(newId).getValue(), null);
		await assert.rejects(
			ctx.client.lifecycle.getForId(oldId).getValue(),
			(err) => {
				assert.ok(isDestroyedError(err), `unexpected error: ${describeError(err)}`);
				return true;
			},
		);
	});

	it("REST DELETE /actors/{id} destroys the actor", T_SLOW, async () => {
		const key = uniq("life");
		const handle = ctx.client.lifecycle.getOrCreate([key]);
		await handle.setValue(1);
		const id = await handle.resolve();
		assert.equal(await ctx.client.lifecycle.getForId(id).getValue(), 1);

		const res = await fetch(`${ENDPOINT}/actors/${encodeURIComponent(id)}?namespace=${NAMESPACE}`, {
			method: "DELETE",
		});
		assert.equal(res.status, 200, `DELETE status (body: ${await res.clone().text()})`);
		const body = await res.json();
		assert.equal(typeof body, "object", "DELETE answers a JSON object");

		let lastError;
		await waitFor(
			async () => {
				try {
					await ctx.client.lifecycle.getForId(id).getValue();
					return false;
				} catch (err) {
					lastError = err;
					return true;
				}
			},
			{ timeout: 5000, interval: 100, message: "getForId of the deleted actor to reject" },
		);
		assert.ok(isDestroyedError(lastError), `unexpected error: ${describeError(lastError)}`);

		// The key is free again: getOrCreate makes a new actor.
		const fresh = ctx.client.lifecycle.getOrCreate([key]);
		assert.equal(await fresh.getValue(), null);
		assert.notEqual(await fresh.resolve(), id);
	});

	it("kv: put, get, list by prefix, range, delete", T, async () => {
		const kv = ctx.client.kv.getOrCreate([uniq("kv")]);
		await kv.put("a/1", "x");
		await kv.put("a/2", "y");
		await kv.put("b/1", "z");
		await kv.put("a", "not under a/");

		assert.equal(await kv.get("a/1"), "x");
		assert.equal(await kv.get("nope"), null);
		assert.deepStrictEqual(plain(await kv.list("a/")), [
			["a/1", "x"],
			["a/2", "y"],
		]);
		assert.deepStrictEqual(plain(await kv.range("a/2", "b/2")), [
			["a/2", "y"],
			["b/1", "z"],
		]);
		// End is exclusive.
		assert.deepStrictEqual(plain(await kv.range("a/1", "a/2")), [["a/1", "x"]]);

		await kv.del("a/1");
		assert.equal(await kv.get("a/1"), null);
		assert.deepStrictEqual(plain(await kv.list("a/")), [["a/2", "y"]]);

		// Overwrite.
		await kv.put("a/2", "y2");
		assert.equal(await kv.get("a/2"), "y2");

		// Another actor has its own KV.
		assert.equal(await ctx.client.kv.getOrCreate([uniq("kv")]).get("a/2"), null);
	});
});

/** The error an engine may give for an actor that was destroyed. */
function isDestroyedError(err) {
	return (
		err?.group === "actor" &&
		(err.code === "not_found" || err.code.startsWith("destroyed"))
	);
}
