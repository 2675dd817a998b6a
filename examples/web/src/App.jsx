import { Chat } from "./Chat.jsx";
import { Counter } from "./Counter.jsx";
import { Profile } from "./Profile.jsx";
import { endpoint } from "./config.js";

export function App() {
	return (
		<main>
			<h1>rivetkube + React</h1>
			<p className="status">
				Engine: <code>{endpoint}</code>
			</p>
			<Counter />
			<Chat />
			<Profile />
		</main>
	);
}
