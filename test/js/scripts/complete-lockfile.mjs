// Completes package-lock.json with the optional per-platform packages
// (darwin/win32/arm64/musl builds of cbor-extract, rivetkit-napi, engine-cli,
// ...) that the package mirror of our build machines does not serve. Without
// them `npm install` writes a lockfile that `npm ci` then rejects as out of
// sync ("Missing: ... from lock file"). npm skips these entries on other
// platforms by their os/cpu/libc fields and tolerates a failed fetch of an
// optional one. Run after every `npm install` in test/js:
//
//   node scripts/complete-lockfile.mjs package-lock.json
import fs from "node:fs";
const path = process.argv[2] ?? new URL("../package-lock.json", import.meta.url).pathname;
const lock = JSON.parse(fs.readFileSync(path, "utf8"));
const present = new Set(Object.keys(lock.packages));
const platform = (name) => {
	const m = /-(darwin|linux|win32)-(x64|arm64|arm)(?:-(gnu|musl|msvc))?$/.exec(name);
	if (!m) throw new Error(`cannot infer platform of ${name}`);
	const entry = { os: [m[1]], cpu: [m[2]] };
	if (m[3] === "gnu") entry.libc = ["glibc"];
	if (m[3] === "musl") entry.libc = ["musl"];
	return entry;
};
let added = 0;
for (const [key, pkg] of Object.entries(lock.packages)) {
	for (const [dep, version] of Object.entries(pkg.optionalDependencies ?? {})) {
		const loc = `node_modules/${dep}`;
		if (present.has(loc)) continue;
		lock.packages[loc] = { version, ...platform(dep), optional: true };
		present.add(loc);
		added++;
	}
}
const sorted = Object.fromEntries(Object.entries(lock.packages).sort(([a], [b]) => (a === "" ? -1 : b === "" ? 1 : a.localeCompare(b, "en"))));
lock.packages = sorted;
fs.writeFileSync(path, JSON.stringify(lock, null, 2) + "\n");
console.log(`added ${added} entries`);
