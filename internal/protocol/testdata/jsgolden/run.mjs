// Runs golden.ts against the real rivetkit sources.
//
// rivetkit is not vendored: install it somewhere outside the repository and
// point RIVETKIT_DIR at the directory holding its node_modules (default
// /tmp/rk):
//
//	mkdir -p /tmp/rk && cd /tmp/rk && npm install rivetkit@2.3.19
//
// Regenerate the goldens consumed by golden_test.go (from the repo root):
//
//	node internal/protocol/testdata/jsgolden/run.mjs gen > internal/protocol/testdata/golden.json
//
// Check our encodings with the real decoders (the Go test writes them):
//
//	PROTOCOL_GOLDEN_DUMP=/tmp/go-encodings.json go test ./internal/protocol -run TestGoldenDump
//	node internal/protocol/testdata/jsgolden/run.mjs verify /tmp/go-encodings.json
//
// golden.ts imports rivetkit's TypeScript sources (src/serde.ts,
// src/common/*), which use the "@/..." path alias; this script bundles it
// with the esbuild that rivetkit installs, resolving the alias to
// node_modules/rivetkit/src.
import { createRequire } from "node:module";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const rk = path.resolve(process.env.RIVETKIT_DIR ?? "/tmp/rk");
const require = createRequire(path.join(rk, "package.json"));
const esbuild = require("esbuild");
const src = path.join(rk, "node_modules/rivetkit/src");
const here = path.dirname(fileURLToPath(import.meta.url));
const out = path.join(mkdtempSync(path.join(tmpdir(), "rk-golden-")), "golden.mjs");

await esbuild.build({
	entryPoints: [path.join(here, "golden.ts")],
	bundle: true,
	platform: "node",
	format: "esm",
	outfile: out,
	logLevel: "warning",
	nodePaths: [path.join(rk, "node_modules")],
	banner: { js: "import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);" },
	plugins: [
		{
			name: "rivetkit-src-alias",
			setup(b) {
				b.onResolve({ filter: /^@\// }, (a) =>
					b.resolve("./" + a.path.slice(2), { resolveDir: src, kind: a.kind }),
				);
			},
		},
	],
});
const mod = await import(pathToFileURL(out).href);
await mod.main(process.argv.slice(2));
