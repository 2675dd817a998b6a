// Drives the built examples/web page in Debian's chromium (headless, driven
// by playwright-core; no browser is downloaded). The page is served from
// APP_URL, a different origin (port) than the engine at RIVET_ENDPOINT, so
// every call is a credentialed cross-origin request that the browser checks
// against the gateway's CORS answers.
//
// Environment:
//   APP_URL         where the built page is served (required)
//   RIVET_ENDPOINT  the engine's base URL (required)
//   EXPECT_CORS     "allowed" (default): the page works end to end;
//                   "refused": the engine's allow-list excludes APP_URL and
//                   the browser must be unable to reach it
//   RIVET_TOKEN     a client token the page passes to the client (optional)
//   EXPECT_H2       "1": the engine serves HTTPS with a certificate the
//                   browser does not know (accepted for the test), and its
//                   responses must come over HTTP/2
//   CHROMIUM        the browser binary (default /usr/bin/chromium)
//
// The Go test test/browser starts the engine and the page server and runs
// this file; see test/browser/README.md.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { chromium } from "playwright-core";

const appURL = must("APP_URL");
const endpoint = must("RIVET_ENDPOINT");
const expectCORS = process.env.EXPECT_CORS ?? "allowed";
const executablePath = process.env.CHROMIUM ?? "/usr/bin/chromium";
const token = process.env.RIVET_TOKEN ?? "";
const expectH2 = process.env.EXPECT_H2 === "1";

// How long one UI expectation may take; generous because the machine is
// shared. Expectations wait for what the page shows, never for a fixed time.
const waitMs = 30_000;

function must(name) {
	const v = process.env[name];
	if (!v) throw new Error(`${name} is required`);
	return v;
}

let context;
let profileDir;

before(async () => {
	profileDir = mkdtempSync(join(tmpdir(), "rivetkube-chromium-"));
	context = await chromium.launchPersistentContext(profileDir, {
		executablePath,
		headless: true,
		ignoreHTTPSErrors: expectH2,
		args: [
			"--no-sandbox",
			"--disable-gpu",
			"--disable-quic",
			"--no-first-run",
			"--disable-background-networking",
			"--disable-component-update",
			"--disable-sync",
		],
	});
});

after(async () => {
	await context?.close();
	if (profileDir) rmSync(profileDir, { recursive: true, force: true });
});

// openPage loads the app for the actor key k and records what the page
// logs, for failure messages.
async function openPage(k) {
	const page = await context.newPage();
	const logs = [];
	page.on("console", (m) => logs.push(`console.${m.type()}: ${m.text()}`));
	page.on("pageerror", (e) => logs.push(`pageerror: ${e.message}`));
	page.logs = logs;
	let url = `${appURL}/?endpoint=${encodeURIComponent(endpoint)}&key=${encodeURIComponent(k)}`;
	if (token) url += `&token=${encodeURIComponent(token)}`;
	await page.goto(url);
	return page;
}

// expectText waits until the element with testid shows text matching re.
async function expectText(page, testid, re) {
	const el = page.getByTestId(testid);
	try {
		await el.filter({ hasText: re }).waitFor({ timeout: waitMs });
	} catch (err) {
		const shown = await el.textContent().catch(() => "<missing>");
		throw new Error(`${testid} shows ${JSON.stringify(shown)}, want ${re}\npage log:\n${page.logs.slice(-20).join("\n")}`, { cause: err });
	}
}

async function count(page) {
	await expectText(page, "count", /^\d+$/);
	return Number(await page.getByTestId("count").textContent());
}

// fetchFromPage runs a credentialed fetch to the engine from the page's
// origin and reports "ok <status>" or the browser's refusal.
function fetchFromPage(page, path) {
	return page.evaluate(async (url) => {
		try {
			const res = await fetch(url.url, { credentials: "include", headers: url.headers });
			return `ok ${res.status}`;
		} catch (e) {
			return `refused ${e.name}`;
		}
	}, { url: endpoint + path, headers: token ? { Authorization: `Bearer ${token}` } : {} });
}

// webSocketFromPage opens the connect WebSocket from the page and reports
// whether it opened.
function webSocketFromPage(page, k) {
	const url = `${endpoint.replace(/^http/, "ws")}/gateway/counter/connect?rvt-namespace=default&rvt-method=getOrCreate&rvt-runner=default&rvt-key=${encodeURIComponent(k)}&rvt-crash-policy=sleep${token ? `&rvt-token=${encodeURIComponent(token)}` : ""}`;
	return page.evaluate(
		(url) =>
			new Promise((resolve) => {
				const ws = new WebSocket(url, ["rivet", "rivet_encoding.json"]);
				ws.onopen = () => {
					ws.close();
					resolve("open");
				};
				ws.onerror = () => resolve("error");
			}),
		url,
	);
}

const run = `${Date.now().toString(36)}`;

