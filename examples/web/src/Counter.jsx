import { useEffect, useState } from "react";
import { describeError, key } from "./config.js";
import { useActor } from "./rivet.js";

// Counter shows the live count: it reads the count once connected and then
// follows the "count" events every increment broadcasts (from any tab).
export function Counter() {
	const counter = useActor({ name: "counter", key: [key] });
	const [count, setCount] = useState(null);
	const [error, setError] = useState("");

	counter.useEvent("count", (value) => setCount(Number(value)));

	useEffect(() => {
		if (!counter.connection || !counter.isConnected) return;
		counter.connection.getCount().then((v) => setCount(Number(v)), (e) => setError(describeError(e)));
	}, [counter.connection, counter.isConnected]);

	const increment = async () => {
		setError("");
		try {
			await counter.connection.increment(1);
		} catch (e) {
			setError(describeError(e));
		}
	};

	return (
		<section>
			<h2>Counter</h2>
			<p className="status" data-testid="counter-status">
				{counter.connStatus}
			</p>
			<span className="count" data-testid="count">
				{count ?? "…"}
			</span>
			<button type="button" data-testid="increment" disabled={!counter.isConnected} onClick={increment}>
				+1
			</button>
			{error && <p className="error">{error}</p>}
		</section>
	);
}
