import assert from "node:assert/strict";
import { T, plain } from "./helpers.mjs";

/** Values every encoding must carry unchanged through an action and back. */
export function roundTripValues() {
	return [
		["nested object", { a: 1, b: { c: [1, 2, { d: "e" }] }, f: true, g: false, h: null }],
		["array", [1, "two", [3, [4]], { five: 5 }, null, true]],
		["empty object", {}],
		["empty array", []],
		["empty string", ""],
		["unicode string", "héllo wörld — 日本語 🎉 \u0000 \u{1F600}"],
		["null", null],
		["true", true],
		["zero", 0],
		["negative int", -42],
		["float", 3.25],
		["int32 bounds", [2 ** 31 - 1, -(2 ** 31)]],
		["non-integral large float", 2 ** 40 + 0.5],
		["bigint 2^70", 2n ** 70n],
		["negative bigint", -(2n ** 65n)],
		["Uint8Array", new Uint8Array([0, 1, 2, 127, 128, 254, 255])],
		["empty Uint8Array", new Uint8Array([])],
		["object with bigint and bytes", { n: 2n ** 64n, bytes: new Uint8Array([9, 8, 7]) }],
		["long string", "x".repeat(100_000)],
	];
}

/**
 * Arrays whose first element is a string starting with "$" collide with the
 * client's JSON-compat tags (["$BigInt","1"], ["$Uint8Array","..."], ...).
 * The client escapes them with an extra "$" when it sends JSON and bare, but
 * sends them raw in CBOR; it always un-escapes / revives what it receives (in
 * every encoding). So the engine must escape such arrays in everything it
 * sends, and must not revive tags in CBOR it receives.
 */
export function dollarArrayValues() {
	return [
		["array that looks like a bigint tag", ["$BigInt", "123"]],
		["array that looks like a bytes tag", ["$Uint8Array", "AAEC"]],
		["array starting with $$", ["$$x", 1]],
		["nested in an object", { v: ["$Undefined", 0] }],
	];
}

export function assertSameValue(actual, expected, label) {
	if (typeof expected === "bigint") {
		assert.equal(typeof actual, "bigint", `${label}: expected a bigint, got ${typeof actual}`);
	}
	if (expected instanceof Uint8Array) {
		assert.ok(actual instanceof Uint8Array, `${label}: expected a Uint8Array, got ${actual?.constructor?.name}`);
	}
	assert.deepStrictEqual(plain(actual), plain(expected), label);
}

/**
 * Test options for the dollarArrayValues round trips. Over CBOR the reference
 * Rivet Engine (2.3.19) does not escape them either (the client turns
 * ["$BigInt","123"] into 123n), so there the test runs as a TODO: it reports
 * but does not fail the run.
 */
export function dollarArrayOptions(encoding) {
	if (encoding === "cbor") {
		return {
			...T,
			todo: "CBOR: engine must escape $-arrays it sends (reference engine does not either)",
		};
	}
	return T;
}
