// Package actors holds the quickstart actors, Go ports of RivetKit's
// documentation examples under the same names: counter, chatRoom, user,
// inventory, order, chatRoomList, counterWorker, reminder, relay and agent,
// and leaderboard, which keeps its data in its SQL database.
package actors

import (
	"github.com/rivetkube/rivetkube/rivet"
)

// CounterState is the state of a counter.
type CounterState struct {
	Count int64 `cbor:"count"`
}

// Counter counts; increment broadcasts "count" with the new value.
var Counter = rivet.New("counter", rivet.Options[CounterState]{}).
	Action("increment", func(c *rivet.Ctx[CounterState], amount int64) (int64, error) {
		c.State().Count += amount
		if err := c.Broadcast("count", c.State().Count); err != nil {
			return 0, err
		}
		return c.State().Count, nil
	}).
	Action("getCount", func(c *rivet.Ctx[CounterState]) (int64, error) {
		return c.State().Count, nil
	})

// Message is one chat message.
type Message struct {
	Text string `cbor:"text"`
}

// ChatState is the state of a chat room.
type ChatState struct {
	Messages []Message `cbor:"messages"`
}

// RoomInfo describes a room from its key [org, room].
type RoomInfo struct {
	Org  string `cbor:"org"`
	Room string `cbor:"room"`
}

// MaxMessages bounds the history a room keeps.
const MaxMessages = 1000

// ChatRoom is keyed by [org, room]; sendMessage broadcasts "newMessage".
var ChatRoom = rivet.New("chatRoom", rivet.Options[ChatState]{
	CreateState: func(*rivet.Ctx[ChatState], rivet.Raw) (ChatState, error) {
		return ChatState{Messages: []Message{}}, nil
	},
}).
	Action("sendMessage", func(c *rivet.Ctx[ChatState], text string) (Message, error) {
		m := Message{Text: text}
		s := c.State()
		s.Messages = append(s.Messages, m)
		if len(s.Messages) > MaxMessages {
			s.Messages = s.Messages[len(s.Messages)-MaxMessages:]
		}
		return m, c.Broadcast("newMessage", m)
	}).
	Action("getMessages", func(c *rivet.Ctx[ChatState]) ([]Message, error) {
		return c.State().Messages, nil
	}).
	Action("getRoomInfo", func(c *rivet.Ctx[ChatState]) (RoomInfo, error) {
		key := c.Key()
		var info RoomInfo
		if len(key) > 0 {
			info.Org = key[0]
		}
		if len(key) > 1 {
			info.Room = key[1]
		}
		return info, nil
	})

// UserState is the state of a user.
type UserState struct {
	Username string `cbor:"username"`
}

// MinUsernameLength is the shortest accepted username.
const MinUsernameLength = 3

// User stores a username and rejects short ones with a UserError.
var User = rivet.New("user", rivet.Options[UserState]{}).
	Action("updateUsername", func(c *rivet.Ctx[UserState], username string) (string, error) {
		if n := len([]rune(username)); n < MinUsernameLength {
			return "", rivet.NewUserError("username_too_short", "Username too short",
				map[string]int{"minLength": MinUsernameLength, "actual": n})
		}
		c.State().Username = username
		return username, nil
	}).
	Action("getUsername", func(c *rivet.Ctx[UserState]) (string, error) {
		return c.State().Username, nil
	})

// Register adds the quickstart actors to r.
func Register(r *rivet.Registry) *rivet.Registry {
	return r.Register(Counter, ChatRoom, User, Inventory, Order, ChatRoomList, CounterWorker, ReminderActor, Relay, Agent, Leaderboard)
}
