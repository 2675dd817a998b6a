// Where the page finds the engine and which actor keys it uses. Both can
// be set in the page's URL, so one build serves any engine:
//   ?endpoint=http://127.0.0.1:6420&key=demo
// Without them: VITE_RIVET_ENDPOINT at build time, else the local engine's
// default address, and the key "demo".
const params = new URLSearchParams(window.location.search);

export const endpoint =
	params.get("endpoint") ?? import.meta.env.VITE_RIVET_ENDPOINT ?? "http://127.0.0.1:6420";

export const key = params.get("key") ?? "demo";

// describeError renders a client error the way the page shows it: the
// {group, code} pair for actor errors (UserError included), else the message.
export function describeError(err) {
	if (err && typeof err === "object" && "code" in err && "group" in err) {
		return `${err.group}/${err.code}: ${err.message}`;
	}
	return String(err?.message ?? err);
}