describe("examples/web from another origin", { skip: expectCORS !== "allowed" }, () => {
	test("the hooks connect and the count follows events across tabs", async () => {
		const k = `count-${run}`;
		const a = await openPage(k);
		const b = await openPage(k);
		for (const p of [a, b]) {
			await expectText(p, "counter-status", /^connected$/);
		}
		const start = await count(a);
		await a.getByTestId("increment").click();
		await a.getByTestId("increment").click();
		// The page sets the count only from "count" events, so tab b seeing
		// it proves the broadcast reached another connection.
		await expectText(a, "count", new RegExp(`^${start + 2}$`));
		await expectText(b, "count", new RegExp(`^${start + 2}$`));
		await a.close();
		await b.close();
	});

	test("a chat message round-trips to every tab", async () => {
		const k = `chat-${run}`;
		const a = await openPage(k);
		const b = await openPage(k);
		await expectText(a, "chat-status", /^connected$/);
		await expectText(b, "chat-status", /^connected$/);
		const text = `hello from ${run}`;
		await a.getByTestId("chat-input").fill(text);
		await a.getByTestId("chat-send").click();
		for (const p of [a, b]) {
			await p.getByTestId("messages").getByText(text, { exact: true }).waitFor({ timeout: waitMs });
		}
		// The history survives a reload (it is the actor's state).
		await b.reload();
		await b.getByTestId("messages").getByText(text, { exact: true }).waitFor({ timeout: waitMs });
		await a.close();
		await b.close();
	});

	test("a UserError shows its code, over the connection and as a stateless call", async () => {
		const page = await openPage(`user-${run}`);
		await expectText(page, "user-status", /^connected$/);
		await page.getByTestId("username").fill("ab");
		await page.getByTestId("save-conn").click();
		await expectText(page, "profile-result", /^connection: user\/username_too_short/);
		await page.getByTestId("save-stateless").click();
		await expectText(page, "profile-result", /^stateless: user\/username_too_short/);
		await page.getByTestId("username").fill("alice");
		await page.getByTestId("save-stateless").click();
		await expectText(page, "profile-result", /^stateless: saved alice$/);
		await page.close();
	});

	test("credentialed fetch and WebSocket from the page's origin are allowed", async () => {
		const page = await openPage(`raw-${run}`);
		assert.equal(await fetchFromPage(page, "/actors?name=counter"), "ok 200");
		assert.equal(await webSocketFromPage(page, `raw-${run}`), "open");
		await page.close();
	});
});

describe("an engine serving HTTPS", { skip: expectCORS !== "allowed" || !expectH2 }, () => {
	test("answers the page over HTTP/2, WebSockets included", async () => {
		const page = await context.newPage();
		const cdp = await context.newCDPSession(page);
		await cdp.send("Network.enable");
		const protocols = new Map();
		cdp.on("Network.responseReceived", (e) => {
			if (e.response.url.startsWith(endpoint)) protocols.set(new URL(e.response.url).pathname, e.response.protocol);
		});
		const sockets = [];
		cdp.on("Network.webSocketHandshakeResponseReceived", (e) => sockets.push(e.response.status));
		let url = `${appURL}/?endpoint=${encodeURIComponent(endpoint)}&key=h2-${run}`;
		if (token) url += `&token=${encodeURIComponent(token)}`;
		await page.goto(url);
		page.logs = [];
		await expectText(page, "counter-status", /^connected$/);
		await page.getByTestId("increment").click();
		await expectText(page, "count", /^1$/);
		assert.equal(protocols.get("/metadata"), "h2", `protocols seen: ${JSON.stringify([...protocols])}`);
		assert.ok(sockets.includes(101), `WebSocket handshakes: ${JSON.stringify(sockets)}`);
		await page.close();
	});
});

describe("an engine that requires a client token", { skip: expectCORS !== "allowed" || !token }, () => {
	test("refuses the page's request without it, with an error the page can read", async () => {
		const page = await openPage(`token-${run}`);
		const got = await page.evaluate(async (url) => {
			const res = await fetch(url, { credentials: "include" });
			const body = await res.json();
			return `${res.status} ${body.group}/${body.code}`;
		}, `${endpoint}/actors?name=counter`);
		assert.equal(got, "401 auth/token_missing");
		await page.close();
	});
});

describe("an origin outside the allow-list", { skip: expectCORS !== "refused" }, () => {
	test("cannot call the engine or open a WebSocket", async () => {
		const page = await openPage(`refused-${run}`);
		assert.equal(await fetchFromPage(page, "/actors?name=counter"), "refused TypeError");
		assert.equal(await webSocketFromPage(page, `refused-${run}`), "error");
		// The engine itself is up: a request without Origin (from Node, not
		// a browser) is answered; only the page's origin is refused.
		const res = await fetch(`${endpoint}/actors?name=counter`);
		assert.equal(res.status, 200);
		await page.close();
	});
});
