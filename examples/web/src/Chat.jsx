import { useEffect, useState } from "react";
import { describeError, key } from "./config.js";
import { useActor } from "./rivet.js";

// Chat is one chatRoom actor (key [org, room]): the history is loaded once
// connected, and every "newMessage" broadcast is appended as it arrives.
export function Chat() {
	const room = useActor({ name: "chatRoom", key: ["web", key] });
	const [messages, setMessages] = useState([]);
	const [text, setText] = useState("");
	const [error, setError] = useState("");

	room.useEvent("newMessage", (m) => setMessages((prev) => [...prev, m]));

	useEffect(() => {
		if (!room.connection || !room.isConnected) return;
		room.connection.getMessages().then(setMessages, (e) => setError(describeError(e)));
	}, [room.connection, room.isConnected]);

	const send = async (ev) => {
		ev.preventDefault();
		if (!text.trim()) return;
		setError("");
		try {
			await room.connection.sendMessage(text);
			setText("");
		} catch (e) {
			setError(describeError(e));
		}
	};

	return (
		<section>
			<h2>Chat room</h2>
			<p className="status" data-testid="chat-status">
				{room.connStatus}
			</p>
			<ul className="messages" data-testid="messages">
				{messages.map((m, i) => (
					<li key={i}>{m.text}</li>
				))}
			</ul>
			<form onSubmit={send}>
				<input data-testid="chat-input" value={text} placeholder="Say something" onChange={(e) => setText(e.target.value)} />
				<button type="submit" data-testid="chat-send" disabled={!room.isConnected}>
					Send
				</button>
			</form>
			{error && <p className="error">{error}</p>}
		</section>
	);
}
