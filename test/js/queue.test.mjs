// Durable queues: `handle.send(name, body, {wait, timeout})` to the `worker`
// fixture, whose Run loop handles queue "jobs" in order (about 20 ms per
// message). Fire-and-forget sends, a waiting send answered by the actor, a
// waiting send that times out, a full queue and an unknown queue.

import assert from "node:assert/strict";
import { it } from "node:test";
import { T, T_SLOW, describeEachEncoding, isActorError, plain, uniq, waitFor } from "./lib/helpers.mjs";

/** The worker's limit on messages waiting in its queues (`MaxQueueSize`). */
const MAX_QUEUE_SIZE = 50;

/** Polls getProcessed() until it holds at least `n` entries and returns it. */
async function processedAtLeast(worker, n, message) {
	return await waitFor(
		async () => {
			const got = plain(await worker.getProcessed());
			return got.length >= n ? got : undefined;
		},
		{ timeout: 15_000, interval: 50, message },
	);
}

describeEachEncoding("queue", (ctx) => {
	it("send without wait: messages are handled once each, in order", T, async () => {
		const worker = ctx.client.worker.getOrCreate([uniq("worker")]);
		const want = [];
		for (let i = 0; i < 5; i++) {
			const job = `job-${i}`;
			want.push(job);
			// Without `wait` the client resolves with nothing once the
			// message is accepted.
			assert.equal(await worker.send("jobs", job), undefined, `send ${job}`);
		}
		const got = await processedAtLeast(worker, want.length, "the Run loop to handle 5 jobs");
		assert.deepStrictEqual(got, want);
	});

	it("send with wait: the actor's completion is the response", T, async () => {
		const worker = ctx.client.worker.getOrCreate([uniq("worker")]);
		const res = await worker.send("jobs", "reply:x", { wait: true, timeout: 10_000 });
		assert.deepStrictEqual(plain(res), { status: "completed", response: "done:x" });
		// The completion is released only with the state that records it.
		assert.deepStrictEqual(plain(await worker.getProcessed()), ["reply:x"]);
	});

	it("send with wait completes while a connection keeps the actor awake", T, async () => {
		const worker = ctx.client.worker.getOrCreate([uniq("worker")]);
		const conn = worker.connect();
		try {
			// An open connection keeps the actor from sleeping, so nothing but
			// the handling of the message itself can release the completion.
			assert.deepStrictEqual(plain(await conn.getProcessed()), []);
			for (const tag of ["a", "b"]) {
				const res = await worker.send("jobs", `reply:${tag}`, { wait: true, timeout: 5000 });
				assert.deepStrictEqual(plain(res), { status: "completed", response: `done:${tag}` }, `waiting send ${tag}`);
			}
		} finally {
			await conn.dispose();
		}
	});

	it("send with a 1 ms wait times out; the message is still handled", T, async () => {
		const worker = ctx.client.worker.getOrCreate([uniq("worker")]);
		// Handling takes at least 20 ms, so a 1 ms wait cannot complete.
		const res = await worker.send("jobs", "reply:late", { wait: true, timeout: 1 });
		assert.equal(res?.status, "timedOut", `result ${JSON.stringify(res)}`);
		assert.equal(res.response ?? undefined, undefined, "no response with timedOut");
		const got = await processedAtLeast(worker, 1, "the timed-out message to be handled");
		assert.deepStrictEqual(got, ["reply:late"]);
	});

	it("a full queue rejects the next send with actor/overloaded", T_SLOW, async () => {
		// Queue "other" is never read, so it fills up at the actor's limit.
		const worker = ctx.client.worker.getOrCreate([uniq("full")]);
		for (let i = 0; i < MAX_QUEUE_SIZE; i++) {
			await worker.send("other", i);
		}
		// The client retries this overload (metadata dispatch_inbox /
		// dispatch_queue_send) for a while, then gives up with the error.
		await assert.rejects(
			worker.send("other", MAX_QUEUE_SIZE),
			isActorError("actor", "overloaded", {
				metadata: { channel: "dispatch_inbox", operation: "dispatch_queue_send" },
			}),
		);
	});

	it("an unknown queue name fails with actor/queue_not_found", T, async () => {
		const worker = ctx.client.worker.getOrCreate([uniq("worker")]);
		await assert.rejects(worker.send("nope", "x"), isActorError("actor", "queue_not_found"));
		await assert.rejects(
			worker.send("nope", "x", { wait: true, timeout: 1000 }),
			isActorError("actor", "queue_not_found"),
		);
		assert.deepStrictEqual(plain(await worker.getProcessed()), []);
	});
});
