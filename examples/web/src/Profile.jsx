import { useState } from "react";
import { describeError, key } from "./config.js";
import { client, useActor } from "./rivet.js";

// Profile saves a username on a user actor two ways: over the hook's
// connection, and as a stateless HTTP action with the plain client. The
// actor rejects names shorter than 3 characters with a UserError, whose
// code the page shows.
export function Profile() {
	const user = useActor({ name: "user", key: [key] });
	const [name, setName] = useState("");
	const [result, setResult] = useState("");

	const run = async (how, call) => {
		setResult("");
		try {
			const saved = await call();
			setResult(`${how}: saved ${saved}`);
		} catch (e) {
			setResult(`${how}: ${describeError(e)}`);
		}
	};

	return (
		<section>
			<h2>Profile</h2>
			<p className="status" data-testid="user-status">
				{user.connStatus}
			</p>
			<input data-testid="username" value={name} placeholder="Username" onChange={(e) => setName(e.target.value)} />
			<button
				type="button"
				data-testid="save-conn"
				disabled={!user.isConnected}
				onClick={() => run("connection", () => user.connection.updateUsername(name))}
			>
				Save (connection)
			</button>
			<button
				type="button"
				data-testid="save-stateless"
				onClick={() => run("stateless", () => client.user.getOrCreate([key]).updateUsername(name))}
			>
				Save (stateless)
			</button>
			<p data-testid="profile-result">{result}</p>
		</section>
	);
}
