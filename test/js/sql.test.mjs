// c.DB(): the quickstart leaderboard keeps its scores only in its SQL
// database; the official client drives it in every encoding.

import assert from "node:assert/strict";
import { it } from "node:test";
import { T, describeEachEncoding, isActorError, uniq } from "./lib/helpers.mjs";

const plainScores = (rows) => rows.map((r) => ({ player: r.player, score: Number(r.score) }));

describeEachEncoding("SQL leaderboard", (ctx) => {
	it("submit keeps the best score; top and rank read the database", T, async () => {
		const lb = ctx.client.leaderboard.getOrCreate([uniq("lb")]);
		for (const [player, score, best] of [
			["carol", 50, 50],
			["alice", 70, 70],
			["bob", 70, 70],
			["alice", 10, 70],
			["dave", 20, 20],
			["dave", 60, 60],
		]) {
			assert.equal(Number(await lb.submit(player, score)), best, `submit(${player}, ${score})`);
		}
		assert.deepEqual(plainScores(await lb.top(3)), [
			{ player: "alice", score: 70 },
			{ player: "bob", score: 70 },
			{ player: "dave", score: 60 },
		]);
		assert.equal((await lb.top(100)).length, 4);
		for (const [player, rank] of [
			["alice", 1],
			["bob", 1],
			["dave", 3],
			["carol", 4],
			["nobody", 0],
		]) {
			assert.equal(Number(await lb.rank(player)), rank, `rank(${player})`);
		}
	});

	it("bad input is a user error and the actor keeps serving", T, async () => {
		const lb = ctx.client.leaderboard.getOrCreate([uniq("lb")]);
		await assert.rejects(lb.submit("", 1), isActorError("user", "invalid_player"));
		await assert.rejects(lb.top(0), isActorError("user", "invalid_count"));
		assert.equal(Number(await lb.submit("eve", 5)), 5);
		assert.deepEqual(plainScores(await lb.top(1)), [{ player: "eve", score: 5 }]);
	});
});
