// Where the page finds the engine and which actor keys it uses. Both can
// be set in the page's URL, so one build serves any engine:
//   ?endpoint=http://127.0.0.1:6420&key=demo&token=...
// Without them: VITE_RIVET_ENDPOINT at build time, else the local engine's
// default address, and the key "demo". The token is needed only by an
// engine configured with client tokens (RIVETKUBE_CLIENT_TOKENS).
const params = new URLSearchParams(window.location.search);

export const endpoint =
	params.get("endpoint") ?? import.meta.env.VITE_RIVET_ENDPOINT ?? "http://127.0.0.1:6420";

export const key = params.get("key") ?? "demo";

export const token = params.get("token") ?? import.meta.env.VITE_RIVET_TOKEN ?? undefined;

// describeError renders a client error the way the page shows it: the
// {group, code} pair for actor errors (UserError included), else the message.
export function describeError(err) {
	if (err && typeof err === "object" && "code" in err && "group" in err) {
		return `${err.group}/${err.code}: ${err.message}`;
	}
	return String(err?.message ?? err);
}
