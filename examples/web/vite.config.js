import { defineConfig } from "vite";

// No React plugin: esbuild compiles JSX itself (automatic runtime), which
// keeps the dependency set small. Fast refresh is not needed here.
export default defineConfig({
	esbuild: { jsx: "automatic" },
	build: { outDir: "dist", emptyOutDir: true, chunkSizeWarningLimit: 2000 },
	server: { port: 5173, strictPort: true },
});
